/*
 * test_devices.c - unit tests of sensors and actuators (agent/devices.c):
 * spec parsing and every error it reports, the seeded sim model, file
 * sensors and atomic file actuators, and concurrent reads.
 *
 * Files live in a fresh mkdtemp() directory under $TMPDIR (or /tmp) that
 * each test removes again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices.h"

/* ---- helpers ---- */

typedef struct tmpdir {
    char path[256];
} tmpdir;

static void tmp_make(tmpdir *t)
{
    const char *base = getenv("TMPDIR");
    snprintf(t->path, sizeof t->path, "%s/dx_devices_XXXXXX",
             base != NULL && base[0] != '\0' ? base : "/tmp");
    assert_non_null(mkdtemp(t->path));
}

static void tmp_file(const tmpdir *t, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", t->path, name);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void read_text(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n;
    assert_non_null(f);
    n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Number of entries in the directory, "." and ".." not counted. */
static int dir_entries(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void tmp_remove(tmpdir *t)
{
    DIR *d = opendir(t->path);
    struct dirent *e;
    char p[512];
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", t->path, e->d_name);
        if (unlink(p) != 0)
            rmdir(p);
    }
    closedir(d);
    assert_int_equal(rmdir(t->path), 0);
}

static dx_device_cfg parse_ok(dx_dev_role role, const char *spec)
{
    dx_device_cfg c;
    char err[256] = "";
    int rc = dx_device_parse(role, spec, &c, err, sizeof err);
    if (rc != 0)
        fail_msg("'%s': %s", spec, err);
    return c;
}

static dx_devices *open_one(const dx_device_cfg *c)
{
    dx_devices *d = NULL;
    assert_int_equal(dx_devices_open(&d, c, 1), 0);
    assert_non_null(d);
    return d;
}

/* ---- parsing ---- */

static void test_parse_sim_sensor(void **state)
{
    (void)state;
    dx_device_cfg c = parse_ok(DX_DEV_SENSOR,
                               "temp1 sim seed=2 min=-10 max=40.5 period=30 unit=C");
    assert_string_equal(c.name, "temp1");
    assert_int_equal(c.role, DX_DEV_SENSOR);
    assert_int_equal(c.src, DX_DEV_SIM);
    assert_int_equal(c.seed, 2);
    assert_true(c.min == -10.0);
    assert_true(c.max == 40.5);
    assert_int_equal(c.period, 30);
    assert_string_equal(c.unit, "C");

    /* Defaults; "sim" may be left out; blanks of any kind between words. */
    c = parse_ok(DX_DEV_SENSOR, "  t2 ");
    assert_string_equal(c.name, "t2");
    assert_int_equal(c.src, DX_DEV_SIM);
    assert_int_equal(c.seed, 1);
    assert_true(c.min == 0.0 && c.max == 100.0);
    assert_int_equal(c.period, 60);
    assert_string_equal(c.unit, "");
    c = parse_ok(DX_DEV_SENSOR, "t3\tseed=4294967295\tmin=5 max=5");
    assert_int_equal(c.seed, UINT32_MAX);
    assert_true(c.min == 5.0 && c.max == 5.0);
}

static void test_parse_file_and_actuators(void **state)
{
    (void)state;
    dx_device_cfg c = parse_ok(DX_DEV_SENSOR, "p1 file /var/lib/p1.txt unit=bar");
    assert_int_equal(c.src, DX_DEV_FILE);
    assert_string_equal(c.path, "/var/lib/p1.txt");
    assert_string_equal(c.unit, "bar");

    c = parse_ok(DX_DEV_ACTUATOR, "valve1");
    assert_int_equal(c.role, DX_DEV_ACTUATOR);
    assert_int_equal(c.src, DX_DEV_SIM);
    c = parse_ok(DX_DEV_ACTUATOR, "valve1 sim unit=%");
    assert_string_equal(c.unit, "%");
    c = parse_ok(DX_DEV_ACTUATOR, "valve2 file out/valve2");
    assert_int_equal(c.src, DX_DEV_FILE);
    assert_string_equal(c.path, "out/valve2");
}

static void test_parse_errors(void **state)
{
    static const struct {
        dx_dev_role role;
        const char *spec;
        const char *err;         /* the whole message */
    } cases[] = {
        {DX_DEV_SENSOR, "", "sensor: empty spec, expected NAME [sim|file PATH] [key=value ...]"},
        {DX_DEV_SENSOR, "   ", "sensor: empty spec, expected NAME [sim|file PATH] [key=value ...]"},
        {DX_DEV_SENSOR, "bad/name", "sensor 'bad/name': not a valid name (1..64 of A-Z a-z 0-9 _ . -)"},
        {DX_DEV_SENSOR, "..", "sensor '..': not a valid name (1..64 of A-Z a-z 0-9 _ . -)"},
        {DX_DEV_SENSOR, "x sim foo", "sensor 'x': unknown option 'foo'"},
        {DX_DEV_SENSOR, "x foo", "sensor 'x': unknown option 'foo'"},
        {DX_DEV_SENSOR, "x sim foo=1", "sensor 'x': unknown option 'foo'"},
        {DX_DEV_SENSOR, "x sim sim", "sensor 'x': unknown option 'sim'"},
        {DX_DEV_SENSOR, "x sim seed=abc", "sensor 'x': seed: expected an integer 0..4294967295, got 'abc'"},
        {DX_DEV_SENSOR, "x sim seed=-1", "sensor 'x': seed: expected an integer 0..4294967295, got '-1'"},
        {DX_DEV_SENSOR, "x sim seed=4294967296", "sensor 'x': seed: expected an integer 0..4294967295, got '4294967296'"},
        {DX_DEV_SENSOR, "x sim seed=", "sensor 'x': seed: expected an integer 0..4294967295, got ''"},
        {DX_DEV_SENSOR, "x sim min=nan", "sensor 'x': min: expected a finite number, got 'nan'"},
        {DX_DEV_SENSOR, "x sim max=inf", "sensor 'x': max: expected a finite number, got 'inf'"},
        {DX_DEV_SENSOR, "x sim max=1e999", "sensor 'x': max: expected a finite number, got '1e999'"},
        {DX_DEV_SENSOR, "x sim min=3x", "sensor 'x': min: expected a finite number, got '3x'"},
        {DX_DEV_SENSOR, "x sim period=0", "sensor 'x': period: expected an integer 1..1000000000 (readings), got '0'"},
        {DX_DEV_SENSOR, "x sim unit=", "sensor 'x': unit: expected 1..16 printable ASCII characters, got ''"},
        {DX_DEV_SENSOR, "x sim unit=abcdefghijklmnopq", "sensor 'x': unit: expected 1..16 printable ASCII characters, got 'abcdefghijklmnopq'"},
        {DX_DEV_SENSOR, "x sim unit=\xc2\xb0" "C", "sensor 'x': unit: expected 1..16 printable ASCII characters, got '??C'"},
        {DX_DEV_SENSOR, "x sim min=5 max=1", "sensor 'x': min (5) is above max (1)"},
        {DX_DEV_SENSOR, "x min=200", "sensor 'x': min (200) is above max (100)"},
        {DX_DEV_SENSOR, "x sim seed=1 seed=2", "sensor 'x': option 'seed' given twice"},
        {DX_DEV_SENSOR, "x file", "sensor 'x': 'file' needs a PATH"},
        {DX_DEV_SENSOR, "x file /a seed=1", "sensor 'x': option 'seed' is only for sim sensors"},
        {DX_DEV_SENSOR, "x file /a /b", "sensor 'x': unknown option '/b'"},
        {DX_DEV_ACTUATOR, "", "actuator: empty spec, expected NAME [sim|file PATH] [key=value ...]"},
        {DX_DEV_ACTUATOR, "v sim min=1", "actuator 'v': option 'min' is only for sim sensors"},
        {DX_DEV_ACTUATOR, "v bogus", "actuator 'v': unknown option 'bogus'"},
        {DX_DEV_ACTUATOR, "v file", "actuator 'v': 'file' needs a PATH"},
    };
    char err[256];
    dx_device_cfg c;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        int rc = dx_device_parse(cases[i].role, cases[i].spec, &c, err,
                                 sizeof err);
        if (rc != DX_EINVAL || strcmp(err, cases[i].err) != 0)
            fail_msg("spec '%s': rc %d, error '%s', expected '%s'",
                     cases[i].spec, rc, err, cases[i].err);
    }

    /* A path too long for the temporary name of an atomic write. */
    char spec[PATH_MAX + 32];
    memset(spec, 0, sizeof spec);
    memcpy(spec, "x file /", 8);
    memset(spec + 8, 'a', PATH_MAX - 12);
    assert_int_equal(dx_device_parse(DX_DEV_SENSOR, spec, &c, err, sizeof err),
                     DX_EINVAL);
    assert_non_null(strstr(err, "sensor 'x': path longer than"));

    /* No error buffer, tiny error buffer: still the code, no overflow. */
    assert_int_equal(dx_device_parse(DX_DEV_SENSOR, "x foo", &c, NULL, 0),
                     DX_EINVAL);
    assert_int_equal(dx_device_parse(DX_DEV_SENSOR, "x foo", &c, err, 4),
                     DX_EINVAL);
    assert_string_equal(err, "sen");
    assert_int_equal(dx_device_parse(DX_DEV_SENSOR, NULL, &c, err, sizeof err),
                     DX_EINVAL);
}

