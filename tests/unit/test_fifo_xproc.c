/* SVM FIFO under a real race: producer and consumer in two processes sharing a memfd (each
 * with its own mapping), the same with two threads, and a blocking variant that sleeps on
 * the event / dequeue-notification handshake and would hang if a wakeup were lost.
 * HS_TEST_LOCKFREE: also built and run under ThreadSanitizer. TSan cannot see across
 * processes, so the threaded variants are the ones it checks. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "svm/fifo.h"

/* Volumes: 1 GiB through one FIFO in the normal and ASan builds. Under TSan (every access is
 * instrumented, ~10-20x slower) 64 MiB keeps each variant well under a minute. The blocking
 * variant makes a syscall per wakeup, so it moves less. */
#ifdef HS_TSAN
#define VOLUME          (64ull << 20)
#define VOLUME_BLOCKING (16ull << 20)
#else
#define VOLUME          (1ull << 30)
#define VOLUME_BLOCKING (128ull << 20)
#endif
#define FIFO_SIZE  (64u << 10)
#define MAX_IO     (128u << 10) /* larger than the FIFO: partial writes and reads happen */
#define WAIT_MS    20000        /* a blocked side waits this long before calling it a hang */
#define STREAM_KEY 0x5EEDF1F0C0FFEEull

/* Shared between the two sides (in the memfd, after the FIFO): one side's failure stops the
 * other instead of leaving it spinning. */
typedef struct {
    _Atomic int failed;
} ctl_t;

typedef struct {
    hs_fifo_t f;
    ctl_t *ctl;
    uint64_t total;
    uint64_t rng;
    uint8_t *tmp;
    int wake_peer; /* eventfds of the blocking variant, -1 otherwise */
    int wait_me;
    uint64_t bad_pos; /* consumer: first stream position that did not match */
} side_t;

/* ---- the stream: 8-byte words derived from their index (splitmix64) ---- */

