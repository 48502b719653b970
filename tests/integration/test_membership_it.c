/*
 * test_membership_it.c - membership and failure detection, end to end: a
 * real Mosquitto, real distribux-agent processes, the real CLI.
 *
 * Every test starts its own broker and agents through the harness
 * (harness.h), which stops them all however the test ends.  The cluster is
 * watched by one MQTT observer subscribed to {root}/#, and every payload is
 * decoded with the project's codec (dx_msg.h).  Conditions are waited for
 * with deadlines, never assumed after a sleep; the only sleeps are quiet
 * periods before asserting that something did NOT happen (or happened once).
 *
 * The first part of this file, the "it_" helpers, is shared by the other
 * agent integration tests (test_election_it.c, test_cli_it.c,
 * test_topics_examples.c): they define IT_HELPERS_ONLY and #include this
 * file, so each test program stays one source file, as
 * tests/integration/CMakeLists.txt builds them, without copies of helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "dx_msg.h"
#include "dx_topic.h"
#include "harness.h"

#ifndef IT_NAME
#define IT_NAME "membership"
#endif

#define IT_FN static __attribute__((unused))
#define IT_HB_MS 100     /* agents' --heartbeat-ms */
#define IT_TIMEOUT_MS 500 /* agents' --timeout-ms */
#define IT_STR_(x) #x
#define IT_STR(x) IT_STR_(x)
/* The short timings every test agent runs with. */
#define IT_TIMINGS "--heartbeat-ms", IT_STR(IT_HB_MS), "--timeout-ms", \
                   IT_STR(IT_TIMEOUT_MS)
/* A condition's deadline: generous, for ASan agents on a shared 2-core
 * machine; a passing run waits for the condition, not for this. */
#define IT_WAIT_MS 10000
/* The quiet period before asserting that something happened only once,
 * or not at all: two heartbeat timeouts. */
#define IT_SETTLE_MS (2 * IT_TIMEOUT_MS)
#define IT_CLI_MS 20000

/* One test's world: the harness, its observer, the cluster's root. */
typedef struct it {
    dxh *h;
    dxh_obs *obs;
    const char *cluster;
    char root[64];
} it;

IT_FN double it_ms_since(int64_t t0_ns, int64_t t_ns)
{
    return (double)(t_ns - t0_ns) / 1e6;
}

/* "{root}/" + printf(fmt); one of 8 rotating buffers. */
IT_FN const char *it_topic(const it *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
IT_FN const char *it_topic(const it *t, const char *fmt, ...)
{
    static char bufs[8][DX_TOPIC_MAX + 1];
    static unsigned next;
    char *b = bufs[next++ % 8];
    int w = snprintf(b, DX_TOPIC_MAX + 1, "%s/", t->root);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b + w, (size_t)(DX_TOPIC_MAX + 1 - w), fmt, ap);
    va_end(ap);
    return b;
}

/* A harness with a broker and an observer of {root}/# ("distribux/CLUSTER"),
 * or NULL (with the reason on stderr). */
IT_FN it *it_new(const char *name, const char *cluster)
{
    it *t = calloc(1, sizeof *t);
    if (t == NULL || (t->h = dxh_create(name)) == NULL) {
        free(t);
        return NULL;
    }
    t->cluster = cluster;
    snprintf(t->root, sizeof t->root, "distribux/%s", cluster);
    if (dxh_agent_bin() == NULL || dxh_cli_bin() == NULL ||
        dxh_broker_start(t->h, NULL) != 0 ||
        (t->obs = dxh_obs_new(t->h, NULL)) == NULL ||
        dxh_obs_subscribe(t->obs, it_topic(t, "#")) != 0) {
        fprintf(stderr, "it: cannot set up: DX_AGENT, DX_CLI and mosquitto "
                        "are needed\n");
        dxh_fail(t->h);
        dxh_destroy(t->h);
        free(t);
        return NULL;
    }
    return t;
}

IT_FN int it_setup(void **state)
{
    *state = it_new(IT_NAME, "test");
    return *state != NULL ? 0 : -1;
}

/* Starts agent `id` with the short test timings, in t's cluster, with
 * `more` options after them (NULL: none). */
IT_FN dxh_proc *it_agent(it *t, int id, const char *const more[])
{
    const char *argv[32] = {IT_TIMINGS, "--cluster", t->cluster};
    size_t n = 6;
    for (size_t i = 0; more != NULL && more[i] != NULL && n < 31; i++)
        argv[n++] = more[i];
    argv[n] = NULL;
    dxh_proc *p = dxh_agent_start(t->h, NULL, id, argv);
    assert_non_null(p);
    return p;
}

IT_FN void it_signal(it *t, int id, int sig)
{
    assert_int_equal(dxh_proc_signal(dxh_agent(t->h, id), sig), 0);
}

