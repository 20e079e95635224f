/* The session layer calling back into TCP from inside a notification (an app that resets
 * or closes as soon as it hears of a connection, data, room or the peer's FIN): TCP stops
 * touching the connection, the session hears "closed" exactly once, and nothing (timers,
 * table entries, connections) is left behind. */
#include "tcp/tcp.h" /* (also tells the build to link hs_tcp) */
#include "tcp_fake_session.h"

/* Nothing of the connection is left: no connection, no 5-tuple, no timer. */
static void assert_all_gone(fx_t *f)
{
    assert_int_equal(hs_pool_count(&f->tw.conns), 0);
    assert_int_equal(fs_n_table(&f->sw), 0);
    assert_int_equal(hs_tw_count(&f->tw.wheel), 0);
}

static void test_reset_inside_accept(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    f->sw.reset_in_accept = true;
    fs_listen(f, 0, US_PORT);
    fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN, .seq = 1000});
    cap_t *sa = fx_pop(f);
    fx_send(f, &(fx_seg_t){.flags = HS_TCP_ACK, .seq = 1001, .ack = sa->h.seq + 1});
    cap_t *r = fx_pop(f);
    assert_int_equal(r->h.flags, HS_TCP_RST | HS_TCP_ACK);
    assert_int_equal(r->h.seq, sa->h.seq + 1);
    fs_session_t *s = fs_sess(f, f->sw.last_accepted);
    assert_int_equal(s->n_closed, 1);
    assert_false(s->reset);
    assert_all_gone(f);
    fx_free(f);
}

static void test_close_inside_accept(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    f->sw.close_in_accept = true;
    fs_listen(f, 0, US_PORT);
    fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN, .seq = 1000});
    cap_t *sa = fx_pop(f);
    fx_send(f, &(fx_seg_t){.flags = HS_TCP_ACK, .seq = 1001, .ack = sa->h.seq + 1});
    cap_t *fin = fx_pop(f);
    assert_int_equal(fin->h.flags, HS_TCP_FIN | HS_TCP_ACK);
    assert_int_equal(fin->h.seq, sa->h.seq + 1);
    hs_tcp_conn_t *tc = fs_conn(f, f->sw.last_accepted);
    assert_int_equal(tc->state, HS_TCP_FIN_WAIT_1);
    assert_true(tc->flags & HS_TCP_F_SESSION);
    fx_free(f);
}

static void test_reset_inside_rx_with_fin(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    f->sw.reset_in_rx = true;
    /* Data and FIN together: the app resets on the data; the FIN is not processed. */
    assert_int_equal(fx_peer_send(f, &p, HS_TCP_FIN, "hello", 5), HS_TCP_E_NONE);
    cap_t *r = fx_take(f, &p);
    assert_int_equal(r->h.flags, HS_TCP_RST | HS_TCP_ACK);
    assert_int_equal(r->h.ack, p.seq - 1); /* the data was taken, the FIN was not */
    assert_int_equal(fx_pending(f), 0);
    fs_session_t *s = fs_sess(f, p.si);
    assert_false(s->closing);
    assert_int_equal(s->n_closed, 1);
    assert_int_equal(fs_readable(f, p.si), 5);
    assert_all_gone(f);
    fx_free(f);
}

static void test_close_inside_rx_with_fin(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    f->sw.close_in_rx = true;
    fx_peer_send(f, &p, HS_TCP_FIN, "hello", 5);
    /* Our close (FIN-WAIT-1, FIN not yet out) meets the peer's FIN: CLOSING. */
    hs_tcp_conn_t *tc = fs_conn(f, p.si);
    assert_int_equal(tc->state, HS_TCP_CLOSING);
    cap_t *c = fx_take(f, &p);
    assert_int_equal(c->h.flags, HS_TCP_FIN | HS_TCP_ACK);
    assert_int_equal(c->h.ack, p.seq);
    assert_true(fs_sess(f, p.si)->closing);
    p.ack++;
    fx_peer_send(f, &p, 0, NULL, 0);
    assert_int_equal(tc->state, HS_TCP_TIME_WAIT);
    assert_int_equal(fs_sess(f, p.si)->n_closed, 1);
    fx_free(f);
}

static void test_reset_inside_tx(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    fs_write(f, p.si, "data", 4);
    fx_take(f, &p);
    f->sw.reset_in_tx = true;
    p.ack += 4;
    fx_peer_send(f, &p, 0, NULL, 0);
    cap_t *r = fx_take(f, &p);
    assert_int_equal(r->h.flags, HS_TCP_RST | HS_TCP_ACK);
    assert_int_equal(fs_sess(f, p.si)->n_closed, 1);
    assert_all_gone(f);
    fx_free(f);
}

static void test_reset_inside_closing(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    f->sw.reset_in_closing = true;
    fx_peer_send(f, &p, HS_TCP_FIN, NULL, 0);
    cap_t *r = fx_take(f, &p);
    assert_int_equal(r->h.flags, HS_TCP_RST | HS_TCP_ACK);
    assert_int_equal(r->h.ack, p.seq); /* the FIN was taken before the app reset */
    assert_int_equal(fx_pending(f), 0);
    assert_int_equal(fs_sess(f, p.si)->n_closed, 1);
    assert_int_equal(f->tw.n_time_wait, 0);
    assert_all_gone(f);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reset_inside_accept),
        cmocka_unit_test(test_close_inside_accept),
        cmocka_unit_test(test_reset_inside_rx_with_fin),
        cmocka_unit_test(test_close_inside_rx_with_fin),
        cmocka_unit_test(test_reset_inside_tx),
        cmocka_unit_test(test_reset_inside_closing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
