/* hsd: flags, start-up (packet path, workers, control socket, startup file, demo), the
 * main thread's epoll loop and a clean shutdown on SIGINT/SIGTERM. */
#include "daemon/hsd.h"
#include "hs/ctl.h"
#include "infra/log.h"
#include "session/stack.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define HSD_MAX_WORKERS 64

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hsd [options]\n"
            "  --workers N         data-plane threads (0: run it on the main thread; default 1)\n"
            "  --api-socket PATH   control socket (default " HS_CTL_DEFAULT_SOCKET ")\n"
            "  -c FILE             run the CLI commands of FILE at start-up\n"
            "  --demo              create tap hs0: host 10.10.0.1/24, stack 10.10.0.2/24\n"
            "  --poll              busy-poll the rx queues (never sleep)\n"
            "  --log-level SPEC    e.g. debug, or warn,net=debug\n"
            "  --help, --version\n"
            "Talk to a running hsd with hsctl (hsctl help lists the commands).\n");
}

/* 0: run; 1: done (help/version printed); -1: bad flags (message printed). */
static int parse_flags(int argc, char **argv, hs_daemon_opts_t *o)
{
    static const struct option longs[] = {{"workers", required_argument, NULL, 'w'},
                                          {"api-socket", required_argument, NULL, 's'},
                                          {"demo", no_argument, NULL, 'd'},
                                          {"poll", no_argument, NULL, 'p'},
                                          {"log-level", required_argument, NULL, 'l'},
                                          {"help", no_argument, NULL, 'h'},
                                          {"version", no_argument, NULL, 'V'},
                                          {NULL, 0, NULL, 0}};
    char err[256];
    int opt;
    *o = (hs_daemon_opts_t){.n_workers = 1, .api_socket = HS_CTL_DEFAULT_SOCKET};
    while ((opt = getopt_long(argc, argv, "c:hV", longs, NULL)) != -1) {
        switch (opt) {
        case 'w':
            if (hs_cli_parse_u32(optarg, &o->n_workers) < 0 || o->n_workers > HSD_MAX_WORKERS) {
                fprintf(stderr, "hsd: --workers '%s': use a number from 0 to %d\n", optarg,
                        HSD_MAX_WORKERS);
                return -1;
            }
            break;
        case 's':
            o->api_socket = optarg;
            break;
        case 'c':
            o->startup_file = optarg;
            break;
        case 'd':
            o->demo = true;
            break;
        case 'p':
            o->poll_mode = true;
            break;
        case 'l':
            if (hs_log_apply_spec(optarg, err, sizeof(err)) < 0) {
                fprintf(stderr, "hsd: --log-level: %s\n", err);
                return -1;
            }
            break;
        case 'h':
            usage(stdout);
            return 1;
        case 'V':
            printf("hsd " HS_VERSION "\n");
            return 1;
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "hsd: unexpected argument '%s' (see hsd --help)\n", argv[optind]);
        return -1;
    }
    return 0;
}

static int add_fd(hs_daemon_t *d, int fd, hs_ev_kind_t kind)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = HS_EV_TAG(kind, 0)};
    return epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* The main loop's own fds: epoll, SIGINT/SIGTERM as a signalfd, and (when the main thread
 * runs the data plane) a housekeeping timer and the rx queues' readiness. */
static int open_loop_fds(hs_daemon_t *d)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    /* Blocked before any thread starts, so every thread inherits the mask. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    d->epfd = epoll_create1(EPOLL_CLOEXEC);
    d->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (d->epfd < 0 || d->sigfd < 0)
        return -errno;
    int rv = add_fd(d, d->sigfd, HS_EV_SIGNAL);
    if (rv < 0 || d->opts.n_workers > 0)
        return rv;
    d->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct itimerspec its = {{0, HS_NET_HOUSEKEEP_NS}, {0, HS_NET_HOUSEKEEP_NS}};
    if (d->timerfd < 0 || timerfd_settime(d->timerfd, 0, &its, NULL) < 0)
        return -errno;
    return add_fd(d, d->timerfd, HS_EV_TIMER);
}

int hs_daemon_exec(void *daemon, const char *line, hs_str_t *out)
{
    hs_daemon_t *d = daemon;
    hs_workers_barrier_enter(&d->workers);
    int rv = hs_cli_exec(&d->cli, line, out);
    hs_workers_barrier_leave(&d->workers);
    return rv;
}

static int setup_cli(hs_daemon_t *d)
{
    hs_cli_init(&d->cli, d);
    int rv;
    if ((rv = hs_cli_if_register(&d->cli)) < 0 || (rv = hs_cli_ip_register(&d->cli)) < 0 ||
        (rv = hs_cli_stats_register(&d->cli)) < 0 || (rv = hs_cli_trace_register(&d->cli)) < 0 ||
        (rv = hs_cli_session_register(&d->cli)) < 0)
        return rv;
    return 0;
}

static int setup(hs_daemon_t *d)
{
    char err[256] = "";
    hs_clock_init_real(&d->clock);
    d->start_ns = hs_clock_mono_ns();
    hs_net_config_t cfg = {.n_workers = HS_MAX(d->opts.n_workers, 1u),
                           .clock = &d->clock,
                           .register_nodes = hs_session_register_nodes};
    int rv = hs_net_create(&d->net, &cfg);
    if (rv < 0)
        return rv; /* hs_net_create logged why */
    if ((rv = hs_session_main_create(&d->sm, d->net, NULL)) < 0)
        return rv; /* logged */
    if ((rv = setup_cli(d)) < 0 || (rv = open_loop_fds(d)) < 0) {
        HS_LOG_ERR("hsd", "cannot set up the main loop: %s", strerror(-rv));
        return rv;
    }
    /* The socket first: a second hsd must fail before it touches any interface. */
    rv = hs_ctl_server_open(&d->server, d->opts.api_socket, d->epfd, hs_daemon_exec, d, err,
                            sizeof(err));
    d->server_open = true; /* closing is safe after any outcome */
    if (rv < 0) {
        fprintf(stderr, "hsd: %s\n", err);
        return rv;
    }
    rv = hs_workers_start(&d->workers, d->net, d->sm, d->opts.n_workers, d->opts.poll_mode);
    if (rv == 0 && d->opts.n_workers == 0)
        rv = add_fd(d, hs_workers_main_fd(&d->workers), HS_EV_RX);
    if (rv < 0) {
        HS_LOG_ERR("hsd", "cannot start the data-plane threads: %s", strerror(-rv));
        return rv;
    }
    if (d->opts.startup_file && (rv = hs_startup_run(d, d->opts.startup_file)) < 0)
        return rv;
    if (d->opts.demo && (rv = hs_demo_run(d)) < 0)
        return rv;
    return 0;
}

