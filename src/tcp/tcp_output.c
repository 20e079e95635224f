/* Segment output: turns a connection's flags, windows and tx FIFO into segments. Data is
 * peeked from the tx FIFO (it stays there until acknowledged; retransmissions peek it
 * again) straight into a packet buffer behind the TCP and IP headers, which are written in
 * the headroom; the packet goes to the worker's emit hook. Sender-side silly window
 * avoidance and Nagle (RFC 9293 3.8.6.2.1, RFC 896), receiver-side window choice
 * (3.8.6.2.2), zero-window probes (3.8.6.1), SACK blocks (RFC 2018), limited transmit
 * (RFC 3042) and SACK recovery's pipe-limited sending (RFC 6675 5). */
#include "tcp/tcp_internal.h"

#include <arpa/inet.h>
#include <string.h>

#include "net/checksum.h"
#include "net/ip4.h"
#include "net/ip4_packet.h"

typedef struct {
    uint32_t fib_index, src, dst;
    bool csum_offload;
} tx_route_t;

/* Builds the packet (payload from f at fifo_off when len > 0) and hands it to emit. */
static int emit(hs_tcp_worker_t *tw, const tx_route_t *r, const hs_tcp_seg_t *s, hs_fifo_t *f,
                uint32_t fifo_off, uint32_t len)
{
    hs_buf_cache_t *bufs = &tw->nw->bufs;
    uint32_t bi;
    if (hs_buf_alloc(bufs, &bi, 1) != 1) {
        tcp_count(tw, HS_TCP_S_NO_BUFFER, 1);
        return -ENOBUFS;
    }
    hs_buf_t *b = hs_buf_ptr(bufs->pool, bi);
    if (len > HS_BUF_DATA_SIZE) { /* never meant to happen: would overrun the buffer */
        hs_buf_free(bufs, &bi, 1);
        return -EINVAL;
    }
    if (len && hs_fifo_peek(f, fifo_off, hs_buf_cur(b), len) != (int)len) {
        hs_buf_free(bufs, &bi, 1);
        return -EIO;
    }
    b->current_length = (uint16_t)len;
    uint32_t hlen = HS_TCP_HDR_LEN + hs_tcp_opts_len(s), l4 = hlen + len;
    hs_buf_advance(b, -(int)hlen);
    hs_tcp_write(hs_buf_cur(b), s);
    hs_tcp_header_t *th = (hs_tcp_header_t *)hs_buf_cur(b);
    if (r->csum_offload) {
        /* The device sums from csum_start (after the IP header) with the field holding the
         * pseudo-header sum, as virtio's NEEDS_CSUM wants; ip4-rewrite finishes it in
         * software when the interface cannot. */
        th->csum = hs_csum_fold(hs_csum_pseudo4(r->src, r->dst, HS_IP_PROTO_TCP, (uint16_t)l4));
        b->flags |= HS_BUF_F_L4_CSUM_TODO;
        b->csum_start = HS_IP4_HDR_LEN;
        b->csum_offset = offsetof(hs_tcp_header_t, csum);
    } else {
        th->csum = hs_tcp_csum(r->src, r->dst, th, l4);
    }
    hs_buf_advance(b, -HS_IP4_HDR_LEN);
    hs_ip4_header_t *ih = (hs_ip4_header_t *)hs_buf_cur(b);
    hs_ip4_header_build(ih, r->src, r->dst, HS_IP_PROTO_TCP, (uint16_t)(HS_IP4_HDR_LEN + l4),
                        tw->ip_id++, 0, HS_IP4_DEFAULT_TTL);
    ih->frag = htons(HS_IP4_F_DF); /* path MTU discovery: the MSS fits the route's MTU */
    ih->csum = 0;
    ih->csum = hs_csum(ih, HS_IP4_HDR_LEN);
    *hs_ip4_meta(b) = (hs_ip4_buf_meta_t){.fib_index = r->fib_index};
    b->flags |= HS_BUF_F_LOCALLY_MADE;
    tw->emit(tw->emit_ctx, tw, bi);
    tcp_count(tw, HS_TCP_S_SEGS_OUT, 1);
    return 0;
}

static tx_route_t conn_route(const hs_tcp_conn_t *tc)
{
    return (tx_route_t){tc->c.fib_index, tc->c.lcl_ip, tc->c.rmt_ip,
                        (tc->flags & HS_TCP_F_TX_CSUM_OFF) != 0};
}

