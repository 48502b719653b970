/*
 * test_hostile_it.c - hostile input, end to end: a real Mosquitto, three
 * real distribux-agent processes, the real CLI, and a client that publishes
 * garbage on every topic the agents subscribe to (agent/core.c subs_table).
 *
 * The cluster is brought to a known state first: nodes 1 and 2 elect node 2
 * (term T0), node 3 joins and takes over (term T > T0), and two tasks are
 * recorded (a periodic noop that keeps running, a one-shot noop that is
 * done).  Then the hostile phase publishes, non-retained, QoS 1:
 *
 *  - per topic, a valid "dangerous" template (a message that WOULD change
 *    the cluster if it were accepted: a crash will of node 2, a newer
 *    coordinator from node 1, a fail command, a ghost assignment, a failed
 *    record of the periodic task, a done report of it, ...) mutated into
 *    payloads the codec rejects: every field, nested ones too, replaced by
 *    a wrong type, a negative or huge number (-1, 1e308, 2^53, 2^64, 3.5),
 *    an out-of-range id (0, 70000), NUL and control characters, invalid
 *    UTF-8, a 600-byte string; every field deleted; v = 2, 0, "1"; the
 *    template truncated at several points, with trailing bytes, padded over
 *    65536 bytes, with 10,000 levels of nesting in an unknown field;
 *    (a mutation the codec accepts is not published: it would be legal);
 *  - messages the codec accepts but the topic contradicts (the id in the
 *    body is not the id in the topic);
 *  - generic garbage on every topic, including node topics with ids out of
 *    range, leading zeros or invented nodes: seeded random bytes, random
 *    JSON-ish token soup, truncated and invalid JSON, an empty payload,
 *    10,000-deep arrays and objects, an oversize payload, and the hostile
 *    files of the fuzz corpus (tests/fuzz/corpus/hostile_*);
 *  - replays of old-term leader traffic captured during start-up (node 2's
 *    leader message, coordinator and election messages, term T0), an
 *    assignment of a ghost task in term T0, and the old leader message as a
 *    RETAINED message, plus retained garbage on {root}/leader: the leader
 *    must put the retained leader back by itself.
 *
 * Afterwards: every agent alive and heartbeating, the members view
 * unchanged (all online, same epochs), leader 3 in term T everywhere (no new
 * term, no election traffic once quiet), the retained leader is node 3 in
 * term T, the task records unchanged (periodic still running, one-shot still
 * done, no ghost), no event, each agent's rejected count went up in its
 * heartbeats and in `distribux --json status`, logs not flooded, and (in
 * the teardown) no sanitizer report and a clean SIGTERM exit.
 *
 * The it_ helpers come from test_membership_it.c (see its header).
 */
#define IT_NAME "hostile"
#define IT_HELPERS_ONLY
#include "test_membership_it.c"

#include <errno.h>

#define HX_LOG_MAX_LINES 2000 /* a node log after the flood */
#define HX_QUIET_MS 2000      /* the quiet period after the flood */

/* ---- the publisher ------------------------------------------------------ */

typedef struct hx {
    it *t;
    dxh_obs *pub;              /* the hostile client (no subscriptions) */
    size_t sent;               /* payloads published */
    size_t skipped;            /* mutations the codec accepted */
    uint32_t rng;
    uint64_t t0, term, e[4];   /* old term, current term, epochs by id */
    char *old_leader, *old_coord;   /* captured payloads of term t0 */
    char *old_elections[16];
    size_t n_old_elections;
    char task_node[2][8];      /* "hp1", "hd1": where they ran */
    uint32_t task_attempt[2];
} hx;

static void hx_pub_n(hx *x, const char *topic, const void *p, size_t len,
                     bool retain)
{
    int rc = dxh_obs_publish(x->pub, topic, p, len, 1, retain);
    if (rc != 0)
        fail_msg("publishing %zu bytes on %s failed: %d", len, topic, rc);
    x->sent++;
    /* A little room every few messages: this tests hostile content, not
     * the broker's or the agents' throughput. */
    if (x->sent % 64 == 0)
        dxh_sleep_ms(5);
}

static void hx_pub(hx *x, const char *topic, const char *p)
{
    hx_pub_n(x, topic, p, strlen(p), false);
}

static uint32_t hx_rand(hx *x)
{
    uint32_t v = x->rng;
    v ^= v << 13;
    v ^= v >> 17;
    v ^= v << 5;
    return x->rng = v;
}

/* ---- decoders, as a table: accepts(payload) ----------------------------- */

typedef bool (*hx_accepts)(const char *p, size_t n);

#define HX_ACCEPTS(type)                                                     \
    static bool hx_ok_##type(const char *p, size_t n)                        \
    {                                                                        \
        static dx_##type m;                                                  \
        return dx_##type##_decode(p, n, &m, NULL) == 0;                      \
    }
HX_ACCEPTS(msg_state)
HX_ACCEPTS(msg_heartbeat)
HX_ACCEPTS(msg_election)
HX_ACCEPTS(msg_leader)
HX_ACCEPTS(msg_cmd)
HX_ACCEPTS(msg_assign)
HX_ACCEPTS(task_record)
HX_ACCEPTS(task_spec)
HX_ACCEPTS(msg_request)
HX_ACCEPTS(msg_report)
HX_ACCEPTS(msg_actuator)

/* ---- mutations of a template -------------------------------------------- */

/* Raw JSON texts put in place of a field. */
static const char *const hx_values[] = {
    "-1", "1e308", "-1e308", "18446744073709551616", "9007199254740992",
    "3.5", "70000", "0", "2", "\"1\"", "true", "[]", "{}", "null",
    "\"\\u0000\"", "\"a\\u0000b\"", "\"a\\u0001b\"", "\"a\\u007fb\"",
    "\"\\ud800\"", "\"\xff\xfe\"", "\"a\x01" "b\"", "\"\\/\\/+#\"",
    "[1,2,3]", "{\"v\":1}", "-0", "1e-400", "123456789012345678901234567890",
};

/* A path to one item of a parsed template: child indexes, level by level. */
typedef struct hx_path {
    int depth;
    int idx[6];
} hx_path;

static cJSON *hx_at(cJSON *root, const hx_path *p, cJSON **parent)
{
    cJSON *cur = root;
    *parent = NULL;
    for (int i = 0; i < p->depth && cur != NULL; i++) {
        *parent = cur;
        cur = cJSON_GetArrayItem(cur, p->idx[i]);
    }
    return cur;
}

