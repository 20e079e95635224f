/* TCP (RFC 9293 with RFC 5961, 6298, 5681, 6582, 6675, 3042, 6528, 6191, 7323, 6928):
 * per-worker connections, the tcp4-input node, and the transport table the session layer
 * drives.
 * This is the one TCP header the session layer includes.
 *
 * Shape: hs_tcp_input applies one parsed segment to one connection at a given time and
 * only changes state and flags (no I/O, no clock); output (tcp_output.c) turns the flags
 * into segments, built in packet buffers and handed to the worker's emit hook. Connections
 * with output due sit on the worker's pending list, flushed at the end of each tcp4-input
 * vector and in the transport's poll, so the session-facing calls (app_tx, close, ...) only
 * schedule. Connections are freed at those flush points too, never under a caller.
 *
 * Contract with the session layer (transport.h), per connection:
 *  - passive: a SYN makes a connection in SYN-RECEIVED (added to the 5-tuple table, no
 *    session yet); the handshake's last ACK calls hs_session_accept, which must set
 *    tc->session_index; the FIFOs are taken then.
 *  - active: connect adds the 5-tuple, sends the SYN; the SYN-ACK calls hs_session_connected
 *    (tc, 0); failure calls it with tc NULL and -ECONNREFUSED / -ETIMEDOUT, and nothing else
 *    is ever called for that session.
 *  - FIN received: hs_session_transport_closing. RST received (or retransmission / keepalive
 *    give-up): hs_session_transport_reset.
 *  - hs_session_transport_closed, exactly once per accepted or connected session, when TCP
 *    stops using the session and its FIFOs: on entering TIME-WAIT, on the last ACK of
 *    LAST-ACK, after a reset in either direction (including the session's own reset and a
 *    close in SYN-SENT, called before those return). From then on the session layer must not
 *    pass that connection index to the transport again.
 *  - The session layer provides hs_session_tcp_worker (below) to map its worker to TCP's.
 *  - Windows: a SYN or SYN-ACK offers init_rcv_wnd (65535) before any FIFO exists, and an
 *    offered window is never taken back, so rx FIFOs should hold at least that much; a
 *    smaller one still works, the excess being dropped (and resent) until the app reads.
 *  - Close is a half-close: after it TCP still delivers what the peer sends (FIN-WAIT-1/2)
 *    until the peer's FIN, or until fin_wait2_ns pass without a segment. */
#ifndef HS_TCP_TCP_H
#define HS_TCP_TCP_H

#include "infra/common.h"
#include "infra/pool.h"
#include "infra/str.h"
#include "infra/timer_wheel.h"
#include "infra/vec.h"
#include "net/net.h"
#include "session/transport.h"
#include "svm/fifo.h"
#include "tcp/tcp_cc.h"
#include "tcp/tcp_packet.h"
#include "tcp/tcp_timers.h"

typedef enum {
    HS_TCP_CLOSED = 0,
    HS_TCP_LISTEN,
    HS_TCP_SYN_SENT,
    HS_TCP_SYN_RCVD,
    HS_TCP_ESTABLISHED,
    HS_TCP_FIN_WAIT_1,
    HS_TCP_FIN_WAIT_2,
    HS_TCP_CLOSE_WAIT,
    HS_TCP_CLOSING,
    HS_TCP_LAST_ACK,
    HS_TCP_TIME_WAIT,
    HS_TCP_N_STATES
} hs_tcp_state_t;

