/* The builtin echo/bulk client: N connections (at most `concurrency` open at once), each
 * sending M bytes of its own seeded pattern straight into the tx FIFO, verifying every
 * echoed byte in place in the rx FIFO, then half-closing and waiting for the server's
 * FIN. Runs on one worker; the control plane waits on `done` without holding it. */
#include "session/echo.h"
#include "infra/rand.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CONCURRENCY 256u

/* ---- the pattern ---- */

/* SplitMix64's output function: every bit of k reaches every bit of the word, so a byte
 * moved, lost or repeated anywhere in the stream changes what is expected there. */
static inline uint64_t pattern_word(uint64_t seed, uint64_t k)
{
    return hs_mix64(seed + k * HS_GOLDEN64);
}

uint64_t hs_echo_conn_seed(uint64_t seed, uint32_t conn)
{
    return pattern_word(seed, ((uint64_t)conn << 32) | 0x5eed);
}

static inline uint8_t pattern_byte(uint64_t seed, uint64_t off)
{
    return (uint8_t)(pattern_word(seed, off >> 3) >> (8 * (off & 7)));
}

void hs_echo_pattern_fill(uint64_t seed, uint64_t off, uint8_t *dst, uint32_t len)
{
    uint32_t i = 0;
    for (; i < len && ((off + i) & 7); i++)
        dst[i] = pattern_byte(seed, off + i);
    for (; i + 8 <= len; i += 8) {
        uint64_t w = pattern_word(seed, (off + i) >> 3); /* bytes in little-endian order */
        memcpy(dst + i, &w, 8);
    }
    for (; i < len; i++)
        dst[i] = pattern_byte(seed, off + i);
}

int64_t hs_echo_pattern_check(uint64_t seed, uint64_t off, const uint8_t *p, uint32_t len)
{
    uint32_t i = 0;
    for (; i < len && ((off + i) & 7); i++)
        if (p[i] != pattern_byte(seed, off + i))
            return i;
    for (; i + 8 <= len; i += 8) {
        uint64_t w = pattern_word(seed, (off + i) >> 3), got;
        memcpy(&got, p + i, 8);
        if (got != w)
            break; /* the byte loop below finds which */
    }
    for (; i < len; i++)
        if (p[i] != pattern_byte(seed, off + i))
            return i;
    return -1;
}

/* ---- the client ---- */

enum { EC_IDLE = 0, EC_CONNECTING, EC_RUNNING, EC_CLOSING, EC_DONE, EC_FAILED };

typedef struct {
    uint64_t seed;
    uint64_t sent, received;
    hs_session_handle_t handle;
    uint8_t state;
} ec_conn_t;

struct hs_echo_client {
    hs_app_t *app;
    hs_echo_client_config_t cfg;
    ec_conn_t *conns;
    uint32_t next; /* next connection to open */
    uint32_t live; /* connections with a session */
    bool started, stopping, abandoned;
    hs_echo_client_result_t r; /* written by the worker */
    _Atomic bool done;
};

static void check_done(hs_echo_client_t *c, uint64_t now)
{
    if (c->live || (c->next < c->cfg.n_clients && !c->stopping) || atomic_load(&c->done))
        return;
    if (!c->started) /* stopped before it began */
        c->r.start_ns = now;
    c->r.end_ns = now;
    if (!c->r.data_done_ns)
        c->r.data_done_ns = now;
    /* store-release: the result is complete; pairs with hs_echo_client_done's acquire */
    atomic_store_explicit(&c->done, true, memory_order_release);
}

static void fail(ec_conn_t *ec)
{
    if (ec->state != EC_DONE)
        ec->state = EC_FAILED;
}

static void start_more(hs_echo_client_t *c, hs_session_worker_t *sw)
{
    uint32_t conc = c->cfg.concurrency;
    while (!c->stopping && c->next < c->cfg.n_clients && c->live < conc) {
        uint32_t i = c->next++;
        ec_conn_t *ec = &c->conns[i];
        int rv = hs_app_connect(c->app, sw, HS_PROTO_TCP, &c->cfg.rmt, i, &ec->handle);
        if (rv < 0) {
            ec->state = EC_FAILED;
            c->r.connect_failed++;
            if (!c->r.first_error)
                c->r.first_error = rv;
            continue;
        }
        ec->state = EC_CONNECTING;
        c->live++;
    }
}

