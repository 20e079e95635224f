/* TCP header parsing (options included) at the door, its mirror writer, and checksums.
 * Nothing here keeps state: bytes in, a plain struct out, and back. */
#include "tcp/tcp_packet.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "net/checksum.h"

const char *const hs_tcp_error_str[HS_TCP_N_ERRORS] = {
#define _(sym, str) [HS_TCP_E_##sym] = str,
    HS_TCP_ERRORS(_)
#undef _
};

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint8_t *wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static uint8_t *wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

/* One option of known kind and size (size includes kind and length bytes). As in Linux's
 * tcp_parse_options: MSS, window scale and SACK-permitted count only on a SYN and only with
 * their exact length; an MSS of 0 is ignored. */
static void parse_one(hs_tcp_seg_t *s, uint8_t kind, const uint8_t *v, uint32_t size)
{
    bool syn = s->flags & HS_TCP_SYN;
    switch (kind) {
    case HS_TCP_OPT_MSS:
        if (size == 4 && syn && rd16(v) != 0) {
            s->mss = rd16(v);
            s->opts |= HS_TCP_OPTF_MSS;
        }
        break;
    case HS_TCP_OPT_WSCALE:
        if (size == 3 && syn) {
            /* RFC 7323 2.3: a shift above 14 is used as 14. */
            s->wscale = HS_MIN(v[0], HS_TCP_MAX_WSCALE);
            s->opts |= HS_TCP_OPTF_WSCALE;
        }
        break;
    case HS_TCP_OPT_SACK_PERM:
        if (size == 2 && syn)
            s->opts |= HS_TCP_OPTF_SACK_PERM;
        break;
    case HS_TCP_OPT_TS:
        if (size == 10) {
            s->tsval = rd32(v);
            s->tsecr = rd32(v + 4);
            s->opts |= HS_TCP_OPTF_TS;
        }
        break;
    case HS_TCP_OPT_SACK:
        if (size >= 10 && (size - 2) % 8 == 0) {
            uint32_t n = HS_MIN((size - 2) / 8, (uint32_t)HS_TCP_MAX_SACK);
            for (uint32_t i = 0; i < n; i++)
                s->sack[i] = (hs_tcp_sack_block_t){rd32(v + 8 * i), rd32(v + 8 * i + 4)};
            s->n_sack = (uint8_t)n;
            s->opts |= HS_TCP_OPTF_SACK;
        }
        break;
    default:
        break; /* unknown: skipped */
    }
}

/* A bounded walk over len option bytes: every step consumes at least one byte and reads
 * only inside [p, p + len). */
static void parse_options(hs_tcp_seg_t *s, const uint8_t *p, uint32_t len)
{
    while (len > 0) {
        uint8_t kind = p[0];
        if (kind == HS_TCP_OPT_EOL)
            return;
        if (kind == HS_TCP_OPT_NOP) {
            p++, len--;
            continue;
        }
        if (len < 2 || p[1] < 2 || p[1] > len) {
            s->opt_malformed = true;
            return;
        }
        uint32_t size = p[1];
        parse_one(s, kind, p + 2, size);
        p += size, len -= size;
    }
}

int hs_tcp_parse(const uint8_t *hdr, uint32_t len, hs_tcp_seg_t *seg)
{
    if (len < HS_TCP_HDR_LEN)
        return HS_TCP_E_TOO_SHORT;
    uint32_t hlen = (uint32_t)(hdr[12] >> 4) * 4;
    if (hlen < HS_TCP_HDR_LEN || hlen > len)
        return HS_TCP_E_BAD_HDR_LEN;
    seg->src_port = rd16(hdr);
    seg->dst_port = rd16(hdr + 2);
    seg->seq = rd32(hdr + 4);
    seg->ack = rd32(hdr + 8);
    seg->hdr_len = (uint8_t)hlen;
    seg->flags = hdr[13];
    seg->wnd = rd16(hdr + 14);
    seg->urp = rd16(hdr + 18);
    seg->opts = 0;
    seg->wscale = 0;
    seg->mss = 0;
    seg->n_sack = 0;
    seg->opt_malformed = false;
    seg->tsval = seg->tsecr = 0;
    parse_options(seg, hdr + HS_TCP_HDR_LEN, hlen - HS_TCP_HDR_LEN);
    seg->payload_len = len - hlen;
    seg->n_spans = seg->payload_len ? 1 : 0;
    seg->spans[0] = (hs_tcp_span_t){hdr + hlen, len - hlen};
    return HS_TCP_E_NONE;
}

