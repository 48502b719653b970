/*
 * outbox.h - what the pure core asks its I/O shell to do.
 *
 * The core never publishes, sleeps or logs by itself: it appends actions
 * here and the event loop carries them out in order after each call into
 * the core.  Payloads live in one fixed arena, so an action costs no
 * allocation; the outbox is emptied after every event, so its bounds are
 * per event, not per second.  When it is full the action is dropped and
 * counted (a bug, not a load condition: the bounds are far above what one
 * event produces).
 */
#ifndef DX_OUTBOX_H
#define DX_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dx_dfs.h"
#include "dx_topic.h"

#define DX_OUTBOX_MAX 256
#define DX_OUTBOX_ARENA (2 * 1024 * 1024)

typedef enum {
    DX_ACT_PUBLISH = 1,  /* topic, payload, qos, retain */
    DX_ACT_LOG,          /* payload is a line of text; level */
    DX_ACT_FAIL,         /* drop the broker connection without DISCONNECT */
    DX_ACT_HANG,         /* stop heartbeats and processing, keep the socket */
    DX_ACT_RECOVER,      /* end a fail or hang */
    DX_ACT_JOB,          /* run a task body on a worker: the job fields */
    DX_ACT_JOB_CANCEL,   /* cancel the worker job of `slot` */
    DX_ACT_SUBSCRIBE,    /* subscribe to `topic` (QoS 1) */
    DX_ACT_UNSUBSCRIBE,  /* unsubscribe from `topic` */
    /* DFS chunk storage (agent/store.h), on the shell's disk thread: */
    DX_ACT_DFS_WRITE,    /* store the payload of the message being handled
                            as chunk key/index/crc; then dx_core_on_store */
    DX_ACT_DFS_READ,     /* read chunk key/index/crc and publish its bytes
                            on `topic`; when it is missing or corrupt,
                            dx_core_on_store reports the failure (and the
                            DFS module answers a reader with 0 bytes) */
    DX_ACT_DFS_DELETE,   /* delete local chunk key/index (DX_DFS_ALL: every
                            chunk of key); no answer */
    DX_ACT_DFS_SCRUB     /* verify every local chunk; answers come back
                            through dx_core_on_scrub */
} dx_act_type;

typedef enum { DX_LOG_ERROR = 0, DX_LOG_WARN, DX_LOG_INFO, DX_LOG_DEBUG } dx_log_level;

typedef struct dx_action {
    dx_act_type type;
    char topic[DX_DFS_TOPIC_MAX + 1];
    int qos;
    bool retain;
    dx_log_level level;
    uint32_t for_ms;      /* FAIL, HANG: 0 = until RECOVER */
    /* JOB, JOB_CANCEL */
    uint32_t slot;
    int job_kind;         /* dx_task_kind */
    uint32_t ms;
    void *mem;
    size_t mem_bytes;
    char device[DX_NAME_MAX + 1];
    double value;
    /* DFS_WRITE, DFS_READ, DFS_DELETE */
    char key[DX_DFS_KEY_MAX + 1];
    uint32_t index;
    uint32_t crc;
    size_t off, len;      /* payload: arena[off .. off+len), NUL after */
} dx_action;

typedef struct dx_outbox {
    size_t n;
    size_t used;
    uint64_t dropped;
    dx_action a[DX_OUTBOX_MAX];
    char arena[DX_OUTBOX_ARENA];
} dx_outbox;

/* Empties the outbox (keeps the dropped count). */
void dx_outbox_clear(dx_outbox *ob);

/*
 * Appends an action and reserves `cap` bytes of payload space for it;
 * returns the action (its payload at dx_outbox_payload()) or NULL when full.
 * The caller writes the payload and sets a->len.
 */
dx_action *dx_outbox_add(dx_outbox *ob, dx_act_type type, size_t cap);

/* The payload of an action: NUL-terminated, a->len bytes. */
char *dx_outbox_payload(dx_outbox *ob, const dx_action *a);

/* Shrinks the arena reservation of the last action to its a->len. */
void dx_outbox_commit(dx_outbox *ob, dx_action *a);

/* Drops the last action (its payload could not be written). */
void dx_outbox_cancel(dx_outbox *ob, dx_action *a);

/* Appends a printf-formatted log line. */
void dx_outbox_log(dx_outbox *ob, dx_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
