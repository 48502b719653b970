/*
 * dx_msg.h - the payloads of the DistribuX topic tree, and their JSON codec.
 *
 * Every payload is one JSON object with a version field "v" (DX_PROTO_V).
 * Each message type has a plain struct, an encoder that writes compact JSON
 * into a caller buffer, and a decoder that validates before it fills the
 * struct: payload size (DX_PAYLOAD_MAX), nesting depth (DX_JSON_DEPTH_MAX,
 * checked by a scan before any parsing), required fields, JSON types,
 * integer ranges, names and strings (no NUL or control characters), and the
 * version.  Unknown fields are ignored so newer agents can add fields.
 * Decoders never crash and never read past `len`, whatever the bytes; on
 * error the output struct is left zeroed and dx_diag says why in one line.
 *
 * topics/TOPICS.md is the user-facing description of the same contract;
 * keep the two in step.
 */
#ifndef DX_MSG_H
#define DX_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dx_err.h"
#include "dx_topic.h"

#define DX_PROTO_V 1
#define DX_PAYLOAD_MAX 65536     /* bytes of one payload */
#define DX_JSON_DEPTH_MAX 8      /* nested objects/arrays */
#define DX_REASON_MAX 32
#define DX_TEXT_MAX 512          /* event text, task result, error text */
#define DX_CORR_MAX 64           /* correlation id */
#define DX_TASK_ID_MAX 40        /* task id: [A-Za-z0-9_.-] */
#define DX_ASSIGN_MAX 64         /* tasks in one assign message */
#define DX_DEVICES_MAX 16        /* devices a node declares in its birth */
#define DX_INT_MAX 9007199254740991LL /* 2^53-1: exact in every JSON parser */

/* ---- load report, carried by heartbeats ---- */
typedef struct dx_load {
    uint32_t cpu_pct;          /* 0..100, whole machine, since last report */
    uint64_t mem_free_kb;      /* free bytes of the task memory pool / 1024 */
    uint64_t mem_largest_kb;   /* largest free block of the pool / 1024 */
    uint32_t running;          /* tasks running */
    uint32_t queued;           /* tasks waiting on this node */
    uint64_t disk_free_kb;     /* free space in the data directory */
} dx_load;

/* ---- {root}/nodes/{id}/state, retained: birth, will, shutdown ---- */
typedef enum { DX_WIRE_ONLINE = 1, DX_WIRE_OFFLINE = 2 } dx_wire_state;

typedef struct dx_msg_state {
    uint16_t id;                      /* 1..65535, must match the topic */
    char name[DX_NAME_MAX + 1];       /* optional on offline */
    dx_wire_state state;
    uint64_t epoch;                   /* 1..2^53-1 */
    char reason[DX_REASON_MAX + 1];   /* offline: "crash" (the will),
                                         "shutdown", "fail"; "" on online */
    uint64_t pool_kb;                 /* online: size of the memory pool */
    uint32_t heartbeat_ms;            /* online: the node's period */
    size_t n_devices;
    char devices[DX_DEVICES_MAX][DX_NAME_MAX + 1]; /* sensors, actuators */
} dx_msg_state;

/* ---- {root}/nodes/{id}/heartbeat, QoS 0 ---- */
typedef struct dx_msg_heartbeat {
    uint16_t id;
    uint64_t epoch;
    uint64_t seq;          /* 1, 2, ... within an epoch */
    uint16_t leader;       /* the leader this node follows, 0 = none */
    uint64_t term;         /* and its term, 0 = none */
    dx_load load;
    uint64_t rejected;     /* malformed messages this node has dropped */
    bool draining;         /* takes no new tasks (optional, default false) */
    uint32_t workers;      /* task worker threads (optional, 0 = unknown) */
} dx_msg_heartbeat;

/* ---- {root}/election: Bully messages ---- */
typedef enum {
    DX_ELECT_ELECTION = 1,    /* "I am starting an election" (to higher ids) */
    DX_ELECT_ANSWER = 2,      /* "I am alive and higher: stand down" */
    DX_ELECT_COORDINATOR = 3  /* "I lead from term T" */
} dx_elect_type;

typedef struct dx_msg_election {
    dx_elect_type type;
    uint16_t from;            /* sender id */
    uint16_t to;              /* answer: the candidate answered; else 0 */
    uint64_t term;            /* election/answer: highest term seen;
                                 coordinator: the new term */
    uint64_t epoch;           /* sender's epoch */
} dx_msg_election;

