/* Test fixture for the L2 tests: a real packet-path instance on a virtual clock with a
 * fake device class (frames received from a list, frames sent copied into a capture), and
 * helpers to read node and interface counters. Header-only; one copy per test program. */
#ifndef HS_TEST_NET_FAKE_H
#define HS_TEST_NET_FAKE_H

#include <stdlib.h>
#include <string.h>

#include "net/interface.h"
#include "net/net.h"

#define TN_QLEN   2048
#define TN_MAX_IF 8

typedef struct {
    uint32_t sw_if_index;
    uint8_t mac[6];
    uint32_t rx_head, rx_n; /* frames waiting to be received */
    uint8_t *rx[TN_QLEN];
    uint32_t rx_len[TN_QLEN];
    uint32_t n_tx; /* frames sent, copied */
    uint8_t *tx[TN_QLEN];
    uint32_t tx_len[TN_QLEN];
    uint32_t tx_calls;
    uint32_t tx_room; /* frames the device takes per call */
    int set_admin_rv; /* what set_admin answers */
    uint32_t set_admin_calls;
    bool destroyed;
} tn_if_t;

typedef struct {
    hs_clock_t clock;
    hs_net_t *net;
    uint32_t n_buffers;
    uint32_t input_node; /* the node hs_device_input runs under for the fake class */
    uint64_t now;
    tn_if_t *ifs[TN_MAX_IF];
    uint32_t n_ifs;
} tn_t;

static uint32_t tn_dev_rx(hs_net_worker_t *wk, hs_interface_t *ifc, uint32_t q, uint32_t *bis,
                          uint32_t max)
{
    tn_if_t *d = ifc->dev;
    uint32_t n = 0;
    (void)q;
    while (n < max && d->rx_n) {
        uint32_t i = d->rx_head;
        uint32_t bi = hs_buf_from_bytes(&wk->bufs, d->rx[i], d->rx_len[i]);
        if (bi == HS_BUF_INVALID)
            break;
        hs_buf_ptr(wk->bufs.pool, bi)->sw_if_index[HS_RX] = ifc->sw_if_index;
        free(d->rx[i]);
        d->rx[i] = NULL;
        d->rx_head = (d->rx_head + 1) % TN_QLEN;
        d->rx_n--;
        bis[n++] = bi;
    }
    return n;
}

static uint32_t tn_dev_tx(hs_net_worker_t *wk, hs_interface_t *ifc, const uint32_t *bis, uint32_t n)
{
    tn_if_t *d = ifc->dev;
    uint32_t take = HS_MIN(n, d->tx_room);
    d->tx_calls++;
    for (uint32_t i = 0; i < take && d->n_tx < TN_QLEN; i++) {
        hs_buf_t *b = hs_buf_ptr(wk->bufs.pool, bis[i]);
        uint32_t len = hs_buf_length(b);
        d->tx[d->n_tx] = malloc(len);
        d->tx_len[d->n_tx] = hs_buf_copy_out(wk->bufs.pool, b, d->tx[d->n_tx], len);
        d->n_tx++;
    }
    hs_buf_free(&wk->bufs, bis, n);
    return take;
}

static int tn_dev_set_admin(hs_interface_t *ifc, bool up)
{
    tn_if_t *d = ifc->dev;
    (void)up;
    d->set_admin_calls++;
    return d->set_admin_rv;
}

static void tn_dev_format(const hs_interface_t *ifc, hs_str_t *out)
{
    const tn_if_t *d = ifc->dev;
    hs_str_printf(out, "fake device: %u frames sent", d->n_tx);
}

static void tn_dev_destroy(hs_interface_t *ifc)
{
    ((tn_if_t *)ifc->dev)->destroyed = true;
}

static const hs_device_class_t tn_class = {
    .name = "fake",
    .input_node_name = "wire-input", /* any input node whose next slot 0 is ethernet-input */
    .rx = tn_dev_rx,
    .tx = tn_dev_tx,
    .set_admin = tn_dev_set_admin,
    .format = tn_dev_format,
    .destroy = tn_dev_destroy,
};

static HS_UNUSED int tn_setup_n(void **state, uint32_t n_workers)
{
    tn_t *t = calloc(1, sizeof(*t));
    t->now = HS_NS_PER_S;
    hs_clock_init_virtual(&t->clock, t->now);
    t->n_buffers = 4096;
    hs_net_config_t cfg = {.n_workers = n_workers, .n_buffers = t->n_buffers, .clock = &t->clock};
    if (hs_net_create(&t->net, &cfg) < 0)
        return -1;
    int ni = hs_graph_node_index(&t->net->graph, tn_class.input_node_name);
    if (ni < 0)
        return -1;
    t->input_node = (uint32_t)ni;
    for (uint32_t w = 0; w < n_workers; w++) {
        hs_net_worker_t *wk = hs_net_worker(t->net, w);
        wk->now_ns = wk->rt.now_ns = t->now;
    }
    *state = t;
    return 0;
}

static HS_UNUSED int tn_setup(void **state)
{
    return tn_setup_n(state, 1);
}

static HS_UNUSED int tn_setup2(void **state)
{
    return tn_setup_n(state, 2);
}

static void tn_if_clear_tx(tn_if_t *d)
{
    for (uint32_t i = 0; i < d->n_tx; i++)
        free(d->tx[i]);
    d->n_tx = 0;
}

static HS_UNUSED int tn_teardown(void **state)
{
    tn_t *t = *state;
    hs_net_destroy(t->net);
    for (uint32_t i = 0; i < t->n_ifs; i++) {
        tn_if_t *d = t->ifs[i];
        tn_if_clear_tx(d);
        for (; d->rx_n; d->rx_n--, d->rx_head = (d->rx_head + 1) % TN_QLEN)
            free(d->rx[d->rx_head]);
        free(d);
    }
    free(t);
    return 0;
}

