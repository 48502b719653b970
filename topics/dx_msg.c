/*
 * dx_msg.c - the JSON codec of the DistribuX payloads (contract: dx_msg.h,
 * user-facing spec: TOPICS.md).
 *
 * Each message is described once, as a table of fields: JSON key, type,
 * offset in the struct, integer range or buffer size, nested table.  One
 * generic walker per direction serves every table: the decoder fills a
 * struct from a cJSON tree, the encoder writes compact JSON straight into
 * the caller's buffer (no allocation).  Both run the same value checks, so
 * an encoder never emits what a decoder rejects.  Rules that tie fields
 * together ("run" needs a spec, a failed reply needs an error, a report's
 * "last" needs "sync") are small per-table hooks.  Conventions every table
 * follows: an optional field that is absent or null decodes to
 * zero/""/false; the encoder omits optional fields that are zero/""/false;
 * a present optional integer may be 0 (= absent) or in its range; an
 * optional object is present when its first field is nonzero.  A submit
 * carries the task spec at top level; records and assign items carry it
 * under "spec", beside the task "id".  dx_msg_reply_target() reuses the
 * request table field by field on a payload that failed to decode, so an
 * error reply can still reach its requester.
 *
 * Decoding costs one pass over the raw bytes before cJSON sees them (size,
 * nesting depth with strings and escapes skipped, raw control bytes in
 * strings, "\u0000" escapes), then cJSON's tree, freed before returning: a
 * heartbeat takes a few microseconds, nearly all in cJSON.  Encoding a
 * heartbeat takes under one, and an encoder refuses (DX_ETOOBIG) to write
 * more than DX_PAYLOAD_MAX.  Limits: integers are exact only up to 2^53-1
 * (JSON numbers are doubles), and "1.0" is the integer 1; cJSON resets a
 * global error position on every parse, so decoding on several threads at
 * once is a (benign) data race.
 */
#include "dx_msg.h"

#include "dx_jsonw.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS_MAX 86400000u       /* one day: bound of every duration */
#define MEM_KB_MAX 16777216u   /* 16 GiB: memory a task may declare */
#define HB_MS_MIN 10u
#define HB_MS_MAX 3600000u
#define WORKERS_MAX 4096u      /* task worker threads a node may declare */
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- enum names on the wire: index + 1 is the enum value ---- */
static const char *const wire_names[] = {"online", "offline"};
static const char *const elect_names[] = {"election", "answer", "coordinator"};
static const char *const cmd_names[] = {"fail", "hang", "recover", "drain",
                                        "undrain", "scrub"};
static const char *const kind_names[] = {"noop", "compute", "sleep",
                                         "sensor.read", "actuator.set"};
static const char *const tstate_names[] = {"queued", "assigned", "running",
                                           "done",   "failed",   "cancelled"};
static const char *const op_names[] = {"run", "cancel", "release", "ack"};
static const char *const rstate_names[] = {"queued", "running", "done",
                                           "failed", "cancelled", "released"};
static const char *const view_names[] = {"online", "failed", "offline"};
static const char *const why_names[] = {"will", "timeout", "shutdown"};

/* ---- field tables ---- */
enum ftype {
    FT_V,      /* "v": must be DX_PROTO_V */
    FT_INT,    /* unsigned integer of `size` bytes, lo..hi */
    FT_ENUM,   /* string from `sub` (hi names), stored as index + 1 */
    FT_BOOL,
    FT_DBL,    /* finite number; aux = offset of its has_ flag or NO_AUX */
    FT_NAME,   /* dx_name_is_valid, buffer of `size` bytes */
    FT_TASKID, /* dx_task_id_is_valid */
    FT_TOPIC,  /* dx_topic_is_publishable */
    FT_TEXT,   /* UTF-8 without control characters */
    FT_NAMES,  /* array of FT_NAME, `size` bytes each; aux = count offset */
    FT_ARR,    /* array of objects of table `sub`; aux = count offset */
    FT_OBJ,    /* object of table `sub` */
    FT_EMBED   /* the fields of table `sub`, in the same JSON object */
};

typedef struct ctx {
    dx_diag *d;
    char path[96]; /* "items[3].spec." while inside nested objects */
    size_t plen;
} ctx;

typedef struct field {
    const char *key;
    enum ftype type;
    bool req;
    size_t off;      /* of the member in the struct */
    size_t size;     /* of the member; of one element for arrays */
    size_t aux;
    uint64_t lo, hi; /* integer range; enum names; array capacity */
    const void *sub; /* enum names or nested table */
} field;

typedef struct schema {
    const field *f;
    size_t n;
    int (*check)(ctx *c, const void *m); /* cross-field rules, or NULL */
} schema;

#define NO_AUX SIZE_MAX
#define REQ true
#define OPT false
#define MSZ(T, m) sizeof(((T *)0)->m)
#define F_V {"v", FT_V, REQ, 0, 0, NO_AUX, 0, 0, NULL}
#define F_INT(T, m, key, req, lo, hi) \
    {key, FT_INT, req, offsetof(T, m), MSZ(T, m), NO_AUX, lo, hi, NULL}
#define F_ENUM(T, m, key, req, names) \
    {key, FT_ENUM, req, offsetof(T, m), MSZ(T, m), NO_AUX, 1, COUNT(names), names}
#define F_BOOL(T, m, key, req) \
    {key, FT_BOOL, req, offsetof(T, m), MSZ(T, m), NO_AUX, 0, 0, NULL}
#define F_DBL(T, m, key, req, has) \
    {key, FT_DBL, req, offsetof(T, m), MSZ(T, m), has, 0, 0, NULL}
#define F_STR(T, m, key, type, req) \
    {key, type, req, offsetof(T, m), MSZ(T, m), NO_AUX, 0, 0, NULL}
#define F_LIST(T, m, n, key, type, req, sub) \
    {key, type, req, offsetof(T, m), MSZ(T, m[0]), offsetof(T, n), 0, \
     COUNT(((T *)0)->m), sub}
