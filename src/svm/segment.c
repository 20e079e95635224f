/* Shared-memory segments: memfd creation, sealing, validated attach, and the owner-only
 * size-class allocator whose state lives in the segment header. */
#define _GNU_SOURCE
#include "svm/segment.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK_USED 0x55534842u /* "BHSU" */
#define BLOCK_FREE 0x46534842u /* "BHSF" */

/* First block header: the segment header rounded up to a cache line. */
#define DATA_START HS_ALIGN_UP((uint64_t)sizeof(hs_segment_hdr_t), (uint64_t)HS_CACHE_LINE)

/* Lives in the cache line before each block's payload. */
typedef struct {
    uint32_t magic; /* BLOCK_USED or BLOCK_FREE */
    uint32_t cls;
    uint64_t next; /* while free: header offset of the next free block of this class */
} block_hdr_t;

_Static_assert(sizeof(block_hdr_t) <= HS_SEGMENT_BLOCK_HDR, "block header fits its line");

static inline hs_segment_hdr_t *seg_hdr(const hs_segment_t *s)
{
    return (hs_segment_hdr_t *)s->base;
}

static inline uint64_t class_bytes(uint32_t cls)
{
    return 1ull << (cls + HS_SEGMENT_MIN_SHIFT);
}

/* Whole footprint of a block of class cls, header included. */
static inline uint64_t block_bytes(uint32_t cls)
{
    return HS_SEGMENT_BLOCK_HDR + class_bytes(cls);
}

static uint32_t class_of(size_t size)
{
    if (size <= (1u << HS_SEGMENT_MIN_SHIFT))
        return 0;
    return (uint32_t)(64 - __builtin_clzll(size - 1)) - HS_SEGMENT_MIN_SHIFT;
}

int hs_segment_create(hs_segment_t *s, const char *name, size_t size)
{
    memset(s, 0, sizeof(*s));
    s->fd = -1;
    long page = sysconf(_SC_PAGESIZE);
    if (size < DATA_START + block_bytes(0) || size > (SIZE_MAX >> 1))
        return -EINVAL;
    size = HS_ALIGN_UP(size, (size_t)page);

    int fd = memfd_create(name ? name : "hs-segment", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -errno;
    /* Sealed so no holder of the fd can shrink it under a mapping (SIGBUS on access), and
     * F_SEAL_SEAL so nobody can add a write seal that would stop peers mapping it. */
    if (ftruncate(fd, (off_t)size) < 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        int err = -errno;
        close(fd);
        return err;
    }
    s->base = base;
    s->size = size;
    s->fd = fd;
    s->is_owner = true;

    hs_segment_hdr_t *h = seg_hdr(s); /* a fresh memfd reads as zeros */
    h->magic = HS_SEGMENT_MAGIC;
    h->version = HS_SEGMENT_VERSION;
    h->hdr_size = sizeof(*h);
    h->size = size;
    strncpy(h->name, name ? name : "", sizeof(h->name) - 1);
    h->data_start = DATA_START;
    h->bump = DATA_START;
    return 0;
}

/* What can be checked before mapping: type, length, and that the size is sealed. */
static int attach_check_fd(int fd, uint64_t *size)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < sizeof(hs_segment_hdr_t))
        return -EINVAL;
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0 || !(seals & F_SEAL_SHRINK))
        return -EINVAL;
    *size = (uint64_t)st.st_size;
    return 0;
}

static int attach_check_hdr(const hs_segment_hdr_t *h, uint64_t size)
{
    if (h->magic != HS_SEGMENT_MAGIC || h->version != HS_SEGMENT_VERSION ||
        h->hdr_size != sizeof(*h))
        return -EPROTO;
    if (h->size != size || h->data_start != DATA_START || h->bump < DATA_START || h->bump > size)
        return -EINVAL;
    return 0;
}

int hs_segment_attach(hs_segment_t *s, int fd)
{
    memset(s, 0, sizeof(*s));
    s->fd = -1;
    uint64_t size = 0;
    int rv = attach_check_fd(fd, &size);
    if (rv < 0)
        return rv;
    void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        return -errno;
    rv = attach_check_hdr(base, size);
    if (rv < 0) {
        munmap(base, size);
        return rv;
    }
    s->base = base;
    s->size = size;
    s->fd = fd;
    s->is_owner = false;
    return 0;
}

void hs_segment_detach(hs_segment_t *s)
{
    if (s->base)
        munmap(s->base, s->size);
    if (s->fd >= 0 && s->base)
        close(s->fd);
    memset(s, 0, sizeof(*s));
    s->fd = -1;
}

/* Header of the block whose header sits at hoff if it is a plausible block of some class
 * with the given magic, else NULL. Bounds come from the private size, not the header. */
