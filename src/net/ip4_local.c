/* ip4-local: datagrams for us. Fragments go through reassembly (ip4_reass.c); whole
 * datagrams are handed on by protocol: ICMP to icmp4-input, TCP and UDP to tcp4-input and
 * udp4-input when a transport registered them. Without one, TCP is dropped ("no
 * transport"), UDP answered with port unreachable and any other protocol with protocol
 * unreachable (RFC 1122 3.2.2.1, 4.1.3.1). */
#include "net/ip4_internal.h"

#include <stdio.h>
#include <string.h>

#define IP4_LOCAL_ERRORS(_)                                                                        \
    _(FRAG_HELD, "fragments held for reassembly")                                                  \
    _(REASSEMBLED, "datagrams reassembled")                                                        \
    _(FRAG_DUP, "duplicate fragments ignored")                                                     \
    _(FRAG_OVERLAP, "overlapping fragment (datagram dropped)")                                     \
    _(FRAG_TOO_BIG, "reassembly over 64 KiB or too many fragments")                                \
    _(FRAG_BAD, "inconsistent fragment (datagram dropped)")                                        \
    _(FRAG_NO_ROOM, "reassembly memory exhausted (fragment dropped)")                              \
    _(NO_TRANSPORT, "no transport (TCP not enabled)")                                              \
    _(UDP_UNREACH, "no UDP listener (port unreachable)")                                           \
    _(PROTO_UNREACH, "unknown protocol (protocol unreachable)")

enum {
#define _(sym, str) IP4_LOCAL_E_##sym,
    IP4_LOCAL_ERRORS(_)
#undef _
        IP4_LOCAL_N_ERRORS
};

static const char *const ip4_local_error_str[] = {
#define _(sym, str) [IP4_LOCAL_E_##sym] = str,
    IP4_LOCAL_ERRORS(_)
#undef _
};

enum { IP4_LOCAL_NEXT_ICMP, IP4_LOCAL_N_NEXT };
static const char *const ip4_local_next[] = {[IP4_LOCAL_NEXT_ICMP] = "icmp4-input"};

typedef struct {
    uint8_t proto;
    uint8_t reass; /* TRACE_* */
    uint16_t len;
} ip4_local_trace_t;

static void ip4_local_format_trace(char *out, size_t len, const void *data, uint32_t data_len)
{
    static const char *const reass[] = {"", " fragment", " reassembled"};
    ip4_local_trace_t t;
    memcpy(&t, data, HS_MIN(data_len, (uint32_t)sizeof(t)));
    snprintf(out, len, "proto %u len %u%s", t.proto, t.len,
             t.reass < HS_ARRAY_LEN(reass) ? reass[t.reass] : "");
}

enum { TRACE_WHOLE, TRACE_FRAGMENT, TRACE_REASSEMBLED };

static void local_trace(hs_graph_rt_t *rt, hs_node_rt_t *node, hs_buf_t *b, uint8_t what)
{
    const hs_ip4_header_t *h = (const hs_ip4_header_t *)hs_buf_cur(b);
    ip4_local_trace_t t = {h->proto, what, (uint16_t)hs_buf_length(b)};
    hs_trace_add(rt, node, b, &t, sizeof(t));
}

static const uint16_t reass_counter[] = {
    [HS_IP4_REASS_HELD] = IP4_LOCAL_E_FRAG_HELD,
    [HS_IP4_REASS_DONE] = IP4_LOCAL_E_REASSEMBLED,
    [HS_IP4_REASS_DUPLICATE] = IP4_LOCAL_E_FRAG_DUP,
    [HS_IP4_REASS_OVERLAP] = IP4_LOCAL_E_FRAG_OVERLAP,
    [HS_IP4_REASS_TOO_BIG] = IP4_LOCAL_E_FRAG_TOO_BIG,
    [HS_IP4_REASS_BAD] = IP4_LOCAL_E_FRAG_BAD,
    [HS_IP4_REASS_NO_ROOM] = IP4_LOCAL_E_FRAG_NO_ROOM,
};

