/* Blind in-window attacks (RFC 5961) and old segments (RFC 7323 PAWS): RST exactly at
 * RCV.NXT resets, elsewhere in the window gets a challenge ACK, outside it is dropped; a SYN
 * on a synchronized connection gets a challenge ACK; ACKs outside [SND.UNA - MAX.SND.WND,
 * SND.NXT] are dropped; challenge ACKs are rate limited; old timestamps are refused. */
#include "tcp/tcp.h" /* (also tells the build to link hs_tcp) */
#include "tcp_fake_session.h"

static void test_rst_exact_resets(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    uint32_t ci = fs_sess(f, p.si)->conn_index;
    assert_int_equal(fx_peer_send(f, &p, HS_TCP_RST, NULL, 0), HS_TCP_E_NONE);
    fs_session_t *s = fs_sess(f, p.si);
    assert_true(s->reset);
    assert_true(s->closed);
    assert_int_equal(s->n_closed, 1);
    assert_int_equal(fx_pending(f), 0); /* no answer to a RST */
    assert_null(hs_tcp_conn_get(&f->tw, ci));
    assert_int_equal(fs_n_table(&f->sw), 0);
    assert_int_equal(f->tw.stats[HS_TCP_S_RST_IN], 1);
    fx_free(f);
}

static void test_rst_in_window_challenge_ack(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    uint32_t rcv_nxt = p.seq;
    p.seq += 1000; /* inside the window, not at RCV.NXT */
    assert_int_equal(fx_peer_send(f, &p, HS_TCP_RST, NULL, 0), HS_TCP_E_RST_IN_WINDOW);
    /* RFC 5961 3.2: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> */
    fx_expect(f, &p, HS_TCP_ACK, p.ack, rcv_nxt, 0);
    assert_false(fs_sess(f, p.si)->reset);
    assert_int_equal(fs_conn(f, p.si)->state, HS_TCP_ESTABLISHED);
    assert_int_equal(f->tw.stats[HS_TCP_S_CHALLENGE_ACKS], 1);
    /* The genuine peer answers the challenge with a RST at the sequence it was told. */
    p.seq = rcv_nxt;
    assert_int_equal(fx_peer_send(f, &p, HS_TCP_RST, NULL, 0), HS_TCP_E_NONE);
    assert_true(fs_sess(f, p.si)->reset);
    fx_free(f);
}

static void test_rst_out_of_window_dropped(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    uint32_t keep = p.seq;
    p.seq += 100000;
    assert_int_equal(fx_peer_send(f, &p, HS_TCP_RST, NULL, 0), HS_TCP_E_RST_OUT_OF_WINDOW);
    p.seq = keep - 10;
    assert_int_equal(fx_peer_send(f, &p, HS_TCP_RST, NULL, 0), HS_TCP_E_RST_OUT_OF_WINDOW);
    assert_int_equal(fx_pending(f), 0);
    assert_false(fs_sess(f, p.si)->reset);
    fx_free(f);
}

static void test_syn_in_window_challenge_ack(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    uint32_t rcv_nxt = p.seq;
    p.seq += 10;
    assert_int_equal(fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN, .seq = p.seq}),
                     HS_TCP_E_SYN_IN_WINDOW);
    fx_expect(f, &p, HS_TCP_ACK, p.ack, rcv_nxt, 0);
    assert_int_equal(fs_conn(f, p.si)->state, HS_TCP_ESTABLISHED);
    /* At RCV.NXT exactly, with an ACK: the same (RFC 5961 4.2, whatever the number). */
    assert_int_equal(
        fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN | HS_TCP_ACK, .seq = rcv_nxt, .ack = p.ack}),
        HS_TCP_E_SYN_IN_WINDOW);
    fx_expect(f, &p, HS_TCP_ACK, p.ack, rcv_nxt, 0);
    /* Outside the window: unacceptable, answered with an ACK as any such segment. */
    assert_int_equal(fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN, .seq = rcv_nxt - 5000}),
                     HS_TCP_E_NOT_IN_WINDOW);
    fx_expect(f, &p, HS_TCP_ACK, p.ack, rcv_nxt, 0);
    assert_false(fs_sess(f, p.si)->reset);
    fx_free(f);
}

static void test_ack_acceptability(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    uint8_t d[100] = {0};
    fs_write(f, p.si, d, sizeof(d));
    fx_take(f, &p);
    uint32_t una = p.ack;
    /* Acknowledging data not sent: an ACK back, and the segment (its data) dropped. */
    p.ack = una + 500;
    assert_int_equal(fx_peer_send(f, &p, 0, "data", 4), HS_TCP_E_ACK_TOO_NEW);
    p.seq -= 4;
    fx_expect(f, &p, HS_TCP_ACK, una + 100, p.seq, 0);
    assert_int_equal(fs_readable(f, p.si), 0);
    /* RFC 5961 5.2: below SND.UNA - MAX.SND.WND (65535): dropped with a challenge ACK. */
    p.ack = una - 70000;
    assert_int_equal(fx_peer_send(f, &p, 0, "data", 4), HS_TCP_E_ACK_TOO_OLD);
    p.seq -= 4;
    fx_expect(f, &p, HS_TCP_ACK, una + 100, p.seq, 0);
    assert_int_equal(fs_readable(f, p.si), 0);
    /* An old ACK within MAX.SND.WND is fine: its data is taken. */
    p.ack = una - 10;
    assert_int_equal(fx_peer_send(f, &p, 0, "data", 4), HS_TCP_E_NONE);
    assert_int_equal(fs_readable(f, p.si), 4);
    fx_free(f);
}

