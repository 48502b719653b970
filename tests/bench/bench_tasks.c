/*
 * bench_tasks.c - task throughput and latency of a 3-agent cluster, beside
 * the broker's own QoS 1 message rate measured in the same run.
 *
 * Real Mosquitto (broker-config/dev.conf as shipped), real agent processes,
 * through the integration harness (tests/integration/harness.h).  The
 * measuring clients are two Paho MQTTAsync clients of this process, "pub"
 * and "sub" (MQTT 3.1.1, clean session, the agents' socket options:
 * dx_link_tune_socket).  pub keeps at most --inflight (1000) QoS 1
 * messages unacknowledged and sets Paho's maxInflight to the same: Paho's
 * own limit is 65535 (the message id space), but its per-message work
 * grows with the messages it holds, so a window larger than about 1000
 * makes pub slower, not faster (20..65535 measured: 11-12k msg/s at
 * 20..1000, ~9k at 10000..65535).
 * Phases, in this order, in one run, on two brokers (a fresh one for the
 * throughput run, so neither task run inherits the other's retained
 * records, clears or failovers):
 *
 *   raw      (first broker, no agents yet) pub publishes N_raw (50,000)
 *            QoS 1 messages of 100 bytes (the size of a submission with a
 *            reply_to) on bench/raw as fast as the window allows; sub is
 *            subscribed at QoS 1.  raw_qos1_msgs_per_s = N_raw / (first
 *            publish -> sub has every sequence number): one message in, one
 *            message out, through this broker and this client library (the
 *            agents' library).
 *   cluster  3 agents: --cluster bench --heartbeat-ms 250 --task-ttl-s 30,
 *            default workers (read back from the leader's heartbeat);
 *            wait until the retained leader and members say leader 3 with
 *            nodes 1..3 online for 1 s.  sub subscribes to {root}/tasks/+
 *            (it sees the submissions too: counted apart) and to the
 *            heartbeats.
 *   latency  (first broker) after 1 s without task messages, b-2-<i>
 *            submissions {"v":1,"id":"b-2-<i>","kind":"noop"} (QoS 1, no
 *            reply_to) paced by an absolute timer at 1,000/s for 5 s.
 *            task_latency_ms = from just before MQTTAsync_sendMessage() of
 *            a submission to the arrival at sub of the first non-empty
 *            record of that task whose state is "running" or "done"
 *            ("running" records are coalesced over 20 ms and "assigned"
 *            ones wait 500 ms, so a noop usually has only its "done"
 *            record: this is "submit to running" as an outside client
 *            observes it, both broker hops included).
 *            task_done_latency_ms is the same up to "done".
 *   tput     (second broker, a new cluster) pub publishes N (20,000)
 *            submissions b-1-<i> (QoS 1, without reply_to: no reply
 *            traffic) on {root}/tasks/submit as fast as the cluster
 *            finishes them: at most 1000 submitted and not yet done (a
 *            closed loop, so the figure is a sustained rate, not the
 *            collapse of a burst far beyond capacity).
 *            tasks_per_s = N / (first publish -> sub has seen a record with
 *            state "done" for every task).  Empty (cleared) records are
 *            ignored.
 *
 * sub also takes the agents' heartbeats, and the raw run starts after one
 * warm-up message: Paho's receive thread sleeps 100 ms after a silent
 * second, which would otherwise add up to 100 ms to the first messages of
 * a phase (see warm_up()).
 *
 * A phase whose tasks stop making progress (no new done record for 10 s)
 * or take longer than its limit is reported with what sub last saw of the
 * unfinished tasks (no record at all, queued, assigned, running), and the
 * program goes on to the next phase but exits 1.
 *
 * Per phase it also reports the CPU each process used (utime + stime from
 * /proc, % of one core over the phase's wall time; agent3 is the leader
 * unless the logs say otherwise), the CPU of the broker and the agents per
 * task, how busy the whole machine was meanwhile (/proc/stat: other builds
 * and tests on the machine skew the figures), and the records sub saw per
 * task.  Percentiles are nearest-rank.
 *
 * Output: one JSON object per figure on stdout,
 *   {"name":"...","value":N,"unit":"...","target":"...","verdict":"meets"}
 * (verdict "meets", "misses" or ""), progress on stderr.  Exit 0 when every
 * figure was measured, 1 when a measurement failed (the harness keeps its
 * directory and prints the logs), 2 for bad arguments.
 *
 *   bench_tasks --agent PATH [--tasks N] [--raw N] [--rate R] [--rate-s S]
 *               [--inflight W] [--hold-s S] [--dump FILE] [--quick]
 *
 * --quick: 5,000 tasks, 10,000 raw messages, 2 s of paced submissions.
 * --hold-s: once the cluster is up, print the pids and wait S seconds, so
 * perf or strace can be attached before the task phases.
 * --dump: write "i t_submit_ms latency_ms done_latency_ms" per task of the
 * latency run (t_submit from the run's start; -1: never seen) to FILE.
 * Take figures from a build without sanitizers:
 *   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && cmake --build build-rel
 */
#include "bench.h"
#include <MQTTAsync.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
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
#define HB_MS 250
#define TTL_S 30
#define WAIT_MS 15000        /* cluster start-up, connects, subscribes */
#define STALL_MS 10000       /* no new done record for this long: stuck */
#define RAW_TOPIC "bench/raw"
#define WARM_TOPIC "bench/warm"
#define RAW_PAYLOAD 100      /* bytes of one raw message */
#define MAX_INFLIGHT 65535   /* Paho: message ids are 1..65535 */
#define RUN_TPUT 1
#define RUN_LAT 2

