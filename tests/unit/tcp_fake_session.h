/* Test fixture for the TCP tests: a fake session layer (the hs_session_* calls of
 * transport.h, with real FIFOs in malloc'd memory, a 5-tuple table and listeners), a real
 * packet-path instance on a virtual clock for routes and buffers (interface eth0,
 * 10.0.0.2/24, MTU 1500), a TCP worker whose emit hook captures every segment it sends
 * (parsed back, checksum checked), and helpers to build and inject segments through
 * hs_tcp_parse. Header-only; included once per test program. */
#ifndef HS_TEST_TCP_FAKE_SESSION_H
#define HS_TEST_TCP_FAKE_SESSION_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/checksum.h"
#include "net/fib.h"
#include "net/interface.h"
#include "net/ip4.h"
#include "net/ip4_packet.h"
#include "tcp/tcp.h"
#include "tcp/tcp_internal.h"

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define US              IP4(10, 0, 0, 2)
#define PEER            IP4(10, 0, 0, 1)
#define US_PORT         80
#define PEER_PORT       40000
#define FS_MAX_SESSIONS 64
#define FS_MAX_CONNS    256
#define FS_MAX_LISTEN   8
#define FX_MAX_CAPS     4096
#define MS              HS_NS_PER_MS
#define SEC             HS_NS_PER_S

/* ---- the fake session layer ---- */

typedef struct {
    bool used;
    hs_fifo_t rx, tx; /* one handle per FIFO: the test is both producer and consumer */
    void *rx_mem, *tx_mem;
    uint32_t conn_index;
    bool accepted, connected, closing, reset, closed;
    bool connect_done;
    int connect_err;
    uint32_t n_rx_notify, n_tx_notify, n_closed;
} fs_session_t;

typedef struct {
    bool used;
    uint32_t fib_index, lcl_ip, rmt_ip;
    uint16_t lcl_port, rmt_port;
    uint32_t conn_index;
} fs_entry_t;

typedef struct {
    bool used;
    uint32_t fib_index, ip;
    uint16_t port;
    uint32_t index;
} fs_listener_t;

struct hs_session_worker {
    hs_tcp_worker_t *tw;
    fs_session_t sessions[FS_MAX_SESSIONS];
    fs_entry_t table[FS_MAX_CONNS];
    fs_listener_t listeners[FS_MAX_LISTEN];
    uint32_t fifo_size;
    int accept_rv; /* what hs_session_accept answers */
    int connected_rv;
    uint32_t n_accepts;
    int last_accepted; /* session index of the newest accepted session, -1 */
    /* The app acting from inside a notification, as a real one may: */
    bool reset_in_accept, close_in_accept; /* reset / close the new connection */
    bool reset_in_rx, close_in_rx;         /* on new readable bytes */
    bool reset_in_tx;                      /* on room made in the tx FIFO */
    bool reset_in_closing;                 /* on the peer's FIN */
};

static HS_UNUSED int fs_session_new(struct hs_session_worker *sw)
{
    for (int i = 0; i < FS_MAX_SESSIONS; i++) {
        fs_session_t *s = &sw->sessions[i];
        if (s->used)
            continue;
        memset(s, 0, sizeof(*s));
        s->used = true;
        size_t sz = hs_fifo_mem_size(sw->fifo_size);
        s->rx_mem = aligned_alloc(64, sz);
        s->tx_mem = aligned_alloc(64, sz);
        assert_int_equal(hs_fifo_init(s->rx_mem, sz, sw->fifo_size), 0);
        assert_int_equal(hs_fifo_init(s->tx_mem, sz, sw->fifo_size), 0);
        assert_int_equal(hs_fifo_attach(&s->rx, s->rx_mem, sz), 0);
        assert_int_equal(hs_fifo_attach(&s->tx, s->tx_mem, sz), 0);
        return i;
    }
    fail_msg("out of fake sessions");
    return -1;
}

static HS_UNUSED void fs_session_free_all(struct hs_session_worker *sw)
{
    for (int i = 0; i < FS_MAX_SESSIONS; i++) {
        free(sw->sessions[i].rx_mem);
        free(sw->sessions[i].tx_mem);
        sw->sessions[i] = (fs_session_t){0};
    }
}

