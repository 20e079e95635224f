/* Builtin apps: creation, listeners on every worker, connects, and the data and close
 * calls, which touch only the session's FIFOs and queue requests for the transport. */
#include "session/app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hs_app_create(hs_session_main_t *sm, const char *name, const hs_app_cb_t *cb, void *ctx,
                  const hs_segment_manager_config_t *fifo, hs_app_t **out)
{
    if (!cb)
        return -EINVAL;
    uint32_t index;
    hs_app_t *app = hs_pool_get(&sm->apps, &index);
    if (!app)
        return -ENOMEM;
    app->index = index;
    snprintf(app->name, sizeof(app->name), "%s", name ? name : "app");
    app->cb = cb;
    app->ctx = ctx;
    app->sm = sm;
    atomic_init(&app->n_sessions, 0);
    hs_vec_init(&app->listeners, sizeof(hs_app_listener_t));
    char seg_name[HS_SM_NAME_MAX + 4];
    snprintf(seg_name, sizeof(seg_name), "hs-%s", app->name);
    int rv = hs_segment_manager_init(&app->segs, seg_name, fifo ? fifo : &sm->cfg.fifo);
    if (rv < 0) {
        hs_pool_put(&sm->apps, index);
        return rv;
    }
    *out = app;
    return 0;
}

int hs_app_destroy(hs_app_t *app)
{
    if (atomic_load_explicit(&app->n_sessions, memory_order_acquire))
        return -EBUSY;
    if (app->cb->free_ctx)
        app->cb->free_ctx(app);
    for (uint32_t i = 0; i < app->listeners.len; i++)
        free(((hs_app_listener_t *)hs_vec_at(&app->listeners, i))->handles);
    hs_vec_free(&app->listeners);
    hs_segment_manager_destroy(&app->segs);
    hs_pool_put(&app->sm->apps, app->index);
    return 0;
}

/* ---- listeners ---- */

static void unlisten_on(hs_session_worker_t *sw, hs_session_handle_t h)
{
    hs_session_t *s = hs_session_from_handle(sw->sm, h);
    const hs_transport_vft_t *tp = s ? hs_session_vft(sw->sm, s->proto) : NULL;
    if (!tp)
        return;
    tp->unlisten(sw, s->conn_index);
    hs_session_lookup_del_listener4(&sw->lookup, s->proto, s->lcl.fib_index, s->lcl.ip,
                                    s->lcl.port);
    /* Control plane, workers parked: no event or transport call names a listen session. */
    hs_session_free(sw, s);
}

static int listen_on(hs_app_t *app, hs_session_worker_t *sw, uint8_t proto,
                     const hs_endpoint_t *lcl, hs_session_handle_t *h)
{
    const hs_transport_vft_t *tp = hs_session_vft(sw->sm, proto);
    hs_session_t *s = hs_session_alloc(sw, proto, app->index);
    if (!s)
        return -ENOMEM;
    hs_session_set_listening(s);
    s->lcl = *lcl;
    int li = tp->listen(sw, s->index, lcl);
    if (li < 0) {
        hs_session_free(sw, s);
        return li;
    }
    s->conn_index = (uint32_t)li;
    int rv = hs_session_lookup_add_listener4(&sw->lookup, proto, lcl->fib_index, lcl->ip, lcl->port,
                                             (uint32_t)li);
    if (rv < 0) {
        tp->unlisten(sw, (uint32_t)li);
        hs_session_free(sw, s);
        return rv;
    }
    s->flags |= HS_SESSION_F_OPEN;
    *h = hs_session_handle(sw, s);
    return 0;
}

