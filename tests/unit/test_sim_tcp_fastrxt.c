/* Simulation: loss repaired by fast retransmit (RFC 5681 3.2, RFC 6582), not by the
 * retransmission timer. One-way bulk (B only ACKs) at 1% random loss: a lost segment is
 * followed by a flight of out-of-order ones, each of which must draw an immediate
 * duplicate ACK (RFC 5681 4.2), so the third one triggers fast retransmit and most losses
 * cost no RTO (200 ms at least). */
#include "drivers/wire.h"
#include "session/stack.h"
#include "sim_tcp.h"

static void test_fast_retransmit(void **state)
{
    (void)state;
    sim_config_t cfg = sim_lan(21);
    cfg.dir[0].loss_pct = cfg.dir[1].loss_pct = 1;
    sim_t *s = sim_create(&cfg);
    sim_bulk_result_t r = sim_bulk2(s, 20 * SIM_MB, 0, 3600 * HS_NS_PER_S);
    uint64_t lost = hs_wire_counters(s->wire, 0)->lost;
    printf("data frames lost %lu: fast retransmits %lu, timeouts %lu\n", (unsigned long)lost,
           (unsigned long)r.fast_retransmits, (unsigned long)r.timeouts);
    SIM_CHECK(s, r.fast_retransmits > 0);
    /* NewReno repairs one loss per round trip in recovery; a timeout may still end a
     * recovery with several losses in one window, but not most of them. */
    SIM_CHECK(s, r.timeouts * 4 < lost);
    sim_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_retransmit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
