/* The tap driver against the real kernel: ARP and ICMP echo answered by the kernel for
 * frames we craft by hand, checksum offload both ways through the virtio-net header,
 * multi-queue, kernel_if configuration, and the error sentences.
 * Needs root (CAP_NET_ADMIN); skipped otherwise. The process moves into a network namespace
 * of its own first, so every tap it creates disappears with it, even after a crash. */
#define _GNU_SOURCE /* unshare */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drivers/kernel_if.h"
#include "drivers/tap.h"
#include "infra/clock.h"
#include "net/checksum.h"
#include "net/devices.h"
#include "net/interface.h"
#include "net/ip4.h"
#include "be_bytes.h"

#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <netinet/ip.h>

#define HOST_IP  0x0a630001u /* 10.99.0.1, the kernel side */
#define STACK_IP 0x0a630002u /* 10.99.0.2, "our" side */

static const uint8_t our_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
static bool in_netns;

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    return sum;
}

static size_t eth_hdr(uint8_t *f, const uint8_t *dst, uint16_t type)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, our_mac, 6);
    put16(f + 12, type);
    return 14;
}

static size_t ip_hdr(uint8_t *p, uint8_t proto, uint32_t src, uint32_t dst, size_t payload)
{
    memset(p, 0, 20);
    p[0] = 0x45;
    put16(p + 2, (uint16_t)(20 + payload));
    put16(p + 4, 0x1234);
    p[8] = 64;
    p[9] = proto;
    put32(p + 12, src);
    put32(p + 16, dst);
    put16(p + 10, (uint16_t)~csum_fold(csum_add(0, p, 20)));
    return 20;
}

static size_t build_arp_request(uint8_t *f)
{
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    size_t n = eth_hdr(f, bcast, 0x0806);
    uint8_t *a = f + n;
    put16(a, 1);
    put16(a + 2, 0x0800);
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, 1); /* request */
    memcpy(a + 8, our_mac, 6);
    put32(a + 14, STACK_IP);
    memset(a + 18, 0, 6);
    put32(a + 24, HOST_IP);
    return n + 28;
}

static size_t build_echo(uint8_t *f, const uint8_t *dst_mac, uint16_t seq, size_t data_len)
{
    size_t n = eth_hdr(f, dst_mac, 0x0800);
    n += ip_hdr(f + n, 1, STACK_IP, HOST_IP, 8 + data_len);
    uint8_t *icmp = f + n;
    icmp[0] = 8;
    icmp[1] = 0;
    put16(icmp + 2, 0);
    put16(icmp + 4, 0x4242);
    put16(icmp + 6, seq);
    for (size_t i = 0; i < data_len; i++)
        icmp[8 + i] = (uint8_t)(i * 13 + seq);
    put16(icmp + 2, (uint16_t)~csum_fold(csum_add(0, icmp, 8 + data_len)));
    return n + 8 + data_len;
}

/* Reads frames from queue q until match() accepts one or 2 s pass; returns its length. */
static ssize_t read_matching(hs_tap_t *t, uint32_t q, uint8_t *buf, size_t cap, hs_vnet_hdr_t *hdr,
                             bool (*match)(const uint8_t *, size_t))
{
    uint64_t deadline = hs_clock_mono_ns() + 2 * HS_NS_PER_S;
    while (hs_clock_mono_ns() < deadline) {
        struct iovec iov = {buf, cap};
        ssize_t n = hs_tap_read(t, q, hdr, &iov, 1);
        if (n == -EAGAIN) {
            struct pollfd p = {.fd = t->fd[q], .events = POLLIN};
            poll(&p, 1, 50);
            continue;
        }
        assert_true(n > 0);
        if (match(buf, (size_t)n))
            return n;
    }
    return -ETIMEDOUT;
}

static bool is_arp_reply(const uint8_t *f, size_t n)
{
    return n >= 42 && get16(f + 12) == 0x0806 && get16(f + 20) == 2 && get32(f + 28) == HOST_IP;
}

