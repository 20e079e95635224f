/* Logging registry (subsystem levels, the sink) and line formatting. One mutex guards
 * registration, level changes and sink calls, so lines never interleave. */
#include "infra/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static struct {
    pthread_mutex_t lock;
    hs_log_sub_t subs[HS_LOG_MAX_SUBS];
    uint32_t n_subs;
    hs_log_sub_t other; /* shared by invalid names and registrations past the table */
    int default_level;
    hs_log_sink_fn sink;
    void *sink_ctx;
} g_log = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .other = {.level = HS_LOG_DEFAULT_LEVEL, .name = "other"},
    .default_level = HS_LOG_DEFAULT_LEVEL,
};

static const char *const level_names[] = {"error", "warn", "notice", "info", "debug"};

const char *hs_log_level_name(hs_log_level_t level)
{
    return (unsigned)level < HS_ARRAY_LEN(level_names) ? level_names[level] : "?";
}

int hs_log_parse_level(const char *s, hs_log_level_t *level)
{
    static const struct {
        const char *name;
        hs_log_level_t level;
    } aliases[] = {{"err", HS_LOG_ERR}, {"warning", HS_LOG_WARN}};

    for (unsigned i = 0; i < HS_ARRAY_LEN(level_names); i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *level = (hs_log_level_t)i;
            return 0;
        }
    }
    for (unsigned i = 0; i < HS_ARRAY_LEN(aliases); i++) {
        if (strcasecmp(s, aliases[i].name) == 0) {
            *level = aliases[i].level;
            return 0;
        }
    }
    return -EINVAL;
}

static bool valid_level(hs_log_level_t level)
{
    return (unsigned)level <= HS_LOG_DEBUG;
}

static bool valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= HS_LOG_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* Caller holds the lock. */
static hs_log_sub_t *find_sub(const char *name)
{
    for (uint32_t i = 0; i < g_log.n_subs; i++)
        if (strcmp(g_log.subs[i].name, name) == 0)
            return &g_log.subs[i];
    return NULL;
}

/* Caller holds the lock. NULL for an invalid name or a full table. */
static hs_log_sub_t *find_or_add_sub(const char *name)
{
    if (!valid_name(name))
        return NULL;
    hs_log_sub_t *s = find_sub(name);
    if (s || g_log.n_subs == HS_LOG_MAX_SUBS)
        return s;
    s = &g_log.subs[g_log.n_subs++];
    memcpy(s->name, name, strlen(name) + 1);
    s->explicit_level = false;
    atomic_store_explicit(&s->level, g_log.default_level, memory_order_relaxed);
    return s;
}

hs_log_sub_t *hs_log_sub(const char *name)
{
    pthread_mutex_lock(&g_log.lock);
    hs_log_sub_t *s = find_or_add_sub(name);
    pthread_mutex_unlock(&g_log.lock);
    return s ? s : &g_log.other;
}

hs_log_sub_t *hs_log_site_init(hs_log_sub_t *_Atomic *site, const char *name)
{
    hs_log_sub_t *s = hs_log_sub(name);
    /* store-release: publishes the registered entry to other threads' load-acquire in
     * HS_LOG; racing call sites store the same pointer. */
    atomic_store_explicit(site, s, memory_order_release);
    return s;
}

/* Caller holds the lock. */
static int set_level_locked(const char *name, hs_log_level_t level)
{
    hs_log_sub_t *s = find_or_add_sub(name);
    if (!s)
        return -EINVAL;
    s->explicit_level = true;
    atomic_store_explicit(&s->level, (int)level, memory_order_relaxed);
    return 0;
}

/* Caller holds the lock. */
static void set_default_locked(hs_log_level_t level)
{
    g_log.default_level = (int)level;
    for (uint32_t i = 0; i < g_log.n_subs; i++)
        if (!g_log.subs[i].explicit_level)
            atomic_store_explicit(&g_log.subs[i].level, (int)level, memory_order_relaxed);
    atomic_store_explicit(&g_log.other.level, (int)level, memory_order_relaxed);
}

int hs_log_set_level(const char *name, hs_log_level_t level)
{
    if (!valid_level(level))
        return -EINVAL;
    pthread_mutex_lock(&g_log.lock);
    int rc = set_level_locked(name, level);
    pthread_mutex_unlock(&g_log.lock);
    return rc;
}

void hs_log_set_default(hs_log_level_t level)
{
    if (!valid_level(level))
        return;
    pthread_mutex_lock(&g_log.lock);
    set_default_locked(level);
    pthread_mutex_unlock(&g_log.lock);
}

hs_log_level_t hs_log_get_default(void)
{
    pthread_mutex_lock(&g_log.lock);
    int level = g_log.default_level;
    pthread_mutex_unlock(&g_log.lock);
    return (hs_log_level_t)level;
}

hs_log_level_t hs_log_get_level(const char *name)
{
    pthread_mutex_lock(&g_log.lock);
    hs_log_sub_t *s = find_sub(name);
    int level = s ? atomic_load_explicit(&s->level, memory_order_relaxed) : g_log.default_level;
    pthread_mutex_unlock(&g_log.lock);
    return (hs_log_level_t)level;
}

void hs_log_reset(hs_log_level_t default_level)
{
    pthread_mutex_lock(&g_log.lock);
    for (uint32_t i = 0; i < g_log.n_subs; i++)
        g_log.subs[i].explicit_level = false;
    set_default_locked(valid_level(default_level) ? default_level : HS_LOG_DEFAULT_LEVEL);
    pthread_mutex_unlock(&g_log.lock);
}

