/* Growable array of fixed-size elements. */
#include "infra/vec.h"

#include <stdlib.h>
#include <string.h>

void hs_vec_init(hs_vec_t *v, uint32_t elem_size)
{
    *v = (hs_vec_t){.elem_size = elem_size};
}

void hs_vec_free(hs_vec_t *v)
{
    free(v->data);
    v->data = NULL;
    v->len = v->cap = 0;
}

int hs_vec_reserve(hs_vec_t *v, uint32_t cap)
{
    if (cap <= v->cap)
        return 0;
    uint64_t n = HS_MAX((uint64_t)cap, (uint64_t)v->cap * 2);
    n = HS_MAX(n, 8);
    if (n > UINT32_MAX)
        n = UINT32_MAX;
    void *d = realloc(v->data, n * v->elem_size);
    if (!d)
        return -ENOMEM;
    v->data = d;
    v->cap = (uint32_t)n;
    return 0;
}

void *hs_vec_push(hs_vec_t *v, const void *elem)
{
    /* elem may point into v itself (pushing a copy of an element): growing moves it. */
    uintptr_t d = (uintptr_t)v->data, src = (uintptr_t)elem;
    bool inside = elem && src >= d && src < d + (size_t)v->len * v->elem_size;
    if (v->len == UINT32_MAX || hs_vec_reserve(v, v->len + 1) < 0)
        return NULL;
    if (inside)
        elem = (const uint8_t *)v->data + (src - d);
    void *e = hs_vec_at(v, v->len++);
    if (elem)
        memcpy(e, elem, v->elem_size);
    else
        memset(e, 0, v->elem_size);
    return e;
}

bool hs_vec_pop(hs_vec_t *v, void *out)
{
    if (!v->len)
        return false;
    v->len--;
    if (out)
        memcpy(out, hs_vec_at(v, v->len), v->elem_size);
    return true;
}

void hs_vec_del_swap(hs_vec_t *v, uint32_t i)
{
    if (i >= v->len)
        return;
    if (i + 1 != v->len)
        memcpy(hs_vec_at(v, i), hs_vec_at(v, v->len - 1), v->elem_size);
    v->len--;
}

void hs_vec_del_ordered(hs_vec_t *v, uint32_t i)
{
    if (i >= v->len)
        return;
    memmove(hs_vec_at(v, i), hs_vec_at(v, i + 1), (size_t)(v->len - i - 1) * v->elem_size);
    v->len--;
}

int hs_vec_resize(hs_vec_t *v, uint32_t n)
{
    if (n > v->len) {
        if (hs_vec_reserve(v, n) < 0)
            return -ENOMEM;
        memset(hs_vec_at(v, v->len), 0, (size_t)(n - v->len) * v->elem_size);
    }
    v->len = n;
    return 0;
}
