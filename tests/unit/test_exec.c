/*
 * test_exec.c - unit tests of a node's task executor (agent/exec.c).
 *
 * One executor per test (calloc'ed in the setup: the struct is large) over
 * a pool on a static 64-byte aligned arena.  Times are plain numbers: `now`
 * is the monotonic clock and the wall clock is now + WALL0, so a report's
 * timestamps can be told apart from the monotonic ones.  Assignments are
 * built the way the core decodes them; worker jobs are collected from the
 * job request array and finished by hand with dx_exec_job_done, standing in
 * for the shell's worker threads.  Each test states the rule of exec.h it
 * checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"

#define ARENA_KB 256u
#define WALL0 1000000000000LL    /* wall clock = now + WALL0 */
#define JOBS_CAP 64
#define GOT_MAX 4096

static _Alignas(64) unsigned char arena[ARENA_KB * 1024u];
static uint32_t meta[ARENA_KB * 1024u / DX_POOL_ALIGN + 1];
static dx_pool pool;
static dx_exec *X;

/* Job requests of the last assign/pump call. */
static dx_job_req jobs[JOBS_CAP];
static size_t nj;

/* Report items collected by take(): the last flushes' items, in order. */
static dx_msg_report R;
static dx_report_item got[GOT_MAX];
static size_t ngot;

static int setup(void **state)
{
    (void)state;
    X = calloc(1, sizeof *X);
    return X != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(X);
    X = NULL;
    return 0;
}

/* A fresh executor with `workers` and a pool of pool_kb KiB. */
static void init_x(uint32_t workers, uint32_t pool_kb)
{
    memset(X, 0, sizeof *X);
    memset(meta, 0, sizeof meta);    /* the pool wants zeroed metadata */
    assert_int_equal(dx_pool_init(&pool, arena, (size_t)pool_kb * 1024u,
                                  meta, sizeof meta),
                     0);
    dx_exec_init(X, 4, workers, &pool);
    nj = 0;
    ngot = 0;
}

static dx_assign_item item_of(dx_assign_op op, const char *id,
                              uint32_t attempt)
{
    dx_assign_item it;
    memset(&it, 0, sizeof it);
    it.op = op;
    it.attempt = attempt;
    snprintf(it.spec.id, sizeof it.spec.id, "%s", id);
    return it;
}

/* Applies one item at `now`; returns the job requests it made. */
static size_t apply(const dx_assign_item *it, int64_t now)
{
    nj = 0;
    dx_exec_assign(X, it, now, now + WALL0, jobs, JOBS_CAP, &nj);
    return nj;
}

/* A RUN item; every_ms > 0 makes it periodic. */
static void run_p(const char *id, uint32_t attempt, dx_task_kind kind,
                  uint32_t ms, uint32_t mem_kb, uint32_t every_ms)
{
    dx_assign_item it = item_of(DX_ASSIGN_RUN, id, attempt);
    it.spec.kind = kind;
    it.spec.ms = ms;
    it.spec.mem_kb = mem_kb;
    it.spec.every_ms = every_ms;
    assert_int_equal(apply(&it, 0), 0);   /* nothing starts in assign */
}

static void run(const char *id, uint32_t attempt, dx_task_kind kind,
                uint32_t mem_kb)
{
    run_p(id, attempt, kind, 50, mem_kb, 0);
}

/* CANCEL, RELEASE or ACK; returns the job requests made. */
static size_t op(dx_assign_op o, const char *id, uint32_t attempt,
                 int64_t now)
{
    dx_assign_item it = item_of(o, id, attempt);
    return apply(&it, now);
}

static size_t pump(int64_t now)
{
    nj = 0;
    dx_exec_pump(X, now, now + WALL0, jobs, JOBS_CAP, &nj);
    return nj;
}

static const char *job_id(size_t k)
{
    assert_true(k < nj);
    return X->slots[jobs[k].slot].id;
}