/* Passes fragment bi to reassembly; returns the whole datagram or HS_BUF_INVALID. */
static uint32_t reassemble(hs_graph_rt_t *rt, hs_node_rt_t *node, uint32_t bi)
{
    hs_buf_t *b = hs_rt_buf(rt, bi);
    if (hs_unlikely(b->flags & HS_BUF_F_TRACED)) /* before the buffer is held or freed */
        local_trace(rt, node, b, TRACE_FRAGMENT);
    uint32_t out = HS_BUF_INVALID;
    hs_ip4_reass_result_t res = hs_ip4_reass_add(&hs_ip4_wk(rt)->reass, rt->bufs, bi,
                                                 hs_ip4_meta(b)->fib_index, rt->now_ns, &out);
    hs_node_count(node, reass_counter[res], 1);
    if (res == HS_IP4_REASS_DONE && (hs_rt_buf(rt, out)->flags & HS_BUF_F_TRACED))
        local_trace(rt, node, hs_rt_buf(rt, out), TRACE_REASSEMBLED);
    return out;
}

static void ip4_local_one(hs_graph_rt_t *rt, hs_node_rt_t *node, const hs_ip4_main_t *im,
                          uint32_t bi)
{
    hs_buf_t *b = hs_rt_buf(rt, bi);
    const hs_ip4_header_t *h = (const hs_ip4_header_t *)hs_buf_cur(b);
    if (hs_ip4_is_fragment(h)) {
        if ((bi = reassemble(rt, node, bi)) == HS_BUF_INVALID)
            return;
        b = hs_rt_buf(rt, bi);
        h = (const hs_ip4_header_t *)hs_buf_cur(b);
    } else if (hs_unlikely(b->flags & HS_BUF_F_TRACED)) {
        local_trace(rt, node, b, TRACE_WHOLE);
    }
    b->l3_offset = b->current_data;
    b->l4_offset = (uint16_t)(b->current_data + hs_ip4_hdr_len(h));
    switch (h->proto) {
    case HS_IP_PROTO_ICMP:
        hs_node_next(rt, node, IP4_LOCAL_NEXT_ICMP, bi);
        return;
    case HS_IP_PROTO_TCP:
        if (im->tcp4_input >= 0)
            hs_graph_enqueue(rt, (uint32_t)im->tcp4_input, bi);
        else
            hs_node_drop(rt, node, bi, IP4_LOCAL_E_NO_TRANSPORT);
        return;
    case HS_IP_PROTO_UDP:
        if (im->udp4_input >= 0) {
            hs_graph_enqueue(rt, (uint32_t)im->udp4_input, bi);
            return;
        }
        hs_node_count(node, IP4_LOCAL_E_UDP_UNREACH, 1);
        hs_icmp4_send_error(rt, bi, HS_ICMP_DEST_UNREACH, HS_ICMP_UNREACH_PORT, 0);
        return;
    default:
        hs_node_count(node, IP4_LOCAL_E_PROTO_UNREACH, 1);
        hs_icmp4_send_error(rt, bi, HS_ICMP_DEST_UNREACH, HS_ICMP_UNREACH_PROTO, 0);
        return;
    }
}

static uint32_t ip4_local_fn(hs_graph_rt_t *rt, hs_node_rt_t *node, const uint32_t *bis, uint32_t n)
{
    const hs_ip4_main_t *im = hs_ip4_main(hs_ip4_net(rt));
    for (uint32_t i = 0; i < n; i++)
        ip4_local_one(rt, node, im, bis[i]);
    return n;
}

const hs_node_reg_t hs_ip4_local_node = {
    .name = "ip4-local",
    .fn = ip4_local_fn,
    .type = HS_NODE_INTERNAL,
    .n_next = IP4_LOCAL_N_NEXT,
    .next_nodes = ip4_local_next,
    .n_errors = IP4_LOCAL_N_ERRORS,
    .errors = ip4_local_error_str,
    .format_trace = ip4_local_format_trace,
};
