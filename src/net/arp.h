/* ARP and the IPv4 neighbor table: request/reply, a cache with aging, gratuitous ARP when
 * an address is set, and a bounded hold queue for packets waiting for resolution.
 * The table is shared by all workers (any worker may learn an entry) and guarded by one
 * spinlock; lookups copy the MAC out under it. */
#ifndef HS_NET_ARP_H
#define HS_NET_ARP_H

#include "net/net.h"

#define HS_ARP_REACHABLE_NS   (60 * HS_NS_PER_S)  /* entry lifetime after a reply */
#define HS_ARP_RETRY_NS       (1 * HS_NS_PER_S)   /* between requests while resolving */
#define HS_ARP_MAX_RETRIES    3                   /* then the entry fails, held packets drop */
#define HS_ARP_HOLD_PER_ENTRY 8                   /* packets held per unresolved neighbor */
#define HS_ARP_MAX_ENTRIES    65536

/* Registers arp-input and the ARP state of net. */
int hs_arp_init(hs_net_t *net);
void hs_arp_destroy(hs_net_t *net);

/* For ip4-rewrite: the MAC of ip on sw_if_index.
 *   0        mac filled, send now;
 *   -EAGAIN  unresolved: the packet bi was taken and will be sent to ip4-rewrite again once
 *            the reply comes (a request was sent if none is outstanding);
 *   -ENOBUFS unresolved and the hold queue is full: the caller drops bi (counted). */
int hs_arp_resolve(hs_net_worker_t *wk, uint32_t sw_if_index, uint32_t ip, uint8_t mac[6],
                   uint32_t bi);

/* Sends a gratuitous ARP for addr on the interface (called when an address is added). */
void hs_arp_announce(hs_net_worker_t *wk, uint32_t sw_if_index, uint32_t addr);

/* Static entries and flushing, for the CLI. */
int hs_arp_add_static(hs_net_t *net, uint32_t sw_if_index, uint32_t ip, const uint8_t mac[6]);
int hs_arp_del(hs_net_t *net, uint32_t sw_if_index, uint32_t ip);
void hs_arp_flush_interface(hs_net_t *net, uint32_t sw_if_index);

/* Ages entries, retries requests, drops the held packets of failed entries. */
void hs_arp_housekeep(hs_net_worker_t *wk, uint64_t now_ns);

/* show ip neighbors */
void hs_arp_format(hs_net_t *net, hs_str_t *out);

#endif