int hs_app_listen(hs_app_t *app, uint8_t proto, const hs_endpoint_t *lcl, uint32_t *listener_id)
{
    hs_session_main_t *sm = app->sm;
    if (!hs_session_vft(sm, proto))
        return -EPROTONOSUPPORT;
    for (uint32_t w = 0; w < sm->n_workers; w++)
        if (hs_session_lookup_has_listener4(&sm->workers[w].lookup, proto, lcl->fib_index, lcl->ip,
                                            lcl->port))
            return -EADDRINUSE;
    hs_app_listener_t al = {.proto = proto, .active = true, .lcl = *lcl};
    al.handles = calloc(sm->n_workers, sizeof(*al.handles));
    if (!al.handles)
        return -ENOMEM;
    int rv = 0;
    uint32_t w = 0;
    for (; w < sm->n_workers; w++)
        if ((rv = listen_on(app, &sm->workers[w], proto, lcl, &al.handles[w])) < 0)
            break; /* worker w cleaned up after itself */
    if (rv == 0 && !hs_vec_push(&app->listeners, &al))
        rv = -ENOMEM;
    if (rv < 0) {
        for (uint32_t i = 0; i < w; i++)
            unlisten_on(&sm->workers[i], al.handles[i]);
        free(al.handles);
        return rv;
    }
    *listener_id = app->listeners.len - 1;
    return 0;
}

int hs_app_unlisten(hs_app_t *app, uint32_t listener_id)
{
    if (listener_id >= app->listeners.len)
        return -ENOENT;
    hs_app_listener_t *al = hs_vec_at(&app->listeners, listener_id);
    if (!al->active)
        return -ENOENT;
    for (uint32_t w = 0; w < app->sm->n_workers; w++)
        unlisten_on(&app->sm->workers[w], al->handles[w]);
    al->active = false;
    return 0;
}

void hs_app_reset_all(hs_app_t *app)
{
    for (uint32_t w = 0; w < app->sm->n_workers; w++) {
        hs_session_worker_t *sw = &app->sm->workers[w];
        hs_pool_foreach(&sw->sessions, i)
        {
            hs_session_t *s = hs_pool_elt(&sw->sessions, i);
            if (s->app_index == app->index && s->state != HS_SESSION_LISTENING)
                hs_app_reset(sw, s);
        }
    }
}

/* ---- connect ---- */

int hs_app_connect(hs_app_t *app, hs_session_worker_t *sw, uint8_t proto, const hs_endpoint_t *rmt,
                   uint64_t opaque, hs_session_handle_t *out)
{
    const hs_transport_vft_t *tp = hs_session_vft(sw->sm, proto);
    if (!tp)
        return -EPROTONOSUPPORT;
    hs_session_t *s = hs_session_alloc(sw, proto, app->index);
    if (!s)
        return -ENOMEM;
    int rv = hs_session_fifos_alloc(sw, s, app);
    if (rv == 0) {
        s->app_opaque = opaque;
        hs_session_set_connecting(s);
        rv = tp->connect(sw, s->index, rmt);
    }
    if (rv < 0) {
        hs_session_free(sw, s); /* the transport holds nothing of it */
        return rv;
    }
    /* The connected call (not necessarily with this index) has the final say. */
    if (!(s->flags & HS_SESSION_F_OPEN))
        s->conn_index = (uint32_t)rv;
    if (out)
        *out = hs_session_handle(sw, s);
    return 0;
}

/* ---- data ---- */

/* -ENOTCONN before the open completed or after the app closed; -EPIPE once the
 * connection is gone. */
static int send_check(const hs_session_t *s)
{
    if (!(s->flags & HS_SESSION_F_OPEN) || (s->flags & HS_SESSION_F_APP_CLOSED))
        return -ENOTCONN;
    if (s->flags & (HS_SESSION_F_TP_CLOSED | HS_SESSION_F_RESET))
        return -EPIPE;
    return 0;
}

static void tx_posted(hs_session_worker_t *sw, hs_session_t *s, uint32_t n)
{
    s->app_tx_bytes += n;
    /* One request in flight: the flag is cleared when the transport takes it. */
    if (hs_fifo_set_event(&s->tx))
        hs_session_post(sw, s, HS_SEVT_APP_TX, 0);
}

static void rx_drained(hs_session_worker_t *sw, hs_session_t *s, uint32_t n)
{
    s->app_rx_bytes += n;
    if (!(s->flags & (HS_SESSION_F_APP_RX | HS_SESSION_F_TP_CLOSED))) {
        s->flags |= HS_SESSION_F_APP_RX;
        hs_session_post(sw, s, HS_SEVT_APP_RX, 0);
    }
}

