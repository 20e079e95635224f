/* Interfaces: creation and deletion, admin state, MTU and FIB table, show interface, and
 * the input node body every driver shares (hs_device_input). */
#include "net/interface.h"
#include "net/arp.h"
#include "net/ethernet.h"
#include "net/fib.h"
#include "net/ip4.h"
#include "net/pcap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IF_MIN_MTU 576
#define IF_MAX_MTU 9000

static bool name_is_valid(const char *name)
{
    size_t n = strnlen(name, HS_IF_NAME_MAX);
    if (n == 0 || n >= HS_IF_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

hs_interface_t *hs_interface_get(hs_net_t *net, uint32_t sw_if_index)
{
    return hs_pool_elt_checked(&net->interfaces, sw_if_index);
}

hs_interface_t *hs_interface_by_name(hs_net_t *net, const char *name)
{
    hs_pool_foreach(&net->interfaces, i)
    {
        hs_interface_t *ifc = hs_pool_elt(&net->interfaces, i);
        if (strncmp(ifc->name, name, HS_IF_NAME_MAX) == 0)
            return ifc;
    }
    return NULL;
}

/* The worker polling the fewest queues, so queues spread round-robin and stay balanced
 * when interfaces come and go. */
static uint32_t least_loaded_worker(hs_net_t *net)
{
    uint32_t best = 0;
    for (uint32_t w = 1; w < net->n_workers; w++)
        if (net->workers[w].rx_queues.len < net->workers[best].rx_queues.len)
            best = w;
    return best;
}

static void remove_queue_refs(hs_net_t *net, uint32_t sw_if_index)
{
    for (uint32_t w = 0; w < net->n_workers; w++) {
        hs_vec_t *v = &net->workers[w].rx_queues;
        for (uint32_t i = v->len; i-- > 0;)
            if (((hs_rx_queue_ref_t *)hs_vec_at(v, i))->sw_if_index == sw_if_index)
                hs_vec_del_ordered(v, i);
    }
}

static int assign_queues(hs_net_t *net, hs_interface_t *ifc)
{
    for (uint32_t q = 0; q < ifc->n_queues; q++) {
        uint32_t w = least_loaded_worker(net);
        hs_rx_queue_ref_t ref = {.sw_if_index = ifc->sw_if_index, .queue = q};
        if (!hs_vec_push(&net->workers[w].rx_queues, &ref)) {
            remove_queue_refs(net, ifc->sw_if_index);
            return -ENOMEM;
        }
        ifc->queue_worker[q] = w;
    }
    return 0;
}

static int check_create_args(hs_net_t *net, const char *name, const hs_device_class_t *dc,
                             const uint8_t mac[6], uint32_t n_queues)
{
    if (!name || !name_is_valid(name) || !dc || !mac || !hs_mac_is_valid_unicast(mac))
        return -EINVAL;
    if (n_queues == 0 || n_queues > HS_IF_MAX_QUEUES || !dc->rx || !dc->tx)
        return -EINVAL;
    if (hs_interface_by_name(net, name))
        return -EEXIST;
    return 0;
}

int hs_interface_create(hs_net_t *net, const char *name, const hs_device_class_t *dc, void *dev,
                        const uint8_t mac[6], uint32_t n_queues, const int *queue_fds,
                        uint32_t *sw_if_index)
{
    int rv = check_create_args(net, name, dc, mac, n_queues);
    if (rv < 0)
        return rv;
    int input = hs_graph_node_index(&net->graph, dc->input_node_name);
    if (input < 0)
        return -ENOENT;
    uint32_t idx;
    hs_interface_t *ifc = hs_pool_get(&net->interfaces, &idx);
    if (!ifc)
        return -ENOMEM;
    ifc->counters = calloc(HS_MAX(net->n_workers, 1u), sizeof(hs_if_counters_t));
    if (!ifc->counters) {
        hs_pool_put(&net->interfaces, idx);
        return -ENOMEM;
    }
    ifc->sw_if_index = idx;
    snprintf(ifc->name, sizeof(ifc->name), "%s", name);
    ifc->dev_class = dc;
    ifc->dev = dev;
    memcpy(ifc->mac, mac, 6);
    ifc->mtu = HS_IF_DEFAULT_MTU;
    ifc->link_up = true;
    ifc->input_node = (uint32_t)input;
    ifc->n_queues = n_queues;
    for (uint32_t q = 0; q < HS_IF_MAX_QUEUES; q++)
        ifc->queue_fd[q] = (queue_fds && q < n_queues) ? queue_fds[q] : -1;
    hs_vec_init(&ifc->ip4_addrs, sizeof(hs_ip4_if_addr_t));
    if ((rv = assign_queues(net, ifc)) < 0) {
        free(ifc->counters);
        hs_pool_put(&net->interfaces, idx);
        return rv;
    }
    if (sw_if_index)
        *sw_if_index = idx;
    return 0;
}

/* Removes the interface's addresses (and with them its local and connected routes). */
static void remove_addresses(hs_net_t *net, hs_interface_t *ifc)
{
    while (ifc->ip4_addrs.len) {
        hs_ip4_if_addr_t a = HS_VEC_ELT(&ifc->ip4_addrs, hs_ip4_if_addr_t, ifc->ip4_addrs.len - 1);
        if (hs_ip4_interface_address(net, ifc->sw_if_index, a.addr, a.len, true) < 0)
            ifc->ip4_addrs.len--; /* ip4 did not know it: never loop forever */
    }
}

int hs_interface_delete(hs_net_t *net, uint32_t sw_if_index)
{
    hs_interface_t *ifc = hs_interface_get(net, sw_if_index);
    if (!ifc)
        return -ENOENT;
    remove_addresses(net, ifc);
    hs_fib_del_interface(net, sw_if_index);
    hs_arp_flush_interface(net, sw_if_index);
    remove_queue_refs(net, sw_if_index);
    if (ifc->dev_class->destroy)
        ifc->dev_class->destroy(ifc);
    free(ifc->counters);
    hs_vec_free(&ifc->ip4_addrs);
    hs_pool_put(&net->interfaces, sw_if_index);
    return 0;
}

int hs_interface_set_admin(hs_net_t *net, uint32_t sw_if_index, bool up)
{
    hs_interface_t *ifc = hs_interface_get(net, sw_if_index);
    if (!ifc)
        return -ENOENT;
    if (ifc->dev_class->set_admin) {
        int rv = ifc->dev_class->set_admin(ifc, up);
        if (rv < 0)
            return rv;
    }
    ifc->admin_up = up;
    /* Like Linux on link down: neighbors learned there are forgotten and packets held
     * for them dropped rather than sent much later. */
    if (!up)
        hs_arp_flush_interface(net, sw_if_index);
    return 0;
}

int hs_interface_set_mtu(hs_net_t *net, uint32_t sw_if_index, uint32_t mtu)
{
    hs_interface_t *ifc = hs_interface_get(net, sw_if_index);
    if (!ifc)
        return -ENOENT;
    if (mtu < IF_MIN_MTU || mtu > IF_MAX_MTU)
        return -EINVAL;
    int rv = ifc->dev_class->set_mtu ? ifc->dev_class->set_mtu(ifc, mtu) : 0;
    if (rv < 0)
        return rv;
    ifc->mtu = (uint16_t)mtu;
    return 0;
}

int hs_interface_set_table(hs_net_t *net, uint32_t sw_if_index, uint32_t table_id)
{
    hs_interface_t *ifc = hs_interface_get(net, sw_if_index);
    if (!ifc)
        return -ENOENT;
    int fib_index = hs_fib_table_find_or_create(net, table_id);
    if (fib_index < 0)
        return fib_index;
    if ((uint32_t)fib_index == ifc->fib_index)
        return 0;
    /* The addresses leave the old table with their routes and are added again in the new
     * one, which also re-announces them. */
    uint32_t n = ifc->ip4_addrs.len;
    hs_ip4_if_addr_t *saved = n ? malloc(n * sizeof(*saved)) : NULL;
    if (n && !saved)
        return -ENOMEM;
    if (n)
        memcpy(saved, ifc->ip4_addrs.data, n * sizeof(*saved));
    remove_addresses(net, ifc);
    hs_fib_del_interface(net, sw_if_index);
    ifc->fib_index = (uint32_t)fib_index;
    int rv = 0;
    for (uint32_t i = 0; i < n; i++) {
        int r = hs_ip4_interface_address(net, sw_if_index, saved[i].addr, saved[i].len, false);
        if (r < 0 && rv == 0)
            rv = r;
    }
    free(saved);
    return rv;
}

/* ---- show interface ---- */

static void format_counters(hs_net_t *net, const hs_interface_t *ifc, hs_str_t *out)
{
    hs_if_counters_t sum = {0};
    for (uint32_t w = 0; w < net->n_workers; w++) {
        const hs_if_counters_t *c = &ifc->counters[w];
        sum.rx_packets += c->rx_packets;
        sum.rx_bytes += c->rx_bytes;
        sum.rx_drops += c->rx_drops;
        sum.tx_packets += c->tx_packets;
        sum.tx_bytes += c->tx_bytes;
        sum.tx_drops += c->tx_drops;
    }
    hs_str_printf(out, "  rx packets %lu bytes %lu drops %lu\n", (unsigned long)sum.rx_packets,
                  (unsigned long)sum.rx_bytes, (unsigned long)sum.rx_drops);
    hs_str_printf(out, "  tx packets %lu bytes %lu drops %lu\n", (unsigned long)sum.tx_packets,
                  (unsigned long)sum.tx_bytes, (unsigned long)sum.tx_drops);
}

void hs_interface_format(hs_net_t *net, const hs_interface_t *ifc, bool counters, hs_str_t *out)
{
    char mac[HS_MAC_STR_LEN];
    hs_str_printf(out, "%s (index %u): admin %s, link %s\n", ifc->name, ifc->sw_if_index,
                  ifc->admin_up ? "up" : "down", ifc->link_up ? "up" : "down");
    hs_str_printf(out, "  mac %s  mtu %u  table %u  driver %s  queues %u\n",
                  hs_mac_format(mac, ifc->mac), ifc->mtu, hs_fib_table_id(net, ifc->fib_index),
                  ifc->dev_class->name, ifc->n_queues);
    for (uint32_t i = 0; i < ifc->ip4_addrs.len; i++) {
        const hs_ip4_if_addr_t *a = hs_vec_at(&ifc->ip4_addrs, i);
        hs_str_printf(out, "  ip4 %u.%u.%u.%u/%u\n", a->addr >> 24, (a->addr >> 16) & 0xff,
                      (a->addr >> 8) & 0xff, a->addr & 0xff, a->len);
    }
    if (ifc->dev_class->format) {
        hs_str_t drv = {0};
        ifc->dev_class->format(ifc, &drv);
        if (drv.len)
            hs_str_printf(out, "  %s%s", hs_str_cstr(&drv), drv.s[drv.len - 1] == '\n' ? "" : "\n");
        hs_str_free(&drv);
    }
    if (counters)
        format_counters(net, ifc, out);
}

void hs_interface_format_all(hs_net_t *net, bool counters, hs_str_t *out)
{
    if (hs_pool_count(&net->interfaces) == 0) {
        hs_str_printf(out, "no interfaces (create one with 'create tap' or "
                           "'create host-interface')\n");
        return;
    }
    hs_pool_foreach(&net->interfaces, i)
    {
        hs_interface_format(net, hs_pool_elt(&net->interfaces, i), counters, out);
    }
}

/* ---- the shared input node body ---- */

typedef struct {
    uint32_t sw_if_index;
    uint32_t queue;
    uint32_t len;
    char name[HS_IF_NAME_MAX];
} device_trace_t;

static uint32_t poll_queue(hs_graph_rt_t *rt, hs_node_rt_t *node, hs_net_worker_t *wk,
                           hs_interface_t *ifc, uint32_t q)
{
    uint32_t bis[HS_FRAME_SIZE];
    uint32_t n = ifc->dev_class->rx(wk, ifc, q, bis, HS_FRAME_SIZE);
    hs_if_counters_t *c = hs_if_counters(ifc, wk);
    for (uint32_t i = 0; i < n; i++) {
        hs_buf_t *b = hs_rt_buf(rt, bis[i]);
        uint32_t len = hs_buf_length(b);
        b->sw_if_index[HS_RX] = ifc->sw_if_index;
        c->rx_packets++;
        c->rx_bytes += len;
        hs_trace_start(rt, node, b);
        if (hs_unlikely(b->flags & HS_BUF_F_TRACED)) {
            device_trace_t t = {.sw_if_index = ifc->sw_if_index, .queue = q, .len = len};
            /* The record holds 48 bytes: a long name is cut, the index tells it apart. */
            snprintf(t.name, sizeof(t.name), "%s", ifc->name);
            hs_trace_add(rt, node, b, &t, sizeof(t));
        }
        hs_pcap_capture(wk->net, wk, ifc->sw_if_index, HS_RX, b);
        hs_node_next(rt, node, 0, bis[i]);
    }
    return n;
}

uint32_t hs_device_input(hs_graph_rt_t *rt, hs_node_rt_t *node, const hs_device_class_t *dc)
{
    hs_net_worker_t *wk = rt->user;
    hs_net_t *net = wk->net;
    uint32_t total = 0;
    for (uint32_t i = 0; i < wk->rx_queues.len; i++) {
        const hs_rx_queue_ref_t *ref = hs_vec_at(&wk->rx_queues, i);
        hs_interface_t *ifc = hs_interface_get(net, ref->sw_if_index);
        if (!ifc || ifc->dev_class != dc || !ifc->admin_up)
            continue;
        total += poll_queue(rt, node, wk, ifc, ref->queue);
    }
    return total;
}

void hs_device_format_trace(char *out, size_t len, const void *data, uint32_t data_len)
{
    device_trace_t t = {0};
    memcpy(&t, data, HS_MIN((size_t)data_len, sizeof(t)));
    t.name[sizeof(t.name) - 1] = '\0';
    snprintf(out, len, "%s (index %u) queue %u: %u bytes", t.name, t.sw_if_index, t.queue, t.len);
}
