/* IPv4 reassembly tests (src/net/ip4_reass.c): in order, reverse and random order,
 * duplicates, overlaps and inconsistent ends drop the datagram, keys kept apart, the
 * timeout (with the offset-0 fragment handed back for ICMP), the limits, and a random
 * fragment flood that must stay bounded and leak nothing. Datagrams are checked byte for
 * byte. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "net/checksum.h"
#include "net/ip4_internal.h"

#define N_BUFS 8192
#define SRC    0x0a000001u
#define DST    0x0a000002u

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
    uint8_t payload[65536]; /* the datagram's payload, byte i = f(i) */
} fx_t;

static int setup_cfg(void **state, const hs_ip4_reass_config_t *cfg)
{
    fx_t *f = calloc(1, sizeof(*f));
    if (!f || hs_buf_pool_init(&f->pool, N_BUFS) < 0)
        return -1;
    hs_buf_cache_init(&f->c, &f->pool);
    if (hs_ip4_reass_init(&f->r, cfg, 42) < 0)
        return -1;
    for (uint32_t i = 0; i < sizeof(f->payload); i++)
        f->payload[i] = (uint8_t)(i * 7 + (i >> 8));
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_cfg(state, NULL);
}

static int setup_small(void **state)
{
    hs_ip4_reass_config_t cfg = {
        .max_reass = 4, .max_bufs = 10, .max_frags = 6, .timeout_ns = HS_IP4_REASS_TIMEOUT_NS};
    return setup_cfg(state, &cfg);
}

static int teardown(void **state)
{
    fx_t *f = *state;
    hs_ip4_reass_destroy(&f->r, &f->c);
    hs_buf_cache_flush(&f->c);
    /* Every buffer came back: nothing leaked, nothing freed twice. */
    assert_int_equal(hs_buf_pool_n_free(&f->pool), N_BUFS);
    hs_buf_pool_destroy(&f->pool);
    free(f);
    return 0;
}

/* A fragment: payload bytes [off, off + len) of datagram id, MF as told. */
static uint32_t frag_id(fx_t *f, uint16_t id, uint8_t proto, uint32_t off, uint32_t len, bool mf)
{
    uint8_t pkt[HS_IP4_HDR_LEN + 9000];
    hs_ip4_header_t *h = (hs_ip4_header_t *)pkt;
    hs_ip4_header_build(h, SRC, DST, proto, (uint16_t)(HS_IP4_HDR_LEN + len), id, 0, 64);
    h->frag = htons((uint16_t)((off / 8) | (mf ? HS_IP4_F_MF : 0)));
    hs_ip4_header_set_csum(h);
    memcpy(pkt + HS_IP4_HDR_LEN, f->payload + off, len);
    uint32_t bi = hs_buf_from_bytes(&f->c, pkt, HS_IP4_HDR_LEN + len);
    assert_int_not_equal(bi, HS_BUF_INVALID);
    return bi;
}

static uint32_t frag(fx_t *f, uint32_t off, uint32_t len, bool mf)
{
    return frag_id(f, 7, HS_IP_PROTO_UDP, off, len, mf);
}

/* The reassembled datagram is the header (length, no fragment bits, valid checksum) and
 * exactly the payload. Frees it. */
static void check_datagram(fx_t *f, uint32_t bi, uint32_t payload_len)
{
    hs_buf_t *b = hs_buf_ptr(&f->pool, bi);
    uint32_t total = HS_IP4_HDR_LEN + payload_len;
    assert_int_equal(hs_buf_length(b), total);
    uint8_t *got = malloc(total);
    assert_int_equal(hs_buf_copy_out(&f->pool, b, got, total), total);
    hs_ip4_parsed_t ip;
    assert_int_equal(hs_ip4_parse(got, total, total, &ip), HS_IP4_E_NONE);
    assert_int_equal(ip.total_len, total);
    assert_false(ip.mf);
    assert_int_equal(ip.frag_off, 0);
    assert_int_equal(ip.src, SRC);
    assert_memory_equal(got + HS_IP4_HDR_LEN, f->payload, payload_len);
    assert_true(hs_ip4_meta(b)->flags & HS_IP4_META_REASSEMBLED);
    free(got);
    hs_buf_free(&f->c, &bi, 1);
}

