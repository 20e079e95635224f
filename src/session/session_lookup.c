/* Session lookup tables: exact 5-tuples and listeners (exact, then wildcard). */
#include "session/session_lookup.h"

/* Seeds of the two tables differ so that a flood crafted against one does not carry
 * over to the other. */
#define LISTENER_SEED_XOR 0x6c697374656e6572ull /* "listener" */

int hs_session_lookup_init(hs_session_lookup_t *l, uint32_t capacity, uint64_t seed)
{
    int rv = hs_hash_init(&l->conns, sizeof(hs_hash_key4_t), capacity, seed);
    if (rv < 0)
        return rv;
    rv = hs_hash_init(&l->listeners, sizeof(hs_hash_key4_t), 16, seed ^ LISTENER_SEED_XOR);
    if (rv < 0)
        hs_hash_destroy(&l->conns);
    return rv;
}

void hs_session_lookup_destroy(hs_session_lookup_t *l)
{
    hs_hash_destroy(&l->conns);
    hs_hash_destroy(&l->listeners);
}

static void conn_key(hs_hash_key4_t *k, const hs_5tuple4_t *t)
{
    hs_hash_key4_init(k, t->lcl_ip, t->rmt_ip, t->lcl_port, t->rmt_port, t->proto, t->fib_index);
}

int hs_session_lookup_add_conn4(hs_session_lookup_t *l, const hs_5tuple4_t *t, uint32_t conn)
{
    hs_hash_key4_t k;
    conn_key(&k, t);
    uint32_t h = hs_hash_hash(&l->conns, &k);
    if (hs_hash_get_with_hash(&l->conns, &k, h, NULL) == 0)
        return -EEXIST;
    return hs_hash_add_with_hash(&l->conns, &k, h, conn);
}

int hs_session_lookup_del_conn4(hs_session_lookup_t *l, const hs_5tuple4_t *t)
{
    hs_hash_key4_t k;
    conn_key(&k, t);
    return hs_hash_del(&l->conns, &k);
}

static void listener_key(hs_hash_key4_t *k, uint8_t proto, uint32_t fib_index, uint32_t ip,
                         uint16_t port)
{
    hs_hash_key4_init(k, ip, 0, port, 0, proto, fib_index);
}

int hs_session_lookup_add_listener4(hs_session_lookup_t *l, uint8_t proto, uint32_t fib_index,
                                    uint32_t lcl_ip, uint16_t lcl_port, uint32_t listener)
{
    hs_hash_key4_t k;
    listener_key(&k, proto, fib_index, lcl_ip, lcl_port);
    if (hs_hash_get(&l->listeners, &k, NULL) == 0)
        return -EADDRINUSE;
    return hs_hash_add(&l->listeners, &k, listener);
}

int hs_session_lookup_del_listener4(hs_session_lookup_t *l, uint8_t proto, uint32_t fib_index,
                                    uint32_t lcl_ip, uint16_t lcl_port)
{
    hs_hash_key4_t k;
    listener_key(&k, proto, fib_index, lcl_ip, lcl_port);
    return hs_hash_del(&l->listeners, &k);
}

bool hs_session_lookup_has_listener4(const hs_session_lookup_t *l, uint8_t proto,
                                     uint32_t fib_index, uint32_t lcl_ip, uint16_t lcl_port)
{
    hs_hash_key4_t k;
    listener_key(&k, proto, fib_index, lcl_ip, lcl_port);
    return hs_hash_get(&l->listeners, &k, NULL) == 0;
}

int64_t hs_session_lookup_listener4_find(const hs_session_lookup_t *l, uint8_t proto,
                                         uint32_t fib_index, uint32_t lcl_ip, uint16_t lcl_port)
{
    hs_hash_key4_t k;
    uint64_t v;
    listener_key(&k, proto, fib_index, lcl_ip, lcl_port);
    if (hs_hash_get(&l->listeners, &k, &v) == 0)
        return (int64_t)v;
    if (lcl_ip == 0)
        return -1;
    listener_key(&k, proto, fib_index, 0, lcl_port);
    return hs_hash_get(&l->listeners, &k, &v) == 0 ? (int64_t)v : -1;
}
