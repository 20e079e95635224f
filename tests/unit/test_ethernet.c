/* Unit tests for the Ethernet layer (src/net/ethernet.{h,c}): header parse/write/push and
 * MAC helpers as pure functions; then ethernet-input and interface-output through a real
 * packet-path instance with a fake device of this test's own (frames in from a list, out
 * into a capture). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/ethernet.h"
#include "net_fake.h"

/* ---- pure functions ---- */

static void test_parse(void **state)
{
    (void)state;
    const uint8_t f[] = {1, 2, 3, 4, 5, 6, 0x02, 0xfe, 9, 8, 7, 6, 0x08, 0x06, 0xaa};
    hs_eth_parsed_t h;
    assert_int_equal(hs_eth_parse(f, 13, &h), -EINVAL);
    assert_int_equal(hs_eth_parse(f, 0, &h), -EINVAL);
    assert_int_equal(hs_eth_parse(f, 14, &h), 0);
    const uint8_t dst[] = {1, 2, 3, 4, 5, 6}, src[] = {0x02, 0xfe, 9, 8, 7, 6};
    assert_memory_equal(h.dst, dst, 6);
    assert_memory_equal(h.src, src, 6);
    assert_int_equal(h.type, HS_ETHERTYPE_ARP);
    /* The packed wire struct reads the same bytes. */
    hs_eth_hdr_t w;
    memcpy(&w, f, sizeof(w));
    assert_int_equal(ntohs(w.type), 0x0806);
}

static void test_write_and_push(void **state)
{
    (void)state;
    const uint8_t dst[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, src[] = {2, 0xfe, 0, 0, 0, 1};
    uint8_t out[14];
    hs_eth_write(out, dst, src, 0x86dd);
    const uint8_t want[14] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0xfe, 0, 0, 0, 1, 0x86, 0xdd};
    assert_memory_equal(out, want, 14);

    static hs_buf_t b;
    hs_buf_reset(&b);
    b.current_length = 20;
    memset(hs_buf_cur(&b), 0x45, 20);
    assert_int_equal(hs_eth_push(&b, dst, src, HS_ETHERTYPE_IP4), 0);
    assert_int_equal(b.current_data, HS_BUF_HEADROOM - 14);
    assert_int_equal(b.current_length, 34);
    assert_memory_equal(hs_buf_cur(&b), want, 12);
    assert_int_equal(hs_buf_cur(&b)[12], 0x08);
    assert_int_equal(hs_buf_cur(&b)[13], 0x00);
    assert_int_equal(hs_buf_cur(&b)[14], 0x45);
    b.current_data = 13; /* not enough headroom: refused, buffer untouched */
    b.current_length = 20;
    assert_int_equal(hs_eth_push(&b, dst, src, HS_ETHERTYPE_IP4), -ENOSPC);
    assert_int_equal(b.current_data, 13);
    assert_int_equal(b.current_length, 20);
}

static void test_mac_format_parse(void **state)
{
    (void)state;
    const uint8_t m[] = {0x02, 0xfe, 0x0a, 0xb0, 0x00, 0xff};
    char s[HS_MAC_STR_LEN];
    assert_string_equal(hs_mac_format(s, m), "02:fe:0a:b0:00:ff");
    uint8_t p[6] = {0};
    assert_int_equal(hs_mac_parse("02:fe:0a:b0:00:ff", p), 0);
    assert_memory_equal(p, m, 6);
    assert_int_equal(hs_mac_parse("02-FE-0A-B0-00-FF", p), 0);
    assert_memory_equal(p, m, 6);
    const char *bad[] = {"",
                         "02:fe:0a:b0:00",
                         "02:fe:0a:b0:00:ff:",
                         "02:fe:0a:b0:00:f",
                         "02:fe:0a:b0:00:fg",
                         "2:fe:0a:b0:00:ff",
                         "02:fe:0a:b0:00:ff0",
                         "02fe0ab000ff",
                         "02:fe:0a:b0:00 ff",
                         "zz:fe:0a:b0:00:ff"};
    for (size_t i = 0; i < HS_ARRAY_LEN(bad); i++) {
        uint8_t q[6] = {9, 9, 9, 9, 9, 9}, nine[6] = {9, 9, 9, 9, 9, 9};
        assert_int_equal(hs_mac_parse(bad[i], q), -EINVAL);
        assert_memory_equal(q, nine, 6); /* untouched on failure */
    }
}

