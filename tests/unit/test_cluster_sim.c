/*
 * test_cluster_sim.c - a whole cluster of agent cores in one process.
 *
 * N dx_core instances (3..5) talk through a fake MQTT broker written here:
 * it keeps one retained message per topic, matches every PUBLISH action of
 * any core against each connected core's subscriptions (dx_core_subscriptions,
 * with '+' and '#'), and queues a copy per subscriber.  Delivery runs the
 * queues until the cluster is quiet; the order can be kept, shuffled by a
 * seeded PRNG (reordering), and every message can be delivered twice (QoS 1
 * redelivery).  Time is simulated in STEP_MS steps: each step ticks every
 * running core, then delivers.  SUBSCRIBE and UNSUBSCRIBE actions change
 * a core's subscriptions (a new one gets the retained messages it matches,
 * as from Mosquitto), so a leader hears submissions and reports and the
 * followers the replica stream.  Faults: kill (the broker publishes the
 * core's will, retained), hang (the core neither ticks nor reads, its
 * messages queue up, no will), broker restart (every core disconnected),
 * and hostile payloads.  FAIL/HANG/RECOVER actions are only recorded.
 *
 * After every step the invariants hold: no two running cores lead in the
 * same term, no core's term ever decreases, no outbox overflowed.  The
 * broker also watches {root}/events and {root}/election, so a test can
 * count "Node N marked as failed" announcements and COORDINATOR messages.
 * Set DX_SIM_VERBOSE=1 to print the traffic and every core's log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core.h"

#define MAXN 5
#define MAX_ID 16             /* ids counted in events: nodes and strangers */
#define STEP_MS 5
#define HB_MS 100
#define TIMEOUT_MS 500
#define T0 1000
#define WALL0 1700000000000LL

enum { IN_ORDER = 0, SHUFFLE = 1, DUP = 2 };

typedef struct msg {
    char topic[DX_TOPIC_MAX + 1];
    char *payload;            /* malloc'd, NUL after len bytes */
    size_t len;
    bool retained;
} msg;

typedef struct queue {
    msg *m;
    size_t n, cap;
} queue;

typedef struct node {
    dx_core *c;
    bool up;                  /* the process runs */
    bool connected;           /* the broker holds its session */
    bool hung;                /* neither ticks nor reads */
    uint64_t epoch;
    size_t n_subs;
    char subs[DX_SUBS_MAX][DX_TOPIC_MAX + 1];
    queue in;                 /* delivered but not yet read */
    uint64_t last_term;
    unsigned faults;          /* FAIL, HANG, RECOVER actions */
    dx_act_type last_fault;
    uint32_t last_for_ms;
} node;

typedef struct sim {
    size_t n;
    node node[MAXN + 1];      /* by id, [0] unused */
    queue retained;
    int64_t now;
    unsigned mode;
    uint32_t rng;
    bool verbose;
    dx_topics topics;
    char t_events[DX_TOPIC_MAX + 1], t_election[DX_TOPIC_MAX + 1];
    unsigned coordinators;             /* COORDINATOR messages seen */
    unsigned failed_events[MAX_ID];    /* "Node N marked as failed" */
    unsigned stepped_down[MAX_ID];     /* leader_stepped_down events */
    unsigned left_events[MAX_ID];      /* node_left events */
    unsigned joined_events[MAX_ID];    /* node_joined events */
    dx_msg_reply reply;                /* the last reply published */
    unsigned replies;
} sim;

/* ---- topic filters ---- */

/* MQTT 3.1.1 matching of one filter against one topic name. */
static bool topic_matches(const char *f, const char *t)
{
    for (;;) {
        if (f[0] == '#')
            return true;
        if (f[0] == '+') {
            f++;
            while (*t != '\0' && *t != '/')
                t++;
        } else {
            for (; *f != '\0' && *f != '/'; f++, t++)
                if (*f != *t)
                    return false;
            if (*t != '\0' && *t != '/')
                return false;
        }
        if (*f == '\0')
            return *t == '\0';
        if (*t == '\0')
            return strcmp(f, "/#") == 0;    /* "a/#" matches "a" */
        f++;
        t++;
    }
}

static bool subscribed(const node *nd, const char *topic)
{
    for (size_t i = 0; i < nd->n_subs; i++)
        if (topic_matches(nd->subs[i], topic))
            return true;
    return false;
}

/* ---- queues of messages ---- */
static void q_push(queue *q, const char *topic, const char *payload,
                   size_t len, bool retained)
{
    msg *m;
    if (q->n == q->cap) {
        q->cap = q->cap ? 2 * q->cap : 64;
        q->m = realloc(q->m, q->cap * sizeof *q->m);
        assert_non_null(q->m);
    }
    m = &q->m[q->n++];
    snprintf(m->topic, sizeof m->topic, "%s", topic);
    m->payload = malloc(len + 1);
    assert_non_null(m->payload);
    memcpy(m->payload, payload, len);
    m->payload[len] = '\0';
    m->len = len;
    m->retained = retained;
}

static void q_free(queue *q)
{
    for (size_t i = 0; i < q->n; i++)
        free(q->m[i].payload);
    free(q->m);
    memset(q, 0, sizeof *q);
}

static uint32_t rnd(sim *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 17;
    s->rng ^= s->rng << 5;
    return s->rng;
}

/* ---- the broker ---- */
static void retain(sim *s, const char *topic, const char *payload,
                   size_t len)
{
    queue *r = &s->retained;
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->m[i].topic, topic) != 0)
            continue;
        free(r->m[i].payload);
        r->m[i] = r->m[--r->n];        /* replaced below, or cleared */
        break;
    }
    if (len > 0)
        q_push(r, topic, payload, len, true);
}

/* The retained payload of a topic, or NULL. */
static const msg *retained_get(const sim *s, const char *topic)
{
    for (size_t i = 0; i < s->retained.n; i++)
        if (strcmp(s->retained.m[i].topic, topic) == 0)
            return &s->retained.m[i];
    return NULL;
}

