/* pcap capture: the classic libpcap file (global header, then one record per frame) written
 * through stdio under a mutex, since several workers may capture at once. */
#include "net/pcap.h"
#include "net/interface.h"
#include "infra/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PCAP_MAGIC    0xa1b2c3d4u /* microsecond timestamps, written in host byte order */
#define PCAP_SNAPLEN  65535u
#define PCAP_LINKTYPE 1u /* LINKTYPE_ETHERNET */

typedef struct {
    uint32_t magic;
    uint16_t version_major, version_minor;
    int32_t thiszone;
    uint32_t sigfigs;
    uint32_t snaplen;
    uint32_t linktype;
} pcap_file_hdr_t;

typedef struct {
    uint32_t ts_sec, ts_usec;
    uint32_t incl_len, orig_len;
} pcap_rec_hdr_t;

_Static_assert(sizeof(pcap_file_hdr_t) == 24 && sizeof(pcap_rec_hdr_t) == 16, "pcap layout");

struct hs_pcap_main {
    /* Read on every frame without the lock: set under the control-plane barrier, cleared
     * under lock by the worker that writes the last packet or meets a write error. */
    atomic_bool active;
    hs_pcap_config_t cfg; /* immutable while active */
    pthread_mutex_t lock; /* serialises the writers and guards everything below */
    FILE *f;
    uint32_t written;
    int error; /* errno of the write that failed; the capture stopped there */
};

static void pcap_close(struct hs_pcap_main *pm)
{
    if (pm->f && fclose(pm->f) != 0 && pm->error == 0)
        pm->error = errno;
    pm->f = NULL;
    atomic_store_explicit(&pm->active, false, memory_order_relaxed);
}

static int check_config(hs_net_t *net, const hs_pcap_config_t *cfg, char *err, size_t err_len)
{
    if (!cfg->rx && !cfg->tx) {
        snprintf(err, err_len, "pcap: nothing to capture (give rx, tx or both)");
        return -EINVAL;
    }
    size_t n = strnlen(cfg->path, sizeof(cfg->path));
    if (n == 0 || n == sizeof(cfg->path)) {
        snprintf(err, err_len, "pcap: give a file path of 1 to %zu characters",
                 sizeof(cfg->path) - 1);
        return -EINVAL;
    }
    if (cfg->sw_if_index != UINT32_MAX && !hs_pool_is_used(&net->interfaces, cfg->sw_if_index)) {
        snprintf(err, err_len, "pcap: no interface with index %u", cfg->sw_if_index);
        return -ENOENT;
    }
    return 0;
}

static int open_file(struct hs_pcap_main *pm, char *err, size_t err_len)
{
    const pcap_file_hdr_t h = {.magic = PCAP_MAGIC,
                               .version_major = 2,
                               .version_minor = 4,
                               .snaplen = PCAP_SNAPLEN,
                               .linktype = PCAP_LINKTYPE};
    pm->f = fopen(pm->cfg.path, "wb");
    if (!pm->f) {
        int e = errno;
        snprintf(err, err_len, "pcap: cannot open %s: %s", pm->cfg.path, strerror(e));
        return -e;
    }
    /* The header goes out at once so even an empty capture is a valid file. */
    if (fwrite(&h, sizeof(h), 1, pm->f) != 1 || fflush(pm->f) != 0) {
        int e = errno ? errno : EIO;
        snprintf(err, err_len, "pcap: cannot write %s: %s", pm->cfg.path, strerror(e));
        fclose(pm->f);
        pm->f = NULL;
        return -e;
    }
    return 0;
}

int hs_pcap_start(hs_net_t *net, const hs_pcap_config_t *cfg, char *err, size_t err_len)
{
    int rv = check_config(net, cfg, err, err_len);
    if (rv < 0)
        return rv;
    struct hs_pcap_main *pm = net->pcap;
    if (!pm) {
        pm = calloc(1, sizeof(*pm));
        if (!pm) {
            snprintf(err, err_len, "pcap: out of memory");
            return -ENOMEM;
        }
        pthread_mutex_init(&pm->lock, NULL);
        net->pcap = pm;
    }
    pthread_mutex_lock(&pm->lock);
    pcap_close(pm);
    pm->cfg = *cfg;
    pm->written = 0;
    pm->error = 0;
    rv = open_file(pm, err, err_len);
    if (rv == 0)
        atomic_store_explicit(&pm->active, true, memory_order_relaxed);
    pthread_mutex_unlock(&pm->lock);
    return rv;
}

