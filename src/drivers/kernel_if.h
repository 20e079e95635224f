/* Configuring a kernel network interface by name (the host side of a tap, the veth an
 * af_packet interface attaches to) through ioctls: index, MAC, MTU, up/down, IPv4 address.
 * Control path only; every call returns 0 (or a value) or -errno. */
#ifndef HS_DRIVERS_KERNEL_IF_H
#define HS_DRIVERS_KERNEL_IF_H

#include "infra/common.h"

/* ifindex (> 0) or -ENODEV / -EINVAL (name too long or empty). */
int hs_kif_index(const char *name);
int hs_kif_get_mac(const char *name, uint8_t mac[6]);
int hs_kif_set_mac(const char *name, const uint8_t mac[6]);
int hs_kif_get_mtu(const char *name, uint32_t *mtu);
int hs_kif_set_mtu(const char *name, uint32_t mtu);
/* Administrative state (IFF_UP). */
int hs_kif_set_up(const char *name, bool up);
int hs_kif_is_up(const char *name, bool *up);
/* Sets the primary IPv4 address (host byte order) with its prefix length and the matching
 * broadcast address. -EINVAL for len > 32. */
int hs_kif_set_ip4(const char *name, uint32_t addr, uint8_t len);
/* The primary IPv4 address and prefix length; -EADDRNOTAVAIL when there is none. */
int hs_kif_get_ip4(const char *name, uint32_t *addr, uint8_t *len);

#endif
