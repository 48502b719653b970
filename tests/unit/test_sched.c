/*
 * test_sched.c - unit tests of placement and work stealing (agent/sched.c).
 *
 * Nodes are built as structs the way the leader fills them from its
 * membership table: by default alive, 4 workers, an idle CPU and a 1 GiB
 * pool entirely free.  A burst is simulated the way the leader runs it:
 * place, then count the placement on the chosen node (dx_sched_note_placed)
 * until its next heartbeat.  Each test states the rule of sched.h it checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "scheduler.h"

#define POOL_KB (1024u * 1024u)   /* 1 GiB */
#define MB 1024u                  /* in kB */

static const char press_devs[][DX_NAME_MAX + 1] = {"temp", "press"};
static const char temp_devs[][DX_NAME_MAX + 1] = {"temp"};

static dx_sched_node node_of(uint16_t id)
{
    dx_sched_node n;
    memset(&n, 0, sizeof n);
    n.id = id;
    n.alive = true;
    n.workers = 4;
    n.pool_kb = POOL_KB;
    n.mem_largest_kb = POOL_KB;
    return n;
}

static dx_task_spec task_of(uint32_t mem_kb)
{
    dx_task_spec t;
    memset(&t, 0, sizeof t);
    t.kind = mem_kb != 0 ? DX_TASK_COMPUTE : DX_TASK_NOOP;
    t.ms = 100;
    t.mem_kb = mem_kb;
    return t;
}

static void set_device(dx_task_spec *t, const char *dev)
{
    snprintf(t->device, sizeof t->device, "%s", dev);
}

static dx_sched_node *by_id(dx_sched_node *nodes, size_t n, uint16_t id)
{
    for (size_t i = 0; i < n; i++)
        if (nodes[i].id == id)
            return &nodes[i];
    fail_msg("node %u not in the test cluster", (unsigned)id);
    return NULL;
}

/* Places `count` copies of t as the leader does in a burst, counting each
 * placement; fills per-node tallies indexed like nodes[]. */
static void burst(dx_sched_node *nodes, size_t n, const dx_task_spec *t,
                  unsigned count, unsigned *tally)
{
    memset(tally, 0, n * sizeof *tally);
    for (unsigned k = 0; k < count; k++) {
        uint16_t id = 0;
        assert_int_equal(dx_sched_place(nodes, n, t, &id), 0);
        dx_sched_node *chosen = by_id(nodes, n, id);
        dx_sched_note_placed(chosen, t);
        tally[chosen - nodes]++;
    }
}

static double absd(double x)
{
    return x < 0 ? -x : x;
}

/* ---- admission: the only place a task is rejected ---- */

static void test_admit_ok(void **state)
{
    dx_sched_node nodes[] = {node_of(1), node_of(2)};
    dx_task_spec t = task_of(POOL_KB);   /* exactly one pool */
    dx_diag d = {""};

    assert_int_equal(dx_sched_admit(nodes, 2, &t, &d), 0);
    assert_string_equal(d.msg, "");
}

static void test_admit_larger_than_every_pool(void **state)
{
    dx_sched_node nodes[] = {node_of(1), node_of(2), node_of(3)};
    nodes[2].pool_kb = 2 * POOL_KB;
    dx_task_spec t = task_of(2 * POOL_KB + 1);
    dx_diag d = {""};

    assert_int_equal(dx_sched_admit(nodes, 3, &t, &d), DX_ERANGE);
    assert_string_equal(d.msg, "task needs 2097153 kB, more than every "
                               "node's pool (the largest is 2097152 kB)");
    /* NULL diag is accepted. */
    assert_int_equal(dx_sched_admit(nodes, 3, &t, NULL), DX_ERANGE);
}

/* Admission is membership-wide: a dead node's pool counts (it may return);
 * placement then waits for it rather than rejecting. */
static void test_admit_counts_dead_members(void **state)
{
    dx_sched_node nodes[] = {node_of(1), node_of(2)};
    nodes[1].pool_kb = nodes[1].mem_largest_kb = 4 * POOL_KB;
    nodes[1].alive = false;
    dx_task_spec t = task_of(2 * POOL_KB);
    uint16_t id = 0;

    assert_int_equal(dx_sched_admit(nodes, 2, &t, NULL), 0);
    assert_int_equal(dx_sched_place(nodes, 2, &t, &id), DX_ENOTFOUND);
    nodes[1].alive = true;
    assert_int_equal(dx_sched_place(nodes, 2, &t, &id), 0);
    assert_int_equal(id, 2);
}