#define F_SUB(T, m, key, type, req, sub) \
    {key, type, req, offsetof(T, m), MSZ(T, m), NO_AUX, 0, 0, sub}
#define SCHEMA(fields, check) {fields, COUNT(fields), check}

static int check_state(ctx *c, const void *m);
static int check_load(ctx *c, const void *m);
static int check_election(ctx *c, const void *m);
static int check_reply(ctx *c, const void *m);
static int check_spec(ctx *c, const void *m);
static int check_item(ctx *c, const void *m);
static int check_report(ctx *c, const void *m);

static const field state_f[] = {
    F_V,
    F_INT(dx_msg_state, id, "id", REQ, 1, DX_NODE_ID_MAX),
    F_STR(dx_msg_state, name, "name", FT_NAME, OPT),
    F_ENUM(dx_msg_state, state, "state", REQ, wire_names),
    F_INT(dx_msg_state, epoch, "epoch", REQ, 1, DX_INT_MAX),
    F_STR(dx_msg_state, reason, "reason", FT_NAME, OPT),
    F_INT(dx_msg_state, pool_kb, "pool_kb", OPT, 1, DX_INT_MAX),
    F_INT(dx_msg_state, heartbeat_ms, "heartbeat_ms", OPT, HB_MS_MIN, HB_MS_MAX),
    F_LIST(dx_msg_state, devices, n_devices, "devices", FT_NAMES, OPT, NULL),
};
static const schema state_s = SCHEMA(state_f, check_state);

static const field load_f[] = {
    F_INT(dx_load, cpu_pct, "cpu", REQ, 0, 100),
    F_INT(dx_load, mem_free_kb, "mem_free_kb", REQ, 0, DX_INT_MAX),
    F_INT(dx_load, mem_largest_kb, "mem_largest_kb", REQ, 0, DX_INT_MAX),
    F_INT(dx_load, running, "running", REQ, 0, UINT32_MAX),
    F_INT(dx_load, queued, "queued", REQ, 0, UINT32_MAX),
    F_INT(dx_load, disk_free_kb, "disk_free_kb", REQ, 0, DX_INT_MAX),
};
static const schema load_s = SCHEMA(load_f, check_load);

static const field heartbeat_f[] = {
    F_V,
    F_INT(dx_msg_heartbeat, id, "id", REQ, 1, DX_NODE_ID_MAX),
    F_INT(dx_msg_heartbeat, epoch, "epoch", REQ, 1, DX_INT_MAX),
    F_INT(dx_msg_heartbeat, seq, "seq", REQ, 1, DX_INT_MAX),
    F_INT(dx_msg_heartbeat, leader, "leader", REQ, 0, DX_NODE_ID_MAX),
    F_INT(dx_msg_heartbeat, term, "term", REQ, 0, DX_INT_MAX),
    F_SUB(dx_msg_heartbeat, load, "load", FT_OBJ, REQ, &load_s),
    F_INT(dx_msg_heartbeat, rejected, "rejected", REQ, 0, DX_INT_MAX),
    /* optional: older agents do not send them */
    F_BOOL(dx_msg_heartbeat, draining, "draining", OPT),
    F_INT(dx_msg_heartbeat, workers, "workers", OPT, 1, WORKERS_MAX),
};
static const schema heartbeat_s = SCHEMA(heartbeat_f, NULL);

static const field election_f[] = {
    F_V,
    F_ENUM(dx_msg_election, type, "type", REQ, elect_names),
    F_INT(dx_msg_election, from, "from", REQ, 1, DX_NODE_ID_MAX),
    F_INT(dx_msg_election, to, "to", OPT, 1, DX_NODE_ID_MAX),
    F_INT(dx_msg_election, term, "term", REQ, 0, DX_INT_MAX),
    F_INT(dx_msg_election, epoch, "epoch", REQ, 1, DX_INT_MAX),
};
static const schema election_s = SCHEMA(election_f, check_election);

static const field leader_f[] = {
    F_V,
    F_INT(dx_msg_leader, leader, "leader", REQ, 1, DX_NODE_ID_MAX),
    F_INT(dx_msg_leader, term, "term", REQ, 1, DX_INT_MAX),
    F_INT(dx_msg_leader, epoch, "epoch", REQ, 1, DX_INT_MAX),
};
static const schema leader_s = SCHEMA(leader_f, NULL);

static const field cmd_f[] = {
    F_V,
    F_ENUM(dx_msg_cmd, cmd, "cmd", REQ, cmd_names),
    F_INT(dx_msg_cmd, for_ms, "for_ms", OPT, 1, MS_MAX),
    F_STR(dx_msg_cmd, reply_to, "reply_to", FT_TOPIC, OPT),
    F_STR(dx_msg_cmd, corr, "corr", FT_TEXT, OPT),
};
static const schema cmd_s = SCHEMA(cmd_f, NULL);

static const field event_f[] = {
    F_V,
    F_INT(dx_msg_event, node, "node", REQ, 1, DX_NODE_ID_MAX),
    F_STR(dx_msg_event, kind, "kind", FT_NAME, REQ),
    F_INT(dx_msg_event, subject, "subject", OPT, 1, DX_NODE_ID_MAX),
    F_INT(dx_msg_event, term, "term", OPT, 1, DX_INT_MAX),
    F_INT(dx_msg_event, ts_ms, "ts_ms", OPT, 1, DX_INT_MAX),
    F_STR(dx_msg_event, text, "text", FT_TEXT, REQ),
};
static const schema event_s = SCHEMA(event_f, NULL);

static const field reply_f[] = {
    F_V,
    F_STR(dx_msg_reply, corr, "corr", FT_TEXT, OPT),
    F_BOOL(dx_msg_reply, ok, "ok", REQ),
    F_INT(dx_msg_reply, node, "node", OPT, 1, DX_NODE_ID_MAX),
    F_STR(dx_msg_reply, error, "error", FT_TEXT, OPT),
    F_STR(dx_msg_reply, id, "id", FT_TASKID, OPT),
};
static const schema reply_s = SCHEMA(reply_f, check_reply);

/* What to run: top level of a submit, "spec" inside records and items.
 * "kind" comes first: it marks an optional "spec" object as present. */