/* ---- {root}/leader, retained (empty payload = cleared) ---- */
typedef struct dx_msg_leader {
    uint16_t leader;
    uint64_t term;            /* 1..2^53-1 */
    uint64_t epoch;           /* the leader's epoch */
} dx_msg_leader;

/* ---- {root}/nodes/{id}/cmd: operator commands ---- */
typedef enum {
    DX_CMD_FAIL = 1,   /* drop the connection without DISCONNECT */
    DX_CMD_HANG,       /* stop heartbeats and processing, keep the socket */
    DX_CMD_RECOVER,    /* end a fail or hang now */
    DX_CMD_DRAIN,      /* no new placements; move queued tasks away */
    DX_CMD_UNDRAIN,
    DX_CMD_SCRUB       /* verify every local DFS chunk against its CRC32C now */
} dx_cmd_type;

typedef struct dx_msg_cmd {
    dx_cmd_type cmd;
    uint32_t for_ms;                  /* fail/hang: 0 = until recover */
    char reply_to[DX_TOPIC_MAX + 1];  /* optional: where to reply */
    char corr[DX_CORR_MAX + 1];       /* optional correlation id */
} dx_msg_cmd;

/* ---- {root}/events: the human-readable cluster log ---- */
typedef struct dx_msg_event {
    uint16_t node;                    /* who reports it */
    char kind[DX_NAME_MAX + 1];       /* node_joined, node_failed, ... */
    uint16_t subject;                 /* the node it is about, 0 = none */
    uint64_t term;                    /* reporter's term, 0 = none */
    int64_t ts_ms;                    /* reporter's wall clock, informative */
    char text[DX_TEXT_MAX + 1];       /* "[Leader Election] Leader is Node 3" */
} dx_msg_event;

/* ---- {root}/reply/{client}: answers to requests with reply_to ---- */
typedef struct dx_msg_reply {
    char corr[DX_CORR_MAX + 1];
    bool ok;
    uint16_t node;                    /* who answers */
    char error[DX_TEXT_MAX + 1];      /* when !ok: one line */
    char id[DX_TASK_ID_MAX + 1];      /* submit: the task id given */
} dx_msg_reply;

/* ---- tasks ---- */
typedef enum {
    DX_TASK_NOOP = 1,
    DX_TASK_COMPUTE,       /* keep a CPU busy for ms, writing its memory */
    DX_TASK_SLEEP,         /* wait ms */
    DX_TASK_SENSOR_READ,   /* read `device`, publish the reading */
    DX_TASK_ACTUATOR_SET   /* set `device` to `value` */
} dx_task_kind;

typedef enum {
    DX_TS_QUEUED = 1,
    DX_TS_ASSIGNED,
    DX_TS_RUNNING,
    DX_TS_DONE,
    DX_TS_FAILED,
    DX_TS_CANCELLED
} dx_task_state;

/* {root}/tasks/submit.  Also the spec inside records and assignments. */
typedef struct dx_task_spec {
    char id[DX_TASK_ID_MAX + 1];      /* optional on submit: "" = leader names it */
    dx_task_kind kind;
    uint32_t ms;                      /* compute/sleep duration, 0..86400000 */
    uint32_t mem_kb;                  /* memory declared, 0..16777216 */
    uint16_t node;                    /* pinned node, 0 = any */
    uint32_t every_ms;                /* periodic when > 0, >= 10 */
    char device[DX_NAME_MAX + 1];     /* sensor/actuator name, "" = none */
    double value;                     /* actuator.set target */
    bool has_value;
    char reply_to[DX_TOPIC_MAX + 1];  /* optional */
    char corr[DX_CORR_MAX + 1];       /* optional */
} dx_task_spec;

/* {root}/tasks/{id}, retained */
typedef struct dx_task_record {
    dx_task_spec spec;                /* reply_to/corr not republished */
    dx_task_state state;
    uint16_t node;                    /* 0 while queued unplaced */
    uint32_t attempt;                 /* 1 on first placement */
    uint64_t term;                    /* term of the leader that wrote it */
    int64_t submitted_ms, started_ms, finished_ms; /* wall clock, 0 = not yet */
    char result[DX_TEXT_MAX + 1];     /* done: result; failed: error;
                                         periodic running: last result */
    uint64_t runs;                    /* periodic: runs completed (optional) */
} dx_task_record;

/* {root}/nodes/{id}/assign: a batch from the leader */
typedef enum {
    DX_ASSIGN_RUN = 1,    /* queue and run this attempt */
    DX_ASSIGN_CANCEL,     /* stop it (queued or running) */
    DX_ASSIGN_RELEASE,    /* give it back if not started (work stealing) */
    DX_ASSIGN_ACK         /* the leader recorded your final report */
} dx_assign_op;

