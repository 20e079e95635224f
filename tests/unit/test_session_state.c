/* Session state machine and lifecycle against a fake transport: every transition (legal
 * and refused), passive and active opens, half-close in both orders, resets from either
 * side, connect failure, close while connecting, deferred free (a session outlives the
 * transport's closed call until the safe point, its FIFOs then return to the segment
 * manager), batching of app requests, accept failures that leak nothing, listeners on
 * every worker. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "session/app.h"
#include "session/session.h"

/* ---- a fake transport: connections in an array, every call logged ---- */

#define FAKE_MAX 16
enum { F_LISTEN, F_UNLISTEN, F_CONNECT, F_CLOSE, F_RESET, F_APP_TX, F_APP_RX, F_POLL, F_N };

typedef struct {
    hs_transport_conn_t conns[FAKE_MAX];
    hs_transport_conn_t listeners[FAKE_MAX];
    uint32_t n_conns, n_listeners;
    uint32_t calls[F_N];
    uint32_t last_conn[F_N];
    int connect_rv; /* < 0: connect fails with it */
} fake_t;

static fake_t *fake(hs_session_worker_t *sw)
{
    return hs_session_transport_worker(sw, HS_PROTO_TCP);
}

static void logc(hs_session_worker_t *sw, int op, uint32_t conn)
{
    fake(sw)->calls[op]++;
    fake(sw)->last_conn[op] = conn;
}

static int f_listen(hs_session_worker_t *sw, uint32_t si, const hs_endpoint_t *lcl)
{
    fake_t *f = fake(sw);
    uint32_t li = f->n_listeners++;
    f->listeners[li] = (hs_transport_conn_t){.fib_index = lcl->fib_index,
                                             .lcl_ip = lcl->ip,
                                             .lcl_port = lcl->port,
                                             .proto = HS_PROTO_TCP,
                                             .conn_index = li,
                                             .session_index = si};
    logc(sw, F_LISTEN, li);
    return (int)li;
}

static void f_unlisten(hs_session_worker_t *sw, uint32_t li)
{
    logc(sw, F_UNLISTEN, li);
}

static int f_connect(hs_session_worker_t *sw, uint32_t si, const hs_endpoint_t *rmt)
{
    fake_t *f = fake(sw);
    if (f->connect_rv < 0)
        return f->connect_rv;
    uint32_t ci = f->n_conns++;
    f->conns[ci] = (hs_transport_conn_t){.rmt_ip = rmt->ip,
                                         .rmt_port = rmt->port,
                                         .lcl_ip = 0x0a000001,
                                         .lcl_port = 40000,
                                         .proto = HS_PROTO_TCP,
                                         .conn_index = ci,
                                         .session_index = si};
    logc(sw, F_CONNECT, ci);
    return (int)ci;
}

static void f_close(hs_session_worker_t *sw, uint32_t ci)
{
    logc(sw, F_CLOSE, ci);
}

static void f_reset(hs_session_worker_t *sw, uint32_t ci)
{
    logc(sw, F_RESET, ci);
}

static void f_app_tx(hs_session_worker_t *sw, uint32_t ci)
{
    logc(sw, F_APP_TX, ci);
}

static void f_app_rx(hs_session_worker_t *sw, uint32_t ci)
{
    logc(sw, F_APP_RX, ci);
}

static hs_transport_conn_t *f_get(hs_session_worker_t *sw, uint32_t ci)
{
    return ci < fake(sw)->n_conns ? &fake(sw)->conns[ci] : NULL;
}

static hs_transport_conn_t *f_get_listener(hs_session_worker_t *sw, uint32_t li)
{
    return li < fake(sw)->n_listeners ? &fake(sw)->listeners[li] : NULL;
}

static void f_poll(hs_session_worker_t *sw, uint64_t now)
{
    (void)now;
    fake(sw)->calls[F_POLL]++;
}

static void f_format(hs_session_worker_t *sw, uint32_t ci, bool verbose, hs_str_t *out)
{
    (void)sw;
    hs_str_printf(out, "    fake conn %u%s\n", ci, verbose ? " (verbose)" : "");
}