/* The slot of `id`'s job among the last requests. */
static uint32_t job_slot(const char *id)
{
    for (size_t k = 0; k < nj; k++)
        if (strcmp(job_id(k), id) == 0)
            return jobs[k].slot;
    fail_msg("no job for %s", id);
    return 0;
}

static void done(uint32_t slot, int rc, const char *text, int64_t now)
{
    dx_exec_job_done(X, slot, rc, text, now, now + WALL0);
}

static void tick(int64_t now)
{
    dx_exec_tick(X, now, now + WALL0);
}

/* Flushes every waiting non-sync report into got[]; returns the count. */
static size_t take(void)
{
    ngot = 0;
    while (dx_exec_flush(X, 1, &R)) {
        assert_false(R.sync);
        assert_int_equal(R.node, 4);
        for (size_t i = 0; i < R.n && ngot < GOT_MAX; i++)
            got[ngot++] = R.items[i];
    }
    assert_false(dx_exec_has_report(X));
    return ngot;
}

/* The collected item for id in state st, or NULL. */
static const dx_report_item *got_item(const char *id, dx_report_state st)
{
    for (size_t i = 0; i < ngot; i++)
        if (strcmp(got[i].id, id) == 0 && got[i].state == st)
            return &got[i];
    return NULL;
}

static const dx_report_item *expect_item(const char *id, dx_report_state st)
{
    const dx_report_item *it = got_item(id, st);
    if (it == NULL)
        fail_msg("no %s report for %s", dx_report_state_name(st), id);
    return it;
}

static void expect_counts(uint32_t queued, uint32_t running)
{
    assert_int_equal(dx_exec_queued(X), queued);
    assert_int_equal(dx_exec_running(X), running);
}

/* ---- runs, duplicates, acks ---- */

/* noop finishes at once, holds no worker, and its final report stays
 * unacked until an ACK of the same attempt. */
static void test_noop_done_then_ack(void **state)
{
    (void)state;
    init_x(2, ARENA_KB);
    run("a", 1, DX_TASK_NOOP, 0);
    expect_counts(1, 0);
    assert_false(dx_exec_has_report(X));
    assert_int_equal(pump(100), 0);
    expect_counts(0, 0);
    assert_true(dx_exec_has_report(X));
    take();
    const dx_report_item *it = expect_item("a", DX_REP_DONE);
    assert_int_equal(it->attempt, 1);
    assert_int_equal(it->finished_ms, 100 + WALL0);
    assert_string_equal(it->result, "noop");
    assert_int_equal(X->n_unacked, 1);
    op(DX_ASSIGN_ACK, "a", 2, 110);        /* another attempt: not this one */
    assert_int_equal(X->n_unacked, 1);
    op(DX_ASSIGN_ACK, "a", 1, 120);
    assert_int_equal(X->n_unacked, 0);
    assert_true(dx_exec_next_deadline(X) == INT64_MAX);
}

/* The same task and attempt twice is one task; a higher attempt of a task
 * held is the same task placed here again, and reports use it. */
static void test_duplicate_and_higher_attempt(void **state)
{
    (void)state;
    init_x(2, ARENA_KB);
    run("a", 1, DX_TASK_COMPUTE, 0);
    run("a", 1, DX_TASK_COMPUTE, 0);
    expect_counts(1, 0);
    run("a", 3, DX_TASK_COMPUTE, 0);
    expect_counts(1, 0);
    assert_int_equal(pump(0), 1);
    uint32_t sa = job_slot("a");
    assert_int_equal(pump(0), 0);         /* not twice */
    done(sa, 0, "ok", 60);
    take();
    assert_int_equal(expect_item("a", DX_REP_RUNNING)->attempt, 3);
    assert_int_equal(expect_item("a", DX_REP_DONE)->attempt, 3);
    expect_counts(0, 0);
}

/* ---- admission: workers and memory ---- */

