/* The IPv4 path through a real hs_net_t on a virtual clock, with a fake device defined
 * here (frames in from a list, frames out captured): ping answered, 8000-byte fragmented
 * ping reassembled and answered in fragments, ICMP errors (port/protocol unreachable,
 * fragmentation needed, reassembly time exceeded) with their rules and rate limit,
 * transports found by node name, ARP resolution on the way out, malformed input counted by
 * reason, traces, and every buffer returned. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "net/arp.h"
#include "net/checksum.h"
#include "net/ethernet.h"
#include "net/fib.h"
#include "net/interface.h"
#include "net/ip4.h"
#include "net/ip4_internal.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define US             IP(10, 0, 0, 2)
#define PEER           IP(10, 0, 0, 1)
#define N_BUFFERS      4096
#define MAX_FRAMES     1024

static const uint8_t our_mac[6] = {0x02, 0xfe, 0, 0, 0, 0x01};
static const uint8_t peer_mac[6] = {0x02, 0xaa, 0, 0, 0, 0x01};

/* ---- the fake device ---- */

typedef struct {
    uint8_t *frame[MAX_FRAMES];
    uint32_t len[MAX_FRAMES];
    uint32_t n, head;
} frames_t;

typedef struct {
    frames_t rx, tx;
} fake_dev_t;

static void frames_push(frames_t *q, const uint8_t *p, uint32_t len)
{
    assert_true(q->n < MAX_FRAMES);
    q->frame[q->n] = malloc(len);
    memcpy(q->frame[q->n], p, len);
    q->len[q->n++] = len;
}

static void frames_clear(frames_t *q)
{
    for (uint32_t i = 0; i < q->n; i++)
        free(q->frame[i]);
    q->n = q->head = 0;
}

static uint32_t fake_rx(hs_net_worker_t *wk, hs_interface_t *ifc, uint32_t q, uint32_t *bis,
                        uint32_t max)
{
    fake_dev_t *d = ifc->dev;
    uint32_t n = 0;
    (void)q;
    while (n < max && d->rx.head < d->rx.n) {
        uint32_t i = d->rx.head++;
        uint32_t bi = hs_buf_from_bytes(&wk->bufs, d->rx.frame[i], d->rx.len[i]);
        assert_int_not_equal(bi, HS_BUF_INVALID);
        hs_buf_ptr(wk->bufs.pool, bi)->sw_if_index[HS_RX] = ifc->sw_if_index;
        bis[n++] = bi;
    }
    if (d->rx.head == d->rx.n)
        frames_clear(&d->rx);
    return n;
}

static uint32_t fake_tx(hs_net_worker_t *wk, hs_interface_t *ifc, const uint32_t *bis, uint32_t n)
{
    fake_dev_t *d = ifc->dev;
    static uint8_t buf[70000];
    for (uint32_t i = 0; i < n; i++) {
        hs_buf_t *b = hs_buf_ptr(wk->bufs.pool, bis[i]);
        uint32_t len = hs_buf_copy_out(wk->bufs.pool, b, buf, sizeof(buf));
        frames_push(&d->tx, buf, len);
    }
    hs_buf_free(&wk->bufs, bis, n);
    return n;
}

static const hs_device_class_t fake_class = {
    .name = "fake",
    .input_node_name = "fake-input",
    .rx = fake_rx,
    .tx = fake_tx,
};

static uint32_t fake_input_fn(hs_graph_rt_t *rt, hs_node_rt_t *node, const uint32_t *bis,
                              uint32_t n)
{
    (void)bis, (void)n;
    return hs_device_input(rt, node, &fake_class);
}

static const char *const fake_input_next[] = {"ethernet-input"};
static const hs_node_reg_t fake_input_node = {
    .name = "fake-input",
    .fn = fake_input_fn,
    .type = HS_NODE_INPUT,
    .n_next = 1,
    .next_nodes = fake_input_next,
    .format_trace = hs_device_format_trace,
};

/* A stand-in UDP transport: takes what ip4-local hands it and counts it. */
static const char *const udp_errors[] = {"datagrams received"};
static uint32_t fake_udp_fn(hs_graph_rt_t *rt, hs_node_rt_t *node, const uint32_t *bis, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        hs_buf_t *b = hs_rt_buf(rt, bis[i]);
        /* The contract: current position at the IP header, l4_offset at the UDP header. */
        assert_int_equal(b->l3_offset, b->current_data);
        assert_int_equal(b->l4_offset, b->current_data + 20);
        hs_node_drop(rt, node, bis[i], 0);
    }
    return n;
}
static const hs_node_reg_t fake_udp_node = {
    .name = "udp4-input", .fn = fake_udp_fn, .n_errors = 1, .errors = udp_errors};

static int register_nodes(hs_net_t *net, void *ctx)
{
    int rv = hs_graph_add_node(&net->graph, &fake_input_node);
    if (rv >= 0 && ctx)
        rv = hs_graph_add_node(&net->graph, &fake_udp_node);
    return rv < 0 ? rv : 0;
}

