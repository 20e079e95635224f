/* Closing (RFC 9293 3.6, 3.10.4, 3.10.7.4): active, passive and simultaneous close, FIN
 * after queued data, half-close both ways, TIME-WAIT (2 MSL, restarted by a retransmitted
 * FIN, reuse by a new SYN per RFC 6191), FIN-WAIT-2 timeout, FIN retransmission, a FIN
 * ahead of missing data, abort, and keepalive. */
#include "tcp/tcp.h" /* (also tells the build to link hs_tcp) */
#include "tcp_fake_session.h"

static uint32_t conn_of(fx_t *f, fx_peer_t *p)
{
    return fs_sess(f, p->si)->conn_index;
}

static void close_app(fx_t *f, fx_peer_t *p)
{
    hs_tcp_close(&f->tw, conn_of(f, p));
    hs_tcp_flush(&f->tw);
}

static void test_active_close(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    hs_tcp_conn_t *tc = fs_conn(f, p.si);
    close_app(f, &p);
    fx_expect(f, &p, HS_TCP_FIN | HS_TCP_ACK, p.ack, p.seq, 0);
    assert_int_equal(tc->state, HS_TCP_FIN_WAIT_1);
    p.ack++;
    fx_peer_send(f, &p, 0, NULL, 0);
    assert_int_equal(tc->state, HS_TCP_FIN_WAIT_2);
    assert_int_equal(fx_pending(f), 0);
    assert_false(fs_sess(f, p.si)->closed);
    fx_peer_send(f, &p, HS_TCP_FIN, NULL, 0);
    fx_expect(f, &p, HS_TCP_ACK, p.ack, p.seq, 0);
    assert_int_equal(tc->state, HS_TCP_TIME_WAIT);
    fs_session_t *s = fs_sess(f, p.si);
    assert_true(s->closing);
    assert_true(s->closed); /* TCP is done with the session in TIME-WAIT */
    assert_false(s->reset);
    assert_int_equal(f->tw.n_time_wait, 1);
    /* 2 MSL (60 s) later the connection goes, and its 5-tuple with it. */
    fx_advance(f, 60 * SEC - 10 * MS);
    assert_non_null(hs_tcp_conn_get(&f->tw, conn_of(f, &p)));
    fx_advance(f, 20 * MS);
    assert_null(hs_tcp_conn_get(&f->tw, conn_of(f, &p)));
    assert_int_equal(fs_n_table(&f->sw), 0);
    assert_int_equal(f->tw.n_time_wait, 0);
    assert_int_equal(s->n_closed, 1);
    assert_int_equal(fx_pending(f), 0);
    fx_free(f);
}

static void test_fin_follows_queued_data(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    uint8_t d[3000];
    fill_pat(d, 0, sizeof(d));
    assert_int_equal(hs_fifo_enqueue(&fs_sess(f, p.si)->tx, d, sizeof(d)), 3000);
    hs_tcp_app_tx(&f->tw, conn_of(f, &p));
    close_app(f, &p); /* data and close in one go: the FIN rides on the last segment */
    fx_expect(f, &p, HS_TCP_ACK, p.ack, p.seq, 1460);
    fx_expect(f, &p, HS_TCP_ACK, p.ack + 1460, p.seq, 1460);
    cap_t *c = fx_expect(f, &p, HS_TCP_ACK | HS_TCP_PSH | HS_TCP_FIN, p.ack + 2920, p.seq, 80);
    assert_memory_equal(c->data, d + 2920, 80);
    assert_int_equal(fs_conn(f, p.si)->fin_seq, p.ack + 3000);
    fx_free(f);
}

