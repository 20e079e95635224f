/* Kernel interface configuration through the classic SIOC* ioctls on a throwaway socket:
 * enough for IPv4 and link settings, and no netlink dependency. */
#include "drivers/kernel_if.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* Runs one ioctl on a fresh socket with ifr filled by the caller (name set here). */
static int kif_ioctl(const char *name, unsigned long req, struct ifreq *ifr)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n >= IFNAMSIZ)
        return -EINVAL;
    memcpy(ifr->ifr_name, name, n + 1);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rv = ioctl(fd, req, ifr) < 0 ? -errno : 0;
    close(fd);
    return rv;
}

int hs_kif_index(const char *name)
{
    struct ifreq ifr = {0};
    int rv = kif_ioctl(name, SIOCGIFINDEX, &ifr);
    return rv < 0 ? rv : ifr.ifr_ifindex;
}

int hs_kif_get_mac(const char *name, uint8_t mac[6])
{
    struct ifreq ifr = {0};
    int rv = kif_ioctl(name, SIOCGIFHWADDR, &ifr);
    if (rv == 0)
        memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    return rv;
}

int hs_kif_set_mac(const char *name, const uint8_t mac[6])
{
    struct ifreq ifr = {0};
    ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
    return kif_ioctl(name, SIOCSIFHWADDR, &ifr);
}

int hs_kif_get_mtu(const char *name, uint32_t *mtu)
{
    struct ifreq ifr = {0};
    int rv = kif_ioctl(name, SIOCGIFMTU, &ifr);
    if (rv == 0)
        *mtu = (uint32_t)ifr.ifr_mtu;
    return rv;
}

int hs_kif_set_mtu(const char *name, uint32_t mtu)
{
    struct ifreq ifr = {0};
    ifr.ifr_mtu = (int)mtu;
    return kif_ioctl(name, SIOCSIFMTU, &ifr);
}

int hs_kif_is_up(const char *name, bool *up)
{
    struct ifreq ifr = {0};
    int rv = kif_ioctl(name, SIOCGIFFLAGS, &ifr);
    if (rv == 0)
        *up = (ifr.ifr_flags & IFF_UP) != 0;
    return rv;
}

int hs_kif_set_up(const char *name, bool up)
{
    struct ifreq ifr = {0};
    int rv = kif_ioctl(name, SIOCGIFFLAGS, &ifr);
    if (rv < 0)
        return rv;
    short flags = up ? (short)(ifr.ifr_flags | IFF_UP) : (short)(ifr.ifr_flags & ~IFF_UP);
    if (flags == ifr.ifr_flags)
        return 0;
    ifr.ifr_flags = flags;
    return kif_ioctl(name, SIOCSIFFLAGS, &ifr);
}

static void set_sin(struct sockaddr *sa, uint32_t host_order)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(host_order)};
    memcpy(sa, &sin, sizeof(sin));
}

static uint32_t get_sin(const struct sockaddr *sa)
{
    struct sockaddr_in sin;
    memcpy(&sin, sa, sizeof(sin));
    return ntohl(sin.sin_addr.s_addr);
}

int hs_kif_set_ip4(const char *name, uint32_t addr, uint8_t len)
{
    if (len > 32)
        return -EINVAL;
    uint32_t mask = len ? ~0u << (32 - len) : 0;
    struct ifreq ifr = {0};
    set_sin(&ifr.ifr_addr, addr);
    int rv = kif_ioctl(name, SIOCSIFADDR, &ifr);
    if (rv < 0)
        return rv;
    /* SIOCSIFADDR set a classful mask; replace it, then the broadcast to match. */
    memset(&ifr, 0, sizeof(ifr));
    set_sin(&ifr.ifr_netmask, mask);
    if ((rv = kif_ioctl(name, SIOCSIFNETMASK, &ifr)) < 0)
        return rv;
    if (len >= 31)
        return 0; /* point-to-point sized prefixes have no broadcast address */
    memset(&ifr, 0, sizeof(ifr));
    set_sin(&ifr.ifr_broadaddr, (addr & mask) | ~mask);
    return kif_ioctl(name, SIOCSIFBRDADDR, &ifr);
}

int hs_kif_get_ip4(const char *name, uint32_t *addr, uint8_t *len)
{
    struct ifreq ifr = {0};
    ifr.ifr_addr.sa_family = AF_INET;
    int rv = kif_ioctl(name, SIOCGIFADDR, &ifr);
    if (rv < 0)
        return rv;
    *addr = get_sin(&ifr.ifr_addr);
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_addr.sa_family = AF_INET;
    if ((rv = kif_ioctl(name, SIOCGIFNETMASK, &ifr)) < 0)
        return rv;
    *len = (uint8_t)__builtin_popcount(get_sin(&ifr.ifr_netmask));
    return 0;
}
