/* The session layer's core: sessions in per-worker pools named by 64-bit handles, their
 * state machine, the per-worker event queues between transports and apps, and the
 * session "main" object that owns the workers, the transports and the apps.
 *
 * Threads: a session belongs to one data-plane worker and is touched only by that worker
 * (or by the control plane while every worker is parked at the barrier). Nothing here
 * takes a lock except the segment managers (once per session set-up and teardown).
 *
 * Flow of control on a worker:
 *   net poll: tcp4-input -> hs_session_accept/notify_rx/... (transport.h) -> queue events
 *   hs_session_worker_poll: transport poll (timers) -> apps' poll -> app events dispatched
 *     to app callbacks -> apps' requests (tx, rx window, close, reset) handed to the
 *     transport -> sessions that reached CLOSED freed -> pending packets sent.
 * So an app callback never runs under a transport call, and a transport call never runs
 * under an app callback: neither can free what the other still holds.
 *
 * Flows and workers: a connection lives on the worker that owns its flow, a keyed hash of
 * its addresses and ports (hs_net_flow_worker). Listeners exist on every worker
 * (hs_app_listen); a segment that reaches another worker (the kernel spreads a multi-queue
 * tap's flows its own way) is handed to the owner by tcp4-input (net/handoff.h), so a
 * passive open is accepted by the owner of its flow. An active open runs on the worker
 * hs_session_connect_worker names and picks a local port whose flow that worker owns. */
#ifndef HS_SESSION_SESSION_H
#define HS_SESSION_SESSION_H

#include "infra/clock.h"
#include "infra/pool.h"
#include "infra/vec.h"
#include "session/segment_manager.h"
#include "session/session_lookup.h"
#include "session/transport.h"
#include "tcp/tcp.h"

struct hs_net;
struct hs_net_worker;
struct hs_app;

/* ---- handles: worker (8 bits) | generation (24 bits) | session index (32 bits) ----
 * The generation is the low 24 bits of the pool slot's generation, which changes on every
 * allocation and free of the slot; a handle kept past its session's free is therefore
 * refused, until the slot has been reused 2^23 times (the 24-bit field wraps). */
typedef uint64_t hs_session_handle_t;
#define HS_SESSION_HANDLE_INVALID UINT64_MAX
#define HS_SESSION_MAX_WORKERS    256u
#define HS_SESSION_GEN_MASK       0xffffffu

static inline hs_session_handle_t hs_session_handle_make(uint32_t worker, uint32_t gen,
                                                         uint32_t index)
{
    return ((uint64_t)(worker & 0xff) << 56) | ((uint64_t)(gen & HS_SESSION_GEN_MASK) << 32) |
           index;
}

static inline uint32_t hs_session_handle_worker(hs_session_handle_t h)
{
    return (uint32_t)(h >> 56);
}

static inline uint32_t hs_session_handle_gen(hs_session_handle_t h)
{
    return (uint32_t)(h >> 32) & HS_SESSION_GEN_MASK;
}

static inline uint32_t hs_session_handle_index(hs_session_handle_t h)
{
    return (uint32_t)h;
}

/* ---- states; each transition is one function below ---- */
typedef enum {
    HS_SESSION_CREATED = 0,
    HS_SESSION_LISTENING,
    HS_SESSION_CONNECTING,        /* active open under way */
    HS_SESSION_ACCEPTING,         /* passive open done, the app not told yet */
    HS_SESSION_READY,             /* established */
    HS_SESSION_TRANSPORT_CLOSING, /* the peer closed its side (FIN); the app may still send */
    HS_SESSION_CLOSING,           /* the app closed; the transport is finishing */
    HS_SESSION_TRANSPORT_CLOSED,  /* the transport is done; the app is not yet */
    HS_SESSION_CLOSED,            /* both are done: freed at the next safe point */
    HS_SESSION_N_STATES
} hs_session_state_t;

enum {
    HS_SESSION_F_FIFOS = 1u << 0,      /* rx/tx allocated (fifos names them) */
    HS_SESSION_F_APP_CLOSED = 1u << 1, /* the app closed or is done with it */
    HS_SESSION_F_TP_CLOSED = 1u << 2,  /* the transport let go of it */
    HS_SESSION_F_RESET = 1u << 3,      /* reset, by the peer or by the app */
    HS_SESSION_F_APP_RX = 1u << 4,     /* an app-rx (window update) request is queued */
    HS_SESSION_F_FREEING = 1u << 5,    /* on the worker's free list */
    HS_SESSION_F_OPEN = 1u << 6,       /* the open completed (accepted or connected) */
};

