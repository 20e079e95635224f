/* The tap device class: frames read with readv straight into buffers (a chain of up to 31
 * for a 64 KiB TSO segment, kept allocated between reads), the virtio-net header turned into buffer
 * flags and back, and the kernel side configured at creation. */
#include "drivers/kernel_if.h"
#include "drivers/tap.h"
#include "net/devices.h"
#include "net/ethernet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Read targets per queue: enough for the largest frame, a 64 KiB TSO segment (Ethernet,
 * VLAN tag, 65535-byte IP packet), in a first buffer that keeps its headroom and full ones
 * after it (2048 + 30 * 2176 bytes). A frame that fills them all was cut by the read and is
 * dropped as truncated. */
#define TAP_RX_MAX_FRAME (HS_ETH_HDR_LEN + 4 + 65535)
#define TAP_RX_BUFS                                                                                \
    (1 + (TAP_RX_MAX_FRAME - HS_BUF_DATA_SIZE + HS_BUF_HEADROOM + HS_BUF_DATA_SIZE - 1) /          \
             (HS_BUF_HEADROOM + HS_BUF_DATA_SIZE))
_Static_assert(TAP_RX_BUFS <= HS_TAP_IOV_MAX, "a whole TSO frame fits one hs_tap_read");
#define TAP_IOV_MAX 15
/* Buffers one tap_rx call may fill (the pool holds 32768 by default). */
#define TAP_RX_BUF_BUDGET 1024

typedef struct {
    uint64_t truncated, runt, no_buf, errors, gso, gso_other, csum_done;
} tap_rx_stats_t;

typedef struct {
    hs_tap_t tap;
    hs_net_t *net;
    uint32_t spare[HS_IF_MAX_QUEUES][TAP_RX_BUFS]; /* read targets, owned by the queue */
    tap_rx_stats_t rx[HS_IF_MAX_QUEUES];           /* written by the queue's worker only */
    uint64_t tx_errors, tx_too_long;               /* any worker: relaxed atomic adds */
} tap_dev_t;

