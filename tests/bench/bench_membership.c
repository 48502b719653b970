/*
 * bench_membership.c - failure detection, failover and idle cost of the
 * agents, beside the broker's own will latency measured in the same run.
 *
 * Real Mosquitto, real agent processes, through the integration harness
 * (tests/integration/harness.h).  Two clusters of 3 agents are started in
 * turn, each in a harness of its own (broker on a free port, cluster
 * "test"):
 *
 *   default  --heartbeat-ms 250 --timeout-ms 1000
 *     raw      mosquitto_sub with a will, SIGKILL; kill -> will at an
 *              observer (the floor)
 *     crash    SIGKILL follower 1 or 2 (alternating); kill -> every
 *              surviving agent has logged "Node N marked as failed" (the
 *              ISO UTC ms timestamp of its log line vs CLOCK_REALTIME at
 *              the kill; max over agents), and kill -> the leader's
 *              retained members view shows it failed at an observer;
 *              restart it (same id and data dir), wait until settled
 *     failover SIGKILL the leader (3); kill -> a retained leader message
 *              of another node with a newer term at the observer; restart
 *              it, wait until it leads again and all 3 are online
 *     idle     the leader of the settled cluster for idle_s seconds: CPU
 *              from /proc/PID/stat utime+stime, memory from
 *              /proc/PID/status and /proc/PID/smaps_rollup at the end
 *   fast     --heartbeat-ms 100 --timeout-ms 400
 *     hang     SIGSTOP follower 1 or 2; stop -> members view shows it
 *              failed with why "timeout"; SIGCONT, wait until settled
 *
 * "Settled": the last retained leader and members messages say leader 3,
 * nodes 1..3 online, and stay so for two timeouts.  Percentiles are
 * nearest-rank (with 20 trials p99 is the maximum).  Log timestamps are
 * truncated to the millisecond, so 0.5 ms is added to log-based delays.
 *
 * Output: one JSON object per figure on stdout,
 *   {"name":"...","value":N,"unit":"ms","target":"...","verdict":"meets"}
 * (verdict "meets", "misses" or ""), progress on stderr.  Exit 0 when every
 * figure was measured, 1 when a measurement failed (the harness keeps its
 * directory and prints the logs), 2 for bad arguments.  tests/bench/run
 * turns the lines into a table and one flat JSON object.
 *
 *   bench_membership --agent PATH [--trials N] [--idle-s S]
 *
 * Take figures from a build without sanitizers:
 *   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && cmake --build build-rel
 */
#include "bench.h"
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dx_msg.h"
#include "dx_topic.h"
#include "harness.h"

#define N_AGENTS 3
#define LEADER N_AGENTS
#define MAX_TRIALS 1000
#define WAIT_MS 15000     /* any single wait */
#define WILL_TOPIC "bench/will"

typedef struct bench {
    const char *agent;
    int trials;
    int idle_s;
    int hb_ms, to_ms;     /* of the cluster running now */
    dxh *h;
    dxh_obs *obs;
    char t_members[DX_TOPIC_MAX + 1];
    char t_leader[DX_TOPIC_MAX + 1];
    uint64_t term;        /* the newest leader term seen */
} bench;

/* ---- output ----------------------------------------------------------- */




/* Emits NAME_p50 and NAME_p99 (ms); the target, when given, is judged on
 * the p50 (limit > 0) and also on the p99 when both is set.  Returns p50. */
static double emit_pcts(const char *name, double *v, int n, const char *target,
                        double limit, bool both)
{
    char key[96];
    double p50 = bench_pct(v, n, 0.50), p99 = bench_pct(v, n, 0.99);
    snprintf(key, sizeof key, "%s_p50", name);
    bench_emit(key, p50, "ms", target, limit > 0 ? p50 <= limit : -1);
    snprintf(key, sizeof key, "%s_p99", name);
    bench_emit(key, p99, "ms", both ? target : "", both ? p99 <= limit : -1);
    return p50;
}

static int fail(bench *b, const char *what)
{
    fprintf(stderr, "bench_membership: %s\n", what);
    if (b->h != NULL)
        dxh_fail(b->h);
    return -1;
}

static double real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- the retained views ----------------------------------------------- */

static dx_msg_members view; /* decoded by one thread only: the bench's */

