/* The TCP simulation harness shared by tests/unit/test_sim_tcp_*.c: two whole stacks
 * (packet path + TCP + session layer) in one process on one virtual clock, joined by the
 * wire driver with seeded impairments, stepped from event to event (the wire's next
 * delivery and each stack's next timer), so a run replays exactly for a given seed.
 *
 * Stack A (side 0) is 192.168.78.1/24, stack B (side 1) 192.168.78.2/24. A test app
 * (sim_app_t) runs on either side: it sends a seeded pattern on each connection, verifies
 * every byte it reads against the peer's pattern, can stop reading (zero window), close
 * after sending or after the peer's FIN, and records every callback with its time. The
 * segments each TCP emits are kept in a ring and printed when a check fails (SIM_CHECK),
 * with the wire's and TCP's counters, so a failure names what happened on the wire. */
#ifndef HS_TESTS_SIM_TCP_H
#define HS_TESTS_SIM_TCP_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drivers/wire.h"
#include "net/devices.h"
#include "net/interface.h"
#include "net/ip4.h"
#include "session/app.h"
#include "session/echo.h"
#include "session/stack.h"

#define SIM_IP_A 0xc0a84e01u /* 192.168.78.1 */
#define SIM_IP_B 0xc0a84e02u /* 192.168.78.2 */
#define SIM_MB   (1024ull * 1024)
#ifndef SIM_TRACE
#define SIM_TRACE 48 /* segments kept per side for the failure dump */
#endif
#define SIM_CONNS 16   /* connections per test app */
#define SIM_MSS   1448 /* payload of a full segment: 1500 - 40 - 12 (timestamps) */

/* Bulk volume, each way: the 100 MB in every build. It costs about 0.3 s of wall
 * time per run in a release build and 2-4 s under ASan/UBSan (measured on a 2-core VM),
 * so sanitizer builds keep the full size. */
#define SIM_BULK_BYTES (100 * SIM_MB)

/* ---- the segment trace ---- */

typedef struct {
    uint64_t t_ns;
    uint32_t seq, ack, len;
    uint16_t sport, dport, win;
    uint16_t ip_len; /* the whole datagram */
    uint8_t flags;
    uint8_t hdr_len; /* TCP header with options */
} sim_seg_t;

struct sim;

typedef struct {
    struct sim *sim;
    int side;
    hs_tcp_emit_fn emit; /* TCP's own hook, called after recording */
    void *emit_ctx;
    sim_seg_t ring[SIM_TRACE];
    uint64_t n;                 /* segments sent */
    uint64_t n_data, n_partial; /* with payload; with 1 < payload < SIM_MSS */
    uint64_t n_tiny;            /* with 1 < payload < 512 (silly windows) */
} sim_tap_t;

typedef struct sim {
    hs_clock_t clk;
    hs_wire_t *wire;
    hs_net_t *net[2];
    hs_session_main_t *sm[2];
    uint32_t sw_if[2];
    sim_tap_t tap[2];
    uint64_t seed;
    uint64_t polls;
} sim_t;

typedef struct {
    uint64_t seed;
    hs_wire_dir_config_t dir[2]; /* dir[0]: A to B */
    const hs_tcp_config_t *tcp;  /* NULL: sim_tcp_config() */
    uint32_t fifo_size;          /* both FIFOs of every session; 0: the default 256 KiB */
} sim_config_t;

static inline hs_tcp_worker_t *sim_tcp(sim_t *s, int side)
{
    return &s->sm[side]->tcp_workers[0];
}

static inline hs_session_worker_t *sim_sw(sim_t *s, int side)
{
    return hs_session_worker(s->sm[side], 0);
}

static inline uint64_t sim_now(sim_t *s)
{
    return hs_clock_now(&s->clk);
}

/* Wall-clock seconds, for the timing lines the tests print. */
static inline double sim_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* TCP defaults, except a secret derived from the seed (ISNs and ports replay) and a short
 * TIME-WAIT so tests can watch it end. */
static inline hs_tcp_config_t sim_tcp_config(uint64_t seed, int side)
{
    hs_tcp_config_t c;
    hs_tcp_config_default(&c);
    uint64_t k[2] = {seed * 0x9e3779b97f4a7c15ull + 1, (uint64_t)side + 0x5157ull};
    memcpy(c.secret, k, sizeof(k));
    c.time_wait_ns = 2 * HS_NS_PER_S;
    return c;
}

