/* IPv4 internals shared by the ip4_*.c, icmp4.c and fib.c files: the module and worker
 * state, the FIB's storage and inline lookup, buffer-chain helpers, fragmentation and the
 * ICMP error builder. Not for other layers (they use ip4.h and fib.h). */
#ifndef HS_NET_IP4_INTERNAL_H
#define HS_NET_IP4_INTERNAL_H

#include "infra/hash.h"
#include "infra/pool.h"
#include "infra/vec.h"
#include "net/fib.h"
#include "net/interface.h"
#include "net/ip4.h"
#include "net/ip4_packet.h"
#include "net/ip4_reass.h"

/* ---- FIB storage ---- */

#define HS_FIB_MAX_TABLES 4096

/* Lookups walk a multibit trie of stride 8: at most four dependent loads (measured 4.6 ns
 * for a host's table, 33 ns over 100k random routes that miss the caches). One hash probe
 * per prefix length present was measured first: ~20 ns a probe even from L1, so 35 ns for
 * a host's three lengths and 900 ns for 100 routes of all lengths.
 *
 * Each ply maps one byte of the address to a leaf: 0 (no route), a route (entry index + 1)
 * or, with HS_FIB_PLY, a child ply for the next byte. Next to each leaf sits the length of
 * the prefix that put it there, so a route only overwrites less specific ones, and deleting
 * one restores its cover (VPP's mtrie does the same with 16-8-8). The exact routes live in
 * a hash keyed by (fib_index, prefix, len): the source of truth for add/replace/delete and
 * for finding a deleted route's cover. Readers never write, so workers look up without
 * locks; writers run only while the workers are stopped (net.h). */
#define HS_FIB_PLY (1u << 31)

typedef struct {
    uint32_t leaf[256];
    uint8_t len[256];
    /* Length of the longest route covering the ply's whole block (0 when none): every
     * slot holding a route that short holds that one, so a change of some other length
     * skips the ply and everything under it. */
    uint8_t cover_len;
} hs_fib_ply_t;

typedef struct {
    uint32_t table_id;
    uint32_t root; /* ply index */
    uint32_t n_routes;
    uint64_t len_mask;      /* bit L set while some route has prefix length L */
    uint32_t len_count[33]; /* routes per prefix length */
} hs_fib_table_t;

/* Key of the route hash: no padding, every byte set. */
typedef struct {
    uint32_t fib_index;
    uint32_t prefix;
    uint32_t len;
} hs_fib_key_t;

typedef struct {
    hs_fib_route_t route; /* first: lookups return its address */
    uint32_t fib_index;
} hs_fib_entry_t;

struct hs_fib_main {
    hs_vec_t tables;     /* hs_fib_table_t, index = fib_index */
    hs_hash_t routes;    /* hs_fib_key_t -> entry index in pool */
    hs_pool_t pool;      /* hs_fib_entry_t; entries never move */
    hs_vec_t plies;      /* hs_fib_ply_t, flat so a step is one load (it moves: writers only) */
    hs_vec_t free_plies; /* uint32_t indices of plies to reuse */
};
typedef struct hs_fib_main hs_fib_main_t;

int hs_fib_main_init(hs_fib_main_t *fm);
void hs_fib_main_free(hs_fib_main_t *fm);

/* Plies in use (about 1.3 KB each; a route longer than /8 needs up to 3). */
static inline uint32_t hs_fib_main_n_plies(const hs_fib_main_t *fm)
{
    return fm->plies.len - fm->free_plies.len;
}

static inline const hs_fib_route_t *hs_fib_main_lookup(const hs_fib_main_t *fm, uint32_t fib_index,
                                                       uint32_t dst)
{
    if (hs_unlikely(fib_index >= fm->tables.len))
        return NULL;
    uint32_t leaf = HS_FIB_PLY | ((const hs_fib_table_t *)hs_vec_at(&fm->tables, fib_index))->root;
    /* A level-3 ply holds only leaves, so this takes at most four steps. */
    for (uint32_t shift = 24; leaf & HS_FIB_PLY; shift -= 8) {
        const hs_fib_ply_t *p = (const hs_fib_ply_t *)fm->plies.data + (leaf & ~HS_FIB_PLY);
        leaf = p->leaf[(dst >> shift) & 0xff];
    }
    if (!leaf)
        return NULL;
    return &((const hs_fib_entry_t *)hs_pool_elt(&fm->pool, leaf - 1))->route;
}

