/* IPv4 FIB: tables by id with a dense fib_index, routes in one hash keyed by (fib_index,
 * prefix, length), a stride-8 multibit trie per table for longest-prefix match (see
 * ip4_internal.h for why), and show ip fib. */
#include "net/ip4_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Route keys come from the control plane, never from packets, so a fixed seed is fine. */
#define FIB_HASH_SEED 0x6669622d69707634ull

int hs_fib_main_init(hs_fib_main_t *fm)
{
    memset(fm, 0, sizeof(*fm));
    hs_vec_init(&fm->tables, sizeof(hs_fib_table_t));
    hs_vec_init(&fm->plies, sizeof(hs_fib_ply_t));
    hs_vec_init(&fm->free_plies, sizeof(uint32_t));
    int rv = hs_pool_init(&fm->pool, sizeof(hs_fib_entry_t), 0);
    if (rv == 0)
        rv = hs_hash_init(&fm->routes, sizeof(hs_fib_key_t), 64, FIB_HASH_SEED);
    if (rv < 0)
        hs_fib_main_free(fm);
    return rv;
}

void hs_fib_main_free(hs_fib_main_t *fm)
{
    hs_hash_destroy(&fm->routes);
    hs_pool_destroy(&fm->pool);
    hs_vec_free(&fm->plies);
    hs_vec_free(&fm->free_plies);
    hs_vec_free(&fm->tables);
}

/* ---- the trie ---- */

/* The address of a ply: valid until the next ply_new (the array may move). */
static hs_fib_ply_t *ply_at(hs_fib_main_t *fm, uint32_t pi)
{
    return hs_vec_at(&fm->plies, pi);
}

static void ply_free(hs_fib_main_t *fm, uint32_t pi)
{
    if (!hs_vec_push(&fm->free_plies, &pi))
        return; /* out of memory: the ply is lost until the FIB goes, not reused wrongly */
}

/* A ply whose every slot holds leaf, put there by a prefix of length len. */
static int ply_new(hs_fib_main_t *fm, uint32_t leaf, uint8_t len, uint32_t *pi)
{
    if (!hs_vec_pop(&fm->free_plies, pi)) {
        if (fm->plies.len >= HS_FIB_PLY || !hs_vec_push(&fm->plies, NULL))
            return -ENOMEM;
        *pi = fm->plies.len - 1;
    }
    hs_fib_ply_t *p = ply_at(fm, *pi);
    for (uint32_t i = 0; i < 256; i++)
        p->leaf[i] = leaf;
    memset(p->len, len, sizeof(p->len));
    p->cover_len = len;
    return 0;
}

/* A child ply (in slot i of ply pi) whose slots all hold the same leaf folds back into
 * that slot, so deleting routes gives the memory back. */
static void ply_collapse(hs_fib_main_t *fm, uint32_t pi, uint32_t i)
{
    hs_fib_ply_t *p = ply_at(fm, pi);
    if (!(p->leaf[i] & HS_FIB_PLY))
        return;
    uint32_t ci = p->leaf[i] & ~HS_FIB_PLY;
    const hs_fib_ply_t *c = ply_at(fm, ci);
    if (c->leaf[0] & HS_FIB_PLY)
        return;
    for (uint32_t j = 1; j < 256; j++)
        if (c->leaf[j] != c->leaf[0] || c->len[j] != c->len[0])
            return;
    p->leaf[i] = c->leaf[0];
    p->len[i] = c->len[0];
    ply_free(fm, ci);
}

/* What a change does to the slots its prefix covers: an insert takes the slots held by
 * less specific prefixes (or its own length: nothing else has it there); a delete gives
 * the slots it held to its cover. */
typedef struct {
    uint32_t leaf; /* the new leaf */
    uint8_t len;   /* and its prefix length */
    uint8_t route_len;
    bool is_del;
} fib_change_t;