static bool is_echo_reply(const uint8_t *f, size_t n)
{
    return n >= 42 && get16(f + 12) == 0x0800 && f[23] == 1 && f[34] == 0 &&
           get32(f + 26) == HOST_IP;
}

static bool is_udp_to_us(const uint8_t *f, size_t n)
{
    return n >= 42 && get16(f + 12) == 0x0800 && f[23] == 17 && get32(f + 30) == STACK_IP;
}

static int setup_tap(hs_tap_t *t, const char *name, uint32_t queues)
{
    char err[256] = "";
    int rv = hs_tap_open(t, name, queues, err, sizeof(err));
    if (rv < 0)
        print_error("%s\n", err);
    assert_int_equal(rv, 0);
    assert_int_equal(hs_kif_set_ip4(name, HOST_IP, 24), 0);
    assert_int_equal(hs_kif_set_up(name, true), 0);
    return 0;
}

static void test_kernel_if_config(void **state)
{
    (void)state;
    if (!in_netns)
        skip();
    hs_tap_t t;
    setup_tap(&t, "hst1", 1);
    assert_true(hs_kif_index("hst1") > 0);
    assert_int_equal(hs_kif_index("hs-no-such"), -ENODEV);
    assert_int_equal(hs_kif_index(""), -EINVAL);
    bool up = false;
    assert_int_equal(hs_kif_is_up("hst1", &up), 0);
    assert_true(up);
    uint32_t addr = 0, mtu = 0;
    uint8_t len = 0;
    assert_int_equal(hs_kif_get_ip4("hst1", &addr, &len), 0);
    assert_int_equal(addr, HOST_IP);
    assert_int_equal(len, 24);
    assert_int_equal(hs_kif_set_mtu("hst1", 9000), 0);
    assert_int_equal(hs_kif_get_mtu("hst1", &mtu), 0);
    assert_int_equal(mtu, 9000);
    const uint8_t mac[6] = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee};
    uint8_t got[6];
    assert_int_equal(hs_kif_set_mac("hst1", mac), 0);
    assert_int_equal(hs_kif_get_mac("hst1", got), 0);
    assert_memory_equal(got, mac, 6);
    assert_int_equal(hs_kif_set_up("hst1", false), 0);
    assert_int_equal(hs_kif_is_up("hst1", &up), 0);
    assert_false(up);
    assert_int_equal(hs_kif_set_ip4("hst1", HOST_IP, 33), -EINVAL);
    hs_tap_close(&t);
    assert_int_equal(hs_kif_index("hst1"), -ENODEV); /* the tap went with its last fd */
}

/* "Our" side pings the kernel: ARP first, then echoes of several sizes, byte-exact. */
static void test_arp_and_ping_kernel(void **state)
{
    (void)state;
    if (!in_netns)
        skip();
    hs_tap_t t;
    setup_tap(&t, "hst0", 1);
    uint8_t f[2048], r[2048];
    hs_vnet_hdr_t h = {0}, rh;
    struct iovec iov = {f, build_arp_request(f)};
    assert_int_equal(hs_tap_write(&t, 0, &h, &iov, 1), (ssize_t)iov.iov_len);
    ssize_t n = read_matching(&t, 0, r, sizeof(r), &rh, is_arp_reply);
    assert_true(n >= 42);
    assert_memory_equal(r, our_mac, 6);
    uint8_t host_mac[6];
    memcpy(host_mac, r + 22, 6); /* sender hardware address */
    uint8_t kmac[6];
    assert_int_equal(hs_kif_get_mac("hst0", kmac), 0);
    assert_memory_equal(host_mac, kmac, 6);
    assert_int_equal(get32(r + 38), STACK_IP);

    size_t sizes[] = {0, 56, 1000, 1472};
    for (uint16_t seq = 0; seq < 4; seq++) {
        iov.iov_len = build_echo(f, host_mac, seq, sizes[seq]);
        /* Gathered from two pieces, split inside the IP header. */
        struct iovec two[2] = {{f, 20}, {f + 20, iov.iov_len - 20}};
        assert_int_equal(hs_tap_write(&t, 0, &h, two, 2), (ssize_t)iov.iov_len);
        n = read_matching(&t, 0, r, sizeof(r), &rh, is_echo_reply);
        assert_int_equal(n, (ssize_t)iov.iov_len);
        assert_memory_equal(r, our_mac, 6);
        assert_int_equal(get16(r + 38), 0x4242);
        assert_int_equal(get16(r + 40), seq);
        assert_memory_equal(r + 42, f + 42, sizes[seq]); /* the payload comes back intact */
        assert_int_equal(csum_fold(csum_add(0, r + 14, 20)), 0xffff);
        assert_int_equal(csum_fold(csum_add(0, r + 34, 8 + sizes[seq])), 0xffff);
    }
    hs_tap_close(&t);
}