/* Counts what the tests assert on: announcements and coordinators. */
static void observe(sim *s, const char *topic, const char *payload,
                    size_t len)
{
    dx_msg_event ev;
    dx_msg_election el;

    if (strcmp(topic, s->t_events) == 0) {
        assert_int_equal(dx_msg_event_decode(payload, len, &ev, NULL), 0);
        assert_true(ev.subject < MAX_ID);
        if (strcmp(ev.kind, "node_failed") == 0 &&
            strstr(ev.text, "marked as failed") != NULL)
            s->failed_events[ev.subject]++;
        if (strcmp(ev.kind, "leader_stepped_down") == 0)
            s->stepped_down[ev.subject]++;
        if (strcmp(ev.kind, "node_left") == 0)
            s->left_events[ev.subject]++;
        if (strcmp(ev.kind, "node_joined") == 0)
            s->joined_events[ev.subject]++;
    } else if (strstr(topic, "/reply/") != NULL) {
        assert_int_equal(dx_msg_reply_decode(payload, len, &s->reply, NULL),
                         0);
        s->replies++;
    } else if (strcmp(topic, s->t_election) == 0) {
        /* Hostile payloads injected by a test do not decode. */
        if (dx_msg_election_decode(payload, len, &el, NULL) == 0)
            s->coordinators += el.type == DX_ELECT_COORDINATOR;
    }
}

static void broker_publish(sim *s, const char *topic, const char *payload,
                           size_t len, bool retained)
{
    if (s->verbose)
        printf("%6lld  pub %s %.*s%s\n", (long long)s->now, topic, (int)len,
               payload, retained ? " (retained)" : "");
    if (retained)
        retain(s, topic, payload, len);
    observe(s, topic, payload, len);
    for (size_t id = 1; id <= s->n; id++) {
        node *nd = &s->node[id];
        if (nd->connected && subscribed(nd, topic))
            q_push(&nd->in, topic, payload, len, false);
    }
}

static void sim_subscribe(sim *s, node *nd, const char *filter)
{
    for (size_t i = 0; i < nd->n_subs; i++)
        if (strcmp(nd->subs[i], filter) == 0)
            return;
    assert_true(nd->n_subs < DX_SUBS_MAX);
    snprintf(nd->subs[nd->n_subs++], DX_TOPIC_MAX + 1, "%s", filter);
    for (size_t i = 0; i < s->retained.n; i++) {
        const msg *r = &s->retained.m[i];
        if (topic_matches(filter, r->topic))
            q_push(&nd->in, r->topic, r->payload, r->len, true);
    }
}

static void sim_unsubscribe(node *nd, const char *filter)
{
    for (size_t i = 0; i < nd->n_subs; i++)
        if (strcmp(nd->subs[i], filter) == 0) {
            memmove(nd->subs[i], nd->subs[i + 1],
                    (nd->n_subs - i - 1) * sizeof nd->subs[0]);
            nd->n_subs--;
            return;
        }
}

/* Carries out a core's actions; a disconnected core's publishes are lost. */
static void drain(sim *s, node *nd)
{
    dx_outbox *ob = &nd->c->out;
    for (size_t i = 0; i < ob->n; i++) {
        const dx_action *a = &ob->a[i];
        const char *p = dx_outbox_payload(ob, a);
        if (a->type == DX_ACT_PUBLISH && nd->connected)
            broker_publish(s, a->topic, p, a->len, a->retain);
        else if (a->type == DX_ACT_SUBSCRIBE && nd->connected)
            sim_subscribe(s, nd, a->topic);
        else if (a->type == DX_ACT_UNSUBSCRIBE)
            sim_unsubscribe(nd, a->topic);
        else if (a->type == DX_ACT_LOG && s->verbose)
            printf("%6lld  [%u] %s\n", (long long)s->now,
                   (unsigned)nd->c->cfg.id, p);
        else if (a->type == DX_ACT_FAIL || a->type == DX_ACT_HANG ||
                 a->type == DX_ACT_RECOVER) {
            nd->faults++;
            nd->last_fault = a->type;
            nd->last_for_ms = a->for_ms;
        }
    }
    assert_int_equal(ob->dropped, 0);
    dx_outbox_clear(ob);
}

static int64_t wall(const sim *s)
{
    return WALL0 + s->now;
}

/* Puts a core's pending messages in the delivery order of the mode. */
static void order(sim *s, queue *q)
{
    if (s->mode & DUP) {
        size_t n = q->n;
        for (size_t i = 0; i < n; i++)
            q_push(q, q->m[i].topic, q->m[i].payload, q->m[i].len,
                   q->m[i].retained);
    }
    if (s->mode & SHUFFLE) {
        for (size_t i = q->n; i > 1; i--) {
            size_t j = rnd(s) % i;
            msg t = q->m[i - 1];
            q->m[i - 1] = q->m[j];
            q->m[j] = t;
        }
    }
}

/* Delivers until no reading core has anything left to read. */
static void deliver(sim *s)
{
    for (int round = 0; round < 1000; round++) {
        bool any = false;
        for (size_t id = 1; id <= s->n; id++) {
            node *nd = &s->node[id];
            queue batch = nd->in;
            if (!nd->connected || nd->hung || batch.n == 0)
                continue;
            memset(&nd->in, 0, sizeof nd->in);
            order(s, &batch);
            for (size_t i = 0; i < batch.n; i++) {
                const msg *m = &batch.m[i];
                dx_core_on_message(nd->c, m->topic, strlen(m->topic),
                                   m->payload, m->len, m->retained, s->now,
                                   wall(s));
                drain(s, nd);
            }
            q_free(&batch);
            any = true;
        }
        if (!any)
            return;
    }
    fail_msg("the cluster never went quiet");
}

