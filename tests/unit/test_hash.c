/* Unit tests for the Robin Hood hash table (src/infra/hash.c): API contract, growth to
 * millions of entries, random churn checked against a direct-indexed reference, forced
 * collisions and wrap-around through the _with_hash calls, iteration. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "infra/hash.h"

/* Deterministic generator; state is passed explicitly so every test replays exactly. */
static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Key number id for a table of key_size bytes: distinct ids give distinct keys, and the
 * bytes vary in every word so all of the key is exercised. */
static void make_key(uint8_t *key, uint32_t key_size, uint32_t id)
{
    uint64_t s = id;
    for (uint32_t i = 0; i < key_size; i += 4) {
        uint32_t w = (uint32_t)rnd(&s);
        memcpy(key + i, &w, 4);
    }
    memcpy(key, &id, 4); /* distinctness, whatever the generator does */
}

static void key4_of(hs_hash_key4_t *k, uint32_t id)
{
    hs_hash_key4_init(k, 0x0a000000u + (id >> 16), 0x0a640001u, (uint16_t)id, 80, 6, id % 3);
}

static void test_init_rejects_bad_key_sizes(void **state)
{
    (void)state;
    hs_hash_t h;
    const uint32_t bad[] = {0, 2, 3, 5, 18, 66, 68, 128};
    for (size_t i = 0; i < HS_ARRAY_LEN(bad); i++) {
        assert_int_equal(hs_hash_init(&h, bad[i], 0, 1), -EINVAL);
        hs_hash_destroy(&h); /* safe after a failed init */
    }
    for (uint32_t ks = 4; ks <= 64; ks += 4) {
        assert_int_equal(hs_hash_init(&h, ks, 0, 1), 0);
        assert_int_equal(hs_hash_count(&h), 0);
        hs_hash_destroy(&h);
    }
    assert_int_equal(hs_hash_init(&h, 16, UINT32_MAX, 1), -EINVAL); /* beyond 2^31 slots */
    /* A destroyed table refuses writes instead of touching freed memory. */
    uint8_t key[16] = {1};
    assert_int_equal(hs_hash_add(&h, key, 1), -EINVAL);
    assert_int_equal(hs_hash_del(&h, key), -ENOENT);
    assert_int_equal(hs_hash_next(&h, 0), HS_HASH_INVALID);
}