/* Fills the tx FIFO with the next pattern bytes; asks for room when more remain. */
static void send_more(hs_echo_client_t *c, hs_session_worker_t *sw, hs_session_t *s, ec_conn_t *ec)
{
    while (ec->sent < c->cfg.bytes) {
        hs_fifo_span_t sp[2];
        int room = hs_app_tx_spans(s, sp);
        if (room <= 0)
            break;
        uint64_t left = c->cfg.bytes - ec->sent;
        uint32_t n = 0;
        for (int k = 0; k < 2 && left; k++) {
            uint32_t m = (uint32_t)HS_MIN((uint64_t)sp[k].len, left);
            hs_echo_pattern_fill(ec->seed, ec->sent + n, sp[k].data, m);
            n += m;
            left -= m;
        }
        if (hs_app_tx_commit(sw, s, n) < 0)
            return;
        ec->sent += n;
        c->r.bytes_sent += n;
    }
    if (ec->sent < c->cfg.bytes)
        hs_app_want_tx(sw, s, (uint32_t)HS_MIN(c->cfg.bytes - ec->sent, hs_fifo_size(&s->tx) / 2));
}

static void ec_connected(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s, int err)
{
    hs_echo_client_t *c = app->ctx;
    ec_conn_t *ec = &c->conns[s->app_opaque];
    if (err < 0) {
        ec->state = EC_FAILED;
        c->r.connect_failed++;
        if (!c->r.first_error)
            c->r.first_error = err;
        c->live--; /* the session goes without a closed callback */
        start_more(c, sw);
        check_done(c, hs_session_worker_now(sw));
        return;
    }
    c->r.connected++;
    ec->state = EC_RUNNING;
    if (c->cfg.bytes == 0) { /* connections per second only: open, then close */
        ec->state = EC_CLOSING;
        c->r.data_done_ns = hs_session_worker_now(sw);
        hs_app_close(sw, s);
        return;
    }
    send_more(c, sw, s, ec);
}

static void ec_tx(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s)
{
    hs_echo_client_t *c = app->ctx;
    ec_conn_t *ec = &c->conns[s->app_opaque];
    if (ec->state == EC_RUNNING)
        send_more(c, sw, s, ec);
}

/* Checks n bytes of spans against the pattern; false (and the first bad byte recorded)
 * on a mismatch or on bytes beyond what was sent. */
static bool verify(hs_echo_client_t *c, ec_conn_t *ec, const hs_fifo_span_t *sp, uint32_t n)
{
    uint64_t off = ec->received;
    for (int k = 0; k < 2 && n; k++) {
        uint32_t m = HS_MIN(sp[k].len, n);
        /* An echo never holds more than was sent: bytes beyond that are wrong too. */
        uint32_t valid = off >= ec->sent ? 0 : (uint32_t)HS_MIN((uint64_t)m, ec->sent - off);
        int64_t bad = hs_echo_pattern_check(ec->seed, off, sp[k].data, valid);
        if (bad < 0 && valid < m)
            bad = valid;
        if (bad >= 0) {
            if (!c->r.verify_failed++) {
                c->r.first_bad_conn = (uint64_t)(ec - c->conns);
                c->r.first_bad_offset = off + (uint64_t)bad;
            }
            return false;
        }
        off += m;
        n -= m;
    }
    return true;
}