static const hs_transport_vft_t fake_vft = {
    .name = "fake",
    .listen = f_listen,
    .unlisten = f_unlisten,
    .connect = f_connect,
    .close = f_close,
    .reset = f_reset,
    .app_tx = f_app_tx,
    .app_rx = f_app_rx,
    .get = f_get,
    .get_listener = f_get_listener,
    .poll = f_poll,
    .format = f_format,
};

/* ---- a test app logging its callbacks ---- */

enum { A_ACCEPT, A_CONNECTED, A_RX, A_TX, A_CLOSING, A_RESET, A_CLOSED, A_N };

typedef struct {
    uint32_t calls[A_N];
    hs_session_handle_t last[A_N];
    int last_err;
    int accept_rv;
    bool close_on_closing;
    uint8_t rx_buf[4096];
    uint32_t rx_len;
    uint32_t closed_state;   /* s->state seen in the closed callback */
    uint32_t closed_rx_left; /* bytes still readable then */
    uint32_t sends_per_rx;   /* > 0: answer each rx with that many small sends */
} tapp_t;

static tapp_t *ta(hs_app_t *app)
{
    return app->ctx;
}

static void note(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s, int what)
{
    ta(app)->calls[what]++;
    ta(app)->last[what] = hs_session_handle(sw, s);
}

static int t_accept(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s)
{
    note(app, sw, s, A_ACCEPT);
    assert_int_equal(s->state, HS_SESSION_ACCEPTING);
    return ta(app)->accept_rv;
}

static void t_connected(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s, int err)
{
    note(app, sw, s, A_CONNECTED);
    ta(app)->last_err = err;
}

static void t_rx(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s)
{
    note(app, sw, s, A_RX);
    tapp_t *t = ta(app);
    int n = hs_app_recv(sw, s, t->rx_buf + t->rx_len, sizeof(t->rx_buf) - t->rx_len);
    if (n > 0)
        t->rx_len += (uint32_t)n;
    for (uint32_t i = 0; i < t->sends_per_rx; i++)
        assert_int_equal(hs_app_send(sw, s, "ab", 2), 2);
}

static void t_tx(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s)
{
    note(app, sw, s, A_TX);
}

static void t_closing(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s)
{
    note(app, sw, s, A_CLOSING);
    if (ta(app)->close_on_closing)
        assert_int_equal(hs_app_close(sw, s), 0);
}

static void t_reset(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s)
{
    note(app, sw, s, A_RESET);
}

static void t_closed(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s)
{
    note(app, sw, s, A_CLOSED);
    ta(app)->closed_state = s->state;
    ta(app)->closed_rx_left = (uint32_t)hs_fifo_max_dequeue(&s->rx);
}

static const hs_app_cb_t tapp_cb = {
    .accept = t_accept,
    .connected = t_connected,
    .rx = t_rx,
    .tx = t_tx,
    .closing = t_closing,
    .reset = t_reset,
    .closed = t_closed,
};

typedef struct {
    hs_session_main_t *sm;
    fake_t fk[2];
    tapp_t t;
    hs_app_t *app;
} env_t;

static int env_setup(void **state)
{
    env_t *e = calloc(1, sizeof(*e));
    hs_session_config_t cfg = {
        .seed = 5, .fifo = {.rx_fifo_size = 4096, .tx_fifo_size = 4096, .segment_size = 1 << 20}};
    assert_int_equal(hs_session_main_alloc(&e->sm, 2, &cfg), 0);
    assert_int_equal(hs_session_main_set_transport(e->sm, HS_PROTO_TCP, &fake_vft), 0);
    for (uint32_t i = 0; i < 2; i++)
        hs_session_worker_set_transport(hs_session_worker(e->sm, i), HS_PROTO_TCP, &e->fk[i]);
    assert_int_equal(hs_app_create(e->sm, "tapp", &tapp_cb, &e->t, NULL, &e->app), 0);
    *state = e;
    return 0;
}

static int env_teardown(void **state)
{
    env_t *e = *state;
    hs_session_main_free(e->sm); /* frees whatever a test left: ASan checks nothing leaks */
    free(e);
    return 0;
}

static hs_session_worker_t *w0(env_t *e)
{
    return hs_session_worker(e->sm, 0);
}

static void poll0(env_t *e)
{
    hs_session_worker_poll(w0(e), 1000);
}

/* ---- pure transitions ---- */

