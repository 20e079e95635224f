/* The af_packet device class ("host-IFNAME"): frames copied from the receive ring into
 * buffers, partial checksums completed from the IPv4 header, batches sent with one
 * sendmmsg. */
#include "drivers/af_packet.h"
#include "drivers/kernel_if.h"
#include "net/devices.h"
#include "net/ethernet.h"

#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AFP_TX_CHUNK  64
#define AFP_TX_PIECES 8 /* a 9000-byte frame is 5 buffers */

typedef struct {
    hs_af_packet_t *ap;
    char host_ifname[IFNAMSIZ];
    bool promisc;
    /* The one rx queue's worker writes these. */
    uint64_t rx_truncated, rx_vlan, rx_runt, rx_no_buf, rx_csum_done;
    uint64_t tx_too_long; /* any worker: relaxed atomic adds */
} afp_dev_t;

/* Why a received frame is dropped before becoming a buffer, or NULL. */
static uint64_t *rx_reject(afp_dev_t *d, const hs_af_packet_frame_t *f)
{
    if (f->flags & HS_AF_PACKET_F_TRUNCATED)
        return &d->rx_truncated;
    if (f->flags & HS_AF_PACKET_F_VLAN)
        return &d->rx_vlan; /* the kernel took the tag out; nothing here handles VLANs yet */
    if (f->len < HS_ETH_HDR_LEN)
        return &d->rx_runt;
    return NULL;
}

static uint32_t afp_rx(hs_net_worker_t *wk, hs_interface_t *ifc, uint32_t q, uint32_t *bis,
                       uint32_t max)
{
    (void)q;
    afp_dev_t *d = ifc->dev;
    uint32_t n = 0;
    hs_af_packet_frame_t f;
    while (n < max && hs_af_packet_rx_next(d->ap, &f)) {
        uint64_t *why = rx_reject(d, &f);
        if (why) {
            (*why)++;
            hs_if_counters(ifc, wk)->rx_drops++;
            hs_af_packet_rx_release(d->ap);
            continue;
        }
        uint32_t bi = hs_buf_from_bytes(&wk->bufs, f.data, f.len);
        if (bi == HS_BUF_INVALID) {
            d->rx_no_buf++; /* the frame stays in the ring for the next poll */
            break;
        }
        hs_buf_t *b = hs_buf_ptr(wk->bufs.pool, bi);
        if ((f.flags & HS_AF_PACKET_F_CSUM_PARTIAL) && hs_dev_csum_complete_ip4(wk->bufs.pool, b))
            d->rx_csum_done++;
        else if (f.flags & HS_AF_PACKET_F_CSUM_VALID)
            b->flags |= HS_BUF_F_L4_CSUM_OK;
        hs_af_packet_rx_release(d->ap);
        bis[n++] = bi;
    }
    return n;
}

/* Sends up to AFP_TX_CHUNK frames in one sendmmsg; returns how many went. */
static uint32_t tx_chunk(afp_dev_t *d, const hs_buf_pool_t *p, const uint32_t *bis, uint32_t n)
{
    struct iovec iov[AFP_TX_CHUNK][AFP_TX_PIECES];
    hs_af_packet_txf_t f[AFP_TX_CHUNK];
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        int cnt = hs_dev_chain_iov(p, hs_buf_ptr(p, bis[i]), iov[k], AFP_TX_PIECES);
        if (cnt < 0) {
            __atomic_fetch_add(&d->tx_too_long, 1, __ATOMIC_RELAXED);
            continue;
        }
        f[k] = (hs_af_packet_txf_t){.iov = iov[k], .iovcnt = cnt};
        k++;
    }
    int sent = k ? hs_af_packet_send(d->ap, f, k) : 0;
    return sent > 0 ? (uint32_t)sent : 0;
}

static uint32_t afp_tx(hs_net_worker_t *wk, hs_interface_t *ifc, const uint32_t *bis, uint32_t n)
{
    afp_dev_t *d = ifc->dev;
    uint32_t sent = 0;
    for (uint32_t off = 0; off < n; off += AFP_TX_CHUNK)
        sent += tx_chunk(d, wk->bufs.pool, bis + off, HS_MIN(n - off, (uint32_t)AFP_TX_CHUNK));
    hs_buf_free(&wk->bufs, bis, n);
    return sent;
}

static void afp_format(const hs_interface_t *ifc, hs_str_t *out)
{
    afp_dev_t *d = ifc->dev;
    hs_af_packet_stats_t st;
    hs_af_packet_stats(d->ap, &st);
    hs_str_printf(out,
                  "af_packet on %s%s: TPACKET_V3 rx (%lu frames, %lu read in place, %lu blocks "
                  "returned, %lu kernel drops), sendmmsg tx (%lu frames, %lu errors); dropped "
                  "truncated %lu vlan %lu runt %lu, no-buffer %lu, csum-completed %lu\n",
                  d->host_ifname, d->promisc ? " (promiscuous)" : "", (unsigned long)st.rx_frames,
                  (unsigned long)st.rx_inplace, (unsigned long)st.rx_blocks,
                  (unsigned long)st.kernel_drops, (unsigned long)st.tx_frames,
                  (unsigned long)st.tx_errors, (unsigned long)d->rx_truncated,
                  (unsigned long)d->rx_vlan, (unsigned long)d->rx_runt, (unsigned long)d->rx_no_buf,
                  (unsigned long)d->rx_csum_done);
}

