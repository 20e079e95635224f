/* Simulation: TIME-WAIT and its reuse. The server closed first and holds the 4-tuple in
 * TIME-WAIT; the client connects again from the same port: the new SYN (newer timestamp,
 * higher ISN: RFC 6191, RFC 9293 3.10.7.4) reopens it at once rather than waiting 2 MSL,
 * and the new connection carries verified data. A client in TIME-WAIT itself picks
 * another port for its next connect. TIME-WAIT is 60 s by default here (Linux's value),
 * so a reuse that was refused would show as a timeout. */
#include "drivers/wire.h"
#include "session/stack.h"
#include "sim_tcp.h"

#define PORT  4000
#define BYTES (100 * 1000)

typedef struct {
    sim_t *s;
    sim_app_t c, v;
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    sim_config_t cfg = sim_lan(0x71e3);
    hs_tcp_config_t tcp[2] = {sim_tcp_config(cfg.seed, 0), sim_tcp_config(cfg.seed, 1)};
    tcp[0].time_wait_ns = tcp[1].time_wait_ns = 60 * HS_NS_PER_S;
    cfg.tcp = tcp;
    f->s = sim_create(&cfg);
    sim_app_cfg_t cc = {.tx_bytes = BYTES, .tx_seed = 3, .rx_seed = 4, .close_on_fin = true};
    sim_app_cfg_t vc = {.tx_bytes = BYTES, .tx_seed = 4, .rx_seed = 3, .close_on_fin = true};
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

static bool all_closed(void *ctx)
{
    fx_t *f = ctx;
    return sim_pair_closed(&(sim_pair_t){&f->c, &f->v});
}

/* One connection from A, data both ways, closed by closer_side first. Returns A's port. */
static uint16_t one_connection(fx_t *f, int closer_side)
{
    sim_t *s = f->s;
    f->c.cfg.close_after_tx = closer_side == 0;
    f->v.cfg.close_after_tx = closer_side == 1;
    sim_conn_t *c = sim_app_connect(&f->c, PORT);
    uint32_t n = f->c.n_conns;
    hs_session_t *cs = sim_app_session(&f->c, c);
    SIM_CHECK(s, cs != NULL);
    hs_tcp_conn_t *tc = hs_tcp_conn_get(sim_tcp(s, 0), cs->conn_index);
    uint16_t port = tc->c.lcl_port;
    SIM_CHECK(s, sim_run(s, all_closed, f, 10 * HS_NS_PER_S));
    SIM_CHECK(s, c->connect_err == 0 && c->received == BYTES && !c->reset);
    SIM_CHECK(s, f->v.n_conns == n && f->v.conns[n - 1].received == BYTES);
    SIM_CHECK(s, f->c.verify_failed == 0 && f->v.verify_failed == 0);
    sim_run(s, NULL, NULL, 10 * HS_NS_PER_MS);
    /* The closer holds the 4-tuple in TIME-WAIT. */
    hs_tcp_worker_t *tw = sim_tcp(s, closer_side);
    int ci = closer_side == 0
                 ? hs_session_lookup_conn4(tw->sw, HS_PROTO_TCP, 0, SIM_IP_A, port, SIM_IP_B, PORT)
                 : hs_session_lookup_conn4(tw->sw, HS_PROTO_TCP, 0, SIM_IP_B, PORT, SIM_IP_A, port);
    SIM_CHECK(s, ci >= 0 && hs_tcp_conn_get(tw, (uint32_t)ci)->state == HS_TCP_TIME_WAIT);
    return port;
}

static void test_server_time_wait_reused(void **state)
{
    fx_t *f = *state;
    sim_t *s = f->s;
    uint32_t eph = sim_tcp(s, 0)->ephemeral_next;
    uint16_t port = one_connection(f, 1);
    SIM_CHECK(s, sim_tcp(s, 1)->n_time_wait == 1 && sim_tcp_conns(s, 0) == 0);
    /* The same 4-tuple again: A's port choice (RFC 6056 algorithm 3) is rewound so it
     * picks the same port, as a client binding it explicitly would. */
    sim_run(s, NULL, NULL, HS_NS_PER_S);
    sim_tcp(s, 0)->ephemeral_next = eph;
    uint64_t t0 = sim_now(s);
    uint16_t port2 = one_connection(f, 0);
    SIM_CHECK(s, port2 == port);
    SIM_CHECK(s, sim_tcp_stat(s, 1, HS_TCP_S_TIME_WAIT_REUSED) == 1);
    /* Opened at once: no SYN retransmission, no waiting out the 60 s. */
    SIM_CHECK(s, sim_tcp_stat(s, 0, HS_TCP_S_SYN_RETRANSMITS) == 0);
    SIM_CHECK(s, f->c.conns[1].t_open - t0 < 10 * HS_NS_PER_MS);
    SIM_CHECK(s, sim_tcp(s, 1)->n_time_wait == 0); /* the old one went with the reuse */
    SIM_CHECK(s, sim_tcp(s, 0)->n_time_wait == 1); /* A closed first this time */
}

/* A holds TIME-WAIT; its next connect to the same server uses another port and works.
 * 60 s later the TIME-WAIT is gone. */
static void test_client_time_wait(void **state)
{
    fx_t *f = *state;
    sim_t *s = f->s;
    uint32_t eph = sim_tcp(s, 0)->ephemeral_next;
    uint16_t port = one_connection(f, 0);
    SIM_CHECK(s, sim_tcp(s, 0)->n_time_wait == 1);
    sim_tcp(s, 0)->ephemeral_next = eph; /* would pick the same port: it must skip it */
    uint16_t port2 = one_connection(f, 0);
    SIM_CHECK(s, port2 != port);
    SIM_CHECK(s, sim_tcp(s, 0)->n_time_wait == 2);
    SIM_CHECK(s, sim_tcp_stat(s, 1, HS_TCP_S_TIME_WAIT_REUSED) == 0);
    sim_run(s, NULL, NULL, 61 * HS_NS_PER_S);
    SIM_CHECK(s, sim_tcp(s, 0)->n_time_wait == 0 && sim_tcp_conns(s, 0) == 0);
    SIM_CHECK(s, sim_tcp_conns(s, 1) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_server_time_wait_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_time_wait, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
