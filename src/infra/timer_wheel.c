/* Hierarchical timer wheel over an index pool. Every timer sits in one circular doubly
 * linked list (a wheel slot, the overflow list, the due list or the pending list) whose
 * head node lives in hs_tw_t, so stop and update are O(1) without knowing the list, and a
 * whole slot moves to the due list in O(1). Level l >= 1 slots are moved down
 * ("cascaded") when the tick counter reaches a multiple of 256^l; empty stretches of
 * time are skipped using per-level occupancy bitmaps, so a large jump of virtual time is
 * cheap. */
#include "infra/timer_wheel.h"

#include <string.h>

#define LIST_OVERFLOW (HS_TW_LEVELS * HS_TW_SLOTS)
#define LIST_DUE      (LIST_OVERFLOW + 1) /* handed out by the current or next expire */
#define LIST_PENDING  (LIST_OVERFLOW + 2) /* made due by a callback: next expire */
#define SLOT_MASK     (HS_TW_SLOTS - 1)
#define RANGE_BITS    (HS_TW_LEVELS * HS_TW_SLOT_BITS) /* ticks the wheel covers: 2^24 */

typedef struct {
    hs_tw_link_t link; /* first: a timer's address is its link's address */
    uint64_t user;
    uint64_t tick; /* fires when the wheel processes this tick */
} tw_timer_t;

static inline tw_timer_t *timer_at(const hs_tw_t *tw, uint32_t i)
{
    return hs_pool_elt(&tw->timers, i);
}

static inline uint32_t head_of(uint32_t list)
{
    return HS_TW_HEAD_BIT | list;
}

static inline hs_tw_link_t *link_at(hs_tw_t *tw, uint32_t i)
{
    if (i & HS_TW_HEAD_BIT)
        return &tw->lists[i & ~HS_TW_HEAD_BIT];
    return &timer_at(tw, i)->link;
}

static inline bool list_empty(const hs_tw_t *tw, uint32_t list)
{
    return tw->lists[list].next == head_of(list);
}

static inline void bit_set(hs_tw_t *tw, uint32_t list)
{
    tw->occupied[list / HS_TW_SLOTS][(list & SLOT_MASK) / 64] |= 1ull << (list & 63);
}

static inline void bit_clear(hs_tw_t *tw, uint32_t list)
{
    tw->occupied[list / HS_TW_SLOTS][(list & SLOT_MASK) / 64] &= ~(1ull << (list & 63));
}

static void list_init(hs_tw_t *tw, uint32_t list)
{
    tw->lists[list].next = tw->lists[list].prev = head_of(list);
}

int hs_tw_init(hs_tw_t *tw, uint64_t tick_ns, uint64_t now_ns, uint32_t max_timers)
{
    memset(tw, 0, sizeof(*tw));
    if (tick_ns == 0 || max_timers >= HS_TW_HEAD_BIT)
        return -EINVAL;
    /* Pool indices must leave the head bit free. */
    int rc =
        hs_pool_init(&tw->timers, sizeof(tw_timer_t), max_timers ? max_timers : HS_TW_HEAD_BIT - 1);
    if (rc < 0)
        return rc;
    tw->tick_ns = tick_ns;
    tw->now_ns = now_ns;
    tw->tick = now_ns / tick_ns + 1; /* ticks up to now are over */
    for (uint32_t i = 0; i < HS_TW_N_LISTS; i++)
        list_init(tw, i);
    return 0;
}

void hs_tw_destroy(hs_tw_t *tw)
{
    hs_pool_destroy(&tw->timers);
    memset(tw, 0, sizeof(*tw));
}

/* Appends timer i; lists are FIFO so the due list hands timers out in tick order. */
static void push_back(hs_tw_t *tw, uint32_t list, uint32_t i, tw_timer_t *t)
{
    hs_tw_link_t *head = &tw->lists[list];
    if (list < LIST_OVERFLOW && head->next == head_of(list))
        bit_set(tw, list);
    t->link.next = head_of(list);
    t->link.prev = head->prev;
    link_at(tw, head->prev)->next = i;
    head->prev = i;
}

static void unlink_timer(hs_tw_t *tw, tw_timer_t *t)
{
    uint32_t next = t->link.next, prev = t->link.prev;
    link_at(tw, prev)->next = next;
    link_at(tw, next)->prev = prev;
    /* Both neighbours are the head only when the list just became empty. */
    if (prev == next && (prev & HS_TW_HEAD_BIT)) {
        uint32_t list = prev & ~HS_TW_HEAD_BIT;
        if (list < LIST_OVERFLOW)
            bit_clear(tw, list);
    }
}

/* Detaches a whole list; returns its first timer (or its head index when empty), the
 * chain ending at the head index. */
