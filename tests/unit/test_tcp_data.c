/* Data transfer on an established connection: payload into the rx FIFO in order and out of
 * order (RCV.NXT and the FIFO checked byte for byte), trimming of old and overlapping data,
 * SACK blocks, the send path peeking the tx FIFO (data stays until acknowledged), delayed
 * ACKs and quick ACKs, Nagle and no-delay, ACKs riding on data. */
#include "tcp/tcp.h" /* (also tells the build to link hs_tcp) */
#include "tcp_fake_session.h"

static void expect_fifo(fx_t *f, int si, uint64_t off, uint32_t len)
{
    uint8_t got[8192], want[8192];
    assert_true(len <= sizeof(got));
    assert_int_equal(fs_readable(f, si), len);
    assert_int_equal(hs_fifo_peek(&fs_sess(f, si)->rx, 0, got, len), (int)len);
    fill_pat(want, off, len);
    assert_memory_equal(got, want, len);
}

/* Sends stream bytes [off, off + len) of the pattern at their sequence number. */
static int send_at(fx_t *f, fx_peer_t *p, uint32_t base, uint32_t off, uint32_t len)
{
    uint8_t d[4096];
    fill_pat(d, off, len);
    uint32_t keep = p->seq;
    p->seq = base + off;
    int rv = fx_peer_send(f, p, 0, d, len);
    p->seq = keep;
    return rv;
}

static void test_in_order(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    uint32_t base = p.seq;
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(send_at(f, &p, base, 1000 * i, 1000), HS_TCP_E_NONE);
        /* Quick ACKs at the start: each segment is acknowledged at once. */
        cap_t *a = fx_expect(f, &p, HS_TCP_ACK, p.ack, base + 1000 * (i + 1), 0);
        /* Receiver SWS avoidance: the right edge stays where it was offered. */
        assert_int_equal(a->h.wnd, 65535 - 1000 * (i + 1));
    }
    assert_int_equal(fs_conn(f, p.si)->rcv_nxt, base + 3000);
    expect_fifo(f, p.si, 0, 3000);
    assert_int_equal(fs_sess(f, p.si)->n_rx_notify, 3);
    assert_int_equal(f->tw.stats[HS_TCP_S_BYTES_IN], 3000);
    fx_free(f);
}

static void test_out_of_order_then_fill(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    uint32_t base = p.seq;
    hs_tcp_conn_t *tc = fs_conn(f, p.si);
    /* RFC 5681 4.2: out-of-order segments are acknowledged at once (duplicate ACKs). */
    assert_int_equal(send_at(f, &p, base, 2000, 1000), HS_TCP_E_NONE);
    fx_expect(f, &p, HS_TCP_ACK, p.ack, base, 0);
    assert_int_equal(send_at(f, &p, base, 1000, 500), HS_TCP_E_NONE);
    fx_expect(f, &p, HS_TCP_ACK, p.ack, base, 0);
    assert_int_equal(tc->rcv_nxt, base);
    assert_int_equal(fs_readable(f, p.si), 0);
    assert_int_equal(hs_fifo_n_ooo(&fs_sess(f, p.si)->rx), 2);
    assert_int_equal(fs_sess(f, p.si)->n_rx_notify, 0);
    /* The hole [1500, 2000) is still open: filling [0, 1000) moves RCV.NXT to 1500. */
    assert_int_equal(send_at(f, &p, base, 0, 1000), HS_TCP_E_NONE);
    fx_expect(f, &p, HS_TCP_ACK, p.ack, base + 1500, 0);
    assert_int_equal(tc->rcv_nxt, base + 1500);
    expect_fifo(f, p.si, 0, 1500);
    /* The last hole, with overlap on both sides: everything up to 3000 becomes readable. */
    assert_int_equal(send_at(f, &p, base, 1400, 700), HS_TCP_E_NONE);
    fx_expect(f, &p, HS_TCP_ACK, p.ack, base + 3000, 0);
    assert_int_equal(tc->rcv_nxt, base + 3000);
    expect_fifo(f, p.si, 0, 3000);
    assert_int_equal(hs_fifo_n_ooo(&fs_sess(f, p.si)->rx), 0);
    assert_int_equal(f->tw.stats[HS_TCP_S_OOO_SEGS_IN], 2);
    fx_free(f);
}

