/* IPv4 header parser tests (src/net/ip4_packet.c): a valid header parses to the right
 * host-order fields; every malformed case fails with its own reason; random headers never
 * read out of bounds and every accepted one satisfies the invariants. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "net/checksum.h"
#include "net/ip4_packet.h"

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A datagram of total bytes: a 20-byte header plus opt_len option bytes (given), then a
 * payload of 0xa5. */
static uint32_t make(uint8_t *p, uint32_t total, const uint8_t *opt, uint32_t opt_len)
{
    hs_ip4_header_t *h = (hs_ip4_header_t *)p;
    hs_ip4_header_build(h, 0x0a000001, 0x0a000002, HS_IP_PROTO_UDP, (uint16_t)total, 0x1234, 0, 64);
    if (opt_len)
        memcpy(p + 20, opt, opt_len);
    h->ver_ihl = (uint8_t)(0x40 | ((20 + opt_len) / 4));
    memset(p + 20 + opt_len, 0xa5, total - 20 - opt_len);
    hs_ip4_header_set_csum(h);
    return total;
}

static hs_ip4_error_t parse(const uint8_t *p, uint32_t len)
{
    hs_ip4_parsed_t ip;
    return hs_ip4_parse(p, len, len, &ip);
}

/* Changes one header byte and fixes the checksum, so only that change is judged. */
static hs_ip4_error_t with_byte(const uint8_t *p, uint32_t len, uint32_t at, uint8_t v)
{
    uint8_t q[128];
    memcpy(q, p, len);
    q[at] = v;
    hs_ip4_header_set_csum((hs_ip4_header_t *)q);
    return parse(q, len);
}

static void test_valid_header(void **state)
{
    (void)state;
    uint8_t p[100];
    make(p, 60, NULL, 0);
    ((hs_ip4_header_t *)p)->frag = htons(HS_IP4_F_DF);
    ((hs_ip4_header_t *)p)->tos = 0x10;
    hs_ip4_header_set_csum((hs_ip4_header_t *)p);
    hs_ip4_parsed_t ip;
    /* 40 trailing bytes of link padding are allowed: total_len says where the packet ends. */
    assert_int_equal(hs_ip4_parse(p, 100, 100, &ip), HS_IP4_E_NONE);
    assert_int_equal(ip.src, 0x0a000001);
    assert_int_equal(ip.dst, 0x0a000002);
    assert_int_equal(ip.total_len, 60);
    assert_int_equal(ip.hdr_len, 20);
    assert_int_equal(ip.id, 0x1234);
    assert_int_equal(ip.ttl, 64);
    assert_int_equal(ip.tos, 0x10);
    assert_int_equal(ip.proto, HS_IP_PROTO_UDP);
    assert_true(ip.df);
    assert_false(ip.mf);
    assert_int_equal(ip.frag_off, 0);
    /* The header alone is contiguous, the rest in a chain: still fine. */
    assert_int_equal(hs_ip4_parse(p, 20, 60, &ip), HS_IP4_E_NONE);
    for (int i = 0; i < HS_IP4_N_PARSE_ERRORS; i++)
        assert_non_null(hs_ip4_error_str[i]);
}

static void test_truncated(void **state)
{
    (void)state;
    uint8_t p[60];
    make(p, 60, NULL, 0);
    for (uint32_t len = 0; len < 20; len++)
        assert_int_equal(parse(p, len), HS_IP4_E_TOO_SHORT);
    hs_ip4_parsed_t ip;
    assert_int_equal(hs_ip4_parse(p, 19, 60, &ip), HS_IP4_E_TOO_SHORT);
    for (uint32_t len = 20; len < 60; len++) /* total length 60 says more than is there */
        assert_int_equal(parse(p, len), HS_IP4_E_BAD_LENGTH);
}

static void test_bad_version_and_ihl(void **state)
{
    (void)state;
    uint8_t p[60];
    make(p, 60, NULL, 0);
    for (int v = 0; v < 16; v++)
        if (v != 4)
            assert_int_equal(with_byte(p, 60, 0, (uint8_t)(v << 4 | 5)), HS_IP4_E_BAD_VERSION);
    for (int ihl = 0; ihl < 5; ihl++)
        assert_int_equal(with_byte(p, 60, 0, (uint8_t)(0x40 | ihl)), HS_IP4_E_BAD_IHL);
    /* IHL 15 is 60 bytes of header: more than the 40 contiguous bytes there are. */
    hs_ip4_parsed_t ip;
    p[0] = 0x4f;
    assert_int_equal(hs_ip4_parse(p, 40, 60, &ip), HS_IP4_E_BAD_IHL);
}

