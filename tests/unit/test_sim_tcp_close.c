/* Simulation: closing in every order (RFC 9293 3.6). The client first (it ends in
 * TIME-WAIT), the server first (the server does), both at once (both pass CLOSING into
 * TIME-WAIT), a half-close with a megabyte still flowing toward the side that closed,
 * and closes whose FIN or last ACK is lost. Every byte sent before the FIN arrives and is
 * verified; TIME-WAIT ends after its 2 MSL (2 s in these tests) and nothing is left. */
#include "drivers/wire.h"
#include "session/stack.h"
#include "sim_tcp.h"

#define PORT  9000
#define BYTES (256 * 1024 + 17)

typedef struct {
    sim_t *s;
    sim_app_t c, v; /* client on A, server on B */
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    sim_config_t cfg = sim_lan(0xc105e);
    f->s = sim_create(&cfg);
    sim_app_cfg_t cc = {.tx_bytes = BYTES, .tx_seed = 7, .rx_seed = 8};
    sim_app_cfg_t vc = {.tx_bytes = BYTES, .tx_seed = 8, .rx_seed = 7};
    sim_app_init(&f->c, f->s, 0, "client", &cc);
    sim_app_init(&f->v, f->s, 1, "server", &vc);
    sim_app_listen(&f->v, PORT);
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

static bool both_closed(void *ctx)
{
    fx_t *f = ctx;
    return sim_pair_closed(&(sim_pair_t){&f->c, &f->v});
}

static hs_tcp_conn_t *conn_of(sim_t *s, int side)
{
    hs_tcp_worker_t *tw = sim_tcp(s, side);
    hs_pool_foreach(&tw->conns, i) return hs_tcp_conn_get(tw, i);
    return NULL;
}

/* Both apps saw the peer's FIN and the end, all data verified, no reset anywhere. */
static void check_clean(fx_t *f, uint64_t c_rx, uint64_t v_rx)
{
    sim_t *s = f->s;
    sim_conn_t *c = &f->c.conns[0], *v = &f->v.conns[0];
    SIM_CHECK(s, c->closing && c->closed && v->closing && v->closed);
    SIM_CHECK(s, !c->reset && !v->reset);
    SIM_CHECK(s, c->received == c_rx && v->received == v_rx);
    SIM_CHECK(s, f->c.verify_failed == 0 && f->v.verify_failed == 0);
    for (int i = 0; i < 2; i++) {
        SIM_CHECK(s, sim_tcp_stat(s, i, HS_TCP_S_RST_OUT) == 0);
        SIM_CHECK(s, sim_tcp_stat(s, i, HS_TCP_S_RST_IN) == 0);
    }
}

/* After the closes: the side(s) in tw_sides are in TIME-WAIT, the others are gone; after
 * 2 MSL nothing is left on either side but B's listener. */
static void check_time_wait(fx_t *f, bool tw_a, bool tw_b)
{
    sim_t *s = f->s;
    sim_run(s, NULL, NULL, 10 * HS_NS_PER_MS); /* the last ACK crosses */
    bool tw[2] = {tw_a, tw_b};
    for (int i = 0; i < 2; i++) {
        SIM_CHECK(s, sim_tcp_conns(s, i) == (tw[i] ? 1u : 0u));
        SIM_CHECK(s, sim_tcp(s, i)->n_time_wait == (tw[i] ? 1u : 0u));
        if (tw[i])
            SIM_CHECK(s, conn_of(s, i)->state == HS_TCP_TIME_WAIT);
    }
    /* The sessions go when TIME-WAIT starts; the connection lingers without one. */
    SIM_CHECK(s, sim_sessions(s, 0) == 0 && sim_sessions(s, 1) == 1);
    sim_run(s, NULL, NULL, 2 * HS_NS_PER_S + 10 * HS_NS_PER_MS);
    for (int i = 0; i < 2; i++) {
        SIM_CHECK(s, sim_tcp_conns(s, i) == 0 && sim_tcp(s, i)->n_time_wait == 0);
    }
}

static void test_client_closes_first(void **state)
{
    fx_t *f = *state;
    f->c.cfg.close_after_tx = true;
    f->c.cfg.close_on_fin = true;
    f->v.cfg.close_on_fin = true;
    sim_app_connect(&f->c, PORT);
    SIM_CHECK(f->s, sim_run(f->s, both_closed, f, 10 * HS_NS_PER_S));
    check_clean(f, BYTES, BYTES);
    SIM_CHECK(f->s, f->v.conns[0].t_closing <= f->c.conns[0].t_closing);
    check_time_wait(f, true, false);
}

static void test_server_closes_first(void **state)
{
    fx_t *f = *state;
    f->v.cfg.close_after_tx = true;
    f->v.cfg.close_on_fin = true;
    f->c.cfg.close_on_fin = true;
    sim_app_connect(&f->c, PORT);
    SIM_CHECK(f->s, sim_run(f->s, both_closed, f, 10 * HS_NS_PER_S));
    check_clean(f, BYTES, BYTES);
    SIM_CHECK(f->s, f->c.conns[0].t_closing <= f->v.conns[0].t_closing);
    check_time_wait(f, false, true);
}

static bool data_done(void *ctx)
{
    fx_t *f = ctx;
    return f->c.n_conns && f->v.n_conns && f->c.conns[0].received == BYTES &&
           f->v.conns[0].received == BYTES;
}

/* RFC 9293 3.6 figure 13: both FINs cross; each side goes FIN-WAIT-1 -> CLOSING ->
 * TIME-WAIT. */
static void test_simultaneous_close(void **state)
{
    fx_t *f = *state;
    sim_t *s = f->s;
    sim_app_connect(&f->c, PORT);
    SIM_CHECK(s, sim_run(s, data_done, f, 10 * HS_NS_PER_S));
    sim_run(s, NULL, NULL, 100 * HS_NS_PER_MS); /* every ACK delivered: quiet */
    sim_app_close(&f->c, &f->c.conns[0]);
    sim_app_close(&f->v, &f->v.conns[0]);
    sim_poll(s);
    SIM_CHECK(s, conn_of(s, 0)->state == HS_TCP_FIN_WAIT_1);
    SIM_CHECK(s, conn_of(s, 1)->state == HS_TCP_FIN_WAIT_1);
    SIM_CHECK(s, sim_run(s, both_closed, f, 10 * HS_NS_PER_S));
    check_clean(f, BYTES, BYTES);
    check_time_wait(f, true, true);
}

/* The client sends a little and half-closes at once; the server, after reading the FIN,
 * still sends 1 MB, which the client (FIN-WAIT-2) receives in full before the server's
 * FIN. */
static void test_half_close(void **state)
{
    fx_t *f = *state;
    sim_t *s = f->s;
    f->c.cfg.tx_bytes = 1000;
    f->c.cfg.close_after_tx = true;
    f->c.cfg.close_on_fin = true;
    f->v.cfg.tx_bytes = 0; /* starts sending on the FIN */
    sim_app_connect(&f->c, PORT);
    bool got_fin = false;
    for (int i = 0; i < 1000 && !got_fin; i++) {
        sim_run(s, NULL, NULL, 100 * HS_NS_PER_US);
        got_fin = f->v.n_conns && f->v.conns[0].closing;
    }
    SIM_CHECK(s, got_fin && f->v.conns[0].received == 1000);
    SIM_CHECK(s, !f->v.conns[0].closed_by_app); /* it had nothing queued yet: still open */
    hs_tcp_conn_t *a = conn_of(s, 0);
    SIM_CHECK(s, a->state == HS_TCP_FIN_WAIT_2 || a->state == HS_TCP_FIN_WAIT_1);
    f->v.cfg.tx_bytes = SIM_MB;
    f->v.cfg.close_after_tx = true;
    hs_session_t *vs = sim_app_session(&f->v, &f->v.conns[0]);
    SIM_CHECK(s, vs != NULL);
    sim_app_send(&f->v, sim_sw(s, 1), vs, &f->v.conns[0]);
    SIM_CHECK(s, sim_run(s, both_closed, f, 10 * HS_NS_PER_S));
    check_clean(f, SIM_MB, 1000);
    check_time_wait(f, true, false);
}

/* All data across and every ACK delivered. */
static bool quiet_data(fx_t *f)
{
    bool ok = sim_run(f->s, data_done, f, 10 * HS_NS_PER_S);
    sim_run(f->s, NULL, NULL, 100 * HS_NS_PER_MS);
    return ok;
}

/* The client's FIN is lost: it goes again when the retransmission timer expires. */
static void test_fin_lost(void **state)
{
    fx_t *f = *state;
    sim_t *s = f->s;
    f->v.cfg.close_on_fin = true;
    sim_app_connect(&f->c, PORT);
    SIM_CHECK(s, quiet_data(f));
    hs_wire_dir_config_t lossy = {.delay_ns = 50 * HS_NS_PER_US, .loss_pct = 100};
    hs_wire_dir_config_t clean = {.delay_ns = 50 * HS_NS_PER_US};
    hs_wire_set_dir_config(s->wire, 0, &lossy);
    uint64_t rxt0 = sim_tcp_stat(s, 0, HS_TCP_S_RETRANSMITS);
    sim_app_close(&f->c, &f->c.conns[0]);
    sim_run(s, NULL, NULL, 10 * HS_NS_PER_MS);
    SIM_CHECK(s, hs_wire_counters(s->wire, 0)->lost == 1);
    SIM_CHECK(s, !f->v.conns[0].closing);
    hs_wire_set_dir_config(s->wire, 0, &clean);
    f->c.cfg.close_on_fin = true;
    SIM_CHECK(s, sim_run(s, both_closed, f, 10 * HS_NS_PER_S));
    SIM_CHECK(s, sim_tcp_stat(s, 0, HS_TCP_S_RETRANSMITS) == rxt0 + 1);
    check_clean(f, BYTES, BYTES);
    check_time_wait(f, true, false);
}

/* The client's last ACK (of the server's FIN) is lost: the server in LAST-ACK resends its
 * FIN, the client in TIME-WAIT acknowledges it again (and restarts its 2 MSL). */
static void test_last_ack_lost(void **state)
{
    fx_t *f = *state;
    sim_t *s = f->s;
    f->v.cfg.close_on_fin = true;
    sim_app_connect(&f->c, PORT);
    SIM_CHECK(s, quiet_data(f));
    sim_app_close(&f->c, &f->c.conns[0]);
    /* Lose what A sends from the moment the server's FIN is on its way. */
    for (int i = 0; i < 1000 && conn_of(s, 1)->state != HS_TCP_LAST_ACK; i++)
        sim_run(s, NULL, NULL, 10 * HS_NS_PER_US);
    SIM_CHECK(s, conn_of(s, 1)->state == HS_TCP_LAST_ACK);
    hs_wire_dir_config_t lossy = {.delay_ns = 50 * HS_NS_PER_US, .loss_pct = 100};
    hs_wire_dir_config_t clean = {.delay_ns = 50 * HS_NS_PER_US};
    hs_wire_set_dir_config(s->wire, 0, &lossy);
    uint64_t t_tw = sim_now(s); /* A enters TIME-WAIT within the next 100 us */
    sim_run(s, NULL, NULL, 10 * HS_NS_PER_MS);
    SIM_CHECK(s, hs_wire_counters(s->wire, 0)->lost == 1);
    SIM_CHECK(s, conn_of(s, 0)->state == HS_TCP_TIME_WAIT);
    SIM_CHECK(s, sim_tcp_conns(s, 1) == 1 && conn_of(s, 1)->state == HS_TCP_LAST_ACK);
    hs_wire_set_dir_config(s->wire, 0, &clean);
    uint64_t rxt0 = sim_tcp_stat(s, 1, HS_TCP_S_RETRANSMITS);
    sim_run(s, NULL, NULL, HS_NS_PER_S);
    SIM_CHECK(s, sim_tcp_stat(s, 1, HS_TCP_S_RETRANSMITS) == rxt0 + 1);
    SIM_CHECK(s, sim_tcp_conns(s, 1) == 0); /* the FIN's ACK came this time */
    SIM_CHECK(s, both_closed(f));
    check_clean(f, BYTES, BYTES);
    /* A's TIME-WAIT restarted at the retransmitted FIN (RFC 9293 3.10.7.4): still there
     * 2 MSL after it began, gone 2 MSL after the FIN came again. */
    sim_run(s, NULL, NULL, t_tw + 2 * HS_NS_PER_S + HS_NS_PER_MS - sim_now(s));
    SIM_CHECK(s, sim_tcp(s, 0)->n_time_wait == 1);
    sim_run(s, NULL, NULL, HS_NS_PER_S);
    SIM_CHECK(s, sim_tcp_conns(s, 0) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_client_closes_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_closes_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_simultaneous_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_half_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fin_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_ack_lost, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