static void afp_destroy(hs_interface_t *ifc)
{
    afp_dev_t *d = ifc->dev;
    hs_af_packet_close(d->ap);
    free(d);
}

/* The kernel interface is shared: not ours to change. More than it carries is refused. */
static int afp_set_mtu(hs_interface_t *ifc, uint32_t mtu)
{
    const afp_dev_t *d = ifc->dev;
    uint32_t kmtu = 0;
    int rv = hs_kif_get_mtu(d->host_ifname, &kmtu);
    if (rv < 0)
        return rv;
    return mtu > kmtu ? -EMSGSIZE : 0;
}

const hs_device_class_t hs_af_packet_device_class = {
    .name = "af_packet",
    .input_node_name = "af-packet-input",
    .rx = afp_rx,
    .tx = afp_tx,
    .set_mtu = afp_set_mtu,
    .format = afp_format,
    .destroy = afp_destroy,
};

/* Checks the kernel interface and brings it up; fills its MAC and MTU. */
static int prepare_host(const char *ifname, uint8_t kmac[6], uint32_t *mtu, char *err, size_t len)
{
    int rv = hs_kif_index(ifname);
    if (rv == -ENODEV) {
        snprintf(err, len,
                 "host-interface %s: no such kernel interface (create it first, e.g. ip link "
                 "add %s type veth peer name %s-peer)",
                 ifname, ifname, ifname);
        return rv;
    }
    if (rv >= 0 && (rv = hs_kif_set_up(ifname, true)) == 0)
        rv = hs_kif_get_mac(ifname, kmac);
    if (rv == 0)
        rv = hs_kif_get_mtu(ifname, mtu);
    if (rv < 0)
        snprintf(err, len, "host-interface %s: cannot bring it up: %s%s", ifname, strerror(-rv),
                 rv == -EPERM ? " (run as root or grant CAP_NET_ADMIN)" : "");
    return rv;
}

int hs_af_packet_if_create(hs_net_t *net, const char *host_ifname, const uint8_t *mac,
                           uint32_t *sw_if_index, char *err, size_t err_len)
{
    char scratch[256], name[HS_IF_NAME_MAX];
    if (!err || !err_len) {
        err = scratch;
        err_len = sizeof(scratch);
    }
    size_t n = host_ifname ? strlen(host_ifname) : 0;
    if (n == 0 || n >= IFNAMSIZ) {
        snprintf(err, err_len, "host-interface %s: invalid kernel interface name",
                 host_ifname ? host_ifname : "(null)");
        return -EINVAL;
    }
    snprintf(name, sizeof(name), "host-%s", host_ifname);
    if (hs_interface_by_name(net, name)) {
        snprintf(err, err_len, "host-interface %s: the stack already has %s", host_ifname, name);
        return -EEXIST;
    }
    if (mac && !hs_mac_is_valid_unicast(mac)) {
        snprintf(err, err_len, "host-interface %s: the MAC must be unicast and not zero",
                 host_ifname);
        return -EINVAL;
    }
    uint8_t kmac[6];
    uint32_t mtu = 0;
    int rv = prepare_host(host_ifname, kmac, &mtu, err, err_len);
    if (rv < 0)
        return rv;
    afp_dev_t *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    memcpy(d->host_ifname, host_ifname, n + 1);
    /* By default the stack has its own MAC, and the kernel interface turns promiscuous
     * (a membership of our socket, undone when it closes): the kernel then drops the
     * stack's frames at once as not for this host instead of running its IP input on
     * each (bench/tcp: +13% bulk, +23% connections/s), and a physical NIC delivers them.
     * Passing the kernel's own MAC shares it, without promiscuous mode. */
    uint8_t own[6];
    if (!mac) {
        hs_mac_random_local(own);
        mac = own;
    }
    d->promisc = !hs_mac_equal(mac, kmac);
    hs_af_packet_config_t cfg = {.promisc = d->promisc};
    if ((rv = hs_af_packet_open(&d->ap, host_ifname, &cfg, err, err_len)) < 0) {
        free(d);
        return rv;
    }
    int fd = hs_af_packet_fd(d->ap);
    uint32_t idx;
    rv = hs_interface_create(net, name, &hs_af_packet_device_class, d, mac, 1, &fd, &idx);
    if (rv < 0) {
        snprintf(err, err_len, "host-interface %s: cannot register %s: %s", host_ifname, name,
                 strerror(-rv));
        hs_af_packet_close(d->ap);
        free(d);
        return rv;
    }
    if (mtu >= 576 && mtu <= 9000)
        hs_interface_set_mtu(net, idx, mtu); /* the kernel side carries what we send */
    if (sw_if_index)
        *sw_if_index = idx;
    return 0;
}
