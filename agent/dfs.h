/*
 * dfs.h - the distributed file system's logic: file table, placement,
 * uploads, repair, reconciliation and sensor-log segments.  Pure: no clock,
 * no socket, no file; the chunk bytes themselves never pass through here
 * (the shell's disk thread, store.h, writes and reads them).
 *
 * Every agent:
 *  - keeps the table of every file's metadata from the retained
 *    {root}/dfs/files/{name} messages, so a new leader knows every file;
 *  - stores chunks that arrive on its store filters (DX_ACT_DFS_WRITE) and
 *    acknowledges them on {root}/dfs/stored/{key};
 *  - answers fetches (DX_ACT_DFS_READ to the fetch's reply_to);
 *  - deletes its copies that the metadata no longer lists (a file removed
 *    or replaced, a copy re-replicated elsewhere while it was away), and on
 *    scrub: reports bad copies on {root}/dfs/bad and removes orphans (chunks
 *    of no known file, older than orphan_age_ms: a put that never
 *    committed);
 *  - buffers its sensor readings and writes them as log segments
 *    logs/{node}/{sensor}/{start_ms}.jsonl, like any client: put, store,
 *    commit (the segment is one chunk).
 *
 * The leader, in addition:
 *  - plans puts: each chunk on min(R, alive) distinct alive nodes, least
 *    stored bytes first (counting the bytes planned so far), so chunks
 *    spread; keeps the upload until commit (or upload_idle_ms without an
 *    ack) and records which replicas acknowledged which chunk;
 *  - commits: when every chunk is acknowledged by each of its planned
 *    nodes that is still alive (and by at least one), publishes the
 *    metadata retained and answers ok; otherwise answers the missing
 *    chunks, and the writer sends them again;
 *  - repairs: a chunk whose live copies are fewer than min(R, alive nodes)
 *    -- a holder failed more than repair_grace_ms ago, a copy reported bad,
 *    a file written while nodes were missing -- is copied from a live
 *    holder to a new node (a fetch whose reply_to is the target's store
 *    topic), fewest live copies first, at most repair_parallel transfers at
 *    a time, each retried from another source after transfer_timeout_ms;
 *    on the target's ack the metadata lists the target instead of the dead
 *    holder and is published again (once per file per tick).
 *
 * Outputs go to the outbox of the env: publishes (QoS 1), DX_ACT_DFS_*
 * actions and log lines; human-readable event texts wait in the module
 * until the core takes them (dx_dfs_take_note).
 *
 * Cost: the metadata of every file in memory (about 16 bytes per chunk);
 * uploads and transfers in small tables; lookups by name or key are hashed.
 */
#ifndef DX_DFS_MODULE_H
#define DX_DFS_MODULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dx_dfs.h"
#include "outbox.h"

#define DX_DFS_FILES_MAX 65536
#define DX_DFS_NOTE_MAX 200
#define DX_DFS_LOG_PENDING_MAX 8    /* log segments waiting per node */

typedef struct dx_dfs_cfg {
    uint16_t self;
    dx_topics topics;
    uint32_t chunk_size;          /* default for puts (DX_DFS_CHUNK_DEFAULT) */
    uint32_t replicas;            /* default R (DX_DFS_R_DEFAULT) */
    int64_t repair_grace_ms;      /* a failed holder is replaced after this */
    uint32_t repair_parallel;     /* repair transfers in flight */
    int64_t transfer_timeout_ms;  /* an unacknowledged transfer is retried */
    int64_t upload_idle_ms;       /* an upload without progress is dropped */
    int64_t orphan_age_ms;        /* scrub removes unreferenced chunks older */
    /* sensor logs: a segment is written after log_flush_ms or
     * log_flush_readings readings or log_segment_max bytes, whichever comes
     * first; log_flush_ms 0 keeps no sensor logs */
    int64_t log_flush_ms;
    uint32_t log_flush_readings;
    uint32_t log_segment_max;     /* bytes, <= chunk_size */
} dx_dfs_cfg;

/* A node as the DFS sees it; the core fills these from membership. */
typedef struct dx_dfs_node {
    uint16_t id;
    bool alive;                   /* online and not suspected */
    int64_t down_since;           /* monotonic ms it stopped being alive */
} dx_dfs_node;

/* What every call needs to know about the world, and where outputs go. */
typedef struct dx_dfs_env {
    const dx_dfs_node *nodes;     /* every known node, this one included */
    size_t n;
    bool leading;                 /* this agent is the leader */
    uint64_t term;                /* the leader's term (ours when leading) */
    int64_t now;                  /* monotonic ms */
    int64_t wall;                 /* wall clock ms, for metadata people read */
    dx_outbox *ob;
} dx_dfs_env;

typedef struct dx_dfs dx_dfs;

/* Allocates a module; DX_EINVAL for a bad cfg, DX_ENOMEM.  The caller
 * frees it with dx_dfs_destroy (NULL-safe, clears the pointer). */
int dx_dfs_create(dx_dfs **out, const dx_dfs_cfg *cfg);
void dx_dfs_destroy(dx_dfs **d);

/* ---- every agent ---- */

/* Retained metadata of `name` arrived (f NULL: the file was removed).
 * Deletes local copies the new metadata does not list. */
