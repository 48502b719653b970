/*
 * client.c - the CLI's connection to the cluster.  See client.h.
 */
#include "client.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct cli {
    cli_opts o;
    dx_topics topics;
    dx_link *link;
    char client_id[64];
    char password[256];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    cli_msg *head, *tail;
    int64_t last_ms;
};

int64_t cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_message(void *ctx, const char *topic, size_t tlen,
                       const void *payload, size_t plen, bool retained)
{
    cli *c = ctx;
    cli_msg *m = malloc(sizeof *m + tlen + 1 + plen + 1);
    if (m == NULL)
        return;
    m->next = NULL;
    m->at_ms = cli_now_ms();
    m->retained = retained;
    m->tlen = tlen;
    m->plen = plen;
    m->topic = m->data;
    m->payload = m->data + tlen + 1;
    memcpy(m->topic, topic, tlen);
    m->topic[tlen] = '\0';
    if (plen)
        memcpy(m->payload, payload, plen);
    m->payload[plen] = '\0';
    if (dx_topic_parse(&c->topics, topic, tlen, &m->ref) != 0)
        m->ref.kind = DX_T_UNKNOWN;
    pthread_mutex_lock(&c->mu);
    if (c->tail)
        c->tail->next = m;
    else
        c->head = m;
    c->tail = m;
    c->last_ms = m->at_ms;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void on_status(void *ctx, dx_link_status st, int code, const char *text)
{
    (void)ctx, (void)st, (void)code, (void)text;
}

static int read_password(cli *c)
{
    const char *env = getenv("DX_PASSWORD");
    if (c->o.password_file != NULL) {
        FILE *f = fopen(c->o.password_file, "r");
        if (f == NULL || fgets(c->password, sizeof c->password, f) == NULL) {
            fprintf(stderr, "distribux: --password-file: cannot read '%s'\n",
                    c->o.password_file);
            if (f)
                fclose(f);
            return -1;
        }
        fclose(f);
        c->password[strcspn(c->password, "\r\n")] = '\0';
    } else if (env != NULL) {
        snprintf(c->password, sizeof c->password, "%s", env);
    }
    return 0;
}

cli *cli_connect(const cli_opts *o)
{
    cli *c = calloc(1, sizeof *c);
    dx_diag d = {{0}};
    dx_link_opts lo;
    dx_link_cb cb;
    pthread_condattr_t ca;
    char why[256];
    int rc;

    if (c == NULL)
        return NULL;
    c->o = *o;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (dx_topics_init(&c->topics, o->root, o->cluster, &d) != 0) {
        fprintf(stderr, "distribux: %s\n", d.msg);
        goto fail;
    }
    if (read_password(c) != 0)
        goto fail;
    snprintf(c->client_id, sizeof c->client_id, "dx-cli-%ld-%lx",
             (long)getpid(), (unsigned long)(cli_now_ms() & 0xffffff));
    memset(&lo, 0, sizeof lo);
    lo.uri = o->broker;
    lo.client_id = c->client_id;
    lo.keepalive_s = 20;
    lo.connect_timeout_s = 3;
    lo.max_inflight = 100;
    lo.user = o->user;
    lo.password = c->password[0] ? c->password : NULL;
    lo.cafile = o->cafile;
    lo.cert = o->cert;
    lo.key = o->key;
    cb.on_message = on_message;
    cb.on_status = on_status;
    cb.ctx = c;
    if (dx_link_create(&c->link, &lo, &cb) != 0) {
        fprintf(stderr, "distribux: --broker: cannot use '%s'\n", o->broker);
        goto fail;
    }
    if ((rc = dx_link_connect_wait(c->link, 4000, why, sizeof why)) != 0) {
        fprintf(stderr, "distribux: cannot reach the broker at %s: %s\n",
                o->broker, why);
        if (rc == DX_EAUTH || rc == DX_ETLS) {
            /* Refused credentials or a failed TLS handshake: a usage
             * error, like a bad option (exit 2), not "the cluster said no"
             * (1): trying again will not help. */
            cli_close(&c);
            exit(2);
        }
        goto fail;
    }
    return c;
fail:
    cli_close(&c);
    return NULL;
}

void cli_close(cli **cp)
{
    cli *c = *cp;
    cli_msg *m;
    if (c == NULL)
        return;
    if (c->link != NULL) {
        (void)dx_link_disconnect(c->link, 500);
        if (c->o.one_shot)
            dx_link_leave(&c->link);
        else
            dx_link_destroy(&c->link);
    }
    while ((m = c->head) != NULL) {
        c->head = m->next;
        free(m);
    }
    memset(c->password, 0, sizeof c->password);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
    *cp = NULL;
}

const dx_topics *cli_topics(const cli *c)
{
    return &c->topics;
}

const char *cli_client_id(const cli *c)
{
    return c->client_id;
}

int cli_subscribe(cli *c, const char *const *filters, size_t n)
{
    if (dx_link_subscribe_wait(c->link, filters, n, 1, 3000) != 0) {
        fprintf(stderr, "distribux: the broker did not confirm the "
                "subscription to %s\n", filters[0]);
        return -1;
    }
    return 0;
}

int cli_subscribe_async(cli *c, const char *const *filters, size_t n)
{
    if (dx_link_subscribe(c->link, filters, n, 1) != 0) {
        fprintf(stderr, "distribux: cannot subscribe to %s: the broker "
                "connection is down\n", filters[0]);
        return -1;
    }
    return 0;
}

int cli_subscribe_kind(cli *c, dx_topic_kind kind)
{
    char f[DX_TOPIC_MAX + 1];
    const char *p = f;
    if (dx_topic_filter(&c->topics, kind, f, sizeof f) != 0)
        return -1;
    return cli_subscribe(c, &p, 1);
}

static struct timespec abs_in(int64_t at_ms)
{
    struct timespec ts = {(time_t)(at_ms / 1000), (long)(at_ms % 1000) * 1000000L};
    return ts;
}

const cli_msg *cli_wait(cli *c, bool (*pred)(const cli_msg *, void *),
                        void *arg, int timeout_ms, const cli_msg **cursor)
{
    int64_t dl = cli_now_ms() + timeout_ms;
    struct timespec ts = abs_in(dl);
    const cli_msg *m = NULL;

    pthread_mutex_lock(&c->mu);
    for (;;) {
        const cli_msg *p = *cursor ? (*cursor)->next : c->head;
        const cli_msg *last = *cursor;
        for (; p != NULL; p = p->next) {
            last = p;
            if (pred == NULL || pred(p, arg)) {
                m = p;
                break;
            }
        }
        *cursor = last;
        if (m != NULL ||
            pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&c->mu);
    return m;
}

/* Unlinks the first message pred accepts; called with c->mu held. */
static cli_msg *unlink_first(cli *c, bool (*pred)(const cli_msg *, void *),
                             void *arg)
{
    cli_msg *prev = NULL, *p;
    for (p = c->head; p != NULL; prev = p, p = p->next) {
        if (pred != NULL && !pred(p, arg))
            continue;
        if (prev != NULL)
            prev->next = p->next;
        else
            c->head = p->next;
        if (c->tail == p)
            c->tail = prev;
        p->next = NULL;
        return p;
    }
    return NULL;
}

cli_msg *cli_take(cli *c, bool (*pred)(const cli_msg *, void *), void *arg,
                  int timeout_ms)
{
    struct timespec ts = abs_in(cli_now_ms() + timeout_ms);
    cli_msg *m;
    pthread_mutex_lock(&c->mu);
    while ((m = unlink_first(c, pred, arg)) == NULL &&
           pthread_cond_timedwait(&c->cv, &c->mu, &ts) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&c->mu);
    return m;
}

void cli_drop(cli *c, bool (*pred)(const cli_msg *, void *), void *arg)
{
    cli_msg *m;
    pthread_mutex_lock(&c->mu);
    while ((m = unlink_first(c, pred, arg)) != NULL)
        free(m);
    pthread_mutex_unlock(&c->mu);
}

void cli_settle(cli *c, int quiet_ms, int max_ms)
{
    int64_t start = cli_now_ms(), end = start + max_ms;
    pthread_mutex_lock(&c->mu);
    if (c->last_ms < start)
        c->last_ms = start;
    for (;;) {
        int64_t quiet_end = c->last_ms + quiet_ms;
        int64_t until = quiet_end < end ? quiet_end : end;
        struct timespec ts = abs_in(until);
        if (cli_now_ms() >= until)
            break;
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    pthread_mutex_unlock(&c->mu);
}

const cli_msg *cli_messages(cli *c)
{
    const cli_msg *m;
    pthread_mutex_lock(&c->mu);
    m = c->head;
    pthread_mutex_unlock(&c->mu);
    return m;
}

int cli_publish(cli *c, const char *topic, const char *payload, size_t len,
                int qos, bool retain)
{
    if (dx_link_publish(c->link, topic, payload, len, qos, retain) != 0 ||
        dx_link_flush(c->link, 3000) != 0) {
        fprintf(stderr, "distribux: the broker did not accept the message "
                "to %s\n", topic);
        return -1;
    }
    return 0;
}

int cli_publish_async(cli *c, const char *topic, const void *payload,
                      size_t len, int qos, bool retain)
{
    if (dx_link_publish(c->link, topic, payload, len, qos, retain) != 0) {
        fprintf(stderr, "distribux: the broker connection is down (sending "
                "to %s)\n", topic);
        return -1;
    }
    return 0;
}

int cli_flush(cli *c, int timeout_ms)
{
    if (dx_link_flush(c->link, timeout_ms) != 0) {
        fprintf(stderr, "distribux: the broker did not acknowledge every "
                "message within %d ms\n", timeout_ms);
        return -1;
    }
    return 0;
}

typedef struct reply_match {
    const char *corr;
    dx_msg_reply r;
} reply_match;

static bool is_reply(const cli_msg *m, void *arg)
{
    reply_match *rm = arg;
    return m->ref.kind == DX_T_REPLY &&
           dx_msg_reply_decode(m->payload, m->plen, &rm->r, NULL) == 0 &&
           strcmp(rm->r.corr, rm->corr) == 0;
}

static bool is_state(const cli_msg *m, void *arg)
{
    return m->ref.kind == DX_T_NODE_STATE && m->ref.node == *(uint16_t *)arg;
}

int cli_node_command(cli *c, uint16_t node, dx_cmd_type cmd, uint32_t for_ms)
{
    char st_topic[DX_TOPIC_MAX + 1], reply_topic[DX_TOPIC_MAX + 1];
    char cmd_topic[DX_TOPIC_MAX + 1], buf[1024];
    const char *subs[2] = {st_topic, reply_topic};
    const cli_msg *cur = NULL, *m;
    dx_msg_cmd mc;
    dx_msg_state st;
    reply_match rm;
    size_t len;

    dx_topic_build(&c->topics, DX_T_NODE_STATE, node, NULL, st_topic,
                   sizeof st_topic);
    dx_topic_build(&c->topics, DX_T_REPLY, 0, c->client_id, reply_topic,
                   sizeof reply_topic);
    dx_topic_build(&c->topics, DX_T_NODE_CMD, node, NULL, cmd_topic,
                   sizeof cmd_topic);
    if (cli_subscribe(c, subs, 2) != 0)
        return 1;
    /* The node must exist: its retained state arrives right after SUBACK. */
    m = cli_wait(c, is_state, &node, 500, &cur);
    if (m == NULL || m->plen == 0 ||
        dx_msg_state_decode(m->payload, m->plen, &st, NULL) != 0) {
        fprintf(stderr, "distribux: unknown node %u: no agent has announced "
                "that id in cluster root %s\n", node, c->topics.root);
        return 1;
    }
    if (st.state != DX_WIRE_ONLINE &&
        (cmd == DX_CMD_FAIL || cmd == DX_CMD_HANG)) {
        fprintf(stderr, "distribux: node %u is not online (it is %s: %s)\n",
                node, dx_wire_state_name(st.state), st.reason);
        return 1;
    }

    memset(&mc, 0, sizeof mc);
    mc.cmd = cmd;
    mc.for_ms = for_ms;
    snprintf(mc.reply_to, sizeof mc.reply_to, "%s", reply_topic);
    snprintf(mc.corr, sizeof mc.corr, "%s-%u", dx_cmd_name(cmd), node);
    if (dx_msg_cmd_encode(&mc, buf, sizeof buf, &len) != 0 ||
        cli_publish(c, cmd_topic, buf, len, 1, false) != 0)
        return 1;
    rm.corr = mc.corr;
    cur = NULL;
    if (cli_wait(c, is_reply, &rm, c->o.timeout_ms, &cur) == NULL) {
        fprintf(stderr, "distribux: node %u did not answer within %d ms%s\n",
                node, c->o.timeout_ms,
                st.state != DX_WIRE_ONLINE ? " (it is not online)" : "");
        return 1;
    }
    if (!rm.r.ok) {
        fprintf(stderr, "distribux: node %u refused: %s\n", node, rm.r.error);
        return 1;
    }
    return 0;
}