/* Connection flags: what input asks output to do, and negotiated features. */
enum {
    HS_TCP_F_ACK_NOW = 1u << 0,       /* send an ACK at the next output */
    HS_TCP_F_DELACK = 1u << 1,        /* an ACK is owed; the delayed-ACK timer runs */
    HS_TCP_F_SEND_SYN = 1u << 2,      /* (re)send the SYN or SYN-ACK */
    HS_TCP_F_FIN_PENDING = 1u << 3,   /* closed by the app: FIN after the data */
    HS_TCP_F_FIN_SENT = 1u << 4,      /* fin_seq holds our FIN's sequence number */
    HS_TCP_F_SEND_RST = 1u << 5,      /* send RST, then the connection goes */
    HS_TCP_F_FAST_RXT = 1u << 6,      /* retransmit one segment at SND.UNA now */
    HS_TCP_F_RECOVERY = 1u << 7,      /* in fast recovery (RFC 6582) */
    HS_TCP_F_PROBE = 1u << 8,         /* send a zero-window or keepalive probe */
    HS_TCP_F_NODELAY = 1u << 9,       /* Nagle off */
    HS_TCP_F_KEEPALIVE = 1u << 10,    /* keepalive on */
    HS_TCP_F_TS = 1u << 11,           /* timestamps negotiated */
    HS_TCP_F_WS = 1u << 12,           /* window scaling negotiated */
    HS_TCP_F_SACK = 1u << 13,         /* SACK permitted both ways */
    HS_TCP_F_PASSIVE = 1u << 14,      /* opened by a listener */
    HS_TCP_F_PENDING = 1u << 15,      /* on the worker's pending list */
    HS_TCP_F_FREE = 1u << 16,         /* freed at the next flush */
    HS_TCP_F_FIN_RCVD = 1u << 17,     /* rcv_fin_seq holds the peer's FIN, not yet reached */
    HS_TCP_F_RTT_TIMING = 1u << 18,   /* rtt_seq is timed (no timestamps: Karn) */
    HS_TCP_F_SYN_RXT = 1u << 19,      /* the handshake timed out once (RFC 6298 5.7) */
    HS_TCP_F_SESSION = 1u << 20,      /* a session is attached: session_index, FIFOs valid */
    HS_TCP_F_PARTIAL_SEEN = 1u << 21, /* a partial ACK was seen in this recovery */
    HS_TCP_F_TX_CSUM_OFF = 1u << 22,  /* the egress interface computes TCP checksums */
    HS_TCP_F_RTO_RECOVERY = 1u << 23, /* resending after a timeout: go-back-N below snd_max */
    HS_TCP_F_HAVE_RTT = 1u << 24,     /* srtt/rttvar hold a measurement */
    HS_TCP_F_ACK_SEG = 1u << 25,      /* this segment's ACK goes out before the next is taken */
    HS_TCP_F_RXT_HEAD = 1u << 26,     /* SACK recovery: the resent SND.UNA segment was lost */
    HS_TCP_F_TLP = 1u << 27,          /* the retransmission timer runs as a loss probe timer */
    HS_TCP_F_TLP_SENT = 1u << 28,     /* a loss probe went; none again until new data is ACKed */
    HS_TCP_F_TLP_SEND = 1u << 29,     /* send a loss probe at the next output */
};

/* Per-connection counters (show session verbose). */
typedef struct {
    uint64_t segs_in, segs_out;
    uint64_t bytes_in, bytes_out; /* payload, in order / new */
    uint32_t retransmits;         /* segments sent again (any cause) */
    uint32_t fast_retransmits;
    uint32_t timeouts; /* RTO expiries */
    uint32_t dupacks_in;
    uint32_t ooo_segs_in;
    uint32_t rst_in, rst_out;
    uint32_t challenge_acks;
    uint32_t probes; /* zero-window and keepalive probes */
    uint32_t drops;  /* segments dropped by input */
} hs_tcp_conn_stats_t;

/* RFC 6675 scoreboard: the SACKed ranges above SND.UNA, sorted, disjoint, merged. Bounded:
 * when full, the lowest range is forgotten (that data is only resent needlessly). */
#define HS_TCP_SB_MAX 8
typedef struct {
    hs_tcp_sack_block_t r[HS_TCP_SB_MAX];
    uint8_t n;
    uint32_t sacked; /* bytes in r */
} hs_tcp_sb_t;

