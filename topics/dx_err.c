/*
 * dx_err.c - texts for the error codes of dx_err.h.
 */
#include "dx_err.h"

#include <stdarg.h>
#include <stdio.h>

const char *dx_strerror(int err)
{
    switch (err) {
    case DX_OK:
        return "success";
#define DX_ERR_TEXT(name, text) \
    case DX_E##name:            \
        return text;
        DX_ERRNO_MAP(DX_ERR_TEXT)
#undef DX_ERR_TEXT
    default:
        return "unknown error";
    }
}

int dx_diag_set(dx_diag *d, int err, const char *fmt, ...)
{
    if (d != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->msg, sizeof d->msg, fmt, ap);
        va_end(ap);
    }
    return err;
}
