/* Worker-to-worker hand-off (net/handoff.h) on a real hs_net_t with a sink node: buffers
 * arrive at the named node of the target worker intact and in order, a full ring refuses
 * and counts, a bad node index is dropped, the sleep announcement and the wake hook, the
 * flow hash (deterministic per seed, balanced), and a two-thread run of 1M buffers with
 * the sleep protocol where nothing is lost. HS_TEST_LOCKFREE: TSan runs it too. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "net/handoff.h"

/* ---- the sink node: records what reaches it, per worker ---- */

#define MAX_SEEN (1u << 20)

typedef struct {
    uint32_t n;
    uint64_t sum;      /* of the payload sequence numbers */
    uint32_t next_seq; /* the threaded test checks order */
    bool out_of_order;
    uint32_t *seqs; /* the single-threaded tests check each one */
} sink_t;

static sink_t sinks[2];

static uint32_t sink_fn(hs_graph_rt_t *rt, hs_node_rt_t *node, const uint32_t *bis, uint32_t n)
{
    (void)node;
    hs_net_worker_t *wk = rt->user;
    sink_t *s = &sinks[wk->index];
    for (uint32_t i = 0; i < n; i++) {
        hs_buf_t *b = hs_rt_buf(rt, bis[i]);
        uint32_t seq;
        memcpy(&seq, hs_buf_cur(b), sizeof(seq));
        if (seq != s->next_seq)
            s->out_of_order = true;
        s->next_seq = seq + 1;
        if (s->seqs && s->n < MAX_SEEN)
            s->seqs[s->n] = seq;
        s->n++;
        s->sum += seq;
    }
    hs_buf_free(rt->bufs, bis, n);
    return n;
}

static const hs_node_reg_t sink_reg = {.name = "test-sink", .fn = sink_fn};

static int register_sink(hs_net_t *net, void *ctx)
{
    (void)ctx;
    int rv = hs_graph_add_node(&net->graph, &sink_reg);
    return rv < 0 ? rv : 0;
}

typedef struct {
    hs_clock_t clk;
    hs_net_t *net;
    uint32_t sink;
    _Atomic uint32_t wakes[2];
} t_t;

static void count_wake(void *ctx, uint32_t worker)
{
    t_t *t = ctx;
    atomic_fetch_add(&t->wakes[worker], 1);
}

static int setup_n(void **state, uint32_t n_workers, uint64_t seed)
{
    t_t *t = calloc(1, sizeof(*t));
    hs_clock_init_virtual(&t->clk, 1000);
    hs_net_config_t cfg = {.n_workers = n_workers,
                           .n_buffers = 8192,
                           .clock = &t->clk,
                           .register_nodes = register_sink,
                           .flow_seed = seed};
    assert_int_equal(hs_net_create(&t->net, &cfg), 0);
    t->sink = (uint32_t)hs_graph_node_index(&t->net->graph, "test-sink");
    t->net->wake_worker = count_wake;
    t->net->wake_ctx = t;
    memset(sinks, 0, sizeof(sinks));
    *state = t;
    return 0;
}

static int setup(void **state)
{
    return setup_n(state, 2, 42);
}

static int teardown(void **state)
{
    t_t *t = *state;
    hs_net_destroy(t->net);
    free(sinks[0].seqs);
    free(sinks[1].seqs);
    free(t);
    return 0;
}

/* n buffers on worker wk, each holding its sequence number from seq0 on. */
static void make_bufs(hs_net_worker_t *wk, uint32_t *bis, uint32_t n, uint32_t seq0)
{
    assert_int_equal(hs_buf_alloc(&wk->bufs, bis, n), n);
    for (uint32_t i = 0; i < n; i++) {
        hs_buf_t *b = hs_buf_ptr(wk->bufs.pool, bis[i]);
        uint32_t seq = seq0 + i;
        memcpy(hs_buf_cur(b), &seq, sizeof(seq));
        b->current_length = sizeof(seq);
    }
}

static uint64_t node_error(hs_net_t *net, uint32_t w, const char *node, uint16_t code)
{
    int ni = hs_graph_node_index(&net->graph, node);
    assert_true(ni >= 0);
    return hs_net_worker(net, w)->rt.nodes[ni].errors[code];
}

