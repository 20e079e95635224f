/* Message queue: an SPSC ring of fixed-size messages in a shared segment plus an eventfd,
 * written only when the consumer said it will sleep: no syscall per message while busy. */
#ifndef HS_SVM_MQ_H
#define HS_SVM_MQ_H

#include "svm/segment.h"

#define HS_MQ_MAX_MSG_SIZE (64u * 1024)
#define HS_MQ_MAX_MSGS     (1u << 24)

#define HS_MQ_MAGIC   0x514d5348u /* "HSMQ" read little-endian */
#define HS_MQ_VERSION 1u

/* The shared part, at the ring's offset in the segment; the slots follow it. This layout
 * is the contract between the two processes; only mq.c reads or writes it. */
typedef struct {
    /* Written once by hs_mq_create, before the peer learns the offset; read-only after. */
    uint32_t magic;
    uint32_t version;
    uint32_t msg_size;
    uint32_t n_msgs;
    uint32_t stride; /* msg_size rounded up to 8 */

    /* Producer-owned line: only the producer writes these. */
    _Atomic uint32_t tail HS_CACHE_ALIGNED; /* free-running; slot = tail & (n_msgs - 1) */
    _Atomic uint64_t n_sent;
    _Atomic uint64_t n_full;
    _Atomic uint64_t n_signals;
    _Atomic uint64_t n_signal_failed;

    /* Consumer-owned line: only the consumer writes these. */
    _Atomic uint32_t head HS_CACHE_ALIGNED; /* free-running */
    _Atomic uint64_t n_recv;
    _Atomic uint64_t n_sleeps;

    /* Sleep announcement, alone on its line so that the producer's check after every send
     * reads a line nobody writes while both sides are busy. Set to 1 only by the consumer;
     * cleared by whichever side exchanges it back to 0 first. */
    _Atomic uint32_t sleeping HS_CACHE_ALIGNED;
} hs_mq_ring_t;

/* A process-local handle on one queue. Each side (producer, consumer) uses its own handle,
 * from one thread at a time. Geometry is copied out of shared memory at attach, so a peer
 * that rewrites the ring header cannot make this side index outside the ring. */
typedef struct {
    hs_mq_ring_t *ring;
    uint8_t *msgs;
    uint32_t msg_size;
    uint32_t stride; /* bytes per slot */
    uint32_t n_msgs;
    int efd;
    uint64_t off; /* ring offset in its segment, UINT64_MAX if attached by pointer */

    /* Producer side: its own tail and a cached copy of the consumer's head. */
    uint32_t p_tail;
    uint32_t p_head_cache;
    /* A line of padding, so that a handle shared by two threads does not false-share
     * (not an alignment attribute: handles live in pools and malloc'd memory too). */
    uint8_t pad[HS_CACHE_LINE];
    /* Consumer side: its own head and a cached copy of the producer's tail. */
    uint32_t c_head;
    uint32_t c_tail_cache;
} hs_mq_t;

typedef struct {
    uint64_t n_sent;          /* messages published by the producer */
    uint64_t n_full;          /* send calls that found too little room (-EAGAIN or short) */
    uint64_t n_signals;       /* eventfd writes by the producer */
    uint64_t n_signal_failed; /* eventfd writes that failed (should stay 0) */
    uint64_t n_recv;          /* messages taken by the consumer */
    uint64_t n_sleeps;        /* times the consumer blocked in hs_mq_wait */
} hs_mq_stats_t;

/* Bytes of segment a queue of this geometry needs, or 0 for an invalid geometry (msg_size
 * 1..HS_MQ_MAX_MSG_SIZE, n_msgs a power of two 1..HS_MQ_MAX_MSGS). */
uint64_t hs_mq_ring_bytes(uint32_t msg_size, uint32_t n_msgs);

/* Allocates the ring in segment s (the caller must be its owner), initialises it, creates
 * the eventfd (close-on-exec, non-blocking) and attaches mq to it. Tell the peer
 * hs_mq_offset(mq) and pass it hs_mq_eventfd(mq). Returns 0, -EINVAL (geometry), -ENOMEM
 * or -EPERM (segment), or the -errno of eventfd. */