/* The whole file from byte `from` on (malloc'd; "" when unreadable). */
IT_FN char *it_slurp(const char *path, long from)
{
    FILE *f = fopen(path, "r");
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    assert_non_null(buf);
    if (f != NULL && fseek(f, from, SEEK_SET) == 0) {
        size_t r;
        while ((r = fread(buf + len, 1, cap - len - 1, f)) > 0) {
            len += r;
            if (len + 1 == cap) {
                buf = realloc(buf, cap *= 2);
                assert_non_null(buf);
            }
        }
    }
    if (f != NULL)
        fclose(f);
    buf[len] = '\0';
    return buf;
}

IT_FN long it_file_size(const char *path)
{
    FILE *f = fopen(path, "r");
    long size = 0;
    if (f != NULL && fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (f != NULL)
        fclose(f);
    return size;
}

typedef struct it_file_has {
    const char *path;
    long from;
    const char *needle;
} it_file_has;

static bool it_cond_file_has(void *ctx)
{
    const it_file_has *f = ctx;
    char *text = it_slurp(f->path, f->from);
    bool found = strstr(text, f->needle) != NULL;
    free(text);
    return found;
}

/* Waits until the file at path has needle after byte `from`. */
IT_FN void it_expect_in_file(const char *path, long from, const char *needle,
                             int timeout_ms)
{
    it_file_has f = {path, from, needle};
    if (dxh_wait_until(it_cond_file_has, &f, timeout_ms, 20) != 0)
        fail_msg("'%s' did not appear in %s within %d ms", needle, path,
                 timeout_ms);
}

/* The last payload recorded on {root}/suffix, into buf ("(none)"). */
IT_FN const char *it_last(it *t, const char *suffix, char *buf, size_t cap)
{
    char *last = dxh_obs_last_payload(t->obs, it_topic(t, "%s", suffix));
    snprintf(buf, cap, "%s", last != NULL ? last : "(none)");
    free(last);
    return buf;
}

/* The sanitizer report in the file at path, if any: a pointer into text
 * (malloc'd into *text, the caller frees it), else NULL. */
IT_FN const char *it_sanitizer_report(const char *path, char **text)
{
    static const char *const marks[] = {"ERROR: AddressSanitizer",
                                        "ERROR: LeakSanitizer",
                                        "runtime error:",
                                        "WARNING: ThreadSanitizer"};
    *text = it_slurp(path, 0);
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
        const char *at = strstr(*text, marks[i]);
        if (at != NULL)
            return at;
    }
    return NULL;
}

/* Stops every agent still running the way an operator does (one SIGTERM;
 * SIGCONT for a stopped one), then looks for sanitizer reports in every
 * log of the test.  Returns 0, or -1 (the harness is marked failed, so
 * the logs are kept) when an agent did not exit 0 or a report exists. */
static int it_check_logs(it *t)
{
    int rc = 0, status = 0;
    dxh_proc *p;
    for (int id = 1; id <= 9; id++)
        if ((p = dxh_agent(t->h, id)) != NULL && dxh_proc_is_running(p)) {
            (void)dxh_proc_signal(p, SIGCONT);
            (void)dxh_proc_signal(p, SIGTERM);
        }
    for (int id = 1; id <= 9; id++)
        if ((p = dxh_agent(t->h, id)) != NULL && dxh_proc_is_running(p) &&
            (dxh_proc_wait(p, 5000, &status) != 0 || status != 0)) {
            fprintf(stderr, "it: agent %d did not stop cleanly on SIGTERM "
                            "(status %d)\n", id, status);
            rc = -1;
        }
    DIR *d = opendir(dxh_workdir(t->h));
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
        char path[1024], *text = NULL;
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 4, ".log") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dxh_workdir(t->h), e->d_name);
        const char *report = it_sanitizer_report(path, &text);
        if (report != NULL) {
            fprintf(stderr, "it: sanitizer report in %s:\n%.1500s\n", path,
                    report);
            rc = -1;
        }
        free(text);
    }
    if (d != NULL)
        closedir(d);
    if (rc != 0)
        dxh_fail(t->h);
    return rc;
}

IT_FN int it_teardown(void **state)
{
    it *t = *state;
    int rc = 0;
    if (t != NULL) {
        rc = it_check_logs(t);
        dxh_destroy(t->h);
        free(t);
    }
    return rc;
}

/* ---- scanning what the observer recorded ------------------------------ */

/* Calls pred on every message recorded from `from` on, without waiting;
 * stops early when pred returns true. */
IT_FN void it_scan(it *t, uint64_t from, dxh_pred pred, void *ctx)
{
    (void)dxh_obs_wait_for_from(t->obs, from, pred, ctx, 0);
}

static const char *const it_state_names[] = {"?", "online", "failed",
                                             "offline"};
static const char *const it_why_names[] = {"", "will", "timeout", "shutdown"};

/* The last view decoded by it_members() (large: one per process). */
static dx_msg_members it_view;

/* Decodes m into it_view if it is a members message; NULL otherwise. */
IT_FN const dx_msg_members *it_members(const it *t, const dxh_msg *m)
{
    if (m == NULL || m->payload_len == 0 ||
        strcmp(m->topic, it_topic(t, "members")) != 0 ||
        dx_msg_members_decode(m->payload, m->payload_len, &it_view, NULL) != 0)
        return NULL;
    return &it_view;
}

