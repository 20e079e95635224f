/* One instance of the packet path: buffers, the node graph, interfaces, IPv4 and ARP
 * state, and one runtime per data-plane worker. Several instances may live in one process
 * (the simulation joins two over the wire driver), so nothing here is global.
 *
 * Threading contract: control-plane changes (interfaces, addresses, routes, trace, pcap)
 * are made while every worker is stopped (the daemon's barrier) or, in a simulation,
 * between polls; workers then read that state without locks. The only state workers
 * write and share is the ARP neighbor table, which has its own lock (arp.h). */
#ifndef HS_NET_NET_H
#define HS_NET_NET_H

#include "infra/clock.h"
#include "infra/pool.h"
#include "infra/str.h"
#include "net/buffer.h"
#include "net/graph.h"

typedef struct hs_net hs_net_t;
typedef struct hs_net_worker hs_net_worker_t;
struct hs_ip4_main;
struct hs_ip4_worker;
struct hs_arp_main;
struct hs_pcap_main;
struct hs_handoff_main;

typedef struct {
    uint32_t n_workers; /* data-plane runtimes, at least 1 */
    uint32_t n_buffers; /* 0: default (32768) */
    hs_clock_t *clock;  /* real or virtual; not owned */
    /* Optional: upper layers (tcp4-input, udp4-input) register their nodes here. It runs
     * before the IPv4 layer's init, so ip4-local finds them by name. */
    int (*register_nodes)(hs_net_t *net, void *ctx);
    void *register_ctx;
    /* Keys the flow-to-worker hash (hs_net_flow_worker); 0: random. Simulations fix it so
     * runs replay. */
    uint64_t flow_seed;
} hs_net_config_t;

/* An rx queue a worker polls. */
typedef struct {
    uint32_t sw_if_index;
    uint32_t queue;
} hs_rx_queue_ref_t;

struct hs_net_worker {
    hs_net_t *net;
    uint32_t index;
    hs_buf_cache_t bufs;
    hs_graph_rt_t rt;
    hs_vec_t rx_queues; /* hs_rx_queue_ref_t */
    struct hs_ip4_worker *ip4;
    uint64_t now_ns; /* time of the current poll */
    uint64_t next_housekeep_ns;
};

/* Node indices the layers hand packets to from outside a node's next slots. */
typedef struct {
    uint32_t ethernet_input;
    uint32_t arp_input;
    uint32_t ip4_input;
    uint32_t ip4_lookup;
    uint32_t ip4_rewrite;
    uint32_t interface_output;
} hs_net_nodes_t;

struct hs_net {
    hs_clock_t *clock;
    hs_buf_pool_t bufs;
    hs_graph_t graph;
    hs_pool_t interfaces; /* hs_interface_t, index = sw_if_index */
    uint32_t n_workers;
    hs_net_worker_t *workers;
    hs_net_nodes_t nodes;
    struct hs_ip4_main *ip4;
    struct hs_arp_main *arp;
    struct hs_pcap_main *pcap;
    struct hs_handoff_main *handoff; /* NULL with one worker */
    uint8_t flow_key[16];            /* siphash key of hs_net_flow_worker */
    /* Set by whoever runs the workers on threads (hsd): wakes a sleeping worker. NULL when
     * every worker is polled from one thread (simulations). */
    void (*wake_worker)(void *ctx, uint32_t worker);
    void *wake_ctx;
};

/* Builds an instance with every node registered. 0 or -errno (logged with the reason). */
int hs_net_create(hs_net_t **out, const hs_net_config_t *cfg);
void hs_net_destroy(hs_net_t *net);

static inline hs_net_worker_t *hs_net_worker(hs_net_t *net, uint32_t i)
{
    return &net->workers[i];
}

/* The worker that owns a flow (its local and remote address and port, and protocol):
 * every worker computes the same answer, so a packet that reaches another worker is handed
 * to the owner (net/handoff.h) and an active open picks a local port the opening worker
 * owns. Keyed (flow_key): peers cannot aim flows at one worker. */
uint32_t hs_net_flow_worker(const hs_net_t *net, uint8_t proto, uint32_t lcl_ip, uint16_t lcl_port,
                            uint32_t rmt_ip, uint16_t rmt_port);

/* One data-plane iteration of a worker at time now_ns: polls every input node (which poll
 * the worker's rx queues), runs the graph until idle, and does housekeeping (ARP aging,
 * reassembly timeouts) when due. Returns the packets received. */
uint32_t hs_net_worker_poll(hs_net_worker_t *wk, uint64_t now_ns);

/* Housekeeping period: ARP aging and reassembly timeouts are checked this often. */
#define HS_NET_HOUSEKEEP_NS (100 * HS_NS_PER_MS)

#endif
