/* Node graph: registration, next-node resolution, per-worker dispatch, drops and traces. */
#include "net/graph.h"
#include "infra/clock.h"
#include "infra/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hs_graph_init(hs_graph_t *g)
{
    hs_vec_init(&g->nodes, sizeof(hs_node_t));
    g->finalized = false;
}

void hs_graph_destroy(hs_graph_t *g)
{
    hs_vec_free(&g->nodes);
}

int hs_graph_node_index(const hs_graph_t *g, const char *name)
{
    for (uint32_t i = 0; i < g->nodes.len; i++)
        if (strcmp(hs_graph_node(g, i)->reg->name, name) == 0)
            return (int)i;
    return -ENOENT;
}

int hs_graph_add_node(hs_graph_t *g, const hs_node_reg_t *reg)
{
    if (g->finalized || !reg->name || !reg->fn || reg->n_next > HS_NODE_MAX_NEXT)
        return -EINVAL;
    if (hs_graph_node_index(g, reg->name) >= 0)
        return -EEXIST;
    hs_node_t *n = hs_vec_push(&g->nodes, NULL);
    if (!n)
        return -ENOMEM;
    n->reg = reg;
    n->index = g->nodes.len - 1;
    return (int)n->index;
}

int hs_graph_finalize(hs_graph_t *g)
{
    for (uint32_t i = 0; i < g->nodes.len; i++) {
        hs_node_t *n = hs_vec_at(&g->nodes, i);
        for (uint16_t s = 0; s < n->reg->n_next; s++) {
            int ni = hs_graph_node_index(g, n->reg->next_nodes[s]);
            if (ni < 0) {
                HS_LOG_ERR("graph", "node %s: next node '%s' is not registered", n->reg->name,
                           n->reg->next_nodes[s]);
                return -ENOENT;
            }
            n->next_index[s] = (uint32_t)ni;
        }
    }
    g->finalized = true;
    return 0;
}

int hs_graph_rt_init(hs_graph_rt_t *rt, hs_graph_t *g, hs_buf_cache_t *bufs, void *user)
{
    memset(rt, 0, sizeof(*rt));
    rt->graph = g;
    rt->bufs = bufs;
    rt->user = user;
    rt->n_nodes = g->nodes.len;
    rt->nodes = calloc(rt->n_nodes, sizeof(*rt->nodes));
    if (!rt->nodes)
        return -ENOMEM;
    hs_vec_init(&rt->run_list, sizeof(uint32_t));
    hs_vec_init(&rt->frame, sizeof(uint32_t));
    hs_vec_init(&rt->to_free, sizeof(uint32_t));
    hs_vec_init(&rt->trace, sizeof(hs_trace_rec_t));
    for (uint32_t i = 0; i < rt->n_nodes; i++) {
        hs_node_rt_t *nr = &rt->nodes[i];
        nr->node = hs_graph_node(g, i);
        hs_vec_init(&nr->pending, sizeof(uint32_t));
        nr->errors = calloc(HS_MAX(nr->node->reg->n_errors, 1), sizeof(uint64_t));
        if (!nr->errors || hs_vec_reserve(&nr->pending, HS_FRAME_SIZE) < 0) {
            hs_graph_rt_destroy(rt);
            return -ENOMEM;
        }
    }
    return 0;
}

void hs_graph_rt_destroy(hs_graph_rt_t *rt)
{
    for (uint32_t i = 0; rt->nodes && i < rt->n_nodes; i++) {
        hs_node_rt_t *nr = &rt->nodes[i];
        if (rt->bufs && nr->pending.len)
            hs_buf_free(rt->bufs, nr->pending.data, nr->pending.len);
        hs_vec_free(&nr->pending);
        free(nr->errors);
    }
    if (rt->bufs && rt->to_free.len)
        hs_buf_free(rt->bufs, rt->to_free.data, rt->to_free.len);
    free(rt->nodes);
    hs_vec_free(&rt->run_list);
    hs_vec_free(&rt->frame);
    hs_vec_free(&rt->to_free);
    hs_vec_free(&rt->trace);
    rt->nodes = NULL;
}

void hs_graph_enqueue(hs_graph_rt_t *rt, uint32_t node_index, uint32_t bi)
{
    hs_node_rt_t *nr = &rt->nodes[node_index];
    if (hs_unlikely(!hs_vec_push(&nr->pending, &bi))) {
        hs_buf_free(rt->bufs, &bi, 1); /* out of memory: the packet is lost, not leaked */
        return;
    }
    if (!nr->on_run_list) {
        nr->on_run_list = true;
        if (hs_unlikely(!hs_vec_push(&rt->run_list, &node_index))) {
            nr->on_run_list = false;
            hs_buf_free(rt->bufs, nr->pending.data, nr->pending.len);
            hs_vec_clear(&nr->pending);
        }
    }
}

/* Runs everything pending on one node, HS_FRAME_SIZE buffers per call. The pending vector
 * is swapped out first so the node may enqueue to itself. */
