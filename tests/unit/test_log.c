/* Logging tests: level filtering (global and per subsystem), --log-level specs good and
 * bad, line format, truncation, sink capture, and whole lines under concurrent writers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "infra/log.h"

#define CAP_LINES 64

typedef struct {
    int n;
    hs_log_level_t level[CAP_LINES];
    char sub[CAP_LINES][HS_LOG_NAME_MAX];
    char msg[CAP_LINES][HS_LOG_LINE_MAX];
    char line[CAP_LINES][HS_LOG_LINE_MAX];
    size_t line_len[CAP_LINES];
} capture_t;

static void capture_sink(void *ctx, const hs_log_record_t *rec)
{
    capture_t *c = ctx;
    if (c->n == CAP_LINES)
        return;
    int i = c->n++;
    c->level[i] = rec->level;
    snprintf(c->sub[i], sizeof(c->sub[i]), "%s", rec->sub);
    snprintf(c->msg[i], sizeof(c->msg[i]), "%.*s", (int)rec->msg_len, rec->msg);
    memcpy(c->line[i], rec->line, rec->line_len + 1);
    c->line_len[i] = rec->line_len;
}

static int setup(void **state)
{
    capture_t *c = calloc(1, sizeof(*c));
    hs_log_reset(HS_LOG_NOTICE);
    hs_log_set_sink(capture_sink, c);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    hs_log_set_sink(NULL, NULL);
    hs_log_reset(HS_LOG_NOTICE);
    free(*state);
    return 0;
}

static int side_effects;

static int bump(void)
{
    return ++side_effects;
}

static void test_default_level_filters(void **state)
{
    capture_t *c = *state;
    side_effects = 0;
    HS_LOG_DEBUG("tcp", "debug %d", bump());
    HS_LOG_INFO("tcp", "info %d", bump());
    assert_int_equal(c->n, 0);
    assert_int_equal(side_effects, 0); /* arguments not evaluated when off */
    HS_LOG_NOTICE("tcp", "notice %d", bump());
    HS_LOG_WARN("tcp", "warn");
    HS_LOG_ERR("tcp", "err %s", "x");
    assert_int_equal(side_effects, 1);
    assert_int_equal(c->n, 3);
    assert_string_equal(c->msg[0], "notice 1");
    assert_int_equal(c->level[0], HS_LOG_NOTICE);
    assert_string_equal(c->msg[1], "warn");
    assert_int_equal(c->level[1], HS_LOG_WARN);
    assert_string_equal(c->msg[2], "err x");
    assert_int_equal(c->level[2], HS_LOG_ERR);
    assert_string_equal(c->sub[2], "tcp");

    hs_log_set_default(HS_LOG_ERR);
    HS_LOG_WARN("tcp", "hidden");
    assert_int_equal(c->n, 3);
    hs_log_set_default(HS_LOG_DEBUG);
    HS_LOG_DEBUG("tcp", "shown");
    assert_int_equal(c->n, 4);
    assert_string_equal(c->msg[3], "shown");
}

/* "2025-01-31T12:34:56.123456Z warn svm: message\n" */
static void test_line_format(void **state)
{
    capture_t *c = *state;
    HS_LOG_WARN("svm", "fifo %u full", 7u);
    assert_int_equal(c->n, 1);
    const char *l = c->line[0];
    assert_int_equal(strlen(l), c->line_len[0]);
    assert_true(c->line_len[0] > 28);
    for (int i = 0; i < 27; i++) {
        const char *shape = "dddd-dd-ddTdd:dd:dd.ddddddZ";
        if (shape[i] == 'd')
            assert_true(l[i] >= '0' && l[i] <= '9');
        else
            assert_int_equal(l[i], shape[i]);
    }
    assert_string_equal(l + 27, " warn svm: fifo 7 full\n");
}

