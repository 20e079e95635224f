/* Hash table from fixed-size keys (5-tuples, 4 to 64 bytes) to 64-bit values: the session
 * lookup tables and any other exact-match table on the data path.
 *
 * Design, and why:
 * - Open addressing, linear probing, Robin Hood ordering. A lookup for a table that fits in
 *   no cache is bounded by its cache misses, so the whole entry (key, cached hash, value)
 *   sits inline in one flat slot array: a hit costs one miss (two when a probe run crosses a
 *   line). Robin Hood keeps every probe run sorted by home slot, so a miss stops as soon as
 *   it meets an entry closer to its home than the probe is (usually at the home slot), and
 *   probe lengths stay short and even at load 0.75.
 * - Each slot caches 32 bits of the key's hash: it locates the entry's home slot (so probe
 *   distances need no recomputation), marks empty slots (0 is never a hash), and rejects
 *   almost every non-matching slot without comparing keys.
 * - Deletion shifts the rest of the probe run back by one (no tombstones), so a table under
 *   constant churn never degrades and never needs a cleanup pass.
 * - Power-of-two capacity, load factor at most 3/4; growth doubles the array and reinserts
 *   everything at once. That is a pause proportional to the table (~20 ns per entry: 15 ms
 *   for the add that takes 786k entries from 1M to 2M slots, bench/hash.c): size the table
 *   up front (initial_capacity, hs_hash_reserve) where a pause matters.
 * - The hash is a seeded multiply-fold over 8-byte words (one 64x64->128-bit multiplication
 *   per 16 bytes, plus one); the per-table seed is expanded to secrets that enter every
 *   multiplication, so keys that collide for one seed do not for another. Pass a random
 *   seed for tables keyed by remote input. This raises the bar for hash flooding but is no
 *   cryptographic guarantee (that is siphash's job, at several times the cost).
 *
 * Not thread-safe: one owner (a worker) reads and writes a table. Entries move on every add
 * and delete, so never keep pointers into the table, and do not add or delete while
 * iterating. */
#ifndef HS_INFRA_HASH_H
#define HS_INFRA_HASH_H

#include "infra/common.h"

#include <string.h>

#define HS_HASH_KEY_MIN 4
#define HS_HASH_KEY_MAX 64
#define HS_HASH_INVALID UINT32_MAX
#define HS_HASH_MAX_CAP (1u << 31)

/* The lookup path is always inlined; see hs_hash__hash_n for why. */
#define HS_HASH__INLINE static inline __attribute__((always_inline))

/* IPv4 5-tuple plus fib table: 20 bytes, no implicit padding. The hash reads every byte, so
 * pad must be zero: build keys with hs_hash_key4_init (or zero the struct first). */
typedef struct {
    uint32_t src; /* network byte order, as on the wire */
    uint32_t dst;
    uint16_t sport;
    uint16_t dport;
    uint32_t table_id; /* fib table */
    uint8_t proto;
    uint8_t pad[3]; /* must be zero */
} hs_hash_key4_t;

/* IPv6 5-tuple plus fib table: 44 bytes, same rules as hs_hash_key4_t. */
typedef struct {
    uint8_t src[16];
    uint8_t dst[16];
    uint16_t sport;
    uint16_t dport;
    uint32_t table_id;
    uint8_t proto;
    uint8_t pad[3]; /* must be zero */
} hs_hash_key6_t;

_Static_assert(sizeof(hs_hash_key4_t) == 20, "hs_hash_key4_t must have no implicit padding");
_Static_assert(sizeof(hs_hash_key6_t) == 44, "hs_hash_key6_t must have no implicit padding");

static inline void hs_hash_key4_init(hs_hash_key4_t *k, uint32_t src, uint32_t dst, uint16_t sport,
                                     uint16_t dport, uint8_t proto, uint32_t table_id)
{
    /* pad is a named member, so the initializer zeroes it */
    *k = (hs_hash_key4_t){.src = src,
                          .dst = dst,
                          .sport = sport,
                          .dport = dport,
                          .table_id = table_id,
                          .proto = proto};
}

