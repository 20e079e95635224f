/* Driver glue: the device classes and input nodes of the tap, af_packet and wire drivers,
 * and the calls that create interfaces on them. The drivers themselves (src/drivers) only
 * move bytes; this glue moves them into and out of buffers. */
#ifndef HS_NET_DEVICES_H
#define HS_NET_DEVICES_H

#include "net/interface.h"

struct hs_wire;

/* Registers tap-input, af-packet-input and wire-input. */
int hs_devices_init(hs_net_t *net);

typedef struct {
    const char *name;    /* kernel interface name of the tap, e.g. "hs0" */
    uint32_t n_queues;   /* 1..HS_IF_MAX_QUEUES */
    uint32_t host_addr;  /* host order; 0: leave the kernel side unconfigured */
    uint8_t host_len;
    const uint8_t *mac;  /* stack-side MAC; NULL: a random locally administered one */
} hs_tap_if_config_t;

/* create tap: the interface is named like the tap. -errno with a sentence in err naming
 * the tap and the fix. */
int hs_tap_if_create(hs_net_t *net, const hs_tap_if_config_t *cfg, uint32_t *sw_if_index,
                     char *err, size_t err_len);

/* create host-interface name IFNAME: attaches to an existing kernel interface through
 * af_packet; the interface is named "host-IFNAME". */
int hs_af_packet_if_create(hs_net_t *net, const char *host_ifname, const uint8_t *mac,
                           uint32_t *sw_if_index, char *err, size_t err_len);

/* Attaches one end (0 or 1) of an in-process wire as interface name. */
int hs_wire_if_create(hs_net_t *net, struct hs_wire *wire, int end, const char *name,
                      const uint8_t *mac, uint32_t *sw_if_index);

#endif
