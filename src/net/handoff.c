/* Worker-to-worker hand-off rings and the handoff-input node that drains them. One SPSC
 * ring per (from, to) pair: the sending worker is the only producer, the owner the only
 * consumer, so no locks; entries are (node index << 32 | buffer index). */
#include "net/handoff.h"
#include "infra/siphash.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    _Alignas(64) _Atomic uint32_t head; /* consumer: next entry to take */
    _Alignas(64) _Atomic uint32_t tail; /* producer: next entry to fill */
    uint64_t refused;                   /* producer: entries a full ring turned away */
    _Alignas(64) uint64_t slot[HS_HANDOFF_RING_SIZE];
} ring_t;

typedef struct {
    _Alignas(64) _Atomic bool sleeping; /* the worker announced it sleeps */
} wstate_t;

struct hs_handoff_main {
    uint32_t n;   /* workers */
    ring_t *ring; /* [to * n + from] */
    wstate_t *w;  /* [worker] */
    uint32_t node_index;
};

static const char *const handoff_error_str[] = {
#define _(sym, str) str,
    HS_HANDOFF_ERRORS(_)
#undef _
};

static ring_t *ring_of(const struct hs_handoff_main *hm, uint32_t from, uint32_t to)
{
    return &hm->ring[to * hm->n + from];
}

uint32_t hs_net_flow_worker(const hs_net_t *net, uint8_t proto, uint32_t lcl_ip, uint16_t lcl_port,
                            uint32_t rmt_ip, uint16_t rmt_port)
{
    if (net->n_workers <= 1)
        return 0;
    uint64_t w[2] = {(uint64_t)lcl_ip << 32 | rmt_ip,
                     (uint64_t)proto << 32 | (uint32_t)lcl_port << 16 | rmt_port};
    uint32_t h = (uint32_t)hs_siphash24_u64s(net->flow_key, w, 2);
    return (uint32_t)(((uint64_t)h * net->n_workers) >> 32); /* h mod n without a division */
}

uint32_t hs_handoff_send(hs_net_worker_t *wk, uint32_t to, uint32_t node_index, const uint32_t *bis,
                         uint32_t n)
{
    struct hs_handoff_main *hm = wk->net->handoff;
    if (!hm || to >= hm->n || to == wk->index)
        return 0;
    ring_t *r = ring_of(hm, wk->index, to);
    uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    uint32_t k = HS_MIN(n, HS_HANDOFF_RING_SIZE - (tail - head));
    for (uint32_t i = 0; i < k; i++)
        r->slot[(tail + i) & (HS_HANDOFF_RING_SIZE - 1)] = (uint64_t)node_index << 32 | bis[i];
    r->refused += n - k;
    if (!k)
        return 0;
    /* Publish, then look for a sleep announcement: with the consumer's store-then-check in
     * hs_handoff_sleep_begin, one of the two sees the other (both seq_cst). */
    atomic_store_explicit(&r->tail, tail + k, memory_order_seq_cst);
    wstate_t *ws = &hm->w[to];
    if (atomic_load_explicit(&ws->sleeping, memory_order_seq_cst) &&
        atomic_exchange_explicit(&ws->sleeping, false, memory_order_seq_cst) &&
        wk->net->wake_worker)
        wk->net->wake_worker(wk->net->wake_ctx, to);
    return k;
}

static bool pending(const struct hs_handoff_main *hm, uint32_t to)
{
    for (uint32_t from = 0; from < hm->n; from++) {
        ring_t *r = ring_of(hm, from, to);
        if (atomic_load_explicit(&r->tail, memory_order_seq_cst) !=
            atomic_load_explicit(&r->head, memory_order_relaxed))
            return true;
    }
    return false;
}

bool hs_handoff_sleep_begin(hs_net_worker_t *wk)
{
    struct hs_handoff_main *hm = wk->net->handoff;
    if (!hm)
        return true;
    atomic_store_explicit(&hm->w[wk->index].sleeping, true, memory_order_seq_cst);
    if (!pending(hm, wk->index))
        return true;
    atomic_store_explicit(&hm->w[wk->index].sleeping, false, memory_order_relaxed);
    return false;
}

void hs_handoff_sleep_end(hs_net_worker_t *wk)
{
    struct hs_handoff_main *hm = wk->net->handoff;
    if (hm)
        atomic_store_explicit(&hm->w[wk->index].sleeping, false, memory_order_relaxed);
}

/* Input node: takes up to a frame's worth from each incoming ring and injects every buffer
 * at the node its sender named. */
