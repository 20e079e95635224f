/* Packet trace and pcap capture commands: trace add / show trace / clear trace, and
 * pcap trace ... / pcap trace off / show pcap. */
#include "daemon/hsd.h"
#include "net/interface.h"
#include "net/pcap.h"

#include <stdio.h>
#include <string.h>

#define TRACE_MAX_PACKETS 10000
#define PCAP_DEFAULT_MAX  1000
#define PCAP_DEFAULT_FILE "/tmp/hsd.pcap"

static void list_input_nodes(hs_net_t *net, hs_str_t *out)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < net->graph.nodes.len; i++) {
        const hs_node_reg_t *reg = hs_graph_node(&net->graph, i)->reg;
        if (reg->type == HS_NODE_INPUT)
            hs_str_printf(out, "%s%s", n++ ? ", " : "", reg->name);
    }
}

static int cmd_trace_add(hs_cli_args_t *a)
{
    hs_net_t *net = hs_cli_daemon(a)->net;
    const char *name = hs_cli_word(a, "input node name");
    uint32_t count;
    if (!name || hs_cli_u32(a, "packet count", 1, TRACE_MAX_PACKETS, &count) < 0 ||
        hs_cli_end(a) < 0)
        return -EINVAL;
    int ni = hs_graph_node_index(&net->graph, name);
    if (ni < 0 || hs_graph_node(&net->graph, (uint32_t)ni)->reg->type != HS_NODE_INPUT) {
        hs_str_t nodes = {0};
        list_input_nodes(net, &nodes);
        hs_cli_error(a, -EINVAL, "'%s' is not an input node (trace starts at one of: %s)", name,
                     hs_str_cstr(&nodes));
        hs_str_free(&nodes);
        return -EINVAL;
    }
    for (uint32_t w = 0; w < net->n_workers; w++)
        hs_net_worker(net, w)->rt.nodes[ni].trace_budget += count;
    return 0;
}

static int cmd_show_trace(hs_cli_args_t *a)
{
    if (hs_cli_end(a) < 0)
        return -EINVAL;
    hs_net_t *net = hs_cli_daemon(a)->net;
    uint32_t traced = 0;
    for (uint32_t w = 0; w < net->n_workers; w++) {
        hs_graph_rt_t *rt = &hs_net_worker(net, w)->rt;
        if (!rt->n_traced)
            continue;
        traced += rt->n_traced;
        hs_cli_printf(a, "------------------- worker %u -------------------\n", w);
        hs_trace_format(rt, a->out);
    }
    if (!traced)
        hs_cli_printf(a, "no packets traced (start with 'trace add tap-input 10')\n");
    return 0;
}

static int cmd_clear_trace(hs_cli_args_t *a)
{
    if (hs_cli_end(a) < 0)
        return -EINVAL;
    hs_net_t *net = hs_cli_daemon(a)->net;
    for (uint32_t w = 0; w < net->n_workers; w++)
        hs_trace_clear(&hs_net_worker(net, w)->rt);
    return 0;
}

/* A relative path goes under /tmp: hsd's working directory is not the user's. */
static int set_path(hs_cli_args_t *a, hs_pcap_config_t *cfg)
{
    const char *p = hs_cli_word(a, "file path");
    if (!p)
        return -EINVAL;
    int n = snprintf(cfg->path, sizeof(cfg->path), "%s%s", p[0] == '/' ? "" : "/tmp/", p);
    if (n < 0 || (size_t)n >= sizeof(cfg->path))
        return hs_cli_error(a, -ENAMETOOLONG, "file path '%s' is too long (at most %zu)", p,
                            sizeof(cfg->path) - 1);
    return 0;
}