/* An interface on the fake class, MAC 02:fe:00:00:00:<n+1>, admin up. */
static HS_UNUSED tn_if_t *tn_if_create(tn_t *t, const char *name, uint32_t n_queues)
{
    tn_if_t *d = calloc(1, sizeof(*d));
    d->tx_room = UINT32_MAX;
    d->mac[0] = 0x02;
    d->mac[1] = 0xfe;
    d->mac[5] = (uint8_t)(t->n_ifs + 1);
    int rv =
        hs_interface_create(t->net, name, &tn_class, d, d->mac, n_queues, NULL, &d->sw_if_index);
    if (rv < 0 || hs_interface_set_admin(t->net, d->sw_if_index, true) < 0) {
        free(d);
        return NULL;
    }
    t->ifs[t->n_ifs++] = d;
    return d;
}

/* Queues a frame for the device to receive at the next poll. */
static HS_UNUSED void tn_rx(tn_if_t *d, const uint8_t *p, uint32_t len)
{
    uint32_t i = (d->rx_head + d->rx_n) % TN_QLEN;
    d->rx[i] = malloc(len ? len : 1);
    memcpy(d->rx[i], p, len);
    d->rx_len[i] = len;
    d->rx_n++;
}

/* One iteration of every worker at the current virtual time: the fake device's queues,
 * the graph, then the worker's own poll (other drivers, housekeeping when due). */
static HS_UNUSED void tn_poll(tn_t *t)
{
    for (uint32_t w = 0; w < t->net->n_workers; w++) {
        hs_net_worker_t *wk = hs_net_worker(t->net, w);
        wk->now_ns = wk->rt.now_ns = t->now;
        uint64_t t0 = hs_clock_cycles();
        uint32_t n = hs_device_input(&wk->rt, &wk->rt.nodes[t->input_node], &tn_class);
        hs_node_rt_t *nr = &wk->rt.nodes[t->input_node];
        if (n) { /* as hs_graph_run_input counts it */
            nr->calls++;
            nr->vectors += n;
            nr->clocks += hs_clock_cycles() - t0;
        }
        hs_graph_dispatch(&wk->rt);
        hs_net_worker_poll(wk, t->now);
    }
}

/* Moves the virtual clock in steps of at most 100 ms, polling after each. */
static HS_UNUSED void tn_advance(tn_t *t, uint64_t ns)
{
    uint64_t end = t->now + ns;
    while (t->now < end) {
        t->now = HS_MIN(end, t->now + HS_NET_HOUSEKEEP_NS);
        hs_clock_set(&t->clock, t->now);
        tn_poll(t);
    }
}

/* Hands a frame to interface-output on worker 0 as if a node had built it. */
static HS_UNUSED void tn_send(tn_t *t, uint32_t sw_if_index, const uint8_t *p, uint32_t len)
{
    hs_net_worker_t *wk = hs_net_worker(t->net, 0);
    uint32_t bi = hs_buf_from_bytes(&wk->bufs, p, len);
    hs_buf_ptr(&t->net->bufs, bi)->sw_if_index[HS_TX] = sw_if_index;
    hs_graph_enqueue(&wk->rt, t->net->nodes.interface_output, bi);
}

/* A node's count for one error reason, summed over workers; -1 when there is none. */
static HS_UNUSED int64_t tn_err(tn_t *t, const char *node, const char *reason)
{
    int ni = hs_graph_node_index(&t->net->graph, node);
    if (ni < 0)
        return -1;
    const hs_node_reg_t *reg = hs_graph_node(&t->net->graph, (uint32_t)ni)->reg;
    for (uint16_t e = 0; e < reg->n_errors; e++) {
        if (strcmp(reg->errors[e], reason) != 0)
            continue;
        int64_t sum = 0;
        for (uint32_t w = 0; w < t->net->n_workers; w++)
            sum += (int64_t)hs_net_worker(t->net, w)->rt.nodes[ni].errors[e];
        return sum;
    }
    return -1;
}

static HS_UNUSED uint64_t tn_node_vectors(tn_t *t, const char *node)
{
    int ni = hs_graph_node_index(&t->net->graph, node);
    uint64_t sum = 0;
    for (uint32_t w = 0; ni >= 0 && w < t->net->n_workers; w++)
        sum += hs_net_worker(t->net, w)->rt.nodes[ni].vectors;
    return sum;
}

static HS_UNUSED hs_if_counters_t tn_counters(tn_t *t, const tn_if_t *d)
{
    hs_if_counters_t s = {0};
    hs_interface_t *ifc = hs_interface_get(t->net, d->sw_if_index);
    for (uint32_t w = 0; ifc && w < t->net->n_workers; w++) {
        const hs_if_counters_t *c = &ifc->counters[w];
        s.rx_packets += c->rx_packets, s.rx_bytes += c->rx_bytes, s.rx_drops += c->rx_drops;
        s.tx_packets += c->tx_packets, s.tx_bytes += c->tx_bytes, s.tx_drops += c->tx_drops;
    }
    return s;
}

/* Buffers sitting in the workers' caches (free, but not in the pool's list). */
static HS_UNUSED uint32_t tn_cached(tn_t *t)
{
    uint32_t n = 0;
    for (uint32_t w = 0; w < t->net->n_workers; w++)
        n += hs_net_worker(t->net, w)->bufs.n;
    return n;
}

static HS_UNUSED uint32_t tn_ip(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    return (uint32_t)a << 24 | (uint32_t)b << 16 | (uint32_t)c << 8 | d;
}

#endif
