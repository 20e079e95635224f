/* AF_PACKET: a TPACKET_V3 receive ring read in place (also from the block still filling),
 * a TPACKET_V2 companion ring that wakes sleeping readers per frame, sendmmsg transmit.
 * The header explains the latency reasoning. */
#define _GNU_SOURCE /* sendmmsg */
#include "drivers/af_packet.h"
#include "drivers/kernel_if.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define AFP_DEFAULT_BLOCK  (128u * 1024) /* a 64 KiB GSO frame from a local kernel sender fits */
#define AFP_DEFAULT_BLOCKS 32
#define AFP_DEFAULT_TOV_MS 8
#define AFP_RING_FRAME     2048 /* V3 ignores it beyond the frame_nr arithmetic */
#define AFP_WAKE_FRAME     128  /* V2 header + 1 byte of each frame */
#define AFP_WAKE_BLOCK     4096
#define AFP_TX_BATCH       64

#if defined(__x86_64__) || defined(__i386__)
#define AFP_INPLACE_SAFE 1 /* TSO: the kernel's stores to a frame become visible in order */
#else
#define AFP_INPLACE_SAFE 0
#endif

struct hs_af_packet {
    char ifname[IFNAMSIZ];
    int ifindex;
    int fd;      /* main socket: V3 rx ring, transmit */
    int wake_fd; /* companion V2 socket, -1 when none; the fd a sleeping reader polls */
    uint8_t *ring;
    size_t ring_len;
    uint32_t block_size, n_blocks;
    uint8_t *wake_ring;
    size_t wake_len;
    uint32_t wake_n, wake_head;
    bool inplace;
    /* Receive cursor: frames [0, blk_done) of block blk are consumed; the next one starts at
     * blk_off (0: at the block's first frame). */
    uint32_t blk, blk_done, blk_off;
    bool holding; /* rx_next handed out the frame at blk_off */
    hs_af_packet_stats_t st;
};

static struct tpacket_block_desc *block_at(const hs_af_packet_t *ap, uint32_t i)
{
    return (struct tpacket_block_desc *)(ap->ring + (size_t)i * ap->block_size);
}

static uint32_t load_acq(const uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static int afp_fail(const char *ifname, const char *what, int err_no, char *err, size_t len)
{
    const char *fix = "";
    if (err_no == EPERM || err_no == EACCES)
        fix = " (run as root or grant CAP_NET_RAW and CAP_NET_ADMIN)";
    else if (err_no == ENODEV || err_no == ENXIO)
        fix = " (no such kernel interface: create it first, e.g. ip link add NAME type veth "
              "peer name PEER)";
    else if (err_no == ENETDOWN)
        fix = " (bring it up: ip link set NAME up)";
    else if (err_no == ENOMEM)
        fix = " (not enough memory for the ring: use smaller or fewer blocks)";
    if (err && len) {
        char reason[128];
        snprintf(reason, sizeof(reason), "%s", strerror(err_no));
        reason[0] = (char)tolower((unsigned char)reason[0]);
        snprintf(err, len, "af_packet %s: %s: %s%s", ifname, what, reason, fix);
    }
    return -err_no;
}

static int setopt(int fd, int level, int name, const void *v, socklen_t len)
{
    return setsockopt(fd, level, name, v, len) < 0 ? -errno : 0;
}

static int bind_to(int fd, int ifindex)
{
    struct sockaddr_ll sll = {
        .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = ifindex};
    return bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0 ? -errno : 0;
}

/* The companion: every frame leaves one byte in a small V2 ring, whose per-frame wakeup
 * the V3 ring lacks. Bound before the main socket: the kernel delivers to the most recently
 * bound socket first, so the main ring holds a frame before the companion wakes anyone. */
static int wake_open(hs_af_packet_t *ap, const char **step)
{
    int v = TPACKET_V2, one = 1, rv;
    struct sock_filter code[] = {BPF_STMT(BPF_RET | BPF_K, 1)}; /* keep 1 byte */
    struct sock_fprog prog = {.len = 1, .filter = code};
    struct tpacket_req req = {.tp_block_size = AFP_WAKE_BLOCK,
                              .tp_block_nr = 1,
                              .tp_frame_size = AFP_WAKE_FRAME,
                              .tp_frame_nr = AFP_WAKE_BLOCK / AFP_WAKE_FRAME};
    *step = "companion socket";
    ap->wake_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (ap->wake_fd < 0)
        return -errno;
    if ((rv = setopt(ap->wake_fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v))) < 0 ||
        (rv = setopt(ap->wake_fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog))) < 0 ||
        (rv = setopt(ap->wake_fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one))) < 0 ||
        (rv = setopt(ap->wake_fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req))) < 0)
        return rv;
    ap->wake_len = AFP_WAKE_BLOCK;
    ap->wake_n = req.tp_frame_nr;
    ap->wake_ring = mmap(NULL, ap->wake_len, PROT_READ | PROT_WRITE, MAP_SHARED, ap->wake_fd, 0);
    if (ap->wake_ring == MAP_FAILED) {
        ap->wake_ring = NULL;
        return -errno;
    }
    *step = "companion bind";
    return bind_to(ap->wake_fd, ap->ifindex);
}

