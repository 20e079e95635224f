/* Opening connections (RFC 9293 3.5, 3.10.7.1-3.10.7.4): passive and active opens with
 * options negotiated (RFC 7323, RFC 2018) or absent, MSS from the interface MTU, resets to
 * closed ports, simultaneous open, lost SYN and SYN-ACK with retries and backoff, refusals,
 * unacceptable ACKs in the handshake states. */
#include "tcp/tcp.h" /* (also tells the build to link hs_tcp) */
#include "tcp_fake_session.h"

#define PEER_ISS  5000u
#define FULL_OPTS (HS_TCP_OPTF_MSS | HS_TCP_OPTF_WSCALE | HS_TCP_OPTF_SACK_PERM | HS_TCP_OPTF_TS)

static void test_passive_open_with_options(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fs_listen(f, 0, US_PORT);
    assert_int_equal(fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN,
                                            .seq = PEER_ISS,
                                            .opts = FULL_OPTS,
                                            .mss = 1460,
                                            .wscale = 7,
                                            .tsval = 1000}),
                     HS_TCP_E_NONE);
    cap_t *sa = fx_pop(f);
    assert_int_equal(sa->h.flags, HS_TCP_SYN | HS_TCP_ACK);
    assert_int_equal(sa->h.ack, PEER_ISS + 1);
    assert_int_equal(sa->src, US);
    assert_int_equal(sa->dst, PEER);
    assert_int_equal(sa->h.src_port, US_PORT);
    assert_int_equal(sa->h.dst_port, PEER_PORT);
    assert_int_equal(sa->h.opts, FULL_OPTS);
    assert_int_equal(sa->h.mss, 1460); /* MTU 1500 - 40 */
    assert_int_equal(sa->h.wscale, 9); /* 65535 << 9 covers the 16 MiB buffer maximum */
    assert_int_equal(sa->h.tsecr, 1000);
    assert_int_equal(sa->h.wnd, 65535); /* never scaled in a SYN */
    assert_int_equal(f->sw.n_accepts, 0);
    assert_int_equal(fs_n_table(&f->sw), 1);
    uint32_t iss = sa->h.seq;
    assert_int_equal(fx_send(f, &(fx_seg_t){.flags = HS_TCP_ACK,
                                            .seq = PEER_ISS + 1,
                                            .ack = iss + 1,
                                            .opts = HS_TCP_OPTF_TS,
                                            .tsval = 1001,
                                            .tsecr = sa->h.tsval,
                                            .wnd = 1000}),
                     HS_TCP_E_NONE);
    assert_int_equal(f->sw.n_accepts, 1);
    int si = f->sw.last_accepted;
    hs_tcp_conn_t *tc = fs_conn(f, si);
    assert_int_equal(tc->state, HS_TCP_ESTABLISHED);
    assert_true(tc->flags & HS_TCP_F_TS);
    assert_true(tc->flags & HS_TCP_F_WS);
    assert_true(tc->flags & HS_TCP_F_SACK);
    assert_int_equal(tc->snd_mss, 1448); /* 1460 less the timestamp option */
    assert_int_equal(tc->snd_wscale, 7);
    assert_int_equal(tc->snd_wnd, 1000u << 7);
    assert_int_equal(tc->snd_una, iss + 1);
    assert_int_equal(tc->rcv_nxt, PEER_ISS + 1);
    assert_int_equal(tc->ts_recent, 1001);
    assert_int_equal(tc->cwnd, 10 * 1448); /* RFC 6928 */
    assert_int_equal(fx_pending(f), 0);    /* nothing to say */
    assert_int_equal(f->tw.stats[HS_TCP_S_PASSIVE_OPENS], 1);
    assert_int_equal(f->tw.stats[HS_TCP_S_ACCEPTED], 1);
    fx_free(f);
}

static void test_passive_open_no_options(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fs_listen(f, US, US_PORT);
    assert_int_equal(fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN, .seq = PEER_ISS}), HS_TCP_E_NONE);
    cap_t *sa = fx_pop(f);
    /* A SYN-ACK carries only what the peer offered, plus our MSS. */
    assert_int_equal(sa->h.opts, HS_TCP_OPTF_MSS);
    fx_send(f, &(fx_seg_t){.flags = HS_TCP_ACK, .seq = PEER_ISS + 1, .ack = sa->h.seq + 1});
    hs_tcp_conn_t *tc = fs_conn(f, f->sw.last_accepted);
    assert_int_equal(tc->state, HS_TCP_ESTABLISHED);
    assert_false(tc->flags & (HS_TCP_F_TS | HS_TCP_F_WS | HS_TCP_F_SACK));
    assert_int_equal(tc->snd_mss, 536); /* RFC 9293 3.7.1 default */
    assert_int_equal(tc->snd_wscale, 0);
    assert_int_equal(tc->rcv_wscale, 0);
    assert_int_equal(tc->snd_wnd, 65535);
    fx_free(f);
}

