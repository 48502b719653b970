/*
 * test_dfs.c - unit tests of the distributed file system's logic
 * (agent/dfs.c).
 *
 * A whole cluster runs in this process: one dx_dfs per node (ids 1..n),
 * one shared outbox, and a message queue standing in for the broker.
 * After every call into a module its outbox is moved to the queue (and to
 * a history the tests read); pump() delivers queued messages the way the
 * core would: DFS topics are parsed with dx_dfs_topic_parse and their
 * payloads decoded with the codecs, then handed to the alive nodes that
 * subscribe (every node for files and stored acks, the leader for
 * requests and bad reports, the named node for fetches, the listed nodes
 * for chunk bytes).  DX_ACT_DFS_WRITE/READ/DELETE act on a fake disk per
 * node that checks the CRC32C like agent/store.c does.  Time is NOW (ms),
 * the wall clock NOW + WALL0.  Each test states the rule of dfs.h it
 * checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfs.h"
#include "dx_hash.h"

#define NMAX 6
#define TERM 7u
#define WALL0 1700000000000LL
#define CS 4096u                   /* the cluster's default chunk size */
#define GRACE 5000
#define XFER_MS 1000
#define ORPHAN_MS 60000
#define HMAX 4096
#define DISK_MAX 256
#define CLIENT_REPLY "distribux/plant/reply/cli"

typedef struct msg {
    uint16_t from;                 /* 0: the test's client */
    dx_act_type type;
    char topic[DX_DFS_TOPIC_MAX + 1];
    bool retain;
    char key[DX_DFS_KEY_MAX + 1];
    uint32_t index, crc;
    char *data;
    size_t len;
} msg;

typedef struct chunk_copy {
    bool used;
    char key[DX_DFS_KEY_MAX + 1];
    uint32_t index, crc;
    char *data;
    size_t len;
} chunk_copy;

static dx_topics TOP;
static dx_dfs *D[NMAX + 1];
static dx_dfs_node NODES[NMAX];
static size_t NN;
static uint16_t LEADER;
static int64_t NOW;
static dx_outbox *OB;
static msg H[HMAX];                /* every message so far */
static size_t NH;
static size_t Q[HMAX];             /* indexes into H still to deliver */
static size_t QH, QT;
static chunk_copy DISK[NMAX + 1][DISK_MAX];
static const msg *CUR;             /* the message being delivered */
static dx_dfs_file *FILE_;         /* scratch */
static dx_dfs_reply *REPLY;        /* the last client reply */
static int64_t DROP_STORE_NODE = -1, DROP_STORE_INDEX = -1;

/* ---- the cluster ---- */

static dx_dfs_env env(uint16_t id)
{
    dx_dfs_env e;
    e.nodes = NODES;
    e.n = NN;
    e.leading = id != 0 && id == LEADER;
    e.term = TERM;
    e.now = NOW;
    e.wall = NOW + WALL0;
    e.ob = OB;
    return e;
}

static bool alive(uint16_t id)
{
    return id >= 1 && id <= NN && NODES[id - 1].alive;
}

static void kill_node(uint16_t id)
{
    NODES[id - 1].alive = false;
    NODES[id - 1].down_since = NOW;
}

static msg *hist_add(uint16_t from, dx_act_type type, const char *topic,
                     const void *data, size_t len)
{
    msg *m;
    assert_true(NH < HMAX);
    m = &H[NH];
    memset(m, 0, sizeof *m);
    m->from = from;
    m->type = type;
    snprintf(m->topic, sizeof m->topic, "%s", topic ? topic : "");
    m->data = malloc(len + 1);
    assert_non_null(m->data);
    if (len > 0)
        memcpy(m->data, data, len);
    m->data[len] = '\0';
    m->len = len;
    Q[QT++ % HMAX] = NH;
    NH++;
    return m;
}

/* Moves the outbox of node `from` to the history and the queue. */
static void collect(uint16_t from)
{
    assert_int_equal(OB->dropped, 0);
    for (size_t i = 0; i < OB->n; i++) {
        const dx_action *a = &OB->a[i];
        msg *m;
        if (a->type == DX_ACT_LOG)
            continue;
        if (a->type == DX_ACT_DFS_WRITE) {
            /* the payload of the message being handled */
            assert_non_null(CUR);
            m = hist_add(from, a->type, a->topic, CUR->data, CUR->len);
        } else {
            m = hist_add(from, a->type, a->topic, dx_outbox_payload(OB, a),
                         a->len);
        }
        m->retain = a->retain;
        snprintf(m->key, sizeof m->key, "%s", a->key);
        m->index = a->index;
        m->crc = a->crc;
    }
    dx_outbox_clear(OB);
}

static void drop_queue(void)
{
    QH = QT;
}

static chunk_copy *disk_find(uint16_t node, const char *key, uint32_t index)
{
    for (size_t i = 0; i < DISK_MAX; i++) {
        chunk_copy *c = &DISK[node][i];
        if (c->used && c->index == index && strcmp(c->key, key) == 0)
            return c;
    }
    return NULL;
}

static void disk_put(uint16_t node, const char *key, uint32_t index,
                     const void *data, size_t len)
{
    chunk_copy *c = disk_find(node, key, index);
    for (size_t i = 0; c == NULL && i < DISK_MAX; i++)
        if (!DISK[node][i].used)
            c = &DISK[node][i];
    assert_non_null(c);
    free(c->data);
    c->used = true;
    snprintf(c->key, sizeof c->key, "%s", key);
    c->index = index;
    c->crc = dx_crc32c(0, data, len);
    c->data = malloc(len + 1);
    assert_non_null(c->data);
    memcpy(c->data, data, len);
    c->len = len;
}

static void disk_del(uint16_t node, const char *key, uint32_t index)
{
    for (size_t i = 0; i < DISK_MAX; i++) {
        chunk_copy *c = &DISK[node][i];
        if (c->used && strcmp(c->key, key) == 0 &&
            (index == DX_DFS_ALL || c->index == index)) {
            free(c->data);
            memset(c, 0, sizeof *c);
        }
    }
}

static size_t disk_count(uint16_t node)
{
    size_t n = 0;
    for (size_t i = 0; i < DISK_MAX; i++)
        n += DISK[node][i].used;
    return n;
}

/* Hands message m to the alive nodes that would receive it (only: a
 * single node, 0 = all). */
static void deliver(const msg *m, uint16_t only)
{
    dx_dfs_ref ref;
    dx_diag dg;
    dx_dfs_env e;
    CUR = m;
    if (m->type == DX_ACT_PUBLISH) {
        int rc = dx_dfs_topic_parse(&TOP, m->topic, strlen(m->topic), &ref,
                                    &dg);
        if (rc != 0) {
            /* a reply topic: a node's log writer, or the client */
            for (uint16_t id = 1; id <= NN; id++) {
                if (!alive(id) || (only && id != only) ||
                    strcmp(m->topic, dx_dfs_reply_topic(D[id])) != 0)
                    continue;
                assert_int_equal(dx_dfs_reply_decode(m->data, m->len, REPLY,
                                                     &dg), 0);
                e = env(id);
                dx_dfs_on_reply(D[id], REPLY, &e);
                collect(id);
            }
            if (strcmp(m->topic, CLIENT_REPLY) == 0)
                assert_int_equal(dx_dfs_reply_decode(m->data, m->len, REPLY,
                                                     &dg), 0);
            return;
        }
        for (uint16_t id = 1; id <= NN; id++) {
            if (!alive(id) || (only && id != only))
                continue;
            e = env(id);
            switch (ref.kind) {
            case DX_DFS_T_FILE:
                if (m->len == 0) {
                    dx_dfs_on_file(D[id], ref.name, NULL, &e);
                } else {
                    assert_int_equal(dx_dfs_file_decode(m->data, m->len,
                                                        FILE_, &dg), 0);
                    dx_dfs_on_file(D[id], ref.name, FILE_, &e);
                }
                break;
            case DX_DFS_T_REQ:
                if (id == LEADER) {
                    dx_dfs_req q;
                    assert_int_equal(dx_dfs_req_decode(m->data, m->len, &q,
                                                       &dg), 0);
                    dx_dfs_on_req(D[id], &q, &e);
                }
                break;
            case DX_DFS_T_STORED: {
                dx_dfs_stored s;
                assert_int_equal(dx_dfs_stored_decode(m->data, m->len, &s,
                                                      &dg), 0);
                dx_dfs_on_stored(D[id], ref.key, &s, &e);
                break;
            }
            case DX_DFS_T_FETCH:
                if (id == ref.node) {
                    dx_dfs_fetch f;
                    assert_int_equal(dx_dfs_fetch_decode(m->data, m->len, &f,
                                                         &dg), 0);
                    assert_int_equal(dx_dfs_on_fetch(D[id], &f, &e), 0);
                }
                break;
            case DX_DFS_T_BAD:
                if (id == LEADER) {
                    dx_dfs_bad b;
                    assert_int_equal(dx_dfs_bad_decode(m->data, m->len, &b,
                                                       &dg), 0);
                    dx_dfs_on_bad(D[id], &b, &e);
                }
                break;
            case DX_DFS_T_STORE: {
                bool listed = false;
                for (uint32_t j = 0; j < ref.n_nodes; j++)
                    listed |= ref.nodes[j] == id;
                if (!listed || (DROP_STORE_NODE == id &&
                                DROP_STORE_INDEX == (int64_t)ref.index))
                    break;
                assert_int_equal(dx_dfs_on_store(D[id], &ref, m->len, &e), 0);
                break;
            }
            default:
                break;
            }
            collect(id);
        }
        return;
    }
    if (!alive(m->from))
        return;
    e = env(m->from);
    if (m->type == DX_ACT_DFS_WRITE) {
        int rc = 0;
        if (dx_crc32c(0, m->data, m->len) != m->crc)
            rc = DX_ECHECKSUM;
        else
            disk_put(m->from, m->key, m->index, m->data, m->len);
        dx_dfs_on_store_done(D[m->from], false, m->key, m->index, m->crc, rc,
                             NULL, &e);
        collect(m->from);
    } else if (m->type == DX_ACT_DFS_READ) {
        chunk_copy *c = disk_find(m->from, m->key, m->index);
        if (c != NULL && c->crc == m->crc &&
            dx_crc32c(0, c->data, c->len) == c->crc) {
            hist_add(m->from, DX_ACT_PUBLISH, m->topic, c->data, c->len);
        } else {
            dx_dfs_on_store_done(D[m->from], true, m->key, m->index, m->crc,
                                 c == NULL ? DX_ENOTFOUND : DX_ECHECKSUM,
                                 m->topic, &e);
            collect(m->from);
        }
    } else if (m->type == DX_ACT_DFS_DELETE) {
        disk_del(m->from, m->key, m->index);
    }
}

