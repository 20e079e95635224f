/* Time sources: the monotonic clock, an injectable clock object (real or virtual, so
 * simulations and tests run on virtual time) and a cheap cycle counter for statistics. */
#ifndef HS_INFRA_CLOCK_H
#define HS_INFRA_CLOCK_H

#include "infra/common.h"

#define HS_NS_PER_US 1000ull
#define HS_NS_PER_MS 1000000ull
#define HS_NS_PER_S  1000000000ull

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t hs_clock_mono_ns(void);

/* A clock passed to whoever needs the time. A real clock reads CLOCK_MONOTONIC; a
 * virtual one returns virt_ns, which only hs_clock_advance/hs_clock_set move. A virtual
 * clock is not synchronised: one thread advances it and reads it (the simulator). */
typedef struct hs_clock {
    uint64_t (*now_ns)(struct hs_clock *c);
    uint64_t virt_ns;
} hs_clock_t;

void hs_clock_init_real(hs_clock_t *c);
void hs_clock_init_virtual(hs_clock_t *c, uint64_t start_ns);
bool hs_clock_is_virtual(const hs_clock_t *c);
/* Moves a virtual clock forward by ns (saturating). -EINVAL on a real clock. */
int hs_clock_advance(hs_clock_t *c, uint64_t ns);
/* Sets a virtual clock to now_ns. -EINVAL on a real clock or when now_ns is in the past
 * (time never goes backwards). */
int hs_clock_set(hs_clock_t *c, uint64_t now_ns);

static inline uint64_t hs_clock_now(hs_clock_t *c)
{
    return c->now_ns(c);
}

/* A cycle counter for per-node cost accounting: the TSC on x86-64 (not serialising, not
 * comparable across machines), nanoseconds elsewhere. Only differences mean anything. */
static inline uint64_t hs_clock_cycles(void)
{
#if defined(__x86_64__)
    return __builtin_ia32_rdtsc();
#else
    return hs_clock_mono_ns();
#endif
}

#endif
