/*
 * test_election_it.c - Bully leader election with terms, end to end: a real
 * Mosquitto and real agents.  A killed leader is replaced by the next id
 * with a higher term; a stopped leader that wakes up is fenced by the newer
 * term and takes over again with a higher one; a broker crash does not start
 * an election storm; the CLI's fail/hang/recover drive the same paths.
 * Over everything observed, no term ever has two leaders.
 *
 * The helpers (it_*) live in test_membership_it.c; see its header.
 */
#define IT_NAME "election"
#define IT_HELPERS_ONLY
#include "test_membership_it.c"

#ifndef STARTUP_ROUNDS
#define STARTUP_ROUNDS 10
#endif

/* Three agents started at the same instant: no term may have two leaders.
 * A start-up race does not show every time, so this runs several rounds,
 * each in a cluster root of its own on the same broker. */
static void test_startup_one_leader_per_term(void **state)
{
    it *t = *state;
    static char names[STARTUP_ROUNDS][16];
    for (int r = 0; r < STARTUP_ROUNDS; r++) {
        snprintf(names[r], sizeof names[r], "start%d", r);
        t->cluster = names[r];
        snprintf(t->root, sizeof t->root, "distribux/%.15s", names[r]);
        assert_int_equal(dxh_obs_subscribe(t->obs, it_topic(t, "#")), 0);
        uint64_t term = it_cluster(t, 3);
        printf("    round %d: node 3 leads in term %" PRIu64 "\n", r, term);
        it_assert_terms(t, 0, NULL);
        /* One SIGTERM each: a second one is test_repeated_sigterm's case
         * (test_membership_it.c), not this test's. */
        for (int id = 1; id <= 3; id++)
            (void)dxh_proc_signal(dxh_agent(t->h, id), SIGTERM);
        for (int id = 1; id <= 3; id++)
            assert_int_equal(dxh_proc_wait(dxh_agent(t->h, id), 5000, NULL), 0);
    }
    dxh_pass(t->h);
}

typedef struct retained_leader {
    it *t;
    int leader;
    uint64_t term;
    char seen[256];
} retained_leader;

/* Whether a new subscriber to {root}/leader gets the wanted leader and
 * term as a retained message. */
static bool cond_retained_leader(void *ctx)
{
    retained_leader *r = ctx;
    dxh_obs *o = dxh_obs_new(r->t->h, NULL);
    if (o == NULL || dxh_obs_subscribe(o, it_topic(r->t, "leader")) != 0) {
        dxh_obs_destroy(o);
        return false;
    }
    dxh_match any = {NULL, NULL, 1};
    const dxh_msg *m = dxh_obs_wait_for(o, dxh_pred_match, &any, 500);
    dx_msg_leader l;
    bool ok = m != NULL && m->payload_len > 0 &&
              dx_msg_leader_decode(m->payload, m->payload_len, &l, NULL) == 0 &&
              l.leader == r->leader && l.term == r->term;
    snprintf(r->seen, sizeof r->seen, "%s", m != NULL ? m->payload : "nothing");
    dxh_obs_destroy(o);
    return ok;
}

/* Eventually a new subscriber gets `leader` and `term`, retained (the
 * leader re-asserts it if the broker lost it). */
static void expect_retained_leader(it *t, int leader, uint64_t term)
{
    retained_leader r = {t, leader, term, ""};
    if (dxh_wait_until(cond_retained_leader, &r, IT_WAIT_MS, 100) != 0)
        fail_msg("no retained leader %d (term %" PRIu64 ") within %d ms; a "
                 "new subscriber got %s", leader, term, IT_WAIT_MS, r.seen);
}

/* kill -9 of the leader: node 2 leads with a higher term, node 1 follows. */
static void test_leader_killed(void **state)
{
    it *t = *state;
    uint64_t t1 = it_cluster(t, 3), t2 = 0;
    uint64_t mark = dxh_obs_mark(t->obs);
    int64_t t0 = dxh_now_ns();
    it_signal(t, 3, SIGKILL);
    const dxh_msg *m = it_expect_leader(t, mark, 2, t1 + 1, &t2, IT_WAIT_MS);
    printf("    failover: node 2 leads (term %" PRIu64 " -> %" PRIu64
           ") %.0f ms after kill -9 of node 3\n", t1, t2,
           it_ms_since(t0, m->t_ns));
    expect_retained_leader(t, 2, t2);
    assert_int_equal(it_expect_follow(t, mark, "12", 2, t2, IT_WAIT_MS), t2);
    (void)it_expect_view(t, mark, 2, "1=online 2=online 3=failed:will",
                         IT_WAIT_MS);
    it_assert_terms(t, mark, NULL);
    dxh_pass(t->h);
}