static void test_transitions(void **state)
{
    (void)state;
    hs_session_t s = {0};
    /* From created: exactly one of listening / connecting / accepting. */
    assert_int_equal(hs_session_set_listening(&s), 0);
    assert_int_equal(s.state, HS_SESSION_LISTENING);
    assert_int_equal(hs_session_set_connecting(&s), -EINVAL);
    assert_int_equal(hs_session_set_ready(&s), -EINVAL);
    assert_int_equal(hs_session_set_transport_closing(&s), -EINVAL);
    assert_int_equal(hs_session_set_transport_closed(&s), -EINVAL);
    assert_int_equal(s.state, HS_SESSION_LISTENING);
    assert_int_equal(hs_session_set_app_closed(&s), 1); /* unlisten: closed at once */
    assert_int_equal(s.state, HS_SESSION_CLOSED);

    /* Passive, the peer closes first: ready -> transport-closing -> closing -> closed. */
    s = (hs_session_t){0};
    assert_int_equal(hs_session_set_accepting(&s), 0);
    assert_int_equal(hs_session_set_listening(&s), -EINVAL);
    assert_int_equal(hs_session_set_ready(&s), 0);
    assert_int_equal(hs_session_set_ready(&s), -EINVAL);
    assert_int_equal(hs_session_set_transport_closing(&s), 0);
    assert_int_equal(s.state, HS_SESSION_TRANSPORT_CLOSING);
    assert_int_equal(hs_session_set_transport_closing(&s), 0); /* repeated FIN: no change */
    assert_int_equal(hs_session_set_app_closed(&s), 0);
    assert_int_equal(s.state, HS_SESSION_CLOSING);
    assert_int_equal(hs_session_set_app_closed(&s), -EALREADY);
    assert_int_equal(hs_session_set_transport_closed(&s), 1);
    assert_int_equal(s.state, HS_SESSION_CLOSED);
    assert_int_equal(hs_session_set_transport_closed(&s), -EALREADY);

    /* Active, the app closes first, then the peer's FIN, then the transport. */
    s = (hs_session_t){0};
    assert_int_equal(hs_session_set_connecting(&s), 0);
    assert_int_equal(hs_session_set_ready(&s), 0);
    assert_int_equal(hs_session_set_app_closed(&s), 0);
    assert_int_equal(s.state, HS_SESSION_CLOSING);
    assert_int_equal(hs_session_set_transport_closing(&s), 0); /* still told, still closing */
    assert_int_equal(s.state, HS_SESSION_CLOSING);
    assert_int_equal(hs_session_set_transport_closed(&s), 1);

    /* The transport goes first: transport-closed until the app is done. */
    s = (hs_session_t){0};
    hs_session_set_accepting(&s);
    hs_session_set_ready(&s);
    assert_int_equal(hs_session_set_transport_closed(&s), 0);
    assert_int_equal(s.state, HS_SESSION_TRANSPORT_CLOSED);
    assert_int_equal(hs_session_set_transport_closing(&s), -EINVAL);
    assert_int_equal(hs_session_set_ready(&s), -EINVAL);
    assert_int_equal(hs_session_set_app_closed(&s), 1);
    assert_int_equal(s.state, HS_SESSION_CLOSED);
    assert_int_equal(hs_session_set_app_closed(&s), -EALREADY);
    assert_int_equal(hs_session_set_accepting(&s), -EINVAL);

    /* A failed connect: connecting -> transport-closed -> closed. */
    s = (hs_session_t){0};
    hs_session_set_connecting(&s);
    assert_int_equal(hs_session_set_transport_closed(&s), 0);
    assert_int_equal(hs_session_set_app_closed(&s), 1);
    assert_string_equal(hs_session_state_name(HS_SESSION_TRANSPORT_CLOSING), "transport-closing");
    assert_string_equal(hs_session_state_name(200), "?");
}

/* ---- lifecycles ---- */

