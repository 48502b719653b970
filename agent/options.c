/*
 * options.c - parsing and checking the agent's options.  See options.h.
 *
 * One table lists every option: its key, what its value must be, and where
 * it goes.  The command line and the config file share the table and the
 * checks, so an option cannot work in one and not the other.
 */
#include "options.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outbox.h"
#include "worker.h"

typedef enum { K_U64, K_NAME, K_STR, K_PATH, K_LEVEL, K_SENSOR, K_ACTUATOR } kind;

typedef struct opt {
    const char *key;
    kind k;
    uint64_t min, max;      /* K_U64 */
    size_t off;             /* offset in dx_agent_opts */
    size_t size;            /* field size (K_U64: 2 or 8 or 4) */
    const char *help;
} opt;

#define HELP_INDENT "                    " /* under the help column */
#define F(field) offsetof(dx_agent_opts, field), sizeof(((dx_agent_opts *)0)->field)

static const opt opts[] = {
    {"id", K_U64, 1, 65535, F(id), "node id, 1..65535 (required); the highest live id leads"},
    {"name", K_NAME, 0, 0, F(name), "node name (default node-ID)"},
    {"broker", K_STR, 0, 0, F(broker), "broker URI (default tcp://127.0.0.1:1883)"},
    {"cluster", K_NAME, 0, 0, F(cluster), "cluster name (default plant)"},
    {"root", K_STR, 0, 0, F(root), "topic root (default distribux/CLUSTER)"},
    {"data-dir", K_PATH, 0, 0, F(data_dir), "data directory (default ./distribux-data/node-ID)"},
    {"config", K_PATH, 0, 0, F(config), "configuration file of 'key value' lines"},
    {"heartbeat-ms", K_U64, 10, 60000, F(heartbeat_ms), "heartbeat period in ms (default 250)"},
    {"timeout-ms", K_U64, 20, 600000, F(timeout_ms), "heartbeat timeout in ms (default 4 heartbeats)"},
    {"log-level", K_LEVEL, 0, 0, F(log_level), "error, warn, info or debug (default info)"},
    {"mem-pool-kb", K_U64, 64, 16777216, F(mem_pool_kb), "task memory pool in KiB (default 65536)"},
    {"keepalive-s", K_U64, 2, 3600, F(keepalive_s), "MQTT keepalive in s (default 10)"},
    {"task-ttl-s", K_U64, 1, 604800, F(task_ttl_s), "leader: seconds a finished task's record is kept (default 300)"},
    {"user", K_NAME, 0, 0, F(user), "broker user name (default none)"},
    {"password-file", K_PATH, 0, 0, F(password_file), "file holding the broker password (or DX_PASSWORD)"},
    {"cafile", K_PATH, 0, 0, F(cafile), "CA certificate for TLS (enables TLS)"},
    {"cert", K_PATH, 0, 0, F(cert), "client certificate for TLS"},
    {"key", K_PATH, 0, 0, F(key), "client key for TLS"},
    {"chunk-kb", K_U64, 4, 8192, F(chunk_kb), "DFS: chunk size of puts in KiB, a multiple of 4 (default 1024)"},
    {"replicas", K_U64, 1, 5, F(replicas), "DFS: copies of every chunk, 1..5 (default 3)"},
    {"repair-grace-ms", K_U64, 0, 86400000, F(repair_grace_ms), "DFS: a failed node's chunks are copied again after (default 10000)"},
    {"repair-parallel", K_U64, 1, 64, F(repair_parallel), "DFS: chunk copies in flight while repairing (default 4)"},
    {"scrub-interval-s", K_U64, 0, 604800, F(scrub_interval_s), "DFS: verify local chunks every S s, 0 = on request (default 3600)"},
    {"log-flush-s", K_U64, 0, 86400, F(log_flush_s), "sensor logs: write a DFS segment after S s, 0 = no logs (default 60)"},
    {"log-flush-readings", K_U64, 1, 1000000, F(log_flush_readings), "sensor logs: or after this many readings (default 1000)"},
    {"workers", K_U64, 1, DX_WORKERS_MAX, F(workers), "worker threads running tasks, 1..256 (default 4)"},
    {"sensor", K_SENSOR, 0, 0, 0, 0, "a sensor (repeatable): NAME [sim] [seed=S] [min=A] [max=B]\n"
     HELP_INDENT "[period=P] [unit=U], or NAME file PATH [unit=U]"},
    {"actuator", K_ACTUATOR, 0, 0, 0, 0, "an actuator (repeatable): NAME [sim] [unit=U], or NAME file\n"
     HELP_INDENT "PATH [unit=U]; devices on the command line replace the file's"},
};
#define NOPTS (sizeof opts / sizeof opts[0])

void dx_agent_usage(FILE *out)
{
    fprintf(out, "usage: distribux-agent --id N [options]\n\n"
                 "Runs one DistribuX node.  Options (also valid as 'key value'"
                 " lines in --config):\n");
    for (size_t i = 0; i < NOPTS; i++)
        fprintf(out, "  --%-15s %s\n", opts[i].key, opts[i].help);
    fprintf(out, "  --check-config    check every option, print \"ok\" and exit\n"
                 "  --help            this text\n"
                 "  --version         the version\n");
}

