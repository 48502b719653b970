/*
 * tasks.c - the task commands: submit, tasks, task, cancel.
 *
 * submit names every task itself (unless --id), so it can send a
 * submission again when no reply comes: a leader that dies before it
 * records a task, or an election in progress, loses the submission, and the
 * leader answers a resubmission of an id it holds with the same id and
 * changes nothing.  --count N sends N submissions without waiting for each
 * reply and matches the replies by `corr`; --wait then follows the tasks'
 * retained records (subscribed before the first submission) until each is
 * final.  A task accepted but without a record for a while is submitted
 * again too: the leader may have died between its reply and its record.
 *
 * tasks and task read retained records.  After subscribing, the CLI sends
 * a marker to its own reply topic; Mosquitto queues the retained messages
 * of a subscription before anything published later, so the marker
 * arrives after all of them and no fixed wait is needed.
 */
#include "commands.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define COUNT_MAX 10000
#define RETRY_MS 1000          /* first resend of an unanswered request */
#define RETRY_MAX_MS 4000      /* resends back off up to this */
#define RECORD_GRACE_MS 2000   /* accepted, no record yet: submit again */
#define WAIT_DEFAULT_MS 60000  /* submit --wait without --timeout-ms */
#define RESULT_COLS 48
#define SENDERS 16             /* threads publishing submissions */


/* Prints the array, or its first item alone when `first`. */
static void print_json_list(cJSON *arr, bool first)
{
    cJSON *one = first ? cJSON_DetachItemFromArray(arr, 0) : NULL;
    if (first)
        cJSON_Delete(arr);
    cli_print_json(first ? one : arr);
}

static bool is_final(dx_task_state s)
{
    return s == DX_TS_DONE || s == DX_TS_FAILED || s == DX_TS_CANCELLED;
}

/* Connects and subscribes to this client's reply topic and to `topic`
 * (NULL: none); *reply gets the reply topic. */
static cli *open_cli(const cli_opts *o, const char *topic,
                     char reply[DX_TOPIC_MAX + 1])
{
    cli *c = cli_connect(o);
    const char *f[2] = {reply, topic};
    if (c == NULL)
        return NULL;
    if (dx_topic_build(cli_topics(c), DX_T_REPLY, 0, cli_client_id(c), reply,
                       DX_TOPIC_MAX + 1) != 0 ||
        cli_subscribe(c, f, topic != NULL ? 2 : 1) != 0)
        cli_close(&c);
    return c;
}

typedef struct reply_want {
    const char *corr;
    dx_msg_reply r;
} reply_want;

static bool is_reply_to(const cli_msg *m, void *arg)
{
    reply_want *w = arg;
    return m->ref.kind == DX_T_REPLY &&
           dx_msg_reply_decode(m->payload, m->plen, &w->r, NULL) == 0 &&
           strcmp(w->r.corr, w->corr) == 0;
}

/* Sends a marker to our own reply topic and waits for it: everything
 * retained that the subscriptions made before this brought has arrived. */
static void sync_retained(cli *c, const cli_opts *o, const char *reply)
{
    static const char marker[] = "{\"v\":1,\"corr\":\"sync\",\"ok\":true}";
    reply_want w;
    const cli_msg *cur = NULL;
    memset(&w, 0, sizeof w);
    w.corr = "sync";
    if (cli_publish(c, reply, marker, sizeof marker - 1, 1, false) == 0)
        (void)cli_wait(c, is_reply_to, &w, o->timeout_ms, &cur);
}

/* ---- submit: the task spec from options and key=value words ---- */

enum { F_KIND, F_MS, F_MEM, F_NODE, F_EVERY, F_DEVICE, F_VALUE, F_ID };

static const struct field {
    const char *key, *flag;
    long min, max;
} fields[] = {
    {"kind", "--kind", 0, 0},          {"ms", "--ms", 0, 86400000},
    {"mem_kb", "--mem", 0, 16777216},  {"node", "--node", 0, 65535},
    {"every_ms", "--every", 0, 86400000}, {"device", "--device", 0, 0},
    {"value", "--value", 0, 0},        {"id", "--id", 0, 0},
};
#define N_FIELDS (sizeof fields / sizeof fields[0])

