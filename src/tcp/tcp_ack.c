/* The ACK field of an arriving segment (RFC 9293 3.10.7.4, fifth step): acceptability
 * (RFC 5961 5.2), RTT samples (RFC 6298, RFC 7323 4), the tx FIFO releasing acknowledged
 * bytes, duplicate ACKs and loss recovery: SACK-based with a scoreboard when the peer
 * SACKs (RFC 6675, tcp_sack.c), NewReno otherwise (RFC 5681 3.2, RFC 6582 3.2), the send
 * window, and the closing states' FIN acknowledgment. */
#include "tcp/tcp_input.h"

/* RTT sample from this ACK: from the echoed timestamp when timestamps are on (RFC 7323
 * 4.1), else from the one segment being timed, never a retransmitted one (Karn). */
static void rtt_from_ack(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg,
                         uint64_t now_ns)
{
    if ((tc->flags & HS_TCP_F_TS) && (seg->opts & HS_TCP_OPTF_TS) && seg->tsecr != 0) {
        uint32_t ms = tcp_ts_now(tw, tc) - seg->tsecr;
        if ((int32_t)ms >= 0 && ms < 3600u * TCP_TS_HZ)
            hs_tcp_rtt_sample(tw, tc, ms * (1000000u / TCP_TS_HZ));
        tc->flags &= ~(uint32_t)HS_TCP_F_RTT_TIMING;
        return;
    }
    if ((tc->flags & HS_TCP_F_RTT_TIMING) && hs_seq_gt(seg->ack, tc->rtt_seq)) {
        tc->flags &= ~(uint32_t)HS_TCP_F_RTT_TIMING;
        hs_tcp_rtt_sample(tw, tc, (uint32_t)HS_MIN((now_ns - tc->rtt_start_ns) / 1000, UINT32_MAX));
    }
}

void hs_tcp_ack_new(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg,
                    uint64_t now_ns)
{
    uint32_t acked = seg->ack - tc->snd_una;
    /* SYN and FIN occupy a sequence number each but no FIFO byte. */
    uint32_t data = acked - (tcp_syn_unacked(tc) ? 1 : 0);
    if ((tc->flags & HS_TCP_F_FIN_SENT) && hs_seq_gt(seg->ack, tc->fin_seq))
        data--;
    rtt_from_ack(tw, tc, seg, now_ns);
    tc->snd_una = seg->ack;
    if (hs_seq_lt(tc->snd_nxt, tc->snd_una))
        tc->snd_nxt = tc->snd_una; /* the peer had more than we resent after a timeout */
    tc->backoff = 0;
    tc->retries = 0;
    if (data && (tc->flags & HS_TCP_F_SESSION) && hs_fifo_dequeue_drop(tc->tx_fifo, data) > 0)
        hs_session_notify_tx(tw->sw, tc->c.session_index);
}

/* RFC 5681 2: a duplicate ACK acknowledges nothing new while data is outstanding, carries no
 * data, SYN or FIN, and leaves the window as it was. */
/* True when a SACK block reports data above anything reported before; remembers it. */
static bool sack_reports_new(hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg)
{
    /* sack_high starts at 0 and goes stale below SND.UNA: only a value in (SND.UNA,
     * SND.MAX] means anything (else half the ISS space would never see fresh blocks). */
    uint32_t high = hs_seq_gt(tc->sack_high, tc->snd_una) && hs_seq_leq(tc->sack_high, tc->snd_max)
                        ? tc->sack_high
                        : tc->snd_una;
    bool fresh = false;
    for (uint8_t i = 0; i < seg->n_sack; i++) {
        uint32_t end = seg->sack[i].end;
        if (hs_seq_gt(end, high) && !hs_seq_gt(end, tc->snd_max)) {
            high = end;
            fresh = true;
        }
    }
    tc->sack_high = high;
    return fresh;
}

/* RFC 5681 2 "duplicate acknowledgment": no data, same window. With SACK, RFC 6675 2 also
 * counts an ACK that reports newly SACKed data even when it carries data or moves the
 * window: a Linux receiver grows its window on almost every ACK, and an echo's duplicate
 * ACKs carry data, so without this every loss would wait for the RTO. */