static void test_active_open_with_options(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    int si = fs_connect(f, PEER, 7);
    cap_t *syn = fx_pop(f);
    assert_int_equal(syn->h.flags, HS_TCP_SYN);
    assert_int_equal(syn->h.dst_port, 7);
    assert_true(syn->h.src_port >= 49152);
    assert_int_equal(syn->src, US);
    assert_int_equal(syn->h.opts, FULL_OPTS);
    assert_int_equal(syn->h.mss, 1460);
    assert_int_equal(syn->h.tsecr, 0);
    assert_int_equal(syn->h.ack, 0);
    assert_int_equal(fs_conn(f, si)->state, HS_TCP_SYN_SENT);
    f->now += 3 * MS;
    fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN | HS_TCP_ACK,
                           .seq = PEER_ISS,
                           .ack = syn->h.seq + 1,
                           .opts = FULL_OPTS,
                           .mss = 1200,
                           .wscale = 2,
                           .tsval = 77,
                           .tsecr = syn->h.tsval,
                           .sport = 7,
                           .dport = syn->h.src_port,
                           .wnd = 20000});
    fs_session_t *s = fs_sess(f, si);
    assert_true(s->connected);
    assert_int_equal(s->connect_err, 0);
    cap_t *ack = fx_pop(f);
    assert_int_equal(ack->h.flags, HS_TCP_ACK);
    assert_int_equal(ack->h.seq, syn->h.seq + 1);
    assert_int_equal(ack->h.ack, PEER_ISS + 1);
    assert_int_equal(ack->h.opts, HS_TCP_OPTF_TS);
    assert_int_equal(ack->h.tsecr, 77);
    hs_tcp_conn_t *tc = fs_conn(f, si);
    assert_int_equal(tc->state, HS_TCP_ESTABLISHED);
    assert_int_equal(tc->snd_mss, 1200 - 12);
    assert_int_equal(tc->snd_wnd, 20000); /* the SYN-ACK's window is not scaled */
    assert_int_equal(tc->snd_wscale, 2);
    /* The RTT came from the echoed timestamp: 3 ms. */
    assert_true(tc->flags & HS_TCP_F_HAVE_RTT);
    assert_int_equal(tc->srtt_us, 3000);
    assert_int_equal(tc->rto_us, 200000); /* 3 ms + 4 * 1.5 ms, below the 200 ms floor */
    assert_false(hs_tcp_timer_running(tc, HS_TCP_T_RETRANSMIT));
    fx_free(f);
}

static void test_active_open_peer_without_options(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    int si = fs_connect(f, PEER, 7);
    cap_t *syn = fx_pop(f);
    f->now += 5 * MS;
    fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN | HS_TCP_ACK,
                           .seq = PEER_ISS,
                           .ack = syn->h.seq + 1,
                           .sport = 7,
                           .dport = syn->h.src_port});
    hs_tcp_conn_t *tc = fs_conn(f, si);
    assert_int_equal(tc->state, HS_TCP_ESTABLISHED);
    assert_false(tc->flags & (HS_TCP_F_TS | HS_TCP_F_WS | HS_TCP_F_SACK));
    assert_int_equal(tc->rcv_wscale, 0); /* our scale is withdrawn too (RFC 7323 2.2) */
    assert_int_equal(tc->snd_mss, 536);
    /* Without timestamps the SYN itself was timed (Karn: it was not retransmitted). */
    assert_int_equal(tc->srtt_us, 5000);
    cap_t *ack = fx_pop(f);
    assert_int_equal(ack->h.opts, 0);
    fx_free(f);
}

static void test_mss_follows_mtu(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    assert_int_equal(hs_interface_set_mtu(f->net, f->sw_if, 1400), 0);
    fs_connect(f, PEER, 7);
    assert_int_equal(fx_pop(f)->h.mss, 1360);
    fx_free(f);
}

