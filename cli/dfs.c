/*
 * dfs.c - the file commands: put, get, ls, stat, rm, scrub.
 *
 * put asks the leader for a plan (dfs/req op put: a key, the chunk size
 * and the nodes of every chunk), then streams the file: it reads one chunk
 * at a time, hashes it (CRC32C per chunk, a running SHA-256 of the whole)
 * and publishes its raw bytes once on the store topic that reaches exactly
 * the chunk's planned nodes.  A window of at most WINDOW_CHUNKS chunks
 * (and WINDOW_BYTES bytes) not yet acknowledged by every planned node
 * stays in memory, so a chunk can be sent again when its acknowledgements
 * (on dfs/stored/{key}) do not all come within RESEND_MS; after
 * RESENDS_MAX resends the writer stops waiting (a planned node may have
 * died: the leader decides at commit).  Publishes are queued without
 * waiting for each PUBACK, so the broker link stays busy.  commit then
 * names the SHA-256; the leader answers ok, or the chunks it lacks, which
 * are read from the file again and resent (COMMIT_ROUNDS rounds).
 *
 * get reads the retained metadata, then fetches chunks from their holders
 * (round-robin across chunks, offline nodes last) with a window of the
 * same size outstanding; each answer comes on its own reply topic
 * {reply}/c/{index}/{attempt}, is checked (length, CRC32C) and written in
 * order; a bad or missing copy is reported on dfs/bad (a silent holder is
 * not: a dead or hung node is membership's business) and the next holder
 * is tried.  The whole file's SHA-256 is checked at the end; a file
 * written with -o appears (rename) only when it is complete and correct.
 *
 * Cost: put and get hold at most the window (8 chunks, 16 MiB) of file
 * data, plus the broker link's own copies of unacknowledged publishes;
 * per-chunk state is a few bytes.  Messages are taken off the client's
 * list as they are handled (cli_take), so nothing piles up.
 * Limits: one writer per name at a time is the user's business (the last
 * commit wins); ls and stat see what the broker retains.
 */
#include "commands.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "dx_dfs.h"
#include "dx_hash.h"

#define WINDOW_CHUNKS 8
#define WINDOW_BYTES (16u * 1024u * 1024u)
#define RESEND_MS 3000          /* a chunk not acknowledged: send again */
#define RESENDS_MAX 5
#define COMMIT_ROUNDS 3         /* resend-missing-then-commit rounds */
#define PUT_ATTEMPTS 3          /* a put starts again after a leader change */
#define FETCH_MS 3000           /* a fetch not answered: next holder */
#define META_WAIT_MS 1000       /* the retained metadata after SUBACK */
#define PROGRESS_MIN (4u * 1024u * 1024u)
#define PROGRESS_EVERY_MS 200
#define DEFAULT_TIMEOUT_MS 3000

/*
 * The whole file's SHA-256.  The CLI hashes every byte it puts or gets,
 * so it uses libcrypto's, which takes the CPU's SHA instructions where
 * there are some (1.7 GB/s here, against 0.28 GB/s for the portable
 * dx_sha256 the agents use for their small log segments); both give the
 * same digest (test_dfs_it compares the CLI's with the metadata's).
 */
typedef struct file_sha {
    EVP_MD_CTX *ctx;
} file_sha;

static int file_sha_init(file_sha *h)
{
    h->ctx = EVP_MD_CTX_new();
    if (h->ctx == NULL || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(h->ctx);
        h->ctx = NULL;
        fprintf(stderr, "distribux: cannot start a SHA-256\n");
        return -1;
    }
    return 0;
}

static void file_sha_update(file_sha *h, const void *buf, size_t len)
{
    (void)EVP_DigestUpdate(h->ctx, buf, len);
}

/* Writes 64 lowercase hex digits and frees the context. */
static void file_sha_final(file_sha *h, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const char digits[] = "0123456789abcdef";
    hex[0] = '\0';
    if (EVP_DigestFinal_ex(h->ctx, md, &n) == 1 && n == 32) {
        for (unsigned i = 0; i < 32; i++) {
            hex[2 * i] = digits[md[i] >> 4];
            hex[2 * i + 1] = digits[md[i] & 15];
        }
        hex[64] = '\0';
    }
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
}
#define NODE_WORDS (65536 / 64)


static int timeout_of(const cli_opts *o)
{
    return o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
}

/* A correlation id unique to this call and purpose. */
static void make_corr(char corr[DX_CORR_MAX + 1], const char *what, int n)
{
    snprintf(corr, DX_CORR_MAX + 1, "%s-%ld-%d", what, (long)getpid(), n);
}

/* "[1, 2, 3]" of n node ids into buf. */
static const char *nodes_text(const uint16_t *nodes, size_t n, char *buf,
                              size_t cap)
{
    size_t w = (size_t)snprintf(buf, cap, "[");
    for (size_t i = 0; i < n && w < cap; i++)
        w += (size_t)snprintf(buf + w, cap - w, "%s%u", i ? ", " : "",
                              nodes[i]);
    if (w < cap)
        snprintf(buf + w, cap - w, "]");
    return buf;
}

