/* SVM FIFO unit tests: every call, wrap at every position, full/empty edges, peek, drop,
 * spans, notifications, position independence, and clamping of a corrupt shared header. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "svm/fifo.h"

/* A shared-memory FIFO as the stack would have it: memfd + mmap, plus a guard area after the
 * data that must never be written. */
#define GUARD 4096

typedef struct {
    int fd;
    size_t len;
    uint8_t *mem;
    uint32_t size;
    hs_fifo_t f;
} shm_fifo_t;

static void shm_open_fifo(shm_fifo_t *s, uint32_t size)
{
    s->size = size;
    s->len = hs_fifo_mem_size(size) + GUARD;
    s->fd = memfd_create("test_fifo", MFD_CLOEXEC);
    assert_true(s->fd >= 0);
    assert_int_equal(ftruncate(s->fd, (off_t)s->len), 0);
    s->mem = mmap(NULL, s->len, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
    assert_true(s->mem != MAP_FAILED);
    memset(s->mem, 0xEE, s->len);
    assert_int_equal(hs_fifo_init(s->mem, s->len - GUARD, size), 0);
    assert_int_equal(hs_fifo_attach(&s->f, s->mem, s->len - GUARD), 0);
}

static void shm_close_fifo(shm_fifo_t *s)
{
    /* the guard after the data area is untouched whatever the test did */
    uint8_t *guard = s->mem + hs_fifo_mem_size(s->size);
    for (size_t i = 0; i < GUARD; i++)
        assert_int_equal(guard[i], 0xEE);
    munmap(s->mem, s->len);
    close(s->fd);
}

static uint8_t pat(uint32_t pos)
{
    uint32_t x = pos * 2654435761u;
    return (uint8_t)(x >> 24 ^ x >> 11 ^ pos);
}

static void fill_pat(uint8_t *buf, uint32_t pos, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        buf[i] = pat(pos + i);
}

static void check_pat(const uint8_t *buf, uint32_t pos, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (buf[i] != pat(pos + i))
            fail_msg("byte at stream position %u: got %#x want %#x", pos + i, buf[i], pat(pos + i));
}

static void test_sizes_and_init(void **state)
{
    (void)state;
    assert_int_equal(hs_fifo_mem_size(0), 0);
    assert_int_equal(hs_fifo_mem_size(32), 0);
    assert_int_equal(hs_fifo_mem_size(100), 0);
    assert_int_equal(hs_fifo_mem_size(1u << 31), 0);
    assert_int_equal(hs_fifo_mem_size(64), HS_FIFO_HDR_SIZE + 64);
    assert_int_equal(hs_fifo_mem_size(HS_FIFO_MAX_SIZE), HS_FIFO_HDR_SIZE + HS_FIFO_MAX_SIZE);

    static _Alignas(64) uint8_t mem[HS_FIFO_HDR_SIZE + 256 + 64];
    assert_int_equal(hs_fifo_init(mem, sizeof(mem), 100), -EINVAL);
    assert_int_equal(hs_fifo_init(mem, HS_FIFO_HDR_SIZE + 255, 256), -EINVAL);
    assert_int_equal(hs_fifo_init(mem + 8, sizeof(mem) - 8, 256), -EINVAL);
    assert_int_equal(hs_fifo_init(NULL, sizeof(mem), 256), -EINVAL);
    assert_int_equal(hs_fifo_init(mem, sizeof(mem), 256), 0);

    hs_fifo_t f;
    assert_int_equal(hs_fifo_attach(&f, mem, HS_FIFO_HDR_SIZE + 128), -EINVAL);
    assert_int_equal(hs_fifo_attach(&f, mem + 64, sizeof(mem) - 64), -EINVAL); /* no magic */
    assert_int_equal(hs_fifo_attach(&f, mem, sizeof(mem)), 0);
    assert_int_equal(hs_fifo_size(&f), 256);
    assert_int_equal(hs_fifo_max_dequeue(&f), 0);
    assert_int_equal(hs_fifo_max_enqueue(&f), 256);
    assert_int_equal(hs_fifo_n_ooo(&f), 0);
    assert_int_equal(hs_fifo_n_corrupt(&f), 0);

    hs_fifo_shared_t *sh = (hs_fifo_shared_t *)mem;
    sh->size = 100; /* not a power of two */
    assert_int_equal(hs_fifo_attach(&f, mem, sizeof(mem)), -EINVAL);
    sh->size = 256;
    sh->tail = 300; /* tail - head > size */
    assert_int_equal(hs_fifo_attach(&f, mem, sizeof(mem)), -EIO);
}

static void test_empty_full_partial(void **state)
{
    (void)state;
    shm_fifo_t s;
    shm_open_fifo(&s, 64);
    hs_fifo_t *f = &s.f;
    uint8_t in[200], out[200];
    fill_pat(in, 0, sizeof(in));

    assert_int_equal(hs_fifo_dequeue(f, out, 10), -EAGAIN);
    assert_int_equal(hs_fifo_dequeue(f, out, 0), 0);
    assert_int_equal(hs_fifo_peek(f, 0, out, 1), -EAGAIN);
    assert_int_equal(hs_fifo_dequeue_drop(f, 5), 0);
    assert_int_equal(hs_fifo_enqueue(f, in, 0), 0);

    /* a write larger than the free space is cut to it */
    assert_int_equal(hs_fifo_enqueue(f, in, 50), 50);
    assert_int_equal(hs_fifo_enqueue(f, in + 50, 100), 14);
    assert_int_equal(hs_fifo_max_enqueue(f), 0);
    assert_int_equal(hs_fifo_max_dequeue(f), 64);
    assert_int_equal(hs_fifo_enqueue(f, in, 1), -EAGAIN);
    assert_int_equal(hs_fifo_enqueue(f, in, 0), 0);

    /* and a read larger than the readable bytes too */
    assert_int_equal(hs_fifo_dequeue(f, out, 30), 30);
    check_pat(out, 0, 30);
    assert_int_equal(hs_fifo_dequeue(f, out, 100), 34);
    check_pat(out, 30, 34);
    assert_int_equal(hs_fifo_dequeue(f, out, 1), -EAGAIN);
    assert_int_equal(hs_fifo_max_enqueue(f), 64);
    shm_close_fifo(&s);
}

/* Every start position of the ring times every length, through enqueue/dequeue, peek at every
 * offset and both kinds of spans. */
static void test_wrap_every_position(void **state)
{
    (void)state;
    enum { SZ = 64 };
    uint8_t in[SZ], out[SZ];
    for (uint32_t p = 0; p < SZ; p++) {
        shm_fifo_t s;
        shm_open_fifo(&s, SZ);
        hs_fifo_t *f = &s.f;
        fill_pat(in, 0, p);
        assert_int_equal(hs_fifo_enqueue(f, in, p), (int)p);
        assert_int_equal(hs_fifo_dequeue_drop(f, p), (int)p);
        uint32_t pos = p; /* stream position, congruent to p at the start of each round */
        for (uint32_t len = 1; len <= SZ; len++) {
            fill_pat(in, pos, len);
            assert_int_equal(hs_fifo_enqueue(f, in, len), (int)len);
            assert_int_equal(hs_fifo_max_dequeue(f), (int)len);
            assert_int_equal(hs_fifo_max_enqueue(f), (int)(SZ - len));
            for (uint32_t off = 0; off < len; off++) {
                memset(out, 0, sizeof(out));
                assert_int_equal(hs_fifo_peek(f, off, out, SZ), (int)(len - off));
                check_pat(out, pos + off, len - off);
            }
            assert_int_equal(hs_fifo_peek(f, len, out, 1), -EAGAIN);

            hs_fifo_span_t sp[2];
            assert_int_equal(hs_fifo_read_spans(f, sp), (int)len);
            uint32_t first = HS_MIN(len, SZ - p);
            assert_int_equal(sp[0].len, first);
            assert_int_equal(sp[1].len, len - first);
            assert_ptr_equal(sp[0].data, s.mem + HS_FIFO_HDR_SIZE + p);
            check_pat(sp[0].data, pos, sp[0].len);
            if (sp[1].len)
                check_pat(sp[1].data, pos + first, sp[1].len);

            assert_int_equal(hs_fifo_dequeue(f, out, SZ), (int)len);
            check_pat(out, pos, len);
            assert_int_equal(hs_fifo_max_dequeue(f), 0);

            /* back to a position congruent to p, through the write spans this time */
            assert_int_equal(hs_fifo_write_spans(f, sp), SZ);
            assert_ptr_equal(sp[0].data, s.mem + HS_FIFO_HDR_SIZE + ((p + len) % SZ));
            assert_int_equal(hs_fifo_enqueue_commit(f, SZ - len), (int)(SZ - len));
            assert_int_equal(hs_fifo_dequeue_drop(f, SZ), (int)(SZ - len));
            pos += SZ;
        }
        shm_close_fifo(&s);
    }
}

/* The free-running 32-bit positions wrap through 2^32 without a glitch. */
static void test_u32_position_wrap(void **state)
{
    (void)state;
    shm_fifo_t s;
    shm_open_fifo(&s, 256);
    hs_fifo_shared_t *sh = (hs_fifo_shared_t *)s.mem;
    uint32_t start = UINT32_MAX - 1000;
    sh->head = start;
    sh->tail = start;
    assert_int_equal(hs_fifo_attach(&s.f, s.mem, s.len - GUARD), 0);
    hs_fifo_t *f = &s.f;

    uint8_t in[256], out[256];
    uint32_t wpos = start, rpos = start;
    for (int i = 0; i < 200; i++) {
        uint32_t n = 1 + (uint32_t)(i * 37) % 200;
        fill_pat(in, wpos, n);
        int w = hs_fifo_enqueue(f, in, n);
        assert_true(w > 0);
        wpos += (uint32_t)w;
        uint32_t m = 1 + (uint32_t)(i * 53) % 220;
        int r = hs_fifo_dequeue(f, out, m);
        assert_true(r > 0);
        check_pat(out, rpos, (uint32_t)r);
        rpos += (uint32_t)r;
        assert_int_equal(hs_fifo_max_dequeue(f), (int)(wpos - rpos));
    }
    assert_true(wpos < start); /* really went through 2^32 */
    assert_int_equal(atomic_load(&sh->tail), wpos);
    assert_int_equal(atomic_load(&sh->head), rpos);
    shm_close_fifo(&s);
}

static void test_peek_and_drop(void **state)
{
    (void)state;
    shm_fifo_t s;
    shm_open_fifo(&s, 128);
    hs_fifo_t *f = &s.f;
    uint8_t in[128], out[128];

    /* put the head at 100 so the data crosses the end of the ring */
    fill_pat(in, 0, 100);
    assert_int_equal(hs_fifo_enqueue(f, in, 100), 100);
    assert_int_equal(hs_fifo_dequeue_drop(f, 100), 100);
    fill_pat(in, 100, 90);
    assert_int_equal(hs_fifo_enqueue(f, in, 90), 90);

    for (uint32_t off = 0; off < 90; off += 7) {
        for (uint32_t len = 1; len <= 128; len += 11) {
            int n = hs_fifo_peek(f, off, out, len);
            assert_int_equal(n, (int)HS_MIN(len, 90 - off));
            check_pat(out, 100 + off, (uint32_t)n);
        }
    }
    assert_int_equal(hs_fifo_peek(f, 90, out, 10), -EAGAIN);
    assert_int_equal(hs_fifo_peek(f, UINT32_MAX, out, 10), -EAGAIN);
    assert_int_equal(hs_fifo_peek(f, 10, out, UINT32_MAX), 80); /* no overflow of off+len */
    assert_int_equal(hs_fifo_peek(f, 10, out, 0), 0);
    assert_int_equal(hs_fifo_max_dequeue(f), 90); /* peek consumed nothing */

    /* drop acked bytes, then the next peek at 0 sees what follows */
    assert_int_equal(hs_fifo_dequeue_drop(f, 33), 33);
    assert_int_equal(hs_fifo_peek(f, 0, out, 10), 10);
    check_pat(out, 133, 10);
    assert_int_equal(hs_fifo_dequeue_drop(f, 1000), 57);
    assert_int_equal(hs_fifo_dequeue_drop(f, 1), 0);
    assert_int_equal(hs_fifo_max_dequeue(f), 0);
    assert_int_equal(hs_fifo_max_enqueue(f), 128);
    shm_close_fifo(&s);
}

static void test_spans(void **state)
{
    (void)state;
    shm_fifo_t s;
    shm_open_fifo(&s, 128);
    hs_fifo_t *f = &s.f;
    hs_fifo_span_t sp[2];
    uint8_t out[128];

    /* empty ring at position 0: one write region, no read region */
    assert_int_equal(hs_fifo_read_spans(f, sp), 0);
    assert_int_equal(sp[0].len + sp[1].len, 0);
    assert_int_equal(hs_fifo_write_spans(f, sp), 128);
    assert_int_equal(sp[0].len, 128);
    assert_int_equal(sp[1].len, 0);
    assert_ptr_equal(sp[0].data, s.mem + HS_FIFO_HDR_SIZE);
    fill_pat(sp[0].data, 0, 100);
    assert_int_equal(hs_fifo_enqueue_commit(f, 129), -EINVAL);
    assert_int_equal(hs_fifo_enqueue_commit(f, 100), 100);

    /* one read region */
    assert_int_equal(hs_fifo_read_spans(f, sp), 100);
    assert_int_equal(sp[0].len, 100);
    assert_int_equal(sp[1].len, 0);
    check_pat(sp[0].data, 0, 100);
    assert_int_equal(hs_fifo_dequeue_commit(f, 101), -EINVAL);
    assert_int_equal(hs_fifo_dequeue_commit(f, 90), 90);

    /* the free space now wraps: two write regions [100,128) and [0,90) */
    assert_int_equal(hs_fifo_write_spans(f, sp), 118);
    assert_int_equal(sp[0].len, 28);
    assert_int_equal(sp[1].len, 90);
    assert_ptr_equal(sp[1].data, s.mem + HS_FIFO_HDR_SIZE);
    fill_pat(sp[0].data, 100, 28);
    fill_pat(sp[1].data, 128, 50);
    assert_int_equal(hs_fifo_enqueue_commit(f, 78), 78);

    /* two read regions [90,128) and [0,50) */
    assert_int_equal(hs_fifo_read_spans(f, sp), 88);
    assert_int_equal(sp[0].len, 38);
    assert_int_equal(sp[1].len, 50);
    check_pat(sp[0].data, 90, 38);
    check_pat(sp[1].data, 128, 50);
    assert_int_equal(hs_fifo_dequeue_commit(f, 40), 40);
    assert_int_equal(hs_fifo_dequeue(f, out, 128), 48);
    check_pat(out, 130, 48);

    /* full ring: no write region */
    assert_int_equal(hs_fifo_enqueue_commit(f, 128), 128);
    assert_int_equal(hs_fifo_write_spans(f, sp), 0);
    assert_int_equal(sp[0].len + sp[1].len, 0);
    assert_int_equal(hs_fifo_enqueue_commit(f, 1), -EINVAL);
    assert_int_equal(hs_fifo_enqueue_commit(f, 0), 0);
    assert_int_equal(hs_fifo_dequeue_commit(f, 0), 0);
    shm_close_fifo(&s);
}

static void test_event_flag(void **state)
{
    (void)state;
    shm_fifo_t s;
    shm_open_fifo(&s, 64);
    hs_fifo_t *f = &s.f;
    assert_false(hs_fifo_has_event(f));
    assert_true(hs_fifo_set_event(f)); /* first: post an event */
    assert_true(hs_fifo_has_event(f));
    assert_false(hs_fifo_set_event(f)); /* pending: do not post again */
    assert_false(hs_fifo_set_event(f));
    hs_fifo_clear_event(f);
    assert_false(hs_fifo_has_event(f));
    assert_true(hs_fifo_set_event(f));
    shm_close_fifo(&s);
}

static void test_deq_notif(void **state)
{
    (void)state;
    shm_fifo_t s;
    shm_open_fifo(&s, 64);
    hs_fifo_t *f = &s.f;
    uint8_t buf[64] = {0};

    assert_false(hs_fifo_needs_deq_notif(f)); /* nobody asked */
    assert_int_equal(hs_fifo_enqueue(f, buf, 64), 64);
    assert_int_equal(hs_fifo_want_deq_notif(f, 20), 0); /* still full: producer waits */
    assert_int_equal(hs_fifo_dequeue(f, buf, 10), 10);
    assert_false(hs_fifo_needs_deq_notif(f)); /* 10 free < 20 */
    assert_int_equal(hs_fifo_dequeue(f, buf, 10), 10);
    assert_true(hs_fifo_needs_deq_notif(f)); /* 20 free: tell, once */
    assert_false(hs_fifo_needs_deq_notif(f));
    assert_int_equal(hs_fifo_dequeue(f, buf, 10), 10);
    assert_false(hs_fifo_needs_deq_notif(f));

    /* the request reports the free space it was made against */
    assert_int_equal(hs_fifo_want_deq_notif(f, 10), 30);
    assert_true(hs_fifo_needs_deq_notif(f));

    /* n = 0 cancels; n > size is clamped to the size */
    assert_int_equal(hs_fifo_want_deq_notif(f, 40), 30);
    assert_int_equal(hs_fifo_want_deq_notif(f, 0), 30);
    assert_int_equal(hs_fifo_dequeue(f, buf, 64), 34);
    assert_false(hs_fifo_needs_deq_notif(f));
    assert_int_equal(hs_fifo_enqueue(f, buf, 1), 1);
    assert_int_equal(hs_fifo_want_deq_notif(f, 1000), 63);
    assert_false(hs_fifo_needs_deq_notif(f));
    assert_int_equal(hs_fifo_dequeue(f, buf, 1), 1);
    assert_true(hs_fifo_needs_deq_notif(f));
    shm_close_fifo(&s);
}

static void test_flags_and_owner(void **state)
{
    (void)state;
    shm_fifo_t s;
    shm_open_fifo(&s, 64);
    hs_fifo_t *f = &s.f;
    assert_int_equal(hs_fifo_flags(f), 0);
    assert_int_equal(hs_fifo_set_flags(f, 0x5), 0);
    assert_int_equal(hs_fifo_set_flags(f, 0x2), 0x5);
    assert_int_equal(hs_fifo_clear_flags(f, 0x4), 0x7);
    assert_int_equal(hs_fifo_flags(f), 0x3);

    hs_fifo_owner_t *o = hs_fifo_owner(f);
    assert_int_equal(o->master_session_index, 0);
    o->master_session_index = 7;
    o->client_thread_index = 3;
    /* the owner area lives in shared memory: a second handle sees it */
    hs_fifo_t g;
    assert_int_equal(hs_fifo_attach(&g, s.mem, s.len - GUARD), 0);
    assert_int_equal(hs_fifo_owner(&g)->master_session_index, 7);
    assert_int_equal(hs_fifo_owner(&g)->client_thread_index, 3);
    assert_int_equal(hs_fifo_flags(&g), 0x3);
    shm_close_fifo(&s);
}

/* Position independence: the same memfd mapped twice at different addresses; producer on one
 * mapping, consumer on the other. */
static void test_two_mappings(void **state)
{
    (void)state;
    shm_fifo_t s;
    shm_open_fifo(&s, 1024);
    size_t len = s.len - GUARD;
    uint8_t *m2 = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, s.fd, 0);
    assert_true(m2 != MAP_FAILED);
    assert_ptr_not_equal(m2, s.mem);
    hs_fifo_t prod, cons;
    assert_int_equal(hs_fifo_attach(&prod, s.mem, len), 0);
    assert_int_equal(hs_fifo_attach(&cons, m2, len), 0);

    uint8_t in[700], out[700];
    uint32_t wpos = 0, rpos = 0;
    for (int i = 0; i < 50; i++) {
        fill_pat(in, wpos, 700);
        int w = hs_fifo_enqueue(&prod, in, 700);
        assert_true(w > 0);
        wpos += (uint32_t)w;
        hs_fifo_span_t sp[2];
        int r = hs_fifo_read_spans(&cons, sp);
        assert_int_equal(r, (int)(wpos - rpos));
        assert_true(sp[0].data >= m2 + HS_FIFO_HDR_SIZE && sp[0].data < m2 + len);
        int d = hs_fifo_dequeue(&cons, out, 500);
        check_pat(out, rpos, (uint32_t)d);
        rpos += (uint32_t)d;
    }
    munmap(m2, len);
    shm_close_fifo(&s);
}