/* With 2 workers, a third compute waits until a worker is free. */
static void test_compute_needs_worker(void **state)
{
    (void)state;
    init_x(2, ARENA_KB);
    run("a", 1, DX_TASK_COMPUTE, 0);
    run("b", 1, DX_TASK_COMPUTE, 0);
    run("c", 1, DX_TASK_COMPUTE, 0);
    assert_int_equal(pump(0), 2);
    assert_string_equal(job_id(0), "a");
    assert_string_equal(job_id(1), "b");
    assert_false(jobs[0].cancel);
    assert_int_equal(jobs[0].kind, DX_TASK_COMPUTE);
    assert_int_equal(jobs[0].ms, 50);
    expect_counts(1, 2);
    uint32_t sa = jobs[0].slot;
    assert_int_equal(pump(5), 0);         /* still no worker */
    take();
    assert_non_null(expect_item("a", DX_REP_RUNNING));
    assert_null(got_item("c", DX_REP_RUNNING));
    done(sa, 0, "ok", 50);
    expect_counts(1, 1);
    assert_int_equal(pump(50), 1);
    assert_string_equal(job_id(0), "c");
    expect_counts(0, 2);
}

/* A task waits for its memory (no job), starts once another frees it; one
 * larger than the whole pool fails at once. */
static void test_memory_admission(void **state)
{
    (void)state;
    init_x(4, ARENA_KB);
    run("big", 1, DX_TASK_COMPUTE, 200);
    assert_int_equal(pump(0), 1);
    assert_non_null(jobs[0].mem);
    assert_int_equal(jobs[0].mem_bytes, 200u * 1024u);
    uint32_t sbig = jobs[0].slot;
    assert_int_equal(dx_pool_free_bytes(&pool), 56u * 1024u);

    run("b", 1, DX_TASK_COMPUTE, 100);
    assert_int_equal(pump(1), 0);         /* a free worker, no memory */
    expect_counts(1, 1);

    done(sbig, 0, "ok", 50);
    assert_int_equal(dx_pool_free_bytes(&pool), ARENA_KB * 1024u);
    assert_int_equal(pump(50), 1);
    assert_string_equal(job_id(0), "b");
    assert_int_equal(dx_pool_free_bytes(&pool), 156u * 1024u);

    take();
    run("huge", 2, DX_TASK_COMPUTE, ARENA_KB + 1);  /* answered in assign */
    expect_counts(0, 1);
    take();
    const dx_report_item *it = expect_item("huge", DX_REP_FAILED);
    assert_int_equal(it->attempt, 2);
    assert_non_null(strstr(it->result, "257"));
    assert_int_equal(X->n_unacked, 2);    /* big's DONE, huge's FAILED */
    run("whole", 1, DX_TASK_NOOP, ARENA_KB);  /* the whole pool is fine */
    expect_counts(1, 1);
}

/* FIFO: oldest first, and a big task at the head that does not fit lets
 * a small one behind it pass; it starts first once memory frees. */
static void test_fifo_big_head_does_not_block(void **state)
{
    (void)state;
    init_x(1, ARENA_KB);
    run("a", 1, DX_TASK_COMPUTE, 0);
    run("b", 1, DX_TASK_COMPUTE, 0);
    run("c", 1, DX_TASK_COMPUTE, 0);
    for (const char *want = "abc"; *want != '\0'; want++) {
        char id[2] = {*want, '\0'};
        assert_int_equal(pump(0), 1);
        assert_string_equal(job_id(0), id);
        done(jobs[0].slot, 0, "ok", 10);
    }

    init_x(4, ARENA_KB);
    run("hold", 1, DX_TASK_COMPUTE, 200);
    assert_int_equal(pump(0), 1);
    uint32_t shold = jobs[0].slot;
    run("big", 1, DX_TASK_COMPUTE, 100);
    run("small", 1, DX_TASK_COMPUTE, 40);
    run("small2", 1, DX_TASK_COMPUTE, 100);
    assert_int_equal(pump(1), 1);
    assert_string_equal(job_id(0), "small");
    expect_counts(2, 2);
    done(shold, 0, "ok", 20);
    assert_int_equal(pump(20), 2);        /* 100 + 100 of 216 free */
    assert_string_equal(job_id(0), "big");
    assert_string_equal(job_id(1), "small2");
}