static int by_u16(const void *a, const void *b)
{
    return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/* The distinct nodes holding any chunk of f, sorted, into out (room for
 * `cap`); returns how many. */
static size_t file_nodes(const dx_dfs_file *f, uint16_t *out, size_t cap)
{
    size_t n = 0;
    for (uint32_t i = 0; i < f->n_chunks; i++)
        for (uint32_t k = 0; k < f->chunks[i].n; k++) {
            size_t j = 0;
            while (j < n && out[j] != f->chunks[i].nodes[k])
                j++;
            if (j == n && n < cap)
                out[n++] = f->chunks[i].nodes[k];
        }
    qsort(out, n, sizeof *out, by_u16);
    return n;
}

/* The fewest copies any chunk has (R wanted for a file without chunks). */
static uint32_t file_copies(const dx_dfs_file *f)
{
    uint32_t m = f->replicas;
    for (uint32_t i = 0; i < f->n_chunks; i++)
        if (f->chunks[i].n < m || i == 0)
            m = f->chunks[i].n;
    return m;
}

static bool is_under_replicated(const dx_dfs_file *f)
{
    return f->under_replicated || file_copies(f) < f->replicas;
}

/* Chunks in flight at once: WINDOW_CHUNKS, fewer for large chunks so the
 * window holds at most WINDOW_BYTES (and at least one chunk). */
static uint32_t window_of(uint32_t chunk_size)
{
    uint32_t n = chunk_size > 0 ? WINDOW_BYTES / chunk_size : WINDOW_CHUNKS;
    return n < 1 ? 1 : n > WINDOW_CHUNKS ? WINDOW_CHUNKS : n;
}

static uint64_t chunk_len(uint64_t size, uint32_t chunk_size, uint32_t n,
                          uint32_t i)
{
    return i + 1 < n ? chunk_size : size - (uint64_t)chunk_size * (n - 1);
}

/* ---- progress on a terminal ---- */

typedef struct progress {
    bool on;
    uint64_t total;
    int64_t t0, last;
} progress;

static void progress_init(progress *p, uint64_t total)
{
    p->on = total > PROGRESS_MIN && isatty(STDERR_FILENO);
    p->total = total;
    p->t0 = cli_now_ms();
    p->last = 0;
}

static void progress_show(progress *p, uint64_t done, bool final)
{
    int64_t now = cli_now_ms();
    char bar[11];
    unsigned cells, pct;
    double secs, rate;
    if (!p->on || (!final && now - p->last < PROGRESS_EVERY_MS))
        return;
    p->last = now;
    pct = (unsigned)(done * 100 / p->total);
    cells = (unsigned)(done * 10 / p->total);
    for (unsigned i = 0; i < 10; i++)
        bar[i] = i < cells ? '#' : '.';
    bar[10] = '\0';
    secs = (double)(now - p->t0) / 1000.0;
    rate = secs > 0 ? (double)done / 1048576.0 / secs : 0.0;
    fprintf(stderr, "\r[%s] %3u%% %.1f MiB/s", bar, pct, rate);
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

static void progress_end(progress *p)
{
    if (p->on && p->last != 0)
        fputc('\n', stderr);
    p->on = false;
}

/* ---- the connection ---- */

/* Connects and builds this client's reply topic into reply. */
static cli *open_cli(const cli_opts *o, char reply[DX_TOPIC_MAX + 1])
{
    cli *c = cli_connect(o);
    if (c != NULL &&
        dx_topic_build(cli_topics(c), DX_T_REPLY, 0, cli_client_id(c), reply,
                       DX_TOPIC_MAX + 1) != 0)
        cli_close(&c);
    return c;
}

/* Subscribes to a (and b, when not NULL) without waiting for the SUBACK:
 * what follows is caused by our own later publishes, or bounded by a
 * wait of its own (see cli_subscribe_async). */
static int subscribe2(cli *c, const char *a, const char *b)
{
    const char *f[2] = {a, b};
    return cli_subscribe_async(c, f, b != NULL ? 2 : 1);
}

/* Publishes a request to dfs/req (queued; the reply proves delivery). */
static int send_req(cli *c, const dx_dfs_req *r)
{
    char topic[DX_TOPIC_MAX + 1], buf[2048];
    size_t len;
    if (dx_dfs_topic_req(cli_topics(c), topic, sizeof topic) != 0 ||
        dx_dfs_req_encode(r, buf, sizeof buf, &len) != 0) {
        fprintf(stderr, "distribux: cannot encode the %s request\n",
                dx_dfs_op_name(r->op));
        return -1;
    }
    return cli_publish_async(c, topic, buf, len, 1, false);
}

/* Whether m is a dx_dfs_reply on `reply` with corr; decodes it into out. */
static bool take_reply(const cli_msg *m, const char *reply, const char *corr,
                       dx_dfs_reply *out)
{
    return strcmp(m->topic, reply) == 0 &&
           strstr(m->payload, corr) != NULL &&
           dx_dfs_reply_decode(m->payload, m->plen, out, NULL) == 0 &&
           strcmp(out->corr, corr) == 0;
}

/* Online/offline of every node from the retained nodes/+/state. */
typedef struct liveness {
    uint64_t offline[NODE_WORDS];
} liveness;

static bool is_offline(const liveness *l, uint16_t node)
{
    return (l->offline[node / 64] >> (node % 64)) & 1u;
}

/* Applies m if it is a node state; true when it was one. */
static bool liveness_apply(liveness *l, const cli_msg *m)
{
    dx_msg_state st;
    uint16_t id = m->ref.node;
    if (m->ref.kind != DX_T_NODE_STATE)
        return false;
    if (m->plen == 0 ||
        dx_msg_state_decode(m->payload, m->plen, &st, NULL) != 0 ||
        st.state != DX_WIRE_ONLINE)
        l->offline[id / 64] |= (uint64_t)1 << (id % 64);
    else
        l->offline[id / 64] &= ~((uint64_t)1 << (id % 64));
    return true;
}

static bool is_node_state(const cli_msg *m, void *arg)
{
    (void)arg;
    return m->ref.kind == DX_T_NODE_STATE;
}

static bool is_topic(const cli_msg *m, void *arg)
{
    return strcmp(m->topic, (const char *)arg) == 0;
}

/*
 * Reads the retained metadata of `name` into *f: subscribes to the node
 * states (when l is not NULL; applied to *l) and `also` (may be NULL)
 * first, then to the file's topic, so the states have arrived when the
 * file does.  0; 1 when there is no such file (printed); -1 on error.
 */
static int read_meta(cli *c, const char *cmd, const char *name,
                     const char *also, liveness *l, dx_dfs_file *f)
{
    char topic[DX_DFS_TOPIC_MAX + 1], states[DX_TOPIC_MAX + 1];
    cli_msg *m;
    dx_diag d = {{0}};
    int rc;

    if (dx_dfs_topic_file(cli_topics(c), name, topic, sizeof topic) != 0 ||
        dx_topic_filter(cli_topics(c), DX_T_NODE_STATE, states,
                        sizeof states) != 0) {
        (void)cli_usage_error(cmd, "cannot build the topic of '%s'", name);
        return -1;
    }
    if (l != NULL || also != NULL) {
        if (subscribe2(c, l != NULL ? states : also,
                       l != NULL ? also : NULL) != 0)
            return -1;
    }
    /* The retained metadata follows the SUBACK: one round trip. */
    if (subscribe2(c, topic, NULL) != 0)
        return -1;
    m = cli_take(c, is_topic, topic, META_WAIT_MS);
    if (m == NULL || m->plen == 0) {
        fprintf(stderr, "distribux %s: no such file: %s\n", cmd, name);
        free(m);
        return 1;
    }
    rc = dx_dfs_file_decode(m->payload, m->plen, f, &d);
    free(m);
    if (rc != 0) {
        fprintf(stderr, "distribux %s: the metadata of %s is invalid: %s\n",
                cmd, name, d.msg);
        return -1;
    }
    while (l != NULL && (m = cli_take(c, is_node_state, NULL, 0)) != NULL) {
        liveness_apply(l, m);
        free(m);
    }
    return 0;
}

/* ---- put ---- */

typedef struct put_opts {
    const char *path;
    const char *name;
    long replicas;            /* 0: the leader's default */
    long chunk_kb;            /* 0: the leader's default */
} put_opts;

/* One chunk sent and not yet acknowledged by all its planned nodes. */
typedef struct put_slot {
    bool used;
    uint32_t index;
    size_t len;
    uint32_t crc;
    int64_t sent_at;
    int sends;
    uint8_t *buf;             /* chunk_size bytes, kept across uses */
} put_slot;

typedef struct put_ctx {
    cli *c;
    const cli_opts *o;
    int fd;
    const char *name;
    uint64_t size;
    char reply[DX_TOPIC_MAX + 1];
    char stored[DX_TOPIC_MAX + 1];
    char file[DX_DFS_TOPIC_MAX + 1];
    dx_dfs_reply *plan;       /* the put's answer */
    dx_dfs_reply *ans;        /* the latest other answer */
    const char *want;         /* corr awaited */
    bool answered;
    dx_dfs_file *meta;        /* the committed metadata, if seen */
    bool have_meta;
    uint32_t n_chunks, chunk_size;
    uint32_t *crcs;           /* per chunk, once read */
    uint8_t *acked;           /* per chunk: bit p = plan node p acked */
    put_slot win[WINDOW_CHUNKS];
    size_t win_cap;
    uint64_t sent;            /* bytes sent at least once */
    uint32_t want_replicas;   /* asked for, or the usual default */
    progress pr;
    /* A planned node that dies is not waited for; a new leader does not
     * know this upload: the attempt ends and the put starts again. */
    liveness live;
    char states[DX_TOPIC_MAX + 1];
    char leader_topic[DX_TOPIC_MAX + 1];
    bool leader_changed;
} put_ctx;

static bool chunk_done(const put_ctx *p, uint32_t i)
{
    const dx_dfs_chunk *ch = &p->plan->plan[i];
    for (uint32_t k = 0; k < ch->n; k++)
        if (!(p->acked[i] & (1u << k)) && !is_offline(&p->live, ch->nodes[k]))
            return false;
    return true;
}

static void put_on_stored(put_ctx *p, const cli_msg *m)
{
    dx_dfs_stored s;
    const dx_dfs_chunk *ch;
    if (p->acked == NULL ||
        dx_dfs_stored_decode(m->payload, m->plen, &s, NULL) != 0 ||
        s.index >= p->n_chunks)
        return;
    ch = &p->plan->plan[s.index];
    for (uint32_t k = 0; k < ch->n; k++) {
        if (ch->nodes[k] != s.node)
            continue;
        if (s.ok && s.crc == p->crcs[s.index]) {
            p->acked[s.index] |= (uint8_t)(1u << k);
            return;
        }
        /* The node could not write it: send it again now. */
        for (size_t w = 0; w < p->win_cap; w++)
            if (p->win[w].used && p->win[w].index == s.index)
                p->win[w].sent_at = 0;
        return;
    }
}

/* Handles one message: an ack, an answer awaited, the metadata. */
static void put_handle(put_ctx *p, cli_msg *m)
{
    dx_msg_leader l;
    if (strcmp(m->topic, p->stored) == 0) {
        put_on_stored(p, m);
    } else if (liveness_apply(&p->live, m)) {
        /* applied */
    } else if (m->ref.kind == DX_T_LEADER) {
        /* Another leader than the one that planned: it has no record of
         * this upload (an empty payload: the leader is gone). */
        if (p->plan->node != 0 &&
            (m->plen == 0 ||
             (dx_msg_leader_decode(m->payload, m->plen, &l, NULL) == 0 &&
              l.leader != p->plan->node)))
            p->leader_changed = true;
    } else if (p->want != NULL && !p->answered &&
               take_reply(m, p->reply, p->want, p->ans)) {
        p->answered = true;
    } else if (!p->have_meta && strcmp(m->topic, p->file) == 0 &&
               m->plen > 0 &&
               dx_dfs_file_decode(m->payload, m->plen, p->meta, NULL) == 0 &&
               strcmp(p->meta->key, p->plan->key) == 0) {
        p->have_meta = true;
    }
    free(m);
}

/* Waits up to wait_ms for a message, then handles all that arrived. */
static void put_pump(put_ctx *p, int wait_ms)
{
    cli_msg *m = cli_take(p->c, NULL, NULL, wait_ms > 0 ? wait_ms : 0);
    while (m != NULL) {
        put_handle(p, m);
        m = cli_take(p->c, NULL, NULL, 0);
    }
}

/* Reads chunk i of the file into buf; its length, or -1 (printed). */
static long put_read(put_ctx *p, uint32_t i, uint8_t *buf)
{
    uint64_t want = chunk_len(p->size, p->chunk_size, p->n_chunks, i);
    off_t at = (off_t)((uint64_t)i * p->chunk_size);
    size_t got = 0;
    while (got < want) {
        ssize_t r = pread(p->fd, buf + got, (size_t)want - got,
                          at + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            fprintf(stderr, "distribux put: cannot read %s: %s\n", p->name,
                    r < 0 ? strerror(errno) : "the file shrank while being "
                    "sent");
            return -1;
        }
        got += (size_t)r;
    }
    return (long)got;
}

static int put_send(put_ctx *p, put_slot *s)
{
    char topic[DX_TOPIC_MAX + 1];
    const dx_dfs_chunk *ch = &p->plan->plan[s->index];
    if (dx_dfs_topic_store(cli_topics(p->c), ch->nodes, ch->n, p->plan->key,
                           s->index, s->crc, topic, sizeof topic) != 0) {
        fprintf(stderr, "distribux put: the leader's plan for chunk %" PRIu32
                " names bad nodes\n", s->index);
        return -1;
    }
    s->sent_at = cli_now_ms();
    s->sends++;
    return cli_publish_async(p->c, topic, s->buf, s->len, 1, false);
}

/*
 * Sends chunks list[0..n) (list NULL: every chunk in order, hashed into
 * sha) through the window, and waits until each is acknowledged by all its
 * planned nodes or given up.  0, or -1 (printed).
 */
static int put_stream(put_ctx *p, const uint32_t *list, uint32_t n,
                      file_sha *sha)
{
    uint32_t k = 0;
    for (;;) {
        int64_t now = cli_now_ms(), next = now + RESEND_MS;
        size_t used = 0;
        if (p->leader_changed)
            return -2;
        for (size_t w = 0; w < p->win_cap; w++) {
            put_slot *s = &p->win[w];
            if (s->used && chunk_done(p, s->index))
                s->used = false;
            if (!s->used && k < n) {
                long len;
                s->index = list != NULL ? list[k] : k;
                if (s->buf == NULL &&
                    (s->buf = malloc(p->chunk_size ? p->chunk_size : 1)) ==
                        NULL)
                    return -1;
                if ((len = put_read(p, s->index, s->buf)) < 0)
                    return -1;
                s->len = (size_t)len;
                s->crc = dx_crc32c(0, s->buf, s->len);
                if (sha != NULL)
                    file_sha_update(sha, s->buf, s->len);
                p->crcs[s->index] = s->crc;
                s->sends = 0;
                s->used = true;
                k++;
                if (put_send(p, s) != 0)
                    return -1;
                if (list == NULL) {
                    p->sent += s->len;
                    progress_show(&p->pr, p->sent, false);
                }
            }
            if (!s->used)
                continue;
            if (s->sent_at + RESEND_MS <= now) {
                if (s->sends > RESENDS_MAX) {
                    /* A planned node may be gone: the leader decides. */
                    s->used = false;
                    continue;
                }
                if (put_send(p, s) != 0)
                    return -1;
            }
            used++;
            if (s->sent_at + RESEND_MS < next)
                next = s->sent_at + RESEND_MS;
        }
        if (used == 0 && k == n)
            return 0;
        put_pump(p, (int)(next - cli_now_ms()));
    }
}

/* Sends req and waits for its answer into p->ans; 0, or 1 (printed). */
static int put_ask(put_ctx *p, dx_dfs_req *req, const char *what, int n)
{
    char corr[DX_CORR_MAX + 1];
    int64_t end;
    int timeout = timeout_of(p->o);
    make_corr(corr, what, n);
    snprintf(req->reply_to, sizeof req->reply_to, "%s", p->reply);
    snprintf(req->corr, sizeof req->corr, "%s", corr);
    p->want = corr;
    p->answered = false;
    if (send_req(p->c, req) != 0)
        return 1;
    end = cli_now_ms() + timeout;
    while (!p->answered && !p->leader_changed && cli_now_ms() < end)
        put_pump(p, (int)(end - cli_now_ms()));
    p->want = NULL;
    if (!p->answered && p->leader_changed)
        return 2;
    if (!p->answered) {
        fprintf(stderr, "distribux put: no leader answered within %d ms\n",
                timeout);
        return 1;
    }
    return 0;
}

/* Checks the plan the leader gave against the file; 0 or 1 (printed). */
static int put_check_plan(put_ctx *p)
{
    const dx_dfs_reply *r = p->plan;
    uint64_t want;
    if (!dx_dfs_key_is_valid(r->key) || r->chunk_size < DX_DFS_CHUNK_MIN ||
        r->chunk_size > DX_DFS_CHUNK_MAX)
        goto bad;
    want = (p->size + r->chunk_size - 1) / r->chunk_size;
    if (r->n_plan != want)
        goto bad;
    for (uint32_t i = 0; i < r->n_plan; i++)
        if (r->plan[i].n == 0 || r->plan[i].n > DX_DFS_R_MAX)
            goto bad;
    return 0;
bad:
    fprintf(stderr, "distribux put: the leader's plan does not fit the file "
            "(key '%s', chunk size %" PRIu32 ", %" PRIu32 " chunks)\n",
            r->key, r->chunk_size, r->n_plan);
    return 1;
}

/* What put prints once committed. */
static void put_report(put_ctx *p, const char *sha)
{
    uint16_t nodes[64];
    size_t nn;
    uint32_t copies = 0, replicas;
    bool under;
    char nb[512];

    if (p->have_meta) {
        nn = file_nodes(p->meta, nodes, 64);
        copies = file_copies(p->meta);
        replicas = p->meta->replicas;
        under = is_under_replicated(p->meta);
    } else {
        /* No metadata seen: what the replicas acknowledged to us. */
        nn = 0;
        for (uint32_t i = 0; i < p->n_chunks; i++) {
            uint32_t c = 0;
            const dx_dfs_chunk *ch = &p->plan->plan[i];
            for (uint32_t k = 0; k < ch->n; k++) {
                size_t j = 0;
                if (!(((unsigned)p->acked[i] >> k) & 1u))
                    continue;
                c++;
                while (j < nn && nodes[j] != ch->nodes[k])
                    j++;
                if (j == nn && nn < 64)
                    nodes[nn++] = ch->nodes[k];
            }
            if (i == 0 || c < copies)
                copies = c;
        }
        qsort(nodes, nn, sizeof *nodes, by_u16);
        replicas = 0;
        for (uint32_t i = 0; i < p->n_chunks; i++)
            if (p->plan->plan[i].n > replicas)
                replicas = p->plan->plan[i].n;
        if (p->n_chunks == 0)
            copies = replicas = p->want_replicas;
        under = copies < replicas;
    }
    if (p->o->json) {
        cJSON *j = cJSON_CreateObject(), *a;
        cJSON_AddStringToObject(j, "name", p->name);
        cJSON_AddNumberToObject(j, "size", (double)p->size);
        cJSON_AddNumberToObject(j, "chunks", p->n_chunks);
        cJSON_AddNumberToObject(j, "replicas", copies);
        a = cJSON_AddArrayToObject(j, "nodes");
        for (size_t i = 0; i < nn; i++)
            cJSON_AddItemToArray(a, cJSON_CreateNumber(nodes[i]));
        cJSON_AddStringToObject(j, "sha256", sha);
        cJSON_AddStringToObject(j, "key", p->plan->key);
        cJSON_AddBoolToObject(j, "under_replicated", under);
        cli_print_json(j);
    } else {
        printf("put %s: %" PRIu64 " byte%s, %" PRIu32 " chunk%s, %" PRIu32
               " replica%s on nodes %s (sha256 %s)\n", p->name, p->size,
               p->size == 1 ? "" : "s", p->n_chunks,
               p->n_chunks == 1 ? "" : "s", copies, copies == 1 ? "" : "s",
               nodes_text(nodes, nn, nb, sizeof nb), sha);
    }
    if (under)
        fprintf(stderr, "distribux put: warning: %s is under-replicated "
                "(%" PRIu32 " of %" PRIu32 " copies); the leader will "
                "repair it when nodes are available\n", p->name, copies,
                replicas);
}

static int parse_put(put_opts *po, int argc, char **argv)
{
    memset(po, 0, sizeof *po);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--name") == 0 || strcmp(a, "--replicas") == 0 ||
            strcmp(a, "--chunk-kb") == 0) {
            if (i + 1 >= argc)
                return cli_usage_error("put", "%s: missing value", a);
            if (strcmp(a, "--name") == 0)
                po->name = argv[++i];
            else if (strcmp(a, "--replicas") == 0) {
                if (cli_parse_long(argv[++i], 1, DX_DFS_R_MAX,
                                   &po->replicas) != 0)
                    return cli_usage_error("put", "--replicas: expected 1..%d, "
                                       "got '%s'", DX_DFS_R_MAX, argv[i]);
            } else if (cli_parse_long(argv[++i], DX_DFS_CHUNK_MIN / 1024,
                                      DX_DFS_CHUNK_MAX / 1024,
                                      &po->chunk_kb) != 0 ||
                       po->chunk_kb % (DX_DFS_CHUNK_MIN / 1024) != 0) {
                return cli_usage_error("put", "--chunk-kb: expected a multiple "
                                   "of %d in %d..%u, got '%s'",
                                   DX_DFS_CHUNK_MIN / 1024,
                                   DX_DFS_CHUNK_MIN / 1024,
                                   DX_DFS_CHUNK_MAX / 1024, argv[i]);
            }
        } else if (a[0] == '-' && a[1] != '\0') {
            return cli_usage_error("put", "unknown option '%s' (options: --name "
                               "NAME --replicas R --chunk-kb K)", a);
        } else if (po->path != NULL) {
            return cli_usage_error("put", "unexpected '%s' (usage: put FILE "
                               "[--name NAME] [--replicas R] [--chunk-kb K])",
                               a);
        } else {
            po->path = a;
        }
    }
    if (po->path == NULL)
        return cli_usage_error("put", "expected a file (usage: put FILE [--name "
                           "NAME] [--replicas R] [--chunk-kb K])");
    if (po->name == NULL) {
        const char *slash = strrchr(po->path, '/');
        po->name = slash != NULL ? slash + 1 : po->path;
    }
    return 0;
}

