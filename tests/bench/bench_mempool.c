/*
 * bench_mempool.c - task churn on the node memory pool, beside malloc.
 *
 * A 64 MiB pool (the agent's default) holds up to LIVE tasks of 1..1024 KiB;
 * each step ends a random task and starts a new one, as a busy node does.
 * The same sequence of sizes runs through malloc/free as the baseline, and
 * the heartbeat query (dx_pool_stats) is timed on the fragmented pool.
 * Prints figures only; it is not part of the pass/fail suite.
 *
 *   gcc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -I topics -I agent \
 *       agent/mempool.c tests/bench/bench_mempool.c -o /tmp/bench_mempool
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mempool.h"

#define POOL_BYTES ((size_t)64 << 20)
#define LIVE 64
#define STEPS 1000000

static uint64_t rng_state = UINT64_C(0x2545F4914F6CDD1D);

static uint64_t rng(void) /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(void)
{
    static size_t sizes[STEPS], slots[STEPS];
    void *live[LIVE] = {0};
    size_t full = 0;
    double t0, pool_ns, malloc_ns, stats_ns;
    dx_pool p;
    dx_pool_stat st;
    void *mem = malloc(POOL_BYTES);
    size_t meta_size = dx_pool_meta_size(POOL_BYTES);
    void *meta = malloc(meta_size);

    if (mem == NULL || meta == NULL ||
        dx_pool_init(&p, mem, POOL_BYTES, meta, meta_size) != 0) {
        fprintf(stderr, "bench_mempool: cannot set up the pool\n");
        return 1;
    }
    for (size_t i = 0; i < STEPS; i++) {
        sizes[i] = (1 + (size_t)(rng() % 1024)) << 10;
        slots[i] = (size_t)(rng() % LIVE);
    }

    t0 = now_ns();
    for (size_t i = 0; i < STEPS; i++) {
        void **slot = &live[slots[i]];
        dx_pool_free(&p, *slot);
        *slot = NULL;
        if (dx_pool_alloc(&p, sizes[i], slot) != 0)
            full++; /* a real node would queue the task */
    }
    pool_ns = (now_ns() - t0) / STEPS;

    t0 = now_ns();
    for (int i = 0; i < 100000; i++)
        dx_pool_stats(&p, &st);
    stats_ns = (now_ns() - t0) / 100000;
    if (!dx_pool_check(&p)) {
        fprintf(stderr, "bench_mempool: pool inconsistent\n");
        return 1;
    }

    for (size_t i = 0; i < LIVE; i++) {
        dx_pool_free(&p, live[i]);
        live[i] = NULL;
    }
    t0 = now_ns();
    for (size_t i = 0; i < STEPS; i++) {
        void **slot = &live[slots[i]];
        free(*slot);
        *slot = malloc(sizes[i]);
    }
    malloc_ns = (now_ns() - t0) / STEPS;
    for (size_t i = 0; i < LIVE; i++)
        free(live[i]);

    printf("task churn, %d live tasks of 1..1024 KiB, %d steps, 64 MiB pool\n",
           LIVE, STEPS);
    printf("  dx_pool free+alloc  %8.1f ns/step  (%zu of %d did not fit)\n",
           pool_ns, full, STEPS);
    printf("  malloc free+malloc  %8.1f ns/step  (baseline, unbounded)\n",
           malloc_ns);
    printf("  dx_pool_stats       %8.1f ns  (heartbeat query, %zu used, "
           "%zu free blocks)\n",
           stats_ns, st.used_blocks, st.free_blocks);
    printf("  end state: %zu KiB free, largest block %zu KiB\n",
           st.free_bytes >> 10, st.largest_free >> 10);
    free(meta);
    free(mem);
    return 0;
}