typedef struct hs_tcp_conn {
    hs_transport_conn_t c; /* first: the session layer sees this part */
    uint8_t state;         /* hs_tcp_state_t */
    uint8_t snd_wscale;    /* shift for windows the peer sends */
    uint8_t rcv_wscale;    /* shift for windows we send */
    uint8_t dupacks;
    uint32_t flags; /* HS_TCP_F_* */

    /* send sequence space (RFC 9293 3.3.1) */
    uint32_t snd_una, snd_nxt;
    uint32_t snd_max; /* highest sequence sent + 1 (snd_nxt goes back after a timeout) */
    uint32_t snd_wnd; /* scaled */
    uint32_t snd_wl1, snd_wl2;
    uint32_t max_snd_wnd; /* largest window the peer offered (SWS avoidance, RFC 5961) */
    uint32_t iss;
    uint32_t fin_seq; /* our FIN, when HS_TCP_F_FIN_SENT */
    uint32_t snd_sml; /* end of the last short segment sent (Nagle, Minshall's variant) */
    uint16_t snd_mss; /* payload per segment we send */
    uint16_t rcv_mss; /* MSS we offered (egress MTU - 40) */

    /* receive sequence space */
    uint32_t rcv_nxt;
    uint32_t rcv_adv; /* right edge of the window we offered: never moves left */
    uint32_t irs;
    uint32_t rcv_fin_seq;   /* with HS_TCP_F_FIN_RCVD */
    uint32_t rcv_unacked;   /* in-order bytes received since our last ACK */
    uint32_t last_ack_sent; /* RCV.NXT in our last ACK (RFC 7323 4.3) */
    uint32_t sack_hint;     /* most recent out-of-order segment (RFC 2018: reported first) */
    uint16_t quickacks;     /* segments still ACKed at once */
    uint16_t rcv_smss;      /* largest segment received, at most rcv_mss: "full-sized" */

    /* congestion control (tcp_cc.h) and loss recovery */
    uint32_t cwnd, ssthresh;
    uint32_t recover;     /* RFC 6582 */
    uint32_t sack_high;   /* highest end of a SACK block the peer reported (RFC 6675) */
    uint32_t high_rxt;    /* RFC 6675 HighRxt: end of the last hole retransmission */
    uint32_t rxt_mark;    /* SND.MAX when the segment at SND.UNA was last resent */
    hs_tcp_sb_t sb;       /* RFC 6675 scoreboard (with HS_TCP_F_SACK) */
    uint32_t bytes_acked; /* congestion avoidance byte counting (RFC 5681 3.1) */
    uint64_t cc_data[2];  /* the algorithm's own state */

    /* timestamps (RFC 7323) */
    uint32_t ts_recent;
    uint32_t ts_offset; /* added to our clock: per connection, from the secret */
    uint64_t ts_recent_ns;

    /* RTT and RTO (RFC 6298), microseconds */
    uint32_t srtt_us, rttvar_us, rto_us;
    uint32_t rtt_seq; /* with HS_TCP_F_RTT_TIMING: ACK beyond it ends the sample */
    uint64_t rtt_start_ns;
    uint8_t backoff;    /* RTO doublings */
    uint8_t retries;    /* consecutive expiries of the current timer */
    uint8_t ka_probes;  /* keepalive probes unanswered */
    uint8_t probes_out; /* zero-window probes unanswered */

    /* timers (tcp_timers.h) */
    hs_tw_handle_t timers[HS_TCP_N_TIMERS];
    uint64_t last_rx_ns;
    uint64_t keepalive_idle_ns, keepalive_intvl_ns;
    uint32_t keepalive_probes;

    uint64_t listener;            /* pool handle of the listener (passive opens) */
    uint32_t sw_if_index;         /* egress interface at open */
    hs_fifo_t *rx_fifo, *tx_fifo; /* the session's, with HS_TCP_F_SESSION */
    hs_tcp_conn_stats_t stats;
} hs_tcp_conn_t;

typedef struct {
    hs_transport_conn_t c;
    uint32_t n_syn_rcvd; /* connections not accepted yet */
    uint64_t n_accepted;
} hs_tcp_listener_t;

