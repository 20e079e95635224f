/* FIFO throughput across two processes pinned to different CPUs, beside a bare SPSC byte
 * ring (the physical limit of the design) and plain memcpy, for several write sizes. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "svm/fifo.h"

/* 1 MiB: a typical socket buffer, larger than L2 per core so data crosses the caches the way
 * it does in the stack. The bare ring has the same size. */
#define RING_SIZE (1u << 20)
#define REPS      15
#define PROD_CPU  0
#define CONS_CPU  1

typedef enum { IMPL_FIFO, IMPL_BARE } impl_t;

/* ---- the bare ring: head/tail atomics and two memcpy calls at most, nothing else ---- */

typedef struct {
    HS_CACHE_ALIGNED _Atomic uint32_t head;
    uint8_t _pad[2 * HS_CACHE_LINE - sizeof(uint32_t)]; /* keep head and tail 128 B apart */
    HS_CACHE_ALIGNED _Atomic uint32_t tail;
} bare_hdr_t;

typedef struct {
    bare_hdr_t *h;
    uint8_t *data;
    uint32_t pos; /* own index, kept locally */
} bare_t;

static uint32_t bare_write(bare_t *r, const uint8_t *src, uint32_t n)
{
    uint32_t head = atomic_load_explicit(&r->h->head, memory_order_acquire);
    n = HS_MIN(n, RING_SIZE - (r->pos - head));
    if (n == 0)
        return 0;
    uint32_t i = r->pos & (RING_SIZE - 1), first = HS_MIN(n, RING_SIZE - i);
    memcpy(r->data + i, src, first);
    memcpy(r->data, src + first, n - first);
    r->pos += n;
    atomic_store_explicit(&r->h->tail, r->pos, memory_order_release);
    return n;
}

static uint32_t bare_read(bare_t *r, uint8_t *dst, uint32_t n)
{
    uint32_t tail = atomic_load_explicit(&r->h->tail, memory_order_acquire);
    n = HS_MIN(n, tail - r->pos);
    if (n == 0)
        return 0;
    uint32_t i = r->pos & (RING_SIZE - 1), first = HS_MIN(n, RING_SIZE - i);
    memcpy(dst, r->data + i, first);
    memcpy(dst + first, r->data, n - first);
    r->pos += n;
    atomic_store_explicit(&r->h->head, r->pos, memory_order_release);
    return n;
}

/* ---- shared control block and the two sides ---- */

/* Each run lasts a fixed time rather than a fixed volume, so the whole bench takes the same
 * ~10 s whatever the machine's speed or load. */
#define RUN_NS 50000000ull

typedef struct {
    _Atomic int ready;
    _Atomic int go;
    _Atomic uint64_t total; /* bytes the producer wrote, set when it stops */
    _Atomic uint64_t t_end;
    _Atomic int cons_cpu;
} ctl_t;

#define CTL_SIZE 4096
#define MEM_SIZE (CTL_SIZE + HS_FIFO_HDR_SIZE + RING_SIZE)

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0)
        perror("sched_setaffinity");
}

static int xfer(impl_t impl, void *ring, bool produce, uint8_t *buf, uint32_t n)
{
    if (impl == IMPL_FIFO)
        return produce ? hs_fifo_enqueue(ring, buf, n) : hs_fifo_dequeue(ring, buf, n);
    return (int)(produce ? bare_write(ring, buf, n) : bare_read(ring, buf, n));
}

static uint8_t *io_buf(uint32_t wsize)
{
    uint8_t *buf = aligned_alloc(HS_CACHE_LINE, HS_ALIGN_UP(wsize, HS_CACHE_LINE));
    if (!buf)
        exit(1);
    memset(buf, 0x5A, wsize);
    return buf;
}

/* Writes wsize pieces until the deadline (the clock is read every 64 calls, off the hot
 * path); busy-waits with pause when full. Returns the bytes written. */
static uint64_t produce(impl_t impl, void *ring, uint32_t wsize, uint64_t deadline)
{
    uint8_t *buf = io_buf(wsize);
    uint64_t done = 0;
    for (uint32_t it = 1;; it++) {
        if ((it & 63) == 0 && now_ns() >= deadline)
            break;
        int got = xfer(impl, ring, true, buf, wsize);
        if (got > 0)
            done += (uint64_t)got;
        else if (got == 0 || got == -EAGAIN)
            __builtin_ia32_pause();
        else
            exit(2); /* -EIO: cannot happen between two honest sides */
    }
    free(buf);
    return done;
}

/* Reads wsize pieces until it has every byte the producer announced it wrote. */
static void consume(impl_t impl, void *ring, uint32_t wsize, ctl_t *ctl)
{
    uint8_t *buf = io_buf(wsize);
    uint64_t done = 0;
    for (;;) {
        int got = xfer(impl, ring, false, buf, wsize);
        if (got > 0)
            done += (uint64_t)got;
        else if (got == 0 || got == -EAGAIN) {
            if (done == atomic_load_explicit(&ctl->total, memory_order_acquire))
                break;
            __builtin_ia32_pause();
        } else
            exit(2);
    }
    free(buf);
}

