/* Unit tests for interfaces (src/net/interface.c) through a real instance with a fake
 * device class: create/delete argument checks, queue placement on workers, admin state,
 * MTU, moving between FIB tables, show interface, and the shared input node body. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/arp.h"
#include "net/ethernet.h"
#include "net/fib.h"
#include "net/ip4.h"
#include "net/pcap.h"
#include "net_fake.h"

static const uint8_t mac1[6] = {0x02, 0xfe, 0, 0, 0, 0x41};

static void test_create_checks_arguments(void **state)
{
    tn_t *t = *state;
    hs_net_t *net = t->net;
    static tn_if_t dev; /* outlives the test: teardown destroys the interfaces */
    uint32_t idx;
    char long_name[40];
    memset(long_name, 'a', sizeof(long_name));
    long_name[32] = '\0';
    const char *bad_names[] = {"", "a b", "a/b", "eth0\n", "tab\t", "caf\xc3\xa9", long_name};
    for (size_t i = 0; i < HS_ARRAY_LEN(bad_names); i++)
        assert_int_equal(
            hs_interface_create(net, bad_names[i], &tn_class, &dev, mac1, 1, NULL, &idx), -EINVAL);
    assert_int_equal(hs_interface_create(net, NULL, &tn_class, &dev, mac1, 1, NULL, &idx), -EINVAL);
    long_name[31] = '\0'; /* 31 characters: the longest that fits */
    assert_int_equal(hs_interface_create(net, long_name, &tn_class, &dev, mac1, 1, NULL, &idx), 0);
    assert_non_null(hs_interface_by_name(net, long_name));
    const uint8_t mc[6] = {0x01, 0, 0x5e, 0, 0, 1}, zero[6] = {0};
    assert_int_equal(hs_interface_create(net, "x0", &tn_class, &dev, mc, 1, NULL, &idx), -EINVAL);
    assert_int_equal(hs_interface_create(net, "x0", &tn_class, &dev, zero, 1, NULL, &idx), -EINVAL);
    assert_int_equal(hs_interface_create(net, "x0", &tn_class, &dev, mac1, 0, NULL, &idx), -EINVAL);
    assert_int_equal(
        hs_interface_create(net, "x0", &tn_class, &dev, mac1, HS_IF_MAX_QUEUES + 1, NULL, &idx),
        -EINVAL);
    hs_device_class_t no_node = tn_class;
    no_node.input_node_name = "no-such-input";
    assert_int_equal(hs_interface_create(net, "x0", &no_node, &dev, mac1, 1, NULL, &idx), -ENOENT);
    assert_int_equal(hs_interface_create(net, "a.b_c-D9", &tn_class, &dev, mac1, 1, NULL, &idx), 0);
    assert_int_equal(hs_interface_create(net, "a.b_c-D9", &tn_class, &dev, mac1, 1, NULL, &idx),
                     -EEXIST);
    assert_int_equal(hs_pool_count(&net->interfaces), 2);
}

static void test_create_defaults_and_lookup(void **state)
{
    tn_t *t = *state;
    tn_if_t dev = {.tx_room = UINT32_MAX};
    const int fds[2] = {17, 18};
    uint32_t idx = 99;
    assert_int_equal(hs_interface_create(t->net, "eth0", &tn_class, &dev, mac1, 2, fds, &idx), 0);
    assert_int_equal(idx, 0);
    hs_interface_t *ifc = hs_interface_get(t->net, idx);
    assert_non_null(ifc);
    assert_ptr_equal(hs_interface_by_name(t->net, "eth0"), ifc);
    assert_null(hs_interface_by_name(t->net, "eth1"));
    assert_null(hs_interface_get(t->net, 1));
    assert_null(hs_interface_get(t->net, UINT32_MAX));
    assert_string_equal(ifc->name, "eth0");
    assert_memory_equal(ifc->mac, mac1, 6);
    assert_false(ifc->admin_up);
    assert_true(ifc->link_up);
    assert_int_equal(ifc->mtu, 1500);
    assert_int_equal(ifc->fib_index, 0);
    assert_int_equal(ifc->n_queues, 2);
    assert_int_equal(ifc->queue_fd[0], 17);
    assert_int_equal(ifc->queue_fd[1], 18);
    assert_int_equal(ifc->queue_fd[2], -1);
    assert_int_equal(ifc->input_node, t->input_node);
    assert_ptr_equal(ifc->dev, &dev);
    assert_int_equal(hs_interface_delete(t->net, idx), 0);
    assert_true(dev.destroyed);
}