int hs_pcap_stop(hs_net_t *net, uint32_t *written)
{
    struct hs_pcap_main *pm = net->pcap;
    if (written)
        *written = 0;
    if (!pm)
        return -ENOENT;
    pthread_mutex_lock(&pm->lock);
    pcap_close(pm);
    pthread_mutex_unlock(&pm->lock);
    if (written)
        *written = pm->written;
    int rv = pm->error ? -pm->error : 0;
    pthread_mutex_destroy(&pm->lock);
    free(pm);
    net->pcap = NULL;
    return rv;
}

/* Called with the lock held. */
static int write_record(struct hs_pcap_main *pm, const hs_buf_pool_t *pool, hs_buf_t *b)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts); /* the file is for humans: wall-clock time */
    uint32_t len = hs_buf_length(b);
    pcap_rec_hdr_t r = {.ts_sec = (uint32_t)ts.tv_sec,
                        .ts_usec = (uint32_t)(ts.tv_nsec / 1000),
                        .incl_len = HS_MIN(len, PCAP_SNAPLEN),
                        .orig_len = len};
    if (fwrite(&r, sizeof(r), 1, pm->f) != 1)
        return errno ? errno : EIO;
    for (uint32_t left = r.incl_len;;) {
        uint32_t n = HS_MIN((uint32_t)b->current_length, left);
        if (n && fwrite(hs_buf_cur(b), n, 1, pm->f) != 1)
            return errno ? errno : EIO;
        left -= n;
        if (left == 0 || !(b->flags & HS_BUF_F_NEXT))
            return 0;
        b = hs_buf_ptr(pool, b->next);
    }
}

void hs_pcap_capture(hs_net_t *net, hs_net_worker_t *wk, uint32_t sw_if_index, int dir, hs_buf_t *b)
{
    struct hs_pcap_main *pm = net->pcap;
    if (hs_likely(!pm || !atomic_load_explicit(&pm->active, memory_order_relaxed)))
        return;
    if (!(dir == HS_RX ? pm->cfg.rx : pm->cfg.tx))
        return;
    if (pm->cfg.sw_if_index != UINT32_MAX && pm->cfg.sw_if_index != sw_if_index)
        return;
    (void)wk;
    pthread_mutex_lock(&pm->lock);
    if (pm->f) { /* another worker may have written the last one meanwhile */
        int e = write_record(pm, &net->bufs, b);
        if (e) {
            pm->error = e;
            HS_LOG_WARN("pcap", "capture to %s stopped: %s", pm->cfg.path, strerror(e));
            pcap_close(pm);
        } else if (++pm->written == pm->cfg.max_packets) {
            pcap_close(pm);
        }
    }
    pthread_mutex_unlock(&pm->lock);
}

void hs_pcap_format(hs_net_t *net, hs_str_t *out)
{
    struct hs_pcap_main *pm = net->pcap;
    if (!pm) {
        hs_str_printf(out, "pcap capture: off\n");
        return;
    }
    pthread_mutex_lock(&pm->lock);
    char where[HS_IF_NAME_MAX + 32] = "every interface";
    if (pm->cfg.sw_if_index != UINT32_MAX) {
        hs_interface_t *ifc = hs_pool_elt_checked(&net->interfaces, pm->cfg.sw_if_index);
        snprintf(where, sizeof(where), "%s", ifc ? ifc->name : "a deleted interface");
    }
    const char *dir = pm->cfg.rx && pm->cfg.tx ? "rx and tx" : pm->cfg.rx ? "rx" : "tx";
    if (pm->f)
        hs_str_printf(out, "pcap capture: %s on %s to %s, %u packets written", dir, where,
                      pm->cfg.path, pm->written);
    else if (pm->error)
        hs_str_printf(out,
                      "pcap capture: stopped by an error writing %s (%s), %u packets "
                      "written",
                      pm->cfg.path, strerror(pm->error), pm->written);
    else
        hs_str_printf(out, "pcap capture: finished, %u packets written to %s", pm->written,
                      pm->cfg.path);
    if (pm->f && pm->cfg.max_packets)
        hs_str_printf(out, " (stops at %u)", pm->cfg.max_packets);
    hs_str_printf(out, "\n");
    pthread_mutex_unlock(&pm->lock);
}
