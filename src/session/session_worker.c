/* The per-worker event flow: the calls transports make (transport.h), which only record
 * what happened as events, and the worker's poll, which hands those events to the apps'
 * callbacks and the apps' requests to the transport, then frees finished sessions.
 * (One file because transports link against these symbols: whoever runs a worker pulls
 * them all in.) */
#include "session/app.h"
#include "session/session.h"
#include "net/net.h"
#include "tcp/tcp.h"

/* Rounds of "dispatch events, poll the transport" per worker poll: each round may produce
 * events for the next (an app's reply, a reset's closed); the rest wait for the next poll. */
#define POLL_MAX_ROUNDS 8
/* A transport without next_timer_ns is polled this often. */
#define POLL_DEFAULT_NS HS_NS_PER_MS

/* ---- lookups and the 5-tuple table ---- */

int hs_session_lookup_conn4(struct hs_session_worker *sw, uint8_t proto, uint32_t fib_index,
                            uint32_t lcl_ip, uint16_t lcl_port, uint32_t rmt_ip, uint16_t rmt_port)
{
    hs_5tuple4_t t = {.proto = proto,
                      .fib_index = fib_index,
                      .lcl_ip = lcl_ip,
                      .rmt_ip = rmt_ip,
                      .lcl_port = lcl_port,
                      .rmt_port = rmt_port};
    return (int)hs_session_lookup_conn4_find(&sw->lookup, &t);
}

int hs_session_lookup_listener4(struct hs_session_worker *sw, uint8_t proto, uint32_t fib_index,
                                uint32_t lcl_ip, uint16_t lcl_port)
{
    return (int)hs_session_lookup_listener4_find(&sw->lookup, proto, fib_index, lcl_ip, lcl_port);
}

static void tc_tuple(hs_5tuple4_t *t, const hs_transport_conn_t *tc)
{
    *t = (hs_5tuple4_t){.proto = tc->proto,
                        .fib_index = tc->fib_index,
                        .lcl_ip = tc->lcl_ip,
                        .rmt_ip = tc->rmt_ip,
                        .lcl_port = tc->lcl_port,
                        .rmt_port = tc->rmt_port};
}

int hs_session_table_add4(struct hs_session_worker *sw, const hs_transport_conn_t *tc)
{
    hs_5tuple4_t t;
    tc_tuple(&t, tc);
    return hs_session_lookup_add_conn4(&sw->lookup, &t, tc->conn_index);
}

void hs_session_table_del4(struct hs_session_worker *sw, const hs_transport_conn_t *tc)
{
    hs_5tuple4_t t;
    tc_tuple(&t, tc);
    hs_session_lookup_del_conn4(&sw->lookup, &t);
}

hs_tcp_worker_t *hs_session_tcp_worker(struct hs_session_worker *sw)
{
    return hs_session_transport_worker(sw, HS_PROTO_TCP);
}

/* ---- opens ---- */

/* The session's FIFO pair from its app's segment manager. */
int hs_session_fifos_alloc(hs_session_worker_t *sw, hs_session_t *s, hs_app_t *app)
{
    int rv = hs_segment_manager_alloc_pair(&app->segs, &s->fifos, &s->rx, &s->tx);
    if (rv < 0)
        return rv;
    s->flags |= HS_SESSION_F_FIFOS;
    hs_fifo_owner_t *o = hs_fifo_owner(&s->rx);
    o->master_session_index = s->index;
    o->master_thread_index = sw->index;
    *hs_fifo_owner(&s->tx) = *o;
    return 0;
}

static hs_session_t *listen_session_of(hs_session_worker_t *sw, const hs_transport_vft_t *tp,
                                       uint32_t listener_index)
{
    hs_transport_conn_t *ltc = tp->get_listener(sw, listener_index);
    hs_session_t *ls = ltc ? hs_session_get(sw, ltc->session_index) : NULL;
    return ls && ls->state == HS_SESSION_LISTENING ? ls : NULL;
}