static void test_add_get_replace_del(void **state)
{
    (void)state;
    hs_hash_t h;
    assert_int_equal(hs_hash_init(&h, sizeof(hs_hash_key4_t), 4, 42), 0);
    hs_hash_key4_t a, b, c, absent;
    key4_of(&a, 1);
    key4_of(&b, 2);
    key4_of(&c, 3);
    key4_of(&absent, 4);
    uint64_t v = 0;

    assert_int_equal(hs_hash_get(&h, &a, &v), -ENOENT);
    assert_int_equal(hs_hash_add(&h, &a, 100), 0);
    assert_int_equal(hs_hash_add(&h, &b, 200), 0);
    assert_int_equal(hs_hash_add(&h, &c, UINT64_MAX), 0);
    assert_int_equal(hs_hash_count(&h), 3);
    assert_int_equal(hs_hash_get(&h, &a, &v), 0);
    assert_int_equal(v, 100);
    assert_int_equal(hs_hash_get(&h, &b, &v), 0);
    assert_int_equal(v, 200);
    assert_int_equal(hs_hash_get(&h, &c, &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(hs_hash_get(&h, &absent, NULL), -ENOENT);
    assert_int_equal(hs_hash_get(&h, &a, NULL), 0);

    /* Replace keeps the count. */
    assert_int_equal(hs_hash_add(&h, &b, 201), 0);
    assert_int_equal(hs_hash_count(&h), 3);
    assert_int_equal(hs_hash_get(&h, &b, &v), 0);
    assert_int_equal(v, 201);

    assert_int_equal(hs_hash_del(&h, &b), 0);
    assert_int_equal(hs_hash_del(&h, &b), -ENOENT);
    assert_int_equal(hs_hash_del(&h, &absent), -ENOENT);
    assert_int_equal(hs_hash_count(&h), 2);
    assert_int_equal(hs_hash_get(&h, &b, &v), -ENOENT);
    assert_int_equal(hs_hash_get(&h, &a, &v), 0);
    assert_int_equal(v, 100);

    /* One field differing anywhere makes a different key. */
    hs_hash_key4_t a2 = a;
    a2.table_id ^= 1;
    assert_int_equal(hs_hash_get(&h, &a2, &v), -ENOENT);
    a2 = a;
    a2.proto = 17;
    assert_int_equal(hs_hash_get(&h, &a2, &v), -ENOENT);

    /* A caller-computed hash of 0 cannot be stored (0 marks empty slots). */
    assert_int_equal(hs_hash_add_with_hash(&h, &absent, 0, 5), -EINVAL);
    assert_int_equal(hs_hash_count(&h), 2);
    hs_hash_destroy(&h);
}

static void test_key_helpers_zero_padding(void **state)
{
    (void)state;
    hs_hash_key4_t k4;
    memset(&k4, 0xff, sizeof(k4));
    hs_hash_key4_init(&k4, 1, 2, 3, 4, 6, 7);
    assert_int_equal(k4.pad[0] | k4.pad[1] | k4.pad[2], 0);
    assert_int_equal(k4.src, 1);
    assert_int_equal(k4.dst, 2);
    assert_int_equal(k4.sport, 3);
    assert_int_equal(k4.dport, 4);
    assert_int_equal(k4.proto, 6);
    assert_int_equal(k4.table_id, 7);

    uint8_t s6[16], d6[16];
    for (int i = 0; i < 16; i++) {
        s6[i] = (uint8_t)i;
        d6[i] = (uint8_t)(0xf0 + i);
    }
    hs_hash_key6_t k6;
    memset(&k6, 0xff, sizeof(k6));
    hs_hash_key6_init(&k6, s6, d6, 1000, 443, 17, 9);
    assert_int_equal(k6.pad[0] | k6.pad[1] | k6.pad[2], 0);
    assert_memory_equal(k6.src, s6, 16);
    assert_memory_equal(k6.dst, d6, 16);
    assert_int_equal(k6.table_id, 9);

    /* The same tuple built on clean memory hashes the same; another seed hashes apart. */
    hs_hash_key6_t k6b;
    memset(&k6b, 0, sizeof(k6b));
    hs_hash_key6_init(&k6b, s6, d6, 1000, 443, 17, 9);
    hs_hash_t h1, h2;
    assert_int_equal(hs_hash_init(&h1, sizeof(k6), 0, 1), 0);
    assert_int_equal(hs_hash_init(&h2, sizeof(k6), 0, 2), 0);
    assert_int_equal(hs_hash_hash(&h1, &k6), hs_hash_hash(&h1, &k6b));
    int differ = 0;
    for (uint32_t id = 0; id < 64; id++) {
        uint8_t key[44];
        make_key(key, 44, id);
        differ += hs_hash_hash(&h1, key) != hs_hash_hash(&h2, key);
    }
    assert_true(differ >= 62);
    hs_hash_destroy(&h1);
    hs_hash_destroy(&h2);
}

/* Flipping any one bit of a key changes its hash (a 2^-32 chance each of not doing so, and
 * the inputs are fixed), for every key size: no byte is left out of the hash. */
static void test_hash_uses_every_byte(void **state)
{
    (void)state;
    for (uint32_t ks = HS_HASH_KEY_MIN; ks <= HS_HASH_KEY_MAX; ks += 4) {
        hs_hash_t h;
        assert_int_equal(hs_hash_init(&h, ks, 0, 1234), 0);
        uint8_t key[HS_HASH_KEY_MAX];
        for (uint32_t id = 0; id < 4; id++) {
            make_key(key, ks, id);
            if (id == 3)
                memset(key, 0, ks);
            uint32_t base = hs_hash_hash(&h, key);
            for (uint32_t bit = 0; bit < ks * 8; bit++) {
                key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
                assert_int_not_equal(hs_hash_hash(&h, key), base);
                key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            }
        }
        hs_hash_destroy(&h);
    }
}

/* ASan makes each operation roughly ten times slower; 1M+ entries still take ~1-2 s. */
#define GROW_N ((1u << 20) + 4321)

static void test_growth_to_millions(void **state)
{
    (void)state;
    hs_hash_t h;
    assert_int_equal(hs_hash_init(&h, sizeof(hs_hash_key4_t), 0, 7), 0);
    assert_int_equal(hs_hash_capacity(&h), 8);
    hs_hash_key4_t k;
    uint32_t cap_seen = hs_hash_capacity(&h), grows = 0;
    for (uint32_t id = 0; id < GROW_N; id++) {
        key4_of(&k, id);
        assert_int_equal(hs_hash_add(&h, &k, (uint64_t)id * 3 + 1), 0);
        /* Load factor bound at every size: count <= 3/4 capacity. */
        assert_true((uint64_t)hs_hash_count(&h) * 4 <= (uint64_t)hs_hash_capacity(&h) * 3);
        if (hs_hash_capacity(&h) != cap_seen) {
            assert_int_equal(hs_hash_capacity(&h), cap_seen * 2);
            cap_seen = hs_hash_capacity(&h);
            grows++;
        }
    }
    assert_int_equal(hs_hash_count(&h), GROW_N);
    assert_true(grows >= 18);
    for (uint32_t id = 0; id < GROW_N; id++) {
        uint64_t v;
        key4_of(&k, id);
        assert_int_equal(hs_hash_get(&h, &k, &v), 0);
        assert_true(v == (uint64_t)id * 3 + 1);
    }
    for (uint32_t id = GROW_N; id < GROW_N + 100000; id++) {
        key4_of(&k, id);
        assert_int_equal(hs_hash_get(&h, &k, NULL), -ENOENT);
    }
    /* Sequential tuples must not cluster: short probe runs everywhere. */
    hs_hash_stats_t st;
    hs_hash_stats(&h, &st);
    assert_int_equal(st.count, GROW_N);
    assert_true(st.mean_probe < 1.0);
    assert_true(st.max_probe < 40);
    assert_true(st.bytes == (uint64_t)st.capacity * 32);
    hs_hash_destroy(&h);
}

/* Reference: present[id] / value[id] over a small id universe, so adds often replace and
 * deletes often miss. */
static void churn_one(uint32_t key_size, uint64_t seed, uint32_t universe, uint32_t ops)
{
    hs_hash_t h;
    assert_int_equal(hs_hash_init(&h, key_size, 0, seed), 0);
    uint8_t *present = calloc(universe, 1);
    uint64_t *value = calloc(universe, sizeof(*value));
    assert_non_null(present);
    assert_non_null(value);
    uint64_t rs = seed, v;
    uint32_t live = 0;
    uint8_t key[HS_HASH_KEY_MAX];
    for (uint32_t op = 0; op < ops; op++) {
        uint64_t r = rnd(&rs);
        uint32_t id = (uint32_t)(r % universe);
        make_key(key, key_size, id);
        if ((r >> 32) % 100 < 55) {
            assert_int_equal(hs_hash_add(&h, key, r), 0);
            live += !present[id];
            present[id] = 1;
            value[id] = r;
        } else if ((r >> 32) % 100 < 90) {
            assert_int_equal(hs_hash_del(&h, key), present[id] ? 0 : -ENOENT);
            live -= present[id];
            present[id] = 0;
        } else {
            int rc = hs_hash_get(&h, key, &v);
            assert_int_equal(rc, present[id] ? 0 : -ENOENT);
            if (!rc)
                assert_true(v == value[id]);
        }
        assert_int_equal(hs_hash_count(&h), live);
        if (op % (ops / 8) == 0 || op == ops - 1) {
            for (uint32_t j = 0; j < universe; j++) {
                make_key(key, key_size, j);
                int rc = hs_hash_get(&h, key, &v);
                assert_int_equal(rc, present[j] ? 0 : -ENOENT);
                if (!rc)
                    assert_true(v == value[j]);
            }
        }
    }
    free(present);
    free(value);
    hs_hash_destroy(&h);
}

static void test_churn_against_reference(void **state)
{
    (void)state;
    const uint32_t sizes[] = {4, 8, 12, 16, 20, 36, 44, 64};
    for (size_t i = 0; i < HS_ARRAY_LEN(sizes); i++) {
        churn_one(sizes[i], 1000 + i, 2450, 60000); /* load near 3/4 */
        churn_one(sizes[i], 2000 + i, 50, 5000);    /* tiny table, constant replace/miss */
    }
}

/* Keys that all share one home slot, near the end of the array: one long run that wraps
 * around to slot 0, in which every delete shifts entries back across the wrap. Uses the
 * _with_hash calls with chosen hashes, as a caller that hashes itself may. */
static void test_forced_collisions_and_wrap(void **state)
{
    (void)state;
    hs_hash_t h;
    assert_int_equal(hs_hash_init(&h, 16, 200, 3), 0); /* 200 entries: 512 slots */
    uint32_t cap = hs_hash_capacity(&h);
    assert_int_equal(cap, 512);
    enum { N = 180 };
    uint32_t hashes[N];
    uint8_t key[16];
    for (uint32_t id = 0; id < N; id++) {
        /* three homes: the last slot, the one before, and slot 0 (after the wrap) */
        hashes[id] = id % 3 == 0 ? 0xffffffffu : id % 3 == 1 ? 0xfffffffeu : 0x100000u;
        make_key(key, 16, id);
        assert_int_equal(hs_hash_add_with_hash(&h, key, hashes[id], id), 0);
    }
    assert_int_equal(hs_hash_capacity(&h), cap); /* no growth hid the collisions */
    hs_hash_stats_t st;
    hs_hash_stats(&h, &st);
    assert_true(st.max_probe >= N - 3);
    uint32_t visits = 0, last = 0;
    hs_hash_foreach(&h, i)
    {
        visits++;
        last = i;
    }
    assert_int_equal(visits, N);
    assert_int_equal(last, cap - 1); /* the run starts in the last two slots */

    uint64_t rs = 99, v;
    uint32_t order[N];
    for (uint32_t i = 0; i < N; i++)
        order[i] = i;
    for (uint32_t i = N - 1; i > 0; i--) {
        uint32_t j = (uint32_t)(rnd(&rs) % (i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (uint32_t n = 0; n < N; n++) {
        make_key(key, 16, order[n]);
        assert_int_equal(hs_hash_del_with_hash(&h, key, hashes[order[n]]), 0);
        assert_int_equal(hs_hash_get_with_hash(&h, key, hashes[order[n]], &v), -ENOENT);
        for (uint32_t m = n + 1; m < N; m++) { /* all the others still reachable */
            make_key(key, 16, order[m]);
            assert_int_equal(hs_hash_get_with_hash(&h, key, hashes[order[m]], &v), 0);
            assert_int_equal(v, order[m]);
        }
    }
    assert_int_equal(hs_hash_count(&h), 0);
    assert_int_equal(hs_hash_next(&h, 0), HS_HASH_INVALID);
    hs_hash_destroy(&h);
}

/* The growth path with colliding hashes: every entry keeps its chosen hash across rehash. */
static void test_forced_collisions_through_growth(void **state)
{
    (void)state;
    hs_hash_t h;
    assert_int_equal(hs_hash_init(&h, 8, 0, 3), 0);
    uint8_t key[8];
    uint64_t v;
    for (uint32_t id = 0; id < 2000; id++) {
        make_key(key, 8, id);
        assert_int_equal(hs_hash_add_with_hash(&h, key, 0x80000000u | (id % 7), id), 0);
    }
    for (uint32_t id = 0; id < 2000; id++) {
        make_key(key, 8, id);
        assert_int_equal(hs_hash_get_with_hash(&h, key, 0x80000000u | (id % 7), &v), 0);
        assert_int_equal(v, id);
    }
    hs_hash_destroy(&h);
}

/* Keys that differ in one byte only, all with the same hash: only the key compare tells
 * them apart, so every byte position of every key size must count. */
static void test_key_compare_every_byte(void **state)
{
    (void)state;
    for (uint32_t ks = HS_HASH_KEY_MIN; ks <= HS_HASH_KEY_MAX; ks += 4) {
        hs_hash_t h;
        assert_int_equal(hs_hash_init(&h, ks, 0, ks), 0);
        uint8_t base[HS_HASH_KEY_MAX], key[HS_HASH_KEY_MAX];
        make_key(base, ks, ks);
        assert_int_equal(hs_hash_add_with_hash(&h, base, 77, 1000), 0);
        for (uint32_t p = 0; p < ks; p++) {
            memcpy(key, base, ks);
            key[p] ^= 0x80;
            assert_int_equal(hs_hash_get_with_hash(&h, key, 77, NULL), -ENOENT);
            assert_int_equal(hs_hash_add_with_hash(&h, key, 77, p), 0);
        }
        assert_int_equal(hs_hash_count(&h), ks + 1);
        uint64_t v;
        assert_int_equal(hs_hash_get_with_hash(&h, base, 77, &v), 0);
        assert_int_equal(v, 1000);
        for (uint32_t p = 0; p < ks; p++) {
            memcpy(key, base, ks);
            key[p] ^= 0x80;
            assert_int_equal(hs_hash_get_with_hash(&h, key, 77, &v), 0);
            assert_int_equal(v, p);
        }
        hs_hash_destroy(&h);
    }
}

static void test_ipv6_keys(void **state)
{
    (void)state;
    enum { N = 100000 };
    hs_hash_t h;
    assert_int_equal(hs_hash_init(&h, sizeof(hs_hash_key6_t), 16, 11), 0);
    uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8}, dst[16] = {0xfe, 0x80};
    hs_hash_key6_t k;
    uint64_t v;
    for (uint32_t id = 0; id < N; id++) {
        memcpy(src + 12, &id, 4);
        hs_hash_key6_init(&k, src, dst, (uint16_t)(id * 7), 443, 6, id & 1);
        assert_int_equal(hs_hash_add(&h, &k, ~(uint64_t)id), 0);
    }
    assert_int_equal(hs_hash_count(&h), N);
    for (uint32_t id = 0; id < N; id++) {
        memcpy(src + 12, &id, 4);
        hs_hash_key6_init(&k, src, dst, (uint16_t)(id * 7), 443, 6, id & 1);
        assert_int_equal(hs_hash_get(&h, &k, &v), 0);
        assert_true(v == ~(uint64_t)id);
        k.table_id ^= 1; /* same 5-tuple, other fib table: absent */
        assert_int_equal(hs_hash_get(&h, &k, &v), -ENOENT);
    }
    for (uint32_t id = 0; id < N; id += 2) {
        memcpy(src + 12, &id, 4);
        hs_hash_key6_init(&k, src, dst, (uint16_t)(id * 7), 443, 6, id & 1);
        assert_int_equal(hs_hash_del(&h, &k), 0);
    }
    assert_int_equal(hs_hash_count(&h), N / 2);
    for (uint32_t id = 0; id < N; id++) {
        memcpy(src + 12, &id, 4);
        hs_hash_key6_init(&k, src, dst, (uint16_t)(id * 7), 443, 6, id & 1);
        assert_int_equal(hs_hash_get(&h, &k, &v), id % 2 ? 0 : -ENOENT);
    }
    hs_hash_destroy(&h);
}

static void test_iteration_visits_each_once(void **state)
{
    (void)state;
    enum { N = 20000 };
    hs_hash_t h;
    assert_int_equal(hs_hash_init(&h, 12, 0, 5), 0);
    assert_int_equal(hs_hash_next(&h, 0), HS_HASH_INVALID); /* empty table */
    uint8_t key[12];
    for (uint32_t id = 0; id < N; id++) {
        make_key(key, 12, id);
        assert_int_equal(hs_hash_add(&h, key, id), 0);
    }
    for (uint32_t id = 0; id < N; id += 3) { /* holes in the middle of runs */
        make_key(key, 12, id);
        assert_int_equal(hs_hash_del(&h, key), 0);
    }
    uint8_t *seen = calloc(N, 1);
    assert_non_null(seen);
    uint32_t visits = 0;
    hs_hash_foreach(&h, i)
    {
        uint64_t id = hs_hash_slot_value(&h, i);
        assert_true(id < N && id % 3 != 0);
        assert_int_equal(seen[id], 0);
        seen[id] = 1;
        make_key(key, 12, (uint32_t)id);
        assert_memory_equal(hs_hash_slot_key(&h, i), key, 12);
        visits++;
    }
    assert_int_equal(visits, hs_hash_count(&h));
    assert_int_equal(visits, N - (N + 2) / 3);
    free(seen);
    hs_hash_destroy(&h);
}

static void test_reserve_avoids_growth(void **state)
{
    (void)state;
    hs_hash_t h;
    assert_int_equal(hs_hash_init(&h, 16, 0, 9), 0);
    uint8_t key[16];
    for (uint32_t id = 0; id < 5; id++) {
        make_key(key, 16, id);
        assert_int_equal(hs_hash_add(&h, key, id), 0);
    }
    assert_int_equal(hs_hash_reserve(&h, 30000), 0);
    uint32_t cap = hs_hash_capacity(&h);
    assert_true((uint64_t)cap * 3 / 4 >= 30000);
    assert_int_equal(hs_hash_reserve(&h, 10), 0); /* never shrinks */
    assert_int_equal(hs_hash_capacity(&h), cap);
    for (uint32_t id = 5; id < 30000; id++) {
        make_key(key, 16, id);
        assert_int_equal(hs_hash_add(&h, key, id), 0);
    }
    assert_int_equal(hs_hash_capacity(&h), cap);
    uint64_t v;
    for (uint32_t id = 0; id < 30000; id++) {
        make_key(key, 16, id);
        assert_int_equal(hs_hash_get(&h, key, &v), 0);
        assert_int_equal(v, id);
    }
    assert_int_equal(hs_hash_reserve(&h, UINT32_MAX), -ENOMEM);
    assert_int_equal(hs_hash_count(&h), 30000);
    hs_hash_destroy(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_rejects_bad_key_sizes),
        cmocka_unit_test(test_add_get_replace_del),
        cmocka_unit_test(test_key_helpers_zero_padding),
        cmocka_unit_test(test_hash_uses_every_byte),
        cmocka_unit_test(test_growth_to_millions),
        cmocka_unit_test(test_churn_against_reference),
        cmocka_unit_test(test_forced_collisions_and_wrap),
        cmocka_unit_test(test_forced_collisions_through_growth),
        cmocka_unit_test(test_key_compare_every_byte),
        cmocka_unit_test(test_ipv6_keys),
        cmocka_unit_test(test_iteration_visits_each_once),
        cmocka_unit_test(test_reserve_avoids_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