typedef struct sub_opts {
    dx_task_spec spec;
    char id[DX_TASK_ID_MAX + 1];   /* --id, "" = generated */
    long count;                    /* --count, 0 = not given */
    bool wait;
} sub_opts;

static int set_field(sub_opts *s, size_t f, const char *val)
{
    const struct field *fd = &fields[f];
    dx_task_spec *sp = &s->spec;
    char *end;
    long v = 0;

    switch (f) {
    case F_KIND:
        if (dx_task_kind_parse(val, &sp->kind) != 0)
            return cli_usage_error("submit", "%s: expected noop|compute|sleep|"
                               "sensor.read|actuator.set, got '%s'", fd->key,
                               val);
        return 0;
    case F_DEVICE:
    case F_ID:
        if (f == F_DEVICE ? !dx_name_is_valid(val) : !dx_task_id_is_valid(val))
            return cli_usage_error("submit", "%s: expected 1..%d characters of "
                               "A-Z a-z 0-9 _ . -%s, got '%s'", fd->key,
                               f == F_ID ? DX_TASK_ID_MAX : DX_NAME_MAX,
                               f == F_ID ? " (not 'submit')" : "", val);
        if (f == F_ID)
            snprintf(s->id, sizeof s->id, "%s", val);
        else
            snprintf(sp->device, sizeof sp->device, "%s", val);
        return 0;
    case F_VALUE:
        sp->value = strtod(val, &end);
        if (val[0] == '\0' || *end != '\0' || !isfinite(sp->value))
            return cli_usage_error("submit", "value: expected a finite number, "
                               "got '%s'", val);
        sp->has_value = true;
        return 0;
    default:
        break;
    }
    if (cli_parse_long(val, fd->min, fd->max, &v) != 0 ||
        (f == F_EVERY && v > 0 && v < 10))
        return cli_usage_error("submit", "%s: expected %s%ld..%ld, got '%s'",
                           fd->key, f == F_EVERY ? "0 or " : "",
                           f == F_EVERY ? 10 : fd->min, fd->max, val);
    if (f == F_MS)
        sp->ms = (uint32_t)v;
    else if (f == F_MEM)
        sp->mem_kb = (uint32_t)v;
    else if (f == F_NODE)
        sp->node = (uint16_t)v;
    else
        sp->every_ms = (uint32_t)v;
    return 0;
}

static int parse_submit(sub_opts *s, int argc, char **argv)
{
    memset(s, 0, sizeof *s);
    s->spec.kind = DX_TASK_NOOP;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *eq = strchr(a, '=');
        size_t f = N_FIELDS;
        int rc;
        if (strcmp(a, "--wait") == 0) {
            s->wait = true;
            continue;
        }
        if (strcmp(a, "--count") == 0) {
            if (i + 1 >= argc ||
                cli_parse_long(argv[++i], 1, COUNT_MAX, &s->count) != 0)
                return cli_usage_error("submit", "--count: expected 1..%d",
                                   COUNT_MAX);
            continue;
        }
        for (size_t k = 0; k < N_FIELDS && f == N_FIELDS; k++)
            if (a[0] == '-' ? strcmp(a, fields[k].flag) == 0
                            : eq != NULL &&
                                  strlen(fields[k].key) == (size_t)(eq - a) &&
                                  strncmp(a, fields[k].key,
                                          (size_t)(eq - a)) == 0)
                f = k;
        if (f == N_FIELDS)
            return cli_usage_error("submit", "unexpected '%s' (keys: kind ms "
                               "mem_kb node every_ms device value id)", a);
        if (a[0] == '-' && i + 1 >= argc)
            return cli_usage_error("submit", "%s: missing value", a);
        if ((rc = set_field(s, f, a[0] == '-' ? argv[++i] : eq + 1)) != 0)
            return rc;
    }
    if ((s->spec.kind == DX_TASK_SENSOR_READ ||
         s->spec.kind == DX_TASK_ACTUATOR_SET) && s->spec.device[0] == '\0')
        return cli_usage_error("submit", "kind %s needs device=NAME",
                           dx_task_kind_name(s->spec.kind));
    if (s->spec.kind == DX_TASK_ACTUATOR_SET && !s->spec.has_value)
        return cli_usage_error("submit", "kind actuator.set needs value=NUMBER");
    if (s->id[0] != '\0' && s->count > 0) {
        char last[64];
        snprintf(last, sizeof last, "%s-%ld", s->id, s->count);
        if (!dx_task_id_is_valid(last))
            return cli_usage_error("submit", "--id %s with --count %ld: the id "
                               "'%s' is longer than %d characters", s->id,
                               s->count, last, DX_TASK_ID_MAX);
    }
    return 0;
}