/* ---- fixture ---- */

typedef struct {
    hs_clock_t clock;
    hs_net_t *net;
    uint64_t now;
    fake_dev_t dev;
    uint32_t sw;
} fx_t;

static void poll(fx_t *f)
{
    hs_net_worker_poll(hs_net_worker(f->net, 0), f->now);
}

static void advance(fx_t *f, uint64_t ns)
{
    uint64_t end = f->now + ns;
    while (f->now < end) {
        f->now = HS_MIN(end, f->now + HS_NET_HOUSEKEEP_NS);
        hs_clock_set(&f->clock, f->now);
        poll(f);
    }
}

static int setup_with(void **state, bool with_udp)
{
    fx_t *f = calloc(1, sizeof(*f));
    f->now = 10 * HS_NS_PER_S;
    hs_clock_init_virtual(&f->clock, f->now);
    hs_net_config_t cfg = {.n_workers = 1,
                           .n_buffers = N_BUFFERS,
                           .clock = &f->clock,
                           .register_nodes = register_nodes,
                           .register_ctx = with_udp ? f : NULL};
    if (hs_net_create(&f->net, &cfg) < 0 ||
        hs_interface_create(f->net, "eth0", &fake_class, &f->dev, our_mac, 1, NULL, &f->sw) < 0 ||
        hs_interface_set_admin(f->net, f->sw, true) < 0 ||
        hs_ip4_interface_address(f->net, f->sw, US, 24, false) < 0 ||
        hs_arp_add_static(f->net, f->sw, PEER, peer_mac) < 0)
        return -1;
    poll(f); /* the gratuitous ARP goes out */
    frames_clear(&f->dev.tx);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, false);
}

static int setup_udp(void **state)
{
    return setup_with(state, true);
}

static int teardown(void **state)
{
    fx_t *f = *state;
    hs_net_worker_t *wk = hs_net_worker(f->net, 0);
    /* Nothing leaked: every buffer is free unless reassembly or ARP legitimately holds it. */
    if (hs_ip4_reass_count(&wk->ip4->reass) == 0 && hs_arp_n_held(f->net) == 0)
        assert_int_equal(hs_buf_pool_n_free(&f->net->bufs) + wk->bufs.n, N_BUFFERS);
    hs_net_destroy(f->net);
    frames_clear(&f->dev.rx);
    frames_clear(&f->dev.tx);
    free(f);
    return 0;
}

/* ---- frames ---- */

/* Writes Ethernet + IPv4 header + l4 into p; returns the frame length (padded to 60). */
static uint32_t ip_frame(uint8_t *p, uint32_t src, uint32_t dst, uint8_t proto, const uint8_t *l4,
                         uint32_t l4_len, uint16_t frag, uint8_t ttl)
{
    hs_eth_write(p, our_mac, peer_mac, HS_ETHERTYPE_IP4);
    hs_ip4_header_t *h = (hs_ip4_header_t *)(p + 14);
    hs_ip4_header_build(h, src, dst, proto, (uint16_t)(20 + l4_len), 0x4242, 0, ttl);
    h->frag = htons(frag);
    hs_ip4_header_set_csum(h);
    memcpy(p + 34, l4, l4_len);
    uint32_t len = 34 + l4_len;
    if (len < HS_ETH_MIN_LEN) {
        memset(p + len, 0, HS_ETH_MIN_LEN - len);
        len = HS_ETH_MIN_LEN;
    }
    return len;
}

/* An ICMP echo request of payload_len bytes in m; returns its length. */
static uint32_t echo_request(uint8_t *m, uint16_t id, uint16_t seq, uint32_t payload_len)
{
    m[0] = HS_ICMP_ECHO_REQUEST, m[1] = 0, m[2] = m[3] = 0;
    m[4] = (uint8_t)(id >> 8), m[5] = (uint8_t)id, m[6] = (uint8_t)(seq >> 8), m[7] = (uint8_t)seq;
    for (uint32_t i = 0; i < payload_len; i++)
        m[8 + i] = (uint8_t)(i * 13 + 1);
    uint16_t c = hs_csum(m, 8 + payload_len);
    memcpy(m + 2, &c, 2);
    return 8 + payload_len;
}

static void rx(fx_t *f, const uint8_t *p, uint32_t len)
{
    frames_push(&f->dev.rx, p, len);
}

/* The i-th frame sent that is IPv4 (ARP frames skipped); asserts the Ethernet header. */
static const uint8_t *tx_ip(fx_t *f, uint32_t i, uint32_t *len)
{
    for (uint32_t k = 0; k < f->dev.tx.n; k++) {
        const uint8_t *p = f->dev.tx.frame[k];
        if (p[12] != 0x08 || p[13] != 0x00)
            continue;
        if (i-- == 0) {
            assert_memory_equal(p, peer_mac, 6);
            assert_memory_equal(p + 6, our_mac, 6);
            *len = f->dev.tx.len[k];
            return p;
        }
    }
    return NULL;
}

