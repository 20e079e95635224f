/* IPv4 fragmentation tests (src/net/ip4_frag.c): datagrams up to 65535 bytes cut at MTUs
 * from 68 to 9000 give fragments that follow RFC 791 and reassemble (ip4_reass.c) to the
 * original byte for byte, in any order; options are copied per their flag; a fragment can
 * be fragmented again; failures leak nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "net/checksum.h"
#include "net/ip4_internal.h"

#define N_BUFS 4096

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

typedef struct {
    hs_buf_pool_t pool;
    hs_buf_cache_t c;
    hs_ip4_reass_t r;
    uint8_t dgram[65536];
    uint32_t out[2000];
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    if (!f || hs_buf_pool_init(&f->pool, N_BUFS) < 0)
        return -1;
    hs_buf_cache_init(&f->c, &f->pool);
    if (hs_ip4_reass_init(&f->r, NULL, 5) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    hs_ip4_reass_destroy(&f->r, &f->c);
    hs_buf_cache_flush(&f->c);
    assert_int_equal(hs_buf_pool_n_free(&f->pool), N_BUFS);
    hs_buf_pool_destroy(&f->pool);
    free(f);
    return 0;
}

/* A datagram of total bytes in f->dgram, with opt_len bytes of options; returns it as a
 * buffer chain (as ip4-lookup would hand it to ip4-frag). */
static uint32_t make_dgram(fx_t *f, uint32_t total, const uint8_t *opt, uint32_t opt_len,
                           uint64_t *seed)
{
    hs_ip4_header_t *h = (hs_ip4_header_t *)f->dgram;
    hs_ip4_header_build(h, 0x0a000002, 0x0a000001, HS_IP_PROTO_ICMP, (uint16_t)total,
                        (uint16_t)rnd(seed), 0, 64);
    if (opt_len)
        memcpy(f->dgram + 20, opt, opt_len);
    h->ver_ihl = (uint8_t)(0x40 | (20 + opt_len) / 4);
    hs_ip4_header_set_csum(h);
    for (uint32_t i = 20 + opt_len; i < total; i++)
        f->dgram[i] = (uint8_t)rnd(seed);
    uint32_t bi = hs_buf_from_bytes(&f->c, f->dgram, total);
    assert_int_not_equal(bi, HS_BUF_INVALID);
    hs_buf_t *b = hs_buf_ptr(&f->pool, bi);
    b->flags |= HS_BUF_F_LOCALLY_MADE;
    b->sw_if_index[HS_TX] = 3;
    *hs_ip4_meta(b) = (hs_ip4_buf_meta_t){.fib_index = 2, .next_hop = 0x0a000001};
    return bi;
}

/* RFC 791 rules on each fragment; returns the sum of their payloads. */
static uint32_t check_fragments(fx_t *f, int n, uint32_t mtu, uint32_t hlen)
{
    uint32_t expect_off = 0;
    uint8_t buf[9100];
    for (int i = 0; i < n; i++) {
        hs_buf_t *b = hs_buf_ptr(&f->pool, f->out[i]);
        uint32_t len = hs_buf_length(b);
        assert_true(len <= mtu);
        assert_int_equal(hs_buf_copy_out(&f->pool, b, buf, len), len);
        hs_ip4_parsed_t ip;
        assert_int_equal(hs_ip4_parse(buf, b->current_length, len, &ip), HS_IP4_E_NONE);
        assert_int_equal(ip.total_len, len);
        assert_int_equal(ip.frag_off, expect_off);
        assert_int_equal(ip.mf, i + 1 < n);
        assert_int_equal(ip.hdr_len, i == 0 ? hlen : ip.hdr_len);
        assert_int_equal(ip.id, ntohs(((hs_ip4_header_t *)f->dgram)->id));
        uint32_t payload = len - ip.hdr_len;
        if (ip.mf)
            assert_int_equal(payload % 8, 0);
        assert_memory_equal(buf + ip.hdr_len, f->dgram + hlen + expect_off, payload);
        /* Metadata follows the datagram. */
        assert_true(b->flags & HS_BUF_F_LOCALLY_MADE);
        assert_int_equal(b->sw_if_index[HS_TX], 3);
        assert_int_equal(hs_ip4_meta(b)->fib_index, 2);
        assert_int_equal(hs_ip4_meta(b)->next_hop, 0x0a000001);
        expect_off += payload;
    }
    return expect_off;
}

