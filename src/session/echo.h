/* Builtin test apps: an echo server, and an echo/bulk client that sends a seeded pattern
 * per connection, verifies every byte of the echo and measures throughput and
 * connections per second. Both run on the data-plane workers as builtin apps (app.h);
 * they are started and stopped from the control plane (workers parked), and a caller
 * waits for the client with hs_echo_client_done without holding the workers. */
#ifndef HS_SESSION_ECHO_H
#define HS_SESSION_ECHO_H

#include "session/app.h"

/* ---- the pattern: byte i of a connection's stream is byte i % 8 of word i / 8 ---- */

/* The seed of connection conn of a run seeded with seed. */
uint64_t hs_echo_conn_seed(uint64_t seed, uint32_t conn);
/* Writes the stream's bytes [off, off + len) to dst. */
void hs_echo_pattern_fill(uint64_t seed, uint64_t off, uint8_t *dst, uint32_t len);
/* Index in p of the first byte that differs from the stream at off, or -1. */
int64_t hs_echo_pattern_check(uint64_t seed, uint64_t off, const uint8_t *p, uint32_t len);

/* ---- server ---- */

typedef struct hs_echo_server hs_echo_server_t;

typedef struct {
    uint64_t accepted, closed, resets;
    uint64_t bytes; /* echoed */
    uint32_t active;
} hs_echo_server_stats_t;

/* Control plane: listens on ep (TCP) on every worker. -EADDRINUSE and the like. */
int hs_echo_server_start(hs_session_main_t *sm, const hs_endpoint_t *ep, hs_echo_server_t **out);
/* Control plane: stops listening and resets the open connections. */
void hs_echo_server_stop(hs_echo_server_t *es);
/* Control plane, after stop: -EBUSY while connections remain (let the workers run). */
int hs_echo_server_destroy(hs_echo_server_t *es);
bool hs_echo_server_listening(const hs_echo_server_t *es);
const hs_endpoint_t *hs_echo_server_endpoint(const hs_echo_server_t *es);
/* Control plane: the server started on ep (listening or stopping), or NULL. */
hs_echo_server_t *hs_echo_server_find(hs_session_main_t *sm, const hs_endpoint_t *ep);
/* Control plane: destroys stopped servers whose connections are all gone. */
void hs_echo_server_reap(hs_session_main_t *sm);
/* One line per server. */
void hs_echo_server_format_all(hs_session_main_t *sm, hs_str_t *out);
uint32_t hs_echo_server_sessions(const hs_echo_server_t *es);
/* Summed over workers; exact with the workers parked. */
void hs_echo_server_stats(const hs_echo_server_t *es, hs_echo_server_stats_t *st);

/* ---- client ---- */

typedef struct hs_echo_client hs_echo_client_t;

typedef struct {
    hs_endpoint_t rmt;
    uint32_t n_clients;   /* connections in all */
    uint64_t bytes;       /* sent per connection (and echoed back); 0: open and close */
    uint64_t seed;        /* of the patterns */
    uint32_t concurrency; /* connections open at once; 0: min(n_clients, 256) */
    uint32_t worker;      /* the worker that runs them (hs_session_connect_worker) */
} hs_echo_client_config_t;

typedef struct {
    uint32_t n_clients;
    uint32_t connected, connect_failed, completed, resets, verify_failed, closed_early;
    int first_error;         /* -errno of the first connect failure, 0 when none */
    uint64_t first_bad_conn; /* connection and stream offset of the first wrong byte */
    uint64_t first_bad_offset;
    uint64_t bytes_sent, bytes_received, bytes_verified;
    uint64_t start_ns, data_done_ns, end_ns; /* worker time */
    bool stopped;                            /* hs_echo_client_stop cut it short */
} hs_echo_client_result_t;

/* Control plane: the run starts at the worker's next poll. -EINVAL (no clients, bad
 * worker), -ENOMEM. */
int hs_echo_client_start(hs_session_main_t *sm, const hs_echo_client_config_t *cfg,
                         hs_echo_client_t **out);
/* Any thread: every connection finished and every session is gone. */
bool hs_echo_client_done(const hs_echo_client_t *c);
/* Control plane: resets what is still open; done follows once the sessions are gone. */
void hs_echo_client_stop(hs_echo_client_t *c);
/* After done (or with the workers parked, for a partial view). */
void hs_echo_client_result(const hs_echo_client_t *c, hs_echo_client_result_t *r);
/* The report: Gbit/s (bytes both ways over the data phase), connections/s, errors. */
void hs_echo_client_format(const hs_echo_client_result_t *r, hs_str_t *out);
/* Control plane, after done: -EBUSY while sessions remain. */
int hs_echo_client_destroy(hs_echo_client_t *c);
/* Control plane: a client given up on (its sessions would not go in time) is destroyed by
 * hs_echo_client_reap once done. */
void hs_echo_client_abandon(hs_echo_client_t *c);
void hs_echo_client_reap(hs_session_main_t *sm);
/* A run without errors: every connection completed and verified. */
bool hs_echo_client_ok(const hs_echo_client_result_t *r);

#endif