static uint32_t handoff_input_fn(hs_graph_rt_t *rt, hs_node_rt_t *node, const uint32_t *bis,
                                 uint32_t n_in)
{
    (void)bis;
    (void)n_in;
    hs_net_worker_t *wk = rt->user;
    struct hs_handoff_main *hm = wk->net->handoff;
    if (!hm)
        return 0;
    uint32_t got = 0;
    for (uint32_t from = 0; from < hm->n; from++) {
        ring_t *r = ring_of(hm, from, wk->index);
        uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
        uint32_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        uint32_t k = HS_MIN(tail - head, (uint32_t)HS_FRAME_SIZE);
        for (uint32_t i = 0; i < k; i++) {
            uint64_t e = r->slot[(head + i) & (HS_HANDOFF_RING_SIZE - 1)];
            uint32_t bi = (uint32_t)e, ni = (uint32_t)(e >> 32);
            hs_buf_t *b = hs_rt_buf(rt, bi);
            /* A trace runs per worker: the packet starts a new one here if asked for. */
            b->flags &= ~HS_BUF_F_TRACED;
            hs_trace_start(rt, node, b);
            if (hs_unlikely(ni >= rt->n_nodes || ni == node->node->index)) {
                hs_node_drop(rt, node, bi, HS_HANDOFF_E_BAD_NODE);
                continue;
            }
            if (hs_unlikely(b->flags & HS_BUF_F_TRACED))
                hs_trace_add(rt, node, b, &from, sizeof(from));
            hs_graph_enqueue(rt, ni, bi);
        }
        if (k)
            atomic_store_explicit(&r->head, head + k, memory_order_release);
        got += k;
    }
    hs_node_count(node, HS_HANDOFF_E_RECEIVED, got);
    return got;
}

static void handoff_format_trace(char *out, size_t len, const void *data, uint32_t data_len)
{
    uint32_t from = 0;
    memcpy(&from, data, HS_MIN(data_len, (uint32_t)sizeof(from)));
    snprintf(out, len, "handed off by worker %u", from);
}

static const hs_node_reg_t handoff_input_reg = {
    .name = "handoff-input",
    .fn = handoff_input_fn,
    .type = HS_NODE_INPUT,
    .n_errors = HS_HANDOFF_N_ERRORS,
    .errors = handoff_error_str,
    .format_trace = handoff_format_trace,
};

int hs_handoff_register_node(hs_net_t *net)
{
    int rv = hs_graph_add_node(&net->graph, &handoff_input_reg);
    return rv < 0 ? rv : 0;
}

int hs_handoff_init(hs_net_t *net)
{
    if (net->n_workers <= 1)
        return 0;
    struct hs_handoff_main *hm = calloc(1, sizeof(*hm));
    if (!hm)
        return -ENOMEM;
    hm->n = net->n_workers;
    hm->ring = aligned_alloc(64, sizeof(ring_t) * hm->n * hm->n);
    hm->w = aligned_alloc(64, sizeof(wstate_t) * hm->n);
    if (!hm->ring || !hm->w) {
        free(hm->ring);
        free(hm->w);
        free(hm);
        return -ENOMEM;
    }
    memset(hm->ring, 0, sizeof(ring_t) * hm->n * hm->n);
    memset(hm->w, 0, sizeof(wstate_t) * hm->n);
    net->handoff = hm;
    return 0;
}

void hs_handoff_destroy(hs_net_t *net)
{
    struct hs_handoff_main *hm = net->handoff;
    if (!hm)
        return;
    for (uint32_t to = 0; to < hm->n; to++)
        for (uint32_t from = 0; from < hm->n; from++) {
            ring_t *r = ring_of(hm, from, to);
            for (uint32_t i = r->head; i != r->tail; i++) {
                uint32_t bi = (uint32_t)r->slot[i & (HS_HANDOFF_RING_SIZE - 1)];
                hs_buf_free(&net->workers[to].bufs, &bi, 1);
            }
        }
    free(hm->ring);
    free(hm->w);
    free(hm);
    net->handoff = NULL;
}

uint32_t hs_handoff_queued(const hs_net_t *net, uint32_t from, uint32_t to)
{
    const struct hs_handoff_main *hm = net->handoff;
    if (!hm || from >= hm->n || to >= hm->n)
        return 0;
    ring_t *r = ring_of(hm, from, to);
    return atomic_load(&r->tail) - atomic_load(&r->head);
}

uint64_t hs_handoff_refused(const hs_net_t *net, uint32_t from, uint32_t to)
{
    const struct hs_handoff_main *hm = net->handoff;
    if (!hm || from >= hm->n || to >= hm->n)
        return 0;
    return ring_of(hm, from, to)->refused;
}