static int main_open(hs_af_packet_t *ap, const hs_af_packet_config_t *cfg, const char **step)
{
    int v = TPACKET_V3, one = 1, rv;
    struct tpacket_req3 req = {
        .tp_block_size = ap->block_size,
        .tp_block_nr = ap->n_blocks,
        .tp_frame_size = AFP_RING_FRAME,
        .tp_frame_nr = ap->block_size / AFP_RING_FRAME * ap->n_blocks,
        .tp_retire_blk_tov = cfg->block_tov_ms ? cfg->block_tov_ms : AFP_DEFAULT_TOV_MS,
    };
    *step = "socket";
    ap->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (ap->fd < 0)
        return -errno;
    *step = "ring setup";
    if ((rv = setopt(ap->fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v))) < 0 ||
        (rv = setopt(ap->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one))) < 0 ||
        (rv = setopt(ap->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one))) < 0 ||
        (rv = setopt(ap->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req))) < 0)
        return rv;
    if (cfg->promisc) {
        struct packet_mreq mr = {.mr_ifindex = ap->ifindex, .mr_type = PACKET_MR_PROMISC};
        *step = "promiscuous mode";
        if ((rv = setopt(ap->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr))) < 0)
            return rv;
    }
    *step = "ring mmap";
    ap->ring_len = (size_t)ap->block_size * ap->n_blocks;
    ap->ring =
        mmap(NULL, ap->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ap->fd, 0);
    if (ap->ring == MAP_FAILED) {
        ap->ring = NULL;
        return -errno;
    }
    *step = "bind";
    return bind_to(ap->fd, ap->ifindex);
}

static int check_config(const hs_af_packet_config_t *cfg, uint32_t *bs, uint32_t *nb)
{
    long page = sysconf(_SC_PAGESIZE);
    *bs = cfg->block_size ? cfg->block_size : AFP_DEFAULT_BLOCK;
    *nb = cfg->n_blocks ? cfg->n_blocks : AFP_DEFAULT_BLOCKS;
    if (*bs % (uint32_t)page || *bs < AFP_RING_FRAME || *nb > 4096)
        return -EINVAL;
    return 0;
}

int hs_af_packet_open(hs_af_packet_t **out, const char *ifname, const hs_af_packet_config_t *cfg,
                      char *err, size_t err_len)
{
    static const hs_af_packet_config_t defaults;
    cfg = cfg ? cfg : &defaults;
    size_t n = ifname ? strlen(ifname) : 0;
    if (n == 0 || n >= IFNAMSIZ)
        return afp_fail(ifname ? ifname : "(null)", "interface name", EINVAL, err, err_len);
    uint32_t bs, nb;
    if (check_config(cfg, &bs, &nb) < 0)
        return afp_fail(ifname, "ring size (blocks must be page multiples >= 2048)", EINVAL, err,
                        err_len);
    int ifindex = hs_kif_index(ifname);
    if (ifindex < 0)
        return afp_fail(ifname, "interface", -ifindex, err, err_len);
    bool up = false;
    int rv = hs_kif_is_up(ifname, &up);
    if (rv == 0 && !up)
        rv = -ENETDOWN;
    if (rv < 0)
        return afp_fail(ifname, "interface", -rv, err, err_len);

    hs_af_packet_t *ap = calloc(1, sizeof(*ap));
    if (!ap)
        return -ENOMEM;
    memcpy(ap->ifname, ifname, n + 1);
    ap->ifindex = ifindex;
    ap->fd = ap->wake_fd = -1;
    ap->block_size = bs;
    ap->n_blocks = nb;
    ap->inplace = AFP_INPLACE_SAFE && !cfg->no_inplace;
    const char *step = "";
    /* The companion only helps when the block still filling is read in place. */
    rv = cfg->no_wakeup_ring || !ap->inplace ? 0 : wake_open(ap, &step);
    if (rv == 0)
        rv = main_open(ap, cfg, &step);
    if (rv < 0) {
        hs_af_packet_close(ap);
        return afp_fail(ifname, step, -rv, err, err_len);
    }
    *out = ap;
    return 0;
}