/* ---- requests sent again until answered; replies matched by corr ---- */

typedef struct job {
    char id[DX_TASK_ID_MAX + 1];
    char *payload;             /* the request, with corr = the job's index */
    size_t len;
    int64_t due;               /* next (re)send, monotonic ms; 0 = never */
    int gap;
    bool answered, ok, seen, final;
    uint16_t node;
    uint32_t attempt;
    dx_task_state state;
    char *text;                /* the error, or the final result */
} job;

typedef struct batch {
    const char *topic;         /* where every job's request goes */
    job *j;
    size_t n, left;            /* left: jobs not yet settled */
    const char *base;          /* ids are base-1..base-n, or base alone */
    bool exact, wait, json;
    int64_t deadline;
} batch;

static void set_text(job *j, const char *s)
{
    free(j->text);
    j->text = strdup(s);
}

static bool settled(const batch *b, const job *j)
{
    return j->answered && (!j->ok || !b->wait || j->final);
}

/* The job of a task id, or NULL. */
static job *job_of_id(const batch *b, const char *id)
{
    size_t bl = strlen(b->base);
    long k;
    if (b->exact)
        return strcmp(id, b->base) == 0 ? &b->j[0] : NULL;
    if (strncmp(id, b->base, bl) != 0 || id[bl] != '-' || id[bl + 1] == '0' ||
        cli_parse_long(id + bl + 1, 1, (long)b->n, &k) != 0)
        return NULL;
    return &b->j[k - 1];
}

static bool is_batch_msg(const cli_msg *m, void *arg)
{
    (void)arg;
    return m->ref.kind == DX_T_REPLY || m->ref.kind == DX_T_TASK_RECORD;
}

static const char *node_text(uint16_t node, char buf[16])
{
    if (node == 0)
        return "no node";
    snprintf(buf, 16, "Node %u", node);
    return buf;
}

static void on_final(batch *b, job *j, const dx_task_record *r)
{
    char nb[16];
    j->final = true;
    j->state = r->state;
    j->node = r->node;
    j->attempt = r->attempt;
    set_text(j, r->result);
    if (!b->json)
        printf("Task %s %s on %s: %s\n", j->id, dx_task_state_name(r->state),
               node_text(r->node, nb), r->result);
}

static void on_batch_msg(batch *b, const cli_msg *m, int64_t now)
{
    job *j = NULL;
    bool was = false;
    long k;

    if (m->ref.kind == DX_T_REPLY) {
        dx_msg_reply r;
        if (dx_msg_reply_decode(m->payload, m->plen, &r, NULL) != 0 ||
            cli_parse_long(r.corr, 0, (long)b->n - 1, &k) != 0 ||
            (j = &b->j[k])->answered)
            return;
        was = settled(b, j);
        j->answered = true;
        j->ok = r.ok;
        j->node = r.node;
        if (!r.ok) {
            set_text(j, r.error);
            fprintf(stderr, "distribux: %s %s refused by Node %u: %s\n",
                    b->base != NULL ? "task" : "cancel of task", j->id,
                    r.node, r.error);
        } else if (!b->json && b->base != NULL) {
            printf("Task %s submitted\n", j->id);
        }
        /* Accepted: the record must follow; submit again if it does not. */
        j->due = r.ok && b->wait && !j->seen ? now + RECORD_GRACE_MS : 0;
    } else if (m->plen > 0 && b->wait &&
               (j = job_of_id(b, m->ref.name)) != NULL) {
        static dx_task_record r;   /* large */
        if (dx_task_record_decode(m->payload, m->plen, &r, NULL) != 0)
            return;
        was = settled(b, j);
        /* A record proves the task was accepted, reply or not. */
        j->seen = j->answered = j->ok = true;
        j->due = 0;
        j->state = r.state;
        j->node = r.node;
        if (is_final(r.state) && !j->final)
            on_final(b, j, &r);
    }
    if (j != NULL && !was && settled(b, j))
        b->left--;
    fflush(stdout);
}

