/* CLI framework: word splitting, command matching by longest word path with unique
 * abbreviations, help, and the error-sentence helpers commands share. */
#include "daemon/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hs_cli_init(hs_cli_t *cli, void *ctx)
{
    hs_vec_init(&cli->cmds, sizeof(const hs_cli_cmd_t *));
    cli->ctx = ctx;
}

void hs_cli_free(hs_cli_t *cli)
{
    hs_vec_free(&cli->cmds);
}

static const hs_cli_cmd_t *cmd_at(const hs_cli_t *cli, uint32_t i)
{
    return HS_VEC_ELT(&cli->cmds, const hs_cli_cmd_t *, i);
}

int hs_cli_register(hs_cli_t *cli, const hs_cli_cmd_t *cmds, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        for (uint32_t j = 0; j < cli->cmds.len; j++)
            if (strcmp(cmd_at(cli, j)->path, cmds[i].path) == 0)
                return -EEXIST;
        const hs_cli_cmd_t *p = &cmds[i];
        if (!hs_vec_push(&cli->cmds, &p))
            return -ENOMEM;
    }
    return 0;
}

int hs_cli_split(const char *line, char *buf, size_t buf_len, char **words, uint32_t max)
{
    uint32_t n = 0;
    size_t o = 0;
    const char *p = line;
    if (strlen(line) + 1 > buf_len)
        return -E2BIG;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        if (!*p)
            return (int)n;
        if (n == max)
            return -E2BIG;
        words[n++] = &buf[o];
        bool quoted = false;
        while (*p && (quoted || !(*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))) {
            if (*p == '"')
                quoted = !quoted;
            else
                buf[o++] = *p;
            p++;
        }
        if (quoted)
            return -EINVAL;
        buf[o++] = '\0';
    }
}

/* Word i of a command path: its start and length, or NULL past the end. */
static const char *path_word(const char *path, uint32_t i, size_t *len)
{
    const char *p = path;
    for (;;) {
        size_t l = strcspn(p, " ");
        if (i == 0) {
            *len = l;
            return l ? p : NULL;
        }
        if (!p[l])
            return NULL;
        p += l + 1;
        i--;
    }
}

static uint32_t path_len(const char *path)
{
    uint32_t n = 0;
    size_t l;
    while (path_word(path, n, &l))
        n++;
    return n;
}

static bool word_is(const char *path, uint32_t i, const char *w, bool prefix)
{
    size_t l;
    const char *pw = path_word(path, i, &l);
    size_t wl = strlen(w);
    if (!pw || wl == 0 || wl > l)
        return false;
    return strncmp(pw, w, wl) == 0 && (prefix || wl == l);
}

typedef struct {
    const hs_cli_cmd_t **cand;
    uint32_t n;
} match_set_t;

/* Keeps the candidates whose path word d is w (exactly, or as a prefix). */
static uint32_t narrow(match_set_t *m, uint32_t d, const char *w, bool prefix,
                       const hs_cli_cmd_t **out)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < m->n; i++)
        if (word_is(m->cand[i]->path, d, w, prefix))
            out[k++] = m->cand[i];
    return k;
}

/* Counts the distinct path words at depth d among the candidates and lists them in out
 * (when not NULL), for messages. */
static uint32_t count_words(const match_set_t *m, uint32_t d, hs_str_t *out)
{
    uint32_t listed = 0;
    for (uint32_t i = 0; i < m->n; i++) {
        size_t l;
        const char *w = path_word(m->cand[i]->path, d, &l);
        bool seen = false;
        for (uint32_t j = 0; w && j < i && !seen; j++) {
            size_t l2;
            const char *w2 = path_word(m->cand[j]->path, d, &l2);
            seen = w2 && l2 == l && strncmp(w, w2, l) == 0;
        }
        if (w && !seen && out)
            hs_str_printf(out, "%s%.*s", listed ? ", " : "", (int)l, w);
        listed += w && !seen;
    }
    return listed;
}

static void phrase(char **words, uint32_t n, hs_str_t *out)
{
    for (uint32_t i = 0; i < n; i++)
        hs_str_printf(out, "%s%s", i ? " " : "", words[i]);
}

static void match_error(match_set_t *m, char **words, uint32_t n, uint32_t d, bool ambiguous,
                        hs_str_t *out)
{
    if (ambiguous) {
        hs_str_printf(out, "ambiguous command '");
        phrase(words, d + 1, out);
        hs_str_printf(out, "': '%s' could be: ", words[d]);
    } else if (d == 0) {
        hs_str_printf(out, "unknown command '%s' (try 'help')\n", n ? words[0] : "");
        return;
    } else if (d < n) {
        hs_str_printf(out, "unknown command '");
        phrase(words, d + 1, out);
        hs_str_printf(out, "': after '");
        phrase(words, d, out);
        hs_str_printf(out, "' comes one of: ");
    } else {
        hs_str_printf(out, "incomplete command '");
        phrase(words, d, out);
        hs_str_printf(out, "': add one of: ");
    }
    count_words(m, d, out);
    hs_str_printf(out, " (try 'help");
    for (uint32_t i = 0; i < d && i < n; i++)
        hs_str_printf(out, " %s", words[i]);
    hs_str_printf(out, "')\n");
}

