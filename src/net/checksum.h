/* The Internet checksum (RFC 1071): sums over buffers and buffer chains, incremental
 * update (RFC 1624) and the IPv4 pseudo-header sum for TCP and UDP.
 *
 * Sums are taken over the bytes as they sit in memory (native 16-bit loads): the one's
 * complement sum is byte-order independent (RFC 1071 2(B)), so a finished checksum is
 * stored into a header as is, with no byte swap. A partial sum is a uint64_t that is only
 * meaningful to hs_csum_* calls; hs_csum_finish turns it into the field value. */
#ifndef HS_NET_CHECKSUM_H
#define HS_NET_CHECKSUM_H

#include "infra/common.h"
#include "net/buffer.h"

#include <arpa/inet.h>

/* Adds len bytes at data to a partial sum. data is taken to start at an even offset of the
 * message being summed (use hs_csum_add_at for an odd one). */
uint64_t hs_csum_add(uint64_t sum, const void *data, size_t len);

/* Adds len bytes of a packet, starting offset bytes after the current position of b and
 * following its chain; stops early at the end of the packet. */
uint64_t hs_csum_chain(const hs_buf_pool_t *p, const hs_buf_t *b, uint32_t offset, uint32_t len,
                       uint64_t sum);

/* One's complement addition of two partial sums. */
static inline uint64_t hs_csum_combine(uint64_t a, uint64_t b)
{
    uint64_t s = a + b;
    return s + (s < b); /* end-around carry */
}

/* Folds a partial sum to 16 bits (not complemented). */
static inline uint16_t hs_csum_fold(uint64_t sum)
{
    sum = (sum & 0xffffffffu) + (sum >> 32);
    sum = (sum & 0xffffffffu) + (sum >> 32);
    sum = (sum & 0xffffu) + (sum >> 16);
    sum = (sum & 0xffffu) + (sum >> 16);
    return (uint16_t)sum;
}

/* The value to store in a checksum field. */
static inline uint16_t hs_csum_finish(uint64_t sum)
{
    return (uint16_t)~hs_csum_fold(sum);
}

/* A partial sum of data that sits at an odd offset of the message: its bytes pair up the
 * other way round, so the folded sum is byte-swapped. */
static inline uint64_t hs_csum_add_at(uint64_t sum, const void *data, size_t len, size_t offset)
{
    uint64_t s = hs_csum_add(0, data, len);
    if (offset & 1)
        s = __builtin_bswap16(hs_csum_fold(s));
    return hs_csum_combine(sum, s);
}

/* The checksum of a buffer (e.g. an IP header with its checksum field zeroed). A buffer
 * that includes a correct checksum field gives 0. */
static inline uint16_t hs_csum(const void *data, size_t len)
{
    return hs_csum_finish(hs_csum_add(0, data, len));
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), updating checksum hc for a 16-bit word that
 * changed from old_w to new_w (all three as stored in the packet). */
static inline uint16_t hs_csum_update16(uint16_t hc, uint16_t old_w, uint16_t new_w)
{
    uint32_t s = (uint32_t)(uint16_t)~hc + (uint16_t)~old_w + new_w;
    s = (s & 0xffffu) + (s >> 16);
    s = (s & 0xffffu) + (s >> 16);
    return (uint16_t)~s;
}

/* The same for a 32-bit field (an address), as stored in the packet. */
static inline uint16_t hs_csum_update32(uint16_t hc, uint32_t old_w, uint32_t new_w)
{
    hc = hs_csum_update16(hc, (uint16_t)old_w, (uint16_t)new_w);
    return hs_csum_update16(hc, (uint16_t)(old_w >> 16), (uint16_t)(new_w >> 16));
}

/* Partial sum of the IPv4 pseudo-header (RFC 793 3.1, RFC 768): addresses in host byte
 * order, the protocol and the transport length (header + data). Seed the transport
 * checksum with it. */
static inline uint64_t hs_csum_pseudo4(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
    return (uint64_t)htonl(src) + htonl(dst) + htons(proto) + htons(len);
}

#endif
