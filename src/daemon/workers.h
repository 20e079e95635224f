/* Data-plane threads of hsd: one pthread per net worker, each sleeping in epoll on its rx
 * queues while idle and busy-polling while traffic flows, plus the barrier that parks
 * them all while the main thread changes the control-plane state. With zero threads the
 * main thread runs net worker 0 itself (hs_workers_main_poll). */
#ifndef HS_DAEMON_WORKERS_H
#define HS_DAEMON_WORKERS_H

#include "net/net.h"

#include <pthread.h>
#include <stdatomic.h>

/* After the last packet, keep polling this long before going to sleep in epoll: a
 * burst's next packet is then picked up without a wake-up. */
#define HS_WORKER_SPIN_NS (500 * HS_NS_PER_US)
/* Wake-ups in a row that found nothing although epoll said an rx fd was ready: past
 * this the thread backs off (a misbehaving fd must not burn a core). */
#define HS_WORKER_MAX_EMPTY_WAKEUPS 64

typedef struct hs_workers hs_workers_t;
struct hs_session_main;

typedef struct {
    hs_workers_t *ws;
    hs_net_worker_t *wk;
    uint32_t index;
    pthread_t thread;
    bool started;
    int epfd;        /* rx queue fds + wake_fd */
    int wake_fd;     /* eventfd: barrier requests and shutdown */
    hs_vec_t rx_fds; /* int: the rx fds now in epfd */
    bool must_poll;  /* a queue without an fd (polled only) is assigned here */
    uint64_t last_rx_ns;
    uint32_t empty_wakeups;
    /* Statistics for show workers; written by the thread, read under the barrier. */
    uint64_t loops, sleeps, packets;
} hs_wthread_t;

struct hs_workers {
    hs_net_t *net;
    struct hs_session_main *sm; /* NULL: none; else polled after the net each iteration */
    uint32_t n_threads;         /* 0: the main thread runs the data plane */
    bool poll_mode;             /* never sleep */
    hs_wthread_t *threads; /* max(1, n_threads); [0] is the main thread's when n_threads == 0 */
    pthread_mutex_t lock;
    pthread_cond_t parked_cv;  /* a thread parked */
    pthread_cond_t release_cv; /* the barrier was lifted */
    atomic_bool barrier;       /* requested: threads park at the top of their loop */
    atomic_bool quit;
    uint32_t n_parked;
    uint32_t depth; /* nested barrier_enter calls */
};

/* Sets up n_threads data-plane threads over net (which has max(1, n_threads) workers)
 * and the session layer sm over it (NULL: none), and starts them. 0 or -errno. */
int hs_workers_start(hs_workers_t *ws, hs_net_t *net, struct hs_session_main *sm,
                     uint32_t n_threads, bool poll_mode);
/* Stops and joins the threads and frees everything. */
void hs_workers_stop(hs_workers_t *ws);

/* Parks every thread at a safe point; returns when all are parked. Nests. */
void hs_workers_barrier_enter(hs_workers_t *ws);
/* Re-reads the queue assignment (interfaces may have come or gone) and releases them. */
void hs_workers_barrier_leave(hs_workers_t *ws);

/* n_threads == 0: the fd for the main epoll that becomes readable when an rx queue has
 * frames, and one data-plane iteration on the main thread. Returns true while the main
 * thread should poll again without sleeping (traffic is flowing or --poll). */
int hs_workers_main_fd(const hs_workers_t *ws);
bool hs_workers_main_poll(hs_workers_t *ws, uint64_t now_ns);

#endif
