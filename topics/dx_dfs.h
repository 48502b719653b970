/*
 * dx_dfs.h - the wire contract of the distributed file system: file names,
 * its topics and its payloads.
 *
 * A file is split into chunks of chunk_size bytes (the last one shorter);
 * each chunk has a CRC32C and lives on up to R nodes (R = "replicas",
 * 1..DX_DFS_R_MAX).  Chunks travel as raw bytes on
 *
 *   {root}/dfs/store/{R}/{n1}/.../{nR}/{key}/{index}/{crc}
 *
 * where n1..nR are the distinct nodes that must store the chunk: every
 * agent subscribes to the R(R+1)/2 filters with its own id at one position
 * (dx_dfs_store_filters), so ONE publish reaches exactly the R replicas and
 * no other agent.  `key` names one upload (the leader makes it unique), so a
 * file name never reaches a disk path.  The other DFS topics carry JSON:
 *
 *   {root}/dfs/files/{name}    retained, the leader: file metadata (empty =
 *                              removed).  name may contain '/'.
 *   {root}/dfs/req             to the leader: put, commit, abort, rm
 *   {root}/dfs/stored/{key}    a replica: chunk `index` is durable (or not)
 *   {root}/dfs/fetch/{node}    ask node for a chunk: it publishes the raw
 *                              bytes on reply_to (0 bytes: it has none)
 *   {root}/dfs/bad             anyone: node N's copy of a chunk is bad
 *
 * Replies to dfs/req go to the request's reply_to as a dx_dfs_reply.
 * topics/TOPICS.md documents the same contract for users.
 */
#ifndef DX_DFS_H
#define DX_DFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dx_err.h"
#include "dx_msg.h"
#include "dx_topic.h"

#define DX_DFS_NAME_MAX 255          /* bytes of a file name */
#define DX_DFS_KEY_MAX 24            /* bytes of an upload key: [0-9a-z] */
#define DX_DFS_R_MAX 5               /* replicas of a chunk */
#define DX_DFS_R_DEFAULT 3
#define DX_DFS_CHUNKS_MAX 4096       /* chunks of one file */
#define DX_DFS_CHUNK_MIN 4096        /* chunk_size: a multiple of 4096 */
#define DX_DFS_CHUNK_MAX (8u * 1024u * 1024u)
#define DX_DFS_CHUNK_DEFAULT (1024u * 1024u)
#define DX_DFS_TOPIC_MAX 512         /* a dfs/files topic: root + name */
#define DX_DFS_JSON_MAX (512 * 1024) /* a metadata or plan payload */
#define DX_DFS_MISSING_MAX 64        /* chunks listed in a commit error */
#define DX_DFS_STORE_FILTERS (DX_DFS_R_MAX * (DX_DFS_R_MAX + 1) / 2)
#define DX_DFS_ALL UINT32_MAX        /* "every chunk of a key" */

/* ---- names ---- */

/*
 * True when name is a valid file name: 1..255 bytes; '/'-separated
 * segments, each 1+ bytes of [A-Za-z0-9_.-] and not "." or ".."; no
 * leading, trailing or doubled '/'.  On false, d says why in one line
 * ("'..' is not allowed as a path segment").
 */
bool dx_dfs_name_is_valid(const char *name, dx_diag *d);

/* True when key is 1..DX_DFS_KEY_MAX bytes of [0-9a-z]. */
bool dx_dfs_key_is_valid(const char *key);

/* ---- topics ---- */

typedef enum {
    DX_DFS_T_UNKNOWN = 0,
    DX_DFS_T_FILE,       /* {root}/dfs/files/{name}   retained */
    DX_DFS_T_REQ,        /* {root}/dfs/req */
    DX_DFS_T_STORE,      /* {root}/dfs/store/{R}/{n1..nR}/{key}/{index}/{crc} */
    DX_DFS_T_STORED,     /* {root}/dfs/stored/{key} */
    DX_DFS_T_FETCH,      /* {root}/dfs/fetch/{node} */
    DX_DFS_T_BAD         /* {root}/dfs/bad */
} dx_dfs_topic_kind;