static void test_admit_unknown_pinned_node(void **state)
{
    dx_sched_node nodes[] = {node_of(1), node_of(2)};
    dx_task_spec t = task_of(0);
    dx_diag d = {""};

    t.node = 9;
    assert_int_equal(dx_sched_admit(nodes, 2, &t, &d), DX_ENOTFOUND);
    assert_string_equal(d.msg, "node 9 is not a member");
    t.node = 2;
    assert_int_equal(dx_sched_admit(nodes, 2, &t, &d), 0);
}

static void test_admit_pinned_pool_too_small(void **state)
{
    dx_sched_node nodes[] = {node_of(1), node_of(2)};
    nodes[0].pool_kb = nodes[0].mem_largest_kb = 64 * MB;
    dx_task_spec t = task_of(100 * MB);
    dx_diag d = {""};

    t.node = 1;   /* node 2 could hold it, but the task is pinned */
    assert_int_equal(dx_sched_admit(nodes, 2, &t, &d), DX_ERANGE);
    assert_string_equal(d.msg, "task needs 102400 kB, node 1's pool is "
                               "65536 kB");
}

static void test_admit_unknown_device(void **state)
{
    dx_sched_node nodes[] = {node_of(1), node_of(2)};
    nodes[0].n_devices = 1;
    nodes[0].devices = temp_devs;
    nodes[1].n_devices = 2;
    nodes[1].devices = press_devs;
    dx_task_spec t = task_of(0);
    dx_diag d = {""};

    t.kind = DX_TASK_SENSOR_READ;
    set_device(&t, "flow");
    assert_int_equal(dx_sched_admit(nodes, 2, &t, &d), DX_ENOTFOUND);
    assert_string_equal(d.msg, "no node has device 'flow'");

    set_device(&t, "press");
    assert_int_equal(dx_sched_admit(nodes, 2, &t, &d), 0);
    t.node = 1;   /* pinned to a node without it */
    assert_int_equal(dx_sched_admit(nodes, 2, &t, &d), DX_ENOTFOUND);
    assert_string_equal(d.msg, "node 1 has no device 'press'");
    t.node = 2;
    assert_int_equal(dx_sched_admit(nodes, 2, &t, &d), 0);
}

/* Only the pools of nodes with the device count. */
static void test_admit_device_pool_too_small(void **state)
{
    dx_sched_node nodes[] = {node_of(1), node_of(2)};
    nodes[1].n_devices = 2;
    nodes[1].devices = press_devs;
    nodes[1].pool_kb = nodes[1].mem_largest_kb = 8 * MB;
    dx_task_spec t = task_of(16 * MB);
    dx_diag d = {""};

    set_device(&t, "press");
    assert_int_equal(dx_sched_admit(nodes, 2, &t, &d), DX_ERANGE);
    assert_string_equal(d.msg, "task needs 16384 kB, more than the pool of "
                               "every node with device 'press' (at most "
                               "8192 kB)");
}

static void test_admit_empty_cluster(void **state)
{
    dx_task_spec t = task_of(0);
    dx_diag d = {""};

    assert_int_equal(dx_sched_admit(NULL, 0, &t, &d), DX_ENOTFOUND);
    assert_string_equal(d.msg, "the cluster has no member");
}

/* ---- placement: eligibility ---- */

static void test_pinned_task_goes_to_its_node(void **state)
{
    dx_sched_node nodes[] = {node_of(1), node_of(2), node_of(3)};
    nodes[2].running = 4;
    nodes[2].queued = 10;
    nodes[2].cpu_pct = 100;
    dx_task_spec t = task_of(0);
    uint16_t id = 0;

    t.node = 3;   /* the busiest node, but pinned */
    for (int k = 0; k < 5; k++) {
        assert_int_equal(dx_sched_place(nodes, 3, &t, &id), 0);
        assert_int_equal(id, 3);
        dx_sched_note_placed(&nodes[2], &t);
    }
}

/* A pinned task waits (DX_ENOTFOUND) while its node is dead or draining,
 * and is never sent elsewhere. */