static inline void sim_tap_emit(void *ctx, hs_tcp_worker_t *tw, uint32_t bi)
{
    sim_tap_t *t = ctx;
    hs_buf_t *b = hs_buf_ptr(&tw->nw->net->bufs, bi);
    const uint8_t *ip = hs_buf_cur(b);
    uint32_t ihl = (ip[0] & 0xfu) * 4, tot = (uint32_t)ip[2] << 8 | ip[3];
    const uint8_t *th = ip + ihl;
    if (b->current_length >= ihl + HS_TCP_HDR_LEN) {
        sim_seg_t *r = &t->ring[t->n++ % SIM_TRACE];
        uint32_t doff = (th[12] >> 4) * 4u;
        r->t_ns = tw->now_ns;
        r->sport = (uint16_t)(th[0] << 8 | th[1]);
        r->dport = (uint16_t)(th[2] << 8 | th[3]);
        r->seq = (uint32_t)th[4] << 24 | (uint32_t)th[5] << 16 | (uint32_t)th[6] << 8 | th[7];
        r->ack = (uint32_t)th[8] << 24 | (uint32_t)th[9] << 16 | (uint32_t)th[10] << 8 | th[11];
        r->flags = th[13];
        r->win = (uint16_t)(th[14] << 8 | th[15]);
        r->len = tot > ihl + doff ? tot - ihl - doff : 0;
        r->ip_len = (uint16_t)tot;
        r->hdr_len = (uint8_t)doff;
        t->n_data += r->len > 0;
        t->n_partial += r->len > 1 && r->len < SIM_MSS;
        t->n_tiny += r->len > 1 && r->len < 512;
    }
    t->emit(t->emit_ctx, tw, bi);
}

static inline const char *sim_flags_str(uint8_t f, char *buf)
{
    static const char names[] = "FSRPAU";
    int n = 0;
    for (int i = 0; i < 6; i++)
        if (f & (1u << i))
            buf[n++] = names[i];
    buf[n] = 0;
    return buf;
}

/* Every non-zero drop counter of the packet path's nodes (show errors). */
static inline void sim_node_errors(sim_t *s, int side, hs_str_t *out)
{
    hs_graph_rt_t *rt = &hs_net_worker(s->net[side], 0)->rt;
    for (uint32_t n = 0; n < rt->n_nodes; n++) {
        const hs_node_reg_t *reg = rt->nodes[n].node->reg;
        for (uint16_t e = 0; e < reg->n_errors; e++)
            if (rt->nodes[n].errors[e])
                hs_str_printf(out, "  %12lu  %s: %s\n", (unsigned long)rt->nodes[n].errors[e],
                              reg->name, reg->errors[e]);
    }
}

/* What went over the wire lately and what each side counted: printed before a failed
 * check. */
static HS_UNUSED void sim_dump(sim_t *s, const char *why)
{
    printf("---- sim dump (seed %lu, t=%.6f s): %s\n", (unsigned long)s->seed,
           (double)sim_now(s) / 1e9, why);
    for (int d = 0; d < 2; d++) {
        const hs_wire_counters_t *w = hs_wire_counters(s->wire, d);
        printf("wire %c->%c: sent %lu delivered %lu lost %lu dup %lu reordered %lu corrupted "
               "%lu rate-dropped %lu overflow %lu, in flight %u\n",
               d ? 'B' : 'A', d ? 'A' : 'B', (unsigned long)w->sent, (unsigned long)w->delivered,
               (unsigned long)w->lost, (unsigned long)w->duplicated, (unsigned long)w->reordered,
               (unsigned long)w->corrupted, (unsigned long)w->rate_dropped,
               (unsigned long)w->overflow, hs_wire_in_flight(s->wire, 1 - d));
    }
    for (int i = 0; i < 2; i++) {
        hs_str_t out = {0};
        hs_tcp_format_stats(sim_tcp(s, i), &out);
        hs_str_printf(&out, "packet path errors:\n");
        sim_node_errors(s, i, &out);
        hs_session_format(s->sm[i], true, &out);
        printf("== stack %c\n%s", i ? 'B' : 'A', hs_str_cstr(&out));
        hs_str_free(&out);
        sim_tap_t *t = &s->tap[i];
        uint64_t from = t->n > SIM_TRACE ? t->n - SIM_TRACE : 0;
        printf("last %lu of %lu segments sent by %c:\n", (unsigned long)(t->n - from),
               (unsigned long)t->n, i ? 'B' : 'A');
        for (uint64_t k = from; k < t->n; k++) {
            const sim_seg_t *r = &t->ring[k % SIM_TRACE];
            char f[8];
            printf("  %.6f %u>%u %-4s seq %u ack %u win %u len %u (tcp hdr %u, ip %u)\n",
                   (double)r->t_ns / 1e9, r->sport, r->dport, sim_flags_str(r->flags, f), r->seq,
                   r->ack, r->win, r->len, r->hdr_len, r->ip_len);
        }
    }
    fflush(stdout);
}