static const opt *find(const char *key)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strcmp(opts[i].key, key) == 0)
            return &opts[i];
    return NULL;
}

static bool broker_ok(const char *s)
{
    static const char *schemes[] = {"tcp://", "mqtt://", "ssl://", "mqtts://",
                                    "ws://", "wss://"};
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t n = strlen(schemes[i]);
        if (strncmp(s, schemes[i], n) == 0 && s[n] != '\0' &&
            strpbrk(s + n, " \t\r\n") == NULL)
            return true;
    }
    return false;
}

/* Checks and stores one value.  `where` names the source for errors. */
static int apply(dx_agent_opts *o, const opt *op, const char *val,
                 const char *where, char *err, size_t errcap)
{
    char *dst = (char *)o + op->off;

    switch (op->k) {
    case K_U64: {
        char *end;
        unsigned long long v;
        errno = 0;
        v = strtoull(val, &end, 10);
        if (val[0] < '0' || val[0] > '9' || *end != '\0' || errno != 0 ||
            v < op->min || v > op->max) {
            snprintf(err, errcap, "%s--%s: expected an integer %llu..%llu, "
                     "got '%.40s'", where, op->key,
                     (unsigned long long)op->min, (unsigned long long)op->max,
                     val);
            return DX_EINVAL;
        }
        if (op->size == sizeof(uint16_t)) {
            uint16_t x = (uint16_t)v;
            memcpy(dst, &x, sizeof x);
        } else if (op->size == sizeof(int)) {
            int x = (int)v;
            memcpy(dst, &x, sizeof x);
        } else {
            uint64_t x = (uint64_t)v;
            memcpy(dst, &x, sizeof x);
        }
        return 0;
    }
    case K_NAME:
        if (!dx_name_is_valid(val)) {
            snprintf(err, errcap, "%s--%s: '%.40s' is not a valid name "
                     "(1..%d of A-Z a-z 0-9 _ . -)", where, op->key, val,
                     DX_NAME_MAX);
            return DX_EINVAL;
        }
        break;
    case K_SENSOR:
    case K_ACTUATOR: {
        dx_device_cfg c;
        char derr[320];
        if (dx_device_parse(op->k == K_SENSOR ? DX_DEV_SENSOR : DX_DEV_ACTUATOR,
                            val, &c, derr, sizeof derr) != 0) {
            snprintf(err, errcap, "%s%s", where, derr);
            return DX_EINVAL;
        }
        for (size_t i = 0; i < o->n_devices; i++)
            if (strcmp(o->devices[i], c.name) == 0) {
                snprintf(err, errcap, "%s%s '%s': name already used by "
                         "another device", where, op->key, c.name);
                return DX_EINVAL;
            }
        if (o->n_devices == DX_DEVICES_MAX) {
            snprintf(err, errcap, "%s%s '%s': more than %d devices (sensors "
                     "and actuators together)", where, op->key, c.name,
                     DX_DEVICES_MAX);
            return DX_EINVAL;
        }
        o->device_cfg[o->n_devices] = c;
        snprintf(o->devices[o->n_devices++], DX_NAME_MAX + 1, "%s", c.name);
        return 0;
    }
    case K_LEVEL: {
        static const char *lv[] = {"error", "warn", "info", "debug"};
        for (int i = 0; i < 4; i++)
            if (strcmp(val, lv[i]) == 0) {
                o->log_level = i;
                return 0;
            }
        snprintf(err, errcap, "%s--log-level: expected error, warn, info or "
                 "debug, got '%.40s'", where, val);
        return DX_EINVAL;
    }
    case K_STR:
    case K_PATH:
        if (val[0] == '\0' || strlen(val) >= op->size) {
            snprintf(err, errcap, "%s--%s: expected a value of 1..%zu bytes",
                     where, op->key, op->size - 1);
            return DX_EINVAL;
        }
        break;
    }
    if (strlen(val) >= op->size) {
        snprintf(err, errcap, "%s--%s: value too long", where, op->key);
        return DX_EINVAL;
    }
    memcpy(dst, val, strlen(val) + 1);
    return 0;
}

static int load_file(dx_agent_opts *o, const char *path, char *err,
                     size_t errcap)
{
    FILE *f = fopen(path, "r");
    char line[PATH_MAX + 64], where[PATH_MAX + 32];
    int lineno = 0, rc = 0;

    if (f == NULL) {
        snprintf(err, errcap, "--config: cannot open '%.200s': %s", path,
                 strerror(errno));
        return DX_EINVAL;
    }
    while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
        char *key, *val, *end;
        const opt *op;
        lineno++;
        line[strcspn(line, "#\r\n")] = '\0';
        key = line + strspn(line, " \t");
        if (*key == '\0')
            continue;
        val = key + strcspn(key, " \t");
        if (*val != '\0')
            *val++ = '\0';
        val += strspn(val, " \t");
        end = val + strlen(val);
        while (end > val && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        snprintf(where, sizeof where, "%.200s:%d: ", path, lineno);
        if ((op = find(key)) == NULL || strcmp(key, "config") == 0) {
            snprintf(err, errcap, "%sunknown key '%.40s'", where, key);
            rc = DX_EINVAL;
        } else if (*val == '\0') {
            snprintf(err, errcap, "%s%s: missing value", where, key);
            rc = DX_EINVAL;
        } else {
            rc = apply(o, op, val, where, err, errcap);
        }
    }
    fclose(f);
    return rc;
}

