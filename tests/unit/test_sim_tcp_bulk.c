/* Simulation: SIM_BULK_BYTES each way over a clean LAN (no loss): verified byte for byte,
 * no retransmission at all. */
#include "drivers/wire.h"
#include "session/stack.h"
#include "sim_tcp.h"

static void test_bulk_clean(void **state)
{
    (void)state;
    sim_config_t cfg = sim_lan(1);
    sim_t *s = sim_create(&cfg);
    sim_bulk_result_t r = sim_bulk(s, SIM_BULK_BYTES, 600 * HS_NS_PER_S);
    SIM_CHECK(s, r.retransmits == 0 && r.timeouts == 0);
    sim_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bulk_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