void hs_log_set_sink(hs_log_sink_fn fn, void *ctx)
{
    pthread_mutex_lock(&g_log.lock);
    g_log.sink = fn;
    g_log.sink_ctx = fn ? ctx : NULL;
    pthread_mutex_unlock(&g_log.lock);
}

/* ---- --log-level specs ---- */

typedef struct {
    char name[HS_LOG_NAME_MAX]; /* empty: the item sets the default */
    hs_log_level_t level;
} spec_item_t;

static void trim(const char **b, const char **e)
{
    while (*b < *e && (**b == ' ' || **b == '\t'))
        (*b)++;
    while (*e > *b && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
        (*e)--;
}

/* Copies [b, e) into out (size cap) as a C string; false when it does not fit. */
static bool copy_span(char *out, size_t cap, const char *b, const char *e)
{
    size_t n = (size_t)(e - b);
    if (n >= cap)
        return false;
    memcpy(out, b, n);
    out[n] = '\0';
    return true;
}

static int spec_error(char *err, size_t err_len, const char *what, const char *b, const char *e)
{
    if (err && err_len)
        snprintf(err, err_len,
                 "log level spec: %s '%.*s' (expected LEVEL or NAME=LEVEL, "
                 "LEVEL one of error, warn, notice, info, debug)",
                 what, (int)(e - b), b);
    return -EINVAL;
}

/* Parses one item [b, e) of a spec. */
static int parse_item(spec_item_t *it, const char *b, const char *e, char *err, size_t err_len)
{
    trim(&b, &e);
    if (b == e)
        return spec_error(err, err_len, "empty item", b, e);
    const char *eq = memchr(b, '=', (size_t)(e - b));
    const char *lb = eq ? eq + 1 : b, *le = e;
    it->name[0] = '\0';
    if (eq) {
        const char *nb = b, *ne = eq;
        trim(&nb, &ne);
        if (!copy_span(it->name, sizeof(it->name), nb, ne) || !valid_name(it->name))
            return spec_error(err, err_len, "bad subsystem name in", b, e);
        trim(&lb, &le);
    }
    char lvl[16];
    if (!copy_span(lvl, sizeof(lvl), lb, le) || hs_log_parse_level(lvl, &it->level) < 0)
        return spec_error(err, err_len, "bad level in", b, e);
    return 0;
}

int hs_log_apply_spec(const char *spec, char *err, size_t err_len)
{
    spec_item_t items[HS_LOG_MAX_SUBS + 1];
    uint32_t n = 0;
    const char *p = spec ? spec : "";
    const char *end = p + strlen(p);

    while (true) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *ie = comma ? comma : end;
        if (n == HS_ARRAY_LEN(items))
            return spec_error(err, err_len, "too many items in", spec, end);
        if (parse_item(&items[n++], p, ie, err, err_len) < 0)
            return -EINVAL;
        if (!comma)
            break;
        p = comma + 1;
    }

    /* Defaults first, so "tcp=debug,info" keeps tcp at debug. */
    pthread_mutex_lock(&g_log.lock);
    for (uint32_t i = 0; i < n; i++)
        if (!items[i].name[0])
            set_default_locked(items[i].level);
    int rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++)
        if (items[i].name[0])
            rc = set_level_locked(items[i].name, items[i].level);
    pthread_mutex_unlock(&g_log.lock);
    return rc;
}

/* ---- emitting lines ---- */

static void stderr_write(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* nowhere to report a failing stderr */
        buf += n;
        len -= (size_t)n;
    }
}

/* "2025-01-31T12:34:56.123456Z warn tcp: " into buf; returns its length. */
static size_t format_prefix(char *buf, size_t cap, const char *sub, hs_log_level_t level)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ %s %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000,
                     hs_log_level_name(level), sub);
    return n < 0 ? 0 : HS_MIN((size_t)n, cap - 1);
}

void hs_log_emit(hs_log_sub_t *sub, hs_log_level_t level, const char *fmt, ...)
{
    int saved_errno = errno; /* callers may log between a failing call and reading errno */
    char buf[HS_LOG_LINE_MAX];
    size_t p = format_prefix(buf, sizeof(buf) - 2, sub->name, level);
    size_t space = sizeof(buf) - p - 1; /* room for the message, its NUL, then '\n' */

    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + p, space, fmt, ap);
    va_end(ap);

    size_t msg_len;
    if (n < 0) {
        msg_len = (size_t)snprintf(buf + p, space, "(bad log format)");
    } else if ((size_t)n >= space) {
        msg_len = space - 1;
        if (msg_len >= 3)
            memcpy(buf + p + msg_len - 3, "...", 3);
    } else {
        msg_len = (size_t)n;
    }
    while (msg_len > 0 && buf[p + msg_len - 1] == '\n')
        msg_len--;
    buf[p + msg_len] = '\n';
    buf[p + msg_len + 1] = '\0';

    hs_log_record_t rec = {
        .level = level,
        .sub = sub->name,
        .line = buf,
        .line_len = p + msg_len + 1,
        .msg = buf + p,
        .msg_len = msg_len,
    };
    pthread_mutex_lock(&g_log.lock);
    if (g_log.sink)
        g_log.sink(g_log.sink_ctx, &rec);
    else
        stderr_write(rec.line, rec.line_len);
    pthread_mutex_unlock(&g_log.lock);
    errno = saved_errno;
}