/* ---- timers: sleep and periodic ---- */

/* sleep ends on tick after ms and holds no worker meanwhile. */
static void test_sleep_on_tick_without_worker(void **state)
{
    (void)state;
    init_x(1, ARENA_KB);
    run_p("s", 1, DX_TASK_SLEEP, 100, 0, 0);
    run("c", 1, DX_TASK_COMPUTE, 0);
    assert_int_equal(pump(0), 1);         /* only the compute needs a job */
    assert_string_equal(job_id(0), "c");
    expect_counts(0, 2);
    assert_int_equal(dx_exec_next_deadline(X), 100);
    take();
    tick(99);
    assert_int_equal(take(), 0);
    tick(100);
    take();
    assert_string_equal(expect_item("s", DX_REP_DONE)->result,
                        "slept 100 ms");
    expect_counts(0, 1);
}

/* Periodic: a RUNNING report with runs=k after each run; the next run is
 * every_ms after the previous start (at once when late); a failed run is
 * reported and the task goes on; cancel ends it between runs. */
static void test_periodic_compute(void **state)
{
    (void)state;
    init_x(1, ARENA_KB);
    run_p("p", 1, DX_TASK_COMPUTE, 30, 16, 100);
    assert_int_equal(pump(0), 1);
    done(jobs[0].slot, 0, "r1", 30);
    take();
    const dx_report_item *it = &got[ngot - 1];
    assert_int_equal(it->state, DX_REP_RUNNING);
    assert_int_equal(it->runs, 1);
    assert_string_equal(it->result, "r1");
    expect_counts(0, 0);                  /* between runs */
    assert_int_equal(dx_pool_free_bytes(&pool), ARENA_KB * 1024u);
    assert_int_equal(dx_exec_next_deadline(X), 100);

    tick(99);
    expect_counts(0, 0);
    tick(100);
    expect_counts(1, 0);
    assert_int_equal(pump(100), 1);
    take();
    assert_int_equal(ngot, 0);            /* no "started" on later runs */
    done(jobs[0].slot, 0, "r2", 250);     /* late: the next run is due now */
    take();
    assert_int_equal(got[0].runs, 2);
    assert_int_equal(dx_exec_next_deadline(X), 250);
    tick(250);
    assert_int_equal(pump(250), 1);
    done(jobs[0].slot, DX_EIO, "boom", 260);
    take();
    assert_int_equal(got[0].state, DX_REP_RUNNING);
    assert_string_equal(got[0].result, "run 3 failed: boom");
    assert_int_equal(dx_exec_next_deadline(X), 350);

    assert_int_equal(op(DX_ASSIGN_CANCEL, "p", 1, 300), 0);
    take();
    assert_int_equal(expect_item("p", DX_REP_CANCELLED)->runs, 3);
    tick(400);
    expect_counts(0, 0);
    assert_int_equal(pump(400), 0);
}

/* noop periodic keeps the rhythm of its starts. */
static void test_periodic_noop(void **state)
{
    (void)state;
    init_x(1, ARENA_KB);
    run_p("n", 1, DX_TASK_NOOP, 0, 0, 50);
    for (int64_t k = 1; k <= 5; k++) {
        int64_t at = (k - 1) * 50;
        tick(at);
        assert_int_equal(pump(at), 0);
        take();
        assert_int_equal(ngot, 1);
        assert_int_equal(got[0].state, DX_REP_RUNNING);
        assert_int_equal(got[0].runs, (uint64_t)k);
        assert_int_equal(dx_exec_next_deadline(X), at + 50);
        tick(at + 49);
        expect_counts(0, 0);
    }
}

