/* Simulation: flow control. B's app stops reading: its rx FIFO fills, the window it offers
 * closes, A keeps the connection alive with zero-window probes (RFC 9293 3.8.6.1, backed
 * off) and sends nothing else; when B reads again its window update reopens the flow. A
 * second case loses that window update: the next probe finds the open window. Every
 * byte is verified. */
#include "drivers/wire.h"
#include "session/stack.h"
#include "sim_tcp.h"

#define PORT  7000
#define BYTES (4 * SIM_MB)

typedef struct {
    sim_t *s;
    sim_app_t a, b;
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    sim_config_t cfg = sim_lan(0x3e40);
    f->s = sim_create(&cfg);
    sim_app_cfg_t ac = {.tx_bytes = BYTES, .tx_seed = 5, .rx_seed = 6, .close_after_tx = true};
    sim_app_cfg_t bc = {.tx_seed = 6, .rx_seed = 5, .close_on_fin = true, .paused = true};
    sim_app_init(&f->a, f->s, 0, "sender", &ac);
    sim_app_init(&f->b, f->s, 1, "stalled-reader", &bc);
    sim_app_listen(&f->b, PORT);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    sim_destroy(f->s);
    free(f);
    return 0;
}

static hs_tcp_conn_t *conn_of(sim_t *s, int side)
{
    hs_tcp_worker_t *tw = sim_tcp(s, side);
    hs_pool_foreach(&tw->conns, i) return hs_tcp_conn_get(tw, i);
    return NULL;
}

static bool done(void *ctx)
{
    fx_t *f = ctx;
    return sim_pair_closed(&(sim_pair_t){&f->a, &f->b});
}

/* Connects and runs `stall_ns` with B not reading; checks the window closed and only
 * probes crossed while it was. */
static void stall(fx_t *f, uint64_t stall_ns)
{
    sim_t *s = f->s;
    sim_app_connect(&f->a, PORT);
    sim_run(s, NULL, NULL, 50 * HS_NS_PER_MS); /* fills B's FIFO */
    hs_session_t *bs = sim_app_session(&f->b, &f->b.conns[0]);
    /* Full to a segment or so; the window B offers (scaled down to its 512-byte units) is
     * too small for A to send into (sender SWS avoidance). */
    SIM_CHECK(s,
              bs && hs_fifo_size(&bs->rx) - (uint32_t)hs_fifo_max_dequeue(&bs->rx) < 2 * SIM_MSS);
    hs_tcp_conn_t *ac = conn_of(s, 0);
    SIM_CHECK(s, ac && ac->snd_wnd < SIM_MSS);
    SIM_CHECK(s, ac->snd_una == ac->snd_max); /* everything sent was taken */
    uint64_t sent0 = sim_tcp_stat(s, 0, HS_TCP_S_BYTES_OUT);
    uint64_t segs0 = sim_tcp_stat(s, 0, HS_TCP_S_SEGS_OUT);
    sim_run(s, NULL, NULL, stall_ns);
    uint64_t probes = sim_tcp_stat(s, 0, HS_TCP_S_ZERO_WINDOW_PROBES);
    printf("window closed for %.1f s: %lu zero-window probes\n", (double)stall_ns / 1e9,
           (unsigned long)probes);
    /* Backed off from the RTO (200 ms) towards rto_max: a handful, not one per tick. */
    SIM_CHECK(s, probes >= 3 && probes <= 12);
    SIM_CHECK(s, sim_tcp_stat(s, 0, HS_TCP_S_SEGS_OUT) - segs0 == probes);
    /* No new data beyond what the last (sub-MSS) window allowed: the first persist expiry
     * may send it (RFC 9293 3.8.6.2.1 (d)), then only empty probes at SND.UNA - 1. */
    SIM_CHECK(s, sim_tcp_stat(s, 0, HS_TCP_S_BYTES_OUT) - sent0 < SIM_MSS);
    SIM_CHECK(s, sim_tcp_stat(s, 0, HS_TCP_S_TIMEOUTS) == 0);
    SIM_CHECK(s, !f->a.conns[0].reset && !f->b.conns[0].reset);
    SIM_CHECK(s, f->b.conns[0].received == 0 && f->b.rx_evts_paused > 0);
}

static void check_all_through(fx_t *f)
{
    sim_t *s = f->s;
    SIM_CHECK(s, f->b.conns[0].received == BYTES && !f->b.conns[0].bad);
    SIM_CHECK(s, f->a.verify_failed == 0 && f->b.verify_failed == 0);
    SIM_CHECK(s, !f->a.conns[0].reset && !f->b.conns[0].reset);
}