/* ---- the cluster ---- */
static sim *sim_new(void **state, size_t n, unsigned mode, uint32_t seed)
{
    sim *s = calloc(1, sizeof *s);
    const char *v = getenv("DX_SIM_VERBOSE");

    assert_non_null(s);
    *state = s;
    s->n = n;
    s->mode = mode;
    s->rng = seed * 2654435761u + 1;
    s->now = T0;
    s->verbose = v != NULL && v[0] == '1';
    assert_int_equal(dx_topics_init(&s->topics, NULL, NULL, NULL), 0);
    assert_int_equal(dx_topic_build(&s->topics, DX_T_EVENTS, 0, NULL,
                                     s->t_events, sizeof s->t_events), 0);
    assert_int_equal(dx_topic_build(&s->topics, DX_T_ELECTION, 0, NULL,
                                     s->t_election, sizeof s->t_election), 0);
    for (uint16_t id = 1; id <= n; id++) {
        dx_core_cfg cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.id = id;
        snprintf(cfg.name, sizeof cfg.name, "node-%u", (unsigned)id);
        cfg.topics = s->topics;
        cfg.heartbeat_ms = HB_MS;
        cfg.timeout_ms = TIMEOUT_MS;
        cfg.pool_kb = 4096;
        cfg.seed = seed * 31 + id;
        s->node[id].c = calloc(1, sizeof(dx_core));    /* large */
        assert_non_null(s->node[id].c);
        dx_core_init(s->node[id].c, &cfg);
    }
    return s;
}

static int sim_free(void **state)
{
    sim *s = *state;
    if (s == NULL)
        return 0;
    for (size_t id = 1; id <= s->n; id++) {
        q_free(&s->node[id].in);
        free(s->node[id].c);
    }
    q_free(&s->retained);
    free(s);
    *state = NULL;
    return 0;
}

/* Connects a core with a fresh epoch: it subscribes, gets the retained
 * messages, and publishes its birth. */
static void sim_connect(sim *s, uint16_t id, uint64_t epoch)
{
    node *nd = &s->node[id];
    nd->up = nd->connected = true;
    nd->hung = false;
    nd->epoch = epoch;
    nd->n_subs = dx_core_subscriptions(nd->c, nd->subs, DX_SUBS_MAX);
    assert_true(nd->n_subs >= 5);
    for (size_t i = 0; i < s->retained.n; i++) {
        const msg *r = &s->retained.m[i];
        if (subscribed(nd, r->topic))
            q_push(&nd->in, r->topic, r->payload, r->len, true);
    }
    dx_core_on_connected(nd->c, epoch, s->now, wall(s));
    drain(s, nd);
}

/* The broker loses the core's session (its will is not fired). */
static void sim_disconnect(sim *s, uint16_t id)
{
    node *nd = &s->node[id];
    nd->connected = false;
    q_free(&nd->in);
    dx_core_on_disconnected(nd->c, s->now);
    drain(s, nd);
}

/* Writes the will of `id` for `epoch` into topic/payload. */
static size_t will_of(sim *s, uint16_t id, uint64_t epoch,
                      char topic[DX_TOPIC_MAX + 1], char *payload,
                      size_t cap)
{
    size_t len = 0;
    assert_int_equal(dx_core_will(s->node[id].c, epoch, topic,
                                  DX_TOPIC_MAX + 1, payload, cap, &len), 0);
    return len;
}

/* The process dies: the broker publishes its will, retained. */
static void sim_kill(sim *s, uint16_t id)
{
    char topic[DX_TOPIC_MAX + 1], payload[1024];
    size_t len = will_of(s, id, s->node[id].epoch, topic, payload,
                         sizeof payload);
    s->node[id].up = s->node[id].connected = false;
    q_free(&s->node[id].in);
    broker_publish(s, topic, payload, len, true);
}

static void check_invariants(sim *s)
{
    for (size_t i = 1; i <= s->n; i++) {
        const node *a = &s->node[i];
        if (!a->up)
            continue;
        if (a->c->elect.term < a->last_term)
            fail_msg("t=%lld: node %zu's term went from %llu down to %llu",
                     (long long)s->now, i, (unsigned long long)a->last_term,
                     (unsigned long long)a->c->elect.term);
        s->node[i].last_term = a->c->elect.term;
        for (size_t j = i + 1; j <= s->n; j++) {
            const node *b = &s->node[j];
            if (b->up && dx_elect_is_leader(&a->c->elect) &&
                dx_elect_is_leader(&b->c->elect) &&
                a->c->elect.term == b->c->elect.term)
                fail_msg("t=%lld: nodes %zu and %zu both lead term %llu",
                         (long long)s->now, i, j,
                         (unsigned long long)a->c->elect.term);
        }
    }
}

static void sim_step(sim *s)
{
    s->now += STEP_MS;
    for (size_t id = 1; id <= s->n; id++) {
        node *nd = &s->node[id];
        if (!nd->up || nd->hung)
            continue;
        dx_core_tick(nd->c, s->now, wall(s));
        drain(s, nd);
    }
    deliver(s);
    check_invariants(s);
}

static void sim_run(sim *s, int64_t ms)
{
    for (int64_t end = s->now + ms; s->now < end;)
        sim_step(s);
}

static bool live(const node *nd)
{
    return nd->up && nd->connected && !nd->hung;
}

/* True when every live core follows `leader` in its term, only the leader
 * leads, and every live core sees exactly the live cores online. */
static bool converged(const sim *s, uint16_t leader)
{
    const dx_election *le = &s->node[leader].c->elect;
    size_t n_live = 0;

    if (!live(&s->node[leader]) || !dx_elect_is_leader(le))
        return false;
    for (size_t id = 1; id <= s->n; id++)
        n_live += live(&s->node[id]);
    for (size_t id = 1; id <= s->n; id++) {
        const dx_core *c = s->node[id].c;
        if (!live(&s->node[id]))
            continue;
        if (c->elect.leader != leader || c->elect.term != le->term ||
            dx_elect_is_leader(&c->elect) != (id == leader) ||
            dx_members_count_alive(&c->members) != n_live)
            return false;
        for (uint16_t p = 1; p <= s->n; p++)
            if (dx_members_is_alive(&c->members, p) != live(&s->node[p]))
                return false;
    }
    return true;
}

