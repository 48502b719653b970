/*
 * tasks.h - the cluster's task table: what the leader decides, and what
 * every other agent keeps as a replica.
 *
 * The leader is the single writer of task records.  It validates and names
 * submissions, places each task on a node (scheduler.h), batches "run",
 * "cancel", "release" and "ack" items per node, takes the nodes' reports,
 * records the first final report of each task and acknowledges it (so a
 * task completes exactly once even if a false suspicion or a leader change
 * made it run twice), re-places the tasks of a failed node with a higher
 * attempt, moves queued tasks from a busy node to an idle one, keeps tasks
 * that fit nowhere waiting until memory frees up, and clears finished
 * records after ttl_ms.  Records are coalesced: a pending non-final record
 * is written DX_RECORD_DELAY_MS after its first change (DX_ASSIGNED_DELAY_MS
 * while its latest state is "assigned"), once, with its latest state; a
 * final state is written at the next flush.  So a task that finishes
 * within DX_ASSIGNED_DELAY_MS of its placement, as most short tasks do even
 * under load, gets one record, not two.
 *
 * Followers apply the leader's records to the same table, so a new leader
 * resumes from what it already holds: tasks of dead nodes are re-placed,
 * waiting ones placed, and the nodes' inventories (sent on a leader change)
 * reconcile the rest.  The core sends every record the leader takes to the
 * followers in batches ({root}/replica/tasks), and the whole table again
 * (a resync: dx_tasks_resync, dx_tasks_take_resync) when a node comes
 * online or a leader takes over, so a late or restarted follower and a
 * deposed leader catch up without reading the retained records.
 *
 * Pure: no clock, no I/O; the leader's messages come out through the core.
 * Cost: a hash table of DX_TASKS_MAX entries (about 400 bytes each, touched
 * only as used); lookups O(1), a placement O(nodes).
 */
#ifndef DX_TASKS_H
#define DX_TASKS_H

#include <stdbool.h>
#include <stdint.h>

#include "dx_msg.h"
#include "membership.h"
#include "scheduler.h"

#define DX_TASKS_MAX 65536
#define DX_TASKS_HASH (2 * DX_TASKS_MAX)
#define DX_TASK_RESULT_MAX 160
#define DX_RECORD_DELAY_MS 20      /* coalescing of non-final records */
#define DX_ASSIGNED_DELAY_MS 500   /* ... of an "assigned" record */
#define DX_STEAL_EVERY_MS 200
#define DX_WAIT_RETRY_MS 50        /* tasks waiting for room: retry period */
#define DX_RUN_RESEND_MS 3000      /* assigned, never reported: send again */
#define DX_STEAL_THRESHOLD 4
#define DX_ITEMS_MAX 8192          /* assign items waiting for a flush */

typedef struct dx_task {
    char id[DX_TASK_ID_MAX + 1];
    dx_task_state state;
    dx_task_kind kind;
    uint32_t ms, mem_kb, every_ms;
    uint16_t pin;                      /* pinned node, 0 = any */
    char device[DX_NAME_MAX + 1];
    double value;
    bool has_value;
    uint16_t node;                     /* where it is placed, 0 = nowhere */
    uint32_t attempt;
    uint64_t term;
    int64_t submitted_ms, started_ms, finished_ms;   /* wall clock */
    uint64_t runs;
    char result[DX_TASK_RESULT_MAX];
    int64_t finished_mono;             /* for expiry */
    int64_t assigned_mono;             /* when the last RUN went out */
    int64_t dirty_since;               /* record to write; 0 = clean */
    int64_t due;                       /* when it is written (not final) */
    bool cancel;                       /* cancel requested */
    bool releasing;                    /* release sent (work stealing) */
    bool waiting;                      /* in the wait queue */
    bool expire;                       /* clear the record, then forget */
    bool seen_sync;                    /* listed by its node's inventory */
} dx_task;

/* A pending non-final record: task k, to be written at `at` (an entry
 * whose task has another `due` by now is stale and skipped). */
typedef struct dx_task_due {
    uint32_t k;
    int64_t at;
} dx_task_due;

typedef struct dx_due_ring {
    size_t head, n;
    dx_task_due e[DX_TASKS_MAX];
} dx_due_ring;

/* One message item to send to a node at the next flush. */
typedef struct dx_task_item {
    uint16_t node;
    dx_assign_op op;
    uint32_t attempt;
    char id[DX_TASK_ID_MAX + 1];       /* RUN: the spec comes from the table */
} dx_task_item;

