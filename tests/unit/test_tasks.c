/*
 * test_tasks.c - unit tests of the cluster's task table (agent/tasks.c).
 *
 * One table per test (calloc'ed in the setup: the struct is large) and a
 * cluster of three alive nodes as the leader builds it from membership:
 * 4 workers each, a 64 MiB pool entirely free, node 2 with a "temp"
 * device.  Node reports are built the way the core decodes them; the
 * leader's outputs are read from the table (items, notes) and through
 * dx_tasks_take_record.  The leader's term is TERM unless a test changes
 * leaders.  Each test states the rule of tasks.h it checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tasks.h"

#define NN 3
#define POOL_KB 65536u
#define TERM 7u
#define TTL_MS 5000
#define WALL0 1000000000000LL      /* wall clock = now + WALL0 */

static const char temp_dev[][DX_NAME_MAX + 1] = {"temp"};
static dx_sched_node N[NN];
static dx_tasks *T;
static dx_task_record REC;         /* the last record taken */
static bool CLR;                   /* ... and whether it was a clearing */
static dx_msg_report R;

static int setup(void **state)
{
    (void)state;
    T = calloc(1, sizeof *T);
    if (T == NULL)
        return -1;
    dx_tasks_init(T, 3, TTL_MS);
    memset(N, 0, sizeof N);
    for (uint16_t i = 0; i < NN; i++) {
        N[i].id = (uint16_t)(i + 1);
        N[i].alive = true;
        N[i].workers = 4;
        N[i].pool_kb = POOL_KB;
        N[i].mem_largest_kb = POOL_KB;
    }
    N[1].n_devices = 1;
    N[1].devices = temp_dev;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(T);
    T = NULL;
    return 0;
}

static dx_sched_node *node(uint16_t id)
{
    assert_true(id >= 1 && id <= NN);
    return &N[id - 1];
}

static dx_task_spec spec_of(const char *id, uint32_t mem_kb)
{
    dx_task_spec s;
    memset(&s, 0, sizeof s);
    snprintf(s.id, sizeof s.id, "%s", id);
    s.kind = DX_TASK_COMPUTE;
    s.ms = 100;
    s.mem_kb = mem_kb;
    return s;
}

static int submit_spec(const dx_task_spec *s, int64_t now, char *id,
                       dx_diag *d)
{
    return dx_tasks_submit(T, s, N, NN, TERM, now, now + WALL0, id,
                           DX_TASK_ID_MAX + 1, d);
}

/* Submits a compute task (id "" = named by the leader); returns it. */
static dx_task *submit(const char *id, uint32_t mem_kb, int64_t now)
{
    dx_task_spec s = spec_of(id, mem_kb);
    char out[DX_TASK_ID_MAX + 1];
    dx_diag d = {{0}};
    assert_int_equal(submit_spec(&s, now, out, &d), 0);
    dx_task *t = dx_tasks_get(T, out);
    assert_non_null(t);
    return t;
}

/* Items waiting for a flush: how many match (node 0 = any). */
static size_t n_items(uint16_t to, dx_assign_op op)
{
    size_t c = 0;
    for (size_t i = 0; i < T->n_items; i++)
        c += (to == 0 || T->items[i].node == to) && T->items[i].op == op;
    return c;
}

/* The last item of this op for id, or NULL. */
static const dx_task_item *item_for(dx_assign_op op, const char *id)
{
    for (size_t i = T->n_items; i-- > 0;)
        if (T->items[i].op == op && strcmp(T->items[i].id, id) == 0)
            return &T->items[i];
    return NULL;
}

static void expect_item(dx_assign_op op, const char *id, uint16_t to,
                        uint32_t attempt)
{
    const dx_task_item *it = item_for(op, id);
    if (it == NULL)
        fail_msg("no item of op %d for %s", (int)op, id);
    assert_int_equal(it->node, to);
    assert_int_equal(it->attempt, attempt);
}

static size_t n_notes(const char *needle)
{
    size_t c = 0;
    for (size_t i = 0; i < T->n_notes; i++)
        c += strstr(T->notes[i], needle) != NULL;
    return c;
}

/* Adds one item to the report R (from `from`, in this term). */
static void rep_add(uint16_t from, const char *id, uint32_t attempt,
                    dx_report_state st, const char *result)
{
    dx_report_item *it = &R.items[R.n++];
    R.node = from;
    R.term = TERM;
    memset(it, 0, sizeof *it);
    snprintf(it->id, sizeof it->id, "%s", id);
    it->attempt = attempt;
    it->state = st;
    it->started_ms = 5 + WALL0;
    it->finished_ms = st == DX_REP_RUNNING ? 0 : 9 + WALL0;
    snprintf(it->result, sizeof it->result, "%s", result);
}

static void rep_send(int64_t now, uint64_t term)
{
    dx_tasks_on_report(T, &R, N, NN, term, now, now + WALL0);
    memset(&R, 0, sizeof R);
}

