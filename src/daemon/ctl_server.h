/* The control socket server: a non-blocking unix stream socket whose clients send CLI
 * requests (include/hs/ctl.h) and read replies of any size. Runs on hsd's main thread,
 * inside its epoll loop. */
#ifndef HS_DAEMON_CTL_SERVER_H
#define HS_DAEMON_CTL_SERVER_H

#include "infra/pool.h"
#include "infra/str.h"

/* What an epoll event of the main loop belongs to: data.u64 = kind << 32 | index. */
typedef enum {
    HS_EV_LISTEN = 1,
    HS_EV_CLIENT,
    HS_EV_SIGNAL,
    HS_EV_TIMER,
    HS_EV_RX,
} hs_ev_kind_t;

#define HS_EV_TAG(kind, index) (((uint64_t)(kind) << 32) | (uint32_t)(index))

#define HS_CTL_MAX_CLIENTS 64

/* Runs one command line; output goes to out. 0 or -errno. */
typedef int (*hs_ctl_exec_fn_t)(void *ctx, const char *line, hs_str_t *out);

typedef struct {
    int listen_fd;
    int epfd; /* the main loop's; not owned */
    char path[108];
    hs_pool_t clients; /* hs_ctl_client_t */
    hs_ctl_exec_fn_t exec;
    void *ctx;
} hs_ctl_server_t;

/* Binds path (creating its directory; replacing a stale socket file; refusing when a
 * live hsd answers on it), mode 0660, and registers it in epfd. 0 or -errno with a
 * sentence in err. */
int hs_ctl_server_open(hs_ctl_server_t *s, const char *path, int epfd, hs_ctl_exec_fn_t exec,
                       void *ctx, char *err, size_t err_len);
/* Closes every client and the socket, and removes the socket file. */
void hs_ctl_server_close(hs_ctl_server_t *s);
/* Handles an epoll event tagged HS_EV_LISTEN or HS_EV_CLIENT. */
void hs_ctl_server_event(hs_ctl_server_t *s, uint64_t tag, uint32_t events);

#endif
