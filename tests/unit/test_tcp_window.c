/* Flow control: the peer's zero window with persist probes and backoff, then reopening
 * (RFC 9293 3.8.6.1); our window from the rx FIFO's free space, closing to zero, probes
 * refused, and window updates when the app drains (receiver SWS avoidance, 3.8.6.2.2);
 * sender SWS avoidance (3.8.6.2.1); window scaling (RFC 7323 2). */
#include "tcp/tcp.h" /* (also tells the build to link hs_tcp) */
#include "tcp_fake_session.h"

static void test_peer_zero_window_persist(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    hs_tcp_conn_t *tc = fs_conn(f, p.si);
    p.zero_wnd = true;
    fx_peer_send(f, &p, 0, NULL, 0);
    assert_int_equal(tc->snd_wnd, 0);
    uint8_t d[1000];
    fill_pat(d, 0, sizeof(d));
    fs_write(f, p.si, d, sizeof(d));
    assert_int_equal(fx_pending(f), 0);
    assert_true(hs_tcp_timer_running(tc, HS_TCP_T_PERSIST));
    assert_false(hs_tcp_timer_running(tc, HS_TCP_T_RETRANSMIT));
    /* The RTO is 200 ms (the handshake measured ~0): probes at 200, +400, +800 ms. */
    uint64_t gaps[] = {200, 400, 800};
    for (int i = 0; i < 3; i++) {
        fx_advance(f, gaps[i] * MS - MS);
        assert_int_equal(fx_pending(f), 0);
        fx_advance(f, MS);
        /* A probe in the manner of Linux: an ACK at SND.UNA - 1 that the peer must answer. */
        fx_expect(f, &p, HS_TCP_ACK, p.ack - 1, p.seq, 0);
        fx_peer_send(f, &p, 0, NULL, 0); /* still zero */
        assert_int_equal(fx_pending(f), 0);
    }
    assert_int_equal(f->tw.stats[HS_TCP_S_ZERO_WINDOW_PROBES], 3);
    /* The window opens: the data goes, the persist timer stops. */
    p.zero_wnd = false;
    p.wnd = 65535;
    fx_peer_send(f, &p, 0, NULL, 0);
    cap_t *c = fx_expect(f, &p, HS_TCP_ACK | HS_TCP_PSH, p.ack, p.seq, 1000);
    assert_memory_equal(c->data, d, 1000);
    assert_false(hs_tcp_timer_running(tc, HS_TCP_T_PERSIST));
    assert_true(hs_tcp_timer_running(tc, HS_TCP_T_RETRANSMIT));
    fx_free(f);
}

static void test_small_window_sender_sws(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    p.wnd = 500; /* below an MSS and below half the largest window seen (65535) */
    fx_peer_send(f, &p, 0, NULL, 0);
    uint8_t d[2000];
    fill_pat(d, 0, sizeof(d));
    fs_write(f, p.si, d, sizeof(d));
    assert_int_equal(fx_pending(f), 0); /* RFC 9293 3.8.6.2.1: no silly segment */
    /* The override: after the persist interval the 500 bytes that fit go. */
    fx_advance(f, 200 * MS);
    cap_t *c = fx_expect(f, &p, HS_TCP_ACK, p.ack, p.seq, 500);
    assert_memory_equal(c->data, d, 500);
    fx_free(f);
}

static void test_our_window_closes_and_reopens(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    hs_tcp_conn_t *tc = fs_conn(f, p.si);
    uint8_t d[1460];
    uint32_t sent = 0;
    cap_t *last = NULL;
    /* The app reads nothing: 65535 bytes fill the offered window. */
    while (sent < 65535) {
        uint32_t n = HS_MIN(1460u, 65535 - sent);
        fill_pat(d, sent, n);
        assert_int_equal(fx_peer_send(f, &p, 0, d, n), HS_TCP_E_NONE);
        sent += n;
        while (fx_pending(f))
            last = fx_take(f, &p);
    }
    fx_advance(f, 50 * MS);
    while (fx_pending(f))
        last = fx_take(f, &p);
    assert_non_null(last);
    assert_int_equal(last->h.ack, p.seq);
    assert_int_equal(last->h.wnd, 0);
    assert_int_equal(fs_readable(f, p.si), 65535);
    /* A zero-window probe with one byte: the byte is refused, the ACK repeats window 0. */
    assert_int_equal(fx_peer_send(f, &p, 0, "z", 1), HS_TCP_E_NOT_IN_WINDOW);
    p.seq--;
    cap_t *a = fx_expect(f, &p, HS_TCP_ACK, p.ack, p.seq, 0);
    assert_int_equal(a->h.wnd, 0);
    /* A small read does not reopen it (receiver SWS avoidance) ... */
    uint8_t buf[4096];
    assert_int_equal(fs_read(f, p.si, buf, 100), 100);
    assert_int_equal(fx_pending(f), 0);
    /* ... a larger one sends a window update. */
    assert_int_equal(fs_read(f, p.si, buf + 100, 3000), 3000);
    a = fx_expect(f, &p, HS_TCP_ACK, p.ack, p.seq, 0);
    assert_int_equal(a->h.wnd, 3101);
    assert_int_equal(f->tw.stats[HS_TCP_S_WINDOW_UPDATES], 1);
    uint8_t want[3100];
    fill_pat(want, 0, 3100);
    assert_memory_equal(buf, want, 3100);
    /* The peer may fill the reopened window. */
    fill_pat(d, sent, 1460);
    assert_int_equal(fx_peer_send(f, &p, 0, d, 1460), HS_TCP_E_NONE);
    assert_int_equal(tc->rcv_nxt, p.seq);
    assert_int_equal(fs_readable(f, p.si), 65535 - 3100 + 1460);
    fx_free(f);
}

