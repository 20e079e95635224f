/* TCP timers on the worker's wheel (the list is in tcp_timers.h) and the RTO estimator of
 * RFC 6298. A timer's user value names the connection by pool generation and index, so a
 * timer outliving its connection (never meant to happen) cannot touch a new one. */
#include "tcp/tcp_internal.h"

#define T_BITS 3
_Static_assert(HS_TCP_N_TIMERS <= (1 << T_BITS), "timer id bits");

static uint64_t timer_user(const hs_tcp_worker_t *tw, const hs_tcp_conn_t *tc, hs_tcp_timer_t t)
{
    uint32_t i = tc->c.conn_index;
    return (uint64_t)hs_pool_gen(&tw->conns, i) << 32 | (uint64_t)i << T_BITS | t;
}

void hs_tcp_timer_set(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, hs_tcp_timer_t t, uint64_t delay_ns)
{
    uint64_t at = tw->now_ns + delay_ns;
    if (tc->timers[t] != HS_TW_INVALID && hs_tw_update_at(&tw->wheel, tc->timers[t], at) == 0)
        return;
    tc->timers[t] = hs_tw_start_at(&tw->wheel, timer_user(tw, tc, t), at);
}

void hs_tcp_timer_start(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, hs_tcp_timer_t t, uint64_t delay_ns)
{
    if (tc->timers[t] == HS_TW_INVALID || !hs_tw_is_running(&tw->wheel, tc->timers[t]))
        tc->timers[t] = hs_tw_start_at(&tw->wheel, timer_user(tw, tc, t), tw->now_ns + delay_ns);
}

void hs_tcp_timer_stop(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, hs_tcp_timer_t t)
{
    if (tc->timers[t] != HS_TW_INVALID) {
        hs_tw_stop(&tw->wheel, tc->timers[t]);
        tc->timers[t] = HS_TW_INVALID;
    }
}

void hs_tcp_timers_stop_all(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    for (int t = 0; t < HS_TCP_N_TIMERS; t++)
        hs_tcp_timer_stop(tw, tc, (hs_tcp_timer_t)t);
}

bool hs_tcp_timer_running(const hs_tcp_conn_t *tc, hs_tcp_timer_t t)
{
    return tc->timers[t] != HS_TW_INVALID;
}

uint64_t hs_tcp_rto_ns(const hs_tcp_worker_t *tw, const hs_tcp_conn_t *tc)
{
    /* RFC 6298 5.5: doubled per backoff, bounded by the maximum (2.5). */
    uint64_t r = (uint64_t)tc->rto_us * HS_NS_PER_US << HS_MIN(tc->backoff, 20);
    return HS_MIN(r, tw->cfg.rto_max_ns);
}

#define TLP_MIN_NS    (10 * HS_NS_PER_S / 1000)
#define TLP_DELACK_NS (50 * HS_NS_PER_S / 1000) /* a Linux peer's delayed ACK: 40 ms and up */

uint64_t hs_tcp_rxt_delay_ns(const hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    uint64_t rto = hs_tcp_rto_ns(tw, tc);
    bool ok =
        (tc->flags & (HS_TCP_F_SACK | HS_TCP_F_HAVE_RTT)) == (HS_TCP_F_SACK | HS_TCP_F_HAVE_RTT) &&
        !(tc->flags & (HS_TCP_F_RECOVERY | HS_TCP_F_RTO_RECOVERY | HS_TCP_F_TLP_SENT)) &&
        tc->backoff == 0 && (tc->state == HS_TCP_ESTABLISHED || tc->state == HS_TCP_CLOSE_WAIT);
    uint64_t pto = HS_MAX(2ull * tc->srtt_us * HS_NS_PER_US, TLP_MIN_NS);
    if (tc->snd_max - tc->snd_una <= tc->snd_mss) /* one segment: the peer may delay its ACK */
        pto += TLP_DELACK_NS;
    if (!ok || pto >= rto) {
        tc->flags &= ~(uint32_t)HS_TCP_F_TLP;
        return rto;
    }
    tc->flags |= HS_TCP_F_TLP;
    return pto;
}

