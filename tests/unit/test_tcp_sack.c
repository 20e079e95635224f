/* SACK-based loss recovery (RFC 6675): the scoreboard (merging, its bound, pruning), the
 * pipe estimate and NextSeg on hand-made scoreboards; then scenarios with a scripted peer:
 * two holes in one window resent within one round trip without a timeout, RFC 3042 limited
 * transmit, a timeout's go-back-N skipping what was SACKed, and the tail loss probe
 * (RFC 8985 7). MSS 1460, no timestamps,
 * initial window 10 segments. */
#include "tcp/tcp.h" /* (also tells the build to link hs_tcp) */
#include "tcp/tcp_internal.h"
#include "tcp_fake_session.h"

#define MSS 1460u

/* ---- the scoreboard alone ---- */

static void sb_expect(const hs_tcp_sb_t *sb, uint32_t n, const uint32_t *se)
{
    assert_int_equal(sb->n, n);
    uint32_t sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(sb->r[i].start, se[2 * i]);
        assert_int_equal(sb->r[i].end, se[2 * i + 1]);
        sum += se[2 * i + 1] - se[2 * i];
    }
    assert_int_equal(sb->sacked, sum);
}

static void test_sb_merge(void **state)
{
    (void)state;
    hs_tcp_sb_t sb = {0};
    hs_tcp_sb_add(&sb, 300, 400);
    hs_tcp_sb_add(&sb, 100, 200);
    sb_expect(&sb, 2, (uint32_t[]){100, 200, 300, 400});
    hs_tcp_sb_add(&sb, 200, 250); /* adjacent: joins the first */
    sb_expect(&sb, 2, (uint32_t[]){100, 250, 300, 400});
    hs_tcp_sb_add(&sb, 240, 310); /* bridges both */
    sb_expect(&sb, 1, (uint32_t[]){100, 400});
    hs_tcp_sb_add(&sb, 150, 160); /* inside: nothing changes */
    sb_expect(&sb, 1, (uint32_t[]){100, 400});
    hs_tcp_sb_add(&sb, 50, 500); /* covers it */
    sb_expect(&sb, 1, (uint32_t[]){50, 500});
    hs_tcp_sb_add(&sb, 600, 600); /* empty: ignored */
    sb_expect(&sb, 1, (uint32_t[]){50, 500});
    /* Across the sequence wrap. */
    hs_tcp_sb_t w = {0};
    hs_tcp_sb_add(&w, 10, 20);
    hs_tcp_sb_add(&w, UINT32_MAX - 9, 5);
    sb_expect(&w, 2, (uint32_t[]){UINT32_MAX - 9, 5, 10, 20});
    hs_tcp_sb_add(&w, 5, 10);
    sb_expect(&w, 1, (uint32_t[]){UINT32_MAX - 9, 20});
}

static void test_sb_bound_and_prune(void **state)
{
    (void)state;
    hs_tcp_sb_t sb = {0};
    for (uint32_t i = 0; i < HS_TCP_SB_MAX + 2; i++) /* added from the top down */
        hs_tcp_sb_add(&sb, 1000 - 100 * i, 1050 - 100 * i);
    /* Ten ranges 100..150 up to 1000..1050: the two lowest were forgotten. */
    assert_int_equal(sb.n, HS_TCP_SB_MAX);
    assert_int_equal(sb.r[0].start, 300);
    assert_int_equal(sb.r[HS_TCP_SB_MAX - 1].end, 1050);
    assert_int_equal(sb.sacked, HS_TCP_SB_MAX * 50);
    hs_tcp_sb_prune(&sb, 420); /* 300..350 goes, 400..450 is trimmed */
    assert_int_equal(sb.n, HS_TCP_SB_MAX - 1);
    assert_int_equal(sb.r[0].start, 420);
    assert_int_equal(sb.r[0].end, 450);
    assert_int_equal(sb.sacked, 30 + (HS_TCP_SB_MAX - 2) * 50);
    hs_tcp_sb_prune(&sb, 2000);
    assert_int_equal(sb.n, 0);
    assert_int_equal(sb.sacked, 0);
}