typedef struct dx_dfs_ref {
    dx_dfs_topic_kind kind;
    char name[DX_DFS_NAME_MAX + 1];  /* FILE */
    char key[DX_DFS_KEY_MAX + 1];    /* STORE, STORED */
    uint16_t node;                   /* FETCH */
    uint32_t n_nodes;                /* STORE: R */
    uint16_t nodes[DX_DFS_R_MAX];    /* STORE: distinct, 1..65535 */
    uint32_t index;                  /* STORE: 0..DX_DFS_CHUNKS_MAX-1 */
    uint32_t crc;                    /* STORE: 8 lowercase hex digits */
} dx_dfs_ref;

/*
 * Parses a topic of `len` bytes.  Returns 0 and fills *out for a DFS topic;
 * DX_ETOPIC when the topic is not under {root}/dfs/; DX_ENAME/DX_ERANGE
 * (with d) for a DFS topic with a bad part (an invalid name, a repeated
 * node, R out of range, a bad index or crc).
 */
int dx_dfs_topic_parse(const dx_topics *t, const char *topic, size_t len,
                       dx_dfs_ref *out, dx_diag *d);

/* Builders: write a NUL-terminated topic into buf; DX_ENAME/DX_ERANGE for
 * bad parts, DX_ENOSPACE when cap is too small. */
int dx_dfs_topic_file(const dx_topics *t, const char *name, char *buf,
                      size_t cap);
int dx_dfs_topic_req(const dx_topics *t, char *buf, size_t cap);
int dx_dfs_topic_stored(const dx_topics *t, const char *key, char *buf,
                        size_t cap);
int dx_dfs_topic_fetch(const dx_topics *t, uint16_t node, char *buf,
                       size_t cap);
int dx_dfs_topic_bad(const dx_topics *t, char *buf, size_t cap);
int dx_dfs_topic_store(const dx_topics *t, const uint16_t *nodes, size_t n,
                       const char *key, uint32_t index, uint32_t crc,
                       char *buf, size_t cap);

/*
 * The store filters of node `self`: for every R in 1..DX_DFS_R_MAX and
 * every position p in 1..R, "{root}/dfs/store/R/" with self at p and '+'
 * elsewhere, then "/+/+/+".  Writes DX_DFS_STORE_FILTERS filters; returns
 * how many (cap permitting).
 */
size_t dx_dfs_store_filters(const dx_topics *t, uint16_t self,
                            char subs[][DX_TOPIC_MAX + 1], size_t cap);

/* Filter of every file's metadata: "{root}/dfs/files/#". */
int dx_dfs_filter_files(const dx_topics *t, char *buf, size_t cap);
/* Filter of every stored ack: "{root}/dfs/stored/+". */
int dx_dfs_filter_stored(const dx_topics *t, char *buf, size_t cap);

/* ---- payloads ---- */

/* One chunk of a file: its checksum and the nodes holding a copy. */
typedef struct dx_dfs_chunk {
    uint32_t crc;                    /* CRC32C of the chunk's bytes */
    uint32_t n;                      /* 0..DX_DFS_R_MAX */
    uint16_t nodes[DX_DFS_R_MAX];    /* distinct */
} dx_dfs_chunk;

/* {root}/dfs/files/{name}, retained, written by the leader. */
typedef struct dx_dfs_file {
    char name[DX_DFS_NAME_MAX + 1];  /* must match the topic */
    char key[DX_DFS_KEY_MAX + 1];
    uint64_t size;                   /* bytes, 0..chunk_size*CHUNKS_MAX */
    uint32_t chunk_size;             /* CHUNK_MIN..CHUNK_MAX, multiple of MIN */
    uint32_t replicas;               /* R wanted, 1..DX_DFS_R_MAX */
    char sha256[65];                 /* 64 lowercase hex digits */
    int64_t created_ms;              /* leader's wall clock at commit */
    uint64_t term;                   /* leader term that wrote it */
    bool under_replicated;           /* some chunk has fewer than R live copies */
    uint32_t n_chunks;               /* ceil(size / chunk_size) */
    dx_dfs_chunk chunks[DX_DFS_CHUNKS_MAX];
} dx_dfs_file;