static void test_passive_close(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    hs_tcp_conn_t *tc = fs_conn(f, p.si);
    fx_peer_send(f, &p, HS_TCP_FIN, NULL, 0);
    fx_expect(f, &p, HS_TCP_ACK, p.ack, p.seq, 0);
    assert_int_equal(tc->state, HS_TCP_CLOSE_WAIT);
    assert_true(fs_sess(f, p.si)->closing);
    /* The app may still send (half-close), then closes. */
    fs_write(f, p.si, "bye", 3);
    fx_expect(f, &p, HS_TCP_ACK | HS_TCP_PSH, p.ack, p.seq, 3);
    close_app(f, &p);
    fx_expect(f, &p, HS_TCP_FIN | HS_TCP_ACK, p.ack + 3, p.seq, 0);
    assert_int_equal(tc->state, HS_TCP_LAST_ACK);
    uint32_t ci = conn_of(f, &p);
    p.ack += 4;
    fx_peer_send(f, &p, 0, NULL, 0);
    assert_null(hs_tcp_conn_get(&f->tw, ci));
    assert_true(fs_sess(f, p.si)->closed);
    assert_false(fs_sess(f, p.si)->reset);
    assert_int_equal(fs_n_table(&f->sw), 0);
    assert_int_equal(fx_pending(f), 0);
    fx_free(f);
}

static void test_simultaneous_close(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    hs_tcp_conn_t *tc = fs_conn(f, p.si);
    close_app(f, &p);
    fx_expect(f, &p, HS_TCP_FIN | HS_TCP_ACK, p.ack, p.seq, 0);
    /* The peer's FIN crosses ours: it does not acknowledge our FIN. */
    fx_peer_send(f, &p, HS_TCP_FIN, NULL, 0);
    assert_int_equal(tc->state, HS_TCP_CLOSING);
    fx_expect(f, &p, HS_TCP_ACK, p.ack + 1, p.seq, 0);
    p.ack++;
    fx_peer_send(f, &p, 0, NULL, 0);
    assert_int_equal(tc->state, HS_TCP_TIME_WAIT);
    assert_true(fs_sess(f, p.si)->closed);
    fx_free(f);
}

static void test_fin_ack_together(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    close_app(f, &p);
    fx_take(f, &p);
    p.ack++;
    fx_peer_send(f, &p, HS_TCP_FIN, NULL, 0); /* FIN-WAIT-1 straight to TIME-WAIT */
    assert_int_equal(fs_conn(f, p.si)->state, HS_TCP_TIME_WAIT);
    fx_expect(f, &p, HS_TCP_ACK, p.ack, p.seq, 0);
    fx_free(f);
}

static void test_half_close_we_keep_receiving(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    close_app(f, &p);
    fx_take(f, &p);
    p.ack++;
    fx_peer_send(f, &p, 0, NULL, 0);
    assert_int_equal(fs_conn(f, p.si)->state, HS_TCP_FIN_WAIT_2);
    uint8_t d[1000];
    uint32_t total = 0;
    for (int i = 0; i < 5; i++) {
        fill_pat(d, total, sizeof(d));
        assert_int_equal(fx_peer_send(f, &p, 0, d, sizeof(d)), HS_TCP_E_NONE);
        total += sizeof(d);
        fx_expect(f, &p, HS_TCP_ACK, p.ack, p.seq, 0);
    }
    uint8_t got[5000], want[5000];
    assert_int_equal(hs_fifo_dequeue(&fs_sess(f, p.si)->rx, got, sizeof(got)), 5000);
    fill_pat(want, 0, sizeof(want));
    assert_memory_equal(got, want, sizeof(want));
    fx_peer_send(f, &p, HS_TCP_FIN, NULL, 0);
    assert_int_equal(fs_conn(f, p.si)->state, HS_TCP_TIME_WAIT);
    fx_free(f);
}

static void test_time_wait_fin_again(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    close_app(f, &p);
    fx_take(f, &p);
    p.ack++;
    fx_peer_send(f, &p, HS_TCP_FIN, NULL, 0);
    fx_take(f, &p);
    uint32_t ci = conn_of(f, &p);
    fx_advance(f, 30 * SEC);
    /* Our last ACK was lost: the FIN comes again, is ACKed again, and 2 MSL restart. */
    p.seq--;
    assert_int_equal(fx_peer_send(f, &p, HS_TCP_FIN, NULL, 0), HS_TCP_E_NONE);
    fx_expect(f, &p, HS_TCP_ACK, p.ack, p.seq, 0);
    fx_advance(f, 59 * SEC);
    assert_non_null(hs_tcp_conn_get(&f->tw, ci));
    fx_advance(f, 2 * SEC);
    assert_null(hs_tcp_conn_get(&f->tw, ci));
    fx_free(f);
}

