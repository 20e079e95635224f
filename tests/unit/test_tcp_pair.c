/* Two TCP workers joined by an in-memory link on one virtual clock (each with its own
 * packet-path instance and fake session layer): bulk data both ways at once, verified
 * byte for byte, over a clean link, with random loss, reordering and duplication, with
 * heavy loss, and through a tiny receive FIFO read slowly (zero windows); then both sides
 * close and every connection is freed after TIME-WAIT. The link is seeded, so each run
 * replays. (The wire-driver simulations and kernel interop tests come with their own
 * issue; this checks TCP against itself early.) Sizes are smaller under sanitizers.
 * Soak knobs: HS_TCP_PAIR_SWEEP=N runs N more seeds of two impaired scenarios (from
 * HS_TCP_PAIR_SEED, default 1000); HS_TCP_PAIR_TRACE=1 prints every delivered segment. A
 * stall prints both ends' counters and connections. */
#include "tcp/tcp.h" /* (also tells the build to link hs_tcp) */
#include "tcp_fake_session.h"

#define MAX_INFLIGHT 4096

#ifdef HS_SANITIZED
#define SCALE 4
#else
#define SCALE 16
#endif

typedef struct {
    uint64_t at;
    uint32_t len;
    uint8_t *pkt;
} pkt_t;

/* One end's application: writes total bytes of the pattern, reads and checks the peer's. */
typedef struct {
    fx_t *f;
    int si;
    uint64_t total;
    uint64_t sent, rcvd;
    uint32_t read_max; /* per step; 0: all */
    bool closed_by_app;
} app_t;

typedef struct link link_t;
struct link {
    pkt_t q[MAX_INFLIGHT];
    uint32_t n;
    fx_t *to;
    app_t *app; /* the receiving end's application */
    uint64_t *now;
    uint64_t *rng;
    uint32_t loss_ppm, dup_ppm, jitter_us, delay_us;
    uint64_t sent, dropped, duplicated;
};

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void link_put(link_t *l, const uint8_t *pkt, uint32_t len)
{
    assert_true(l->n < MAX_INFLIGHT);
    uint64_t jitter = l->jitter_us ? rnd(l->rng) % l->jitter_us : 0;
    pkt_t *p = &l->q[l->n++];
    p->at = *l->now + (l->delay_us + jitter) * HS_NS_PER_US;
    p->len = len;
    p->pkt = malloc(len);
    memcpy(p->pkt, pkt, len);
}

static void link_forward(void *ctx, const uint8_t *pkt, uint32_t len)
{
    link_t *l = ctx;
    l->sent++;
    if (rnd(l->rng) % 1000000 < l->loss_ppm) {
        l->dropped++;
        return;
    }
    link_put(l, pkt, len);
    if (rnd(l->rng) % 1000000 < l->dup_ppm) {
        l->duplicated++;
        link_put(l, pkt, len);
    }
}

/* RCV.NXT stays equal to the rx FIFO's tail: bytes the app read plus bytes readable. */
static void check_rcv_nxt(link_t *l)
{
    app_t *a = l->app;
    if (!a || a->si < 0)
        return;
    fs_session_t *s = fs_sess(l->to, a->si);
    hs_tcp_conn_t *tc = hs_tcp_conn_get(&l->to->tw, s->conn_index);
    if (!tc || !(tc->flags & HS_TCP_F_SESSION) || tc->state == HS_TCP_TIME_WAIT)
        return;
    uint32_t fin = tc->state == HS_TCP_CLOSE_WAIT || tc->state == HS_TCP_LAST_ACK ||
                   tc->state == HS_TCP_CLOSING;
    uint64_t in = a->rcvd + (uint64_t)hs_fifo_max_dequeue(&s->rx);
    if ((uint32_t)(tc->rcv_nxt - tc->irs - 1 - fin) != (uint32_t)in)
        fail_msg("rcv_nxt %u (irs+1+%u, fin %u) but the FIFO holds %lu bytes of stream",
                 tc->rcv_nxt, tc->rcv_nxt - tc->irs - 1, fin, (unsigned long)in);
}