uint32_t hs_tcp_rcv_wnd(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    (void)tw;
    uint32_t cur = hs_seq_gt(tc->rcv_adv, tc->rcv_nxt) ? tc->rcv_adv - tc->rcv_nxt : 0;
    /* While out-of-order data is held our ACKs are duplicates that the sender counts for
     * fast retransmit, which it may only do when the window is unchanged (RFC 5681 2, (e)):
     * the window grows again once the hole is filled. */
    if (!(tc->flags & HS_TCP_F_SESSION) || hs_fifo_n_ooo(tc->rx_fifo))
        return cur;
    int fr = hs_fifo_max_enqueue(tc->rx_fifo);
    uint32_t free = fr > 0 ? (uint32_t)fr : 0;
    free = HS_MIN(free, 65535u << tc->rcv_wscale);
    /* RFC 9293 3.8.6.2.2: move the right edge only by min(half the buffer, an MSS) or more,
     * and never to the left. */
    uint32_t step = HS_MIN(hs_fifo_size(tc->rx_fifo) / 2, (uint32_t)tc->rcv_smss);
    if (free <= cur || free - cur < step)
        return cur;
    return free;
}

/* RFC 2018 4: the block holding the most recent out-of-order segment first, then the
 * others from the highest down. */
static void add_sack(hs_tcp_conn_t *tc, hs_tcp_seg_t *s)
{
    hs_fifo_range_t r[HS_FIFO_OOO_MAX];
    int n = hs_fifo_n_ooo(tc->rx_fifo) ? hs_fifo_ooo_ranges(tc->rx_fifo, r, HS_FIFO_OOO_MAX) : 0;
    if (n <= 0)
        return;
    uint32_t max = (s->opts & HS_TCP_OPTF_TS) ? 3 : 4, k = 0;
    int first = n - 1;
    for (int i = 0; i < n; i++) {
        if (hs_seq_geq(tc->sack_hint, tc->rcv_nxt + r[i].start) &&
            hs_seq_lt(tc->sack_hint, tc->rcv_nxt + r[i].end))
            first = i;
    }
    s->sack[k++] = (hs_tcp_sack_block_t){tc->rcv_nxt + r[first].start, tc->rcv_nxt + r[first].end};
    for (int i = n - 1; i >= 0 && k < max; i--) {
        if (i != first)
            s->sack[k++] = (hs_tcp_sack_block_t){tc->rcv_nxt + r[i].start, tc->rcv_nxt + r[i].end};
    }
    s->n_sack = (uint8_t)k;
    s->opts |= HS_TCP_OPTF_SACK;
}

/* The window field of a non-SYN segment (scaled, RFC 7323 2.3); RCV.ADV follows it. */
static uint16_t wnd_field(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    uint32_t w = hs_tcp_rcv_wnd(tw, tc) >> tc->rcv_wscale;
    w = HS_MIN(w, 65535u);
    uint32_t edge = tc->rcv_nxt + (w << tc->rcv_wscale);
    if (hs_seq_gt(edge, tc->rcv_adv))
        tc->rcv_adv = edge;
    return (uint16_t)w;
}

/* A segment of tc with its options; SYN segments offer (SYN) or confirm (SYN-ACK) ours. */
static void conn_seg(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, hs_tcp_seg_t *s, uint32_t seq,
                     uint8_t flags)
{
    *s = (hs_tcp_seg_t){
        .src_port = tc->c.lcl_port, .dst_port = tc->c.rmt_port, .seq = seq, .flags = flags};
    if (flags & HS_TCP_ACK)
        s->ack = tc->rcv_nxt;
    bool ts = tc->flags & HS_TCP_F_TS;
    if (flags & HS_TCP_SYN) {
        bool offer = !(flags & HS_TCP_ACK); /* a SYN offers; a SYN-ACK answers what was */
        uint32_t w = hs_seq_gt(tc->rcv_adv, tc->rcv_nxt) ? tc->rcv_adv - tc->rcv_nxt : 0;
        s->wnd = (uint16_t)HS_MIN(offer ? tw->cfg.init_rcv_wnd : w, 65535u);
        s->opts = HS_TCP_OPTF_MSS;
        s->mss = tc->rcv_mss;
        if (offer ? tw->cfg.window_scaling : (tc->flags & HS_TCP_F_WS)) {
            s->opts |= HS_TCP_OPTF_WSCALE;
            s->wscale = tc->rcv_wscale;
        }
        if (offer ? tw->cfg.sack : (tc->flags & HS_TCP_F_SACK))
            s->opts |= HS_TCP_OPTF_SACK_PERM;
        ts = offer ? tw->cfg.timestamps : ts;
    } else if (flags & HS_TCP_ACK) {
        s->wnd = wnd_field(tw, tc);
    }
    if (ts) {
        s->opts |= HS_TCP_OPTF_TS;
        s->tsval = tcp_ts_now(tw, tc);
        s->tsecr = (flags & HS_TCP_ACK) ? tc->ts_recent : 0;
    }
    if ((tc->flags & HS_TCP_F_SACK) && (flags & HS_TCP_ACK) && !(flags & HS_TCP_SYN) &&
        (tc->flags & HS_TCP_F_SESSION))
        add_sack(tc, s);
}

