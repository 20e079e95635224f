/* Data-plane threads: the adaptive poll/sleep loop, the rx fd sets they sleep on, and
 * the barrier that parks them for control-plane changes. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "daemon/workers.h"
#include "infra/log.h"
#include "net/handoff.h"
#include "net/interface.h"
#include "session/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* Puts the rx fds of the queues assigned to t (on interfaces that are up) into its epoll
 * set. Called with every thread parked. */
static void rebuild_rx_set(hs_workers_t *ws, hs_wthread_t *t)
{
    for (uint32_t i = 0; i < t->rx_fds.len; i++)
        epoll_ctl(t->epfd, EPOLL_CTL_DEL, HS_VEC_ELT(&t->rx_fds, int, i), NULL);
    hs_vec_clear(&t->rx_fds);
    t->must_poll = false;
    hs_pool_foreach(&ws->net->interfaces, i)
    {
        hs_interface_t *ifc = hs_pool_elt(&ws->net->interfaces, i);
        if (!ifc->admin_up)
            continue;
        for (uint32_t q = 0; q < ifc->n_queues && q < HS_IF_MAX_QUEUES; q++) {
            if (ifc->queue_worker[q] != t->index)
                continue;
            int fd = ifc->queue_fd[q];
            if (fd < 0) {
                t->must_poll = true;
                continue;
            }
            struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
            if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) == 0) {
                hs_vec_push(&t->rx_fds, &fd);
            } else if (errno != EEXIST) {
                HS_LOG_WARN("hsd", "worker %u: cannot watch %s queue %u: %s (polling it)", t->index,
                            ifc->name, q, strerror(errno));
                t->must_poll = true;
            }
        }
    }
}

static void rebuild_all(hs_workers_t *ws)
{
    for (uint32_t i = 0; i < HS_MAX(ws->n_threads, 1u); i++)
        rebuild_rx_set(ws, &ws->threads[i]);
}

/* One data-plane iteration (the packet path, then the session layer: transport timers,
 * app events and app requests); true while the thread should poll again at once. */
static bool poll_once(hs_wthread_t *t, uint64_t now)
{
    uint32_t n = hs_net_worker_poll(t->wk, now);
    uint32_t events = 0;
    if (t->ws->sm)
        events = hs_session_worker_poll(hs_session_worker(t->ws->sm, t->index), now);
    t->loops++;
    if (n) {
        t->packets += n;
        t->last_rx_ns = now;
        t->empty_wakeups = 0;
        return true;
    }
    if (events)
        return true; /* what the apps asked for may have made more work */
    return t->ws->poll_mode || t->must_poll || now - t->last_rx_ns < HS_WORKER_SPIN_NS;
}

/* When the thread must be up again without rx: housekeeping or a transport timer. */
static uint64_t next_due(hs_wthread_t *t, uint64_t now)
{
    uint64_t due = t->wk->next_housekeep_ns;
    if (t->ws->sm)
        due = HS_MIN(due, hs_session_worker_next_ns(hs_session_worker(t->ws->sm, t->index), now));
    return due;
}

/* A socket keeps reporting EPOLLERR until its error is read (af_packet after the link went
 * down and up: ENETDOWN), which would wake the thread for ever. Reading it clears it; for
 * a tap fd (not a socket) the call fails harmlessly. */
static void clear_fd_error(const hs_wthread_t *t, const struct epoll_event *ev)
{
    if (!(ev->events & EPOLLERR))
        return;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(ev->data.fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err)
        HS_LOG_INFO("hsd", "worker %u: rx fd %d reported %s (cleared)", t->index, ev->data.fd,
                    strerror(err));
}