static void test_pinned_node_dead_or_draining(void **state)
{
    dx_sched_node nodes[] = {node_of(1), node_of(2)};
    dx_task_spec t = task_of(0);
    uint16_t id = 0;

    t.node = 2;
    nodes[1].alive = false;
    assert_int_equal(dx_sched_place(nodes, 2, &t, &id), DX_ENOTFOUND);
    nodes[1].alive = true;
    nodes[1].draining = true;
    assert_int_equal(dx_sched_place(nodes, 2, &t, &id), DX_ENOTFOUND);
    nodes[1].draining = false;
    assert_int_equal(dx_sched_place(nodes, 2, &t, &id), 0);
    assert_int_equal(id, 2);
}

static void test_device_affinity(void **state)
{
    dx_sched_node nodes[] = {node_of(1), node_of(2), node_of(3)};
    nodes[0].n_devices = 1;
    nodes[0].devices = temp_devs;
    nodes[1].n_devices = 2;
    nodes[1].devices = press_devs;
    nodes[1].running = 4;
    nodes[1].queued = 6;   /* busy, but the only node with the device */
    dx_task_spec t = task_of(0);
    uint16_t id = 0;

    t.kind = DX_TASK_SENSOR_READ;
    set_device(&t, "press");
    assert_int_equal(dx_sched_place(nodes, 3, &t, &id), 0);
    assert_int_equal(id, 2);

    /* "temp" is on 1 and 2: the less loaded of the two, never node 3. */
    set_device(&t, "temp");
    assert_int_equal(dx_sched_place(nodes, 3, &t, &id), 0);
    assert_int_equal(id, 1);

    /* The device only on a dead node: wait for it. */
    set_device(&t, "press");
    nodes[1].alive = false;
    assert_int_equal(dx_sched_place(nodes, 3, &t, &id), DX_ENOTFOUND);
    assert_true(dx_sched_has_device(&nodes[1], "press"));
    assert_false(dx_sched_has_device(&nodes[2], "press"));
}

static void test_dead_and_draining_excluded(void **state)
{
    dx_sched_node nodes[] = {node_of(1), node_of(2), node_of(3)};
    nodes[0].alive = false;
    nodes[1].draining = true;
    nodes[2].running = 4;
    nodes[2].queued = 20;
    nodes[2].cpu_pct = 95;
    dx_task_spec t = task_of(0);
    uint16_t id = 0;

    assert_false(dx_sched_is_eligible(&nodes[0], &t));
    assert_false(dx_sched_is_eligible(&nodes[1], &t));
    assert_true(dx_sched_is_eligible(&nodes[2], &t));
    assert_int_equal(dx_sched_place(nodes, 3, &t, &id), 0);
    assert_int_equal(id, 3);
    nodes[2].alive = false;
    assert_int_equal(dx_sched_place(nodes, 3, &t, &id), DX_ENOTFOUND);
    assert_int_equal(dx_sched_place(NULL, 0, &t, &id), DX_ENOTFOUND);
}

/* ---- placement: memory ---- */

/* A node whose largest block is too small is skipped; what the leader
 * placed since the heartbeat is subtracted from the block; when no node
 * has room the task waits (DX_EFULL), and is placed once a heartbeat
 * shows memory freed. */
static void test_memory_fit_and_placed_accounting(void **state)
{
    dx_sched_node nodes[] = {node_of(1), node_of(2)};
    nodes[0].mem_largest_kb = 50 * MB;    /* lowest id, idle, too small */
    nodes[1].mem_largest_kb = 250 * MB;
    nodes[1].running = 3;
    dx_task_spec t = task_of(100 * MB);
    uint16_t id = 0;

    assert_false(dx_sched_has_room(&nodes[0], &t));
    assert_int_equal(dx_sched_place(nodes, 2, &t, &id), 0);
    assert_int_equal(id, 2);
    dx_sched_note_placed(&nodes[1], &t);
    assert_int_equal(nodes[1].placed, 1);
    assert_int_equal(nodes[1].placed_mem_kb, 100 * MB);

    /* 250 - 100 = 150 MB left: room for one more. */
    assert_int_equal(dx_sched_place(nodes, 2, &t, &id), 0);
    assert_int_equal(id, 2);
    dx_sched_note_placed(&nodes[1], &t);

    /* 50 MB left on each: nobody has room now, both could some day. */
    assert_int_equal(dx_sched_place(nodes, 2, &t, &id), DX_EFULL);

    /* A small task still fits. */
    dx_task_spec small = task_of(40 * MB);
    assert_int_equal(dx_sched_place(nodes, 2, &small, &id), 0);

    /* Node 1's heartbeat: its tasks finished, the pool is free again. */
    nodes[0].mem_largest_kb = POOL_KB;
    assert_int_equal(dx_sched_place(nodes, 2, &t, &id), 0);
    assert_int_equal(id, 1);
}

