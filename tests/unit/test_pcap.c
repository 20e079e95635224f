/* Unit tests for pcap capture (src/net/pcap.c): the file is read back and checked byte for
 * byte (global header, record headers, frame bytes of single buffers and chains), filters,
 * the automatic stop, errors that name the path, several threads capturing at once, and
 * tcpdump reading the file when it is installed.
 * HS_TEST_LOCKFREE: the concurrent-capture test also runs under ThreadSanitizer. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net/ethernet.h"
#include "net/interface.h"
#include "net/ip4.h"
#include "net/pcap.h"
#include "net_fake.h"

/* A packet-path instance with only what pcap touches: buffers, interfaces, one worker. */
typedef struct {
    hs_net_t net;
    hs_net_worker_t wk[2];
    char path[128];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(hs_buf_pool_init(&f->net.bufs, 1024), 0);
    assert_int_equal(hs_pool_init(&f->net.interfaces, sizeof(hs_interface_t), 0), 0);
    for (uint32_t i = 0; i < 2; i++) {
        uint32_t idx;
        hs_interface_t *ifc = hs_pool_get(&f->net.interfaces, &idx);
        assert_int_equal(idx, i);
        snprintf(ifc->name, sizeof(ifc->name), "if%u", i);
        f->wk[i].net = &f->net;
        f->wk[i].index = i;
        hs_buf_cache_init(&f->wk[i].bufs, &f->net.bufs);
    }
    f->net.workers = f->wk;
    f->net.n_workers = 2;
    snprintf(f->path, sizeof(f->path), "/tmp/hs-test-pcap-%d.pcap", (int)getpid());
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    hs_pcap_stop(&f->net, NULL);
    for (uint32_t i = 0; i < 2; i++)
        hs_buf_cache_flush(&f->wk[i].bufs);
    hs_pool_destroy(&f->net.interfaces);
    hs_buf_pool_destroy(&f->net.bufs);
    unlink(f->path);
    free(f);
    return 0;
}

static hs_pcap_config_t config(const fixture_t *f, bool rx, bool tx, uint32_t max, uint32_t ifc)
{
    hs_pcap_config_t c = {.rx = rx, .tx = tx, .max_packets = max, .sw_if_index = ifc};
    snprintf(c.path, sizeof(c.path), "%s", f->path);
    return c;
}

/* Frame number id of len bytes: every byte depends on id and position. */
static void make_frame(uint8_t *p, uint32_t len, uint32_t id)
{
    for (uint32_t i = 0; i < len; i++)
        p[i] = (uint8_t)(id * 31 + i * 7 + (i >> 8));
}

static void capture(fixture_t *f, uint32_t wk, uint32_t ifc, int dir, uint32_t len, uint32_t id)
{
    static uint8_t frame[4][9000];
    make_frame(frame[wk], len, id);
    uint32_t bi = hs_buf_from_bytes(&f->wk[wk].bufs, frame[wk], len);
    assert_int_not_equal(bi, HS_BUF_INVALID);
    hs_pcap_capture(&f->net, &f->wk[wk], ifc, dir, hs_buf_ptr(&f->net.bufs, bi));
    hs_buf_free(&f->wk[wk].bufs, &bi, 1);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    static uint8_t buf[4 << 20];
    *len = fread(buf, 1, sizeof(buf), fp);
    fclose(fp);
    return buf;
}

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4); /* the file is in host byte order (the magic tells readers) */
    return v;
}

static const uint8_t global_header[24] = {
    0xd4, 0xc3, 0xb2, 0xa1, 0x02, 0x00, 0x04, 0x00, 0,    0,    0,    0,
    0,    0,    0,    0,    0xff, 0xff, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
};

/* Wall-clock seconds as the pcap writer reads them. Not time(NULL): glibc takes that from
 * the coarse clock, which can still show the previous second after CLOCK_REALTIME moved
 * on, so a record could be "later" than a time(NULL) taken after it. */
static time_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec;
}

