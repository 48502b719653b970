/*
 * loop.c - the agent's event loop.  See loop.h.
 *
 * Reconnects are made by hand: each attempt raises the epoch (persisted in
 * the data directory before it is used), registers a will carrying that
 * epoch, and waits with exponential backoff and jitter after a failure
 * (100 ms doubling to 5 s, +-50%), so a broker restart is not met by every
 * agent at the same instant.
 *
 * Failure simulation.  "fail" shuts the TCP socket without DISCONNECT (the
 * broker publishes the will, as for a crash) and keeps only a maintenance
 * connection, without will, births or heartbeats, on which "recover" can
 * arrive.  "hang" stops heartbeats and all processing while the socket
 * stays up; messages queue in the inbox (bounded) and are processed after
 * "recover", like a process that was stopped and continued.
 */
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "devices.h"
#include "link.h"
#include "mempool.h"
#include "store.h"
#include "sysload.h"
#include "worker.h"

#define INBOX_MAX 200000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define LOAD_EVERY_MS 1000
#define BIG_PAYLOAD (64 * 1024)
#define TRIM_AFTER_MS 2000

typedef enum {
    EV_MESSAGE = 1,
    EV_CONNECTED,
    EV_CONNECT_FAILED,
    EV_LOST,
    EV_STOP,
    EV_JOB_DONE,         /* payload: a dx_job_result */
    EV_STORE             /* payload: a dx_store_result */
} ev_type;
typedef enum { SRC_MAIN = 0, SRC_MAINT = 1 } ev_src;

/* One inbox entry: header, topic and payload in a single allocation. */
typedef struct ev {
    struct ev *next;
    ev_type type;
    ev_src src;
    int code;
    bool retained;
    size_t tlen, plen;
    char *topic, *payload;
    char data[];
} ev;

typedef struct inbox {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ev *head, *tail;
    size_t n;
    uint64_t dropped;
    bool big_heap;       /* malloc keeps chunk-sized blocks on its heap */
} inbox;

typedef struct agent agent;

/* Callback context: which link an event came from. */
typedef struct link_ctx {
    agent *a;
    ev_src src;
} link_ctx;

struct agent {
    dx_agent_opts o;
    dx_core *core;
    inbox in;
    dx_link *link, *maint;
    link_ctx main_ctx, maint_ctx;
    char password[256];
    char cmd_topic[DX_TOPIC_MAX + 1];
    char epoch_path[PATH_MAX + 16];
    uint64_t epoch;          /* of the current or pending connection */
    enum { C_DOWN, C_CONNECTING, C_UP } cstate;
    int64_t reconnect_at;
    int64_t backoff_ms;
    bool failed, hung, stopping;
    bool fail_pending;               /* maintenance link connecting */
    int64_t fail_for_ms;
    int64_t fail_until, hang_until;   /* 0 = until recover */
    ev *backlog, *backlog_tail;       /* held while hung */
    ev *retry, *retry_tail;           /* publishes the link refused */
    size_t n_retry;
    size_t backlog_n;
    void *pool_mem, *pool_meta;
    size_t pool_size;
    dx_devices *devices;
    dx_workers *workers;
    dx_store *store;                  /* DFS chunks; NULL: no DFS */
    ev *cur;                          /* the message being handled */
    int64_t big_at;                   /* last large message, 0 = trimmed */
    bool cur_taken;                   /* ... handed to the store */
    dx_sysload sys;
    int64_t next_load_ms;
    uint32_t rng;
    int exit_code;
};

/* ---- time and logging ---- */

