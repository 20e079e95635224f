/* SVM FIFO: a single-producer single-consumer byte ring living in shared memory (the app <->
 * stack data path), with peek at an offset, dequeue-drop, out-of-order enqueue and zero-copy.
 *
 * Two parts:
 *  - hs_fifo_shared_t: the header that sits in the shared segment, followed by the data area.
 *    It holds no pointers (only positions), so each process may map it at its own address.
 *  - hs_fifo_t: a per-process, per-side handle in private memory (hs_fifo_attach). It caches
 *    the size (never re-read from shared memory), the caller's own position (authoritative
 *    copy: the shared one is only published, never read back) and the peer's last-seen
 *    position (read again only when the cached value does not suffice, which keeps the peer's
 *    cache line from bouncing on every call).
 *
 * Positions and wrap arithmetic: head and tail are 32-bit free-running byte counters. The
 * data size is a power of two (so it divides 2^32), and the byte at position p lives at
 * data[p & (size - 1)] across the 2^32 wrap as well. Readable bytes = tail - head and free
 * bytes = size - (tail - head), computed modulo 2^32. The size is at most 2^30, so a valid
 * difference is in [0, size] and a corrupt one (a peer that wrote garbage) shows as > size.
 * A power of two costs a socket buffer up to 2x its requested size, but makes the index one
 * AND instead of a division on every copy and lets positions wrap freely, like TCP sequence
 * numbers (TCP maps rcv_nxt / snd_una onto tail / head one to one).
 *
 * Robustness: the peer may be a hostile app writing anything into the header. Each side
 * trusts only its handle (size, own position). A peer position is validated on every load
 * (tail - head <= size); if it is not, the call returns -EIO, counts it (hs_fifo_n_corrupt)
 * and touches nothing. Out-of-order metadata is copied and validated before use (a corrupt
 * list is dropped, counted, -EIO). So no value in the header can make this code read or write
 * outside the data area; a hostile peer can only garble its own stream.
 *
 * Threads: one producer handle and one consumer handle per FIFO. A thread that is both ends
 * (tests) may use a single handle; two threads must attach a handle each. */
#ifndef HS_SVM_FIFO_H
#define HS_SVM_FIFO_H

#include <stdatomic.h>

#include "infra/common.h"

#define HS_FIFO_MAGIC    0x31465348u /* "HSF1" little-endian */
#define HS_FIFO_MIN_SIZE 64u
#define HS_FIFO_MAX_SIZE (1u << 30)
#define HS_FIFO_OOO_MAX  32 /* out-of-order segments kept; one more is refused (-ENOSPC) */

/* An out-of-order segment [start, end) in free-running positions (same space as tail). */
typedef struct {
    uint32_t start;
    uint32_t end;
} hs_fifo_seg_t;

/* Session-layer bookkeeping: written once when the FIFO is set up, opaque to the FIFO. The
 * peer can overwrite it, so a reader must validate anything it takes from here. */
typedef struct {
    uint32_t master_session_index;
    uint32_t client_session_index;
    uint32_t master_thread_index;
    uint32_t client_thread_index;
    uint32_t opaque[4];
} hs_fifo_owner_t;

/* The shared header. Cache lines are laid out so that each side's hot words have a line to
 * themselves and a line's adjacent-line-prefetch partner (lines 2k, 2k+1) is not the other
 * side's hot line (given a 128-byte aligned header; 64 is the minimum): 0 config (read-only
 * after setup), 1 consumer, 2 producer, 3-6 OOO list (producer-only), 7 session flags. */