IT_FN const dx_view_node *it_view_node(const dx_msg_members *v, int id)
{
    for (size_t i = 0; v != NULL && i < v->n; i++)
        if (v->nodes[i].id == id)
            return &v->nodes[i];
    return NULL;
}

/* Whether view v satisfies spec, space-separated "ID=STATE[:WHY][>EPOCH]"
 * items: "1=failed:will 2=online>4" (node 2's epoch above 4). */
IT_FN bool it_view_is(const dx_msg_members *v, const char *spec)
{
    for (const char *p = spec;;) {
        unsigned id = 0;
        unsigned long long epoch = 0;
        char st[16] = "", why[16] = "";
        int used = 0;
        p += strspn(p, " ");
        if (*p == '\0')
            return true;
        if (sscanf(p, "%u=%15[a-z]%n", &id, st, &used) != 2)
            fail_msg("bad view spec '%s'", spec);
        p += used;
        if (*p == ':' && sscanf(p + 1, "%15[a-z]%n", why, &used) == 1)
            p += 1 + used;
        if (*p == '>' && sscanf(p + 1, "%llu%n", &epoch, &used) == 1)
            p += 1 + used;
        const dx_view_node *vn = it_view_node(v, (int)id);
        if (vn == NULL || strcmp(it_state_names[vn->state], st) != 0 ||
            (why[0] != '\0' && strcmp(it_why_names[vn->why], why) != 0) ||
            vn->epoch <= epoch)
            return false;
    }
}

typedef struct it_view_want {
    const it *t;
    int leader; /* 0: any */
    const char *spec;
} it_view_want;

static bool it_pred_view(const dxh_msg *m, void *ctx)
{
    const it_view_want *w = ctx;
    const dx_msg_members *v = it_members(w->t, m);
    return v != NULL && (w->leader == 0 || v->leader == w->leader) &&
           it_view_is(v, w->spec);
}

/* Waits for a members view recorded from `from` on, published by `leader`
 * (0: any), that satisfies spec; fails the test otherwise.  Returns the
 * message; its view stays in it_view until the next decode. */
IT_FN const dxh_msg *it_expect_view(it *t, uint64_t from, int leader,
                                    const char *spec, int timeout_ms)
{
    it_view_want w = {t, leader, spec};
    const dxh_msg *m =
        dxh_obs_wait_for_from(t->obs, from, it_pred_view, &w, timeout_ms);
    char last[2048];
    if (m == NULL)
        fail_msg("no view of leader %d with '%s' within %d ms; last members: "
                 "%s", leader, spec, timeout_ms,
                 it_last(t, "members", last, sizeof last));
    (void)it_members(t, m); /* leave its view in it_view */
    return m;
}

/* Node id's epoch in the last members view recorded (0 if none). */
IT_FN uint64_t it_epoch(it *t, int id)
{
    char *last = dxh_obs_last_payload(t->obs, it_topic(t, "members"));
    uint64_t e = 0;
    if (last != NULL &&
        dx_msg_members_decode(last, strlen(last), &it_view, NULL) == 0 &&
        it_view_node(&it_view, id) != NULL)
        e = it_view_node(&it_view, id)->epoch;
    free(last);
    return e;
}

/* Events whose text contains `text`: counted, or the first one found. */
typedef struct it_ev_want {
    const it *t;
    const char *text;
    size_t n;
    bool stop;
} it_ev_want;

static bool it_pred_event(const dxh_msg *m, void *ctx)
{
    it_ev_want *w = ctx;
    dx_msg_event ev;
    if (strcmp(m->topic, it_topic(w->t, "events")) != 0 ||
        dx_msg_event_decode(m->payload, m->payload_len, &ev, NULL) != 0 ||
        strstr(ev.text, w->text) == NULL)
        return false;
    w->n++;
    return w->stop;
}

IT_FN size_t it_count_events(it *t, uint64_t from, const char *text)
{
    it_ev_want w = {t, text, 0, false};
    it_scan(t, from, it_pred_event, &w);
    return w.n;
}

IT_FN const dxh_msg *it_expect_event(it *t, uint64_t from, const char *text,
                                     int timeout_ms)
{
    it_ev_want w = {t, text, 0, true};
    const dxh_msg *m =
        dxh_obs_wait_for_from(t->obs, from, it_pred_event, &w, timeout_ms);
    if (m == NULL)
        fail_msg("no event containing '%s' within %d ms", text, timeout_ms);
    return m;
}

/* A retained-or-live {root}/leader message naming `leader` (0: any) with
 * a term >= min_term. */
typedef struct it_leader_want {
    const it *t;
    int leader;
    uint64_t min_term;
    dx_msg_leader got;
} it_leader_want;