static void test_buffers_reach_the_node_in_order(void **state)
{
    t_t *t = *state;
    sinks[1].seqs = calloc(MAX_SEEN, sizeof(uint32_t));
    sinks[1].next_seq = 1000;
    hs_net_worker_t *w0 = hs_net_worker(t->net, 0), *w1 = hs_net_worker(t->net, 1);
    uint32_t free0 = hs_buf_pool_n_free(&t->net->bufs);
    uint32_t bis[300];
    make_bufs(w0, bis, 300, 1000);
    assert_int_equal(hs_handoff_send(w0, 1, t->sink, bis, 300), 300);
    assert_int_equal(hs_handoff_queued(t->net, 0, 1), 300);
    /* Nothing for worker 0, nothing to itself. */
    assert_int_equal(hs_net_worker_poll(w0, 2000), 0);
    assert_int_equal(hs_handoff_send(w0, 0, t->sink, bis, 1), 0);
    /* A frame's worth per ring per poll: 256, then 44. */
    assert_int_equal(hs_net_worker_poll(w1, 2000), HS_FRAME_SIZE);
    assert_int_equal(hs_net_worker_poll(w1, 2000), 300 - HS_FRAME_SIZE);
    assert_int_equal(sinks[1].n, 300);
    assert_false(sinks[1].out_of_order);
    for (uint32_t i = 0; i < 300; i++)
        assert_int_equal(sinks[1].seqs[i], 1000 + i);
    assert_int_equal(sinks[0].n, 0);
    assert_int_equal(node_error(t->net, 1, "handoff-input", HS_HANDOFF_E_RECEIVED), 300);
    assert_int_equal(hs_handoff_queued(t->net, 0, 1), 0);
    hs_buf_cache_flush(&w0->bufs);
    hs_buf_cache_flush(&w1->bufs);
    assert_int_equal(hs_buf_pool_n_free(&t->net->bufs), free0);
}

static void test_full_ring_refuses(void **state)
{
    t_t *t = *state;
    hs_net_worker_t *w0 = hs_net_worker(t->net, 0), *w1 = hs_net_worker(t->net, 1);
    uint32_t n = HS_HANDOFF_RING_SIZE + 10, *bis = malloc(n * sizeof(*bis));
    make_bufs(w0, bis, n, 0);
    assert_int_equal(hs_handoff_send(w0, 1, t->sink, bis, n), HS_HANDOFF_RING_SIZE);
    assert_int_equal(hs_handoff_refused(t->net, 0, 1), 10);
    hs_buf_free(&w0->bufs, bis + HS_HANDOFF_RING_SIZE, 10); /* the caller drops the rest */
    while (hs_net_worker_poll(w1, 2000))
        ;
    assert_int_equal(sinks[1].n, HS_HANDOFF_RING_SIZE);
    assert_false(sinks[1].out_of_order);
    /* Room again. */
    assert_int_equal(hs_handoff_send(w0, 1, t->sink, bis, 0), 0);
    make_bufs(w0, bis, 1, HS_HANDOFF_RING_SIZE);
    assert_int_equal(hs_handoff_send(w0, 1, t->sink, bis, 1), 1);
    hs_net_worker_poll(w1, 2000);
    assert_int_equal(sinks[1].n, HS_HANDOFF_RING_SIZE + 1);
    free(bis);
}

static void test_bad_node_dropped(void **state)
{
    t_t *t = *state;
    hs_net_worker_t *w0 = hs_net_worker(t->net, 0), *w1 = hs_net_worker(t->net, 1);
    uint32_t free0 = hs_buf_pool_n_free(&t->net->bufs);
    uint32_t bi, handoff = (uint32_t)hs_graph_node_index(&t->net->graph, "handoff-input");
    make_bufs(w0, &bi, 1, 0);
    assert_int_equal(hs_handoff_send(w0, 1, 100000, &bi, 1), 1);
    make_bufs(w0, &bi, 1, 0);
    assert_int_equal(hs_handoff_send(w0, 1, handoff, &bi, 1), 1); /* no loops */
    hs_net_worker_poll(w1, 2000);
    assert_int_equal(node_error(t->net, 1, "handoff-input", HS_HANDOFF_E_BAD_NODE), 2);
    assert_int_equal(sinks[1].n, 0);
    hs_buf_cache_flush(&w0->bufs);
    hs_buf_cache_flush(&w1->bufs);
    assert_int_equal(hs_buf_pool_n_free(&t->net->bufs), free0);
}

static void test_sleep_announcement_and_wake(void **state)
{
    t_t *t = *state;
    hs_net_worker_t *w0 = hs_net_worker(t->net, 0), *w1 = hs_net_worker(t->net, 1);
    uint32_t bi;
    /* Awake: no wake-up is sent. */
    make_bufs(w0, &bi, 1, 0);
    assert_int_equal(hs_handoff_send(w0, 1, t->sink, &bi, 1), 1);
    assert_int_equal(atomic_load(&t->wakes[1]), 0);
    /* Something waits: the worker must not sleep. */
    assert_false(hs_handoff_sleep_begin(w1));
    hs_net_worker_poll(w1, 2000);
    /* Nothing waits: it may sleep, and the next send wakes it, once. */
    assert_true(hs_handoff_sleep_begin(w1));
    make_bufs(w0, &bi, 1, 1);
    assert_int_equal(hs_handoff_send(w0, 1, t->sink, &bi, 1), 1);
    assert_int_equal(atomic_load(&t->wakes[1]), 1);
    make_bufs(w0, &bi, 1, 2);
    assert_int_equal(hs_handoff_send(w0, 1, t->sink, &bi, 1), 1);
    assert_int_equal(atomic_load(&t->wakes[1]), 1);
    hs_handoff_sleep_end(w1);
    hs_net_worker_poll(w1, 2000);
    assert_int_equal(sinks[1].n, 3);
    assert_false(sinks[1].out_of_order);
}

