/* IPv4 commands: routes, neighbors, and the FIB / neighbor / IP statistics views. */
#include "daemon/hsd.h"
#include "net/arp.h"
#include "net/fib.h"
#include "net/interface.h"
#include "net/ip4.h"

#include <string.h>

static uint32_t prefix_mask(uint8_t len)
{
    return len ? ~0u << (32 - len) : 0;
}

/* "table ID" when present: for add the table is created, for del it must exist. */
static int parse_table(hs_cli_args_t *a, bool create, uint32_t *fib_index)
{
    uint32_t id = 0;
    if (hs_cli_keyword(a, "table") && hs_cli_u32(a, "table id", 0, UINT32_MAX - 1, &id) < 0)
        return -EINVAL;
    hs_net_t *net = hs_cli_daemon(a)->net;
    int fi = create ? hs_fib_table_find_or_create(net, id) : hs_fib_table_find(net, id);
    if (fi < 0 && !create)
        return hs_cli_error(a, fi, "no table %u (see 'show ip fib')", id);
    if (fi < 0)
        return hs_cli_error(a, fi, "cannot create table %u: %s", id, strerror(-fi));
    *fib_index = (uint32_t)fi;
    return 0;
}

/* The interface toward next hop nh when the command did not name one: the connected
 * route that covers it. */
static int resolve_via(hs_cli_args_t *a, uint32_t fib_index, uint32_t nh, uint32_t *sw)
{
    char ip[16];
    const hs_fib_route_t *r = hs_fib_lookup(hs_cli_daemon(a)->net, fib_index, nh);
    hs_cli_fmt_ip4(nh, ip);
    if (r && r->type == HS_FIB_CONNECTED) {
        *sw = r->sw_if_index;
        return 0;
    }
    if (r && r->type == HS_FIB_LOCAL)
        return hs_cli_error(a, -EINVAL, "next hop %s is one of our own addresses", ip);
    return hs_cli_error(a, -ENETUNREACH,
                        "next hop %s is not on a connected subnet: name the interface "
                        "('via %s NAME') or give an interface an address in its subnet",
                        ip, ip);
}

/* After the prefix of "ip route add": via A.B.C.D [NAME] | via NAME | drop. */
static int parse_path(hs_cli_args_t *a, hs_fib_route_t *r, bool *need_resolve)
{
    *need_resolve = false;
    if (hs_cli_keyword(a, "drop")) {
        r->type = HS_FIB_DROP;
        return 0;
    }
    if (!hs_cli_keyword(a, "via"))
        return hs_cli_error(a, -EINVAL,
                            "say 'via A.B.C.D [NAME]', 'via NAME' or 'drop' "
                            "(usage: %s %s)",
                            a->cmd->path, a->cmd->usage);
    const char *w = hs_cli_peek(a);
    if (w && hs_cli_parse_ip4(w, &r->next_hop) == 0) {
        a->pos++;
        r->type = HS_FIB_VIA;
        const char *n = hs_cli_peek(a);
        if (n && strcmp(n, "table") != 0)
            return hs_cli_interface(a, "interface name", &r->sw_if_index);
        *need_resolve = true;
        return 0;
    }
    r->type = HS_FIB_CONNECTED; /* via an interface: the destination is on-link there */
    return hs_cli_interface(a, "next hop or interface", &r->sw_if_index);
}

static int route_add(hs_cli_args_t *a, uint32_t prefix, uint8_t len)
{
    hs_fib_route_t r = {.prefix = prefix, .len = len};
    uint32_t fib_index;
    bool resolve;
    if (parse_path(a, &r, &resolve) < 0 || parse_table(a, true, &fib_index) < 0 ||
        hs_cli_end(a) < 0)
        return -EINVAL;
    if (resolve && resolve_via(a, fib_index, r.next_hop, &r.sw_if_index) < 0)
        return -EINVAL;
    int rv = hs_fib_add(hs_cli_daemon(a)->net, fib_index, &r);
    return rv < 0 ? hs_cli_error(a, rv, "cannot add the route: %s", strerror(-rv)) : 0;
}

