/* Two whole stacks (packet path + TCP + session layer) in one process on one virtual
 * clock, joined by the wire driver without impairments: A at 192.168.77.1/24, B at .2.
 * The builtin echo server runs on B and the echo client on A; every byte is verified by
 * the client against its seeded pattern. Smoke tests: 1 connection of 1 MB, 8 connections
 * at once, a closed port (refused at once), stopping a server with open connections,
 * several workers (segments handed between them), and show session. The 100 MB and
 * loss/reorder matrix live in test_sim_tcp_*.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/wire.h"
#include "net/devices.h"
#include "net/handoff.h"
#include "net/interface.h"
#include "net/ip4.h"
#include "session/echo.h"
#include "session/stack.h"
#include "tcp/tcp.h"

#define IP_A 0xc0a84d01u /* 192.168.77.1 */
#define IP_B 0xc0a84d02u /* 192.168.77.2 */
#define MB   (1024u * 1024)

static const uint8_t mac_a[6] = {0x02, 0, 0, 0, 0x77, 0x01};
static const uint8_t mac_b[6] = {0x02, 0, 0, 0, 0x77, 0x02};

typedef struct {
    hs_clock_t clk;
    hs_wire_t *wire;
    hs_net_t *net[2];
    hs_session_main_t *sm[2];
    uint32_t n_workers;
    uint64_t polls;
} sim_t;

static void stack_new(sim_t *s, int i, const uint8_t *mac, uint32_t ip)
{
    hs_session_stack_config_t cfg = {
        .clock = &s->clk, .n_workers = s->n_workers, .n_buffers = 8192, .flow_seed = 7};
    assert_int_equal(hs_session_stack_create_cfg(&cfg, &s->net[i], &s->sm[i]), 0);
    uint32_t sw;
    assert_int_equal(hs_wire_if_create(s->net[i], s->wire, i, "wire0", mac, &sw), 0);
    assert_int_equal(hs_interface_set_admin(s->net[i], sw, true), 0);
    assert_int_equal(hs_ip4_interface_address(s->net[i], sw, ip, 24, false), 0);
}

static int sim_setup_n(void **state, uint32_t n_workers)
{
    sim_t *s = calloc(1, sizeof(*s));
    s->n_workers = n_workers;
    hs_clock_init_virtual(&s->clk, HS_NS_PER_S);
    hs_wire_config_t wc = {.seed = 7};
    wc.dir[0].delay_ns = wc.dir[1].delay_ns = 50 * HS_NS_PER_US; /* a LAN: 100 us RTT */
    assert_int_equal(hs_wire_create(&s->wire, &wc), 0);
    stack_new(s, 0, mac_a, IP_A);
    stack_new(s, 1, mac_b, IP_B);
    *state = s;
    return 0;
}

static int sim_setup(void **state)
{
    return sim_setup_n(state, 1);
}

static int sim_setup2(void **state)
{
    return sim_setup_n(state, 2);
}

static int sim_setup3(void **state)
{
    return sim_setup_n(state, 3);
}

static int sim_teardown(void **state)
{
    sim_t *s = *state;
    for (int i = 0; i < 2; i++)
        hs_session_stack_destroy(s->net[i], s->sm[i]);
    hs_wire_destroy(s->wire);
    free(s);
    return 0;
}

/* Everything due at the current time, until nothing moves (bounded). */
static void sim_poll(sim_t *s)
{
    uint64_t now = hs_clock_now(&s->clk);
    for (int round = 0; round < 1000; round++) {
        uint32_t moved = 0;
        for (int i = 0; i < 2; i++)
            for (uint32_t w = 0; w < s->n_workers; w++)
                moved += hs_session_stack_poll(s->net[i], s->sm[i], w, now);
        s->polls++;
        if (!moved)
            return;
    }
}

static uint64_t sim_next(sim_t *s)
{
    uint64_t now = hs_clock_now(&s->clk), t = UINT64_MAX;
    for (int i = 0; i < 2; i++) {
        t = HS_MIN(t, hs_wire_next_delivery(s->wire, i));
        for (uint32_t w = 0; w < s->n_workers; w++)
            t = HS_MIN(t, hs_session_stack_next_ns(s->net[i], s->sm[i], w, now));
    }
    return t;
}