/* Sends the chunks the leader says it lacks; 0 or 1 (printed). */
static int put_resend_missing(put_ctx *p)
{
    uint32_t list[DX_DFS_MISSING_MAX], n = 0;
    for (uint32_t k = 0; k < p->ans->n_missing && n < DX_DFS_MISSING_MAX;
         k++) {
        uint32_t i = p->ans->missing[k];
        if (i >= p->n_chunks)
            continue;
        p->acked[i] = 0;
        list[n++] = i;
    }
    if (n == 0)
        return 1;
    return put_stream(p, list, n, NULL) == 0 ? 0 : 1;
}

/*
 * One attempt of a put: plan, stream, commit.  0 when committed; 1 when
 * refused or failed (printed); 2 when the leader changed under it (the new
 * leader does not know the upload: the caller starts again).
 */
static int put_attempt(put_ctx *p, const put_opts *po, char hex[65])
{
    dx_dfs_req req;
    file_sha sha;
    int rc;

    p->leader_changed = false;
    p->have_meta = false;
    p->sent = 0;
    for (size_t w = 0; w < WINDOW_CHUNKS; w++)
        p->win[w].used = false;
    free(p->crcs);
    free(p->acked);
    p->crcs = NULL;
    p->acked = NULL;
    p->stored[0] = '\0';          /* late acks of an earlier attempt */
    p->plan->node = 0;            /* no plan yet: no leader to lose */
    memset(&req, 0, sizeof req);
    req.op = DX_DFS_OP_PUT;
    snprintf(req.name, sizeof req.name, "%s", p->name);
    req.size = p->size;
    req.chunk_size = (uint32_t)po->chunk_kb * 1024u;
    req.replicas = (uint32_t)po->replicas;
    if ((rc = put_ask(p, &req, "put", 0)) != 0)
        return rc;
    if (!p->ans->ok) {
        fprintf(stderr, "distribux put: the leader (node %u) refused %s: "
                "%s\n", p->ans->node, p->name, p->ans->error);
        return 1;
    }
    /* Keep the plan; later answers go to p->ans. */
    {
        dx_dfs_reply *t = p->plan;
        p->plan = p->ans;
        p->ans = t;
    }
    if (put_check_plan(p) != 0)
        return 1;
    p->chunk_size = p->plan->chunk_size;
    p->n_chunks = p->plan->n_plan;
    p->crcs = calloc(p->n_chunks + 1, sizeof *p->crcs);
    p->acked = calloc(p->n_chunks + 1, 1);
    if (p->crcs == NULL || p->acked == NULL)
        return 1;
    p->win_cap = window_of(p->chunk_size);
    if (dx_dfs_topic_stored(cli_topics(p->c), p->plan->key, p->stored,
                            sizeof p->stored) != 0 ||
        subscribe2(p->c, p->stored, NULL) != 0)
        return 1;

    progress_init(&p->pr, p->size);
    if (file_sha_init(&sha) != 0)
        return 1;
    rc = put_stream(p, NULL, p->n_chunks, &sha);
    file_sha_final(&sha, hex);
    if (rc != 0)
        return rc == -2 ? 2 : 1;
    progress_show(&p->pr, p->sent, true);
    p->pr.on = false;

    memset(&req, 0, sizeof req);
    req.op = DX_DFS_OP_COMMIT;
    snprintf(req.key, sizeof req.key, "%s", p->plan->key);
    snprintf(req.sha256, sizeof req.sha256, "%s", hex);
    for (int round = 0;; round++) {
        if ((rc = put_ask(p, &req, "commit", round)) != 0)
            return rc;
        if (p->ans->ok)
            break;
        if (p->leader_changed || p->ans->node != p->plan->node)
            return 2;             /* a new leader: "unknown upload" */
        if (p->ans->n_missing == 0 || round == COMMIT_ROUNDS ||
            put_resend_missing(p) != 0) {
            fprintf(stderr, "distribux put: the leader (node %u) did not "
                    "commit %s: %s\n", p->ans->node, p->name, p->ans->error);
            return 1;
        }
    }
    /* The leader publishes the metadata before it answers; it may still
     * be on its way to us. */
    {
        int64_t end = cli_now_ms() + META_WAIT_MS;
        while (!p->have_meta && cli_now_ms() < end)
            put_pump(p, (int)(end - cli_now_ms()));
    }
    return 0;
}