/* Feeds the fragments to reassembly in a random order; the result must equal the
 * original datagram exactly. */
static void reassemble_and_compare(fx_t *f, int n, uint32_t total, uint64_t *seed)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rnd(seed) % (uint64_t)(i + 1));
        uint32_t t = f->out[i];
        f->out[i] = f->out[j], f->out[j] = t;
    }
    uint32_t out = HS_BUF_INVALID;
    for (int i = 0; i < n; i++) {
        hs_ip4_reass_result_t res = hs_ip4_reass_add(&f->r, &f->c, f->out[i], 2, 0, &out);
        assert_int_equal(res, i + 1 < n ? HS_IP4_REASS_HELD : HS_IP4_REASS_DONE);
    }
    hs_buf_t *b = hs_buf_ptr(&f->pool, out);
    assert_int_equal(hs_buf_length(b), total);
    uint8_t *got = malloc(total);
    assert_int_equal(hs_buf_copy_out(&f->pool, b, got, total), total);
    assert_memory_equal(got, f->dgram, total);
    free(got);
    hs_buf_free(&f->c, &out, 1);
}

static void round_trip(fx_t *f, uint32_t total, uint32_t mtu, uint64_t *seed)
{
    uint32_t bi = make_dgram(f, total, NULL, 0, seed);
    int n = hs_ip4_fragment(&f->c, bi, mtu, f->out, HS_ARRAY_LEN(f->out));
    hs_buf_free(&f->c, &bi, 1);
    assert_true(n >= 1);
    uint32_t per = (mtu - 20) & ~7u;
    assert_int_equal(n, (total - 20 + per - 1) / per);
    assert_int_equal(check_fragments(f, n, mtu, 20), total - 20);
    if (n > HS_IP4_REASS_MAX_FRAGS) {
        hs_buf_free(&f->c, f->out, (uint32_t)n);
        return;
    }
    reassemble_and_compare(f, n, total, seed);
}

static void test_round_trip_mtus(void **state)
{
    fx_t *f = *state;
    uint64_t seed = 1;
    const uint32_t sizes[] = {577, 1501, 3000, 8028, 9000, 20000, 65535};
    for (uint32_t mtu = 576; mtu <= 1500; mtu += 31)
        for (size_t i = 0; i < HS_ARRAY_LEN(sizes); i++)
            if (sizes[i] > mtu)
                round_trip(f, sizes[i], mtu, &seed);
    for (int i = 0; i < 60; i++) { /* random sizes up to 65515 bytes of payload */
        uint32_t mtu = 576 + (uint32_t)(rnd(&seed) % 925);
        uint32_t total = mtu + 1 + (uint32_t)(rnd(&seed) % (65535 - mtu));
        round_trip(f, total, mtu, &seed);
    }
    round_trip(f, 65535, 1500, &seed);
    round_trip(f, 65535, 576, &seed);
}

static void test_jumbo_and_tiny_mtu(void **state)
{
    fx_t *f = *state;
    uint64_t seed = 2;
    round_trip(f, 65535, 9000, &seed); /* fragments are chains of buffers themselves */
    round_trip(f, 20000, 4000, &seed);
    round_trip(f, 2000, 68, &seed);  /* the RFC 791 minimum: 48 bytes per fragment */
    round_trip(f, 65535, 68, &seed); /* 1365 fragments: more than reassembly accepts */
    uint32_t bi = make_dgram(f, 200, NULL, 0, &seed);
    assert_int_equal(hs_ip4_fragment(&f->c, bi, 27, f->out, 100), -EINVAL);
    assert_int_equal(hs_ip4_fragment(&f->c, bi, 100, f->out, 2), -EINVAL); /* needs 3 */
    hs_buf_free(&f->c, &bi, 1);
}

