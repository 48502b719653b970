/*
 * dfs.c - the distributed file system's logic.  See dfs.h.
 *
 * Tables.  Files live in a growable array of entries (one heap array of
 * chunks each), found by name and by upload key through two idindex.h
 * hashes of 2 * DX_DFS_FILES_MAX slots.  Two per-node counters (indexed by
 * node id) hold the bytes the metadata places on each node and the bytes
 * planned by open uploads, so placement never walks the table.  Uploads
 * (UPLOADS_MAX), transfers (repair_parallel) and queued bad reports
 * (BADS_MAX) are small arrays searched linearly.
 *
 * Placement: for every chunk, the min(R, alive) alive nodes with the least
 * stored + planned bytes; equal nodes are ordered by their rank in the
 * sorted alive list rotated by the chunk index, so equal nodes take turns.
 * The chosen nodes' counters grow by the chunk's length before the next
 * chunk is placed: bytes stay within one chunk of each other.
 *
 * Repair (leader, from tick): a scan runs when the alive set changes, a
 * holder's grace expires, a transfer ends, and at least every SCAN_MS while
 * something needs repair (REST_MS otherwise).  It walks the table once per
 * live-copy count 1..R_MAX, so the chunks with the fewest live copies get
 * the free transfer slots first, without sorting or allocating.  A
 * transfer is a fetch to a live holder whose reply_to is the target's
 * single-node store topic; the target's stored ack updates the metadata.
 *
 * Sensor logs: each sensor has an open segment (a heap buffer); closed
 * segments wait in a ring of DX_DFS_LOG_PENDING_MAX; one writer walks
 * put -> store -> commit for the oldest, with a timeout per step and an
 * exponential backoff on failure.
 *
 * Cost: about 2.2 MB fixed (the indexes, the node counters, a scratch file
 * and reply) plus 16 bytes per chunk of every file; a repair scan is
 * O(chunks * R) and runs at most once per tick.
 * Limits: UPLOADS_MAX open uploads, SENSORS_MAX logged sensors per node,
 * NOTES_MAX waiting notes (the oldest is dropped).
 */
#include "dfs.h"

#include "dx_hash.h"
#include "idindex.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INDEX_SLOTS (2u * DX_DFS_FILES_MAX)
#define NODE_SLOTS (DX_NODE_ID_MAX + 1)
#define UPLOADS_MAX 64
#define BADS_MAX 64
#define SENSORS_MAX 32
#define LOST_MAX 64
#define NOTES_MAX 32
#define PARALLEL_MAX 1024
#define SCAN_MS 1000             /* rescan while something needs repair */
#define REST_MS 10000            /* rescan when nothing did */
#define LOG_REPLY_MS 3000        /* a put or commit unanswered: retry */
#define LOG_ACK_MS 2000          /* commit even without every ack */
#define LOG_BACKOFF_MIN_MS 1000
#define LOG_BACKOFF_MAX_MS 10000
#define SMALL_JSON 2048

/* ---- the structures ---- */

typedef struct entry {
    char name[DX_DFS_NAME_MAX + 1];
    char key[DX_DFS_KEY_MAX + 1];
    uint64_t size;
    uint32_t chunk_size;
    uint32_t replicas;
    char sha256[65];
    int64_t created_ms;
    uint64_t term;
    bool under_replicated;
    uint32_t n_chunks;
    dx_dfs_chunk *chunks;        /* n_chunks, heap; NULL when 0 */
    bool used;
    bool key_indexed;            /* a duplicate key is not indexed twice */
    bool dirty;                  /* republish (leader) */
    bool repairing;              /* a repair ran: note when restored */
    uint32_t next_free;
} entry;

typedef struct upchunk {
    uint32_t crc;
    bool has_crc;                /* learnt from the first ok ack */
    uint32_t n_plan;
    uint16_t plan[DX_DFS_R_MAX];
    uint32_t n_acked;
    uint16_t acked[DX_DFS_R_MAX];
} upchunk;

typedef struct upload {
    bool used;
    char key[DX_DFS_KEY_MAX + 1];
    char name[DX_DFS_NAME_MAX + 1];
    uint64_t size;
    uint32_t chunk_size;
    uint32_t replicas;
    uint32_t n_chunks;
    upchunk *chunks;             /* heap; NULL when 0 */
    int64_t deadline;            /* idle expiry */
} upload;

typedef struct transfer {
    bool used;
    bool bad;                    /* overwrite a bad copy on `target` */
    char key[DX_DFS_KEY_MAX + 1];
    uint32_t index;
    uint32_t crc;
    uint16_t source, target;
    uint32_t attempt;
    int64_t deadline;
} transfer;

typedef struct bad_item {
    char key[DX_DFS_KEY_MAX + 1];
    uint32_t index;
    uint16_t node;
} bad_item;

typedef struct lost_node {       /* a failed node whose repair was noted */
    uint16_t id;
    int64_t down_since;
} lost_node;

typedef struct open_seg {
    bool used;
    char sensor[DX_NAME_MAX + 1];
    char *buf;
    size_t len, cap;
    uint32_t readings;
    int64_t opened;              /* monotonic */
    int64_t start_wall;
} open_seg;

typedef struct segment {
    char name[DX_DFS_NAME_MAX + 1];
    char *buf;
    size_t len;
} segment;

typedef enum { W_IDLE = 0, W_PUT, W_STORE, W_COMMIT } writer_phase;

struct dx_dfs {
    dx_dfs_cfg cfg;
    char reply_topic[DX_TOPIC_MAX + 1];
    bool leading;
    int64_t last_now;

    /* the file table */
    entry *files;
    uint32_t cap_files, high, n_files;
    uint32_t free_head;          /* UINT32_MAX: none */
    uint32_t *by_name, *by_key;  /* INDEX_SLOTS each */
    uint64_t *bytes;             /* NODE_SLOTS: metadata bytes per node */
    uint64_t *planned;           /* NODE_SLOTS: bytes of open uploads */
    uint32_t n_dirty;

    /* the leader */
    upload uploads[UPLOADS_MAX];
    uint64_t key_counter;
    transfer *xfers;             /* cfg.repair_parallel */
    bad_item bads[BADS_MAX];
    size_t n_bads;
    lost_node lost[LOST_MAX];
    size_t n_lost;
    int64_t scan_at;
    uint64_t alive_sig;

    /* notes */
    char notes[NOTES_MAX][DX_DFS_NOTE_MAX];
    size_t note_head, n_notes;

    /* sensor logs */
    open_seg segs[SENSORS_MAX];
    segment pending[DX_DFS_LOG_PENDING_MAX];
    size_t pend_head, n_pend;
    uint64_t log_dropped;
    writer_phase phase;
    char w_corr[DX_CORR_MAX + 1];
    char w_key[DX_DFS_KEY_MAX + 1];
    uint32_t w_crc;
    dx_dfs_chunk w_plan;
    bool w_acked[DX_DFS_R_MAX];
    int64_t w_deadline;          /* of the current phase */
    int64_t w_retry_at;          /* W_IDLE: not before */
    int64_t w_backoff;
    uint64_t w_counter;

    /* scratch (large) */
    dx_dfs_reply reply;
    dx_dfs_file file;
};

/* ---- small helpers ---- */