int hs_app_send(hs_session_worker_t *sw, hs_session_t *s, const void *data, uint32_t len)
{
    int rv = send_check(s);
    if (rv < 0)
        return rv;
    rv = hs_fifo_enqueue(&s->tx, data, len);
    if (rv > 0)
        tx_posted(sw, s, (uint32_t)rv);
    return rv;
}

int hs_app_tx_spans(hs_session_t *s, hs_fifo_span_t spans[2])
{
    int rv = send_check(s);
    if (rv < 0) {
        spans[0] = spans[1] = (hs_fifo_span_t){0};
        return rv;
    }
    return hs_fifo_write_spans(&s->tx, spans);
}

int hs_app_tx_commit(hs_session_worker_t *sw, hs_session_t *s, uint32_t n)
{
    int rv = send_check(s);
    if (rv < 0 || n == 0)
        return rv;
    rv = hs_fifo_enqueue_commit(&s->tx, n);
    if (rv > 0)
        tx_posted(sw, s, (uint32_t)rv);
    return rv;
}

int hs_app_recv(hs_session_worker_t *sw, hs_session_t *s, void *buf, uint32_t len)
{
    if (!(s->flags & HS_SESSION_F_FIFOS))
        return -ENOTCONN;
    int rv = hs_fifo_dequeue(&s->rx, buf, len);
    if (rv > 0)
        rx_drained(sw, s, (uint32_t)rv);
    return rv;
}

int hs_app_rx_spans(hs_session_t *s, hs_fifo_span_t spans[2])
{
    if (!(s->flags & HS_SESSION_F_FIFOS)) {
        spans[0] = spans[1] = (hs_fifo_span_t){0};
        return -ENOTCONN;
    }
    return hs_fifo_read_spans(&s->rx, spans);
}

int hs_app_rx_consume(hs_session_worker_t *sw, hs_session_t *s, uint32_t n)
{
    if (!(s->flags & HS_SESSION_F_FIFOS))
        return -ENOTCONN;
    if (n == 0)
        return 0;
    int rv = hs_fifo_dequeue_commit(&s->rx, n);
    if (rv > 0)
        rx_drained(sw, s, (uint32_t)rv);
    return rv;
}

void hs_app_want_tx(hs_session_worker_t *sw, hs_session_t *s, uint32_t n)
{
    if (send_check(s) < 0)
        return;
    n = HS_MAX(1u, HS_MIN(n, hs_fifo_size(&s->tx)));
    int free_now = hs_fifo_want_deq_notif(&s->tx, n);
    if (free_now >= (int)n) {
        /* Room already: nothing will be dequeued to trigger the notification. */
        hs_fifo_want_deq_notif(&s->tx, 0);
        hs_session_post(sw, s, HS_SEVT_TX, 0);
    }
}

/* ---- closes ---- */

/* Whether the transport holds a connection for s (open, or an active open under way). */
static bool transport_has(const hs_session_t *s)
{
    return !(s->flags & HS_SESSION_F_TP_CLOSED) && s->conn_index != UINT32_MAX &&
           s->state != HS_SESSION_LISTENING;
}

int hs_app_close(hs_session_worker_t *sw, hs_session_t *s)
{
    bool was_open = s->flags & HS_SESSION_F_OPEN;
    int rv = hs_session_set_app_closed(s);
    if (rv < 0)
        return rv;
    /* A connect under way is abandoned (RFC 9293 3.10.4: CLOSE in SYN-SENT deletes the
     * TCB); the transport then says closed, and the CLOSED event frees the session. */
    if (transport_has(s))
        hs_session_post(sw, s, was_open ? HS_SEVT_APP_CLOSE : HS_SEVT_APP_RESET, 0);
    return 0;
}

int hs_app_reset(hs_session_worker_t *sw, hs_session_t *s)
{
    if (s->flags & HS_SESSION_F_RESET)
        return -EALREADY;
    s->flags |= HS_SESSION_F_RESET;
    hs_session_set_app_closed(s); /* -EALREADY after a graceful close: a reset still goes */
    if (transport_has(s))
        hs_session_post(sw, s, HS_SEVT_APP_RESET, 0);
    return 0;
}
