/* ARP (RFC 826) with Linux-like neighbor behaviour: the neighbor table with its states and
 * aging, the hold queue, requests and gratuitous announcements, and the arp-input node. */
#include "net/arp.h"
#include "net/ethernet.h"
#include "net/interface.h"
#include "net/ip4.h"
#include "infra/hash.h"
#include "infra/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

/* A held packet and the worker that held it (its trace numbering is that worker's). */
typedef struct {
    uint32_t bi;
    uint32_t wk;
} arp_held_t;

typedef struct {
    uint32_t sw_if_index;
    uint32_t ip;
} arp_key_t;

typedef struct {
    uint32_t sw_if_index;
    uint32_t ip;
    uint8_t mac[6];
    uint8_t state;   /* hs_arp_state_t */
    uint8_t retries; /* requests sent in the current resolution or probe round */
    uint8_t probing; /* stale: unicast probes are outstanding */
    uint8_t n_held;
    uint64_t updated_ns; /* last confirmation, or creation */
    uint64_t changed_ns; /* last state change */
    uint64_t request_ns; /* last request or probe sent */
    uint64_t used_ns;    /* last resolve that used the entry */
    arp_held_t held[HS_ARP_HOLD_PER_ENTRY];
} arp_entry_t;

struct hs_arp_main {
    /* Guards everything below: any worker resolves and learns; worker 0 ages. Held only
     * for table work, never across a buffer allocation or a graph enqueue. */
    pthread_spinlock_t lock;
    hs_hash_t table;   /* arp_key_t -> index in entries */
    hs_pool_t entries; /* arp_entry_t */
    uint32_t n_held;   /* over all entries, at most HS_ARP_HOLD_MAX */
};

/* A request or probe decided under the lock and sent after it. */
typedef struct {
    uint32_t sw_if_index;
    uint32_t ip;
    uint8_t dst[6]; /* broadcast, or the neighbor's MAC for a probe */
} arp_tx_t;

/* Packets taken out of entries under the lock, released or dropped after it. */
typedef struct {
    arp_held_t held[HS_ARP_HOLD_PER_ENTRY];
    uint32_t n;
} arp_release_t;

#define ARP_ERRORS                                                                                 \
    _(SHORT, "packet too short")                                                                   \
    _(BAD_HW, "hardware type not Ethernet")                                                        \
    _(BAD_PROTO, "protocol type not IPv4")                                                         \
    _(BAD_OP, "opcode neither request nor reply")                                                  \
    _(NO_INTERFACE, "received on an unknown interface")                                            \
    _(BAD_SENDER, "sender address multicast or broadcast")                                         \
    _(CONFLICT, "address conflict (our address from another MAC)")                                 \
    _(OWN, "our own packet looped back")                                                           \
    _(NOT_FOR_US, "request not for one of our addresses")                                          \
    _(GRATUITOUS, "gratuitous ARP received")                                                       \
    _(REPLY, "replies received")                                                                   \
    _(UNSOLICITED, "unsolicited reply ignored")                                                    \
    _(TABLE_FULL, "neighbor table full")                                                           \
    _(REPLIED, "requests answered")                                                                \
    _(REQUEST_SENT, "requests sent")                                                               \
    _(NO_SOURCE, "request not sent: no address on the interface")                                  \
    _(NO_BUFFER, "request not sent: out of buffers")                                               \
    _(HELD_DROPPED, "held packets dropped: no reply")

typedef enum {
#define _(sym, str) ARP_ERR_##sym,
    ARP_ERRORS
#undef _
        ARP_N_ERRORS
} arp_error_t;

static const char *const arp_error_strings[] = {
#define _(sym, str) str,
    ARP_ERRORS
#undef _
};

enum { ARP_NEXT_OUTPUT, ARP_N_NEXT };

const char *hs_arp_state_name(hs_arp_state_t s)
{
    static const char *const names[] = {
        [HS_ARP_INCOMPLETE] = "incomplete", [HS_ARP_REACHABLE] = "reachable",
        [HS_ARP_STALE] = "stale",           [HS_ARP_STATIC] = "static",
        [HS_ARP_FAILED] = "failed",
    };
    return (unsigned)s < HS_ARRAY_LEN(names) ? names[s] : "?";
}

