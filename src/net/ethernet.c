/* The Ethernet layer's nodes: ethernet-input (accept, classify by ethertype, strip the
 * header) and interface-output (count, capture, batch per interface into the driver). */
#include "net/ethernet.h"
#include "net/interface.h"
#include "net/pcap.h"

#include <stdio.h>

/* ---- ethernet-input ---- */

enum { ETH_NEXT_IP4, ETH_NEXT_ARP, ETH_N_NEXT };

#define ETH_ERRORS                                                                                 \
    _(TOO_SHORT, "frame shorter than an Ethernet header")                                          \
    _(NO_INTERFACE, "received on an unknown interface")                                            \
    _(BAD_SOURCE, "multicast source MAC")                                                          \
    _(NOT_FOR_US, "unicast to another MAC")                                                        \
    _(MULTICAST, "multicast (no listeners)")                                                       \
    _(VLAN, "vlan not supported")                                                                  \
    _(IP6, "ip6 not supported")                                                                    \
    _(UNKNOWN_TYPE, "unknown ethertype")

typedef enum {
#define _(sym, str) ETH_ERR_##sym,
    ETH_ERRORS
#undef _
        ETH_N_ERRORS
} eth_error_t;

static const char *const eth_error_strings[] = {
#define _(sym, str) str,
    ETH_ERRORS
#undef _
};

typedef struct {
    uint8_t dst[6], src[6];
    uint16_t type;
    uint32_t sw_if_index;
} eth_trace_t;

static void eth_format_trace(char *out, size_t len, const void *data, uint32_t data_len)
{
    eth_trace_t t = {0};
    memcpy(&t, data, HS_MIN((size_t)data_len, sizeof(t)));
    char s[HS_MAC_STR_LEN], d[HS_MAC_STR_LEN];
    snprintf(out, len, "%s -> %s type 0x%04x on index %u", hs_mac_format(s, t.src),
             hs_mac_format(d, t.dst), t.type, t.sw_if_index);
}

/* Decides one frame: a next slot (>= 0) or a drop reason (negated, minus one). */
static int eth_classify(const hs_interface_t *ifc, const hs_eth_parsed_t *h)
{
    if (hs_unlikely(hs_mac_is_multicast(h->src)))
        return -1 - ETH_ERR_BAD_SOURCE;
    if (hs_unlikely(!hs_mac_equal(h->dst, ifc->mac))) {
        if (!hs_mac_is_multicast(h->dst))
            return -1 - ETH_ERR_NOT_FOR_US;
        if (!hs_mac_is_broadcast(h->dst))
            return -1 - ETH_ERR_MULTICAST;
    }
    switch (h->type) {
    case HS_ETHERTYPE_IP4:
        return ETH_NEXT_IP4;
    case HS_ETHERTYPE_ARP:
        return ETH_NEXT_ARP;
    case HS_ETHERTYPE_VLAN:
    case HS_ETHERTYPE_QINQ:
        return -1 - ETH_ERR_VLAN;
    case HS_ETHERTYPE_IP6:
        return -1 - ETH_ERR_IP6;
    default:
        return -1 - ETH_ERR_UNKNOWN_TYPE;
    }
}

static void eth_input_one(hs_graph_rt_t *rt, hs_node_rt_t *node, hs_net_worker_t *wk, uint32_t bi)
{
    hs_buf_t *b = hs_rt_buf(rt, bi);
    hs_interface_t *ifc = hs_interface_get(wk->net, b->sw_if_index[HS_RX]);
    hs_eth_parsed_t h;
    if (hs_unlikely(!ifc)) {
        hs_node_drop(rt, node, bi, ETH_ERR_NO_INTERFACE);
        return;
    }
    /* The whole header must sit in the first buffer of a chain. */
    if (hs_unlikely(hs_eth_parse(hs_buf_cur(b), b->current_length, &h) < 0)) {
        hs_if_counters(ifc, wk)->rx_drops++;
        hs_node_drop(rt, node, bi, ETH_ERR_TOO_SHORT);
        return;
    }
    if (hs_unlikely(b->flags & HS_BUF_F_TRACED)) {
        eth_trace_t t = {.type = h.type, .sw_if_index = ifc->sw_if_index};
        memcpy(t.dst, h.dst, 6);
        memcpy(t.src, h.src, 6);
        hs_trace_add(rt, node, b, &t, sizeof(t));
    }
    int next = eth_classify(ifc, &h);
    if (hs_unlikely(next < 0)) {
        hs_if_counters(ifc, wk)->rx_drops++;
        hs_node_drop(rt, node, bi, (uint16_t)(-1 - next));
        return;
    }
    b->l3_offset = (uint16_t)(b->current_data + HS_ETH_HDR_LEN);
    hs_buf_advance(b, HS_ETH_HDR_LEN);
    hs_node_next(rt, node, (uint16_t)next, bi);
}

static uint32_t eth_input_fn(hs_graph_rt_t *rt, hs_node_rt_t *node, const uint32_t *bis, uint32_t n)
{
    hs_net_worker_t *wk = rt->user;
    for (uint32_t i = 0; i < n; i++)
        eth_input_one(rt, node, wk, bis[i]);
    return n;
}

static const char *const eth_input_next[ETH_N_NEXT] = {
    [ETH_NEXT_IP4] = "ip4-input",
    [ETH_NEXT_ARP] = "arp-input",
};

