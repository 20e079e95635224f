/* TCP end to end: bulk echo and connections per second, the stack against the Linux kernel
 * on the same machine in the same run.
 *
 *   stack: two whole stacks (packet path + TCP + session layer) in this process, joined by
 *          the wire driver without impairments, on the real clock, both polled by ONE
 *          thread (the wire is single-threaded); the builtin echo server on B and the
 *          builtin echo client on A, which verifies every byte.
 *   hsd:   two hsd processes (one worker each), each in a network namespace holding one
 *          end of a veth through af_packet; the builtin echo server in one and the
 *          builtin client in the other, driven with hsctl (the real data path: driver,
 *          packet path, TCP, session layer, two cores).
 *   linux: two network namespaces joined by a veth; an epoll echo server in one and an
 *          epoll echo client in the other (one thread each, forked here), the client
 *          sending and verifying the same seeded pattern as the builtin client.
 *
 * Both run the same workloads: bulk (1 connection, BULK bytes each way, then 8 at once)
 * and CPS (CPS_CONNS connections of 64 bytes each way, 64 open at once). Figures:
 * Gbit/s counts the bytes both ways (as the echo client reports), connections/s counts
 * completed connections, and CPU seconds per GB divide CPU time by the bytes moved (both
 * ways). CPU is counted for the processes (getrusage for this process and the Linux
 * children, /proc/PID/stat for the two hsd), and machine-wide from /proc/stat (softirq
 * work the kernel does not charge to a process), which includes anything else running.
 *
 * The hsd and Linux halves need root (namespaces, veth); hsd and hsctl are found beside
 * this program in the build tree (or named by $HSD and $HSCTL). Missing either, that half
 * is skipped. */
#define _GNU_SOURCE
#include "drivers/wire.h"
#include "net/devices.h"
#include "net/interface.h"
#include "net/ip4.h"
#include "session/echo.h"
#include "session/stack.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define IP_A      0xc0a84f01u /* 192.168.79.1: the stacks */
#define IP_B      0xc0a84f02u
#define KIP_SRV   "10.78.250.1" /* the namespaces */
#define KIP_CLI   "10.78.250.2"
#define PORT      5001
#define BULK      (1024ull * 1024 * 1024)
#define BULK8     (128ull * 1024 * 1024)
#define CPS_CONNS 10000u
#define CPS_BYTES 64u
#define CPS_CONC  64u
#define SEED      0xbe7c4ull

typedef struct {
    const char *name;
    uint32_t n, conc;
    uint64_t bytes;
} workload_t;

static const workload_t workloads[] = {
    {"bulk, 1 connection x 1 GiB each way", 1, 1, BULK},
    {"bulk, 8 connections x 128 MiB each way", 8, 8, BULK8},
    {"cps, 10000 connections x 64 B each way, 64 at once", CPS_CONNS, CPS_CONC, CPS_BYTES},
};
#define N_WORKLOADS HS_ARRAY_LEN(workloads)

typedef struct {
    bool ok;
    uint32_t completed;
    uint64_t bytes;       /* both ways */
    double data_s, all_s; /* to the last byte; to the last close */
    double cpu_proc_s;    /* the processes' user + system */
    double cpu_machine_s; /* /proc/stat busy time, all CPUs */
} result_t;

/* ---- clocks and CPU ---- */

static double now_s(void)
{
    return (double)hs_clock_mono_ns() / 1e9;
}

