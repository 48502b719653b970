/*
 * bench_dfs.c - throughput of the distributed file system (put and get of
 * one large file with R = 3) beside the broker's own throughput for the
 * same bytes in the same message size, and the time a cluster takes to
 * restore R copies after a node dies.
 *
 * Real Mosquitto (broker-config/dev.conf as shipped), real agents, the real
 * CLI, through the integration harness (tests/integration/harness.h).  One
 * file of --mib (64) MiB of pseudo-random bytes (xorshift64*, fixed seed:
 * incompressible, the same in every run) is generated once in memory,
 * written into each harness directory, and cut into messages of --chunk-kb
 * (1024, the agents' default chunk size) KiB.  Two brokers: the first for
 * raw, put and get, a fresh one for repair (so it starts with empty disks
 * and no retained files).
 *
 *   cluster  (first broker) 3 agents (ids 1..3, --cluster bench --chunk-kb
 *            K --replicas 3); wait until the retained leader and members
 *            say leader 3 with nodes 1..3 online for 1 s.
 *            cli_startup_ms = median wall time of 5 `distribux leader`
 *            runs (process start to exit 0: exec, connect, subscribe, one
 *            retained message, disconnect), the fixed cost inside every
 *            CLI figure below.  Not `distribux ls`: it also waits for 300
 *            ms without a new retained file before it prints (its median
 *            time is reported too, cli_ls_ms).
 *   trials   then --trials (5) rounds, each of raw to 3 subscribers, raw
 *            to 1, put, get, so the baseline and the file system see the
 *            same moments of a shared machine (while raw runs, the agents
 *            only send heartbeats).  Each figure is the median over the
 *            rounds; the best round is reported too.
 *   raw      one Paho MQTTAsync publisher of this process publishes the
 *            file as QoS 1 messages of one chunk each on one topic, keeping
 *            at most --window (8) of them unacknowledged (Paho's
 *            maxInflight is the same 8, so nothing waits in Paho's queue),
 *            to which three subscriber clients (three more MQTTAsync
 *            clients of this process, QoS 1, clean sessions) are
 *            subscribed.  raw_mb_s = MiB / (first publish -> the last of
 *            the three has received every byte), the arrival times taken in
 *            the message callback.  Every message is checked (length, first
 *            and last 64 bytes against the file, in order).  raw_1sub_mb_s
 *            is the same with one subscriber (information).  Each run has a
 *            topic of its own (bench/raw/{1|3}/{id}).  The clients are made
 *            without create options, so Paho never refuses a publish for
 *            maxBufferedMessages (and at most 8 wait in its queue anyway);
 *            the broker's own window towards each subscriber is
 *            Mosquitto's default max_inflight_messages, 20.  Paho's receive
 *            thread sleeps 100 ms after a silent second, so every run
 *            starts after a warm-up message that all three subscribers
 *            receive.  The three subscribers share this process's one Paho
 *            receive thread, where the agents have one each: raw is what
 *            one client process takes in, a floor rather than the broker's
 *            ceiling.  This process's sockets get the agents' and the CLI's
 *            socket options (dx_link_tune_socket: TCP_NODELAY, and a 4 MiB
 *            send buffer, without which a 1 MiB message is often written
 *            in part and Paho's receive thread then sleeps 100 ms).
 *   put/get  `distribux put FILE --name bench/64m-T --replicas 3 --chunk-kb
 *            K`, timed from before fork to exit 0; the retained metadata
 *            must then list the file with the right size, SHA-256 and 3
 *            distinct holders for every chunk.  Then `distribux get
 *            bench/64m-T -o OUT`, timed the same way; OUT must equal the
 *            file byte for byte (a mismatch fails the benchmark: exit 1).
 *            dfs_put_mb_s and dfs_get_mb_s are MiB / the median time: end
 *            to end, CLI start-up included.  Targets (the issue's): put >=
 *            raw / 2, get >= 0.7 raw.
 *   repair   (second broker) 4 agents (--repair-grace-ms 0 --replicas 3,
 *            default --repair-parallel unless given), settled with leader
 *            4; put the file as bench/64m (timed: information); of nodes 1
 *            and 2 (never the leader) kill -9 the one holding more chunks.
 *            repair_s = from just before the kill to the arrival at an
 *            observer (a Paho client subscribed to the retained
 *            {root}/dfs/files/bench/64m, decoded with dx_dfs_file_decode;
 *            also subscribed to the heartbeats, so Paho's receive thread
 *            never sleeps) of metadata listing 3 holders other than the
 *            dead node for every chunk.  It includes failure detection
 *            (the broker's will: milliseconds) and the leader's planning.
 *            repair_chunks: chunks the dead node held (copies to make).
 *            repair_dead_listed: chunks whose metadata still names the dead
 *            node (information; 0 when the leader drops dead holders).
 *            Then `distribux get` must still return the exact file.
 *
 * Disk: every put stores R copies (3 x 64 MiB per round) in the harness
 * directory, removed when the benchmark passes.  Figures are MiB/s
 * (2^20 bytes per second).  The machine's busy CPU over the raw and the
 * put/get phases is reported too (/proc/stat, all CPUs, % of one core):
 * other work on the machine skews every figure.  So is the CPU each side
 * used per MiB of file (cpu_ms_per_mib_{raw,put,get}_{broker,agents,
 * client}: utime + stime of the broker and the agents from /proc, of this
 * process for raw, of the CLI for put and get), which says where a
 * throughput goes on a machine whose two cores everything shares.
 *
 * Output: one JSON object per figure on stdout (bench.h), progress on
 * stderr.  Exit 0 when every figure was measured, 1 when a measurement
 * failed or a file came back wrong (the harness keeps its directory and
 * prints the logs), 2 for bad arguments.
 *
 *   bench_dfs --agent PATH --cli PATH [--mib N] [--chunk-kb K] [--trials T]
 *             [--window W] [--repair-parallel P] [--phases LIST] [--quick]
 *
 * --agent and --cli default to $DX_AGENT and $DX_CLI.  --phases: any of
 * raw,putget,repair (default all; without raw, put and get get no
 * verdict).  --quick (a smoke run, not figures): 16 MiB, 1 round.  Take
 * figures from a build without sanitizers:
 *   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && cmake --build build-rel
 */
#include "bench.h"

#include <MQTTAsync.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

