/* Timer wheel tests on virtual time: exact expiry ticks across all levels and the
 * overflow list, stop/update, stale handles, exhaustion, bounded expiry, changes made
 * from callbacks during a cascade, next-expiry hints, and a seeded random model test with
 * a million timers checked against a reference array of deadlines. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "infra/clock.h"
#include "infra/timer_wheel.h"

#define TICK  (100 * HS_NS_PER_US)
#define RANGE (1ull << 24) /* ticks covered by the three levels */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Log-uniform below 2^max_bits: small and huge values both show up often. */
static uint64_t rng_log(uint64_t *s, unsigned max_bits)
{
    unsigned bits = (unsigned)(rng_next(s) % (max_bits + 1));
    return bits ? rng_next(s) & ((1ull << bits) - 1) : 0;
}

/* When a timer with this deadline must fire: the end of its tick. */
static uint64_t fire_time(uint64_t deadline, uint64_t tick)
{
    return (deadline + tick - 1) / tick * tick;
}

typedef struct {
    uint64_t users[4096];
    uint32_t n;
} rec_t;

static void record(void *ctx, uint64_t user)
{
    rec_t *r = ctx;
    assert_true(r->n < 4096);
    r->users[r->n++] = user;
}

static void test_init_args(void **state)
{
    (void)state;
    hs_tw_t tw;
    assert_int_equal(hs_tw_init(&tw, 0, 0, 0), -EINVAL);
    assert_int_equal(hs_tw_init(&tw, TICK, 5, 0), 0);
    assert_int_equal(hs_tw_count(&tw), 0);
    assert_true(hs_tw_next_expiry_ns(&tw) == UINT64_MAX);
    assert_int_equal(hs_tw_stop(&tw, HS_TW_INVALID), -ENOENT);
    assert_int_equal(hs_tw_stop(&tw, 0x0000000700000005ull), -ENOENT); /* never issued */
    assert_int_equal(hs_tw_update(&tw, HS_TW_INVALID, 5), -ENOENT);
    assert_false(hs_tw_is_running(&tw, HS_TW_INVALID));
    rec_t r = {0};
    assert_int_equal(hs_tw_expire(&tw, 10 * HS_NS_PER_S, record, &r, 0), 0);
    hs_tw_destroy(&tw);
}

typedef struct {
    uint64_t fire;
    uint32_t idx;
} sched_t;