static void pump(void)
{
    while (QH != QT) {
        size_t i = Q[QH++ % HMAX];
        deliver(&H[i], 0);
    }
    CUR = NULL;
}

static dx_dfs_cfg cfg_of(uint16_t id, uint32_t parallel, bool logs)
{
    dx_dfs_cfg c;
    memset(&c, 0, sizeof c);
    c.self = id;
    c.topics = TOP;
    c.chunk_size = CS;
    c.replicas = 3;
    c.repair_grace_ms = GRACE;
    c.repair_parallel = parallel;
    c.transfer_timeout_ms = XFER_MS;
    c.upload_idle_ms = 30000;
    c.orphan_age_ms = ORPHAN_MS;
    if (logs) {
        c.log_flush_ms = 60000;
        c.log_flush_readings = 3;
        c.log_segment_max = CS;
    }
    return c;
}

static void cluster(size_t n, uint32_t parallel, bool logs)
{
    NN = n;
    LEADER = 1;
    NOW = 1000;
    for (uint16_t id = 1; id <= n; id++) {
        dx_dfs_cfg c = cfg_of(id, parallel, logs);
        dx_dfs_env e;
        NODES[id - 1].id = id;
        NODES[id - 1].alive = true;
        NODES[id - 1].down_since = 0;
        assert_int_equal(dx_dfs_create(&D[id], &c), 0);
        e = env(id);
        dx_dfs_on_leader(D[id], &e);
        collect(id);
    }
}

static int setup(void **state)
{
    (void)state;
    if (dx_topics_init(&TOP, NULL, NULL, NULL) != 0)
        return -1;
    OB = calloc(1, sizeof *OB);
    FILE_ = calloc(1, sizeof *FILE_);
    REPLY = calloc(1, sizeof *REPLY);
    NH = QH = QT = 0;
    DROP_STORE_NODE = DROP_STORE_INDEX = -1;
    memset(D, 0, sizeof D);
    return OB && FILE_ && REPLY ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i <= NMAX; i++) {
        dx_dfs_destroy(&D[i]);
        for (size_t j = 0; j < DISK_MAX; j++)
            free(DISK[i][j].data);
    }
    memset(DISK, 0, sizeof DISK);
    for (size_t i = 0; i < NH; i++)
        free(H[i].data);
    NH = QH = QT = 0;
    free(OB);
    free(FILE_);
    free(REPLY);
    return 0;
}

static void tick(uint16_t id)
{
    dx_dfs_env e = env(id);
    dx_dfs_tick(D[id], &e);
    collect(id);
}

static void tick_all(void)
{
    for (uint16_t id = 1; id <= NN; id++)
        if (alive(id))
            tick(id);
}

/* ---- the client ---- */

/* Sends q to the leader as the core would (through the codec) and
 * delivers everything that follows; REPLY holds the answer. */
static void request(dx_dfs_req *q)
{
    dx_diag dg;
    snprintf(q->reply_to, sizeof q->reply_to, "%s", CLIENT_REPLY);
    snprintf(q->corr, sizeof q->corr, "c1");
    memset(REPLY, 0, sizeof *REPLY);
    if (LEADER != 0) {
        dx_dfs_env e = env(LEADER);
        char json[4096];
        size_t len;
        dx_dfs_req back;
        /* what a valid request looks like on the wire */
        if (dx_dfs_req_encode(q, json, sizeof json, &len) == 0)
            assert_int_equal(dx_dfs_req_decode(json, len, &back, &dg), 0);
        dx_dfs_on_req(D[LEADER], q, &e);
        collect(LEADER);
    }
    pump();
}

static void put(const char *name, uint64_t size, uint32_t cs, uint32_t r)
{
    dx_dfs_req q;
    memset(&q, 0, sizeof q);
    q.op = DX_DFS_OP_PUT;
    snprintf(q.name, sizeof q.name, "%s", name);
    q.size = size;
    q.chunk_size = cs;
    q.replicas = r;
    request(&q);
}

static void fill(char *buf, size_t len, uint32_t index, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)('a' + (i * 7 + index * 3 + seed) % 26);
}

/* Publishes chunk `index` of a file of `size` bytes as the plan says. */
static void send_chunk(const dx_dfs_reply *plan, uint64_t size, uint32_t index,
                       unsigned seed)
{
    static char buf[CS * 4];
    char topic[DX_DFS_TOPIC_MAX + 1];
    uint64_t off = (uint64_t)index * plan->chunk_size;
    size_t len = (size_t)(size - off < plan->chunk_size ? size - off
                                                        : plan->chunk_size);
    assert_true(len <= sizeof buf);
    fill(buf, len, index, seed);
    assert_int_equal(dx_dfs_topic_store(&TOP, plan->plan[index].nodes,
                                        plan->plan[index].n, plan->key, index,
                                        dx_crc32c(0, buf, len), topic,
                                        sizeof topic), 0);
    hist_add(0, DX_ACT_PUBLISH, topic, buf, len);
    pump();
}

static void commit(const char *key)
{
    dx_dfs_req q;
    memset(&q, 0, sizeof q);
    q.op = DX_DFS_OP_COMMIT;
    snprintf(q.key, sizeof q.key, "%s", key);
    memset(q.sha256, 'a', 64);
    request(&q);
}

/* put + every chunk + commit; the plan is kept in *plan. */
static void upload(const char *name, uint64_t size, uint32_t r,
                   dx_dfs_reply *plan)
{
    put(name, size, 0, r);
    assert_true(REPLY->ok);
    *plan = *REPLY;
    for (uint32_t i = 0; i < plan->n_plan; i++)
        send_chunk(plan, size, i, 1);
    commit(plan->key);
}

/* The last message of `type` on a topic starting with prefix (from any
 * node when from < 0), at or after history index `since`. */
static const msg *last_msg(dx_act_type type, const char *prefix, int from,
                           size_t since)
{
    for (size_t i = NH; i-- > since;)
        if (H[i].type == type && strncmp(H[i].topic, prefix,
                                         strlen(prefix)) == 0 &&
            (from < 0 || H[i].from == from))
            return &H[i];
    return NULL;
}

static size_t count_msgs(dx_act_type type, const char *prefix, int from,
                         size_t since)
{
    size_t n = 0;
    for (size_t i = since; i < NH; i++)
        if (H[i].type == type && strncmp(H[i].topic, prefix,
                                         strlen(prefix)) == 0 &&
            (from < 0 || H[i].from == from))
            n++;
    return n;
}

