/* Start-up configuration: the startup file (-c), a list of CLI commands, and --demo,
 * which is itself a few CLI commands, so both speak the language hsctl speaks. */
#include "daemon/hsd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A blank line or one whose first non-blank character is '#'. */
static bool skip_line(const char *line)
{
    line += strspn(line, " \t\r\n");
    return *line == '\0' || *line == '#';
}

/* The first line of a command's output (its error sentence), without the newline. */
static void first_line(const hs_str_t *out, char *buf, size_t len)
{
    const char *s = hs_str_cstr(out);
    size_t n = strcspn(s, "\n");
    snprintf(buf, len, "%.*s", (int)HS_MIN(n, len - 1), s);
}

int hs_startup_run(hs_daemon_t *d, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "hsd: -c %s: %s\n", path, strerror(errno));
        return -errno;
    }
    char *line = NULL;
    size_t cap = 0;
    uint32_t lineno = 0;
    int rv = 0;
    while (rv == 0 && getline(&line, &cap, f) >= 0) {
        lineno++;
        if (skip_line(line))
            continue;
        hs_str_t out = {0};
        rv = hs_daemon_exec(d, line, &out);
        if (rv < 0) {
            char reason[512];
            first_line(&out, reason, sizeof(reason));
            fprintf(stderr, "%s:%u: %s\n", path, lineno, reason[0] ? reason : strerror(-rv));
        } else if (out.len) {
            fputs(hs_str_cstr(&out), stdout); /* show commands in a startup file print */
        }
        hs_str_free(&out);
    }
    free(line);
    fclose(f);
    return rv;
}

int hs_demo_run(hs_daemon_t *d)
{
    static const char *const cmds[] = {
        "create tap name hs0 host-ip 10.10.0.1/24",
        "set interface ip address hs0 10.10.0.2/24",
        "set interface state hs0 up",
        "test echo server uri tcp://10.10.0.2/7",
    };
    for (size_t i = 0; i < HS_ARRAY_LEN(cmds); i++) {
        hs_str_t out = {0};
        int rv = hs_daemon_exec(d, cmds[i], &out);
        if (rv < 0)
            fprintf(stderr, "hsd: --demo: %s", hs_str_cstr(&out));
        hs_str_free(&out);
        if (rv < 0)
            return rv;
    }
    printf("hsd: demo ready: tap hs0, host 10.10.0.1/24, stack 10.10.0.2 \u2014 try: ping "
           "10.10.0.2\n");
    printf("hsd: echo server on tcp://10.10.0.2/7 \u2014 try: socat - TCP:10.10.0.2:7\n");
    fflush(stdout);
    return 0;
}
