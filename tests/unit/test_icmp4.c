/* ICMP error building (src/net/icmp4.c): the header fields, the quoted datagram (header
 * and data up to 576 bytes in all, from a chain too), the metadata carried over, and the
 * RFC 1122 3.2.2 rules on when no error may be sent. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "net/checksum.h"
#include "net/ip4_internal.h"

#define N_BUFS         256
#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

typedef struct {
    hs_buf_pool_t pool;
    hs_buf_cache_t c;
    uint8_t d[5000];
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    if (!f || hs_buf_pool_init(&f->pool, N_BUFS) < 0)
        return -1;
    hs_buf_cache_init(&f->c, &f->pool);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    hs_buf_cache_flush(&f->c);
    assert_int_equal(hs_buf_pool_n_free(&f->pool), N_BUFS);
    hs_buf_pool_destroy(&f->pool);
    free(f);
    return 0;
}

/* A received datagram of total bytes (src -> dst, proto, frag bits) as a buffer chain. */
static uint32_t datagram(fx_t *f, uint32_t src, uint32_t dst, uint8_t proto, uint32_t total,
                         uint16_t frag)
{
    hs_ip4_header_t *h = (hs_ip4_header_t *)f->d;
    hs_ip4_header_build(h, src, dst, proto, (uint16_t)total, 0x99, 0, 63);
    h->frag = htons(frag);
    hs_ip4_header_set_csum(h);
    for (uint32_t i = 20; i < total; i++)
        f->d[i] = (uint8_t)(i ^ 0x5c);
    uint32_t bi = hs_buf_from_bytes(&f->c, f->d, total);
    assert_int_not_equal(bi, HS_BUF_INVALID);
    hs_buf_t *b = hs_buf_ptr(&f->pool, bi);
    b->sw_if_index[HS_RX] = 4;
    hs_ip4_meta(b)->fib_index = 3;
    return bi;
}

static void check_error(fx_t *f, uint32_t ebi, uint8_t type, uint8_t code, uint32_t rest,
                        uint32_t orig_len)
{
    hs_buf_t *e = hs_buf_ptr(&f->pool, ebi);
    uint32_t quote = HS_MIN(orig_len, 576u - 28), len = hs_buf_length(e);
    assert_int_equal(len, 28 + quote);
    assert_false(e->flags & HS_BUF_F_NEXT); /* one buffer */
    const uint8_t *p = hs_buf_cur(e);
    hs_ip4_parsed_t ip;
    assert_int_equal(hs_ip4_parse(p, len, len, &ip), HS_IP4_E_NONE);
    assert_int_equal(ip.src, IP(10, 0, 0, 2));
    assert_int_equal(ip.dst, IP(10, 0, 0, 1)); /* back to the sender */
    assert_int_equal(ip.proto, HS_IP_PROTO_ICMP);
    assert_int_equal(ip.ttl, HS_IP4_DEFAULT_TTL);
    assert_int_equal(ip.id, 0x4321);
    assert_int_equal(ip.tos, 0xc0);
    assert_false(ip.df || ip.mf);
    assert_int_equal(p[20], type);
    assert_int_equal(p[21], code);
    assert_int_equal(hs_csum(p + 20, 8 + quote), 0);
    assert_int_equal((uint32_t)p[24] << 24 | (uint32_t)p[25] << 16 | (uint32_t)p[26] << 8 | p[27],
                     rest);
    assert_memory_equal(p + 28, f->d, quote);
    /* Routed in the original's table, as received on its interface, made by us. */
    assert_int_equal(hs_ip4_meta(e)->fib_index, 3);
    assert_int_equal(hs_ip4_meta(e)->flags, 0);
    assert_int_equal(e->sw_if_index[HS_RX], 4);
    assert_true(e->flags & HS_BUF_F_LOCALLY_MADE);
    assert_int_equal(e->l3_offset, e->current_data);
    assert_true(hs_buf_headroom(e) >= 14);
}

static void test_build_fields(void **state)
{
    fx_t *f = *state;
    const struct {
        uint32_t len;
        uint8_t type, code;
        uint32_t info;
    } cases[] = {
        {28, HS_ICMP_DEST_UNREACH, HS_ICMP_UNREACH_PORT, 0},
        {100, HS_ICMP_DEST_UNREACH, HS_ICMP_UNREACH_PROTO, 0},
        {548, HS_ICMP_DEST_UNREACH, HS_ICMP_UNREACH_PORT, 0},         /* exactly fits */
        {549, HS_ICMP_DEST_UNREACH, HS_ICMP_UNREACH_PORT, 0},         /* one byte cut */
        {1500, HS_ICMP_DEST_UNREACH, HS_ICMP_UNREACH_NEEDFRAG, 1280}, /* RFC 1191 MTU */
        {4000, HS_ICMP_TIME_EXCEEDED, HS_ICMP_TIMXCEED_REASS, 0},     /* from a chain */
        {60, HS_ICMP_PARAM_PROBLEM, 0, 9u << 24},                     /* pointer */
    };
    for (size_t i = 0; i < HS_ARRAY_LEN(cases); i++) {
        uint32_t bi =
            datagram(f, IP(10, 0, 0, 1), IP(10, 0, 0, 2), HS_IP_PROTO_UDP, cases[i].len, 0);
        uint32_t ebi = hs_icmp4_build_error(&f->c, hs_buf_ptr(&f->pool, bi), IP(10, 0, 0, 2),
                                            cases[i].type, cases[i].code, cases[i].info, 0x4321);
        assert_int_not_equal(ebi, HS_BUF_INVALID);
        check_error(f, ebi, cases[i].type, cases[i].code, cases[i].info, cases[i].len);
        hs_buf_free(&f->c, &bi, 1);
        hs_buf_free(&f->c, &ebi, 1);
    }
}