/* Decodes a members payload into `view`; false when empty or invalid. */
static bool view_decode(const char *p, size_t len)
{
    dx_diag d;
    return p != NULL && len > 0 && dx_msg_members_decode(p, len, &view, &d) == 0;
}

static const dx_view_node *view_node(uint16_t id)
{
    for (size_t i = 0; i < view.n; i++)
        if (view.nodes[i].id == id)
            return &view.nodes[i];
    return NULL;
}

static bool view_all_online(uint16_t leader)
{
    if (view.leader != leader)
        return false;
    for (uint16_t id = 1; id <= N_AGENTS; id++) {
        const dx_view_node *n = view_node(id);
        if (n == NULL || n->state != DX_VIEW_ONLINE)
            return false;
    }
    return true;
}

static bool leader_decode(const char *p, size_t len, dx_msg_leader *out)
{
    dx_diag d;
    return p != NULL && len > 0 && dx_msg_leader_decode(p, len, out, &d) == 0;
}

typedef struct member_want {
    const char *topic;
    uint16_t id;
    dx_view_state state;
    dx_view_why why; /* DX_VIEW_WHY_NONE: any */
} member_want;

static bool pred_member(const dxh_msg *m, void *ctx)
{
    const member_want *w = ctx;
    if (strcmp(m->topic, w->topic) != 0 || !view_decode(m->payload, m->payload_len))
        return false;
    const dx_view_node *n = view_node(w->id);
    return n != NULL && n->state == w->state &&
           (w->why == DX_VIEW_WHY_NONE || n->why == w->why);
}

typedef struct leader_want {
    const char *topic;
    uint16_t not_id;   /* a leader other than this one, */
    uint64_t min_term; /* with at least this term */
    uint64_t term;     /* out */
} leader_want;

static bool pred_leader(const dxh_msg *m, void *ctx)
{
    leader_want *w = ctx;
    dx_msg_leader l;
    if (strcmp(m->topic, w->topic) != 0 || !leader_decode(m->payload, m->payload_len, &l))
        return false;
    w->term = l.term;
    return l.leader != w->not_id && l.term >= w->min_term;
}

/* Whether the newest leader and members messages say: leader 3, all online. */
static bool cluster_ok(bench *b)
{
    char *lp = dxh_obs_last_payload(b->obs, b->t_leader);
    char *mp = dxh_obs_last_payload(b->obs, b->t_members);
    dx_msg_leader l;
    bool ok = leader_decode(lp, lp ? strlen(lp) : 0, &l) && l.leader == LEADER &&
              view_decode(mp, mp ? strlen(mp) : 0) && view_all_online(LEADER);
    if (ok && l.term > b->term)
        b->term = l.term;
    free(lp);
    free(mp);
    return ok;
}

/* Waits until cluster_ok() has held for two timeouts in a row. */
static int wait_settled(bench *b)
{
    int64_t deadline = dxh_now_ns() + (int64_t)WAIT_MS * 1000000;
    int64_t since = 0, quiet = (int64_t)b->to_ms * 2 * 1000000;
    while (dxh_now_ns() < deadline) {
        if (!cluster_ok(b))
            since = 0;
        else if (since == 0)
            since = dxh_now_ns();
        else if (dxh_now_ns() - since >= quiet)
            return 0;
        dxh_sleep_ms(20);
    }
    return fail(b, "the cluster did not settle (leader 3, all online)");
}

/* ---- agents ----------------------------------------------------------- */

static const char *const *agent_args(const bench *b)
{
    static char hb[16], to[16];
    static const char *args[] = {"--heartbeat-ms", hb, "--timeout-ms", to,
                                 "--log-level", "info", NULL};
    snprintf(hb, sizeof hb, "%d", b->hb_ms);
    snprintf(to, sizeof to, "%d", b->to_ms);
    return args;
}

/* Reaps the killed agent id and starts it again (same id, same data dir). */
static int restart(bench *b, int id)
{
    dxh_proc *p = dxh_agent(b->h, id);
    if (p == NULL || dxh_proc_wait(p, 5000, NULL) != 0)
        return fail(b, "a killed agent did not exit");
    if (dxh_agent_start(b->h, b->agent, id, agent_args(b)) == NULL)
        return fail(b, "cannot restart an agent");
    return wait_settled(b);
}

/* A harness with a broker, an observer of the views and the will topic,
 * and 3 settled agents. */