static void test_per_subsystem_levels(void **state)
{
    capture_t *c = *state;
    side_effects = 0;
    hs_log_set_default(HS_LOG_WARN);
    assert_int_equal(hs_log_set_level("tcp", HS_LOG_DEBUG), 0);
    assert_int_equal(hs_log_get_level("tcp"), HS_LOG_DEBUG);
    assert_int_equal(hs_log_get_level("svm"), HS_LOG_WARN);
    HS_LOG_DEBUG("tcp", "tcp debug");
    HS_LOG_DEBUG("svm", "svm debug");
    HS_LOG_INFO("session", "session info");
    HS_LOG_WARN("session", "session warn");
    assert_int_equal(c->n, 2);
    assert_string_equal(c->msg[0], "tcp debug");
    assert_string_equal(c->sub[0], "tcp");
    assert_string_equal(c->msg[1], "session warn");
    assert_string_equal(c->sub[1], "session");

    /* A subsystem set by name keeps its level when the default changes. */
    hs_log_set_default(HS_LOG_ERR);
    assert_int_equal(hs_log_get_level("tcp"), HS_LOG_DEBUG);
    assert_int_equal(hs_log_get_level("svm"), HS_LOG_ERR);
    HS_LOG_DEBUG("tcp", "still");
    HS_LOG_WARN("svm", "not");
    assert_int_equal(c->n, 3);
    assert_string_equal(c->msg[2], "still");

    /* The subsystem object seen by call sites reflects changes at once. */
    hs_log_sub_t *svm = hs_log_sub("svm");
    assert_false(hs_log_enabled(svm, HS_LOG_INFO));
    assert_int_equal(hs_log_set_level("svm", HS_LOG_INFO), 0);
    assert_true(hs_log_enabled(svm, HS_LOG_INFO));
    assert_ptr_equal(svm, hs_log_sub("svm"));

    /* A subsystem resolved at run time logs through HS_LOG_TO. */
    char dyn[16];
    snprintf(dyn, sizeof(dyn), "tap%d", 3);
    hs_log_sub_t *tap = hs_log_sub(dyn);
    HS_LOG_TO(tap, HS_LOG_INFO, "hidden %d", bump());
    assert_int_equal(hs_log_set_level("tap3", HS_LOG_INFO), 0);
    HS_LOG_TO(tap, HS_LOG_INFO, "link up");
    assert_int_equal(c->n, 4);
    assert_string_equal(c->sub[3], "tap3");
    assert_string_equal(c->msg[3], "link up");
    assert_int_equal(side_effects, 0);

    assert_int_equal(hs_log_set_level("bad name", HS_LOG_INFO), -EINVAL);
    assert_int_equal(hs_log_set_level("tcp", (hs_log_level_t)99), -EINVAL);
    assert_int_equal(hs_log_set_level("", HS_LOG_INFO), -EINVAL);
    assert_int_equal(hs_log_set_level("abcdefghijklmnop", HS_LOG_INFO), -EINVAL); /* 16 */
    assert_int_equal(hs_log_set_level("abcdefghijklmno", HS_LOG_INFO), 0);        /* 15 */
}

static void test_parse_level_names(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        hs_log_level_t level;
    } good[] = {
        {"error", HS_LOG_ERR}, {"err", HS_LOG_ERR},      {"ERROR", HS_LOG_ERR},
        {"warn", HS_LOG_WARN}, {"warning", HS_LOG_WARN}, {"notice", HS_LOG_NOTICE},
        {"info", HS_LOG_INFO}, {"Debug", HS_LOG_DEBUG},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        hs_log_level_t l = (hs_log_level_t)-1;
        assert_int_equal(hs_log_parse_level(good[i].s, &l), 0);
        assert_int_equal(l, good[i].level);
    }
    static const char *bad[] = {"", "deb", "debugx", "verbose", " info", "5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        hs_log_level_t l = HS_LOG_INFO;
        assert_int_equal(hs_log_parse_level(bad[i], &l), -EINVAL);
        assert_int_equal(l, HS_LOG_INFO);
    }
    assert_string_equal(hs_log_level_name(HS_LOG_ERR), "error");
    assert_string_equal(hs_log_level_name(HS_LOG_DEBUG), "debug");
}

static void test_apply_spec(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(hs_log_apply_spec("debug", err, sizeof(err)), 0);
    assert_int_equal(hs_log_get_default(), HS_LOG_DEBUG);
    assert_int_equal(hs_log_get_level("tcp"), HS_LOG_DEBUG);

    hs_log_reset(HS_LOG_NOTICE);
    assert_int_equal(hs_log_apply_spec("tcp=debug,svm=info", err, sizeof(err)), 0);
    assert_int_equal(hs_log_get_default(), HS_LOG_NOTICE);
    assert_int_equal(hs_log_get_level("tcp"), HS_LOG_DEBUG);
    assert_int_equal(hs_log_get_level("svm"), HS_LOG_INFO);
    assert_int_equal(hs_log_get_level("session"), HS_LOG_NOTICE);

    /* A default anywhere in the list does not override named subsystems. */
    hs_log_reset(HS_LOG_NOTICE);
    assert_int_equal(hs_log_apply_spec(" tcp = debug , warn ", err, sizeof(err)), 0);
    assert_int_equal(hs_log_get_default(), HS_LOG_WARN);
    assert_int_equal(hs_log_get_level("tcp"), HS_LOG_DEBUG);
    assert_int_equal(hs_log_get_level("session"), HS_LOG_WARN);

    /* A subsystem named before its code ever logged is registered and honoured. */
    hs_log_reset(HS_LOG_NOTICE);
    assert_int_equal(hs_log_apply_spec("newsub=debug", NULL, 0), 0);
    assert_true(hs_log_enabled(hs_log_sub("newsub"), HS_LOG_DEBUG));
}