/* ---- the sim model ---- */

static void test_sim_deterministic(void **state)
{
    (void)state;
    dx_device_cfg a = parse_ok(DX_DEV_SENSOR, "s sim seed=7 min=-5 max=45 period=20");
    dx_device_cfg b = parse_ok(DX_DEV_SENSOR, "s sim seed=8 min=-5 max=45 period=20");
    dx_devices *d1 = open_one(&a), *d2 = open_one(&a), *d3 = open_one(&b);
    double lo = 1e9, hi = -1e9, sum = 0;
    int differ = 0;

    for (uint64_t k = 1; k <= 2000; k++) {
        double v1, v2, v3;
        uint64_t s1, s2, s3;
        assert_int_equal(dx_device_read(d1, 0, &v1, &s1, NULL, 0), 0);
        assert_int_equal(dx_device_read(d2, 0, &v2, &s2, NULL, 0), 0);
        assert_int_equal(dx_device_read(d3, 0, &v3, &s3, NULL, 0), 0);
        assert_int_equal(s1, k);
        assert_int_equal(s2, k);
        assert_int_equal(s3, k);
        /* Same seed, same bits; and the pure function agrees. */
        assert_memory_equal(&v1, &v2, sizeof v1);
        double pure = dx_sim_value(&a, k);
        assert_memory_equal(&v1, &pure, sizeof v1);
        assert_true(v1 >= -5 && v1 <= 45);
        assert_true(v3 >= -5 && v3 <= 45);
        differ += v1 != v3;
        lo = fmin(lo, v1);
        hi = fmax(hi, v1);
        sum += v1;
    }
    /* Different seeds give a different sequence. */
    assert_true(differ > 1990);
    /* A real signal: it sweeps most of the range around the middle. */
    assert_true(hi - lo > 0.7 * 50);
    assert_true(fabs(sum / 2000 - 20) < 2.5);
    dx_devices_close(&d1);
    dx_devices_close(&d2);
    dx_devices_close(&d3);
    assert_null(d1);
}

