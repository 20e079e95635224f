/* The packet graph end to end: two stack instances in one thread joined by the wire
 * driver (no impairments) exchange 64-byte ICMP echoes (ping's default 56 data bytes):
 *
 *   A: ip4-lookup -> ip4-rewrite -> interface-output -> wire
 *   B: wire-input -> ethernet-input -> ip4-input -> ip4-local -> icmp4-input (reply built
 *      in place) -> ip4-lookup -> ip4-rewrite -> interface-output -> wire
 *   A: wire-input -> ethernet-input -> ip4-input -> ip4-local -> icmp4-input (reply counted)
 *
 * Printed beside it, measured in the same run: the harness's physical limit, the bare wire
 * copy (send + receive of the same frame into a buffer) per packet, and the graph's share. */
#include "drivers/wire.h"
#include "net/checksum.h"
#include "net/devices.h"
#include "net/interface.h"
#include "net/ip4.h"
#include "net/net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IP_A     0xc0a84d01u
#define IP_B     0xc0a84d02u
#define BATCH    256 /* echoes injected per round: one full vector */
#define RUN_NS   (700 * HS_NS_PER_MS)
#define REPS     3 /* best of: other work shares the machine */
#define ICMP_LEN 64

typedef struct {
    hs_clock_t clk;
    hs_wire_t *wire;
    hs_net_t *a, *b;
    uint8_t pkt[20 + ICMP_LEN];
} bench_t;

static uint16_t node_errors_find(hs_net_t *net, const char *node, const char *reason, int *ni)
{
    *ni = hs_graph_node_index(&net->graph, node);
    const hs_node_reg_t *reg = hs_graph_node(&net->graph, (uint32_t)*ni)->reg;
    for (uint16_t i = 0; i < reg->n_errors; i++)
        if (strstr(reg->errors[i], reason))
            return i;
    fprintf(stderr, "graph: node %s has no counter '%s'\n", node, reason);
    exit(1);
}

static uint64_t replies_received(hs_net_t *a)
{
    int ni;
    uint16_t code = node_errors_find(a, "icmp4-input", "echo replies received", &ni);
    return hs_net_worker(a, 0)->rt.nodes[ni].errors[code];
}

static hs_net_t *stack_new(bench_t *bn, int end, uint32_t ip)
{
    hs_net_t *net;
    hs_net_config_t cfg = {.n_workers = 1, .n_buffers = 8192, .clock = &bn->clk};
    uint32_t sw;
    uint8_t mac[6] = {0x02, 0, 0, 0, 0, (uint8_t)(0xa + end)};
    if (hs_net_create(&net, &cfg) < 0 ||
        hs_wire_if_create(net, bn->wire, end, "wire0", mac, &sw) < 0 ||
        hs_interface_set_admin(net, sw, true) < 0 ||
        hs_ip4_interface_address(net, sw, ip, 24, false) < 0) {
        fprintf(stderr, "graph: cannot build a stack instance\n");
        exit(1);
    }
    return net;
}

static void build_echo(uint8_t *p)
{
    memset(p, 0, 28);
    p[0] = 0x45;
    p[2] = 0;
    p[3] = 20 + ICMP_LEN;
    p[8] = 64;
    p[9] = 1;
    uint32_t s = htonl(IP_A), d = htonl(IP_B);
    memcpy(p + 12, &s, 4);
    memcpy(p + 16, &d, 4);
    uint16_t c = hs_csum(p, 20);
    memcpy(p + 10, &c, 2);
    p[20] = 8;
    for (int i = 8; i < ICMP_LEN; i++)
        p[20 + i] = (uint8_t)i;
    c = hs_csum(p + 20, ICMP_LEN);
    memcpy(p + 22, &c, 2);
}

/* A hands n echo requests to its ip4-lookup, as a transport would. */
static void inject(bench_t *bn, uint32_t n)
{
    hs_net_worker_t *wk = hs_net_worker(bn->a, 0);
    wk->now_ns = wk->rt.now_ns = hs_clock_now(&bn->clk);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t bi = hs_buf_from_bytes(&wk->bufs, bn->pkt, sizeof(bn->pkt));
        if (bi == HS_BUF_INVALID)
            break;
        hs_buf_t *b = hs_buf_ptr(wk->bufs.pool, bi);
        *hs_ip4_meta(b) = (hs_ip4_buf_meta_t){.fib_index = 0};
        b->flags |= HS_BUF_F_LOCALLY_MADE;
        b->l3_offset = b->current_data;
        hs_graph_enqueue(&wk->rt, bn->a->nodes.ip4_lookup, bi);
    }
    hs_graph_dispatch(&wk->rt);
}

static void poll_both(bench_t *bn)
{
    uint64_t now = hs_clock_now(&bn->clk);
    hs_net_worker_poll(hs_net_worker(bn->b, 0), now);
    hs_net_worker_poll(hs_net_worker(bn->a, 0), now);
}