static uint32_t n_tx_ip(fx_t *f)
{
    uint32_t n = 0, len;
    while (tx_ip(f, n, &len))
        n++;
    return n;
}

static int64_t err(fx_t *f, const char *node, const char *reason)
{
    int ni = hs_graph_node_index(&f->net->graph, node);
    assert_true(ni >= 0);
    const hs_node_reg_t *reg = hs_graph_node(&f->net->graph, (uint32_t)ni)->reg;
    for (uint16_t e = 0; e < reg->n_errors; e++)
        if (strcmp(reg->errors[e], reason) == 0)
            return (int64_t)hs_net_worker(f->net, 0)->rt.nodes[ni].errors[e];
    fail_msg("node %s has no reason '%s'", node, reason);
    return -1;
}

/* Checks an IPv4 datagram from us to PEER at p and returns it parsed. */
static hs_ip4_parsed_t check_ip(const uint8_t *p, uint32_t len, uint8_t proto)
{
    hs_ip4_parsed_t ip;
    assert_int_equal(hs_ip4_parse(p, len, len, &ip), HS_IP4_E_NONE);
    assert_int_equal(ip.src, US);
    assert_int_equal(ip.dst, PEER);
    assert_int_equal(ip.proto, proto);
    assert_int_equal(ip.ttl, 64);
    return ip;
}

/* ---- tests ---- */

static void test_echo_reply(void **state)
{
    fx_t *f = *state;
    uint8_t m[100], frame[200];
    const uint32_t sizes[] = {56, 0}; /* the second frame is padded: 42 -> 60 bytes */
    for (int k = 0; k < 2; k++) {
        uint32_t ml = echo_request(m, 0x1234, (uint16_t)(k + 1), sizes[k]);
        rx(f, frame, ip_frame(frame, PEER, US, HS_IP_PROTO_ICMP, m, ml, 0, 57));
        poll(f);
        uint32_t len;
        const uint8_t *p = tx_ip(f, (uint32_t)k, &len);
        assert_non_null(p);
        assert_int_equal(len, HS_MAX(14 + 20 + ml, 14u + 20 + 8));
        hs_ip4_parsed_t ip = check_ip(p + 14, len - 14, HS_IP_PROTO_ICMP);
        assert_int_equal(ip.total_len, 20 + ml);
        assert_false(ip.df || ip.mf);
        const uint8_t *ic = p + 34;
        assert_int_equal(ic[0], HS_ICMP_ECHO_REPLY);
        assert_int_equal(ic[1], 0);
        assert_int_equal(hs_csum(ic, ml), 0);
        assert_memory_equal(ic + 4, m + 4, ml - 4); /* id, seq and data echoed */
    }
    assert_int_equal(err(f, "icmp4-input", "echo requests answered"), 2);
}

static void test_echo_with_options(void **state)
{
    fx_t *f = *state;
    uint8_t m[64], frame[200];
    uint32_t ml = echo_request(m, 7, 7, 32);
    /* 8 bytes of options (NOPs and end of list): the reply carries none. */
    hs_eth_write(frame, our_mac, peer_mac, HS_ETHERTYPE_IP4);
    hs_ip4_header_t *h = (hs_ip4_header_t *)(frame + 14);
    hs_ip4_header_build(h, PEER, US, HS_IP_PROTO_ICMP, (uint16_t)(28 + ml), 9, 0, 64);
    h->ver_ihl = 0x47;
    memcpy(frame + 34, (const uint8_t[8]){1, 1, 1, 1, 1, 1, 1, 0}, 8);
    hs_ip4_header_set_csum(h);
    memcpy(frame + 42, m, ml);
    rx(f, frame, 42 + ml);
    poll(f);
    uint32_t len;
    const uint8_t *p = tx_ip(f, 0, &len);
    assert_non_null(p);
    hs_ip4_parsed_t ip = check_ip(p + 14, len - 14, HS_IP_PROTO_ICMP);
    assert_int_equal(ip.hdr_len, 20);
    assert_int_equal(p[34], HS_ICMP_ECHO_REPLY);
    assert_memory_equal(p + 38, m + 4, ml - 4);
}

/* Fragments datagram d (IP header at d, total bytes) at 1500 bytes into frames, last first. */
static void rx_fragments_reversed(fx_t *f, const uint8_t *d, uint32_t total)
{
    uint32_t payload = total - 20, n = (payload + 1479) / 1480;
    for (uint32_t i = n; i-- > 0;) {
        uint32_t off = i * 1480, len = HS_MIN(1480, payload - off);
        uint8_t frame[1514];
        ip_frame(frame, PEER, US, d[9], d + 20 + off, len,
                 (uint16_t)(off / 8 | (i + 1 < n ? HS_IP4_F_MF : 0)), 64);
        rx(f, frame, 14 + 20 + len);
    }
}