/* Steps until converged on `leader`; returns the sim time it took. */
static int64_t run_until_leader(sim *s, uint16_t leader, int64_t limit)
{
    int64_t start = s->now;
    while (!converged(s, leader)) {
        if (s->now - start > limit)
            fail_msg("no convergence on leader %u within %lld ms",
                     (unsigned)leader, (long long)limit);
        sim_step(s);
    }
    return s->now - start;
}

/* A cluster of n cores, all connected at T0 with epoch 1, after one second
 * of sim time: exactly one leader, the highest id. */
static sim *boot(void **state, size_t n, unsigned mode, uint32_t seed)
{
    sim *s = sim_new(state, n, mode, seed);
    for (uint16_t id = 1; id <= n; id++)
        sim_connect(s, id, 1);
    sim_run(s, 1000);
    assert_true(converged(s, (uint16_t)n));
    return s;
}

static const dx_member *view(const sim *s, uint16_t viewer, uint16_t id)
{
    const dx_member *m = dx_members_get(&s->node[viewer].c->members, id);
    assert_non_null(m);
    return m;
}

static uint64_t term_of(const sim *s, uint16_t id)
{
    return s->node[id].c->elect.term;
}

/* ---- the broker itself ---- */
static void test_topic_matcher(void **state)
{
    (void)state;
    assert_true(topic_matches("a/+/c", "a/b/c"));
    assert_true(topic_matches("a/+/c", "a//c"));
    assert_false(topic_matches("a/+/c", "a/b/c/d"));
    assert_false(topic_matches("a/+/c", "a/b"));
    assert_true(topic_matches("a/#", "a/b/c"));
    assert_true(topic_matches("a/#", "a"));
    assert_true(topic_matches("#", "a/b"));
    assert_true(topic_matches("a/b", "a/b"));
    assert_false(topic_matches("a/b", "a/bc"));
    assert_false(topic_matches("a/bc", "a/b"));
    assert_false(topic_matches("a/b", "a/b/c"));
    assert_true(topic_matches("+/+", "x/y"));
    assert_false(topic_matches("+", "x/y"));
}

/* ---- (a) start ---- */
static void test_three_nodes_elect_the_highest(void **state)
{
    sim *s = boot(state, 3, IN_ORDER, 1);

    assert_int_equal(term_of(s, 3), 1);
    for (uint16_t id = 1; id <= 3; id++) {
        assert_int_equal(dx_members_count_alive(&s->node[id].c->members), 3);
        assert_int_equal(s->node[id].c->rejected, 0);
        assert_int_equal(s->node[id].faults, 0);
    }
    assert_int_equal(s->failed_events[3], 0);
}

/* ---- (b) crash of the leader ---- */
static void test_killed_leader_is_replaced(void **state)
{
    sim *s = boot(state, 3, IN_ORDER, 2);
    uint64_t t1 = term_of(s, 3);

    sim_kill(s, 3);
    sim_step(s);
    for (uint16_t id = 1; id <= 2; id++) {
        assert_int_equal(view(s, id, 3)->state, DX_MEMBER_FAILED);
        assert_int_equal(view(s, id, 3)->why, DX_WHY_WILL);
    }
    assert_true(run_until_leader(s, 2, 50) <= 50);
    assert_true(term_of(s, 2) > t1);
    assert_int_equal(term_of(s, 1), term_of(s, 2));
    sim_run(s, 2000);
    assert_true(converged(s, 2));
    assert_int_equal(s->failed_events[3], 1);
}

/* ---- (c) hang of the leader, then its return ---- */
static void test_hung_leader_is_fenced_then_bullies_back(void **state)
{
    sim *s = boot(state, 3, IN_ORDER, 3);
    uint64_t t1 = term_of(s, 3), t2;
    int64_t hung_at = s->now, took;

    s->node[3].hung = true;
    while (view(s, 1, 3)->state == DX_MEMBER_ONLINE ||
           view(s, 2, 3)->state == DX_MEMBER_ONLINE) {
        assert_true(s->now - hung_at <= TIMEOUT_MS + 2 * STEP_MS);
        sim_step(s);
    }
    took = s->now - hung_at;
    assert_true(took > TIMEOUT_MS - HB_MS);
    for (uint16_t id = 1; id <= 2; id++) {
        assert_int_equal(view(s, id, 3)->state, DX_MEMBER_FAILED);
        assert_int_equal(view(s, id, 3)->why, DX_WHY_TIMEOUT);
    }
    run_until_leader(s, 2, 50);
    t2 = term_of(s, 2);
    assert_true(t2 > t1);
    sim_run(s, 1000);
    assert_true(dx_elect_is_leader(&s->node[3].c->elect));   /* still hung */

    s->node[3].hung = false;        /* wakes up and reads its backlog */
    sim_step(s);
    assert_false(dx_elect_is_leader(&s->node[3].c->elect));
    assert_true(s->stepped_down[3] >= 1);
    run_until_leader(s, 3, 2000);
    assert_true(term_of(s, 3) > t2);
    sim_run(s, 1000);
    assert_true(converged(s, 3));
    assert_int_equal(s->failed_events[3], 1);
}

/* ---- (d) a late will ---- */
/* Node 3's connection drops and it reconnects with epoch 2 at once; the
 * broker publishes the old session's will (epoch 1) only afterwards. */
static void late_will(sim *s)
{
    char topic[DX_TOPIC_MAX + 1], payload[1024];
    size_t len = will_of(s, 3, 1, topic, payload, sizeof payload);

    sim_disconnect(s, 3);
    sim_connect(s, 3, 2);
    sim_step(s);
    broker_publish(s, topic, payload, len, true);
    sim_run(s, 1000);
}

