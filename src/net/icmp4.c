/* ICMP for IPv4 (RFC 792, RFC 1122 3.2.2): the icmp4-input node (echo replies built in
 * place, other messages counted) and ICMP errors about received datagrams, built in new
 * buffers and rate-limited per worker. */
#include "net/checksum.h"
#include "net/ip4_internal.h"

#include <stdio.h>
#include <string.h>

/* ---- errors ---- */

static bool icmp_type_is_error(uint8_t type)
{
    return type == HS_ICMP_DEST_UNREACH || type == HS_ICMP_SOURCE_QUENCH ||
           type == HS_ICMP_REDIRECT || type == HS_ICMP_TIME_EXCEEDED ||
           type == HS_ICMP_PARAM_PROBLEM;
}

bool hs_icmp4_error_allowed(const hs_buf_pool_t *p, hs_buf_t *b)
{
    const hs_ip4_header_t *h = (const hs_ip4_header_t *)hs_buf_cur(b);
    uint32_t src = ntohl(h->src), dst = ntohl(h->dst);
    /* RFC 1122 3.2.2: never about a non-initial fragment, a broadcast or multicast
     * datagram, a source that does not name one host, or an ICMP error. */
    if (ntohs(h->frag) & HS_IP4_OFF_MASK)
        return false;
    if (dst == HS_IP4_BROADCAST || hs_ip4_is_multicast(dst) ||
        (hs_ip4_meta(b)->flags & HS_IP4_META_BCAST))
        return false;
    if (src == 0 || hs_ip4_is_martian_src(src))
        return false;
    if (h->proto == HS_IP_PROTO_ICMP) {
        uint8_t type;
        hs_buf_cursor_t cur;
        hs_buf_cursor_init(&cur, p, b, hs_ip4_hdr_len(h));
        if (cur.off >= cur.b->current_length)
            return false; /* no ICMP header to look at: be safe */
        type = hs_buf_cur(cur.b)[cur.off];
        if (icmp_type_is_error(type))
            return false;
    }
    return true;
}

uint32_t hs_icmp4_build_error(hs_buf_cache_t *c, hs_buf_t *b, uint32_t src, uint8_t type,
                              uint8_t code, uint32_t info, uint16_t id)
{
    uint32_t nbi;
    if (hs_buf_alloc(c, &nbi, 1) != 1)
        return HS_BUF_INVALID;
    hs_buf_t *nb = hs_buf_ptr(c->pool, nbi);
    const hs_ip4_header_t *orig = (const hs_ip4_header_t *)hs_buf_cur(b);
    const uint32_t head = HS_IP4_HDR_LEN + sizeof(hs_icmp4_header_t);
    uint32_t quote = HS_MIN(hs_buf_length(b), HS_ICMP4_ERR_MAX_LEN - head);
    uint8_t *p = hs_buf_cur(nb);
    /* Internetwork-control precedence, as routers and Linux use for ICMP errors. */
    hs_ip4_header_build((hs_ip4_header_t *)p, src, ntohl(orig->src), HS_IP_PROTO_ICMP,
                        (uint16_t)(head + quote), id, 0xc0, HS_IP4_DEFAULT_TTL);
    hs_icmp4_header_t *ic = (hs_icmp4_header_t *)(p + HS_IP4_HDR_LEN);
    *ic = (hs_icmp4_header_t){.type = type, .code = code, .csum = 0, .rest = htonl(info)};
    hs_buf_copy_out(c->pool, b, p + head, quote);
    ic->csum = hs_csum(ic, sizeof(*ic) + quote);
    nb->current_length = (uint16_t)(head + quote);
    nb->flags |= HS_BUF_F_LOCALLY_MADE | (b->flags & HS_BUF_F_TRACED);
    nb->trace_index = b->trace_index;
    nb->sw_if_index[HS_RX] = b->sw_if_index[HS_RX];
    nb->l3_offset = nb->current_data;
    *hs_ip4_meta(nb) = (hs_ip4_buf_meta_t){.fib_index = hs_ip4_meta(b)->fib_index};
    return nbi;
}

