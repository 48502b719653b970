/*
 * devices.c - sensors and actuators: spec parsing, the sim model, file I/O.
 * See devices.h for the spec syntax.
 *
 * The sim model: with mid and half the middle and half-width of [min, max],
 * reading k is mid + half * (0.8 sin(2 pi (k mod period) / period + phase)
 * + 0.2 noise), where phase comes from the seed and noise in [-1, 1) from a
 * splitmix64 hash of (seed, k).  The two weights add up to 1, so the value
 * stays inside [min, max] without clamping (it is clamped anyway against
 * rounding).  Half-widths are computed as max/2 - min/2 so that even
 * [-DBL_MAX, DBL_MAX] does not overflow.
 *
 * File sensors read only the last DX_DEVICE_TAIL bytes (a sliding window
 * for files whose size stat does not tell, like /proc); file actuators
 * write a temporary file next to the target and rename it over.  Each
 * device has its own mutex, held across its I/O: a slow disk stalls reads
 * of that device only, on worker threads, never the event loop.
 */
#include "devices.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPEC_MAX (PATH_MAX + 512)   /* bytes of one spec string */
#define TMP_SUFFIX ".tmp.XXXXXX"

typedef struct dev {
    dx_device_cfg cfg;
    pthread_mutex_t mu;
    uint64_t seq;                   /* sensor: readings taken */
    double value;                   /* actuator: last value set */
    uint64_t writes;                /* actuator: successful sets */
} dev;

struct dx_devices {
    size_t n;
    dev dev[];
};

/* ---- parsing ---- */

const char *dx_dev_role_name(dx_dev_role role)
{
    return role == DX_DEV_ACTUATOR ? "actuator" : "sensor";
}

/* Copies at most max bytes of src into dst, printable ASCII only, so
 * error texts stay one line of ASCII whatever the input. */
static void clean(char *dst, size_t cap, const char *src, size_t max)
{
    size_t i = 0;
    if (cap == 0)
        return;
    for (; src[i] != '\0' && i < max && i + 1 < cap; i++)
        dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
    dst[i] = '\0';
}

static int fail(char *err, size_t errcap, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errcap, int rc, const char *fmt, ...)
{
    va_list ap;
    if (err != NULL && errcap > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errcap, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' ||
           ch == '\f' || ch == '\v';
}

static bool unit_is_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > DX_UNIT_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= 0x20 || s[i] >= 0x7f)
            return false;
    return true;
}

static bool parse_u32(const char *s, uint64_t min, uint64_t max, uint32_t *out)
{
    char *end;
    unsigned long long v;
    if (s[0] < '0' || s[0] > '9')
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end != '\0' || errno != 0 || v < min || v > max)
        return false;
    *out = (uint32_t)v;
    return true;
}

static bool parse_finite(const char *s, double *out)
{
    char *end;
    double v;
    if (*s == '\0')
        return false;
    errno = 0;
    v = strtod(s, &end);
    if (*end != '\0' || !isfinite(v))
        return false;
    *out = v;
    return true;
}

/* Keys of key=value options, and which devices take them. */
enum { O_SEED, O_MIN, O_MAX, O_PERIOD, O_UNIT, O__COUNT };
static const char *const keys[O__COUNT] = {"seed", "min", "max", "period",
                                           "unit"};

