/* Simulation: SIM_BULK_BYTES each way at once while 3% of the frames are held back by up to
 * 300 us (three round trips of the 100 us LAN), so later frames overtake them: out-of-order
 * segments are kept and the stream is put back in order, verified byte for byte on both
 * sides. (Spurious fast retransmits are allowed: reordering beyond three segments looks like
 * loss to NewReno.) */
#include "drivers/wire.h"
#include "session/stack.h"
#include "sim_tcp.h"

static void test_bulk_reorder(void **state)
{
    (void)state;
    sim_config_t cfg = sim_lan(12);
    for (int d = 0; d < 2; d++) {
        cfg.dir[d].reorder_pct = 3;
        cfg.dir[d].reorder_max_ns = 300 * HS_NS_PER_US;
    }
    sim_t *s = sim_create(&cfg);
    sim_bulk(s, SIM_BULK_BYTES, 3600 * HS_NS_PER_S);
    SIM_CHECK(s, hs_wire_counters(s->wire, 0)->reordered > 0);
    SIM_CHECK(s, sim_tcp_stat(s, 0, HS_TCP_S_OOO_SEGS_IN) > 0);
    SIM_CHECK(s, sim_tcp_stat(s, 1, HS_TCP_S_OOO_SEGS_IN) > 0);
    sim_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bulk_reorder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
