/* SPSC message queue in a shared segment: indices on their own cache lines, and a sleep
 * handshake so the producer writes the eventfd only for a consumer about to block. */
#include "svm/mq.h"

#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

_Static_assert(sizeof(hs_mq_ring_t) % HS_CACHE_LINE == 0, "slots start on a cache line");

static inline uint32_t stride_of(uint32_t msg_size)
{
    return HS_ALIGN_UP(msg_size, 8u);
}

/* Counters have one writer each, so a relaxed load and store (no locked RMW) suffice;
 * readers on the other side see a recent value, which is all statistics need. */
static inline void count(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

uint64_t hs_mq_ring_bytes(uint32_t msg_size, uint32_t n_msgs)
{
    if (msg_size == 0 || msg_size > HS_MQ_MAX_MSG_SIZE || !HS_IS_POW2(n_msgs) ||
        n_msgs > HS_MQ_MAX_MSGS)
        return 0;
    return sizeof(hs_mq_ring_t) + (uint64_t)stride_of(msg_size) * n_msgs;
}

static void mq_reset(hs_mq_t *mq)
{
    memset(mq, 0, sizeof(*mq));
    mq->efd = -1;
    mq->off = UINT64_MAX;
}

int hs_mq_attach(hs_mq_t *mq, void *ring_base_ptr, int eventfd)
{
    mq_reset(mq);
    if (!ring_base_ptr || ((uintptr_t)ring_base_ptr & (HS_CACHE_LINE - 1)))
        return -EINVAL;
    if (eventfd < 0)
        return -EBADF;
    hs_mq_ring_t *r = ring_base_ptr;
    if (r->magic != HS_MQ_MAGIC || r->version != HS_MQ_VERSION)
        return -EPROTO;
    if (!hs_mq_ring_bytes(r->msg_size, r->n_msgs) || r->stride != stride_of(r->msg_size))
        return -EINVAL;
    /* load-acquire of both indices: pair with the owner's stores (or with the peer's last
     * store-release if the queue was used before this attach). */
    uint32_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    if (tail - head > r->n_msgs)
        return -EPROTO;
    mq->ring = r;
    mq->msgs = (uint8_t *)(r + 1);
    mq->msg_size = r->msg_size;
    mq->stride = r->stride;
    mq->n_msgs = r->n_msgs;
    mq->efd = eventfd;
    mq->p_tail = tail;
    mq->p_head_cache = head;
    mq->c_head = head;
    mq->c_tail_cache = tail;
    return 0;
}

int hs_mq_attach_segment(hs_mq_t *mq, const hs_segment_t *s, uint64_t off, int eventfd)
{
    void *p = hs_segment_ptr_checked(s, off, sizeof(hs_mq_ring_t));
    if (!p || (off & (HS_CACHE_LINE - 1))) {
        mq_reset(mq);
        return -EINVAL;
    }
    const hs_mq_ring_t *r = p;
    uint64_t bytes = hs_mq_ring_bytes(r->msg_size, r->n_msgs);
    if (r->magic == HS_MQ_MAGIC && (!bytes || !hs_segment_ptr_checked(s, off, bytes))) {
        mq_reset(mq);
        return -EINVAL;
    }
    int rv = hs_mq_attach(mq, p, eventfd);
    if (rv == 0)
        mq->off = off;
    return rv;
}

int hs_mq_create(hs_segment_t *s, uint32_t msg_size, uint32_t n_msgs, hs_mq_t *mq)
{
    mq_reset(mq);
    uint64_t bytes = hs_mq_ring_bytes(msg_size, n_msgs);
    if (!bytes)
        return -EINVAL;
    int64_t off = hs_segment_alloc(s, bytes);
    if (off < 0)
        return (int)off;
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0) {
        int err = -errno;
        hs_segment_free(s, (uint64_t)off);
        return err;
    }
    /* The block may be reused: clear indices, counters and the flag. No peer can see it
     * yet, so plain stores are fine. */
    hs_mq_ring_t *r = hs_segment_ptr(s, (uint64_t)off);
    memset(r, 0, sizeof(*r));
    r->magic = HS_MQ_MAGIC;
    r->version = HS_MQ_VERSION;
    r->msg_size = msg_size;
    r->n_msgs = n_msgs;
    r->stride = stride_of(msg_size);
    int rv = hs_mq_attach(mq, r, efd);
    if (rv < 0) { /* cannot happen for a ring we just wrote; keep the error path honest */
        close(efd);
        hs_segment_free(s, (uint64_t)off);
        return rv;
    }
    mq->off = (uint64_t)off;
    return 0;
}

void hs_mq_detach(hs_mq_t *mq)
{
    if (mq->ring && mq->efd >= 0)
        close(mq->efd);
    mq_reset(mq);
}

