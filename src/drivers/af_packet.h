/* AF_PACKET on an existing kernel interface (e.g. one end of a veth): a TPACKET_V3 mmap
 * ring for receive, sendmmsg for transmit. Frames are handed out in place (pointer and
 * length into the ring) and released when consumed.
 *
 * Latency. A V3 ring publishes frames a block at a time: the kernel retires a block when
 * the next frame does not fit or when the block timer fires (tp_retire_blk_tov, at best one
 * jiffy: 4 ms at HZ=250), and only then wakes a poller. Two measures remove that delay:
 *  - while a worker polls, frames are read from the block the kernel is still filling: a
 *    frame is complete once its status has TP_STATUS_USER and its length fields are set,
 *    which we can tell apart because every block is zeroed before it goes back to the
 *    kernel (x86 only: it relies on the kernel's stores becoming visible in order, TSO);
 *  - for a sleeping worker, a companion socket with a tiny TPACKET_V2 ring (one byte per
 *    frame, filtered) gets every frame too and wakes epoll at once (V2 wakes per frame).
 *    The fd handed out for epoll is the companion's alone. The companion is drained (memory
 *    only, no syscall) whenever the main ring runs empty; under load its ring stays full and
 *    the kernel drops its copies before copying anything.
 * Transmit uses sendmmsg (one syscall per batch, the kernel copies) rather than a tx ring:
 * a tx ring hands ring pages to the skb and frees the slot when the skb is orphaned, which
 * on veth happens before the peer has read the data. No PACKET_VNET_HDR: frames sent with
 * a vnet header on a veth did not arrive on this kernel, so checksums are complete on tx.
 *
 * One thread receives (the queue's worker); transmit may come from any thread (sendmmsg
 * on the socket is thread-safe). */
#ifndef HS_DRIVERS_AF_PACKET_H
#define HS_DRIVERS_AF_PACKET_H

#include "infra/common.h"

#include <sys/uio.h>

typedef struct hs_af_packet hs_af_packet_t;

typedef struct {
    uint32_t block_size;   /* rx ring block, a multiple of the page size; 0: 128 KiB */
    uint32_t n_blocks;     /* 0: 32 */
    uint32_t block_tov_ms; /* block retire timeout; 0: 8 ms (latency does not depend on it) */
    bool promisc;          /* receive frames for any MAC (when the stack's MAC differs) */
    bool no_wakeup_ring;   /* no companion: a sleeping reader wakes only when blocks retire */
    bool no_inplace;       /* read retired blocks only (the portable mode) */
} hs_af_packet_config_t;

enum {
    HS_AF_PACKET_F_CSUM_PARTIAL = 1 << 0, /* L4 checksum not computed (local kernel sender) */
    HS_AF_PACKET_F_CSUM_VALID = 1 << 1,   /* the kernel validated the L4 checksum */
    HS_AF_PACKET_F_TRUNCATED = 1 << 2,    /* the frame was longer than a ring block */
    HS_AF_PACKET_F_VLAN = 1 << 3,         /* the kernel took the VLAN tag out: see vlan_tci */
};

typedef struct {
    const uint8_t *data; /* the Ethernet header, inside the ring */
    uint32_t len;        /* bytes at data */
    uint32_t wire_len;   /* length of the frame on the wire (> len when truncated) */
    uint32_t flags;      /* HS_AF_PACKET_F_* */
    uint16_t vlan_tci;
    uint16_t vlan_tpid;
} hs_af_packet_frame_t;

typedef struct {
    uint64_t rx_frames, rx_inplace; /* frames, and those read from a block still filling */
    uint64_t rx_blocks;             /* blocks given back to the kernel */
    uint64_t kernel_drops;          /* PACKET_STATISTICS tp_drops (ring full) */
    uint64_t wakeups_drained;       /* companion frames drained */
    uint64_t tx_frames, tx_errors;
} hs_af_packet_stats_t;

/* Attaches to kernel interface ifname, which must exist and be up. -errno with a sentence
 * in err naming the interface and the fix. */
int hs_af_packet_open(hs_af_packet_t **out, const char *ifname, const hs_af_packet_config_t *cfg,
                      char *err, size_t err_len);
void hs_af_packet_close(hs_af_packet_t *ap);

/* Readable when frames wait (the companion socket's fd, else the main one's; add it to an
 * epoll set, level-triggered). */
int hs_af_packet_fd(const hs_af_packet_t *ap);
int hs_af_packet_ifindex(const hs_af_packet_t *ap);

/* The next received frame, in place: true and *f filled, or false when none is ready. The
 * same frame is returned until hs_af_packet_rx_release(). */
bool hs_af_packet_rx_next(hs_af_packet_t *ap, hs_af_packet_frame_t *f);
/* Done with the frame rx_next returned; its memory may be reused by the kernel. */
void hs_af_packet_rx_release(hs_af_packet_t *ap);

/* One frame to send: gathered from iov. */
typedef struct {
    const struct iovec *iov;
    int iovcnt;
} hs_af_packet_txf_t;

/* Sends n frames in one sendmmsg. Returns how many the kernel took (frames after the first
 * failure are not sent), or -errno when none was. */
int hs_af_packet_send(hs_af_packet_t *ap, const hs_af_packet_txf_t *f, uint32_t n);

/* Counters; kernel_drops is read from the kernel (and reset there) on each call. */
void hs_af_packet_stats(hs_af_packet_t *ap, hs_af_packet_stats_t *st);

#endif