/* A check that prints the dump before failing the test. */
#define SIM_CHECK(s, cond)                                                                         \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            sim_dump((s), #cond);                                                                  \
            fail_msg("%s:%d: %s (seed %lu)", __FILE__, __LINE__, #cond, (unsigned long)(s)->seed); \
        }                                                                                          \
    } while (0)

/* ---- set-up ---- */

static inline void sim_stack_new(sim_t *s, int i, const sim_config_t *cfg)
{
    static const uint8_t macs[2][6] = {{0x02, 0, 0, 0, 0x78, 0x01}, {0x02, 0, 0, 0, 0x78, 0x02}};
    hs_tcp_config_t tcp = cfg->tcp ? cfg->tcp[i] : sim_tcp_config(cfg->seed, i);
    hs_session_config_t sc = {.seed = cfg->seed + 1 + (uint64_t)i, .tcp = &tcp};
    sc.fifo.rx_fifo_size = sc.fifo.tx_fifo_size = cfg->fifo_size;
    hs_session_stack_config_t stc = {
        .clock = &s->clk, .n_workers = 1, .n_buffers = 16384, .session = &sc, .flow_seed = 1};
    assert_int_equal(hs_session_stack_create_cfg(&stc, &s->net[i], &s->sm[i]), 0);
    uint32_t sw;
    assert_int_equal(hs_wire_if_create(s->net[i], s->wire, i, "wire0", macs[i], &sw), 0);
    assert_int_equal(hs_interface_set_admin(s->net[i], sw, true), 0);
    assert_int_equal(hs_ip4_interface_address(s->net[i], sw, i ? SIM_IP_B : SIM_IP_A, 24, false),
                     0);
    s->sw_if[i] = sw;
    hs_tcp_worker_t *tw = sim_tcp(s, i);
    s->tap[i] = (sim_tap_t){.sim = s, .side = i, .emit = tw->emit, .emit_ctx = tw->emit_ctx};
    tw->emit = sim_tap_emit;
    tw->emit_ctx = &s->tap[i];
}

/* cfg->tcp, when set, points at two configs (A's and B's). HS_SIM_SEED in the environment
 * replaces the test's seed (to explore; a failure prints the seed to replay it with). */
static HS_UNUSED sim_t *sim_create(const sim_config_t *cfg_in)
{
    sim_config_t c = *cfg_in;
    const sim_config_t *cfg = &c;
    const char *env = getenv("HS_SIM_SEED");
    if (env && *env)
        c.seed = strtoull(env, NULL, 0);
    sim_t *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    s->seed = cfg->seed;
    hs_clock_init_virtual(&s->clk, HS_NS_PER_S);
    hs_wire_config_t wc = {.seed = cfg->seed, .max_in_flight = 16384};
    wc.dir[0] = cfg->dir[0];
    wc.dir[1] = cfg->dir[1];
    assert_int_equal(hs_wire_create(&s->wire, &wc), 0);
    sim_stack_new(s, 0, cfg);
    sim_stack_new(s, 1, cfg);
    return s;
}

/* A LAN: 50 us each way, nothing else. */
static inline sim_config_t sim_lan(uint64_t seed)
{
    sim_config_t c = {.seed = seed};
    c.dir[0].delay_ns = c.dir[1].delay_ns = 50 * HS_NS_PER_US;
    return c;
}

static HS_UNUSED void sim_destroy(sim_t *s)
{
    for (int i = 0; i < 2; i++)
        hs_session_stack_destroy(s->net[i], s->sm[i]);
    hs_wire_destroy(s->wire);
    free(s);
}

/* ---- running ---- */

