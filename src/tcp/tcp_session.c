/* The transport operations the session layer drives (listen, connect, close, reset, app
 * tx/rx, poll) and TCP's hs_transport_vft_t. They change state and schedule output; the
 * segments go out at the next flush (end of the tcp4-input vector, or poll). */
#include "tcp/tcp_internal.h"

#include "infra/siphash.h"
#include "net/fib.h"
#include "net/ip4.h"
#include "net/ip4_packet.h"

#define EPHEMERAL_LO 49152u /* RFC 6335 dynamic ports: 49152..65535 */
#define EPHEMERAL_N  (65536u - EPHEMERAL_LO)

int hs_tcp_listen(hs_tcp_worker_t *tw, uint32_t session_index, const hs_endpoint_t *lcl)
{
    uint32_t li;
    hs_tcp_listener_t *l = hs_pool_get(&tw->listeners, &li);
    if (!l)
        return -ENOMEM;
    l->c = (hs_transport_conn_t){.fib_index = lcl->fib_index,
                                 .lcl_ip = lcl->ip,
                                 .lcl_port = lcl->port,
                                 .proto = HS_PROTO_TCP,
                                 .worker = (uint8_t)tw->index,
                                 .conn_index = li,
                                 .session_index = session_index};
    return (int)li;
}

void hs_tcp_unlisten(hs_tcp_worker_t *tw, uint32_t listener_index)
{
    /* Connections still in SYN-RECEIVED find their listener gone when the handshake
     * completes and are reset then (pool handles carry a generation). */
    hs_pool_put(&tw->listeners, listener_index);
}

/* RFC 6056 3.3.3 (algorithm 3, simple hash-based): a keyed hash of the destination picks
 * where to start in 49152..65535, a per-worker counter moves it on for each connect, and
 * ports are probed linearly until the 5-tuple is free. With several workers only ports
 * whose flow this worker owns qualify (1 in n), so every reply is handed here. */
static int pick_port(hs_tcp_worker_t *tw, const hs_transport_conn_t *c)
{
    const hs_net_t *net = tw->nw->net;
    uint64_t w[2] = {(uint64_t)c->lcl_ip << 32 | c->rmt_ip,
                     2ull << 62 | (uint64_t)c->fib_index << 16 | c->rmt_port};
    uint32_t off = (uint32_t)hs_siphash24_u64s(tw->cfg.secret, w, 2);
    for (uint32_t i = 0; i < EPHEMERAL_N; i++) {
        uint16_t port = (uint16_t)(EPHEMERAL_LO + (off + tw->ephemeral_next + i) % EPHEMERAL_N);
        if (hs_net_flow_worker(net, HS_IP_PROTO_TCP, c->lcl_ip, port, c->rmt_ip, c->rmt_port) !=
            tw->nw->index)
            continue; /* its segments would go to another worker (net/handoff.h) */
        if (hs_session_lookup_conn4(tw->sw, HS_PROTO_TCP, c->fib_index, c->lcl_ip, port, c->rmt_ip,
                                    c->rmt_port) < 0) {
            tw->ephemeral_next += i + 1;
            return port;
        }
    }
    return -EADDRNOTAVAIL;
}

/* Our address toward rmt: the egress interface's (or rmt itself when it is ours). */
static int source_for(hs_tcp_worker_t *tw, uint32_t fib_index, uint32_t rmt, uint32_t *src)
{
    hs_net_t *net = tw->nw->net;
    const hs_fib_route_t *r = hs_fib_lookup(net, fib_index, rmt);
    if (!r || r->type == HS_FIB_DROP || r->type == HS_FIB_BROADCAST)
        return -ENETUNREACH;
    if (r->type == HS_FIB_LOCAL) {
        *src = rmt;
        return 0;
    }
    uint32_t sw = r->sw_if_index;
    if (r->type == HS_FIB_VIA && sw == UINT32_MAX) {
        const hs_fib_route_t *nh = hs_fib_lookup(net, fib_index, r->next_hop);
        sw = nh ? nh->sw_if_index : UINT32_MAX;
    }
    return hs_ip4_interface_source(net, sw, rmt, src) ? 0 : -ENETUNREACH;
}