/* The sequence number of a pure ACK: one the peer finds acceptable, or it drops the ACK
 * unread. SND.MAX rather than SND.NXT, since after a timeout pulled SND.NXT back the peer
 * may hold data beyond it (BSD does the same); but not beyond the end of the window the
 * peer offers (allowing for its scaling's rounding), where a peer that shrank its window
 * would refuse it (Linux's tcp_acceptable_seq). */
static uint32_t ack_seq(const hs_tcp_conn_t *tc)
{
    uint32_t end = tc->snd_una + tc->snd_wnd;
    if (hs_seq_leq(tc->snd_max, end) || tc->snd_max - end < (1u << tc->snd_wscale))
        return tc->snd_max;
    return end;
}

/* Our ACK went out (alone or on a segment): nothing is owed any more. */
static void ack_sent(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    tc->rcv_unacked = 0;
    tc->last_ack_sent = tc->rcv_nxt;
    tc->flags &= ~(uint32_t)(HS_TCP_F_ACK_NOW | HS_TCP_F_DELACK | HS_TCP_F_ACK_SEG);
    hs_tcp_timer_stop(tw, tc, HS_TCP_T_DELACK);
}

static int send_ctl(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, uint32_t seq, uint8_t flags)
{
    hs_tcp_seg_t s;
    conn_seg(tw, tc, &s, seq, flags);
    tx_route_t r = conn_route(tc);
    int rv = emit(tw, &r, &s, NULL, 0, 0);
    if (rv == 0) {
        tc->stats.segs_out++;
        if (flags & HS_TCP_ACK)
            ack_sent(tw, tc);
    }
    return rv;
}

/* RFC 9293 3.10.7.x resets on a connection: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=RST,ACK>, SND.NXT
 * being the highest sent. */
static void send_rst(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    hs_tcp_seg_t s = {.src_port = tc->c.lcl_port,
                      .dst_port = tc->c.rmt_port,
                      .seq = tc->snd_max,
                      .ack = tc->rcv_nxt,
                      .flags = HS_TCP_RST | HS_TCP_ACK};
    tx_route_t r = conn_route(tc);
    if (emit(tw, &r, &s, NULL, 0, 0) == 0) {
        tcp_count(tw, HS_TCP_S_RST_OUT, 1);
        tc->stats.rst_out++;
        tc->stats.segs_out++;
    }
}

void hs_tcp_send_reset_reply(hs_tcp_worker_t *tw, const hs_tcp_seg_t *seg)
{
    if (seg->flags & HS_TCP_RST)
        return;
    hs_tcp_seg_t s = {.src_port = seg->dst_port, .dst_port = seg->src_port};
    if (seg->flags & HS_TCP_ACK) { /* <SEQ=SEG.ACK><CTL=RST> */
        s.seq = seg->ack;
        s.flags = HS_TCP_RST;
    } else { /* <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> */
        s.ack = seg->seq + hs_tcp_seg_len(seg);
        s.flags = HS_TCP_RST | HS_TCP_ACK;
    }
    tx_route_t r = {seg->fib_index, seg->dst_ip, seg->src_ip, false};
    if (emit(tw, &r, &s, NULL, 0, 0) == 0)
        tcp_count(tw, HS_TCP_S_RST_OUT, 1);
}

/* SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED) at ISS; the first one is timed for RTT. */
static void send_syn(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    bool again = hs_seq_gt(tc->snd_max, tc->iss);
    uint8_t flags = HS_TCP_SYN | (tc->state == HS_TCP_SYN_RCVD ? HS_TCP_ACK : 0);
    tc->flags &= ~(uint32_t)HS_TCP_F_SEND_SYN;
    if (send_ctl(tw, tc, tc->iss, flags) < 0)
        return; /* the retransmission timer tries again */
    tc->snd_nxt = tc->iss + 1;
    tc->snd_max = hs_seq_max(tc->snd_max, tc->snd_nxt);
    if (again) {
        tc->flags &= ~(uint32_t)HS_TCP_F_RTT_TIMING; /* Karn */
        tc->stats.retransmits++;
    } else {
        tc->flags |= HS_TCP_F_RTT_TIMING;
        tc->rtt_seq = tc->iss;
        tc->rtt_start_ns = tw->now_ns;
    }
    hs_tcp_timer_start(tw, tc, HS_TCP_T_RETRANSMIT, hs_tcp_rto_ns(tw, tc));
}

/* Payload per segment now: the MSS less the SACK blocks our segments carry while
 * out-of-order data is held (RFC 2018), so packets stay within the MTU (RFC 9293 3.7.1;
 * Linux's tcp_current_mss does the same). snd_mss already allows for the timestamp. */
static uint32_t seg_mss(hs_tcp_conn_t *tc)
{
    if (!(tc->flags & HS_TCP_F_SACK) || !(tc->flags & HS_TCP_F_SESSION))
        return tc->snd_mss;
    uint32_t n = hs_fifo_n_ooo(tc->rx_fifo);
    if (n == 0)
        return tc->snd_mss;
    n = HS_MIN(n, (tc->flags & HS_TCP_F_TS) ? 3u : 4u);
    return tc->snd_mss - (4 + 8 * n);
}

/* One data (and/or FIN) segment at seq: len bytes from the tx FIFO. */
static int send_data_seg(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, uint32_t seq, uint32_t len,
                         bool fin, bool push)
{
    uint8_t flags = HS_TCP_ACK | (fin ? HS_TCP_FIN : 0) | (push && len ? HS_TCP_PSH : 0);
    hs_tcp_seg_t s;
    conn_seg(tw, tc, &s, seq, flags);
    tx_route_t r = conn_route(tc);
    int rv = emit(tw, &r, &s, tc->tx_fifo, seq - tcp_data_seq0(tc), len);
    if (rv < 0)
        return rv;
    tc->stats.segs_out++;
    ack_sent(tw, tc);
    if (hs_seq_lt(seq, tc->snd_max)) {
        tcp_count(tw, HS_TCP_S_RETRANSMITS, 1);
        tc->stats.retransmits++;
        if ((tc->flags & HS_TCP_F_RTT_TIMING) && hs_seq_leq(seq, tc->rtt_seq))
            tc->flags &= ~(uint32_t)HS_TCP_F_RTT_TIMING; /* Karn */
    } else if (len) {
        if (len < seg_mss(tc))
            tc->snd_sml = seq + len;
        tcp_count(tw, HS_TCP_S_DATA_SEGS_OUT, 1);
        tcp_count(tw, HS_TCP_S_BYTES_OUT, len);
        tc->stats.bytes_out += len;
        if (!(tc->flags & (HS_TCP_F_TS | HS_TCP_F_RTT_TIMING))) {
            tc->flags |= HS_TCP_F_RTT_TIMING;
            tc->rtt_seq = seq;
            tc->rtt_start_ns = tw->now_ns;
        }
    }
    if (fin) {
        tc->flags |= HS_TCP_F_FIN_SENT;
        tc->fin_seq = seq + len;
    }
    bool fresh = hs_seq_geq(seq, tc->snd_max);
    tc->snd_max = hs_seq_max(tc->snd_max, seq + len + (fin ? 1 : 0));
    /* RFC 8985 7.2: new data restarts a loss probe timer (not a running RTO). */
    if (!hs_tcp_timer_running(tc, HS_TCP_T_RETRANSMIT))
        hs_tcp_timer_start(tw, tc, HS_TCP_T_RETRANSMIT, hs_tcp_rxt_delay_ns(tw, tc));
    else if (fresh && (tc->flags & HS_TCP_F_TLP))
        hs_tcp_timer_set(tw, tc, HS_TCP_T_RETRANSMIT, hs_tcp_rxt_delay_ns(tw, tc));
    return 0;
}

