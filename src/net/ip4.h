/* IPv4: header validation, local delivery, reassembly, lookup, fragmentation, rewrite
 * (neighbor resolution and the Ethernet header), ICMP, and interface addresses. */
#ifndef HS_NET_IP4_H
#define HS_NET_IP4_H

#include "net/net.h"

/* What ip4 keeps in a buffer's opaque words while a packet crosses its nodes.
 *
 * Packets handed to ip4-lookup by other layers (TCP, UDP) must set fib_index (the table
 * to route in) and flags = 0; their current position is the IP header, with a valid
 * header checksum. ip4-local hands packets on (icmp4-input, tcp4-input, udp4-input) with
 * the current position still at the IP header, b->l3_offset and b->l4_offset set, the
 * datagram reassembled when it came in fragments (a chain), any link padding trimmed,
 * and flags telling a broadcast destination (no replies to those) or a reassembly. */
typedef struct {
    uint32_t fib_index;
    uint32_t next_hop; /* host order; set by ip4-lookup for ip4-rewrite */
    uint32_t flags;    /* HS_IP4_META_* */
} hs_ip4_buf_meta_t;

enum {
    HS_IP4_META_BCAST = 1u << 0,       /* received for a broadcast address */
    HS_IP4_META_REASSEMBLED = 1u << 1, /* rebuilt from fragments */
};

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

/* set interface ip address [del]: adds/removes the local /32, the connected prefix (len
 * < 32) and the subnet's directed broadcast (len <= 30) in the interface's table, keeps
 * ifc->ip4_addrs, and announces a new address (gratuitous ARP, sent by worker 0 at its
 * next poll). Control plane only (workers stopped). -EEXIST when the interface has the
 * address, or the address or its subnet belongs to another interface of the table;
 * -ENOENT for an unknown interface or (del) address/len; -EINVAL (len > 32, address 0,
 * loopback, multicast, class E, or the subnet's broadcast address). */
int hs_ip4_interface_address(hs_net_t *net, uint32_t sw_if_index, uint32_t addr, uint8_t len,
                             bool is_del);
/* Our address on sw_if_index to use as the source toward dst (same subnet first, else the
 * first address). false when the interface has none. */
bool hs_ip4_interface_source(hs_net_t *net, uint32_t sw_if_index, uint32_t dst, uint32_t *src);

/* ICMP errors (destination/port/protocol unreachable, fragmentation needed, time
 * exceeded) about the packet bi, whose current position is its IP header. Takes bi: the
 * error is built in a new buffer (IP header, ICMP header, bi's header and data up to 576
 * bytes), sourced from bi's receive interface and handed to ip4-lookup; bi is freed. No
 * error is sent about a broadcast/multicast datagram, a non-initial fragment, an ICMP
 * error or a non-unicast source (RFC 1122 3.2.2), nor beyond 1000/s per worker (bursts
 * of 100); show ip stats counts each case. info is the header's second word in host
 * order: the next-hop MTU for fragmentation needed (RFC 1191), pointer << 24 for
 * parameter problem, else 0. */
void hs_icmp4_send_error(hs_graph_rt_t *rt, uint32_t bi, uint8_t type, uint8_t code, uint32_t info);

/* show ip stats: reassembly and fragmentation counters. */
void hs_ip4_format(hs_net_t *net, hs_str_t *out);

#endif