static double rusage_s(const struct rusage *ru)
{
    return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 +
           (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return rusage_s(&ru);
}

/* Busy time of all CPUs (everything but idle and iowait), from /proc/stat. */
static double machine_busy_s(void)
{
    FILE *f = fopen("/proc/stat", "r");
    unsigned long long v[10] = {0};
    if (!f)
        return 0;
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                   &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
    fclose(f);
    if (n < 8)
        return 0;
    unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

/* ---- the stack half ---- */

typedef struct {
    hs_clock_t clk;
    hs_wire_t *wire;
    hs_net_t *net[2];
    hs_session_main_t *sm[2];
} stacks_t;

static int stack_new(stacks_t *st, int i)
{
    static const uint8_t macs[2][6] = {{0x02, 0, 0, 0, 0x79, 1}, {0x02, 0, 0, 0, 0x79, 2}};
    hs_session_stack_config_t cfg = {.clock = &st->clk, .n_workers = 1};
    int rv = hs_session_stack_create_cfg(&cfg, &st->net[i], &st->sm[i]);
    uint32_t sw = 0;
    if (rv == 0)
        rv = hs_wire_if_create(st->net[i], st->wire, i, "wire0", macs[i], &sw);
    if (rv == 0)
        rv = hs_interface_set_admin(st->net[i], sw, true);
    if (rv == 0)
        rv = hs_ip4_interface_address(st->net[i], sw, i ? IP_B : IP_A, 24, false);
    return rv;
}

static void stack_run(stacks_t *st, hs_echo_client_t *c)
{
    while (!hs_echo_client_done(c)) {
        uint64_t now = hs_clock_now(&st->clk);
        for (int i = 0; i < 2; i++)
            hs_session_stack_poll(st->net[i], st->sm[i], 0, now);
    }
}

static result_t stack_workload(stacks_t *st, const workload_t *w)
{
    result_t r = {0};
    hs_echo_client_config_t cfg = {.rmt = {.ip = IP_B, .port = PORT},
                                   .n_clients = w->n,
                                   .bytes = w->bytes,
                                   .seed = SEED,
                                   .concurrency = w->conc};
    hs_echo_client_t *c;
    if (hs_echo_client_start(st->sm[0], &cfg, &c) < 0)
        return r;
    double cpu0 = self_cpu_s(), m0 = machine_busy_s();
    stack_run(st, c);
    double cpu1 = self_cpu_s(), m1 = machine_busy_s();
    hs_echo_client_result_t er;
    hs_echo_client_result(c, &er);
    r.ok = hs_echo_client_ok(&er);
    r.completed = er.completed;
    r.bytes = er.bytes_sent + er.bytes_received;
    r.data_s = (double)(er.data_done_ns - er.start_ns) / 1e9;
    r.all_s = (double)(er.end_ns - er.start_ns) / 1e9;
    r.cpu_proc_s = cpu1 - cpu0;
    r.cpu_machine_s = m1 - m0;
    if (!r.ok) {
        hs_str_t out = {0};
        hs_echo_client_format(&er, &out);
        fprintf(stderr, "stack run failed:\n%s", hs_str_cstr(&out));
        hs_str_free(&out);
    }
    /* Let the last closes finish (the server's LAST-ACK) before the client goes. */
    for (int k = 0; k < 1000 && hs_echo_client_destroy(c) == -EBUSY; k++) {
        uint64_t now = hs_clock_now(&st->clk);
        for (int i = 0; i < 2; i++)
            hs_session_stack_poll(st->net[i], st->sm[i], 0, now);
    }
    return r;
}

static int stack_half(result_t *res)
{
    stacks_t st = {0};
    hs_clock_init_real(&st.clk);
    hs_wire_config_t wc = {.seed = 1};
    int rv = hs_wire_create(&st.wire, &wc);
    if (rv == 0)
        rv = stack_new(&st, 0);
    if (rv == 0)
        rv = stack_new(&st, 1);
    hs_echo_server_t *es = NULL;
    hs_endpoint_t ep = {.ip = IP_B, .port = PORT};
    if (rv == 0)
        rv = hs_echo_server_start(st.sm[1], &ep, &es);
    for (uint32_t i = 0; rv == 0 && i < N_WORKLOADS; i++)
        res[i] = stack_workload(&st, &workloads[i]);
    for (int i = 0; i < 2; i++)
        if (st.net[i])
            hs_session_stack_destroy(st.net[i], st.sm[i]);
    if (st.wire)
        hs_wire_destroy(st.wire);
    return rv;
}

/* ---- the Linux half: namespaces ---- */

static char ns_srv[32], ns_cli[32];
static bool ns_made;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int rv = system(cmd);
    return rv == 0 ? 0 : -1;
}

static void ns_cleanup(void)
{
    if (!ns_made)
        return;
    ns_made = false;
    sh("ip netns del %s 2>/dev/null", ns_srv);
    sh("ip netns del %s 2>/dev/null", ns_cli);
}

static void on_signal(int sig)
{
    ns_cleanup();
    signal(sig, SIG_DFL);
    raise(sig);
}

static int ns_setup(void)
{
    pid_t p = getpid();
    snprintf(ns_srv, sizeof(ns_srv), "hsbsrv%d", (int)p);
    snprintf(ns_cli, sizeof(ns_cli), "hsbcli%d", (int)p);
    if (sh("ip netns add %s", ns_srv) < 0)
        return -1;
    ns_made = true;
    atexit(ns_cleanup);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (sh("ip netns add %s", ns_cli) < 0 ||
        sh("ip link add hsbv%d netns %s type veth peer name hsbv%d netns %s", (int)p, ns_srv,
           (int)p, ns_cli) < 0 ||
        sh("ip -n %s addr add " KIP_SRV "/24 dev hsbv%d", ns_srv, (int)p) < 0 ||
        sh("ip -n %s addr add " KIP_CLI "/24 dev hsbv%d", ns_cli, (int)p) < 0 ||
        sh("ip -n %s link set hsbv%d up && ip -n %s link set lo up", ns_srv, (int)p, ns_srv) < 0 ||
        sh("ip -n %s link set hsbv%d up && ip -n %s link set lo up", ns_cli, (int)p, ns_cli) < 0)
        return -1;
    return 0;
}

static int enter_ns(const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "/var/run/netns/%s", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rv = setns(fd, CLONE_NEWNET);
    close(fd);
    return rv;
}

/* ---- the Linux half: an epoll echo server ---- */

#define SBUF (256 * 1024)

typedef struct {
    int fd;
    uint32_t off, len; /* bytes of buf not yet written back */
    bool eof;
    uint8_t *buf;
} srv_conn_t;

static void srv_close(int ep, srv_conn_t *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->buf);
    free(c);
}

