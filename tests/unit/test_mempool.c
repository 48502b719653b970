/*
 * test_mempool.c - unit tests of the node memory pool (agent/mempool.c).
 *
 * Arenas are static buffers; nothing here needs a broker or a clock.  The
 * last test drives 100k random allocs and frees against a shadow model of
 * the arena (one owner per 64-byte unit) that predicts the exact first-fit
 * address, the free bytes and the largest free block after every step.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mempool.h"

#define U DX_POOL_ALIGN /* one unit, in bytes */
#define ARENA_UNITS 2048u
#define ARENA_BYTES ((size_t)ARENA_UNITS * U)

/* One spare unit so tests can misalign the arena on purpose. */
static _Alignas(64) unsigned char arena[ARENA_BYTES + U];
static uint32_t meta[ARENA_UNITS + 1];

/* A pool over the first `units` units of the aligned static arena. */
static void pool_of(dx_pool *p, uint32_t units)
{
    memset(meta, 0, sizeof meta);        /* init wants zeroed metadata */
    assert_int_equal(dx_pool_init(p, arena, (size_t)units * U, meta,
                                  sizeof meta),
                     0);
    assert_true(dx_pool_check(p));
}

static void *take(dx_pool *p, size_t bytes)
{
    void *ptr = NULL;
    assert_int_equal(dx_pool_alloc(p, bytes, &ptr), 0);
    assert_non_null(ptr);
    assert_true(dx_pool_check(p));
    return ptr;
}

static void give(dx_pool *p, void *ptr)
{
    assert_int_equal(dx_pool_free(p, ptr), 0);
    assert_true(dx_pool_check(p));
}

/* Asserts the figures a heartbeat would report, in units. */
static void expect_pool(const dx_pool *p, size_t free_units,
                        size_t largest_units, size_t free_blocks,
                        size_t used_blocks)
{
    dx_pool_stat st;

    dx_pool_stats(p, &st);
    assert_int_equal(st.free_bytes, free_units * U);
    assert_int_equal(st.largest_free, largest_units * U);
    assert_int_equal(st.free_blocks, free_blocks);
    assert_int_equal(st.used_blocks, used_blocks);
    assert_int_equal(dx_pool_free_bytes(p), free_units * U);
    assert_int_equal(dx_pool_largest_free(p), largest_units * U);
    assert_true(dx_pool_check(p));
}

static void test_meta_size(void **state)
{
    (void)state;
    assert_true(dx_pool_meta_size(ARENA_BYTES) >= ARENA_UNITS * 4);
    assert_true(dx_pool_meta_size(0) < 4);
    /* 64 MiB, the default pool: 4 MiB of tags and alignment slack. */
    assert_true(dx_pool_meta_size((size_t)64 << 20) <= ((size_t)4 << 20) + 3);
}

static void test_init_rejects_bad_arguments(void **state)
{
    dx_pool p;
    (void)state;

    assert_int_equal(dx_pool_init(NULL, arena, ARENA_BYTES, meta, sizeof meta),
                     DX_EINVAL);
    assert_int_equal(dx_pool_init(&p, NULL, ARENA_BYTES, meta, sizeof meta),
                     DX_EINVAL);
    assert_int_equal(dx_pool_init(&p, arena, ARENA_BYTES, NULL, sizeof meta),
                     DX_EINVAL);
    assert_int_equal(dx_pool_init(&p, arena, 0, meta, sizeof meta), DX_ERANGE);
    assert_int_equal(dx_pool_init(&p, arena, U - 1, meta, sizeof meta),
                     DX_ERANGE);
    /* 64 bytes, but not 64 once the start is aligned. */
    assert_int_equal(dx_pool_init(&p, arena + 1, U, meta, sizeof meta),
                     DX_ERANGE);
    /* One tag short. */
    assert_int_equal(dx_pool_init(&p, arena, ARENA_BYTES, meta,
                                  ARENA_UNITS * 4 - 1),
                     DX_ENOSPACE);
    assert_int_equal(dx_pool_init(&p, arena, ARENA_BYTES, meta, 0),
                     DX_ENOSPACE);
}

