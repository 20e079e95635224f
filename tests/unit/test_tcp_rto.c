/* Retransmission timeouts (RFC 6298) on the virtual clock: SRTT/RTTVAR/RTO against the
 * RFC's formulas, Karn's rule, one timed segment at a time, retransmission on timeout with
 * exponential backoff and its bounds, go-back-N after the timeout with cwnd at one segment
 * (RFC 5681 3.1), and giving up after max_retries. */
#include "tcp/tcp.h" /* (also tells the build to link hs_tcp) */
#include "tcp_fake_session.h"

#include <math.h>

/* A passive open whose handshake ACK arrives rtt after our SYN-ACK (no timestamps). */
static void accept_with_rtt(fx_t *f, fx_peer_t *p, uint64_t rtt)
{
    fs_listen(f, 0, US_PORT);
    *p = (fx_peer_t){.seq = 1000, .wnd = 65535, .lport = US_PORT, .rport = PEER_PORT};
    fx_send(f,
            &(fx_seg_t){.flags = HS_TCP_SYN, .seq = p->seq, .opts = HS_TCP_OPTF_MSS, .mss = 1460});
    p->seq++;
    cap_t *sa = fx_take(f, p);
    p->ack = sa->h.seq + 1;
    fx_advance(f, rtt);
    fx_peer_send(f, p, 0, NULL, 0);
    p->si = f->sw.last_accepted;
}

/* RFC 6298 2.2-2.3 in real numbers. */
typedef struct {
    double srtt, rttvar, rto;
    bool init;
} ref_t;

static void ref_sample(ref_t *r, double rtt, double g, double min_rto)
{
    if (!r->init) {
        r->srtt = rtt;
        r->rttvar = rtt / 2;
        r->init = true;
    } else {
        r->rttvar = 0.75 * r->rttvar + 0.25 * fabs(r->srtt - rtt);
        r->srtt = 0.875 * r->srtt + 0.125 * rtt;
    }
    r->rto = fmax(r->srtt + fmax(g, 4 * r->rttvar), min_rto);
}

static void test_rto_estimator(void **state)
{
    (void)state;
    hs_tcp_config_t cfg;
    fx_tcp_config(&cfg);
    cfg.rto_min_ns = MS; /* so the estimator itself shows */
    fx_t *f = fx_new_cfg(&cfg);
    fx_peer_t p;
    accept_with_rtt(f, &p, 10 * MS);
    hs_tcp_conn_t *tc = fs_conn(f, p.si);
    ref_t ref = {0};
    ref_sample(&ref, 10000, 1000, 1000);
    assert_int_equal(tc->srtt_us, 10000);
    assert_int_equal(tc->rttvar_us, 5000);
    assert_int_equal(tc->rto_us, 30000); /* 10 + 4 * 5 ms */
    /* Each below the RTO of its time, or the timer would fire first (and Karn drop it). */
    uint64_t rtts[] = {20, 5, 12, 12, 25, 35, 7, 1, 30};
    uint8_t d[100] = {0};
    for (size_t i = 0; i < HS_ARRAY_LEN(rtts); i++) {
        fs_write(f, p.si, d, sizeof(d));
        fx_take(f, &p);
        fx_advance(f, rtts[i] * MS);
        p.ack += sizeof(d);
        fx_peer_send(f, &p, 0, NULL, 0);
        ref_sample(&ref, (double)rtts[i] * 1000, 1000, 1000);
        /* Integer microseconds: within a few of the exact values. */
        assert_true(fabs(tc->srtt_us - ref.srtt) <= 8);
        assert_true(fabs(tc->rttvar_us - ref.rttvar) <= 8);
        assert_true(fabs(tc->rto_us - ref.rto) <= 40);
        assert_int_equal(hs_tcp_rto_ns(&f->tw, tc), (uint64_t)tc->rto_us * 1000);
    }
    fx_free(f);
}

static void test_rto_min_and_max(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    accept_with_rtt(f, &p, 2 * MS);
    hs_tcp_conn_t *tc = fs_conn(f, p.si);
    assert_int_equal(tc->rto_us, 200000);          /* RFC 6298 2.4 floor, at Linux's 200 ms */
    hs_tcp_rtt_sample(&f->tw, tc, 100u * 1000000); /* a 100 s sample */
    assert_int_equal(hs_tcp_rto_ns(&f->tw, tc), 60 * SEC); /* 2.5: capped */
    fx_free(f);
}

static void test_one_timed_segment_karn(void **state)
{
    (void)state;
    hs_tcp_config_t cfg;
    fx_tcp_config(&cfg);
    cfg.rto_min_ns = MS;
    fx_t *f = fx_new_cfg(&cfg);
    fx_peer_t p;
    accept_with_rtt(f, &p, 10 * MS);
    hs_tcp_conn_t *tc = fs_conn(f, p.si);
    assert_true(hs_tcp_set_nodelay(&f->tw, fs_sess(f, p.si)->conn_index, true) == 0);
    uint8_t d[100] = {0};
    fs_write(f, p.si, d, 100); /* timed */
    fx_advance(f, 5 * MS);
    fs_write(f, p.si, d, 100); /* not timed: one sample at a time */
    fx_take(f, &p);
    fx_take(f, &p);
    fx_advance(f, 15 * MS);
    p.ack += 100;
    fx_peer_send(f, &p, 0, NULL, 0); /* the first: 20 ms */
    assert_int_equal(tc->srtt_us, (7 * 10000 + 20000) / 8);
    uint32_t srtt = tc->srtt_us;
    fx_advance(f, 1 * MS);
    p.ack += 100;
    fx_peer_send(f, &p, 0, NULL, 0); /* the second was not timed */
    assert_int_equal(tc->srtt_us, srtt);
    /* Karn: a retransmitted segment gives no sample. */
    fs_write(f, p.si, d, 100);
    fx_take(f, &p);
    fx_advance(f, hs_tcp_rto_ns(&f->tw, tc) + MS); /* a timer fires up to a tick late */
    fx_expect(f, &p, HS_TCP_ACK | HS_TCP_PSH, p.ack, p.seq, 100);
    fx_advance(f, 3 * MS);
    p.ack += 100;
    fx_peer_send(f, &p, 0, NULL, 0);
    assert_int_equal(tc->srtt_us, srtt);
    assert_int_equal(tc->backoff, 0); /* new data acknowledged: backoff cleared */
    fx_free(f);
}