static void test_late_will_does_not_fail_the_node(void **state)
{
    sim *s = boot(state, 3, IN_ORDER, 4);

    late_will(s);
    for (uint16_t id = 1; id <= 2; id++) {
        assert_int_equal(view(s, id, 3)->state, DX_MEMBER_ONLINE);
        assert_int_equal(view(s, id, 3)->epoch, 2);
    }
    assert_true(converged(s, 3));
    assert_int_equal(s->failed_events[3], 0);
}

/* DESIGN.md, "re-assert what you own": the stale will has overwritten the
 * node's retained birth, so every agent that connects later would start by
 * seeing node 3 dead.  The node sees its own state topic overwritten by an
 * older epoch and must publish its birth again. */
static void test_late_will_retained_birth_is_reasserted(void **state)
{
    sim *s = boot(state, 3, IN_ORDER, 5);
    char topic[DX_TOPIC_MAX + 1];
    const msg *r;
    dx_msg_state st;

    late_will(s);
    assert_int_equal(dx_topic_build(&s->topics, DX_T_NODE_STATE, 3, NULL,
                                    topic, sizeof topic), 0);
    r = retained_get(s, topic);
    assert_non_null(r);
    assert_int_equal(dx_msg_state_decode(r->payload, r->len, &st, NULL), 0);
    assert_int_equal(st.epoch, 2);
    assert_int_equal(st.state, DX_WIRE_ONLINE);
}

/* ---- (e) duplicates and reordering ---- */
static void test_duplicates_and_shuffles_converge(void **state)
{
    for (uint32_t seed = 1; seed <= 4; seed++) {
        sim *s = boot(state, 5, SHUFFLE | DUP, seed);
        uint64_t t;

        sim_kill(s, 5);
        run_until_leader(s, 4, 1000);
        t = term_of(s, 4);
        s->node[4].hung = true;
        run_until_leader(s, 3, TIMEOUT_MS + 500);
        s->node[4].hung = false;
        run_until_leader(s, 4, 2000);
        assert_true(term_of(s, 4) > t);
        sim_run(s, 1000);
        assert_true(converged(s, 4));
        assert_int_equal(s->failed_events[5], 1);
        assert_int_equal(s->failed_events[4], 1);
        sim_free(state);
    }
}

/* ---- (f) broker restart ---- */
/* Every session is lost; the cores keep running past the timeout, then
 * reconnect with new epochs, node `first` first and the others `stagger`
 * ms apart.  Returns the COORDINATOR messages sent from the reconnect on. */
static unsigned broker_restart(sim *s, uint16_t first, int64_t stagger)
{
    for (uint16_t id = 1; id <= s->n; id++)
        sim_disconnect(s, id);
    sim_run(s, TIMEOUT_MS + 200);
    s->coordinators = 0;
    for (size_t k = 0; k < s->n; k++) {
        uint16_t id = (uint16_t)((first - 1 + k) % s->n + 1);
        sim_connect(s, id, s->node[id].epoch + 1);
        sim_run(s, stagger);
    }
    run_until_leader(s, (uint16_t)s->n, 2000);
    sim_run(s, 2000);
    assert_true(converged(s, (uint16_t)s->n));
    return s->coordinators;
}

static void test_broker_restart_no_storm(void **state)
{
    sim *s = boot(state, 3, IN_ORDER, 6);

    assert_true(broker_restart(s, 1, 0) <= 3);
    assert_int_equal(s->failed_events[3], 0);
}

/* Clients come back one by one after a broker restart (reconnect backoff):
 * still a bounded number of elections.  Each returning higher node may
 * bully its way in (a new term, at most one per node), and a leader repeats
 * its coordinator message to each lower candidate (same term, harmless):
 * the storm measure is the number of new terms, and the messages stay
 * within a few per node. */
static void test_staggered_reconnect_no_storm(void **state)
{
    sim *s = boot(state, 5, IN_ORDER, 10);
    uint64_t t0 = term_of(s, 5), t1, t2;
    unsigned a, b;

    a = broker_restart(s, 1, 120);
    t1 = term_of(s, 5);
    b = broker_restart(s, 3, 400);
    t2 = term_of(s, 5);
    print_message("staggered reconnects: %u and %u coordinator messages, "
                  "%llu and %llu new terms\n", a, b,
                  (unsigned long long)(t1 - t0), (unsigned long long)(t2 - t1));
    assert_true(t1 - t0 <= 5);
    assert_true(t2 - t1 <= 5);
    assert_true(a <= 3 * 5);
    assert_true(b <= 3 * 5);
}

/* ---- other failures ---- */
static void test_killed_follower_keeps_the_leader(void **state)
{
    sim *s = boot(state, 3, IN_ORDER, 11);
    uint64_t t = term_of(s, 3);

    sim_kill(s, 1);
    run_until_leader(s, 3, 50);
    sim_run(s, 1000);
    assert_true(converged(s, 3));
    assert_int_equal(term_of(s, 3), t);
    assert_int_equal(s->failed_events[1], 1);
}

static void test_leader_shutdown_hands_over(void **state)
{
    sim *s = boot(state, 3, IN_ORDER, 12);
    node *n3 = &s->node[3];

    dx_core_shutdown(n3->c, wall(s));
    drain(s, n3);
    sim_disconnect(s, 3);           /* a clean DISCONNECT: no will */
    n3->up = false;
    run_until_leader(s, 2, 50);
    assert_int_equal(view(s, 1, 3)->state, DX_MEMBER_OFFLINE);
    assert_int_equal(view(s, 1, 3)->why, DX_WHY_SHUTDOWN);
    sim_run(s, 1000);
    assert_true(converged(s, 2));
    assert_int_equal(s->failed_events[3], 0);
    assert_true(s->left_events[3] >= 1);
}