static size_t hx_paths(const cJSON *node, hx_path *prefix, hx_path *out,
                       size_t n, size_t cap)
{
    int i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, node)
    {
        if (n == cap || prefix->depth == 6)
            return n;
        hx_path p = *prefix;
        p.idx[p.depth++] = i++;
        out[n++] = p;
        if (cJSON_IsObject(c) || cJSON_IsArray(c))
            n = hx_paths(c, &p, out, n, cap);
    }
    return n;
}

/* Publishes text on topic unless the codec accepts it. */
static void hx_pub_bad(hx *x, const char *topic, hx_accepts ok,
                       const char *text, size_t len)
{
    if (ok != NULL && ok(text, len)) {
        x->skipped++;
        return;
    }
    hx_pub_n(x, topic, text, len, false);
}

static void hx_mutate(hx *x, const char *topic, hx_accepts ok,
                      const char *tmpl)
{
    static hx_path paths[128];
    size_t len = strlen(tmpl), np;
    cJSON *j = cJSON_Parse(tmpl);
    hx_path none = {0, {0}};
    assert_non_null(j);
    assert_true(ok(tmpl, len)); /* the template itself is valid */
    np = hx_paths(j, &none, paths, 0, 128);
    cJSON_Delete(j);

    for (size_t k = 0; k < np; k++) {
        /* every field replaced by every hostile value */
        for (size_t v = 0; v < sizeof hx_values / sizeof hx_values[0]; v++) {
            cJSON *r = cJSON_Parse(tmpl), *parent, *it_;
            assert_non_null(r);
            it_ = hx_at(r, &paths[k], &parent);
            assert_non_null(it_);
            cJSON *raw = cJSON_CreateRaw(hx_values[v]);
            assert_true(cJSON_ReplaceItemViaPointer(parent, it_, raw));
            char *s = cJSON_PrintUnformatted(r);
            hx_pub_bad(x, topic, ok, s, strlen(s));
            free(s);
            cJSON_Delete(r);
        }
        /* and deleted */
        cJSON *r = cJSON_Parse(tmpl), *parent, *it_;
        it_ = hx_at(r, &paths[k], &parent);
        cJSON_Delete(cJSON_DetachItemViaPointer(parent, it_));
        char *s = cJSON_PrintUnformatted(r);
        hx_pub_bad(x, topic, ok, s, strlen(s));
        free(s);
        cJSON_Delete(r);
    }

    /* truncated at several points, and with trailing bytes */
    for (size_t k = 1; k < 8; k++)
        hx_pub_bad(x, topic, ok, tmpl, len * k / 8);
    hx_pub_bad(x, topic, ok, tmpl, len - 1);
    static const char *const tails[] = {"x", "}", ",", "{}", "\x00", " \n1"};
    for (size_t k = 0; k < sizeof tails / sizeof tails[0]; k++) {
        char buf[4096];
        size_t tl = k == 4 ? 1 : strlen(tails[k]);
        assert_true(len + tl < sizeof buf);
        memcpy(buf, tmpl, len);
        memcpy(buf + len, tails[k], tl);
        hx_pub_bad(x, topic, ok, buf, len + tl);
    }

    /* over the size limit: the template with a padding field; and 10,000
     * levels of nesting inside an unknown field */
    {
        size_t pad = DX_PAYLOAD_MAX + 100, n = 0;
        char *buf = malloc(pad + len + 64);
        assert_non_null(buf);
        n += (size_t)sprintf(buf, "{\"pad\":\"");
        memset(buf + n, 'x', pad);
        n += pad;
        n += (size_t)sprintf(buf + n, "\",%s", tmpl + 1);
        hx_pub_bad(x, topic, ok, buf, n);

        n = (size_t)sprintf(buf, "{\"deep\":");
        for (int d = 0; d < 10000; d++)
            buf[n++] = '[';
        for (int d = 0; d < 10000; d++)
            buf[n++] = ']';
        n += (size_t)sprintf(buf + n, ",%s", tmpl + 1);
        hx_pub_bad(x, topic, ok, buf, n);
        free(buf);
    }
}

/* The decoder of what an agent would act on at topic (NULL for a topic
 * the agents reject by its name: a bad id, an unknown kind). */
static hx_accepts hx_decoder_of(const it *t, const char *topic)
{
    dx_topics tp;
    dx_topic_ref ref;
    if (dx_topics_init(&tp, t->root, NULL, NULL) != 0 ||
        dx_topic_parse(&tp, topic, strlen(topic), &ref) != 0)
        return NULL;
    switch (ref.kind) {
    case DX_T_NODE_STATE: return hx_ok_msg_state;
    case DX_T_NODE_HEARTBEAT: return hx_ok_msg_heartbeat;
    case DX_T_ELECTION: return hx_ok_msg_election;
    case DX_T_LEADER: return hx_ok_msg_leader;
    case DX_T_NODE_CMD: return hx_ok_msg_cmd;
    case DX_T_NODE_ASSIGN: return hx_ok_msg_assign;
    case DX_T_TASK_RECORD: return hx_ok_task_record;
    case DX_T_TASK_SUBMIT: return hx_ok_task_spec;
    case DX_T_TASK_CANCEL: return hx_ok_msg_request;
    case DX_T_NODE_REPORT: return hx_ok_msg_report;
    case DX_T_IO_ACT_SET: return hx_ok_msg_actuator;
    default: return NULL;
    }
}

/* ---- generic garbage ---------------------------------------------------- */

/* Garbage, unless the codec accepts it there: "{"v":1}" is a valid cancel,
 * and that would cancel the task. */
static void hx_junk(hx *x, const char *topic, const void *p, size_t len)
{
    hx_pub_bad(x, topic, hx_decoder_of(x->t, topic), p, len);
}