static bool it_pred_leader(const dxh_msg *m, void *ctx)
{
    it_leader_want *w = ctx;
    return m->payload_len > 0 && strcmp(m->topic, it_topic(w->t, "leader")) == 0 &&
           dx_msg_leader_decode(m->payload, m->payload_len, &w->got, NULL) == 0 &&
           (w->leader == 0 || w->got.leader == w->leader) &&
           w->got.term >= w->min_term;
}

/* Waits for such a leader message from `from` on; fails the test if none
 * comes.  Sets *term (may be NULL) and returns the message. */
IT_FN const dxh_msg *it_expect_leader(it *t, uint64_t from, int leader,
                                      uint64_t min_term, uint64_t *term,
                                      int timeout_ms)
{
    it_leader_want w = {t, leader, min_term, {0, 0, 0}};
    const dxh_msg *m =
        dxh_obs_wait_for_from(t->obs, from, it_pred_leader, &w, timeout_ms);
    char last[256];
    if (m == NULL)
        fail_msg("no leader message for node %d, term >= %" PRIu64
                 " within %d ms (last: %s)", leader, min_term, timeout_ms,
                 it_last(t, "leader", last, sizeof last));
    if (term != NULL)
        *term = w.got.term;
    return m;
}

/* Heartbeats: every node in `ids` ("123": nodes 1, 2, 3) follows `leader`
 * in one and the same term >= min_term, by its latest heartbeat. */
typedef struct it_follow {
    const it *t;
    const char *ids;
    int leader;
    uint64_t min_term;
    uint64_t term[10]; /* by node id: the term it follows leader in, or 0 */
} it_follow;

static bool it_pred_follow(const dxh_msg *m, void *ctx)
{
    it_follow *f = ctx;
    dx_msg_heartbeat hb;
    if (!dxh_topic_matches(it_topic(f->t, "nodes/+/heartbeat"), m->topic) ||
        dx_msg_heartbeat_decode(m->payload, m->payload_len, &hb, NULL) != 0 ||
        hb.id >= 10)
        return false;
    f->term[hb.id] =
        hb.leader == f->leader && hb.term >= f->min_term ? hb.term : 0;
    uint64_t first = f->term[f->ids[0] - '0'];
    for (const char *c = f->ids; *c != '\0'; c++)
        if (f->term[*c - '0'] == 0 || f->term[*c - '0'] != first)
            return false;
    return true;
}

/* Waits until the nodes in ids all follow leader in one term; returns it
 * (fails the test on timeout). */
IT_FN uint64_t it_expect_follow(it *t, uint64_t from, const char *ids,
                                int leader, uint64_t min_term, int timeout_ms)
{
    it_follow f;
    memset(&f, 0, sizeof f);
    f.t = t;
    f.ids = ids;
    f.leader = leader;
    f.min_term = min_term;
    if (dxh_obs_wait_for_from(t->obs, from, it_pred_follow, &f, timeout_ms) ==
        NULL)
        fail_msg("nodes %s do not all follow node %d in one term >= %" PRIu64
                 " within %d ms", ids, leader, min_term, timeout_ms);
    return f.term[ids[0] - '0'];
}

/* A birth (online state) of node id with an epoch above min_epoch. */
typedef struct it_birth {
    const it *t;
    int id;
    uint64_t min_epoch;
} it_birth;

static bool it_pred_birth(const dxh_msg *m, void *ctx)
{
    const it_birth *b = ctx;
    dx_msg_state st;
    return m->payload_len > 0 &&
           strcmp(m->topic, it_topic(b->t, "nodes/%d/state", b->id)) == 0 &&
           dx_msg_state_decode(m->payload, m->payload_len, &st, NULL) == 0 &&
           st.state == DX_WIRE_ONLINE && st.epoch > b->min_epoch;
}

IT_FN const dxh_msg *it_expect_birth(it *t, uint64_t from, int id,
                                     uint64_t min_epoch, int timeout_ms)
{
    it_birth b = {t, id, min_epoch};
    const dxh_msg *m =
        dxh_obs_wait_for_from(t->obs, from, it_pred_birth, &b, timeout_ms);
    if (m == NULL)
        fail_msg("no birth of node %d with epoch > %" PRIu64 " within %d ms",
                 id, min_epoch, timeout_ms);
    return m;
}

/* ---- the invariant: at most one leader per term ----------------------- */

/* Every (term, leader) claim observed, with where it was first seen. */
typedef struct it_terms {
    const it *t;
    size_t n;
    struct {
        uint64_t term;
        uint16_t leader;
        uint64_t seq;      /* first message that claimed it */
        char what[160];    /* that message, for the report */
    } c[256];
} it_terms;

static void it_terms_add(it_terms *tl, uint64_t term, uint16_t leader,
                         const dxh_msg *m)
{
    if (term == 0 || leader == 0)
        return;
    for (size_t i = 0; i < tl->n; i++)
        if (tl->c[i].term == term && tl->c[i].leader == leader)
            return;
    if (tl->n < 256) {
        tl->c[tl->n].term = term;
        tl->c[tl->n].leader = leader;
        tl->c[tl->n].seq = m->seq;
        snprintf(tl->c[tl->n++].what, sizeof tl->c[0].what, "%s %.120s",
                 m->topic, m->payload);
    }
}