/* Publishes jobs due[0..n) from up to SENDERS threads at once: each
 * publish waits for the broker's PUBACK, and Paho checks for it only every
 * 100 ms, so one thread alone would send 10 submissions a second. */
typedef struct sender {
    cli *c;
    const batch *b;
    job **due;
    size_t n, from;
} sender;

static void *send_stripe(void *arg)
{
    const sender *s = arg;
    for (size_t i = s->from; i < s->n; i += SENDERS)
        (void)cli_publish(s->c, s->b->topic, s->due[i]->payload,
                          s->due[i]->len, 1, false);
    return NULL;
}

static void send_jobs(cli *c, const batch *b, job **due, size_t n)
{
    sender s[SENDERS];
    pthread_t th[SENDERS];
    bool started[SENDERS] = {false};
    for (size_t k = 0; k < SENDERS && k < n; k++) {
        s[k] = (sender){c, b, due, n, k};
        /* Stripe 0 runs here, and any stripe no thread could take. */
        if (k > 0)
            started[k] = pthread_create(&th[k], NULL, send_stripe, &s[k]) == 0;
    }
    for (size_t k = 0; k < SENDERS && k < n; k++)
        if (!started[k])
            send_stripe(&s[k]);
    for (size_t k = 1; k < SENDERS && k < n; k++)
        if (started[k])
            pthread_join(th[k], NULL);
    for (size_t i = 0; i < n; i++) {
        /* A failed publish is just one more lost submission: resent. */
        due[i]->due = cli_now_ms() + due[i]->gap;
        due[i]->gap = due[i]->gap * 2 > RETRY_MAX_MS ? RETRY_MAX_MS
                                                     : due[i]->gap * 2;
    }
}

/* Takes what has arrived, then sends every job due, until every job is
 * settled or the deadline passes.  0 when all settled. */
static int run_batch(cli *c, batch *b)
{
    const cli_msg *cur = NULL, *m;
    job **due = calloc(b->n, sizeof *due);
    int rc = -1;
    for (size_t i = 0; i < b->n; i++) {
        b->j[i].due = 1;
        b->j[i].gap = RETRY_MS;
    }
    b->left = b->n;
    while (due != NULL) {
        int64_t now, next = b->deadline;
        size_t n = 0;
        while ((m = cli_wait(c, is_batch_msg, NULL, 0, &cur)) != NULL)
            on_batch_msg(b, m, cli_now_ms());
        if (b->left == 0 || (now = cli_now_ms()) >= b->deadline) {
            rc = b->left == 0 ? 0 : -1;
            break;
        }
        for (size_t i = 0; i < b->n; i++) {
            job *j = &b->j[i];
            if (j->due == 0 || settled(b, j))
                continue;
            if (j->due <= now)
                due[n++] = j;
            else if (j->due < next)
                next = j->due;
        }
        if (n > 0)
            send_jobs(c, b, due, n);
        else if ((m = cli_wait(c, is_batch_msg, NULL, (int)(next - now),
                               &cur)) != NULL)
            on_batch_msg(b, m, cli_now_ms());
    }
    free(due);
    return rc;
}

