/* Segment arrival on a connection (RFC 9293 3.10.7.3-4 with RFC 5961 and RFC 7323): one
 * function per processing step, each citing its step. Changes state and flags only; the
 * caller runs output. ACK processing and payload placement live in tcp_ack.c and
 * tcp_rx_data.c. */
#include "tcp/tcp_input.h"

void hs_tcp_negotiate(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg,
                      uint64_t now_ns)
{
    const hs_tcp_config_t *cfg = &tw->cfg;
    /* A feature is on when both SYNs carried it (RFC 7323 1.3 and 3.2, RFC 2018 2). */
    tc->flags &= ~(uint32_t)(HS_TCP_F_TS | HS_TCP_F_WS | HS_TCP_F_SACK);
    if (cfg->timestamps && (seg->opts & HS_TCP_OPTF_TS)) {
        tc->flags |= HS_TCP_F_TS;
        tc->ts_recent = seg->tsval;
        tc->ts_recent_ns = now_ns;
    }
    if (cfg->window_scaling && (seg->opts & HS_TCP_OPTF_WSCALE)) {
        tc->flags |= HS_TCP_F_WS;
        tc->snd_wscale = seg->wscale;
    } else {
        tc->snd_wscale = tc->rcv_wscale = 0;
    }
    if (cfg->sack && (seg->opts & HS_TCP_OPTF_SACK_PERM))
        tc->flags |= HS_TCP_F_SACK;
    /* RFC 9293 3.7.1: the peer's MSS (536 when absent), no more than our route allows,
     * less the timestamp option carried on every segment; one buffer per segment. */
    uint32_t peer = (seg->opts & HS_TCP_OPTF_MSS) ? seg->mss : HS_TCP_DEFAULT_MSS;
    uint32_t mss = HS_MIN(peer, (uint32_t)tc->rcv_mss);
    if (tc->flags & HS_TCP_F_TS)
        mss -= TCP_OPT_TS_LEN;
    mss = HS_MIN(mss, (uint32_t)HS_BUF_DATA_SIZE);
    tc->snd_mss = (uint16_t)HS_MAX(mss, 64u);
}

/* RFC 9293 3.10.7.3, first (ACK acceptable in SYN-SENT: ISS < SEG.ACK =< SND.NXT). */
static bool syn_sent_ack_ok(const hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg)
{
    return hs_seq_gt(seg->ack, tc->iss) && hs_seq_leq(seg->ack, tc->snd_max);
}

/* RFC 9293 3.10.7.3, fourth, SYN with an acceptable ACK: our SYN is acknowledged. */
static int syn_sent_established(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg,
                                uint64_t now_ns)
{
    hs_tcp_ack_new(tw, tc, seg, now_ns);
    /* The window in a SYN is never scaled (RFC 7323 2.2). */
    tc->snd_wnd = seg->wnd;
    tc->max_snd_wnd = HS_MAX(tc->max_snd_wnd, tc->snd_wnd);
    tc->snd_wl1 = seg->seq;
    tc->snd_wl2 = seg->ack;
    hs_tcp_established(tw, tc);
    tc->flags |= HS_TCP_F_ACK_NOW;
    tcp_count(tw, HS_TCP_S_ESTABLISHED, 1);
    if (!hs_tcp_connected_notify(tw, tc))
        return HS_TCP_E_ACCEPT_FAILED;
    /* Text or FIN riding on the SYN-ACK: "continue processing at the sixth step". */
    if (seg->payload_len || (seg->flags & HS_TCP_FIN)) {
        hs_tcp_rx_data(tw, tc, seg);
        if (!(tc->flags & HS_TCP_F_FREE))
            hs_tcp_rx_fin(tw, tc, seg);
    }
    return HS_TCP_E_NONE;
}