static hs_ip4_reass_result_t add(fx_t *f, uint32_t bi, uint64_t now, uint32_t *out)
{
    return hs_ip4_reass_add(&f->r, &f->c, bi, 0, now, out);
}

/* Splits payload_len bytes into fragments of step (a multiple of 8) and feeds them in the
 * order perm gives; the datagram must complete exactly at the last one. */
static void run_order(fx_t *f, uint32_t payload_len, uint32_t step, const uint32_t *perm,
                      uint32_t n)
{
    uint32_t out = HS_BUF_INVALID;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = perm[k], off = i * step;
        uint32_t len = HS_MIN(step, payload_len - off);
        hs_ip4_reass_result_t res = add(f, frag(f, off, len, off + len < payload_len), 0, &out);
        assert_int_equal(res, k + 1 < n ? HS_IP4_REASS_HELD : HS_IP4_REASS_DONE);
    }
    check_datagram(f, out, payload_len);
    assert_int_equal(hs_ip4_reass_count(&f->r), 0);
    assert_int_equal(hs_ip4_reass_bufs_held(&f->r), 0);
}

static void test_orders(void **state)
{
    fx_t *f = *state;
    uint64_t seed = 1;
    const uint32_t sizes[] = {9, 1480, 1481, 3000, 8000, 20000, 65515};
    const uint32_t steps[] = {8, 552, 1480, 2048, 8976};
    uint32_t perm[8192];
    for (size_t si = 0; si < HS_ARRAY_LEN(sizes); si++) {
        for (size_t st = 0; st < HS_ARRAY_LEN(steps); st++) {
            uint32_t len = sizes[si], step = steps[st], n = (len + step - 1) / step;
            if (n < 2 || n > HS_IP4_REASS_MAX_FRAGS)
                continue;
            for (uint32_t i = 0; i < n; i++)
                perm[i] = i;
            run_order(f, len, step, perm, n); /* in order */
            for (uint32_t i = 0; i < n; i++)
                perm[i] = n - 1 - i;
            run_order(f, len, step, perm, n); /* reverse */
            for (int rep = 0; rep < 3; rep++) {
                for (uint32_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
                    uint32_t j = (uint32_t)(rnd(&seed) % (i + 1)), t = perm[i];
                    perm[i] = perm[j], perm[j] = t;
                }
                run_order(f, len, step, perm, n);
            }
        }
    }
    assert_true(f->r.stats.ok > 50);
}

static void test_duplicates_ignored(void **state)
{
    fx_t *f = *state;
    uint32_t out = HS_BUF_INVALID;
    assert_int_equal(add(f, frag(f, 0, 1480, true), 0, &out), HS_IP4_REASS_HELD);
    assert_int_equal(add(f, frag(f, 0, 1480, true), 0, &out), HS_IP4_REASS_DUPLICATE);
    assert_int_equal(add(f, frag(f, 2960, 40, false), 0, &out), HS_IP4_REASS_HELD);
    assert_int_equal(add(f, frag(f, 2960, 40, false), 0, &out), HS_IP4_REASS_DUPLICATE);
    assert_int_equal(hs_ip4_reass_bufs_held(&f->r), 2);
    assert_int_equal(add(f, frag(f, 1480, 1480, true), 0, &out), HS_IP4_REASS_DONE);
    check_datagram(f, out, 3000);
    assert_int_equal(f->r.stats.duplicates, 2);
}

static void test_overlaps_drop_datagram(void **state)
{
    fx_t *f = *state;
    uint32_t out = HS_BUF_INVALID;
    /* Each case: a held fragment [0, 1480) and [2960, 3000), then a newcomer that overlaps
     * some of it without being an exact duplicate. */
    const uint32_t cases[][3] = {
        {0, 8, 1},       /* inside the first, same start */
        {1472, 16, 1},   /* straddles the first's end */
        {8, 1480, 1},    /* starts inside, ends past */
        {1480, 1488, 1}, /* reaches into the last */
        {0, 3000, 0},    /* covers everything, ending where the last one does */
        {2960, 32, 1},   /* same start as the last, shorter */
    };
    for (size_t i = 0; i < HS_ARRAY_LEN(cases); i++) {
        assert_int_equal(add(f, frag(f, 0, 1480, true), 0, &out), HS_IP4_REASS_HELD);
        assert_int_equal(add(f, frag(f, 2960, 40, false), 0, &out), HS_IP4_REASS_HELD);
        hs_ip4_reass_result_t res =
            add(f, frag(f, cases[i][0], cases[i][1], cases[i][2] != 0), 0, &out);
        assert_int_equal(res, HS_IP4_REASS_OVERLAP);
        assert_int_equal(hs_ip4_reass_count(&f->r), 0);
        assert_int_equal(hs_ip4_reass_bufs_held(&f->r), 0);
    }
    assert_int_equal(f->r.stats.overlap, HS_ARRAY_LEN(cases));
    /* The datagram is gone: a late fragment starts over and is merely held. */
    assert_int_equal(add(f, frag(f, 1480, 1480, true), 0, &out), HS_IP4_REASS_HELD);
}

