/* Creating and polling a packet-path instance: every layer registers its nodes, the graph
 * is finalized, and one runtime per worker is set up. */
#include "net/net.h"
#include "net/arp.h"
#include "net/ethernet.h"
#include "net/interface.h"
#include "net/ip4.h"
#include "net/pcap.h"
#include "net/devices.h"
#include "net/handoff.h"
#include "infra/rand.h"
#include "infra/log.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define NET_DEFAULT_BUFFERS 32768

static int net_register_layers(hs_net_t *net, const hs_net_config_t *cfg)
{
    int rv;
    if (cfg->register_nodes && (rv = cfg->register_nodes(net, cfg->register_ctx)) < 0)
        return rv;
    /* handoff-input before the devices' input nodes: input nodes are polled in index
     * order, and segments already waiting in a ring go before newer ones of the same flow. */
    if ((rv = hs_ethernet_init(net)) < 0 || (rv = hs_arp_init(net)) < 0 ||
        (rv = hs_ip4_init(net)) < 0 || (rv = hs_handoff_register_node(net)) < 0 ||
        (rv = hs_devices_init(net)) < 0)
        return rv;
    if ((rv = hs_graph_finalize(&net->graph)) < 0)
        return rv;
    const char *names[] = {"ethernet-input", "arp-input",   "ip4-input",
                           "ip4-lookup",     "ip4-rewrite", "interface-output"};
    uint32_t *slots[] = {&net->nodes.ethernet_input, &net->nodes.arp_input,
                         &net->nodes.ip4_input,      &net->nodes.ip4_lookup,
                         &net->nodes.ip4_rewrite,    &net->nodes.interface_output};
    for (size_t i = 0; i < HS_ARRAY_LEN(names); i++) {
        int ni = hs_graph_node_index(&net->graph, names[i]);
        if (ni < 0) {
            HS_LOG_ERR("net", "node %s is missing from the graph", names[i]);
            return -ENOENT;
        }
        *slots[i] = (uint32_t)ni;
    }
    return 0;
}

static int net_worker_init(hs_net_t *net, uint32_t i)
{
    hs_net_worker_t *wk = &net->workers[i];
    wk->net = net;
    wk->index = i;
    hs_buf_cache_init(&wk->bufs, &net->bufs);
    hs_vec_init(&wk->rx_queues, sizeof(hs_rx_queue_ref_t));
    int rv = hs_graph_rt_init(&wk->rt, &net->graph, &wk->bufs, wk);
    if (rv < 0)
        return rv;
    return hs_ip4_worker_init(wk);
}

/* The flow hash key: from the configured seed (replayable), else random. */
static void flow_key_init(hs_net_t *net, uint64_t seed)
{
    if (!seed && getrandom(net->flow_key, sizeof(net->flow_key), GRND_NONBLOCK) ==
                     (ssize_t)sizeof(net->flow_key))
        return;
    uint64_t st = seed ? seed : hs_clock_mono_ns(), k[2];
    k[0] = hs_splitmix64(&st); /* two statements: the order is defined */
    k[1] = hs_splitmix64(&st);
    memcpy(net->flow_key, k, sizeof(k));
}

int hs_net_create(hs_net_t **out, const hs_net_config_t *cfg)
{
    if (!cfg->clock || cfg->n_workers == 0)
        return -EINVAL;
    hs_net_t *net = calloc(1, sizeof(*net));
    if (!net)
        return -ENOMEM;
    net->clock = cfg->clock;
    flow_key_init(net, cfg->flow_seed);
    hs_graph_init(&net->graph);
    int rv = hs_pool_init(&net->interfaces, sizeof(hs_interface_t), 0);
    if (rv == 0)
        rv = hs_buf_pool_init(&net->bufs, cfg->n_buffers ? cfg->n_buffers : NET_DEFAULT_BUFFERS);
    if (rv == 0)
        rv = net_register_layers(net, cfg);
    if (rv == 0) {
        net->workers = calloc(cfg->n_workers, sizeof(*net->workers));
        rv = net->workers ? 0 : -ENOMEM;
    }
    for (uint32_t i = 0; rv == 0 && i < cfg->n_workers; i++, net->n_workers++)
        rv = net_worker_init(net, i);
    if (rv == 0)
        rv = hs_handoff_init(net);
    if (rv < 0) {
        HS_LOG_ERR("net", "cannot create the packet path: %s", strerror(-rv));
        hs_net_destroy(net);
        return rv;
    }
    *out = net;
    return 0;
}

void hs_net_destroy(hs_net_t *net)
{
    if (!net)
        return;
    hs_pool_foreach(&net->interfaces, i) hs_interface_delete(net, i);
    hs_handoff_destroy(net);
    for (uint32_t i = 0; i < net->n_workers; i++) {
        hs_net_worker_t *wk = &net->workers[i];
        hs_ip4_worker_destroy(wk);
        hs_graph_rt_destroy(&wk->rt);
        hs_vec_free(&wk->rx_queues);
        hs_buf_cache_flush(&wk->bufs);
    }
    free(net->workers);
    hs_pcap_stop(net, NULL);
    hs_ip4_destroy(net);
    hs_arp_destroy(net);
    hs_pool_destroy(&net->interfaces);
    hs_graph_destroy(&net->graph);
    hs_buf_pool_destroy(&net->bufs);
    free(net);
}

uint32_t hs_net_worker_poll(hs_net_worker_t *wk, uint64_t now_ns)
{
    wk->now_ns = now_ns;
    wk->rt.now_ns = now_ns;
    uint32_t n = 0;
    for (uint32_t i = 0; i < wk->rt.n_nodes; i++)
        if (wk->rt.nodes[i].node->reg->type == HS_NODE_INPUT)
            n += hs_graph_run_input(&wk->rt, i);
    if (now_ns >= wk->next_housekeep_ns) {
        wk->next_housekeep_ns = now_ns + HS_NET_HOUSEKEEP_NS;
        if (wk->index == 0)
            hs_arp_housekeep(wk, now_ns);
        hs_ip4_housekeep(wk, now_ns);
        hs_graph_dispatch(&wk->rt); /* ARP retries and released packets */
    }
    return n;
}