static void test_init_huge_arena(void **state)
{
    dx_pool p;
    (void)state;

    if (SIZE_MAX <= UINT32_MAX)
        skip();
    /* The arena is not touched by init, so its size can be a lie. */
    assert_int_equal(dx_pool_init(&p, arena,
                                  ((size_t)DX_POOL_MAX_UNITS + 1) * U, meta,
                                  sizeof meta),
                     DX_ERANGE);
    assert_int_equal(dx_pool_init(&p, arena, SIZE_MAX, meta, sizeof meta),
                     DX_ERANGE);
}

static void test_init_small_and_odd_sizes(void **state)
{
    dx_pool p;
    void *a = NULL;
    (void)state;

    /* Exactly one unit. */
    pool_of(&p, 1);
    assert_int_equal(dx_pool_capacity(&p), U);
    expect_pool(&p, 1, 1, 1, 0);
    a = take(&p, U);
    assert_ptr_equal(a, arena);
    expect_pool(&p, 0, 0, 0, 1);
    give(&p, a);
    expect_pool(&p, 1, 1, 1, 0);

    /* An odd size rounds down to whole units. */
    memset(meta, 0, sizeof meta);
    assert_int_equal(dx_pool_init(&p, arena, 1000, meta, sizeof meta), 0);
    assert_int_equal(dx_pool_capacity(&p), 960);
    expect_pool(&p, 15, 15, 1, 0);

    /* A misaligned start rounds up: arena + 5 loses 59 bytes in front. */
    memset(meta, 0, sizeof meta);
    assert_int_equal(dx_pool_init(&p, arena + 5, 59 + 3 * U + 7, meta,
                                  sizeof meta),
                     0);
    assert_int_equal(dx_pool_capacity(&p), 3 * U);
    a = take(&p, 1);
    assert_ptr_equal(a, arena + U);

    /* A misaligned metadata buffer is aligned inside. */
    memset(meta, 0, sizeof meta);
    assert_int_equal(dx_pool_init(&p, arena, 4 * U, (unsigned char *)meta + 1,
                                  dx_pool_meta_size(4 * U)),
                     0);
    expect_pool(&p, 4, 4, 1, 0);
    a = take(&p, 2 * U);
    give(&p, a);
    expect_pool(&p, 4, 4, 1, 0);
}

static void test_alloc_bad_arguments(void **state)
{
    dx_pool p;
    void *a = (void *)&p;
    (void)state;

    pool_of(&p, 16);
    assert_int_equal(dx_pool_alloc(&p, 0, &a), DX_EINVAL);
    assert_ptr_equal(a, (void *)&p); /* untouched on error */
    assert_int_equal(dx_pool_alloc(&p, 64, NULL), DX_EINVAL);
    assert_int_equal(dx_pool_alloc(NULL, 64, &a), DX_EINVAL);
    /* Larger than the whole pool: it would wait forever, so not EFULL. */
    assert_int_equal(dx_pool_alloc(&p, 16 * U + 1, &a), DX_ERANGE);
    assert_int_equal(dx_pool_alloc(&p, SIZE_MAX, &a), DX_ERANGE);
    assert_false(dx_pool_fits(&p, 0));
    assert_false(dx_pool_fits(&p, 16 * U + 1));
    assert_false(dx_pool_fits(&p, SIZE_MAX));
    assert_true(dx_pool_fits(&p, 16 * U));
    expect_pool(&p, 16, 16, 1, 0);
}

static void test_alloc_exact_fit(void **state)
{
    dx_pool p;
    void *a, *b = NULL;
    (void)state;

    pool_of(&p, 16);
    a = take(&p, 16 * U);
    assert_ptr_equal(a, arena);
    expect_pool(&p, 0, 0, 0, 1);
    assert_false(dx_pool_fits(&p, 1));
    assert_int_equal(dx_pool_alloc(&p, 1, &b), DX_EFULL);
    assert_null(b);
    give(&p, a);
    expect_pool(&p, 16, 16, 1, 0);

    /* An exact fit into a hole takes the hole without a split. */
    a = take(&p, 4 * U);
    b = take(&p, 4 * U);
    give(&p, a);
    expect_pool(&p, 12, 8, 2, 1);
    a = take(&p, 4 * U);
    assert_ptr_equal(a, arena);
    expect_pool(&p, 8, 8, 1, 2);
}