static void ec_rx(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s)
{
    hs_echo_client_t *c = app->ctx;
    ec_conn_t *ec = &c->conns[s->app_opaque];
    hs_fifo_span_t sp[2];
    int n = hs_app_rx_spans(s, sp);
    if (n <= 0 || ec->state == EC_FAILED)
        return;
    if (!verify(c, ec, sp, (uint32_t)n)) {
        fail(ec);
        hs_app_reset(sw, s);
        return;
    }
    hs_app_rx_consume(sw, s, (uint32_t)n);
    ec->received += (uint32_t)n;
    c->r.bytes_received += (uint32_t)n;
    c->r.bytes_verified += (uint32_t)n;
    if (ec->received == c->cfg.bytes && ec->state == EC_RUNNING) {
        ec->state = EC_CLOSING;
        c->r.data_done_ns = hs_session_worker_now(sw);
        hs_app_close(sw, s); /* half-close: the server's FIN ends it */
    }
}

static void ec_closing(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s)
{
    hs_echo_client_t *c = app->ctx;
    ec_conn_t *ec = &c->conns[s->app_opaque];
    if (ec->state == EC_CLOSING) {
        ec->state = EC_DONE;
        c->r.completed++;
        return;
    }
    if (ec->state == EC_RUNNING) { /* the server closed before echoing everything */
        c->r.closed_early++;
        fail(ec);
        hs_app_close(sw, s);
    }
}

static void ec_reset(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s)
{
    hs_echo_client_t *c = app->ctx;
    c->r.resets++;
    fail(&c->conns[s->app_opaque]);
    (void)sw;
}

static void ec_closed(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s)
{
    hs_echo_client_t *c = app->ctx;
    ec_conn_t *ec = &c->conns[s->app_opaque];
    if (ec->state != EC_DONE && ec->state != EC_FAILED) {
        c->r.closed_early++;
        ec->state = EC_FAILED;
    }
    ec->handle = HS_SESSION_HANDLE_INVALID;
    c->live--;
    start_more(c, sw);
    check_done(c, hs_session_worker_now(sw));
}

static uint64_t ec_poll(hs_app_t *app, hs_session_worker_t *sw, uint64_t now_ns)
{
    hs_echo_client_t *c = app->ctx;
    if (sw->index != c->cfg.worker || atomic_load_explicit(&c->done, memory_order_relaxed))
        return UINT64_MAX;
    if (!c->started) {
        c->started = true;
        c->r.start_ns = hs_session_worker_now(sw);
    }
    start_more(c, sw);
    check_done(c, hs_session_worker_now(sw));
    (void)now_ns;
    return UINT64_MAX; /* later connects start from the callbacks */
}

static void ec_free(hs_app_t *app)
{
    hs_echo_client_t *c = app->ctx;
    free(c->conns);
    free(c);
}

static const hs_app_cb_t ec_cb = {
    .connected = ec_connected,
    .rx = ec_rx,
    .tx = ec_tx,
    .closing = ec_closing,
    .reset = ec_reset,
    .closed = ec_closed,
    .poll = ec_poll,
    .free_ctx = ec_free,
};

int hs_echo_client_start(hs_session_main_t *sm, const hs_echo_client_config_t *cfg,
                         hs_echo_client_t **out)
{
    if (cfg->n_clients == 0 || cfg->worker >= sm->n_workers)
        return -EINVAL;
    hs_echo_client_t *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->cfg = *cfg;
    if (!c->cfg.concurrency)
        c->cfg.concurrency = HS_MIN(cfg->n_clients, DEFAULT_CONCURRENCY);
    c->r.n_clients = cfg->n_clients;
    c->conns = calloc(cfg->n_clients, sizeof(*c->conns));
    int rv = c->conns ? 0 : -ENOMEM;
    for (uint32_t i = 0; rv == 0 && i < cfg->n_clients; i++) {
        c->conns[i].seed = hs_echo_conn_seed(cfg->seed, i);
        c->conns[i].handle = HS_SESSION_HANDLE_INVALID;
    }
    if (rv == 0)
        rv = hs_app_create(sm, "echo-client", &ec_cb, c, NULL, &c->app);
    if (rv < 0) {
        ec_free(&(hs_app_t){.ctx = c});
        return rv;
    }
    *out = c;
    return 0;
}

