/* Simulation: resets (RFC 9293 3.5.2, 3.10.7.1). A SYN to a port nobody listens on is
 * refused at once; a reset in the middle of a transfer (by either side) is seen by both
 * (the one that reset gets closed, the peer gets reset then closed) and nothing is left;
 * a reset that is lost is sent again in answer to the peer's next segment. What did
 * arrive before the reset was right. */
#include "drivers/wire.h"
#include "session/stack.h"
#include "sim_tcp.h"

#define PORT 6000

typedef struct {
    sim_t *s;
    sim_app_t c, v; /* client on A, server on B */
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    sim_config_t cfg = sim_lan(0x7e5e7);
    f->s = sim_create(&cfg);
    sim_app_cfg_t cc = {.tx_bytes = 64 * SIM_MB, .tx_seed = 9, .rx_seed = 10};
    sim_app_cfg_t vc = {.tx_bytes = 64 * SIM_MB, .tx_seed = 10, .rx_seed = 9};
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

static bool refused(void *ctx)
{
    fx_t *f = ctx;
    return f->c.conns[0].connect_err != 0;
}

static void test_refused(void **state)
{
    fx_t *f = *state;
    sim_t *s = f->s;
    uint64_t t0 = sim_now(s);
    sim_app_connect(&f->c, PORT + 1);
    SIM_CHECK(s, sim_run(s, refused, f, 10 * HS_NS_PER_S));
    SIM_CHECK(s, f->c.conns[0].connect_err == -ECONNREFUSED);
    /* ARP, then SYN and RST: two round trips, no retransmission. */
    SIM_CHECK(s, sim_now(s) - t0 <= 300 * HS_NS_PER_US);
    SIM_CHECK(s, sim_tcp_drop(s, 1, HS_TCP_E_NO_LISTENER) == 1);
    SIM_CHECK(s, sim_tcp_stat(s, 1, HS_TCP_S_RST_OUT) == 1);
    SIM_CHECK(s, sim_tcp_stat(s, 0, HS_TCP_S_RST_IN) == 1);
    SIM_CHECK(s, sim_tcp_stat(s, 0, HS_TCP_S_CONNECT_FAILED) == 1);
    SIM_CHECK(s, s->tap[1].n == 1 && (s->tap[1].ring[0].flags & HS_TCP_RST));
    /* RFC 9293 3.10.7.1: the RST answering a SYN acknowledges it. */
    SIM_CHECK(s, s->tap[1].ring[0].ack == s->tap[0].ring[0].seq + 1);
    SIM_CHECK(s, !f->c.conns[0].connected && !f->c.conns[0].closed);
    sim_run(s, NULL, NULL, 10 * HS_NS_PER_MS);
    SIM_CHECK(s, sim_sessions(s, 0) == 0 && sim_tcp_conns(s, 0) == 0);
    SIM_CHECK(s, sim_tcp_conns(s, 1) == 0);
}

static bool streaming(void *ctx)
{
    fx_t *f = ctx;
    return f->c.n_conns && f->v.n_conns && f->c.conns[0].received > 4 * SIM_MB &&
           f->v.conns[0].received > 4 * SIM_MB;
}

static bool both_closed(void *ctx)
{
    fx_t *f = ctx;
    return sim_pair_closed(&(sim_pair_t){&f->c, &f->v});
}

/* side resets in the middle of a two-way transfer. */
static void reset_mid_transfer(fx_t *f, int side)
{
    sim_t *s = f->s;
    sim_app_connect(&f->c, PORT);
    SIM_CHECK(s, sim_run(s, streaming, f, 10 * HS_NS_PER_S));
    sim_app_t *me = side ? &f->v : &f->c, *peer = side ? &f->c : &f->v;
    sim_app_abort(me, &me->conns[0]);
    uint64_t t0 = sim_now(s);
    SIM_CHECK(s, sim_run(s, both_closed, f, 10 * HS_NS_PER_S));
    /* The peer heard within a round trip. */
    SIM_CHECK(s, peer->conns[0].reset && peer->conns[0].t_reset - t0 <= 200 * HS_NS_PER_US);
    SIM_CHECK(s, !me->conns[0].reset); /* its own reset: only closed */
    SIM_CHECK(s, me->conns[0].closed && peer->conns[0].closed);
    SIM_CHECK(s, !me->conns[0].closing && !peer->conns[0].closing);
    SIM_CHECK(s, f->c.verify_failed == 0 && f->v.verify_failed == 0);
    SIM_CHECK(s, f->c.conns[0].received < 64 * SIM_MB && f->v.conns[0].received < 64 * SIM_MB);
    SIM_CHECK(s, sim_tcp_stat(s, side, HS_TCP_S_RST_OUT) >= 1);
    SIM_CHECK(s, sim_tcp_stat(s, 1 - side, HS_TCP_S_RST_IN) >= 1);
    /* Segments still in flight toward the side that reset draw more RSTs, which find no
     * connection; then all is quiet and nothing is left. */
    sim_run(s, NULL, NULL, 100 * HS_NS_PER_MS);
    for (int i = 0; i < 2; i++)
        SIM_CHECK(s, sim_tcp_conns(s, i) == 0);
    SIM_CHECK(s, sim_sessions(s, 0) == 0 && sim_sessions(s, 1) == 1);
    SIM_CHECK(s, hs_wire_in_flight(s->wire, 0) == 0 && hs_wire_in_flight(s->wire, 1) == 0);
    uint64_t segs = s->tap[0].n + s->tap[1].n;
    sim_run(s, NULL, NULL, 5 * HS_NS_PER_S);
    SIM_CHECK(s, s->tap[0].n + s->tap[1].n == segs); /* no timer left behind */
}

static void test_client_resets(void **state)
{
    reset_mid_transfer(*state, 0);
}

static void test_server_resets(void **state)
{
    reset_mid_transfer(*state, 1);
}

/* A resets while everything it sends is lost: B does not know and keeps sending; once
 * the path heals, the first segment of B's that reaches A is answered by a RST (no
 * connection, RFC 9293 3.10.7.1) and B's connection goes. */
static void test_reset_lost(void **state)
{
    fx_t *f = *state;
    sim_t *s = f->s;
    sim_app_connect(&f->c, PORT);
    SIM_CHECK(s, sim_run(s, streaming, f, 10 * HS_NS_PER_S));
    hs_wire_dir_config_t lossy = {.delay_ns = 50 * HS_NS_PER_US, .loss_pct = 100};
    hs_wire_dir_config_t clean = {.delay_ns = 50 * HS_NS_PER_US};
    hs_wire_set_dir_config(s->wire, 0, &lossy);
    sim_app_abort(&f->c, &f->c.conns[0]);
    sim_run(s, NULL, NULL, 50 * HS_NS_PER_MS);
    SIM_CHECK(s, f->c.conns[0].closed && sim_tcp_conns(s, 0) == 0);
    SIM_CHECK(s, !f->v.conns[0].reset && sim_tcp_conns(s, 1) == 1);
    SIM_CHECK(s, sim_tcp_stat(s, 0, HS_TCP_S_RST_OUT) >= 2); /* the reset, and answers */
    hs_wire_set_dir_config(s->wire, 0, &clean);
    uint64_t t0 = sim_now(s);
    SIM_CHECK(s, sim_run(s, both_closed, f, 70 * HS_NS_PER_S));
    SIM_CHECK(s, f->v.conns[0].reset);
    /* B's next segment is a retransmission (its ACKs stopped): within its backed-off RTO. */
    printf("the lost reset was answered again %.3f s after the path healed\n",
           (double)(f->v.conns[0].t_reset - t0) / 1e9);
    SIM_CHECK(s, f->v.conns[0].t_reset - t0 < 2 * HS_NS_PER_S);
    sim_run(s, NULL, NULL, 100 * HS_NS_PER_MS);
    SIM_CHECK(s, sim_tcp_conns(s, 1) == 0);
    SIM_CHECK(s, f->c.verify_failed == 0 && f->v.verify_failed == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_resets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_resets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_lost, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
