/* SVM FIFO: SPSC byte ring in shared memory with peek, drop, out-of-order enqueue and spans.
 * The layout, wrap arithmetic and trust model are described in fifo.h. */
#include "svm/fifo.h"

#include <string.h>

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "shared atomics must be lock-free (address-free)");
_Static_assert(sizeof(hs_fifo_owner_t) == 32, "owner area is 32 bytes");
_Static_assert(offsetof(hs_fifo_shared_t, head) == 1 * HS_CACHE_LINE, "head on line 1");
_Static_assert(offsetof(hs_fifo_shared_t, tail) == 2 * HS_CACHE_LINE, "tail on line 2");
_Static_assert(offsetof(hs_fifo_shared_t, ooo) == 3 * HS_CACHE_LINE, "OOO list on lines 3-6");
_Static_assert(offsetof(hs_fifo_shared_t, flags) == 7 * HS_CACHE_LINE, "flags on line 7");
_Static_assert(sizeof(hs_fifo_shared_t) == 8 * HS_CACHE_LINE, "header is 512 bytes");

static int corrupt(hs_fifo_t *f)
{
    f->n_corrupt++;
    return -EIO;
}

static void copy_in(const hs_fifo_t *f, uint32_t pos, const void *src, uint32_t n)
{
    uint32_t i = pos & f->mask;
    uint32_t first = HS_MIN(n, f->size - i);
    memcpy(f->data + i, src, first);
    if (n > first)
        memcpy(f->data, (const uint8_t *)src + first, n - first);
}

static void copy_out(const hs_fifo_t *f, uint32_t pos, void *dst, uint32_t n)
{
    uint32_t i = pos & f->mask;
    uint32_t first = HS_MIN(n, f->size - i);
    memcpy(dst, f->data + i, first);
    if (n > first)
        memcpy((uint8_t *)dst + first, f->data, n - first);
}

static void fill_spans(const hs_fifo_t *f, uint32_t pos, uint32_t n, hs_fifo_span_t spans[2])
{
    uint32_t i = pos & f->mask;
    uint32_t first = HS_MIN(n, f->size - i);
    spans[0] = (hs_fifo_span_t){f->data + i, first};
    spans[1] = (hs_fifo_span_t){f->data, n - first};
}

/* Producer: free bytes, re-reading the consumer's head only when the cached one leaves less
 * than want. Returns free bytes or -EIO. */
static int prod_free(hs_fifo_t *f, uint32_t want)
{
    uint32_t free = f->size - (f->tail - f->head_cache);
    if (hs_likely(free >= want))
        return (int)free;
    /* load-acquire of the consumer-owned head, pairs with the consumer's store-release in
     * cons_advance: the consumer finished reading the bytes before head, so we may reuse
     * them. */
    uint32_t head = atomic_load_explicit(&f->sh->head, memory_order_acquire);
    if (hs_unlikely(f->tail - head > f->size))
        return corrupt(f);
    f->head_cache = head;
    return (int)(f->size - (f->tail - head));
}

/* Consumer: readable bytes, re-reading the producer's tail only when the cached one shows
 * fewer than want. Returns readable bytes or -EIO. */
static int cons_avail(hs_fifo_t *f, uint32_t want)
{
    uint32_t avail = f->tail_cache - f->head;
    if (hs_likely(avail >= want))
        return (int)avail;
    /* load-acquire of the producer-owned tail, pairs with the producer's store-release in
     * publish_tail: the bytes before tail are written and visible. */
    uint32_t tail = atomic_load_explicit(&f->sh->tail, memory_order_acquire);
    if (hs_unlikely(tail - f->head > f->size))
        return corrupt(f);
    f->tail_cache = tail;
    return (int)(tail - f->head);
}

static void publish_tail(hs_fifo_t *f, uint32_t tail)
{
    f->tail = tail;
    /* store-release of the producer-owned tail, pairs with the consumer's load-acquire in
     * cons_avail: the data copies above happen before the bytes become readable. */
    atomic_store_explicit(&f->sh->tail, tail, memory_order_release);
}

static void cons_advance(hs_fifo_t *f, uint32_t n)
{
    f->head += n;
    /* store-release of the consumer-owned head, pairs with the producer's load-acquire in
     * prod_free: our reads of the freed bytes happen before the producer may overwrite them. */
    atomic_store_explicit(&f->sh->head, f->head, memory_order_release);
}

/* ---- out-of-order list (producer-only: only the producer reads or writes it) ---- */

/* Copies the list into segs and checks it against the free space (a hostile consumer could
 * have written it): at most HS_FIFO_OOO_MAX segments, each non-empty, inside the free space,
 * sorted and not touching. A bad list is dropped and counted. Returns the count or -EIO. */
