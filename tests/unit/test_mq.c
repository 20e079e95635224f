/* Message queue in one thread: full/empty edges, index wrap-around, bursts, corrupt rings,
 * the sleep handshake step by step. HS_TEST_LOCKFREE (drives the atomics; TSan runs it). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "svm/mq.h"

#define MiB (1024ull * 1024)

/* A segment with one queue, and a second handle on it as the peer would have. */
typedef struct {
    hs_segment_t seg;
    hs_mq_t prod; /* the creator's handle, used to send */
    hs_mq_t cons; /* attached like a peer, used to receive */
} fixture_t;

static void fixture_open(fixture_t *f, uint32_t msg_size, uint32_t n_msgs)
{
    assert_int_equal(hs_segment_create(&f->seg, "mq-test", 4 * MiB), 0);
    assert_int_equal(hs_mq_create(&f->seg, msg_size, n_msgs, &f->prod), 0);
    assert_int_equal(hs_mq_attach_segment(&f->cons, &f->seg, hs_mq_offset(&f->prod),
                                          dup(hs_mq_eventfd(&f->prod))),
                     0);
}

static void fixture_close(fixture_t *f)
{
    hs_mq_detach(&f->cons);
    assert_int_equal(hs_mq_destroy(&f->prod, &f->seg), 0);
    hs_segment_detach(&f->seg);
}

/* Message i of a test: every byte depends on i, so a message from the wrong slot or a torn
 * copy shows. */
static void make_msg(uint8_t *m, uint32_t size, uint32_t i)
{
    for (uint32_t b = 0; b < size; b++)
        m[b] = (uint8_t)(i * 131u + b * 17u + (i >> 8));
}

static void expect_msg(const uint8_t *m, uint32_t size, uint32_t i)
{
    uint8_t want[256];
    make_msg(want, size, i);
    assert_memory_equal(m, want, size);
}