/* Per-worker counters (show tcp stats). */
#define HS_TCP_STATS(_)                                                                            \
    _(SEGS_IN, "segments received")                                                                \
    _(SEGS_OUT, "segments sent")                                                                   \
    _(DATA_SEGS_IN, "data segments received")                                                      \
    _(DATA_SEGS_OUT, "data segments sent")                                                         \
    _(SEGS_COPIED, "segments copied whole on input (headers split or too many buffers)")           \
    _(BYTES_IN, "payload bytes received in order")                                                 \
    _(BYTES_OUT, "payload bytes sent (new)")                                                       \
    _(OOO_SEGS_IN, "out-of-order segments kept")                                                   \
    _(DUP_SEGS_IN, "duplicate data segments")                                                      \
    _(RETRANSMITS, "segments retransmitted")                                                       \
    _(FAST_RETRANSMITS, "fast retransmits")                                                        \
    _(PARTIAL_ACKS, "partial ACKs in recovery")                                                    \
    _(LOST_RETRANSMITS, "retransmissions found lost by SACK")                                      \
    _(TLP_PROBES, "tail loss probes sent (RFC 8985 7)")                                            \
    _(TIMEOUTS, "retransmission timeouts")                                                         \
    _(SYN_RETRANSMITS, "SYN and SYN-ACK retransmissions")                                          \
    _(DUPACKS_IN, "duplicate ACKs received")                                                       \
    _(DELACKS, "delayed ACKs sent")                                                                \
    _(WINDOW_UPDATES, "window updates sent")                                                       \
    _(ZERO_WINDOW_PROBES, "zero-window probes sent")                                               \
    _(KEEPALIVE_PROBES, "keepalive probes sent")                                                   \
    _(CHALLENGE_ACKS, "challenge ACKs sent (RFC 5961)")                                            \
    _(CHALLENGE_ACK_LIMITED, "challenge ACKs suppressed by the rate limit")                        \
    _(RST_IN, "resets received")                                                                   \
    _(RST_OUT, "resets sent")                                                                      \
    _(OPT_MALFORMED, "segments with malformed options (walk stopped)")                             \
    _(ACTIVE_OPENS, "connections opened (connect)")                                                \
    _(PASSIVE_OPENS, "connections opened (SYN to a listener)")                                     \
    _(ACCEPTED, "connections accepted")                                                            \
    _(ESTABLISHED, "connections established (active)")                                             \
    _(CONNECT_FAILED, "connects failed")                                                           \
    _(CLOSED, "connections freed")                                                                 \
    _(RESETS, "connections reset")                                                                 \
    _(TIME_WAIT_REUSED, "TIME-WAIT connections reused by a new SYN")                               \
    _(NO_BUFFER, "segments not sent: no packet buffer")

typedef enum {
#define _(sym, str) HS_TCP_S_##sym,
    HS_TCP_STATS(_)
#undef _
        HS_TCP_N_STATS
} hs_tcp_stat_t;

typedef struct {
    uint64_t tick_ns;             /* timer wheel tick: 1 ms */
    uint64_t time_wait_ns;        /* 2 MSL: 60 s, Linux's TCP_TIMEWAIT_LEN */
    uint64_t fin_wait2_ns;        /* FIN-WAIT-2 without a segment: 60 s */
    uint64_t delack_ns;           /* 40 ms */
    uint64_t rto_init_ns;         /* 1 s (RFC 6298 2.1) */
    uint64_t rto_min_ns;          /* 200 ms (Linux; RFC 6298 2.4 says 1 s) */
    uint64_t rto_max_ns;          /* 60 s */
    uint32_t syn_retries;         /* 6 */
    uint32_t synack_retries;      /* 5 */
    uint32_t max_retries;         /* 15 data retransmissions, then ETIMEDOUT */
    bool keepalive;               /* default for new connections: off */
    uint64_t keepalive_idle_ns;   /* 7200 s */
    uint64_t keepalive_intvl_ns;  /* 75 s */
    uint32_t keepalive_probes;    /* 9 */
    bool nodelay;                 /* default for new connections: off (Nagle on) */
    uint32_t init_cwnd_segs;      /* 10 (RFC 6928) */
    uint32_t rcv_buf_max;         /* largest rx FIFO expected: picks our window scale (16 MiB) */
    uint32_t init_rcv_wnd;        /* window offered before the session's rx FIFO exists (65535) */
    uint32_t quickack_segs;       /* segments ACKed at once at start and after loss: 16 */
    bool timestamps;              /* offered in our SYNs: on */
    bool window_scaling;          /* on */
    bool sack;                    /* SACK-permitted offered: on */
    uint32_t max_conns;           /* per worker (0: 2^28) */
    uint32_t syn_backlog;         /* SYN-RECEIVED connections per listener: 1024 */
    uint32_t challenge_ack_limit; /* per second per worker: 1000 (RFC 5961 7, as Linux) */
    uint8_t secret[16];           /* ISN and port key; all zero: filled from getrandom */
    const hs_tcp_cc_vft_t *cc;    /* NULL: NewReno */
} hs_tcp_config_t;