int hs_tcp_connect(hs_tcp_worker_t *tw, uint32_t session_index, const hs_endpoint_t *rmt)
{
    hs_tcp_conn_t *tc = hs_tcp_conn_alloc(tw);
    if (!tc)
        return -ENOMEM;
    tc->c.fib_index = rmt->fib_index;
    tc->c.rmt_ip = rmt->ip;
    tc->c.rmt_port = rmt->port;
    tc->c.session_index = session_index;
    int rv = source_for(tw, rmt->fib_index, rmt->ip, &tc->c.lcl_ip);
    if (rv == 0 && (rv = pick_port(tw, &tc->c)) >= 0) {
        tc->c.lcl_port = (uint16_t)rv;
        rv = hs_tcp_conn_init_route(tw, tc, tw->now_ns);
    }
    if (rv == 0)
        rv = hs_session_table_add4(tw->sw, &tc->c);
    if (rv < 0) {
        hs_pool_put(&tw->conns, tc->c.conn_index);
        return rv;
    }
    tc->snd_una = tc->snd_nxt = tc->snd_max = tc->recover = tc->snd_sml = tc->iss;
    tc->flags |= HS_TCP_F_SEND_SYN;
    hs_tcp_set_state(tw, tc, HS_TCP_SYN_SENT);
    tcp_count(tw, HS_TCP_S_ACTIVE_OPENS, 1);
    tcp_schedule(tw, tc);
    return (int)tc->c.conn_index;
}

/* A live connection by index, or NULL (stale or already going). */
static hs_tcp_conn_t *live(hs_tcp_worker_t *tw, uint32_t conn_index)
{
    hs_tcp_conn_t *tc = hs_tcp_conn_get(tw, conn_index);
    return tc && !(tc->flags & HS_TCP_F_FREE) ? tc : NULL;
}

/* An active open the session was not yet told about (SYN-SENT, or SYN-RECEIVED after a
 * simultaneous open): the TCB goes and the session hears closed. */
static bool unconnected(const hs_tcp_conn_t *tc)
{
    return !(tc->flags & (HS_TCP_F_SESSION | HS_TCP_F_PASSIVE)) &&
           (tc->state == HS_TCP_SYN_SENT || tc->state == HS_TCP_SYN_RCVD);
}

static void drop_unconnected(hs_tcp_worker_t *tw, hs_tcp_conn_t *tc, bool rst)
{
    if (rst && tc->state == HS_TCP_SYN_RCVD)
        tc->flags |= HS_TCP_F_SEND_RST; /* the peer has our SYN-ACK */
    hs_tcp_timers_stop_all(tw, tc);
    hs_session_transport_closed(tw->sw, tc->c.session_index);
    hs_tcp_conn_done(tw, tc);
}

void hs_tcp_close(hs_tcp_worker_t *tw, uint32_t conn_index)
{
    hs_tcp_conn_t *tc = live(tw, conn_index);
    if (!tc)
        return;
    /* RFC 9293 3.10.4 CLOSE: SYN-SENT deletes the TCB (so does an unfinished simultaneous
     * open here, with a reset); ESTABLISHED goes to FIN-WAIT-1 and CLOSE-WAIT to LAST-ACK,
     * the FIN following the queued data. */
    if (unconnected(tc)) {
        drop_unconnected(tw, tc, true);
        return;
    }
    switch (tc->state) {
    case HS_TCP_ESTABLISHED:
        hs_tcp_set_state(tw, tc, HS_TCP_FIN_WAIT_1);
        break;
    case HS_TCP_CLOSE_WAIT:
        hs_tcp_set_state(tw, tc, HS_TCP_LAST_ACK);
        break;
    default: /* closing already */
        return;
    }
    tc->flags |= HS_TCP_F_FIN_PENDING;
    tcp_schedule(tw, tc);
}

void hs_tcp_reset(hs_tcp_worker_t *tw, uint32_t conn_index)
{
    hs_tcp_conn_t *tc = live(tw, conn_index);
    if (!tc)
        return;
    tcp_count(tw, HS_TCP_S_RESETS, 1);
    /* RFC 9293 3.10.5 ABORT: a reset unless still in SYN-SENT; the TCB goes. */
    if (unconnected(tc)) {
        drop_unconnected(tw, tc, true);
        return;
    }
    tc->flags |= HS_TCP_F_SEND_RST;
    hs_tcp_conn_done(tw, tc);
}

void hs_tcp_app_tx(hs_tcp_worker_t *tw, uint32_t conn_index)
{
    hs_tcp_conn_t *tc = live(tw, conn_index);
    if (tc)
        tcp_schedule(tw, tc);
}

void hs_tcp_app_rx(hs_tcp_worker_t *tw, uint32_t conn_index)
{
    hs_tcp_conn_t *tc = live(tw, conn_index);
    if (!tc || !(tc->flags & HS_TCP_F_SESSION) ||
        (tc->state != HS_TCP_ESTABLISHED && tc->state != HS_TCP_FIN_WAIT_1 &&
         tc->state != HS_TCP_FIN_WAIT_2))
        return;
    /* A window update when the offered window would grow by 2 MSS or half the buffer,
     * whichever is less (receiver SWS avoidance, RFC 9293 3.8.6.2.2). */
    uint32_t cur = hs_seq_gt(tc->rcv_adv, tc->rcv_nxt) ? tc->rcv_adv - tc->rcv_nxt : 0;
    uint32_t wnd = hs_tcp_rcv_wnd(tw, tc);
    uint32_t step = HS_MIN(2u * tc->rcv_smss, hs_fifo_size(tc->rx_fifo) / 2);
    if (wnd >= cur + step) {
        tc->flags |= HS_TCP_F_ACK_NOW;
        tcp_count(tw, HS_TCP_S_WINDOW_UPDATES, 1);
        tcp_schedule(tw, tc);
    }
}