/* What sub last saw of a task. */
enum { S_NONE, S_QUEUED, S_ASSIGNED, S_RUNNING, S_DONE, S_OTHER, S_N };
static const char *const state_names[S_N] = {"no record", "queued", "assigned",
                                             "running", "done", "other state"};

/* ---- output (as bench_membership) -------------------------------------- */




/* ---- state ------------------------------------------------------------- */

/* What sub has seen of one run of tasks.  The arrays are written by Paho's
 * receive thread (t_pub by the main thread, before the publish); the main
 * thread reads them once the run is over. */
typedef struct track {
    int n;
    int64_t *t_pub;           /* before the publish */
    int64_t *t_run;           /* first record at or past running */
    int64_t *t_done;          /* first record with state done */
    unsigned char *last;      /* S_... */
    atomic_int n_done;
    atomic_long n_records;    /* non-empty records */
    atomic_long n_cleared;    /* empty retained payloads */
} track;

static struct bench {
    const char *agent;
    int n_tasks, n_raw, rate, rate_s, inflight, hold_s;
    int outstanding;      /* throughput: tasks submitted and not yet done */
    const char *dump;         /* per-task times of the latency run, or NULL */
    bool failed;              /* a phase could not measure */
    dxh *h;
    dxh_obs *obs;
    dx_topics topics;
    char t_submit[DX_TOPIC_MAX + 1];
    char t_tasks[DX_TOPIC_MAX + 1];    /* {root}/tasks/+ */
    char t_leader[DX_TOPIC_MAX + 1];
    char t_members[DX_TOPIC_MAX + 1];
    char prefix[DX_TOPIC_MAX + 1];     /* "{root}/tasks/" */
    size_t prefix_len;
    unsigned workers;

    MQTTAsync pub, sub;
    long n_sent;                       /* QoS 1 messages handed to Paho */
    atomic_long pub_acked;             /* their PUBACKs */
    unsigned char *raw_seen;
    atomic_int raw_unique;
    atomic_long raw_total;
    track runs[3];                     /* [RUN_TPUT], [RUN_LAT] */
    atomic_long submits_seen;          /* sub's copies of submissions */
    atomic_long warm_seen;
    atomic_long other_msgs;
} B;

static int fail(const char *what)
{
    fprintf(stderr, "bench_tasks: %s\n", what);
    if (B.h != NULL)
        dxh_fail(B.h);
    return -1;
}

/* ---- sub: what arrives ------------------------------------------------- */

/* The value of the "state" string of a compact record written by the
 * leader's encoder, or NULL.  A quote inside a JSON string is escaped
 * (\"), so the first "state":" is the field itself. */
static const char *record_state(const char *p, size_t len, size_t *slen)
{
    static const char key[] = "\"state\":\"";
    const size_t kl = sizeof key - 1;
    for (size_t i = 0; i + kl < len; i++) {
        if (p[i] == '"' && memcmp(p + i, key, kl) == 0) {
            const char *v = p + i + kl;
            const char *e = memchr(v, '"', len - (size_t)(v - p));
            if (e == NULL)
                return NULL;
            *slen = (size_t)(e - v);
            return v;
        }
    }
    return NULL;
}

static int state_code(const char *s, size_t n)
{
    for (int k = S_QUEUED; k <= S_DONE; k++)
        if (strlen(state_names[k]) == n && memcmp(s, state_names[k], n) == 0)
            return k;
    return S_OTHER;
}

static void on_task_record(const char *id, size_t idlen, const char *p,
                           size_t plen, int64_t now)
{
    /* "b-<run>-<i>" */
    long run = -1, i = -1;
    if (idlen >= 5 && id[0] == 'b' && id[1] == '-' && id[3] == '-') {
        run = bench_parse_uint(id + 2, 1);
        i = bench_parse_uint(id + 4, idlen - 4);
    }
    if (run < RUN_TPUT || run > RUN_LAT || i < 0 || i >= B.runs[run].n) {
        atomic_fetch_add(&B.other_msgs, 1);
        return;
    }
    track *t = &B.runs[run];
    if (plen == 0) {
        atomic_fetch_add(&t->n_cleared, 1);
        return;
    }
    atomic_fetch_add(&t->n_records, 1);
    size_t sl = 0;
    const char *s = record_state(p, plen, &sl);
    int st = s != NULL ? state_code(s, sl) : S_OTHER;
    if (t->last[i] != S_DONE)
        t->last[i] = (unsigned char)st;
    if ((st == S_RUNNING || st == S_DONE) && t->t_run[i] == 0)
        t->t_run[i] = now;
    if (st == S_DONE && t->t_done[i] == 0) {
        t->t_done[i] = now;
        atomic_fetch_add_explicit(&t->n_done, 1, memory_order_release);
    }
}

