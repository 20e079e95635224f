/* IPv4 reassembly of fragments addressed to us (RFC 791, RFC 815), one instance per worker.
 *
 * Fragments are kept as they arrived (current position at their IP header) in a list sorted
 * by offset, per datagram keyed by (src, dst, proto, id, fib). Memory is bounded three
 * ways: datagrams in progress (the oldest is evicted to make room), buffers held over all
 * of them (the oldest others are evicted), fragments per datagram. Overlapping fragments
 * drop the whole datagram (as RFC 5722 requires for IPv6: the safe choice against
 * overlap-based evasion); exact duplicates are ignored. A datagram not complete within the
 * timeout (counted from its first fragment) is dropped; its offset-0 fragment, when it came,
 * is handed back so the caller can send ICMP time exceeded (RFC 792, code 1).
 * Not thread-safe: the owning worker alone uses it. */
#ifndef HS_NET_IP4_REASS_H
#define HS_NET_IP4_REASS_H

#include "infra/hash.h"
#include "infra/pool.h"
#include "net/buffer.h"

#define HS_IP4_REASS_MAX        1024 /* datagrams in progress per worker */
#define HS_IP4_REASS_MAX_BUFS   4096 /* buffers held per worker */
#define HS_IP4_REASS_MAX_FRAGS  256  /* fragments per datagram (65515 B at MTU 576: 119) */
#define HS_IP4_REASS_TIMEOUT_NS (3 * 1000000000ull)

typedef struct {
    uint32_t max_reass;
    uint32_t max_bufs;
    uint32_t max_frags;
    uint64_t timeout_ns;
} hs_ip4_reass_config_t;

typedef struct {
    uint64_t ok;         /* datagrams completed */
    uint64_t timeout;    /* dropped: not complete in time */
    uint64_t overlap;    /* dropped: overlapping fragments */
    uint64_t evicted;    /* dropped to make room for newer ones (too many) */
    uint64_t too_big;    /* dropped: beyond 65535 bytes or too many fragments */
    uint64_t bad;        /* dropped: inconsistent (two ends, data past the end) */
    uint64_t duplicates; /* exact duplicate fragments ignored */
    uint64_t no_room;    /* fragments dropped: no memory or one datagram over the limits */
} hs_ip4_reass_stats_t;

typedef struct {
    hs_ip4_reass_config_t cfg;
    hs_hash_t table;         /* key -> context index */
    hs_pool_t ctxs;          /* reass_ctx_t */
    uint32_t oldest, newest; /* contexts in creation order (= deadline order) */
    uint32_t n_bufs;         /* buffers held over all contexts */
    hs_ip4_reass_stats_t stats;
} hs_ip4_reass_t;

typedef enum {
    HS_IP4_REASS_HELD = 0,  /* kept, waiting for the rest */
    HS_IP4_REASS_DONE,      /* the datagram is complete: *out names it */
    HS_IP4_REASS_DUPLICATE, /* exact duplicate: freed */
    HS_IP4_REASS_OVERLAP,   /* overlaps another fragment: datagram and fragment freed */
    HS_IP4_REASS_TOO_BIG,   /* beyond 65535 bytes or too many fragments: all freed */
    HS_IP4_REASS_BAD,       /* inconsistent with the others: all freed */
    HS_IP4_REASS_NO_ROOM,   /* no memory or over the limits on its own: freed */
} hs_ip4_reass_result_t;

/* cfg NULL: the defaults above. seed keys the hash (fragments come from remote input). */
int hs_ip4_reass_init(hs_ip4_reass_t *r, const hs_ip4_reass_config_t *cfg, uint64_t seed);
/* Frees every fragment held. */
void hs_ip4_reass_destroy(hs_ip4_reass_t *r, hs_buf_cache_t *c);

/* Takes fragment bi (validated and trimmed by ip4-input: current position at its IP header,
 * total length equal to the packet's length). On DONE, *out is the datagram: a chain whose
 * first buffer holds the IP header (length and fragment fields rewritten, fresh checksum)
 * followed by every payload in order. Every other result leaves *out untouched. */
hs_ip4_reass_result_t hs_ip4_reass_add(hs_ip4_reass_t *r, hs_buf_cache_t *c, uint32_t bi,
                                       uint32_t fib_index, uint64_t now_ns, uint32_t *out);

/* Drops datagrams whose deadline passed, oldest first. For each that held its offset-0
 * fragment, that fragment (its chain) is stored in first_frags for the caller to answer
 * and free; the rest is freed. Stops once max fragments are stored (call again then).
 * Returns how many were stored; *n_expired counts the datagrams dropped. */
uint32_t hs_ip4_reass_expire(hs_ip4_reass_t *r, hs_buf_cache_t *c, uint64_t now_ns,
                             uint32_t *first_frags, uint32_t max, uint32_t *n_expired);

static inline uint32_t hs_ip4_reass_count(const hs_ip4_reass_t *r)
{
    return hs_pool_count(&r->ctxs);
}

static inline uint32_t hs_ip4_reass_bufs_held(const hs_ip4_reass_t *r)
{
    return r->n_bufs;
}

#endif