bool hs_echo_client_done(const hs_echo_client_t *c)
{
    return atomic_load_explicit(&c->done, memory_order_acquire);
}

void hs_echo_client_stop(hs_echo_client_t *c)
{
    hs_session_main_t *sm = c->app->sm;
    c->stopping = true;
    c->r.stopped = true;
    for (uint32_t i = 0; i < c->next; i++) {
        hs_session_t *s = hs_session_from_handle(sm, c->conns[i].handle);
        if (s) {
            fail(&c->conns[i]);
            hs_app_reset(hs_session_worker(sm, s->worker), s);
        }
    }
    check_done(c, hs_session_worker_now(hs_session_worker(sm, c->cfg.worker)));
}

void hs_echo_client_result(const hs_echo_client_t *c, hs_echo_client_result_t *r)
{
    *r = c->r;
    if (hs_echo_client_done(c))
        return;
    /* A partial view (not finished): the phases so far, up to now. */
    uint64_t now = hs_session_worker_now(hs_session_worker(c->app->sm, c->cfg.worker));
    if (!r->start_ns)
        r->start_ns = now;
    if (!r->data_done_ns)
        r->data_done_ns = now;
    r->end_ns = now;
}

bool hs_echo_client_ok(const hs_echo_client_result_t *r)
{
    return r->completed == r->n_clients && !r->verify_failed && !r->connect_failed && !r->resets &&
           !r->closed_early && !r->stopped;
}

/* "X unit/s", or "n/a" for a phase too short to time (a loopback run on virtual time). */
static void format_rate(hs_str_t *out, double amount, double seconds, const char *unit)
{
    if (seconds > 0)
        hs_str_printf(out, "%.3f %s", amount / seconds, unit);
    else
        hs_str_printf(out, "n/a %s (no time passed)", unit);
}

void hs_echo_client_format(const hs_echo_client_result_t *r, hs_str_t *out)
{
    double data_s = (double)(r->data_done_ns - r->start_ns) / 1e9;
    double all_s = (double)(r->end_ns - r->start_ns) / 1e9;
    uint64_t bytes = r->bytes_sent + r->bytes_received;
    hs_str_printf(out, "%s: %u of %u connections completed and verified\n",
                  hs_echo_client_ok(r) ? "ok" : "FAILED", r->completed, r->n_clients);
    hs_str_printf(out, "  %lu bytes sent, %lu received and verified, in %.6f s: ",
                  (unsigned long)r->bytes_sent, (unsigned long)r->bytes_verified, data_s);
    format_rate(out, (double)bytes * 8 / 1e9, data_s, "Gbit/s");
    hs_str_printf(out, "\n  %u connections in %.6f s: ", r->completed, all_s);
    format_rate(out, r->completed, all_s, "connections/s");
    hs_str_printf(out, "\n");
    hs_str_printf(out, "  errors: connect failed %u", r->connect_failed);
    if (r->first_error)
        hs_str_printf(out, " (first: %s)", strerror(-r->first_error));
    hs_str_printf(out, ", resets %u, verification failures %u, closed early %u%s\n", r->resets,
                  r->verify_failed, r->closed_early,
                  r->stopped ? ", stopped before the end (timeout)" : "");
    if (r->verify_failed)
        hs_str_printf(out, "  first wrong byte: connection %lu, stream offset %lu\n",
                      (unsigned long)r->first_bad_conn, (unsigned long)r->first_bad_offset);
}

int hs_echo_client_destroy(hs_echo_client_t *c)
{
    return hs_app_destroy(c->app); /* frees c through ec_free */
}

void hs_echo_client_abandon(hs_echo_client_t *c)
{
    c->abandoned = true;
}

void hs_echo_client_reap(hs_session_main_t *sm)
{
    hs_pool_foreach(&sm->apps, i)
    {
        hs_app_t *app = hs_pool_elt(&sm->apps, i);
        hs_echo_client_t *c = app->ctx;
        if (app->cb == &ec_cb && c->abandoned && hs_echo_client_done(c))
            hs_app_destroy(app);
    }
}