hs_tcp_worker_t *hs_session_tcp_worker(struct hs_session_worker *sw)
{
    return sw->tw;
}

int hs_session_lookup_conn4(struct hs_session_worker *sw, uint8_t proto, uint32_t fib_index,
                            uint32_t lcl_ip, uint16_t lcl_port, uint32_t rmt_ip, uint16_t rmt_port)
{
    assert_int_equal(proto, HS_PROTO_TCP);
    for (int i = 0; i < FS_MAX_CONNS; i++) {
        fs_entry_t *e = &sw->table[i];
        if (e->used && e->fib_index == fib_index && e->lcl_ip == lcl_ip &&
            e->lcl_port == lcl_port && e->rmt_ip == rmt_ip && e->rmt_port == rmt_port)
            return (int)e->conn_index;
    }
    return -1;
}

int hs_session_lookup_listener4(struct hs_session_worker *sw, uint8_t proto, uint32_t fib_index,
                                uint32_t lcl_ip, uint16_t lcl_port)
{
    (void)proto;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < FS_MAX_LISTEN; i++) {
            fs_listener_t *l = &sw->listeners[i];
            if (l->used && l->fib_index == fib_index && l->port == lcl_port &&
                l->ip == (pass ? 0 : lcl_ip))
                return (int)l->index;
        }
    }
    return -1;
}

int hs_session_table_add4(struct hs_session_worker *sw, const hs_transport_conn_t *tc)
{
    assert_int_equal(hs_session_lookup_conn4(sw, tc->proto, tc->fib_index, tc->lcl_ip, tc->lcl_port,
                                             tc->rmt_ip, tc->rmt_port),
                     -1);
    for (int i = 0; i < FS_MAX_CONNS; i++) {
        fs_entry_t *e = &sw->table[i];
        if (e->used)
            continue;
        *e = (fs_entry_t){true,         tc->fib_index, tc->lcl_ip,    tc->rmt_ip,
                          tc->lcl_port, tc->rmt_port,  tc->conn_index};
        return 0;
    }
    return -ENOMEM;
}

void hs_session_table_del4(struct hs_session_worker *sw, const hs_transport_conn_t *tc)
{
    for (int i = 0; i < FS_MAX_CONNS; i++) {
        fs_entry_t *e = &sw->table[i];
        if (e->used && e->conn_index == tc->conn_index && e->lcl_port == tc->lcl_port &&
            e->rmt_port == tc->rmt_port && e->rmt_ip == tc->rmt_ip)
            e->used = false;
    }
}

static HS_UNUSED uint32_t fs_n_table(struct hs_session_worker *sw)
{
    uint32_t n = 0;
    for (int i = 0; i < FS_MAX_CONNS; i++)
        n += sw->table[i].used;
    return n;
}

int hs_session_accept(struct hs_session_worker *sw, uint32_t listener_index,
                      hs_transport_conn_t *tc)
{
    (void)listener_index;
    if (sw->accept_rv < 0)
        return sw->accept_rv;
    int si = fs_session_new(sw);
    sw->sessions[si].accepted = true;
    sw->sessions[si].conn_index = tc->conn_index;
    tc->session_index = (uint32_t)si;
    sw->n_accepts++;
    sw->last_accepted = si;
    if (sw->reset_in_accept)
        hs_tcp_reset(sw->tw, tc->conn_index);
    if (sw->close_in_accept)
        hs_tcp_close(sw->tw, tc->conn_index);
    return 0;
}

int hs_session_connected(struct hs_session_worker *sw, uint32_t session_index,
                         hs_transport_conn_t *tc, int err)
{
    fs_session_t *s = &sw->sessions[session_index];
    assert_true(s->used);
    s->connect_done = true;
    s->connect_err = err;
    if (!tc)
        return 0;
    assert_int_equal(err, 0);
    assert_int_equal(tc->session_index, session_index);
    s->connected = true;
    return sw->connected_rv;
}

hs_fifo_t *hs_session_rx_fifo(struct hs_session_worker *sw, uint32_t session_index)
{
    assert_true(sw->sessions[session_index].used);
    return &sw->sessions[session_index].rx;
}