/* Echoes what is readable; waits for EPOLLOUT when the peer does not take it all. */
static void srv_serve(int ep, srv_conn_t *c)
{
    for (;;) {
        while (c->off < c->len) {
            ssize_t n = write(c->fd, c->buf + c->off, c->len - c->off);
            if (n < 0) {
                if (errno == EAGAIN) {
                    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                    return;
                }
                srv_close(ep, c);
                return;
            }
            c->off += (uint32_t)n;
        }
        c->off = c->len = 0;
        if (c->eof) {
            srv_close(ep, c); /* everything echoed: our FIN follows */
            return;
        }
        ssize_t n = read(c->fd, c->buf, SBUF);
        if (n < 0 && errno == EAGAIN) {
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            return;
        }
        if (n <= 0)
            c->eof = true;
        else
            c->len = (uint32_t)n;
    }
}

static void run_server(int ready_fd)
{
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    inet_pton(AF_INET, KIP_SRV, &sa.sin_addr);
    if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 4096) < 0)
        _exit(1);
    int ep = epoll_create1(0);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &lev);
    if (write(ready_fd, "r", 1) != 1)
        _exit(1);
    close(ready_fd);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr) {
                srv_serve(ep, evs[i].data.ptr);
                continue;
            }
            int fd;
            while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                srv_conn_t *c = calloc(1, sizeof(*c));
                c->fd = fd;
                c->buf = malloc(SBUF);
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
            }
        }
    }
}

/* ---- the Linux half: an epoll echo client, as the builtin one ---- */

