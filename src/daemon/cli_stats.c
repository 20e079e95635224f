/* Statistics commands: show/clear runtime (per-node cost), show/clear errors (drop
 * reasons), show buffers, show workers, show version. */
#include "daemon/hsd.h"
#include "hs/ctl.h"
#include "net/handoff.h"
#include "net/interface.h"

#include <stdio.h>
#include <string.h>

static const char *thread_name(const hs_daemon_t *d, uint32_t i, char *buf, size_t len)
{
    if (d->opts.n_workers == 0)
        snprintf(buf, len, "main (data plane on the main thread)");
    else
        snprintf(buf, len, "hs-wk%u", i);
    return buf;
}

static void runtime_worker(hs_cli_args_t *a, hs_net_worker_t *wk, const hs_wthread_t *t)
{
    char name[64];
    hs_daemon_t *d = hs_cli_daemon(a);
    hs_cli_printf(a, "Thread %u %s: %lu loops, %lu sleeps, %lu packets received\n", wk->index,
                  thread_name(d, wk->index, name, sizeof(name)), (unsigned long)t->loops,
                  (unsigned long)t->sleeps, (unsigned long)t->packets);
    hs_cli_printf(a, "  %-20s %12s %12s %12s %14s\n", "Name", "Calls", "Vectors", "Vectors/Call",
                  "Clocks/Packet");
    for (uint32_t i = 0; i < wk->rt.n_nodes; i++) {
        const hs_node_rt_t *nr = &wk->rt.nodes[i];
        if (nr->calls == 0)
            continue;
        hs_cli_printf(a, "  %-20s %12lu %12lu %12.2f %14.1f\n", nr->node->reg->name,
                      (unsigned long)nr->calls, (unsigned long)nr->vectors,
                      (double)nr->vectors / (double)nr->calls,
                      nr->vectors ? (double)nr->clocks / (double)nr->vectors : 0.0);
    }
}

static int cmd_show_runtime(hs_cli_args_t *a)
{
    if (hs_cli_end(a) < 0)
        return -EINVAL;
    hs_daemon_t *d = hs_cli_daemon(a);
    for (uint32_t w = 0; w < d->net->n_workers; w++)
        runtime_worker(a, hs_net_worker(d->net, w), &d->workers.threads[w]);
    return 0;
}

static int cmd_clear_runtime(hs_cli_args_t *a)
{
    if (hs_cli_end(a) < 0)
        return -EINVAL;
    hs_daemon_t *d = hs_cli_daemon(a);
    for (uint32_t w = 0; w < d->net->n_workers; w++) {
        hs_net_worker_t *wk = hs_net_worker(d->net, w);
        for (uint32_t i = 0; i < wk->rt.n_nodes; i++)
            wk->rt.nodes[i].calls = wk->rt.nodes[i].vectors = wk->rt.nodes[i].clocks = 0;
        hs_wthread_t *t = &d->workers.threads[w];
        t->loops = t->sleeps = t->packets = 0;
    }
    return 0;
}

static int cmd_show_errors(hs_cli_args_t *a)
{
    if (hs_cli_end(a) < 0)
        return -EINVAL;
    hs_net_t *net = hs_cli_daemon(a)->net;
    uint32_t shown = 0;
    hs_graph_t *g = &net->graph;
    for (uint32_t n = 0; n < g->nodes.len; n++) {
        const hs_node_reg_t *reg = hs_graph_node(g, n)->reg;
        for (uint16_t e = 0; e < reg->n_errors; e++) {
            uint64_t sum = 0;
            for (uint32_t w = 0; w < net->n_workers; w++)
                sum += hs_net_worker(net, w)->rt.nodes[n].errors[e];
            if (!sum)
                continue;
            if (shown++ == 0)
                hs_cli_printf(a, "%12s  %-20s %s\n", "Count", "Node", "Reason");
            hs_cli_printf(a, "%12lu  %-20s %s\n", (unsigned long)sum, reg->name, reg->errors[e]);
        }
    }
    if (!shown)
        hs_cli_printf(a, "no errors counted\n");
    return 0;
}

static int cmd_clear_errors(hs_cli_args_t *a)
{
    if (hs_cli_end(a) < 0)
        return -EINVAL;
    hs_net_t *net = hs_cli_daemon(a)->net;
    for (uint32_t w = 0; w < net->n_workers; w++) {
        hs_graph_rt_t *rt = &hs_net_worker(net, w)->rt;
        for (uint32_t n = 0; n < rt->n_nodes; n++)
            memset(rt->nodes[n].errors, 0,
                   HS_MAX(rt->nodes[n].node->reg->n_errors, 1) * sizeof(uint64_t));
    }
    return 0;
}