static void test_no_route(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    int si = fs_session_new(&f->sw);
    hs_endpoint_t ep = {.fib_index = 0, .ip = IP4(192, 168, 9, 9), .port = 7};
    assert_int_equal(hs_tcp_connect(&f->tw, (uint32_t)si, &ep), -ENETUNREACH);
    assert_int_equal(hs_pool_count(&f->tw.conns), 0);
    assert_int_equal(fs_n_table(&f->sw), 0);
    fx_free(f);
}

static void test_syn_to_closed_port_gets_rst(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    /* RFC 9293 3.10.7.1: no ACK -> <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, at once. */
    assert_int_equal(fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN, .seq = PEER_ISS, .dport = 9}),
                     HS_TCP_E_NO_LISTENER);
    cap_t *r = fx_pop(f);
    assert_int_equal(r->h.flags, HS_TCP_RST | HS_TCP_ACK);
    assert_int_equal(r->h.seq, 0);
    assert_int_equal(r->h.ack, PEER_ISS + 1);
    assert_int_equal(r->h.src_port, 9);
    assert_int_equal(r->h.dst_port, PEER_PORT);
    assert_int_equal(r->src, US);
    assert_int_equal(r->dst, PEER);
    /* With data and FIN, SEG.LEN counts them all. */
    fx_send(f,
            &(fx_seg_t){
                .flags = HS_TCP_FIN | HS_TCP_PSH, .seq = 100, .data = "abc", .len = 3, .dport = 9});
    r = fx_pop(f);
    assert_int_equal(r->h.ack, 104);
    /* ACK -> <SEQ=SEG.ACK><CTL=RST> */
    fx_send(f, &(fx_seg_t){.flags = HS_TCP_ACK, .seq = 1, .ack = 0x12345678, .dport = 9});
    r = fx_pop(f);
    assert_int_equal(r->h.flags, HS_TCP_RST);
    assert_int_equal(r->h.seq, 0x12345678);
    /* A RST is never answered. */
    assert_int_equal(fx_send(f, &(fx_seg_t){.flags = HS_TCP_RST, .seq = 1, .dport = 9}),
                     HS_TCP_E_RST_NO_CONN);
    assert_int_equal(fx_pending(f), 0);
    assert_int_equal(f->tw.stats[HS_TCP_S_RST_OUT], 3);
    fx_free(f);
}

static void test_ack_to_listener_gets_rst(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fs_listen(f, 0, US_PORT);
    assert_int_equal(fx_send(f, &(fx_seg_t){.flags = HS_TCP_ACK, .seq = 9, .ack = 777}),
                     HS_TCP_E_LISTEN_ACK);
    cap_t *r = fx_pop(f);
    assert_int_equal(r->h.flags, HS_TCP_RST);
    assert_int_equal(r->h.seq, 777);
    /* SYN with FIN: dropped (as Linux does); a plain FIN likewise. */
    assert_int_equal(fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN | HS_TCP_FIN, .seq = 9}),
                     HS_TCP_E_LISTEN_BAD);
    assert_int_equal(fx_send(f, &(fx_seg_t){.flags = HS_TCP_FIN, .seq = 9}), HS_TCP_E_LISTEN_BAD);
    assert_int_equal(fx_send(f, &(fx_seg_t){.flags = HS_TCP_RST, .seq = 9}), HS_TCP_E_RST_NO_CONN);
    assert_int_equal(fx_pending(f), 0);
    assert_int_equal(hs_pool_count(&f->tw.conns), 0);
    fx_free(f);
}

static void test_simultaneous_open(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    int si = fs_connect(f, PEER, 7);
    cap_t *syn = fx_pop(f);
    uint16_t lport = syn->h.src_port;
    /* RFC 9293 3.5 figure 7: both send SYNs; each answers the other's with a SYN-ACK. */
    fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN,
                           .seq = PEER_ISS,
                           .sport = 7,
                           .dport = lport,
                           .opts = HS_TCP_OPTF_MSS | HS_TCP_OPTF_TS,
                           .mss = 1460,
                           .tsval = 50});
    hs_tcp_conn_t *tc = fs_conn(f, si);
    assert_int_equal(tc->state, HS_TCP_SYN_RCVD);
    cap_t *sa = fx_pop(f);
    assert_int_equal(sa->h.flags, HS_TCP_SYN | HS_TCP_ACK);
    assert_int_equal(sa->h.seq, syn->h.seq); /* the same ISS */
    assert_int_equal(sa->h.ack, PEER_ISS + 1);
    assert_int_equal(sa->h.opts, HS_TCP_OPTF_MSS | HS_TCP_OPTF_TS); /* what both offered */
    assert_false(fs_sess(f, si)->connect_done);
    fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN | HS_TCP_ACK,
                           .seq = PEER_ISS,
                           .ack = syn->h.seq + 1,
                           .sport = 7,
                           .dport = lport,
                           .opts = HS_TCP_OPTF_MSS | HS_TCP_OPTF_TS,
                           .mss = 1460,
                           .tsval = 51,
                           .tsecr = syn->h.tsval});
    /* Its SYN-ACK's ACK completes our SYN-RECEIVED; nothing more needs saying. */
    assert_int_equal(tc->state, HS_TCP_ESTABLISHED);
    assert_true(fs_sess(f, si)->connected);
    assert_true(tc->flags & HS_TCP_F_TS);
    assert_false(tc->flags & HS_TCP_F_WS);
    assert_int_equal(tc->snd_una, syn->h.seq + 1);
    assert_int_equal(tc->rcv_nxt, PEER_ISS + 1);
    assert_int_equal(fx_pending(f), 0);
    fx_free(f);
}