/* A periodic sleep also runs every every_ms after its previous start
 * (exec.h), not every_ms after the end of its sleep. */
static void test_periodic_sleep_rhythm(void **state)
{
    (void)state;
    init_x(1, ARENA_KB);
    run_p("ps", 1, DX_TASK_SLEEP, 30, 0, 100);
    assert_int_equal(pump(0), 0);
    tick(30);                             /* run 1 ends */
    take();
    assert_int_equal(expect_item("ps", DX_REP_RUNNING)->runs, 0);
    assert_int_equal(got[ngot - 1].runs, 1);
    assert_int_equal(dx_exec_next_deadline(X), 100);
}

/* ---- cancel and release ---- */

/* Cancel of a queued task: CANCELLED at once, kept unacked. */
static void test_cancel_queued(void **state)
{
    (void)state;
    init_x(1, ARENA_KB);
    run("a", 1, DX_TASK_COMPUTE, 0);
    run("b", 1, DX_TASK_COMPUTE, 0);
    assert_int_equal(pump(0), 1);
    take();
    assert_int_equal(op(DX_ASSIGN_CANCEL, "b", 1, 5), 0);
    expect_counts(0, 1);
    take();
    assert_string_equal(expect_item("b", DX_REP_CANCELLED)->result,
                        "cancelled");
    assert_int_equal(X->n_unacked, 1);
    /* A cancel for a task this node never had is answered too. */
    op(DX_ASSIGN_CANCEL, "ghost", 2, 6);
    take();
    assert_int_equal(expect_item("ghost", DX_REP_CANCELLED)->attempt, 2);
}

/* Cancel of a running worker job asks the shell to cancel it; the job's
 * end with DX_ESTATE makes it CANCELLED and frees worker and memory. */
static void test_cancel_running_job(void **state)
{
    (void)state;
    init_x(1, ARENA_KB);
    run("a", 1, DX_TASK_COMPUTE, 64);
    run("b", 1, DX_TASK_COMPUTE, 0);
    assert_int_equal(pump(0), 1);
    uint32_t sa = jobs[0].slot;
    take();
    assert_int_equal(op(DX_ASSIGN_CANCEL, "a", 1, 10), 1);
    assert_true(jobs[0].cancel);
    assert_int_equal(jobs[0].slot, sa);
    expect_counts(1, 1);                  /* until the worker says so */
    assert_int_equal(take(), 0);
    done(sa, DX_ESTATE, "cancelled", 12);
    take();
    assert_non_null(expect_item("a", DX_REP_CANCELLED));
    assert_null(got_item("a", DX_REP_DONE));
    assert_int_equal(dx_pool_free_bytes(&pool), ARENA_KB * 1024u);
    expect_counts(1, 0);
    assert_int_equal(pump(12), 1);
    assert_string_equal(job_id(0), "b");
}

/* Release gives back a queued task; a running one stays, and says so. */
static void test_release(void **state)
{
    (void)state;
    init_x(1, ARENA_KB);
    run("a", 1, DX_TASK_COMPUTE, 0);
    run("b", 3, DX_TASK_COMPUTE, 0);
    assert_int_equal(pump(0), 1);
    take();
    op(DX_ASSIGN_RELEASE, "b", 3, 5);
    op(DX_ASSIGN_RELEASE, "a", 1, 5);
    op(DX_ASSIGN_RELEASE, "zz", 1, 5);    /* unknown: nothing */
    take();
    assert_int_equal(ngot, 2);
    assert_int_equal(expect_item("b", DX_REP_RELEASED)->attempt, 3);
    assert_non_null(expect_item("a", DX_REP_RUNNING));
    assert_null(got_item("a", DX_REP_RELEASED));
    expect_counts(0, 1);
    assert_int_equal(X->n_unacked, 1);    /* the release is final */
}

/* ---- resends and the leader change ---- */