static int cmd_show_buffers(hs_cli_args_t *a)
{
    if (hs_cli_end(a) < 0)
        return -EINVAL;
    hs_net_t *net = hs_cli_daemon(a)->net;
    uint32_t in_pool = hs_buf_pool_n_free(&net->bufs), cached = 0;
    for (uint32_t w = 0; w < net->n_workers; w++)
        cached += hs_net_worker(net, w)->bufs.n;
    uint32_t total = net->bufs.n_buffers;
    hs_cli_printf(a, "buffers: %u of %zu bytes (%u data)\n", total, sizeof(hs_buf_t),
                  HS_BUF_DATA_SIZE);
    hs_cli_printf(a, "  free in the pool      %u\n", in_pool);
    for (uint32_t w = 0; w < net->n_workers; w++)
        hs_cli_printf(a, "  cached by worker %-4u %u\n", w, hs_net_worker(net, w)->bufs.n);
    hs_cli_printf(a, "  in use                %u\n", total - in_pool - cached);
    hs_cli_printf(a, "  allocation failures   %lu\n", (unsigned long)net->bufs.alloc_failures);
    return 0;
}

static void worker_queues(hs_cli_args_t *a, hs_net_worker_t *wk)
{
    uint32_t shown = 0;
    for (uint32_t i = 0; i < wk->rx_queues.len; i++) {
        const hs_rx_queue_ref_t *r = hs_vec_at(&wk->rx_queues, i);
        hs_interface_t *ifc = hs_interface_get(wk->net, r->sw_if_index);
        if (ifc)
            hs_cli_printf(a, "%s%s/%u", shown++ ? ", " : " ", ifc->name, r->queue);
    }
    hs_cli_printf(a, "%s\n", shown ? "" : " none");
}

static int cmd_show_workers(hs_cli_args_t *a)
{
    if (hs_cli_end(a) < 0)
        return -EINVAL;
    hs_daemon_t *d = hs_cli_daemon(a);
    char name[64];
    hs_cli_printf(a, "main thread: control plane%s\n",
                  d->opts.n_workers ? "" : " and data plane (--workers 0)");
    for (uint32_t w = 0; w < d->net->n_workers; w++) {
        const hs_wthread_t *t = &d->workers.threads[w];
        hs_cli_printf(a, "worker %u (%s): %s, %u rx fds%s\n", w,
                      thread_name(d, w, name, sizeof(name)),
                      d->opts.poll_mode ? "polling (--poll)" : "interrupt/adaptive polling",
                      t->rx_fds.len, t->must_poll ? ", a polled-only queue" : "");
        hs_cli_printf(a,
                      "  loops %lu  sleeps %lu  packets %lu\n  rx queues:", (unsigned long)t->loops,
                      (unsigned long)t->sleeps, (unsigned long)t->packets);
        worker_queues(a, hs_net_worker(d->net, w));
        for (uint32_t to = 0; d->net->handoff && to < d->net->n_workers; to++)
            if (to != w)
                hs_cli_printf(a, "  hand-off to worker %u: %u queued, %lu refused (ring full)\n",
                              to, hs_handoff_queued(d->net, w, to),
                              (unsigned long)hs_handoff_refused(d->net, w, to));
    }
    return 0;
}

static int cmd_show_version(hs_cli_args_t *a)
{
    if (hs_cli_end(a) < 0)
        return -EINVAL;
    hs_daemon_t *d = hs_cli_daemon(a);
    uint64_t up = (hs_clock_mono_ns() - d->start_ns) / HS_NS_PER_S;
    hs_cli_printf(a, "hsd %s, up %lu s, %u worker thread%s\n", HS_VERSION, (unsigned long)up,
                  d->opts.n_workers, d->opts.n_workers == 1 ? "" : "s");
    return 0;
}

static const hs_cli_cmd_t stats_cmds[] = {
    {"show runtime", "", "per worker, per node: calls, vectors, vectors/call, clocks/packet",
     cmd_show_runtime},
    {"clear runtime", "", "zero the show runtime counters", cmd_clear_runtime},
    {"show errors", "", "packets dropped, per node and reason (nonzero only)", cmd_show_errors},
    {"clear errors", "", "zero the show errors counters", cmd_clear_errors},
    {"show buffers", "", "the packet buffer pool", cmd_show_buffers},
    {"show workers", "", "data-plane threads and the rx queues each polls", cmd_show_workers},
    {"show version", "", "version and uptime", cmd_show_version},
};

int hs_cli_stats_register(hs_cli_t *cli)
{
    return hs_cli_register(cli, stats_cmds, HS_ARRAY_LEN(stats_cmds));
}