hs_fifo_t *hs_session_tx_fifo(struct hs_session_worker *sw, uint32_t session_index)
{
    assert_true(sw->sessions[session_index].used);
    return &sw->sessions[session_index].tx;
}

void hs_session_notify_rx(struct hs_session_worker *sw, uint32_t session_index)
{
    fs_session_t *s = &sw->sessions[session_index];
    assert_false(s->closed);
    s->n_rx_notify++;
    if (sw->reset_in_rx)
        hs_tcp_reset(sw->tw, s->conn_index);
    if (sw->close_in_rx)
        hs_tcp_close(sw->tw, s->conn_index);
}

void hs_session_notify_tx(struct hs_session_worker *sw, uint32_t session_index)
{
    fs_session_t *s = &sw->sessions[session_index];
    assert_false(s->closed);
    s->n_tx_notify++;
    if (sw->reset_in_tx)
        hs_tcp_reset(sw->tw, s->conn_index);
}

void hs_session_transport_closing(struct hs_session_worker *sw, uint32_t session_index)
{
    fs_session_t *s = &sw->sessions[session_index];
    assert_false(s->closed);
    s->closing = true;
    if (sw->reset_in_closing)
        hs_tcp_reset(sw->tw, s->conn_index);
}

void hs_session_transport_reset(struct hs_session_worker *sw, uint32_t session_index)
{
    assert_false(sw->sessions[session_index].closed);
    sw->sessions[session_index].reset = true;
}

void hs_session_transport_closed(struct hs_session_worker *sw, uint32_t session_index)
{
    fs_session_t *s = &sw->sessions[session_index];
    assert_true(s->used);
    assert_false(s->closed); /* exactly once */
    s->closed = true;
    s->n_closed++;
}

/* ---- captured segments ---- */

typedef struct {
    hs_tcp_seg_t h; /* spans point nowhere: use data */
    uint32_t src, dst;
    uint8_t *data; /* payload copy */
    uint32_t len;
    bool csum_ok;
    bool df;
} cap_t;

/* ---- the fixture ---- */

typedef struct fx fx_t;
typedef void (*fx_forward_fn)(void *ctx, const uint8_t *pkt, uint32_t len);

struct fx {
    hs_clock_t clock;
    hs_net_t *net;
    uint32_t sw_if;
    uint64_t now;
    hs_tcp_worker_t tw;
    struct hs_session_worker sw;
    cap_t caps[FX_MAX_CAPS];
    uint32_t n_caps, head;
    fx_forward_fn forward; /* when set, sent packets go here instead of the capture */
    void *fwd_ctx;
    uint32_t us, peer;           /* addresses */
    hs_tcp_emit_fn default_emit; /* TCP's own (to ip4-lookup), replaced by the capture */
    /* frames the fake device sent (when the default emit is in use) */
    uint32_t n_frames;
    uint8_t frame[2048];
    uint32_t frame_len;
    uint32_t frame_flags;
};

static HS_UNUSED uint32_t fx_dev_rx(hs_net_worker_t *wk, hs_interface_t *ifc, uint32_t q,
                                    uint32_t *bis, uint32_t max)
{
    (void)wk, (void)ifc, (void)q, (void)bis, (void)max;
    return 0;
}

static HS_UNUSED uint32_t fx_dev_tx(hs_net_worker_t *wk, hs_interface_t *ifc, const uint32_t *bis,
                                    uint32_t n)
{
    fx_t *f = ifc->dev;
    for (uint32_t i = 0; i < n; i++) {
        hs_buf_t *b = hs_buf_ptr(wk->bufs.pool, bis[i]);
        f->n_frames++;
        f->frame_flags = b->flags;
        f->frame_len = hs_buf_copy_out(wk->bufs.pool, b, f->frame, sizeof(f->frame));
    }
    hs_buf_free(&wk->bufs, bis, n);
    return n;
}

static const hs_device_class_t fx_class = {
    .name = "fake", .input_node_name = "fx-input", .rx = fx_dev_rx, .tx = fx_dev_tx};

static HS_UNUSED uint32_t fx_input_fn(hs_graph_rt_t *rt, hs_node_rt_t *node, const uint32_t *bis,
                                      uint32_t n)
{
    (void)bis, (void)n;
    return hs_device_input(rt, node, &fx_class);
}