/* Collects the IPv4 fragments sent (from index first on) into one datagram payload. */
static uint32_t collect_fragments(fx_t *f, uint32_t first, uint8_t *out, uint32_t *n_frags)
{
    uint32_t len, total = 0, i = first;
    const uint8_t *p;
    bool last_seen = false;
    for (; (p = tx_ip(f, i, &len)) != NULL; i++) {
        hs_ip4_parsed_t ip = check_ip(p + 14, len - 14, HS_IP_PROTO_ICMP);
        assert_true(ip.total_len <= 1500);
        uint32_t pl = ip.total_len - ip.hdr_len;
        memcpy(out + ip.frag_off, p + 14 + ip.hdr_len, pl);
        total += pl;
        last_seen |= !ip.mf;
        if (!ip.mf)
            assert_int_equal(total, ip.frag_off + pl);
    }
    assert_true(last_seen);
    *n_frags = i - first;
    return total;
}

static void test_fragmented_ping_8000(void **state)
{
    fx_t *f = *state;
    static uint8_t d[8000], reply[8000];
    uint32_t ml = echo_request(d + 20, 0xbeef, 1, 8000 - 28);
    hs_ip4_header_build((hs_ip4_header_t *)d, PEER, US, HS_IP_PROTO_ICMP, 8000, 77, 0, 64);
    for (int k = 0; k < 3; k++) { /* three pings, to see nothing is left behind */
        frames_clear(&f->dev.tx);
        rx_fragments_reversed(f, d, 8000);
        poll(f);
        uint32_t n_frags;
        uint32_t got = collect_fragments(f, 0, reply, &n_frags);
        assert_int_equal(got, ml);
        assert_int_equal(n_frags, 6); /* 7980 bytes at 1480 a fragment */
        assert_int_equal(reply[0], HS_ICMP_ECHO_REPLY);
        assert_int_equal(hs_csum(reply, ml), 0);
        assert_memory_equal(reply + 4, d + 24, ml - 4);
    }
    assert_int_equal(err(f, "ip4-local", "datagrams reassembled"), 3);
    assert_int_equal(err(f, "ip4-frag", "datagrams fragmented"), 3);
    assert_int_equal(hs_ip4_reass_count(&hs_net_worker(f->net, 0)->ip4->reass), 0);
    hs_str_t s = {0};
    hs_ip4_format(f->net, &s);
    assert_non_null(strstr(hs_str_cstr(&s), "reassembly: 3 ok"));
    assert_non_null(strstr(hs_str_cstr(&s), "fragmentation: 18 fragments made"));
    hs_str_free(&s);
}

/* The ICMP error at tx index i: type/code, the rest-of-header word, and the quote equal
 * to the start of the datagram dg (dg_len bytes). */
static void check_error(fx_t *f, uint32_t i, uint8_t type, uint8_t code, uint32_t rest,
                        const uint8_t *dg, uint32_t dg_len)
{
    uint32_t len;
    const uint8_t *p = tx_ip(f, i, &len);
    assert_non_null(p);
    hs_ip4_parsed_t ip = check_ip(p + 14, len - 14, HS_IP_PROTO_ICMP);
    uint32_t quote = HS_MIN(dg_len, 576u - 28);
    assert_int_equal(ip.total_len, 28 + quote);
    const uint8_t *ic = p + 34;
    assert_int_equal(ic[0], type);
    assert_int_equal(ic[1], code);
    assert_int_equal(hs_csum(ic, 8 + quote), 0);
    uint32_t r;
    memcpy(&r, ic + 4, 4);
    assert_int_equal(ntohl(r), rest);
    assert_memory_equal(ic + 8, dg, quote);
}

static void test_unreachables(void **state)
{
    fx_t *f = *state;
    uint8_t frame[1514], l4[1000];
    for (uint32_t i = 0; i < sizeof(l4); i++)
        l4[i] = (uint8_t)i;
    /* UDP to a port nobody listens on (no UDP at all yet): port unreachable, quoting as
     * much of the datagram as fits in 576 bytes. */
    rx(f, frame, ip_frame(frame, PEER, US, HS_IP_PROTO_UDP, l4, 1000, 0, 64));
    /* A small one: quoted whole. */
    rx(f, frame + 1100, ip_frame(frame + 1100, PEER, US, HS_IP_PROTO_UDP, l4, 12, 0, 64));
    poll(f);
    check_error(f, 0, HS_ICMP_DEST_UNREACH, HS_ICMP_UNREACH_PORT, 0, frame + 14, 1020);
    check_error(f, 1, HS_ICMP_DEST_UNREACH, HS_ICMP_UNREACH_PORT, 0, frame + 1114, 32);
    assert_int_equal(err(f, "ip4-local", "no UDP listener (port unreachable)"), 2);
    /* An unknown protocol: protocol unreachable. */
    rx(f, frame, ip_frame(frame, PEER, US, 99, l4, 20, 0, 64));
    poll(f);
    check_error(f, 2, HS_ICMP_DEST_UNREACH, HS_ICMP_UNREACH_PROTO, 0, frame + 14, 40);
    /* TCP without a transport: dropped, no answer. */
    rx(f, frame, ip_frame(frame, PEER, US, HS_IP_PROTO_TCP, l4, 20, 0, 64));
    poll(f);
    assert_int_equal(n_tx_ip(f), 3);
    assert_int_equal(err(f, "ip4-local", "no transport (TCP not enabled)"), 1);
    hs_str_t s = {0};
    hs_ip4_format(f->net, &s);
    assert_non_null(strstr(hs_str_cstr(&s), "icmp errors: 3 sent, 0 rate-limited"));
    hs_str_free(&s);
}

