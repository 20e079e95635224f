/* The packet node graph: named nodes process vectors of buffer indices and hand each
 * buffer to one of their next nodes. Per-worker runtimes hold the pending vectors and the
 * counters (show runtime), drop reasons (show errors) and packet traces (show trace). */
#ifndef HS_NET_GRAPH_H
#define HS_NET_GRAPH_H

#include "infra/common.h"
#include "infra/vec.h"
#include "infra/str.h"
#include "net/buffer.h"

typedef struct hs_graph_rt hs_graph_rt_t;
typedef struct hs_node_rt hs_node_rt_t;

/* Processes n buffers (n <= HS_FRAME_SIZE). Input nodes are called with n == 0 and poll
 * their devices. Returns how many packets the call handled or produced. */
typedef uint32_t (*hs_node_fn_t)(hs_graph_rt_t *rt, hs_node_rt_t *node, const uint32_t *bis,
                                 uint32_t n);
/* Writes one line describing a trace record the node added. */
typedef void (*hs_node_format_trace_fn_t)(char *out, size_t len, const void *data,
                                          uint32_t data_len);

typedef enum { HS_NODE_INTERNAL = 0, HS_NODE_INPUT } hs_node_type_t;

/* A node's static description; registered once per graph. */
typedef struct {
    const char *name;
    hs_node_fn_t fn;
    hs_node_type_t type;
    uint16_t n_next;
    const char *const *next_nodes; /* names, resolved when the graph is finalized */
    uint16_t n_errors;
    const char *const *errors; /* reason strings for show errors, by code */
    hs_node_format_trace_fn_t format_trace;
} hs_node_reg_t;

#define HS_NODE_MAX_NEXT 16

typedef struct {
    const hs_node_reg_t *reg;
    uint32_t index;
    uint32_t next_index[HS_NODE_MAX_NEXT]; /* graph node index for each next slot */
} hs_node_t;

typedef struct {
    hs_vec_t nodes; /* hs_node_t; read-only once finalized */
    bool finalized;
} hs_graph_t;

void hs_graph_init(hs_graph_t *g);
void hs_graph_destroy(hs_graph_t *g);
/* Returns the new node's index or -EEXIST / -EINVAL / -ENOMEM. */
int hs_graph_add_node(hs_graph_t *g, const hs_node_reg_t *reg);
/* Resolves next-node names. -ENOENT names the missing node in the log. */
int hs_graph_finalize(hs_graph_t *g);
/* Node index or -ENOENT. */
int hs_graph_node_index(const hs_graph_t *g, const char *name);

static inline const hs_node_t *hs_graph_node(const hs_graph_t *g, uint32_t i)
{
    return (const hs_node_t *)hs_vec_at(&g->nodes, i);
}

/* Per worker, per node. */
struct hs_node_rt {
    const hs_node_t *node;
    hs_vec_t pending; /* uint32_t buffer indices waiting for this node */
    bool on_run_list;
    uint32_t trace_budget; /* input nodes: packets still to trace */
    uint64_t calls, vectors, clocks;
    uint64_t *errors; /* count per error code */
    void *ctx;        /* the node's own per-worker state */
};

typedef struct {
    uint32_t pkt;  /* packet number within this worker's trace */
    uint16_t node; /* graph node index */
    uint16_t len;
    uint64_t time_ns;
    uint8_t data[48];
} hs_trace_rec_t;

#define HS_TRACE_MAX_RECORDS 65536

struct hs_graph_rt {
    hs_graph_t *graph;
    hs_node_rt_t *nodes; /* one per graph node */
    uint32_t n_nodes;
    hs_vec_t run_list; /* node indices with pending buffers */
    hs_vec_t frame;    /* scratch copy of the vector being processed */
    hs_vec_t to_free;  /* dropped buffers, freed at the end of the dispatch */
    hs_vec_t trace;    /* hs_trace_rec_t */
    uint32_t n_traced;
    hs_buf_cache_t *bufs;
    uint64_t now_ns; /* time of this dispatch, injected by the caller */
    void *user;      /* the worker that owns this runtime */
};

int hs_graph_rt_init(hs_graph_rt_t *rt, hs_graph_t *g, hs_buf_cache_t *bufs, void *user);
void hs_graph_rt_destroy(hs_graph_rt_t *rt);

/* Polls one input node and then runs every pending vector until the graph is idle.
 * Returns the packets the input produced. */
uint32_t hs_graph_run_input(hs_graph_rt_t *rt, uint32_t node_index);
/* Runs pending vectors (for packets injected by hs_graph_enqueue) until idle. */
void hs_graph_dispatch(hs_graph_rt_t *rt);

/* Hands bi to a node by graph index (used to inject packets from outside a node). */
void hs_graph_enqueue(hs_graph_rt_t *rt, uint32_t node_index, uint32_t bi);

/* Hands bi to the node's next slot. */
static inline void hs_node_next(hs_graph_rt_t *rt, hs_node_rt_t *node, uint16_t slot, uint32_t bi)
{
    hs_graph_enqueue(rt, node->node->next_index[slot], bi);
}

/* Counts a drop reason and frees the buffer at the end of the dispatch. */
void hs_node_drop(hs_graph_rt_t *rt, hs_node_rt_t *node, uint32_t bi, uint16_t code);

static inline void hs_node_count(hs_node_rt_t *node, uint16_t code, uint64_t n)
{
    node->errors[code] += n;
}

static inline hs_buf_t *hs_rt_buf(const hs_graph_rt_t *rt, uint32_t bi)
{
    return hs_buf_ptr(rt->bufs->pool, bi);
}

/* Packet trace: an input node calls hs_trace_start on each new packet; every node adds a
 * record for traced buffers. */
void hs_trace_start(hs_graph_rt_t *rt, hs_node_rt_t *node, hs_buf_t *b);
void hs_trace_add(hs_graph_rt_t *rt, hs_node_rt_t *node, hs_buf_t *b, const void *data,
                  uint32_t len);
void hs_trace_clear(hs_graph_rt_t *rt);
/* Appends the worker's trace as text to out. */
void hs_trace_format(const hs_graph_rt_t *rt, hs_str_t *out);

#endif