static const char *const fx_input_next[] = {"ethernet-input"};
static const hs_node_reg_t fx_input_node = {.name = "fx-input",
                                            .fn = fx_input_fn,
                                            .type = HS_NODE_INPUT,
                                            .n_next = 1,
                                            .next_nodes = fx_input_next};

static HS_UNUSED int fx_register_nodes(hs_net_t *net, void *ctx)
{
    int rv = hs_graph_add_node(&net->graph, &fx_input_node);
    return rv < 0 ? rv : hs_tcp_register_nodes(net, ctx);
}

static HS_UNUSED void fx_capture(fx_t *f, hs_buf_t *b, const hs_buf_pool_t *p)
{
    uint8_t pkt[HS_IP4_MAX_LEN];
    uint32_t len = hs_buf_copy_out(p, b, pkt, sizeof(pkt));
    if (f->forward) {
        f->forward(f->fwd_ctx, pkt, len);
        return;
    }
    assert_true(f->n_caps < FX_MAX_CAPS);
    cap_t *c = &f->caps[f->n_caps++];
    const hs_ip4_header_t *ih = (const hs_ip4_header_t *)pkt;
    assert_int_equal(hs_ip4_hdr_len(ih), 20);
    assert_int_equal(ntohs(ih->total_len), len);
    assert_int_equal(hs_csum(ih, 20), 0);
    c->src = ntohl(ih->src);
    c->dst = ntohl(ih->dst);
    c->df = (ntohs(ih->frag) & HS_IP4_F_DF) != 0;
    c->csum_ok = hs_tcp_csum(c->src, c->dst, pkt + 20, len - 20) == 0;
    assert_int_equal(hs_tcp_parse(pkt + 20, len - 20, &c->h), HS_TCP_E_NONE);
    c->len = c->h.payload_len;
    c->data = malloc(c->len + 1);
    memcpy(c->data, pkt + 20 + c->h.hdr_len, c->len);
    c->h.n_spans = 0;
}

static HS_UNUSED void fx_emit(void *ctx, hs_tcp_worker_t *tw, uint32_t bi)
{
    fx_t *f = ctx;
    hs_net_worker_t *nw = tw->nw;
    hs_buf_t *b = hs_buf_ptr(nw->bufs.pool, bi);
    assert_true(b->flags & HS_BUF_F_LOCALLY_MADE);
    fx_capture(f, b, nw->bufs.pool);
    hs_buf_free(&nw->bufs, &bi, 1);
}

static HS_UNUSED void fx_clear_caps(fx_t *f)
{
    for (uint32_t i = 0; i < f->n_caps; i++)
        free(f->caps[i].data);
    f->n_caps = f->head = 0;
}

/* Segments captured and not yet taken. */
static HS_UNUSED uint32_t fx_pending(const fx_t *f)
{
    return f->n_caps - f->head;
}

/* The next captured segment (fails the test when there is none). */
static HS_UNUSED cap_t *fx_pop(fx_t *f)
{
    if (f->head >= f->n_caps)
        fail_msg("expected a segment, none was sent");
    cap_t *c = &f->caps[f->head++];
    assert_true(c->csum_ok);
    assert_true(c->df);
    return c;
}

static HS_UNUSED void fx_tcp_config(hs_tcp_config_t *cfg)
{
    hs_tcp_config_default(cfg);
    for (int i = 0; i < 16; i++)
        cfg->secret[i] = (uint8_t)(i + 1); /* fixed: ISNs replay */
}

