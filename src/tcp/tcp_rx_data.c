/* Segment text into the session's rx FIFO (RFC 9293 3.10.7.4, seventh step): trimmed to
 * the window, in order at the tail, out of order at offset SEG.SEQ - RCV.NXT (the FIFO keeps
 * those ranges and makes them readable when the gap fills; RCV.NXT moves by what becomes
 * readable), and the ACK policy: delayed (RFC 9293 3.8.6.3), immediate for out-of-order data
 * and gap fills (RFC 5681 4.2), quick ACKs at the start and after loss. */
#include "tcp/tcp_input.h"

/* The first contiguous piece of the payload after skipping skip bytes, at most n long. */
static uint32_t first_piece(const hs_tcp_seg_t *seg, uint32_t skip, uint32_t n, const uint8_t **p)
{
    for (uint32_t i = 0; i < seg->n_spans; i++) {
        const hs_tcp_span_t *sp = &seg->spans[i];
        if (skip >= sp->len) {
            skip -= sp->len;
            continue;
        }
        *p = sp->data + skip;
        return HS_MIN(sp->len - skip, n);
    }
    *p = NULL;
    return 0;
}

/* Writes payload bytes [skip, skip + n) at FIFO offset off (> 0) onwards, piece by piece
 * (touching pieces merge). 0 or the FIFO's -ENOSPC / -EIO. */
static int put_ooo(hs_fifo_t *f, const hs_tcp_seg_t *seg, uint32_t skip, uint32_t n, uint32_t off)
{
    for (uint32_t i = 0; i < seg->n_spans && n; i++) {
        const hs_tcp_span_t *sp = &seg->spans[i];
        if (skip >= sp->len) {
            skip -= sp->len;
            continue;
        }
        uint32_t take = HS_MIN(sp->len - skip, n);
        int rv = hs_fifo_enqueue_ooo(f, off, sp->data + skip, take);
        if (rv < 0)
            return rv;
        off += take, n -= take, skip = 0;
    }
    return 0;
}

/* How far the tail will move when len bytes land at it: over every held out-of-order range
 * that they reach (mirrors the FIFO's own merge, so RCV.NXT stays equal to the tail). */
static uint32_t reach(const hs_fifo_range_t *r, int n, uint32_t len)
{
    uint32_t end = len;
    for (int k = 0; k < n && r[k].start <= len; k++)
        end = HS_MAX(end, r[k].end);
    return end;
}

/* Delayed ACK policy for in-order data (RFC 9293 3.8.6.3, RFC 5681 4.2): ACK at once during
 * quick-ack, after two full-sized segments, or while out-of-order data is held; else the
 * ACK waits for the delayed-ACK timer or the next segment we send. */
static void ack_policy(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, uint32_t bytes, bool held_ooo)
{
    tc->rcv_unacked += bytes;
    if (held_ooo) {
        tc->flags |= HS_TCP_F_ACK_NOW;
    } else if (tc->quickacks) {
        tc->quickacks--;
        tc->flags |= HS_TCP_F_ACK_NOW | HS_TCP_F_ACK_SEG;
    } else if (tc->rcv_unacked >= 2u * tc->rcv_smss) {
        /* Every second full-sized segment is ACKed before the next one is processed, even
         * within one vector: the sender's slow start grows per ACK (RFC 3465 L = 2). */
        tc->flags |= HS_TCP_F_ACK_NOW | HS_TCP_F_ACK_SEG;
    } else {
        tc->flags |= HS_TCP_F_DELACK;
        hs_tcp_timer_start(tw, tc, HS_TCP_T_DELACK, tw->cfg.delack_ns);
    }
}