static void test_sb_update_filters(void **state)
{
    (void)state;
    hs_tcp_conn_t tc = {.snd_una = 1000, .snd_max = 9000, .snd_mss = 1000};
    hs_tcp_seg_t seg = {.ack = 2000, .n_sack = 4};
    seg.sack[0] = (hs_tcp_sack_block_t){500, 1500};  /* D-SACK below the ACK: ignored */
    seg.sack[1] = (hs_tcp_sack_block_t){8000, 9500}; /* beyond what was sent: ignored */
    seg.sack[2] = (hs_tcp_sack_block_t){1500, 2500}; /* straddles the ACK: trimmed */
    seg.sack[3] = (hs_tcp_sack_block_t){4000, 5000};
    hs_tcp_sb_update(&tc, &seg);
    sb_expect(&tc.sb, 2, (uint32_t[]){2000, 2500, 4000, 5000});
    assert_int_equal(hs_tcp_sb_high(&tc), 5000);
    /* An old ACK (below SND.UNA, still acceptable for its window) with a block reaching
     * below SND.UNA: the scoreboard never reaches below SND.UNA (a range starting below
     * it would make the head retransmission's length wrap). */
    hs_tcp_conn_t t2 = {.snd_una = 3000, .snd_max = 9000, .snd_mss = 1000};
    hs_tcp_seg_t old = {.ack = 2000, .n_sack = 1};
    old.sack[0] = (hs_tcp_sack_block_t){2500, 3500};
    hs_tcp_sb_update(&t2, &old);
    sb_expect(&t2.sb, 1, (uint32_t[]){3000, 3500});
}

static void test_pipe_and_next_seg(void **state)
{
    (void)state;
    /* Sent 0..10000 in 1000-byte segments; SACKed 1000..4000 and 5000..6000: the hole at 0
     * has 4000 SACKed bytes above (lost), the one at 4000 only 1000 (not lost yet). */
    hs_tcp_conn_t tc = {.snd_una = 0, .snd_max = 10000, .snd_mss = 1000};
    hs_tcp_sb_add(&tc.sb, 1000, 4000);
    hs_tcp_sb_add(&tc.sb, 5000, 6000);
    assert_true(hs_tcp_sb_una_lost(&tc));
    /* pipe: lost hole 0 + hole 4000..5000 (1000) + above 6000 (4000) */
    assert_int_equal(hs_tcp_sb_pipe(&tc), 5000);
    uint32_t seq, max;
    assert_true(hs_tcp_sb_next_seg(&tc, &seq, &max));
    assert_int_equal(seq, 0);
    assert_int_equal(max, 1000);
    tc.high_rxt = 1000; /* resent: counts again */
    assert_int_equal(hs_tcp_sb_pipe(&tc), 6000);
    assert_false(hs_tcp_sb_next_seg(&tc, &seq, &max));
    /* Two more SACKed segments above the second hole make it lost too. */
    hs_tcp_sb_add(&tc.sb, 7000, 9000);
    assert_int_equal(hs_tcp_sb_pipe(&tc), 1000 + 0 + 1000 + 1000);
    assert_true(hs_tcp_sb_next_seg(&tc, &seq, &max));
    assert_int_equal(seq, 4000);
    assert_int_equal(max, 1000);
    /* Nothing SACKed: nothing is lost, everything is in the pipe. */
    hs_tcp_conn_t none = {.snd_una = 0, .snd_max = 10000, .snd_mss = 1000};
    assert_false(hs_tcp_sb_una_lost(&none));
    assert_int_equal(hs_tcp_sb_pipe(&none), 10000);
    assert_false(hs_tcp_sb_next_seg(&none, &seq, &max));
    /* skip: past SACKed ranges, bounded by the next one. */
    uint32_t lim;
    assert_int_equal(hs_tcp_sb_skip(&tc, 1500, &lim), 4000);
    assert_int_equal(lim, 5000);
    assert_int_equal(hs_tcp_sb_skip(&tc, 4200, &lim), 4200);
    assert_int_equal(lim, 5000);
    assert_int_equal(hs_tcp_sb_skip(&tc, 8000, &lim), 9000);
    assert_int_equal(lim, 9000u + INT32_MAX);
}