/* Time since then. Workers stamp entries with their own poll times, so an entry may be a
 * little newer than the aging worker's now: that is "just now", never a wrap-around. */
static inline uint64_t since(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

/* ---- the table (callers hold the lock) ---- */

static arp_entry_t *entry_find(struct hs_arp_main *am, uint32_t sw_if_index, uint32_t ip)
{
    arp_key_t k = {sw_if_index, ip};
    uint64_t idx;
    if (hs_hash_get(&am->table, &k, &idx) < 0)
        return NULL;
    return hs_pool_elt(&am->entries, (uint32_t)idx);
}

static arp_entry_t *entry_create(struct hs_arp_main *am, uint32_t sw_if_index, uint32_t ip,
                                 uint64_t now)
{
    uint32_t idx;
    arp_entry_t *e = hs_pool_get(&am->entries, &idx);
    if (!e)
        return NULL;
    arp_key_t k = {sw_if_index, ip};
    if (hs_hash_add(&am->table, &k, idx) < 0) {
        hs_pool_put(&am->entries, idx);
        return NULL;
    }
    e->sw_if_index = sw_if_index;
    e->ip = ip;
    e->state = HS_ARP_INCOMPLETE;
    e->updated_ns = e->changed_ns = e->used_ns = now;
    return e;
}

static void entry_take_held(struct hs_arp_main *am, arp_entry_t *e, arp_release_t *out)
{
    memcpy(out->held, e->held, e->n_held * sizeof(e->held[0]));
    out->n = e->n_held;
    am->n_held -= e->n_held;
    e->n_held = 0;
}

static void entry_delete(struct hs_arp_main *am, arp_entry_t *e, arp_release_t *out)
{
    entry_take_held(am, e, out);
    arp_key_t k = {e->sw_if_index, e->ip};
    uint64_t idx;
    if (hs_hash_get(&am->table, &k, &idx) == 0) {
        hs_hash_del(&am->table, &k);
        hs_pool_put(&am->entries, (uint32_t)idx);
    }
}

static bool entry_hold(struct hs_arp_main *am, arp_entry_t *e, uint32_t bi, uint32_t wk)
{
    if (e->n_held >= HS_ARP_HOLD_PER_ENTRY || am->n_held >= HS_ARP_HOLD_MAX)
        return false;
    e->held[e->n_held++] = (arp_held_t){bi, wk};
    am->n_held++;
    return true;
}

static void entry_set_state(arp_entry_t *e, hs_arp_state_t s, uint64_t now)
{
    e->state = (uint8_t)s;
    e->changed_ns = now;
    e->retries = 0;
    e->probing = 0;
}

/* A confirmed MAC: the entry becomes reachable and its held packets may go. */
static void entry_confirm(struct hs_arp_main *am, arp_entry_t *e, const uint8_t mac[6],
                          uint64_t now, arp_release_t *rel)
{
    if (e->state == HS_ARP_STATIC)
        return; /* the operator's word wins, like Linux's permanent entries */
    memcpy(e->mac, mac, 6);
    entry_set_state(e, HS_ARP_REACHABLE, now);
    e->updated_ns = now;
    entry_take_held(am, e, rel);
}

/* ---- sending ---- */

static void send_arp(hs_net_worker_t *wk, const hs_interface_t *ifc, const uint8_t dst[6],
                     const hs_arp_pkt_t *a)
{
    hs_node_rt_t *node = &wk->rt.nodes[wk->net->nodes.arp_input];
    uint32_t bi;
    if (hs_buf_alloc(&wk->bufs, &bi, 1) != 1) {
        hs_node_count(node, ARP_ERR_NO_BUFFER, 1);
        return;
    }
    hs_buf_t *b = hs_buf_ptr(wk->bufs.pool, bi);
    uint8_t *p = hs_buf_cur(b);
    hs_eth_write(p, dst, ifc->mac, HS_ETHERTYPE_ARP);
    hs_arp_build(p + HS_ETH_HDR_LEN, a);
    /* Padded to the Ethernet minimum, as a NIC would. */
    memset(p + HS_ETH_HDR_LEN + HS_ARP_PKT_LEN, 0,
           HS_ETH_MIN_LEN - HS_ETH_HDR_LEN - HS_ARP_PKT_LEN);
    b->current_length = HS_ETH_MIN_LEN;
    b->sw_if_index[HS_TX] = ifc->sw_if_index;
    b->flags |= HS_BUF_F_LOCALLY_MADE;
    hs_graph_enqueue(&wk->rt, wk->net->nodes.interface_output, bi);
}

static void send_request(hs_net_worker_t *wk, const arp_tx_t *t)
{
    hs_net_t *net = wk->net;
    hs_interface_t *ifc = hs_interface_get(net, t->sw_if_index);
    hs_node_rt_t *node = &wk->rt.nodes[net->nodes.arp_input];
    hs_arp_pkt_t a = {.op = HS_ARP_OP_REQUEST, .tpa = t->ip};
    if (!ifc)
        return;
    if (!hs_ip4_interface_source(net, t->sw_if_index, t->ip, &a.spa)) {
        hs_node_count(node, ARP_ERR_NO_SOURCE, 1);
        return;
    }
    memcpy(a.sha, ifc->mac, 6);
    hs_node_count(node, ARP_ERR_REQUEST_SENT, 1);
    send_arp(wk, ifc, t->dst, &a);
}

void hs_arp_announce(hs_net_worker_t *wk, uint32_t sw_if_index, uint32_t addr)
{
    hs_interface_t *ifc = hs_interface_get(wk->net, sw_if_index);
    if (!ifc)
        return;
    /* A gratuitous request (RFC 5227 2.3): sender and target are both the address. */
    hs_arp_pkt_t a = {.op = HS_ARP_OP_REQUEST, .spa = addr, .tpa = addr};
    memcpy(a.sha, ifc->mac, 6);
    send_arp(wk, ifc, hs_mac_broadcast, &a);
}

/* Held packets go back to ip4-rewrite on this worker. A packet held by another worker
 * carries that worker's trace numbering, so it is no longer traced here. */
static void release_held(hs_net_worker_t *wk, const arp_release_t *rel)
{
    for (uint32_t i = 0; i < rel->n; i++) {
        if (rel->held[i].wk != wk->index)
            hs_rt_buf(&wk->rt, rel->held[i].bi)->flags &= ~HS_BUF_F_TRACED;
        hs_graph_enqueue(&wk->rt, wk->net->nodes.ip4_rewrite, rel->held[i].bi);
    }
}

static void drop_held(hs_net_worker_t *wk, const arp_held_t *held, uint32_t n)
{
    hs_node_rt_t *node = &wk->rt.nodes[wk->net->nodes.arp_input];
    for (uint32_t i = 0; i < n; i++) {
        if (held[i].wk != wk->index)
            hs_rt_buf(&wk->rt, held[i].bi)->flags &= ~HS_BUF_F_TRACED;
        hs_node_drop(&wk->rt, node, held[i].bi, ARP_ERR_HELD_DROPPED);
    }
}

/* ---- resolution (ip4-rewrite) ---- */

/* Under the lock: the answer for an existing entry, and whether to send a request. */
static int resolve_locked(struct hs_arp_main *am, arp_entry_t *e, hs_net_worker_t *wk,
                          uint8_t mac[6], uint32_t bi, arp_tx_t *tx, bool *send)
{
    uint64_t now = wk->now_ns;
    switch ((hs_arp_state_t)e->state) {
    case HS_ARP_STALE:
        /* Usable, but check it is still there: unicast probes (Linux's PROBE state). */
        if (!e->probing) {
            e->probing = 1;
            e->retries = 1;
            e->request_ns = now;
            memcpy(tx->dst, e->mac, 6);
            *send = true;
        }
        /* fallthrough */
    case HS_ARP_REACHABLE:
    case HS_ARP_STATIC:
        memcpy(mac, e->mac, 6);
        e->used_ns = now;
        return 0;
    case HS_ARP_FAILED:
        /* A new packet starts a new resolution, as on Linux. */
        entry_set_state(e, HS_ARP_INCOMPLETE, now);
        e->retries = 1;
        e->request_ns = now;
        memcpy(tx->dst, hs_mac_broadcast, 6);
        *send = true;
        /* fallthrough */
    case HS_ARP_INCOMPLETE:
    default:
        e->used_ns = now;
        return entry_hold(am, e, bi, wk->index) ? -EAGAIN : -ENOBUFS;
    }
}

int hs_arp_resolve(hs_net_worker_t *wk, uint32_t sw_if_index, uint32_t ip, uint8_t mac[6],
                   uint32_t bi)
{
    struct hs_arp_main *am = wk->net->arp;
    arp_tx_t tx = {.sw_if_index = sw_if_index, .ip = ip};
    bool send = false;
    int rv;
    pthread_spin_lock(&am->lock);
    arp_entry_t *e = entry_find(am, sw_if_index, ip);
    if (!e && (e = entry_create(am, sw_if_index, ip, wk->now_ns))) {
        e->retries = 1;
        e->request_ns = wk->now_ns;
        memcpy(tx.dst, hs_mac_broadcast, 6);
        send = true;
    }
    rv = e ? resolve_locked(am, e, wk, mac, bi, &tx, &send) : -ENOBUFS;
    pthread_spin_unlock(&am->lock);
    if (!e)
        hs_node_count(&wk->rt.nodes[wk->net->nodes.arp_input], ARP_ERR_TABLE_FULL, 1);
    if (send)
        send_request(wk, &tx);
    return rv;
}

/* ---- aging (worker 0) ---- */

/* What aging decided under the lock, done after it. */
typedef struct {
    hs_vec_t tx;   /* arp_tx_t */
    hs_vec_t drop; /* arp_held_t */
    hs_buf_cache_t *bufs;
} arp_aging_t;

static void collect_drops(arp_aging_t *ag, const arp_release_t *rel)
{
    for (uint32_t i = 0; i < rel->n; i++)
        if (!hs_vec_push(&ag->drop, &rel->held[i]))
            hs_buf_free(ag->bufs, &rel->held[i].bi, 1); /* out of memory: freed uncounted */
}

static void age_retry(arp_entry_t *e, uint64_t now, arp_aging_t *ag, const uint8_t dst[6])
{
    e->retries++;
    e->request_ns = now;
    arp_tx_t t = {.sw_if_index = e->sw_if_index, .ip = e->ip};
    memcpy(t.dst, dst, 6);
    hs_vec_push(&ag->tx, &t);
}

/* Returns true when the entry should be deleted. */
static bool age_entry(struct hs_arp_main *am, arp_entry_t *e, uint64_t now, arp_aging_t *ag)
{
    bool retry_due = since(now, e->request_ns) >= HS_ARP_RETRY_NS;
    arp_release_t rel = {.n = 0};
    switch ((hs_arp_state_t)e->state) {
    case HS_ARP_REACHABLE:
        if (since(now, e->updated_ns) >= HS_ARP_REACHABLE_NS)
            entry_set_state(e, HS_ARP_STALE, now);
        return false;
    case HS_ARP_STALE:
        if (!e->probing)
            return since(now, HS_MAX(e->used_ns, e->changed_ns)) >= HS_ARP_GC_NS;
        if (retry_due && e->retries >= HS_ARP_MAX_RETRIES)
            entry_set_state(e, HS_ARP_FAILED, now);
        else if (retry_due)
            age_retry(e, now, ag, e->mac);
        return false;
    case HS_ARP_INCOMPLETE:
        if (retry_due && e->retries >= HS_ARP_MAX_RETRIES) {
            entry_set_state(e, HS_ARP_FAILED, now);
            entry_take_held(am, e, &rel);
            collect_drops(ag, &rel);
        } else if (retry_due) {
            age_retry(e, now, ag, hs_mac_broadcast);
        }
        return false;
    case HS_ARP_FAILED:
        return since(now, e->changed_ns) >= HS_ARP_GC_NS;
    case HS_ARP_STATIC:
    default:
        return false;
    }
}

void hs_arp_housekeep(hs_net_worker_t *wk, uint64_t now_ns)
{
    struct hs_arp_main *am = wk->net->arp;
    arp_aging_t ag = {HS_VEC_INIT(arp_tx_t), HS_VEC_INIT(arp_held_t), &wk->bufs};
    pthread_spin_lock(&am->lock);
    hs_pool_foreach(&am->entries, i)
    {
        arp_entry_t *e = hs_pool_elt(&am->entries, i);
        if (age_entry(am, e, now_ns, &ag)) {
            arp_release_t rel;
            entry_delete(am, e, &rel);
            collect_drops(&ag, &rel);
        }
    }
    pthread_spin_unlock(&am->lock);
    for (uint32_t i = 0; i < ag.tx.len; i++)
        send_request(wk, hs_vec_at(&ag.tx, i));
    drop_held(wk, ag.drop.data, ag.drop.len);
    hs_vec_free(&ag.tx);
    hs_vec_free(&ag.drop);
}

/* ---- arp-input ---- */

typedef struct {
    uint16_t op;
    uint8_t sha[6];
    uint32_t spa, tpa;
} arp_trace_t;

static void arp_format_trace(char *out, size_t len, const void *data, uint32_t data_len)
{
    arp_trace_t t = {0};
    memcpy(&t, data, HS_MIN((size_t)data_len, sizeof(t)));
    char m[HS_MAC_STR_LEN];
    snprintf(out, len, "%s %u.%u.%u.%u (%s) asks/tells %u.%u.%u.%u",
             t.op == HS_ARP_OP_REQUEST ? "request" : "reply", t.spa >> 24, (t.spa >> 16) & 0xff,
             (t.spa >> 8) & 0xff, t.spa & 0xff, hs_mac_format(m, t.sha), t.tpa >> 24,
             (t.tpa >> 16) & 0xff, (t.tpa >> 8) & 0xff, t.tpa & 0xff);
}

static bool if_has_addr(const hs_interface_t *ifc, uint32_t ip)
{
    for (uint32_t i = 0; i < ifc->ip4_addrs.len; i++)
        if (((const hs_ip4_if_addr_t *)hs_vec_at(&ifc->ip4_addrs, i))->addr == ip)
            return true;
    return false;
}

static bool sender_is_valid(const hs_arp_pkt_t *a)
{
    bool ip_bad = (a->spa >> 28) == 0xe || a->spa == UINT32_MAX; /* multicast, broadcast */
    return !ip_bad && hs_mac_is_valid_unicast(a->sha);
}

/* Learns the sender: an existing entry is refreshed (any ARP from it proves its MAC); a
 * new one is made only when the sender asked for us (RFC 826's merge step). Returns false
 * when nothing was learned. */
static bool learn(hs_net_worker_t *wk, hs_node_rt_t *node, uint32_t sw_if_index,
                  const hs_arp_pkt_t *a, bool create)
{
    struct hs_arp_main *am = wk->net->arp;
    arp_release_t rel = {.n = 0};
    bool full = false;
    pthread_spin_lock(&am->lock);
    arp_entry_t *e = entry_find(am, sw_if_index, a->spa);
    if (!e && create && !(e = entry_create(am, sw_if_index, a->spa, wk->now_ns)))
        full = true;
    if (e)
        entry_confirm(am, e, a->sha, wk->now_ns, &rel);
    pthread_spin_unlock(&am->lock);
    if (full)
        hs_node_count(node, ARP_ERR_TABLE_FULL, 1);
    release_held(wk, &rel);
    return e != NULL;
}

/* Turns the request in b into our reply and sends it back where it came from. */
static void reply(hs_graph_rt_t *rt, hs_node_rt_t *node, hs_interface_t *ifc, uint32_t bi,
                  const hs_arp_pkt_t *a)
{
    hs_buf_t *b = hs_rt_buf(rt, bi);
    /* A probe (RFC 5227) has sender 0.0.0.0: the reply's target is then 0 as well. */
    hs_arp_pkt_t r = {.op = HS_ARP_OP_REPLY, .spa = a->tpa, .tpa = a->spa};
    memcpy(r.sha, ifc->mac, 6);
    memcpy(r.tha, a->sha, 6);
    if (b->flags & HS_BUF_F_NEXT) { /* never for a real ARP frame, but keep one buffer */
        hs_buf_free(rt->bufs, &b->next, 1);
        b->flags &= ~HS_BUF_F_NEXT;
        b->chain_rest_len = 0;
    }
    hs_arp_build(hs_buf_cur(b), &r);
    b->current_length = HS_ARP_PKT_LEN;
    if (hs_eth_push(b, a->sha, ifc->mac, HS_ETHERTYPE_ARP) < 0 ||
        hs_buf_tailroom(b) < HS_ETH_MIN_LEN - HS_ETH_HDR_LEN - HS_ARP_PKT_LEN) {
        hs_node_drop(rt, node, bi, ARP_ERR_SHORT);
        return;
    }
    memset(hs_buf_cur(b) + HS_ETH_HDR_LEN + HS_ARP_PKT_LEN, 0,
           HS_ETH_MIN_LEN - HS_ETH_HDR_LEN - HS_ARP_PKT_LEN);
    b->current_length = HS_ETH_MIN_LEN;
    b->sw_if_index[HS_TX] = ifc->sw_if_index;
    b->flags |= HS_BUF_F_LOCALLY_MADE;
    hs_node_count(node, ARP_ERR_REPLIED, 1);
    hs_node_next(rt, node, ARP_NEXT_OUTPUT, bi);
}

static const uint16_t parse_errors[] = {
    [HS_ARP_PARSE_SHORT] = ARP_ERR_SHORT,
    [HS_ARP_PARSE_BAD_HW] = ARP_ERR_BAD_HW,
    [HS_ARP_PARSE_BAD_PROTO] = ARP_ERR_BAD_PROTO,
    [HS_ARP_PARSE_BAD_OP] = ARP_ERR_BAD_OP,
};

/* What happens to one ARP packet: a reply is sent (returns ARP_N_ERRORS) or the reason it
 * ends here. */
static uint16_t arp_decide(hs_net_worker_t *wk, hs_node_rt_t *node, hs_interface_t *ifc,
                           const hs_arp_pkt_t *a)
{
    if (!sender_is_valid(a))
        return ARP_ERR_BAD_SENDER;
    if (if_has_addr(ifc, a->spa))
        return hs_mac_equal(a->sha, ifc->mac) ? ARP_ERR_OWN : ARP_ERR_CONFLICT;
    bool for_us = a->op == HS_ARP_OP_REQUEST && if_has_addr(ifc, a->tpa);
    /* Probes (sender 0.0.0.0) teach nothing. */
    bool learned = a->spa != 0 && learn(wk, node, ifc->sw_if_index, a, for_us);
    if (for_us)
        return ARP_N_ERRORS;
    if (a->spa == a->tpa)
        return ARP_ERR_GRATUITOUS;
    if (a->op == HS_ARP_OP_REPLY)
        return learned ? ARP_ERR_REPLY : ARP_ERR_UNSOLICITED;
    return ARP_ERR_NOT_FOR_US;
}

static void arp_input_one(hs_graph_rt_t *rt, hs_node_rt_t *node, hs_net_worker_t *wk, uint32_t bi)
{
    hs_buf_t *b = hs_rt_buf(rt, bi);
    hs_interface_t *ifc = hs_interface_get(wk->net, b->sw_if_index[HS_RX]);
    hs_arp_pkt_t a;
    if (hs_unlikely(!ifc)) {
        hs_node_drop(rt, node, bi, ARP_ERR_NO_INTERFACE);
        return;
    }
    hs_arp_parse_result_t pr = hs_arp_parse(hs_buf_cur(b), b->current_length, &a);
    if (pr != HS_ARP_PARSE_OK) {
        hs_node_drop(rt, node, bi, parse_errors[pr]);
        return;
    }
    if (hs_unlikely(b->flags & HS_BUF_F_TRACED)) {
        arp_trace_t t = {.op = a.op, .spa = a.spa, .tpa = a.tpa};
        memcpy(t.sha, a.sha, 6);
        hs_trace_add(rt, node, b, &t, sizeof(t));
    }
    uint16_t verdict = arp_decide(wk, node, ifc, &a);
    if (verdict == ARP_N_ERRORS)
        reply(rt, node, ifc, bi, &a);
    else
        hs_node_drop(rt, node, bi, verdict);
}

static uint32_t arp_input_fn(hs_graph_rt_t *rt, hs_node_rt_t *node, const uint32_t *bis, uint32_t n)
{
    hs_net_worker_t *wk = rt->user;
    for (uint32_t i = 0; i < n; i++)
        arp_input_one(rt, node, wk, bis[i]);
    return n;
}

static const char *const arp_next[ARP_N_NEXT] = {[ARP_NEXT_OUTPUT] = "interface-output"};

static const hs_node_reg_t arp_input_reg = {
    .name = "arp-input",
    .fn = arp_input_fn,
    .type = HS_NODE_INTERNAL,
    .n_next = ARP_N_NEXT,
    .next_nodes = arp_next,
    .n_errors = ARP_N_ERRORS,
    .errors = arp_error_strings,
    .format_trace = arp_format_trace,
};

/* ---- setup and the control plane ---- */

int hs_arp_init(hs_net_t *net)
{
    struct hs_arp_main *am = calloc(1, sizeof(*am));
    if (!am)
        return -ENOMEM;
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
        seed = hs_clock_mono_ns(); /* keys come from the wire: prefer an unguessable seed */
    pthread_spin_init(&am->lock, PTHREAD_PROCESS_PRIVATE);
    int rv = hs_hash_init(&am->table, sizeof(arp_key_t), 64, seed);
    if (rv == 0)
        rv = hs_pool_init(&am->entries, sizeof(arp_entry_t), HS_ARP_MAX_ENTRIES);
    if (rv < 0) {
        hs_hash_destroy(&am->table);
        pthread_spin_destroy(&am->lock);
        free(am);
        return rv;
    }
    net->arp = am;
    rv = hs_graph_add_node(&net->graph, &arp_input_reg);
    return rv < 0 ? rv : 0;
}

void hs_arp_destroy(hs_net_t *net)
{
    struct hs_arp_main *am = net->arp;
    if (!am)
        return;
    /* Held buffers belong to the buffer pool, which goes away with net. */
    hs_hash_destroy(&am->table);
    hs_pool_destroy(&am->entries);
    pthread_spin_destroy(&am->lock);
    free(am);
    net->arp = NULL;
}

/* Control-plane callers run while the workers are stopped, so worker 0's cache and graph
 * runtime are free to use. Without workers (a failed create) the buffers stay in the pool
 * that is about to go. */
static void cp_free_held(hs_net_t *net, const arp_held_t *held, uint32_t n)
{
    for (uint32_t i = 0; i < n && net->n_workers; i++)
        hs_buf_free(&net->workers[0].bufs, &held[i].bi, 1);
}

int hs_arp_add_static(hs_net_t *net, uint32_t sw_if_index, uint32_t ip, const uint8_t mac[6])
{
    struct hs_arp_main *am = net->arp;
    if (!hs_interface_get(net, sw_if_index))
        return -ENOENT;
    if (ip == 0 || !hs_mac_is_valid_unicast(mac))
        return -EINVAL;
    uint64_t now = hs_clock_now(net->clock);
    arp_release_t rel = {.n = 0};
    pthread_spin_lock(&am->lock);
    arp_entry_t *e = entry_find(am, sw_if_index, ip);
    if (!e)
        e = entry_create(am, sw_if_index, ip, now);
    if (e) {
        entry_confirm(am, e, mac, now, &rel); /* releases what was held */
        memcpy(e->mac, mac, 6);
        entry_set_state(e, HS_ARP_STATIC, now);
    }
    pthread_spin_unlock(&am->lock);
    if (!e)
        return -ENOSPC;
    if (net->n_workers)
        release_held(&net->workers[0], &rel);
    return 0;
}

int hs_arp_del(hs_net_t *net, uint32_t sw_if_index, uint32_t ip)
{
    struct hs_arp_main *am = net->arp;
    arp_release_t rel = {.n = 0};
    pthread_spin_lock(&am->lock);
    arp_entry_t *e = entry_find(am, sw_if_index, ip);
    if (e)
        entry_delete(am, e, &rel);
    pthread_spin_unlock(&am->lock);
    cp_free_held(net, rel.held, rel.n);
    return e ? 0 : -ENOENT;
}

void hs_arp_flush_interface(hs_net_t *net, uint32_t sw_if_index)
{
    struct hs_arp_main *am = net->arp;
    if (!am)
        return;
    hs_vec_t held = HS_VEC_INIT(arp_held_t);
    pthread_spin_lock(&am->lock);
    hs_pool_foreach(&am->entries, i)
    {
        arp_entry_t *e = hs_pool_elt(&am->entries, i);
        if (e->sw_if_index != sw_if_index)
            continue;
        arp_release_t rel;
        entry_delete(am, e, &rel);
        for (uint32_t j = 0; j < rel.n; j++)
            if (!hs_vec_push(&held, &rel.held[j]))
                cp_free_held(net, &rel.held[j], 1); /* out of memory: free it right here */
    }
    pthread_spin_unlock(&am->lock);
    cp_free_held(net, held.data, held.len);
    hs_vec_free(&held);
}

int hs_arp_lookup(hs_net_t *net, uint32_t sw_if_index, uint32_t ip, hs_arp_entry_info_t *info)
{
    struct hs_arp_main *am = net->arp;
    pthread_spin_lock(&am->lock);
    arp_entry_t *e = entry_find(am, sw_if_index, ip);
    if (e) {
        info->state = (hs_arp_state_t)e->state;
        memcpy(info->mac, e->mac, 6);
        info->retries = e->retries;
        info->n_held = e->n_held;
        info->updated_ns = e->updated_ns;
    }
    pthread_spin_unlock(&am->lock);
    return e ? 0 : -ENOENT;
}

uint32_t hs_arp_n_entries(hs_net_t *net)
{
    pthread_spin_lock(&net->arp->lock);
    uint32_t n = hs_pool_count(&net->arp->entries);
    pthread_spin_unlock(&net->arp->lock);
    return n;
}

uint32_t hs_arp_n_held(hs_net_t *net)
{
    pthread_spin_lock(&net->arp->lock);
    uint32_t n = net->arp->n_held;
    pthread_spin_unlock(&net->arp->lock);
    return n;
}

static void format_entry(hs_net_t *net, const arp_entry_t *e, uint64_t now, hs_str_t *out)
{
    hs_interface_t *ifc = hs_interface_get(net, e->sw_if_index);
    char ip[16], mac[HS_MAC_STR_LEN] = "-", age[24] = "-";
    snprintf(ip, sizeof(ip), "%u.%u.%u.%u", e->ip >> 24, (e->ip >> 16) & 0xff, (e->ip >> 8) & 0xff,
             e->ip & 0xff);
    if (e->state != HS_ARP_INCOMPLETE && e->state != HS_ARP_FAILED)
        hs_mac_format(mac, e->mac);
    if (e->state != HS_ARP_STATIC)
        snprintf(age, sizeof(age), "%.1fs", (double)since(now, e->updated_ns) / 1e9);
    hs_str_printf(out, "%-16s %-15s %-17s %-10s %s\n", ifc ? ifc->name : "?", ip, mac,
                  hs_arp_state_name((hs_arp_state_t)e->state), age);
}

void hs_arp_format(hs_net_t *net, hs_str_t *out)
{
    struct hs_arp_main *am = net->arp;
    uint64_t now = hs_clock_now(net->clock);
    pthread_spin_lock(&am->lock);
    if (hs_pool_count(&am->entries) == 0)
        hs_str_printf(out, "no neighbors\n");
    else
        hs_str_printf(out, "%-16s %-15s %-17s %-10s %s\n", "Interface", "IP", "MAC", "State",
                      "Age");
    hs_pool_foreach(&am->entries, i)
    {
        format_entry(net, hs_pool_elt(&am->entries, i), now, out);
    }
    pthread_spin_unlock(&am->lock);
}