/* RFC 9293 3.8.6.2.1 with Nagle (RFC 896): a segment shorter than the MSS goes only when
 * it carries all queued data (D <= U) or at least half the largest window the peer offered,
 * and, unless Nagle is off or the app closed (no more data will come), no earlier short
 * segment is unacknowledged (Minshall's refinement, as in Linux: full-sized segments in
 * flight do not hold back the short tail of a write). */
static bool sws_allows(const hs_tcp_conn_t *tc, uint32_t len, uint32_t avail)
{
    bool nagle_ok = !hs_seq_gt(tc->snd_sml, tc->snd_una) ||
                    (tc->flags & (HS_TCP_F_NODELAY | HS_TCP_F_FIN_PENDING));
    if (len == avail)
        return nagle_ok;
    return nagle_ok && len >= tc->max_snd_wnd / 2;
}

static bool may_send_data(const hs_tcp_conn_t *tc)
{
    switch (tc->state) {
    case HS_TCP_ESTABLISHED:
    case HS_TCP_CLOSE_WAIT:
    case HS_TCP_FIN_WAIT_1:
    case HS_TCP_CLOSING:
    case HS_TCP_LAST_ACK:
        return (tc->flags & HS_TCP_F_SESSION) != 0;
    default:
        return false;
    }
}

/* Bytes the windows let us send beyond SND.NXT: min(SND.WND, cwnd) past SND.UNA. */
static uint32_t usable_window(const hs_tcp_conn_t *tc)
{
    uint32_t edge = tc->snd_una + HS_MIN(tc->snd_wnd, tc->cwnd);
    return hs_seq_gt(edge, tc->snd_nxt) ? edge - tc->snd_nxt : 0;
}

/* usable_window with RFC 3042 limited transmit: on the first two duplicate ACKs, up to
 * cwnd + 2 SMSS may be outstanding, for new data only. */
static uint32_t send_room(const hs_tcp_conn_t *tc)
{
    uint32_t room = usable_window(tc);
    if (tc->dupacks == 0 || tc->dupacks > 2 ||
        (tc->flags & (HS_TCP_F_RECOVERY | HS_TCP_F_RTO_RECOVERY)) ||
        hs_seq_lt(tc->snd_nxt, tc->snd_max))
        return room;
    uint32_t edge = tc->snd_una + HS_MIN(tc->snd_wnd, tc->cwnd + tc->dupacks * tc->snd_mss);
    return hs_seq_gt(edge, tc->snd_nxt) ? HS_MAX(room, edge - tc->snd_nxt) : room;
}

/* New (or, after a timeout, resent) data from SND.NXT, at most room bytes, then the FIN
 * once every byte is out. Resending after a timeout skips what the peer SACKed. */
static void send_data(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, uint32_t room)
{
    uint32_t data_end = tcp_data_seq0(tc) + tcp_tx_bytes(tc);
    bool fin_wanted = (tc->flags & HS_TCP_F_FIN_PENDING) && !tcp_fin_acked(tc);
    uint32_t mss = seg_mss(tc);
    while (hs_seq_lt(tc->snd_nxt, data_end)) {
        uint32_t limit = tc->snd_nxt + INT32_MAX;
        if (tc->sb.n && hs_seq_lt(tc->snd_nxt, tc->snd_max)) {
            uint32_t to = hs_seq_min(hs_tcp_sb_skip(tc, tc->snd_nxt, &limit), data_end);
            room = room > to - tc->snd_nxt ? room - (to - tc->snd_nxt) : 0;
            tc->snd_nxt = to;
            if (to == data_end)
                break;
        }
        uint32_t avail = data_end - tc->snd_nxt;
        uint32_t len = HS_MIN(HS_MIN(avail, room), mss);
        len = HS_MIN(len, limit - tc->snd_nxt);
        /* Data resent after a timeout (below SND.MAX) is not held back by SWS or Nagle. */
        bool fresh = hs_seq_geq(tc->snd_nxt, tc->snd_max);
        if (len == 0 || (len < mss && fresh && !sws_allows(tc, len, avail)))
            break;
        bool fin = fin_wanted && len == avail;
        if (send_data_seg(tw, tc, tc->snd_nxt, len, fin, len == avail) < 0)
            return;
        tc->snd_nxt += len + (fin ? 1 : 0);
        room -= len;
    }
    if (fin_wanted && tc->snd_nxt == data_end &&
        (!(tc->flags & HS_TCP_F_FIN_SENT) || tc->snd_nxt == tc->fin_seq)) {
        if (send_data_seg(tw, tc, tc->snd_nxt, 0, true, false) == 0)
            tc->snd_nxt++;
    }
}

