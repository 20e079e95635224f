/* Message queue under real concurrency, two processes (fds over a socketpair) and two
 * threads (what TSan can check): nothing lost, duplicated or stalled. HS_TEST_LOCKFREE */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "svm/fd_pass.h"
#include "svm/mq.h"

/* 10M messages through each cross-process run. Under TSan (which slows every access and
 * cannot see across processes anyway) the cross-process runs carry 1M; under both
 * sanitizers the threaded runs carry 3M, to keep the program near 30 s on two busy cores. */
#if defined(HS_TSAN)
#define N_XPROC   (1u * 1000 * 1000)
#define N_THREADS (3u * 1000 * 1000)
#elif defined(HS_SANITIZED)
#define N_XPROC   (10u * 1000 * 1000)
#define N_THREADS (3u * 1000 * 1000)
#else
#define N_XPROC   (10u * 1000 * 1000)
#define N_THREADS (10u * 1000 * 1000)
#endif
#define MSG_SIZE 64
#define RING     512 /* small, so the ring runs full and empty often */
#define BURST    16
/* A sleep this long while the producer still has messages to send means a lost wake-up. */
#define WAIT_MS 5000

typedef enum { MODE_POLL, MODE_WAIT, MODE_EPOLL } run_mode_t;

static const char *mode_name[] = {"polling", "hs_mq_wait", "epoll+prepare_sleep"};

/* What each side saw; the producer's travels back over the socket. */
typedef struct {
    uint64_t count;
    uint64_t sum;
    uint64_t timeouts; /* waits that ran to WAIT_MS (consumer: sleep; producer: drain) */
    uint64_t bad_seq;  /* consumer: sequence of the first wrong message, or UINT64_MAX */
    uint64_t sleeps;   /* consumer, epoll mode: epoll_wait calls */
    int err;           /* first negative return from the queue, or 0 */
} tally_t;

/* The hello the owner sends with the segment fd and the eventfd. */
typedef struct {
    uint64_t mq_off;
    uint64_t n;
} hello_t;

static inline uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Message seq: its sequence number, then 56 bytes that depend on it. */
static void make_msg(uint8_t *m, uint64_t seq)
{
    memcpy(m, &seq, 8);
    uint64_t x = seq;
    for (int i = 8; i < MSG_SIZE; i += 8) {
        x = mix64(x);
        memcpy(m + i, &x, 8);
    }
}

static uint64_t sum_msg(uint64_t sum, const uint8_t *m)
{
    for (int i = 0; i < MSG_SIZE; i += 8) {
        uint64_t w;
        memcpy(&w, m + i, 8);
        sum = ((sum << 7) | (sum >> 57)) + w;
    }
    return sum;
}

