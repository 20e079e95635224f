/* The builtin echo server: whatever arrives is copied from the session's rx FIFO straight
 * into its tx FIFO; once the peer half-closes and everything received has been queued
 * back, the server closes its side too (the FIN follows the last echoed byte). */
#include "session/echo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ES_PEER_CLOSED (1u << 0) /* s->app_flags */
#define ES_CLOSED      (1u << 1)

/* Counters per worker, each on its own lines: sessions live on every worker. */
typedef struct {
    hs_echo_server_stats_t st;
} HS_CACHE_ALIGNED es_worker_t;

struct hs_echo_server {
    hs_app_t *app;
    hs_endpoint_t ep;
    uint32_t listener;
    bool listening;
    es_worker_t *wk;
};

/* Copies n bytes from the rx spans to the tx spans. */
static void copy_spans(const hs_fifo_span_t *from, const hs_fifo_span_t *to, uint32_t n)
{
    uint32_t fi = 0, fo = 0, ti = 0, to_off = 0;
    while (n) {
        uint32_t k = HS_MIN(n, HS_MIN(from[fi].len - fo, to[ti].len - to_off));
        memcpy(to[ti].data + to_off, from[fi].data + fo, k);
        n -= k;
        fo += k;
        to_off += k;
        if (fo == from[fi].len)
            fi++, fo = 0;
        if (to_off == to[ti].len)
            ti++, to_off = 0;
    }
}

/* Moves what fits from rx to tx; asks for room when tx is full; closes after the peer's
 * FIN once nothing is left to echo. */
static void pump(hs_echo_server_t *es, hs_session_worker_t *sw, hs_session_t *s)
{
    hs_fifo_span_t rx[2], tx[2];
    int avail = hs_app_rx_spans(s, rx);
    if (avail > 0) {
        int room = hs_app_tx_spans(s, tx);
        if (room < 0)
            return; /* reset or gone: nothing to echo to */
        uint32_t n = HS_MIN((uint32_t)avail, (uint32_t)room);
        if (n) {
            copy_spans(rx, tx, n);
            hs_app_tx_commit(sw, s, n);
            hs_app_rx_consume(sw, s, n);
            es->wk[sw->index].st.bytes += n;
        }
        if (n < (uint32_t)avail) {
            hs_app_want_tx(sw, s, HS_MIN((uint32_t)avail - n, hs_fifo_size(&s->tx) / 2));
            return;
        }
    }
    if ((s->app_flags & (ES_PEER_CLOSED | ES_CLOSED)) == ES_PEER_CLOSED &&
        hs_fifo_max_dequeue(&s->rx) == 0) {
        s->app_flags |= ES_CLOSED;
        hs_app_close(sw, s);
    }
}

static int es_accept(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s)
{
    hs_echo_server_t *es = app->ctx;
    es->wk[sw->index].st.accepted++;
    es->wk[sw->index].st.active++;
    (void)s;
    return 0;
}

static void es_rx(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s)
{
    pump(app->ctx, sw, s);
}

static void es_closing(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s)
{
    s->app_flags |= ES_PEER_CLOSED;
    pump(app->ctx, sw, s);
}

static void es_reset(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s)
{
    hs_echo_server_t *es = app->ctx;
    es->wk[sw->index].st.resets++;
    (void)s;
}

static void es_closed(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s)
{
    hs_echo_server_t *es = app->ctx;
    es_worker_t *w = &es->wk[sw->index];
    w->st.closed++;
    if (w->st.active)
        w->st.active--;
    (void)s;
}

static void es_free(hs_app_t *app)
{
    hs_echo_server_t *es = app->ctx;
    free(es->wk);
    free(es);
}

static const hs_app_cb_t es_cb = {
    .accept = es_accept,
    .rx = es_rx,
    .tx = es_rx, /* room in tx: the same pump */
    .closing = es_closing,
    .reset = es_reset,
    .closed = es_closed,
    .free_ctx = es_free,
};