static void test_udp_to_registered_transport(void **state)
{
    fx_t *f = *state;
    uint8_t frame[200], l4[20] = {0};
    rx(f, frame, ip_frame(frame, PEER, US, HS_IP_PROTO_UDP, l4, 20, 0, 64));
    poll(f);
    assert_int_equal(n_tx_ip(f), 0);
    assert_int_equal(err(f, "udp4-input", "datagrams received"), 1);
    assert_int_equal(err(f, "ip4-local", "no UDP listener (port unreachable)"), 0);
}

static void test_errors_not_sent(void **state)
{
    fx_t *f = *state;
    uint8_t frame[200], l4[20] = {0}, m[64];
    /* RFC 1122 3.2.2: no error about a broadcast, a non-initial fragment, or an ICMP error. */
    rx(f, frame, ip_frame(frame, PEER, IP(10, 0, 0, 255), HS_IP_PROTO_UDP, l4, 20, 0, 64));
    rx(f, frame, ip_frame(frame, PEER, 0xffffffffu, HS_IP_PROTO_UDP, l4, 20, 0, 64));
    l4[0] = HS_ICMP_DEST_UNREACH;
    rx(f, frame, ip_frame(frame, PEER, 0xffffffffu, 99, l4, 20, 0, 64));
    /* An echo to the subnet broadcast is ignored, as Linux does by default. */
    uint32_t ml = echo_request(m, 1, 1, 8);
    rx(f, frame, ip_frame(frame, PEER, IP(10, 0, 0, 255), HS_IP_PROTO_ICMP, m, ml, 0, 64));
    poll(f);
    assert_int_equal(n_tx_ip(f), 0);
    assert_int_equal(err(f, "icmp4-input", "echo request to a broadcast address ignored"), 1);
    hs_str_t s = {0};
    hs_ip4_format(f->net, &s);
    assert_non_null(strstr(hs_str_cstr(&s), "icmp errors: 0 sent, 0 rate-limited, 3 not allowed"));
    hs_str_free(&s);
}

static void test_rate_limit(void **state)
{
    fx_t *f = *state;
    uint8_t frame[200], l4[8] = {0};
    for (int i = 0; i < 200; i++) /* within one vector: one poll takes them all */
        rx(f, frame, ip_frame(frame, PEER, US, HS_IP_PROTO_UDP, l4, 8, 0, 64));
    poll(f);
    assert_int_equal(n_tx_ip(f), HS_ICMP4_ERR_BURST);
    /* 50 ms later, 50 more tokens. */
    f->now += 50 * HS_NS_PER_MS;
    for (int i = 0; i < 200; i++)
        rx(f, frame, ip_frame(frame, PEER, US, HS_IP_PROTO_UDP, l4, 8, 0, 64));
    poll(f);
    assert_int_equal(n_tx_ip(f), HS_ICMP4_ERR_BURST + 50);
    hs_str_t s = {0};
    hs_ip4_format(f->net, &s);
    assert_non_null(strstr(hs_str_cstr(&s), "icmp errors: 150 sent, 250 rate-limited"));
    hs_str_free(&s);
}

