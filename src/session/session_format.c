/* show session [verbose]: every session of every worker with its addresses, state and
 * FIFO fill levels; verbose adds the app, the counters and the transport's own block. */
#include "session/app.h"
#include "session/session.h"

#include <stdio.h>

static const char *fmt_ip4(uint32_t a, char *buf, size_t len)
{
    snprintf(buf, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
    return buf;
}

static const char *proto_name(uint8_t proto)
{
    return proto == HS_PROTO_TCP ? "tcp" : proto == HS_PROTO_UDP ? "udp" : "?";
}

/* "lcl -> rmt" from the transport, or the listened address. */
static void format_addrs(hs_session_worker_t *sw, const hs_session_t *s, hs_str_t *out)
{
    const hs_transport_vft_t *tp = hs_session_vft(sw->sm, s->proto);
    char a[16], b[16];
    if (s->state == HS_SESSION_LISTENING) {
        hs_str_printf(out, "%s:%u -> *", fmt_ip4(s->lcl.ip, a, sizeof(a)), s->lcl.port);
        return;
    }
    bool tp_has = tp && !(s->flags & HS_SESSION_F_TP_CLOSED) && s->conn_index != UINT32_MAX;
    hs_transport_conn_t *tc = tp_has ? tp->get(sw, s->conn_index) : NULL;
    if (tc)
        hs_str_printf(out, "%s:%u -> %s:%u", fmt_ip4(tc->lcl_ip, a, sizeof(a)), tc->lcl_port,
                      fmt_ip4(tc->rmt_ip, b, sizeof(b)), tc->rmt_port);
    else
        hs_str_printf(out, "-");
}

static void format_fifo(hs_fifo_t *f, hs_str_t *out)
{
    int used = hs_fifo_max_dequeue(f);
    hs_str_printf(out, " %u/%u", used < 0 ? 0 : (uint32_t)used, hs_fifo_size(f));
}

static void format_session(hs_session_worker_t *sw, hs_session_t *s, bool verbose, hs_str_t *out)
{
    hs_str_printf(out, "  %#018lx %-17s %-3s ", (unsigned long)hs_session_handle(sw, s),
                  hs_session_state_name(s->state), proto_name(s->proto));
    format_addrs(sw, s, out);
    if (s->flags & HS_SESSION_F_FIFOS) {
        hs_str_printf(out, "  rx");
        format_fifo(&s->rx, out);
        hs_str_printf(out, " tx");
        format_fifo(&s->tx, out);
    }
    hs_str_printf(out, "\n");
    if (!verbose)
        return;
    hs_app_t *app = hs_app_get(sw->sm, s->app_index);
    hs_str_printf(out,
                  "    app %s, flags %#x, app read %lu bytes, wrote %lu, rx events %u, "
                  "tx events %u\n",
                  app ? app->name : "-", s->flags, (unsigned long)s->app_rx_bytes,
                  (unsigned long)s->app_tx_bytes, s->n_rx_evts, s->n_tx_evts);
    const hs_transport_vft_t *tp = hs_session_vft(sw->sm, s->proto);
    bool tp_has = tp && tp->format && s->state != HS_SESSION_LISTENING &&
                  !(s->flags & HS_SESSION_F_TP_CLOSED) && s->conn_index != UINT32_MAX;
    if (tp_has && tp->get(sw, s->conn_index))
        tp->format(sw, s->conn_index, true, out);
}

static void format_worker_counters(hs_session_worker_t *sw, hs_str_t *out)
{
    const hs_session_worker_counters_t *c = &sw->ctr;
    hs_str_printf(out,
                  "  accepted %lu (failed %lu), connected %lu (failed %lu), freed %lu, "
                  "stale events %lu, events lost %lu\n",
                  (unsigned long)c->accepted, (unsigned long)c->accept_failed,
                  (unsigned long)c->connected, (unsigned long)c->connect_failed,
                  (unsigned long)c->freed, (unsigned long)c->stale_evts,
                  (unsigned long)c->evt_alloc_failed);
}

void hs_session_format(hs_session_main_t *sm, bool verbose, hs_str_t *out)
{
    for (uint32_t w = 0; w < sm->n_workers; w++) {
        hs_session_worker_t *sw = hs_session_worker(sm, w);
        uint32_t n = hs_pool_count(&sw->sessions);
        hs_str_printf(out, "worker %u: %u session%s\n", w, n, n == 1 ? "" : "s");
        if (verbose)
            format_worker_counters(sw, out);
        if (n)
            hs_str_printf(out, "  %-18s %-17s %-3s %s\n", "handle", "state", "",
                          "local -> remote, fifo bytes used/size");
        hs_pool_foreach(&sw->sessions, i)
            format_session(sw, hs_pool_elt(&sw->sessions, i), verbose, out);
    }
    if (!verbose)
        return;
    hs_pool_foreach(&sm->apps, i)
    {
        hs_app_t *app = hs_pool_elt(&sm->apps, i);
        hs_str_printf(out, "app %s: %u session%s; segments ", app->name,
                      atomic_load(&app->n_sessions), atomic_load(&app->n_sessions) == 1 ? "" : "s");
        hs_segment_manager_format(&app->segs, out);
    }
}