void dx_dfs_on_file(dx_dfs *d, const char *name, const dx_dfs_file *f,
                    const dx_dfs_env *e);

/* A chunk of `len` bytes arrived on one of this node's store filters:
 * asks the shell to write it (DX_ACT_DFS_WRITE).  DX_ERANGE (nothing done)
 * when len exceeds DX_DFS_CHUNK_MAX or this node is not in ref->nodes. */
int dx_dfs_on_store(dx_dfs *d, const dx_dfs_ref *ref, size_t len,
                    const dx_dfs_env *e);

/* The shell finished a DFS_WRITE (rc 0, DX_ECHECKSUM when the bytes did
 * not match crc, DX_EIO, DX_EFULL) or a DFS_READ that failed (read true,
 * reply_to: the read's topic): publishes the stored ack, or reports this
 * node's bad copy and, when the read answered a reader (not a repair copy
 * to a store topic), sends that reader 0 bytes, so it turns to another
 * copy at once instead of waiting out its timeout. */
void dx_dfs_on_store_done(dx_dfs *d, bool read, const char *key,
                          uint32_t index, uint32_t crc, int rc,
                          const char *reply_to, const dx_dfs_env *e);

/* A fetch for this node: DX_ACT_DFS_READ to f->reply_to.  A reply_to inside
 * the root must be under {root}/reply/ or {root}/dfs/store/; DX_EINVAL
 * otherwise (nothing done). */
int dx_dfs_on_fetch(dx_dfs *d, const dx_dfs_fetch *f, const dx_dfs_env *e);

/* Scrub found local chunk key/index/crc (ok: its bytes match crc), last
 * modified age_ms ago.  Reports bad copies, deletes orphans and copies the
 * metadata does not list.  dx_dfs_on_scrub_done ends a scrub. */
void dx_dfs_on_scrub_item(dx_dfs *d, const char *key, uint32_t index,
                          uint32_t crc, bool ok, int64_t age_ms,
                          const dx_dfs_env *e);
void dx_dfs_on_scrub_done(dx_dfs *d, uint64_t chunks, uint64_t bad,
                          const dx_dfs_env *e);

/* An ack on {root}/dfs/stored/{key}: the leader's uploads and repairs and
 * this node's own log segments use it. */
void dx_dfs_on_stored(dx_dfs *d, const char *key, const dx_dfs_stored *s,
                      const dx_dfs_env *e);

/* A reply on this node's DFS reply topic (dx_dfs_reply_topic): answers to
 * the log writer's put and commit. */
void dx_dfs_on_reply(dx_dfs *d, const dx_dfs_reply *r, const dx_dfs_env *e);

/* The topic this node's log writer gives as reply_to
 * ("{root}/reply/dfs-n{self}"); the core subscribes to it. */
const char *dx_dfs_reply_topic(const dx_dfs *d);

/* A sensor reading to keep in the sensor's log: one JSON line (without
 * the newline).  Bounded: when segments cannot be written (no leader) and
 * DX_DFS_LOG_PENDING_MAX segments wait, the oldest is dropped and
 * counted. */
void dx_dfs_log_append(dx_dfs *d, const char *sensor, const char *line,
                       size_t len, const dx_dfs_env *e);

/* ---- the leader ---- */

/* A request on {root}/dfs/req (only the leader calls this). */
void dx_dfs_on_req(dx_dfs *d, const dx_dfs_req *r, const dx_dfs_env *e);

/* A report on {root}/dfs/bad. */
void dx_dfs_on_bad(dx_dfs *d, const dx_dfs_bad *b, const dx_dfs_env *e);

/* Leadership changed: a new leader starts repairing from its table; a
 * former leader forgets its uploads and transfers. */
void dx_dfs_on_leader(dx_dfs *d, const dx_dfs_env *e);

/* ---- time ---- */

/* Repairs, retries, upload expiry, metadata republishing (leader); log
 * segment flushes and retries (every node). */
void dx_dfs_tick(dx_dfs *d, const dx_dfs_env *e);

/* When dx_dfs_tick next has work (monotonic ms; INT64_MAX: none). */
int64_t dx_dfs_next_deadline(const dx_dfs *d);

/* Takes the next human-readable event text ("[DFS] data.txt replicated on
 * nodes [1, 3]") into buf; false when there is none. */
bool dx_dfs_take_note(dx_dfs *d, char *buf, size_t cap);

/* ---- queries (status, watch, tests) ---- */

size_t dx_dfs_file_count(const dx_dfs *d);
/* Files with a chunk that has fewer than R live copies. */
size_t dx_dfs_under_replicated(const dx_dfs *d, const dx_dfs_env *e);
/* Bytes of chunks the metadata places on node. */
uint64_t dx_dfs_node_bytes(const dx_dfs *d, uint16_t node);
/* Copies the metadata of a file into *out (large: heap-allocate it);
 * false when there is no such file. */
bool dx_dfs_lookup(const dx_dfs *d, const char *name, dx_dfs_file *out);
/* Log segments waiting to be written, and segments dropped so far. */
size_t dx_dfs_log_pending(const dx_dfs *d);
uint64_t dx_dfs_log_dropped(const dx_dfs *d);

#endif