/* Listens on every worker and makes worker 0's transport complete a passive open. */
static hs_session_t *accept_one(env_t *e, uint32_t conn)
{
    hs_endpoint_t ep = {.ip = 0, .port = 7};
    uint32_t id;
    if (e->fk[0].n_listeners == 0)
        assert_int_equal(hs_app_listen(e->app, HS_PROTO_TCP, &ep, &id), 0);
    fake_t *f = &e->fk[0];
    f->n_conns = HS_MAX(f->n_conns, conn + 1);
    hs_transport_conn_t *tc = &f->conns[conn];
    *tc = (hs_transport_conn_t){.lcl_ip = 0x0a000002,
                                .lcl_port = 7,
                                .rmt_ip = 0x0a000001,
                                .rmt_port = (uint16_t)(50000 + conn),
                                .proto = HS_PROTO_TCP,
                                .conn_index = conn,
                                .session_index = UINT32_MAX};
    int li = hs_session_lookup_listener4(w0(e), HS_PROTO_TCP, 0, 0x0a000002, 7);
    assert_true(li >= 0);
    assert_int_equal(hs_session_accept(w0(e), (uint32_t)li, tc), 0);
    assert_int_not_equal(tc->session_index, UINT32_MAX);
    return hs_session_get(w0(e), tc->session_index);
}

static void test_passive_lifecycle(void **state)
{
    env_t *e = *state;
    hs_endpoint_t ep = {.ip = 0, .port = 7};
    uint32_t id;
    assert_int_equal(hs_app_listen(e->app, HS_PROTO_TCP, &ep, &id), 0);
    /* One listen session and one transport listener per worker. */
    assert_int_equal(e->fk[0].calls[F_LISTEN], 1);
    assert_int_equal(e->fk[1].calls[F_LISTEN], 1);
    assert_int_equal(
        hs_session_lookup_listener4(hs_session_worker(e->sm, 1), HS_PROTO_TCP, 0, 0x01020304, 7),
        0);
    assert_int_equal(hs_app_listen(e->app, HS_PROTO_TCP, &ep, &id), -EADDRINUSE);

    hs_session_t *s = accept_one(e, 0);
    assert_int_equal(s->state, HS_SESSION_ACCEPTING);
    assert_true(s->flags & HS_SESSION_F_FIFOS);
    assert_int_equal(e->t.calls[A_ACCEPT], 0); /* told at the poll, not under the transport */
    poll0(e);
    assert_int_equal(e->t.calls[A_ACCEPT], 1);
    assert_int_equal(s->state, HS_SESSION_READY);

    /* Data in: the transport fills the rx FIFO and notifies twice; one event, one read. */
    assert_int_equal(hs_fifo_enqueue(hs_session_rx_fifo(w0(e), s->index), "hello ", 6), 6);
    hs_session_notify_rx(w0(e), s->index);
    assert_int_equal(hs_fifo_enqueue(hs_session_rx_fifo(w0(e), s->index), "world", 5), 5);
    hs_session_notify_rx(w0(e), s->index);
    poll0(e);
    assert_int_equal(e->t.calls[A_RX], 1);
    assert_int_equal(e->t.rx_len, 11);
    assert_memory_equal(e->t.rx_buf, "hello world", 11);
    /* Reading asked the transport to reopen its window, once. */
    assert_int_equal(e->fk[0].calls[F_APP_RX], 1);
    assert_int_equal(e->fk[0].last_conn[F_APP_RX], 0);

    /* The peer closes; the app closes in its callback; the transport hears close. */
    e->t.close_on_closing = true;
    hs_session_transport_closing(w0(e), s->index);
    assert_int_equal(s->state, HS_SESSION_TRANSPORT_CLOSING);
    poll0(e);
    assert_int_equal(e->t.calls[A_CLOSING], 1);
    assert_int_equal(s->state, HS_SESSION_CLOSING);
    assert_int_equal(e->fk[0].calls[F_CLOSE], 1);
    assert_int_equal(hs_app_send(w0(e), s, "x", 1), -ENOTCONN);

    hs_session_handle_t h = hs_session_handle(w0(e), s);
    hs_session_transport_closed(w0(e), s->index);
    assert_int_equal(s->state, HS_SESSION_CLOSED);
    assert_ptr_equal(hs_session_from_handle(e->sm, h), s); /* not freed under the caller */
    poll0(e);
    assert_int_equal(e->t.calls[A_CLOSED], 1);
    assert_int_equal(e->t.closed_state, HS_SESSION_CLOSED);
    assert_null(hs_session_from_handle(e->sm, h));
    /* Only the two listen sessions are left; the FIFOs are back. */
    assert_int_equal(atomic_load(&e->app->n_sessions), 2);
    assert_int_equal(e->app->segs.n_pairs, 0);
    assert_int_equal(hs_app_destroy(e->app), -EBUSY);
    assert_int_equal(hs_app_unlisten(e->app, id), 0);
    assert_int_equal(e->fk[0].calls[F_UNLISTEN] + e->fk[1].calls[F_UNLISTEN], 2);
    assert_int_equal(hs_session_lookup_listener4(w0(e), HS_PROTO_TCP, 0, 0x0a000002, 7), -1);
    assert_int_equal(hs_app_unlisten(e->app, id), -ENOENT);
    assert_int_equal(hs_app_destroy(e->app), 0);
    e->app = NULL;
}

