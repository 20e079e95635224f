/* IPv4 FIB: longest-prefix match over several tables; connected, local and static routes.
 * Tables are named by a user-visible table id and used by a dense fib_index; table id 0
 * (fib_index 0) always exists. */
#ifndef HS_NET_FIB_H
#define HS_NET_FIB_H

#include "net/net.h"

typedef enum {
    HS_FIB_LOCAL = 0, /* one of our addresses: deliver to ip4-local */
    HS_FIB_CONNECTED, /* on-link: the destination itself is the next hop */
    HS_FIB_VIA,       /* through a gateway */
    HS_FIB_DROP,      /* blackhole */
    HS_FIB_BROADCAST, /* directed broadcast of a connected subnet (/32): delivered to
                       * ip4-local as a broadcast, never sent; added with the address */
} hs_fib_type_t;

typedef struct {
    uint32_t prefix; /* host byte order, masked */
    uint8_t len;
    uint8_t type;         /* hs_fib_type_t */
    uint32_t sw_if_index; /* VIA: UINT32_MAX finds the next hop's interface by lookup */
    uint32_t next_hop;    /* HS_FIB_VIA only */
} hs_fib_route_t;

struct hs_fib_main;

/* Creates the table if needed; returns its fib_index or -ENOMEM / -ENOSPC. */
int hs_fib_table_find_or_create(hs_net_t *net, uint32_t table_id);
/* fib_index of table_id, or -ENOENT. */
int hs_fib_table_find(hs_net_t *net, uint32_t table_id);
uint32_t hs_fib_table_id(hs_net_t *net, uint32_t fib_index);

/* Adds or replaces the route for prefix/len in fib_index. -EINVAL for len > 32. */
int hs_fib_add(hs_net_t *net, uint32_t fib_index, const hs_fib_route_t *r);
int hs_fib_del(hs_net_t *net, uint32_t fib_index, uint32_t prefix, uint8_t len);
/* Removes every route through sw_if_index (interface deleted or moved). */
void hs_fib_del_interface(hs_net_t *net, uint32_t sw_if_index);

/* Longest-prefix match; NULL when nothing matches (not even a default route). */
const hs_fib_route_t *hs_fib_lookup(const hs_net_t *net, uint32_t fib_index, uint32_t dst);

/* The route for exactly prefix/len, or NULL. */
const hs_fib_route_t *hs_fib_get(const hs_net_t *net, uint32_t fib_index, uint32_t prefix,
                                 uint8_t len);
/* Routes in the table (0 for an unknown fib_index). */
uint32_t hs_fib_n_routes(const hs_net_t *net, uint32_t fib_index);
/* "local", "connected", "via", "drop", "broadcast". */
const char *hs_fib_type_name(hs_fib_type_t t);

/* show ip fib: per table, each route sorted by prefix: prefix/len, type, next hop,
 * interface. */
void hs_fib_format(hs_net_t *net, hs_str_t *out);

#endif