/* A one-item report. */
static void rep(uint16_t from, const char *id, uint32_t attempt,
                dx_report_state st, const char *result, int64_t now)
{
    rep_add(from, id, attempt, st, result);
    rep_send(now, TERM);
}

static bool take(int64_t now)
{
    CLR = false;
    return dx_tasks_take_record(T, TERM, now, &REC, &CLR);
}

/* Takes every record due at now; returns how many. */
static size_t take_all(int64_t now)
{
    size_t n = 0;
    while (take(now))
        n++;
    return n;
}

static void tick(int64_t now)
{
    dx_tasks_tick(T, N, NN, TERM, now);
}

static void clear_outputs(void)
{
    T->n_items = 0;
    T->n_notes = 0;
}

/* ---- submissions ---- */

/* Without an id the leader names it t{term}-{n}; it is placed at once. */
static void test_submit_names(void **state)
{
    (void)state;
    dx_task_spec s = spec_of("", 0);
    char id[DX_TASK_ID_MAX + 1];
    assert_int_equal(submit_spec(&s, 100, id, NULL), 0);
    assert_string_equal(id, "t7-1");
    assert_int_equal(submit_spec(&s, 100, id, NULL), 0);
    assert_string_equal(id, "t7-2");
    dx_task *t = dx_tasks_get(T, "t7-2");
    assert_non_null(t);
    assert_int_equal(t->state, DX_TS_ASSIGNED);
    assert_int_equal(t->attempt, 1);
    assert_int_equal(t->term, TERM);
    assert_int_equal(t->submitted_ms, 100 + WALL0);
    expect_item(DX_ASSIGN_RUN, "t7-2", t->node, 1);
    /* A name already taken by a client is skipped. */
    submit("t7-3", 0, 100);
    assert_int_equal(submit_spec(&s, 100, id, NULL), 0);
    assert_string_equal(id, "t7-4");
}

/* A submission with an id that exists succeeds and changes nothing. */
static void test_submit_idempotent(void **state)
{
    (void)state;
    dx_task_spec s = spec_of("job1", 0);
    char id[DX_TASK_ID_MAX + 1];
    assert_int_equal(submit_spec(&s, 100, id, NULL), 0);
    s.mem_kb = 10;
    assert_int_equal(submit_spec(&s, 200, id, NULL), 0);
    assert_string_equal(id, "job1");
    assert_int_equal(T->n_used, 1);
    assert_int_equal(T->n_items, 1);
    assert_int_equal(dx_tasks_get(T, "job1")->mem_kb, 0);
    assert_int_equal(dx_tasks_get(T, "job1")->submitted_ms, 100 + WALL0);
}

/* Admission: too big for every pool is DX_ERANGE, an unknown pinned node
 * or device DX_ENOTFOUND, each with a diagnosis; a device task goes to the
 * node that has it. */
static void test_submit_admission(void **state)
{
    (void)state;
    char id[DX_TASK_ID_MAX + 1] = "";
    dx_diag d = {{0}};
    dx_task_spec s = spec_of("big", POOL_KB + 1);
    assert_int_equal(submit_spec(&s, 100, id, &d), DX_ERANGE);
    assert_true(d.msg[0] != '\0');
    s = spec_of("pin", 0);
    s.node = 9;
    memset(&d, 0, sizeof d);
    assert_int_equal(submit_spec(&s, 100, id, &d), DX_ENOTFOUND);
    assert_non_null(strstr(d.msg, "9"));
    s = spec_of("dev", 0);
    snprintf(s.device, sizeof s.device, "press");
    assert_int_equal(submit_spec(&s, 100, id, &d), DX_ENOTFOUND);
    assert_int_equal(T->n_used, 0);
    assert_int_equal(T->n_items, 0);
    snprintf(s.device, sizeof s.device, "temp");
    for (int i = 0; i < 5; i++) {
        snprintf(s.id, sizeof s.id, "dev%d", i);
        assert_int_equal(submit_spec(&s, 100, id, &d), 0);
        assert_int_equal(dx_tasks_get(T, id)->node, 2);
    }
}

/* 100 submissions in a burst are spread: no node gets more than half. */
static void test_placement_spread(void **state)
{
    (void)state;
    for (int i = 0; i < 100; i++)
        submit("", 0, 100);
    assert_int_equal(n_items(0, DX_ASSIGN_RUN), 100);
    for (uint16_t id = 1; id <= NN; id++) {
        size_t c = n_items(id, DX_ASSIGN_RUN);
        assert_true(c > 0 && c <= 50);
    }
}

/* ---- records ---- */

/* Non-final changes are written DX_RECORD_DELAY_MS after the first one,
 * once, with the latest state; a final one at once. */