static void test_mac_classes(void **state)
{
    (void)state;
    const uint8_t bc[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    const uint8_t mc[] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
    const uint8_t v6mc[] = {0x33, 0x33, 0, 0, 0, 1};
    const uint8_t uc[] = {0x02, 0xfe, 0, 0, 0, 1};
    const uint8_t zero[6] = {0};
    assert_true(hs_mac_is_broadcast(bc));
    assert_true(hs_mac_is_multicast(bc));
    assert_false(hs_mac_is_broadcast(mc));
    assert_true(hs_mac_is_multicast(mc));
    assert_true(hs_mac_is_multicast(v6mc));
    assert_false(hs_mac_is_multicast(uc));
    assert_true(hs_mac_is_valid_unicast(uc));
    assert_false(hs_mac_is_valid_unicast(zero));
    assert_false(hs_mac_is_valid_unicast(mc));
    assert_true(hs_mac_is_zero(zero));
    assert_true(hs_mac_equal(uc, uc));
    assert_false(hs_mac_equal(uc, bc));
}

static void test_mac_random_local(void **state)
{
    (void)state;
    uint8_t m[6], prev[6] = {0};
    int same = 0;
    for (int i = 0; i < 100; i++) {
        hs_mac_random_local(m);
        assert_int_equal(m[0], 0x02); /* locally administered, unicast */
        assert_int_equal(m[1], 0xfe);
        assert_true(hs_mac_is_valid_unicast(m));
        same += memcmp(m, prev, 6) == 0;
        memcpy(prev, m, 6);
    }
    assert_true(same < 3);
    hs_mac_from_seed(m, 0x01020304);
    const uint8_t want[] = {0x02, 0xfe, 1, 2, 3, 4};
    assert_memory_equal(m, want, 6);
}

/* ---- through a real instance ---- */

static const uint8_t peer_mac[6] = {0x02, 0xaa, 0, 0, 0, 9};

/* A frame of len bytes (>= 14) from peer_mac to dst with the given ethertype. */
static uint32_t frame(uint8_t *p, uint32_t len, const uint8_t dst[6], uint16_t type)
{
    hs_eth_write(p, dst, peer_mac, type);
    for (uint32_t i = 14; i < len; i++)
        p[i] = (uint8_t)i;
    return len;
}

static void test_input_classifies(void **state)
{
    tn_t *t = *state;
    tn_if_t *a = tn_if_create(t, "eth0", 1);
    uint8_t f[1600];
    const uint8_t mc[] = {0x01, 0x00, 0x5e, 0, 0, 1};
    const uint8_t other[] = {0x02, 0xbb, 0, 0, 0, 1};
    const uint8_t bad_src[] = {0x01, 0, 0, 0, 0, 1};
    tn_rx(a, f, frame(f, 13, a->mac, HS_ETHERTYPE_IP4));  /* too short */
    tn_rx(a, f, frame(f, 60, other, HS_ETHERTYPE_IP4));   /* another host's */
    tn_rx(a, f, frame(f, 60, mc, HS_ETHERTYPE_IP4));      /* multicast */
    tn_rx(a, f, frame(f, 60, a->mac, HS_ETHERTYPE_VLAN)); /* tagged */
    tn_rx(a, f, frame(f, 60, hs_mac_broadcast, HS_ETHERTYPE_IP6));
    tn_rx(a, f, frame(f, 60, a->mac, 0x88cc)); /* LLDP */
    frame(f, 60, a->mac, HS_ETHERTYPE_IP4);
    memcpy(f + 6, bad_src, 6);
    tn_rx(a, f, 60);
    tn_poll(t);
    assert_int_equal(tn_err(t, "ethernet-input", "frame shorter than an Ethernet header"), 1);
    assert_int_equal(tn_err(t, "ethernet-input", "unicast to another MAC"), 1);
    assert_int_equal(tn_err(t, "ethernet-input", "multicast (no listeners)"), 1);
    assert_int_equal(tn_err(t, "ethernet-input", "vlan not supported"), 1);
    assert_int_equal(tn_err(t, "ethernet-input", "ip6 not supported"), 1);
    assert_int_equal(tn_err(t, "ethernet-input", "unknown ethertype"), 1);
    assert_int_equal(tn_err(t, "ethernet-input", "multicast source MAC"), 1);
    hs_if_counters_t c = tn_counters(t, a);
    assert_int_equal(c.rx_packets, 7);
    assert_int_equal(c.rx_bytes, 13 + 6 * 60);
    assert_int_equal(c.rx_drops, 7);
    assert_int_equal(hs_buf_pool_n_free(&t->net->bufs) + tn_cached(t), t->n_buffers);
}

/* IPv4 and ARP frames (to us or broadcast) reach their nodes with the header stripped:
 * checked through the counters those nodes keep for what they received. */
static void test_input_hands_on(void **state)
{
    tn_t *t = *state;
    tn_if_t *a = tn_if_create(t, "eth0", 1);
    uint8_t f[100];
    /* An ARP request not for us: arp-input counts it, so ethernet-input handed it on. */
    frame(f, 60, hs_mac_broadcast, HS_ETHERTYPE_ARP);
    const uint8_t arp[28] = {0,  1, 8, 0, 6, 4, 0, 1, 0x02, 0xaa, 0,  0, 0, 9,
                             10, 0, 0, 9, 0, 0, 0, 0, 0,    0,    10, 0, 0, 77};
    memcpy(f + 14, arp, 28);
    tn_rx(a, f, 60);
    /* An IPv4 frame with a bad header (version 0): ip4-input counts some reason. */
    frame(f, 60, a->mac, HS_ETHERTYPE_IP4);
    tn_rx(a, f, 60);
    tn_poll(t);
    assert_int_equal(tn_err(t, "arp-input", "request not for one of our addresses"), 1);
    assert_int_equal(tn_node_vectors(t, "arp-input"), 1);
    assert_int_equal(tn_node_vectors(t, "ip4-input"), 1);
    assert_int_equal(tn_counters(t, a).rx_drops, 0);
}

static void test_output_counts_and_batches(void **state)
{
    tn_t *t = *state;
    tn_if_t *a = tn_if_create(t, "eth0", 1), *b = tn_if_create(t, "eth1", 1);
    uint8_t f[3000];
    /* Interleaved frames for two interfaces, one for a down interface and one for none. */
    uint32_t lens[] = {60, 1514, 3000, 100, 200, 300};
    tn_if_t *to[] = {a, b, a, b, a, b};
    hs_net_worker_t *wk = hs_net_worker(t->net, 0);
    for (uint32_t i = 0; i < 6; i++) {
        frame(f, lens[i], peer_mac, HS_ETHERTYPE_IP4);
        f[20] = (uint8_t)i;
        tn_send(t, to[i]->sw_if_index, f, lens[i]);
    }
    tn_send(t, 999, f, 60);
    tn_if_t *c = tn_if_create(t, "eth2", 1);
    hs_interface_set_admin(t->net, c->sw_if_index, false);
    tn_send(t, c->sw_if_index, f, 60);
    hs_graph_dispatch(&wk->rt);
    /* One driver call per interface, in arrival order within each. */
    assert_int_equal(a->tx_calls, 1);
    assert_int_equal(b->tx_calls, 1);
    assert_int_equal(a->n_tx, 3);
    assert_int_equal(b->n_tx, 3);
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(a->tx_len[i], lens[2 * i]);
        assert_int_equal(a->tx[i][20], 2 * i);
        assert_int_equal(b->tx_len[i], lens[2 * i + 1]);
        assert_int_equal(b->tx[i][20], 2 * i + 1);
    }
    assert_int_equal(tn_counters(t, a).tx_packets, 3);
    assert_int_equal(tn_counters(t, a).tx_bytes, 60 + 3000 + 200);
    assert_int_equal(tn_counters(t, c).tx_drops, 1);
    assert_int_equal(tn_err(t, "interface-output", "sent to an unknown interface"), 1);
    assert_int_equal(tn_err(t, "interface-output", "interface is down"), 1);
}

