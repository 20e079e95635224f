/* tcp4-input through a real graph: segments in packet buffers (current position at the IP
 * header, as ip4-local hands them on) are checked at the door and dropped by named reason
 * (too short, bad data offset, bad checksum, broadcast), driver-validated checksums are
 * trusted, payload spread over a buffer chain lands in the FIFO whole (as spans, or copied
 * when the chain is long), traces record the segment; TCP's own emit goes through
 * ip4-lookup and ARP to the device, with the checksum left to an offloading interface; show
 * output; ephemeral ports. */
#include "tcp/tcp.h" /* (also tells the build to link hs_tcp) */
#include "tcp_fake_session.h"

#include "net/arp.h"

static hs_net_worker_t *nw(fx_t *f)
{
    return hs_net_worker(f->net, 0);
}

static uint64_t node_err(fx_t *f, hs_tcp_error_t e)
{
    return nw(f)->rt.nodes[hs_tcp_node_index(f->net)].errors[e];
}

/* Puts an IPv4 packet carrying the segment into tcp4-input and runs the graph. */
/* Moves the bytes of b from offset `at` on into a second buffer chained after it: headers
 * split over two buffers, as a driver reading into fixed pieces could deliver them. */
static void split_at(fx_t *f, uint32_t bi, uint32_t at)
{
    hs_buf_pool_t *p = nw(f)->bufs.pool;
    hs_buf_t *b = hs_buf_ptr(p, bi);
    assert_false(b->flags & HS_BUF_F_NEXT);
    uint32_t b2i;
    assert_int_equal(hs_buf_alloc(&nw(f)->bufs, &b2i, 1), 1);
    hs_buf_t *b2 = hs_buf_ptr(p, b2i);
    uint32_t rest = b->current_length - at;
    memcpy(hs_buf_cur(b2), hs_buf_cur(b) + at, rest);
    b2->current_length = (uint16_t)rest;
    b->current_length = (uint16_t)at;
    b->flags |= HS_BUF_F_NEXT;
    b->next = b2i;
    b->chain_rest_len = rest;
}

static void inject(fx_t *f, const fx_seg_t *s, uint32_t buf_flags, uint32_t ip_len_delta,
                   void (*mangle)(uint8_t *tcp))
{
    static uint8_t pkt[20 + HS_TCP_HDR_MAX + 65536];
    hs_tcp_seg_t seg;
    uint32_t len = fx_build(f, s, pkt + 20, &seg);
    if (mangle)
        mangle(pkt + 20);
    hs_ip4_header_build((hs_ip4_header_t *)pkt, f->peer, f->us, HS_IP_PROTO_TCP,
                        (uint16_t)(20 + len - ip_len_delta), 1, 0, 64);
    uint32_t bi = hs_buf_from_bytes(&nw(f)->bufs, pkt, 20 + len - ip_len_delta);
    assert_int_not_equal(bi, HS_BUF_INVALID);
    hs_buf_t *b = hs_buf_ptr(nw(f)->bufs.pool, bi);
    b->l3_offset = b->current_data;
    b->l4_offset = (uint16_t)(b->current_data + 20);
    b->sw_if_index[HS_RX] = f->sw_if;
    b->flags |= buf_flags;
    *hs_ip4_meta(b) = (hs_ip4_buf_meta_t){.fib_index = 0};
    if (buf_flags & 0x80000000u) { /* test marker: a broadcast delivery */
        b->flags &= ~0x80000000u;
        hs_ip4_meta(b)->flags = HS_IP4_META_BCAST;
    }
    nw(f)->rt.now_ns = f->now;
    if (buf_flags & 0x40000000u) { /* test marker: TCP header split after 10 bytes */
        b->flags &= ~0x40000000u;
        split_at(f, bi, 20 + 10);
    }
    hs_graph_enqueue(&nw(f)->rt, (uint32_t)hs_tcp_node_index(f->net), bi);
    hs_graph_dispatch(&nw(f)->rt);
}

static void corrupt_payload(uint8_t *tcp)
{
    tcp[20] ^= 0x40;
}

static void bad_offset(uint8_t *tcp)
{
    tcp[12] = 3 << 4; /* 12 bytes: below the minimum; the checksum is then wrong too */
}

static void test_syn_through_the_node(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fs_listen(f, 0, US_PORT);
    inject(f, &(fx_seg_t){.flags = HS_TCP_SYN, .seq = 77}, 0, 0, NULL);
    cap_t *sa = fx_pop(f);
    assert_int_equal(sa->h.flags, HS_TCP_SYN | HS_TCP_ACK);
    assert_int_equal(sa->h.ack, 78);
    assert_int_equal(node_err(f, HS_TCP_E_NONE), 1);
    assert_int_equal(f->tw.stats[HS_TCP_S_SEGS_IN], 1);
    assert_int_equal(hs_buf_pool_n_free(&f->net->bufs) + nw(f)->bufs.n, 4096); /* none held */
    fx_free(f);
}

