/* Simulation: slow start grows the congestion window exponentially (RFC 5681 3.1: about
 * doubling per round trip, 1.5x with delayed ACKs). A receiving stack gets a whole flight
 * in one input vector; if it then sends one ACK for the flight (a stretch ACK, against RFC
 * 5681 4.2's "at least every second full-sized segment") and the sender adds at most
 * 2 SMSS per ACK (RFC 3465, L = 2), slow start degrades to 2 segments per round trip.
 * Either end can fix it (ACK every second segment; or count every acknowledged byte, as
 * Linux does); this checks the outcome. One-way bulk over a clean 100 us LAN with 8 MiB
 * FIFOs, so the receive window never limits. */
#include "drivers/wire.h"
#include "session/stack.h"
#include "sim_tcp.h"

static hs_tcp_conn_t *conn_of(sim_t *s, int side)
{
    hs_tcp_worker_t *tw = sim_tcp(s, side);
    hs_pool_foreach(&tw->conns, i) return hs_tcp_conn_get(tw, i);
    return NULL;
}

static void test_slow_start_exponential(void **state)
{
    (void)state;
    sim_config_t cfg = sim_lan(31);
    cfg.fifo_size = 8u << 20;
    sim_t *s = sim_create(&cfg);
    static sim_app_t a, b;
    sim_app_cfg_t ac = {.tx_bytes = 256 * SIM_MB, .tx_seed = 1, .rx_seed = 2};
    sim_app_cfg_t bc = {.tx_seed = 2, .rx_seed = 1};
    sim_app_init(&a, s, 0, "sender", &ac);
    sim_app_init(&b, s, 1, "receiver", &bc);
    sim_app_listen(&b, 5001);
    sim_app_connect(&a, 5001);
    sim_run(s, NULL, NULL, 300 * HS_NS_PER_US); /* ARP and the handshake */
    hs_tcp_conn_t *tc = conn_of(s, 0);
    SIM_CHECK(s, tc && tc->state == HS_TCP_ESTABLISHED);
    uint32_t w0 = tc->cwnd / tc->snd_mss;
    sim_run(s, NULL, NULL, HS_NS_PER_MS); /* ten round trips */
    uint32_t w1 = tc->cwnd / tc->snd_mss;
    printf("cwnd %u segments, ten round trips later %u (B sent %lu ACKs meanwhile)\n", w0, w1,
           (unsigned long)sim_tcp_stat(s, 1, HS_TCP_S_SEGS_OUT));
    SIM_CHECK(s, tc->ssthresh > tc->cwnd); /* still in slow start: nothing was lost */
    SIM_CHECK(s, w1 >= 16 * w0);           /* 1.5^10 = 57, 2^10 = 1024; linear: +20 */
    SIM_CHECK(s, sim_tcp_stat(s, 0, HS_TCP_S_RETRANSMITS) == 0);
    SIM_CHECK(s, b.verify_failed == 0);
    sim_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_start_exponential),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