/* ---- scenarios with a scripted peer ---- */

typedef struct {
    fx_t *f;
    fx_peer_t p;
    hs_tcp_conn_t *tc;
    uint32_t una0;
    uint8_t *data;
    uint32_t n_segs;
} rx_t;

static uint32_t S(const rx_t *r, uint32_t i)
{
    return r->una0 + i * MSS;
}

static void expect_seg(rx_t *r, uint32_t i)
{
    uint8_t psh = i + 1 == r->n_segs ? HS_TCP_PSH : 0;
    cap_t *c = fx_expect(r->f, &r->p, HS_TCP_ACK | psh, S(r, i), r->p.seq, MSS);
    assert_memory_equal(c->data, r->data + (size_t)i * MSS, MSS);
}

static void setup_conn(rx_t *r, uint32_t n_segs, bool sack)
{
    r->f = fx_new();
    fx_accept_opts(r->f, &r->p, HS_TCP_OPTF_MSS | (sack ? HS_TCP_OPTF_SACK_PERM : 0));
    r->tc = fs_conn(r->f, r->p.si);
    assert_int_equal(!!(r->tc->flags & HS_TCP_F_SACK), sack);
    r->una0 = r->p.ack;
    r->n_segs = n_segs;
    r->data = malloc(n_segs * MSS);
    fill_pat(r->data, 0, n_segs * MSS);
    fs_write(r->f, r->p.si, r->data, n_segs * MSS);
    for (uint32_t i = 0; i < 10; i++)
        expect_seg(r, i);
    assert_int_equal(fx_pending(r->f), 0);
}

static void teardown_conn(rx_t *r)
{
    free(r->data);
    fx_free(r->f);
}

/* An ACK of S(ack) from the peer carrying SACK blocks [S(b[2k]), S(b[2k+1])). */
static void sack_ack(rx_t *r, uint32_t ack, uint32_t n, const uint32_t *b)
{
    fx_seg_t s = {.flags = HS_TCP_ACK,
                  .seq = r->p.seq,
                  .ack = S(r, ack),
                  .wnd = r->p.wnd,
                  .opts = n ? HS_TCP_OPTF_SACK : 0,
                  .n_sack = (uint8_t)n};
    for (uint32_t i = 0; i < n; i++)
        s.sack[i] = (hs_tcp_sack_block_t){S(r, b[2 * i]), S(r, b[2 * i + 1])};
    r->p.ack = S(r, ack);
    assert_int_equal(fx_send(r->f, &s), HS_TCP_E_NONE);
}