static void slot_change(hs_fib_main_t *fm, uint32_t pi, uint32_t i, const fib_change_t *u)
{
    hs_fib_ply_t *p = ply_at(fm, pi);
    if (p->leaf[i] & HS_FIB_PLY) { /* a child lies wholly inside the prefix */
        uint32_t ci = p->leaf[i] & ~HS_FIB_PLY;
        hs_fib_ply_t *c = ply_at(fm, ci);
        if (u->is_del ? c->cover_len != u->route_len : c->cover_len > u->route_len)
            return; /* a more specific route covers the child: nothing there changes */
        c->cover_len = u->len;
        for (uint32_t j = 0; j < 256; j++)
            slot_change(fm, ci, j, u);
        ply_collapse(fm, pi, i);
        return;
    }
    if (u->is_del ? p->len[i] == u->route_len : p->len[i] <= u->route_len) {
        p->leaf[i] = u->leaf;
        p->len[i] = u->len;
    }
}

/* Applies u to prefix/len in the trie under root: down to the ply where the prefix fits
 * in one byte (making plies on the way for an insert), then over the slots it covers. */
static int trie_change(hs_fib_main_t *fm, uint32_t root, uint32_t prefix, uint8_t len,
                       const fib_change_t *u)
{
    uint32_t path[4], slots[4], depth = 0, pi = root;
    int rv = 0;
    for (uint32_t level = 0;; level++) {
        uint32_t end = 8 * (level + 1), slot = (prefix >> (24 - 8 * level)) & 0xff;
        if (len <= end) {
            for (uint32_t i = slot; i < slot + (1u << (end - len)); i++)
                slot_change(fm, pi, i, u);
            break;
        }
        if (!(ply_at(fm, pi)->leaf[slot] & HS_FIB_PLY)) {
            uint32_t ci;
            if (u->is_del) /* nothing of this prefix below */
                break;
            const hs_fib_ply_t *p = ply_at(fm, pi);
            if ((rv = ply_new(fm, p->leaf[slot], p->len[slot], &ci)) < 0)
                break;
            ply_at(fm, pi)->leaf[slot] = HS_FIB_PLY | ci; /* the plies may have moved */
        }
        path[depth] = pi;
        slots[depth++] = slot;
        pi = ply_at(fm, pi)->leaf[slot] & ~HS_FIB_PLY;
    }
    while (depth--) /* bottom up: a fold may make its parent uniform */
        ply_collapse(fm, path[depth], slots[depth]);
    return rv;
}

/* The most specific route of the table strictly shorter than len that covers prefix, as
 * a leaf and its length (0/0 when none). */
static void cover_of(hs_fib_main_t *fm, uint32_t fib_index, uint32_t prefix, uint8_t len,
                     uint32_t *leaf, uint8_t *cover_len)
{
    const hs_fib_table_t *t = hs_vec_at(&fm->tables, fib_index);
    *leaf = 0;
    *cover_len = 0;
    for (int l = (int)len - 1; l >= 0; l--) {
        if (!(t->len_mask & (1ull << l)))
            continue;
        hs_fib_key_t k = {fib_index, prefix & hs_ip4_mask((uint8_t)l), (uint32_t)l};
        uint64_t idx;
        if (hs_hash_get(&fm->routes, &k, &idx) == 0) {
            *leaf = (uint32_t)idx + 1;
            *cover_len = (uint8_t)l;
            return;
        }
    }
}

static hs_fib_main_t *fib_main(const hs_net_t *net)
{
    return &hs_ip4_main(net)->fib;
}

int hs_fib_table_find(hs_net_t *net, uint32_t table_id)
{
    hs_fib_main_t *fm = fib_main(net);
    for (uint32_t i = 0; i < fm->tables.len; i++)
        if (((hs_fib_table_t *)hs_vec_at(&fm->tables, i))->table_id == table_id)
            return (int)i;
    return -ENOENT;
}

int hs_fib_table_find_or_create(hs_net_t *net, uint32_t table_id)
{
    int i = hs_fib_table_find(net, table_id);
    if (i >= 0)
        return i;
    hs_fib_main_t *fm = fib_main(net);
    if (fm->tables.len >= HS_FIB_MAX_TABLES)
        return -ENOSPC;
    uint32_t root;
    if (ply_new(fm, 0, 0, &root) < 0)
        return -ENOMEM;
    hs_fib_table_t *t = hs_vec_push(&fm->tables, NULL);
    if (!t) {
        ply_free(fm, root);
        return -ENOMEM;
    }
    t->table_id = table_id;
    t->root = root;
    return (int)(fm->tables.len - 1);
}

