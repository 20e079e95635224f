/* The in-process wire: per direction, a serializer (rate limit, bounded queue), then the
 * link's impairments, then the frames in flight ordered by delivery time (ties keep the
 * sending order): a FIFO for frames that arrive in sending order (the common case, O(1))
 * and a min-heap for those that do not (reordered, or after the delay was lowered). */
#include "drivers/wire.h"
#include "infra/rand.h"

#include <stdlib.h>
#include <string.h>

#define WIRE_DEFAULT_MAX_FRAME  16384
#define WIRE_DEFAULT_IN_FLIGHT  4096
#define WIRE_DEFAULT_QUEUE      64
#define WIRE_DEFAULT_REORDER_NS 1000000ull
#define WIRE_MIN_SLOT_CAP       2048

typedef struct {
    uint64_t deliver_ns;
    uint64_t seq; /* tie-break: equal delivery times leave in sending order */
    uint32_t slot;
} in_flight_t;

typedef struct {
    uint8_t *data;
    uint32_t len;
    uint32_t cap;
} frame_slot_t;

typedef struct {
    hs_wire_dir_config_t cfg;
    uint64_t rng;
    hs_wire_counters_t cnt;
    in_flight_t *heap;
    uint32_t n_heap;
    in_flight_t *fifo; /* ring, sorted by construction */
    uint32_t fifo_head, fifo_n;
    bool random; /* any random impairment: draws are taken per frame */
    frame_slot_t *slots;
    uint32_t *free_slots;
    uint32_t n_free;
    uint64_t *ser_finish; /* ring of serialization end times of the queued frames */
    uint32_t ser_head, ser_n, ser_cap;
    uint64_t busy_until; /* when the serializer is free again */
    uint64_t next_seq;
} wire_dir_t;

struct hs_wire {
    wire_dir_t dir[2];
    uint32_t max_frame;
    uint32_t max_in_flight;
};

/* splitmix64: small, fast, and good enough statistically for impairment decisions. */
static uint64_t rng_next(uint64_t *s)
{
    return hs_splitmix64(s);
}

/* true with probability pct/100, from one 64-bit draw. */
static bool chance(uint64_t r, double pct)
{
    return (double)(r >> 11) * 0x1p-53 * 100.0 < pct;
}

static bool pct_ok(double p)
{
    return p >= 0.0 && p <= 100.0; /* also rejects NaN */
}

static bool dir_config_ok(const hs_wire_dir_config_t *c)
{
    return pct_ok(c->loss_pct) && pct_ok(c->dup_pct) && pct_ok(c->reorder_pct) &&
           pct_ok(c->corrupt_pct);
}

/* Resizes the serializer ring to the configured queue length, keeping queued entries. */
static int ser_resize(wire_dir_t *d, uint32_t cap)
{
    uint64_t *ring = malloc(cap * sizeof(*ring));
    if (!ring)
        return -ENOMEM;
    uint32_t keep = HS_MIN(d->ser_n, cap);
    for (uint32_t i = 0; i < keep; i++)
        ring[i] = d->ser_finish[(d->ser_head + d->ser_n - keep + i) % d->ser_cap];
    free(d->ser_finish);
    d->ser_finish = ring;
    d->ser_head = 0;
    d->ser_n = keep;
    d->ser_cap = cap;
    return 0;
}

int hs_wire_set_dir_config(hs_wire_t *w, int dir, const hs_wire_dir_config_t *c)
{
    if ((dir != 0 && dir != 1) || !dir_config_ok(c))
        return -EINVAL;
    wire_dir_t *d = &w->dir[dir];
    uint32_t q = c->queue_frames ? c->queue_frames : WIRE_DEFAULT_QUEUE;
    if (q != d->ser_cap) {
        int rv = ser_resize(d, q);
        if (rv < 0)
            return rv;
    }
    d->cfg = *c;
    d->cfg.queue_frames = q;
    d->random = c->loss_pct > 0 || c->dup_pct > 0 || c->reorder_pct > 0 || c->corrupt_pct > 0;
    if (d->cfg.reorder_max_ns == 0)
        d->cfg.reorder_max_ns = WIRE_DEFAULT_REORDER_NS;
    return 0;
}

