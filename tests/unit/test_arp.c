/* Unit tests for ARP and the neighbor table (src/net/arp.c): the packet parser and builder
 * as pure functions; then, through a real instance with a fake device on a virtual clock,
 * replies, learning rules, resolution with held packets and their bounds, aging, retries
 * and failure, conflicts, static entries, flushing, show output, and two workers sharing
 * the table from two threads.
 * HS_TEST_LOCKFREE: the two-thread test also runs under ThreadSanitizer (the table's lock). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/arp.h"
#include "net/ethernet.h"
#include "net/ip4.h"
#include "net_fake.h"

static const uint8_t peer_mac[6] = {0x02, 0xaa, 0, 0, 0, 9};
static const uint8_t zero_mac[6] = {0};
#define OUR_IP  tn_ip(10, 0, 0, 1)
#define PEER_IP tn_ip(10, 0, 0, 9)

/* ---- pure functions ---- */

static const uint8_t sample[28] = {0,  1, 8, 0, 6, 4, 0, 1, 0x02, 0xaa, 0,  0, 0, 9,
                                   10, 0, 0, 9, 0, 0, 0, 0, 0,    0,    10, 0, 0, 1};

static void test_parse_valid(void **state)
{
    (void)state;
    hs_arp_pkt_t a;
    assert_int_equal(hs_arp_parse(sample, 28, &a), HS_ARP_PARSE_OK);
    assert_int_equal(a.op, HS_ARP_OP_REQUEST);
    assert_memory_equal(a.sha, peer_mac, 6);
    assert_int_equal(a.spa, PEER_IP);
    assert_memory_equal(a.tha, zero_mac, 6);
    assert_int_equal(a.tpa, OUR_IP);
    uint8_t padded[46] = {0};
    memcpy(padded, sample, 28);
    assert_int_equal(hs_arp_parse(padded, 46, &a), HS_ARP_PARSE_OK); /* padding is fine */
}

static void test_parse_invalid(void **state)
{
    (void)state;
    hs_arp_pkt_t a;
    uint8_t p[28];
    for (uint32_t len = 0; len < 28; len++)
        assert_int_equal(hs_arp_parse(sample, len, &a), HS_ARP_PARSE_SHORT);
    const struct {
        int off;
        uint8_t val;
        hs_arp_parse_result_t want;
    } cases[] = {
        {1, 6, HS_ARP_PARSE_BAD_HW},     {0, 1, HS_ARP_PARSE_BAD_HW},
        {4, 8, HS_ARP_PARSE_BAD_HW},     {2, 0x86, HS_ARP_PARSE_BAD_PROTO},
        {5, 16, HS_ARP_PARSE_BAD_PROTO}, {7, 3, HS_ARP_PARSE_BAD_OP},
        {7, 0, HS_ARP_PARSE_BAD_OP},     {6, 1, HS_ARP_PARSE_BAD_OP},
    };
    for (size_t i = 0; i < HS_ARRAY_LEN(cases); i++) {
        memcpy(p, sample, 28);
        p[cases[i].off] = cases[i].val;
        assert_int_equal(hs_arp_parse(p, 28, &a), cases[i].want);
    }
}

static void test_build_roundtrip(void **state)
{
    (void)state;
    hs_arp_pkt_t a = {.op = HS_ARP_OP_REPLY, .spa = 0xc0a80101, .tpa = 0xc0a801fe};
    memcpy(a.sha, peer_mac, 6);
    memset(a.tha, 0x5a, 6);
    uint8_t p[28];
    hs_arp_build(p, &a);
    const uint8_t want[28] = {0,    1,    8,    0,    6,    4,    0, 2,   0x02, 0xaa,
                              0,    0,    0,    9,    0xc0, 0xa8, 1, 1,   0x5a, 0x5a,
                              0x5a, 0x5a, 0x5a, 0x5a, 0xc0, 0xa8, 1, 0xfe};
    assert_memory_equal(p, want, 28);
    hs_arp_pkt_t b;
    assert_int_equal(hs_arp_parse(p, 28, &b), HS_ARP_PARSE_OK);
    assert_int_equal(b.op, a.op);
    assert_memory_equal(b.sha, a.sha, 6);
    assert_int_equal(b.spa, a.spa);
    assert_memory_equal(b.tha, a.tha, 6);
    assert_int_equal(b.tpa, a.tpa);
    hs_arp_wire_t w;
    memcpy(&w, p, sizeof(w));
    assert_int_equal(ntohs(w.op), 2);
    assert_int_equal(ntohl(w.tpa), 0xc0a801fe);
}

/* ---- through a real instance ---- */

/* An ARP frame (60 bytes, padded) into f. */
static uint32_t arp_frame(uint8_t *f, const uint8_t eth_dst[6], const uint8_t eth_src[6],
                          uint16_t op, const uint8_t sha[6], uint32_t spa, const uint8_t tha[6],
                          uint32_t tpa)
{
    memset(f, 0, 60);
    hs_eth_write(f, eth_dst, eth_src, HS_ETHERTYPE_ARP);
    hs_arp_pkt_t a = {.op = op, .spa = spa, .tpa = tpa};
    memcpy(a.sha, sha, 6);
    memcpy(a.tha, tha, 6);
    hs_arp_build(f + 14, &a);
    return 60;
}