static void test_options_copied(void **state)
{
    fx_t *f = *state;
    uint64_t seed = 3;
    /* Record route (not copied), NOP, router alert (copied), security-ish type 0x82
     * (copied), end of list. */
    const uint8_t opt[20] = {7, 7, 4, 0, 0, 0, 0, 1, 0x94, 4, 0, 0, 0x82, 5, 1, 2, 3, 0, 0, 0};
    uint32_t bi = make_dgram(f, 3000, opt, sizeof(opt), &seed);
    int n = hs_ip4_fragment(&f->c, bi, 1000, f->out, HS_ARRAY_LEN(f->out));
    hs_buf_free(&f->c, &bi, 1);
    assert_true(n > 1);
    /* Later fragments carry 0x94 and 0x82 (9 bytes), padded to 12: a 32-byte header. */
    const uint8_t later[12] = {0x94, 4, 0, 0, 0x82, 5, 1, 2, 3, 0, 0, 0};
    for (int i = 0; i < n; i++) {
        hs_buf_t *b = hs_buf_ptr(&f->pool, f->out[i]);
        const uint8_t *h = hs_buf_cur(b);
        if (i == 0) {
            assert_int_equal(h[0], 0x4a);
            assert_memory_equal(h + 20, opt, 20);
        } else {
            assert_int_equal(h[0], 0x48);
            assert_memory_equal(h + 20, later, 12);
        }
    }
    assert_int_equal(check_fragments(f, n, 1000, 40), 3000 - 40);
    reassemble_and_compare(f, n, 3000, &seed);
}

static void test_refragment(void **state)
{
    fx_t *f = *state;
    uint64_t seed = 4;
    /* A 1500-byte fragment at offset 1480 with MF, cut again for MTU 576: offsets continue
     * from 1480 and every piece keeps MF. */
    uint32_t bi = make_dgram(f, 1500, NULL, 0, &seed);
    hs_ip4_header_t *h = (hs_ip4_header_t *)hs_buf_cur(hs_buf_ptr(&f->pool, bi));
    h->frag = htons(HS_IP4_F_MF | 185);
    hs_ip4_header_set_csum(h);
    int n = hs_ip4_fragment(&f->c, bi, 576, f->out, HS_ARRAY_LEN(f->out));
    hs_buf_free(&f->c, &bi, 1);
    assert_int_equal(n, 3);
    uint32_t off = 1480;
    for (int i = 0; i < n; i++) {
        const hs_ip4_header_t *fh =
            (const hs_ip4_header_t *)hs_buf_cur(hs_buf_ptr(&f->pool, f->out[i]));
        assert_int_equal(ntohs(fh->frag), HS_IP4_F_MF | (off / 8));
        off += ntohs(fh->total_len) - 20u;
    }
    assert_int_equal(off, 1480 + 1480);
    hs_buf_free(&f->c, f->out, 3);
}

static void test_no_buffers_no_leak(void **state)
{
    fx_t *f = *state;
    uint64_t seed = 5;
    uint32_t bi = make_dgram(f, 65535, NULL, 0, &seed); /* 32 buffers */
    /* Take all but 10 buffers: fragmenting needs 114. */
    uint32_t free_now = hs_buf_pool_n_free(&f->pool) + f->c.n;
    uint32_t *hog = malloc(free_now * sizeof(*hog));
    uint32_t got = hs_buf_alloc(&f->c, hog, free_now - 10);
    assert_int_equal(got, free_now - 10);
    assert_int_equal(hs_ip4_fragment(&f->c, bi, 576, f->out, HS_ARRAY_LEN(f->out)), -ENOBUFS);
    hs_buf_free(&f->c, hog, got);
    free(hog);
    hs_buf_free(&f->c, &bi, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_mtus, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jumbo_and_tiny_mtu, setup, teardown),
        cmocka_unit_test_setup_teardown(test_options_copied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refragment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_buffers_no_leak, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