/* Runs, jumping from event to event, until done(ctx) or the virtual deadline. */
static bool sim_run(sim_t *s, bool (*done)(void *), void *ctx, uint64_t max_ns)
{
    uint64_t until = hs_clock_now(&s->clk) + max_ns;
    for (;;) {
        sim_poll(s);
        if (done && done(ctx))
            return true;
        uint64_t now = hs_clock_now(&s->clk), next = sim_next(s);
        if (next <= now)
            next = now + 1; /* due but nothing moved: let time pass */
        if (next > until)
            return false;
        hs_clock_set(&s->clk, next);
    }
}

static bool client_done(void *c)
{
    return hs_echo_client_done(c);
}

static hs_echo_server_t *server_on_b(sim_t *s, uint16_t port)
{
    hs_echo_server_t *es = NULL;
    hs_endpoint_t ep = {.fib_index = 0, .ip = IP_B, .port = port};
    assert_int_equal(hs_echo_server_start(s->sm[1], &ep, &es), 0);
    return es;
}

/* Runs a client from A to B:port to the end and returns its result. */
static hs_echo_client_result_t run_client(sim_t *s, uint16_t port, uint32_t n, uint64_t bytes,
                                          uint64_t max_ns)
{
    hs_echo_client_config_t cfg = {.rmt = {.fib_index = 0, .ip = IP_B, .port = port},
                                   .n_clients = n,
                                   .bytes = bytes,
                                   .seed = 0x5eed0000u + n,
                                   .worker = hs_session_connect_worker(s->sm[0], 0, IP_B)};
    hs_echo_client_t *c = NULL;
    assert_int_equal(hs_echo_client_start(s->sm[0], &cfg, &c), 0);
    bool finished = sim_run(s, client_done, c, max_ns);
    hs_echo_client_result_t r;
    hs_echo_client_result(c, &r);
    hs_str_t out = {0};
    hs_echo_client_format(&r, &out);
    printf("%s", hs_str_cstr(&out));
    hs_str_free(&out);
    assert_true(finished);
    assert_int_equal(hs_echo_client_destroy(c), 0);
    return r;
}

static void expect_all_freed(sim_t *s)
{
    /* The server's side ends after LAST-ACK, the client's on entering TIME-WAIT: give the
     * last ACKs time to cross, then only listen sessions remain. */
    sim_run(s, NULL, NULL, 10 * HS_NS_PER_MS);
    assert_int_equal(hs_pool_count(&hs_session_worker(s->sm[0], 0)->sessions), 0);
    assert_int_equal(hs_pool_count(&hs_session_worker(s->sm[1], 0)->sessions), 1);
}

static void test_one_connection_1mb(void **state)
{
    sim_t *s = *state;
    hs_echo_server_t *es = server_on_b(s, 7);
    hs_echo_client_result_t r = run_client(s, 7, 1, MB, 30 * HS_NS_PER_S);
    assert_true(hs_echo_client_ok(&r));
    assert_int_equal(r.completed, 1);
    assert_int_equal(r.bytes_sent, MB);
    assert_int_equal(r.bytes_verified, MB);
    assert_int_equal(r.verify_failed, 0);
    assert_true(r.data_done_ns > r.start_ns);
    expect_all_freed(s);
    hs_echo_server_stats_t st;
    hs_echo_server_stats(es, &st);
    assert_int_equal(st.bytes, MB);
    assert_int_equal(st.accepted, 1);
    assert_int_equal(st.closed, 1);
    assert_int_equal(st.resets, 0);
    hs_echo_server_stop(es);
    assert_int_equal(hs_echo_server_destroy(es), 0);
}

static void test_eight_connections(void **state)
{
    sim_t *s = *state;
    hs_echo_server_t *es = server_on_b(s, 5001);
    hs_echo_client_result_t r = run_client(s, 5001, 8, 300 * 1000 + 7, 30 * HS_NS_PER_S);
    assert_true(hs_echo_client_ok(&r));
    assert_int_equal(r.completed, 8);
    assert_int_equal(r.bytes_verified, 8ull * (300 * 1000 + 7));
    expect_all_freed(s);
    /* A second run on the same stacks reuses the freed sessions and FIFOs. */
    r = run_client(s, 5001, 3, 12345, 30 * HS_NS_PER_S);
    assert_true(hs_echo_client_ok(&r));
    expect_all_freed(s);
    hs_echo_server_stop(es);
    assert_int_equal(hs_echo_server_destroy(es), 0);
}

