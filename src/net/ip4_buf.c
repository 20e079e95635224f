/* Buffer-chain helpers for the IPv4 nodes: trimming link padding, copying a span of one
 * chain onto another (fragmentation, ICMP quotes) and the software L4 checksum. */
#include "net/ip4_internal.h"
#include "net/checksum.h"

#include <string.h>

void hs_ip4_chain_trim(hs_buf_cache_t *c, hs_buf_t *b, uint32_t len)
{
    hs_buf_t *head = b;
    const hs_buf_pool_t *p = c->pool;
    uint32_t left = len;
    for (;;) {
        if (b->current_length >= left || !(b->flags & HS_BUF_F_NEXT)) {
            b->current_length = (uint16_t)HS_MIN((uint32_t)b->current_length, left);
            break;
        }
        left -= b->current_length;
        b = hs_buf_ptr(p, b->next);
    }
    /* b is the last buffer that keeps bytes; anything after it goes. */
    if (b->flags & HS_BUF_F_NEXT) {
        uint32_t rest = b->next;
        b->flags &= ~HS_BUF_F_NEXT;
        b->next = HS_BUF_INVALID;
        hs_buf_free(c, &rest, 1);
    }
    head->chain_rest_len = len - head->current_length;
    if (head == b)
        head->chain_rest_len = 0;
}

hs_buf_t *hs_ip4_chain_tail(const hs_buf_pool_t *p, hs_buf_t *b)
{
    while (b->flags & HS_BUF_F_NEXT)
        b = hs_buf_ptr(p, b->next);
    return b;
}

void hs_ip4_chain_fix_len(const hs_buf_pool_t *p, hs_buf_t *b)
{
    uint32_t rest = 0;
    for (hs_buf_t *x = b; x->flags & HS_BUF_F_NEXT;) {
        x = hs_buf_ptr(p, x->next);
        rest += x->current_length;
    }
    b->chain_rest_len = rest;
}

void hs_buf_cursor_init(hs_buf_cursor_t *cur, const hs_buf_pool_t *p, hs_buf_t *b, uint32_t offset)
{
    while (offset >= b->current_length && (b->flags & HS_BUF_F_NEXT)) {
        offset -= b->current_length;
        b = hs_buf_ptr(p, b->next);
    }
    *cur = (hs_buf_cursor_t){.pool = p, .b = b, .off = offset};
}

/* Makes sure *tail has room, chaining a fresh buffer (no headroom) when it is full. */
static int tail_room(hs_buf_cache_t *c, hs_buf_t **tail)
{
    if (hs_buf_tailroom(*tail))
        return 0;
    uint32_t bi;
    if (hs_buf_alloc(c, &bi, 1) != 1)
        return -ENOBUFS;
    hs_buf_t *nb = hs_buf_ptr(c->pool, bi);
    nb->current_data = 0;
    (*tail)->flags |= HS_BUF_F_NEXT;
    (*tail)->next = bi;
    *tail = nb;
    return 0;
}

int hs_buf_chain_append(hs_buf_cache_t *c, hs_buf_t *head, hs_buf_t **tail, hs_buf_cursor_t *cur,
                        uint32_t n)
{
    while (n) {
        if (cur->off >= cur->b->current_length) { /* source buffer used up */
            if (!(cur->b->flags & HS_BUF_F_NEXT))
                return -EINVAL;
            cur->b = hs_buf_ptr(cur->pool, cur->b->next);
            cur->off = 0;
            continue;
        }
        if (tail_room(c, tail) < 0)
            return -ENOBUFS;
        hs_buf_t *t = *tail;
        uint32_t k = HS_MIN(n, (uint32_t)cur->b->current_length - cur->off);
        k = HS_MIN(k, hs_buf_tailroom(t));
        memcpy(hs_buf_cur(t) + t->current_length, hs_buf_cur(cur->b) + cur->off, k);
        t->current_length = (uint16_t)(t->current_length + k);
        if (t != head)
            head->chain_rest_len += k;
        cur->off += k;
        n -= k;
    }
    return 0;
}

/* Writes 16 bits at offset off of the packet (which may straddle two buffers). */
static void chain_write16(const hs_buf_pool_t *p, hs_buf_t *b, uint32_t off, uint16_t v)
{
    uint8_t bytes[2];
    memcpy(bytes, &v, 2);
    for (int i = 0; i < 2; i++) {
        hs_buf_cursor_t cur;
        hs_buf_cursor_init(&cur, p, b, off + (uint32_t)i);
        if (cur.off < cur.b->current_length)
            hs_buf_cur(cur.b)[cur.off] = bytes[i];
    }
}

void hs_ip4_l4_csum_fill(const hs_buf_pool_t *p, hs_buf_t *b)
{
    uint32_t len = hs_buf_length(b);
    uint32_t start = b->csum_start, at = (uint32_t)b->csum_start + b->csum_offset;
    b->flags &= ~HS_BUF_F_L4_CSUM_TODO;
    if (start >= len || at + 2 > len)
        return;
    /* The field holds the pseudo-header sum, so it is simply summed with the rest. */
    uint16_t c = hs_csum_finish(hs_csum_chain(p, b, start, len - start, 0));
    if (c == 0 && hs_buf_cur(b)[9] == HS_IP_PROTO_UDP)
        c = 0xffff; /* RFC 768: a computed zero is sent as all ones */
    chain_write16(p, b, at, c);
}
