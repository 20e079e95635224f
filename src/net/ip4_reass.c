/* IPv4 reassembly (see ip4_reass.h): per-datagram contexts in a pool, found by a seeded
 * hash, aged in creation order; fragments in an offset-sorted list linked through their
 * buffers' opaque words. */
#include "net/ip4_reass.h"
#include "net/ip4_internal.h"

#include <string.h>

typedef struct {
    uint32_t src, dst; /* network order, as on the wire */
    uint32_t fib_index;
    uint16_t id;
    uint8_t proto;
    uint8_t pad; /* zero */
} reass_key_t;

_Static_assert(sizeof(reass_key_t) == 16, "reassembly key has no implicit padding");

typedef struct {
    reass_key_t key;
    uint64_t deadline_ns;
    uint32_t head, tail; /* fragments by offset (buffer indices) */
    uint32_t prev, next; /* age list (context indices) */
    uint32_t n_frags, n_bufs;
    uint32_t received; /* payload bytes held */
    uint32_t total;    /* payload length, known once the last fragment came */
    uint32_t hdr_len;  /* of the offset-0 fragment, 0 until it came */
    bool have_last;
} reass_ctx_t;

int hs_ip4_reass_init(hs_ip4_reass_t *r, const hs_ip4_reass_config_t *cfg, uint64_t seed)
{
    memset(r, 0, sizeof(*r));
    r->cfg = cfg ? *cfg
                 : (hs_ip4_reass_config_t){.max_reass = HS_IP4_REASS_MAX,
                                           .max_bufs = HS_IP4_REASS_MAX_BUFS,
                                           .max_frags = HS_IP4_REASS_MAX_FRAGS,
                                           .timeout_ns = HS_IP4_REASS_TIMEOUT_NS};
    if (r->cfg.max_reass == 0 || r->cfg.max_bufs == 0 || r->cfg.max_frags == 0)
        return -EINVAL;
    r->oldest = r->newest = HS_POOL_INVALID;
    int rv = hs_pool_init(&r->ctxs, sizeof(reass_ctx_t), r->cfg.max_reass);
    if (rv == 0)
        rv = hs_hash_init(&r->table, sizeof(reass_key_t), r->cfg.max_reass, seed);
    if (rv < 0) {
        hs_pool_destroy(&r->ctxs);
        hs_hash_destroy(&r->table);
    }
    return rv;
}

static reass_ctx_t *ctx_at(hs_ip4_reass_t *r, uint32_t ci)
{
    return hs_pool_elt(&r->ctxs, ci);
}

static uint32_t chain_n_bufs(const hs_buf_pool_t *p, hs_buf_t *b)
{
    uint32_t n = 1;
    for (; b->flags & HS_BUF_F_NEXT; n++)
        b = hs_buf_ptr(p, b->next);
    return n;
}

static void age_unlink(hs_ip4_reass_t *r, uint32_t ci)
{
    reass_ctx_t *x = ctx_at(r, ci);
    if (x->prev != HS_POOL_INVALID)
        ctx_at(r, x->prev)->next = x->next;
    else
        r->oldest = x->next;
    if (x->next != HS_POOL_INVALID)
        ctx_at(r, x->next)->prev = x->prev;
    else
        r->newest = x->prev;
}

/* Forgets a context; its fragments are freed unless the caller took them (head cleared). */
static void ctx_free(hs_ip4_reass_t *r, hs_buf_cache_t *c, uint32_t ci)
{
    reass_ctx_t *x = ctx_at(r, ci);
    for (uint32_t bi = x->head; bi != HS_BUF_INVALID;) {
        uint32_t next = hs_ip4_frag_meta(hs_buf_ptr(c->pool, bi))->next_frag;
        hs_buf_free(c, &bi, 1);
        bi = next;
    }
    r->n_bufs -= x->n_bufs;
    hs_hash_del(&r->table, &x->key);
    age_unlink(r, ci);
    hs_pool_put(&r->ctxs, ci);
}