/* The killed leader's process starts again: a fresh core, a new epoch. */
static void test_restarted_leader_takes_over_again(void **state)
{
    sim *s = boot(state, 3, IN_ORDER, 13);
    dx_core_cfg cfg = s->node[3].c->cfg;

    uint64_t t2;

    sim_kill(s, 3);
    run_until_leader(s, 2, 50);
    t2 = term_of(s, 2);
    sim_run(s, 500);
    memset(s->node[3].c, 0, sizeof *s->node[3].c);
    dx_core_init(s->node[3].c, &cfg);
    s->node[3].last_term = 0;
    sim_connect(s, 3, 2);
    run_until_leader(s, 3, 1000);
    assert_true(term_of(s, 3) > t2);
    sim_run(s, 1000);
    assert_true(converged(s, 3));
    assert_int_equal(s->failed_events[3], 1);
}

/* ---- tasks: the leader's records reach the followers' replicas ---- */

static bool has_sub(const node *nd, const char *filter)
{
    for (size_t i = 0; i < nd->n_subs; i++)
        if (strcmp(nd->subs[i], filter) == 0)
            return true;
    return false;
}

static void submit_noop(sim *s, const char *id)
{
    char topic[DX_TOPIC_MAX + 1], p[128];
    int n = snprintf(p, sizeof p, "{\"v\":1,\"id\":\"%s\",\"kind\":\"noop\"}",
                     id);
    assert_int_equal(dx_topic_build(&s->topics, DX_T_TASK_SUBMIT, 0, NULL,
                                     topic, sizeof topic), 0);
    broker_publish(s, topic, p, (size_t)n, false);
}

static dx_task_state state_at(const sim *s, uint16_t node_id, const char *id)
{
    dx_task *t = dx_tasks_get(&s->node[node_id].c->tasks, id);
    return t != NULL ? t->state : (dx_task_state)0;
}

/* Only the leader takes submissions (at QoS 0) and only followers take the
 * replica stream; nobody takes the retained records.  A task's done record
 * is retained for outside readers and reaches every follower's table
 * through the replica; after the leader's death the new leader has it and
 * takes new tasks; the old leader, restarted empty, learns every task from
 * the resync when it comes back, and leads again with them. */
static void test_tasks_replica_follows_the_leader(void **state)
{
    sim *s = boot(state, 3, IN_ORDER, 17);
    dx_core_cfg cfg = s->node[3].c->cfg;
    char submit[DX_TOPIC_MAX + 1], replica[DX_TOPIC_MAX + 1];
    char rec_topic[DX_TOPIC_MAX + 1];
    dx_task_record rec;
    dx_diag d = {{0}};

    assert_int_equal(dx_topic_filter(&s->topics, DX_T_TASK_SUBMIT, submit,
                                     sizeof submit), 0);
    assert_int_equal(dx_topic_filter(&s->topics, DX_T_TASK_REPLICA, replica,
                                     sizeof replica), 0);
    assert_true(has_sub(&s->node[3], submit));
    assert_false(has_sub(&s->node[3], replica));
    assert_int_equal(dx_core_subscription_qos(s->node[3].c, submit), 0);
    assert_int_equal(dx_core_subscription_qos(s->node[3].c, replica), 1);
    for (uint16_t id = 1; id <= 3; id++) {
        assert_false(subscribed(&s->node[id], "distribux/plant/tasks/x"));
        assert_true(has_sub(&s->node[id], replica) == (id != 3));
        assert_true(has_sub(&s->node[id], submit) == (id == 3));
    }

    submit_noop(s, "n1");
    sim_run(s, 100);
    for (uint16_t id = 1; id <= 3; id++)
        assert_int_equal(state_at(s, id, "n1"), DX_TS_DONE);
    assert_int_equal(dx_topic_build(&s->topics, DX_T_TASK_RECORD, 0, "n1",
                                     rec_topic, sizeof rec_topic), 0);
    const msg *r = retained_get(s, rec_topic);
    assert_non_null(r);
    assert_int_equal(dx_task_record_decode(r->payload, r->len, &rec, &d), 0);
    assert_int_equal(rec.state, DX_TS_DONE);

    sim_kill(s, 3);
    run_until_leader(s, 2, 50);
    assert_true(has_sub(&s->node[2], submit));
    assert_false(has_sub(&s->node[2], replica));
    assert_int_equal(state_at(s, 2, "n1"), DX_TS_DONE);
    submit_noop(s, "n2");
    sim_run(s, 100);
    assert_int_equal(state_at(s, 1, "n2"), DX_TS_DONE);
    assert_int_equal(state_at(s, 2, "n2"), DX_TS_DONE);

    memset(s->node[3].c, 0, sizeof *s->node[3].c);
    dx_core_init(s->node[3].c, &cfg);
    s->node[3].last_term = 0;
    sim_connect(s, 3, 2);
    assert_int_equal(state_at(s, 3, "n1"), 0);
    run_until_leader(s, 3, 1000);
    assert_int_equal(state_at(s, 3, "n1"), DX_TS_DONE);
    assert_int_equal(state_at(s, 3, "n2"), DX_TS_DONE);
    assert_true(has_sub(&s->node[2], replica));
    assert_false(has_sub(&s->node[2], submit));
    submit_noop(s, "n3");
    sim_run(s, 100);
    for (uint16_t id = 1; id <= 3; id++)
        assert_int_equal(state_at(s, id, "n3"), DX_TS_DONE);
    for (uint16_t id = 1; id <= 3; id++)
        assert_int_equal(s->node[id].c->rejected, 0);
}

/* {root}/nodes/{id}/cmd: the node replies, then asks its shell to hang. */
static void test_operator_command_reaches_the_shell(void **state)
{
    static const char cmd[] = "{\"v\":1,\"cmd\":\"hang\",\"for_ms\":700,"
        "\"reply_to\":\"distribux/plant/reply/cli-1\",\"corr\":\"c-9\"}";
    sim *s = boot(state, 3, IN_ORDER, 14);
    char topic[DX_TOPIC_MAX + 1];

    assert_int_equal(dx_topic_build(&s->topics, DX_T_NODE_CMD, 2, NULL,
                                    topic, sizeof topic), 0);
    broker_publish(s, topic, cmd, sizeof cmd - 1, false);
    deliver(s);
    assert_int_equal(s->node[2].faults, 1);
    assert_int_equal(s->node[2].last_fault, DX_ACT_HANG);
    assert_int_equal(s->node[2].last_for_ms, 700);
    assert_int_equal(s->node[1].faults + s->node[3].faults, 0);
    assert_int_equal(s->replies, 1);
    assert_true(s->reply.ok);
    assert_string_equal(s->reply.corr, "c-9");
    assert_int_equal(s->reply.node, 2);
}