static uint32_t refs_of(hs_net_worker_t *wk, uint32_t sw_if_index)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < wk->rx_queues.len; i++)
        n += ((hs_rx_queue_ref_t *)hs_vec_at(&wk->rx_queues, i))->sw_if_index == sw_if_index;
    return n;
}

static void test_queues_spread_over_workers(void **state)
{
    tn_t *t = *state;
    hs_net_worker_t *w0 = hs_net_worker(t->net, 0), *w1 = hs_net_worker(t->net, 1);
    tn_if_t *a = tn_if_create(t, "a", 3);
    hs_interface_t *ia = hs_interface_get(t->net, a->sw_if_index);
    assert_int_equal(ia->queue_worker[0], 0);
    assert_int_equal(ia->queue_worker[1], 1);
    assert_int_equal(ia->queue_worker[2], 0);
    hs_rx_queue_ref_t *r = hs_vec_at(&w0->rx_queues, 1);
    assert_int_equal(r->sw_if_index, a->sw_if_index);
    assert_int_equal(r->queue, 2);
    tn_if_t *b = tn_if_create(t, "b", 1); /* worker 1 polls fewer queues */
    assert_int_equal(hs_interface_get(t->net, b->sw_if_index)->queue_worker[0], 1);
    tn_if_t *c = tn_if_create(t, "c", 2);
    hs_interface_t *ic = hs_interface_get(t->net, c->sw_if_index);
    assert_int_equal(ic->queue_worker[0], 0);
    assert_int_equal(ic->queue_worker[1], 1);
    assert_int_equal(refs_of(w0, a->sw_if_index) + refs_of(w1, a->sw_if_index), 3);
    /* Deleting takes its queues off the workers; a new interface fills the gap. */
    assert_int_equal(hs_interface_delete(t->net, a->sw_if_index), 0);
    assert_int_equal(refs_of(w0, a->sw_if_index) + refs_of(w1, a->sw_if_index), 0);
    assert_int_equal(w0->rx_queues.len, 1);
    assert_int_equal(w1->rx_queues.len, 2);
    tn_if_t *d = tn_if_create(t, "d", 1);
    assert_int_equal(d->sw_if_index, a->sw_if_index); /* the slot is reused */
    assert_int_equal(hs_interface_get(t->net, d->sw_if_index)->queue_worker[0], 0);
    /* Each worker receives only from its own queues. */
    uint8_t f[60] = {0};
    memcpy(f, hs_interface_get(t->net, b->sw_if_index)->mac, 6);
    tn_rx(b, f, 60);
    tn_poll(t);
    assert_int_equal(hs_interface_get(t->net, b->sw_if_index)->counters[1].rx_packets, 1);
    assert_int_equal(hs_interface_get(t->net, b->sw_if_index)->counters[0].rx_packets, 0);
}