static void test_apply_spec_errors(void **state)
{
    (void)state;
    static const struct {
        const char *spec;
        const char *must_name; /* the sentence quotes the bad item */
    } bad[] = {
        {"", "''"},
        {"verbose", "'verbose'"},
        {"tcp=", "'tcp='"},
        {"=debug", "'=debug'"},
        {"tcp=debug,,svm=info", "empty item"},
        {"tcp=debug,", "empty item"},
        {"tcp=debgu", "'tcp=debgu'"},
        {"t cp=debug", "'t cp=debug'"},
        {"tcp=debug=info", "'tcp=debug=info'"},
        {"averyveryverylongname=debug", "averyveryverylongname"},
        {"svm=info,tcp:debug", "'tcp:debug'"},
    };
    hs_log_reset(HS_LOG_NOTICE);
    hs_log_set_level("svm", HS_LOG_WARN);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        assert_int_equal(hs_log_apply_spec(bad[i].spec, err, sizeof(err)), -EINVAL);
        if (!strstr(err, bad[i].must_name))
            fail_msg("spec '%s': message '%s' does not name '%s'", bad[i].spec, err,
                     bad[i].must_name);
        /* Nothing was applied. */
        assert_int_equal(hs_log_get_default(), HS_LOG_NOTICE);
        assert_int_equal(hs_log_get_level("svm"), HS_LOG_WARN);
        assert_int_equal(hs_log_get_level("tcp"), HS_LOG_NOTICE);
    }
    assert_int_equal(hs_log_apply_spec(NULL, NULL, 0), -EINVAL);
    char small[8];
    assert_int_equal(hs_log_apply_spec("x=y", small, sizeof(small)), -EINVAL);
    assert_int_equal(strlen(small), sizeof(small) - 1); /* truncated, terminated */
}

static void test_long_line_truncated(void **state)
{
    capture_t *c = *state;
    char big[3000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    HS_LOG_ERR("tcp", "%s", big);
    assert_int_equal(c->n, 1);
    assert_true(c->line_len[0] == HS_LOG_LINE_MAX - 1 || c->line_len[0] == HS_LOG_LINE_MAX - 2);
    assert_int_equal(strlen(c->line[0]), c->line_len[0]);
    const char *tail = c->line[0] + c->line_len[0] - 4;
    assert_string_equal(tail, "...\n");
    assert_int_equal(c->msg[0][0], 'a');

    /* A trailing newline in the format is not doubled. */
    HS_LOG_ERR("tcp", "ends with newline\n");
    assert_string_equal(c->msg[1], "ends with newline");
    assert_int_equal(c->line[1][c->line_len[1] - 1], '\n');
    assert_int_not_equal(c->line[1][c->line_len[1] - 2], '\n');
}

static void test_errno_preserved(void **state)
{
    (void)state;
    errno = EPIPE;
    HS_LOG_ERR("tcp", "write failed");
    assert_int_equal(errno, EPIPE);
}

/* Threads log through the default sink into stderr redirected to a file: every line
 * must come out whole. */
#define N_THREADS 4
#define N_LINES   2000

static void *writer(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < N_LINES; i++)
        HS_LOG_ERR("mt", "thread %d line %d %s", id, i,
                   "padding-padding-padding-padding-padding-padding-padding");
    return NULL;
}

static void test_threads_default_sink(void **state)
{
    (void)state;
    hs_log_set_sink(NULL, NULL);
    char path[] = "/tmp/hs-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);

    pthread_t th[N_THREADS];
    for (int i = 0; i < N_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, writer, (void *)(intptr_t)i), 0);
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    dup2(saved, STDERR_FILENO);
    close(saved);

    FILE *f = fdopen(fd, "r");
    assert_non_null(f);
    rewind(f);
    char line[HS_LOG_LINE_MAX];
    int next[N_THREADS] = {0};
    int total = 0;
    while (fgets(line, sizeof(line), f)) {
        int id, n;
        char pad[128];
        const char *m = strstr(line, " error mt: ");
        assert_non_null(m);
        assert_int_equal(sscanf(m, " error mt: thread %d line %d %127s", &id, &n, pad), 3);
        assert_true(id >= 0 && id < N_THREADS);
        assert_int_equal(n, next[id]); /* each thread's lines in order, none lost */
        next[id]++;
        assert_string_equal(pad, "padding-padding-padding-padding-padding-padding-padding");
        assert_int_equal(line[strlen(line) - 1], '\n');
        total++;
    }
    fclose(f);
    assert_int_equal(total, N_THREADS * N_LINES);
}

/* Runs last: it fills the subsystem table. */
static void test_table_full_uses_other(void **state)
{
    capture_t *c = *state;
    hs_log_sub_t *last = NULL;
    for (int i = 0; i < HS_LOG_MAX_SUBS + 4; i++) {
        char name[16];
        snprintf(name, sizeof(name), "fill%d", i);
        last = hs_log_sub(name);
    }
    assert_string_equal(last->name, "other");
    assert_string_equal(hs_log_sub("bad name!")->name, "other");
    hs_log_set_default(HS_LOG_INFO);
    HS_LOG_INFO("no room here", "to other");
    assert_int_equal(c->n, 1);
    assert_string_equal(c->sub[0], "other");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_default_level_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_line_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_per_subsystem_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_level_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_spec, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_spec_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_line_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errno_preserved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_default_sink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_table_full_uses_other, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
