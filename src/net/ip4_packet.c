/* IPv4 header validation (RFC 791, RFC 1122 3.2.1) and small header writers. */
#include "net/ip4_packet.h"
#include "net/checksum.h"

#include <stdio.h>
#include <string.h>

const char *const hs_ip4_error_str[HS_IP4_N_PARSE_ERRORS] = {
#define _(sym, str) [HS_IP4_E_##sym] = str,
    HS_IP4_PARSE_ERRORS(_)
#undef _
};

bool hs_ip4_options_valid(const uint8_t *opt, uint32_t len)
{
    uint32_t i = 0;
    while (i < len) {
        uint8_t type = opt[i];
        if (type == 0) /* end of option list: the rest is padding */
            return true;
        if (type == 1) { /* no-operation */
            i++;
            continue;
        }
        if (len - i < 2 || opt[i + 1] < 2 || opt[i + 1] > len - i)
            return false;
        i += opt[i + 1];
    }
    return true;
}

/* RFC 791: only the last fragment may carry a length that is not a multiple of 8, and the
 * reassembled datagram must fit 65535 bytes (the "ping of death" check). */
static bool fragment_valid(const hs_ip4_parsed_t *p)
{
    uint32_t payload = (uint32_t)p->total_len - p->hdr_len;
    if (!p->mf && p->frag_off == 0)
        return true;
    if (payload == 0 || (p->mf && (payload & 7)))
        return false;
    return (uint32_t)p->frag_off + payload + p->hdr_len <= HS_IP4_MAX_LEN;
}

hs_ip4_error_t hs_ip4_parse(const uint8_t *data, uint32_t contiguous, uint32_t present,
                            hs_ip4_parsed_t *out)
{
    if (contiguous < HS_IP4_HDR_LEN || present < HS_IP4_HDR_LEN)
        return HS_IP4_E_TOO_SHORT;
    const hs_ip4_header_t *h = (const hs_ip4_header_t *)data;
    if ((h->ver_ihl >> 4) != 4)
        return HS_IP4_E_BAD_VERSION;
    uint32_t hlen = hs_ip4_hdr_len(h);
    if (hlen < HS_IP4_HDR_LEN || hlen > contiguous)
        return HS_IP4_E_BAD_IHL;
    uint32_t total = ntohs(h->total_len);
    if (total < hlen || total > present)
        return HS_IP4_E_BAD_LENGTH;
    if (hs_csum(data, hlen) != 0)
        return HS_IP4_E_BAD_CHECKSUM;
    if (h->ttl == 0)
        return HS_IP4_E_TTL_ZERO;
    uint16_t frag = ntohs(h->frag);
    *out = (hs_ip4_parsed_t){
        .src = ntohl(h->src),
        .dst = ntohl(h->dst),
        .total_len = (uint16_t)total,
        .hdr_len = (uint16_t)hlen,
        .id = ntohs(h->id),
        .frag_off = (uint16_t)((frag & HS_IP4_OFF_MASK) * 8u),
        .tos = h->tos,
        .ttl = h->ttl,
        .proto = h->proto,
        .df = (frag & HS_IP4_F_DF) != 0,
        .mf = (frag & HS_IP4_F_MF) != 0,
    };
    if (!fragment_valid(out))
        return HS_IP4_E_BAD_FRAGMENT;
    if (hlen > HS_IP4_HDR_LEN &&
        !hs_ip4_options_valid(data + HS_IP4_HDR_LEN, hlen - HS_IP4_HDR_LEN))
        return HS_IP4_E_BAD_OPTIONS;
    if (hs_ip4_is_martian_src(out->src))
        return HS_IP4_E_MARTIAN_SRC;
    return HS_IP4_E_NONE;
}

void hs_ip4_header_set_csum(hs_ip4_header_t *h)
{
    h->csum = 0;
    h->csum = hs_csum(h, hs_ip4_hdr_len(h));
}

void hs_ip4_ttl_decrement(hs_ip4_header_t *h)
{
    uint16_t old_w, new_w;
    memcpy(&old_w, &h->ttl, 2); /* TTL and protocol share one 16-bit word */
    h->ttl--;
    memcpy(&new_w, &h->ttl, 2);
    h->csum = hs_csum_update16(h->csum, old_w, new_w);
}

void hs_ip4_header_build(hs_ip4_header_t *h, uint32_t src, uint32_t dst, uint8_t proto,
                         uint16_t total_len, uint16_t id, uint8_t tos, uint8_t ttl)
{
    *h = (hs_ip4_header_t){
        .ver_ihl = 0x45,
        .tos = tos,
        .total_len = htons(total_len),
        .id = htons(id),
        .frag = 0,
        .ttl = ttl,
        .proto = proto,
        .src = htonl(src),
        .dst = htonl(dst),
    };
    h->csum = hs_csum(h, HS_IP4_HDR_LEN);
}

char *hs_ip4_format_addr(char *buf, uint32_t a)
{
    snprintf(buf, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
    return buf;
}