/* Kernel UDP to us leaves its checksum to the "device" (NEEDS_CSUM, TUN_F_CSUM); our UDP
 * to the kernel with NEEDS_CSUM is completed and delivered by the kernel. */
static void test_checksum_offload_both_ways(void **state)
{
    (void)state;
    if (!in_netns)
        skip();
    hs_tap_t t;
    setup_tap(&t, "hst2", 1);
    uint8_t f[2048], r[2048];
    hs_vnet_hdr_t h = {0}, rh;
    struct iovec iov = {f, build_arp_request(f)};
    assert_int_equal(hs_tap_write(&t, 0, &h, &iov, 1), (ssize_t)iov.iov_len);
    assert_true(read_matching(&t, 0, r, sizeof(r), &rh, is_arp_reply) > 0);
    uint8_t host_mac[6];
    memcpy(host_mac, r + 22, 6);

    int s = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(s >= 0);
    struct sockaddr_in me = {
        .sin_family = AF_INET, .sin_port = htons(5555), .sin_addr.s_addr = htonl(HOST_IP)};
    assert_int_equal(bind(s, (struct sockaddr *)&me, sizeof(me)), 0);
    struct sockaddr_in to = {
        .sin_family = AF_INET, .sin_port = htons(7777), .sin_addr.s_addr = htonl(STACK_IP)};
    const char msg[] = "partial checksum from the kernel";
    assert_int_equal(sendto(s, msg, sizeof(msg), 0, (struct sockaddr *)&to, sizeof(to)),
                     (ssize_t)sizeof(msg));
    ssize_t n = read_matching(&t, 0, r, sizeof(r), &rh, is_udp_to_us);
    assert_int_equal(n, 42 + (ssize_t)sizeof(msg));
    assert_memory_equal(r + 42, msg, sizeof(msg));
    assert_true(rh.flags & HS_VNET_F_NEEDS_CSUM);
    assert_int_equal(rh.csum_start, 34);
    assert_int_equal(rh.csum_offset, 6);
    /* Complete it as the glue does: the field holds the pseudo-header sum. */
    uint16_t c = (uint16_t)~csum_fold(csum_add(0, r + 34, (size_t)n - 34));
    put16(r + 34 + 6, c);
    uint32_t ph = 0;
    uint8_t pseudo[12];
    memcpy(pseudo, r + 26, 8);
    pseudo[8] = 0;
    pseudo[9] = 17;
    put16(pseudo + 10, (uint16_t)(n - 34));
    ph = csum_add(ph, pseudo, 12);
    assert_int_equal(csum_fold(csum_add(ph, r + 34, (size_t)n - 34)), 0xffff);

    /* Our UDP to the kernel, checksum left to the kernel: field = pseudo-header sum. */
    const char back[] = "partial checksum to the kernel";
    size_t len = eth_hdr(f, host_mac, 0x0800);
    len += ip_hdr(f + len, 17, STACK_IP, HOST_IP, 8 + sizeof(back));
    uint8_t *u = f + len;
    put16(u, 7777);
    put16(u + 2, 5555);
    put16(u + 4, (uint16_t)(8 + sizeof(back)));
    memcpy(u + 8, back, sizeof(back));
    memcpy(pseudo, f + 26, 8);
    put16(pseudo + 10, (uint16_t)(8 + sizeof(back)));
    put16(u + 6, csum_fold(csum_add(0, pseudo, 12)));
    len += 8 + sizeof(back);
    hs_vnet_hdr_t th = {.flags = HS_VNET_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 6};
    iov = (struct iovec){f, len};
    assert_int_equal(hs_tap_write(&t, 0, &th, &iov, 1), (ssize_t)len);
    char got[64] = "";
    struct pollfd p = {.fd = s, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 2000), 1);
    assert_int_equal(recv(s, got, sizeof(got), MSG_DONTWAIT), (ssize_t)sizeof(back));
    assert_memory_equal(got, back, sizeof(back));
    close(s);
    hs_tap_close(&t);
}

