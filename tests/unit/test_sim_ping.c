/* Two stack instances in one process on a virtual clock, joined by the wire driver:
 *
 *     A --wire_a-- test forwarder --wire_b (impairments)-- B
 *
 * The forwarder records every frame that crosses (after wire_b's impairments), so the test
 * sees exactly what each stack received. A pings B (echo requests built by hand and handed
 * to A's ip4-lookup): ARP resolution, byte-exact replies, 100 pings through 10% loss,
 * corrupted frames never accepted, and 8000-byte pings fragmented and reassembled both
 * ways (also through reordering and duplication). Nothing reaches the kernel. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "drivers/wire.h"
#include "net/arp.h"
#include "net/checksum.h"
#include "net/devices.h"
#include "net/interface.h"
#include "net/ip4.h"
#include "net/net.h"
#include "be_bytes.h"

#define IP_A    0xc0a84d01u /* 192.168.77.1 */
#define IP_B    0xc0a84d02u /* 192.168.77.2 */
#define US      1000ull
#define MS      1000000ull
#define ECHO_ID 0x4d4d

static const uint8_t mac_a[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x0a};
static const uint8_t mac_b[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x0b};

typedef struct {
    uint64_t t;
    uint32_t len;
    uint8_t *data;
} frame_t;

typedef struct {
    frame_t *f;
    uint32_t n, cap;
} frame_log_t;

typedef struct {
    hs_clock_t clk;
    hs_net_t *a, *b;
    hs_wire_t *wa, *wb;
    uint32_t swa, swb;
    frame_log_t from_a, to_a; /* what A sent, what A received (after the impairments) */
} sim_t;

static void log_add(frame_log_t *l, uint64_t t, const uint8_t *p, uint32_t len)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->f = realloc(l->f, l->cap * sizeof(*l->f));
        assert_non_null(l->f);
    }
    frame_t *f = &l->f[l->n++];
    f->t = t;
    f->len = len;
    f->data = malloc(len);
    assert_non_null(f->data);
    memcpy(f->data, p, len);
}

static void log_free(frame_log_t *l)
{
    for (uint32_t i = 0; i < l->n; i++)
        free(l->f[i].data);
    free(l->f);
    memset(l, 0, sizeof(*l));
}

static hs_net_t *stack_new(sim_t *s, hs_wire_t *w, int end, const uint8_t *mac, uint32_t ip,
                           uint32_t *sw)
{
    hs_net_t *net = NULL;
    hs_net_config_t cfg = {.n_workers = 1, .n_buffers = 4096, .clock = &s->clk};
    assert_int_equal(hs_net_create(&net, &cfg), 0);
    assert_int_equal(hs_wire_if_create(net, w, end, "wire0", mac, sw), 0);
    assert_int_equal(hs_interface_set_admin(net, *sw, true), 0);
    assert_int_equal(hs_ip4_interface_address(net, *sw, ip, 24, false), 0);
    return net;
}

static void sim_init(sim_t *s, const hs_wire_dir_config_t *link, uint64_t seed)
{
    memset(s, 0, sizeof(*s));
    hs_clock_init_virtual(&s->clk, 1 * HS_NS_PER_S);
    hs_wire_config_t ca = {.seed = 1}, cb = {.seed = seed};
    cb.dir[0] = cb.dir[1] = *link;
    assert_int_equal(hs_wire_create(&s->wa, &ca), 0);
    assert_int_equal(hs_wire_create(&s->wb, &cb), 0);
    s->a = stack_new(s, s->wa, 0, mac_a, IP_A, &s->swa);
    s->b = stack_new(s, s->wb, 1, mac_b, IP_B, &s->swb);
}

static void sim_fini(sim_t *s)
{
    hs_net_destroy(s->a);
    hs_net_destroy(s->b);
    hs_wire_destroy(s->wa);
    hs_wire_destroy(s->wb);
    log_free(&s->to_a);
    log_free(&s->from_a);
}

