/* Passing file descriptors (segment memfds, eventfds) with a small message over a unix
 * socket, using SCM_RIGHTS. */
#ifndef HS_SVM_FD_PASS_H
#define HS_SVM_FD_PASS_H

#include "infra/common.h"

/* Most fds one message carries. */
#define HS_FD_PASS_MAX 16

/* Sends len bytes (len >= 1: a stream socket carries fds only alongside data) with n_fds
 * descriptors attached to the first byte. Retries on EINTR and finishes a partial send on a
 * stream socket. Returns len, or -EINVAL (bad arguments), or the -errno of sendmsg (e.g.
 * -EAGAIN on a non-blocking socket before anything was sent, -EPIPE). */
int hs_fd_send(int sock, const int *fds, int n_fds, const void *data, size_t len);

/* Receives up to len bytes and the descriptors sent with them into fds (at most max_fds),
 * storing their count in *n_fds. Received fds are close-on-exec. On a stream socket it
 * keeps reading until len bytes arrived or the peer closed; on a datagram or seqpacket
 * socket it returns one message. Returns the byte count (0: the peer closed), or:
 *   -EMSGSIZE  more fds than max_fds arrived, or a datagram was longer than len: every fd
 *              that did arrive is closed, *n_fds is 0
 *   -EINVAL    bad arguments
 *   -errno     of recvmsg (-EAGAIN on a non-blocking socket with nothing to read). */
int hs_fd_recv(int sock, int *fds, int max_fds, int *n_fds, void *data, size_t len);

#endif
