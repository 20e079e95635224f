/* Unit tests for the growable array (src/infra/vec.c): push/pop, the two deletes, resize
 * and reserve, at their edges (empty, first, last, growth boundaries). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "infra/vec.h"

typedef struct {
    uint32_t id;
    uint8_t bytes[9]; /* odd size: elements are not a power of two apart */
} rec_t;

static rec_t rec(uint32_t id)
{
    rec_t r;
    memset(&r, 0, sizeof(r));
    r.id = id;
    for (int i = 0; i < 9; i++)
        r.bytes[i] = (uint8_t)(id * 7 + i);
    return r;
}

static void assert_rec(const hs_vec_t *v, uint32_t i, uint32_t id)
{
    rec_t want = rec(id);
    assert_memory_equal(hs_vec_at(v, i), &want, sizeof(rec_t));
}

static void test_push_pop(void **state)
{
    (void)state;
    hs_vec_t v = HS_VEC_INIT(rec_t);
    rec_t out;
    assert_false(hs_vec_pop(&v, &out)); /* empty */
    assert_false(hs_vec_pop(&v, NULL));
    for (uint32_t i = 0; i < 1000; i++) {
        rec_t r = rec(i);
        rec_t *e = hs_vec_push(&v, &r);
        assert_non_null(e);
        assert_ptr_equal(e, hs_vec_at(&v, i));
        assert_int_equal(v.len, i + 1);
        assert_true(v.cap >= v.len);
    }
    for (uint32_t i = 0; i < 1000; i++)
        assert_rec(&v, i, i);
    assert_int_equal(HS_VEC_ELT(&v, rec_t, 500).id, 500);
    for (uint32_t i = 1000; i-- > 0;) {
        assert_true(hs_vec_pop(&v, &out));
        rec_t want = rec(i);
        assert_memory_equal(&out, &want, sizeof(out));
    }
    assert_int_equal(v.len, 0);
    assert_false(hs_vec_pop(&v, &out));

    /* NULL element pushes zeroes, even into memory that held data. */
    rec_t r = rec(9);
    assert_non_null(hs_vec_push(&v, &r));
    assert_true(hs_vec_pop(&v, NULL));
    rec_t *z = hs_vec_push(&v, NULL);
    assert_non_null(z);
    static const rec_t zero;
    assert_memory_equal(z, &zero, sizeof(zero));
    hs_vec_free(&v);
    assert_null(v.data);
    assert_int_equal(v.len, 0);
    assert_int_equal(v.cap, 0);
    /* A freed vector is empty and usable again, same element size. */
    assert_non_null(hs_vec_push(&v, &r));
    assert_rec(&v, 0, 9);
    hs_vec_free(&v);
}

/* Pushing a copy of an element of the vector itself, exactly when the array must grow:
 * the source moves with the array and must be read before the old one is freed. */
static void test_push_own_element_across_growth(void **state)
{
    (void)state;
    hs_vec_t v;
    hs_vec_init(&v, sizeof(rec_t));
    for (uint32_t i = 0; i < 4; i++) {
        rec_t r = rec(i);
        assert_non_null(hs_vec_push(&v, &r));
    }
    for (uint32_t n = 0; n < 200; n++) {
        uint32_t len = v.len;
        rec_t *e = hs_vec_push(&v, hs_vec_at(&v, n % len));
        assert_non_null(e);
        assert_memory_equal(e, hs_vec_at(&v, n % len), sizeof(rec_t));
    }
    hs_vec_free(&v);
}

static void test_del_swap(void **state)
{
    (void)state;
    hs_vec_t v = HS_VEC_INIT(rec_t);
    for (uint32_t i = 0; i < 5; i++) {
        rec_t r = rec(i);
        assert_non_null(hs_vec_push(&v, &r));
    }
    hs_vec_del_swap(&v, 1); /* middle: last moves in */
    assert_int_equal(v.len, 4);
    assert_rec(&v, 0, 0);
    assert_rec(&v, 1, 4);
    assert_rec(&v, 2, 2);
    assert_rec(&v, 3, 3);
    hs_vec_del_swap(&v, 3); /* last: nothing moves */
    assert_int_equal(v.len, 3);
    assert_rec(&v, 0, 0);
    assert_rec(&v, 1, 4);
    assert_rec(&v, 2, 2);
    hs_vec_del_swap(&v, 0); /* first */
    assert_int_equal(v.len, 2);
    assert_rec(&v, 0, 2);
    assert_rec(&v, 1, 4);
    hs_vec_del_swap(&v, 1);
    hs_vec_del_swap(&v, 0); /* the only element */
    assert_int_equal(v.len, 0);
    /* Out of range (here: on an empty vector) is refused, not a wild copy. */
    hs_vec_del_swap(&v, 0);
    hs_vec_del_swap(&v, 7);
    assert_int_equal(v.len, 0);
    hs_vec_free(&v);
}