static void test_bad_total_length(void **state)
{
    (void)state;
    uint8_t p[60];
    const uint8_t nops[8] = {1, 1, 1, 1, 1, 1, 1, 0};
    make(p, 60, nops, 8);
    for (uint32_t tl = 0; tl < 28; tl++) { /* shorter than the 28-byte header */
        uint8_t q[60];
        memcpy(q, p, 60);
        ((hs_ip4_header_t *)q)->total_len = htons((uint16_t)tl);
        hs_ip4_header_set_csum((hs_ip4_header_t *)q);
        assert_int_equal(parse(q, 60), HS_IP4_E_BAD_LENGTH);
    }
    ((hs_ip4_header_t *)p)->total_len = htons(61);
    hs_ip4_header_set_csum((hs_ip4_header_t *)p);
    assert_int_equal(parse(p, 60), HS_IP4_E_BAD_LENGTH);
    ((hs_ip4_header_t *)p)->total_len = htons(28); /* header only: fine */
    hs_ip4_header_set_csum((hs_ip4_header_t *)p);
    assert_int_equal(parse(p, 60), HS_IP4_E_NONE);
}

static void test_bad_checksum(void **state)
{
    (void)state;
    uint8_t p[60];
    make(p, 60, NULL, 0);
    for (int i = 0; i < 20; i++) { /* any single bit flipped in the header is caught */
        for (int bit = 0; bit < 8; bit++) {
            uint8_t q[60];
            memcpy(q, p, 60);
            q[i] ^= (uint8_t)(1 << bit);
            hs_ip4_error_t e = parse(q, 60);
            assert_int_not_equal(e, HS_IP4_E_NONE);
            if (i != 0 && i != 2 && i != 3) /* not version, IHL or length: the checksum */
                assert_int_equal(e, HS_IP4_E_BAD_CHECKSUM);
        }
    }
    /* The payload is not covered. */
    p[40] ^= 0xff;
    assert_int_equal(parse(p, 60), HS_IP4_E_NONE);
}

static void test_ttl_zero(void **state)
{
    (void)state;
    uint8_t p[60];
    make(p, 60, NULL, 0);
    assert_int_equal(with_byte(p, 60, 8, 0), HS_IP4_E_TTL_ZERO);
    assert_int_equal(with_byte(p, 60, 8, 1), HS_IP4_E_NONE);
}

static hs_ip4_error_t frag(uint8_t *p, uint32_t total, uint16_t bits)
{
    make(p, total, NULL, 0);
    ((hs_ip4_header_t *)p)->frag = htons(bits);
    hs_ip4_header_set_csum((hs_ip4_header_t *)p);
    return parse(p, total);
}

static void test_fragment_fields(void **state)
{
    (void)state;
    static uint8_t p[2000];
    hs_ip4_parsed_t ip;
    assert_int_equal(frag(p, 1500, HS_IP4_F_MF), HS_IP4_E_NONE); /* 1480 = 185 * 8 */
    assert_int_equal(hs_ip4_parse(p, 1500, 1500, &ip), HS_IP4_E_NONE);
    assert_true(ip.mf);
    assert_int_equal(ip.frag_off, 0);
    assert_int_equal(frag(p, 533, 185), HS_IP4_E_NONE); /* a last fragment may be odd */
    assert_int_equal(hs_ip4_parse(p, 533, 533, &ip), HS_IP4_E_NONE);
    assert_int_equal(ip.frag_off, 1480);
    assert_false(ip.mf);
    assert_int_equal(frag(p, 20, HS_IP4_F_MF), HS_IP4_E_BAD_FRAGMENT);     /* empty */
    assert_int_equal(frag(p, 20, 10), HS_IP4_E_BAD_FRAGMENT);              /* empty last */
    assert_int_equal(frag(p, 33, HS_IP4_F_MF | 3), HS_IP4_E_BAD_FRAGMENT); /* 13 bytes */
    /* Ping of death: offset 65528 plus 100 bytes is past 64 KiB. */
    assert_int_equal(frag(p, 120, 8191), HS_IP4_E_BAD_FRAGMENT);
    /* The largest legal last fragment: 65535 - 20 - 8*8186 = 27 bytes at offset 65488. */
    assert_int_equal(frag(p, 47, 8186), HS_IP4_E_NONE);
    assert_int_equal(frag(p, 48, 8186), HS_IP4_E_BAD_FRAGMENT);
    /* The reserved flag is ignored (be liberal in what you accept). */
    assert_int_equal(frag(p, 100, HS_IP4_F_RESERVED), HS_IP4_E_NONE);
}