static void test_multi_queue_and_truncation(void **state)
{
    (void)state;
    if (!in_netns)
        skip();
    hs_tap_t t;
    setup_tap(&t, "hst3", 4);
    assert_int_equal(t.n_queues, 4);
    for (uint32_t q = 0; q < 4; q++)
        assert_true(t.fd[q] >= 0);
    /* Every queue can send; the ARP replies come back on some queue. */
    uint8_t f[2048], r[2048];
    hs_vnet_hdr_t h = {0}, rh;
    for (uint32_t q = 0; q < 4; q++) {
        struct iovec iov = {f, build_arp_request(f)};
        assert_int_equal(hs_tap_write(&t, q, &h, &iov, 1), (ssize_t)iov.iov_len);
    }
    uint32_t replies = 0;
    uint64_t deadline = hs_clock_mono_ns() + 2 * HS_NS_PER_S;
    while (replies < 4 && hs_clock_mono_ns() < deadline) {
        for (uint32_t q = 0; q < 4; q++) {
            struct iovec iov = {r, sizeof(r)};
            ssize_t n = hs_tap_read(&t, q, &rh, &iov, 1);
            if (n > 0 && is_arp_reply(r, (size_t)n))
                replies++;
        }
        usleep(1000);
    }
    assert_int_equal(replies, 4);

    /* A frame longer than the buffer: the read says so by filling it exactly. */
    uint8_t host_mac[6];
    assert_int_equal(hs_kif_get_mac("hst3", host_mac), 0);
    struct iovec iov = {f, build_echo(f, host_mac, 1, 1000)};
    assert_int_equal(hs_tap_write(&t, 0, &h, &iov, 1), (ssize_t)iov.iov_len);
    ssize_t n = -EAGAIN;
    deadline = hs_clock_mono_ns() + 2 * HS_NS_PER_S;
    while (n != 100 && hs_clock_mono_ns() < deadline) {
        for (uint32_t q = 0; q < 4 && n != 100; q++) {
            struct iovec small = {r, 100};
            n = hs_tap_read(&t, q, &rh, &small, 1);
        }
        usleep(1000);
    }
    assert_int_equal(n, 100);
    hs_tap_close(&t);
}

static void test_error_sentences(void **state)
{
    (void)state;
    hs_tap_t t;
    char err[256] = "";
    assert_int_equal(hs_tap_open(&t, "", 1, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "invalid name"));
    assert_int_equal(hs_tap_open(&t, "a-very-long-tap-name", 1, err, sizeof(err)), -EINVAL);
    assert_int_equal(hs_tap_open(&t, "hs9", 0, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "tap hs9: 0 queues"));
    if (!in_netns)
        return;
    /* "lo" exists and is not a tap. */
    int rv = hs_tap_open(&t, "lo", 1, err, sizeof(err));
    assert_true(rv < 0);
    assert_non_null(strstr(err, "tap lo: /dev/net/tun: invalid argument (an interface of that "
                                "name exists and is not a tap"));
}