/* Gets a server-side connection into TIME-WAIT (we closed first). */
static void into_time_wait(fx_t *f, fx_peer_t *p, bool ts)
{
    fx_accept(f, p, ts);
    close_app(f, p);
    fx_take(f, p);
    p->ack++;
    fx_peer_send(f, p, HS_TCP_FIN, NULL, 0);
    fx_take(f, p);
    assert_int_equal(fs_conn(f, p->si)->state, HS_TCP_TIME_WAIT);
}

static void test_time_wait_reuse_by_sequence(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    into_time_wait(f, &p, false);
    uint32_t old_ci = conn_of(f, &p);
    uint32_t old_snd_max = fs_conn(f, p.si)->snd_max;
    /* An old SYN (below RCV.NXT) is not a new incarnation: ACKed, nothing else. */
    assert_int_equal(fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN, .seq = p.seq - 100}),
                     HS_TCP_E_NOT_IN_WINDOW);
    assert_int_equal(fx_take(f, &p)->h.flags, HS_TCP_ACK);
    /* RFC 6191 / RFC 9293: a SYN beyond RCV.NXT reopens the 4-tuple at once. */
    assert_int_equal(fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN, .seq = p.seq + 100000}),
                     HS_TCP_E_NONE);
    cap_t *sa = fx_take(f, &p);
    assert_int_equal(sa->h.flags, HS_TCP_SYN | HS_TCP_ACK);
    assert_int_equal(sa->h.ack, p.seq + 100001);
    assert_true(hs_seq_gt(sa->h.seq, old_snd_max)); /* beyond the old sequence space */
    assert_int_equal(f->tw.stats[HS_TCP_S_TIME_WAIT_REUSED], 1);
    hs_tcp_conn_t *old = hs_tcp_conn_get(&f->tw, old_ci); /* gone, or its slot reused */
    assert_true(!old || old->state == HS_TCP_SYN_RCVD);
    assert_int_equal(f->tw.n_time_wait, 0);
    assert_int_equal(fs_n_table(&f->sw), 1);
    fx_send(f, &(fx_seg_t){.flags = HS_TCP_ACK, .seq = p.seq + 100001, .ack = sa->h.seq + 1});
    assert_int_equal(f->sw.n_accepts, 2);
    assert_int_equal(fs_conn(f, f->sw.last_accepted)->state, HS_TCP_ESTABLISHED);
    fx_free(f);
}

static void test_time_wait_reuse_by_timestamp(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    into_time_wait(f, &p, true);
    uint32_t recent = fs_conn(f, p.si)->ts_recent;
    uint8_t o = HS_TCP_OPTF_MSS | HS_TCP_OPTF_TS;
    /* A lower sequence number but a newer timestamp: RFC 6191 lets it in. */
    assert_int_equal(fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN,
                                            .seq = p.seq - 5000,
                                            .opts = o,
                                            .mss = 1460,
                                            .tsval = recent + 1}),
                     HS_TCP_E_NONE);
    assert_int_equal(fx_take(f, &p)->h.flags, HS_TCP_SYN | HS_TCP_ACK);
    assert_int_equal(f->tw.stats[HS_TCP_S_TIME_WAIT_REUSED], 1);
    fx_free(f);
}

static void test_time_wait_old_timestamp_refused(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    into_time_wait(f, &p, true);
    uint32_t recent = fs_conn(f, p.si)->ts_recent;
    uint8_t o = HS_TCP_OPTF_MSS | HS_TCP_OPTF_TS;
    assert_int_equal(fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN,
                                            .seq = p.seq + 5000,
                                            .opts = o,
                                            .mss = 1460,
                                            .tsval = recent - 1}),
                     HS_TCP_E_PAWS);
    assert_int_equal(fx_take(f, &p)->h.flags, HS_TCP_ACK);
    assert_int_equal(fs_conn(f, p.si)->state, HS_TCP_TIME_WAIT);
    assert_int_equal(f->tw.stats[HS_TCP_S_TIME_WAIT_REUSED], 0);
    fx_free(f);
}