static void count_atomic(uint64_t *c)
{
    __atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

/* Makes sure every read target of queue q is allocated. */
static bool spares_fill(tap_dev_t *d, hs_net_worker_t *wk, uint32_t q)
{
    for (uint32_t i = 0; i < TAP_RX_BUFS; i++)
        if (d->spare[q][i] == HS_BUF_INVALID && hs_buf_alloc(&wk->bufs, &d->spare[q][i], 1) != 1)
            return false;
    return true;
}

/* The first buffer keeps its headroom (headers are pushed in front later); the others take
 * the whole data area. */
static uint32_t spare_room(uint32_t i)
{
    return i == 0 ? HS_BUF_DATA_SIZE : HS_BUF_HEADROOM + HS_BUF_DATA_SIZE;
}

static void spares_iov(tap_dev_t *d, hs_buf_pool_t *p, uint32_t q, struct iovec *iov)
{
    for (uint32_t i = 0; i < TAP_RX_BUFS; i++) {
        hs_buf_t *b = hs_buf_ptr(p, d->spare[q][i]);
        iov[i] = (struct iovec){.iov_base = b->data + (i ? 0 : HS_BUF_HEADROOM),
                                .iov_len = spare_room(i)};
    }
}

/* Turns the first buffers of the queue's read targets into a chain of len bytes. */
static uint32_t spares_take(tap_dev_t *d, hs_buf_pool_t *p, uint32_t q, uint32_t len)
{
    uint32_t head = d->spare[q][0];
    hs_buf_t *h = hs_buf_ptr(p, head), *prev = NULL;
    for (uint32_t i = 0, left = len; left; i++) {
        hs_buf_t *b = hs_buf_ptr(p, d->spare[q][i]);
        b->current_data = i ? 0 : HS_BUF_HEADROOM;
        b->current_length = (uint16_t)HS_MIN(left, spare_room(i));
        left -= b->current_length;
        if (prev) {
            prev->flags |= HS_BUF_F_NEXT;
            prev->next = d->spare[q][i];
            h->chain_rest_len += b->current_length;
        }
        prev = b;
        d->spare[q][i] = HS_BUF_INVALID;
    }
    return head;
}

/* An untagged IPv4 frame carrying TCP, as a TCPV4 GSO header claims. */
static bool is_ip4_tcp(hs_buf_t *b)
{
    const uint8_t *f = hs_buf_cur(b);
    return b->current_length >= HS_ETH_HDR_LEN + 20 && f[12] == 0x08 && f[13] == 0x00 &&
           f[HS_ETH_HDR_LEN + 9] == 6;
}

/* Header flags to buffer flags; false when the frame must be dropped. */
static bool rx_offloads(tap_dev_t *d, hs_buf_pool_t *p, uint32_t q, hs_buf_t *b,
                        const hs_vnet_hdr_t *h)
{
    if (h->gso_type == HS_VNET_GSO_TCPV4 && is_ip4_tcp(b)) {
        /* One TCP segment above the MTU, whole: TCP takes it as it is (no resegmenting),
         * its checksum completed below like any other the kernel left to us. */
        d->rx[q].gso++;
    } else if (h->gso_type != HS_VNET_GSO_NONE) { /* not enabled (TCPv6, UDP, ECN) or lying */
        d->rx[q].gso_other++;
        return false;
    }
    if (h->flags & HS_VNET_F_NEEDS_CSUM) {
        /* The local kernel sent it: complete the checksum so what we forward or capture is
         * right, and trust it. */
        if (!hs_dev_csum_complete(p, b, h->csum_start, h->csum_offset))
            return false;
        d->rx[q].csum_done++;
    } else if (h->flags & HS_VNET_F_DATA_VALID) {
        b->flags |= HS_BUF_F_L4_CSUM_OK;
    }
    return true;
}

static uint32_t tap_rx(hs_net_worker_t *wk, hs_interface_t *ifc, uint32_t q, uint32_t *bis,
                       uint32_t max)
{
    tap_dev_t *d = ifc->dev;
    hs_buf_pool_t *p = wk->bufs.pool;
    tap_rx_stats_t *st = &d->rx[q];
    uint32_t n = 0, bufs = 0;
    /* A frame may take 31 buffers: a budget per call keeps one busy queue of TSO segments
     * from draining the pool before the graph gives any back. */
    while (n < max && bufs < TAP_RX_BUF_BUDGET) {
        if (!spares_fill(d, wk, q)) {
            st->no_buf++; /* the frame stays in the kernel until buffers come back */
            break;
        }
        struct iovec iov[TAP_RX_BUFS];
        hs_vnet_hdr_t h;
        spares_iov(d, p, q, iov);
        ssize_t r = hs_tap_read(&d->tap, q, &h, iov, TAP_RX_BUFS);
        if (r == -EAGAIN)
            break;
        if (r < 0) {
            st->errors++;
            break; /* never spin on a broken fd; the next poll tries again */
        }
        bool cut = r >= (ssize_t)(spare_room(0) + (TAP_RX_BUFS - 1) * spare_room(1));
        if (cut || r < HS_ETH_HDR_LEN) {
            if (cut)
                st->truncated++;
            else
                st->runt++;
            hs_if_counters(ifc, wk)->rx_drops++;
            continue; /* the read targets stay for the next frame */
        }
        uint32_t bi = spares_take(d, p, q, (uint32_t)r);
        bufs += 1 + hs_buf_ptr(p, bi)->chain_rest_len / HS_BUF_DATA_SIZE;
        if (!rx_offloads(d, p, q, hs_buf_ptr(p, bi), &h)) {
            hs_if_counters(ifc, wk)->rx_drops++;
            hs_buf_free(&wk->bufs, &bi, 1);
            continue;
        }
        bis[n++] = bi;
    }
    return n;
}

/* The virtio header for a frame: a checksum left to the device is left to the kernel. */
static hs_vnet_hdr_t tx_header(const hs_buf_t *b)
{
    hs_vnet_hdr_t h = {0};
    if (b->flags & HS_BUF_F_L4_CSUM_TODO) {
        /* csum_start counts from the IP header (l3_offset); the kernel wants it from the
         * start of the frame. */
        h.flags = HS_VNET_F_NEEDS_CSUM;
        h.csum_start = (uint16_t)(b->l3_offset - b->current_data + b->csum_start);
        h.csum_offset = b->csum_offset;
    }
    return h;
}

static uint32_t tap_tx(hs_net_worker_t *wk, hs_interface_t *ifc, const uint32_t *bis, uint32_t n)
{
    tap_dev_t *d = ifc->dev;
    hs_buf_pool_t *p = wk->bufs.pool;
    uint32_t q = wk->index % d->tap.n_queues, sent = 0;
    for (uint32_t i = 0; i < n; i++) {
        hs_buf_t *b = hs_buf_ptr(p, bis[i]);
        struct iovec iov[TAP_IOV_MAX];
        int cnt = hs_dev_chain_iov(p, b, iov, TAP_IOV_MAX);
        if (cnt < 0) {
            count_atomic(&d->tx_too_long);
            continue;
        }
        hs_vnet_hdr_t h = tx_header(b);
        if (hs_tap_write(&d->tap, q, &h, iov, cnt) >= 0)
            sent++;
        else
            count_atomic(&d->tx_errors);
    }
    hs_buf_free(&wk->bufs, bis, n);
    return sent;
}

/* The kernel sees our admin state as the tap's carrier. Kernels before 5.0 cannot set it:
 * the tap then just stays "up". */
static int tap_set_admin(hs_interface_t *ifc, bool up)
{
    tap_dev_t *d = ifc->dev;
    int rv = hs_tap_set_carrier(&d->tap, up);
    return (rv == -ENOTTY || rv == -EINVAL) ? 0 : rv;
}

/* The kernel side takes the same MTU, so each side sends what the other accepts. */
static int tap_set_mtu(hs_interface_t *ifc, uint32_t mtu)
{
    tap_dev_t *d = ifc->dev;
    return hs_kif_set_mtu(d->tap.name, mtu);
}

static void tap_format(const hs_interface_t *ifc, hs_str_t *out)
{
    const tap_dev_t *d = ifc->dev;
    tap_rx_stats_t s = {0};
    for (uint32_t q = 0; q < d->tap.n_queues; q++) {
        s.truncated += d->rx[q].truncated;
        s.runt += d->rx[q].runt;
        s.no_buf += d->rx[q].no_buf;
        s.errors += d->rx[q].errors;
        s.gso += d->rx[q].gso;
        s.gso_other += d->rx[q].gso_other;
        s.csum_done += d->rx[q].csum_done;
    }
    hs_str_printf(out,
                  "tap %s: vnet header 12 bytes, offloads csum%s; rx truncated %lu runt %lu "
                  "no-buffer %lu errors %lu tso-segments %lu gso-dropped %lu csum-completed %lu; "
                  "tx errors %lu too-long %lu\n",
                  d->tap.name, d->tap.tso_rx ? ", tso4 (rx)" : "", (unsigned long)s.truncated,
                  (unsigned long)s.runt, (unsigned long)s.no_buf, (unsigned long)s.errors,
                  (unsigned long)s.gso, (unsigned long)s.gso_other, (unsigned long)s.csum_done,
                  (unsigned long)d->tx_errors, (unsigned long)d->tx_too_long);
}

/* Frees the read targets into the caches of the workers that own the queues (workers are
 * stopped while interfaces are deleted). */
static void tap_dev_free(tap_dev_t *d, const hs_interface_t *ifc)
{
    for (uint32_t q = 0; q < HS_IF_MAX_QUEUES; q++)
        for (uint32_t i = 0; i < TAP_RX_BUFS; i++) {
            if (d->spare[q][i] == HS_BUF_INVALID)
                continue;
            uint32_t w = ifc ? ifc->queue_worker[q] : 0;
            hs_buf_free(&d->net->workers[w].bufs, &d->spare[q][i], 1);
        }
    hs_tap_close(&d->tap);
    free(d);
}

static void tap_destroy(hs_interface_t *ifc)
{
    tap_dev_free(ifc->dev, ifc);
}

const hs_device_class_t hs_tap_device_class = {
    .name = "tap",
    .input_node_name = "tap-input",
    .rx = tap_rx,
    .tx = tap_tx,
    .set_admin = tap_set_admin,
    .set_mtu = tap_set_mtu,
    .format = tap_format,
    .destroy = tap_destroy,
};

static int fail(char *err, size_t len, int rv, const char *fmt, const char *name, const char *why)
{
    if (err && len)
        snprintf(err, len, fmt, name, why);
    return rv;
}

/* The kernel side: address and up. */
static int configure_host(const hs_tap_if_config_t *cfg, char *err, size_t len)
{
    char a[16];
    uint32_t h = cfg->host_addr;
    snprintf(a, sizeof(a), "%u.%u.%u.%u", h >> 24, (h >> 16) & 0xff, (h >> 8) & 0xff, h & 0xff);
    int rv = hs_kif_set_ip4(cfg->name, cfg->host_addr, cfg->host_len);
    if (rv == 0)
        rv = hs_kif_set_up(cfg->name, true);
    if (rv < 0 && err && len)
        snprintf(err, len, "tap %s: cannot set the host side to %s/%u: %s%s", cfg->name, a,
                 cfg->host_len, strerror(-rv),
                 rv == -EPERM ? " (run as root or grant CAP_NET_ADMIN)" : "");
    return rv;
}

static int check_tap_config(hs_net_t *net, const hs_tap_if_config_t *cfg, char *err, size_t len)
{
    if (!cfg || !cfg->name)
        return fail(err, len, -EINVAL, "tap %s: %s", "(null)", "no name given");
    if (cfg->n_queues > HS_IF_MAX_QUEUES)
        return fail(err, len, -EINVAL, "tap %s: %s", cfg->name, "too many queues (at most 8)");
    if (cfg->host_addr && cfg->host_len > 32)
        return fail(err, len, -EINVAL, "tap %s: %s", cfg->name, "host prefix length above 32");
    if (hs_interface_by_name(net, cfg->name))
        return fail(err, len, -EEXIST, "tap %s: %s", cfg->name,
                    "the stack already has an interface of that name");
    if (cfg->mac && !hs_mac_is_valid_unicast(cfg->mac))
        return fail(err, len, -EINVAL, "tap %s: %s", cfg->name,
                    "the MAC must be unicast and not zero");
    return 0;
}

int hs_tap_if_create(hs_net_t *net, const hs_tap_if_config_t *cfg, uint32_t *sw_if_index, char *err,
                     size_t err_len)
{
    int rv = check_tap_config(net, cfg, err, err_len);
    if (rv < 0)
        return rv;
    tap_dev_t *d = calloc(1, sizeof(*d));
    if (!d)
        return fail(err, err_len, -ENOMEM, "tap %s: %s", cfg->name, "out of memory");
    d->net = net;
    memset(d->spare, 0xff, sizeof(d->spare)); /* HS_BUF_INVALID */
    uint32_t nq = cfg->n_queues ? cfg->n_queues : 1;
    if ((rv = hs_tap_open(&d->tap, cfg->name, nq, err, err_len)) < 0) {
        free(d);
        return rv;
    }
    if (cfg->host_addr && (rv = configure_host(cfg, err, err_len)) < 0) {
        tap_dev_free(d, NULL);
        return rv;
    }
    uint8_t mac[6];
    if (cfg->mac)
        memcpy(mac, cfg->mac, 6);
    else
        hs_mac_random_local(mac);
    uint32_t idx;
    rv = hs_interface_create(net, cfg->name, &hs_tap_device_class, d, mac, nq, d->tap.fd, &idx);
    if (rv < 0) {
        tap_dev_free(d, NULL);
        return fail(err, err_len, rv, "tap %s: cannot register the interface: %s", cfg->name,
                    strerror(-rv));
    }
    hs_interface_t *ifc = hs_interface_get(net, idx);
    ifc->tx_csum_offload = true;
    tap_set_admin(ifc, false); /* the carrier follows our admin state, which starts down */
    if (sw_if_index)
        *sw_if_index = idx;
    return 0;
}
