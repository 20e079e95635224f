/* Where an arriving segment goes: its connection, else a listener (RFC 9293 3.10.7.2,
 * passive open), else a reset (RFC 9293 3.10.7.1); and a TIME-WAIT connection that a new
 * SYN may take over (RFC 6191). */
#include "tcp/tcp_internal.h"

/* RFC 6191 and RFC 9293 3.10.7.4 (TIME-WAIT): a SYN may reopen the 4-tuple when it cannot
 * be an old duplicate: a newer timestamp when the old connection used them, else a sequence
 * number beyond the old RCV.NXT. */
static bool time_wait_reusable(const hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg)
{
    if ((seg->flags & (HS_TCP_SYN | HS_TCP_ACK | HS_TCP_RST)) != HS_TCP_SYN)
        return false;
    if ((tc->flags & HS_TCP_F_TS) && (seg->opts & HS_TCP_OPTF_TS))
        return hs_seq_gt(seg->tsval, tc->ts_recent);
    return hs_seq_gt(seg->seq, tc->rcv_nxt);
}

/* RFC 9293 3.10.7.2, SYN: a new connection in SYN-RECEIVED answering with a SYN-ACK.
 * min_iss (when not 0) keeps a reused 4-tuple's ISS beyond its previous incarnation's
 * sequence numbers (RFC 6191 3). Text on the SYN is not kept: no FIFO exists yet, and it is
 * not acknowledged, so the peer sends it again. */
static int passive_open(hs_tcp_worker_t *tw, hs_tcp_listener_t *l, uint32_t li,
                        const hs_tcp_seg_t *seg, uint64_t now_ns, uint32_t min_iss)
{
    if (l->n_syn_rcvd >= tw->cfg.syn_backlog)
        return HS_TCP_E_SYN_BACKLOG;
    hs_tcp_conn_t *tc = hs_tcp_conn_alloc(tw);
    if (!tc)
        return HS_TCP_E_NO_CONN;
    tc->c.fib_index = seg->fib_index;
    tc->c.lcl_ip = seg->dst_ip;
    tc->c.lcl_port = seg->dst_port;
    tc->c.rmt_ip = seg->src_ip;
    tc->c.rmt_port = seg->src_port;
    if (hs_tcp_conn_init_route(tw, tc, now_ns) < 0) {
        hs_pool_put(&tw->conns, tc->c.conn_index);
        return HS_TCP_E_NO_ROUTE;
    }
    if (min_iss && hs_seq_leq(tc->iss, min_iss))
        tc->iss = min_iss + 1;
    tc->snd_una = tc->snd_nxt = tc->snd_max = tc->recover = tc->snd_sml = tc->iss;
    tc->irs = seg->seq;
    tc->rcv_nxt = seg->seq + 1;
    tc->rcv_adv = tc->rcv_nxt + HS_MIN(tw->cfg.init_rcv_wnd, 65535u);
    hs_tcp_negotiate(tw, tc, seg, now_ns);
    tc->snd_wnd = seg->wnd; /* never scaled in a SYN (RFC 7323 2.2) */
    tc->max_snd_wnd = tc->snd_wnd;
    if (hs_session_table_add4(tw->sw, &tc->c) < 0) { /* nothing else refers to it yet */
        hs_pool_put(&tw->conns, tc->c.conn_index);
        return HS_TCP_E_NO_CONN;
    }
    tc->listener = hs_pool_handle(&tw->listeners, li);
    tc->flags |= HS_TCP_F_PASSIVE | HS_TCP_F_SEND_SYN;
    hs_tcp_set_state(tw, tc, HS_TCP_SYN_RCVD);
    tcp_count(tw, HS_TCP_S_PASSIVE_OPENS, 1);
    tcp_schedule(tw, tc);
    return HS_TCP_E_NONE;
}

/* RFC 9293 3.10.7.2: LISTEN. RST ignored; an ACK gets <SEQ=SEG.ACK><CTL=RST>; a SYN opens
 * (not with FIN, which Linux drops too); anything else is dropped. */