static bool has_note(uint16_t id, const char *text)
{
    char buf[DX_DFS_NOTE_MAX];
    bool found = false;
    while (dx_dfs_take_note(D[id], buf, sizeof buf))
        found |= strstr(buf, text) != NULL;
    return found;
}

static const char *topic_of(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static const char *topic_of(const char *fmt, ...)
{
    static char buf[DX_DFS_TOPIC_MAX + 1];
    va_list ap;
    int n = snprintf(buf, sizeof buf, "%s/", TOP.root);
    va_start(ap, fmt);
    vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    va_end(ap);
    return buf;
}

/* Installs metadata as if a leader had published it; chunk bytes go to
 * every listed node's disk. */
static void install(const char *name, const char *key, uint32_t replicas,
                    uint32_t n_chunks, const uint16_t nodes[][DX_DFS_R_MAX],
                    const uint32_t *n_nodes)
{
    char buf[CS], json[8192], topic[DX_DFS_TOPIC_MAX + 1];
    size_t len;
    dx_dfs_file *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->key, sizeof f->key, "%s", key);
    f->size = (uint64_t)n_chunks * CS;
    f->chunk_size = CS;
    f->replicas = replicas;
    memset(f->sha256, 'b', 64);
    f->created_ms = WALL0;
    f->term = 1;
    f->n_chunks = n_chunks;
    for (uint32_t i = 0; i < n_chunks; i++) {
        fill(buf, CS, i, 9);
        f->chunks[i].crc = dx_crc32c(0, buf, CS);
        f->chunks[i].n = n_nodes[i];
        for (uint32_t j = 0; j < n_nodes[i]; j++) {
            f->chunks[i].nodes[j] = nodes[i][j];
            disk_put(nodes[i][j], key, i, buf, CS);
        }
    }
    assert_int_equal(dx_dfs_file_encode(f, json, sizeof json, &len), 0);
    assert_int_equal(dx_dfs_topic_file(&TOP, name, topic, sizeof topic), 0);
    hist_add(0, DX_ACT_PUBLISH, topic, json, len)->retain = true;
    free(f);
    pump();
}

static void decode_file(const msg *m, dx_dfs_file *f)
{
    dx_diag dg;
    assert_non_null(m);
    assert_int_equal(dx_dfs_file_decode(m->data, m->len, f, &dg), 0);
}

static void decode_fetch(const msg *m, dx_dfs_fetch *f)
{
    dx_diag dg;
    assert_non_null(m);
    assert_int_equal(dx_dfs_fetch_decode(m->data, m->len, f, &dg), 0);
}

/* ---- placement ---- */

/* 3 nodes, R = 3: every chunk on all three. */
static void test_put_plan_all_nodes(void **state)
{
    (void)state;
    cluster(3, 2, false);
    put("data.bin", 10 * CS + 100, 0, 0);
    assert_true(REPLY->ok);
    assert_int_equal(REPLY->chunk_size, CS);
    assert_int_equal(REPLY->n_plan, 11);
    assert_true(dx_dfs_key_is_valid(REPLY->key));
    for (uint32_t i = 0; i < REPLY->n_plan; i++) {
        uint16_t ids[3];
        assert_int_equal(REPLY->plan[i].n, 3);
        memcpy(ids, REPLY->plan[i].nodes, sizeof ids);
        for (int a = 0; a < 3; a++)
            for (int b = a + 1; b < 3; b++)
                assert_int_not_equal(ids[a], ids[b]);
        for (int a = 0; a < 3; a++)
            assert_true(ids[a] >= 1 && ids[a] <= 3);
    }
    /* keys are unique */
    {
        char first[DX_DFS_KEY_MAX + 1];
        snprintf(first, sizeof first, "%s", REPLY->key);
        put("other.bin", 10, 0, 0);
        assert_true(REPLY->ok);
        assert_string_not_equal(first, REPLY->key);
    }
}

/* 5 nodes, R = 2: distinct nodes per chunk, bytes within one chunk, and
 * the next put counts the bytes the first one planned. */
static void test_put_plan_balanced(void **state)
{
    uint64_t bytes[6] = {0};
    (void)state;
    cluster(5, 2, false);
    for (int round = 0; round < 2; round++) {
        uint64_t size = round == 0 ? 20 * CS : 7 * CS + 5;
        uint64_t lo = UINT64_MAX, hi = 0;
        put(round == 0 ? "a.bin" : "b.bin", size, 0, 2);
        assert_true(REPLY->ok);
        for (uint32_t i = 0; i < REPLY->n_plan; i++) {
            const dx_dfs_chunk *c = &REPLY->plan[i];
            uint64_t len = size - (uint64_t)i * CS < CS
                               ? size - (uint64_t)i * CS : CS;
            assert_int_equal(c->n, 2);
            assert_int_not_equal(c->nodes[0], c->nodes[1]);
            for (uint32_t j = 0; j < 2; j++) {
                assert_true(c->nodes[j] >= 1 && c->nodes[j] <= 5);
                bytes[c->nodes[j]] += len;
            }
        }
        for (int id = 1; id <= 5; id++) {
            lo = bytes[id] < lo ? bytes[id] : lo;
            hi = bytes[id] > hi ? bytes[id] : hi;
        }
        assert_true(hi - lo <= CS);
    }
}

/* R larger than the alive nodes: each chunk on every alive node only. */
static void test_put_fewer_alive(void **state)
{
    (void)state;
    cluster(3, 2, false);
    kill_node(3);
    put("x.bin", 3 * CS, 0, 5);
    assert_true(REPLY->ok);
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(REPLY->plan[i].n, 2);
        for (uint32_t j = 0; j < 2; j++)
            assert_true(REPLY->plan[i].nodes[j] == 1 ||
                        REPLY->plan[i].nodes[j] == 2);
    }
    /* nobody alive (the leader's view): a clear error */
    kill_node(1);
    kill_node(2);
    put("x.bin", 10, 0, 0);
    assert_false(REPLY->ok);
    assert_string_equal(REPLY->error, "no alive node to store on");
}

/* Bad names are rejected with the name checker's diagnosis. */
static void test_put_bad_names(void **state)
{
    static const char *bad[] = {"../etc/passwd", "a//b", "/abs", "dir/",
                                "sp ace", "a/./b", ""};
    (void)state;
    cluster(3, 2, false);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dx_diag dg;
        memset(&dg, 0, sizeof dg);
        assert_false(dx_dfs_name_is_valid(bad[i], &dg));
        put(bad[i], 10, 0, 0);
        assert_false(REPLY->ok);
        assert_non_null(strstr(REPLY->error, dg.msg));
        assert_non_null(strstr(REPLY->error, "invalid file name"));
    }
}

/* Size, chunk size and replicas limits. */
static void test_put_limits(void **state)
{
    (void)state;
    cluster(3, 2, false);
    put("big.bin", (uint64_t)CS * DX_DFS_CHUNKS_MAX + 1, CS, 0);
    assert_false(REPLY->ok);
    assert_non_null(strstr(REPLY->error, "file too large"));
    assert_non_null(strstr(REPLY->error, "max 16777216"));
    put("big.bin", (uint64_t)CS * DX_DFS_CHUNKS_MAX, CS, 0);
    assert_true(REPLY->ok);
    assert_int_equal(REPLY->n_plan, DX_DFS_CHUNKS_MAX);
    put("c.bin", 10, 5000, 0);
    assert_false(REPLY->ok);
    assert_non_null(strstr(REPLY->error, "chunk_size"));
    put("c.bin", 10, 0, 6);
    assert_false(REPLY->ok);
    assert_non_null(strstr(REPLY->error, "replicas"));
}

/* ---- commit ---- */

/* A complete upload: the metadata lists the nodes that acknowledged each
 * chunk, is retained, and every node's table has it. */