/* Without CAP_NET_ADMIN (a child that became nobody): the sentence names the tap and the
 * fix. */
static void test_permission_sentence(void **state)
{
    (void)state;
    if (!in_netns)
        skip();
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char err[256] = "";
        hs_tap_t t;
        if (setgid(65534) == 0 && setuid(65534) == 0)
            hs_tap_open(&t, "hs0", 1, err, sizeof(err));
        ssize_t w = write(fds[1], err, strlen(err) + 1);
        _exit(w > 0 ? 0 : 1);
    }
    close(fds[1]);
    char got[256] = "";
    ssize_t n = read(fds[0], got, sizeof(got) - 1);
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    assert_true(n > 0);
    /* EACCES from open() when /dev/net/tun is not world-accessible, EPERM from the attach
     * otherwise: either way the same sentence shape. */
    bool denied = strcmp(got, "tap hs0: /dev/net/tun: permission denied (run as root or grant "
                              "CAP_NET_ADMIN)") == 0;
    bool not_permitted = strcmp(got, "tap hs0: /dev/net/tun: operation not permitted (run as "
                                     "root or grant CAP_NET_ADMIN)") == 0;
    if (!denied && !not_permitted)
        fail_msg("unexpected sentence: %s", got);
}

/* Runs ping(8) with args and prints its summary lines; true when it exited 0 (with -w,
 * that means every echo was answered). */
static bool run_ping(const char *args)
{
    char cmd[256], line[256];
    snprintf(cmd, sizeof(cmd), "ping %s 2>&1", args);
    FILE *f = popen(cmd, "r");
    if (!f)
        return false;
    while (fgets(line, sizeof(line), f))
        if (strstr(line, "transmitted") || strstr(line, "rtt "))
            print_message("    ping %s: %s", args, line);
    return pclose(f) == 0;
}

/* ---- the glue: a real stack instance behind the tap ---- */

typedef struct {
    hs_net_t *net;
    hs_clock_t clk;
    atomic_bool stop;
    pthread_t th;
} poller_t;

/* One worker, interrupt style: wait on the queue fds (1 ms at most), then poll. */
static void *poller_main(void *arg)
{
    poller_t *p = arg;
    hs_net_worker_t *wk = hs_net_worker(p->net, 0);
    while (!atomic_load(&p->stop)) {
        struct pollfd fds[HS_IF_MAX_QUEUES];
        nfds_t n = 0;
        hs_pool_foreach(&p->net->interfaces, i)
        {
            hs_interface_t *ifc = hs_pool_elt(&p->net->interfaces, i);
            for (uint32_t q = 0; q < ifc->n_queues && n < HS_IF_MAX_QUEUES; q++)
                if (ifc->queue_fd[q] >= 0)
                    fds[n++] = (struct pollfd){.fd = ifc->queue_fd[q], .events = POLLIN};
        }
        poll(fds, n, 1);
        hs_net_worker_poll(wk, hs_clock_now(&p->clk));
    }
    return NULL;
}

static void poller_start(poller_t *p)
{
    hs_clock_init_real(&p->clk);
    hs_net_config_t cfg = {.n_workers = 1, .n_buffers = 4096, .clock = &p->clk};
    assert_int_equal(hs_net_create(&p->net, &cfg), 0);
}

static void poller_run(poller_t *p)
{
    atomic_store(&p->stop, false);
    assert_int_equal(pthread_create(&p->th, NULL, poller_main, p), 0);
}

static void poller_stop(poller_t *p)
{
    atomic_store(&p->stop, true);
    pthread_join(p->th, NULL);
}

