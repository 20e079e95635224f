/* The in-process wire: each impairment's statistics with fixed seeds, exact replay, delay
 * and rate timing on a virtual clock, one-bit corruption, reordering and duplication. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "drivers/wire.h"

#define MS 1000000ull
#define US 1000ull

/* Frame i: its number in the first 4 bytes, then a pattern that depends on i. */
static uint32_t make_frame(uint8_t *buf, uint32_t i, uint32_t len)
{
    memcpy(buf, &i, 4);
    for (uint32_t k = 4; k < len; k++)
        buf[k] = (uint8_t)(i * 31 + k * 7);
    return len;
}

static uint32_t frame_id(const uint8_t *buf)
{
    uint32_t i;
    memcpy(&i, buf, 4);
    return i;
}

static hs_wire_t *wire_new(uint64_t seed, const hs_wire_dir_config_t *d0,
                           const hs_wire_dir_config_t *d1)
{
    hs_wire_config_t cfg = {.seed = seed, .max_in_flight = 1 << 17};
    if (d0)
        cfg.dir[0] = *d0;
    if (d1)
        cfg.dir[1] = *d1;
    hs_wire_t *w = NULL;
    assert_int_equal(hs_wire_create(&w, &cfg), 0);
    return w;
}

/* Sends n frames of len bytes from end 0, one every gap ns starting at t0. */
static void send_n(hs_wire_t *w, uint32_t n, uint32_t len, uint64_t t0, uint64_t gap)
{
    uint8_t buf[2048];
    for (uint32_t i = 0; i < n; i++) {
        make_frame(buf, i, len);
        assert_int_equal(hs_wire_send(w, 0, buf, len, t0 + i * gap), 0);
    }
}

static void test_lossless_in_order_byte_exact(void **state)
{
    (void)state;
    hs_wire_t *w = wire_new(1, NULL, NULL);
    send_n(w, 1000, 100, 0, 0);
    uint8_t out[2048], want[2048];
    for (uint32_t i = 0; i < 1000; i++) {
        int n = hs_wire_recv(w, 1, 0, out, sizeof(out));
        assert_int_equal(n, 100);
        make_frame(want, i, 100);
        assert_memory_equal(out, want, 100);
    }
    assert_int_equal(hs_wire_recv(w, 1, 0, out, sizeof(out)), -EAGAIN);
    assert_int_equal(hs_wire_recv(w, 0, 0, out, sizeof(out)), -EAGAIN); /* nothing came back */
    const hs_wire_counters_t *c = hs_wire_counters(w, 0);
    assert_int_equal(c->sent, 1000);
    assert_int_equal(c->delivered, 1000);
    assert_int_equal(c->bytes_delivered, 100000);
    hs_wire_destroy(w);
}

static void test_loss_rate(void **state)
{
    (void)state;
    hs_wire_dir_config_t d = {.loss_pct = 10.0};
    hs_wire_t *w = wire_new(42, &d, NULL);
    const uint32_t n = 100000;
    send_n(w, n, 64, 0, 0);
    const hs_wire_counters_t *c = hs_wire_counters(w, 0);
    /* 10% of 100000: sigma is ~95 frames; 1% of n is > 10 sigma. */
    assert_true(c->lost > 9000 && c->lost < 11000);
    uint8_t out[64], want[64];
    uint32_t got = 0, last = 0;
    int len;
    while ((len = hs_wire_recv(w, 1, 0, out, sizeof(out))) > 0) {
        uint32_t id = frame_id(out);
        assert_true(got == 0 || id > last); /* losses leave gaps, never reorder */
        make_frame(want, id, 64);
        assert_memory_equal(out, want, 64);
        last = id;
        got++;
    }
    assert_int_equal(got + c->lost, n);
    assert_int_equal(c->delivered, got);
    hs_wire_destroy(w);
}

/* Every impairment at once: the same seed gives the same delivery sequence, to the byte and
 * the nanosecond; another seed gives another one. */