/* Delivers every packet due by now to the receiving worker, then flushes its output. */
static void link_deliver(link_t *l)
{
    uint32_t i = 0;
    bool any = false;
    while (i < l->n) {
        pkt_t *p = &l->q[i];
        if (p->at > *l->now) {
            i++;
            continue;
        }
        const hs_ip4_header_t *ih = (const hs_ip4_header_t *)p->pkt;
        uint32_t src = ntohl(ih->src), dst = ntohl(ih->dst);
        assert_int_equal(hs_tcp_csum(src, dst, p->pkt + 20, p->len - 20), 0);
        hs_tcp_seg_t seg;
        assert_int_equal(hs_tcp_parse(p->pkt + 20, p->len - 20, &seg), HS_TCP_E_NONE);
        seg.src_ip = src;
        seg.dst_ip = dst;
        seg.fib_index = 0;
        int rv = hs_tcp_rx(&l->to->tw, &seg, *l->now);
        if (getenv("HS_TCP_PAIR_TRACE")) {
            char fl[32];
            print_message("%.6f %s:%u>%u seq %u ack %u %s wnd %u len %u -> %s\n", *l->now / 1e9,
                          src == US ? "A" : "B", seg.src_port, seg.dst_port, seg.seq, seg.ack,
                          hs_tcp_format_flags(fl, seg.flags), seg.wnd, seg.payload_len,
                          hs_tcp_error_str[rv]);
        }
        any = true;
        check_rcv_nxt(l);
        free(p->pkt);
        *p = l->q[--l->n]; /* order does not matter: delivery goes by time */
    }
    if (any)
        hs_tcp_flush(&l->to->tw);
}

static uint64_t link_next(const link_t *l)
{
    uint64_t t = UINT64_MAX;
    for (uint32_t i = 0; i < l->n; i++)
        t = HS_MIN(t, l->q[i].at);
    return t;
}

static void link_free(link_t *l)
{
    for (uint32_t i = 0; i < l->n; i++)
        free(l->q[i].pkt);
    l->n = 0;
}

static void app_step(app_t *a)
{
    if (a->si < 0)
        return;
    fs_session_t *s = fs_sess(a->f, a->si);
    uint32_t ci = s->conn_index; /* not to be used once the transport said closed */
    uint8_t buf[16384];
    if (a->sent < a->total && !s->closed) {
        int room = hs_fifo_max_enqueue(&s->tx);
        uint32_t n = (uint32_t)HS_MIN((uint64_t)HS_MIN(room, (int)sizeof(buf)), a->total - a->sent);
        if (n) {
            fill_pat(buf, a->sent, n);
            assert_int_equal(hs_fifo_enqueue(&s->tx, buf, n), (int)n);
            a->sent += n;
            hs_tcp_app_tx(&a->f->tw, ci);
        }
    }
    uint32_t want = a->read_max ? a->read_max : sizeof(buf);
    int n = hs_fifo_dequeue(&s->rx, buf, HS_MIN(want, (uint32_t)sizeof(buf)));
    if (n > 0) {
        for (int i = 0; i < n; i++) {
            if (buf[i] != pat(a->rcvd + (uint64_t)i))
                fail_msg("byte %lu: got %u want %u", (unsigned long)(a->rcvd + (uint64_t)i), buf[i],
                         pat(a->rcvd + (uint64_t)i));
        }
        a->rcvd += (uint64_t)n;
        if (!s->closed) /* what is left in the FIFO after TIME-WAIT began is still ours */
            hs_tcp_app_rx(&a->f->tw, ci);
    }
    /* Close once everything is written (the FIN follows the data). */
    if (a->sent == a->total && !a->closed_by_app && !s->closed) {
        a->closed_by_app = true;
        hs_tcp_close(&a->f->tw, ci);
    }
    hs_tcp_flush(&a->f->tw);
}

static bool app_readable(app_t *a)
{
    return a->si >= 0 && hs_fifo_max_dequeue(&fs_sess(a->f, a->si)->rx) > 0;
}

typedef struct {
    uint64_t bytes;
    uint32_t loss_ppm, dup_ppm, jitter_us;
    uint32_t fifo_size;
    uint32_t read_max;
    uint64_t seed;
    uint64_t fin_wait2_ns; /* 0: the default (60 s) */
} scenario_t;

