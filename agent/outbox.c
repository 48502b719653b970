/*
 * outbox.c - the core's action queue.  See outbox.h.
 */
#include "outbox.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void dx_outbox_clear(dx_outbox *ob)
{
    ob->n = 0;
    ob->used = 0;
}

dx_action *dx_outbox_add(dx_outbox *ob, dx_act_type type, size_t cap)
{
    dx_action *a;
    if (ob->n == DX_OUTBOX_MAX || ob->used + cap + 1 > DX_OUTBOX_ARENA) {
        ob->dropped++;
        return NULL;
    }
    a = &ob->a[ob->n++];
    memset(a, 0, sizeof *a);
    a->type = type;
    a->off = ob->used;
    ob->used += cap + 1;
    ob->arena[a->off] = '\0';
    return a;
}

char *dx_outbox_payload(dx_outbox *ob, const dx_action *a)
{
    return ob->arena + a->off;
}

void dx_outbox_commit(dx_outbox *ob, dx_action *a)
{
    ob->arena[a->off + a->len] = '\0';
    if (a == &ob->a[ob->n - 1])
        ob->used = a->off + a->len + 1;
}

void dx_outbox_cancel(dx_outbox *ob, dx_action *a)
{
    if (ob->n > 0 && a == &ob->a[ob->n - 1]) {
        ob->used = a->off;
        ob->n--;
    }
}

void dx_outbox_log(dx_outbox *ob, dx_log_level level, const char *fmt, ...)
{
    va_list ap;
    int n;
    dx_action *a = dx_outbox_add(ob, DX_ACT_LOG, 512);
    if (a == NULL)
        return;
    a->level = level;
    va_start(ap, fmt);
    n = vsnprintf(dx_outbox_payload(ob, a), 512, fmt, ap);
    va_end(ap);
    a->len = n < 0 ? 0 : (size_t)n > 511 ? 511 : (size_t)n;
    dx_outbox_commit(ob, a);
}
