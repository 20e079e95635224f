/* SipHash-2-4, written from the algorithm in the paper: four 64-bit lanes initialised from
 * the key and constants, two SipRounds per 8-byte block, four finalisation rounds. */
#include "infra/siphash.h"

#include <string.h>

typedef struct {
    uint64_t v0, v1, v2, v3;
} sip_state_t;

static inline uint64_t rotl(uint64_t x, unsigned b)
{
    return (x << b) | (x >> (64 - b));
}

static inline uint64_t load_le64(const uint8_t *p)
{
    uint64_t x;
    memcpy(&x, p, sizeof(x));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    return x;
}

static inline void sip_round(sip_state_t *s)
{
    s->v0 += s->v1;
    s->v1 = rotl(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = rotl(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = rotl(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = rotl(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = rotl(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = rotl(s->v2, 32);
}

static inline void sip_init(sip_state_t *s, const uint8_t *key)
{
    uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
    /* The constants spell "somepseudorandomlygeneratedbytes". */
    s->v0 = k0 ^ 0x736f6d6570736575ull;
    s->v1 = k1 ^ 0x646f72616e646f6dull;
    s->v2 = k0 ^ 0x6c7967656e657261ull;
    s->v3 = k1 ^ 0x7465646279746573ull;
}

/* Compression: c = 2 rounds per message word. */
static inline void sip_compress(sip_state_t *s, uint64_t m)
{
    s->v3 ^= m;
    sip_round(s);
    sip_round(s);
    s->v0 ^= m;
}

/* Finalisation: d = 4 rounds after xoring 0xff into v2. */
static inline uint64_t sip_finish(sip_state_t *s)
{
    s->v2 ^= 0xff;
    sip_round(s);
    sip_round(s);
    sip_round(s);
    sip_round(s);
    return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

uint64_t hs_siphash24(const uint8_t key[HS_SIPHASH_KEY_LEN], const void *data, size_t len)
{
    const uint8_t *p = data;
    sip_state_t s;
    sip_init(&s, key);

    size_t full = len & ~(size_t)7;
    for (size_t i = 0; i < full; i += 8)
        sip_compress(&s, load_le64(p + i));

    /* Last block: the remaining 0..7 bytes little-endian, length mod 256 in the top byte. */
    uint64_t last = (uint64_t)(len & 0xff) << 56;
    for (size_t i = 0; i < (len & 7); i++)
        last |= (uint64_t)p[full + i] << (8 * i);
    sip_compress(&s, last);
    return sip_finish(&s);
}

uint64_t hs_siphash24_u64s(const uint8_t key[HS_SIPHASH_KEY_LEN], const uint64_t *words, size_t n)
{
    sip_state_t s;
    sip_init(&s, key);
    for (size_t i = 0; i < n; i++)
        sip_compress(&s, words[i]);
    sip_compress(&s, (uint64_t)((n * 8) & 0xff) << 56);
    return sip_finish(&s);
}