/* The session for a completed passive open, with its FIFOs; NULL and *err on failure. */
static hs_session_t *accept_session(hs_session_worker_t *sw, uint32_t listener_index,
                                    const hs_transport_conn_t *tc, int *err)
{
    const hs_transport_vft_t *tp = hs_session_vft(sw->sm, tc->proto);
    hs_session_t *ls = tp ? listen_session_of(sw, tp, listener_index) : NULL;
    hs_app_t *app = ls ? hs_app_get(sw->sm, ls->app_index) : NULL;
    *err = -ENOENT;
    if (!app)
        return NULL;
    hs_session_t *s = hs_session_alloc(sw, tc->proto, app->index);
    *err = -ENOMEM;
    if (!s)
        return NULL;
    if ((*err = hs_session_fifos_alloc(sw, s, app)) < 0) {
        hs_session_free(sw, s); /* nobody saw it yet */
        return NULL;
    }
    s->listener_index = ls->index;
    return s;
}

int hs_session_accept(struct hs_session_worker *sw, uint32_t listener_index,
                      hs_transport_conn_t *tc)
{
    int err;
    hs_session_t *s = accept_session(sw, listener_index, tc, &err);
    if (s) {
        s->conn_index = tc->conn_index;
        s->flags |= HS_SESSION_F_OPEN;
        hs_session_set_accepting(s);
        if (!hs_session_post(sw, s, HS_SEVT_ACCEPTED, 0)) {
            hs_session_free(sw, s);
            s = NULL;
            err = -ENOMEM;
        }
    }
    if (!s) {
        sw->ctr.accept_failed++;
        return err;
    }
    tc->session_index = s->index;
    sw->ctr.accepted++;
    return 0;
}

/* A session still waiting for its active open. */
static bool is_connecting(const hs_session_t *s)
{
    return !(s->flags & (HS_SESSION_F_OPEN | HS_SESSION_F_TP_CLOSED)) &&
           (s->state == HS_SESSION_CONNECTING || s->state == HS_SESSION_CLOSING);
}

int hs_session_connected(struct hs_session_worker *sw, uint32_t session_index,
                         hs_transport_conn_t *tc, int err)
{
    hs_session_t *s = hs_session_get(sw, session_index);
    if (!s || !is_connecting(s))
        return -ENOENT;
    if (!tc) {
        sw->ctr.connect_failed++;
        hs_session_set_transport_closed(s);
        /* Freed once the app heard (or at once when it had given up on it). */
        if (!hs_session_post(sw, s, HS_SEVT_CONNECTED, err < 0 ? err : -ECONNABORTED))
            hs_session_app_done(sw, s);
        return 0;
    }
    s->conn_index = tc->conn_index;
    tc->session_index = s->index;
    s->flags |= HS_SESSION_F_OPEN;
    sw->ctr.connected++;
    /* The app gave up while it was connecting: its abort is queued already, or this one
     * goes (the transport ignores the second). */
    if (s->flags & HS_SESSION_F_APP_CLOSED)
        return hs_session_post(sw, s, HS_SEVT_APP_RESET, 0) ? 0 : -ENOMEM;
    hs_session_set_ready(s);
    return hs_session_post(sw, s, HS_SEVT_CONNECTED, 0) ? 0 : -ENOMEM;
}

/* ---- data and closes ---- */

hs_fifo_t *hs_session_rx_fifo(struct hs_session_worker *sw, uint32_t session_index)
{
    hs_session_t *s = hs_session_get(sw, session_index);
    return s && (s->flags & HS_SESSION_F_FIFOS) ? &s->rx : NULL;
}

hs_fifo_t *hs_session_tx_fifo(struct hs_session_worker *sw, uint32_t session_index)
{
    hs_session_t *s = hs_session_get(sw, session_index);
    return s && (s->flags & HS_SESSION_F_FIFOS) ? &s->tx : NULL;
}

void hs_session_notify_rx(struct hs_session_worker *sw, uint32_t session_index)
{
    hs_session_t *s = hs_session_get(sw, session_index);
    /* One event in flight per FIFO: the flag is cleared just before the app reads. */
    if (s && (s->flags & HS_SESSION_F_FIFOS) && hs_fifo_set_event(&s->rx))
        hs_session_post(sw, s, HS_SEVT_RX, 0);
}

