/* Session handles: encoding, stale detection after free and reuse, other workers'
 * handles, malformed handles, and the 24-bit generation across its wrap. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "session/session.h"

static hs_session_main_t *main_new(uint32_t n_workers)
{
    hs_session_main_t *sm = NULL;
    hs_session_config_t cfg = {.seed = 1};
    assert_int_equal(hs_session_main_alloc(&sm, n_workers, &cfg), 0);
    return sm;
}

static void test_encoding(void **state)
{
    (void)state;
    hs_session_handle_t h = hs_session_handle_make(255, HS_SESSION_GEN_MASK, UINT32_MAX - 1);
    assert_int_equal(hs_session_handle_worker(h), 255);
    assert_int_equal(hs_session_handle_gen(h), HS_SESSION_GEN_MASK);
    assert_int_equal(hs_session_handle_index(h), UINT32_MAX - 1);
    h = hs_session_handle_make(3, 0x1234567, 42); /* generation keeps its low 24 bits */
    assert_int_equal(hs_session_handle_worker(h), 3);
    assert_int_equal(hs_session_handle_gen(h), 0x234567);
    assert_int_equal(hs_session_handle_index(h), 42);
    assert_int_equal(h >> 56, 3);
}

static void test_stale_after_free(void **state)
{
    (void)state;
    hs_session_main_t *sm = main_new(2);
    hs_session_worker_t *sw = hs_session_worker(sm, 1);
    hs_session_t *s = hs_session_alloc(sw, HS_PROTO_TCP, UINT32_MAX);
    assert_non_null(s);
    assert_int_equal(s->state, HS_SESSION_CREATED);
    assert_int_equal(s->worker, 1);
    hs_session_handle_t h = hs_session_handle(sw, s);
    assert_int_equal(hs_session_handle_worker(h), 1);
    assert_ptr_equal(hs_session_from_handle(sm, h), s);
    assert_ptr_equal(hs_session_get(sw, s->index), s);
    uint32_t index = s->index;
    hs_session_free(sw, s);
    assert_null(hs_session_from_handle(sm, h));
    assert_null(hs_session_get(sw, index));
    /* The slot comes back with a new generation: the old handle stays refused. */
    hs_session_t *s2 = hs_session_alloc(sw, HS_PROTO_TCP, UINT32_MAX);
    assert_int_equal(s2->index, index);
    hs_session_handle_t h2 = hs_session_handle(sw, s2);
    assert_true(h2 != h);
    assert_null(hs_session_from_handle(sm, h));
    assert_ptr_equal(hs_session_from_handle(sm, h2), s2);
    hs_session_main_free(sm);
}

static void test_foreign_and_malformed(void **state)
{
    (void)state;
    hs_session_main_t *sm = main_new(2);
    hs_session_t *a = hs_session_alloc(hs_session_worker(sm, 0), HS_PROTO_TCP, UINT32_MAX);
    hs_session_t *b = hs_session_alloc(hs_session_worker(sm, 1), HS_PROTO_TCP, UINT32_MAX);
    assert_int_equal(a->index, b->index); /* same slot number on two workers */
    hs_session_handle_t ha = hs_session_handle(hs_session_worker(sm, 0), a);
    hs_session_handle_t hb = hs_session_handle(hs_session_worker(sm, 1), b);
    assert_ptr_equal(hs_session_from_handle(sm, ha), a);
    assert_ptr_equal(hs_session_from_handle(sm, hb), b);
    /* The worker field picks the pool. */
    hs_session_handle_t moved = hs_session_handle_make(1, hs_session_handle_gen(ha), a->index);
    assert_ptr_equal(hs_session_from_handle(sm, moved), b);
    assert_null(hs_session_from_handle(sm, hs_session_handle_make(2, 1, a->index)));
    assert_null(hs_session_from_handle(sm, hs_session_handle_make(200, 1, 0)));
    assert_null(hs_session_from_handle(sm, HS_SESSION_HANDLE_INVALID));
    assert_null(hs_session_from_handle(sm, hs_session_handle_make(0, 1, 999999)));
    /* A generation that is even (a free slot's) or wrong never matches. */
    assert_null(hs_session_from_handle(
        sm, hs_session_handle_make(0, hs_session_handle_gen(ha) + 1, a->index)));
    assert_null(hs_session_from_handle(
        sm, hs_session_handle_make(0, hs_session_handle_gen(ha) + 2, a->index)));
    hs_session_main_free(sm);
}