/* The peer asks who has ip. */
static void peer_asks(tn_if_t *d, uint32_t spa, uint32_t tpa)
{
    uint8_t f[60];
    tn_rx(
        d, f,
        arp_frame(f, hs_mac_broadcast, peer_mac, HS_ARP_OP_REQUEST, peer_mac, spa, zero_mac, tpa));
}

/* The peer (with mac) tells us spa is at mac. */
static void peer_replies(tn_if_t *d, const uint8_t mac[6], uint32_t spa)
{
    uint8_t f[60];
    tn_rx(d, f, arp_frame(f, d->mac, mac, HS_ARP_OP_REPLY, mac, spa, d->mac, OUR_IP));
}

/* eth0 with 10.0.0.1/24, its announcement already sent and forgotten. */
static tn_if_t *eth0(tn_t *t)
{
    tn_if_t *d = tn_if_create(t, "eth0", 1);
    assert_non_null(d);
    assert_int_equal(hs_ip4_interface_address(t->net, d->sw_if_index, OUR_IP, 24, false), 0);
    tn_poll(t);
    tn_if_clear_tx(d);
    return d;
}

static hs_arp_entry_info_t lookup(tn_t *t, tn_if_t *d, uint32_t ip)
{
    hs_arp_entry_info_t e;
    assert_int_equal(hs_arp_lookup(t->net, d->sw_if_index, ip, &e), 0);
    return e;
}

static bool buffers_all_free(tn_t *t)
{
    return hs_buf_pool_n_free(&t->net->bufs) + tn_cached(t) == t->n_buffers;
}

/* A packet for ip4-rewrite toward PEER_IP: a 28-byte IPv4/ICMP-looking body with the
 * metadata ip4-lookup would have left. */
static uint32_t held_packet(hs_net_worker_t *wk, tn_if_t *d, uint32_t dst)
{
    uint8_t ip[28] = {0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1};
    ip[16] = (uint8_t)(dst >> 24), ip[17] = (uint8_t)(dst >> 16), ip[18] = (uint8_t)(dst >> 8),
    ip[19] = (uint8_t)dst;
    uint32_t bi = hs_buf_from_bytes(&wk->bufs, ip, sizeof(ip));
    assert_int_not_equal(bi, HS_BUF_INVALID);
    hs_buf_t *b = hs_buf_ptr(wk->bufs.pool, bi);
    b->sw_if_index[HS_TX] = d->sw_if_index;
    b->flags |= HS_BUF_F_LOCALLY_MADE;
    hs_ip4_meta(b)->fib_index = 0;
    hs_ip4_meta(b)->next_hop = dst;
    return bi;
}

/* Checks that tx frame i is an ARP frame with these fields. */
static void assert_arp_tx(tn_if_t *d, uint32_t i, const uint8_t eth_dst[6], uint16_t op,
                          uint32_t spa, const uint8_t tha[6], uint32_t tpa)
{
    assert_true(i < d->n_tx);
    uint8_t want[60];
    arp_frame(want, eth_dst, d->mac, op, d->mac, spa, tha, tpa);
    assert_int_equal(d->tx_len[i], 60);
    assert_memory_equal(d->tx[i], want, 60);
}

static void test_announce(void **state)
{
    tn_t *t = *state;
    tn_if_t *d = tn_if_create(t, "eth0", 1);
    hs_arp_announce(hs_net_worker(t->net, 0), d->sw_if_index, OUR_IP);
    hs_graph_dispatch(&hs_net_worker(t->net, 0)->rt);
    assert_int_equal(d->n_tx, 1);
    /* RFC 5227 announcement: a broadcast request with sender and target both ours. */
    assert_arp_tx(d, 0, hs_mac_broadcast, HS_ARP_OP_REQUEST, OUR_IP, zero_mac, OUR_IP);
    tn_if_clear_tx(d);
    /* Adding an address announces it too (ip4 calls hs_arp_announce). */
    assert_int_equal(hs_ip4_interface_address(t->net, d->sw_if_index, OUR_IP, 24, false), 0);
    tn_poll(t);
    assert_int_equal(d->n_tx, 1);
    assert_arp_tx(d, 0, hs_mac_broadcast, HS_ARP_OP_REQUEST, OUR_IP, zero_mac, OUR_IP);
}

static void test_reply_to_request(void **state)
{
    tn_t *t = *state;
    tn_if_t *d = eth0(t);
    peer_asks(d, PEER_IP, OUR_IP);
    tn_poll(t);
    assert_int_equal(d->n_tx, 1);
    uint8_t want[60];
    arp_frame(want, peer_mac, d->mac, HS_ARP_OP_REPLY, d->mac, OUR_IP, peer_mac, PEER_IP);
    assert_int_equal(d->tx_len[0], 60);
    assert_memory_equal(d->tx[0], want, 60);
    assert_int_equal(tn_err(t, "arp-input", "requests answered"), 1);
    /* The asker is learned (it asked for us), reachable. */
    hs_arp_entry_info_t e = lookup(t, d, PEER_IP);
    assert_int_equal(e.state, HS_ARP_REACHABLE);
    assert_memory_equal(e.mac, peer_mac, 6);
    assert_int_equal(e.updated_ns, t->now);
    assert_true(buffers_all_free(t));
}

