/* The IPv4 module of one hs_net_t: node registration, the FIB's table 0, per-worker state
 * (reassembly, ICMP rate limit, counters), housekeeping and show ip stats. */
#include "net/ip4_internal.h"
#include "infra/clock.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

int hs_ip4_init(hs_net_t *net)
{
    hs_ip4_main_t *im = calloc(1, sizeof(*im));
    if (!im)
        return -ENOMEM;
    im->tcp4_input = im->udp4_input = -1;
    int rv = hs_fib_main_init(&im->fib);
    if (rv < 0) {
        free(im);
        return rv;
    }
    net->ip4 = im;
    if ((rv = hs_fib_table_find_or_create(net, 0)) < 0)
        return rv;
    const hs_node_reg_t *regs[] = {&hs_ip4_input_node,  &hs_ip4_local_node, &hs_icmp4_input_node,
                                   &hs_ip4_lookup_node, &hs_ip4_frag_node,  &hs_ip4_rewrite_node};
    for (size_t i = 0; i < HS_ARRAY_LEN(regs); i++)
        if ((rv = hs_graph_add_node(&net->graph, regs[i])) < 0)
            return rv;
    return 0;
}

void hs_ip4_destroy(hs_net_t *net)
{
    hs_ip4_main_t *im = net->ip4;
    if (!im)
        return;
    hs_fib_main_free(&im->fib);
    free(im);
    net->ip4 = NULL;
}

static uint64_t random_seed(uint32_t salt)
{
    uint64_t s;
    if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s))
        s = hs_clock_mono_ns() * 0x9e3779b97f4a7c15ull;
    return s ^ salt;
}

int hs_ip4_worker_init(hs_net_worker_t *wk)
{
    hs_ip4_main_t *im = wk->net->ip4;
    /* The graph is final by now: transports that registered their nodes are found. */
    im->tcp4_input = hs_graph_node_index(&wk->net->graph, "tcp4-input");
    im->udp4_input = hs_graph_node_index(&wk->net->graph, "udp4-input");
    hs_ip4_worker_t *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    uint64_t seed = random_seed(wk->index);
    int rv = hs_ip4_reass_init(&w->reass, NULL, seed);
    if (rv < 0) {
        free(w);
        return rv;
    }
    w->next_id = (uint16_t)(seed >> 32);
    wk->ip4 = w;
    return 0;
}

void hs_ip4_worker_destroy(hs_net_worker_t *wk)
{
    hs_ip4_worker_t *w = wk->ip4;
    if (!w)
        return;
    hs_ip4_reass_destroy(&w->reass, &wk->bufs);
    free(w);
    wk->ip4 = NULL;
}

void hs_ip4_housekeep(hs_net_worker_t *wk, uint64_t now_ns)
{
    hs_ip4_worker_t *w = wk->ip4;
    uint32_t first[32], n;
    do {
        n = hs_ip4_reass_expire(&w->reass, &wk->bufs, now_ns, first, HS_ARRAY_LEN(first), NULL);
        for (uint32_t i = 0; i < n; i++) /* RFC 792: time exceeded, fragment reassembly */
            hs_icmp4_send_error(&wk->rt, first[i], HS_ICMP_TIME_EXCEEDED, HS_ICMP_TIMXCEED_REASS,
                                0);
    } while (n == HS_ARRAY_LEN(first));
}

void hs_ip4_format(hs_net_t *net, hs_str_t *out)
{
    hs_ip4_reass_stats_t r = {0};
    hs_ip4_stats_t s = {0};
    uint32_t in_progress = 0, held = 0;
    for (uint32_t i = 0; i < net->n_workers; i++) {
        const hs_ip4_worker_t *w = net->workers[i].ip4;
        if (!w)
            continue;
        const hs_ip4_reass_stats_t *x = &w->reass.stats;
        r.ok += x->ok, r.timeout += x->timeout, r.overlap += x->overlap;
        r.evicted += x->evicted, r.too_big += x->too_big, r.bad += x->bad;
        r.duplicates += x->duplicates, r.no_room += x->no_room;
        s.frags_made += w->stats.frags_made, s.icmp_sent += w->stats.icmp_sent;
        s.icmp_rate_limited += w->stats.icmp_rate_limited;
        s.icmp_suppressed += w->stats.icmp_suppressed;
        s.icmp_no_buffer += w->stats.icmp_no_buffer;
        in_progress += hs_ip4_reass_count(&w->reass);
        held += hs_ip4_reass_bufs_held(&w->reass);
    }
    hs_str_printf(out,
                  "reassembly: %" PRIu64 " ok, %" PRIu64 " timeout, %" PRIu64 " overlap, %" PRIu64
                  " evicted (too many), %" PRIu64 " too big, %" PRIu64 " inconsistent, %" PRIu64
                  " duplicate fragments, %" PRIu64 " no room; %u in progress holding %u buffers\n",
                  r.ok, r.timeout, r.overlap, r.evicted, r.too_big, r.bad, r.duplicates, r.no_room,
                  in_progress, held);
    hs_str_printf(out, "fragmentation: %" PRIu64 " fragments made\n", s.frags_made);
    hs_str_printf(out,
                  "icmp errors: %" PRIu64 " sent, %" PRIu64 " rate-limited, %" PRIu64
                  " not allowed, %" PRIu64 " no buffer or source\n",
                  s.icmp_sent, s.icmp_rate_limited, s.icmp_suppressed, s.icmp_no_buffer);
}