/* The kernel pings the stack through the tap: 20 small pings 10 ms apart and 3 of 8000
 * bytes (fragmented both ways); UDP from the kernel arrives with a partial checksum, which
 * the glue completes: the port-unreachable error the stack sends back quotes it. */
static void test_glue_kernel_pings_stack(void **state)
{
    (void)state;
    if (!in_netns)
        skip();
    poller_t p;
    poller_start(&p);
    hs_tap_if_config_t tc = {
        .name = "hst9", .n_queues = 1, .host_addr = 0x0a630901u, .host_len = 24};
    char err[256] = "";
    uint32_t sw;
    int rv = hs_tap_if_create(p.net, &tc, &sw, err, sizeof(err));
    if (rv < 0)
        print_error("%s\n", err);
    assert_int_equal(rv, 0);
    assert_int_equal(hs_tap_if_create(p.net, &tc, &sw, err, sizeof(err)), -EEXIST);
    assert_non_null(strstr(err, "tap hst9: the stack already has an interface"));
    assert_int_equal(system("ip link show hst9 | grep -q NO-CARRIER"), 0); /* admin down */
    assert_int_equal(hs_interface_set_admin(p.net, sw, true), 0);
    assert_int_equal(system("ip link show hst9 | grep -q NO-CARRIER"), 256);
    assert_int_equal(hs_ip4_interface_address(p.net, sw, 0x0a630902u, 24, false), 0);
    poller_run(&p);
    assert_true(run_ping("-q -c 100 -i 0.01 -w 10 10.99.9.2"));
    assert_true(run_ping("-q -c 5 -i 0.05 -s 8000 -w 5 10.99.9.2"));
    /* Jumbo frames both ways: MTU 9000 on each side, 8000-byte pings with DF (never
     * fragmented), so the tap reads into five-buffer chains and writes chains. */
    poller_stop(&p);
    uint32_t kmtu = 0;
    assert_int_equal(hs_interface_set_mtu(p.net, sw, 9000), 0); /* the kernel side follows */
    assert_int_equal(hs_kif_get_mtu("hst9", &kmtu), 0);
    assert_int_equal(kmtu, 9000);
    poller_run(&p);
    assert_true(run_ping("-q -c 5 -i 0.05 -s 8000 -M do -w 5 10.99.9.2"));

    /* UDP to a port nobody listens on; catch the ICMP error with a raw socket. */
    int raw = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    assert_true(raw >= 0);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {
        .sin_family = AF_INET, .sin_port = htons(4444), .sin_addr.s_addr = htonl(0x0a630902u)};
    uint8_t msg[333];
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)(i * 5);
    assert_int_equal(sendto(u, msg, sizeof(msg), 0, (struct sockaddr *)&to, sizeof(to)),
                     (ssize_t)sizeof(msg));
    struct sockaddr_in from;
    socklen_t flen = sizeof(from);
    getsockname(u, (struct sockaddr *)&from, &flen);
    uint8_t r[1500];
    bool seen = false;
    uint64_t deadline = hs_clock_mono_ns() + 2 * HS_NS_PER_S;
    while (!seen && hs_clock_mono_ns() < deadline) {
        struct pollfd pf = {.fd = raw, .events = POLLIN};
        if (poll(&pf, 1, 100) != 1)
            continue;
        ssize_t n = recv(raw, r, sizeof(r), 0);
        /* IP(20) ICMP(8) quoted IP(20) quoted UDP(8): type 3 code 3. */
        if (n < 56 || r[20] != 3 || r[21] != 3 || get16(r + 28 + 20 + 2) != 4444)
            continue;
        seen = true;
        uint8_t pseudo[12];
        memcpy(pseudo, r + 28 + 12, 8);
        pseudo[8] = 0;
        pseudo[9] = 17;
        put16(pseudo + 10, (uint16_t)(8 + sizeof(msg)));
        uint8_t udp[8 + sizeof(msg)];
        memcpy(udp, r + 48, 8);
        memcpy(udp + 8, msg, sizeof(msg));
        /* The quoted checksum is complete: the UDP datagram verifies. */
        assert_int_equal(csum_fold(csum_add(csum_add(0, pseudo, 12), udp, sizeof(udp))), 0xffff);
    }
    assert_true(seen);
    close(raw);
    close(u);
    poller_stop(&p);

    hs_str_t out = {0};
    hs_interface_format_all(p.net, true, &out);
    assert_non_null(strstr(hs_str_cstr(&out), "tap hst9: vnet header 12 bytes"));
    assert_null(strstr(hs_str_cstr(&out), "csum-completed 0;"));
    hs_str_free(&out);
    hs_net_destroy(p.net);
    assert_int_equal(hs_kif_index("hst9"), -ENODEV); /* deleting the interface closed it */
}