static const field spec_f[] = {
    F_ENUM(dx_task_spec, kind, "kind", REQ, kind_names),
    F_INT(dx_task_spec, ms, "ms", OPT, 1, MS_MAX),
    F_INT(dx_task_spec, mem_kb, "mem_kb", OPT, 1, MEM_KB_MAX),
    F_INT(dx_task_spec, node, "node", OPT, 1, DX_NODE_ID_MAX),
    F_INT(dx_task_spec, every_ms, "every_ms", OPT, 10, MS_MAX),
    F_STR(dx_task_spec, device, "device", FT_NAME, OPT),
    F_DBL(dx_task_spec, value, "value", OPT, offsetof(dx_task_spec, has_value)),
};
static const schema spec_s = SCHEMA(spec_f, check_spec);

static const field submit_f[] = {
    F_V,
    F_STR(dx_task_spec, id, "id", FT_TASKID, OPT),
    {NULL, FT_EMBED, REQ, 0, sizeof(dx_task_spec), NO_AUX, 0, 0, &spec_s},
    F_STR(dx_task_spec, reply_to, "reply_to", FT_TOPIC, OPT),
    F_STR(dx_task_spec, corr, "corr", FT_TEXT, OPT),
};
static const schema submit_s = SCHEMA(submit_f, NULL);

/* A task record's fields: on {root}/tasks/{task} (after "v") and in a
 * replica batch. */
#define RECORD_FIELDS \
    F_STR(dx_task_record, spec.id, "id", FT_TASKID, REQ), \
    F_ENUM(dx_task_record, state, "state", REQ, tstate_names), \
    F_INT(dx_task_record, node, "node", OPT, 1, DX_NODE_ID_MAX), \
    F_INT(dx_task_record, attempt, "attempt", OPT, 1, UINT32_MAX), \
    F_INT(dx_task_record, term, "term", OPT, 1, DX_INT_MAX), \
    F_INT(dx_task_record, submitted_ms, "submitted_ms", OPT, 1, DX_INT_MAX), \
    F_INT(dx_task_record, started_ms, "started_ms", OPT, 1, DX_INT_MAX), \
    F_INT(dx_task_record, finished_ms, "finished_ms", OPT, 1, DX_INT_MAX), \
    F_STR(dx_task_record, result, "result", FT_TEXT, OPT), \
    F_INT(dx_task_record, runs, "runs", OPT, 1, DX_INT_MAX), \
    F_SUB(dx_task_record, spec, "spec", FT_OBJ, REQ, &spec_s),

static const field record_f[] = {
    F_V,
    RECORD_FIELDS
};
static const schema record_s = SCHEMA(record_f, NULL);

static const field item_f[] = {
    F_ENUM(dx_assign_item, op, "op", REQ, op_names),
    F_INT(dx_assign_item, attempt, "attempt", OPT, 1, UINT32_MAX),
    F_STR(dx_assign_item, spec.id, "id", FT_TASKID, REQ),
    F_SUB(dx_assign_item, spec, "spec", FT_OBJ, OPT, &spec_s),
    F_STR(dx_assign_item, spec.reply_to, "reply_to", FT_TOPIC, OPT),
    F_STR(dx_assign_item, spec.corr, "corr", FT_TEXT, OPT),
};
static const schema item_s = SCHEMA(item_f, check_item);

static const field assign_f[] = {
    F_V,
    F_INT(dx_msg_assign, term, "term", REQ, 1, DX_INT_MAX),
    F_INT(dx_msg_assign, leader, "leader", REQ, 1, DX_NODE_ID_MAX),
    F_LIST(dx_msg_assign, items, n, "items", FT_ARR, REQ, &item_s),
};
static const schema assign_s = SCHEMA(assign_f, NULL);

static const field reading_f[] = {
    F_V,
    F_DBL(dx_msg_reading, value, "value", REQ, NO_AUX),
    F_STR(dx_msg_reading, unit, "unit", FT_TEXT, OPT),
    F_INT(dx_msg_reading, seq, "seq", REQ, 1, DX_INT_MAX),
    F_INT(dx_msg_reading, ts_ms, "ts_ms", OPT, 1, DX_INT_MAX),
};
static const schema reading_s = SCHEMA(reading_f, NULL);

static const field actuator_f[] = {
    F_V,
    F_DBL(dx_msg_actuator, value, "value", REQ, NO_AUX),
    F_INT(dx_msg_actuator, ts_ms, "ts_ms", OPT, 1, DX_INT_MAX),
    F_STR(dx_msg_actuator, reply_to, "reply_to", FT_TOPIC, OPT),
    F_STR(dx_msg_actuator, corr, "corr", FT_TEXT, OPT),
};
static const schema actuator_s = SCHEMA(actuator_f, NULL);

static const field view_node_f[] = {
    F_INT(dx_view_node, id, "id", REQ, 1, DX_NODE_ID_MAX),
    F_STR(dx_view_node, name, "name", FT_NAME, OPT),
    F_ENUM(dx_view_node, state, "state", REQ, view_names),
    F_ENUM(dx_view_node, why, "why", OPT, why_names),
    F_INT(dx_view_node, epoch, "epoch", OPT, 1, DX_INT_MAX),
    F_INT(dx_view_node, since_ms, "since_ms", OPT, 1, DX_INT_MAX),
};
static const schema view_node_s = SCHEMA(view_node_f, NULL);

static const field members_f[] = {
    F_V,
    F_INT(dx_msg_members, leader, "leader", REQ, 0, DX_NODE_ID_MAX),
    F_INT(dx_msg_members, term, "term", REQ, 0, DX_INT_MAX),
    F_INT(dx_msg_members, ts_ms, "ts_ms", OPT, 1, DX_INT_MAX),
    F_LIST(dx_msg_members, nodes, n, "nodes", FT_ARR, REQ, &view_node_s),
};
static const schema members_s = SCHEMA(members_f, NULL);

