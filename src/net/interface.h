/* Interfaces: a name, a MAC, an MTU, state, a FIB table, IPv4 addresses, per-worker
 * counters, and a device class (the driver glue) that receives and sends frames. */
#ifndef HS_NET_INTERFACE_H
#define HS_NET_INTERFACE_H

#include "net/net.h"

#define HS_IF_NAME_MAX   32
#define HS_IF_MAX_QUEUES 8
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
    /* Optional: driver details for show interface. */
    void (*format)(const hs_interface_t *ifc, hs_str_t *out);
    /* Releases the device. */
    void (*destroy)(hs_interface_t *ifc);
} hs_device_class_t;

typedef struct {
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

/* Registers a device as an interface, assigning its queues to workers round-robin.
 * -EEXIST when the name is taken, -EINVAL for a bad name or MAC, -ENOMEM. */
int hs_interface_create(hs_net_t *net, const char *name, const hs_device_class_t *dc,
                        void *dev, const uint8_t mac[6], uint32_t n_queues,
                        const int *queue_fds, uint32_t *sw_if_index);
/* Removes addresses and routes, releases the device, frees the slot. */
int hs_interface_delete(hs_net_t *net, uint32_t sw_if_index);

hs_interface_t *hs_interface_get(hs_net_t *net, uint32_t sw_if_index);
hs_interface_t *hs_interface_by_name(hs_net_t *net, const char *name);

int hs_interface_set_admin(hs_net_t *net, uint32_t sw_if_index, bool up);
/* MTU from 576 to 9000: -EINVAL otherwise. */
int hs_interface_set_mtu(hs_net_t *net, uint32_t sw_if_index, uint32_t mtu);
/* Moves the interface (and its connected/local routes) to FIB table table_id, creating the
 * table when needed. */
int hs_interface_set_table(hs_net_t *net, uint32_t sw_if_index, uint32_t table_id);

/* show interface [counters]: one block per interface. */
void hs_interface_format_all(hs_net_t *net, bool counters, hs_str_t *out);

static inline hs_if_counters_t *hs_if_counters(hs_interface_t *ifc, hs_net_worker_t *wk)
{
    return &ifc->counters[wk->index];
}

/* The input node body shared by every device class: polls the worker's queues of that
 * class, counts, starts traces, captures pcap, and hands frames to ethernet-input. */
uint32_t hs_device_input(hs_graph_rt_t *rt, hs_node_rt_t *node, const hs_device_class_t *dc);

#endif