static int cmd_put(const cli_opts *o, int argc, char **argv)
{
    put_opts po;
    put_ctx p;
    dx_diag d = {{0}};
    struct stat st;
    char hex[65];
    int rc;

    if ((rc = parse_put(&po, argc, argv)) != 0)
        return rc;
    if (!dx_dfs_name_is_valid(po.name, &d))
        return cli_usage_error("put", "invalid name '%s': %s", po.name, d.msg);
    memset(&p, 0, sizeof p);
    p.o = o;
    p.name = po.name;
    p.want_replicas = po.replicas > 0 ? (uint32_t)po.replicas
                                      : DX_DFS_R_DEFAULT;
    p.fd = open(po.path, O_RDONLY | O_CLOEXEC);
    if (p.fd < 0)
        return cli_usage_error("put", "cannot read %s: %s", po.path,
                           strerror(errno));
    rc = 2;
    if (fstat(p.fd, &st) != 0) {
        cli_usage_error("put", "cannot read %s: %s", po.path, strerror(errno));
        goto close_fd;
    }
    if (S_ISDIR(st.st_mode)) {
        cli_usage_error("put", "%s is a directory", po.path);
        goto close_fd;
    }
    if (!S_ISREG(st.st_mode)) {
        cli_usage_error("put", "%s is not a regular file", po.path);
        goto close_fd;
    }
    p.size = (uint64_t)st.st_size;
    if (po.chunk_kb > 0 &&
        p.size > (uint64_t)po.chunk_kb * 1024u * DX_DFS_CHUNKS_MAX) {
        cli_usage_error("put", "%s: %" PRIu64 " bytes is more than %d chunks of "
                    "%ld KiB", po.path, p.size, DX_DFS_CHUNKS_MAX,
                    po.chunk_kb);
        goto close_fd;
    }
    rc = 1;
    p.plan = calloc(1, sizeof *p.plan);
    p.ans = calloc(1, sizeof *p.ans);
    p.meta = calloc(1, sizeof *p.meta);
    if (p.plan == NULL || p.ans == NULL || p.meta == NULL)
        goto free_bufs;
    if ((p.c = open_cli(o, p.reply)) == NULL)
        goto free_bufs;
    if (dx_dfs_topic_file(cli_topics(p.c), p.name, p.file,
                          sizeof p.file) != 0 ||
        dx_topic_filter(cli_topics(p.c), DX_T_NODE_STATE, p.states,
                        sizeof p.states) != 0 ||
        dx_topic_build(cli_topics(p.c), DX_T_LEADER, 0, NULL, p.leader_topic,
                       sizeof p.leader_topic) != 0 ||
        subscribe2(p.c, p.reply, p.file) != 0 ||
        subscribe2(p.c, p.states, p.leader_topic) != 0)
        goto close_cli;

    for (int attempt = 1;; attempt++) {
        rc = put_attempt(&p, &po, hex);
        if (rc != 2 || attempt == PUT_ATTEMPTS)
            break;
        fprintf(stderr, "distribux put: the leader changed during the put "
                "of %s; starting again with the new leader\n", p.name);
        /* Let the election finish and the new leader's view settle. */
        put_pump(&p, 1000);
    }
    if (rc == 2) {
        fprintf(stderr, "distribux put: the leader kept changing; %s was "
                "not stored (nothing is listed): put again\n", p.name);
        rc = 1;
    }
    if (rc != 0)
        goto close_cli;
    put_report(&p, hex);
close_cli:
    /* Nothing to flush: the answers prove every message arrived. */
    progress_end(&p.pr);
    cli_close(&p.c);
free_bufs:
    for (size_t w = 0; w < WINDOW_CHUNKS; w++)
        free(p.win[w].buf);
    free(p.crcs);
    free(p.acked);
    free(p.plan);
    free(p.ans);
    free(p.meta);
close_fd:
    close(p.fd);
    return rc;
}

