/* Logging: five levels, a level per subsystem ("tcp", "svm", ...) with a global default,
 * lines of "timestamp level subsystem: message" to stderr or to a sink callback.
 * The level configuration and the sink are process-wide on purpose (like stderr itself):
 * they live in one registry inside log.c, guarded by a mutex; the check that skips a
 * disabled line is one relaxed atomic load. */
#ifndef HS_INFRA_LOG_H
#define HS_INFRA_LOG_H

#include "infra/common.h"

#include <stdatomic.h>

typedef enum {
    HS_LOG_ERR = 0,
    HS_LOG_WARN,
    HS_LOG_NOTICE,
    HS_LOG_INFO,
    HS_LOG_DEBUG,
} hs_log_level_t;

#define HS_LOG_DEFAULT_LEVEL HS_LOG_NOTICE
#define HS_LOG_NAME_MAX      16   /* bytes of a subsystem name, with its NUL */
#define HS_LOG_MAX_SUBS      64   /* registered subsystems; later ones share "other" */
#define HS_LOG_LINE_MAX      1024 /* longer lines are cut and end with "..." */

/* A registered subsystem. Its address is stable for the life of the process. */
typedef struct {
    _Atomic int level;   /* lines at or below this level are written */
    bool explicit_level; /* set by name; otherwise it follows the default */
    char name[HS_LOG_NAME_MAX];
} hs_log_sub_t;

/* What a sink receives. line is the full line, NUL-terminated and ending in '\n';
 * msg points inside it at the formatted message (msg_len bytes, without the '\n'). */
typedef struct {
    hs_log_level_t level;
    const char *sub;
    const char *line;
    size_t line_len;
    const char *msg;
    size_t msg_len;
} hs_log_record_t;

/* Called with the log lock held: one call per line, never concurrently. A sink must not
 * log itself (it would deadlock). */
typedef void (*hs_log_sink_fn)(void *ctx, const hs_log_record_t *rec);

/* Finds or registers a subsystem by name (1..15 of [A-Za-z0-9_-]). An invalid name or a
 * full table yields the shared subsystem "other". Never NULL. */
hs_log_sub_t *hs_log_sub(const char *name);

/* Level of one subsystem (registering it if needed, so a flag may name a subsystem
 * before its code first logs). 0, or -EINVAL for a bad name or level. */
int hs_log_set_level(const char *name, hs_log_level_t level);
/* Default level, applied to every subsystem whose level was not set by name. */
void hs_log_set_default(hs_log_level_t level);
hs_log_level_t hs_log_get_default(void);
/* Effective level of a subsystem (the default when it is not registered). */
hs_log_level_t hs_log_get_level(const char *name);
/* Forgets every per-subsystem level and sets the default (tests use this). */
void hs_log_reset(hs_log_level_t default_level);

/* "error"/"err", "warn"/"warning", "notice", "info", "debug", any case. 0 or -EINVAL. */
int hs_log_parse_level(const char *s, hs_log_level_t *level);
const char *hs_log_level_name(hs_log_level_t level);

/* Applies a --log-level spec: comma-separated items, each LEVEL (the default) or
 * NAME=LEVEL, e.g. "debug", "tcp=debug,svm=info", "warn,tcp=debug". Nothing is applied
 * unless the whole spec is valid. 0, or -EINVAL with a sentence in err (when err is not
 * NULL) naming the bad item. */
int hs_log_apply_spec(const char *spec, char *err, size_t err_len);

/* NULL restores the default sink, stderr (one write(2) per line). */
void hs_log_set_sink(hs_log_sink_fn fn, void *ctx);

static inline bool hs_log_enabled(const hs_log_sub_t *sub, hs_log_level_t level)
{
    return (int)level <= atomic_load_explicit(&sub->level, memory_order_relaxed);
}

/* Formats and writes one line unconditionally; callers use the macros below. */
void hs_log_emit(hs_log_sub_t *sub, hs_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Used by HS_LOG: resolves a call site's subsystem once and caches it in *site. */
hs_log_sub_t *hs_log_site_init(hs_log_sub_t *_Atomic *site, const char *name);

/* HS_LOG_xxx("tcp", "fmt", ...): sub must be a string literal (each call site caches its
 * subsystem); arguments are not evaluated when the level is off. */
#define HS_LOG(level, sub, fmt, ...)                                                               \
    do {                                                                                           \
        static hs_log_sub_t *_Atomic hs_log_site_;                                                 \
        hs_log_sub_t *hs_log_s_ = atomic_load_explicit(&hs_log_site_, memory_order_acquire);       \
        if (hs_unlikely(!hs_log_s_))                                                               \
            hs_log_s_ = hs_log_site_init(&hs_log_site_, "" sub "");                                \
        if (hs_log_enabled(hs_log_s_, (level)))                                                    \
            hs_log_emit(hs_log_s_, (level), fmt, ##__VA_ARGS__);                                   \
    } while (0)

/* The same for a subsystem the caller resolved with hs_log_sub (a name built at run time,
 * or one kept in a context struct). */
#define HS_LOG_TO(subp, level, fmt, ...)                                                           \
    do {                                                                                           \
        hs_log_sub_t *hs_log_s_ = (subp);                                                          \
        if (hs_log_enabled(hs_log_s_, (level)))                                                    \
            hs_log_emit(hs_log_s_, (level), fmt, ##__VA_ARGS__);                                   \
    } while (0)

#define HS_LOG_ERR(sub, fmt, ...)    HS_LOG(HS_LOG_ERR, sub, fmt, ##__VA_ARGS__)
#define HS_LOG_WARN(sub, fmt, ...)   HS_LOG(HS_LOG_WARN, sub, fmt, ##__VA_ARGS__)
#define HS_LOG_NOTICE(sub, fmt, ...) HS_LOG(HS_LOG_NOTICE, sub, fmt, ##__VA_ARGS__)
#define HS_LOG_INFO(sub, fmt, ...)   HS_LOG(HS_LOG_INFO, sub, fmt, ##__VA_ARGS__)
#define HS_LOG_DEBUG(sub, fmt, ...)  HS_LOG(HS_LOG_DEBUG, sub, fmt, ##__VA_ARGS__)

#endif