static void test_active_lifecycle(void **state)
{
    env_t *e = *state;
    hs_endpoint_t rmt = {.ip = 0x0a000009, .port = 80};
    hs_session_handle_t h;
    assert_int_equal(hs_app_connect(e->app, w0(e), HS_PROTO_TCP, &rmt, 77, &h), 0);
    hs_session_t *s = hs_session_from_handle(e->sm, h);
    assert_int_equal(s->state, HS_SESSION_CONNECTING);
    assert_int_equal(s->app_opaque, 77);
    assert_int_equal(e->fk[0].calls[F_CONNECT], 1);
    assert_int_equal(hs_app_send(w0(e), s, "x", 1), -ENOTCONN); /* not open yet */

    hs_transport_conn_t *tc = &e->fk[0].conns[0];
    assert_int_equal(hs_session_connected(w0(e), s->index, tc, 0), 0);
    assert_int_equal(s->state, HS_SESSION_READY);
    assert_int_equal(hs_session_connected(w0(e), s->index, tc, 0), -ENOENT); /* once only */
    poll0(e);
    assert_int_equal(e->t.calls[A_CONNECTED], 1);
    assert_int_equal(e->t.last_err, 0);

    /* Sends are handed to the transport once per poll, however many. */
    for (int i = 0; i < 10; i++)
        assert_int_equal(hs_app_send(w0(e), s, "0123456789", 10), 10);
    assert_int_equal(e->fk[0].calls[F_APP_TX], 0);
    poll0(e);
    assert_int_equal(e->fk[0].calls[F_APP_TX], 1);
    assert_int_equal(hs_fifo_max_dequeue(hs_session_tx_fifo(w0(e), s->index)), 100);
    assert_int_equal(s->app_tx_bytes, 100);

    /* Tx notification: only when asked, once per request. */
    hs_session_notify_tx(w0(e), s->index);
    poll0(e);
    assert_int_equal(e->t.calls[A_TX], 0);
    uint8_t junk[4096];
    assert_int_equal(hs_app_send(w0(e), s, junk, sizeof(junk)), 4096 - 100); /* now full */
    hs_app_want_tx(w0(e), s, 1000);
    hs_fifo_t *tx = hs_session_tx_fifo(w0(e), s->index);
    assert_int_equal(hs_fifo_dequeue_drop(tx, 500), 500); /* acked: not enough yet */
    hs_session_notify_tx(w0(e), s->index);
    poll0(e);
    assert_int_equal(e->t.calls[A_TX], 0);
    assert_int_equal(hs_fifo_dequeue_drop(tx, 600), 600);
    hs_session_notify_tx(w0(e), s->index);
    hs_session_notify_tx(w0(e), s->index);
    poll0(e);
    assert_int_equal(e->t.calls[A_TX], 1);
    /* Room already there: the callback comes without a transport notification. */
    hs_app_want_tx(w0(e), s, 100);
    poll0(e);
    assert_int_equal(e->t.calls[A_TX], 2);

    /* The app half-closes first, then the peer's FIN, then the transport lets go. */
    assert_int_equal(hs_app_close(w0(e), s), 0);
    assert_int_equal(hs_app_close(w0(e), s), -EALREADY);
    poll0(e);
    assert_int_equal(e->fk[0].calls[F_CLOSE], 1);
    assert_int_equal(hs_fifo_enqueue(hs_session_rx_fifo(w0(e), s->index), "late", 4), 4);
    hs_session_notify_rx(w0(e), s->index);
    hs_session_transport_closing(w0(e), s->index);
    poll0(e);
    assert_int_equal(e->t.calls[A_RX], 1); /* a half-closed app still reads */
    assert_int_equal(e->t.calls[A_CLOSING], 1);
    hs_session_transport_closed(w0(e), s->index);
    poll0(e);
    assert_int_equal(e->t.calls[A_CLOSED], 1);
    assert_null(hs_session_from_handle(e->sm, h));
    assert_int_equal(e->fk[0].calls[F_RESET], 0);
    assert_int_equal(e->app->segs.n_pairs, 0);
}