static void free_batch(batch *b)
{
    for (size_t i = 0; b->j != NULL && i < b->n; i++) {
        free(b->j[i].payload);
        free(b->j[i].text);
    }
    free(b->j);
}

/* Subscribes to the records of the batch's tasks: each one's topic when a
 * single SUBSCRIBE holds them (the link takes 16), else every record. */
static int subscribe_records(cli *c, const batch *b)
{
    char f[16][DX_TOPIC_MAX + 1];
    const char *fp[16];
    size_t k = 0;
    if (b->n > 16)
        return cli_subscribe_kind(c, DX_T_TASK_RECORD);
    for (; k < b->n; k++) {
        dx_topic_build(cli_topics(c), DX_T_TASK_RECORD, 0, b->j[k].id, f[k],
                       sizeof f[k]);
        fp[k] = f[k];
    }
    return cli_subscribe(c, fp, k);
}

static void report_unsettled(const batch *b, int timeout_ms)
{
    size_t shown = 0;
    for (size_t i = 0; i < b->n; i++) {
        const job *j = &b->j[i];
        char nb[16];
        if (settled(b, j) || shown++ >= 10) /* ten are enough to see why */
            continue;
        if (!j->answered)
            fprintf(stderr, "distribux: no answer for task %s within %d ms "
                    "(is there a leader?)\n", j->id, timeout_ms);
        else if (j->ok && b->wait && !j->final)
            fprintf(stderr, "distribux: task %s not finished within %d ms "
                    "(%s on %s)\n", j->id, timeout_ms,
                    j->seen ? dx_task_state_name(j->state) : "no record",
                    node_text(j->node, nb));
    }
    if (shown > 10)
        fprintf(stderr, "distribux: and %zu more\n", shown - 10);
}

static cJSON *job_json(const batch *b, const job *j)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", j->id);
    if (j->answered && !j->ok)
        cJSON_AddStringToObject(o, "error", j->text ? j->text : "");
    if (b->wait) {
        cJSON_AddStringToObject(o, "state", j->seen || j->final
                                ? dx_task_state_name(j->state) : "unknown");
        if (j->node)
            cJSON_AddNumberToObject(o, "node", j->node);
        else
            cJSON_AddNullToObject(o, "node");
        cJSON_AddNumberToObject(o, "attempt", j->attempt);
        if (j->final)
            cJSON_AddStringToObject(o, "result", j->text ? j->text : "");
    }
    return o;
}