static void test_zero_window_reopen(void **state)
{
    fx_t *f = *state;
    sim_t *s = f->s;
    stall(f, 10 * HS_NS_PER_S);
    uint64_t t0 = sim_now(s);
    uint64_t upd0 = sim_tcp_stat(s, 1, HS_TCP_S_WINDOW_UPDATES);
    sim_app_resume(&f->b);
    SIM_CHECK(s, sim_run(s, done, f, 10 * HS_NS_PER_S));
    check_all_through(f);
    SIM_CHECK(s, sim_tcp_stat(s, 1, HS_TCP_S_WINDOW_UPDATES) > upd0);
    /* Reopened by B's window update, not by waiting for A's next probe (seconds away). */
    SIM_CHECK(s, sim_now(s) - t0 < 100 * HS_NS_PER_MS);
}

static void test_window_update_lost(void **state)
{
    fx_t *f = *state;
    sim_t *s = f->s;
    stall(f, 2 * HS_NS_PER_S);
    uint64_t probes0 = sim_tcp_stat(s, 0, HS_TCP_S_ZERO_WINDOW_PROBES);
    hs_wire_dir_config_t lossy = {.delay_ns = 50 * HS_NS_PER_US, .loss_pct = 100};
    hs_wire_dir_config_t clean = {.delay_ns = 50 * HS_NS_PER_US};
    hs_wire_set_dir_config(s->wire, 1, &lossy);
    uint64_t lost0 = hs_wire_counters(s->wire, 1)->lost;
    sim_app_resume(&f->b);
    sim_run(s, NULL, NULL, HS_NS_PER_MS);
    SIM_CHECK(s, hs_wire_counters(s->wire, 1)->lost > lost0); /* the update is gone */
    hs_wire_set_dir_config(s->wire, 1, &clean);
    SIM_CHECK(s, sim_run(s, done, f, 120 * HS_NS_PER_S));
    check_all_through(f);
    SIM_CHECK(s, sim_tcp_stat(s, 0, HS_TCP_S_ZERO_WINDOW_PROBES) > probes0);
}

/* Silly window syndrome avoidance (RFC 9293 3.8.6.2): B reads 100 bytes every 10 ms out of
 * a full FIFO. B must not announce each 100 bytes freed, and A must not send 100-byte
 * segments: A sends full segments, and a partial one only when its persist (override)
 * timer expires, at most once per 200 ms. */
static void test_no_silly_window(void **state)
{
    fx_t *f = *state;
    sim_t *s = f->s;
    stall(f, HS_NS_PER_S);
    hs_session_t *bs = sim_app_session(&f->b, &f->b.conns[0]);
    hs_session_worker_t *sw = sim_sw(s, 1);
    uint64_t data0 = s->tap[0].n_data, part0 = s->tap[0].n_partial, tiny0 = s->tap[0].n_tiny;
    uint64_t upd0 = sim_tcp_stat(s, 1, HS_TCP_S_WINDOW_UPDATES);
    uint8_t buf[100];
    for (int i = 0; i < 200; i++) { /* 100 bytes every 10 ms */
        int n = hs_app_recv(sw, bs, buf, sizeof(buf));
        SIM_CHECK(s, n == (int)sizeof(buf));
        SIM_CHECK(s, hs_echo_pattern_check(f->b.cfg.rx_seed, f->b.conns[0].received, buf,
                                           sizeof(buf)) < 0);
        f->b.conns[0].received += (uint32_t)n;
        sim_run(s, NULL, NULL, 10 * HS_NS_PER_MS);
    }
    uint64_t data = s->tap[0].n_data - data0, small = s->tap[0].n_partial - part0;
    uint64_t upd = sim_tcp_stat(s, 1, HS_TCP_S_WINDOW_UPDATES) - upd0;
    printf("after 200 reads of 100 bytes: %lu data segments from A, %lu smaller than an MSS; "
           "%lu window updates from B\n",
           (unsigned long)data, (unsigned long)small, (unsigned long)upd);
    SIM_CHECK(s, s->tap[0].n_tiny == tiny0);
    SIM_CHECK(s, small <= 10);
    SIM_CHECK(s, upd <= 20000 / (2 * SIM_MSS)); /* one per 2 MSS freed at most */
    sim_app_resume(&f->b);
    SIM_CHECK(s, sim_run(s, done, f, 10 * HS_NS_PER_S));
    check_all_through(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_zero_window_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_window_update_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_silly_window, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
