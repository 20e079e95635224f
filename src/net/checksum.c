/* Internet checksum bulk sums: 64-bit loads into a 128-bit accumulator (the carries are
 * collected in the high half and folded once at the end). */
#include "net/checksum.h"

#include <string.h>

static inline uint64_t ld64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

uint64_t hs_csum_add(uint64_t sum, const void *data, size_t len)
{
    const uint8_t *p = data;
    __uint128_t acc = sum;
    /* Four independent loads per step let the adds overlap; the 128-bit accumulator cannot
     * overflow before 2^64 additions. */
    for (; len >= 32; len -= 32, p += 32)
        acc += (__uint128_t)ld64(p) + ld64(p + 8) + (__uint128_t)ld64(p + 16) + ld64(p + 24);
    for (; len >= 8; len -= 8, p += 8)
        acc += ld64(p);
    if (len >= 4) {
        uint32_t w;
        memcpy(&w, p, 4);
        acc += w;
        p += 4, len -= 4;
    }
    if (len >= 2) {
        uint16_t w;
        memcpy(&w, p, 2);
        acc += w;
        p += 2, len -= 2;
    }
    if (len) {
        uint16_t w = 0; /* a trailing byte is padded with zero (RFC 1071) */
        memcpy(&w, p, 1);
        acc += w;
    }
    return hs_csum_combine((uint64_t)acc, (uint64_t)(acc >> 64));
}

uint64_t hs_csum_chain(const hs_buf_pool_t *p, const hs_buf_t *b, uint32_t offset, uint32_t len,
                       uint64_t sum)
{
    uint32_t done = 0;
    for (;;) {
        uint32_t have = b->current_length;
        if (offset < have) {
            uint32_t n = HS_MIN(have - offset, len - done);
            sum = hs_csum_add_at(sum, b->data + b->current_data + offset, n, done);
            done += n;
            offset = 0;
        } else {
            offset -= have;
        }
        if (done == len || !(b->flags & HS_BUF_F_NEXT))
            return sum;
        b = hs_buf_ptr(p, b->next);
    }
}