void hs_ip4_reass_destroy(hs_ip4_reass_t *r, hs_buf_cache_t *c)
{
    while (r->oldest != HS_POOL_INVALID)
        ctx_free(r, c, r->oldest);
    hs_pool_destroy(&r->ctxs);
    hs_hash_destroy(&r->table);
}

/* The context of key, created (making room by evicting the oldest) when new. */
static int ctx_find_or_create(hs_ip4_reass_t *r, hs_buf_cache_t *c, const reass_key_t *key,
                              uint64_t now_ns, uint32_t *ci)
{
    uint32_t h = hs_hash_hash(&r->table, key);
    uint64_t v;
    if (hs_hash_get_with_hash(&r->table, key, h, &v) == 0) {
        *ci = (uint32_t)v;
        return 0;
    }
    if (hs_pool_count(&r->ctxs) >= r->cfg.max_reass && r->oldest != HS_POOL_INVALID) {
        r->stats.evicted++; /* a flood must not lock newer datagrams out until timeouts */
        ctx_free(r, c, r->oldest);
    }
    reass_ctx_t *x = hs_pool_get(&r->ctxs, ci);
    if (!x)
        return -ENOMEM;
    if (hs_hash_add_with_hash(&r->table, key, h, *ci) < 0) {
        hs_pool_put(&r->ctxs, *ci);
        return -ENOMEM;
    }
    *x = (reass_ctx_t){.key = *key,
                       .deadline_ns = now_ns + r->cfg.timeout_ns,
                       .head = HS_BUF_INVALID,
                       .tail = HS_BUF_INVALID,
                       .prev = r->newest,
                       .next = HS_POOL_INVALID};
    if (r->newest != HS_POOL_INVALID)
        ctx_at(r, r->newest)->next = *ci;
    else
        r->oldest = *ci;
    r->newest = *ci;
    return 0;
}

/* Links fragment bi ([start, end)) into the sorted list. HS_IP4_REASS_HELD, or DUPLICATE /
 * OVERLAP when it meets a fragment already held (nothing linked then). */
static hs_ip4_reass_result_t frag_insert(const hs_buf_pool_t *p, reass_ctx_t *x, uint32_t bi)
{
    hs_ip4_frag_meta_t *m = hs_ip4_frag_meta(hs_buf_ptr(p, bi));
    uint32_t prev = HS_BUF_INVALID, at = x->head;
    /* Sorted by start without overlaps, so ends are sorted too: in-order arrival appends
     * after one comparison with the tail. */
    if (x->tail != HS_BUF_INVALID && hs_ip4_frag_meta(hs_buf_ptr(p, x->tail))->end <= m->start) {
        prev = x->tail;
        at = HS_BUF_INVALID;
    }
    while (at != HS_BUF_INVALID) {
        hs_ip4_frag_meta_t *a = hs_ip4_frag_meta(hs_buf_ptr(p, at));
        if (a->end > m->start) {
            if (a->start == m->start && a->end == m->end)
                return HS_IP4_REASS_DUPLICATE;
            if (a->start < m->end)
                return HS_IP4_REASS_OVERLAP;
            break;
        }
        prev = at;
        at = a->next_frag;
    }
    m->next_frag = at;
    if (prev == HS_BUF_INVALID)
        x->head = bi;
    else
        hs_ip4_frag_meta(hs_buf_ptr(p, prev))->next_frag = bi;
    if (at == HS_BUF_INVALID)
        x->tail = bi;
    return HS_IP4_REASS_HELD;
}

/* RFC 791: the fragment without MF fixes the datagram's length; no data may lie past it. */
static bool length_consistent(const hs_buf_pool_t *p, reass_ctx_t *x, uint32_t end, bool mf)
{
    if (mf)
        return !x->have_last || end <= x->total;
    if (x->have_last)
        return x->total == end;
    if (x->tail != HS_BUF_INVALID && hs_ip4_frag_meta(hs_buf_ptr(p, x->tail))->end > end)
        return false;
    x->have_last = true;
    x->total = end;
    return true;
}