static void test_request_not_for_us(void **state)
{
    tn_t *t = *state;
    tn_if_t *d = eth0(t);
    peer_asks(d, PEER_IP, tn_ip(10, 0, 0, 77));
    tn_poll(t);
    assert_int_equal(d->n_tx, 0);
    assert_int_equal(tn_err(t, "arp-input", "request not for one of our addresses"), 1);
    hs_arp_entry_info_t e;
    assert_int_equal(hs_arp_lookup(t->net, d->sw_if_index, PEER_IP, &e), -ENOENT);
    /* Our address on another interface does not count. */
    tn_if_t *d2 = tn_if_create(t, "eth1", 1);
    peer_asks(d2, PEER_IP, OUR_IP);
    tn_poll(t);
    assert_int_equal(d2->n_tx, 0);
    assert_int_equal(tn_err(t, "arp-input", "request not for one of our addresses"), 2);
}

static void test_probe_is_answered_not_learned(void **state)
{
    tn_t *t = *state;
    tn_if_t *d = eth0(t);
    peer_asks(d, 0, OUR_IP); /* RFC 5227 probe: sender 0.0.0.0 */
    tn_poll(t);
    assert_int_equal(d->n_tx, 1);
    uint8_t want[60];
    arp_frame(want, peer_mac, d->mac, HS_ARP_OP_REPLY, d->mac, OUR_IP, peer_mac, 0);
    assert_memory_equal(d->tx[0], want, 60);
    assert_int_equal(hs_arp_n_entries(t->net), 0);
}

static void test_bad_packets_counted(void **state)
{
    tn_t *t = *state;
    tn_if_t *d = eth0(t);
    uint8_t f[60];
    const uint8_t mc[6] = {0x01, 0, 0x5e, 0, 0, 1};
    arp_frame(f, hs_mac_broadcast, peer_mac, 1, peer_mac, PEER_IP, zero_mac, OUR_IP);
    tn_rx(d, f, 14 + 27); /* short */
    f[15] = 6;            /* hardware type 6 */
    tn_rx(d, f, 60);
    f[15] = 1, f[16] = 0x86; /* protocol type */
    tn_rx(d, f, 60);
    f[16] = 0x08, f[21] = 9; /* opcode */
    tn_rx(d, f, 60);
    tn_rx(d, f, arp_frame(f, hs_mac_broadcast, peer_mac, 1, mc, PEER_IP, zero_mac, OUR_IP));
    tn_rx(d, f,
          arp_frame(f, hs_mac_broadcast, peer_mac, 1, peer_mac, 0xe0000001, zero_mac, OUR_IP));
    tn_poll(t);
    assert_int_equal(d->n_tx, 0);
    assert_int_equal(tn_err(t, "arp-input", "packet too short"), 1);
    assert_int_equal(tn_err(t, "arp-input", "hardware type not Ethernet"), 1);
    assert_int_equal(tn_err(t, "arp-input", "protocol type not IPv4"), 1);
    assert_int_equal(tn_err(t, "arp-input", "opcode neither request nor reply"), 1);
    assert_int_equal(tn_err(t, "arp-input", "sender address multicast or broadcast"), 2);
    assert_int_equal(hs_arp_n_entries(t->net), 0);
    assert_true(buffers_all_free(t));
}

static void test_conflict(void **state)
{
    tn_t *t = *state;
    tn_if_t *d = eth0(t);
    /* Someone else claims our address: neither answered nor learned. */
    peer_asks(d, OUR_IP, tn_ip(10, 0, 0, 5));
    peer_asks(d, OUR_IP, OUR_IP);
    peer_replies(d, peer_mac, OUR_IP);
    /* Our own announcement coming back is not a conflict. */
    uint8_t f[60];
    tn_rx(d, f, arp_frame(f, hs_mac_broadcast, d->mac, 1, d->mac, OUR_IP, zero_mac, OUR_IP));
    tn_poll(t);
    assert_int_equal(d->n_tx, 0);
    assert_int_equal(tn_err(t, "arp-input", "address conflict (our address from another MAC)"), 3);
    assert_int_equal(tn_err(t, "arp-input", "our own packet looped back"), 1);
    assert_int_equal(hs_arp_n_entries(t->net), 0);
}

static void test_gratuitous_and_unsolicited(void **state)
{
    tn_t *t = *state;
    tn_if_t *d = eth0(t);
    const uint8_t new_mac[6] = {0x02, 0xaa, 0, 0, 0, 0x99};
    /* Unknown senders are not learned from gratuitous ARP or unsolicited replies. */
    peer_asks(d, PEER_IP, PEER_IP);
    peer_replies(d, peer_mac, PEER_IP);
    tn_poll(t);
    assert_int_equal(hs_arp_n_entries(t->net), 0);
    assert_int_equal(tn_err(t, "arp-input", "gratuitous ARP received"), 1);
    assert_int_equal(tn_err(t, "arp-input", "unsolicited reply ignored"), 1);
    /* Known ones are updated: the peer asks for us (learned), then moves to a new MAC. */
    peer_asks(d, PEER_IP, OUR_IP);
    tn_poll(t);
    tn_advance(t, 5 * HS_NS_PER_S);
    uint8_t f[60];
    tn_rx(d, f, arp_frame(f, hs_mac_broadcast, new_mac, 1, new_mac, PEER_IP, zero_mac, PEER_IP));
    tn_poll(t);
    hs_arp_entry_info_t e = lookup(t, d, PEER_IP);
    assert_memory_equal(e.mac, new_mac, 6);
    assert_int_equal(e.state, HS_ARP_REACHABLE);
    assert_int_equal(e.updated_ns, t->now);
    assert_int_equal(tn_err(t, "arp-input", "gratuitous ARP received"), 2);
    /* A reply for a known entry counts as a reply. */
    peer_replies(d, peer_mac, PEER_IP);
    tn_poll(t);
    assert_int_equal(tn_err(t, "arp-input", "replies received"), 1);
    assert_memory_equal(lookup(t, d, PEER_IP).mac, peer_mac, 6);
}