/* Checks the records of the file against frames (len, id) in order; returns the count. */
static void check_records(const char *path, const uint32_t *lens, const uint32_t *ids, uint32_t n,
                          time_t t0, time_t t1)
{
    size_t flen;
    uint8_t *p = read_file(path, &flen);
    assert_true(flen >= 24);
    assert_memory_equal(p, global_header, 24);
    size_t off = 24;
    static uint8_t want[9000];
    for (uint32_t i = 0; i < n; i++) {
        assert_true(off + 16 <= flen);
        uint32_t sec = rd32(p + off), usec = rd32(p + off + 4);
        assert_true(sec >= (uint32_t)t0 && sec <= (uint32_t)t1);
        assert_true(usec < 1000000);
        assert_int_equal(rd32(p + off + 8), lens[i]);
        assert_int_equal(rd32(p + off + 12), lens[i]);
        off += 16;
        assert_true(off + lens[i] <= flen);
        make_frame(want, lens[i], ids[i]);
        assert_memory_equal(p + off, want, lens[i]);
        off += lens[i];
    }
    assert_int_equal(off, flen);
}

static void test_records_byte_exact(void **state)
{
    fixture_t *f = *state;
    char err[256] = "";
    hs_pcap_config_t c = config(f, true, true, 0, UINT32_MAX);
    time_t t0 = now_s();
    assert_int_equal(hs_pcap_start(&f->net, &c, err, sizeof(err)), 0);
    /* Short, MTU-sized, and chained (2 and 5 buffers) frames. */
    const uint32_t lens[] = {60, 1514, 3000, 9000, 42};
    const uint32_t ids[] = {1, 2, 3, 4, 5};
    for (uint32_t i = 0; i < 5; i++)
        capture(f, 0, i & 1, i & 1 ? HS_TX : HS_RX, lens[i], ids[i]);
    uint32_t written = 0;
    assert_int_equal(hs_pcap_stop(&f->net, &written), 0);
    assert_int_equal(written, 5);
    check_records(f->path, lens, ids, 5, t0, now_s());
    assert_null(f->net.pcap);
}

static void test_filters(void **state)
{
    fixture_t *f = *state;
    char err[256];
    hs_pcap_config_t c = config(f, false, true, 0, 1); /* tx on if1 only */
    assert_int_equal(hs_pcap_start(&f->net, &c, err, sizeof(err)), 0);
    capture(f, 0, 1, HS_RX, 100, 10); /* wrong direction */
    capture(f, 0, 0, HS_TX, 100, 11); /* wrong interface */
    capture(f, 0, 1, HS_TX, 100, 12);
    capture(f, 1, 1, HS_TX, 200, 13);
    hs_str_t s = {0};
    hs_pcap_format(&f->net, &s);
    assert_non_null(strstr(hs_str_cstr(&s), "tx on if1"));
    assert_non_null(strstr(hs_str_cstr(&s), "2 packets written"));
    hs_str_free(&s);
    uint32_t written;
    assert_int_equal(hs_pcap_stop(&f->net, &written), 0);
    assert_int_equal(written, 2);
    const uint32_t lens[] = {100, 200}, ids[] = {12, 13};
    check_records(f->path, lens, ids, 2, 0, now_s());
}

static void test_stops_at_max(void **state)
{
    fixture_t *f = *state;
    char err[256];
    hs_pcap_config_t c = config(f, true, false, 3, UINT32_MAX);
    assert_int_equal(hs_pcap_start(&f->net, &c, err, sizeof(err)), 0);
    for (uint32_t i = 0; i < 6; i++)
        capture(f, 0, 0, HS_RX, 64 + i, 20 + i);
    /* Closed by the capture of the third packet: the file is complete before any stop. */
    const uint32_t lens[] = {64, 65, 66}, ids[] = {20, 21, 22};
    check_records(f->path, lens, ids, 3, 0, now_s());
    hs_str_t s = {0};
    hs_pcap_format(&f->net, &s);
    assert_non_null(strstr(hs_str_cstr(&s), "finished, 3 packets written to"));
    assert_non_null(strstr(hs_str_cstr(&s), f->path));
    hs_str_free(&s);
    uint32_t written;
    assert_int_equal(hs_pcap_stop(&f->net, &written), 0);
    assert_int_equal(written, 3);
    assert_int_equal(hs_pcap_stop(&f->net, &written), -ENOENT);
    assert_int_equal(written, 0);
}