static void test_flow_hash(void **state)
{
    (void)state;
    void *a, *b, *c;
    setup_n(&a, 4, 7);
    setup_n(&b, 4, 7);
    setup_n(&c, 4, 8);
    hs_net_t *na = ((t_t *)a)->net, *nb = ((t_t *)b)->net, *nc = ((t_t *)c)->net;
    uint32_t count[4] = {0}, differ = 0;
    for (uint32_t i = 0; i < 40000; i++) {
        uint32_t lip = 0x0a000002, rip = 0x0a000001 + (i >> 12);
        uint16_t lp = (uint16_t)(80 + (i & 3)), rp = (uint16_t)(32768 + i);
        uint32_t w = hs_net_flow_worker(na, 6, lip, lp, rip, rp);
        assert_true(w < 4);
        assert_int_equal(w, hs_net_flow_worker(nb, 6, lip, lp, rip, rp)); /* same seed */
        differ += w != hs_net_flow_worker(nc, 6, lip, lp, rip, rp);
        count[w]++;
    }
    for (uint32_t w = 0; w < 4; w++) /* 10000 expected each */
        assert_true(count[w] > 9000 && count[w] < 11000);
    assert_true(differ > 25000); /* another key, another spread (3/4 expected) */
    teardown(&a);
    teardown(&b);
    teardown(&c);
    /* One worker: always 0, and no rings. */
    void *d;
    setup_n(&d, 1, 7);
    hs_net_t *nd = ((t_t *)d)->net;
    assert_null(nd->handoff);
    assert_int_equal(hs_net_flow_worker(nd, 6, 1, 2, 3, 4), 0);
    teardown(&d);
}

/* ---- two threads: worker 0 sends, worker 1 drains and sleeps when idle ---- */

#define THREADED_N (1u << 20)

typedef struct {
    t_t *t;
    _Atomic bool done;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    bool kicked;
} xthread_t;

static xthread_t xt;

static void kick(void *ctx, uint32_t worker)
{
    (void)ctx;
    (void)worker;
    pthread_mutex_lock(&xt.lock);
    xt.kicked = true;
    pthread_cond_signal(&xt.cv);
    pthread_mutex_unlock(&xt.lock);
}

static void *consumer(void *arg)
{
    (void)arg;
    hs_net_worker_t *w1 = hs_net_worker(xt.t->net, 1);
    while (sinks[1].n < THREADED_N) {
        if (hs_net_worker_poll(w1, 2000))
            continue;
        if (!hs_handoff_sleep_begin(w1))
            continue;
        pthread_mutex_lock(&xt.lock);
        while (!xt.kicked) /* no timeout: a lost wake-up hangs the test */
            pthread_cond_wait(&xt.cv, &xt.lock);
        xt.kicked = false;
        pthread_mutex_unlock(&xt.lock);
        hs_handoff_sleep_end(w1);
    }
    return NULL;
}

static void test_two_threads(void **state)
{
    t_t *t = *state;
    memset(&xt, 0, sizeof(xt));
    xt.t = t;
    pthread_mutex_init(&xt.lock, NULL);
    pthread_cond_init(&xt.cv, NULL);
    t->net->wake_worker = kick;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, consumer, NULL), 0);
    hs_net_worker_t *w0 = hs_net_worker(t->net, 0);
    uint32_t sent = 0, bis[64];
    uint64_t refused = 0;
    while (sent < THREADED_N) {
        uint32_t n = HS_MIN(1u + sent % 64, THREADED_N - sent); /* batches of 1..64 */
        make_bufs(w0, bis, n, sent);
        uint32_t k = hs_handoff_send(w0, 1, t->sink, bis, n);
        if (k < n) { /* full: the sender drops; here it frees and resends the same seqs */
            hs_buf_free(&w0->bufs, bis + k, n - k);
            refused += n - k;
            sched_yield();
        }
        sent += k;
    }
    pthread_join(th, NULL);
    assert_int_equal(sinks[1].n, THREADED_N);
    assert_false(sinks[1].out_of_order);
    assert_true(sinks[1].sum == (uint64_t)THREADED_N * (THREADED_N - 1) / 2);
    assert_int_equal(hs_handoff_refused(t->net, 0, 1), refused);
    print_message("1M buffers across threads: %lu refused by a full ring and resent\n",
                  (unsigned long)refused);
    pthread_mutex_destroy(&xt.lock);
    pthread_cond_destroy(&xt.cv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_buffers_reach_the_node_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_ring_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_node_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sleep_announcement_and_wake, setup, teardown),
        cmocka_unit_test(test_flow_hash),
        cmocka_unit_test_setup_teardown(test_two_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
