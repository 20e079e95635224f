/* Timer wheel cost with 1M live timers: start+stop pairs, rearming and start+expire,
 * each printed as a ratio to two references measured in the same run: a pool get+put
 * pair (the floor of any pooled timer) and one dependent random load from 64 MiB (a
 * DRAM miss, the unit of cost once timers no longer fit in cache). Times are thread CPU time,
 * best of REPS, so other work preempting us on a shared machine is not counted. */
#include "infra/clock.h"
#include "infra/pool.h"
#include "infra/timer_wheel.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define N_LIVE      (1u << 20) /* background timers, 2..1000 s away: TCP keepalives, idle */
#define N_OPS       (4u << 20) /* operations per measured run */
#define N_DELAYS    4096       /* precomputed delays, so the RNG is not measured */
#define IN_FLIGHT   (1u << 16)
#define REPS        3 /* each figure is the best of REPS runs: other work shares the machine */
#define TICK        (100 * HS_NS_PER_US)
#define CHASE_LINES (1u << 20) /* x 64 B = 64 MiB, twice the L3 of most machines */

typedef struct {
    hs_tw_t tw;
    uint64_t delays[N_DELAYS]; /* 1 ms .. 1 s: retransmit-like */
    uint32_t *chase;           /* one random cycle through CHASE_LINES cache lines */
    hs_tw_handle_t *ring;
    uint64_t seed;
    volatile uint64_t sink; /* results land here so no loop is optimised away */
} bench_t;