static void test_dupacks_keep_the_window(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    uint32_t base = p.seq;
    uint8_t buf[8000];
    for (uint32_t i = 0; i < 5; i++) { /* in order, not read: the window shrinks */
        send_at(f, &p, base, 1400 * i, 1400);
        fx_take(f, &p);
    }
    uint32_t hole = base + 7000;
    /* Segments after a hole: duplicate ACKs. The app reads meanwhile, which would
     * otherwise open the window, but a sender counts only duplicates whose window is
     * unchanged (RFC 5681 2), so the window stays until the hole is filled. */
    uint16_t wnd = 0;
    for (uint32_t i = 0; i < 4; i++) {
        send_at(f, &p, base, 7000 + 1400 * (i + 1), 1400);
        cap_t *a = fx_expect(f, &p, HS_TCP_ACK, p.ack, hole, 0);
        if (i == 0)
            wnd = a->h.wnd;
        assert_int_equal(a->h.wnd, wnd);
        if (i == 1)
            assert_int_equal(fs_read(f, p.si, buf, sizeof(buf)), 7000); /* no update sent */
        assert_int_equal(fx_pending(f), 0);
    }
    /* The hole filled: everything acknowledged, and the window reopens. */
    send_at(f, &p, base, 7000, 1400);
    cap_t *a = fx_expect(f, &p, HS_TCP_ACK, p.ack, base + 7000 + 5 * 1400, 0);
    assert_true(a->h.wnd > wnd);
    fx_free(f);
}

static void test_one_dupack_per_segment_in_a_vector(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    uint32_t base = p.seq;
    /* Five out-of-order segments arrive in one vector (no flush between them, as in
     * tcp4-input): each draws its own duplicate ACK, or the sender never counts three. */
    uint8_t d[1000], buf[HS_TCP_HDR_MAX + 1000];
    for (uint32_t i = 1; i <= 5; i++) {
        fill_pat(d, 1000 * i, sizeof(d));
        hs_tcp_seg_t seg;
        fx_build(f,
                 &(fx_seg_t){.flags = HS_TCP_ACK,
                             .seq = base + 1000 * i,
                             .ack = p.ack,
                             .data = d,
                             .len = sizeof(d)},
                 buf, &seg);
        assert_int_equal(hs_tcp_rx(&f->tw, &seg, f->now), HS_TCP_E_NONE);
    }
    for (int i = 0; i < 5; i++)
        fx_expect(f, &p, HS_TCP_ACK, p.ack, base, 0);
    hs_tcp_flush(&f->tw);
    assert_int_equal(fx_pending(f), 0);
    /* The hole and two more segments in one vector: the gap fill is acknowledged with the
     * next segment, then quick-ack mode (RFC 5681 4.2) acknowledges each segment at once. */
    for (uint32_t off = 0; off <= 7000; off += off == 0 ? 6000 : 1000) {
        fill_pat(d, off, sizeof(d));
        hs_tcp_seg_t seg;
        fx_build(
            f,
            &(fx_seg_t){
                .flags = HS_TCP_ACK, .seq = base + off, .ack = p.ack, .data = d, .len = sizeof(d)},
            buf, &seg);
        assert_int_equal(hs_tcp_rx(&f->tw, &seg, f->now), HS_TCP_E_NONE);
    }
    fx_expect(f, &p, HS_TCP_ACK, p.ack, base + 7000, 0);
    fx_expect(f, &p, HS_TCP_ACK, p.ack, base + 8000, 0);
    hs_tcp_flush(&f->tw);
    assert_int_equal(fx_pending(f), 0);
    expect_fifo(f, p.si, 0, 8000);
    fx_free(f);
}

