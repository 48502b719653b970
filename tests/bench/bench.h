/*
 * bench.h - what every benchmark program shares: the line format the
 * runner (tests/bench/run) reads, statistics, /proc readings, and the small
 * Paho helpers of the programs that measure with their own MQTT clients.
 */
#ifndef DX_BENCH_H
#define DX_BENCH_H

#include <pthread.h>
#include <stddef.h>

#include <MQTTAsync.h>

/* Prints one figure as a JSON line: verdict 1 meets, 0 misses, -1 none. */
void bench_emit(const char *name, double value, const char *unit,
                const char *target, int verdict);

/* Nearest-rank percentile q (0..1] of v[0..n), n > 0; sorts v. */
double bench_pct(double *v, int n, double q);

/* utime + stime of process pid in clock ticks, or -1. */
double bench_proc_cpu_ticks(int pid);

/* v rounded to two decimals. */
double bench_round2(double v);

/* len decimal digits at s as a non-negative number (at most 9 digits), or
 * -1. */
long bench_parse_uint(const char *s, size_t len);

/* Busy ticks of the whole machine (all CPUs, everything but idle and
 * iowait), or -1. */
double bench_machine_busy_ticks(void);

/* Paho sets no socket options; the agents and the CLI set theirs
 * (dx_link_tune_socket: TCP_NODELAY and the send buffer), so the
 * benchmarks' own clients, the baselines' included, get the same on every
 * socket of this process connected to the broker's port. */
void bench_tune_sockets(int broker_port);

/* One Paho operation (connect, subscribe) to wait for: pass the op as the
 * context of bench_op_ok / bench_op_fail.  A timed-out op may still be
 * completed later, so it must outlive the client (make it static). */
typedef struct bench_op {
    pthread_mutex_t mu;
    int done;                 /* 0 pending, 1 ok, -1 failed */
} bench_op;

void bench_op_set(bench_op *o, int v);
void bench_op_ok(void *ctx, MQTTAsync_successData *r);
void bench_op_fail(void *ctx, MQTTAsync_failureData *r);
/* Waits for the operation; 0 on success, -1 on failure or timeout. */
int bench_op_wait(bench_op *o, int timeout_ms);

/* The measuring clients' own operations, each waited for (5 s) through o.
 * bench_connect: clean session, keepalive 30 s, at most max_inflight
 * unacknowledged QoS 1 publishes (c made and its callbacks set by the
 * caller).  bench_subscribe: QoS 1.  bench_close: disconnects (waiting
 * 100 ms for the DISCONNECT to leave), destroys, sets *c to NULL; NULL is
 * fine. */
int bench_connect(MQTTAsync c, bench_op *o, int max_inflight);
int bench_subscribe(MQTTAsync c, bench_op *o, const char *filter);
void bench_close(MQTTAsync *c);

#endif
