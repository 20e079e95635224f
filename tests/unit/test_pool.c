/* Unit tests for the index pool (src/infra/pool.c): get/put, generations and stale handles,
 * the max_elems cap, addresses that survive growth, double put, iteration. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "infra/pool.h"

typedef struct {
    uint64_t a;
    uint32_t b;
    uint8_t tag[12];
} elem_t;

static void test_init_rejects_bad_args(void **state)
{
    (void)state;
    hs_pool_t p;
    assert_int_equal(hs_pool_init(&p, 0, 0), -EINVAL);
    hs_pool_destroy(&p); /* safe after a failed init */
    assert_int_equal(hs_pool_init(&p, 8, (1u << 31) + 1), -EINVAL);
    assert_int_equal(hs_pool_init(&p, 8, 1u << 31), 0);
    hs_pool_destroy(&p);
}

static void test_get_put_basics(void **state)
{
    (void)state;
    hs_pool_t p;
    assert_int_equal(hs_pool_init(&p, sizeof(elem_t), 0), 0);
    assert_int_equal(hs_pool_count(&p), 0);
    uint32_t i0 = HS_POOL_INVALID, i1 = HS_POOL_INVALID;
    elem_t *e0 = hs_pool_get(&p, &i0);
    elem_t *e1 = hs_pool_get(&p, &i1);
    assert_non_null(e0);
    assert_non_null(e1);
    assert_int_not_equal(i0, i1);
    assert_ptr_equal(hs_pool_elt(&p, i0), e0);
    assert_ptr_equal(hs_pool_elt_checked(&p, i1), e1);
    assert_int_equal(hs_pool_count(&p), 2);
    assert_true(hs_pool_is_used(&p, i0));

    /* Elements come zero-filled, also when a slot is reused after holding data. */
    static const uint8_t zero[sizeof(elem_t)];
    assert_memory_equal(e0, zero, sizeof(elem_t));
    memset(e1, 0xab, sizeof(*e1));
    assert_int_equal(hs_pool_put(&p, i1), 0);
    assert_false(hs_pool_is_used(&p, i1));
    assert_null(hs_pool_elt_checked(&p, i1));
    assert_int_equal(hs_pool_count(&p), 1);
    uint32_t i2;
    elem_t *e2 = hs_pool_get(&p, &i2);
    assert_int_equal(i2, i1); /* the free list hands back the slot just freed */
    assert_ptr_equal(e2, e1);
    assert_memory_equal(e2, zero, sizeof(elem_t));

    /* Out-of-range indices are refused, not dereferenced. */
    assert_false(hs_pool_is_used(&p, 12345));
    assert_null(hs_pool_elt_checked(&p, HS_POOL_INVALID));
    assert_int_equal(hs_pool_put(&p, 12345), -EINVAL);
    assert_int_equal(hs_pool_put(&p, HS_POOL_INVALID), -EINVAL);
    hs_pool_destroy(&p);
}

static void test_generations_and_stale_handles(void **state)
{
    (void)state;
    hs_pool_t p;
    assert_int_equal(hs_pool_init(&p, sizeof(elem_t), 0), 0);
    uint32_t i;
    elem_t *e = hs_pool_get(&p, &i);
    assert_non_null(e);
    uint64_t h1 = hs_pool_handle(&p, i);
    assert_int_equal((uint32_t)h1, i);
    assert_true(hs_pool_gen(&p, i) & 1); /* odd while used */
    assert_ptr_equal(hs_pool_from_handle(&p, h1), e);

    assert_int_equal(hs_pool_put(&p, i), 0);
    assert_false(hs_pool_gen(&p, i) & 1); /* even while free */
    assert_null(hs_pool_from_handle(&p, h1));

    uint32_t j;
    assert_ptr_equal(hs_pool_get(&p, &j), e);
    assert_int_equal(j, i);
    uint64_t h2 = hs_pool_handle(&p, j);
    assert_true(h2 != h1);
    assert_null(hs_pool_from_handle(&p, h1)); /* the old handle stays dead after reuse */
    assert_ptr_equal(hs_pool_from_handle(&p, h2), e);

    /* Many reuse cycles never resurrect any earlier handle. */
    uint64_t old[100];
    for (int n = 0; n < 100; n++) {
        old[n] = hs_pool_handle(&p, j);
        assert_int_equal(hs_pool_put(&p, j), 0);
        assert_non_null(hs_pool_get(&p, &j));
        assert_int_equal(j, i);
    }
    for (int n = 0; n < 100; n++)
        assert_null(hs_pool_from_handle(&p, old[n]));
    assert_non_null(hs_pool_from_handle(&p, hs_pool_handle(&p, j)));

    /* Forged handles: right generation, wrong index; index never handed out. */
    assert_null(hs_pool_from_handle(&p, (h2 & 0xffffffff00000000ull) | 999));
    assert_null(hs_pool_from_handle(&p, UINT64_MAX));
    hs_pool_destroy(&p);
}