typedef struct {
    int fd;
    uint32_t index;
    uint64_t seed, sent, received;
    bool shut;
} cli_conn_t;

typedef struct {
    const workload_t *w;
    int ep;
    uint32_t next, live, completed, failed;
    uint64_t bytes;
    double t0, t_data;
    uint8_t *buf;
} cli_t;

static void cli_open(cli_t *cl)
{
    while (cl->next < cl->w->n && cl->live < cl->w->conc) {
        cli_conn_t *c = calloc(1, sizeof(*c));
        c->index = cl->next++;
        c->seed = hs_echo_conn_seed(SEED, c->index);
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(PORT)};
        inet_pton(AF_INET, KIP_SRV, &sa.sin_addr);
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
            close(c->fd);
            free(c);
            cl->failed++;
            continue;
        }
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
        epoll_ctl(cl->ep, EPOLL_CTL_ADD, c->fd, &ev);
        cl->live++;
    }
}

static void cli_done(cli_t *cl, cli_conn_t *c, bool ok)
{
    epoll_ctl(cl->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (ok)
        cl->completed++;
    else
        cl->failed++;
    free(c);
    cl->live--;
}

/* Writes the next pattern bytes; half-closes when all are out. */
static void cli_send(cli_t *cl, cli_conn_t *c)
{
    while (c->sent < cl->w->bytes) {
        uint32_t n = (uint32_t)HS_MIN(cl->w->bytes - c->sent, (uint64_t)SBUF);
        hs_echo_pattern_fill(c->seed, c->sent, cl->buf, n);
        ssize_t k = write(c->fd, cl->buf, n);
        if (k <= 0)
            return;
        c->sent += (uint64_t)k;
        cl->bytes += (uint64_t)k;
    }
    if (!c->shut) {
        c->shut = true;
        shutdown(c->fd, SHUT_WR);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(cl->ep, EPOLL_CTL_MOD, c->fd, &ev);
    }
}

/* Reads and verifies; done at the server's FIN after the whole echo. */
static void cli_recv(cli_t *cl, cli_conn_t *c)
{
    for (;;) {
        ssize_t n = read(c->fd, cl->buf, SBUF);
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            cli_done(cl, c, n == 0 && c->received == cl->w->bytes);
            return;
        }
        if (c->received + (uint64_t)n > c->sent ||
            hs_echo_pattern_check(c->seed, c->received, cl->buf, (uint32_t)n) >= 0) {
            cli_done(cl, c, false);
            return;
        }
        c->received += (uint64_t)n;
        cl->bytes += (uint64_t)n;
        if (c->received == cl->w->bytes)
            cl->t_data = now_s();
    }
}