static int dir_init(hs_wire_t *w, int dir, const hs_wire_config_t *cfg)
{
    wire_dir_t *d = &w->dir[dir];
    uint64_t s = cfg->seed ^ (0x5851f42d4c957f2dull * (uint64_t)(dir + 1));
    d->rng = rng_next(&s);
    d->heap = calloc(w->max_in_flight, sizeof(*d->heap));
    d->fifo = calloc(w->max_in_flight, sizeof(*d->fifo));
    d->slots = calloc(w->max_in_flight, sizeof(*d->slots));
    d->free_slots = calloc(w->max_in_flight, sizeof(*d->free_slots));
    if (!d->heap || !d->fifo || !d->slots || !d->free_slots)
        return -ENOMEM;
    for (uint32_t i = 0; i < w->max_in_flight; i++)
        d->free_slots[i] = w->max_in_flight - 1 - i;
    d->n_free = w->max_in_flight;
    return hs_wire_set_dir_config(w, dir, &cfg->dir[dir]);
}

int hs_wire_create(hs_wire_t **out, const hs_wire_config_t *cfg)
{
    if (!dir_config_ok(&cfg->dir[0]) || !dir_config_ok(&cfg->dir[1]))
        return -EINVAL;
    hs_wire_t *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->max_frame = cfg->max_frame ? cfg->max_frame : WIRE_DEFAULT_MAX_FRAME;
    w->max_in_flight = cfg->max_in_flight ? cfg->max_in_flight : WIRE_DEFAULT_IN_FLIGHT;
    int rv = dir_init(w, 0, cfg);
    if (rv == 0)
        rv = dir_init(w, 1, cfg);
    if (rv < 0) {
        hs_wire_destroy(w);
        return rv;
    }
    *out = w;
    return 0;
}

void hs_wire_destroy(hs_wire_t *w)
{
    if (!w)
        return;
    for (int i = 0; i < 2; i++) {
        wire_dir_t *d = &w->dir[i];
        for (uint32_t s = 0; d->slots && s < w->max_in_flight; s++)
            free(d->slots[s].data);
        free(d->slots);
        free(d->heap);
        free(d->fifo);
        free(d->free_slots);
        free(d->ser_finish);
    }
    free(w);
}

static bool heap_less(const in_flight_t *a, const in_flight_t *b)
{
    return a->deliver_ns < b->deliver_ns || (a->deliver_ns == b->deliver_ns && a->seq < b->seq);
}

static void heap_push(wire_dir_t *d, in_flight_t e)
{
    uint32_t i = d->n_heap++;
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!heap_less(&e, &d->heap[parent]))
            break;
        d->heap[i] = d->heap[parent];
        i = parent;
    }
    d->heap[i] = e;
}

static void heap_pop(wire_dir_t *d)
{
    in_flight_t last = d->heap[--d->n_heap];
    uint32_t i = 0, n = d->n_heap;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && heap_less(&d->heap[c + 1], &d->heap[c]))
            c++;
        if (!heap_less(&d->heap[c], &last))
            break;
        d->heap[i] = d->heap[c];
        i = c;
    }
    if (n)
        d->heap[i] = last;
}

/* Takes a slot big enough for len bytes; UINT32_MAX when none is free or memory ran out. */
static uint32_t slot_get(wire_dir_t *d, uint32_t len)
{
    if (d->n_free == 0)
        return UINT32_MAX;
    uint32_t s = d->free_slots[d->n_free - 1];
    frame_slot_t *fs = &d->slots[s];
    if (fs->cap < len) {
        uint32_t cap = HS_MAX(len, (uint32_t)WIRE_MIN_SLOT_CAP);
        uint8_t *p = realloc(fs->data, cap);
        if (!p)
            return UINT32_MAX;
        fs->data = p;
        fs->cap = cap;
    }
    d->n_free--;
    fs->len = len;
    return s;
}