static inline void relax_cpu(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void relax(uint64_t *spins)
{
    if ((++*spins & 63) == 0)
        sched_yield(); /* two cores shared with other work: do not starve the peer */
    else
        relax_cpu();
}

/* One send step: messages that went in (0 when full) or a negative error. */
static int send_some(hs_mq_t *mq, const uint8_t *msgs, uint32_t n)
{
    if (n > 1)
        return hs_mq_send_burst(mq, msgs, n);
    int rv = hs_mq_send(mq, msgs);
    return rv == 0 ? 1 : rv == -EAGAIN ? 0 : rv;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Spins until the consumer has taken every message. Returns false after WAIT_MS: the
 * consumer slept through the last publish, a lost wake-up. */
static bool wait_drained(hs_mq_t *mq, const atomic_bool *stop)
{
    uint64_t spins = 0, t0 = 0;
    while (hs_mq_room(mq) != RING) {
        if ((spins & 1023) == 0) {
            uint64_t t = now_ns();
            if (!t0)
                t0 = t;
            if (t - t0 >= (uint64_t)WAIT_MS * 1000000 ||
                (stop && atomic_load_explicit(stop, memory_order_relaxed)))
                return false;
        }
        relax(&spins);
    }
    return true;
}

/* Sends messages 0..n-1 in groups of random length (often 1, now and then longer than
 * the ring so it runs full), singly or in bursts,
 * spinning while the ring is full. After each group it waits for the consumer to catch up,
 * so the next publish races the consumer's announcement of sleep, and a wake-up lost there
 * leaves the last message unread: a stall this side detects. Gives up when *stop is set
 * (the consumer failed), so a failing run ends instead of hanging. */
static void produce(hs_mq_t *mq, uint64_t n, const atomic_bool *stop, tally_t *t)
{
    uint8_t batch[BURST * MSG_SIZE];
    uint64_t spins = 0, group_end = 0;
    memset(t, 0, sizeof(*t));
    for (uint64_t seq = 0; seq < n;) {
        if (seq == group_end) {
            if (seq && !wait_drained(mq, stop)) {
                t->timeouts++;
                return;
            }
            uint64_t r = mix64(seq ^ 0x5bd1e995);
            uint64_t len = (r & 3) == 0    ? 1
                           : (r & 15) == 1 ? 1 + (r >> 8) % 4096
                                           : 1 + (r >> 8) % 256;
            group_end = HS_MIN(n, seq + len);
        }
        uint32_t b = (seq % 5 == 0) ? (uint32_t)HS_MIN((uint64_t)BURST, group_end - seq) : 1;
        for (uint32_t i = 0; i < b; i++)
            make_msg(batch + i * MSG_SIZE, seq + i);
        for (uint32_t sent = 0; sent < b;) {
            int k = send_some(mq, batch + sent * MSG_SIZE, b - sent);
            if (k < 0) {
                t->err = k;
                return;
            }
            if (k == 0) {
                if (stop && atomic_load_explicit(stop, memory_order_relaxed))
                    return;
                relax(&spins);
            }
            sent += (uint32_t)k;
        }
        for (uint32_t i = 0; i < b; i++)
            t->sum = sum_msg(t->sum, batch + i * MSG_SIZE);
        seq += b;
        t->count = seq;
    }
}

/* The consumer's idle step in each mode. A wait that runs to its time-out (or, polling,
 * that long without a message) is counted, and ends the run: it means a lost wake-up or a
 * producer that gave up. */
static void idle(hs_mq_t *mq, run_mode_t mode, int ep, uint64_t *idle_since, tally_t *t)
{
    static const uint64_t limit = (uint64_t)WAIT_MS * 1000000 * 9 / 10;
    uint64_t t0 = now_ns();
    if (mode == MODE_POLL) {
        if (!*idle_since)
            *idle_since = t0;
        t->timeouts += t0 - *idle_since >= limit;
        uint64_t spins = t0; /* yields on one call in 64, at random */
        relax(&spins);
    } else if (mode == MODE_WAIT) {
        int rv = hs_mq_wait(mq, WAIT_MS);
        if (rv < 0 && !t->err)
            t->err = rv;
        t->timeouts += now_ns() - t0 >= limit;
    } else if (hs_mq_prepare_sleep(mq) == 0) {
        struct epoll_event ev;
        int n = epoll_wait(ep, &ev, 1, WAIT_MS);
        t->timeouts += n == 0;
        t->sleeps++;
        hs_mq_cancel_sleep(mq);
    }
}

/* Takes n messages, alternating single receives and bursts, checking each in order. */
static void consume(hs_mq_t *mq, uint64_t n, run_mode_t mode, tally_t *t)
{
    uint8_t buf[32 * MSG_SIZE], want[MSG_SIZE];
    uint64_t idle_since = 0;
    memset(t, 0, sizeof(*t));
    t->bad_seq = UINT64_MAX;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};
    epoll_ctl(ep, EPOLL_CTL_ADD, hs_mq_eventfd(mq), &ev);
    while (t->count < n && !t->err && t->bad_seq == UINT64_MAX && !t->timeouts) {
        int k = (t->count & 1) ? hs_mq_recv_burst(mq, buf, 32) : hs_mq_recv(mq, buf) == 0;
        if (k < 0) {
            t->err = k;
            break;
        }
        if (k == 0) {
            idle(mq, mode, ep, &idle_since, t);
            continue;
        }
        idle_since = 0;
        for (int i = 0; i < k; i++, t->count++) {
            make_msg(want, t->count);
            if (memcmp(buf + i * MSG_SIZE, want, MSG_SIZE) != 0) {
                memcpy(&t->bad_seq, buf + i * MSG_SIZE, 8);
                break;
            }
            t->sum = sum_msg(t->sum, buf + i * MSG_SIZE);
        }
    }
    close(ep);
}

static void check_run(const char *how, run_mode_t mode, const tally_t *c, const tally_t *p,
                      const hs_mq_stats_t *st, uint64_t n, uint64_t ns)
{
    printf("  %s %s: %llu msgs in %.2f s, %llu eventfd signals (%.5f per msg), %llu sleeps, "
           "%llu full\n",
           how, mode_name[mode], (unsigned long long)c->count, ns / 1e9,
           (unsigned long long)st->n_signals, (double)st->n_signals / (double)n,
           (unsigned long long)(st->n_sleeps + c->sleeps), (unsigned long long)st->n_full);
    assert_int_equal(c->err, 0);
    assert_int_equal(p->err, 0);
    assert_int_equal(c->bad_seq, UINT64_MAX); /* a lost, duplicated or torn message */
    assert_int_equal(c->count, n);
    assert_int_equal(p->count, n);
    assert_int_equal(c->sum, p->sum);
    assert_int_equal(c->timeouts, 0); /* a lost wake-up stalls a wait to its time-out */
    assert_int_equal(p->timeouts, 0); /* ... or leaves the producer waiting for a drain */
    assert_int_equal(st->n_sent, n);
    assert_int_equal(st->n_recv, n);
    assert_int_equal(st->n_signal_failed, 0);
    assert_true(st->n_signals <= n);
    if (mode == MODE_POLL) { /* a consumer that never announces sleep is never signalled */
        assert_int_equal(st->n_signals, 0);
        assert_int_equal(st->n_sleeps, 0);
    }
}

/* The child: receives the segment fd and the eventfd (nothing inherited: the segment is
 * created after the fork), attaches at its own address and produces. */
static int child_producer(int sock)
{
    hello_t h;
    int fds[2], n_fds;
    if (hs_fd_recv(sock, fds, 2, &n_fds, &h, sizeof(h)) != sizeof(h) || n_fds != 2)
        return 2;
    hs_segment_t seg;
    hs_mq_t mq;
    if (hs_segment_attach(&seg, fds[0]) != 0)
        return 3;
    if (hs_mq_attach_segment(&mq, &seg, h.mq_off, fds[1]) != 0)
        return 4;
    tally_t t;
    produce(&mq, h.n, NULL, &t); /* on failure the parent kills us */
    if (write(sock, &t, sizeof(t)) != sizeof(t))
        return 5;
    hs_mq_detach(&mq);
    hs_segment_detach(&seg);
    return 0;
}

static void xproc_run(run_mode_t mode)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        _exit(child_producer(sv[1]));
    }
    close(sv[1]);
    hs_segment_t seg;
    hs_mq_t mq;
    assert_int_equal(hs_segment_create(&seg, "xproc", 1 << 20), 0);
    assert_int_equal(hs_mq_create(&seg, MSG_SIZE, RING, &mq), 0);
    hello_t h = {.mq_off = hs_mq_offset(&mq), .n = N_XPROC};
    int fds[2] = {hs_segment_fd(&seg), hs_mq_eventfd(&mq)};
    assert_int_equal(hs_fd_send(sv[0], fds, 2, &h, sizeof(h)), sizeof(h));

    tally_t c, p;
    uint64_t t0 = now_ns();
    consume(&mq, N_XPROC, mode, &c);
    uint64_t ns = now_ns() - t0;
    if (c.count != N_XPROC)
        kill(pid, SIGKILL); /* the producer would spin on a full ring forever */
    memset(&p, 0, sizeof(p));
    ssize_t r = read(sv[0], &p, sizeof(p));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    hs_mq_stats_t st;
    hs_mq_stats(&mq, &st);
    check_run("2 processes", mode, &c, &p, &st, N_XPROC, ns);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(r, sizeof(p));
    close(sv[0]);
    assert_int_equal(hs_mq_destroy(&mq, &seg), 0);
    hs_segment_detach(&seg);
}