static void test_resolve_holds_and_releases(void **state)
{
    tn_t *t = *state;
    tn_if_t *d = eth0(t);
    hs_net_worker_t *wk = hs_net_worker(t->net, 0);
    uint8_t mac[6];
    uint64_t rewrite_before = tn_node_vectors(t, "ip4-rewrite");
    for (int i = 0; i < HS_ARP_HOLD_PER_ENTRY; i++)
        assert_int_equal(
            hs_arp_resolve(wk, d->sw_if_index, PEER_IP, mac, held_packet(wk, d, PEER_IP)), -EAGAIN);
    /* The hold queue is full: the caller keeps (and drops) the packet. */
    uint32_t extra = held_packet(wk, d, PEER_IP);
    assert_int_equal(hs_arp_resolve(wk, d->sw_if_index, PEER_IP, mac, extra), -ENOBUFS);
    hs_buf_free(&wk->bufs, &extra, 1);
    assert_int_equal(hs_arp_n_held(t->net), HS_ARP_HOLD_PER_ENTRY);
    hs_graph_dispatch(&wk->rt);
    /* One broadcast request for all of them, from our address on that subnet. */
    assert_int_equal(d->n_tx, 1);
    assert_arp_tx(d, 0, hs_mac_broadcast, HS_ARP_OP_REQUEST, OUR_IP, zero_mac, PEER_IP);
    hs_arp_entry_info_t e = lookup(t, d, PEER_IP);
    assert_int_equal(e.state, HS_ARP_INCOMPLETE);
    assert_int_equal(e.n_held, HS_ARP_HOLD_PER_ENTRY);
    tn_if_clear_tx(d);
    /* The reply completes the entry and sends the held packets to ip4-rewrite. */
    peer_replies(d, peer_mac, PEER_IP);
    tn_poll(t);
    e = lookup(t, d, PEER_IP);
    assert_int_equal(e.state, HS_ARP_REACHABLE);
    assert_memory_equal(e.mac, peer_mac, 6);
    assert_int_equal(e.n_held, 0);
    assert_int_equal(hs_arp_n_held(t->net), 0);
    assert_int_equal(tn_node_vectors(t, "ip4-rewrite") - rewrite_before, HS_ARP_HOLD_PER_ENTRY);
    /* ip4-rewrite sent them on to the peer's MAC. */
    assert_int_equal(d->n_tx, HS_ARP_HOLD_PER_ENTRY);
    for (uint32_t i = 0; i < d->n_tx; i++) {
        assert_memory_equal(d->tx[i], peer_mac, 6);
        assert_memory_equal(d->tx[i] + 6, d->mac, 6);
        assert_int_equal(d->tx[i][12], 0x08);
        assert_int_equal(d->tx[i][13], 0x00);
    }
    /* Now resolved at once. */
    memset(mac, 0, 6);
    uint32_t bi = held_packet(wk, d, PEER_IP);
    assert_int_equal(hs_arp_resolve(wk, d->sw_if_index, PEER_IP, mac, bi), 0);
    assert_memory_equal(mac, peer_mac, 6);
    hs_buf_free(&wk->bufs, &bi, 1);
    assert_true(buffers_all_free(t));
}

static void test_global_hold_bound(void **state)
{
    tn_t *t = *state;
    tn_if_t *d = eth0(t);
    hs_net_worker_t *wk = hs_net_worker(t->net, 0);
    uint8_t mac[6];
    uint32_t n_nobufs = 0, n_held = 0;
    uint32_t n_ips = HS_ARP_HOLD_MAX / HS_ARP_HOLD_PER_ENTRY + 2;
    for (uint32_t ip = 0; ip < n_ips; ip++) {
        for (int i = 0; i < HS_ARP_HOLD_PER_ENTRY; i++) {
            uint32_t dst = tn_ip(10, 0, 1, 0) + ip;
            uint32_t bi = held_packet(wk, d, dst);
            int rv = hs_arp_resolve(wk, d->sw_if_index, dst, mac, bi);
            if (rv == -ENOBUFS) {
                n_nobufs++;
                hs_buf_free(&wk->bufs, &bi, 1);
            } else {
                assert_int_equal(rv, -EAGAIN);
                n_held++;
            }
        }
        hs_graph_dispatch(&wk->rt); /* the requests */
    }
    assert_int_equal(n_held, HS_ARP_HOLD_MAX);
    assert_int_equal(n_nobufs, n_ips * HS_ARP_HOLD_PER_ENTRY - HS_ARP_HOLD_MAX);
    assert_int_equal(hs_arp_n_held(t->net), HS_ARP_HOLD_MAX);
    assert_int_equal(hs_arp_n_entries(t->net), n_ips);
    /* Nobody answers: after the retries every held packet is dropped and counted. */
    tn_advance(t, (HS_ARP_MAX_RETRIES + 1) * HS_ARP_RETRY_NS);
    assert_int_equal(hs_arp_n_held(t->net), 0);
    assert_int_equal(tn_err(t, "arp-input", "held packets dropped: no reply"), HS_ARP_HOLD_MAX);
    assert_true(buffers_all_free(t));
}

