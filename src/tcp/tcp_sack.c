/* SACK-based loss recovery (RFC 6675): the scoreboard of SACKed ranges the peer reported,
 * IsLost, the pipe estimate and NextSeg's choice of the next hole to resend. */
#include "tcp/tcp_internal.h"

void hs_tcp_sb_reset(hs_tcp_sb_t *sb)
{
    sb->n = 0;
    sb->sacked = 0;
}

static void sb_recount(hs_tcp_sb_t *sb)
{
    sb->sacked = 0;
    for (uint8_t i = 0; i < sb->n; i++)
        sb->sacked += sb->r[i].end - sb->r[i].start;
}

/* Forgets what lies below una (acknowledged cumulatively now). */
void hs_tcp_sb_prune(hs_tcp_sb_t *sb, uint32_t una)
{
    uint8_t k = 0;
    for (uint8_t i = 0; i < sb->n; i++) {
        hs_tcp_sack_block_t b = sb->r[i];
        if (hs_seq_leq(b.end, una))
            continue;
        if (hs_seq_lt(b.start, una))
            b.start = una;
        sb->r[k++] = b;
    }
    sb->n = k;
    sb_recount(sb);
}

/* Inserts [start, end) in order, merges overlapping or adjacent ranges, and when more than
 * HS_TCP_SB_MAX remain forgets the lowest (the one nearest to being acknowledged). */
void hs_tcp_sb_add(hs_tcp_sb_t *sb, uint32_t start, uint32_t end)
{
    if (!hs_seq_lt(start, end))
        return;
    hs_tcp_sack_block_t t[HS_TCP_SB_MAX + 1];
    uint8_t n = 0, i = 0;
    while (i < sb->n && hs_seq_lt(sb->r[i].start, start))
        t[n++] = sb->r[i++];
    t[n++] = (hs_tcp_sack_block_t){start, end};
    while (i < sb->n)
        t[n++] = sb->r[i++];
    uint8_t k = 0;
    for (i = 0; i < n; i++) {
        if (k && hs_seq_leq(t[i].start, t[k - 1].end)) {
            if (hs_seq_gt(t[i].end, t[k - 1].end))
                t[k - 1].end = t[i].end;
            continue;
        }
        t[k++] = t[i];
    }
    uint8_t drop = k > HS_TCP_SB_MAX ? (uint8_t)(k - HS_TCP_SB_MAX) : 0;
    sb->n = (uint8_t)(k - drop);
    for (i = 0; i < sb->n; i++)
        sb->r[i] = t[i + drop];
    sb_recount(sb);
}

void hs_tcp_sb_update(hs_tcp_conn_t *tc, const hs_tcp_seg_t *seg)
{
    /* An old ACK (below SND.UNA, still acceptable) must not take the floor down. */
    uint32_t una = hs_seq_gt(seg->ack, tc->snd_una) ? seg->ack : tc->snd_una;
    for (uint8_t i = 0; i < seg->n_sack; i++) {
        uint32_t s = seg->sack[i].start, e = seg->sack[i].end;
        /* Blocks below the ACK (D-SACK) or beyond what was sent are not believed. */
        if (!hs_seq_gt(e, una) || hs_seq_gt(e, tc->snd_max) || !hs_seq_lt(s, e))
            continue;
        hs_tcp_sb_add(&tc->sb, hs_seq_lt(s, una) ? una : s, e);
    }
    hs_tcp_sb_prune(&tc->sb, una);
}

uint32_t hs_tcp_sb_high(const hs_tcp_conn_t *tc)
{
    return tc->sb.n ? tc->sb.r[tc->sb.n - 1].end : tc->snd_una;
}

/* IsLost for a hole followed by range i: DupThresh (3) discontiguous SACKed ranges above
 * it, or more than (DupThresh - 1) * SMSS SACKed bytes above it. */
static bool hole_lost(const hs_tcp_conn_t *tc, uint8_t i, uint32_t sacked_below)
{
    return tc->sb.n - i >= 3 || tc->sb.sacked - sacked_below > 2u * tc->snd_mss;
}

bool hs_tcp_sb_una_lost(const hs_tcp_conn_t *tc)
{
    return tc->sb.n && hole_lost(tc, 0, 0);
}

/* Bytes of [s, e) at or below high_rxt: resent in this recovery. */
static uint32_t resent_part(const hs_tcp_conn_t *tc, uint32_t s, uint32_t e)
{
    if (!hs_seq_gt(tc->high_rxt, s))
        return 0;
    return hs_seq_lt(tc->high_rxt, e) ? tc->high_rxt - s : e - s;
}

uint32_t hs_tcp_sb_pipe(const hs_tcp_conn_t *tc)
{
    uint32_t pipe = 0, s = tc->snd_una, below = 0;
    for (uint8_t i = 0; i < tc->sb.n; i++) {
        uint32_t e = tc->sb.r[i].start;
        if (hs_seq_lt(s, e)) {
            if (!hole_lost(tc, i, below))
                pipe += e - s; /* not lost: still in flight */
            pipe += resent_part(tc, s, e);
        }
        below += tc->sb.r[i].end - tc->sb.r[i].start;
        s = tc->sb.r[i].end;
    }
    if (hs_seq_lt(s, tc->snd_max))
        pipe += tc->snd_max - s + resent_part(tc, s, tc->snd_max);
    return pipe;
}

bool hs_tcp_sb_next_seg(const hs_tcp_conn_t *tc, uint32_t *seq, uint32_t *max_len)
{
    uint32_t from = hs_seq_gt(tc->high_rxt, tc->snd_una) ? tc->high_rxt : tc->snd_una;
    uint32_t s = tc->snd_una, below = 0;
    for (uint8_t i = 0; i < tc->sb.n; i++) {
        uint32_t e = tc->sb.r[i].start;
        if (hs_seq_lt(from, e) && hs_seq_lt(s, e) && hole_lost(tc, i, below)) {
            *seq = hs_seq_gt(from, s) ? from : s;
            *max_len = e - *seq;
            return true;
        }
        below += tc->sb.r[i].end - tc->sb.r[i].start;
        s = tc->sb.r[i].end;
    }
    return false;
}

uint32_t hs_tcp_sb_skip(const hs_tcp_conn_t *tc, uint32_t seq, uint32_t *limit)
{
    *limit = seq + INT32_MAX; /* no SACKed range above */
    for (uint8_t i = 0; i < tc->sb.n; i++) {
        if (hs_seq_lt(seq, tc->sb.r[i].start)) {
            *limit = tc->sb.r[i].start;
            return seq;
        }
        if (hs_seq_lt(seq, tc->sb.r[i].end))
            seq = tc->sb.r[i].end;
    }
    *limit = seq + INT32_MAX;
    return seq;
}
