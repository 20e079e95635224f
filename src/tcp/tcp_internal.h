/* What the TCP files share and nobody else uses: connection lifecycle, scheduling of
 * output, session attachment, windows and clocks. */
#ifndef HS_TCP_TCP_INTERNAL_H
#define HS_TCP_TCP_INTERNAL_H

#include "tcp/tcp.h"

#define TCP_TS_HZ        1000u                         /* timestamp clock: 1 ms (RFC 7323 5.4) */
#define TCP_PAWS_IDLE_NS (24ull * 86400 * HS_NS_PER_S) /* RFC 7323 5.5: TS.Recent expires */
#define TCP_RTO_SYN_NS   (3 * HS_NS_PER_S)             /* RFC 6298 5.7 */
#define TCP_OPT_TS_LEN   12                            /* NOP NOP TS, on every segment */

static inline void tcp_count(hs_tcp_worker_t *tw, hs_tcp_stat_t s, uint64_t n)
{
    tw->stats[s] += n;
}

/* Puts tc on the pending list: output runs at the next flush. */
static inline void tcp_schedule(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    if (tc->flags & HS_TCP_F_PENDING)
        return;
    if (hs_vec_push(&tw->pending, &tc->c.conn_index))
        tc->flags |= HS_TCP_F_PENDING;
}

static inline bool tcp_is_synchronized(const hs_tcp_conn_t *tc)
{
    return tc->state >= HS_TCP_ESTABLISHED;
}

/* Bytes in the tx FIFO: [SND.UNA, SND.UNA + n) of data (0 without a session). */
static inline uint32_t tcp_tx_bytes(hs_tcp_conn_t *tc)
{
    if (!(tc->flags & HS_TCP_F_SESSION))
        return 0;
    int n = hs_fifo_max_dequeue(tc->tx_fifo);
    return n > 0 ? (uint32_t)n : 0;
}

/* Whether our SYN is still unacknowledged (it occupies ISS). */
static inline bool tcp_syn_unacked(const hs_tcp_conn_t *tc)
{
    return tc->snd_una == tc->iss;
}

/* Sequence number where the data at the tx FIFO's head sits. */
static inline uint32_t tcp_data_seq0(const hs_tcp_conn_t *tc)
{
    return tc->snd_una + (tcp_syn_unacked(tc) ? 1 : 0);
}

static inline uint32_t tcp_ts_now(const hs_tcp_worker_t *tw, const hs_tcp_conn_t *tc)
{
    return (uint32_t)(tw->now_ns / (HS_NS_PER_S / TCP_TS_HZ)) + tc->ts_offset;
}

/* Whether our FIN was sent and acknowledged. */
static inline bool tcp_fin_acked(const hs_tcp_conn_t *tc)
{
    return (tc->flags & HS_TCP_F_FIN_SENT) && hs_seq_gt(tc->snd_una, tc->fin_seq);
}

/* ---- tcp.c: lifecycle ---- */

hs_tcp_conn_t *hs_tcp_conn_alloc(hs_tcp_worker_t *tw);
void hs_tcp_set_state(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, hs_tcp_state_t s);
/* Takes the session's FIFOs after accept/connected. */
void hs_tcp_session_attach(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc);
/* Tells the session layer it is done with (hs_session_transport_closed) and forgets it. */
void hs_tcp_session_detach(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc);
/* The connection is over: timers stop, the 5-tuple leaves the table, and it is freed at the
 * next flush (after any RST queued on it went out). Safe to call twice. */
void hs_tcp_conn_done(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc);
/* The connection failed or was reset: the session hears of it as befits the state
 * (connected(-err) for an active open, transport_reset + closed for a session, nothing for a
 * passive open not accepted yet), then hs_tcp_conn_done. */
void hs_tcp_conn_abort(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, int err);
/* Enters TIME-WAIT: detaches the session, stops timers, starts 2 MSL. */
void hs_tcp_enter_time_wait(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc);
/* Enters ESTABLISHED (from SYN-SENT or SYN-RECEIVED): congestion state, keepalive, RTO. */
void hs_tcp_established(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc);
/* RFC 6528: ISN for a 4-tuple at now_ns. */
uint32_t hs_tcp_isn(const hs_tcp_worker_t *tw, const hs_transport_conn_t *c, uint64_t now_ns);
/* Fills a fresh connection's 5-tuple-dependent fields (ISS, timestamp offset, windows,
 * MSS from the route). Returns 0 or -ENETUNREACH. */
int hs_tcp_conn_init_route(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, uint64_t now_ns);
/* The MSS we offer on tc's route: egress MTU - 40. */
uint16_t hs_tcp_route_mss(hs_tcp_worker_t *tw, const hs_tcp_conn_t *tc);
/* Challenge ACK (RFC 5961 7): ACK_NOW unless the per-worker rate limit is spent. */
void hs_tcp_challenge_ack(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc);

/* ---- tcp_output.c ---- */

/* The receive window to offer now (bytes, before scaling), with receiver-side SWS
 * avoidance (RFC 9293 3.8.6.2.2); never moves the right edge left. */
uint32_t hs_tcp_rcv_wnd(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc);

/* ---- tcp_sack.c: RFC 6675 scoreboard ---- */

void hs_tcp_sb_reset(hs_tcp_sb_t *sb);
/* Adds [start, end) (merged; the lowest range goes when more than HS_TCP_SB_MAX remain). */
void hs_tcp_sb_add(hs_tcp_sb_t *sb, uint32_t start, uint32_t end);
/* Forgets what lies below una. */
void hs_tcp_sb_prune(hs_tcp_sb_t *sb, uint32_t una);
/* The SACK blocks of an acceptable ACK: believable ones added, then pruned to SEG.ACK. */
void hs_tcp_sb_update(hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg);
/* Highest SACKed sequence + 1 (SND.UNA when nothing is SACKed). */
uint32_t hs_tcp_sb_high(const hs_tcp_conn_t *tc);
/* IsLost(SND.UNA): enough is SACKed above the first hole to start recovery. */
bool hs_tcp_sb_una_lost(const hs_tcp_conn_t *tc);
/* RFC 6675 SetPipe: bytes presumed in the network (high_rxt marks what was resent). */
uint32_t hs_tcp_sb_pipe(const hs_tcp_conn_t *tc);
/* RFC 6675 NextSeg rule 1: the first lost byte not yet resent (above high_rxt) and the
 * room up to the next SACKed range. False when no hole is lost. */
bool hs_tcp_sb_next_seg(const hs_tcp_conn_t *tc, uint32_t *seq, uint32_t *max_len);
/* seq moved past any SACKed range it lies in; *limit is the start of the next SACKed
 * range above (seq + 2^31 - 1 when none). */
uint32_t hs_tcp_sb_skip(const hs_tcp_conn_t *tc, uint32_t seq, uint32_t *limit);

/* ---- tcp_input.c ---- */

/* SYN options of seg into tc's negotiated features and MSS (RFC 7323 1.3, RFC 2018). */
void hs_tcp_negotiate(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg,
                      uint64_t now_ns);

#endif