typedef struct hs_session {
    hs_fifo_t rx; /* the stack's handles; a builtin app shares them (same thread) */
    hs_fifo_t tx;
    uint32_t index;
    uint8_t worker;
    uint8_t state; /* hs_session_state_t */
    uint8_t proto; /* hs_proto_t */
    uint8_t pad0;
    uint32_t flags;          /* HS_SESSION_F_* */
    uint32_t conn_index;     /* the transport's connection, or listener, index */
    uint32_t app_index;      /* in the session main's app pool */
    uint32_t listener_index; /* accepted sessions: the listen session; else UINT32_MAX */
    uint64_t app_opaque;     /* the app's value (connect's opaque, or set in accept) */
    uint32_t app_flags;      /* the app's own bits */
    hs_fifo_pair_ref_t fifos;
    hs_endpoint_t lcl; /* listeners: the address listened on */
    /* counters for show session verbose */
    uint64_t app_rx_bytes, app_tx_bytes; /* read and written by the app */
    uint32_t n_rx_evts, n_tx_evts;
} hs_session_t;

/* Transitions: 0, or -EINVAL when not allowed from the current state (nothing changes),
 * -EALREADY when that side already closed. app_closed and tp_closed return 1 when the
 * session reached CLOSED (both sides done). */
int hs_session_set_listening(hs_session_t *s);
int hs_session_set_connecting(hs_session_t *s);
int hs_session_set_accepting(hs_session_t *s);
int hs_session_set_ready(hs_session_t *s);
int hs_session_set_transport_closing(hs_session_t *s);
int hs_session_set_app_closed(hs_session_t *s);
int hs_session_set_transport_closed(hs_session_t *s);
const char *hs_session_state_name(uint8_t state);

/* ---- events ---- */
typedef enum {
    /* to the app (transport -> session -> app callbacks) */
    HS_SEVT_ACCEPTED = 0,
    HS_SEVT_CONNECTED,
    HS_SEVT_RX,
    HS_SEVT_TX,
    HS_SEVT_CLOSING,
    HS_SEVT_RESET,
    HS_SEVT_CLOSED,
    /* to the transport (app -> session -> transport vft) */
    HS_SEVT_APP_TX,
    HS_SEVT_APP_RX,
    HS_SEVT_APP_CLOSE,
    HS_SEVT_APP_RESET,
    HS_SEVT_N
} hs_session_evt_type_t;

typedef struct {
    hs_session_handle_t handle;
    uint8_t type;
    int32_t err; /* HS_SEVT_CONNECTED */
} hs_session_evt_t;

typedef struct {
    uint64_t evts[HS_SEVT_N];
    uint64_t evt_alloc_failed; /* events lost to -ENOMEM (never expected) */
    uint64_t accepted, accept_failed, connected, connect_failed;
    uint64_t freed;
    uint64_t stale_evts; /* events whose session was gone by dispatch */
} hs_session_worker_counters_t;

#define HS_SESSION_N_TRANSPORTS 2 /* TCP, UDP */

typedef struct hs_session_main hs_session_main_t;

typedef struct hs_session_worker {
    hs_session_main_t *sm;
    uint32_t index;
    hs_pool_t sessions; /* hs_session_t */
    hs_session_lookup_t lookup;
    struct hs_net_worker *net_wk; /* NULL in a stack without a packet path (unit tests) */
    void *tp_wrk[HS_SESSION_N_TRANSPORTS];
    hs_vec_t app_evts, tp_evts, spare; /* hs_session_evt_t */
    hs_vec_t to_free;                  /* uint32_t session indices */
    uint64_t now_ns;
    uint64_t apps_next_ns; /* earliest poll the apps asked for at their last poll */
    hs_session_worker_counters_t ctr;
} HS_CACHE_ALIGNED hs_session_worker_t;

typedef struct {
    hs_segment_manager_config_t fifo; /* per app; zeros: defaults */
    uint32_t max_sessions;            /* per worker; 0: 2^24 */
    uint32_t lookup_capacity;         /* connections per worker before a table grows */
    uint64_t seed;                    /* lookup hash seed; 0: random */
    const hs_tcp_config_t *tcp;       /* hs_session_main_create only; NULL: TCP defaults */
} hs_session_config_t;

struct hs_session_main {
    uint32_t n_workers;
    hs_session_config_t cfg;
    const hs_transport_vft_t *tp[HS_SESSION_N_TRANSPORTS];
    hs_session_worker_t *workers;
    hs_pool_t apps;               /* hs_app_t; changed only with the workers parked */
    struct hs_net *net;           /* NULL without a packet path */
    hs_clock_t *clock;            /* the packet path's (real or virtual); NULL without one */
    hs_tcp_worker_t *tcp_workers; /* one per worker, when created with a packet path */
};

