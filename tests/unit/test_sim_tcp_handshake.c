/* Simulation: the three-way handshake between two whole stacks over the wire (options
 * negotiated, one round trip), with the SYN and with the SYN-ACK lost (retransmitted
 * after the initial RTO, RFC 6298 2.1), and a first 1 MB each way through the new
 * connection, verified byte for byte. */
/* Named here too: tests/CMakeLists.txt picks the libraries from the test source's includes. */
#include "drivers/wire.h"
#include "session/stack.h"
#include "sim_tcp.h"

#define PORT 8080

typedef struct {
    sim_t *s;
    sim_app_t cli, srv;
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    sim_config_t cfg = sim_lan(0x4a11);
    f->s = sim_create(&cfg);
    sim_app_cfg_t cc = {.tx_seed = 1, .rx_seed = 2}, sc = {.tx_seed = 2, .rx_seed = 1};
    sim_app_init(&f->cli, f->s, 0, "cli", &cc);
    sim_app_init(&f->srv, f->s, 1, "srv", &sc);
    sim_app_listen(&f->srv, PORT);
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

static bool both_open(void *ctx)
{
    fx_t *f = ctx;
    return f->cli.n_conns && f->cli.conns[0].connected && f->srv.n_conns &&
           f->srv.conns[0].connected;
}

static hs_tcp_conn_t *only_conn(sim_t *s, int side)
{
    hs_tcp_worker_t *tw = sim_tcp(s, side);
    SIM_CHECK(s, hs_pool_count(&tw->conns) == 1);
    hs_pool_foreach(&tw->conns, i) return hs_tcp_conn_get(tw, i);
    return NULL;
}

/* SYN, SYN-ACK, ACK; both ESTABLISHED after one round trip (plus ARP); timestamps, window
 * scaling and SACK-permitted negotiated; MSS from the 1500-byte MTU. */
static void test_handshake(void **state)
{
    fx_t *f = *state;
    sim_t *s = f->s;
    uint64_t t0 = sim_now(s);
    sim_app_connect(&f->cli, PORT);
    SIM_CHECK(s, sim_run(s, both_open, f, HS_NS_PER_S));
    /* ARP (one round trip) then the handshake (1.5 round trips to the server's accept). */
    SIM_CHECK(s, sim_now(s) - t0 <= 400 * HS_NS_PER_US);
    SIM_CHECK(s, f->cli.conns[0].connect_err == 0);

    hs_tcp_conn_t *a = only_conn(s, 0), *b = only_conn(s, 1);
    SIM_CHECK(s, a->state == HS_TCP_ESTABLISHED && b->state == HS_TCP_ESTABLISHED);
    uint32_t neg = HS_TCP_F_TS | HS_TCP_F_WS | HS_TCP_F_SACK;
    SIM_CHECK(s, (a->flags & neg) == neg && (b->flags & neg) == neg);
    SIM_CHECK(s, a->snd_mss >= 1448 && a->snd_mss <= 1460); /* 1460 less timestamps */
    SIM_CHECK(s, b->snd_mss == a->snd_mss);
    SIM_CHECK(s, a->snd_nxt == a->iss + 1 && b->rcv_nxt == a->iss + 1);
    SIM_CHECK(s, b->snd_nxt == b->iss + 1 && a->rcv_nxt == b->iss + 1);
    SIM_CHECK(s, a->c.lcl_port >= 49152 && b->c.lcl_port == PORT);
    SIM_CHECK(s, a->c.rmt_port == b->c.lcl_port && b->c.rmt_port == a->c.lcl_port);

    /* What went on the wire: exactly SYN; SYN-ACK; ACK. */
    SIM_CHECK(s, s->tap[0].n == 2 && s->tap[1].n == 1);
    SIM_CHECK(s, s->tap[0].ring[0].flags == HS_TCP_SYN);
    SIM_CHECK(s, s->tap[1].ring[0].flags == (HS_TCP_SYN | HS_TCP_ACK));
    SIM_CHECK(s, s->tap[1].ring[0].ack == a->iss + 1);
    SIM_CHECK(s, s->tap[0].ring[1].flags == HS_TCP_ACK && s->tap[0].ring[1].len == 0);
    SIM_CHECK(s, sim_tcp_stat(s, 0, HS_TCP_S_ESTABLISHED) == 1);
    SIM_CHECK(s, sim_tcp_stat(s, 1, HS_TCP_S_ACCEPTED) == 1);
    SIM_CHECK(s, sim_tcp_stat(s, 0, HS_TCP_S_SYN_RETRANSMITS) == 0);
}

static bool refused(void *ctx)
{
    fx_t *f = ctx;
    return f->cli.n_conns && f->cli.conns[f->cli.n_conns - 1].connect_err < 0;
}

/* Resolves ARP both ways with a connect to a closed port (refused by a RST), then forgets
 * it: the next test starts with only its own segments on the trace. */
static void warm_up(fx_t *f)
{
    sim_t *s = f->s;
    sim_app_connect(&f->cli, PORT + 1);
    SIM_CHECK(s, sim_run(s, refused, f, HS_NS_PER_S));
    SIM_CHECK(s, f->cli.conns[0].connect_err == -ECONNREFUSED);
    f->cli.n_conns = 0;
    s->tap[0].n = s->tap[1].n = 0;
}

/* Connects, and from the moment the SYN leaves drops everything direction dir carries
 * for lossy_ns; returns the time the open took from the first SYN. */
static uint64_t open_losing(fx_t *f, int dir, uint64_t lossy_ns)
{
    sim_t *s = f->s;
    hs_wire_dir_config_t lossy = {.delay_ns = 50 * HS_NS_PER_US, .loss_pct = 100};
    hs_wire_dir_config_t clean = {.delay_ns = 50 * HS_NS_PER_US};
    warm_up(f);
    uint64_t t0 = sim_now(s);
    hs_wire_set_dir_config(s->wire, dir, &lossy);
    sim_app_connect(&f->cli, PORT);
    sim_run(s, NULL, NULL, lossy_ns);
    hs_wire_set_dir_config(s->wire, dir, &clean);
    SIM_CHECK(s, s->tap[0].ring[0].flags == HS_TCP_SYN && s->tap[0].ring[0].t_ns == t0);
    SIM_CHECK(s, hs_wire_counters(s->wire, dir)->lost == 1);
    SIM_CHECK(s, sim_run(s, both_open, f, 10 * HS_NS_PER_S));
    SIM_CHECK(s, f->cli.conns[0].connect_err == 0);
    return sim_now(s) - t0;
}

/* After the open, the client's first RTT sample must be the path's (100 us), not the time
 * since a SYN that was lost or answered late (RFC 7323 4.3: the echoed timestamp is the
 * latest acceptable segment's). */
static void check_rtt(sim_t *s)
{
    hs_tcp_conn_t *a = only_conn(s, 0);
    SIM_CHECK(s, !(a->flags & HS_TCP_F_HAVE_RTT) || a->srtt_us < 10 * 1000);
}

static void test_syn_lost(void **state)
{
    fx_t *f = *state;
    sim_t *s = f->s;
    uint64_t el = open_losing(f, 0, 500 * HS_NS_PER_MS);
    SIM_CHECK(s, sim_tcp_stat(s, 0, HS_TCP_S_SYN_RETRANSMITS) == 1);
    /* The SYN went again after the initial RTO of 1 s (RFC 6298 2.1). */
    SIM_CHECK(s, el >= HS_NS_PER_S && el < HS_NS_PER_S + 5 * HS_NS_PER_MS);
    check_rtt(s);
}

static void test_synack_lost(void **state)
{
    fx_t *f = *state;
    sim_t *s = f->s;
    uint64_t el = open_losing(f, 1, 500 * HS_NS_PER_MS);
    /* Either end's timer (the client's SYN or the server's SYN-ACK) recovers it after
     * about 1 s. */
    SIM_CHECK(s, el >= 900 * HS_NS_PER_MS && el < 1100 * HS_NS_PER_MS);
    SIM_CHECK(s, sim_tcp_stat(s, 0, HS_TCP_S_SYN_RETRANSMITS) +
                         sim_tcp_stat(s, 1, HS_TCP_S_SYN_RETRANSMITS) >=
                     1);
    /* No check_rtt here: B's timer-driven SYN-ACK echoes the first SYN's timestamp, so the
     * client's first sample honestly includes B's 1 s wait (as Linux's would). */
}

static bool transfer_done(void *ctx)
{
    fx_t *f = ctx;
    return sim_pair_closed(&(sim_pair_t){&f->cli, &f->srv});
}

/* 1 MB each way at once, both ends verifying; the client closes after sending, the server
 * after the client's FIN. */
static void test_one_mb_each_way(void **state)
{
    fx_t *f = *state;
    sim_t *s = f->s;
    f->cli.cfg.tx_bytes = f->srv.cfg.tx_bytes = SIM_MB;
    f->cli.cfg.close_on_fin = true;
    f->srv.cfg.close_on_fin = true;
    f->cli.cfg.close_after_tx = true;
    sim_app_connect(&f->cli, PORT);
    SIM_CHECK(s, sim_run(s, transfer_done, f, 10 * HS_NS_PER_S));
    sim_conn_t *c = &f->cli.conns[0], *v = &f->srv.conns[0];
    SIM_CHECK(s, c->sent == SIM_MB && c->received == SIM_MB && !c->bad);
    SIM_CHECK(s, v->sent == SIM_MB && v->received == SIM_MB && !v->bad);
    SIM_CHECK(s, f->cli.verify_failed == 0 && f->srv.verify_failed == 0);
    SIM_CHECK(s, !c->reset && !v->reset && c->closing && v->closing);
    SIM_CHECK(s, sim_tcp_stat(s, 0, HS_TCP_S_RETRANSMITS) == 0);
    SIM_CHECK(s, sim_tcp_stat(s, 1, HS_TCP_S_RETRANSMITS) == 0);
    /* The client closed first: its connection waits in TIME-WAIT, the server's is gone. */
    sim_run(s, NULL, NULL, 10 * HS_NS_PER_MS);
    SIM_CHECK(s, sim_tcp_conns(s, 1) == 0);
    SIM_CHECK(s, sim_tcp_conns(s, 0) == 1 && sim_tcp(s, 0)->n_time_wait == 1);
    SIM_CHECK(s, sim_sessions(s, 0) == 0 && sim_sessions(s, 1) == 1); /* the listener */
    printf("1 MB each way in %.3f ms of virtual time\n", (double)(c->t_closed - c->t_open) / 1e6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_handshake, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syn_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_synack_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_mb_each_way, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