void hs_tcp_rtt_sample(const hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, uint32_t r)
{
    if (!(tc->flags & HS_TCP_F_HAVE_RTT)) { /* 2.2: the first measurement */
        tc->srtt_us = r;
        tc->rttvar_us = r / 2;
        tc->flags |= HS_TCP_F_HAVE_RTT;
    } else { /* 2.3: alpha = 1/8, beta = 1/4 */
        uint32_t delta = tc->srtt_us > r ? tc->srtt_us - r : r - tc->srtt_us;
        tc->rttvar_us = (uint32_t)(((uint64_t)tc->rttvar_us * 3 + delta) / 4);
        tc->srtt_us = (uint32_t)(((uint64_t)tc->srtt_us * 7 + r) / 8);
    }
    /* RTO = SRTT + max(G, K*RTTVAR), K = 4, G the wheel's tick; 2.4-2.5 bounds. */
    uint64_t g = tw->cfg.tick_ns / HS_NS_PER_US;
    uint64_t rto = tc->srtt_us + HS_MAX(g, 4ull * tc->rttvar_us);
    rto = HS_MAX(rto, tw->cfg.rto_min_ns / HS_NS_PER_US);
    rto = HS_MIN(rto, tw->cfg.rto_max_ns / HS_NS_PER_US);
    tc->rto_us = (uint32_t)rto;
}

/* RFC 6298 5.4-5.7 and RFC 9293 3.8.1 (SYN and SYN-ACK retries): the retransmission timer. */
static void on_retransmit(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    bool handshake = tc->state == HS_TCP_SYN_SENT || tc->state == HS_TCP_SYN_RCVD;
    uint32_t limit = tc->state == HS_TCP_SYN_SENT   ? tw->cfg.syn_retries
                     : tc->state == HS_TCP_SYN_RCVD ? tw->cfg.synack_retries
                                                    : tw->cfg.max_retries;
    if (!handshake && tc->snd_una == tc->snd_max)
        return;                     /* everything was acknowledged meanwhile */
    if (tc->flags & HS_TCP_F_TLP) { /* RFC 8985 7.3: a probe, not a timeout */
        tc->flags &= ~(uint32_t)HS_TCP_F_TLP;
        tc->flags |= HS_TCP_F_TLP_SENT | HS_TCP_F_TLP_SEND;
        tcp_count(tw, HS_TCP_S_TLP_PROBES, 1);
        return;
    }
    if (tc->retries >= limit) {
        hs_tcp_conn_abort(tw, tc, -ETIMEDOUT);
        return;
    }
    tc->retries++;
    tc->backoff++;
    tc->flags &= ~(uint32_t)HS_TCP_F_RTT_TIMING; /* Karn */
    tc->stats.timeouts++;
    if (handshake) {
        tcp_count(tw, HS_TCP_S_SYN_RETRANSMITS, 1);
        tc->flags |= HS_TCP_F_SEND_SYN | HS_TCP_F_SYN_RXT;
        tc->snd_nxt = tc->iss;
        return;
    }
    tcp_count(tw, HS_TCP_S_TIMEOUTS, 1);
    /* RFC 5681 3.1 (ssthresh, cwnd = 1 MSS), RFC 6582 4 (recover = highest sent), then go
     * back to SND.UNA: everything after it is sent again as the window reopens. */
    tw->cfg.cc->on_timeout(tc);
    tc->recover = tc->snd_max - 1;
    tc->flags &= ~(uint32_t)(HS_TCP_F_RECOVERY | HS_TCP_F_FAST_RXT);
    tc->flags |= HS_TCP_F_RTO_RECOVERY;
    tc->dupacks = 0;
    tc->snd_nxt = tc->snd_una;
    /* RFC 6675 5.1: the go-back-N resend skips what the peer SACKed; a second timeout in a
     * row clears the scoreboard, in case the peer reneged on it. */
    if (tc->retries > 1)
        hs_tcp_sb_reset(&tc->sb);
}

static void on_persist(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    if (++tc->probes_out > tw->cfg.max_retries) { /* nobody answers any more */
        hs_tcp_conn_abort(tw, tc, -ETIMEDOUT);
        return;
    }
    if (tc->backoff < 20)
        tc->backoff++;
    tc->flags |= HS_TCP_F_PROBE;
    tcp_count(tw, HS_TCP_S_ZERO_WINDOW_PROBES, 1);
}

/* RFC 9293 3.8.4: probe after keepalive_idle without a segment, then every
 * keepalive_intvl; keepalive_probes unanswered probes end the connection. */
