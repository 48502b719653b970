/*
 * worker.c - the worker pool.  See worker.h for the contract.
 *
 * One mutex guards a ring of at most n queued jobs, the in-flight count
 * and what each thread is running; one condition variable wakes idle
 * threads.  Cancelling a running job sets that thread's atomic flag, which
 * the compute body polls between chunks of CHUNK bytes (a few microseconds
 * each, well under the promised millisecond even under sanitizers).
 * Because at most n jobs are in flight and there are n threads, a submitted
 * job waits only for a thread that is finishing its done call.
 *
 * The compute body writes 64-bit words derived from the job's slot, the
 * pass and the word's index, and folds each into an FNV-1a style checksum.
 * It writes through a pointer the compiler cannot see the end of, so the
 * stores are real and every page of the block becomes resident.
 */
#include "worker.h"

#include "sysload.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNK 16384u            /* bytes between clock and cancel checks */

typedef struct thread {
    dx_workers *pool;
    pthread_t th;
    bool started;
    bool busy;                  /* under pool->mu */
    uint32_t slot;              /* under pool->mu, when busy */
    atomic_bool cancel;         /* set under pool->mu, read without it */
} thread;

typedef struct queued {
    dx_job job;
    bool cancelled;
} queued;

struct dx_workers {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned n;
    unsigned inflight;          /* queued + running */
    queued *q;                  /* ring of n */
    unsigned qhead, qlen;
    bool stopping;
    dx_devices *devs;
    dx_job_done_fn done;
    void *ctx;
    thread t[];
};

/* ---- job bodies ---- */