/* Collects (term, leader) from coordinators, leader messages, members
 * views and heartbeats (the leader each node follows). */
static bool it_pred_terms(const dxh_msg *m, void *ctx)
{
    it_terms *tl = ctx;
    const it *t = tl->t;
    dx_msg_election el;
    dx_msg_leader l;
    dx_msg_heartbeat hb;
    const dx_msg_members *v;
    if (m->payload_len == 0)
        return false;
    if (strcmp(m->topic, it_topic(t, "election")) == 0 &&
        dx_msg_election_decode(m->payload, m->payload_len, &el, NULL) == 0 &&
        el.type == DX_ELECT_COORDINATOR)
        it_terms_add(tl, el.term, el.from, m);
    else if (strcmp(m->topic, it_topic(t, "leader")) == 0 &&
             dx_msg_leader_decode(m->payload, m->payload_len, &l, NULL) == 0)
        it_terms_add(tl, l.term, l.leader, m);
    else if ((v = it_members(t, m)) != NULL)
        it_terms_add(tl, v->term, v->leader, m);
    else if (dxh_topic_matches(it_topic(t, "nodes/+/heartbeat"), m->topic) &&
             dx_msg_heartbeat_decode(m->payload, m->payload_len, &hb,
                                     NULL) == 0)
        it_terms_add(tl, hb.term, hb.leader, m);
    return false;
}

/* Asserts that no term had two different leaders, over everything
 * observed, counting only conflicts with a claim first made from `from`
 * on (0: all; a scenario passes the mark taken after the cluster came
 * up, so a start-up race is reported by its own test, not by every test).
 * Prints the claims; fills *out (may be NULL). */
IT_FN void it_assert_terms(it *t, uint64_t from, it_terms *out)
{
    static it_terms tl;
    memset(&tl, 0, sizeof tl);
    tl.t = t;
    it_scan(t, 0, it_pred_terms, &tl);
    printf("    terms seen:");
    for (size_t i = 0; i < tl.n; i++)
        printf(" %" PRIu64 "->node %u", tl.c[i].term, tl.c[i].leader);
    printf("\n");
    for (size_t i = 0; i < tl.n; i++)
        for (size_t j = i + 1; j < tl.n; j++)
            if (tl.c[i].term == tl.c[j].term &&
                (tl.c[i].seq >= from || tl.c[j].seq >= from))
                fail_msg("two leaders in term %" PRIu64 ": node %u (%s) and "
                         "node %u (%s)", tl.c[i].term, tl.c[i].leader,
                         tl.c[i].what, tl.c[j].leader, tl.c[j].what);
    if (out != NULL)
        *out = tl;
}

/* ---- clusters and the CLI --------------------------------------------- */

/* Starts agents 1..n (n <= 9) and waits until node n leads, its view shows
 * every node online and every node's heartbeat follows it in one term,
 * which it returns.  (A node publishes in order, so by then every claim a
 * node made during the start-up election has been observed.) */
IT_FN uint64_t it_cluster(it *t, int n)
{
    char spec[64] = "", ids[10] = "";
    size_t w = 0;
    for (int id = 1; id <= n; id++) {
        (void)it_agent(t, id, NULL);
        w += (size_t)snprintf(spec + w, sizeof spec - w, "%d=online ", id);
        ids[id - 1] = (char)('0' + id);
    }
    (void)it_expect_view(t, 0, n, spec, IT_WAIT_MS);
    (void)it_expect_leader(t, 0, n, 1, NULL, IT_WAIT_MS);
    return it_expect_follow(t, 0, ids, n, 1, IT_WAIT_MS);
}

/* Runs the CLI with --broker and --cluster of t, then the arguments up to
 * NULL.  Returns its exit code (fails the test if it does not finish);
 * *out gets its stdout and *err its stderr (malloc'd; either may be
 * NULL). */
IT_FN int it_cli(it *t, char **out, char **err, const char *arg, ...)
    __attribute__((sentinel));
IT_FN int it_cli(it *t, char **out, char **err, const char *arg, ...)
{
    const char *argv[32] = {dxh_cli_bin(), "--broker", dxh_broker_url(t->h),
                            "--cluster", t->cluster};
    size_t n = 5;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a != NULL && n < 31; a = va_arg(ap, const char *))
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;

    char log[512];
    assert_int_equal(dxh_path(t->h, log, sizeof log, "run.log"), 0);
    long before = it_file_size(log);
    char *o = NULL;
    int code = -1;
    int rc = dxh_run(t->h, argv, IT_CLI_MS, &o, NULL, &code);
    if (rc != 0)
        fail_msg("distribux %s did not finish within %d ms", arg, IT_CLI_MS);
    if (out != NULL)
        *out = o;
    else
        free(o);
    if (err != NULL)
        *err = it_slurp(log, before);
    return code;
}

/* `distribux --json status`, parsed; the caller frees it with
 * cJSON_Delete. */
