/* Tap devices through /dev/net/tun: creation with a virtio-net header and checksum
 * offload, and frame reads/writes with readv/writev. */
#include "drivers/tap.h"

#include <ctype.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define TUN_PATH    "/dev/net/tun"
#define TAP_IOV_MAX (HS_TAP_IOV_MAX + 1) /* the pieces and the header */

#ifndef TUNSETCARRIER
#define TUNSETCARRIER _IOW('T', 226, int)
#endif

/* The sentence for a failed step, with the fix a user needs. */
static int tap_fail(const char *name, const char *what, int err_no, char *err, size_t err_len)
{
    const char *fix = "";
    switch (err_no) {
    case EACCES:
    case EPERM:
        fix = " (run as root or grant CAP_NET_ADMIN)";
        break;
    case ENOENT:
    case ENODEV:
        fix = " (load the tun module: modprobe tun)";
        break;
    case EBUSY:
        fix = " (the name is in use by another device or program; pick another name)";
        break;
    case EINVAL:
        fix = " (an interface of that name exists and is not a tap with these settings)";
        break;
    }
    if (err && err_len) {
        /* "permission denied", not "Permission denied": it continues a sentence. */
        char reason[128];
        snprintf(reason, sizeof(reason), "%s", strerror(err_no));
        reason[0] = (char)tolower((unsigned char)reason[0]);
        snprintf(err, err_len, "tap %s: %s: %s%s", name, what, reason, fix);
    }
    return -err_no;
}

static bool set_offloads(int fd, unsigned long flags)
{
    return ioctl(fd, TUNSETOFFLOAD, flags) == 0;
}

/* Opens one queue: a tun fd attached to the tap with the header size and offloads set;
 * *tso tells whether the kernel took TSO4 as well as checksum offload. */
static int tap_open_queue(const char *name, bool multi, int *fd_out, bool *tso, char *err,
                          size_t err_len)
{
    int fd = open(TUN_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return tap_fail(name, TUN_PATH, errno, err, err_len);
    struct ifreq ifr = {0};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (multi ? IFF_MULTI_QUEUE : 0);
    memcpy(ifr.ifr_name, name, strlen(name) + 1);
    int hdr_sz = (int)sizeof(hs_vnet_hdr_t);
    const char *step = NULL;
    if (ioctl(fd, TUNSETIFF, &ifr) < 0)
        step = TUN_PATH; /* attaching is where permissions are checked */
    else if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_sz) < 0)
        step = "virtio-net header size";
    else if (!(*tso = set_offloads(fd, TUN_F_CSUM | TUN_F_TSO4)) && !set_offloads(fd, TUN_F_CSUM))
        step = "checksum offload";
    if (step) {
        int e = errno;
        close(fd);
        return tap_fail(name, step, e, err, err_len);
    }
    *fd_out = fd;
    return 0;
}

int hs_tap_open(hs_tap_t *t, const char *name, uint32_t n_queues, char *err, size_t err_len)
{
    memset(t, 0, sizeof(*t));
    for (uint32_t q = 0; q < HS_TAP_MAX_QUEUES; q++)
        t->fd[q] = -1;
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n >= HS_TAP_NAME_MAX || strchr(name, '/') || strchr(name, ' ')) {
        if (err && err_len)
            snprintf(err, err_len, "tap %s: invalid name (1 to %d characters, no '/' or spaces)",
                     name ? name : "(null)", HS_TAP_NAME_MAX - 1);
        return -EINVAL;
    }
    if (n_queues == 0 || n_queues > HS_TAP_MAX_QUEUES) {
        if (err && err_len)
            snprintf(err, err_len, "tap %s: %u queues requested (1 to %d)", name, n_queues,
                     HS_TAP_MAX_QUEUES);
        return -EINVAL;
    }
    memcpy(t->name, name, n + 1);
    for (uint32_t q = 0; q < n_queues; q++) {
        int rv = tap_open_queue(name, n_queues > 1, &t->fd[q], &t->tso_rx, err, err_len);
        if (rv < 0) {
            hs_tap_close(t);
            return rv;
        }
        t->n_queues = q + 1;
    }
    return 0;
}

void hs_tap_close(hs_tap_t *t)
{
    for (uint32_t q = 0; q < HS_TAP_MAX_QUEUES; q++) {
        if (t->fd[q] >= 0)
            close(t->fd[q]);
        t->fd[q] = -1;
    }
    t->n_queues = 0;
}

/* The iov with the header in front; -EINVAL when there are too many pieces. */
static int with_header(struct iovec *out, const hs_vnet_hdr_t *hdr, const struct iovec *iov,
                       int iovcnt)
{
    if (iovcnt < 0 || iovcnt > HS_TAP_IOV_MAX)
        return -EINVAL;
    out[0] = (struct iovec){.iov_base = (void *)hdr, .iov_len = sizeof(*hdr)};
    memcpy(out + 1, iov, (size_t)iovcnt * sizeof(*iov));
    return iovcnt + 1;
}

ssize_t hs_tap_read(const hs_tap_t *t, uint32_t q, hs_vnet_hdr_t *hdr, const struct iovec *iov,
                    int iovcnt)
{
    struct iovec v[TAP_IOV_MAX];
    int n = with_header(v, hdr, iov, iovcnt);
    if (n < 0 || q >= t->n_queues)
        return -EINVAL;
    ssize_t r = readv(t->fd[q], v, n);
    if (r < 0)
        return -errno;
    if ((size_t)r < sizeof(*hdr))
        return -EPROTO; /* a tap with IFF_VNET_HDR always sends the header */
    return r - (ssize_t)sizeof(*hdr);
}

ssize_t hs_tap_write(const hs_tap_t *t, uint32_t q, const hs_vnet_hdr_t *hdr,
                     const struct iovec *iov, int iovcnt)
{
    struct iovec v[TAP_IOV_MAX];
    int n = with_header(v, hdr, iov, iovcnt);
    if (n < 0 || q >= t->n_queues)
        return -EINVAL;
    ssize_t r = writev(t->fd[q], v, n);
    if (r < 0)
        return -errno;
    return r - (ssize_t)sizeof(*hdr);
}

int hs_tap_set_carrier(const hs_tap_t *t, bool on)
{
    int v = on ? 1 : 0;
    if (t->n_queues == 0)
        return -EBADF;
    return ioctl(t->fd[0], TUNSETCARRIER, &v) < 0 ? -errno : 0;
}
