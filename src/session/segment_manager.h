/* Segment manager: the memfd segments of one app and the rx/tx FIFO pairs carved out of
 * them for its sessions. Grows by adding segments when the ones it has are full, up to a
 * limit; exhaustion is a clean -ENOMEM, never a crash. */
#ifndef HS_SESSION_SEGMENT_MANAGER_H
#define HS_SESSION_SEGMENT_MANAGER_H

#include "infra/common.h"
#include "infra/str.h"
#include "svm/fifo.h"
#include "svm/segment.h"

#include <pthread.h>

/* 256 KiB FIFOs: a TCP window of 256 KiB each way, enough for several Gbit/s at LAN round
 * trips (the bandwidth-delay product of 10 Gbit/s at 200 us is 250 KB). The segment
 * allocator rounds a FIFO (header + data) up to its next size class, so each FIFO takes
 * 512 KiB of segment space but only touches (commits) 256 KiB + 512 bytes of memory. */
#define HS_SM_DEFAULT_FIFO_SIZE    (256u * 1024)
#define HS_SM_DEFAULT_SEGMENT_SIZE (128ull * 1024 * 1024) /* about 127 pairs of 256 KiB */
#define HS_SM_DEFAULT_MAX_SEGMENTS 64u
#define HS_SM_NAME_MAX             32

typedef struct {
    uint32_t rx_fifo_size; /* data bytes, a power of two; 0: HS_SM_DEFAULT_FIFO_SIZE */
    uint32_t tx_fifo_size;
    uint64_t segment_size; /* 0: HS_SM_DEFAULT_SEGMENT_SIZE */
    uint32_t max_segments; /* 0: HS_SM_DEFAULT_MAX_SEGMENTS */
} hs_segment_manager_config_t;

/* Where a pair lives, to free it. */
typedef struct {
    uint32_t seg_index;
    uint64_t rx_off, tx_off;
} hs_fifo_pair_ref_t;

typedef struct {
    hs_segment_t seg;
    uint32_t n_pairs;
} hs_sm_segment_t;

typedef struct {
    uint32_t n_segments;
    uint32_t n_pairs;  /* allocated now */
    uint64_t n_allocs; /* pairs handed out, ever */
    uint64_t n_frees;
    uint64_t n_alloc_failed; /* -ENOMEM answers (every segment full, limit reached) */
    uint64_t segment_bytes;  /* total size of the segments */
    uint64_t bytes_in_use;   /* allocated blocks, per the segments' allocators */
} hs_segment_manager_stats_t;

/* Alloc and free may come from any data-plane worker (an app's sessions live on every
 * worker), so a mutex guards the segment list and the allocators. It is taken once per
 * session set-up and teardown, never per packet or per byte. */
typedef struct {
    pthread_mutex_t lock;
    char name[HS_SM_NAME_MAX];
    hs_segment_manager_config_t cfg;
    hs_sm_segment_t *segs;
    uint32_t n_segs;
    uint32_t last; /* segment that served the last allocation: tried first */
    uint32_t n_pairs;
    uint64_t n_allocs, n_frees, n_alloc_failed;
} hs_segment_manager_t;

/* Fills defaults and validates (FIFO sizes powers of two in [HS_FIFO_MIN_SIZE,
 * HS_FIFO_MAX_SIZE], a pair fitting in one segment). 0 or -EINVAL. */
int hs_segment_manager_config_check(hs_segment_manager_config_t *cfg);

/* Creates the manager and its first segment ("NAME-0"). 0, -EINVAL or the segment's
 * -errno. */
int hs_segment_manager_init(hs_segment_manager_t *sm, const char *name,
                            const hs_segment_manager_config_t *cfg);
/* Unmaps every segment. The FIFOs must no longer be in use. */
void hs_segment_manager_destroy(hs_segment_manager_t *sm);

/* Allocates, formats and attaches an rx and a tx FIFO in one segment (rx and tx are the
 * stack's handles; an in-process app may share them). 0, or -ENOMEM when every segment is
 * full and max_segments exist, or the -errno of creating a segment. */
int hs_segment_manager_alloc_pair(hs_segment_manager_t *sm, hs_fifo_pair_ref_t *ref, hs_fifo_t *rx,
                                  hs_fifo_t *tx);
/* Returns a pair. 0 or -EINVAL (not a pair of this manager: nothing changed). */
int hs_segment_manager_free_pair(hs_segment_manager_t *sm, const hs_fifo_pair_ref_t *ref);

void hs_segment_manager_stats(hs_segment_manager_t *sm, hs_segment_manager_stats_t *st);
/* One line: segments, pairs, bytes, failures. */
void hs_segment_manager_format(hs_segment_manager_t *sm, hs_str_t *out);

#endif