/* RFC 9293 3.10.7.3: SYN-SENT. */
static int in_syn_sent(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg,
                       uint64_t now_ns)
{
    bool ack = seg->flags & HS_TCP_ACK;
    /* first: an ACK for something else gets a reset <SEQ=SEG.ACK><CTL=RST>, unless RST. */
    if (ack && !syn_sent_ack_ok(tc, seg))
        return (seg->flags & HS_TCP_RST) ? HS_TCP_E_RST_OUT_OF_WINDOW : HS_TCP_E_SYN_SENT_BAD_ACK;
    /* second: RST is acceptable only with an ACK of our SYN (RFC 5961 3.2 note): refused. */
    if (seg->flags & HS_TCP_RST) {
        if (!ack)
            return HS_TCP_E_RST_OUT_OF_WINDOW;
        tcp_count(tw, HS_TCP_S_RST_IN, 1);
        tc->stats.rst_in++;
        hs_tcp_conn_abort(tw, tc, -ECONNREFUSED);
        return HS_TCP_E_NONE;
    }
    /* fifth (reached when neither SYN nor RST): drop. */
    if (!(seg->flags & HS_TCP_SYN))
        return HS_TCP_E_SYN_SENT_BAD;
    /* fourth: SYN. */
    tc->irs = seg->seq;
    tc->rcv_nxt = seg->seq + 1;
    tc->rcv_adv = tc->rcv_nxt + HS_MIN(tw->cfg.init_rcv_wnd, 65535u); /* our SYN's offer */
    hs_tcp_negotiate(tw, tc, seg, now_ns);
    if (ack)
        return syn_sent_established(tw, tc, seg, now_ns);
    /* Simultaneous open: SYN-RECEIVED, answer <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>. Text on
     * the SYN is not kept (the peer sends it again once synchronized). */
    hs_tcp_set_state(tw, tc, HS_TCP_SYN_RCVD);
    tc->snd_wnd = seg->wnd;
    tc->max_snd_wnd = HS_MAX(tc->max_snd_wnd, tc->snd_wnd);
    tc->snd_wl1 = seg->seq;
    tc->snd_wl2 = seg->ack;
    tc->snd_nxt = tc->iss; /* the SYN-ACK carries ISS again */
    tc->flags |= HS_TCP_F_SEND_SYN;
    return HS_TCP_E_NONE;
}

/* RFC 7323 5.3 R1-R3 (PAWS): a timestamp older than TS.Recent makes the segment
 * unacceptable, unless TS.Recent went stale (idle for over 24 days) or the segment is a
 * RST. */
static bool paws_reject(hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg, uint64_t now_ns)
{
    if (!(tc->flags & HS_TCP_F_TS) || !(seg->opts & HS_TCP_OPTF_TS) || (seg->flags & HS_TCP_RST) ||
        !hs_seq_lt(seg->tsval, tc->ts_recent))
        return false;
    if (now_ns - tc->ts_recent_ns > TCP_PAWS_IDLE_NS) {
        tc->ts_recent = seg->tsval; /* R3: TS.Recent is invalid; take this one */
        tc->ts_recent_ns = now_ns;
        return false;
    }
    return true;
}

/* RFC 9293 3.10.7.4, first: segment acceptability against [RCV.NXT, RCV.NXT + RCV.WND],
 * RCV.WND being what we offered. The RFC's four cases make the right edge exclusive, which
 * refuses the ACK of a peer that filled our window exactly (its SEG.SEQ is the edge) and
 * can stall both ends; like Linux's tcp_sequence() we take any segment that starts at or
 * before the right edge and ends at or after RCV.NXT, then trim its text to the window
 * (old text is dropped, its ACK still counts). A zero window thus takes SEG.SEQ = RCV.NXT
 * only: the "special allowance" for ACKs, URGs and RSTs. */
static bool seq_acceptable(const hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg)
{
    uint32_t wnd = hs_seq_gt(tc->rcv_adv, tc->rcv_nxt) ? tc->rcv_adv - tc->rcv_nxt : 0;
    return hs_seq_leq(seg->seq, tc->rcv_nxt + wnd) &&
           hs_seq_geq(seg->seq + hs_tcp_seg_len(seg), tc->rcv_nxt);
}

/* RFC 7323 4.3 (2): TS.Recent follows the segment that our last ACK covered. */
static void ts_recent_update(hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg, uint64_t now_ns)
{
    if ((tc->flags & HS_TCP_F_TS) && (seg->opts & HS_TCP_OPTF_TS) &&
        hs_seq_geq(seg->tsval, tc->ts_recent) && hs_seq_leq(seg->seq, tc->last_ack_sent)) {
        tc->ts_recent = seg->tsval;
        tc->ts_recent_ns = now_ns;
    }
}

