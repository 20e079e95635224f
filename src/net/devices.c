/* Driver glue shared by every device: the input nodes (tap-input, af-packet-input,
 * wire-input), software completion of partial checksums, and chain-to-iovec. The device
 * classes live in dev_tap.c, dev_af_packet.c and dev_wire.c. */
#include "net/devices.h"
#include "net/checksum.h"
#include "net/ethernet.h"

#include <string.h>

#define IP_PROTO_TCP 6
#define IP_PROTO_UDP 17

static uint32_t tap_input_fn(hs_graph_rt_t *rt, hs_node_rt_t *node, const uint32_t *bis, uint32_t n)
{
    (void)bis;
    (void)n;
    return hs_device_input(rt, node, &hs_tap_device_class);
}

static uint32_t af_packet_input_fn(hs_graph_rt_t *rt, hs_node_rt_t *node, const uint32_t *bis,
                                   uint32_t n)
{
    (void)bis;
    (void)n;
    return hs_device_input(rt, node, &hs_af_packet_device_class);
}

static uint32_t wire_input_fn(hs_graph_rt_t *rt, hs_node_rt_t *node, const uint32_t *bis,
                              uint32_t n)
{
    (void)bis;
    (void)n;
    return hs_device_input(rt, node, &hs_wire_device_class);
}

static const char *const input_next[] = {"ethernet-input"};

static const hs_node_reg_t input_nodes[] = {
    {.name = "tap-input",
     .fn = tap_input_fn,
     .type = HS_NODE_INPUT,
     .n_next = 1,
     .next_nodes = input_next,
     .format_trace = hs_device_format_trace},
    {.name = "af-packet-input",
     .fn = af_packet_input_fn,
     .type = HS_NODE_INPUT,
     .n_next = 1,
     .next_nodes = input_next,
     .format_trace = hs_device_format_trace},
    {.name = "wire-input",
     .fn = wire_input_fn,
     .type = HS_NODE_INPUT,
     .n_next = 1,
     .next_nodes = input_next,
     .format_trace = hs_device_format_trace},
};

int hs_devices_init(hs_net_t *net)
{
    for (size_t i = 0; i < HS_ARRAY_LEN(input_nodes); i++) {
        int rv = hs_graph_add_node(&net->graph, &input_nodes[i]);
        if (rv < 0)
            return rv;
    }
    return 0;
}

/* Sums [csum_start, end) of the packet into the field at csum_start + csum_offset. */
static bool csum_complete_to(const hs_buf_pool_t *p, hs_buf_t *b, uint32_t csum_start,
                             uint32_t csum_offset, uint32_t len)
{
    uint32_t at = csum_start + csum_offset;
    /* The field sits in the headers, so in the first buffer of any sane frame. */
    if (csum_start >= len || at + 2 > len || at + 2 > b->current_length)
        return false;
    uint8_t *field = hs_buf_cur(b) + at;
    uint16_t c = hs_csum_finish(hs_csum_chain(p, b, csum_start, len - csum_start, 0));
    /* RFC 768: a UDP checksum computing to zero is sent as all ones (zero means none).
     * UDP is the one protocol whose field sits 6 bytes in. */
    if (c == 0 && csum_offset == 6)
        c = 0xffff;
    memcpy(field, &c, 2);
    b->flags |= HS_BUF_F_L4_CSUM_OK;
    return true;
}

bool hs_dev_csum_complete(const hs_buf_pool_t *p, hs_buf_t *b, uint32_t csum_start,
                          uint32_t csum_offset)
{
    /* virtio: the checksum covers everything from csum_start to the end of the frame. */
    return csum_complete_to(p, b, csum_start, csum_offset, hs_buf_length(b));
}

bool hs_dev_csum_complete_ip4(const hs_buf_pool_t *p, hs_buf_t *b)
{
    const uint8_t *f = hs_buf_cur(b);
    if (b->current_length < HS_ETH_HDR_LEN + 20 || f[12] != 0x08 || f[13] != 0x00)
        return false;
    const uint8_t *ip = f + HS_ETH_HDR_LEN;
    uint32_t ihl = (ip[0] & 0x0fu) * 4, total = (uint32_t)(ip[2] << 8 | ip[3]);
    uint32_t end = HS_ETH_HDR_LEN + total;
    /* The datagram's own length bounds the sum (never link padding); a fragment does not
     * carry a whole transport segment, so it cannot be completed here. */
    if ((ip[0] >> 4) != 4 || ihl < 20 || total < ihl || end > hs_buf_length(b) ||
        ((ip[6] & 0x3f) | ip[7]) != 0)
        return false;
    uint32_t start = HS_ETH_HDR_LEN + ihl;
    if (ip[9] == IP_PROTO_TCP)
        return csum_complete_to(p, b, start, 16, end);
    if (ip[9] == IP_PROTO_UDP)
        return csum_complete_to(p, b, start, 6, end);
    return false;
}

int hs_dev_chain_iov(const hs_buf_pool_t *p, hs_buf_t *b, struct iovec *iov, int max)
{
    int n = 0;
    for (;;) {
        if (n == max)
            return -EMSGSIZE;
        iov[n++] = (struct iovec){.iov_base = hs_buf_cur(b), .iov_len = b->current_length};
        if (!(b->flags & HS_BUF_F_NEXT))
            return n;
        b = hs_buf_ptr(p, b->next);
    }
}