/* ---- get ---- */

typedef struct get_slot {
    bool used;
    uint32_t index;
    uint32_t attempt;                 /* of the fetch in flight, 1.. */
    uint8_t order[DX_DFS_R_MAX];      /* holder positions, in try order */
    uint32_t next;                    /* next entry of order to try */
    uint16_t tried[DX_DFS_R_MAX];
    uint32_t n_tried;
    uint16_t node;                    /* holder asked now */
    int64_t deadline;
    cli_msg *data;                    /* verified bytes, waiting their turn */
} get_slot;

typedef struct get_ctx {
    cli *c;
    const char *name;
    const dx_dfs_file *f;
    char reply[DX_TOPIC_MAX + 1];
    char prefix[DX_TOPIC_MAX + 8];    /* "{reply}/c/" */
    liveness *live;
    get_slot win[WINDOW_CHUNKS];
    uint32_t win_cap;                 /* window_of(chunk_size) */
    bool failed;
    bool reported;                    /* a bad copy was reported */
} get_ctx;

static void get_report_bad(get_ctx *g, uint32_t index, uint16_t node,
                           const char *reason)
{
    char topic[DX_TOPIC_MAX + 1], buf[512];
    dx_dfs_bad b;
    size_t len;
    memset(&b, 0, sizeof b);
    snprintf(b.key, sizeof b.key, "%s", g->f->key);
    b.index = index;
    b.node = node;
    b.from = 0;
    snprintf(b.reason, sizeof b.reason, "%s", reason);
    if (dx_dfs_topic_bad(cli_topics(g->c), topic, sizeof topic) == 0 &&
        dx_dfs_bad_encode(&b, buf, sizeof buf, &len) == 0 &&
        cli_publish_async(g->c, topic, buf, len, 1, false) == 0)
        g->reported = true;
}

