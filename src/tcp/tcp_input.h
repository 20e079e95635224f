/* The pieces of segment processing shared by tcp_input.c (state machine), tcp_ack.c (the
 * ACK field) and tcp_rx_data.c (payload into the rx FIFO). Private to src/tcp. */
#ifndef HS_TCP_TCP_INPUT_H
#define HS_TCP_TCP_INPUT_H

#include "tcp/tcp_internal.h"

/* RFC 9293 3.10.7.4, fifth: the ACK field (SYN-RECEIVED completion, RFC 5961 5.2
 * acceptability, new data acknowledged, duplicate ACKs, window update, FIN acknowledged). */
int hs_tcp_rx_ack(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg, uint64_t now_ns);
/* SEG.ACK acknowledges new data (SND.UNA < SEG.ACK =< SND.MAX): RTT sample, tx FIFO
 * drop, SND.UNA moves. */
void hs_tcp_ack_new(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg,
                    uint64_t now_ns);
/* RFC 9293 3.10.7.4, seventh: the payload. */
int hs_tcp_rx_data(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg);
/* RFC 9293 3.10.7.4, eighth: the FIN bit. */
void hs_tcp_rx_fin(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg);
/* A FIN that arrived ahead of missing data is processed once RCV.NXT reaches it. */
void hs_tcp_rx_fin_check(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc);
/* The handshake completed: tell the session layer (accept for a passive open, connected
 * for an active one) and take the FIFOs. false when it refused: a RST is queued and the
 * connection is done. */
bool hs_tcp_accept_notify(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc);
bool hs_tcp_connected_notify(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc);

#endif
