/*
 * sysload.h - what the load report reads from the system: CPU use from
 * /proc/stat (the share of non-idle time since the previous reading) and
 * free disk space in the data directory (statvfs).  Both are cheap enough
 * to read once per heartbeat.
 */
#ifndef DX_SYSLOAD_H
#define DX_SYSLOAD_H

#include <stdint.h>

typedef struct dx_sysload {
    unsigned long long prev_total, prev_idle;
} dx_sysload;

/* Starts the CPU meter (the first reading covers the time since). */
void dx_sysload_init(dx_sysload *s);

/* CPU use of the whole machine since the previous call, 0..100. */
int dx_sysload_cpu(dx_sysload *s, uint32_t *pct);

/* Free space available to this user under dir, in KiB. */
int dx_sysload_disk_free_kb(const char *dir, uint64_t *kb);

/* The clocks of the I/O shell (the core is given the time instead):
 * monotonic for durations, wall clock only to stamp what people read. */
int64_t dx_mono_ms(void);
int64_t dx_mono_ns(void);
int64_t dx_wall_ms(void);

/* This process's resident memory in KiB (from /proc/self/statm). */
int dx_sysload_rss_kb(uint64_t *kb);

#endif