/* GCRA: at most HS_ICMP4_ERR_RATE per second with bursts of HS_ICMP4_ERR_BURST. */
static bool rate_allows(hs_ip4_worker_t *w, uint64_t now_ns)
{
    const uint64_t interval = 1000000000ull / HS_ICMP4_ERR_RATE;
    uint64_t tat = HS_MAX(w->icmp_tat_ns, now_ns);
    if (tat - now_ns > (HS_ICMP4_ERR_BURST - 1) * interval)
        return false;
    w->icmp_tat_ns = tat + interval;
    return true;
}

void hs_icmp4_send_error(hs_graph_rt_t *rt, uint32_t bi, uint8_t type, uint8_t code, uint32_t info)
{
    hs_net_t *net = hs_ip4_net(rt);
    hs_ip4_worker_t *w = hs_ip4_wk(rt);
    hs_buf_t *b = hs_rt_buf(rt, bi);
    uint32_t src, nbi = HS_BUF_INVALID;
    if (!hs_icmp4_error_allowed(rt->bufs->pool, b)) {
        w->stats.icmp_suppressed++;
    } else if (!rate_allows(w, rt->now_ns)) {
        w->stats.icmp_rate_limited++;
    } else if (!hs_ip4_interface_source(net, b->sw_if_index[HS_RX],
                                        ntohl(((hs_ip4_header_t *)hs_buf_cur(b))->src), &src) ||
               (nbi = hs_icmp4_build_error(rt->bufs, b, src, type, code, info, w->next_id++)) ==
                   HS_BUF_INVALID) {
        w->stats.icmp_no_buffer++;
    } else {
        w->stats.icmp_sent++;
        hs_graph_enqueue(rt, net->nodes.ip4_lookup, nbi);
    }
    hs_buf_free(rt->bufs, &bi, 1);
}

/* ---- icmp4-input ---- */

#define ICMP4_INPUT_ERRORS(_)                                                                      \
    _(ECHO_REQUEST, "echo requests answered")                                                      \
    _(ECHO_REPLY, "echo replies received")                                                         \
    _(UNREACH, "destination unreachable received")                                                 \
    _(TIME_EXCEEDED, "time exceeded received")                                                     \
    _(OTHER, "other ICMP types received")                                                          \
    _(BCAST_ECHO, "echo request to a broadcast address ignored")                                   \
    _(TOO_SHORT, "ICMP message too short")                                                         \
    _(BAD_CHECKSUM, "bad ICMP checksum")

enum {
#define _(sym, str) ICMP4_E_##sym,
    ICMP4_INPUT_ERRORS(_)
#undef _
        ICMP4_N_ERRORS
};

static const char *const icmp4_error_str[] = {
#define _(sym, str) [ICMP4_E_##sym] = str,
    ICMP4_INPUT_ERRORS(_)
#undef _
};

enum { ICMP4_NEXT_LOOKUP, ICMP4_N_NEXT };
static const char *const icmp4_next[] = {[ICMP4_NEXT_LOOKUP] = "ip4-lookup"};

typedef struct {
    uint32_t src, dst;
    uint8_t type, code;
    uint16_t id, seq; /* echo only */
    uint16_t len;
} icmp4_trace_t;

static void icmp4_format_trace(char *out, size_t len, const void *data, uint32_t data_len)
{
    icmp4_trace_t t;
    memcpy(&t, data, HS_MIN(data_len, (uint32_t)sizeof(t)));
    char s[16], d[16];
    snprintf(out, len, "ICMP %s -> %s type %u code %u id %u seq %u len %u",
             hs_ip4_format_addr(s, t.src), hs_ip4_format_addr(d, t.dst), t.type, t.code, t.id,
             t.seq, t.len);
}

/* Turns the echo request b (ICMP at hlen, icmp_len bytes) into its reply, in place: the
 * type changes (checksum updated incrementally, RFC 1624) and a fresh 20-byte header
 * replaces the old one and its options. */