static void test_connect_failures(void **state)
{
    env_t *e = *state;
    hs_endpoint_t rmt = {.ip = 0x0a000009, .port = 80};
    hs_session_handle_t h;
    /* Refused at once by the transport: nothing is left behind. */
    e->fk[0].connect_rv = -ENETUNREACH;
    assert_int_equal(hs_app_connect(e->app, w0(e), HS_PROTO_TCP, &rmt, 1, &h), -ENETUNREACH);
    assert_int_equal(hs_pool_count(&w0(e)->sessions), 0);
    assert_int_equal(e->app->segs.n_pairs, 0);
    assert_int_equal(hs_app_connect(e->app, w0(e), HS_PROTO_UDP, &rmt, 1, &h), -EPROTONOSUPPORT);
    e->fk[0].connect_rv = 0;

    /* Fails later: the app hears the error, the session goes, the transport hears nothing. */
    assert_int_equal(hs_app_connect(e->app, w0(e), HS_PROTO_TCP, &rmt, 2, &h), 0);
    hs_session_t *s = hs_session_from_handle(e->sm, h);
    assert_int_equal(hs_session_connected(w0(e), s->index, NULL, -ECONNREFUSED), 0);
    poll0(e);
    assert_int_equal(e->t.calls[A_CONNECTED], 1);
    assert_int_equal(e->t.last_err, -ECONNREFUSED);
    assert_int_equal(e->t.calls[A_CLOSED], 0);
    assert_null(hs_session_from_handle(e->sm, h));
    assert_int_equal(e->fk[0].calls[F_RESET] + e->fk[0].calls[F_CLOSE], 0);

    /* The app gives up while connecting: the half-open is aborted (CLOSE in SYN-SENT); a
     * success that crossed the abort is answered with another reset. */
    assert_int_equal(hs_app_connect(e->app, w0(e), HS_PROTO_TCP, &rmt, 3, &h), 0);
    s = hs_session_from_handle(e->sm, h);
    assert_int_equal(hs_app_close(w0(e), s), 0);
    poll0(e);
    assert_int_equal(e->fk[0].calls[F_CLOSE], 0);
    assert_int_equal(e->fk[0].calls[F_RESET], 1);
    assert_int_equal(e->fk[0].last_conn[F_RESET], e->fk[0].last_conn[F_CONNECT]);
    hs_transport_conn_t *tc = &e->fk[0].conns[e->fk[0].last_conn[F_CONNECT]];
    assert_int_equal(hs_session_connected(w0(e), s->index, tc, 0), 0);
    poll0(e);
    assert_int_equal(e->t.calls[A_CONNECTED], 1); /* not told of a session it dropped */
    assert_int_equal(e->fk[0].calls[F_RESET], 2);
    hs_session_transport_closed(w0(e), s->index);
    poll0(e);
    assert_null(hs_session_from_handle(e->sm, h));

    /* Gives up, then the connect fails anyway before the abort went: freed quietly, and
     * the transport does not hear of a connection it already dropped. */
    assert_int_equal(hs_app_connect(e->app, w0(e), HS_PROTO_TCP, &rmt, 4, &h), 0);
    s = hs_session_from_handle(e->sm, h);
    hs_app_reset(w0(e), s);
    hs_session_connected(w0(e), s->index, NULL, -ETIMEDOUT);
    poll0(e);
    assert_int_equal(e->t.calls[A_CONNECTED], 1);
    assert_int_equal(e->fk[0].calls[F_RESET], 2);
    assert_null(hs_session_from_handle(e->sm, h));
    assert_int_equal(e->app->segs.n_pairs, 0);
}