void hs_session_notify_tx(struct hs_session_worker *sw, uint32_t session_index)
{
    hs_session_t *s = hs_session_get(sw, session_index);
    /* Only an app that asked (hs_app_want_tx) and only once per request. */
    if (s && (s->flags & HS_SESSION_F_FIFOS) && hs_fifo_needs_deq_notif(&s->tx))
        hs_session_post(sw, s, HS_SEVT_TX, 0);
}

void hs_session_transport_closing(struct hs_session_worker *sw, uint32_t session_index)
{
    hs_session_t *s = hs_session_get(sw, session_index);
    if (s && hs_session_set_transport_closing(s) == 0)
        hs_session_post(sw, s, HS_SEVT_CLOSING, 0);
}

void hs_session_transport_reset(struct hs_session_worker *sw, uint32_t session_index)
{
    hs_session_t *s = hs_session_get(sw, session_index);
    if (!s || (s->flags & (HS_SESSION_F_RESET | HS_SESSION_F_TP_CLOSED)))
        return; /* the app's own reset is not news to it */
    s->flags |= HS_SESSION_F_RESET;
    hs_session_post(sw, s, HS_SEVT_RESET, 0);
}

void hs_session_transport_closed(struct hs_session_worker *sw, uint32_t session_index)
{
    hs_session_t *s = hs_session_get(sw, session_index);
    if (!s || hs_session_set_transport_closed(s) < 0)
        return;
    /* The app's last callback; the free follows it. Without memory for the event the
     * session is finished here rather than leaked. */
    if (!hs_session_post(sw, s, HS_SEVT_CLOSED, 0))
        hs_session_app_done(sw, s);
}

/* ---- dispatch ---- */

static void deliver_accept(hs_session_worker_t *sw, hs_app_t *app, hs_session_t *s)
{
    int rv = app->cb->accept ? app->cb->accept(app, sw, s) : -ECONNREFUSED;
    if (rv < 0)
        hs_app_reset(sw, s);
    else if (s->state == HS_SESSION_ACCEPTING)
        hs_session_set_ready(s);
}

static void deliver_connected(hs_session_worker_t *sw, hs_app_t *app, hs_session_t *s, int err)
{
    bool gave_up = s->flags & HS_SESSION_F_APP_CLOSED;
    if (!gave_up && app->cb->connected)
        app->cb->connected(app, sw, s, err);
    if (err < 0)
        hs_session_app_done(sw, s);
}

static void dispatch_app_evt(hs_session_worker_t *sw, const hs_session_evt_t *e)
{
    hs_session_t *s = hs_session_from_handle(sw->sm, e->handle);
    hs_app_t *app = s ? hs_app_get(sw->sm, s->app_index) : NULL;
    if (!s || !app) {
        sw->ctr.stale_evts++;
        return;
    }
    const hs_app_cb_t *cb = app->cb;
    bool reset = s->flags & HS_SESSION_F_RESET;
    switch (e->type) {
    case HS_SEVT_ACCEPTED:
        deliver_accept(sw, app, s);
        break;
    case HS_SEVT_CONNECTED:
        deliver_connected(sw, app, s, e->err);
        break;
    case HS_SEVT_RX:
        hs_fifo_clear_event(&s->rx); /* before reading: no wakeup is lost (fifo.h) */
        s->n_rx_evts++;
        if (!reset && cb->rx)
            cb->rx(app, sw, s);
        break;
    case HS_SEVT_TX:
        s->n_tx_evts++;
        if (!reset && !(s->flags & HS_SESSION_F_APP_CLOSED) && cb->tx)
            cb->tx(app, sw, s);
        break;
    case HS_SEVT_CLOSING:
        if (!reset && cb->closing)
            cb->closing(app, sw, s);
        break;
    case HS_SEVT_RESET:
        if (cb->reset)
            cb->reset(app, sw, s);
        break;
    case HS_SEVT_CLOSED:
        if (cb->closed)
            cb->closed(app, sw, s);
        hs_session_app_done(sw, s);
        break;
    }
}