/* Moves due frames across the forwarder, recording them. Returns how many moved. */
static uint32_t forward(sim_t *s, uint64_t now)
{
    uint8_t buf[16384];
    uint32_t moved = 0;
    int n;
    while ((n = hs_wire_recv(s->wa, 1, now, buf, sizeof(buf))) > 0) {
        log_add(&s->from_a, now, buf, (uint32_t)n);
        hs_wire_send(s->wb, 0, buf, (uint32_t)n, now); /* impairments happen here */
        moved++;
    }
    while ((n = hs_wire_recv(s->wb, 0, now, buf, sizeof(buf))) > 0) {
        log_add(&s->to_a, now, buf, (uint32_t)n);
        hs_wire_send(s->wa, 1, buf, (uint32_t)n, now);
        moved++;
    }
    return moved;
}

static uint32_t poll_one(hs_net_t *net, uint64_t now)
{
    return hs_net_worker_poll(hs_net_worker(net, 0), now);
}

/* Runs everything due at now until nothing moves. */
static void sim_poll(sim_t *s)
{
    uint64_t now = hs_clock_now(&s->clk);
    bool moved;
    do {
        moved = poll_one(s->a, now) > 0;
        moved |= forward(s, now) > 0;
        moved |= poll_one(s->b, now) > 0;
        moved |= forward(s, now) > 0;
    } while (moved);
}

static uint64_t sim_next_event(sim_t *s)
{
    uint64_t t = UINT64_MAX;
    for (int e = 0; e < 2; e++) {
        t = HS_MIN(t, hs_wire_next_delivery(s->wa, e));
        t = HS_MIN(t, hs_wire_next_delivery(s->wb, e));
    }
    t = HS_MIN(t, hs_net_worker(s->a, 0)->next_housekeep_ns);
    t = HS_MIN(t, hs_net_worker(s->b, 0)->next_housekeep_ns);
    return t;
}

/* Runs the simulation until virtual time `until`, jumping from event to event. */
static void sim_run_until(sim_t *s, uint64_t until)
{
    for (;;) {
        sim_poll(s);
        uint64_t next = sim_next_event(s);
        uint64_t now = hs_clock_now(&s->clk);
        if (next <= now)
            next = now + 1; /* something due now did not move: let time pass */
        if (next > until) {
            hs_clock_set(&s->clk, until);
            sim_poll(s);
            return;
        }
        hs_clock_set(&s->clk, next);
    }
}

static uint8_t payload_byte(uint16_t seq, uint32_t i)
{
    return (uint8_t)(i * 7 + seq * 3 + (i >> 8));
}

/* An echo request datagram (IP header on) from A to B. */
static uint32_t build_echo(uint8_t *p, uint16_t seq, uint32_t data_len)
{
    uint32_t len = 20 + 8 + data_len;
    memset(p, 0, 28);
    p[0] = 0x45;
    put16(p + 2, (uint16_t)len);
    put16(p + 4, (uint16_t)(0x7000 + seq));
    p[8] = 64;
    p[9] = 1;
    put16(p + 12, (uint16_t)(IP_A >> 16));
    put16(p + 14, (uint16_t)IP_A);
    put16(p + 16, (uint16_t)(IP_B >> 16));
    put16(p + 18, (uint16_t)IP_B);
    uint16_t c = hs_csum(p, 20);
    memcpy(p + 10, &c, 2);
    uint8_t *icmp = p + 20;
    icmp[0] = 8;
    put16(icmp + 4, ECHO_ID);
    put16(icmp + 6, seq);
    for (uint32_t i = 0; i < data_len; i++)
        icmp[8 + i] = payload_byte(seq, i);
    c = hs_csum(icmp, 8 + data_len);
    memcpy(icmp + 2, &c, 2);
    return len;
}