static void test_records_coalesced(void **state)
{
    (void)state;
    dx_task *t = submit("a", 0, 1000);
    uint16_t on = t->node;
    assert_false(take(1000));
    assert_false(take(1000 + DX_RECORD_DELAY_MS - 1));
    rep(on, "a", 1, DX_REP_RUNNING, "started", 1010);
    assert_int_equal(t->state, DX_TS_RUNNING);
    assert_false(take(1019));
    assert_true(take(1000 + DX_RECORD_DELAY_MS));
    assert_false(CLR);
    assert_string_equal(REC.spec.id, "a");
    assert_int_equal(REC.state, DX_TS_RUNNING);
    assert_int_equal(REC.node, on);
    assert_int_equal(REC.attempt, 1);
    assert_int_equal(REC.term, TERM);
    assert_int_equal(REC.started_ms, 5 + WALL0);
    assert_false(take(2000));             /* once */
    rep(on, "a", 1, DX_REP_DONE, "42", 3000);
    assert_true(take(3000));              /* final: at once */
    assert_int_equal(REC.state, DX_TS_DONE);
    assert_string_equal(REC.result, "42");
    assert_int_equal(REC.finished_ms, 9 + WALL0);
    assert_false(take(4000));
}

/* An "assigned" record waits DX_ASSIGNED_DELAY_MS: a task done before
 * then has one record; one still assigned is written then, once; a
 * "running" change while the assigned record waits is written
 * DX_RECORD_DELAY_MS after the first change (at once if that is past). */
static void test_records_assigned_slow(void **state)
{
    (void)state;
    dx_task *a = submit("a", 0, 1000);
    dx_task *b = submit("b", 0, 1000);
    dx_task *c = submit("c", 0, 1000);
    clear_outputs();
    T->steal_at = 100000;                 /* no other work due */
    assert_int_equal(dx_tasks_next_deadline(T), 1000 + DX_ASSIGNED_DELAY_MS);
    assert_int_equal(take_all(1000 + DX_ASSIGNED_DELAY_MS - 1), 0);
    rep(a->node, "a", 1, DX_REP_DONE, "ok", 1100);
    assert_true(take(1100));
    assert_int_equal(REC.state, DX_TS_DONE);
    rep(b->node, "b", 1, DX_REP_RUNNING, "", 1300);
    assert_true(take(1300));              /* pending since 1000 */
    assert_string_equal(REC.spec.id, "b");
    assert_int_equal(REC.state, DX_TS_RUNNING);
    assert_false(take(1000 + DX_ASSIGNED_DELAY_MS - 1));
    assert_true(take(1000 + DX_ASSIGNED_DELAY_MS));
    assert_string_equal(REC.spec.id, "c");
    assert_int_equal(REC.state, DX_TS_ASSIGNED);
    assert_int_equal(REC.node, c->node);
    assert_int_equal(take_all(10000), 0);  /* a and b: written already */
}

/* A change then a final before the delay: one record, the final one. */
static void test_records_final_overtakes(void **state)
{
    (void)state;
    dx_task *t = submit("a", 0, 1000);
    rep(t->node, "a", 1, DX_REP_RUNNING, "", 1001);
    rep(t->node, "a", 1, DX_REP_FAILED, "bad", 1002);
    assert_true(take(1002));
    assert_int_equal(REC.state, DX_TS_FAILED);
    assert_int_equal(take_all(5000), 0);
}

/* ---- reports ---- */

/* Submits id, then fails its node: it is placed again (attempt 2) on
 * another; *first gets the node that failed. */
static dx_task *rerouted(const char *id, uint16_t *first, int64_t now)
{
    dx_task *t = submit(id, 0, now);
    *first = t->node;
    node(*first)->alive = false;
    dx_tasks_on_node_down(T, *first, N, NN, TERM, now + 100);
    assert_int_not_equal(t->node, *first);
    assert_int_equal(t->attempt, 2);
    return t;
}

/* RUNNING updates the state; DONE from the current attempt makes the DONE
 * record and an ACK; a second final (another attempt) is only acked: the
 * first result stands (exactly once). */
static void test_reports_exactly_once(void **state)
{
    (void)state;
    dx_task *t = submit("r", 0, 100);
    rep(t->node, "r", 1, DX_REP_RUNNING, "", 110);
    assert_int_equal(t->state, DX_TS_RUNNING);
    assert_int_equal(t->started_ms, 5 + WALL0);
    uint16_t first;
    t = rerouted("a", &first, 200);
    uint16_t second = t->node;
    take_all(1000);
    clear_outputs();
    rep(second, "a", 2, DX_REP_DONE, "from two", 400);
    assert_true(take(400));
    assert_int_equal(REC.state, DX_TS_DONE);
    assert_int_equal(REC.node, second);
    expect_item(DX_ASSIGN_ACK, "a", second, 2);
    assert_int_equal(n_items(0, DX_ASSIGN_CANCEL), 0);

    node(first)->alive = true;            /* it was a false suspicion */
    rep(first, "a", 1, DX_REP_DONE, "from one", 500);
    expect_item(DX_ASSIGN_ACK, "a", first, 1);
    assert_false(take(500));
    assert_int_equal(take_all(1000), 0);
    assert_string_equal(t->result, "from two");
    assert_int_equal(t->node, second);
    assert_int_equal(t->attempt, 2);
    /* A late RUNNING of a finished task: that run is stopped. */
    rep(first, "a", 1, DX_REP_RUNNING, "", 600);
    expect_item(DX_ASSIGN_CANCEL, "a", first, 1);
    assert_int_equal(t->state, DX_TS_DONE);
}