/* A hostile peer writes garbage into the header: every call clamps, returns -EIO, counts it,
 * and never touches memory outside the data area (the guard is checked on close). */
static void test_corrupt_header(void **state)
{
    (void)state;
    shm_fifo_t s;
    shm_open_fifo(&s, 256);
    hs_fifo_shared_t *sh = (hs_fifo_shared_t *)s.mem;
    hs_fifo_t *f = &s.f;
    uint8_t buf[512];
    hs_fifo_span_t sp[2];

    /* consumer side: a tail more than size ahead of our head */
    atomic_store(&sh->tail, 257);
    assert_int_equal(hs_fifo_dequeue(f, buf, 512), -EIO);
    assert_int_equal(hs_fifo_peek(f, 0, buf, 512), -EIO);
    assert_int_equal(hs_fifo_dequeue_drop(f, 512), -EIO);
    assert_int_equal(hs_fifo_max_dequeue(f), -EIO);
    assert_int_equal(hs_fifo_read_spans(f, sp), -EIO);
    assert_int_equal(sp[0].len + sp[1].len, 0);
    assert_int_equal(hs_fifo_dequeue_commit(f, 1), -EIO);
    assert_int_equal(hs_fifo_n_corrupt(f), 6);
    /* a tail behind the head wraps to a huge difference: also corrupt */
    atomic_store(&sh->tail, UINT32_MAX);
    assert_int_equal(hs_fifo_dequeue(f, buf, 1), -EIO);
    assert_int_equal(hs_fifo_n_corrupt(f), 7);
    /* the consumer's own head comes from its handle, not from the header */
    atomic_store(&sh->tail, 0);
    atomic_store(&sh->head, 5000);
    assert_int_equal(hs_fifo_max_dequeue(f), 0);

    /* producer side: a head that makes tail - head > size */
    atomic_store(&sh->head, 0);
    assert_int_equal(hs_fifo_enqueue(f, buf, 100), 100);
    atomic_store(&sh->head, 5000);
    assert_int_equal(hs_fifo_enqueue(f, buf, 300), -EIO);
    assert_int_equal(hs_fifo_max_enqueue(f), -EIO);
    assert_int_equal(hs_fifo_write_spans(f, sp), -EIO);
    assert_int_equal(sp[0].len + sp[1].len, 0);
    assert_int_equal(hs_fifo_enqueue_commit(f, 300), -EIO);
    assert_int_equal(hs_fifo_enqueue_ooo(f, 10, buf, 300), -EIO);
    assert_int_equal(hs_fifo_want_deq_notif(f, 10), -EIO);
    assert_int_equal(hs_fifo_n_corrupt(f), 13);
    /* the producer's own tail comes from its handle */
    atomic_store(&sh->head, 0);
    atomic_store(&sh->tail, 77777);
    assert_int_equal(hs_fifo_enqueue(f, buf, 300), 156);
    assert_int_equal(atomic_load(&sh->tail), 256);

    /* a size rewritten after attach is ignored: the handle keeps its own */
    sh->size = 1u << 30;
    assert_int_equal(hs_fifo_max_dequeue(f), 256);
    assert_int_equal(hs_fifo_dequeue(f, buf, 512), 256);
    assert_int_equal(hs_fifo_max_enqueue(f), 256);
    shm_close_fifo(&s);
}