/* Everything due at the current time, until nothing moves (bounded). */
static inline void sim_poll(sim_t *s)
{
    uint64_t now = sim_now(s);
    for (int round = 0; round < 1000; round++) {
        uint32_t moved = 0;
        for (int i = 0; i < 2; i++)
            moved += hs_session_stack_poll(s->net[i], s->sm[i], 0, now);
        s->polls++;
        if (!moved)
            return;
    }
}

static inline uint64_t sim_next(sim_t *s)
{
    uint64_t now = sim_now(s), t = UINT64_MAX;
    for (int i = 0; i < 2; i++) {
        t = HS_MIN(t, hs_wire_next_delivery(s->wire, i));
        t = HS_MIN(t, hs_session_stack_next_ns(s->net[i], s->sm[i], 0, now));
    }
    return t;
}

/* A run that has not finished after this much wall time is stuck (a livelock: events
 * that keep the clock from moving): it fails with the dump, keeping each test program
 * under the 60 s budget. */
#define SIM_WALL_MAX_S 45.0

/* Runs from event to event until done(ctx) (checked after every step) or max_ns of
 * virtual time have passed. Returns whether done was reached (always false without done). */
static HS_UNUSED bool sim_run(sim_t *s, bool (*done)(void *), void *ctx, uint64_t max_ns)
{
    uint64_t until = sim_now(s) + max_ns, steps = 0;
    double w0 = sim_wall();
    for (;;) {
        sim_poll(s);
        if (done && done(ctx))
            return true;
        uint64_t now = sim_now(s), next = sim_next(s);
        if (next <= now)
            next = now + HS_NS_PER_US; /* due but nothing moved: let time pass */
        if (next > until) {
            hs_clock_set(&s->clk, until);
            sim_poll(s);
            return done && done(ctx);
        }
        hs_clock_set(&s->clk, next);
        if ((++steps & 0xfff) == 0 && sim_wall() - w0 > SIM_WALL_MAX_S) {
            sim_dump(s, "stuck: the wall-time limit ran out");
            fail_msg("sim_run: no end after %.0f s of wall time, %.6f s virtual (seed %lu)",
                     SIM_WALL_MAX_S, (double)sim_now(s) / 1e9, (unsigned long)s->seed);
        }
    }
}

static inline uint64_t sim_tcp_stat(sim_t *s, int side, hs_tcp_stat_t st)
{
    return sim_tcp(s, side)->stats[st];
}

static inline uint64_t sim_tcp_drop(sim_t *s, int side, int reason)
{
    return sim_tcp(s, side)->drops[reason];
}

/* Sessions alive on a side (listeners included). */
static inline uint32_t sim_sessions(sim_t *s, int side)
{
    return hs_pool_count(&sim_sw(s, side)->sessions);
}

static inline uint32_t sim_tcp_conns(sim_t *s, int side)
{
    return hs_pool_count(&sim_tcp(s, side)->conns);
}

/* ---- the test app ---- */

typedef struct {
    hs_session_handle_t h;
    uint64_t sent, received;
    int connect_err; /* the connected callback's err */
    bool connected, closing, reset, closed, closed_by_app, bad;
    uint64_t t_open, t_closing, t_reset, t_closed, t_rx_done;
} sim_conn_t;

typedef struct {
    uint64_t tx_bytes;         /* sent on each connection */
    uint64_t tx_seed, rx_seed; /* our pattern, and the peer's */
    bool close_after_tx;       /* close as soon as everything is queued */
    bool close_on_fin;         /* close once the peer's FIN came and everything was read */
    bool paused;               /* do not read (the rx FIFO fills, the window closes) */
} sim_app_cfg_t;

typedef struct {
    sim_app_cfg_t cfg;
    sim_t *sim;
    int side;
    hs_app_t *app;
    uint32_t listener;
    sim_conn_t conns[SIM_CONNS];
    uint32_t n_conns;
    uint64_t verify_failed, first_bad_off;
    uint64_t rx_evts_paused; /* rx callbacks that came while paused */
} sim_app_t;

static inline sim_conn_t *sim_app_conn(sim_app_t *a, hs_session_t *s)
{
    return s->app_opaque < a->n_conns ? &a->conns[s->app_opaque] : NULL;
}

