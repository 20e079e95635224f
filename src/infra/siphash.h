/* SipHash-2-4 (Aumasson & Bernstein, 2012), 64-bit output: a keyed hash for flow tables
 * whose inputs come from the network, so collisions cannot be forced without the key. */
#ifndef HS_INFRA_SIPHASH_H
#define HS_INFRA_SIPHASH_H

#include "infra/common.h"

#define HS_SIPHASH_KEY_LEN 16

/* SipHash-2-4 of len bytes at data under a 16-byte key (k0 = bytes 0..7 and k1 = bytes
 * 8..15, both little-endian, as in the paper). */
uint64_t hs_siphash24(const uint8_t key[HS_SIPHASH_KEY_LEN], const void *data, size_t len);

/* SipHash-2-4 of n 64-bit words, equal to hs_siphash24 over their little-endian bytes
 * (8 * n bytes) but without byte handling: the fast path for hashing 5-tuples. */
uint64_t hs_siphash24_u64s(const uint8_t key[HS_SIPHASH_KEY_LEN], const uint64_t *words, size_t n);

#endif