/* The producer-only OOO list is in shared memory too; a garbage list is dropped, not used. */
static void test_corrupt_ooo_list(void **state)
{
    (void)state;
    shm_fifo_t s;
    shm_open_fifo(&s, 256);
    hs_fifo_shared_t *sh = (hs_fifo_shared_t *)s.mem;
    hs_fifo_t *f = &s.f;
    uint8_t buf[256] = {0};
    hs_fifo_range_t r[HS_FIFO_OOO_MAX];

    sh->n_ooo = 1000;
    assert_int_equal(hs_fifo_n_ooo(f), HS_FIFO_OOO_MAX);
    assert_int_equal(hs_fifo_enqueue(f, buf, 10), -EIO);
    assert_int_equal(sh->n_ooo, 0); /* dropped */
    assert_int_equal(hs_fifo_enqueue(f, buf, 10), 10);

    /* a segment beyond the free space would make the tail jump past the head */
    sh->n_ooo = 1;
    sh->ooo[0] = (hs_fifo_seg_t){20, 20 + 300};
    assert_int_equal(hs_fifo_ooo_ranges(f, r, HS_FIFO_OOO_MAX), -EIO);
    sh->n_ooo = 1;
    assert_int_equal(hs_fifo_enqueue(f, buf, 10), -EIO);
    /* unsorted, empty, or starting at the tail */
    sh->ooo[0] = (hs_fifo_seg_t){100, 110};
    sh->ooo[1] = (hs_fifo_seg_t){50, 60};
    sh->n_ooo = 2;
    assert_int_equal(hs_fifo_enqueue_ooo(f, 30, buf, 5), -EIO);
    sh->ooo[0] = (hs_fifo_seg_t){50, 50};
    sh->n_ooo = 1;
    assert_int_equal(hs_fifo_enqueue_ooo(f, 30, buf, 5), -EIO);
    sh->ooo[0] = (hs_fifo_seg_t){10, 20};
    sh->n_ooo = 1;
    assert_int_equal(hs_fifo_enqueue_commit(f, 5), -EIO);
    assert_int_equal(hs_fifo_n_corrupt(f), 6);
    assert_int_equal(atomic_load(&sh->tail), 10); /* none of those moved the tail */
    assert_int_equal(hs_fifo_max_dequeue(f), 10);
    shm_close_fifo(&s);
}