static void test_admin_state(void **state)
{
    tn_t *t = *state;
    tn_if_t *a = tn_if_create(t, "eth0", 1);
    assert_int_equal(a->set_admin_calls, 1);
    assert_int_equal(hs_interface_set_admin(t->net, 42, true), -ENOENT);
    /* A device that refuses keeps the old state. */
    a->set_admin_rv = -EIO;
    assert_int_equal(hs_interface_set_admin(t->net, a->sw_if_index, false), -EIO);
    assert_true(hs_interface_get(t->net, a->sw_if_index)->admin_up);
    a->set_admin_rv = 0;
    assert_int_equal(hs_interface_set_admin(t->net, a->sw_if_index, false), 0);
    assert_false(hs_interface_get(t->net, a->sw_if_index)->admin_up);
    assert_int_equal(a->set_admin_calls, 3);
    /* Down: not polled, frames wait in the device. */
    uint8_t f[60] = {0};
    memcpy(f, a->mac, 6);
    tn_rx(a, f, 60);
    tn_poll(t);
    assert_int_equal(a->rx_n, 1);
    assert_int_equal(tn_counters(t, a).rx_packets, 0);
    assert_int_equal(hs_interface_set_admin(t->net, a->sw_if_index, true), 0);
    tn_poll(t);
    assert_int_equal(a->rx_n, 0);
    assert_int_equal(tn_counters(t, a).rx_packets, 1);
    /* A class without set_admin is fine. */
    hs_device_class_t plain = tn_class;
    plain.set_admin = NULL;
    tn_if_t dev = {.tx_room = UINT32_MAX};
    uint32_t idx;
    assert_int_equal(hs_interface_create(t->net, "plain", &plain, &dev, mac1, 1, NULL, &idx), 0);
    assert_int_equal(hs_interface_set_admin(t->net, idx, true), 0);
    assert_true(hs_interface_get(t->net, idx)->admin_up);
    assert_int_equal(dev.set_admin_calls, 0);
    assert_int_equal(hs_interface_delete(t->net, idx), 0); /* dev lives on this stack */
}

static void test_mtu(void **state)
{
    tn_t *t = *state;
    tn_if_t *a = tn_if_create(t, "eth0", 1);
    hs_interface_t *ifc = hs_interface_get(t->net, a->sw_if_index);
    const struct {
        uint32_t mtu;
        int rv;
    } cases[] = {{575, -EINVAL},          {576, 0}, {9000, 0}, {9001, -EINVAL}, {0, -EINVAL},
                 {65536 + 1500, -EINVAL}, {1400, 0}};
    for (size_t i = 0; i < HS_ARRAY_LEN(cases); i++) {
        uint16_t before = ifc->mtu;
        assert_int_equal(hs_interface_set_mtu(t->net, a->sw_if_index, cases[i].mtu), cases[i].rv);
        assert_int_equal(ifc->mtu, cases[i].rv == 0 ? cases[i].mtu : before);
    }
    assert_int_equal(hs_interface_set_mtu(t->net, 9, 1500), -ENOENT);
}

static void test_set_table_moves_routes(void **state)
{
    tn_t *t = *state;
    hs_net_t *net = t->net;
    tn_if_t *a = tn_if_create(t, "eth0", 1);
    uint32_t ip = tn_ip(10, 0, 0, 1);
    assert_int_equal(hs_ip4_interface_address(net, a->sw_if_index, ip, 24, false), 0);
    assert_int_equal(hs_ip4_interface_address(net, a->sw_if_index, tn_ip(10, 9, 0, 1), 16, false),
                     0);
    const hs_fib_route_t *r = hs_fib_lookup(net, 0, ip);
    assert_non_null(r);
    assert_int_equal(r->type, HS_FIB_LOCAL);
    assert_int_equal(hs_interface_set_table(net, 7, 5), -ENOENT);
    assert_int_equal(hs_interface_set_table(net, a->sw_if_index, 5), 0);
    int fi = hs_fib_table_find(net, 5);
    assert_true(fi > 0);
    hs_interface_t *ifc = hs_interface_get(net, a->sw_if_index);
    assert_int_equal(ifc->fib_index, (uint32_t)fi);
    assert_int_equal(ifc->ip4_addrs.len, 2);
    /* Gone from table 0, present in table 5: local and connected. */
    assert_null(hs_fib_lookup(net, 0, ip));
    assert_null(hs_fib_lookup(net, 0, tn_ip(10, 0, 0, 7)));
    r = hs_fib_lookup(net, (uint32_t)fi, ip);
    assert_non_null(r);
    assert_int_equal(r->type, HS_FIB_LOCAL);
    r = hs_fib_lookup(net, (uint32_t)fi, tn_ip(10, 0, 0, 7));
    assert_non_null(r);
    assert_int_equal(r->type, HS_FIB_CONNECTED);
    assert_int_equal(r->sw_if_index, a->sw_if_index);
    r = hs_fib_lookup(net, (uint32_t)fi, tn_ip(10, 9, 3, 3));
    assert_non_null(r);
    assert_int_equal(r->type, HS_FIB_CONNECTED);
    /* Same table again: nothing to do. And back. */
    assert_int_equal(hs_interface_set_table(net, a->sw_if_index, 5), 0);
    assert_int_equal(hs_interface_set_table(net, a->sw_if_index, 0), 0);
    assert_int_equal(ifc->fib_index, 0);
    assert_null(hs_fib_lookup(net, (uint32_t)fi, ip));
    assert_non_null(hs_fib_lookup(net, 0, ip));
}

