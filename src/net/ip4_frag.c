/* IPv4 fragmentation on output (RFC 791 3.2, "Fragmentation and reassembly"): each fragment
 * is a new chain with a copy of the header and its slice of the payload. */
#include "net/ip4_internal.h"

#include <string.h>

/* The header of the fragments after the first: the fixed part and the options whose copied
 * flag (the type's high bit) is set, padded to 32 bits with end-of-list. Returns its
 * length. */
static uint32_t later_header(const uint8_t *h, uint32_t hlen, uint8_t out[HS_IP4_HDR_MAX])
{
    memcpy(out, h, HS_IP4_HDR_LEN);
    uint32_t n = HS_IP4_HDR_LEN;
    for (uint32_t i = HS_IP4_HDR_LEN; i < hlen;) {
        uint8_t type = h[i];
        if (type == 0)
            break;
        if (type == 1) {
            i++;
            continue;
        }
        uint32_t len = h[i + 1]; /* validated by ip4-input, or our own */
        if (len < 2 || i + len > hlen)
            break;
        if (type & 0x80) {
            memcpy(out + n, h + i, len);
            n += len;
        }
        i += len;
    }
    while (n & 3)
        out[n++] = 0;
    out[0] = (uint8_t)(0x40 | (n / 4));
    return n;
}

static void copy_meta(hs_buf_t *to, const hs_buf_t *from)
{
    to->flags |= from->flags & (HS_BUF_F_TRACED | HS_BUF_F_LOCALLY_MADE);
    to->trace_index = from->trace_index;
    to->sw_if_index[HS_RX] = from->sw_if_index[HS_RX];
    to->sw_if_index[HS_TX] = from->sw_if_index[HS_TX];
    memcpy(to->opaque, from->opaque, sizeof(to->opaque));
    to->l3_offset = to->current_data;
}

/* One fragment: header hdr (hlen bytes) with length and offset fields set for payload bytes
 * [off, off + n) of the datagram, the payload read at cur. */
static uint32_t make_fragment(hs_buf_cache_t *c, const hs_buf_t *orig, const uint8_t *hdr,
                              uint32_t hlen, uint16_t frag_bits, hs_buf_cursor_t *cur, uint32_t n)
{
    uint32_t fbi;
    if (hs_buf_alloc(c, &fbi, 1) != 1)
        return HS_BUF_INVALID;
    hs_buf_t *fb = hs_buf_ptr(c->pool, fbi);
    copy_meta(fb, orig);
    memcpy(hs_buf_cur(fb), hdr, hlen);
    fb->current_length = (uint16_t)hlen;
    hs_buf_t *tail = fb;
    if (hs_buf_chain_append(c, fb, &tail, cur, n) < 0) {
        hs_buf_free(c, &fbi, 1);
        return HS_BUF_INVALID;
    }
    hs_ip4_header_t *h = (hs_ip4_header_t *)hs_buf_cur(fb);
    h->total_len = htons((uint16_t)(hlen + n));
    h->frag = htons(frag_bits);
    hs_ip4_header_set_csum(h);
    return fbi;
}

int hs_ip4_fragment(hs_buf_cache_t *c, uint32_t bi, uint32_t mtu, uint32_t *out, uint32_t max)
{
    hs_buf_t *b = hs_buf_ptr(c->pool, bi);
    const uint8_t *h0 = hs_buf_cur(b);
    const hs_ip4_header_t *h = (const hs_ip4_header_t *)h0;
    uint32_t hlen = hs_ip4_hdr_len(h), total = ntohs(h->total_len);
    uint16_t frag = ntohs(h->frag);
    uint32_t base = (frag & HS_IP4_OFF_MASK) * 8u; /* re-fragmenting a fragment */
    uint16_t keep = frag & HS_IP4_F_DF;
    bool orig_mf = (frag & HS_IP4_F_MF) != 0;
    uint8_t later[HS_IP4_HDR_MAX];
    uint32_t later_len = later_header(h0, hlen, later);
    if (mtu > HS_IP4_MAX_LEN)
        mtu = HS_IP4_MAX_LEN;
    if (mtu < hlen + 8 || mtu < later_len + 8 || total < hlen)
        return -EINVAL;
    uint32_t payload = total - hlen, off = 0, n = 0;
    hs_buf_cursor_t cur;
    hs_buf_cursor_init(&cur, c->pool, b, hlen);
    do {
        const uint8_t *fh = n == 0 ? h0 : later;
        uint32_t fh_len = n == 0 ? hlen : later_len;
        uint32_t chunk = HS_MIN(payload - off, (mtu - fh_len) & ~7u);
        bool last = off + chunk == payload;
        uint16_t bits =
            (uint16_t)(keep | ((base + off) / 8) | (!last || orig_mf ? HS_IP4_F_MF : 0));
        uint32_t fbi =
            n < max ? make_fragment(c, b, fh, fh_len, bits, &cur, chunk) : HS_BUF_INVALID;
        if (fbi == HS_BUF_INVALID) {
            hs_buf_free(c, out, n);
            return n < max ? -ENOBUFS : -EINVAL;
        }
        out[n++] = fbi;
        off += chunk;
    } while (off < payload);
    return (int)n;
}