static int cluster_up(bench *b, const char *name, int hb_ms, int to_ms)
{
    dx_topics t;
    dx_diag d;
    b->hb_ms = hb_ms;
    b->to_ms = to_ms;
    b->term = 0;
    b->h = dxh_create(name);
    if (b->h == NULL || dxh_broker_start(b->h, NULL) != 0)
        return fail(b, "cannot start the broker");
    if (dx_topics_init(&t, NULL, "test", &d) != 0 ||
        dx_topic_build(&t, DX_T_MEMBERS, 0, NULL, b->t_members, sizeof b->t_members) != 0 ||
        dx_topic_build(&t, DX_T_LEADER, 0, NULL, b->t_leader, sizeof b->t_leader) != 0)
        return fail(b, "cannot build the topics");
    b->obs = dxh_obs_new(b->h, NULL);
    if (b->obs == NULL || dxh_obs_subscribe(b->obs, b->t_members) != 0 ||
        dxh_obs_subscribe(b->obs, b->t_leader) != 0 ||
        dxh_obs_subscribe(b->obs, WILL_TOPIC) != 0)
        return fail(b, "cannot start the observer");
    if (dxh_agents_start(b->h, b->agent, N_AGENTS, agent_args(b)) != 0)
        return fail(b, "cannot start the agents");
    fprintf(stderr, "bench_membership: %s cluster: heartbeat %d ms, timeout %d ms\n",
            name, hb_ms, to_ms);
    return wait_settled(b);
}

static void cluster_down(bench *b, bool ok)
{
    if (ok && b->h != NULL)
        dxh_pass(b->h);
    dxh_destroy(b->h);
    b->h = NULL;
    b->obs = NULL;
}

/* ---- agent logs ------------------------------------------------------- */

static long file_size(const char *path)
{
    FILE *f = fopen(path, "r");
    long n = -1;
    if (f != NULL && fseek(f, 0, SEEK_END) == 0)
        n = ftell(f);
    if (f != NULL)
        fclose(f);
    return n;
}

/* The wall-clock time (ms) of the first line of the log at or after `off`
 * that contains needle ("2024-05-01T12:34:56.789Z node 3 INFO  ..."), or
 * -1 when there is none yet. */
static double log_find(const char *path, long off, const char *needle)
{
    char line[1024];
    double t = -1;
    FILE *f = fopen(path, "r");
    if (f == NULL || fseek(f, off, SEEK_SET) != 0) {
        if (f != NULL)
            fclose(f);
        return -1;
    }
    while (t < 0 && fgets(line, sizeof line, f) != NULL) {
        struct tm tm;
        int ms;
        memset(&tm, 0, sizeof tm);
        if (strstr(line, needle) != NULL &&
            sscanf(line, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon,
                   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) == 7) {
            tm.tm_year -= 1900;
            tm.tm_mon -= 1;
            t = (double)timegm(&tm) * 1e3 + ms;
        }
    }
    fclose(f);
    return t;
}

/* ---- the benchmarks --------------------------------------------------- */

/* Sends sig to p and waits for the first message after it that satisfies
 * pred; returns the ms between the two (CLOCK_MONOTONIC), or -1 on a
 * timeout.  *t0_real (may be NULL) gets CLOCK_REALTIME at the signal. */
static double signal_wait(bench *b, dxh_proc *p, int sig, dxh_pred pred,
                          void *ctx, double *t0_real)
{
    uint64_t mark = dxh_obs_mark(b->obs);
    if (t0_real != NULL)
        *t0_real = real_ms();
    int64_t t0 = dxh_now_ns();
    if (dxh_proc_signal(p, sig) != 0)
        return -1;
    const dxh_msg *m = dxh_obs_wait_for_from(b->obs, mark, pred, ctx, WAIT_MS);
    return m != NULL ? (double)(m->t_ns - t0) / 1e6 : -1;
}

static int bench_raw(bench *b, double *ms)
{
    for (int i = 0; i < b->trials; i++) {
        char id[64];
        snprintf(id, sizeof id, "bench-will-%d", i);
        dxh_proc *c = dxh_will_client_start(b->h, b->obs, id, WILL_TOPIC,
                                            "gone", false, 5000);
        if (c == NULL || dxh_will_measure(b->h, b->obs, c, WILL_TOPIC, 5000, &ms[i]) != 0)
            return fail(b, "raw will: no will arrived");
    }
    return 0;
}

