/* TCP header parsing and writing (tcp_packet.c): fields, every option, the writer as the
 * parser's mirror, malformed and unknown options walked safely (Linux's rules), bad data
 * offsets, sequence comparisons across the wrap, and the checksum. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "net/buffer.h"
#include "tcp/tcp_packet.h"

/* A 20-byte header followed by opt_len option bytes (data offset set to cover them). */
static uint32_t hdr_with_opts(uint8_t *buf, const uint8_t *opts, uint32_t opt_len, uint8_t flags)
{
    memset(buf, 0, 60);
    buf[0] = 0x12, buf[1] = 0x34; /* src port 4660 */
    buf[2] = 0x00, buf[3] = 0x50; /* dst port 80 */
    buf[4] = 0xde, buf[5] = 0xad, buf[6] = 0xbe, buf[7] = 0xef;
    buf[8] = 0x01, buf[9] = 0x02, buf[10] = 0x03, buf[11] = 0x04;
    uint32_t hlen = 20 + ((opt_len + 3) & ~3u);
    buf[12] = (uint8_t)((hlen / 4) << 4);
    buf[13] = flags;
    buf[14] = 0x72, buf[15] = 0x10; /* window 29200 */
    buf[18] = 0, buf[19] = 7;       /* urgent pointer */
    if (opt_len)
        memcpy(buf + 20, opts, opt_len);
    return hlen;
}

static void test_fields(void **state)
{
    (void)state;
    uint8_t buf[80];
    uint32_t hlen = hdr_with_opts(buf, NULL, 0, HS_TCP_SYN | HS_TCP_ACK);
    memcpy(buf + hlen, "hello", 5);
    hs_tcp_seg_t s;
    assert_int_equal(hs_tcp_parse(buf, hlen + 5, &s), HS_TCP_E_NONE);
    assert_int_equal(s.src_port, 4660);
    assert_int_equal(s.dst_port, 80);
    assert_int_equal(s.seq, 0xdeadbeef);
    assert_int_equal(s.ack, 0x01020304);
    assert_int_equal(s.flags, HS_TCP_SYN | HS_TCP_ACK);
    assert_int_equal(s.wnd, 29200);
    assert_int_equal(s.urp, 7);
    assert_int_equal(s.hdr_len, 20);
    assert_int_equal(s.opts, 0);
    assert_int_equal(s.payload_len, 5);
    assert_int_equal(s.n_spans, 1);
    assert_memory_equal(s.spans[0].data, "hello", 5);
    assert_int_equal(hs_tcp_seg_len(&s), 6); /* SYN counts one */
}

static void test_syn_options(void **state)
{
    (void)state;
    /* Linux's SYN layout: MSS, SACK-permitted, TS, NOP, WS. */
    const uint8_t o[] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 100, 0, 0, 0, 0, 1, 3, 3, 7};
    uint8_t buf[80];
    uint32_t hlen = hdr_with_opts(buf, o, sizeof(o), HS_TCP_SYN);
    hs_tcp_seg_t s;
    assert_int_equal(hs_tcp_parse(buf, hlen, &s), HS_TCP_E_NONE);
    assert_int_equal(s.opts,
                     HS_TCP_OPTF_MSS | HS_TCP_OPTF_SACK_PERM | HS_TCP_OPTF_TS | HS_TCP_OPTF_WSCALE);
    assert_int_equal(s.mss, 1460);
    assert_int_equal(s.wscale, 7);
    assert_int_equal(s.tsval, 100);
    assert_int_equal(s.tsecr, 0);
    assert_false(s.opt_malformed);
    assert_int_equal(s.payload_len, 0);
    assert_int_equal(s.n_spans, 0);
}

static void test_syn_only_options_ignored_elsewhere(void **state)
{
    (void)state;
    /* MSS, WS and SACK-permitted count only on a SYN (as in Linux); TS counts anywhere. */
    const uint8_t o[] = {2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6};
    uint8_t buf[80];
    uint32_t hlen = hdr_with_opts(buf, o, sizeof(o), HS_TCP_ACK);
    hs_tcp_seg_t s;
    assert_int_equal(hs_tcp_parse(buf, hlen, &s), HS_TCP_E_NONE);
    assert_int_equal(s.opts, HS_TCP_OPTF_TS);
    assert_int_equal(s.tsval, 5);
    assert_int_equal(s.tsecr, 6);
}

