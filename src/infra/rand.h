/* SplitMix64: a tiny seeded generator and its bit mixer, for reproducible impairments,
 * test patterns and hash secrets. Not cryptographic (SipHash is for that). */
#ifndef HS_INFRA_RAND_H
#define HS_INFRA_RAND_H

#include "infra/common.h"

#define HS_GOLDEN64 0x9e3779b97f4a7c15ull

/* SplitMix64's output function: every input bit reaches every output bit. */
static inline uint64_t hs_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Next value of the sequence seeded by *state. */
static inline uint64_t hs_splitmix64(uint64_t *state)
{
    return hs_mix64(*state += HS_GOLDEN64);
}

#endif
