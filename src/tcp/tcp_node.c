/* tcp4-input: the packet door. Checks lengths and the checksum, parses the header once
 * into an hs_tcp_seg_t (payload spans point into the buffers), hands it to hs_tcp_rx, and
 * after the vector flushes the output of every connection it touched. Drops are counted by
 * reason (show errors). The node's per-worker hs_tcp_worker_t is its runtime ctx. */
#include "tcp/tcp_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/handoff.h"
#include "net/ip4.h"
#include "net/ip4_packet.h"

#define SCRATCH_SIZE (HS_IP4_MAX_LEN + 1)

typedef struct {
    uint32_t src, dst;
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint16_t wnd, len;
    uint8_t flags, error;
} tcp_trace_t;

static void tcp_format_trace(char *out, size_t len, const void *data, uint32_t data_len)
{
    tcp_trace_t t;
    memset(&t, 0, sizeof(t));
    memcpy(&t, data, HS_MIN(data_len, (uint32_t)sizeof(t)));
    char s[16], d[16], f[32];
    snprintf(out, len, "%s:%u -> %s:%u seq %u ack %u %s wnd %u len %u: %s",
             hs_ip4_format_addr(s, t.src), t.sport, hs_ip4_format_addr(d, t.dst), t.dport, t.seq,
             t.ack, hs_tcp_format_flags(f, t.flags), t.wnd, t.len,
             t.error < HS_TCP_N_ERRORS ? hs_tcp_error_str[t.error] : "?");
}

/* Appends the payload held by the buffers after b as spans. false when they are more than
 * the spans can hold (the caller copies the segment instead). */
static bool chain_spans(const hs_buf_pool_t *p, const hs_buf_t *b, hs_tcp_seg_t *seg, uint32_t rest)
{
    while (rest && (b->flags & HS_BUF_F_NEXT)) {
        b = hs_buf_ptr(p, b->next);
        uint32_t n = HS_MIN(rest, (uint32_t)b->current_length);
        if (!n)
            continue;
        if (seg->n_spans == HS_TCP_MAX_SPANS)
            return false;
        seg->spans[seg->n_spans++] = (hs_tcp_span_t){b->data + b->current_data, n};
        seg->payload_len += n;
        rest -= n;
    }
    return rest == 0;
}

/* A chained segment with its header split or too many pieces: one copy into scratch. */
static int parse_copied(hs_tcp_worker_t *tw, const hs_buf_pool_t *p, hs_buf_t *b, uint32_t ihl,
                        uint32_t l4_len, hs_tcp_seg_t *seg)
{
    if (!tw->scratch && !(tw->scratch = malloc(SCRATCH_SIZE)))
        return HS_TCP_E_TOO_FRAGMENTED;
    tw->stats[HS_TCP_S_SEGS_COPIED]++;
    uint32_t n = hs_buf_copy_out(p, b, tw->scratch, ihl + l4_len);
    if (n < ihl + l4_len)
        return HS_TCP_E_TOO_SHORT;
    return hs_tcp_parse(tw->scratch + ihl, l4_len, seg);
}

/* The IP and TCP headers of b into seg: lengths, addresses, checksum, then the parse. */
static int seg_from_buf(hs_tcp_worker_t *tw, const hs_buf_pool_t *p, hs_buf_t *b, hs_tcp_seg_t *seg)
{
    const hs_ip4_header_t *ih = (const hs_ip4_header_t *)hs_buf_cur(b);
    uint32_t ihl = hs_ip4_hdr_len(ih), total = ntohs(ih->total_len);
    if (total < ihl + HS_TCP_HDR_LEN || hs_buf_length(b) < total)
        return HS_TCP_E_TOO_SHORT;
    uint32_t l4_len = total - ihl;
    seg->src_ip = ntohl(ih->src);
    seg->dst_ip = ntohl(ih->dst);
    seg->fib_index = hs_ip4_meta(b)->fib_index;
    seg->sw_if_index = b->sw_if_index[HS_RX];
    /* RFC 1122 4.2.3.10: nothing for broadcast or multicast addresses. */
    if ((hs_ip4_meta(b)->flags & HS_IP4_META_BCAST) || hs_ip4_is_multicast(seg->dst_ip))
        return HS_TCP_E_BAD_ADDRESS;
    if (!hs_tcp_csum_ok(p, b, ihl, l4_len, seg->src_ip, seg->dst_ip))
        return HS_TCP_E_BAD_CHECKSUM;
    const uint8_t *hdr = hs_buf_cur(b) + ihl;
    uint32_t first = HS_MIN((uint32_t)b->current_length - ihl, l4_len);
    if (first == l4_len)
        return hs_tcp_parse(hdr, l4_len, seg);
    int rv = first >= HS_TCP_HDR_LEN ? hs_tcp_parse(hdr, first, seg) : HS_TCP_E_TOO_SHORT;
    if (rv == HS_TCP_E_NONE && chain_spans(p, b, seg, l4_len - first))
        return rv;
    return parse_copied(tw, p, b, ihl, l4_len, seg);
}

static void trace(hs_graph_rt_t *rt, hs_node_rt_t *node, hs_buf_t *b, const hs_tcp_seg_t *seg,
                  int rv)
{
    tcp_trace_t t = {seg->src_ip, seg->dst_ip, seg->src_port, seg->dst_port,
                     seg->seq,    seg->ack,    seg->wnd,      (uint16_t)seg->payload_len,
                     seg->flags,  (uint8_t)rv};
    hs_trace_add(rt, node, b, &t, sizeof(t));
}

/* The worker owning b's flow (net/handoff.h); this one when the packet is too short to
 * hold the ports (it is then dropped as malformed here). */