static bool is_dupack(hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg)
{
    if (seg->ack != tc->snd_una || tc->snd_max == tc->snd_una ||
        (seg->flags & (HS_TCP_SYN | HS_TCP_FIN)))
        return false;
    if (seg->n_sack && sack_reports_new(tc, seg))
        return true;
    return seg->payload_len == 0 && ((uint32_t)seg->wnd << tc->snd_wscale) == tc->snd_wnd;
}

/* Fast retransmit: recovery until everything sent so far is acknowledged. */
static void enter_recovery(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    tc->recover = tc->snd_max - 1;
    tc->flags |= HS_TCP_F_RECOVERY | HS_TCP_F_FAST_RXT;
    tc->flags &= ~(uint32_t)(HS_TCP_F_PARTIAL_SEEN | HS_TCP_F_RTO_RECOVERY | HS_TCP_F_RXT_HEAD);
    tw->cfg.cc->on_recovery_enter(tc);
    if (tc->flags & HS_TCP_F_SACK) { /* RFC 6675 5 step 4.2: cwnd = ssthresh, no inflation */
        tc->cwnd = tc->ssthresh;
        tc->high_rxt = tc->snd_una;
    }
    if (tc->flags & HS_TCP_F_TLP) /* a loss probe timer running becomes the RTO */
        hs_tcp_timer_set(tw, tc, HS_TCP_T_RETRANSMIT, hs_tcp_rxt_delay_ns(tw, tc));
    tcp_count(tw, HS_TCP_S_FAST_RETRANSMITS, 1);
    tc->stats.fast_retransmits++;
}

/* SACK recovery: the segment at SND.UNA was resent, yet more than DupThresh - 1 SMSS sent
 * after that resend were SACKed while it was not: the resend was lost too (Linux's
 * tcp_mark_lost_retrans); sending it again now saves a retransmission timeout. */
static void lost_rxt_check(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    if ((tc->flags & (HS_TCP_F_RECOVERY | HS_TCP_F_SACK | HS_TCP_F_RXT_HEAD)) !=
            (HS_TCP_F_RECOVERY | HS_TCP_F_SACK) ||
        !hs_seq_gt(tc->high_rxt, tc->snd_una) || tc->sb.n == 0 ||
        !hs_seq_gt(hs_tcp_sb_high(tc), tc->rxt_mark + 2u * tc->snd_mss))
        return;
    tc->flags |= HS_TCP_F_RXT_HEAD;
    tc->rxt_mark = tc->snd_max;
    tcp_count(tw, HS_TCP_S_LOST_RETRANSMITS, 1);
}

/* RFC 5681 3.2, RFC 6582 3.2 steps 1-2 and RFC 6675 5: the third duplicate ACK (or, with
 * SACK, enough SACKed above SND.UNA to call it lost) starts fast retransmit unless it does
 * not cover more than recover (a loss from before the last recovery or timeout). NewReno
 * inflates the window on later ones; SACK recovery counts the pipe instead. */
static void on_dupack(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg)
{
    bool sack = tc->flags & HS_TCP_F_SACK;
    tcp_count(tw, HS_TCP_S_DUPACKS_IN, 1);
    tc->stats.dupacks_in++;
    if (tc->dupacks < UINT8_MAX)
        tc->dupacks++;
    if (tc->flags & HS_TCP_F_RECOVERY) {
        if (!sack)
            tw->cfg.cc->on_dupack(tc);
        return;
    }
    /* "Covers more than recover" is read as SEG.ACK > recover, as FreeBSD does, so that a
     * loss of the very first segment (SEG.ACK = ISS + 1, recover = ISS) is recovered. */
    bool lost = tc->dupacks >= 3 || (sack && hs_tcp_sb_una_lost(tc));
    if (lost && hs_seq_gt(seg->ack, tc->recover))
        enter_recovery(tw, tc);
}

/* New data acknowledged: congestion window, recovery exit or partial ACK (RFC 6582 3.2
 * steps 3-4), and the retransmission timer (RFC 6298 5.2-5.3). */