static void test_delete_cleans_up(void **state)
{
    tn_t *t = *state;
    hs_net_t *net = t->net;
    tn_if_t *a = tn_if_create(t, "eth0", 1);
    uint32_t ip = tn_ip(10, 0, 0, 1);
    assert_int_equal(hs_ip4_interface_address(net, a->sw_if_index, ip, 24, false), 0);
    hs_fib_route_t via = {.prefix = tn_ip(192, 168, 0, 0),
                          .len = 16,
                          .type = HS_FIB_VIA,
                          .sw_if_index = a->sw_if_index,
                          .next_hop = tn_ip(10, 0, 0, 254)};
    assert_int_equal(hs_fib_add(net, 0, &via), 0);
    const uint8_t smac[6] = {0x02, 0xcc, 0, 0, 0, 1};
    assert_int_equal(hs_arp_add_static(net, a->sw_if_index, tn_ip(10, 0, 0, 254), smac), 0);
    uint8_t f[60] = {0};
    tn_rx(a, f, 60); /* left in the device: the device goes away with it */
    assert_int_equal(hs_interface_delete(net, a->sw_if_index), 0);
    assert_true(a->destroyed);
    assert_null(hs_interface_get(net, a->sw_if_index));
    assert_null(hs_fib_lookup(net, 0, ip));
    assert_null(hs_fib_lookup(net, 0, tn_ip(192, 168, 1, 1)));
    assert_int_equal(hs_arp_n_entries(net), 0);
    assert_int_equal(hs_net_worker(net, 0)->rx_queues.len, 0);
    assert_int_equal(hs_interface_delete(net, a->sw_if_index), -ENOENT);
    tn_poll(t); /* nothing polls the deleted device */
    assert_int_equal(a->rx_n, 1);
    /* The name is free again. */
    assert_non_null(tn_if_create(t, "eth0", 1));
}

static void test_show_interface(void **state)
{
    tn_t *t = *state;
    hs_str_t s = {0};
    hs_interface_format_all(t->net, false, &s);
    assert_non_null(strstr(hs_str_cstr(&s), "no interfaces"));
    hs_str_reset(&s);
    tn_if_t *a = tn_if_create(t, "eth0", 1);
    tn_if_t *b = tn_if_create(t, "eth1", 1);
    assert_int_equal(hs_interface_set_admin(t->net, b->sw_if_index, false), 0);
    assert_int_equal(
        hs_ip4_interface_address(t->net, a->sw_if_index, tn_ip(10, 0, 0, 1), 24, false), 0);
    assert_int_equal(hs_interface_set_mtu(t->net, a->sw_if_index, 1400), 0);
    tn_poll(t); /* the address announcement goes out */
    uint8_t f[100] = {0};
    memcpy(f, a->mac, 6);
    f[6] = 2;
    tn_rx(a, f, 60);
    tn_rx(a, f, 100);
    tn_poll(t);
    hs_interface_format_all(t->net, true, &s);
    const char *txt = hs_str_cstr(&s);
    print_message("%s", txt);
    assert_non_null(strstr(txt, "eth0 (index 0): admin up, link up\n"));
    assert_non_null(strstr(txt, "  mac 02:fe:00:00:00:01  mtu 1400  table 0  driver fake  "
                                "queues 1\n"));
    assert_non_null(strstr(txt, "  ip4 10.0.0.1/24\n"));
    assert_non_null(strstr(txt, "  fake device: 1 frames sent\n"));
    assert_non_null(strstr(txt, "  rx packets 2 bytes 160 drops 2\n"));
    assert_non_null(strstr(txt, "  tx packets 1 bytes 60 drops 0\n"));
    assert_non_null(strstr(txt, "eth1 (index 1): admin down, link up\n"));
    hs_str_reset(&s);
    hs_interface_format_all(t->net, false, &s);
    assert_null(strstr(hs_str_cstr(&s), "rx packets"));
    hs_str_free(&s);
}