static void logmsg(const agent *a, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void logmsg(const agent *a, int level, const char *fmt, ...)
{
    static const char *names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    char ts[32];
    struct timespec now;
    struct tm tm;
    va_list ap;

    if (level > a->o.log_level)
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    flockfile(stderr);
    fprintf(stderr, "%s.%03ldZ node %u %-5s ", ts, now.tv_nsec / 1000000,
            a->o.id, names[level < 0 ? 0 : level > 3 ? 3 : level]);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    funlockfile(stderr);
}

/* ---- the inbox: filled by Paho's thread and the signal thread ---- */

static void inbox_init(inbox *q)
{
    pthread_condattr_t ca;
    pthread_mutex_init(&q->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->cv, &ca);
    pthread_condattr_destroy(&ca);
    q->head = q->tail = NULL;
    q->n = 0;
    q->dropped = 0;
    q->big_heap = false;
}

/* DFS chunks (up to 8 MiB) pass through malloc'd blocks: Paho's receive
 * buffer, an inbox event, a chunk read for a reader.  Above glibc's mmap
 * threshold each would be a fresh mapping whose every page faults on first
 * touch (measured: a quarter of an agent's CPU during a put): from the
 * first chunk on, received or read, keep them on the heap, where freed
 * blocks are reused warm.  Not from the start: it costs an idle agent
 * about 600 KiB of resident memory.  Under q->mu. */
static void big_heap_on_locked(inbox *q)
{
    if (!q->big_heap) {
        q->big_heap = true;
        (void)mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
        (void)mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
    }
}

static void big_heap_on(inbox *q)
{
    pthread_mutex_lock(&q->mu);
    big_heap_on_locked(q);
    pthread_mutex_unlock(&q->mu);
}

static void inbox_push(inbox *q, ev_type type, ev_src src, int code,
                       const char *topic, size_t tlen, const void *payload,
                       size_t plen, bool retained)
{
    ev *e;
    pthread_mutex_lock(&q->mu);
    if (type == EV_MESSAGE && q->n >= INBOX_MAX) {
        q->dropped++;
        pthread_mutex_unlock(&q->mu);
        return;
    }
    if (plen >= BIG_PAYLOAD)
        big_heap_on_locked(q);
    pthread_mutex_unlock(&q->mu);

    e = malloc(sizeof *e + tlen + 1 + plen + 1);
    if (e == NULL) {
        pthread_mutex_lock(&q->mu);
        q->dropped++;
        pthread_mutex_unlock(&q->mu);
        return;
    }
    e->next = NULL;
    e->type = type;
    e->src = src;
    e->code = code;
    e->retained = retained;
    e->tlen = tlen;
    e->plen = plen;
    e->topic = e->data;
    e->payload = e->data + tlen + 1;
    if (tlen > 0)
        memcpy(e->topic, topic, tlen);
    e->topic[tlen] = '\0';
    if (plen > 0)
        memcpy(e->payload, payload, plen);
    e->payload[plen] = '\0';

    pthread_mutex_lock(&q->mu);
    if (q->tail != NULL)
        q->tail->next = e;
    else
        q->head = e;
    q->tail = e;
    q->n++;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* Waits until an event arrives or `deadline` (monotonic ms) passes, then
 * takes every queued event.  The caller frees them. */
static ev *inbox_take(inbox *q, int64_t deadline)
{
    ev *all;
    pthread_mutex_lock(&q->mu);
    if (q->head == NULL && deadline > dx_mono_ms()) {
        struct timespec ts;
        ts.tv_sec = (time_t)(deadline / 1000);
        ts.tv_nsec = (long)(deadline % 1000) * 1000000L;
        while (q->head == NULL &&
               pthread_cond_timedwait(&q->cv, &q->mu, &ts) != ETIMEDOUT)
            ;
    }
    all = q->head;
    q->head = q->tail = NULL;
    q->n = 0;
    pthread_mutex_unlock(&q->mu);
    return all;
}

static void on_link_message(void *ctx, const char *topic, size_t tlen,
                            const void *payload, size_t plen, bool retained)
{
    link_ctx *lc = ctx;
    inbox_push(&lc->a->in, EV_MESSAGE, lc->src, 0, topic, tlen, payload, plen,
               retained);
}

static void on_link_status(void *ctx, dx_link_status st, int code,
                           const char *text)
{
    link_ctx *lc = ctx;
    ev_type t = st == DX_LINK_CONNECTED       ? EV_CONNECTED
                : st == DX_LINK_CONNECT_FAILED ? EV_CONNECT_FAILED
                                               : EV_LOST;
    inbox_push(&lc->a->in, t, lc->src, code, text, strlen(text), NULL, 0,
               false);
}

/* A worker finished a task body: queue the result for the loop. */
static void on_job_done(void *ctx, const dx_job_result *r)
{
    agent *a = ctx;
    inbox_push(&a->in, EV_JOB_DONE, SRC_MAIN, 0, "", 0, r, sizeof *r, false);
}

/* The disk thread finished a chunk job: queue the result for the loop
 * (a read's bytes travel by pointer and are freed by the loop). */
static void on_store_done(void *ctx, dx_store_result *r)
{
    agent *a = ctx;
    inbox_push(&a->in, EV_STORE, SRC_MAIN, 0, "", 0, r, sizeof *r, false);
}

/* The signal thread turns SIGINT/SIGTERM into a STOP event. */
static void *signal_thread(void *arg)
{
    agent *a = arg;
    sigset_t set;
    int sig;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    for (;;) {
        if (sigwait(&set, &sig) == 0)
            inbox_push(&a->in, EV_STOP, SRC_MAIN, sig, "", 0, NULL, 0, false);
    }
    return NULL;
}

/* ---- the data directory and the epoch ---- */

static int mkdirs(const char *path)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0750) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0750) != 0 && errno != EEXIST ? -1 : 0;
}

static uint64_t read_epoch(const char *path)
{
    unsigned long long v = 0;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    if (fscanf(f, "%llu", &v) != 1)
        v = 0;
    fclose(f);
    return (uint64_t)v;
}

/* Writes the epoch durably (temporary file, fsync, rename) before use, so
 * a restarted agent never reuses an epoch the cluster has seen. */
static int write_epoch(const char *path, uint64_t epoch)
{
    char tmp[PATH_MAX + 32], buf[32];
    int fd, n, rc = -1;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    n = snprintf(buf, sizeof buf, "%" PRIu64 "\n", epoch);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    if (write(fd, buf, (size_t)n) == n && fsync(fd) == 0)
        rc = 0;
    close(fd);
    if (rc == 0)
        rc = rename(tmp, path);
    return rc;
}

/* ---- connections ---- */

static uint32_t next_rand(agent *a)
{
    uint32_t x = a->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return a->rng = x;
}

static void schedule_reconnect(agent *a, int64_t now)
{
    int64_t base = a->backoff_ms;
    int64_t jit = base / 2 > 0 ? (int64_t)(next_rand(a) % (uint32_t)base) - base / 2 : 0;
    a->cstate = C_DOWN;
    a->reconnect_at = now + base + jit;
    a->backoff_ms = base * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : base * 2;
    logmsg(a, DX_LOG_DEBUG, "reconnecting in %" PRId64 " ms",
           a->reconnect_at - now);
}

static void start_connect(agent *a, int64_t now)
{
    char topic[DX_TOPIC_MAX + 1], payload[1024];
    size_t plen;

    a->epoch++;
    if (write_epoch(a->epoch_path, a->epoch) != 0) {
        logmsg(a, DX_LOG_ERROR, "cannot write %s: %s", a->epoch_path,
               strerror(errno));
        schedule_reconnect(a, now);
        return;
    }
    if (dx_core_will(a->core, a->epoch, topic, sizeof topic, payload,
                     sizeof payload, &plen) != 0 ||
        dx_link_connect(a->link, topic, payload, plen, 1, true) != 0) {
        logmsg(a, DX_LOG_WARN, "cannot start a connection to %s", a->o.broker);
        schedule_reconnect(a, now);
        return;
    }
    a->cstate = C_CONNECTING;
    logmsg(a, DX_LOG_DEBUG, "connecting to %s with epoch %" PRIu64,
           a->o.broker, a->epoch);
}

