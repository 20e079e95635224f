/* Session-layer commands: the builtin echo server and echo/bulk client (test echo ...),
 * show session [verbose] and show tcp stats. The client command waits for its run to end
 * with the data-plane workers running (it lifts the barrier while it waits). */
#include "daemon/hsd.h"
#include "net/fib.h"
#include "session/echo.h"
#include "session/stack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ECHO_DEFAULT_TIMEOUT_S 60u
#define ECHO_STOP_WAIT_NS      (5 * HS_NS_PER_S) /* for resets to go through */
#define ECHO_MAX_CLIENTS       1000000u

static const char *fmt_uri(const hs_endpoint_t *ep, char *buf, size_t len)
{
    char ip[16];
    snprintf(buf, len, "tcp://%s/%u", hs_cli_fmt_ip4(ep->ip, ip), ep->port);
    return buf;
}

/* "uri tcp://A.B.C.D/PORT" (tcp://A.B.C.D:PORT also goes). */
static int parse_uri(hs_cli_args_t *a, hs_endpoint_t *ep)
{
    if (!hs_cli_keyword(a, "uri"))
        return hs_cli_error(a, -EINVAL, "say 'uri tcp://A.B.C.D/PORT' (usage: %s %s)", a->cmd->path,
                            a->cmd->usage);
    const char *w = hs_cli_word(a, "URI");
    if (!w)
        return -EINVAL;
    if (strncmp(w, "tcp://", 6) != 0)
        return hs_cli_error(a, -EPROTONOSUPPORT, "'%s': only TCP for now, as tcp://A.B.C.D/PORT",
                            w);
    char host[32];
    const char *rest = w + 6, *sep = strpbrk(rest, "/:");
    uint32_t port;
    if (!sep || (size_t)(sep - rest) >= sizeof(host))
        return hs_cli_error(a, -EINVAL, "'%s' has no port: use tcp://A.B.C.D/PORT", w);
    snprintf(host, sizeof(host), "%.*s", (int)(sep - rest), rest);
    *ep = (hs_endpoint_t){.fib_index = 0};
    if (hs_cli_parse_ip4(host, &ep->ip) < 0)
        return hs_cli_error(a, -EINVAL, "'%s' in '%s' is not an IPv4 address (A.B.C.D)", host, w);
    if (hs_cli_parse_u32(sep + 1, &port) < 0 || port == 0 || port > 65535)
        return hs_cli_error(a, -EINVAL, "'%s' in '%s' is not a port (1..65535)", sep + 1, w);
    ep->port = (uint16_t)port;
    return 0;
}

/* A byte count with an optional k/m/g suffix (powers of 1024); 0 opens and closes only. */
static int parse_bytes(hs_cli_args_t *a, uint64_t *v)
{
    const char *w = hs_cli_word(a, "byte count");
    if (!w)
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(w, &end, 10);
    int shift = 0;
    if (*end == 'k' || *end == 'K')
        shift = 10, end++;
    else if (*end == 'm' || *end == 'M')
        shift = 20, end++;
    else if (*end == 'g' || *end == 'G')
        shift = 30, end++;
    if (errno || end == w || *end || w[0] == '-' || n > (1ull << 40) >> shift)
        return hs_cli_error(a, -EINVAL, "'%s' is not a byte count (0..1T, suffix k, m or g)", w);
    *v = (uint64_t)n << shift;
    return 0;
}

/* Lets the workers run until done(ctx) or the timeout; the barrier is held again after.
 * With --workers 0 this thread is the data plane, so it polls instead of sleeping. */