/* A sends an echo request: handed to its ip4-lookup as a transport would. */
static void ping(sim_t *s, uint16_t seq, uint32_t data_len)
{
    static uint8_t pkt[65536];
    uint32_t len = build_echo(pkt, seq, data_len);
    hs_net_worker_t *wk = hs_net_worker(s->a, 0);
    wk->now_ns = wk->rt.now_ns = hs_clock_now(&s->clk);
    uint32_t bi = hs_buf_from_bytes(&wk->bufs, pkt, len);
    assert_int_not_equal(bi, HS_BUF_INVALID);
    hs_buf_t *b = hs_buf_ptr(wk->bufs.pool, bi);
    *hs_ip4_meta(b) = (hs_ip4_buf_meta_t){.fib_index = 0};
    b->flags |= HS_BUF_F_LOCALLY_MADE;
    b->l3_offset = b->current_data;
    hs_graph_enqueue(&wk->rt, s->a->nodes.ip4_lookup, bi);
    hs_graph_dispatch(&wk->rt);
}

/* A node's drop/event counter, found by its reason text. */
static uint64_t node_counter(hs_net_t *net, const char *node, const char *reason)
{
    int ni = hs_graph_node_index(&net->graph, node);
    assert_true(ni >= 0);
    const hs_node_rt_t *nr = &hs_net_worker(net, 0)->rt.nodes[ni];
    const hs_node_reg_t *reg = nr->node->reg;
    for (uint16_t i = 0; i < reg->n_errors; i++)
        if (strstr(reg->errors[i], reason))
            return nr->errors[i];
    fail_msg("node %s has no counter '%s'", node, reason);
    return 0;
}

static bool frame_is_arp(const frame_t *f, uint16_t op, uint32_t spa, uint32_t tpa)
{
    return f->len >= 42 && get16(f->data + 12) == 0x0806 && get16(f->data + 20) == op &&
           get32(f->data + 28) == spa && get32(f->data + 38) == tpa;
}

static bool frame_is_ip4(const frame_t *f)
{
    return f->len >= 34 && get16(f->data + 12) == 0x0800;
}

/* Checks a complete echo reply (IP header on) against the request it answers. */
static bool reply_matches(const uint8_t *ip, uint32_t len, uint16_t seq, uint32_t data_len)
{
    if (len != 28 + data_len || ip[0] != 0x45 || get16(ip + 2) != len || ip[9] != 1)
        return false;
    if (get32(ip + 12) != IP_B || get32(ip + 16) != IP_A || hs_csum(ip, 20) != 0)
        return false;
    const uint8_t *icmp = ip + 20;
    if (icmp[0] != 0 || icmp[1] != 0 || get16(icmp + 4) != ECHO_ID || get16(icmp + 6) != seq)
        return false;
    if (hs_csum(icmp, 8 + data_len) != 0)
        return false;
    for (uint32_t i = 0; i < data_len; i++)
        if (icmp[8 + i] != payload_byte(seq, i))
            return false;
    return true;
}

/* Finds the unfragmented echo reply with seq in what A received; its frame or NULL. */
static const frame_t *find_reply(const frame_log_t *l, uint16_t seq, uint32_t data_len)
{
    for (uint32_t i = 0; i < l->n; i++) {
        const frame_t *f = &l->f[i];
        if (frame_is_ip4(f) && memcmp(f->data, mac_a, 6) == 0 &&
            memcmp(f->data + 6, mac_b, 6) == 0 &&
            reply_matches(f->data + 14, f->len - 14, seq, data_len))
            return f;
    }
    return NULL;
}

/* Buffers neither in the pool nor in the worker's cache: held somewhere (or leaked). */
static uint32_t bufs_in_use(hs_net_t *net)
{
    return net->bufs.n_buffers - hs_buf_pool_n_free(&net->bufs) - hs_net_worker(net, 0)->bufs.n;
}

static const hs_wire_dir_config_t clean_link = {.delay_ns = 100 * US};