static block_hdr_t *block_checked(const hs_segment_t *s, uint64_t hoff, uint32_t magic)
{
    if (hoff < DATA_START || (hoff & (HS_CACHE_LINE - 1)) || hoff > s->size - block_bytes(0))
        return NULL;
    block_hdr_t *b = (block_hdr_t *)(s->base + hoff);
    if (b->magic != magic || b->cls >= HS_SEGMENT_N_CLASSES || block_bytes(b->cls) > s->size - hoff)
        return NULL;
    return b;
}

/* Pops a free block of class cls; 0 when the list is empty. A corrupt list (a peer wrote
 * over it) is dropped rather than followed: its blocks leak, nothing else breaks. */
static uint64_t free_list_pop(hs_segment_t *s, uint32_t cls)
{
    hs_segment_hdr_t *h = seg_hdr(s);
    uint64_t hoff = h->free_head[cls];
    if (!hoff)
        return 0;
    block_hdr_t *b = block_checked(s, hoff, BLOCK_FREE);
    if (!b || b->cls != cls) {
        h->free_head[cls] = 0;
        return 0;
    }
    h->free_head[cls] = b->next;
    h->bytes_listed -= HS_MIN(h->bytes_listed, block_bytes(cls));
    return hoff;
}

/* Carves a block of class cls from fresh space; 0 when it does not fit. */
static uint64_t bump_take(hs_segment_t *s, uint32_t cls)
{
    hs_segment_hdr_t *h = seg_hdr(s);
    uint64_t hoff = h->bump;
    if (hoff < DATA_START || hoff > s->size || block_bytes(cls) > s->size - hoff)
        return 0;
    h->bump = hoff + block_bytes(cls);
    block_hdr_t *b = (block_hdr_t *)(s->base + hoff);
    b->cls = cls;
    return hoff;
}

int64_t hs_segment_alloc(hs_segment_t *s, size_t size)
{
    if (!s->is_owner)
        return -EPERM;
    if (size == 0 || size > HS_SEGMENT_MAX_ALLOC)
        return -EINVAL;
    hs_segment_hdr_t *h = seg_hdr(s);
    uint32_t cls = class_of(size);
    /* Exact class first, then fresh space, then a larger free block (which keeps its own
     * class, so a free puts it back where it came from). */
    uint64_t hoff = free_list_pop(s, cls);
    if (!hoff)
        hoff = bump_take(s, cls);
    for (uint32_t c = cls + 1; !hoff && c < HS_SEGMENT_N_CLASSES; c++)
        hoff = free_list_pop(s, c);
    if (!hoff) {
        h->n_alloc_failed++;
        return -ENOMEM;
    }
    block_hdr_t *b = (block_hdr_t *)(s->base + hoff);
    b->magic = BLOCK_USED;
    b->next = 0;
    h->bytes_in_use += block_bytes(b->cls);
    h->n_allocs++;
    return (int64_t)(hoff + HS_SEGMENT_BLOCK_HDR);
}

static block_hdr_t *used_block(const hs_segment_t *s, uint64_t off)
{
    if (off < HS_SEGMENT_BLOCK_HDR)
        return NULL;
    block_hdr_t *b = block_checked(s, off - HS_SEGMENT_BLOCK_HDR, BLOCK_USED);
    /* A used block lies wholly below the bump pointer. */
    if (b && off - HS_SEGMENT_BLOCK_HDR + block_bytes(b->cls) > seg_hdr(s)->bump)
        return NULL;
    return b;
}

int hs_segment_free(hs_segment_t *s, uint64_t off)
{
    if (!s->is_owner)
        return -EPERM;
    block_hdr_t *b = used_block(s, off);
    if (!b)
        return -EINVAL;
    hs_segment_hdr_t *h = seg_hdr(s);
    uint64_t hoff = off - HS_SEGMENT_BLOCK_HDR;
    b->magic = BLOCK_FREE;
    b->next = h->free_head[b->cls];
    h->free_head[b->cls] = hoff;
    h->bytes_in_use -= HS_MIN(h->bytes_in_use, block_bytes(b->cls));
    h->bytes_listed += block_bytes(b->cls);
    h->n_frees++;
    return 0;
}

int64_t hs_segment_block_size(const hs_segment_t *s, uint64_t off)
{
    block_hdr_t *b = used_block(s, off);
    return b ? (int64_t)class_bytes(b->cls) : -EINVAL;
}

void hs_segment_stats(const hs_segment_t *s, hs_segment_stats_t *st)
{
    const hs_segment_hdr_t *h = hs_segment_hdr(s);
    uint64_t bump = HS_MIN(h->bump, s->size);
    st->size = s->size;
    st->bytes_in_use = h->bytes_in_use;
    st->bytes_free = h->bytes_listed + (s->size - bump);
    st->n_allocs = h->n_allocs;
    st->n_frees = h->n_frees;
    st->n_alloc_failed = h->n_alloc_failed;
}