static void run_all_impairments(uint64_t seed, uint8_t *trace, size_t *trace_len)
{
    hs_wire_dir_config_t d = {.loss_pct = 5,
                              .dup_pct = 5,
                              .reorder_pct = 10,
                              .reorder_max_ns = 200 * US,
                              .corrupt_pct = 5,
                              .delay_ns = 50 * US,
                              .rate_bps = 100000000,
                              .queue_frames = 8};
    hs_wire_t *w = wire_new(seed, &d, NULL);
    uint8_t buf[512];
    size_t off = 0;
    uint64_t now = 0;
    for (uint32_t i = 0; i < 3000; i++, now += 20 * US) {
        uint32_t len = 60 + (i * 37) % 400;
        make_frame(buf, i, len);
        int rv = hs_wire_send(w, 0, buf, len, now);
        assert_true(rv == 0 || rv == -ENOBUFS);
        int n;
        while ((n = hs_wire_recv(w, 1, now, buf, sizeof(buf))) > 0) {
            memcpy(trace + off, &now, 8);
            memcpy(trace + off + 8, buf, (size_t)n);
            off += 8 + (size_t)n;
        }
    }
    *trace_len = off;
    hs_wire_destroy(w);
}

static void test_replay_determinism(void **state)
{
    (void)state;
    size_t cap = 3000 * 2 * (8 + 512);
    uint8_t *a = malloc(cap), *b = malloc(cap), *c = malloc(cap);
    size_t la, lb, lc;
    run_all_impairments(7, a, &la);
    run_all_impairments(7, b, &lb);
    run_all_impairments(8, c, &lc);
    assert_true(la > 0);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    assert_true(la != lc || memcmp(a, c, la) != 0);
    free(a);
    free(b);
    free(c);
}

static void test_delay_on_virtual_clock(void **state)
{
    (void)state;
    hs_wire_dir_config_t d = {.delay_ns = 5 * MS};
    hs_wire_t *w = wire_new(3, &d, NULL);
    uint8_t buf[64], out[64];
    make_frame(buf, 9, 64);
    assert_int_equal(hs_wire_next_delivery(w, 1), UINT64_MAX);
    assert_int_equal(hs_wire_send(w, 0, buf, 64, 1000), 0);
    assert_int_equal(hs_wire_next_delivery(w, 1), 1000 + 5 * MS);
    assert_int_equal(hs_wire_next_delivery(w, 0), UINT64_MAX);
    assert_int_equal(hs_wire_in_flight(w, 1), 1);
    assert_int_equal(hs_wire_recv(w, 1, 1000 + 5 * MS - 1, out, sizeof(out)), -EAGAIN);
    assert_int_equal(hs_wire_recv(w, 1, 1000 + 5 * MS, out, sizeof(out)), 64);
    assert_memory_equal(out, buf, 64);
    assert_int_equal(hs_wire_in_flight(w, 1), 0);
    hs_wire_destroy(w);
}