/* ---- (g) hostile payloads ---- */
typedef struct hostile {
    dx_topic_kind kind;
    uint16_t node;            /* for the node topics */
    const char *json;         /* ' for " */
} hostile;

static const hostile hostiles[] = {
    {DX_T_NODE_STATE, 2, "{'v':1,'id':'2','state':'online','epoch':1}"},
    {DX_T_NODE_STATE, 2, "{'v':1,'id':2,'state':'offline','epoch':9007199254740992,'reason':'crash'}"},
    {DX_T_NODE_STATE, 2, "{'v':1,'id':2,'state':'offline','epoch':-1,'reason':'crash'}"},
    {DX_T_NODE_STATE, 2, "{'v':1,'id':2,'state':'zombie','epoch':7}"},
    {DX_T_NODE_STATE, 2, "{'v':2,'id':2,'state':'offline','epoch':7,'reason':'crash'}"},
    {DX_T_NODE_STATE, 3, "{'v':1,'id':70000,'state':'offline','epoch':7,'reason':'crash'}"},
    {DX_T_NODE_STATE, 3, "[1,2,3]"},
    {DX_T_NODE_HEARTBEAT, 2, "{'v':1,'id':2,'epoch':1,'seq':1e300}"},
    {DX_T_NODE_HEARTBEAT, 3, "{'v':1,'id':3,'epoch':'1','seq':5}"},
    {DX_T_NODE_HEARTBEAT, 3, "{'v':1,'id':3,'epoch':1,'seq':18446744073709551617}"},
    {DX_T_NODE_HEARTBEAT, 1, "{'v':1,'id':1,'epoch':1,'seq':5,'load':[[[[[[[[[[1]]]]]]]]]]}"},
    {DX_T_ELECTION, 0, "{'v':1,'type':'coordinator','from':1,'term':'99','epoch':1}"},
    {DX_T_ELECTION, 0, "{'v':1,'type':'coordinator','from':70000,'term':99,'epoch':1}"},
    {DX_T_ELECTION, 0, "{'v':1,'type':'coronation','from':1,'term':99,'epoch':1}"},
    {DX_T_ELECTION, 0, "{'v':1,'type':'coordinator','from':1,'term':1e19,'epoch':1}"},
    {DX_T_ELECTION, 0, "{'v':1,'type':'coordinator','from':1,"},
    {DX_T_LEADER, 0, "{'v':1,'leader':1,'term':0,'epoch':1}"},
    {DX_T_LEADER, 0, "{'v':1,'leader':'1','term':99,'epoch':1}"},
    {DX_T_LEADER, 0, "{'v':1,'leader':1,'term':99e999,'epoch':1}"},
    {DX_T_LEADER, 0, "null"},
    {DX_T_NODE_CMD, 3, "{'v':1,'cmd':'explode'}"},
    {DX_T_NODE_CMD, 3, "{'v':1,'cmd':'fail','for_ms':-5}"},
    {DX_T_NODE_CMD, 1, "{'v':1,'cmd':7}"},
};

/* Everything the hostile payloads must not change. */
typedef struct snapshot {
    uint16_t leader[MAXN + 1];
    uint64_t term[MAXN + 1];
    dx_member_state st[MAXN + 1][MAXN + 1];
    uint64_t epoch[MAXN + 1][MAXN + 1];
    uint64_t rejected[MAXN + 1];
} snapshot;

static void snap(const sim *s, snapshot *p)
{
    memset(p, 0, sizeof *p);
    for (uint16_t i = 1; i <= s->n; i++) {
        p->leader[i] = s->node[i].c->elect.leader;
        p->term[i] = s->node[i].c->elect.term;
        p->rejected[i] = s->node[i].c->rejected;
        for (uint16_t j = 1; j <= s->n; j++) {
            p->st[i][j] = view(s, i, j)->state;
            p->epoch[i][j] = view(s, i, j)->epoch;
        }
    }
}

/* Publishes one hostile payload on the topic of kind/id; every receiver
 * but `ignorer` (a node ignores what claims to come from itself) must
 * count it as rejected. */
static void inject(sim *s, dx_topic_kind kind, uint16_t id,
                   const char *payload, size_t len, uint16_t ignorer)
{
    char topic[DX_TOPIC_MAX + 1];
    uint64_t before[MAXN + 1];

    assert_int_equal(dx_topic_build(&s->topics, kind, id, NULL, topic,
                                    sizeof topic), 0);
    for (uint16_t i = 1; i <= s->n; i++)
        before[i] = s->node[i].c->rejected;
    broker_publish(s, topic, payload, len, false);
    deliver(s);
    for (uint16_t i = 1; i <= s->n; i++) {
        bool hears = subscribed(&s->node[i], topic) && i != ignorer;
        if (s->node[i].c->rejected != before[i] + hears)
            fail_msg("node %u: %s %.*s: rejected %llu -> %llu",
                     (unsigned)i, topic, (int)len, payload,
                     (unsigned long long)before[i],
                     (unsigned long long)s->node[i].c->rejected);
    }
}

static void inject_sq(sim *s, const hostile *h)
{
    char buf[512];
    size_t n = strlen(h->json);
    assert_true(n < sizeof buf);
    for (size_t i = 0; i <= n; i++)
        buf[i] = h->json[i] == '\'' ? '"' : h->json[i];
    inject(s, h->kind, h->node, buf, n, 0);
}