static void test_restart_replaces(void **state)
{
    fixture_t *f = *state;
    char err[256], first[160];
    snprintf(first, sizeof(first), "%s.first", f->path);
    hs_pcap_config_t c = config(f, true, true, 0, UINT32_MAX);
    snprintf(c.path, sizeof(c.path), "%s", first);
    assert_int_equal(hs_pcap_start(&f->net, &c, err, sizeof(err)), 0);
    capture(f, 0, 0, HS_RX, 80, 30);
    c = config(f, true, true, 0, UINT32_MAX);
    assert_int_equal(hs_pcap_start(&f->net, &c, err, sizeof(err)), 0);
    capture(f, 0, 0, HS_RX, 90, 31);
    uint32_t written;
    assert_int_equal(hs_pcap_stop(&f->net, &written), 0);
    assert_int_equal(written, 1);
    const uint32_t l1[] = {80}, i1[] = {30}, l2[] = {90}, i2[] = {31};
    check_records(first, l1, i1, 1, 0, now_s()); /* closed complete by the restart */
    check_records(f->path, l2, i2, 1, 0, now_s());
    unlink(first);
}

static void test_errors_name_the_path(void **state)
{
    fixture_t *f = *state;
    char err[256] = "";
    hs_pcap_config_t c = config(f, false, false, 0, UINT32_MAX);
    assert_int_equal(hs_pcap_start(&f->net, &c, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "rx, tx or both"));
    c = config(f, true, false, 0, 7);
    assert_int_equal(hs_pcap_start(&f->net, &c, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "no interface with index 7"));
    c = config(f, true, false, 0, UINT32_MAX);
    c.path[0] = '\0';
    assert_int_equal(hs_pcap_start(&f->net, &c, err, sizeof(err)), -EINVAL);
    snprintf(c.path, sizeof(c.path), "/nonexistent-dir/x.pcap");
    assert_int_equal(hs_pcap_start(&f->net, &c, err, sizeof(err)), -ENOENT);
    assert_string_equal(err, "pcap: cannot open /nonexistent-dir/x.pcap: No such file or "
                             "directory");
    /* /dev/full takes the open and fails the first write. */
    snprintf(c.path, sizeof(c.path), "/dev/full");
    assert_int_equal(hs_pcap_start(&f->net, &c, err, sizeof(err)), -ENOSPC);
    assert_non_null(strstr(err, "cannot write /dev/full"));
    capture(f, 0, 0, HS_RX, 60, 1); /* nothing running: a no-op */
    hs_str_t s = {0};
    hs_pcap_format(&f->net, &s);
    assert_null(strstr(hs_str_cstr(&s), "capturing"));
    hs_str_free(&s);
}

/* Two threads capture at once: every record is whole and every frame appears once. */
#define CONC_FRAMES 2000

typedef struct {
    fixture_t *f;
    uint32_t wk;
} conc_arg_t;

static void *conc_thread(void *arg)
{
    conc_arg_t *a = arg;
    for (uint32_t i = 0; i < CONC_FRAMES; i++) {
        uint32_t id = a->wk * CONC_FRAMES + i;
        capture(a->f, a->wk, 0, HS_RX, 60 + id % 1500, id);
    }
    hs_buf_cache_flush(&a->f->wk[a->wk].bufs);
    return NULL;
}