/* A fixture with our address us on eth0 (/24) and the given TCP configuration. */
static HS_UNUSED fx_t *fx_new_at(uint32_t us, uint32_t peer, const hs_tcp_config_t *cfg)
{
    fx_t *f = calloc(1, sizeof(*f));
    f->us = us;
    f->peer = peer;
    f->now = 10 * SEC;
    hs_clock_init_virtual(&f->clock, f->now);
    hs_net_config_t nc = {
        .n_workers = 1, .n_buffers = 4096, .clock = &f->clock, .register_nodes = fx_register_nodes};
    static const uint8_t mac[6] = {0x02, 0xfe, 0, 0, 0, 0x01};
    assert_int_equal(hs_net_create(&f->net, &nc), 0);
    assert_int_equal(hs_interface_create(f->net, "eth0", &fx_class, f, mac, 1, NULL, &f->sw_if), 0);
    assert_int_equal(hs_interface_set_admin(f->net, f->sw_if, true), 0);
    assert_int_equal(hs_ip4_interface_address(f->net, f->sw_if, us, 24, false), 0);
    hs_net_worker_t *nw = hs_net_worker(f->net, 0);
    nw->now_ns = nw->rt.now_ns = f->now;
    hs_graph_dispatch(&nw->rt); /* the new address's gratuitous ARP goes out */
    f->n_frames = 0;
    f->sw.tw = &f->tw;
    f->sw.fifo_size = 1u << 16;
    f->sw.last_accepted = -1;
    hs_tcp_config_t def;
    if (!cfg) {
        fx_tcp_config(&def);
        cfg = &def;
    }
    assert_int_equal(hs_tcp_worker_init(&f->tw, nw, &f->sw, cfg), 0);
    f->default_emit = f->tw.emit;
    f->tw.emit = fx_emit;
    f->tw.emit_ctx = f;
    hs_tcp_worker_t *tws[1] = {&f->tw};
    assert_int_equal(hs_tcp_attach_workers(f->net, tws), 0);
    hs_tcp_poll(&f->tw, f->now);
    return f;
}

static HS_UNUSED fx_t *fx_new_cfg(const hs_tcp_config_t *cfg)
{
    return fx_new_at(US, PEER, cfg);
}

static HS_UNUSED fx_t *fx_new(void)
{
    return fx_new_at(US, PEER, NULL);
}

static HS_UNUSED void fx_free(fx_t *f)
{
    hs_tcp_worker_destroy(&f->tw);
    hs_net_destroy(f->net);
    fx_clear_caps(f);
    fs_session_free_all(&f->sw);
    free(f);
}

/* Moves the virtual clock on by ns, expiring timers at their due times on the way. */
static HS_UNUSED void fx_advance(fx_t *f, uint64_t ns)
{
    uint64_t end = f->now + ns;
    for (int guard = 0; guard < 1000000; guard++) {
        uint64_t next = hs_tw_next_expiry_ns(&f->tw.wheel);
        if (next > end)
            break;
        f->now = HS_MAX(f->now, next);
        hs_tcp_poll(&f->tw, f->now);
    }
    f->now = end;
    hs_tcp_poll(&f->tw, f->now);
}

/* ---- segments from the peer ---- */

typedef struct {
    uint8_t flags;
    uint32_t seq, ack;
    uint16_t wnd; /* 0 means 65535 unless zero_wnd */
    bool zero_wnd;
    uint8_t opts; /* HS_TCP_OPTF_* */
    uint16_t mss;
    uint8_t wscale;
    uint32_t tsval, tsecr;
    uint8_t n_sack;
    hs_tcp_sack_block_t sack[4];
    const void *data;
    uint32_t len;
    uint16_t sport, dport; /* 0: PEER_PORT, US_PORT */
    uint32_t src, dst;     /* 0: the fixture's peer and us */
} fx_seg_t;

/* Builds the segment's bytes with hs_tcp_write, then parses them back as the node would. */
static HS_UNUSED uint32_t fx_build(fx_t *f, const fx_seg_t *s, uint8_t *buf, hs_tcp_seg_t *seg)
{
    hs_tcp_seg_t h = {.src_port = s->sport ? s->sport : PEER_PORT,
                      .dst_port = s->dport ? s->dport : US_PORT,
                      .seq = s->seq,
                      .ack = s->ack,
                      .flags = s->flags,
                      .wnd = s->zero_wnd ? 0 : (s->wnd ? s->wnd : 65535),
                      .opts = s->opts,
                      .mss = s->mss,
                      .wscale = s->wscale,
                      .tsval = s->tsval,
                      .tsecr = s->tsecr,
                      .n_sack = s->n_sack};
    memcpy(h.sack, s->sack, sizeof(h.sack));
    uint32_t hlen = hs_tcp_write(buf, &h);
    if (s->len)
        memcpy(buf + hlen, s->data, s->len);
    uint32_t src = s->src ? s->src : f->peer, dst = s->dst ? s->dst : f->us;
    uint16_t c = hs_tcp_csum(src, dst, buf, hlen + s->len);
    memcpy(buf + 16, &c, 2);
    assert_int_equal(hs_tcp_parse(buf, hlen + s->len, seg), HS_TCP_E_NONE);
    seg->src_ip = src;
    seg->dst_ip = dst;
    seg->fib_index = 0;
    return hlen + s->len;
}

