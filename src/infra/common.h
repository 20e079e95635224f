/* Small shared definitions every layer uses: branch hints, sizes, min/max, alignment.
 * Nothing here allocates or does I/O. */
#ifndef HS_INFRA_COMMON_H
#define HS_INFRA_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <errno.h>

#define HS_CACHE_LINE 64

#define hs_likely(x)   __builtin_expect(!!(x), 1)
#define hs_unlikely(x) __builtin_expect(!!(x), 0)

#define HS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define HS_MIN(a, b)    ((a) < (b) ? (a) : (b))
#define HS_MAX(a, b)    ((a) > (b) ? (a) : (b))

/* Round x up to a multiple of a; a must be a power of two. */
#define HS_ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define HS_IS_POW2(x)     ((x) != 0 && ((x) & ((x)-1)) == 0)

#define HS_CACHE_ALIGNED __attribute__((aligned(HS_CACHE_LINE)))
#define HS_UNUSED        __attribute__((unused))
#define HS_PACKED        __attribute__((packed))

#define HS_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline uint64_t hs_next_pow2_u64(uint64_t x)
{
    if (x <= 1)
        return 1;
    return 1ull << (64 - __builtin_clzll(x - 1));
}

#endif