/* The serializer: when the frame finishes leaving the sender, or UINT64_MAX for a tail
 * drop because queue_frames frames are still queued or on the wire. */
static uint64_t serialize(wire_dir_t *d, uint32_t len, uint64_t now)
{
    if (d->cfg.rate_bps == 0)
        return now;
    while (d->ser_n && d->ser_finish[d->ser_head] <= now) {
        d->ser_head = (d->ser_head + 1) % d->ser_cap;
        d->ser_n--;
    }
    if (d->ser_n >= d->ser_cap)
        return UINT64_MAX;
    uint64_t start = HS_MAX(now, d->busy_until);
    /* Rounded up so a frame never takes zero time. */
    uint64_t ns = ((uint64_t)len * 8 * 1000000000ull + d->cfg.rate_bps - 1) / d->cfg.rate_bps;
    d->busy_until = start + ns;
    d->ser_finish[(d->ser_head + d->ser_n++) % d->ser_cap] = d->busy_until;
    return d->busy_until;
}

static void copy_iov(uint8_t *dst, const struct iovec *iov, int iovcnt)
{
    for (int i = 0; i < iovcnt; i++) {
        memcpy(dst, iov[i].iov_base, iov[i].iov_len);
        dst += iov[i].iov_len;
    }
}

static uint32_t in_flight(const wire_dir_t *d)
{
    return d->n_heap + d->fifo_n;
}

static const in_flight_t *fifo_tail(const wire_dir_t *d, uint32_t cap)
{
    return d->fifo_n ? &d->fifo[(d->fifo_head + d->fifo_n - 1) % cap] : NULL;
}

/* The next frame to deliver: the earlier of the FIFO's head and the heap's top. */
static const in_flight_t *next_frame(const wire_dir_t *d, bool *from_fifo)
{
    const in_flight_t *f = d->fifo_n ? &d->fifo[d->fifo_head] : NULL;
    const in_flight_t *h = d->n_heap ? &d->heap[0] : NULL;
    *from_fifo = f && (!h || heap_less(f, h));
    return *from_fifo ? f : h;
}

/* Stores one copy of the frame for delivery at deliver_ns; returns the stored bytes, NULL
 * when storage ran out. Frames held back on purpose go to the heap; the others join the
 * FIFO unless they would overtake its tail. */
static uint8_t *enqueue_copy(hs_wire_t *w, wire_dir_t *d, const uint8_t *src,
                             const struct iovec *iov, int iovcnt, uint32_t len, uint64_t deliver_ns,
                             bool held_back)
{
    if (in_flight(d) >= w->max_in_flight)
        return NULL;
    uint32_t s = slot_get(d, len);
    if (s == UINT32_MAX)
        return NULL;
    uint8_t *dst = d->slots[s].data;
    if (src)
        memcpy(dst, src, len);
    else
        copy_iov(dst, iov, iovcnt);
    in_flight_t e = {.deliver_ns = deliver_ns, .seq = d->next_seq++, .slot = s};
    const in_flight_t *tail = fifo_tail(d, w->max_in_flight);
    if (!held_back && (!tail || tail->deliver_ns <= deliver_ns))
        d->fifo[(d->fifo_head + d->fifo_n++) % w->max_in_flight] = e;
    else
        heap_push(d, e);
    return dst;
}