static int parse_pcap(hs_cli_args_t *a, hs_pcap_config_t *cfg)
{
    while (!hs_cli_at_end(a)) {
        int rv = 0;
        if (hs_cli_keyword(a, "rx"))
            cfg->rx = true;
        else if (hs_cli_keyword(a, "tx"))
            cfg->tx = true;
        else if (hs_cli_keyword(a, "max"))
            rv = hs_cli_u32(a, "packet count", 1, UINT32_MAX, &cfg->max_packets);
        else if (hs_cli_keyword(a, "intfc") || hs_cli_keyword(a, "interface")) {
            if (!hs_cli_keyword(a, "any"))
                rv = hs_cli_interface(a, "interface name", &cfg->sw_if_index);
            else
                cfg->sw_if_index = UINT32_MAX;
        } else if (hs_cli_keyword(a, "file"))
            rv = set_path(a, cfg);
        else
            rv = hs_cli_end(a);
        if (rv < 0)
            return rv;
    }
    if (!cfg->rx && !cfg->tx)
        cfg->rx = cfg->tx = true;
    return 0;
}

static int cmd_pcap_trace(hs_cli_args_t *a)
{
    hs_pcap_config_t cfg = {.max_packets = PCAP_DEFAULT_MAX, .sw_if_index = UINT32_MAX};
    snprintf(cfg.path, sizeof(cfg.path), "%s", PCAP_DEFAULT_FILE);
    char err[256] = "";
    if (parse_pcap(a, &cfg) < 0)
        return -EINVAL;
    int rv = hs_pcap_start(hs_cli_daemon(a)->net, &cfg, err, sizeof(err));
    if (rv < 0) {
        const char *e = strncmp(err, "pcap: ", 6) == 0 ? err + 6 : err;
        return hs_cli_error(a, rv, "%s", e[0] ? e : strerror(-rv));
    }
    hs_cli_printf(a,
                  "capturing %s%s%s on %s to %s (at most %u packets; stop with 'pcap trace "
                  "off')\n",
                  cfg.rx ? "rx" : "", cfg.rx && cfg.tx ? " and " : "", cfg.tx ? "tx" : "",
                  cfg.sw_if_index == UINT32_MAX
                      ? "every interface"
                      : hs_interface_get(hs_cli_daemon(a)->net, cfg.sw_if_index)->name,
                  cfg.path, cfg.max_packets);
    return 0;
}

static int cmd_pcap_off(hs_cli_args_t *a)
{
    uint32_t written = 0;
    if (hs_cli_end(a) < 0)
        return -EINVAL;
    int rv = hs_pcap_stop(hs_cli_daemon(a)->net, &written);
    if (rv == -ENOENT)
        return hs_cli_error(a, rv,
                            "no capture is running (start one with 'pcap trace rx tx "
                            "max N intfc NAME|any file PATH')");
    if (rv < 0)
        return hs_cli_error(a, rv, "the capture stopped early after %u packets: %s", written,
                            strerror(-rv));
    hs_cli_printf(a, "capture stopped: %u packets written\n", written);
    return 0;
}

static int cmd_show_pcap(hs_cli_args_t *a)
{
    if (hs_cli_end(a) < 0)
        return -EINVAL;
    hs_pcap_format(hs_cli_daemon(a)->net, a->out);
    return 0;
}

static const hs_cli_cmd_t trace_cmds[] = {
    {"trace add", "INPUT-NODE N", "trace the next N packets from an input node (per worker)",
     cmd_trace_add},
    {"show trace", "", "what the traced packets did, node by node", cmd_show_trace},
    {"clear trace", "", "forget traced packets and stop tracing", cmd_clear_trace},
    {"pcap trace", "[rx] [tx] [max N] [intfc NAME|any] [file PATH]",
     "capture frames to a pcap file (default: rx and tx, 1000 packets, any, /tmp/hsd.pcap)",
     cmd_pcap_trace},
    {"pcap trace off", "", "stop the capture and close the file", cmd_pcap_off},
    {"show pcap", "", "the capture in progress", cmd_show_pcap},
};

int hs_cli_trace_register(hs_cli_t *cli)
{
    return hs_cli_register(cli, trace_cmds, HS_ARRAY_LEN(trace_cmds));
}