static void test_two_holes_one_rtt(void **state)
{
    (void)state;
    rx_t r;
    setup_conn(&r, 30, true);
    hs_tcp_conn_t *tc = r.tc;
    /* S(0) arrives: cwnd 11, S(10) and S(11) go. S(1) and S(5) are lost. */
    sack_ack(&r, 1, 0, NULL);
    expect_seg(&r, 10);
    expect_seg(&r, 11);
    /* S(2), S(3) arrive: duplicates with SACK; limited transmit (RFC 3042) sends one new
     * segment for each. */
    sack_ack(&r, 1, 1, (uint32_t[]){2, 3});
    expect_seg(&r, 12);
    sack_ack(&r, 1, 1, (uint32_t[]){2, 4});
    expect_seg(&r, 13);
    assert_false(tc->flags & HS_TCP_F_RECOVERY);
    /* S(4): the third duplicate. Recovery with cwnd = ssthresh = flight / 2 (13 segments);
     * S(1) again. */
    sack_ack(&r, 1, 1, (uint32_t[]){2, 5});
    assert_true(tc->flags & HS_TCP_F_RECOVERY);
    assert_int_equal(tc->ssthresh, 13 * MSS / 2);
    assert_int_equal(tc->cwnd, 13 * MSS / 2);
    expect_seg(&r, 1);
    assert_int_equal(fx_pending(r.f), 0);
    /* S(6), S(7): the hole at S(5) has too little SACKed above it to be called lost; the
     * pipe (S(1) resent, S(5), S(8)..S(13)) is above cwnd. */
    sack_ack(&r, 1, 2, (uint32_t[]){6, 7, 2, 5});
    sack_ack(&r, 1, 2, (uint32_t[]){6, 8, 2, 5});
    /* S(8): S(5) is lost now; the pipe is S(1) + S(9)..S(13), 6 segments: no room yet. */
    sack_ack(&r, 1, 2, (uint32_t[]){6, 9, 2, 5});
    assert_int_equal(fx_pending(r.f), 0);
    /* S(9): room for one: S(5) goes in the same round trip, no partial ACK needed. */
    sack_ack(&r, 1, 2, (uint32_t[]){6, 10, 2, 5});
    expect_seg(&r, 5);
    assert_int_equal(fx_pending(r.f), 0);
    /* S(10), S(11) arriving let new data out as the pipe drains. */
    sack_ack(&r, 1, 2, (uint32_t[]){6, 11, 2, 5});
    expect_seg(&r, 14);
    sack_ack(&r, 1, 2, (uint32_t[]){6, 12, 2, 5});
    expect_seg(&r, 15);
    assert_int_equal(fx_pending(r.f), 0);
    /* The resent S(1) arrives: a partial ACK. */
    sack_ack(&r, 5, 1, (uint32_t[]){6, 14});
    assert_true(tc->flags & HS_TCP_F_RECOVERY);
    while (fx_pending(r.f)) /* whatever the pipe allows, all new */
        assert_true(hs_seq_geq(fx_take(r.f, &r.p)->h.seq, S(&r, 16)));
    /* The resent S(5) arrives: everything up to recover is acknowledged, recovery ends. */
    sack_ack(&r, 14, 0, NULL);
    assert_false(tc->flags & HS_TCP_F_RECOVERY);
    assert_int_equal(r.f->tw.stats[HS_TCP_S_FAST_RETRANSMITS], 1);
    assert_int_equal(r.f->tw.stats[HS_TCP_S_RETRANSMITS], 2);
    assert_int_equal(r.f->tw.stats[HS_TCP_S_TIMEOUTS], 0);
    assert_int_equal(tc->stats.timeouts, 0);
    teardown_conn(&r);
}

static void test_limited_transmit(void **state)
{
    (void)state;
    rx_t r;
    setup_conn(&r, 14, false);
    hs_tcp_conn_t *tc = r.tc;
    sack_ack(&r, 1, 0, NULL); /* cwnd 11: S(10), S(11) */
    expect_seg(&r, 10);
    expect_seg(&r, 11);
    /* RFC 3042: the first two duplicates send one new segment each, cwnd unchanged. */
    sack_ack(&r, 1, 0, NULL);
    expect_seg(&r, 12);
    assert_int_equal(tc->cwnd, 11 * MSS);
    sack_ack(&r, 1, 0, NULL);
    expect_seg(&r, 13);
    assert_int_equal(fx_pending(r.f), 0);
    /* Nothing more was written: the third duplicate only resends S(1). */
    sack_ack(&r, 1, 0, NULL);
    expect_seg(&r, 1);
    assert_int_equal(fx_pending(r.f), 0);
    assert_true(tc->flags & HS_TCP_F_RECOVERY);
    teardown_conn(&r);
}