/* A link to the broker with this agent's options and credentials. */
static int make_link_cb(agent *a, dx_link **out, const char *client_id,
                        const dx_link_cb *cb)
{
    dx_link_opts lo;
    memset(&lo, 0, sizeof lo);
    lo.uri = a->o.broker;
    lo.client_id = client_id;
    lo.keepalive_s = a->o.keepalive_s;
    lo.connect_timeout_s = 5;
    lo.max_inflight = 1000;
    lo.user = a->o.user[0] ? a->o.user : NULL;
    lo.password = a->password[0] ? a->password : NULL;
    lo.cafile = a->o.cafile[0] ? a->o.cafile : NULL;
    lo.cert = a->o.cert[0] ? a->o.cert : NULL;
    lo.key = a->o.key[0] ? a->o.key : NULL;
    return dx_link_create(out, &lo, cb);
}

static int make_link(agent *a, dx_link **out, const char *client_id,
                     link_ctx *ctx)
{
    dx_link_cb cb = {on_link_message, on_link_status, ctx};
    return make_link_cb(a, out, client_id, &cb);
}

static void subscribe_all(agent *a)
{
    char subs[DX_SUBS_MAX][DX_TOPIC_MAX + 1];
    const char *ptrs[DX_SUBS_MAX];
    size_t n = dx_core_subscriptions(a->core, subs, DX_SUBS_MAX);
    /* One SUBSCRIBE per QoS: the QoS 1 filters, then the QoS 0 ones. */
    for (int qos = 1; qos >= 0; qos--) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (dx_core_subscription_qos(a->core, subs[i]) == qos)
                ptrs[k++] = subs[i];
        if (k > 0 && dx_link_subscribe(a->link, ptrs, k, qos) != 0)
            logmsg(a, DX_LOG_WARN, "subscribe failed");
    }
}

/* ---- the failure simulation ---- */

/* Drops the main connection without DISCONNECT: the simulated crash. */
static void drop_main(agent *a, int64_t now)
{
    int64_t for_ms = a->fail_for_ms;
    a->fail_pending = false;
    /* Let the command's reply leave before the connection drops. */
    (void)dx_link_flush(a->link, 500);
    if (dx_link_abort(a->link) != 0) {
        logmsg(a, DX_LOG_ERROR, "fail: cannot find the broker socket");
        return;
    }
    a->failed = true;
    a->fail_until = for_ms ? now + for_ms : 0;
    a->cstate = C_DOWN;
    dx_core_on_disconnected(a->core, now);
    logmsg(a, DX_LOG_WARN, "simulating a crash: connection dropped without "
           "DISCONNECT%s", for_ms ? "" : " until recover");
}

/*
 * A simulated crash in two steps: first a maintenance connection (no will,
 * no birth, no heartbeats) subscribes to this node's command topic, so a
 * "recover" sent at any time reaches the node; only when it is up does the
 * main connection drop.  A recover before that cancels the crash.
 */
static void start_fail(agent *a, uint32_t for_ms, int64_t now)
{
    char cid[96];

    if (a->failed || a->fail_pending)
        return;
    a->fail_for_ms = for_ms;
    snprintf(cid, sizeof cid, "dx-maint-%s-%u-%ld", a->o.cluster, a->o.id,
             (long)getpid());
    if (make_link(a, &a->maint, cid, &a->maint_ctx) != 0 ||
        dx_link_connect(a->maint, NULL, NULL, 0, 0, false) != 0) {
        logmsg(a, DX_LOG_WARN, "maintenance connection failed: only the "
               "timer can end this failure");
        if (a->maint != NULL)
            dx_link_destroy(&a->maint);
        drop_main(a, now);
        return;
    }
    a->fail_pending = true;
}

static void end_fail(agent *a, int64_t now)
{
    if (a->fail_pending) {                 /* the crash never happened */
        a->fail_pending = false;
        dx_link_destroy(&a->maint);
        logmsg(a, DX_LOG_INFO, "simulated crash cancelled by recover");
        return;
    }
    if (!a->failed)
        return;
    if (a->maint != NULL) {
        (void)dx_link_flush(a->maint, 300);
        (void)dx_link_disconnect(a->maint, 300);
        dx_link_destroy(&a->maint);
    }
    a->failed = false;
    a->fail_until = 0;
    a->backoff_ms = BACKOFF_MIN_MS;
    a->cstate = C_DOWN;
    a->reconnect_at = now;
    logmsg(a, DX_LOG_INFO, "recovering from the simulated crash");
}

static void end_hang(agent *a)
{
    if (!a->hung)
        return;
    a->hung = false;
    a->hang_until = 0;
    logmsg(a, DX_LOG_INFO, "recovering from the simulated hang (%zu queued "
           "events)", a->backlog_n);
}

/* ---- carrying out the core's actions ---- */

/*
 * Publishes, or keeps the message for a retry when the link refuses it
 * while connected (Paho's queue full): nothing the core decided is dropped
 * while the connection is up.  While it is down, the core re-announces
 * what it owns on the next connect.
 */
static void publish(agent *a, const char *topic, const char *payload,
                    size_t len, int qos, bool retain)
{
    dx_link *l = a->failed ? a->maint : a->link;
    if (l == NULL)
        return;
    if (a->retry == NULL &&
        dx_link_publish(l, topic, payload, len, qos, retain) == 0)
        return;
    if (a->cstate != C_UP || a->failed) {
        logmsg(a, DX_LOG_DEBUG, "publish to %s dropped (offline)", topic);
        return;
    }
    if (a->n_retry >= INBOX_MAX) {
        logmsg(a, DX_LOG_ERROR, "publish to %s lost: %zu messages already "
               "wait for the broker", topic, a->n_retry);
        return;
    }
    /* Keep order: once one waits, the following ones queue behind it. */
    {
        ev *e = malloc(sizeof *e + strlen(topic) + 1 + len + 1);
        if (e == NULL)
            return;
        memset(e, 0, sizeof *e);
        e->topic = e->data;
        e->tlen = strlen(topic);
        memcpy(e->topic, topic, e->tlen + 1);
        e->payload = e->data + e->tlen + 1;
        e->plen = len;
        memcpy(e->payload, payload, len);
        e->code = qos;
        e->retained = retain;
        if (a->retry_tail)
            a->retry_tail->next = e;
        else
            a->retry = e;
        a->retry_tail = e;
        if (a->n_retry++ == 0)
            logmsg(a, DX_LOG_WARN, "the MQTT client's queue is full: "
                   "holding publishes for a retry");
    }
}