static void test_inconsistent_ends(void **state)
{
    fx_t *f = *state;
    uint32_t out;
    assert_int_equal(add(f, frag(f, 0, 1480, true), 0, &out), HS_IP4_REASS_HELD);
    assert_int_equal(add(f, frag(f, 2960, 40, false), 0, &out), HS_IP4_REASS_HELD);
    assert_int_equal(add(f, frag(f, 2960, 48, false), 0, &out), HS_IP4_REASS_BAD);
    assert_int_equal(hs_ip4_reass_count(&f->r), 0);
    /* Data past an end seen earlier. */
    assert_int_equal(add(f, frag(f, 1480, 40, false), 0, &out), HS_IP4_REASS_HELD);
    assert_int_equal(add(f, frag(f, 2960, 40, true), 0, &out), HS_IP4_REASS_BAD);
    /* An end before data already held. */
    assert_int_equal(add(f, frag(f, 2960, 40, true), 0, &out), HS_IP4_REASS_HELD);
    assert_int_equal(add(f, frag(f, 1480, 40, false), 0, &out), HS_IP4_REASS_BAD);
    assert_int_equal(f->r.stats.bad, 3);
    assert_int_equal(hs_ip4_reass_bufs_held(&f->r), 0);
}

static void test_keys_kept_apart(void **state)
{
    fx_t *f = *state;
    uint32_t out;
    /* Same offsets under different ids and protocols: four datagrams, no overlap. */
    for (uint16_t id = 1; id <= 2; id++)
        for (uint8_t proto = 17; proto <= 18; proto++)
            assert_int_equal(
                hs_ip4_reass_add(&f->r, &f->c, frag_id(f, id, proto, 0, 8, true), 0, 0, &out),
                HS_IP4_REASS_HELD);
    /* The same in another fib table. */
    assert_int_equal(hs_ip4_reass_add(&f->r, &f->c, frag_id(f, 1, 17, 0, 8, true), 3, 0, &out),
                     HS_IP4_REASS_HELD);
    assert_int_equal(hs_ip4_reass_count(&f->r), 5);
    assert_int_equal(hs_ip4_reass_add(&f->r, &f->c, frag_id(f, 2, 18, 8, 1, false), 0, 0, &out),
                     HS_IP4_REASS_DONE);
    hs_buf_t *b = hs_buf_ptr(&f->pool, out);
    assert_int_equal(hs_buf_length(b), HS_IP4_HDR_LEN + 9);
    assert_int_equal(((hs_ip4_header_t *)hs_buf_cur(b))->proto, 18);
    assert_int_equal(ntohs(((hs_ip4_header_t *)hs_buf_cur(b))->id), 2);
    hs_buf_free(&f->c, &out, 1);
    assert_int_equal(hs_ip4_reass_count(&f->r), 4);
}

