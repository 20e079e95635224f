/* Segment manager: FIFO pairs that work (bytes through, in the segment), free and reuse,
 * growth by new segments, exhaustion as a clean -ENOMEM that recovers after frees, bad
 * frees refused, config checks, and two threads allocating and freeing at once.
 * HS_TEST_LOCKFREE: the two-thread test also runs under ThreadSanitizer (the mutex). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "session/segment_manager.h"

#define KiB 1024u

/* Room for about n pairs of 4 KiB FIFOs (8 KiB blocks each) in one segment. */
static hs_segment_manager_config_t small_cfg(uint32_t n_pairs, uint32_t max_segments)
{
    return (hs_segment_manager_config_t){.rx_fifo_size = 4 * KiB,
                                         .tx_fifo_size = 4 * KiB,
                                         .segment_size = 4096 + n_pairs * 2 * (8 * KiB + 64),
                                         .max_segments = max_segments};
}

static bool in_segment(const hs_segment_manager_t *sm, const hs_fifo_pair_ref_t *ref,
                       const hs_fifo_t *f, uint64_t off)
{
    const hs_segment_t *seg = &sm->segs[ref->seg_index].seg;
    return (uint8_t *)f->sh == seg->base + off && off + hs_fifo_mem_size(f->size) <= seg->size;
}

static void test_pair_works(void **state)
{
    (void)state;
    hs_segment_manager_t sm;
    assert_int_equal(hs_segment_manager_init(&sm, "test", NULL), 0);
    assert_int_equal(sm.cfg.rx_fifo_size, HS_SM_DEFAULT_FIFO_SIZE);
    assert_int_equal(sm.n_segs, 1);
    hs_fifo_pair_ref_t ref;
    hs_fifo_t rx, tx;
    assert_int_equal(hs_segment_manager_alloc_pair(&sm, &ref, &rx, &tx), 0);
    assert_int_equal(hs_fifo_size(&rx), HS_SM_DEFAULT_FIFO_SIZE);
    assert_int_equal(hs_fifo_size(&tx), HS_SM_DEFAULT_FIFO_SIZE);
    assert_true(in_segment(&sm, &ref, &rx, ref.rx_off));
    assert_true(in_segment(&sm, &ref, &tx, ref.tx_off));
    /* Both FIFOs carry bytes, independently. */
    uint8_t in[1000], out[1000];
    for (int i = 0; i < 1000; i++)
        in[i] = (uint8_t)(i * 13 + 1);
    assert_int_equal(hs_fifo_enqueue(&rx, in, 1000), 1000);
    assert_int_equal(hs_fifo_enqueue(&tx, in, 500), 500);
    assert_int_equal(hs_fifo_max_dequeue(&rx), 1000);
    assert_int_equal(hs_fifo_max_dequeue(&tx), 500);
    assert_int_equal(hs_fifo_dequeue(&rx, out, 1000), 1000);
    assert_memory_equal(in, out, 1000);
    hs_segment_manager_stats_t st;
    hs_segment_manager_stats(&sm, &st);
    assert_int_equal(st.n_pairs, 1);
    assert_int_equal(st.n_allocs, 1);
    assert_true(st.bytes_in_use >= 2 * hs_fifo_mem_size(HS_SM_DEFAULT_FIFO_SIZE));
    assert_int_equal(hs_segment_manager_free_pair(&sm, &ref), 0);
    /* A pair freed twice is refused and counts nothing. */
    assert_int_equal(hs_segment_manager_free_pair(&sm, &ref), -EINVAL);
    hs_segment_manager_stats(&sm, &st);
    assert_int_equal(st.n_pairs, 0);
    assert_int_equal(st.n_frees, 1);
    /* A reused block is formatted afresh: empty. */
    hs_fifo_pair_ref_t ref2;
    assert_int_equal(hs_segment_manager_alloc_pair(&sm, &ref2, &rx, &tx), 0);
    assert_int_equal(hs_fifo_max_dequeue(&rx), 0);
    assert_int_equal(hs_fifo_max_dequeue(&tx), 0);
    hs_str_t s = {0};
    hs_segment_manager_format(&sm, &s);
    assert_non_null(strstr(hs_str_cstr(&s), "1 pairs in use"));
    hs_str_free(&s);
    hs_segment_manager_destroy(&sm);
}

static void test_growth_and_exhaustion(void **state)
{
    (void)state;
    hs_segment_manager_t sm;
    hs_segment_manager_config_t cfg = small_cfg(3, 3);
    assert_int_equal(hs_segment_manager_init(&sm, "grow", &cfg), 0);
    hs_fifo_pair_ref_t refs[64];
    hs_fifo_t rx, tx;
    uint32_t n = 0;
    int rv;
    while ((rv = hs_segment_manager_alloc_pair(&sm, &refs[n], &rx, &tx)) == 0) {
        /* Every pair is usable and its FIFOs lie in the segment named by its ref. */
        assert_true(in_segment(&sm, &refs[n], &rx, refs[n].rx_off));
        assert_true(in_segment(&sm, &refs[n], &tx, refs[n].tx_off));
        assert_int_equal(hs_fifo_enqueue(&tx, "x", 1), 1);
        n++;
        assert_true(n < 64);
    }
    assert_int_equal(rv, -ENOMEM);
    assert_int_equal(sm.n_segs, 3);
    assert_true(n >= 9); /* three pairs a segment at least */
    hs_segment_manager_stats_t st;
    hs_segment_manager_stats(&sm, &st);
    assert_int_equal(st.n_segments, 3);
    assert_int_equal(st.n_pairs, n);
    assert_int_equal(st.n_alloc_failed, 1);
    /* Still refused, and still clean. */
    assert_int_equal(hs_segment_manager_alloc_pair(&sm, &refs[n], &rx, &tx), -ENOMEM);
    /* A pair freed in the first segment is found again. */
    assert_int_equal(refs[0].seg_index, 0);
    assert_int_equal(hs_segment_manager_free_pair(&sm, &refs[0]), 0);
    assert_int_equal(hs_segment_manager_alloc_pair(&sm, &refs[0], &rx, &tx), 0);
    assert_int_equal(refs[0].seg_index, 0);
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(hs_segment_manager_free_pair(&sm, &refs[i]), 0);
    hs_segment_manager_stats(&sm, &st);
    assert_int_equal(st.n_pairs, 0);
    assert_int_equal(st.bytes_in_use, 0);
    hs_segment_manager_destroy(&sm);
}