static int parse_option(dx_device_cfg *c, const char *what, char *tok,
                        unsigned *seen, char *err, size_t errcap)
{
    char *eq = strchr(tok, '=');
    char shown[48];
    int k;

    clean(shown, sizeof shown, tok, 40);
    if (eq == NULL)
        return fail(err, errcap, DX_EINVAL, "%s: unknown option '%s'", what,
                    shown);
    *eq = '\0';
    for (k = 0; k < O__COUNT; k++)
        if (strcmp(tok, keys[k]) == 0)
            break;
    clean(shown, sizeof shown, tok, 40);
    if (k == O__COUNT)
        return fail(err, errcap, DX_EINVAL, "%s: unknown option '%s'", what,
                    shown);
    if (k != O_UNIT && !(c->role == DX_DEV_SENSOR && c->src == DX_DEV_SIM))
        return fail(err, errcap, DX_EINVAL, "%s: option '%s' is only for sim "
                    "sensors", what, shown);
    if (*seen & (1u << k))
        return fail(err, errcap, DX_EINVAL, "%s: option '%s' given twice",
                    what, shown);
    *seen |= 1u << k;

    const char *val = eq + 1;
    char vshown[48];
    clean(vshown, sizeof vshown, val, 40);
    switch (k) {
    case O_SEED:
        if (!parse_u32(val, 0, UINT32_MAX, &c->seed))
            return fail(err, errcap, DX_EINVAL, "%s: seed: expected an "
                        "integer 0..4294967295, got '%s'", what, vshown);
        break;
    case O_MIN:
    case O_MAX:
        if (!parse_finite(val, k == O_MIN ? &c->min : &c->max))
            return fail(err, errcap, DX_EINVAL, "%s: %s: expected a finite "
                        "number, got '%s'", what, keys[k], vshown);
        break;
    case O_PERIOD:
        if (!parse_u32(val, 1, 1000000000, &c->period))
            return fail(err, errcap, DX_EINVAL, "%s: period: expected an "
                        "integer 1..1000000000 (readings), got '%s'", what,
                        vshown);
        break;
    default: /* O_UNIT */
        if (!unit_is_valid(val))
            return fail(err, errcap, DX_EINVAL, "%s: unit: expected 1..%d "
                        "printable ASCII characters, got '%s'", what,
                        DX_UNIT_MAX, vshown);
        memcpy(c->unit, val, strlen(val) + 1);
        break;
    }
    return 0;
}

int dx_device_parse(dx_dev_role role, const char *spec, dx_device_cfg *out,
                    char *err, size_t errcap)
{
    const char *rname = dx_dev_role_name(role);
    char buf[SPEC_MAX], what[DX_NAME_MAX + 32], shown[48];
    char *save = NULL, *tok;
    dx_device_cfg c;
    unsigned seen = 0;
    int rc;

    if (out == NULL || spec == NULL ||
        (role != DX_DEV_SENSOR && role != DX_DEV_ACTUATOR))
        return fail(err, errcap, DX_EINVAL, "device: invalid arguments");
    if (strlen(spec) >= sizeof buf)
        return fail(err, errcap, DX_EINVAL, "%s: spec longer than %zu bytes",
                    rname, sizeof buf - 1);
    memcpy(buf, spec, strlen(spec) + 1);

    memset(&c, 0, sizeof c);
    c.role = role;
    c.src = DX_DEV_SIM;
    c.seed = 1;
    c.min = 0;
    c.max = 100;
    c.period = 60;

    tok = strtok_r(buf, " \t\r\n", &save);
    if (tok == NULL)
        return fail(err, errcap, DX_EINVAL, "%s: empty spec, expected NAME "
                    "[sim|file PATH] [key=value ...]", rname);
    clean(shown, sizeof shown, tok, 40);
    if (!dx_name_is_valid(tok))
        return fail(err, errcap, DX_EINVAL, "%s '%s': not a valid name (1..%d "
                    "of A-Z a-z 0-9 _ . -)", rname, shown, DX_NAME_MAX);
    memcpy(c.name, tok, strlen(tok) + 1);
    snprintf(what, sizeof what, "%s '%s'", rname, c.name);

    tok = strtok_r(NULL, " \t\r\n", &save);
    if (tok != NULL && strcmp(tok, "sim") == 0) {
        tok = strtok_r(NULL, " \t\r\n", &save);
    } else if (tok != NULL && strcmp(tok, "file") == 0) {
        c.src = DX_DEV_FILE;
        tok = strtok_r(NULL, " \t\r\n", &save);
        if (tok == NULL)
            return fail(err, errcap, DX_EINVAL, "%s: 'file' needs a PATH",
                        what);
        if (strlen(tok) + sizeof TMP_SUFFIX > sizeof c.path)
            return fail(err, errcap, DX_EINVAL, "%s: path longer than %zu "
                        "bytes", what, sizeof c.path - sizeof TMP_SUFFIX);
        memcpy(c.path, tok, strlen(tok) + 1);
        tok = strtok_r(NULL, " \t\r\n", &save);
    }
    for (; tok != NULL; tok = strtok_r(NULL, " \t\r\n", &save))
        if ((rc = parse_option(&c, what, tok, &seen, err, errcap)) != 0)
            return rc;
    if (c.min > c.max)
        return fail(err, errcap, DX_EINVAL, "%s: min (%g) is above max (%g)",
                    what, c.min, c.max);
    *out = c;
    return 0;
}