/* Unacked finals go out again every DX_EXEC_RESEND_MS until acked. */
static void test_resend_until_acked(void **state)
{
    (void)state;
    init_x(1, ARENA_KB);
    tick(0);                              /* the core ticks from the start */
    run("a", 1, DX_TASK_NOOP, 0);
    pump(0);
    take();
    int64_t due = dx_exec_next_deadline(X);
    assert_int_equal(due, DX_EXEC_RESEND_MS);
    tick(due - 1);
    assert_int_equal(take(), 0);
    tick(due);
    assert_int_equal(take(), 1);
    assert_int_equal(got[0].state, DX_REP_DONE);
    assert_string_equal(got[0].result, "noop");
    assert_int_equal(dx_exec_next_deadline(X), due + DX_EXEC_RESEND_MS);
    op(DX_ASSIGN_ACK, "a", 1, due + 10);
    assert_true(dx_exec_next_deadline(X) == INT64_MAX);
    tick(due + DX_EXEC_RESEND_MS);
    assert_int_equal(take(), 0);
}

/* A final report is not sent a second time before DX_EXEC_RESEND_MS has
 * passed, even when the executor had no tick before it (a fresh node, or
 * ticks further apart than DX_EXEC_RESEND_MS). */
static void test_resend_not_immediate(void **state)
{
    (void)state;
    init_x(1, ARENA_KB);
    run("a", 1, DX_TASK_NOOP, 0);
    pump(10000);
    assert_int_equal(take(), 1);
    assert_true(dx_exec_next_deadline(X) > 10000);
    tick(10000);
    assert_int_equal(take(), 0);
    tick(10000 + DX_EXEC_RESEND_MS);
    assert_int_equal(take(), 1);
}

/* After a leader change the next flush is the inventory (queued and
 * running tasks with their attempts, `last` on its final part), then the
 * unacked finals. */
static void test_leader_change_sync(void **state)
{
    (void)state;
    init_x(1, ARENA_KB);
    tick(0);
    run("n", 1, DX_TASK_NOOP, 0);
    run_p("r", 2, DX_TASK_COMPUTE, 50, 0, 0);
    run("q", 1, DX_TASK_COMPUTE, 0);
    assert_int_equal(pump(0), 1);
    take();
    dx_exec_on_leader(X);
    assert_true(dx_exec_has_report(X));
    tick(5);                              /* as the core: tick, then flush */
    assert_true(dx_exec_flush(X, 9, &R));
    assert_true(R.sync);
    assert_true(R.last);
    assert_int_equal(R.term, 9);
    size_t listed = 0;
    bool done_n = false;
    for (size_t i = 0; i < R.n; i++) {
        const dx_report_item *it = &R.items[i];
        bool is_r = strcmp(it->id, "r") == 0;
        done_n |= strcmp(it->id, "n") == 0 && it->state == DX_REP_DONE;
        if (!is_r && strcmp(it->id, "q") != 0)
            continue;
        assert_int_equal(it->state, is_r ? DX_REP_RUNNING : DX_REP_QUEUED);
        assert_int_equal(it->attempt, is_r ? 2 : 1);
        listed++;
    }
    assert_int_equal(listed, 2);
    take();                               /* then the unacked finals */
    assert_true(done_n || got_item("n", DX_REP_DONE) != NULL);
    assert_null(got_item("n", DX_REP_RUNNING));
}

/* Queues n compute tasks q0, q1, ... (nothing started). */
static void queue_n(int n)
{
    char id[16];
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "q%d", i);
        run(id, 1, DX_TASK_COMPUTE, 0);
    }
}

/* An inventory larger than one message comes in parts; only the last has
 * `last`; an empty node still sends one (empty, last) part. */
