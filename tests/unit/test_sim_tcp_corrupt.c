/* Simulation: SIM_BULK_BYTES each way at once while 1% of the frames get one random bit
 * flipped. The IPv4 header checksum or the TCP checksum catches every flip that matters
 * (a flip in a MAC address or the ethertype loses the frame at ethernet-input); nothing
 * corrupt ever reaches an app: the streams verify byte for byte, the damaged segments
 * are recovered like losses. */
#include "drivers/wire.h"
#include "session/stack.h"
#include "sim_tcp.h"

static void test_bulk_corrupt(void **state)
{
    (void)state;
    sim_config_t cfg = sim_lan(14);
    cfg.dir[0].corrupt_pct = cfg.dir[1].corrupt_pct = 1;
    sim_t *s = sim_create(&cfg);
    sim_bulk_result_t r = sim_bulk(s, SIM_BULK_BYTES, 3600 * HS_NS_PER_S);
    uint64_t bad =
        sim_tcp_drop(s, 0, HS_TCP_E_BAD_CHECKSUM) + sim_tcp_drop(s, 1, HS_TCP_E_BAD_CHECKSUM);
    uint64_t flipped =
        hs_wire_counters(s->wire, 0)->corrupted + hs_wire_counters(s->wire, 1)->corrupted;
    printf("%lu frames corrupted, %lu caught by the TCP checksum\n", (unsigned long)flipped,
           (unsigned long)bad);
    SIM_CHECK(s, bad > 0 && bad <= flipped);
    /* Most of a frame is TCP payload: most flips land where only the TCP checksum sees them. */
    SIM_CHECK(s, bad * 2 > flipped);
    SIM_CHECK(s, r.retransmits > 0);
    sim_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bulk_corrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
