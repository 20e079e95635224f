/* NewReno congestion control: slow start and congestion avoidance (RFC 5681 3.1, with
 * appropriate byte counting, RFC 3465, L = 2 SMSS), fast retransmit / fast recovery
 * (RFC 5681 3.2) with NewReno's partial ACKs (RFC 6582 3.2), initial window RFC 6928. */
#include "tcp/tcp_internal.h"

/* FlightSize: data sent and not yet acknowledged. */
static uint32_t flight(const hs_tcp_conn_t *tc)
{
    return tc->snd_max - tc->snd_una;
}

/* RFC 5681 eq. (4): ssthresh = max(FlightSize / 2, 2 * SMSS). */
static uint32_t half_flight(const hs_tcp_conn_t *tc)
{
    return HS_MAX(flight(tc) / 2, 2u * tc->snd_mss);
}

static void nr_init(hs_tcp_conn_t *tc)
{
    /* cwnd is set by hs_tcp_established from the configured initial window. */
    tc->ssthresh = UINT32_MAX / 2; /* "arbitrarily high" (RFC 5681 3.1) */
    tc->bytes_acked = 0;
}

static void nr_on_ack(hs_tcp_conn_t *tc, uint32_t acked)
{
    if (tc->cwnd < tc->ssthresh) { /* slow start: at most 2 SMSS per ACK (RFC 3465 2.2) */
        tc->cwnd += HS_MIN(acked, 2u * tc->snd_mss);
        return;
    }
    /* congestion avoidance: one SMSS per cwnd of bytes acknowledged (RFC 5681 3.1) */
    tc->bytes_acked += acked;
    if (tc->bytes_acked >= tc->cwnd) {
        tc->bytes_acked -= tc->cwnd;
        tc->cwnd += tc->snd_mss;
    }
}

static void nr_recovery_enter(hs_tcp_conn_t *tc)
{
    /* RFC 5681 3.2 steps 2-3: ssthresh from the flight, cwnd = ssthresh + 3 SMSS. */
    tc->ssthresh = half_flight(tc);
    tc->cwnd = tc->ssthresh + 3u * tc->snd_mss;
    tc->bytes_acked = 0;
}

static void nr_on_dupack(hs_tcp_conn_t *tc)
{
    tc->cwnd += tc->snd_mss; /* RFC 5681 3.2 step 4: inflation */
}

static void nr_partial_ack(hs_tcp_conn_t *tc, uint32_t acked)
{
    /* RFC 6582 3.2 step 4: deflate by the amount acknowledged, add back one SMSS when that
     * was at least one SMSS. */
    tc->cwnd = tc->cwnd > acked ? tc->cwnd - acked : tc->snd_mss;
    if (acked >= tc->snd_mss)
        tc->cwnd += tc->snd_mss;
}

static void nr_recovery_exit(hs_tcp_conn_t *tc)
{
    /* RFC 6582 3.2 step 3, option 1: cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS). */
    tc->cwnd = HS_MIN(tc->ssthresh, HS_MAX(flight(tc), (uint32_t)tc->snd_mss) + tc->snd_mss);
    tc->bytes_acked = 0;
}

static void nr_on_timeout(hs_tcp_conn_t *tc)
{
    /* RFC 5681 3.1 eq. (4) and "LW": one segment after a timeout. */
    tc->ssthresh = half_flight(tc);
    tc->cwnd = tc->snd_mss;
    tc->bytes_acked = 0;
}

const hs_tcp_cc_vft_t hs_tcp_cc_newreno = {
    .name = "newreno",
    .init = nr_init,
    .on_ack = nr_on_ack,
    .on_recovery_enter = nr_recovery_enter,
    .on_dupack = nr_on_dupack,
    .on_partial_ack = nr_partial_ack,
    .on_recovery_exit = nr_recovery_exit,
    .on_timeout = nr_on_timeout,
};
