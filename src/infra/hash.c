/* Robin Hood hash table (see hash.h for the design): sizing, slot memory, growth, insertion
 * by shifting the probe run forward and deletion by shifting it back. */
#include "infra/hash.h"
#include "infra/rand.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HASH_MIN_CAP 8u
/* Slot arrays from 2 MiB up come from mmap, aligned to and advised for transparent huge
 * pages: with 4 KiB pages a table of millions of entries pays a TLB miss on top of the
 * cache miss of nearly every lookup. */
#define HASH_HUGE_BYTES ((size_t)2 << 20)

static size_t slots_bytes(uint64_t cap, uint32_t slot_size)
{
    return (size_t)cap * slot_size;
}

static uint8_t *slots_alloc(size_t bytes)
{
    if (bytes < HASH_HUGE_BYTES) {
        /* cap >= 8 and slot_size a multiple of 8: bytes is a multiple of the alignment */
        uint8_t *p = aligned_alloc(HS_CACHE_LINE, bytes);
        if (p)
            memset(p, 0, bytes);
        return p;
    }
    /* Over-map by one huge page and trim, so the array starts on a 2 MiB boundary. */
    size_t len = bytes + HASH_HUGE_BYTES;
    uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    uint8_t *p = (uint8_t *)HS_ALIGN_UP((uintptr_t)m, HASH_HUGE_BYTES);
    if (p > m)
        munmap(m, p - m);
    size_t tail = (m + len) - (p + bytes);
    if (tail)
        munmap(p + bytes, tail);
    madvise(p, bytes, MADV_HUGEPAGE); /* advice only: small pages work too */
    return p;                         /* anonymous memory is zero-filled */
}

static void slots_free(uint8_t *p, size_t bytes)
{
    if (!p)
        return;
    if (bytes < HASH_HUGE_BYTES)
        free(p);
    else
        munmap(p, bytes);
}

/* Smallest power-of-two capacity that holds n entries at load <= 3/4, or 0 if too large. */
static uint64_t cap_for(uint64_t n)
{
    uint64_t cap = hs_next_pow2_u64((n * 4 + 2) / 3);
    cap = HS_MAX(cap, (uint64_t)HASH_MIN_CAP);
    return cap > HS_HASH_MAX_CAP ? 0 : cap;
}

/* Points h at a fresh zeroed array of cap slots (the old one is the caller's to free). */
static int table_alloc(hs_hash_t *h, uint64_t cap)
{
    uint8_t *s = slots_alloc(slots_bytes(cap, h->slot_size));
    if (!s)
        return -ENOMEM;
    h->slots = s;
    h->mask = (uint32_t)(cap - 1);
    h->grow_at = (uint32_t)(cap / 4 * 3);
    h->count = 0;
    return 0;
}

int hs_hash_init(hs_hash_t *h, uint32_t key_size, uint32_t initial_capacity, uint64_t seed)
{
    memset(h, 0, sizeof(*h));
    if (key_size < HS_HASH_KEY_MIN || key_size > HS_HASH_KEY_MAX || key_size % 4)
        return -EINVAL;
    uint64_t cap = cap_for(initial_capacity);
    if (!cap)
        return -EINVAL;
    h->key_size = key_size;
    h->val_off = HS_HASH__VAL_OFF(key_size); /* the layout the inline lookup assumes */
    h->slot_size = HS_HASH__SLOT_SIZE(key_size);
    for (size_t i = 0; i < HS_ARRAY_LEN(h->secret); i++)
        h->secret[i] = hs_splitmix64(&seed) | 1; /* odd: never a zero factor on its own */
    return table_alloc(h, cap);
}

void hs_hash_destroy(hs_hash_t *h)
{
    if (h->slots)
        slots_free(h->slots, slots_bytes((uint64_t)h->mask + 1, h->slot_size));
    memset(h, 0, sizeof(*h));
}

static void slot_write(const hs_hash_t *h, uint8_t *s, const void *key, uint32_t hash,
                       uint64_t value)
{
    memcpy(s, key, h->key_size);
    memcpy(s + h->key_size, &hash, 4);
    memcpy(s + h->val_off, &value, 8);
}

/* Puts an absent key at slot i, where its probe stopped: the entries from i to the end of
 * the run move one slot on. Every run stays sorted by home slot, which is the Robin Hood
 * order (each moved entry was nearer its home than the new one is to its own). */
static void insert_at(hs_hash_t *h, uint32_t i, const void *key, uint32_t hash, uint64_t value)
{
    uint32_t mask = h->mask, e = i;
    while (hs_hash__slot_hash(h, hs_hash__slot(h, e)) != 0)
        e = (e + 1) & mask;
    for (; e != i; e = (e - 1) & mask)
        memcpy(hs_hash__slot(h, e), hs_hash__slot(h, (e - 1) & mask), h->slot_size);
    slot_write(h, hs_hash__slot(h, i), key, hash, value);
    h->count++;
}

/* The probe for add and del, with the key-struct sizes compiled for their size as in the
 * lookup path. */