/* The core without a packet path or transport: unit tests plug a fake transport in with
 * hs_session_main_set_transport. 0, -EINVAL or -ENOMEM. */
int hs_session_main_alloc(hs_session_main_t **out, uint32_t n_workers,
                          const hs_session_config_t *cfg);
/* Frees the apps (their segments), the sessions and the workers. The transports' own
 * per-worker state belongs to whoever set it (session_stack.c for TCP). */
void hs_session_main_free(hs_session_main_t *sm);
int hs_session_main_set_transport(hs_session_main_t *sm, uint8_t proto,
                                  const hs_transport_vft_t *vft);
void hs_session_worker_set_transport(hs_session_worker_t *sw, uint8_t proto, void *tp_wrk);

static inline hs_session_worker_t *hs_session_worker(hs_session_main_t *sm, uint32_t i)
{
    return &sm->workers[i];
}

/* The transport of proto, or NULL. */
static inline const hs_transport_vft_t *hs_session_vft(const hs_session_main_t *sm, uint8_t proto)
{
    int i = proto == HS_PROTO_TCP ? 0 : proto == HS_PROTO_UDP ? 1 : -1;
    return i < 0 ? NULL : sm->tp[i];
}

/* ---- sessions ---- */

/* A new session in CREATED on sw, or NULL (pool limit or memory). */
hs_session_t *hs_session_alloc(hs_session_worker_t *sw, uint8_t proto, uint32_t app_index);
/* Frees at once: only for sessions nothing else has seen yet (a failed set-up), or from
 * the safe point. Returns its FIFOs to the app's segment manager. */
void hs_session_free(hs_session_worker_t *sw, hs_session_t *s);

static inline hs_session_handle_t hs_session_handle(const hs_session_worker_t *sw,
                                                    const hs_session_t *s)
{
    return hs_session_handle_make(sw->index, hs_pool_gen(&sw->sessions, s->index), s->index);
}

/* The session of a worker by index (what transports pass), or NULL when free. */
static inline hs_session_t *hs_session_get(hs_session_worker_t *sw, uint32_t index)
{
    return hs_pool_elt_checked(&sw->sessions, index);
}

/* The session a handle names, or NULL when the handle is stale or malformed. */
static inline hs_session_t *hs_session_from_handle(hs_session_main_t *sm, hs_session_handle_t h)
{
    uint32_t w = hs_session_handle_worker(h), i = hs_session_handle_index(h);
    if (w >= sm->n_workers)
        return NULL;
    hs_pool_t *p = &sm->workers[w].sessions;
    if (!hs_pool_is_used(p, i) ||
        (hs_pool_gen(p, i) & HS_SESSION_GEN_MASK) != hs_session_handle_gen(h))
        return NULL;
    return hs_pool_elt(p, i);
}

/* Takes the session's rx/tx FIFOs from the app's segment manager. 0 or -ENOMEM. */
int hs_session_fifos_alloc(hs_session_worker_t *sw, hs_session_t *s, struct hs_app *app);

/* Queues an event: ACCEPTED..CLOSED for the app's callbacks, APP_* for the transport.
 * false when memory ran out (counted). */
bool hs_session_post(hs_session_worker_t *sw, hs_session_t *s, hs_session_evt_type_t type,
                     int32_t err);

/* Marks the app done with s (app_closed) and, when the transport is done too, schedules
 * the free. */
void hs_session_app_done(hs_session_worker_t *sw, hs_session_t *s);

/* ---- the per-worker loop ---- */

/* One iteration at now_ns, after hs_net_worker_poll: transport timers and pending
 * output, builtin apps' pending work, app callbacks, app requests to the transport, frees
 * at the safe point, and the packets all that produced. Returns the events handled (0:
 * nothing to do). */
uint32_t hs_session_worker_poll(hs_session_worker_t *sw, uint64_t now_ns);
/* When the worker needs its next poll: now_ns when work is queued, else the transport's
 * next timer (now_ns + 1 ms for a transport that cannot tell), UINT64_MAX when none. */
uint64_t hs_session_worker_next_ns(hs_session_worker_t *sw, uint64_t now_ns);

/* The time now: the clock's when the stack has one (apps timing work inside one poll),
 * else the time of the worker's current poll. */
static inline uint64_t hs_session_worker_now(hs_session_worker_t *sw)
{
    return sw->sm->clock ? hs_clock_now(sw->sm->clock) : sw->now_ns;
}

/* show session [verbose]: per worker, every session. */
void hs_session_format(hs_session_main_t *sm, bool verbose, hs_str_t *out);

#endif