static void defaults(dx_agent_opts *o)
{
    memset(o, 0, sizeof *o);
    snprintf(o->broker, sizeof o->broker, "tcp://127.0.0.1:1883");
    snprintf(o->cluster, sizeof o->cluster, DX_CLUSTER_DEFAULT);
    o->heartbeat_ms = 250;
    o->log_level = DX_LOG_INFO;
    o->mem_pool_kb = 65536;
    o->keepalive_s = 10;
    o->workers = 4;
    o->chunk_kb = 1024;
    o->replicas = 3;
    o->repair_grace_ms = 10000;
    o->repair_parallel = 4;
    o->scrub_interval_s = 3600;
    o->log_flush_s = 60;
    o->log_flush_readings = 1000;
}

int dx_agent_opts_parse(dx_agent_opts *o, int argc, char **argv, char *err,
                        size_t errcap)
{
    int rc;
    bool had_devices_on_cli = false;

    defaults(o);
    /* The file first, so the command line can override it. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            dx_agent_usage(stdout);
            return 1;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("distribux-agent %s\n", DX_VERSION);
            return 1;
        }
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            if ((rc = apply(o, find("config"), argv[i + 1], "", err, errcap)) ||
                (rc = load_file(o, argv[i + 1], err, errcap)))
                return rc;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val;
        const opt *op;
        char key[64];
        const char *eq;

        if (strcmp(a, "--check-config") == 0) {
            o->check_config = true;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errcap, "unexpected argument '%.40s' (see --help)", a);
            return DX_EINVAL;
        }
        /* --key value or --key=value */
        eq = strchr(a, '=');
        snprintf(key, sizeof key, "%.*s", (int)(eq ? eq - a - 2 : (long)strlen(a) - 2),
                 a + 2);
        if ((op = find(key)) == NULL) {
            snprintf(err, errcap, "unknown option '--%.40s' (see --help)", key);
            return DX_EINVAL;
        }
        if (eq != NULL) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            snprintf(err, errcap, "--%s: missing value", key);
            return DX_EINVAL;
        }
        if ((op->k == K_SENSOR || op->k == K_ACTUATOR) && !had_devices_on_cli) {
            o->n_devices = 0;           /* the command line replaces the file's */
            had_devices_on_cli = true;
        }
        if (strcmp(key, "config") == 0)
            continue;                    /* loaded above */
        if ((rc = apply(o, op, val, "", err, errcap)) != 0)
            return rc;
    }

    if (o->id == 0) {
        snprintf(err, errcap, "--id: required (an integer 1..65535)");
        return DX_EINVAL;
    }
    if (!broker_ok(o->broker)) {
        snprintf(err, errcap, "--broker: expected tcp://HOST:PORT, "
                 "ssl://HOST:PORT (or mqtt://, mqtts://, ws://, wss://), "
                 "got '%.60s'", o->broker);
        return DX_EINVAL;
    }
    if (o->root[0] != '\0') {
        dx_topics t;
        dx_diag d;
        if (dx_topics_init(&t, o->root, NULL, &d) != 0) {
            snprintf(err, errcap, "--root: %s", d.msg);
            return DX_EINVAL;
        }
    }
    if (o->name[0] == '\0')
        snprintf(o->name, sizeof o->name, "node-%u", o->id);
    if (o->data_dir[0] == '\0')
        snprintf(o->data_dir, sizeof o->data_dir, "distribux-data/node-%u",
                 o->id);
    if (o->timeout_ms == 0)
        o->timeout_ms = 4 * o->heartbeat_ms;
    if (o->timeout_ms <= o->heartbeat_ms) {
        snprintf(err, errcap, "--timeout-ms: must be longer than "
                 "--heartbeat-ms (%lld), got %lld",
                 (long long)o->heartbeat_ms, (long long)o->timeout_ms);
        return DX_EINVAL;
    }
    if ((o->cert[0] != '\0') != (o->key[0] != '\0')) {
        snprintf(err, errcap, "--cert and --key go together");
        return DX_EINVAL;
    }
    if (o->chunk_kb % 4 != 0) {
        snprintf(err, errcap, "--chunk-kb: expected a multiple of 4 in "
                 "4..8192, got %llu", (unsigned long long)o->chunk_kb);
        return DX_EINVAL;
    }
    if (o->check_config) {
        printf("ok\n");
        return 1;
    }
    return 0;
}