static const field report_item_f[] = {
    F_STR(dx_report_item, id, "id", FT_TASKID, REQ),
    F_INT(dx_report_item, attempt, "attempt", REQ, 1, UINT32_MAX),
    F_ENUM(dx_report_item, state, "state", REQ, rstate_names),
    F_INT(dx_report_item, started_ms, "started_ms", OPT, 1, DX_INT_MAX),
    F_INT(dx_report_item, finished_ms, "finished_ms", OPT, 1, DX_INT_MAX),
    F_INT(dx_report_item, runs, "runs", OPT, 1, DX_INT_MAX),
    F_STR(dx_report_item, result, "result", FT_TEXT, OPT),
};
static const schema report_item_s = SCHEMA(report_item_f, NULL);

static const field report_f[] = {
    F_V,
    F_INT(dx_msg_report, node, "node", REQ, 1, DX_NODE_ID_MAX),
    F_INT(dx_msg_report, term, "term", REQ, 0, DX_INT_MAX),
    F_BOOL(dx_msg_report, sync, "sync", OPT),
    F_BOOL(dx_msg_report, last, "last", OPT),
    F_LIST(dx_msg_report, items, n, "items", FT_ARR, REQ, &report_item_s),
};
static const schema report_s = SCHEMA(report_f, check_report);

/* A replica batch: records as on {root}/tasks/{task} without "v". */
static const field repl_rec_f[] = {
    RECORD_FIELDS
};
static const schema repl_rec_s = SCHEMA(repl_rec_f, NULL);

static const field repl_clear_f[] = {
    F_STR(dx_replica_clear, id, "id", FT_TASKID, REQ),
};
static const schema repl_clear_s = SCHEMA(repl_clear_f, NULL);

static const field replica_f[] = {
    F_V,
    F_INT(dx_msg_replica, leader, "leader", REQ, 1, DX_NODE_ID_MAX),
    F_INT(dx_msg_replica, term, "term", REQ, 1, DX_INT_MAX),
    F_LIST(dx_msg_replica, records, n, "records", FT_ARR, OPT, &repl_rec_s),
    F_LIST(dx_msg_replica, cleared, n_cleared, "cleared", FT_ARR, OPT,
           &repl_clear_s),
};
static const schema replica_s = SCHEMA(replica_f, NULL);

/* A request without a body; also the fields dx_msg_reply_target() takes. */
static const field request_f[] = {
    F_V,
    F_STR(dx_msg_request, reply_to, "reply_to", FT_TOPIC, OPT),
    F_STR(dx_msg_request, corr, "corr", FT_TEXT, OPT),
};
static const schema request_s = SCHEMA(request_f, NULL);

/* ---- diagnostics ---- */
static int bad(ctx *c, int err, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* One line "field 'items[2].spec.ms': why" into the caller's dx_diag. */
static int bad(ctx *c, int err, const char *key, const char *fmt, ...)
{
    char why[120];
    va_list ap;

    if (c->d == NULL)
        return err;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return dx_diag_set(c->d, err, "field '%s%s': %s", c->path, key, why);
}

/* Enters a nested object for diagnostics: "key." or "key[i]."; returns the
 * length to restore.  Free when nobody reads the diagnosis (encoders). */
static size_t push(ctx *c, const char *key, size_t i, bool indexed)
{
    size_t old = c->plen, room = sizeof c->path - old;
    int n;

    if (c->d == NULL)
        return old;
    n = indexed ? snprintf(c->path + old, room, "%s[%zu].", key, i)
                : snprintf(c->path + old, room, "%s.", key);
    c->plen += n < 0 ? 0 : (size_t)n < room ? (size_t)n : room - 1;
    return old;
}

static void pop(ctx *c, size_t old)
{
    c->plen = old;
    c->path[old] = '\0';
}

/* ---- value checks shared by both directions ---- */
static uint64_t load_uint(const unsigned char *p, size_t size)
{
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;

    switch (size) {
    case 1: memcpy(&u8, p, 1); return u8;
    case 2: memcpy(&u16, p, 2); return u16;
    case 4: memcpy(&u32, p, 4); return u32;
    default: memcpy(&u64, p, 8); return u64;
    }
}

static void store_uint(unsigned char *p, size_t size, uint64_t v)
{
    uint8_t u8 = (uint8_t)v;
    uint16_t u16 = (uint16_t)v;
    uint32_t u32 = (uint32_t)v;

    switch (size) {
    case 1: memcpy(p, &u8, 1); break;
    case 2: memcpy(p, &u16, 2); break;
    case 4: memcpy(p, &u32, 4); break;
    default: memcpy(p, &v, 8); break;
    }
}

static bool int_ok(const field *f, uint64_t v)
{
    return (v >= f->lo && v <= f->hi) || (!f->req && v == 0);
}

static int int_bad(ctx *c, const field *f, int err)
{
    return bad(c, err, f->key, "expected %san integer %" PRIu64 "..%" PRIu64,
               !f->req && f->lo > 0 ? "0 or " : "", f->lo, f->hi);
}

static int enum_bad(ctx *c, const field *f, int err)
{
    const char *const *names = f->sub;
    char list[96] = "";
    size_t at = 0;

    for (size_t i = 0; i < f->hi && at < sizeof list; i++)
        at += (size_t)snprintf(list + at, sizeof list - at, "%s%s",
                               i > 0 ? "|" : "", names[i]);
    return bad(c, err, f->key, "expected one of %s", list);
}

static size_t enum_index(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; s != NULL && i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i + 1;
    return 0;
}

/* Valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF)
 * without C0 or C1 control characters or DEL. */
static bool text_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p != '\0') {
        uint32_t c = *p++, min;
        int more;

        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return false;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            more = 1, c &= 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            more = 2, c &= 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3, c &= 0x07, min = 0x10000;
        } else {
            return false;
        }
        for (; more > 0; more--, p++) {
            if ((*p & 0xc0u) != 0x80u) /* also stops at the NUL */
                return false;
            c = c << 6 | (uint32_t)(*p & 0x3fu);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff) ||
            (c >= 0x80 && c <= 0x9f))
            return false;
    }
    return true;
}