static void test_no_buffer(void **state)
{
    fx_t *f = *state;
    uint32_t bi = datagram(f, IP(10, 0, 0, 1), IP(10, 0, 0, 2), HS_IP_PROTO_UDP, 100, 0);
    uint32_t hog[N_BUFS], n = hs_buf_alloc(&f->c, hog, N_BUFS);
    assert_int_equal(hs_icmp4_build_error(&f->c, hs_buf_ptr(&f->pool, bi), 1, 3, 3, 0, 0),
                     HS_BUF_INVALID);
    hs_buf_free(&f->c, hog, n);
    hs_buf_free(&f->c, &bi, 1);
}

static bool allowed(fx_t *f, uint32_t src, uint32_t dst, uint8_t proto, uint16_t frag,
                    int icmp_type, uint32_t meta_flags)
{
    uint32_t total = icmp_type == -2 ? 20 : 48;
    uint32_t bi = datagram(f, src, dst, proto, total, frag);
    hs_buf_t *b = hs_buf_ptr(&f->pool, bi);
    if (icmp_type >= 0)
        hs_buf_cur(b)[20] = (uint8_t)icmp_type;
    hs_ip4_meta(b)->flags = meta_flags;
    bool ok = hs_icmp4_error_allowed(&f->pool, b);
    hs_buf_free(&f->c, &bi, 1);
    return ok;
}

static void test_rfc1122_rules(void **state)
{
    fx_t *f = *state;
    const uint32_t a = IP(10, 0, 0, 1), us = IP(10, 0, 0, 2);
    assert_true(allowed(f, a, us, HS_IP_PROTO_UDP, 0, -1, 0));
    assert_true(allowed(f, a, us, HS_IP_PROTO_UDP, HS_IP4_F_MF, -1, 0)); /* first fragment */
    assert_true(allowed(f, a, us, HS_IP_PROTO_UDP, HS_IP4_F_DF, -1, 0));
    assert_false(allowed(f, a, us, HS_IP_PROTO_UDP, HS_IP4_F_MF | 1, -1, 0)); /* not first */
    assert_false(allowed(f, a, us, HS_IP_PROTO_UDP, 3, -1, 0));               /* last one */
    assert_false(allowed(f, a, 0xffffffffu, HS_IP_PROTO_UDP, 0, -1, 0));
    assert_false(allowed(f, a, IP(224, 0, 0, 251), HS_IP_PROTO_UDP, 0, -1, 0));
    assert_false(allowed(f, a, IP(10, 0, 0, 255), HS_IP_PROTO_UDP, 0, -1, HS_IP4_META_BCAST));
    assert_false(allowed(f, 0, us, HS_IP_PROTO_UDP, 0, -1, 0));
    assert_false(allowed(f, IP(224, 1, 2, 3), us, HS_IP_PROTO_UDP, 0, -1, 0));
    assert_false(allowed(f, IP(127, 0, 0, 1), us, HS_IP_PROTO_UDP, 0, -1, 0));
    /* About ICMP: queries may be answered, errors never. */
    assert_true(allowed(f, a, us, HS_IP_PROTO_ICMP, 0, HS_ICMP_ECHO_REQUEST, 0));
    assert_true(allowed(f, a, us, HS_IP_PROTO_ICMP, 0, HS_ICMP_ECHO_REPLY, 0));
    const uint8_t errors[] = {HS_ICMP_DEST_UNREACH, HS_ICMP_SOURCE_QUENCH, HS_ICMP_REDIRECT,
                              HS_ICMP_TIME_EXCEEDED, HS_ICMP_PARAM_PROBLEM};
    for (size_t i = 0; i < sizeof(errors); i++)
        assert_false(allowed(f, a, us, HS_IP_PROTO_ICMP, 0, errors[i], 0));
    assert_false(allowed(f, a, us, HS_IP_PROTO_ICMP, 0, -2, 0)); /* no ICMP header to read */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_build_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_buffer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rfc1122_rules, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