/* Asks the slot's next holder; false (printed) when none is left. */
static bool get_request(get_ctx *g, get_slot *s)
{
    const dx_dfs_chunk *ch = &g->f->chunks[s->index];
    char topic[DX_TOPIC_MAX + 1], buf[1024], nb[64];
    dx_dfs_fetch fe;
    size_t len;

    if (s->next >= ch->n) {
        fprintf(stderr, "distribux get: chunk %" PRIu32 " of %s: no good "
                "copy (tried nodes %s)\n", s->index, g->name,
                nodes_text(s->tried, s->n_tried, nb, sizeof nb));
        g->failed = true;
        return false;
    }
    s->node = ch->nodes[s->order[s->next++]];
    s->tried[s->n_tried++] = s->node;
    s->attempt++;
    memset(&fe, 0, sizeof fe);
    snprintf(fe.key, sizeof fe.key, "%s", g->f->key);
    fe.index = s->index;
    fe.crc = ch->crc;
    snprintf(fe.reply_to, sizeof fe.reply_to, "%s%" PRIu32 "/%" PRIu32,
             g->prefix, s->index, s->attempt);
    s->deadline = cli_now_ms() + FETCH_MS;
    if (dx_dfs_topic_fetch(cli_topics(g->c), s->node, topic, sizeof topic) !=
            0 ||
        dx_dfs_fetch_encode(&fe, buf, sizeof buf, &len) != 0 ||
        cli_publish_async(g->c, topic, buf, len, 1, false) != 0) {
        /* This holder cannot be asked; the timeout moves on. */
        s->deadline = cli_now_ms();
    }
    return true;
}

static bool get_start(get_ctx *g, get_slot *s, uint32_t index)
{
    const dx_dfs_chunk *ch = &g->f->chunks[index];
    uint32_t n = 0;
    memset(s, 0, sizeof *s);
    s->used = true;
    s->index = index;
    /* Round-robin across chunks, online holders first. */
    for (int pass = 0; pass < 2; pass++)
        for (uint32_t k = 0; k < ch->n; k++) {
            uint32_t pos = (index + k) % ch->n;
            if (is_offline(g->live, ch->nodes[pos]) == (pass == 1))
                s->order[n++] = (uint8_t)pos;
        }
    return get_request(g, s);
}

/* Parses "{prefix}{index}/{attempt}"; false for anything else. */
static bool get_parse_reply(const get_ctx *g, const char *topic,
                            uint32_t *index, uint32_t *attempt)
{
    size_t pl = strlen(g->prefix);
    long i, a;
    char ib[16];
    const char *rest, *slash;
    if (strncmp(topic, g->prefix, pl) != 0)
        return false;
    rest = topic + pl;
    slash = strchr(rest, '/');
    if (slash == NULL || (size_t)(slash - rest) >= sizeof ib ||
        slash == rest)
        return false;
    memcpy(ib, rest, (size_t)(slash - rest));
    ib[slash - rest] = '\0';
    if (cli_parse_long(ib, 0, DX_DFS_CHUNKS_MAX - 1, &i) != 0 ||
        cli_parse_long(slash + 1, 1, 1000, &a) != 0)
        return false;
    *index = (uint32_t)i;
    *attempt = (uint32_t)a;
    return true;
}

/* Handles one message (consumes m). */
static void get_handle(get_ctx *g, cli_msg *m)
{
    uint32_t index, attempt;
    get_slot *s;
    const dx_dfs_chunk *ch;
    uint64_t want;

    if (liveness_apply(g->live, m) ||
        !get_parse_reply(g, m->topic, &index, &attempt) ||
        index >= g->f->n_chunks)
        goto drop;
    s = &g->win[index % g->win_cap];
    if (!s->used || s->index != index || s->data != NULL)
        goto drop;
    ch = &g->f->chunks[index];
    want = chunk_len(g->f->size, g->f->chunk_size, g->f->n_chunks, index);
    if (m->plen == want && dx_crc32c(0, m->payload, m->plen) == ch->crc) {
        s->data = m;
        return;
    }
    /* A late answer of an earlier attempt: that holder was handled. */
    if (attempt != s->attempt)
        goto drop;
    get_report_bad(g, index, s->node, m->plen == 0 ? "missing" : "checksum");
    (void)get_request(g, s);
drop:
    free(m);
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Fetches every chunk in order into fd; 0, or 1 (printed). */
static int get_stream(get_ctx *g, int fd, const char *out_name, char hex[65])
{
    const dx_dfs_file *f = g->f;
    uint32_t next_write = 0, next_req = 0;
    uint64_t done = 0;
    file_sha sha;
    progress pr;
    int rc = 1;

    if (file_sha_init(&sha) != 0)
        return 1;
    progress_init(&pr, f->size);
    while (next_write < f->n_chunks && !g->failed) {
        int64_t now, next;
        get_slot *s;
        cli_msg *m;
        while (next_req < f->n_chunks &&
               next_req < next_write + g->win_cap && !g->failed) {
            (void)get_start(g, &g->win[next_req % g->win_cap], next_req);
            next_req++;
        }
        s = &g->win[next_write % g->win_cap];
        if (s->data != NULL) {
            if (write_all(fd, s->data->payload, s->data->plen) != 0) {
                fprintf(stderr, "distribux get: cannot write %s: %s\n",
                        out_name, strerror(errno));
                goto out;
            }
            file_sha_update(&sha, s->data->payload, s->data->plen);
            done += s->data->plen;
            free(s->data);
            s->data = NULL;
            s->used = false;
            next_write++;
            progress_show(&pr, done, false);
            continue;
        }
        now = cli_now_ms();
        next = now + FETCH_MS;
        for (size_t w = 0; w < g->win_cap && !g->failed; w++) {
            get_slot *t = &g->win[w];
            if (!t->used || t->data != NULL)
                continue;
            if (t->deadline <= now)
                (void)get_request(g, t);
            if (t->deadline < next)
                next = t->deadline;
        }
        if (g->failed)
            break;
        m = cli_take(g->c, NULL, NULL, (int)(next > now ? next - now : 0));
        while (m != NULL) {
            get_handle(g, m);
            m = cli_take(g->c, NULL, NULL, 0);
        }
    }
    if (g->failed)
        goto out;
    progress_show(&pr, done, true);
    pr.on = false;
    rc = 0;
out:
    file_sha_final(&sha, hex);
    progress_end(&pr);
    for (size_t w = 0; w < WINDOW_CHUNKS; w++) {
        free(g->win[w].data);
        g->win[w].data = NULL;
    }
    return rc;
}

static int cmd_get(const cli_opts *o, int argc, char **argv)
{
    const char *name = NULL, *out = NULL;
    char part[4096], hex[65], filt[DX_TOPIC_MAX + 8];
    dx_dfs_file *f = NULL;
    dx_diag d = {{0}};
    get_ctx g;
    int fd = -1, rc;
    bool to_file;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) {
            if (i + 1 >= argc)
                return cli_usage_error("get", "%s: missing file", argv[i]);
            out = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return cli_usage_error("get", "unknown option '%s' (options: -o "
                               "FILE)", argv[i]);
        } else if (name != NULL) {
            return cli_usage_error("get", "unexpected '%s' (usage: get NAME [-o "
                               "FILE])", argv[i]);
        } else {
            name = argv[i];
        }
    }
    if (name == NULL)
        return cli_usage_error("get", "expected a file name (usage: get NAME "
                           "[-o FILE])");
    if (!dx_dfs_name_is_valid(name, &d))
        return cli_usage_error("get", "invalid name '%s': %s", name, d.msg);
    to_file = out != NULL && strcmp(out, "-") != 0;
    if (to_file && (size_t)snprintf(part, sizeof part, "%s.part-%ld", out,
                                    (long)getpid()) >= sizeof part)
        return cli_usage_error("get", "-o: the path is too long");

    memset(&g, 0, sizeof g);
    g.name = name;
    rc = 1;
    if ((f = calloc(1, sizeof *f)) == NULL ||
        (g.live = calloc(1, sizeof *g.live)) == NULL)
        goto free_all;
    if ((g.c = open_cli(o, g.reply)) == NULL)
        goto free_all;
    snprintf(filt, sizeof filt, "%s/#", g.reply);
    snprintf(g.prefix, sizeof g.prefix, "%s/c/", g.reply);
    if ((rc = read_meta(g.c, "get", name, filt, g.live, f)) != 0) {
        rc = 1;
        goto close_cli;
    }
    rc = 1;
    g.f = f;
    g.win_cap = window_of(f->chunk_size);
    if (to_file) {
        fd = open(part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0) {
            fprintf(stderr, "distribux get: cannot create %s: %s\n", part,
                    strerror(errno));
            goto close_cli;
        }
    } else {
        fd = STDOUT_FILENO;
    }
    if (get_stream(&g, fd, to_file ? out : "stdout", hex) != 0)
        goto close_out;
    if (strcmp(hex, f->sha256) != 0) {
        fprintf(stderr, "distribux get: %s: the SHA-256 of the data (%s) is "
                "not the file's (%s)\n", name, hex, f->sha256);
        goto close_out;
    }
    if (to_file) {
        if (fsync(fd) != 0 || close(fd) != 0) {
            fd = -1;
            fprintf(stderr, "distribux get: cannot write %s: %s\n", out,
                    strerror(errno));
            goto close_out;
        }
        fd = -1;
        if (rename(part, out) != 0) {
            fprintf(stderr, "distribux get: cannot rename %s to %s: %s\n",
                    part, out, strerror(errno));
            goto close_out;
        }
        if (o->json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "name", name);
            cJSON_AddStringToObject(j, "file", out);
            cJSON_AddNumberToObject(j, "size", (double)f->size);
            cJSON_AddNumberToObject(j, "chunks", f->n_chunks);
            cJSON_AddStringToObject(j, "sha256", f->sha256);
            cli_print_json(j);
        } else {
            printf("got %s: %" PRIu64 " byte%s into %s (sha256 %s)\n", name,
                   f->size, f->size == 1 ? "" : "s", out, f->sha256);
        }
    } else if (fflush(stdout) != 0) {
        goto close_out;
    }
    rc = 0;