/* The rules of a string field: fits its buffer, then the type's syntax.
 * Names answer DX_ENAME, free text DX_ERANGE. */
static int str_check(ctx *c, const char *key, enum ftype t, size_t size,
                     const char *s)
{
    int err = t == FT_TEXT ? DX_ERANGE : DX_ENAME;

    if (strlen(s) >= size)
        return bad(c, err, key, "longer than %zu bytes", size - 1);
    switch (t) {
    case FT_NAME:
        if (!dx_name_is_valid(s))
            return bad(c, err, key, "expected 1..%zu bytes of [A-Za-z0-9_.-], "
                       "not '.' or '..'", size - 1);
        break;
    case FT_TASKID:
        if (!dx_task_id_is_valid(s))
            return bad(c, err, key, "expected a task id: 1..%d bytes of "
                       "[A-Za-z0-9_.-], not '.', '..' or 'submit'",
                       DX_TASK_ID_MAX);
        break;
    case FT_TOPIC:
        if (!dx_topic_is_publishable(s))
            return bad(c, err, key, "expected a topic: printable ASCII, no "
                       "'+', '#' or empty level");
        break;
    default:
        if (!text_ok(s))
            return bad(c, err, key, "expected UTF-8 text without control "
                       "characters");
        break;
    }
    return 0;
}

static bool has_flag(const field *f, const unsigned char *m)
{
    bool has = true;

    if (f->aux != NO_AUX)
        memcpy(&has, m + f->aux, sizeof has);
    return has;
}

/* ---- decoding ---- */
static int dec_obj(ctx *c, const schema *s, const cJSON *obj, unsigned char *m);

static int dec_str(ctx *c, const char *key, enum ftype t, size_t size,
                   const cJSON *it, unsigned char *dst)
{
    int rc;

    if (!cJSON_IsString(it))
        return bad(c, DX_EFIELD, key, "expected a string");
    if ((rc = str_check(c, key, t, size, it->valuestring)) != 0)
        return rc;
    memcpy(dst, it->valuestring, strlen(it->valuestring) + 1);
    return 0;
}

/* Arrays of names or of objects; the count goes to m + f->aux. */
static int dec_list(ctx *c, const field *f, const cJSON *arr, unsigned char *m)
{
    const cJSON *el;
    size_t n = 0;
    int rc = 0;

    if (!cJSON_IsArray(arr))
        return bad(c, DX_EFIELD, f->key, "expected an array");
    cJSON_ArrayForEach(el, arr) {
        unsigned char *dst = m + f->off + n * f->size;
        char key[DX_NAME_MAX];

        if (n == f->hi)
            return bad(c, DX_ERANGE, f->key, "more than %" PRIu64 " entries",
                       f->hi);
        snprintf(key, sizeof key, "%s[%zu]", f->key, n);
        if (f->type == FT_NAMES) {
            rc = dec_str(c, key, FT_NAME, f->size, el, dst);
        } else if (!cJSON_IsObject(el)) {
            rc = bad(c, DX_EFIELD, key, "expected an object");
        } else {
            size_t old = push(c, f->key, n, true);
            rc = dec_obj(c, f->sub, el, dst);
            pop(c, old);
        }
        if (rc != 0)
            return rc;
        n++;
    }
    memcpy(m + f->aux, &n, sizeof n);
    return 0;
}

static int dec_field(ctx *c, const field *f, const cJSON *it, unsigned char *m)
{
    unsigned char *p = m + f->off;
    double x;
    size_t k;
    int rc;

    switch (f->type) {
    case FT_V:
        if (!cJSON_IsNumber(it) || it->valuedouble != DX_PROTO_V)
            return bad(c, DX_EVERSION, f->key, "expected %d", DX_PROTO_V);
        return 0;
    case FT_INT:
        if (!cJSON_IsNumber(it))
            return int_bad(c, f, DX_EFIELD);
        x = it->valuedouble;
        /* !(..) also catches NaN; in range, the cast is exact */
        if (!(x >= 0 && x <= (double)DX_INT_MAX) ||
            x != (double)(uint64_t)x || !int_ok(f, (uint64_t)x))
            return int_bad(c, f, DX_ERANGE);
        store_uint(p, f->size, (uint64_t)x);
        return 0;
    case FT_ENUM:
        if (!cJSON_IsString(it))
            return enum_bad(c, f, DX_EFIELD);
        if ((k = enum_index(f->sub, f->hi, it->valuestring)) == 0)
            return enum_bad(c, f, DX_ERANGE);
        store_uint(p, f->size, k);
        return 0;
    case FT_BOOL:
        if (!cJSON_IsBool(it))
            return bad(c, DX_EFIELD, f->key, "expected true or false");
        *p = cJSON_IsTrue(it) ? 1 : 0; /* bool is one byte, 0 or 1 */
        return 0;
    case FT_DBL:
        if (!cJSON_IsNumber(it))
            return bad(c, DX_EFIELD, f->key, "expected a number");
        if (!isfinite(it->valuedouble))
            return bad(c, DX_ERANGE, f->key, "expected a finite number");
        memcpy(p, &it->valuedouble, sizeof(double));
        if (f->aux != NO_AUX)
            m[f->aux] = 1;
        return 0;
    case FT_NAMES:
    case FT_ARR:
        return dec_list(c, f, it, m);
    case FT_OBJ:
        if (!cJSON_IsObject(it))
            return bad(c, DX_EFIELD, f->key, "expected an object");
        k = push(c, f->key, 0, false);
        rc = dec_obj(c, f->sub, it, p);
        pop(c, k);
        return rc;
    case FT_EMBED:
        return dec_obj(c, f->sub, it, p);
    default:
        return dec_str(c, f->key, f->type, f->size, it, p);
    }
}

