/*
 * dx_jsonw.c - the bounded JSON writer of the codecs.  See dx_jsonw.h.
 */
#include "dx_jsonw.h"

#include "dx_err.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dx_jw_put(dx_jw *w, const char *s, size_t n)
{
    if (n == 0)
        return;
    if (w->len + n < w->cap) /* keep room for the NUL */
        memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->last = s[n - 1];
}

void dx_jw_cstr(dx_jw *w, const char *s)
{
    dx_jw_put(w, s, strlen(s));
}

void dx_jw_sep(dx_jw *w)
{
    if (w->last != '{' && w->last != '[')
        dx_jw_put(w, ",", 1);
}

/* Control characters never get here: the checks rejected them. */
void dx_jw_str(dx_jw *w, const char *s)
{
    dx_jw_put(w, "\"", 1);
    while (*s != '\0') {
        size_t n = strcspn(s, "\"\\");
        dx_jw_put(w, s, n);
        s += n;
        if (*s != '\0') {
            char esc[2] = {'\\', *s++};
            dx_jw_put(w, esc, 2);
        }
    }
    dx_jw_put(w, "\"", 1);
}

void dx_jw_key(dx_jw *w, const char *key)
{
    dx_jw_sep(w);
    dx_jw_str(w, key);
    dx_jw_put(w, ":", 1);
}

void dx_jw_u64(dx_jw *w, uint64_t v)
{
    char tmp[20];
    size_t i = sizeof tmp;

    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    dx_jw_put(w, tmp + i, sizeof tmp - i);
}

/* Shortest of %.15g and %.17g that reads back exactly, with a '.' whatever
 * the locale. */
void dx_jw_dbl(dx_jw *w, double x)
{
    char tmp[32], *dp, point = *localeconv()->decimal_point;
    int n = snprintf(tmp, sizeof tmp, "%.15g", x);

    if (strtod(tmp, NULL) != x)
        n = snprintf(tmp, sizeof tmp, "%.17g", x);
    if (point != '.' && point != '\0' && (dp = strchr(tmp, point)) != NULL)
        *dp = '.';
    dx_jw_put(w, tmp, (size_t)n);
}

int dx_jw_finish(dx_jw *w, int rc, size_t max, size_t *len)
{
    if (rc == 0 && w->len > max)
        rc = DX_ETOOBIG;
    else if (rc == 0 && w->len >= w->cap)
        rc = DX_ENOSPACE;
    if (rc != 0) {
        if (w->cap > 0)
            w->buf[0] = '\0';
        return rc;
    }
    w->buf[w->len] = '\0';
    *len = w->len;
    return 0;
}
