/* ip4-input: validates every received IPv4 header at the door (ip4_packet.c), trims link
 * padding, and hands datagrams for one of our addresses or a broadcast to ip4-local. We
 * are a host: anything else is dropped, never forwarded. */
#include "net/ip4_internal.h"

#include <stdio.h>
#include <string.h>

/* The parser's reasons come first (same codes), then the node's own. */
#define IP4_INPUT_ERRORS(_)                                                                        \
    _(NOT_FOR_US, "not for us (we do not forward)")                                                \
    _(NO_INTERFACE, "unknown receive interface")

enum {
    IP4_INPUT_E_FIRST = HS_IP4_N_PARSE_ERRORS - 1,
#define _(sym, str) IP4_INPUT_E_##sym,
    IP4_INPUT_ERRORS(_)
#undef _
        IP4_INPUT_N_ERRORS
};

static const char *const ip4_input_error_str[IP4_INPUT_N_ERRORS] = {
#define _(sym, str) [HS_IP4_E_##sym] = str,
    HS_IP4_PARSE_ERRORS(_)
#undef _
#define _(sym, str) [IP4_INPUT_E_##sym] = str,
        IP4_INPUT_ERRORS(_)
#undef _
};

enum { IP4_INPUT_NEXT_LOCAL, IP4_INPUT_N_NEXT };
static const char *const ip4_input_next[] = {[IP4_INPUT_NEXT_LOCAL] = "ip4-local"};

typedef struct {
    uint32_t src, dst;
    uint16_t len, id, frag;
    uint8_t ttl, proto;
    uint32_t fib_index;
} ip4_trace_t;

/* Shared by the IPv4 nodes whose record is an ip4_trace_t. */
static void ip4_format_trace(char *out, size_t len, const void *data, uint32_t data_len)
{
    ip4_trace_t t;
    memcpy(&t, data, HS_MIN(data_len, (uint32_t)sizeof(t)));
    char s[16], d[16];
    snprintf(out, len, "IPv4 %s -> %s proto %u len %u ttl %u id %u frag 0x%04x fib %u",
             hs_ip4_format_addr(s, t.src), hs_ip4_format_addr(d, t.dst), t.proto, t.len, t.ttl,
             t.id, t.frag, t.fib_index);
}

static void ip4_input_trace(hs_graph_rt_t *rt, hs_node_rt_t *node, hs_buf_t *b)
{
    uint32_t have = b->current_length;
    if (have < HS_IP4_HDR_LEN) {
        hs_trace_add(rt, node, b, hs_buf_cur(b), have);
        return;
    }
    const hs_ip4_header_t *h = (const hs_ip4_header_t *)hs_buf_cur(b);
    ip4_trace_t t = {
        ntohl(h->src), ntohl(h->dst), ntohs(h->total_len),      ntohs(h->id), ntohs(h->frag),
        h->ttl,        h->proto,      hs_ip4_meta(b)->fib_index};
    hs_trace_add(rt, node, b, &t, sizeof(t));
}

/* Whether dst is ours in the table: a local address, the directed broadcast of one of our
 * subnets, or the limited broadcast. */
static bool for_us(const hs_fib_main_t *fm, hs_buf_t *b, uint32_t dst)
{
    if (dst == HS_IP4_BROADCAST) {
        hs_ip4_meta(b)->flags |= HS_IP4_META_BCAST;
        return true;
    }
    const hs_fib_route_t *r = hs_fib_main_lookup(fm, hs_ip4_meta(b)->fib_index, dst);
    if (!r || r->len != 32)
        return false;
    if (r->type == HS_FIB_BROADCAST)
        hs_ip4_meta(b)->flags |= HS_IP4_META_BCAST;
    return r->type == HS_FIB_LOCAL || r->type == HS_FIB_BROADCAST;
}

static void ip4_input_one(hs_graph_rt_t *rt, hs_node_rt_t *node, const hs_net_t *net, uint32_t bi)
{
    hs_buf_t *b = hs_rt_buf(rt, bi);
    const hs_interface_t *ifc = hs_ip4_interface(net, b->sw_if_index[HS_RX]);
    *hs_ip4_meta(b) = (hs_ip4_buf_meta_t){.fib_index = ifc ? ifc->fib_index : 0};
    if (hs_unlikely(b->flags & HS_BUF_F_TRACED))
        ip4_input_trace(rt, node, b);
    if (hs_unlikely(!ifc)) {
        hs_node_drop(rt, node, bi, IP4_INPUT_E_NO_INTERFACE);
        return;
    }
    hs_ip4_parsed_t ip;
    uint32_t present = hs_buf_length(b);
    hs_ip4_error_t e = hs_ip4_parse(hs_buf_cur(b), b->current_length, present, &ip);
    if (hs_unlikely(e != HS_IP4_E_NONE)) {
        hs_node_drop(rt, node, bi, (uint16_t)e);
        return;
    }
    if (ip.total_len < present) /* Ethernet pads short frames to 60 bytes */
        hs_ip4_chain_trim(rt->bufs, b, ip.total_len);
    if (!for_us(&hs_ip4_main(net)->fib, b, ip.dst)) {
        hs_node_drop(rt, node, bi, IP4_INPUT_E_NOT_FOR_US);
        return;
    }
    b->l3_offset = b->current_data;
    hs_node_next(rt, node, IP4_INPUT_NEXT_LOCAL, bi);
}

static uint32_t ip4_input_fn(hs_graph_rt_t *rt, hs_node_rt_t *node, const uint32_t *bis, uint32_t n)
{
    const hs_net_t *net = hs_ip4_net(rt);
    for (uint32_t i = 0; i < n; i++)
        ip4_input_one(rt, node, net, bis[i]);
    return n;
}

const hs_node_reg_t hs_ip4_input_node = {
    .name = "ip4-input",
    .fn = ip4_input_fn,
    .type = HS_NODE_INTERNAL,
    .n_next = IP4_INPUT_N_NEXT,
    .next_nodes = ip4_input_next,
    .n_errors = IP4_INPUT_N_ERRORS,
    .errors = ip4_input_error_str,
    .format_trace = ip4_format_trace,
};