static int dec_obj(ctx *c, const schema *s, const cJSON *obj, unsigned char *m)
{
    for (size_t i = 0; i < s->n; i++) {
        const field *f = &s->f[i];
        const cJSON *it = f->type == FT_EMBED
                              ? obj
                              : cJSON_GetObjectItemCaseSensitive(obj, f->key);
        int rc;

        if (it == NULL || cJSON_IsNull(it)) {
            if (f->type == FT_V)
                return bad(c, DX_EVERSION, f->key, "missing, expected %d",
                           DX_PROTO_V);
            if (f->req)
                return bad(c, DX_EFIELD, f->key, "missing");
            continue; /* the struct is zeroed already */
        }
        if ((rc = dec_field(c, f, it, m)) != 0)
            return rc;
    }
    return s->check != NULL ? s->check(c, m) : 0;
}

enum { SCAN_DEEP = 1, SCAN_CTRL = 2, SCAN_NUL = 4 };

/*
 * One pass over raw JSON: nesting depth outside strings, raw control bytes
 * inside strings (invalid JSON that cJSON lets through), and "\u0000"
 * escapes, which cJSON would decode into a NUL that silently truncates the
 * string.  With `patch` (a writable alias of buf) each such escape becomes
 * "\u0001", a control character the field checks then reject by name.
 */
static unsigned scan(const char *buf, size_t len, int max_depth, char *patch)
{
    unsigned flags = 0;
    bool in_str = false;
    int depth = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)buf[i];

        if (in_str) {
            if (ch == '"') {
                in_str = false;
            } else if (ch < 0x20) {
                flags |= SCAN_CTRL;
            } else if (ch == '\\' && i + 1 < len) {
                if (buf[i + 1] == 'u' && len - i >= 6 &&
                    memcmp(buf + i + 2, "0000", 4) == 0) {
                    flags |= SCAN_NUL;
                    if (patch != NULL)
                        patch[i + 5] = '1';
                }
                i++; /* an escaped quote does not end the string */
            }
        } else if (ch == '"') {
            in_str = true;
        } else if (ch == '{' || ch == '[') {
            if (++depth > max_depth)
                return flags | SCAN_DEEP;
        } else if ((ch == '}' || ch == ']') && depth > 0) {
            depth--;
        }
    }
    return flags;
}

bool dx_json_depth_ok(const char *buf, size_t len, int max_depth)
{
    if (buf == NULL)
        return len == 0;
    return (scan(buf, len, max_depth, NULL) & SCAN_DEEP) == 0;
}

static bool only_space(const char *p, const char *end)
{
    for (; p < end; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
            return false;
    return true;
}

/*
 * What every payload passes before its fields are looked at: size, depth,
 * raw control bytes in strings, "\u0000" escapes (patched in a copy, as
 * scan() says), JSON syntax with nothing but whitespace after it, and an
 * object at the top.  Returns 0 with *root set (cJSON_Delete it; cJSON
 * copies what it keeps, so the patched copy is freed here), or an error
 * with the diagnosis and *root NULL.
 */
static int parse_object(const char *buf, size_t len, cJSON **root, dx_diag *d)
{
    char *copy = NULL;
    const char *end = NULL;
    unsigned flags;
    int rc = 0;

    *root = NULL;
    if (buf == NULL && len > 0)
        return dx_diag_set(d, DX_EINVAL, "no payload buffer");
    if (len > DX_PAYLOAD_MAX)
        return dx_diag_set(d, DX_ETOOBIG, "payload of %zu bytes, the limit "
                           "is %d", len, DX_PAYLOAD_MAX);
    if (len == 0)
        return dx_diag_set(d, DX_EJSON, "empty payload");
    flags = scan(buf, len, DX_JSON_DEPTH_MAX, NULL);
    if (flags & SCAN_DEEP)
        return dx_diag_set(d, DX_EDEPTH, "JSON nested deeper than %d levels",
                           DX_JSON_DEPTH_MAX);
    if (flags & SCAN_CTRL)
        return dx_diag_set(d, DX_EJSON, "raw control character in a string "
                           "(JSON needs it escaped)");
    if (flags & SCAN_NUL) {
        if ((copy = malloc(len)) == NULL)
            return dx_diag_set(d, DX_ENOMEM, "out of memory");
        memcpy(copy, buf, len);
        scan(copy, len, DX_JSON_DEPTH_MAX, copy);
        buf = copy;
    }
    *root = cJSON_ParseWithLengthOpts(buf, len, &end, false);
    if (*root == NULL || end == NULL || !only_space(end, buf + len))
        rc = dx_diag_set(d, DX_EJSON, "malformed JSON at byte %zu of %zu",
                         end != NULL ? (size_t)(end - buf) : 0, len);
    else if (!cJSON_IsObject(*root))
        rc = dx_diag_set(d, DX_EJSON, "expected a JSON object");
    if (rc != 0) {
        cJSON_Delete(*root);
        *root = NULL;
    }
    free(copy);
    return rc;
}

/* The common decoder: out (size bytes) is zeroed unless 0 is returned. */
static int decode(const schema *s, size_t size, const char *buf, size_t len,
                  void *out, dx_diag *d)
{
    ctx c = {d, "", 0};
    cJSON *root;
    int rc;

    if (out == NULL)
        return dx_diag_set(d, DX_EINVAL, "no output struct");
    memset(out, 0, size);
    if ((rc = parse_object(buf, len, &root, d)) == 0)
        rc = dec_obj(&c, s, root, out);
    cJSON_Delete(root);
    if (rc != 0)
        memset(out, 0, size);
    return rc;
}

/* ---- encoding (the writer: dx_jsonw.h) ---- */
static int enc_obj(ctx *c, const schema *s, const unsigned char *m, dx_jw *w);

/* Checks a struct string and writes it, after `key` or as an array
 * element when key is NULL. */
static int enc_str(ctx *c, const char *key, enum ftype t, size_t size,
                   const unsigned char *p, dx_jw *w)
{
    const char *s = (const char *)p;
    int rc;

    if (memchr(s, '\0', size) == NULL)
        return bad(c, t == FT_TEXT ? DX_ERANGE : DX_ENAME, key ? key : "",
                   "not NUL-terminated");
    if ((rc = str_check(c, key ? key : "", t, size, s)) != 0)
        return rc;
    if (key != NULL)
        dx_jw_key(w, key);
    else
        dx_jw_sep(w);
    dx_jw_str(w, s);
    return 0;
}

static int enc_list(ctx *c, const field *f, const unsigned char *m, dx_jw *w)
{
    size_t n;
    int rc = 0;

    memcpy(&n, m + f->aux, sizeof n);
    if (n > f->hi)
        return bad(c, DX_ERANGE, f->key, "more than %" PRIu64 " entries", f->hi);
    if (n == 0 && !f->req)
        return 0;
    dx_jw_key(w, f->key);
    dx_jw_put(w, "[", 1);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const unsigned char *el = m + f->off + i * f->size;

        if (f->type == FT_NAMES) {
            rc = enc_str(c, NULL, FT_NAME, f->size, el, w);
        } else {
            size_t old = push(c, f->key, i, true);
            dx_jw_sep(w);
            dx_jw_put(w, "{", 1);
            rc = enc_obj(c, f->sub, el, w);
            dx_jw_put(w, "}", 1);
            pop(c, old);
        }
    }
    dx_jw_put(w, "]", 1);
    return rc;
}