static void test_retransmit_backoff_and_go_back_n(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    accept_with_rtt(f, &p, 10 * MS);
    hs_tcp_conn_t *tc = fs_conn(f, p.si);
    uint8_t d[3000];
    fill_pat(d, 0, sizeof(d));
    fs_write(f, p.si, d, sizeof(d));
    uint32_t una = p.ack;
    for (int i = 0; i < 3; i++)
        fx_take(f, &p);
    /* 200 ms, then 400, then 800: only the first segment goes each time (cwnd 1 MSS). */
    uint64_t gaps[] = {200, 400, 800};
    for (int i = 0; i < 3; i++) {
        fx_advance(f, gaps[i] * MS - MS);
        assert_int_equal(fx_pending(f), 0);
        fx_advance(f, MS);
        cap_t *c = fx_expect(f, &p, HS_TCP_ACK, una, p.seq, 1460);
        assert_memory_equal(c->data, d, 1460);
        assert_int_equal(fx_pending(f), 0);
    }
    assert_int_equal(tc->backoff, 3);
    assert_int_equal(tc->cwnd, 1460);
    assert_int_equal(tc->ssthresh, 2 * 1460); /* max(FlightSize / 2, 2 SMSS) */
    assert_int_equal(f->tw.stats[HS_TCP_S_TIMEOUTS], 3);
    assert_true(tc->flags & HS_TCP_F_RTO_RECOVERY);
    /* The first segment arrives: slow start from 1 MSS resends what followed it. */
    p.ack = una + 1460;
    fx_peer_send(f, &p, 0, NULL, 0);
    assert_int_equal(tc->backoff, 0);
    assert_int_equal(tc->cwnd, 2 * 1460);
    cap_t *c = fx_expect(f, &p, HS_TCP_ACK, una + 1460, p.seq, 1460);
    assert_memory_equal(c->data, d + 1460, 1460);
    c = fx_expect(f, &p, HS_TCP_ACK | HS_TCP_PSH, una + 2920, p.seq, 80);
    assert_memory_equal(c->data, d + 2920, 80);
    assert_int_equal(f->tw.stats[HS_TCP_S_RETRANSMITS], 5);
    p.ack = una + 3000;
    fx_peer_send(f, &p, 0, NULL, 0);
    assert_false(tc->flags & HS_TCP_F_RTO_RECOVERY);
    assert_false(hs_tcp_timer_running(tc, HS_TCP_T_RETRANSMIT));
    fx_free(f);
}

static void test_ack_beyond_resent_data(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    accept_with_rtt(f, &p, 10 * MS);
    hs_tcp_conn_t *tc = fs_conn(f, p.si);
    uint8_t d[3000] = {0};
    fs_write(f, p.si, d, sizeof(d));
    uint32_t una = p.ack;
    fx_clear_caps(f);
    fx_advance(f, 200 * MS);
    fx_take(f, &p); /* the first segment again, after the timeout */
    /* The peer had everything but the first: one ACK covers all, nothing more is sent. */
    p.ack = una + 3000;
    fx_peer_send(f, &p, 0, NULL, 0);
    assert_int_equal(tc->snd_una, una + 3000);
    assert_int_equal(tc->snd_nxt, una + 3000);
    assert_int_equal(fx_pending(f), 0);
    fx_free(f);
}

static void test_give_up_after_max_retries(void **state)
{
    (void)state;
    hs_tcp_config_t cfg;
    fx_tcp_config(&cfg);
    cfg.max_retries = 15;
    fx_t *f = fx_new_cfg(&cfg);
    fx_peer_t p;
    accept_with_rtt(f, &p, 10 * MS);
    fs_write(f, p.si, "data", 4);
    fx_take(f, &p);
    uint32_t ci = fs_sess(f, p.si)->conn_index;
    /* 0.2, 0.4, ... 51.2 s, then capped at 60 s: 15 retransmissions, then ETIMEDOUT. */
    uint64_t t_last = f->now;
    for (int i = 0; i < 15; i++) {
        uint64_t gap = HS_MIN((200 * MS) << i, 60 * SEC);
        fx_advance(f, gap);
        fx_expect(f, &p, HS_TCP_ACK | HS_TCP_PSH, p.ack, p.seq, 4);
        assert_int_equal(f->now - t_last, gap);
        t_last = f->now;
    }
    assert_non_null(hs_tcp_conn_get(&f->tw, ci));
    fx_advance(f, 60 * SEC);
    assert_null(hs_tcp_conn_get(&f->tw, ci));
    assert_true(fs_sess(f, p.si)->reset);
    assert_true(fs_sess(f, p.si)->closed);
    assert_int_equal(fx_pending(f), 0); /* no RST for a peer that is gone (as Linux) */
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rto_estimator),
        cmocka_unit_test(test_rto_min_and_max),
        cmocka_unit_test(test_one_timed_segment_karn),
        cmocka_unit_test(test_retransmit_backoff_and_go_back_n),
        cmocka_unit_test(test_ack_beyond_resent_data),
        cmocka_unit_test(test_give_up_after_max_retries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
