/* The wire device class: one end of an in-process wire as an interface, polled (no fd),
 * on the worker's clock (virtual in simulations). */
#include "drivers/wire.h"
#include "net/devices.h"
#include "net/ethernet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WIRE_TX_PIECES 16

typedef struct {
    hs_wire_t *wire; /* not owned */
    int end;
    uint64_t rx_runt, rx_no_buf, tx_dropped, tx_too_long;
} wire_dev_t;

static uint32_t wire_rx(hs_net_worker_t *wk, hs_interface_t *ifc, uint32_t q, uint32_t *bis,
                        uint32_t max)
{
    (void)q;
    wire_dev_t *d = ifc->dev;
    uint32_t n = 0, len;
    const uint8_t *p;
    while (n < max && (p = hs_wire_peek(d->wire, d->end, wk->now_ns, &len))) {
        if (len < HS_ETH_HDR_LEN) {
            d->rx_runt++;
            hs_if_counters(ifc, wk)->rx_drops++;
            hs_wire_pop(d->wire, d->end);
            continue;
        }
        uint32_t bi = hs_buf_from_bytes(&wk->bufs, p, len);
        if (bi == HS_BUF_INVALID) {
            d->rx_no_buf++; /* the frame waits on the wire */
            break;
        }
        hs_wire_pop(d->wire, d->end);
        bis[n++] = bi;
    }
    return n;
}

static uint32_t wire_tx(hs_net_worker_t *wk, hs_interface_t *ifc, const uint32_t *bis, uint32_t n)
{
    wire_dev_t *d = ifc->dev;
    hs_buf_pool_t *p = wk->bufs.pool;
    uint32_t sent = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct iovec iov[WIRE_TX_PIECES];
        int cnt = hs_dev_chain_iov(p, hs_buf_ptr(p, bis[i]), iov, WIRE_TX_PIECES);
        if (cnt < 0) {
            d->tx_too_long++;
            continue;
        }
        /* A lost or corrupted frame counts as sent: the sender cannot know. Only a tail drop
         * at the serializer (or a frame above the wire's maximum) is refused. */
        if (hs_wire_sendv(d->wire, d->end, iov, cnt, wk->now_ns) == 0)
            sent++;
        else
            d->tx_dropped++;
    }
    hs_buf_free(&wk->bufs, bis, n);
    return sent;
}

static void wire_format(const hs_interface_t *ifc, hs_str_t *out)
{
    const wire_dev_t *d = ifc->dev;
    const hs_wire_counters_t *tx = hs_wire_counters(d->wire, d->end);
    const hs_wire_counters_t *rx = hs_wire_counters(d->wire, 1 - d->end);
    hs_str_printf(
        out,
        "wire end %d: sent %lu (lost %lu dup %lu reordered %lu corrupted %lu "
        "rate-dropped %lu overflow %lu), received %lu, in flight to us %u; rx runt "
        "%lu no-buffer %lu, tx refused %lu too-long %lu\n",
        d->end, (unsigned long)tx->sent, (unsigned long)tx->lost, (unsigned long)tx->duplicated,
        (unsigned long)tx->reordered, (unsigned long)tx->corrupted, (unsigned long)tx->rate_dropped,
        (unsigned long)tx->overflow, (unsigned long)rx->delivered,
        hs_wire_in_flight(d->wire, d->end), (unsigned long)d->rx_runt, (unsigned long)d->rx_no_buf,
        (unsigned long)d->tx_dropped, (unsigned long)d->tx_too_long);
}

static void wire_destroy(hs_interface_t *ifc)
{
    free(ifc->dev);
}

const hs_device_class_t hs_wire_device_class = {
    .name = "wire",
    .input_node_name = "wire-input",
    .rx = wire_rx,
    .tx = wire_tx,
    .format = wire_format,
    .destroy = wire_destroy,
};

int hs_wire_if_create(hs_net_t *net, struct hs_wire *wire, int end, const char *name,
                      const uint8_t *mac, uint32_t *sw_if_index)
{
    if (!wire || (end != 0 && end != 1) || (mac && !hs_mac_is_valid_unicast(mac)))
        return -EINVAL;
    wire_dev_t *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->wire = wire;
    d->end = end;
    uint8_t m[6];
    if (mac)
        memcpy(m, mac, 6);
    else
        hs_mac_random_local(m);
    int rv = hs_interface_create(net, name, &hs_wire_device_class, d, m, 1, NULL, sw_if_index);
    if (rv < 0)
        free(d);
    return rv;
}
