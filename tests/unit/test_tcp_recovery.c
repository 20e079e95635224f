/* Congestion control and loss recovery: slow start with byte counting and congestion
 * avoidance (RFC 5681 3.1, RFC 3465), what counts as a duplicate ACK (RFC 5681 2), fast
 * retransmit on the third one after limited transmit (RFC 3042), window inflation, NewReno partial
 * and full ACKs (RFC 6582 3.2), and no fast retransmit for losses from before a timeout (RFC 6582
 * 4). MSS 1460, no timestamps, initial window 10 segments. */
#include "tcp/tcp.h" /* (also tells the build to link hs_tcp) */
#include "tcp_fake_session.h"

#define MSS 1460u

typedef struct {
    fx_t *f;
    fx_peer_t p;
    hs_tcp_conn_t *tc;
    uint32_t una0; /* first data byte */
    uint8_t *data;
    uint32_t n_segs;
} rx_t;

static uint32_t S(const rx_t *r, uint32_t i)
{
    return r->una0 + i * MSS;
}

/* A segment of ours: seq S(i), a full one, with the right bytes. */
static void expect_seg(rx_t *r, uint32_t i)
{
    uint8_t psh = i + 1 == r->n_segs ? HS_TCP_PSH : 0; /* the end of what was written */
    cap_t *c = fx_expect(r->f, &r->p, HS_TCP_ACK | psh, S(r, i), r->p.seq, MSS);
    assert_memory_equal(c->data, r->data + (size_t)i * MSS, MSS);
}

/* Established, with n_segs full segments written; the first 10 go out (initial window). */
static void setup_conn(rx_t *r, uint32_t n_segs)
{
    r->f = fx_new();
    fx_accept(r->f, &r->p, false);
    r->tc = fs_conn(r->f, r->p.si);
    r->una0 = r->p.ack;
    r->n_segs = n_segs;
    r->data = malloc(n_segs * MSS);
    fill_pat(r->data, 0, n_segs * MSS);
    fs_write(r->f, r->p.si, r->data, n_segs * MSS);
    assert_int_equal(r->tc->cwnd, 10 * MSS);
    for (uint32_t i = 0; i < 10; i++)
        expect_seg(r, i);
    assert_int_equal(fx_pending(r->f), 0);
}

static void teardown_conn(rx_t *r)
{
    free(r->data);
    fx_free(r->f);
}

static void ack_to(rx_t *r, uint32_t ack)
{
    r->p.ack = ack;
    fx_peer_send(r->f, &r->p, 0, NULL, 0);
}

static void test_slow_start_and_avoidance(void **state)
{
    (void)state;
    rx_t r;
    setup_conn(&r, 40);
    /* Slow start: each ACK adds what it acknowledged, at most 2 SMSS (RFC 3465 L = 2). */
    ack_to(&r, S(&r, 1));
    assert_int_equal(r.tc->cwnd, 11 * MSS);
    ack_to(&r, S(&r, 3));
    assert_int_equal(r.tc->cwnd, 13 * MSS);
    ack_to(&r, S(&r, 7));
    assert_int_equal(r.tc->cwnd, 15 * MSS); /* 4 segments acknowledged, 2 counted */
    fx_clear_caps(r.f);
    /* Congestion avoidance: one SMSS per cwnd of bytes acknowledged. */
    r.tc->ssthresh = r.tc->cwnd;
    uint32_t cw = r.tc->cwnd;
    uint32_t una = S(&r, 7);
    while (una + MSS <= S(&r, 7) + cw - MSS) { /* just short of a cwnd */
        una += MSS;
        ack_to(&r, una);
        assert_int_equal(r.tc->cwnd, cw);
    }
    una += MSS;
    ack_to(&r, una);
    assert_int_equal(r.tc->cwnd, cw + MSS);
    teardown_conn(&r);
}

static void test_what_is_a_dupack(void **state)
{
    (void)state;
    rx_t r;
    setup_conn(&r, 10);
    ack_to(&r, S(&r, 1));
    fx_peer_send(r.f, &r.p, 0, NULL, 0);
    assert_int_equal(r.tc->dupacks, 1);
    r.p.wnd = 60000; /* a window update is not a duplicate */
    fx_peer_send(r.f, &r.p, 0, NULL, 0);
    assert_int_equal(r.tc->dupacks, 1);
    fx_peer_send(r.f, &r.p, 0, "data", 4); /* nor is a segment with data */
    assert_int_equal(r.tc->dupacks, 1);
    fx_peer_send(r.f, &r.p, 0, NULL, 0);
    assert_int_equal(r.tc->dupacks, 2);
    assert_int_equal(r.f->tw.stats[HS_TCP_S_DUPACKS_IN], 2);
    teardown_conn(&r);
}