static void test_incomplete_retries_then_fails(void **state)
{
    tn_t *t = *state;
    tn_if_t *d = eth0(t);
    hs_net_worker_t *wk = hs_net_worker(t->net, 0);
    uint8_t mac[6];
    uint64_t t0 = t->now;
    assert_int_equal(hs_arp_resolve(wk, d->sw_if_index, PEER_IP, mac, held_packet(wk, d, PEER_IP)),
                     -EAGAIN);
    hs_graph_dispatch(&wk->rt);
    assert_int_equal(d->n_tx, 1);
    tn_advance(t, HS_ARP_RETRY_NS - HS_NET_HOUSEKEEP_NS);
    assert_int_equal(d->n_tx, 1); /* not before a second */
    tn_advance(t, HS_NET_HOUSEKEEP_NS);
    assert_int_equal(d->n_tx, 2);
    assert_int_equal(lookup(t, d, PEER_IP).retries, 2);
    tn_advance(t, HS_ARP_RETRY_NS);
    assert_int_equal(d->n_tx, HS_ARP_MAX_RETRIES);
    for (uint32_t i = 0; i < d->n_tx; i++)
        assert_arp_tx(d, i, hs_mac_broadcast, HS_ARP_OP_REQUEST, OUR_IP, zero_mac, PEER_IP);
    assert_int_equal(lookup(t, d, PEER_IP).state, HS_ARP_INCOMPLETE);
    tn_advance(t, HS_ARP_RETRY_NS);
    assert_int_equal(t->now - t0, HS_ARP_MAX_RETRIES * HS_ARP_RETRY_NS);
    hs_arp_entry_info_t e = lookup(t, d, PEER_IP);
    assert_int_equal(e.state, HS_ARP_FAILED);
    assert_int_equal(e.n_held, 0);
    assert_int_equal(d->n_tx, HS_ARP_MAX_RETRIES);
    assert_int_equal(tn_err(t, "arp-input", "held packets dropped: no reply"), 1);
    assert_int_equal(tn_err(t, "arp-input", "requests sent"), HS_ARP_MAX_RETRIES);
    assert_true(buffers_all_free(t));
    /* A new packet starts over, as on Linux. */
    uint32_t bi = held_packet(wk, d, PEER_IP);
    assert_int_equal(hs_arp_resolve(wk, d->sw_if_index, PEER_IP, mac, bi), -EAGAIN);
    hs_graph_dispatch(&wk->rt);
    assert_int_equal(d->n_tx, HS_ARP_MAX_RETRIES + 1);
    assert_int_equal(lookup(t, d, PEER_IP).state, HS_ARP_INCOMPLETE);
    /* Without an answer it fails again and, after HS_ARP_GC_NS, is forgotten. */
    tn_advance(t, HS_ARP_MAX_RETRIES * HS_ARP_RETRY_NS);
    assert_int_equal(lookup(t, d, PEER_IP).state, HS_ARP_FAILED);
    tn_advance(t, HS_ARP_GC_NS);
    assert_int_equal(hs_arp_lookup(t->net, d->sw_if_index, PEER_IP, &e), -ENOENT);
    assert_true(buffers_all_free(t));
}

