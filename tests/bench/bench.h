/*
 * bench.h - what every benchmark program shares: the line format the
 * runner (tests/bench/run) reads, and percentiles.
 */
#ifndef DX_BENCH_H
#define DX_BENCH_H

/* Prints one figure as a JSON line: verdict 1 meets, 0 misses, -1 none. */
void bench_emit(const char *name, double value, const char *unit,
                const char *target, int verdict);

/* Nearest-rank percentile q (0..1] of v[0..n), n > 0; sorts v. */
double bench_pct(double *v, int n, double q);

/* utime + stime of process pid in clock ticks, or -1. */
double bench_proc_cpu_ticks(int pid);

#endif
