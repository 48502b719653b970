/*
 * test_tasks_it.c - tasks end to end: a real Mosquitto, three real agents,
 * the real CLI (submit, tasks, task, cancel, drain) and raw mosquitto_pub.
 *
 * Spreading, exactly-once completion across a kill -9 of a follower and of
 * the leader, memory admission, device affinity, drain and work stealing,
 * raw and bad submissions, cancel of a one-shot and a periodic task, and
 * the CLI's JSON.  Every record the observer sees on {root}/tasks/+ is
 * decoded; a task whose record changes after its first final record fails
 * the test (exactly once, as the observer sees it).  Conditions are waited
 * for with deadlines; the only sleep is a quiet period before asserting
 * that something did not happen.
 *
 * The it_ helpers come from test_membership_it.c (see its header).
 * TK_ONLY=PATTERN runs only the matching tests.
 */
#define IT_NAME "tasks"
#define IT_HELPERS_ONLY
#include "test_membership_it.c"

#include <time.h>

#define TK_MAX 128          /* tasks one test follows */
#define TK_RUN_MS 90000     /* a CLI or a batch that runs many tasks */

static int64_t tk_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Starts agents 1..3, node id with the options more[id] (NULL: none), and
 * waits until node 3 leads a view with all three online. */
static void tk_cluster(it *t, const char *const *const more[4])
{
    for (int id = 1; id <= 3; id++)
        (void)it_agent(t, id, more != NULL ? more[id] : NULL);
    (void)it_expect_view(t, 0, 3, "1=online 2=online 3=online", IT_WAIT_MS);
    (void)it_expect_leader(t, 0, 3, 1, NULL, IT_WAIT_MS);
}

/* The CLI with t's broker and cluster and args, in the background; its
 * output goes to WORKDIR/<name>.log. */
static dxh_proc *tk_spawn(it *t, const char *name, const char *const args[])
{
    const char *argv[40] = {dxh_cli_bin(), "--broker", dxh_broker_url(t->h),
                            "--cluster", t->cluster};
    size_t n = 5;
    for (size_t i = 0; args[i] != NULL && n < 39; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    dxh_proc *p = dxh_spawn(t->h, name, argv, NULL);
    assert_non_null(p);
    return p;
}

/* Its exit code; fails the test if it runs longer than timeout_ms. */
static int tk_exit(dxh_proc *p, int timeout_ms)
{
    int status = -1;
    if (dxh_proc_wait(p, timeout_ms, &status) != 0)
        fail_msg("the CLI did not finish within %d ms (see %s)", timeout_ms,
                 dxh_proc_log(p));
    return status;
}

/* ---- what the observer saw of the task records ------------------------ */

typedef struct tk_task {
    char id[DX_TASK_ID_MAX + 1];
    dx_task_record last;     /* the latest record */
    dx_task_record fin;      /* the first final record */
    bool final, cleared;
    char conflict[300];      /* a later record that differs from fin */
} tk_task;

typedef struct tk_seen {
    const it *t;
    const char *prefix;      /* ids starting with it */
    size_t n;
    tk_task v[TK_MAX];
} tk_seen;

static bool tk_final(dx_task_state s)
{
    return s == DX_TS_DONE || s == DX_TS_FAILED || s == DX_TS_CANCELLED;
}

static bool tk_pred_record(const dxh_msg *m, void *ctx)
{
    static dx_task_record r;
    tk_seen *s = ctx;
    const char *base = it_topic(s->t, "tasks/");
    const char *id = m->topic + strlen(base);
    tk_task *k = NULL;
    if (strncmp(m->topic, base, strlen(base)) != 0 || strchr(id, '/') ||
        strcmp(id, "submit") == 0 ||
        strncmp(id, s->prefix, strlen(s->prefix)) != 0)
        return false;
    for (size_t i = 0; i < s->n && k == NULL; i++)
        if (strcmp(s->v[i].id, id) == 0)
            k = &s->v[i];
    if (k == NULL && s->n < TK_MAX) {
        k = &s->v[s->n++];
        snprintf(k->id, sizeof k->id, "%s", id);
    }
    if (k == NULL || (k->cleared = m->payload_len == 0) ||
        dx_task_record_decode(m->payload, m->payload_len, &r, NULL) != 0)
        return false;
    if (k->final && k->conflict[0] == '\0' &&
        (r.state != k->fin.state || r.node != k->fin.node ||
         r.attempt != k->fin.attempt || strcmp(r.result, k->fin.result) != 0))
        snprintf(k->conflict, sizeof k->conflict, "%.200s after %s on node "
                 "%u attempt %u", m->payload, dx_task_state_name(k->fin.state),
                 k->fin.node, k->fin.attempt);
    k->last = r;
    if (!k->final && tk_final(r.state)) {
        k->final = true;
        k->fin = r;
    }
    return false;
}

/* Every record recorded so far of the tasks whose id starts with prefix
 * (one static result: valid until the next call). */
static tk_seen *tk_scan(it *t, const char *prefix)
{
    static tk_seen s;
    memset(&s, 0, sizeof s);
    s.t = t;
    s.prefix = prefix;
    it_scan(t, 0, tk_pred_record, &s);
    return &s;
}

static tk_task *tk_get(tk_seen *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i].id, id) == 0)
            return &s->v[i];
    fail_msg("no record of task %s", id);
    return NULL;
}

