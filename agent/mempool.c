/*
 * mempool.c - first-fit allocator over a node's fixed memory pool.
 *
 * Algorithm.  The arena is cut into 64-byte units and tiled by blocks, each
 * a run of units that is either used or free.  The bookkeeping is a side
 * table of one 32-bit boundary tag per unit, kept outside the arena: the
 * first and the last unit of every block carry (length, used, START/END),
 * a one-unit block carries both flags in one tag, and every other entry is
 * zero.  Walking the start tags from unit 0 visits the blocks in address
 * order, so allocation is first-fit over the free blocks in address order:
 * take the first free block long enough, split the remainder off as a new
 * free block.  A free looks at the end tag of the unit just before the
 * block and the start tag just after it and merges with either or both free
 * neighbours, so two free blocks never touch.  Only the tags at the seams
 * change, which keeps "every non-boundary entry is zero" true in O(1); that
 * invariant is what makes the double-free and foreign-pointer check exact:
 * a pointer is accepted only if its unit holds the start tag of a used block.
 *
 * Cost.  alloc, fits, largest_free and stats walk the blocks: O(blocks),
 * and blocks <= 2 * used + 1 (a node runs tens of tasks, so tens of steps).
 * free is O(1); free_bytes and capacity are O(1); init clears the tag
 * table, O(units); check is O(units).  No allocation, no clock, no I/O.
 *
 * Limits.  Metadata costs 4 bytes per 64-byte unit (6.25 %: 4 MiB for the
 * default 64 MiB pool), the price of exact checks and of an arena that task
 * overruns cannot corrupt.  Requests are rounded up to 64 bytes, so a
 * 1-byte request holds 64.  Arenas hold at most 2^29 - 1 units (32 GiB).
 * First-fit fragments like any non-moving allocator: free memory may be
 * plentiful while the largest block is small, which is why the heartbeat
 * reports both.  Not thread-safe; memory is not cleared.
 */
#include "mempool.h"

#include <stdalign.h>
#include <string.h>

/* A tag: the block length in units above three flag bits. */
#define TAG_START 0x1u
#define TAG_END 0x2u
#define TAG_USED 0x4u
#define TAG_SHIFT 3

static uint32_t tag_len(uint32_t tag)
{
    return tag >> TAG_SHIFT;
}

/* Writes the start and end tags of the block [u, u + len). */
static void set_block(dx_pool *p, uint32_t u, uint32_t len, uint32_t used)
{
    uint32_t t = (len << TAG_SHIFT) | used;

    if (len == 1) {
        p->tag[u] = t | TAG_START | TAG_END;
    } else {
        p->tag[u] = t | TAG_START;
        p->tag[u + len - 1] = t | TAG_END;
    }
}

/* Units for `bytes`, which the caller has checked is 1..capacity. */
static uint32_t units_for(size_t bytes)
{
    return (uint32_t)((bytes + (DX_POOL_ALIGN - 1)) / DX_POOL_ALIGN);
}

/* The first free block of at least n units, or nunits when none is. */
static uint32_t find_first(const dx_pool *p, uint32_t n)
{
    uint32_t u = 0;

    while (u < p->nunits) {
        uint32_t t = p->tag[u];
        if ((t & TAG_USED) == 0 && tag_len(t) >= n)
            return u;
        u += tag_len(t);
    }
    return p->nunits;
}

size_t dx_pool_meta_size(size_t size)
{
    return size / DX_POOL_ALIGN * sizeof(uint32_t) + (alignof(uint32_t) - 1);
}

int dx_pool_init(dx_pool *p, void *mem, size_t size, void *meta,
                 size_t meta_size)
{
    size_t pad, mpad, units;

    if (p == NULL || mem == NULL || meta == NULL)
        return DX_EINVAL;
    pad = (DX_POOL_ALIGN - (uintptr_t)mem % DX_POOL_ALIGN) % DX_POOL_ALIGN;
    if (size < pad + DX_POOL_ALIGN)
        return DX_ERANGE;
    units = (size - pad) / DX_POOL_ALIGN;
    if (units > DX_POOL_MAX_UNITS)
        return DX_ERANGE;
    mpad = (alignof(uint32_t) - (uintptr_t)meta % alignof(uint32_t)) %
           alignof(uint32_t);
    if (meta_size < mpad || (meta_size - mpad) / sizeof(uint32_t) < units)
        return DX_ENOSPACE;

    p->base = (unsigned char *)mem + pad;
    p->tag = (uint32_t *)(void *)((unsigned char *)meta + mpad);
    p->nunits = (uint32_t)units;
    /* The tags must be zero already (see dx_pool_init): writing only the
     * two boundary tags keeps the rest of the metadata untouched, so an
     * idle agent pays no resident memory for a pool it does not use. */
    set_block(p, 0, p->nunits, 0);
    p->free_units = p->nunits;
    p->free_blocks = 1;
    p->used_blocks = 0;
    return 0;
}