static inline void sim_app_send(sim_app_t *a, hs_session_worker_t *sw, hs_session_t *s,
                                sim_conn_t *c)
{
    while (c->sent < a->cfg.tx_bytes) {
        hs_fifo_span_t sp[2];
        int room = hs_app_tx_spans(s, sp);
        if (room <= 0)
            break;
        uint64_t left = a->cfg.tx_bytes - c->sent;
        uint32_t n = 0;
        for (int k = 0; k < 2 && left; k++) {
            uint32_t m = (uint32_t)HS_MIN((uint64_t)sp[k].len, left);
            hs_echo_pattern_fill(a->cfg.tx_seed, c->sent + n, sp[k].data, m);
            n += m;
            left -= m;
        }
        if (hs_app_tx_commit(sw, s, n) < 0)
            return;
        c->sent += n;
    }
    if (c->sent < a->cfg.tx_bytes)
        hs_app_want_tx(sw, s, HS_MIN(hs_fifo_size(&s->tx) / 2, 64u * 1024));
    else if (a->cfg.close_after_tx && !c->closed_by_app) {
        c->closed_by_app = true;
        hs_app_close(sw, s);
    }
}

static inline void sim_app_maybe_close(sim_app_t *a, hs_session_worker_t *sw, hs_session_t *s,
                                       sim_conn_t *c)
{
    if (a->cfg.close_on_fin && c->closing && !c->closed_by_app && !a->cfg.paused &&
        c->sent == a->cfg.tx_bytes && hs_fifo_max_dequeue(&s->rx) == 0) {
        c->closed_by_app = true;
        hs_app_close(sw, s);
    }
}

/* Reads and verifies everything readable. */
static inline void sim_app_read(sim_app_t *a, hs_session_worker_t *sw, hs_session_t *s,
                                sim_conn_t *c)
{
    hs_fifo_span_t sp[2];
    int n = hs_app_rx_spans(s, sp);
    if (n <= 0)
        return;
    uint64_t off = c->received;
    for (int k = 0; k < 2; k++) {
        int64_t bad = hs_echo_pattern_check(a->cfg.rx_seed, off, sp[k].data, sp[k].len);
        if (bad >= 0 && !c->bad) {
            c->bad = true;
            if (!a->verify_failed++)
                a->first_bad_off = off + (uint64_t)bad;
        }
        off += sp[k].len;
    }
    hs_app_rx_consume(sw, s, (uint32_t)n);
    c->received += (uint32_t)n;
    c->t_rx_done = sw->now_ns;
}

static inline int sim_app_accept(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s)
{
    sim_app_t *a = app->ctx;
    if (a->n_conns == SIM_CONNS)
        return -ENOSPC;
    s->app_opaque = a->n_conns;
    sim_conn_t *c = &a->conns[a->n_conns++];
    *c = (sim_conn_t){.h = hs_session_handle(sw, s), .connected = true, .t_open = sw->now_ns};
    sim_app_send(a, sw, s, c);
    return 0;
}

static inline void sim_app_connected(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s,
                                     int err)
{
    sim_app_t *a = app->ctx;
    sim_conn_t *c = sim_app_conn(a, s);
    if (!c)
        return;
    c->connect_err = err;
    c->t_open = sw->now_ns;
    if (err < 0)
        return;
    c->connected = true;
    sim_app_send(a, sw, s, c);
}

static inline void sim_app_rx(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s)
{
    sim_app_t *a = app->ctx;
    sim_conn_t *c = sim_app_conn(a, s);
    if (!c)
        return;
    if (a->cfg.paused) {
        a->rx_evts_paused++;
        return;
    }
    sim_app_read(a, sw, s, c);
    sim_app_maybe_close(a, sw, s, c);
}

static inline void sim_app_tx(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s)
{
    sim_app_t *a = app->ctx;
    sim_conn_t *c = sim_app_conn(a, s);
    if (c) {
        sim_app_send(a, sw, s, c);
        sim_app_maybe_close(a, sw, s, c);
    }
}

static inline void sim_app_closing(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s)
{
    sim_app_t *a = app->ctx;
    sim_conn_t *c = sim_app_conn(a, s);
    if (!c)
        return;
    c->closing = true;
    c->t_closing = sw->now_ns;
    if (!a->cfg.paused)
        sim_app_read(a, sw, s, c);
    sim_app_maybe_close(a, sw, s, c);
}