static void echo_reply_in_place(hs_ip4_worker_t *w, hs_buf_t *b, uint32_t hlen, uint32_t icmp_len)
{
    hs_ip4_header_t *h = (hs_ip4_header_t *)hs_buf_cur(b);
    uint32_t us = ntohl(h->dst), peer = ntohl(h->src);
    uint8_t tos = h->tos;
    hs_icmp4_header_t *ic = (hs_icmp4_header_t *)(hs_buf_cur(b) + hlen);
    uint16_t old_w, new_w;
    memcpy(&old_w, ic, 2);
    ic->type = HS_ICMP_ECHO_REPLY;
    memcpy(&new_w, ic, 2);
    ic->csum = hs_csum_update16(ic->csum, old_w, new_w);
    hs_buf_advance(b, (int)(hlen - HS_IP4_HDR_LEN));
    hs_ip4_header_build((hs_ip4_header_t *)hs_buf_cur(b), us, peer, HS_IP_PROTO_ICMP,
                        (uint16_t)(HS_IP4_HDR_LEN + icmp_len), w->next_id++, tos,
                        HS_IP4_DEFAULT_TTL);
    b->flags = (b->flags & (HS_BUF_F_NEXT | HS_BUF_F_TRACED)) | HS_BUF_F_LOCALLY_MADE;
    b->sw_if_index[HS_TX] = UINT32_MAX;
    b->l3_offset = b->current_data;
    b->l4_offset = (uint16_t)(b->current_data + HS_IP4_HDR_LEN);
    hs_ip4_meta(b)->flags = 0;
}

static int icmp4_error_code(uint8_t type)
{
    switch (type) {
    case HS_ICMP_ECHO_REPLY:
        return ICMP4_E_ECHO_REPLY;
    case HS_ICMP_DEST_UNREACH:
        return ICMP4_E_UNREACH;
    case HS_ICMP_TIME_EXCEEDED:
        return ICMP4_E_TIME_EXCEEDED;
    default:
        return ICMP4_E_OTHER;
    }
}

static void icmp4_one(hs_graph_rt_t *rt, hs_node_rt_t *node, uint32_t bi)
{
    hs_buf_t *b = hs_rt_buf(rt, bi);
    const hs_ip4_header_t *h = (const hs_ip4_header_t *)hs_buf_cur(b);
    uint32_t hlen = hs_ip4_hdr_len(h), icmp_len = hs_buf_length(b) - hlen;
    if (icmp_len < sizeof(hs_icmp4_header_t) ||
        b->current_length < hlen + sizeof(hs_icmp4_header_t)) {
        hs_node_drop(rt, node, bi, ICMP4_E_TOO_SHORT);
        return;
    }
    if (!(b->flags & HS_BUF_F_L4_CSUM_OK) &&
        hs_csum_fold(hs_csum_chain(rt->bufs->pool, b, hlen, icmp_len, 0)) != 0xffff) {
        hs_node_drop(rt, node, bi, ICMP4_E_BAD_CHECKSUM);
        return;
    }
    const hs_icmp4_header_t *ic = (const hs_icmp4_header_t *)(hs_buf_cur(b) + hlen);
    if (hs_unlikely(b->flags & HS_BUF_F_TRACED)) {
        icmp4_trace_t t = {ntohl(h->src),
                           ntohl(h->dst),
                           ic->type,
                           ic->code,
                           (uint16_t)(ntohl(ic->rest) >> 16),
                           (uint16_t)ntohl(ic->rest),
                           (uint16_t)icmp_len};
        hs_trace_add(rt, node, b, &t, sizeof(t));
    }
    if (ic->type != HS_ICMP_ECHO_REQUEST) {
        hs_node_drop(rt, node, bi, (uint16_t)icmp4_error_code(ic->type));
        return;
    }
    /* RFC 1122 3.2.2.6: an echo to a broadcast address may be ignored; like Linux we do. */
    if (hs_ip4_meta(b)->flags & HS_IP4_META_BCAST) {
        hs_node_drop(rt, node, bi, ICMP4_E_BCAST_ECHO);
        return;
    }
    echo_reply_in_place(hs_ip4_wk(rt), b, hlen, icmp_len);
    hs_node_count(node, ICMP4_E_ECHO_REQUEST, 1);
    hs_node_next(rt, node, ICMP4_NEXT_LOOKUP, bi);
}

static uint32_t icmp4_input_fn(hs_graph_rt_t *rt, hs_node_rt_t *node, const uint32_t *bis,
                               uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        icmp4_one(rt, node, bis[i]);
    return n;
}

const hs_node_reg_t hs_icmp4_input_node = {
    .name = "icmp4-input",
    .fn = icmp4_input_fn,
    .type = HS_NODE_INTERNAL,
    .n_next = ICMP4_N_NEXT,
    .next_nodes = icmp4_next,
    .n_errors = ICMP4_N_ERRORS,
    .errors = icmp4_error_str,
    .format_trace = icmp4_format_trace,
};
