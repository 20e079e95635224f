/* Session lookup tables: exact 5-tuples (add, duplicate, delete, every key field matters),
 * listeners (exact address before the wildcard, per fib and protocol), many entries, and
 * the transport-facing wrappers of transport.h on a worker. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>

#include "session/session.h"

#define IP(a, b, c, d) (((uint32_t)(a) << 24) | ((b) << 16) | ((c) << 8) | (d))

static hs_5tuple4_t tuple(uint32_t lcl, uint16_t lport, uint32_t rmt, uint16_t rport)
{
    return (hs_5tuple4_t){.proto = HS_PROTO_TCP,
                          .fib_index = 0,
                          .lcl_ip = lcl,
                          .rmt_ip = rmt,
                          .lcl_port = lport,
                          .rmt_port = rport};
}

static void test_conn_add_find_del(void **state)
{
    (void)state;
    hs_session_lookup_t l;
    assert_int_equal(hs_session_lookup_init(&l, 0, 7), 0);
    hs_5tuple4_t t = tuple(IP(10, 0, 0, 1), 80, IP(10, 0, 0, 2), 40000);
    assert_int_equal(hs_session_lookup_conn4_find(&l, &t), -1);
    assert_int_equal(hs_session_lookup_add_conn4(&l, &t, 5), 0);
    assert_int_equal(hs_session_lookup_conn4_find(&l, &t), 5);
    assert_int_equal(hs_session_lookup_add_conn4(&l, &t, 6), -EEXIST);
    assert_int_equal(hs_session_lookup_conn4_find(&l, &t), 5); /* unchanged */

    /* Each field of the key matters. */
    hs_5tuple4_t v = t;
    v.rmt_port = 40001;
    assert_int_equal(hs_session_lookup_conn4_find(&l, &v), -1);
    v = t;
    v.fib_index = 1;
    assert_int_equal(hs_session_lookup_conn4_find(&l, &v), -1);
    v = t;
    v.proto = HS_PROTO_UDP;
    assert_int_equal(hs_session_lookup_conn4_find(&l, &v), -1);
    v = t; /* swapped ends: the other direction is another connection */
    v.lcl_ip = t.rmt_ip, v.rmt_ip = t.lcl_ip, v.lcl_port = t.rmt_port, v.rmt_port = t.lcl_port;
    assert_int_equal(hs_session_lookup_conn4_find(&l, &v), -1);
    v = t;
    v.fib_index = 1;
    assert_int_equal(hs_session_lookup_add_conn4(&l, &v, 9), 0);
    assert_int_equal(hs_session_lookup_conn4_find(&l, &v), 9);
    assert_int_equal(hs_session_lookup_conn4_find(&l, &t), 5);

    assert_int_equal(hs_session_lookup_del_conn4(&l, &t), 0);
    assert_int_equal(hs_session_lookup_conn4_find(&l, &t), -1);
    assert_int_equal(hs_session_lookup_del_conn4(&l, &t), -ENOENT);
    assert_int_equal(hs_session_lookup_conn4_find(&l, &v), 9);
    /* Connection index 0 is a value like any other. */
    assert_int_equal(hs_session_lookup_add_conn4(&l, &t, 0), 0);
    assert_int_equal(hs_session_lookup_conn4_find(&l, &t), 0);
    hs_session_lookup_destroy(&l);
}

static void test_listeners_exact_and_wildcard(void **state)
{
    (void)state;
    hs_session_lookup_t l;
    assert_int_equal(hs_session_lookup_init(&l, 0, 7), 0);
    uint32_t a = IP(10, 0, 0, 1), b = IP(10, 0, 0, 9);
    uint8_t tcp = HS_PROTO_TCP;
    assert_int_equal(hs_session_lookup_listener4_find(&l, tcp, 0, a, 80), -1);
    assert_int_equal(hs_session_lookup_add_listener4(&l, tcp, 0, 0, 80, 1), 0);
    assert_int_equal(hs_session_lookup_listener4_find(&l, tcp, 0, a, 80), 1);
    assert_int_equal(hs_session_lookup_listener4_find(&l, tcp, 0, b, 80), 1);
    assert_int_equal(hs_session_lookup_listener4_find(&l, tcp, 0, a, 81), -1);
    assert_int_equal(hs_session_lookup_listener4_find(&l, tcp, 1, a, 80), -1); /* fib */
    assert_int_equal(hs_session_lookup_listener4_find(&l, HS_PROTO_UDP, 0, a, 80), -1);

    /* An exact listener wins for its address only. */
    assert_int_equal(hs_session_lookup_add_listener4(&l, tcp, 0, a, 80, 2), 0);
    assert_int_equal(hs_session_lookup_listener4_find(&l, tcp, 0, a, 80), 2);
    assert_int_equal(hs_session_lookup_listener4_find(&l, tcp, 0, b, 80), 1);
    assert_int_equal(hs_session_lookup_add_listener4(&l, tcp, 0, a, 80, 3), -EADDRINUSE);
    assert_int_equal(hs_session_lookup_add_listener4(&l, tcp, 0, 0, 80, 3), -EADDRINUSE);
    assert_true(hs_session_lookup_has_listener4(&l, tcp, 0, a, 80));
    assert_false(hs_session_lookup_has_listener4(&l, tcp, 0, b, 80));

    /* Listeners and connections are separate tables. */
    hs_5tuple4_t t = tuple(a, 80, b, 5555);
    assert_int_equal(hs_session_lookup_conn4_find(&l, &t), -1);

    assert_int_equal(hs_session_lookup_del_listener4(&l, tcp, 0, a, 80), 0);
    assert_int_equal(hs_session_lookup_listener4_find(&l, tcp, 0, a, 80), 1);
    assert_int_equal(hs_session_lookup_del_listener4(&l, tcp, 0, 0, 80), 0);
    assert_int_equal(hs_session_lookup_listener4_find(&l, tcp, 0, a, 80), -1);
    assert_int_equal(hs_session_lookup_del_listener4(&l, tcp, 0, 0, 80), -ENOENT);

    /* Only exact: the wildcard is not implied. */
    assert_int_equal(hs_session_lookup_add_listener4(&l, tcp, 0, a, 7, 4), 0);
    assert_int_equal(hs_session_lookup_listener4_find(&l, tcp, 0, b, 7), -1);
    assert_int_equal(hs_session_lookup_listener4_find(&l, tcp, 0, a, 7), 4);
    hs_session_lookup_destroy(&l);
}