static const hs_node_reg_t eth_input_reg = {
    .name = "ethernet-input",
    .fn = eth_input_fn,
    .type = HS_NODE_INTERNAL,
    .n_next = ETH_N_NEXT,
    .next_nodes = eth_input_next,
    .n_errors = ETH_N_ERRORS,
    .errors = eth_error_strings,
    .format_trace = eth_format_trace,
};

/* ---- interface-output ---- */

#define OUT_ERRORS                                                                                 \
    _(NO_INTERFACE, "sent to an unknown interface")                                                \
    _(DOWN, "interface is down")                                                                   \
    _(TOO_SHORT, "frame shorter than an Ethernet header")                                          \
    _(DRIVER, "driver tx queue full")

typedef enum {
#define _(sym, str) OUT_ERR_##sym,
    OUT_ERRORS
#undef _
        OUT_N_ERRORS
} out_error_t;

static const char *const out_error_strings[] = {
#define _(sym, str) str,
    OUT_ERRORS
#undef _
};

typedef struct {
    uint32_t sw_if_index;
    uint32_t len;
} out_trace_t;

static void out_format_trace(char *out, size_t len, const void *data, uint32_t data_len)
{
    out_trace_t t = {0};
    memcpy(&t, data, HS_MIN((size_t)data_len, sizeof(t)));
    snprintf(out, len, "index %u: %u bytes", t.sw_if_index, t.len);
}

/* Hands one interface's batch to its driver. Counters are taken before the call because
 * the driver frees every buffer; it sends a prefix of the batch and drops the rest. */
static void out_flush(hs_node_rt_t *node, hs_net_worker_t *wk, hs_interface_t *ifc,
                      const uint32_t *bis, const uint32_t *lens, uint32_t n)
{
    uint32_t sent = ifc->dev_class->tx(wk, ifc, bis, n);
    if (sent > n)
        sent = n;
    hs_if_counters_t *c = hs_if_counters(ifc, wk);
    for (uint32_t i = 0; i < sent; i++)
        c->tx_bytes += lens[i];
    c->tx_packets += sent;
    c->tx_drops += n - sent;
    if (n > sent)
        hs_node_count(node, OUT_ERR_DRIVER, n - sent);
}

/* Checks one buffer; returns its interface, or NULL after dropping it. */
static hs_interface_t *out_check(hs_graph_rt_t *rt, hs_node_rt_t *node, hs_net_worker_t *wk,
                                 uint32_t bi)
{
    hs_buf_t *b = hs_rt_buf(rt, bi);
    hs_interface_t *ifc = hs_interface_get(wk->net, b->sw_if_index[HS_TX]);
    if (hs_unlikely(!ifc)) {
        hs_node_drop(rt, node, bi, OUT_ERR_NO_INTERFACE);
        return NULL;
    }
    if (hs_unlikely(b->flags & HS_BUF_F_TRACED)) {
        out_trace_t t = {.sw_if_index = ifc->sw_if_index, .len = hs_buf_length(b)};
        hs_trace_add(rt, node, b, &t, sizeof(t));
    }
    uint16_t err = !ifc->admin_up                       ? OUT_ERR_DOWN
                   : b->current_length < HS_ETH_HDR_LEN ? OUT_ERR_TOO_SHORT
                                                        : OUT_N_ERRORS;
    if (hs_unlikely(err != OUT_N_ERRORS)) {
        hs_if_counters(ifc, wk)->tx_drops++;
        hs_node_drop(rt, node, bi, err);
        return NULL;
    }
    return ifc;
}

static uint32_t out_fn(hs_graph_rt_t *rt, hs_node_rt_t *node, const uint32_t *bis, uint32_t n)
{
    hs_net_worker_t *wk = rt->user;
    uint32_t todo[HS_FRAME_SIZE], lens[HS_FRAME_SIZE], batch[HS_FRAME_SIZE];
    hs_interface_t *ifcs[HS_FRAME_SIZE];
    uint32_t n_todo = 0;
    for (uint32_t i = 0; i < n; i++) {
        hs_interface_t *ifc = out_check(rt, node, wk, bis[i]);
        if (!ifc)
            continue;
        hs_pcap_capture(wk->net, wk, ifc->sw_if_index, HS_TX, hs_rt_buf(rt, bis[i]));
        ifcs[n_todo] = ifc;
        todo[n_todo++] = bis[i];
    }
    /* One driver call per interface: take the first remaining buffer's interface, collect
     * every buffer for it (order kept), and compact the rest. */
    while (n_todo) {
        hs_interface_t *ifc = ifcs[0];
        uint32_t n_batch = 0, n_rest = 0;
        for (uint32_t i = 0; i < n_todo; i++) {
            if (ifcs[i] == ifc) {
                lens[n_batch] = hs_buf_length(hs_rt_buf(rt, todo[i]));
                batch[n_batch++] = todo[i];
            } else {
                ifcs[n_rest] = ifcs[i];
                todo[n_rest++] = todo[i];
            }
        }
        out_flush(node, wk, ifc, batch, lens, n_batch);
        n_todo = n_rest;
    }
    return n;
}

static const hs_node_reg_t out_reg = {
    .name = "interface-output",
    .fn = out_fn,
    .type = HS_NODE_INTERNAL,
    .n_errors = OUT_N_ERRORS,
    .errors = out_error_strings,
    .format_trace = out_format_trace,
};

int hs_ethernet_init(hs_net_t *net)
{
    int rv = hs_graph_add_node(&net->graph, &eth_input_reg);
    if (rv < 0)
        return rv;
    rv = hs_graph_add_node(&net->graph, &out_reg);
    return rv < 0 ? rv : 0;
}