/* Sends what waits for a retry, in order, until the link refuses again. */
static void retry_publishes(agent *a)
{
    while (a->retry != NULL) {
        ev *e = a->retry;
        if (a->cstate != C_UP) {
            a->retry = e->next;      /* offline: re-announced on connect */
            free(e);
            a->n_retry--;
            continue;
        }
        if (dx_link_publish(a->link, e->topic, e->payload, e->plen, e->code,
                            e->retained) != 0)
            return;
        a->retry = e->next;
        free(e);
        a->n_retry--;
    }
    a->retry_tail = NULL;
}

/* Hands a task body to a worker; a job that cannot start ends at once. */
static void start_job(agent *a, const dx_action *act, int64_t now)
{
    dx_job j;
    int rc = 0;
    memset(&j, 0, sizeof j);
    j.slot = act->slot;
    j.kind = (dx_task_kind)act->job_kind;
    j.ms = act->ms;
    j.mem = act->mem;
    j.mem_bytes = act->mem_bytes;
    j.value = act->value;
    j.device = -1;
    if (j.kind == DX_TASK_SENSOR_READ || j.kind == DX_TASK_ACTUATOR_SET) {
        j.device = dx_devices_find(a->devices, act->device,
                                   j.kind == DX_TASK_SENSOR_READ
                                       ? DX_DEV_SENSOR : DX_DEV_ACTUATOR);
        if (j.device < 0)
            rc = DX_ENOTFOUND;
    }
    if (rc == 0)
        rc = dx_workers_submit(a->workers, &j);
    if (rc != 0)
        dx_core_on_job_done(a->core, j.slot, rc, dx_strerror(rc), 0, 0, now,
                            dx_wall_ms());
}

/* Hands a DFS action to the disk thread.  A write takes the message being
 * handled (its inbox event) as is: no copy of the chunk. */
static void store_job(agent *a, const dx_action *act, int64_t now)
{
    dx_store_job j;
    int rc;

    if (a->store == NULL)
        return;
    memset(&j, 0, sizeof j);
    j.op = act->type == DX_ACT_DFS_WRITE  ? DX_STORE_WRITE
           : act->type == DX_ACT_DFS_READ ? DX_STORE_READ
           : act->type == DX_ACT_DFS_DELETE ? DX_STORE_DELETE
                                            : DX_STORE_SCRUB;
    snprintf(j.key, sizeof j.key, "%s", act->key);
    j.index = act->index;
    j.crc = act->crc;
    if (j.op == DX_STORE_WRITE) {
        if (a->cur == NULL || a->cur_taken)
            return;                 /* a bug: no message to store */
        j.owner = a->cur;
        j.data = a->cur->payload;
        j.len = a->cur->plen;
        a->cur_taken = true;        /* the store frees it, even on error */
    }
    if (j.op == DX_STORE_READ)
        snprintf(j.topic, sizeof j.topic, "%s", act->topic);
    rc = dx_store_submit(a->store, &j);
    if (rc != 0 && (j.op == DX_STORE_WRITE || j.op == DX_STORE_READ))
        dx_core_on_store(a->core, j.op == DX_STORE_READ, j.key, j.index,
                         j.crc, rc, j.topic, now, dx_wall_ms());
    else if (rc != 0)
        logmsg(a, DX_LOG_WARN, "chunk store: %s", dx_strerror(rc));
}

/* What the disk thread did. */
static void store_done(agent *a, dx_store_result *r, int64_t now)
{
    int64_t wall = dx_wall_ms();
    switch (r->op) {
    case DX_STORE_WRITE:
        dx_core_on_store(a->core, false, r->key, r->index, r->crc, r->rc, NULL,
                         now, wall);
        break;
    case DX_STORE_READ:
        if (r->len >= BIG_PAYLOAD) {
            a->big_at = now;         /* sent through the heap: trim later */
            big_heap_on(&a->in);     /* and keep the next ones warm */
        }
        if (r->rc == 0) {
            publish(a, r->topic, r->data, r->len, 1, false);
        } else {
            /* The DFS module tells a waiting reader (0 bytes). */
            logmsg(a, DX_LOG_WARN, "chunk %s/%u: %s%s%s", r->key, r->index,
                   dx_strerror(r->rc), r->error[0] ? ": " : "", r->error);
            dx_core_on_store(a->core, true, r->key, r->index, r->crc, r->rc,
                             r->topic, now, wall);
        }
        free(r->data);
        r->data = NULL;
        break;
    case DX_STORE_DELETE:
        if (r->rc != 0)
            logmsg(a, DX_LOG_WARN, "cannot delete chunk %s/%u: %s", r->key,
                   r->index, r->error[0] ? r->error : dx_strerror(r->rc));
        break;
    case DX_STORE_SCRUB:
        for (size_t i = 0; i < r->n; i++)
            dx_core_on_scrub_item(a->core, r->items[i].key, r->items[i].index,
                                  r->items[i].crc, r->items[i].ok,
                                  r->items[i].age_ms, now, wall);
        if (r->last)
            dx_core_on_scrub_done(a->core, r->chunks, r->bad, now, wall);
        break;
    }
}

