/* The TCP worker and a connection's life: configuration, allocation, ISNs (RFC 6528),
 * routes and MSS, state changes, session attachment, deferred freeing, and the flush that
 * runs output for pending connections. */
#include "tcp/tcp_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "infra/siphash.h"
#include "net/fib.h"
#include "net/interface.h"
#include "net/ip4.h"

#define TCP_MAX_CONNS (1u << 28) /* timer user values keep 29 bits of index */

void hs_tcp_config_default(hs_tcp_config_t *cfg)
{
    *cfg = (hs_tcp_config_t){
        .tick_ns = HS_NS_PER_MS,
        .time_wait_ns = 60 * HS_NS_PER_S,
        .fin_wait2_ns = 60 * HS_NS_PER_S,
        .delack_ns = 40 * HS_NS_PER_MS,
        .rto_init_ns = HS_NS_PER_S,
        .rto_min_ns = 200 * HS_NS_PER_MS,
        .rto_max_ns = 60 * HS_NS_PER_S,
        .syn_retries = 6,
        .synack_retries = 5,
        .max_retries = 15,
        .keepalive_idle_ns = 7200 * HS_NS_PER_S,
        .keepalive_intvl_ns = 75 * HS_NS_PER_S,
        .keepalive_probes = 9,
        .init_cwnd_segs = 10,
        .rcv_buf_max = 16u << 20,
        .init_rcv_wnd = 65535,
        .quickack_segs = 16,
        .timestamps = true,
        .window_scaling = true,
        .sack = true,
        .syn_backlog = 1024,
        .challenge_ack_limit = 1000,
    };
}

static void emit_to_graph(void *ctx, hs_tcp_worker_t *tw, uint32_t bi)
{
    (void)ctx;
    hs_net_worker_t *nw = tw->nw;
    hs_graph_enqueue(&nw->rt, nw->net->nodes.ip4_lookup, bi);
    if (!tw->in_node)
        tw->dispatch = true; /* nobody is running the graph: poll will */
}

static bool key_is_zero(const uint8_t *k)
{
    for (int i = 0; i < HS_SIPHASH_KEY_LEN; i++) {
        if (k[i])
            return false;
    }
    return true;
}

int hs_tcp_worker_init(hs_tcp_worker_t *tw, hs_net_worker_t *nw, struct hs_session_worker *sw,
                       const hs_tcp_config_t *cfg)
{
    memset(tw, 0, sizeof(*tw));
    if (cfg)
        tw->cfg = *cfg;
    else
        hs_tcp_config_default(&tw->cfg);
    if (!tw->cfg.cc)
        tw->cfg.cc = &hs_tcp_cc_newreno;
    if (tw->cfg.max_conns == 0 || tw->cfg.max_conns > TCP_MAX_CONNS)
        tw->cfg.max_conns = TCP_MAX_CONNS;
    if (tw->cfg.tick_ns == 0)
        tw->cfg.tick_ns = HS_NS_PER_MS;
    if (key_is_zero(tw->cfg.secret) &&
        getrandom(tw->cfg.secret, sizeof(tw->cfg.secret), 0) != (ssize_t)sizeof(tw->cfg.secret)) {
        uint64_t t = hs_clock_mono_ns() ^ (uintptr_t)tw; /* no entropy source: still varies */
        memcpy(tw->cfg.secret, &t, sizeof(t));
    }
    tw->nw = nw;
    tw->sw = sw;
    tw->index = nw ? nw->index : 0;
    tw->emit = emit_to_graph;
    uint64_t now = nw ? nw->now_ns : 0;
    tw->now_ns = now;
    hs_vec_init(&tw->pending, sizeof(uint32_t));
    hs_vec_init(&tw->to_free, sizeof(uint32_t));
    if (hs_pool_init(&tw->conns, sizeof(hs_tcp_conn_t), tw->cfg.max_conns) < 0 ||
        hs_pool_init(&tw->listeners, sizeof(hs_tcp_listener_t), 0) < 0 ||
        hs_tw_init(&tw->wheel, tw->cfg.tick_ns, now, 0) < 0) {
        hs_tcp_worker_destroy(tw);
        return -ENOMEM;
    }
    return 0;
}

void hs_tcp_worker_destroy(hs_tcp_worker_t *tw)
{
    hs_pool_destroy(&tw->conns);
    hs_pool_destroy(&tw->listeners);
    hs_tw_destroy(&tw->wheel);
    hs_vec_free(&tw->pending);
    hs_vec_free(&tw->to_free);
    free(tw->scratch);
    tw->scratch = NULL;
}

