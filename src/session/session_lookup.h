/* Session lookup tables of one worker: established (and half-open) connections by exact
 * 5-tuple, and listeners by local address and port with a wildcard (0.0.0.0) fallback.
 * The fib table is part of every key, so one table serves every fib ("per fib table").
 *
 * Values are the transport's indices (connection or listener) on the same worker. Keys
 * are built from host-order addresses: the tables are private to the session layer, so
 * the byte order only has to be consistent. */
#ifndef HS_SESSION_SESSION_LOOKUP_H
#define HS_SESSION_SESSION_LOOKUP_H

#include "infra/hash.h"

typedef struct {
    hs_hash_t conns;     /* hs_hash_key4_t (src = local) -> connection index */
    hs_hash_t listeners; /* hs_hash_key4_t with remote fields 0 -> listener index */
} hs_session_lookup_t;

typedef struct {
    uint8_t proto;
    uint32_t fib_index;
    uint32_t lcl_ip, rmt_ip; /* host order */
    uint16_t lcl_port, rmt_port;
} hs_5tuple4_t;

/* 0, -EINVAL or -ENOMEM. capacity: connections before the first growth. */
int hs_session_lookup_init(hs_session_lookup_t *l, uint32_t capacity, uint64_t seed);
void hs_session_lookup_destroy(hs_session_lookup_t *l);

/* 0, -EEXIST (the 5-tuple is taken: nothing changed) or -ENOMEM. */
int hs_session_lookup_add_conn4(hs_session_lookup_t *l, const hs_5tuple4_t *t, uint32_t conn);
/* 0 or -ENOENT. */
int hs_session_lookup_del_conn4(hs_session_lookup_t *l, const hs_5tuple4_t *t);
/* Connection index or -1. */
static inline int64_t hs_session_lookup_conn4_find(const hs_session_lookup_t *l,
                                                   const hs_5tuple4_t *t)
{
    hs_hash_key4_t k;
    uint64_t v;
    hs_hash_key4_init(&k, t->lcl_ip, t->rmt_ip, t->lcl_port, t->rmt_port, t->proto, t->fib_index);
    return hs_hash_get(&l->conns, &k, &v) == 0 ? (int64_t)v : -1;
}

/* lcl_ip 0 is the wildcard. 0, -EADDRINUSE (that exact address and port listen already)
 * or -ENOMEM. */
int hs_session_lookup_add_listener4(hs_session_lookup_t *l, uint8_t proto, uint32_t fib_index,
                                    uint32_t lcl_ip, uint16_t lcl_port, uint32_t listener);
int hs_session_lookup_del_listener4(hs_session_lookup_t *l, uint8_t proto, uint32_t fib_index,
                                    uint32_t lcl_ip, uint16_t lcl_port);
/* Whether exactly this address (0: the wildcard) and port listen. */
bool hs_session_lookup_has_listener4(const hs_session_lookup_t *l, uint8_t proto,
                                     uint32_t fib_index, uint32_t lcl_ip, uint16_t lcl_port);
/* The listener on exactly lcl_ip, else on 0.0.0.0, else -1. */
int64_t hs_session_lookup_listener4_find(const hs_session_lookup_t *l, uint8_t proto,
                                         uint32_t fib_index, uint32_t lcl_ip, uint16_t lcl_port);

#endif
