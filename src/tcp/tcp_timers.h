/* TCP's timers: one per-worker timer wheel (tick hs_tcp_config_t.tick_ns, 1 ms by default)
 * and up to HS_TCP_N_TIMERS running timers per connection, each a wheel handle in
 * hs_tcp_conn_t.timers[] (HS_TW_INVALID when stopped). Every timer, and what starts and
 * stops it:
 *
 * RETRANSMIT (RFC 6298; SYN and SYN-ACK retries): started when a SYN, SYN-ACK, data or FIN
 *   goes out and it is not running (rto << backoff); restarted by an ACK of new data;
 *   stopped when everything sent is acknowledged, and when the connection closes. Expiry:
 *   handshake -> resend SYN / SYN-ACK (gives up after syn_retries / synack_retries);
 *   otherwise go back to SND.UNA, cwnd to 1 MSS, backoff doubled (max_retries -> reset
 *   with ETIMEDOUT). With SACK it first runs as the tail loss probe timer (RFC 8985 7,
 *   HS_TCP_F_TLP; hs_tcp_rxt_delay_ns): expiry sends one probe segment, no timeout.
 * DELACK (RFC 9293 3.8.6.3, 40 ms): started when in-order data is received and the ACK may
 *   wait; stopped when any segment carrying the ACK goes out. Expiry: send the ACK.
 * PERSIST (RFC 9293 3.8.6.1): started when data waits for a window too small to send it
 *   and the retransmission timer is not running (nothing in flight, or everything to be
 *   resent after a timeout); stopped when the data can go. Expiry: a zero-window probe,
 *   the interval backed off like the RTO (max rto_max); max_retries unanswered probes
 *   reset the connection (ETIMEDOUT).
 * KEEPALIVE (RFC 9293 3.8.4, off by default): started on entering ESTABLISHED when the
 *   connection's keepalive switch is on (or when it is turned on); stopped by turning it off
 *   and on close. Expiry: if the connection was idle keepalive_idle (or a probe is out for
 *   keepalive_intvl) send a probe, after keepalive_probes unanswered ones reset with
 *   ETIMEDOUT; otherwise re-armed for the rest of the idle time. Receiving is not a timer
 *   operation (last_rx_ns is just stored).
 * WAITCLOSE: TIME-WAIT's 2 MSL (time_wait_ns; restarted by a retransmitted FIN) and the
 *   FIN-WAIT-2 idle timeout (fin_wait2_ns, re-armed lazily from last_rx_ns). Expiry: the
 *   connection is freed (FIN-WAIT-2: after a RST, like Linux's tcp_fin_timeout). */
#ifndef HS_TCP_TCP_TIMERS_H
#define HS_TCP_TCP_TIMERS_H

#include "infra/common.h"
#include "infra/timer_wheel.h"

typedef enum {
    HS_TCP_T_RETRANSMIT,
    HS_TCP_T_DELACK,
    HS_TCP_T_PERSIST,
    HS_TCP_T_KEEPALIVE,
    HS_TCP_T_WAITCLOSE,
    HS_TCP_N_TIMERS
} hs_tcp_timer_t;

struct hs_tcp_worker;
struct hs_tcp_conn;

/* Starts (or moves) a timer to fire delay_ns after now. */
void hs_tcp_timer_set(struct hs_tcp_worker *tw, struct hs_tcp_conn *tc, hs_tcp_timer_t t,
                      uint64_t delay_ns);
/* Starts a timer only when it is not running. */
void hs_tcp_timer_start(struct hs_tcp_worker *tw, struct hs_tcp_conn *tc, hs_tcp_timer_t t,
                        uint64_t delay_ns);
void hs_tcp_timer_stop(struct hs_tcp_worker *tw, struct hs_tcp_conn *tc, hs_tcp_timer_t t);
void hs_tcp_timers_stop_all(struct hs_tcp_worker *tw, struct hs_tcp_conn *tc);
bool hs_tcp_timer_running(const struct hs_tcp_conn *tc, hs_tcp_timer_t t);

/* The delay to (re)arm the retransmission timer with for data: the RTO, or with SACK,
 * outside recovery and with an RTT measured, the tail loss probe timeout (RFC 8985 7.2:
 * PTO = 2 SRTT, at least 10 ms, plus 50 ms for the peer's delayed ACK when one segment
 * is in flight; never beyond the RTO), once per ACK of new data; sets or clears
 * HS_TCP_F_TLP accordingly. */
uint64_t hs_tcp_rxt_delay_ns(const struct hs_tcp_worker *tw, struct hs_tcp_conn *tc);

/* The current retransmission timeout with backoff, bounded by rto_max. */
uint64_t hs_tcp_rto_ns(const struct hs_tcp_worker *tw, const struct hs_tcp_conn *tc);

/* RFC 6298 2.2-2.3: folds an RTT sample (microseconds) into srtt/rttvar and sets rto. */
void hs_tcp_rtt_sample(const struct hs_tcp_worker *tw, struct hs_tcp_conn *tc, uint32_t rtt_us);

/* Expires due timers at now_ns (the worker's time is moved first). Returns how many. */
uint32_t hs_tcp_timers_expire(struct hs_tcp_worker *tw, uint64_t now_ns);

const char *hs_tcp_timer_name(hs_tcp_timer_t t);

#endif