/* Fast retransmit and NewReno partial ACKs: the segment at SND.UNA again. Returns the
 * sequence space resent (0 when nothing went). */
static uint32_t retransmit_head(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    if (tc->snd_una == tc->snd_max || !may_send_data(tc))
        return 0;
    uint32_t data_end = tcp_data_seq0(tc) + tcp_tx_bytes(tc);
    uint32_t len = hs_seq_gt(data_end, tc->snd_una) ? data_end - tc->snd_una : 0;
    len = HS_MIN(len, seg_mss(tc));
    if (tc->sb.n && hs_seq_gt(tc->sb.r[0].start, tc->snd_una) &&
        hs_seq_lt(tc->sb.r[0].start, tc->snd_una + len))
        len = tc->sb.r[0].start - tc->snd_una; /* up to the first SACKed range */
    bool fin = (tc->flags & HS_TCP_F_FIN_SENT) && tc->snd_una + len == tc->fin_seq;
    if (len == 0 && !fin)
        return 0;
    if (send_data_seg(tw, tc, tc->snd_una, len, fin, false) < 0)
        return 0;
    if (hs_seq_lt(tc->snd_nxt, tc->snd_una + len + fin))
        tc->snd_nxt = tc->snd_una + len + fin;
    return len + fin;
}

/* RFC 6675 5 step (C): while cwnd - pipe >= 1 SMSS, resend the lost holes (NextSeg rule
 * 1) in order, then new data (rule 2) as the peer's window allows. */
static void sack_recovery_output(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    uint32_t pipe = hs_tcp_sb_pipe(tc), mss = seg_mss(tc);
    uint32_t data_end = tcp_data_seq0(tc) + tcp_tx_bytes(tc);
    uint32_t seq, max;
    if (tc->flags & HS_TCP_F_RXT_HEAD) { /* its resend was lost: once more, as at entry */
        tc->flags &= ~(uint32_t)HS_TCP_F_RXT_HEAD;
        uint32_t n = retransmit_head(tw, tc);
        tc->rxt_mark = tc->snd_max;
        pipe += n;
    }
    while (tc->cwnd >= pipe + mss && hs_tcp_sb_next_seg(tc, &seq, &max)) {
        uint32_t len = hs_seq_gt(data_end, seq) ? HS_MIN(data_end - seq, max) : 0;
        len = HS_MIN(len, mss);
        bool fin = (tc->flags & HS_TCP_F_FIN_SENT) && seq + len == tc->fin_seq && len < max;
        if ((len == 0 && !fin) || send_data_seg(tw, tc, seq, len, fin, false) < 0)
            return;
        if (seq == tc->snd_una)
            tc->rxt_mark = tc->snd_max;
        tc->high_rxt = seq + len + fin;
        pipe += len + fin;
    }
    if (tc->cwnd >= pipe + mss && hs_seq_geq(tc->snd_nxt, tc->snd_max)) {
        uint32_t edge = tc->snd_una + tc->snd_wnd;
        uint32_t room = hs_seq_gt(edge, tc->snd_nxt) ? edge - tc->snd_nxt : 0;
        send_data(tw, tc, HS_MIN(room, tc->cwnd - pipe));
    }
}

/* RFC 8985 7.3: the loss probe: one new segment when the peer's window has room (cwnd
 * does not count), else the last segment sent again. Its ACK (with SACK) starts recovery
 * for a lost tail that would otherwise wait for the RTO. */
