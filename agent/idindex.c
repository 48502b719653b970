/*
 * idindex.c - name to slot index with linear probing.  See idindex.h.
 */
#include "idindex.h"

#include <string.h>

/* FNV-1a: short ids, no adversarial load (ids are validated names). */
static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

int64_t dx_idx_find(const dx_idindex *x, const char *id)
{
    uint32_t i = hash(id) & x->mask;
    for (; x->v[i] != 0; i = (i + 1) & x->mask)
        if (strcmp(x->key(x->ctx, x->v[i] - 1), id) == 0)
            return (int64_t)x->v[i] - 1;
    return -1;
}

void dx_idx_add(const dx_idindex *x, const char *id, uint32_t slot)
{
    uint32_t i = hash(id) & x->mask;
    while (x->v[i] != 0)
        i = (i + 1) & x->mask;
    x->v[i] = slot + 1;
}

void dx_idx_del(const dx_idindex *x, const char *id)
{
    uint32_t i = hash(id) & x->mask, j;
    while (x->v[i] != 0 && strcmp(x->key(x->ctx, x->v[i] - 1), id) != 0)
        i = (i + 1) & x->mask;
    if (x->v[i] == 0)
        return;
    /* Shift back every later entry of the run that the hole would hide. */
    for (j = (i + 1) & x->mask; x->v[j] != 0; j = (j + 1) & x->mask) {
        uint32_t home = hash(x->key(x->ctx, x->v[j] - 1)) & x->mask;
        if (((j - home) & x->mask) >= ((j - i) & x->mask)) {
            x->v[i] = x->v[j];
            i = j;
        }
    }
    x->v[i] = 0;
}