static inline void sim_app_reset(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s)
{
    sim_app_t *a = app->ctx;
    sim_conn_t *c = sim_app_conn(a, s);
    if (c) {
        c->reset = true;
        c->t_reset = sw->now_ns;
    }
}

static inline void sim_app_closed(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s)
{
    sim_app_t *a = app->ctx;
    sim_conn_t *c = sim_app_conn(a, s);
    if (!c)
        return;
    if (!a->cfg.paused)
        sim_app_read(a, sw, s, c); /* the rx FIFO may still be read here */
    c->closed = true;
    c->t_closed = sw->now_ns;
    c->h = HS_SESSION_HANDLE_INVALID;
}

static const hs_app_cb_t sim_app_cb HS_UNUSED = {
    .accept = sim_app_accept,
    .connected = sim_app_connected,
    .rx = sim_app_rx,
    .tx = sim_app_tx,
    .closing = sim_app_closing,
    .reset = sim_app_reset,
    .closed = sim_app_closed,
};

/* An app on side; the caller keeps a (zeroed or static) sim_app_t. */
static HS_UNUSED void sim_app_init(sim_app_t *a, sim_t *s, int side, const char *name,
                                   const sim_app_cfg_t *cfg)
{
    memset(a, 0, sizeof(*a));
    a->cfg = *cfg;
    a->sim = s;
    a->side = side;
    assert_int_equal(hs_app_create(s->sm[side], name, &sim_app_cb, a, NULL, &a->app), 0);
}

static HS_UNUSED void sim_app_listen(sim_app_t *a, uint16_t port)
{
    hs_endpoint_t ep = {.ip = a->side ? SIM_IP_B : SIM_IP_A, .port = port};
    assert_int_equal(hs_app_listen(a->app, HS_PROTO_TCP, &ep, &a->listener), 0);
}

/* Control plane (between steps): an active open toward the other side's port. */
static HS_UNUSED sim_conn_t *sim_app_connect(sim_app_t *a, uint16_t port)
{
    assert_true(a->n_conns < SIM_CONNS);
    sim_conn_t *c = &a->conns[a->n_conns];
    *c = (sim_conn_t){.h = HS_SESSION_HANDLE_INVALID};
    hs_endpoint_t rmt = {.ip = a->side ? SIM_IP_A : SIM_IP_B, .port = port};
    assert_int_equal(
        hs_app_connect(a->app, sim_sw(a->sim, a->side), HS_PROTO_TCP, &rmt, a->n_conns, &c->h), 0);
    a->n_conns++;
    return c;
}

/* The live session of a connection, or NULL once it is gone. */
static HS_UNUSED hs_session_t *sim_app_session(sim_app_t *a, sim_conn_t *c)
{
    return hs_session_from_handle(a->sim->sm[a->side], c->h);
}

/* Control plane: starts reading again (and reads what waited). */
static HS_UNUSED void sim_app_resume(sim_app_t *a)
{
    a->cfg.paused = false;
    hs_session_worker_t *sw = sim_sw(a->sim, a->side);
    for (uint32_t i = 0; i < a->n_conns; i++) {
        hs_session_t *s = sim_app_session(a, &a->conns[i]);
        if (s) {
            sim_app_read(a, sw, s, &a->conns[i]);
            sim_app_maybe_close(a, sw, s, &a->conns[i]);
        }
    }
}

/* Control plane: graceful close / reset of one connection. */
static HS_UNUSED void sim_app_close(sim_app_t *a, sim_conn_t *c)
{
    hs_session_t *s = sim_app_session(a, c);
    assert_non_null(s);
    c->closed_by_app = true;
    assert_int_equal(hs_app_close(sim_sw(a->sim, a->side), s), 0);
}

static HS_UNUSED void sim_app_abort(sim_app_t *a, sim_conn_t *c)
{
    hs_session_t *s = sim_app_session(a, c);
    assert_non_null(s);
    c->closed_by_app = true;
    assert_int_equal(hs_app_reset(sim_sw(a->sim, a->side), s), 0);
}

/* Done once the app has seen the closed callback of every connection. */
static HS_UNUSED bool sim_app_all_closed(void *ctx)
{
    sim_app_t *a = ctx;
    for (uint32_t i = 0; i < a->n_conns; i++)
        if (!a->conns[i].closed && a->conns[i].connect_err == 0)
            return false;
    return a->n_conns > 0;
}

