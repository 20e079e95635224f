/* Growing text buffer. */
#include "infra/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int str_reserve(hs_str_t *str, size_t extra)
{
    if (str->len + extra + 1 <= str->cap)
        return 0;
    size_t cap = HS_MAX(str->cap * 2, str->len + extra + 1);
    cap = HS_MAX(cap, 256);
    char *s = realloc(str->s, cap);
    if (!s)
        return -ENOMEM;
    str->s = s;
    str->cap = cap;
    return 0;
}

int hs_str_vprintf(hs_str_t *str, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return -EINVAL;
    if (str_reserve(str, (size_t)n) < 0)
        return -ENOMEM;
    vsnprintf(str->s + str->len, (size_t)n + 1, fmt, ap);
    str->len += (size_t)n;
    return 0;
}

int hs_str_printf(hs_str_t *str, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rv = hs_str_vprintf(str, fmt, ap);
    va_end(ap);
    return rv;
}

int hs_str_append(hs_str_t *str, const char *data, size_t len)
{
    if (str_reserve(str, len) < 0)
        return -ENOMEM;
    memcpy(str->s + str->len, data, len);
    str->len += len;
    str->s[str->len] = 0;
    return 0;
}

void hs_str_reset(hs_str_t *str)
{
    str->len = 0;
    if (str->s)
        str->s[0] = 0;
}

void hs_str_free(hs_str_t *str)
{
    free(str->s);
    *str = (hs_str_t){0};
}