static void run(const scenario_t *sc)
{
    hs_tcp_config_t cfg;
    fx_tcp_config(&cfg);
    if (sc->fin_wait2_ns)
        cfg.fin_wait2_ns = sc->fin_wait2_ns;
    fx_t *a = fx_new_at(US, PEER, &cfg);
    fx_t *b = fx_new_at(PEER, US, &cfg);
    a->sw.fifo_size = b->sw.fifo_size = sc->fifo_size;
    uint64_t now = a->now, rng = sc->seed;
    static link_t ab, ba;
    ab = (link_t){.to = b,
                  .now = &now,
                  .rng = &rng,
                  .loss_ppm = sc->loss_ppm,
                  .dup_ppm = sc->dup_ppm,
                  .jitter_us = sc->jitter_us,
                  .delay_us = 500};
    ba = ab;
    ba.to = a;
    a->forward = link_forward, a->fwd_ctx = &ab;
    b->forward = link_forward, b->fwd_ctx = &ba;
    fs_listen(b, 0, 7000);
    app_t aa = {
        .f = a, .si = fs_connect(a, PEER, 7000), .total = sc->bytes, .read_max = sc->read_max};
    app_t bb = {.f = b, .si = -1, .total = sc->bytes, .read_max = sc->read_max};
    ab.app = &bb;
    ba.app = &aa;
    uint64_t step = 100 * HS_NS_PER_US, deadline = now + 3600 * SEC;
    while (now < deadline) {
        link_deliver(&ab);
        link_deliver(&ba);
        if (bb.si < 0 && b->sw.last_accepted >= 0)
            bb.si = b->sw.last_accepted;
        app_step(&aa);
        app_step(&bb);
        bool done = aa.si >= 0 && bb.si >= 0 && fs_sess(a, aa.si)->closed &&
                    fs_sess(b, bb.si)->closed && aa.rcvd == aa.total && bb.rcvd == bb.total;
        if (done && hs_pool_count(&a->tw.conns) == 0 && hs_pool_count(&b->tw.conns) == 0)
            break;
        /* Next: a packet due, a timer, or the next application step while data moves. */
        uint64_t next = HS_MIN(link_next(&ab), link_next(&ba));
        bool busy = next != UINT64_MAX || aa.sent < aa.total || bb.sent < bb.total ||
                    app_readable(&aa) || app_readable(&bb);
        next = HS_MIN(next, hs_tw_next_expiry_ns(&a->tw.wheel));
        next = HS_MIN(next, hs_tw_next_expiry_ns(&b->tw.wheel));
        if (busy)
            next = HS_MIN(next, now + step);
        now = HS_MAX(now + 1, HS_MIN(next, deadline));
        a->now = b->now = now;
        hs_tcp_poll(&a->tw, now);
        hs_tcp_poll(&b->tw, now);
    }
    if (now >= deadline) { /* stalled: show both ends */
        hs_str_t out = {0};
        for (int side = 0; side < 2; side++) {
            fx_t *x = side ? b : a;
            app_t *ap = side ? &bb : &aa;
            fs_session_t *ss = ap->si >= 0 ? fs_sess(x, ap->si) : NULL;
            hs_str_printf(&out, "side %c: sent %lu rcvd %lu closed %d reset %d closing %d\n",
                          'A' + side, (unsigned long)ap->sent, (unsigned long)ap->rcvd,
                          ss ? ss->closed : -1, ss ? ss->reset : -1, ss ? ss->closing : -1);
            if (ss)
                hs_str_printf(&out, "  rx fifo readable %d ooo %u corrupt %lu\n",
                              hs_fifo_max_dequeue(&ss->rx), hs_fifo_n_ooo(&ss->rx),
                              (unsigned long)hs_fifo_n_corrupt(&ss->rx));
            hs_tcp_format_stats(&x->tw, &out);
            hs_pool_foreach(&x->tw.conns, ci)
                hs_tcp_format_conn(&x->tw, hs_tcp_conn_get(&x->tw, ci), true, &out);
        }
        fprintf(stderr, "seed %lu stalled:\n%s", (unsigned long)sc->seed, hs_str_cstr(&out));
        hs_str_free(&out);
    }
    assert_true(now < deadline);
    assert_int_equal(aa.rcvd, sc->bytes);
    assert_int_equal(bb.rcvd, sc->bytes);
    assert_true(fs_sess(a, aa.si)->closing);
    assert_true(fs_sess(b, bb.si)->closing);
    assert_false(fs_sess(a, aa.si)->reset);
    assert_false(fs_sess(b, bb.si)->reset);
    assert_int_equal(fs_sess(a, aa.si)->n_closed, 1);
    assert_int_equal(fs_sess(b, bb.si)->n_closed, 1);
    assert_int_equal(fs_n_table(&a->sw), 0);
    assert_int_equal(fs_n_table(&b->sw), 0);
    print_message("    %lu bytes each way in %.3f s virtual; sent %lu+%lu pkts, lost %lu, dup %lu; "
                  "retransmits %lu+%lu (fast %lu+%lu, timeouts %lu+%lu)\n",
                  (unsigned long)sc->bytes, (now - 10 * SEC) / 1e9, (unsigned long)ab.sent,
                  (unsigned long)ba.sent, (unsigned long)(ab.dropped + ba.dropped),
                  (unsigned long)(ab.duplicated + ba.duplicated),
                  (unsigned long)a->tw.stats[HS_TCP_S_RETRANSMITS],
                  (unsigned long)b->tw.stats[HS_TCP_S_RETRANSMITS],
                  (unsigned long)a->tw.stats[HS_TCP_S_FAST_RETRANSMITS],
                  (unsigned long)b->tw.stats[HS_TCP_S_FAST_RETRANSMITS],
                  (unsigned long)a->tw.stats[HS_TCP_S_TIMEOUTS],
                  (unsigned long)b->tw.stats[HS_TCP_S_TIMEOUTS]);
    if (sc->loss_ppm >= 10000) /* data was lost, surely */
        assert_true(a->tw.stats[HS_TCP_S_RETRANSMITS] + b->tw.stats[HS_TCP_S_RETRANSMITS] > 0);
    link_free(&ab);
    link_free(&ba);
    fx_free(a);
    fx_free(b);
}

