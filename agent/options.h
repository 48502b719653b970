/*
 * options.h - the agent's command line and configuration file.
 *
 * Every option has a long form on the command line (--heartbeat-ms 250)
 * and the same key in a mosquitto.conf-style file given with --config
 * ("heartbeat-ms 250", '#' starts a comment).  The command line wins over
 * the file.  Every value is checked; the first bad one produces one line
 * naming the option, the value and what was expected.
 *
 * Devices: --sensor SPEC and --actuator SPEC are repeatable; in the file
 * "sensor SPEC" and "actuator SPEC", the value being the rest of the line.
 * The spec syntax is in devices.h.  Devices named on the command line
 * replace all the devices of the file.
 */
#ifndef DX_OPTIONS_H
#define DX_OPTIONS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "devices.h"
#include "dx_msg.h"
#include "dx_topic.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

typedef struct dx_agent_opts {
    uint16_t id;
    char name[DX_NAME_MAX + 1];
    char broker[256];
    char cluster[DX_NAME_MAX + 1];
    char root[DX_ROOT_MAX + 1];        /* "" = distribux/{cluster} */
    char data_dir[PATH_MAX];
    char config[PATH_MAX];
    int64_t heartbeat_ms;
    int64_t timeout_ms;                /* 0 until resolved: 4 heartbeats */
    int log_level;                     /* dx_log_level */
    uint64_t mem_pool_kb;
    int keepalive_s;
    char user[DX_NAME_MAX + 1];
    char password_file[PATH_MAX];
    char cafile[PATH_MAX];
    char cert[PATH_MAX];
    char key[PATH_MAX];
    unsigned workers;                  /* worker threads, 1..256 */
    uint64_t task_ttl_s;               /* finished task records kept, s */
    /* distributed file system */
    uint64_t chunk_kb;                 /* chunk size of puts, KiB */
    uint64_t replicas;                 /* copies of every chunk */
    uint64_t repair_grace_ms;          /* a failed node's chunks wait this */
    uint64_t repair_parallel;          /* repair transfers at a time */
    uint64_t scrub_interval_s;         /* periodic scrub, 0 = on request */
    uint64_t log_flush_s;              /* sensor log segment age, 0 = off */
    uint64_t log_flush_readings;       /* or this many readings */
    bool check_config;                 /* --check-config: validate, exit */
    /* Sensors and actuators (--sensor, --actuator), in the order given:
     * devices[i] is the name of device_cfg[i], for the birth. */
    size_t n_devices;
    char devices[DX_DEVICES_MAX][DX_NAME_MAX + 1];
    dx_device_cfg device_cfg[DX_DEVICES_MAX];
} dx_agent_opts;

/*
 * Fills *o from argv (and the --config file it names).  Returns 0 when the
 * agent should run, 1 when --help or --version was printed to stdout (or
 * --check-config found every option valid and printed "ok"), and
 * DX_EINVAL with one line in err otherwise.
 */
int dx_agent_opts_parse(dx_agent_opts *o, int argc, char **argv, char *err,
                        size_t errcap);

/* Prints the usage text with every option and its default. */
void dx_agent_usage(FILE *out);

#endif