int hs_tcp_set_nodelay(hs_tcp_worker_t *tw, uint32_t conn_index, bool on)
{
    hs_tcp_conn_t *tc = live(tw, conn_index);
    if (!tc)
        return -ENOENT;
    if (on) {
        tc->flags |= HS_TCP_F_NODELAY;
        tcp_schedule(tw, tc); /* data Nagle held may go now */
    } else {
        tc->flags &= ~(uint32_t)HS_TCP_F_NODELAY;
    }
    return 0;
}

int hs_tcp_set_keepalive(hs_tcp_worker_t *tw, uint32_t conn_index, bool on)
{
    hs_tcp_conn_t *tc = live(tw, conn_index);
    if (!tc)
        return -ENOENT;
    if (on) {
        tc->flags |= HS_TCP_F_KEEPALIVE;
        tc->ka_probes = 0;
        if (tc->state == HS_TCP_ESTABLISHED || tc->state == HS_TCP_CLOSE_WAIT)
            hs_tcp_timer_set(tw, tc, HS_TCP_T_KEEPALIVE, tc->keepalive_idle_ns);
    } else {
        tc->flags &= ~(uint32_t)HS_TCP_F_KEEPALIVE;
        hs_tcp_timer_stop(tw, tc, HS_TCP_T_KEEPALIVE);
    }
    return 0;
}

/* ---- the transport table: the session worker maps to TCP's ---- */

static int vft_listen(struct hs_session_worker *sw, uint32_t si, const hs_endpoint_t *lcl)
{
    return hs_tcp_listen(hs_session_tcp_worker(sw), si, lcl);
}
static void vft_unlisten(struct hs_session_worker *sw, uint32_t li)
{
    hs_tcp_unlisten(hs_session_tcp_worker(sw), li);
}
static int vft_connect(struct hs_session_worker *sw, uint32_t si, const hs_endpoint_t *rmt)
{
    return hs_tcp_connect(hs_session_tcp_worker(sw), si, rmt);
}
static void vft_close(struct hs_session_worker *sw, uint32_t ci)
{
    hs_tcp_close(hs_session_tcp_worker(sw), ci);
}
static void vft_reset(struct hs_session_worker *sw, uint32_t ci)
{
    hs_tcp_reset(hs_session_tcp_worker(sw), ci);
}
static void vft_app_tx(struct hs_session_worker *sw, uint32_t ci)
{
    hs_tcp_app_tx(hs_session_tcp_worker(sw), ci);
}
static void vft_app_rx(struct hs_session_worker *sw, uint32_t ci)
{
    hs_tcp_app_rx(hs_session_tcp_worker(sw), ci);
}
static hs_transport_conn_t *vft_get(struct hs_session_worker *sw, uint32_t ci)
{
    hs_tcp_conn_t *tc = hs_tcp_conn_get(hs_session_tcp_worker(sw), ci);
    return tc ? &tc->c : NULL;
}
static hs_transport_conn_t *vft_get_listener(struct hs_session_worker *sw, uint32_t li)
{
    hs_tcp_listener_t *l = hs_pool_elt_checked(&hs_session_tcp_worker(sw)->listeners, li);
    return l ? &l->c : NULL;
}
static void vft_poll(struct hs_session_worker *sw, uint64_t now_ns)
{
    hs_tcp_poll(hs_session_tcp_worker(sw), now_ns);
}
static uint64_t vft_next_timer_ns(struct hs_session_worker *sw)
{
    return hs_tcp_next_timer_ns(hs_session_tcp_worker(sw));
}
static void vft_format(struct hs_session_worker *sw, uint32_t ci, bool verbose, hs_str_t *out)
{
    hs_tcp_worker_t *tw = hs_session_tcp_worker(sw);
    hs_tcp_conn_t *tc = hs_tcp_conn_get(tw, ci);
    if (tc)
        hs_tcp_format_conn(tw, tc, verbose, out);
}

static const hs_transport_vft_t tcp_vft = {
    .name = "tcp",
    .listen = vft_listen,
    .unlisten = vft_unlisten,
    .connect = vft_connect,
    .close = vft_close,
    .reset = vft_reset,
    .app_tx = vft_app_tx,
    .app_rx = vft_app_rx,
    .get = vft_get,
    .get_listener = vft_get_listener,
    .poll = vft_poll,
    .format = vft_format,
    .next_timer_ns = vft_next_timer_ns,
};

const hs_transport_vft_t *hs_tcp_transport(void)
{
    return &tcp_vft;
}