static void test_clean_link(void **state)
{
    (void)state;
    run(&(scenario_t){.bytes = SCALE * (2u << 20), .fifo_size = 1u << 16, .seed = 1});
}

static void test_loss_reorder_duplication(void **state)
{
    (void)state;
    run(&(scenario_t){.bytes = SCALE * (1u << 20),
                      .loss_ppm = 10000,
                      .dup_ppm = 5000,
                      .jitter_us = 400,
                      .fifo_size = 1u << 16,
                      .seed = 2});
}

static void test_heavy_loss(void **state)
{
    (void)state;
    run(&(scenario_t){.bytes = SCALE * (256u << 10),
                      .loss_ppm = 50000,
                      .jitter_us = 100,
                      .fifo_size = 1u << 16,
                      .seed = 3});
}

static void test_small_fifo_slow_reader(void **state)
{
    (void)state;
    run(&(scenario_t){.bytes = SCALE * (256u << 10),
                      .fifo_size = 4096,
                      .read_max = 700,
                      .loss_ppm = 5000,
                      .seed = 4});
}

/* HS_TCP_PAIR_SWEEP=N runs N more seeds of the impaired scenarios (for soak runs). */
static void test_seed_sweep(void **state)
{
    (void)state;
    const char *e = getenv("HS_TCP_PAIR_SWEEP");
    int n = e ? atoi(e) : 0;
    const char *first = getenv("HS_TCP_PAIR_SEED");
    for (int i = 0; i < n; i++) {
        uint64_t seed = (first ? strtoull(first, NULL, 0) : 1000) + (uint64_t)i;
        run(&(scenario_t){.bytes = 1u << 20,
                          .loss_ppm = 20000,
                          .dup_ppm = 10000,
                          .jitter_us = 800,
                          .fifo_size = 1u << 16,
                          .seed = seed});
        run(&(scenario_t){.bytes = 128u << 10,
                          .loss_ppm = 100000,
                          .jitter_us = 300,
                          .fifo_size = 1u << 14,
                          .read_max = 999,
                          .seed = seed});
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_link), cmocka_unit_test(test_loss_reorder_duplication),
        cmocka_unit_test(test_heavy_loss), cmocka_unit_test(test_small_fifo_slow_reader),
        cmocka_unit_test(test_seed_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
