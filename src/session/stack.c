/* Building a stack: TCP's node in the packet path, and per worker a session worker and a
 * TCP worker pointing at each other, the TCP worker also being tcp4-input's node ctx. */
#include "session/stack.h"
#include "infra/log.h"
#include "net/fib.h"
#include "net/interface.h"

#include <stdlib.h>
#include <string.h>

int hs_session_register_nodes(hs_net_t *net, void *ctx)
{
    return hs_tcp_register_nodes(net, ctx);
}

static int tcp_workers_create(hs_session_main_t *sm, hs_net_t *net, const hs_tcp_config_t *tcfg)
{
    uint32_t n = sm->n_workers;
    sm->tcp_workers = calloc(n, sizeof(*sm->tcp_workers));
    hs_tcp_worker_t **ptrs = calloc(n, sizeof(*ptrs));
    int rv = sm->tcp_workers && ptrs ? 0 : -ENOMEM;
    for (uint32_t i = 0; rv == 0 && i < n; i++) {
        hs_session_worker_t *sw = hs_session_worker(sm, i);
        sw->net_wk = hs_net_worker(net, i);
        rv = hs_tcp_worker_init(&sm->tcp_workers[i], sw->net_wk, sw, tcfg);
        if (rv == 0) {
            hs_session_worker_set_transport(sw, HS_PROTO_TCP, &sm->tcp_workers[i]);
            ptrs[i] = &sm->tcp_workers[i];
        }
    }
    if (rv == 0)
        rv = hs_tcp_attach_workers(net, ptrs);
    free(ptrs);
    return rv;
}

int hs_session_main_create(hs_session_main_t **out, hs_net_t *net, const hs_session_config_t *cfg)
{
    hs_session_main_t *sm;
    int rv = hs_session_main_alloc(&sm, net->n_workers, cfg);
    if (rv < 0)
        return rv;
    sm->net = net;
    sm->clock = net->clock;
    hs_session_main_set_transport(sm, HS_PROTO_TCP, hs_tcp_transport());
    rv = tcp_workers_create(sm, net, cfg ? cfg->tcp : NULL);
    if (rv < 0) {
        HS_LOG_ERR("session", "cannot set up TCP: %s", strerror(-rv));
        hs_session_main_destroy(sm);
        return rv;
    }
    *out = sm;
    return 0;
}

void hs_session_main_destroy(hs_session_main_t *sm)
{
    if (!sm)
        return;
    if (sm->tcp_workers) {
        /* tcp4-input must not find a freed worker if a packet still came. */
        hs_tcp_worker_t **none = calloc(sm->n_workers, sizeof(*none));
        if (none && sm->net)
            hs_tcp_attach_workers(sm->net, none);
        free(none);
        for (uint32_t i = 0; i < sm->n_workers; i++)
            if (hs_session_worker(sm, i)->tp_wrk[0])
                hs_tcp_worker_destroy(&sm->tcp_workers[i]);
        free(sm->tcp_workers);
        sm->tcp_workers = NULL;
    }
    hs_session_main_free(sm);
}

int hs_session_stack_create_cfg(const hs_session_stack_config_t *cfg, hs_net_t **net,
                                hs_session_main_t **sm)
{
    hs_net_config_t ncfg = {.n_workers = cfg->n_workers ? cfg->n_workers : 1,
                            .n_buffers = cfg->n_buffers,
                            .clock = cfg->clock,
                            .register_nodes = hs_session_register_nodes,
                            .flow_seed = cfg->flow_seed};
    int rv = hs_net_create(net, &ncfg);
    if (rv < 0)
        return rv;
    rv = hs_session_main_create(sm, *net, cfg->session);
    if (rv < 0) {
        hs_net_destroy(*net);
        *net = NULL;
    }
    return rv;
}

int hs_session_stack_create(hs_clock_t *clock, uint32_t n_workers, hs_net_t **net,
                            hs_session_main_t **sm)
{
    hs_session_stack_config_t cfg = {.clock = clock, .n_workers = n_workers};
    return hs_session_stack_create_cfg(&cfg, net, sm);
}

void hs_session_stack_destroy(hs_net_t *net, hs_session_main_t *sm)
{
    hs_session_main_destroy(sm);
    hs_net_destroy(net);
}

uint32_t hs_session_stack_poll(hs_net_t *net, hs_session_main_t *sm, uint32_t i, uint64_t now_ns)
{
    uint32_t n = hs_net_worker_poll(hs_net_worker(net, i), now_ns);
    return n + hs_session_worker_poll(hs_session_worker(sm, i), now_ns);
}

uint64_t hs_session_stack_next_ns(hs_net_t *net, hs_session_main_t *sm, uint32_t i, uint64_t now_ns)
{
    uint64_t t = hs_session_worker_next_ns(hs_session_worker(sm, i), now_ns);
    return HS_MIN(t, hs_net_worker(net, i)->next_housekeep_ns);
}

uint32_t hs_session_connect_worker(hs_session_main_t *sm, uint32_t fib_index, uint32_t rmt_ip)
{
    if (!sm->net || sm->n_workers == 1)
        return 0;
    const hs_fib_route_t *r = hs_fib_lookup(sm->net, fib_index, rmt_ip);
    if (r && r->type == HS_FIB_VIA && r->sw_if_index == UINT32_MAX)
        r = hs_fib_lookup(sm->net, fib_index, r->next_hop);
    if (!r || (r->type != HS_FIB_VIA && r->type != HS_FIB_CONNECTED))
        return 0; /* local or unroutable: any worker (a local open loops back on it) */
    hs_interface_t *ifc = hs_interface_get(sm->net, r->sw_if_index);
    return ifc ? ifc->queue_worker[0] % sm->n_workers : 0;
}
