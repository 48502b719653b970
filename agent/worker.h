/*
 * worker.h - the worker pool that runs task bodies for the event loop.
 *
 * The core decides what runs when; the pool only executes.  N threads take
 * jobs from a queue of N places and run one of three bodies:
 *
 *   DX_TASK_COMPUTE        keeps one CPU busy for `ms` ms of wall time while
 *                          writing a pattern over `mem` and folding it into
 *                          a checksum, so every page of the task's memory is
 *                          really touched.  At least one full pass over mem
 *                          is made even when that takes longer than ms.
 *   DX_TASK_SENSOR_READ    dx_device_read() of sensor `device`
 *   DX_TASK_ACTUATOR_SET   dx_device_write() of `value` to actuator `device`
 *
 * (noop and sleep need no thread: the core handles them with timers.)
 *
 * Every job accepted by dx_workers_submit() gets exactly one call of the
 * done callback, on a worker thread, also when it is cancelled or the pool
 * is stopped; the callback must only copy the result and queue it (it may
 * call dx_workers_submit() or dx_workers_cancel(), never dx_workers_stop()).
 * Cancellation is asynchronous: a queued job ends without running, a
 * compute job notices within a millisecond; a device job that has started
 * finishes (a write that happened is reported as done).
 *
 * Worker threads block all signals, so SIGINT/SIGTERM reach the loop's
 * signal thread.  Times: started_ms/finished_ms are wall clock (for task
 * records people read), run_ms is measured with CLOCK_MONOTONIC.
 */
#ifndef DX_WORKER_H
#define DX_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "devices.h"
#include "dx_err.h"
#include "dx_msg.h"

#define DX_WORKERS_MAX 256

/* One unit of work.  Copied by dx_workers_submit(). */
typedef struct dx_job {
    uint32_t slot;          /* the caller's handle: results and cancel use it */
    dx_task_kind kind;      /* COMPUTE, SENSOR_READ or ACTUATOR_SET */
    uint32_t ms;            /* COMPUTE: wall time to stay busy */
    void *mem;              /* COMPUTE: the task's block, may be NULL */
    size_t mem_bytes;       /* COMPUTE: its size, 0 when mem is NULL */
    int device;             /* SENSOR_READ, ACTUATOR_SET: dx_devices index */
    double value;           /* ACTUATOR_SET: the value, finite */
} dx_job;

/* What a job did. */
typedef struct dx_job_result {
    uint32_t slot;
    dx_task_kind kind;
    int rc;                 /* 0, DX_ESTATE when cancelled, DX_EIO for a
                               device error */
    double value;           /* SENSOR_READ: the reading; ACTUATOR_SET: the
                               value set */
    uint64_t seq;           /* SENSOR_READ: the reading's sequence number */
    uint32_t checksum;      /* COMPUTE: fold of everything written */
    char text[DX_TEXT_MAX + 1]; /* one line of ASCII: result or error */
    int64_t started_ms, finished_ms; /* wall clock, ms since 1970 */
    int64_t run_ms;         /* monotonic duration */
} dx_job_result;

/* Called on a worker thread with a result valid only during the call. */
typedef void (*dx_job_done_fn)(void *ctx, const dx_job_result *r);

typedef struct dx_workers dx_workers;

/*
 * Starts n threads (1..DX_WORKERS_MAX).  devs may be NULL when no device
 * jobs will come; it is borrowed and must outlive the pool.  On success the
 * caller owns *out and ends it with dx_workers_stop().  Returns DX_EINVAL
 * for bad arguments, DX_ENOMEM when memory or threads run out.
 */
int dx_workers_start(dx_workers **out, unsigned n, dx_devices *devs,
                     dx_job_done_fn done, void *ctx);

/*
 * Queues a copy of *job and returns at once.  The caller keeps owning
 * job->mem but must not free or reuse it before the job's done call.
 * Returns 0; DX_EFULL when n jobs are already in flight (queued or
 * running; a job leaves flight just before its done call); DX_EINVAL for
 * an unknown kind, mem_bytes without mem, a device index that is not a
 * sensor (SENSOR_READ) or an actuator (ACTUATOR_SET), a non-finite value;
 * DX_ESTATE while stopping.  No done call follows an error.
 */
int dx_workers_submit(dx_workers *w, const dx_job *job);

/*
 * Asks every queued or running job with this slot to end early with
 * rc DX_ESTATE.  Does not wait.  Unknown slots are ignored.
 */
void dx_workers_cancel(dx_workers *w, uint32_t slot);

/*
 * Cancels every job, waits for their done calls and the threads, frees
 * the pool and sets *w to NULL.  NULL and *w == NULL are fine.
 */
void dx_workers_stop(dx_workers **w);

/* Number of threads. */
unsigned dx_workers_count(const dx_workers *w);

/* Jobs in flight now (queued or running), 0..count. */
unsigned dx_workers_inflight(dx_workers *w);

#endif