static uint64_t word(uint64_t i)
{
    uint64_t z = (i ^ STREAM_KEY) + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint8_t sbyte(uint64_t pos)
{
    return (uint8_t)(word(pos >> 3) >> ((pos & 7) * 8));
}

static void gen(uint8_t *dst, uint64_t pos, uint32_t n)
{
    for (; n && (pos & 7); n--)
        *dst++ = sbyte(pos++);
    for (; n >= 8; n -= 8, pos += 8, dst += 8) {
        uint64_t w = word(pos >> 3);
        memcpy(dst, &w, 8);
    }
    for (; n; n--)
        *dst++ = sbyte(pos++);
}

/* Returns true when src holds the stream's n bytes at pos; else records where it differs. */
static bool check(side_t *s, const uint8_t *src, uint64_t pos, uint32_t n)
{
    for (uint32_t i = 0; i < n;) {
        uint64_t p = pos + i;
        if ((p & 7) == 0 && n - i >= 8) {
            uint64_t w;
            memcpy(&w, src + i, 8);
            if (w == word(p >> 3)) {
                i += 8;
                continue;
            }
        }
        if (src[i] != sbyte(p)) {
            s->bad_pos = p;
            return false;
        }
        i++;
    }
    return true;
}

static uint32_t rnd(side_t *s)
{
    s->rng = s->rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(s->rng >> 32);
}

/* Sizes spread over every scale, 1 byte to MAX_IO, capped to what is left. */
static uint32_t io_len(side_t *s, uint64_t pos)
{
    uint32_t bits = rnd(s) % 18;
    uint32_t n = 1 + rnd(s) % (1u << bits);
    n = HS_MIN(n, MAX_IO);
    return (uint32_t)HS_MIN((uint64_t)n, s->total - pos);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Nothing to do: spin politely, or in the blocking variant sleep on our eventfd. Returns
 * false when the peer failed or the wait timed out (a lost wakeup). */
static bool wait_peer(side_t *s)
{
    if (atomic_load_explicit(&s->ctl->failed, memory_order_relaxed))
        return false;
    if (s->wait_me < 0) {
        sched_yield();
        return true;
    }
    struct pollfd p = {.fd = s->wait_me, .events = POLLIN};
    if (poll(&p, 1, WAIT_MS) != 1)
        return false;
    uint64_t v;
    return read(s->wait_me, &v, sizeof(v)) == sizeof(v);
}

static void wake(int fd)
{
    uint64_t one = 1;
    if (write(fd, &one, sizeof(one)) != sizeof(one))
        abort(); /* test scaffolding only: an eventfd write cannot fail here */
}

/* ---- producer ---- */

static int produce_copy(side_t *s, uint64_t pos, uint32_t len)
{
    gen(s->tmp, pos, len);
    return hs_fifo_enqueue(&s->f, s->tmp, len);
}

static int produce_spans(side_t *s, uint64_t pos, uint32_t len)
{
    hs_fifo_span_t sp[2];
    int free = hs_fifo_write_spans(&s->f, sp);
    if (free <= 0)
        return free < 0 ? free : -EAGAIN;
    uint32_t n = HS_MIN(len, (uint32_t)free);
    uint32_t a = HS_MIN(n, sp[0].len);
    gen(sp[0].data, pos, a);
    gen(sp[1].data, pos + a, n - a);
    return hs_fifo_enqueue_commit(&s->f, n);
}

/* In the blocking variant a full FIFO asks to be told when half of it is free, and sleeps
 * only if that is not already the case. */
static bool producer_full(side_t *s)
{
    if (s->wait_me < 0)
        return wait_peer(s);
    int free = hs_fifo_want_deq_notif(&s->f, FIFO_SIZE / 2);
    if (free < 0)
        return false;
    return (uint32_t)free >= FIFO_SIZE / 2 || wait_peer(s);
}

static int producer(side_t *s)
{
    uint64_t pos = 0;
    while (pos < s->total) {
        uint32_t len = io_len(s, pos);
        int n = rnd(s) & 1 ? produce_copy(s, pos, len) : produce_spans(s, pos, len);
        if (n == -EAGAIN) {
            if (!producer_full(s))
                return -ETIMEDOUT;
            continue;
        }
        if (n <= 0)
            return n < 0 ? n : -EPROTO;
        pos += (uint64_t)n;
        if (s->wake_peer >= 0 && hs_fifo_set_event(&s->f))
            wake(s->wake_peer);
    }
    return 0;
}

/* ---- consumer ---- */

static int consume_copy(side_t *s, uint64_t pos, uint32_t len)
{
    int n = hs_fifo_dequeue(&s->f, s->tmp, len);
    if (n > 0 && !check(s, s->tmp, pos, (uint32_t)n))
        return -EBADMSG;
    return n;
}

static int consume_spans(side_t *s, uint64_t pos, uint32_t len)
{
    hs_fifo_span_t sp[2];
    int avail = hs_fifo_read_spans(&s->f, sp);
    if (avail <= 0)
        return avail < 0 ? avail : -EAGAIN;
    uint32_t n = HS_MIN(len, (uint32_t)avail);
    uint32_t a = HS_MIN(n, sp[0].len);
    if (!check(s, sp[0].data, pos, a) || !check(s, sp[1].data, pos + a, n - a))
        return -EBADMSG;
    return hs_fifo_dequeue_commit(&s->f, n);
}

/* TCP-style: peek at an offset first (a retransmit), then from the head, then drop. */
static int consume_peek_drop(side_t *s, uint64_t pos, uint32_t len)
{
    uint32_t off = rnd(s) % (len + 1);
    int n = hs_fifo_peek(&s->f, off, s->tmp, len);
    if (n > 0 && !check(s, s->tmp, pos + off, (uint32_t)n))
        return -EBADMSG;
    n = hs_fifo_peek(&s->f, 0, s->tmp, len);
    if (n <= 0)
        return n;
    if (!check(s, s->tmp, pos, (uint32_t)n))
        return -EBADMSG;
    return hs_fifo_dequeue_drop(&s->f, (uint32_t)n);
}

static int consumer(side_t *s)
{
    uint64_t pos = 0;
    while (pos < s->total) {
        uint32_t len = io_len(s, pos), kind = rnd(s) % 3;
        if (s->wait_me >= 0)
            hs_fifo_clear_event(&s->f); /* before reading: see fifo.h */
        int n = kind == 0   ? consume_copy(s, pos, len)
                : kind == 1 ? consume_spans(s, pos, len)
                            : consume_peek_drop(s, pos, len);
        if (n == -EAGAIN) {
            if (!wait_peer(s))
                return -ETIMEDOUT;
            continue;
        }
        if (n <= 0)
            return n < 0 ? n : -EPROTO;
        pos += (uint64_t)n;
        if (s->wake_peer >= 0 && hs_fifo_needs_deq_notif(&s->f))
            wake(s->wake_peer);
    }
    return 0;
}

/* ---- harness ---- */

typedef struct {
    int fd;
    size_t len;
    uint8_t *mem;
    ctl_t *ctl;
} shm_t;

static void shm_setup(shm_t *m)
{
    size_t fifo_len = hs_fifo_mem_size(FIFO_SIZE);
    m->len = fifo_len + 4096;
    m->fd = memfd_create("test_fifo_xproc", MFD_CLOEXEC);
    assert_true(m->fd >= 0);
    assert_int_equal(ftruncate(m->fd, (off_t)m->len), 0);
    m->mem = mmap(NULL, m->len, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
    assert_true(m->mem != MAP_FAILED);
    assert_int_equal(hs_fifo_init(m->mem, fifo_len, FIFO_SIZE), 0);
    m->ctl = (ctl_t *)(m->mem + fifo_len);
    atomic_store(&m->ctl->failed, 0);
}

static void shm_teardown(shm_t *m)
{
    munmap(m->mem, m->len);
    close(m->fd);
}

static void side_init(side_t *s, uint8_t *mem, ctl_t *ctl, uint64_t total, uint64_t seed)
{
    memset(s, 0, sizeof(*s));
    assert_int_equal(hs_fifo_attach(&s->f, mem, hs_fifo_mem_size(FIFO_SIZE)), 0);
    s->ctl = ctl;
    s->total = total;
    s->rng = seed;
    s->tmp = malloc(MAX_IO);
    s->wake_peer = s->wait_me = -1;
    assert_non_null(s->tmp);
}

static void report(const char *what, uint64_t bytes, uint64_t t0)
{
    uint64_t ms = HS_MAX(now_ms() - t0, 1);
    print_message("%s: %llu MiB in %llu ms (%.2f GB/s)\n", what, (unsigned long long)(bytes >> 20),
                  (unsigned long long)ms, (double)bytes / ((double)ms * 1e6));
}

/* The child maps the inherited memfd itself, at an address of its own, and consumes. */
static void __attribute__((noreturn)) child_consume(shm_t *m)
{
    uint8_t *mine = mmap(NULL, m->len, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
    if (mine == MAP_FAILED || mine == m->mem)
        _exit(2);
    side_t c = {0};
    c.ctl = (ctl_t *)(mine + hs_fifo_mem_size(FIFO_SIZE));
    c.total = VOLUME;
    c.rng = 2;
    c.tmp = malloc(MAX_IO);
    c.wake_peer = c.wait_me = -1;
    if (!c.tmp || hs_fifo_attach(&c.f, mine, hs_fifo_mem_size(FIFO_SIZE)) != 0)
        _exit(3);
    int rc = consumer(&c);
    if (rc != 0) {
        atomic_store(&c.ctl->failed, 1);
        fprintf(stderr, "child consumer: %s at stream byte %llu\n", strerror(-rc),
                (unsigned long long)c.bad_pos);
        _exit(1);
    }
    _exit(hs_fifo_n_corrupt(&c.f) == 0 ? 0 : 4);
}

static void test_cross_process(void **state)
{
    (void)state;
    shm_t m;
    shm_setup(&m);
    uint64_t t0 = now_ms();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        child_consume(&m);
    side_t p;
    side_init(&p, m.mem, m.ctl, VOLUME, 1);
    int rc = producer(&p);
    if (rc != 0)
        atomic_store(&m.ctl->failed, 1);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(rc, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(hs_fifo_n_corrupt(&p.f), 0);
    report("cross-process", VOLUME, t0);
    free(p.tmp);
    shm_teardown(&m);
}

static void *consumer_thread(void *arg)
{
    side_t *c = arg;
    intptr_t rc = consumer(c);
    if (rc != 0)
        atomic_store(&c->ctl->failed, 1);
    return (void *)rc;
}

/* Two threads, one mapping (so TSan sees every access), each with its own handle. */
static void run_threads(uint64_t total, bool blocking)
{
    shm_t m;
    shm_setup(&m);
    side_t p, c;
    side_init(&p, m.mem, m.ctl, total, 3);
    side_init(&c, m.mem, m.ctl, total, 4);
    int to_cons = -1, to_prod = -1;
    if (blocking) {
        to_cons = eventfd(0, EFD_CLOEXEC);
        to_prod = eventfd(0, EFD_CLOEXEC);
        assert_true(to_cons >= 0 && to_prod >= 0);
        p.wake_peer = c.wait_me = to_cons;
        c.wake_peer = p.wait_me = to_prod;
    }
    uint64_t t0 = now_ms();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, consumer_thread, &c), 0);
    int rc = producer(&p);
    if (rc != 0)
        atomic_store(&m.ctl->failed, 1);
    void *crc;
    assert_int_equal(pthread_join(t, &crc), 0);
    if ((intptr_t)crc == -EBADMSG)
        fail_msg("consumer: wrong byte at stream position %llu", (unsigned long long)c.bad_pos);
    assert_int_equal((intptr_t)crc, 0);
    assert_int_equal(rc, 0);
    assert_int_equal(hs_fifo_n_corrupt(&p.f) + hs_fifo_n_corrupt(&c.f), 0);
    report(blocking ? "threads, blocking" : "threads", total, t0);
    if (blocking) {
        close(to_cons);
        close(to_prod);
    }
    free(p.tmp);
    free(c.tmp);
    shm_teardown(&m);
}

static void test_threads(void **state)
{
    (void)state;
    run_threads(VOLUME, false);
}

static void test_threads_blocking(void **state)
{
    (void)state;
    run_threads(VOLUME_BLOCKING, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cross_process),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_threads_blocking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