/* ---- the sim model ---- */

static uint64_t mix64(uint64_t x)
{
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

/* [0, 1) from the top 53 bits. */
static double unit_real(uint64_t h)
{
    return (double)(h >> 11) * 0x1.0p-53;
}

double dx_sim_value(const dx_device_cfg *c, uint64_t k)
{
    const double two_pi = 6.283185307179586;
    uint64_t hs = mix64(c->seed);
    uint32_t period = c->period ? c->period : 1;
    double mid = c->min / 2 + c->max / 2;
    double half = c->max / 2 - c->min / 2;
    double phase = two_pi * unit_real(hs);
    double angle = two_pi * (double)(k % period) / (double)period + phase;
    double noise = 2 * unit_real(mix64(hs ^ k)) - 1;
    double v = mid + half * (0.8 * sin(angle) + 0.2 * noise);

    if (v < c->min)
        v = c->min;
    if (v > c->max)
        v = c->max;
    return v;
}

/* ---- runtime state ---- */

static bool str_ok(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

static bool cfg_is_valid(const dx_device_cfg *c)
{
    if (!str_ok(c->name, sizeof c->name) || !dx_name_is_valid(c->name) ||
        (c->role != DX_DEV_SENSOR && c->role != DX_DEV_ACTUATOR) ||
        !str_ok(c->unit, sizeof c->unit) ||
        (c->unit[0] != '\0' && !unit_is_valid(c->unit)))
        return false;
    if (c->src == DX_DEV_FILE)
        return str_ok(c->path, sizeof c->path) && c->path[0] != '\0' &&
               strlen(c->path) + sizeof TMP_SUFFIX <= sizeof c->path;
    if (c->src != DX_DEV_SIM)
        return false;
    return c->role == DX_DEV_ACTUATOR ||
           (isfinite(c->min) && isfinite(c->max) && c->min <= c->max &&
            c->period >= 1);
}

int dx_devices_open(dx_devices **out, const dx_device_cfg *cfg, size_t n)
{
    dx_devices *d;
    size_t i;

    if (out == NULL || (n > 0 && cfg == NULL))
        return DX_EINVAL;
    if (n > DX_DEVICES_MAX)
        return DX_ERANGE;
    for (i = 0; i < n; i++) {
        if (!cfg_is_valid(&cfg[i]))
            return DX_EINVAL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg[i].name, cfg[j].name) == 0)
                return DX_EEXISTS;
    }
    d = calloc(1, sizeof *d + n * sizeof d->dev[0]);
    if (d == NULL)
        return DX_ENOMEM;
    for (i = 0; i < n; i++) {
        d->dev[i].cfg = cfg[i];
        if (pthread_mutex_init(&d->dev[i].mu, NULL) != 0)
            goto fail_mutex;
    }
    d->n = n;
    *out = d;
    return 0;

fail_mutex:
    while (i-- > 0)
        pthread_mutex_destroy(&d->dev[i].mu);
    free(d);
    return DX_ENOMEM;
}

void dx_devices_close(dx_devices **dp)
{
    dx_devices *d;
    if (dp == NULL || (d = *dp) == NULL)
        return;
    for (size_t i = 0; i < d->n; i++)
        pthread_mutex_destroy(&d->dev[i].mu);
    free(d);
    *dp = NULL;
}

size_t dx_devices_count(const dx_devices *d)
{
    return d ? d->n : 0;
}

