/* The TCP header on the wire (RFC 9293 3.1) and its parse-at-the-door view with options
 * (MSS, window scale and timestamps from RFC 7323, SACK from RFC 2018), the writer that
 * mirrors the parser, sequence-space comparisons, and the checksum over the pseudo-header. */
#ifndef HS_TCP_TCP_PACKET_H
#define HS_TCP_TCP_PACKET_H

#include "infra/common.h"
#include "net/buffer.h"

#define HS_TCP_HDR_LEN     20
#define HS_TCP_HDR_MAX     60
#define HS_TCP_MAX_SACK    4   /* blocks an option can carry (40 option bytes) */
#define HS_TCP_MAX_SPANS   32  /* payload pieces of one segment: a 64 KiB one in 2 KiB buffers */
#define HS_TCP_MAX_WSCALE  14  /* RFC 7323 2.3 */
#define HS_TCP_DEFAULT_MSS 536 /* RFC 9293 3.7.1: assumed when a SYN carries no MSS option */

enum {
    HS_TCP_FIN = 0x01,
    HS_TCP_SYN = 0x02,
    HS_TCP_RST = 0x04,
    HS_TCP_PSH = 0x08,
    HS_TCP_ACK = 0x10,
    HS_TCP_URG = 0x20,
    HS_TCP_ECE = 0x40,
    HS_TCP_CWR = 0x80,
};

enum {
    HS_TCP_OPT_EOL = 0,
    HS_TCP_OPT_NOP = 1,
    HS_TCP_OPT_MSS = 2,
    HS_TCP_OPT_WSCALE = 3,
    HS_TCP_OPT_SACK_PERM = 4,
    HS_TCP_OPT_SACK = 5,
    HS_TCP_OPT_TS = 8,
};

/* Which options a segment carries (parsed) or should carry (written). */
enum {
    HS_TCP_OPTF_MSS = 1u << 0,
    HS_TCP_OPTF_WSCALE = 1u << 1,
    HS_TCP_OPTF_SACK_PERM = 1u << 2,
    HS_TCP_OPTF_TS = 1u << 3,
    HS_TCP_OPTF_SACK = 1u << 4,
};

/* As on the wire: multi-byte fields in network byte order. */
typedef struct {
    uint16_t src_port;
    uint16_t dst_port;
    uint32_t seq;
    uint32_t ack;
    uint8_t data_off; /* header length in 32-bit words in the high nibble */
    uint8_t flags;
    uint16_t wnd;
    uint16_t csum;
    uint16_t urp;
} HS_PACKED hs_tcp_header_t;

_Static_assert(sizeof(hs_tcp_header_t) == HS_TCP_HDR_LEN, "TCP header is 20 bytes");

typedef struct {
    uint32_t start, end; /* [start, end) in sequence space */
} hs_tcp_sack_block_t;

typedef struct {
    const uint8_t *data;
    uint32_t len;
} hs_tcp_span_t;

/* A segment in host byte order. hs_tcp_parse fills the TCP part; the receiver (tcp4-input)
 * fills the addressing. hs_tcp_write reads the TCP part (payload excluded). */
typedef struct {
    /* addressing, from the IP header: src is the peer */
    uint32_t fib_index;
    uint32_t src_ip, dst_ip;
    uint32_t sw_if_index;
    /* header */
    uint16_t src_port, dst_port;
    uint32_t seq, ack;
    uint16_t wnd; /* as on the wire: not yet scaled */
    uint16_t urp;
    uint8_t flags;   /* HS_TCP_FIN... */
    uint8_t hdr_len; /* 20..60 */
    /* options */
    uint8_t opts;   /* HS_TCP_OPTF_* present */
    uint8_t wscale; /* clamped to 14 */
    uint16_t mss;
    uint8_t n_sack;
    bool opt_malformed; /* the walk stopped at a bad length (what came before is kept) */
    uint32_t tsval, tsecr;
    hs_tcp_sack_block_t sack[HS_TCP_MAX_SACK];
    /* payload: payload_len bytes in n_spans pieces */
    uint32_t payload_len;
    uint32_t n_spans;
    hs_tcp_span_t spans[HS_TCP_MAX_SPANS];
} hs_tcp_seg_t;

/* Why tcp4-input dropped a segment: the node's error strings (show errors) and the worker's
 * drop counters (show tcp stats). */