static void on_keepalive(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    if (!(tc->flags & HS_TCP_F_KEEPALIVE) ||
        (tc->state != HS_TCP_ESTABLISHED && tc->state != HS_TCP_CLOSE_WAIT))
        return;
    uint64_t idle = tw->now_ns - tc->last_rx_ns;
    if (tc->ka_probes == 0 && idle < tc->keepalive_idle_ns) {
        hs_tcp_timer_set(tw, tc, HS_TCP_T_KEEPALIVE, tc->keepalive_idle_ns - idle);
        return;
    }
    if (tc->snd_una != tc->snd_max) { /* the retransmission timer watches this */
        hs_tcp_timer_set(tw, tc, HS_TCP_T_KEEPALIVE, tc->keepalive_intvl_ns);
        return;
    }
    if (tc->ka_probes >= tc->keepalive_probes) {
        hs_tcp_conn_abort(tw, tc, -ETIMEDOUT);
        return;
    }
    tc->ka_probes++;
    tc->flags |= HS_TCP_F_PROBE;
    tcp_count(tw, HS_TCP_S_KEEPALIVE_PROBES, 1);
    hs_tcp_timer_set(tw, tc, HS_TCP_T_KEEPALIVE, tc->keepalive_intvl_ns);
}

static void on_waitclose(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    if (tc->state == HS_TCP_TIME_WAIT) { /* 2 MSL are over */
        hs_tcp_conn_done(tw, tc);
        return;
    }
    if (tc->state != HS_TCP_FIN_WAIT_2)
        return;
    uint64_t idle = tw->now_ns - tc->last_rx_ns;
    if (idle < tw->cfg.fin_wait2_ns) {
        hs_tcp_timer_set(tw, tc, HS_TCP_T_WAITCLOSE, tw->cfg.fin_wait2_ns - idle);
        return;
    }
    tc->flags |= HS_TCP_F_SEND_RST; /* as Linux does when tcp_fin_timeout runs out */
    hs_tcp_conn_abort(tw, tc, -ETIMEDOUT);
}

static void expired(void *ctx, uint64_t user)
{
    hs_tcp_worker_t *tw = ctx;
    uint32_t index = (uint32_t)user >> T_BITS;
    hs_tcp_timer_t t = (hs_tcp_timer_t)(user & ((1u << T_BITS) - 1));
    hs_tcp_conn_t *tc = hs_tcp_conn_get(tw, index);
    if (!tc || hs_pool_gen(&tw->conns, index) != (uint32_t)(user >> 32) ||
        (tc->flags & HS_TCP_F_FREE))
        return;
    tc->timers[t] = HS_TW_INVALID;
    switch (t) {
    case HS_TCP_T_RETRANSMIT:
        on_retransmit(tw, tc);
        break;
    case HS_TCP_T_DELACK:
        if (tc->flags & HS_TCP_F_DELACK) {
            tc->flags |= HS_TCP_F_ACK_NOW;
            tcp_count(tw, HS_TCP_S_DELACKS, 1);
        }
        break;
    case HS_TCP_T_PERSIST:
        on_persist(tw, tc);
        break;
    case HS_TCP_T_KEEPALIVE:
        on_keepalive(tw, tc);
        break;
    case HS_TCP_T_WAITCLOSE:
        on_waitclose(tw, tc);
        break;
    default:
        break;
    }
    if (!(tc->flags & HS_TCP_F_FREE))
        tcp_schedule(tw, tc);
}

uint32_t hs_tcp_timers_expire(hs_tcp_worker_t *tw, uint64_t now_ns)
{
    if (now_ns > tw->now_ns)
        tw->now_ns = now_ns;
    return hs_tw_expire(&tw->wheel, tw->now_ns, expired, tw, 0);
}

const char *hs_tcp_timer_name(hs_tcp_timer_t t)
{
    static const char *const names[HS_TCP_N_TIMERS] = {
        [HS_TCP_T_RETRANSMIT] = "retransmit", [HS_TCP_T_DELACK] = "delack",
        [HS_TCP_T_PERSIST] = "persist",       [HS_TCP_T_KEEPALIVE] = "keepalive",
        [HS_TCP_T_WAITCLOSE] = "waitclose",
    };
    return (unsigned)t < HS_TCP_N_TIMERS ? names[t] : "?";
}