typedef struct {
    sim_app_t *a, *b;
} sim_pair_t;

static HS_UNUSED bool sim_pair_closed(void *ctx)
{
    sim_pair_t *p = ctx;
    return sim_app_all_closed(p->a) && sim_app_all_closed(p->b);
}

/* ---- bulk transfer ---- */

typedef struct {
    double wall_s, virt_s;
    uint64_t retransmits, timeouts, fast_retransmits;
} sim_bulk_result_t;

static HS_UNUSED bool sim_bulk_done(void *ctx)
{
    return sim_pair_closed(ctx);
}

/* A connects to B; A sends a_bytes and B b_bytes at once. A half-closes when its data is
 * queued, B closes after A's FIN once its own data is queued. Every byte is verified on
 * both sides, both see the peer's FIN, nobody sees a reset. max_virt_ns bounds the run. */
static HS_UNUSED sim_bulk_result_t sim_bulk2(sim_t *s, uint64_t a_bytes, uint64_t b_bytes,
                                             uint64_t max_virt_ns)
{
    static sim_app_t a, b; /* large: not on the stack */
    sim_app_cfg_t ac = {.tx_bytes = a_bytes,
                        .tx_seed = s->seed * 2 + 1,
                        .rx_seed = s->seed * 2 + 2,
                        .close_after_tx = true,
                        .close_on_fin = true};
    sim_app_cfg_t bc = {
        .tx_bytes = b_bytes, .tx_seed = ac.rx_seed, .rx_seed = ac.tx_seed, .close_on_fin = true};
    sim_app_init(&a, s, 0, "bulk-a", &ac);
    sim_app_init(&b, s, 1, "bulk-b", &bc);
    sim_app_listen(&b, 5001);
    double w0 = sim_wall();
    uint64_t v0 = sim_now(s);
    sim_app_connect(&a, 5001);
    sim_pair_t p = {&a, &b};
    bool ok = sim_run(s, sim_bulk_done, &p, max_virt_ns);
    sim_bulk_result_t r = {.wall_s = sim_wall() - w0, .virt_s = (double)(sim_now(s) - v0) / 1e9};
    for (int i = 0; i < 2; i++) {
        r.retransmits += sim_tcp_stat(s, i, HS_TCP_S_RETRANSMITS);
        r.timeouts += sim_tcp_stat(s, i, HS_TCP_S_TIMEOUTS);
        r.fast_retransmits += sim_tcp_stat(s, i, HS_TCP_S_FAST_RETRANSMITS);
    }
    printf("bulk %lu bytes A to B, %lu B to A (seed %lu): %s in %.2f s wall, %.3f s virtual "
           "(%.2f Gbit/s virtual); retransmits %lu (fast %lu), timeouts %lu\n",
           (unsigned long)a_bytes, (unsigned long)b_bytes, (unsigned long)s->seed,
           ok ? "done" : "NOT DONE", r.wall_s, r.virt_s,
           r.virt_s > 0 ? (double)(a_bytes + b_bytes) * 8 / r.virt_s / 1e9 : 0.0,
           (unsigned long)r.retransmits, (unsigned long)r.fast_retransmits,
           (unsigned long)r.timeouts);
    SIM_CHECK(s, ok);
    sim_conn_t *ca = &a.conns[0], *cb = &b.conns[0];
    SIM_CHECK(s, a.n_conns == 1 && b.n_conns == 1);
    SIM_CHECK(s, ca->connect_err == 0);
    SIM_CHECK(s, a.verify_failed == 0 && b.verify_failed == 0);
    SIM_CHECK(s, ca->sent == a_bytes && cb->sent == b_bytes);
    SIM_CHECK(s, ca->received == b_bytes && cb->received == a_bytes);
    SIM_CHECK(s, ca->closing && cb->closing && !ca->reset && !cb->reset);
    SIM_CHECK(s, sim_tcp_stat(s, 0, HS_TCP_S_RST_OUT) == 0);
    SIM_CHECK(s, sim_tcp_stat(s, 1, HS_TCP_S_RST_OUT) == 0);
    return r;
}

/* The same amount each way at once. */
static HS_UNUSED sim_bulk_result_t sim_bulk(sim_t *s, uint64_t bytes, uint64_t max_virt_ns)
{
    return sim_bulk2(s, bytes, bytes, max_virt_ns);
}

#endif