void hs_af_packet_close(hs_af_packet_t *ap)
{
    if (!ap)
        return;
    if (ap->ring)
        munmap(ap->ring, ap->ring_len);
    if (ap->wake_ring)
        munmap(ap->wake_ring, ap->wake_len);
    int fds[2] = {ap->fd, ap->wake_fd};
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(ap);
}

/* With a companion, only its fd is polled: it wakes per frame, and the main socket kept
 * out of every epoll set has no waiter to wake when each sent skb is freed
 * (sock_def_write_space) or a block retires. */
int hs_af_packet_fd(const hs_af_packet_t *ap)
{
    return ap->wake_fd >= 0 ? ap->wake_fd : ap->fd;
}

int hs_af_packet_ifindex(const hs_af_packet_t *ap)
{
    return ap->ifindex;
}

/* A frame in a block the kernel still fills is complete when its status carries
 * TP_STATUS_USER and its lengths are set: the kernel writes them after copying the data,
 * and they were zero (the block was zeroed when we gave it back). */
static bool frame_complete(const struct tpacket3_hdr *h)
{
    return (load_acq(&h->tp_status) & TP_STATUS_USER) && load_acq(&h->tp_len) &&
           load_acq(&h->tp_snaplen) && __atomic_load_n(&h->tp_mac, __ATOMIC_ACQUIRE);
}

/* Gives a retired block back: zeroed first (in-place reading depends on it), then the
 * status, which the kernel reads before reusing the block. */
