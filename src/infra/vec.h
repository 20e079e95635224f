/* Growable array of fixed-size elements (amortised O(1) push). Elements move when the
 * array grows: keep indices, not pointers, across pushes. */
#ifndef HS_INFRA_VEC_H
#define HS_INFRA_VEC_H

#include "infra/common.h"

typedef struct {
    void *data;
    uint32_t len;
    uint32_t cap;
    uint32_t elem_size;
} hs_vec_t;

#define HS_VEC_INIT(type) ((hs_vec_t){.elem_size = sizeof(type)})

void hs_vec_init(hs_vec_t *v, uint32_t elem_size);
void hs_vec_free(hs_vec_t *v);
/* Makes room for at least cap elements. 0 or -ENOMEM. */
int hs_vec_reserve(hs_vec_t *v, uint32_t cap);
/* Appends one element copied from elem (zero-filled when elem is NULL). Returns the new
 * element's address, or NULL on -ENOMEM. */
void *hs_vec_push(hs_vec_t *v, const void *elem);
/* Copies the last element to out (when not NULL) and removes it. false when empty. */
bool hs_vec_pop(hs_vec_t *v, void *out);
/* Removes element i by moving the last one into its place (order not kept). */
void hs_vec_del_swap(hs_vec_t *v, uint32_t i);
/* Removes element i keeping order (O(n)). */
void hs_vec_del_ordered(hs_vec_t *v, uint32_t i);
/* Sets the length to n, zero-filling new elements. 0 or -ENOMEM. */
int hs_vec_resize(hs_vec_t *v, uint32_t n);

static inline void *hs_vec_at(const hs_vec_t *v, uint32_t i)
{
    return (uint8_t *)v->data + (size_t)i * v->elem_size;
}

static inline void hs_vec_clear(hs_vec_t *v)
{
    v->len = 0;
}

/* Typed element access: HS_VEC_ELT(&v, uint32_t, i) */
#define HS_VEC_ELT(v, type, i) (((type *)(v)->data)[i])

#endif