static void test_fin_wait_2_timeout(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    close_app(f, &p);
    fx_take(f, &p);
    p.ack++;
    fx_peer_send(f, &p, 0, NULL, 0);
    uint32_t ci = conn_of(f, &p);
    fx_advance(f, 30 * SEC);
    fx_peer_send(f, &p, 0, "late", 4); /* activity restarts the idle time */
    fx_take(f, &p);
    fx_advance(f, 59 * SEC);
    assert_non_null(hs_tcp_conn_get(&f->tw, ci));
    assert_int_equal(fx_pending(f), 0);
    fx_advance(f, 2 * SEC);
    fx_expect(f, &p, HS_TCP_RST | HS_TCP_ACK, p.ack, p.seq, 0);
    assert_null(hs_tcp_conn_get(&f->tw, ci));
    assert_true(fs_sess(f, p.si)->reset);
    assert_true(fs_sess(f, p.si)->closed);
    fx_free(f);
}

static void test_last_ack_fin_retransmitted(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    fx_peer_send(f, &p, HS_TCP_FIN, NULL, 0);
    fx_take(f, &p);
    close_app(f, &p);
    fx_expect(f, &p, HS_TCP_FIN | HS_TCP_ACK, p.ack, p.seq, 0);
    fx_advance(f, 200 * MS);
    fx_expect(f, &p, HS_TCP_FIN | HS_TCP_ACK, p.ack, p.seq, 0);
    fx_advance(f, 400 * MS);
    fx_expect(f, &p, HS_TCP_FIN | HS_TCP_ACK, p.ack, p.seq, 0);
    p.ack++;
    fx_peer_send(f, &p, 0, NULL, 0);
    assert_true(fs_sess(f, p.si)->closed);
    fx_free(f);
}

static void test_fin_ahead_of_missing_data(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    uint32_t base = p.seq;
    uint8_t d[200];
    fill_pat(d, 0, sizeof(d));
    p.seq = base + 100;
    fx_peer_send(f, &p, HS_TCP_FIN, d + 100, 100); /* [100, 200) + FIN, out of order */
    fx_expect(f, &p, HS_TCP_ACK, p.ack, base, 0);
    assert_int_equal(fs_conn(f, p.si)->state, HS_TCP_ESTABLISHED);
    assert_false(fs_sess(f, p.si)->closing);
    p.seq = base;
    fx_peer_send(f, &p, 0, d, 100); /* the gap fills: data and FIN at once */
    fx_expect(f, &p, HS_TCP_ACK, p.ack, base + 201, 0);
    assert_int_equal(fs_conn(f, p.si)->state, HS_TCP_CLOSE_WAIT);
    assert_true(fs_sess(f, p.si)->closing);
    uint8_t got[200];
    assert_int_equal(hs_fifo_dequeue(&fs_sess(f, p.si)->rx, got, sizeof(got)), 200);
    assert_memory_equal(got, d, 200);
    fx_free(f);
}

static void test_app_reset(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    fs_write(f, p.si, "xyz", 3);
    fx_take(f, &p);
    uint32_t ci = conn_of(f, &p);
    hs_tcp_reset(&f->tw, ci);
    hs_tcp_flush(&f->tw);
    /* <SEQ=SND.NXT><ACK=RCV.NXT><CTL=RST,ACK>, SND.NXT the highest sent */
    fx_expect(f, &p, HS_TCP_RST | HS_TCP_ACK, p.ack + 3, p.seq, 0);
    assert_null(hs_tcp_conn_get(&f->tw, ci));
    assert_true(fs_sess(f, p.si)->closed);
    assert_false(fs_sess(f, p.si)->reset); /* the session asked for it */
    assert_int_equal(fs_n_table(&f->sw), 0);
    /* A late segment for it now finds no connection: RST. */
    fx_clear_caps(f);
    hs_tcp_unlisten(&f->tw, 0);
    f->sw.listeners[0].used = false;
    assert_int_equal(fx_peer_send(f, &p, 0, "late", 4), HS_TCP_E_NO_LISTENER);
    assert_int_equal(fx_take(f, &p)->h.flags, HS_TCP_RST);
    fx_free(f);
}