static inline void hs_hash_key6_init(hs_hash_key6_t *k, const uint8_t src[16],
                                     const uint8_t dst[16], uint16_t sport, uint16_t dport,
                                     uint8_t proto, uint32_t table_id)
{
    memcpy(k->src, src, 16);
    memcpy(k->dst, dst, 16);
    k->sport = sport;
    k->dport = dport;
    k->table_id = table_id;
    k->proto = proto;
    memset(k->pad, 0, sizeof(k->pad));
}

/* Slot layout: key at offset 0, 32-bit hash at key_size (0 = empty), value at val_off. */
typedef struct {
    uint8_t *slots; /* (mask + 1) slots of slot_size bytes, cache-line aligned */
    uint32_t mask;  /* capacity - 1 */
    uint32_t count;
    uint32_t grow_at; /* an add that would exceed this doubles the table first */
    uint32_t key_size;
    uint32_t val_off;
    uint32_t slot_size;
    uint64_t secret[4]; /* derived from the seed */
} hs_hash_t;

typedef struct {
    uint32_t count;
    uint32_t capacity;
    uint32_t max_probe; /* longest distance of an entry from its home slot */
    double mean_probe;  /* mean distance from home (0 = every entry at home) */
    uint64_t bytes;     /* memory held by the slot array */
} hs_hash_stats_t;

/* key_size: 4 to 64, a multiple of 4. initial_capacity: entries the table holds before it
 * first grows (0 is fine). Returns 0, -EINVAL or -ENOMEM. */
int hs_hash_init(hs_hash_t *h, uint32_t key_size, uint32_t initial_capacity, uint64_t seed);
void hs_hash_destroy(hs_hash_t *h);
/* Grows now so that n entries fit without a rehash later. 0 or -ENOMEM. */
int hs_hash_reserve(hs_hash_t *h, uint32_t n);

/* The hash of a key as the table uses it (never 0); pass it to the _with_hash calls. */
HS_HASH__INLINE uint32_t hs_hash_hash(const hs_hash_t *h, const void *key);

/* Adds key -> value, replacing the value if the key is present. 0, -ENOMEM (table left
 * unchanged) or -EINVAL (hash 0: not a value hs_hash_hash returns). A _with_hash call must
 * be given hs_hash_hash(h, key) of this table. */
int hs_hash_add_with_hash(hs_hash_t *h, const void *key, uint32_t hash, uint64_t value);
/* 0 or -ENOENT. */
int hs_hash_del_with_hash(hs_hash_t *h, const void *key, uint32_t hash);
HS_HASH__INLINE int hs_hash_get_with_hash(const hs_hash_t *h, const void *key, uint32_t hash,
                                          uint64_t *value);

/* Same as the _with_hash calls, hashing the key themselves. */
int hs_hash_add(hs_hash_t *h, const void *key, uint64_t value);
int hs_hash_del(hs_hash_t *h, const void *key);
/* 0 and *value set (when value is not NULL), or -ENOENT. */
HS_HASH__INLINE int hs_hash_get(const hs_hash_t *h, const void *key, uint64_t *value);

static inline uint32_t hs_hash_count(const hs_hash_t *h)
{
    return h->count;
}

static inline uint32_t hs_hash_capacity(const hs_hash_t *h)
{
    return h->mask + 1;
}

void hs_hash_stats(const hs_hash_t *h, hs_hash_stats_t *st);

/* Iteration over slots: first occupied slot >= from, or HS_HASH_INVALID. The table must not
 * change during the walk (collect keys first, then delete). */
uint32_t hs_hash_next(const hs_hash_t *h, uint32_t from);

#define hs_hash_foreach(h, i)                                                                      \
    for (uint32_t i = hs_hash_next((h), 0); i != HS_HASH_INVALID; i = hs_hash_next((h), i + 1))