static int on_message(void *ctx, char *topic, int tlen, MQTTAsync_message *m)
{
    int64_t now = dxh_now_ns();
    size_t len = tlen > 0 ? (size_t)tlen : strlen(topic);
    const char *p = m->payload;
    size_t plen = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;
    (void)ctx;

    if (len == sizeof RAW_TOPIC - 1 && memcmp(topic, RAW_TOPIC, len) == 0) {
        /* {"seq":123456789,... */
        atomic_fetch_add(&B.raw_total, 1);
        long seq = plen >= 16 ? bench_parse_uint(p + 7, 9) : -1;
        if (seq >= 0 && seq < B.n_raw && !B.raw_seen[seq]) {
            B.raw_seen[seq] = 1;
            atomic_fetch_add_explicit(&B.raw_unique, 1, memory_order_release);
        }
    } else if (len == sizeof WARM_TOPIC - 1 && memcmp(topic, WARM_TOPIC, len) == 0) {
        atomic_fetch_add(&B.warm_seen, 1);
    } else if (B.prefix_len > 0 && len > B.prefix_len &&
               memcmp(topic, B.prefix, B.prefix_len) == 0) {
        const char *id = topic + B.prefix_len;
        size_t idlen = len - B.prefix_len;
        if (idlen == 6 && memcmp(id, "submit", 6) == 0)
            atomic_fetch_add(&B.submits_seen, 1);
        else
            on_task_record(id, idlen, p, plen, now);
    } else {
        atomic_fetch_add(&B.other_msgs, 1);
    }
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void on_delivered(void *ctx, MQTTAsync_token tok)
{
    (void)ctx, (void)tok;
    atomic_fetch_add(&B.pub_acked, 1);
}

static void on_lost(void *ctx, char *cause)
{
    fprintf(stderr, "bench_tasks: client %s lost its connection: %s\n",
            (const char *)ctx, cause ? cause : "?");
}

/* ---- the Paho clients -------------------------------------------------- */

/* One blocking operation (connect, subscribe). */
static bench_op the_op = {PTHREAD_MUTEX_INITIALIZER, 0};

static int client_connect(MQTTAsync *c, const char *id, bool receive)
{
    /* MQTTAsync_create (no create options): Paho then never refuses a
     * publish for its maxBufferedMessages. */
    if (MQTTAsync_create(c, dxh_broker_url(B.h), id, MQTTCLIENT_PERSISTENCE_NONE,
                         NULL) != MQTTASYNC_SUCCESS ||
        MQTTAsync_setCallbacks(*c, (void *)id, on_lost, on_message,
                               receive ? NULL : on_delivered) != MQTTASYNC_SUCCESS)
        return -1;
    return bench_connect(*c, &the_op, B.inflight);
}

static int client_subscribe(MQTTAsync c, const char *filter)
{
    return bench_subscribe(c, &the_op, filter);
}

/* Publishes one QoS 1 message with pub, keeping at most B.inflight of them
 * unacknowledged (waits for PUBACKs first when the window is full). */
static int publish(const char *topic, const void *payload, int len)
{
    MQTTAsync_message m = MQTTAsync_message_initializer;
    int64_t dl = dxh_now_ns() + 30000000000LL;
    m.payload = (void *)payload;
    m.payloadlen = len;
    m.qos = 1;
    while (B.n_sent - atomic_load(&B.pub_acked) >= B.inflight) {
        if (dxh_now_ns() > dl)
            return -1;
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
    if (MQTTAsync_sendMessage(B.pub, topic, &m, NULL) != MQTTASYNC_SUCCESS)
        return -1;
    B.n_sent++;
    return 0;
}

/* ---- CPU --------------------------------------------------------------- */

/* The agents by id: agent3 leads a settled cluster (the highest id). */
enum { P_BROKER, P_A1, P_A2, P_A3, P_BENCH, N_PROCS };
static const char *const proc_names[N_PROCS] = {"broker", "agent1", "agent2",
                                                "agent3", "bench"};


static int proc_pid(int k)
{
    switch (k) {
    case P_BROKER: return (int)dxh_proc_pid(dxh_broker_proc(B.h));
    case P_A1:     return (int)dxh_proc_pid(dxh_agent(B.h, 1));
    case P_A2:     return (int)dxh_proc_pid(dxh_agent(B.h, 2));
    case P_A3:     return (int)dxh_proc_pid(dxh_agent(B.h, 3));
    default:       return (int)getpid();
    }
}

typedef struct cpu_snap {
    double ticks[N_PROCS];
    double machine;
    int64_t t_ns;
} cpu_snap;

static void cpu_take(cpu_snap *s, bool with_agents)
{
    for (int k = 0; k < N_PROCS; k++)
        s->ticks[k] = (with_agents || k == P_BROKER || k == P_BENCH)
                          ? bench_proc_cpu_ticks(proc_pid(k)) : -1;
    s->machine = bench_machine_busy_ticks();
    s->t_ns = dxh_now_ns();
}

/* Emits <phase>_cpu_<proc>_pct for each process measured,
 * <phase>_cpu_machine_pct for the whole machine (/proc/stat: everything
 * but idle; well above the sum of ours means other work was running, and
 * its tick-based accounting differs a little from the per-process one)
 * and, when n_tasks > 0, <phase>_cpu_ms_per_task: CPU of the broker and
 * the agents per task. */
static void cpu_emit(const char *phase, const cpu_snap *a, const cpu_snap *b,
                     int n_tasks)
{
    double wall = (double)(b->t_ns - a->t_ns) / 1e9;
    double hz = (double)sysconf(_SC_CLK_TCK), cluster = 0;
    char key[64], line[256] = "";
    size_t n = 0;
    if (wall <= 0)
        return;
    for (int k = 0; k <= N_PROCS; k++) {
        double v;
        if (k < N_PROCS) {
            if (a->ticks[k] < 0 || b->ticks[k] < 0)
                continue;
            if (k != P_BENCH)
                cluster += b->ticks[k] - a->ticks[k];
            v = (b->ticks[k] - a->ticks[k]) / hz / wall * 100.0;
        } else {
            if (a->machine < 0 || b->machine < 0)
                continue;
            v = (b->machine - a->machine) / hz / wall * 100.0;
        }
        v = round(v);
        snprintf(key, sizeof key, "%s_cpu_%s_pct", phase, k < N_PROCS ? proc_names[k] : "machine");
        bench_emit(key, v, "%", k < N_PROCS ? "info: % of one core"
                                       : "info: all CPUs busy, % of one core", -1);
        int w = snprintf(line + n, sizeof line - n, " %s %.0f%%",
                         k < N_PROCS ? proc_names[k] : "| machine", v);
        if (w > 0 && (size_t)w < sizeof line - n)
            n += (size_t)w;
    }
    fprintf(stderr, "bench_tasks: %s CPU over %.2f s:%s (of %ld00%%)\n", phase, wall,
            line, sysconf(_SC_NPROCESSORS_ONLN));
    if (n_tasks > 0) {
        snprintf(key, sizeof key, "%s_cpu_ms_per_task", phase);
        bench_emit(key, bench_round2(cluster / hz * 1000 / n_tasks), "ms",
             "info: broker + 3 agents, CPU", -1);
    }
}

/* ---- the cluster ------------------------------------------------------- */

static bool cluster_ok(void)
{
    char *lp = dxh_obs_last_payload(B.obs, B.t_leader);
    char *mp = dxh_obs_last_payload(B.obs, B.t_members);
    static dx_msg_members view;
    dx_msg_leader l;
    dx_diag d;
    bool ok = lp != NULL && mp != NULL &&
              dx_msg_leader_decode(lp, strlen(lp), &l, &d) == 0 && l.leader == LEADER &&
              dx_msg_members_decode(mp, strlen(mp), &view, &d) == 0 &&
              view.leader == LEADER;
    for (uint16_t id = 1; ok && id <= N_AGENTS; id++) {
        bool on = false;
        for (size_t i = 0; i < view.n; i++)
            if (view.nodes[i].id == id && view.nodes[i].state == DX_VIEW_ONLINE)
                on = true;
        ok = on;
    }
    free(lp);
    free(mp);
    return ok;
}

static bool pred_heartbeat(const dxh_msg *m, void *ctx)
{
    dx_msg_heartbeat hb;
    dx_diag d;
    (void)ctx;
    if (dx_msg_heartbeat_decode(m->payload, m->payload_len, &hb, &d) != 0)
        return false;
    B.workers = hb.workers;
    return true;
}

static int cluster_up(void)
{
    static char ttl[16], hb[16];
    static const char *args[] = {"--cluster", "bench", "--heartbeat-ms", hb,
                                 "--task-ttl-s", ttl, "--log-level", "info", NULL};
    char t_hb[DX_TOPIC_MAX + 1];
    dx_diag d;
    snprintf(hb, sizeof hb, "%d", HB_MS);
    snprintf(ttl, sizeof ttl, "%d", TTL_S);
    if (dx_topics_init(&B.topics, NULL, "bench", &d) != 0 ||
        dx_topic_build(&B.topics, DX_T_TASK_SUBMIT, 0, NULL, B.t_submit, sizeof B.t_submit) != 0 ||
        dx_topic_build(&B.topics, DX_T_LEADER, 0, NULL, B.t_leader, sizeof B.t_leader) != 0 ||
        dx_topic_build(&B.topics, DX_T_MEMBERS, 0, NULL, B.t_members, sizeof B.t_members) != 0 ||
        dx_topic_build(&B.topics, DX_T_NODE_HEARTBEAT, LEADER, NULL, t_hb, sizeof t_hb) != 0)
        return fail("cannot build the topics");
    snprintf(B.t_tasks, sizeof B.t_tasks, "%s/tasks/+", B.topics.root);
    snprintf(B.prefix, sizeof B.prefix, "%s/tasks/", B.topics.root);
    B.prefix_len = strlen(B.prefix);

    B.obs = dxh_obs_new(B.h, NULL);
    if (B.obs == NULL || dxh_obs_subscribe(B.obs, B.t_leader) != 0 ||
        dxh_obs_subscribe(B.obs, B.t_members) != 0)
        return fail("cannot start the observer");
    if (dxh_agents_start(B.h, B.agent, N_AGENTS, args) != 0)
        return fail("cannot start the agents");
    int64_t dl = dxh_now_ns() + (int64_t)WAIT_MS * 1000000, since = 0;
    for (;;) {
        if (dxh_now_ns() > dl)
            return fail("the cluster did not settle (leader 3, all online)");
        if (!cluster_ok())
            since = 0;
        else if (since == 0)
            since = dxh_now_ns();
        else if (dxh_now_ns() - since >= 1000000000LL)
            break;
        dxh_sleep_ms(20);
    }
    /* The workers setting, from one heartbeat of the leader. */
    dxh_obs *hbo = dxh_obs_new(B.h, NULL);
    if (hbo == NULL || dxh_obs_subscribe(hbo, t_hb) != 0 ||
        dxh_obs_wait_for(hbo, pred_heartbeat, NULL, 5000) == NULL)
        return fail("no heartbeat from the leader");
    dxh_obs_destroy(hbo);
    fprintf(stderr, "bench_tasks: cluster up: 3 agents, root %s, heartbeat %d ms, "
            "task ttl %d s, workers %u (default); pids: broker %d, agents %d %d %d "
            "(3 leads), bench %d\n", B.topics.root, HB_MS, TTL_S, B.workers,
            proc_pid(P_BROKER), proc_pid(P_A1), proc_pid(P_A2), proc_pid(P_A3),
            proc_pid(P_BENCH));
    if (B.hold_s > 0) {
        fprintf(stderr, "bench_tasks: holding %d s (--hold-s)\n", B.hold_s);
        dxh_sleep_ms(B.hold_s * 1000);
    }
    return 0;
}

/* ---- the phases -------------------------------------------------------- */

/*
 * Paho's receive thread (one per process, for every client) polls its
 * sockets for up to 1 s and, when nothing came, sleeps 100 ms before it
 * polls again: a message that arrives after a silent second can wait up
 * to 100 ms in the socket.  So sub never stays silent that long: before
 * the raw run it receives one warm-up message, and from the cluster's
 * start on it also takes the agents' heartbeats (12 a second).
 */
static int warm_up(void)
{
    long n = atomic_load(&B.warm_seen);
    if (publish(WARM_TOPIC, "warm", 4) != 0)
        return -1;
    for (int i = 0; i < 5000 && atomic_load(&B.warm_seen) == n; i++)
        dxh_sleep_ms(1);
    return atomic_load(&B.warm_seen) > n ? 0 : -1;
}

static int bench_raw(double *rate)
{
    char payload[RAW_PAYLOAD + 1];
    cpu_snap c0, c1;
    B.raw_seen = calloc((size_t)B.n_raw, 1);
    if (B.raw_seen == NULL || client_subscribe(B.sub, RAW_TOPIC) != 0)
        return fail("raw: cannot subscribe");
    fprintf(stderr, "bench_tasks: raw: %d QoS 1 messages of %d bytes, window %d\n",
            B.n_raw, RAW_PAYLOAD, B.inflight);
    cpu_take(&c0, false);
    int64_t t0 = dxh_now_ns();
    for (int i = 0; i < B.n_raw; i++) {
        int n = snprintf(payload, sizeof payload, "{\"seq\":%09d,\"pad\":\"", i);
        memset(payload + n, 'x', (size_t)(RAW_PAYLOAD - n - 2));
        memcpy(payload + RAW_PAYLOAD - 2, "\"}", 2);
        if (publish(RAW_TOPIC, payload, RAW_PAYLOAD) != 0)
            return fail("raw: publish failed");
    }
    int64_t dl = t0 + 120 * 1000000000LL;
    while (atomic_load_explicit(&B.raw_unique, memory_order_acquire) < B.n_raw &&
           dxh_now_ns() < dl) {
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    int64_t t1 = dxh_now_ns();
    cpu_take(&c1, false);
    if (atomic_load(&B.raw_unique) < B.n_raw) {
        fprintf(stderr, "bench_tasks: raw: only %d of %d arrived\n",
                atomic_load(&B.raw_unique), B.n_raw);
        return fail("raw: not every message arrived");
    }
    double s = (double)(t1 - t0) / 1e9;
    *rate = round((double)B.n_raw / s);
    fprintf(stderr, "bench_tasks: raw: %d in %.3f s, %ld deliveries\n", B.n_raw, s,
            atomic_load(&B.raw_total));
    bench_emit("raw_qos1_msgs_per_s", *rate, "/s", "floor (baseline)", -1);
    bench_emit("raw_msgs", B.n_raw, "", "100 B, QoS 1 in and out", -1);
    bench_emit("pub_window", B.inflight, "", "info: unacked QoS 1 of pub", -1);
    cpu_emit("raw", &c0, &c1, 0);
    return 0;
}

static int track_init(track *t, int n)
{
    t->n = n;
    t->t_pub = calloc((size_t)n, sizeof *t->t_pub);
    t->t_run = calloc((size_t)n, sizeof *t->t_run);
    t->t_done = calloc((size_t)n, sizeof *t->t_done);
    t->last = calloc((size_t)n, 1);
    return t->t_pub && t->t_run && t->t_done && t->last ? 0 : -1;
}

static int submission(char *buf, size_t cap, int run, int i)
{
    return snprintf(buf, cap, "{\"v\":1,\"id\":\"b-%d-%d\",\"kind\":\"noop\"}", run, i);
}

/* Waits until every task of run t is done; gives up after limit_ms, or
 * after STALL_MS without a new done record.  Returns the time of the last
 * done record, or 0 (and says what sub last saw of the rest). */
static int64_t wait_done(track *t, const char *what, int limit_ms)
{
    int64_t start = dxh_now_ns(), dl = start + (int64_t)limit_ms * 1000000;
    int64_t next = start + 5000000000LL, progress = start;
    int seen = -1;
    for (;;) {
        int done = atomic_load_explicit(&t->n_done, memory_order_acquire);
        int64_t now = dxh_now_ns();
        if (done == t->n)
            break;
        if (done != seen) {
            seen = done;
            progress = now;
        }
        if (now > dl || now - progress > (int64_t)STALL_MS * 1000000) {
            int count[S_N] = {0};
            for (int i = 0; i < t->n; i++)
                count[t->last[i]]++;
            fprintf(stderr, "bench_tasks: %s: STUCK: %d of %d done after %.1f s, none "
                    "for %.1f s; the others, as last seen by sub:", what, done, t->n,
                    (double)(now - start) / 1e9, (double)(now - progress) / 1e9);
            for (int k = 0; k < S_N; k++)
                if (k != S_DONE && count[k] > 0)
                    fprintf(stderr, " %d %s", count[k], state_names[k]);
            fprintf(stderr, "\n");
            return 0;
        }
        if (now >= next) {
            fprintf(stderr, "bench_tasks: %s: %d of %d done, %ld records\n", what,
                    done, t->n, atomic_load(&t->n_records));
            next += 5000000000LL;
        }
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    int64_t last = 0;
    for (int i = 0; i < t->n; i++)
        if (t->t_done[i] > last)
            last = t->t_done[i];
    return last;
}

/* Waits until sub has seen no task message for quiet_ms (60 s at most). */
static void wait_quiet(int quiet_ms)
{
    long last = -1;
    int64_t since = dxh_now_ns(), dl = since + 60000000000LL;
    while (dxh_now_ns() < dl) {
        long n = atomic_load(&B.runs[RUN_TPUT].n_records) +
                 atomic_load(&B.runs[RUN_TPUT].n_cleared) +
                 atomic_load(&B.runs[RUN_LAT].n_records) + atomic_load(&B.submits_seen);
        if (n != last) {
            last = n;
            since = dxh_now_ns();
        } else if (dxh_now_ns() - since >= (int64_t)quiet_ms * 1000000) {
            return;
        }
        dxh_sleep_ms(10);
    }
}

static void emit_done(const char *name, const track *t, int done)
{
    char target[64];
    snprintf(target, sizeof target, "all %d", t->n);
    bench_emit(name, done, "", target, done == t->n);
}

static int bench_tput(double raw)
{
    track *t = &B.runs[RUN_TPUT];
    char buf[128], target[96];
    cpu_snap c0, c1;

    fprintf(stderr, "bench_tasks: throughput: %d noop tasks as fast as the "
            "cluster finishes them (at most %d outstanding)\n", t->n,
            B.outstanding);
    long submits0 = atomic_load(&B.submits_seen);
    cpu_take(&c0, true);
    int64_t t0 = dxh_now_ns();
    for (int i = 0; i < t->n; i++) {
        int n = submission(buf, sizeof buf, RUN_TPUT, i);
        /* Closed loop: at most B.outstanding tasks submitted and not yet
         * done, so the figure is the rate the cluster sustains, not how
         * far a burst far beyond it can overload it. */
        int64_t wait_start = dxh_now_ns();
        while (i - atomic_load(&t->n_done) >= B.outstanding) {
            if (dxh_now_ns() - wait_start > (int64_t)STALL_MS * 1000000)
                break;                       /* wait_done reports it */
            dxh_sleep_ms(1);
        }
        t->t_pub[i] = dxh_now_ns();
        if (publish(B.t_submit, buf, n) != 0)
            return fail("throughput: publish failed");
    }
    int64_t t_sent = dxh_now_ns();
    int64_t last = wait_done(t, "throughput", 180000);
    cpu_take(&c1, true);
    int done = atomic_load(&t->n_done);
    fprintf(stderr, "bench_tasks: throughput: submissions handed to Paho in %.3f s; "
            "%d done; %ld records, %ld submission copies at sub\n",
            (double)(t_sent - t0) / 1e9, done, atomic_load(&t->n_records),
            atomic_load(&B.submits_seen) - submits0);
    emit_done("tasks_done", t, done);
    if (last != 0) {
        double s = (double)(last - t0) / 1e9;
        double tps = round((double)t->n / s);
        snprintf(target, sizeof target, ">= 5000 and >= raw / 2 = %.0f", raw / 2);
        bench_emit("tasks_per_s", tps, "/s", target, tps >= 5000 && tps >= raw / 2);
        bench_emit("tasks_wall_s", bench_round2(s), "s", "info: first submit to last done", -1);
    }
    if (last == 0 && done > 0) {
        /* Not a throughput: the rate at which the tasks that did finish
         * finished, while the others were being lost. */
        int64_t end = 0;
        for (int i = 0; i < t->n; i++)
            if (t->t_done[i] > end)
                end = t->t_done[i];
        bench_emit("tasks_done_per_s_partial", round((double)done / ((double)(end - t0) / 1e9)),
             "/s", "info: PARTIAL, tasks were lost", -1);
    }
    bench_emit("tasks_n", t->n, "", "noop, QoS 1, no reply_to", -1);
    bench_emit("tasks_outstanding", B.outstanding, "", "info: at most, closed loop", -1);
    bench_emit("tasks_submit_s", bench_round2((double)(t_sent - t0) / 1e9), "s",
         "info: submissions handed to Paho", -1);
    bench_emit("tasks_records_per_task", bench_round2((double)atomic_load(&t->n_records) / t->n),
         "", "info: non-empty records at sub", -1);
    cpu_emit("tasks", &c0, &c1, done);
    if (last == 0) {
        B.failed = true;
        return fail("throughput: not every task was done (see above)");
    }
    return 0;
}

static int bench_latency(void)
{
    track *t = &B.runs[RUN_LAT];
    char buf[128], target[96];
    cpu_snap c0, c1;
    const int64_t period = 1000000000LL / B.rate;
    int late = 0;

    wait_quiet(1000);
    fprintf(stderr, "bench_tasks: latency: %d noop tasks at %d/s\n", t->n, B.rate);
    cpu_take(&c0, true);
    int64_t t0 = dxh_now_ns();
    for (int i = 0; i < t->n; i++) {
        int64_t due = t0 + (int64_t)i * period;
        struct timespec ts = {(time_t)(due / 1000000000LL), (long)(due % 1000000000LL)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
            ;
        int n = submission(buf, sizeof buf, RUN_LAT, i);
        t->t_pub[i] = dxh_now_ns();
        if (t->t_pub[i] - due > 1000000)
            late++;
        if (publish(B.t_submit, buf, n) != 0)
            return fail("latency: publish failed");
    }
    int64_t t_end = dxh_now_ns();
    cpu_take(&c1, true);
    int64_t last = wait_done(t, "latency", 60000);

    /* Over the tasks that got that far (all of them when nothing is lost). */
    double *run = malloc((size_t)t->n * sizeof *run);
    double *done = malloc((size_t)t->n * sizeof *done);
    int n_run = 0, n_done = 0;
    if (run == NULL || done == NULL)
        return fail("out of memory");
    for (int i = 0; i < t->n; i++) {
        if (t->t_run[i] != 0)
            run[n_run++] = (double)(t->t_run[i] - t->t_pub[i]) / 1e6;
        if (t->t_done[i] != 0)
            done[n_done++] = (double)(t->t_done[i] - t->t_pub[i]) / 1e6;
    }
    if (B.dump != NULL) {
        FILE *f = fopen(B.dump, "w");
        for (int i = 0; f != NULL && i < t->n; i++)
            fprintf(f, "%d %.3f %.3f %.3f\n", i, (double)(t->t_pub[i] - t0) / 1e6,
                    t->t_run[i] ? (double)(t->t_run[i] - t->t_pub[i]) / 1e6 : -1.0,
                    t->t_done[i] ? (double)(t->t_done[i] - t->t_pub[i]) / 1e6 : -1.0);
        if (f == NULL || fclose(f) != 0)
            fprintf(stderr, "bench_tasks: cannot write %s\n", B.dump);
    }
    double rate = round((double)t->n / ((double)(t_end - t0) / 1e9));
    emit_done("latency_tasks_done", t, n_done);
    if (n_run > 0) {
        double p50 = bench_pct(run, n_run, 0.50), p99 = bench_pct(run, n_run, 0.99);
        const char *part = n_run < t->n ? " (PARTIAL)" : "";
        snprintf(target, sizeof target, "info: at %d tasks/s%s", B.rate, part);
        bench_emit("task_latency_ms_p50", bench_round2(p50), "ms", target, -1);
        snprintf(target, sizeof target, "p99 < 10 ms at %d tasks/s%s", B.rate, part);
        bench_emit("task_latency_ms_p99", bench_round2(p99), "ms", target, p99 < 10);
        bench_emit("task_latency_ms_max", bench_round2(run[n_run - 1]), "ms", "info", -1);
    }
    if (n_done > 0) {
        bench_emit("task_done_latency_ms_p50", bench_round2(bench_pct(done, n_done, 0.50)), "ms",
             "info: submit to done record", -1);
        bench_emit("task_done_latency_ms_p99", bench_round2(bench_pct(done, n_done, 0.99)), "ms",
             "info: submit to done record", -1);
    }
    bench_emit("latency_rate_per_s", rate, "/s", "info: achieved submission rate", -1);
    bench_emit("latency_records_per_task", bench_round2((double)atomic_load(&t->n_records) / t->n),
         "", "info: non-empty records at sub", -1);
    cpu_emit("latency", &c0, &c1, t->n);
    fprintf(stderr, "bench_tasks: latency: %d submitted in %.3f s (%d more than 1 ms "
            "late); %d reached running, %d done\n", t->n, (double)(t_end - t0) / 1e9,
            late, n_run, n_done);
    free(run);
    free(done);
    if (last == 0) {
        B.failed = true;
        return fail("latency: not every task was done (see above)");
    }
    return 0;
}

/* Says who leads now, and counts agent and broker log lines that hint at
 * trouble (one "Leader is" per agent is the first election). */
static void scan_logs(const char *phase)
{
    char *lp = dxh_obs_last_payload(B.obs, B.t_leader);
    dx_msg_leader l;
    dx_diag d;
    if (lp != NULL && dx_msg_leader_decode(lp, strlen(lp), &l, &d) == 0)
        fprintf(stderr, "bench_tasks: %s: leader at the end: node %u, term %llu\n",
                phase, l.leader, (unsigned long long)l.term);
    free(lp);
    static const char *const needles[] = {"WARN", "ERROR", "marked as failed",
                                          "Leader is", "dropped"};
    for (int k = 0; k <= N_AGENTS; k++) {
        char path[512], line[1024];
        int counts[5] = {0};
        if (k == 0)
            dxh_path(B.h, path, sizeof path, "broker.log");
        else
            snprintf(path, sizeof path, "%s", dxh_proc_log(dxh_agent(B.h, k)));
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        while (fgets(line, sizeof line, f) != NULL)
            for (int j = 0; j < 5; j++)
                if (strstr(line, needles[j]) != NULL)
                    counts[j]++;
        fclose(f);
        fprintf(stderr, "bench_tasks: %s: %s log: %d WARN, %d ERROR, %d 'marked as "
                "failed', %d 'Leader is', %d 'dropped'\n", phase,
                k == 0 ? "broker" : k == 3 ? "agent 3" : k == 1 ? "agent 1" : "agent 2",
                counts[0], counts[1], counts[2], counts[3], counts[4]);
    }
}

/* A fresh harness: a broker and the two measuring clients, warmed up. */
static int world_up(const char *name)
{
    static char pub_id[64], sub_id[64];
    static int gen;
    B.h = dxh_create(name);
    if (B.h == NULL || dxh_broker_start(B.h, NULL) != 0)
        return fail("cannot start the broker");
    gen++;
    snprintf(pub_id, sizeof pub_id, "bench-pub-%d-%d", (int)getpid(), gen);
    snprintf(sub_id, sizeof sub_id, "bench-sub-%d-%d", (int)getpid(), gen);
    if (client_connect(&B.pub, pub_id, false) != 0 ||
        client_connect(&B.sub, sub_id, true) != 0)
        return fail("cannot connect the measuring clients");
    bench_tune_sockets(dxh_broker_port(B.h));
    if (client_subscribe(B.sub, WARM_TOPIC) != 0 || warm_up() != 0)
        return fail("the measuring clients cannot exchange a message");
    return 0;
}

static void world_down(bool ok)
{
    bench_close(&B.pub);
    bench_close(&B.sub);
    B.n_sent = 0;
    atomic_store(&B.pub_acked, 0);
    if (ok && B.h != NULL)
        dxh_pass(B.h);
    dxh_destroy(B.h);
    B.h = NULL;
    B.obs = NULL;
}

/* sub follows the cluster's heartbeats (see warm_up()) and task topics. */
static int follow_cluster(void)
{
    char hb[DX_TOPIC_MAX + 1];
    if (dx_topic_filter(&B.topics, DX_T_NODE_HEARTBEAT, hb, sizeof hb) != 0 ||
        client_subscribe(B.sub, hb) != 0 || client_subscribe(B.sub, B.t_tasks) != 0)
        return fail("cannot subscribe to the heartbeats and task records");
    return 0;
}

/*
 * Two clusters, each on a broker of its own, so neither task run inherits
 * the other's retained records, clears or troubles: the raw run and the
 * paced latency run on the first, the throughput run on the second.
 */
static int run(void)
{
    double raw = 0;
    bool ok;
    if (track_init(&B.runs[RUN_TPUT], B.n_tasks) != 0 ||
        track_init(&B.runs[RUN_LAT], B.rate * B.rate_s) != 0)
        return fail("out of memory");

    fprintf(stderr, "bench_tasks: first broker: raw, then a cluster for latency\n");
    if (world_up("bench-tasks-lat") != 0 || bench_raw(&raw) != 0 || cluster_up() != 0 ||
        follow_cluster() != 0)
        return -1;
    bench_emit("heartbeat_ms", HB_MS, "ms", "info: agent setting", -1);
    bench_emit("workers", B.workers, "", "info: per agent (default)", -1);
    bench_emit("task_ttl_s", TTL_S, "s", "info: agent setting", -1);
    ok = bench_latency() == 0;
    if (!ok && !B.failed)
        return -1;
    scan_logs("latency");
    world_down(ok);

    fprintf(stderr, "bench_tasks: second broker: a cluster for throughput\n");
    if (world_up("bench-tasks-tput") != 0 || cluster_up() != 0 || follow_cluster() != 0)
        return -1;
    ok = bench_tput(raw) == 0;
    if (!ok && !B.failed)
        return -1;
    scan_logs("throughput");
    world_down(ok);
    return B.failed ? -1 : 0;
}

int main(int argc, char **argv)
{
    B.agent = getenv("DX_AGENT");
    B.n_tasks = 20000;
    B.n_raw = 50000;
    B.rate = 1000;
    B.rate_s = 5;
    B.inflight = 1000;
    B.outstanding = 1000;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--quick") == 0) {
            B.n_tasks = 5000;
            B.n_raw = 10000;
            B.rate_s = 2;
            continue;
        }
        if (v != NULL && strcmp(argv[i], "--agent") == 0)
            B.agent = v;
        else if (v != NULL && strcmp(argv[i], "--tasks") == 0)
            B.n_tasks = atoi(v);
        else if (v != NULL && strcmp(argv[i], "--raw") == 0)
            B.n_raw = atoi(v);
        else if (v != NULL && strcmp(argv[i], "--rate") == 0)
            B.rate = atoi(v);
        else if (v != NULL && strcmp(argv[i], "--rate-s") == 0)
            B.rate_s = atoi(v);
        else if (v != NULL && strcmp(argv[i], "--inflight") == 0)
            B.inflight = atoi(v);
        else if (v != NULL && strcmp(argv[i], "--hold-s") == 0)
            B.hold_s = atoi(v);
        else if (v != NULL && strcmp(argv[i], "--dump") == 0)
            B.dump = v;
        else {
            fprintf(stderr, "usage: bench_tasks --agent PATH [--tasks N] [--raw N] "
                            "[--rate R] [--rate-s S] [--inflight W] [--hold-s S] "
                            "[--dump FILE] [--quick]\n");
            return 2;
        }
        i++;
    }
    if (B.agent == NULL || access(B.agent, X_OK) != 0 || B.n_tasks < 1 ||
        B.n_tasks > 60000 || B.n_raw < 1 || B.n_raw > 999999999 || B.rate < 1 ||
        B.rate > 100000 || B.rate_s < 1 || (long)B.rate * B.rate_s > 60000 ||
        B.inflight < 1 || B.inflight > MAX_INFLIGHT || B.hold_s < 0) {
        fprintf(stderr, "bench_tasks: need an executable --agent, 1..60000 tasks, "
                        "rate x seconds <= 60000, a window of 1..%d\n", MAX_INFLIGHT);
        return 2;
    }
    /* The harness's watchdog (290 s by default) is for tests. */
    setenv("DXH_WATCHDOG_S", "1800", 0);
    int rc = run();
    if (B.h != NULL)
        world_down(false);
    return rc == 0 ? 0 : 1;
}