static int route_del(hs_cli_args_t *a, uint32_t prefix, uint8_t len)
{
    uint32_t fib_index, ignored;
    char ip[16];
    /* "via ..." may be repeated from the add command; the prefix names the route. */
    if (hs_cli_keyword(a, "via")) {
        const char *w = hs_cli_word(a, "next hop");
        if (!w)
            return -EINVAL;
        const char *n = hs_cli_peek(a);
        if (n && strcmp(n, "table") != 0 && hs_cli_interface(a, "interface name", &ignored) < 0)
            return -EINVAL;
    } else {
        hs_cli_keyword(a, "drop");
    }
    if (parse_table(a, false, &fib_index) < 0 || hs_cli_end(a) < 0)
        return -EINVAL;
    int rv = hs_fib_del(hs_cli_daemon(a)->net, fib_index, prefix, len);
    if (rv == -ENOENT)
        return hs_cli_error(a, rv, "no route %s/%u in table %u (see 'show ip fib')",
                            hs_cli_fmt_ip4(prefix, ip), len,
                            hs_fib_table_id(hs_cli_daemon(a)->net, fib_index));
    return rv < 0 ? hs_cli_error(a, rv, "cannot delete the route: %s", strerror(-rv)) : 0;
}

static int cmd_ip_route(hs_cli_args_t *a, bool add)
{
    uint32_t prefix;
    uint8_t len;
    if (hs_cli_prefix(a, "prefix", &prefix, &len) < 0)
        return -EINVAL;
    prefix &= prefix_mask(len);
    return add ? route_add(a, prefix, len) : route_del(a, prefix, len);
}

static int cmd_ip_route_add(hs_cli_args_t *a)
{
    return cmd_ip_route(a, true);
}

static int cmd_ip_route_del(hs_cli_args_t *a)
{
    return cmd_ip_route(a, false);
}

static int cmd_set_neighbor(hs_cli_args_t *a)
{
    uint32_t sw, ip;
    uint8_t mac[6];
    char ips[16];
    if (hs_cli_interface(a, "interface name", &sw) < 0 || hs_cli_ip4(a, "address", &ip) < 0 ||
        hs_cli_mac(a, "MAC address", mac) < 0 || hs_cli_end(a) < 0)
        return -EINVAL;
    int rv = hs_arp_add_static(hs_cli_daemon(a)->net, sw, ip, mac);
    return rv < 0 ? hs_cli_error(a, rv, "%s: %s", hs_cli_fmt_ip4(ip, ips), strerror(-rv)) : 0;
}

static int cmd_neighbor_del(hs_cli_args_t *a)
{
    uint32_t sw, ip;
    char ips[16];
    if (hs_cli_interface(a, "interface name", &sw) < 0 || hs_cli_ip4(a, "address", &ip) < 0 ||
        hs_cli_end(a) < 0)
        return -EINVAL;
    int rv = hs_arp_del(hs_cli_daemon(a)->net, sw, ip);
    if (rv == -ENOENT)
        return hs_cli_error(a, rv, "no neighbor %s on that interface (see 'show ip neighbors')",
                            hs_cli_fmt_ip4(ip, ips));
    return rv < 0 ? hs_cli_error(a, rv, "%s: %s", hs_cli_fmt_ip4(ip, ips), strerror(-rv)) : 0;
}

static int cmd_show_fib(hs_cli_args_t *a)
{
    if (hs_cli_end(a) < 0)
        return -EINVAL;
    hs_fib_format(hs_cli_daemon(a)->net, a->out);
    return 0;
}

static int cmd_show_neighbors(hs_cli_args_t *a)
{
    if (hs_cli_end(a) < 0)
        return -EINVAL;
    hs_arp_format(hs_cli_daemon(a)->net, a->out);
    return 0;
}

static int cmd_show_ip_stats(hs_cli_args_t *a)
{
    if (hs_cli_end(a) < 0)
        return -EINVAL;
    hs_ip4_format(hs_cli_daemon(a)->net, a->out);
    return 0;
}

static const hs_cli_cmd_t ip_cmds[] = {
    {"ip route add", "A.B.C.D/LEN via A.B.C.D [NAME] | via NAME | drop [table ID]",
     "add a static route (through a gateway, on-link through an interface, or a blackhole)",
     cmd_ip_route_add},
    {"ip route del", "A.B.C.D/LEN [table ID]", "delete a route", cmd_ip_route_del},
    {"set ip neighbor", "NAME A.B.C.D xx:xx:xx:xx:xx:xx", "add a static ARP entry",
     cmd_set_neighbor},
    {"ip neighbor del", "NAME A.B.C.D", "delete an ARP entry", cmd_neighbor_del},
    {"show ip fib", "", "the routes of every FIB table", cmd_show_fib},
    {"show ip neighbors", "", "the ARP table", cmd_show_neighbors},
    {"show ip stats", "", "reassembly and fragmentation counters", cmd_show_ip_stats},
};

int hs_cli_ip_register(hs_cli_t *cli)
{
    return hs_cli_register(cli, ip_cmds, HS_ARRAY_LEN(ip_cmds));
}