int hs_echo_server_start(hs_session_main_t *sm, const hs_endpoint_t *ep, hs_echo_server_t **out)
{
    hs_echo_server_t *es = calloc(1, sizeof(*es));
    if (!es)
        return -ENOMEM;
    es->ep = *ep;
    es->wk = aligned_alloc(HS_CACHE_LINE, sm->n_workers * sizeof(*es->wk));
    if (!es->wk) {
        free(es);
        return -ENOMEM;
    }
    memset(es->wk, 0, sm->n_workers * sizeof(*es->wk));
    char name[HS_SM_NAME_MAX];
    snprintf(name, sizeof(name), "echo-server-%u", ep->port);
    int rv = hs_app_create(sm, name, &es_cb, es, NULL, &es->app);
    if (rv < 0) {
        es_free(&(hs_app_t){.ctx = es});
        return rv;
    }
    rv = hs_app_listen(es->app, HS_PROTO_TCP, ep, &es->listener);
    if (rv < 0) {
        hs_app_destroy(es->app); /* frees es */
        return rv;
    }
    es->listening = true;
    *out = es;
    return 0;
}

void hs_echo_server_stop(hs_echo_server_t *es)
{
    if (es->listening)
        hs_app_unlisten(es->app, es->listener);
    es->listening = false;
    hs_app_reset_all(es->app);
}

int hs_echo_server_destroy(hs_echo_server_t *es)
{
    if (es->listening)
        return -EBUSY;
    return hs_app_destroy(es->app); /* frees es through es_free */
}

bool hs_echo_server_listening(const hs_echo_server_t *es)
{
    return es->listening;
}

const hs_endpoint_t *hs_echo_server_endpoint(const hs_echo_server_t *es)
{
    return &es->ep;
}

uint32_t hs_echo_server_sessions(const hs_echo_server_t *es)
{
    return atomic_load_explicit(&es->app->n_sessions, memory_order_acquire);
}

void hs_echo_server_stats(const hs_echo_server_t *es, hs_echo_server_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    for (uint32_t w = 0; w < es->app->sm->n_workers; w++) {
        const hs_echo_server_stats_t *s = &es->wk[w].st;
        st->accepted += s->accepted;
        st->closed += s->closed;
        st->resets += s->resets;
        st->bytes += s->bytes;
        st->active += s->active;
    }
}

hs_echo_server_t *hs_echo_server_find(hs_session_main_t *sm, const hs_endpoint_t *ep)
{
    hs_pool_foreach(&sm->apps, i)
    {
        hs_app_t *app = hs_pool_elt(&sm->apps, i);
        hs_echo_server_t *es = app->ctx;
        if (app->cb == &es_cb && es->ep.fib_index == ep->fib_index && es->ep.ip == ep->ip &&
            es->ep.port == ep->port)
            return es;
    }
    return NULL;
}

void hs_echo_server_reap(hs_session_main_t *sm)
{
    hs_pool_foreach(&sm->apps, i)
    {
        hs_app_t *app = hs_pool_elt(&sm->apps, i);
        if (app->cb == &es_cb && !((hs_echo_server_t *)app->ctx)->listening)
            hs_app_destroy(app); /* -EBUSY while its connections are still going */
    }
}

void hs_echo_server_format_all(hs_session_main_t *sm, hs_str_t *out)
{
    char ip[16];
    hs_pool_foreach(&sm->apps, i)
    {
        hs_app_t *app = hs_pool_elt(&sm->apps, i);
        if (app->cb != &es_cb)
            continue;
        hs_echo_server_t *es = app->ctx;
        hs_echo_server_stats_t st;
        hs_echo_server_stats(es, &st);
        uint32_t a = es->ep.ip;
        snprintf(ip, sizeof(ip), "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff,
                 a & 0xff);
        hs_str_printf(out,
                      "echo server tcp://%s/%u%s: %u open, %lu accepted, %lu closed, %lu "
                      "reset, %lu bytes echoed\n",
                      ip, es->ep.port, es->listening ? "" : " (stopping)", st.active,
                      (unsigned long)st.accepted, (unsigned long)st.closed,
                      (unsigned long)st.resets, (unsigned long)st.bytes);
    }
}
