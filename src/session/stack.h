/* A whole host stack in a few calls: the packet path with TCP's nodes registered, and the
 * session layer with a TCP worker beside every net worker. hsd and the simulation tests
 * build their stacks with these. */
#ifndef HS_SESSION_STACK_H
#define HS_SESSION_STACK_H

#include "net/net.h"
#include "session/session.h"

/* For hs_net_config_t.register_nodes (ctx unused): registers tcp4-input. */
int hs_session_register_nodes(hs_net_t *net, void *ctx);

/* After hs_net_create (with hs_session_register_nodes): the session layer over net, one
 * session worker and one TCP worker per net worker, tcp4-input's ctx set on each. cfg
 * NULL: defaults. 0, -ENOENT (tcp4-input not registered), -EINVAL, -ENOMEM. */
int hs_session_main_create(hs_session_main_t **out, hs_net_t *net, const hs_session_config_t *cfg);
/* With every worker stopped: frees TCP's state, the sessions and the apps. Before
 * hs_net_destroy. */
void hs_session_main_destroy(hs_session_main_t *sm);

typedef struct {
    hs_clock_t *clock;                  /* not owned */
    uint32_t n_workers;                 /* 0: 1 */
    uint32_t n_buffers;                 /* 0: the packet path's default */
    const hs_session_config_t *session; /* NULL: defaults */
    uint64_t flow_seed;                 /* flow-to-worker hash key; 0: random (net.h) */
} hs_session_stack_config_t;

int hs_session_stack_create_cfg(const hs_session_stack_config_t *cfg, hs_net_t **net,
                                hs_session_main_t **sm);
/* hs_net_create + hs_session_main_create with defaults. 0 or -errno (nothing left). */
int hs_session_stack_create(hs_clock_t *clock, uint32_t n_workers, hs_net_t **net,
                            hs_session_main_t **sm);
void hs_session_stack_destroy(hs_net_t *net, hs_session_main_t *sm);

/* One data-plane iteration of worker i of a stack (simulations, --workers 0): the packet
 * path, then the session layer. Returns packets received plus session events handled. */
uint32_t hs_session_stack_poll(hs_net_t *net, hs_session_main_t *sm, uint32_t i, uint64_t now_ns);
/* When worker i needs polling next (timers, housekeeping); now_ns when work is queued. */
uint64_t hs_session_stack_next_ns(hs_net_t *net, hs_session_main_t *sm, uint32_t i,
                                  uint64_t now_ns);

/* The worker an active open toward rmt_ip starts on: the one polling queue 0 of the
 * route's interface (0 when unknown). Any worker would do: the open picks a local port
 * its worker owns, and replies reaching another queue are handed to it (net/handoff.h). */
uint32_t hs_session_connect_worker(hs_session_main_t *sm, uint32_t fib_index, uint32_t rmt_ip);

#endif