static void test_resets(void **state)
{
    env_t *e = *state;
    /* The peer resets: the app is told, then the transport lets go. */
    hs_session_t *s = accept_one(e, 0);
    poll0(e);
    hs_session_handle_t h = hs_session_handle(w0(e), s);
    hs_session_transport_reset(w0(e), s->index);
    hs_session_transport_reset(w0(e), s->index); /* once */
    hs_session_transport_closed(w0(e), s->index);
    poll0(e);
    assert_int_equal(e->t.calls[A_RESET], 1);
    assert_int_equal(e->t.calls[A_CLOSED], 1);
    assert_null(hs_session_from_handle(e->sm, h));
    assert_int_equal(e->fk[0].calls[F_RESET], 0);

    /* The app resets: the transport is told; no reset callback for its own reset. */
    s = accept_one(e, 1);
    poll0(e);
    h = hs_session_handle(w0(e), s);
    assert_int_equal(hs_app_send(w0(e), s, "data", 4), 4);
    assert_int_equal(hs_app_reset(w0(e), s), 0);
    assert_int_equal(hs_app_reset(w0(e), s), -EALREADY);
    assert_int_equal(hs_app_send(w0(e), s, "x", 1), -ENOTCONN);
    poll0(e);
    assert_int_equal(e->fk[0].calls[F_APP_TX], 1); /* queued before the reset: in order */
    assert_int_equal(e->fk[0].calls[F_RESET], 1);
    assert_int_equal(e->fk[0].last_conn[F_RESET], 1);
    hs_session_transport_reset(w0(e), s->index);
    hs_session_transport_closed(w0(e), s->index);
    poll0(e);
    assert_int_equal(e->t.calls[A_RESET], 1);
    assert_int_equal(e->t.calls[A_CLOSED], 2);
    assert_null(hs_session_from_handle(e->sm, h));

    /* The app refuses a connection: reset, then freed. */
    e->t.accept_rv = -ECONNREFUSED;
    s = accept_one(e, 2);
    h = hs_session_handle(w0(e), s);
    poll0(e);
    assert_int_equal(e->fk[0].calls[F_RESET], 2);
    assert_int_equal(e->fk[0].last_conn[F_RESET], 2);
    hs_session_transport_closed(w0(e), s->index);
    poll0(e);
    assert_null(hs_session_from_handle(e->sm, h));
    assert_int_equal(e->app->segs.n_pairs, 0);
}

/* The transport lets go first: the session and its rx FIFO stay for the app's last look,
 * and every later transport call naming it is ignored. */
static void test_deferred_free(void **state)
{
    env_t *e = *state;
    hs_session_t *s = accept_one(e, 0);
    poll0(e);
    hs_session_handle_t h = hs_session_handle(w0(e), s);
    uint32_t si = s->index;
    assert_int_equal(hs_fifo_enqueue(hs_session_rx_fifo(w0(e), si), "tail", 4), 4);
    hs_session_transport_closing(w0(e), si);
    hs_session_transport_closed(w0(e), si);
    assert_int_equal(s->state, HS_SESSION_TRANSPORT_CLOSED);
    assert_ptr_equal(hs_session_get(w0(e), si), s);
    assert_int_equal(e->app->segs.n_pairs, 1);
    poll0(e);
    assert_int_equal(e->t.calls[A_CLOSING], 1);
    assert_int_equal(e->t.calls[A_CLOSED], 1);
    assert_int_equal(e->t.closed_state, HS_SESSION_TRANSPORT_CLOSED);
    assert_int_equal(e->t.closed_rx_left, 4); /* still readable in the last callback */
    assert_null(hs_session_from_handle(e->sm, h));
    assert_null(hs_session_get(w0(e), si));
    assert_int_equal(e->app->segs.n_pairs, 0);
    /* Late or bogus transport calls on a freed index change nothing. */
    hs_session_notify_rx(w0(e), si);
    hs_session_notify_tx(w0(e), si);
    hs_session_transport_closing(w0(e), si);
    hs_session_transport_reset(w0(e), si);
    hs_session_transport_closed(w0(e), si);
    assert_null(hs_session_rx_fifo(w0(e), si));
    assert_null(hs_session_tx_fifo(w0(e), si));
    assert_int_equal(hs_session_connected(w0(e), si, NULL, -ETIMEDOUT), -ENOENT);
    poll0(e);
    assert_int_equal(e->t.calls[A_CLOSED], 1);
    assert_int_equal(hs_pool_count(&w0(e)->sessions), 1); /* the listener */

    /* An app request queued before the transport let go is dropped, not delivered. */
    s = accept_one(e, 1);
    poll0(e);
    hs_app_send(w0(e), s, "zz", 2);
    hs_session_transport_closed(w0(e), s->index);
    uint32_t tx_before = e->fk[0].calls[F_APP_TX];
    poll0(e);
    assert_int_equal(e->fk[0].calls[F_APP_TX], tx_before);
}