#include "dx_dfs.h"
#include "dx_hash.h"
#include "dx_msg.h"
#include "dx_topic.h"
#include "harness.h"

#define N_SUBS 3
#define REPLICAS 3            /* R of every file */
#define PUT_AGENTS 3
#define REPAIR_AGENTS 4
#define WAIT_MS 20000         /* cluster start-up */
#define CLI_MS 300000         /* one put or get, at most */
#define RAW_MS 120000         /* one raw trial, at most */
#define REPAIR_MS 300000
#define LS_RUNS 5             /* distribux leader and ls, each */
#define RAW_PREFIX "bench/raw/"
#define WARM_TOPIC "bench/warm"
#define CHECK_BYTES 64        /* checked at each end of a raw message */
#define MIB (1024.0 * 1024.0)
#define PH_RAW 1
#define PH_PUTGET 2
#define PH_REPAIR 4

/* ---- the Paho clients of the raw phase ---------------------------------- */

/* One blocking operation (connect, subscribe) of one client.  It lives as
 * long as its client, so a late callback never writes into freed memory. */
/* The publisher. */
typedef struct tx {
    MQTTAsync c;
    bench_op o;
    long n_sent;              /* QoS 1 messages handed to Paho */
    atomic_long acked;        /* their PUBACKs */
} tx;

/* One subscriber.  Written by Paho's receive thread; the main thread reads
 * the counters, and sets `trial` before publishing. */
typedef struct rx {
    MQTTAsync c;
    bench_op o;
    const unsigned char *data;    /* the file, to check what arrives */
    size_t size, chunk;
    atomic_int trial;             /* the trial that counts, -1 none */
    atomic_int n_msgs;            /* of that trial, in order */
    atomic_long n_bytes;
    atomic_long bad;              /* wrong length or content */
    atomic_long stray;            /* other topics, other trials */
    atomic_long warm;
    _Atomic int64_t t_last;       /* arrival of the trial's last message */
} rx;

typedef struct bench {
    const char *agent, *cli;
    int trials, chunk_kb, window, repair_parallel;
    int phases;                   /* PH_... */
    size_t size, chunk;
    uint32_t n_chunks;
    unsigned char *data;
    char sha[65];
    char mib_name[32];            /* "64m" */
    dxh *h;
    dxh_obs *obs;
    dx_topics topics;
    char t_leader[DX_TOPIC_MAX + 1];
    char t_members[DX_TOPIC_MAX + 1];
    char file_path[512];
    tx pub;
    rx sub[N_SUBS];
    dx_dfs_file *meta;            /* scratch for decoding */
    dx_msg_members *view;         /* scratch */
} bench;

static int fail(bench *b, const char *what)
{
    fprintf(stderr, "bench_dfs: %s\n", what);
    if (b->h != NULL)
        dxh_fail(b->h);
    return -1;
}

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n), n > 0 (the mean of the middle two for even n);
 * sorts v. */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, by_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* A raw message: "bench/raw/{subs}/{trial}" carrying chunk n_msgs of the
 * file (QoS 1 from one publisher on one topic arrives in order). */
static void on_raw(rx *r, const char *topic, size_t len, const unsigned char *p,
                   size_t plen, int64_t now)
{
    const size_t pl = sizeof RAW_PREFIX - 1;
    long trial = len > pl + 2 ? bench_parse_uint(topic + pl + 2, len - pl - 2) : -1;
    if (trial < 0 || trial != atomic_load(&r->trial)) {
        atomic_fetch_add(&r->stray, 1);
        return;
    }
    size_t off = (size_t)atomic_load(&r->n_msgs) * r->chunk;
    size_t want = off < r->size ? r->size - off : 0;
    if (want > r->chunk)
        want = r->chunk;
    size_t k = want < CHECK_BYTES ? want : CHECK_BYTES;
    if (want == 0 || plen != want || memcmp(p, r->data + off, k) != 0 ||
        memcmp(p + plen - k, r->data + off + want - k, k) != 0) {
        atomic_fetch_add(&r->bad, 1);
        return;
    }
    atomic_fetch_add(&r->n_bytes, (long)plen);
    atomic_store(&r->t_last, now);
    atomic_fetch_add_explicit(&r->n_msgs, 1, memory_order_release);
}

