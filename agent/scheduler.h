/*
 * scheduler.h - where the leader places a task, and when queued tasks move.
 *
 * A pure decision over a snapshot the leader builds from its membership
 * table (one dx_sched_node per member) and its own bookkeeping: no clock,
 * no I/O, no allocation.
 *
 * Admission (dx_sched_admit) is static and membership-wide: a pinned node
 * must be a member, a device must be declared by some member (the pinned
 * one if pinned), and the task's memory must fit the pool of at least one
 * such member.  Only these failures reject a task; everything else waits.
 *
 * Placement (dx_sched_place).  A node is eligible for a task when it is
 * alive, not draining, matches the pin (t->node, 0 = any), declares the
 * device (t->device, "" = none) and its pool can ever hold the task
 * (mem_kb <= pool_kb).  An eligible node has room now when
 *
 *     mem_kb <= room = min(mem_largest_kb, pool_kb) - placed_mem_kb  (>= 0)
 *
 * i.e. the largest free block of the last heartbeat, less what the leader
 * placed there since (an approximation: placements may not come out of the
 * largest block).  Among eligible nodes with room the one of least cost
 * wins; ties go to the lowest id, which spares the leader (the highest live
 * id under Bully) on ties and makes the choice independent of array order.
 *
 * Cost of one more task on a node, in "rounds of work ahead of it":
 *
 *     cost = 1.0 * (running + queued + placed + 1) / workers   queue
 *          + 1.0 * min(cpu_pct, 100) / 100                     CPU
 *          + 1.0 * (1 - max(room - mem_kb, 0) / pool_kb)       memory
 *
 * The queue term is how many full rounds of the node's workers stand
 * before (and including) this task; it grows with every placement the
 * leader makes (placed), so a burst between two heartbeats is spread
 * instead of piled on the node that looked idle.  It is the only term that
 * grows without bound, so it dominates.  A saturated CPU (other programs,
 * or our own compute tasks before the report shows them) counts as one more
 * round, so a node at 90% CPU gets about 0.9 * workers tasks fewer than an
 * idle peer.  The memory term is the pool's pressure after this task: near
 * 1 when the task would take the node's last large block, so big tasks go
 * where large blocks remain (a node without a pool scores 1).  Every term
 * costs O(1); place, admit and steal are O(n * devices).
 *
 * Work stealing (dx_sched_should_steal).  The backlog of a node is
 * queued + placed: tasks assigned to it and not started.  A draining node
 * with a backlog gives all of it to the live, non-draining node with the
 * smallest backlog.  Otherwise the live, non-draining node with the largest
 * backlog gives (donor - receiver) / 2 tasks (at least 1) to the live,
 * non-draining node with the smallest backlog and a free worker, when the
 * difference exceeds a threshold.  The caller chooses which of the donor's
 * queued tasks move: only those the receiver is eligible for and has room
 * for (a pinned task never moves).
 */
#ifndef DX_SCHED_H
#define DX_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dx_msg.h"

/* The weights of the cost terms (see above). */
#define DX_SCHED_W_QUEUE 1.0
#define DX_SCHED_W_CPU 1.0
#define DX_SCHED_W_MEM 1.0

/* What the leader knows of one member when it decides. */
typedef struct dx_sched_node {
    uint16_t id;
    bool alive;                /* ONLINE in the membership table */
    bool draining;             /* from its heartbeat: takes no new tasks */
    uint32_t workers;          /* worker threads; 0 (unknown) counts as 1 */
    uint32_t cpu_pct;          /* last heartbeat, 0..100 (more = 100) */
    uint32_t running;          /* last heartbeat */
    uint32_t queued;           /* last heartbeat, or the leader's own count
                                  of assigned, unstarted tasks */
    uint64_t pool_kb;          /* pool size, from the birth */
    uint64_t mem_largest_kb;   /* largest free block, last heartbeat; the
                                  caller passes pool_kb before the first */
    /* Placed by the leader since that heartbeat, not in its figures yet;
     * the caller clears both when a new heartbeat arrives. */
    uint32_t placed;
    uint64_t placed_mem_kb;
    /* Devices from the birth: borrowed (e.g. a dx_member's devices), must
     * outlive the call; NULL when n_devices is 0. */
    size_t n_devices;
    const char (*devices)[DX_NAME_MAX + 1];
} dx_sched_node;

/* A work-stealing decision: move up to count queued tasks from -> to. */
typedef struct dx_sched_move {
    uint16_t from, to;
    uint32_t count;
    bool drain;                /* the donor is draining: move all of them */
} dx_sched_move;

/*
 * Checks a submission against the whole membership (pass every member,
 * whatever its state: a dead node may come back).  Returns 0, or fills d
 * with one line and returns DX_ENOTFOUND ("node 7 is not a member", "no
 * node has device 'press'", "node 2 has no device 'press'") or DX_ERANGE
 * (the task's memory is larger than every candidate node's pool).
 */
int dx_sched_admit(const dx_sched_node *nodes, size_t n,
                   const dx_task_spec *t, dx_diag *d);

/*
 * Chooses the node for t now.  Returns 0 and *out, DX_EFULL when eligible
 * nodes exist but none has room now (the task waits for memory), or
 * DX_ENOTFOUND when no node is eligible (the pinned node, or every node with
 * the device or a large enough pool, is dead or draining: the task waits
 * for one).  Neither error rejects the task; only dx_sched_admit does.
 */
int dx_sched_place(const dx_sched_node *nodes, size_t n,
                   const dx_task_spec *t, uint16_t *out);

/* Cost of one more task t on node (lower is better), whether or not the
 * node is eligible; exposed for tests and the status view. */
double dx_sched_cost(const dx_sched_node *node, const dx_task_spec *t);

/* True when node may ever run t now that it is up: alive, not draining,
 * pin and device match, and the task fits its pool. */
bool dx_sched_is_eligible(const dx_sched_node *node, const dx_task_spec *t);

/* True when t's memory fits the node's room now (see above). */
bool dx_sched_has_room(const dx_sched_node *node, const dx_task_spec *t);

/* True when node declares device dev. */
bool dx_sched_has_device(const dx_sched_node *node, const char *dev);

/* Counts a placement of t on node until its next heartbeat (saturating). */
void dx_sched_note_placed(dx_sched_node *node, const dx_task_spec *t);

/*
 * Work stealing: true and *mv filled when tasks should move now (see
 * above), false when the cluster is balanced within threshold or no
 * receiver exists.  Ties pick the lowest id, for donor and receiver alike.
 */
bool dx_sched_should_steal(const dx_sched_node *nodes, size_t n,
                           uint32_t threshold, dx_sched_move *mv);

#endif
