/*
 * store.h - the agent's chunk store: DFS chunks as files in the data
 * directory, written and read on one disk thread so the event loop never
 * waits for a disk.
 *
 * Layout: {dir}/chunks/{key}/{index}.{crc}, where key is [0-9a-z]{1,24}
 * (validated again here), index a decimal and crc 8 lowercase hex digits:
 * no path is ever built from a file name, so nothing can be written outside
 * {dir}/chunks.  A write checks the bytes against crc first, then writes
 * {dir}/chunks/{key}/.tmp-{index}.{crc}, fsyncs it, renames it into place
 * and fsyncs the key directory: a chunk is either whole or absent after a
 * crash.  Opening the store removes leftover .tmp- files.  A read checks
 * the CRC of what it read.
 *
 * Jobs are queued without bound in count but bounded in bytes
 * (DX_STORE_QUEUE_BYTES of write payloads): beyond that a write is refused
 * with DX_EFULL and the writer sends it again.  Every accepted job gets
 * exactly one done call, on the disk thread, also when the store closes
 * (rc DX_ESTATE).
 */
#ifndef DX_STORE_H
#define DX_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dx_dfs.h"
#include "dx_err.h"

#define DX_STORE_QUEUE_BYTES (64u * 1024u * 1024u)
#define DX_STORE_SCRUB_BATCH 128

typedef enum {
    DX_STORE_WRITE = 1,
    DX_STORE_READ,
    DX_STORE_DELETE,   /* index DX_DFS_ALL: the key's whole directory */
    DX_STORE_SCRUB     /* every chunk: results in batches, then last */
} dx_store_op;

typedef struct dx_store_job {
    dx_store_op op;
    char key[DX_DFS_KEY_MAX + 1];
    uint32_t index;
    uint32_t crc;
    /* WRITE: the bytes.  `owner` is consumed by dx_store_submit (freed
     * with free() when the write is done, or at once on an error); data
     * points inside it (the inbox event that carried the message). */
    void *owner;
    const void *data;
    size_t len;
    /* READ: where the shell publishes the bytes; carried to the result */
    char topic[DX_DFS_TOPIC_MAX + 1];
} dx_store_job;

typedef struct dx_store_item {
    char key[DX_DFS_KEY_MAX + 1];
    uint32_t index;
    uint32_t crc;
    bool ok;                 /* the bytes match crc */
    uint64_t size;
    int64_t age_ms;          /* since the file was last modified */
} dx_store_item;

typedef struct dx_store_result {
    dx_store_op op;
    char key[DX_DFS_KEY_MAX + 1];
    uint32_t index;
    uint32_t crc;
    int rc;                  /* 0, DX_ECHECKSUM, DX_ENOTFOUND, DX_EIO,
                                DX_ESTATE (closing) */
    char error[160];         /* when rc != 0: one line, e.g. the errno text */
    /* READ: the bytes (malloc'd; the done callback takes ownership and
     * must free them) and the job's topic */
    void *data;
    size_t len;
    char topic[DX_DFS_TOPIC_MAX + 1];
    /* SCRUB: a batch of items; `last` on the final batch (which may be
     * empty), with the totals */
    size_t n;
    dx_store_item items[DX_STORE_SCRUB_BATCH];
    bool last;
    uint64_t chunks, bad;
} dx_store_result;

/* Called on the disk thread; r is valid only during the call (except
 * r->data, which the callee owns). */
typedef void (*dx_store_done_fn)(void *ctx, dx_store_result *r);

typedef struct dx_store dx_store;

/* Opens {dir}/chunks (creating it, mode 0700) and starts the disk thread.
 * Returns 0, DX_EIO (with the reason in d), DX_ENOMEM. */
int dx_store_open(dx_store **out, const char *dir, dx_store_done_fn done,
                  void *ctx, dx_diag *d);

/* Queues a copy of *job.  0; DX_EFULL (write queue over its byte bound);
 * DX_EINVAL (bad key, op, or a WRITE without data); DX_ESTATE (closing).
 * On error no done call follows and a WRITE's owner is already freed. */
int dx_store_submit(dx_store *s, const dx_store_job *job);

/* Bytes of chunk files in the store now (kept up to date by the thread). */
uint64_t dx_store_bytes(dx_store *s);

/* Finishes every queued job with rc DX_ESTATE (except the one running),
 * joins the thread, frees the store and sets *s to NULL.  NULL-safe. */
void dx_store_close(dx_store **s);

#endif