/* Strips the IP header from fragment buffer xb (at its header); a buffer left empty is
 * freed and its successor returned. */
static uint32_t strip_header(hs_buf_cache_t *c, uint32_t bi)
{
    hs_buf_t *b = hs_buf_ptr(c->pool, bi);
    uint32_t hlen = hs_ip4_hdr_len((hs_ip4_header_t *)hs_buf_cur(b));
    hs_buf_advance(b, (int)hlen);
    if (b->current_length || !(b->flags & HS_BUF_F_NEXT))
        return bi;
    uint32_t next = b->next;
    b->flags &= ~HS_BUF_F_NEXT;
    hs_buf_free(c, &bi, 1);
    return next;
}

/* Chains every fragment after the first one's header and fixes that header. */
static uint32_t build_datagram(hs_ip4_reass_t *r, hs_buf_cache_t *c, uint32_t ci)
{
    reass_ctx_t *x = ctx_at(r, ci);
    const hs_buf_pool_t *p = c->pool;
    uint32_t first = x->head;
    hs_buf_t *hb = hs_buf_ptr(p, first);
    uint32_t next = hs_ip4_frag_meta(hb)->next_frag;
    hs_buf_t *tail = hs_ip4_chain_tail(p, hb);
    while (next != HS_BUF_INVALID) {
        uint32_t after = hs_ip4_frag_meta(hs_buf_ptr(p, next))->next_frag;
        uint32_t bi = strip_header(c, next);
        tail->flags |= HS_BUF_F_NEXT;
        tail->next = bi;
        tail = hs_ip4_chain_tail(p, hs_buf_ptr(p, bi));
        next = after;
    }
    hs_ip4_header_t *h = (hs_ip4_header_t *)hs_buf_cur(hb);
    h->total_len = htons((uint16_t)(x->hdr_len + x->total));
    h->frag = htons(ntohs(h->frag) & HS_IP4_F_DF);
    hs_ip4_header_set_csum(h);
    hs_ip4_chain_fix_len(p, hb);
    hb->flags &= ~HS_BUF_F_L4_CSUM_OK; /* a device cannot have checked a fragment */
    hs_ip4_meta(hb)->fib_index = x->key.fib_index;
    hs_ip4_meta(hb)->flags |= HS_IP4_META_REASSEMBLED;
    x->head = HS_BUF_INVALID; /* the buffers now belong to the datagram */
    ctx_free(r, c, ci);
    return first;
}

/* Drops a datagram together with the fragment that condemned it. */
static hs_ip4_reass_result_t drop_all(hs_ip4_reass_t *r, hs_buf_cache_t *c, uint32_t ci,
                                      uint32_t bi, hs_ip4_reass_result_t why, uint64_t *stat)
{
    (*stat)++;
    ctx_free(r, c, ci);
    hs_buf_free(c, &bi, 1);
    return why;
}

/* Makes room for n more buffers by evicting the oldest datagrams other than ci; false when
 * ci alone is over the limit. */
static bool make_room(hs_ip4_reass_t *r, hs_buf_cache_t *c, uint32_t ci, uint32_t n)
{
    while (r->n_bufs + n > r->cfg.max_bufs) {
        uint32_t victim = r->oldest == ci ? ctx_at(r, ci)->next : r->oldest;
        if (victim == HS_POOL_INVALID)
            return false;
        r->stats.evicted++;
        ctx_free(r, c, victim);
    }
    return true;
}

