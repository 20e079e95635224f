/* Interface addresses: each brings a local /32, its connected prefix and (up to /30) the
 * subnet's directed broadcast into the interface's FIB table; source address selection. */
#include "net/arp.h"
#include "net/ip4_internal.h"

#include <string.h>

/* RFC 1122 3.2.1.3: 0, loopback, multicast, class E and limited broadcast are never a
 * host's address; neither is the broadcast address of its own subnet. */
static bool address_valid(uint32_t addr, uint8_t len)
{
    if (addr == 0 || hs_ip4_is_martian_src(addr))
        return false;
    uint32_t host = ~hs_ip4_mask(len);
    return len > 30 || (addr & host) != host;
}

static int find_address(const hs_interface_t *ifc, uint32_t addr)
{
    for (uint32_t i = 0; i < ifc->ip4_addrs.len; i++)
        if (((const hs_ip4_if_addr_t *)hs_vec_at(&ifc->ip4_addrs, i))->addr == addr)
            return (int)i;
    return -1;
}

/* Whether another address of ifc (than index skip) shares prefix/len. */
static bool prefix_shared(const hs_interface_t *ifc, int skip, uint32_t addr, uint8_t len)
{
    uint32_t m = hs_ip4_mask(len);
    for (uint32_t i = 0; i < ifc->ip4_addrs.len; i++) {
        const hs_ip4_if_addr_t *a = hs_vec_at(&ifc->ip4_addrs, i);
        if ((int)i != skip && a->len == len && (a->addr & m) == (addr & m))
            return true;
    }
    return false;
}

static void del_routes(hs_net_t *net, const hs_interface_t *ifc, int idx, uint32_t addr,
                       uint8_t len)
{
    uint32_t fib = ifc->fib_index, m = hs_ip4_mask(len);
    hs_fib_del(net, fib, addr, 32);
    if (len >= 32 || prefix_shared(ifc, idx, addr, len))
        return;
    const hs_fib_route_t *r = hs_fib_get(net, fib, addr & m, len);
    if (r && r->type == HS_FIB_CONNECTED && r->sw_if_index == ifc->sw_if_index)
        hs_fib_del(net, fib, addr, len);
    r = hs_fib_get(net, fib, addr | ~m, 32);
    if (len <= 30 && r && r->type == HS_FIB_BROADCAST && r->sw_if_index == ifc->sw_if_index)
        hs_fib_del(net, fib, addr | ~m, 32);
}

static int add_routes(hs_net_t *net, const hs_interface_t *ifc, uint32_t addr, uint8_t len)
{
    uint32_t fib = ifc->fib_index, sw = ifc->sw_if_index, m = hs_ip4_mask(len);
    const hs_fib_route_t *local = hs_fib_get(net, fib, addr, 32);
    const hs_fib_route_t *conn = len < 32 ? hs_fib_get(net, fib, addr & m, len) : NULL;
    if (local && local->type == HS_FIB_LOCAL)
        return -EEXIST; /* the address is another interface's in this table */
    if (conn && conn->type == HS_FIB_CONNECTED && conn->sw_if_index != sw)
        return -EEXIST; /* the subnet is on another interface */
    hs_fib_route_t r = {.prefix = addr, .len = 32, .type = HS_FIB_LOCAL, .sw_if_index = sw};
    int rv = hs_fib_add(net, fib, &r);
    if (rv == 0 && len < 32) {
        r = (hs_fib_route_t){
            .prefix = addr & m, .len = len, .type = HS_FIB_CONNECTED, .sw_if_index = sw};
        rv = hs_fib_add(net, fib, &r);
    }
    if (rv == 0 && len <= 30) {
        r = (hs_fib_route_t){
            .prefix = addr | ~m, .len = 32, .type = HS_FIB_BROADCAST, .sw_if_index = sw};
        rv = hs_fib_add(net, fib, &r);
    }
    return rv;
}

int hs_ip4_interface_address(hs_net_t *net, uint32_t sw_if_index, uint32_t addr, uint8_t len,
                             bool is_del)
{
    hs_interface_t *ifc = hs_ip4_interface(net, sw_if_index);
    if (!ifc)
        return -ENOENT;
    if (len > 32)
        return -EINVAL;
    int idx = find_address(ifc, addr);
    if (is_del) {
        if (idx < 0 || ((hs_ip4_if_addr_t *)hs_vec_at(&ifc->ip4_addrs, (uint32_t)idx))->len != len)
            return -ENOENT;
        del_routes(net, ifc, idx, addr, len);
        hs_vec_del_ordered(&ifc->ip4_addrs, (uint32_t)idx);
        return 0;
    }
    if (!address_valid(addr, len))
        return -EINVAL;
    if (idx >= 0)
        return -EEXIST;
    hs_ip4_if_addr_t a = {.addr = addr, .len = len};
    int rv = add_routes(net, ifc, addr, len);
    if (rv == 0 && !hs_vec_push(&ifc->ip4_addrs, &a))
        rv = -ENOMEM;
    if (rv < 0) {
        if (rv != -EEXIST)
            del_routes(net, ifc, -1, addr, len);
        return rv;
    }
    /* The control plane runs with the workers stopped: worker 0 sends on its next poll. */
    if (net->workers && net->n_workers)
        hs_arp_announce(&net->workers[0], sw_if_index, addr);
    return 0;
}

bool hs_ip4_interface_source(hs_net_t *net, uint32_t sw_if_index, uint32_t dst, uint32_t *src)
{
    const hs_interface_t *ifc = hs_ip4_interface(net, sw_if_index);
    if (!ifc || ifc->ip4_addrs.len == 0)
        return false;
    const hs_ip4_if_addr_t *first = hs_vec_at(&ifc->ip4_addrs, 0);
    *src = first->addr;
    for (uint32_t i = 0; i < ifc->ip4_addrs.len; i++) {
        const hs_ip4_if_addr_t *a = hs_vec_at(&ifc->ip4_addrs, i);
        if (((a->addr ^ dst) & hs_ip4_mask(a->len)) == 0) {
            *src = a->addr;
            break;
        }
    }
    return true;
}