/* 1 Mbit/s: a 1000-byte frame takes exactly 8 ms to serialize; a queue of 2 frames. */
static void test_rate_and_tail_drop(void **state)
{
    (void)state;
    hs_wire_dir_config_t d = {.rate_bps = 1000000, .queue_frames = 2, .delay_ns = 1 * MS};
    hs_wire_t *w = wire_new(4, &d, NULL);
    uint8_t buf[1000], out[1000];
    make_frame(buf, 0, 1000);
    assert_int_equal(hs_wire_send(w, 0, buf, 1000, 0), 0);
    make_frame(buf, 1, 1000);
    assert_int_equal(hs_wire_send(w, 0, buf, 1000, 0), 0);
    make_frame(buf, 2, 1000);
    assert_int_equal(hs_wire_send(w, 0, buf, 1000, 0), -ENOBUFS); /* tail drop */
    assert_int_equal(hs_wire_counters(w, 0)->rate_dropped, 1);
    /* At 8 ms the first frame left the serializer: room for one more, finishing at 24 ms. */
    make_frame(buf, 3, 1000);
    assert_int_equal(hs_wire_send(w, 0, buf, 1000, 8 * MS), 0);
    uint64_t want_t[] = {9 * MS, 17 * MS, 25 * MS};
    uint32_t want_id[] = {0, 1, 3};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(hs_wire_next_delivery(w, 1), want_t[i]);
        assert_int_equal(hs_wire_recv(w, 1, want_t[i] - 1, out, sizeof(out)), -EAGAIN);
        assert_int_equal(hs_wire_recv(w, 1, want_t[i], out, sizeof(out)), 1000);
        assert_int_equal(frame_id(out), want_id[i]);
    }
    /* An idle link starts serializing at once. */
    assert_int_equal(hs_wire_send(w, 0, buf, 125, 100 * MS), 0); /* 125 B = 1 ms */
    assert_int_equal(hs_wire_next_delivery(w, 1), 102 * MS);
    hs_wire_destroy(w);
}

static int popcount_diff(const uint8_t *a, const uint8_t *b, uint32_t len)
{
    int bits = 0;
    for (uint32_t i = 0; i < len; i++)
        bits += __builtin_popcount(a[i] ^ b[i]);
    return bits;
}

static void test_corruption_flips_one_bit(void **state)
{
    (void)state;
    hs_wire_dir_config_t d = {.corrupt_pct = 100};
    hs_wire_t *w = wire_new(5, &d, NULL);
    uint8_t buf[300], out[300];
    for (uint32_t i = 0; i < 2000; i++) {
        uint32_t len = 1 + i % 300;
        make_frame(buf, i, len);
        assert_int_equal(hs_wire_send(w, 0, buf, len, 0), 0);
        assert_int_equal(hs_wire_recv(w, 1, 0, out, sizeof(out)), (int)len);
        assert_int_equal(popcount_diff(buf, out, len), 1);
    }
    assert_int_equal(hs_wire_counters(w, 0)->corrupted, 2000);
    hs_wire_destroy(w);

    d.corrupt_pct = 5;
    w = wire_new(6, &d, NULL);
    uint32_t bad = 0;
    for (uint32_t i = 0; i < 20000; i++) {
        make_frame(buf, i, 100);
        assert_int_equal(hs_wire_send(w, 0, buf, 100, 0), 0);
        assert_int_equal(hs_wire_recv(w, 1, 0, out, sizeof(out)), 100);
        int diff = popcount_diff(buf, out, 100);
        assert_true(diff == 0 || diff == 1);
        bad += (uint32_t)diff;
    }
    assert_int_equal(bad, hs_wire_counters(w, 0)->corrupted);
    assert_true(bad > 800 && bad < 1200); /* 5% of 20000, sigma ~31 */
    hs_wire_destroy(w);
}

/* 20% of frames held back by up to 100 us while frames leave every 10 us: later frames
 * overtake them; every frame still arrives exactly once, intact. */
static void test_reordering(void **state)
{
    (void)state;
    hs_wire_dir_config_t d = {.reorder_pct = 20, .reorder_max_ns = 100 * US};
    hs_wire_t *w = wire_new(9, &d, NULL);
    const uint32_t n = 10000;
    send_n(w, n, 80, 0, 10 * US);
    uint8_t *seen = calloc(n, 1);
    uint8_t out[80], want[80];
    uint32_t got = 0, inversions = 0, last = 0;
    uint64_t prev_t = 0;
    while (hs_wire_next_delivery(w, 1) != UINT64_MAX) {
        uint64_t t = hs_wire_next_delivery(w, 1);
        assert_true(t >= prev_t); /* the clock only moves forward */
        prev_t = t;
        assert_int_equal(hs_wire_recv(w, 1, t, out, sizeof(out)), 80);
        uint32_t id = frame_id(out);
        assert_true(id < n);
        assert_int_equal(seen[id], 0);
        seen[id] = 1;
        make_frame(want, id, 80);
        assert_memory_equal(out, want, 80);
        if (got && id < last)
            inversions++;
        last = id;
        got++;
    }
    assert_int_equal(got, n);
    uint64_t reordered = hs_wire_counters(w, 0)->reordered;
    assert_true(reordered > 1800 && reordered < 2200);
    assert_true(inversions > 500); /* most held-back frames are overtaken */
    free(seen);
    hs_wire_destroy(w);
}