static void *open_side(impl_t impl, uint8_t *mem, hs_fifo_t *f, bare_t *b)
{
    uint8_t *ring = mem + CTL_SIZE;
    if (impl == IMPL_FIFO) {
        if (hs_fifo_attach(f, ring, HS_FIFO_HDR_SIZE + RING_SIZE) != 0)
            exit(3);
        return f;
    }
    *b = (bare_t){.h = (bare_hdr_t *)ring, .data = ring + HS_FIFO_HDR_SIZE, .pos = 0};
    return b;
}

static void consumer_main(impl_t impl, int fd, uint32_t wsize)
{
    pin(CONS_CPU);
    /* its own mapping, at its own address, as an app would have */
    uint8_t *mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mem == MAP_FAILED)
        _exit(1);
    ctl_t *ctl = (ctl_t *)mem;
    hs_fifo_t f;
    bare_t b;
    void *ring = open_side(impl, mem, &f, &b);
    atomic_store(&ctl->cons_cpu, sched_getcpu());
    atomic_store(&ctl->ready, 1);
    while (!atomic_load(&ctl->go))
        __builtin_ia32_pause();
    consume(impl, ring, wsize, ctl);
    atomic_store(&ctl->t_end, now_ns());
    _exit(0);
}

/* One timed transfer: GB/s from the start signal to the consumer's last byte. */
static double measure(impl_t impl, uint32_t wsize, int *cons_cpu)
{
    int fd = memfd_create("hs-bench-fifo", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, MEM_SIZE) != 0)
        exit(1);
    uint8_t *mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mem == MAP_FAILED)
        exit(1);
    ctl_t *ctl = (ctl_t *)mem;
    atomic_store(&ctl->total, UINT64_MAX);
    if (impl == IMPL_FIFO && hs_fifo_init(mem + CTL_SIZE, MEM_SIZE - CTL_SIZE, RING_SIZE) != 0)
        exit(1);
    pid_t pid = fork();
    if (pid < 0)
        exit(1);
    if (pid == 0)
        consumer_main(impl, fd, wsize);
    hs_fifo_t f;
    bare_t b;
    void *ring = open_side(impl, mem, &f, &b);
    while (!atomic_load(&ctl->ready))
        __builtin_ia32_pause();
    uint64_t t0 = now_ns();
    atomic_store(&ctl->go, 1);
    uint64_t total = produce(impl, ring, wsize, t0 + RUN_NS);
    atomic_store_explicit(&ctl->total, total, memory_order_release);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        exit(4);
    double gbs = (double)total / (double)(atomic_load(&ctl->t_end) - t0);
    *cons_cpu = atomic_load(&ctl->cons_cpu);
    munmap(mem, MEM_SIZE);
    close(fd);
    return gbs;
}

/* Single-process reference: memcpy of wsize pieces into a RING_SIZE area, cycling, for the
 * same time. */
static double measure_memcpy(uint32_t wsize)
{
    uint8_t *dst = aligned_alloc(HS_CACHE_LINE, RING_SIZE);
    uint8_t *src = io_buf(wsize);
    if (!dst)
        exit(1);
    memset(dst, 0, RING_SIZE);
    uint64_t t0 = now_ns(), t1, done = 0;
    uint32_t off = 0;
    do {
        for (int i = 0; i < 64; i++) {
            memcpy(dst + off, src, wsize);
            off = (off + wsize) & (RING_SIZE - 1);
            __asm__ volatile("" ::"r"(dst) : "memory"); /* keep every copy */
        }
        done += 64ull * wsize;
        t1 = now_ns();
    } while (t1 - t0 < RUN_NS);
    free(dst);
    free(src);
    return (double)done / (double)(t1 - t0);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return v[n / 2];
}

int main(void)
{
    static const uint32_t wsizes[] = {64, 1024, 16384, 65536};
    pin(PROD_CPU);
    int cons_cpu = -1;
    double med[4][HS_ARRAY_LEN(wsizes)];
    for (size_t s = 0; s < HS_ARRAY_LEN(wsizes); s++) {
        double v[4][REPS];
        for (int r = 0; r < REPS; r++) {
            /* FIFO and bare ring back to back, in alternating order, so that load from other
             * processes hits both alike; their ratio is taken per pair */
            bool fifo_first = r % 2 == 0;
            if (fifo_first)
                v[0][r] = measure(IMPL_FIFO, wsizes[s], &cons_cpu);
            v[1][r] = measure(IMPL_BARE, wsizes[s], &cons_cpu);
            if (!fifo_first)
                v[0][r] = measure(IMPL_FIFO, wsizes[s], &cons_cpu);
            v[2][r] = measure_memcpy(wsizes[s]);
            v[3][r] = v[0][r] / v[1][r];
        }
        for (int k = 0; k < 4; k++)
            med[k][s] = median(v[k], REPS);
    }
    printf("FIFO and bare ring of %u KiB; producer on CPU %d, consumer (another process) on "
           "CPU %d; memcpy in one process.\nMedians of %d runs (fifo/bare: median of the "
           "per-run ratios).\n",
           RING_SIZE >> 10, sched_getcpu(), cons_cpu, REPS);
    printf("%8s %10s %10s %10s %10s\n", "write", "fifo GB/s", "bare GB/s", "memcpy", "fifo/bare");
    for (size_t s = 0; s < HS_ARRAY_LEN(wsizes); s++)
        printf("%6u B %10.2f %10.2f %10.2f %10.2f\n", wsizes[s], med[0][s], med[1][s], med[2][s],
               med[3][s]);
    return 0;
}
