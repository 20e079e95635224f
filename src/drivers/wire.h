/* An in-process link between two ends with seeded impairments (loss, duplication,
 * reordering, delay, rate limit with a bounded queue, corruption) on a caller-supplied
 * clock: the base of the simulation tests. Runs replay exactly for a given seed.
 *
 * Not thread-safe: both ends are driven from one thread (the simulator or the benchmark). */
#ifndef HS_DRIVERS_WIRE_H
#define HS_DRIVERS_WIRE_H

#include "infra/common.h"

#include <sys/uio.h>

typedef struct hs_wire hs_wire_t;

/* Impairments of one direction. Every decision is drawn from the direction's own seeded
 * generator, always the same number of draws per frame, so changing one impairment does not
 * change the decisions taken for the others (a direction with no random impairment at all
 * draws nothing: it is the fast path of benchmarks). */
typedef struct {
    double loss_pct;         /* frames silently lost */
    double dup_pct;          /* frames delivered twice (the copy right after the original) */
    double reorder_pct;      /* frames held back by an extra delay, so later ones overtake */
    uint64_t reorder_max_ns; /* extra delay: uniform in [1, max]; 0 means 1 ms */
    double corrupt_pct;      /* frames with one random bit flipped */
    uint64_t delay_ns;       /* propagation delay added to every frame */
    uint64_t rate_bps;       /* serialization rate in bits/s; 0: infinitely fast */
    uint32_t queue_frames;   /* frames queued for the serializer (incl. the one on the wire)
                              * when rate_bps is set; beyond it, tail drop. 0 means 64 */
} hs_wire_dir_config_t;

typedef struct {
    hs_wire_dir_config_t dir[2]; /* dir[0]: frames end 0 sends, end 1 receives */
    uint64_t seed;
    uint32_t max_frame;     /* largest frame accepted; 0 means 16384 */
    uint32_t max_in_flight; /* frames stored per direction; 0 means 4096 */
} hs_wire_config_t;

/* Per direction. A duplicated frame counts once in sent and twice in delivered. */
typedef struct {
    uint64_t sent;         /* frames handed to send() */
    uint64_t delivered;    /* frames handed out by recv()/pop() */
    uint64_t lost;         /* loss_pct */
    uint64_t duplicated;   /* extra copies made */
    uint64_t reordered;    /* frames given the extra reordering delay */
    uint64_t corrupted;    /* frames with a flipped bit */
    uint64_t rate_dropped; /* tail drops at the serializer queue */
    uint64_t overflow;     /* drops because max_in_flight frames were stored */
    uint64_t bytes_sent;
    uint64_t bytes_delivered;
} hs_wire_counters_t;

/* 0, -EINVAL (a percentage outside [0, 100], bad sizes) or -ENOMEM. */
int hs_wire_create(hs_wire_t **out, const hs_wire_config_t *cfg);
void hs_wire_destroy(hs_wire_t *w);
/* Changes the impairments of direction dir (0 or 1) from now on; frames in flight keep
 * their delivery times. */
int hs_wire_set_dir_config(hs_wire_t *w, int dir, const hs_wire_dir_config_t *c);

/* End `end` (0 or 1) sends a frame at time now_ns; it is copied. 0 when the wire took it
 * (even if it is then lost or corrupted: the sender cannot know), -ENOBUFS on a tail drop
 * (rate queue full or too many frames in flight), -EMSGSIZE above max_frame, -EINVAL for a
 * bad end or an empty frame. */
int hs_wire_send(hs_wire_t *w, int end, const void *data, uint32_t len, uint64_t now_ns);
int hs_wire_sendv(hs_wire_t *w, int end, const struct iovec *iov, int iovcnt, uint64_t now_ns);

/* The next frame for end `end` whose delivery time is <= now_ns: its bytes stay valid until
 * hs_wire_pop() or the next send/recv on the wire. NULL when none is due. */
const uint8_t *hs_wire_peek(hs_wire_t *w, int end, uint64_t now_ns, uint32_t *len);
/* Consumes the frame hs_wire_peek() returned. */
void hs_wire_pop(hs_wire_t *w, int end);
/* Copies the next due frame into out: its length, -EAGAIN when none is due, -EMSGSIZE
 * when it is longer than max (the frame stays, so a bigger buffer can take it). */
int hs_wire_recv(hs_wire_t *w, int end, uint64_t now_ns, void *out, uint32_t max);

/* Delivery time of the next frame for end, UINT64_MAX when none is in flight: the simulator
 * jumps its virtual clock there. */
uint64_t hs_wire_next_delivery(const hs_wire_t *w, int end);
uint32_t hs_wire_in_flight(const hs_wire_t *w, int end);

/* Counters of direction dir (frames end dir sends). */
const hs_wire_counters_t *hs_wire_counters(const hs_wire_t *w, int dir);

#endif