static void hx_garbage(hx *x, const char *topic)
{
    static const char *const fixed[] = {
        "", " ", "{", "}", "[", "]", "\"", "{\"v\":1", "{\"v\":1,", "{\"v\":",
        "{\"v\":1,}", "{'v':1}", "{v:1}", "null", "true", "1", "\"str\"",
        "[]", "{}", "{\"v\":2}", "{\"v\":0}", "{\"v\":\"1\"}", "{\"v\":1.5}",
        "{\"v\":1e308}", "{\"v\":-1}", "{\"v\":18446744073709551616}",
        "{\"v\":1}", "{\"v\":1}{\"v\":1}", "{\"v\":1,\"\\u0000\":1}",
        "{\"v\":1,\"id\":\"\\u0000\"}", "{\"v\":1,\"x\":\"\x01\"}",
        "\xef\xbb\xbf{\"v\":1}", "{\"v\":NaN}", "{\"v\":Infinity}",
        "{\"v\":1,\"a\":\"\\uZZZZ\"}", "{\"v\":1 \"a\":2}",
    };
    for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++)
        hx_junk(x, topic, fixed[k], strlen(fixed[k]));

    char buf[1024];
    for (int k = 0; k < 6; k++) {            /* seeded random bytes */
        size_t n = 1 + hx_rand(x) % (sizeof buf - 1);
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)(hx_rand(x) & 0xff);
        hx_junk(x, topic, buf, n);
    }
    static const char *const tok[] = {
        "{", "}", "[", "]", ",", ":", "\"v\"", "1", "-1", "1e999", "true",
        "null", "\"\\u0000\"", "\"id\"", "\"term\"", "70000", "\"",
        "\\", " ", "\"online\"", "0.5", "{\"v\":1,"};
    for (int k = 0; k < 4; k++) {            /* seeded JSON-ish soup */
        size_t n = 0, want = 8 + hx_rand(x) % 200;
        for (size_t i = 0; i < want; i++) {
            const char *s = tok[hx_rand(x) % (sizeof tok / sizeof tok[0])];
            size_t l = strlen(s);
            if (n + l >= sizeof buf)
                break;
            memcpy(buf + n, s, l);
            n += l;
        }
        hx_junk(x, topic, buf, n);
    }

    /* deep and big */
    size_t cap = DX_PAYLOAD_MAX + 4096, n = 0;
    char *big = malloc(cap);
    assert_non_null(big);
    for (int d = 0; d < 10000; d++)
        big[n++] = '[';
    hx_junk(x, topic, big, n);       /* unclosed */
    for (int d = 0; d < 10000; d++)
        big[n++] = ']';
    hx_junk(x, topic, big, n);
    n = 0;
    for (int d = 0; d < 10000; d++) {
        memcpy(big + n, "{\"a\":", 5);
        n += 5;
    }
    big[n++] = '1';
    for (int d = 0; d < 10000; d++)
        big[n++] = '}';
    hx_junk(x, topic, big, n);
    memset(big, ' ', cap);
    memcpy(big, "{\"v\":1,\"pad\":\"", 14);
    big[cap - 2] = '"';
    big[cap - 1] = '}';
    hx_junk(x, topic, big, cap);
    free(big);
}

/* The hostile files of the fuzz corpus, next to this source. */
static void hx_corpus(hx *x, const char *const topics[], size_t n_topics)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", __FILE__);
    char *slash = strrchr(dir, '/');
    if (slash == NULL) {
        printf("    (no corpus: __FILE__ is relative)\n");
        return;
    }
    snprintf(slash, sizeof dir - (size_t)(slash - dir), "/../fuzz/corpus");
    DIR *d = opendir(dir);
    size_t files = 0;
    if (d == NULL) {
        printf("    (no corpus at %s: %s)\n", dir, strerror(errno));
        return;
    }
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strncmp(e->d_name, "hostile_", 8) != 0)
            continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (f == NULL)
            continue;
        static char buf[DX_PAYLOAD_MAX * 2];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        files++;
        for (size_t k = 0; k < n_topics; k++)
            hx_junk(x, topics[k], buf, n);
    }
    closedir(d);
    printf("    corpus: %zu hostile files from %s\n", files, dir);
}

/* ---- observing ---------------------------------------------------------- */

/* The newest heartbeat of nodes 1..3 from `from` on. */
typedef struct hx_hbs {
    const it *t;
    dx_msg_heartbeat last[4];
    size_t n[4];
} hx_hbs;

static bool hx_pred_hbs(const dxh_msg *m, void *ctx)
{
    hx_hbs *s = ctx;
    dx_msg_heartbeat hb;
    unsigned id = 0;
    char tail[16] = "";
    if (!dxh_topic_matches(it_topic(s->t, "nodes/+/heartbeat"), m->topic) ||
        sscanf(m->topic + strlen(s->t->root), "/nodes/%u/%15s", &id, tail) != 2 ||
        id < 1 || id > 3 ||
        dx_msg_heartbeat_decode(m->payload, m->payload_len, &hb, NULL) != 0 ||
        hb.id != id)
        return false;
    /* only the node's own ones: its epoch, increasing seq */
    if (s->n[id] == 0 || hb.epoch > s->last[id].epoch ||
        (hb.epoch == s->last[id].epoch && hb.seq > s->last[id].seq)) {
        s->last[id] = hb;
        s->n[id]++;
    }
    return false;
}

/* The rejected count in node id's newest heartbeat (from `from` on). */
static hx_hbs *hx_heartbeats(it *t, uint64_t from)
{
    static hx_hbs s;
    memset(&s, 0, sizeof s);
    s.t = t;
    it_scan(t, from, hx_pred_hbs, &s);
    return &s;
}

typedef struct hx_rej_want {
    it *t;
    uint64_t from;
    uint64_t before[4];
} hx_rej_want;

static bool hx_cond_rejected(void *ctx)
{
    hx_rej_want *w = ctx;
    hx_hbs *s = hx_heartbeats(w->t, w->from);
    for (int id = 1; id <= 3; id++)
        if (s->n[id] == 0 || s->last[id].rejected <= w->before[id])
            return false;
    return true;
}

/* Retained messages as a fresh client sees them now: one payload per
 * topic under filter (up to 16), with their topics. */
typedef struct hx_retained {
    size_t n;
    char topic[16][DX_TOPIC_MAX + 1];
    char *payload[16];
    size_t len[16];
} hx_retained;

static void hx_retained_free(hx_retained *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->payload[i]);
    memset(r, 0, sizeof *r);
}

static bool hx_pred_collect(const dxh_msg *m, void *ctx)
{
    hx_retained *r = ctx;
    if (!m->retained || r->n == 16)
        return false;
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->topic[i], m->topic) == 0)
            return false;
    snprintf(r->topic[r->n], sizeof r->topic[0], "%s", m->topic);
    r->payload[r->n] = malloc(m->payload_len + 1);
    assert_non_null(r->payload[r->n]);
    memcpy(r->payload[r->n], m->payload, m->payload_len + 1);
    r->len[r->n++] = m->payload_len;
    return false;
}