static void test_commit_success(void **state)
{
    dx_dfs_reply *plan = calloc(1, sizeof *plan);
    dx_dfs_file *f = calloc(1, sizeof *f);
    const uint64_t size = 3 * CS - 10;
    size_t since;
    (void)state;
    assert_non_null(plan);
    assert_non_null(f);
    cluster(3, 2, false);
    since = NH;
    upload("data.txt", size, 2, plan);
    assert_true(REPLY->ok);
    assert_string_equal(REPLY->key, plan->key);
    {
        const msg *m = last_msg(DX_ACT_PUBLISH, topic_of("dfs/files/data.txt"),
                                1, since);
        assert_non_null(m);
        assert_true(m->retain);
        decode_file(m, f);
    }
    assert_string_equal(f->key, plan->key);
    assert_int_equal(f->size, size);
    assert_int_equal(f->replicas, 2);
    assert_int_equal(f->n_chunks, 3);
    assert_int_equal(f->created_ms, NOW + WALL0);
    assert_int_equal(f->term, TERM);
    assert_false(f->under_replicated);
    for (uint32_t i = 0; i < 3; i++) {
        char buf[CS];
        size_t len = i < 2 ? CS : CS - 10;
        fill(buf, len, i, 1);
        assert_int_equal(f->chunks[i].crc, dx_crc32c(0, buf, len));
        assert_int_equal(f->chunks[i].n, 2);
        for (uint32_t j = 0; j < 2; j++) {
            uint16_t id = f->chunks[i].nodes[j];
            assert_true(id == plan->plan[i].nodes[0] ||
                        id == plan->plan[i].nodes[1]);
            assert_non_null(disk_find(id, plan->key, i));
        }
    }
    for (uint16_t id = 1; id <= 3; id++) {
        dx_dfs_file *g = calloc(1, sizeof *g);
        assert_non_null(g);
        assert_int_equal(dx_dfs_file_count(D[id]), 1);
        assert_true(dx_dfs_lookup(D[id], "data.txt", g));
        assert_string_equal(g->key, plan->key);
        free(g);
    }
    assert_int_equal(dx_dfs_node_bytes(D[2], 1) + dx_dfs_node_bytes(D[2], 2) +
                     dx_dfs_node_bytes(D[2], 3), 2 * size);
    assert_true(has_note(1, "[DFS] data.txt replicated on nodes [1, 2, 3]"));
    free(plan);
    free(f);
}

/* A chunk one alive planned node did not acknowledge: the commit lists
 * it; sent again, the commit succeeds. */
static void test_commit_missing_ack(void **state)
{
    dx_dfs_reply *plan = calloc(1, sizeof *plan);
    (void)state;
    assert_non_null(plan);
    cluster(3, 2, false);
    DROP_STORE_NODE = 2;
    DROP_STORE_INDEX = 1;
    upload("m.bin", 3 * CS, 3, plan);
    assert_false(REPLY->ok);
    assert_int_equal(REPLY->n_missing, 1);
    assert_int_equal(REPLY->missing[0], 1);
    assert_non_null(strstr(REPLY->error, "[1]"));
    assert_int_equal(dx_dfs_file_count(D[1]), 0);
    DROP_STORE_NODE = -1;
    send_chunk(plan, 3 * CS, 1, 1);
    commit(plan->key);
    assert_true(REPLY->ok);
    assert_int_equal(dx_dfs_file_count(D[3]), 1);
    free(plan);
}

/* The node that missed the chunk died: commit ok, under-replicated, the
 * chunk lists the nodes that acknowledged it. */
static void test_commit_dead_node(void **state)
{
    dx_dfs_reply *plan = calloc(1, sizeof *plan);
    dx_dfs_file *f = calloc(1, sizeof *f);
    (void)state;
    assert_non_null(plan);
    assert_non_null(f);
    cluster(3, 2, false);
    DROP_STORE_NODE = 2;
    DROP_STORE_INDEX = 1;
    put("m.bin", 3 * CS, 0, 3);
    *plan = *REPLY;
    for (uint32_t i = 0; i < 3; i++)
        send_chunk(plan, 3 * CS, i, 1);
    kill_node(2);
    commit(plan->key);
    assert_true(REPLY->ok);
    assert_true(dx_dfs_lookup(D[1], "m.bin", f));
    assert_true(f->under_replicated);
    assert_int_equal(f->chunks[1].n, 2);
    assert_int_equal(f->chunks[1].nodes[0], 1);
    assert_int_equal(f->chunks[1].nodes[1], 3);
    assert_int_equal(f->chunks[0].n, 3);
    free(plan);
    free(f);
}

/* A commit to a new leader: the upload is unknown, the error says why. */
static void test_commit_after_leader_change(void **state)
{
    char key[DX_DFS_KEY_MAX + 1], want[200];
    (void)state;
    cluster(3, 2, false);
    put("a.bin", 10, 0, 0);
    assert_true(REPLY->ok);
    snprintf(key, sizeof key, "%s", REPLY->key);
    LEADER = 2;
    for (uint16_t id = 1; id <= 3; id++) {
        dx_dfs_env e = env(id);
        dx_dfs_on_leader(D[id], &e);
        collect(id);
    }
    commit(key);
    assert_false(REPLY->ok);
    snprintf(want, sizeof want, "unknown upload %s: the leader changed or "
             "the put expired; put again", key);
    assert_string_equal(REPLY->error, want);
    /* the former leader forgot it too */
    LEADER = 1;
    commit(key);
    assert_false(REPLY->ok);
    assert_non_null(strstr(REPLY->error, "unknown upload"));
}

/* Abort forgets the upload; an idle upload expires. */
static void test_abort_and_expiry(void **state)
{
    dx_dfs_req q;
    char key[DX_DFS_KEY_MAX + 1];
    (void)state;
    cluster(3, 2, false);
    put("a.bin", 10, 0, 0);
    snprintf(key, sizeof key, "%s", REPLY->key);
    memset(&q, 0, sizeof q);
    q.op = DX_DFS_OP_ABORT;
    snprintf(q.key, sizeof q.key, "%s", key);
    request(&q);
    assert_true(REPLY->ok);
    commit(key);
    assert_false(REPLY->ok);
    put("b.bin", 10, 0, 0);
    snprintf(key, sizeof key, "%s", REPLY->key);
    assert_true(dx_dfs_next_deadline(D[1]) <= NOW + 30000);
    NOW += 30000;
    tick(1);
    commit(key);
    assert_false(REPLY->ok);
    assert_non_null(strstr(REPLY->error, "unknown upload"));
}

/* ---- removal and replacement ---- */

/* rm: an empty retained payload, every holder deletes the whole key. */
static void test_rm(void **state)
{
    dx_dfs_reply *plan = calloc(1, sizeof *plan);
    dx_dfs_req q;
    size_t since;
    (void)state;
    assert_non_null(plan);
    cluster(3, 2, false);
    upload("gone.txt", 2 * CS, 3, plan);
    assert_true(REPLY->ok);
    for (uint16_t id = 1; id <= 3; id++)
        assert_int_equal(disk_count(id), 2);
    since = NH;
    memset(&q, 0, sizeof q);
    q.op = DX_DFS_OP_RM;
    snprintf(q.name, sizeof q.name, "gone.txt");
    request(&q);
    assert_true(REPLY->ok);
    {
        const msg *m = last_msg(DX_ACT_PUBLISH, topic_of("dfs/files/gone.txt"),
                                1, since);
        assert_non_null(m);
        assert_true(m->retain);
        assert_int_equal(m->len, 0);
    }
    for (uint16_t id = 1; id <= 3; id++) {
        const msg *m = last_msg(DX_ACT_DFS_DELETE, "", id, since);
        assert_non_null(m);
        assert_string_equal(m->key, plan->key);
        assert_int_equal(m->index, DX_DFS_ALL);
        assert_int_equal(count_msgs(DX_ACT_DFS_DELETE, "", id, since), 1);
        assert_int_equal(disk_count(id), 0);
        assert_int_equal(dx_dfs_file_count(D[id]), 0);
    }
    assert_true(has_note(1, "[DFS] gone.txt removed"));
    request(&q);
    assert_false(REPLY->ok);
    assert_non_null(strstr(REPLY->error, "no such file"));
    free(plan);
}

/* New metadata: a holder deletes exactly the copies no longer listed for
 * it; a new key deletes the whole old key; the same metadata does
 * nothing; a put of an existing name replaces it. */
