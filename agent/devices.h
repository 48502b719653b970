/*
 * devices.h - the sensors and actuators a node declares, and their state.
 *
 * A node declares each device with one spec string, given on the command
 * line (--sensor SPEC, --actuator SPEC, repeatable) or in the config file
 * ("sensor SPEC", "actuator SPEC": the value is the rest of the line).
 * Words are separated by blanks; a path cannot contain blanks.
 *
 *   sensor   NAME [sim] [seed=S] [min=A] [max=B] [period=P] [unit=U]
 *   sensor   NAME file PATH [unit=U]
 *   actuator NAME [sim] [unit=U]
 *   actuator NAME file PATH [unit=U]
 *
 * sim sensor: a deterministic, seeded model.  Reading k (k = 1, 2, ...) is
 * a pure function of (seed, k), see dx_sim_value(): a sine of `period`
 * readings around the middle of [min, max] plus noise from a hash of
 * (seed, k), always inside [min, max].  Defaults: seed=1 (0..4294967295),
 * min=0, max=100 (finite, min <= max), period=60 (1..1000000000), unit "".
 * file sensor: every read opens PATH, takes its last non-empty line and
 * parses it as one finite number (blanks around it allowed); a missing
 * file, an empty one or anything else on that line is an error.  PATH must
 * be a regular file (so a FIFO can never block a worker); only its last
 * 4 KiB are read, so an ever-growing log is fine.
 * sim actuator: keeps the last value in memory (0 until the first set).
 * file actuator: also writes each value to PATH as "%.17g\n", atomically:
 * a temporary file in the same directory, fsync, rename, fsync of the
 * directory; readers see the old value or the new one, never a mix.
 * unit: 1..DX_UNIT_MAX printable ASCII characters without blanks.
 * NAME: a valid name (dx_name_is_valid); at most DX_DEVICES_MAX devices per
 * node, sensors and actuators together, each name once.
 *
 * Relative paths are relative to the agent's working directory.  Nothing
 * here touches a file at open time: a file sensor may appear later.
 *
 * Runtime state (dx_devices) is thread-safe: one mutex per device, so
 * worker threads can read different sensors in parallel while two reads of
 * the same sensor are serialized and get consecutive sequence numbers.
 */
#ifndef DX_DEVICES_H
#define DX_DEVICES_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dx_err.h"
#include "dx_msg.h"
#include "dx_topic.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

#define DX_UNIT_MAX 16            /* bytes of a unit: "C", "bar", "m3/h" */
#define DX_DEVICE_TAIL 4096       /* bytes a file sensor reads from its end */

typedef enum { DX_DEV_SENSOR = 1, DX_DEV_ACTUATOR } dx_dev_role;
typedef enum { DX_DEV_SIM = 1, DX_DEV_FILE } dx_dev_source;

/* One parsed spec.  Fill with dx_device_parse(). */
typedef struct dx_device_cfg {
    char name[DX_NAME_MAX + 1];
    dx_dev_role role;
    dx_dev_source src;
    char path[PATH_MAX];          /* DX_DEV_FILE */
    uint32_t seed;                /* sim sensor */
    double min, max;              /* sim sensor */
    uint32_t period;              /* sim sensor, in readings */
    char unit[DX_UNIT_MAX + 1];   /* "" = none */
} dx_device_cfg;

/*
 * Parses one spec (the syntax above) into *out.  Returns 0, or DX_EINVAL
 * with one line in err, for example "sensor 'x': unknown option 'foo'".
 * Checks the spec alone: duplicates and the device count are the caller's
 * (dx_devices_open() checks them too).  err may be NULL.
 */
int dx_device_parse(dx_dev_role role, const char *spec, dx_device_cfg *out,
                    char *err, size_t errcap);

/* "sensor" or "actuator". */
const char *dx_dev_role_name(dx_dev_role role);

/*
 * Reading k of a sim sensor: a pure function of (c->seed, k) and the range
 * and period, inside [c->min, c->max].  Same arguments, same bits, on any
 * machine with the same libm.
 */
double dx_sim_value(const dx_device_cfg *c, uint64_t k);

/* Runtime state of a node's devices.  Opaque. */
typedef struct dx_devices dx_devices;

/*
 * Makes the runtime state of n devices (n may be 0); the specs are copied.
 * On success the caller owns *out and frees it with dx_devices_close().
 * Returns DX_EINVAL for bad arguments or an invalid cfg, DX_ERANGE for
 * n > DX_DEVICES_MAX, DX_EXISTS for a name given twice, DX_ENOMEM.
 * Does no I/O.
 */
int dx_devices_open(dx_devices **out, const dx_device_cfg *cfg, size_t n);

/* Frees the state and sets *d to NULL.  NULL and *d == NULL are fine. */
void dx_devices_close(dx_devices **d);

/* Number of devices. */
size_t dx_devices_count(const dx_devices *d);

/* The spec of device idx (owned by d), or NULL for a bad index. */
const dx_device_cfg *dx_devices_cfg(const dx_devices *d, int idx);

/*
 * Index of the device called `name` with `role`, or DX_ENOTFOUND (also for
 * a device of that name with the other role).
 */
int dx_devices_find(const dx_devices *d, const char *name, dx_dev_role role);

/*
 * Takes one reading of sensor idx: *value, and in *seq its sequence number
 * (1 for the first successful reading since open; failed reads do not use
 * one).  Thread-safe; a file sensor does blocking file I/O, so call it from
 * a worker, not the event loop.  Returns 0, DX_EINVAL (bad index, not a
 * sensor), or DX_EIO with one line in err ("temp1: cannot open '/x': No
 * such file or directory").  value, seq and err may be NULL.
 */
int dx_device_read(dx_devices *d, int idx, double *value, uint64_t *seq,
                   char *err, size_t errcap);

/*
 * Sets actuator idx to value (finite): writes the file of a file actuator
 * (see above), then keeps the value.  Thread-safe, may block on the disk.
 * Returns 0, DX_EINVAL (bad index, not an actuator, non-finite value), or
 * DX_EIO with one line in err; on error the kept value is unchanged.
 */
int dx_device_write(dx_devices *d, int idx, double value, char *err,
                    size_t errcap);

/*
 * The value actuator idx was last set to (0 before the first set, and for
 * a bad index); *writes, when not NULL, gets the number of successful sets.
 * Thread-safe.
 */
double dx_device_value(dx_devices *d, int idx, uint64_t *writes);

#endif
