/* SVM FIFO out-of-order enqueue: directed cases (gap fill, merge, segment bound, free-space
 * bound) and a long random run checked byte for byte against a reference model. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "svm/fifo.h"

typedef struct {
    int fd;
    size_t len;
    uint8_t *mem;
    hs_fifo_t f;
} shm_fifo_t;

/* A FIFO in a memfd; head and tail start at start (to cross 2^32 on purpose). */
static void shm_open_fifo(shm_fifo_t *s, uint32_t size, uint32_t start)
{
    s->len = hs_fifo_mem_size(size);
    s->fd = memfd_create("test_fifo_ooo", MFD_CLOEXEC);
    assert_true(s->fd >= 0);
    assert_int_equal(ftruncate(s->fd, (off_t)s->len), 0);
    s->mem = mmap(NULL, s->len, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
    assert_true(s->mem != MAP_FAILED);
    assert_int_equal(hs_fifo_init(s->mem, s->len, size), 0);
    hs_fifo_shared_t *sh = (hs_fifo_shared_t *)s->mem;
    atomic_store(&sh->head, start);
    atomic_store(&sh->tail, start);
    assert_int_equal(hs_fifo_attach(&s->f, s->mem, s->len), 0);
}

static void shm_close_fifo(shm_fifo_t *s)
{
    munmap(s->mem, s->len);
    close(s->fd);
}

/* The byte of the stream at position p (seeded so each run has its own stream). */
static uint8_t sbyte(uint32_t seed, uint32_t p)
{
    uint32_t x = (p ^ seed) * 0x9E3779B1u;
    x ^= x >> 15;
    x *= 0x85EBCA77u;
    return (uint8_t)(x ^ x >> 13);
}

static void sfill(uint8_t *buf, uint32_t seed, uint32_t p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        buf[i] = sbyte(seed, p + i);
}

static void scheck(const uint8_t *buf, uint32_t seed, uint32_t p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (buf[i] != sbyte(seed, p + i))
            fail_msg("stream byte %u: got %#x want %#x", p + i, buf[i], sbyte(seed, p + i));
}

static void expect_ranges(hs_fifo_t *f, const hs_fifo_range_t *want, int n)
{
    hs_fifo_range_t got[HS_FIFO_OOO_MAX];
    assert_int_equal(hs_fifo_n_ooo(f), n);
    assert_int_equal(hs_fifo_ooo_ranges(f, got, HS_FIFO_OOO_MAX), n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(got[i].start, want[i].start);
        assert_int_equal(got[i].end, want[i].end);
    }
}

/* ---- directed cases ---- */

static void test_gap_fill_jumps_tail(void **state)
{
    (void)state;
    shm_fifo_t s;
    shm_open_fifo(&s, 256, 0);
    hs_fifo_t *f = &s.f;
    uint8_t buf[256], out[256];
    sfill(buf, 1, 0, 256);

    assert_int_equal(hs_fifo_enqueue_ooo(f, 10, buf + 10, 10), 10);
    assert_int_equal(hs_fifo_enqueue_ooo(f, 30, buf + 30, 10), 10);
    assert_int_equal(hs_fifo_enqueue_ooo(f, 50, buf + 50, 10), 10);
    expect_ranges(f, (hs_fifo_range_t[]){{10, 20}, {30, 40}, {50, 60}}, 3);
    assert_int_equal(hs_fifo_max_dequeue(f), 0); /* nothing in order yet */

    /* fill the two inner gaps: the three merge into one */
    assert_int_equal(hs_fifo_enqueue_ooo(f, 20, buf + 20, 10), 10);
    assert_int_equal(hs_fifo_enqueue_ooo(f, 40, buf + 40, 10), 10);
    expect_ranges(f, (hs_fifo_range_t[]){{10, 60}}, 1);

    /* the in-order bytes at the tail make all 60 readable in one step */
    assert_int_equal(hs_fifo_enqueue(f, buf, 10), 10);
    assert_int_equal(hs_fifo_max_dequeue(f), 60);
    assert_int_equal(hs_fifo_n_ooo(f), 0);
    assert_int_equal(hs_fifo_dequeue(f, out, 256), 60);
    scheck(out, 1, 0, 60);
    shm_close_fifo(&s);
}

static void test_inorder_covers_several(void **state)
{
    (void)state;
    shm_fifo_t s;
    shm_open_fifo(&s, 256, 0);
    hs_fifo_t *f = &s.f;
    uint8_t buf[256], out[256];
    sfill(buf, 2, 0, 256);

    assert_int_equal(hs_fifo_enqueue_ooo(f, 10, buf + 10, 10), 10);
    assert_int_equal(hs_fifo_enqueue_ooo(f, 30, buf + 30, 10), 10);
    assert_int_equal(hs_fifo_enqueue_ooo(f, 50, buf + 50, 10), 10);
    /* 35 in-order bytes overlap the first two segments: the tail lands at 40 */
    assert_int_equal(hs_fifo_enqueue(f, buf, 35), 35);
    assert_int_equal(hs_fifo_max_dequeue(f), 40);
    expect_ranges(f, (hs_fifo_range_t[]){{10, 20}}, 1); /* [50,60) seen from tail 40 */

    /* a zero-copy commit jumps the same way */
    hs_fifo_span_t sp[2];
    assert_int_equal(hs_fifo_write_spans(f, sp), 216);
    memcpy(sp[0].data, buf + 40, 10);
    assert_int_equal(hs_fifo_enqueue_commit(f, 10), 10);
    assert_int_equal(hs_fifo_max_dequeue(f), 60);
    assert_int_equal(hs_fifo_n_ooo(f), 0);
    assert_int_equal(hs_fifo_dequeue(f, out, 256), 60);
    scheck(out, 2, 0, 60);
    shm_close_fifo(&s);
}

static void test_merge_on_touch_and_overlap(void **state)
{
    (void)state;
    shm_fifo_t s;
    shm_open_fifo(&s, 256, 0);
    hs_fifo_t *f = &s.f;
    uint8_t buf[256];
    sfill(buf, 3, 0, 256);

    assert_int_equal(hs_fifo_enqueue_ooo(f, 10, buf + 10, 10), 10);
    assert_int_equal(hs_fifo_enqueue_ooo(f, 20, buf + 20, 10), 10); /* touches the end */
    expect_ranges(f, (hs_fifo_range_t[]){{10, 30}}, 1);
    assert_int_equal(hs_fifo_enqueue_ooo(f, 5, buf + 5, 5), 5); /* touches the start */
    expect_ranges(f, (hs_fifo_range_t[]){{5, 30}}, 1);
    assert_int_equal(hs_fifo_enqueue_ooo(f, 40, buf + 40, 10), 10);
    expect_ranges(f, (hs_fifo_range_t[]){{5, 30}, {40, 50}}, 2);
    /* duplicate, subset, superset of one, and a bridge over both */
    assert_int_equal(hs_fifo_enqueue_ooo(f, 40, buf + 40, 10), 10);
    assert_int_equal(hs_fifo_enqueue_ooo(f, 12, buf + 12, 3), 3);
    expect_ranges(f, (hs_fifo_range_t[]){{5, 30}, {40, 50}}, 2);
    assert_int_equal(hs_fifo_enqueue_ooo(f, 38, buf + 38, 20), 20);
    expect_ranges(f, (hs_fifo_range_t[]){{5, 30}, {38, 58}}, 2);
    assert_int_equal(hs_fifo_enqueue_ooo(f, 25, buf + 25, 20), 20);
    expect_ranges(f, (hs_fifo_range_t[]){{5, 58}}, 1);

    /* the bytes are in the data area, untouched by the merges */
    scheck(f->data + 5, 3, 5, 53);
    assert_int_equal(hs_fifo_enqueue(f, buf, 5), 5);
    assert_int_equal(hs_fifo_max_dequeue(f), 58);
    uint8_t out[64];
    assert_int_equal(hs_fifo_peek(f, 0, out, 64), 58);
    scheck(out, 3, 0, 58);
    shm_close_fifo(&s);
}

static void test_segment_bound(void **state)
{
    (void)state;
    shm_fifo_t s;
    shm_open_fifo(&s, 1024, 0);
    hs_fifo_t *f = &s.f;
    uint8_t buf[1024];
    sfill(buf, 4, 0, 1024);
    memset(f->data, 0, 1024);

    /* HS_FIFO_OOO_MAX disjoint segments [10k+5, 10k+10) */
    for (uint32_t k = 0; k < HS_FIFO_OOO_MAX; k++)
        assert_int_equal(hs_fifo_enqueue_ooo(f, 10 * k + 5, buf + 10 * k + 5, 5), 5);
    assert_int_equal(hs_fifo_n_ooo(f), HS_FIFO_OOO_MAX);
    /* one more disjoint segment is refused and writes nothing */
    assert_int_equal(hs_fifo_enqueue_ooo(f, 600, buf + 600, 10), -ENOSPC);
    for (int i = 600; i < 610; i++)
        assert_int_equal(f->data[i], 0);
    assert_int_equal(hs_fifo_n_ooo(f), HS_FIFO_OOO_MAX);
    /* but one that extends, duplicates or bridges existing segments is fine */
    assert_int_equal(hs_fifo_enqueue_ooo(f, 10 * 31 + 10, buf + 320, 3), 3);
    assert_int_equal(hs_fifo_enqueue_ooo(f, 15, buf + 15, 5), 5);
    assert_int_equal(hs_fifo_enqueue_ooo(f, 10, buf + 10, 5), 5); /* bridges [5,10)+[15,20) */
    assert_int_equal(hs_fifo_n_ooo(f), HS_FIFO_OOO_MAX - 1);
    assert_int_equal(hs_fifo_enqueue_ooo(f, 600, buf + 600, 10), 10);
    assert_int_equal(hs_fifo_n_ooo(f), HS_FIFO_OOO_MAX);

    /* the ranges for SACK, truncated to what the caller has room for */
    hs_fifo_range_t r[4];
    assert_int_equal(hs_fifo_ooo_ranges(f, r, 4), 4);
    assert_int_equal(r[0].start, 5);
    assert_int_equal(r[0].end, 20);
    assert_int_equal(r[1].start, 25);
    assert_int_equal(r[3].end, 50);

    /* filling [0,5) releases the first run only */
    assert_int_equal(hs_fifo_enqueue(f, buf, 5), 5);
    assert_int_equal(hs_fifo_max_dequeue(f), 20);
    assert_int_equal(hs_fifo_n_ooo(f), HS_FIFO_OOO_MAX - 1);
    shm_close_fifo(&s);
}

static void test_beyond_free_space(void **state)
{
    (void)state;
    shm_fifo_t s;
    shm_open_fifo(&s, 256, 0);
    hs_fifo_t *f = &s.f;
    uint8_t buf[512];
    sfill(buf, 5, 0, 512);

    assert_int_equal(hs_fifo_enqueue(f, buf, 100), 100); /* free: 156 */
    assert_int_equal(hs_fifo_enqueue_ooo(f, 156, buf, 1), -ENOSPC);
    assert_int_equal(hs_fifo_enqueue_ooo(f, 150, buf, 7), -ENOSPC);
    assert_int_equal(hs_fifo_enqueue_ooo(f, UINT32_MAX, buf, 2), -ENOSPC);
    assert_int_equal(hs_fifo_enqueue_ooo(f, 1, buf, UINT32_MAX), -ENOSPC);
    assert_int_equal(hs_fifo_enqueue_ooo(f, 0, buf, 157), -ENOSPC); /* in order, too big */
    assert_int_equal(hs_fifo_n_ooo(f), 0);
    assert_int_equal(hs_fifo_enqueue_ooo(f, 150, buf + 250, 6), 6); /* ends at the edge */
    assert_int_equal(hs_fifo_enqueue_ooo(f, 20, buf, 0), 0);
    expect_ranges(f, (hs_fifo_range_t[]){{150, 156}}, 1);

    /* space freed by the consumer becomes usable */
    assert_int_equal(hs_fifo_dequeue_drop(f, 50), 50);
    assert_int_equal(hs_fifo_enqueue_ooo(f, 200, buf + 300, 6), 6);
    expect_ranges(f, (hs_fifo_range_t[]){{150, 156}, {200, 206}}, 2);
    /* a partial in-order enqueue stops at the free space and takes every segment along */
    assert_int_equal(hs_fifo_enqueue(f, buf + 100, 512), 206);
    assert_int_equal(hs_fifo_max_dequeue(f), 256);
    assert_int_equal(hs_fifo_n_ooo(f), 0);
    uint8_t out[256];
    assert_int_equal(hs_fifo_dequeue(f, out, 256), 256);
    scheck(out, 5, 50, 256);
    shm_close_fifo(&s);
}

/* ---- random run against a model ----
 * The model knows the stream (sbyte), head, tail and which bytes past the tail arrived
 * (rcv, indexed by position & mask, meaningful in [tail, head + size)). */
typedef struct {
    uint32_t seed, size, mask, head, tail;
    uint8_t *rcv;
    uint64_t rng;
} model_t;

static uint32_t rnd(model_t *m, uint32_t n) /* uniform in [0, n) */
{
    m->rng = m->rng * 6364136223846793005ull + 1442695040888963407ull;
    return n ? (uint32_t)((m->rng >> 33) % n) : 0;
}

static uint32_t m_free(const model_t *m)
{
    return m->size - (m->tail - m->head);
}

static bool m_rcv(const model_t *m, uint32_t p, uint32_t a, uint32_t b)
{
    return m->rcv[p & m->mask] || (p - m->tail >= a && p - m->tail < b);
}

/* Runs of received bytes past the tail, as if [tail + a, tail + b) were received too. Stores
 * up to max of them in out (when not NULL) and returns how many there are. */
static int m_runs(const model_t *m, uint32_t a, uint32_t b, hs_fifo_range_t *out, int max)
{
    int n = 0;
    uint32_t lim = m_free(m);
    for (uint32_t off = 0; off < lim; off++) {
        if (!m_rcv(m, m->tail + off, a, b))
            continue;
        if (off > 0 && m_rcv(m, m->tail + off - 1, a, b)) {
            if (out && n <= max)
                out[n - 1].end = off + 1;
            continue;
        }
        if (out && n < max)
            out[n] = (hs_fifo_range_t){off, off + 1};
        n++;
    }
    return n;
}

static void m_advance_tail(model_t *m, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        m->rcv[(m->tail + i) & m->mask] = 0;
    m->tail += n;
    while (m->tail - m->head < m->size && m->rcv[m->tail & m->mask])
        m->rcv[m->tail++ & m->mask] = 0;
}

static void check_state(model_t *m, hs_fifo_t *f, uint8_t *buf)
{
    uint32_t used = m->tail - m->head;
    assert_int_equal(hs_fifo_max_dequeue(f), (int)used);
    assert_int_equal(hs_fifo_max_enqueue(f), (int)m_free(m));
    hs_fifo_range_t want[HS_FIFO_OOO_MAX + 1], got[HS_FIFO_OOO_MAX];
    int n = m_runs(m, 0, 0, want, HS_FIFO_OOO_MAX + 1);
    assert_true(n <= HS_FIFO_OOO_MAX);
    assert_int_equal(hs_fifo_n_ooo(f), n);
    assert_int_equal(hs_fifo_ooo_ranges(f, got, HS_FIFO_OOO_MAX), n);
    assert_memory_equal(got, want, (size_t)n * sizeof(got[0]));
    /* the readable bytes through peek, the out-of-order bytes in the data area itself */
    if (used) {
        assert_int_equal(hs_fifo_peek(f, 0, buf, used), (int)used);
        scheck(buf, m->seed, m->head, used);
    }
    for (int k = 0; k < n; k++)
        for (uint32_t off = want[k].start; off < want[k].end; off++)
            if (f->data[(m->tail + off) & m->mask] != sbyte(m->seed, m->tail + off))
                fail_msg("ooo byte at stream %u wrong", m->tail + off);
}

static void op_inorder(model_t *m, hs_fifo_t *f, uint8_t *buf)
{
    uint32_t len = rnd(m, 4) == 0 ? rnd(m, m->size + 20) : rnd(m, m->size / 8);
    uint32_t free = m_free(m), n = HS_MIN(len, free);
    int want = len == 0 ? 0 : free == 0 ? -EAGAIN : (int)n;
    if (rnd(m, 4) == 0) { /* through the write spans */
        hs_fifo_span_t sp[2];
        assert_int_equal(hs_fifo_write_spans(f, sp), (int)free);
        sfill(sp[0].data, m->seed, m->tail, HS_MIN(n, sp[0].len));
        if (n > sp[0].len)
            sfill(sp[1].data, m->seed, m->tail + sp[0].len, n - sp[0].len);
        assert_int_equal(hs_fifo_enqueue_commit(f, n), (int)n);
    } else {
        sfill(buf, m->seed, m->tail, n);
        assert_int_equal(hs_fifo_enqueue(f, buf, len), want);
    }
    m_advance_tail(m, n);
}

/* Offsets and lengths: mostly small pieces inside the free space, some exact duplicates of
 * held ranges, some overlapping them, some beyond the free space. */
static void pick_ooo(model_t *m, bool burst, uint32_t *off, uint32_t *len)
{
    uint32_t free = m_free(m), kind = rnd(m, 10);
    if (burst) { /* many tiny pieces: what drives the list to its bound */
        *off = 1 + rnd(m, free);
        *len = 1 + rnd(m, m->size / 128);
        return;
    }
    hs_fifo_range_t r[HS_FIFO_OOO_MAX + 1];
    int n = m_runs(m, 0, 0, r, HS_FIFO_OOO_MAX + 1);
    if (kind < 2 && n > 0) {
        hs_fifo_range_t x = r[rnd(m, (uint32_t)n)];
        *off = kind == 0 ? x.start : x.start + rnd(m, x.end - x.start + 4) - 2;
        *len = kind == 0 ? x.end - x.start : rnd(m, 2 * (x.end - x.start) + 4);
    } else if (kind == 2) {
        *off = free - rnd(m, 16);
        *len = rnd(m, 40);
    } else {
        *off = rnd(m, free + 1);
        *len = 1 + rnd(m, rnd(m, 4) ? m->size / 64 : m->size / 8);
    }
}

static void op_ooo(model_t *m, bool burst, hs_fifo_t *f, uint8_t *buf)
{
    uint32_t off, len, free = m_free(m);
    pick_ooo(m, burst, &off, &len);
    sfill(buf, m->seed, m->tail + off, HS_MIN(len, m->size));
    int rv = hs_fifo_enqueue_ooo(f, off, buf, len);
    if (len == 0) { /* an empty write is a no-op wherever it points */
        assert_int_equal(rv, 0);
    } else if ((uint64_t)off + len > free) {
        assert_int_equal(rv, -ENOSPC);
    } else if (off == 0) {
        assert_int_equal(rv, (int)len);
        m_advance_tail(m, len);
    } else if (m_runs(m, off, off + len, NULL, 0) > HS_FIFO_OOO_MAX) {
        assert_int_equal(rv, -ENOSPC);
    } else {
        assert_int_equal(rv, (int)len);
        for (uint32_t i = 0; i < len; i++)
            m->rcv[(m->tail + off + i) & m->mask] = 1;
    }
}

static void op_consume(model_t *m, hs_fifo_t *f, uint8_t *buf)
{
    uint32_t used = m->tail - m->head, len = rnd(m, m->size / 4), kind = rnd(m, 3);
    uint32_t n = HS_MIN(len, used);
    if (kind == 0) {
        int rv = hs_fifo_dequeue(f, buf, len);
        assert_int_equal(rv, len == 0 ? 0 : used == 0 ? -EAGAIN : (int)n);
        scheck(buf, m->seed, m->head, n);
        m->head += n;
    } else if (kind == 1) {
        assert_int_equal(hs_fifo_dequeue_drop(f, len), (int)n);
        m->head += n;
    } else {
        uint32_t off = rnd(m, used + 8);
        int rv = hs_fifo_peek(f, off, buf, len);
        if (len == 0)
            assert_int_equal(rv, 0);
        else if (off >= used)
            assert_int_equal(rv, -EAGAIN);
        else {
            assert_int_equal(rv, (int)HS_MIN(len, used - off));
            scheck(buf, m->seed, m->head + off, (uint32_t)rv);
        }
    }
}

static void random_run(uint32_t seed, uint32_t size, uint32_t start, int ops)
{
    shm_fifo_t s;
    shm_open_fifo(&s, size, start);
    model_t m = {.seed = seed, .size = size, .mask = size - 1, .head = start, .tail = start};
    m.rcv = calloc(size, 1);
    m.rng = seed;
    uint8_t *buf = malloc(size + 64);
    assert_non_null(m.rcv);
    assert_non_null(buf);
    uint32_t n_full = 0;
    for (int i = 0; i < ops; i++) {
        /* every third stretch of 500 operations is a burst of tiny out-of-order pieces */
        bool burst = (i / 500) % 3 == 2;
        uint32_t kind = rnd(&m, 20);
        if (kind < (burst ? 19u : 10u))
            op_ooo(&m, burst, &s.f, buf);
        else if (kind < 14)
            op_inorder(&m, &s.f, buf);
        else
            op_consume(&m, &s.f, buf);
        check_state(&m, &s.f, buf);
        n_full += hs_fifo_n_ooo(&s.f) == HS_FIFO_OOO_MAX;
    }
    assert_true(n_full > 0);                 /* the run did reach the segment bound */
    assert_true(m.tail - start > 20 * size); /* and wrapped the ring many times */
    assert_int_equal(hs_fifo_n_corrupt(&s.f), 0);
    free(buf);
    free(m.rcv);
    shm_close_fifo(&s);
}

/* 4 seeds, 110k operations in all, each followed by a full state check. */
static void test_random_vs_model(void **state)
{
    (void)state;
    random_run(1, 1024, 0, 40000);
    random_run(2, 256, 0, 30000);
    random_run(3, 4096, 0, 10000);
    random_run(4, 1024, UINT32_MAX - 5000, 30000); /* positions cross 2^32 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gap_fill_jumps_tail),
        cmocka_unit_test(test_inorder_covers_several),
        cmocka_unit_test(test_merge_on_touch_and_overlap),
        cmocka_unit_test(test_segment_bound),
        cmocka_unit_test(test_beyond_free_space),
        cmocka_unit_test(test_random_vs_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