/* The room is never more than the pool, even if a report says so. */
static void test_room_capped_by_pool(void **state)
{
    dx_sched_node n = node_of(1);
    n.pool_kb = 10 * MB;
    n.mem_largest_kb = 20 * MB;
    dx_task_spec t = task_of(15 * MB);

    assert_false(dx_sched_has_room(&n, &t));
    assert_false(dx_sched_is_eligible(&n, &t));
    t.mem_kb = 10 * MB;
    assert_true(dx_sched_has_room(&n, &t));
    /* placed_mem beyond the block floors the room at 0. */
    n.placed_mem_kb = 30 * MB;
    assert_false(dx_sched_has_room(&n, &t));
    t.mem_kb = 0;
    assert_true(dx_sched_has_room(&n, &t));
}

/* A task larger than a node's current block but within its pool is
 * eligible there (it waits, DX_EFULL); one larger than the pool is not
 * (DX_ENOTFOUND when no other node can ever hold it). */
static void test_efull_versus_enotfound(void **state)
{
    dx_sched_node nodes[] = {node_of(1)};
    nodes[0].mem_largest_kb = 10 * MB;
    dx_task_spec t = task_of(20 * MB);
    uint16_t id = 0;

    assert_int_equal(dx_sched_place(nodes, 1, &t, &id), DX_EFULL);
    t.mem_kb = POOL_KB + 1;
    assert_int_equal(dx_sched_place(nodes, 1, &t, &id), DX_ENOTFOUND);
}

/* ---- placement: cost ---- */

static void test_cost_formula(void **state)
{
    dx_sched_node n = node_of(1);
    dx_task_spec t = task_of(100);

    n.workers = 2;
    n.running = 1;
    n.queued = 1;
    n.placed = 1;
    n.cpu_pct = 50;
    n.pool_kb = 1000;
    n.mem_largest_kb = 600;
    n.placed_mem_kb = 100;
    /* queue (1+1+1+1)/2 = 2, cpu 0.5, memory 1 - (500-100)/1000 = 0.6 */
    assert_true(absd(dx_sched_cost(&n, &t) - 3.1) < 1e-9);

    /* Unknown workers count as 1, CPU above 100 as 100, no pool as full. */
    n.workers = 0;
    n.cpu_pct = 250;
    n.pool_kb = 0;
    t.mem_kb = 0;
    assert_true(absd(dx_sched_cost(&n, &t) - (4.0 + 1.0 + 1.0)) < 1e-9);

    /* An idle node with a free pool: one round for this task on 4 workers. */
    dx_sched_node idle = node_of(2);
    assert_true(absd(dx_sched_cost(&idle, &t) - 0.25) < 1e-9);
}

/* 100 no-op tasks between two heartbeats over 3 identical idle nodes:
 * counting placements spreads them 34/33/33. */
static void test_burst_spreads_evenly(void **state)
{
    dx_sched_node nodes[] = {node_of(1), node_of(2), node_of(3)};
    dx_task_spec t = task_of(0);
    unsigned tally[3];

    burst(nodes, 3, &t, 100, tally);
    assert_int_equal(tally[0], 34);
    assert_int_equal(tally[1], 33);
    assert_int_equal(tally[2], 33);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(nodes[i].placed, tally[i]);
}

/* The same with memory: placed_mem_kb shrinks the room and the spread
 * still holds (max - min <= 1). */
static void test_burst_with_memory_spreads_evenly(void **state)
{
    dx_sched_node nodes[] = {node_of(1), node_of(2), node_of(3)};
    dx_task_spec t = task_of(8 * MB);
    unsigned tally[3];

    burst(nodes, 3, &t, 100, tally);
    unsigned lo = tally[0], hi = tally[0];
    for (size_t i = 1; i < 3; i++) {
        lo = tally[i] < lo ? tally[i] : lo;
        hi = tally[i] > hi ? tally[i] : hi;
    }
    assert_true(hi - lo <= 1);
}

