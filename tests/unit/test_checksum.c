/* Internet checksum tests (src/net/checksum.c): RFC 1071 vectors, the fast sum against a
 * byte-wise reference over random lengths and alignments, chains split at odd places,
 * incremental update (RFC 1624) against full recomputation, the pseudo-header sum. */
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

/* RFC 1071 as written: big-endian 16-bit words, a trailing byte padded; host-order result. */
static uint16_t ref_csum(const uint8_t *p, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1)
        s += (uint32_t)p[n - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static void fill(uint8_t *p, size_t n, uint64_t *seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rnd(seed);
}

static void test_rfc1071_vector(void **state)
{
    (void)state;
    /* RFC 1071 section 3: these words sum to 0xddf2 in one's complement. */
    const uint8_t d[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    uint16_t f = hs_csum_fold(hs_csum_add(0, d, sizeof(d)));
    assert_int_equal(ntohs(f), 0xddf2);
    assert_int_equal(ntohs(hs_csum(d, sizeof(d))), (uint16_t)~0xddf2);
    /* A real header (checksum 0xb861): summing it with its checksum gives 0. */
    uint8_t h[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                     0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
    assert_int_equal(hs_csum(h, 20), 0);
    h[10] = h[11] = 0;
    uint16_t c = hs_csum(h, 20);
    assert_int_equal(((uint8_t *)&c)[0], 0xb8);
    assert_int_equal(((uint8_t *)&c)[1], 0x61);
    /* Empty and one-byte inputs. */
    assert_int_equal(hs_csum(d, 0), 0xffff);
    const uint8_t one = 0xab;
    assert_int_equal(ntohs(hs_csum(&one, 1)), (uint16_t)~0xab00);
}

static void test_random_against_reference(void **state)
{
    (void)state;
    uint64_t seed = 1;
    uint8_t *buf = malloc(70000);
    assert_non_null(buf);
    for (int iter = 0; iter < 4000; iter++) {
        size_t len = iter < 200 ? (size_t)iter : rnd(&seed) % 3000;
        if (iter % 500 == 499)
            len = 65536 + rnd(&seed) % 1000;
        size_t align = rnd(&seed) % 8;
        fill(buf + align, len, &seed);
        if (iter % 7 == 0) /* all-ones data stresses the carries */
            memset(buf + align, 0xff, len);
        assert_int_equal(ntohs(hs_csum(buf + align, len)), ref_csum(buf + align, len));
    }
    free(buf);
}

static void test_split_at_odd_offsets(void **state)
{
    (void)state;
    uint64_t seed = 2;
    uint8_t buf[4096];
    for (int iter = 0; iter < 2000; iter++) {
        size_t len = 1 + rnd(&seed) % sizeof(buf);
        fill(buf, len, &seed);
        uint64_t s = 0;
        size_t off = 0;
        while (off < len) {                    /* random pieces, many odd */
            size_t want = 1 + rnd(&seed) % 37; /* HS_MIN evaluates twice */
            size_t n = HS_MIN(len - off, want);
            s = hs_csum_add_at(s, buf + off, n, off);
            off += n;
        }
        assert_int_equal(ntohs(hs_csum_finish(s)), ref_csum(buf, len));
    }
}

static void test_chain(void **state)
{
    (void)state;
    hs_buf_pool_t pool;
    hs_buf_cache_t c;
    assert_int_equal(hs_buf_pool_init(&pool, 256), 0);
    hs_buf_cache_init(&c, &pool);
    uint64_t seed = 3;
    static uint8_t data[20000];
    for (int iter = 0; iter < 300; iter++) {
        uint32_t len = 1 + (uint32_t)(rnd(&seed) % sizeof(data));
        fill(data, len, &seed);
        /* A chain with odd-length pieces: build it buffer by buffer. */
        uint32_t first = HS_BUF_INVALID, prev_bi = HS_BUF_INVALID, off = 0;
        while (off < len) {
            uint32_t bi;
            assert_int_equal(hs_buf_alloc(&c, &bi, 1), 1);
            hs_buf_t *b = hs_buf_ptr(&pool, bi);
            uint32_t want = 1 + (uint32_t)(rnd(&seed) % 1999);
            uint32_t n = HS_MIN(len - off, want);
            b->current_data = (uint16_t)(rnd(&seed) % 100);
            memcpy(hs_buf_cur(b), data + off, n);
            b->current_length = (uint16_t)n;
            if (prev_bi == HS_BUF_INVALID) {
                first = bi;
            } else {
                hs_buf_ptr(&pool, prev_bi)->flags |= HS_BUF_F_NEXT;
                hs_buf_ptr(&pool, prev_bi)->next = bi;
                hs_buf_ptr(&pool, first)->chain_rest_len += n;
            }
            prev_bi = bi;
            off += n;
        }
        hs_buf_t *fb = hs_buf_ptr(&pool, first);
        assert_int_equal(hs_buf_length(fb), len);
        uint32_t start = (uint32_t)(rnd(&seed) % len),
                 n = (uint32_t)(rnd(&seed) % (len - start + 1));
        uint16_t got = hs_csum_finish(hs_csum_chain(&pool, fb, start, n, 0));
        assert_int_equal(ntohs(got), ref_csum(data + start, n));
        /* Asking for more than the packet holds stops at its end. */
        got = hs_csum_finish(hs_csum_chain(&pool, fb, 0, len + 100, 0));
        assert_int_equal(ntohs(got), ref_csum(data, len));
        hs_buf_free(&c, &first, 1);
    }
    hs_buf_cache_flush(&c);
    assert_int_equal(hs_buf_pool_n_free(&pool), 256);
    hs_buf_pool_destroy(&pool);
}

static void test_incremental_update(void **state)
{
    (void)state;
    uint64_t seed = 4;
    for (int iter = 0; iter < 200000; iter++) {
        uint8_t h[20];
        fill(h, sizeof(h), &seed);
        h[0] = 0x45;
        h[8] = (uint8_t)(1 + rnd(&seed) % 255); /* TTL >= 1 */
        hs_ip4_header_t *ip = (hs_ip4_header_t *)h;
        hs_ip4_header_set_csum(ip);
        hs_ip4_ttl_decrement(ip);
        uint16_t inc = ip->csum;
        hs_ip4_header_set_csum(ip);
        assert_int_equal(inc, ip->csum);
        assert_int_equal(hs_csum(h, 20), 0);
        /* A 32-bit field (the destination address) rewritten. */
        uint32_t old_dst = ip->dst, new_dst = (uint32_t)rnd(&seed);
        ip->dst = new_dst;
        inc = hs_csum_update32(ip->csum, old_dst, new_dst);
        hs_ip4_header_set_csum(ip);
        assert_int_equal(inc, ip->csum);
    }
}

static void test_pseudo_header(void **state)
{
    (void)state;
    uint64_t seed = 5;
    for (int iter = 0; iter < 10000; iter++) {
        uint32_t src = (uint32_t)rnd(&seed), dst = (uint32_t)rnd(&seed);
        uint8_t proto = (uint8_t)rnd(&seed);
        uint16_t len = (uint16_t)rnd(&seed);
        uint8_t payload[64];
        size_t plen = rnd(&seed) % sizeof(payload);
        fill(payload, plen, &seed);
        /* The pseudo-header spelled out (RFC 793 3.1), then the payload. */
        uint8_t all[12 + sizeof(payload)];
        uint32_t s = htonl(src), d = htonl(dst);
        memcpy(all, &s, 4);
        memcpy(all + 4, &d, 4);
        all[8] = 0, all[9] = proto, all[10] = (uint8_t)(len >> 8), all[11] = (uint8_t)len;
        memcpy(all + 12, payload, plen);
        uint64_t sum = hs_csum_add(hs_csum_pseudo4(src, dst, proto, len), payload, plen);
        assert_int_equal(ntohs(hs_csum_finish(sum)), ref_csum(all, 12 + plen));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc1071_vector),
        cmocka_unit_test(test_random_against_reference),
        cmocka_unit_test(test_split_at_odd_offsets),
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_incremental_update),
        cmocka_unit_test(test_pseudo_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