static void test_syn_retries_then_timeout(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    int si = fs_connect(f, PEER, 7);
    cap_t *syn = fx_pop(f);
    uint32_t iss = syn->h.seq;
    /* RFC 6298 5.5 backoff from the 1 s initial RTO: resent after 1, 2, 4, 8, 16, 32 s. */
    uint64_t t0 = f->now;
    uint64_t gaps[] = {1, 2, 4, 8, 16, 32};
    uint64_t at = t0;
    for (int i = 0; i < 6; i++) {
        at += gaps[i] * SEC;
        fx_advance(f, at - f->now - MS);
        assert_int_equal(fx_pending(f), 0);
        fx_advance(f, 2 * MS);
        cap_t *again = fx_pop(f);
        assert_int_equal(again->h.flags, HS_TCP_SYN);
        assert_int_equal(again->h.seq, iss);
    }
    assert_false(fs_sess(f, si)->connect_done);
    fx_advance(f, 64 * SEC);
    assert_true(fs_sess(f, si)->connect_done);
    assert_int_equal(fs_sess(f, si)->connect_err, -ETIMEDOUT);
    assert_int_equal(fx_pending(f), 0);
    assert_int_equal(hs_pool_count(&f->tw.conns), 0);
    assert_int_equal(fs_n_table(&f->sw), 0);
    assert_int_equal(f->tw.stats[HS_TCP_S_SYN_RETRANSMITS], 6);
    assert_int_equal(f->tw.stats[HS_TCP_S_CONNECT_FAILED], 1);
    fx_free(f);
}

static void test_syn_timeout_then_rto_3s(void **state)
{
    (void)state;
    hs_tcp_config_t cfg;
    fx_tcp_config(&cfg);
    cfg.timestamps = false;
    fx_t *f = fx_new_cfg(&cfg);
    int si = fs_connect(f, PEER, 7);
    cap_t *syn = fx_pop(f);
    fx_advance(f, 1 * SEC + MS);
    fx_pop(f);
    fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN | HS_TCP_ACK,
                           .seq = PEER_ISS,
                           .ack = syn->h.seq + 1,
                           .sport = 7,
                           .dport = syn->h.src_port});
    hs_tcp_conn_t *tc = fs_conn(f, si);
    assert_int_equal(tc->state, HS_TCP_ESTABLISHED);
    /* Karn: no sample from a retransmitted SYN; RFC 6298 5.7: RTO 3 s for the data. */
    assert_false(tc->flags & HS_TCP_F_HAVE_RTT);
    assert_int_equal(hs_tcp_rto_ns(&f->tw, tc), 3 * SEC);
    fx_free(f);
}

static void test_synack_lost_peer_resends_syn(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fs_listen(f, 0, US_PORT);
    fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN, .seq = PEER_ISS});
    cap_t *sa = fx_pop(f);
    assert_int_equal(fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN, .seq = PEER_ISS}),
                     HS_TCP_E_SYN_DUP);
    cap_t *sa2 = fx_pop(f);
    assert_int_equal(sa2->h.flags, HS_TCP_SYN | HS_TCP_ACK);
    assert_int_equal(sa2->h.seq, sa->h.seq);
    assert_int_equal(hs_pool_count(&f->tw.conns), 1);
    fx_free(f);
}