static dev *get(const dx_devices *d, int idx)
{
    if (d == NULL || idx < 0 || (size_t)idx >= d->n)
        return NULL;
    return (dev *)&d->dev[idx];
}

const dx_device_cfg *dx_devices_cfg(const dx_devices *d, int idx)
{
    dev *v = get(d, idx);
    return v ? &v->cfg : NULL;
}

int dx_devices_find(const dx_devices *d, const char *name, dx_dev_role role)
{
    if (d == NULL || name == NULL)
        return DX_ENOTFOUND;
    for (size_t i = 0; i < d->n; i++)
        if (d->dev[i].cfg.role == role && strcmp(d->dev[i].cfg.name, name) == 0)
            return (int)i;
    return DX_ENOTFOUND;
}

/* ---- file sensors ---- */

/*
 * Reads the last line of a regular file that has something on it into
 * line (NUL-terminated, without the newline).  Returns 0 or DX_EIO.
 */
static int read_last_line(const dx_device_cfg *c, char *line, size_t cap,
                          char *err, size_t errcap)
{
    char win[2 * DX_DEVICE_TAIL];   /* the file's last bytes read so far */
    char path[168];
    size_t have = 0;
    bool cut = false;               /* bytes before win[0] were skipped */
    struct stat st;
    int fd, rc = 0;

    clean(path, sizeof path, c->path, 160);
    fd = open(c->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return fail(err, errcap, DX_EIO, "%s: cannot open '%s': %s", c->name,
                    path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = fail(err, errcap, DX_EIO, "%s: '%s' is not a regular file",
                  c->name, path);
        goto out_fd;
    }
    if (st.st_size > DX_DEVICE_TAIL) {
        if (lseek(fd, st.st_size - DX_DEVICE_TAIL, SEEK_SET) < 0) {
            rc = fail(err, errcap, DX_EIO, "%s: cannot seek '%s': %s",
                      c->name, path, strerror(errno));
            goto out_fd;
        }
        cut = true;
    }
    for (;;) {
        ssize_t r;
        if (have == sizeof win) {
            /* Still growing (or /proc-like): keep the newer half. */
            memmove(win, win + DX_DEVICE_TAIL, DX_DEVICE_TAIL);
            have = DX_DEVICE_TAIL;
            cut = true;
        }
        r = read(fd, win + have, sizeof win - have);
        if (r == 0)
            break;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = fail(err, errcap, DX_EIO, "%s: cannot read '%s': %s",
                      c->name, path, strerror(errno));
            goto out_fd;
        }
        have += (size_t)r;
    }

    /* The last line with something other than blanks on it. */
    size_t end = have, start;
    while (end > 0 && is_blank(win[end - 1]))
        end--;
    start = end;
    while (start > 0 && win[start - 1] != '\n')
        start--;
    if (end == 0) {
        rc = fail(err, errcap, DX_EIO, "%s: '%s' has no value (empty file)",
                  c->name, path);
        goto out_fd;
    }
    if (start == 0 && cut) {
        rc = fail(err, errcap, DX_EIO, "%s: last line of '%s' is longer than "
                  "%d bytes", c->name, path, DX_DEVICE_TAIL);
        goto out_fd;
    }
    if (end - start >= cap) {
        rc = fail(err, errcap, DX_EIO, "%s: last line of '%s' is too long",
                  c->name, path);
        goto out_fd;
    }
    memcpy(line, win + start, end - start);
    line[end - start] = '\0';
out_fd:
    close(fd);
    return rc;
}

static int read_file_sensor(const dx_device_cfg *c, double *value, char *err,
                            size_t errcap)
{
    char line[DX_DEVICE_TAIL + 1], shown[48], path[168];
    const char *p;
    char *end;
    double v;
    int rc;

    if ((rc = read_last_line(c, line, sizeof line, err, errcap)) != 0)
        return rc;
    p = line + strspn(line, " \t\r\f\v");
    errno = 0;
    v = strtod(p, &end);
    end += strspn(end, " \t\r\f\v");
    if (end == p || *end != '\0' || !isfinite(v)) {
        clean(shown, sizeof shown, p, 40);
        clean(path, sizeof path, c->path, 160);
        return fail(err, errcap, DX_EIO, "%s: last line of '%s' is not a "
                    "finite number: '%s'", c->name, path, shown);
    }
    *value = v;
    return 0;
}

