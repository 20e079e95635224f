/* SCM_RIGHTS send and receive over unix sockets, with truncation treated as an error so a
 * receiver never leaks or half-uses descriptors. */
#define _GNU_SOURCE
#include "svm/fd_pass.h"

#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Room for a few more fds than a message may carry, so an over-full message is seen as
 * such (and its fds closed) instead of being truncated silently by the kernel. */
#define CTL_FDS (HS_FD_PASS_MAX + 4)

typedef union {
    char buf[CMSG_SPACE(sizeof(int) * CTL_FDS)];
    struct cmsghdr align;
} ctl_buf_t;

/* Fds gathered over one hs_fd_recv call. */
typedef struct {
    int fds[HS_FD_PASS_MAX];
    int n;
    bool overflow;
} fd_set_t;

static void wait_ready(int sock, short events)
{
    struct pollfd p = {.fd = sock, .events = events};
    (void)poll(&p, 1, -1);
}

int hs_fd_send(int sock, const int *fds, int n_fds, const void *data, size_t len)
{
    if (n_fds < 0 || n_fds > HS_FD_PASS_MAX || (n_fds && !fds) || !data || len == 0 ||
        len > INT_MAX)
        return -EINVAL;
    ctl_buf_t ctl;
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    if (n_fds) {
        memset(&ctl, 0, sizeof(ctl));
        m.msg_control = ctl.buf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
    }
    size_t done = 0;
    while (done < len) {
        ssize_t r = sendmsg(sock, &m, MSG_NOSIGNAL);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            /* The fds went with the first part; the rest of the message must follow. */
            if (errno == EAGAIN && done > 0) {
                wait_ready(sock, POLLOUT);
                continue;
            }
            return -errno;
        }
        done += (size_t)r;
        iov.iov_base = (char *)data + done;
        iov.iov_len = len - done;
        m.msg_control = NULL;
        m.msg_controllen = 0;
    }
    return (int)len;
}

static void fd_set_close(fd_set_t *set)
{
    for (int i = 0; i < set->n; i++)
        close(set->fds[i]);
    set->n = 0;
}

/* Takes every SCM_RIGHTS fd out of a received control buffer; beyond max the fds are
 * closed at once and the set is marked as overflowed. */
static void fd_set_collect(fd_set_t *set, struct msghdr *m, int max)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
            if (set->n < max) {
                set->fds[set->n++] = fd;
            } else {
                close(fd);
                set->overflow = true;
            }
        }
    }
}

/* One recvmsg. Returns bytes, 0 at end of stream, or -errno; truncation marks overflow. */
static ssize_t recv_once(int sock, char *buf, size_t len, fd_set_t *set, int max)
{
    ctl_buf_t ctl;
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    struct msghdr m = {.msg_iov = &iov,
                       .msg_iovlen = 1,
                       .msg_control = ctl.buf,
                       .msg_controllen = sizeof(ctl.buf)};
    ssize_t r;
    do {
        r = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        return -errno;
    fd_set_collect(set, &m, max);
    if (m.msg_flags & (MSG_CTRUNC | MSG_TRUNC))
        set->overflow = true;
    return r;
}

static bool is_stream(int sock)
{
    int type = 0;
    socklen_t l = sizeof(type);
    return getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &l) == 0 && type == SOCK_STREAM;
}

int hs_fd_recv(int sock, int *fds, int max_fds, int *n_fds, void *data, size_t len)
{
    if (!n_fds || max_fds < 0 || (max_fds && !fds) || !data || len == 0 || len > INT_MAX)
        return -EINVAL;
    *n_fds = 0;
    fd_set_t set = {.n = 0, .overflow = false};
    int max = HS_MIN(max_fds, HS_FD_PASS_MAX);
    size_t done = 0;
    while (done < len) {
        ssize_t r = recv_once(sock, (char *)data + done, len - done, &set, max);
        if (r == -EAGAIN && done > 0) {
            wait_ready(sock, POLLIN); /* the rest of a started message is on its way */
            continue;
        }
        if (r < 0) {
            fd_set_close(&set);
            return (int)r;
        }
        done += (size_t)r;
        if (r == 0 || set.overflow || (done < len && !is_stream(sock)))
            break;
    }
    if (set.overflow) {
        fd_set_close(&set);
        return -EMSGSIZE;
    }
    if (set.n)
        memcpy(fds, set.fds, sizeof(int) * set.n);
    *n_fds = set.n;
    return (int)done;
}