/* The command named by the longest matching word path; *depth = its path length. */
static const hs_cli_cmd_t *match(const hs_cli_t *cli, char **words, uint32_t n, uint32_t *depth,
                                 hs_str_t *err)
{
    const hs_cli_cmd_t **buf = malloc(2 * (cli->cmds.len + 1) * sizeof(*buf));
    if (!buf)
        return NULL;
    match_set_t m = {buf, cli->cmds.len};
    const hs_cli_cmd_t **next = buf + cli->cmds.len + 1;
    if (cli->cmds.len)
        memcpy(m.cand, cli->cmds.data, cli->cmds.len * sizeof(*buf));
    const hs_cli_cmd_t *best = NULL;
    uint32_t d = 0;
    bool ambiguous = false;
    for (;; d++) {
        for (uint32_t i = 0; i < m.n; i++)
            if (path_len(m.cand[i]->path) == d)
                best = m.cand[i], *depth = d;
        if (d == n)
            break;
        uint32_t k = narrow(&m, d, words[d], false, next);
        if (k == 0) {
            k = narrow(&m, d, words[d], true, next);
            if (k == 0)
                break;
            ambiguous = count_words(&(match_set_t){next, k}, d, NULL) > 1;
        }
        const hs_cli_cmd_t **t = m.cand;
        m.cand = next, next = t, m.n = k;
        if (ambiguous)
            break;
    }
    /* An ambiguous word right after a complete command is its argument; deeper down it
     * is a typo the user should hear about. */
    if (!best || (ambiguous && *depth != d)) {
        match_error(&m, words, n, d, ambiguous, err);
        best = NULL;
    }
    free(buf);
    return best;
}

static void help(const hs_cli_t *cli, char **words, uint32_t n, hs_str_t *out)
{
    uint32_t shown = 0;
    for (uint32_t i = 0; i < cli->cmds.len; i++) {
        const hs_cli_cmd_t *c = cmd_at(cli, i);
        bool ok = true;
        for (uint32_t w = 0; w < n && ok; w++)
            ok = word_is(c->path, w, words[w], true);
        if (!ok)
            continue;
        shown++;
        hs_str_printf(out, "  %s%s%s\n      %s\n", c->path, c->usage[0] ? " " : "", c->usage,
                      c->help);
    }
    if (shown && n == 0)
        hs_str_printf(out, "  help [WORDS]  or  WORDS ?\n      list the commands (starting with "
                           "WORDS); words may be abbreviated while unique\n");
    if (!shown) {
        hs_str_printf(out, "help: no command starts with '");
        phrase(words, n, out);
        hs_str_printf(out, "' (try 'help')\n");
    }
}

/* "help WORDS", "? WORDS" or "WORDS ?": the WORDS start at *first, *count of them. */
static bool is_help(char **words, uint32_t n, uint32_t *first, uint32_t *count)
{
    if (n && (strcmp(words[0], "help") == 0 || strcmp(words[0], "?") == 0)) {
        *first = 1, *count = n - 1;
        return true;
    }
    if (n && strcmp(words[n - 1], "?") == 0) {
        *first = 0, *count = n - 1;
        return true;
    }
    return false;
}

int hs_cli_exec(hs_cli_t *cli, const char *line, hs_str_t *out)
{
    size_t len = strlen(line) + 1;
    char *buf = malloc(len);
    char *words[HS_CLI_MAX_WORDS];
    if (!buf)
        return -ENOMEM;
    int n = hs_cli_split(line, buf, len, words, HS_CLI_MAX_WORDS);
    int rv = 0;
    uint32_t hfirst = 0, hn = 0, depth = 0;
    if (n < 0) {
        hs_str_printf(out, "%s\n",
                      n == -EINVAL ? "unterminated \" in the command line"
                                   : "too many words in the command line");
        rv = n;
    } else if (n > 0 && is_help(words, (uint32_t)n, &hfirst, &hn)) {
        help(cli, words + hfirst, hn, out);
    } else if (n > 0) {
        const hs_cli_cmd_t *cmd = match(cli, words, (uint32_t)n, &depth, out);
        if (!cmd) {
            rv = -EINVAL;
        } else {
            hs_cli_args_t a = {cmd, words + depth, (uint32_t)n - depth, 0, out, cli->ctx};
            rv = cmd->fn(&a);
        }
    }
    free(buf);
    return rv;
}

/* --- argument helpers --- */

int hs_cli_error(hs_cli_args_t *a, int err, const char *fmt, ...)
{
    va_list ap;
    hs_str_printf(a->out, "%s: ", a->cmd->path);
    va_start(ap, fmt);
    hs_str_vprintf(a->out, fmt, ap);
    va_end(ap);
    hs_str_printf(a->out, "\n");
    return err;
}

