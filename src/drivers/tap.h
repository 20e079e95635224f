/* Linux tap devices: Ethernet frames to and from the kernel through /dev/net/tun, each
 * preceded by a virtio-net header (IFF_VNET_HDR) so checksum offload works, one fd per
 * queue (IFF_MULTI_QUEUE when there are several). Non-blocking: callers poll or epoll.
 *
 * Header: 12 bytes (the virtio 1.0 layout, struct virtio_net_hdr_v1, with num_buffers),
 * chosen over the legacy 10 so the same layout serves a later vhost-net backend. Offloads:
 * TUN_F_CSUM, so the kernel may hand us frames whose TCP/UDP checksum is still to be
 * completed (HS_VNET_F_NEEDS_CSUM), and TUN_F_TSO4, so the kernel's TCP may hand us one
 * IPv4 TCP segment of up to 64 KiB (HS_VNET_GSO_TCPV4) instead of MTU-sized ones; kernels
 * that refuse TSO get checksum offload alone. Nothing is offloaded on transmit but the
 * checksum: every frame we write fits the MTU. */
#ifndef HS_DRIVERS_TAP_H
#define HS_DRIVERS_TAP_H

#include "infra/common.h"

#include <sys/types.h>
#include <sys/uio.h>

#define HS_TAP_MAX_QUEUES 16
#define HS_TAP_NAME_MAX   16 /* IFNAMSIZ, with the NUL */
/* Pieces of one frame in hs_tap_read/write: a 64 KiB TSO segment in 2 KiB buffers takes 31. */
#define HS_TAP_IOV_MAX 48

enum {
    HS_VNET_F_NEEDS_CSUM = 1, /* checksum at csum_start + csum_offset is still to be done */
    HS_VNET_F_DATA_VALID = 2, /* the kernel already validated the checksum */
};

enum {
    HS_VNET_GSO_NONE = 0,
    HS_VNET_GSO_TCPV4 = 1, /* one TCP segment larger than the MTU (gso_size: the MSS) */
};

/* struct virtio_net_hdr_v1, little-endian fields (this host's order on x86 and arm64). */
typedef struct {
    uint8_t flags;
    uint8_t gso_type; /* HS_VNET_GSO_*: TCPV4 on receive only (TUN_F_TSO4) */
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;  /* from the start of the Ethernet frame */
    uint16_t csum_offset; /* from csum_start */
    uint16_t num_buffers;
} hs_vnet_hdr_t;

_Static_assert(sizeof(hs_vnet_hdr_t) == 12, "virtio_net_hdr_v1 is 12 bytes");

typedef struct {
    char name[HS_TAP_NAME_MAX];
    uint32_t n_queues;
    bool tso_rx; /* the kernel may send HS_VNET_GSO_TCPV4 frames (TUN_F_TSO4 taken) */
    int fd[HS_TAP_MAX_QUEUES];
} hs_tap_t;

/* Creates (or attaches to a persistent) tap `name` with n_queues queues. The tap vanishes
 * when the last fd closes unless it was made persistent elsewhere. On failure -errno and a
 * sentence in err naming the tap and the fix, e.g. "tap hs0: /dev/net/tun: permission
 * denied (run as root or grant CAP_NET_ADMIN)". */
int hs_tap_open(hs_tap_t *t, const char *name, uint32_t n_queues, char *err, size_t err_len);
void hs_tap_close(hs_tap_t *t);

/* Reads one frame from queue q: the header into *hdr, the frame into iov (at most
 * HS_TAP_IOV_MAX entries). Returns the frame's length without the header, -EAGAIN when the queue is
 * empty, or -errno. A frame longer than the iov is cut to fit: the caller sees a length equal to
 * the iov's capacity and treats it as truncated. */
ssize_t hs_tap_read(const hs_tap_t *t, uint32_t q, hs_vnet_hdr_t *hdr, const struct iovec *iov,
                    int iovcnt);
/* Writes one frame (gathered from iov, at most HS_TAP_IOV_MAX entries) behind hdr to queue q.
 * Returns the frame's length, -EAGAIN when the kernel's queue is full, or -errno. */
ssize_t hs_tap_write(const hs_tap_t *t, uint32_t q, const hs_vnet_hdr_t *hdr,
                     const struct iovec *iov, int iovcnt);

/* Carrier seen by the kernel (TUNSETCARRIER, Linux >= 5.0): our side's link state.
 * -ENOTTY on older kernels. */
int hs_tap_set_carrier(const hs_tap_t *t, bool on);

#endif
