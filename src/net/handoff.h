/* Hand-off between the workers of one hs_net_t. A flow belongs to one worker; a buffer that
 * reached another (a multi-queue tap or RSS spreads flows its own way) is passed to the
 * owner through a single-producer single-consumer ring per (from, to) pair, and the
 * owner's handoff-input node injects it at the node the sender named. */
#ifndef HS_NET_HANDOFF_H
#define HS_NET_HANDOFF_H

#include "net/net.h"

#define HS_HANDOFF_RING_SIZE 2048u /* entries per (from, to) pair; a power of two */

#define HS_HANDOFF_ERRORS(_)                                                                       \
    _(RECEIVED, "buffers received from another worker")                                            \
    _(BAD_NODE, "bad target node (dropped)")

typedef enum {
#define _(sym, str) HS_HANDOFF_E_##sym,
    HS_HANDOFF_ERRORS(_)
#undef _
        HS_HANDOFF_N_ERRORS
} hs_handoff_error_t;

/* Registers handoff-input (before the graph is finalized). */
int hs_handoff_register_node(hs_net_t *net);
/* Allocates the rings once the workers exist (nothing with one worker). 0 or -ENOMEM. */
int hs_handoff_init(hs_net_t *net);
/* Frees the rings; buffers still queued go back to the pool. */
void hs_handoff_destroy(hs_net_t *net);

/* Passes bis[0..n) from worker wk to worker `to`, to be injected at node_index there.
 * Returns how many were queued (from the front); the caller drops the rest (ring full).
 * Wakes the target through net->wake_worker when it announced it sleeps. */
uint32_t hs_handoff_send(hs_net_worker_t *wk, uint32_t to, uint32_t node_index, const uint32_t *bis,
                         uint32_t n);

/* Interrupt mode, called by the thread running worker wk. Before it sleeps: announces the
 * sleep and returns false when buffers already wait for it (then it must not sleep).
 * After waking: hs_handoff_sleep_end. Senders check the announcement after publishing, so
 * a buffer is never left waiting for a sleeping worker. */
bool hs_handoff_sleep_begin(hs_net_worker_t *wk);
void hs_handoff_sleep_end(hs_net_worker_t *wk);

/* Buffers queued from `from` to `to`, and how many a full ring refused (show workers). */
uint32_t hs_handoff_queued(const hs_net_t *net, uint32_t from, uint32_t to);
uint64_t hs_handoff_refused(const hs_net_t *net, uint32_t from, uint32_t to);

#endif
