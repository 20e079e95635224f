/* Simulation: SIM_BULK_BYTES each way at once over a LAN losing 1% of the frames in both
 * directions (data, ACKs, SYNs and FINs alike), two seeds: every byte arrives and is
 * verified on both sides, both closes complete, nobody resets. */
#include "drivers/wire.h"
#include "session/stack.h"
#include "sim_tcp.h"

static void run(uint64_t seed)
{
    sim_config_t cfg = sim_lan(seed);
    cfg.dir[0].loss_pct = cfg.dir[1].loss_pct = 1;
    sim_t *s = sim_create(&cfg);
    sim_bulk_result_t r = sim_bulk(s, SIM_BULK_BYTES, 3600 * HS_NS_PER_S);
    SIM_CHECK(s, hs_wire_counters(s->wire, 0)->lost > 0 && hs_wire_counters(s->wire, 1)->lost > 0);
    SIM_CHECK(s, r.retransmits > 0);
    sim_destroy(s);
}

static void test_bulk_loss_seed_11(void **state)
{
    (void)state;
    run(11);
}

static void test_bulk_loss_seed_12(void **state)
{
    (void)state;
    run(12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bulk_loss_seed_11),
        cmocka_unit_test(test_bulk_loss_seed_12),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