static void test_wscale_clamped(void **state)
{
    (void)state;
    const uint8_t o[] = {3, 3, 20, 0}; /* RFC 7323 2.3: above 14 is used as 14 */
    uint8_t buf[80];
    uint32_t hlen = hdr_with_opts(buf, o, sizeof(o), HS_TCP_SYN);
    hs_tcp_seg_t s;
    assert_int_equal(hs_tcp_parse(buf, hlen, &s), HS_TCP_E_NONE);
    assert_true(s.opts & HS_TCP_OPTF_WSCALE);
    assert_int_equal(s.wscale, 14);
}

static void test_sack_blocks(void **state)
{
    (void)state;
    uint8_t o[2 + 2 + 8 * 4] = {1, 1, 5, 2 + 8 * 4};
    for (int i = 0; i < 4; i++) {
        uint32_t a = 1000u * (uint32_t)(i + 1), b = a + 500;
        uint8_t *p = o + 4 + 8 * i;
        p[0] = (uint8_t)(a >> 24), p[1] = (uint8_t)(a >> 16), p[2] = (uint8_t)(a >> 8),
        p[3] = (uint8_t)a;
        p[4] = (uint8_t)(b >> 24), p[5] = (uint8_t)(b >> 16), p[6] = (uint8_t)(b >> 8),
        p[7] = (uint8_t)b;
    }
    uint8_t buf[80];
    uint32_t hlen = hdr_with_opts(buf, o, sizeof(o), HS_TCP_ACK);
    hs_tcp_seg_t s;
    assert_int_equal(hs_tcp_parse(buf, hlen, &s), HS_TCP_E_NONE);
    assert_true(s.opts & HS_TCP_OPTF_SACK);
    assert_int_equal(s.n_sack, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(s.sack[i].start, 1000u * (uint32_t)(i + 1));
        assert_int_equal(s.sack[i].end, 1000u * (uint32_t)(i + 1) + 500);
    }
}