/* ---- inline hot path and iteration accessors; hs_hash__ names are internal ---- */

static inline uint8_t *hs_hash__slot(const hs_hash_t *h, uint32_t i)
{
    return h->slots + (size_t)i * h->slot_size;
}

static inline uint32_t hs_hash__slot_hash(const hs_hash_t *h, const uint8_t *s)
{
    uint32_t v;
    memcpy(&v, s + h->key_size, 4);
    return v;
}

/* Key of occupied slot i (for iteration). */
static inline const void *hs_hash_slot_key(const hs_hash_t *h, uint32_t i)
{
    return hs_hash__slot(h, i);
}

static inline uint64_t hs_hash_slot_value(const hs_hash_t *h, uint32_t i)
{
    uint64_t v;
    memcpy(&v, hs_hash__slot(h, i) + h->val_off, 8);
    return v;
}

static inline uint64_t hs_hash__ld64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t hs_hash__ld32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* 64x64 -> 128-bit product folded to 64 bits: every output bit depends on every input bit. */
static inline uint64_t hs_hash__mulfold(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* Slot geometry as a function of the key size alone, so that code compiled for a constant
 * size folds it (hash.c keeps the same values in val_off and slot_size). */
#define HS_HASH__VAL_OFF(n)   (((n) + 4 + 7) & ~7u)
#define HS_HASH__SLOT_SIZE(n) (HS_HASH__VAL_OFF(n) + 8)

/* The hash, the probe and the key compare take the key size n as a parameter and are always
 * inlined: called with a constant n they compile to straight-line code. That matters more
 * than it seems. A lookup in a table larger than the caches waits 100-150 ns for its miss,
 * and how many lookups overlap in that time is set by how few instructions each one takes
 * (bench/hash.c, 1M entries: 18 -> 23 Mlookups/s when this replaced out-of-line calls with
 * a variable size). */
HS_HASH__INLINE uint32_t hs_hash__hash_n(const hs_hash_t *h, const uint8_t *p, uint32_t n)
{
    uint64_t acc = h->secret[0] ^ n;
    uint32_t i = 0;
    /* One multiplication per 16 bytes; the running value enters it, so word order matters
     * (src/dst swapped is a different hash). */
    for (; i + 16 <= n; i += 16)
        acc = hs_hash__mulfold(hs_hash__ld64(p + i) ^ h->secret[1], hs_hash__ld64(p + i + 8) ^ acc);
    /* The last 0, 4, 8 or 12 bytes share the final multiplication. */
    uint64_t lo = 0, hi = 0;
    if (n - i >= 8) {
        lo = hs_hash__ld64(p + i);
        hi = n - i == 12 ? hs_hash__ld32(p + i + 8) : 0;
    } else if (n - i == 4) {
        lo = hs_hash__ld32(p + i);
    }
    acc = hs_hash__mulfold(lo ^ h->secret[2], hi ^ acc ^ h->secret[3]);
    uint32_t r = (uint32_t)acc; /* the fold already mixed the high half in */
    return r ? r : 1;           /* 0 marks an empty slot */
}

HS_HASH__INLINE bool hs_hash__key_eq(const uint8_t *a, const uint8_t *b, uint32_t n)
{
    uint64_t diff = 0;
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8)
        diff |= hs_hash__ld64(a + i) ^ hs_hash__ld64(b + i);
    if (i < n)
        diff |= hs_hash__ld32(a + i) ^ hs_hash__ld32(b + i);
    return diff == 0;
}

/* Walks the probe run of a key: true with *pos at the key's slot, or false with *pos at the
 * slot where the key would be inserted. */