static void test_challenge_ack_rate_limit(void **state)
{
    (void)state;
    hs_tcp_config_t cfg;
    fx_tcp_config(&cfg);
    cfg.challenge_ack_limit = 3;
    fx_t *f = fx_new_cfg(&cfg);
    fx_peer_t p;
    fx_accept(f, &p, false);
    uint32_t rcv_nxt = p.seq;
    for (int i = 0; i < 5; i++) {
        p.seq = rcv_nxt + 100 + (uint32_t)i;
        fx_peer_send(f, &p, HS_TCP_RST, NULL, 0);
    }
    assert_int_equal(fx_pending(f), 3);
    assert_int_equal(f->tw.stats[HS_TCP_S_CHALLENGE_ACK_LIMITED], 2);
    fx_clear_caps(f);
    fx_advance(f, SEC); /* a new second, a new allowance */
    fx_peer_send(f, &p, HS_TCP_RST, NULL, 0);
    assert_int_equal(fx_pending(f), 1);
    fx_free(f);
}

static void test_paws(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, true);
    hs_tcp_conn_t *tc = fs_conn(f, p.si);
    uint8_t d[10] = {1};
    fx_peer_send(f, &p, 0, d, sizeof(d));
    fx_take(f, &p);
    uint32_t recent = tc->ts_recent;
    assert_int_equal(recent, p.tsval);
    /* RFC 7323 5.3: an older TSval makes the segment unacceptable: ACK, drop. */
    p.tsval = recent - 10;
    assert_int_equal(fx_peer_send(f, &p, 0, d, sizeof(d)), HS_TCP_E_PAWS);
    p.seq -= sizeof(d);
    fx_expect(f, &p, HS_TCP_ACK, p.ack, p.seq, 0);
    assert_int_equal(fs_readable(f, p.si), sizeof(d));
    assert_int_equal(tc->ts_recent, recent);
    /* A RST is not subject to PAWS (R1). */
    assert_int_equal(fx_peer_send(f, &p, HS_TCP_RST, NULL, 0), HS_TCP_E_NONE);
    assert_true(fs_sess(f, p.si)->reset);
    fx_free(f);
}

static void test_paws_after_24_days_idle(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, true);
    hs_tcp_conn_t *tc = fs_conn(f, p.si);
    /* RFC 7323 5.5: TS.Recent older than 24 days is invalid; an old TSval passes. */
    f->now += 25ull * 86400 * SEC;
    p.tsval -= 1000;
    assert_int_equal(fx_peer_send(f, &p, 0, "x", 1), HS_TCP_E_NONE);
    assert_int_equal(fs_readable(f, p.si), 1);
    assert_int_equal(tc->ts_recent, p.tsval);
    fx_free(f);
}

static void test_missing_timestamp_dropped(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, true);
    p.ts = false;
    /* RFC 7323 3.2: once negotiated, a non-RST segment without timestamps is dropped. */
    assert_int_equal(fx_peer_send(f, &p, 0, "x", 1), HS_TCP_E_NO_TIMESTAMP);
    assert_int_equal(fs_readable(f, p.si), 0);
    assert_int_equal(fx_pending(f), 0);
    p.seq--;
    assert_int_equal(fx_peer_send(f, &p, HS_TCP_RST, NULL, 0), HS_TCP_E_NONE);
    assert_true(fs_sess(f, p.si)->reset);
    fx_free(f);
}

static void test_old_pure_ack_answered(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    /* A keepalive-style probe at RCV.NXT - 1 is unacceptable: the ACK is the answer. */
    p.seq--;
    assert_int_equal(fx_peer_send(f, &p, 0, NULL, 0), HS_TCP_E_NOT_IN_WINDOW);
    fx_expect(f, &p, HS_TCP_ACK, p.ack, p.seq + 1, 0);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rst_exact_resets),
        cmocka_unit_test(test_rst_in_window_challenge_ack),
        cmocka_unit_test(test_rst_out_of_window_dropped),
        cmocka_unit_test(test_syn_in_window_challenge_ack),
        cmocka_unit_test(test_ack_acceptability),
        cmocka_unit_test(test_challenge_ack_rate_limit),
        cmocka_unit_test(test_paws),
        cmocka_unit_test(test_paws_after_24_days_idle),
        cmocka_unit_test(test_missing_timestamp_dropped),
        cmocka_unit_test(test_old_pure_ack_answered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