/* RFC 9293 3.10.7.4, first, on failure: ACK unless RST, and drop. In TIME-WAIT a
 * retransmitted FIN also restarts the 2 MSL wait (RFC 9293 3.10.7.4, eighth). */
static int seq_reject(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg, int why)
{
    if (seg->flags & HS_TCP_RST)
        return why == HS_TCP_E_PAWS ? HS_TCP_E_PAWS : HS_TCP_E_RST_OUT_OF_WINDOW;
    tc->flags |= HS_TCP_F_ACK_NOW | HS_TCP_F_ACK_SEG;
    if (tc->state == HS_TCP_TIME_WAIT && (seg->flags & HS_TCP_FIN))
        hs_tcp_timer_set(tw, tc, HS_TCP_T_WAITCLOSE, tw->cfg.time_wait_ns);
    return why;
}

/* RFC 9293 3.10.7.4, second, with RFC 5961 3.2: a RST exactly at RCV.NXT resets; one
 * elsewhere in the window gets a challenge ACK. */
static int in_rst(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg)
{
    if (seg->seq != tc->rcv_nxt) {
        hs_tcp_challenge_ack(tw, tc);
        return HS_TCP_E_RST_IN_WINDOW;
    }
    tcp_count(tw, HS_TCP_S_RST_IN, 1);
    tc->stats.rst_in++;
    /* SYN-RECEIVED: a passive open goes back to LISTEN (the listener never saw it); an
     * active one is refused. Synchronized states: "connection reset". CLOSING, LAST-ACK,
     * TIME-WAIT: simply closed. hs_tcp_conn_abort does each as the state calls for. */
    hs_tcp_conn_abort(tw, tc, tc->state == HS_TCP_SYN_RCVD ? -ECONNREFUSED : -ECONNRESET);
    return HS_TCP_E_NONE;
}

/* RFC 9293 3.10.7.4, fourth, with RFC 5961 4.2: a SYN on a synchronized connection, whatever
 * its sequence number, gets a challenge ACK. */
static int in_syn(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    hs_tcp_challenge_ack(tw, tc);
    return HS_TCP_E_SYN_IN_WINDOW;
}

/* RFC 9293 3.10.7.4, eighth: the peer's FIN once every byte before it is in. */
static void fin_reached(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    tc->flags &= ~(uint32_t)HS_TCP_F_FIN_RCVD;
    tc->rcv_nxt++;
    tc->flags |= HS_TCP_F_ACK_NOW;
    if (tc->flags & HS_TCP_F_SESSION)
        hs_session_transport_closing(tw->sw, tc->c.session_index);
    if (tc->flags & HS_TCP_F_FREE) /* the app reset it when told */
        return;
    switch (tc->state) {
    case HS_TCP_SYN_RCVD:
    case HS_TCP_ESTABLISHED:
        hs_tcp_set_state(tw, tc, HS_TCP_CLOSE_WAIT);
        break;
    case HS_TCP_FIN_WAIT_1:
        /* Our FIN acknowledged too: TIME-WAIT; else a simultaneous close: CLOSING. */
        if (tcp_fin_acked(tc))
            hs_tcp_enter_time_wait(tw, tc);
        else
            hs_tcp_set_state(tw, tc, HS_TCP_CLOSING);
        break;
    case HS_TCP_FIN_WAIT_2:
        hs_tcp_enter_time_wait(tw, tc);
        break;
    default: /* CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: remain */
        break;
    }
}

void hs_tcp_rx_fin(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg)
{
    if (!(seg->flags & HS_TCP_FIN) || tc->state < HS_TCP_SYN_RCVD)
        return;
    uint32_t fin = seg->seq + !!(seg->flags & HS_TCP_SYN) + seg->payload_len;
    if (hs_seq_lt(fin, tc->rcv_nxt)) { /* already processed: retransmitted */
        tc->flags |= HS_TCP_F_ACK_NOW;
        if (tc->state == HS_TCP_TIME_WAIT)
            hs_tcp_timer_set(tw, tc, HS_TCP_T_WAITCLOSE, tw->cfg.time_wait_ns);
        return;
    }
    if (fin == tc->rcv_nxt) {
        fin_reached(tw, tc);
        return;
    }
    /* Data before it is still missing: remember where it sits, within the window only. */
    if (hs_seq_lt(fin, tc->rcv_adv)) {
        tc->flags |= HS_TCP_F_FIN_RCVD;
        tc->rcv_fin_seq = fin;
    }
}