static uint32_t take_list(hs_tw_t *tw, uint32_t list)
{
    uint32_t first = tw->lists[list].next;
    list_init(tw, list);
    if (list < LIST_OVERFLOW)
        bit_clear(tw, list);
    return first;
}

/* Moves every timer of src to the end of dst in O(1). */
static void splice(hs_tw_t *tw, uint32_t src, uint32_t dst)
{
    if (list_empty(tw, src))
        return;
    hs_tw_link_t *s = &tw->lists[src], *d = &tw->lists[dst];
    link_at(tw, d->prev)->next = s->next;
    link_at(tw, s->next)->prev = d->prev;
    link_at(tw, s->prev)->next = head_of(dst);
    d->prev = s->prev;
    take_list(tw, src);
}

/* Files a timer by its distance from the first unprocessed tick: level l holds distances
 * below 256^(l+1), in the slot of its tick's level-l digit. That slot is cascaded when
 * the counter reaches the timer's 256^l-aligned block, never before its tick. */
static void place(hs_tw_t *tw, uint32_t i, tw_timer_t *t)
{
    if (t->tick < tw->tick) {
        /* Due already. From a callback it waits for the next call, so a callback that
         * restarts its timer with no delay cannot keep hs_tw_expire looping. */
        push_back(tw, tw->expiring ? LIST_PENDING : LIST_DUE, i, t);
        return;
    }
    uint64_t diff = t->tick - tw->tick;
    for (uint32_t l = 0; l < HS_TW_LEVELS; l++) {
        uint32_t shift = l * HS_TW_SLOT_BITS;
        if ((diff >> (shift + HS_TW_SLOT_BITS)) == 0) {
            uint32_t slot = (uint32_t)(t->tick >> shift) & SLOT_MASK;
            push_back(tw, l * HS_TW_SLOTS + slot, i, t);
            return;
        }
    }
    push_back(tw, LIST_OVERFLOW, i, t);
}

/* Lists are chased one dependent load at a time: fetching the timer after i early lets
 * that miss overlap the work done on i (and a callback's work, when expiring). */
static inline void prefetch_after(const hs_tw_t *tw, uint32_t i)
{
    if (i & HS_TW_HEAD_BIT)
        return;
    uint32_t next = timer_at(tw, i)->link.next;
    if (!(next & HS_TW_HEAD_BIT))
        __builtin_prefetch(timer_at(tw, next));
}

/* Moves every timer of a list back through place(). */
static void refile_list(hs_tw_t *tw, uint32_t list)
{
    uint32_t i = take_list(tw, list);
    while (!(i & HS_TW_HEAD_BIT)) {
        tw_timer_t *t = timer_at(tw, i);
        uint32_t next = t->link.next;
        prefetch_after(tw, i);
        place(tw, i, t);
        i = next;
    }
}

/* Distance from pos to the next set bit of a 256-bit map, circularly; -1 when empty. */
static int next_set(const uint64_t *bm, uint32_t pos)
{
    uint32_t w = pos / 64;
    uint64_t word = bm[w] & (~0ull << (pos & 63));
    for (uint32_t k = 0; k <= HS_TW_SLOTS / 64; k++) {
        if (word) {
            uint32_t bit = ((w & 3) * 64) + (uint32_t)__builtin_ctzll(word);
            return (int)((bit - pos) & SLOT_MASK);
        }
        word = bm[++w & 3];
    }
    return -1;
}

/* First tick at which something happens: a level-0 slot fires or an upper slot (or the
 * overflow list) must be cascaded. UINT64_MAX when the wheel is empty. */
static uint64_t next_event_tick(const hs_tw_t *tw)
{
    uint64_t best = UINT64_MAX;
    for (uint32_t l = 0; l < HS_TW_LEVELS; l++) {
        uint32_t shift = l * HS_TW_SLOT_BITS;
        uint64_t block = tw->tick >> shift;
        /* Once the counter is inside a block, that block's slot was already cascaded and
         * its digit now names the block 256 ahead. */
        if (tw->tick & ((1ull << shift) - 1))
            block++;
        int d = next_set(tw->occupied[l], (uint32_t)block & SLOT_MASK);
        if (d >= 0)
            best = HS_MIN(best, (block + (uint64_t)d) << shift);
    }
    if (!list_empty(tw, LIST_OVERFLOW)) {
        uint64_t range = 1ull << RANGE_BITS;
        best = HS_MIN(best, (tw->tick + range - 1) & ~(range - 1));
    }
    return best;
}