static void run_actions(agent *a, int64_t now)
{
    dx_outbox *ob = &a->core->out;
    for (size_t i = 0; i < ob->n; i++) {
        dx_action *act = &ob->a[i];
        char *p = dx_outbox_payload(ob, act);
        switch (act->type) {
        case DX_ACT_PUBLISH:
            publish(a, act->topic, p, act->len, act->qos, act->retain);
            break;
        case DX_ACT_LOG:
            logmsg(a, (int)act->level, "%s", p);
            break;
        case DX_ACT_FAIL:
            start_fail(a, act->for_ms, now);
            break;
        case DX_ACT_HANG:
            a->hung = true;
            a->hang_until = act->for_ms ? now + act->for_ms : 0;
            logmsg(a, DX_LOG_WARN, "simulating a hang: no heartbeats, no "
                   "processing%s", act->for_ms ? "" : " until recover");
            break;
        case DX_ACT_RECOVER:
            end_fail(a, now);
            end_hang(a);
            break;
        case DX_ACT_JOB:
            start_job(a, act, now);
            break;
        case DX_ACT_JOB_CANCEL:
            dx_workers_cancel(a->workers, act->slot);
            break;
        case DX_ACT_SUBSCRIBE: {
            const char *f = act->topic;
            if (dx_link_subscribe(a->link, &f, 1,
                                  dx_core_subscription_qos(a->core, f)) != 0)
                logmsg(a, DX_LOG_WARN, "cannot subscribe to %s", f);
            break;
        }
        case DX_ACT_UNSUBSCRIBE:
            (void)dx_link_unsubscribe(a->link, act->topic);
            break;
        case DX_ACT_DFS_WRITE:
        case DX_ACT_DFS_READ:
        case DX_ACT_DFS_DELETE:
        case DX_ACT_DFS_SCRUB:
            store_job(a, act, now);
            break;
        }
    }
    if (ob->dropped != 0) {
        logmsg(a, DX_LOG_ERROR, "core outbox overflowed: %" PRIu64
               " actions lost", ob->dropped);
        ob->dropped = 0;
    }
    dx_outbox_clear(ob);
}

static void sample_load(agent *a, int64_t now)
{
    dx_load l;
    memset(&l, 0, sizeof l);
    (void)dx_sysload_cpu(&a->sys, &l.cpu_pct);
    (void)dx_sysload_disk_free_kb(a->o.data_dir, &l.disk_free_kb);
    dx_core_set_load(a->core, &l);
    a->next_load_ms = now + LOAD_EVERY_MS;
}

/* Handles one event; returns false when the event must wait (hung). */
static bool handle(agent *a, ev *e, int64_t now)
{
    bool is_cmd = e->type == EV_MESSAGE && strcmp(e->topic, a->cmd_topic) == 0;

    if (a->hung && e->type != EV_STOP && !is_cmd)
        return false;
    switch (e->type) {
    case EV_STOP:
        a->stopping = true;
        break;
    case EV_JOB_DONE: {
        dx_job_result r;
        memcpy(&r, e->payload, sizeof r);
        dx_core_on_job_done(a->core, r.slot, r.rc, r.text, r.value, r.seq,
                            now, dx_wall_ms());
        break;
    }
    case EV_STORE: {
        /* The payload is not aligned for the struct: copy it out. */
        dx_store_result r;
        memcpy(&r, e->payload, sizeof r);
        store_done(a, &r, now);
        break;
    }
    case EV_MESSAGE:
        if (e->src == SRC_MAINT && !is_cmd)
            break;
        a->cur = e;
        a->cur_taken = false;
        if (e->plen >= BIG_PAYLOAD)
            a->big_at = now;
        dx_core_on_message(a->core, e->topic, e->tlen, e->payload, e->plen,
                           e->retained, now, dx_wall_ms());
        break;
    case EV_CONNECTED:
        if (e->src == SRC_MAINT) {
            const char *sub = a->cmd_topic;
            if (a->maint != NULL)
                (void)dx_link_subscribe(a->maint, &sub, 1, 1);
            if (a->fail_pending)
                drop_main(a, now);   /* SUBSCRIBE is on its way first */
            break;
        }
        a->cstate = C_UP;
        a->backoff_ms = BACKOFF_MIN_MS;
        subscribe_all(a);
        dx_core_on_connected(a->core, a->epoch, now, dx_wall_ms());
        break;
    case EV_CONNECT_FAILED:
        if (e->src == SRC_MAINT && a->fail_pending) {
            logmsg(a, DX_LOG_WARN, "maintenance connection failed: only the "
                   "timer can end this failure");
            dx_link_destroy(&a->maint);
            drop_main(a, now);
            break;
        }
        if (e->src == SRC_MAINT || a->failed)
            break;
        if (e->code == 4 || e->code == 5 || e->code == DX_ETLS) {
            logmsg(a, DX_LOG_ERROR, "%s", e->topic);
            a->exit_code = DX_EXIT_USAGE;
            a->stopping = true;
            break;
        }
        logmsg(a, DX_LOG_WARN, "%s", e->topic);
        schedule_reconnect(a, now);
        break;
    case EV_LOST:
        logmsg(a, DX_LOG_DEBUG, "%s connection lost: %s",
               e->src == SRC_MAINT ? "maintenance" : "main", e->topic);
        if (e->src == SRC_MAINT)
            break;
        if (a->cstate == C_UP)
            dx_core_on_disconnected(a->core, now);
        if (!a->failed && !a->stopping)
            schedule_reconnect(a, now);
        else
            a->cstate = C_DOWN;
        break;
    }
    run_actions(a, now);
    a->cur = NULL;
    return true;
}

/* Processes a chain of events in order; what must wait joins the backlog. */
static void process(agent *a, ev *list)
{
    while (list != NULL) {
        ev *e = list;
        list = e->next;
        e->next = NULL;
        if (handle(a, e, dx_mono_ms())) {
            if (!a->cur_taken)
                free(e);
            a->cur_taken = false;
            continue;
        }
        if (a->backlog_n >= INBOX_MAX) {
            free(e);
            a->in.dropped++;
            continue;
        }
        if (a->backlog_tail)
            a->backlog_tail->next = e;
        else
            a->backlog = e;
        a->backlog_tail = e;
        a->backlog_n++;
    }
}