static bool tk_is_done(const tk_task *k)
{
    return k->final && k->fin.state == DX_TS_DONE;
}

static bool tk_is_final(const tk_task *k)
{
    return k->final;
}

static bool tk_has_record(const tk_task *k)
{
    return k->last.state != 0;
}

static bool tk_is_running(const tk_task *k)
{
    return k->last.state == DX_TS_RUNNING;
}

static bool tk_running_on_1(const tk_task *k)
{
    return k->last.state == DX_TS_RUNNING && k->last.node == 1;
}

typedef struct tk_want {
    it *t;
    const char *prefix;
    size_t n;
    bool (*ok)(const tk_task *);
    tk_seen *s;
} tk_want;

static bool tk_cond(void *ctx)
{
    tk_want *w = ctx;
    size_t k = 0;
    w->s = tk_scan(w->t, w->prefix);
    for (size_t i = 0; i < w->s->n; i++)
        k += w->ok(&w->s->v[i]);
    return k >= w->n;
}

/* Waits until n tasks with the prefix satisfy ok; fails the test with
 * their states otherwise. */
static tk_seen *tk_wait(it *t, const char *prefix, size_t n,
                        bool (*ok)(const tk_task *), int timeout_ms)
{
    tk_want w = {t, prefix, n, ok, NULL};
    if (dxh_wait_until(tk_cond, &w, timeout_ms, 100) == 0)
        return w.s;
    for (size_t i = 0; i < w.s->n; i++)
        fprintf(stderr, "  %s: %s on node %u attempt %u: %s\n",
                w.s->v[i].id, dx_task_state_name(w.s->v[i].last.state) ?
                dx_task_state_name(w.s->v[i].last.state) : "?",
                w.s->v[i].last.node, w.s->v[i].last.attempt,
                w.s->v[i].last.result);
    fail_msg("%zu tasks '%s*' not reached within %d ms (%zu records)", n,
             prefix, timeout_ms, w.s->n);
    return NULL;
}

/* Every task in s is done, and no record changed after its final one. */
static void tk_assert_done_once(const tk_seen *s, size_t n)
{
    assert_int_equal(s->n, n);
    for (size_t i = 0; i < s->n; i++) {
        const tk_task *k = &s->v[i];
        if (!tk_is_done(k))
            fail_msg("task %s ended %s: %s", k->id,
                     dx_task_state_name(k->fin.state), k->fin.result);
        if (k->conflict[0] != '\0')
            fail_msg("task %s completed twice: %s", k->id, k->conflict);
    }
}