static void on_new_ack(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, uint32_t acked)
{
    bool restart = true;
    tc->flags &= ~(uint32_t)HS_TCP_F_TLP_SENT; /* RFC 8985 7.2: a probe may go again */
    if (tc->flags & HS_TCP_F_RECOVERY) {
        if (hs_seq_gt(tc->snd_una, tc->recover)) { /* full ACK */
            tc->flags &= ~(uint32_t)HS_TCP_F_RECOVERY;
            tc->dupacks = 0;
            tw->cfg.cc->on_recovery_exit(tc);
        } else if (tc->flags & HS_TCP_F_SACK) {
            /* RFC 6675 5: a partial ACK only moves the pipe; NextSeg picks the holes. The
             * new head's resend is judged from data sent from now on. */
            tcp_count(tw, HS_TCP_S_PARTIAL_ACKS, 1);
            tc->rxt_mark = tc->snd_max;
        } else { /* partial ACK: the next hole is lost too; resend it at once */
            tw->cfg.cc->on_partial_ack(tc, acked);
            tc->flags |= HS_TCP_F_FAST_RXT;
            tcp_count(tw, HS_TCP_S_PARTIAL_ACKS, 1);
            /* "Impatient" variant: only the first partial ACK restarts the timer. */
            restart = !(tc->flags & HS_TCP_F_PARTIAL_SEEN);
            tc->flags |= HS_TCP_F_PARTIAL_SEEN;
        }
    } else {
        tc->dupacks = 0;
        if (acked)
            tw->cfg.cc->on_ack(tc, acked);
        if ((tc->flags & HS_TCP_F_RTO_RECOVERY) && hs_seq_gt(tc->snd_una, tc->recover))
            tc->flags &= ~(uint32_t)HS_TCP_F_RTO_RECOVERY;
    }
    if (tc->snd_una == tc->snd_max)
        hs_tcp_timer_stop(tw, tc, HS_TCP_T_RETRANSMIT);
    else if (restart)
        hs_tcp_timer_set(tw, tc, HS_TCP_T_RETRANSMIT, hs_tcp_rxt_delay_ns(tw, tc));
}

/* RFC 9293 3.10.7.4, fifth, ESTABLISHED: the send window follows the newest segment
 * (SND.WL1 < SEG.SEQ, or equal and SND.WL2 =< SEG.ACK), and, as in Linux's
 * tcp_may_update_window, any ACK that moved SND.UNA: otherwise a retransmitted old segment
 * carrying a new ACK would leave SND.UNA + SND.WND beyond the peer's right edge. Windows
 * are scaled (RFC 7323 2.3). */
static void window_update(hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg, bool advanced)
{
    if (hs_seq_lt(seg->ack, tc->snd_una))
        return;
    if (!advanced && !(hs_seq_lt(tc->snd_wl1, seg->seq) ||
                       (tc->snd_wl1 == seg->seq && hs_seq_leq(tc->snd_wl2, seg->ack))))
        return;
    tc->snd_wnd = (uint32_t)seg->wnd << tc->snd_wscale;
    tc->max_snd_wnd = HS_MAX(tc->max_snd_wnd, tc->snd_wnd);
    tc->snd_wl1 = seg->seq;
    tc->snd_wl2 = seg->ack;
}

/* RFC 9293 3.10.7.4, fifth, SYN-RECEIVED: an ACK of our SYN completes the handshake;
 * another gets a reset <SEQ=SEG.ACK><CTL=RST> (returned to the caller). */
static int syn_rcvd_ack(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg)
{
    if (!hs_seq_gt(seg->ack, tc->snd_una) || hs_seq_gt(seg->ack, tc->snd_max))
        return HS_TCP_E_SYN_RCVD_BAD_ACK;
    hs_tcp_established(tw, tc);
    tc->snd_wnd = (uint32_t)seg->wnd << tc->snd_wscale;
    tc->max_snd_wnd = HS_MAX(tc->max_snd_wnd, tc->snd_wnd);
    tc->snd_wl1 = seg->seq;
    tc->snd_wl2 = seg->ack;
    bool ok = (tc->flags & HS_TCP_F_PASSIVE) ? hs_tcp_accept_notify(tw, tc)
                                             : hs_tcp_connected_notify(tw, tc);
    return ok ? HS_TCP_E_NONE : HS_TCP_E_ACCEPT_FAILED;
}

