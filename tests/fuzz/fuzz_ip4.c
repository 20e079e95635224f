/* libFuzzer target over the packet path: each input is a few Ethernet frames received on
 * one interface of a whole stack (a fake device: rx from the input, tx checked and
 * discarded), run through ethernet-input, ARP, IPv4 (reassembly, local delivery, ICMP,
 * lookup, fragmentation, rewrite) and TCP (tcp4-input, a builtin echo server listening on
 * port 7) on a virtual clock. Besides crashes it checks that every frame the stack sends is
 * a well-formed IPv4 or ARP frame and that no buffer leaks.
 *
 * Input: frames, each a 2-byte big-endian length and that many bytes (a short last frame
 * takes what is left). A length with its top bit set asks the harness to fill in the IPv4
 * header and TCP/UDP/ICMP checksums of that frame first, so that mutations reach the
 * transports instead of dying at the checksum checks. See run.sh for the build and
 * tests/fuzz/corpus for seeds. */
#include "net/arp.h"
#include "net/checksum.h"
#include "net/fib.h"
#include "net/interface.h"
#include "net/ip4.h"
#include "net/net.h"
#include "session/echo.h"
#include "session/stack.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_FRAMES   32
#define FUZZ_MAX_FRAME    (9000 + 14) /* a jumbo frame, as a real device would deliver */
#define FUZZ_STEP_NS      (20 * HS_NS_PER_MS)
#define FUZZ_SETTLE_EVERY 512 /* inputs between leak checks */
#define FUZZ_N_BUFFERS    4096

typedef struct {
    uint8_t fixed[FUZZ_MAX_FRAMES][FUZZ_MAX_FRAME]; /* frames whose checksums were filled in */
    const uint8_t *frames[FUZZ_MAX_FRAMES];
    uint32_t lens[FUZZ_MAX_FRAMES];
    uint32_t n, next;
    uint64_t tx_frames;
} fuzz_dev_t;

typedef struct {
    hs_clock_t clock;
    hs_net_t *net;
    hs_session_main_t *sm;
    fuzz_dev_t dev;
    uint32_t sw_if_index;
    uint64_t inputs;
} fuzz_state_t;

static fuzz_state_t fz; /* libFuzzer's entry points take no context: the one instance */

static uint32_t fuzz_rx(hs_net_worker_t *wk, hs_interface_t *ifc, uint32_t q, uint32_t *bis,
                        uint32_t max)
{
    (void)q, (void)max;
    fuzz_dev_t *d = ifc->dev;
    uint32_t k = 0;
    /* One frame per poll: the caller moves time on between frames. */
    if (d->next < d->n) {
        uint32_t bi = hs_buf_from_bytes(&wk->bufs, d->frames[d->next], d->lens[d->next]);
        if (bi == HS_BUF_INVALID)
            return 0; /* out of buffers: the frame waits, as in a real ring */
        d->next++;
        bis[k++] = bi;
    }
    return k;
}

static uint16_t csum16(const uint8_t *p, uint32_t len)
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

/* What the stack sends must be well formed: an invariant violation is a crash. */
static void check_tx_frame(hs_net_t *net, hs_interface_t *ifc, hs_buf_t *b)
{
    uint8_t f[64];
    uint32_t total = hs_buf_length(b);
    uint32_t n = hs_buf_copy_out(&net->bufs, b, f, sizeof(f));
    if (total > ifc->mtu + 14u || n < 14) {
        fprintf(stderr, "fuzz: sent a frame of %u bytes (mtu %u)\n", total, ifc->mtu);
        abort();
    }
    uint16_t type = (uint16_t)(f[12] << 8 | f[13]);
    if (type == 0x0806 && total >= 14 + 28)
        return;
    if (type != 0x0800 || n < 34) {
        fprintf(stderr, "fuzz: sent ethertype %04x, %u bytes\n", type, total);
        abort();
    }
    uint32_t ihl = (f[14] & 15u) * 4, tot = (uint32_t)(f[16] << 8 | f[17]);
    if ((f[14] >> 4) != 4 || ihl < 20 || 14 + ihl > n || tot < ihl || tot > total - 14 ||
        csum16(f + 14, ihl) != 0) {
        fprintf(stderr, "fuzz: sent a bad IPv4 header (ihl %u, total %u, frame %u)\n", ihl, tot,
                total);
        abort();
    }
}