/* ---- duplicate id check ---- */

typedef struct probe {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool got_state, got_hb;
    dx_msg_state st;
    uint64_t hb_epoch;
    const dx_topics *topics;
} probe;

static void probe_message(void *ctx, const char *topic, size_t tlen,
                          const void *payload, size_t plen, bool retained)
{
    probe *p = ctx;
    dx_topic_ref ref;
    (void)retained;
    if (dx_topic_parse(p->topics, topic, tlen, &ref) != 0)
        return;
    pthread_mutex_lock(&p->mu);
    if (ref.kind == DX_T_NODE_STATE && plen > 0 &&
        dx_msg_state_decode(payload, plen, &p->st, NULL) == 0)
        p->got_state = true;
    if (ref.kind == DX_T_NODE_HEARTBEAT) {
        dx_msg_heartbeat hb;
        if (dx_msg_heartbeat_decode(payload, plen, &hb, NULL) == 0) {
            p->got_hb = true;
            p->hb_epoch = hb.epoch;
        }
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void probe_status(void *ctx, dx_link_status st, int code,
                         const char *text)
{
    (void)ctx, (void)st, (void)code, (void)text;
}

/* Waits on p->cv until *flag or timeout_ms pass; p->mu held. */
static void probe_wait(probe *p, const bool *flag, int64_t timeout_ms)
{
    int64_t dl = dx_mono_ms() + timeout_ms;
    struct timespec ts = {(time_t)(dl / 1000), (long)(dl % 1000) * 1000000L};
    while (!*flag && pthread_cond_timedwait(&p->cv, &p->mu, &ts) != ETIMEDOUT)
        ;
}

/*
 * Before joining: is another agent with this id alive?  It is when its
 * retained state says online and a heartbeat arrives within two of its
 * periods.  Returns 0 (go ahead; *seen has the newest epoch seen for this
 * id), DX_EEXISTS (a live duplicate), or a connection error.
 */
static int check_duplicate(agent *a, uint64_t *seen, char *why, size_t cap)
{
    probe p;
    dx_link *l = NULL;
    dx_link_cb cb = {probe_message, probe_status, &p};
    char cid[96], st_topic[DX_TOPIC_MAX + 1], hb_topic[DX_TOPIC_MAX + 1];
    const char *subs[2] = {st_topic, hb_topic};
    int rc;

    memset(&p, 0, sizeof p);
    pthread_mutex_init(&p.mu, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&p.cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    p.topics = &a->core->cfg.topics;
    *seen = 0;
    snprintf(cid, sizeof cid, "dx-probe-%s-%u-%ld", a->o.cluster, a->o.id,
             (long)getpid());
    dx_topic_build(p.topics, DX_T_NODE_STATE, a->o.id, NULL, st_topic,
                   sizeof st_topic);
    dx_topic_build(p.topics, DX_T_NODE_HEARTBEAT, a->o.id, NULL, hb_topic,
                   sizeof hb_topic);
    if ((rc = make_link_cb(a, &l, cid, &cb)) != 0) {
        snprintf(why, cap, "cannot create an MQTT client for %.200s", a->o.broker);
        goto out;
    }
    if ((rc = dx_link_connect_wait(l, 6000, why, cap)) != 0)
        goto out_link;
    if ((rc = dx_link_subscribe_wait(l, subs, 2, 1, 3000)) != 0) {
        snprintf(why, cap, "the broker did not confirm a subscription");
        goto out_disconnect;
    }
    pthread_mutex_lock(&p.mu);
    probe_wait(&p, &p.got_state, 300);       /* the retained state */
    if (p.got_state && p.st.state == DX_WIRE_ONLINE) {
        int64_t period = p.st.heartbeat_ms ? p.st.heartbeat_ms : 1000;
        p.got_hb = false;
        probe_wait(&p, &p.got_hb, 2 * period + 200);
        if (p.got_hb && p.hb_epoch >= p.st.epoch) {
            snprintf(why, cap, "node id %u is already online (name %s, epoch "
                     "%" PRIu64 ", heartbeating): refusing to start a second "
                     "agent with the same id", a->o.id, p.st.name, p.st.epoch);
            rc = DX_EEXISTS;
        }
    }
    if (p.got_state)
        *seen = p.st.epoch;
    if (p.got_hb && p.hb_epoch > *seen)
        *seen = p.hb_epoch;
    pthread_mutex_unlock(&p.mu);
out_disconnect:
    (void)dx_link_disconnect(l, 1000);
out_link:
    dx_link_destroy(&l);
out:
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    return rc;
}

/* ---- set-up and the loop ---- */

static int read_password(agent *a, char *err, size_t cap)
{
    const char *env = getenv("DX_PASSWORD");
    if (a->o.password_file[0] != '\0') {
        FILE *f = fopen(a->o.password_file, "r");
        if (f == NULL || fgets(a->password, sizeof a->password, f) == NULL) {
            snprintf(err, cap, "--password-file: cannot read '%.200s'",
                     a->o.password_file);
            if (f)
                fclose(f);
            return -1;
        }
        fclose(f);
        a->password[strcspn(a->password, "\r\n")] = '\0';
    } else if (env != NULL) {
        snprintf(a->password, sizeof a->password, "%s", env);
    }
    return 0;
}

static int setup(agent *a, const dx_agent_opts *o, char *err, size_t cap)
{
    dx_core_cfg cfg;
    dx_diag d = {{0}};
    char cid[96];

    a->o = *o;
    a->backoff_ms = BACKOFF_MIN_MS;
    a->rng = (uint32_t)(o->id * 2654435761u) ^ (uint32_t)getpid() ^
             (uint32_t)dx_wall_ms();
    if (a->rng == 0)
        a->rng = 1;
    a->exit_code = DX_EXIT_OK;
    inbox_init(&a->in);
    if (read_password(a, err, cap) != 0)
        return DX_EXIT_USAGE;

    if (mkdirs(o->data_dir) != 0) {
        snprintf(err, cap, "cannot create the data directory '%s': %s",
                 o->data_dir, strerror(errno));
        return DX_EXIT_FATAL;
    }
    snprintf(a->epoch_path, sizeof a->epoch_path, "%s/epoch", o->data_dir);
    a->epoch = read_epoch(a->epoch_path);

    /* One pool for the node's lifetime; untouched pages cost nothing. */
    a->pool_size = (size_t)o->mem_pool_kb * 1024u;
    a->pool_mem = mmap(NULL, a->pool_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    a->pool_meta = calloc(1, dx_pool_meta_size(a->pool_size));
    if (a->pool_mem == MAP_FAILED || a->pool_meta == NULL) {
        snprintf(err, cap, "cannot set up a memory pool of %" PRIu64 " KiB",
                 o->mem_pool_kb);
        return DX_EXIT_FATAL;
    }
    dx_sysload_init(&a->sys);
    if (dx_devices_open(&a->devices, o->device_cfg, o->n_devices) != 0) {
        snprintf(err, cap, "cannot open the devices");
        return DX_EXIT_FATAL;
    }

    memset(&cfg, 0, sizeof cfg);
    cfg.id = o->id;
    memcpy(cfg.name, o->name, sizeof cfg.name);
    if (dx_topics_init(&cfg.topics, o->root[0] ? o->root : NULL, o->cluster,
                       &d) != 0) {
        snprintf(err, cap, "%s", d.msg);
        return DX_EXIT_USAGE;
    }
    cfg.heartbeat_ms = o->heartbeat_ms;
    cfg.timeout_ms = o->timeout_ms;
    cfg.pool_kb = o->mem_pool_kb;
    cfg.n_devices = o->n_devices;
    memcpy(cfg.devices, o->devices, sizeof cfg.devices);
    for (size_t i = 0; i < o->n_devices; i++)
        cfg.actuator[i] = o->device_cfg[i].role == DX_DEV_ACTUATOR;
    cfg.seed = a->rng;
    cfg.workers = o->workers;
    cfg.task_ttl_ms = o->task_ttl_s > 0 ? (int64_t)o->task_ttl_s * 1000 : 0;
    cfg.pool_mem = a->pool_mem;
    cfg.pool_bytes = a->pool_size;
    cfg.pool_meta = a->pool_meta;
    cfg.pool_meta_bytes = dx_pool_meta_size(a->pool_size);
    cfg.dfs_enabled = true;
    cfg.dfs.chunk_size = (uint32_t)o->chunk_kb * 1024u;
    cfg.dfs.replicas = (uint32_t)o->replicas;
    cfg.dfs.repair_grace_ms = (int64_t)o->repair_grace_ms;
    cfg.dfs.repair_parallel = (uint32_t)o->repair_parallel;
    cfg.dfs.transfer_timeout_ms = 10000;
    cfg.dfs.upload_idle_ms = 60000;
    cfg.dfs.orphan_age_ms = 3600000;
    cfg.dfs.log_flush_ms = (int64_t)o->log_flush_s * 1000;
    cfg.dfs.log_flush_readings = (uint32_t)o->log_flush_readings;
    cfg.dfs.log_segment_max = cfg.dfs.chunk_size < 256u * 1024u
                                  ? cfg.dfs.chunk_size : 256u * 1024u;
    cfg.scrub_every_ms = (int64_t)o->scrub_interval_s * 1000;
    if ((a->core = calloc(1, sizeof *a->core)) == NULL) {
        snprintf(err, cap, "out of memory");
        return DX_EXIT_FATAL;
    }
    dx_core_init(a->core, &cfg);
    if (!a->core->has_pool) {
        snprintf(err, cap, "cannot set up a memory pool of %" PRIu64 " KiB",
                 o->mem_pool_kb);
        return DX_EXIT_FATAL;
    }
    if (dx_workers_start(&a->workers, o->workers, a->devices, on_job_done,
                         a) != 0) {
        snprintf(err, cap, "cannot start %u worker threads", o->workers);
        return DX_EXIT_FATAL;
    }
    if (a->core->dfs != NULL &&
        dx_store_open(&a->store, o->data_dir, on_store_done, a, &d) != 0) {
        snprintf(err, cap, "cannot open the chunk store in '%s': %s",
                 o->data_dir, d.msg);
        return DX_EXIT_FATAL;
    }
    dx_topic_build(&cfg.topics, DX_T_NODE_CMD, o->id, NULL, a->cmd_topic,
                   sizeof a->cmd_topic);

    /* A client id per process: a second agent with the same node id must
     * never take over the first one's session. */
    snprintf(cid, sizeof cid, "dx-%s-%u-%ld", o->cluster, o->id,
             (long)getpid());
    a->main_ctx = (link_ctx){a, SRC_MAIN};
    a->maint_ctx = (link_ctx){a, SRC_MAINT};
    if (make_link(a, &a->link, cid, &a->main_ctx) != 0) {
        snprintf(err, cap, "--broker: cannot use '%s'", o->broker);
        return DX_EXIT_USAGE;
    }
    return DX_EXIT_OK;
}

static void teardown(agent *a)
{
    ev *e;
    if (a->workers)
        dx_workers_stop(&a->workers);
    dx_store_close(&a->store);
    if (a->devices)
        dx_devices_close(&a->devices);
    if (a->link)
        dx_link_destroy(&a->link);
    if (a->maint)
        dx_link_destroy(&a->maint);
    while ((e = a->backlog) != NULL) {
        a->backlog = e->next;
        free(e);
    }
    while ((e = a->retry) != NULL) {
        a->retry = e->next;
        free(e);
    }
    e = inbox_take(&a->in, 0);
    while (e != NULL) {
        ev *n = e->next;
        if (e->type == EV_STORE) {
            void *data;
            memcpy(&data, e->payload + offsetof(dx_store_result, data),
                   sizeof data);
            free(data);
        }
        free(e);
        e = n;
    }
    if (a->pool_mem != NULL && a->pool_mem != MAP_FAILED)
        munmap(a->pool_mem, a->pool_size);
    free(a->pool_meta);
    if (a->core != NULL)
        dx_core_fini(a->core);
    free(a->core);
}

/* Waits out a broker that is not there yet, checking the duplicate id on
 * the first connection; returns an exit code, or -1 to go on. */
static int join(agent *a)
{
    int64_t backoff = BACKOFF_MIN_MS;
    char why[256];
    bool stop;
    for (;;) {
        uint64_t seen = 0;
        int rc = check_duplicate(a, &seen, why, sizeof why);
        ev *e;
        if (rc == 0) {
            if (seen > a->epoch)
                a->epoch = seen;     /* a newer epoch than our file's */
            return -1;
        }
        if (rc == DX_EEXISTS) {
            logmsg(a, DX_LOG_ERROR, "%s", why);
            return DX_EXIT_DUPLICATE;
        }
        if (rc == DX_EAUTH || rc == DX_ETLS) {
            logmsg(a, DX_LOG_ERROR, "%s", why);
            return DX_EXIT_USAGE;
        }
        logmsg(a, DX_LOG_WARN, "%s; retrying in %" PRId64 " ms", why, backoff);
        e = inbox_take(&a->in, dx_mono_ms() + backoff);
        stop = false;
        while (e != NULL) {
            ev *n = e->next;
            stop = stop || e->type == EV_STOP;
            free(e);
            e = n;
        }
        if (stop)
            return DX_EXIT_OK;
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
}

int dx_agent_run(const dx_agent_opts *o)
{
    agent *a = calloc(1, sizeof *a);
    pthread_t sig_tid;
    sigset_t set;
    char err[512] = "";
    int rc;

    if (a == NULL) {
        fprintf(stderr, "distribux-agent: out of memory\n");
        return DX_EXIT_FATAL;
    }
    /* Block the stop signals in every thread (Paho's inherit the mask);
     * one thread waits for them and queues a STOP. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if ((rc = setup(a, o, err, sizeof err)) != DX_EXIT_OK) {
        fprintf(stderr, "distribux-agent: %s\n", err);
        teardown(a);
        free(a);
        return rc;
    }
    pthread_create(&sig_tid, NULL, signal_thread, a);
    logmsg(a, DX_LOG_INFO, "distribux-agent %s starting: node %u (%s), "
           "broker %s, root %s, heartbeat %" PRId64 " ms, timeout %" PRId64
           " ms", DX_VERSION, o->id, o->name, o->broker,
           a->core->cfg.topics.root, o->heartbeat_ms, o->timeout_ms);

    if ((rc = join(a)) >= 0) {
        pthread_cancel(sig_tid);
        pthread_join(sig_tid, NULL);
        teardown(a);
        free(a);
        return rc;
    }
    a->reconnect_at = dx_mono_ms();
    a->cstate = C_DOWN;
    while (!a->stopping) {
        int64_t now = dx_mono_ms(), deadline;
        ev *evs;

        if (a->failed && a->fail_until != 0 && now >= a->fail_until)
            end_fail(a, now);
        if (a->hung && a->hang_until != 0 && now >= a->hang_until)
            end_hang(a);
        if (!a->hung && a->backlog != NULL) {
            ev *b = a->backlog;
            a->backlog = a->backlog_tail = NULL;
            a->backlog_n = 0;
            process(a, b);
            continue;
        }
        if (a->cstate == C_DOWN && !a->failed && now >= a->reconnect_at)
            start_connect(a, now);
        if (a->retry != NULL)
            retry_publishes(a);
        if (!a->hung) {
            if (now >= a->next_load_ms)
                sample_load(a, now);
            dx_core_tick(a->core, now, dx_wall_ms());
            run_actions(a, now);
        }
        /* Chunks went through the heap (main.c keeps them off fresh
         * mappings); once they stop, give the memory back. */
        if (a->big_at != 0 && now - a->big_at > TRIM_AFTER_MS) {
            a->big_at = 0;
            (void)malloc_trim(0);
        }

        deadline = now + 1000;
        if (!a->hung) {
            int64_t t = dx_core_next_deadline(a->core);
            if (t < deadline)
                deadline = t;
        }
        if (a->cstate == C_DOWN && !a->failed && a->reconnect_at < deadline)
            deadline = a->reconnect_at;
        if (a->retry != NULL && now + 5 < deadline)
            deadline = now + 5;         /* the queue drains in milliseconds */
        if (a->failed && a->fail_until && a->fail_until < deadline)
            deadline = a->fail_until;
        if (a->hung && a->hang_until && a->hang_until < deadline)
            deadline = a->hang_until;
        evs = inbox_take(&a->in, deadline);
        process(a, evs);
    }

    if (a->exit_code == DX_EXIT_OK) {
        logmsg(a, DX_LOG_INFO, "stopping");
        if (a->cstate == C_UP) {
            dx_core_shutdown(a->core, dx_wall_ms());
            run_actions(a, dx_mono_ms());
            (void)dx_link_flush(a->link, 1000);
            (void)dx_link_disconnect(a->link, 1000);
        }
    }
    rc = a->exit_code;
    /* sigwait is a cancellation point: stop the signal thread before the
     * agent it queues into is freed (a second Ctrl-C must find nothing). */
    pthread_cancel(sig_tid);
    pthread_join(sig_tid, NULL);
    teardown(a);
    free(a);
    return rc;
}