IT_FN cJSON *it_status_json(it *t)
{
    char *out = NULL;
    assert_int_equal(it_cli(t, &out, NULL, "--json", "status", NULL), 0);
    cJSON *j = cJSON_Parse(out);
    if (j == NULL)
        fail_msg("--json status is not JSON: %s", out);
    free(out);
    return j;
}

/* The nodes[] entry of id in a --json status, or NULL. */
IT_FN const cJSON *it_json_node(const cJSON *status, int id)
{
    const cJSON *n;
    cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(status, "nodes"))
    {
        const cJSON *jid = cJSON_GetObjectItemCaseSensitive(n, "id");
        if (cJSON_IsNumber(jid) && jid->valueint == id)
            return n;
    }
    return NULL;
}

IT_FN const char *it_json_str(const cJSON *o, const char *key)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
    return s != NULL ? s : "(null)";
}

#ifndef IT_HELPERS_ONLY
/* ======================================================================= */
/* The membership tests                                                    */
/* ======================================================================= */

/* Three agents come up: all online in the leader's view, and in status. */
static void test_three_agents_online(void **state)
{
    it *t = *state;
    (void)it_cluster(t, 3);
    cJSON *j = it_status_json(t);
    const cJSON *leader = cJSON_GetObjectItemCaseSensitive(j, "leader");
    assert_true(cJSON_IsNumber(leader));
    assert_int_equal(leader->valueint, 3);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "nodes")), 3);
    for (int id = 1; id <= 3; id++) {
        const cJSON *n = it_json_node(j, id);
        assert_non_null(n);
        assert_string_equal(it_json_str(n, "state"), "online");
        assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(n, "load")));
        assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(n, "leader")),
                         id == 3);
    }
    cJSON_Delete(j);
    dxh_pass(t->h);
}

/* kill -9 of a follower: failed by its will, well before the timeout,
 * reported once. */
static void test_kill_follower_will(void **state)
{
    it *t = *state;
    (void)it_cluster(t, 3);
    uint64_t mark = dxh_obs_mark(t->obs);
    int64_t t0 = dxh_now_ns();
    it_signal(t, 1, SIGKILL);
    const dxh_msg *m = it_expect_view(t, mark, 3, "1=failed:will 2=online "
                                                  "3=online", IT_WAIT_MS);
    double ms = it_ms_since(t0, m->t_ns);
    printf("    kill -9 -> members 'failed (will)': %.1f ms (timeout %d ms)\n",
           ms, IT_TIMEOUT_MS);
    assert_true(ms < IT_TIMEOUT_MS);

    static const char text[] = "Node 1 marked as failed (connection lost: will)";
    (void)it_expect_event(t, mark, text, IT_WAIT_MS);
    dxh_sleep_ms(IT_SETTLE_MS); /* room for a duplicate to show up */
    assert_int_equal(it_count_events(t, mark, text), 1);
    assert_int_equal(it_count_events(t, mark, "Node 1 marked as failed (heartbeat"), 0);
    dxh_pass(t->h);
}

/* SIGSTOP of a follower: failed by timeout; SIGCONT: back, same epoch,
 * one leader, never two leaders in a term. */
static void test_stop_follower_timeout(void **state)
{
    it *t = *state;
    uint64_t term = it_cluster(t, 3);
    uint64_t epoch2 = it_epoch(t, 2);
    uint64_t start = dxh_obs_mark(t->obs), mark = start;
    int64_t t0 = dxh_now_ns();
    it_signal(t, 2, SIGSTOP);
    const dxh_msg *m = it_expect_view(t, mark, 3, "1=online 2=failed:timeout "
                                                  "3=online", IT_WAIT_MS);
    printf("    SIGSTOP -> members 'failed (timeout)': %.1f ms (timeout %d ms)\n",
           it_ms_since(t0, m->t_ns), IT_TIMEOUT_MS);

    mark = dxh_obs_mark(t->obs);
    it_signal(t, 2, SIGCONT);
    (void)it_expect_view(t, mark, 3, "1=online 2=online 3=online", IT_WAIT_MS);
    assert_int_equal(it_view_node(&it_view, 2)->epoch, epoch2);
    (void)it_expect_follow(t, mark, "123", 3, term, IT_WAIT_MS);
    it_assert_terms(t, start, NULL);
    char last[256];
    dx_msg_leader l;
    it_last(t, "leader", last, sizeof last);
    assert_int_equal(dx_msg_leader_decode(last, strlen(last), &l, NULL), 0);
    assert_int_equal(l.leader, 3);
    dxh_pass(t->h);
}

static bool pred_node1_down(const dxh_msg *m, void *ctx)
{
    const dx_msg_members *v = it_members(ctx, m);
    return v != NULL && !it_view_is(v, "1=online");
}