static int ooo_load(hs_fifo_t *f, uint32_t free, hs_fifo_seg_t *segs)
{
    uint32_t n = f->sh->n_ooo;
    if (hs_unlikely(n > HS_FIFO_OOO_MAX))
        goto bad;
    memcpy(segs, f->sh->ooo, n * sizeof(segs[0]));
    uint32_t prev_end = 0;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t s = segs[k].start - f->tail, e = segs[k].end - f->tail;
        if (s <= prev_end || e <= s || e > free)
            goto bad;
        prev_end = e;
    }
    return (int)n;
bad:
    f->sh->n_ooo = 0;
    return corrupt(f);
}

static void ooo_store(hs_fifo_t *f, const hs_fifo_seg_t *segs, uint32_t n)
{
    memcpy(f->sh->ooo, segs, n * sizeof(segs[0]));
    f->sh->n_ooo = n;
}

/* The tail moves from f->tail by len in-order bytes, then over every segment that this
 * reaches, in one step. Segments do not touch each other, so only those starting within
 * [tail, tail + len] can join. Returns the new tail. */
static uint32_t ooo_absorb(hs_fifo_t *f, hs_fifo_seg_t *segs, uint32_t n, uint32_t len)
{
    uint32_t end = len, k = 0;
    while (k < n && segs[k].start - f->tail <= len) {
        end = HS_MAX(end, segs[k].end - f->tail);
        k++;
    }
    if (k > 0)
        ooo_store(f, segs + k, n - k);
    return f->tail + end;
}

/* Tail advance after len bytes were written at the tail (copy or span). free is the free
 * space those bytes were checked against. */
static int prod_advance(hs_fifo_t *f, uint32_t len, uint32_t free)
{
    if (hs_likely(f->sh->n_ooo == 0)) {
        publish_tail(f, f->tail + len);
        return (int)len;
    }
    hs_fifo_seg_t segs[HS_FIFO_OOO_MAX];
    int n = ooo_load(f, free, segs);
    if (n < 0)
        return n;
    publish_tail(f, ooo_absorb(f, segs, (uint32_t)n, len));
    return (int)len;
}

/* ---- setup ---- */

size_t hs_fifo_mem_size(uint32_t data_size)
{
    if (!HS_IS_POW2(data_size) || data_size < HS_FIFO_MIN_SIZE || data_size > HS_FIFO_MAX_SIZE)
        return 0;
    return HS_FIFO_HDR_SIZE + data_size;
}

int hs_fifo_init(void *mem, size_t mem_size, uint32_t data_size)
{
    size_t need = hs_fifo_mem_size(data_size);
    if (!mem || need == 0 || mem_size < need || ((uintptr_t)mem & (HS_CACHE_LINE - 1)))
        return -EINVAL;
    hs_fifo_shared_t *sh = mem;
    memset(sh, 0, sizeof(*sh));
    sh->magic = HS_FIFO_MAGIC;
    sh->size = data_size;
    return 0;
}

int hs_fifo_attach(hs_fifo_t *f, void *mem, size_t mem_size)
{
    hs_fifo_shared_t *sh = mem;
    if (!f || !mem || mem_size < HS_FIFO_HDR_SIZE || ((uintptr_t)mem & (HS_CACHE_LINE - 1)))
        return -EINVAL;
    uint32_t size = sh->size;
    size_t need = hs_fifo_mem_size(size);
    if (sh->magic != HS_FIFO_MAGIC || need == 0 || mem_size < need)
        return -EINVAL;
    /* load-acquire of both positions: a handle attached while the peer runs starts from a
     * consistent view (the acquire pairs with each owner's store-release). */
    uint32_t head = atomic_load_explicit(&sh->head, memory_order_acquire);
    uint32_t tail = atomic_load_explicit(&sh->tail, memory_order_acquire);
    if (tail - head > size)
        return -EIO;
    *f = (hs_fifo_t){
        .sh = sh,
        .data = (uint8_t *)mem + HS_FIFO_HDR_SIZE,
        .size = size,
        .mask = size - 1,
        .tail = tail,
        .head_cache = head,
        .head = head,
        .tail_cache = tail,
    };
    return 0;
}

/* ---- producer ---- */

int hs_fifo_enqueue(hs_fifo_t *f, const void *data, uint32_t len)
{
    int free = prod_free(f, len);
    if (hs_unlikely(free <= 0))
        return len == 0 ? 0 : (free < 0 ? free : -EAGAIN);
    uint32_t n = HS_MIN(len, (uint32_t)free);
    copy_in(f, f->tail, data, n);
    return prod_advance(f, n, (uint32_t)free);
}