close_out:
    if (to_file) {
        if (fd >= 0)
            close(fd);
        if (rc != 0)
            (void)unlink(part);
    }
close_cli:
    if (g.reported)
        (void)cli_flush(g.c, 1000);   /* the bad-copy reports */
    cli_close(&g.c);
free_all:
    free(g.live);
    free(f);
    return rc;
}

/* ---- ls ---- */

typedef struct ls_row {
    char name[DX_DFS_NAME_MAX + 1];
    uint64_t size;
    uint32_t chunks, replicas, copies;
    bool under;
    char sha256[65];
    int64_t created_ms;
} ls_row;

static int by_name(const void *a, const void *b)
{
    return strcmp(((const ls_row *)a)->name, ((const ls_row *)b)->name);
}

static int cmd_ls(const cli_opts *o, int argc, char **argv)
{
    const char *prefix = argc > 1 ? argv[1] : "";
    char filter[DX_TOPIC_MAX + 1], reply[DX_TOPIC_MAX + 1];
    dx_dfs_file *f;
    ls_row *rows = NULL;
    size_t n = 0, cap = 0;
    cli *c;

    if (argc > 2)
        return cli_usage_error("ls", "unexpected '%s' (usage: ls [PREFIX])",
                           argv[2]);
    if (argc > 1 && argv[1][0] == '-')
        return cli_usage_error("ls", "unknown option '%s' (usage: ls [PREFIX])",
                           argv[1]);
    if ((f = calloc(1, sizeof *f)) == NULL)
        return 1;
    if ((c = open_cli(o, reply)) == NULL) {
        free(f);
        return 1;
    }
    if (dx_dfs_filter_files(cli_topics(c), filter, sizeof filter) != 0 ||
        cli_subscribe(c, (const char *const[]){filter}, 1) != 0) {
        cli_close(&c);
        free(f);
        return 1;
    }
    cli_settle(c, 300, 2000);
    for (cli_msg *m; (m = cli_take(c, NULL, NULL, 0)) != NULL; free(m)) {
        ls_row *r = NULL;
        if (m->plen == 0 ||
            dx_dfs_file_decode(m->payload, m->plen, f, NULL) != 0 ||
            strncmp(f->name, prefix, strlen(prefix)) != 0)
            continue;
        /* A file updated while we listened: keep the latest. */
        for (size_t i = 0; i < n && r == NULL; i++)
            if (strcmp(rows[i].name, f->name) == 0)
                r = &rows[i];
        if (r == NULL) {
            if (n == cap) {
                ls_row *t = realloc(rows, (cap = cap ? cap * 2 : 32) *
                                              sizeof *rows);
                if (t == NULL) {
                    free(m);
                    break;
                }
                rows = t;
            }
            r = &rows[n++];
        }
        snprintf(r->name, sizeof r->name, "%s", f->name);
        r->size = f->size;
        r->chunks = f->n_chunks;
        r->replicas = f->replicas;
        r->copies = file_copies(f);
        r->under = is_under_replicated(f);
        snprintf(r->sha256, sizeof r->sha256, "%s", f->sha256);
        r->created_ms = f->created_ms;
    }
    cli_close(&c);
    free(f);
    if (n > 0)
        qsort(rows, n, sizeof *rows, by_name);
    if (o->json) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; i < n; i++) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "name", rows[i].name);
            cJSON_AddNumberToObject(j, "size", (double)rows[i].size);
            cJSON_AddNumberToObject(j, "chunks", rows[i].chunks);
            cJSON_AddNumberToObject(j, "replicas", rows[i].replicas);
            cJSON_AddNumberToObject(j, "copies", rows[i].copies);
            cJSON_AddBoolToObject(j, "under_replicated", rows[i].under);
            cJSON_AddStringToObject(j, "sha256", rows[i].sha256);
            cJSON_AddNumberToObject(j, "created_ms",
                                    (double)rows[i].created_ms);
            cJSON_AddItemToArray(arr, j);
        }
        cli_print_json(arr);
    } else if (n == 0) {
        printf("No files%s%s.\n", prefix[0] ? " under " : "", prefix);
    } else {
        int w = 4;
        for (size_t i = 0; i < n; i++)
            if ((int)strlen(rows[i].name) > w)
                w = (int)strlen(rows[i].name);
        printf("%-*s %12s %6s %8s %s\n", w, "NAME", "SIZE", "CHUNKS",
               "REPLICAS", "STATE");
        for (size_t i = 0; i < n; i++)
            printf("%-*s %12" PRIu64 " %6" PRIu32 " %4" PRIu32 "/%-3" PRIu32
                   " %s\n", w, rows[i].name, rows[i].size, rows[i].chunks,
                   rows[i].copies, rows[i].replicas,
                   rows[i].under ? "under-replicated" : "ok");
    }
    free(rows);
    return 0;
}

/* ---- stat ---- */

