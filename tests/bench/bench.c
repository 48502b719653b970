/*
 * bench.c - the output format and statistics of the benchmarks.
 */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

double bench_proc_cpu_ticks(int pid)
{
    char path[64], buf[1024];
    unsigned long ut, st;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    size_t n = f != NULL ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f != NULL)
        fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* after the command name */
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                            &ut, &st) != 2)
        return -1;
    return (double)(ut + st);
}
