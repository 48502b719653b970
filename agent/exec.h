/*
 * exec.h - the tasks a node runs: its queue, admission, and reports.
 *
 * The leader assigns tasks to a node in batches; this module keeps them in
 * a FIFO queue and starts one when a worker and its memory are free: the
 * declared mem_kb is allocated from the node's fixed pool when the task
 * starts and returned when it ends, fails or is cancelled.  A task that
 * does not fit waits (a smaller one behind it may pass).  noop finishes at
 * once and sleep waits on a timer, neither holding a worker; compute,
 * sensor.read and actuator.set run on the shell's worker threads, asked
 * for through actions.  A periodic task (every_ms) runs again every
 * every_ms after its previous start, until it is cancelled.
 *
 * What happens is reported to the leader in batches: running, done,
 * failed, cancelled, released.  Final reports are kept until the leader
 * acknowledges them and sent again after a leader change (with the whole
 * inventory, so a new leader learns what this node holds) and every
 * DX_EXEC_RESEND_MS.  Assignments carry the leader's term; those from an
 * older term than the node follows are ignored, and a duplicate assignment
 * (same task, same attempt) is ignored too.
 *
 * Pure: times are arguments, and the pool is given by the caller.  Cost:
 * O(queue) per start attempt, with the queue bounded by DX_EXEC_MAX.
 */
#ifndef DX_EXEC_H
#define DX_EXEC_H

#include <stdbool.h>
#include <stdint.h>

#include "dx_msg.h"
#include "mempool.h"

#define DX_EXEC_MAX 4096          /* tasks held by one node */
#define DX_EXEC_RESEND_MS 2000
#define DX_EXEC_RESULT_MAX 160    /* bytes of result text kept */

typedef enum {
    DX_SLOT_FREE = 0,
    DX_SLOT_QUEUED,     /* waiting for a worker or memory */
    DX_SLOT_RUNNING,    /* on a worker, or sleeping */
    DX_SLOT_PERIOD      /* periodic, between two runs */
} dx_slot_state;

typedef struct dx_slot {
    dx_slot_state st;
    char id[DX_TASK_ID_MAX + 1];
    uint32_t attempt;
    dx_task_kind kind;
    uint32_t ms, mem_kb, every_ms;
    char device[DX_NAME_MAX + 1];
    double value;
    void *mem;                 /* from the pool while running */
    bool on_worker;            /* a worker job is out for it */
    bool cancel;               /* cancel requested while on a worker */
    int64_t due_ms;            /* sleep end, or next periodic run */
    int64_t started_wall;
    uint64_t runs;
    uint64_t seq;              /* FIFO order */
} dx_slot;

/* A final report waiting for the leader's ack. */
typedef struct dx_unacked {
    char id[DX_TASK_ID_MAX + 1];
    uint32_t attempt;
    dx_report_state state;
    int64_t started_ms, finished_ms;
    uint64_t runs;
    char result[DX_EXEC_RESULT_MAX];
} dx_unacked;

/* What the shell must do for a task body. */
typedef struct dx_job_req {
    bool cancel;               /* true: cancel the job of `slot` */
    uint32_t slot;
    dx_task_kind kind;         /* COMPUTE, SENSOR_READ, ACTUATOR_SET */
    uint32_t ms;
    void *mem;
    size_t mem_bytes;
    char device[DX_NAME_MAX + 1];
    double value;
} dx_job_req;

#define DX_EXEC_HASH 8192         /* id index: power of two > 2 * MAX */
#define DX_EXEC_PEND 1024         /* report items waiting to be sent */

typedef struct dx_exec {
    uint16_t self;
    uint32_t workers;
    uint32_t busy;             /* workers in use */
    bool draining;
    dx_pool *pool;
    uint64_t next_seq;
    uint32_t n_queued, n_running;
    dx_slot slots[DX_EXEC_MAX];
    uint32_t index[DX_EXEC_HASH];  /* id -> slot + 1 (idindex.h) */
    uint16_t free_list[DX_EXEC_MAX];
    size_t n_free;
    uint32_t high;             /* slots ever used */
    size_t n_unacked;
    dx_unacked unacked[DX_EXEC_MAX];
    int64_t resend_at;
    bool need_sync;            /* send the inventory before anything */
    int sync_cursor;           /* inventory: next slot, then unacked, to list */
    int64_t now;               /* the latest time given to any call */
    int64_t next_due;          /* earliest sleep end or periodic run */
    uint32_t n_timed;          /* slots sleeping or between runs */
    /* queued slots in arrival order; an entry is valid while the slot
     * is queued with the same seq (cancelled ones are skipped) */
    size_t q_head, q_n;
    struct { uint16_t slot; uint64_t seq; } q[2 * DX_EXEC_MAX];
    size_t pend_head, pend_n;
    dx_report_item pend[DX_EXEC_PEND];
    uint64_t stale_assigns;    /* ignored: from an older term */
    uint64_t dropped_reports;  /* non-final reports lost to a full queue */
} dx_exec;

/* Starts an empty executor over `pool` with `workers` worker threads.
 * Large: allocate it zeroed (calloc). */
void dx_exec_init(dx_exec *x, uint16_t self, uint32_t workers, dx_pool *pool);

/*
 * Applies one assignment item.  Nothing starts here: call dx_exec_pump
 * after a batch.  Items for tasks the node cannot run at all (larger than
 * its pool) are answered with a failed report.
 */
void dx_exec_assign(dx_exec *x, const dx_assign_item *it, int64_t now,
                    int64_t wall, dx_job_req *jobs, size_t cap, size_t *njobs);

/* Answers an assignment this node cannot take (a device it lacks) with a
 * failed report. */
void dx_exec_reject(dx_exec *x, const dx_assign_item *it, int64_t wall,
                    const char *why);

/*
 * Starts every queued task that has a worker and memory now, oldest first
 * (one that does not fit lets later ones pass).  Worker jobs are appended
 * to jobs[*njobs..cap).
 */
void dx_exec_pump(dx_exec *x, int64_t now, int64_t wall, dx_job_req *jobs,
                  size_t cap, size_t *njobs);

/* A worker finished the job of `slot`: rc 0 (ok), DX_ESTATE (cancelled)
 * or another error; `text` is the one-line result or error. */
void dx_exec_job_done(dx_exec *x, uint32_t slot, int rc, const char *text,
                      int64_t now, int64_t wall);

/* Timers: sleep ends, periodic runs, resends of unacked reports. */
void dx_exec_tick(dx_exec *x, int64_t now, int64_t wall);

/* The next time dx_exec_tick has work, INT64_MAX when none. */
int64_t dx_exec_next_deadline(const dx_exec *x);

/* The leader changed: queue a full inventory and every unacked report. */
void dx_exec_on_leader(dx_exec *x);

/* Stops or resumes taking tasks; a draining node keeps what it holds
 * until the leader moves it (release). */
void dx_exec_set_draining(dx_exec *x, bool on);

/* True when a report is waiting to be sent. */
bool dx_exec_has_report(const dx_exec *x);

/* Moves waiting report items into *r (up to DX_REPORT_MAX) and returns
 * true, or false when there is nothing to send.  Call until false. */
bool dx_exec_flush(dx_exec *x, uint64_t term, dx_msg_report *r);

/* Tasks queued and running, for the load report. */
uint32_t dx_exec_queued(const dx_exec *x);
uint32_t dx_exec_running(const dx_exec *x);

#endif