hs_ip4_reass_result_t hs_ip4_reass_add(hs_ip4_reass_t *r, hs_buf_cache_t *c, uint32_t bi,
                                       uint32_t fib_index, uint64_t now_ns, uint32_t *out)
{
    const hs_buf_pool_t *p = c->pool;
    hs_buf_t *b = hs_buf_ptr(p, bi);
    const hs_ip4_header_t *h = (const hs_ip4_header_t *)hs_buf_cur(b);
    uint32_t hlen = hs_ip4_hdr_len(h);
    hs_ip4_frag_meta_t *m = hs_ip4_frag_meta(b);
    m->start = (ntohs(h->frag) & HS_IP4_OFF_MASK) * 8u;
    m->end = m->start + ntohs(h->total_len) - hlen;
    bool mf = (ntohs(h->frag) & HS_IP4_F_MF) != 0;
    reass_key_t key = {h->src, h->dst, fib_index, h->id, h->proto, 0};
    uint32_t ci, n_bufs = chain_n_bufs(p, b);
    if (ctx_find_or_create(r, c, &key, now_ns, &ci) < 0) {
        r->stats.no_room++;
        hs_buf_free(c, &bi, 1);
        return HS_IP4_REASS_NO_ROOM;
    }
    reass_ctx_t *x = ctx_at(r, ci);
    if (x->n_frags >= r->cfg.max_frags || m->end + HS_IP4_HDR_LEN > HS_IP4_MAX_LEN)
        return drop_all(r, c, ci, bi, HS_IP4_REASS_TOO_BIG, &r->stats.too_big);
    if (!length_consistent(p, x, m->end, mf))
        return drop_all(r, c, ci, bi, HS_IP4_REASS_BAD, &r->stats.bad);
    hs_ip4_reass_result_t res = frag_insert(p, x, bi);
    if (res == HS_IP4_REASS_DUPLICATE) {
        r->stats.duplicates++;
        hs_buf_free(c, &bi, 1);
        return res;
    }
    if (res == HS_IP4_REASS_OVERLAP)
        return drop_all(r, c, ci, bi, res, &r->stats.overlap);
    if (!make_room(r, c, ci, n_bufs)) {
        /* bi is linked already: count it so that ctx_free frees and uncounts it too */
        x->n_bufs += n_bufs, r->n_bufs += n_bufs;
        r->stats.no_room++;
        ctx_free(r, c, ci);
        return HS_IP4_REASS_NO_ROOM;
    }
    x = ctx_at(r, ci);
    x->n_frags++;
    x->n_bufs += n_bufs;
    r->n_bufs += n_bufs;
    x->received += m->end - m->start;
    if (m->start == 0)
        x->hdr_len = hlen;
    if (!x->have_last || x->hdr_len == 0 || x->received != x->total)
        return HS_IP4_REASS_HELD;
    if (x->hdr_len + x->total > HS_IP4_MAX_LEN) {
        r->stats.too_big++;
        ctx_free(r, c, ci);
        return HS_IP4_REASS_TOO_BIG;
    }
    r->stats.ok++;
    *out = build_datagram(r, c, ci);
    return HS_IP4_REASS_DONE;
}

uint32_t hs_ip4_reass_expire(hs_ip4_reass_t *r, hs_buf_cache_t *c, uint64_t now_ns,
                             uint32_t *first_frags, uint32_t max, uint32_t *n_expired)
{
    uint32_t stored = 0, n = 0;
    while (r->oldest != HS_POOL_INVALID && stored < max) {
        reass_ctx_t *x = ctx_at(r, r->oldest);
        if (x->deadline_ns > now_ns)
            break;
        hs_buf_t *hb = x->head != HS_BUF_INVALID ? hs_buf_ptr(c->pool, x->head) : NULL;
        if (hb && hs_ip4_frag_meta(hb)->start == 0) { /* RFC 792: only with fragment zero */
            first_frags[stored++] = x->head;
            uint32_t nb = chain_n_bufs(c->pool, hb);
            x->head = hs_ip4_frag_meta(hb)->next_frag;
            x->n_bufs -= nb;
            r->n_bufs -= nb;
        }
        r->stats.timeout++;
        ctx_free(r, c, r->oldest);
        n++;
    }
    if (n_expired)
        *n_expired = n;
    return stored;
}