/* Messages node 3 sends as leader with a term <= max_term. */
typedef struct stale_leader {
    const it *t;
    uint64_t max_term;
    const dxh_msg *found;
} stale_leader;

static bool pred_stale_leader(const dxh_msg *m, void *ctx)
{
    stale_leader *s = ctx;
    dx_msg_election el;
    dx_msg_leader l;
    const dx_msg_members *v;
    bool stale =
        (strcmp(m->topic, it_topic(s->t, "election")) == 0 &&
         dx_msg_election_decode(m->payload, m->payload_len, &el, NULL) == 0 &&
         el.type == DX_ELECT_COORDINATOR && el.from == 3 &&
         el.term <= s->max_term) ||
        (!m->retained && m->payload_len > 0 &&
         strcmp(m->topic, it_topic(s->t, "leader")) == 0 &&
         dx_msg_leader_decode(m->payload, m->payload_len, &l, NULL) == 0 &&
         l.leader == 3 && l.term <= s->max_term) ||
        ((v = it_members(s->t, m)) != NULL && v->leader == 3 &&
         v->term <= s->max_term);
    if (stale && s->found == NULL)
        s->found = m;
    return stale;
}

/* The stopped leader wakes up: it is fenced by node 2's newer term and
 * (Bully) takes over again with a higher one. */
static void test_stopped_leader_wakes(void **state)
{
    it *t = *state;
    uint64_t t1 = it_cluster(t, 3), t2 = 0, t3 = 0;
    uint64_t start = dxh_obs_mark(t->obs), mark = start;
    it_signal(t, 3, SIGSTOP);
    const dxh_msg *m2 = it_expect_leader(t, mark, 2, t1 + 1, &t2, IT_WAIT_MS);
    (void)it_expect_follow(t, mark, "12", 2, t2, IT_WAIT_MS);
    uint64_t since_t2 = m2->seq;

    mark = dxh_obs_mark(t->obs);
    int64_t t0 = dxh_now_ns();
    it_signal(t, 3, SIGCONT);
    const dxh_msg *m3 = it_expect_leader(t, mark, 3, t2 + 1, &t3, IT_WAIT_MS);
    uint64_t tf = it_expect_follow(t, mark, "123", 3, t3, IT_WAIT_MS);
    (void)it_expect_view(t, mark, 3, "1=online 2=online 3=online", IT_WAIT_MS);
    printf("    terms %" PRIu64 " (3) -> %" PRIu64 " (2) -> %" PRIu64
           " (3), node 3 leads again %.0f ms after SIGCONT; all follow term %"
           PRIu64 "; step-down event: %s\n", t1, t2, t3,
           it_ms_since(t0, m3->t_ns), tf,
           it_count_events(t, mark, "Node 3 steps down") > 0 ? "yes" : "no");

    stale_leader s = {t, t2, NULL};
    it_scan(t, since_t2, pred_stale_leader, &s);
    if (s.found != NULL)
        fail_msg("node 3 acted as leader with an old term after term %" PRIu64
                 " existed: %s %s", t2, s.found->topic, s.found->payload);
    it_assert_terms(t, start, NULL);
    dxh_pass(t->h);
}

/* Terms above `above` seen in coordinators, leader messages, views and
 * heartbeats. */
static size_t new_terms(const it_terms *tl, uint64_t above)
{
    size_t n = 0;
    for (size_t i = 0; i < tl->n; i++)
        n += tl->c[i].term > above;
    return n;
}

/* A broker crash and restart: every agent is back with a new epoch, node 3
 * still leads, and at most two new terms were created. */
static void test_broker_restart(void **state)
{
    it *t = *state;
    uint64_t t1 = it_cluster(t, 3);
    uint64_t e[4] = {0, it_epoch(t, 1), it_epoch(t, 2), it_epoch(t, 3)};
    uint64_t mark = dxh_obs_mark(t->obs);
    int64_t t0 = dxh_now_ns();
    assert_int_equal(dxh_broker_kill(t->h), 0);
    assert_int_equal(dxh_broker_restart(t->h), 0);
    char spec[96];
    snprintf(spec, sizeof spec, "1=online>%" PRIu64 " 2=online>%" PRIu64
             " 3=online>%" PRIu64, e[1], e[2], e[3]);
    for (int id = 1; id <= 3; id++)
        (void)it_expect_birth(t, mark, id, e[id], IT_WAIT_MS);
    const dxh_msg *v = it_expect_view(t, mark, 3, spec, IT_WAIT_MS);
    uint64_t tf = it_expect_follow(t, mark, "123", 3, t1, IT_WAIT_MS);
    expect_retained_leader(t, 3, tf);
    it_terms tl;
    it_assert_terms(t, mark, &tl);
    printf("    broker restart: view back %.0f ms after the kill; term %"
           PRIu64 " -> %" PRIu64 ", %zu new term(s)\n",
           it_ms_since(t0, v->t_ns), t1, tf, new_terms(&tl, t1));
    assert_true(tf - t1 <= 2);
    assert_true(new_terms(&tl, t1) <= 2);
    dxh_pass(t->h);
}