static void test_old_and_overlapping_data(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    uint32_t base = p.seq;
    send_at(f, &p, base, 0, 1000);
    fx_take(f, &p);
    /* Half old, half new: the old half is trimmed. */
    assert_int_equal(send_at(f, &p, base, 500, 1000), HS_TCP_E_NONE);
    fx_expect(f, &p, HS_TCP_ACK, p.ack, base + 1500, 0);
    expect_fifo(f, p.si, 0, 1500);
    /* All old: a duplicate, answered with an ACK, nothing stored. */
    assert_int_equal(send_at(f, &p, base, 0, 1000), HS_TCP_E_NOT_IN_WINDOW);
    fx_expect(f, &p, HS_TCP_ACK, p.ack, base + 1500, 0);
    expect_fifo(f, p.si, 0, 1500);
    /* Ending exactly at RCV.NXT: acceptable (as in Linux, its ACK counts), text all old. */
    assert_int_equal(send_at(f, &p, base, 1000, 500), HS_TCP_E_NONE);
    fx_expect(f, &p, HS_TCP_ACK, p.ack, base + 1500, 0);
    assert_int_equal(f->tw.stats[HS_TCP_S_DUP_SEGS_IN], 1);
    assert_int_equal(fs_conn(f, p.si)->rcv_nxt, base + 1500);
    fx_free(f);
}

static void test_data_trimmed_to_window(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    f->sw.fifo_size = 4096; /* the window follows this FIFO once accepted */
    fx_peer_t p;
    fx_accept(f, &p, false);
    uint32_t base = p.seq;
    uint8_t d[1000];
    uint32_t sent = 0;
    /* The SYN-ACK offered 65535 before the FIFO existed: data beyond the FIFO is dropped
     * (never overwritten), the rest kept. */
    for (int i = 0; i < 5; i++) {
        fill_pat(d, sent, sizeof(d));
        p.seq = base + sent;
        fx_peer_send(f, &p, 0, d, sizeof(d));
        sent += sizeof(d);
    }
    assert_int_equal(fs_conn(f, p.si)->rcv_nxt, base + 4096);
    expect_fifo(f, p.si, 0, 4096);
    /* Our ACKs now offer what the FIFO has: nothing. */
    cap_t *last = NULL;
    while (fx_pending(f))
        last = fx_take(f, &p);
    assert_non_null(last);
    assert_int_equal(last->h.ack, base + 4096);
    fx_free(f);
}

static void test_sack_blocks_sent(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept_opts(f, &p, HS_TCP_OPTF_MSS | HS_TCP_OPTF_SACK_PERM | HS_TCP_OPTF_TS);
    assert_true(fs_conn(f, p.si)->flags & HS_TCP_F_SACK);
    uint32_t base = p.seq;
    send_at(f, &p, base, 1000, 100);
    cap_t *a = fx_take(f, &p);
    assert_true(a->h.opts & HS_TCP_OPTF_SACK);
    assert_int_equal(a->h.n_sack, 1);
    assert_int_equal(a->h.sack[0].start, base + 1000);
    assert_int_equal(a->h.sack[0].end, base + 1100);
    send_at(f, &p, base, 3000, 100);
    send_at(f, &p, base, 2000, 100);
    fx_take(f, &p);
    a = fx_take(f, &p);
    /* RFC 2018 4: the newest block first, then the others. */
    assert_int_equal(a->h.n_sack, 3);
    assert_int_equal(a->h.sack[0].start, base + 2000);
    assert_int_equal(a->h.sack[1].start, base + 3000);
    assert_int_equal(a->h.sack[2].start, base + 1000);
    send_at(f, &p, base, 0, 1100);
    a = fx_take(f, &p);
    assert_int_equal(a->h.ack, base + 1100);
    assert_int_equal(a->h.n_sack, 2);
    fx_free(f);
}

