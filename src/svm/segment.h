/* Shared-memory segments: a sealed memfd with a header and a size-class allocator, mapped
 * by several processes at different addresses, so everything inside refers by offset. */
#ifndef HS_SVM_SEGMENT_H
#define HS_SVM_SEGMENT_H

#include "infra/common.h"

#define HS_SEGMENT_MAGIC   0x544e4d4745535348ull /* "HSSEGMNT" read little-endian */
#define HS_SEGMENT_VERSION 1u

/* Size classes are powers of two, 64 B .. 64 MiB of payload. A larger object needs a
 * segment of its own. */
#define HS_SEGMENT_MIN_SHIFT 6
#define HS_SEGMENT_MAX_SHIFT 26
#define HS_SEGMENT_N_CLASSES (HS_SEGMENT_MAX_SHIFT - HS_SEGMENT_MIN_SHIFT + 1)
#define HS_SEGMENT_MAX_ALLOC (1ull << HS_SEGMENT_MAX_SHIFT)

/* Every block starts with a header of one cache line, so every offset the allocator
 * returns is cache-line aligned (rings put producer and consumer indices on their own
 * lines). */
#define HS_SEGMENT_BLOCK_HDR HS_CACHE_LINE

/* The header at offset 0 of every segment. The allocator fields are written only by the
 * owner; peers see them but must not rely on them. */
typedef struct {
    uint64_t magic;
    uint32_t version;
    uint32_t hdr_size; /* sizeof(hs_segment_hdr_t): a different layout is refused */
    uint64_t size;     /* total bytes; equals the memfd's size */
    char name[48];     /* for `show segments`; NUL-terminated */

    /* allocator state, by offset (0 = none) */
    uint64_t data_start; /* first block header */
    uint64_t bump;       /* fresh space begins here and runs to size */
    uint64_t free_head[HS_SEGMENT_N_CLASSES];
    uint64_t bytes_in_use; /* allocated blocks, block headers included */
    uint64_t bytes_listed; /* blocks on free lists, headers included */
    uint64_t n_allocs;
    uint64_t n_frees;
    uint64_t n_alloc_failed;
} hs_segment_hdr_t;

/* A process-local handle on one mapping of a segment. */
typedef struct {
    uint8_t *base;
    uint64_t size; /* private copy: bounds checks never trust the shared header */
    int fd;
    bool is_owner; /* created here: the only handle that may allocate */
} hs_segment_t;

typedef struct {
    uint64_t size;
    uint64_t bytes_in_use; /* allocated blocks, block headers included */
    uint64_t bytes_free;   /* free-listed blocks plus never-used space */
    uint64_t n_allocs;
    uint64_t n_frees;
    uint64_t n_alloc_failed; /* -ENOMEM answers */
} hs_segment_stats_t;

/* Creates a memfd of `size` bytes (rounded up to the page size), sealed against shrinking
 * and growing, maps it and writes the header. The caller becomes the owner. Returns 0 or
 * -EINVAL (size too small or too big) or the -errno of memfd_create/ftruncate/mmap. */
int hs_segment_create(hs_segment_t *s, const char *name, size_t size);

/* Maps a segment received from its owner. Validates before trusting anything: the fd must
 * be a memfd sealed against shrinking and at least a header long (-EINVAL), the header's
 * magic, version and layout must match (-EPROTO), and its size and allocator bounds must
 * agree with fstat (-EINVAL). On success the handle owns fd (detach closes it); on failure
 * the caller still owns fd. */
int hs_segment_attach(hs_segment_t *s, int fd);

/* Unmaps and closes the fd. Safe on a zeroed or already detached handle. */
void hs_segment_detach(hs_segment_t *s);

static inline int hs_segment_fd(const hs_segment_t *s)
{
    return s->fd;
}

static inline uint64_t hs_segment_size(const hs_segment_t *s)
{
    return s->size;
}

static inline const hs_segment_hdr_t *hs_segment_hdr(const hs_segment_t *s)
{
    return (const hs_segment_hdr_t *)s->base;
}

/* Offset <-> address within this process's mapping. Unchecked: for offsets this process
 * produced or already validated. */
static inline void *hs_segment_ptr(const hs_segment_t *s, uint64_t off)
{
    return s->base + off;
}

static inline uint64_t hs_segment_off(const hs_segment_t *s, const void *p)
{
    return (uint64_t)((const uint8_t *)p - s->base);
}

/* Address of [off, off + len) or NULL when that range is not inside the segment: for
 * offsets received from a peer. */
static inline void *hs_segment_ptr_checked(const hs_segment_t *s, uint64_t off, uint64_t len)
{
    if (off > s->size || len > s->size - off)
        return NULL;
    return s->base + off;
}

/* The allocator. Contract: only the owner allocates and frees, from one thread at a time
 * (hsd's main thread); there is no locking. Peers map the same memory but never call
 * these. Free lists are validated as they are used, so a peer scribbling on the header
 * or a block makes an allocation fail or a free return -EINVAL, never a wild write.
 *
 * alloc returns the offset of `size` bytes, cache-line aligned, or -ENOMEM when no block of
 * a fitting class is free and the fresh space is used up, -EINVAL for size 0 or above
 * HS_SEGMENT_MAX_ALLOC, -EPERM on a handle that is not the owner. The contents of a block
 * are not cleared (a reused block holds its previous bytes). */
int64_t hs_segment_alloc(hs_segment_t *s, size_t size);

/* Returns the block at `off` to its class's free list. A garbage offset (outside the
 * allocated area, misaligned, no block header there) or a double free returns -EINVAL and
 * changes nothing. -EPERM on a handle that is not the owner. */
int hs_segment_free(hs_segment_t *s, uint64_t off);

/* Usable bytes of the block at `off` (its class size), or -EINVAL as for free. */
int64_t hs_segment_block_size(const hs_segment_t *s, uint64_t off);

void hs_segment_stats(const hs_segment_t *s, hs_segment_stats_t *st);

#endif
