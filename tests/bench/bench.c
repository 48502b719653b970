/*
 * bench.c - the output format and statistics of the benchmarks.
 */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

void bench_emit(const char *name, double value, const char *unit,
                const char *target, int verdict)
{
    printf("{\"name\":\"%s\",\"value\":%.*f,\"unit\":\"%s\",\"target\":\"%s\","
           "\"verdict\":\"%s\"}\n",
           name, value == floor(value) ? 0 : 2, value, unit, target,
           verdict < 0 ? "" : verdict ? "meets" : "misses");
    fflush(stdout);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_pct(double *v, int n, double q)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    int k = (int)ceil(q * n) - 1;
    return v[k < 0 ? 0 : k];
}