typedef struct {
    /* line 0: written by hs_fifo_init and the session layer at setup, read-only after. */
    uint32_t magic;
    uint32_t size;
    uint32_t _pad0[6];
    hs_fifo_owner_t owner;

    /* line 1: consumer-owned head; want_deq_notif is set by the producer only when it waits
     * for space, and read-modify-written by the consumer after each dequeue. */
    HS_CACHE_ALIGNED _Atomic uint32_t head;
    _Atomic uint32_t want_deq_notif; /* 0 = none, else bytes the producer wants free */

    /* line 2: producer-owned tail. n_ooo is read on every enqueue and has_event set after
     * one, both next to the tail the producer writes anyway; the consumer takes the line
     * only to re-read the tail or to clear the event. */
    HS_CACHE_ALIGNED _Atomic uint32_t tail;
    uint32_t n_ooo;
    _Atomic uint32_t has_event;

    /* lines 3-6: producer-only (written and read by the producer alone), sorted, disjoint,
     * non-touching, all inside the free space. */
    HS_CACHE_ALIGNED hs_fifo_seg_t ooo[HS_FIFO_OOO_MAX];

    /* line 7: session-layer bits, opaque to the FIFO, rarely written. */
    HS_CACHE_ALIGNED _Atomic uint32_t flags;
} hs_fifo_shared_t;

#define HS_FIFO_HDR_SIZE sizeof(hs_fifo_shared_t)

/* Per-process handle; see the top of the file. Fields are private. */
typedef struct {
    hs_fifo_shared_t *sh;
    uint8_t *data;
    uint32_t size;
    uint32_t mask;
    /* producer side */
    uint32_t tail;
    uint32_t head_cache;
    /* consumer side */
    uint32_t head;
    uint32_t tail_cache;
    uint64_t n_corrupt;
} hs_fifo_t;

/* One contiguous region of the data area, valid in the caller's mapping. */
typedef struct {
    uint8_t *data;
    uint32_t len;
} hs_fifo_span_t;

/* An out-of-order range [start, end) as byte offsets from the current tail. */
typedef struct {
    uint32_t start;
    uint32_t end;
} hs_fifo_range_t;

/* Bytes of memory a FIFO with data_size bytes needs (header + data), or 0 when data_size is
 * not a power of two in [HS_FIFO_MIN_SIZE, HS_FIFO_MAX_SIZE]. */
size_t hs_fifo_mem_size(uint32_t data_size);

/* Formats mem (64-byte aligned, at least hs_fifo_mem_size(data_size) bytes) as an empty
 * FIFO. 0 or -EINVAL. Nothing may use the memory concurrently. */
int hs_fifo_init(void *mem, size_t mem_size, uint32_t data_size);

/* Fills a private handle for a FIFO formatted at mem (this process's mapping). Reads the
 * size once and the current positions. -EINVAL (bad magic, size, alignment or mem_size) or
 * -EIO (positions inconsistent). */
int hs_fifo_attach(hs_fifo_t *f, void *mem, size_t mem_size);

static inline uint32_t hs_fifo_size(const hs_fifo_t *f)
{
    return f->size;
}

/* Times a corrupt header was detected through this handle. */
static inline uint64_t hs_fifo_n_corrupt(const hs_fifo_t *f)
{
    return f->n_corrupt;
}

/* ---- producer ---- */

/* Copies up to len bytes in at the tail: min(len, free) bytes (a partial enqueue when the
 * FIFO is nearly full). Returns the bytes copied, 0 when len is 0, -EAGAIN when full, -EIO
 * when the header is corrupt. Bytes already received out of order right behind them become
 * readable in the same step (the tail jumps over them). */
int hs_fifo_enqueue(hs_fifo_t *f, const void *data, uint32_t len);

/* Writes len bytes at tail + offset without making them readable, and records the range.
 * Touching or overlapping ranges merge; rewriting bytes already there is allowed (they are
 * the same stream). offset 0 is an ordinary enqueue of all len bytes. Returns len (0 when len
 * is 0, wherever offset points), or
 * -ENOSPC when offset + len exceeds the free space or the range would need more than
 * HS_FIFO_OOO_MAX segments (nothing is written then), -EIO when the header is corrupt. */
int hs_fifo_enqueue_ooo(hs_fifo_t *f, uint32_t offset, const void *data, uint32_t len);

/* Free bytes (reads the consumer's head), or -EIO. */
int hs_fifo_max_enqueue(hs_fifo_t *f);

/* The free space as one or two regions (the second has len 0 when not needed). Bytes written
 * there become readable with hs_fifo_enqueue_commit. Writing over a recorded out-of-order
 * range replaces its bytes. Returns the free bytes, or -EIO (both spans then empty). */