static void test_alloc_rounds_to_64(void **state)
{
    dx_pool p;
    unsigned char *a, *b, *c;
    (void)state;

    pool_of(&p, 16);
    a = take(&p, 1);
    b = take(&p, 65);
    c = take(&p, 128);
    assert_ptr_equal(b, a + U);
    assert_ptr_equal(c, b + 2 * U);
    expect_pool(&p, 11, 11, 1, 3);
    /* The caller may use the whole rounded block. */
    memset(a, 0xA5, U);
    memset(b, 0x5A, 2 * U);
    assert_int_equal(c[-1], 0x5A);
}

static void test_split(void **state)
{
    dx_pool p;
    unsigned char *a, *b;
    (void)state;

    pool_of(&p, 16);
    a = take(&p, U);
    assert_ptr_equal(a, arena);
    expect_pool(&p, 15, 15, 1, 1);
    b = take(&p, 5 * U);
    assert_ptr_equal(b, a + U);
    expect_pool(&p, 10, 10, 1, 2);
    /* Splitting a hole in the middle leaves a smaller hole behind. */
    give(&p, a);
    give(&p, b);
    a = take(&p, 3 * U);
    assert_ptr_equal(a, arena);
    expect_pool(&p, 13, 13, 1, 1);
}

/* Four blocks of four units filling a 16-unit pool. */
static void four_blocks(dx_pool *p, unsigned char *blk[4])
{
    pool_of(p, 16);
    for (int i = 0; i < 4; i++) {
        blk[i] = take(p, 4 * U);
        assert_ptr_equal(blk[i], arena + (size_t)i * 4 * U);
    }
    expect_pool(p, 0, 0, 0, 4);
}

static void test_coalesce_left(void **state)
{
    dx_pool p;
    unsigned char *blk[4];
    (void)state;

    four_blocks(&p, blk);
    give(&p, blk[1]);
    expect_pool(&p, 4, 4, 1, 3);
    give(&p, blk[2]); /* merges with blk[1] on its left */
    expect_pool(&p, 8, 8, 1, 2);
    assert_ptr_equal(take(&p, 8 * U), blk[1]);
}

static void test_coalesce_right(void **state)
{
    dx_pool p;
    unsigned char *blk[4];
    (void)state;

    four_blocks(&p, blk);
    give(&p, blk[2]);
    give(&p, blk[1]); /* merges with blk[2] on its right */
    expect_pool(&p, 8, 8, 1, 2);
    assert_ptr_equal(take(&p, 8 * U), blk[1]);

    /* At the edges: the last block merges left, the first right. */
    four_blocks(&p, blk);
    give(&p, blk[3]);
    give(&p, blk[2]);
    expect_pool(&p, 8, 8, 1, 2);
    give(&p, blk[0]);
    give(&p, blk[1]);
    expect_pool(&p, 16, 16, 1, 0);
}

static void test_coalesce_both(void **state)
{
    dx_pool p;
    unsigned char *blk[4];
    (void)state;

    four_blocks(&p, blk);
    give(&p, blk[0]);
    give(&p, blk[2]);
    expect_pool(&p, 8, 4, 2, 2);
    give(&p, blk[1]); /* bridges both holes */
    expect_pool(&p, 12, 12, 1, 1);
    give(&p, blk[3]);
    expect_pool(&p, 16, 16, 1, 0);

    /* One-unit blocks: start and end tags share a unit. */
    pool_of(&p, 3);
    blk[0] = take(&p, 1);
    blk[1] = take(&p, 1);
    blk[2] = take(&p, 1);
    give(&p, blk[0]);
    give(&p, blk[2]);
    expect_pool(&p, 2, 1, 2, 1);
    give(&p, blk[1]);
    expect_pool(&p, 3, 3, 1, 0);
}

static void test_fragmentation(void **state)
{
    dx_pool p;
    unsigned char *a, *b, *c;
    void *big = NULL;
    (void)state;

    /* A and C are large, B is small and pinned between them. */
    pool_of(&p, 64);
    a = take(&p, 30 * U);
    b = take(&p, 4 * U);
    c = take(&p, 30 * U);
    expect_pool(&p, 0, 0, 0, 3);
    give(&p, a);
    give(&p, c);
    /* 60 units free, but no hole longer than 30. */
    expect_pool(&p, 60, 30, 2, 1);
    assert_true(dx_pool_fits(&p, 30 * U));
    assert_false(dx_pool_fits(&p, 31 * U));
    assert_int_equal(dx_pool_alloc(&p, 31 * U, &big), DX_EFULL);
    assert_null(big);
    expect_pool(&p, 60, 30, 2, 1);
    give(&p, b);
    expect_pool(&p, 64, 64, 1, 0);
    big = take(&p, 64 * U);
    assert_ptr_equal(big, arena);
}