static void test_closed_port_refused(void **state)
{
    sim_t *s = *state;
    uint64_t t0 = hs_clock_now(&s->clk);
    hs_echo_client_result_t r = run_client(s, 9, 2, 1000, 30 * HS_NS_PER_S);
    assert_false(hs_echo_client_ok(&r));
    assert_int_equal(r.connect_failed, 2);
    assert_int_equal(r.first_error, -ECONNREFUSED);
    assert_int_equal(r.completed, 0);
    /* Refused by the peer's RST, not by a timeout: ARP and one round trip. */
    assert_true(hs_clock_now(&s->clk) - t0 < 100 * HS_NS_PER_MS);
    assert_int_equal(hs_pool_count(&hs_session_worker(s->sm[0], 0)->sessions), 0);
}

/* Stopping a server with connections open resets them; the client sees resets. */
static void test_server_stop_resets(void **state)
{
    sim_t *s = *state;
    hs_echo_server_t *es = server_on_b(s, 7);
    hs_echo_client_config_t cfg = {
        .rmt = {.ip = IP_B, .port = 7}, .n_clients = 4, .bytes = 64ull * MB, .seed = 3};
    hs_echo_client_t *c = NULL;
    assert_int_equal(hs_echo_client_start(s->sm[0], &cfg, &c), 0);
    sim_run(s, NULL, NULL, 20 * HS_NS_PER_MS); /* connected and streaming */
    assert_false(hs_echo_client_done(c));
    assert_int_equal(hs_echo_server_sessions(es), 1 + 4);
    hs_str_t out = {0};
    hs_session_format(s->sm[1], true, &out);
    assert_non_null(strstr(hs_str_cstr(&out), "192.168.77.2:7 -> *"));
    assert_non_null(strstr(hs_str_cstr(&out), "192.168.77.2:7 -> 192.168.77.1:"));
    assert_non_null(strstr(hs_str_cstr(&out), "ready"));
    hs_str_free(&out);

    hs_echo_server_stop(es);
    assert_int_equal(hs_echo_server_destroy(es), -EBUSY);
    assert_true(sim_run(s, client_done, c, 5 * HS_NS_PER_S));
    hs_echo_client_result_t r;
    hs_echo_client_result(c, &r);
    assert_int_equal(r.resets, 4);
    assert_int_equal(r.completed, 0);
    assert_int_equal(r.verify_failed, 0); /* what did arrive was right */
    assert_true(r.bytes_verified > 0);
    assert_int_equal(hs_echo_client_destroy(c), 0);
    sim_run(s, NULL, NULL, 10 * HS_NS_PER_MS);
    assert_int_equal(hs_echo_server_sessions(es), 0);
    assert_int_equal(hs_echo_server_destroy(es), 0);
}

/* A client stopped half-way (the CLI's timeout) resets its connections and finishes. */
static void test_client_stop(void **state)
{
    sim_t *s = *state;
    hs_echo_server_t *es = server_on_b(s, 7);
    hs_echo_client_config_t cfg = {
        .rmt = {.ip = IP_B, .port = 7}, .n_clients = 2, .bytes = 64ull * MB, .seed = 4};
    hs_echo_client_t *c = NULL;
    assert_int_equal(hs_echo_client_start(s->sm[0], &cfg, &c), 0);
    sim_run(s, NULL, NULL, 20 * HS_NS_PER_MS);
    hs_echo_client_stop(c);
    assert_true(sim_run(s, client_done, c, 5 * HS_NS_PER_S));
    hs_echo_client_result_t r;
    hs_echo_client_result(c, &r);
    assert_true(r.stopped);
    assert_false(hs_echo_client_ok(&r));
    assert_int_equal(r.verify_failed, 0);
    assert_int_equal(hs_echo_client_destroy(c), 0);
    sim_run(s, NULL, NULL, 10 * HS_NS_PER_MS);
    hs_echo_server_stats_t st;
    hs_echo_server_stats(es, &st);
    assert_int_equal(st.resets, 2);
    assert_int_equal(hs_echo_server_sessions(es), 1);
    hs_echo_server_stop(es);
    assert_int_equal(hs_echo_server_destroy(es), 0);
}

/* Stopping a client whose connects are still under way (nobody answers at .99) aborts
 * them at once instead of waiting for the SYN retries to give up. */