static void send_tlp(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    uint32_t nxt0 = tc->snd_nxt;
    if (hs_seq_geq(tc->snd_nxt, tc->snd_max)) {
        uint32_t edge = tc->snd_una + tc->snd_wnd;
        uint32_t room = hs_seq_gt(edge, tc->snd_nxt) ? edge - tc->snd_nxt : 0;
        send_data(tw, tc, HS_MIN(room, seg_mss(tc)));
        if (tc->snd_nxt != nxt0)
            return;
    }
    uint32_t end = hs_seq_min(tc->snd_max, tcp_data_seq0(tc) + tcp_tx_bytes(tc));
    if (!hs_seq_gt(end, tc->snd_una))
        return;
    uint32_t len = HS_MIN(end - tc->snd_una, seg_mss(tc));
    send_data_seg(tw, tc, end - len, len, false, false);
}

/* RFC 9293 3.8.6.1 (zero window) and 3.8.4 (keepalive): a probe. When some window is
 * open, the data that fits goes (the SWS override); otherwise, as Linux does, an ACK at
 * SND.UNA - 1, which the peer must answer with its window. */
static void send_probe(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    uint32_t data_end = tcp_data_seq0(tc) + tcp_tx_bytes(tc);
    uint32_t avail = hs_seq_gt(data_end, tc->snd_nxt) ? data_end - tc->snd_nxt : 0;
    uint32_t len = HS_MIN(HS_MIN(avail, usable_window(tc)), seg_mss(tc));
    tc->stats.probes++;
    if (len && may_send_data(tc)) {
        if (send_data_seg(tw, tc, tc->snd_nxt, len, false, len == avail) == 0)
            tc->snd_nxt += len;
        return;
    }
    send_ctl(tw, tc, tc->snd_una - 1, HS_TCP_ACK);
}

/* RFC 9293 3.8.6.1: data (or data resent after a timeout) waits for a window that is shut
 * and the retransmission timer is not running: the persist timer probes, so the window
 * update cannot be lost for good (as BSD's tcp_setpersist). */
static void update_persist(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    uint32_t data_end = tcp_data_seq0(tc) + tcp_tx_bytes(tc);
    bool waiting = may_send_data(tc) && hs_seq_lt(tc->snd_nxt, data_end);
    if (waiting && !hs_tcp_timer_running(tc, HS_TCP_T_RETRANSMIT))
        hs_tcp_timer_start(tw, tc, HS_TCP_T_PERSIST, hs_tcp_rto_ns(tw, tc));
    else
        hs_tcp_timer_stop(tw, tc, HS_TCP_T_PERSIST);
}

void hs_tcp_output(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc)
{
    if (tc->flags & HS_TCP_F_SEND_RST) {
        tc->flags &= ~(uint32_t)HS_TCP_F_SEND_RST;
        send_rst(tw, tc);
        return;
    }
    if (tc->flags & HS_TCP_F_FREE)
        return;
    if (tc->state == HS_TCP_SYN_SENT || tc->state == HS_TCP_SYN_RCVD) {
        if (tc->flags & HS_TCP_F_SEND_SYN)
            send_syn(tw, tc);
        else if (tc->state == HS_TCP_SYN_RCVD && (tc->flags & HS_TCP_F_ACK_NOW))
            send_ctl(tw, tc, tc->snd_nxt, HS_TCP_ACK);
        return;
    }
    bool sack_rec =
        (tc->flags & (HS_TCP_F_RECOVERY | HS_TCP_F_SACK)) == (HS_TCP_F_RECOVERY | HS_TCP_F_SACK);
    if (tc->flags & HS_TCP_F_FAST_RXT) {
        tc->flags &= ~(uint32_t)HS_TCP_F_FAST_RXT;
        uint32_t n = retransmit_head(tw, tc);
        if (sack_rec && n && hs_seq_lt(tc->high_rxt, tc->snd_una + n))
            tc->high_rxt = tc->snd_una + n;
        tc->rxt_mark = tc->snd_max;
    }
    if (tc->flags & HS_TCP_F_PROBE) {
        tc->flags &= ~(uint32_t)HS_TCP_F_PROBE;
        send_probe(tw, tc);
    }
    if (tc->flags & HS_TCP_F_TLP_SEND) {
        tc->flags &= ~(uint32_t)HS_TCP_F_TLP_SEND;
        if (may_send_data(tc))
            send_tlp(tw, tc);
    }
    if (may_send_data(tc))
        sack_rec ? sack_recovery_output(tw, tc) : send_data(tw, tc, send_room(tc));
    if (tc->flags & HS_TCP_F_ACK_NOW)
        send_ctl(tw, tc, ack_seq(tc), HS_TCP_ACK);
    update_persist(tw, tc);
}