/* Option bytes other than SACK. */
static uint32_t base_opts_len(const hs_tcp_seg_t *s)
{
    uint32_t n = 0;
    if (s->opts & HS_TCP_OPTF_MSS)
        n += 4;
    if (s->opts & HS_TCP_OPTF_TS)
        n += 12; /* NOP NOP TS, or SACK-permitted TS */
    else if (s->opts & HS_TCP_OPTF_SACK_PERM)
        n += 4; /* NOP NOP SACK-permitted */
    if (s->opts & HS_TCP_OPTF_WSCALE)
        n += 4; /* NOP WS */
    return n;
}

/* SACK blocks that fit the 40 option bytes beside the others (3 with timestamps). */
static uint32_t max_sack(const hs_tcp_seg_t *s)
{
    if (!(s->opts & HS_TCP_OPTF_SACK))
        return 0;
    uint32_t room = 40 - base_opts_len(s);
    return room < 12 ? 0 : HS_MIN((uint32_t)s->n_sack, (room - 4) / 8);
}

uint32_t hs_tcp_opts_len(const hs_tcp_seg_t *s)
{
    uint32_t n = max_sack(s);
    return base_opts_len(s) + (n ? 4 + 8 * n : 0); /* NOP NOP SACK */
}

/* The layout Linux uses, so captures look familiar: MSS, SACK-permitted folded into the
 * timestamp's padding, NOP + window scale, then SACK blocks. */
static uint8_t *write_options(uint8_t *p, const hs_tcp_seg_t *s)
{
    if (s->opts & HS_TCP_OPTF_MSS) {
        *p++ = HS_TCP_OPT_MSS, *p++ = 4;
        p = wr16(p, s->mss);
    }
    if (s->opts & HS_TCP_OPTF_TS) {
        if (s->opts & HS_TCP_OPTF_SACK_PERM)
            *p++ = HS_TCP_OPT_SACK_PERM, *p++ = 2;
        else
            *p++ = HS_TCP_OPT_NOP, *p++ = HS_TCP_OPT_NOP;
        *p++ = HS_TCP_OPT_TS, *p++ = 10;
        p = wr32(p, s->tsval);
        p = wr32(p, s->tsecr);
    } else if (s->opts & HS_TCP_OPTF_SACK_PERM) {
        *p++ = HS_TCP_OPT_NOP, *p++ = HS_TCP_OPT_NOP;
        *p++ = HS_TCP_OPT_SACK_PERM, *p++ = 2;
    }
    if (s->opts & HS_TCP_OPTF_WSCALE) {
        *p++ = HS_TCP_OPT_NOP, *p++ = HS_TCP_OPT_WSCALE, *p++ = 3;
        *p++ = s->wscale;
    }
    uint32_t n = max_sack(s);
    if (n) {
        *p++ = HS_TCP_OPT_NOP, *p++ = HS_TCP_OPT_NOP;
        *p++ = HS_TCP_OPT_SACK, *p++ = (uint8_t)(2 + 8 * n);
        for (uint32_t i = 0; i < n; i++) {
            p = wr32(p, s->sack[i].start);
            p = wr32(p, s->sack[i].end);
        }
    }
    return p;
}

uint32_t hs_tcp_write(uint8_t *out, const hs_tcp_seg_t *s)
{
    uint32_t hlen = HS_TCP_HDR_LEN + hs_tcp_opts_len(s);
    uint8_t *p = out;
    p = wr16(p, s->src_port);
    p = wr16(p, s->dst_port);
    p = wr32(p, s->seq);
    p = wr32(p, s->ack);
    *p++ = (uint8_t)((hlen / 4) << 4);
    *p++ = s->flags;
    p = wr16(p, s->wnd);
    p = wr16(p, 0); /* checksum: filled by the caller */
    p = wr16(p, s->urp);
    write_options(p, s);
    return hlen;
}

bool hs_tcp_csum_ok(const hs_buf_pool_t *p, const hs_buf_t *b, uint32_t l4_off, uint32_t l4_len,
                    uint32_t src, uint32_t dst)
{
    if (b->flags & HS_BUF_F_L4_CSUM_OK)
        return true;
    uint64_t sum = hs_csum_pseudo4(src, dst, 6, (uint16_t)l4_len);
    /* Summing a correct checksum field in gives all ones (a folded 0xffff). */
    return hs_csum_fold(hs_csum_chain(p, b, l4_off, l4_len, sum)) == 0xffff;
}

uint16_t hs_tcp_csum(uint32_t src, uint32_t dst, const void *seg, uint32_t len)
{
    uint64_t sum = hs_csum_pseudo4(src, dst, 6, (uint16_t)len);
    return hs_csum_finish(hs_csum_add(sum, seg, len));
}

char *hs_tcp_format_flags(char *buf, uint8_t flags)
{
    static const char *const names[] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < 8; i++) {
        if (flags & (1u << i))
            n += (size_t)snprintf(buf + n, 32 - n, "%s%s", n ? "," : "", names[i]);
    }
    if (n == 0)
        snprintf(buf, 32, "none");
    return buf;
}