static void test_aging_stale_probe(void **state)
{
    tn_t *t = *state;
    tn_if_t *d = eth0(t);
    hs_net_worker_t *wk = hs_net_worker(t->net, 0);
    peer_asks(d, PEER_IP, OUR_IP);
    tn_poll(t);
    tn_if_clear_tx(d);
    tn_advance(t, HS_ARP_REACHABLE_NS - HS_NET_HOUSEKEEP_NS);
    assert_int_equal(lookup(t, d, PEER_IP).state, HS_ARP_REACHABLE);
    tn_advance(t, HS_NET_HOUSEKEEP_NS);
    assert_int_equal(lookup(t, d, PEER_IP).state, HS_ARP_STALE);
    assert_int_equal(d->n_tx, 0); /* aging alone sends nothing */
    /* Used while stale: the MAC is still given, and a unicast probe checks it. */
    uint8_t mac[6];
    uint32_t bi = held_packet(wk, d, PEER_IP);
    assert_int_equal(hs_arp_resolve(wk, d->sw_if_index, PEER_IP, mac, bi), 0);
    hs_buf_free(&wk->bufs, &bi, 1);
    assert_memory_equal(mac, peer_mac, 6);
    hs_graph_dispatch(&wk->rt);
    assert_int_equal(d->n_tx, 1);
    assert_arp_tx(d, 0, peer_mac, HS_ARP_OP_REQUEST, OUR_IP, zero_mac, PEER_IP);
    /* Further use sends no more probes than the retry timer allows. */
    bi = held_packet(wk, d, PEER_IP);
    assert_int_equal(hs_arp_resolve(wk, d->sw_if_index, PEER_IP, mac, bi), 0);
    hs_buf_free(&wk->bufs, &bi, 1);
    hs_graph_dispatch(&wk->rt);
    assert_int_equal(d->n_tx, 1);
    /* The answer makes it reachable again. */
    tn_advance(t, HS_NET_HOUSEKEEP_NS);
    peer_replies(d, peer_mac, PEER_IP);
    tn_poll(t);
    hs_arp_entry_info_t e = lookup(t, d, PEER_IP);
    assert_int_equal(e.state, HS_ARP_REACHABLE);
    assert_int_equal(e.updated_ns, t->now);
    /* Stale again; this time the probes go unanswered: failed after the retries. */
    tn_advance(t, HS_ARP_REACHABLE_NS);
    assert_int_equal(lookup(t, d, PEER_IP).state, HS_ARP_STALE);
    tn_if_clear_tx(d);
    bi = held_packet(wk, d, PEER_IP);
    assert_int_equal(hs_arp_resolve(wk, d->sw_if_index, PEER_IP, mac, bi), 0);
    hs_buf_free(&wk->bufs, &bi, 1);
    tn_advance(t, HS_ARP_MAX_RETRIES * HS_ARP_RETRY_NS);
    assert_int_equal(d->n_tx, HS_ARP_MAX_RETRIES);
    for (uint32_t i = 0; i < d->n_tx; i++)
        assert_arp_tx(d, i, peer_mac, HS_ARP_OP_REQUEST, OUR_IP, zero_mac, PEER_IP);
    assert_int_equal(lookup(t, d, PEER_IP).state, HS_ARP_FAILED);
    assert_true(buffers_all_free(t));
}

static void test_unused_stale_is_collected(void **state)
{
    tn_t *t = *state;
    tn_if_t *d = eth0(t);
    peer_asks(d, PEER_IP, OUR_IP);
    tn_poll(t);
    tn_advance(t, HS_ARP_REACHABLE_NS);
    assert_int_equal(lookup(t, d, PEER_IP).state, HS_ARP_STALE);
    tn_advance(t, HS_ARP_GC_NS - HS_NET_HOUSEKEEP_NS);
    assert_int_equal(lookup(t, d, PEER_IP).state, HS_ARP_STALE);
    tn_advance(t, HS_NET_HOUSEKEEP_NS);
    hs_arp_entry_info_t e;
    assert_int_equal(hs_arp_lookup(t->net, d->sw_if_index, PEER_IP, &e), -ENOENT);
}

static void test_static_entries(void **state)
{
    tn_t *t = *state;
    tn_if_t *d = eth0(t);
    hs_net_worker_t *wk = hs_net_worker(t->net, 0);
    const uint8_t smac[6] = {0x02, 0xcc, 0, 0, 0, 1}, mc[6] = {1, 0, 0, 0, 0, 1};
    assert_int_equal(hs_arp_add_static(t->net, 77, PEER_IP, smac), -ENOENT);
    assert_int_equal(hs_arp_add_static(t->net, d->sw_if_index, PEER_IP, mc), -EINVAL);
    assert_int_equal(hs_arp_add_static(t->net, d->sw_if_index, 0, smac), -EINVAL);
    /* Packets held for an incomplete entry go out when the operator sets it static. */
    uint8_t mac[6];
    assert_int_equal(hs_arp_resolve(wk, d->sw_if_index, PEER_IP, mac, held_packet(wk, d, PEER_IP)),
                     -EAGAIN);
    hs_graph_dispatch(&wk->rt);
    tn_if_clear_tx(d);
    assert_int_equal(hs_arp_add_static(t->net, d->sw_if_index, PEER_IP, smac), 0);
    tn_poll(t);
    assert_int_equal(d->n_tx, 1);
    assert_memory_equal(d->tx[0], smac, 6);
    /* ARP never overrides it, and it never ages. */
    peer_replies(d, peer_mac, PEER_IP);
    peer_asks(d, PEER_IP, OUR_IP);
    tn_poll(t);
    tn_advance(t, HS_ARP_REACHABLE_NS + HS_ARP_GC_NS + HS_NS_PER_S);
    hs_arp_entry_info_t e = lookup(t, d, PEER_IP);
    assert_int_equal(e.state, HS_ARP_STATIC);
    assert_memory_equal(e.mac, smac, 6);
    assert_int_equal(hs_arp_resolve(wk, d->sw_if_index, PEER_IP, mac, HS_BUF_INVALID), 0);
    assert_memory_equal(mac, smac, 6);
    assert_int_equal(hs_arp_del(t->net, d->sw_if_index, PEER_IP), 0);
    assert_int_equal(hs_arp_del(t->net, d->sw_if_index, PEER_IP), -ENOENT);
    assert_int_equal(hs_arp_n_entries(t->net), 0);
}