static void test_client_stop_while_connecting(void **state)
{
    sim_t *s = *state;
    hs_echo_client_config_t cfg = {
        .rmt = {.ip = 0xc0a84d63u, .port = 7}, .n_clients = 3, .bytes = 1000, .seed = 5};
    hs_echo_client_t *c = NULL;
    assert_int_equal(hs_echo_client_start(s->sm[0], &cfg, &c), 0);
    sim_run(s, NULL, NULL, 1500 * HS_NS_PER_MS); /* past the first SYN retransmission */
    assert_false(hs_echo_client_done(c));
    hs_echo_client_result_t r;
    hs_echo_client_result(c, &r); /* a partial view is consistent */
    assert_true(r.end_ns >= r.start_ns && r.data_done_ns >= r.start_ns);
    uint64_t t0 = hs_clock_now(&s->clk);
    hs_echo_client_stop(c);
    assert_true(sim_run(s, client_done, c, 5 * HS_NS_PER_S));
    assert_true(hs_clock_now(&s->clk) - t0 < 10 * HS_NS_PER_MS);
    hs_echo_client_result(c, &r);
    assert_true(r.stopped);
    assert_int_equal(r.connected, 0);
    assert_int_equal(hs_echo_client_destroy(c), 0);
    assert_int_equal(hs_pool_count(&hs_session_worker(s->sm[0], 0)->sessions), 0);
}

/* Two workers per stack: the wire's single queue is polled by one of them, listeners
 * exist on both, the client runs on the worker its replies come to. */
static void test_two_workers(void **state)
{
    sim_t *s = *state;
    hs_echo_server_t *es = server_on_b(s, 7);
    for (int i = 0; i < 2; i++)
        for (uint32_t w = 0; w < 2; w++)
            assert_int_equal(hs_pool_count(&hs_session_worker(s->sm[i], w)->sessions), i);
    hs_interface_t *ifc = hs_interface_by_name(s->net[0], "wire0");
    assert_int_equal(hs_session_connect_worker(s->sm[0], 0, IP_B), ifc->queue_worker[0]);
    hs_echo_client_result_t r = run_client(s, 7, 4, 200 * 1000, 30 * HS_NS_PER_S);
    assert_true(hs_echo_client_ok(&r));
    assert_int_equal(r.bytes_verified, 4 * 200 * 1000);
    sim_run(s, NULL, NULL, 10 * HS_NS_PER_MS);
    hs_echo_server_stats_t st;
    hs_echo_server_stats(es, &st);
    assert_int_equal(st.accepted, 4);
    assert_int_equal(st.bytes, 4 * 200 * 1000);
    assert_int_equal(hs_echo_server_sessions(es), 2); /* the two listen sessions */
    hs_echo_server_stop(es);
    assert_int_equal(hs_echo_server_destroy(es), 0);
}

/* Sum of one node's counter for a reason over a stack's workers. */
static uint64_t node_count(hs_net_t *net, const char *node, uint16_t code)
{
    int ni = hs_graph_node_index(&net->graph, node);
    assert_true(ni >= 0);
    uint64_t sum = 0;
    for (uint32_t w = 0; w < net->n_workers; w++)
        sum += hs_net_worker(net, w)->rt.nodes[ni].errors[code];
    return sum;
}

/* Runs a client on stack `side`, worker w, to ip:port to the end; every byte verified. */
static void run_client_on(sim_t *s, int side, uint32_t w, uint32_t ip, uint16_t port, uint32_t n,
                          uint64_t bytes)
{
    hs_echo_client_config_t cfg = {.rmt = {.ip = ip, .port = port},
                                   .n_clients = n,
                                   .bytes = bytes,
                                   .seed = 0x5eed0000u + w,
                                   .worker = w};
    hs_echo_client_t *c = NULL;
    assert_int_equal(hs_echo_client_start(s->sm[side], &cfg, &c), 0);
    assert_true(sim_run(s, client_done, c, 60 * HS_NS_PER_S));
    hs_echo_client_result_t r;
    hs_echo_client_result(c, &r);
    assert_true(hs_echo_client_ok(&r));
    assert_int_equal(r.completed, n);
    assert_int_equal(r.bytes_verified, (uint64_t)n * bytes);
    assert_int_equal(hs_echo_client_destroy(c), 0);
}

/* Three workers per stack, one single-queue interface each: the worker polling the queue
 * hands every segment of another worker's flow to its owner (net/handoff.h). Passive opens
 * land on all three workers; active opens work from every worker, also from those that
 * poll no queue; connections to the stack's own address cross workers both ways. */
