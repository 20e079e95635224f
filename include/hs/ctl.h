/* The control socket's wire format, shared by hsd, hsctl and (later) libhs: every
 * message starts with a u32 type so app-API messages can join the CLI ones on the same
 * unix stream socket. Integers are in host byte order (both ends are on one machine). */
#ifndef HS_CTL_H
#define HS_CTL_H

#include <stdint.h>

#define HS_VERSION "0.1.0"

#define HS_CTL_DEFAULT_SOCKET "/run/hs/api.sock"

/* A CLI request's text (one command line) is at most this long; longer ones close the
 * connection. Replies may be much larger (show trace). */
#define HS_CTL_MAX_REQUEST (64u * 1024)
#define HS_CTL_MAX_REPLY   (256u * 1024 * 1024)

enum {
    HS_CTL_MSG_CLI = 1,       /* hs_ctl_req_t + len bytes of command text (no NUL) */
    HS_CTL_MSG_CLI_REPLY = 2, /* hs_ctl_reply_t + len bytes of output text (no NUL) */
    /* 16 and up: reserved for the app API (attach, sessions, ...). */
};

typedef struct {
    uint32_t type; /* HS_CTL_MSG_CLI */
    uint32_t len;  /* bytes of text that follow */
} hs_ctl_req_t;

typedef struct {
    uint32_t type;  /* HS_CTL_MSG_CLI_REPLY */
    int32_t status; /* 0: the command succeeded; -errno: it failed and the text says why */
    uint32_t len;   /* bytes of text that follow */
} hs_ctl_reply_t;

_Static_assert(sizeof(hs_ctl_req_t) == 8, "wire format");
_Static_assert(sizeof(hs_ctl_reply_t) == 12, "wire format");

#endif