static int listen_input(hs_tcp_worker_t *tw, uint32_t li, const hs_tcp_seg_t *seg, uint64_t now_ns,
                        uint32_t min_iss)
{
    hs_tcp_listener_t *l = hs_pool_elt_checked(&tw->listeners, li);
    if (!l)
        return HS_TCP_E_NO_LISTENER;
    if (seg->flags & HS_TCP_RST)
        return HS_TCP_E_RST_NO_CONN;
    if (seg->flags & HS_TCP_ACK)
        return HS_TCP_E_LISTEN_ACK;
    if (!(seg->flags & HS_TCP_SYN) || (seg->flags & HS_TCP_FIN))
        return HS_TCP_E_LISTEN_BAD;
    return passive_open(tw, l, li, seg, now_ns, min_iss);
}

/* Segment for an existing connection. *min_iss is set when a TIME-WAIT connection gave way
 * to a new SYN, which then goes to the listener. Returns -1 in that case. */
static int conn_input(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg,
                      uint64_t now_ns, uint32_t *min_iss)
{
    if (tc->state == HS_TCP_TIME_WAIT && time_wait_reusable(tc, seg)) {
        tcp_count(tw, HS_TCP_S_TIME_WAIT_REUSED, 1);
        *min_iss = tc->snd_max + 65536 + 2;
        hs_tcp_conn_done(tw, tc);
        return -1;
    }
    int rv = hs_tcp_input(tw, tc, seg, now_ns);
    if (rv == HS_TCP_E_SYN_SENT_BAD_ACK || rv == HS_TCP_E_SYN_RCVD_BAD_ACK)
        hs_tcp_send_reset_reply(tw, seg);
    /* Output waits for the end of the vector, except an ACK owed to this very segment
     * (out-of-order or duplicate data): those are not to be merged. */
    if ((tc->flags & (HS_TCP_F_ACK_SEG | HS_TCP_F_FREE)) == HS_TCP_F_ACK_SEG) {
        tc->flags &= ~(uint32_t)HS_TCP_F_ACK_SEG;
        hs_tcp_output(tw, tc);
    }
    return rv;
}

static int dispatch(hs_tcp_worker_t *tw, const hs_tcp_seg_t *seg, uint64_t now_ns)
{
    uint32_t min_iss = 0;
    int ci = hs_session_lookup_conn4(tw->sw, HS_PROTO_TCP, seg->fib_index, seg->dst_ip,
                                     seg->dst_port, seg->src_ip, seg->src_port);
    hs_tcp_conn_t *tc = ci >= 0 ? hs_tcp_conn_get(tw, (uint32_t)ci) : NULL;
    if (tc && !(tc->flags & HS_TCP_F_FREE)) {
        int rv = conn_input(tw, tc, seg, now_ns, &min_iss);
        if (rv >= 0)
            return rv;
    }
    int li = hs_session_lookup_listener4(tw->sw, HS_PROTO_TCP, seg->fib_index, seg->dst_ip,
                                         seg->dst_port);
    int rv = li >= 0 ? listen_input(tw, (uint32_t)li, seg, now_ns, min_iss) : HS_TCP_E_NO_LISTENER;
    /* RFC 9293 3.10.7.1 (no connection) and 3.10.7.2 (ACK to a listener): reset. */
    if (rv == HS_TCP_E_NO_LISTENER || rv == HS_TCP_E_LISTEN_ACK) {
        if (seg->flags & HS_TCP_RST)
            return HS_TCP_E_RST_NO_CONN;
        hs_tcp_send_reset_reply(tw, seg);
    }
    return rv;
}

int hs_tcp_rx(hs_tcp_worker_t *tw, const hs_tcp_seg_t *seg, uint64_t now_ns)
{
    if (now_ns > tw->now_ns)
        tw->now_ns = now_ns;
    tcp_count(tw, HS_TCP_S_SEGS_IN, 1);
    if (hs_unlikely(seg->opt_malformed))
        tcp_count(tw, HS_TCP_S_OPT_MALFORMED, 1);
    int rv = dispatch(tw, seg, now_ns);
    tw->drops[rv]++;
    return rv;
}