static void test_malformed_counted(void **state)
{
    fx_t *f = *state;
    uint8_t frame[200], m[64];
    uint32_t ml = echo_request(m, 1, 1, 16);
    uint32_t good = ip_frame(frame, PEER, US, HS_IP_PROTO_ICMP, m, ml, 0, 64);
    struct {
        uint32_t at; /* byte of the IP header to change (UINT32_MAX: truncate) */
        uint8_t value;
        bool fix_csum;
        const char *reason;
    } cases[] = {
        {UINT32_MAX, 10, false, "too short for an IPv4 header"},
        {0, 0x65, true, "IP version not 4"},
        {0, 0x44, true, "bad header length (IHL)"},
        {3, 200, true, "bad total length"},
        {3, 10, true, "bad total length"},
        {10, 0xff, false, "bad header checksum"}, /* xor: the checksum is wrong */
        {8, 0, true, "TTL 0"},
        {12, 224, true, "martian source (multicast, broadcast or loopback)"},
        {12, 127, true, "martian source (multicast, broadcast or loopback)"},
        {19, 99, true, "not for us (we do not forward)"},
        {16, 224, true, "not for us (we do not forward)"},
    };
    for (size_t i = 0; i < HS_ARRAY_LEN(cases); i++) {
        uint8_t bad[200];
        memcpy(bad, frame, good);
        uint32_t len = good;
        if (cases[i].at == UINT32_MAX) {
            len = 14 + cases[i].value;
        } else {
            if (cases[i].fix_csum) {
                bad[14 + cases[i].at] = cases[i].value;
                hs_ip4_header_set_csum((hs_ip4_header_t *)(bad + 14));
            } else {
                bad[14 + cases[i].at] ^= cases[i].value;
            }
        }
        int64_t before = err(f, "ip4-input", cases[i].reason);
        rx(f, bad, len);
        poll(f);
        assert_int_equal(err(f, "ip4-input", cases[i].reason), before + 1);
    }
    /* A fragment of 13 bytes with more to come (not a multiple of 8). */
    uint8_t l4[64] = {0};
    rx(f, frame, ip_frame(frame, PEER, US, HS_IP_PROTO_UDP, l4, 13, HS_IP4_F_MF, 64));
    poll(f);
    assert_int_equal(err(f, "ip4-input", "bad fragment (empty, misaligned or beyond 64 KiB)"), 1);
    /* Overlapping fragments: the datagram is dropped and counted. */
    rx(f, frame, ip_frame(frame, PEER, US, HS_IP_PROTO_UDP, l4, 16, HS_IP4_F_MF, 64));
    rx(f, frame, ip_frame(frame, PEER, US, HS_IP_PROTO_UDP, l4, 24, HS_IP4_F_MF | 1, 64));
    poll(f);
    assert_int_equal(err(f, "ip4-local", "overlapping fragment (datagram dropped)"), 1);
    assert_int_equal(n_tx_ip(f), 0);
    /* Nothing went wrong with a good one after all that. */
    rx(f, frame, ip_frame(frame, PEER, US, HS_IP_PROTO_ICMP, m, ml, 0, 64));
    poll(f);
    assert_int_equal(n_tx_ip(f), 1);
}

static void test_reassembly_timeout(void **state)
{
    fx_t *f = *state;
    uint8_t frame[200], l4[64];
    for (uint32_t i = 0; i < sizeof(l4); i++)
        l4[i] = (uint8_t)(i + 3);
    uint32_t len = ip_frame(frame, PEER, US, HS_IP_PROTO_UDP, l4, 48, HS_IP4_F_MF, 64);
    rx(f, frame, len);
    /* A datagram of which only a later fragment came: dropped silently. */
    uint8_t other[200];
    uint32_t olen = ip_frame(other, PEER, US, HS_IP_PROTO_UDP, l4, 8, HS_IP4_F_MF | 6, 64);
    ((hs_ip4_header_t *)(other + 14))->id = htons(5);
    hs_ip4_header_set_csum((hs_ip4_header_t *)(other + 14));
    rx(f, other, olen);
    poll(f);
    assert_int_equal(hs_ip4_reass_count(&hs_net_worker(f->net, 0)->ip4->reass), 2);
    advance(f, 2900 * HS_NS_PER_MS);
    assert_int_equal(n_tx_ip(f), 0);
    advance(f, 200 * HS_NS_PER_MS);
    /* RFC 792: time exceeded, code 1, about the first fragment. */
    check_error(f, 0, HS_ICMP_TIME_EXCEEDED, HS_ICMP_TIMXCEED_REASS, 0, frame + 14, 68);
    assert_int_equal(n_tx_ip(f), 1);
    assert_int_equal(hs_ip4_reass_count(&hs_net_worker(f->net, 0)->ip4->reass), 0);
}

static void test_arp_resolution(void **state)
{
    fx_t *f = *state;
    const uint32_t other = IP(10, 0, 0, 9);
    const uint8_t other_mac[6] = {0x02, 0xbb, 0, 0, 0, 9};
    uint8_t frame[200], m[64];
    uint32_t ml = echo_request(m, 3, 3, 20);
    uint32_t len = ip_frame(frame, other, US, HS_IP_PROTO_ICMP, m, ml, 0, 64);
    memcpy(frame + 6, other_mac, 6);
    rx(f, frame, len);
    poll(f);
    /* The reply waits for ARP: a request for 10.0.0.9 went out instead. */
    assert_int_equal(n_tx_ip(f), 0);
    assert_int_equal(f->dev.tx.n, 1);
    hs_arp_pkt_t req;
    assert_int_equal(hs_arp_parse(f->dev.tx.frame[0] + 14, f->dev.tx.len[0] - 14, &req), 0);
    assert_int_equal(req.op, HS_ARP_OP_REQUEST);
    assert_int_equal(req.tpa, other);
    assert_int_equal(req.spa, US);
    assert_int_equal(err(f, "ip4-rewrite", "held while ARP resolves"), 1);
    /* The answer releases the held reply to the right MAC. */
    hs_arp_pkt_t rep = {.op = HS_ARP_OP_REPLY, .spa = other, .tpa = US};
    memcpy(rep.sha, other_mac, 6);
    memcpy(rep.tha, our_mac, 6);
    hs_eth_write(frame, our_mac, other_mac, HS_ETHERTYPE_ARP);
    hs_arp_build(frame + 14, &rep);
    memset(frame + 42, 0, 18);
    rx(f, frame, 60);
    poll(f);
    const uint8_t *p = NULL;
    for (uint32_t k = 0; k < f->dev.tx.n; k++)
        if (f->dev.tx.frame[k][12] == 0x08 && f->dev.tx.frame[k][13] == 0)
            p = f->dev.tx.frame[k];
    assert_non_null(p);
    assert_memory_equal(p, other_mac, 6);
    assert_int_equal(p[34], HS_ICMP_ECHO_REPLY);
    uint32_t dst;
    memcpy(&dst, p + 30, 4);
    assert_int_equal(ntohl(dst), other);
}