static void hx_fetch_retained(it *t, const char *filter, hx_retained *r)
{
    dxh_obs *o = dxh_obs_new(t->h, NULL);
    assert_non_null(o);
    assert_int_equal(dxh_obs_subscribe(o, filter), 0);
    dxh_sleep_ms(500); /* retained messages follow the SUBACK at once */
    memset(r, 0, sizeof *r);
    (void)dxh_obs_wait_for(o, hx_pred_collect, r, 0);
    dxh_obs_destroy(o);
}

static const char *hx_retained_get(const hx_retained *r, const char *topic,
                                   size_t *len)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->topic[i], topic) == 0) {
            *len = r->len[i];
            return r->payload[i];
        }
    return NULL;
}

/* Captures the payloads of node 2's leadership (term t0). */
static bool hx_pred_capture(const dxh_msg *m, void *ctx)
{
    hx *x = ctx;
    dx_msg_election el;
    dx_msg_leader l;
    if (m->payload_len == 0)
        return false;
    if (strcmp(m->topic, it_topic(x->t, "leader")) == 0 &&
        dx_msg_leader_decode(m->payload, m->payload_len, &l, NULL) == 0 &&
        l.leader == 2 && l.term == x->t0 && x->old_leader == NULL)
        x->old_leader = strdup(m->payload);
    else if (strcmp(m->topic, it_topic(x->t, "election")) == 0 &&
             dx_msg_election_decode(m->payload, m->payload_len, &el,
                                    NULL) == 0) {
        if (el.type == DX_ELECT_COORDINATOR && el.from == 2 &&
            el.term == x->t0 && x->old_coord == NULL)
            x->old_coord = strdup(m->payload);
        else if (el.type != DX_ELECT_COORDINATOR && x->n_old_elections < 16)
            x->old_elections[x->n_old_elections++] = strdup(m->payload);
    }
    return false;
}

/* The record of a task in a retained set, decoded. */
static void hx_record(const hx_retained *r, it *t, const char *id,
                      dx_task_record *rec)
{
    size_t len = 0;
    const char *p = hx_retained_get(r, it_topic(t, "tasks/%s", id), &len);
    if (p == NULL || len == 0)
        fail_msg("no retained record of task %s", id);
    if (dx_task_record_decode(p, len, rec, NULL) != 0)
        fail_msg("the retained record of %s does not decode: %s", id, p);
}

typedef struct hx_rec_want {
    it *t;
    const char *id;
    dx_task_state state;
    uint64_t min_runs;
} hx_rec_want;

static bool hx_pred_rec(const dxh_msg *m, void *ctx)
{
    hx_rec_want *w = ctx;
    static dx_task_record r;
    return strcmp(m->topic, it_topic(w->t, "tasks/%s", w->id)) == 0 &&
           m->payload_len > 0 &&
           dx_task_record_decode(m->payload, m->payload_len, &r, NULL) == 0 &&
           r.state == w->state && r.runs >= w->min_runs;
}

static void hx_expect_rec(it *t, uint64_t from, const char *id,
                          dx_task_state st, uint64_t min_runs)
{
    hx_rec_want w = {t, id, st, min_runs};
    if (dxh_obs_wait_for_from(t->obs, from, hx_pred_rec, &w, IT_WAIT_MS) ==
        NULL)
        fail_msg("no record of %s %s with runs >= %" PRIu64, id,
                 dx_task_state_name(st), min_runs);
}

/* What must not happen after the hostile phase: a valid message from an
 * agent that shows a change.  Counted into `bad`, the first kept. */
typedef struct hx_after {
    hx *x;
    size_t bad, elections, events, ghost;
    char first[400];
} hx_after;

static void hx_note(hx_after *a, const dxh_msg *m, const char *why)
{
    if (a->bad++ == 0)
        snprintf(a->first, sizeof a->first, "%s: %s %.200s", why, m->topic,
                 m->payload);
    if (a->bad <= 12)
        printf("    CHANGE: %s: %s %.200s\n", why, m->topic, m->payload);
}

static bool hx_pred_after(const dxh_msg *m, void *ctx)
{
    hx_after *a = ctx;
    hx *x = a->x;
    it *t = x->t;
    dx_msg_election el;
    dx_msg_leader l;
    dx_msg_event ev;
    static dx_task_record rec;
    static dx_msg_members v;
    static dx_msg_report rep;

    if (m->payload_len == 0)
        return false;
    if (strcmp(m->topic, it_topic(t, "election")) == 0 &&
        dx_msg_election_decode(m->payload, m->payload_len, &el, NULL) == 0) {
        if (el.term > x->term || (el.type == DX_ELECT_COORDINATOR &&
                                  el.term == x->term && el.from != 3))
            hx_note(a, m, "an election message of a newer term");
    } else if (strcmp(m->topic, it_topic(t, "leader")) == 0 &&
               dx_msg_leader_decode(m->payload, m->payload_len, &l,
                                    NULL) == 0) {
        if (l.term > x->term || (l.term == x->term && l.leader != 3))
            hx_note(a, m, "a leader message of a newer term");
    } else if (strcmp(m->topic, it_topic(t, "members")) == 0 &&
               dx_msg_members_decode(m->payload, m->payload_len, &v,
                                     NULL) == 0) {
        bool same = v.leader == 3 && v.term == x->term && v.n == 3;
        for (int id = 1; id <= 3 && same; id++) {
            const dx_view_node *n = it_view_node(&v, id);
            same = n != NULL && n->state == DX_VIEW_ONLINE &&
                   n->epoch == x->e[id];
        }
        if (!same)
            hx_note(a, m, "a members view that changed");
    } else if (strcmp(m->topic, it_topic(t, "events")) == 0 &&
               dx_msg_event_decode(m->payload, m->payload_len, &ev,
                                   NULL) == 0) {
        a->events++;
        hx_note(a, m, "an event");
    } else if (dxh_topic_matches(it_topic(t, "tasks/+"), m->topic) &&
               strcmp(m->topic, it_topic(t, "tasks/submit")) != 0 &&
               dx_task_record_decode(m->payload, m->payload_len, &rec,
                                     NULL) == 0) {
        bool ok = (strcmp(rec.spec.id, "hp1") == 0 &&
                   rec.state == DX_TS_RUNNING) ||
                  (strcmp(rec.spec.id, "hd1") == 0 && rec.state == DX_TS_DONE);
        if (!ok) {
            a->ghost++;
            hx_note(a, m, "a task record that changed or appeared");
        }
    } else if (dxh_topic_matches(it_topic(t, "nodes/+/report"), m->topic) &&
               dx_msg_report_decode(m->payload, m->payload_len, &rep,
                                    NULL) == 0) {
        for (size_t i = 0; i < rep.n; i++)
            if (strncmp(rep.items[i].id, "ghost", 5) == 0) {
                a->ghost++;
                hx_note(a, m, "a report of a ghost task");
            }
    }
    return false;
}