static uint32_t fuzz_tx(hs_net_worker_t *wk, hs_interface_t *ifc, const uint32_t *bis, uint32_t n)
{
    fuzz_dev_t *d = ifc->dev;
    for (uint32_t i = 0; i < n; i++)
        check_tx_frame(wk->net, ifc, hs_buf_ptr(&wk->net->bufs, bis[i]));
    d->tx_frames += n;
    hs_buf_free(&wk->bufs, bis, n);
    return n;
}

static const hs_device_class_t fuzz_class = {
    .name = "fuzz", .input_node_name = "fuzz-input", .rx = fuzz_rx, .tx = fuzz_tx};

static uint32_t fuzz_input_fn(hs_graph_rt_t *rt, hs_node_rt_t *node, const uint32_t *bis,
                              uint32_t n)
{
    (void)bis, (void)n;
    return hs_device_input(rt, node, &fuzz_class);
}

static const char *const fuzz_next[] = {"ethernet-input"};
static const hs_node_reg_t fuzz_input = {.name = "fuzz-input",
                                         .fn = fuzz_input_fn,
                                         .type = HS_NODE_INPUT,
                                         .n_next = 1,
                                         .next_nodes = fuzz_next,
                                         .format_trace = hs_device_format_trace};

static int register_nodes(hs_net_t *net, void *ctx)
{
    (void)ctx;
    int rv = hs_graph_add_node(&net->graph, &fuzz_input);
    return rv < 0 ? rv : hs_session_register_nodes(net, ctx);
}