/* distribux fail N --for S, hang N --for S, and fail of an unknown node. */
static void test_cli_fail_hang(void **state)
{
    it *t = *state;
    uint64_t t1 = it_cluster(t, 3), t2 = 0, t3 = 0;
    uint64_t e3 = it_epoch(t, 3);

    /* fail 3 --for 2: failed by its will, node 2 leads; then it is back
     * with a new epoch and leads again with a higher term. */
    uint64_t start = dxh_obs_mark(t->obs), mark = start;
    int64_t t0 = dxh_now_ns();
    assert_int_equal(it_cli(t, NULL, NULL, "fail", "3", "--for", "2", NULL), 0);
    (void)it_expect_view(t, mark, 2, "1=online 2=online 3=failed:will",
                         IT_WAIT_MS);
    (void)it_expect_leader(t, mark, 2, t1 + 1, &t2, IT_WAIT_MS);
    char spec[64];
    snprintf(spec, sizeof spec, "1=online 2=online 3=online>%" PRIu64, e3);
    (void)it_expect_view(t, mark, 3, spec, IT_WAIT_MS);
    const dxh_msg *m = it_expect_leader(t, mark, 3, t2 + 1, &t3, IT_WAIT_MS);
    printf("    fail 3 --for 2: terms %" PRIu64 " -> %" PRIu64 " -> %" PRIu64
           ", node 3 leads again after %.0f ms\n", t1, t2, t3,
           it_ms_since(t0, m->t_ns));

    /* hang 2 --for 2: failed by the heartbeat timeout, then back. */
    mark = dxh_obs_mark(t->obs);
    assert_int_equal(it_cli(t, NULL, NULL, "hang", "2", "--for", "2", NULL), 0);
    (void)it_expect_view(t, mark, 3, "1=online 2=failed:timeout 3=online",
                         IT_WAIT_MS);
    (void)it_expect_view(t, mark, 3, "1=online 2=online 3=online", IT_WAIT_MS);

    char *err = NULL;
    assert_int_equal(it_cli(t, NULL, &err, "fail", "9", NULL), 1);
    assert_non_null(strstr(err, "unknown node"));
    free(err);
    it_assert_terms(t, start, NULL);
    dxh_pass(t->h);
}

/* Fails node 1 until recover; returns once the view shows it. */
static void fail_node1(it *t)
{
    uint64_t mark = dxh_obs_mark(t->obs);
    assert_int_equal(it_cli(t, NULL, NULL, "fail", "1", NULL), 0);
    (void)it_expect_view(t, mark, 3, "1=failed:will 2=online 3=online",
                         IT_WAIT_MS);
}

/* Recovers node 1 and waits until it is back with a new epoch. */
static void recover_node1(it *t)
{
    uint64_t e1 = it_epoch(t, 1), mark = dxh_obs_mark(t->obs);
    char *err = NULL, spec[160];
    int code = it_cli(t, NULL, &err, "recover", "1", NULL);
    snprintf(spec, sizeof spec, "%s", err);
    free(err);
    if (code != 0)
        fail_msg("recover 1 exited %d: %s", code, spec);
    snprintf(spec, sizeof spec, "1=online>%" PRIu64 " 2=online 3=online", e1);
    (void)it_expect_view(t, mark, 3, spec, IT_WAIT_MS);
}

/* distribux fail N (no --for) lasts until distribux recover N. */
static void test_cli_recover(void **state)
{
    it *t = *state;
    (void)it_cluster(t, 3);
    uint64_t start = dxh_obs_mark(t->obs);
    /* Once the failed node's maintenance connection is up (the broker logs
     * it), recover works. */
    char broker_log[512];
    assert_int_equal(dxh_path(t->h, broker_log, sizeof broker_log,
                              "broker.log"), 0);
    long from = it_file_size(broker_log);
    fail_node1(t);
    it_expect_in_file(broker_log, from, "as dx-maint-test-1-", IT_WAIT_MS);
    recover_node1(t);
    /* An operator who recovers at once, as soon as the failure shows. */
    fail_node1(t);
    recover_node1(t);
    it_assert_terms(t, start, NULL);
    dxh_pass(t->h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_startup_one_leader_per_term,
                                        it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(test_leader_killed, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_stopped_leader_wakes, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_broker_restart, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_cli_fail_hang, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_cli_recover, it_setup,
                                        it_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