#define HS_TCP_ERRORS(_)                                                                           \
    _(NONE, "accepted")                                                                            \
    _(TOO_SHORT, "shorter than a TCP header")                                                      \
    _(BAD_HDR_LEN, "bad data offset")                                                              \
    _(BAD_CHECKSUM, "bad checksum")                                                                \
    _(BAD_ADDRESS, "broadcast or multicast address")                                               \
    _(TOO_FRAGMENTED, "payload in too many buffers, no memory to copy it")                         \
    _(NO_LISTENER, "no connection or listener (RST sent)")                                         \
    _(RST_NO_CONN, "RST for no connection")                                                        \
    _(LISTEN_ACK, "ACK to a listener (RST sent)")                                                  \
    _(LISTEN_BAD, "not a SYN (to a listener)")                                                     \
    _(SYN_BACKLOG, "SYN backlog full")                                                             \
    _(NO_CONN, "connection table full")                                                            \
    _(NO_ROUTE, "no route back to the peer")                                                       \
    _(SYN_SENT_BAD_ACK, "SYN-SENT: unacceptable ACK (RST sent)")                                   \
    _(SYN_SENT_BAD, "SYN-SENT: neither SYN nor RST")                                               \
    _(SYN_RCVD_BAD_ACK, "SYN-RECEIVED: unacceptable ACK (RST sent)")                               \
    _(SYN_DUP, "retransmitted SYN (SYN-ACK resent)")                                               \
    _(NOT_IN_WINDOW, "sequence number outside the window (ACK sent)")                              \
    _(PAWS, "PAWS: old timestamp (ACK sent)")                                                      \
    _(NO_TIMESTAMP, "no timestamp on a timestamp connection")                                      \
    _(RST_OUT_OF_WINDOW, "RST outside the window")                                                 \
    _(RST_IN_WINDOW, "RST in window, not at RCV.NXT (challenge ACK)")                              \
    _(SYN_IN_WINDOW, "SYN on a synchronized connection (challenge ACK)")                           \
    _(NO_ACK, "no ACK bit")                                                                        \
    _(ACK_TOO_NEW, "ACK for data not yet sent (ACK sent)")                                         \
    _(ACK_TOO_OLD, "ACK older than the send window (RFC 5961)")                                    \
    _(ACCEPT_FAILED, "session layer refused the connection (RST sent)")                            \
    _(FIFO_FULL, "payload beyond the rx FIFO's space")                                             \
    _(OOO_FULL, "out-of-order segment not kept (FIFO list full)")                                  \
    _(DATA_AFTER_FIN, "data after the peer's FIN")                                                 \
    _(TIME_WAIT, "segment in TIME-WAIT")                                                           \
    _(HANDOFF, "handed to the worker owning the flow")                                             \
    _(HANDOFF_FULL, "hand-off ring to the owning worker full")

typedef enum {
#define _(sym, str) HS_TCP_E_##sym,
    HS_TCP_ERRORS(_)
#undef _
        HS_TCP_N_ERRORS
} hs_tcp_error_t;

extern const char *const hs_tcp_error_str[HS_TCP_N_ERRORS];

/* ---- sequence space (RFC 9293 3.4): comparisons modulo 2^32 ---- */

static inline bool hs_seq_lt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}
static inline bool hs_seq_leq(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) <= 0;
}
static inline bool hs_seq_gt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) > 0;
}
static inline bool hs_seq_geq(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) >= 0;
}
static inline uint32_t hs_seq_max(uint32_t a, uint32_t b)
{
    return hs_seq_gt(a, b) ? a : b;
}
static inline uint32_t hs_seq_min(uint32_t a, uint32_t b)
{
    return hs_seq_lt(a, b) ? a : b;
}

/* SEG.LEN: payload plus one for each of SYN and FIN. */
static inline uint32_t hs_tcp_seg_len(const hs_tcp_seg_t *s)
{
    return s->payload_len + !!(s->flags & HS_TCP_SYN) + !!(s->flags & HS_TCP_FIN);
}

/* ---- parse and write ---- */

/* Parses the TCP header and options at hdr, len bytes of header and payload being
 * contiguous there (the payload becomes spans[0]; a caller with a buffer chain appends the
 * rest). Fills the TCP part of seg and returns HS_TCP_E_NONE, or HS_TCP_E_TOO_SHORT /
 * HS_TCP_E_BAD_HDR_LEN. Options are walked within the header only; a malformed one (length
 * below 2 or past the header) stops the walk, keeping what came before, and sets
 * opt_malformed, as Linux's tcp_parse_options does; known options of the wrong length and
 * SYN-only options on other segments are ignored, unknown ones skipped. */
int hs_tcp_parse(const uint8_t *hdr, uint32_t len, hs_tcp_seg_t *seg);

/* Bytes of options hs_tcp_write would write for seg (a multiple of 4, at most 40). */
uint32_t hs_tcp_opts_len(const hs_tcp_seg_t *seg);

/* Writes the header of seg with the options flagged in seg->opts (at most 3 SACK blocks
 * with timestamps, 4 without) at out, which has room for 60 bytes. The checksum field is
 * left 0. Returns the header length. */
uint32_t hs_tcp_write(uint8_t *out, const hs_tcp_seg_t *seg);

/* ---- checksum ---- */

/* Whether the TCP checksum of a received segment is right: l4_len bytes from l4_off
 * (relative to the current position of b, following the chain) under the pseudo-header of
 * src and dst (host order). A buffer the driver marked HS_BUF_F_L4_CSUM_OK is trusted. */
bool hs_tcp_csum_ok(const hs_buf_pool_t *p, const hs_buf_t *b, uint32_t l4_off, uint32_t l4_len,
                    uint32_t src, uint32_t dst);

/* The checksum field value for a segment built in one contiguous piece (header then
 * payload). */
uint16_t hs_tcp_csum(uint32_t src, uint32_t dst, const void *seg, uint32_t len);

/* Formats the flags as "SYN,ACK" into buf (at least 32 bytes); returns buf. */
char *hs_tcp_format_flags(char *buf, uint8_t flags);

#endif