/* Merges [a, b) (offsets from the tail) into segs; -ENOSPC when it would need one segment
 * too many. Returns the new count. */
static int ooo_insert(hs_fifo_seg_t *segs, uint32_t n, uint32_t tail, uint32_t a, uint32_t b)
{
    uint32_t i = 0, j;
    while (i < n && segs[i].end - tail < a) /* segments entirely before, not touching */
        i++;
    for (j = i; j < n && segs[j].start - tail <= b; j++) { /* overlapping or touching */
        a = HS_MIN(a, segs[j].start - tail);
        b = HS_MAX(b, segs[j].end - tail);
    }
    uint32_t n_new = n - (j - i) + 1;
    if (n_new > HS_FIFO_OOO_MAX)
        return -ENOSPC;
    memmove(segs + i + 1, segs + j, (n - j) * sizeof(segs[0]));
    segs[i] = (hs_fifo_seg_t){tail + a, tail + b};
    return (int)n_new;
}

int hs_fifo_enqueue_ooo(hs_fifo_t *f, uint32_t offset, const void *data, uint32_t len)
{
    if (len == 0)
        return 0;
    if (offset == 0) {
        int rv = prod_free(f, len);
        if (rv >= 0 && (uint32_t)rv < len)
            return -ENOSPC;
        return rv < 0 ? rv : hs_fifo_enqueue(f, data, len);
    }
    uint64_t end = (uint64_t)offset + len;
    int free = prod_free(f, end > f->size ? f->size : (uint32_t)end);
    if (free < 0)
        return free;
    if (end > (uint32_t)free)
        return -ENOSPC;
    hs_fifo_seg_t segs[HS_FIFO_OOO_MAX + 1];
    int n = ooo_load(f, (uint32_t)free, segs);
    if (n < 0)
        return n;
    n = ooo_insert(segs, (uint32_t)n, f->tail, offset, (uint32_t)end);
    if (n < 0)
        return n;
    /* The bytes are outside [head, tail), so the consumer cannot look at them; the tail's
     * store-release that later makes them readable orders this copy too. */
    copy_in(f, f->tail + offset, data, len);
    ooo_store(f, segs, (uint32_t)n);
    return (int)len;
}

int hs_fifo_max_enqueue(hs_fifo_t *f)
{
    return prod_free(f, f->size);
}

int hs_fifo_write_spans(hs_fifo_t *f, hs_fifo_span_t spans[2])
{
    int free = prod_free(f, f->size);
    fill_spans(f, f->tail, free < 0 ? 0 : (uint32_t)free, spans);
    return free;
}

int hs_fifo_enqueue_commit(hs_fifo_t *f, uint32_t n)
{
    int free = prod_free(f, n);
    if (free < 0)
        return free;
    if (n > (uint32_t)free)
        return -EINVAL;
    return prod_advance(f, n, (uint32_t)free);
}

uint32_t hs_fifo_n_ooo(hs_fifo_t *f)
{
    uint32_t n = f->sh->n_ooo;
    return HS_MIN(n, (uint32_t)HS_FIFO_OOO_MAX);
}

int hs_fifo_ooo_ranges(hs_fifo_t *f, hs_fifo_range_t *out, uint32_t max)
{
    if (f->sh->n_ooo == 0)
        return 0;
    int free = prod_free(f, f->size);
    if (free < 0)
        return free;
    hs_fifo_seg_t segs[HS_FIFO_OOO_MAX];
    int n = ooo_load(f, (uint32_t)free, segs);
    if (n < 0)
        return n;
    uint32_t k;
    for (k = 0; k < (uint32_t)n && k < max; k++)
        out[k] = (hs_fifo_range_t){segs[k].start - f->tail, segs[k].end - f->tail};
    return (int)k;
}

/* ---- consumer ---- */

int hs_fifo_dequeue(hs_fifo_t *f, void *buf, uint32_t len)
{
    int avail = cons_avail(f, len);
    if (hs_unlikely(avail <= 0))
        return len == 0 ? 0 : (avail < 0 ? avail : -EAGAIN);
    uint32_t n = HS_MIN(len, (uint32_t)avail);
    copy_out(f, f->head, buf, n);
    cons_advance(f, n);
    return (int)n;
}

int hs_fifo_peek(hs_fifo_t *f, uint32_t offset, void *buf, uint32_t len)
{
    uint64_t end = (uint64_t)offset + len;
    int avail = cons_avail(f, end > f->size ? f->size : (uint32_t)end);
    if (avail < 0)
        return avail;
    if (len == 0)
        return 0;
    if (offset >= (uint32_t)avail)
        return -EAGAIN;
    uint32_t n = HS_MIN(len, (uint32_t)avail - offset);
    copy_out(f, f->head + offset, buf, n);
    return (int)n;
}