static void test_on_file_replacement(void **state)
{
    dx_dfs_file *f = calloc(1, sizeof *f);
    dx_dfs_reply *plan = calloc(1, sizeof *plan);
    dx_dfs_env e;
    (void)state;
    assert_non_null(f);
    assert_non_null(plan);
    cluster(3, 2, false);
    snprintf(f->name, sizeof f->name, "r.bin");
    snprintf(f->key, sizeof f->key, "k1");
    f->size = 3 * CS;
    f->chunk_size = CS;
    f->replicas = 2;
    memset(f->sha256, 'c', 64);
    f->n_chunks = 3;
    f->chunks[0] = (dx_dfs_chunk){11, 2, {1, 2}};
    f->chunks[1] = (dx_dfs_chunk){12, 2, {2, 3}};
    f->chunks[2] = (dx_dfs_chunk){13, 2, {1, 3}};
    e = env(2);
    dx_dfs_on_file(D[2], "r.bin", f, &e);
    assert_int_equal(OB->n, 0);
    assert_int_equal(dx_dfs_node_bytes(D[2], 2), 2 * CS);
    f->chunks[0] = (dx_dfs_chunk){11, 2, {1, 3}};
    dx_dfs_on_file(D[2], "r.bin", f, &e);
    assert_int_equal(OB->n, 1);
    assert_int_equal(OB->a[0].type, DX_ACT_DFS_DELETE);
    assert_string_equal(OB->a[0].key, "k1");
    assert_int_equal(OB->a[0].index, 0);
    dx_outbox_clear(OB);
    dx_dfs_on_file(D[2], "r.bin", f, &e);      /* identical */
    assert_int_equal(OB->n, 0);
    snprintf(f->key, sizeof f->key, "k2");
    dx_dfs_on_file(D[2], "r.bin", f, &e);
    assert_int_equal(OB->n, 1);
    assert_string_equal(OB->a[0].key, "k1");
    assert_int_equal(OB->a[0].index, DX_DFS_ALL);
    dx_outbox_clear(OB);
    assert_int_equal(dx_dfs_node_bytes(D[2], 2), CS);
    /* a put of an existing name, end to end */
    upload("r2.bin", CS, 3, plan);
    assert_true(REPLY->ok);
    {
        char old[DX_DFS_KEY_MAX + 1];
        snprintf(old, sizeof old, "%s", plan->key);
        upload("r2.bin", CS, 3, plan);
        assert_true(REPLY->ok);
        assert_string_not_equal(old, plan->key);
        for (uint16_t id = 1; id <= 3; id++) {
            assert_null(disk_find(id, old, 0));
            assert_non_null(disk_find(id, plan->key, 0));
            assert_true(dx_dfs_lookup(D[id], "r2.bin", f));
            assert_string_equal(f->key, plan->key);
        }
    }
    free(f);
    free(plan);
}

/* ---- repair ---- */

/* A failed holder is replaced only after the grace period; one transfer
 * at a time (repair_parallel 1), the chunk with the fewest live copies
 * first; an unacknowledged transfer is retried elsewhere; on the ack the
 * metadata is republished; the returning node deletes its stale copies. */
static void test_repair(void **state)
{
    static const uint16_t a_nodes[1][DX_DFS_R_MAX] = {{2, 3, 4}};
    static const uint16_t b_nodes[1][DX_DFS_R_MAX] = {{1, 3}};
    static const uint32_t a_n[1] = {3}, b_n[1] = {2};
    dx_dfs_file *f = calloc(1, sizeof *f);
    dx_dfs_fetch fe;
    size_t since;
    int64_t down;
    (void)state;
    assert_non_null(f);
    cluster(5, 1, false);
    install("a.txt", "ka", 3, 1, a_nodes, a_n);
    install("b.txt", "kb", 2, 1, b_nodes, b_n);
    tick_all();
    assert_int_equal(count_msgs(DX_ACT_PUBLISH, topic_of("dfs/fetch/"), -1, 0),
                     0);
    kill_node(3);
    down = NOW;
    since = NH;
    NOW = down + 100;
    tick(1);
    NOW = down + GRACE - 1;
    tick(1);
    assert_int_equal(count_msgs(DX_ACT_PUBLISH, topic_of("dfs/fetch/"), -1,
                                since), 0);
    assert_true(dx_dfs_next_deadline(D[1]) <= down + GRACE);
    NOW = down + GRACE;
    tick(1);
    assert_int_equal(count_msgs(DX_ACT_PUBLISH, topic_of("dfs/fetch/"), -1,
                                since), 1);
    /* b has one live copy, a two: b first, from node 1 to the least
     * loaded node holding nothing (5) */
    {
        const msg *m = last_msg(DX_ACT_PUBLISH, topic_of("dfs/fetch/1"), 1,
                                since);
        decode_fetch(m, &fe);
        assert_string_equal(fe.key, "kb");
        assert_int_equal(fe.index, 0);
        assert_non_null(strstr(fe.reply_to, "/dfs/store/1/5/kb/0/"));
    }
    assert_true(has_note(1, "[DFS] re-replicating 2 chunks of node 3"));
    /* lost: not acknowledged within the timeout, retried elsewhere */
    drop_queue();
    since = NH;
    NOW += XFER_MS - 1;
    tick(1);
    assert_int_equal(count_msgs(DX_ACT_PUBLISH, topic_of("dfs/fetch/"), -1,
                                since), 0);
    NOW += 1;
    tick(1);
    assert_int_equal(count_msgs(DX_ACT_PUBLISH, topic_of("dfs/fetch/"), -1,
                                since), 1);
    decode_fetch(last_msg(DX_ACT_PUBLISH, topic_of("dfs/fetch/"), 1, since),
                 &fe);
    assert_string_equal(fe.key, "kb");
    assert_null(strstr(fe.reply_to, "/dfs/store/1/5/"));
    /* this time it arrives: b now lists its new holder, republished */
    pump();
    decode_file(last_msg(DX_ACT_PUBLISH, topic_of("dfs/files/b.txt"), 1,
                         since), f);
    assert_int_equal(f->chunks[0].n, 2);
    assert_int_equal(f->chunks[0].nodes[0], 1);
    assert_int_not_equal(f->chunks[0].nodes[1], 3);
    assert_int_equal(f->term, TERM);
    assert_false(f->under_replicated);
    assert_non_null(disk_find(f->chunks[0].nodes[1], "kb", 0));
    assert_true(has_note(1, "[DFS] b.txt restored to 2 copies on nodes"));
    /* the next tick repairs a */
    since = NH;
    tick(1);
    assert_int_equal(count_msgs(DX_ACT_PUBLISH, topic_of("dfs/fetch/"), -1,
                                since), 1);
    pump();
    decode_file(last_msg(DX_ACT_PUBLISH, topic_of("dfs/files/a.txt"), 1,
                         since), f);
    assert_int_equal(f->chunks[0].n, 3);
    for (uint32_t j = 0; j < 3; j++) {
        assert_int_not_equal(f->chunks[0].nodes[j], 3);
        assert_non_null(disk_find(f->chunks[0].nodes[j], "ka", 0));
    }
    assert_int_equal(dx_dfs_under_replicated(D[2], &(dx_dfs_env){
                         NODES, NN, false, TERM, NOW, NOW, OB}), 0);
    tick(1);
    assert_int_equal(count_msgs(DX_ACT_PUBLISH, topic_of("dfs/fetch/"), -1,
                                since), 1);
    /* node 3 comes back: the retained metadata makes it delete */
    NODES[2].alive = true;
    assert_int_equal(disk_count(3), 2);
    since = NH;
    deliver(last_msg(DX_ACT_PUBLISH, topic_of("dfs/files/a.txt"), 1, 0), 3);
    deliver(last_msg(DX_ACT_PUBLISH, topic_of("dfs/files/b.txt"), 1, 0), 3);
    pump();
    assert_int_equal(count_msgs(DX_ACT_DFS_DELETE, "", 3, since), 2);
    assert_int_equal(disk_count(3), 0);
    free(f);
}

/* Two nodes fail: with repair_parallel 2 both repairable chunks start at
 * once, none twice; a chunk with no live copy cannot be repaired. */
static void test_repair_parallel_bound(void **state)
{
    static const uint16_t nodes[3][DX_DFS_R_MAX] = {{1, 2}, {2, 3}, {3, 4}};
    static const uint32_t n[3] = {2, 2, 2};
    size_t since;
    (void)state;
    cluster(5, 2, false);
    install("p.bin", "kp", 2, 3, nodes, n);
    kill_node(2);
    kill_node(3);
    since = NH;
    NOW += GRACE;
    tick(1);
    /* chunk 1 has no live copy: nothing to copy from; 0 and 2 go */
    assert_int_equal(count_msgs(DX_ACT_PUBLISH, topic_of("dfs/fetch/"), -1,
                                since), 2);
    assert_int_equal(count_msgs(DX_ACT_PUBLISH, topic_of("dfs/fetch/1"), -1,
                                since), 1);
    assert_int_equal(count_msgs(DX_ACT_PUBLISH, topic_of("dfs/fetch/4"), -1,
                                since), 1);
    tick(1);     /* no duplicate before the timeout */
    assert_int_equal(count_msgs(DX_ACT_PUBLISH, topic_of("dfs/fetch/"), -1,
                                since), 2);
    pump();
    assert_int_equal(dx_dfs_under_replicated(D[1], &(dx_dfs_env){
                         NODES, NN, true, TERM, NOW, NOW, OB}), 1);
}