static void test_timeout_skips_sacked(void **state)
{
    (void)state;
    rx_t r;
    setup_conn(&r, 10, true);
    hs_tcp_conn_t *tc = r.tc;
    /* S(0) and S(1) lost, S(2)..S(4) SACKed: with 3 SMSS SACKed above it S(0) is lost
     * after two duplicates (RFC 6675 5); cwnd = ssthresh = 5 segments, the pipe is S(0)
     * resent and S(5)..S(9). */
    sack_ack(&r, 0, 1, (uint32_t[]){2, 3});
    assert_int_equal(fx_pending(r.f), 0); /* nothing new to send */
    sack_ack(&r, 0, 1, (uint32_t[]){2, 5});
    assert_true(tc->flags & HS_TCP_F_RECOVERY);
    expect_seg(&r, 0);
    assert_int_equal(fx_pending(r.f), 0);
    /* Nothing more arrives: the timeout goes back to SND.UNA with cwnd 1. */
    fx_advance(r.f, 200 * MS);
    assert_int_equal(r.f->tw.stats[HS_TCP_S_TIMEOUTS], 1);
    expect_seg(&r, 0);
    assert_int_equal(fx_pending(r.f), 0);
    /* cwnd 2: S(1), then the resend skips S(2)..S(4), which the peer holds. */
    sack_ack(&r, 1, 1, (uint32_t[]){2, 5});
    expect_seg(&r, 1);
    assert_int_equal(fx_pending(r.f), 0);
    assert_int_equal(tc->snd_nxt, S(&r, 5));
    /* S(1) arrives, the ACK jumps over the SACKed data; cwnd 4: S(5)..S(8). */
    sack_ack(&r, 5, 0, NULL);
    for (uint32_t i = 5; i < 9; i++)
        expect_seg(&r, i);
    assert_int_equal(fx_pending(r.f), 0);
    assert_int_equal(tc->stats.retransmits, 7); /* S(0) twice, S(1), S(5)..S(8) */
    teardown_conn(&r);
}

static void test_tail_loss_probe(void **state)
{
    (void)state;
    rx_t r;
    setup_conn(&r, 11, true);
    hs_tcp_conn_t *tc = r.tc;
    /* The whole flight (or all its ACKs) is lost. After PTO = max(2 SRTT, 10 ms), long
     * before the 200 ms RTO, one probe: new data, beyond cwnd (RFC 8985 7.3). */
    assert_true(tc->flags & HS_TCP_F_HAVE_RTT);
    fx_advance(r.f, 9 * MS);
    assert_int_equal(fx_pending(r.f), 0);
    fx_advance(r.f, 2 * MS);
    expect_seg(&r, 10);
    assert_int_equal(fx_pending(r.f), 0);
    assert_int_equal(r.f->tw.stats[HS_TCP_S_TLP_PROBES], 1);
    assert_int_equal(r.f->tw.stats[HS_TCP_S_TIMEOUTS], 0);
    assert_int_equal(tc->cwnd, 10 * MSS); /* a probe is not a congestion signal */
    /* Its ACK carries SACK: two more and S(0) is lost by the scoreboard. Here nothing
     * answers: one probe only, then the RTO. */
    fx_advance(r.f, 200 * MS);
    assert_int_equal(r.f->tw.stats[HS_TCP_S_TLP_PROBES], 1);
    assert_int_equal(r.f->tw.stats[HS_TCP_S_TIMEOUTS], 1);
    expect_seg(&r, 0);
    assert_int_equal(fx_pending(r.f), 0);
    teardown_conn(&r);

    /* Nothing new to send: the probe is the last segment again. An ACK of new data lets
     * another probe go later. */
    setup_conn(&r, 10, true);
    tc = r.tc;
    fx_advance(r.f, 11 * MS);
    cap_t *c = fx_expect(r.f, &r.p, HS_TCP_ACK, S(&r, 9), r.p.seq, MSS);
    assert_memory_equal(c->data, r.data + 9 * MSS, MSS);
    assert_int_equal(fx_pending(r.f), 0);
    sack_ack(&r, 1, 1, (uint32_t[]){9, 10}); /* S(0) and the probe arrived */
    assert_int_equal(fx_pending(r.f), 0);
    fx_advance(r.f, 11 * MS);
    assert_int_equal(r.f->tw.stats[HS_TCP_S_TLP_PROBES], 2);
    c = fx_expect(r.f, &r.p, HS_TCP_ACK, S(&r, 9), r.p.seq, MSS);
    assert_int_equal(r.f->tw.stats[HS_TCP_S_TIMEOUTS], 0);
    teardown_conn(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sb_merge),
        cmocka_unit_test(test_sb_bound_and_prune),
        cmocka_unit_test(test_sb_update_filters),
        cmocka_unit_test(test_pipe_and_next_seg),
        cmocka_unit_test(test_two_holes_one_rtt),
        cmocka_unit_test(test_limited_transmit),
        cmocka_unit_test(test_timeout_skips_sacked),
        cmocka_unit_test(test_tail_loss_probe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