static void test_arp_then_ping_byte_exact(void **state)
{
    (void)state;
    sim_t s;
    sim_init(&s, &clean_link, 1);
    sim_run_until(&s, hs_clock_now(&s.clk) + 10 * MS); /* gratuitous ARPs go out */
    uint64_t t0 = hs_clock_now(&s.clk);
    ping(&s, 1, 56);
    sim_run_until(&s, t0 + 10 * MS);

    /* A asked for B, B answered, then the echo went and came back. */
    bool asked = false, answered = false;
    for (uint32_t i = 0; i < s.from_a.n; i++)
        if (frame_is_arp(&s.from_a.f[i], 1, IP_A, IP_B)) {
            asked = true;
            assert_memory_equal(s.from_a.f[i].data, "\xff\xff\xff\xff\xff\xff", 6);
            assert_memory_equal(s.from_a.f[i].data + 22, mac_a, 6);
        }
    for (uint32_t i = 0; i < s.to_a.n; i++)
        if (frame_is_arp(&s.to_a.f[i], 2, IP_B, IP_A)) {
            answered = true;
            assert_memory_equal(s.to_a.f[i].data + 22, mac_b, 6);
            assert_memory_equal(s.to_a.f[i].data, mac_a, 6);
        }
    assert_true(asked);
    assert_true(answered);
    const frame_t *r = find_reply(&s.to_a, 1, 56);
    assert_non_null(r);
    assert_int_equal(r->len, 14 + 28 + 56);
    assert_int_equal(get16(r->data + 12), 0x0800);
    /* ARP request + reply + echo + reply: four one-way trips of 100 us. */
    assert_true(r->t - t0 >= 400 * US && r->t - t0 < 1 * MS);
    assert_int_equal(node_counter(s.b, "icmp4-input", "echo requests answered"), 1);
    assert_int_equal(node_counter(s.a, "icmp4-input", "echo replies received"), 1);
    hs_str_t out = {0};
    hs_arp_format(s.a, &out);
    assert_non_null(strstr(hs_str_cstr(&out), "192.168.77.2"));
    hs_str_free(&out);
    /* Every buffer came back: the drivers free what they send, nothing is stranded. */
    assert_int_equal(bufs_in_use(s.a), 0);
    assert_int_equal(bufs_in_use(s.b), 0);
    sim_fini(&s);
}

/* 100 pings, 10 ms apart, through 10% loss each way: some are lost, every reply that comes
 * back is exact, and A counts exactly the replies that reached it. */
static void test_100_pings_with_loss(void **state)
{
    (void)state;
    hs_wire_dir_config_t lossy = {.delay_ns = 100 * US, .loss_pct = 10};
    sim_t s;
    sim_init(&s, &lossy, 42);
    /* First resolve ARP (its own exchange may be lost and retried after 1 s, and packets
     * beyond the 8 held meanwhile are dropped): pings numbered 1000+ until one returns. */
    uint16_t warm = 1000;
    do {
        uint64_t t = hs_clock_now(&s.clk);
        ping(&s, warm, 56);
        sim_run_until(&s, t + 2 * HS_NS_PER_S);
    } while (!find_reply(&s.to_a, warm++, 56) && warm < 1010);
    assert_true(warm < 1010);
    uint64_t before = node_counter(s.a, "icmp4-input", "echo replies received");
    uint32_t replies = 0;
    for (uint16_t seq = 0; seq < 100; seq++) {
        uint64_t t = hs_clock_now(&s.clk);
        ping(&s, seq, 56);
        sim_run_until(&s, t + 10 * MS);
    }
    sim_run_until(&s, hs_clock_now(&s.clk) + 1 * HS_NS_PER_S);
    for (uint16_t seq = 0; seq < 100; seq++)
        replies += find_reply(&s.to_a, seq, 56) != NULL;
    uint64_t counted = node_counter(s.a, "icmp4-input", "echo replies received") - before;
    print_message("  100 pings through 10%% loss each way: %u replies (wire lost %lu + %lu)\n",
                  replies, (unsigned long)hs_wire_counters(s.wb, 0)->lost,
                  (unsigned long)hs_wire_counters(s.wb, 1)->lost);
    assert_true(replies >= 60 && replies < 100);
    assert_int_equal(counted, replies);
    assert_true(hs_wire_counters(s.wb, 0)->lost + hs_wire_counters(s.wb, 1)->lost > 0);
    sim_fini(&s);
}