static void test_drops_by_reason(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fs_listen(f, 0, US_PORT);
    /* A payload byte flipped: bad checksum, no answer. */
    inject(f, &(fx_seg_t){.flags = HS_TCP_SYN, .seq = 1, .data = "abcd", .len = 4}, 0, 0,
           corrupt_payload);
    assert_int_equal(node_err(f, HS_TCP_E_BAD_CHECKSUM), 1);
    assert_int_equal(f->tw.drops[HS_TCP_E_BAD_CHECKSUM], 1);
    /* The same, marked as checked by the driver (vnet_hdr DATA_VALID): trusted. */
    inject(f, &(fx_seg_t){.flags = HS_TCP_SYN, .seq = 1, .data = "abcd", .len = 4},
           HS_BUF_F_L4_CSUM_OK, 0, corrupt_payload);
    assert_int_equal(node_err(f, HS_TCP_E_NONE), 1);
    fx_pop(f);
    /* IP says fewer bytes than a TCP header. */
    inject(f, &(fx_seg_t){.flags = HS_TCP_SYN, .seq = 2, .sport = 9}, 0, 8, NULL);
    assert_int_equal(node_err(f, HS_TCP_E_TOO_SHORT), 1);
    /* A data offset below 5 words (driver-validated checksum, so the header is judged). */
    inject(f, &(fx_seg_t){.flags = HS_TCP_SYN, .seq = 3, .sport = 10}, HS_BUF_F_L4_CSUM_OK, 0,
           bad_offset);
    assert_int_equal(node_err(f, HS_TCP_E_BAD_HDR_LEN), 1);
    /* RFC 1122 4.2.3.10: a SYN to a broadcast address is dropped silently. */
    inject(f, &(fx_seg_t){.flags = HS_TCP_SYN, .seq = 4, .sport = 11}, 0x80000000u, 0, NULL);
    assert_int_equal(node_err(f, HS_TCP_E_BAD_ADDRESS), 1);
    assert_int_equal(fx_pending(f), 0);
    hs_str_t out = {0};
    hs_tcp_format_stats(&f->tw, &out);
    assert_non_null(strstr(hs_str_cstr(&out), "bad checksum"));
    assert_non_null(strstr(hs_str_cstr(&out), "bad data offset"));
    hs_str_free(&out);
    fx_free(f);
}

static void chained(fx_t *f, uint32_t len, bool copied, uint32_t buf_flags)
{
    fx_peer_t p;
    fx_accept(f, &p, false);
    uint8_t *d = malloc(len);
    fill_pat(d, 0, len);
    inject(f,
           &(fx_seg_t){
               .flags = HS_TCP_ACK | HS_TCP_PSH, .seq = p.seq, .ack = p.ack, .data = d, .len = len},
           buf_flags, 0, NULL);
    assert_int_equal(node_err(f, HS_TCP_E_NONE), 1);
    assert_int_equal(fs_readable(f, p.si), len);
    uint8_t *got = malloc(len);
    assert_int_equal(hs_fifo_dequeue(&fs_sess(f, p.si)->rx, got, len), (int)len);
    assert_memory_equal(got, d, len);
    assert_int_equal(f->tw.stats[HS_TCP_S_SEGS_COPIED], copied ? 1 : 0);
    assert_int_equal(f->tw.drops[HS_TCP_E_TOO_FRAGMENTED], 0);
    fx_take(f, &p);
    free(d);
    free(got);
}

static void test_payload_in_a_chain(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    chained(f, 5000, false, 0); /* three buffers: spans */
    fx_free(f);
}

static void test_payload_in_a_long_chain(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    chained(f, 20000, false, 0); /* ten buffers: spans */
    fx_free(f);
    f = fx_new();
    chained(f, 65495, false, 0); /* the largest IPv4 segment (a TSO one) in 32 buffers: spans */
    fx_free(f);
    f = fx_new();
    chained(f, 1000, true, 0x40000000u); /* the TCP header split over two buffers: copied */
    fx_free(f);
}

static void test_trace(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fs_listen(f, 0, US_PORT);
    inject(f, &(fx_seg_t){.flags = HS_TCP_SYN, .seq = 77}, HS_BUF_F_TRACED, 0, NULL);
    nw(f)->rt.n_traced = 1;
    hs_str_t out = {0};
    hs_trace_format(&nw(f)->rt, &out);
    const char *t = hs_str_cstr(&out);
    assert_non_null(strstr(t, "tcp4-input"));
    assert_non_null(strstr(t, "10.0.0.1:40000 -> 10.0.0.2:80 seq 77 ack 0 SYN"));
    assert_non_null(strstr(t, "accepted"));
    hs_str_free(&out);
    fx_free(f);
}