HS_HASH__INLINE bool hs_hash__probe_n(const hs_hash_t *h, const void *key, uint32_t hash,
                                      uint32_t *pos, uint32_t n)
{
    uint32_t mask = h->mask, i = hash & mask;
    for (uint32_t d = 0;; i = (i + 1) & mask, d++) {
        const uint8_t *s = h->slots + (size_t)i * HS_HASH__SLOT_SIZE(n);
        uint32_t sh = (uint32_t)hs_hash__ld32(s + n);
        /* Robin Hood: an empty slot, or an entry nearer its home than we are to ours, means
         * the key would have been placed before here. */
        if (sh == 0 || ((i - sh) & mask) < d)
            break;
        if (sh == hash && hs_hash__key_eq(s, key, n)) {
            *pos = i;
            return true;
        }
    }
    *pos = i;
    return false;
}

HS_HASH__INLINE int hs_hash__get_n(const hs_hash_t *h, const void *key, uint32_t hash,
                                   uint64_t *value, uint32_t n)
{
    uint32_t i;
    if (!hs_hash__probe_n(h, key, hash, &i, n))
        return -ENOENT;
    if (value)
        memcpy(value, h->slots + (size_t)i * HS_HASH__SLOT_SIZE(n) + HS_HASH__VAL_OFF(n), 8);
    return 0;
}

/* Starts loading the home slot of a hash. Hash and prefetch a few keys ahead of the lookups
 * (a vector of packets) and their cache misses overlap: about twice the lookups/s of one
 * lookup after another at a million entries (bench/hash.c). */
static inline void hs_hash_prefetch(const hs_hash_t *h, uint32_t hash)
{
    __builtin_prefetch(hs_hash__slot(h, hash & h->mask));
}

/* Each switch below inlines reads of every specialised key size, and GCC, unable to prove
 * the larger cases dead for a smaller key object, warns about them (-Warray-bounds). An
 * empty asm hides which object the pointer came from; it emits no instruction. */
HS_HASH__INLINE const uint8_t *hs_hash__opaque(const void *key)
{
    const uint8_t *p = key;
    __asm__("" : "+r"(p));
    return p;
}

/* The key sizes of hs_hash_key4_t and hs_hash_key6_t get code of their own; the switch costs
 * one predictable branch. */
HS_HASH__INLINE uint32_t hs_hash_hash(const hs_hash_t *h, const void *key_in)
{
    const uint8_t *key = hs_hash__opaque(key_in);
    switch (h->key_size) {
    case sizeof(hs_hash_key4_t):
        return hs_hash__hash_n(h, key, sizeof(hs_hash_key4_t));
    case sizeof(hs_hash_key6_t):
        return hs_hash__hash_n(h, key, sizeof(hs_hash_key6_t));
    default:
        return hs_hash__hash_n(h, key, h->key_size);
    }
}

/* value may be NULL to test presence only. */
HS_HASH__INLINE int hs_hash_get_with_hash(const hs_hash_t *h, const void *key_in, uint32_t hash,
                                          uint64_t *value)
{
    const uint8_t *key = hs_hash__opaque(key_in);
    switch (h->key_size) {
    case sizeof(hs_hash_key4_t):
        return hs_hash__get_n(h, key, hash, value, sizeof(hs_hash_key4_t));
    case sizeof(hs_hash_key6_t):
        return hs_hash__get_n(h, key, hash, value, sizeof(hs_hash_key6_t));
    default:
        return hs_hash__get_n(h, key, hash, value, h->key_size);
    }
}

HS_HASH__INLINE int hs_hash_get(const hs_hash_t *h, const void *key_in, uint64_t *value)
{
    const uint8_t *key = hs_hash__opaque(key_in);
    const uint32_t k4 = sizeof(hs_hash_key4_t), k6 = sizeof(hs_hash_key6_t);
    switch (h->key_size) {
    case sizeof(hs_hash_key4_t):
        return hs_hash__get_n(h, key, hs_hash__hash_n(h, key, k4), value, k4);
    case sizeof(hs_hash_key6_t):
        return hs_hash__get_n(h, key, hs_hash__hash_n(h, key, k6), value, k6);
    default:
        return hs_hash__get_n(h, key, hs_hash__hash_n(h, key, h->key_size), value, h->key_size);
    }
}

#endif