int dx_device_read(dx_devices *d, int idx, double *value, uint64_t *seq,
                   char *err, size_t errcap)
{
    dev *v = get(d, idx);
    double x = 0;
    int rc = 0;

    if (v == NULL || v->cfg.role != DX_DEV_SENSOR)
        return fail(err, errcap, DX_EINVAL, "device %d: not a sensor", idx);
    pthread_mutex_lock(&v->mu);
    if (v->cfg.src == DX_DEV_SIM)
        x = dx_sim_value(&v->cfg, v->seq + 1);
    else
        rc = read_file_sensor(&v->cfg, &x, err, errcap);
    if (rc == 0) {
        v->seq++;
        if (value != NULL)
            *value = x;
        if (seq != NULL)
            *seq = v->seq;
    }
    pthread_mutex_unlock(&v->mu);
    return rc;
}

/* ---- file actuators ---- */

static int write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* fsync of the directory holding path, so the rename survives a crash.
 * Best effort: some file systems refuse fsync on directories. */
static void sync_dir(const char *path)
{
    char dir[PATH_MAX];
    char *slash;
    int fd;

    snprintf(dir, sizeof dir, "%s", path);
    slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

static int write_file_actuator(const dx_device_cfg *c, double value,
                               char *err, size_t errcap)
{
    char tmp[PATH_MAX + sizeof TMP_SUFFIX], text[40], path[168];
    const char *step;
    int fd, len, saved;

    clean(path, sizeof path, c->path, 160);
    snprintf(tmp, sizeof tmp, "%s" TMP_SUFFIX, c->path);
    len = snprintf(text, sizeof text, "%.17g\n", value);
    fd = mkstemp(tmp);
    if (fd < 0)
        return fail(err, errcap, DX_EIO, "%s: cannot create a temporary file "
                    "next to '%s': %s", c->name, path, strerror(errno));
    step = "write";
    if (fchmod(fd, 0644) != 0 || write_all(fd, text, (size_t)len) != 0)
        goto fail_fd;
    step = "fsync";
    if (fsync(fd) != 0)
        goto fail_fd;
    step = "close";
    if (close(fd) != 0) {
        fd = -1;
        goto fail_fd;
    }
    fd = -1;
    step = "rename";
    if (rename(tmp, c->path) != 0)
        goto fail_fd;
    sync_dir(c->path);
    return 0;

fail_fd:
    saved = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return fail(err, errcap, DX_EIO, "%s: cannot %s '%s': %s", c->name, step,
                path, strerror(saved));
}

int dx_device_write(dx_devices *d, int idx, double value, char *err,
                    size_t errcap)
{
    dev *v = get(d, idx);
    int rc = 0;

    if (v == NULL || v->cfg.role != DX_DEV_ACTUATOR)
        return fail(err, errcap, DX_EINVAL, "device %d: not an actuator", idx);
    if (!isfinite(value))
        return fail(err, errcap, DX_EINVAL, "%s: value must be finite",
                    v->cfg.name);
    pthread_mutex_lock(&v->mu);
    if (v->cfg.src == DX_DEV_FILE)
        rc = write_file_actuator(&v->cfg, value, err, errcap);
    if (rc == 0) {
        v->value = value;
        v->writes++;
    }
    pthread_mutex_unlock(&v->mu);
    return rc;
}

double dx_device_value(dx_devices *d, int idx, uint64_t *writes)
{
    dev *v = get(d, idx);
    double x = 0;

    if (writes != NULL)
        *writes = 0;
    if (v == NULL || v->cfg.role != DX_DEV_ACTUATOR)
        return 0;
    pthread_mutex_lock(&v->mu);
    x = v->value;
    if (writes != NULL)
        *writes = v->writes;
    pthread_mutex_unlock(&v->mu);
    return x;
}