uint32_t hs_fib_table_id(hs_net_t *net, uint32_t fib_index)
{
    hs_fib_main_t *fm = fib_main(net);
    if (fib_index >= fm->tables.len)
        return UINT32_MAX;
    return ((hs_fib_table_t *)hs_vec_at(&fm->tables, fib_index))->table_id;
}

static void table_count(hs_fib_table_t *t, uint8_t len, int delta)
{
    t->len_count[len] = (uint32_t)((int)t->len_count[len] + delta);
    t->n_routes = (uint32_t)((int)t->n_routes + delta);
    if (t->len_count[len])
        t->len_mask |= 1ull << len;
    else
        t->len_mask &= ~(1ull << len);
}

int hs_fib_add(hs_net_t *net, uint32_t fib_index, const hs_fib_route_t *r)
{
    hs_fib_main_t *fm = fib_main(net);
    if (r->len > 32 || r->type > HS_FIB_BROADCAST || fib_index >= fm->tables.len)
        return -EINVAL;
    hs_fib_key_t k = {fib_index, r->prefix & hs_ip4_mask(r->len), r->len};
    uint64_t idx;
    if (hs_hash_get(&fm->routes, &k, &idx) == 0) { /* replaced in place: the trie holds it */
        hs_fib_entry_t *e = hs_pool_elt(&fm->pool, (uint32_t)idx);
        e->route = *r;
        e->route.prefix = k.prefix;
        return 0;
    }
    uint32_t pi;
    hs_fib_entry_t *e = hs_pool_get(&fm->pool, &pi);
    if (!e)
        return -ENOMEM;
    e->route = *r;
    e->route.prefix = k.prefix;
    e->fib_index = fib_index;
    hs_fib_table_t *t = hs_vec_at(&fm->tables, fib_index);
    fib_change_t u = {.leaf = pi + 1, .len = r->len, .route_len = r->len};
    if (hs_hash_add(&fm->routes, &k, pi) < 0 ||
        trie_change(fm, t->root, k.prefix, r->len, &u) < 0) {
        hs_hash_del(&fm->routes, &k); /* no trie slot was set: plies come before slots */
        hs_pool_put(&fm->pool, pi);
        return -ENOMEM;
    }
    table_count(t, r->len, +1);
    return 0;
}

int hs_fib_del(hs_net_t *net, uint32_t fib_index, uint32_t prefix, uint8_t len)
{
    hs_fib_main_t *fm = fib_main(net);
    if (len > 32 || fib_index >= fm->tables.len)
        return -EINVAL;
    hs_fib_key_t k = {fib_index, prefix & hs_ip4_mask(len), len};
    uint64_t idx;
    if (hs_hash_get(&fm->routes, &k, &idx) < 0)
        return -ENOENT;
    hs_fib_table_t *t = hs_vec_at(&fm->tables, fib_index);
    fib_change_t u = {.route_len = len, .is_del = true};
    cover_of(fm, fib_index, k.prefix, len, &u.leaf, &u.len);
    trie_change(fm, t->root, k.prefix, len, &u); /* a delete allocates nothing */
    hs_hash_del(&fm->routes, &k);
    hs_pool_put(&fm->pool, (uint32_t)idx);
    table_count(t, len, -1);
    return 0;
}

void hs_fib_del_interface(hs_net_t *net, uint32_t sw_if_index)
{
    hs_fib_main_t *fm = fib_main(net);
    /* Collect first: deleting moves hash entries under an iteration. */
    hs_vec_t doomed = HS_VEC_INIT(hs_fib_key_t);
    hs_pool_foreach(&fm->pool, i)
    {
        hs_fib_entry_t *e = hs_pool_elt(&fm->pool, i);
        hs_fib_key_t k = {e->fib_index, e->route.prefix, e->route.len};
        if (e->route.sw_if_index == sw_if_index && !hs_vec_push(&doomed, &k))
            break; /* out of memory: what was collected still goes */
    }
    for (uint32_t i = 0; i < doomed.len; i++) {
        hs_fib_key_t *k = hs_vec_at(&doomed, i);
        hs_fib_del(net, k->fib_index, k->prefix, (uint8_t)k->len);
    }
    hs_vec_free(&doomed);
}