static int cmd_submit(const cli_opts *o, int argc, char **argv)
{
    sub_opts s;
    batch b;
    cli *c;
    char reply[DX_TOPIC_MAX + 1], topic[DX_TOPIC_MAX + 1], base[32];
    int rc, timeout;
    bool ok = true;

    if ((rc = parse_submit(&s, argc, argv)) != 0)
        return rc;
    timeout = o->timeout_ms > 0 ? o->timeout_ms
                                : s.wait ? WAIT_DEFAULT_MS : 3000;
    memset(&b, 0, sizeof b);
    b.n = s.count > 0 ? (size_t)s.count : 1;
    b.exact = s.id[0] != '\0' && s.count == 0;
    b.wait = s.wait;
    b.json = o->json;
    if (s.id[0] == '\0') {
        /* Unique per call (pid and clock), so a retry is idempotent and
         * another call never collides with it. */
        snprintf(base, sizeof base, "c%ld-%06" PRIx64, (long)getpid(),
                 (uint64_t)(cli_now_ms() ^ (int64_t)time(NULL)) & 0xffffff);
        b.base = base;
    } else {
        b.base = s.id;
    }
    if ((c = open_cli(o, NULL, reply)) == NULL)
        return 1;
    dx_topic_build(cli_topics(c), DX_T_TASK_SUBMIT, 0, NULL, topic,
                   sizeof topic);
    b.topic = topic;
    if ((b.j = calloc(b.n, sizeof *b.j)) == NULL) {
        cli_close(&c);
        return 1;
    }
    snprintf(s.spec.reply_to, sizeof s.spec.reply_to, "%s", reply);
    for (size_t i = 0; i < b.n; i++) {
        char buf[2048];
        size_t len;
        if (b.exact)
            snprintf(b.j[i].id, sizeof b.j[i].id, "%s", b.base);
        else
            snprintf(b.j[i].id, sizeof b.j[i].id, "%s-%zu", b.base, i + 1);
        memcpy(s.spec.id, b.j[i].id, sizeof s.spec.id);
        snprintf(s.spec.corr, sizeof s.spec.corr, "%zu", i);
        if (dx_task_spec_encode(&s.spec, buf, sizeof buf, &len) != 0 ||
            (b.j[i].payload = malloc(len + 1)) == NULL) {
            fprintf(stderr, "distribux submit: cannot encode the task\n");
            free_batch(&b);
            cli_close(&c);
            return 2;
        }
        memcpy(b.j[i].payload, buf, len + 1);
        b.j[i].len = len;
    }
    rc = b.wait ? subscribe_records(c, &b) : 0;
    b.deadline = cli_now_ms() + timeout;
    if (rc == 0 && run_batch(c, &b) != 0)
        report_unsettled(&b, timeout);
    for (size_t i = 0; i < b.n; i++)
        ok = ok && b.j[i].answered && b.j[i].ok &&
             (!b.wait || (b.j[i].final && b.j[i].state == DX_TS_DONE));
    if (o->json) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; i < b.n; i++)
            cJSON_AddItemToArray(arr, job_json(&b, &b.j[i]));
        print_json_list(arr, s.count == 0);
    }
    free_batch(&b);
    cli_close(&c);
    return rc == 0 && ok ? 0 : 1;
}

/* ---- cancel ---- */

static int cmd_cancel(const cli_opts *o, int argc, char **argv)
{
    batch b;
    job j;
    cli *c;
    char reply[DX_TOPIC_MAX + 1], topic[DX_TOPIC_MAX + 1], buf[512];
    dx_msg_request rq;
    int rc, timeout = o->timeout_ms > 0 ? o->timeout_ms : 3000;

    if (argc != 2 || !dx_task_id_is_valid(argv[1]))
        return cli_usage_error("cancel", "expected one task id (usage: cancel "
                           "ID)");
    if ((c = open_cli(o, NULL, reply)) == NULL)
        return 1;
    memset(&b, 0, sizeof b);
    memset(&j, 0, sizeof j);
    memset(&rq, 0, sizeof rq);
    snprintf(j.id, sizeof j.id, "%s", argv[1]);
    snprintf(rq.reply_to, sizeof rq.reply_to, "%s", reply);
    snprintf(rq.corr, sizeof rq.corr, "0");
    dx_topic_build(cli_topics(c), DX_T_TASK_CANCEL, 0, j.id, topic,
                   sizeof topic);
    dx_msg_request_encode(&rq, buf, sizeof buf, &j.len);
    j.payload = buf;
    b.topic = topic;
    b.j = &j;
    b.n = 1;
    b.deadline = cli_now_ms() + timeout;
    rc = run_batch(c, &b);
    cli_close(&c);
    if (rc != 0)
        fprintf(stderr, "distribux cancel: no answer from a leader within "
                "%d ms\n", timeout);
    else if (o->json) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "id", j.id);
        cJSON_AddBoolToObject(r, "ok", j.ok);
        cJSON_AddNumberToObject(r, "node", j.node);
        if (!j.ok)
            cJSON_AddStringToObject(r, "error", j.text ? j.text : "");
        cli_print_json(r);
    } else if (j.ok)
        printf("Task %s: cancel accepted by Node %u (leader)\n", j.id, j.node);
    free(j.text);
    return rc == 0 && j.ok ? 0 : 1;
}

/* ---- tasks, task: the retained records ---- */