static void test_flush_frees_held(void **state)
{
    tn_t *t = *state;
    tn_if_t *d = eth0(t);
    tn_if_t *d2 = tn_if_create(t, "eth1", 1);
    hs_net_worker_t *wk = hs_net_worker(t->net, 0);
    const uint8_t smac[6] = {0x02, 0xcc, 0, 0, 0, 1};
    uint8_t mac[6];
    for (int i = 0; i < 3; i++)
        assert_int_equal(hs_arp_resolve(wk, d->sw_if_index, tn_ip(10, 0, 0, 50 + i), mac,
                                        held_packet(wk, d, tn_ip(10, 0, 0, 50 + i))),
                         -EAGAIN);
    assert_int_equal(hs_arp_add_static(t->net, d->sw_if_index, PEER_IP, smac), 0);
    assert_int_equal(hs_arp_add_static(t->net, d2->sw_if_index, PEER_IP, smac), 0);
    hs_graph_dispatch(&wk->rt);
    assert_int_equal(hs_arp_n_entries(t->net), 5);
    assert_int_equal(hs_arp_n_held(t->net), 3);
    hs_arp_flush_interface(t->net, d->sw_if_index);
    assert_int_equal(hs_arp_n_entries(t->net), 1); /* eth1's static entry stays */
    assert_int_equal(hs_arp_n_held(t->net), 0);
    assert_true(buffers_all_free(t));
    /* Deleting an interface flushes it too; so does setting it down. */
    assert_int_equal(hs_interface_delete(t->net, d2->sw_if_index), 0);
    assert_int_equal(hs_arp_n_entries(t->net), 0);
    assert_int_equal(hs_arp_resolve(wk, d->sw_if_index, PEER_IP, mac, held_packet(wk, d, PEER_IP)),
                     -EAGAIN);
    assert_int_equal(hs_interface_set_admin(t->net, d->sw_if_index, false), 0);
    hs_graph_dispatch(&wk->rt);
    assert_int_equal(hs_arp_n_entries(t->net), 0);
    assert_true(buffers_all_free(t));
}

static void test_show(void **state)
{
    tn_t *t = *state;
    tn_if_t *d = eth0(t);
    hs_net_worker_t *wk = hs_net_worker(t->net, 0);
    hs_str_t s = {0};
    hs_arp_format(t->net, &s);
    assert_string_equal(hs_str_cstr(&s), "no neighbors\n");
    hs_str_reset(&s);
    peer_asks(d, PEER_IP, OUR_IP);
    tn_poll(t);
    const uint8_t smac[6] = {0x02, 0xcc, 0, 0, 0, 1};
    assert_int_equal(hs_arp_add_static(t->net, d->sw_if_index, tn_ip(10, 0, 0, 2), smac), 0);
    uint8_t mac[6];
    assert_int_equal(hs_arp_resolve(wk, d->sw_if_index, tn_ip(10, 0, 0, 3), mac,
                                    held_packet(wk, d, tn_ip(10, 0, 0, 3))),
                     -EAGAIN);
    hs_graph_dispatch(&wk->rt);
    tn_advance(t, 2500 * HS_NS_PER_MS);
    hs_arp_format(t->net, &s);
    const char *txt = hs_str_cstr(&s);
    print_message("%s", txt);
    assert_non_null(strstr(txt, "Interface"));
    assert_non_null(strstr(txt, "State"));
    assert_non_null(
        strstr(txt, "eth0             10.0.0.9        02:aa:00:00:00:09 reachable  2.5s"));
    assert_non_null(strstr(txt, "eth0             10.0.0.2        02:cc:00:00:00:01 static     -"));
    assert_non_null(
        strstr(txt, "eth0             10.0.0.3        -                 incomplete 2.5s"));
    hs_str_free(&s);
}

/* A held packet released on another worker: held by worker 1, the reply arrives on worker
 * 0 (which polls the interface), and worker 0 sends it on. */
static void test_release_on_other_worker(void **state)
{
    tn_t *t = *state;
    tn_if_t *d = eth0(t);
    hs_interface_t *ifc = hs_interface_get(t->net, d->sw_if_index);
    assert_int_equal(ifc->queue_worker[0], 0);
    hs_net_worker_t *w1 = hs_net_worker(t->net, 1);
    uint8_t mac[6];
    uint32_t bi = held_packet(w1, d, PEER_IP);
    hs_buf_ptr(&t->net->bufs, bi)->flags |= HS_BUF_F_TRACED; /* worker 1's numbering */
    assert_int_equal(hs_arp_resolve(w1, d->sw_if_index, PEER_IP, mac, bi), -EAGAIN);
    hs_graph_dispatch(&w1->rt);
    assert_int_equal(d->n_tx, 1);
    peer_replies(d, peer_mac, PEER_IP);
    tn_poll(t);
    assert_int_equal(hs_net_worker(t->net, 0)->rt.nodes[t->net->nodes.ip4_rewrite].vectors, 1);
    assert_int_equal(w1->rt.nodes[t->net->nodes.ip4_rewrite].vectors, 0);
    assert_int_equal(hs_net_worker(t->net, 0)->rt.trace.len, 0); /* not traced there */
    assert_int_equal(d->n_tx, 2);
    assert_memory_equal(d->tx[1], peer_mac, 6);
    assert_true(buffers_all_free(t));
}

/* Two threads, each polling its own worker and interface, resolve and learn at the same
 * time: the shared table stays consistent and nothing leaks. */
