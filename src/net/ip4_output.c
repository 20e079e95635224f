/* The last two IPv4 output nodes: ip4-frag (datagrams over the interface MTU, RFC 791; DF
 * set means ICMP fragmentation needed, RFC 1191) and ip4-rewrite (the next hop's MAC from
 * ARP, the Ethernet header prepended, then interface-output). */
#include "net/arp.h"
#include "net/ethernet.h"
#include "net/ip4_internal.h"

#include <stdio.h>
#include <string.h>

/* ---- ip4-frag ---- */

#define IP4_FRAG_ERRORS(_)                                                                         \
    _(FRAGMENTED, "datagrams fragmented")                                                          \
    _(DF_NEEDFRAG, "DF set, too big: ICMP fragmentation needed")                                   \
    _(DF_LOCAL, "DF set on our own datagram over the MTU")                                         \
    _(NO_BUFFER, "no buffers for fragments")                                                       \
    _(CANNOT, "cannot fragment (MTU too small for the header)")

enum {
#define _(sym, str) IP4_FRAG_E_##sym,
    IP4_FRAG_ERRORS(_)
#undef _
        IP4_FRAG_N_ERRORS
};

static const char *const ip4_frag_error_str[] = {
#define _(sym, str) [IP4_FRAG_E_##sym] = str,
    IP4_FRAG_ERRORS(_)
#undef _
};

enum { FRAG_NEXT_REWRITE, FRAG_N_NEXT };
static const char *const ip4_frag_next[] = {[FRAG_NEXT_REWRITE] = "ip4-rewrite"};

/* 64 KiB at the smallest MTU (68: 48 bytes a fragment) */
#define FRAG_MAX_OUT 1366

typedef struct {
    uint16_t len, mtu, n_frags;
} frag_trace_t;

static void frag_format_trace(char *out, size_t len, const void *data, uint32_t data_len)
{
    frag_trace_t t;
    memcpy(&t, data, HS_MIN(data_len, (uint32_t)sizeof(t)));
    snprintf(out, len, "len %u mtu %u: %u fragments", t.len, t.mtu, t.n_frags);
}

static void frag_one(hs_graph_rt_t *rt, hs_node_rt_t *node, const hs_net_t *net, uint32_t bi,
                     uint32_t *out)
{
    hs_buf_t *b = hs_rt_buf(rt, bi);
    const hs_ip4_header_t *h = (const hs_ip4_header_t *)hs_buf_cur(b);
    const hs_interface_t *ifc = hs_ip4_interface(net, b->sw_if_index[HS_TX]);
    uint32_t mtu = ifc && ifc->mtu ? ifc->mtu : HS_IF_DEFAULT_MTU;
    if (ntohs(h->frag) & HS_IP4_F_DF) {
        if (b->flags & HS_BUF_F_LOCALLY_MADE) {
            hs_node_drop(rt, node, bi, IP4_FRAG_E_DF_LOCAL);
            return;
        }
        hs_node_count(node, IP4_FRAG_E_DF_NEEDFRAG, 1);
        hs_icmp4_send_error(rt, bi, HS_ICMP_DEST_UNREACH, HS_ICMP_UNREACH_NEEDFRAG, mtu);
        return;
    }
    if (b->flags & HS_BUF_F_L4_CSUM_TODO) /* no device can finish it over fragments */
        hs_ip4_l4_csum_fill(rt->bufs->pool, b);
    int n = hs_ip4_fragment(rt->bufs, bi, mtu, out, FRAG_MAX_OUT);
    if (hs_unlikely(b->flags & HS_BUF_F_TRACED)) {
        frag_trace_t t = {(uint16_t)hs_buf_length(b), (uint16_t)mtu, (uint16_t)HS_MAX(n, 0)};
        hs_trace_add(rt, node, b, &t, sizeof(t));
    }
    if (n < 0) {
        hs_node_drop(rt, node, bi, n == -ENOBUFS ? IP4_FRAG_E_NO_BUFFER : IP4_FRAG_E_CANNOT);
        return;
    }
    hs_ip4_wk(rt)->stats.frags_made += (uint64_t)n;
    hs_node_count(node, IP4_FRAG_E_FRAGMENTED, 1);
    for (int i = 0; i < n; i++)
        hs_node_next(rt, node, FRAG_NEXT_REWRITE, out[i]);
    hs_buf_free(rt->bufs, &bi, 1);
}

static uint32_t ip4_frag_fn(hs_graph_rt_t *rt, hs_node_rt_t *node, const uint32_t *bis, uint32_t n)
{
    const hs_net_t *net = hs_ip4_net(rt);
    uint32_t out[FRAG_MAX_OUT];
    for (uint32_t i = 0; i < n; i++)
        frag_one(rt, node, net, bis[i], out);
    return n;
}

