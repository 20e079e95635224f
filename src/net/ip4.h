/* IPv4: header validation, local delivery, reassembly, lookup, fragmentation, rewrite
 * (neighbor resolution and the Ethernet header), ICMP, and interface addresses. */
#ifndef HS_NET_IP4_H
#define HS_NET_IP4_H

#include "net/net.h"

/* What ip4 keeps in a buffer's opaque words while a packet crosses its nodes. */
typedef struct {
    uint32_t fib_index;
    uint32_t next_hop; /* host order; set by ip4-lookup for ip4-rewrite */
} hs_ip4_buf_meta_t;

_Static_assert(sizeof(hs_ip4_buf_meta_t) <= sizeof(((hs_buf_t *)0)->opaque), "opaque");

static inline hs_ip4_buf_meta_t *hs_ip4_meta(hs_buf_t *b)
{
    return (hs_ip4_buf_meta_t *)b->opaque;
}

/* Registers ip4-input, ip4-local, icmp4-input, ip4-lookup, ip4-frag, ip4-rewrite and
 * creates table 0. */
int hs_ip4_init(hs_net_t *net);
void hs_ip4_destroy(hs_net_t *net);
int hs_ip4_worker_init(hs_net_worker_t *wk);
void hs_ip4_worker_destroy(hs_net_worker_t *wk);
/* Expires reassemblies that timed out. */
void hs_ip4_housekeep(hs_net_worker_t *wk, uint64_t now_ns);

/* set interface ip address [del]: adds/removes the local /32 and the connected prefix in
 * the interface's table and announces the address (gratuitous ARP). -EEXIST, -ENOENT,
 * -EINVAL (len > 32, address 0, multicast or broadcast). */
int hs_ip4_interface_address(hs_net_t *net, uint32_t sw_if_index, uint32_t addr, uint8_t len,
                             bool is_del);
/* Our address on sw_if_index to use as the source toward dst (same subnet first, else the
 * first address). false when the interface has none. */
bool hs_ip4_interface_source(hs_net_t *net, uint32_t sw_if_index, uint32_t dst,
                             uint32_t *src);

/* ICMP errors (destination/port/protocol unreachable, fragmentation needed, time
 * exceeded) about the packet bi, whose current position is its IP header. Takes bi: it is
 * turned into the error in place or dropped when no error may be sent (RFC 1122 3.2.2). */
void hs_icmp4_send_error(hs_graph_rt_t *rt, uint32_t bi, uint8_t type, uint8_t code,
                         uint32_t info);

/* show ip stats: reassembly and fragmentation counters. */
void hs_ip4_format(hs_net_t *net, hs_str_t *out);

#endif