static void test_sync_in_parts(void **state)
{
    (void)state;
    init_x(1, ARENA_KB);
    dx_exec_on_leader(X);
    assert_true(dx_exec_flush(X, 2, &R));
    assert_true(R.sync && R.last);
    assert_int_equal(R.n, 0);
    queue_n(100);
    dx_exec_on_leader(X);
    assert_true(dx_exec_flush(X, 3, &R));
    assert_true(R.sync);
    assert_false(R.last);
    assert_int_equal(R.n, DX_REPORT_MAX);
    assert_true(dx_exec_flush(X, 3, &R));
    assert_true(R.sync && R.last);
    assert_int_equal(R.n, 100 - DX_REPORT_MAX);
    assert_false(dx_exec_has_report(X));
}

/* A second leader change while an inventory is half sent: the new leader
 * gets a whole inventory, from its first part. */
static void test_sync_restarts_on_new_leader(void **state)
{
    (void)state;
    size_t listed = 0;
    init_x(1, ARENA_KB);
    queue_n(100);
    dx_exec_on_leader(X);
    assert_true(dx_exec_flush(X, 3, &R));
    assert_false(R.last);                 /* part 1 of 2 went to term 3 */
    dx_exec_on_leader(X);
    do {
        assert_true(dx_exec_flush(X, 4, &R));
        assert_true(R.sync);
        listed += R.n;
    } while (!R.last);
    assert_int_equal(listed, 100);
}

/* A task that finished before the leader change and is not acked yet
 * reaches the new leader no later than the inventory's last part: the
 * leader re-places every task the inventory lacks when it reads `last`,
 * so a DONE that comes after it makes the task run a second time. */
static void test_sync_includes_unacked_finals(void **state)
{
    (void)state;
    bool seen_done = false;
    init_x(1, ARENA_KB);
    tick(0);
    run("n", 1, DX_TASK_NOOP, 0);
    run("q", 1, DX_TASK_COMPUTE, 0);
    pump(0);
    take();                               /* sent to the old leader */
    dx_exec_on_leader(X);
    tick(5);
    do {
        assert_true(dx_exec_flush(X, 9, &R));
        for (size_t i = 0; i < R.n; i++)
            seen_done |= strcmp(R.items[i].id, "n") == 0 &&
                         R.items[i].state == DX_REP_DONE;
    } while (!(R.sync && R.last));
    assert_true(seen_done);
}

/* ---- robustness ---- */

/* The slot holding id (white box), for completions that are not jobs. */
static uint32_t slot_of(const char *id)
{
    for (uint32_t s = 0; s < X->high; s++)
        if (X->slots[s].st != DX_SLOT_FREE && strcmp(X->slots[s].id, id) == 0)
            return s;
    fail_msg("no slot holds %s", id);
    return 0;
}

/* A completion for a slot without a job out is ignored: a freed slot, a
 * sleeping or queued task, a slot out of range. */
static void test_stale_job_done(void **state)
{
    (void)state;
    init_x(1, ARENA_KB);
    run("a", 1, DX_TASK_COMPUTE, 0);
    run_p("s", 1, DX_TASK_SLEEP, 100, 0, 0);
    assert_int_equal(pump(0), 1);
    uint32_t sa = jobs[0].slot;
    run("q", 1, DX_TASK_COMPUTE, 0);
    done(sa, 0, "ok", 10);
    take();
    assert_non_null(expect_item("a", DX_REP_DONE));
    expect_counts(1, 1);
    done(sa, 0, "again", 11);
    done(sa, DX_ESTATE, "again", 11);
    done(slot_of("s"), 0, "not a job", 12);
    done(slot_of("q"), 0, "not a job", 12);
    done(DX_EXEC_MAX + 3, 0, "out of range", 12);
    assert_int_equal(take(), 0);
    expect_counts(1, 1);
    assert_int_equal(X->busy, 0);
    assert_int_equal(X->n_unacked, 1);
    assert_int_equal(pump(12), 1);
    assert_string_equal(job_id(0), "q");
}

/* ---- the id index ---- */

static uint32_t rng = 12345u;