/* A datagram the stack sends with its UDP checksum left to the device (as TCP/UDP output
 * will): the tap glue passes it to the kernel as NEEDS_CSUM with the offsets counted from
 * the frame. A packet socket with PACKET_VNET_HDR on the kernel side shows the header the
 * kernel holds; finishing the checksum from it gives a datagram that verifies. */
static void test_glue_tx_checksum_offload(void **state)
{
    (void)state;
    if (!in_netns)
        skip();
    poller_t p;
    poller_start(&p);
    hs_tap_if_config_t tc = {.name = "hst8", .host_addr = 0x0a630801u, .host_len = 24};
    char err[256] = "";
    uint32_t sw;
    assert_int_equal(hs_tap_if_create(p.net, &tc, &sw, err, sizeof(err)), 0);
    assert_true(hs_interface_get(p.net, sw)->tx_csum_offload);
    assert_int_equal(hs_interface_set_admin(p.net, sw, true), 0);
    assert_int_equal(hs_ip4_interface_address(p.net, sw, 0x0a630802u, 24, false), 0);
    poller_run(&p);
    assert_true(run_ping("-q -c 1 -w 2 10.99.8.2")); /* both sides learn each other */
    poller_stop(&p);

    int cap = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)), one = 1;
    assert_true(cap >= 0);
    assert_int_equal(setsockopt(cap, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)), 0);
    struct sockaddr_ll sll = {.sll_family = AF_PACKET,
                              .sll_protocol = htons(ETH_P_ALL),
                              .sll_ifindex = hs_kif_index("hst8")};
    assert_int_equal(bind(cap, (struct sockaddr *)&sll, sizeof(sll)), 0);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in me = {
        .sin_family = AF_INET, .sin_port = htons(5555), .sin_addr.s_addr = htonl(0x0a630801u)};
    assert_int_equal(bind(u, (struct sockaddr *)&me, sizeof(me)), 0);

    /* The datagram, as a transport hands it to ip4-lookup: the UDP field holds the
     * pseudo-header sum, csum_start/csum_offset count from the IP header. */
    uint8_t pkt[20 + 8 + 301];
    uint16_t ulen = 8 + 301;
    memset(pkt, 0, 28);
    pkt[0] = 0x45;
    put16(pkt + 2, (uint16_t)sizeof(pkt));
    pkt[8] = 64;
    pkt[9] = 17;
    put32(pkt + 12, 0x0a630802u);
    put32(pkt + 16, 0x0a630801u);
    put16(pkt + 10, (uint16_t)~csum_fold(csum_add(0, pkt, 20)));
    put16(pkt + 20, 7777);
    put16(pkt + 22, 5555);
    put16(pkt + 24, ulen);
    for (int i = 0; i < 301; i++)
        pkt[28 + i] = (uint8_t)(i * 11);
    uint16_t ps = hs_csum_fold(hs_csum_pseudo4(0x0a630802u, 0x0a630801u, 17, ulen));
    memcpy(pkt + 26, &ps, 2);
    hs_net_worker_t *wk = hs_net_worker(p.net, 0);
    uint32_t bi = hs_buf_from_bytes(&wk->bufs, pkt, sizeof(pkt));
    hs_buf_t *b = hs_buf_ptr(wk->bufs.pool, bi);
    *hs_ip4_meta(b) = (hs_ip4_buf_meta_t){.fib_index = 0};
    b->flags |= HS_BUF_F_LOCALLY_MADE | HS_BUF_F_L4_CSUM_TODO;
    b->csum_start = 20;
    b->csum_offset = 6;
    b->l3_offset = b->current_data;
    hs_graph_enqueue(&wk->rt, p.net->nodes.ip4_lookup, bi);
    hs_graph_dispatch(&wk->rt);

    uint8_t r[2048];
    bool seen = false;
    uint64_t deadline = hs_clock_mono_ns() + 2 * HS_NS_PER_S;
    while (!seen && hs_clock_mono_ns() < deadline) {
        struct pollfd pf = {.fd = cap, .events = POLLIN};
        if (poll(&pf, 1, 100) != 1)
            continue;
        ssize_t n = recv(cap, r, sizeof(r), 0);
        const uint8_t *f = r + 10; /* struct virtio_net_hdr, the legacy 10 bytes */
        if (n != 10 + 14 + (ssize_t)sizeof(pkt) || get16(f + 12) != 0x0800 || f[23] != 17)
            continue;
        seen = true;
        assert_true(r[0] & HS_VNET_F_NEEDS_CSUM);
        uint16_t start, off;
        memcpy(&start, r + 6, 2);
        memcpy(&off, r + 8, 2);
        assert_int_equal(start, 14 + 20); /* counted from the frame */
        assert_int_equal(off, 6);
        uint8_t udp[8 + 301];
        memcpy(udp, f + start, sizeof(udp));
        put16(udp + 6, (uint16_t)~csum_fold(csum_add(0, udp, sizeof(udp))));
        uint8_t pseudo[12] = {0};
        memcpy(pseudo, f + 26, 8);
        pseudo[9] = 17;
        put16(pseudo + 10, ulen);
        assert_int_equal(csum_fold(csum_add(csum_add(0, pseudo, 12), udp, sizeof(udp))), 0xffff);
    }
    assert_true(seen);
    uint8_t got[512];
    assert_int_equal(recv(u, got, sizeof(got), MSG_DONTWAIT), 301); /* delivered too */
    assert_memory_equal(got, pkt + 28, 301);
    close(cap);
    close(u);
    hs_net_destroy(p.net);
}

