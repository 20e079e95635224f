/* Interface commands: create tap / host-interface, delete, set state / ip address / mtu /
 * table, show interface. */
#include "daemon/hsd.h"
#include "drivers/kernel_if.h"
#include "net/devices.h"
#include "net/interface.h"
#include "net/ip4.h"

#include <stdio.h>
#include <string.h>

#define KERNEL_IFNAME_MAX 15 /* IFNAMSIZ - 1 */

int hs_cli_interface(hs_cli_args_t *a, const char *what, uint32_t *sw_if_index)
{
    const char *name = hs_cli_word(a, what);
    if (!name)
        return -EINVAL;
    hs_interface_t *ifc = hs_interface_by_name(hs_cli_daemon(a)->net, name);
    if (!ifc)
        return hs_cli_error(a, -ENOENT, "no interface named '%s' (see 'show interface')", name);
    *sw_if_index = ifc->sw_if_index;
    return 0;
}

/* The interface name, for messages. */
static const char *if_name(hs_cli_args_t *a, uint32_t sw_if_index)
{
    hs_interface_t *ifc = hs_interface_get(hs_cli_daemon(a)->net, sw_if_index);
    return ifc ? ifc->name : "?";
}

static int driver_error(hs_cli_args_t *a, int rv, const char *err, const char *what,
                        const char *name)
{
    if (err[0])
        return hs_cli_error(a, rv, "%s", err);
    if (rv == -EEXIST)
        return hs_cli_error(a, rv, "%s '%s' already exists (see 'show interface')", what, name);
    return hs_cli_error(a, rv, "%s %s: %s", what, name, strerror(-rv));
}

static int cmd_create_tap(hs_cli_args_t *a)
{
    hs_tap_if_config_t cfg = {.n_queues = 1};
    uint8_t mac[6];
    char err[256] = "";
    hs_cli_keyword(a, "name");
    if (!(cfg.name = hs_cli_word(a, "tap name")))
        return -EINVAL;
    if (strlen(cfg.name) > KERNEL_IFNAME_MAX)
        return hs_cli_error(a, -EINVAL, "'%s' is too long for a tap (at most %d characters)",
                            cfg.name, KERNEL_IFNAME_MAX);
    while (!hs_cli_at_end(a)) {
        int rv = 0;
        if (hs_cli_keyword(a, "host-ip")) {
            rv = hs_cli_prefix(a, "host-ip address", &cfg.host_addr, &cfg.host_len);
        } else if (hs_cli_keyword(a, "queues")) {
            rv = hs_cli_u32(a, "number of queues", 1, HS_IF_MAX_QUEUES, &cfg.n_queues);
        } else if (hs_cli_keyword(a, "mac")) {
            rv = hs_cli_mac(a, "MAC address", mac);
            cfg.mac = mac;
        } else {
            rv = hs_cli_end(a);
        }
        if (rv < 0)
            return rv;
    }
    uint32_t sw;
    int rv = hs_tap_if_create(hs_cli_daemon(a)->net, &cfg, &sw, err, sizeof(err));
    if (rv < 0)
        return driver_error(a, rv, err, "tap", cfg.name);
    hs_cli_printf(a, "%s\n", if_name(a, sw));
    return 0;
}

static int cmd_create_host_if(hs_cli_args_t *a)
{
    uint8_t mac[6];
    const uint8_t *macp = NULL;
    char err[256] = "";
    hs_cli_keyword(a, "name");
    const char *ifname = hs_cli_word(a, "kernel interface name");
    if (!ifname)
        return -EINVAL;
    if (hs_cli_keyword(a, "mac")) {
        if (hs_cli_keyword(a, "kernel")) { /* share the kernel interface's MAC */
            int rv = hs_kif_get_mac(ifname, mac);
            if (rv < 0)
                return hs_cli_error(a, rv,
                                    "host-interface %s: cannot read its MAC: %s (is the "
                                    "name right? see 'ip link')",
                                    ifname, strerror(-rv));
        } else if (hs_cli_mac(a, "MAC address or 'kernel'", mac) < 0) {
            return -EINVAL;
        }
        macp = mac;
    }
    if (hs_cli_end(a) < 0)
        return -EINVAL;
    uint32_t sw;
    int rv = hs_af_packet_if_create(hs_cli_daemon(a)->net, ifname, macp, &sw, err, sizeof(err));
    if (rv < 0)
        return driver_error(a, rv, err, "host-interface", ifname);
    hs_cli_printf(a, "%s\n", if_name(a, sw));
    return 0;
}

static int cmd_delete_if(hs_cli_args_t *a)
{
    uint32_t sw;
    if (hs_cli_interface(a, "interface name", &sw) < 0 || hs_cli_end(a) < 0)
        return -EINVAL;
    int rv = hs_interface_delete(hs_cli_daemon(a)->net, sw);
    return rv < 0 ? hs_cli_error(a, rv, "%s", strerror(-rv)) : 0;
}

static int cmd_set_state(hs_cli_args_t *a)
{
    uint32_t sw;
    if (hs_cli_interface(a, "interface name", &sw) < 0)
        return -EINVAL;
    bool up = hs_cli_keyword(a, "up");
    if (!up && !hs_cli_keyword(a, "down")) {
        const char *w = hs_cli_peek(a);
        return hs_cli_error(a, -EINVAL, "%s%s%s: say 'up' or 'down'", w ? "'" : "missing state",
                            w ? w : "", w ? "' is not a state" : "");
    }
    if (hs_cli_end(a) < 0)
        return -EINVAL;
    int rv = hs_interface_set_admin(hs_cli_daemon(a)->net, sw, up);
    if (rv < 0)
        return hs_cli_error(a, rv, "%s: cannot set it %s: %s", if_name(a, sw), up ? "up" : "down",
                            strerror(-rv));
    return 0;
}