static void test_first_fit_takes_lowest_hole(void **state)
{
    dx_pool p;
    unsigned char *blk[4];
    (void)state;

    four_blocks(&p, blk);
    give(&p, blk[2]);
    give(&p, blk[0]);
    /* Both holes fit 2 units; first-fit picks the lower address. */
    assert_ptr_equal(take(&p, 2 * U), blk[0]);
    assert_ptr_equal(take(&p, 2 * U), blk[0] + 2 * U);
    assert_ptr_equal(take(&p, 2 * U), blk[2]);
    /* A request too big for the low hole skips it; blk[3] merges with
     * the two units left of blk[2] into the hole that serves it. */
    give(&p, blk[0]);
    give(&p, blk[3]);
    expect_pool(&p, 8, 6, 2, 3);
    assert_ptr_equal(take(&p, 3 * U), blk[2] + 2 * U);
}

static void test_exhaustion(void **state)
{
    dx_pool p;
    void *ptrs[64], *extra = NULL;
    (void)state;

    pool_of(&p, 64);
    for (int i = 0; i < 64; i++) {
        ptrs[i] = take(&p, 1);
        assert_ptr_equal(ptrs[i], arena + (size_t)i * U);
    }
    expect_pool(&p, 0, 0, 0, 64);
    assert_int_equal(dx_pool_alloc(&p, 1, &extra), DX_EFULL);
    assert_int_equal(dx_pool_alloc(&p, 64 * U, &extra), DX_EFULL);
    assert_null(extra);
    /* Free in an interleaved order; everything merges back to one block. */
    for (int i = 0; i < 64; i += 2)
        give(&p, ptrs[i]);
    expect_pool(&p, 32, 1, 32, 32);
    for (int i = 63; i > 0; i -= 2)
        give(&p, ptrs[i]);
    expect_pool(&p, 64, 64, 1, 0);
}

static void test_double_free(void **state)
{
    dx_pool p;
    unsigned char *blk[4];
    (void)state;

    four_blocks(&p, blk);
    give(&p, blk[1]);
    assert_int_equal(dx_pool_free(&p, blk[1]), DX_EINVAL);
    expect_pool(&p, 4, 4, 1, 3);
    /* blk[2] merges into blk[1]: its own start tag is gone. */
    give(&p, blk[2]);
    assert_int_equal(dx_pool_free(&p, blk[2]), DX_EINVAL);
    assert_int_equal(dx_pool_free(&p, blk[1]), DX_EINVAL);
    expect_pool(&p, 8, 8, 1, 2);
    /* Freeing everything, then again. */
    give(&p, blk[0]);
    give(&p, blk[3]);
    for (int i = 0; i < 4; i++)
        assert_int_equal(dx_pool_free(&p, blk[i]), DX_EINVAL);
    expect_pool(&p, 16, 16, 1, 0);
}

static void test_foreign_pointers(void **state)
{
    dx_pool p;
    unsigned char *blk[4];
    unsigned char local[U];
    (void)state;

    four_blocks(&p, blk);
    assert_int_equal(dx_pool_free(&p, local), DX_EINVAL);
    assert_int_equal(dx_pool_free(&p, meta), DX_EINVAL);
    assert_int_equal(dx_pool_free(&p, arena + 16 * U), DX_EINVAL); /* end */
    assert_int_equal(dx_pool_free(&p, arena + ARENA_BYTES), DX_EINVAL);
    assert_int_equal(dx_pool_free(&p, blk[1] + 1), DX_EINVAL);  /* misaligned */
    assert_int_equal(dx_pool_free(&p, blk[1] + U), DX_EINVAL);  /* inside */
    assert_int_equal(dx_pool_free(&p, blk[1] + 3 * U), DX_EINVAL); /* end tag */
    assert_int_equal(dx_pool_free(NULL, blk[1]), DX_EINVAL);
    expect_pool(&p, 0, 0, 0, 4);

    /* A pointer inside a free block, and one from another pool. */
    give(&p, blk[2]);
    assert_int_equal(dx_pool_free(&p, blk[2] + U), DX_EINVAL);
    {
        dx_pool q;
        static uint32_t meta_q[8];
        void *other;
        assert_int_equal(dx_pool_init(&q, arena + 32 * U, 8 * U, meta_q,
                                      sizeof meta_q),
                         0);
        other = take(&q, U);
        assert_int_equal(dx_pool_free(&p, other), DX_EINVAL);
        give(&q, other);
    }
    expect_pool(&p, 4, 4, 1, 3);
}