static int rx_in_order(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg,
                       uint32_t skip, uint32_t keep)
{
    hs_fifo_t *f = tc->rx_fifo;
    const uint8_t *p0;
    uint32_t n0 = first_piece(seg, skip, keep, &p0);
    bool gap_fill = hs_fifo_n_ooo(f) > 0;
    /* Pieces after the first go in as out-of-order data touching it, so that the first
     * piece's enqueue makes all of them readable at once. */
    if (keep > n0 && put_ooo(f, seg, skip + n0, keep - n0, n0) < 0)
        tw->drops[HS_TCP_E_OOO_FULL]++;
    hs_fifo_range_t ranges[HS_FIFO_OOO_MAX];
    int n_ranges = hs_fifo_n_ooo(f) ? hs_fifo_ooo_ranges(f, ranges, HS_FIFO_OOO_MAX) : 0;
    if (n_ranges < 0)
        n_ranges = 0; /* a corrupt list was dropped by the FIFO */
    int rv = hs_fifo_enqueue(f, p0, n0);
    if (rv <= 0)
        return HS_TCP_E_FIFO_FULL;
    uint32_t readable = reach(ranges, n_ranges, (uint32_t)rv);
    tc->rcv_nxt += readable;
    tc->stats.bytes_in += readable;
    tcp_count(tw, HS_TCP_S_BYTES_IN, readable);
    bool held = gap_fill && hs_fifo_n_ooo(f) > 0;
    if (gap_fill) /* RFC 5681 4.2: a gap filled gets an immediate ACK; then quick ACKs */
        tc->quickacks = (uint16_t)tw->cfg.quickack_segs;
    ack_policy(tw, tc, readable, gap_fill || held);
    hs_session_notify_rx(tw->sw, tc->c.session_index);
    if (!(tc->flags & HS_TCP_F_FREE))
        hs_tcp_rx_fin_check(tw, tc);
    return (uint32_t)rv < n0 ? HS_TCP_E_FIFO_FULL : HS_TCP_E_NONE;
}

static int rx_out_of_order(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg,
                           uint32_t skip, uint32_t keep, uint32_t off)
{
    /* RFC 5681 4.2: out-of-order data is acknowledged at once, one duplicate ACK per
     * segment even when several arrive in one vector: the sender counts them. */
    tc->flags |= HS_TCP_F_ACK_NOW | HS_TCP_F_ACK_SEG;
    int rv = put_ooo(tc->rx_fifo, seg, skip, keep, off);
    if (rv < 0)
        return rv == -ENOSPC ? HS_TCP_E_OOO_FULL : HS_TCP_E_FIFO_FULL;
    tc->sack_hint = seg->seq + !!(seg->flags & HS_TCP_SYN) + skip;
    tc->stats.ooo_segs_in++;
    tcp_count(tw, HS_TCP_S_OOO_SEGS_IN, 1);
    return HS_TCP_E_NONE;
}

int hs_tcp_rx_data(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg)
{
    if (seg->payload_len == 0)
        return HS_TCP_E_NONE;
    /* Text is taken in ESTABLISHED and FIN-WAIT-1/2 only: the other states have seen the
     * peer's FIN (or have no session), "ignore the segment text". */
    if (tc->state != HS_TCP_ESTABLISHED && tc->state != HS_TCP_FIN_WAIT_1 &&
        tc->state != HS_TCP_FIN_WAIT_2)
        return HS_TCP_E_DATA_AFTER_FIN;
    if (!(tc->flags & HS_TCP_F_SESSION))
        return HS_TCP_E_FIFO_FULL;
    tcp_count(tw, HS_TCP_S_DATA_SEGS_IN, 1);
    /* "Full-sized" is at most the MSS we offered: a peer's TSO/GSO segment (many MSS in
     * one) must count as several, or delayed ACKs would wait for twice its size. */
    uint32_t smss = HS_MIN(seg->payload_len, tc->rcv_mss ? tc->rcv_mss : UINT16_MAX);
    if (smss > tc->rcv_smss)
        tc->rcv_smss = (uint16_t)smss;
    uint32_t seq = seg->seq + !!(seg->flags & HS_TCP_SYN); /* text follows a SYN */
    uint32_t skip = hs_seq_lt(seq, tc->rcv_nxt) ? tc->rcv_nxt - seq : 0;
    if (skip >= seg->payload_len) { /* all old: the ACK we send tells the peer */
        tc->flags |= HS_TCP_F_ACK_NOW | HS_TCP_F_ACK_SEG;
        tcp_count(tw, HS_TCP_S_DUP_SEGS_IN, 1);
        return HS_TCP_E_NONE;
    }
    uint32_t start = seq + skip;
    if (!hs_seq_lt(start, tc->rcv_adv)) { /* zero window: only the ACK counted */
        tc->flags |= HS_TCP_F_ACK_NOW;
        return HS_TCP_E_NOT_IN_WINDOW;
    }
    uint32_t keep = HS_MIN(seg->payload_len - skip, tc->rcv_adv - start);
    uint32_t off = start - tc->rcv_nxt;
    if (off == 0)
        return rx_in_order(tw, tc, seg, skip, keep);
    return rx_out_of_order(tw, tc, seg, skip, keep, off);
}