/* DONE from an older attempt while a newer one runs elsewhere: accepted,
 * and the newer attempt's node is told to cancel. */
static void test_old_attempt_done_cancels_newer(void **state)
{
    (void)state;
    uint16_t first;
    dx_task *t = rerouted("a", &first, 100);
    uint16_t second = t->node;
    take_all(1000);
    clear_outputs();
    node(first)->alive = true;
    rep(first, "a", 1, DX_REP_DONE, "old but first", 300);
    expect_item(DX_ASSIGN_CANCEL, "a", second, 2);
    expect_item(DX_ASSIGN_ACK, "a", first, 1);
    assert_true(take(300));
    assert_int_equal(REC.state, DX_TS_DONE);
    assert_int_equal(REC.node, first);
    assert_int_equal(REC.attempt, 1);
    assert_string_equal(REC.result, "old but first");
    /* The newer attempt's cancellation is only acked. */
    clear_outputs();
    rep(second, "a", 2, DX_REP_CANCELLED, "cancelled", 310);
    expect_item(DX_ASSIGN_ACK, "a", second, 2);
    assert_int_equal(t->state, DX_TS_DONE);
    assert_false(take(310));
}

/* A node goes down: its unfinished tasks are placed again on survivors
 * with attempt + 1, with a note each; its finished ones stay. */
static void test_node_down_replaces(void **state)
{
    (void)state;
    char done_id[DX_TASK_ID_MAX + 1] = "";
    size_t on2 = 0;
    for (int i = 0; i < 12; i++)
        submit("", 0, 100);
    for (uint32_t k = 0; k < T->high; k++) {
        dx_task *t = &T->t[k];
        if (t->node != 2)
            continue;
        if (done_id[0] == '\0') {
            snprintf(done_id, sizeof done_id, "%s", t->id);
            rep(2, t->id, 1, DX_REP_DONE, "ok", 150);
        } else {
            on2++;
        }
    }
    assert_true(on2 >= 1);
    clear_outputs();
    node(2)->alive = false;
    dx_tasks_on_node_down(T, 2, N, NN, TERM, 200);
    assert_int_equal(n_items(0, DX_ASSIGN_RUN), on2);
    assert_int_equal(n_notes("[Recovery] Re-routing Task "), on2);
    for (size_t i = 0; i < T->n_items; i++) {
        const dx_task *t = dx_tasks_get(T, T->items[i].id);
        assert_int_not_equal(t->node, 2);
        assert_int_equal(T->items[i].node, t->node);
        assert_int_equal(t->attempt, 2);
        assert_int_equal(T->items[i].attempt, 2);
        assert_int_equal(t->state, DX_TS_ASSIGNED);
    }
    const dx_task *d = dx_tasks_get(T, done_id);
    assert_int_equal(d->state, DX_TS_DONE);
    assert_int_equal(d->node, 2);
}

/* Cancel of a placed task: a CANCEL item, then the node's CANCELLED
 * report makes the CANCELLED record.  Unknown: DX_ENOTFOUND. */
static void test_cancel(void **state)
{
    (void)state;
    dx_task *t = submit("a", 0, 100);
    take_all(1000);
    clear_outputs();
    assert_int_equal(dx_tasks_cancel(T, "a", 1100, 1100 + WALL0), 0);
    expect_item(DX_ASSIGN_CANCEL, "a", t->node, 1);
    assert_int_equal(t->state, DX_TS_ASSIGNED);
    assert_int_equal(dx_tasks_cancel(T, "a", 1101, 1101 + WALL0), 0);
    assert_int_equal(T->n_items, 1);      /* not twice */
    rep(t->node, "a", 1, DX_REP_CANCELLED, "cancelled", 1200);
    expect_item(DX_ASSIGN_ACK, "a", t->node, 1);
    assert_true(take(1200));
    assert_int_equal(REC.state, DX_TS_CANCELLED);
    assert_int_equal(dx_tasks_cancel(T, "a", 1300, 1300 + WALL0), 0);
    assert_int_equal(dx_tasks_cancel(T, "nope", 1300, 1300 + WALL0),
                     DX_ENOTFOUND);
}

/* A CANCELLED report the leader did not ask for (the node stopped it):
 * the task goes round again; a pending cancel survives a node failure. */
static void test_cancel_unasked_and_node_down(void **state)
{
    (void)state;
    dx_task *t = submit("a", 0, 100);
    uint16_t first = t->node;
    rep(first, "a", 1, DX_REP_CANCELLED, "stopped", 200);
    assert_int_equal(t->attempt, 2);
    assert_int_equal(t->state, DX_TS_ASSIGNED);
    assert_int_equal(n_notes("[Recovery]"), 1);
    take_all(1000);
    assert_int_equal(dx_tasks_cancel(T, "a", 1100, 1100 + WALL0), 0);
    node(t->node)->alive = false;
    dx_tasks_on_node_down(T, t->node, N, NN, TERM, 1200);
    assert_true(take(1200));
    assert_int_equal(REC.state, DX_TS_CANCELLED);
    assert_true(REC.finished_ms != 0);    /* 0 means "not yet" */
}

