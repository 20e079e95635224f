/* Clock tests: the real clock is monotonic, the virtual one moves only when told. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <time.h>

#include "infra/clock.h"

static void test_mono_is_monotonic(void **state)
{
    (void)state;
    uint64_t prev = hs_clock_mono_ns();
    assert_true(prev > 0);
    for (int i = 0; i < 100000; i++) {
        uint64_t now = hs_clock_mono_ns();
        assert_true(now >= prev);
        prev = now;
    }
    /* A 2 ms sleep is seen as at least 2 ms (and, on any sane machine, under 2 s). */
    uint64_t t0 = hs_clock_mono_ns();
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 2000000};
    nanosleep(&ts, NULL);
    uint64_t dt = hs_clock_mono_ns() - t0;
    assert_true(dt >= 2 * HS_NS_PER_MS);
    assert_true(dt < 2 * HS_NS_PER_S);
}

static void test_real_clock_object(void **state)
{
    (void)state;
    hs_clock_t c;
    hs_clock_init_real(&c);
    assert_false(hs_clock_is_virtual(&c));
    uint64_t a = hs_clock_mono_ns();
    uint64_t b = hs_clock_now(&c);
    uint64_t d = hs_clock_mono_ns();
    assert_true(a <= b && b <= d);
    assert_int_equal(hs_clock_advance(&c, 5), -EINVAL);
    assert_int_equal(hs_clock_set(&c, b + 10), -EINVAL);
}

static void test_virtual_clock(void **state)
{
    (void)state;
    hs_clock_t c;
    hs_clock_init_virtual(&c, 1000);
    assert_true(hs_clock_is_virtual(&c));
    assert_int_equal(hs_clock_now(&c), 1000);
    assert_int_equal(hs_clock_now(&c), 1000); /* reading does not move it */
    assert_int_equal(hs_clock_advance(&c, 0), 0);
    assert_int_equal(hs_clock_now(&c), 1000);
    assert_int_equal(hs_clock_advance(&c, 234), 0);
    assert_int_equal(hs_clock_now(&c), 1234);
    assert_int_equal(hs_clock_advance(&c, 5 * HS_NS_PER_S), 0);
    assert_int_equal(hs_clock_now(&c), 5 * HS_NS_PER_S + 1234);

    assert_int_equal(hs_clock_set(&c, 10 * HS_NS_PER_S), 0);
    assert_int_equal(hs_clock_now(&c), 10 * HS_NS_PER_S);
    assert_int_equal(hs_clock_set(&c, 10 * HS_NS_PER_S), 0); /* same time is fine */
    assert_int_equal(hs_clock_set(&c, 9 * HS_NS_PER_S), -EINVAL);
    assert_int_equal(hs_clock_now(&c), 10 * HS_NS_PER_S);

    /* Saturates instead of wrapping. */
    assert_int_equal(hs_clock_advance(&c, UINT64_MAX - 5), 0);
    assert_true(hs_clock_now(&c) == UINT64_MAX);
}

static void test_virtual_independent_of_real_time(void **state)
{
    (void)state;
    hs_clock_t c;
    hs_clock_init_virtual(&c, 0);
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 1000000};
    nanosleep(&ts, NULL);
    assert_int_equal(hs_clock_now(&c), 0);
}

static void test_cycles_advance(void **state)
{
    (void)state;
    uint64_t a = hs_clock_cycles();
    uint64_t t0 = hs_clock_mono_ns();
    while (hs_clock_mono_ns() - t0 < 1000000) /* spin 1 ms */
        ;
    uint64_t b = hs_clock_cycles();
    assert_true(b > a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mono_is_monotonic),
        cmocka_unit_test(test_real_clock_object),
        cmocka_unit_test(test_virtual_clock),
        cmocka_unit_test(test_virtual_independent_of_real_time),
        cmocka_unit_test(test_cycles_advance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