static void note(dx_dfs *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void note(dx_dfs *d, const char *fmt, ...)
{
    char buf[DX_TEXT_MAX + 1];
    va_list ap;
    size_t slot;
    if (d->n_notes == NOTES_MAX) {      /* drop the oldest */
        d->note_head = (d->note_head + 1) % NOTES_MAX;
        d->n_notes--;
    }
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    slot = (d->note_head + d->n_notes) % NOTES_MAX;
    dx_text_copy(d->notes[slot], sizeof d->notes[slot], buf);
    d->n_notes++;
}

static const dx_dfs_node *node_of(const dx_dfs_env *e, uint16_t id)
{
    for (size_t i = 0; i < e->n; i++)
        if (e->nodes[i].id == id)
            return &e->nodes[i];
    return NULL;
}

static bool is_alive(const dx_dfs_env *e, uint16_t id)
{
    const dx_dfs_node *n = node_of(e, id);
    return n != NULL && n->alive;
}

/* Not alive for at least the grace period (an unknown node is lost). */
static bool is_lost(const dx_dfs *d, const dx_dfs_env *e, uint16_t id)
{
    const dx_dfs_node *n = node_of(e, id);
    if (n == NULL)
        return true;
    return !n->alive && e->now - n->down_since >= d->cfg.repair_grace_ms;
}

static size_t alive_count(const dx_dfs_env *e)
{
    size_t k = 0;
    for (size_t i = 0; i < e->n; i++)
        k += e->nodes[i].alive;
    return k;
}

static bool lists(const dx_dfs_chunk *c, uint16_t id)
{
    for (uint32_t i = 0; i < c->n; i++)
        if (c->nodes[i] == id)
            return true;
    return false;
}

static uint64_t chunk_len(uint64_t size, uint32_t chunk_size, uint32_t i)
{
    uint64_t off = (uint64_t)i * chunk_size;
    uint64_t rest = size > off ? size - off : 0;
    return rest < chunk_size ? rest : chunk_size;
}

static bool copy_key(char dst[DX_DFS_KEY_MAX + 1], const char *src)
{
    size_t n = strnlen(src, DX_DFS_KEY_MAX + 1);
    if (n > DX_DFS_KEY_MAX)
        return false;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return true;
}

/* "1, 3, 4" of the sorted ids. */
static void id_list(const uint16_t *ids, size_t n, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < cap; i++) {
        int w = snprintf(buf + used, cap - used, "%s%u", i ? ", " : "",
                         (unsigned)ids[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static void sort_ids(uint16_t *ids, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint16_t v = ids[i];
        size_t j = i;
        for (; j > 0 && ids[j - 1] > v; j--)
            ids[j] = ids[j - 1];
        ids[j] = v;
    }
}

/* ---- outputs ---- */

/* Reserves a QoS 1 publish on topic with cap bytes of payload. */
static dx_action *begin_pub(dx_outbox *ob, const char *topic, size_t cap,
                            bool retain)
{
    dx_action *a = dx_outbox_add(ob, DX_ACT_PUBLISH, cap);
    if (a == NULL)
        return NULL;
    snprintf(a->topic, sizeof a->topic, "%s", topic);
    a->qos = 1;
    a->retain = retain;
    return a;
}

/* Encodes msg into a publish on topic (its payload reserved cap bytes). */
#define PUBLISH(e, topic_, type, msg, cap_, retain_)                         \
    do {                                                                     \
        size_t len_ = 0;                                                     \
        dx_action *a_ = begin_pub((e)->ob, (topic_), (cap_), (retain_));     \
        if (a_ == NULL)                                                      \
            break;                                                           \
        if (dx_##type##_encode((msg), dx_outbox_payload((e)->ob, a_),        \
                               (cap_) + 1, &len_) == 0) {                    \
            a_->len = len_;                                                  \
            dx_outbox_commit((e)->ob, a_);                                   \
        } else {                                                             \
            dx_outbox_cancel((e)->ob, a_);                                   \
            dx_outbox_log((e)->ob, DX_LOG_ERROR, "dfs: cannot encode " #type); \
        }                                                                    \
    } while (0)

static void act_chunk(const dx_dfs_env *e, dx_act_type type, const char *key,
                      uint32_t index, uint32_t crc, const char *topic)
{
    dx_action *a = dx_outbox_add(e->ob, type, 0);
    if (a == NULL)
        return;
    copy_key(a->key, key);
    a->index = index;
    a->crc = crc;
    if (topic != NULL)
        snprintf(a->topic, sizeof a->topic, "%s", topic);
}

/* The part of `to` after "{root}", or NULL when to is not inside root. */
static const char *under_root(const dx_topics *t, const char *to)
{
    if (strncmp(to, t->root, t->root_len) == 0 &&
        (to[t->root_len] == '/' || to[t->root_len] == '\0'))
        return to + t->root_len;
    return NULL;
}

/* {root}/dfs/store/...: a chunk's way to its holders (a repair copy). */
static bool is_store_topic(const dx_topics *t, const char *to)
{
    const char *rest = under_root(t, to);
    return rest != NULL && strncmp(rest, "/dfs/store/", 11) == 0 &&
           rest[11] != '\0';
}

/* A topic inside the root is acceptable only under one of the prefixes;
 * outside the root anything publishable is. */
static bool reply_to_ok(const dx_topics *t, const char *to, bool store_ok)
{
    size_t n = strnlen(to, DX_DFS_TOPIC_MAX + 1);
    if (n == 0 || n > DX_DFS_TOPIC_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)to[i];
        if (ch <= 0x20 || ch >= 0x7f || ch == '+' || ch == '#')
            return false;
        if (ch == '/' && (i == 0 || i + 1 == n || to[i + 1] == '/'))
            return false;
    }
    const char *rest = under_root(t, to);
    if (rest == NULL)
        return true;
    if (strncmp(rest, "/reply/", 7) == 0 && rest[7] != '\0')
        return true;
    return store_ok && is_store_topic(t, to);
}

/* Publishes d->reply (filled by the caller but for node) to reply_to. */
static void send_reply(dx_dfs *d, const char *reply_to, const char *corr,
                       const dx_dfs_env *e)
{
    dx_dfs_reply *r = &d->reply;
    if (reply_to[0] == '\0')
        return;
    if (!reply_to_ok(&d->cfg.topics, reply_to, false)) {
        dx_outbox_log(e->ob, DX_LOG_WARN, "dfs: refusing to reply on %s",
                      reply_to);
        return;
    }
    snprintf(r->corr, sizeof r->corr, "%s", corr);
    r->node = d->cfg.self;
    if (!r->ok && r->error[0] == '\0')
        snprintf(r->error, sizeof r->error, "failed");
    PUBLISH(e, reply_to, dfs_reply, r,
            r->n_plan > 0 ? (size_t)DX_DFS_JSON_MAX : (size_t)SMALL_JSON,
            false);
}

static void reply_error(dx_dfs *d, const dx_dfs_req *q, const dx_dfs_env *e,
                        const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void reply_error(dx_dfs *d, const dx_dfs_req *q, const dx_dfs_env *e,
                        const char *fmt, ...)
{
    char buf[DX_TEXT_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    memset(&d->reply, 0, sizeof d->reply);
    d->reply.ok = false;
    dx_text_copy(d->reply.error, sizeof d->reply.error, buf);
    send_reply(d, q->reply_to, q->corr, e);
}

static void reply_ok(dx_dfs *d, const dx_dfs_req *q, const char *key,
                     const dx_dfs_env *e)
{
    memset(&d->reply, 0, sizeof d->reply);
    d->reply.ok = true;
    copy_key(d->reply.key, key ? key : "");
    send_reply(d, q->reply_to, q->corr, e);
}

/* ---- the file table ---- */

static const char *name_of(const void *ctx, uint32_t k)
{
    return ((const dx_dfs *)ctx)->files[k].name;
}

static const char *key_of(const void *ctx, uint32_t k)
{
    return ((const dx_dfs *)ctx)->files[k].key;
}

static dx_idindex name_index(const dx_dfs *d)
{
    dx_idindex x = {d->by_name, INDEX_SLOTS - 1, name_of, d};
    return x;
}

static dx_idindex key_index(const dx_dfs *d)
{
    dx_idindex x = {d->by_key, INDEX_SLOTS - 1, key_of, d};
    return x;
}

static entry *find_name(const dx_dfs *d, const char *name)
{
    dx_idindex x = name_index(d);
    int64_t k = dx_idx_find(&x, name);
    return k >= 0 ? &d->files[k] : NULL;
}

static entry *find_key(const dx_dfs *d, const char *key)
{
    dx_idindex x = key_index(d);
    int64_t k = key[0] ? dx_idx_find(&x, key) : -1;
    return k >= 0 ? &d->files[k] : NULL;
}

static void index_key(dx_dfs *d, entry *f)
{
    dx_idindex x = key_index(d);
    f->key_indexed = dx_idx_find(&x, f->key) < 0;
    if (f->key_indexed)
        dx_idx_add(&x, f->key, (uint32_t)(f - d->files));
}

static void unindex_key(dx_dfs *d, entry *f)
{
    dx_idindex x = key_index(d);
    if (f->key_indexed)
        dx_idx_del(&x, f->key);
    f->key_indexed = false;
}

/* Adds (sign +1) or removes (-1) the file's bytes from the node counters. */
static void account(dx_dfs *d, const entry *f, int sign)
{
    for (uint32_t i = 0; i < f->n_chunks; i++) {
        uint64_t len = chunk_len(f->size, f->chunk_size, i);
        for (uint32_t j = 0; j < f->chunks[i].n; j++) {
            uint64_t *b = &d->bytes[f->chunks[i].nodes[j]];
            *b = sign > 0 ? *b + len : (*b > len ? *b - len : 0);
        }
    }
}

/* A fresh entry named `name`, or NULL when the table is full. */
static entry *alloc_entry(dx_dfs *d, const char *name)
{
    uint32_t k;
    entry *f;
    if (d->free_head != UINT32_MAX) {
        k = d->free_head;
        d->free_head = d->files[k].next_free;
    } else {
        if (d->high == DX_DFS_FILES_MAX)
            return NULL;
        if (d->high == d->cap_files) {
            uint32_t cap = d->cap_files ? d->cap_files * 2 : 16;
            entry *g;
            if (cap > DX_DFS_FILES_MAX)
                cap = DX_DFS_FILES_MAX;
            g = realloc(d->files, cap * sizeof *g);
            if (g == NULL)
                return NULL;
            d->files = g;
            d->cap_files = cap;
        }
        k = d->high++;
    }
    f = &d->files[k];
    memset(f, 0, sizeof *f);
    f->used = true;
    snprintf(f->name, sizeof f->name, "%s", name);
    {
        dx_idindex x = name_index(d);
        dx_idx_add(&x, f->name, k);
    }
    d->n_files++;
    return f;
}

static void free_entry(dx_dfs *d, entry *f)
{
    dx_idindex x = name_index(d);
    uint32_t k = (uint32_t)(f - d->files);
    account(d, f, -1);
    unindex_key(d, f);
    dx_idx_del(&x, f->name);
    free(f->chunks);
    if (f->dirty)
        d->n_dirty--;
    memset(f, 0, sizeof *f);
    f->next_free = d->free_head;
    d->free_head = k;
    d->n_files--;
}

static bool same_file(const entry *f, const dx_dfs_file *m)
{
    if (strcmp(f->key, m->key) != 0 || f->size != m->size ||
        f->chunk_size != m->chunk_size || f->replicas != m->replicas ||
        strcmp(f->sha256, m->sha256) != 0 || f->created_ms != m->created_ms ||
        f->term != m->term || f->under_replicated != m->under_replicated ||
        f->n_chunks != m->n_chunks)
        return false;
    for (uint32_t i = 0; i < f->n_chunks; i++) {
        const dx_dfs_chunk *a = &f->chunks[i], *b = &m->chunks[i];
        if (a->crc != b->crc || a->n != b->n ||
            memcmp(a->nodes, b->nodes, a->n * sizeof a->nodes[0]) != 0)
            return false;
    }
    return true;
}

static void file_of(const entry *f, dx_dfs_file *out)
{
    memset(out, 0, offsetof(dx_dfs_file, chunks));
    snprintf(out->name, sizeof out->name, "%s", f->name);
    copy_key(out->key, f->key);
    out->size = f->size;
    out->chunk_size = f->chunk_size;
    out->replicas = f->replicas;
    memcpy(out->sha256, f->sha256, sizeof out->sha256);
    out->created_ms = f->created_ms;
    out->term = f->term;
    out->under_replicated = f->under_replicated;
    out->n_chunks = f->n_chunks;
    if (f->n_chunks > 0)
        memcpy(out->chunks, f->chunks, f->n_chunks * sizeof f->chunks[0]);
}

/* Deletes this node's copies that `old` lists and m (NULL: removed) does
 * not. */
static void delete_unlisted(dx_dfs *d, const entry *old, const dx_dfs_file *m,
                            const dx_dfs_env *e)
{
    uint16_t self = d->cfg.self;
    bool held = false;
    for (uint32_t i = 0; i < old->n_chunks && !held; i++)
        held = lists(&old->chunks[i], self);
    if (!held)
        return;
    if (m == NULL || strcmp(m->key, old->key) != 0) {
        act_chunk(e, DX_ACT_DFS_DELETE, old->key, DX_DFS_ALL, 0, NULL);
        return;
    }
    for (uint32_t i = 0; i < old->n_chunks; i++)
        if (lists(&old->chunks[i], self) &&
            (i >= m->n_chunks || !lists(&m->chunks[i], self)))
            act_chunk(e, DX_ACT_DFS_DELETE, old->key, i, old->chunks[i].crc,
                      NULL);
}

/* Makes the table hold m as `name` (m NULL: removes it). */
static void apply_file(dx_dfs *d, const char *name, const dx_dfs_file *m,
                       const dx_dfs_env *e)
{
    entry *f = find_name(d, name);
    dx_dfs_chunk *chunks = NULL;

    if (m != NULL && (strcmp(m->name, name) != 0 ||
                      m->n_chunks > DX_DFS_CHUNKS_MAX)) {
        dx_outbox_log(e->ob, DX_LOG_WARN, "dfs: ignoring metadata of %s: "
                      "names %s", name, m->name);
        return;
    }
    if (f != NULL && m != NULL && same_file(f, m))
        return;
    if (f != NULL)
        delete_unlisted(d, f, m, e);
    if (m == NULL) {
        if (f != NULL)
            free_entry(d, f);
        return;
    }
    if (m->n_chunks > 0) {
        chunks = malloc(m->n_chunks * sizeof *chunks);
        if (chunks == NULL) {
            dx_outbox_log(e->ob, DX_LOG_ERROR, "dfs: out of memory for %s",
                          name);
            return;
        }
        memcpy(chunks, m->chunks, m->n_chunks * sizeof *chunks);
    }
    if (f == NULL) {
        f = alloc_entry(d, name);
        if (f == NULL) {
            free(chunks);
            dx_outbox_log(e->ob, DX_LOG_ERROR, "dfs: file table full, "
                          "ignoring %s", name);
            return;
        }
    } else {
        account(d, f, -1);
        unindex_key(d, f);
        free(f->chunks);
        f->chunks = NULL;
    }
    copy_key(f->key, m->key);
    f->size = m->size;
    f->chunk_size = m->chunk_size;
    f->replicas = m->replicas;
    memcpy(f->sha256, m->sha256, sizeof f->sha256);
    f->sha256[64] = '\0';
    f->created_ms = m->created_ms;
    f->term = m->term;
    f->under_replicated = m->under_replicated;
    f->n_chunks = m->n_chunks;
    f->chunks = chunks;
    index_key(d, f);
    account(d, f, +1);
}

/* Live copies of a chunk (listed and alive) and copies not lost (live or
 * down within the grace period). */
static void copies(const dx_dfs *d, const dx_dfs_env *e, const dx_dfs_chunk *c,
                   uint32_t *live, uint32_t *kept)
{
    *live = *kept = 0;
    for (uint32_t i = 0; i < c->n; i++) {
        if (is_alive(e, c->nodes[i]))
            (*live)++;
        if (!is_lost(d, e, c->nodes[i]))
            (*kept)++;
    }
}

static uint32_t want_copies(const entry *f, size_t alive)
{
    return f->replicas < alive ? f->replicas : (uint32_t)alive;
}

static bool under_replicated(const entry *f, const dx_dfs_env *e)
{
    for (uint32_t i = 0; i < f->n_chunks; i++) {
        uint32_t live = 0;
        for (uint32_t j = 0; j < f->chunks[i].n; j++)
            live += is_alive(e, f->chunks[i].nodes[j]);
        if (live < f->replicas)
            return true;
    }
    return false;
}

static void mark_dirty(dx_dfs *d, entry *f)
{
    if (!f->dirty) {
        f->dirty = true;
        d->n_dirty++;
    }
}

/* Publishes every dirty file again (leader), retained. */
static void flush_dirty(dx_dfs *d, const dx_dfs_env *e)
{
    char topic[DX_DFS_TOPIC_MAX + 1];
    for (uint32_t k = 0; k < d->high && d->n_dirty > 0; k++) {
        entry *f = &d->files[k];
        if (!f->used || !f->dirty)
            continue;
        f->dirty = false;
        d->n_dirty--;
        f->term = e->term;
        f->under_replicated = under_replicated(f, e);
        if (dx_dfs_topic_file(&d->cfg.topics, f->name, topic,
                              sizeof topic) != 0)
            continue;
        file_of(f, &d->file);
        PUBLISH(e, topic, dfs_file, &d->file, DX_DFS_JSON_MAX, true);
    }
}

/* ---- creation ---- */

static bool cfg_ok(const dx_dfs_cfg *c)
{
    if (c->self == 0 || c->topics.root_len == 0 ||
        c->chunk_size < DX_DFS_CHUNK_MIN || c->chunk_size > DX_DFS_CHUNK_MAX ||
        c->chunk_size % DX_DFS_CHUNK_MIN != 0 || c->replicas < 1 ||
        c->replicas > DX_DFS_R_MAX || c->repair_grace_ms < 0 ||
        c->repair_parallel < 1 || c->repair_parallel > PARALLEL_MAX ||
        c->transfer_timeout_ms <= 0 || c->upload_idle_ms <= 0 ||
        c->orphan_age_ms < 0 || c->log_flush_ms < 0)
        return false;
    if (c->log_flush_ms > 0 &&
        (c->log_flush_readings < 1 || c->log_segment_max < 1 ||
         c->log_segment_max > c->chunk_size))
        return false;
    return true;
}

int dx_dfs_create(dx_dfs **out, const dx_dfs_cfg *cfg)
{
    dx_dfs *d;
    int rc = DX_ENOMEM;
    *out = NULL;
    if (cfg == NULL || !cfg_ok(cfg))
        return DX_EINVAL;
    d = calloc(1, sizeof *d);
    if (d == NULL)
        return DX_ENOMEM;
    d->cfg = *cfg;
    d->free_head = UINT32_MAX;
    d->by_name = calloc(INDEX_SLOTS, sizeof *d->by_name);
    d->by_key = calloc(INDEX_SLOTS, sizeof *d->by_key);
    d->bytes = calloc(NODE_SLOTS, sizeof *d->bytes);
    d->planned = calloc(NODE_SLOTS, sizeof *d->planned);
    d->xfers = calloc(cfg->repair_parallel, sizeof *d->xfers);
    if (d->by_name == NULL || d->by_key == NULL || d->bytes == NULL ||
        d->planned == NULL || d->xfers == NULL)
        goto fail;
    {
        int n = snprintf(d->reply_topic, sizeof d->reply_topic,
                         "%s/reply/dfs-n%u", cfg->topics.root,
                         (unsigned)cfg->self);
        if (n < 0 || (size_t)n >= sizeof d->reply_topic) {
            rc = DX_EINVAL;
            goto fail;
        }
    }
    d->scan_at = INT64_MAX;
    d->w_backoff = LOG_BACKOFF_MIN_MS;
    *out = d;
    return 0;
fail:
    dx_dfs_destroy(&d);
    return rc;
}

static void drop_upload(dx_dfs *d, upload *u)
{
    for (uint32_t i = 0; i < u->n_chunks; i++) {
        uint64_t len = chunk_len(u->size, u->chunk_size, i);
        for (uint32_t j = 0; j < u->chunks[i].n_plan; j++) {
            uint64_t *p = &d->planned[u->chunks[i].plan[j]];
            *p = *p > len ? *p - len : 0;
        }
    }
    free(u->chunks);
    memset(u, 0, sizeof *u);
}

static void free_segment(segment *s)
{
    free(s->buf);
    memset(s, 0, sizeof *s);
}

void dx_dfs_destroy(dx_dfs **dp)
{
    dx_dfs *d;
    if (dp == NULL || *dp == NULL)
        return;
    d = *dp;
    for (uint32_t k = 0; k < d->high; k++)
        if (d->files[k].used)
            free(d->files[k].chunks);
    free(d->files);
    for (size_t i = 0; i < UPLOADS_MAX; i++)
        free(d->uploads[i].chunks);
    for (size_t i = 0; i < SENSORS_MAX; i++)
        free(d->segs[i].buf);
    for (size_t i = 0; i < DX_DFS_LOG_PENDING_MAX; i++)
        free(d->pending[i].buf);
    free(d->by_name);
    free(d->by_key);
    free(d->bytes);
    free(d->planned);
    free(d->xfers);
    free(d);
    *dp = NULL;
}

/* ---- every agent ---- */

void dx_dfs_on_file(dx_dfs *d, const char *name, const dx_dfs_file *f,
                    const dx_dfs_env *e)
{
    d->last_now = e->now;
    apply_file(d, name, f, e);
}

int dx_dfs_on_store(dx_dfs *d, const dx_dfs_ref *ref, size_t len,
                    const dx_dfs_env *e)
{
    bool mine = false;
    d->last_now = e->now;
    for (uint32_t i = 0; i < ref->n_nodes && i < DX_DFS_R_MAX; i++)
        mine |= ref->nodes[i] == d->cfg.self;
    if (!mine || len > DX_DFS_CHUNK_MAX || ref->key[0] == '\0')
        return DX_ERANGE;
    act_chunk(e, DX_ACT_DFS_WRITE, ref->key, ref->index, ref->crc, NULL);
    return 0;
}

static void report_bad(dx_dfs *d, const char *key, uint32_t index,
                       const char *reason, const dx_dfs_env *e)
{
    char topic[DX_DFS_TOPIC_MAX + 1];
    dx_dfs_bad b;
    memset(&b, 0, sizeof b);
    copy_key(b.key, key);
    b.index = index;
    b.node = d->cfg.self;
    b.from = d->cfg.self;
    snprintf(b.reason, sizeof b.reason, "%s", reason);
    if (dx_dfs_topic_bad(&d->cfg.topics, topic, sizeof topic) == 0)
        PUBLISH(e, topic, dfs_bad, &b, SMALL_JSON, false);
}

void dx_dfs_on_store_done(dx_dfs *d, bool read, const char *key,
                          uint32_t index, uint32_t crc, int rc,
                          const char *reply_to, const dx_dfs_env *e)
{
    char topic[DX_DFS_TOPIC_MAX + 1];
    d->last_now = e->now;
    if (read) {
        if (rc == 0)
            return;
        if (reply_to != NULL && reply_to[0] != '\0' &&
            !is_store_topic(&d->cfg.topics, reply_to)) {
            dx_action *a = begin_pub(e->ob, reply_to, 0, false);
            if (a != NULL) {
                a->len = 0;
                dx_outbox_commit(e->ob, a);
            }
        }
        report_bad(d, key, index,
                   rc == DX_ECHECKSUM ? "checksum"
                   : rc == DX_ENOTFOUND ? "missing" : "io", e);
        return;
    }
    {
        dx_dfs_stored s;
        memset(&s, 0, sizeof s);
        s.node = d->cfg.self;
        s.index = index;
        s.crc = crc;
        s.ok = rc == 0;
        if (rc != 0)
            dx_text_copy(s.error, sizeof s.error, dx_strerror(rc));
        if (dx_dfs_topic_stored(&d->cfg.topics, key, topic,
                                sizeof topic) == 0)
            PUBLISH(e, topic, dfs_stored, &s, SMALL_JSON, false);
    }
}

int dx_dfs_on_fetch(dx_dfs *d, const dx_dfs_fetch *f, const dx_dfs_env *e)
{
    d->last_now = e->now;
    if (!reply_to_ok(&d->cfg.topics, f->reply_to, true) || f->key[0] == '\0')
        return DX_EINVAL;
    act_chunk(e, DX_ACT_DFS_READ, f->key, f->index, f->crc, f->reply_to);
    return 0;
}

void dx_dfs_on_scrub_item(dx_dfs *d, const char *key, uint32_t index,
                          uint32_t crc, bool ok, int64_t age_ms,
                          const dx_dfs_env *e)
{
    const entry *f;
    d->last_now = e->now;
    if (!ok) {
        report_bad(d, key, index, "checksum", e);
        return;
    }
    f = find_key(d, key);
    if (f == NULL) {
        /* The log writer's own upload is not in the table yet. */
        if (strcmp(key, d->w_key) == 0 && d->phase != W_IDLE)
            return;
        if (age_ms > d->cfg.orphan_age_ms)
            act_chunk(e, DX_ACT_DFS_DELETE, key, index, crc, NULL);
        return;
    }
    if (index >= f->n_chunks || !lists(&f->chunks[index], d->cfg.self))
        act_chunk(e, DX_ACT_DFS_DELETE, key, index, crc, NULL);
}

void dx_dfs_on_scrub_done(dx_dfs *d, uint64_t chunks, uint64_t bad,
                          const dx_dfs_env *e)
{
    d->last_now = e->now;
    note(d, "[DFS] scrub on node %u: %" PRIu64 " chunks checked, %" PRIu64
         " bad", (unsigned)d->cfg.self, chunks, bad);
}

const char *dx_dfs_reply_topic(const dx_dfs *d)
{
    return d->reply_topic;
}

/* ---- the leader: uploads ---- */

static upload *find_upload(dx_dfs *d, const char *key)
{
    for (size_t i = 0; i < UPLOADS_MAX; i++)
        if (d->uploads[i].used && strcmp(d->uploads[i].key, key) == 0)
            return &d->uploads[i];
    return NULL;
}

/* A key no file or upload uses: hex of term, leader id, counter; when too
 * long, the tail (the id and the counter, the parts that differ). */
static void make_key(dx_dfs *d, const dx_dfs_env *e, char out[DX_DFS_KEY_MAX + 1])
{
    char buf[64];
    do {
        int n = snprintf(buf, sizeof buf, "%" PRIx64 "%04x%" PRIx64, e->term,
                         (unsigned)d->cfg.self, ++d->key_counter);
        size_t len = n > 0 ? (size_t)n : 0;
        const char *s = len > DX_DFS_KEY_MAX ? buf + len - DX_DFS_KEY_MAX : buf;
        copy_key(out, s);
    } while (find_key(d, out) != NULL || find_upload(d, out) != NULL);
}

/* Plans every chunk of u (see the opening comment); 0 or DX_ENOMEM. */
static int plan_upload(dx_dfs *d, upload *u, const dx_dfs_env *e)
{
    size_t na = 0;
    uint16_t *ids = malloc((e->n ? e->n : 1) * sizeof *ids);
    uint64_t *load = malloc((e->n ? e->n : 1) * sizeof *load);
    uint32_t want;
    if (ids == NULL || load == NULL) {
        free(ids);
        free(load);
        return DX_ENOMEM;
    }
    for (size_t i = 0; i < e->n; i++)
        if (e->nodes[i].alive) {
            bool dup = false;
            for (size_t j = 0; j < na; j++)
                dup |= ids[j] == e->nodes[i].id;
            if (!dup)
                ids[na++] = e->nodes[i].id;
        }
    sort_ids(ids, na);
    for (size_t i = 0; i < na; i++)
        load[i] = d->bytes[ids[i]] + d->planned[ids[i]];
    want = u->replicas < na ? u->replicas : (uint32_t)na;
    for (uint32_t c = 0; c < u->n_chunks; c++) {
        upchunk *uc = &u->chunks[c];
        uint64_t len = chunk_len(u->size, u->chunk_size, c);
        size_t picked[DX_DFS_R_MAX];
        for (uint32_t r = 0; r < want; r++) {
            size_t best = SIZE_MAX, best_rank = SIZE_MAX;
            for (size_t j = 0; j < na; j++) {
                size_t rank = (j + na - c % na) % na;
                bool taken = false;
                for (uint32_t p = 0; p < r; p++)
                    taken |= picked[p] == j;
                if (taken)
                    continue;
                if (best == SIZE_MAX || load[j] < load[best] ||
                    (load[j] == load[best] && rank < best_rank)) {
                    best = j;
                    best_rank = rank;
                }
            }
            picked[r] = best;
            load[best] += len;
            d->planned[ids[best]] += len;
            uc->plan[uc->n_plan++] = ids[best];
        }
    }
    free(ids);
    free(load);
    return 0;
}

static bool sha_ok(const char *s)
{
    size_t i = 0;
    for (; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return s[64] == '\0';
}

static void req_put(dx_dfs *d, const dx_dfs_req *q, const dx_dfs_env *e)
{
    dx_diag diag;
    upload *u = NULL;
    uint32_t cs = q->chunk_size ? q->chunk_size : d->cfg.chunk_size;
    uint32_t r = q->replicas ? q->replicas : d->cfg.replicas;
    uint64_t max;

    memset(&diag, 0, sizeof diag);
    if (!dx_dfs_name_is_valid(q->name, &diag)) {
        reply_error(d, q, e, "invalid file name '%.*s': %s", 64, q->name,
                    diag.msg[0] ? diag.msg : "not a valid name");
        return;
    }
    if (cs < DX_DFS_CHUNK_MIN || cs > DX_DFS_CHUNK_MAX ||
        cs % DX_DFS_CHUNK_MIN != 0) {
        reply_error(d, q, e, "invalid chunk_size %u: a multiple of %u from "
                    "%u to %u", (unsigned)cs, (unsigned)DX_DFS_CHUNK_MIN,
                    (unsigned)DX_DFS_CHUNK_MIN, (unsigned)DX_DFS_CHUNK_MAX);
        return;
    }
    if (r < 1 || r > DX_DFS_R_MAX) {
        reply_error(d, q, e, "invalid replicas %u: 1 to %u", (unsigned)r,
                    (unsigned)DX_DFS_R_MAX);
        return;
    }
    max = (uint64_t)cs * DX_DFS_CHUNKS_MAX;
    if (q->size > max) {
        reply_error(d, q, e, "file too large: %" PRIu64 " bytes, max %"
                    PRIu64 " (%u chunks of %u bytes)", q->size, max,
                    (unsigned)DX_DFS_CHUNKS_MAX, (unsigned)cs);
        return;
    }
    if (alive_count(e) == 0) {
        reply_error(d, q, e, "no alive node to store on");
        return;
    }
    for (size_t i = 0; i < UPLOADS_MAX && u == NULL; i++)
        if (!d->uploads[i].used)
            u = &d->uploads[i];
    if (u == NULL) {
        reply_error(d, q, e, "too many uploads in progress (%u); try again "
                    "later", (unsigned)UPLOADS_MAX);
        return;
    }
    memset(u, 0, sizeof *u);
    u->n_chunks = (uint32_t)((q->size + cs - 1) / cs);
    if (u->n_chunks > 0 &&
        (u->chunks = calloc(u->n_chunks, sizeof *u->chunks)) == NULL) {
        reply_error(d, q, e, "out of memory");
        return;
    }
    u->used = true;
    snprintf(u->name, sizeof u->name, "%s", q->name);
    u->size = q->size;
    u->chunk_size = cs;
    u->replicas = r;
    u->deadline = e->now + d->cfg.upload_idle_ms;
    {
        char key[DX_DFS_KEY_MAX + 1];
        make_key(d, e, key);     /* before u is found by its own key */
        copy_key(u->key, key);
    }
    if (plan_upload(d, u, e) != 0) {
        drop_upload(d, u);
        reply_error(d, q, e, "out of memory");
        return;
    }
    memset(&d->reply, 0, sizeof d->reply);
    d->reply.ok = true;
    copy_key(d->reply.key, u->key);
    d->reply.chunk_size = cs;
    d->reply.n_plan = u->n_chunks;
    for (uint32_t i = 0; i < u->n_chunks; i++) {
        d->reply.plan[i].n = u->chunks[i].n_plan;
        memcpy(d->reply.plan[i].nodes, u->chunks[i].plan,
               sizeof d->reply.plan[i].nodes);
    }
    send_reply(d, q->reply_to, q->corr, e);
}

static void req_commit(dx_dfs *d, const dx_dfs_req *q, const dx_dfs_env *e)
{
    upload *u = find_upload(d, q->key);
    uint32_t missing[DX_DFS_MISSING_MAX], n_missing = 0, total = 0;
    uint16_t holders[64];
    size_t n_holders = 0;
    char topic[DX_DFS_TOPIC_MAX + 1], list[256];
    dx_dfs_file *m = &d->file;

    if (u == NULL) {
        reply_error(d, q, e, "unknown upload %s: the leader changed or the "
                    "put expired; put again", q->key);
        return;
    }
    if (!sha_ok(q->sha256)) {
        reply_error(d, q, e, "commit of %s needs the file's sha256 (64 "
                    "lowercase hex digits)", u->name);
        return;
    }
    for (uint32_t i = 0; i < u->n_chunks; i++) {
        const upchunk *c = &u->chunks[i];
        bool complete = c->n_acked >= 1;
        for (uint32_t j = 0; j < c->n_plan && complete; j++) {
            bool acked = false;
            for (uint32_t k = 0; k < c->n_acked; k++)
                acked |= c->acked[k] == c->plan[j];
            if (!acked && is_alive(e, c->plan[j]))
                complete = false;
        }
        if (!complete) {
            if (n_missing < DX_DFS_MISSING_MAX)
                missing[n_missing++] = i;
            total++;
        }
    }
    if (total > 0) {
        size_t used = 0;
        list[0] = '\0';
        for (uint32_t i = 0; i < n_missing && used < sizeof list; i++) {
            int w = snprintf(list + used, sizeof list - used, "%s%u",
                             i ? ", " : "", (unsigned)missing[i]);
            if (w < 0)
                break;
            used += (size_t)w;
        }
        char why[DX_TEXT_MAX + DX_DFS_NAME_MAX + 320];
        memset(&d->reply, 0, sizeof d->reply);
        d->reply.ok = false;
        snprintf(why, sizeof why,
                 "%u chunks of %s lack copies: [%s%s]; send them again",
                 (unsigned)total, u->name, list,
                 total > n_missing ? ", ..." : "");
        dx_text_copy(d->reply.error, sizeof d->reply.error, why);
        copy_key(d->reply.key, u->key);
        d->reply.n_missing = n_missing;
        memcpy(d->reply.missing, missing, n_missing * sizeof missing[0]);
        send_reply(d, q->reply_to, q->corr, e);
        return;
    }
    memset(m, 0, offsetof(dx_dfs_file, chunks));
    snprintf(m->name, sizeof m->name, "%s", u->name);
    copy_key(m->key, u->key);
    m->size = u->size;
    m->chunk_size = u->chunk_size;
    m->replicas = u->replicas;
    memcpy(m->sha256, q->sha256, sizeof m->sha256);
    m->created_ms = e->wall;
    m->term = e->term;
    m->n_chunks = u->n_chunks;
    for (uint32_t i = 0; i < u->n_chunks; i++) {
        dx_dfs_chunk *c = &m->chunks[i];
        memset(c, 0, sizeof *c);
        c->crc = u->chunks[i].crc;
        c->n = u->chunks[i].n_acked;
        memcpy(c->nodes, u->chunks[i].acked, c->n * sizeof c->nodes[0]);
        sort_ids(c->nodes, c->n);
        if (c->n < m->replicas)
            m->under_replicated = true;
        for (uint32_t j = 0; j < c->n; j++) {
            bool seen = false;
            for (size_t k = 0; k < n_holders; k++)
                seen |= holders[k] == c->nodes[j];
            if (!seen && n_holders < sizeof holders / sizeof holders[0])
                holders[n_holders++] = c->nodes[j];
        }
    }
    if (dx_dfs_topic_file(&d->cfg.topics, m->name, topic, sizeof topic) != 0) {
        reply_error(d, q, e, "cannot name the metadata topic of %s", m->name);
        return;
    }
    PUBLISH(e, topic, dfs_file, m, DX_DFS_JSON_MAX, true);
    drop_upload(d, u);           /* its bytes move to the table's counters */
    apply_file(d, m->name, m, e);
    sort_ids(holders, n_holders);
    id_list(holders, n_holders, list, sizeof list);
    note(d, "[DFS] %s replicated on nodes [%s]", m->name, list);
    reply_ok(d, q, m->key, e);
}

static void req_rm(dx_dfs *d, const dx_dfs_req *q, const dx_dfs_env *e)
{
    char topic[DX_DFS_TOPIC_MAX + 1];
    entry *f = find_name(d, q->name);
    dx_action *a;
    if (f == NULL) {
        reply_error(d, q, e, "no such file: %s", q->name);
        return;
    }
    if (dx_dfs_topic_file(&d->cfg.topics, q->name, topic, sizeof topic) != 0) {
        reply_error(d, q, e, "cannot name the metadata topic of %s", q->name);
        return;
    }
    a = begin_pub(e->ob, topic, 0, true);
    if (a != NULL) {
        a->len = 0;
        dx_outbox_commit(e->ob, a);
    }
    apply_file(d, q->name, NULL, e);
    note(d, "[DFS] %s removed", q->name);
    reply_ok(d, q, NULL, e);
}

void dx_dfs_on_req(dx_dfs *d, const dx_dfs_req *r, const dx_dfs_env *e)
{
    d->last_now = e->now;
    if (!e->leading) {
        reply_error(d, r, e, "node %u is not the leader", (unsigned)d->cfg.self);
        return;
    }
    switch (r->op) {
    case DX_DFS_OP_PUT:
        req_put(d, r, e);
        break;
    case DX_DFS_OP_COMMIT:
        req_commit(d, r, e);
        break;
    case DX_DFS_OP_ABORT: {
        upload *u = find_upload(d, r->key);
        if (u != NULL)
            drop_upload(d, u);
        reply_ok(d, r, r->key, e);
        break;
    }
    case DX_DFS_OP_RM:
        req_rm(d, r, e);
        break;
    default:
        reply_error(d, r, e, "unknown dfs operation");
        break;
    }
}

/* ---- the leader: repair ---- */

static transfer *find_xfer(dx_dfs *d, const char *key, uint32_t index)
{
    for (uint32_t i = 0; i < d->cfg.repair_parallel; i++)
        if (d->xfers[i].used && d->xfers[i].index == index &&
            strcmp(d->xfers[i].key, key) == 0)
            return &d->xfers[i];
    return NULL;
}

static transfer *free_xfer(dx_dfs *d)
{
    for (uint32_t i = 0; i < d->cfg.repair_parallel; i++)
        if (!d->xfers[i].used)
            return &d->xfers[i];
    return NULL;
}

/* Chooses t's source and target (avoiding the previous ones when another
 * exists) and sends the fetch; false when no source or target exists. */
static bool send_xfer(dx_dfs *d, transfer *t, const entry *f,
                      const dx_dfs_env *e)
{
    const dx_dfs_chunk *c = &f->chunks[t->index];
    uint16_t src[DX_DFS_R_MAX];
    size_t ns = 0;
    uint16_t prev_src = t->source, prev_tgt = t->target;
    char topic[DX_DFS_TOPIC_MAX + 1];
    dx_dfs_fetch fe;

    if (!t->bad) {
        /* the least loaded alive node that holds no copy */
        uint16_t best = 0, alt = 0;
        uint64_t best_load = 0, alt_load = 0;
        for (size_t i = 0; i < e->n; i++) {
            uint16_t id = e->nodes[i].id;
            uint64_t load = d->bytes[id] + d->planned[id];
            if (!e->nodes[i].alive || lists(c, id))
                continue;
            if (best == 0 || load < best_load ||
                (load == best_load && id < best)) {
                best = id;
                best_load = load;
            }
            if (id != prev_tgt && (alt == 0 || load < alt_load ||
                                   (load == alt_load && id < alt))) {
                alt = id;
                alt_load = load;
            }
        }
        t->target = t->attempt > 0 && alt != 0 ? alt : best;
        if (t->target == 0)
            return false;
    } else if (!is_alive(e, t->target)) {
        return false;
    }
    for (uint32_t i = 0; i < c->n; i++)
        if (c->nodes[i] != t->target && is_alive(e, c->nodes[i]))
            src[ns++] = c->nodes[i];
    if (ns == 0)
        return false;
    sort_ids(src, ns);
    {
        size_t k = (t->index + t->attempt) % ns;
        if (src[k] == prev_src && ns > 1 && t->attempt > 0)
            k = (k + 1) % ns;
        t->source = src[k];
    }
    memset(&fe, 0, sizeof fe);
    copy_key(fe.key, f->key);
    fe.index = t->index;
    fe.crc = c->crc;
    if (dx_dfs_topic_store(&d->cfg.topics, &t->target, 1, f->key, t->index,
                           c->crc, fe.reply_to, sizeof fe.reply_to) != 0 ||
        dx_dfs_topic_fetch(&d->cfg.topics, t->source, topic,
                           sizeof topic) != 0)
        return false;
    PUBLISH(e, topic, dfs_fetch, &fe, SMALL_JSON, false);
    t->crc = c->crc;
    t->deadline = e->now + d->cfg.transfer_timeout_ms;
    return true;
}

/* Starts a transfer of chunk `index` of f; true when one was sent. */
static bool start_xfer(dx_dfs *d, entry *f, uint32_t index, uint16_t bad,
                       const dx_dfs_env *e)
{
    transfer *t = free_xfer(d);
    if (t == NULL)
        return false;
    memset(t, 0, sizeof *t);
    copy_key(t->key, f->key);
    t->index = index;
    t->bad = bad != 0;
    t->target = bad;
    if (!send_xfer(d, t, f, e)) {
        memset(t, 0, sizeof *t);
        return false;
    }
    t->used = true;
    f->repairing = true;
    return true;
}

/* Notes once per failure the chunks of each lost node to re-replicate. */
static void note_lost(dx_dfs *d, const dx_dfs_env *e)
{
    /* forget nodes that came back */
    for (size_t i = 0; i < d->n_lost;) {
        const dx_dfs_node *n = node_of(e, d->lost[i].id);
        if (n != NULL && (n->alive || n->down_since != d->lost[i].down_since))
            d->lost[i] = d->lost[--d->n_lost];
        else
            i++;
    }
    for (size_t i = 0; i < e->n; i++) {
        const dx_dfs_node *n = &e->nodes[i];
        uint64_t count = 0;
        bool known = false;
        if (n->alive || !is_lost(d, e, n->id))
            continue;
        for (size_t j = 0; j < d->n_lost; j++)
            known |= d->lost[j].id == n->id;
        if (known || d->n_lost == LOST_MAX)
            continue;
        for (uint32_t k = 0; k < d->high; k++)
            for (uint32_t c = 0; d->files[k].used && c < d->files[k].n_chunks;
                 c++)
                count += lists(&d->files[k].chunks[c], n->id);
        if (count == 0)
            continue;
        d->lost[d->n_lost].id = n->id;
        d->lost[d->n_lost].down_since = n->down_since;
        d->n_lost++;
        note(d, "[DFS] re-replicating %" PRIu64 " chunks of node %u", count,
             (unsigned)n->id);
    }
}

/* The repair scan (see the opening comment). */
static void scan(dx_dfs *d, const dx_dfs_env *e)
{
    size_t na = alive_count(e);
    uint32_t slots = 0;
    bool needy = false;
    int64_t next = INT64_MAX;

    for (uint32_t i = 0; i < d->cfg.repair_parallel; i++)
        slots += !d->xfers[i].used;
    note_lost(d, e);
    for (uint32_t level = 1; level <= DX_DFS_R_MAX; level++) {
        for (uint32_t k = 0; k < d->high; k++) {
            entry *f = &d->files[k];
            uint32_t want = want_copies(f, na);
            if (!f->used)
                continue;
            for (uint32_t c = 0; c < f->n_chunks; c++) {
                uint32_t live, kept;
                copies(d, e, &f->chunks[c], &live, &kept);
                if (kept >= want || live != level)
                    continue;
                needy = true;
                if (slots == 0 || find_xfer(d, f->key, c) != NULL)
                    continue;
                if (start_xfer(d, f, c, 0, e))
                    slots--;
            }
        }
    }
    /* next: a down node's grace expiring, or a periodic look */
    for (size_t i = 0; i < e->n; i++) {
        const dx_dfs_node *n = &e->nodes[i];
        int64_t at = n->down_since + d->cfg.repair_grace_ms;
        if (!n->alive && at > e->now && at < next)
            next = at;
    }
    {
        int64_t periodic = e->now + (needy ? SCAN_MS : REST_MS);
        d->scan_at = periodic < next ? periodic : next;
    }
}

/* A hash of the alive set: a scan runs when it changes. */
static uint64_t alive_sig(const dx_dfs_env *e)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < e->n; i++)
        if (e->nodes[i].alive)
            h = (h ^ e->nodes[i].id) * 1099511628211ull;
    return h;
}

/* Queued bad reports get slots before the scan; a report waits while
 * another transfer of its chunk runs. */
static void run_bads(dx_dfs *d, const dx_dfs_env *e)
{
    size_t i = 0;
    while (i < d->n_bads && free_xfer(d) != NULL) {
        bad_item *b = &d->bads[i];
        entry *f = find_key(d, b->key);
        if (f != NULL && b->index < f->n_chunks) {
            transfer *t = find_xfer(d, b->key, b->index);
            if (t != NULL && !(t->bad && t->target == b->node)) {
                i++;
                continue;
            }
            if (t == NULL && lists(&f->chunks[b->index], b->node) &&
                !start_xfer(d, f, b->index, b->node, e))
                dx_outbox_log(e->ob, DX_LOG_WARN, "dfs: no live source to "
                              "repair chunk %u of %s on node %u",
                              (unsigned)b->index, f->name, (unsigned)b->node);
        }
        memmove(b, b + 1, (d->n_bads - i - 1) * sizeof *b);
        d->n_bads--;
    }
}

void dx_dfs_on_bad(dx_dfs *d, const dx_dfs_bad *b, const dx_dfs_env *e)
{
    entry *f;
    d->last_now = e->now;
    if (!e->leading)
        return;
    f = find_key(d, b->key);
    if (f == NULL || b->index >= f->n_chunks ||
        !lists(&f->chunks[b->index], b->node))
        return;
    {
        transfer *t = find_xfer(d, b->key, b->index);
        if (t != NULL && t->bad && t->target == b->node)
            return;              /* already being repaired */
    }
    note(d, "[DFS] bad copy of chunk %u of %s on node %u: repairing",
         (unsigned)b->index, f->name, (unsigned)b->node);
    if (d->n_bads == BADS_MAX) {
        dx_outbox_log(e->ob, DX_LOG_WARN, "dfs: too many bad reports queued; "
                      "dropping the one of chunk %u of %s", (unsigned)b->index,
                      f->name);
        return;
    }
    copy_key(d->bads[d->n_bads].key, b->key);
    d->bads[d->n_bads].index = b->index;
    d->bads[d->n_bads].node = b->node;
    d->n_bads++;
    run_bads(d, e);
}

/* After a repair changed f: notes when no chunk needs repair any more. */
static void check_restored(dx_dfs *d, entry *f, const dx_dfs_env *e)
{
    size_t na = alive_count(e);
    uint32_t want = want_copies(f, na), least = UINT32_MAX;
    uint16_t holders[64];
    size_t nh = 0;
    char list[256];
    if (!f->repairing)
        return;
    for (uint32_t c = 0; c < f->n_chunks; c++) {
        uint32_t live, kept;
        copies(d, e, &f->chunks[c], &live, &kept);
        if (live < want || find_xfer(d, f->key, c) != NULL)
            return;
        if (live < least)
            least = live;
        for (uint32_t j = 0; j < f->chunks[c].n; j++) {
            bool seen = false;
            for (size_t k = 0; k < nh; k++)
                seen |= holders[k] == f->chunks[c].nodes[j];
            if (!seen && nh < sizeof holders / sizeof holders[0])
                holders[nh++] = f->chunks[c].nodes[j];
        }
    }
    f->repairing = false;
    sort_ids(holders, nh);
    id_list(holders, nh, list, sizeof list);
    note(d, "[DFS] %s restored to %u copies on nodes [%s]", f->name,
         (unsigned)(least == UINT32_MAX ? 0 : least), list);
}

static void writer_req(dx_dfs *d, dx_dfs_op op, const dx_dfs_env *e);

/* The target of t acknowledged a good copy: the metadata lists it. */
static void xfer_done(dx_dfs *d, transfer *t, const dx_dfs_env *e)
{
    entry *f = find_key(d, t->key);
    dx_dfs_chunk *c;
    int replace = -1;
    if (f == NULL || t->index >= f->n_chunks)
        return;
    c = &f->chunks[t->index];
    if (c->crc != t->crc)
        return;
    if (!lists(c, t->target)) {
        /* replace a lost holder, else add, else any holder not alive */
        for (uint32_t j = 0; j < c->n && replace < 0; j++)
            if (is_lost(d, e, c->nodes[j]))
                replace = (int)j;
        if (replace < 0 && c->n >= f->replicas)
            for (uint32_t j = 0; j < c->n && replace < 0; j++)
                if (!is_alive(e, c->nodes[j]))
                    replace = (int)j;
        account(d, f, -1);
        if (replace >= 0)
            c->nodes[replace] = t->target;
        else if (c->n < DX_DFS_R_MAX)
            c->nodes[c->n++] = t->target;
        sort_ids(c->nodes, c->n);
        account(d, f, +1);
        mark_dirty(d, f);
    }
}

void dx_dfs_on_stored(dx_dfs *d, const char *key, const dx_dfs_stored *s,
                      const dx_dfs_env *e)
{
    d->last_now = e->now;
    /* this node's log writer */
    if (d->phase == W_STORE && strcmp(key, d->w_key) == 0 && s->index == 0) {
        bool all = true;
        for (uint32_t i = 0; i < d->w_plan.n; i++) {
            if (d->w_plan.nodes[i] == s->node && s->ok && s->crc == d->w_crc)
                d->w_acked[i] = true;
            all &= d->w_acked[i];
        }
        if (all)
            writer_req(d, DX_DFS_OP_COMMIT, e);
    }
    if (!e->leading)
        return;
    {
        upload *u = find_upload(d, key);
        if (u != NULL && s->index < u->n_chunks) {
            upchunk *c = &u->chunks[s->index];
            if (!s->ok) {
                dx_outbox_log(e->ob, DX_LOG_WARN, "dfs: node %u could not "
                              "store chunk %u of %s: %s", (unsigned)s->node,
                              (unsigned)s->index, u->name, s->error);
            } else if (c->has_crc && c->crc != s->crc) {
                dx_outbox_log(e->ob, DX_LOG_WARN, "dfs: node %u stored chunk "
                              "%u of %s with crc %08x, others %08x; ignored",
                              (unsigned)s->node, (unsigned)s->index, u->name,
                              (unsigned)s->crc, (unsigned)c->crc);
            } else {
                bool seen = false;
                c->crc = s->crc;
                c->has_crc = true;
                for (uint32_t j = 0; j < c->n_acked; j++)
                    seen |= c->acked[j] == s->node;
                if (!seen && c->n_acked < DX_DFS_R_MAX)
                    c->acked[c->n_acked++] = s->node;
            }
            u->deadline = e->now + d->cfg.upload_idle_ms;
        }
    }
    for (uint32_t i = 0; i < d->cfg.repair_parallel; i++) {
        transfer *t = &d->xfers[i];
        if (!t->used || t->target != s->node || t->index != s->index ||
            strcmp(t->key, key) != 0)
            continue;
        if (!s->ok || s->crc != t->crc) {
            dx_outbox_log(e->ob, DX_LOG_WARN, "dfs: repair of chunk %u of %s "
                          "on node %u failed: %s", (unsigned)t->index, t->key,
                          (unsigned)t->target, s->ok ? "wrong crc" : s->error);
            memset(t, 0, sizeof *t);
        } else {
            transfer done = *t;
            entry *f;
            memset(t, 0, sizeof *t);
            xfer_done(d, &done, e);
            if ((f = find_key(d, done.key)) != NULL)
                check_restored(d, f, e);
        }
        d->scan_at = e->now;     /* a slot is free */
    }
    run_bads(d, e);
    flush_dirty(d, e);
}

void dx_dfs_on_leader(dx_dfs *d, const dx_dfs_env *e)
{
    d->last_now = e->now;
    if (e->leading && d->leading) {
        d->scan_at = e->now;     /* still the leader: keep the uploads */
        return;
    }
    for (size_t i = 0; i < UPLOADS_MAX; i++)
        if (d->uploads[i].used)
            drop_upload(d, &d->uploads[i]);
    memset(d->xfers, 0, d->cfg.repair_parallel * sizeof *d->xfers);
    d->n_bads = 0;
    d->n_lost = 0;
    d->leading = e->leading;
    d->scan_at = e->leading ? e->now : INT64_MAX;
    d->alive_sig = alive_sig(e);
}

/* Transfers not acknowledged in time: again from another source/target. */
static void retry_xfers(dx_dfs *d, const dx_dfs_env *e)
{
    for (uint32_t i = 0; i < d->cfg.repair_parallel; i++) {
        transfer *t = &d->xfers[i];
        entry *f;
        if (!t->used || e->now < t->deadline)
            continue;
        f = find_key(d, t->key);
        t->attempt++;
        if (f == NULL || t->index >= f->n_chunks || !send_xfer(d, t, f, e)) {
            memset(t, 0, sizeof *t);
            d->scan_at = e->now;
        }
    }
}

/* ---- sensor logs ---- */

static void close_segment(dx_dfs *d, open_seg *s, const dx_dfs_env *e)
{
    segment *p;
    char name[DX_DFS_NAME_MAX + 2];
    int n;
    if (s->len == 0) {
        free(s->buf);
        memset(s, 0, sizeof *s);
        return;
    }
    n = snprintf(name, sizeof name, "logs/%u/%s/%" PRId64 ".jsonl",
                 (unsigned)d->cfg.self, s->sensor, s->start_wall);
    if (n < 0 || (size_t)n > DX_DFS_NAME_MAX || !dx_dfs_name_is_valid(name, NULL)) {
        dx_outbox_log(e->ob, DX_LOG_WARN, "dfs: cannot name a log segment of "
                      "sensor %s", s->sensor);
        free(s->buf);
        memset(s, 0, sizeof *s);
        return;
    }
    if (d->n_pend == DX_DFS_LOG_PENDING_MAX) {
        segment *old = &d->pending[d->pend_head];
        dx_outbox_log(e->ob, DX_LOG_WARN, "dfs: %u log segments wait; "
                      "dropping %s", (unsigned)DX_DFS_LOG_PENDING_MAX,
                      old->name);
        free_segment(old);
        d->pend_head = (d->pend_head + 1) % DX_DFS_LOG_PENDING_MAX;
        d->n_pend--;
        d->log_dropped++;
        d->phase = W_IDLE;       /* it may have been the one being written */
        d->w_key[0] = '\0';
    }
    p = &d->pending[(d->pend_head + d->n_pend) % DX_DFS_LOG_PENDING_MAX];
    memcpy(p->name, name, (size_t)n + 1);
    p->buf = s->buf;
    p->len = s->len;
    d->n_pend++;
    memset(s, 0, sizeof *s);
}

void dx_dfs_log_append(dx_dfs *d, const char *sensor, const char *line,
                       size_t len, const dx_dfs_env *e)
{
    open_seg *s = NULL, *spare = NULL;
    d->last_now = e->now;
    if (d->cfg.log_flush_ms <= 0)
        return;
    if (!dx_name_is_valid(sensor) || len + 1 > d->cfg.log_segment_max ||
        memchr(line, '\n', len) != NULL) {
        dx_outbox_log(e->ob, DX_LOG_DEBUG, "dfs: reading of %s not logged",
                      sensor);
        return;
    }
    for (size_t i = 0; i < SENSORS_MAX && s == NULL; i++) {
        if (d->segs[i].used && strcmp(d->segs[i].sensor, sensor) == 0)
            s = &d->segs[i];
        else if (!d->segs[i].used && spare == NULL)
            spare = &d->segs[i];
    }
    if (s != NULL && s->len + len + 1 > d->cfg.log_segment_max) {
        close_segment(d, s, e);
        spare = s;
        s = NULL;
    }
    if (s == NULL) {
        if (spare == NULL) {
            dx_outbox_log(e->ob, DX_LOG_WARN, "dfs: more than %u sensors; "
                          "%s is not logged", (unsigned)SENSORS_MAX, sensor);
            return;
        }
        s = spare;
        memset(s, 0, sizeof *s);
        s->used = true;
        snprintf(s->sensor, sizeof s->sensor, "%s", sensor);
        s->opened = e->now;
        s->start_wall = e->wall;
    }
    if (s->len + len + 1 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        char *b;
        while (cap < s->len + len + 1)
            cap *= 2;
        if (cap > d->cfg.log_segment_max)
            cap = d->cfg.log_segment_max;
        if ((b = realloc(s->buf, cap)) == NULL) {
            dx_outbox_log(e->ob, DX_LOG_ERROR, "dfs: out of memory for the "
                          "log of %s", sensor);
            return;
        }
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, line, len);
    s->buf[s->len + len] = '\n';
    s->len += len + 1;
    s->readings++;
    if (s->readings >= d->cfg.log_flush_readings)
        close_segment(d, s, e);
}

static void writer_req(dx_dfs *d, dx_dfs_op op, const dx_dfs_env *e)
{
    const segment *p = &d->pending[d->pend_head];
    char topic[DX_DFS_TOPIC_MAX + 1];
    dx_dfs_req q;
    memset(&q, 0, sizeof q);
    q.op = op;
    if (op == DX_DFS_OP_PUT) {
        snprintf(q.name, sizeof q.name, "%s", p->name);
        q.size = p->len;
    } else {
        dx_sha256 h;
        copy_key(q.key, d->w_key);
        dx_sha256_init(&h);
        dx_sha256_update(&h, p->buf, p->len);
        dx_sha256_final(&h, q.sha256);
    }
    snprintf(q.reply_to, sizeof q.reply_to, "%s", d->reply_topic);
    snprintf(d->w_corr, sizeof d->w_corr, "log-%u-%" PRIu64,
             (unsigned)d->cfg.self, ++d->w_counter);
    snprintf(q.corr, sizeof q.corr, "%s", d->w_corr);
    d->phase = op == DX_DFS_OP_PUT ? W_PUT : W_COMMIT;
    d->w_deadline = e->now + LOG_REPLY_MS;
    if (dx_dfs_topic_req(&d->cfg.topics, topic, sizeof topic) == 0)
        PUBLISH(e, topic, dfs_req, &q, SMALL_JSON, false);
}

static void writer_fail(dx_dfs *d, const char *why, const dx_dfs_env *e)
{
    if (d->n_pend > 0)
        dx_outbox_log(e->ob, DX_LOG_INFO, "dfs: log segment %s not written: "
                      "%s; retrying in %" PRId64 " ms",
                      d->pending[d->pend_head].name, why, d->w_backoff);
    d->phase = W_IDLE;
    d->w_key[0] = '\0';
    d->w_corr[0] = '\0';
    d->w_retry_at = e->now + d->w_backoff;
    d->w_backoff *= 2;
    if (d->w_backoff > LOG_BACKOFF_MAX_MS)
        d->w_backoff = LOG_BACKOFF_MAX_MS;
}

/* Advances the log writer as far as time and answers allow. */
static void writer_run(dx_dfs *d, const dx_dfs_env *e)
{
    if (d->cfg.log_flush_ms <= 0)
        return;
    if (d->phase == W_IDLE && d->n_pend > 0 && e->now >= d->w_retry_at)
        writer_req(d, DX_DFS_OP_PUT, e);
    else if ((d->phase == W_PUT || d->phase == W_COMMIT) &&
             e->now >= d->w_deadline)
        writer_fail(d, "no answer from the leader", e);
    else if (d->phase == W_STORE && e->now >= d->w_deadline)
        writer_req(d, DX_DFS_OP_COMMIT, e);
}

void dx_dfs_on_reply(dx_dfs *d, const dx_dfs_reply *r, const dx_dfs_env *e)
{
    d->last_now = e->now;
    if (d->phase == W_IDLE || d->n_pend == 0 || r->corr[0] == '\0' ||
        strcmp(r->corr, d->w_corr) != 0)
        return;
    d->w_corr[0] = '\0';         /* a duplicate answer is ignored */
    if (!r->ok) {
        writer_fail(d, r->error, e);
        return;
    }
    if (d->phase == W_PUT) {
        const segment *p = &d->pending[d->pend_head];
        char topic[DX_DFS_TOPIC_MAX + 1];
        dx_action *a;
        if (r->n_plan != 1 || r->plan[0].n == 0 || r->chunk_size < p->len ||
            !dx_dfs_key_is_valid(r->key)) {
            writer_fail(d, "unusable plan", e);
            return;
        }
        copy_key(d->w_key, r->key);
        d->w_plan = r->plan[0];
        memset(d->w_acked, 0, sizeof d->w_acked);
        d->w_crc = dx_crc32c(0, p->buf, p->len);
        if (dx_dfs_topic_store(&d->cfg.topics, d->w_plan.nodes, d->w_plan.n,
                               d->w_key, 0, d->w_crc, topic,
                               sizeof topic) != 0) {
            writer_fail(d, "bad plan", e);
            return;
        }
        a = begin_pub(e->ob, topic, p->len, false);
        if (a != NULL) {
            memcpy(dx_outbox_payload(e->ob, a), p->buf, p->len);
            a->len = p->len;
            dx_outbox_commit(e->ob, a);
        }
        d->phase = W_STORE;
        d->w_deadline = e->now + LOG_ACK_MS;
        return;
    }
    if (d->phase == W_COMMIT) {
        free_segment(&d->pending[d->pend_head]);
        d->pend_head = (d->pend_head + 1) % DX_DFS_LOG_PENDING_MAX;
        d->n_pend--;
        d->phase = W_IDLE;
        d->w_key[0] = '\0';
        d->w_backoff = LOG_BACKOFF_MIN_MS;
        d->w_retry_at = e->now;
        writer_run(d, e);
    }
}

/* ---- time ---- */

void dx_dfs_tick(dx_dfs *d, const dx_dfs_env *e)
{
    d->last_now = e->now;
    if (e->leading != d->leading)
        dx_dfs_on_leader(d, e);
    if (e->leading) {
        uint64_t sig = alive_sig(e);
        for (size_t i = 0; i < UPLOADS_MAX; i++) {
            upload *u = &d->uploads[i];
            if (u->used && e->now >= u->deadline) {
                dx_outbox_log(e->ob, DX_LOG_INFO, "dfs: upload %s of %s "
                              "expired", u->key, u->name);
                drop_upload(d, u);
            }
        }
        retry_xfers(d, e);
        run_bads(d, e);
        if (sig != d->alive_sig) {
            d->alive_sig = sig;
            d->scan_at = e->now;
        }
        if (e->now >= d->scan_at)
            scan(d, e);
        flush_dirty(d, e);
    }
    if (d->cfg.log_flush_ms > 0) {
        for (size_t i = 0; i < SENSORS_MAX; i++)
            if (d->segs[i].used &&
                e->now - d->segs[i].opened >= d->cfg.log_flush_ms)
                close_segment(d, &d->segs[i], e);
        writer_run(d, e);
    }
}

int64_t dx_dfs_next_deadline(const dx_dfs *d)
{
    int64_t t = INT64_MAX;
#define EARLIER(x)                                                           \
    do {                                                                     \
        if ((x) < t)                                                         \
            t = (x);                                                         \
    } while (0)
    if (d->leading) {
        EARLIER(d->scan_at);
        for (size_t i = 0; i < UPLOADS_MAX; i++)
            if (d->uploads[i].used)
                EARLIER(d->uploads[i].deadline);
        for (uint32_t i = 0; i < d->cfg.repair_parallel; i++)
            if (d->xfers[i].used)
                EARLIER(d->xfers[i].deadline);
        /* queued bad reports wait for a transfer to end (its ack or its
         * deadline) */
        if (d->n_dirty > 0)
            EARLIER(d->last_now);
    }
    if (d->cfg.log_flush_ms > 0) {
        for (size_t i = 0; i < SENSORS_MAX; i++)
            if (d->segs[i].used)
                EARLIER(d->segs[i].opened + d->cfg.log_flush_ms);
        if (d->phase != W_IDLE)
            EARLIER(d->w_deadline);
        else if (d->n_pend > 0)
            EARLIER(d->w_retry_at);
    }
#undef EARLIER
    return t;
}

bool dx_dfs_take_note(dx_dfs *d, char *buf, size_t cap)
{
    if (d->n_notes == 0)
        return false;
    if (cap > 0)
        dx_text_copy(buf, cap, d->notes[d->note_head]);
    d->note_head = (d->note_head + 1) % NOTES_MAX;
    d->n_notes--;
    return true;
}

/* ---- queries ---- */

size_t dx_dfs_file_count(const dx_dfs *d)
{
    return d->n_files;
}

size_t dx_dfs_under_replicated(const dx_dfs *d, const dx_dfs_env *e)
{
    size_t n = 0;
    for (uint32_t k = 0; k < d->high; k++)
        if (d->files[k].used && under_replicated(&d->files[k], e))
            n++;
    return n;
}

uint64_t dx_dfs_node_bytes(const dx_dfs *d, uint16_t node)
{
    return d->bytes[node];
}

bool dx_dfs_lookup(const dx_dfs *d, const char *name, dx_dfs_file *out)
{
    const entry *f = find_name(d, name);
    if (f == NULL)
        return false;
    file_of(f, out);
    return true;
}

size_t dx_dfs_log_pending(const dx_dfs *d)
{
    return d->n_pend;
}

uint64_t dx_dfs_log_dropped(const dx_dfs *d)
{
    return d->log_dropped;
}