static void sleep_in_epoll(hs_wthread_t *t, uint64_t now)
{
    uint64_t due = next_due(t, now);
    int timeout_ms = due > now ? (int)((due - now + HS_NS_PER_MS - 1) / HS_NS_PER_MS) : 0;
    struct epoll_event ev[16];
    if (!hs_handoff_sleep_begin(t->wk))
        return; /* another worker handed us buffers meanwhile */
    t->sleeps++;
    int n = epoll_wait(t->epfd, ev, 16, timeout_ms);
    hs_handoff_sleep_end(t->wk);
    bool rx_ready = false;
    for (int i = 0; i < n; i++) {
        if (ev[i].data.fd == t->wake_fd) {
            uint64_t v;
            if (read(t->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                HS_LOG_WARN("hsd", "worker %u: eventfd read: %s", t->index, strerror(errno));
        } else {
            clear_fd_error(t, &ev[i]);
            rx_ready = true;
        }
    }
    if (rx_ready && ++t->empty_wakeups > HS_WORKER_MAX_EMPTY_WAKEUPS) {
        if (t->empty_wakeups == HS_WORKER_MAX_EMPTY_WAKEUPS + 1)
            HS_LOG_WARN("hsd",
                        "worker %u: an rx fd stays readable but yields no frames; "
                        "backing off",
                        t->index);
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
}

static void park(hs_wthread_t *t)
{
    hs_workers_t *ws = t->ws;
    pthread_mutex_lock(&ws->lock);
    ws->n_parked++;
    pthread_cond_signal(&ws->parked_cv);
    while (atomic_load(&ws->barrier) && !atomic_load(&ws->quit))
        pthread_cond_wait(&ws->release_cv, &ws->lock);
    ws->n_parked--;
    pthread_mutex_unlock(&ws->lock);
}

static void *thread_main(void *arg)
{
    hs_wthread_t *t = arg;
    hs_workers_t *ws = t->ws;
    while (!atomic_load_explicit(&ws->quit, memory_order_relaxed)) {
        /* The safe point: nothing of the graph is in flight here. */
        if (atomic_load_explicit(&ws->barrier, memory_order_acquire)) {
            park(t);
            continue;
        }
        uint64_t now = hs_clock_mono_ns();
        if (!poll_once(t, now))
            sleep_in_epoll(t, now);
    }
    return NULL;
}

static void wake(hs_wthread_t *t)
{
    uint64_t one = 1;
    if (write(t->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        HS_LOG_WARN("hsd", "worker %u: eventfd write: %s", t->index, strerror(errno));
}

/* net->wake_worker: a worker handed buffers to a sleeping one. */
static void wake_worker(void *ctx, uint32_t worker)
{
    hs_workers_t *ws = ctx;
    if (worker < ws->n_threads)
        wake(&ws->threads[worker]);
}

static int thread_init(hs_workers_t *ws, uint32_t i)
{
    hs_wthread_t *t = &ws->threads[i];
    t->ws = ws;
    t->index = i;
    t->wk = hs_net_worker(ws->net, i);
    t->epfd = epoll_create1(EPOLL_CLOEXEC);
    t->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    hs_vec_init(&t->rx_fds, sizeof(int));
    if (t->epfd < 0 || t->wake_fd < 0)
        return -errno;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = t->wake_fd};
    return epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->wake_fd, &ev) < 0 ? -errno : 0;
}

int hs_workers_start(hs_workers_t *ws, hs_net_t *net, struct hs_session_main *sm,
                     uint32_t n_threads, bool poll_mode)
{
    memset(ws, 0, sizeof(*ws));
    ws->net = net;
    ws->sm = sm;
    ws->n_threads = n_threads;
    ws->poll_mode = poll_mode;
    pthread_mutex_init(&ws->lock, NULL);
    pthread_cond_init(&ws->parked_cv, NULL);
    pthread_cond_init(&ws->release_cv, NULL);
    uint32_t n = HS_MAX(n_threads, 1u);
    ws->threads = calloc(n, sizeof(*ws->threads));
    if (!ws->threads)
        return -ENOMEM;
    for (uint32_t i = 0; i < n; i++)
        ws->threads[i].epfd = ws->threads[i].wake_fd = -1;
    int rv = 0;
    for (uint32_t i = 0; i < n && rv == 0; i++)
        rv = thread_init(ws, i);
    if (rv == 0)
        rebuild_all(ws);
    net->wake_worker = wake_worker;
    net->wake_ctx = ws;
    for (uint32_t i = 0; i < n_threads && rv == 0; i++) {
        hs_wthread_t *t = &ws->threads[i];
        rv = -pthread_create(&t->thread, NULL, thread_main, t);
        t->started = rv == 0;
        if (t->started) {
            char name[16];
            snprintf(name, sizeof(name), "hs-wk%u", i);
            pthread_setname_np(t->thread, name);
        }
    }
    return rv;
}

void hs_workers_stop(hs_workers_t *ws)
{
    if (!ws->threads)
        return;
    pthread_mutex_lock(&ws->lock);
    atomic_store(&ws->quit, true);
    pthread_cond_broadcast(&ws->release_cv);
    pthread_mutex_unlock(&ws->lock);
    uint32_t n = HS_MAX(ws->n_threads, 1u);
    for (uint32_t i = 0; i < n; i++)
        if (ws->threads[i].started)
            wake(&ws->threads[i]);
    /* All joined before any eventfd closes: a running worker may still wake another. */
    for (uint32_t i = 0; i < n; i++)
        if (ws->threads[i].started)
            pthread_join(ws->threads[i].thread, NULL);
    ws->net->wake_worker = NULL;
    for (uint32_t i = 0; i < n; i++) {
        hs_wthread_t *t = &ws->threads[i];
        if (t->epfd >= 0)
            close(t->epfd);
        if (t->wake_fd >= 0)
            close(t->wake_fd);
        hs_vec_free(&t->rx_fds);
    }
    free(ws->threads);
    ws->threads = NULL;
    pthread_cond_destroy(&ws->parked_cv);
    pthread_cond_destroy(&ws->release_cv);
    pthread_mutex_destroy(&ws->lock);
}

void hs_workers_barrier_enter(hs_workers_t *ws)
{
    if (ws->depth++ > 0 || ws->n_threads == 0)
        return;
    pthread_mutex_lock(&ws->lock);
    atomic_store_explicit(&ws->barrier, true, memory_order_release);
    pthread_mutex_unlock(&ws->lock);
    for (uint32_t i = 0; i < ws->n_threads; i++)
        wake(&ws->threads[i]);
    pthread_mutex_lock(&ws->lock);
    while (ws->n_parked < ws->n_threads)
        pthread_cond_wait(&ws->parked_cv, &ws->lock);
    pthread_mutex_unlock(&ws->lock);
}

void hs_workers_barrier_leave(hs_workers_t *ws)
{
    if (--ws->depth > 0)
        return;
    rebuild_all(ws);
    if (ws->n_threads == 0)
        return;
    pthread_mutex_lock(&ws->lock);
    atomic_store_explicit(&ws->barrier, false, memory_order_release);
    pthread_cond_broadcast(&ws->release_cv);
    pthread_mutex_unlock(&ws->lock);
}

int hs_workers_main_fd(const hs_workers_t *ws)
{
    return ws->threads[0].epfd;
}

bool hs_workers_main_poll(hs_workers_t *ws, uint64_t now_ns)
{
    hs_wthread_t *t = &ws->threads[0];
    bool again = poll_once(t, now_ns);
    if (!again && t->rx_fds.len) {
        /* A level-triggered rx fd that stays ready but yields nothing would keep the
         * main epoll awake for ever: count such rounds and back off. */
        struct epoll_event ev[16];
        int n = epoll_wait(t->epfd, ev, 16, 0);
        for (int i = 0; i < n; i++) {
            if (ev[i].data.fd == t->wake_fd)
                continue;
            clear_fd_error(t, &ev[i]);
            if (++t->empty_wakeups > HS_WORKER_MAX_EMPTY_WAKEUPS)
                nanosleep(&(struct timespec){0, 1000000}, NULL);
        }
    }
    return again;
}