/* Compares ids with digit runs as numbers: t2-9 < t2-10. */
static int natcmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            size_t la, lb;
            int r;
            a += strspn(a, "0");
            b += strspn(b, "0");
            la = strspn(a, "0123456789");
            lb = strspn(b, "0123456789");
            if (la != lb)
                return la < lb ? -1 : 1;
            if ((r = strncmp(a, b, la)) != 0)
                return r;
            a += la;
            b += lb;
        } else if (*a != *b) {
            return (unsigned char)*a - (unsigned char)*b;
        } else {
            a++, b++;
        }
    }
    return (unsigned char)*a - (unsigned char)*b;
}

typedef struct rec {
    const cli_msg *m;
    size_t seq;
} rec;

static int by_id_then_seq(const void *pa, const void *pb)
{
    const rec *a = pa, *b = pb;
    int r = natcmp(a->m->ref.name, b->m->ref.name);
    if (r == 0)
        r = strcmp(a->m->ref.name, b->m->ref.name);
    return r != 0 ? r : a->seq < b->seq ? -1 : 1;
}

/* The latest retained record of each task received, sorted by id, into a
 * malloc'd array; returns how many (their messages stay in c). */
static size_t latest_records(cli *c, const cli_msg ***out)
{
    size_t n = 0, k = 0;
    rec *all;
    for (const cli_msg *m = cli_messages(c); m != NULL; m = m->next)
        n += m->ref.kind == DX_T_TASK_RECORD;
    all = calloc(n + 1, sizeof *all);
    *out = calloc(n + 1, sizeof **out);
    if (all == NULL || *out == NULL) {
        free(all);
        return 0;
    }
    n = 0;
    for (const cli_msg *m = cli_messages(c); m != NULL; m = m->next)
        if (m->ref.kind == DX_T_TASK_RECORD) {
            all[n].m = m;
            all[n].seq = n;
            n++;
        }
    qsort(all, n, sizeof *all, by_id_then_seq);
    for (size_t i = 0; i < n; i++)
        if ((i + 1 == n || strcmp(all[i].m->ref.name,
                                  all[i + 1].m->ref.name) != 0) &&
            all[i].m->plen > 0)
            (*out)[k++] = all[i].m;
    free(all);
    return k;
}

/* A record as JSON: the payload as published, with node and attempt
 * always present (null and 0 while unplaced). */
static cJSON *record_json(const cli_msg *m)
{
    cJSON *j = cJSON_Parse(m->payload);
    if (j == NULL)
        return NULL;
    if (!cJSON_HasObjectItem(j, "node"))
        cJSON_AddNullToObject(j, "node");
    if (!cJSON_HasObjectItem(j, "attempt"))
        cJSON_AddNumberToObject(j, "attempt", 0);
    return j;
}

static void spec_text(const dx_task_spec *s, char *buf, size_t cap)
{
    size_t w = (size_t)snprintf(buf, cap, "%s", dx_task_kind_name(s->kind));
#define ADD(cond, ...)                                                      \
    if ((cond) && w < cap)                                                  \
        w += (size_t)snprintf(buf + w, cap - w, __VA_ARGS__)
    ADD(s->ms, " ms=%" PRIu32, s->ms);
    ADD(s->mem_kb, " mem_kb=%" PRIu32, s->mem_kb);
    ADD(s->node, " node=%u", s->node);
    ADD(s->every_ms, " every_ms=%" PRIu32, s->every_ms);
    ADD(s->device[0], " device=%s", s->device);
    ADD(s->has_value, " value=%.15g", s->value);
#undef ADD
}