/* A file written while a node was away is completed when it joins. */
static void test_repair_under_replicated_join(void **state)
{
    dx_dfs_reply *plan = calloc(1, sizeof *plan);
    dx_dfs_file *f = calloc(1, sizeof *f);
    (void)state;
    assert_non_null(plan);
    assert_non_null(f);
    cluster(3, 2, false);
    kill_node(3);
    upload("u.bin", 2 * CS, 3, plan);
    assert_true(REPLY->ok);
    assert_true(dx_dfs_lookup(D[1], "u.bin", f));
    assert_true(f->under_replicated);
    tick(1);
    pump();
    assert_int_equal(disk_count(3), 0);
    NODES[2].alive = true;
    tick(1);
    pump();
    assert_int_equal(disk_count(3), 2);
    assert_true(dx_dfs_lookup(D[3], "u.bin", f));
    assert_false(f->under_replicated);
    assert_int_equal(f->chunks[0].n, 3);
    assert_int_equal(f->chunks[1].n, 3);
    free(plan);
    free(f);
}

/* A bad copy is overwritten from another holder, on the same node. */
static void test_bad_copy_repaired(void **state)
{
    static const uint16_t nodes[2][DX_DFS_R_MAX] = {{1, 2, 3}, {1, 2, 3}};
    static const uint32_t n[2] = {3, 3};
    chunk_copy *c;
    dx_dfs_fetch fe;
    size_t since;
    dx_dfs_env e;
    (void)state;
    cluster(3, 2, false);
    install("c.bin", "kc", 3, 2, nodes, n);
    c = disk_find(2, "kc", 1);
    assert_non_null(c);
    c->data[10] ^= 1;          /* bit rot */
    since = NH;
    e = env(2);
    dx_dfs_on_scrub_item(D[2], "kc", 1, c->crc, false, 1000, &e);
    collect(2);
    pump();
    assert_true(has_note(1, "[DFS] bad copy of chunk 1 of c.bin on node 2: "
                            "repairing"));
    decode_fetch(last_msg(DX_ACT_PUBLISH, topic_of("dfs/fetch/"), 1, since),
                 &fe);
    assert_string_equal(fe.key, "kc");
    assert_int_equal(fe.index, 1);
    assert_non_null(strstr(fe.reply_to, "/dfs/store/1/2/kc/1/"));
    c = disk_find(2, "kc", 1);
    assert_int_equal(dx_crc32c(0, c->data, c->len), c->crc);
    /* a read that finds a missing copy reports it too */
    disk_del(3, "kc", 0);
    since = NH;
    hist_add(3, DX_ACT_DFS_READ, "elsewhere/x", "", 0);
    snprintf(H[NH - 1].key, sizeof H[NH - 1].key, "kc");
    H[NH - 1].index = 0;
    H[NH - 1].crc = disk_find(1, "kc", 0)->crc;
    pump();
    {
        const msg *m = last_msg(DX_ACT_PUBLISH, topic_of("dfs/bad"), 3, since);
        dx_dfs_bad b;
        dx_diag dg;
        assert_non_null(m);
        assert_int_equal(dx_dfs_bad_decode(m->data, m->len, &b, &dg), 0);
        assert_int_equal(b.node, 3);
        assert_string_equal(b.reason, "missing");
    }
    assert_non_null(disk_find(3, "kc", 0));
}

/* Reports that find every transfer slot busy wait and run when one
 * frees; a leader that stays leader keeps its uploads. */
static void test_bad_reports_queue(void **state)
{
    static const uint16_t nodes[2][DX_DFS_R_MAX] = {{1, 2, 3}, {1, 2, 3}};
    static const uint32_t n[2] = {3, 3};
    dx_dfs_bad b;
    dx_dfs_env e;
    char key[DX_DFS_KEY_MAX + 1];
    size_t since;
    (void)state;
    cluster(3, 1, false);
    install("q.bin", "kq", 3, 2, nodes, n);
    since = NH;
    memset(&b, 0, sizeof b);
    snprintf(b.key, sizeof b.key, "kq");
    snprintf(b.reason, sizeof b.reason, "checksum");
    b.node = 2;
    b.index = 0;
    e = env(1);
    dx_dfs_on_bad(D[1], &b, &e);
    b.node = 3;
    b.index = 1;
    dx_dfs_on_bad(D[1], &b, &e);
    b.node = 4;              /* lists no such holder: ignored */
    dx_dfs_on_bad(D[1], &b, &e);
    collect(1);
    assert_int_equal(count_msgs(DX_ACT_PUBLISH, topic_of("dfs/fetch/"), -1,
                                since), 1);
    pump();                  /* the first ends, the second starts */
    assert_int_equal(count_msgs(DX_ACT_PUBLISH, topic_of("dfs/fetch/"), -1,
                                since), 2);
    assert_non_null(last_msg(DX_ACT_PUBLISH, topic_of("dfs/store/1/3/kq/1/"),
                             -1, since));
    /* still the leader: an open upload survives on_leader */
    put("keep.bin", 10, 0, 0);
    assert_true(REPLY->ok);
    snprintf(key, sizeof key, "%s", REPLY->key);
    e = env(1);
    dx_dfs_on_leader(D[1], &e);
    collect(1);
    send_chunk(REPLY, 10, 0, 1);
    commit(key);
    assert_true(REPLY->ok);
}

/* A segment closes before a line would make it exceed log_segment_max. */
static void test_log_segment_size(void **state)
{
    dx_dfs_cfg c;
    char line[200];
    const msg *m;
    dx_dfs_req q;
    dx_diag dg;
    (void)state;
    cluster(3, 2, true);
    dx_dfs_destroy(&D[2]);
    c = cfg_of(2, 2, true);
    c.log_flush_readings = 1000;
    c.log_segment_max = 1000;
    assert_int_equal(dx_dfs_create(&D[2], &c), 0);
    memset(line, 'x', 99);
    for (int k = 0; k < 10; k++) {      /* 10 lines of 100 bytes: full */
        dx_dfs_env e = env(2);
        dx_dfs_log_append(D[2], "big", line, 99, &e);
        collect(2);
    }
    assert_int_equal(dx_dfs_log_pending(D[2]), 0);
    {
        dx_dfs_env e = env(2);
        dx_dfs_log_append(D[2], "big", line, 99, &e);   /* would be 1100 */
        collect(2);
    }
    assert_int_equal(dx_dfs_log_pending(D[2]), 1);
    tick(2);
    m = last_msg(DX_ACT_PUBLISH, topic_of("dfs/req"), 2, 0);
    assert_non_null(m);
    assert_int_equal(dx_dfs_req_decode(m->data, m->len, &q, &dg), 0);
    assert_int_equal(q.size, 1000);
    pump();
    assert_int_equal(dx_dfs_log_pending(D[2]), 0);
    assert_int_equal(dx_dfs_file_count(D[1]), 1);
}

/* Notes wait in order and are cut to the caller's buffer. */
static void test_notes(void **state)
{
    dx_dfs_env e;
    char buf[12];
    (void)state;
    cluster(1, 1, false);
    e = env(1);
    dx_dfs_on_scrub_done(D[1], 1, 0, &e);
    dx_dfs_on_scrub_done(D[1], 2, 1, &e);
    assert_true(dx_dfs_take_note(D[1], buf, sizeof buf));
    assert_string_equal(buf, "[DFS] scrub");
    assert_true(dx_dfs_take_note(D[1], buf, sizeof buf));
    assert_false(dx_dfs_take_note(D[1], buf, sizeof buf));
    for (int i = 0; i < 100; i++)
        dx_dfs_on_scrub_done(D[1], (uint64_t)i, 0, &e);
    for (int i = 0; dx_dfs_take_note(D[1], buf, sizeof buf); i++)
        assert_true(i < 100);
}

/* ---- every agent ---- */

/* Scrub: orphans go only after orphan_age_ms; unlisted copies go. */
static void test_scrub(void **state)
{
    static const uint16_t nodes[2][DX_DFS_R_MAX] = {{1, 2}, {1, 3}};
    static const uint32_t n[2] = {2, 2};
    dx_dfs_env e;
    char text[DX_DFS_NOTE_MAX];
    (void)state;
    cluster(3, 2, false);
    install("s.bin", "ks", 2, 2, nodes, n);
    e = env(2);
    dx_dfs_on_scrub_item(D[2], "zz1", 0, 5, true, ORPHAN_MS, &e);
    assert_int_equal(OB->n, 0);
    dx_dfs_on_scrub_item(D[2], "zz1", 0, 5, true, ORPHAN_MS + 1, &e);
    assert_int_equal(OB->n, 1);
    assert_int_equal(OB->a[0].type, DX_ACT_DFS_DELETE);
    assert_string_equal(OB->a[0].key, "zz1");
    assert_int_equal(OB->a[0].index, 0);
    dx_outbox_clear(OB);
    dx_dfs_on_scrub_item(D[2], "ks", 0, 5, true, 10, &e);   /* listed */
    assert_int_equal(OB->n, 0);
    dx_dfs_on_scrub_item(D[2], "ks", 1, 5, true, 10, &e);   /* not listed */
    assert_int_equal(OB->n, 1);
    assert_int_equal(OB->a[0].type, DX_ACT_DFS_DELETE);
    assert_int_equal(OB->a[0].index, 1);
    dx_outbox_clear(OB);
    dx_dfs_on_scrub_done(D[2], 2, 0, &e);
    assert_true(dx_dfs_take_note(D[2], text, sizeof text));
    assert_string_equal(text, "[DFS] scrub on node 2: 2 chunks checked, 0 bad");
    assert_false(dx_dfs_take_note(D[2], text, sizeof text));
}