static void test_duplication(void **state)
{
    (void)state;
    hs_wire_dir_config_t d = {.dup_pct = 10};
    hs_wire_t *w = wire_new(10, &d, NULL);
    const uint32_t n = 20000;
    send_n(w, n, 64, 0, 0);
    uint8_t out[64], want[64];
    uint32_t got = 0, dups = 0;
    int64_t last = -1;
    while (hs_wire_recv(w, 1, 0, out, sizeof(out)) == 64) {
        uint32_t id = frame_id(out);
        make_frame(want, id, 64);
        assert_memory_equal(out, want, 64);
        if ((int64_t)id == last)
            dups++; /* the copy comes right after the original */
        else
            assert_int_equal(id, (uint32_t)(last + 1));
        last = id;
        got++;
    }
    const hs_wire_counters_t *c = hs_wire_counters(w, 0);
    assert_int_equal(dups, c->duplicated);
    assert_int_equal(got, n + dups);
    assert_true(dups > 1800 && dups < 2200);
    hs_wire_destroy(w);
}

static void test_directions_are_independent(void **state)
{
    (void)state;
    hs_wire_dir_config_t lossy = {.loss_pct = 50, .delay_ns = 2 * MS};
    hs_wire_dir_config_t clean = {.delay_ns = 1 * MS};
    hs_wire_t *w = wire_new(11, &lossy, &clean);
    uint8_t buf[100], out[100];
    for (uint32_t i = 0; i < 1000; i++) {
        make_frame(buf, i, 100);
        assert_int_equal(hs_wire_send(w, 0, buf, 100, 0), 0);
        assert_int_equal(hs_wire_send(w, 1, buf, 100, 0), 0);
    }
    assert_int_equal(hs_wire_next_delivery(w, 0), 1 * MS);
    uint32_t at0 = 0, at1 = 0;
    while (hs_wire_recv(w, 0, 1 * MS, out, sizeof(out)) == 100)
        assert_int_equal(frame_id(out), at0++);
    while (hs_wire_recv(w, 1, 2 * MS, out, sizeof(out)) == 100)
        at1++;
    assert_int_equal(at0, 1000);
    assert_true(at1 > 400 && at1 < 600);
    assert_int_equal(hs_wire_counters(w, 1)->lost, 0);
    assert_int_equal(hs_wire_counters(w, 0)->lost, 1000 - at1);
    /* Impairments may change mid-run. */
    assert_int_equal(hs_wire_set_dir_config(w, 0, &clean), 0);
    for (uint32_t i = 0; i < 100; i++)
        assert_int_equal(hs_wire_send(w, 0, buf, 100, 10 * MS), 0);
    for (uint32_t i = 0; i < 100; i++)
        assert_int_equal(hs_wire_recv(w, 1, 11 * MS, out, sizeof(out)), 100);
    hs_wire_destroy(w);
}

/* Lowering the delay mid-run: frames sent afterwards overtake those already in flight, and
 * each leaves at its own time. */