/* Prints where the tasks of s ran; per[id] (may be NULL) gets the counts
 * of nodes 1..3. */
static void tk_print_nodes(const tk_seen *s, const char *what,
                           unsigned per[4])
{
    unsigned mine[4] = {0, 0, 0, 0}, moved = 0;
    per = per != NULL ? per : mine;
    memset(per, 0, 4 * sizeof *per);
    for (size_t i = 0; i < s->n; i++) {
        per[s->v[i].fin.node < 4 ? s->v[i].fin.node : 0]++;
        moved += s->v[i].fin.attempt > 1;
    }
    printf("    %s: %zu tasks done: node 1 %u, node 2 %u, node 3 %u; %u "
           "with attempt > 1\n", what, s->n, per[1], per[2], per[3], moved);
}

/* stderr captured by it_cli() without its first line (the command). */
static const char *tk_msg(const char *err)
{
    const char *nl = strchr(err, '\n');
    return nl != NULL ? nl + 1 : err;
}

/* ---- 1. spreading ----------------------------------------------------- */

static void test_hundred_noops_spread(void **state)
{
    it *t = *state;
    tk_cluster(t, NULL);
    int64_t t0 = dxh_now_ns();
    const char *args[] = {"submit", "--count", "100", "--wait", "--id", "n",
                          NULL};
    assert_int_equal(tk_exit(tk_spawn(t, "submit", args), TK_RUN_MS), 0);
    double ms = it_ms_since(t0, dxh_now_ns());
    tk_seen *s = tk_scan(t, "n-");
    tk_assert_done_once(s, 100);
    unsigned per[4];
    tk_print_nodes(s, "100 noop tasks", per);
    printf("    submit --count 100 --wait: %.0f ms\n", ms);
    /* Three equal nodes: none runs more than half, none is left out. */
    for (int id = 1; id <= 3; id++)
        if (per[id] > 50 || per[id] < 10)
            fail_msg("node %d ran %u of 100 tasks", id, per[id]);
    dxh_pass(t->h);
}

/* ---- 2. kill -9 of a follower while its tasks run ------------------- */

static void test_follower_killed(void **state)
{
    it *t = *state;
    tk_cluster(t, NULL);
    assert_int_equal(it_cli(t, NULL, NULL, "submit", "--kind", "sleep",
                            "ms=1000", "--count", "20", "--id", "k", NULL), 0);
    /* Kill node 1 once it runs one; the tasks it holds are the victims. */
    tk_seen *s = tk_wait(t, "k-", 1, tk_running_on_1, IT_WAIT_MS);
    char held[20][DX_TASK_ID_MAX + 1];
    size_t n_held = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].last.node == 1 && !s->v[i].final && n_held < 20)
            snprintf(held[n_held++], sizeof held[0], "%s", s->v[i].id);
    uint64_t mark = dxh_obs_mark(t->obs);
    int64_t killed = tk_wall_ms();
    it_signal(t, 1, SIGKILL);

    s = tk_wait(t, "k-", 20, tk_is_final, TK_RUN_MS);
    tk_assert_done_once(s, 20);
    unsigned again = 0;
    for (size_t i = 0; i < n_held; i++) {
        const tk_task *k = tk_get(s, held[i]);
        /* Only a task that finished before the kill may stay on node 1. */
        if (k->fin.node == 1 && k->fin.finished_ms <= killed)
            continue;
        if (k->fin.node == 1 || k->fin.attempt < 2)
            fail_msg("task %s of the killed node 1 ended on node %u attempt "
                     "%u", k->id, k->fin.node, k->fin.attempt);
        again++;
    }
    tk_print_nodes(s, "kill -9 of node 1", NULL);
    printf("    node 1 held %zu unfinished tasks; %u ran again elsewhere; "
           "%zu recovery events\n", n_held, again,
           it_count_events(t, mark, "[Recovery]"));
    assert_true(again > 0);
    dxh_pass(t->h);
}

/* ---- 3. kill -9 of the leader while a submit --wait runs ----------- */