static int enc_field(ctx *c, const field *f, const unsigned char *m, dx_jw *w)
{
    const unsigned char *p = m + f->off;
    const schema *sub = f->sub;
    uint64_t v;
    double x;
    size_t old;
    int rc;

    switch (f->type) {
    case FT_V:
        dx_jw_key(w, f->key);
        dx_jw_u64(w, DX_PROTO_V);
        return 0;
    case FT_INT:
    case FT_ENUM:
        if ((v = load_uint(p, f->size)) == 0 && !f->req)
            return 0;
        if (!int_ok(f, v))
            return f->type == FT_INT ? int_bad(c, f, DX_ERANGE)
                                     : enum_bad(c, f, DX_ERANGE);
        dx_jw_key(w, f->key);
        if (f->type == FT_INT)
            dx_jw_u64(w, v);
        else
            dx_jw_str(w, ((const char *const *)f->sub)[v - 1]);
        return 0;
    case FT_BOOL:
        if (!*p && !f->req)
            return 0;
        dx_jw_key(w, f->key);
        dx_jw_put(w, *p ? "true" : "false", *p ? 4 : 5);
        return 0;
    case FT_DBL:
        if (!has_flag(f, m))
            return 0;
        memcpy(&x, p, sizeof x);
        if (!isfinite(x))
            return bad(c, DX_ERANGE, f->key, "expected a finite number");
        dx_jw_key(w, f->key);
        dx_jw_dbl(w, x);
        return 0;
    case FT_NAMES:
    case FT_ARR:
        return enc_list(c, f, m, w);
    case FT_OBJ:
        if (!f->req && load_uint(p + sub->f[0].off, sub->f[0].size) == 0)
            return 0;
        dx_jw_key(w, f->key);
        dx_jw_put(w, "{", 1);
        old = push(c, f->key, 0, false);
        rc = enc_obj(c, sub, p, w);
        pop(c, old);
        dx_jw_put(w, "}", 1);
        return rc;
    case FT_EMBED:
        return enc_obj(c, sub, p, w);
    default:
        if (*p == '\0' && !f->req)
            return 0;
        return enc_str(c, f->key, f->type, f->size, p, w);
    }
}

static int enc_obj(ctx *c, const schema *s, const unsigned char *m, dx_jw *w)
{
    int rc = s->check != NULL ? s->check(c, m) : 0;

    for (size_t i = 0; i < s->n && rc == 0; i++)
        rc = enc_field(c, &s->f[i], m, w);
    return rc;
}

/* The common encoder; buf holds "" when it fails. */
static int encode(const schema *s, const void *m, char *buf, size_t cap,
                  size_t *len)
{
    ctx c = {NULL, "", 0};
    dx_jw w = {buf, cap, 0, '\0'};
    int rc;

    if (len != NULL)
        *len = 0;
    if (m == NULL || buf == NULL || len == NULL)
        return DX_EINVAL;
    dx_jw_put(&w, "{", 1);
    rc = enc_obj(&c, s, m, &w);
    dx_jw_put(&w, "}", 1);
    return dx_jw_finish(&w, rc, DX_PAYLOAD_MAX, len);
}

#define DX_CODEC(type, sch)                                                  \
    int dx_##type##_encode(const dx_##type *m, char *buf, size_t cap,        \
                           size_t *len)                                      \
    {                                                                        \
        return encode(&sch, m, buf, cap, len);                               \
    }                                                                        \
    int dx_##type##_decode(const char *buf, size_t len, dx_##type *out,      \
                           dx_diag *d)                                       \
    {                                                                        \
        return decode(&sch, sizeof *out, buf, len, out, d);                  \
    }

DX_CODEC(msg_state, state_s)
DX_CODEC(msg_heartbeat, heartbeat_s)
DX_CODEC(msg_election, election_s)
DX_CODEC(msg_leader, leader_s)
DX_CODEC(msg_cmd, cmd_s)
DX_CODEC(msg_event, event_s)
DX_CODEC(msg_reply, reply_s)
DX_CODEC(task_spec, submit_s)
DX_CODEC(task_record, record_s)
DX_CODEC(msg_assign, assign_s)
DX_CODEC(msg_reading, reading_s)
DX_CODEC(msg_actuator, actuator_s)
DX_CODEC(msg_members, members_s)
DX_CODEC(msg_report, report_s)
DX_CODEC(msg_request, request_s)
DX_CODEC(msg_replica, replica_s)
#undef DX_CODEC

/*
 * The reply_to and corr of a payload that may have failed to decode: the
 * same checks as the decoders up to the top object, then each field of
 * the request table on its own (the payload's other fields, its kind and
 * its "v" do not matter), so a bad corr costs only the corr.
 */