/* Injects a segment from the peer at the current time and flushes output. Returns the drop
 * reason. */
static HS_UNUSED int fx_send(fx_t *f, const fx_seg_t *s)
{
    uint8_t buf[HS_TCP_HDR_MAX + 65536];
    hs_tcp_seg_t seg;
    fx_build(f, s, buf, &seg);
    int rv = hs_tcp_rx(&f->tw, &seg, f->now);
    hs_tcp_flush(&f->tw);
    return rv;
}

/* ---- session-side helpers ---- */

static HS_UNUSED uint32_t fs_listen(fx_t *f, uint32_t ip, uint16_t port)
{
    hs_endpoint_t ep = {.fib_index = 0, .ip = ip, .port = port};
    int li = hs_tcp_listen(&f->tw, 0, &ep);
    assert_true(li >= 0);
    for (int i = 0; i < FS_MAX_LISTEN; i++) {
        if (!f->sw.listeners[i].used) {
            f->sw.listeners[i] = (fs_listener_t){true, 0, ip, port, (uint32_t)li};
            return (uint32_t)li;
        }
    }
    fail_msg("too many listeners");
    return 0;
}

/* Starts a connect from a new session; returns the session index. */
static HS_UNUSED int fs_connect(fx_t *f, uint32_t ip, uint16_t port)
{
    int si = fs_session_new(&f->sw);
    hs_endpoint_t ep = {.fib_index = 0, .ip = ip, .port = port};
    int ci = hs_tcp_connect(&f->tw, (uint32_t)si, &ep);
    assert_true(ci >= 0);
    f->sw.sessions[si].conn_index = (uint32_t)ci;
    hs_tcp_flush(&f->tw);
    return si;
}

static HS_UNUSED fs_session_t *fs_sess(fx_t *f, int si)
{
    return &f->sw.sessions[si];
}

static HS_UNUSED hs_tcp_conn_t *fs_conn(fx_t *f, int si)
{
    hs_tcp_conn_t *tc = hs_tcp_conn_get(&f->tw, f->sw.sessions[si].conn_index);
    assert_non_null(tc);
    return tc;
}

/* The app writes len bytes (all must fit) and tells TCP; output runs. */
static HS_UNUSED void fs_write(fx_t *f, int si, const void *data, uint32_t len)
{
    fs_session_t *s = fs_sess(f, si);
    assert_int_equal(hs_fifo_enqueue(&s->tx, data, len), (int)len);
    hs_tcp_app_tx(&f->tw, s->conn_index);
    hs_tcp_flush(&f->tw);
}

/* The app reads up to len bytes; TCP hears of it (window update). Returns the bytes read. */
static HS_UNUSED uint32_t fs_read(fx_t *f, int si, void *buf, uint32_t len)
{
    fs_session_t *s = fs_sess(f, si);
    int n = hs_fifo_dequeue(&s->rx, buf, len);
    if (n <= 0)
        return 0;
    hs_tcp_app_rx(&f->tw, s->conn_index);
    hs_tcp_flush(&f->tw);
    return (uint32_t)n;
}

static HS_UNUSED uint32_t fs_readable(fx_t *f, int si)
{
    int n = hs_fifo_max_dequeue(&fs_sess(f, si)->rx);
    return n > 0 ? (uint32_t)n : 0;
}

/* A pattern byte for stream offset i (so reordering or duplication shows). */
static HS_UNUSED inline uint8_t pat(uint64_t i)
{
    return (uint8_t)(i * 7 + (i >> 8) * 13 + 1);
}

static HS_UNUSED void fill_pat(uint8_t *p, uint64_t off, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        p[i] = pat(off + i);
}

/* ---- a scripted peer on an established connection ---- */