static void test_max_elems_exhaustion(void **state)
{
    (void)state;
    enum { MAX = 37 };
    hs_pool_t p;
    assert_int_equal(hs_pool_init(&p, sizeof(elem_t), MAX), 0);
    uint32_t idx[MAX], extra;
    for (uint32_t n = 0; n < MAX; n++)
        assert_non_null(hs_pool_get(&p, &idx[n]));
    assert_int_equal(hs_pool_count(&p), MAX);
    extra = 777;
    assert_null(hs_pool_get(&p, &extra));
    assert_null(hs_pool_get(&p, &extra)); /* stays exhausted, no side effects */
    assert_int_equal(extra, 777);
    assert_int_equal(hs_pool_count(&p), MAX);
    /* A put makes room for exactly one more. */
    assert_int_equal(hs_pool_put(&p, idx[5]), 0);
    assert_non_null(hs_pool_get(&p, &extra));
    assert_int_equal(extra, idx[5]);
    assert_null(hs_pool_get(&p, &extra));
    for (uint32_t n = 0; n < MAX; n++)
        assert_true(idx[n] < MAX);
    hs_pool_destroy(&p);
}

/* Elements never move: pointers taken early still hold their data after many chunks were
 * added, for small and for large elements. */
static void stable_addresses(uint32_t elem_size, uint32_t n)
{
    hs_pool_t p;
    assert_int_equal(hs_pool_init(&p, elem_size, 0), 0);
    uint8_t **ptr = malloc(n * sizeof(*ptr));
    assert_non_null(ptr);
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i;
        ptr[k] = hs_pool_get(&p, &i);
        assert_non_null(ptr[k]);
        assert_int_equal(i, k); /* fresh pool: indices in order */
        memset(ptr[k], (int)(k * 31 + 7), elem_size);
    }
    for (uint32_t k = 0; k < n; k++) {
        assert_ptr_equal(hs_pool_elt(&p, k), ptr[k]);
        for (uint32_t b = 0; b < elem_size; b++)
            assert_int_equal(ptr[k][b], (uint8_t)(k * 31 + 7));
    }
    free(ptr);
    hs_pool_destroy(&p);
}

static void test_stable_addresses_across_growth(void **state)
{
    (void)state;
    stable_addresses(sizeof(elem_t), 100000);
    stable_addresses(1, 70000);   /* 64 Ki elements per chunk */
    stable_addresses(100000, 40); /* larger than a chunk's bytes: 16 per chunk */
}

static void test_double_put(void **state)
{
    (void)state;
    hs_pool_t p;
    assert_int_equal(hs_pool_init(&p, sizeof(elem_t), 0), 0);
    uint32_t a, b;
    assert_non_null(hs_pool_get(&p, &a));
    assert_non_null(hs_pool_get(&p, &b));
    assert_int_equal(hs_pool_put(&p, a), 0);
    assert_int_equal(hs_pool_put(&p, a), -EINVAL);
    assert_int_equal(hs_pool_count(&p), 1);
    /* The free list was not corrupted: two gets give two different slots. */
    uint32_t c, d;
    assert_non_null(hs_pool_get(&p, &c));
    assert_non_null(hs_pool_get(&p, &d));
    assert_int_equal(c, a);
    assert_int_not_equal(d, a);
    assert_int_not_equal(d, b);
    assert_int_equal(hs_pool_count(&p), 3);
    hs_pool_destroy(&p);
}

static void test_iteration(void **state)
{
    (void)state;
    enum { N = 3000 };
    hs_pool_t p;
    assert_int_equal(hs_pool_init(&p, sizeof(elem_t), 0), 0);
    assert_int_equal(hs_pool_next(&p, 0), HS_POOL_INVALID); /* empty pool */
    for (uint32_t k = 0; k < N; k++) {
        uint32_t i;
        elem_t *e = hs_pool_get(&p, &i);
        assert_non_null(e);
        e->a = k;
    }
    for (uint32_t k = 0; k < N; k += 3)
        assert_int_equal(hs_pool_put(&p, k), 0);
    assert_int_equal(hs_pool_put(&p, N - 1), 0); /* the last slot too */

    uint32_t visits = 0, prev = 0;
    bool first = true;
    hs_pool_foreach(&p, i)
    {
        assert_true(first || i > prev); /* increasing order, each once */
        first = false;
        prev = i;
        assert_true(i % 3 != 0 && i != N - 1);
        elem_t *e = hs_pool_elt(&p, i);
        assert_int_equal(e->a, i);
        visits++;
    }
    assert_int_equal(visits, hs_pool_count(&p));
    assert_int_equal(visits, N - N / 3 - 1);
    assert_int_equal(hs_pool_next(&p, N), HS_POOL_INVALID);
    assert_int_equal(hs_pool_next(&p, UINT32_MAX), HS_POOL_INVALID);
    hs_pool_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_rejects_bad_args),
        cmocka_unit_test(test_get_put_basics),
        cmocka_unit_test(test_generations_and_stale_handles),
        cmocka_unit_test(test_max_elems_exhaustion),
        cmocka_unit_test(test_stable_addresses_across_growth),
        cmocka_unit_test(test_double_put),
        cmocka_unit_test(test_iteration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