static void test_leader_killed_mid_stream(void **state)
{
    it *t = *state;
    tk_cluster(t, NULL);
    const char *args[] = {"submit", "--kind", "sleep", "ms=300", "--count",
                          "50", "--wait", "--id", "L", NULL};
    int64_t t0 = dxh_now_ns();
    dxh_proc *cli = tk_spawn(t, "submit", args);
    (void)tk_wait(t, "L-", 1, tk_is_running, IT_WAIT_MS);
    uint64_t mark = dxh_obs_mark(t->obs);
    size_t before = tk_scan(t, "L-")->n;
    it_signal(t, 3, SIGKILL);
    uint64_t term = 0;
    (void)it_expect_leader(t, mark, 2, 2, &term, IT_WAIT_MS);
    int code = tk_exit(cli, TK_RUN_MS);
    char *out = it_slurp(dxh_proc_log(cli), 0);
    if (code != 0)
        fail_msg("submit --wait exited %d across the leader's death:\n%s",
                 code, out);
    free(out);
    tk_seen *s = tk_wait(t, "L-", 50, tk_is_final, IT_WAIT_MS);
    tk_assert_done_once(s, 50);
    tk_print_nodes(s, "kill -9 of leader 3", NULL);
    printf("    %zu of 50 records existed at the kill; node 2 leads in term "
           "%" PRIu64 "; the CLI finished %.0f ms after its start\n", before,
           term, it_ms_since(t0, dxh_now_ns()));
    dxh_pass(t->h);
}

/* ---- 4. memory admission ------------------------------------------- */

static const char *const tk_small_pool[] = {"--mem-pool-kb", "4096", NULL};

/* Two tasks of 3000 KiB pinned to `node` (pool 4096 KiB): the one that
 * started later started after the other finished, and both are done. */
static void tk_two_big_tasks(it *t, const char *node, const char *id)
{
    const char *const *const more[4] = {NULL, tk_small_pool, tk_small_pool,
                                        tk_small_pool};
    char pin[16], prefix[16];
    tk_cluster(t, more);
    snprintf(pin, sizeof pin, "node=%s", node);
    snprintf(prefix, sizeof prefix, "%s-", id);
    assert_int_equal(it_cli(t, NULL, NULL, "submit", "--kind", "compute",
                            "ms=1500", "mem_kb=3000", pin, "--count", "2",
                            "--id", id, NULL), 0);
    tk_seen *s = tk_wait(t, prefix, 2, tk_is_final, 20000);
    tk_assert_done_once(s, 2);
    const dx_task_record *a = &s->v[0].fin, *b = &s->v[1].fin;
    if (a->started_ms > b->started_ms) {
        const dx_task_record *x = a;
        a = b;
        b = x;
    }
    printf("    pinned to node %s: first %" PRId64 "..%" PRId64 ", second "
           "started %" PRId64 " ms after the first finished\n", node,
           a->started_ms, a->finished_ms, b->started_ms - a->finished_ms);
    assert_true(a->node == atoi(node) && b->node == atoi(node));
    assert_true(b->started_ms >= a->finished_ms);
}

static void test_memory_admission(void **state)
{
    it *t = *state;
    tk_two_big_tasks(t, "1", "m");
    dxh_pass(t->h);
}

/* The same on the leader's own node. */
static void test_memory_on_leader(void **state)
{
    it *t = *state;
    tk_two_big_tasks(t, "3", "p");
    dxh_pass(t->h);
}

/* ---- 5. devices ----------------------------------------------------- */