static uint32_t next_rand(void)
{
    rng = rng * 1103515245u + 12345u;
    return rng >> 8;
}

/* Every id in live[0..n) is found: a duplicate RUN adds nothing. */
static void expect_all_found(char (*live)[16], size_t n)
{
    uint32_t q = dx_exec_queued(X);
    for (size_t i = 0; i < n; i++)
        run(live[i], 1, DX_TASK_COMPUTE, 0);
    assert_int_equal(dx_exec_queued(X), q);
    assert_int_equal(q, n);
    size_t used = 0;
    for (size_t i = 0; i < DX_EXEC_HASH; i++)
        used += X->index[i] != 0;
    assert_int_equal(used, n);
}

/* Cancels live[k] (found: the queue shrinks) and drops it from the set. */
static void cancel_live(char (*live)[16], size_t *n, size_t k)
{
    uint32_t q = dx_exec_queued(X);
    op(DX_ASSIGN_CANCEL, live[k], 1, 0);
    assert_int_equal(dx_exec_queued(X), q - 1);
    op(DX_ASSIGN_ACK, live[k], 1, 0);
    memcpy(live[k], live[--*n], sizeof live[k]);
    while (dx_exec_flush(X, 1, &R))
        ;
}

/* 20,000 tasks through ~3000 live ids: every deletion (backward shift)
 * keeps each remaining id findable, and no index entry leaks. */
static void test_index_churn(void **state)
{
    (void)state;
    static char live[3200][16];
    size_t n = 0;
    init_x(1, ARENA_KB);
    for (uint32_t i = 0; i < 20000; i++) {
        snprintf(live[n], sizeof live[n], "id-%u", i);
        run(live[n++], 1, DX_TASK_COMPUTE, 0);
        if (n > 3000 || (i > 15000 && next_rand() % 4 != 0))
            cancel_live(live, &n, next_rand() % n);
        if (i % 4000 == 3999)
            expect_all_found(live, n);
    }
    expect_all_found(live, n);
    while (n > 0)
        cancel_live(live, &n, next_rand() % n);
    expect_all_found(live, 0);
}

/* The exec's index hash (FNV-1a), to build ids that collide on purpose. */
static uint32_t home_of(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h & (DX_EXEC_HASH - 1);
}

/* One long cluster whose homes sit at the end of the table, so it wraps
 * round to the start: deleting from it in random order keeps the rest. */
static void test_index_wrapping_cluster(void **state)
{
    (void)state;
    static char live[96][16];
    size_t n = 0;
    init_x(1, ARENA_KB);
    for (uint32_t i = 0; n < 96; i++) {
        char id[16];
        snprintf(id, sizeof id, "w%u", i);
        if (home_of(id) < DX_EXEC_HASH - 24)
            continue;
        memcpy(live[n++], id, sizeof id);
        run(id, 1, DX_TASK_COMPUTE, 0);
    }
    assert_int_not_equal(X->index[40], 0);    /* it did wrap */
    expect_all_found(live, n);
    while (n > 0) {
        cancel_live(live, &n, next_rand() % n);
        expect_all_found(live, n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_noop_done_then_ack),
        T(test_duplicate_and_higher_attempt),
        T(test_compute_needs_worker),
        T(test_memory_admission),
        T(test_fifo_big_head_does_not_block),
        T(test_sleep_on_tick_without_worker),
        T(test_periodic_compute),
        T(test_periodic_noop),
        T(test_periodic_sleep_rhythm),
        T(test_cancel_queued),
        T(test_cancel_running_job),
        T(test_release),
        T(test_resend_until_acked),
        T(test_resend_not_immediate),
        T(test_leader_change_sync),
        T(test_sync_in_parts),
        T(test_sync_restarts_on_new_leader),
        T(test_sync_includes_unacked_finals),
        T(test_stale_job_done),
        T(test_index_churn),
        T(test_index_wrapping_cluster),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