typedef struct dx_tasks {
    uint16_t self;
    int64_t ttl_ms;
    dx_task t[DX_TASKS_MAX];
    uint32_t index[DX_TASKS_HASH];     /* task + 1, linear probing */
    uint32_t free_list[DX_TASKS_MAX];
    size_t n_free;
    uint32_t high;                     /* entries ever used */
    size_t n_used;
    uint64_t next_name;                /* for "t{term}-{n}" */
    /* the leader's outputs, taken by the core at each flush */
    size_t n_items;
    dx_task_item items[DX_ITEMS_MAX];
    /* records to write: finals at once, others after DX_RECORD_DELAY_MS
     * (later) or DX_ASSIGNED_DELAY_MS (slow) */
    size_t urgent_head, n_urgent;
    uint32_t urgent[DX_TASKS_MAX];
    dx_due_ring later, slow;
    size_t wait_head, n_wait;
    uint32_t wait[DX_TASKS_MAX];       /* queued, fitting nowhere yet */
    uint32_t sweep;                    /* expiry cursor */
    int64_t steal_at;
    int64_t last_wall;                 /* the latest wall time given */
    int64_t wait_at;
    uint32_t resync_next, resync_end;  /* table entries left to resend */
    /* what happened, for the event log: taken by the core */
    size_t n_notes;
    char notes[64][160];
} dx_tasks;

/* Starts an empty table.  Large: allocate it zeroed. */
void dx_tasks_init(dx_tasks *ts, uint16_t self, int64_t ttl_ms);

/* The task with this id, or NULL. */
dx_task *dx_tasks_get(dx_tasks *ts, const char *id);

/*
 * Leader: a submission.  Validates it against the cluster (dx_sched_admit),
 * names it when it has no id, records it and places it.  A submission with
 * an id that exists changes nothing and succeeds.  Returns 0 and the id in
 * `id_out`, or an error with a one-line diagnosis: DX_ERANGE (too big for
 * every pool), DX_ENOTFOUND (pinned node or device unknown), DX_EFULL
 * (the table is full of live tasks).
 */
int dx_tasks_submit(dx_tasks *ts, const dx_task_spec *spec,
                    dx_sched_node *nodes, size_t n, uint64_t term,
                    int64_t now, int64_t wall, char *id_out, size_t idcap,
                    dx_diag *d);

/* Leader: cancel a task.  0 (cancelled, or being cancelled, or already
 * finished), DX_ENOTFOUND. */
int dx_tasks_cancel(dx_tasks *ts, const char *id, int64_t now, int64_t wall);

/* Leader: a node's report.  Reports from an older term are still applied
 * (a node may report a finish before it heard of the new leader). */
void dx_tasks_on_report(dx_tasks *ts, const dx_msg_report *r,
                        dx_sched_node *nodes, size_t n, uint64_t term,
                        int64_t now, int64_t wall);

/* Leader: a node failed or left: its unfinished tasks are placed again. */
void dx_tasks_on_node_down(dx_tasks *ts, uint16_t node,
                           dx_sched_node *nodes, size_t n,
                           uint64_t term, int64_t now);

/* This agent became leader in `term`: resume from the replica. */
void dx_tasks_on_leader(dx_tasks *ts, dx_sched_node *nodes, size_t n,
                        uint64_t term, int64_t now);

/* Leader: periodic work: waiting tasks, work stealing, expiry. */
void dx_tasks_tick(dx_tasks *ts, dx_sched_node *nodes, size_t n,
                   uint64_t term, int64_t now);

/* Leader: the next time dx_tasks_tick or a record flush has work (the
 * items waiting in ts->items are not counted: the core paces them). */
int64_t dx_tasks_next_deadline(const dx_tasks *ts);

/* Leader: fills *rec with the next record due (final, or its delay since
 * its first pending change has passed) and returns true; `cleared` is set when the record must
 * be removed (an expired task; the entry is freed after this call). */
bool dx_tasks_take_record(dx_tasks *ts, uint64_t term, int64_t now,
                          dx_task_record *rec, bool *cleared);

/* Leader: every record is written again (after a reconnect, records sent
 * while the connection was down were lost). */
void dx_tasks_republish(dx_tasks *ts, int64_t now);

/* Leader: every live task is to be sent to the followers again (the
 * retained records are not rewritten).  A resync already under way starts
 * over. */
void dx_tasks_resync(dx_tasks *ts);

/* Leader: fills *rec with the next task of the resync under way, stamped
 * with `term` (the entry keeps its own), and returns true; false when there
 * is none left. */
bool dx_tasks_take_resync(dx_tasks *ts, uint64_t term, dx_task_record *rec);

/* Follower: a record from the leader (NULL payload when cleared). */
void dx_tasks_on_record(dx_tasks *ts, const char *id,
                        const dx_task_record *rec);

/* Fills a record struct from an entry. */
void dx_tasks_record_of(const dx_task *t, dx_task_record *rec);

#endif
