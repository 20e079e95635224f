/* Driver glue: the device classes and input nodes of the tap, af_packet and wire drivers,
 * and the calls that create interfaces on them. The drivers themselves (src/drivers) only
 * move bytes; this glue moves them into and out of buffers. */
#ifndef HS_NET_DEVICES_H
#define HS_NET_DEVICES_H

#include "net/interface.h"

#include <sys/uio.h>

struct hs_wire;

/* Registers tap-input, af-packet-input and wire-input. */
int hs_devices_init(hs_net_t *net);

typedef struct {
    const char *name;   /* kernel interface name of the tap, e.g. "hs0" */
    uint32_t n_queues;  /* 1..HS_IF_MAX_QUEUES */
    uint32_t host_addr; /* host order; 0: leave the kernel side unconfigured */
    uint8_t host_len;
    const uint8_t *mac; /* stack-side MAC; NULL: a random locally administered one */
} hs_tap_if_config_t;

/* create tap: the interface is named like the tap. -errno with a sentence in err naming
 * the tap and the fix. */
int hs_tap_if_create(hs_net_t *net, const hs_tap_if_config_t *cfg, uint32_t *sw_if_index, char *err,
                     size_t err_len);

/* create host-interface name IFNAME: attaches to an existing kernel interface through
 * af_packet; the interface is named "host-IFNAME". mac NULL: a random locally administered
 * MAC, the kernel interface promiscuous while attached; the kernel interface's own MAC:
 * shared, not promiscuous. */
int hs_af_packet_if_create(hs_net_t *net, const char *host_ifname, const uint8_t *mac,
                           uint32_t *sw_if_index, char *err, size_t err_len);

/* Attaches one end (0 or 1) of an in-process wire as interface name. The wire is not
 * owned: its creator destroys it after the interface is gone. The interface is polled
 * (no fd) and reads the time from the worker (wk->now_ns), so on a virtual clock the wire's
 * delays are virtual too. The wire is single-threaded: both ends must be polled by the same
 * thread (one worker each in two instances driven by one simulator thread). */
int hs_wire_if_create(hs_net_t *net, struct hs_wire *wire, int end, const char *name,
                      const uint8_t *mac, uint32_t *sw_if_index);

/* ---- glue internals shared by devices.c and dev_*.c ---- */

extern const hs_device_class_t hs_tap_device_class;
extern const hs_device_class_t hs_af_packet_device_class;
extern const hs_device_class_t hs_wire_device_class;

/* Completes an L4 checksum the sender left partial (virtio NEEDS_CSUM, af_packet
 * TP_STATUS_CSUMNOTREADY): the field at csum_start + csum_offset (from the current
 * position, the Ethernet header) holds the pseudo-header sum; the sum from csum_start to
 * the end is stored there and the buffer is marked HS_BUF_F_L4_CSUM_OK. false (nothing
 * changed) when the offsets do not fit the first buffer. */
bool hs_dev_csum_complete(const hs_buf_pool_t *p, hs_buf_t *b, uint32_t csum_start,
                          uint32_t csum_offset);
/* The same when the sender gave no offsets (af_packet): found from the IPv4 header for TCP
 * and UDP. false for anything else. */
bool hs_dev_csum_complete_ip4(const hs_buf_pool_t *p, hs_buf_t *b);
/* Fills iov with the pieces (current data) of the chain starting at b; returns
 * how many, or -EMSGSIZE when the chain has more pieces than max. */
int hs_dev_chain_iov(const hs_buf_pool_t *p, hs_buf_t *b, struct iovec *iov, int max);

#endif