typedef struct {
    int si;          /* our session */
    uint32_t seq;    /* the peer's next sequence number */
    uint32_t ack;    /* what the peer acknowledges (our next byte) */
    uint32_t iss;    /* our ISS */
    bool ts;         /* timestamps negotiated */
    uint32_t tsval;  /* the peer's timestamp clock */
    uint32_t our_ts; /* our latest TSval, echoed back */
    uint16_t wnd;    /* the window the peer offers (unscaled field) */
    bool zero_wnd;
    uint16_t lport, rport; /* our port, the peer's */
} fx_peer_t;

/* Takes a captured segment of ours: remembers our timestamp for the echo. */
static HS_UNUSED cap_t *fx_take(fx_t *f, fx_peer_t *p)
{
    cap_t *c = fx_pop(f);
    if (c->h.opts & HS_TCP_OPTF_TS)
        p->our_ts = c->h.tsval;
    return c;
}

/* A segment from the peer: the given flags (ACK added), its seq/ack/window/timestamp. */
static HS_UNUSED int fx_peer_send(fx_t *f, fx_peer_t *p, uint8_t flags, const void *data,
                                  uint32_t len)
{
    fx_seg_t s = {.flags = (uint8_t)(flags | HS_TCP_ACK),
                  .seq = p->seq,
                  .ack = p->ack,
                  .wnd = p->wnd,
                  .zero_wnd = p->zero_wnd,
                  .data = data,
                  .len = len,
                  .sport = p->rport,
                  .dport = p->lport};
    if (p->ts) {
        s.opts = HS_TCP_OPTF_TS;
        s.tsval = ++p->tsval;
        s.tsecr = p->our_ts;
    }
    int rv = fx_send(f, &s);
    p->seq += len + ((flags & HS_TCP_FIN) ? 1 : 0);
    return rv;
}

/* Passive open through a listener on US_PORT: the peer's SYN offering opts (window scale
 * 0 when offered), our SYN-ACK, its ACK. */
static HS_UNUSED void fx_accept_opts(fx_t *f, fx_peer_t *p, uint8_t opts)
{
    if (hs_session_lookup_listener4(&f->sw, HS_PROTO_TCP, 0, f->us, US_PORT) < 0)
        fs_listen(f, 0, US_PORT);
    bool ts = opts & HS_TCP_OPTF_TS;
    *p = (fx_peer_t){
        .seq = 1000, .ts = ts, .tsval = 100, .wnd = 65535, .lport = US_PORT, .rport = PEER_PORT};
    assert_int_equal(fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN,
                                            .seq = p->seq,
                                            .opts = opts,
                                            .mss = 1460,
                                            .wscale = 0,
                                            .tsval = p->tsval}),
                     HS_TCP_E_NONE);
    p->seq++;
    cap_t *sa = fx_take(f, p);
    assert_int_equal(sa->h.flags, HS_TCP_SYN | HS_TCP_ACK);
    p->iss = sa->h.seq;
    p->ack = sa->h.seq + 1;
    int before = f->sw.last_accepted;
    assert_int_equal(fx_peer_send(f, p, 0, NULL, 0), HS_TCP_E_NONE);
    assert_int_not_equal(f->sw.last_accepted, before);
    p->si = f->sw.last_accepted;
    assert_int_equal(fs_conn(f, p->si)->state, HS_TCP_ESTABLISHED);
    assert_int_equal(fx_pending(f), 0);
}

/* The same with MSS 1460 only, or with timestamps and window scaling too. */
static HS_UNUSED void fx_accept(fx_t *f, fx_peer_t *p, bool ts)
{
    fx_accept_opts(f, p, HS_TCP_OPTF_MSS | (ts ? HS_TCP_OPTF_TS | HS_TCP_OPTF_WSCALE : 0));
}

/* Checks a captured segment of ours: flags, sequence number, ACK and payload length. */
static HS_UNUSED cap_t *fx_expect(fx_t *f, fx_peer_t *p, uint8_t flags, uint32_t seq, uint32_t ack,
                                  uint32_t len)
{
    cap_t *c = fx_take(f, p);
    assert_int_equal(c->h.flags, flags);
    assert_int_equal(c->h.seq, seq);
    assert_int_equal(c->h.ack, ack);
    assert_int_equal(c->len, len);
    return c;
}

#endif
