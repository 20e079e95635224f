/* Monotonic time and the real/virtual clock objects. */
#include "infra/clock.h"

#include <time.h>

uint64_t hs_clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * HS_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static uint64_t real_now(hs_clock_t *c)
{
    (void)c;
    return hs_clock_mono_ns();
}

static uint64_t virtual_now(hs_clock_t *c)
{
    return c->virt_ns;
}

void hs_clock_init_real(hs_clock_t *c)
{
    c->now_ns = real_now;
    c->virt_ns = 0;
}

void hs_clock_init_virtual(hs_clock_t *c, uint64_t start_ns)
{
    c->now_ns = virtual_now;
    c->virt_ns = start_ns;
}

bool hs_clock_is_virtual(const hs_clock_t *c)
{
    return c->now_ns == virtual_now;
}

int hs_clock_advance(hs_clock_t *c, uint64_t ns)
{
    if (!hs_clock_is_virtual(c))
        return -EINVAL;
    c->virt_ns = ns > UINT64_MAX - c->virt_ns ? UINT64_MAX : c->virt_ns + ns;
    return 0;
}

int hs_clock_set(hs_clock_t *c, uint64_t now_ns)
{
    if (!hs_clock_is_virtual(c) || now_ns < c->virt_ns)
        return -EINVAL;
    c->virt_ns = now_ns;
    return 0;
}