static void test_timeout(void **state)
{
    fx_t *f = *state;
    uint32_t out, first[8], n_exp;
    const uint64_t t0 = 5 * HS_NS_PER_S, to = HS_IP4_REASS_TIMEOUT_NS;
    /* A: offset 0 arrived; B: only a later fragment; C: starts later. */
    assert_int_equal(hs_ip4_reass_add(&f->r, &f->c, frag_id(f, 1, 17, 0, 8, true), 0, t0, &out),
                     HS_IP4_REASS_HELD);
    assert_int_equal(hs_ip4_reass_add(&f->r, &f->c, frag_id(f, 1, 17, 16, 8, true), 0, t0, &out),
                     HS_IP4_REASS_HELD);
    assert_int_equal(hs_ip4_reass_add(&f->r, &f->c, frag_id(f, 2, 17, 8, 8, true), 0, t0, &out),
                     HS_IP4_REASS_HELD);
    assert_int_equal(
        hs_ip4_reass_add(&f->r, &f->c, frag_id(f, 3, 17, 0, 8, true), 0, t0 + to / 2, &out),
        HS_IP4_REASS_HELD);
    assert_int_equal(hs_ip4_reass_expire(&f->r, &f->c, t0 + to - 1, first, 8, &n_exp), 0);
    assert_int_equal(n_exp, 0);
    assert_int_equal(hs_ip4_reass_expire(&f->r, &f->c, t0 + to, first, 8, &n_exp), 1);
    assert_int_equal(n_exp, 2);
    /* The handed-back fragment is A's offset-0 one, intact, alone. */
    hs_buf_t *b = hs_buf_ptr(&f->pool, first[0]);
    const hs_ip4_header_t *h = (const hs_ip4_header_t *)hs_buf_cur(b);
    assert_int_equal(ntohs(h->id), 1);
    assert_int_equal(ntohs(h->frag), HS_IP4_F_MF);
    assert_int_equal(hs_buf_length(b), HS_IP4_HDR_LEN + 8);
    hs_buf_free(&f->c, first, 1);
    assert_int_equal(hs_ip4_reass_count(&f->r), 1);
    assert_int_equal(hs_ip4_reass_bufs_held(&f->r), 1);
    /* Adding to a datagram does not extend its deadline (counted from the first fragment). */
    assert_int_equal(
        hs_ip4_reass_add(&f->r, &f->c, frag_id(f, 3, 17, 8, 8, true), 0, t0 + to, &out),
        HS_IP4_REASS_HELD);
    assert_int_equal(hs_ip4_reass_expire(&f->r, &f->c, t0 + to + to / 2, first, 1, &n_exp), 1);
    hs_buf_free(&f->c, first, 1);
    assert_int_equal(f->r.stats.timeout, 3);
    assert_int_equal(hs_ip4_reass_bufs_held(&f->r), 0);
}

static void test_limits(void **state)
{
    fx_t *f = *state; /* 4 datagrams, 10 buffers, 6 fragments each */
    uint32_t out;
    for (uint16_t id = 1; id <= 5; id++)
        assert_int_equal(
            hs_ip4_reass_add(&f->r, &f->c, frag_id(f, id, 17, 0, 8, true), 0, id, &out),
            HS_IP4_REASS_HELD);
    assert_int_equal(hs_ip4_reass_count(&f->r), 4); /* the oldest (id 1) made room */
    assert_int_equal(f->r.stats.evicted, 1);
    /* Too many fragments for one datagram. */
    for (uint32_t i = 1; i < 6; i++)
        assert_int_equal(
            hs_ip4_reass_add(&f->r, &f->c, frag_id(f, 5, 17, i * 8, 8, true), 0, 9, &out),
            HS_IP4_REASS_HELD);
    assert_int_equal(hs_ip4_reass_bufs_held(&f->r), 9);
    assert_int_equal(hs_ip4_reass_add(&f->r, &f->c, frag_id(f, 5, 17, 48, 8, true), 0, 9, &out),
                     HS_IP4_REASS_TOO_BIG);
    assert_int_equal(hs_ip4_reass_count(&f->r), 3);
    /* Buffers: a chained fragment of 5 buffers (9000 bytes) pushes out the older ones. */
    assert_int_equal(hs_ip4_reass_add(&f->r, &f->c, frag_id(f, 9, 17, 0, 8976, true), 0, 10, &out),
                     HS_IP4_REASS_HELD);
    assert_int_equal(hs_ip4_reass_bufs_held(&f->r), 8);
    /* Another 5 buffers: the three older datagrams make room. */
    assert_int_equal(
        hs_ip4_reass_add(&f->r, &f->c, frag_id(f, 9, 17, 8976, 8976, true), 0, 10, &out),
        HS_IP4_REASS_HELD);
    assert_int_equal(hs_ip4_reass_count(&f->r), 1);
    assert_int_equal(hs_ip4_reass_bufs_held(&f->r), 10);
    assert_int_equal(f->r.stats.evicted, 4);
    /* One more buffer for the one datagram alone: over the limit, it is dropped. */
    assert_int_equal(hs_ip4_reass_add(&f->r, &f->c, frag_id(f, 9, 17, 17952, 8, true), 0, 10, &out),
                     HS_IP4_REASS_NO_ROOM);
    assert_int_equal(hs_ip4_reass_count(&f->r), 0);
    assert_int_equal(hs_ip4_reass_bufs_held(&f->r), 0);
}