static void test_sack_blocks_come_out_of_the_payload(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept_opts(f, &p, HS_TCP_OPTF_MSS | HS_TCP_OPTF_SACK_PERM | HS_TCP_OPTF_TS);
    uint32_t base = p.seq;
    send_at(f, &p, base, 1000, 100); /* out-of-order data held: our segments carry SACK */
    send_at(f, &p, base, 3000, 100);
    fx_take(f, &p);
    fx_take(f, &p);
    uint8_t d[4000];
    fill_pat(d, 0, sizeof(d));
    fs_write(f, p.si, d, sizeof(d));
    /* 1460 - 12 (timestamps) - 4 - 2 * 8 (two blocks) = 1428 bytes, 1500 on the wire. */
    uint32_t off = 0;
    while (fx_pending(f)) {
        cap_t *c = fx_take(f, &p);
        assert_int_equal(c->h.n_sack, 2);
        assert_true(c->h.hdr_len + c->len <= 1480);
        assert_memory_equal(c->data, d + off, c->len);
        if (off == 0)
            assert_int_equal(c->len, 1428);
        off += c->len;
    }
    assert_int_equal(off, sizeof(d));
    fx_free(f);
}

static void test_send_path_peeks_fifo(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    uint8_t d[5000], got[1460];
    fill_pat(d, 0, sizeof(d));
    fs_write(f, p.si, d, sizeof(d));
    uint32_t lens[] = {1460, 1460, 1460, 620};
    uint32_t off = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t flags = HS_TCP_ACK | (i == 3 ? HS_TCP_PSH : 0);
        cap_t *c = fx_expect(f, &p, flags, p.ack + off, p.seq, lens[i]);
        fill_pat(got, off, lens[i]);
        assert_memory_equal(c->data, got, lens[i]);
        off += lens[i];
    }
    assert_int_equal(fx_pending(f), 0);
    /* Nothing leaves the tx FIFO before it is acknowledged. */
    hs_fifo_t *tx = &fs_sess(f, p.si)->tx;
    assert_int_equal(hs_fifo_max_dequeue(tx), 5000);
    hs_tcp_conn_t *tc = fs_conn(f, p.si);
    assert_true(hs_tcp_timer_running(tc, HS_TCP_T_RETRANSMIT));
    p.ack += 2920;
    fx_peer_send(f, &p, 0, NULL, 0);
    assert_int_equal(hs_fifo_max_dequeue(tx), 2080);
    assert_int_equal(fs_sess(f, p.si)->n_tx_notify, 1);
    assert_true(hs_tcp_timer_running(tc, HS_TCP_T_RETRANSMIT));
    p.ack += 2080;
    fx_peer_send(f, &p, 0, NULL, 0);
    assert_int_equal(hs_fifo_max_dequeue(tx), 0);
    assert_false(hs_tcp_timer_running(tc, HS_TCP_T_RETRANSMIT));
    assert_int_equal(tc->snd_una, tc->snd_max);
    assert_int_equal(fx_pending(f), 0);
    assert_int_equal(f->tw.stats[HS_TCP_S_BYTES_OUT], 5000);
    fx_free(f);
}