/* ns per echo round trip, over RUN_NS of batches; exits when a reply went missing. */
static double run_graph(bench_t *bn, uint64_t *echoes)
{
    uint64_t before = replies_received(bn->a), n = 0;
    uint64_t t0 = hs_clock_mono_ns(), t;
    do {
        inject(bn, BATCH);
        poll_both(bn);
        n += BATCH;
        t = hs_clock_mono_ns();
    } while (t - t0 < RUN_NS);
    uint64_t got = replies_received(bn->a) - before;
    if (got != n) {
        fprintf(stderr, "graph: %lu echoes sent, %lu replies: the path lost packets\n",
                (unsigned long)n, (unsigned long)got);
        exit(1);
    }
    *echoes = n;
    return (double)(t - t0) / (double)n;
}

/* The harness alone: the same frame copied into the wire and out into a buffer. */
static double run_wire_copy(bench_t *bn)
{
    hs_net_worker_t *wk = hs_net_worker(bn->a, 0);
    uint8_t frame[14 + sizeof(bn->pkt)];
    memset(frame, 0x02, 12);
    frame[12] = 0x08;
    frame[13] = 0x00;
    memcpy(frame + 14, bn->pkt, sizeof(bn->pkt));
    uint64_t n = 0, t0 = hs_clock_mono_ns(), t;
    uint32_t bis[BATCH];
    do {
        for (uint32_t i = 0; i < BATCH; i++)
            hs_wire_send(bn->wire, 0, frame, sizeof(frame), 0);
        for (uint32_t i = 0; i < BATCH; i++) {
            uint32_t len;
            const uint8_t *p = hs_wire_peek(bn->wire, 1, 0, &len);
            bis[i] = hs_buf_from_bytes(&wk->bufs, p, len);
            hs_wire_pop(bn->wire, 1);
        }
        hs_buf_free(&wk->bufs, bis, BATCH);
        n += BATCH;
        t = hs_clock_mono_ns();
    } while (t - t0 < RUN_NS / 2);
    return (double)(t - t0) / (double)n;
}

/* Cycles per packet of each node that ran (both instances summed), like show runtime. */
static void print_runtime(bench_t *bn)
{
    const hs_graph_rt_t *ra = &hs_net_worker(bn->a, 0)->rt, *rb = &hs_net_worker(bn->b, 0)->rt;
    printf("  %-18s %12s %10s %14s\n", "node", "packets", "vectors", "cycles/packet");
    for (uint32_t i = 0; i < ra->n_nodes; i++) {
        const hs_node_rt_t *x = &ra->nodes[i], *y = &rb->nodes[i];
        uint64_t pk = x->vectors + y->vectors, calls = x->calls + y->calls;
        if (!pk)
            continue;
        printf("  %-18s %12lu %10.1f %14.1f\n", x->node->reg->name, (unsigned long)pk,
               (double)pk / (double)calls, (double)(x->clocks + y->clocks) / (double)pk);
    }
}

int main(void)
{
    bench_t bn = {0};
    hs_clock_init_real(&bn.clk);
    hs_wire_config_t wc = {.seed = 1, .max_in_flight = 4 * BATCH};
    if (hs_wire_create(&bn.wire, &wc) < 0)
        return 1;
    bn.a = stack_new(&bn, 0, IP_A);
    bn.b = stack_new(&bn, 1, IP_B);
    build_echo(bn.pkt);
    /* Resolve ARP both ways before measuring. */
    for (int i = 0; i < 10 && replies_received(bn.a) == 0; i++) {
        inject(&bn, 1);
        for (int k = 0; k < 4; k++)
            poll_both(&bn);
    }
    if (replies_received(bn.a) == 0) {
        fprintf(stderr, "graph: no echo reply: the path does not work\n");
        return 1;
    }
    double best_graph = 1e18, best_wire = 1e18;
    uint64_t echoes = 0;
    for (int r = 0; r < REPS; r++) {
        uint64_t n;
        double g = run_graph(&bn, &n), w = run_wire_copy(&bn);
        echoes += n;
        best_graph = g < best_graph ? g : best_graph;
        best_wire = w < best_wire ? w : best_wire;
    }
    /* An echo is two packets, each crossing a tx path and an rx path. */
    double ns_pkt = best_graph / 2;
    printf("graph: two stacks over the wire, 64-byte ICMP echoes, vectors of %d, one core "
           "(best of %d, %lu echoes, every reply checked)\n",
           BATCH, REPS, (unsigned long)echoes);
    printf("  echo round trips     %10.2f M/s   %8.1f ns per echo\n", 1e3 / best_graph, best_graph);
    printf("  packets (tx+rx each) %10.2f M/s   %8.1f ns per packet\n", 1e3 / ns_pkt, ns_pkt);
    printf("  reference: bare wire copy (send + receive into a buffer) %8.1f ns per packet "
           "= %.2f M/s\n",
           best_wire, 1e3 / best_wire);
    printf("  ratio: a packet through the graph costs %.1fx the bare copy; the graph's share "
           "is %.0f%%\n",
           ns_pkt / best_wire, 100.0 * (ns_pkt - best_wire) / ns_pkt);
    print_runtime(&bn);
    hs_net_destroy(bn.a);
    hs_net_destroy(bn.b);
    hs_wire_destroy(bn.wire);
    return 0;
}