static void test_del_ordered(void **state)
{
    (void)state;
    hs_vec_t v = HS_VEC_INIT(rec_t);
    for (uint32_t i = 0; i < 6; i++) {
        rec_t r = rec(i);
        assert_non_null(hs_vec_push(&v, &r));
    }
    hs_vec_del_ordered(&v, 0); /* first */
    hs_vec_del_ordered(&v, 4); /* last (was 5) */
    hs_vec_del_ordered(&v, 1); /* middle (was 2) */
    const uint32_t want[] = {1, 3, 4};
    assert_int_equal(v.len, 3);
    for (uint32_t i = 0; i < 3; i++)
        assert_rec(&v, i, want[i]);
    hs_vec_del_ordered(&v, 3); /* out of range: no change */
    assert_int_equal(v.len, 3);
    for (uint32_t i = 0; i < 3; i++)
        assert_rec(&v, i, want[i]);
    while (v.len)
        hs_vec_del_ordered(&v, 0);
    hs_vec_del_ordered(&v, 0); /* empty */
    assert_int_equal(v.len, 0);
    hs_vec_free(&v);
}

static void test_resize(void **state)
{
    (void)state;
    hs_vec_t v = HS_VEC_INIT(uint64_t);
    assert_int_equal(hs_vec_resize(&v, 0), 0); /* empty to empty */
    assert_int_equal(v.len, 0);
    assert_int_equal(hs_vec_resize(&v, 100), 0);
    assert_int_equal(v.len, 100);
    for (uint32_t i = 0; i < 100; i++) {
        assert_int_equal(HS_VEC_ELT(&v, uint64_t, i), 0);
        HS_VEC_ELT(&v, uint64_t, i) = ~(uint64_t)i;
    }
    /* Shrink keeps the prefix; growing again zero-fills what was there before. */
    assert_int_equal(hs_vec_resize(&v, 10), 0);
    assert_int_equal(v.len, 10);
    assert_true(v.cap >= 100);
    assert_int_equal(hs_vec_resize(&v, 50), 0);
    for (uint32_t i = 0; i < 10; i++)
        assert_true(HS_VEC_ELT(&v, uint64_t, i) == ~(uint64_t)i);
    for (uint32_t i = 10; i < 50; i++)
        assert_int_equal(HS_VEC_ELT(&v, uint64_t, i), 0);
    assert_int_equal(hs_vec_resize(&v, 0), 0);
    assert_int_equal(v.len, 0);
    hs_vec_clear(&v);
    assert_int_equal(v.len, 0);
    hs_vec_free(&v);
}

static void test_reserve(void **state)
{
    (void)state;
    hs_vec_t v = HS_VEC_INIT(uint32_t);
    assert_int_equal(hs_vec_reserve(&v, 0), 0);
    assert_int_equal(hs_vec_reserve(&v, 1), 0);
    assert_true(v.cap >= 1);
    assert_int_equal(v.len, 0);
    assert_int_equal(hs_vec_reserve(&v, 1000), 0);
    assert_true(v.cap >= 1000);
    uint32_t cap = v.cap;
    void *data = v.data;
    /* Pushing up to the reserved capacity never moves the array. */
    for (uint32_t i = 0; i < cap; i++)
        assert_non_null(hs_vec_push(&v, &i));
    assert_ptr_equal(v.data, data);
    assert_int_equal(v.cap, cap);
    assert_int_equal(hs_vec_reserve(&v, 10), 0); /* never shrinks */
    assert_int_equal(v.cap, cap);
    /* One more grows (at least doubling: amortised O(1)) and keeps the contents. */
    uint32_t x = 0xdeadbeef;
    assert_non_null(hs_vec_push(&v, &x));
    assert_true(v.cap >= 2 * cap);
    for (uint32_t i = 0; i < cap; i++)
        assert_int_equal(HS_VEC_ELT(&v, uint32_t, i), i);
    assert_int_equal(HS_VEC_ELT(&v, uint32_t, cap), 0xdeadbeef);
#ifndef HS_SANITIZED
    /* An impossible reservation (4 PiB) fails cleanly and leaves the vector intact. Not under
     * ASan, which reports such a request as an error instead of returning NULL. */
    hs_vec_t big = HS_VEC_INIT(uint8_t[1 << 20]);
    assert_int_equal(hs_vec_reserve(&big, UINT32_MAX), -ENOMEM);
    assert_null(big.data);
    assert_int_equal(big.cap, 0);
    hs_vec_free(&big);
#endif
    hs_vec_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_push_pop), cmocka_unit_test(test_push_own_element_across_growth),
        cmocka_unit_test(test_del_swap), cmocka_unit_test(test_del_ordered),
        cmocka_unit_test(test_resize),   cmocka_unit_test(test_reserve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
