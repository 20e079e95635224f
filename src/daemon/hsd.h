/* hsd's state, shared by the daemon's files: the packet path, the data-plane threads,
 * the CLI, the control socket and the main loop's fds. */
#ifndef HS_DAEMON_HSD_H
#define HS_DAEMON_HSD_H

#include "daemon/cli.h"
#include "daemon/ctl_server.h"
#include "daemon/workers.h"
#include "net/net.h"

typedef struct {
    uint32_t n_workers; /* 0: the data plane runs on the main thread */
    const char *api_socket;
    const char *startup_file; /* NULL: none */
    bool demo;
    bool poll_mode;
} hs_daemon_opts_t;

typedef struct hs_daemon {
    hs_daemon_opts_t opts;
    hs_clock_t clock;
    hs_net_t *net;
    struct hs_session_main *sm; /* sessions, TCP, builtin apps */
    hs_workers_t workers;
    hs_cli_t cli;
    hs_ctl_server_t server;
    bool server_open;
    int epfd, sigfd, timerfd;
    bool quit;
    uint64_t start_ns;
} hs_daemon_t;

/* Runs one CLI command line on the main thread with every worker parked. */
int hs_daemon_exec(void *daemon, const char *line, hs_str_t *out);

/* Command tables (cli_*.c). */
int hs_cli_if_register(hs_cli_t *cli);
int hs_cli_ip_register(hs_cli_t *cli);
int hs_cli_stats_register(hs_cli_t *cli);
int hs_cli_trace_register(hs_cli_t *cli);
int hs_cli_session_register(hs_cli_t *cli);

/* For commands: the interface named by the next word, with an error sentence naming it
 * and the fix when there is none. */
int hs_cli_interface(hs_cli_args_t *a, const char *what, uint32_t *sw_if_index);

static inline hs_daemon_t *hs_cli_daemon(const hs_cli_args_t *a)
{
    return (hs_daemon_t *)a->ctx;
}

/* Runs a startup file: one command a line, '#' comments and blank lines skipped. The
 * first failing line stops it: 0, or -errno after printing "FILE:LINE: reason" to stderr. */
int hs_startup_run(hs_daemon_t *d, const char *path);

/* hsd --demo: tap hs0 with the host at 10.10.0.1/24 and the stack at 10.10.0.2/24. */
int hs_demo_run(hs_daemon_t *d);

#endif