/* RFC 9293 3.10.7.4, fifth, the closing states: what our FIN's acknowledgment does. */
static void fin_ack_transitions(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    if (!tcp_fin_acked(tc))
        return;
    switch (tc->state) {
    case HS_TCP_FIN_WAIT_1:
        hs_tcp_set_state(tw, tc, HS_TCP_FIN_WAIT_2);
        hs_tcp_timer_set(tw, tc, HS_TCP_T_WAITCLOSE, tw->cfg.fin_wait2_ns);
        break;
    case HS_TCP_CLOSING:
        hs_tcp_enter_time_wait(tw, tc);
        break;
    case HS_TCP_LAST_ACK: /* the last ACK: CLOSED, the TCB goes */
        hs_tcp_conn_done(tw, tc);
        break;
    default:
        break;
    }
}

int hs_tcp_rx_ack(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg, uint64_t now_ns)
{
    if (tc->state == HS_TCP_SYN_RCVD) {
        int rv = syn_rcvd_ack(tw, tc, seg);
        if (rv != HS_TCP_E_NONE || (tc->flags & HS_TCP_F_FREE))
            return rv;
    }
    /* "If the ACK acks something not yet sent (SEG.ACK > SND.NXT) then send an ACK, drop
     * the segment, and return" (SND.NXT being the highest sent, snd_max here). */
    if (hs_seq_gt(seg->ack, tc->snd_max)) {
        tc->flags |= HS_TCP_F_ACK_NOW;
        return HS_TCP_E_ACK_TOO_NEW;
    }
    /* RFC 5961 5.2: an ACK below SND.UNA - MAX.SND.WND is discarded with an ACK. */
    if (hs_seq_lt(seg->ack, tc->snd_una - tc->max_snd_wnd)) {
        hs_tcp_challenge_ack(tw, tc);
        return HS_TCP_E_ACK_TOO_OLD;
    }
    tc->probes_out = 0;
    if (tc->flags & HS_TCP_F_SACK)
        hs_tcp_sb_update(tc, seg);
    bool advanced = hs_seq_gt(seg->ack, tc->snd_una);
    if (advanced) {
        uint32_t acked = seg->ack - tc->snd_una;
        bool syn = tcp_syn_unacked(tc);
        hs_tcp_ack_new(tw, tc, seg, now_ns);
        if (tc->flags & HS_TCP_F_FREE) /* the app, told of room, reset it */
            return HS_TCP_E_NONE;
        on_new_ack(tw, tc, acked - (syn ? 1 : 0));
    } else if (is_dupack(tc, seg)) {
        on_dupack(tw, tc, seg);
    }
    /* RFC 6675 5: the scoreboard calls SND.UNA lost (also on ACKs that are not duplicates:
     * one that moved SND.UNA, or carried data into a changed window). */
    if ((tc->flags & (HS_TCP_F_SACK | HS_TCP_F_RECOVERY)) == HS_TCP_F_SACK &&
        tc->snd_una != tc->snd_max && hs_seq_gt(tc->snd_una, tc->recover) && hs_tcp_sb_una_lost(tc))
        enter_recovery(tw, tc);
    lost_rxt_check(tw, tc);
    window_update(tc, seg, advanced);
    fin_ack_transitions(tw, tc);
    return HS_TCP_E_NONE;
}

/* Takes the FIFOs after accept/connected, unless the session closed or reset the
 * connection inside that call: it is then only told closed (once). */
static bool attach_after(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    if (tc->flags & HS_TCP_F_FREE) {
        hs_session_transport_closed(tw->sw, tc->c.session_index);
        return false;
    }
    hs_tcp_session_attach(tw, tc);
    return true;
}

bool hs_tcp_accept_notify(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    hs_tcp_listener_t *l = hs_pool_from_handle(&tw->listeners, tc->listener);
    int rv = l ? hs_session_accept(tw->sw, (uint32_t)tc->listener, &tc->c) : -ECONNREFUSED;
    if (rv < 0) {
        tc->flags |= HS_TCP_F_SEND_RST;
        hs_tcp_conn_done(tw, tc);
        return false;
    }
    l->n_accepted++;
    tcp_count(tw, HS_TCP_S_ACCEPTED, 1);
    return attach_after(tw, tc);
}

bool hs_tcp_connected_notify(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    /* The session layer sets up the FIFOs inside this call. */
    if (hs_session_connected(tw->sw, tc->c.session_index, &tc->c, 0) < 0) {
        tc->flags |= HS_TCP_F_SEND_RST;
        hs_tcp_conn_done(tw, tc);
        return false;
    }
    return attach_after(tw, tc);
}