static uint64_t mix64(uint64_t x)
{
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

#define FNV_PRIME UINT64_C(0x100000001b3)

/* Writes the pattern of `pass` over [from, to) of mem, folding into *sum. */
static void compute_span(unsigned char *mem, size_t from, size_t to,
                         uint64_t seed, uint64_t pass, uint64_t *sum)
{
    uint64_t h = *sum, base = seed ^ (pass * UINT64_C(0x9e3779b97f4a7c15));
    size_t i = from;

    for (; i + 8 <= to; i += 8) {
        uint64_t word = base ^ ((uint64_t)i * UINT64_C(0xff51afd7ed558ccd));
        memcpy(mem + i, &word, sizeof word);
        h = (h ^ word) * FNV_PRIME;
    }
    for (; i < to; i++) {
        mem[i] = (unsigned char)(base >> ((i & 7u) * 8u));
        h = (h ^ mem[i]) * FNV_PRIME;
    }
    *sum = h;
}

/* Without memory the CPU still works: the same fold over no stores. */
static void compute_spin(uint64_t *sum)
{
    uint64_t h = *sum;
    for (unsigned i = 0; i < CHUNK / 8; i++)
        h = (h ^ i) * FNV_PRIME;
    *sum = h;
}

static void fmt_size(char *buf, size_t cap, size_t bytes)
{
    if (bytes % 1024 == 0)
        snprintf(buf, cap, "%zu KiB", bytes / 1024);
    else
        snprintf(buf, cap, "%zu bytes", bytes);
}

static void run_compute(thread *t, const dx_job *j, dx_job_result *r)
{
    int64_t t0 = dx_mono_ns(), now = t0;
    int64_t deadline = t0 + (int64_t)j->ms * 1000000;
    uint64_t sum = UINT64_C(0xcbf29ce484222325);
    uint64_t seed = mix64(j->slot), pass = 0;
    size_t pos = 0;
    unsigned char *mem = j->mem;
    char size[32];

    for (;;) {
        if (atomic_load_explicit(&t->cancel, memory_order_relaxed)) {
            r->rc = DX_ESTATE;
            break;
        }
        /* Done when the time is up and every page was touched once. */
        if ((pass > 0 || j->mem_bytes == 0) && now >= deadline)
            break;
        if (j->mem_bytes == 0) {
            compute_spin(&sum);
            pass++;
        } else {
            size_t to = j->mem_bytes - pos > CHUNK ? pos + CHUNK
                                                  : j->mem_bytes;
            compute_span(mem, pos, to, seed, pass, &sum);
            pos = to;
            if (pos == j->mem_bytes) {
                pos = 0;
                pass++;
            }
        }
        now = dx_mono_ns();
    }
    r->run_ms = (dx_mono_ns() - t0) / 1000000;
    r->checksum = (uint32_t)(sum ^ (sum >> 32));
    fmt_size(size, sizeof size, j->mem_bytes);
    if (r->rc == DX_ESTATE)
        snprintf(r->text, sizeof r->text, "cancelled after %" PRId64 " ms "
                 "over %s", r->run_ms, size);
    else
        snprintf(r->text, sizeof r->text, "computed %" PRId64 " ms over %s, "
                 "checksum 0x%08" PRIx32, r->run_ms, size, r->checksum);
}

static void run_sensor(dx_workers *w, const dx_job *j, dx_job_result *r)
{
    char err[DX_TEXT_MAX + 1];
    const dx_device_cfg *c = dx_devices_cfg(w->devs, j->device);
    double v = 0;
    uint64_t seq = 0;

    r->rc = dx_device_read(w->devs, j->device, &v, &seq, err, sizeof err);
    if (r->rc != 0) {
        snprintf(r->text, sizeof r->text, "%s", err);
        return;
    }
    r->value = v;
    r->seq = seq;
    snprintf(r->text, sizeof r->text, "%s = %.6g%s%s", c->name, v,
             c->unit[0] ? " " : "", c->unit);
}

static void run_actuator(dx_workers *w, const dx_job *j, dx_job_result *r)
{
    char err[DX_TEXT_MAX + 1];
    const dx_device_cfg *c = dx_devices_cfg(w->devs, j->device);

    r->rc = dx_device_write(w->devs, j->device, j->value, err, sizeof err);
    if (r->rc != 0) {
        snprintf(r->text, sizeof r->text, "%s", err);
        return;
    }
    r->value = j->value;
    snprintf(r->text, sizeof r->text, "%s set to %.15g%s%s", c->name,
             j->value, c->unit[0] ? " " : "", c->unit);
}

static void run_job(thread *t, const dx_job *j, bool cancelled,
                    dx_job_result *r)
{
    dx_workers *w = t->pool;
    int64_t t0 = dx_mono_ns();

    memset(r, 0, sizeof *r);
    r->slot = j->slot;
    r->kind = j->kind;
    r->started_ms = dx_wall_ms();
    if (cancelled || atomic_load(&t->cancel)) {
        r->rc = DX_ESTATE;
        snprintf(r->text, sizeof r->text, "cancelled before start");
    } else if (j->kind == DX_TASK_COMPUTE) {
        run_compute(t, j, r);       /* sets run_ms to match its text */
        r->finished_ms = dx_wall_ms();
        return;
    } else if (j->kind == DX_TASK_SENSOR_READ) {
        run_sensor(w, j, r);
    } else {
        run_actuator(w, j, r);
    }
    r->run_ms = (dx_mono_ns() - t0) / 1000000;
    r->finished_ms = dx_wall_ms();
}

/* ---- threads ---- */

static void *thread_main(void *arg)
{
    thread *t = arg;
    dx_workers *w = t->pool;
    dx_job_result r;

    for (;;) {
        queued item;

        pthread_mutex_lock(&w->mu);
        while (w->qlen == 0 && !w->stopping)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->qlen == 0) {                 /* stopping, queue drained */
            pthread_mutex_unlock(&w->mu);
            return NULL;
        }
        item = w->q[w->qhead];
        w->qhead = (w->qhead + 1) % w->n;
        w->qlen--;
        t->busy = true;
        t->slot = item.job.slot;
        atomic_store(&t->cancel, item.cancelled || w->stopping);
        pthread_mutex_unlock(&w->mu);

        run_job(t, &item.job, item.cancelled, &r);

        pthread_mutex_lock(&w->mu);
        t->busy = false;
        w->inflight--;
        pthread_mutex_unlock(&w->mu);
        w->done(w->ctx, &r);
    }
}