static void test_accept_failures(void **state)
{
    env_t *e = *state;
    hs_transport_conn_t tc = {.lcl_ip = 0x0a000002,
                              .lcl_port = 7,
                              .rmt_ip = 0x0a000001,
                              .rmt_port = 50003,
                              .proto = HS_PROTO_TCP,
                              .conn_index = 3,
                              .session_index = UINT32_MAX};
    assert_int_equal(hs_session_accept(w0(e), 0, &tc), -ENOENT); /* no listener at all */
    accept_one(e, 0);                                            /* listens */
    e->fk[0].conns[3] = tc; /* what show session asks the transport for */
    e->fk[0].n_conns = 4;
    assert_int_equal(hs_session_accept(w0(e), 9, &tc), -ENOENT); /* unknown listener */
    tc.proto = HS_PROTO_UDP;
    assert_int_equal(hs_session_accept(w0(e), 0, &tc), -ENOENT); /* no such transport */
    tc.proto = HS_PROTO_TCP;
    /* FIFOs run out (1 MiB segments of 4 KiB pairs, 64 segments): -ENOMEM, nothing leaks. */
    uint32_t ok = 1;
    int rv;
    while ((rv = hs_session_accept(w0(e), 0, &tc)) == 0)
        ok++;
    assert_int_equal(rv, -ENOMEM);
    assert_int_equal(e->app->segs.n_segs, HS_SM_DEFAULT_MAX_SEGMENTS);
    assert_int_equal(hs_pool_count(&w0(e)->sessions), ok + 1); /* + the listener */
    assert_int_equal(w0(e)->ctr.accept_failed, 4);
    assert_int_equal(e->app->segs.n_pairs, ok);
    /* show session lists them all with the transport's addresses. */
    hs_str_t out = {0};
    hs_session_format(e->sm, true, &out);
    assert_non_null(strstr(hs_str_cstr(&out), "listening"));
    assert_non_null(strstr(hs_str_cstr(&out), "accepting"));
    assert_non_null(strstr(hs_str_cstr(&out), "10.0.0.2:7 -> 10.0.0.1:50003"));
    assert_non_null(strstr(hs_str_cstr(&out), "fake conn 3 (verbose)"));
    hs_str_free(&out);
}

/* Replies sent from an rx callback reach the transport in the same poll. */
static void test_reply_in_same_poll(void **state)
{
    env_t *e = *state;
    e->t.sends_per_rx = 3;
    hs_session_t *s = accept_one(e, 0);
    poll0(e);
    hs_fifo_enqueue(hs_session_rx_fifo(w0(e), s->index), "ping", 4);
    hs_session_notify_rx(w0(e), s->index);
    uint32_t polls = e->fk[0].calls[F_POLL];
    poll0(e);
    assert_int_equal(e->fk[0].calls[F_APP_TX], 1);
    assert_true(e->fk[0].calls[F_POLL] > polls); /* the transport polled after the request */
    assert_int_equal(hs_fifo_max_dequeue(&s->tx), 6);
    assert_int_equal(hs_session_worker_next_ns(w0(e), 5000), 5000 + HS_NS_PER_MS);
    hs_session_notify_rx(w0(e), s->index);
    hs_fifo_enqueue(hs_session_rx_fifo(w0(e), s->index), "x", 1);
    hs_session_notify_rx(w0(e), s->index);
    assert_int_equal(hs_session_worker_next_ns(w0(e), 5000), 5000); /* work queued */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transitions),
        cmocka_unit_test_setup_teardown(test_passive_lifecycle, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_active_lifecycle, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_connect_failures, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_resets, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_deferred_free, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_accept_failures, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_reply_in_same_poll, env_setup, env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
