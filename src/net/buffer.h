/* Packet buffers: fixed size (2 KiB data + headroom + metadata), named by a 32-bit index,
 * chained for larger frames; a global pool behind per-worker caches. */
#ifndef HS_NET_BUFFER_H
#define HS_NET_BUFFER_H

#include "infra/common.h"
#include <pthread.h>
#include <string.h>

#define HS_BUF_DATA_SIZE 2048
#define HS_BUF_HEADROOM  128 /* room to prepend headers (ethernet, IP, TCP) in place */
#define HS_BUF_INVALID   UINT32_MAX
#define HS_FRAME_SIZE    256 /* buffers per vector handed to a node */

enum {
    HS_BUF_F_NEXT = 1u << 0,         /* next names the following buffer of the chain */
    HS_BUF_F_TRACED = 1u << 1,       /* packet trace is on for this packet */
    HS_BUF_F_L4_CSUM_OK = 1u << 2,   /* the driver (vnet_hdr) validated the L4 checksum */
    HS_BUF_F_L4_CSUM_TODO = 1u << 3, /* L4 checksum left for the device to fill (offload) */
    HS_BUF_F_LOCALLY_MADE = 1u << 4, /* built by the stack (replies, TCP output) */
};

enum { HS_RX = 0, HS_TX = 1 };

/* Metadata fits one cache line; the headroom and data follow. */
typedef struct hs_buf {
    uint16_t current_data;   /* offset of the current header in data[] */
    uint16_t current_length; /* bytes in this buffer from current_data */
    uint32_t flags;
    uint32_t next;           /* next buffer of the chain when HS_BUF_F_NEXT */
    uint32_t chain_rest_len; /* bytes in the buffers after this one (first buffer only) */
    uint32_t sw_if_index[2]; /* [HS_RX] arrived on, [HS_TX] leaves by */
    uint32_t trace_index;    /* packet trace record when HS_BUF_F_TRACED */
    uint16_t l3_offset;      /* where the IP header starts in data[] (set by ethernet-input) */
    uint16_t l4_offset;      /* where the transport header starts (set by ip4-local) */
    uint16_t csum_start;     /* offload: checksum coverage starts here (from the L3 header) */
    uint16_t csum_offset;    /* offload: where to store it, from csum_start */
    uint16_t gso_size;       /* segment size when the buffer carries a GSO frame */
    uint16_t pad0;
    uint32_t opaque[6]; /* per-layer scratch, see the layer's accessor */
    uint8_t data[HS_BUF_HEADROOM + HS_BUF_DATA_SIZE];
} hs_buf_t;

_Static_assert(offsetof(hs_buf_t, data) == HS_CACHE_LINE, "metadata must fill one cache line");

typedef struct {
    uint8_t *base; /* n_buffers * sizeof(hs_buf_t), page aligned */
    uint32_t n_buffers;
    pthread_mutex_t lock; /* guards free_list: taken only when a worker cache refills/spills */
    uint32_t *free_list;
    uint32_t n_free;
    uint64_t alloc_failures;
} hs_buf_pool_t;

#define HS_BUF_CACHE_SIZE 512 /* per-worker cache; refilled and spilled by halves */

typedef struct {
    hs_buf_pool_t *pool;
    uint32_t n;
    uint32_t idx[HS_BUF_CACHE_SIZE];
} hs_buf_cache_t;

int hs_buf_pool_init(hs_buf_pool_t *p, uint32_t n_buffers);
void hs_buf_pool_destroy(hs_buf_pool_t *p);
uint32_t hs_buf_pool_n_free(hs_buf_pool_t *p);

void hs_buf_cache_init(hs_buf_cache_t *c, hs_buf_pool_t *p);
/* Returns the cache's buffers to the pool (worker exit). */
void hs_buf_cache_flush(hs_buf_cache_t *c);

/* Allocates up to n buffers with fresh metadata; returns how many it got. */
uint32_t hs_buf_alloc(hs_buf_cache_t *c, uint32_t *bis, uint32_t n);
/* Frees n packets, each with its whole chain. */
void hs_buf_free(hs_buf_cache_t *c, const uint32_t *bis, uint32_t n);

static inline hs_buf_t *hs_buf_ptr(const hs_buf_pool_t *p, uint32_t bi)
{
    return (hs_buf_t *)(p->base + (size_t)bi * sizeof(hs_buf_t));
}

static inline uint8_t *hs_buf_cur(hs_buf_t *b)
{
    return b->data + b->current_data;
}

/* Moves the current position forward (strip a header) or back (negative: prepend). The
 * caller checked the bounds (current_length, headroom). */
static inline void hs_buf_advance(hs_buf_t *b, int n)
{
    b->current_data = (uint16_t)(b->current_data + n);
    b->current_length = (uint16_t)(b->current_length - n);
}

static inline uint32_t hs_buf_headroom(const hs_buf_t *b)
{
    return b->current_data;
}

static inline uint32_t hs_buf_tailroom(const hs_buf_t *b)
{
    return sizeof(b->data) - b->current_data - b->current_length;
}

/* Bytes of the whole packet from the current position of the first buffer. */
static inline uint32_t hs_buf_length(const hs_buf_t *b)
{
    return b->current_length + ((b->flags & HS_BUF_F_NEXT) ? b->chain_rest_len : 0);
}

static inline void hs_buf_reset(hs_buf_t *b)
{
    memset(b, 0, offsetof(hs_buf_t, data));
    b->current_data = HS_BUF_HEADROOM;
    b->next = HS_BUF_INVALID;
    b->sw_if_index[HS_RX] = b->sw_if_index[HS_TX] = UINT32_MAX;
}

/* Copies the packet (whole chain, from the current position) into out; returns the bytes
 * copied (at most max). */
uint32_t hs_buf_copy_out(const hs_buf_pool_t *p, hs_buf_t *b, uint8_t *out, uint32_t max);
/* Fills a fresh packet (chaining buffers as needed) from data; returns the first buffer
 * index or HS_BUF_INVALID when buffers ran out (none are leaked). */
uint32_t hs_buf_from_bytes(hs_buf_cache_t *c, const uint8_t *data, uint32_t len);

#endif