typedef enum {
    DX_DFS_OP_PUT = 1,   /* "put": plan an upload of name/size */
    DX_DFS_OP_COMMIT,    /* "commit": every chunk is sent; publish the file */
    DX_DFS_OP_ABORT,     /* "abort": forget an upload */
    DX_DFS_OP_RM         /* "rm": remove a file */
} dx_dfs_op;

/* {root}/dfs/req, to the leader. */
typedef struct dx_dfs_req {
    dx_dfs_op op;
    char name[DX_DFS_NAME_MAX + 1];  /* put, rm */
    char key[DX_DFS_KEY_MAX + 1];    /* commit, abort */
    uint64_t size;                   /* put */
    uint32_t chunk_size;             /* put: 0 = the leader's default */
    uint32_t replicas;               /* put: 0 = the leader's default */
    char sha256[65];                 /* commit: of the whole file */
    char reply_to[DX_TOPIC_MAX + 1]; /* optional */
    char corr[DX_CORR_MAX + 1];      /* optional */
} dx_dfs_req;

/* The answer to a dfs/req on its reply_to.  A put's answer carries the
 * plan: key, chunk_size and the nodes of every chunk (crc unused). */
typedef struct dx_dfs_reply {
    char corr[DX_CORR_MAX + 1];
    bool ok;
    uint16_t node;                   /* who answers (the leader) */
    char error[DX_TEXT_MAX + 1];     /* when !ok */
    char key[DX_DFS_KEY_MAX + 1];    /* put, commit */
    uint32_t chunk_size;             /* put */
    uint32_t n_plan;                 /* put: chunks */
    dx_dfs_chunk plan[DX_DFS_CHUNKS_MAX];
    uint32_t n_missing;              /* commit error: chunks lacking copies */
    uint32_t missing[DX_DFS_MISSING_MAX];
} dx_dfs_reply;

/* {root}/dfs/stored/{key}: a replica wrote (or failed to write) a chunk. */
typedef struct dx_dfs_stored {
    uint16_t node;
    uint32_t index;
    uint32_t crc;
    bool ok;
    char error[DX_TEXT_MAX + 1];     /* when !ok */
} dx_dfs_stored;

/* {root}/dfs/fetch/{node}: publish chunk key/index (whose CRC32C is crc)
 * as raw bytes on reply_to. */
typedef struct dx_dfs_fetch {
    char key[DX_DFS_KEY_MAX + 1];
    uint32_t index;
    uint32_t crc;
    char reply_to[DX_DFS_TOPIC_MAX + 1];  /* required */
} dx_dfs_fetch;

/* {root}/dfs/bad: node's copy of chunk key/index is missing or corrupt. */
typedef struct dx_dfs_bad {
    char key[DX_DFS_KEY_MAX + 1];
    uint32_t index;
    uint16_t node;                   /* the holder of the bad copy */
    uint16_t from;                   /* who noticed, 0 = a client */
    char reason[DX_REASON_MAX + 1];  /* "checksum", "missing", "timeout" */
} dx_dfs_bad;

/* Codecs, as in dx_msg.h: encoders write compact NUL-terminated JSON and
 * refuse what the decoder would reject; decoders validate everything and
 * accept up to DX_DFS_JSON_MAX bytes for files and replies, DX_PAYLOAD_MAX
 * for the others. */
#define DX_DFS_CODEC(type)                                                   \
    int dx_##type##_encode(const dx_##type *m, char *buf, size_t cap,        \
                           size_t *len);                                      \
    int dx_##type##_decode(const char *buf, size_t len, dx_##type *out,      \
                           dx_diag *d);
DX_DFS_CODEC(dfs_file)
DX_DFS_CODEC(dfs_req)
DX_DFS_CODEC(dfs_reply)
DX_DFS_CODEC(dfs_stored)
DX_DFS_CODEC(dfs_fetch)
DX_DFS_CODEC(dfs_bad)
#undef DX_DFS_CODEC

/* "put", "commit", "abort", "rm"; NULL for an invalid op. */
const char *dx_dfs_op_name(dx_dfs_op op);

/* 8 lowercase hex digits and a NUL. */
void dx_dfs_crc_hex(uint32_t crc, char out[9]);
/* Parses exactly 8 hex digits (either case); 0 or DX_EINVAL. */
int dx_dfs_crc_parse(const char *s, size_t len, uint32_t *out);

#endif