/* One crash trial of follower v: sets *all (every survivor logged it) and
 * *leader (the leader's view at the observer). */
static int crash_trial(bench *b, int v, double *all, double *leader)
{
    char needle[64];
    const char *logs[N_AGENTS + 1];
    long off[N_AGENTS + 1];
    member_want w = {b->t_members, (uint16_t)v, DX_VIEW_FAILED, DX_VIEW_WHY_NONE};

    for (int k = 1; k <= N_AGENTS; k++) {
        logs[k] = dxh_proc_log(dxh_agent(b->h, k));
        off[k] = file_size(logs[k]);
    }
    snprintf(needle, sizeof needle, "Node %d marked as failed", v);
    double t0_real;
    *leader = signal_wait(b, dxh_agent(b->h, v), SIGKILL, pred_member, &w, &t0_real);
    if (*leader < 0)
        return fail(b, "crash: the members view never showed the node failed");
    *all = 0;
    for (int k = 1; k <= N_AGENTS; k++) {
        double t = -1;
        for (int waited = 0; k != v && t < 0 && waited < WAIT_MS; waited += 10)
            if ((t = log_find(logs[k], off[k], needle)) < 0)
                dxh_sleep_ms(10);
        if (k == v)
            continue;
        if (t < 0)
            return fail(b, "crash: a surviving agent never logged the failure");
        if (t + 0.5 - t0_real > *all)
            *all = t + 0.5 - t0_real;
    }
    return restart(b, v);
}

static int bench_crash(bench *b, double *all, double *leader)
{
    for (int i = 0; i < b->trials; i++)
        if (crash_trial(b, 1 + i % 2, &all[i], &leader[i]) != 0)
            return -1;
    return 0;
}

static int bench_failover(bench *b, double *ms)
{
    for (int i = 0; i < b->trials; i++) {
        leader_want w = {b->t_leader, LEADER, b->term + 1, 0};
        ms[i] = signal_wait(b, dxh_agent(b->h, LEADER), SIGKILL, pred_leader, &w, NULL);
        if (ms[i] < 0)
            return fail(b, "failover: no new leader");
        b->term = w.term;
        if (restart(b, LEADER) != 0)
            return -1;
    }
    return 0;
}

static int bench_hang(bench *b, double *ms)
{
    for (int i = 0; i < b->trials; i++) {
        int v = 1 + i % 2;
        member_want w = {b->t_members, (uint16_t)v, DX_VIEW_FAILED, DX_VIEW_WHY_TIMEOUT};
        dxh_proc *p = dxh_agent(b->h, v);
        ms[i] = signal_wait(b, p, SIGSTOP, pred_member, &w, NULL);
        if (dxh_proc_signal(p, SIGCONT) != 0 || ms[i] < 0)
            return fail(b, "hang: the members view never showed a timeout");
        if (wait_settled(b) != 0)
            return -1;
    }
    return 0;
}

/* The kB value of `key` ("VmRSS:", "Pss:", ...) in a /proc file, or -1. */
static long proc_kb(int pid, const char *file, const char *key)
{
    char path[64], line[256];
    long v = -1;
    snprintf(path, sizeof path, "/proc/%d/%s", pid, file);
    FILE *f = fopen(path, "r");
    while (f != NULL && v < 0 && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, key, strlen(key)) == 0)
            v = strtol(line + strlen(key), NULL, 10);
    if (f != NULL)
        fclose(f);
    return v;
}


static int bench_idle(bench *b)
{
    int pid = (int)dxh_proc_pid(dxh_agent(b->h, LEADER));
    double c0 = bench_proc_cpu_ticks(pid);
    int64_t t0 = dxh_now_ns();
    fprintf(stderr, "bench_membership: idle: agent %d (leader) for %d s\n", LEADER, b->idle_s);
    dxh_sleep_ms(b->idle_s * 1000);
    double c1 = bench_proc_cpu_ticks(pid);
    double wall_s = (double)(dxh_now_ns() - t0) / 1e9;
    long rss = proc_kb(pid, "status", "VmRSS:");
    long pss = proc_kb(pid, "smaps_rollup", "Pss:");
    long anon = proc_kb(pid, "smaps_rollup", "Anonymous:");
    if (c0 < 0 || c1 < 0 || rss < 0 || pss < 0 || anon < 0)
        return fail(b, "idle: cannot read /proc of the agent");
    double cpu = (c1 - c0) / (double)sysconf(_SC_CLK_TCK) / wall_s * 100.0;
    bench_emit("agent_idle_rss_kb", (double)rss, "kB", "< 4096 kB (pool aside)", rss < 4096);
    bench_emit("agent_idle_pss_kb", (double)pss, "kB", "info: shared libs split", -1);
    bench_emit("agent_idle_anon_kb", (double)anon, "kB", "info: private anonymous", -1);
    bench_emit("agent_idle_cpu_pct", cpu, "%", "< 1 % of a core", cpu < 1.0);
    bench_emit("agent_idle_window_s", wall_s, "s", "", -1);
    return 0;
}

