/*
 * bench.c - the output format and statistics of the benchmarks.
 */
#include "bench.h"

#include <dirent.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"
#include "link.h"

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

double bench_round2(double v)
{
    return round(v * 100) / 100;
}

long bench_parse_uint(const char *s, size_t len)
{
    long v = 0;
    if (len == 0 || len > 9)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

double bench_machine_busy_ticks(void)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    int n = f != NULL ? fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu",
                               &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                               &v[7]) : 0;
    if (f != NULL)
        fclose(f);
    if (n != 8)
        return -1;
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]);
}

/* The TCP port of the peer of socket fd, or -1. */
static int peer_port(int fd)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    if (getpeername(fd, (struct sockaddr *)&sa, &sl) != 0 ||
        sa.sin_family != AF_INET)
        return -1;
    return ntohs(sa.sin_port);
}

void bench_tune_sockets(int broker_port)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        if (fd > 2 && peer_port(fd) == broker_port)
            dx_link_tune_socket(fd);
    }
    closedir(d);
}

void bench_op_set(bench_op *o, int v)
{
    pthread_mutex_lock(&o->mu);
    o->done = v;
    pthread_mutex_unlock(&o->mu);
}

void bench_op_ok(void *ctx, MQTTAsync_successData *r)
{
    (void)r;
    bench_op_set(ctx, 1);
}

void bench_op_fail(void *ctx, MQTTAsync_failureData *r)
{
    (void)r;
    bench_op_set(ctx, -1);
}

int bench_connect(MQTTAsync c, bench_op *o, int max_inflight)
{
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    co.keepAliveInterval = 30;
    co.cleansession = 1;
    co.maxInflight = max_inflight;
    co.onSuccess = bench_op_ok;
    co.onFailure = bench_op_fail;
    co.context = o;
    bench_op_set(o, 0);
    if (MQTTAsync_connect(c, &co) != MQTTASYNC_SUCCESS)
        return -1;
    return bench_op_wait(o, 5000);
}

int bench_subscribe(MQTTAsync c, bench_op *o, const char *filter)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess = bench_op_ok;
    ro.onFailure = bench_op_fail;
    ro.context = o;
    bench_op_set(o, 0);
    if (MQTTAsync_subscribe(c, filter, 1, &ro) != MQTTASYNC_SUCCESS)
        return -1;
    return bench_op_wait(o, 5000);
}

void bench_close(MQTTAsync *c)
{
    if (*c == NULL)
        return;
    if (MQTTAsync_isConnected(*c)) {
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
        d.timeout = 1000;
        (void)MQTTAsync_disconnect(*c, &d);
        dxh_sleep_ms(100);
    }
    MQTTAsync_destroy(c);
    *c = NULL;
}

int bench_op_wait(bench_op *o, int timeout_ms)
{
    int64_t dl = dxh_now_ns() + (int64_t)timeout_ms * 1000000;
    int d = 0;
    while (d == 0 && dxh_now_ns() < dl) {
        pthread_mutex_lock(&o->mu);
        d = o->done;
        pthread_mutex_unlock(&o->mu);
        if (d == 0)
            dxh_sleep_ms(2);
    }
    return d == 1 ? 0 : -1;
}