static void test_delay_change_mid_run(void **state)
{
    (void)state;
    hs_wire_dir_config_t slow = {.delay_ns = 5 * MS}, fast = {.delay_ns = 1 * MS};
    hs_wire_t *w = wire_new(12, &slow, NULL);
    uint8_t buf[64], out[64];
    for (uint32_t i = 0; i < 3; i++) {
        make_frame(buf, i, 64);
        assert_int_equal(hs_wire_send(w, 0, buf, 64, i * US), 0);
    }
    assert_int_equal(hs_wire_set_dir_config(w, 0, &fast), 0);
    for (uint32_t i = 3; i < 6; i++) {
        make_frame(buf, i, 64);
        assert_int_equal(hs_wire_send(w, 0, buf, 64, i * US), 0);
    }
    uint32_t want_id[] = {3, 4, 5, 0, 1, 2};
    uint64_t want_t[] = {1 * MS + 3 * US, 1 * MS + 4 * US, 1 * MS + 5 * US,
                         5 * MS,          5 * MS + 1 * US, 5 * MS + 2 * US};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(hs_wire_next_delivery(w, 1), want_t[i]);
        assert_int_equal(hs_wire_recv(w, 1, want_t[i], out, sizeof(out)), 64);
        assert_int_equal(frame_id(out), want_id[i]);
    }
    assert_int_equal(hs_wire_in_flight(w, 1), 0);
    hs_wire_destroy(w);
}

static void test_errors_and_limits(void **state)
{
    (void)state;
    hs_wire_config_t cfg = {.seed = 1};
    hs_wire_t *w = NULL;
    cfg.dir[1].loss_pct = 101;
    assert_int_equal(hs_wire_create(&w, &cfg), -EINVAL);
    cfg.dir[1].loss_pct = -1;
    assert_int_equal(hs_wire_create(&w, &cfg), -EINVAL);
    cfg.dir[1].loss_pct = 0;
    cfg.max_frame = 1000;
    cfg.max_in_flight = 4;
    assert_int_equal(hs_wire_create(&w, &cfg), 0);

    uint8_t buf[1001] = {0}, out[1001];
    assert_int_equal(hs_wire_send(w, 0, buf, 1001, 0), -EMSGSIZE);
    assert_int_equal(hs_wire_send(w, 0, buf, 0, 0), -EINVAL);
    assert_int_equal(hs_wire_send(w, 2, buf, 10, 0), -EINVAL);
    hs_wire_dir_config_t bad = {.dup_pct = 200};
    assert_int_equal(hs_wire_set_dir_config(w, 0, &bad), -EINVAL);
    for (int i = 0; i < 4; i++)
        assert_int_equal(hs_wire_send(w, 0, buf, 1000, 0), 0);
    assert_int_equal(hs_wire_send(w, 0, buf, 1000, 0), -ENOBUFS);
    assert_int_equal(hs_wire_counters(w, 0)->overflow, 1);
    /* Too small a buffer: the frame stays for a bigger one. */
    assert_int_equal(hs_wire_recv(w, 1, 0, out, 999), -EMSGSIZE);
    assert_int_equal(hs_wire_in_flight(w, 1), 4);
    assert_int_equal(hs_wire_recv(w, 1, 0, out, sizeof(out)), 1000);
    /* sendv gathers. */
    struct iovec iov[3] = {{buf, 10}, {buf + 10, 0}, {buf + 10, 20}};
    for (int i = 0; i < 30; i++)
        buf[i] = (uint8_t)i;
    assert_int_equal(hs_wire_sendv(w, 1, iov, 3, 0), 0);
    assert_int_equal(hs_wire_recv(w, 0, 0, out, sizeof(out)), 30);
    assert_memory_equal(out, buf, 30);
    uint32_t len = 0;
    assert_null(hs_wire_peek(w, 0, 0, &len));
    hs_wire_destroy(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lossless_in_order_byte_exact),
        cmocka_unit_test(test_loss_rate),
        cmocka_unit_test(test_replay_determinism),
        cmocka_unit_test(test_delay_on_virtual_clock),
        cmocka_unit_test(test_rate_and_tail_drop),
        cmocka_unit_test(test_corruption_flips_one_bit),
        cmocka_unit_test(test_reordering),
        cmocka_unit_test(test_duplication),
        cmocka_unit_test(test_directions_are_independent),
        cmocka_unit_test(test_delay_change_mid_run),
        cmocka_unit_test(test_errors_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