typedef struct dx_assign_item {
    dx_assign_op op;                  /* "run", "cancel", "release", "ack" */
    uint32_t attempt;
    dx_task_spec spec;                /* RUN: full spec; others: only id */
} dx_assign_item;

typedef struct dx_msg_assign {
    uint64_t term;
    uint16_t leader;
    size_t n;
    dx_assign_item items[DX_ASSIGN_MAX];
} dx_msg_assign;

/* ---- I/O ---- */
/* {root}/io/{id}/sensors/{name} */
typedef struct dx_msg_reading {
    double value;
    char unit[DX_NAME_MAX + 1];       /* optional */
    uint64_t seq;
    int64_t ts_ms;                    /* node's wall clock */
} dx_msg_reading;

/* {root}/io/{id}/actuators/{name}/set and .../state (retained) */
typedef struct dx_msg_actuator {
    double value;
    int64_t ts_ms;                    /* state only */
    char reply_to[DX_TOPIC_MAX + 1];  /* set only, optional */
    char corr[DX_CORR_MAX + 1];       /* set only, optional */
} dx_msg_actuator;

/*
 * Codec.  Encoders write NUL-terminated compact JSON into buf and store its
 * length (without the NUL) in *len; they return DX_ENOSPACE when cap is too
 * small and DX_EINVAL/DX_ERANGE/DX_ENAME when the struct itself is invalid
 * (an encoder never emits what its decoder would reject).  Decoders take
 * `len` bytes that need not be NUL-terminated.
 */
#define DX_MSG_CODEC(type)                                                   \
    int dx_##type##_encode(const dx_##type *m, char *buf, size_t cap,        \
                           size_t *len);                                      \
    int dx_##type##_decode(const char *buf, size_t len, dx_##type *out,      \
                           dx_diag *d);

DX_MSG_CODEC(msg_state)
DX_MSG_CODEC(msg_heartbeat)
DX_MSG_CODEC(msg_election)
DX_MSG_CODEC(msg_leader)
DX_MSG_CODEC(msg_cmd)
DX_MSG_CODEC(msg_event)
DX_MSG_CODEC(msg_reply)
DX_MSG_CODEC(task_spec)
DX_MSG_CODEC(task_record)
DX_MSG_CODEC(msg_assign)
DX_MSG_CODEC(msg_reading)
DX_MSG_CODEC(msg_actuator)
#undef DX_MSG_CODEC

/* Names of enum values as they appear on the wire ("online", "compute",
 * "running", "coordinator", "fail", ...); NULL for an invalid value. */
const char *dx_wire_state_name(dx_wire_state s);
const char *dx_elect_type_name(dx_elect_type t);
const char *dx_cmd_name(dx_cmd_type c);
const char *dx_task_kind_name(dx_task_kind k);
const char *dx_task_state_name(dx_task_state s);

/* The reverse: 0 and *out set, or DX_EINVAL for an unknown name. */
int dx_cmd_parse(const char *s, dx_cmd_type *out);
int dx_task_kind_parse(const char *s, dx_task_kind *out);
int dx_task_state_parse(const char *s, dx_task_state *out);

/* True when s is a valid task id: 1..DX_TASK_ID_MAX bytes of [A-Za-z0-9_.-],
 * not "." or "..", and not "submit" (which names the submit topic). */
bool dx_task_id_is_valid(const char *s);

/* True when s is free text as every text field takes it: valid UTF-8 (no
 * overlong forms or surrogates) without C0/C1 control characters or DEL.
 * No length limit: the caller checks its buffer.  Used by dx_dfs.c. */
bool dx_text_is_valid(const char *s);

/* The depth scan the decoders run first: true when buf[0..len) has no
 * more than max_depth nested objects/arrays (strings are skipped). */
bool dx_json_depth_ok(const char *buf, size_t len, int max_depth);

/* ---- {root}/members, retained: the leader's membership view ---- */
#define DX_VIEW_MAX 256

typedef enum { DX_VIEW_ONLINE = 1, DX_VIEW_FAILED, DX_VIEW_OFFLINE } dx_view_state;
typedef enum { DX_VIEW_WHY_NONE = 0, DX_VIEW_WHY_WILL, DX_VIEW_WHY_TIMEOUT,
               DX_VIEW_WHY_SHUTDOWN } dx_view_why;