static int cmd_stat(const cli_opts *o, int argc, char **argv)
{
    char reply[DX_TOPIC_MAX + 1], when[CLI_WALL_TEXT_MAX];
    dx_dfs_file *f;
    liveness *live;
    dx_diag d = {{0}};
    cli *c;
    int rc = 1;

    if (argc != 2 || argv[1][0] == '-')
        return cli_usage_error("stat", "%s '%s' (usage: stat NAME)",
                           argc > 1 && argv[1][0] == '-' ? "unknown option"
                                                         : "expected one "
                                                           "name, got",
                           argc > 1 ? argv[argc - 1] : "");
    if (!dx_dfs_name_is_valid(argv[1], &d))
        return cli_usage_error("stat", "invalid name '%s': %s", argv[1], d.msg);
    f = calloc(1, sizeof *f);
    live = calloc(1, sizeof *live);
    if (f == NULL || live == NULL || (c = open_cli(o, reply)) == NULL) {
        free(f);
        free(live);
        return 1;
    }
    if (read_meta(c, "stat", argv[1], NULL, live, f) != 0)
        goto out;
    rc = 0;
    if (o->json) {
        size_t len;
        char *buf = malloc(DX_DFS_JSON_MAX + 1);
        if (buf == NULL || dx_dfs_file_encode(f, buf, DX_DFS_JSON_MAX + 1,
                                              &len) != 0) {
            fprintf(stderr, "distribux stat: cannot encode the metadata\n");
            rc = 1;
        } else {
            puts(buf);
        }
        free(buf);
        goto out;
    }
    printf("Name        %s\nKey         %s\nSize        %" PRIu64 " bytes\n"
           "Chunk size  %" PRIu32 " bytes\nChunks      %" PRIu32 "\n"
           "SHA-256     %s\nCreated     %s\nTerm        %" PRIu64 "\n"
           "Replicas    %" PRIu32 " wanted, %" PRIu32 " copies at least\n"
           "State       %s\n",
           f->name, f->key, f->size, f->chunk_size, f->n_chunks, f->sha256,
           cli_wall_text(f->created_ms, when), f->term, f->replicas,
           file_copies(f), is_under_replicated(f) ? "under-replicated" : "ok");
    if (f->n_chunks > 0)
        printf("%-6s %-8s %s\n", "CHUNK", "CRC32C", "NODES");
    for (uint32_t i = 0; i < f->n_chunks; i++) {
        char crc[9];
        dx_dfs_crc_hex(f->chunks[i].crc, crc);
        printf("%-6" PRIu32 " %-8s ", i, crc);
        for (uint32_t k = 0; k < f->chunks[i].n; k++) {
            uint16_t id = f->chunks[i].nodes[k];
            printf("%s%u%s", k ? ", " : "", id,
                   is_offline(live, id) ? " (offline)" : "");
        }
        printf("%s\n", f->chunks[i].n == 0 ? "-" : "");
    }
out:
    cli_close(&c);
    free(f);
    free(live);
    return rc;
}

/* ---- rm ---- */

static int cmd_rm(const cli_opts *o, int argc, char **argv)
{
    char reply[DX_TOPIC_MAX + 1], corr[DX_CORR_MAX + 1];
    dx_dfs_reply *r;
    dx_dfs_req req;
    dx_diag d = {{0}};
    int timeout = timeout_of(o), rc = 1;
    bool got = false;
    int64_t end;
    cli *c;

    if (argc != 2 || argv[1][0] == '-')
        return cli_usage_error("rm", "%s '%s' (usage: rm NAME)",
                           argc > 1 && argv[1][0] == '-' ? "unknown option"
                                                         : "expected one "
                                                           "name, got",
                           argc > 1 ? argv[argc - 1] : "");
    if (!dx_dfs_name_is_valid(argv[1], &d))
        return cli_usage_error("rm", "invalid name '%s': %s", argv[1], d.msg);
    if ((r = calloc(1, sizeof *r)) == NULL)
        return 1;
    if ((c = open_cli(o, reply)) == NULL) {
        free(r);
        return 1;
    }
    if (subscribe2(c, reply, NULL) != 0)
        goto out;
    memset(&req, 0, sizeof req);
    req.op = DX_DFS_OP_RM;
    snprintf(req.name, sizeof req.name, "%s", argv[1]);
    make_corr(corr, "rm", 0);
    snprintf(req.reply_to, sizeof req.reply_to, "%s", reply);
    snprintf(req.corr, sizeof req.corr, "%s", corr);
    if (send_req(c, &req) != 0)
        goto out;
    end = cli_now_ms() + timeout;
    while (!got && cli_now_ms() < end) {
        cli_msg *m = cli_take(c, NULL, NULL, (int)(end - cli_now_ms()));
        if (m != NULL)
            got = take_reply(m, reply, corr, r);
        free(m);
    }
    if (!got) {
        fprintf(stderr, "distribux rm: no leader answered within %d ms\n",
                timeout);
    } else if (!r->ok) {
        fprintf(stderr, "distribux rm: %s: %s\n", argv[1], r->error);
    } else {
        rc = 0;
        if (o->json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "name", argv[1]);
            cJSON_AddBoolToObject(j, "removed", true);
            cli_print_json(j);
        } else {
            printf("removed %s\n", argv[1]);
        }
    }
out:
    cli_close(&c);
    free(r);
    return rc;
}

/* ---- scrub ---- */

static int cmd_scrub(const cli_opts *o, int argc, char **argv)
{
    uint16_t ids[256];
    size_t n = 0;
    long v;
    cli_opts oo = *o;
    cli *c;
    int failed = 0;
    cJSON *arr = NULL;

    if (argc > 2)
        return cli_usage_error("scrub", "unexpected '%s' (usage: scrub [N])",
                           argv[2]);
    if (argc == 2) {
        if (cli_parse_long(argv[1], 1, DX_NODE_ID_MAX, &v) != 0)
            return cli_usage_error("scrub", "expected a node id 1..%d, got '%s'",
                               DX_NODE_ID_MAX, argv[1]);
        ids[n++] = (uint16_t)v;
    }
    oo.timeout_ms = timeout_of(o);
    if ((c = cli_connect(&oo)) == NULL)
        return 1;
    if (n == 0) {
        liveness *live = calloc(1, sizeof *live);
        if (live == NULL || cli_subscribe_kind(c, DX_T_NODE_STATE) != 0) {
            free(live);
            cli_close(&c);
            return 1;
        }
        cli_settle(c, 300, 2000);
        for (cli_msg *m; (m = cli_take(c, NULL, NULL, 0)) != NULL; free(m)) {
            bool dup = false;
            if (!liveness_apply(live, m))
                continue;
            for (size_t i = 0; i < n; i++)
                dup = dup || ids[i] == m->ref.node;
            if (!dup && n < sizeof ids / sizeof ids[0])
                ids[n++] = m->ref.node;
        }
        /* The latest state of each node counts: keep the online ones. */
        {
            size_t w = 0;
            for (size_t i = 0; i < n; i++)
                if (!is_offline(live, ids[i]))
                    ids[w++] = ids[i];
            n = w;
        }
        free(live);
        if (n == 0) {
            fprintf(stderr, "distribux scrub: no node is online\n");
            cli_close(&c);
            return 1;
        }
        qsort(ids, n, sizeof *ids, by_u16);
    }
    if (o->json)
        arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        bool ok = cli_node_command(c, ids[i], DX_CMD_SCRUB, 0) == 0;
        failed += !ok;
        if (arr != NULL) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddNumberToObject(j, "node", ids[i]);
            cJSON_AddBoolToObject(j, "ok", ok);
            cJSON_AddItemToArray(arr, j);
        } else if (ok) {
            printf("scrub started on node %u\n", ids[i]);
            fflush(stdout);
        }
        /* Each command reads its own replies from the start. */
        cli_drop(c, NULL, NULL);
    }
    if (arr != NULL)
        cli_print_json(arr);
    cli_close(&c);
    return failed ? 1 : 0;
}

int cli_dfs_command(const cli_opts *o, int argc, char **argv)
{
    if (strcmp(argv[0], "put") == 0)
        return cmd_put(o, argc, argv);
    if (strcmp(argv[0], "get") == 0)
        return cmd_get(o, argc, argv);
    if (strcmp(argv[0], "ls") == 0)
        return cmd_ls(o, argc, argv);
    if (strcmp(argv[0], "stat") == 0)
        return cmd_stat(o, argc, argv);
    if (strcmp(argv[0], "rm") == 0)
        return cmd_rm(o, argc, argv);
    if (strcmp(argv[0], "scrub") == 0)
        return cmd_scrub(o, argc, argv);
    return -1;
}
