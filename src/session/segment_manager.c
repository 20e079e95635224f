/* Segment manager: FIFO pairs from an app's memfd segments, adding a segment when the
 * existing ones are full. */
#include "session/segment_manager.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Segment space a FIFO of data_size bytes takes: its size class plus the block header. */
static uint64_t fifo_footprint(uint32_t data_size)
{
    return HS_SEGMENT_BLOCK_HDR + hs_next_pow2_u64(hs_fifo_mem_size(data_size));
}

static bool fifo_size_ok(uint32_t size)
{
    return hs_fifo_mem_size(size) != 0 && hs_fifo_mem_size(size) <= HS_SEGMENT_MAX_ALLOC;
}

int hs_segment_manager_config_check(hs_segment_manager_config_t *cfg)
{
    if (!cfg->rx_fifo_size)
        cfg->rx_fifo_size = HS_SM_DEFAULT_FIFO_SIZE;
    if (!cfg->tx_fifo_size)
        cfg->tx_fifo_size = HS_SM_DEFAULT_FIFO_SIZE;
    if (!cfg->segment_size)
        cfg->segment_size = HS_SM_DEFAULT_SEGMENT_SIZE;
    if (!cfg->max_segments)
        cfg->max_segments = HS_SM_DEFAULT_MAX_SEGMENTS;
    if (!fifo_size_ok(cfg->rx_fifo_size) || !fifo_size_ok(cfg->tx_fifo_size))
        return -EINVAL;
    /* One pair must fit in a fresh segment, after its header (a page is plenty). */
    uint64_t pair = fifo_footprint(cfg->rx_fifo_size) + fifo_footprint(cfg->tx_fifo_size);
    if (cfg->segment_size < pair + 4096 || cfg->segment_size > (1ull << 40))
        return -EINVAL;
    return 0;
}

/* Called with the lock held (or before the manager is shared). */
static int add_segment(hs_segment_manager_t *sm)
{
    if (sm->n_segs >= sm->cfg.max_segments)
        return -ENOMEM;
    hs_sm_segment_t *segs = realloc(sm->segs, (sm->n_segs + 1) * sizeof(*segs));
    if (!segs)
        return -ENOMEM;
    sm->segs = segs;
    char name[HS_SM_NAME_MAX + 16];
    snprintf(name, sizeof(name), "%s-%u", sm->name, sm->n_segs);
    hs_sm_segment_t *s = &segs[sm->n_segs];
    memset(s, 0, sizeof(*s));
    int rv = hs_segment_create(&s->seg, name, sm->cfg.segment_size);
    if (rv < 0)
        return rv;
    sm->n_segs++;
    return 0;
}

int hs_segment_manager_init(hs_segment_manager_t *sm, const char *name,
                            const hs_segment_manager_config_t *cfg)
{
    memset(sm, 0, sizeof(*sm));
    hs_segment_manager_config_t c = cfg ? *cfg : (hs_segment_manager_config_t){0};
    if (hs_segment_manager_config_check(&c) < 0)
        return -EINVAL;
    sm->cfg = c;
    snprintf(sm->name, sizeof(sm->name), "%s", name && *name ? name : "hs-app");
    pthread_mutex_init(&sm->lock, NULL);
    int rv = add_segment(sm);
    if (rv < 0)
        hs_segment_manager_destroy(sm);
    return rv;
}

void hs_segment_manager_destroy(hs_segment_manager_t *sm)
{
    for (uint32_t i = 0; i < sm->n_segs; i++)
        hs_segment_detach(&sm->segs[i].seg);
    free(sm->segs);
    sm->segs = NULL;
    sm->n_segs = 0;
    pthread_mutex_destroy(&sm->lock);
}

/* Formats and attaches one FIFO at off. */
static int fifo_setup(hs_segment_t *seg, int64_t off, uint32_t size, hs_fifo_t *f)
{
    void *mem = hs_segment_ptr(seg, (uint64_t)off);
    size_t len = hs_fifo_mem_size(size);
    int rv = hs_fifo_init(mem, len, size);
    return rv < 0 ? rv : hs_fifo_attach(f, mem, len);
}