static uint64_t rng(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * HS_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static double ns_per_op(uint64_t t0, uint64_t n)
{
    return (double)(cpu_ns() - t0) / (double)n;
}

static double ref_pool_pair(bench_t *b)
{
    hs_pool_t p;
    hs_pool_init(&p, 24, 0); /* the wheel's element size */
    uint32_t idx;
    for (uint32_t i = 0; i < N_LIVE; i++)
        hs_pool_get(&p, &idx);
    uint64_t t0 = cpu_ns();
    for (uint32_t i = 0; i < N_OPS; i++) {
        uint64_t *e = hs_pool_get(&p, &idx);
        e[0] = i;
        hs_pool_put(&p, idx);
    }
    double r = ns_per_op(t0, N_OPS);
    b->sink += idx;
    hs_pool_destroy(&p);
    return r;
}

static double ref_dram_miss(bench_t *b)
{
    uint32_t i = 0;
    uint64_t t0 = cpu_ns();
    for (uint32_t k = 0; k < N_OPS; k++)
        i = b->chase[(size_t)i * 16];
    double r = ns_per_op(t0, N_OPS);
    b->sink += i;
    return r;
}

/* Sattolo's shuffle: a single cycle, so the chase visits every line. */
static void make_chase(bench_t *b)
{
    uint32_t *perm = malloc(CHASE_LINES * sizeof(*perm));
    for (uint32_t i = 0; i < CHASE_LINES; i++)
        perm[i] = i;
    for (uint32_t i = CHASE_LINES - 1; i > 0; i--) {
        uint32_t j = (uint32_t)(rng(&b->seed) % i);
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (uint32_t i = 0; i < CHASE_LINES; i++)
        b->chase[(size_t)i * 16] = perm[i];
    free(perm);
}

/* Start then stop at once: the slot is reused, caches stay warm. */
static double start_stop_same(bench_t *b)
{
    uint64_t t0 = cpu_ns();
    for (uint32_t i = 0; i < N_OPS; i++) {
        hs_tw_handle_t h = hs_tw_start(&b->tw, i, b->delays[i & (N_DELAYS - 1)]);
        hs_tw_stop(&b->tw, h);
    }
    return ns_per_op(t0, N_OPS);
}

/* Each start stops the timer started IN_FLIGHT starts earlier: 64k extra live timers
 * spread over many slots, as when many connections rearm. */
static double start_stop_ring(bench_t *b)
{
    for (uint32_t i = 0; i < IN_FLIGHT; i++)
        b->ring[i] = hs_tw_start(&b->tw, i, b->delays[i & (N_DELAYS - 1)]);
    uint64_t t0 = cpu_ns();
    for (uint32_t i = 0; i < N_OPS; i++) {
        uint32_t k = i & (IN_FLIGHT - 1);
        hs_tw_stop(&b->tw, b->ring[k]);
        b->ring[k] = hs_tw_start(&b->tw, i, b->delays[i & (N_DELAYS - 1)]);
    }
    double r = ns_per_op(t0, N_OPS);
    for (uint32_t i = 0; i < IN_FLIGHT; i++)
        hs_tw_stop(&b->tw, b->ring[i]);
    return r;
}

/* Moving running timers to a new deadline (an ACK rearming the retransmit timer). */
static double update_ring(bench_t *b)
{
    for (uint32_t i = 0; i < IN_FLIGHT; i++)
        b->ring[i] = hs_tw_start(&b->tw, i, b->delays[i & (N_DELAYS - 1)]);
    uint64_t t0 = cpu_ns();
    for (uint32_t i = 0; i < N_OPS; i++)
        hs_tw_update(&b->tw, b->ring[i & (IN_FLIGHT - 1)], b->delays[(i * 7) & (N_DELAYS - 1)]);
    double r = ns_per_op(t0, N_OPS);
    for (uint32_t i = 0; i < IN_FLIGHT; i++)
        hs_tw_stop(&b->tw, b->ring[i]);
    return r;
}

static void count_fired(void *ctx, uint64_t user)
{
    *(uint64_t *)ctx += user | 1;
}

/* N_LIVE more timers 1 ms .. 1 s away, then virtual time walks tick by tick until all
 * fired; cost per timer = its start + its share of the expire calls (cascades included). */
static double start_expire(bench_t *b)
{
    uint64_t now = hs_tw_now_ns(&b->tw);
    uint64_t t0 = cpu_ns();
    for (uint32_t i = 0; i < N_LIVE; i++)
        hs_tw_start(&b->tw, i, b->delays[i & (N_DELAYS - 1)]);
    uint64_t fired = 0, n = 0;
    for (uint64_t t = now + TICK; n < N_LIVE; t += TICK)
        n += hs_tw_expire(&b->tw, t, count_fired, &fired, 0);
    double r = ns_per_op(t0, N_LIVE);
    b->sink += fired;
    return r;
}

static double best(double (*fn)(bench_t *), bench_t *b)
{
    double m = 1e30;
    for (int i = 0; i < REPS; i++) {
        double r = fn(b);
        m = r < m ? r : m;
    }
    return m;
}

static void row(const char *what, double ns, double pool, double miss)
{
    printf("  %-32s %7.1f ns %7.1f M/s %6.2fx pool pair %6.2fx DRAM miss\n", what, ns, 1e3 / ns,
           ns / pool, ns / miss);
}

int main(void)
{
    bench_t *b = calloc(1, sizeof(*b));
    b->seed = 1;
    b->chase = calloc((size_t)CHASE_LINES * 16, sizeof(*b->chase));
    b->ring = malloc(IN_FLIGHT * sizeof(*b->ring));
    if (!b->chase || !b->ring || hs_tw_init(&b->tw, TICK, 0, 0) < 0) {
        fprintf(stderr, "bench/timer: out of memory\n");
        return 1;
    }
    make_chase(b);
    for (uint32_t i = 0; i < N_DELAYS; i++)
        b->delays[i] = HS_NS_PER_MS + rng(&b->seed) % HS_NS_PER_S;
    for (uint32_t i = 0; i < N_LIVE; i++) {
        uint64_t d = 10 * HS_NS_PER_S + rng(&b->seed) % (990 * HS_NS_PER_S);
        if (hs_tw_start(&b->tw, i, d) == HS_TW_INVALID) {
            fprintf(stderr, "bench/timer: out of memory\n");
            return 1;
        }
    }

    double pool = best(ref_pool_pair, b);
    double miss = best(ref_dram_miss, b);
    printf("timer wheel: %u live timers, tick %llu us, thread CPU time, best of %d runs\n",
           hs_tw_count(&b->tw), (unsigned long long)(TICK / HS_NS_PER_US), REPS);
    printf("  %-32s %7.1f ns %7.1f M/s\n", "ref: pool get+put pair", pool, 1e3 / pool);
    printf("  %-32s %7.1f ns %7.1f M/s\n", "ref: dependent load, 64 MiB", miss, 1e3 / miss);
    row("start+stop pair (same slot)", best(start_stop_same, b), pool, miss);
    row("start+stop pair (64k in flight)", best(start_stop_ring, b), pool, miss);
    row("update (64k running)", best(update_ring, b), pool, miss);
    row("start+expire (1M over 1 s)", best(start_expire, b), pool, miss);
    printf("  (live timers after the runs: %u)\n", hs_tw_count(&b->tw));
    hs_tw_destroy(&b->tw);
    free(b->chase);
    free(b->ring);
    free(b);
    return 0;
}