static void test_concurrent_writers(void **state)
{
    fixture_t *f = *state;
    char err[256];
    hs_pcap_config_t c = config(f, true, true, 0, UINT32_MAX);
    assert_int_equal(hs_pcap_start(&f->net, &c, err, sizeof(err)), 0);
    pthread_t t[2];
    conc_arg_t args[2] = {{f, 0}, {f, 1}};
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, conc_thread, &args[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    uint32_t written;
    assert_int_equal(hs_pcap_stop(&f->net, &written), 0);
    assert_int_equal(written, 2 * CONC_FRAMES);
    size_t flen;
    uint8_t *p = read_file(f->path, &flen);
    static bool seen[2 * CONC_FRAMES];
    static uint8_t want[1600];
    memset(seen, 0, sizeof(seen));
    size_t off = 24;
    uint32_t next[2] = {0, CONC_FRAMES}; /* each thread's frames stay in its order */
    for (uint32_t n = 0; n < 2 * CONC_FRAMES; n++) {
        uint32_t len = rd32(p + off + 8);
        off += 16;
        /* Which thread wrote it: the frame must match that thread's next id exactly. */
        uint32_t who = 2;
        for (uint32_t w = 0; w < 2; w++) {
            uint32_t id = next[w];
            if (id >= (w + 1) * CONC_FRAMES || len != 60 + id % 1500)
                continue;
            make_frame(want, len, id);
            if (memcmp(p + off, want, len) == 0)
                who = w;
        }
        assert_int_not_equal(who, 2);
        seen[next[who]++] = true;
        off += len;
    }
    assert_int_equal(off, flen);
    for (uint32_t i = 0; i < 2 * CONC_FRAMES; i++)
        assert_true(seen[i]);
}

/* tcpdump, when present, reads the file and lists every frame. */
static void test_tcpdump_reads_it(void **state)
{
    fixture_t *f = *state;
    if (access("/usr/bin/tcpdump", X_OK) != 0 && access("/usr/sbin/tcpdump", X_OK) != 0) {
        print_message("tcpdump not installed: skipped\n");
        skip();
    }
    char err[256];
    hs_pcap_config_t c = config(f, true, true, 0, UINT32_MAX);
    assert_int_equal(hs_pcap_start(&f->net, &c, err, sizeof(err)), 0);
    /* An ARP request 10.0.0.1 -> who-has 10.0.0.2, as tcpdump prints it. */
    const uint8_t arp[42] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0xfe, 0, 0, 0,
                             1,    0x08, 0x06, 0,    1,    8,    0,    6,    4, 0, 1,
                             0x02, 0xfe, 0,    0,    0,    1,    10,   0,    0, 1, 0,
                             0,    0,    0,    0,    0,    10,   0,    0,    2};
    for (int i = 0; i < 3; i++) {
        uint32_t bi = hs_buf_from_bytes(&f->wk[0].bufs, arp, sizeof(arp));
        hs_pcap_capture(&f->net, &f->wk[0], 0, HS_RX, hs_buf_ptr(&f->net.bufs, bi));
        hs_buf_free(&f->wk[0].bufs, &bi, 1);
    }
    assert_int_equal(hs_pcap_stop(&f->net, NULL), 0);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "tcpdump -r %s -n 2>&1", f->path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[512];
    int n = 0;
    while (fgets(line, sizeof(line), p))
        if (strstr(line, "ARP, Request who-has 10.0.0.2 tell 10.0.0.1"))
            n++;
    assert_int_equal(pclose(p), 0);
    assert_int_equal(n, 3);
}

/* ---- a ping through a real instance, captured and read back by tcpdump ---- */