/* Both FIFOs in segment i, or -ENOMEM with nothing allocated. */
static int alloc_in(hs_segment_manager_t *sm, uint32_t i, hs_fifo_pair_ref_t *ref, hs_fifo_t *rx,
                    hs_fifo_t *tx)
{
    hs_segment_t *seg = &sm->segs[i].seg;
    int64_t rx_off = hs_segment_alloc(seg, hs_fifo_mem_size(sm->cfg.rx_fifo_size));
    if (rx_off < 0)
        return -ENOMEM;
    int64_t tx_off = hs_segment_alloc(seg, hs_fifo_mem_size(sm->cfg.tx_fifo_size));
    if (tx_off < 0) {
        hs_segment_free(seg, (uint64_t)rx_off);
        return -ENOMEM;
    }
    int rv = fifo_setup(seg, rx_off, sm->cfg.rx_fifo_size, rx);
    if (rv == 0)
        rv = fifo_setup(seg, tx_off, sm->cfg.tx_fifo_size, tx);
    if (rv < 0) { /* cannot happen with sizes checked at init; never leak the blocks */
        hs_segment_free(seg, (uint64_t)rx_off);
        hs_segment_free(seg, (uint64_t)tx_off);
        return rv;
    }
    *ref = (hs_fifo_pair_ref_t){
        .seg_index = i, .rx_off = (uint64_t)rx_off, .tx_off = (uint64_t)tx_off};
    sm->segs[i].n_pairs++;
    sm->last = i;
    return 0;
}

static int alloc_locked(hs_segment_manager_t *sm, hs_fifo_pair_ref_t *ref, hs_fifo_t *rx,
                        hs_fifo_t *tx)
{
    if (sm->n_segs && alloc_in(sm, sm->last, ref, rx, tx) == 0)
        return 0;
    for (uint32_t i = 0; i < sm->n_segs; i++)
        if (i != sm->last && alloc_in(sm, i, ref, rx, tx) == 0)
            return 0;
    int rv = add_segment(sm);
    if (rv < 0)
        return rv;
    return alloc_in(sm, sm->n_segs - 1, ref, rx, tx);
}

int hs_segment_manager_alloc_pair(hs_segment_manager_t *sm, hs_fifo_pair_ref_t *ref, hs_fifo_t *rx,
                                  hs_fifo_t *tx)
{
    pthread_mutex_lock(&sm->lock);
    int rv = alloc_locked(sm, ref, rx, tx);
    if (rv == 0) {
        sm->n_pairs++;
        sm->n_allocs++;
    } else {
        sm->n_alloc_failed++;
    }
    pthread_mutex_unlock(&sm->lock);
    return rv;
}

int hs_segment_manager_free_pair(hs_segment_manager_t *sm, const hs_fifo_pair_ref_t *ref)
{
    int rv = -EINVAL;
    pthread_mutex_lock(&sm->lock);
    if (ref->seg_index < sm->n_segs && sm->segs[ref->seg_index].n_pairs > 0) {
        hs_sm_segment_t *s = &sm->segs[ref->seg_index];
        /* Check both before freeing either, so a bad ref changes nothing. */
        if (hs_segment_block_size(&s->seg, ref->rx_off) >= 0 &&
            hs_segment_block_size(&s->seg, ref->tx_off) >= 0 && ref->rx_off != ref->tx_off) {
            hs_segment_free(&s->seg, ref->rx_off);
            hs_segment_free(&s->seg, ref->tx_off);
            s->n_pairs--;
            sm->n_pairs--;
            sm->n_frees++;
            rv = 0;
        }
    }
    pthread_mutex_unlock(&sm->lock);
    return rv;
}

void hs_segment_manager_stats(hs_segment_manager_t *sm, hs_segment_manager_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&sm->lock);
    st->n_segments = sm->n_segs;
    st->n_pairs = sm->n_pairs;
    st->n_allocs = sm->n_allocs;
    st->n_frees = sm->n_frees;
    st->n_alloc_failed = sm->n_alloc_failed;
    for (uint32_t i = 0; i < sm->n_segs; i++) {
        hs_segment_stats_t ss;
        hs_segment_stats(&sm->segs[i].seg, &ss);
        st->segment_bytes += ss.size;
        st->bytes_in_use += ss.bytes_in_use;
    }
    pthread_mutex_unlock(&sm->lock);
}

void hs_segment_manager_format(hs_segment_manager_t *sm, hs_str_t *out)
{
    hs_segment_manager_stats_t st;
    hs_segment_manager_stats(sm, &st);
    hs_str_printf(out,
                  "%s: %u segment%s of %lu MiB (max %u), fifos rx %u KiB tx %u KiB, %u pairs "
                  "in use, %lu MiB allocated, %lu allocs, %lu frees, %lu failed\n",
                  sm->name, st.n_segments, st.n_segments == 1 ? "" : "s",
                  (unsigned long)(sm->cfg.segment_size >> 20), sm->cfg.max_segments,
                  sm->cfg.rx_fifo_size >> 10, sm->cfg.tx_fifo_size >> 10, st.n_pairs,
                  (unsigned long)(st.bytes_in_use >> 20), (unsigned long)st.n_allocs,
                  (unsigned long)st.n_frees, (unsigned long)st.n_alloc_failed);
}
