/* Control socket server: binding (with the live/stale check), accepting, reading
 * requests in pieces, running them, and writing replies in pieces. */
#define _GNU_SOURCE /* accept4 */
#include "daemon/ctl_server.h"
#include "hs/ctl.h"
#include "infra/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

typedef struct {
    int fd;
    uint8_t *in; /* bytes of requests received and not yet run */
    uint32_t in_len, in_cap;
    hs_str_t out; /* reply bytes not yet written, from out_off */
    size_t out_off;
    bool eof; /* the client shut down its side: close once the replies are out */
} hs_ctl_client_t;

#define CTL_IN_MAX ((uint32_t)sizeof(hs_ctl_req_t) + HS_CTL_MAX_REQUEST)

static int make_dirs(const char *path)
{
    char dir[sizeof(((hs_ctl_server_t *)0)->path)];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    return mkdir(dir, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

static void fill_addr(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, strlen(path));
}

/* A socket file already at path: refuse when someone answers on it, else remove it. */
static int check_existing(const char *path, char *err, size_t err_len)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, err_len, "%s exists and is not a socket; remove it or use --api-socket",
                 path);
        return -EEXIST;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_un sa;
    fill_addr(&sa, path);
    int rv = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    int e = errno;
    close(fd);
    if (rv == 0) {
        snprintf(err, err_len, "another hsd is running on %s; stop it or use --api-socket", path);
        return -EADDRINUSE;
    }
    if (e != ECONNREFUSED) {
        snprintf(err, err_len, "%s: cannot check the existing socket: %s", path, strerror(e));
        return -e;
    }
    HS_LOG_NOTICE("ctl", "%s: removing a stale socket file (no hsd answers on it)", path);
    return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

static int bind_listen(hs_ctl_server_t *s, char *err, size_t err_len)
{
    struct sockaddr_un sa;
    fill_addr(&sa, s->path);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = HS_EV_TAG(HS_EV_LISTEN, 0)};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    bool bound = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (!bound || chmod(s->path, 0660) < 0 || listen(fd, 16) < 0 ||
        epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int e = errno;
        snprintf(err, err_len, "%s: cannot listen: %s%s", s->path, strerror(e),
                 e == EACCES ? " (run as root or use --api-socket)" : "");
        if (bound)
            unlink(s->path); /* ours: a socket that serves nobody must not stay behind */
        if (fd >= 0)
            close(fd);
        return -e;
    }
    s->listen_fd = fd;
    return 0;
}

int hs_ctl_server_open(hs_ctl_server_t *s, const char *path, int epfd, hs_ctl_exec_fn_t exec,
                       void *ctx, char *err, size_t err_len)
{
    memset(s, 0, sizeof(*s));
    s->listen_fd = -1;
    s->epfd = epfd;
    s->exec = exec;
    s->ctx = ctx;
    hs_pool_init(&s->clients, sizeof(hs_ctl_client_t), HS_CTL_MAX_CLIENTS);
    if (strlen(path) >= sizeof(s->path) || !path[0]) {
        snprintf(err, err_len, "'%s': a socket path must be 1..%zu characters", path,
                 sizeof(s->path) - 1);
        return -ENAMETOOLONG;
    }
    snprintf(s->path, sizeof(s->path), "%s", path);
    int rv = make_dirs(path);
    if (rv < 0) {
        snprintf(err, err_len, "%s: cannot create its directory: %s%s", path, strerror(-rv),
                 rv == -EACCES ? " (run as root or use --api-socket)" : "");
        return rv;
    }
    if ((rv = check_existing(path, err, err_len)) < 0)
        return rv;
    return bind_listen(s, err, err_len);
}

static void client_close(hs_ctl_server_t *s, uint32_t ci)
{
    hs_ctl_client_t *c = hs_pool_elt(&s->clients, ci);
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in);
    hs_str_free(&c->out);
    hs_pool_put(&s->clients, ci);
}

void hs_ctl_server_close(hs_ctl_server_t *s)
{
    hs_pool_foreach(&s->clients, i) client_close(s, i);
    hs_pool_destroy(&s->clients);
    if (s->listen_fd >= 0) {
        epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->listen_fd, NULL);
        close(s->listen_fd);
        unlink(s->path);
        s->listen_fd = -1;
    }
}

static void accept_clients(hs_ctl_server_t *s)
{
    for (;;) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR)
                HS_LOG_WARN("ctl", "%s: accept: %s", s->path, strerror(errno));
            return;
        }
        uint32_t ci;
        hs_ctl_client_t *c = hs_pool_get(&s->clients, &ci);
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = HS_EV_TAG(HS_EV_CLIENT, ci)};
        if (!c) {
            HS_LOG_WARN("ctl", "%s: %u clients already connected; refusing one more", s->path,
                        HS_CTL_MAX_CLIENTS);
            close(fd);
            continue;
        }
        c->fd = fd;
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            HS_LOG_WARN("ctl", "client %u: epoll: %s", ci, strerror(errno));
            client_close(s, ci);
        }
    }
}