typedef struct dx_view_node {
    uint16_t id;
    char name[DX_NAME_MAX + 1];
    dx_view_state state;          /* "online", "failed", "offline" */
    dx_view_why why;              /* "", "will", "timeout", "shutdown" */
    uint64_t epoch;
    int64_t since_ms;             /* leader's wall clock at the change */
} dx_view_node;

typedef struct dx_msg_members {
    uint16_t leader;
    uint64_t term;
    int64_t ts_ms;                /* leader's wall clock */
    size_t n;
    dx_view_node nodes[DX_VIEW_MAX];
} dx_msg_members;

int dx_msg_members_encode(const dx_msg_members *m, char *buf, size_t cap,
                          size_t *len);
int dx_msg_members_decode(const char *buf, size_t len, dx_msg_members *out,
                          dx_diag *d);

/* ---- {root}/nodes/{id}/report: a node tells the leader about its tasks ---- */
#define DX_REPORT_MAX 64

typedef enum {
    DX_REP_QUEUED = 1,   /* "queued": inventory only, waiting on this node */
    DX_REP_RUNNING,      /* "running": started (periodic: after each run) */
    DX_REP_DONE,         /* "done": finished; result set */
    DX_REP_FAILED,       /* "failed": finished with an error in result */
    DX_REP_CANCELLED,    /* "cancelled": stopped on request */
    DX_REP_RELEASED      /* "released": given back unstarted (stealing) */
} dx_report_state;

typedef struct dx_report_item {
    char id[DX_TASK_ID_MAX + 1];
    uint32_t attempt;                 /* 1.. */
    dx_report_state state;
    int64_t started_ms, finished_ms;  /* node's wall clock, 0 = not yet */
    uint64_t runs;                    /* periodic: runs completed */
    char result[DX_TEXT_MAX + 1];     /* done/failed/periodic: one line */
} dx_report_item;

typedef struct dx_msg_report {
    uint16_t node;                    /* must match the topic */
    uint64_t term;                    /* the leader term the node follows */
    bool sync;                        /* an inventory: every task held */
    bool last;                        /* sync: the inventory's last part */
    size_t n;
    dx_report_item items[DX_REPORT_MAX];
} dx_msg_report;

int dx_msg_report_encode(const dx_msg_report *m, char *buf, size_t cap,
                         size_t *len);
int dx_msg_report_decode(const char *buf, size_t len, dx_msg_report *out,
                         dx_diag *d);
const char *dx_report_state_name(dx_report_state s);

/* ---- {root}/replica/tasks: the leader's record changes, for followers ---- */
#define DX_REPLICA_MAX 64

typedef struct dx_replica_clear {
    char id[DX_TASK_ID_MAX + 1];
} dx_replica_clear;

/* Records written since the last batch, in order, then the ids whose
 * records were cleared (a batch never clears a task and then writes it:
 * the writer starts a new batch instead). */
typedef struct dx_msg_replica {
    uint16_t leader;
    uint64_t term;
    size_t n;
    dx_task_record records[DX_REPLICA_MAX];
    size_t n_cleared;
    dx_replica_clear cleared[DX_REPLICA_MAX];
} dx_msg_replica;

int dx_msg_replica_encode(const dx_msg_replica *m, char *buf, size_t cap,
                          size_t *len);
int dx_msg_replica_decode(const char *buf, size_t len, dx_msg_replica *out,
                          dx_diag *d);

/* ---- {root}/tasks/{id}/cancel and other requests without a body ---- */
typedef struct dx_msg_request {
    char reply_to[DX_TOPIC_MAX + 1];  /* optional */
    char corr[DX_CORR_MAX + 1];       /* optional */
} dx_msg_request;

int dx_msg_request_encode(const dx_msg_request *m, char *buf, size_t cap,
                          size_t *len);
int dx_msg_request_decode(const char *buf, size_t len, dx_msg_request *out,
                          dx_diag *d);

/*
 * Best effort for error replies: finds "reply_to" and "corr" in a payload
 * that failed to decode (when it is at least a JSON object of acceptable
 * size and depth), validating both.  Returns 0 with reply_to set, or
 * DX_ENOTFOUND.  corr may come back empty.
 */
int dx_msg_reply_target(const char *buf, size_t len,
                        char reply_to[DX_TOPIC_MAX + 1],
                        char corr[DX_CORR_MAX + 1]);

/* Names of the members view enums on the wire. */
const char *dx_view_state_name(dx_view_state s);
const char *dx_view_why_name(dx_view_why w);

#endif