int hs_mq_destroy(hs_mq_t *mq, hs_segment_t *s)
{
    uint64_t off = mq->off;
    if (!mq->ring || off == UINT64_MAX)
        return -EINVAL;
    hs_mq_detach(mq);
    return hs_segment_free(s, off);
}

/* Copies n messages between a contiguous buffer and the slots from index pos on. When the
 * slot stride equals the message size the ring is one array: at most two memcpys. */
static void copy_slots(const hs_mq_t *mq, uint32_t pos, uint8_t *buf, uint32_t n, bool in)
{
    uint32_t mask = mq->n_msgs - 1;
    if (mq->stride == mq->msg_size) {
        uint32_t first = HS_MIN(n, mq->n_msgs - (pos & mask));
        uint8_t *slot = mq->msgs + (size_t)(pos & mask) * mq->stride;
        size_t a = (size_t)first * mq->stride, b = (size_t)(n - first) * mq->stride;
        memcpy(in ? slot : buf, in ? buf : slot, a);
        if (b)
            memcpy(in ? mq->msgs : buf + a, in ? buf + a : mq->msgs, b);
        return;
    }
    for (uint32_t i = 0; i < n; i++, buf += mq->msg_size) {
        uint8_t *slot = mq->msgs + (size_t)((pos + i) & mask) * mq->stride;
        memcpy(in ? slot : buf, in ? buf : slot, mq->msg_size);
    }
}

static void signal_if_sleeping(hs_mq_t *mq)
{
    hs_mq_ring_t *r = mq->ring;
    /* seq_cst load of the consumer's flag, after our seq_cst store of tail. Pairs with
     * hs_mq_prepare_sleep, where the consumer stores sleeping = 1 (seq_cst) and then loads
     * tail (seq_cst). All four are in one total order, so not both loads can miss the
     * other side's store (the Dekker pattern): either the consumer sees our tail and does
     * not block, or we see its flag and write the eventfd. */
    if (!atomic_load_explicit(&r->sleeping, memory_order_seq_cst))
        return;
    /* Exchange: one eventfd write per sleep, not one per message sent before the consumer
     * runs again. Pairs with the consumer's exchange in withdraw_sleep. */
    if (!atomic_exchange_explicit(&r->sleeping, 0, memory_order_seq_cst))
        return;
    uint64_t one = 1;
    ssize_t w;
    do {
        w = write(mq->efd, &one, sizeof(one));
    } while (w < 0 && errno == EINTR);
    count(w == (ssize_t)sizeof(one) ? &r->n_signals : &r->n_signal_failed, 1);
}

int hs_mq_send_burst(hs_mq_t *mq, const void *msgs, uint32_t n)
{
    hs_mq_ring_t *r = mq->ring;
    uint32_t tail = mq->p_tail;
    uint32_t room = mq->n_msgs - (tail - mq->p_head_cache);
    if (room < n) {
        /* load-acquire of the consumer-owned head; pairs with its store-release in
         * hs_mq_recv_burst: its copies out of the slots it released are done before we
         * overwrite them. */
        uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);
        if (tail - head > mq->n_msgs)
            return -EPROTO;
        mq->p_head_cache = head;
        room = mq->n_msgs - (tail - head);
    }
    uint32_t k = HS_MIN(room, n);
    if (k < n)
        count(&r->n_full, 1);
    if (k == 0)
        return 0;
    copy_slots(mq, tail, (uint8_t *)msgs, k, true);
    mq->p_tail = tail + k;
    /* seq_cst store of the producer-owned tail. As a release it publishes the slots just
     * written (pairs with the consumer's load-acquire of tail); as seq_cst it is the
     * producer's store in the sleep handshake (see signal_if_sleeping). */
    atomic_store_explicit(&r->tail, tail + k, memory_order_seq_cst);
    count(&r->n_sent, k);
    signal_if_sleeping(mq);
    return (int)k;
}

uint32_t hs_mq_room(hs_mq_t *mq)
{
    /* load-acquire of the consumer-owned head, as in hs_mq_send_burst. */
    uint32_t head = atomic_load_explicit(&mq->ring->head, memory_order_acquire);
    if (mq->p_tail - head > mq->n_msgs)
        return 0;
    mq->p_head_cache = head;
    return mq->n_msgs - (mq->p_tail - head);
}

int hs_mq_send(hs_mq_t *mq, const void *msg)
{
    int rv = hs_mq_send_burst(mq, msg, 1);
    return rv == 1 ? 0 : rv == 0 ? -EAGAIN : rv;
}

/* Consumer: messages available from c_head, reloading tail when the cached copy shows
 * fewer than `want`. Returns the count or -EPROTO for an impossible tail. */
static int64_t consumer_avail(hs_mq_t *mq, uint32_t want)
{
    uint32_t avail = mq->c_tail_cache - mq->c_head;
    if (avail >= want)
        return avail;
    /* load-acquire of the producer-owned tail; pairs with the producer's seq_cst (hence
     * release) store in hs_mq_send_burst: every slot below tail is completely written. */
    uint32_t tail = atomic_load_explicit(&mq->ring->tail, memory_order_acquire);
    if (tail - mq->c_head > mq->n_msgs)
        return -EPROTO;
    mq->c_tail_cache = tail;
    return tail - mq->c_head;
}

