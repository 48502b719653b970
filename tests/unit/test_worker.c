/*
 * test_worker.c - unit tests of the worker pool (agent/worker.c) with real
 * threads: compute jobs that use their memory and take their time,
 * cancellation, sensor and actuator jobs through dx_devices, the in-flight
 * limit, stopping with jobs running, and a stream of jobs for ThreadSanitizer.
 *
 * The done callback copies each result into a collector and signals a
 * condition variable; the tests wait on it with timeouts, so a lost result
 * fails the test instead of hanging it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices.h"
#include "worker.h"

#define MAX_RESULTS 512

typedef struct collector {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t n;
    dx_job_result r[MAX_RESULTS];
} collector;

static collector col;

static void on_done(void *ctx, const dx_job_result *r)
{
    collector *c = ctx;
    pthread_mutex_lock(&c->mu);
    if (c->n < MAX_RESULTS)
        c->r[c->n] = *r;
    c->n++;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Waits until `count` results arrived in total; false on timeout. */
static bool wait_results(size_t count, int64_t timeout_ms)
{
    struct timespec ts;
    bool ok;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(timeout_ms / 1000);
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&col.mu);
    while (col.n < count &&
           pthread_cond_timedwait(&col.cv, &col.mu, &ts) != ETIMEDOUT)
        ;
    ok = col.n >= count;
    pthread_mutex_unlock(&col.mu);
    return ok;
}

/* A copy of the result for slot, which must have arrived. */
static dx_job_result result_of(uint32_t slot)
{
    dx_job_result r;
    bool found = false;

    pthread_mutex_lock(&col.mu);
    for (size_t i = 0; i < col.n && i < MAX_RESULTS; i++)
        if (col.r[i].slot == slot) {
            r = col.r[i];
            found = true;
        }
    pthread_mutex_unlock(&col.mu);
    if (!found)
        fail_msg("no result for slot %" PRIu32, slot);
    return r;
}

static size_t results(void)
{
    size_t n;
    pthread_mutex_lock(&col.mu);
    n = col.n;
    pthread_mutex_unlock(&col.mu);
    return n;
}