static void test_options(void **state)
{
    (void)state;
    uint8_t p[100];
    hs_ip4_parsed_t ip;
    const uint8_t ok1[4] = {1, 1, 1, 0};                           /* NOPs and end of list */
    const uint8_t ok2[8] = {0x94, 4, 0, 0, 0, 0xff, 3, 9};         /* router alert; EOL; garbage */
    const uint8_t ok3[12] = {7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 1}; /* record route + NOP */
    const uint8_t bad_len0[4] = {0x94, 0, 0, 0};
    const uint8_t bad_len1[4] = {0x94, 1, 0, 0};
    const uint8_t bad_past[4] = {1, 0x83, 4, 0}; /* 4 bytes from offset 1 of 4 */
    const uint8_t bad_tail[4] = {1, 1, 1, 0x44}; /* a type in the last byte, no length */
    make(p, 60, ok1, 4);
    assert_int_equal(hs_ip4_parse(p, 60, 60, &ip), HS_IP4_E_NONE);
    assert_int_equal(ip.hdr_len, 24);
    make(p, 60, ok2, 8);
    assert_int_equal(parse(p, 60), HS_IP4_E_NONE);
    make(p, 60, ok3, 12);
    assert_int_equal(parse(p, 60), HS_IP4_E_NONE);
    make(p, 60, bad_len0, 4);
    assert_int_equal(parse(p, 60), HS_IP4_E_BAD_OPTIONS);
    make(p, 60, bad_len1, 4);
    assert_int_equal(parse(p, 60), HS_IP4_E_BAD_OPTIONS);
    make(p, 60, bad_past, 4);
    assert_int_equal(parse(p, 60), HS_IP4_E_BAD_OPTIONS);
    make(p, 60, bad_tail, 4);
    assert_int_equal(parse(p, 60), HS_IP4_E_BAD_OPTIONS);
    /* 40 bytes of options (IHL 15), one option spanning it all. */
    uint8_t big[40] = {0x44, 40};
    make(p, 80, big, 40);
    assert_int_equal(hs_ip4_parse(p, 80, 80, &ip), HS_IP4_E_NONE);
    assert_int_equal(ip.hdr_len, 60);
    big[1] = 41;
    make(p, 80, big, 40);
    assert_int_equal(parse(p, 80), HS_IP4_E_BAD_OPTIONS);
}

static void test_martian_source(void **state)
{
    (void)state;
    uint8_t p[60];
    const uint32_t bad[] = {0xe0000001, 0xefffffff, 0xf0000000, 0xffffffff, 0x7f000001};
    const uint32_t good[] = {0x00000000, 0x0a000001, 0xc0a80001, 0xdfffffff, 0x80000000};
    for (size_t i = 0; i < HS_ARRAY_LEN(bad); i++) {
        make(p, 60, NULL, 0);
        ((hs_ip4_header_t *)p)->src = htonl(bad[i]);
        hs_ip4_header_set_csum((hs_ip4_header_t *)p);
        assert_int_equal(parse(p, 60), HS_IP4_E_MARTIAN_SRC);
    }
    for (size_t i = 0; i < HS_ARRAY_LEN(good); i++) {
        make(p, 60, NULL, 0);
        ((hs_ip4_header_t *)p)->src = htonl(good[i]);
        hs_ip4_header_set_csum((hs_ip4_header_t *)p);
        assert_int_equal(parse(p, 60), HS_IP4_E_NONE);
    }
}

/* Random garbage with a valid checksum half the time: the parser never reads past what it
 * was given (ASan guards the exact-size copy) and whatever it accepts is consistent. */
static void test_random_headers(void **state)
{
    (void)state;
    uint64_t seed = 7;
    for (int iter = 0; iter < 300000; iter++) {
        uint32_t len = (uint32_t)(rnd(&seed) % 90);
        uint8_t *p = malloc(len ? len : 1);
        assert_non_null(p);
        for (uint32_t i = 0; i < len; i++)
            p[i] = (uint8_t)rnd(&seed);
        if (len >= 1 && (iter & 1))
            p[0] = (uint8_t)(0x45 + (rnd(&seed) % 3 ? 0 : rnd(&seed) % 11));
        if (len >= 4 && (iter & 2)) {
            uint16_t tl = (uint16_t)(len - rnd(&seed) % 8);
            memcpy(p + 2, &(uint16_t){htons(tl)}, 2);
        }
        uint32_t hl = len >= 1 ? (p[0] & 0xfu) * 4u : 0;
        if (len >= 20 && hl >= 20 && hl <= len && (iter & 4))
            hs_ip4_header_set_csum((hs_ip4_header_t *)p);
        hs_ip4_parsed_t ip;
        if (hs_ip4_parse(p, len, len, &ip) == HS_IP4_E_NONE) {
            assert_true(ip.hdr_len >= 20 && ip.hdr_len <= len && ip.hdr_len <= 60);
            assert_true(ip.total_len >= ip.hdr_len && ip.total_len <= len);
            assert_int_equal(hs_csum(p, ip.hdr_len), 0);
            assert_true(ip.ttl > 0);
            assert_true(ip.frag_off + ip.total_len <= 65535);
        }
        free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_header),        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_bad_version_and_ihl), cmocka_unit_test(test_bad_total_length),
        cmocka_unit_test(test_bad_checksum),        cmocka_unit_test(test_ttl_zero),
        cmocka_unit_test(test_fragment_fields),     cmocka_unit_test(test_options),
        cmocka_unit_test(test_martian_source),      cmocka_unit_test(test_random_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