static void test_device_affinity(void **state)
{
    it *t = *state;
    static const char *const act[] = {"--actuator", "valve1", NULL};
    static const char *const sens[] = {"--sensor", "temp1 sim seed=3", NULL};
    const char *const *const more[4] = {NULL, act, sens, NULL};
    tk_cluster(t, more);
    char *out = NULL, *err = NULL;

    assert_int_equal(it_cli(t, &out, NULL, "submit", "--kind", "sensor.read",
                            "device=temp1", "--wait", NULL), 0);
    printf("    %s", out);
    assert_non_null(strstr(out, "on Node 2"));
    free(out);
    dxh_match reading = {it_topic(t, "io/2/sensors/temp1"), "\"value\"", -1};
    const dxh_msg *m = dxh_obs_wait_for(t->obs, dxh_pred_match, &reading,
                                        IT_WAIT_MS);
    assert_non_null(m);
    dx_msg_reading rd;
    assert_int_equal(dx_msg_reading_decode(m->payload, m->payload_len, &rd,
                                           NULL), 0);

    assert_int_equal(it_cli(t, &out, NULL, "submit", "--kind", "actuator.set",
                            "device=valve1", "value=1", "--wait", NULL), 0);
    printf("    %s", out);
    assert_non_null(strstr(out, "on Node 1"));
    free(out);
    dxh_obs *o = dxh_obs_new(t->h, NULL);
    assert_non_null(o);
    assert_int_equal(dxh_obs_subscribe(o, it_topic(t, "io/1/actuators/valve1/"
                                                      "state")), 0);
    dxh_match st = {NULL, "\"value\"", 1};
    m = dxh_obs_wait_for(o, dxh_pred_match, &st, IT_WAIT_MS);
    assert_non_null(m);
    dx_msg_actuator a;
    assert_int_equal(dx_msg_actuator_decode(m->payload, m->payload_len, &a,
                                            NULL), 0);
    assert_true(a.value == 1.0);

    assert_int_equal(it_cli(t, NULL, &err, "submit", "--kind", "sensor.read",
                            "device=nosuch", NULL), 1);
    printf("    unknown device: %s", tk_msg(err));
    assert_non_null(strstr(err, "device 'nosuch'"));
    free(err);
    printf("    reading %g (seq %" PRIu64 ") on io/2/sensors/temp1; valve1 "
           "state %g retained\n", rd.value, rd.seq, a.value);
    dxh_pass(t->h);
}

/* ---- 6. drain and work stealing ------------------------------------- */

/* With one worker per node, compute tasks queue (sleep and noop tasks are
 * timers of the node's loop and take no worker, so they never queue). */

static const char *const tk_one_worker[] = {"--workers", "1", NULL};

static bool tk_queued_on_1(const tk_task *k)
{
    return k->last.node == 1 && k->last.state == DX_TS_ASSIGNED;
}

static void test_drain_moves_queued(void **state)
{
    it *t = *state;
    const char *const *const more[4] = {NULL, tk_one_worker, tk_one_worker,
                                        tk_one_worker};
    tk_cluster(t, more);
    assert_int_equal(it_cli(t, NULL, NULL, "submit", "--kind", "compute",
                            "ms=1000", "--count", "9", "--id", "d", NULL), 0);
    tk_seen *s = tk_wait(t, "d-", 1, tk_queued_on_1, IT_WAIT_MS);
    char queued[9][DX_TASK_ID_MAX + 1];
    size_t nq = 0;
    for (size_t i = 0; i < s->n; i++)
        if (tk_queued_on_1(&s->v[i]) && nq < 9)
            snprintf(queued[nq++], sizeof queued[0], "%s", s->v[i].id);
    uint64_t mark = dxh_obs_mark(t->obs);
    assert_int_equal(it_cli(t, NULL, NULL, "drain", "1", NULL), 0);
    int64_t drained = tk_wall_ms();   /* node 1 has answered: draining */

    s = tk_wait(t, "d-", 9, tk_is_final, TK_RUN_MS);
    tk_assert_done_once(s, 9);
    unsigned moved = 0;
    for (size_t i = 0; i < nq; i++) {
        const tk_task *k = tk_get(s, queued[i]);
        if (k->fin.node != 1 && k->fin.attempt >= 2)
            moved++;
        else if (k->fin.started_ms > drained + 1000)
            fail_msg("task %s, queued on node 1 when it was drained, started "
                     "there %" PRId64 " ms later", k->id,
                     k->fin.started_ms - drained);
    }
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].fin.node == 1 && s->v[i].fin.started_ms > drained + 1000)
            fail_msg("task %s started on draining node 1", s->v[i].id);
    tk_print_nodes(s, "drain 1", NULL);
    printf("    %zu queued on node 1 at the drain, %u moved; %zu work "
           "stealing events\n", nq, moved,
           it_count_events(t, mark, "[Work Stealing]"));
    assert_true(moved > 0);
    assert_int_equal(it_cli(t, NULL, NULL, "undrain", "1", NULL), 0);
    dxh_pass(t->h);
}

