/* The CLI framework: commands named by word paths ("set interface ip address"), matched
 * by the longest path (unique abbreviations allowed), help, and argument parsers that
 * write error sentences naming the command, the object and the fix. */
#ifndef HS_DAEMON_CLI_H
#define HS_DAEMON_CLI_H

#include "infra/common.h"
#include "infra/str.h"
#include "infra/vec.h"

#define HS_CLI_MAX_WORDS 64
#define HS_CLI_MAX_PATH  6 /* words in a command path */

typedef struct hs_cli_args hs_cli_args_t;

/* Runs a command; 0 or -errno (the error sentence was written with hs_cli_error). */
typedef int (*hs_cli_fn_t)(hs_cli_args_t *a);

typedef struct {
    const char *path;  /* "set interface state" */
    const char *usage; /* arguments after the path, "NAME up|down" */
    const char *help;  /* one line */
    hs_cli_fn_t fn;
} hs_cli_cmd_t;

typedef struct {
    hs_vec_t cmds; /* const hs_cli_cmd_t * */
    void *ctx;     /* handed to every command (the daemon) */
} hs_cli_t;

/* What a command sees: the words after its path, the output, the context. */
struct hs_cli_args {
    const hs_cli_cmd_t *cmd;
    char **words; /* arguments only */
    uint32_t n_words;
    uint32_t pos; /* next word to parse */
    hs_str_t *out;
    void *ctx;
};

void hs_cli_init(hs_cli_t *cli, void *ctx);
void hs_cli_free(hs_cli_t *cli);
/* Registers n commands (the array must outlive the CLI). 0 or -ENOMEM / -EEXIST. */
int hs_cli_register(hs_cli_t *cli, const hs_cli_cmd_t *cmds, uint32_t n);

/* Runs one command line; output and error sentences go to out. 0 for an empty line. */
int hs_cli_exec(hs_cli_t *cli, const char *line, hs_str_t *out);

/* Splits line into words (whitespace; "double quotes" group). Returns the count or
 * -E2BIG (too many words) / -EINVAL (unterminated quote). buf receives the word texts. */
int hs_cli_split(const char *line, char *buf, size_t buf_len, char **words, uint32_t max);

/* Argument parsing: each returns 0 or -EINVAL after writing an error sentence such as
 * "set interface mtu: '9x' is not a number for MTU (use 576..9000)". what names the
 * argument in the sentence. */
const char *hs_cli_peek(const hs_cli_args_t *a);
const char *hs_cli_word(hs_cli_args_t *a, const char *what); /* NULL after an error */
bool hs_cli_keyword(hs_cli_args_t *a, const char *kw);       /* consumes it when it matches */
bool hs_cli_at_end(const hs_cli_args_t *a);
int hs_cli_end(hs_cli_args_t *a); /* error when words are left over */
int hs_cli_u32(hs_cli_args_t *a, const char *what, uint32_t min, uint32_t max, uint32_t *v);
int hs_cli_ip4(hs_cli_args_t *a, const char *what, uint32_t *addr);
int hs_cli_prefix(hs_cli_args_t *a, const char *what, uint32_t *addr, uint8_t *len);
int hs_cli_mac(hs_cli_args_t *a, const char *what, uint8_t mac[6]);

/* Pure parsers behind the above (also used by tests and the startup file). */
int hs_cli_parse_u32(const char *s, uint32_t *v);
int hs_cli_parse_ip4(const char *s, uint32_t *addr);
int hs_cli_parse_prefix(const char *s, uint32_t *addr, uint8_t *len);
int hs_cli_parse_mac(const char *s, uint8_t mac[6]);

/* Writes "PATH: message" to the output; returns err (a negative errno) for tail calls. */
int hs_cli_error(hs_cli_args_t *a, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends command output. */
void hs_cli_printf(hs_cli_args_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Formats a host-order IPv4 address into buf (at least 16 bytes). */
const char *hs_cli_fmt_ip4(uint32_t addr, char *buf);

#endif