const char *hs_tcp_state_name(hs_tcp_state_t s)
{
    static const char *const names[HS_TCP_N_STATES] = {
        [HS_TCP_CLOSED] = "CLOSED",           [HS_TCP_LISTEN] = "LISTEN",
        [HS_TCP_SYN_SENT] = "SYN-SENT",       [HS_TCP_SYN_RCVD] = "SYN-RECEIVED",
        [HS_TCP_ESTABLISHED] = "ESTABLISHED", [HS_TCP_FIN_WAIT_1] = "FIN-WAIT-1",
        [HS_TCP_FIN_WAIT_2] = "FIN-WAIT-2",   [HS_TCP_CLOSE_WAIT] = "CLOSE-WAIT",
        [HS_TCP_CLOSING] = "CLOSING",         [HS_TCP_LAST_ACK] = "LAST-ACK",
        [HS_TCP_TIME_WAIT] = "TIME-WAIT",
    };
    return (unsigned)s < HS_TCP_N_STATES ? names[s] : "?";
}

hs_tcp_conn_t *hs_tcp_conn_alloc(hs_tcp_worker_t *tw)
{
    uint32_t ci;
    hs_tcp_conn_t *tc = hs_pool_get(&tw->conns, &ci);
    if (!tc)
        return NULL;
    tc->c.proto = HS_PROTO_TCP;
    tc->c.worker = (uint8_t)tw->index;
    tc->c.conn_index = ci;
    tc->c.session_index = UINT32_MAX;
    tc->state = HS_TCP_CLOSED;
    tc->rto_us = (uint32_t)(tw->cfg.rto_init_ns / HS_NS_PER_US);
    tc->rcv_smss = HS_TCP_DEFAULT_MSS;
    tc->snd_mss = HS_TCP_DEFAULT_MSS;
    tc->last_rx_ns = tw->now_ns;
    tc->keepalive_idle_ns = tw->cfg.keepalive_idle_ns;
    tc->keepalive_intvl_ns = tw->cfg.keepalive_intvl_ns;
    tc->keepalive_probes = tw->cfg.keepalive_probes;
    if (tw->cfg.keepalive)
        tc->flags |= HS_TCP_F_KEEPALIVE;
    if (tw->cfg.nodelay)
        tc->flags |= HS_TCP_F_NODELAY;
    return tc;
}

void hs_tcp_set_state(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, hs_tcp_state_t s)
{
    hs_tcp_state_t old = tc->state;
    if (old == s)
        return;
    if (old == HS_TCP_TIME_WAIT)
        tw->n_time_wait--;
    if (s == HS_TCP_TIME_WAIT)
        tw->n_time_wait++;
    /* The listener's backlog counts passive opens not yet synchronized. */
    if ((tc->flags & HS_TCP_F_PASSIVE) && (old == HS_TCP_SYN_RCVD || s == HS_TCP_SYN_RCVD)) {
        hs_tcp_listener_t *l = hs_pool_from_handle(&tw->listeners, tc->listener);
        if (l && s == HS_TCP_SYN_RCVD)
            l->n_syn_rcvd++;
        else if (l && l->n_syn_rcvd)
            l->n_syn_rcvd--;
    }
    tc->state = (uint8_t)s;
}

void hs_tcp_session_attach(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    tc->rx_fifo = hs_session_rx_fifo(tw->sw, tc->c.session_index);
    tc->tx_fifo = hs_session_tx_fifo(tw->sw, tc->c.session_index);
    if (tc->rx_fifo && tc->tx_fifo)
        tc->flags |= HS_TCP_F_SESSION;
}

void hs_tcp_session_detach(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    if (!(tc->flags & HS_TCP_F_SESSION))
        return;
    tc->flags &= ~(uint32_t)HS_TCP_F_SESSION;
    tc->rx_fifo = tc->tx_fifo = NULL;
    hs_session_transport_closed(tw->sw, tc->c.session_index);
}

void hs_tcp_conn_done(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    if (tc->flags & HS_TCP_F_FREE)
        return;
    hs_tcp_session_detach(tw, tc);
    hs_tcp_timers_stop_all(tw, tc);
    hs_session_table_del4(tw->sw, &tc->c);
    hs_tcp_set_state(tw, tc, HS_TCP_CLOSED);
    tc->flags |= HS_TCP_F_FREE;
    if (!hs_vec_push(&tw->to_free, &tc->c.conn_index)) /* no memory: free it now */
        hs_pool_put(&tw->conns, tc->c.conn_index);
}