static void test_window_scaled(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, true); /* window scaling on; our shift is 9 */
    hs_tcp_conn_t *tc = fs_conn(f, p.si);
    assert_int_equal(tc->rcv_wscale, 9);
    uint8_t d[1000] = {0};
    fx_peer_send(f, &p, 0, d, sizeof(d));
    cap_t *a = fx_take(f, &p);
    /* What remains of the 65535 offered in the SYN-ACK, in units of 512. */
    assert_int_equal(a->h.wnd, (65535 - 1000) >> 9);
    /* A read of 1000 bytes is below the update threshold (2 segments of 1000) ... */
    uint8_t buf[3000];
    fs_read(f, p.si, buf, 1000);
    assert_int_equal(fx_pending(f), 0);
    fx_peer_send(f, &p, 0, d, sizeof(d));
    fx_peer_send(f, &p, 0, d, sizeof(d));
    fx_take(f, &p);
    fx_take(f, &p);
    /* ... draining everything grows the window to the whole FIFO, scaled. */
    fs_read(f, p.si, buf, 2000);
    a = fx_take(f, &p);
    assert_int_equal(a->h.wnd, 65536 >> 9);
    assert_int_equal(tc->rcv_adv, tc->rcv_nxt + 65536);
    /* Data up to the new right edge is taken. */
    assert_int_equal(hs_seq_geq(tc->rcv_adv, p.seq + 65535), true);
    fx_free(f);
}

static void test_timeout_into_zero_window(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    hs_tcp_conn_t *tc = fs_conn(f, p.si);
    uint8_t d[3000];
    fill_pat(d, 0, sizeof(d));
    fs_write(f, p.si, d, sizeof(d));
    fx_clear_caps(f);
    /* The peer takes the first segment and shuts its window; that ACK is all we hear. */
    p.ack += 1460;
    p.zero_wnd = true;
    fx_peer_send(f, &p, 0, NULL, 0);
    assert_true(hs_tcp_timer_running(tc, HS_TCP_T_RETRANSMIT));
    /* The timeout goes back to SND.UNA but the window lets nothing out: persist takes over,
     * or nothing would ever ask for the window again. */
    fx_advance(f, 200 * MS);
    assert_int_equal(fx_pending(f), 0);
    assert_int_equal(tc->snd_nxt, tc->snd_una);
    assert_true(hs_tcp_timer_running(tc, HS_TCP_T_PERSIST));
    fx_advance(f, 400 * MS);
    fx_expect(f, &p, HS_TCP_ACK, p.ack - 1, p.seq, 0); /* a probe */
    /* The answer acknowledges everything (it had arrived) and opens the window. */
    p.ack += 1540;
    p.zero_wnd = false;
    fx_peer_send(f, &p, 0, NULL, 0);
    assert_int_equal(tc->snd_una, tc->snd_max);
    assert_false(hs_tcp_timer_running(tc, HS_TCP_T_PERSIST));
    assert_false(hs_tcp_timer_running(tc, HS_TCP_T_RETRANSMIT));
    assert_int_equal(fx_pending(f), 0);
    fx_free(f);
}

static void test_ack_seq_within_a_shut_window(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    uint8_t d[3000];
    fill_pat(d, 0, sizeof(d));
    fs_write(f, p.si, d, sizeof(d));
    fx_clear_caps(f);
    /* The peer shuts its window before our data arrived (it will drop it). */
    p.zero_wnd = true;
    fx_peer_send(f, &p, 0, NULL, 0);
    /* Its data (sent before) needs our ACK: the ACK's sequence number must be one the
     * peer's shut window accepts, SND.UNA, not SND.MAX beyond it. */
    fx_peer_send(f, &p, 0, "x", 1);
    fx_expect(f, &p, HS_TCP_ACK, p.ack, p.seq, 0);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peer_zero_window_persist),
        cmocka_unit_test(test_small_window_sender_sws),
        cmocka_unit_test(test_our_window_closes_and_reopens),
        cmocka_unit_test(test_window_scaled),
        cmocka_unit_test(test_timeout_into_zero_window),
        cmocka_unit_test(test_ack_seq_within_a_shut_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
