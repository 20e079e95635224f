/* A growing, always NUL-terminated text buffer: CLI replies, show commands, traces. */
#ifndef HS_INFRA_STR_H
#define HS_INFRA_STR_H

#include "infra/common.h"
#include <stdarg.h>

typedef struct {
    char *s; /* NULL until the first append */
    size_t len;
    size_t cap;
} hs_str_t;

/* Append formatted text. Returns 0 or -ENOMEM (the buffer keeps what it had). */
int hs_str_printf(hs_str_t *str, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int hs_str_vprintf(hs_str_t *str, const char *fmt, va_list ap);
int hs_str_append(hs_str_t *str, const char *data, size_t len);
void hs_str_reset(hs_str_t *str);
void hs_str_free(hs_str_t *str);

static inline const char *hs_str_cstr(const hs_str_t *str)
{
    return str->s ? str->s : "";
}

#endif
