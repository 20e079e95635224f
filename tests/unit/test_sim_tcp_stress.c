/* Simulation: everything at once, several seeds. A 100 Mbit/s bottleneck with a 64-frame
 * queue (tail drops: congestion control must back off), 1 ms each way, and random loss,
 * duplication, reordering and corruption on top; 8 connections of the builtin echo client
 * run together (each verifying its echo byte for byte) against the builtin echo server.
 * Every connection completes, nothing wrong is ever delivered, nothing is left after. */
#include "drivers/wire.h"
#include "session/stack.h"
#include "sim_tcp.h"

#define CONNS 8
#define BYTES (2 * SIM_MB)

static bool client_done(void *c)
{
    return hs_echo_client_done(c);
}

static void run_seed(uint64_t seed)
{
    sim_config_t cfg = {.seed = seed};
    for (int d = 0; d < 2; d++) {
        cfg.dir[d] = (hs_wire_dir_config_t){.delay_ns = HS_NS_PER_MS,
                                            .rate_bps = 100 * 1000 * 1000,
                                            .queue_frames = 64,
                                            .loss_pct = 0.5,
                                            .dup_pct = 0.5,
                                            .reorder_pct = 1,
                                            .reorder_max_ns = 2 * HS_NS_PER_MS,
                                            .corrupt_pct = 0.2};
    }
    sim_t *s = sim_create(&cfg);
    hs_echo_server_t *es;
    hs_endpoint_t ep = {.ip = SIM_IP_B, .port = 7};
    assert_int_equal(hs_echo_server_start(s->sm[1], &ep, &es), 0);
    hs_echo_client_config_t cc = {
        .rmt = ep, .n_clients = CONNS, .bytes = BYTES, .seed = seed, .concurrency = CONNS};
    hs_echo_client_t *c;
    assert_int_equal(hs_echo_client_start(s->sm[0], &cc, &c), 0);
    double w0 = sim_wall();
    uint64_t v0 = sim_now(s);
    bool done = sim_run(s, client_done, c, 3600 * HS_NS_PER_S);
    hs_echo_client_result_t r;
    hs_echo_client_result(c, &r);
    const hs_wire_counters_t *w = hs_wire_counters(s->wire, 0);
    printf("seed %lu: %s, %u of %u verified in %.3f s virtual, %.2f s wall; A->B lost %lu "
           "tail-dropped %lu dup %lu reordered %lu corrupted %lu; retransmits %lu, timeouts "
           "%lu\n",
           (unsigned long)s->seed, done ? "done" : "NOT DONE", r.completed, r.n_clients,
           (double)(sim_now(s) - v0) / 1e9, sim_wall() - w0, (unsigned long)w->lost,
           (unsigned long)w->rate_dropped, (unsigned long)w->duplicated,
           (unsigned long)w->reordered, (unsigned long)w->corrupted,
           (unsigned long)(sim_tcp_stat(s, 0, HS_TCP_S_RETRANSMITS) +
                           sim_tcp_stat(s, 1, HS_TCP_S_RETRANSMITS)),
           (unsigned long)(sim_tcp_stat(s, 0, HS_TCP_S_TIMEOUTS) +
                           sim_tcp_stat(s, 1, HS_TCP_S_TIMEOUTS)));
    hs_str_t out = {0};
    hs_echo_client_format(&r, &out);
    printf("%s", hs_str_cstr(&out));
    hs_str_free(&out);
    SIM_CHECK(s, done);
    SIM_CHECK(s, r.verify_failed == 0);
    SIM_CHECK(s, hs_echo_client_ok(&r));
    SIM_CHECK(s, r.bytes_verified == (uint64_t)CONNS * BYTES);
    SIM_CHECK(s, w->rate_dropped > 0); /* the bottleneck was reached */
    sim_run(s, NULL, NULL, 5 * HS_NS_PER_S);
    SIM_CHECK(s, sim_tcp_conns(s, 1) == 0); /* the server's side is all closed */
    SIM_CHECK(s, sim_sessions(s, 0) == 0 && sim_sessions(s, 1) == 1);
    assert_int_equal(hs_echo_client_destroy(c), 0);
    hs_echo_server_stop(es);
    sim_run(s, NULL, NULL, 10 * HS_NS_PER_MS);
    assert_int_equal(hs_echo_server_destroy(es), 0);
    sim_destroy(s);
}

static void test_stress(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++)
        run_seed(seed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