/* A datagram someone else made (not locally made, DF set) that would leave by a link with a
 * smaller MTU gets fragmentation needed with that MTU (RFC 1191); our own is dropped. */
static void test_fragmentation_needed(void **state)
{
    fx_t *f = *state;
    hs_net_worker_t *wk = hs_net_worker(f->net, 0);
    assert_int_equal(hs_interface_set_mtu(f->net, f->sw, 576), 0);
    static uint8_t d[1000];
    for (int own = 0; own < 2; own++) {
        hs_ip4_header_build((hs_ip4_header_t *)d, US, PEER, HS_IP_PROTO_UDP, 1000, 1, 0, 64);
        ((hs_ip4_header_t *)d)->frag = htons(HS_IP4_F_DF);
        ((hs_ip4_header_t *)d)->src = htonl(PEER); /* as if it came from the peer... */
        ((hs_ip4_header_t *)d)->dst = htonl(PEER); /* ...and went back out */
        hs_ip4_header_set_csum((hs_ip4_header_t *)d);
        uint32_t bi = hs_buf_from_bytes(&wk->bufs, d, 1000);
        hs_buf_t *b = hs_buf_ptr(&f->net->bufs, bi);
        b->sw_if_index[HS_RX] = f->sw;
        b->flags |= own ? HS_BUF_F_LOCALLY_MADE : 0;
        *hs_ip4_meta(b) = (hs_ip4_buf_meta_t){.fib_index = 0};
        hs_graph_enqueue(&wk->rt, f->net->nodes.ip4_lookup, bi);
        hs_graph_dispatch(&wk->rt);
    }
    check_error(f, 0, HS_ICMP_DEST_UNREACH, HS_ICMP_UNREACH_NEEDFRAG, 576, d, 1000);
    assert_int_equal(n_tx_ip(f), 1);
    assert_int_equal(err(f, "ip4-frag", "DF set on our own datagram over the MTU"), 1);
    assert_int_equal(err(f, "ip4-frag", "DF set, too big: ICMP fragmentation needed"), 1);
}

static void test_routes_and_show(void **state)
{
    fx_t *f = *state;
    hs_net_worker_t *wk = hs_net_worker(f->net, 0);
    /* A datagram to a destination with no route is dropped by ip4-lookup. */
    static uint8_t d[100];
    hs_ip4_header_build((hs_ip4_header_t *)d, US, IP(8, 8, 8, 8), HS_IP_PROTO_UDP, 100, 1, 0, 64);
    uint32_t bi = hs_buf_from_bytes(&wk->bufs, d, 100);
    hs_graph_enqueue(&wk->rt, f->net->nodes.ip4_lookup, bi);
    hs_graph_dispatch(&wk->rt);
    assert_int_equal(err(f, "ip4-lookup", "no route"), 1);
    /* Through a default route via the peer, without naming the interface. */
    hs_fib_route_t r = {
        .prefix = 0, .len = 0, .type = HS_FIB_VIA, .sw_if_index = UINT32_MAX, .next_hop = PEER};
    assert_int_equal(hs_fib_add(f->net, 0, &r), 0);
    bi = hs_buf_from_bytes(&wk->bufs, d, 100);
    hs_graph_enqueue(&wk->rt, f->net->nodes.ip4_lookup, bi);
    hs_graph_dispatch(&wk->rt);
    uint32_t len;
    const uint8_t *p = tx_ip(f, 0, &len); /* to the peer's MAC */
    assert_non_null(p);
    assert_memory_equal(p + 14, d, 100);
    hs_str_t s = {0};
    hs_fib_format(f->net, &s);
    const char *t = hs_str_cstr(&s);
    assert_non_null(strstr(t, "ipv4 table 0 (fib_index 0), 4 routes"));
    assert_non_null(strstr(t, "0.0.0.0/0           via 10.0.0.1\n"));
    assert_non_null(strstr(t, "10.0.0.0/24         connected eth0\n"));
    assert_non_null(strstr(t, "10.0.0.2/32         local eth0\n"));
    assert_non_null(strstr(t, "10.0.0.255/32       broadcast eth0\n"));
    hs_str_free(&s);
}