/* Reads what is there. false when the client must be closed. */
static bool client_read(hs_ctl_client_t *c, uint32_t ci)
{
    while (!c->eof) {
        if (c->in_len == c->in_cap) {
            if (c->in_cap == CTL_IN_MAX)
                return true; /* full: the header check rejects what does not fit */
            uint32_t cap = HS_MIN(HS_MAX(c->in_cap * 2, 4096u), CTL_IN_MAX);
            uint8_t *in = realloc(c->in, cap);
            if (!in) {
                HS_LOG_WARN("ctl", "client %u: out of memory; closing", ci);
                return false;
            }
            c->in = in, c->in_cap = cap;
        }
        ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (n > 0)
            c->in_len += (uint32_t)n;
        else if (n == 0)
            c->eof = true;
        else if (errno != EINTR)
            return errno == EAGAIN;
    }
    return true;
}

static bool queue_reply(hs_ctl_client_t *c, int status, const hs_str_t *text)
{
    hs_ctl_reply_t h = {HS_CTL_MSG_CLI_REPLY, status, (uint32_t)text->len};
    return hs_str_append(&c->out, (const char *)&h, sizeof(h)) == 0 &&
           hs_str_append(&c->out, hs_str_cstr(text), text->len) == 0;
}

/* Runs the first complete request. 1: ran one, 0: needs more bytes, -1: bad message. */
static int run_one(hs_ctl_server_t *s, hs_ctl_client_t *c, uint32_t ci)
{
    hs_ctl_req_t h;
    if (c->in_len < sizeof(h))
        return 0;
    memcpy(&h, c->in, sizeof(h));
    if (h.type != HS_CTL_MSG_CLI || h.len > HS_CTL_MAX_REQUEST) {
        HS_LOG_WARN("ctl",
                    "client %u: bad message (type %u, %u bytes; CLI requests are type "
                    "%u, at most %u bytes); closing",
                    ci, h.type, h.len, HS_CTL_MSG_CLI, HS_CTL_MAX_REQUEST);
        return -1;
    }
    if (c->in_len < sizeof(h) + h.len)
        return 0;
    char *line = (char *)c->in + sizeof(h);
    if (memchr(line, '\0', h.len)) {
        HS_LOG_WARN("ctl", "client %u: command text contains a NUL byte; closing", ci);
        return -1;
    }
    char *cmd = strndup(line, h.len);
    hs_str_t text = {0};
    int status = cmd ? s->exec(s->ctx, cmd, &text) : -ENOMEM;
    bool ok = queue_reply(c, status, &text);
    free(cmd);
    hs_str_free(&text);
    c->in_len -= (uint32_t)sizeof(h) + h.len;
    memmove(c->in, c->in + sizeof(h) + h.len, c->in_len);
    if (!ok)
        HS_LOG_WARN("ctl", "client %u: out of memory for a reply; closing", ci);
    return ok ? 1 : -1;
}

/* Writes pending reply bytes. false when the client is gone. */
static bool client_flush(hs_ctl_client_t *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = send(c->fd, c->out.s + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR;
        c->out_off += (size_t)n;
    }
    hs_str_free(&c->out); /* a large reply (show trace) should not stay allocated */
    c->out_off = 0;
    return true;
}

static void client_event(hs_ctl_server_t *s, uint32_t ci, uint32_t events)
{
    hs_ctl_client_t *c = hs_pool_elt_checked(&s->clients, ci);
    if (!c)
        return;
    bool ok = true;
    if (events & EPOLLIN)
        ok = client_read(c, ci);
    /* One request at a time: the next runs once the previous reply is out, so a client
     * that does not read cannot make hsd buffer without bound. */
    while (ok && c->out.len == 0) {
        int r = run_one(s, c, ci);
        ok = r >= 0;
        if (ok)
            ok = client_flush(c);
        if (r <= 0)
            break;
    }
    if (ok && c->out.len)
        ok = client_flush(c);
    bool pending = c->out.len > c->out_off;
    if (!ok || (c->eof && !pending) || ((events & (EPOLLHUP | EPOLLERR)) && !pending)) {
        client_close(s, ci);
        return;
    }
    struct epoll_event ev = {.events = pending ? EPOLLOUT : EPOLLIN,
                             .data.u64 = HS_EV_TAG(HS_EV_CLIENT, ci)};
    epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

void hs_ctl_server_event(hs_ctl_server_t *s, uint64_t tag, uint32_t events)
{
    if ((tag >> 32) == HS_EV_LISTEN)
        accept_clients(s);
    else
        client_event(s, (uint32_t)tag, events);
}