static void test_close_in_syn_sent(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    int si = fs_connect(f, PEER, 7);
    fx_pop(f);
    uint32_t ci = fs_sess(f, si)->conn_index;
    hs_tcp_close(&f->tw, ci);
    hs_tcp_flush(&f->tw);
    assert_null(hs_tcp_conn_get(&f->tw, ci));
    assert_true(fs_sess(f, si)->closed);
    assert_int_equal(fx_pending(f), 0); /* RFC 9293 3.10.4: the TCB just goes */
    fx_advance(f, 5 * SEC);
    assert_int_equal(fx_pending(f), 0);
    fx_free(f);
}

static void test_keepalive(void **state)
{
    (void)state;
    hs_tcp_config_t cfg;
    fx_tcp_config(&cfg);
    cfg.keepalive_idle_ns = 10 * SEC;
    cfg.keepalive_intvl_ns = 1 * SEC;
    cfg.keepalive_probes = 3;
    fx_t *f = fx_new_cfg(&cfg);
    fx_peer_t p;
    fx_accept(f, &p, false);
    fx_advance(f, 20 * SEC);
    assert_int_equal(fx_pending(f), 0); /* off by default */
    assert_int_equal(hs_tcp_set_keepalive(&f->tw, conn_of(f, &p), true), 0);
    fx_advance(f, 10 * SEC - MS);
    assert_int_equal(fx_pending(f), 0);
    fx_advance(f, 2 * MS);
    fx_expect(f, &p, HS_TCP_ACK, p.ack - 1, p.seq, 0); /* RFC 9293 3.8.4: SEG.SEQ = SND.NXT-1 */
    fx_peer_send(f, &p, 0, NULL, 0);                   /* answered: alive */
    fx_advance(f, 5 * SEC);
    assert_int_equal(fx_pending(f), 0);
    fx_advance(f, 5 * SEC + MS); /* idle again: probes every second, unanswered */
    fx_expect(f, &p, HS_TCP_ACK, p.ack - 1, p.seq, 0);
    fx_advance(f, SEC);
    fx_expect(f, &p, HS_TCP_ACK, p.ack - 1, p.seq, 0);
    fx_advance(f, SEC);
    fx_expect(f, &p, HS_TCP_ACK, p.ack - 1, p.seq, 0);
    assert_false(fs_sess(f, p.si)->reset);
    fx_advance(f, SEC);
    assert_true(fs_sess(f, p.si)->reset);
    assert_true(fs_sess(f, p.si)->closed);
    assert_null(hs_tcp_conn_get(&f->tw, conn_of(f, &p)));
    assert_int_equal(f->tw.stats[HS_TCP_S_KEEPALIVE_PROBES], 4);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_active_close),
        cmocka_unit_test(test_fin_follows_queued_data),
        cmocka_unit_test(test_passive_close),
        cmocka_unit_test(test_simultaneous_close),
        cmocka_unit_test(test_fin_ack_together),
        cmocka_unit_test(test_half_close_we_keep_receiving),
        cmocka_unit_test(test_time_wait_fin_again),
        cmocka_unit_test(test_time_wait_reuse_by_sequence),
        cmocka_unit_test(test_time_wait_reuse_by_timestamp),
        cmocka_unit_test(test_time_wait_old_timestamp_refused),
        cmocka_unit_test(test_fin_wait_2_timeout),
        cmocka_unit_test(test_last_ack_fin_retransmitted),
        cmocka_unit_test(test_fin_ahead_of_missing_data),
        cmocka_unit_test(test_app_reset),
        cmocka_unit_test(test_close_in_syn_sent),
        cmocka_unit_test(test_keepalive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