static bool probe(const hs_hash_t *h, const void *key, uint32_t hash, uint32_t *pos)
{
    switch (h->key_size) {
    case sizeof(hs_hash_key4_t):
        return hs_hash__probe_n(h, key, hash, pos, sizeof(hs_hash_key4_t));
    case sizeof(hs_hash_key6_t):
        return hs_hash__probe_n(h, key, hash, pos, sizeof(hs_hash_key6_t));
    default:
        return hs_hash__probe_n(h, key, hash, pos, h->key_size);
    }
}

/* Where an entry known to be absent goes: the probe without key compares. */
static uint32_t insert_pos(const hs_hash_t *h, uint32_t hash)
{
    uint32_t mask = h->mask, i = hash & mask;
    for (uint32_t d = 0;; i = (i + 1) & mask, d++) {
        uint32_t sh = hs_hash__slot_hash(h, hs_hash__slot(h, i));
        if (sh == 0 || ((i - sh) & mask) < d)
            return i;
    }
}

/* Moves every entry into a new array of cap slots. On -ENOMEM the table is unchanged. */
static int rehash(hs_hash_t *h, uint64_t cap)
{
    hs_hash_t n = *h;
    if (table_alloc(&n, cap) < 0)
        return -ENOMEM;
    for (uint32_t i = 0; i <= h->mask; i++) {
        const uint8_t *s = hs_hash__slot(h, i);
        uint32_t sh = hs_hash__slot_hash(h, s);
        if (sh) {
            uint64_t v = hs_hash_slot_value(h, i);
            insert_at(&n, insert_pos(&n, sh), s, sh, v);
        }
    }
    slots_free(h->slots, slots_bytes((uint64_t)h->mask + 1, h->slot_size));
    *h = n;
    return 0;
}

int hs_hash_reserve(hs_hash_t *h, uint32_t n)
{
    uint64_t cap = cap_for(n);
    if (!h->slots)
        return -EINVAL;
    if (!cap)
        return -ENOMEM;
    return cap > (uint64_t)h->mask + 1 ? rehash(h, cap) : 0;
}

int hs_hash_add_with_hash(hs_hash_t *h, const void *key, uint32_t hash, uint64_t value)
{
    if (hash == 0 || !h->slots)
        return -EINVAL;
    uint32_t i;
    if (probe(h, key, hash, &i)) {
        memcpy(hs_hash__slot(h, i) + h->val_off, &value, 8);
        return 0;
    }
    if (h->count >= h->grow_at) {
        uint64_t cap = ((uint64_t)h->mask + 1) * 2;
        if (cap > HS_HASH_MAX_CAP || rehash(h, cap) < 0)
            return -ENOMEM;
        i = insert_pos(h, hash);
    }
    insert_at(h, i, key, hash, value);
    return 0;
}

/* Backward-shift deletion: the entries after i that are not at their home slot move one
 * slot back, so the run stays gap-free and sorted by home slot. No tombstones, so lookups
 * never slow down under churn. */
static void remove_at(hs_hash_t *h, uint32_t i)
{
    uint32_t mask = h->mask;
    for (;;) {
        uint32_t next = (i + 1) & mask;
        const uint8_t *s = hs_hash__slot(h, next);
        uint32_t sh = hs_hash__slot_hash(h, s);
        if (sh == 0 || ((next - sh) & mask) == 0)
            break;
        memcpy(hs_hash__slot(h, i), s, h->slot_size);
        i = next;
    }
    memset(hs_hash__slot(h, i), 0, h->slot_size);
    h->count--;
}

int hs_hash_del_with_hash(hs_hash_t *h, const void *key, uint32_t hash)
{
    uint32_t i;
    if (!h->slots || !probe(h, key, hash, &i))
        return -ENOENT;
    remove_at(h, i);
    return 0;
}

int hs_hash_add(hs_hash_t *h, const void *key, uint64_t value)
{
    return hs_hash_add_with_hash(h, key, hs_hash_hash(h, key), value);
}

int hs_hash_del(hs_hash_t *h, const void *key)
{
    return hs_hash_del_with_hash(h, key, hs_hash_hash(h, key));
}

uint32_t hs_hash_next(const hs_hash_t *h, uint32_t from)
{
    if (!h->slots)
        return HS_HASH_INVALID;
    for (uint64_t i = from; i <= h->mask; i++)
        if (hs_hash__slot_hash(h, hs_hash__slot(h, (uint32_t)i)) != 0)
            return (uint32_t)i;
    return HS_HASH_INVALID;
}

void hs_hash_stats(const hs_hash_t *h, hs_hash_stats_t *st)
{
    uint64_t sum = 0;
    *st = (hs_hash_stats_t){.count = h->count, .capacity = h->mask + 1};
    st->bytes = slots_bytes((uint64_t)h->mask + 1, h->slot_size);
    hs_hash_foreach(h, i)
    {
        uint32_t d = (i - hs_hash__slot_hash(h, hs_hash__slot(h, i))) & h->mask;
        sum += d;
        st->max_probe = HS_MAX(st->max_probe, d);
    }
    st->mean_probe = h->count ? (double)sum / h->count : 0.0;
}