static int cmd_set_ip(hs_cli_args_t *a)
{
    uint32_t sw, addr;
    uint8_t len;
    char ip[16];
    bool del = hs_cli_keyword(a, "del");
    if (hs_cli_interface(a, "interface name", &sw) < 0 ||
        hs_cli_prefix(a, "address", &addr, &len) < 0)
        return -EINVAL;
    del = hs_cli_keyword(a, "del") || del;
    if (hs_cli_end(a) < 0)
        return -EINVAL;
    int rv = hs_ip4_interface_address(hs_cli_daemon(a)->net, sw, addr, len, del);
    const char *n = if_name(a, sw);
    hs_cli_fmt_ip4(addr, ip);
    if (rv == -EEXIST)
        return hs_cli_error(a, rv,
                            "%s already has %s/%u (or it conflicts with one of its "
                            "addresses; see 'show interface %s')",
                            n, ip, len, n);
    if (rv == -ENOENT)
        return hs_cli_error(a, rv, "%s has no address %s/%u (see 'show interface %s')", n, ip, len,
                            n);
    if (rv == -EINVAL)
        return hs_cli_error(a, rv,
                            "%s/%u is not a usable interface address (0, multicast and "
                            "broadcast addresses are not)",
                            ip, len);
    if (rv < 0)
        return hs_cli_error(a, rv, "%s %s/%u: %s", n, ip, len, strerror(-rv));
    return 0;
}

static int cmd_set_mtu(hs_cli_args_t *a)
{
    uint32_t sw, mtu;
    if (hs_cli_interface(a, "interface name", &sw) < 0 ||
        hs_cli_u32(a, "MTU", 576, 9000, &mtu) < 0 || hs_cli_end(a) < 0)
        return -EINVAL;
    int rv = hs_interface_set_mtu(hs_cli_daemon(a)->net, sw, mtu);
    if (rv == -EMSGSIZE) { /* a host-interface: "host-" and the kernel interface's name */
        const char *name = if_name(a, sw), *kif = strncmp(name, "host-", 5) ? name : name + 5;
        return hs_cli_error(a, rv,
                            "%s: the kernel interface it is attached to carries less than %u "
                            "bytes: raise its MTU first (ip link set %s mtu %u)",
                            name, mtu, kif, mtu);
    }
    return rv < 0 ? hs_cli_error(a, rv, "%s: %s", if_name(a, sw), strerror(-rv)) : 0;
}

static int cmd_set_table(hs_cli_args_t *a)
{
    uint32_t sw, id;
    if (hs_cli_interface(a, "interface name", &sw) < 0 ||
        hs_cli_u32(a, "table id", 0, UINT32_MAX - 1, &id) < 0 || hs_cli_end(a) < 0)
        return -EINVAL;
    int rv = hs_interface_set_table(hs_cli_daemon(a)->net, sw, id);
    if (rv < 0)
        return hs_cli_error(a, rv, "%s: cannot move it to table %u: %s", if_name(a, sw), id,
                            strerror(-rv));
    return 0;
}

static int cmd_show_if(hs_cli_args_t *a)
{
    uint32_t sw = UINT32_MAX;
    bool counters = hs_cli_keyword(a, "counters");
    if (!hs_cli_at_end(a) && !counters && hs_cli_interface(a, "interface name", &sw) < 0)
        return -EINVAL;
    counters = hs_cli_keyword(a, "counters") || counters;
    if (hs_cli_end(a) < 0)
        return -EINVAL;
    hs_daemon_t *d = hs_cli_daemon(a);
    if (sw == UINT32_MAX) {
        hs_interface_format_all(d->net, counters, a->out);
        return 0;
    }
    hs_interface_format(d->net, hs_interface_get(d->net, sw), counters, a->out);
    return 0;
}

static const hs_cli_cmd_t if_cmds[] = {
    {"create tap", "name NAME [host-ip A.B.C.D/LEN] [queues N] [mac xx:xx:xx:xx:xx:xx]",
     "create a tap interface (kernel side NAME, optionally given an address)", cmd_create_tap},
    {"create host-interface", "name IFNAME [mac xx:xx:xx:xx:xx:xx|kernel]",
     "attach to kernel interface IFNAME through af_packet (named host-IFNAME)", cmd_create_host_if},
    {"delete interface", "NAME", "delete an interface (its addresses and routes go too)",
     cmd_delete_if},
    {"set interface state", "NAME up|down", "set the admin state", cmd_set_state},
    {"set interface ip address", "NAME A.B.C.D/LEN [del]", "add or remove an IPv4 address",
     cmd_set_ip},
    {"set interface mtu", "NAME 576..9000", "set the IP MTU", cmd_set_mtu},
    {"set interface table", "NAME ID", "move the interface to FIB table ID", cmd_set_table},
    {"show interface", "[NAME] [counters]", "interfaces: state, addresses, driver, counters",
     cmd_show_if},
};

int hs_cli_if_register(hs_cli_t *cli)
{
    return hs_cli_register(cli, if_cmds, HS_ARRAY_LEN(if_cmds));
}
