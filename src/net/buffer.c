/* Packet buffer pool and per-worker caches. */
#include "net/buffer.h"

#include <stdlib.h>
#include <sys/mman.h>

int hs_buf_pool_init(hs_buf_pool_t *p, uint32_t n_buffers)
{
    memset(p, 0, sizeof(*p));
    if (n_buffers == 0)
        return -EINVAL;
    size_t bytes = (size_t)n_buffers * sizeof(hs_buf_t);
    void *base = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        return -errno;
    p->free_list = malloc(n_buffers * sizeof(uint32_t));
    if (!p->free_list) {
        munmap(base, bytes);
        return -ENOMEM;
    }
    p->base = base;
    p->n_buffers = n_buffers;
    /* Low indices on top of the stack so a light load touches little memory. */
    for (uint32_t i = 0; i < n_buffers; i++)
        p->free_list[i] = n_buffers - 1 - i;
    p->n_free = n_buffers;
    pthread_mutex_init(&p->lock, NULL);
    return 0;
}

void hs_buf_pool_destroy(hs_buf_pool_t *p)
{
    if (p->base)
        munmap(p->base, (size_t)p->n_buffers * sizeof(hs_buf_t));
    free(p->free_list);
    pthread_mutex_destroy(&p->lock);
    memset(p, 0, sizeof(*p));
}

uint32_t hs_buf_pool_n_free(hs_buf_pool_t *p)
{
    pthread_mutex_lock(&p->lock);
    uint32_t n = p->n_free;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void hs_buf_cache_init(hs_buf_cache_t *c, hs_buf_pool_t *p)
{
    c->pool = p;
    c->n = 0;
}

/* Called with an empty cache: takes half a cache's worth so the next spill is far away. */
static void cache_refill(hs_buf_cache_t *c)
{
    hs_buf_pool_t *p = c->pool;
    pthread_mutex_lock(&p->lock);
    uint32_t n = HS_MIN(p->n_free, HS_BUF_CACHE_SIZE / 2);
    p->n_free -= n;
    memcpy(c->idx + c->n, p->free_list + p->n_free, n * sizeof(uint32_t));
    c->n += n;
    pthread_mutex_unlock(&p->lock);
}

static void cache_spill(hs_buf_cache_t *c, uint32_t keep)
{
    hs_buf_pool_t *p = c->pool;
    uint32_t n = c->n - keep;
    pthread_mutex_lock(&p->lock);
    memcpy(p->free_list + p->n_free, c->idx + keep, n * sizeof(uint32_t));
    p->n_free += n;
    pthread_mutex_unlock(&p->lock);
    c->n = keep;
}

void hs_buf_cache_flush(hs_buf_cache_t *c)
{
    if (c->pool && c->n)
        cache_spill(c, 0);
}

uint32_t hs_buf_alloc(hs_buf_cache_t *c, uint32_t *bis, uint32_t n)
{
    uint32_t got = 0;
    while (got < n) {
        if (c->n == 0) {
            cache_refill(c);
            if (c->n == 0) {
                c->pool->alloc_failures++;
                break;
            }
        }
        uint32_t take = HS_MIN(n - got, c->n);
        for (uint32_t i = 0; i < take; i++) {
            uint32_t bi = c->idx[--c->n];
            hs_buf_reset(hs_buf_ptr(c->pool, bi));
            bis[got++] = bi;
        }
    }
    return got;
}

static void cache_put(hs_buf_cache_t *c, uint32_t bi)
{
    if (c->n == HS_BUF_CACHE_SIZE)
        cache_spill(c, HS_BUF_CACHE_SIZE / 2);
    c->idx[c->n++] = bi;
}

void hs_buf_free(hs_buf_cache_t *c, const uint32_t *bis, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint32_t bi = bis[i];
        for (;;) {
            hs_buf_t *b = hs_buf_ptr(c->pool, bi);
            uint32_t next = (b->flags & HS_BUF_F_NEXT) ? b->next : HS_BUF_INVALID;
            cache_put(c, bi);
            if (next == HS_BUF_INVALID)
                break;
            bi = next;
        }
    }
}

uint32_t hs_buf_copy_out(const hs_buf_pool_t *p, hs_buf_t *b, uint8_t *out, uint32_t max)
{
    uint32_t done = 0;
    for (;;) {
        uint32_t n = HS_MIN((uint32_t)b->current_length, max - done);
        memcpy(out + done, hs_buf_cur(b), n);
        done += n;
        if (done == max || !(b->flags & HS_BUF_F_NEXT))
            return done;
        b = hs_buf_ptr(p, b->next);
    }
}

uint32_t hs_buf_from_bytes(hs_buf_cache_t *c, const uint8_t *data, uint32_t len)
{
    uint32_t first = HS_BUF_INVALID;
    hs_buf_t *prev = NULL, *head = NULL;
    uint32_t off = 0;
    do {
        uint32_t bi;
        if (hs_buf_alloc(c, &bi, 1) != 1) {
            if (first != HS_BUF_INVALID)
                hs_buf_free(c, &first, 1);
            return HS_BUF_INVALID;
        }
        hs_buf_t *b = hs_buf_ptr(c->pool, bi);
        uint32_t room = first == HS_BUF_INVALID ? HS_BUF_DATA_SIZE : sizeof(b->data);
        if (first != HS_BUF_INVALID)
            b->current_data = 0; /* only the first buffer needs headroom */
        uint32_t n = HS_MIN(room, len - off);
        memcpy(hs_buf_cur(b), data + off, n);
        b->current_length = (uint16_t)n;
        off += n;
        if (prev) {
            prev->flags |= HS_BUF_F_NEXT;
            prev->next = bi;
            head->chain_rest_len += n;
        } else {
            first = bi;
            head = b;
        }
        prev = b;
    } while (off < len);
    return first;
}