static void test_delayed_ack(void **state)
{
    (void)state;
    hs_tcp_config_t cfg;
    fx_tcp_config(&cfg);
    cfg.quickack_segs = 0;
    fx_t *f = fx_new_cfg(&cfg);
    fx_peer_t p;
    fx_accept(f, &p, false);
    uint8_t d[1460];
    fill_pat(d, 0, sizeof(d));
    fx_peer_send(f, &p, 0, d, 500);
    assert_int_equal(fx_pending(f), 0);
    assert_true(hs_tcp_timer_running(fs_conn(f, p.si), HS_TCP_T_DELACK));
    fx_advance(f, 39 * MS);
    assert_int_equal(fx_pending(f), 0);
    fx_advance(f, 2 * MS); /* 40 ms after the data */
    fx_expect(f, &p, HS_TCP_ACK, p.ack, p.seq, 0);
    assert_int_equal(f->tw.stats[HS_TCP_S_DELACKS], 1);
    /* RFC 9293 3.8.6.3: at least every second full-sized segment is acknowledged. */
    fx_peer_send(f, &p, 0, d, 1460);
    assert_int_equal(fx_pending(f), 0);
    fx_peer_send(f, &p, 0, d, 1460);
    fx_expect(f, &p, HS_TCP_ACK, p.ack, p.seq, 0);
    assert_false(hs_tcp_timer_running(fs_conn(f, p.si), HS_TCP_T_DELACK));
    /* One segment made of three full-sized ones (the kernel's TSO through a tap, GSO over
     * af_packet) is ACKed at once: "full-sized" stays the MSS we offered. */
    static uint8_t big[3 * 1460];
    fill_pat(big, 0, sizeof(big));
    fx_peer_send(f, &p, 0, big, sizeof(big));
    fx_expect(f, &p, HS_TCP_ACK, p.ack, p.seq, 0);
    assert_int_equal(fs_conn(f, p.si)->rcv_smss, fs_conn(f, p.si)->rcv_mss);
    fx_free(f);
}

static void test_quickack_at_start(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    uint8_t d[100];
    memset(d, 'x', sizeof(d));
    for (int i = 0; i < 16; i++) {
        fx_peer_send(f, &p, 0, d, sizeof(d));
        fx_expect(f, &p, HS_TCP_ACK, p.ack, p.seq, 0);
    }
    fx_peer_send(f, &p, 0, d, sizeof(d)); /* the 17th waits */
    assert_int_equal(fx_pending(f), 0);
    fx_free(f);
}

static void test_quickack_after_loss(void **state)
{
    (void)state;
    hs_tcp_config_t cfg;
    fx_tcp_config(&cfg);
    cfg.quickack_segs = 2;
    fx_t *f = fx_new_cfg(&cfg);
    fx_peer_t p;
    fx_accept(f, &p, false);
    uint8_t d[100];
    memset(d, 'y', sizeof(d));
    for (int i = 0; i < 2; i++) {
        fx_peer_send(f, &p, 0, d, sizeof(d));
        fx_take(f, &p);
    }
    fx_peer_send(f, &p, 0, d, sizeof(d));
    assert_int_equal(fx_pending(f), 0); /* delayed now */
    fx_advance(f, 50 * MS);
    fx_take(f, &p);
    /* A loss: out-of-order data and the gap filled are ACKed at once ... */
    uint32_t hole = p.seq;
    p.seq += 100;
    fx_peer_send(f, &p, 0, d, sizeof(d));
    fx_expect(f, &p, HS_TCP_ACK, p.ack, hole, 0);
    uint32_t after = p.seq;
    p.seq = hole;
    fx_peer_send(f, &p, 0, d, sizeof(d));
    fx_expect(f, &p, HS_TCP_ACK, p.ack, after, 0);
    p.seq = after;
    /* ... then quick ACKs again for the next segments. */
    for (int i = 0; i < 2; i++) {
        fx_peer_send(f, &p, 0, d, sizeof(d));
        fx_expect(f, &p, HS_TCP_ACK, p.ack, p.seq, 0);
    }
    fx_peer_send(f, &p, 0, d, sizeof(d));
    assert_int_equal(fx_pending(f), 0);
    fx_free(f);
}