static void test_synack_retries_then_dropped(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fs_listen(f, 0, US_PORT);
    fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN, .seq = PEER_ISS});
    fx_pop(f);
    fx_advance(f, 200 * SEC);
    /* 5 retries (1+2+4+8+16 s), then the half-open connection goes without a word. */
    uint32_t n = 0;
    while (fx_pending(f)) {
        cap_t *c = fx_pop(f);
        assert_int_equal(c->h.flags, HS_TCP_SYN | HS_TCP_ACK);
        n++;
    }
    assert_int_equal(n, 5);
    assert_int_equal(hs_pool_count(&f->tw.conns), 0);
    assert_int_equal(fs_n_table(&f->sw), 0);
    assert_int_equal(f->sw.n_accepts, 0);
    fx_free(f);
}

static void test_rst_in_syn_sent(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    int si = fs_connect(f, PEER, 7);
    cap_t *syn = fx_pop(f);
    /* RST without ACK: not acceptable in SYN-SENT, dropped. */
    assert_int_equal(
        fx_send(f,
                &(fx_seg_t){.flags = HS_TCP_RST, .seq = 0, .sport = 7, .dport = syn->h.src_port}),
        HS_TCP_E_RST_OUT_OF_WINDOW);
    assert_false(fs_sess(f, si)->connect_done);
    /* RST with an ACK of something else: dropped too. */
    assert_int_equal(fx_send(f, &(fx_seg_t){.flags = HS_TCP_RST | HS_TCP_ACK,
                                            .ack = syn->h.seq + 5,
                                            .sport = 7,
                                            .dport = syn->h.src_port}),
                     HS_TCP_E_RST_OUT_OF_WINDOW);
    assert_false(fs_sess(f, si)->connect_done);
    /* RST acknowledging our SYN: connection refused. */
    assert_int_equal(fx_send(f, &(fx_seg_t){.flags = HS_TCP_RST | HS_TCP_ACK,
                                            .ack = syn->h.seq + 1,
                                            .sport = 7,
                                            .dport = syn->h.src_port}),
                     HS_TCP_E_NONE);
    assert_true(fs_sess(f, si)->connect_done);
    assert_int_equal(fs_sess(f, si)->connect_err, -ECONNREFUSED);
    assert_false(fs_sess(f, si)->closed); /* a failed connect ends with connected() */
    assert_int_equal(fx_pending(f), 0);
    assert_int_equal(hs_pool_count(&f->tw.conns), 0);
    assert_int_equal(fs_n_table(&f->sw), 0);
    fx_free(f);
}

static void test_bad_ack_in_syn_sent(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    int si = fs_connect(f, PEER, 7);
    cap_t *syn = fx_pop(f);
    /* RFC 9293 3.10.7.3: SEG.ACK =< ISS or > SND.NXT -> <SEQ=SEG.ACK><CTL=RST>. */
    assert_int_equal(fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN | HS_TCP_ACK,
                                            .seq = PEER_ISS,
                                            .ack = syn->h.seq,
                                            .sport = 7,
                                            .dport = syn->h.src_port}),
                     HS_TCP_E_SYN_SENT_BAD_ACK);
    cap_t *r = fx_pop(f);
    assert_int_equal(r->h.flags, HS_TCP_RST);
    assert_int_equal(r->h.seq, syn->h.seq);
    assert_int_equal(fs_conn(f, si)->state, HS_TCP_SYN_SENT);
    /* Neither SYN nor RST: dropped. */
    assert_int_equal(fx_send(f, &(fx_seg_t){.flags = HS_TCP_ACK,
                                            .ack = syn->h.seq + 1,
                                            .sport = 7,
                                            .dport = syn->h.src_port}),
                     HS_TCP_E_SYN_SENT_BAD);
    assert_int_equal(fx_pending(f), 0);
    fx_free(f);
}

static void test_bad_ack_in_syn_rcvd(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fs_listen(f, 0, US_PORT);
    fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN, .seq = PEER_ISS});
    cap_t *sa = fx_pop(f);
    assert_int_equal(
        fx_send(f, &(fx_seg_t){.flags = HS_TCP_ACK, .seq = PEER_ISS + 1, .ack = sa->h.seq + 100}),
        HS_TCP_E_SYN_RCVD_BAD_ACK);
    cap_t *r = fx_pop(f);
    assert_int_equal(r->h.flags, HS_TCP_RST);
    assert_int_equal(r->h.seq, sa->h.seq + 100);
    assert_int_equal(f->sw.n_accepts, 0);
    /* The right ACK still completes it. */
    fx_send(f, &(fx_seg_t){.flags = HS_TCP_ACK, .seq = PEER_ISS + 1, .ack = sa->h.seq + 1});
    assert_int_equal(f->sw.n_accepts, 1);
    fx_free(f);
}