static void test_free_null(void **state)
{
    dx_pool p;
    (void)state;

    pool_of(&p, 4);
    assert_int_equal(dx_pool_free(&p, NULL), 0);
    expect_pool(&p, 4, 4, 1, 0);
}

static void test_alignment_of_every_pointer(void **state)
{
    dx_pool p;
    void *ptrs[128];
    size_t n = 0;
    (void)state;

    /* A misaligned arena: the pool aligns it, not the caller. */
    assert_int_equal(dx_pool_init(&p, arena + 13, ARENA_BYTES - 13, meta,
                                  sizeof meta),
                     0);
    for (size_t bytes = 1; n < 128; bytes = bytes * 7 % 1021 + 1) {
        if (dx_pool_alloc(&p, bytes, &ptrs[n]) != 0)
            break;
        assert_int_equal((uintptr_t)ptrs[n] % 64, 0);
        n++;
    }
    assert_true(n > 100);
    assert_true(dx_pool_check(&p));
    for (size_t i = 0; i < n; i += 3)
        give(&p, ptrs[i]);
    for (size_t i = 0; i < n; i += 3) {
        assert_int_equal(dx_pool_alloc(&p, i + 1, &ptrs[i]), 0);
        assert_int_equal((uintptr_t)ptrs[i] % 64, 0);
    }
    assert_true(dx_pool_check(&p));
}

static void test_overrun_cannot_corrupt_pool(void **state)
{
    dx_pool p;
    unsigned char *a, *b;
    (void)state;

    pool_of(&p, 16);
    a = take(&p, 4 * U);
    b = take(&p, 4 * U);
    /* A runaway task scribbles over the whole arena, free parts included:
     * the tags live outside it, so the pool is still sound. */
    memset(arena, 0xFF, 16 * U);
    assert_true(dx_pool_check(&p));
    give(&p, a);
    give(&p, b);
    expect_pool(&p, 16, 16, 1, 0);
}

/* ---- randomized test against a shadow model ---------------------------- */

#define RAND_OPS 100000
#define RAND_UNITS 1024u /* 64 KiB: small enough to hit EFULL often */

static uint64_t rng_state;

static uint64_t rng(void) /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

static size_t rng_below(size_t n)
{
    return (size_t)(rng() % n);
}

typedef struct live_block {
    unsigned char *ptr;
    size_t units;
    uint32_t id;
} live_block;

static unsigned char pattern(uint32_t id, size_t i)
{
    return (unsigned char)((id * 2654435761u) >> 24 ^ (uint32_t)i * 131u);
}

/* The shadow: which block owns each unit (0 = free). */
static uint32_t owner[RAND_UNITS];

/* First unit of the first run of at least n free units, or RAND_UNITS. */
static size_t shadow_first_fit(size_t n)
{
    size_t run = 0;
    for (size_t u = 0; u < RAND_UNITS; u++) {
        run = owner[u] == 0 ? run + 1 : 0;
        if (run == n)
            return u + 1 - n;
    }
    return RAND_UNITS;
}

static size_t shadow_largest(void)
{
    size_t run = 0, best = 0;
    for (size_t u = 0; u < RAND_UNITS; u++) {
        run = owner[u] == 0 ? run + 1 : 0;
        if (run > best)
            best = run;
    }
    return best;
}