static void test_default_emit_reaches_the_device(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    f->tw.emit = f->default_emit;
    static const uint8_t peer_mac[6] = {0x02, 0xaa, 0, 0, 0, 1};
    assert_int_equal(hs_arp_add_static(f->net, f->sw_if, PEER, peer_mac), 0);
    fs_listen(f, 0, US_PORT);
    /* A reply made inside the node rides the same dispatch to the device. */
    inject(f, &(fx_seg_t){.flags = HS_TCP_SYN, .seq = 77}, 0, 0, NULL);
    assert_int_equal(f->n_frames, 1);
    const uint8_t *ip = f->frame + 14;
    assert_int_equal(hs_csum(ip, 20), 0);
    assert_int_equal(ip[9], HS_IP_PROTO_TCP);
    assert_int_equal(hs_tcp_csum(US, PEER, ip + 20, f->frame_len - 34), 0);
    hs_tcp_seg_t s;
    assert_int_equal(hs_tcp_parse(ip + 20, f->frame_len - 34, &s), HS_TCP_E_NONE);
    assert_int_equal(s.flags, HS_TCP_SYN | HS_TCP_ACK);
    /* Output made outside the node (the app wrote): poll runs the graph. */
    inject(f, &(fx_seg_t){.flags = HS_TCP_ACK, .seq = 78, .ack = s.seq + 1}, 0, 0, NULL);
    int si = f->sw.last_accepted;
    assert_true(si >= 0);
    assert_int_equal(f->n_frames, 1);
    /* An interface that offloads: the checksum is left to it (pseudo-header sum only). */
    hs_interface_get(f->net, f->sw_if)->tx_csum_offload = true;
    fs_conn(f, si)->flags |= HS_TCP_F_TX_CSUM_OFF; /* taken from the route at open */
    assert_int_equal(hs_fifo_enqueue(&fs_sess(f, si)->tx, "ping", 4), 4);
    hs_tcp_app_tx(&f->tw, fs_sess(f, si)->conn_index);
    assert_int_equal(f->n_frames, 1);
    hs_tcp_poll(&f->tw, f->now);
    assert_int_equal(f->n_frames, 2);
    assert_true(f->frame_flags & HS_BUF_F_L4_CSUM_TODO);
    uint16_t field;
    memcpy(&field, f->frame + 34 + 16, 2);
    uint16_t l4 = (uint16_t)(f->frame_len - 34);
    assert_int_equal(field, hs_csum_fold(hs_csum_pseudo4(US, PEER, HS_IP_PROTO_TCP, l4)));
    fx_free(f);
}

static void test_show_connection(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    fx_peer_t p;
    fx_accept(f, &p, true);
    hs_str_t out = {0};
    hs_tcp_format_conn(&f->tw, fs_conn(f, p.si), false, &out);
    assert_non_null(strstr(hs_str_cstr(&out), "10.0.0.2:80 -> 10.0.0.1:40000 ESTABLISHED"));
    hs_str_reset(&out);
    hs_tcp_format_conn(&f->tw, fs_conn(f, p.si), true, &out);
    const char *t = hs_str_cstr(&out);
    assert_non_null(strstr(t, "cwnd 14480"));
    assert_non_null(strstr(t, "wscale 9"));
    assert_non_null(strstr(t, "flags: ts wscale"));
    assert_non_null(strstr(t, "newreno"));
    hs_str_reset(&out);
    /* The transport table's format gives the same. */
    const hs_transport_vft_t *vft = hs_tcp_transport();
    assert_string_equal(vft->name, "tcp");
    vft->format(&f->sw, fs_sess(f, p.si)->conn_index, false, &out);
    assert_non_null(strstr(hs_str_cstr(&out), "ESTABLISHED"));
    assert_ptr_equal(vft->get(&f->sw, fs_sess(f, p.si)->conn_index), &fs_conn(f, p.si)->c);
    hs_str_free(&out);
    fx_free(f);
}

static void test_ephemeral_ports(void **state)
{
    (void)state;
    fx_t *f = fx_new();
    uint16_t ports[20];
    for (int i = 0; i < 20; i++) {
        fs_connect(f, PEER, 443);
        ports[i] = fx_pop(f)->h.src_port;
        assert_true(ports[i] >= 49152);
        for (int j = 0; j < i; j++)
            assert_int_not_equal(ports[i], ports[j]);
    }
    assert_int_equal(fs_n_table(&f->sw), 20);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syn_through_the_node),
        cmocka_unit_test(test_drops_by_reason),
        cmocka_unit_test(test_payload_in_a_chain),
        cmocka_unit_test(test_payload_in_a_long_chain),
        cmocka_unit_test(test_trace),
        cmocka_unit_test(test_default_emit_reaches_the_device),
        cmocka_unit_test(test_show_connection),
        cmocka_unit_test(test_ephemeral_ports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