static void test_sim_extremes(void **state)
{
    (void)state;
    dx_device_cfg c = parse_ok(DX_DEV_SENSOR, "s min=5 max=5");
    for (uint64_t k = 1; k < 100; k++)
        assert_true(dx_sim_value(&c, k) == 5.0);
    c.min = -DBL_MAX;
    c.max = DBL_MAX;
    for (uint64_t k = 1; k < 1000; k++) {
        double v = dx_sim_value(&c, k);
        assert_true(isfinite(v));
    }
    c = parse_ok(DX_DEV_SENSOR, "s period=1 min=0.001 max=0.002");
    for (uint64_t k = UINT64_MAX - 100; k != 0; k++) {
        double v = dx_sim_value(&c, k);
        assert_true(v >= 0.001 && v <= 0.002);
    }
}

/* ---- devices at run time ---- */

static void test_open_find_errors(void **state)
{
    (void)state;
    dx_device_cfg cfg[DX_DEVICES_MAX + 1];
    dx_devices *d = NULL;
    char err[128];
    double v;

    cfg[0] = parse_ok(DX_DEV_SENSOR, "temp1");
    cfg[1] = parse_ok(DX_DEV_ACTUATOR, "valve1");
    cfg[2] = parse_ok(DX_DEV_ACTUATOR, "temp1");
    assert_int_equal(dx_devices_open(&d, cfg, 3), DX_EEXISTS);
    assert_null(d);
    for (int i = 0; i <= DX_DEVICES_MAX; i++) {
        char spec[32];
        snprintf(spec, sizeof spec, "s%d", i);
        cfg[i] = parse_ok(DX_DEV_SENSOR, spec);
    }
    assert_int_equal(dx_devices_open(&d, cfg, DX_DEVICES_MAX + 1), DX_ERANGE);
    cfg[0].period = 0;
    assert_int_equal(dx_devices_open(&d, cfg, 1), DX_EINVAL);
    assert_int_equal(dx_devices_open(&d, NULL, 0), 0);
    assert_int_equal(dx_devices_count(d), 0);
    dx_devices_close(&d);

    cfg[0] = parse_ok(DX_DEV_SENSOR, "temp1");
    cfg[1] = parse_ok(DX_DEV_ACTUATOR, "valve1");
    assert_int_equal(dx_devices_open(&d, cfg, 2), 0);
    assert_int_equal(dx_devices_count(d), 2);
    assert_int_equal(dx_devices_find(d, "temp1", DX_DEV_SENSOR), 0);
    assert_int_equal(dx_devices_find(d, "valve1", DX_DEV_ACTUATOR), 1);
    assert_int_equal(dx_devices_find(d, "valve1", DX_DEV_SENSOR), DX_ENOTFOUND);
    assert_int_equal(dx_devices_find(d, "nope", DX_DEV_SENSOR), DX_ENOTFOUND);
    assert_string_equal(dx_devices_cfg(d, 1)->name, "valve1");
    assert_null(dx_devices_cfg(d, 2));
    assert_null(dx_devices_cfg(d, -1));

    assert_int_equal(dx_device_read(d, 1, &v, NULL, err, sizeof err), DX_EINVAL);
    assert_string_equal(err, "device 1: not a sensor");
    assert_int_equal(dx_device_read(d, 7, &v, NULL, err, sizeof err), DX_EINVAL);
    assert_int_equal(dx_device_write(d, 0, 1, err, sizeof err), DX_EINVAL);
    assert_string_equal(err, "device 0: not an actuator");
    assert_int_equal(dx_device_write(d, 1, NAN, err, sizeof err), DX_EINVAL);
    assert_string_equal(err, "valve1: value must be finite");

    /* A sim actuator keeps its value in memory. */
    uint64_t writes = 99;
    assert_true(dx_device_value(d, 1, &writes) == 0.0);
    assert_int_equal(writes, 0);
    assert_int_equal(dx_device_write(d, 1, -2.25, err, sizeof err), 0);
    assert_true(dx_device_value(d, 1, &writes) == -2.25);
    assert_int_equal(writes, 1);
    dx_devices_close(&d);
    dx_devices_close(&d);           /* NULL is fine */
}