/* The input body: a frame per call per queue up to a vector, counters, pcap of rx, and a
 * hand-off to ethernet-input. */
static void test_device_input(void **state)
{
    tn_t *t = *state;
    tn_if_t *a = tn_if_create(t, "eth0", 1);
    hs_net_worker_t *wk = hs_net_worker(t->net, 0);
    char path[64], err[256];
    snprintf(path, sizeof(path), "/tmp/hs-test-interface-%d.pcap", (int)getpid());
    hs_pcap_config_t pc = {.rx = true, .sw_if_index = a->sw_if_index};
    snprintf(pc.path, sizeof(pc.path), "%s", path);
    assert_int_equal(hs_pcap_start(t->net, &pc, err, sizeof(err)), 0);
    uint8_t f[64];
    memset(f, 0xab, sizeof(f));
    memcpy(f, a->mac, 6);
    for (int i = 0; i < HS_FRAME_SIZE + 44; i++)
        tn_rx(a, f, 64);
    hs_node_rt_t *in = &wk->rt.nodes[t->input_node];
    assert_int_equal(hs_device_input(&wk->rt, in, &tn_class), HS_FRAME_SIZE);
    assert_int_equal(wk->rt.nodes[t->net->nodes.ethernet_input].pending.len, HS_FRAME_SIZE);
    hs_graph_dispatch(&wk->rt);
    assert_int_equal(hs_device_input(&wk->rt, in, &tn_class), 44);
    hs_graph_dispatch(&wk->rt);
    assert_int_equal(hs_device_input(&wk->rt, in, &tn_class), 0);
    hs_if_counters_t c = tn_counters(t, a);
    assert_int_equal(c.rx_packets, HS_FRAME_SIZE + 44);
    assert_int_equal(c.rx_bytes, 64 * (HS_FRAME_SIZE + 44));
    assert_int_equal(tn_node_vectors(t, "ethernet-input"), HS_FRAME_SIZE + 44);
    uint32_t written;
    assert_int_equal(hs_pcap_stop(t->net, &written), 0);
    assert_int_equal(written, HS_FRAME_SIZE + 44);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    assert_int_equal(ftell(fp), 24 + (16 + 64) * (HS_FRAME_SIZE + 44));
    fclose(fp);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_checks_arguments, tn_setup, tn_teardown),
        cmocka_unit_test_setup_teardown(test_create_defaults_and_lookup, tn_setup, tn_teardown),
        cmocka_unit_test_setup_teardown(test_queues_spread_over_workers, tn_setup2, tn_teardown),
        cmocka_unit_test_setup_teardown(test_admin_state, tn_setup, tn_teardown),
        cmocka_unit_test_setup_teardown(test_mtu, tn_setup, tn_teardown),
        cmocka_unit_test_setup_teardown(test_set_table_moves_routes, tn_setup, tn_teardown),
        cmocka_unit_test_setup_teardown(test_delete_cleans_up, tn_setup, tn_teardown),
        cmocka_unit_test_setup_teardown(test_show_interface, tn_setup, tn_teardown),
        cmocka_unit_test_setup_teardown(test_device_input, tn_setup, tn_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