/* ---- module and worker state ---- */

typedef struct hs_ip4_main {
    hs_fib_main_t fib;
    int tcp4_input; /* graph node index, or -1 while no transport registered it */
    int udp4_input;
} hs_ip4_main_t;

typedef struct {
    uint64_t frags_made;        /* fragments sent by ip4-frag */
    uint64_t icmp_sent;         /* ICMP errors sent */
    uint64_t icmp_rate_limited; /* ICMP errors not sent: over the rate */
    uint64_t icmp_suppressed;   /* ICMP errors not sent: RFC 1122 3.2.2 forbids it */
    uint64_t icmp_no_buffer;    /* ICMP errors not sent: no buffer or no source address */
} hs_ip4_stats_t;

#define HS_ICMP4_ERR_RATE  1000 /* ICMP errors per second per worker */
#define HS_ICMP4_ERR_BURST 100

typedef struct hs_ip4_worker {
    hs_ip4_reass_t reass;
    hs_ip4_stats_t stats;
    uint64_t icmp_tat_ns; /* GCRA theoretical arrival time of the next ICMP error */
    uint16_t next_id;     /* IP id of the datagrams this worker originates */
} hs_ip4_worker_t;

static inline hs_ip4_main_t *hs_ip4_main(const hs_net_t *net)
{
    return net->ip4;
}

static inline hs_ip4_worker_t *hs_ip4_wk(const hs_graph_rt_t *rt)
{
    return ((hs_net_worker_t *)rt->user)->ip4;
}

static inline hs_net_t *hs_ip4_net(const hs_graph_rt_t *rt)
{
    return ((hs_net_worker_t *)rt->user)->net;
}

static inline hs_interface_t *hs_ip4_interface(const hs_net_t *net, uint32_t sw_if_index)
{
    return hs_pool_elt_checked(&net->interfaces, sw_if_index);
}

/* Reassembly scratch, in the opaque words after hs_ip4_buf_meta_t while a fragment is
 * held. */
typedef struct {
    hs_ip4_buf_meta_t ip4;
    uint32_t next_frag; /* next fragment of the same datagram, by offset */
    uint32_t start;     /* payload bytes [start, end) of the datagram */
    uint32_t end;
} hs_ip4_frag_meta_t;

_Static_assert(sizeof(hs_ip4_frag_meta_t) <= sizeof(((hs_buf_t *)0)->opaque), "opaque");

static inline hs_ip4_frag_meta_t *hs_ip4_frag_meta(hs_buf_t *b)
{
    return (hs_ip4_frag_meta_t *)b->opaque;
}

/* ---- buffer chains (ip4_buf.c) ---- */

/* Cuts the packet to len bytes from the current position of b (link padding), freeing
 * buffers that are left empty. len must not exceed the packet's length. */
void hs_ip4_chain_trim(hs_buf_cache_t *c, hs_buf_t *b, uint32_t len);
/* The last buffer of the chain that starts at b. */
hs_buf_t *hs_ip4_chain_tail(const hs_buf_pool_t *p, hs_buf_t *b);
/* Recomputes chain_rest_len of the first buffer b. */
void hs_ip4_chain_fix_len(const hs_buf_pool_t *p, hs_buf_t *b);

/* A read position in a chain. */
typedef struct {
    const hs_buf_pool_t *pool;
    hs_buf_t *b;
    uint32_t off; /* from b's current position */
} hs_buf_cursor_t;