/* ---- waiting for room ---- */

/* Fits no node now: QUEUED on node 0; dx_tasks_tick places it, no more
 * often than every DX_WAIT_RETRY_MS, once a node has room. */
static void test_waiting_for_room(void **state)
{
    (void)state;
    for (uint16_t id = 1; id <= NN; id++)
        node(id)->mem_largest_kb = 100;
    dx_task *t = submit("w", 1000, 100);
    assert_int_equal(t->state, DX_TS_QUEUED);
    assert_int_equal(t->node, 0);
    assert_int_equal(t->attempt, 0);
    assert_int_equal(T->n_items, 0);
    assert_true(take(100 + DX_RECORD_DELAY_MS));
    assert_int_equal(REC.state, DX_TS_QUEUED);
    assert_int_equal(REC.node, 0);
    tick(1000);                           /* still no room */
    assert_int_equal(t->state, DX_TS_QUEUED);
    node(3)->mem_largest_kb = POOL_KB;
    tick(1000 + DX_WAIT_RETRY_MS - 1);
    assert_int_equal(t->state, DX_TS_QUEUED);
    tick(1000 + DX_WAIT_RETRY_MS);
    assert_int_equal(t->state, DX_TS_ASSIGNED);
    assert_int_equal(t->node, 3);
    expect_item(DX_ASSIGN_RUN, "w", 3, 1);
    /* Cancel of a waiting task ends it at once. */
    t = submit("w2", 65000, 2000);
    assert_int_equal(t->node, 0);
    assert_int_equal(dx_tasks_cancel(T, "w2", 2001, 2001 + WALL0), 0);
    assert_int_equal(t->state, DX_TS_CANCELLED);
}

/* While a task waits and nothing changes, its record is not written
 * again at every retry (it is retained: each write is a publish). */
static void test_waiting_record_written_once(void **state)
{
    (void)state;
    size_t writes = 0;
    for (uint16_t id = 1; id <= NN; id++)
        node(id)->mem_largest_kb = 100;
    submit("w", 1000, 100);
    assert_int_equal(take_all(1000), 1);
    assert_int_equal(REC.state, DX_TS_QUEUED);
    for (int64_t now = 1000; now <= 3000; now += DX_WAIT_RETRY_MS / 2) {
        tick(now);
        writes += take_all(now);
    }
    assert_int_equal(dx_tasks_get(T, "w")->state, DX_TS_QUEUED);
    assert_int_equal(writes, 0);
}

/* ---- work stealing ---- */

/* Ten unpinned tasks of mem_kb placed on node 1 alone (the others were
 * down then), then nodes 2 and 3 back. */
static void ten_on_node1(uint32_t mem_kb)
{
    node(2)->alive = false;
    node(3)->alive = false;
    for (int i = 0; i < 10; i++)
        submit("", mem_kb, 1000);
    node(2)->alive = true;
    node(3)->alive = true;
    clear_outputs();
}

/* Node 1 holds 10 assigned tasks, the others none: at the next steal
 * time, 5 RELEASE items go to node 1 (newest first); a RELEASED report
 * places that task elsewhere with a note. */
static void test_work_stealing(void **state)
{
    (void)state;
    tick(1000);                           /* balanced: the next at +200 */
    ten_on_node1(0);
    tick(1000 + DX_STEAL_EVERY_MS - 1);
    assert_int_equal(T->n_items, 0);
    tick(1000 + DX_STEAL_EVERY_MS);
    assert_int_equal(n_items(1, DX_ASSIGN_RELEASE), 5);
    assert_int_equal(T->n_items, 5);
    expect_item(DX_ASSIGN_RELEASE, "t7-10", 1, 1);
    assert_null(item_for(DX_ASSIGN_RELEASE, "t7-1"));
    clear_outputs();
    rep(1, "t7-10", 1, DX_REP_RELEASED, "released", 1300);
    expect_item(DX_ASSIGN_ACK, "t7-10", 1, 1);
    const dx_task *t = dx_tasks_get(T, "t7-10");
    assert_int_not_equal(t->node, 1);
    assert_int_equal(t->attempt, 2);
    expect_item(DX_ASSIGN_RUN, "t7-10", t->node, 2);
    assert_int_equal(n_notes("[Work Stealing]"), 1);
    /* One that had started answers RUNNING: it stays. */
    rep(1, "t7-9", 1, DX_REP_RUNNING, "", 1310);
    assert_int_equal(dx_tasks_get(T, "t7-9")->node, 1);
    assert_int_equal(dx_tasks_get(T, "t7-9")->state, DX_TS_RUNNING);
}