/* Wakes every thread to drain and exit, then joins those started. */
static void stop_threads(dx_workers *w)
{
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    for (unsigned i = 0; i < w->qlen; i++)
        w->q[(w->qhead + i) % w->n].cancelled = true;
    for (unsigned i = 0; i < w->n; i++)
        if (w->t[i].busy)
            atomic_store(&w->t[i].cancel, true);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (unsigned i = 0; i < w->n; i++)
        if (w->t[i].started) {
            pthread_join(w->t[i].th, NULL);
            w->t[i].started = false;
        }
}

int dx_workers_start(dx_workers **out, unsigned n, dx_devices *devs,
                     dx_job_done_fn done, void *ctx)
{
    dx_workers *w;
    sigset_t all, old;
    int rc = DX_ENOMEM;

    if (out == NULL || done == NULL || n == 0 || n > DX_WORKERS_MAX)
        return DX_EINVAL;
    w = calloc(1, sizeof *w + n * sizeof w->t[0]);
    if (w == NULL)
        return DX_ENOMEM;
    w->q = calloc(n, sizeof w->q[0]);
    if (w->q == NULL)
        goto fail_queue;
    if (pthread_mutex_init(&w->mu, NULL) != 0)
        goto fail_mutex;
    if (pthread_cond_init(&w->cv, NULL) != 0)
        goto fail_cond;
    w->n = n;
    w->devs = devs;
    w->done = done;
    w->ctx = ctx;

    /* Threads inherit the mask: let signals go to the loop's thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (unsigned i = 0; i < n; i++) {
        w->t[i].pool = w;
        atomic_init(&w->t[i].cancel, false);
        if (pthread_create(&w->t[i].th, NULL, thread_main, &w->t[i]) != 0)
            break;
        w->t[i].started = true;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!w->t[n - 1].started)
        goto fail_threads;
    *out = w;
    return 0;

fail_threads:
    stop_threads(w);
    pthread_cond_destroy(&w->cv);
fail_cond:
    pthread_mutex_destroy(&w->mu);
fail_mutex:
    free(w->q);
fail_queue:
    free(w);
    return rc;
}

static bool job_is_valid(const dx_workers *w, const dx_job *j)
{
    const dx_device_cfg *c;

    switch (j->kind) {
    case DX_TASK_COMPUTE:
        return j->mem != NULL || j->mem_bytes == 0;
    case DX_TASK_SENSOR_READ:
        c = dx_devices_cfg(w->devs, j->device);
        return c != NULL && c->role == DX_DEV_SENSOR;
    case DX_TASK_ACTUATOR_SET:
        c = dx_devices_cfg(w->devs, j->device);
        return c != NULL && c->role == DX_DEV_ACTUATOR && isfinite(j->value);
    default:
        return false;
    }
}

int dx_workers_submit(dx_workers *w, const dx_job *job)
{
    int rc = 0;

    if (w == NULL || job == NULL || !job_is_valid(w, job))
        return DX_EINVAL;
    pthread_mutex_lock(&w->mu);
    if (w->stopping) {
        rc = DX_ESTATE;
    } else if (w->inflight >= w->n) {
        rc = DX_EFULL;
    } else {
        queued *q = &w->q[(w->qhead + w->qlen) % w->n];
        q->job = *job;
        q->cancelled = false;
        w->qlen++;
        w->inflight++;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void dx_workers_cancel(dx_workers *w, uint32_t slot)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    for (unsigned i = 0; i < w->qlen; i++) {
        queued *q = &w->q[(w->qhead + i) % w->n];
        if (q->job.slot == slot)
            q->cancelled = true;
    }
    for (unsigned i = 0; i < w->n; i++)
        if (w->t[i].busy && w->t[i].slot == slot)
            atomic_store(&w->t[i].cancel, true);
    pthread_mutex_unlock(&w->mu);
}

void dx_workers_stop(dx_workers **wp)
{
    dx_workers *w;

    if (wp == NULL || (w = *wp) == NULL)
        return;
    stop_threads(w);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w->q);
    free(w);
    *wp = NULL;
}

unsigned dx_workers_count(const dx_workers *w)
{
    return w ? w->n : 0;
}

unsigned dx_workers_inflight(dx_workers *w)
{
    unsigned n;

    if (w == NULL)
        return 0;
    pthread_mutex_lock(&w->mu);
    n = w->inflight;
    pthread_mutex_unlock(&w->mu);
    return n;
}