int hs_fifo_write_spans(hs_fifo_t *f, hs_fifo_span_t spans[2]);

/* Makes n bytes written at the tail readable (and jumps over out-of-order data that now
 * touches the tail). Returns n, -EINVAL when n exceeds the free space, -EIO when corrupt. */
int hs_fifo_enqueue_commit(hs_fifo_t *f, uint32_t n);

/* Number of out-of-order segments held. */
uint32_t hs_fifo_n_ooo(hs_fifo_t *f);

/* Copies up to max out-of-order ranges, sorted, as offsets from the tail (for SACK).
 * Returns how many were copied, or -EIO when the list is corrupt (it is then dropped). */
int hs_fifo_ooo_ranges(hs_fifo_t *f, hs_fifo_range_t *out, uint32_t max);

/* ---- consumer ---- */

/* Copies up to len bytes out and consumes them. Returns bytes, 0 when len is 0, -EAGAIN when
 * empty, -EIO when corrupt. */
int hs_fifo_dequeue(hs_fifo_t *f, void *buf, uint32_t len);

/* Copies up to len bytes starting offset bytes after the head, consuming nothing (TCP
 * retransmits peek the tx FIFO). Returns bytes, 0 when len is 0, -EAGAIN when nothing is
 * readable at offset, -EIO when corrupt. */
int hs_fifo_peek(hs_fifo_t *f, uint32_t offset, void *buf, uint32_t len);

/* Consumes min(n, readable) bytes without copying (TCP: bytes acked). Returns the bytes
 * dropped (0 when empty) or -EIO. */
int hs_fifo_dequeue_drop(hs_fifo_t *f, uint32_t n);

/* Readable bytes (reads the producer's tail), or -EIO. */
int hs_fifo_max_dequeue(hs_fifo_t *f);

/* The readable bytes as one or two regions (the second has len 0 when not needed). Returns
 * the readable bytes, or -EIO (both spans then empty). */
int hs_fifo_read_spans(hs_fifo_t *f, hs_fifo_span_t spans[2]);

/* Consumes n bytes read through spans. Returns n, -EINVAL when n exceeds the readable bytes,
 * -EIO when corrupt. */
int hs_fifo_dequeue_commit(hs_fifo_t *f, uint32_t n);

/* ---- notifications ----
 * Event pending: after enqueueing, the producer calls hs_fifo_set_event and posts an event to
 * the consumer's queue only when it returns true, so at most one event is in flight. The
 * consumer calls hs_fifo_clear_event before it reads, then reads until -EAGAIN (or calls
 * hs_fifo_max_dequeue). Both are read-modify-writes of the flag, which makes this lose no
 * wakeup: either the producer sees the flag cleared and posts, or the consumer sees the data.
 *
 * Dequeue notification: a producer that found the FIFO full calls hs_fifo_want_deq_notif(n)
 * and sleeps only if the returned free space is still below n. The consumer calls
 * hs_fifo_needs_deq_notif after dequeueing; it returns true once when n bytes are free and
 * clears the request. */
bool hs_fifo_set_event(hs_fifo_t *f);
void hs_fifo_clear_event(hs_fifo_t *f);
bool hs_fifo_has_event(const hs_fifo_t *f);

/* n is clamped to the size; n = 0 cancels. Returns the free bytes after the request is
 * visible, or -EIO. */
int hs_fifo_want_deq_notif(hs_fifo_t *f, uint32_t n);
bool hs_fifo_needs_deq_notif(hs_fifo_t *f);

/* Session-layer flags word (atomic) and owner area (plain, set up before sharing). */
uint32_t hs_fifo_set_flags(hs_fifo_t *f, uint32_t bits);   /* returns the old word */
uint32_t hs_fifo_clear_flags(hs_fifo_t *f, uint32_t bits); /* returns the old word */
uint32_t hs_fifo_flags(const hs_fifo_t *f);

static inline hs_fifo_owner_t *hs_fifo_owner(hs_fifo_t *f)
{
    return &f->sh->owner;
}

#endif