int hs_mq_create(hs_segment_t *s, uint32_t msg_size, uint32_t n_msgs, hs_mq_t *mq);

/* Attaches to a ring at ring_base_ptr (cache-line aligned, as hs_mq_create places it).
 * Validates alignment and geometry (-EINVAL) and magic and indices (-EPROTO);
 * eventfd must be >= 0 (-EBADF). On success mq owns eventfd (detach closes it). */
int hs_mq_attach(hs_mq_t *mq, void *ring_base_ptr, int eventfd);

/* As hs_mq_attach for a ring at offset off of segment s, also checking that the ring lies
 * inside the segment (-EINVAL): the form to use for an offset received from a peer. */
int hs_mq_attach_segment(hs_mq_t *mq, const hs_segment_t *s, uint64_t off, int eventfd);

/* Closes the eventfd and forgets the ring. */
void hs_mq_detach(hs_mq_t *mq);

/* Detaches and returns the ring's memory to segment s (owner only). */
int hs_mq_destroy(hs_mq_t *mq, hs_segment_t *s);

static inline int hs_mq_eventfd(const hs_mq_t *mq)
{
    return mq->efd;
}

static inline uint64_t hs_mq_offset(const hs_mq_t *mq)
{
    return mq->off;
}

static inline uint32_t hs_mq_msg_size(const hs_mq_t *mq)
{
    return mq->msg_size;
}

/* Producer. Copies one message of msg_size bytes in. 0, -EAGAIN when full, -EPROTO when
 * the consumer's index is impossible (corrupt ring). */
int hs_mq_send(hs_mq_t *mq, const void *msg);
/* Copies up to n messages (contiguous, msg_size each) in and wakes the consumer at most
 * once. Returns how many went in (0 when full), or -EPROTO. */
int hs_mq_send_burst(hs_mq_t *mq, const void *msgs, uint32_t n);

/* Producer: free slots now (reloads the consumer's head; 0 if that head is impossible). */
uint32_t hs_mq_room(hs_mq_t *mq);

/* Consumer. Copies one message out. 0, -EAGAIN when empty, -EPROTO (corrupt ring). */
int hs_mq_recv(hs_mq_t *mq, void *msg);
/* Copies up to max messages out into msgs (contiguous). Returns the count (0 when empty)
 * or -EPROTO. */
int hs_mq_recv_burst(hs_mq_t *mq, void *msgs, uint32_t max);
/* Messages waiting, as the consumer sees them now. */
uint32_t hs_mq_count(hs_mq_t *mq);

/* Consumer: blocks until messages may be available or timeout_ms passes (-1: forever).
 * Announces the sleep, rechecks the ring, then waits on the eventfd; returns at once when
 * messages are already there. Returns 1 when messages are available, 0 when none are (time
 * out, signal, or a spurious wake-up: call again), or -errno of poll. */
int hs_mq_wait(hs_mq_t *mq, int timeout_ms);

/* Consumer with its own epoll (the eventfd in its set, EPOLLIN):
 *     if (hs_mq_prepare_sleep(mq) == 0) {
 *         epoll_wait(...);
 *         hs_mq_cancel_sleep(mq);
 *     }
 *     ...drain the queue...
 * prepare_sleep returns 0 when the queue is empty and the producer will signal the next
 * message, or -EAGAIN when messages are already there (the announcement is withdrawn
 * without a syscall; do not sleep). cancel_sleep withdraws the announcement and reads the
 * eventfd clear (one non-blocking read); call it after every sleep, whatever woke you. */
int hs_mq_prepare_sleep(hs_mq_t *mq);
void hs_mq_cancel_sleep(hs_mq_t *mq);

/* Counters of both sides, read from the shared ring (either side may call). */
void hs_mq_stats(const hs_mq_t *mq, hs_mq_stats_t *st);

#endif