int dx_msg_reply_target(const char *buf, size_t len,
                        char reply_to[DX_TOPIC_MAX + 1],
                        char corr[DX_CORR_MAX + 1])
{
    ctx c = {NULL, "", 0};
    dx_msg_request m;
    cJSON *root;

    if (reply_to == NULL)
        return DX_EINVAL;
    memset(&m, 0, sizeof m);
    if (parse_object(buf, len, &root, NULL) == 0) {
        for (size_t i = 0; i < request_s.n; i++) {
            const field *f = &request_s.f[i];
            const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, f->key);

            if (f->type != FT_V && it != NULL &&
                dec_field(&c, f, it, (unsigned char *)&m) != 0)
                memset((unsigned char *)&m + f->off, 0, f->size);
        }
    }
    cJSON_Delete(root);
    if (m.reply_to[0] == '\0')
        m.corr[0] = '\0'; /* nobody to tell it to */
    memcpy(reply_to, m.reply_to, sizeof m.reply_to);
    if (corr != NULL)
        memcpy(corr, m.corr, sizeof m.corr);
    return m.reply_to[0] != '\0' ? 0 : DX_ENOTFOUND;
}

/* ---- cross-field rules (run after decoding, before encoding) ---- */
static int check_state(ctx *c, const void *p)
{
    const dx_msg_state *m = p;

    if (m->state == DX_WIRE_ONLINE && m->name[0] == '\0')
        return bad(c, DX_EFIELD, "name", "required when state is online");
    return 0;
}

static int check_load(ctx *c, const void *p)
{
    const dx_load *m = p;

    if (m->mem_largest_kb > m->mem_free_kb)
        return bad(c, DX_ERANGE, "mem_largest_kb", "larger than mem_free_kb");
    return 0;
}

static int check_election(ctx *c, const void *p)
{
    const dx_msg_election *m = p;

    if (m->type == DX_ELECT_ANSWER && m->to == 0)
        return bad(c, DX_EFIELD, "to", "required in an answer");
    if (m->type == DX_ELECT_COORDINATOR && m->term == 0)
        return bad(c, DX_ERANGE, "term", "a coordinator's term is 1..%lld",
                   DX_INT_MAX);
    return 0;
}

static int check_reply(ctx *c, const void *p)
{
    const dx_msg_reply *m = p;

    if (!m->ok && m->error[0] == '\0')
        return bad(c, DX_EFIELD, "error", "required when ok is false");
    return 0;
}

static int check_spec(ctx *c, const void *p)
{
    const dx_task_spec *m = p;

    if ((m->kind == DX_TASK_SENSOR_READ || m->kind == DX_TASK_ACTUATOR_SET) &&
        m->device[0] == '\0')
        return bad(c, DX_EFIELD, "device", "required for kind '%s'",
                   dx_task_kind_name(m->kind));
    if (m->kind == DX_TASK_ACTUATOR_SET && !m->has_value)
        return bad(c, DX_EFIELD, "value", "required for kind 'actuator.set'");
    return 0;
}

static int check_item(ctx *c, const void *p)
{
    const dx_assign_item *m = p;

    if (m->op == DX_ASSIGN_RUN && m->spec.kind == 0)
        return bad(c, DX_EFIELD, "spec", "required when op is 'run'");
    return 0;
}

/* An empty inventory is news (the node holds nothing); an empty batch of
 * changes is not. */
static int check_report(ctx *c, const void *p)
{
    const dx_msg_report *m = p;

    if (m->last && !m->sync)
        return bad(c, DX_EFIELD, "sync", "required when last is true");
    if (m->n == 0 && !m->sync)
        return bad(c, DX_ERANGE, "items", "empty, allowed only when sync is "
                   "true");
    return 0;
}

/* ---- enum names and ids ---- */
static const char *enum_name(const char *const *names, size_t n, size_t v)
{
    return v >= 1 && v <= n ? names[v - 1] : NULL;
}

const char *dx_wire_state_name(dx_wire_state s)
{
    return enum_name(wire_names, COUNT(wire_names), (size_t)s);
}

const char *dx_elect_type_name(dx_elect_type t)
{
    return enum_name(elect_names, COUNT(elect_names), (size_t)t);
}

const char *dx_cmd_name(dx_cmd_type c)
{
    return enum_name(cmd_names, COUNT(cmd_names), (size_t)c);
}

const char *dx_task_kind_name(dx_task_kind k)
{
    return enum_name(kind_names, COUNT(kind_names), (size_t)k);
}

const char *dx_task_state_name(dx_task_state s)
{
    return enum_name(tstate_names, COUNT(tstate_names), (size_t)s);
}

const char *dx_report_state_name(dx_report_state s)
{
    return enum_name(rstate_names, COUNT(rstate_names), (size_t)s);
}

const char *dx_view_state_name(dx_view_state s)
{
    return enum_name(view_names, COUNT(view_names), (size_t)s);
}

/* DX_VIEW_WHY_NONE is valid (an online node): "", as "why" is absent. */
const char *dx_view_why_name(dx_view_why w)
{
    return w == DX_VIEW_WHY_NONE ? ""
                                 : enum_name(why_names, COUNT(why_names),
                                             (size_t)w);
}

/* Stores the value of name s (an enum of `size` bytes) in *out. */
static int parse_enum(const char *const *names, size_t n, const char *s,
                      void *out, size_t size)
{
    size_t k = enum_index(names, n, s);

    if (k != 0 && out != NULL)
        store_uint(out, size, k);
    return k != 0 ? 0 : DX_EINVAL;
}

int dx_cmd_parse(const char *s, dx_cmd_type *out)
{
    return parse_enum(cmd_names, COUNT(cmd_names), s, out, sizeof *out);
}

int dx_task_kind_parse(const char *s, dx_task_kind *out)
{
    return parse_enum(kind_names, COUNT(kind_names), s, out, sizeof *out);
}

int dx_task_state_parse(const char *s, dx_task_state *out)
{
    return parse_enum(tstate_names, COUNT(tstate_names), s, out, sizeof *out);
}

bool dx_task_id_is_valid(const char *s)
{
    return s != NULL && memchr(s, '\0', DX_TASK_ID_MAX + 1) != NULL &&
           dx_name_is_valid(s) && strcmp(s, "submit") != 0;
}

bool dx_text_is_valid(const char *s)
{
    return s != NULL && text_ok(s);
}