/* 5% of frames get a flipped bit: A accepts as replies only the exact ones, plus those
 * whose flip hit the source MAC (no checksum covers it). */
static void test_corruption_never_accepted(void **state)
{
    (void)state;
    hs_wire_dir_config_t noisy = {.delay_ns = 50 * US, .corrupt_pct = 5};
    sim_t s;
    sim_init(&s, &noisy, 7);
    sim_run_until(&s, hs_clock_now(&s.clk) + 10 * MS);
    for (uint16_t seq = 0; seq < 300; seq++) {
        uint64_t t = hs_clock_now(&s.clk);
        ping(&s, seq, 200);
        sim_run_until(&s, t + 2 * MS);
    }
    sim_run_until(&s, hs_clock_now(&s.clk) + 5 * HS_NS_PER_S);
    uint32_t exact = 0, src_mac_only = 0;
    for (uint16_t seq = 0; seq < 300; seq++) {
        if (find_reply(&s.to_a, seq, 200)) {
            exact++;
            continue;
        }
        for (uint32_t i = 0; i < s.to_a.n; i++) {
            frame_t *f = &s.to_a.f[i];
            if (f->len != 14 + 28 + 200 || memcmp(f->data + 6, mac_b, 6) == 0)
                continue;
            uint8_t saved[6];
            memcpy(saved, f->data + 6, 6);
            memcpy(f->data + 6, mac_b, 6);
            bool ok = find_reply(&(frame_log_t){.f = f, .n = 1}, seq, 200) != NULL;
            memcpy(f->data + 6, saved, 6);
            src_mac_only += ok;
        }
    }
    uint64_t counted = node_counter(s.a, "icmp4-input", "echo replies received");
    uint64_t corrupted =
        hs_wire_counters(s.wb, 0)->corrupted + hs_wire_counters(s.wb, 1)->corrupted;
    print_message("  300 pings through 5%% corruption: %lu frames corrupted, %u exact replies, "
                  "%u with only the source MAC hit, %lu counted by A\n",
                  (unsigned long)corrupted, exact, src_mac_only, (unsigned long)counted);
    assert_true(corrupted > 0);
    assert_true(exact < 300);
    assert_int_equal(counted, exact + src_mac_only);
    sim_fini(&s);
}

/* Collects the fragments of datagram id sent B -> A and reassembles them; returns the
 * datagram's length (0 when incomplete). */
static uint32_t reassemble_from_log(const frame_log_t *l, uint16_t id, uint8_t *out,
                                    uint32_t *n_frags)
{
    uint32_t total = 0, have = 0;
    uint8_t hdr[20];
    *n_frags = 0;
    for (uint32_t i = 0; i < l->n; i++) {
        const frame_t *f = &l->f[i];
        if (!frame_is_ip4(f) || memcmp(f->data, mac_a, 6) != 0)
            continue;
        const uint8_t *ip = f->data + 14;
        if (get16(ip + 4) != id || get32(ip + 12) != IP_B || hs_csum(ip, 20) != 0)
            continue;
        uint16_t fo = get16(ip + 6);
        uint32_t off = (fo & 0x1fffu) * 8, len = get16(ip + 2) - 20u;
        if (off == 0)
            memcpy(hdr, ip, 20);
        if (!(fo & 0x2000))
            total = off + len;
        memcpy(out + 20 + off, ip + 20, len);
        have += len;
        (*n_frags)++;
    }
    if (total == 0 || have < total)
        return 0;
    memcpy(out, hdr, 20);
    put16(out + 2, (uint16_t)(20 + total));
    put16(out + 6, 0);
    memset(out + 10, 0, 2);
    uint16_t c = hs_csum(out, 20);
    memcpy(out + 10, &c, 2);
    return 20 + total;
}