/* Random mix of every in-order call against a reference byte queue. */
static void test_random_model(void **state)
{
    (void)state;
    shm_fifo_t s;
    shm_open_fifo(&s, 512);
    hs_fifo_t *f = &s.f;
    uint8_t buf[1200];
    uint32_t wpos = 0, rpos = 0, rng = 12345;
    for (int i = 0; i < 20000; i++) {
        rng = rng * 1103515245u + 12345u;
        uint32_t r = rng >> 8, n = r % 700, used = wpos - rpos, free = 512 - used;
        int got;
        hs_fifo_span_t sp[2];
        switch (r % 7) {
        case 0:
            fill_pat(buf, wpos, n);
            got = hs_fifo_enqueue(f, buf, n);
            assert_int_equal(got, n == 0 ? 0 : free == 0 ? -EAGAIN : (int)HS_MIN(n, free));
            wpos += got > 0 ? (uint32_t)got : 0;
            break;
        case 1:
            assert_int_equal(hs_fifo_write_spans(f, sp), (int)free);
            n = HS_MIN(n, free);
            fill_pat(sp[0].data, wpos, HS_MIN(n, sp[0].len));
            if (n > sp[0].len)
                fill_pat(sp[1].data, wpos + sp[0].len, n - sp[0].len);
            assert_int_equal(hs_fifo_enqueue_commit(f, n), (int)n);
            wpos += n;
            break;
        case 2:
            got = hs_fifo_dequeue(f, buf, n);
            assert_int_equal(got, n == 0 ? 0 : used == 0 ? -EAGAIN : (int)HS_MIN(n, used));
            if (got > 0)
                check_pat(buf, rpos, (uint32_t)got);
            rpos += got > 0 ? (uint32_t)got : 0;
            break;
        case 3:
            assert_int_equal(hs_fifo_read_spans(f, sp), (int)used);
            n = HS_MIN(n, used);
            check_pat(sp[0].data, rpos, HS_MIN(n, sp[0].len));
            if (n > sp[0].len)
                check_pat(sp[1].data, rpos + sp[0].len, n - sp[0].len);
            assert_int_equal(hs_fifo_dequeue_commit(f, n), (int)n);
            rpos += n;
            break;
        case 4: {
            uint32_t off = (r >> 10) % 600;
            got = hs_fifo_peek(f, off, buf, n);
            if (n == 0)
                assert_int_equal(got, 0);
            else if (off >= used)
                assert_int_equal(got, -EAGAIN);
            else {
                assert_int_equal(got, (int)HS_MIN(n, used - off));
                check_pat(buf, rpos + off, (uint32_t)got);
            }
            break;
        }
        case 5:
            assert_int_equal(hs_fifo_dequeue_drop(f, n), (int)HS_MIN(n, used));
            rpos += HS_MIN(n, used);
            break;
        default:
            assert_int_equal(hs_fifo_max_dequeue(f), (int)used);
            assert_int_equal(hs_fifo_max_enqueue(f), (int)free);
        }
    }
    assert_int_equal(hs_fifo_n_corrupt(f), 0);
    shm_close_fifo(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes_and_init),      cmocka_unit_test(test_empty_full_partial),
        cmocka_unit_test(test_wrap_every_position), cmocka_unit_test(test_u32_position_wrap),
        cmocka_unit_test(test_peek_and_drop),       cmocka_unit_test(test_spans),
        cmocka_unit_test(test_event_flag),          cmocka_unit_test(test_deq_notif),
        cmocka_unit_test(test_flags_and_owner),     cmocka_unit_test(test_two_mappings),
        cmocka_unit_test(test_corrupt_header),      cmocka_unit_test(test_corrupt_ooo_list),
        cmocka_unit_test(test_random_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