static int cmp_sched(const void *a, const void *b)
{
    const sched_t *x = a, *y = b;
    return x->fire < y->fire ? -1 : x->fire > y->fire;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Starts timers with the given delays at now0, then calls expire at every fire time,
 * one nanosecond before each, and at random times between: each call must hand out
 * exactly the timers whose fire time has come. */
static void check_exact_expiry(uint64_t now0, const uint64_t *delays, uint32_t n, uint64_t seed)
{
    hs_tw_t tw;
    assert_int_equal(hs_tw_init(&tw, TICK, now0, 0), 0);
    sched_t *s = calloc(n, sizeof(*s));
    bool *fired = calloc(n, sizeof(*fired));
    uint32_t n_times = 0;
    uint64_t *times = calloc(4 * n, sizeof(*times));
    for (uint32_t i = 0; i < n; i++) {
        hs_tw_handle_t h =
            (i & 1) ? hs_tw_start(&tw, i, delays[i]) : hs_tw_start_at(&tw, i, now0 + delays[i]);
        assert_true(h != HS_TW_INVALID);
        s[i].fire = fire_time(now0 + delays[i], TICK);
        s[i].idx = i;
        times[n_times++] = s[i].fire;
        times[n_times++] = s[i].fire - 1;
        times[n_times++] = now0 + rng_next(&seed) % (delays[i] + 1);
        times[n_times++] = s[i].fire + rng_next(&seed) % (3 * TICK);
    }
    qsort(s, n, sizeof(*s), cmp_sched);
    qsort(times, n_times, sizeof(*times), cmp_u64);

    uint32_t next = 0; /* s[next..] have not fired */
    for (uint32_t k = 0; k < n_times; k++) {
        rec_t r = {0};
        uint32_t got = hs_tw_expire(&tw, times[k], record, &r, 0);
        assert_int_equal(got, r.n);
        for (uint32_t j = 0; j < r.n; j++) {
            assert_true(r.users[j] < n);
            assert_false(fired[r.users[j]]);
            fired[r.users[j]] = true;
        }
        uint32_t due = next;
        while (due < n && s[due].fire <= times[k])
            due++;
        if (r.n != due - next)
            fail_msg("at t=%llu: %u fired, %u due", (unsigned long long)times[k], r.n, due - next);
        for (; next < due; next++)
            if (!fired[s[next].idx])
                fail_msg("timer with delay %llu did not fire at %llu",
                         (unsigned long long)delays[s[next].idx], (unsigned long long)s[next].fire);
        assert_int_equal(hs_tw_count(&tw), n - next);
    }
    assert_int_equal(next, n);
    assert_int_equal(hs_tw_count(&tw), 0);
    free(s);
    free(fired);
    free(times);
    hs_tw_destroy(&tw);
}

#define N_FIXED 24

static uint32_t make_delays(uint64_t *d, uint32_t n_random, uint64_t seed)
{
    static const uint64_t fixed[N_FIXED] = {
        0,
        1,
        TICK - 1,
        TICK,
        TICK + 1,
        2 * TICK,
        255 * TICK,
        256 * TICK,
        256 * TICK + 1,
        257 * TICK - 7,
        512 * TICK,
        65535 * TICK,
        65536 * TICK,
        65536 * TICK + 3,
        65537 * TICK,
        131072 * TICK,
        (RANGE - 1) * TICK,
        RANGE * TICK - 1,
        RANGE * TICK,
        RANGE * TICK + 1,
        (RANGE + 256) * TICK,
        3 * RANGE * TICK + 12345,
        (1ull << 30) * TICK,
        (1ull << 30) * TICK + 65536 * TICK + 17,
    };
    memcpy(d, fixed, sizeof(fixed));
    for (uint32_t i = 0; i < n_random; i++)
        d[N_FIXED + i] = rng_log(&seed, 42);
    return N_FIXED + n_random;
}

static void test_exact_expiry_all_levels(void **state)
{
    (void)state;
    uint64_t d[N_FIXED + 500];
    uint32_t n = make_delays(d, 500, 7);
    check_exact_expiry(0, d, n, 1);                            /* tick-aligned start */
    check_exact_expiry(12345678901ull, d, n, 2);               /* unaligned start */
    check_exact_expiry(RANGE * TICK - 3 * TICK / 2, d, n, 3);  /* just before a wrap */
    check_exact_expiry(5 * HS_NS_PER_S * 86400 + 77, d, n, 4); /* days of uptime */
}

/* An epoll-style loop that sleeps until hs_tw_next_expiry_ns wakes up exactly at the
 * fire time, never after it, after a few wakeups at level boundaries. */
static void test_next_expiry_drives_loop(void **state)
{
    (void)state;
    uint64_t d[N_FIXED];
    make_delays(d, 0, 0);
    for (uint32_t i = 0; i < N_FIXED; i++) {
        uint64_t now = 3 * HS_NS_PER_S + 4321;
        hs_tw_t tw;
        assert_int_equal(hs_tw_init(&tw, TICK, now, 0), 0);
        assert_true(hs_tw_start(&tw, 99, d[i]) != HS_TW_INVALID);
        uint64_t fire = fire_time(now + d[i], TICK);
        uint32_t wakeups = 0;
        rec_t r = {0};
        while (r.n == 0) {
            uint64_t nx = hs_tw_next_expiry_ns(&tw);
            assert_true(nx > now && nx <= fire);
            now = nx;
            hs_tw_expire(&tw, now, record, &r, 0);
            wakeups++;
        }
        assert_true(now == fire);
        assert_int_equal(r.users[0], 99);
        assert_true(wakeups <= 4 + d[i] / (RANGE * TICK));
        assert_true(hs_tw_next_expiry_ns(&tw) == UINT64_MAX);
        hs_tw_destroy(&tw);
    }
}

static void test_past_deadline_fires_next_call(void **state)
{
    (void)state;
    hs_tw_t tw;
    uint64_t now = 50 * HS_NS_PER_MS + 5;
    assert_int_equal(hs_tw_init(&tw, TICK, now, 0), 0);
    rec_t r = {0};
    hs_tw_start_at(&tw, 1, now - 10 * HS_NS_PER_MS);
    hs_tw_start_at(&tw, 2, 0);
    assert_true(hs_tw_next_expiry_ns(&tw) == now);
    assert_int_equal(hs_tw_expire(&tw, now, record, &r, 0), 2);
    assert_int_equal(r.users[0] + r.users[1], 3);
    /* Time never goes back: an earlier now is ignored. */
    assert_int_equal(hs_tw_expire(&tw, now - 1000, record, &r, 0), 0);
    assert_true(hs_tw_now_ns(&tw) == now);
    hs_tw_destroy(&tw);
}

static void test_stop_and_update(void **state)
{
    (void)state;
    hs_tw_t tw;
    hs_clock_t clk;
    hs_clock_init_virtual(&clk, HS_NS_PER_S);
    assert_int_equal(hs_tw_init(&tw, TICK, hs_clock_now(&clk), 0), 0);
    hs_tw_handle_t h[1000];
    for (uint32_t i = 0; i < 1000; i++)
        h[i] = hs_tw_start(&tw, i, (i + 1) * HS_NS_PER_MS);
    for (uint32_t i = 0; i < 1000; i += 2)
        assert_int_equal(hs_tw_stop(&tw, h[i]), 0);
    assert_int_equal(hs_tw_stop(&tw, h[0]), -ENOENT); /* twice */
    assert_false(hs_tw_is_running(&tw, h[0]));
    assert_true(hs_tw_is_running(&tw, h[1]));
    assert_int_equal(hs_tw_count(&tw), 500);

    /* Timer 1 (2 ms) moves later to 5 s; timer 999 (1 s) moves earlier to 0.5 ms. */
    assert_int_equal(hs_tw_update(&tw, h[1], 5 * HS_NS_PER_S), 0);
    assert_int_equal(hs_tw_update(&tw, h[999], HS_NS_PER_MS / 2), 0);
    assert_int_equal(hs_tw_update(&tw, h[2], HS_NS_PER_MS), -ENOENT); /* stopped */

    rec_t r = {0};
    hs_clock_advance(&clk, HS_NS_PER_MS / 2);
    assert_int_equal(hs_tw_expire(&tw, hs_clock_now(&clk), record, &r, 0), 1);
    assert_int_equal(r.users[0], 999);
    assert_int_equal(hs_tw_update(&tw, h[999], HS_NS_PER_MS), -ENOENT); /* fired */

    hs_clock_advance(&clk, HS_NS_PER_S);
    r.n = 0;
    assert_int_equal(hs_tw_expire(&tw, hs_clock_now(&clk), record, &r, 0), 498);
    for (uint32_t j = 0; j < r.n; j++)
        assert_true(r.users[j] & 1 && r.users[j] != 1 && r.users[j] != 999);
    /* In tick order: deadlines i + 1 ms increase with i. */
    for (uint32_t j = 1; j < r.n; j++)
        assert_true(r.users[j] > r.users[j - 1]);

    r.n = 0;
    hs_clock_set(&clk, HS_NS_PER_S + 5 * HS_NS_PER_S - 1);
    assert_int_equal(hs_tw_expire(&tw, hs_clock_now(&clk), record, &r, 0), 0);
    hs_clock_advance(&clk, 1);
    assert_int_equal(hs_tw_expire(&tw, hs_clock_now(&clk), record, &r, 0), 1);
    assert_int_equal(r.users[0], 1);
    assert_int_equal(hs_tw_count(&tw), 0);
    hs_tw_destroy(&tw);
}

/* Stopping the only timer of a slot, at any level or in the overflow list, leaves no
 * trace: the next-expiry hint goes back to "none" instead of waking for an empty slot. */
static void test_stop_leaves_wheel_empty(void **state)
{
    (void)state;
    static const uint64_t delays[] = {TICK, 300 * TICK, 70000 * TICK, 2 * RANGE * TICK};
    hs_tw_t tw;
    assert_int_equal(hs_tw_init(&tw, TICK, 777, 0), 0);
    for (size_t i = 0; i < sizeof(delays) / sizeof(delays[0]); i++) {
        hs_tw_handle_t h = hs_tw_start(&tw, i, delays[i]);
        uint64_t nx = hs_tw_next_expiry_ns(&tw);
        assert_true(nx > 777 && nx <= fire_time(777 + delays[i], TICK));
        assert_int_equal(hs_tw_stop(&tw, h), 0);
        assert_true(hs_tw_next_expiry_ns(&tw) == UINT64_MAX);
    }
    rec_t r = {0};
    assert_int_equal(hs_tw_expire(&tw, 3 * RANGE * TICK, record, &r, 0), 0);
    hs_tw_destroy(&tw);
}

/* A handle kept after its timer fired must not touch the timer that reuses its slot. */
static void test_stale_handle(void **state)
{
    (void)state;
    hs_tw_t tw;
    assert_int_equal(hs_tw_init(&tw, TICK, 0, 0), 0);
    hs_tw_handle_t a = hs_tw_start(&tw, 1, TICK);
    rec_t r = {0};
    assert_int_equal(hs_tw_expire(&tw, TICK, record, &r, 0), 1);
    hs_tw_handle_t b = hs_tw_start(&tw, 2, TICK);
    assert_int_equal((uint32_t)a, (uint32_t)b); /* same slot... */
    assert_true(a != b);                        /* ...another generation */
    assert_int_equal(hs_tw_stop(&tw, a), -ENOENT);
    assert_int_equal(hs_tw_update(&tw, a, 100 * TICK), -ENOENT);
    assert_false(hs_tw_is_running(&tw, a));
    r.n = 0;
    assert_int_equal(hs_tw_expire(&tw, 2 * TICK, record, &r, 0), 1);
    assert_int_equal(r.users[0], 2);

    hs_tw_handle_t c = hs_tw_start(&tw, 3, TICK);
    assert_int_equal(hs_tw_stop(&tw, c), 0);
    hs_tw_handle_t d = hs_tw_start(&tw, 4, TICK);
    assert_int_equal(hs_tw_stop(&tw, c), -ENOENT);
    assert_true(hs_tw_is_running(&tw, d));
    hs_tw_destroy(&tw);
}

static void test_exhaustion(void **state)
{
    (void)state;
    hs_tw_t tw;
    assert_int_equal(hs_tw_init(&tw, TICK, 0, 8), 0);
    hs_tw_handle_t h[8];
    for (int i = 0; i < 8; i++) {
        h[i] = hs_tw_start(&tw, (uint64_t)i, HS_NS_PER_MS);
        assert_true(h[i] != HS_TW_INVALID);
    }
    assert_true(hs_tw_start(&tw, 8, HS_NS_PER_MS) == HS_TW_INVALID);
    assert_int_equal(hs_tw_count(&tw), 8);
    assert_int_equal(hs_tw_stop(&tw, h[3]), 0);
    assert_true(hs_tw_start(&tw, 9, HS_NS_PER_MS) != HS_TW_INVALID);
    rec_t r = {0};
    assert_int_equal(hs_tw_expire(&tw, HS_NS_PER_MS, record, &r, 0), 8);
    hs_tw_destroy(&tw);
}

/* 1000 timers over 10 ticks come out at most max per call, earliest tick first; a due
 * timer not yet handed out can still be stopped or moved. */
static void test_bounded_expiry(void **state)
{
    (void)state;
    hs_tw_t tw;
    assert_int_equal(hs_tw_init(&tw, TICK, 0, 0), 0);
    hs_tw_handle_t h[1000];
    for (uint32_t i = 0; i < 1000; i++)
        h[i] = hs_tw_start(&tw, i, (i % 10 + 1) * TICK);

    rec_t r = {0};
    assert_int_equal(hs_tw_expire(&tw, 20 * TICK, record, &r, 64), 64);
    assert_int_equal(hs_tw_count(&tw), 936);
    assert_true(hs_tw_next_expiry_ns(&tw) == 20 * TICK); /* more are due now */
    /* Move one still-due timer (tick 10) later and stop another. */
    assert_int_equal(hs_tw_update_at(&tw, h[9], 100 * TICK), 0);
    assert_int_equal(hs_tw_stop(&tw, h[19]), 0);

    uint32_t calls = 1;
    while (true) {
        uint32_t before = r.n;
        uint32_t got = hs_tw_expire(&tw, 20 * TICK, record, &r, 64);
        calls++;
        assert_int_equal(got, r.n - before);
        assert_true(got <= 64);
        if (got < 64)
            break;
    }
    assert_int_equal(r.n, 998);
    assert_int_equal(calls, 16);
    for (uint32_t j = 1; j < r.n; j++)
        assert_true(r.users[j] % 10 >= r.users[j - 1] % 10); /* tick order */
    for (uint32_t j = 0; j < r.n; j++)
        assert_true(r.users[j] != 9 && r.users[j] != 19);
    assert_int_equal(hs_tw_count(&tw), 1);

    uint64_t out[4];
    assert_int_equal(hs_tw_expire_vec(&tw, 100 * TICK - 1, out, 4), 0);
    assert_int_equal(hs_tw_expire_vec(&tw, 100 * TICK, out, 4), 1);
    assert_int_equal(out[0], 9);

    for (uint32_t i = 0; i < 10; i++)
        hs_tw_start(&tw, 100 + i, TICK);
    assert_int_equal(hs_tw_expire_vec(&tw, 101 * TICK, out, 4), 4);
    assert_int_equal(hs_tw_expire_vec(&tw, 101 * TICK, out, 4), 4);
    assert_int_equal(hs_tw_expire_vec(&tw, 101 * TICK, out, 4), 2);
    assert_int_equal(hs_tw_count(&tw), 0);
    hs_tw_destroy(&tw);
}

/* Callbacks that run at a tick where levels 1 and 2 cascade start and stop timers. */
typedef struct {
    hs_tw_t *tw;
    hs_tw_handle_t victim;
    uint64_t fired_at[16];
    uint32_t calls;
    uint64_t now;
    bool started;
} cascade_ctx_t;

static void on_cascade(void *arg, uint64_t user)
{
    cascade_ctx_t *c = arg;
    assert_true(user < 16);
    assert_true(c->fired_at[user] == 0);
    c->fired_at[user] = c->now;
    c->calls++;
    if (c->started)
        return;
    c->started = true;
    assert_int_equal(hs_tw_stop(c->tw, c->victim), 0);
    hs_tw_start(c->tw, 10, 0);
    hs_tw_start(c->tw, 11, TICK);
    hs_tw_start(c->tw, 12, 256 * TICK);
    hs_tw_start(c->tw, 13, 65536 * TICK);
    hs_tw_start(c->tw, 14, RANGE * TICK);
}

static void test_changes_during_cascade(void **state)
{
    (void)state;
    hs_tw_t tw;
    assert_int_equal(hs_tw_init(&tw, TICK, 0, 0), 0);
    const uint64_t b = 65536 * TICK; /* levels 1 and 2 both cascade at tick 65536 */
    cascade_ctx_t c = {.tw = &tw};
    hs_tw_start_at(&tw, 1, b);
    hs_tw_start_at(&tw, 2, b - TICK + 1); /* same tick, deadline inside it */
    c.victim = hs_tw_start_at(&tw, 3, b + TICK);
    hs_tw_start_at(&tw, 4, b + 256 * TICK);

    uint64_t times[] = {b - 1,          b,     b + 1,           b + TICK, b + 256 * TICK,
                        b + 512 * TICK, 2 * b, b + RANGE * TICK};
    for (size_t k = 0; k < sizeof(times) / sizeof(times[0]); k++) {
        c.now = times[k];
        hs_tw_expire(&tw, c.now, on_cascade, &c, 0);
    }
    assert_true(c.fired_at[1] == b && c.fired_at[2] == b);
    assert_true(c.fired_at[3] == 0); /* stopped from a callback while in a due slot */
    assert_true(c.fired_at[4] == b + 256 * TICK);
    assert_true(c.fired_at[10] == b + 1); /* due at once: the next call */
    assert_true(c.fired_at[11] == b + TICK);
    assert_true(c.fired_at[12] == b + 256 * TICK);
    assert_true(c.fired_at[13] == 2 * b);
    assert_true(c.fired_at[14] == b + RANGE * TICK);
    assert_int_equal(c.calls, 8);
    assert_int_equal(hs_tw_count(&tw), 0);
    hs_tw_destroy(&tw);
}

/* A callback that restarts its timer with zero delay must not keep expire looping. */
typedef struct {
    hs_tw_t *tw;
    uint32_t calls;
} restart_ctx_t;

static void restart_now(void *arg, uint64_t user)
{
    restart_ctx_t *c = arg;
    c->calls++;
    assert_true(hs_tw_start(c->tw, user, 0) != HS_TW_INVALID);
}

static void test_zero_delay_restart_terminates(void **state)
{
    (void)state;
    hs_tw_t tw;
    assert_int_equal(hs_tw_init(&tw, TICK, 0, 0), 0);
    restart_ctx_t c = {.tw = &tw};
    hs_tw_start(&tw, 5, 0);
    for (int i = 1; i <= 100; i++) {
        assert_int_equal(hs_tw_expire(&tw, 10 * TICK, restart_now, &c, 0), 1);
        assert_int_equal(c.calls, i);
        assert_int_equal(hs_tw_count(&tw), 1);
    }
    hs_tw_destroy(&tw);
}

/* ---- random model test ---- */

typedef struct {
    hs_tw_t tw;
    uint32_t n;
    uint64_t tick;
    hs_tw_handle_t *handle; /* 0: not running */
    uint64_t *fire;         /* reference: when it must fire */
    uint32_t *set_epoch;    /* expire calls completed when it was last set */
    uint32_t *version;
    uint32_t active;
    uint32_t epoch;
    uint64_t now, prev_now;
    uint64_t fired, n_calls;
} model_t;

static void model_fire(void *ctx, uint64_t user)
{
    model_t *m = ctx;
    uint32_t id = (uint32_t)(user % m->n);
    uint32_t ver = (uint32_t)(user / m->n);
    if (!m->handle[id] || m->version[id] != ver)
        fail_msg("timer %u v%u fired but is not running", id, ver);
    if (m->fire[id] > m->now)
        fail_msg("timer %u fired early: due %llu, now %llu", id, (unsigned long long)m->fire[id],
                 (unsigned long long)m->now);
    if (m->set_epoch[id] != m->epoch && m->fire[id] <= m->prev_now)
        fail_msg("timer %u fired late: due %llu, previous call at %llu", id,
                 (unsigned long long)m->fire[id], (unsigned long long)m->prev_now);
    m->handle[id] = 0;
    m->active--;
    m->fired++;
}

static void model_set(model_t *m, uint32_t id, uint64_t *seed)
{
    uint64_t delay = rng_log(seed, 42); /* up to 4400 s: beyond the 2^24-tick range */
    uint64_t deadline = m->now + delay;
    uint64_t r = rng_next(seed);
    if (m->handle[id]) {
        int rc = (r & 1) ? hs_tw_update(&m->tw, m->handle[id], delay)
                         : hs_tw_update_at(&m->tw, m->handle[id], deadline);
        assert_int_equal(rc, 0);
    } else {
        m->version[id]++;
        uint64_t user = (uint64_t)m->version[id] * m->n + id;
        m->handle[id] =
            (r & 1) ? hs_tw_start(&m->tw, user, delay) : hs_tw_start_at(&m->tw, user, deadline);
        assert_true(m->handle[id] != HS_TW_INVALID);
        m->active++;
    }
    m->fire[id] = fire_time(deadline, m->tick);
    m->set_epoch[id] = m->epoch;
}

static void model_check_next_expiry(model_t *m)
{
    uint64_t min_fire = UINT64_MAX;
    for (uint32_t i = 0; i < m->n; i++)
        if (m->handle[i] && m->fire[i] < min_fire)
            min_fire = m->fire[i];
    uint64_t nx = hs_tw_next_expiry_ns(&m->tw);
    assert_true(nx <= min_fire);
    assert_true(min_fire == UINT64_MAX || nx > m->now); /* all due ones were handed out */
}

static void model_expire(model_t *m, uint64_t step)
{
    m->prev_now = m->now;
    m->now += step;
    hs_tw_expire(&m->tw, m->now, model_fire, m, 0);
    m->epoch++;
    m->n_calls++;
    assert_int_equal(hs_tw_count(&m->tw), m->active);
    if ((m->n_calls & 4095) == 0)
        model_check_next_expiry(m);
}

static void run_model(uint32_t n, uint64_t tick, uint64_t seed)
{
    model_t m = {.n = n, .tick = tick, .now = 987654321ull};
    assert_int_equal(hs_tw_init(&m.tw, tick, m.now, 0), 0);
    m.handle = calloc(n, sizeof(*m.handle));
    m.fire = calloc(n, sizeof(*m.fire));
    m.set_epoch = calloc(n, sizeof(*m.set_epoch));
    m.version = calloc(n, sizeof(*m.version));
    assert_true(m.handle && m.fire && m.set_epoch && m.version);

    for (uint32_t id = 0; id < n; id++)
        model_set(&m, id, &seed);
    assert_int_equal(hs_tw_count(&m.tw), n);

    /* Churn: start, stop, update at random while time moves in small steps. */
    for (uint32_t op = 0; op < 2 * n; op++) {
        uint32_t id = (uint32_t)(rng_next(&seed) % n);
        uint32_t what = (uint32_t)(rng_next(&seed) % 4);
        if (!m.handle[id] || what == 0) {
            model_set(&m, id, &seed);
        } else if (what == 1) {
            assert_int_equal(hs_tw_stop(&m.tw, m.handle[id]), 0);
            assert_int_equal(hs_tw_stop(&m.tw, m.handle[id]), -ENOENT);
            m.handle[id] = 0;
            m.active--;
        } else if (what == 2) {
            model_set(&m, id, &seed);
        }
        if ((op & 7) == 0)
            model_expire(&m, rng_log(&seed, 27)); /* up to 0.13 s */
    }

    /* Drain with larger steps until every timer has fired. */
    while (m.active)
        model_expire(&m, rng_log(&seed, 36)); /* up to 69 s */
    assert_int_equal(hs_tw_count(&m.tw), 0);
    model_check_next_expiry(&m);
    print_message("model n=%u tick=%lluns: %llu fired over %llu expire calls\n", n,
                  (unsigned long long)tick, (unsigned long long)m.fired,
                  (unsigned long long)m.n_calls);
    free(m.handle);
    free(m.fire);
    free(m.set_epoch);
    free(m.version);
    hs_tw_destroy(&m.tw);
}

static void test_random_model_1m(void **state)
{
    (void)state;
    run_model(1u << 20, TICK, 0x5eed0001);
}

static void test_random_model_1ms_tick(void **state)
{
    (void)state;
    run_model(1u << 16, HS_NS_PER_MS, 0x5eed0002);
    run_model(1u << 12, 1, 0x5eed0003); /* 1 ns ticks: everything lands in the overflow */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_args),
        cmocka_unit_test(test_exact_expiry_all_levels),
        cmocka_unit_test(test_next_expiry_drives_loop),
        cmocka_unit_test(test_past_deadline_fires_next_call),
        cmocka_unit_test(test_stop_and_update),
        cmocka_unit_test(test_stop_leaves_wheel_empty),
        cmocka_unit_test(test_stale_handle),
        cmocka_unit_test(test_exhaustion),
        cmocka_unit_test(test_bounded_expiry),
        cmocka_unit_test(test_changes_during_cascade),
        cmocka_unit_test(test_zero_delay_restart_terminates),
        cmocka_unit_test(test_random_model_1m),
        cmocka_unit_test(test_random_model_1ms_tick),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