/* Processes tick T (== tw->tick): cascades from the top, then makes level 0's slot due. */
static void process_tick(hs_tw_t *tw, uint64_t tick)
{
    if ((tick & ((1ull << RANGE_BITS) - 1)) == 0 && !list_empty(tw, LIST_OVERFLOW))
        refile_list(tw, LIST_OVERFLOW);
    for (uint32_t l = HS_TW_LEVELS - 1; l >= 1; l--) {
        uint32_t shift = l * HS_TW_SLOT_BITS;
        if (tick & ((1ull << shift) - 1))
            continue;
        uint32_t list = l * HS_TW_SLOTS + ((uint32_t)(tick >> shift) & SLOT_MASK);
        if (!list_empty(tw, list))
            refile_list(tw, list);
    }
    splice(tw, (uint32_t)tick & SLOT_MASK, LIST_DUE);
}

/* Processes every tick up to and including target, skipping ticks with nothing to do. */
static void advance(hs_tw_t *tw, uint64_t target)
{
    while (tw->tick <= target) {
        uint64_t t = next_event_tick(tw);
        if (t > target)
            break;
        tw->tick = t;
        process_tick(tw, t);
        tw->tick = t + 1;
    }
    if (tw->tick <= target)
        tw->tick = target + 1;
}

static uint64_t deadline_tick(const hs_tw_t *tw, uint64_t deadline_ns)
{
    return deadline_ns / tw->tick_ns + (deadline_ns % tw->tick_ns != 0);
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

hs_tw_handle_t hs_tw_start_at(hs_tw_t *tw, uint64_t user, uint64_t deadline_ns)
{
    uint32_t i;
    tw_timer_t *t = hs_pool_get(&tw->timers, &i);
    if (!t)
        return HS_TW_INVALID;
    t->user = user;
    t->tick = deadline_tick(tw, deadline_ns);
    place(tw, i, t);
    return hs_pool_handle(&tw->timers, i);
}

hs_tw_handle_t hs_tw_start(hs_tw_t *tw, uint64_t user, uint64_t delay_ns)
{
    return hs_tw_start_at(tw, user, add_sat(tw->now_ns, delay_ns));
}

int hs_tw_stop(hs_tw_t *tw, hs_tw_handle_t h)
{
    tw_timer_t *t = hs_pool_from_handle(&tw->timers, h);
    if (!t)
        return -ENOENT;
    unlink_timer(tw, t);
    hs_pool_put(&tw->timers, (uint32_t)h);
    return 0;
}

int hs_tw_update_at(hs_tw_t *tw, hs_tw_handle_t h, uint64_t deadline_ns)
{
    tw_timer_t *t = hs_pool_from_handle(&tw->timers, h);
    if (!t)
        return -ENOENT;
    unlink_timer(tw, t);
    t->tick = deadline_tick(tw, deadline_ns);
    place(tw, (uint32_t)h, t);
    return 0;
}

int hs_tw_update(hs_tw_t *tw, hs_tw_handle_t h, uint64_t delay_ns)
{
    return hs_tw_update_at(tw, h, add_sat(tw->now_ns, delay_ns));
}

bool hs_tw_is_running(const hs_tw_t *tw, hs_tw_handle_t h)
{
    return hs_pool_from_handle(&tw->timers, h) != NULL;
}

uint32_t hs_tw_expire(hs_tw_t *tw, uint64_t now_ns, hs_tw_expired_fn fn, void *ctx, uint32_t max)
{
    if (now_ns > tw->now_ns)
        tw->now_ns = now_ns;
    splice(tw, LIST_PENDING, LIST_DUE);
    uint64_t target = tw->now_ns / tw->tick_ns;
    if (target >= tw->tick)
        advance(tw, target);

    uint32_t n = 0;
    tw->expiring = true;
    while (n != max || max == 0) {
        uint32_t i = tw->lists[LIST_DUE].next;
        if (i & HS_TW_HEAD_BIT)
            break;
        tw_timer_t *t = timer_at(tw, i);
        uint64_t user = t->user;
        unlink_timer(tw, t);
        prefetch_after(tw, tw->lists[LIST_DUE].next);
        hs_pool_put(&tw->timers, i);
        n++;
        fn(ctx, user);
    }
    tw->expiring = false;
    return n;
}

typedef struct {
    uint64_t *users;
    uint32_t n;
} vec_ctx_t;

static void collect(void *ctx, uint64_t user)
{
    vec_ctx_t *v = ctx;
    v->users[v->n++] = user;
}

uint32_t hs_tw_expire_vec(hs_tw_t *tw, uint64_t now_ns, uint64_t *users, uint32_t max)
{
    if (max == 0)
        return 0;
    vec_ctx_t v = {.users = users};
    return hs_tw_expire(tw, now_ns, collect, &v, max);
}

uint64_t hs_tw_next_expiry_ns(const hs_tw_t *tw)
{
    if (!list_empty(tw, LIST_DUE) || !list_empty(tw, LIST_PENDING))
        return tw->now_ns;
    uint64_t t = next_event_tick(tw);
    if (t == UINT64_MAX || t > UINT64_MAX / tw->tick_ns)
        return UINT64_MAX;
    return t * tw->tick_ns;
}
