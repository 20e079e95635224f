/* Sessions: the per-worker pools, the state transitions, event posting and the session
 * main object (workers, transports, apps). */
#include "session/session.h"
#include "session/app.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define DEFAULT_MAX_SESSIONS    (1u << 24)
#define DEFAULT_LOOKUP_CAPACITY 1024u
#define EVT_QUEUE_RESERVE       1024u

/* ---- state transitions ---- */

static const char *const state_names[HS_SESSION_N_STATES] = {
    [HS_SESSION_CREATED] = "created",       [HS_SESSION_LISTENING] = "listening",
    [HS_SESSION_CONNECTING] = "connecting", [HS_SESSION_ACCEPTING] = "accepting",
    [HS_SESSION_READY] = "ready",           [HS_SESSION_TRANSPORT_CLOSING] = "transport-closing",
    [HS_SESSION_CLOSING] = "closing",       [HS_SESSION_TRANSPORT_CLOSED] = "transport-closed",
    [HS_SESSION_CLOSED] = "closed",
};

const char *hs_session_state_name(uint8_t state)
{
    return state < HS_SESSION_N_STATES ? state_names[state] : "?";
}

static int from_created(hs_session_t *s, hs_session_state_t to)
{
    if (s->state != HS_SESSION_CREATED)
        return -EINVAL;
    s->state = (uint8_t)to;
    return 0;
}

int hs_session_set_listening(hs_session_t *s)
{
    return from_created(s, HS_SESSION_LISTENING);
}

int hs_session_set_connecting(hs_session_t *s)
{
    return from_created(s, HS_SESSION_CONNECTING);
}

int hs_session_set_accepting(hs_session_t *s)
{
    return from_created(s, HS_SESSION_ACCEPTING);
}

/* The open completed (the app accepted, or the transport connected). */
int hs_session_set_ready(hs_session_t *s)
{
    if (s->state != HS_SESSION_ACCEPTING && s->state != HS_SESSION_CONNECTING)
        return -EINVAL;
    s->state = HS_SESSION_READY;
    return 0;
}

/* The peer closed its side. After the app's own close the state stays CLOSING: the app
 * is still told (a half-closed client waits for exactly this). */
int hs_session_set_transport_closing(hs_session_t *s)
{
    switch (s->state) {
    case HS_SESSION_READY:
    case HS_SESSION_ACCEPTING: /* the FIN came before the app took the session */
        s->state = HS_SESSION_TRANSPORT_CLOSING;
        return 0;
    case HS_SESSION_TRANSPORT_CLOSING:
    case HS_SESSION_CLOSING:
        return 0;
    default:
        return -EINVAL;
    }
}

/* The app closed (or is done with the session). */
int hs_session_set_app_closed(hs_session_t *s)
{
    if (s->flags & HS_SESSION_F_APP_CLOSED)
        return -EALREADY;
    switch (s->state) {
    case HS_SESSION_CONNECTING:
    case HS_SESSION_ACCEPTING:
    case HS_SESSION_READY:
    case HS_SESSION_TRANSPORT_CLOSING:
        s->state = HS_SESSION_CLOSING;
        break;
    case HS_SESSION_CREATED:
    case HS_SESSION_LISTENING:
    case HS_SESSION_TRANSPORT_CLOSED:
        s->state = HS_SESSION_CLOSED;
        break;
    default:
        return -EINVAL;
    }
    s->flags |= HS_SESSION_F_APP_CLOSED;
    return s->state == HS_SESSION_CLOSED;
}

/* The transport let go. */
int hs_session_set_transport_closed(hs_session_t *s)
{
    if (s->flags & HS_SESSION_F_TP_CLOSED)
        return -EALREADY;
    switch (s->state) {
    case HS_SESSION_CONNECTING:
    case HS_SESSION_ACCEPTING:
    case HS_SESSION_READY:
    case HS_SESSION_TRANSPORT_CLOSING:
        s->state = HS_SESSION_TRANSPORT_CLOSED;
        break;
    case HS_SESSION_CLOSING:
        s->state = HS_SESSION_CLOSED;
        break;
    default:
        return -EINVAL;
    }
    s->flags |= HS_SESSION_F_TP_CLOSED;
    return s->state == HS_SESSION_CLOSED;
}