/* Pinned tasks never move. */
static void test_pinned_not_stolen(void **state)
{
    (void)state;
    dx_task_spec s = spec_of("", 0);
    char id[DX_TASK_ID_MAX + 1];
    s.node = 1;
    for (int i = 0; i < 10; i++)
        assert_int_equal(submit_spec(&s, 100, id, NULL), 0);
    clear_outputs();
    tick(1000);
    assert_int_equal(n_items(0, DX_ASSIGN_RELEASE), 0);
}

/* Only tasks the receiver has room for are released (sched.h: "only
 * those the receiver is eligible for and has room for"); otherwise they
 * come back to the donor, attempt after attempt, every steal round. */
static void test_steal_respects_room(void **state)
{
    (void)state;
    ten_on_node1(1000);
    node(2)->mem_largest_kb = 100;        /* 4 free workers, no room */
    node(3)->alive = false;
    tick(1000);
    assert_int_equal(n_items(0, DX_ASSIGN_RELEASE), 0);
}

/* ---- expiry ---- */

/* A finished task's record is cleared ttl after its end, and the entry
 * freed. */
static void test_expiry(void **state)
{
    (void)state;
    dx_task *t = submit("a", 0, 1000);
    rep(t->node, "a", 1, DX_REP_DONE, "ok", 2000);
    submit("live", 0, 2000);
    take_all(3000);
    tick(2000 + TTL_MS - 1);
    assert_false(take(2000 + TTL_MS - 1));
    tick(2000 + TTL_MS);
    assert_true(take(2000 + TTL_MS));
    assert_true(CLR);
    assert_string_equal(REC.spec.id, "a");
    assert_null(dx_tasks_get(T, "a"));
    assert_non_null(dx_tasks_get(T, "live"));
    assert_int_equal(T->n_used, 1);
    assert_false(take(2000 + TTL_MS));
    /* A late report of it is acked, nothing else. */
    clear_outputs();
    rep(2, "a", 1, DX_REP_DONE, "ok", 9000);
    expect_item(DX_ASSIGN_ACK, "a", 2, 1);
    assert_null(dx_tasks_get(T, "a"));
}

/* ---- the replica and a new leader ---- */

static dx_task_record rec_of(dx_task_state st, uint16_t on, uint32_t attempt,
                             uint64_t term)
{
    dx_task_record r;
    memset(&r, 0, sizeof r);
    r.spec = spec_of("", 0);
    r.state = st;
    r.node = on;
    r.attempt = attempt;
    r.term = term;
    r.submitted_ms = 1 + WALL0;
    return r;
}

static void put(const char *id, dx_task_state st, uint16_t on,
                uint32_t attempt, uint64_t term)
{
    dx_task_record r = rec_of(st, on, attempt, term);
    dx_tasks_on_record(T, id, &r);
}

/* Records insert and update; an older term is ignored; NULL clears. */
static void test_replica_records(void **state)
{
    (void)state;
    put("a", DX_TS_ASSIGNED, 2, 1, 5);
    dx_task *t = dx_tasks_get(T, "a");
    assert_non_null(t);
    assert_int_equal(t->state, DX_TS_ASSIGNED);
    assert_int_equal(t->node, 2);
    assert_int_equal(t->kind, DX_TASK_COMPUTE);
    assert_int_equal(t->ms, 100);
    put("a", DX_TS_RUNNING, 2, 1, 5);
    assert_int_equal(t->state, DX_TS_RUNNING);
    put("a", DX_TS_DONE, 3, 2, 6);
    assert_int_equal(t->state, DX_TS_DONE);
    assert_int_equal(t->attempt, 2);
    put("a", DX_TS_RUNNING, 2, 1, 5);     /* from a deposed leader */
    assert_int_equal(t->state, DX_TS_DONE);
    assert_int_equal(t->node, 3);
    assert_int_equal(T->n_used, 1);
    dx_tasks_on_record(T, "a", NULL);
    assert_null(dx_tasks_get(T, "a"));
    assert_int_equal(T->n_used, 0);
    dx_tasks_on_record(T, "a", NULL);     /* twice: nothing */
    assert_int_equal(T->n_items, 0);
}

/* A resync hands out every live task once, as it is now, stamped with
 * the given term (the entry keeps its own); a task freed meanwhile is
 * skipped, a second resync starts over, and the deadline says there is
 * work while one is under way.  A follower fed the resync holds the same
 * table. */