static void test_output_driver_full(void **state)
{
    tn_t *t = *state;
    tn_if_t *a = tn_if_create(t, "eth0", 1);
    a->tx_room = 2;
    uint8_t f[60];
    frame(f, 60, peer_mac, HS_ETHERTYPE_IP4);
    for (int i = 0; i < 5; i++)
        tn_send(t, a->sw_if_index, f, 60);
    hs_graph_dispatch(&hs_net_worker(t->net, 0)->rt);
    assert_int_equal(a->n_tx, 2);
    hs_if_counters_t c = tn_counters(t, a);
    assert_int_equal(c.tx_packets, 2);
    assert_int_equal(c.tx_bytes, 120);
    assert_int_equal(c.tx_drops, 3);
    assert_int_equal(tn_err(t, "interface-output", "driver tx queue full"), 3);
    assert_int_equal(hs_buf_pool_n_free(&t->net->bufs) + tn_cached(t), t->n_buffers);
}

static void test_trace_records(void **state)
{
    tn_t *t = *state;
    tn_if_t *a = tn_if_create(t, "eth0", 1);
    hs_net_worker_t *wk = hs_net_worker(t->net, 0);
    wk->rt.nodes[t->input_node].trace_budget = 1;
    uint8_t f[60];
    tn_rx(a, f, frame(f, 60, a->mac, 0x1234));
    tn_poll(t);
    hs_str_t s = {0};
    hs_trace_format(&wk->rt, &s);
    const char *txt = hs_str_cstr(&s);
    assert_non_null(strstr(txt, "eth0 (index 0) queue 0: 60 bytes"));
    assert_non_null(strstr(txt, "02:aa:00:00:00:09 -> 02:fe:00:00:00:01 type 0x1234"));
    assert_non_null(strstr(txt, "drop: unknown ethertype"));
    hs_str_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_write_and_push),
        cmocka_unit_test(test_mac_format_parse),
        cmocka_unit_test(test_mac_classes),
        cmocka_unit_test(test_mac_random_local),
        cmocka_unit_test_setup_teardown(test_input_classifies, tn_setup, tn_teardown),
        cmocka_unit_test_setup_teardown(test_input_hands_on, tn_setup, tn_teardown),
        cmocka_unit_test_setup_teardown(test_output_counts_and_batches, tn_setup, tn_teardown),
        cmocka_unit_test_setup_teardown(test_output_driver_full, tn_setup, tn_teardown),
        cmocka_unit_test_setup_teardown(test_trace_records, tn_setup, tn_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