void hs_tcp_rx_fin_check(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    if ((tc->flags & HS_TCP_F_FIN_RCVD) && tc->rcv_fin_seq == tc->rcv_nxt)
        fin_reached(tw, tc);
}

/* RFC 9293 3.10.7.4: every step after the sequence check, in order. */
static int in_steps(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg,
                    uint64_t now_ns)
{
    /* second: RST */
    if (seg->flags & HS_TCP_RST)
        return in_rst(tw, tc, seg);
    /* fourth: SYN (third, security, does not apply) */
    if (seg->flags & HS_TCP_SYN)
        return in_syn(tw, tc);
    /* fifth: ACK */
    if (!(seg->flags & HS_TCP_ACK))
        return HS_TCP_E_NO_ACK;
    int rv = hs_tcp_rx_ack(tw, tc, seg, now_ns);
    if (rv != HS_TCP_E_NONE || (tc->flags & HS_TCP_F_FREE))
        return rv;
    /* sixth (URG) is not supported: urgent data is delivered inline. seventh: text. */
    rv = hs_tcp_rx_data(tw, tc, seg);
    /* eighth: FIN (unless the app, told of the data, reset the connection meanwhile) */
    if (!(tc->flags & HS_TCP_F_FREE))
        hs_tcp_rx_fin(tw, tc, seg);
    return rv;
}

/* RFC 9293 3.10.7.4: SYN-RECEIVED and the synchronized states. */
static int in_synchronized(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg,
                           uint64_t now_ns)
{
    if (tc->state == HS_TCP_SYN_RCVD && (seg->flags & HS_TCP_SYN) && seg->seq == tc->irs) {
        /* Its SYN again: our SYN-ACK was lost; resend it. */
        if (!(seg->flags & HS_TCP_ACK)) {
            tc->flags |= HS_TCP_F_SEND_SYN;
            tc->snd_nxt = tc->iss;
            return HS_TCP_E_SYN_DUP;
        }
        /* Simultaneous open (RFC 9293 3.5 figure 7, line 6): the peer's SYN-ACK completes
         * SYN-RECEIVED through its ACK; its SYN is the one already taken (Linux makes the
         * same exception to RFC 5961 4.2). */
        ts_recent_update(tc, seg, now_ns);
        return hs_tcp_rx_ack(tw, tc, seg, now_ns);
    }
    /* RFC 7323 3.2: once timestamps are on, a non-RST segment without one is dropped. */
    if ((tc->flags & HS_TCP_F_TS) && !(seg->opts & HS_TCP_OPTF_TS) && !(seg->flags & HS_TCP_RST) &&
        tc->state != HS_TCP_SYN_RCVD)
        return HS_TCP_E_NO_TIMESTAMP;
    if (paws_reject(tc, seg, now_ns))
        return seq_reject(tw, tc, seg, HS_TCP_E_PAWS);
    if (!seq_acceptable(tc, seg))
        return seq_reject(tw, tc, seg, HS_TCP_E_NOT_IN_WINDOW);
    ts_recent_update(tc, seg, now_ns);
    tc->last_rx_ns = now_ns;
    tc->ka_probes = 0;
    return in_steps(tw, tc, seg, now_ns);
}

int hs_tcp_input(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg, uint64_t now_ns)
{
    if (now_ns > tw->now_ns)
        tw->now_ns = now_ns;
    tc->stats.segs_in++;
    int rv;
    switch (tc->state) {
    case HS_TCP_SYN_SENT:
        rv = in_syn_sent(tw, tc, seg, now_ns);
        break;
    case HS_TCP_CLOSED:
    case HS_TCP_LISTEN: /* not connections: hs_tcp_rx handles these */
        rv = HS_TCP_E_RST_NO_CONN;
        break;
    default:
        rv = in_synchronized(tw, tc, seg, now_ns);
        break;
    }
    if (rv != HS_TCP_E_NONE)
        tc->stats.drops++;
    if (!(tc->flags & HS_TCP_F_FREE))
        tcp_schedule(tw, tc);
    return rv;
}