static void on_signal(hs_daemon_t *d)
{
    struct signalfd_siginfo si;
    while (read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
        HS_LOG_NOTICE("hsd", "%s: shutting down", si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
        d->quit = true;
    }
}

static void dispatch(hs_daemon_t *d, const struct epoll_event *ev)
{
    uint64_t ticks;
    switch ((hs_ev_kind_t)(ev->data.u64 >> 32)) {
    case HS_EV_LISTEN:
    case HS_EV_CLIENT:
        hs_ctl_server_event(&d->server, ev->data.u64, ev->events);
        break;
    case HS_EV_SIGNAL:
        on_signal(d);
        break;
    case HS_EV_TIMER:
        if (read(d->timerfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
            HS_LOG_WARN("hsd", "timerfd: %s", strerror(errno));
        break;
    case HS_EV_RX:
        break; /* the data-plane poll below picks the frames up */
    }
}

/* How long the main thread may sleep: for ever, unless it runs the data plane, whose
 * transport timers (delayed ACKs, retransmissions) must fire on time. */
static int idle_timeout_ms(hs_daemon_t *d)
{
    if (d->opts.n_workers > 0)
        return -1;
    uint64_t now = hs_clock_mono_ns();
    uint64_t due = hs_session_stack_next_ns(d->net, d->sm, 0, now);
    if (due == UINT64_MAX)
        return -1;
    return due > now ? (int)HS_MIN((due - now + HS_NS_PER_MS - 1) / HS_NS_PER_MS, 60000u) : 0;
}

static int main_loop(hs_daemon_t *d)
{
    bool busy = false;
    struct epoll_event ev[32];
    while (!d->quit) {
        int n = epoll_wait(d->epfd, ev, 32, busy ? 0 : idle_timeout_ms(d));
        if (n < 0 && errno != EINTR) {
            HS_LOG_ERR("hsd", "epoll_wait: %s", strerror(errno));
            return -errno;
        }
        for (int i = 0; i < n; i++)
            dispatch(d, &ev[i]);
        if (d->opts.n_workers == 0)
            busy = hs_workers_main_poll(&d->workers, hs_clock_mono_ns());
    }
    return 0;
}

static void teardown(hs_daemon_t *d)
{
    if (d->server_open)
        hs_ctl_server_close(&d->server);
    hs_workers_stop(&d->workers);
    hs_session_main_destroy(d->sm); /* before the packet path it sends through */
    hs_net_destroy(d->net);         /* deletes the interfaces: taps disappear */
    hs_cli_free(&d->cli);
    if (d->timerfd >= 0)
        close(d->timerfd);
    if (d->sigfd >= 0)
        close(d->sigfd);
    if (d->epfd >= 0)
        close(d->epfd);
}

int main(int argc, char **argv)
{
    hs_daemon_t d = {.epfd = -1, .sigfd = -1, .timerfd = -1};
    int rv = parse_flags(argc, argv, &d.opts);
    if (rv != 0)
        return rv > 0 ? 0 : 2;
    rv = setup(&d);
    if (rv == 0) {
        HS_LOG_NOTICE("hsd", "ready: %u worker thread%s, control socket %s", d.opts.n_workers,
                      d.opts.n_workers == 1 ? "" : "s", d.opts.api_socket);
        rv = main_loop(&d);
    }
    teardown(&d);
    return rv == 0 ? 0 : 1;
}