typedef struct hs_tcp_worker hs_tcp_worker_t;

/* Sends one built packet: current position at the IP header, fib_index in the ip4 meta.
 * Takes the buffer. */
typedef void (*hs_tcp_emit_fn)(void *ctx, hs_tcp_worker_t *tw, uint32_t bi);

struct hs_tcp_worker {
    hs_tcp_config_t cfg;
    hs_net_worker_t *nw;
    struct hs_session_worker *sw;
    uint32_t index;
    hs_pool_t conns;     /* hs_tcp_conn_t */
    hs_pool_t listeners; /* hs_tcp_listener_t */
    hs_tw_t wheel;
    hs_vec_t pending;        /* uint32_t conn indices with output due */
    hs_vec_t to_free;        /* uint32_t conn indices freed at the flush */
    uint64_t now_ns;         /* latest time passed in by input or poll */
    uint32_t ephemeral_next; /* RFC 6056 algorithm 3 counter */
    uint16_t ip_id;
    bool in_node;  /* inside tcp4-input: the graph runs what we emit */
    bool dispatch; /* the default emit enqueued outside a dispatch: poll runs the graph */
    hs_tcp_emit_fn emit;
    void *emit_ctx;
    uint64_t chack_second; /* challenge ACK rate limit window */
    uint32_t chack_count;
    uint32_t n_time_wait;
    uint64_t stats[HS_TCP_N_STATS];
    uint64_t drops[HS_TCP_N_ERRORS];
    uint8_t *scratch; /* a long buffer chain's payload, linearized */
};

/* ---- setup ---- */

void hs_tcp_config_default(hs_tcp_config_t *cfg);

/* cfg NULL: defaults. The emit hook defaults to ip4-lookup of nw's graph. 0 or -ENOMEM. */
int hs_tcp_worker_init(hs_tcp_worker_t *tw, hs_net_worker_t *nw, struct hs_session_worker *sw,
                       const hs_tcp_config_t *cfg);
/* Frees every connection and listener without telling anyone. */
void hs_tcp_worker_destroy(hs_tcp_worker_t *tw);

/* For hs_net_config_t.register_nodes: registers "tcp4-input" (no next slots: replies go
 * out through the emit hook). Each worker's node ctx must then point at that worker's
 * hs_tcp_worker_t (hs_tcp_attach_workers); a worker without one drops TCP. */
int hs_tcp_register_nodes(hs_net_t *net, void *ctx);
int hs_tcp_node_index(const hs_net_t *net);
/* Sets every worker's tcp4-input ctx: tws[i] for worker i. 0 or -ENOENT (not registered). */
int hs_tcp_attach_workers(hs_net_t *net, hs_tcp_worker_t *const *tws);

/* TCP's transport table. */
const hs_transport_vft_t *hs_tcp_transport(void);

/* Provided by the session layer: the TCP worker belonging to sw (set up with
 * hs_tcp_worker_init). The transport table's functions find their worker through it. */
hs_tcp_worker_t *hs_session_tcp_worker(struct hs_session_worker *sw);