/* A node at 90% CPU gets fewer tasks in a burst: about 0.9 * workers. */
static void test_cpu_bias(void **state)
{
    dx_sched_node nodes[] = {node_of(1), node_of(2), node_of(3)};
    nodes[0].cpu_pct = 90;
    dx_task_spec t = task_of(0);
    unsigned tally[3];

    burst(nodes, 3, &t, 30, tally);
    assert_true(tally[0] < tally[1]);
    assert_true(tally[0] < tally[2]);
    assert_in_range(tally[1] - tally[0], 3, 4);
    assert_int_equal(tally[0] + tally[1] + tally[2], 30);
}

/* A big task goes where a large block remains, even to a busier node. */
static void test_big_task_avoids_small_block(void **state)
{
    dx_sched_node nodes[] = {node_of(1), node_of(2)};
    nodes[0].mem_largest_kb = 100 * MB;   /* fits, barely */
    nodes[1].mem_largest_kb = 900 * MB;
    nodes[1].running = 2;                 /* 0.5 round busier */
    dx_task_spec t = task_of(80 * MB);
    uint16_t id = 0;

    assert_int_equal(dx_sched_place(nodes, 2, &t, &id), 0);
    assert_int_equal(id, 2);
    assert_true(dx_sched_cost(&nodes[0], &t) > dx_sched_cost(&nodes[1], &t));
}

/* Equal costs go to the lowest id, whatever the array order; more workers
 * make a node cheaper. */
static void test_ties_are_deterministic(void **state)
{
    dx_sched_node nodes[] = {node_of(7), node_of(3), node_of(5)};
    dx_task_spec t = task_of(0);
    uint16_t id = 0;

    assert_int_equal(dx_sched_place(nodes, 3, &t, &id), 0);
    assert_int_equal(id, 3);
    for (int k = 0; k < 10; k++) {
        uint16_t again = 0;
        assert_int_equal(dx_sched_place(nodes, 3, &t, &again), 0);
        assert_int_equal(again, id);
    }
    nodes[2].workers = 8;
    assert_int_equal(dx_sched_place(nodes, 3, &t, &id), 0);
    assert_int_equal(id, 5);
}

static void test_note_placed_saturates(void **state)
{
    dx_sched_node n = node_of(1);
    dx_task_spec t = task_of(10);

    n.placed = UINT32_MAX;
    n.placed_mem_kb = UINT64_MAX - 5;
    dx_sched_note_placed(&n, &t);
    assert_int_equal(n.placed, UINT32_MAX);
    assert_true(n.placed_mem_kb == UINT64_MAX);
}

/* ---- work stealing ---- */

static void test_steal_threshold(void **state)
{
    dx_sched_node nodes[] = {node_of(1), node_of(2), node_of(3)};
    dx_sched_move mv;

    nodes[0].running = 4;
    nodes[0].queued = 7;
    nodes[0].placed = 3;          /* backlog 10 */
    nodes[1].running = 4;
    nodes[1].queued = 4;          /* backlog 4, no free worker */
    nodes[2].running = 1;         /* backlog 0, free workers */

    memset(&mv, 0, sizeof mv);
    assert_false(dx_sched_should_steal(nodes, 3, 10, &mv));   /* 10 <= 10 */
    assert_true(dx_sched_should_steal(nodes, 3, 9, &mv));
    assert_int_equal(mv.from, 1);
    assert_int_equal(mv.to, 3);
    assert_int_equal(mv.count, 5);
    assert_false(mv.drain);

    /* A gap of 1 over threshold 0 still moves one task. */
    nodes[1].queued = 0;
    nodes[0].queued = 1;
    nodes[0].placed = 0;
    assert_true(dx_sched_should_steal(nodes, 3, 0, &mv));
    assert_int_equal(mv.count, 1);

    /* Balanced: everyone's backlog equal. */
    nodes[0].queued = 0;
    assert_false(dx_sched_should_steal(nodes, 3, 0, &mv));
}

