/*
 * idindex.h - an open-addressing index from a name (a task id) to a slot,
 * shared by the task table and the node executor.
 *
 * The index is an array of uint32_t, a power of two long, holding slot + 1
 * (0 = empty); collisions probe linearly and deletion shifts later entries
 * back, so there are no tombstones and lookups stay short however much the
 * table churns.  The caller keeps the names: `key` returns the name of a
 * slot.  Keep the load under one half.  Pure; no allocation.
 */
#ifndef DX_IDINDEX_H
#define DX_IDINDEX_H

#include <stdint.h>

/* The name of `slot`, owned by the caller. */
typedef const char *(*dx_idx_key)(const void *ctx, uint32_t slot);

typedef struct dx_idindex {
    uint32_t *v;          /* slot + 1, 0 = empty */
    uint32_t mask;        /* length - 1 */
    dx_idx_key key;
    const void *ctx;
} dx_idindex;

/* The slot named `id`, or -1. */
int64_t dx_idx_find(const dx_idindex *x, const char *id);

/* Adds `slot` under `id` (not present yet). */
void dx_idx_add(const dx_idindex *x, const char *id, uint32_t slot);

/* Removes the entry for `id`, if any. */
void dx_idx_del(const dx_idindex *x, const char *id);

#endif