/* Every reuse of a slot makes the previous handles stale. */
static void test_many_reuses(void **state)
{
    (void)state;
    hs_session_main_t *sm = main_new(1);
    hs_session_worker_t *sw = hs_session_worker(sm, 0);
    hs_session_handle_t prev = HS_SESSION_HANDLE_INVALID, first = HS_SESSION_HANDLE_INVALID;
    for (uint32_t i = 0; i < 100000; i++) {
        hs_session_t *s = hs_session_alloc(sw, HS_PROTO_TCP, UINT32_MAX);
        assert_int_equal(s->index, 0);
        hs_session_handle_t h = hs_session_handle(sw, s);
        if (i == 0)
            first = h;
        assert_null(hs_session_from_handle(sm, prev));
        assert_null(hs_session_from_handle(sm, i ? first : HS_SESSION_HANDLE_INVALID));
        assert_ptr_equal(hs_session_from_handle(sm, h), s);
        prev = h;
        hs_session_free(sw, s);
        assert_null(hs_session_from_handle(sm, h));
    }
    hs_session_main_free(sm);
}

/* The pool's 32-bit generation crosses 2^24: the handle's 24-bit field wraps to a small
 * value and lookups still compare the right bits. */
static void test_generation_wrap(void **state)
{
    (void)state;
    hs_session_main_t *sm = main_new(1);
    hs_session_worker_t *sw = hs_session_worker(sm, 0);
    hs_session_t *s = hs_session_alloc(sw, HS_PROTO_TCP, UINT32_MAX);
    uint32_t index = s->index;
    hs_session_free(sw, s);
    sw->sessions.gens[index] = HS_SESSION_GEN_MASK - 1; /* a free slot, just below the wrap */
    s = hs_session_alloc(sw, HS_PROTO_TCP, UINT32_MAX);
    hs_session_handle_t before = hs_session_handle(sw, s);
    assert_int_equal(hs_session_handle_gen(before), HS_SESSION_GEN_MASK);
    assert_ptr_equal(hs_session_from_handle(sm, before), s);
    hs_session_free(sw, s);
    s = hs_session_alloc(sw, HS_PROTO_TCP, UINT32_MAX);
    hs_session_handle_t after = hs_session_handle(sw, s);
    assert_int_equal(hs_session_handle_gen(after), 1); /* 0x1000001 & 0xffffff */
    assert_int_equal(hs_pool_gen(&sw->sessions, index), HS_SESSION_GEN_MASK + 2);
    assert_ptr_equal(hs_session_from_handle(sm, after), s);
    assert_null(hs_session_from_handle(sm, before));
    /* The documented limit: a handle 2^23 reuses old names the slot again. */
    hs_session_handle_t aliased =
        hs_session_handle_make(0, hs_pool_gen(&sw->sessions, index) - (1u << 24), index);
    assert_ptr_equal(hs_session_from_handle(sm, aliased), s);
    hs_session_free(sw, s);
    hs_session_main_free(sm);
}

static void test_bad_config(void **state)
{
    (void)state;
    hs_session_main_t *sm = NULL;
    assert_int_equal(hs_session_main_alloc(&sm, 0, NULL), -EINVAL);
    assert_int_equal(hs_session_main_alloc(&sm, HS_SESSION_MAX_WORKERS + 1, NULL), -EINVAL);
    hs_session_config_t cfg = {.fifo = {.rx_fifo_size = 1000}};
    assert_int_equal(hs_session_main_alloc(&sm, 1, &cfg), -EINVAL);
    /* max_sessions caps the pool: allocation then fails cleanly. */
    cfg = (hs_session_config_t){.max_sessions = 2};
    assert_int_equal(hs_session_main_alloc(&sm, 1, &cfg), 0);
    hs_session_worker_t *sw = hs_session_worker(sm, 0);
    assert_non_null(hs_session_alloc(sw, HS_PROTO_TCP, UINT32_MAX));
    assert_non_null(hs_session_alloc(sw, HS_PROTO_TCP, UINT32_MAX));
    assert_null(hs_session_alloc(sw, HS_PROTO_TCP, UINT32_MAX));
    hs_session_main_free(sm); /* frees the two live sessions */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoding),
        cmocka_unit_test(test_stale_after_free),
        cmocka_unit_test(test_foreign_and_malformed),
        cmocka_unit_test(test_many_reuses),
        cmocka_unit_test(test_generation_wrap),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