static void block_release(hs_af_packet_t *ap)
{
    struct tpacket_block_desc *bd = block_at(ap, ap->blk);
    struct tpacket_hdr_v1 *h1 = &bd->hdr.bh1;
    if (ap->inplace) {
        uint32_t first = h1->offset_to_first_pkt, end = h1->blk_len;
        if (first < end && end <= ap->block_size)
            memset((uint8_t *)bd + first, 0, end - first);
        h1->num_pkts = 0;
    }
    /* store-release: the kernel may refill the block once it reads TP_STATUS_KERNEL. */
    __atomic_store_n(&h1->block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    ap->st.rx_blocks++;
    ap->blk = (ap->blk + 1) % ap->n_blocks;
    ap->blk_done = 0;
    ap->blk_off = 0;
}

/* room: bytes from h to the end of its block; a frame never reaches past it. */
static void fill_frame(const struct tpacket3_hdr *h, uint32_t room, hs_af_packet_frame_t *f)
{
    uint32_t status = h->tp_status, mac = HS_MIN((uint32_t)h->tp_mac, room);
    f->data = (const uint8_t *)h + mac;
    f->len = HS_MIN(h->tp_snaplen, room - mac);
    f->wire_len = h->tp_len;
    f->flags = 0;
    if (status & TP_STATUS_CSUMNOTREADY)
        f->flags |= HS_AF_PACKET_F_CSUM_PARTIAL;
    if (status & TP_STATUS_CSUM_VALID)
        f->flags |= HS_AF_PACKET_F_CSUM_VALID;
    if (f->len < f->wire_len)
        f->flags |= HS_AF_PACKET_F_TRUNCATED;
    f->vlan_tci = f->vlan_tpid = 0;
    if (status & TP_STATUS_VLAN_VALID) {
        f->flags |= HS_AF_PACKET_F_VLAN;
        f->vlan_tci = h->hv1.tp_vlan_tci;
        f->vlan_tpid = (status & TP_STATUS_VLAN_TPID_VALID) ? h->hv1.tp_vlan_tpid : ETH_P_8021Q;
    }
}

/* The frame at the cursor, giving back blocks that are fully consumed on the way. */
static const struct tpacket3_hdr *ring_scan(hs_af_packet_t *ap, bool *inplace)
{
    for (uint32_t guard = 0; guard <= ap->n_blocks; guard++) {
        struct tpacket_block_desc *bd = block_at(ap, ap->blk);
        bool retired = load_acq(&bd->hdr.bh1.block_status) & TP_STATUS_USER;
        if (!retired && !ap->inplace)
            return NULL;
        uint32_t n = load_acq(&bd->hdr.bh1.num_pkts);
        if (ap->blk_done < n) {
            uint32_t off = ap->blk_off ? ap->blk_off : bd->hdr.bh1.offset_to_first_pkt;
            if (off + sizeof(struct tpacket3_hdr) > ap->block_size)
                return NULL; /* never happens with a sane kernel: stop rather than overrun */
            const struct tpacket3_hdr *h = (const void *)((uint8_t *)bd + off);
            if (!retired && !frame_complete(h))
                return NULL;
            *inplace = !retired;
            ap->blk_off = off;
            return h;
        }
        if (!retired)
            return NULL;
        block_release(ap);
    }
    return NULL;
}

/* Empties the companion ring so epoll sleeps until the next frame. Memory only. */
static void wake_drain(hs_af_packet_t *ap)
{
    for (;;) {
        struct tpacket2_hdr *h =
            (struct tpacket2_hdr *)(ap->wake_ring + (size_t)ap->wake_head * AFP_WAKE_FRAME);
        if (!(load_acq(&h->tp_status) & TP_STATUS_USER))
            return;
        /* store-release: hands the slot back to the kernel. */
        __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        ap->wake_head = (ap->wake_head + 1) % ap->wake_n;
        ap->st.wakeups_drained++;
    }
}

bool hs_af_packet_rx_next(hs_af_packet_t *ap, hs_af_packet_frame_t *f)
{
    bool inplace = false;
    const struct tpacket3_hdr *h = ring_scan(ap, &inplace);
    if (!h && ap->wake_ring) {
        /* Drain, then look again: a frame that landed before the drain is seen now, one
         * that lands after it leaves a companion frame that wakes the next epoll_wait. */
        wake_drain(ap);
        h = ring_scan(ap, &inplace);
    }
    if (!h)
        return false;
    fill_frame(h, ap->block_size - ap->blk_off, f);
    if (!ap->holding) {
        ap->holding = true;
        ap->st.rx_frames++;
        ap->st.rx_inplace += inplace;
    }
    return true;
}

void hs_af_packet_rx_release(hs_af_packet_t *ap)
{
    if (!ap->holding)
        return;
    ap->holding = false;
    struct tpacket_block_desc *bd = block_at(ap, ap->blk);
    const struct tpacket3_hdr *h = (const void *)((uint8_t *)bd + ap->blk_off);
    ap->blk_done++;
    /* The last frame of a retired block has tp_next_offset 0: the block is done. */
    ap->blk_off += h->tp_next_offset;
    bool retired = load_acq(&bd->hdr.bh1.block_status) & TP_STATUS_USER;
    if (retired && ap->blk_done >= bd->hdr.bh1.num_pkts)
        block_release(ap);
}

/* Transmit counters: any worker may send, so relaxed atomic adds. */
static void tx_count(uint64_t *c, uint64_t n)
{
    __atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

int hs_af_packet_send(hs_af_packet_t *ap, const hs_af_packet_txf_t *f, uint32_t n)
{
    struct mmsghdr msgs[AFP_TX_BATCH];
    uint32_t done = 0;
    while (done < n) {
        uint32_t k = HS_MIN(n - done, (uint32_t)AFP_TX_BATCH);
        memset(msgs, 0, k * sizeof(msgs[0]));
        for (uint32_t i = 0; i < k; i++) {
            msgs[i].msg_hdr.msg_iov = (struct iovec *)f[done + i].iov;
            msgs[i].msg_hdr.msg_iovlen = (size_t)f[done + i].iovcnt;
        }
        int r = sendmmsg(ap->fd, msgs, k, MSG_DONTWAIT);
        if (r < 0) {
            int e = errno;
            tx_count(&ap->st.tx_errors, 1);
            return done ? (int)done : -e;
        }
        done += (uint32_t)r;
        tx_count(&ap->st.tx_frames, (uint32_t)r);
        if ((uint32_t)r < k) {
            tx_count(&ap->st.tx_errors, 1);
            break; /* the kernel refused the next frame: report what went */
        }
    }
    return (int)done;
}

void hs_af_packet_stats(hs_af_packet_t *ap, hs_af_packet_stats_t *st)
{
    struct tpacket_stats_v3 ks;
    socklen_t len = sizeof(ks);
    if (getsockopt(ap->fd, SOL_PACKET, PACKET_STATISTICS, &ks, &len) == 0)
        ap->st.kernel_drops += ks.tp_drops;
    *st = ap->st;
}