/* ---- sessions ---- */

hs_session_t *hs_session_alloc(hs_session_worker_t *sw, uint8_t proto, uint32_t app_index)
{
    uint32_t index;
    hs_session_t *s = hs_pool_get(&sw->sessions, &index);
    if (!s)
        return NULL;
    s->index = index;
    s->worker = (uint8_t)sw->index;
    s->state = HS_SESSION_CREATED;
    s->proto = proto;
    s->conn_index = UINT32_MAX;
    s->app_index = app_index;
    s->listener_index = UINT32_MAX;
    hs_app_t *app = hs_app_get(sw->sm, app_index);
    if (app)
        atomic_fetch_add_explicit(&app->n_sessions, 1, memory_order_relaxed);
    return s;
}

void hs_session_free(hs_session_worker_t *sw, hs_session_t *s)
{
    hs_app_t *app = hs_app_get(sw->sm, s->app_index);
    if (s->flags & HS_SESSION_F_FIFOS) {
        if (app)
            hs_segment_manager_free_pair(&app->segs, &s->fifos);
        s->flags &= ~HS_SESSION_F_FIFOS;
    }
    if (app)
        atomic_fetch_sub_explicit(&app->n_sessions, 1, memory_order_release);
    sw->ctr.freed++;
    hs_pool_put(&sw->sessions, s->index);
}

bool hs_session_post(hs_session_worker_t *sw, hs_session_t *s, hs_session_evt_type_t type,
                     int32_t err)
{
    hs_vec_t *q = type < HS_SEVT_APP_TX ? &sw->app_evts : &sw->tp_evts;
    hs_session_evt_t e = {.handle = hs_session_handle(sw, s), .type = (uint8_t)type, .err = err};
    if (!hs_vec_push(q, &e)) {
        sw->ctr.evt_alloc_failed++;
        return false;
    }
    sw->ctr.evts[type]++;
    return true;
}

void hs_session_app_done(hs_session_worker_t *sw, hs_session_t *s)
{
    hs_session_set_app_closed(s); /* -EALREADY after the app's own close: fine */
    if (s->state == HS_SESSION_CLOSED && !(s->flags & HS_SESSION_F_FREEING)) {
        s->flags |= HS_SESSION_F_FREEING;
        if (!hs_vec_push(&sw->to_free, &s->index))
            sw->ctr.evt_alloc_failed++; /* leaks one session rather than freeing early */
    }
}

/* ---- the main object ---- */

static int worker_init(hs_session_main_t *sm, uint32_t i)
{
    hs_session_worker_t *sw = &sm->workers[i];
    sw->sm = sm;
    sw->index = i;
    sw->apps_next_ns = UINT64_MAX;
    hs_vec_init(&sw->app_evts, sizeof(hs_session_evt_t));
    hs_vec_init(&sw->tp_evts, sizeof(hs_session_evt_t));
    hs_vec_init(&sw->spare, sizeof(hs_session_evt_t));
    hs_vec_init(&sw->to_free, sizeof(uint32_t));
    int rv = hs_pool_init(&sw->sessions, sizeof(hs_session_t), sm->cfg.max_sessions);
    if (rv == 0)
        rv = hs_session_lookup_init(&sw->lookup, sm->cfg.lookup_capacity, sm->cfg.seed + i);
    if (rv == 0 && (hs_vec_reserve(&sw->app_evts, EVT_QUEUE_RESERVE) < 0 ||
                    hs_vec_reserve(&sw->tp_evts, EVT_QUEUE_RESERVE) < 0 ||
                    hs_vec_reserve(&sw->spare, EVT_QUEUE_RESERVE) < 0))
        rv = -ENOMEM;
    return rv;
}