int hs_mq_recv_burst(hs_mq_t *mq, void *msgs, uint32_t max)
{
    int64_t avail = consumer_avail(mq, max ? max : 1);
    if (avail <= 0)
        return (int)avail;
    uint32_t head = mq->c_head;
    uint32_t k = (uint32_t)HS_MIN((uint64_t)avail, (uint64_t)max);
    if (k == 0)
        return 0;
    copy_slots(mq, head, msgs, k, false);
    mq->c_head = head + k;
    /* store-release of the consumer-owned head; pairs with the producer's load-acquire of
     * head: our copies out of these slots complete before it may reuse them. */
    atomic_store_explicit(&mq->ring->head, head + k, memory_order_release);
    count(&mq->ring->n_recv, k);
    return (int)k;
}

int hs_mq_recv(hs_mq_t *mq, void *msg)
{
    int rv = hs_mq_recv_burst(mq, msg, 1);
    return rv == 1 ? 0 : rv == 0 ? -EAGAIN : rv;
}

uint32_t hs_mq_count(hs_mq_t *mq)
{
    int64_t avail = consumer_avail(mq, UINT32_MAX);
    /* A corrupt ring reads as non-empty so that the caller's recv reports -EPROTO. */
    return avail < 0 ? 1 : (uint32_t)avail;
}

/* Reads the eventfd to zero so a wake-up already consumed does not end the next wait. */
static void drain_eventfd(int efd)
{
    uint64_t v;
    ssize_t rd;
    do {
        rd = read(efd, &v, sizeof(v));
    } while (rd < 0 && errno == EINTR);
}

/* Withdraws the announcement without a syscall unless the producer took it. seq_cst
 * exchange; pairs with the producer's exchange in signal_if_sleeping. Reading 0 means the
 * producer took the flag and has written (or is about to write) the eventfd: clear it. A
 * write landing after that read is left pending; the next sleep wakes once, spuriously,
 * and clears it (cancel_sleep always drains). */
static void withdraw_sleep(hs_mq_t *mq)
{
    if (atomic_exchange_explicit(&mq->ring->sleeping, 0, memory_order_seq_cst) == 0)
        drain_eventfd(mq->efd);
}

void hs_mq_cancel_sleep(hs_mq_t *mq)
{
    atomic_store_explicit(&mq->ring->sleeping, 0, memory_order_seq_cst);
    /* After a sleep, always clear the eventfd: a wake-up left pending by the race above
     * would otherwise make every later poll return at once, burning CPU while idle. */
    drain_eventfd(mq->efd);
}

int hs_mq_prepare_sleep(hs_mq_t *mq)
{
    hs_mq_ring_t *r = mq->ring;
    /* seq_cst store of the flag, then seq_cst load of the producer-owned tail: the
     * consumer's half of the sleep handshake, paired with the producer's seq_cst store of
     * tail and seq_cst load of the flag (see signal_if_sleeping). */
    atomic_store_explicit(&r->sleeping, 1, memory_order_seq_cst);
    uint32_t tail = atomic_load_explicit(&r->tail, memory_order_seq_cst);
    if (tail == mq->c_head)
        return 0;
    if (tail - mq->c_head <= mq->n_msgs)
        mq->c_tail_cache = tail;
    withdraw_sleep(mq);
    return -EAGAIN;
}

int hs_mq_wait(hs_mq_t *mq, int timeout_ms)
{
    if (hs_mq_count(mq))
        return 1;
    if (hs_mq_prepare_sleep(mq) == -EAGAIN)
        return 1;
    count(&mq->ring->n_sleeps, 1);
    struct pollfd p = {.fd = mq->efd, .events = POLLIN};
    int n = poll(&p, 1, timeout_ms);
    int err = (n < 0 && errno != EINTR) ? -errno : 0;
    hs_mq_cancel_sleep(mq);
    if (err)
        return err;
    return hs_mq_count(mq) ? 1 : 0;
}

void hs_mq_stats(const hs_mq_t *mq, hs_mq_stats_t *st)
{
    hs_mq_ring_t *r = mq->ring;
    st->n_sent = atomic_load_explicit(&r->n_sent, memory_order_relaxed);
    st->n_full = atomic_load_explicit(&r->n_full, memory_order_relaxed);
    st->n_signals = atomic_load_explicit(&r->n_signals, memory_order_relaxed);
    st->n_signal_failed = atomic_load_explicit(&r->n_signal_failed, memory_order_relaxed);
    st->n_recv = atomic_load_explicit(&r->n_recv, memory_order_relaxed);
    st->n_sleeps = atomic_load_explicit(&r->n_sleeps, memory_order_relaxed);
}
