/* Simulation: SIM_BULK_BYTES each way at once while 2% of the frames are delivered twice:
 * duplicate data is recognised (below RCV.NXT: dropped with an ACK), never delivered twice
 * to the app, and duplicate ACKs do not disturb the sender. Verified byte for byte on
 * both sides. */
#include "drivers/wire.h"
#include "session/stack.h"
#include "sim_tcp.h"

static void test_bulk_dup(void **state)
{
    (void)state;
    sim_config_t cfg = sim_lan(13);
    cfg.dir[0].dup_pct = cfg.dir[1].dup_pct = 2;
    sim_t *s = sim_create(&cfg);
    sim_bulk(s, SIM_BULK_BYTES, 3600 * HS_NS_PER_S);
    SIM_CHECK(s, hs_wire_counters(s->wire, 0)->duplicated > 0);
    for (int i = 0; i < 2; i++)
        SIM_CHECK(s, sim_tcp_drop(s, i, HS_TCP_E_NOT_IN_WINDOW) +
                             sim_tcp_stat(s, i, HS_TCP_S_DUP_SEGS_IN) >
                         0);
    /* Nothing was lost, so nothing needed sending again. */
    SIM_CHECK(s,
              sim_tcp_stat(s, 0, HS_TCP_S_TIMEOUTS) + sim_tcp_stat(s, 1, HS_TCP_S_TIMEOUTS) == 0);
    sim_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bulk_dup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