#ifdef HS_SANITIZED
#define MT_ROUNDS 5000 /* sanitizers are slower; the interleavings still happen */
#else
#define MT_ROUNDS 50000
#endif
#define MT_IPS 50

typedef struct {
    tn_t *t;
    tn_if_t *d;
    uint32_t w;
    pthread_barrier_t *start;
} mt_arg_t;

static void *mt_thread(void *arg)
{
    mt_arg_t *a = arg;
    hs_net_worker_t *wk = hs_net_worker(a->t->net, a->w);
    uint8_t mac[6], f[60];
    uint64_t now = a->t->now;
    pthread_barrier_wait(a->start); /* both run at once, not one after the other */
    for (uint32_t r = 0; r < MT_ROUNDS; r++) {
        uint32_t ip = tn_ip(10, 0, 0, 100) + r % MT_IPS;
        /* Virtual time inside one retry period: only this worker sends on its interface. */
        wk->now_ns = wk->rt.now_ns = now + r * 10;
        uint32_t bi = held_packet(wk, a->d, ip);
        int rv = hs_arp_resolve(wk, a->d->sw_if_index, ip, mac, bi);
        if (rv != -EAGAIN) /* resolved or refused: the packet is still ours */
            hs_buf_free(&wk->bufs, &bi, 1);
        hs_graph_dispatch(&wk->rt);
        if (r % 3 == 0) { /* answered sometimes: both learn and release race the resolves */
            uint8_t pm[6] = {0x02, 0xaa, 0, 0, (uint8_t)a->w, (uint8_t)ip};
            arp_frame(f, a->d->mac, pm, HS_ARP_OP_REPLY, pm, ip, a->d->mac, OUR_IP);
            uint32_t rb = hs_buf_from_bytes(&wk->bufs, f, 60);
            hs_buf_ptr(&a->t->net->bufs, rb)->sw_if_index[HS_RX] = a->d->sw_if_index;
            hs_graph_enqueue(&wk->rt, a->t->net->nodes.ethernet_input, rb);
            hs_graph_dispatch(&wk->rt);
        }
        if (a->w == 0 && r % 10 == 0)
            hs_arp_housekeep(wk, wk->now_ns);
    }
    return NULL;
}

static void test_two_workers_share_the_table(void **state)
{
    tn_t *t = *state;
    tn_if_t *d[2];
    d[0] = eth0(t);
    d[1] = tn_if_create(t, "eth1", 1);
    assert_int_equal(
        hs_ip4_interface_address(t->net, d[1]->sw_if_index, tn_ip(10, 1, 0, 1), 24, false), 0);
    tn_poll(t);
    /* Each interface's queue went to a different worker. */
    assert_int_equal(hs_interface_get(t->net, d[1]->sw_if_index)->queue_worker[0], 1);
    pthread_t th[2];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    mt_arg_t args[2] = {{t, d[0], 0, &start}, {t, d[1], 1, &start}};
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, mt_thread, &args[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    /* Every IP answered at least once is complete on both interfaces. */
    assert_int_equal(hs_arp_n_entries(t->net), 2 * MT_IPS);
    for (uint32_t i = 0; i < MT_IPS; i++)
        for (int w = 0; w < 2; w++)
            assert_int_equal(lookup(t, d[w], tn_ip(10, 0, 0, 100) + i).state, HS_ARP_REACHABLE);
    assert_int_equal(hs_arp_n_held(t->net), 0);
    assert_true(buffers_all_free(t));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_build_roundtrip),
        cmocka_unit_test_setup_teardown(test_announce, tn_setup, tn_teardown),
        cmocka_unit_test_setup_teardown(test_reply_to_request, tn_setup, tn_teardown),
        cmocka_unit_test_setup_teardown(test_request_not_for_us, tn_setup, tn_teardown),
        cmocka_unit_test_setup_teardown(test_probe_is_answered_not_learned, tn_setup, tn_teardown),
        cmocka_unit_test_setup_teardown(test_bad_packets_counted, tn_setup, tn_teardown),
        cmocka_unit_test_setup_teardown(test_conflict, tn_setup, tn_teardown),
        cmocka_unit_test_setup_teardown(test_gratuitous_and_unsolicited, tn_setup, tn_teardown),
        cmocka_unit_test_setup_teardown(test_resolve_holds_and_releases, tn_setup, tn_teardown),
        cmocka_unit_test_setup_teardown(test_global_hold_bound, tn_setup, tn_teardown),
        cmocka_unit_test_setup_teardown(test_incomplete_retries_then_fails, tn_setup, tn_teardown),
        cmocka_unit_test_setup_teardown(test_aging_stale_probe, tn_setup, tn_teardown),
        cmocka_unit_test_setup_teardown(test_unused_stale_is_collected, tn_setup, tn_teardown),
        cmocka_unit_test_setup_teardown(test_static_entries, tn_setup, tn_teardown),
        cmocka_unit_test_setup_teardown(test_flush_frees_held, tn_setup, tn_teardown),
        cmocka_unit_test_setup_teardown(test_show, tn_setup, tn_teardown),
        cmocka_unit_test_setup_teardown(test_release_on_other_worker, tn_setup2, tn_teardown),
        cmocka_unit_test_setup_teardown(test_two_workers_share_the_table, tn_setup2, tn_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
