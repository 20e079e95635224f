/* The congestion-control interface: TCP decides when loss is detected and when recovery
 * starts and ends (RFC 5681, RFC 6582); the algorithm behind this table only sets cwnd and
 * ssthresh. NewReno (tcp_cc_newreno.c) is the default; others plug in through
 * hs_tcp_config_t.cc. */
#ifndef HS_TCP_TCP_CC_H
#define HS_TCP_TCP_CC_H

#include "infra/common.h"

struct hs_tcp_conn;

typedef struct {
    const char *name;
    /* Connection established: initial cwnd and ssthresh. */
    void (*init)(struct hs_tcp_conn *tc);
    /* An ACK acknowledged acked new bytes outside recovery. */
    void (*on_ack)(struct hs_tcp_conn *tc, uint32_t acked);
    /* The third duplicate ACK: fast retransmit starts recovery (ssthresh, cwnd). */
    void (*on_recovery_enter)(struct hs_tcp_conn *tc);
    /* Another duplicate ACK during recovery (window inflation). */
    void (*on_dupack)(struct hs_tcp_conn *tc);
    /* A partial ACK during recovery acknowledged acked bytes (deflation). */
    void (*on_partial_ack)(struct hs_tcp_conn *tc, uint32_t acked);
    /* A full ACK ended recovery. */
    void (*on_recovery_exit)(struct hs_tcp_conn *tc);
    /* The retransmission timer expired. */
    void (*on_timeout)(struct hs_tcp_conn *tc);
} hs_tcp_cc_vft_t;

/* RFC 5681 + RFC 6582 NewReno. */
extern const hs_tcp_cc_vft_t hs_tcp_cc_newreno;

#endif
