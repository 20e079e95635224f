/* Ethernet II: the header as on the wire, its parse-at-the-door view, MAC address helpers,
 * and the two nodes of this layer (ethernet-input, interface-output). */
#ifndef HS_NET_ETHERNET_H
#define HS_NET_ETHERNET_H

#include "net/net.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define HS_ETH_ADDR_LEN 6
#define HS_ETH_HDR_LEN  14
#define HS_ETH_MIN_LEN  60 /* shortest frame without the FCS; shorter ones are padded */
#define HS_MAC_STR_LEN  18 /* "02:fe:00:00:00:01" and its NUL */

/* Ethertypes, host byte order. */
#define HS_ETHERTYPE_IP4  0x0800
#define HS_ETHERTYPE_ARP  0x0806
#define HS_ETHERTYPE_VLAN 0x8100
#define HS_ETHERTYPE_QINQ 0x88a8
#define HS_ETHERTYPE_IP6  0x86dd

/* The header as on the wire: type in network byte order. */
typedef struct {
    uint8_t dst[HS_ETH_ADDR_LEN];
    uint8_t src[HS_ETH_ADDR_LEN];
    uint16_t type;
} HS_PACKED hs_eth_hdr_t;

_Static_assert(sizeof(hs_eth_hdr_t) == HS_ETH_HDR_LEN, "ethernet header is 14 bytes");

/* The parsed header: type in host byte order. */
typedef struct {
    uint8_t dst[HS_ETH_ADDR_LEN];
    uint8_t src[HS_ETH_ADDR_LEN];
    uint16_t type;
} hs_eth_parsed_t;

static const uint8_t hs_mac_broadcast[HS_ETH_ADDR_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* Parses the first len bytes of a frame. 0, or -EINVAL when len is shorter than a header. */
static inline int hs_eth_parse(const uint8_t *p, uint32_t len, hs_eth_parsed_t *out)
{
    if (len < HS_ETH_HDR_LEN)
        return -EINVAL;
    memcpy(out->dst, p, HS_ETH_ADDR_LEN);
    memcpy(out->src, p + 6, HS_ETH_ADDR_LEN);
    out->type = (uint16_t)(p[12] << 8 | p[13]);
    return 0;
}

/* Writes a header at p (14 bytes). */
static inline void hs_eth_write(uint8_t *p, const uint8_t dst[6], const uint8_t src[6],
                                uint16_t type)
{
    memcpy(p, dst, HS_ETH_ADDR_LEN);
    memcpy(p + 6, src, HS_ETH_ADDR_LEN);
    p[12] = (uint8_t)(type >> 8);
    p[13] = (uint8_t)type;
}

/* Prepends a header to b (whose current position is the L3 header). 0, or -ENOSPC when the
 * headroom is too small. */
static inline int hs_eth_push(hs_buf_t *b, const uint8_t dst[6], const uint8_t src[6],
                              uint16_t type)
{
    if (hs_buf_headroom(b) < HS_ETH_HDR_LEN)
        return -ENOSPC;
    hs_buf_advance(b, -HS_ETH_HDR_LEN);
    hs_eth_write(hs_buf_cur(b), dst, src, type);
    return 0;
}

static inline bool hs_mac_is_broadcast(const uint8_t mac[6])
{
    return memcmp(mac, hs_mac_broadcast, HS_ETH_ADDR_LEN) == 0;
}

/* The I/G bit; true for broadcast too. */
static inline bool hs_mac_is_multicast(const uint8_t mac[6])
{
    return (mac[0] & 0x01) != 0;
}

static inline bool hs_mac_is_zero(const uint8_t mac[6])
{
    static const uint8_t zero[HS_ETH_ADDR_LEN];
    return memcmp(mac, zero, HS_ETH_ADDR_LEN) == 0;
}

/* A MAC an interface may own: not zero, not multicast/broadcast. */
static inline bool hs_mac_is_valid_unicast(const uint8_t mac[6])
{
    return !hs_mac_is_zero(mac) && !hs_mac_is_multicast(mac);
}

static inline bool hs_mac_equal(const uint8_t a[6], const uint8_t b[6])
{
    return memcmp(a, b, HS_ETH_ADDR_LEN) == 0;
}

/* "02:fe:00:00:00:01" into buf (HS_MAC_STR_LEN bytes); returns buf for printf. */
static inline char *hs_mac_format(char buf[HS_MAC_STR_LEN], const uint8_t mac[6])
{
    snprintf(buf, HS_MAC_STR_LEN, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
             mac[4], mac[5]);
    return buf;
}

static inline int hs_mac__hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parses exactly "xx:xx:xx:xx:xx:xx" (hex, either case; '-' also accepted as separator).
 * 0, or -EINVAL (mac untouched). */
static inline int hs_mac_parse(const char *s, uint8_t mac[6])
{
    uint8_t out[HS_ETH_ADDR_LEN];
    for (int i = 0; i < HS_ETH_ADDR_LEN; i++, s += 3) {
        int hi = hs_mac__hex(s[0]), lo = hi < 0 ? -1 : hs_mac__hex(s[1]);
        if (lo < 0)
            return -EINVAL;
        char sep = s[2];
        if (i < HS_ETH_ADDR_LEN - 1 ? (sep != ':' && sep != '-') : sep != '\0')
            return -EINVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(mac, out, HS_ETH_ADDR_LEN);
    return 0;
}

/* A locally administered unicast MAC 02:fe:xx:xx:xx:xx, the last four bytes from seed. */
static inline void hs_mac_from_seed(uint8_t mac[6], uint32_t seed)
{
    mac[0] = 0x02;
    mac[1] = 0xfe;
    mac[2] = (uint8_t)(seed >> 24);
    mac[3] = (uint8_t)(seed >> 16);
    mac[4] = (uint8_t)(seed >> 8);
    mac[5] = (uint8_t)seed;
}

/* The same with four random bytes (getrandom; the clock when that fails). */
static inline void hs_mac_random_local(uint8_t mac[6])
{
    uint32_t r;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        r = (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec * 2654435761u;
    }
    hs_mac_from_seed(mac, r);
}

/* Registers ethernet-input and interface-output.
 *
 * ethernet-input accepts frames to the interface's MAC and broadcast (multicast is counted
 * and dropped: nothing listens yet), sets b->l3_offset, strips the header and hands IPv4
 * to ip4-input and ARP to arp-input; every other frame is dropped with a counted reason.
 *
 * interface-output sends frames whose current position is the Ethernet header on
 * sw_if_index[HS_TX]: counts them, captures pcap, batches them per interface into
 * dev_class->tx, and counts what the driver could not take as tx drops. */
int hs_ethernet_init(hs_net_t *net);

#endif
