/* pcap capture of frames received and/or sent on an interface (or all), in the classic
 * libpcap file format that tcpdump reads. */
#ifndef HS_NET_PCAP_H
#define HS_NET_PCAP_H

#include "net/net.h"

typedef struct {
    bool rx, tx;
    uint32_t max_packets; /* the file is closed after this many; 0: no limit */
    uint32_t sw_if_index; /* UINT32_MAX: every interface */
    char path[256];
} hs_pcap_config_t;

/* Starts a capture (replacing any running one: that one is closed first). 0 or -errno,
 * with a sentence in err. */
int hs_pcap_start(hs_net_t *net, const hs_pcap_config_t *cfg, char *err, size_t err_len);
/* Stops and closes the file (a capture that reached max_packets is already closed) and
 * frees the capture state; the number of packets written goes to *written. 0, -ENOENT when
 * no capture was started, or -errno of a write that failed (the capture stopped there). */
int hs_pcap_stop(hs_net_t *net, uint32_t *written);
void hs_pcap_format(hs_net_t *net, hs_str_t *out);

/* Data path: called by device input and interface-output for every frame. Cheap when no
 * capture is running. */
void hs_pcap_capture(hs_net_t *net, hs_net_worker_t *wk, uint32_t sw_if_index, int dir,
                     hs_buf_t *b);

#endif