const hs_fib_route_t *hs_fib_lookup(const hs_net_t *net, uint32_t fib_index, uint32_t dst)
{
    return hs_fib_main_lookup(fib_main(net), fib_index, dst);
}

const hs_fib_route_t *hs_fib_get(const hs_net_t *net, uint32_t fib_index, uint32_t prefix,
                                 uint8_t len)
{
    const hs_fib_main_t *fm = fib_main(net);
    if (len > 32)
        return NULL;
    hs_fib_key_t k = {fib_index, prefix & hs_ip4_mask(len), len};
    uint64_t idx;
    if (hs_hash_get(&fm->routes, &k, &idx) < 0)
        return NULL;
    return &((const hs_fib_entry_t *)hs_pool_elt(&fm->pool, (uint32_t)idx))->route;
}

uint32_t hs_fib_n_routes(const hs_net_t *net, uint32_t fib_index)
{
    const hs_fib_main_t *fm = fib_main(net);
    if (fib_index >= fm->tables.len)
        return 0;
    return ((const hs_fib_table_t *)hs_vec_at(&fm->tables, fib_index))->n_routes;
}

/* ---- show ip fib ---- */

static int route_cmp(const void *a, const void *b)
{
    const hs_fib_route_t *x = *(const hs_fib_route_t *const *)a;
    const hs_fib_route_t *y = *(const hs_fib_route_t *const *)b;
    if (x->prefix != y->prefix)
        return x->prefix < y->prefix ? -1 : 1;
    return (int)x->len - (int)y->len;
}

const char *hs_fib_type_name(hs_fib_type_t t)
{
    static const char *const names[] = {
        [HS_FIB_LOCAL] = "local", [HS_FIB_CONNECTED] = "connected", [HS_FIB_VIA] = "via",
        [HS_FIB_DROP] = "drop",   [HS_FIB_BROADCAST] = "broadcast",
    };
    return (unsigned)t < HS_ARRAY_LEN(names) ? names[t] : "?";
}

static void format_route(hs_net_t *net, const hs_fib_route_t *r, hs_str_t *out)
{
    char p[16], nh[16], pfx[24];
    snprintf(pfx, sizeof(pfx), "%s/%u", hs_ip4_format_addr(p, r->prefix), r->len);
    hs_str_printf(out, "  %-19s %s", pfx, hs_fib_type_name((hs_fib_type_t)r->type));
    if (r->type == HS_FIB_VIA)
        hs_str_printf(out, " %s", hs_ip4_format_addr(nh, r->next_hop));
    const hs_interface_t *ifc = hs_ip4_interface(net, r->sw_if_index);
    if (ifc)
        hs_str_printf(out, " %s", ifc->name);
    hs_str_printf(out, "\n");
}

static void format_table(hs_net_t *net, uint32_t fib_index, hs_str_t *out)
{
    hs_fib_main_t *fm = fib_main(net);
    const hs_fib_table_t *t = hs_vec_at(&fm->tables, fib_index);
    hs_str_printf(out, "ipv4 table %u (fib_index %u), %u routes\n", t->table_id, fib_index,
                  t->n_routes);
    const hs_fib_route_t **rs = t->n_routes ? malloc(t->n_routes * sizeof(*rs)) : NULL;
    if (!rs)
        return;
    uint32_t n = 0;
    hs_pool_foreach(&fm->pool, i)
    {
        const hs_fib_entry_t *e = hs_pool_elt(&fm->pool, i);
        if (e->fib_index == fib_index && n < t->n_routes)
            rs[n++] = &e->route;
    }
    qsort(rs, n, sizeof(*rs), route_cmp);
    for (uint32_t i = 0; i < n; i++)
        format_route(net, rs[i], out);
    free(rs);
}

void hs_fib_format(hs_net_t *net, hs_str_t *out)
{
    hs_fib_main_t *fm = fib_main(net);
    for (uint32_t i = 0; i < fm->tables.len; i++)
        format_table(net, i, out);
}