/* A task pinned to a draining node waits (the node is not eligible) and
 * runs once the node is undrained; on a follower and on the leader. */
static void tk_pinned_waits_for_undrain(it *t, const char *node)
{
    char pin[16], id[16];
    snprintf(pin, sizeof pin, "node=%s", node);
    snprintf(id, sizeof id, "pin%s", node);
    assert_int_equal(it_cli(t, NULL, NULL, "drain", node, NULL), 0);
    dxh_sleep_ms(IT_SETTLE_MS); /* the leader sees it in a heartbeat */
    assert_int_equal(it_cli(t, NULL, NULL, "submit", pin, "--id", id, NULL),
                     0);
    dxh_sleep_ms(IT_SETTLE_MS); /* room for a placement that must not come */
    tk_seen *s = tk_wait(t, id, 1, tk_has_record, IT_WAIT_MS);
    printf("    pinned to draining node %s: %s on node %u\n", node,
           dx_task_state_name(s->v[0].last.state), s->v[0].last.node);
    if (s->v[0].last.state != DX_TS_QUEUED)
        fail_msg("task %s pinned to draining node %s is %s on node %u", id,
                 node, dx_task_state_name(s->v[0].last.state),
                 s->v[0].last.node);
    assert_int_equal(it_cli(t, NULL, NULL, "undrain", node, NULL), 0);
    (void)tk_wait(t, id, 1, tk_is_done, IT_WAIT_MS);
}

static void test_drain_pinned(void **state)
{
    it *t = *state;
    tk_cluster(t, NULL);
    tk_pinned_waits_for_undrain(t, "1");
    tk_pinned_waits_for_undrain(t, "3");
    dxh_pass(t->h);
}

/* A node that joins a busy cluster takes queued tasks from the busiest
 * node (backlog difference above 4). */
static void test_work_stealing(void **state)
{
    it *t = *state;
    (void)it_agent(t, 2, tk_one_worker);
    (void)it_agent(t, 3, tk_one_worker);
    (void)it_expect_view(t, 0, 3, "2=online 3=online", IT_WAIT_MS);
    assert_int_equal(it_cli(t, NULL, NULL, "submit", "--kind", "compute",
                            "ms=800", "--count", "20", "--id", "s", NULL), 0);
    (void)tk_wait(t, "s-", 20, tk_has_record, IT_WAIT_MS);
    uint64_t mark = dxh_obs_mark(t->obs);
    (void)it_agent(t, 1, tk_one_worker);
    (void)it_expect_event(t, mark, "[Work Stealing]", IT_WAIT_MS);
    tk_seen *s = tk_wait(t, "s-", 20, tk_is_final, TK_RUN_MS);
    tk_assert_done_once(s, 20);
    unsigned stolen = 0;
    for (size_t i = 0; i < s->n; i++)
        stolen += s->v[i].fin.node == 1 && s->v[i].fin.attempt == 2;
    tk_print_nodes(s, "node 1 joins late", NULL);
    printf("    %u tasks stolen by node 1; %zu work stealing events\n",
           stolen, it_count_events(t, mark, "[Work Stealing]"));
    assert_true(stolen > 0);
    dxh_pass(t->h);
}

/* ---- 7, 8. raw and bad submissions ---------------------------------- */