static void test_resync(void **state)
{
    (void)state;
    dx_task_record r;
    dx_tasks *f = calloc(1, sizeof *f);
    assert_non_null(f);
    dx_tasks_init(f, 1, TTL_MS);
    assert_false(dx_tasks_take_resync(T, TERM + 1, &r));   /* none asked */
    put("a", DX_TS_RUNNING, 2, 1, 5);
    put("b", DX_TS_DONE, 3, 1, 5);
    put("c", DX_TS_QUEUED, 0, 0, 5);
    tick(1);                          /* nothing due for a while */
    assert_int_not_equal(dx_tasks_next_deadline(T), 0);
    dx_tasks_resync(T);
    assert_int_equal(dx_tasks_next_deadline(T), 0);
    assert_true(dx_tasks_take_resync(T, TERM + 1, &r));
    assert_string_equal(r.spec.id, "a");
    assert_int_equal(r.term, TERM + 1);
    assert_int_equal(dx_tasks_get(T, "a")->term, 5);
    dx_tasks_on_record(T, "b", NULL);                      /* freed */
    assert_true(dx_tasks_take_resync(T, TERM + 1, &r));
    assert_string_equal(r.spec.id, "c");
    assert_int_equal(r.state, DX_TS_QUEUED);
    assert_false(dx_tasks_take_resync(T, TERM + 1, &r));
    assert_int_not_equal(dx_tasks_next_deadline(T), 0);
    dx_tasks_resync(T);
    size_t n = 0;
    while (dx_tasks_take_resync(T, TERM + 1, &r)) {
        dx_tasks_on_record(f, r.spec.id, &r);
        n++;
    }
    assert_int_equal(n, 2);
    assert_int_equal(f->n_used, 2);
    assert_int_equal(dx_tasks_get(f, "a")->state, DX_TS_RUNNING);
    assert_int_equal(dx_tasks_get(f, "a")->node, 2);
    assert_int_equal(dx_tasks_get(f, "c")->state, DX_TS_QUEUED);
    assert_null(dx_tasks_get(f, "b"));
    free(f);
}

/* A new leader resumes: tasks of dead nodes are placed again, waiting
 * ones placed, live ones left to the nodes' inventories, finished ones
 * expire from now. */
static void test_on_leader_resumes(void **state)
{
    (void)state;
    put("dead", DX_TS_RUNNING, 2, 1, 5);
    put("wait", DX_TS_QUEUED, 0, 0, 5);
    put("live", DX_TS_RUNNING, 3, 1, 5);
    put("fin", DX_TS_DONE, 3, 1, 5);
    node(2)->alive = false;
    dx_tasks_on_leader(T, N, NN, 8, 1000);
    const dx_task *d = dx_tasks_get(T, "dead");
    assert_int_not_equal(d->node, 2);
    assert_int_equal(d->attempt, 2);
    assert_int_equal(d->term, 8);
    expect_item(DX_ASSIGN_RUN, "dead", d->node, 2);
    assert_int_equal(n_notes("[Recovery] Re-routing Task dead"), 1);
    const dx_task *w = dx_tasks_get(T, "wait");
    assert_int_equal(w->state, DX_TS_ASSIGNED);
    expect_item(DX_ASSIGN_RUN, "wait", w->node, 1);
    assert_null(item_for(DX_ASSIGN_RUN, "live"));
    assert_int_equal(dx_tasks_get(T, "live")->attempt, 1);
    assert_int_equal(T->n_items, 2);
    tick(1000 + TTL_MS);
    size_t n = 0, cleared = 0;
    for (; take(1000 + TTL_MS); n++)
        cleared += CLR;
    assert_int_equal(n, 3);               /* dead, wait, and fin cleared */
    assert_int_equal(cleared, 1);
    assert_null(dx_tasks_get(T, "fin"));
}

/* A node's inventory after the leader change lacks a task assigned to it
 * by the old leader: the assignment was lost; the task is placed again.
 * Tasks placed by this leader are not, whatever the inventory says. */
static void test_sync_inventory_replaces_lost(void **state)
{
    (void)state;
    put("lost", DX_TS_ASSIGNED, 2, 1, 5);
    put("held", DX_TS_RUNNING, 2, 1, 5);
    put("other", DX_TS_RUNNING, 3, 1, 5);
    dx_tasks_on_leader(T, N, NN, 8, 1000);
    assert_int_equal(T->n_items, 0);
    R.sync = true;
    R.last = true;
    rep_add(2, "held", 1, DX_REP_RUNNING, "");
    rep_send(1100, 8);
    const dx_task *l = dx_tasks_get(T, "lost");
    assert_int_equal(l->attempt, 2);
    assert_int_equal(l->term, 8);
    expect_item(DX_ASSIGN_RUN, "lost", l->node, 2);
    assert_int_equal(n_notes("[Recovery] Re-routing Task lost"), 1);
    assert_int_equal(dx_tasks_get(T, "held")->attempt, 1);
    assert_int_equal(dx_tasks_get(T, "other")->attempt, 1);
    /* An empty inventory from the new node: "lost" is from this term. */
    clear_outputs();
    R.sync = true;
    R.last = true;
    R.node = l->node;
    rep_send(1200, 8);
    assert_int_equal(l->attempt, 2);
    assert_int_equal(T->n_items, 0);
}

/* An inventory in two parts: a task listed in the first is not lost. */
static void test_sync_inventory_in_parts(void **state)
{
    (void)state;
    put("p1", DX_TS_RUNNING, 2, 1, 5);
    put("p2", DX_TS_ASSIGNED, 2, 1, 5);
    dx_tasks_on_leader(T, N, NN, 8, 1000);
    R.sync = true;
    rep_add(2, "p1", 1, DX_REP_RUNNING, "");
    rep_send(1100, 8);
    R.sync = true;
    R.last = true;
    rep_add(2, "p2", 1, DX_REP_QUEUED, "");
    rep_send(1101, 8);
    assert_int_equal(T->n_items, 0);
    assert_int_equal(dx_tasks_get(T, "p1")->attempt, 1);
    assert_int_equal(dx_tasks_get(T, "p2")->attempt, 1);
}