/* Positions cur offset bytes after the current position of b. */
void hs_buf_cursor_init(hs_buf_cursor_t *cur, const hs_buf_pool_t *p, hs_buf_t *b, uint32_t offset);
/* Appends n bytes read at cur to the chain head..*tail, allocating buffers as the tail
 * fills, and moves cur on. 0, or -ENOBUFS (what was appended stays, the caller frees the
 * chain). The source must hold n more bytes. */
int hs_buf_chain_append(hs_buf_cache_t *c, hs_buf_t *head, hs_buf_t **tail, hs_buf_cursor_t *cur,
                        uint32_t n);

/* Software L4 checksum of a packet marked HS_BUF_F_L4_CSUM_TODO (before fragmenting, or
 * for a device without offload): sums from csum_start (from the IP header, the field
 * holding the pseudo-header sum) to the end and stores the result; clears the flag. */
void hs_ip4_l4_csum_fill(const hs_buf_pool_t *p, hs_buf_t *b);

/* ---- fragmentation (ip4_frag.c) ---- */

/* Cuts the datagram bi (current position at its IP header, DF not considered) into
 * fragments of at most mtu bytes (RFC 791): offsets on 8-byte boundaries, the first with
 * every option, the others with the options whose copied flag is set. bi is left to the
 * caller. Each fragment is a new chain with bi's metadata. Returns the number of fragments
 * stored in out, or -EINVAL (mtu too small for the header and 8 bytes, or more than max
 * fragments needed), -ENOBUFS (nothing leaked). */
int hs_ip4_fragment(hs_buf_cache_t *c, uint32_t bi, uint32_t mtu, uint32_t *out, uint32_t max);

/* ---- ICMP errors (icmp4.c) ---- */

#define HS_ICMP4_ERR_MAX_LEN 576 /* an error message never exceeds this (RFC 1812 4.3.2.3) */

#define HS_ICMP_ECHO_REPLY       0
#define HS_ICMP_DEST_UNREACH     3
#define HS_ICMP_SOURCE_QUENCH    4
#define HS_ICMP_REDIRECT         5
#define HS_ICMP_ECHO_REQUEST     8
#define HS_ICMP_TIME_EXCEEDED    11
#define HS_ICMP_PARAM_PROBLEM    12
#define HS_ICMP_UNREACH_PROTO    2
#define HS_ICMP_UNREACH_PORT     3
#define HS_ICMP_UNREACH_NEEDFRAG 4
#define HS_ICMP_TIMXCEED_REASS   1

/* The ICMP header as on the wire. */
typedef struct {
    uint8_t type;
    uint8_t code;
    uint16_t csum;
    uint32_t rest; /* id and sequence, MTU, pointer... network order */
} HS_PACKED hs_icmp4_header_t;

/* Whether RFC 1122 3.2.2 lets us answer the datagram b (current position at its IP
 * header) with an ICMP error: not about an ICMP error, a fragment other than the first,
 * a broadcast or multicast destination (meta flags included), or a source that is not
 * one host. */
bool hs_icmp4_error_allowed(const hs_buf_pool_t *p, hs_buf_t *b);

/* Builds an error about datagram b in a new buffer: IP header (src, dst = b's source,
 * id), ICMP type/code/rest (info, host order: the next-hop MTU for fragmentation needed,
 * pointer << 24 for parameter problem), then b's IP header and data up to 576 bytes in
 * all. Returns the new buffer (metadata: b's fib_index and rx interface, locally made) or
 * HS_BUF_INVALID when no buffer is left. */
uint32_t hs_icmp4_build_error(hs_buf_cache_t *c, hs_buf_t *b, uint32_t src, uint8_t type,
                              uint8_t code, uint32_t info, uint16_t id);

/* ---- node registrations (each node's file) ---- */

extern const hs_node_reg_t hs_ip4_input_node;
extern const hs_node_reg_t hs_ip4_local_node;
extern const hs_node_reg_t hs_icmp4_input_node;
extern const hs_node_reg_t hs_ip4_lookup_node;
extern const hs_node_reg_t hs_ip4_frag_node;
extern const hs_node_reg_t hs_ip4_rewrite_node;

#endif