static void test_trace(void **state)
{
    fx_t *f = *state;
    hs_net_worker_t *wk = hs_net_worker(f->net, 0);
    int ni = hs_graph_node_index(&f->net->graph, "fake-input");
    wk->rt.nodes[ni].trace_budget = 1;
    uint8_t m[64], frame[200];
    uint32_t ml = echo_request(m, 0x77, 9, 8);
    rx(f, frame, ip_frame(frame, PEER, US, HS_IP_PROTO_ICMP, m, ml, 0, 64));
    poll(f);
    hs_str_t s = {0};
    hs_trace_format(&wk->rt, &s);
    const char *t = hs_str_cstr(&s);
    assert_non_null(strstr(t, "ip4-input            IPv4 10.0.0.1 -> 10.0.0.2 proto 1 len 36"));
    assert_non_null(strstr(t, "ip4-local            proto 1 len 36"));
    assert_non_null(strstr(t, "icmp4-input          ICMP 10.0.0.1 -> 10.0.0.2 type 8 code 0 id "
                              "119 seq 9"));
    assert_non_null(strstr(t, "ip4-lookup           fib 0 10.0.0.1 -> connected via 10.0.0.1"));
    assert_non_null(strstr(t, "ip4-rewrite          if 0 next hop 10.0.0.1: "
                              "02:fe:00:00:00:01 -> 02:aa:00:00:00:01 len 50"));
    hs_str_free(&s);
}

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Mutated pings, UDP datagrams and fragments, many with a fixed-up checksum so they get
 * past the door: nothing crashes, the reassembly and ARP bounds hold, and once the timers
 * ran out every buffer is back (checked by the teardown). */
static void test_random_frames(void **state)
{
    fx_t *f = *state;
    uint64_t seed = 2024;
    static uint8_t d[3000];
    uint32_t ml = echo_request(d + 20, 5, 5, 3000 - 28);
    hs_ip4_header_build((hs_ip4_header_t *)d, PEER, US, HS_IP_PROTO_ICMP, 3000, 1, 0, 64);
    const int rounds = 500; /* 100000 frames: under a second with ASan */
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < 200; k++) {
            uint8_t frame[1600];
            uint32_t len, kind = (uint32_t)(rnd(&seed) % 4);
            if (kind == 0) { /* a fragment of the big ping */
                uint32_t off = (uint32_t)(rnd(&seed) % 3) * 1480, n = HS_MIN(1480, ml - off);
                len = ip_frame(frame, PEER, US, HS_IP_PROTO_ICMP, d + 20 + off, n,
                               (uint16_t)(off / 8 | (off + n < ml ? HS_IP4_F_MF : 0)), 64);
            } else {
                uint8_t l4[64];
                for (int i = 0; i < 64; i++)
                    l4[i] = (uint8_t)rnd(&seed);
                uint32_t l4len = (uint32_t)(rnd(&seed) % 64);
                if (kind == 1)
                    l4len = echo_request(l4, 1, 1, l4len % 40);
                len = ip_frame(frame, PEER, US, kind == 1 ? HS_IP_PROTO_ICMP : (uint8_t)rnd(&seed),
                               l4, l4len, 0, 64);
            }
            uint32_t n_mut = (uint32_t)(rnd(&seed) % 4);
            for (uint32_t m = 0; m < n_mut; m++) /* mostly in the IP header */
                frame[14 + rnd(&seed) % (rnd(&seed) % 2 ? 20 : len - 14)] ^= (uint8_t)rnd(&seed);
            if (rnd(&seed) % 2) {
                frame[14] = (uint8_t)(0x45 + (rnd(&seed) % 4 == 0 ? rnd(&seed) % 3 : 0));
                uint32_t hl = (frame[14] & 0xfu) * 4u;
                if (14 + hl <= len)
                    hs_ip4_header_set_csum((hs_ip4_header_t *)(frame + 14));
            }
            if (rnd(&seed) % 8 == 0)
                len = 14 + (uint32_t)(rnd(&seed) % (len - 13));
            rx(f, frame, len);
        }
        f->now += 10 * HS_NS_PER_MS;
        hs_clock_set(&f->clock, f->now);
        poll(f);
        hs_net_worker_t *wk = hs_net_worker(f->net, 0);
        assert_true(hs_ip4_reass_count(&wk->ip4->reass) <= HS_IP4_REASS_MAX);
        assert_true(hs_ip4_reass_bufs_held(&wk->ip4->reass) <= HS_IP4_REASS_MAX_BUFS);
        frames_clear(&f->dev.tx);
    }
    /* Reassembly gives up after 3 s (its ICMP errors may start ARP for made-up sources),
     * then ARP after 3 more. */
    advance(f, 8 * HS_NS_PER_S);
    assert_int_equal(hs_ip4_reass_count(&hs_net_worker(f->net, 0)->ip4->reass), 0);
    assert_int_equal(hs_arp_n_held(f->net), 0);
    assert_true(err(f, "ip4-input", "bad header checksum") > 0);
    assert_true(err(f, "icmp4-input", "echo requests answered") > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_echo_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_echo_with_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fragmented_ping_8000, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_udp_to_registered_transport, setup_udp, teardown),
        cmocka_unit_test_setup_teardown(test_errors_not_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reassembly_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arp_resolution, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fragmentation_needed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routes_and_show, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_frames, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
