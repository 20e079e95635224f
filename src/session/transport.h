/* The transport interface: the table of functions a transport (TCP now, UDP later)
 * implements for the session layer, and the narrow set of session-layer calls a transport
 * may make back (accept, connected, rx notify, closing, closed, reset, lookup). A transport
 * includes this header and nothing else of the session layer; it never touches an app. */
#ifndef HS_SESSION_TRANSPORT_H
#define HS_SESSION_TRANSPORT_H

#include "infra/common.h"
#include "infra/str.h"
#include "svm/fifo.h"

typedef enum { HS_PROTO_TCP = 6, HS_PROTO_UDP = 17 } hs_proto_t;

/* An IPv4 endpoint (IPv6 later): host byte order. */
typedef struct {
    uint32_t fib_index;
    uint32_t ip;
    uint16_t port;
} hs_endpoint_t;

/* What every transport connection starts with: the 5-tuple and its session. */
typedef struct {
    uint32_t fib_index;
    uint32_t lcl_ip, rmt_ip; /* host order */
    uint16_t lcl_port, rmt_port;
    uint8_t proto;
    uint8_t worker;         /* owning data-plane worker */
    uint32_t conn_index;    /* in the transport's per-worker pool */
    uint32_t session_index; /* in the session layer's per-worker pool */
} hs_transport_conn_t;

struct hs_session_worker;

/* Implemented by each transport; called by the session layer on the owning worker. */
typedef struct {
    const char *name;
    /* Opens a listener; returns its index or -errno (-EADDRINUSE). */
    int (*listen)(struct hs_session_worker *sw, uint32_t session_index, const hs_endpoint_t *lcl);
    void (*unlisten)(struct hs_session_worker *sw, uint32_t listener_index);
    /* Starts an active open; the result comes back through hs_session_connected(). Returns
     * the connection index or -errno (-ENETUNREACH no route, -EADDRNOTAVAIL no port). */
    int (*connect)(struct hs_session_worker *sw, uint32_t session_index, const hs_endpoint_t *rmt);
    /* Graceful close after the tx FIFO drains (TCP: FIN). */
    void (*close)(struct hs_session_worker *sw, uint32_t conn_index);
    /* Abortive close (TCP: RST). */
    void (*reset)(struct hs_session_worker *sw, uint32_t conn_index);
    /* The app wrote to the tx FIFO: send what the windows allow. */
    void (*app_tx)(struct hs_session_worker *sw, uint32_t conn_index);
    /* The app drained the rx FIFO: the receive window may open (window update). */
    void (*app_rx)(struct hs_session_worker *sw, uint32_t conn_index);
    hs_transport_conn_t *(*get)(struct hs_session_worker *sw, uint32_t conn_index);
    hs_transport_conn_t *(*get_listener)(struct hs_session_worker *sw, uint32_t listener_index);
    /* Once per worker iteration at time now_ns: expire timers, send what is pending. */
    void (*poll)(struct hs_session_worker *sw, uint64_t now_ns);
    /* One line (or a block when verbose) for show session. */
    void (*format)(struct hs_session_worker *sw, uint32_t conn_index, bool verbose, hs_str_t *out);
    /* Optional (may be NULL): the earliest time poll has work (the next timer), or
     * UINT64_MAX when none. An idle worker sleeps until then, a simulation jumps its
     * virtual clock there; without it the session layer polls every millisecond. */
    uint64_t (*next_timer_ns)(struct hs_session_worker *sw);
} hs_transport_vft_t;

/* ---- calls a transport makes into the session layer ---- */

/* The transport's own per-worker state on this worker (TCP: its hs_tcp_worker_t), as the
 * stack set it up (hs_session_worker_set_transport); NULL when none. How a vft function
 * finds its state from sw, which is opaque to the transport. */
void *hs_session_transport_worker(struct hs_session_worker *sw, uint8_t proto);

/* Lookup of an established connection (exact 5-tuple); returns the connection index or -1. */
int hs_session_lookup_conn4(struct hs_session_worker *sw, uint8_t proto, uint32_t fib_index,
                            uint32_t lcl_ip, uint16_t lcl_port, uint32_t rmt_ip, uint16_t rmt_port);
/* Lookup of a listener (exact address first, then wildcard 0.0.0.0); listener index or -1. */
int hs_session_lookup_listener4(struct hs_session_worker *sw, uint8_t proto, uint32_t fib_index,
                                uint32_t lcl_ip, uint16_t lcl_port);
/* Adds/removes an established connection in the lookup table. */
int hs_session_table_add4(struct hs_session_worker *sw, const hs_transport_conn_t *tc);
void hs_session_table_del4(struct hs_session_worker *sw, const hs_transport_conn_t *tc);

/* A passive open completed (TCP: the handshake's last ACK). The session layer allocates the
 * session and its FIFOs and tells the app. 0, or -errno: the transport then resets. */
int hs_session_accept(struct hs_session_worker *sw, uint32_t listener_index,
                      hs_transport_conn_t *tc);
/* An active open finished: tc is NULL when it failed (err is then -ECONNREFUSED,
 * -ETIMEDOUT...). 0, or -errno: the transport then resets. */
int hs_session_connected(struct hs_session_worker *sw, uint32_t session_index,
                         hs_transport_conn_t *tc, int err);
/* The FIFOs of a session (valid from accept/connected until closed). */
hs_fifo_t *hs_session_rx_fifo(struct hs_session_worker *sw, uint32_t session_index);
hs_fifo_t *hs_session_tx_fifo(struct hs_session_worker *sw, uint32_t session_index);
/* New bytes are readable in the rx FIFO: the app is told if it needs to be. */
void hs_session_notify_rx(struct hs_session_worker *sw, uint32_t session_index);
/* Room was made in the tx FIFO (bytes acked): an app waiting for space is told. */
void hs_session_notify_tx(struct hs_session_worker *sw, uint32_t session_index);
/* The peer closed its side (TCP: FIN received). */
void hs_session_transport_closing(struct hs_session_worker *sw, uint32_t session_index);
/* The peer reset the connection. The transport still calls hs_session_transport_closed
 * when it lets go of the session (it may do so right after this call). */
void hs_session_transport_reset(struct hs_session_worker *sw, uint32_t session_index);
/* The transport is done with the session: it will not send or receive data for it again
 * and will not touch its FIFOs or name session_index again. TCP calls it when the
 * connection reaches CLOSED, or already when it enters TIME_WAIT (the connection may
 * linger there without its session, like VPP), and after a reset (sent or received).
 * The session is freed at a safe point once the app has closed too. Not called after a
 * failed connect (hs_session_connected with tc NULL) or a refused accept. */
void hs_session_transport_closed(struct hs_session_worker *sw, uint32_t session_index);

#endif