/* A flood of random fragments (ids, offsets, lengths, ends) under the default limits: the
 * limits hold at every step, completed datagrams are well formed, and nothing leaks. */
static void test_flood(void **state)
{
    fx_t *f = *state;
    uint64_t seed = 99;
    const uint32_t n = 300000; /* about 2 s under ASan */
    uint64_t done = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t out;
        if (i % 4 == 0) { /* a well-formed pair among the junk completes at once */
            uint16_t id = (uint16_t)(40000 + i % 20000);
            assert_int_equal(hs_ip4_reass_add(&f->r, &f->c, frag_id(f, id, 6, 0, 16, true), 0,
                                              (uint64_t)i * 1000, &out),
                             HS_IP4_REASS_HELD);
            assert_int_equal(hs_ip4_reass_add(&f->r, &f->c, frag_id(f, id, 6, 16, 5, false), 0,
                                              (uint64_t)i * 1000, &out),
                             HS_IP4_REASS_DONE);
            assert_int_equal(hs_buf_length(hs_buf_ptr(&f->pool, out)), HS_IP4_HDR_LEN + 21);
            hs_buf_free(&f->c, &out, 1);
        }
        uint16_t id = (uint16_t)(rnd(&seed) % 1500);
        uint32_t off = (uint32_t)(rnd(&seed) % 64) * 8, len = 8 * (1 + (uint32_t)(rnd(&seed) % 4));
        bool mf = rnd(&seed) % 4 != 0;
        if (!mf)
            len -= (uint32_t)(rnd(&seed) % 8);
        hs_ip4_reass_result_t res = hs_ip4_reass_add(&f->r, &f->c, frag_id(f, id, 17, off, len, mf),
                                                     0, (uint64_t)i * 1000, &out);
        if (res == HS_IP4_REASS_DONE) {
            hs_buf_t *b = hs_buf_ptr(&f->pool, out);
            uint32_t total = hs_buf_length(b);
            assert_int_equal(ntohs(((hs_ip4_header_t *)hs_buf_cur(b))->total_len), total);
            uint8_t *got = malloc(total);
            hs_buf_copy_out(&f->pool, b, got, total);
            assert_memory_equal(got + HS_IP4_HDR_LEN, f->payload, total - HS_IP4_HDR_LEN);
            free(got);
            hs_buf_free(&f->c, &out, 1);
            done++;
        }
        assert_true(hs_ip4_reass_count(&f->r) <= HS_IP4_REASS_MAX);
        assert_true(hs_ip4_reass_bufs_held(&f->r) <= HS_IP4_REASS_MAX_BUFS);
        if (i % 10000 == 0) {
            uint32_t first[64], n_exp, got;
            do {
                got = hs_ip4_reass_expire(&f->r, &f->c, (uint64_t)i * 1000 + 4 * HS_NS_PER_S, first,
                                          64, &n_exp);
                hs_buf_free(&f->c, first, got);
            } while (got == 64);
            assert_int_equal(hs_ip4_reass_count(&f->r), 0);
        }
    }
    assert_true(done > 0);
    print_message("flood: %lu done, %lu ok, %lu overlap, %lu evicted, %lu timeout, %lu bad, "
                  "%lu duplicates\n",
                  (unsigned long)done, (unsigned long)f->r.stats.ok,
                  (unsigned long)f->r.stats.overlap, (unsigned long)f->r.stats.evicted,
                  (unsigned long)f->r.stats.timeout, (unsigned long)f->r.stats.bad,
                  (unsigned long)f->r.stats.duplicates);
    assert_true(f->r.stats.overlap > 0);
    assert_true(f->r.stats.evicted + f->r.stats.timeout > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_orders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicates_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlaps_drop_datagram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inconsistent_ends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_kept_apart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_flood, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