static void test_accept_refused_resets(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fs_listen(f, 0, US_PORT);
    f->sw.accept_rv = -ENOMEM;
    fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN, .seq = PEER_ISS});
    cap_t *sa = fx_pop(f);
    assert_int_equal(
        fx_send(f, &(fx_seg_t){.flags = HS_TCP_ACK, .seq = PEER_ISS + 1, .ack = sa->h.seq + 1}),
        HS_TCP_E_ACCEPT_FAILED);
    cap_t *r = fx_pop(f);
    assert_int_equal(r->h.flags, HS_TCP_RST | HS_TCP_ACK);
    assert_int_equal(r->h.seq, sa->h.seq + 1);
    assert_int_equal(hs_pool_count(&f->tw.conns), 0);
    assert_int_equal(fs_n_table(&f->sw), 0);
    fx_free(f);
}

static void test_rst_in_syn_rcvd_passive(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fs_listen(f, 0, US_PORT);
    fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN, .seq = PEER_ISS});
    fx_pop(f);
    /* Back to LISTEN: the half-open connection goes, nobody is told. */
    assert_int_equal(fx_send(f, &(fx_seg_t){.flags = HS_TCP_RST, .seq = PEER_ISS + 1}),
                     HS_TCP_E_NONE);
    assert_int_equal(hs_pool_count(&f->tw.conns), 0);
    assert_int_equal(fx_pending(f), 0);
    /* The listener takes new SYNs as before. */
    fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN, .seq = PEER_ISS + 10});
    assert_int_equal(fx_pop(f)->h.flags, HS_TCP_SYN | HS_TCP_ACK);
    fx_free(f);
}

static void test_syn_backlog(void **state)
{
    (void)state;
    hs_tcp_config_t cfg;
    fx_tcp_config(&cfg);
    cfg.syn_backlog = 2;
    fx_t *f = fx_new_cfg(&cfg);
    fs_listen(f, 0, US_PORT);
    for (uint16_t p = 1; p <= 3; p++)
        fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN, .seq = PEER_ISS, .sport = p});
    assert_int_equal(hs_pool_count(&f->tw.conns), 2);
    assert_int_equal(f->tw.drops[HS_TCP_E_SYN_BACKLOG], 1);
    fx_free(f);
}

static void test_isn_differs_per_tuple_and_time(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fs_listen(f, 0, US_PORT);
    fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN, .seq = 1, .sport = 1000});
    uint32_t a = fx_pop(f)->h.seq;
    fx_send(f, &(fx_seg_t){.flags = HS_TCP_SYN, .seq = 1, .sport = 1001});
    uint32_t b = fx_pop(f)->h.seq;
    assert_int_not_equal(a, b);
    /* RFC 6528: the same tuple later gets the clock's advance (4 us ticks). */
    hs_transport_conn_t c = {.lcl_ip = US, .rmt_ip = PEER, .lcl_port = 80, .rmt_port = 1};
    uint32_t i0 = hs_tcp_isn(&f->tw, &c, 1000 * MS);
    uint32_t i1 = hs_tcp_isn(&f->tw, &c, 1004 * MS);
    assert_int_equal(i1 - i0, 1000);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_passive_open_with_options),
        cmocka_unit_test(test_passive_open_no_options),
        cmocka_unit_test(test_active_open_with_options),
        cmocka_unit_test(test_active_open_peer_without_options),
        cmocka_unit_test(test_mss_follows_mtu),
        cmocka_unit_test(test_no_route),
        cmocka_unit_test(test_syn_to_closed_port_gets_rst),
        cmocka_unit_test(test_ack_to_listener_gets_rst),
        cmocka_unit_test(test_simultaneous_open),
        cmocka_unit_test(test_syn_retries_then_timeout),
        cmocka_unit_test(test_syn_timeout_then_rto_3s),
        cmocka_unit_test(test_synack_lost_peer_resends_syn),
        cmocka_unit_test(test_synack_retries_then_dropped),
        cmocka_unit_test(test_rst_in_syn_sent),
        cmocka_unit_test(test_bad_ack_in_syn_sent),
        cmocka_unit_test(test_bad_ack_in_syn_rcvd),
        cmocka_unit_test(test_accept_refused_resets),
        cmocka_unit_test(test_rst_in_syn_rcvd_passive),
        cmocka_unit_test(test_syn_backlog),
        cmocka_unit_test(test_isn_differs_per_tuple_and_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