void hs_cli_printf(hs_cli_args_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hs_str_vprintf(a->out, fmt, ap);
    va_end(ap);
}

const char *hs_cli_peek(const hs_cli_args_t *a)
{
    return a->pos < a->n_words ? a->words[a->pos] : NULL;
}

bool hs_cli_at_end(const hs_cli_args_t *a)
{
    return a->pos >= a->n_words;
}

const char *hs_cli_word(hs_cli_args_t *a, const char *what)
{
    if (a->pos >= a->n_words) {
        hs_cli_error(a, -EINVAL, "missing %s (usage: %s %s)", what, a->cmd->path, a->cmd->usage);
        return NULL;
    }
    return a->words[a->pos++];
}

bool hs_cli_keyword(hs_cli_args_t *a, const char *kw)
{
    if (a->pos < a->n_words && strcmp(a->words[a->pos], kw) == 0) {
        a->pos++;
        return true;
    }
    return false;
}

int hs_cli_end(hs_cli_args_t *a)
{
    if (a->pos >= a->n_words)
        return 0;
    return hs_cli_error(a, -EINVAL, "unexpected '%s' (usage: %s %s)", a->words[a->pos],
                        a->cmd->path, a->cmd->usage);
}

int hs_cli_parse_u32(const char *s, uint32_t *v)
{
    uint64_t x = 0;
    if (!*s)
        return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        x = x * 10 + (uint64_t)(*s - '0');
        if (x > UINT32_MAX)
            return -ERANGE;
    }
    *v = (uint32_t)x;
    return 0;
}

int hs_cli_parse_ip4(const char *s, uint32_t *addr)
{
    uint32_t a = 0;
    for (int i = 0; i < 4; i++) {
        uint32_t octet = 0;
        int digits = 0;
        for (; *s >= '0' && *s <= '9' && digits < 4; s++, digits++)
            octet = octet * 10 + (uint32_t)(*s - '0');
        if (digits == 0 || digits > 3 || octet > 255)
            return -EINVAL;
        a = (a << 8) | octet;
        if (i < 3 && *s++ != '.')
            return -EINVAL;
    }
    if (*s)
        return -EINVAL;
    *addr = a;
    return 0;
}

int hs_cli_parse_prefix(const char *s, uint32_t *addr, uint8_t *len)
{
    char tmp[32];
    const char *slash = strchr(s, '/');
    uint32_t l;
    if (!slash || (size_t)(slash - s) >= sizeof(tmp))
        return -EINVAL;
    memcpy(tmp, s, (size_t)(slash - s));
    tmp[slash - s] = '\0';
    if (hs_cli_parse_ip4(tmp, addr) < 0 || hs_cli_parse_u32(slash + 1, &l) < 0 || l > 32)
        return -EINVAL;
    *len = (uint8_t)l;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int hs_cli_parse_mac(const char *s, uint8_t mac[6])
{
    for (int i = 0; i < 6; i++) {
        int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        mac[i] = (uint8_t)(hi << 4 | lo);
        s += 2;
        if (i < 5 && *s++ != ':')
            return -EINVAL;
    }
    return *s ? -EINVAL : 0;
}

int hs_cli_u32(hs_cli_args_t *a, const char *what, uint32_t min, uint32_t max, uint32_t *v)
{
    const char *w = hs_cli_word(a, what);
    if (!w)
        return -EINVAL;
    if (hs_cli_parse_u32(w, v) < 0 || *v < min || *v > max)
        return hs_cli_error(a, -EINVAL, "'%s' is not a valid %s (use %u..%u)", w, what, min, max);
    return 0;
}

int hs_cli_ip4(hs_cli_args_t *a, const char *what, uint32_t *addr)
{
    const char *w = hs_cli_word(a, what);
    if (!w)
        return -EINVAL;
    if (hs_cli_parse_ip4(w, addr) < 0)
        return hs_cli_error(a, -EINVAL, "'%s' is not a valid %s (use A.B.C.D)", w, what);
    return 0;
}

int hs_cli_prefix(hs_cli_args_t *a, const char *what, uint32_t *addr, uint8_t *len)
{
    const char *w = hs_cli_word(a, what);
    if (!w)
        return -EINVAL;
    if (hs_cli_parse_prefix(w, addr, len) < 0)
        return hs_cli_error(a, -EINVAL, "'%s' is not a valid %s (use A.B.C.D/LEN, LEN 0..32)", w,
                            what);
    return 0;
}

int hs_cli_mac(hs_cli_args_t *a, const char *what, uint8_t mac[6])
{
    const char *w = hs_cli_word(a, what);
    if (!w)
        return -EINVAL;
    if (hs_cli_parse_mac(w, mac) < 0)
        return hs_cli_error(a, -EINVAL, "'%s' is not a valid %s (use xx:xx:xx:xx:xx:xx)", w, what);
    return 0;
}

const char *hs_cli_fmt_ip4(uint32_t addr, char *buf)
{
    snprintf(buf, 16, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 255, (addr >> 8) & 255, addr & 255);
    return buf;
}