static void run_node(hs_graph_rt_t *rt, uint32_t node_index)
{
    hs_node_rt_t *nr = &rt->nodes[node_index];
    hs_vec_t work = nr->pending;
    nr->pending = rt->frame;
    hs_vec_clear(&nr->pending);
    nr->on_run_list = false;
    const uint32_t *bis = work.data;
    for (uint32_t off = 0; off < work.len; off += HS_FRAME_SIZE) {
        uint32_t n = HS_MIN(work.len - off, (uint32_t)HS_FRAME_SIZE);
        uint64_t t0 = hs_clock_cycles();
        nr->node->reg->fn(rt, nr, bis + off, n);
        nr->clocks += hs_clock_cycles() - t0;
        nr->calls++;
        nr->vectors += n;
    }
    rt->frame = work;
}

void hs_graph_dispatch(hs_graph_rt_t *rt)
{
    /* run_list grows while we walk it: nodes enqueue to their next nodes. */
    for (uint32_t i = 0; i < rt->run_list.len; i++)
        run_node(rt, HS_VEC_ELT(&rt->run_list, uint32_t, i));
    hs_vec_clear(&rt->run_list);
    if (rt->to_free.len) {
        hs_buf_free(rt->bufs, rt->to_free.data, rt->to_free.len);
        hs_vec_clear(&rt->to_free);
    }
}

uint32_t hs_graph_run_input(hs_graph_rt_t *rt, uint32_t node_index)
{
    hs_node_rt_t *nr = &rt->nodes[node_index];
    uint64_t t0 = hs_clock_cycles();
    uint32_t n = nr->node->reg->fn(rt, nr, NULL, 0);
    if (n) {
        /* Idle polls are not counted, so clocks per packet stay meaningful. */
        nr->clocks += hs_clock_cycles() - t0;
        nr->calls++;
        nr->vectors += n;
    }
    hs_graph_dispatch(rt);
    return n;
}

void hs_node_drop(hs_graph_rt_t *rt, hs_node_rt_t *node, uint32_t bi, uint16_t code)
{
    if (code < node->node->reg->n_errors)
        node->errors[code]++;
    hs_buf_t *b = hs_rt_buf(rt, bi);
    if (hs_unlikely(b->flags & HS_BUF_F_TRACED)) {
        struct {
            uint16_t code;
        } t = {code};
        uint32_t before = rt->trace.len;
        hs_trace_add(rt, node, b, &t, sizeof(t));
        if (rt->trace.len > before) {
            hs_trace_rec_t *r = hs_vec_at(&rt->trace, before);
            r->len |= 0x8000; /* marks a drop record: formatted with the reason */
        }
    }
    if (hs_unlikely(!hs_vec_push(&rt->to_free, &bi)))
        hs_buf_free(rt->bufs, &bi, 1);
}

void hs_trace_start(hs_graph_rt_t *rt, hs_node_rt_t *node, hs_buf_t *b)
{
    if (hs_likely(node->trace_budget == 0))
        return;
    node->trace_budget--;
    b->flags |= HS_BUF_F_TRACED;
    b->trace_index = rt->n_traced++;
}

void hs_trace_add(hs_graph_rt_t *rt, hs_node_rt_t *node, hs_buf_t *b, const void *data,
                  uint32_t len)
{
    if (rt->trace.len >= HS_TRACE_MAX_RECORDS)
        return;
    hs_trace_rec_t *r = hs_vec_push(&rt->trace, NULL);
    if (!r)
        return;
    r->pkt = b->trace_index;
    r->node = (uint16_t)node->node->index;
    r->len = (uint16_t)HS_MIN(len, sizeof(r->data));
    r->time_ns = rt->now_ns;
    memcpy(r->data, data, r->len);
}

void hs_trace_clear(hs_graph_rt_t *rt)
{
    hs_vec_clear(&rt->trace);
    rt->n_traced = 0;
    for (uint32_t i = 0; i < rt->n_nodes; i++)
        rt->nodes[i].trace_budget = 0;
}

static void format_record(const hs_graph_rt_t *rt, const hs_trace_rec_t *r, hs_str_t *out)
{
    const hs_node_reg_t *reg = hs_graph_node(rt->graph, r->node)->reg;
    char line[256] = "";
    if (r->len & 0x8000) {
        uint16_t code;
        memcpy(&code, r->data, sizeof(code));
        snprintf(line, sizeof(line), "drop: %s",
                 code < reg->n_errors ? reg->errors[code] : "unknown reason");
    } else if (reg->format_trace) {
        reg->format_trace(line, sizeof(line), r->data, r->len);
    } else {
        for (uint32_t i = 0; i < r->len && 3 * i + 3 < sizeof(line); i++)
            snprintf(line + 3 * i, 4, "%02x ", r->data[i]);
    }
    hs_str_printf(out, "  %-20s %s\n", reg->name, line);
}

void hs_trace_format(const hs_graph_rt_t *rt, hs_str_t *out)
{
    /* Records are appended in processing order; print them grouped by packet. */
    for (uint32_t pkt = 0; pkt < rt->n_traced; pkt++) {
        bool first = true;
        for (uint32_t i = 0; i < rt->trace.len; i++) {
            const hs_trace_rec_t *r = hs_vec_at(&rt->trace, i);
            if (r->pkt != pkt)
                continue;
            if (first)
                hs_str_printf(out, "Packet %u (t=%.6f s)\n", pkt + 1, r->time_ns / 1e9);
            first = false;
            format_record(rt, r, out);
        }
    }
}