static void must(int rv, const char *what)
{
    if (rv < 0) {
        fprintf(stderr, "fuzz: %s: %s\n", what, strerror(-rv));
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    static const uint8_t mac[6] = {0x02, 0x00, 0x00, 0x77, 0x09, 0x02};
    static const uint8_t peer[6] = {0x02, 0x00, 0x00, 0x77, 0x09, 0x01};
    hs_clock_init_virtual(&fz.clock, HS_NS_PER_S);
    hs_net_config_t cfg = {.n_workers = 1,
                           .n_buffers = FUZZ_N_BUFFERS,
                           .clock = &fz.clock,
                           .register_nodes = register_nodes};
    must(hs_net_create(&fz.net, &cfg), "hs_net_create");
    must(hs_session_main_create(&fz.sm, fz.net, NULL), "hs_session_main_create");
    must(hs_interface_create(fz.net, "fz0", &fuzz_class, &fz.dev, mac, 1, NULL, &fz.sw_if_index),
         "hs_interface_create");
    /* 10.77.9.2/24 with the kernel-like peer .1 static; other neighbors resolve by ARP. */
    must(hs_ip4_interface_address(fz.net, fz.sw_if_index, 0x0a4d0902, 24, false), "address");
    must(hs_ip4_interface_address(fz.net, fz.sw_if_index, 0xc0a80101, 16, false), "address 2");
    must(hs_arp_add_static(fz.net, fz.sw_if_index, 0x0a4d0901, peer), "neighbor");
    hs_fib_route_t def = {.prefix = 0,
                          .len = 0,
                          .type = HS_FIB_VIA,
                          .sw_if_index = fz.sw_if_index,
                          .next_hop = 0x0a4d0901};
    must(hs_fib_add(fz.net, 0, &def), "default route");
    must(hs_interface_set_admin(fz.net, fz.sw_if_index, true), "admin up");
    hs_echo_server_t *es;
    hs_endpoint_t ep = {.fib_index = 0, .ip = 0x0a4d0902, .port = 7};
    must(hs_echo_server_start(fz.sm, &ep, &es), "echo server");
    return 0;
}

/* Fills in the IPv4 header checksum and, for an unfragmented TCP, UDP or ICMP datagram
 * that fits the frame, its transport checksum. Anything that does not parse is left as is. */
static void fix_checksums(uint8_t *f, uint32_t len)
{
    if (len < 14 + 20 || f[12] != 0x08 || f[13] != 0x00)
        return;
    uint8_t *ip = f + 14;
    uint32_t ihl = (ip[0] & 0x0f) * 4u, tot = (uint32_t)(ip[2] << 8 | ip[3]);
    if ((ip[0] >> 4) != 4 || ihl < 20 || tot < ihl || 14 + tot > len)
        return;
    ip[10] = ip[11] = 0;
    uint16_t c = hs_csum(ip, ihl);
    memcpy(ip + 10, &c, 2);
    if ((ip[6] & 0x3f) || ip[7]) /* a fragment: the transport checksum spans fragments */
        return;
    uint8_t *l4 = ip + ihl, proto = ip[9];
    uint32_t l4len = tot - ihl, at = proto == 6 ? 16 : proto == 17 ? 6 : proto == 1 ? 2 : 0;
    if (!at || l4len < at + 2)
        return;
    l4[at] = l4[at + 1] = 0;
    uint32_t src, dst;
    memcpy(&src, ip + 12, 4);
    memcpy(&dst, ip + 16, 4);
    uint64_t sum = proto == 1 ? 0 : hs_csum_pseudo4(ntohl(src), ntohl(dst), proto, (uint16_t)l4len);
    c = hs_csum_finish(hs_csum_add(sum, l4, l4len));
    memcpy(l4 + at, &c, 2);
}

/* Splits the input into frames (see the header comment). */
static void load_frames(fuzz_dev_t *d, const uint8_t *data, size_t size)
{
    d->n = d->next = 0;
    size_t off = 0;
    while (off + 2 <= size && d->n < FUZZ_MAX_FRAMES) {
        uint32_t len = (uint32_t)(data[off] << 8 | data[off + 1]);
        bool fix = len & 0x8000;
        len &= 0x7fff;
        off += 2;
        len = (uint32_t)HS_MIN((size_t)len, size - off);
        len = HS_MIN(len, (uint32_t)FUZZ_MAX_FRAME);
        d->frames[d->n] = data + off;
        if (fix) {
            memcpy(d->fixed[d->n], data + off, len);
            fix_checksums(d->fixed[d->n], len);
            d->frames[d->n] = d->fixed[d->n];
        }
        d->lens[d->n++] = len;
        off += len;
    }
}

/* Long enough for every reassembly, ARP retry and hold queue to time out: afterwards
 * every buffer must be back in the pool or a worker cache. */
static void settle_and_check_leaks(void)
{
    hs_net_worker_t *wk = hs_net_worker(fz.net, 0);
    for (int i = 0; i < 200; i++) {
        hs_clock_advance(&fz.clock, HS_NS_PER_S);
        hs_session_stack_poll(fz.net, fz.sm, 0, hs_clock_now(&fz.clock));
    }
    uint32_t free_bufs = hs_buf_pool_n_free(&fz.net->bufs) + wk->bufs.n;
    if (free_bufs != fz.net->bufs.n_buffers) {
        fprintf(stderr, "fuzz: %u of %u buffers still in use after 200 s idle: a leak\n",
                fz.net->bufs.n_buffers - free_bufs, fz.net->bufs.n_buffers);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    load_frames(&fz.dev, data, size);
    /* One frame per poll, time moving on, so reassembly and ARP see real sequences. */
    while (fz.dev.next < fz.dev.n) {
        uint32_t before = fz.dev.next;
        hs_clock_advance(&fz.clock, FUZZ_STEP_NS);
        hs_session_stack_poll(fz.net, fz.sm, 0, hs_clock_now(&fz.clock));
        if (fz.dev.next == before)
            break; /* no buffers: housekeeping will free some by the next input */
    }
    fz.dev.n = fz.dev.next = 0; /* the frames point into data, which is the caller's */
    if (++fz.inputs % FUZZ_SETTLE_EVERY == 0)
        settle_and_check_leaks();
    return 0;
}
