/* The IPv4 header (RFC 791) as on the wire, and its parse-at-the-door view: every check a
 * received header must pass, done once in ip4-input, giving a host-order struct. */
#ifndef HS_NET_IP4_PACKET_H
#define HS_NET_IP4_PACKET_H

#include "infra/common.h"

#include <arpa/inet.h>

#define HS_IP4_HDR_LEN     20
#define HS_IP4_HDR_MAX     60
#define HS_IP4_MAX_LEN     65535
#define HS_IP4_DEFAULT_TTL 64

#define HS_IP4_F_RESERVED 0x8000 /* in the host-order flags/offset word */
#define HS_IP4_F_DF       0x4000
#define HS_IP4_F_MF       0x2000
#define HS_IP4_OFF_MASK   0x1fff /* fragment offset in 8-byte units */

#define HS_IP_PROTO_ICMP 1
#define HS_IP_PROTO_TCP  6
#define HS_IP_PROTO_UDP  17

#define HS_IP4_BROADCAST 0xffffffffu

/* As on the wire: multi-byte fields in network byte order. */
typedef struct {
    uint8_t ver_ihl; /* version 4 in the high nibble, header length in 32-bit words */
    uint8_t tos;
    uint16_t total_len;
    uint16_t id;
    uint16_t frag; /* flags and offset */
    uint8_t ttl;
    uint8_t proto;
    uint16_t csum;
    uint32_t src;
    uint32_t dst;
} HS_PACKED hs_ip4_header_t;

_Static_assert(sizeof(hs_ip4_header_t) == HS_IP4_HDR_LEN, "IPv4 header is 20 bytes");

/* A validated header in host byte order. */
typedef struct {
    uint32_t src, dst;
    uint16_t total_len; /* the datagram's bytes (anything after it is link padding) */
    uint16_t hdr_len;   /* 20..60, options included */
    uint16_t id;
    uint16_t frag_off; /* in bytes */
    uint8_t tos, ttl, proto;
    bool df, mf;
} hs_ip4_parsed_t;

/* Why a header was refused. The strings (hs_ip4_error_str) are the first entries of
 * ip4-input's drop reasons. */
#define HS_IP4_PARSE_ERRORS(_)                                                                     \
    _(NONE, "valid")                                                                               \
    _(TOO_SHORT, "too short for an IPv4 header")                                                   \
    _(BAD_VERSION, "IP version not 4")                                                             \
    _(BAD_IHL, "bad header length (IHL)")                                                          \
    _(BAD_LENGTH, "bad total length")                                                              \
    _(BAD_CHECKSUM, "bad header checksum")                                                         \
    _(TTL_ZERO, "TTL 0")                                                                           \
    _(BAD_FRAGMENT, "bad fragment (empty, misaligned or beyond 64 KiB)")                           \
    _(BAD_OPTIONS, "malformed options")                                                            \
    _(MARTIAN_SRC, "martian source (multicast, broadcast or loopback)")

typedef enum {
#define _(sym, str) HS_IP4_E_##sym,
    HS_IP4_PARSE_ERRORS(_)
#undef _
        HS_IP4_N_PARSE_ERRORS
} hs_ip4_error_t;

extern const char *const hs_ip4_error_str[HS_IP4_N_PARSE_ERRORS];

/* Validates the header at data: contiguous bytes are readable there, present bytes belong
 * to the packet (contiguous <= present; the rest follows in the chain). The header itself
 * must be contiguous. Fills out and returns HS_IP4_E_NONE, or the first reason it fails. */
hs_ip4_error_t hs_ip4_parse(const uint8_t *data, uint32_t contiguous, uint32_t present,
                            hs_ip4_parsed_t *out);

/* Whether the options area (hdr_len - 20 bytes after the fixed header) is well formed:
 * every option fits, lengths are at least 2. Nothing is interpreted. */
bool hs_ip4_options_valid(const uint8_t *opt, uint32_t len);

/* Source addresses no host may send from (RFC 1122 3.2.1.3): multicast, class E and the
 * limited broadcast, loopback. */
static inline bool hs_ip4_is_martian_src(uint32_t a)
{
    return (a >> 28) >= 0xe || (a >> 24) == 127;
}

static inline bool hs_ip4_is_multicast(uint32_t a)
{
    return (a >> 28) == 0xe;
}

/* Netmask of a prefix length 0..32, host order. */
static inline uint32_t hs_ip4_mask(uint8_t len)
{
    return len ? ~0u << (32 - len) : 0;
}

static inline uint32_t hs_ip4_hdr_len(const hs_ip4_header_t *h)
{
    return (h->ver_ihl & 0xfu) * 4u;
}

static inline bool hs_ip4_is_fragment(const hs_ip4_header_t *h)
{
    return (ntohs(h->frag) & (HS_IP4_F_MF | HS_IP4_OFF_MASK)) != 0;
}

/* Writes the header checksum over the header's own length. */
void hs_ip4_header_set_csum(hs_ip4_header_t *h);

/* Decrements the TTL with an incremental checksum update (RFC 1624). */
void hs_ip4_ttl_decrement(hs_ip4_header_t *h);

/* Fills a 20-byte header (no options) with a fresh checksum: addresses in host order. */
void hs_ip4_header_build(hs_ip4_header_t *h, uint32_t src, uint32_t dst, uint8_t proto,
                         uint16_t total_len, uint16_t id, uint8_t tos, uint8_t ttl);

/* "10.0.0.1" into buf (at least 16 bytes); returns buf. */
char *hs_ip4_format_addr(char *buf, uint32_t addr);

#endif