static void test_malformed_length_stops_walk(void **state)
{
    (void)state;
    /* MSS parsed, then an option of length 1 ("silly"): the walk stops, what came before
     * stays, the segment is kept (Linux's tcp_parse_options returns there). */
    const uint8_t o[] = {2, 4, 0x02, 0x18, 8, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
    uint8_t buf[80];
    uint32_t hlen = hdr_with_opts(buf, o, sizeof(o), HS_TCP_SYN);
    hs_tcp_seg_t s;
    assert_int_equal(hs_tcp_parse(buf, hlen, &s), HS_TCP_E_NONE);
    assert_true(s.opt_malformed);
    assert_int_equal(s.opts, HS_TCP_OPTF_MSS);
    assert_int_equal(s.mss, 536);
}

static void test_malformed_past_header(void **state)
{
    (void)state;
    /* A timestamp whose length runs past the header: not parsed partially. */
    const uint8_t o[] = {1, 1, 8, 10, 0, 0, 0, 1};
    uint8_t buf[80];
    uint32_t hlen = hdr_with_opts(buf, o, sizeof(o), HS_TCP_ACK);
    assert_int_equal(hlen, 28);
    hs_tcp_seg_t s;
    assert_int_equal(hs_tcp_parse(buf, hlen, &s), HS_TCP_E_NONE);
    assert_true(s.opt_malformed);
    assert_int_equal(s.opts, 0);
    /* A kind byte alone at the very end (no length byte) */
    const uint8_t o2[] = {1, 1, 1, 2};
    hlen = hdr_with_opts(buf, o2, sizeof(o2), HS_TCP_SYN);
    assert_int_equal(hs_tcp_parse(buf, hlen, &s), HS_TCP_E_NONE);
    assert_true(s.opt_malformed);
    /* Length 0 would loop forever if trusted */
    const uint8_t o3[] = {30, 0, 0, 0};
    hlen = hdr_with_opts(buf, o3, sizeof(o3), HS_TCP_SYN);
    assert_int_equal(hs_tcp_parse(buf, hlen, &s), HS_TCP_E_NONE);
    assert_true(s.opt_malformed);
}

static void test_wrong_length_known_and_unknown(void **state)
{
    (void)state;
    /* MSS of length 3, TS of length 8, an unknown kind 99 of length 6, an MSS of 0, then a
     * good window scale: the bad ones are skipped, the good one parsed, no malformation. */
    const uint8_t o[] = {2, 3, 5, 8, 8, 0, 0, 0, 1, 0, 0, 99, 6, 1, 2, 3, 4, 2, 4, 0, 0, 3, 3, 2};
    uint8_t buf[80];
    uint32_t hlen = hdr_with_opts(buf, o, sizeof(o), HS_TCP_SYN);
    hs_tcp_seg_t s;
    assert_int_equal(hs_tcp_parse(buf, hlen, &s), HS_TCP_E_NONE);
    assert_false(s.opt_malformed);
    assert_int_equal(s.opts, HS_TCP_OPTF_WSCALE);
    assert_int_equal(s.wscale, 2);
}

static void test_eol_ends_options(void **state)
{
    (void)state;
    const uint8_t o[] = {2, 4, 0x05, 0xb4, 0, 3, 3, 7};
    uint8_t buf[80];
    uint32_t hlen = hdr_with_opts(buf, o, sizeof(o), HS_TCP_SYN);
    hs_tcp_seg_t s;
    assert_int_equal(hs_tcp_parse(buf, hlen, &s), HS_TCP_E_NONE);
    assert_int_equal(s.opts, HS_TCP_OPTF_MSS);
    assert_false(s.opt_malformed);
}

static void test_bad_lengths(void **state)
{
    (void)state;
    uint8_t buf[80];
    hs_tcp_seg_t s;
    hdr_with_opts(buf, NULL, 0, HS_TCP_ACK);
    assert_int_equal(hs_tcp_parse(buf, 19, &s), HS_TCP_E_TOO_SHORT);
    assert_int_equal(hs_tcp_parse(buf, 0, &s), HS_TCP_E_TOO_SHORT);
    buf[12] = 4 << 4; /* data offset 16 bytes */
    assert_int_equal(hs_tcp_parse(buf, 40, &s), HS_TCP_E_BAD_HDR_LEN);
    buf[12] = 15 << 4; /* 60 bytes claimed, 40 present */
    assert_int_equal(hs_tcp_parse(buf, 40, &s), HS_TCP_E_BAD_HDR_LEN);
    buf[12] = 10 << 4;
    assert_int_equal(hs_tcp_parse(buf, 40, &s), HS_TCP_E_NONE);
    assert_int_equal(s.payload_len, 0);
}

/* Every option combination written and parsed back gives the same values. */
static void test_write_parse_roundtrip(void **state)
{
    (void)state;
    for (uint8_t opts = 0; opts < 32; opts++) {
        for (uint8_t n_sack = 1; n_sack <= 4; n_sack++) {
            bool syn = !(opts & HS_TCP_OPTF_SACK);
            hs_tcp_seg_t w = {.src_port = 1,
                              .dst_port = 2,
                              .seq = 0xfffffff0,
                              .ack = 77,
                              .flags = (uint8_t)(syn ? HS_TCP_SYN : HS_TCP_ACK),
                              .wnd = 1234,
                              .opts = opts,
                              .mss = 1400,
                              .wscale = 9,
                              .tsval = 0x11223344,
                              .tsecr = 0x55667788,
                              .n_sack = n_sack};
            for (int i = 0; i < 4; i++)
                w.sack[i] = (hs_tcp_sack_block_t){100u * (uint32_t)i, 100u * (uint32_t)i + 50};
            /* What the writer must fit: the other options, then SACK blocks in the rest
             * of the 40 bytes (3 beside timestamps alone). */
            uint32_t base = ((opts & HS_TCP_OPTF_MSS) ? 4 : 0) +
                            ((opts & HS_TCP_OPTF_TS)          ? 12
                             : (opts & HS_TCP_OPTF_SACK_PERM) ? 4
                                                              : 0) +
                            ((opts & HS_TCP_OPTF_WSCALE) ? 4 : 0);
            uint32_t max = base <= 28 ? (40 - base - 4) / 8 : 0;
            uint32_t n_exp = (opts & HS_TCP_OPTF_SACK) ? HS_MIN(n_sack, max) : 0;
            if (opts == (HS_TCP_OPTF_TS | HS_TCP_OPTF_SACK))
                assert_int_equal(max, 3);
            uint8_t expect = opts;
            if (!syn)
                expect &= (uint8_t) ~(HS_TCP_OPTF_MSS | HS_TCP_OPTF_WSCALE | HS_TCP_OPTF_SACK_PERM);
            if (!n_exp)
                expect &= (uint8_t)~HS_TCP_OPTF_SACK;
            uint8_t buf[64];
            uint32_t hlen = hs_tcp_write(buf, &w);
            assert_int_equal(hlen, 20 + base + (n_exp ? 4 + 8 * n_exp : 0));
            assert_int_equal(hlen, 20 + hs_tcp_opts_len(&w));
            assert_true(hlen <= 60);
            assert_int_equal(hlen % 4, 0);
            hs_tcp_seg_t r;
            assert_int_equal(hs_tcp_parse(buf, hlen, &r), HS_TCP_E_NONE);
            assert_false(r.opt_malformed);
            assert_int_equal(r.opts, expect);
            assert_int_equal(r.seq, w.seq);
            assert_int_equal(r.ack, w.ack);
            assert_int_equal(r.wnd, w.wnd);
            if (expect & HS_TCP_OPTF_MSS)
                assert_int_equal(r.mss, 1400);
            if (expect & HS_TCP_OPTF_WSCALE)
                assert_int_equal(r.wscale, 9);
            if (expect & HS_TCP_OPTF_TS) {
                assert_int_equal(r.tsval, w.tsval);
                assert_int_equal(r.tsecr, w.tsecr);
            }
            assert_int_equal(r.n_sack, n_exp);
            for (uint32_t i = 0; i < n_exp; i++) {
                assert_int_equal(r.sack[i].start, w.sack[i].start);
                assert_int_equal(r.sack[i].end, w.sack[i].end);
            }
        }
    }
}

static void test_seq_compare_wraps(void **state)
{
    (void)state;
    assert_true(hs_seq_lt(0xfffffff0u, 0x10));
    assert_true(hs_seq_gt(0x10, 0xfffffff0u));
    assert_true(hs_seq_leq(5, 5));
    assert_true(hs_seq_geq(5, 5));
    assert_false(hs_seq_lt(5, 5));
    assert_int_equal(hs_seq_max(0xffffff00u, 3), 3);
    assert_int_equal(hs_seq_min(0xffffff00u, 3), 0xffffff00u);
}

static void test_checksum(void **state)
{
    (void)state;
    uint8_t seg[64];
    uint32_t hlen = hdr_with_opts(seg, NULL, 0, HS_TCP_ACK);
    memcpy(seg + hlen, "abc", 3); /* odd length: the last byte is padded */
    uint32_t src = 0x0a000001, dst = 0x0a000002, len = hlen + 3;
    uint16_t c = hs_tcp_csum(src, dst, seg, len);
    memcpy(seg + 16, &c, 2);
    assert_int_equal(hs_tcp_csum(src, dst, seg, len), 0);

    hs_buf_pool_t pool;
    assert_int_equal(hs_buf_pool_init(&pool, 16), 0);
    hs_buf_cache_t cache;
    hs_buf_cache_init(&cache, &pool);
    uint32_t bi = hs_buf_from_bytes(&cache, seg, len);
    hs_buf_t *b = hs_buf_ptr(&pool, bi);
    assert_true(hs_tcp_csum_ok(&pool, b, 0, len, src, dst));
    assert_false(hs_tcp_csum_ok(&pool, b, 0, len, src, dst + 1)); /* pseudo-header counts */
    hs_buf_cur(b)[hlen] ^= 1;
    assert_false(hs_tcp_csum_ok(&pool, b, 0, len, src, dst));
    b->flags |= HS_BUF_F_L4_CSUM_OK; /* the driver checked it: trusted */
    assert_true(hs_tcp_csum_ok(&pool, b, 0, len, src, dst));
    hs_buf_free(&cache, &bi, 1);
    hs_buf_cache_flush(&cache);
    hs_buf_pool_destroy(&pool);
}

static void test_format_flags(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(hs_tcp_format_flags(b, HS_TCP_SYN | HS_TCP_ACK), "SYN,ACK");
    assert_string_equal(hs_tcp_format_flags(b, 0), "none");
    assert_string_equal(hs_tcp_format_flags(b, 0xff), "FIN,SYN,RST,PSH,ACK,URG,ECE,CWR");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_syn_options),
        cmocka_unit_test(test_syn_only_options_ignored_elsewhere),
        cmocka_unit_test(test_wscale_clamped),
        cmocka_unit_test(test_sack_blocks),
        cmocka_unit_test(test_malformed_length_stops_walk),
        cmocka_unit_test(test_malformed_past_header),
        cmocka_unit_test(test_wrong_length_known_and_unknown),
        cmocka_unit_test(test_eol_ends_options),
        cmocka_unit_test(test_bad_lengths),
        cmocka_unit_test(test_write_parse_roundtrip),
        cmocka_unit_test(test_seq_compare_wraps),
        cmocka_unit_test(test_checksum),
        cmocka_unit_test(test_format_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
