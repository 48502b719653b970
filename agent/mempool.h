/*
 * mempool.h - the fixed memory pool of a node.
 *
 * Each agent allocates one arena at start (--mem-pool-kb) and hands it to
 * dx_pool_init() together with a small metadata buffer; from then on a task
 * takes its declared memory with dx_pool_alloc() when it starts and gives it
 * back with dx_pool_free() when it ends, fails or is cancelled.  The pool
 * never calls malloc, never reads a clock and never does I/O.
 *
 * Blocks are 64-byte aligned and sized in 64-byte units; the bookkeeping
 * lives in the metadata buffer, not in the arena, so the whole arena is
 * usable (a 64 MiB pool holds a 64 MiB task) and a task that writes past
 * its block damages its neighbour's data but never the allocator.
 *
 * Not thread-safe: the event loop owns the pool; worker threads only write
 * into the blocks they were given.  See mempool.c for the algorithm, its
 * cost and its limits.
 */
#ifndef DX_MEMPOOL_H
#define DX_MEMPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dx_err.h"

#define DX_POOL_ALIGN 64u                      /* bytes: alignment and unit */
#define DX_POOL_MAX_UNITS ((UINT32_C(1) << 29) - 1u) /* 32 GiB - 64 B */

/* One pool.  Fill with dx_pool_init(); the fields are private. */
typedef struct dx_pool {
    unsigned char *base; /* first unit of the arena, 64-byte aligned */
    uint32_t *tag;       /* one boundary tag per unit (the metadata) */
    uint32_t nunits;     /* arena size in units */
    uint32_t free_units; /* sum of the free blocks */
    uint32_t free_blocks;
    uint32_t used_blocks;
} dx_pool;

/* Everything a heartbeat reports, from one walk over the blocks. */
typedef struct dx_pool_stat {
    size_t capacity;     /* bytes the pool manages */
    size_t free_bytes;   /* sum of the free blocks */
    size_t largest_free; /* the largest request that fits now */
    size_t free_blocks;  /* fragments: 1 when all free memory is one block */
    size_t used_blocks;  /* live allocations */
} dx_pool_stat;

/*
 * Bytes of metadata dx_pool_init() needs for an arena of `size` bytes: four
 * bytes per 64-byte unit (6.25 %), plus slack for aligning `meta`.
 */
size_t dx_pool_meta_size(size_t size);

/*
 * Makes one free block of the arena [mem, mem + size), after rounding mem
 * up to 64 bytes and the size down to a multiple of 64.  Both buffers stay
 * owned by the caller and must outlive the pool; the arena is not touched
 * here (it may be untouched mmap'ed memory).  The metadata must be zero-filled
 * (calloc, mmap, or memset): init writes only the tags of the one free
 * block, so a large idle pool costs no resident memory.
 * Returns DX_EINVAL for NULL arguments, DX_ERANGE when fewer than 64 or more
 * than DX_POOL_MAX_UNITS * 64 bytes remain after alignment, DX_ENOSPACE when
 * meta_size is below dx_pool_meta_size(size).
 */
int dx_pool_init(dx_pool *p, void *mem, size_t size, void *meta,
                 size_t meta_size);

/*
 * Takes the first free block, in address order, of at least `bytes`
 * rounded up to 64, splitting off the rest.  On success *out points to
 * 64-byte aligned memory owned by the caller until dx_pool_free(); it is
 * not cleared.  Returns DX_EINVAL for 0 bytes or NULL arguments, DX_ERANGE
 * when bytes exceeds the capacity (it would never fit: do not wait for it),
 * DX_EFULL when it does not fit now (wait for frees).  On error *out is
 * untouched and the pool unchanged.
 */
int dx_pool_alloc(dx_pool *p, size_t bytes, void **out);

/*
 * Gives back a block from dx_pool_alloc() and merges it with free
 * neighbours on both sides.  NULL is accepted and does nothing.  A pointer
 * that is not the start of a live block (a double free, a pointer inside a
 * block, from another pool or misaligned) returns DX_EINVAL and changes
 * nothing; the check is exact, not a heuristic.
 */
int dx_pool_free(dx_pool *p, void *ptr);

/* Bytes the pool manages: the arena after alignment. */
size_t dx_pool_capacity(const dx_pool *p);

/* Sum of the free blocks, in bytes.  O(1). */
size_t dx_pool_free_bytes(const dx_pool *p);

/* Size of the largest free block, in bytes.  O(blocks). */
size_t dx_pool_largest_free(const dx_pool *p);

/* True when dx_pool_alloc(p, bytes) would succeed now.  O(blocks). */
bool dx_pool_fits(const dx_pool *p, size_t bytes);

/* Fills *st from one walk over the blocks.  O(blocks). */
void dx_pool_stats(const dx_pool *p, dx_pool_stat *st);

/*
 * True when the metadata is consistent: blocks tile the arena, every block
 * has matching start and end tags, no other unit is tagged, no two free
 * blocks touch, and the counters match.  O(units); for tests and debugging.
 */
bool dx_pool_check(const dx_pool *p);

#endif
