/* hsctl: sends CLI commands to hsd over its control socket. `hsctl CMD...` runs one
 * command; `hsctl` alone is an interactive prompt with line editing and history (or
 * reads commands from a pipe, one a line). */
#include "hs/ctl.h"

#include <editline/readline.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

enum { EXIT_CMD_FAILED = 1, EXIT_USAGE = 2, EXIT_NO_HSD = 3 };

#define HISTORY_FILE ".hsctl_history"
#define HISTORY_MAX  1000

static void usage(FILE *f)
{
    fprintf(f, "usage: hsctl [--api-socket PATH] [COMMAND...]\n"
               "  COMMAND...          run one command and print its output (try: hsctl help)\n"
               "  (no command)        interactive prompt, or commands from stdin one a line\n"
               "  --api-socket PATH   hsd's control socket (default " HS_CTL_DEFAULT_SOCKET ")\n"
               "exit status: 0 ok, 1 the command failed, 2 usage, 3 hsd unreachable\n");
}

static const char *connect_hint(int e)
{
    switch (e) {
    case ENOENT:
        return "no such file (is hsd running?)";
    case ECONNREFUSED:
        return "connection refused (hsd is not running; the socket file is stale)";
    case EACCES:
        return "permission denied (run as root or as a member of the socket's group)";
    default:
        return strerror(e);
    }
}

static int ctl_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "hsctl: socket path too long: %s\n", path);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "hsctl: cannot connect to %s: %s\n", path, connect_hint(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static bool send_all(int fd, const void *p, size_t n)
{
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        p = (const char *)p + k, n -= (size_t)k;
    }
    return true;
}

static bool recv_all(int fd, void *p, size_t n)
{
    while (n) {
        ssize_t k = recv(fd, p, n, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        p = (char *)p + k, n -= (size_t)k;
    }
    return true;
}

/* Sends one command and prints the reply. The command's status (0 or -errno), or 1 when
 * the connection failed (the caller may reconnect). */
static int run(int fd, const char *cmd)
{
    size_t len = strlen(cmd);
    if (len > HS_CTL_MAX_REQUEST) {
        fprintf(stderr, "hsctl: command too long (%zu bytes; at most %u)\n", len,
                HS_CTL_MAX_REQUEST);
        return -E2BIG;
    }
    hs_ctl_req_t req = {HS_CTL_MSG_CLI, (uint32_t)len};
    hs_ctl_reply_t rep;
    if (!send_all(fd, &req, sizeof(req)) || !send_all(fd, cmd, len) ||
        !recv_all(fd, &rep, sizeof(rep)))
        return 1;
    if (rep.type != HS_CTL_MSG_CLI_REPLY || rep.len > HS_CTL_MAX_REPLY) {
        fprintf(stderr, "hsctl: unexpected reply (type %u, %u bytes)\n", rep.type, rep.len);
        return -EPROTO;
    }
    char *text = malloc((size_t)rep.len + 1);
    if (!text || !recv_all(fd, text, rep.len)) {
        free(text);
        return 1;
    }
    FILE *f = rep.status == 0 ? stdout : stderr;
    fwrite(text, 1, rep.len, f);
    if (rep.len && text[rep.len - 1] != '\n')
        fputc('\n', f);
    fflush(f);
    free(text);
    return rep.status > 0 ? -EPROTO : rep.status;
}

/* Joins argv words into one command line, quoting words with blanks. */
static char *join(int argc, char **argv)
{
    size_t n = 1;
    for (int i = 0; i < argc; i++)
        n += strlen(argv[i]) + 3;
    char *s = malloc(n);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (int i = 0; i < argc; i++) {
        bool q = argv[i][strcspn(argv[i], " \t")] != '\0';
        strcat(s, i ? " " : "");
        strcat(s, q ? "\"" : "");
        strcat(s, argv[i]);
        strcat(s, q ? "\"" : "");
    }
    return s;
}

static int one_shot(const char *path, int argc, char **argv)
{
    int fd = ctl_connect(path);
    if (fd < 0)
        return EXIT_NO_HSD;
    char *cmd = join(argc, argv);
    int rv = cmd ? run(fd, cmd) : -ENOMEM;
    free(cmd);
    close(fd);
    if (rv == 1) {
        fprintf(stderr, "hsctl: hsd closed the connection before replying (see its log)\n");
        return EXIT_NO_HSD;
    }
    return rv == 0 ? 0 : EXIT_CMD_FAILED;
}

/* Runs a line on the session's connection, reconnecting once if hsd went away. */
static int session_run(const char *path, int *fd, const char *line)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (*fd < 0 && (*fd = ctl_connect(path)) < 0)
            return -ENOTCONN;
        int rv = run(*fd, line);
        if (rv != 1)
            return rv;
        close(*fd);
        *fd = -1;
    }
    fprintf(stderr, "hsctl: hsd closed the connection (see its log)\n");
    return -ENOTCONN;
}

static bool is_quit(const char *line)
{
    line += strspn(line, " \t");
    return strncmp(line, "quit", 4) == 0 || strncmp(line, "exit", 4) == 0;
}

static int interactive(const char *path)
{
    char hist[4096] = "";
    const char *home = getenv("HOME");
    if (home)
        snprintf(hist, sizeof(hist), "%s/%s", home, HISTORY_FILE);
    using_history();
    stifle_history(HISTORY_MAX);
    if (hist[0])
        read_history(hist);
    int fd = -1;
    char *line;
    printf("hsctl %s: commands go to %s ('help' lists them, 'quit' leaves)\n", HS_VERSION, path);
    while ((line = readline("hs# ")) != NULL) {
        if (line[strspn(line, " \t")] && !is_quit(line)) {
            add_history(line);
            session_run(path, &fd, line);
        }
        bool quit = is_quit(line);
        free(line);
        if (quit)
            break;
    }
    if (hist[0])
        write_history(hist);
    if (fd >= 0)
        close(fd);
    return 0;
}

/* Commands from a pipe, one a line; the exit status tells whether any failed. */
static int batch(const char *path)
{
    int fd = -1, status = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        line[strcspn(line, "\r\n")] = '\0';
        const char *p = line + strspn(line, " \t");
        if (!*p || *p == '#')
            continue;
        int rv = session_run(path, &fd, p);
        if (rv == -ENOTCONN) {
            status = EXIT_NO_HSD;
            break;
        }
        if (rv != 0)
            status = EXIT_CMD_FAILED;
    }
    free(line);
    if (fd >= 0)
        close(fd);
    return status;
}

int main(int argc, char **argv)
{
    const char *path = HS_CTL_DEFAULT_SOCKET;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--api-socket") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strncmp(argv[i], "--api-socket=", 13) == 0) {
            path = argv[i] + 13;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("hsctl %s\n", HS_VERSION);
            return 0;
        } else {
            fprintf(stderr, "hsctl: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    if (i < argc)
        return one_shot(path, argc - i, argv + i);
    return isatty(STDIN_FILENO) ? interactive(path) : batch(path);
}
