/*
 * sysload.c - CPU, disk and memory readings, and the shell's clocks.
 * See sysload.h.
 */
#include "sysload.h"

#include <stdio.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "dx_err.h"

static int read_cpu(unsigned long long *total, unsigned long long *idle)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    int n;
    if (f == NULL)
        return DX_EIO;
    n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
               &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 4)
        return DX_EIO;
    *idle = v[3] + v[4];                       /* idle + iowait */
    *total = 0;
    for (int i = 0; i < 8; i++)
        *total += v[i];
    return 0;
}

void dx_sysload_init(dx_sysload *s)
{
    s->prev_total = s->prev_idle = 0;
    (void)read_cpu(&s->prev_total, &s->prev_idle);
}

int dx_sysload_cpu(dx_sysload *s, uint32_t *pct)
{
    unsigned long long total, idle, dt, di;
    int rc = read_cpu(&total, &idle);
    if (rc != 0)
        return rc;
    dt = total - s->prev_total;
    di = idle - s->prev_idle;
    if (dt > 0 && di <= dt) {
        *pct = (uint32_t)((100 * (dt - di) + dt / 2) / dt);
        s->prev_total = total;
        s->prev_idle = idle;
    }
    return 0;
}

int dx_sysload_disk_free_kb(const char *dir, uint64_t *kb)
{
    struct statvfs st;
    if (statvfs(dir, &st) != 0)
        return DX_EIO;
    *kb = (uint64_t)st.f_bavail * (uint64_t)st.f_frsize / 1024u;
    return 0;
}

int dx_sysload_rss_kb(uint64_t *kb)
{
    unsigned long size, rss;
    FILE *f = fopen("/proc/self/statm", "r");
    int n;
    if (f == NULL)
        return DX_EIO;
    n = fscanf(f, "%lu %lu", &size, &rss);
    fclose(f);
    if (n != 2)
        return DX_EIO;
    *kb = (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE) / 1024u;
    return 0;
}

int64_t dx_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t dx_mono_ms(void)
{
    return dx_mono_ns() / 1000000;
}

int64_t dx_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