static void test_file_sensor(void **state)
{
    (void)state;
    tmpdir t;
    char path[512], spec[600], err[256];
    dx_device_cfg c;
    dx_devices *d;
    double v = 0;
    uint64_t seq = 0;

    tmp_make(&t);
    tmp_file(&t, "p1.txt", path, sizeof path);
    snprintf(spec, sizeof spec, "p1 file %s unit=bar", path);
    c = parse_ok(DX_DEV_SENSOR, spec);
    d = open_one(&c);               /* the file need not exist yet */

    assert_int_equal(dx_device_read(d, 0, &v, &seq, err, sizeof err), DX_EIO);
    assert_non_null(strstr(err, "p1: cannot open '"));
    assert_non_null(strstr(err, "No such file or directory"));

    /* The last non-empty line wins; blanks around the number are fine. */
    write_text(path, "1.5\n2\n  -3.25e1 \r\n\n \n");
    assert_int_equal(dx_device_read(d, 0, &v, &seq, err, sizeof err), 0);
    assert_true(v == -32.5);
    assert_int_equal(seq, 1);          /* the failed read used no number */
    write_text(path, "42");            /* no newline at the end */
    assert_int_equal(dx_device_read(d, 0, &v, &seq, err, sizeof err), 0);
    assert_true(v == 42.0);
    assert_int_equal(seq, 2);

    write_text(path, "12\nabc\n");
    assert_int_equal(dx_device_read(d, 0, &v, &seq, err, sizeof err), DX_EIO);
    assert_non_null(strstr(err, "is not a finite number: 'abc'"));
    write_text(path, "12 C\n");
    assert_int_equal(dx_device_read(d, 0, &v, &seq, err, sizeof err), DX_EIO);
    write_text(path, "inf\n");
    assert_int_equal(dx_device_read(d, 0, &v, &seq, err, sizeof err), DX_EIO);
    assert_non_null(strstr(err, "not a finite number: 'inf'"));
    write_text(path, "nan\n");
    assert_int_equal(dx_device_read(d, 0, &v, &seq, err, sizeof err), DX_EIO);
    write_text(path, "\n\n  \n");
    assert_int_equal(dx_device_read(d, 0, &v, &seq, err, sizeof err), DX_EIO);
    assert_non_null(strstr(err, "has no value (empty file)"));
    write_text(path, "");
    assert_int_equal(dx_device_read(d, 0, &v, &seq, err, sizeof err), DX_EIO);
    assert_int_equal(v == 42.0, 1);    /* failed reads leave *value alone */

    /* A long log: only the tail is read, and its last line wins. */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 100000; i++)
        fprintf(f, "%d.5\n", i);
    fclose(f);
    assert_int_equal(dx_device_read(d, 0, &v, &seq, err, sizeof err), 0);
    assert_true(v == 99999.5);
    assert_int_equal(seq, 3);

    /* A last line longer than the tail is refused, not misread. */
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("1\n", f);
    for (int i = 0; i < DX_DEVICE_TAIL + 10; i++)
        fputc('7', f);
    fputc('\n', f);
    fclose(f);
    assert_int_equal(dx_device_read(d, 0, &v, &seq, err, sizeof err), DX_EIO);
    assert_non_null(strstr(err, "is longer than 4096 bytes"));
    dx_devices_close(&d);

    /* A directory is not a regular file. */
    snprintf(spec, sizeof spec, "dir file %s", t.path);
    c = parse_ok(DX_DEV_SENSOR, spec);
    d = open_one(&c);
    assert_int_equal(dx_device_read(d, 0, &v, &seq, err, sizeof err), DX_EIO);
    assert_non_null(strstr(err, "is not a regular file"));
    dx_devices_close(&d);
    tmp_remove(&t);
}