/* A late will (an older epoch's death) must not kill a live node. */
static void test_late_will_ignored(void **state)
{
    it *t = *state;
    char path[512];
    /* Node 1 starts from epoch 4 on disk, so it connects with 5 and an
     * "older epoch" exists (epochs start at 1). */
    assert_int_equal(dxh_path(t->h, path, sizeof path, "node1"), 0);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_int_equal(dxh_path(t->h, path, sizeof path, "node1/epoch"), 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("4\n", f);
    fclose(f);
    (void)it_cluster(t, 3);
    uint64_t e1 = it_epoch(t, 1);
    assert_true(e1 >= 2);

    char stale[160];
    snprintf(stale, sizeof stale, "{\"v\":1,\"id\":1,\"state\":\"offline\","
             "\"epoch\":%" PRIu64 ",\"reason\":\"crash\"}", e1 - 1);
    uint64_t mark = dxh_obs_mark(t->obs);
    assert_int_equal(dxh_obs_publish_str(t->obs, it_topic(t, "nodes/1/state"),
                                         stale, 1, true), 0);
    dxh_sleep_ms(IT_SETTLE_MS); /* room for a wrong reaction */
    assert_int_equal(it_count_events(t, mark, "Node 1 marked as failed"), 0);
    /* No view published since, if any, has node 1 anything but online. */
    assert_null(dxh_obs_wait_for_from(t->obs, mark, pred_node1_down, t, 0));
    cJSON *j = it_status_json(t);
    const cJSON *n1 = it_json_node(j, 1);
    assert_non_null(n1);
    assert_string_equal(it_json_str(n1, "state"), "online");
    assert_int_equal(
        (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(n1, "epoch")),
        e1);
    cJSON_Delete(j);
    dxh_pass(t->h);
}

/* A second agent with a live node's id refuses to start (exit 3) and does
 * not disturb the running one. */
static void test_duplicate_id(void **state)
{
    it *t = *state;
    (void)it_cluster(t, 3);
    uint64_t epoch2 = it_epoch(t, 2);
    char dir[512];
    assert_int_equal(dxh_path(t->h, dir, sizeof dir, "dup2"), 0);
    const char *more[] = {IT_TIMINGS, "--data-dir", dir, NULL};
    char **argv = dxh_agent_argv(t->h, NULL, 2, more);
    assert_non_null(argv);
    uint64_t mark = dxh_obs_mark(t->obs);
    int64_t t0 = dxh_now_ns();
    dxh_proc *dup = dxh_spawn(t->h, "dup2", (const char *const *)argv, NULL);
    dxh_argv_free(argv);
    assert_non_null(dup);
    int status = -1;
    assert_int_equal(dxh_proc_wait(dup, IT_WAIT_MS, &status), 0);
    printf("    duplicate exited %d after %.0f ms\n", status,
           it_ms_since(t0, dxh_now_ns()));
    assert_int_equal(status, 3);
    char *log = it_slurp(dxh_proc_log(dup), 0);
    assert_non_null(strstr(log, "already online"));
    free(log);

    dxh_sleep_ms(IT_SETTLE_MS); /* room for a disturbance of node 2 */
    assert_true(dxh_proc_is_running(dxh_agent(t->h, 2)));
    dxh_match st2 = {it_topic(t, "nodes/2/state"), NULL, -1};
    assert_null(dxh_obs_wait_for_from(t->obs, mark, dxh_pred_match, &st2, 0));
    assert_int_equal(it_epoch(t, 2), epoch2);
    assert_true(it_view_is(&it_view, "1=online 2=online 3=online"));
    dxh_pass(t->h);
}

/* SIGTERM: exit 0, offline (shutdown) in the view. */
static void test_graceful_stop(void **state)
{
    it *t = *state;
    (void)it_cluster(t, 3);
    uint64_t mark = dxh_obs_mark(t->obs);
    it_signal(t, 1, SIGTERM);
    int status = -1;
    assert_int_equal(dxh_proc_wait(dxh_agent(t->h, 1), IT_WAIT_MS, &status), 0);
    assert_int_equal(status, 0);
    (void)it_expect_view(t, mark, 3, "1=offline:shutdown 2=online 3=online",
                         IT_WAIT_MS);
    dxh_pass(t->h);
}

/* Repeated SIGTERMs (a double Ctrl-C; a service manager that signals the
 * process group and the process): still exit 0, and no memory error. */
static void test_repeated_sigterm(void **state)
{
    it *t = *state;
    dxh_proc *p = it_agent(t, 1, NULL);
    (void)it_expect_birth(t, 0, 1, 0, IT_WAIT_MS);
    int64_t t0 = dxh_now_ns();
    while (dxh_proc_is_running(p) && it_ms_since(t0, dxh_now_ns()) < 10000) {
        (void)dxh_proc_signal(p, SIGTERM);
        dxh_sleep_ms(2);
    }
    int status = -1;
    assert_int_equal(dxh_proc_wait(p, 0, &status), 0);
    char *text = NULL;
    const char *report = it_sanitizer_report(dxh_proc_log(p), &text);
    if (report != NULL || status != 0) {
        char head[600];
        snprintf(head, sizeof head, "%s", report != NULL ? report : "");
        free(text);
        fail_msg("exit status %d after repeated SIGTERM; %s", status, head);
    }
    free(text);
    dxh_pass(t->h);
}

/* Runs the agent with argv (after the program) and returns its exit code;
 * its output (stdout and stderr) is left in *log. */
static int run_agent(it *t, const char *name, const char *const args[],
                     char **log)
{
    const char *argv[24] = {dxh_agent_bin()};
    size_t n = 1;
    for (size_t i = 0; args[i] != NULL && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    dxh_proc *p = dxh_spawn(t->h, name, argv, NULL);
    assert_non_null(p);
    int status = -1;
    if (dxh_proc_wait(p, IT_WAIT_MS, &status) != 0)
        fail_msg("agent '%s' did not exit (a bad option was accepted?)", name);
    *log = it_slurp(dxh_proc_log(p), 0);
    return status;
}

static void write_file(it *t, const char *name, const char *text, char *path,
                       size_t cap)
{
    assert_int_equal(dxh_path(t->h, path, cap, "%s", name), 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Bad options: exit 2 with one line on stderr.  A valid config file that
 * sets the id runs. */
static void test_bad_options(void **state)
{
    it *t = *state;
    char unknown_cfg[512], id_cfg[512], dir[512];
    write_file(t, "unknown.conf", "# comment\nheartbeat-ms 100\nfrobnicate 1\n",
               unknown_cfg, sizeof unknown_cfg);
    write_file(t, "id.conf", "id 7   # from the file\nheartbeat-ms 100\n"
               "timeout-ms 500\n", id_cfg, sizeof id_cfg);
    assert_int_equal(dxh_path(t->h, dir, sizeof dir, "bad-data"), 0);
    /* Every case talks to the test broker and root, never to a real one,
     * in case a bad option is accepted. */
#define BASE "--broker", dxh_broker_url(t->h), "--cluster", "test", \
             "--data-dir", dir
    const struct {
        const char *name;
        const char *args[16];
    } cases[] = {
        {"no-id", {BASE, NULL}},
        {"id-0", {BASE, "--id", "0", NULL}},
        {"id-70000", {BASE, "--id", "70000", NULL}},
        {"id-abc", {BASE, "--id", "abc", NULL}},
        {"heartbeat-5", {BASE, "--id", "1", "--heartbeat-ms", "5", NULL}},
        {"broker-foo", {BASE, "--id", "1", "--broker", "foo", NULL}},
        {"unknown-option", {BASE, "--id", "1", "--frobnicate", "1", NULL}},
        {"timeout-below-heartbeat",
         {BASE, "--id", "1", "--heartbeat-ms", "200", "--timeout-ms", "100",
          NULL}},
        {"config-unknown-key", {BASE, "--id", "1", "--config", unknown_cfg, NULL}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *log = NULL;
        int code = run_agent(t, cases[i].name, cases[i].args, &log);
        char *nl = strchr(log, '\n');
        printf("    %-24s exit %d: %s", cases[i].name, code,
               log[0] != '\0' ? log : "(no output)\n");
        if (code != 2 || nl == NULL || nl == log || nl[1] != '\0')
            fail_msg("%s: expected exit 2 and one line, got %d and '%s'",
                     cases[i].name, code, log);
        free(log);
    }

    const char *argv[] = {dxh_agent_bin(), BASE, "--config", id_cfg, NULL};
#undef BASE
    dxh_proc *p = dxh_spawn(t->h, "config-id", argv, NULL);
    assert_non_null(p);
    (void)it_expect_birth(t, 0, 7, 0, IT_WAIT_MS);
    int status = -1;
    assert_int_equal(dxh_proc_stop(p, 5000, &status), 0);
    assert_int_equal(status, 0);
    dxh_pass(t->h);
}

/* An agent started before its broker joins once the broker appears. */
static void test_broker_late(void **state)
{
    it *t = *state;
    assert_int_equal(dxh_broker_stop(t->h, 2000), 0);
    int64_t t0 = dxh_now_ns();
    dxh_proc *a = it_agent(t, 1, NULL);
    dxh_sleep_ms(1500); /* the scenario: the broker comes 1.5 s later */
    assert_true(dxh_proc_is_running(a));
    assert_int_equal(dxh_broker_restart(t->h), 0);
    int64_t t1 = dxh_now_ns();
    const dxh_msg *m = it_expect_birth(t, 0, 1, 0, 2 * IT_WAIT_MS);
    printf("    birth %.0f ms after the broker came up (agent started %.0f ms "
           "before it)\n", it_ms_since(t1, m->t_ns), it_ms_since(t0, t1));
    assert_true(dxh_proc_is_running(a));
    assert_ptr_equal(dxh_agent(t->h, 1), a); /* never restarted */
    dxh_pass(t->h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_three_agents_online, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_kill_follower_will, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_stop_follower_timeout, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_late_will_ignored, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_id, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_graceful_stop, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_repeated_sigterm, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_bad_options, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_broker_late, it_setup,
                                        it_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif /* IT_HELPERS_ONLY */
