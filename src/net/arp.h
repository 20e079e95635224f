/* ARP and the IPv4 neighbor table: request/reply, a cache with aging, gratuitous ARP when
 * an address is set, and a bounded hold queue for packets waiting for resolution.
 * The table is shared by all workers (any worker may learn an entry) and guarded by one
 * spinlock; lookups copy the MAC out under it. */
#ifndef HS_NET_ARP_H
#define HS_NET_ARP_H

#include "net/net.h"

#include <string.h>

/* Held per unresolved neighbor: 64 lets a burst of SYNs through (Linux: unres_qlen 101). */
#define HS_ARP_HOLD_PER_ENTRY 64
#define HS_ARP_REACHABLE_NS   (60 * HS_NS_PER_S) /* entry lifetime after a reply */
#define HS_ARP_RETRY_NS       (1 * HS_NS_PER_S)  /* between requests while resolving */
#define HS_ARP_MAX_RETRIES    3                  /* then the entry fails, held packets drop */
#define HS_ARP_MAX_ENTRIES    65536
#define HS_ARP_HOLD_MAX       1024               /* packets held over all entries */
#define HS_ARP_GC_NS          (60 * HS_NS_PER_S) /* failed or unused stale entries go */

/* ---- the packet (RFC 826) for Ethernet and IPv4, parsed at the door ---- */

#define HS_ARP_PKT_LEN     28
#define HS_ARP_HTYPE_ETHER 1
#define HS_ARP_OP_REQUEST  1
#define HS_ARP_OP_REPLY    2

/* As on the wire: multi-byte fields in network byte order. */
typedef struct {
    uint16_t htype;
    uint16_t ptype;
    uint8_t hlen;
    uint8_t plen;
    uint16_t op;
    uint8_t sha[6];
    uint32_t spa;
    uint8_t tha[6];
    uint32_t tpa;
} HS_PACKED hs_arp_wire_t;

_Static_assert(sizeof(hs_arp_wire_t) == HS_ARP_PKT_LEN, "ARP for Ethernet/IPv4 is 28 bytes");

/* Addresses in host byte order. */
typedef struct {
    uint16_t op;
    uint8_t sha[6];
    uint32_t spa;
    uint8_t tha[6];
    uint32_t tpa;
} hs_arp_pkt_t;

typedef enum {
    HS_ARP_PARSE_OK = 0,
    HS_ARP_PARSE_SHORT,     /* fewer than 28 bytes */
    HS_ARP_PARSE_BAD_HW,    /* hardware type not Ethernet or length not 6 */
    HS_ARP_PARSE_BAD_PROTO, /* protocol type not IPv4 or length not 4 */
    HS_ARP_PARSE_BAD_OP,    /* neither request nor reply */
} hs_arp_parse_result_t;

static inline uint32_t hs_arp__rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void hs_arp__wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Validates and parses len bytes (trailing padding is allowed). */
static inline hs_arp_parse_result_t hs_arp_parse(const uint8_t *p, uint32_t len, hs_arp_pkt_t *out)
{
    if (len < HS_ARP_PKT_LEN)
        return HS_ARP_PARSE_SHORT;
    if ((p[0] << 8 | p[1]) != HS_ARP_HTYPE_ETHER || p[4] != 6)
        return HS_ARP_PARSE_BAD_HW;
    if ((p[2] << 8 | p[3]) != 0x0800 || p[5] != 4)
        return HS_ARP_PARSE_BAD_PROTO;
    out->op = (uint16_t)(p[6] << 8 | p[7]);
    if (out->op != HS_ARP_OP_REQUEST && out->op != HS_ARP_OP_REPLY)
        return HS_ARP_PARSE_BAD_OP;
    memcpy(out->sha, p + 8, 6);
    out->spa = hs_arp__rd32(p + 14);
    memcpy(out->tha, p + 18, 6);
    out->tpa = hs_arp__rd32(p + 24);
    return HS_ARP_PARSE_OK;
}

/* Writes the 28-byte packet at p. */
static inline void hs_arp_build(uint8_t *p, const hs_arp_pkt_t *a)
{
    p[0] = 0, p[1] = HS_ARP_HTYPE_ETHER;
    p[2] = 0x08, p[3] = 0x00;
    p[4] = 6, p[5] = 4;
    p[6] = (uint8_t)(a->op >> 8), p[7] = (uint8_t)a->op;
    memcpy(p + 8, a->sha, 6);
    hs_arp__wr32(p + 14, a->spa);
    memcpy(p + 18, a->tha, 6);
    hs_arp__wr32(p + 24, a->tpa);
}

/* ---- the neighbor table ---- */

typedef enum {
    HS_ARP_INCOMPLETE = 0, /* request sent, packets held */
    HS_ARP_REACHABLE,      /* confirmed within HS_ARP_REACHABLE_NS */
    HS_ARP_STALE,          /* usable; the next use sends a unicast probe */
    HS_ARP_STATIC,         /* set by the operator; never ages or changes */
    HS_ARP_FAILED,         /* no answer after HS_ARP_MAX_RETRIES requests */
} hs_arp_state_t;

/* A copy of one entry (for tests and the CLI). */
typedef struct {
    hs_arp_state_t state;
    uint8_t mac[6];
    uint8_t retries;
    uint32_t n_held;
    uint64_t updated_ns; /* last confirmation (or creation) */
} hs_arp_entry_info_t;

/* 0 and *info filled, or -ENOENT. */
int hs_arp_lookup(hs_net_t *net, uint32_t sw_if_index, uint32_t ip, hs_arp_entry_info_t *info);
/* Entries in the table and packets held over all of them. */
uint32_t hs_arp_n_entries(hs_net_t *net);
uint32_t hs_arp_n_held(hs_net_t *net);
const char *hs_arp_state_name(hs_arp_state_t s);

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
