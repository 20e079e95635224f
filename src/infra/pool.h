/* Index-based object pool: O(1) get/put through a free list, elements that never move
 * (chunked storage), and a generation per slot so stale handles are detected. */
#ifndef HS_INFRA_POOL_H
#define HS_INFRA_POOL_H

#include "infra/common.h"

#define HS_POOL_INVALID UINT32_MAX

/* A slot's generation is odd while the slot is in use and even while it is free; it is
 * bumped on every get and put, so a handle (generation << 32 | index) taken before a put
 * never matches again. */
typedef struct {
    uint8_t **chunks;    /* chunks[i] holds 1 << chunk_shift elements */
    uint32_t *gens;      /* generation per slot, grown with chunks */
    uint32_t *free_list; /* stack of free slot indices */
    uint32_t n_free;
    uint32_t n_chunks;
    uint32_t high; /* slots ever handed out: [0, high) are valid indices */
    uint32_t n_used;
    uint32_t elem_size;
    uint32_t chunk_shift;
    uint32_t max_elems; /* hard cap; get fails with NULL beyond it */
} hs_pool_t;

/* max_elems 0 means "up to 2^31". Returns 0 or -EINVAL. */
int hs_pool_init(hs_pool_t *p, uint32_t elem_size, uint32_t max_elems);
void hs_pool_destroy(hs_pool_t *p);

/* Takes a slot, zero-filled. Returns its address and stores its index, or NULL when the
 * pool is at max_elems or memory is exhausted. */
void *hs_pool_get(hs_pool_t *p, uint32_t *index);
/* Returns a slot to the pool. Putting a free or out-of-range index is a no-op that
 * returns -EINVAL (a double put is a caller bug, caught rather than corrupting the list). */
int hs_pool_put(hs_pool_t *p, uint32_t index);

static inline void *hs_pool_elt(const hs_pool_t *p, uint32_t index)
{
    uint32_t mask = (1u << p->chunk_shift) - 1;
    return p->chunks[index >> p->chunk_shift] + (size_t)(index & mask) * p->elem_size;
}

static inline bool hs_pool_is_used(const hs_pool_t *p, uint32_t index)
{
    return index < p->high && (p->gens[index] & 1);
}

/* Element or NULL when the index is free or out of range. */
static inline void *hs_pool_elt_checked(const hs_pool_t *p, uint32_t index)
{
    return hs_pool_is_used(p, index) ? hs_pool_elt(p, index) : NULL;
}

static inline uint32_t hs_pool_gen(const hs_pool_t *p, uint32_t index)
{
    return p->gens[index];
}

static inline uint64_t hs_pool_handle(const hs_pool_t *p, uint32_t index)
{
    return ((uint64_t)p->gens[index] << 32) | index;
}

/* Element named by a handle, or NULL when the handle is stale or invalid. */
static inline void *hs_pool_from_handle(const hs_pool_t *p, uint64_t handle)
{
    uint32_t index = (uint32_t)handle;
    if (!hs_pool_is_used(p, index) || p->gens[index] != (uint32_t)(handle >> 32))
        return NULL;
    return hs_pool_elt(p, index);
}

static inline uint32_t hs_pool_count(const hs_pool_t *p)
{
    return p->n_used;
}

/* Iteration: first used index >= from, or HS_POOL_INVALID. */
uint32_t hs_pool_next(const hs_pool_t *p, uint32_t from);

#define hs_pool_foreach(p, i)                                                                      \
    for (uint32_t i = hs_pool_next((p), 0); i != HS_POOL_INVALID; i = hs_pool_next((p), i + 1))

#endif