/* Stores, acks and fetches: the checks of dfs.h. */
static void test_store_fetch_checks(void **state)
{
    dx_dfs_ref ref;
    dx_dfs_fetch f;
    dx_dfs_env e;
    dx_dfs_stored s;
    dx_diag dg;
    (void)state;
    cluster(3, 2, false);
    e = env(2);
    memset(&ref, 0, sizeof ref);
    ref.kind = DX_DFS_T_STORE;
    snprintf(ref.key, sizeof ref.key, "k9");
    ref.n_nodes = 2;
    ref.nodes[0] = 1;
    ref.nodes[1] = 3;
    ref.index = 4;
    ref.crc = 0xdeadbeef;
    assert_int_equal(dx_dfs_on_store(D[2], &ref, 100, &e), DX_ERANGE);
    ref.nodes[1] = 2;
    assert_int_equal(dx_dfs_on_store(D[2], &ref, DX_DFS_CHUNK_MAX + 1, &e),
                     DX_ERANGE);
    assert_int_equal(OB->n, 0);
    assert_int_equal(dx_dfs_on_store(D[2], &ref, 100, &e), 0);
    assert_int_equal(OB->a[0].type, DX_ACT_DFS_WRITE);
    assert_string_equal(OB->a[0].key, "k9");
    assert_int_equal(OB->a[0].index, 4);
    assert_int_equal(OB->a[0].crc, 0xdeadbeef);
    dx_outbox_clear(OB);
    /* a failed write is acknowledged as such */
    dx_dfs_on_store_done(D[2], false, "k9", 4, 0xdeadbeef, DX_EFULL, NULL, &e);
    assert_int_equal(OB->n, 1);
    assert_string_equal(OB->a[0].topic, topic_of("dfs/stored/k9"));
    assert_int_equal(dx_dfs_stored_decode(dx_outbox_payload(OB, &OB->a[0]),
                                          OB->a[0].len, &s, &dg), 0);
    assert_false(s.ok);
    assert_int_equal(s.node, 2);
    assert_string_equal(s.error, dx_strerror(DX_EFULL));
    dx_outbox_clear(OB);
    /* fetch reply_to: outside the root, replies, store topics only */
    memset(&f, 0, sizeof f);
    snprintf(f.key, sizeof f.key, "k9");
    snprintf(f.reply_to, sizeof f.reply_to, "%s", topic_of("nodes/1/cmd"));
    assert_int_equal(dx_dfs_on_fetch(D[2], &f, &e), DX_EINVAL);
    snprintf(f.reply_to, sizeof f.reply_to, "%s", topic_of("dfs/files/x"));
    assert_int_equal(dx_dfs_on_fetch(D[2], &f, &e), DX_EINVAL);
    snprintf(f.reply_to, sizeof f.reply_to, "a/+/b");
    assert_int_equal(dx_dfs_on_fetch(D[2], &f, &e), DX_EINVAL);
    assert_int_equal(OB->n, 0);
    snprintf(f.reply_to, sizeof f.reply_to, "elsewhere/x");
    assert_int_equal(dx_dfs_on_fetch(D[2], &f, &e), 0);
    snprintf(f.reply_to, sizeof f.reply_to, "%s", topic_of("reply/cli"));
    assert_int_equal(dx_dfs_on_fetch(D[2], &f, &e), 0);
    snprintf(f.reply_to, sizeof f.reply_to, "%s",
             topic_of("dfs/store/1/3/k9/0/00000000"));
    assert_int_equal(dx_dfs_on_fetch(D[2], &f, &e), 0);
    assert_int_equal(OB->n, 3);
    assert_int_equal(OB->a[2].type, DX_ACT_DFS_READ);
    assert_string_equal(OB->a[2].topic, f.reply_to);
    dx_outbox_clear(OB);
    /* read failures: the reason follows the error; a repair copy (to a
     * store topic) is not answered, a reader is sent 0 bytes at once */
    dx_dfs_on_store_done(D[2], true, "k9", 1, 0, DX_ECHECKSUM,
                         topic_of("dfs/store/1/3/k9/1/00000000"), &e);
    dx_dfs_on_store_done(D[2], true, "k9", 1, 0, DX_EIO, NULL, &e);
    dx_dfs_on_store_done(D[2], true, "k9", 1, 0, 0, topic_of("reply/cli"), &e);
    assert_int_equal(OB->n, 2);
    {
        dx_dfs_bad b;
        assert_int_equal(dx_dfs_bad_decode(dx_outbox_payload(OB, &OB->a[0]),
                                           OB->a[0].len, &b, &dg), 0);
        assert_string_equal(b.reason, "checksum");
        assert_int_equal(dx_dfs_bad_decode(dx_outbox_payload(OB, &OB->a[1]),
                                           OB->a[1].len, &b, &dg), 0);
        assert_string_equal(b.reason, "io");
    }
    dx_outbox_clear(OB);
    dx_dfs_on_store_done(D[2], true, "k9", 1, 0, DX_ENOTFOUND,
                         topic_of("reply/cli"), &e);
    dx_dfs_on_store_done(D[2], true, "k9", 2, 0, DX_EIO, "elsewhere/x", &e);
    assert_int_equal(OB->n, 4);
    assert_int_equal(OB->a[0].type, DX_ACT_PUBLISH);
    assert_string_equal(OB->a[0].topic, topic_of("reply/cli"));
    assert_int_equal(OB->a[0].len, 0);
    assert_string_equal(OB->a[1].topic, topic_of("dfs/bad"));
    assert_string_equal(OB->a[2].topic, "elsewhere/x");
    assert_int_equal(OB->a[2].len, 0);
    dx_outbox_clear(OB);
    assert_int_equal(dx_dfs_next_deadline(D[2]), INT64_MAX);
}

/* A bad configuration is refused. */
static void test_create_checks(void **state)
{
    dx_dfs *d = NULL;
    dx_dfs_cfg c;
    (void)state;
    c = cfg_of(1, 2, true);
    c.chunk_size = 5000;
    assert_int_equal(dx_dfs_create(&d, &c), DX_EINVAL);
    c = cfg_of(1, 2, true);
    c.log_segment_max = CS + 1;
    assert_int_equal(dx_dfs_create(&d, &c), DX_EINVAL);
    c = cfg_of(1, 0, false);
    assert_int_equal(dx_dfs_create(&d, &c), DX_EINVAL);
    c = cfg_of(0, 2, false);
    assert_int_equal(dx_dfs_create(&d, &c), DX_EINVAL);
    assert_null(d);
    c = cfg_of(1, 2, true);
    assert_int_equal(dx_dfs_create(&d, &c), 0);
    assert_string_equal(dx_dfs_reply_topic(d), topic_of("reply/dfs-n1"));
    dx_dfs_destroy(&d);
    assert_null(d);
    dx_dfs_destroy(&d);
}

/* ---- sensor logs ---- */

static void append(uint16_t id, const char *sensor, int k)
{
    char line[64];
    int n = snprintf(line, sizeof line, "{\"seq\":%d}", k);
    dx_dfs_env e = env(id);
    dx_dfs_log_append(D[id], sensor, line, (size_t)n, &e);
    collect(id);
}

/* append -> flush by count -> put -> plan -> store (with the bytes' crc
 * in the topic) -> acks -> commit -> done. */