int hs_fifo_dequeue_drop(hs_fifo_t *f, uint32_t n)
{
    int avail = cons_avail(f, n);
    if (avail < 0)
        return avail;
    n = HS_MIN(n, (uint32_t)avail);
    if (n > 0)
        cons_advance(f, n);
    return (int)n;
}

int hs_fifo_max_dequeue(hs_fifo_t *f)
{
    return cons_avail(f, f->size);
}

int hs_fifo_read_spans(hs_fifo_t *f, hs_fifo_span_t spans[2])
{
    int avail = cons_avail(f, f->size);
    fill_spans(f, f->head, avail < 0 ? 0 : (uint32_t)avail, spans);
    return avail;
}

int hs_fifo_dequeue_commit(hs_fifo_t *f, uint32_t n)
{
    int avail = cons_avail(f, n);
    if (avail < 0)
        return avail;
    if (n > (uint32_t)avail)
        return -EINVAL;
    if (n > 0)
        cons_advance(f, n);
    return (int)n;
}

/* ---- notifications ---- */

/* The two notifications are Dekker-style handshakes (each side writes one word, then reads
 * the other's). Both sides use read-modify-writes of the flag word: RMWs of one word are
 * totally ordered and each reads the previous one, so whichever comes second synchronizes
 * with the first and sees what preceded it. (No standalone fences: TSan cannot model them.) */

bool hs_fifo_set_event(hs_fifo_t *f)
{
    /* Producer, after its tail store-release. acq_rel exchange, pairs with the consumer's
     * exchange in hs_fifo_clear_event: if the consumer cleared first we read 0 and post;
     * otherwise its clear reads our 1 and its next tail load sees our data. Only one of
     * several setters reads 0, so one event is in flight at a time. */
    return atomic_exchange_explicit(&f->sh->has_event, 1, memory_order_acq_rel) == 0;
}

void hs_fifo_clear_event(hs_fifo_t *f)
{
    /* Consumer, before reading. acq_rel exchange, pairs with hs_fifo_set_event (above). */
    atomic_exchange_explicit(&f->sh->has_event, 0, memory_order_acq_rel);
}

bool hs_fifo_has_event(const hs_fifo_t *f)
{
    /* relaxed: a hint only; decisions go through set/clear above. */
    return atomic_load_explicit(&f->sh->has_event, memory_order_relaxed) != 0;
}

int hs_fifo_want_deq_notif(hs_fifo_t *f, uint32_t n)
{
    /* Producer. acq_rel exchange, pairs with the consumer's RMW in hs_fifo_needs_deq_notif:
     * either the consumer's RMW reads our request, or it came first and our head load below
     * sees its dequeue. */
    atomic_exchange_explicit(&f->sh->want_deq_notif, HS_MIN(n, f->size), memory_order_acq_rel);
    return prod_free(f, f->size);
}

bool hs_fifo_needs_deq_notif(hs_fifo_t *f)
{
    /* Consumer, after its head store-release. An RMW (not a plain load) so that it is
     * ordered with the producer's exchange in hs_fifo_want_deq_notif; the line is ours
     * (head), so it stays cheap. */
    uint32_t want = atomic_fetch_or_explicit(&f->sh->want_deq_notif, 0, memory_order_acq_rel);
    if (want == 0)
        return false;
    int avail = cons_avail(f, f->size);
    if (avail < 0 || f->size - (uint32_t)avail < want)
        return false;
    /* compare-exchange so the request is answered once; if the producer changed it in the
     * meantime, the producer re-checks the free space itself. */
    return atomic_compare_exchange_strong_explicit(&f->sh->want_deq_notif, &want, 0,
                                                   memory_order_acq_rel, memory_order_relaxed);
}

uint32_t hs_fifo_set_flags(hs_fifo_t *f, uint32_t bits)
{
    /* acq_rel: the session layer may publish state with a flag (either side). */
    return atomic_fetch_or_explicit(&f->sh->flags, bits, memory_order_acq_rel);
}

uint32_t hs_fifo_clear_flags(hs_fifo_t *f, uint32_t bits)
{
    /* acq_rel: as in hs_fifo_set_flags. */
    return atomic_fetch_and_explicit(&f->sh->flags, ~bits, memory_order_acq_rel);
}

uint32_t hs_fifo_flags(const hs_fifo_t *f)
{
    /* acquire: pairs with the release half of set/clear. */
    return atomic_load_explicit(&f->sh->flags, memory_order_acquire);
}