int dx_pool_alloc(dx_pool *p, size_t bytes, void **out)
{
    uint32_t n, u, len;

    if (p == NULL || out == NULL || bytes == 0)
        return DX_EINVAL;
    if (bytes > dx_pool_capacity(p))
        return DX_ERANGE;
    n = units_for(bytes);
    u = find_first(p, n);
    if (u == p->nunits)
        return DX_EFULL;

    len = tag_len(p->tag[u]);
    if (len > n)
        set_block(p, u + n, len - n, 0); /* the rest stays one free block */
    else
        p->free_blocks--;
    set_block(p, u, n, TAG_USED);
    p->free_units -= n;
    p->used_blocks++;
    *out = p->base + (size_t)u * DX_POOL_ALIGN;
    return 0;
}

int dx_pool_free(dx_pool *p, void *ptr)
{
    uintptr_t off;
    uint32_t u, len, start, end;

    if (p == NULL)
        return DX_EINVAL;
    if (ptr == NULL)
        return 0;
    if ((uintptr_t)ptr < (uintptr_t)p->base)
        return DX_EINVAL;
    off = (uintptr_t)ptr - (uintptr_t)p->base;
    if (off % DX_POOL_ALIGN != 0 ||
        off / DX_POOL_ALIGN >= (uintptr_t)p->nunits)
        return DX_EINVAL;
    u = (uint32_t)(off / DX_POOL_ALIGN);
    /* Exact: only block starts carry TAG_START, and freed starts lose
     * TAG_USED or their tag altogether when merged into a left neighbour. */
    if ((p->tag[u] & (TAG_START | TAG_USED)) != (TAG_START | TAG_USED))
        return DX_EINVAL;

    len = tag_len(p->tag[u]);
    start = u;
    end = u + len;
    p->tag[u] = 0;
    p->tag[end - 1] = 0;
    p->free_units += len;
    p->used_blocks--;
    p->free_blocks++;
    if (start > 0 && (p->tag[start - 1] & TAG_USED) == 0) {
        uint32_t left_end = start - 1; /* end tag of the free left block */
        start -= tag_len(p->tag[left_end]);
        p->tag[left_end] = 0;
        p->free_blocks--;
    }
    if (end < p->nunits && (p->tag[end] & TAG_USED) == 0) {
        uint32_t right_start = end; /* start tag of the free right block */
        end += tag_len(p->tag[right_start]);
        p->tag[right_start] = 0;
        p->free_blocks--;
    }
    set_block(p, start, end - start, 0);
    return 0;
}

size_t dx_pool_capacity(const dx_pool *p)
{
    return (size_t)p->nunits * DX_POOL_ALIGN;
}

size_t dx_pool_free_bytes(const dx_pool *p)
{
    return (size_t)p->free_units * DX_POOL_ALIGN;
}

size_t dx_pool_largest_free(const dx_pool *p)
{
    dx_pool_stat st;

    dx_pool_stats(p, &st);
    return st.largest_free;
}

bool dx_pool_fits(const dx_pool *p, size_t bytes)
{
    if (bytes == 0 || bytes > dx_pool_capacity(p))
        return false;
    return find_first(p, units_for(bytes)) != p->nunits;
}

void dx_pool_stats(const dx_pool *p, dx_pool_stat *st)
{
    uint32_t u = 0, largest = 0;

    while (u < p->nunits) {
        uint32_t t = p->tag[u];
        if ((t & TAG_USED) == 0 && tag_len(t) > largest)
            largest = tag_len(t);
        u += tag_len(t);
    }
    st->capacity = dx_pool_capacity(p);
    st->free_bytes = dx_pool_free_bytes(p);
    st->largest_free = (size_t)largest * DX_POOL_ALIGN;
    st->free_blocks = p->free_blocks;
    st->used_blocks = p->used_blocks;
}

bool dx_pool_check(const dx_pool *p)
{
    uint32_t u = 0, free_units = 0, nfree = 0, nused = 0;
    bool prev_free = false;

    if (p == NULL || p->base == NULL || p->tag == NULL || p->nunits == 0 ||
        p->nunits > DX_POOL_MAX_UNITS ||
        (uintptr_t)p->base % DX_POOL_ALIGN != 0)
        return false;
    while (u < p->nunits) {
        uint32_t t = p->tag[u], len = tag_len(t), used = t & TAG_USED;
        uint32_t head = (len << TAG_SHIFT) | used | TAG_START;

        if (len == 0 || len > p->nunits - u)
            return false;
        if (len == 1) {
            if (t != (head | TAG_END))
                return false;
        } else {
            uint32_t tail = (head & ~TAG_START) | TAG_END;
            if (t != head || p->tag[u + len - 1] != tail)
                return false;
            for (uint32_t i = u + 1; i < u + len - 1; i++)
                if (p->tag[i] != 0)
                    return false;
        }
        if (used) {
            nused++;
            prev_free = false;
        } else {
            if (prev_free) /* two touching free blocks: a missed merge */
                return false;
            nfree++;
            free_units += len;
            prev_free = true;
        }
        u += len;
    }
    return free_units == p->free_units && nfree == p->free_blocks &&
           nused == p->used_blocks;
}