static void run_client(const workload_t *w, int out_fd)
{
    cli_t cl = {.w = w, .ep = epoll_create1(0), .buf = malloc(SBUF)};
    cl.t0 = now_s();
    cli_open(&cl);
    struct epoll_event evs[256];
    while (cl.live) {
        int n = epoll_wait(cl.ep, evs, 256, 5000);
        if (n == 0)
            break; /* stuck: report what we have */
        for (int i = 0; i < n; i++) {
            cli_conn_t *c = evs[i].data.ptr;
            if ((evs[i].events & EPOLLOUT) && !c->shut)
                cli_send(&cl, c);
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                cli_recv(&cl, c);
        }
        cli_open(&cl);
    }
    result_t r = {.ok = cl.completed == w->n && !cl.failed,
                  .completed = cl.completed,
                  .bytes = cl.bytes,
                  .data_s = (cl.t_data ? cl.t_data : now_s()) - cl.t0,
                  .all_s = now_s() - cl.t0};
    if (write(out_fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
        _exit(1);
    _exit(0);
}

static pid_t fork_in(const char *ns, void (*fn)(const workload_t *, int), const workload_t *w,
                     int fd)
{
    pid_t p = fork();
    if (p == 0) {
        if (enter_ns(ns) < 0)
            _exit(1);
        fn(w, fd);
        _exit(0);
    }
    return p;
}

static void server_main(const workload_t *w, int fd)
{
    (void)w;
    run_server(fd);
}

static result_t linux_workload(const workload_t *w)
{
    result_t r = {0};
    int ready[2], res[2];
    if (pipe(ready) < 0 || pipe(res) < 0)
        return r;
    pid_t srv = fork_in(ns_srv, server_main, w, ready[1]);
    close(ready[1]);
    char c;
    if (read(ready[0], &c, 1) != 1) {
        close(ready[0]);
        waitpid(srv, NULL, 0);
        return r;
    }
    close(ready[0]);
    double m0 = machine_busy_s();
    pid_t cli = fork_in(ns_cli, run_client, w, res[1]);
    close(res[1]);
    ssize_t got = read(res[0], &r, sizeof(r));
    close(res[0]);
    double m1 = machine_busy_s();
    struct rusage ru_c, ru_s;
    wait4(cli, NULL, 0, &ru_c);
    kill(srv, SIGKILL);
    wait4(srv, NULL, 0, &ru_s);
    if (got != (ssize_t)sizeof(r))
        return (result_t){0};
    r.cpu_proc_s = rusage_s(&ru_c) + rusage_s(&ru_s);
    r.cpu_machine_s = m1 - m0;
    return r;
}

/* ---- the hsd half: two daemons over a veth ---- */

#define HIP_SRV "10.78.251.1"
#define HIP_CLI "10.78.251.2"

static char hsd_path[512], hsctl_path[512], hns[2][32], hsock[2][64];
static pid_t hsd_pid[2];
static bool hns_made;

static void hsd_cleanup(void)
{
    for (int i = 0; i < 2; i++) {
        if (hsd_pid[i] > 0) {
            kill(hsd_pid[i], SIGTERM);
            waitpid(hsd_pid[i], NULL, 0);
            hsd_pid[i] = 0;
        }
    }
    if (hns_made) {
        hns_made = false;
        for (int i = 0; i < 2; i++)
            sh("ip netns del %s 2>/dev/null", hns[i]);
    }
}

/* hsd and hsctl: $HSD / $HSCTL, else beside this program in the build tree. */
static bool find_tools(void)
{
    const char *h = getenv("HSD"), *c = getenv("HSCTL");
    char exe[400];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return false;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = 0;
    snprintf(hsd_path, sizeof(hsd_path), "%s", h ? h : "");
    snprintf(hsctl_path, sizeof(hsctl_path), "%s", c ? c : "");
    if (!h)
        snprintf(hsd_path, sizeof(hsd_path), "%s/../hsd", exe);
    if (!c)
        snprintf(hsctl_path, sizeof(hsctl_path), "%s/../hsctl", exe);
    return access(hsd_path, X_OK) == 0 && access(hsctl_path, X_OK) == 0;
}

/* Runs hsctl against daemon i; its output in out. 0 when the command succeeded. */
static int hsctl(int i, char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int hsctl(int i, char *out, size_t len, const char *fmt, ...)
{
    char args[256], cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd), "%s --api-socket %s %s 2>&1", hsctl_path, hsock[i], args);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    size_t got = fread(out, 1, len - 1, f);
    out[got] = 0;
    return pclose(f) == 0 ? 0 : -1;
}

static int hsd_start(int i, const char *ifname, const char *ip)
{
    hsd_pid[i] = fork();
    if (hsd_pid[i] == 0) {
        if (enter_ns(hns[i]) < 0)
            _exit(1);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(hsd_path, hsd_path, "--api-socket", hsock[i], (char *)NULL);
        _exit(1);
    }
    char out[4096];
    for (int k = 0; k < 100 && hsctl(i, out, sizeof(out), "show version") < 0; k++)
        usleep(100 * 1000);
    if (hsctl(i, out, sizeof(out), "create host-interface name %s", ifname) < 0 ||
        hsctl(i, out, sizeof(out), "set interface ip address host-%s %s/24", ifname, ip) < 0 ||
        hsctl(i, out, sizeof(out), "set interface state host-%s up", ifname) < 0) {
        fprintf(stderr, "bench/tcp: hsd %d: %s", i, out);
        return -1;
    }
    return 0;
}

static int hsd_setup(void)
{
    int p = (int)getpid();
    for (int i = 0; i < 2; i++) {
        snprintf(hns[i], sizeof(hns[i]), "hsbh%d%c", p, 'a' + i);
        snprintf(hsock[i], sizeof(hsock[i]), "/tmp/hs-bench-tcp-%d-%d.sock", p, i);
    }
    if (sh("ip netns add %s", hns[0]) < 0)
        return -1;
    hns_made = true;
    atexit(hsd_cleanup);
    if (sh("ip netns add %s", hns[1]) < 0 ||
        sh("ip link add hsbh%d netns %s type veth peer name hsbh%d netns %s", p, hns[0], p,
           hns[1]) < 0 ||
        sh("ip -n %s link set hsbh%d up && ip -n %s link set hsbh%d up", hns[0], p, hns[1], p) < 0)
        return -1;
    for (int i = 0; i < 2; i++)
        sh("ip netns exec %s sysctl -qw net.ipv6.conf.all.disable_ipv6=1", hns[i]);
    char ifname[32], out[4096];
    snprintf(ifname, sizeof(ifname), "hsbh%d", p);
    if (hsd_start(0, ifname, HIP_SRV) < 0 || hsd_start(1, ifname, HIP_CLI) < 0)
        return -1;
    if (hsctl(0, out, sizeof(out), "test echo server uri tcp://" HIP_SRV "/%d", PORT) < 0) {
        fprintf(stderr, "bench/tcp: echo server: %s", out);
        return -1;
    }
    return 0;
}

/* utime + stime of a process, all threads. */
static double proc_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold blanks */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static result_t hsd_workload(const workload_t *w)
{
    result_t r = {0};
    char out[8192];
    double c0 = proc_cpu_s(hsd_pid[0]) + proc_cpu_s(hsd_pid[1]), m0 = machine_busy_s();
    int rv = hsctl(1, out, sizeof(out),
                   "test echo client uri tcp://" HIP_SRV "/%d nclients %u bytes %lu concurrency %u "
                   "timeout 120",
                   PORT, w->n, (unsigned long)w->bytes, w->conc);
    double c1 = proc_cpu_s(hsd_pid[0]) + proc_cpu_s(hsd_pid[1]), m1 = machine_busy_s();
    unsigned long sent = 0, verified = 0;
    double gbps = 0, conns_s = 0;
    unsigned completed = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        if (sscanf(line, " %lu bytes sent, %lu received and verified, in %lf s", &sent, &verified,
                   &r.data_s) == 3)
            continue;
        if (sscanf(line, " %u connections in %lf s: %lf connections/s", &completed, &r.all_s,
                   &conns_s) == 3)
            continue;
        if (strncmp(line, "ok:", 3) == 0)
            r.ok = rv == 0;
    }
    (void)gbps;
    r.completed = completed;
    r.bytes = sent + verified;
    r.cpu_proc_s = c1 - c0;
    r.cpu_machine_s = m1 - m0;
    if (!r.ok)
        fprintf(stderr, "bench/tcp: hsd run failed\n");
    return r;
}