static void test_file_actuator(void **state)
{
    (void)state;
    tmpdir t;
    char path[512], spec[600], err[256], text[64];
    dx_device_cfg c;
    dx_devices *d;
    struct stat st;
    uint64_t writes;

    tmp_make(&t);
    tmp_file(&t, "valve2", path, sizeof path);
    snprintf(spec, sizeof spec, "valve2 file %s", path);
    c = parse_ok(DX_DEV_ACTUATOR, spec);
    d = open_one(&c);

    assert_int_equal(dx_device_write(d, 0, 1.5, err, sizeof err), 0);
    read_text(path, text, sizeof text);
    assert_string_equal(text, "1.5\n");
    assert_int_equal(dir_entries(t.path), 1);   /* no temporary file left */
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);

    /* %.17g round-trips every double. */
    assert_int_equal(dx_device_write(d, 0, 0.1, err, sizeof err), 0);
    read_text(path, text, sizeof text);
    assert_string_equal(text, "0.10000000000000001\n");
    assert_true(strtod(text, NULL) == 0.1);
    assert_true(dx_device_value(d, 0, &writes) == 0.1);
    assert_int_equal(writes, 2);

    /* The file a file sensor reads back. */
    char sspec[600];
    snprintf(sspec, sizeof sspec, "back file %s", path);
    dx_device_cfg sc = parse_ok(DX_DEV_SENSOR, sspec);
    dx_devices *s = open_one(&sc);
    double v;
    assert_int_equal(dx_device_write(d, 0, -1e-300, err, sizeof err), 0);
    assert_int_equal(dx_device_read(s, 0, &v, NULL, err, sizeof err), 0);
    assert_true(v == -1e-300);
    dx_devices_close(&s);
    dx_devices_close(&d);

    /* A missing directory: a clear error, and the kept value is unchanged. */
    tmp_file(&t, "no-such-dir/valve3", path, sizeof path);
    snprintf(spec, sizeof spec, "valve3 file %s", path);
    c = parse_ok(DX_DEV_ACTUATOR, spec);
    d = open_one(&c);
    assert_int_equal(dx_device_write(d, 0, 3, err, sizeof err), DX_EIO);
    assert_non_null(strstr(err, "valve3: cannot create a temporary file next to '"));
    assert_non_null(strstr(err, "No such file or directory"));
    assert_true(dx_device_value(d, 0, &writes) == 0.0);
    assert_int_equal(writes, 0);
    dx_devices_close(&d);

    /* A directory in the way of the rename: the temporary file is removed. */
    tmp_file(&t, "blocked", path, sizeof path);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path + strlen(path), sizeof path - strlen(path), "/inner");
    assert_int_equal(mkdir(path, 0755), 0);
    path[strlen(path) - strlen("/inner")] = '\0';
    snprintf(spec, sizeof spec, "valve4 file %s", path);
    c = parse_ok(DX_DEV_ACTUATOR, spec);
    d = open_one(&c);
    assert_int_equal(dx_device_write(d, 0, 3, err, sizeof err), DX_EIO);
    assert_non_null(strstr(err, "valve4: cannot rename '"));
    assert_int_equal(dir_entries(t.path), 2);   /* valve2 and blocked */
    dx_devices_close(&d);
    snprintf(path + strlen(path), sizeof path - strlen(path), "/inner");
    rmdir(path);
    tmp_remove(&t);
}