static void test_fragmented_ping_both_ways(void **state)
{
    (void)state;
    sim_t s;
    sim_init(&s, &clean_link, 3);
    sim_run_until(&s, hs_clock_now(&s.clk) + 10 * MS);
    uint64_t t0 = hs_clock_now(&s.clk);
    ping(&s, 9, 8000);
    sim_run_until(&s, t0 + 20 * MS);

    /* A -> B went out in fragments of at most 1500 bytes. */
    uint32_t frags_ab = 0;
    for (uint32_t i = 0; i < s.from_a.n; i++) {
        const frame_t *f = &s.from_a.f[i];
        if (frame_is_ip4(f) && get16(f->data + 14 + 4) == 0x7000 + 9) {
            assert_true(f->len - 14 <= 1500);
            frags_ab++;
        }
    }
    assert_true(frags_ab >= 6);
    assert_int_equal(node_counter(s.b, "ip4-local", "datagrams reassembled"), 1);
    assert_int_equal(node_counter(s.b, "icmp4-input", "echo requests answered"), 1);
    assert_int_equal(node_counter(s.a, "ip4-local", "datagrams reassembled"), 1);
    assert_int_equal(node_counter(s.a, "icmp4-input", "echo replies received"), 1);

    /* B -> A: every fragment fits the MTU; together they are the exact reply. */
    static uint8_t dgram[65536];
    uint32_t n_frags = 0;
    uint16_t reply_id = 0;
    for (uint32_t i = 0; i < s.to_a.n && !reply_id; i++) {
        const frame_t *f = &s.to_a.f[i];
        if (frame_is_ip4(f) && (get16(f->data + 14 + 6) & 0x2000))
            reply_id = get16(f->data + 14 + 4);
        if (frame_is_ip4(f))
            assert_true(f->len - 14 <= 1500);
    }
    assert_int_not_equal(reply_id, 0);
    uint32_t len = reassemble_from_log(&s.to_a, reply_id, dgram, &n_frags);
    assert_int_equal(len, 28 + 8000);
    assert_true(n_frags >= 6);
    assert_true(reply_matches(dgram, len, 9, 8000));
    assert_int_equal(bufs_in_use(s.a), 0);
    assert_int_equal(bufs_in_use(s.b), 0);
    sim_fini(&s);
}

/* Ten 8000-byte pings through reordering and duplication: every reply is reassembled. */
static void test_fragmented_pings_reordered_duplicated(void **state)
{
    (void)state;
    hs_wire_dir_config_t messy = {
        .delay_ns = 100 * US, .reorder_pct = 30, .reorder_max_ns = 300 * US, .dup_pct = 10};
    sim_t s;
    sim_init(&s, &messy, 11);
    sim_run_until(&s, hs_clock_now(&s.clk) + 10 * MS);
    for (uint16_t seq = 0; seq < 10; seq++) {
        uint64_t t = hs_clock_now(&s.clk);
        ping(&s, seq, 8000);
        sim_run_until(&s, t + 20 * MS);
    }
    sim_run_until(&s, hs_clock_now(&s.clk) + 2 * HS_NS_PER_S);
    const hs_wire_counters_t *c0 = hs_wire_counters(s.wb, 0), *c1 = hs_wire_counters(s.wb, 1);
    print_message("  10 x 8000-byte pings: wire reordered %lu, duplicated %lu frames\n",
                  (unsigned long)(c0->reordered + c1->reordered),
                  (unsigned long)(c0->duplicated + c1->duplicated));
    assert_true(c0->reordered + c1->reordered > 0);
    assert_true(c0->duplicated + c1->duplicated > 0);
    assert_int_equal(node_counter(s.b, "icmp4-input", "echo requests answered"), 10);
    assert_int_equal(node_counter(s.a, "icmp4-input", "echo replies received"), 10);
    sim_fini(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arp_then_ping_byte_exact),
        cmocka_unit_test(test_100_pings_with_loss),
        cmocka_unit_test(test_corruption_never_accepted),
        cmocka_unit_test(test_fragmented_ping_both_ways),
        cmocka_unit_test(test_fragmented_pings_reordered_duplicated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