static hs_5tuple4_t nth(uint32_t i)
{
    return tuple(IP(10, 1, 0, 1), 443, IP(172, 16, 0, 0) + (i >> 10),
                 (uint16_t)(1024 + (i & 1023)));
}

static void test_many(void **state)
{
    (void)state;
    const uint32_t n = 200000;
    hs_session_lookup_t l;
    assert_int_equal(hs_session_lookup_init(&l, 16, 99), 0); /* grows many times */
    for (uint32_t i = 0; i < n; i++) {
        hs_5tuple4_t t = nth(i);
        assert_int_equal(hs_session_lookup_add_conn4(&l, &t, i * 3), 0);
    }
    for (uint32_t i = 0; i < n; i++) {
        hs_5tuple4_t t = nth(i);
        if (hs_session_lookup_conn4_find(&l, &t) != (int64_t)i * 3)
            fail_msg("entry %u lost", i);
    }
    for (uint32_t i = 0; i < n; i += 2) {
        hs_5tuple4_t t = nth(i);
        assert_int_equal(hs_session_lookup_del_conn4(&l, &t), 0);
    }
    for (uint32_t i = 0; i < n; i++) {
        hs_5tuple4_t t = nth(i);
        int64_t want = (i & 1) ? (int64_t)i * 3 : -1;
        if (hs_session_lookup_conn4_find(&l, &t) != want)
            fail_msg("entry %u: got %ld", i, (long)hs_session_lookup_conn4_find(&l, &t));
    }
    assert_int_equal(hs_hash_count(&l.conns), n / 2);
    hs_session_lookup_destroy(&l);
}

/* The calls of transport.h go to the worker's own tables. */
static void test_transport_wrappers(void **state)
{
    (void)state;
    hs_session_main_t *sm = NULL;
    assert_int_equal(hs_session_main_alloc(&sm, 2, NULL), 0);
    hs_session_worker_t *w0 = hs_session_worker(sm, 0), *w1 = hs_session_worker(sm, 1);
    hs_transport_conn_t tc = {.fib_index = 0,
                              .lcl_ip = IP(192, 168, 77, 2),
                              .rmt_ip = IP(192, 168, 77, 1),
                              .lcl_port = 7,
                              .rmt_port = 50000,
                              .proto = HS_PROTO_TCP,
                              .conn_index = 12};
    assert_int_equal(hs_session_table_add4(w0, &tc), 0);
    assert_int_equal(hs_session_table_add4(w0, &tc), -EEXIST);
    assert_int_equal(hs_session_lookup_conn4(w0, HS_PROTO_TCP, 0, tc.lcl_ip, 7, tc.rmt_ip, 50000),
                     12);
    assert_int_equal(hs_session_lookup_conn4(w1, HS_PROTO_TCP, 0, tc.lcl_ip, 7, tc.rmt_ip, 50000),
                     -1);
    hs_session_table_del4(w0, &tc);
    assert_int_equal(hs_session_lookup_conn4(w0, HS_PROTO_TCP, 0, tc.lcl_ip, 7, tc.rmt_ip, 50000),
                     -1);
    hs_session_table_del4(w0, &tc); /* absent: harmless */
    assert_int_equal(hs_session_lookup_add_listener4(&w1->lookup, HS_PROTO_TCP, 0, 0, 7, 3), 0);
    assert_int_equal(hs_session_lookup_listener4(w1, HS_PROTO_TCP, 0, tc.lcl_ip, 7), 3);
    assert_int_equal(hs_session_lookup_listener4(w0, HS_PROTO_TCP, 0, tc.lcl_ip, 7), -1);
    hs_session_main_free(sm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conn_add_find_del),
        cmocka_unit_test(test_listeners_exact_and_wildcard),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_transport_wrappers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