static void test_xproc_eventfd(void **state)
{
    (void)state;
    xproc_run(MODE_WAIT);
}

static void test_xproc_polling(void **state)
{
    (void)state;
    xproc_run(MODE_POLL);
}

typedef struct {
    hs_mq_t mq;
    uint64_t n;
    atomic_bool stop;
    tally_t t;
} producer_arg_t;

static void *producer_thread(void *arg)
{
    producer_arg_t *a = arg;
    produce(&a->mq, a->n, &a->stop, &a->t);
    return NULL;
}

/* The same race between two threads of one process, each with its own handle. */
static void threads_run(run_mode_t mode)
{
    hs_segment_t seg;
    hs_mq_t mq;
    assert_int_equal(hs_segment_create(&seg, "threads", 1 << 20), 0);
    assert_int_equal(hs_mq_create(&seg, MSG_SIZE, RING, &mq), 0);
    producer_arg_t a = {.n = N_THREADS};
    assert_int_equal(
        hs_mq_attach(&a.mq, hs_segment_ptr(&seg, hs_mq_offset(&mq)), dup(hs_mq_eventfd(&mq))), 0);
    pthread_t th;
    uint64_t t0 = now_ns();
    assert_int_equal(pthread_create(&th, NULL, producer_thread, &a), 0);
    tally_t c;
    consume(&mq, N_THREADS, mode, &c);
    atomic_store(&a.stop, true);
    assert_int_equal(pthread_join(th, NULL), 0);
    uint64_t ns = now_ns() - t0;
    hs_mq_stats_t st;
    hs_mq_stats(&mq, &st);
    check_run("2 threads", mode, &c, &a.t, &st, N_THREADS, ns);
    hs_mq_detach(&a.mq);
    assert_int_equal(hs_mq_destroy(&mq, &seg), 0);
    hs_segment_detach(&seg);
}

static void test_threads_wait(void **state)
{
    (void)state;
    threads_run(MODE_WAIT);
}

static void test_threads_epoll(void **state)
{
    (void)state;
    threads_run(MODE_EPOLL);
}

static void test_threads_polling(void **state)
{
    (void)state;
    threads_run(MODE_POLL);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* Processes first: fork before this process ever starts a thread. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xproc_eventfd),   cmocka_unit_test(test_xproc_polling),
        cmocka_unit_test(test_threads_wait),    cmocka_unit_test(test_threads_epoll),
        cmocka_unit_test(test_threads_polling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