static bool hx_pred_any_election(const dxh_msg *m, void *ctx)
{
    hx_after *a = ctx;
    dx_msg_election el;
    if (strcmp(m->topic, it_topic(a->x->t, "election")) == 0 &&
        dx_msg_election_decode(m->payload, m->payload_len, &el, NULL) == 0 &&
        el.from >= 1 && el.from <= 3) {
        if (a->elections++ == 0)
            snprintf(a->first, sizeof a->first, "%.200s", m->payload);
        if (a->elections <= 6)
            printf("    QUIET? %s\n", m->payload);
    }
    return false;
}

static size_t hx_lines(const char *path, size_t *warn_rejects)
{
    char *text = it_slurp(path, 0);
    size_t n = 0;
    *warn_rejects = 0;
    for (char *p = text; *p != '\0';) {
        char *nl = strchr(p, '\n');
        if (nl != NULL)
            *nl = '\0';
        n++;
        if (strstr(p, "rejected") != NULL && strstr(p, " WARN ") != NULL)
            (*warn_rejects)++;
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    free(text);
    return n;
}

/* ---- the test ----------------------------------------------------------- */

static void test_hostile_input(void **state)
{
    it *t = *state;
    static hx x;
    memset(&x, 0, sizeof x);
    x.t = t;
    x.rng = 0x5eed1234u;

    /* 1. Node 2 leads nodes 1 and 2 (term t0); node 3 joins and takes
     *    over (term T): old-term leader traffic to replay. */
    (void)it_agent(t, 1, NULL);
    (void)it_agent(t, 2, NULL);
    (void)it_expect_view(t, 0, 2, "1=online 2=online", IT_WAIT_MS);
    (void)it_expect_leader(t, 0, 2, 1, &x.t0, IT_WAIT_MS);
    x.t0 = it_expect_follow(t, 0, "12", 2, x.t0, IT_WAIT_MS);
    it_scan(t, 0, hx_pred_capture, &x);
    uint64_t m3 = dxh_obs_mark(t->obs);
    (void)it_agent(t, 3, NULL);
    (void)it_expect_view(t, m3, 3, "1=online 2=online 3=online", IT_WAIT_MS);
    (void)it_expect_leader(t, m3, 3, x.t0 + 1, &x.term, IT_WAIT_MS);
    x.term = it_expect_follow(t, m3, "123", 3, x.term, IT_WAIT_MS);
    assert_true(x.term > x.t0);
    assert_non_null(x.old_leader);
    printf("    node 2 led in term %" PRIu64 ", node 3 leads in term %" PRIu64
           "; captured: leader %s, coordinator %s, %zu election messages\n",
           x.t0, x.term, x.old_leader, x.old_coord ? x.old_coord : "(none)",
           x.n_old_elections);

    /* 2. Two tasks: a periodic noop that keeps running, a done one. */
    uint64_t mt = dxh_obs_mark(t->obs);
    assert_int_equal(dxh_obs_publish_str(t->obs, it_topic(t, "tasks/submit"),
                     "{\"v\":1,\"id\":\"hp1\",\"kind\":\"noop\","
                     "\"every_ms\":500}", 1, false), 0);
    assert_int_equal(dxh_obs_publish_str(t->obs, it_topic(t, "tasks/submit"),
                     "{\"v\":1,\"id\":\"hd1\",\"kind\":\"noop\"}", 1, false),
                     0);
    hx_expect_rec(t, mt, "hp1", DX_TS_RUNNING, 1);
    hx_expect_rec(t, mt, "hd1", DX_TS_DONE, 0);

    /* 3. The snapshot. */
    static hx_retained before, after;
    hx_retained_free(&before);
    hx_retained_free(&after);
    hx_fetch_retained(t, it_topic(t, "#"), &before);
    dx_task_record hp1, hd1;
    hx_record(&before, t, "hp1", &hp1);
    hx_record(&before, t, "hd1", &hd1);
    {
        size_t len = 0;
        const char *p = hx_retained_get(&before, it_topic(t, "members"), &len);
        assert_non_null(p);
        dx_msg_members *v = &it_view;
        assert_int_equal(dx_msg_members_decode(p, len, v, NULL), 0);
        assert_int_equal(v->leader, 3);
        assert_int_equal(v->term, x.term);
        assert_int_equal(v->n, 3);
        for (int id = 1; id <= 3; id++) {
            assert_non_null(it_view_node(v, id));
            assert_int_equal(it_view_node(v, id)->state, DX_VIEW_ONLINE);
            x.e[id] = it_view_node(v, id)->epoch;
        }
        printf("    members: %s\n", p);
    }
    printf("    hp1: running on node %u attempt %u runs %" PRIu64
           "; hd1: done on node %u\n", hp1.node, hp1.attempt, hp1.runs,
           hd1.node);
    hx_rej_want rw;
    memset(&rw, 0, sizeof rw);
    rw.t = t;
    {
        hx_hbs *s = hx_heartbeats(t, 0);
        for (int id = 1; id <= 3; id++) {
            assert_true(s->n[id] > 0);
            rw.before[id] = s->last[id].rejected;
        }
    }
    uint64_t cli_before[4] = {0, 0, 0, 0};
    {
        cJSON *j = it_status_json(t);
        for (int id = 1; id <= 3; id++) {
            const cJSON *r = cJSON_GetObjectItemCaseSensitive(
                it_json_node(j, id), "rejected");
            assert_true(cJSON_IsNumber(r));
            cli_before[id] = (uint64_t)r->valuedouble;
        }
        cJSON_Delete(j);
    }
    printf("    rejected before: node 1 %" PRIu64 ", node 2 %" PRIu64
           ", node 3 %" PRIu64 " (status: %" PRIu64 " %" PRIu64 " %" PRIu64
           ")\n", rw.before[1], rw.before[2], rw.before[3], cli_before[1],
           cli_before[2], cli_before[3]);

    /* 4. The hostile phase. */
    x.pub = dxh_obs_new(t->h, NULL);
    assert_non_null(x.pub);
    uint64_t mark = dxh_obs_mark(t->obs);
    int64_t t_start = dxh_now_ns();
    char tmpl[4096], topic[DX_TOPIC_MAX + 1];
    size_t len;

    /* 4a. dangerous templates, mutated into what the codec rejects */
    {
        dx_msg_state st;
        memset(&st, 0, sizeof st);
        st.id = 2;
        st.state = DX_WIRE_OFFLINE;
        st.epoch = x.e[2];
        snprintf(st.reason, sizeof st.reason, "crash");
        assert_int_equal(dx_msg_state_encode(&st, tmpl, sizeof tmpl, &len), 0);
        hx_mutate(&x, it_topic(t, "nodes/2/state"), hx_ok_msg_state, tmpl);
        /* valid, but another node's id than the topic's: a forged will */
        hx_pub(&x, it_topic(t, "nodes/1/state"), tmpl);
        hx_pub(&x, it_topic(t, "nodes/3/state"), tmpl);
        memset(&st, 0, sizeof st);
        st.id = 1;
        st.state = DX_WIRE_ONLINE;
        st.epoch = x.e[1] + 1;
        snprintf(st.name, sizeof st.name, "evil");
        assert_int_equal(dx_msg_state_encode(&st, tmpl, sizeof tmpl, &len), 0);
        hx_mutate(&x, it_topic(t, "nodes/1/state"), hx_ok_msg_state, tmpl);
    }
    {
        dx_msg_heartbeat hb;
        memset(&hb, 0, sizeof hb);
        hb.id = 2;
        hb.epoch = x.e[2] + 1;
        hb.seq = 1;
        hb.leader = 2;
        hb.term = x.term + 1;
        assert_int_equal(dx_msg_heartbeat_encode(&hb, tmpl, sizeof tmpl, &len),
                         0);
        hx_mutate(&x, it_topic(t, "nodes/2/heartbeat"), hx_ok_msg_heartbeat,
                  tmpl);
        hx_pub(&x, it_topic(t, "nodes/1/heartbeat"), tmpl); /* id != topic */
    }
    {
        dx_msg_election el;
        memset(&el, 0, sizeof el);
        el.type = DX_ELECT_COORDINATOR;
        el.from = 1;
        el.term = x.term + 1;
        el.epoch = x.e[1];
        assert_int_equal(dx_msg_election_encode(&el, tmpl, sizeof tmpl, &len),
                         0);
        hx_mutate(&x, it_topic(t, "election"), hx_ok_msg_election, tmpl);
    }
    {
        dx_msg_leader l = {1, x.term + 1, x.e[1]};
        assert_int_equal(dx_msg_leader_encode(&l, tmpl, sizeof tmpl, &len), 0);
        hx_mutate(&x, it_topic(t, "leader"), hx_ok_msg_leader, tmpl);
    }
    for (int id = 1; id <= 3; id++) {
        dx_msg_cmd c;
        memset(&c, 0, sizeof c);
        c.cmd = DX_CMD_FAIL;
        c.for_ms = 60000;
        assert_int_equal(dx_msg_cmd_encode(&c, tmpl, sizeof tmpl, &len), 0);
        hx_mutate(&x, it_topic(t, "nodes/%d/cmd", id), hx_ok_msg_cmd, tmpl);

        static dx_msg_assign as;
        memset(&as, 0, sizeof as);
        as.term = x.term;
        as.leader = 3;
        as.n = 1;
        as.items[0].op = DX_ASSIGN_RUN;
        as.items[0].attempt = 1;
        snprintf(as.items[0].spec.id, sizeof as.items[0].spec.id, "ghost%d", id);
        as.items[0].spec.kind = DX_TASK_SLEEP;
        as.items[0].spec.ms = 100;
        assert_int_equal(dx_msg_assign_encode(&as, tmpl, sizeof tmpl, &len),
                         0);
        hx_mutate(&x, it_topic(t, "nodes/%d/assign", id), hx_ok_msg_assign,
                  tmpl);

        dx_msg_actuator act;
        memset(&act, 0, sizeof act);
        act.value = 1.5;
        assert_int_equal(dx_msg_actuator_encode(&act, tmpl, sizeof tmpl, &len),
                         0);
        hx_mutate(&x, it_topic(t, "io/%d/actuators/valve/set", id),
                  hx_ok_msg_actuator, tmpl);
    }
    {
        static dx_task_record r;
        r = hp1;
        r.state = DX_TS_FAILED;
        r.finished_ms = r.started_ms + 1;
        snprintf(r.result, sizeof r.result, "forged");
        assert_int_equal(dx_task_record_encode(&r, tmpl, sizeof tmpl, &len), 0);
        hx_mutate(&x, it_topic(t, "tasks/hp1"), hx_ok_task_record, tmpl);

        dx_task_spec sp;
        memset(&sp, 0, sizeof sp);
        snprintf(sp.id, sizeof sp.id, "ghost");
        sp.kind = DX_TASK_SLEEP;
        sp.ms = 100;
        assert_int_equal(dx_task_spec_encode(&sp, tmpl, sizeof tmpl, &len), 0);
        hx_mutate(&x, it_topic(t, "tasks/submit"), hx_ok_task_spec, tmpl);

        dx_msg_request rq;
        memset(&rq, 0, sizeof rq);
        snprintf(rq.reply_to, sizeof rq.reply_to, "%s",
                 it_topic(t, "reply/hostile"));
        snprintf(rq.corr, sizeof rq.corr, "c-1");
        assert_int_equal(dx_msg_request_encode(&rq, tmpl, sizeof tmpl, &len),
                         0);
        hx_mutate(&x, it_topic(t, "tasks/hp1/cancel"), hx_ok_msg_request,
                  tmpl);

        static dx_msg_report rep;
        memset(&rep, 0, sizeof rep);
        rep.node = hp1.node;
        rep.term = x.term;
        rep.n = 1;
        snprintf(rep.items[0].id, sizeof rep.items[0].id, "hp1");
        rep.items[0].attempt = hp1.attempt;
        rep.items[0].state = DX_REP_DONE;
        rep.items[0].started_ms = hp1.started_ms;
        rep.items[0].finished_ms = hp1.started_ms + 1;
        snprintf(rep.items[0].result, sizeof rep.items[0].result, "forged");
        assert_int_equal(dx_msg_report_encode(&rep, tmpl, sizeof tmpl, &len),
                         0);
        snprintf(topic, sizeof topic, "%s",
                 it_topic(t, "nodes/%u/report", hp1.node));
        hx_mutate(&x, topic, hx_ok_msg_report, tmpl);
        /* valid, but on another node's report topic */
        hx_pub(&x, it_topic(t, "nodes/%u/report", hp1.node % 3 + 1), tmpl);
    }
    size_t after_templates = x.sent;

    /* 4b. generic garbage on every topic, also with bad ids in topics */
    static const char *const suffixes[] = {
        "nodes/1/state", "nodes/2/state", "nodes/3/state", "nodes/99/state",
        "nodes/0/state", "nodes/70000/state", "nodes/02/state",
        "nodes/1/heartbeat", "nodes/3/heartbeat", "nodes/99/heartbeat",
        "nodes/0/heartbeat", "nodes/65536/heartbeat", "nodes/-1/heartbeat",
        "election", "leader", "nodes/1/cmd", "nodes/2/cmd", "nodes/3/cmd",
        "nodes/1/assign", "nodes/2/assign", "nodes/3/assign", "tasks/hp1",
        "tasks/hd1", "tasks/ghost", "tasks/submit", "tasks/hp1/cancel",
        "tasks/ghost/cancel", "nodes/1/report", "nodes/2/report",
        "nodes/3/report", "nodes/99/report", "nodes/0/report",
        "io/1/actuators/valve/set", "io/2/actuators/valve/set",
        "io/3/actuators/valve/set", "io/3/actuators/.../set",
    };
    const char *all[sizeof suffixes / sizeof suffixes[0]];
    static char all_buf[sizeof suffixes / sizeof suffixes[0]][DX_TOPIC_MAX + 1];
    for (size_t k = 0; k < sizeof suffixes / sizeof suffixes[0]; k++) {
        snprintf(all_buf[k], sizeof all_buf[k], "%s",
                 it_topic(t, "%s", suffixes[k]));
        all[k] = all_buf[k];
        hx_garbage(&x, all[k]);
    }
    hx_corpus(&x, all, sizeof suffixes / sizeof suffixes[0]);
    size_t after_garbage = x.sent;

    /* 4c. replays of old-term leader traffic */
    for (size_t k = 0; k < x.n_old_elections; k++)
        hx_pub(&x, it_topic(t, "election"), x.old_elections[k]);
    if (x.old_coord != NULL)
        hx_pub(&x, it_topic(t, "election"), x.old_coord);
    {
        /* node 1's election call of term t0, as at start-up (the capture
         * above may or may not hold one) */
        dx_msg_election el;
        memset(&el, 0, sizeof el);
        el.type = DX_ELECT_ELECTION;
        el.from = 1;
        el.term = x.t0 - 1;
        el.epoch = x.e[1];
        assert_int_equal(dx_msg_election_encode(&el, tmpl, sizeof tmpl, &len),
                         0);
        hx_pub(&x, it_topic(t, "election"), tmpl);
    }
    hx_pub(&x, it_topic(t, "leader"), x.old_leader);
    {
        static dx_msg_assign as;
        memset(&as, 0, sizeof as);
        as.term = x.t0;
        as.leader = 2;
        as.n = 1;
        as.items[0].op = DX_ASSIGN_RUN;
        as.items[0].attempt = 1;
        snprintf(as.items[0].spec.id, sizeof as.items[0].spec.id, "ghost-old");
        as.items[0].spec.kind = DX_TASK_NOOP;
        assert_int_equal(dx_msg_assign_encode(&as, tmpl, sizeof tmpl, &len),
                         0);
        for (int id = 1; id <= 3; id++)
            hx_pub(&x, it_topic(t, "nodes/%d/assign", id), tmpl);
        /* an old-term cancel of the periodic task */
        memset(&as, 0, sizeof as);
        as.term = x.t0;
        as.leader = 2;
        as.n = 1;
        as.items[0].op = DX_ASSIGN_CANCEL;
        as.items[0].attempt = hp1.attempt;
        snprintf(as.items[0].spec.id, sizeof as.items[0].spec.id, "hp1");
        assert_int_equal(dx_msg_assign_encode(&as, tmpl, sizeof tmpl, &len),
                         0);
        hx_pub(&x, it_topic(t, "nodes/%u/assign", hp1.node), tmpl);
    }
    /* retained: garbage, then the old leader message; the leader must put
     * itself back each time */
    uint64_t mret = dxh_obs_mark(t->obs);
    hx_pub_n(&x, it_topic(t, "leader"), "{\"v\":1,\"leader\":", 16, true);
    (void)it_expect_leader(t, mret, 3, x.term, NULL, IT_WAIT_MS);
    mret = dxh_obs_mark(t->obs);
    hx_pub_n(&x, it_topic(t, "leader"), x.old_leader, strlen(x.old_leader),
             true);
    (void)it_expect_leader(t, mret, 3, x.term, NULL, IT_WAIT_MS);
    printf("    published %zu hostile payloads in %.0f ms (%zu mutations, "
           "%zu garbage, %zu replays; %zu mutations skipped: the codec "
           "accepts them)\n", x.sent,
           it_ms_since(t_start, dxh_now_ns()), after_templates,
           after_garbage - after_templates, x.sent - after_garbage,
           x.skipped);

    /* 5. Afterwards. */
    dxh_sleep_ms(HX_QUIET_MS);
    for (int id = 1; id <= 3; id++)
        if (!dxh_proc_is_running(dxh_agent(t->h, id)))
            fail_msg("agent %d died during the hostile phase", id);

    /* heartbeats keep coming from all three, with rejected counts up */
    uint64_t mq = dxh_obs_mark(t->obs);
    rw.from = mq;
    if (dxh_wait_until(hx_cond_rejected, &rw, IT_WAIT_MS, 50) != 0) {
        hx_hbs *s = hx_heartbeats(t, mq);
        fail_msg("not every node heartbeats with a higher rejected count: "
                 "node 1 %zu heartbeats, rejected %" PRIu64 " (was %" PRIu64
                 "); node 2 %zu, %" PRIu64 " (%" PRIu64 "); node 3 %zu, %"
                 PRIu64 " (%" PRIu64 ")", s->n[1], s->last[1].rejected,
                 rw.before[1], s->n[2], s->last[2].rejected, rw.before[2],
                 s->n[3], s->last[3].rejected, rw.before[3]);
    }
    {
        hx_hbs *s = hx_heartbeats(t, mq);
        printf("    rejected after: node 1 %" PRIu64 ", node 2 %" PRIu64
               ", node 3 %" PRIu64 "\n", s->last[1].rejected,
               s->last[2].rejected, s->last[3].rejected);
        for (int id = 1; id <= 3; id++)
            if (s->last[id].epoch != x.e[id])
                fail_msg("node %d reconnected (epoch %" PRIu64 ", was %"
                         PRIu64 ")", id, s->last[id].epoch, x.e[id]);
    }
    /* leader 3, same term, followed by everyone */
    uint64_t now_term = it_expect_follow(t, mq, "123", 3, 1, IT_WAIT_MS);
    if (now_term != x.term)
        fail_msg("the term changed from %" PRIu64 " to %" PRIu64
                 " during the hostile phase", x.term, now_term);

    /* nothing changed, as every valid message since the mark shows */
    hx_after a;
    memset(&a, 0, sizeof a);
    a.x = &x;
    it_scan(t, mark, hx_pred_after, &a);
    char soft[3][600] = {"", "", ""};
    if (a.bad > 0)
        snprintf(soft[0], sizeof soft[0], "%zu valid messages show a change "
                 "after the hostile phase (events %zu, tasks %zu); the "
                 "first: %s", a.bad, a.events, a.ghost, a.first);
    it_assert_terms(t, mark, NULL);

    /* no election traffic once quiet */
    memset(&a, 0, sizeof a);
    a.x = &x;
    uint64_t mquiet = dxh_obs_mark(t->obs);
    dxh_sleep_ms(IT_SETTLE_MS);
    it_scan(t, mquiet, hx_pred_any_election, &a);
    if (a.elections > 0)
        snprintf(soft[1], sizeof soft[1], "%zu election messages from the "
                 "agents in a quiet %d ms after the hostile phase; the "
                 "first: %s", a.elections, IT_SETTLE_MS, a.first);

    /* the retained state, as a new client sees it */
    hx_fetch_retained(t, it_topic(t, "#"), &after);
    {
        size_t l = 0;
        const char *p = hx_retained_get(&after, it_topic(t, "leader"), &l);
        dx_msg_leader ld;
        if (p == NULL || dx_msg_leader_decode(p, l, &ld, NULL) != 0 ||
            ld.leader != 3 || ld.term != x.term)
            fail_msg("the retained leader is '%s', not node 3 in term %"
                     PRIu64, p ? p : "(none)", x.term);
        p = hx_retained_get(&after, it_topic(t, "members"), &l);
        assert_non_null(p);
        assert_int_equal(dx_msg_members_decode(p, l, &it_view, NULL), 0);
        assert_int_equal(it_view.leader, 3);
        assert_int_equal(it_view.term, x.term);
        assert_int_equal(it_view.n, 3);
        for (int id = 1; id <= 3; id++) {
            const dx_view_node *vn = it_view_node(&it_view, id);
            assert_non_null(vn);
            assert_int_equal(vn->state, DX_VIEW_ONLINE);
            assert_int_equal(vn->epoch, x.e[id]);
        }
        for (size_t i = 0; i < after.n; i++) {
            const char *tail = after.topic[i] + strlen(t->root) + 1;
            if (strncmp(tail, "tasks/", 6) == 0 &&
                strcmp(tail, "tasks/hp1") != 0 &&
                strcmp(tail, "tasks/hd1") != 0 && after.len[i] > 0)
                fail_msg("a retained record appeared: %s %s", after.topic[i],
                         after.payload[i]);
        }
    }
    dx_task_record hp1b, hd1b;
    hx_record(&after, t, "hp1", &hp1b);
    hx_record(&after, t, "hd1", &hd1b);
    assert_int_equal(hp1b.state, DX_TS_RUNNING);
    assert_int_equal(hp1b.node, hp1.node);
    assert_int_equal(hp1b.attempt, hp1.attempt);
    assert_true(hp1b.runs > hp1.runs);
    assert_int_equal(hd1b.state, DX_TS_DONE);
    assert_int_equal(hd1b.node, hd1.node);
    assert_int_equal(hd1b.attempt, hd1.attempt);
    assert_string_equal(hd1b.result, hd1.result);
    assert_int_equal(hd1b.finished_ms, hd1.finished_ms);
    printf("    hp1 still running on node %u (runs %" PRIu64 " -> %" PRIu64
           "), hd1 still done\n", hp1b.node, hp1.runs, hp1b.runs);

    /* the CLI shows the counts */
    {
        cJSON *j = it_status_json(t);
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(j, "leader");
        assert_true(cJSON_IsNumber(l));
        assert_int_equal(l->valueint, 3);
        for (int id = 1; id <= 3; id++) {
            const cJSON *n = it_json_node(j, id);
            const cJSON *r = cJSON_GetObjectItemCaseSensitive(n, "rejected");
            assert_non_null(n);
            assert_string_equal(it_json_str(n, "state"), "online");
            if (!cJSON_IsNumber(r) || (uint64_t)r->valuedouble <= cli_before[id])
                fail_msg("status: node %d rejected is not above %" PRIu64,
                         id, cli_before[id]);
            printf("    status: node %d rejected %.0f\n", id, r->valuedouble);
        }
        cJSON_Delete(j);
    }

    /* logs not flooded */
    for (int id = 1; id <= 3; id++) {
        char path[512];
        size_t warns = 0, lines;
        assert_int_equal(dxh_path(t->h, path, sizeof path, "node%d.log", id),
                         0);
        lines = hx_lines(path, &warns);
        printf("    node%d.log: %zu lines, %zu rejection warnings\n", id,
               lines, warns);
        if (lines >= HX_LOG_MAX_LINES)
            fail_msg("node%d.log has %zu lines after the hostile phase", id,
                     lines);
        /* TOPICS.md: "The first ten rejections are logged as warnings,
         * later ones at debug level so a flood cannot fill the log." */
        if (warns > 10 && soft[2][0] == '\0')
            snprintf(soft[2], sizeof soft[2], "node%d.log has %zu rejection "
                     "warnings, more than the first ten", id, warns);
    }

    for (int k = 0; k < 3; k++)
        if (soft[k][0] != '\0')
            fail_msg("%s", soft[k]);
    free(x.old_leader);
    free(x.old_coord);
    for (size_t k = 0; k < x.n_old_elections; k++)
        free(x.old_elections[k]);
    dxh_pass(t->h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hostile_input, it_setup,
                                        it_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