/* ---- the transport operations on a worker (the table's functions call these) ----
 * listen only makes the listener object (returns its index); entering it in the lookup
 * table, and refusing a duplicate (-EADDRINUSE), is the session layer's part. connect
 * picks the source address from the route and an ephemeral port (RFC 6056 algorithm 3:
 * a keyed hash of the destination plus a per-worker counter, probed linearly over
 * 49152..65535 until the 5-tuple is free), then sends the SYN at the next flush. */

int hs_tcp_listen(hs_tcp_worker_t *tw, uint32_t session_index, const hs_endpoint_t *lcl);
void hs_tcp_unlisten(hs_tcp_worker_t *tw, uint32_t listener_index);
int hs_tcp_connect(hs_tcp_worker_t *tw, uint32_t session_index, const hs_endpoint_t *rmt);
void hs_tcp_close(hs_tcp_worker_t *tw, uint32_t conn_index);
void hs_tcp_reset(hs_tcp_worker_t *tw, uint32_t conn_index);
void hs_tcp_app_tx(hs_tcp_worker_t *tw, uint32_t conn_index);
void hs_tcp_app_rx(hs_tcp_worker_t *tw, uint32_t conn_index);
/* Expires timers, flushes output, and runs the graph when the default emit queued packets
 * outside a dispatch. */
void hs_tcp_poll(hs_tcp_worker_t *tw, uint64_t now_ns);
/* When poll next has work: now when output is pending, else the earliest timer (possibly
 * a little early: a wheel level boundary), UINT64_MAX when nothing runs. */
uint64_t hs_tcp_next_timer_ns(const hs_tcp_worker_t *tw);
/* Per-connection switches (socket options). -ENOENT for a bad index. */
int hs_tcp_set_nodelay(hs_tcp_worker_t *tw, uint32_t conn_index, bool on);
int hs_tcp_set_keepalive(hs_tcp_worker_t *tw, uint32_t conn_index, bool on);

static inline hs_tcp_conn_t *hs_tcp_conn_get(hs_tcp_worker_t *tw, uint32_t conn_index)
{
    return hs_pool_elt_checked(&tw->conns, conn_index);
}

/* ---- the data path ---- */

/* Applies one parsed segment to tc at now_ns (RFC 9293 3.10.7.3-4 with RFC 5961, 7323):
 * changes state, places payload in the session's rx FIFO and sets flags for output; sends
 * nothing itself. Returns HS_TCP_E_NONE or why the segment (or its payload) was dropped;
 * HS_TCP_E_SYN_SENT_BAD_ACK and HS_TCP_E_SYN_RCVD_BAD_ACK ask the caller to answer with a
 * reset (hs_tcp_send_reset_reply). */
int hs_tcp_input(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg, uint64_t now_ns);

/* One received segment with its addressing filled in: finds the connection (else the
 * listener, else answers with a reset per RFC 9293 3.10.7.1), runs input and queues the
 * connection for output. Returns the drop reason (HS_TCP_E_NONE when accepted). */
int hs_tcp_rx(hs_tcp_worker_t *tw, const hs_tcp_seg_t *seg, uint64_t now_ns);

/* Runs output for every pending connection, then frees the connections that are done. */
void hs_tcp_flush(hs_tcp_worker_t *tw);

/* Sends what tc's flags, windows and FIFO call for (tcp_output.c). */
void hs_tcp_output(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc);

/* RFC 9293 3.10.7.1: the reset that answers seg when no connection takes it. */
void hs_tcp_send_reset_reply(hs_tcp_worker_t *tw, const hs_tcp_seg_t *seg);

/* ---- show ---- */

const char *hs_tcp_state_name(hs_tcp_state_t s);
/* One line, or a block with counters when verbose. */
void hs_tcp_format_conn(hs_tcp_worker_t *tw, const hs_tcp_conn_t *tc, bool verbose, hs_str_t *out);
/* show tcp stats: the worker's counters and drops by reason (non-zero ones). */
void hs_tcp_format_stats(hs_tcp_worker_t *tw, hs_str_t *out);

#endif