/* The receiver needs a free worker; without one nothing moves. */
static void test_steal_needs_a_free_receiver(void **state)
{
    dx_sched_node nodes[] = {node_of(1), node_of(2)};
    dx_sched_move mv;

    nodes[0].running = 4;
    nodes[0].queued = 20;
    nodes[1].running = 4;         /* all workers busy, nothing queued */
    assert_false(dx_sched_should_steal(nodes, 2, 2, &mv));
    nodes[1].running = 3;
    assert_true(dx_sched_should_steal(nodes, 2, 2, &mv));
    assert_int_equal(mv.from, 1);
    assert_int_equal(mv.to, 2);
    assert_int_equal(mv.count, 10);

    /* Dead or draining nodes never receive. */
    nodes[1].alive = false;
    assert_false(dx_sched_should_steal(nodes, 2, 2, &mv));
    nodes[1].alive = true;
    nodes[1].draining = true;
    assert_false(dx_sched_should_steal(nodes, 2, 2, &mv));
}

/* A draining node gives its whole backlog, whatever the threshold, to the
 * open node with the smallest backlog, free worker or not. */
static void test_steal_from_draining_node(void **state)
{
    dx_sched_node nodes[] = {node_of(1), node_of(2), node_of(3)};
    dx_sched_move mv;

    nodes[0].draining = true;
    nodes[0].queued = 2;
    nodes[0].placed = 1;
    nodes[1].running = 4;
    nodes[1].queued = 5;
    nodes[2].running = 4;
    nodes[2].queued = 3;          /* no free worker anywhere */

    assert_true(dx_sched_should_steal(nodes, 3, 100, &mv));
    assert_int_equal(mv.from, 1);
    assert_int_equal(mv.to, 3);
    assert_int_equal(mv.count, 3);
    assert_true(mv.drain);

    /* A drained node (nothing queued) is no donor. */
    nodes[0].queued = 0;
    nodes[0].placed = 0;
    assert_false(dx_sched_should_steal(nodes, 3, 100, &mv));
}

static void test_steal_draining_without_receiver(void **state)
{
    dx_sched_node nodes[] = {node_of(1), node_of(2), node_of(3)};
    dx_sched_move mv;

    nodes[0].draining = true;
    nodes[0].queued = 8;
    nodes[1].alive = false;
    nodes[2].draining = true;
    assert_false(dx_sched_should_steal(nodes, 3, 0, &mv));
    assert_false(dx_sched_should_steal(nodes, 1, 0, &mv));
    assert_false(dx_sched_should_steal(NULL, 0, 0, &mv));
}

/* Dead nodes are neither donors nor receivers (failover moves their
 * tasks, not stealing); ties pick the lowest id on both sides. */
static void test_steal_dead_and_ties(void **state)
{
    dx_sched_node nodes[] = {node_of(5), node_of(4), node_of(3),
                             node_of(2), node_of(1)};
    dx_sched_move mv;

    nodes[4].alive = false;       /* node 1: dead with a huge queue */
    nodes[4].queued = 100;
    nodes[0].running = 4;
    nodes[0].queued = 6;          /* node 5 */
    nodes[1].running = 4;
    nodes[1].queued = 6;          /* node 4: same backlog */
    /* nodes 3 and 2 idle */
    assert_true(dx_sched_should_steal(nodes, 5, 2, &mv));
    assert_int_equal(mv.from, 4);
    assert_int_equal(mv.to, 2);
    assert_int_equal(mv.count, 3);
}

#define T(f) cmocka_unit_test(f)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_admit_ok),
        T(test_admit_larger_than_every_pool),
        T(test_admit_counts_dead_members),
        T(test_admit_unknown_pinned_node),
        T(test_admit_pinned_pool_too_small),
        T(test_admit_unknown_device),
        T(test_admit_device_pool_too_small),
        T(test_admit_empty_cluster),
        T(test_pinned_task_goes_to_its_node),
        T(test_pinned_node_dead_or_draining),
        T(test_device_affinity),
        T(test_dead_and_draining_excluded),
        T(test_memory_fit_and_placed_accounting),
        T(test_room_capped_by_pool),
        T(test_efull_versus_enotfound),
        T(test_cost_formula),
        T(test_burst_spreads_evenly),
        T(test_burst_with_memory_spreads_evenly),
        T(test_cpu_bias),
        T(test_big_task_avoids_small_block),
        T(test_ties_are_deterministic),
        T(test_note_placed_saturates),
        T(test_steal_threshold),
        T(test_steal_needs_a_free_receiver),
        T(test_steal_from_draining_node),
        T(test_steal_draining_without_receiver),
        T(test_steal_dead_and_ties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