static void test_fast_retransmit_and_newreno(void **state)
{
    (void)state;
    rx_t r;
    setup_conn(&r, 30);
    hs_tcp_conn_t *tc = r.tc;
    /* S(0) arrives: cwnd 11 segments, S(10) and S(11) go. */
    ack_to(&r, S(&r, 1));
    expect_seg(&r, 10);
    expect_seg(&r, 11);
    /* S(1) was lost: duplicate ACKs. The first two send one new segment each (RFC 3042
     * limited transmit), the third starts fast retransmit. */
    ack_to(&r, S(&r, 1));
    expect_seg(&r, 12);
    ack_to(&r, S(&r, 1));
    expect_seg(&r, 13);
    assert_int_equal(fx_pending(r.f), 0);
    assert_int_equal(tc->cwnd, 11 * MSS); /* limited transmit leaves cwnd alone */
    ack_to(&r, S(&r, 1));
    expect_seg(&r, 1);
    assert_int_equal(fx_pending(r.f), 0);
    assert_true(tc->flags & HS_TCP_F_RECOVERY);
    assert_int_equal(tc->ssthresh, 13 * MSS / 2); /* FlightSize 13 segments, halved */
    assert_int_equal(tc->cwnd, 13 * MSS / 2 + 3 * MSS);
    assert_int_equal(tc->recover, S(&r, 14) - 1);
    assert_int_equal(r.f->tw.stats[HS_TCP_S_FAST_RETRANSMITS], 1);
    /* Each further duplicate inflates cwnd by one SMSS; new data goes once it fits. */
    for (int i = 0; i < 4; i++) {
        ack_to(&r, S(&r, 1));
        assert_int_equal(fx_pending(r.f), 0);
    }
    ack_to(&r, S(&r, 1));
    expect_seg(&r, 14);
    assert_int_equal(fx_pending(r.f), 0);
    assert_int_equal(tc->cwnd, 13 * MSS / 2 + 8 * MSS);
    /* A partial ACK (S(6) lost too): resend it at once, deflate, stay in recovery. */
    uint32_t cw = tc->cwnd;
    ack_to(&r, S(&r, 6));
    expect_seg(&r, 6);
    assert_true(tc->flags & HS_TCP_F_RECOVERY);
    assert_int_equal(tc->cwnd, cw - 5 * MSS + MSS);
    expect_seg(&r, 15); /* and what the deflated window allows */
    assert_int_equal(fx_pending(r.f), 0);
    assert_int_equal(r.f->tw.stats[HS_TCP_S_PARTIAL_ACKS], 1);
    /* A full ACK, beyond recover: recovery ends with cwnd = min(ssthresh, flight + SMSS). */
    ack_to(&r, S(&r, 16));
    assert_false(tc->flags & HS_TCP_F_RECOVERY);
    assert_int_equal(tc->cwnd, 2 * MSS);
    expect_seg(&r, 16);
    expect_seg(&r, 17);
    assert_int_equal(fx_pending(r.f), 0);
    assert_int_equal(tc->dupacks, 0);
    teardown_conn(&r);
}

static void test_no_fast_retransmit_after_timeout(void **state)
{
    (void)state;
    rx_t r;
    setup_conn(&r, 10);
    hs_tcp_conn_t *tc = r.tc;
    fx_advance(r.f, 200 * MS); /* the RTO: S(0) again, recover = highest sent */
    expect_seg(&r, 0);
    assert_int_equal(tc->recover, S(&r, 10) - 1);
    ack_to(&r, S(&r, 1)); /* S(1) again, S(2) */
    expect_seg(&r, 1);
    expect_seg(&r, 2);
    /* Duplicate ACKs for data sent before the timeout (ack <= recover): RFC 6582 4 says
     * these must not start another fast retransmit. */
    for (int i = 0; i < 4; i++)
        ack_to(&r, S(&r, 1));
    assert_false(tc->flags & HS_TCP_F_RECOVERY);
    assert_int_equal(fx_pending(r.f), 0);
    assert_int_equal(r.f->tw.stats[HS_TCP_S_FAST_RETRANSMITS], 0);
    teardown_conn(&r);
}

static void test_recovery_then_timeout(void **state)
{
    (void)state;
    rx_t r;
    setup_conn(&r, 12);
    hs_tcp_conn_t *tc = r.tc;
    for (int i = 0; i < 3; i++)
        ack_to(&r, S(&r, 0)); /* nothing acknowledged, three duplicates */
    expect_seg(&r, 10);       /* limited transmit on the first two (RFC 3042) */
    expect_seg(&r, 11);
    expect_seg(&r, 0);
    assert_true(tc->flags & HS_TCP_F_RECOVERY);
    /* The retransmission is lost too: the timer ends recovery and goes back to S(0). */
    fx_advance(r.f, 200 * MS);
    expect_seg(&r, 0);
    assert_false(tc->flags & HS_TCP_F_RECOVERY);
    assert_int_equal(tc->cwnd, MSS);
    assert_int_equal(r.f->tw.stats[HS_TCP_S_TIMEOUTS], 1);
    teardown_conn(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_start_and_avoidance),
        cmocka_unit_test(test_what_is_a_dupack),
        cmocka_unit_test(test_fast_retransmit_and_newreno),
        cmocka_unit_test(test_no_fast_retransmit_after_timeout),
        cmocka_unit_test(test_recovery_then_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