static void test_raw_submit(void **state)
{
    it *t = *state;
    tk_cluster(t, NULL);
    char port[16];
    int code = -1;
    snprintf(port, sizeof port, "%d", dxh_broker_port(t->h));
    assert_int_equal(dxh_runl(t->h, IT_CLI_MS, NULL, &code, "mosquitto_pub",
                              "-p", port, "-q", "1", "-t",
                              it_topic(t, "tasks/submit"), "-m",
                              "{\"v\":1,\"id\":\"raw-1\",\"kind\":\"noop\"}",
                              NULL), 0);
    assert_int_equal(code, 0);
    tk_seen *s = tk_wait(t, "raw-1", 1, tk_is_final, IT_WAIT_MS);
    tk_assert_done_once(s, 1);
    printf("    raw-1 done on node %u: %s\n", s->v[0].fin.node,
           s->v[0].fin.result);
    dxh_pass(t->h);
}

static void test_bad_submissions(void **state)
{
    it *t = *state;
    tk_cluster(t, NULL);
    assert_int_equal(dxh_obs_publish_str(t->obs, it_topic(t, "tasks/submit"),
                     "{\"v\":1,\"kind\":\"bogus\",\"reply_to\":"
                     "\"distribux/test/reply/t8\",\"corr\":\"x\"}", 1, false),
                     0);
    dxh_match want = {it_topic(t, "reply/t8"), NULL, -1};
    const dxh_msg *m = dxh_obs_wait_for(t->obs, dxh_pred_match, &want,
                                        IT_WAIT_MS);
    assert_non_null(m);
    dx_msg_reply r;
    assert_int_equal(dx_msg_reply_decode(m->payload, m->payload_len, &r,
                                         NULL), 0);
    printf("    bogus kind: %s\n", m->payload);
    assert_false(r.ok);
    assert_string_equal(r.corr, "x");
    assert_non_null(strstr(r.error, "kind"));

    char *err = NULL;
    assert_int_equal(it_cli(t, NULL, &err, "submit", "--kind", "compute",
                            "mem_kb=1000000", "--id", "huge", NULL), 1);
    printf("    mem_kb=1000000: %s", tk_msg(err));
    assert_non_null(strstr(err, "pool"));
    free(err);
    dxh_sleep_ms(IT_SETTLE_MS); /* room for a record that must not come */
    assert_int_equal(tk_scan(t, "")->n, 0);
    dxh_pass(t->h);
}

/* ---- 9. cancel ------------------------------------------------------ */

static uint64_t tk_min_runs;

static bool tk_ran_enough(const tk_task *k)
{
    return k->last.state == DX_TS_RUNNING && k->last.runs >= tk_min_runs;
}

static void test_cancel(void **state)
{
    it *t = *state;
    tk_cluster(t, NULL);
    assert_int_equal(it_cli(t, NULL, NULL, "submit", "--kind", "sleep",
                            "ms=5000", "--id", "long", NULL), 0);
    (void)tk_wait(t, "long", 1, tk_is_running, IT_WAIT_MS);
    int64_t t0 = dxh_now_ns();
    assert_int_equal(it_cli(t, NULL, NULL, "cancel", "long", NULL), 0);
    tk_seen *s = tk_wait(t, "long", 1, tk_is_final, IT_WAIT_MS);
    double ms = it_ms_since(t0, dxh_now_ns());
    assert_int_equal(s->v[0].fin.state, DX_TS_CANCELLED);
    printf("    sleep 5000 cancelled %.0f ms after the cancel (ran %" PRId64
           " ms): %s\n", ms, s->v[0].fin.finished_ms - s->v[0].fin.started_ms,
           s->v[0].fin.result);
    assert_true(ms < 4000);

    assert_int_equal(it_cli(t, NULL, NULL, "submit", "--every", "200", "--id",
                            "per", NULL), 0);
    tk_min_runs = 1;
    uint64_t runs = tk_wait(t, "per", 1, tk_ran_enough, IT_WAIT_MS)->v[0].last.runs;
    tk_min_runs = runs + 2;
    s = tk_wait(t, "per", 1, tk_ran_enough, IT_WAIT_MS);
    printf("    periodic task: runs %" PRIu64 " -> %" PRIu64 "\n", runs,
           s->v[0].last.runs);
    assert_int_equal(it_cli(t, NULL, NULL, "cancel", "per", NULL), 0);
    s = tk_wait(t, "per", 1, tk_is_final, IT_WAIT_MS);
    assert_int_equal(s->v[0].fin.state, DX_TS_CANCELLED);
    char *err = NULL;
    assert_int_equal(it_cli(t, NULL, &err, "cancel", "nosuch", NULL), 1);
    assert_non_null(strstr(err, "no such task"));
    free(err);
    dxh_pass(t->h);
}