static void test_bad_refs_and_config(void **state)
{
    (void)state;
    hs_segment_manager_t sm;
    hs_segment_manager_config_t cfg = small_cfg(4, 2);
    assert_int_equal(hs_segment_manager_init(&sm, "bad", &cfg), 0);
    hs_fifo_pair_ref_t ref, bad;
    hs_fifo_t rx, tx;
    assert_int_equal(hs_segment_manager_alloc_pair(&sm, &ref, &rx, &tx), 0);
    bad = ref;
    bad.seg_index = 7;
    assert_int_equal(hs_segment_manager_free_pair(&sm, &bad), -EINVAL);
    bad = ref;
    bad.tx_off += 64; /* not a block */
    assert_int_equal(hs_segment_manager_free_pair(&sm, &bad), -EINVAL);
    bad = ref;
    bad.tx_off = bad.rx_off;
    assert_int_equal(hs_segment_manager_free_pair(&sm, &bad), -EINVAL);
    assert_int_equal(sm.n_pairs, 1); /* nothing changed */
    assert_int_equal(hs_segment_manager_free_pair(&sm, &ref), 0);
    hs_segment_manager_destroy(&sm);

    hs_segment_manager_config_t c = {.rx_fifo_size = 3000};
    assert_int_equal(hs_segment_manager_config_check(&c), -EINVAL);
    c = (hs_segment_manager_config_t){.tx_fifo_size = 32};
    assert_int_equal(hs_segment_manager_config_check(&c), -EINVAL);
    c = (hs_segment_manager_config_t){.rx_fifo_size = 1u << 30}; /* beyond the allocator */
    assert_int_equal(hs_segment_manager_config_check(&c), -EINVAL);
    c = (hs_segment_manager_config_t){.segment_size = 64 * KiB}; /* a pair does not fit */
    assert_int_equal(hs_segment_manager_config_check(&c), -EINVAL);
    c = (hs_segment_manager_config_t){0};
    assert_int_equal(hs_segment_manager_config_check(&c), 0);
    assert_int_equal(c.max_segments, HS_SM_DEFAULT_MAX_SEGMENTS);
    assert_int_equal(
        hs_segment_manager_init(&sm, "x", &(hs_segment_manager_config_t){.rx_fifo_size = 100}),
        -EINVAL);
}

typedef struct {
    hs_segment_manager_t *sm;
    uint32_t seed;
    uint32_t failures;
} thread_arg_t;

/* Allocates and frees pairs in a shuffled order, checking each FIFO carries its own bytes. */
static void *churn(void *p)
{
    thread_arg_t *a = p;
    hs_fifo_pair_ref_t refs[8];
    hs_fifo_t rx[8], tx[8];
    bool held[8] = {0};
    uint32_t x = a->seed;
#ifdef HS_SANITIZED
    const int rounds = 3000;
#else
    const int rounds = 20000;
#endif
    for (int r = 0; r < rounds; r++) {
        x = x * 1103515245u + 12345u;
        uint32_t i = (x >> 16) & 7;
        if (held[i]) {
            uint32_t got = 0;
            if (hs_fifo_dequeue(&rx[i], &got, 4) != 4 || got != a->seed + i)
                a->failures++;
            if (hs_segment_manager_free_pair(a->sm, &refs[i]) != 0)
                a->failures++;
            held[i] = false;
        } else if (hs_segment_manager_alloc_pair(a->sm, &refs[i], &rx[i], &tx[i]) == 0) {
            uint32_t v = a->seed + i;
            hs_fifo_enqueue(&rx[i], &v, 4);
            held[i] = true;
        }
    }
    for (uint32_t i = 0; i < 8; i++)
        if (held[i] && hs_segment_manager_free_pair(a->sm, &refs[i]) != 0)
            a->failures++;
    return NULL;
}

static void test_two_threads(void **state)
{
    (void)state;
    hs_segment_manager_t sm;
    hs_segment_manager_config_t cfg = small_cfg(5, 8);
    assert_int_equal(hs_segment_manager_init(&sm, "mt", &cfg), 0);
    thread_arg_t a = {.sm = &sm, .seed = 1000}, b = {.sm = &sm, .seed = 2000};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, churn, &a);
    pthread_create(&tb, NULL, churn, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.failures, 0);
    assert_int_equal(b.failures, 0);
    hs_segment_manager_stats_t st;
    hs_segment_manager_stats(&sm, &st);
    assert_int_equal(st.n_pairs, 0);
    assert_int_equal(st.n_allocs, st.n_frees);
    assert_int_equal(st.bytes_in_use, 0);
    hs_segment_manager_destroy(&sm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pair_works),
        cmocka_unit_test(test_growth_and_exhaustion),
        cmocka_unit_test(test_bad_refs_and_config),
        cmocka_unit_test(test_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