/* ---- report ---- */

static void print_row(const char *who, const result_t *r, bool cps)
{
    double gb = (double)r->bytes / 1e9;
    printf("  %-6s %s  %8.3f Gbit/s  %9.0f conn/s  cpu %.2f s (%.3f s/GB)", who,
           r->ok ? "ok  " : "FAIL", r->data_s > 0 ? (double)r->bytes * 8 / r->data_s / 1e9 : 0,
           r->all_s > 0 ? r->completed / r->all_s : 0, r->cpu_proc_s,
           gb > 0 ? r->cpu_proc_s / gb : 0);
    if (r->cpu_machine_s > 0)
        printf(", machine %.2f s (%.3f s/GB)", r->cpu_machine_s,
               gb > 0 ? r->cpu_machine_s / gb : 0);
    if (cps && r->completed)
        printf(", %.1f us cpu/conn", r->cpu_proc_s * 1e6 / r->completed);
    printf("\n");
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

/* who against linux: the rate, and the CPU per unit of work (GB, or connection). */
static void print_ratio(const char *who, const result_t *a, const result_t *l, bool cps)
{
    double ua = cps ? a->completed : (double)a->bytes / 1e9;
    double ul = cps ? l->completed : (double)l->bytes / 1e9;
    double ra = cps ? ratio(a->completed, a->all_s) : ratio((double)a->bytes, a->data_s);
    double rl = cps ? ratio(l->completed, l->all_s) : ratio((double)l->bytes, l->data_s);
    printf("  %s/linux: %.2fx %s, %.2fx cpu per %s (processes), %.2fx (machine-wide)\n", who,
           ratio(ra, rl), cps ? "connections/s" : "Gbit/s",
           ratio(ratio(a->cpu_proc_s, ua), ratio(l->cpu_proc_s, ul)), cps ? "connection" : "GB",
           ratio(ratio(a->cpu_machine_s, ua), ratio(l->cpu_machine_s, ul)));
}

int main(void)
{
    result_t st[N_WORKLOADS] = {{0}}, hd[N_WORKLOADS] = {{0}}, lx[N_WORKLOADS] = {{0}};
    signal(SIGPIPE, SIG_IGN); /* a peer gone mid-write is an error return, not a signal */
    printf("bench/tcp: stack = 2 stacks in 1 thread over the in-process wire (real time)\n"
           "           hsd   = 2 hsd (1 worker each) in 2 namespaces, af_packet on a veth\n"
           "           linux = 2 namespaces over a veth, epoll echo server + client processes\n");
    fflush(stdout);
    if (stack_half(st) < 0)
        fprintf(stderr, "bench/tcp: cannot build the stacks\n");
    bool root = geteuid() == 0, have_linux = root, have_hsd = root && find_tools();
    if (!root)
        printf("(not root: the hsd and Linux halves are skipped)\n");
    else if (!have_hsd)
        printf("(hsd or hsctl not found beside this program, nor in $HSD/$HSCTL: no hsd half)\n");
    if (have_hsd && hsd_setup() < 0) {
        printf("(cannot set up the two hsd: the hsd half is skipped)\n");
        have_hsd = false;
    }
    for (uint32_t i = 0; have_hsd && i < N_WORKLOADS; i++)
        hd[i] = hsd_workload(&workloads[i]);
    hsd_cleanup();
    if (have_linux && ns_setup() < 0) {
        printf("(cannot create the namespaces: the Linux half is skipped)\n");
        have_linux = false;
    }
    for (uint32_t i = 0; have_linux && i < N_WORKLOADS; i++)
        lx[i] = linux_workload(&workloads[i]);
    ns_cleanup();
    bool all_ok = true;
    for (uint32_t i = 0; i < N_WORKLOADS; i++) {
        bool cps = workloads[i].bytes < 4096;
        printf("%s:\n", workloads[i].name);
        print_row("stack", &st[i], cps);
        all_ok &= st[i].ok;
        if (have_hsd) {
            print_row("hsd", &hd[i], cps);
            all_ok &= hd[i].ok;
        }
        if (!have_linux)
            continue;
        print_row("linux", &lx[i], cps);
        all_ok &= lx[i].ok;
        print_ratio("stack", &st[i], &lx[i], cps);
        if (have_hsd)
            print_ratio("hsd", &hd[i], &lx[i], cps);
    }
    return all_ok ? 0 : 1;
}