int hs_wire_sendv(hs_wire_t *w, int end, const struct iovec *iov, int iovcnt, uint64_t now_ns)
{
    if ((end != 0 && end != 1) || iovcnt < 0)
        return -EINVAL;
    uint64_t len64 = 0;
    for (int i = 0; i < iovcnt; i++)
        len64 += iov[i].iov_len;
    if (len64 == 0)
        return -EINVAL;
    if (len64 > w->max_frame)
        return -EMSGSIZE;
    uint32_t len = (uint32_t)len64;
    wire_dir_t *d = &w->dir[end];
    d->cnt.sent++;
    d->cnt.bytes_sent += len;

    /* Six draws per frame in this order, so decisions replay exactly per seed; none on a
     * direction without random impairments (its decisions are all "no"). */
    uint64_t r[6] = {0};
    for (int i = 0; d->random && i < 6; i++)
        r[i] = rng_next(&d->rng);
    uint64_t r_loss = r[0], r_dup = r[1], r_reorder = r[2], r_extra = r[3], r_corrupt = r[4],
             r_bit = r[5];

    uint64_t t = serialize(d, len, now_ns);
    if (t == UINT64_MAX) {
        d->cnt.rate_dropped++;
        return -ENOBUFS;
    }
    t += d->cfg.delay_ns;
    if (chance(r_loss, d->cfg.loss_pct)) {
        d->cnt.lost++;
        return 0;
    }
    bool held_back = chance(r_reorder, d->cfg.reorder_pct);
    if (held_back) {
        t += 1 + r_extra % d->cfg.reorder_max_ns;
        d->cnt.reordered++;
    }
    uint8_t *stored = enqueue_copy(w, d, NULL, iov, iovcnt, len, t, held_back);
    if (!stored) {
        d->cnt.overflow++;
        return -ENOBUFS;
    }
    if (chance(r_corrupt, d->cfg.corrupt_pct)) {
        uint64_t bit = r_bit % ((uint64_t)len * 8);
        stored[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        d->cnt.corrupted++;
    }
    /* The copy is an exact twin of what went on the wire, corruption included. */
    if (chance(r_dup, d->cfg.dup_pct)) {
        if (enqueue_copy(w, d, stored, NULL, 0, len, t, held_back))
            d->cnt.duplicated++;
        else
            d->cnt.overflow++;
    }
    return 0;
}

int hs_wire_send(hs_wire_t *w, int end, const void *data, uint32_t len, uint64_t now_ns)
{
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    return hs_wire_sendv(w, end, &iov, 1, now_ns);
}

const uint8_t *hs_wire_peek(hs_wire_t *w, int end, uint64_t now_ns, uint32_t *len)
{
    if (end != 0 && end != 1)
        return NULL;
    wire_dir_t *d = &w->dir[1 - end];
    bool from_fifo;
    const in_flight_t *e = next_frame(d, &from_fifo);
    if (!e || e->deliver_ns > now_ns)
        return NULL;
    frame_slot_t *fs = &d->slots[e->slot];
    *len = fs->len;
    return fs->data;
}

void hs_wire_pop(hs_wire_t *w, int end)
{
    if (end != 0 && end != 1)
        return;
    wire_dir_t *d = &w->dir[1 - end];
    bool from_fifo;
    const in_flight_t *e = next_frame(d, &from_fifo);
    if (!e)
        return;
    uint32_t s = e->slot;
    d->cnt.delivered++;
    d->cnt.bytes_delivered += d->slots[s].len;
    d->free_slots[d->n_free++] = s;
    if (from_fifo) {
        d->fifo_head = (d->fifo_head + 1) % w->max_in_flight;
        d->fifo_n--;
    } else {
        heap_pop(d);
    }
}

int hs_wire_recv(hs_wire_t *w, int end, uint64_t now_ns, void *out, uint32_t max)
{
    uint32_t len;
    const uint8_t *p = hs_wire_peek(w, end, now_ns, &len);
    if (!p)
        return (end == 0 || end == 1) ? -EAGAIN : -EINVAL;
    if (len > max)
        return -EMSGSIZE;
    memcpy(out, p, len);
    hs_wire_pop(w, end);
    return (int)len;
}

uint64_t hs_wire_next_delivery(const hs_wire_t *w, int end)
{
    if (end != 0 && end != 1)
        return UINT64_MAX;
    bool from_fifo;
    const in_flight_t *e = next_frame(&w->dir[1 - end], &from_fifo);
    return e ? e->deliver_ns : UINT64_MAX;
}

uint32_t hs_wire_in_flight(const hs_wire_t *w, int end)
{
    return (end == 0 || end == 1) ? in_flight(&w->dir[1 - end]) : 0;
}

const hs_wire_counters_t *hs_wire_counters(const hs_wire_t *w, int dir)
{
    return &w->dir[dir & 1].cnt;
}
