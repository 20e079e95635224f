/* FIB tests (src/net/fib.c, src/net/ip4_if.c): tables, add/replace/delete, longest-prefix
 * match against a brute-force reference over random routes in many tables, routes removed
 * with their interface, show ip fib, interface addresses and source selection. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/fib.h"
#include "net/ip4_internal.h"

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A bare hs_net_t: the FIB and an interface pool, no graph or workers. */
typedef struct {
    hs_net_t net;
    hs_ip4_main_t im;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    if (!f || hs_fib_main_init(&f->im.fib) < 0 ||
        hs_pool_init(&f->net.interfaces, sizeof(hs_interface_t), 0) < 0)
        return -1;
    f->net.ip4 = &f->im;
    if (hs_fib_table_find_or_create(&f->net, 0) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    hs_pool_foreach(&f->net.interfaces, i)
    {
        hs_interface_t *ifc = hs_pool_elt(&f->net.interfaces, i);
        hs_vec_free(&ifc->ip4_addrs);
    }
    hs_pool_destroy(&f->net.interfaces);
    hs_fib_main_free(&f->im.fib);
    free(f);
    return 0;
}

static uint32_t add_if(fixture_t *f, const char *name, uint32_t fib_index)
{
    uint32_t idx;
    hs_interface_t *ifc = hs_pool_get(&f->net.interfaces, &idx);
    assert_non_null(ifc);
    ifc->sw_if_index = idx;
    snprintf(ifc->name, sizeof(ifc->name), "%s", name);
    ifc->fib_index = fib_index;
    hs_vec_init(&ifc->ip4_addrs, sizeof(hs_ip4_if_addr_t));
    return idx;
}

static int add(fixture_t *f, uint32_t fib, uint32_t prefix, uint8_t len, hs_fib_type_t type,
               uint32_t sw, uint32_t nh)
{
    hs_fib_route_t r = {
        .prefix = prefix, .len = len, .type = (uint8_t)type, .sw_if_index = sw, .next_hop = nh};
    return hs_fib_add(&f->net, fib, &r);
}

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

static void test_tables(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(hs_fib_table_find(&f->net, 0), 0);
    assert_int_equal(hs_fib_table_find(&f->net, 7), -ENOENT);
    assert_int_equal(hs_fib_table_find_or_create(&f->net, 7), 1);
    assert_int_equal(hs_fib_table_find_or_create(&f->net, 7), 1);
    assert_int_equal(hs_fib_table_find_or_create(&f->net, 100), 2);
    assert_int_equal(hs_fib_table_id(&f->net, 2), 100);
    assert_int_equal(hs_fib_table_id(&f->net, 3), UINT32_MAX);
    assert_null(hs_fib_lookup(&f->net, 3, IP(1, 2, 3, 4))); /* unknown index: no route */
    assert_int_equal(add(f, 3, 0, 0, HS_FIB_DROP, 0, 0), -EINVAL);
}

static void test_add_replace_delete(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(add(f, 0, IP(10, 0, 0, 0), 33, HS_FIB_CONNECTED, 0, 0), -EINVAL);
    assert_null(hs_fib_lookup(&f->net, 0, IP(10, 0, 0, 1)));
    /* The prefix is masked on the way in. */
    assert_int_equal(add(f, 0, IP(10, 0, 0, 77), 24, HS_FIB_CONNECTED, 1, 0), 0);
    const hs_fib_route_t *r = hs_fib_lookup(&f->net, 0, IP(10, 0, 0, 200));
    assert_non_null(r);
    assert_int_equal(r->prefix, IP(10, 0, 0, 0));
    assert_int_equal(r->len, 24);
    assert_int_equal(r->sw_if_index, 1);
    assert_null(hs_fib_lookup(&f->net, 0, IP(10, 0, 1, 1)));
    assert_int_equal(add(f, 0, 0, 0, HS_FIB_VIA, 2, IP(10, 0, 0, 1)), 0);
    assert_int_equal(add(f, 0, IP(10, 0, 0, 5), 32, HS_FIB_LOCAL, 1, 0), 0);
    assert_int_equal(hs_fib_n_routes(&f->net, 0), 3);
    assert_int_equal(hs_fib_lookup(&f->net, 0, IP(10, 0, 0, 5))->type, HS_FIB_LOCAL);
    assert_int_equal(hs_fib_lookup(&f->net, 0, IP(10, 0, 0, 6))->type, HS_FIB_CONNECTED);
    assert_int_equal(hs_fib_lookup(&f->net, 0, IP(8, 8, 8, 8))->type, HS_FIB_VIA);
    /* Replacing keeps one route. */
    assert_int_equal(add(f, 0, IP(10, 0, 0, 0), 24, HS_FIB_DROP, 3, 0), 0);
    assert_int_equal(hs_fib_n_routes(&f->net, 0), 3);
    assert_int_equal(hs_fib_lookup(&f->net, 0, IP(10, 0, 0, 6))->type, HS_FIB_DROP);
    assert_int_equal(hs_fib_del(&f->net, 0, IP(10, 0, 0, 9), 24), 0);
    assert_int_equal(hs_fib_del(&f->net, 0, IP(10, 0, 0, 9), 24), -ENOENT);
    assert_int_equal(hs_fib_lookup(&f->net, 0, IP(10, 0, 0, 6))->type, HS_FIB_VIA);
    assert_int_equal(hs_fib_del(&f->net, 0, 0, 0), 0);
    assert_null(hs_fib_lookup(&f->net, 0, IP(10, 0, 0, 6)));
    assert_non_null(hs_fib_get(&f->net, 0, IP(10, 0, 0, 5), 32));
    assert_null(hs_fib_get(&f->net, 0, IP(10, 0, 0, 0), 24));
    assert_int_equal(hs_fib_n_routes(&f->net, 0), 1);
}

/* ---- LPM against brute force ---- */

typedef struct {
    uint32_t prefix;
    uint8_t len;
    bool used;
    uint32_t tag; /* sw_if_index: identifies the route */
} ref_route_t;

#define REF_MAX 2048

static const ref_route_t *ref_lookup(const ref_route_t *rs, uint32_t n, uint32_t dst)
{
    const ref_route_t *best = NULL;
    for (uint32_t i = 0; i < n; i++) {
        if (!rs[i].used || ((dst ^ rs[i].prefix) & hs_ip4_mask(rs[i].len)))
            continue;
        if (!best || rs[i].len > best->len)
            best = &rs[i];
    }
    return best;
}

static ref_route_t *ref_find(ref_route_t *rs, uint32_t n, uint32_t prefix, uint8_t len)
{
    for (uint32_t i = 0; i < n; i++)
        if (rs[i].used && rs[i].len == len && rs[i].prefix == prefix)
            return &rs[i];
    return NULL;
}

static uint8_t random_len(uint64_t *seed)
{
    static const uint8_t common[] = {0, 8, 16, 24, 24, 24, 32, 32, 32, 30, 28, 12};
    return rnd(seed) % 3 ? common[rnd(seed) % HS_ARRAY_LEN(common)] : (uint8_t)(rnd(seed) % 33);
}

static void lpm_round(fixture_t *f, uint64_t seed, uint32_t n_tables)
{
    ref_route_t *ref = calloc((size_t)n_tables * REF_MAX, sizeof(*ref));
    uint32_t *n = calloc(n_tables, sizeof(*n));
    uint32_t *fib = calloc(n_tables, sizeof(*fib));
    assert_true(ref && n && fib);
    for (uint32_t t = 0; t < n_tables; t++)
        fib[t] = (uint32_t)hs_fib_table_find_or_create(&f->net, (uint32_t)seed * 1000 + t);
    /* A small address space (a few /8s) so routes nest and overlap a lot. */
    for (uint32_t op = 0; op < 40000; op++) {
        uint32_t t = (uint32_t)(rnd(&seed) % n_tables);
        ref_route_t *rs = ref + (size_t)t * REF_MAX;
        uint8_t len = random_len(&seed);
        uint32_t prefix =
            ((uint32_t)(rnd(&seed) % 3) << 24 | (uint32_t)rnd(&seed) >> 8) & hs_ip4_mask(len);
        ref_route_t *have = ref_find(rs, n[t], prefix, len);
        if (have && rnd(&seed) % 2) {
            assert_int_equal(hs_fib_del(&f->net, fib[t], prefix, len), 0);
            have->used = false;
        } else if (have) {
            have->tag = (uint32_t)op;
            assert_int_equal(add(f, fib[t], prefix, len, HS_FIB_CONNECTED, have->tag, 0), 0);
        } else if (n[t] < REF_MAX) {
            rs[n[t]++] = (ref_route_t){prefix, len, true, (uint32_t)op};
            assert_int_equal(add(f, fib[t], prefix, len, HS_FIB_CONNECTED, (uint32_t)op, 0), 0);
        }
        if (op % 8)
            continue;
        for (int k = 0; k < 16; k++) {
            uint32_t dst = ((uint32_t)(rnd(&seed) % 3) << 24) | ((uint32_t)rnd(&seed) >> 8);
            if ((k & 1) && n[t]) { /* near a route: flip a few host bits */
                const ref_route_t *r = &rs[rnd(&seed) % n[t]];
                dst = r->prefix | ((uint32_t)rnd(&seed) & ~hs_ip4_mask(r->len));
            }
            const ref_route_t *want = ref_lookup(rs, n[t], dst);
            const hs_fib_route_t *got = hs_fib_lookup(&f->net, fib[t], dst);
            if (!want) {
                assert_null(got);
                continue;
            }
            assert_non_null(got);
            assert_int_equal(got->len, want->len);
            assert_int_equal(got->prefix, want->prefix);
            assert_int_equal(got->sw_if_index, want->tag);
        }
    }
    for (uint32_t t = 0; t < n_tables; t++) {
        uint32_t live = 0;
        for (uint32_t i = 0; i < n[t]; i++)
            live += ref[(size_t)t * REF_MAX + i].used;
        assert_int_equal(hs_fib_n_routes(&f->net, fib[t]), live);
    }
    free(ref);
    free(n);
    free(fib);
}

static void test_lpm_random(void **state)
{
    fixture_t *f = *state;
    lpm_round(f, 11, 1);
    lpm_round(f, 12, 16);
    lpm_round(f, 13, 64);
}

/* Every route deleted (in random order) leaves empty tables and the trie folded back to
 * one root ply per table. */
static void test_trie_folds_back(void **state)
{
    fixture_t *f = *state;
    uint64_t seed = 21;
    enum { N = 3000 };
    static hs_fib_key_t keys[N];
    uint32_t n = 0, n_tables = 4;
    for (uint32_t t = 1; t < n_tables; t++)
        assert_int_equal(hs_fib_table_find_or_create(&f->net, 50 + t), (int)t);
    while (n < N) {
        uint8_t len = random_len(&seed);
        uint32_t fib = (uint32_t)(rnd(&seed) % n_tables);
        uint32_t prefix = (uint32_t)rnd(&seed) & hs_ip4_mask(len);
        if (hs_fib_get(&f->net, fib, prefix, len))
            continue;
        assert_int_equal(add(f, fib, prefix, len, HS_FIB_CONNECTED, n, 0), 0);
        keys[n++] = (hs_fib_key_t){fib, prefix, len};
    }
    assert_true(hs_fib_main_n_plies(&f->im.fib) > 100);
    for (uint32_t i = N - 1; i > 0; i--) {
        uint32_t j = (uint32_t)(rnd(&seed) % (i + 1));
        hs_fib_key_t k = keys[i];
        keys[i] = keys[j], keys[j] = k;
    }
    for (uint32_t i = 0; i < N; i++) {
        assert_int_equal(
            hs_fib_del(&f->net, keys[i].fib_index, keys[i].prefix, (uint8_t)keys[i].len), 0);
        if (i % 100 == 0) { /* what is left still resolves: its own prefix finds itself */
            for (uint32_t j = i + 1; j < N; j += 37) {
                const hs_fib_route_t *r = hs_fib_lookup(&f->net, keys[j].fib_index, keys[j].prefix);
                assert_non_null(r);
                assert_true(r->len >= keys[j].len);
            }
        }
    }
    for (uint32_t t = 0; t < n_tables; t++) {
        assert_int_equal(hs_fib_n_routes(&f->net, t), 0);
        assert_null(hs_fib_lookup(&f->net, t, (uint32_t)rnd(&seed)));
    }
    assert_int_equal(hs_fib_main_n_plies(&f->im.fib), n_tables);
}

static void test_del_interface_and_format(void **state)
{
    fixture_t *f = *state;
    uint32_t a = add_if(f, "tap0", 0), b = add_if(f, "tap1", 0);
    int t5 = hs_fib_table_find_or_create(&f->net, 5);
    assert_int_equal(add(f, 0, IP(10, 0, 0, 0), 24, HS_FIB_CONNECTED, a, 0), 0);
    assert_int_equal(add(f, 0, IP(10, 0, 0, 2), 32, HS_FIB_LOCAL, a, 0), 0);
    assert_int_equal(add(f, 0, IP(10, 1, 0, 0), 16, HS_FIB_CONNECTED, b, 0), 0);
    assert_int_equal(add(f, 0, 0, 0, HS_FIB_VIA, a, IP(10, 0, 0, 1)), 0);
    assert_int_equal(add(f, (uint32_t)t5, IP(192, 168, 0, 0), 16, HS_FIB_VIA, a, IP(10, 0, 0, 9)),
                     0);
    hs_str_t s = {0};
    hs_fib_format(&f->net, &s);
    const char *txt = hs_str_cstr(&s);
    assert_non_null(strstr(txt, "ipv4 table 0 (fib_index 0), 4 routes"));
    assert_non_null(strstr(txt, "0.0.0.0/0           via 10.0.0.1 tap0\n"));
    assert_non_null(strstr(txt, "10.0.0.0/24         connected tap0\n"));
    assert_non_null(strstr(txt, "10.0.0.2/32         local tap0\n"));
    assert_non_null(strstr(txt, "10.1.0.0/16         connected tap1\n"));
    assert_non_null(strstr(txt, "ipv4 table 5 (fib_index 1), 1 routes\n"
                                "  192.168.0.0/16      via 10.0.0.9 tap0\n"));
    /* Sorted by prefix: the default route comes first. */
    assert_true(strstr(txt, "0.0.0.0/0") < strstr(txt, "10.0.0.0/24"));
    hs_str_free(&s);
    hs_fib_del_interface(&f->net, a);
    assert_int_equal(hs_fib_n_routes(&f->net, 0), 1);
    assert_int_equal(hs_fib_n_routes(&f->net, (uint32_t)t5), 0);
    assert_int_equal(hs_fib_lookup(&f->net, 0, IP(10, 1, 2, 3))->sw_if_index, b);
    assert_null(hs_fib_lookup(&f->net, 0, IP(10, 0, 0, 2)));
}

static void test_interface_addresses(void **state)
{
    fixture_t *f = *state;
    uint32_t a = add_if(f, "tap0", 0), b = add_if(f, "tap1", 0);
    hs_net_t *net = &f->net;
    const uint32_t bad[] = {0,
                            IP(127, 0, 0, 1),
                            IP(224, 0, 0, 1),
                            IP(255, 255, 255, 255),
                            IP(240, 0, 0, 1),
                            IP(10, 0, 0, 255)};
    for (size_t i = 0; i < HS_ARRAY_LEN(bad); i++)
        assert_int_equal(hs_ip4_interface_address(net, a, bad[i], 24, false), -EINVAL);
    assert_int_equal(hs_ip4_interface_address(net, a, IP(10, 0, 0, 2), 33, false), -EINVAL);
    assert_int_equal(hs_ip4_interface_address(net, 99, IP(10, 0, 0, 2), 24, false), -ENOENT);
    assert_int_equal(hs_ip4_interface_address(net, a, IP(10, 0, 0, 2), 24, false), 0);
    assert_int_equal(hs_ip4_interface_address(net, a, IP(10, 0, 0, 2), 24, false), -EEXIST);
    assert_int_equal(hs_ip4_interface_address(net, b, IP(10, 0, 0, 2), 24, false), -EEXIST);
    assert_int_equal(hs_ip4_interface_address(net, b, IP(10, 0, 0, 3), 24, false), -EEXIST);
    assert_int_equal(hs_fib_lookup(net, 0, IP(10, 0, 0, 2))->type, HS_FIB_LOCAL);
    assert_int_equal(hs_fib_lookup(net, 0, IP(10, 0, 0, 7))->type, HS_FIB_CONNECTED);
    assert_int_equal(hs_fib_lookup(net, 0, IP(10, 0, 0, 255))->type, HS_FIB_BROADCAST);
    assert_int_equal(hs_fib_n_routes(net, 0), 3);
    /* A second address in the same subnet shares the connected route. */
    assert_int_equal(hs_ip4_interface_address(net, a, IP(10, 0, 0, 3), 24, false), 0);
    assert_int_equal(hs_ip4_interface_address(net, a, IP(172, 16, 0, 1), 12, false), 0);
    assert_int_equal(hs_ip4_interface_address(net, b, IP(192, 168, 1, 1), 32, false), 0);
    assert_int_equal(hs_ip4_interface_address(net, b, IP(192, 168, 2, 1), 31, false), 0);
    assert_int_equal(hs_fib_n_routes(net, 0), 3 + 1 + 3 + 1 + 2);
    hs_interface_t *ia = hs_pool_elt(&net->interfaces, a);
    assert_int_equal(ia->ip4_addrs.len, 3);
    uint32_t src = 0;
    assert_true(hs_ip4_interface_source(net, a, IP(172, 20, 1, 1), &src));
    assert_int_equal(src, IP(172, 16, 0, 1));
    assert_true(hs_ip4_interface_source(net, a, IP(8, 8, 8, 8), &src));
    assert_int_equal(src, IP(10, 0, 0, 2)); /* no subnet matches: the first address */
    assert_false(hs_ip4_interface_source(net, 99, IP(8, 8, 8, 8), &src));
    /* Deleting one of two addresses of a subnet keeps the subnet. */
    assert_int_equal(hs_ip4_interface_address(net, a, IP(10, 0, 0, 2), 24, true), 0);
    assert_int_equal(hs_ip4_interface_address(net, a, IP(10, 0, 0, 2), 24, true), -ENOENT);
    assert_int_equal(hs_ip4_interface_address(net, a, IP(10, 0, 0, 3), 25, true), -ENOENT);
    assert_int_equal(hs_fib_lookup(net, 0, IP(10, 0, 0, 2))->type, HS_FIB_CONNECTED);
    assert_int_equal(hs_fib_lookup(net, 0, IP(10, 0, 0, 3))->type, HS_FIB_LOCAL);
    assert_int_equal(hs_ip4_interface_address(net, a, IP(10, 0, 0, 3), 24, true), 0);
    assert_null(hs_fib_lookup(net, 0, IP(10, 0, 0, 7)));
    assert_null(hs_fib_lookup(net, 0, IP(10, 0, 0, 255)));
    /* Another table may hold the same address. */
    hs_interface_t *ib = hs_pool_elt(&net->interfaces, b);
    uint32_t c = add_if(f, "tap2", (uint32_t)hs_fib_table_find_or_create(net, 9));
    assert_int_equal(hs_ip4_interface_address(net, c, IP(172, 16, 0, 1), 12, false), 0);
    assert_int_equal(hs_ip4_interface_address(net, a, IP(172, 16, 0, 1), 12, true), 0);
    assert_int_equal(hs_ip4_interface_address(net, b, IP(192, 168, 1, 1), 32, true), 0);
    assert_int_equal(hs_ip4_interface_address(net, b, IP(192, 168, 2, 1), 31, true), 0);
    assert_int_equal(hs_fib_n_routes(net, 0), 0);
    assert_int_equal(ia->ip4_addrs.len + ib->ip4_addrs.len, 0);
    assert_int_equal(hs_fib_n_routes(net, 1), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_replace_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lpm_random, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trie_folds_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_del_interface_and_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interface_addresses, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