static void test_nagle(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    uint8_t d[2000];
    fill_pat(d, 0, sizeof(d));
    fs_write(f, p.si, d, 100); /* nothing in flight: a small segment may go */
    fx_expect(f, &p, HS_TCP_ACK | HS_TCP_PSH, p.ack, p.seq, 100);
    fs_write(f, p.si, d + 100, 100); /* RFC 896: held while data is unacknowledged */
    assert_int_equal(fx_pending(f), 0);
    fs_write(f, p.si, d + 200, 1500); /* a full segment goes; the 140-byte rest waits */
    cap_t *c = fx_expect(f, &p, HS_TCP_ACK, p.ack + 100, p.seq, 1460);
    uint8_t want[1460];
    fill_pat(want, 100, 1460);
    assert_memory_equal(c->data, want, 1460);
    assert_int_equal(fx_pending(f), 0);
    p.ack += 1560;
    fx_peer_send(f, &p, 0, NULL, 0); /* all acknowledged: the rest goes */
    c = fx_expect(f, &p, HS_TCP_ACK | HS_TCP_PSH, p.ack, p.seq, 140);
    fill_pat(want, 1560, 140);
    assert_memory_equal(c->data, want, 140);
    fx_free(f);
}

static void test_nodelay(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, false);
    assert_int_equal(hs_tcp_set_nodelay(&f->tw, fs_sess(f, p.si)->conn_index, true), 0);
    uint8_t d[300];
    fill_pat(d, 0, sizeof(d));
    for (int i = 0; i < 3; i++) {
        fs_write(f, p.si, d + 100 * i, 100);
        fx_expect(f, &p, HS_TCP_ACK | HS_TCP_PSH, p.ack + 100 * (uint32_t)i, p.seq, 100);
    }
    fx_free(f);
}

static void test_ack_rides_on_data(void **state)
{
    (void)state;
    hs_tcp_config_t cfg;
    fx_tcp_config(&cfg);
    cfg.quickack_segs = 0;
    fx_t *f = fx_new_cfg(&cfg);
    fx_peer_t p;
    fx_accept(f, &p, false);
    uint8_t d[100];
    memset(d, 'q', sizeof(d));
    fx_peer_send(f, &p, 0, d, sizeof(d));
    assert_int_equal(fx_pending(f), 0);
    fs_write(f, p.si, "answer", 6);
    fx_expect(f, &p, HS_TCP_ACK | HS_TCP_PSH, p.ack, p.seq, 6);
    fx_advance(f, 100 * MS); /* the delayed ACK went with the data: nothing more */
    assert_int_equal(fx_pending(f), 0);
    fx_free(f);
}

static void test_timestamps_echoed(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, true);
    uint8_t d[10] = {0};
    fx_peer_send(f, &p, 0, d, sizeof(d));
    cap_t *a = fx_take(f, &p);
    assert_true(a->h.opts & HS_TCP_OPTF_TS);
    assert_int_equal(a->h.tsecr, p.tsval); /* RFC 7323 4.3: TS.Recent echoed */
    uint32_t t0 = a->h.tsval;
    fx_advance(f, 250 * MS);
    fx_peer_send(f, &p, 0, d, sizeof(d));
    a = fx_take(f, &p);
    assert_int_equal(a->h.tsval - t0, 250); /* a 1 ms clock */
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order),
        cmocka_unit_test(test_out_of_order_then_fill),
        cmocka_unit_test(test_dupacks_keep_the_window),
        cmocka_unit_test(test_one_dupack_per_segment_in_a_vector),
        cmocka_unit_test(test_old_and_overlapping_data),
        cmocka_unit_test(test_data_trimmed_to_window),
        cmocka_unit_test(test_sack_blocks_sent),
        cmocka_unit_test(test_sack_blocks_come_out_of_the_payload),
        cmocka_unit_test(test_send_path_peeks_fifo),
        cmocka_unit_test(test_delayed_ack),
        cmocka_unit_test(test_quickack_at_start),
        cmocka_unit_test(test_quickack_after_loss),
        cmocka_unit_test(test_nagle),
        cmocka_unit_test(test_nodelay),
        cmocka_unit_test(test_ack_rides_on_data),
        cmocka_unit_test(test_timestamps_echoed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