static void test_log_cycle(void **state)
{
    dx_dfs_file *f = calloc(1, sizeof *f);
    const char *expect = "{\"seq\":1}\n{\"seq\":2}\n{\"seq\":3}\n";
    char name[128];
    size_t since = 0;
    int64_t start;
    (void)state;
    assert_non_null(f);
    cluster(3, 2, true);
    start = NOW + WALL0;
    append(2, "temp", 1);
    NOW += 5;
    append(2, "temp", 2);
    assert_int_equal(dx_dfs_log_pending(D[2]), 0);
    assert_true(dx_dfs_next_deadline(D[2]) <= NOW - 5 + 60000);
    append(2, "temp", 3);
    assert_int_equal(dx_dfs_log_pending(D[2]), 1);
    assert_true(dx_dfs_next_deadline(D[2]) <= NOW);
    tick(2);
    {
        const msg *m = last_msg(DX_ACT_PUBLISH, topic_of("dfs/req"), 2, since);
        dx_dfs_req q;
        dx_diag dg;
        assert_non_null(m);
        assert_int_equal(dx_dfs_req_decode(m->data, m->len, &q, &dg), 0);
        assert_int_equal(q.op, DX_DFS_OP_PUT);
        snprintf(name, sizeof name, "logs/2/temp/%lld.jsonl", (long long)start);
        assert_string_equal(q.name, name);
        assert_int_equal(q.size, strlen(expect));
        assert_int_equal(q.replicas, 0);
        assert_string_equal(q.reply_to, topic_of("reply/dfs-n2"));
    }
    pump();
    /* the bytes went to the planned nodes with their crc in the topic */
    {
        const msg *m = last_msg(DX_ACT_PUBLISH, topic_of("dfs/store/"), 2, 0);
        char crc[9];
        assert_non_null(m);
        assert_int_equal(m->len, strlen(expect));
        assert_memory_equal(m->data, expect, m->len);
        dx_dfs_crc_hex(dx_crc32c(0, expect, strlen(expect)), crc);
        assert_non_null(strstr(m->topic, crc));
        assert_true(m->retain == false);
    }
    assert_int_equal(count_msgs(DX_ACT_PUBLISH, topic_of("dfs/req"), 2, 0), 2);
    assert_int_equal(dx_dfs_log_pending(D[2]), 0);
    assert_true(dx_dfs_lookup(D[1], name, f));
    assert_int_equal(f->size, strlen(expect));
    assert_int_equal(f->chunks[0].n, 3);
    for (uint16_t id = 1; id <= 3; id++) {
        chunk_copy *c = disk_find(id, f->key, 0);
        assert_non_null(c);
        assert_memory_equal(c->data, expect, c->len);
    }
    {
        char sha[65];
        dx_sha256 h;
        dx_sha256_init(&h);
        dx_sha256_update(&h, expect, strlen(expect));
        dx_sha256_final(&h, sha);
        assert_string_equal(f->sha256, sha);
    }
    /* a segment also closes by age; an empty one is never written */
    since = NH;
    append(2, "hum", 1);
    NOW += 60000;
    tick(2);
    pump();
    assert_int_equal(dx_dfs_file_count(D[1]), 2);
    NOW += 60000;
    tick(2);
    assert_int_equal(count_msgs(DX_ACT_PUBLISH, topic_of("dfs/req"), 2, since),
                     2);
    assert_int_equal(dx_dfs_next_deadline(D[2]), INT64_MAX);
    free(f);
}

/* No leader answers: the put is retried with a growing backoff, and
 * completes once a leader is back. */
static void test_log_retry(void **state)
{
    int64_t t0;
    (void)state;
    cluster(3, 2, true);
    LEADER = 0;
    for (int k = 1; k <= 3; k++)
        append(3, "temp", k);
    tick(3);
    t0 = NOW;
    assert_int_equal(count_msgs(DX_ACT_PUBLISH, topic_of("dfs/req"), 3, 0), 1);
    pump();
    NOW = t0 + 2999;
    tick(3);
    NOW = t0 + 3000;       /* no answer: wait 1 s */
    tick(3);
    assert_int_equal(count_msgs(DX_ACT_PUBLISH, topic_of("dfs/req"), 3, 0), 1);
    NOW = t0 + 3999;
    tick(3);
    assert_int_equal(count_msgs(DX_ACT_PUBLISH, topic_of("dfs/req"), 3, 0), 1);
    NOW = t0 + 4000;
    tick(3);
    assert_int_equal(count_msgs(DX_ACT_PUBLISH, topic_of("dfs/req"), 3, 0), 2);
    NOW = t0 + 7000;       /* no answer again: wait 2 s */
    tick(3);
    NOW = t0 + 8999;
    tick(3);
    assert_int_equal(count_msgs(DX_ACT_PUBLISH, topic_of("dfs/req"), 3, 0), 2);
    NOW = t0 + 9000;
    LEADER = 1;
    tick(3);
    assert_int_equal(count_msgs(DX_ACT_PUBLISH, topic_of("dfs/req"), 3, 0), 3);
    pump();
    assert_int_equal(dx_dfs_log_pending(D[3]), 0);
    assert_int_equal(dx_dfs_file_count(D[3]), 1);
}

/* Without every ack the writer commits after 2 s; the leader refuses
 * while the silent node is alive, and the whole put is retried. */
static void test_log_commit_after_ack_wait(void **state)
{
    (void)state;
    cluster(3, 2, true);
    DROP_STORE_NODE = 3;     /* planned on, but it never stores */
    DROP_STORE_INDEX = 0;
    for (int k = 1; k <= 3; k++)
        append(2, "temp", k);
    tick(2);
    pump();
    assert_int_equal(dx_dfs_log_pending(D[2]), 1);
    assert_int_equal(count_msgs(DX_ACT_PUBLISH, topic_of("dfs/req"), 2, 0), 1);
    NOW += 1999;
    tick(2);
    assert_int_equal(count_msgs(DX_ACT_PUBLISH, topic_of("dfs/req"), 2, 0), 1);
    NOW += 1;
    tick(2);
    assert_int_equal(count_msgs(DX_ACT_PUBLISH, topic_of("dfs/req"), 2, 0), 2);
    pump();                  /* node 3 is alive: missing copies */
    assert_false(REPLY->ok);
    assert_int_equal(REPLY->n_missing, 1);
    assert_int_equal(dx_dfs_log_pending(D[2]), 1);
    kill_node(3);            /* now a put plans on 1 and 2 only */
    NOW += 1000;
    tick(2);
    assert_int_equal(count_msgs(DX_ACT_PUBLISH, topic_of("dfs/req"), 2, 0), 3);
    pump();
    assert_int_equal(dx_dfs_log_pending(D[2]), 0);
    assert_int_equal(dx_dfs_file_count(D[1]), 1);
}

/* Segments that cannot be written are bounded: the oldest is dropped. */
static void test_log_pending_bound(void **state)
{
    dx_dfs_req q;
    dx_diag dg;
    const msg *m;
    (void)state;
    cluster(3, 2, true);
    LEADER = 0;
    for (int s = 0; s < DX_DFS_LOG_PENDING_MAX + 1; s++) {
        for (int k = 1; k <= 3; k++)
            append(2, "temp", s * 10 + k);
        NOW += 1000;
    }
    assert_int_equal(dx_dfs_log_pending(D[2]), DX_DFS_LOG_PENDING_MAX);
    assert_int_equal(dx_dfs_log_dropped(D[2]), 1);
    LEADER = 1;
    tick(2);
    m = last_msg(DX_ACT_PUBLISH, topic_of("dfs/req"), 2, 0);
    assert_non_null(m);
    assert_int_equal(dx_dfs_req_decode(m->data, m->len, &q, &dg), 0);
    /* the first segment (opened at 1000) is gone; the second is next */
    {
        char name[128];
        snprintf(name, sizeof name, "logs/2/temp/%lld.jsonl",
                 (long long)(WALL0 + 2000));
        assert_string_equal(q.name, name);
    }
    pump();
    for (int i = 0; i < 20; i++) {
        NOW += 100;
        tick(2);
        pump();
    }
    assert_int_equal(dx_dfs_log_pending(D[2]), 0);
    assert_int_equal(dx_dfs_file_count(D[1]), DX_DFS_LOG_PENDING_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_put_plan_all_nodes),
        T(test_put_plan_balanced),
        T(test_put_fewer_alive),
        T(test_put_bad_names),
        T(test_put_limits),
        T(test_commit_success),
        T(test_commit_missing_ack),
        T(test_commit_dead_node),
        T(test_commit_after_leader_change),
        T(test_abort_and_expiry),
        T(test_rm),
        T(test_on_file_replacement),
        T(test_repair),
        T(test_repair_parallel_bound),
        T(test_repair_under_replicated_join),
        T(test_bad_copy_repaired),
        T(test_bad_reports_queue),
        T(test_log_segment_size),
        T(test_notes),
        T(test_scrub),
        T(test_store_fetch_checks),
        T(test_create_checks),
        T(test_log_cycle),
        T(test_log_retry),
        T(test_log_commit_after_ack_wait),
        T(test_log_pending_bound),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