static int on_message(void *ctx, char *topic, int tlen, MQTTAsync_message *m)
{
    int64_t now = dxh_now_ns();
    rx *r = ctx;
    size_t len = tlen > 0 ? (size_t)tlen : strlen(topic);
    size_t plen = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;

    if (len > sizeof RAW_PREFIX - 1 &&
               memcmp(topic, RAW_PREFIX, sizeof RAW_PREFIX - 1) == 0) {
        on_raw(r, topic, len, m->payload, plen, now);
    } else if (len == sizeof WARM_TOPIC - 1 && memcmp(topic, WARM_TOPIC, len) == 0) {
        atomic_fetch_add(&r->warm, 1);
    } else {
        atomic_fetch_add(&r->stray, 1);
    }
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

/* The publisher's: it subscribes to nothing. */
static int on_message_pub(void *ctx, char *topic, int tlen, MQTTAsync_message *m)
{
    (void)ctx, (void)tlen;
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void on_delivered(void *ctx, MQTTAsync_token tok)
{
    tx *t = ctx;
    (void)tok;
    atomic_fetch_add(&t->acked, 1);
}

static void on_lost(void *ctx, char *cause)
{
    (void)ctx;
    fprintf(stderr, "bench_dfs: a measuring client lost its connection: %s\n",
            cause ? cause : "?");
}

/* Connects client *c as id; ctx is the rx of a subscriber, or the tx of
 * the publisher (then it gets delivery callbacks). */
static int client_connect(bench *b, MQTTAsync *c, bench_op *o, const char *id,
                          rx *r, tx *t)
{
    if (MQTTAsync_create(c, dxh_broker_url(b->h), id, MQTTCLIENT_PERSISTENCE_NONE,
                         NULL) != MQTTASYNC_SUCCESS)
        return -1;
    if ((t != NULL ? MQTTAsync_setCallbacks(*c, t, on_lost, on_message_pub, on_delivered)
                   : MQTTAsync_setCallbacks(*c, r, on_lost, on_message, NULL)) !=
        MQTTASYNC_SUCCESS)
        return -1;
    return bench_connect(*c, o, b->window);
}

/* Publishes one QoS 1 message, keeping at most b->window unacknowledged
 * (waits for PUBACKs first when the window is full). */
static int publish(bench *b, const char *topic, const void *payload, size_t len)
{
    MQTTAsync_message m = MQTTAsync_message_initializer;
    int64_t dl = dxh_now_ns() + 30000000000LL;
    m.payload = (void *)payload;
    m.payloadlen = (int)len;
    m.qos = 1;
    while (b->pub.n_sent - atomic_load(&b->pub.acked) >= b->window) {
        if (dxh_now_ns() > dl)
            return -1;
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
    if (MQTTAsync_sendMessage(b->pub.c, topic, &m, NULL) != MQTTASYNC_SUCCESS)
        return -1;
    b->pub.n_sent++;
    return 0;
}

/* Emits name: the busy CPU of the whole machine between two
 * bench_machine_busy_ticks() taken wall_s apart, in % of one core. */
static void emit_machine(const char *name, double busy0, double busy1,
                         double wall_s)
{
    if (busy0 < 0 || busy1 < 0 || wall_s <= 0)
        return;
    bench_emit(name, round((busy1 - busy0) / (double)sysconf(_SC_CLK_TCK) / wall_s * 100),
               "%", "info: all CPUs busy, % of one core", -1);
}

/* ---- raw --------------------------------------------------------------- */

/* Every subscriber receives one message on WARM_TOPIC (see the top). */
static int warm_up(bench *b)
{
    long n[N_SUBS];
    for (int i = 0; i < N_SUBS; i++)
        n[i] = atomic_load(&b->sub[i].warm);
    if (publish(b, WARM_TOPIC, "warm", 4) != 0)
        return -1;
    for (int i = 0; i < N_SUBS; i++)
        for (int k = 0; k < 5000 && atomic_load(&b->sub[i].warm) == n[i]; k++)
            dxh_sleep_ms(1);
    for (int i = 0; i < N_SUBS; i++)
        if (atomic_load(&b->sub[i].warm) == n[i])
            return -1;
    return 0;
}

/* One raw trial to n_subs (1 or 3) subscribers; sets *s to the seconds
 * from the first publish to the last byte at the last subscriber. */
static int raw_trial(bench *b, int n_subs, int trial, double *s)
{
    char topic[64];
    snprintf(topic, sizeof topic, RAW_PREFIX "%d/%d", n_subs, trial);
    for (int i = 0; i < N_SUBS; i++) {
        rx *r = &b->sub[i];
        atomic_store(&r->trial, i < n_subs ? trial : -1);
        atomic_store(&r->n_msgs, 0);
        atomic_store(&r->n_bytes, 0);
        atomic_store(&r->t_last, 0);
    }
    if (warm_up(b) != 0)
        return fail(b, "raw: the warm-up message did not reach every subscriber");
    int64_t t0 = dxh_now_ns();
    for (uint32_t k = 0; k < b->n_chunks; k++) {
        size_t off = (size_t)k * b->chunk;
        size_t len = b->size - off < b->chunk ? b->size - off : b->chunk;
        if (publish(b, topic, b->data + off, len) != 0)
            return fail(b, "raw: publish failed");
    }
    int64_t dl = t0 + (int64_t)RAW_MS * 1000000;
    int done = 0;
    while (done < n_subs && dxh_now_ns() < dl) {
        done = 0;
        for (int i = 0; i < n_subs; i++)
            done += atomic_load_explicit(&b->sub[i].n_msgs, memory_order_acquire) ==
                    (int)b->n_chunks;
        if (done < n_subs)
            dxh_sleep_ms(1);
    }
    int64_t last = 0;
    for (int i = 0; i < n_subs; i++) {
        rx *r = &b->sub[i];
        if (atomic_load(&r->t_last) > last)
            last = atomic_load(&r->t_last);
        if (atomic_load(&r->bad) > 0 || atomic_load(&r->n_msgs) != (int)b->n_chunks ||
            (size_t)atomic_load(&r->n_bytes) != b->size) {
            fprintf(stderr, "bench_dfs: raw: subscriber %d: %d of %u messages, %ld "
                    "bytes, %ld bad\n", i + 1, atomic_load(&r->n_msgs), b->n_chunks,
                    atomic_load(&r->n_bytes), atomic_load(&r->bad));
            return fail(b, "raw: a subscriber did not receive the exact bytes");
        }
    }
    *s = (double)(last - t0) / 1e9;
    return 0;
}

static int connect_raw_clients(bench *b)
{
    char id[64];
    snprintf(id, sizeof id, "bench-dfs-pub-%d", (int)getpid());
    if (client_connect(b, &b->pub.c, &b->pub.o, id, NULL, &b->pub) != 0)
        return fail(b, "raw: cannot connect the publisher");
    for (int i = 0; i < N_SUBS; i++) {
        rx *r = &b->sub[i];
        r->data = b->data;
        r->size = b->size;
        r->chunk = b->chunk;
        atomic_store(&r->trial, -1);
        snprintf(id, sizeof id, "bench-dfs-sub%d-%d", i + 1, (int)getpid());
        /* sub1 takes both kinds of trial, sub2 and sub3 the 3-subscriber
         * ones only. */
        if (client_connect(b, &r->c, &r->o, id, r, NULL) != 0 ||
            bench_subscribe(r->c, &r->o, WARM_TOPIC) != 0 ||
            bench_subscribe(r->c, &r->o, i == 0 ? RAW_PREFIX "+/+" : RAW_PREFIX "3/+") != 0)
            return fail(b, "raw: cannot connect and subscribe a subscriber");
    }
    bench_tune_sockets(dxh_broker_port(b->h));
    return 0;
}

static void close_raw_clients(bench *b)
{
    bench_close(&b->pub.c);
    for (int i = 0; i < N_SUBS; i++)
        bench_close(&b->sub[i].c);
}

/* ---- the cluster ------------------------------------------------------- */

/* Whether the retained leader and members say: leader `leader`, nodes
 * 1..n online. */
static bool cluster_ok(bench *b, uint16_t n, uint16_t leader)
{
    char *lp = dxh_obs_last_payload(b->obs, b->t_leader);
    char *mp = dxh_obs_last_payload(b->obs, b->t_members);
    dx_msg_leader l;
    dx_diag d;
    bool ok = lp != NULL && mp != NULL &&
              dx_msg_leader_decode(lp, strlen(lp), &l, &d) == 0 && l.leader == leader &&
              dx_msg_members_decode(mp, strlen(mp), b->view, &d) == 0 &&
              b->view->leader == leader;
    for (uint16_t id = 1; ok && id <= n; id++) {
        bool on = false;
        for (size_t i = 0; i < b->view->n; i++)
            if (b->view->nodes[i].id == id && b->view->nodes[i].state == DX_VIEW_ONLINE)
                on = true;
        ok = on;
    }
    free(lp);
    free(mp);
    return ok;
}

/* Starts n agents with extra options and waits until node n leads nodes
 * 1..n, all online, for one second.  The observer follows the leader,
 * the members, every file's metadata and the heartbeats (so Paho's
 * receive thread never sleeps: see the top). */
static int cluster_up(bench *b, int n, const char *const extra[])
{
    char filt[DX_TOPIC_MAX + 1];
    dx_diag d;
    if (dx_topics_init(&b->topics, NULL, "bench", &d) != 0 ||
        dx_topic_build(&b->topics, DX_T_LEADER, 0, NULL, b->t_leader,
                       sizeof b->t_leader) != 0 ||
        dx_topic_build(&b->topics, DX_T_MEMBERS, 0, NULL, b->t_members,
                       sizeof b->t_members) != 0)
        return fail(b, "cannot build the topics");
    b->obs = dxh_obs_new(b->h, NULL);
    if (b->obs == NULL || dxh_obs_subscribe(b->obs, b->t_leader) != 0 ||
        dxh_obs_subscribe(b->obs, b->t_members) != 0 ||
        dx_dfs_filter_files(&b->topics, filt, sizeof filt) != 0 ||
        dxh_obs_subscribe(b->obs, filt) != 0 ||
        dx_topic_filter(&b->topics, DX_T_NODE_HEARTBEAT, filt, sizeof filt) != 0 ||
        dxh_obs_subscribe(b->obs, filt) != 0)
        return fail(b, "cannot start the observer");
    if (dxh_agents_start(b->h, b->agent, n, extra) != 0)
        return fail(b, "cannot start the agents");
    int64_t dl = dxh_now_ns() + (int64_t)WAIT_MS * 1000000, since = 0;
    for (;;) {
        if (dxh_now_ns() > dl)
            return fail(b, "the cluster did not settle (highest id leads, all online)");
        if (!cluster_ok(b, (uint16_t)n, (uint16_t)n))
            since = 0;
        else if (since == 0)
            since = dxh_now_ns();
        else if (dxh_now_ns() - since >= 1000000000LL)
            break;
        dxh_sleep_ms(20);
    }
    fprintf(stderr, "bench_dfs: cluster up: %d agents, root %s, leader %d\n", n,
            b->topics.root, n);
    return 0;
}

/* Prints the end of WORKDIR/run.log (the CLI's stderr). */
static void print_run_log(bench *b)
{
    char path[512];
    char buf[4096];
    dxh_path(b->h, path, sizeof path, "run.log");
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    if (fseek(f, 0, SEEK_END) == 0) {
        long end = ftell(f);
        (void)fseek(f, end > (long)sizeof buf - 1 ? end - (long)sizeof buf + 1 : 0,
                    SEEK_SET);
    }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    fprintf(stderr, "bench_dfs: the end of %s:\n%s\n", path, buf);
}

/* Runs `distribux --broker URL --cluster bench ARGS...` (at most 8 args,
 * NULL-terminated) to completion; sets *s to its wall time.  0 when it
 * exited 0. */
static int run_cli(bench *b, double *s, const char *const args[])
{
    const char *argv[16];
    int n = 0, code = -1;
    argv[n++] = b->cli;
    argv[n++] = "--broker";
    argv[n++] = dxh_broker_url(b->h);
    argv[n++] = "--cluster";
    argv[n++] = "bench";
    for (int i = 0; args[i] != NULL && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char *out = NULL;
    int64_t t0 = dxh_now_ns();
    int rc = dxh_run(b->h, argv, CLI_MS, &out, NULL, &code);
    int64_t t1 = dxh_now_ns();
    free(out);
    *s = (double)(t1 - t0) / 1e9;
    if (rc != 0 || code != 0) {
        fprintf(stderr, "bench_dfs: distribux %s %s: %s, exit %d after %.3f s\n",
                args[0], args[1] != NULL ? args[1] : "",
                rc != 0 ? "timed out" : "failed", code, *s);
        print_run_log(b);
        return -1;
    }
    return 0;
}

/* The retained metadata of name, decoded into b->meta, or -1. */
static int read_meta(bench *b, const char *name)
{
    char topic[DX_DFS_TOPIC_MAX + 1];
    dx_diag d;
    if (dx_dfs_topic_file(&b->topics, name, topic, sizeof topic) != 0)
        return -1;
    char *p = dxh_obs_last_payload(b->obs, topic);
    int rc = p != NULL && p[0] != '\0' &&
                     dx_dfs_file_decode(p, strlen(p), b->meta, &d) == 0
                 ? 0 : -1;
    free(p);
    return rc;
}

/* Whether b->meta is the file: size, SHA-256, chunking, and R distinct
 * holders of every chunk. */
static bool meta_is_file(bench *b)
{
    const dx_dfs_file *f = b->meta;
    if (f->size != b->size || strcmp(f->sha256, b->sha) != 0 ||
        f->chunk_size != b->chunk || f->n_chunks != b->n_chunks)
        return false;
    for (uint32_t i = 0; i < f->n_chunks; i++) {
        const dx_dfs_chunk *c = &f->chunks[i];
        if (c->n != REPLICAS)
            return false;
        for (uint32_t x = 0; x < c->n; x++)
            for (uint32_t y = x + 1; y < c->n; y++)
                if (c->nodes[x] == c->nodes[y])
                    return false;
    }
    return true;
}

/* Waits (5 s) until the metadata of name describes the file; prints how
 * many chunks each node holds. */
static int check_meta(bench *b, const char *name)
{
    int64_t dl = dxh_now_ns() + 5000000000LL;
    while (read_meta(b, name) != 0 || !meta_is_file(b)) {
        if (dxh_now_ns() > dl) {
            fprintf(stderr, "bench_dfs: the metadata of %s does not describe the "
                    "file (%u chunks of %zu bytes, sha256 %s, %d holders each)\n",
                    name, b->n_chunks, b->chunk, b->sha, REPLICAS);
            return fail(b, "wrong or missing metadata after put");
        }
        dxh_sleep_ms(10);
    }
    int per[REPAIR_AGENTS + 1] = {0};
    for (uint32_t i = 0; i < b->meta->n_chunks; i++)
        for (uint32_t k = 0; k < b->meta->chunks[i].n; k++)
            if (b->meta->chunks[i].nodes[k] <= REPAIR_AGENTS)
                per[b->meta->chunks[i].nodes[k]]++;
    fprintf(stderr, "bench_dfs: %s: %u chunks; copies per node: 1:%d 2:%d 3:%d 4:%d\n",
            name, b->meta->n_chunks, per[1], per[2], per[3], per[4]);
    return 0;
}

/* Whether the file at path holds exactly the benchmark's bytes. */
static bool file_equals(bench *b, const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = malloc(1 << 20);
    size_t off = 0, n;
    bool same = f != NULL && buf != NULL;
    while (same && (n = fread(buf, 1, 1 << 20, f)) > 0) {
        same = off + n <= b->size && memcmp(buf, b->data + off, n) == 0;
        off += n;
    }
    same = same && off == b->size && !ferror(f);
    if (f != NULL)
        fclose(f);
    free(buf);
    return same;
}

/* `distribux get NAME -o WORKDIR/get.bin`, timed, then compared byte for
 * byte with the file (and removed). */
static int get_and_compare(bench *b, const char *name, double *s)
{
    char out[512];
    dxh_path(b->h, out, sizeof out, "get.bin");
    const char *const args[] = {"get", name, "-o", out, NULL};
    if (run_cli(b, s, args) != 0)
        return fail(b, "get failed");
    if (!file_equals(b, out)) {
        fprintf(stderr, "bench_dfs: %s: what get wrote is not the file put\n", out);
        return fail(b, "get returned different bytes");
    }
    unlink(out);
    return 0;
}

/* Writes the benchmark's file into the harness directory. */
static int write_file(bench *b)
{
    dxh_path(b->h, b->file_path, sizeof b->file_path, "bench-%s.bin", b->mib_name);
    FILE *f = fopen(b->file_path, "wb");
    bool ok = f != NULL && fwrite(b->data, 1, b->size, f) == b->size;
    if (f != NULL && fclose(f) != 0)
        ok = false;
    return ok ? 0 : fail(b, "cannot write the file");
}

/* The arguments of `distribux put FILE --name name --replicas 3
 * --chunk-kb chunk_kb`. */
static void put_args(const char *name, const char *args[10], const char *path,
                     const char *chunk_kb)
{
    args[0] = "put";
    args[1] = path;
    args[2] = "--name";
    args[3] = name;
    args[4] = "--replicas";
    args[5] = "3";
    args[6] = "--chunk-kb";
    args[7] = chunk_kb;
    args[8] = NULL;
}

/* ---- raw, put and get -------------------------------------------------- */

/* MiB/s of the file over the median (and over the best) of n times. */
static double rate_median(const bench *b, double *s, int n)
{
    return bench_round2((double)b->size / MIB / median(s, n));
}

static double rate_best(const bench *b, double *s, int n)
{
    qsort(s, (size_t)n, sizeof *s, by_double);
    return bench_round2((double)b->size / MIB / s[0]);
}

/* The figures of the raw and put/get phases, from the times of every
 * trial (NULL: that phase was not run). */
static void emit_throughput(bench *b, double *t3, double *t1, double *put_s,
                            double *get_s, double startup_s, double ls_s)
{
    char target[96];
    int n = b->trials;
    double raw = 0;
    if (t3 != NULL) {
        raw = rate_median(b, t3, n);
        snprintf(target, sizeof target, "baseline: QoS 1, %d KiB msgs, %d subscribers",
                 b->chunk_kb, N_SUBS);
        bench_emit("raw_mb_s", raw, "MiB/s", target, -1);
        bench_emit("raw_best_mb_s", rate_best(b, t3, n), "MiB/s", "info: best trial", -1);
        bench_emit("raw_1sub_mb_s", rate_median(b, t1, n), "MiB/s",
                   "info: the same to 1 subscriber", -1);
        bench_emit("raw_window", b->window, "", "info: unacked QoS 1 messages of pub", -1);
    }
    if (put_s == NULL)
        return;
    double put = rate_median(b, put_s, n), get = rate_median(b, get_s, n);
    /* raw is 0 when the raw phase was not run: no verdict then. */
    snprintf(target, sizeof target, ">= raw / 2 = %.2f", raw / 2);
    bench_emit("dfs_put_mb_s", put, "MiB/s", target, raw > 0 ? put >= raw / 2 : -1);
    snprintf(target, sizeof target, ">= 0.7 raw = %.2f", raw * 0.7);
    bench_emit("dfs_get_mb_s", get, "MiB/s", target, raw > 0 ? get >= raw * 0.7 : -1);
    bench_emit("dfs_put_best_mb_s", rate_best(b, put_s, n), "MiB/s", "info: best trial", -1);
    bench_emit("dfs_get_best_mb_s", rate_best(b, get_s, n), "MiB/s", "info: best trial", -1);
    bench_emit("cli_startup_ms", bench_round2(startup_s * 1000), "ms",
               "info: distribux leader, start to exit, median", -1);
    bench_emit("cli_ls_ms", bench_round2(ls_s * 1000), "ms",
               "info: distribux ls (waits 300 ms quiet), median", -1);
    bench_emit("dfs_file_mib", (double)b->size / MIB, "MiB", "info: pseudo-random bytes", -1);
    bench_emit("dfs_chunk_kb", b->chunk_kb, "KiB", "info: chunk and raw msg size", -1);
    bench_emit("dfs_replicas", REPLICAS, "", "info: R, 3 agents", -1);
}

/* CPU seconds used so far by the broker, the agents (summed) and the
 * client side: this process for raw (its Paho clients are the raw
 * publisher and subscribers), the CLI for put and get (waited-for
 * children: dxh_run reaps it). */
typedef struct cpu_mark {
    double broker, agents, self, children;
} cpu_mark;

static double timeval_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void cpu_take(const bench *b, int n_agents, cpu_mark *m)
{
    struct rusage self, kids;
    double hz = (double)sysconf(_SC_CLK_TCK);
    m->broker =
        bench_proc_cpu_ticks((int)dxh_proc_pid(dxh_broker_proc(b->h))) / hz;
    m->agents = 0;
    for (int i = 1; i <= n_agents; i++)
        if (dxh_agent(b->h, i) != NULL)
            m->agents +=
                bench_proc_cpu_ticks((int)dxh_proc_pid(dxh_agent(b->h, i))) / hz;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &kids);
    m->self = timeval_s(self.ru_utime) + timeval_s(self.ru_stime);
    m->children = timeval_s(kids.ru_utime) + timeval_s(kids.ru_stime);
}

/* Adds what ran between a and z to acc[0..2]: broker, agents, client. */
static void cpu_add(double acc[3], const cpu_mark *a, const cpu_mark *z,
                    bool client_is_self)
{
    acc[0] += z->broker - a->broker;
    acc[1] += z->agents - a->agents;
    acc[2] += client_is_self ? z->self - a->self : z->children - a->children;
}

/* CPU ms per MiB of file, by process, in each kind of run (summed over
 * the trials; the get's excludes the byte comparison that follows it). */
static void emit_cpu(const bench *b, bool raw, bool putget, double cpu[3][3])
{
    static const char *const kind[3] = {"raw", "put", "get"};
    static const char *const who[3] = {"broker", "agents", "client"};
    static const char *const what[3] = {
        "info: CPU of the broker", "info: CPU of the 3 agents",
        "info: CPU of the client (raw: this process; put, get: the CLI)"};
    double mib = (double)b->size / MIB * b->trials;
    char name[64];
    for (int k = 0; k < 3; k++) {
        if (!(k == 0 ? raw : putget) || mib <= 0)
            continue;
        for (int w = 0; w < 3; w++) {
            if (k == 0 && w == 1)
                continue;             /* the agents take no part in raw */
            snprintf(name, sizeof name, "cpu_ms_per_mib_%s_%s", kind[k],
                     who[w]);
            bench_emit(name, bench_round2(cpu[k][w] * 1000.0 / mib), "ms",
                       what[w], -1);
        }
    }
}

/*
 * The first broker: the cluster (for put/get), then --trials rounds of
 * raw (3 subscribers, then 1) and put, get, so both kinds of figure see
 * the same moments of the machine.
 */
static int bench_throughput(bench *b)
{
    static const char *const ls[] = {"ls", NULL}, *const leader[] = {"leader", NULL};
    const bool raw = b->phases & PH_RAW, putget = b->phases & PH_PUTGET;
    char ckb[16], name[64];
    const char *args[10];
    double ls_s[LS_RUNS], leader_s[LS_RUNS], startup = 0, ls_med = 0;
    double mib = (double)b->size / MIB;
    size_t n = (size_t)b->trials;
    double *t3 = calloc(n, sizeof *t3), *t1 = calloc(n, sizeof *t1);
    double *put_s = calloc(n, sizeof *put_s), *get_s = calloc(n, sizeof *get_s);
    int rc = -1;
    if (t3 == NULL || t1 == NULL || put_s == NULL || get_s == NULL) {
        fail(b, "out of memory");
        goto out;
    }
    snprintf(ckb, sizeof ckb, "%d", b->chunk_kb);
    const char *const extra[] = {"--cluster", "bench", "--chunk-kb", ckb, "--replicas",
                                 "3", "--log-level", "info", NULL};
    if (putget) {
        if (write_file(b) != 0 || cluster_up(b, PUT_AGENTS, extra) != 0)
            goto out;
        for (int i = 0; i < LS_RUNS; i++)
            if (run_cli(b, &leader_s[i], leader) != 0 || run_cli(b, &ls_s[i], ls) != 0) {
                fail(b, "distribux leader or ls failed");
                goto out;
            }
        startup = median(leader_s, LS_RUNS);
        ls_med = median(ls_s, LS_RUNS);
    }
    if (raw && connect_raw_clients(b) != 0)
        goto out;
    fprintf(stderr, "bench_dfs: %d trials of %.0f MiB in %u chunks of %d KiB; raw "
            "window %d\n", b->trials, mib, b->n_chunks, b->chunk_kb, b->window);

    double busy0 = bench_machine_busy_ticks();
    int64_t w0 = dxh_now_ns();
    /* CPU seconds of [raw to 3, put, get][broker, agents, client]. */
    double cpu[3][3] = {{0}};
    cpu_mark m0, m1;
    const int n_agents = putget ? PUT_AGENTS : 0;
    for (int t = 0; t < b->trials; t++) {
        /* Trial ids are unique across both kinds (sub1 takes both). */
        cpu_take(b, n_agents, &m0);
        if (raw && raw_trial(b, N_SUBS, 2 * t, &t3[t]) != 0)
            goto out;
        cpu_take(b, n_agents, &m1);
        cpu_add(cpu[0], &m0, &m1, true);
        if (raw && raw_trial(b, 1, 2 * t + 1, &t1[t]) != 0)
            goto out;
        if (raw)
            fprintf(stderr, "bench_dfs: trial %d: raw to 3 subscribers %.3f s (%.1f "
                    "MiB/s), to 1 %.3f s (%.1f MiB/s)\n", t + 1, t3[t], mib / t3[t],
                    t1[t], mib / t1[t]);
        if (!putget)
            continue;
        snprintf(name, sizeof name, "bench/%s-%d", b->mib_name, t + 1);
        put_args(name, args, b->file_path, ckb);
        cpu_take(b, n_agents, &m0);
        if (run_cli(b, &put_s[t], args) != 0) {
            fail(b, "put failed");
            goto out;
        }
        cpu_take(b, n_agents, &m1);
        cpu_add(cpu[1], &m0, &m1, false);
        if (check_meta(b, name) != 0)
            goto out;
        cpu_take(b, n_agents, &m0);
        if (get_and_compare(b, name, &get_s[t]) != 0)
            goto out;
        cpu_take(b, n_agents, &m1);
        cpu_add(cpu[2], &m0, &m1, false);
        fprintf(stderr, "bench_dfs: trial %d: put %.3f s (%.1f MiB/s), get %.3f s "
                "(%.1f MiB/s)\n", t + 1, put_s[t], mib / put_s[t], get_s[t],
                mib / get_s[t]);
    }
    double busy1 = bench_machine_busy_ticks();
    double wall = (double)(dxh_now_ns() - w0) / 1e9;
    long stray = 0;
    for (int i = 0; i < N_SUBS; i++)
        stray += atomic_load(&b->sub[i].stray);
    if (stray > 0)
        fprintf(stderr, "bench_dfs: raw: %ld messages of other trials arrived\n", stray);
    emit_throughput(b, raw ? t3 : NULL, t1, putget ? put_s : NULL, get_s, startup,
                    ls_med);
    bench_emit("dfs_trials", b->trials, "", "info: medians of", -1);
    emit_machine("dfs_cpu_machine_pct", busy0, busy1, wall);
    emit_cpu(b, raw, putget, cpu);
    rc = 0;
out:
    close_raw_clients(b);
    free(t3);
    free(t1);
    free(put_s);
    free(get_s);
    return rc;
}

/* ---- repair ------------------------------------------------------------ */

typedef struct repair_watch {
    bench *b;
    const char *topic;
    uint16_t dead;
    int64_t t_first;              /* first metadata after the kill */
    long n_updates;
    uint32_t short_chunks;        /* in the last update: < R live holders */
    uint32_t dead_listed;         /* in the last update: naming the dead node */
} repair_watch;

/* Metadata of the file listing R holders other than the dead node for
 * every chunk. */
static bool pred_repaired(const dxh_msg *m, void *ctx)
{
    repair_watch *w = ctx;
    dx_diag d;
    if (strcmp(m->topic, w->topic) != 0 || m->payload_len == 0 ||
        dx_dfs_file_decode(m->payload, m->payload_len, w->b->meta, &d) != 0)
        return false;
    if (w->t_first == 0)
        w->t_first = m->t_ns;
    w->n_updates++;
    w->short_chunks = 0;
    w->dead_listed = 0;
    for (uint32_t i = 0; i < w->b->meta->n_chunks; i++) {
        const dx_dfs_chunk *c = &w->b->meta->chunks[i];
        uint32_t live = 0;
        for (uint32_t k = 0; k < c->n; k++) {
            if (c->nodes[k] == w->dead)
                w->dead_listed++;
            else
                live++;
        }
        if (live < REPLICAS)
            w->short_chunks++;
    }
    return w->b->meta->n_chunks == w->b->n_chunks && w->short_chunks == 0;
}

static int bench_repair(bench *b)
{
    char ckb[16], par[16], name[64], topic[DX_DFS_TOPIC_MAX + 1], target[96];
    const char *args[10];
    double put_s, get_s;
    snprintf(ckb, sizeof ckb, "%d", b->chunk_kb);
    snprintf(par, sizeof par, "%d", b->repair_parallel);
    /* Without --repair-parallel the NULL in its place ends the list. */
    const char *const extra[] = {"--cluster", "bench", "--chunk-kb", ckb,
                                 "--replicas", "3", "--repair-grace-ms", "0",
                                 "--log-level", "info",
                                 b->repair_parallel > 0 ? "--repair-parallel" : NULL,
                                 par, NULL};
    snprintf(name, sizeof name, "bench/%s", b->mib_name);
    if (write_file(b) != 0 || cluster_up(b, REPAIR_AGENTS, extra) != 0 ||
        dx_dfs_topic_file(&b->topics, name, topic, sizeof topic) != 0)
        return fail(b, "repair: cannot start");
    put_args(name, args, b->file_path, ckb);
    if (run_cli(b, &put_s, args) != 0)
        return fail(b, "repair: put failed");
    if (check_meta(b, name) != 0)
        return -1;

    /* The victim: node 1 or 2 (the leader is 4), whichever holds more. */
    uint32_t held[3] = {0};
    for (uint32_t i = 0; i < b->meta->n_chunks; i++)
        for (uint32_t k = 0; k < b->meta->chunks[i].n; k++)
            if (b->meta->chunks[i].nodes[k] == 1 || b->meta->chunks[i].nodes[k] == 2)
                held[b->meta->chunks[i].nodes[k]]++;
    uint16_t dead = held[2] > held[1] ? 2 : 1;
    uint32_t copies = held[dead];
    if (copies == 0)
        return fail(b, "repair: neither node 1 nor node 2 holds a chunk");
    dxh_proc *victim = dxh_agent(b->h, dead);
    fprintf(stderr, "bench_dfs: repair: kill -9 node %u, which holds %u of %u chunks\n",
            dead, copies, b->n_chunks);

    repair_watch w = {.b = b, .topic = topic, .dead = dead};
    uint64_t mark = dxh_obs_mark(b->obs);
    int64_t t_kill = dxh_now_ns();
    if (victim == NULL || dxh_proc_signal(victim, SIGKILL) != 0)
        return fail(b, "repair: cannot kill the node");
    const dxh_msg *m = dxh_obs_wait_for_from(b->obs, mark, pred_repaired, &w, REPAIR_MS);
    if (m == NULL) {
        fprintf(stderr, "bench_dfs: repair: after %d s, %ld metadata updates; in the "
                "last, %u chunks with fewer than %d live holders, %u naming node %u\n",
                REPAIR_MS / 1000, w.n_updates, w.short_chunks, REPLICAS, w.dead_listed, dead);
        return fail(b, "repair: R copies were not restored");
    }
    double repair_s = (double)(m->t_ns - t_kill) / 1e9;
    fprintf(stderr, "bench_dfs: repair: %u chunks copied in %.3f s (first update "
            "after %.3f s, %ld updates); %u chunks still name node %u\n", copies,
            repair_s, (double)(w.t_first - t_kill) / 1e9, w.n_updates, w.dead_listed,
            dead);
    if (get_and_compare(b, name, &get_s) != 0)
        return -1;

    double mib = (double)copies * (double)b->chunk / MIB;
    snprintf(target, sizeof target, "info: %.0f MiB, grace 0 ms, parallel %s",
             (double)b->size / MIB, b->repair_parallel > 0 ? par : "default");
    bench_emit("repair_s", bench_round2(repair_s), "s", target, -1);
    bench_emit("repair_chunks", copies, "", "info: copies made (chunks of the dead node)", -1);
    bench_emit("repair_mb_s", bench_round2(mib / repair_s), "MiB/s", "info: copied MiB / repair_s", -1);
    bench_emit("repair_first_update_s", bench_round2((double)(w.t_first - t_kill) / 1e9), "s",
               "info: kill to first new metadata", -1);
    bench_emit("repair_dead_listed", w.dead_listed, "",
               "info: chunks still naming the dead node", -1);
    bench_emit("repair_put4_mb_s", bench_round2((double)b->size / MIB / put_s), "MiB/s",
               "info: the put before, 4 agents", -1);
    bench_emit("repair_get_mb_s", bench_round2((double)b->size / MIB / get_s), "MiB/s",
               "info: get after repair, a node dead", -1);
    return 0;
}

/* ---- the run ----------------------------------------------------------- */

static int world_up(bench *b, const char *name)
{
    b->h = dxh_create(name);
    if (b->h == NULL || dxh_broker_start(b->h, NULL) != 0)
        return fail(b, "cannot start the broker");
    return 0;
}

static void world_down(bench *b, bool ok)
{
    if (ok && b->h != NULL)
        dxh_pass(b->h);
    dxh_destroy(b->h);
    b->h = NULL;
    b->obs = NULL;
}

/* The file: pseudo-random bytes (xorshift64*, fixed seed) and its SHA-256. */
static int make_data(bench *b)
{
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    dx_sha256 s;
    b->data = malloc(b->size);
    if (b->data == NULL)
        return -1;
    for (size_t i = 0; i < b->size; i += 8) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        uint64_t v = x * 0x2545f4914f6cdd1dULL;
        memcpy(b->data + i, &v, b->size - i < 8 ? b->size - i : 8);
    }
    dx_sha256_init(&s);
    dx_sha256_update(&s, b->data, b->size);
    dx_sha256_final(&s, b->sha);
    return 0;
}

static int run(bench *b)
{
    int rc = 0;
    if (b->phases & (PH_RAW | PH_PUTGET)) {
        fprintf(stderr, "bench_dfs: first broker: raw, put and get with %d agents\n",
                PUT_AGENTS);
        if (world_up(b, "bench-dfs") != 0)
            return -1;
        rc = bench_throughput(b);
        world_down(b, rc == 0);
        if (rc != 0)
            return -1;
    }
    if (!(b->phases & PH_REPAIR))
        return 0;
    fprintf(stderr, "bench_dfs: second broker: repair with %d agents\n", REPAIR_AGENTS);
    if (world_up(b, "bench-dfs-repair") != 0)
        return -1;
    rc = bench_repair(b);
    world_down(b, rc == 0);
    return rc;
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_dfs --agent PATH --cli PATH [--mib N] [--chunk-kb K] "
                    "[--trials T] [--window W] [--repair-parallel P] "
                    "[--phases raw,putget,repair] [--quick]\n");
    return 2;
}

int main(int argc, char **argv)
{
    static bench b;   /* lives until exit: Paho's threads hold pointers into it */
    int mib = 64;
    b.agent = getenv("DX_AGENT");
    b.cli = getenv("DX_CLI");
    b.trials = 5;
    b.chunk_kb = 1024;
    b.window = 8;
    b.phases = PH_RAW | PH_PUTGET | PH_REPAIR;
    for (int i = 0; i < N_SUBS; i++)
        pthread_mutex_init(&b.sub[i].o.mu, NULL);
    pthread_mutex_init(&b.pub.o.mu, NULL);
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--quick") == 0) {
            mib = 16;
            b.trials = 1;
            continue;
        }
        if (v == NULL)
            return usage();
        if (strcmp(argv[i], "--agent") == 0)
            b.agent = v;
        else if (strcmp(argv[i], "--cli") == 0)
            b.cli = v;
        else if (strcmp(argv[i], "--mib") == 0)
            mib = atoi(v);
        else if (strcmp(argv[i], "--chunk-kb") == 0)
            b.chunk_kb = atoi(v);
        else if (strcmp(argv[i], "--trials") == 0)
            b.trials = atoi(v);
        else if (strcmp(argv[i], "--window") == 0)
            b.window = atoi(v);
        else if (strcmp(argv[i], "--repair-parallel") == 0)
            b.repair_parallel = atoi(v);
        else if (strcmp(argv[i], "--phases") == 0)
            b.phases = (strstr(v, "raw") ? PH_RAW : 0) |
                       (strstr(v, "putget") ? PH_PUTGET : 0) |
                       (strstr(v, "repair") ? PH_REPAIR : 0);
        else
            return usage();
        i++;
    }
    if (b.agent == NULL || access(b.agent, X_OK) != 0 || b.cli == NULL ||
        access(b.cli, X_OK) != 0) {
        fprintf(stderr, "bench_dfs: need an executable --agent and --cli\n");
        return usage();
    }
    if (mib < 1 || mib > 4096 || b.chunk_kb < 4 || b.chunk_kb % 4 != 0 ||
        b.chunk_kb > 8192 || (long)mib * 1024 / b.chunk_kb > DX_DFS_CHUNKS_MAX ||
        b.trials < 1 || b.trials > 50 || b.window < 1 || b.window > 1000 ||
        b.repair_parallel < 0 || b.repair_parallel > 64 || b.phases == 0) {
        fprintf(stderr, "bench_dfs: need 1..4096 MiB in at most %d chunks of a "
                "multiple of 4 KiB up to 8192, 1..50 trials, a window of 1..1000, "
                "a repair parallelism of 0 (default) or 1..64, a phase\n",
                DX_DFS_CHUNKS_MAX);
        return 2;
    }
    b.size = (size_t)mib << 20;
    b.chunk = (size_t)b.chunk_kb << 10;
    b.n_chunks = (uint32_t)((b.size + b.chunk - 1) / b.chunk);
    snprintf(b.mib_name, sizeof b.mib_name, "%dm", mib);
    b.meta = malloc(sizeof *b.meta);
    b.view = malloc(sizeof *b.view);
    if (b.meta == NULL || b.view == NULL || make_data(&b) != 0) {
        fprintf(stderr, "bench_dfs: out of memory\n");
        return 1;
    }
    /* The harness's watchdog (290 s by default) is for tests. */
    setenv("DXH_WATCHDOG_S", "1800", 0);
    int rc = run(&b);
    if (b.h != NULL)
        world_down(&b, false);
    free(b.data);
    free(b.meta);
    free(b.view);
    return rc == 0 ? 0 : 1;
}