static void worker_free(hs_session_worker_t *sw)
{
    if (!sw->sm)
        return;
    hs_pool_destroy(&sw->sessions);
    hs_session_lookup_destroy(&sw->lookup);
    hs_vec_free(&sw->app_evts);
    hs_vec_free(&sw->tp_evts);
    hs_vec_free(&sw->spare);
    hs_vec_free(&sw->to_free);
}

int hs_session_main_alloc(hs_session_main_t **out, uint32_t n_workers,
                          const hs_session_config_t *cfg)
{
    if (n_workers == 0 || n_workers > HS_SESSION_MAX_WORKERS)
        return -EINVAL;
    hs_session_main_t *sm = calloc(1, sizeof(*sm));
    if (!sm)
        return -ENOMEM;
    sm->cfg = cfg ? *cfg : (hs_session_config_t){0};
    if (!sm->cfg.max_sessions)
        sm->cfg.max_sessions = DEFAULT_MAX_SESSIONS;
    if (!sm->cfg.lookup_capacity)
        sm->cfg.lookup_capacity = DEFAULT_LOOKUP_CAPACITY;
    if (!sm->cfg.seed && getrandom(&sm->cfg.seed, sizeof(sm->cfg.seed), 0) != sizeof(sm->cfg.seed))
        sm->cfg.seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)sm;
    int rv = hs_segment_manager_config_check(&sm->cfg.fifo);
    if (rv == 0)
        rv = hs_pool_init(&sm->apps, sizeof(hs_app_t), 0);
    if (rv == 0) {
        sm->workers = aligned_alloc(HS_CACHE_LINE, n_workers * sizeof(*sm->workers));
        rv = sm->workers ? 0 : -ENOMEM;
    }
    if (rv == 0)
        memset(sm->workers, 0, n_workers * sizeof(*sm->workers));
    for (uint32_t i = 0; rv == 0 && i < n_workers; i++, sm->n_workers++)
        rv = worker_init(sm, i);
    if (rv < 0) {
        if (sm->workers && sm->n_workers < n_workers)
            worker_free(&sm->workers[sm->n_workers]); /* the one that failed half-way */
        hs_session_main_free(sm);
        return rv;
    }
    *out = sm;
    return 0;
}

void hs_session_main_free(hs_session_main_t *sm)
{
    if (!sm)
        return;
    /* Sessions first (they return FIFOs to their apps' segment managers), then apps. */
    for (uint32_t w = 0; w < sm->n_workers; w++) {
        hs_session_worker_t *sw = &sm->workers[w];
        hs_pool_foreach(&sw->sessions, i) hs_session_free(sw, hs_pool_elt(&sw->sessions, i));
    }
    hs_pool_foreach(&sm->apps, i) hs_app_destroy(hs_pool_elt(&sm->apps, i));
    hs_pool_destroy(&sm->apps);
    for (uint32_t w = 0; w < sm->n_workers; w++)
        worker_free(&sm->workers[w]);
    free(sm->workers);
    free(sm);
}

int hs_session_main_set_transport(hs_session_main_t *sm, uint8_t proto,
                                  const hs_transport_vft_t *vft)
{
    int i = proto == HS_PROTO_TCP ? 0 : proto == HS_PROTO_UDP ? 1 : -1;
    if (i < 0)
        return -EPROTONOSUPPORT;
    sm->tp[i] = vft;
    return 0;
}

void hs_session_worker_set_transport(hs_session_worker_t *sw, uint8_t proto, void *tp_wrk)
{
    int i = proto == HS_PROTO_TCP ? 0 : proto == HS_PROTO_UDP ? 1 : -1;
    if (i >= 0)
        sw->tp_wrk[i] = tp_wrk;
}

void *hs_session_transport_worker(struct hs_session_worker *sw, uint8_t proto)
{
    int i = proto == HS_PROTO_TCP ? 0 : proto == HS_PROTO_UDP ? 1 : -1;
    return i < 0 ? NULL : sw->tp_wrk[i];
}