void hs_tcp_conn_abort(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, int err)
{
    if (tc->flags & HS_TCP_F_FREE)
        return;
    bool active_open = tc->state == HS_TCP_SYN_SENT ||
                       (tc->state == HS_TCP_SYN_RCVD && !(tc->flags & HS_TCP_F_PASSIVE));
    if (active_open) {
        tcp_count(tw, HS_TCP_S_CONNECT_FAILED, 1);
        hs_tcp_timers_stop_all(tw, tc);
        hs_session_connected(tw->sw, tc->c.session_index, NULL, err);
    } else if (tc->flags & HS_TCP_F_SESSION) {
        tcp_count(tw, HS_TCP_S_RESETS, 1);
        /* The app learns of the reset unless it already closed its side and only waits
         * for our FIN to be acknowledged (CLOSING, LAST-ACK). */
        if (tc->state != HS_TCP_CLOSING && tc->state != HS_TCP_LAST_ACK)
            hs_session_transport_reset(tw->sw, tc->c.session_index);
    }
    hs_tcp_conn_done(tw, tc);
}

void hs_tcp_enter_time_wait(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    hs_tcp_set_state(tw, tc, HS_TCP_TIME_WAIT);
    hs_tcp_session_detach(tw, tc);
    hs_tcp_timers_stop_all(tw, tc);
    tc->flags &= ~(uint32_t)(HS_TCP_F_DELACK | HS_TCP_F_FIN_PENDING | HS_TCP_F_RECOVERY);
    hs_tcp_timer_set(tw, tc, HS_TCP_T_WAITCLOSE, tw->cfg.time_wait_ns);
}

void hs_tcp_established(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    hs_tcp_set_state(tw, tc, HS_TCP_ESTABLISHED);
    tw->cfg.cc->init(tc);
    /* RFC 6928: min(10 * MSS, max(2 * MSS, 14600)) with the default of 10 segments. */
    uint32_t iw = tw->cfg.init_cwnd_segs * tc->snd_mss;
    tc->cwnd = tw->cfg.init_cwnd_segs == 10 ? HS_MIN(iw, HS_MAX(2u * tc->snd_mss, 14600u)) : iw;
    tc->recover = tc->iss;
    tc->quickacks = (uint16_t)tw->cfg.quickack_segs;
    tc->retries = 0;
    tc->backoff = 0;
    /* RFC 6298 5.7: a handshake that timed out without an RTT sample starts data at 3 s. */
    if ((tc->flags & HS_TCP_F_SYN_RXT) && !(tc->flags & HS_TCP_F_HAVE_RTT))
        tc->rto_us = (uint32_t)(TCP_RTO_SYN_NS / HS_NS_PER_US);
    if (tc->snd_una == tc->snd_max)
        hs_tcp_timer_stop(tw, tc, HS_TCP_T_RETRANSMIT);
    if (tc->flags & HS_TCP_F_KEEPALIVE)
        hs_tcp_timer_set(tw, tc, HS_TCP_T_KEEPALIVE, tc->keepalive_idle_ns);
}

uint32_t hs_tcp_isn(const hs_tcp_worker_t *tw, const hs_transport_conn_t *c, uint64_t now_ns)
{
    /* RFC 6528 3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M a
     * 4-microsecond timer. */
    uint64_t w[2] = {(uint64_t)c->lcl_ip << 32 | c->rmt_ip,
                     (uint64_t)c->fib_index << 32 | (uint32_t)c->lcl_port << 16 | c->rmt_port};
    return (uint32_t)hs_siphash24_u64s(tw->cfg.secret, w, 2) + (uint32_t)(now_ns / 4000);
}

/* Our window scale: the smallest shift that lets the largest FIFO be offered whole. */
static uint8_t wscale_for(uint32_t buf)
{
    uint8_t s = 0;
    while (s < HS_TCP_MAX_WSCALE && (65535ull << s) < buf)
        s++;
    return s;
}

/* The egress interface toward dst, or UINT32_MAX (local destination, or none). */
static uint32_t egress_if(const hs_net_t *net, uint32_t fib_index, uint32_t dst, bool *ok)
{
    const hs_fib_route_t *r = hs_fib_lookup(net, fib_index, dst);
    *ok = r && r->type != HS_FIB_DROP && r->type != HS_FIB_BROADCAST;
    if (!*ok || r->type == HS_FIB_LOCAL)
        return UINT32_MAX;
    if (r->type == HS_FIB_VIA && r->sw_if_index == UINT32_MAX) {
        const hs_fib_route_t *nh = hs_fib_lookup(net, fib_index, r->next_hop);
        return nh && nh->type == HS_FIB_CONNECTED ? nh->sw_if_index : UINT32_MAX;
    }
    return r->sw_if_index;
}