/* Error sentences of the glue: a tap name the kernel refuses. */
static void test_glue_errors(void **state)
{
    (void)state;
    poller_t p;
    poller_start(&p);
    char err[256] = "";
    uint32_t sw;
    hs_tap_if_config_t bad = {.name = "bad/name"};
    assert_int_equal(hs_tap_if_create(p.net, &bad, &sw, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "tap bad/name: invalid name"));
    hs_tap_if_config_t many = {.name = "hsq", .n_queues = 9};
    assert_int_equal(hs_tap_if_create(p.net, &many, &sw, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "at most 8"));
    hs_net_destroy(p.net);
}

int main(void)
{
    in_netns = geteuid() == 0 && unshare(CLONE_NEWNET) == 0;
    if (!in_netns)
        fprintf(stderr, "test_tap: not root or no network namespaces: kernel tests skipped\n");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernel_if_config),
        cmocka_unit_test(test_arp_and_ping_kernel),
        cmocka_unit_test(test_checksum_offload_both_ways),
        cmocka_unit_test(test_multi_queue_and_truncation),
        cmocka_unit_test(test_error_sentences),
        cmocka_unit_test(test_permission_sentence),
        cmocka_unit_test(test_glue_kernel_pings_stack),
        cmocka_unit_test(test_glue_tx_checksum_offload),
        cmocka_unit_test(test_glue_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