/* ---- main ------------------------------------------------------------- */

static int run_default(bench *b)
{
    static double a[MAX_TRIALS], c[MAX_TRIALS];
    char target[96];
    if (cluster_up(b, "bench-default", 250, 1000) != 0)
        return -1;
    bench_emit("heartbeat_ms", b->hb_ms, "ms", "crash, failover, idle", -1);
    bench_emit("timeout_ms", b->to_ms, "ms", "crash, failover, idle", -1);
    bench_emit("trials", b->trials, "", "per figure", -1);
    fprintf(stderr, "bench_membership: raw will, %d trials\n", b->trials);
    if (bench_raw(b, a) != 0)
        return -1;
    double raw = emit_pcts("raw_will_ms", a, b->trials, "floor (baseline)", 0, false);
    fprintf(stderr, "bench_membership: crash, %d trials\n", b->trials);
    if (bench_crash(b, a, c) != 0)
        return -1;
    snprintf(target, sizeof target, "p50 <= 2 x raw p50 + 5 = %.2f ms", 2 * raw + 5);
    emit_pcts("crash_detect_ms", a, b->trials, target, 2 * raw + 5, false);
    emit_pcts("crash_detect_leader_view_ms", c, b->trials, "info: at an observer", 0, false);
    fprintf(stderr, "bench_membership: failover, %d trials\n", b->trials);
    if (bench_failover(b, a) != 0)
        return -1;
    emit_pcts("failover_ms", a, b->trials, "p50 < 50 ms", 50, false);
    return bench_idle(b);
}

static int run_fast(bench *b)
{
    static double a[MAX_TRIALS];
    char target[96];
    if (cluster_up(b, "bench-fast", 100, 400) != 0)
        return -1;
    fprintf(stderr, "bench_membership: hang, %d trials\n", b->trials);
    if (bench_hang(b, a) != 0)
        return -1;
    int lim = b->to_ms + b->hb_ms;
    snprintf(target, sizeof target, "<= timeout + heartbeat = %d ms", lim);
    emit_pcts("hang_detect_ms", a, b->trials, target, lim, true);
    bench_emit("hang_timeout_ms", b->to_ms, "ms", "hang only", -1);
    bench_emit("hang_heartbeat_ms", b->hb_ms, "ms", "hang only", -1);
    return 0;
}

int main(int argc, char **argv)
{
    bench b = {.agent = getenv("DX_AGENT"), .trials = 20, .idle_s = 30};
    for (int i = 1; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v != NULL && strcmp(argv[i], "--agent") == 0)
            b.agent = v;
        else if (v != NULL && strcmp(argv[i], "--trials") == 0)
            b.trials = atoi(v);
        else if (v != NULL && strcmp(argv[i], "--idle-s") == 0)
            b.idle_s = atoi(v);
        else {
            fprintf(stderr, "usage: bench_membership --agent PATH [--trials N] "
                            "[--idle-s S]\n");
            return 2;
        }
    }
    if (b.agent == NULL || access(b.agent, X_OK) != 0 || b.trials < 1 ||
        b.trials > MAX_TRIALS || b.idle_s < 1) {
        fprintf(stderr, "bench_membership: need an executable --agent, "
                        "1..%d trials, idle >= 1 s\n", MAX_TRIALS);
        return 2;
    }
    /* The harness's watchdog (290 s by default) is for tests; a full run
     * takes a few minutes. */
    setenv("DXH_WATCHDOG_S", "1800", 0);
    int rc = run_default(&b);
    cluster_down(&b, rc == 0);
    if (rc == 0) {
        rc = run_fast(&b);
        cluster_down(&b, rc == 0);
    }
    return rc == 0 ? 0 : 1;
}