/* A final report inside the inventory (a task finished while the leader
 * changed, not acked yet) is recorded, and the task not placed again. */
static void test_sync_inventory_with_final(void **state)
{
    (void)state;
    put("fin", DX_TS_RUNNING, 2, 1, 5);
    dx_tasks_on_leader(T, N, NN, 8, 1000);
    R.sync = true;
    R.last = true;
    rep_add(2, "fin", 1, DX_REP_DONE, "ok");
    rep_send(1100, 8);
    const dx_task *t = dx_tasks_get(T, "fin");
    assert_int_equal(t->state, DX_TS_DONE);
    assert_int_equal(t->attempt, 1);
    assert_null(item_for(DX_ASSIGN_RUN, "fin"));
    expect_item(DX_ASSIGN_ACK, "fin", 2, 1);
    assert_int_equal(n_notes("[Recovery]"), 0);
}

/* ---- the index under churn ---- */

static uint32_t rng = 777u;

static uint32_t next_rand(void)
{
    rng = rng * 1103515245u + 12345u;
    return rng >> 8;
}

/* Every id of live[0..n) is found, and the index holds exactly n. */
static void expect_all_found(char (*live)[16], size_t n)
{
    size_t used = 0;
    for (size_t i = 0; i < n; i++)
        if (dx_tasks_get(T, live[i]) == NULL)
            fail_msg("%s lost", live[i]);
    for (size_t i = 0; i < DX_TASKS_HASH; i++)
        used += T->index[i] != 0;
    assert_int_equal(used, n);
    assert_int_equal(T->n_used, n);
}

/* The leader's path: 100,000 tasks submitted, finished and expired in
 * rounds, beside 500 that stay; all stay findable, nothing leaks. */
static void test_churn_leader_expiry(void **state)
{
    (void)state;
    static char keep[500][16];
    int64_t now = 1000;
    for (int i = 0; i < 500; i++) {
        snprintf(keep[i], sizeof keep[i], "keep-%d", i);
        submit(keep[i], 0, now);
    }
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 2000; i++) {
            const dx_task *t = submit("", 0, now);
            rep_add(t->node, t->id, 1, DX_REP_DONE, "ok");
            rep_send(now, TERM);
        }
        take_all(now);
        now += TTL_MS;
        size_t cleared = 0;
        for (uint32_t k = 0; k <= T->high / 512 + 1; k++) {
            tick(now);
            while (take(now))
                cleared += CLR;
        }
        assert_int_equal(cleared, 2000);
        clear_outputs();
        expect_all_found(keep, 500);
        now += 1;
    }
    assert_true(T->next_name == 100000);
}

/* The replica's path at half load: random inserts and clears of 100,000
 * ids around 60,000 live; every deletion keeps the others findable. */
static void test_churn_replica_high_load(void **state)
{
    (void)state;
    static char live[DX_TASKS_MAX][16];
    size_t n = 0;
    dx_task_record r = rec_of(DX_TS_RUNNING, 1, 1, 5);
    for (uint32_t i = 0; i < 100000; i++) {
        snprintf(live[n], sizeof live[n], "r%u", i);
        dx_tasks_on_record(T, live[n++], &r);
        while (n > 60000 || (i > 90000 && next_rand() % 3 != 0 && n > 0)) {
            size_t k = next_rand() % n;
            dx_tasks_on_record(T, live[k], NULL);
            assert_null(dx_tasks_get(T, live[k]));
            memcpy(live[k], live[--n], sizeof live[k]);
        }
        if (i % 25000 == 24999)
            expect_all_found(live, n);
    }
    expect_all_found(live, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define TT(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        TT(test_submit_names),
        TT(test_submit_idempotent),
        TT(test_submit_admission),
        TT(test_placement_spread),
        TT(test_records_coalesced),
        TT(test_records_final_overtakes),
        TT(test_records_assigned_slow),
        TT(test_reports_exactly_once),
        TT(test_old_attempt_done_cancels_newer),
        TT(test_node_down_replaces),
        TT(test_cancel),
        TT(test_cancel_unasked_and_node_down),
        TT(test_waiting_for_room),
        TT(test_waiting_record_written_once),
        TT(test_work_stealing),
        TT(test_pinned_not_stolen),
        TT(test_steal_respects_room),
        TT(test_expiry),
        TT(test_replica_records),
        TT(test_resync),
        TT(test_on_leader_resumes),
        TT(test_sync_inventory_replaces_lost),
        TT(test_sync_inventory_in_parts),
        TT(test_sync_inventory_with_final),
        TT(test_churn_leader_expiry),
        TT(test_churn_replica_high_load),
#undef TT
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