/* Valid payloads on another node's topic: the id inside does not match. */
static void inject_mismatches(sim *s)
{
    char buf[1024];
    size_t len;
    dx_msg_state st;
    dx_msg_heartbeat hb;

    memset(&st, 0, sizeof st);
    st.id = 3;
    st.state = DX_WIRE_OFFLINE;
    st.epoch = 99;
    snprintf(st.reason, sizeof st.reason, "crash");
    assert_int_equal(dx_msg_state_encode(&st, buf, sizeof buf, &len), 0);
    inject(s, DX_T_NODE_STATE, 2, buf, len, 2);
    memset(&hb, 0, sizeof hb);
    hb.id = 1;
    hb.epoch = 99;
    hb.seq = 1;
    hb.leader = 1;
    hb.term = 99;
    assert_int_equal(dx_msg_heartbeat_encode(&hb, buf, sizeof buf, &len), 0);
    inject(s, DX_T_NODE_HEARTBEAT, 3, buf, len, 3);
}

static void test_hostile_payloads_change_nothing(void **state)
{
    static const dx_topic_kind kinds[] = {DX_T_NODE_STATE,
        DX_T_NODE_HEARTBEAT, DX_T_ELECTION, DX_T_LEADER, DX_T_NODE_CMD};
    sim *s = boot(state, 3, IN_ORDER, 7);
    snapshot a, b;

    snap(s, &a);
    for (size_t i = 0; i < sizeof hostiles / sizeof hostiles[0]; i++)
        inject_sq(s, &hostiles[i]);
    inject_mismatches(s);
    for (int i = 0; i < 200; i++) {     /* random bytes, 1..300 of them */
        char junk[300];
        size_t len = 1 + rnd(s) % sizeof junk;
        for (size_t k = 0; k < len; k++)
            junk[k] = (char)(rnd(s) & 0xff);
        inject(s, kinds[i % 5], (uint16_t)(1 + rnd(s) % 3), junk, len, 0);
    }
    snap(s, &b);
    for (uint16_t i = 1; i <= 3; i++)
        assert_true(b.rejected[i] > a.rejected[i]);
    memcpy(a.rejected, b.rejected, sizeof a.rejected);
    assert_memory_equal(&a, &b, sizeof a);
    sim_run(s, 2000);
    snap(s, &b);
    assert_memory_equal(a.leader, b.leader, sizeof a.leader);
    assert_memory_equal(a.term, b.term, sizeof a.term);
    assert_memory_equal(a.st, b.st, sizeof a.st);
    assert_true(converged(s, 3));
    for (uint16_t i = 1; i <= 3; i++)
        assert_int_equal(s->node[i].faults, 0);
}

/* DESIGN.md, "re-assert what you own": a malformed payload retained on
 * {root}/leader replaced the leader's record for everyone who connects
 * later; the leader sees it and must publish its record again. */
static void test_garbage_retained_leader_is_reasserted(void **state)
{
    sim *s = boot(state, 3, IN_ORDER, 8);
    char topic[DX_TOPIC_MAX + 1];
    const msg *r;
    dx_msg_leader l;

    assert_int_equal(dx_topic_build(&s->topics, DX_T_LEADER, 0, NULL, topic,
                                    sizeof topic), 0);
    broker_publish(s, topic, "{\"v\":1,\"leader\":", 16, true);
    sim_run(s, 1000);
    r = retained_get(s, topic);
    assert_non_null(r);
    assert_int_equal(dx_msg_leader_decode(r->payload, r->len, &l, NULL), 0);
    assert_int_equal(l.leader, 3);
    assert_int_equal(l.term, term_of(s, 3));
}

/* A node that died before this cluster started (its will still retained,
 * say from last week) is not a failure any agent detected: it must not be
 * announced once per agent that starts up.  At most once cluster-wide. */
static void test_stale_retained_will_announced_at_most_once(void **state)
{
    sim *s = sim_new(state, 3, IN_ORDER, 9);
    char topic[DX_TOPIC_MAX + 1], buf[512];
    size_t len;
    dx_msg_state st;

    memset(&st, 0, sizeof st);
    st.id = 9;
    st.state = DX_WIRE_OFFLINE;
    st.epoch = 4;
    snprintf(st.reason, sizeof st.reason, "crash");
    assert_int_equal(dx_msg_state_encode(&st, buf, sizeof buf, &len), 0);
    assert_int_equal(dx_topic_build(&s->topics, DX_T_NODE_STATE, 9, NULL,
                                    topic, sizeof topic), 0);
    broker_publish(s, topic, buf, len, true);
    for (uint16_t id = 1; id <= 3; id++)
        sim_connect(s, id, 1);
    sim_run(s, 1000);
    assert_true(converged(s, 3));
    assert_in_range(s->failed_events[9], 0, 1);
}

/* core.c: "events are published once per cluster, not once per node".
 * At boot, before any leader exists, every agent that sees a birth while
 * it is the highest node in its partial view announces the join. */
static void test_boot_announces_each_join_at_most_once(void **state)
{
    sim *s = boot(state, 3, IN_ORDER, 15);

    for (uint16_t id = 1; id <= 3; id++)
        assert_in_range(s->joined_events[id], 0, 1);
}

#define T(f) cmocka_unit_test_teardown(f, sim_free)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic_matcher),
        T(test_three_nodes_elect_the_highest),
        T(test_killed_leader_is_replaced),
        T(test_hung_leader_is_fenced_then_bullies_back),
        T(test_late_will_does_not_fail_the_node),
        T(test_late_will_retained_birth_is_reasserted),
        T(test_duplicates_and_shuffles_converge),
        T(test_broker_restart_no_storm),
        T(test_staggered_reconnect_no_storm),
        T(test_killed_follower_keeps_the_leader),
        T(test_leader_shutdown_hands_over),
        T(test_restarted_leader_takes_over_again),
        T(test_operator_command_reaches_the_shell),
        T(test_tasks_replica_follows_the_leader),
        T(test_hostile_payloads_change_nothing),
        T(test_garbage_retained_leader_is_reasserted),
        T(test_stale_retained_will_announced_at_most_once),
        T(test_boot_announces_each_join_at_most_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