static uint16_t csum(const uint8_t *p, uint32_t len)
{
    uint32_t sum = 0;
    for (uint32_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* An Ethernet + IPv4 + ICMP echo request of 14 + 20 + 8 + 32 bytes. */
static uint32_t echo_request(uint8_t *f, const uint8_t dst_mac[6], const uint8_t src_mac[6],
                             uint32_t src, uint32_t dst, uint16_t seq)
{
    hs_eth_write(f, dst_mac, src_mac, HS_ETHERTYPE_IP4);
    uint8_t *ip = f + 14, *icmp = ip + 20;
    const uint16_t total = 20 + 8 + 32;
    memset(ip, 0, total);
    ip[0] = 0x45, ip[2] = total >> 8, ip[3] = total & 0xff, ip[5] = (uint8_t)seq, ip[8] = 64,
    ip[9] = 1;
    for (int i = 0; i < 4; i++)
        ip[12 + i] = (uint8_t)(src >> (24 - 8 * i)), ip[16 + i] = (uint8_t)(dst >> (24 - 8 * i));
    uint16_t c = csum(ip, 20);
    ip[10] = c >> 8, ip[11] = c & 0xff;
    icmp[0] = 8, icmp[4] = 0x12, icmp[5] = 0x34, icmp[7] = (uint8_t)seq;
    for (int i = 0; i < 32; i++)
        icmp[8 + i] = (uint8_t)('a' + i % 26);
    c = csum(icmp, 8 + 32);
    icmp[2] = c >> 8, icmp[3] = c & 0xff;
    return 14 + total;
}

/* The peer pings the stack before either knows the other's MAC: the echo reply waits for
 * ARP, the stack's request is answered, and the reply goes out. The capture holds the whole
 * exchange, which tcpdump prints. */
static void test_ping_exchange_read_by_tcpdump(void **state)
{
    tn_t *t = *state;
    const uint8_t peer[6] = {0x02, 0xaa, 0, 0, 0, 9};
    const uint32_t ours = tn_ip(10, 0, 0, 1), theirs = tn_ip(10, 0, 0, 9);
    tn_if_t *d = tn_if_create(t, "eth0", 1);
    assert_int_equal(hs_ip4_interface_address(t->net, d->sw_if_index, ours, 24, false), 0);
    tn_poll(t);
    tn_if_clear_tx(d);
    char path[64], err[256];
    snprintf(path, sizeof(path), "/tmp/hs-test-pcap-ping-%d.pcap", (int)getpid());
    hs_pcap_config_t pc = {.rx = true, .tx = true, .sw_if_index = UINT32_MAX};
    snprintf(pc.path, sizeof(pc.path), "%s", path);
    assert_int_equal(hs_pcap_start(t->net, &pc, err, sizeof(err)), 0);
    uint8_t f[128];
    tn_rx(d, f, echo_request(f, d->mac, peer, theirs, ours, 1));
    tn_poll(t);
    assert_int_equal(d->n_tx, 1); /* our ARP request; the echo reply is held */
    assert_memory_equal(d->tx[0], hs_mac_broadcast, 6);
    /* The peer answers the ARP request. */
    memset(f, 0, 60);
    hs_eth_write(f, d->mac, peer, HS_ETHERTYPE_ARP);
    const uint8_t arp[28] = {0,  1, 8, 0, 6,    4,    0, 2, 0x02, 0xaa, 0,  0, 0, 9,
                             10, 0, 0, 9, 0x02, 0xfe, 0, 0, 0,    1,    10, 0, 0, 1};
    memcpy(f + 14, arp, 28);
    tn_rx(d, f, 60);
    tn_poll(t);
    assert_int_equal(d->n_tx, 2);
    /* The echo reply, byte for byte: addresses swapped, type 0, checksum fixed. */
    uint8_t want[128];
    uint32_t n = echo_request(want, peer, d->mac, ours, theirs, 1);
    want[14 + 20] = 0;
    want[14 + 20 + 2] = want[14 + 20 + 3] = 0;
    uint16_t c = csum(want + 34, n - 34);
    want[36] = c >> 8, want[37] = c & 0xff;
    assert_int_equal(d->tx_len[1], n);
    assert_memory_equal(d->tx[1] + 34, want + 34, n - 34); /* ICMP */
    assert_memory_equal(d->tx[1], want, 14);               /* Ethernet */
    assert_int_equal(d->tx[1][14 + 9], 1);                 /* IPv4: ICMP from us to them */
    assert_memory_equal(d->tx[1] + 14 + 12, want + 14 + 12, 8);
    assert_int_equal(csum(d->tx[1] + 14, 20), 0);
    uint32_t written;
    assert_int_equal(hs_pcap_stop(t->net, &written), 0);
    assert_int_equal(written, 4); /* echo request, ARP request, ARP reply, echo reply */
    if (access("/usr/bin/tcpdump", X_OK) != 0 && access("/usr/sbin/tcpdump", X_OK) != 0) {
        print_message("tcpdump not installed: the file was checked by this test only\n");
        unlink(path);
        return;
    }
    char cmd[128], out[4096] = "";
    snprintf(cmd, sizeof(cmd), "tcpdump -r %s -n 2>/dev/null", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t got = fread(out, 1, sizeof(out) - 1, p);
    out[got] = '\0';
    assert_int_equal(pclose(p), 0);
    unlink(path);
    print_message("%s", out);
    const char *expect[] = {
        "IP 10.0.0.9 > 10.0.0.1: ICMP echo request, id 4660, seq 1, length 40",
        "ARP, Request who-has 10.0.0.9 tell 10.0.0.1, length 46",
        "ARP, Reply 10.0.0.9 is-at 02:aa:00:00:00:09, length 46",
        "IP 10.0.0.1 > 10.0.0.9: ICMP echo reply, id 4660, seq 1, length 40",
    };
    const char *at = out;
    for (size_t i = 0; i < HS_ARRAY_LEN(expect); i++) { /* in this order */
        const char *hit = strstr(at, expect[i]);
        assert_non_null(hit);
        at = hit + strlen(expect[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_records_byte_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stops_at_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_replaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_name_the_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcpdump_reads_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ping_exchange_read_by_tcpdump, tn_setup, tn_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
