/* Index-based object pool with stable element addresses and per-slot generations. */
#include "infra/pool.h"

#include <stdlib.h>
#include <string.h>

#define POOL_CHUNK_BYTES (64 * 1024)
#define POOL_MAX_ELEMS   (1u << 31)

int hs_pool_init(hs_pool_t *p, uint32_t elem_size, uint32_t max_elems)
{
    memset(p, 0, sizeof(*p));
    if (elem_size == 0 || max_elems > POOL_MAX_ELEMS)
        return -EINVAL;
    p->elem_size = elem_size;
    p->max_elems = max_elems ? max_elems : POOL_MAX_ELEMS;
    /* Chunks of about 64 KiB, at least 16 elements, so small pools stay small. */
    uint32_t per_chunk = HS_MAX(16u, POOL_CHUNK_BYTES / elem_size);
    p->chunk_shift = 63 - __builtin_clzll(hs_next_pow2_u64(per_chunk));
    return 0;
}

void hs_pool_destroy(hs_pool_t *p)
{
    for (uint32_t i = 0; i < p->n_chunks; i++)
        free(p->chunks[i]);
    free(p->chunks);
    free(p->gens);
    free(p->free_list);
    memset(p, 0, sizeof(*p));
}

static int pool_add_chunk(hs_pool_t *p)
{
    uint32_t per_chunk = 1u << p->chunk_shift;
    uint64_t new_cap = (uint64_t)(p->n_chunks + 1) * per_chunk;

    uint8_t **chunks = realloc(p->chunks, (p->n_chunks + 1) * sizeof(*chunks));
    if (!chunks)
        return -ENOMEM;
    p->chunks = chunks;
    uint32_t *gens = realloc(p->gens, new_cap * sizeof(*gens));
    if (!gens)
        return -ENOMEM;
    p->gens = gens;
    memset(gens + new_cap - per_chunk, 0, per_chunk * sizeof(*gens));
    uint32_t *fl = realloc(p->free_list, new_cap * sizeof(*fl));
    if (!fl)
        return -ENOMEM;
    p->free_list = fl;
    uint8_t *chunk = malloc((size_t)per_chunk * p->elem_size);
    if (!chunk)
        return -ENOMEM;
    p->chunks[p->n_chunks++] = chunk;
    return 0;
}

void *hs_pool_get(hs_pool_t *p, uint32_t *index)
{
    uint32_t i;
    if (p->n_free) {
        i = p->free_list[--p->n_free];
    } else {
        if (p->high >= p->max_elems)
            return NULL;
        if (p->high == (p->n_chunks << p->chunk_shift) && pool_add_chunk(p) < 0)
            return NULL;
        i = p->high++;
    }
    p->gens[i]++; /* even (free) -> odd (used) */
    p->n_used++;
    void *e = hs_pool_elt(p, i);
    memset(e, 0, p->elem_size);
    *index = i;
    return e;
}

int hs_pool_put(hs_pool_t *p, uint32_t index)
{
    if (!hs_pool_is_used(p, index))
        return -EINVAL;
    p->gens[index]++; /* odd -> even */
    p->free_list[p->n_free++] = index;
    p->n_used--;
    return 0;
}

uint32_t hs_pool_next(const hs_pool_t *p, uint32_t from)
{
    for (uint32_t i = from; i < p->high; i++)
        if (p->gens[i] & 1)
            return i;
    return HS_POOL_INVALID;
}