/* ---- 10. JSON ------------------------------------------------------- */

static cJSON *tk_json(const char *out)
{
    cJSON *j = cJSON_Parse(out);
    if (j == NULL)
        fail_msg("not JSON: %s", out);
    return j;
}

static void tk_assert_record_json(const cJSON *r, const char *id)
{
    assert_string_equal(it_json_str(r, "id"), id);
    assert_string_equal(it_json_str(r, "state"), "done");
    const cJSON *node = cJSON_GetObjectItemCaseSensitive(r, "node");
    const cJSON *attempt = cJSON_GetObjectItemCaseSensitive(r, "attempt");
    assert_true(cJSON_IsNumber(node) && node->valueint >= 1 &&
                node->valueint <= 3);
    assert_true(cJSON_IsNumber(attempt) && attempt->valueint == 1);
}

static void test_json(void **state)
{
    it *t = *state;
    tk_cluster(t, NULL);
    char *out = NULL, *err = NULL;
    assert_int_equal(it_cli(t, &out, NULL, "--json", "submit", "--count", "3",
                            "--id", "j", "--wait", NULL), 0);
    cJSON *j = tk_json(out);
    assert_int_equal(cJSON_GetArraySize(j), 3);
    tk_assert_record_json(cJSON_GetArrayItem(j, 2), "j-3");
    cJSON_Delete(j);
    free(out);

    assert_int_equal(it_cli(t, &out, NULL, "--json", "tasks", NULL), 0);
    j = tk_json(out);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "tasks");
    assert_int_equal(cJSON_GetArraySize(list), 3);
    for (int i = 0; i < 3; i++) {
        char id[8];
        snprintf(id, sizeof id, "j-%d", i + 1);
        tk_assert_record_json(cJSON_GetArrayItem(list, i), id);
        assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetArrayItem(list, i), "spec")));
    }
    cJSON_Delete(j);
    free(out);

    assert_int_equal(it_cli(t, &out, NULL, "--json", "task", "j-2", NULL), 0);
    printf("    task j-2: %s", out);
    j = tk_json(out);
    tk_assert_record_json(j, "j-2");
    cJSON_Delete(j);
    free(out);

    assert_int_equal(it_cli(t, &out, NULL, "tasks", NULL), 0);
    printf("%s", out);
    assert_non_null(strstr(out, "ID"));
    assert_non_null(strstr(out, "j-3"));
    free(out);
    assert_int_equal(it_cli(t, NULL, &err, "task", "nosuch", NULL), 1);
    assert_non_null(strstr(err, "no task nosuch"));
    free(err);
    assert_int_equal(it_cli(t, NULL, &err, "submit", "frob=1", NULL), 2);
    assert_non_null(strstr(err, "unexpected 'frob=1'"));
    free(err);
    dxh_pass(t->h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hundred_noops_spread, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_follower_killed, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_leader_killed_mid_stream,
                                        it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(test_memory_admission, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_memory_on_leader, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_device_affinity, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_drain_moves_queued, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_drain_pinned, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_work_stealing, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_raw_submit, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_bad_submissions, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_cancel, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(test_json, it_setup, it_teardown),
    };
    if (getenv("TK_ONLY") != NULL)
        cmocka_set_test_filter(getenv("TK_ONLY"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