static bool wait_workers(hs_daemon_t *d, bool (*done)(const void *), const void *ctx,
                         uint64_t timeout_ns)
{
    uint64_t end = hs_clock_mono_ns() + timeout_ns;
    bool ok = false;
    hs_workers_barrier_leave(&d->workers);
    for (;;) {
        if ((ok = done(ctx)))
            break;
        uint64_t now = hs_clock_mono_ns();
        if (now >= end)
            break;
        if (d->opts.n_workers == 0)
            hs_workers_main_poll(&d->workers, now);
        else
            nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    hs_workers_barrier_enter(&d->workers);
    return ok;
}

static bool server_idle(const void *es)
{
    return hs_echo_server_sessions(es) == 0;
}

static bool client_done(const void *c)
{
    return hs_echo_client_done(c);
}

static int echo_server_stop(hs_cli_args_t *a, hs_echo_server_t *es, const char *uri)
{
    hs_daemon_t *d = hs_cli_daemon(a);
    hs_echo_server_stop(es);
    wait_workers(d, server_idle, es, ECHO_STOP_WAIT_NS);
    uint32_t left = hs_echo_server_sessions(es);
    if (hs_echo_server_destroy(es) < 0)
        hs_cli_printf(a, "echo server %s stopped; %u connections still closing (freed later)\n",
                      uri, left);
    else
        hs_cli_printf(a, "echo server %s stopped\n", uri);
    return 0;
}

static int cmd_echo_server(hs_cli_args_t *a)
{
    hs_daemon_t *d = hs_cli_daemon(a);
    hs_endpoint_t ep;
    char uri[48];
    if (parse_uri(a, &ep) < 0)
        return -EINVAL;
    bool stop = hs_cli_keyword(a, "stop");
    if (hs_cli_end(a) < 0)
        return -EINVAL;
    fmt_uri(&ep, uri, sizeof(uri));
    hs_echo_server_reap(d->sm);
    hs_echo_server_t *es = hs_echo_server_find(d->sm, &ep);
    if (stop) {
        if (!es || !hs_echo_server_listening(es))
            return hs_cli_error(a, -ENOENT, "no echo server on %s (see 'show session')", uri);
        return echo_server_stop(a, es, uri);
    }
    if (es)
        return hs_cli_error(a, -EADDRINUSE, "an echo server %s on %s already",
                            hs_echo_server_listening(es) ? "runs" : "is stopping", uri);
    const hs_fib_route_t *r = hs_fib_lookup(d->net, ep.fib_index, ep.ip);
    if (ep.ip != 0 && (!r || r->type != HS_FIB_LOCAL))
        return hs_cli_error(a, -EADDRNOTAVAIL,
                            "%s: the address is not one of this stack's (see 'show interface')",
                            uri);
    int rv = hs_echo_server_start(d->sm, &ep, &es);
    if (rv == -EADDRINUSE)
        return hs_cli_error(a, rv, "%s is already in use by another listener", uri);
    if (rv < 0)
        return hs_cli_error(a, rv, "cannot listen on %s: %s", uri, strerror(-rv));
    hs_cli_printf(a, "echo server listening on %s\n", uri);
    return 0;
}

static int parse_client_opts(hs_cli_args_t *a, hs_echo_client_config_t *cfg, uint32_t *timeout_s)
{
    while (!hs_cli_at_end(a)) {
        int rv;
        if (hs_cli_keyword(a, "nclients"))
            rv = hs_cli_u32(a, "number of clients", 1, ECHO_MAX_CLIENTS, &cfg->n_clients);
        else if (hs_cli_keyword(a, "bytes"))
            rv = parse_bytes(a, &cfg->bytes);
        else if (hs_cli_keyword(a, "timeout"))
            rv = hs_cli_u32(a, "timeout in seconds", 1, 3600, timeout_s);
        else if (hs_cli_keyword(a, "concurrency"))
            rv = hs_cli_u32(a, "concurrency", 1, ECHO_MAX_CLIENTS, &cfg->concurrency);
        else
            rv = hs_cli_error(a, -EINVAL, "unknown option '%s' (usage: %s %s)", hs_cli_peek(a),
                              a->cmd->path, a->cmd->usage);
        if (rv < 0)
            return rv;
    }
    return 0;
}

/* After a timeout: reset what is open and give the resets a moment; a client that still
 * has sessions then is left for hs_echo_client_reap. */
static bool client_stop(hs_daemon_t *d, hs_echo_client_t *c)
{
    hs_echo_client_stop(c);
    if (wait_workers(d, client_done, c, ECHO_STOP_WAIT_NS))
        return true;
    hs_echo_client_abandon(c);
    return false;
}

static int cmd_echo_client(hs_cli_args_t *a)
{
    hs_daemon_t *d = hs_cli_daemon(a);
    hs_echo_client_config_t cfg = {.n_clients = 1, .bytes = 1024 * 1024};
    uint32_t timeout_s = ECHO_DEFAULT_TIMEOUT_S;
    char uri[48];
    if (parse_uri(a, &cfg.rmt) < 0 || parse_client_opts(a, &cfg, &timeout_s) < 0)
        return -EINVAL;
    fmt_uri(&cfg.rmt, uri, sizeof(uri));
    hs_echo_client_reap(d->sm);
    cfg.seed = hs_clock_mono_ns();
    cfg.worker = hs_session_connect_worker(d->sm, cfg.rmt.fib_index, cfg.rmt.ip);
    hs_echo_client_t *c;
    int rv = hs_echo_client_start(d->sm, &cfg, &c);
    if (rv < 0)
        return hs_cli_error(a, rv, "cannot start a client to %s: %s", uri, strerror(-rv));
    bool done = wait_workers(d, client_done, c, (uint64_t)timeout_s * HS_NS_PER_S);
    bool freed = done || client_stop(d, c);
    hs_echo_client_result_t r;
    hs_echo_client_result(c, &r);
    hs_str_t out = {0};
    hs_echo_client_format(&r, &out);
    hs_cli_printf(a, "echo client to %s: %u connection%s, %lu bytes each way per connection\n", uri,
                  cfg.n_clients, cfg.n_clients == 1 ? "" : "s", (unsigned long)cfg.bytes);
    hs_cli_printf(a, "%s", hs_str_cstr(&out));
    hs_str_free(&out);
    if (!done)
        hs_cli_printf(a, "timed out after %u s%s\n", timeout_s,
                      freed ? "" : "; its connections are still closing");
    if (freed)
        hs_echo_client_destroy(c);
    return hs_echo_client_ok(&r) ? 0 : -EIO;
}

static int cmd_show_session(hs_cli_args_t *a)
{
    bool verbose = hs_cli_keyword(a, "verbose");
    if (hs_cli_end(a) < 0)
        return -EINVAL;
    hs_daemon_t *d = hs_cli_daemon(a);
    hs_session_format(d->sm, verbose, a->out);
    if (verbose)
        hs_echo_server_format_all(d->sm, a->out);
    return 0;
}

static int cmd_show_tcp_stats(hs_cli_args_t *a)
{
    if (hs_cli_end(a) < 0)
        return -EINVAL;
    hs_session_main_t *sm = hs_cli_daemon(a)->sm;
    for (uint32_t w = 0; w < sm->n_workers; w++)
        hs_tcp_format_stats(&sm->tcp_workers[w], a->out);
    return 0;
}

static const hs_cli_cmd_t session_cmds[] = {
    {"test echo server", "uri tcp://A.B.C.D/PORT [stop]",
     "builtin TCP echo server: echoes everything, closes after the peer does", cmd_echo_server},
    {"test echo client",
     "uri tcp://A.B.C.D/PORT [nclients N] [bytes M] [timeout S] [concurrency C]",
     "N connections each send M bytes (k/m/g) and verify the echo: Gbit/s, connections/s",
     cmd_echo_client},
    {"show session", "[verbose]", "sessions per worker: state, addresses, FIFO fill",
     cmd_show_session},
    {"show tcp stats", "", "TCP counters and drops per worker", cmd_show_tcp_stats},
};

int hs_cli_session_register(hs_cli_t *cli)
{
    return hs_cli_register(cli, session_cmds, HS_ARRAY_LEN(session_cmds));
}
