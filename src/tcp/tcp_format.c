/* Text for show session (one connection) and show tcp stats (a worker's counters). */
#include "tcp/tcp_internal.h"

#include "net/ip4_packet.h"

static void format_flags(const hs_tcp_conn_t *tc, hs_str_t *out)
{
    static const struct {
        uint32_t bit;
        const char *name;
    } f[] = {
        {HS_TCP_F_TS, "ts"},
        {HS_TCP_F_WS, "wscale"},
        {HS_TCP_F_SACK, "sack"},
        {HS_TCP_F_NODELAY, "nodelay"},
        {HS_TCP_F_KEEPALIVE, "keepalive"},
        {HS_TCP_F_RECOVERY, "recovery"},
        {HS_TCP_F_RTO_RECOVERY, "rto-recovery"},
        {HS_TCP_F_FIN_PENDING, "fin-pending"},
        {HS_TCP_F_FIN_SENT, "fin-sent"},
        {HS_TCP_F_DELACK, "delack"},
        {HS_TCP_F_PASSIVE, "passive"},
        {HS_TCP_F_TX_CSUM_OFF, "csum-offload"},
    };
    hs_str_printf(out, "    flags:");
    for (size_t i = 0; i < HS_ARRAY_LEN(f); i++) {
        if (tc->flags & f[i].bit)
            hs_str_printf(out, " %s", f[i].name);
    }
    hs_str_printf(out, "\n    timers:");
    for (int t = 0; t < HS_TCP_N_TIMERS; t++) {
        if (hs_tcp_timer_running(tc, (hs_tcp_timer_t)t))
            hs_str_printf(out, " %s", hs_tcp_timer_name((hs_tcp_timer_t)t));
    }
    hs_str_printf(out, "\n");
}

static void format_verbose(hs_tcp_worker_t *tw, const hs_tcp_conn_t *tc, hs_str_t *out)
{
    const hs_tcp_conn_stats_t *s = &tc->stats;
    /* Sequence numbers relative to ISS and IRS, as packet analysers show them. */
    hs_str_printf(out,
                  "    snd: una %u nxt %u max %u wnd %u wscale %u mss %u iss %u\n"
                  "    rcv: nxt %u wnd %u wscale %u mss %u irs %u\n",
                  tc->snd_una - tc->iss, tc->snd_nxt - tc->iss, tc->snd_max - tc->iss, tc->snd_wnd,
                  tc->snd_wscale, tc->snd_mss, tc->iss, tc->rcv_nxt - tc->irs,
                  hs_seq_gt(tc->rcv_adv, tc->rcv_nxt) ? tc->rcv_adv - tc->rcv_nxt : 0,
                  tc->rcv_wscale, tc->rcv_mss, tc->irs);
    hs_str_printf(out,
                  "    cc %s: cwnd %u ssthresh %u flight %u dupacks %u sacked %u in %u ranges\n"
                  "    rtt: srtt %.3f ms rttvar %.3f ms rto %.3f ms backoff %u\n",
                  tw->cfg.cc->name, tc->cwnd, tc->ssthresh, tc->snd_max - tc->snd_una, tc->dupacks,
                  tc->sb.sacked, tc->sb.n, tc->srtt_us / 1e3, tc->rttvar_us / 1e3,
                  hs_tcp_rto_ns(tw, tc) / 1e6, tc->backoff);
    format_flags(tc, out);
    hs_str_printf(out,
                  "    segs in %lu out %lu, bytes in %lu out %lu, retransmits %u (fast %u), "
                  "timeouts %u, dupacks in %u, out-of-order in %u\n"
                  "    resets in %u out %u, challenge acks %u, probes %u, drops %u\n",
                  (unsigned long)s->segs_in, (unsigned long)s->segs_out, (unsigned long)s->bytes_in,
                  (unsigned long)s->bytes_out, s->retransmits, s->fast_retransmits, s->timeouts,
                  s->dupacks_in, s->ooo_segs_in, s->rst_in, s->rst_out, s->challenge_acks,
                  s->probes, s->drops);
}

void hs_tcp_format_conn(hs_tcp_worker_t *tw, const hs_tcp_conn_t *tc, bool verbose, hs_str_t *out)
{
    char l[16], r[16];
    hs_str_printf(out, "[%u:%u] tcp %s:%u -> %s:%u %s\n", tc->c.worker, tc->c.conn_index,
                  hs_ip4_format_addr(l, tc->c.lcl_ip), tc->c.lcl_port,
                  hs_ip4_format_addr(r, tc->c.rmt_ip), tc->c.rmt_port,
                  hs_tcp_state_name((hs_tcp_state_t)tc->state));
    if (verbose)
        format_verbose(tw, tc, out);
}

void hs_tcp_format_stats(hs_tcp_worker_t *tw, hs_str_t *out)
{
    static const char *const stat_str[HS_TCP_N_STATS] = {
#define _(sym, str) [HS_TCP_S_##sym] = str,
        HS_TCP_STATS(_)
#undef _
    };
    hs_str_printf(out, "tcp worker %u: %u connections (%u in TIME-WAIT), %u listeners\n", tw->index,
                  hs_pool_count(&tw->conns), tw->n_time_wait, hs_pool_count(&tw->listeners));
    for (int i = 0; i < HS_TCP_N_STATS; i++) {
        if (tw->stats[i])
            hs_str_printf(out, "  %12lu  %s\n", (unsigned long)tw->stats[i], stat_str[i]);
    }
    bool any = false;
    for (int i = 1; i < HS_TCP_N_ERRORS; i++) {
        if (!tw->drops[i])
            continue;
        if (!any)
            hs_str_printf(out, "  drops:\n");
        any = true;
        hs_str_printf(out, "  %12lu  %s\n", (unsigned long)tw->drops[i], hs_tcp_error_str[i]);
    }
}
