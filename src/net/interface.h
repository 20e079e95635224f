/* Interfaces: a name, a MAC, an MTU, state, a FIB table, IPv4 addresses, per-worker
 * counters, and a device class (the driver glue) that receives and sends frames. */
#ifndef HS_NET_INTERFACE_H
#define HS_NET_INTERFACE_H

#include "net/net.h"

#define HS_IF_NAME_MAX    32
#define HS_IF_MAX_QUEUES  8
#define HS_IF_DEFAULT_MTU 1500

typedef struct hs_interface hs_interface_t;

/* The driver glue for one kind of device (tap, af_packet, wire). */
typedef struct {
    const char *name;            /* "tap", "af_packet", "wire" */
    const char *input_node_name; /* the input node that polls its queues */
    /* Reads up to max frames from queue q into freshly allocated buffers (current_data at
     * the Ethernet header, sw_if_index[HS_RX] set). Returns how many. */
    uint32_t (*rx)(hs_net_worker_t *wk, hs_interface_t *ifc, uint32_t q, uint32_t *bis,
                   uint32_t max);
    /* Sends n frames (buffer chains starting at the Ethernet header) and frees them all.
     * Returns how many left; the rest are counted as tx drops by the caller. */
    uint32_t (*tx)(hs_net_worker_t *wk, hs_interface_t *ifc, const uint32_t *bis, uint32_t n);
    /* Optional: the device follows the admin state. */
    int (*set_admin)(hs_interface_t *ifc, bool up);
    /* Optional: the device must carry IP packets of mtu bytes (a tap sets its kernel side;
     * af_packet refuses more than the kernel interface carries, -EMSGSIZE). */
    int (*set_mtu)(hs_interface_t *ifc, uint32_t mtu);
    /* Optional: driver details for show interface. */
    void (*format)(const hs_interface_t *ifc, hs_str_t *out);
    /* Releases the device. */
    void (*destroy)(hs_interface_t *ifc);
} hs_device_class_t;

typedef struct {
    /* rx: what the driver delivered; rx_drops: dropped by ethernet-input (not for us,
     * unknown ethertype, ...) plus what the driver lost. tx: what the driver took;
     * tx_drops: interface down or the driver's queue full. */
    uint64_t rx_packets, rx_bytes, rx_drops;
    uint64_t tx_packets, tx_bytes, tx_drops;
} hs_if_counters_t;

typedef struct {
    uint32_t addr; /* host byte order */
    uint8_t len;
} hs_ip4_if_addr_t;

struct hs_interface {
    uint32_t sw_if_index;
    char name[HS_IF_NAME_MAX];
    const hs_device_class_t *dev_class;
    void *dev; /* the driver's state */
    uint8_t mac[6];
    uint16_t mtu; /* largest IP packet sent without fragmenting */
    bool admin_up;
    bool link_up;
    bool tx_csum_offload; /* L4 checksums may be left to the device */
    uint32_t fib_index;
    uint32_t input_node; /* graph index of dev_class->input_node_name */
    uint32_t n_queues;
    int queue_fd[HS_IF_MAX_QUEUES]; /* readable when frames wait; -1 when polled only */
    uint32_t queue_worker[HS_IF_MAX_QUEUES];
    hs_if_counters_t *counters; /* one per worker */
    hs_vec_t ip4_addrs;         /* hs_ip4_if_addr_t */
};

/* Registers a device as an interface (admin down, MTU 1500, table 0), assigning its
 * queues to workers round-robin (each to the worker polling the fewest). name: 1..31 of
 * [A-Za-z0-9._-]; mac: unicast, not zero; n_queues: 1..HS_IF_MAX_QUEUES; queue_fds may be
 * NULL (polled only). -EEXIST when the name is taken, -EINVAL for a bad argument, -ENOENT
 * when the class's input node is not registered, -ENOMEM. */
int hs_interface_create(hs_net_t *net, const char *name, const hs_device_class_t *dc, void *dev,
                        const uint8_t mac[6], uint32_t n_queues, const int *queue_fds,
                        uint32_t *sw_if_index);
/* Removes addresses and routes, releases the device, frees the slot. */
int hs_interface_delete(hs_net_t *net, uint32_t sw_if_index);

hs_interface_t *hs_interface_get(hs_net_t *net, uint32_t sw_if_index);
hs_interface_t *hs_interface_by_name(hs_net_t *net, const char *name);

/* Calls dev_class->set_admin when present (its error is returned, state unchanged).
 * Going down flushes the interface's ARP entries, like Linux. -ENOENT for a bad index. */
int hs_interface_set_admin(hs_net_t *net, uint32_t sw_if_index, bool up);
/* MTU from 576 to 9000: -EINVAL otherwise. */
int hs_interface_set_mtu(hs_net_t *net, uint32_t sw_if_index, uint32_t mtu);
/* Moves the interface (and its connected/local routes) to FIB table table_id, creating the
 * table when needed. */
int hs_interface_set_table(hs_net_t *net, uint32_t sw_if_index, uint32_t table_id);

/* show interface [counters]: one block per interface. */
void hs_interface_format_all(hs_net_t *net, bool counters, hs_str_t *out);
/* show interface NAME [counters]: that interface's block. */
void hs_interface_format(hs_net_t *net, const hs_interface_t *ifc, bool counters, hs_str_t *out);

static inline hs_if_counters_t *hs_if_counters(hs_interface_t *ifc, hs_net_worker_t *wk)
{
    return &ifc->counters[wk->index];
}

/* The input node body shared by every device class: polls the worker's queues of that
 * class on admin-up interfaces (up to HS_FRAME_SIZE frames per queue per call), counts rx
 * packets and bytes, starts traces, captures pcap, and hands frames to next slot 0.
 * So every input node registration must list "ethernet-input" as its next slot 0, and
 * may use hs_device_format_trace as its format_trace:
 *
 *   static const char *const tap_next[] = {"ethernet-input"};
 *   static const hs_node_reg_t tap_input = {.name = "tap-input", .fn = tap_input_fn,
 *       .type = HS_NODE_INPUT, .n_next = 1, .next_nodes = tap_next,
 *       .format_trace = hs_device_format_trace};
 *   static uint32_t tap_input_fn(hs_graph_rt_t *rt, hs_node_rt_t *node, const uint32_t *bis,
 *                                uint32_t n) { return hs_device_input(rt, node, &tap_class); }
 */
uint32_t hs_device_input(hs_graph_rt_t *rt, hs_node_rt_t *node, const hs_device_class_t *dc);
/* Formats the record hs_device_input adds: "hs0 (index 0) queue 0: 98 bytes". */
void hs_device_format_trace(char *out, size_t len, const void *data, uint32_t data_len);

#endif