static int cmd_records(const cli_opts *o, int argc, char **argv)
{
    bool one = strcmp(argv[0], "task") == 0;
    char reply[DX_TOPIC_MAX + 1], filter[DX_TOPIC_MAX + 1];
    static dx_task_record r;   /* large */
    const cli_msg **recs = NULL;
    dx_topics t;
    cli_opts oo = *o;
    cli *c;
    size_t n;

    if (one && (argc != 2 || !dx_task_id_is_valid(argv[1])))
        return cli_usage_error("task", "expected one task id (usage: task ID)");
    if (!one && argc != 1)
        return cli_usage_error("tasks", "unexpected '%s'", argv[1]);
    if (dx_topics_init(&t, o->root, o->cluster, NULL) != 0 ||
        (one ? dx_topic_build(&t, DX_T_TASK_RECORD, 0, argv[1], filter,
                              sizeof filter)
             : dx_topic_filter(&t, DX_T_TASK_RECORD, filter, sizeof filter)) != 0)
        return cli_usage_error(argv[0], "bad cluster root");
    if (oo.timeout_ms <= 0)
        oo.timeout_ms = 3000;
    if ((c = open_cli(&oo, filter, reply)) == NULL)
        return 1;
    sync_retained(c, &oo, reply);
    n = latest_records(c, &recs);
    if (one && n == 0) {
        fprintf(stderr, "distribux task: no task %s\n", argv[1]);
        free(recs);
        cli_close(&c);
        return 1;
    }
    if (o->json) {
        cJSON *arr = cJSON_CreateArray(), *j;
        for (size_t i = 0; i < n; i++)
            if ((j = record_json(recs[i])) != NULL)
                cJSON_AddItemToArray(arr, j);
        if (one) {
            print_json_list(arr, true);
        } else {
            j = cJSON_CreateObject();
            cJSON_AddItemToObject(j, "tasks", arr);
            cli_print_json(j);
        }
    } else if (!one && n == 0) {
        printf("No task records.\n");
    } else if (!one) {
        int w = 4;
        for (size_t i = 0; i < n; i++)
            if ((int)strlen(recs[i]->ref.name) > w)
                w = (int)strlen(recs[i]->ref.name);
        printf("%-*s %-9s %-6s %7s %-12s %s\n", w, "ID", "STATE", "NODE",
               "ATTEMPT", "KIND", "RESULT");
        for (size_t i = 0; i < n; i++) {
            char res[RESULT_COLS + 1], node[8] = "-";
            if (dx_task_record_decode(recs[i]->payload, recs[i]->plen, &r,
                                      NULL) != 0)
                continue;
            dx_text_copy(res, sizeof res, r.result);
            if (r.node)
                snprintf(node, sizeof node, "%u", r.node);
            printf("%-*s %-9s %-6s %7" PRIu32 " %-12s %s%s\n", w,
                   recs[i]->ref.name, dx_task_state_name(r.state), node,
                   r.attempt, dx_task_kind_name(r.spec.kind), res,
                   strlen(r.result) > strlen(res) ? "..." : "");
        }
    } else if (dx_task_record_decode(recs[0]->payload, recs[0]->plen, &r,
                                     NULL) == 0) {
        char spec[256], b1[CLI_WALL_TEXT_MAX], b2[CLI_WALL_TEXT_MAX],
            b3[CLI_WALL_TEXT_MAX], nb[16] = "-";
        spec_text(&r.spec, spec, sizeof spec);
        if (r.node)
            snprintf(nb, sizeof nb, "%u", r.node);
        printf("Task      %s\nState     %s\nNode      %s\nAttempt   %" PRIu32
               "\nTerm      %" PRIu64 "\nSpec      %s\nSubmitted %s\n"
               "Started   %s\nFinished  %s\n", argv[1],
               dx_task_state_name(r.state), nb, r.attempt,
               r.term, spec, cli_wall_text(r.submitted_ms, b1),
               cli_wall_text(r.started_ms, b2), cli_wall_text(r.finished_ms, b3));
        if (r.runs)
            printf("Runs      %" PRIu64 "\n", r.runs);
        printf("Result    %s\n", r.result[0] ? r.result : "-");
    }
    free(recs);
    cli_close(&c);
    return 0;
}

int cli_task_command(const cli_opts *o, int argc, char **argv)
{
    if (strcmp(argv[0], "submit") == 0)
        return cmd_submit(o, argc, argv);
    if (strcmp(argv[0], "cancel") == 0)
        return cmd_cancel(o, argc, argv);
    if (strcmp(argv[0], "tasks") == 0 || strcmp(argv[0], "task") == 0)
        return cmd_records(o, argc, argv);
    return -1;
}