static int setup(void **state)
{
    (void)state;
    memset(&col, 0, sizeof col);
    pthread_mutex_init(&col.mu, NULL);
    pthread_cond_init(&col.cv, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pthread_cond_destroy(&col.cv);
    pthread_mutex_destroy(&col.mu);
    return 0;
}

static dx_job compute(uint32_t slot, uint32_t ms, void *mem, size_t bytes)
{
    dx_job j;
    memset(&j, 0, sizeof j);
    j.slot = slot;
    j.kind = DX_TASK_COMPUTE;
    j.ms = ms;
    j.mem = mem;
    j.mem_bytes = bytes;
    return j;
}

/* ---- tests ---- */

static void test_start_arguments(void **state)
{
    (void)state;
    dx_workers *w = NULL;
    assert_int_equal(dx_workers_start(&w, 0, NULL, on_done, &col), DX_EINVAL);
    assert_int_equal(dx_workers_start(&w, DX_WORKERS_MAX + 1, NULL, on_done,
                                      &col), DX_EINVAL);
    assert_int_equal(dx_workers_start(&w, 2, NULL, NULL, &col), DX_EINVAL);
    assert_null(w);
    assert_int_equal(dx_workers_start(&w, 3, NULL, on_done, &col), 0);
    assert_int_equal(dx_workers_count(w), 3);
    assert_int_equal(dx_workers_inflight(w), 0);
    dx_workers_stop(&w);
    assert_null(w);
    dx_workers_stop(&w);                /* NULL is fine */
    assert_int_equal(results(), 0);
}

static void test_compute(void **state)
{
    (void)state;
    const size_t bytes = 1024 * 1024 + 40;   /* not a multiple of 8 */
    unsigned char *a = calloc(1, bytes), *b = calloc(1, bytes);
    dx_workers *w = NULL;
    int64_t wall0 = wall_ms(), t0 = mono_ms();
    size_t zero_a = 0, zero_b = 0;
    dx_job j;

    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(dx_workers_start(&w, 2, NULL, on_done, &col), 0);
    j = compute(1, 50, a, bytes);
    assert_int_equal(dx_workers_submit(w, &j), 0);
    j = compute(2, 120, b, bytes);
    assert_int_equal(dx_workers_submit(w, &j), 0);
    j = compute(3, 20, NULL, 0);            /* no memory: CPU only */
    assert_int_equal(dx_workers_submit(w, &j), DX_EFULL);
    assert_true(wait_results(2, 5000));
    assert_true(mono_ms() - t0 < 1000);     /* ran in parallel */
    assert_int_equal(dx_workers_submit(w, &j), 0);
    assert_true(wait_results(3, 5000));

    dx_job_result r1 = result_of(1), r2 = result_of(2), r3 = result_of(3);
    assert_int_equal(r1.rc, 0);
    assert_int_equal(r1.kind, DX_TASK_COMPUTE);
    assert_true(r1.run_ms >= 50 && r1.run_ms < 50 + 500);
    assert_true(r2.run_ms >= 120 && r2.run_ms < 120 + 500);
    assert_true(r3.rc == 0 && r3.run_ms >= 20 && r3.run_ms < 20 + 500);
    assert_true(r1.started_ms >= wall0 - 5 && r1.finished_ms <= wall_ms() + 5);
    assert_true(r1.finished_ms - r1.started_ms >= 49);
    assert_non_null(strstr(r1.text, "computed "));
    assert_non_null(strstr(r1.text, " ms over 1048616 bytes, checksum 0x"));
    assert_non_null(strstr(r3.text, " ms over 0 KiB, checksum 0x"));
    char want[64];
    snprintf(want, sizeof want, "checksum 0x%08" PRIx32, r1.checksum);
    assert_non_null(strstr(r1.text, want));

    /* The memory was really written, to the last byte. */
    for (size_t i = 0; i < bytes; i++) {
        zero_a += a[i] == 0;
        zero_b += b[i] == 0;
    }
    assert_true(zero_a < bytes / 100);
    assert_true(zero_b < bytes / 100);
    assert_true(a[bytes - 1] != 0 || a[bytes - 2] != 0 || a[bytes - 3] != 0);
    assert_int_equal(memcmp(a, b, bytes) != 0, 1);   /* slot-specific */
    dx_workers_stop(&w);
    free(a);
    free(b);
}

static void test_compute_kib_text(void **state)
{
    (void)state;
    static unsigned char mem[64 * 1024];
    dx_workers *w = NULL;
    dx_job j = compute(9, 0, mem, sizeof mem);

    assert_int_equal(dx_workers_start(&w, 1, NULL, on_done, &col), 0);
    assert_int_equal(dx_workers_submit(w, &j), 0);
    assert_true(wait_results(1, 5000));
    dx_job_result r = result_of(9);
    assert_int_equal(r.rc, 0);              /* 0 ms: one pass, then done */
    assert_non_null(strstr(r.text, " ms over 64 KiB, checksum 0x"));
    assert_true(mem[0] != 0 || mem[1] != 0);
    dx_workers_stop(&w);
}

static void test_cancel(void **state)
{
    (void)state;
    const size_t bytes = 4 * 1024 * 1024;
    unsigned char *mem = malloc(bytes);
    dx_workers *w = NULL;
    dx_job j;
    int64_t t0;

    assert_non_null(mem);
    assert_int_equal(dx_workers_start(&w, 2, NULL, on_done, &col), 0);
    j = compute(7, 60000, mem, bytes);
    assert_int_equal(dx_workers_submit(w, &j), 0);
    j = compute(8, 200, NULL, 0);
    assert_int_equal(dx_workers_submit(w, &j), 0);
    sleep_ms(50);
    dx_workers_cancel(w, 12345);            /* unknown slot: nothing */
    t0 = mono_ms();
    dx_workers_cancel(w, 7);
    assert_true(wait_results(1, 2000));
    assert_true(mono_ms() - t0 < 500);
    dx_job_result r = result_of(7);
    assert_int_equal(r.rc, DX_ESTATE);
    assert_true(r.run_ms >= 40 && r.run_ms < 1000);
    assert_non_null(strstr(r.text, "cancelled after "));

    /* The other job was not disturbed. */
    assert_true(wait_results(2, 5000));
    r = result_of(8);
    assert_int_equal(r.rc, 0);
    assert_true(r.run_ms >= 200);
    assert_int_equal(dx_workers_inflight(w), 0);
    dx_workers_stop(&w);
    free(mem);
}

static void test_devices_jobs(void **state)
{
    (void)state;
    dx_device_cfg cfg[4];
    dx_devices *devs = NULL;
    dx_workers *w = NULL;
    char err[128];
    dx_job j;

    assert_int_equal(dx_device_parse(DX_DEV_SENSOR, "temp1 sim seed=2 unit=C",
                                     &cfg[0], err, sizeof err), 0);
    assert_int_equal(dx_device_parse(DX_DEV_ACTUATOR, "valve1", &cfg[1], err,
                                     sizeof err), 0);
    assert_int_equal(dx_device_parse(DX_DEV_SENSOR,
                                     "gone file /nonexistent/dx/gone.txt",
                                     &cfg[2], err, sizeof err), 0);
    assert_int_equal(dx_device_parse(DX_DEV_ACTUATOR, "pump unit=%", &cfg[3],
                                     err, sizeof err), 0);
    assert_int_equal(dx_devices_open(&devs, cfg, 4), 0);
    assert_int_equal(dx_workers_start(&w, 2, devs, on_done, &col), 0);

    memset(&j, 0, sizeof j);
    j.slot = 1;
    j.kind = DX_TASK_SENSOR_READ;
    j.device = dx_devices_find(devs, "temp1", DX_DEV_SENSOR);
    assert_int_equal(dx_workers_submit(w, &j), 0);
    j.slot = 2;
    j.kind = DX_TASK_ACTUATOR_SET;
    j.device = dx_devices_find(devs, "valve1", DX_DEV_ACTUATOR);
    j.value = 1;
    assert_int_equal(dx_workers_submit(w, &j), 0);
    assert_true(wait_results(2, 5000));

    dx_job_result r = result_of(1);
    char want[128];
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.kind, DX_TASK_SENSOR_READ);
    assert_int_equal(r.seq, 1);
    assert_true(r.value == dx_sim_value(&cfg[0], 1));
    snprintf(want, sizeof want, "temp1 = %.6g C", r.value);
    assert_string_equal(r.text, want);
    r = result_of(2);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.text, "valve1 set to 1");
    assert_true(r.value == 1.0);
    assert_true(dx_device_value(devs, 1, NULL) == 1.0);

    /* A device error comes back as DX_EIO with its text. */
    j.slot = 3;
    j.kind = DX_TASK_SENSOR_READ;
    j.device = 2;
    assert_int_equal(dx_workers_submit(w, &j), 0);
    j.slot = 4;
    j.kind = DX_TASK_ACTUATOR_SET;
    j.device = 3;
    j.value = 0.1;
    assert_int_equal(dx_workers_submit(w, &j), 0);
    assert_true(wait_results(4, 5000));
    r = result_of(3);
    assert_int_equal(r.rc, DX_EIO);
    assert_string_equal(r.text, "gone: cannot open '/nonexistent/dx/gone.txt': "
                                "No such file or directory");
    r = result_of(4);
    assert_string_equal(r.text, "pump set to 0.1 %");

    /* Jobs the pool refuses, without a done call. */
    j.slot = 5;
    j.kind = DX_TASK_SENSOR_READ;
    j.device = 1;                           /* an actuator */
    assert_int_equal(dx_workers_submit(w, &j), DX_EINVAL);
    j.device = 4;                           /* no such device */
    assert_int_equal(dx_workers_submit(w, &j), DX_EINVAL);
    j.kind = DX_TASK_ACTUATOR_SET;
    j.device = 0;                           /* a sensor */
    assert_int_equal(dx_workers_submit(w, &j), DX_EINVAL);
    j.device = 1;
    j.value = INFINITY;
    assert_int_equal(dx_workers_submit(w, &j), DX_EINVAL);
    j.kind = DX_TASK_SLEEP;
    assert_int_equal(dx_workers_submit(w, &j), DX_EINVAL);
    j.kind = DX_TASK_NOOP;
    assert_int_equal(dx_workers_submit(w, &j), DX_EINVAL);
    j = compute(6, 1, NULL, 64);            /* bytes without memory */
    assert_int_equal(dx_workers_submit(w, &j), DX_EINVAL);
    sleep_ms(20);
    assert_int_equal(results(), 4);
    dx_workers_stop(&w);
    dx_devices_close(&devs);
}

