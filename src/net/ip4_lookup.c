/* ip4-lookup: routes datagrams we send (replies, ICMP errors, transport output) by
 * longest-prefix match in the packet's table: picks the next hop and the interface, then
 * ip4-frag when the datagram exceeds the interface MTU, else ip4-rewrite. A datagram for
 * one of our own addresses loops back to ip4-local. */
#include "net/ip4_internal.h"

#include <stdio.h>
#include <string.h>

#define IP4_LOOKUP_ERRORS(_)                                                                       \
    _(NO_ROUTE, "no route")                                                                        \
    _(BLACKHOLE, "drop route")                                                                     \
    _(BROADCAST, "broadcast destination not sent")                                                 \
    _(NO_INTERFACE, "route through a deleted interface")

enum {
#define _(sym, str) IP4_LOOKUP_E_##sym,
    IP4_LOOKUP_ERRORS(_)
#undef _
        IP4_LOOKUP_N_ERRORS
};

static const char *const ip4_lookup_error_str[] = {
#define _(sym, str) [IP4_LOOKUP_E_##sym] = str,
    IP4_LOOKUP_ERRORS(_)
#undef _
};

enum { LOOKUP_NEXT_REWRITE, LOOKUP_NEXT_FRAG, LOOKUP_NEXT_LOCAL, LOOKUP_N_NEXT };
static const char *const ip4_lookup_next[] = {
    [LOOKUP_NEXT_REWRITE] = "ip4-rewrite",
    [LOOKUP_NEXT_FRAG] = "ip4-frag",
    [LOOKUP_NEXT_LOCAL] = "ip4-local",
};

typedef struct {
    uint32_t dst, next_hop, sw_if_index, fib_index;
    uint16_t len, mtu;
    uint8_t type;
} lookup_trace_t;

static void lookup_format_trace(char *out, size_t len, const void *data, uint32_t data_len)
{
    lookup_trace_t t;
    memcpy(&t, data, HS_MIN(data_len, (uint32_t)sizeof(t)));
    char d[16], nh[16];
    snprintf(out, len, "fib %u %s -> %s via %s if %u len %u mtu %u", t.fib_index,
             hs_ip4_format_addr(d, t.dst), hs_fib_type_name((hs_fib_type_t)t.type),
             hs_ip4_format_addr(nh, t.next_hop), t.sw_if_index, t.len, t.mtu);
}

/* Resolves the route for dst into (next hop, interface). Returns -1 (dropped, code in
 * *err) or the next slot. */
static int route(const hs_fib_main_t *fm, uint32_t fib, uint32_t dst, uint32_t *nh, uint32_t *sw,
                 uint8_t *type, uint16_t *err)
{
    const hs_fib_route_t *r = hs_fib_main_lookup(fm, fib, dst);
    *type = r ? r->type : HS_FIB_DROP;
    if (!r) {
        *err = IP4_LOOKUP_E_NO_ROUTE;
        return -1;
    }
    switch (r->type) {
    case HS_FIB_LOCAL:
        *sw = r->sw_if_index;
        *nh = dst;
        return LOOKUP_NEXT_LOCAL;
    case HS_FIB_CONNECTED:
        *sw = r->sw_if_index;
        *nh = dst;
        return LOOKUP_NEXT_REWRITE;
    case HS_FIB_VIA:
        *nh = r->next_hop;
        *sw = r->sw_if_index;
        if (*sw == UINT32_MAX) { /* recursive: the gateway must be on a connected subnet */
            const hs_fib_route_t *g = hs_fib_main_lookup(fm, fib, r->next_hop);
            if (!g || g->type != HS_FIB_CONNECTED) {
                *err = IP4_LOOKUP_E_NO_ROUTE;
                return -1;
            }
            *sw = g->sw_if_index;
        }
        return LOOKUP_NEXT_REWRITE;
    case HS_FIB_BROADCAST:
        *err = IP4_LOOKUP_E_BROADCAST;
        return -1;
    default:
        *err = IP4_LOOKUP_E_BLACKHOLE;
        return -1;
    }
}

static void lookup_one(hs_graph_rt_t *rt, hs_node_rt_t *node, const hs_net_t *net, uint32_t bi)
{
    hs_buf_t *b = hs_rt_buf(rt, bi);
    hs_ip4_buf_meta_t *m = hs_ip4_meta(b);
    uint32_t dst = ntohl(((const hs_ip4_header_t *)hs_buf_cur(b))->dst);
    uint32_t nh = 0, sw = UINT32_MAX, len = hs_buf_length(b), mtu = 0;
    uint8_t type;
    uint16_t err = 0;
    int next = route(&hs_ip4_main(net)->fib, m->fib_index, dst, &nh, &sw, &type, &err);
    const hs_interface_t *ifc = next >= 0 ? hs_ip4_interface(net, sw) : NULL;
    if (next >= 0 && !ifc) {
        next = -1;
        err = IP4_LOOKUP_E_NO_INTERFACE;
    }
    if (ifc) {
        mtu = ifc->mtu ? ifc->mtu : HS_IF_DEFAULT_MTU;
        if (next == LOOKUP_NEXT_REWRITE && len > mtu)
            next = LOOKUP_NEXT_FRAG;
    }
    if (hs_unlikely(b->flags & HS_BUF_F_TRACED)) {
        lookup_trace_t t = {dst, nh, sw, m->fib_index, (uint16_t)len, (uint16_t)mtu, type};
        hs_trace_add(rt, node, b, &t, sizeof(t));
    }
    if (next < 0) {
        hs_node_drop(rt, node, bi, err);
        return;
    }
    m->next_hop = nh;
    b->sw_if_index[HS_TX] = sw;
    if (next == LOOKUP_NEXT_LOCAL) { /* to ourselves: received on the owning interface */
        b->sw_if_index[HS_RX] = sw;
        m->flags = 0;
    }
    hs_node_next(rt, node, (uint16_t)next, bi);
}

static uint32_t ip4_lookup_fn(hs_graph_rt_t *rt, hs_node_rt_t *node, const uint32_t *bis,
                              uint32_t n)
{
    const hs_net_t *net = hs_ip4_net(rt);
    for (uint32_t i = 0; i < n; i++)
        lookup_one(rt, node, net, bis[i]);
    return n;
}

const hs_node_reg_t hs_ip4_lookup_node = {
    .name = "ip4-lookup",
    .fn = ip4_lookup_fn,
    .type = HS_NODE_INTERNAL,
    .n_next = LOOKUP_N_NEXT,
    .next_nodes = ip4_lookup_next,
    .n_errors = IP4_LOOKUP_N_ERRORS,
    .errors = ip4_lookup_error_str,
    .format_trace = lookup_format_trace,
};
