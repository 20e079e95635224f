/* Apps inside the stack process ("builtin" apps: the echo server and client, tests): the
 * callbacks the session layer invokes on the worker that owns a session, and the calls an
 * app makes (listen, connect, send, recv, close, reset). External apps (shared memory,
 * message queues) come later and will reach the same sessions through the same events.
 *
 * Threads: callbacks run on the session's worker, from hs_session_worker_poll, never
 * under a transport call. create/destroy/listen/unlisten/reset_all are control-plane
 * calls: every worker parked (the daemon's barrier) or a simulation between polls.
 * connect is made on the worker that will own the session (from a callback or the app's
 * poll hook), or from the control plane with the workers parked. */
#ifndef HS_SESSION_APP_H
#define HS_SESSION_APP_H

#include "session/session.h"

#include <stdatomic.h>

typedef struct hs_app hs_app_t;

typedef struct {
    /* A passive open completed on one of the app's listeners. 0 accepts; a negative value
     * refuses (the session is reset). */
    int (*accept)(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s);
    /* An active open finished: err 0 with s ready, or err < 0 (-ECONNREFUSED, -ETIMEDOUT,
     * ...) with s about to be freed (s->app_opaque still tells which connect it was). */
    void (*connected)(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s, int err);
    /* Bytes are readable (read until -EAGAIN: the next callback comes with new bytes). */
    void (*rx)(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s);
    /* Room was made in the tx FIFO, as asked with hs_app_want_tx. */
    void (*tx)(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s);
    /* The peer closed its side: nothing more will arrive after what is readable. */
    void (*closing)(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s);
    /* The connection was reset (by the peer, or the transport gave up). */
    void (*reset)(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s);
    /* The transport is done: the last call for s, which is freed after it returns (its
     * rx FIFO may still be read here). */
    void (*closed)(hs_app_t *app, hs_session_worker_t *sw, hs_session_t *s);
    /* Optional: once per worker poll, for work no session drives (starting connects).
     * Returns when it wants the next poll at the latest (UINT64_MAX: no need). */
    uint64_t (*poll)(hs_app_t *app, hs_session_worker_t *sw, uint64_t now_ns);
    /* Optional: the app is being destroyed (hs_app_destroy, or with the session main):
     * release ctx. */
    void (*free_ctx)(hs_app_t *app);
} hs_app_cb_t;

typedef struct {
    uint8_t proto;
    bool active;
    hs_endpoint_t lcl;
    hs_session_handle_t *handles; /* the listen session on each worker */
} hs_app_listener_t;

struct hs_app {
    uint32_t index; /* in sm->apps */
    char name[HS_SM_NAME_MAX];
    const hs_app_cb_t *cb;
    void *ctx; /* the app's own state */
    hs_session_main_t *sm;
    hs_segment_manager_t segs;
    _Atomic uint32_t n_sessions; /* alive on any worker (listeners included) */
    hs_vec_t listeners;          /* hs_app_listener_t */
};

/* Control plane. The app gets its own segment manager (FIFO sizes from the session
 * config, or fifo when not NULL). 0, -EINVAL, -ENOMEM or a segment's -errno. */
int hs_app_create(hs_session_main_t *sm, const char *name, const hs_app_cb_t *cb, void *ctx,
                  const hs_segment_manager_config_t *fifo, hs_app_t **out);
/* Control plane: -EBUSY while sessions remain (unlisten and close or reset them, let the
 * workers run, try again), else frees the app (free_ctx first). */
int hs_app_destroy(hs_app_t *app);
static inline hs_app_t *hs_app_get(hs_session_main_t *sm, uint32_t index)
{
    return hs_pool_elt_checked(&sm->apps, index);
}

/* Control plane: listens on lcl (ip 0: every address of the fib) on every worker, so a
 * connection is accepted by the worker owning its flow (hs_net_flow_worker). 0 and the id
 * for unlisten, or -EADDRINUSE, -EPROTONOSUPPORT (no such transport), the transport's
 * -errno, -ENOMEM. */
int hs_app_listen(hs_app_t *app, uint8_t proto, const hs_endpoint_t *lcl, uint32_t *listener_id);
int hs_app_unlisten(hs_app_t *app, uint32_t listener_id);
/* Control plane: asks the transport to reset every session of the app (listeners stay). */
void hs_app_reset_all(hs_app_t *app);

/* Starts an active open on sw. 0 with *out (may be NULL) naming the session: the result
 * comes through the connected callback. -EPROTONOSUPPORT, -ENOMEM (no session or FIFOs),
 * or the transport's -errno (-ENETUNREACH, -EADDRNOTAVAIL). */
int hs_app_connect(hs_app_t *app, hs_session_worker_t *sw, uint8_t proto, const hs_endpoint_t *rmt,
                   uint64_t opaque, hs_session_handle_t *out);

/* Data: bytes copied (maybe fewer than len), -EAGAIN (FIFO full / empty), -ENOTCONN
 * (not established, or the app closed), -EIO (corrupt FIFO). send hands the bytes to the
 * transport at the end of the iteration (one request however many sends). */
int hs_app_send(hs_session_worker_t *sw, hs_session_t *s, const void *data, uint32_t len);
int hs_app_recv(hs_session_worker_t *sw, hs_session_t *s, void *buf, uint32_t len);
/* Zero-copy forms: the free (tx) or readable (rx) space as up to two spans, then how much
 * was written or consumed. */
int hs_app_tx_spans(hs_session_t *s, hs_fifo_span_t spans[2]);
int hs_app_tx_commit(hs_session_worker_t *sw, hs_session_t *s, uint32_t n);
int hs_app_rx_spans(hs_session_t *s, hs_fifo_span_t spans[2]);
int hs_app_rx_consume(hs_session_worker_t *sw, hs_session_t *s, uint32_t n);
/* Asks for the tx callback once at least n bytes are free (n is clamped to the FIFO
 * size); the callback comes at once when they are already free. */
void hs_app_want_tx(hs_session_worker_t *sw, hs_session_t *s, uint32_t n);

/* Graceful close: nothing more will be sent once the tx FIFO drains (TCP: FIN after the
 * data). The app keeps getting rx, closing and closed callbacks: a half-close. A connect
 * under way is abandoned (the closed callback follows). */
int hs_app_close(hs_session_worker_t *sw, hs_session_t *s);
/* Abortive close (TCP: RST); the closed callback follows. */
int hs_app_reset(hs_session_worker_t *sw, hs_session_t *s);

#endif