static uint32_t owner_of(const hs_net_worker_t *nw, const hs_buf_pool_t *p, hs_buf_t *b,
                         tcp_trace_t *t)
{
    const hs_ip4_header_t *ih = (const hs_ip4_header_t *)hs_buf_cur(b);
    uint32_t ihl = hs_ip4_hdr_len(ih);
    uint8_t copy[HS_IP4_HDR_MAX + 4];
    const uint8_t *th = hs_buf_cur(b) + ihl;
    if (hs_unlikely(b->current_length < ihl + 4)) { /* headers split over buffers */
        if (hs_buf_copy_out(p, b, copy, ihl + 4) < ihl + 4)
            return nw->index;
        th = copy + ihl;
    }
    *t = (tcp_trace_t){.src = ntohl(ih->src),
                       .dst = ntohl(ih->dst),
                       .sport = (uint16_t)(th[0] << 8 | th[1]),
                       .dport = (uint16_t)(th[2] << 8 | th[3]),
                       .error = HS_TCP_E_HANDOFF};
    return hs_net_flow_worker(nw->net, HS_IP_PROTO_TCP, t->dst, t->dport, t->src, t->sport);
}

/* Sends the buffers of other workers' flows to their owners, one batch per worker; what a
 * full ring refuses is dropped and counted. */
static void hand_off(hs_graph_rt_t *rt, hs_node_rt_t *node, hs_tcp_worker_t *tw,
                     const uint32_t *bis, const uint32_t *owner, uint32_t n)
{
    uint32_t batch[HS_FRAME_SIZE];
    for (uint32_t to = 0; to < tw->nw->net->n_workers; to++) {
        uint32_t k = 0;
        for (uint32_t i = 0; i < n; i++)
            if (owner[i] == to)
                batch[k++] = bis[i];
        if (!k)
            continue;
        uint32_t sent = hs_handoff_send(tw->nw, to, node->node->index, batch, k);
        hs_node_count(node, HS_TCP_E_HANDOFF, sent);
        for (uint32_t i = sent; i < k; i++) {
            tw->drops[HS_TCP_E_HANDOFF_FULL]++;
            hs_node_drop(rt, node, batch[i], HS_TCP_E_HANDOFF_FULL);
        }
    }
}

static uint32_t tcp4_input_fn(hs_graph_rt_t *rt, hs_node_rt_t *node, const uint32_t *bis,
                              uint32_t n)
{
    hs_tcp_worker_t *tw = node->ctx;
    uint32_t done[HS_FRAME_SIZE], n_done = 0;
    if (hs_unlikely(!tw)) { /* TCP not attached to this worker */
        for (uint32_t i = 0; i < n; i++)
            hs_node_drop(rt, node, bis[i], HS_TCP_E_NO_LISTENER);
        return n;
    }
    uint64_t now = HS_MAX(rt->now_ns, tw->now_ns);
    uint32_t away[HS_FRAME_SIZE], away_owner[HS_FRAME_SIZE], n_away = 0;
    bool several = tw->nw->net->n_workers > 1;
    tw->in_node = true;
    for (uint32_t i = 0; i < n; i++) {
        hs_buf_t *b = hs_rt_buf(rt, bis[i]);
        if (several) {
            tcp_trace_t t;
            uint32_t owner = owner_of(tw->nw, rt->bufs->pool, b, &t);
            if (owner != tw->nw->index) {
                if (hs_unlikely(b->flags & HS_BUF_F_TRACED))
                    hs_trace_add(rt, node, b, &t, sizeof(t));
                away_owner[n_away] = owner;
                away[n_away++] = bis[i];
                continue;
            }
        }
        hs_tcp_seg_t seg;
        seg.payload_len = 0;
        int rv = seg_from_buf(tw, rt->bufs->pool, b, &seg);
        if (rv == HS_TCP_E_NONE)
            rv = hs_tcp_rx(tw, &seg, now);
        else
            tw->drops[rv]++;
        if (hs_unlikely(b->flags & HS_BUF_F_TRACED))
            trace(rt, node, b, &seg, rv);
        if (rv == HS_TCP_E_NONE) {
            hs_node_count(node, HS_TCP_E_NONE, 1);
            done[n_done++] = bis[i];
        } else {
            hs_node_drop(rt, node, bis[i], (uint16_t)rv);
        }
    }
    hs_buf_free(rt->bufs, done, n_done);
    if (n_away)
        hand_off(rt, node, tw, away, away_owner, n_away);
    hs_tcp_flush(tw);
    tw->in_node = false;
    return n;
}

static const hs_node_reg_t tcp4_input_reg = {
    .name = "tcp4-input",
    .fn = tcp4_input_fn,
    .type = HS_NODE_INTERNAL,
    .n_errors = HS_TCP_N_ERRORS,
    .errors = hs_tcp_error_str,
    .format_trace = tcp_format_trace,
};

int hs_tcp_register_nodes(hs_net_t *net, void *ctx)
{
    (void)ctx;
    int rv = hs_graph_add_node(&net->graph, &tcp4_input_reg);
    return rv < 0 ? rv : 0;
}

int hs_tcp_node_index(const hs_net_t *net)
{
    return hs_graph_node_index(&net->graph, tcp4_input_reg.name);
}

int hs_tcp_attach_workers(hs_net_t *net, hs_tcp_worker_t *const *tws)
{
    int ni = hs_tcp_node_index(net);
    if (ni < 0)
        return ni;
    for (uint32_t w = 0; w < net->n_workers; w++)
        net->workers[w].rt.nodes[ni].ctx = tws[w];
    return 0;
}