static void dispatch_tp_evt(hs_session_worker_t *sw, const hs_session_evt_t *e)
{
    hs_session_t *s = hs_session_from_handle(sw->sm, e->handle);
    const hs_transport_vft_t *tp = s ? hs_session_vft(sw->sm, s->proto) : NULL;
    if (!tp) {
        sw->ctr.stale_evts++;
        return;
    }
    if (s->flags & HS_SESSION_F_TP_CLOSED)
        return; /* the transport let go: it must not hear of this connection again */
    switch (e->type) {
    case HS_SEVT_APP_TX:
        hs_fifo_clear_event(&s->tx); /* the app's next send posts again */
        tp->app_tx(sw, s->conn_index);
        break;
    case HS_SEVT_APP_RX:
        s->flags &= ~HS_SESSION_F_APP_RX;
        tp->app_rx(sw, s->conn_index);
        break;
    case HS_SEVT_APP_CLOSE:
        tp->close(sw, s->conn_index);
        break;
    case HS_SEVT_APP_RESET:
        tp->reset(sw, s->conn_index);
        break;
    }
}

/* Runs the events queued in *q so far; those they post wait in a fresh queue. */
static uint32_t drain(hs_session_worker_t *sw, hs_vec_t *q,
                      void (*fn)(hs_session_worker_t *, const hs_session_evt_t *))
{
    if (!q->len)
        return 0;
    hs_vec_t batch = *q;
    *q = sw->spare;
    hs_vec_clear(q);
    for (uint32_t i = 0; i < batch.len; i++)
        fn(sw, hs_vec_at(&batch, i));
    uint32_t n = batch.len;
    hs_vec_clear(&batch);
    sw->spare = batch;
    return n;
}

/* The safe point: nothing holds a session pointer here. */
static void free_finished(hs_session_worker_t *sw)
{
    for (uint32_t i = 0; i < sw->to_free.len; i++) {
        hs_session_t *s = hs_session_get(sw, HS_VEC_ELT(&sw->to_free, uint32_t, i));
        if (s && (s->flags & HS_SESSION_F_FREEING))
            hs_session_free(sw, s);
    }
    hs_vec_clear(&sw->to_free);
}

static void transports_poll(hs_session_worker_t *sw, uint64_t now_ns)
{
    for (uint32_t i = 0; i < HS_SESSION_N_TRANSPORTS; i++) {
        const hs_transport_vft_t *tp = sw->sm->tp[i];
        if (tp && tp->poll)
            tp->poll(sw, now_ns);
    }
}

static void apps_poll(hs_session_worker_t *sw, uint64_t now_ns)
{
    uint64_t next = UINT64_MAX;
    hs_pool_foreach(&sw->sm->apps, i)
    {
        hs_app_t *app = hs_pool_elt(&sw->sm->apps, i);
        if (app->cb->poll)
            next = HS_MIN(next, app->cb->poll(app, sw, now_ns));
    }
    sw->apps_next_ns = next;
}

uint32_t hs_session_worker_poll(hs_session_worker_t *sw, uint64_t now_ns)
{
    sw->now_ns = now_ns;
    uint32_t work = 0;
    apps_poll(sw, now_ns);
    /* Events first, then the transport: what the apps asked for (app_tx, close) is only
     * scheduled by the transport and goes out in its poll, together with timer work. */
    for (uint32_t round = 0; round < POLL_MAX_ROUNDS; round++) {
        work += drain(sw, &sw->app_evts, dispatch_app_evt);
        work += drain(sw, &sw->tp_evts, dispatch_tp_evt);
        transports_poll(sw, now_ns);
        if (!sw->app_evts.len && !sw->tp_evts.len)
            break;
    }
    free_finished(sw);
    if (sw->net_wk)
        hs_graph_dispatch(&sw->net_wk->rt); /* anything a transport left queued */
    return work;
}

uint64_t hs_session_worker_next_ns(hs_session_worker_t *sw, uint64_t now_ns)
{
    if (sw->app_evts.len || sw->tp_evts.len || sw->to_free.len)
        return now_ns;
    uint64_t next = sw->apps_next_ns;
    for (uint32_t i = 0; i < HS_SESSION_N_TRANSPORTS; i++) {
        const hs_transport_vft_t *tp = sw->sm->tp[i];
        if (!tp)
            continue;
        uint64_t t = tp->next_timer_ns ? tp->next_timer_ns(sw) : now_ns + POLL_DEFAULT_NS;
        next = HS_MIN(next, t);
    }
    return next;
}