static void test_randomized_against_shadow(void **state)
{
    static live_block live[RAND_UNITS];
    dx_pool p;
    size_t nlive = 0, free_units = RAND_UNITS;
    size_t allocs = 0, fulls = 0, frees = 0, bad_frees = 0;
    uint32_t next_id = 1;
    unsigned char *stale = NULL;
    (void)state;

    rng_state = UINT64_C(0x9E3779B97F4A7C15);
    memset(owner, 0, sizeof owner);
    pool_of(&p, RAND_UNITS);

    for (int op = 0; op < RAND_OPS; op++) {
        size_t r = rng_below(100);

        if (nlive == 0 || r < 52) {
            /* Mostly small, sometimes large, rarely near the whole pool. */
            size_t k = rng_below(20), bytes, n, want;
            void *ptr = NULL;
            int rc;
            if (k < 12)
                bytes = 1 + rng_below(4 * U);
            else if (k < 18)
                bytes = 1 + rng_below(64 * U);
            else
                bytes = 1 + rng_below(RAND_UNITS * U);
            n = (bytes + U - 1) / U;
            want = shadow_first_fit(n);
            assert_int_equal(dx_pool_fits(&p, bytes), want != RAND_UNITS);
            rc = dx_pool_alloc(&p, bytes, &ptr);
            if (want == RAND_UNITS) {
                assert_int_equal(rc, DX_EFULL);
                assert_null(ptr);
                fulls++;
            } else {
                assert_int_equal(rc, 0);
                assert_ptr_equal(ptr, arena + want * U);
                assert_int_equal((uintptr_t)ptr % 64, 0);
                live[nlive] = (live_block){ptr, n, next_id++};
                for (size_t u = want; u < want + n; u++)
                    owner[u] = live[nlive].id;
                for (size_t i = 0; i < n * U; i++)
                    live[nlive].ptr[i] = pattern(live[nlive].id, i);
                free_units -= n;
                nlive++;
                allocs++;
            }
        } else if (r < 97 || stale == NULL) {
            size_t j = rng_below(nlive);
            live_block b = live[j];
            size_t first = (size_t)(b.ptr - arena) / U;
            for (size_t i = 0; i < b.units * U; i++)
                assert_int_equal(b.ptr[i], pattern(b.id, i));
            assert_int_equal(dx_pool_free(&p, b.ptr), 0);
            for (size_t u = first; u < first + b.units; u++)
                owner[u] = 0;
            free_units += b.units;
            live[j] = live[--nlive];
            stale = b.ptr;
            frees++;
        } else {
            /* A pointer that is not the start of a live block: the last
             * one freed (unless handed out again), a unit inside a live
             * block, or a misaligned one. */
            size_t u = (size_t)(stale - arena) / U, k = rng_below(3);
            live_block b = live[rng_below(nlive)];
            unsigned char *bad;
            bool live_start = owner[u] != 0 &&
                              (u == 0 || owner[u - 1] != owner[u]);
            if (k == 0 && !live_start)
                bad = stale;
            else if (k == 1 && b.units > 1)
                bad = b.ptr + U * (1 + rng_below(b.units - 1));
            else
                bad = b.ptr + 1 + rng_below(U - 1);
            assert_int_equal(dx_pool_free(&p, bad), DX_EINVAL);
            bad_frees++;
        }
        assert_true(dx_pool_check(&p));
        assert_int_equal(dx_pool_free_bytes(&p), free_units * U);
        assert_int_equal(dx_pool_largest_free(&p), shadow_largest() * U);
    }

    /* The run must have exercised every path. */
    assert_true(allocs > 20000);
    assert_true(fulls > 1000);
    assert_true(frees > 20000);
    assert_true(bad_frees > 500);

    while (nlive > 0)
        give(&p, live[--nlive].ptr);
    expect_pool(&p, RAND_UNITS, RAND_UNITS, 1, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meta_size),
        cmocka_unit_test(test_init_rejects_bad_arguments),
        cmocka_unit_test(test_init_huge_arena),
        cmocka_unit_test(test_init_small_and_odd_sizes),
        cmocka_unit_test(test_alloc_bad_arguments),
        cmocka_unit_test(test_alloc_exact_fit),
        cmocka_unit_test(test_alloc_rounds_to_64),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_coalesce_left),
        cmocka_unit_test(test_coalesce_right),
        cmocka_unit_test(test_coalesce_both),
        cmocka_unit_test(test_fragmentation),
        cmocka_unit_test(test_first_fit_takes_lowest_hole),
        cmocka_unit_test(test_exhaustion),
        cmocka_unit_test(test_double_free),
        cmocka_unit_test(test_foreign_pointers),
        cmocka_unit_test(test_free_null),
        cmocka_unit_test(test_alignment_of_every_pointer),
        cmocka_unit_test(test_overrun_cannot_corrupt_pool),
        cmocka_unit_test(test_randomized_against_shadow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
