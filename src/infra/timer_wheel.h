/* Hierarchical timer wheel: O(1) start, stop and update for millions of timers, driven
 * by the caller's clock (it never reads one), so simulations run it on virtual time.
 *
 * Time is cut into ticks of tick_ns; tick T covers ((T-1)*tick_ns, T*tick_ns]. A timer
 * with deadline D belongs to tick E = ceil(D / tick_ns) and is handed out by the first
 * hs_tw_expire(now) with now >= E * tick_ns. So a timer never fires early, and fires at
 * most one tick (tick_ns - 1 ns) late if expire is called on time. Three levels of 256
 * slots cover 2^24 ticks (28 min at 100 us, 4.6 h at 1 ms); later timers wait in an
 * overflow list that is rechecked every 2^24 ticks. */
#ifndef HS_INFRA_TIMER_WHEEL_H
#define HS_INFRA_TIMER_WHEEL_H

#include "infra/common.h"
#include "infra/pool.h"

#define HS_TW_LEVELS    3
#define HS_TW_SLOT_BITS 8
#define HS_TW_SLOTS     (1u << HS_TW_SLOT_BITS)
#define HS_TW_N_LISTS   (HS_TW_LEVELS * HS_TW_SLOTS + 3) /* slots, overflow, due, pending */

/* A handle is the timer's pool generation and index: a handle kept after its timer
 * fired or was stopped is stale and never names another timer. 0 is never a handle, so
 * a zeroed field means "no timer". */
typedef uint64_t hs_tw_handle_t;
#define HS_TW_INVALID ((hs_tw_handle_t)0)

typedef void (*hs_tw_expired_fn)(void *ctx, uint64_t user);

/* Links of a circular doubly linked list, by index: a timer's pool index, or for a
 * list's own head node HS_TW_HEAD_BIT | list number. */
typedef struct {
    uint32_t next, prev;
} hs_tw_link_t;
#define HS_TW_HEAD_BIT 0x80000000u

typedef struct {
    hs_pool_t timers;
    uint64_t tick_ns;
    uint64_t now_ns; /* latest time passed to init or expire; relative delays count from it */
    uint64_t tick;   /* first tick not yet processed */
    bool expiring;   /* inside the callback loop of hs_tw_expire */
    hs_tw_link_t lists[HS_TW_N_LISTS];
    uint64_t occupied[HS_TW_LEVELS][HS_TW_SLOTS / 64]; /* non-empty slots */
} hs_tw_t;

/* tick_ns > 0; max_timers below 2^31, 0 meaning 2^31 - 1. 0 or -EINVAL. */
int hs_tw_init(hs_tw_t *tw, uint64_t tick_ns, uint64_t now_ns, uint32_t max_timers);
void hs_tw_destroy(hs_tw_t *tw);

/* Starts a timer that hands user to the expire callback at an absolute deadline, or
 * delay_ns after the wheel's time (hs_tw_now_ns: the latest expire call). A caller whose
 * clock moved on since that call should use the _at forms with its own now, or the
 * timer fires early by the difference. A deadline already passed fires on the next
 * expire call. HS_TW_INVALID when max_timers timers are running or memory is exhausted.
 * The wheel is single-threaded: one worker owns it. */
hs_tw_handle_t hs_tw_start(hs_tw_t *tw, uint64_t user, uint64_t delay_ns);
hs_tw_handle_t hs_tw_start_at(hs_tw_t *tw, uint64_t user, uint64_t deadline_ns);

/* 0, or -ENOENT when the handle is stale (the timer fired or was stopped) or invalid. */
int hs_tw_stop(hs_tw_t *tw, hs_tw_handle_t h);

/* Moves a running timer to a new deadline, keeping its handle and user value. 0 or
 * -ENOENT as for stop. */
int hs_tw_update(hs_tw_t *tw, hs_tw_handle_t h, uint64_t delay_ns);
int hs_tw_update_at(hs_tw_t *tw, hs_tw_handle_t h, uint64_t deadline_ns);

bool hs_tw_is_running(const hs_tw_t *tw, hs_tw_handle_t h);

/* Advances the wheel to now_ns (earlier times are ignored: time never goes back) and
 * calls fn(ctx, user) for due timers, earliest tick first, at most max of them when max
 * is not 0; the rest come out on the next call. A timer's handle is stale by the time its
 * callback runs. Callbacks may start, stop and update timers; a timer they make due at
 * once comes out on the next call (so a zero-delay restart cannot loop). They must not
 * call hs_tw_expire or hs_tw_destroy. Returns the number of callbacks made.
 * Work is bounded by max callbacks plus the timers moved down a level on this call. */
uint32_t hs_tw_expire(hs_tw_t *tw, uint64_t now_ns, hs_tw_expired_fn fn, void *ctx, uint32_t max);

/* The same, storing user values into users[0..max) (max > 0). Returns how many. */
uint32_t hs_tw_expire_vec(hs_tw_t *tw, uint64_t now_ns, uint64_t *users, uint32_t max);

/* Earliest time at which hs_tw_expire may have work: never later than the time the
 * earliest timer fires, possibly earlier (a level boundary where timers move down).
 * The wheel's now_ns when timers are already due, UINT64_MAX when there are none.
 * Meant for epoll timeouts. */
uint64_t hs_tw_next_expiry_ns(const hs_tw_t *tw);

/* Running timers, including due ones not yet handed out. */
static inline uint32_t hs_tw_count(const hs_tw_t *tw)
{
    return hs_pool_count(&tw->timers);
}

static inline uint64_t hs_tw_now_ns(const hs_tw_t *tw)
{
    return tw->now_ns;
}

#endif