static bool efd_readable(int efd)
{
    struct pollfd p = {.fd = efd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

static void test_geometry(void **state)
{
    (void)state;
    assert_int_equal(hs_mq_ring_bytes(0, 8), 0);
    assert_int_equal(hs_mq_ring_bytes(64, 0), 0);
    assert_int_equal(hs_mq_ring_bytes(64, 6), 0);
    assert_int_equal(hs_mq_ring_bytes(HS_MQ_MAX_MSG_SIZE + 1, 8), 0);
    assert_int_equal(hs_mq_ring_bytes(64, HS_MQ_MAX_MSGS * 2), 0);
    assert_int_equal(hs_mq_ring_bytes(64, 8), sizeof(hs_mq_ring_t) + 64 * 8);
    assert_int_equal(hs_mq_ring_bytes(13, 4), sizeof(hs_mq_ring_t) + 16 * 4);
    assert_int_equal(hs_mq_ring_bytes(1, 1), sizeof(hs_mq_ring_t) + 8);

    hs_segment_t s, peer;
    hs_mq_t mq;
    assert_int_equal(hs_segment_create(&s, "geom", 64 * 1024), 0);
    assert_int_equal(hs_mq_create(&s, 64, 3, &mq), -EINVAL);
    assert_int_equal(hs_mq_create(&s, 0, 4, &mq), -EINVAL);
    assert_int_equal(hs_mq_create(&s, 64, 4096, &mq), -ENOMEM); /* 256 KiB ring */
    assert_int_equal(hs_segment_attach(&peer, dup(hs_segment_fd(&s))), 0);
    assert_int_equal(hs_mq_create(&peer, 64, 4, &mq), -EPERM);
    hs_segment_detach(&peer);

    hs_segment_stats_t st0, st1;
    hs_segment_stats(&s, &st0);
    assert_int_equal(hs_mq_create(&s, 64, 16, &mq), 0);
    assert_int_equal(hs_mq_offset(&mq) % HS_CACHE_LINE, 0);
    assert_int_equal(hs_mq_msg_size(&mq), 64);
    assert_true(hs_mq_eventfd(&mq) >= 0);
    assert_int_equal(hs_mq_destroy(&mq, &s), 0);
    hs_segment_stats(&s, &st1);
    assert_int_equal(st1.n_frees, st0.n_frees + 1);
    assert_int_equal(st1.bytes_in_use, st0.bytes_in_use);
    assert_int_equal(hs_mq_destroy(&mq, &s), -EINVAL); /* already gone */
    hs_segment_detach(&s);
}

/* Empty -> full -> empty, one message at a time, checking every edge and counter. */
static void test_full_and_empty(void **state)
{
    (void)state;
    fixture_t f;
    enum { N = 8, SZ = 64 };
    fixture_open(&f, SZ, N);
    uint8_t m[SZ];
    assert_int_equal(hs_mq_recv(&f.cons, m), -EAGAIN);
    assert_int_equal(hs_mq_count(&f.cons), 0);
    assert_int_equal(hs_mq_room(&f.prod), N);
    for (uint32_t i = 0; i < N; i++) {
        make_msg(m, SZ, i);
        assert_int_equal(hs_mq_send(&f.prod, m), 0);
        assert_int_equal(hs_mq_count(&f.cons), i + 1);
        assert_int_equal(hs_mq_room(&f.prod), N - i - 1);
    }
    make_msg(m, SZ, 999);
    assert_int_equal(hs_mq_send(&f.prod, m), -EAGAIN);
    assert_int_equal(hs_mq_send(&f.prod, m), -EAGAIN);
    assert_int_equal(hs_mq_send_burst(&f.prod, m, 1), 0);
    for (uint32_t i = 0; i < N; i++) {
        assert_int_equal(hs_mq_recv(&f.cons, m), 0);
        expect_msg(m, SZ, i);
    }
    assert_int_equal(hs_mq_recv(&f.cons, m), -EAGAIN);
    assert_int_equal(hs_mq_recv_burst(&f.cons, m, 1), 0);
    assert_int_equal(hs_mq_room(&f.prod), N);
    /* One slot freed: exactly one send fits. */
    make_msg(m, SZ, 50);
    assert_int_equal(hs_mq_send(&f.prod, m), 0);
    assert_int_equal(hs_mq_recv(&f.cons, m), 0);
    expect_msg(m, SZ, 50);

    hs_mq_stats_t st;
    hs_mq_stats(&f.cons, &st);
    assert_int_equal(st.n_sent, N + 1);
    assert_int_equal(st.n_recv, N + 1);
    assert_int_equal(st.n_full, 3);
    assert_int_equal(st.n_signals, 0); /* nobody slept */
    assert_int_equal(st.n_sleeps, 0);
    fixture_close(&f);
}

/* Indices start just below 2^32 so the free-running counters wrap inside the test; sizes
 * whose stride differs from the message size take the per-slot copy path. Bursts of every
 * size against a ring in every fill state. */
static void wrap_run(uint32_t msg_size, uint32_t n_msgs)
{
    hs_segment_t s;
    hs_mq_t owner, prod, cons;
    assert_int_equal(hs_segment_create(&s, "wrap", 1 * MiB), 0);
    assert_int_equal(hs_mq_create(&s, msg_size, n_msgs, &owner), 0);
    hs_mq_ring_t *r = hs_segment_ptr(&s, hs_mq_offset(&owner));
    const uint32_t start = UINT32_MAX - 2 * n_msgs - 3;
    r->head = start;
    r->tail = start;
    assert_int_equal(hs_mq_attach(&prod, r, dup(hs_mq_eventfd(&owner))), 0);
    assert_int_equal(hs_mq_attach(&cons, r, dup(hs_mq_eventfd(&owner))), 0);

    enum { MAXB = 40 };
    uint8_t buf[MAXB * 256];
    uint32_t sent = 0, got = 0;
    for (uint32_t round = 0; round < 8 * n_msgs + 50; round++) {
        uint32_t want = 1 + round % (n_msgs + 2);
        for (uint32_t i = 0; i < want; i++)
            make_msg(buf + i * msg_size, msg_size, sent + i);
        uint32_t room = n_msgs - (sent - got);
        int k = hs_mq_send_burst(&prod, buf, want);
        assert_int_equal(k, HS_MIN(want, room));
        sent += (uint32_t)k;
        assert_int_equal(hs_mq_count(&cons), sent - got);

        uint32_t max = 1 + (round * 3) % (n_msgs + 3);
        int n = hs_mq_recv_burst(&cons, buf, max);
        assert_int_equal(n, HS_MIN(max, sent - got));
        for (int i = 0; i < n; i++)
            expect_msg(buf + i * msg_size, msg_size, got + i);
        got += (uint32_t)n;
        if (round % 5 == 0 && got < sent) { /* the single-message calls too */
            assert_int_equal(hs_mq_recv(&cons, buf), 0);
            expect_msg(buf, msg_size, got++);
        }
    }
    while (got < sent) {
        assert_int_equal(hs_mq_recv(&cons, buf), 0);
        expect_msg(buf, msg_size, got++);
    }
    assert_int_equal(hs_mq_recv(&cons, buf), -EAGAIN);
    assert_true(sent > 2 * n_msgs + 3); /* the indices did wrap */
    assert_int_equal(r->tail, start + sent);
    assert_int_equal(r->head, start + sent);
    hs_mq_stats_t st;
    hs_mq_stats(&cons, &st);
    assert_int_equal(st.n_sent, sent);
    assert_int_equal(st.n_recv, sent);
    hs_mq_detach(&prod);
    hs_mq_detach(&cons);
    assert_int_equal(hs_mq_destroy(&owner, &s), 0);
    hs_segment_detach(&s);
}

static void test_wraparound(void **state)
{
    (void)state;
    wrap_run(64, 8);
    wrap_run(13, 16); /* stride 16: per-slot copies */
    wrap_run(1, 1);
    wrap_run(256, 4);
    wrap_run(24, 32);
}

static void test_burst(void **state)
{
    (void)state;
    fixture_t f;
    enum { N = 16, SZ = 32 };
    fixture_open(&f, SZ, N);
    uint8_t buf[N * 2 * SZ];
    for (uint32_t i = 0; i < 20; i++)
        make_msg(buf + i * SZ, SZ, i);
    assert_int_equal(hs_mq_send_burst(&f.prod, buf, 0), 0);
    assert_int_equal(hs_mq_send_burst(&f.prod, buf, 10), 10);
    assert_int_equal(hs_mq_send_burst(&f.prod, buf + 10 * SZ, 10), 6); /* short: full */
    assert_int_equal(hs_mq_send_burst(&f.prod, buf, 1), 0);
    hs_mq_stats_t st;
    hs_mq_stats(&f.prod, &st);
    assert_int_equal(st.n_full, 2);
    assert_int_equal(st.n_sent, 16);

    uint8_t in[N * 2 * SZ];
    assert_int_equal(hs_mq_recv_burst(&f.cons, in, 0), 0);
    assert_int_equal(hs_mq_recv_burst(&f.cons, in, 4), 4);
    assert_int_equal(hs_mq_recv_burst(&f.cons, in + 4 * SZ, 100), 12);
    assert_int_equal(hs_mq_recv_burst(&f.cons, in, 100), 0);
    for (uint32_t i = 0; i < 16; i++)
        expect_msg(in + i * SZ, SZ, i);
    fixture_close(&f);
}

/* A ring header a peer got wrong, field by field; the fd stays the caller's on failure. */
static void test_attach_validation(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, 64, 8);
    hs_mq_ring_t *r = hs_segment_ptr(&f.seg, hs_mq_offset(&f.prod));
    int efd = dup(hs_mq_eventfd(&f.prod));
    hs_mq_t x;
    assert_int_equal(hs_mq_attach(&x, NULL, efd), -EINVAL);
    assert_int_equal(hs_mq_attach(&x, (uint8_t *)r + 8, efd), -EINVAL);
    assert_int_equal(hs_mq_attach(&x, r, -1), -EBADF);

    struct {
        uint32_t *field;
        uint32_t bad;
        int err;
    } cases[] = {
        {&r->magic, 0xdeadbeef, -EPROTO},
        {&r->version, HS_MQ_VERSION + 1, -EPROTO},
        {&r->n_msgs, 6, -EINVAL},
        {&r->n_msgs, 0, -EINVAL},
        {&r->n_msgs, HS_MQ_MAX_MSGS * 2, -EINVAL},
        {&r->msg_size, 0, -EINVAL},
        {&r->msg_size, HS_MQ_MAX_MSG_SIZE + 8, -EINVAL},
        {&r->stride, 32, -EINVAL},
    };
    for (size_t i = 0; i < HS_ARRAY_LEN(cases); i++) {
        uint32_t saved = *cases[i].field;
        *cases[i].field = cases[i].bad;
        assert_int_equal(hs_mq_attach(&x, r, efd), cases[i].err);
        assert_int_equal(hs_mq_attach_segment(&x, &f.seg, hs_mq_offset(&f.prod), efd),
                         cases[i].err);
        *cases[i].field = saved;
    }
    /* Impossible indices: more messages than slots. */
    r->tail = r->head + 9;
    assert_int_equal(hs_mq_attach(&x, r, efd), -EPROTO);
    r->tail = r->head;

    /* Offsets that do not hold a ring inside the segment. */
    uint64_t off = hs_mq_offset(&f.prod), size = hs_segment_size(&f.seg);
    assert_int_equal(hs_mq_attach_segment(&x, &f.seg, off + 8, efd), -EINVAL);
    assert_int_equal(hs_mq_attach_segment(&x, &f.seg, size, efd), -EINVAL);
    assert_int_equal(hs_mq_attach_segment(&x, &f.seg, size - 64, efd), -EINVAL);
    assert_int_equal(hs_mq_attach_segment(&x, &f.seg, UINT64_MAX - 63, efd), -EINVAL);
    r->n_msgs = 1u << 20; /* a valid geometry whose slots run past the segment's end */
    assert_int_equal(hs_mq_attach_segment(&x, &f.seg, off, efd), -EINVAL);
    r->n_msgs = 8;
    assert_int_equal(x.efd, -1);
    assert_true(efd_readable(efd) == false); /* still open, ours */

    assert_int_equal(hs_mq_attach_segment(&x, &f.seg, off, efd), 0);
    assert_int_equal(hs_mq_offset(&x), off);
    hs_mq_detach(&x); /* closes efd */
    fixture_close(&f);
}

/* A peer that writes an impossible index is reported, not followed. */
static void test_corrupt_indices(void **state)
{
    (void)state;
    fixture_t f;
    enum { N = 8, SZ = 64 };
    fixture_open(&f, SZ, N);
    hs_mq_ring_t *r = hs_segment_ptr(&f.seg, hs_mq_offset(&f.prod));
    uint8_t m[SZ];
    for (uint32_t i = 0; i < 2; i++) {
        make_msg(m, SZ, i);
        assert_int_equal(hs_mq_send(&f.prod, m), 0);
    }
    assert_int_equal(hs_mq_recv(&f.cons, m), 0);
    r->tail = r->head + N + 5;
    assert_int_equal(hs_mq_recv(&f.cons, m), 0); /* already known published: fine */
    expect_msg(m, SZ, 1);
    assert_int_equal(hs_mq_recv(&f.cons, m), -EPROTO);
    assert_int_equal(hs_mq_recv_burst(&f.cons, m, 1), -EPROTO);
    assert_int_equal(hs_mq_count(&f.cons), 1); /* reads as non-empty: recv reports it */
    assert_int_equal(hs_mq_wait(&f.cons, 0), 1);
    r->tail = 2;

    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(hs_mq_send(&f.prod, m), 0);
    r->head = r->tail + 3; /* ahead of tail */
    assert_int_equal(hs_mq_room(&f.prod), 0);
    assert_int_equal(hs_mq_send(&f.prod, m), -EPROTO);
    assert_int_equal(hs_mq_send_burst(&f.prod, m, 1), -EPROTO);
    fixture_close(&f);
}

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* The handshake one step at a time: the eventfd is written only after an announced sleep,
 * once per sleep, and cleared by cancel. */
static void test_sleep_handshake(void **state)
{
    (void)state;
    fixture_t f;
    enum { N = 8, SZ = 64 };
    fixture_open(&f, SZ, N);
    hs_mq_ring_t *r = hs_segment_ptr(&f.seg, hs_mq_offset(&f.prod));
    int efd = hs_mq_eventfd(&f.cons);
    uint8_t m[SZ];
    hs_mq_stats_t st;

    assert_int_equal(hs_mq_prepare_sleep(&f.cons), 0);
    assert_int_equal(r->sleeping, 1);
    assert_false(efd_readable(efd));
    assert_int_equal(hs_mq_send(&f.prod, m), 0);
    assert_int_equal(r->sleeping, 0); /* taken by the producer */
    assert_true(efd_readable(efd));
    assert_int_equal(hs_mq_send(&f.prod, m), 0);
    assert_int_equal(hs_mq_send(&f.prod, m), 0);
    hs_mq_stats(&f.prod, &st);
    assert_int_equal(st.n_signals, 1); /* one per sleep, not per message */
    hs_mq_cancel_sleep(&f.cons);
    assert_false(efd_readable(efd));

    /* Messages pending: no sleep, announcement withdrawn. */
    assert_int_equal(hs_mq_prepare_sleep(&f.cons), -EAGAIN);
    assert_int_equal(r->sleeping, 0);
    assert_int_equal(hs_mq_recv_burst(&f.cons, m, 1), 1);
    assert_int_equal(hs_mq_recv(&f.cons, m), 0);
    assert_int_equal(hs_mq_recv(&f.cons, m), 0);

    /* Busy both sides (no announcements): no signals at all. */
    for (uint32_t i = 0; i < 1000; i++) {
        make_msg(m, SZ, i);
        assert_int_equal(hs_mq_send(&f.prod, m), 0);
        assert_int_equal(hs_mq_recv(&f.cons, m), 0);
        expect_msg(m, SZ, i);
    }
    /* Announce, then withdraw before anything is sent: the producer stays silent. */
    assert_int_equal(hs_mq_prepare_sleep(&f.cons), 0);
    hs_mq_cancel_sleep(&f.cons);
    assert_int_equal(hs_mq_send(&f.prod, m), 0);
    assert_int_equal(hs_mq_recv(&f.cons, m), 0);
    hs_mq_stats(&f.prod, &st);
    assert_int_equal(st.n_signals, 1);
    assert_int_equal(st.n_signal_failed, 0);
    assert_false(efd_readable(efd));
    fixture_close(&f);
}

static void test_wait(void **state)
{
    (void)state;
    fixture_t f;
    enum { N = 8, SZ = 64 };
    fixture_open(&f, SZ, N);
    int efd = hs_mq_eventfd(&f.cons);
    uint8_t m[SZ];
    hs_mq_stats_t st;

    assert_int_equal(hs_mq_wait(&f.cons, 0), 0); /* empty, no wait */
    hs_mq_stats(&f.cons, &st);
    assert_int_equal(st.n_sleeps, 1);
    uint64_t t0 = now_ms();
    assert_int_equal(hs_mq_wait(&f.cons, 50), 0);
    assert_true(now_ms() - t0 >= 45);

    assert_int_equal(hs_mq_send(&f.prod, m), 0);
    assert_int_equal(hs_mq_wait(&f.cons, -1), 1); /* returns at once, no sleep */
    hs_mq_stats(&f.cons, &st);
    assert_int_equal(st.n_sleeps, 2);
    assert_int_equal(hs_mq_recv(&f.cons, m), 0);

    /* A late eventfd write (left by a race) wakes one wait spuriously and is cleared, so
     * the next wait sleeps its full time instead of spinning. */
    uint64_t one = 1;
    assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
    t0 = now_ms();
    assert_int_equal(hs_mq_wait(&f.cons, 5000), 0);
    assert_true(now_ms() - t0 < 1000);
    assert_false(efd_readable(efd));
    t0 = now_ms();
    assert_int_equal(hs_mq_wait(&f.cons, 40), 0);
    assert_true(now_ms() - t0 >= 35);
    fixture_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_geometry),          cmocka_unit_test(test_full_and_empty),
        cmocka_unit_test(test_wraparound),        cmocka_unit_test(test_burst),
        cmocka_unit_test(test_attach_validation), cmocka_unit_test(test_corrupt_indices),
        cmocka_unit_test(test_sleep_handshake),   cmocka_unit_test(test_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