uint16_t hs_tcp_route_mss(hs_tcp_worker_t *tw, const hs_tcp_conn_t *tc)
{
    hs_interface_t *ifc =
        tc->sw_if_index != UINT32_MAX ? hs_interface_get(tw->nw->net, tc->sw_if_index) : NULL;
    uint32_t mtu = ifc && ifc->mtu ? ifc->mtu : HS_IF_DEFAULT_MTU;
    return (uint16_t)(mtu - 40); /* RFC 9293 3.7.1: MTU less the IP and TCP headers */
}

int hs_tcp_conn_init_route(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, uint64_t now_ns)
{
    bool ok;
    tc->sw_if_index = egress_if(tw->nw->net, tc->c.fib_index, tc->c.rmt_ip, &ok);
    if (!ok)
        return -ENETUNREACH;
    hs_interface_t *ifc =
        tc->sw_if_index != UINT32_MAX ? hs_interface_get(tw->nw->net, tc->sw_if_index) : NULL;
    if (ifc && ifc->tx_csum_offload)
        tc->flags |= HS_TCP_F_TX_CSUM_OFF;
    tc->rcv_mss = hs_tcp_route_mss(tw, tc);
    tc->iss = hs_tcp_isn(tw, &tc->c, now_ns);
    /* RFC 7323 5.4: a per-connection random offset for our timestamp clock. */
    uint64_t w[2] = {(uint64_t)tc->c.lcl_ip << 32 | tc->c.rmt_ip,
                     1ull << 63 | (uint32_t)tc->c.lcl_port << 16 | tc->c.rmt_port};
    tc->ts_offset = (uint32_t)hs_siphash24_u64s(tw->cfg.secret, w, 2);
    tc->rcv_wscale = tw->cfg.window_scaling ? wscale_for(tw->cfg.rcv_buf_max) : 0;
    return 0;
}

void hs_tcp_challenge_ack(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    /* RFC 5961 7: challenge ACKs are rate limited (per worker, per second). */
    uint64_t sec = tw->now_ns / HS_NS_PER_S;
    if (sec != tw->chack_second) {
        tw->chack_second = sec;
        tw->chack_count = 0;
    }
    if (tw->cfg.challenge_ack_limit && tw->chack_count >= tw->cfg.challenge_ack_limit) {
        tcp_count(tw, HS_TCP_S_CHALLENGE_ACK_LIMITED, 1);
        return;
    }
    tw->chack_count++;
    tc->flags |= HS_TCP_F_ACK_NOW;
    tc->stats.challenge_acks++;
    tcp_count(tw, HS_TCP_S_CHALLENGE_ACKS, 1);
}

void hs_tcp_flush(hs_tcp_worker_t *tw)
{
    /* Output calls nothing that schedules; the list is walked by index all the same, so
     * an entry added meanwhile would be served in this pass. */
    for (uint32_t i = 0; i < tw->pending.len; i++) {
        hs_tcp_conn_t *tc = hs_tcp_conn_get(tw, HS_VEC_ELT(&tw->pending, uint32_t, i));
        if (!tc)
            continue;
        tc->flags &= ~(uint32_t)HS_TCP_F_PENDING;
        if (!(tc->flags & HS_TCP_F_FREE))
            hs_tcp_output(tw, tc);
    }
    hs_vec_clear(&tw->pending);
    for (uint32_t i = 0; i < tw->to_free.len; i++) {
        uint32_t ci = HS_VEC_ELT(&tw->to_free, uint32_t, i);
        hs_tcp_conn_t *tc = hs_tcp_conn_get(tw, ci);
        if (!tc)
            continue;
        if (tc->flags & HS_TCP_F_SEND_RST)
            hs_tcp_output(tw, tc);
        hs_pool_put(&tw->conns, ci);
        tcp_count(tw, HS_TCP_S_CLOSED, 1);
    }
    hs_vec_clear(&tw->to_free);
}

uint64_t hs_tcp_next_timer_ns(const hs_tcp_worker_t *tw)
{
    if (tw->pending.len || tw->to_free.len || tw->dispatch)
        return tw->now_ns; /* output is due now */
    return hs_tw_next_expiry_ns(&tw->wheel);
}

void hs_tcp_poll(hs_tcp_worker_t *tw, uint64_t now_ns)
{
    hs_tcp_timers_expire(tw, now_ns);
    hs_tcp_flush(tw);
    if (tw->dispatch && !tw->in_node) {
        tw->dispatch = false;
        hs_graph_dispatch(&tw->nw->rt);
    }
}