const hs_node_reg_t hs_ip4_frag_node = {
    .name = "ip4-frag",
    .fn = ip4_frag_fn,
    .type = HS_NODE_INTERNAL,
    .n_next = FRAG_N_NEXT,
    .next_nodes = ip4_frag_next,
    .n_errors = IP4_FRAG_N_ERRORS,
    .errors = ip4_frag_error_str,
    .format_trace = frag_format_trace,
};

/* ---- ip4-rewrite ---- */

#define IP4_REWRITE_ERRORS(_)                                                                      \
    _(ARP_HELD, "held while ARP resolves")                                                         \
    _(ARP_FULL, "ARP hold queue full")                                                             \
    _(ARP_FAILED, "ARP resolution refused")                                                        \
    _(NO_INTERFACE, "unknown transmit interface")                                                  \
    _(NO_HEADROOM, "no headroom for the Ethernet header")

enum {
#define _(sym, str) IP4_REWRITE_E_##sym,
    IP4_REWRITE_ERRORS(_)
#undef _
        IP4_REWRITE_N_ERRORS
};

static const char *const ip4_rewrite_error_str[] = {
#define _(sym, str) [IP4_REWRITE_E_##sym] = str,
    IP4_REWRITE_ERRORS(_)
#undef _
};

enum { REWRITE_NEXT_OUTPUT, REWRITE_N_NEXT };
static const char *const ip4_rewrite_next[] = {[REWRITE_NEXT_OUTPUT] = "interface-output"};

typedef struct {
    uint32_t sw_if_index, next_hop;
    uint8_t dst[6], src[6];
    uint16_t len;
} rewrite_trace_t;

static void rewrite_format_trace(char *out, size_t len, const void *data, uint32_t data_len)
{
    rewrite_trace_t t;
    memcpy(&t, data, HS_MIN(data_len, (uint32_t)sizeof(t)));
    char nh[16], d[HS_MAC_STR_LEN], s[HS_MAC_STR_LEN];
    snprintf(out, len, "if %u next hop %s: %s -> %s len %u", t.sw_if_index,
             hs_ip4_format_addr(nh, t.next_hop), hs_mac_format(s, t.src), hs_mac_format(d, t.dst),
             t.len);
}

static void rewrite_one(hs_graph_rt_t *rt, hs_node_rt_t *node, hs_net_worker_t *wk, uint32_t bi)
{
    hs_buf_t *b = hs_rt_buf(rt, bi);
    uint32_t sw = b->sw_if_index[HS_TX], nh = hs_ip4_meta(b)->next_hop;
    const hs_interface_t *ifc = hs_ip4_interface(wk->net, sw);
    if (!ifc) {
        hs_node_drop(rt, node, bi, IP4_REWRITE_E_NO_INTERFACE);
        return;
    }
    if ((b->flags & HS_BUF_F_L4_CSUM_TODO) && !ifc->tx_csum_offload)
        hs_ip4_l4_csum_fill(rt->bufs->pool, b);
    b->l3_offset = b->current_data;
    uint8_t mac[6];
    int rv = hs_arp_resolve(wk, sw, nh, mac, bi);
    if (rv == -EAGAIN) { /* ARP owns bi now: it comes back here once resolved */
        hs_node_count(node, IP4_REWRITE_E_ARP_HELD, 1);
        return;
    }
    if (rv < 0) {
        hs_node_drop(rt, node, bi,
                     rv == -ENOBUFS ? IP4_REWRITE_E_ARP_FULL : IP4_REWRITE_E_ARP_FAILED);
        return;
    }
    if (hs_eth_push(b, mac, ifc->mac, HS_ETHERTYPE_IP4) < 0) {
        hs_node_drop(rt, node, bi, IP4_REWRITE_E_NO_HEADROOM);
        return;
    }
    if (hs_unlikely(b->flags & HS_BUF_F_TRACED)) {
        rewrite_trace_t t = {.sw_if_index = sw, .next_hop = nh, .len = (uint16_t)hs_buf_length(b)};
        memcpy(t.dst, mac, 6);
        memcpy(t.src, ifc->mac, 6);
        hs_trace_add(rt, node, b, &t, sizeof(t));
    }
    hs_node_next(rt, node, REWRITE_NEXT_OUTPUT, bi);
}

static uint32_t ip4_rewrite_fn(hs_graph_rt_t *rt, hs_node_rt_t *node, const uint32_t *bis,
                               uint32_t n)
{
    hs_net_worker_t *wk = rt->user;
    for (uint32_t i = 0; i < n; i++)
        rewrite_one(rt, node, wk, bis[i]);
    return n;
}

const hs_node_reg_t hs_ip4_rewrite_node = {
    .name = "ip4-rewrite",
    .fn = ip4_rewrite_fn,
    .type = HS_NODE_INTERNAL,
    .n_next = REWRITE_N_NEXT,
    .next_nodes = ip4_rewrite_next,
    .n_errors = IP4_REWRITE_N_ERRORS,
    .errors = ip4_rewrite_error_str,
    .format_trace = rewrite_format_trace,
};