/* ---- concurrency ---- */

typedef struct reader {
    dx_devices *d;
    uint64_t seqs[1000];
} reader;

static void *read_many(void *arg)
{
    reader *r = arg;
    for (int i = 0; i < 1000; i++) {
        double v;
        if (dx_device_read(r->d, 0, &v, &r->seqs[i], NULL, 0) != 0)
            r->seqs[i] = 0;
    }
    return NULL;
}

static void test_concurrent_reads(void **state)
{
    (void)state;
    static reader rd[4];
    static unsigned char seen[4001];
    dx_device_cfg c = parse_ok(DX_DEV_SENSOR, "temp1 seed=3");
    dx_devices *d = open_one(&c);
    pthread_t th[4];

    memset(seen, 0, sizeof seen);
    for (int i = 0; i < 4; i++) {
        rd[i].d = d;
        assert_int_equal(pthread_create(&th[i], NULL, read_many, &rd[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    /* Every sequence number 1..4000 handed out exactly once. */
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 1000; j++) {
            uint64_t s = rd[i].seqs[j];
            assert_true(s >= 1 && s <= 4000);
            assert_int_equal(seen[s], 0);
            seen[s] = 1;
        }
    dx_devices_close(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_sim_sensor),
        cmocka_unit_test(test_parse_file_and_actuators),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_sim_deterministic),
        cmocka_unit_test(test_sim_extremes),
        cmocka_unit_test(test_open_find_errors),
        cmocka_unit_test(test_file_sensor),
        cmocka_unit_test(test_file_actuator),
        cmocka_unit_test(test_concurrent_reads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