static void test_three_workers_handoff(void **state)
{
    sim_t *s = *state;
    hs_echo_server_t *es = server_on_b(s, 7), *local = NULL;
    hs_endpoint_t ep = {.ip = IP_A, .port = 8};
    assert_int_equal(hs_echo_server_start(s->sm[0], &ep, &local), 0);
    for (uint32_t w = 0; w < 3; w++)
        run_client_on(s, 0, w, IP_B, 7, 12, 50 * 1000);
    run_client_on(s, 0, 2, IP_A, 8, 10, 30 * 1000);
    sim_run(s, NULL, NULL, 10 * HS_NS_PER_MS);
    hs_echo_server_stats_t st;
    hs_echo_server_stats(es, &st);
    assert_int_equal(st.accepted, 36);
    /* B's 36 passive opens spread over its workers by the flow hash (seed 7). */
    for (uint32_t w = 0; w < 3; w++) {
        hs_tcp_worker_t *tw = &s->sm[1]->tcp_workers[w];
        assert_true(tw->stats[HS_TCP_S_PASSIVE_OPENS] > 0);
    }
    for (int i = 0; i < 2; i++) {
        uint64_t sent = node_count(s->net[i], "tcp4-input", HS_TCP_E_HANDOFF);
        assert_true(sent > 0);
        assert_int_equal(node_count(s->net[i], "handoff-input", HS_HANDOFF_E_RECEIVED), sent);
        assert_int_equal(node_count(s->net[i], "tcp4-input", HS_TCP_E_HANDOFF_FULL), 0);
        assert_int_equal(node_count(s->net[i], "tcp4-input", HS_TCP_E_NO_LISTENER), 0);
    }
    hs_echo_server_stop(es);
    hs_echo_server_stop(local);
    assert_int_equal(hs_echo_server_destroy(es), 0);
    assert_int_equal(hs_echo_server_destroy(local), 0);
}

/* Client and server on the same stack: the packets loop back through ip4-local. */
static void test_local_connection(void **state)
{
    sim_t *s = *state;
    hs_echo_server_t *es = NULL;
    hs_endpoint_t ep = {.ip = IP_A, .port = 8};
    assert_int_equal(hs_echo_server_start(s->sm[0], &ep, &es), 0);
    hs_echo_client_config_t cfg = {.rmt = ep, .n_clients = 3, .bytes = 700 * 1000, .seed = 8};
    hs_echo_client_t *c = NULL;
    assert_int_equal(hs_echo_client_start(s->sm[0], &cfg, &c), 0);
    assert_true(sim_run(s, client_done, c, 5 * HS_NS_PER_S));
    hs_echo_client_result_t r;
    hs_echo_client_result(c, &r);
    hs_str_t out = {0};
    hs_echo_client_format(&r, &out);
    printf("%s", hs_str_cstr(&out));
    hs_str_free(&out);
    assert_true(hs_echo_client_ok(&r));
    assert_int_equal(r.bytes_verified, 3 * 700 * 1000);
    /* No wire: on virtual time the whole run may take no time at all. */
    assert_true(r.data_done_ns >= r.start_ns && r.end_ns >= r.data_done_ns);
    assert_int_equal(hs_echo_client_destroy(c), 0);
    sim_run(s, NULL, NULL, 10 * HS_NS_PER_MS);
    assert_int_equal(hs_echo_server_sessions(es), 1);
    hs_echo_server_stop(es);
    assert_int_equal(hs_echo_server_destroy(es), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_connection_1mb, sim_setup, sim_teardown),
        cmocka_unit_test_setup_teardown(test_eight_connections, sim_setup, sim_teardown),
        cmocka_unit_test_setup_teardown(test_closed_port_refused, sim_setup, sim_teardown),
        cmocka_unit_test_setup_teardown(test_server_stop_resets, sim_setup, sim_teardown),
        cmocka_unit_test_setup_teardown(test_client_stop, sim_setup, sim_teardown),
        cmocka_unit_test_setup_teardown(test_client_stop_while_connecting, sim_setup, sim_teardown),
        cmocka_unit_test_setup_teardown(test_local_connection, sim_setup, sim_teardown),
        cmocka_unit_test_setup_teardown(test_two_workers, sim_setup2, sim_teardown),
        cmocka_unit_test_setup_teardown(test_three_workers_handoff, sim_setup3, sim_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