static void test_stop_with_jobs_running(void **state)
{
    (void)state;
    static unsigned char mem[2][256 * 1024];
    dx_workers *w = NULL;
    dx_job j;
    int64_t t0;

    assert_int_equal(dx_workers_start(&w, 2, NULL, on_done, &col), 0);
    j = compute(1, 60000, mem[0], sizeof mem[0]);
    assert_int_equal(dx_workers_submit(w, &j), 0);
    j = compute(2, 60000, mem[1], sizeof mem[1]);
    assert_int_equal(dx_workers_submit(w, &j), 0);
    j = compute(3, 1, NULL, 0);
    assert_int_equal(dx_workers_submit(w, &j), DX_EFULL);
    assert_int_equal(dx_workers_inflight(w), 2);
    sleep_ms(30);
    t0 = mono_ms();
    dx_workers_stop(&w);
    assert_null(w);
    assert_true(mono_ms() - t0 < 1000);
    /* Both done calls happened before stop returned. */
    assert_int_equal(results(), 2);
    assert_int_equal(result_of(1).rc, DX_ESTATE);
    assert_int_equal(result_of(2).rc, DX_ESTATE);
}

/* Many short jobs submitted as places free up, some cancelled. */
static void test_stream(void **state)
{
    (void)state;
    static unsigned char mem[301][1024];     /* one buffer per slot */
    dx_workers *w = NULL;
    uint32_t submitted = 0;
    int64_t t0 = mono_ms();

    assert_int_equal(dx_workers_start(&w, 4, NULL, on_done, &col), 0);
    while (submitted < 300 && mono_ms() - t0 < 20000) {
        uint32_t slot = submitted + 1;
        dx_job j = compute(slot, slot % 3, mem[slot], sizeof mem[0]);
        int rc = dx_workers_submit(w, &j);
        if (rc == DX_EFULL) {
            wait_results(submitted - 3, 100);
            continue;
        }
        assert_int_equal(rc, 0);
        submitted++;
        if (slot % 10 == 0)
            dx_workers_cancel(w, slot);
    }
    assert_int_equal(submitted, 300);
    assert_true(wait_results(300, 10000));
    dx_workers_stop(&w);
    assert_int_equal(results(), 300);
    for (uint32_t s = 1; s <= 300; s++) {
        dx_job_result r = result_of(s);
        assert_true(r.rc == 0 || (r.rc == DX_ESTATE && s % 10 == 0));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_start_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compute, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compute_kib_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_devices_jobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_with_jobs_running, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
