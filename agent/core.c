/*
 * core.c - one agent's cluster logic: dispatches messages to membership
 * and election, turns their decisions into messages, and keeps the
 * heartbeat.  See core.h.
 *
 * Events ({root}/events) are published once per cluster, not once per
 * node: a membership change is announced by the leader, or, when the change
 * is the leader's own death, by the highest survivor (its successor); an
 * election result by the new leader.  Every node still logs what it sees.
 *
 * Task traffic is batched so that a task costs little more than its
 * submission and its record: the leader's items for a node and a node's
 * reports go at most once per DX_BATCH_MS (at once when the last batch is
 * older), acks alone wait up to DX_ACK_DELAY_MS for a "run" to ride with,
 * and every record the leader writes also goes to the followers in batches
 * on {root}/replica/tasks -- before any assign batch, so a final record
 * reaches the replicas no later than its ack reaches the node -- and the
 * whole table again when a node comes online or a leader takes over.
 */
#include "core.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define SMALL_PAYLOAD 2048

/* Reserves a publish action; the caller encodes into its payload. */
static dx_action *begin_publish(dx_core *c, dx_topic_kind kind,
                                uint16_t node, const char *name, int qos,
                                bool retain, size_t cap)
{
    dx_action *a = dx_outbox_add(&c->out, DX_ACT_PUBLISH, cap);
    if (a == NULL)
        return NULL;
    if (dx_topic_build(&c->cfg.topics, kind, node, name, a->topic,
                       sizeof a->topic) != 0) {
        dx_outbox_cancel(&c->out, a);
        return NULL;
    }
    a->qos = qos;
    a->retain = retain;
    return a;
}

/* Encodes msg with dx_<type>_encode into the action just reserved (the
 * arena's tail) and commits it; an encoding failure is a bug, logged and
 * not sent. */
#define PUBLISH(c, a, type, msg)                                            \
    do {                                                                     \
        size_t len_ = 0;                                                     \
        if ((a) == NULL)                                                     \
            break;                                                           \
        if (dx_##type##_encode((msg), dx_outbox_payload(&(c)->out, (a)),     \
                               (c)->out.used - (a)->off, &len_) == 0) {      \
            (a)->len = len_;                                                 \
            dx_outbox_commit(&(c)->out, (a));                                \
        } else {                                                             \
            dx_outbox_cancel(&(c)->out, (a));                                \
            dx_outbox_log(&(c)->out, DX_LOG_ERROR, "cannot encode " #type);  \
        }                                                                    \
    } while (0)

static void leadership_changed(dx_core *c, int64_t now, int64_t wall);
static void sync_sched(dx_core *c);
static void task_notes(dx_core *c, int64_t wall);

/* Logs a line and, when `announce`, publishes it on {root}/events. */
static void event(dx_core *c, bool announce, const char *kind,
                  uint16_t subject, int64_t wall, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void event(dx_core *c, bool announce, const char *kind,
                  uint16_t subject, int64_t wall, const char *fmt, ...)
{
    dx_msg_event ev;
    va_list ap;
    dx_action *a;

    memset(&ev, 0, sizeof ev);
    va_start(ap, fmt);
    vsnprintf(ev.text, sizeof ev.text, fmt, ap);
    va_end(ap);
    dx_outbox_log(&c->out, DX_LOG_INFO, "%s", ev.text);
    if (!announce || !c->connected)
        return;
    ev.node = c->cfg.id;
    snprintf(ev.kind, sizeof ev.kind, "%s", kind);
    ev.subject = subject;
    ev.term = c->elect.term;
    ev.ts_ms = wall;
    a = begin_publish(c, DX_T_EVENTS, 0, NULL, 1, false, SMALL_PAYLOAD);
    PUBLISH(c, a, msg_event, &ev);
}

void dx_core_init(dx_core *c, const dx_core_cfg *cfg)
{
    dx_elect_cfg ec;

    c->cfg = *cfg;
    dx_members_init(&c->members, cfg->id, cfg->timeout_ms);
    /* A candidate waits a little over one heartbeat for a higher node to
     * answer; settling after a connect covers the retained births. */
    ec.answer_ms = cfg->heartbeat_ms + 50;
    ec.coord_ms = cfg->timeout_ms + cfg->heartbeat_ms;
    ec.settle_ms = 2 * cfg->heartbeat_ms + 50;
    ec.jitter_ms = cfg->heartbeat_ms / 2 + 1;
    ec.seed = cfg->seed;
    dx_elect_init(&c->elect, cfg->id, &ec);
    c->connected = false;
    c->epoch = 0;
    c->hb_seq = 0;
    c->next_hb_ms = 0;
    c->last_tick_ms = 0;
    memset(&c->load, 0, sizeof c->load);
    c->rejected = 0;
    c->members_dirty = false;
    dx_outbox_clear(&c->out);
    c->out.dropped = 0;
    c->has_pool = cfg->pool_mem != NULL &&
                  dx_pool_init(&c->pool, cfg->pool_mem, cfg->pool_bytes,
                               cfg->pool_meta, cfg->pool_meta_bytes) == 0;
    dx_exec_init(&c->exec, cfg->id, cfg->workers ? cfg->workers : 1,
                 c->has_pool ? &c->pool : NULL);
    dx_tasks_init(&c->tasks, cfg->id,
                  cfg->task_ttl_ms > 0 ? cfg->task_ttl_ms
                                       : DX_TASK_TTL_DEFAULT_MS);
    c->n_sn = 0;
    c->draining = false;
    c->leading = false;
    c->dfs = NULL;
    c->scratch_file = NULL;
    c->scratch_dreply = NULL;
    c->next_scrub_ms = 0;
    if (cfg->dfs_enabled) {
        dx_dfs_cfg dc = cfg->dfs;
        int rc = DX_ENOMEM;
        dc.self = cfg->id;
        dc.topics = cfg->topics;
        c->scratch_file = malloc(sizeof *c->scratch_file);
        c->scratch_dreply = malloc(sizeof *c->scratch_dreply);
        if (c->scratch_file == NULL || c->scratch_dreply == NULL ||
            (rc = dx_dfs_create(&c->dfs, &dc)) != 0) {
            dx_outbox_log(&c->out, DX_LOG_ERROR, "the DFS is off: %s",
                          dx_strerror(rc));
            dx_core_fini(c);
        }
    }
}

void dx_core_fini(dx_core *c)
{
    dx_dfs_destroy(&c->dfs);
    free(c->scratch_file);
    c->scratch_file = NULL;
    free(c->scratch_dreply);
    c->scratch_dreply = NULL;
}

/* Topics the agents follow: node 0 means '+', self means this node.  The
 * leader alone takes submissions, reports and cancels; the followers alone
 * take the replica stream (the leader writes it).  Nobody subscribes to
 * the retained records {root}/tasks/+: they are for outside readers. */
enum { SUB_ALL, SUB_LEADER, SUB_FOLLOWER };

static const struct sub {
    dx_topic_kind kind;
    bool self;
    int who;
} subs_table[] = {
    {DX_T_NODE_STATE, false, SUB_ALL},   {DX_T_NODE_HEARTBEAT, false, SUB_ALL},
    {DX_T_ELECTION, false, SUB_ALL},     {DX_T_LEADER, false, SUB_ALL},
    {DX_T_NODE_CMD, true, SUB_ALL},      {DX_T_NODE_ASSIGN, true, SUB_ALL},
    {DX_T_IO_ACT_SET, true, SUB_ALL},
    {DX_T_TASK_REPLICA, false, SUB_FOLLOWER},
    {DX_T_TASK_SUBMIT, false, SUB_LEADER},
    {DX_T_NODE_REPORT, false, SUB_LEADER},
    {DX_T_TASK_CANCEL, false, SUB_LEADER},
};

int dx_core_subscription_qos(const dx_core *c, const char *filter)
{
    char submit[DX_TOPIC_MAX + 1];
    /* Submissions come at QoS 0 from the broker (the submitter's QoS 1
     * ends at the broker): with a clean session, QoS 1 would save none of
     * them if the leader's connection dropped, and costs a PUBACK and the
     * broker's in-flight window (20) per submission. */
    if (dx_topic_filter(&c->cfg.topics, DX_T_TASK_SUBMIT, submit,
                        sizeof submit) == 0 &&
        strcmp(filter, submit) == 0)
        return 0;
    return 1;
}

/* The DFS topics: every agent's (files, acks, its fetches and replies, its
 * store filters) and the leader's (requests, bad-copy reports). */
static size_t dfs_subscriptions(const dx_core *c, bool leader_only,
                                char subs[][DX_TOPIC_MAX + 1], size_t cap)
{
    const dx_topics *t = &c->cfg.topics;
    size_t n = 0;
    if (c->dfs == NULL)
        return 0;
    if (!leader_only && cap >= 4 + DX_DFS_STORE_FILTERS) {
        if (dx_dfs_filter_files(t, subs[n], DX_TOPIC_MAX + 1) == 0)
            n++;
        if (dx_dfs_filter_stored(t, subs[n], DX_TOPIC_MAX + 1) == 0)
            n++;
        if (dx_dfs_topic_fetch(t, c->cfg.id, subs[n], DX_TOPIC_MAX + 1) == 0)
            n++;
        snprintf(subs[n++], DX_TOPIC_MAX + 1, "%s", dx_dfs_reply_topic(c->dfs));
        n += dx_dfs_store_filters(t, c->cfg.id, subs + n, cap - n);
    }
    if ((leader_only || c->leading) && cap - n >= 2) {
        if (dx_dfs_topic_req(t, subs[n], DX_TOPIC_MAX + 1) == 0)
            n++;
        if (dx_dfs_topic_bad(t, subs[n], DX_TOPIC_MAX + 1) == 0)
            n++;
    }
    return n;
}

/* The filters of `who`: SUB_ALL = everything this agent needs in its
 * current role; SUB_LEADER / SUB_FOLLOWER = only the topics of that role
 * (what changes hands with leadership). */
static size_t subscriptions(const dx_core *c, int who,
                            char subs[][DX_TOPIC_MAX + 1], size_t cap)
{
    int role = c->leading ? SUB_LEADER : SUB_FOLLOWER;
    size_t n = 0;
    for (size_t i = 0; i < sizeof subs_table / sizeof subs_table[0]; i++) {
        const struct sub *s = &subs_table[i];
        bool take = who == SUB_ALL ? (s->who == SUB_ALL || s->who == role)
                                   : s->who == who;
        if (n == cap || !take)
            continue;
        if (dx_topic_filter_node(&c->cfg.topics, s->kind,
                                 s->self ? c->cfg.id : 0, subs[n],
                                 DX_TOPIC_MAX + 1) == 0)
            n++;
    }
    if (who == SUB_FOLLOWER)
        return n;
    return n + dfs_subscriptions(c, who == SUB_LEADER, subs + n, cap - n);
}

size_t dx_core_subscriptions(const dx_core *c,
                             char subs[][DX_TOPIC_MAX + 1], size_t cap)
{
    return subscriptions(c, SUB_ALL, subs, cap);
}

static void fill_state(const dx_core *c, dx_msg_state *st, uint64_t epoch,
                       dx_wire_state state, const char *reason)
{
    memset(st, 0, sizeof *st);
    st->id = c->cfg.id;
    memcpy(st->name, c->cfg.name, sizeof st->name);
    st->state = state;
    st->epoch = epoch;
    snprintf(st->reason, sizeof st->reason, "%s", reason);
    if (state == DX_WIRE_ONLINE) {
        st->pool_kb = c->cfg.pool_kb;
        st->heartbeat_ms = (uint32_t)c->cfg.heartbeat_ms;
        st->n_devices = c->cfg.n_devices;
        memcpy(st->devices, c->cfg.devices, sizeof st->devices);
    }
}

int dx_core_will(const dx_core *c, uint64_t epoch, char *topic, size_t tcap,
                 char *payload, size_t pcap, size_t *plen)
{
    dx_msg_state st;
    int rc = dx_topic_build(&c->cfg.topics, DX_T_NODE_STATE, c->cfg.id, NULL,
                            topic, tcap);
    if (rc != 0)
        return rc;
    fill_state(c, &st, epoch, DX_WIRE_OFFLINE, "crash");
    return dx_msg_state_encode(&st, payload, pcap, plen);
}

static void publish_state(dx_core *c, dx_wire_state state, const char *reason)
{
    dx_msg_state st;
    dx_action *a = begin_publish(c, DX_T_NODE_STATE, c->cfg.id, NULL, 1, true,
                                 SMALL_PAYLOAD);
    fill_state(c, &st, c->epoch, state, reason);
    PUBLISH(c, a, msg_state, &st);
}

static void publish_leader(dx_core *c)
{
    dx_msg_leader l = {c->cfg.id, c->elect.term, c->epoch};
    dx_action *a =
        begin_publish(c, DX_T_LEADER, 0, NULL, 1, true, SMALL_PAYLOAD);
    PUBLISH(c, a, msg_leader, &l);
}

static void publish_members(dx_core *c, int64_t now, int64_t wall)
{
    static const dx_view_state vs[] = {0, DX_VIEW_ONLINE, DX_VIEW_FAILED,
                                       DX_VIEW_OFFLINE};
    dx_msg_members *v = &c->view;
    dx_action *a;
    size_t cap = DX_PAYLOAD_MAX;

    c->members_dirty = false;
    a = begin_publish(c, DX_T_MEMBERS, 0, NULL, 1, true, cap);
    if (a == NULL)
        return;
    memset(v, 0, sizeof *v);
    v->leader = c->elect.leader;
    v->term = c->elect.term;
    v->ts_ms = wall;
    for (size_t i = 0; i < c->members.n && v->n < DX_VIEW_MAX; i++) {
        const dx_member *m = &c->members.m[i];
        dx_view_node *vn;
        if (m->state == DX_MEMBER_UNKNOWN)
            continue;
        vn = &v->nodes[v->n++];
        vn->id = m->id;
        memcpy(vn->name, m->name, sizeof vn->name);
        vn->state = vs[m->state];
        vn->why = (dx_view_why)m->why;
        vn->epoch = m->epoch;
        vn->since_ms = wall - (now - m->since_ms);
        if (vn->since_ms < 0)
            vn->since_ms = 0;          /* a wall clock near the epoch */
    }
    PUBLISH(c, a, msg_members, v);
}

/* Carries out what the election decided. */
static void apply_fx(dx_core *c, const dx_elect_fx *fx, int64_t now,
                     int64_t wall)
{
    const dx_election *e = &c->elect;

    for (size_t i = 0; i < fx->n_send; i++) {
        dx_action *a =
            begin_publish(c, DX_T_ELECTION, 0, NULL, 1, false, SMALL_PAYLOAD);
        PUBLISH(c, a, msg_election, &fx->send[i]);
    }
    if (fx->election_started && e->role == DX_ROLE_CANDIDATE)
        event(c, true, "election_started", c->cfg.id, wall,
              "[Leader Election] Node %u starts an election", c->cfg.id);
    if (fx->stepped_down)
        event(c, true, "leader_stepped_down", c->cfg.id, wall,
              "[Leader Election] Node %u steps down: term %" PRIu64
              " supersedes its leadership",
              c->cfg.id, e->term);
    if (fx->publish_leader && e->role == DX_ROLE_LEADER)
        publish_leader(c);
    if (fx->leader_changed) {
        if (e->leader == 0)
            dx_outbox_log(&c->out, DX_LOG_INFO,
                          "[Leader Election] leader lost, waiting for the "
                          "election");
        else
            event(c, e->leader == c->cfg.id, "leader_elected", e->leader,
                  wall, "[Leader Election] Leader is Node %u (term %" PRIu64
                  ")", e->leader, e->term);
        if (e->role == DX_ROLE_LEADER)
            c->members_dirty = true;
    }
    if (fx->leader_changed || fx->stepped_down)
        leadership_changed(c, now, wall);
}

/* Reports a membership change and lets the election react to it. */
static void on_change(dx_core *c, const dx_member_change *chg, int64_t now,
                      int64_t wall)
{
    dx_elect_fx fx;
    const dx_member *m = dx_members_get(&c->members, chg->id);
    uint16_t leader = c->elect.leader;
    uint16_t reporter = (leader == 0 || chg->id == leader)
                            ? dx_members_highest_alive(&c->members)
                            : leader;
    /* What a node learns while it settles is history, not a detection. */
    bool announce = c->elect.ready && reporter == c->cfg.id && !chg->quiet;
    const char *name = m != NULL && m->name[0] ? m->name : "";

    if (chg->id != c->cfg.id) {
        if (chg->to == DX_MEMBER_ONLINE && chg->from == DX_MEMBER_FAILED)
            event(c, announce, "node_recovered", chg->id, wall,
                  "Node %u %s is back (epoch %" PRIu64 ")", chg->id, name,
                  chg->epoch);
        else if (chg->to == DX_MEMBER_ONLINE)
            event(c, announce, "node_joined", chg->id, wall,
                  "Node %u %s joined (epoch %" PRIu64 ")", chg->id, name,
                  chg->epoch);
        else if (chg->to == DX_MEMBER_FAILED)
            event(c, announce, "node_failed", chg->id, wall,
                  "Node %u marked as failed (%s)", chg->id,
                  chg->why == DX_WHY_WILL ? "connection lost: will"
                                          : "heartbeat timeout");
        else
            event(c, announce, "node_left", chg->id, wall,
                  "Node %u left (shutdown)", chg->id);
        if (chg->flap_start)
            event(c, reporter == c->cfg.id, "node_flapping", chg->id, wall,
                  "Node %u is flapping: its changes are damped", chg->id);
    }
    memset(&fx, 0, sizeof fx);
    dx_elect_on_member(&c->elect, &c->members, chg, now, &fx);
    apply_fx(c, &fx, now, wall);
    c->members_dirty = true;
    if (c->leading && chg->to == DX_MEMBER_ONLINE && chg->id != c->cfg.id)
        dx_tasks_resync(&c->tasks);    /* it may have missed batches */
    if (c->leading && chg->to != DX_MEMBER_ONLINE && chg->id != c->cfg.id) {
        sync_sched(c);
        dx_tasks_on_node_down(&c->tasks, chg->id, c->sn, c->n_sn,
                              c->elect.term, now);
        task_notes(c, wall);
    }
}

static void reject(dx_core *c, const char *topic, size_t tlen, int rc,
                   const dx_diag *d)
{
    c->rejected++;
    /* Logged at debug only after the first few, so a flood cannot fill
     * the log. */
    dx_outbox_log(&c->out, c->rejected <= 10 ? DX_LOG_WARN : DX_LOG_DEBUG,
                  "rejected message on %.*s: %s%s%s", (int)tlen, topic,
                  dx_strerror(rc), d && d->msg[0] ? ": " : "",
                  d ? d->msg : "");
}

static void reply(dx_core *c, const char *reply_to, const char *corr, bool ok,
                  const char *error, const char *id)
{
    dx_msg_reply r;
    dx_action *a;
    const dx_topics *t = &c->cfg.topics;
    if (reply_to[0] == '\0')
        return;
    /* Inside our own tree, only {root}/reply/...: a request must not make
     * an agent publish on the topics the cluster runs on. */
    if (strncmp(reply_to, t->root, t->root_len) == 0 &&
        reply_to[t->root_len] == '/' &&
        strncmp(reply_to + t->root_len + 1, "reply/", 6) != 0) {
        dx_outbox_log(&c->out, DX_LOG_WARN, "refusing to reply on %s: "
                      "replies inside %s go to %s/reply/...", reply_to,
                      t->root, t->root);
        return;
    }
    memset(&r, 0, sizeof r);
    snprintf(r.corr, sizeof r.corr, "%s", corr);
    r.ok = ok;
    r.node = c->cfg.id;
    dx_text_copy(r.error, sizeof r.error, error ? error : "");
    if (!ok && r.error[0] == '\0')
        snprintf(r.error, sizeof r.error, "failed");
    snprintf(r.id, sizeof r.id, "%s", id ? id : "");
    a = dx_outbox_add(&c->out, DX_ACT_PUBLISH, SMALL_PAYLOAD);
    if (a == NULL)
        return;
    snprintf(a->topic, sizeof a->topic, "%s", reply_to);
    a->qos = 1;
    PUBLISH(c, a, msg_reply, &r);
}

/* ---- tasks: the leader's side and this node's executor ---- */

static bool has_device(const dx_core *c, const char *name, bool actuator)
{
    for (size_t i = 0; i < c->cfg.n_devices; i++)
        if (c->cfg.actuator[i] == actuator &&
            strcmp(c->cfg.devices[i], name) == 0)
            return true;
    return false;
}

/* Refreshes the scheduler's view of every member from membership; the
 * leader's placement counts survive until that node's next heartbeat. */
static void sync_sched(dx_core *c)
{
    for (size_t i = 0; i < c->members.n; i++) {
        const dx_member *m = &c->members.m[i];
        dx_sched_node *sn = NULL;
        size_t k;
        for (k = 0; k < c->n_sn; k++)
            if (c->sn[k].id == m->id) {
                sn = &c->sn[k];
                break;
            }
        if (sn == NULL) {
            if (c->n_sn == DX_MAX_NODES)
                continue;
            k = c->n_sn++;
            sn = &c->sn[k];
            memset(sn, 0, sizeof *sn);
            c->sn_seq[k] = UINT64_MAX;
            sn->id = m->id;
        }
        sn->alive = m->state == DX_MEMBER_ONLINE;
        sn->draining = m->draining;
        sn->workers = m->workers ? m->workers : 1;
        sn->pool_kb = m->pool_kb;
        sn->n_devices = m->n_devices;
        sn->devices = m->devices;
        if (c->sn_seq[k] != m->seq || c->sn_seq[k] == UINT64_MAX) {
            /* A fresh load report: it includes what we placed before. */
            c->sn_seq[k] = m->seq;
            sn->placed = 0;
            sn->placed_mem_kb = 0;
            sn->cpu_pct = m->load.cpu_pct;
            sn->running = m->load.running;
            sn->queued = m->load.queued;
            sn->mem_largest_kb = m->has_load ? m->load.mem_largest_kb
                                             : m->pool_kb;
        }
    }
}

static void task_notes(dx_core *c, int64_t wall)
{
    for (size_t i = 0; i < c->tasks.n_notes; i++)
        event(c, true, "task_moved", 0, wall, "%s", c->tasks.notes[i]);
    c->tasks.n_notes = 0;
}

/* Room left in the outbox for a message of `bytes`. */
static bool room(const dx_core *c, size_t bytes)
{
    return c->out.n + 4 < DX_OUTBOX_MAX &&
           c->out.used + bytes + 1024 < DX_OUTBOX_ARENA;
}

static void job_actions(dx_core *c, const dx_job_req *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dx_action *a = dx_outbox_add(
            &c->out, jobs[i].cancel ? DX_ACT_JOB_CANCEL : DX_ACT_JOB, 0);
        if (a == NULL)
            continue;
        a->slot = jobs[i].slot;
        a->job_kind = (int)jobs[i].kind;
        a->ms = jobs[i].ms;
        a->mem = jobs[i].mem;
        a->mem_bytes = jobs[i].mem_bytes;
        snprintf(a->device, sizeof a->device, "%s", jobs[i].device);
        a->value = jobs[i].value;
    }
}

/* Starts what can start on this node. */
static void pump(dx_core *c, int64_t now, int64_t wall)
{
    dx_job_req jobs[64];
    size_t n = 0;
    do {
        n = 0;
        dx_exec_pump(&c->exec, now, wall, jobs, 64, &n);
        job_actions(c, jobs, n);
    } while (n == 64);
}

/* Sends this node's waiting reports to the leader: at once when none
 * went in the last DX_BATCH_MS, else when that much time has passed (a
 * busy node sends fewer, larger reports). */
static void flush_reports(dx_core *c, int64_t now)
{
    dx_msg_report *r = &c->scratch_report;
    bool sent = false;
    if (now < c->report_at)
        return;
    while (dx_exec_has_report(&c->exec) && room(c, DX_PAYLOAD_MAX) &&
           dx_exec_flush(&c->exec, c->elect.term, r)) {
        dx_action *a = begin_publish(c, DX_T_NODE_REPORT, c->cfg.id, NULL, 1,
                                     false, DX_PAYLOAD_MAX);
        PUBLISH(c, a, msg_report, r);
        sent = true;
    }
    if (sent)
        c->report_at = now + DX_BATCH_MS;
}

/* Leader: the replica batch holds something to send. */
static bool replica_due(const dx_core *c)
{
    return c->scratch_repl.n > 0 || c->scratch_repl.n_cleared > 0;
}

/* Leader: the replica batch gathered so far goes to the followers. */
static void flush_replica(dx_core *c, int64_t now)
{
    dx_msg_replica *m = &c->scratch_repl;
    dx_action *a;
    if (m->n == 0 && m->n_cleared == 0)
        return;
    m->leader = c->cfg.id;
    m->term = c->elect.term;
    a = begin_publish(c, DX_T_TASK_REPLICA, 0, NULL, 1, false, DX_PAYLOAD_MAX);
    PUBLISH(c, a, msg_replica, m);
    m->n = 0;
    m->n_cleared = 0;
    c->repl_bytes = 0;
    c->replica_at = now + DX_BATCH_MS;
}

/* An upper bound of the JSON of a record (of a clear when rec is NULL):
 * fixed keys and numbers, and every text escaped at 6 bytes a byte. */
static size_t replica_cost(const char *id, const dx_task_record *rec)
{
    size_t n = 32 + 6 * strlen(id);
    if (rec != NULL)
        n += 512 + 6 * (strlen(rec->result) + strlen(rec->spec.device));
    return n;
}

/* Leader: adds a record (or, rec NULL, the clear of `id`) to the replica
 * batch, sending the batch first when it is full, or when a record follows
 * a clear (followers apply records before clears). */
static void replica_add(dx_core *c, const char *id, const dx_task_record *rec,
                        int64_t now)
{
    dx_msg_replica *m = &c->scratch_repl;
    size_t cost = replica_cost(id, rec);
    if (c->repl_bytes + cost > DX_PAYLOAD_MAX - 256 ||
        (rec != NULL && (m->n == DX_REPLICA_MAX || m->n_cleared > 0)) ||
        (rec == NULL && m->n_cleared == DX_REPLICA_MAX))
        flush_replica(c, now);
    if (rec != NULL)
        m->records[m->n++] = *rec;
    else
        snprintf(m->cleared[m->n_cleared++].id, sizeof m->cleared[0].id, "%s",
                 id);
    c->repl_bytes += cost;
}

/* Leader: the index of `node` in c->sn (its pacing state), or -1. */
static int sched_index(const dx_core *c, uint16_t node)
{
    for (size_t k = 0; k < c->n_sn; k++)
        if (c->sn[k].id == node)
            return (int)k;
    return -1;
}

/* Leader: whether `node`'s waiting items include more than acks. */
static bool items_urgent(const dx_core *c, uint16_t node)
{
    for (size_t i = 0; i < c->tasks.n_items; i++)
        if (c->tasks.items[i].node == node &&
            c->tasks.items[i].op != DX_ASSIGN_ACK)
            return true;
    return false;
}

/* Leader: takes up to one message of `node`'s items into scratch_assign
 * and keeps the rest; true when items of that node are left. */
static bool take_items(dx_core *c, uint16_t node)
{
    dx_tasks *ts = &c->tasks;
    dx_msg_assign *m = &c->scratch_assign;
    size_t keep = 0;
    bool more = false;
    memset(m, 0, sizeof *m);
    m->term = c->elect.term;
    m->leader = c->cfg.id;
    for (size_t i = 0; i < ts->n_items; i++) {
        dx_task_item it = ts->items[i];
        if (it.node != node || m->n == DX_ASSIGN_MAX) {
            more = more || it.node == node;
            ts->items[keep++] = it;
            continue;
        }
        dx_assign_item *ai = &m->items[m->n];
        memset(ai, 0, sizeof *ai);
        ai->op = it.op;
        ai->attempt = it.attempt;
        snprintf(ai->spec.id, sizeof ai->spec.id, "%s", it.id);
        if (it.op == DX_ASSIGN_RUN) {
            const dx_task *t = dx_tasks_get(ts, it.id);
            if (t == NULL || t->attempt != it.attempt)
                continue;        /* gone or placed again since */
            ai->spec.kind = t->kind;
            ai->spec.ms = t->ms;
            ai->spec.mem_kb = t->mem_kb;
            ai->spec.node = t->pin;
            ai->spec.every_ms = t->every_ms;
            snprintf(ai->spec.device, sizeof ai->spec.device, "%s",
                     t->device);
            ai->spec.value = t->value;
            ai->spec.has_value = t->has_value;
        }
        m->n++;
    }
    ts->n_items = keep;
    return more;
}

/* Leader: the batched items, in assign messages per node.  A node sent a
 * batch less than DX_BATCH_MS ago waits for the rest of that time, so a
 * busy leader sends fewer, larger batches while a quiet one sends each
 * item at once; acks alone wait up to DX_ACK_DELAY_MS for a "run" to ride
 * with (c->items_due: the earliest wait).  The replica batch goes first: a
 * final record reaches the replicas no later than its ack reaches the
 * node. */
static void flush_items(dx_core *c, int64_t now)
{
    dx_tasks *ts = &c->tasks;
    uint16_t seen[DX_MAX_NODES];       /* nodes dealt with in this call */
    size_t n_seen = 0;
    c->items_due = INT64_MAX;
    while (n_seen < DX_MAX_NODES) {
        uint16_t node = 0;
        int k;
        bool more = true;
        for (size_t i = 0; i < ts->n_items && node == 0; i++) {
            bool dealt = false;
            for (size_t j = 0; j < n_seen; j++)
                dealt = dealt || seen[j] == ts->items[i].node;
            if (!dealt)
                node = ts->items[i].node;
        }
        if (node == 0)
            return;
        seen[n_seen++] = node;
        k = sched_index(c, node);
        if (k >= 0) {
            int64_t due = c->assign_at[k];
            if (!items_urgent(c, node)) {
                if (c->ack_since[k] == 0)
                    c->ack_since[k] = now > 0 ? now : 1;
                if (c->ack_since[k] + DX_ACK_DELAY_MS > due)
                    due = c->ack_since[k] + DX_ACK_DELAY_MS;
            }
            if (now < due) {
                if (due < c->items_due)
                    c->items_due = due;
                continue;
            }
        }
        if (replica_due(c) && room(c, DX_PAYLOAD_MAX))
            flush_replica(c, now);
        while (more && room(c, DX_PAYLOAD_MAX)) {
            dx_action *a;
            more = take_items(c, node);
            if (c->scratch_assign.n == 0)
                continue;
            a = begin_publish(c, DX_T_NODE_ASSIGN, node, NULL, 1, false,
                              DX_PAYLOAD_MAX);
            PUBLISH(c, a, msg_assign, &c->scratch_assign);
        }
        if (more) {
            c->items_due = now;        /* the outbox is full: soon */
            return;
        }
        if (k >= 0) {
            c->assign_at[k] = now + DX_BATCH_MS;
            c->ack_since[k] = 0;
        }
    }
}

/* Leader: records that are due, on {root}/tasks/{task} (retained, for
 * outside readers) and in batches on the replica stream; then the next
 * part of a resync, on the replica stream only. */
static void flush_records(dx_core *c, int64_t now)
{
    bool cleared;
    while (room(c, 4096 + 2 * DX_PAYLOAD_MAX) &&
           dx_tasks_take_record(&c->tasks, c->elect.term, now,
                                &c->scratch_rec, &cleared)) {
        dx_action *a = begin_publish(c, DX_T_TASK_RECORD, 0,
                                     c->scratch_rec.spec.id, 1, true, 4096);
        if (a != NULL && cleared) {
            a->len = 0;                 /* an empty retained payload */
            dx_outbox_commit(&c->out, a);
        } else if (a != NULL) {
            PUBLISH(c, a, task_record, &c->scratch_rec);
        }
        /* After the commit: the batch may be sent from here. */
        replica_add(c, c->scratch_rec.spec.id,
                    cleared ? NULL : &c->scratch_rec, now);
    }
    while (room(c, 2 * DX_PAYLOAD_MAX) &&
           dx_tasks_take_resync(&c->tasks, c->elect.term, &c->scratch_rec))
        replica_add(c, c->scratch_rec.spec.id, &c->scratch_rec, now);
}

/* Subscribes to the topics of `who` (on) or drops them. */
static void subscribe_role(dx_core *c, int who, bool on)
{
    char subs[8][DX_TOPIC_MAX + 1];
    size_t n = subscriptions(c, who, subs, 8);
    for (size_t i = 0; i < n; i++) {
        dx_action *a = dx_outbox_add(
            &c->out, on ? DX_ACT_SUBSCRIBE : DX_ACT_UNSUBSCRIBE, 0);
        if (a != NULL)
            memcpy(a->topic, subs[i], sizeof a->topic);
    }
}

/* Leadership changes hands: the leader's topics for the followers' or
 * the other way round. */
static void subscribe_leader_topics(dx_core *c, bool on)
{
    subscribe_role(c, SUB_LEADER, on);
    subscribe_role(c, SUB_FOLLOWER, !on);
}

/* What the DFS module needs to know of the world right now. */
static void dfs_env(dx_core *c, dx_dfs_env *e, int64_t now, int64_t wall)
{
    c->n_dn = 0;
    for (size_t i = 0; i < c->members.n && c->n_dn < DX_MAX_NODES; i++) {
        const dx_member *m = &c->members.m[i];
        dx_dfs_node *d;
        if (m->state == DX_MEMBER_UNKNOWN)
            continue;
        d = &c->dn[c->n_dn++];
        d->id = m->id;
        d->alive = m->state == DX_MEMBER_ONLINE;
        d->down_since = d->alive ? 0 : m->since_ms;
    }
    e->nodes = c->dn;
    e->n = c->n_dn;
    e->leading = c->leading;
    e->term = c->elect.term;
    e->now = now;
    e->wall = wall;
    e->ob = &c->out;
}

/* The DFS module's event texts go to the event stream. */
static void dfs_notes(dx_core *c, int64_t wall)
{
    char text[DX_DFS_NOTE_MAX];
    while (c->dfs != NULL && dx_dfs_take_note(c->dfs, text, sizeof text))
        event(c, true, "dfs", 0, wall, "%s", text);
}

/* The election made this node leader, or took leadership away. */
static void leadership_changed(dx_core *c, int64_t now, int64_t wall)
{
    bool lead = dx_elect_is_leader(&c->elect);
    if (lead && !c->leading) {
        c->leading = true;
        subscribe_leader_topics(c, true);
        sync_sched(c);
        dx_tasks_on_leader(&c->tasks, c->sn, c->n_sn, c->elect.term, now);
        /* The followers (a deposed leader among them) may lack what the
         * previous leader wrote last: they get the whole table. */
        dx_tasks_resync(&c->tasks);
        task_notes(c, wall);
    } else if (!lead && c->leading) {
        c->leading = false;
        subscribe_leader_topics(c, false);
        c->tasks.n_items = 0;
        /* The new leader resyncs everyone: drop what we had not sent. */
        c->scratch_repl.n = 0;
        c->scratch_repl.n_cleared = 0;
        c->repl_bytes = 0;
    }
    if (c->elect.leader != 0)
        dx_exec_on_leader(&c->exec);   /* tell the leader what we hold */
    if (c->dfs != NULL) {
        dx_dfs_env e;
        dfs_env(c, &e, now, wall);
        dx_dfs_on_leader(c->dfs, &e);
        dfs_notes(c, wall);
    }
}

static void on_submit(dx_core *c, const char *payload, size_t plen,
                      int64_t now, int64_t wall)
{
    dx_task_spec *sp = &c->scratch_spec;
    dx_diag d = {{0}};
    char id[DX_TASK_ID_MAX + 1] = "";
    int rc = dx_task_spec_decode(payload, plen, sp, &d);

    if (rc != 0) {
        char reply_to[DX_TOPIC_MAX + 1], corr[DX_CORR_MAX + 1];
        c->rejected++;
        if (dx_msg_reply_target(payload, plen, reply_to, corr) == 0) {
            char why[DX_TEXT_MAX + 1];
            snprintf(why, sizeof why, "invalid task: %s%s%s", dx_strerror(rc),
                     d.msg[0] ? ": " : "", d.msg);
            reply(c, reply_to, corr, false, why, NULL);
        }
        dx_outbox_log(&c->out, c->rejected <= 10 ? DX_LOG_WARN : DX_LOG_DEBUG,
                      "rejected a task submission: %s",
                      d.msg[0] ? d.msg : dx_strerror(rc));
        return;
    }
    sync_sched(c);
    rc = dx_tasks_submit(&c->tasks, sp, c->sn, c->n_sn, c->elect.term, now,
                         wall, id, sizeof id, &d);
    if (rc != 0) {
        char why[DX_TEXT_MAX + 1];
        snprintf(why, sizeof why, "task refused: %s", d.msg[0] ? d.msg
                                                             : dx_strerror(rc));
        reply(c, sp->reply_to, sp->corr, false, why, NULL);
        return;
    }
    reply(c, sp->reply_to, sp->corr, true, NULL, id);
}

static void on_assign(dx_core *c, const dx_msg_assign *m, int64_t now,
                      int64_t wall)
{
    dx_job_req jobs[DX_ASSIGN_MAX];
    size_t n = 0;
    if (m->term < c->elect.term) {
        c->exec.stale_assigns++;        /* from a fenced-off leader */
        return;
    }
    for (size_t i = 0; i < m->n; i++) {
        const dx_assign_item *it = &m->items[i];
        bool needs = it->spec.kind == DX_TASK_SENSOR_READ ||
                     it->spec.kind == DX_TASK_ACTUATOR_SET;
        if (it->op == DX_ASSIGN_RUN && needs &&
            !has_device(c, it->spec.device,
                        it->spec.kind == DX_TASK_ACTUATOR_SET)) {
            char why[DX_EXEC_RESULT_MAX];
            snprintf(why, sizeof why, "node %u has no %s '%s'", c->cfg.id,
                     it->spec.kind == DX_TASK_ACTUATOR_SET ? "actuator"
                                                            : "sensor",
                     it->spec.device);
            dx_exec_reject(&c->exec, it, wall, why);
            continue;
        }
        dx_exec_assign(&c->exec, it, now, wall, jobs, DX_ASSIGN_MAX, &n);
    }
    job_actions(c, jobs, n);
    pump(c, now, wall);
}

static void publish_actuator(dx_core *c, const char *device, double value,
                             int64_t wall)
{
    dx_msg_actuator st;
    dx_action *a = begin_publish(c, DX_T_IO_ACT_STATE, c->cfg.id, device, 1,
                                 true, SMALL_PAYLOAD);
    memset(&st, 0, sizeof st);
    st.value = value;
    st.ts_ms = wall;
    PUBLISH(c, a, msg_actuator, &st);
}

static void on_actuator_set(dx_core *c, const dx_topic_ref *ref,
                            const dx_msg_actuator *m)
{
    dx_action *a;
    size_t i;
    if (!has_device(c, ref->name, true)) {
        reply(c, m->reply_to, m->corr, false, "no such actuator on this node",
              NULL);
        return;
    }
    for (i = 0; i < DX_DIRECT_MAX && c->direct[i].used; i++)
        ;
    if (i == DX_DIRECT_MAX) {
        reply(c, m->reply_to, m->corr, false, "too many actuator commands in "
              "flight; try again", NULL);
        return;
    }
    c->direct[i].used = true;
    snprintf(c->direct[i].device, sizeof c->direct[i].device, "%s", ref->name);
    c->direct[i].value = m->value;
    snprintf(c->direct[i].reply_to, sizeof c->direct[i].reply_to, "%s",
             m->reply_to);
    snprintf(c->direct[i].corr, sizeof c->direct[i].corr, "%s", m->corr);
    if ((a = dx_outbox_add(&c->out, DX_ACT_JOB, 0)) == NULL)
        return;
    a->slot = (uint32_t)(DX_EXEC_MAX + i);
    a->job_kind = DX_TASK_ACTUATOR_SET;
    snprintf(a->device, sizeof a->device, "%s", ref->name);
    a->value = m->value;
}

void dx_core_on_job_done(dx_core *c, uint32_t slot, int rc, const char *text,
                         double value, uint64_t seq, int64_t now,
                         int64_t wall)
{
    if (slot >= DX_EXEC_MAX) {
        dx_direct *dj = &c->direct[(slot - DX_EXEC_MAX) % DX_DIRECT_MAX];
        if (!dj->used)
            return;
        if (rc == 0)
            publish_actuator(c, dj->device, dj->value, wall);
        reply(c, dj->reply_to, dj->corr, rc == 0, rc == 0 ? NULL : text,
              NULL);
        dj->used = false;
        return;
    }
    {
        const dx_slot *sl = &c->exec.slots[slot];
        if (rc == 0 && sl->st == DX_SLOT_RUNNING && sl->on_worker) {
            if (sl->kind == DX_TASK_SENSOR_READ) {
                dx_msg_reading r;
                dx_action *a = begin_publish(c, DX_T_IO_SENSOR, c->cfg.id,
                                             sl->device, 0, false,
                                             SMALL_PAYLOAD);
                memset(&r, 0, sizeof r);
                r.value = value;
                r.seq = seq ? seq : ++c->readings;
                r.ts_ms = wall;
                PUBLISH(c, a, msg_reading, &r);
                if (c->dfs != NULL) {
                    char line[160];
                    dx_dfs_env e;
                    int n = snprintf(line, sizeof line,
                                     "{\"seq\":%" PRIu64 ",\"ts_ms\":%" PRId64
                                     ",\"value\":%.17g}", r.seq, wall, value);
                    dfs_env(c, &e, now, wall);
                    if (n > 0 && (size_t)n < sizeof line)
                        dx_dfs_log_append(c->dfs, sl->device, line,
                                          (size_t)n, &e);
                }
            } else if (sl->kind == DX_TASK_ACTUATOR_SET) {
                publish_actuator(c, sl->device, sl->value, wall);
            }
        }
    }
    dx_exec_job_done(&c->exec, slot, rc, text, now, wall);
    pump(c, now, wall);
    flush_reports(c, now);
}

static void on_cmd(dx_core *c, const dx_msg_cmd *cmd, int64_t wall)
{
    dx_action *a;
    dx_act_type t;

    switch (cmd->cmd) {
    case DX_CMD_FAIL:
        t = DX_ACT_FAIL;
        break;
    case DX_CMD_HANG:
        t = DX_ACT_HANG;
        break;
    case DX_CMD_RECOVER:
        t = DX_ACT_RECOVER;
        break;
    case DX_CMD_SCRUB:
        if (c->dfs == NULL) {
            reply(c, cmd->reply_to, cmd->corr, false,
                  "this node keeps no DFS chunks", NULL);
            return;
        }
        reply(c, cmd->reply_to, cmd->corr, true, NULL, NULL);
        (void)dx_outbox_add(&c->out, DX_ACT_DFS_SCRUB, 0);
        event(c, true, "operator_command", c->cfg.id, wall,
              "Node %u: scrub of its DFS chunks started", c->cfg.id);
        return;
    default:
        /* drain / undrain: the leader sees the flag in our heartbeats,
         * stops placing here and moves our queued tasks away. */
        c->draining = cmd->cmd == DX_CMD_DRAIN;
        dx_exec_set_draining(&c->exec, c->draining);
        reply(c, cmd->reply_to, cmd->corr, true, NULL, NULL);
        event(c, true, "operator_command", c->cfg.id, wall,
              "Node %u: %s", c->cfg.id,
              c->draining ? "draining: no new tasks, queued tasks move away"
                          : "undrained: takes tasks again");
        c->next_hb_ms = 0;             /* tell the leader now */
        return;
    }
    /* Reply first: after a fail or hang this node cannot answer. */
    reply(c, cmd->reply_to, cmd->corr, true, NULL, NULL);
    if (cmd->for_ms > 0)
        event(c, true, "operator_command", c->cfg.id, wall,
              "Node %u: operator command %s for %u ms", c->cfg.id,
              dx_cmd_name(cmd->cmd), cmd->for_ms);
    else
        event(c, true, "operator_command", c->cfg.id, wall,
              "Node %u: operator command %s", c->cfg.id,
              dx_cmd_name(cmd->cmd));
    a = dx_outbox_add(&c->out, t, 0);
    if (a != NULL)
        a->for_ms = cmd->for_ms;
}

void dx_core_on_connected(dx_core *c, uint64_t epoch, int64_t now,
                          int64_t wall)
{
    dx_msg_state self;
    dx_member_change chg;

    c->connected = true;
    c->epoch = epoch;
    c->hb_seq = 0;
    c->next_hb_ms = now;
    c->last_tick_ms = now;
    publish_state(c, DX_WIRE_ONLINE, "");
    /* Our own entry: we know we are alive without waiting for the echo. */
    fill_state(c, &self, epoch, DX_WIRE_ONLINE, "");
    if (dx_members_on_state(&c->members, c->cfg.id, &self, now, &chg) == 1)
        c->members_dirty = true;
    dx_elect_on_connected(&c->elect, epoch, now);
    if (c->leading)
        dx_tasks_republish(&c->tasks, now);
    dx_outbox_log(&c->out, DX_LOG_INFO,
                  "connected as node %u (epoch %" PRIu64 ")", c->cfg.id,
                  epoch);
    (void)wall;
}

void dx_core_on_disconnected(dx_core *c, int64_t now)
{
    c->connected = false;
    dx_elect_on_disconnected(&c->elect);
    dx_outbox_log(&c->out, DX_LOG_WARN, "lost the broker connection");
    (void)now;
}

/* A message on a {root}/dfs/ topic. */
static void on_dfs_message(dx_core *c, const char *topic, size_t tlen,
                           const char *payload, size_t plen, int64_t now,
                           int64_t wall)
{
    dx_dfs_ref ref;
    dx_diag d = {{0}};
    dx_dfs_env e;
    int rc = dx_dfs_topic_parse(&c->cfg.topics, topic, tlen, &ref, &d);

    if (rc != 0) {
        reject(c, topic, tlen, rc, &d);
        return;
    }
    dfs_env(c, &e, now, wall);
    switch (ref.kind) {
    case DX_DFS_T_FILE:
        if (plen == 0) {
            dx_dfs_on_file(c->dfs, ref.name, NULL, &e);
            break;
        }
        if ((rc = dx_dfs_file_decode(payload, plen, c->scratch_file, &d)) != 0)
            break;
        if (strcmp(c->scratch_file->name, ref.name) != 0) {
            rc = dx_diag_set(&d, DX_EINVAL, "metadata of '%.60s' on the "
                             "topic of '%.60s'", c->scratch_file->name,
                             ref.name);
            break;
        }
        dx_dfs_on_file(c->dfs, ref.name, c->scratch_file, &e);
        break;
    case DX_DFS_T_REQ: {
        dx_dfs_req r;
        if (!c->leading)
            return;
        if ((rc = dx_dfs_req_decode(payload, plen, &r, &d)) != 0) {
            char reply_to[DX_TOPIC_MAX + 1], corr[DX_CORR_MAX + 1], why[256];
            if (dx_msg_reply_target(payload, plen, reply_to, corr) == 0) {
                snprintf(why, sizeof why, "invalid request: %s%s%.160s",
                         dx_strerror(rc), d.msg[0] ? ": " : "", d.msg);
                reply(c, reply_to, corr, false, why, NULL);
            }
            break;
        }
        dx_dfs_on_req(c->dfs, &r, &e);
        break;
    }
    case DX_DFS_T_STORE:
        if ((rc = dx_dfs_on_store(c->dfs, &ref, plen, &e)) != 0)
            rc = dx_diag_set(&d, rc, "a chunk of %zu bytes that node %u "
                             "cannot take", plen, c->cfg.id);
        break;
    case DX_DFS_T_STORED: {
        dx_dfs_stored st;
        if ((rc = dx_dfs_stored_decode(payload, plen, &st, &d)) != 0)
            break;
        dx_dfs_on_stored(c->dfs, ref.key, &st, &e);
        break;
    }
    case DX_DFS_T_FETCH: {
        dx_dfs_fetch f;
        if (ref.node != c->cfg.id)
            return;
        if ((rc = dx_dfs_fetch_decode(payload, plen, &f, &d)) != 0)
            break;
        if ((rc = dx_dfs_on_fetch(c->dfs, &f, &e)) != 0)
            rc = dx_diag_set(&d, rc, "fetch answer topic '%.80s' not allowed",
                             f.reply_to);
        break;
    }
    case DX_DFS_T_BAD: {
        dx_dfs_bad b;
        if (!c->leading)
            return;
        if ((rc = dx_dfs_bad_decode(payload, plen, &b, &d)) != 0)
            break;
        dx_dfs_on_bad(c->dfs, &b, &e);
        break;
    }
    default:
        return;
    }
    if (rc < 0)
        reject(c, topic, tlen, rc, &d);
    dfs_notes(c, wall);
}

void dx_core_on_message(dx_core *c, const char *topic, size_t tlen,
                        const char *payload, size_t plen, bool retained,
                        int64_t now, int64_t wall)
{
    dx_topic_ref ref;
    dx_diag d = {{0}};
    dx_member_change chg;
    dx_elect_fx fx;
    int rc = dx_topic_parse(&c->cfg.topics, topic, tlen, &ref);

    (void)retained;
    if (rc == DX_ETOPIC && c->dfs != NULL) {
        on_dfs_message(c, topic, tlen, payload, plen, now, wall);
        return;
    }
    if (rc != 0) {
        reject(c, topic, tlen, rc, NULL);
        return;
    }
    memset(&fx, 0, sizeof fx);
    switch (ref.kind) {
    case DX_T_NODE_STATE: {
        dx_msg_state st;
        if (plen == 0)
            return;                 /* a cleared retained state */
        if ((rc = dx_msg_state_decode(payload, plen, &st, &d)) != 0)
            break;
        if (ref.node == c->cfg.id) {
            if (st.epoch > c->epoch && st.state == DX_WIRE_ONLINE)
                dx_outbox_log(&c->out, DX_LOG_ERROR,
                              "another agent announced node id %u with "
                              "epoch %" PRIu64 " (ours is %" PRIu64 ")",
                              c->cfg.id, st.epoch, c->epoch);
            else if (st.epoch < c->epoch && c->connected)
                publish_state(c, DX_WIRE_ONLINE, ""); /* a late will */
            return;
        }
        rc = dx_members_on_state(&c->members, ref.node, &st, now, &chg);
        if (rc == 1)
            on_change(c, &chg, now, wall);
        break;
    }
    case DX_T_NODE_HEARTBEAT: {
        dx_msg_heartbeat hb;
        if ((rc = dx_msg_heartbeat_decode(payload, plen, &hb, &d)) != 0)
            break;
        if (ref.node == c->cfg.id)
            return;
        rc = dx_members_on_heartbeat(&c->members, ref.node, &hb, now, &chg);
        if (rc == 1)
            on_change(c, &chg, now, wall);
        if (rc >= 0) {
            dx_elect_on_hint(&c->elect, &c->members, hb.leader, hb.term, now,
                             &fx);
            apply_fx(c, &fx, now, wall);
        }
        break;
    }
    case DX_T_ELECTION: {
        dx_msg_election m;
        if ((rc = dx_msg_election_decode(payload, plen, &m, &d)) != 0)
            break;
        dx_elect_on_message(&c->elect, &c->members, &m, now, &fx);
        apply_fx(c, &fx, now, wall);
        break;
    }
    case DX_T_LEADER: {
        dx_msg_leader l;
        if (plen == 0) {
            dx_elect_on_leader(&c->elect, &c->members, NULL, now, &fx);
        } else if ((rc = dx_msg_leader_decode(payload, plen, &l, &d)) != 0) {
            /* Garbage where our leadership should be: put it back. */
            fx.publish_leader = dx_elect_is_leader(&c->elect);
        } else {
            dx_elect_on_leader(&c->elect, &c->members, &l, now, &fx);
        }
        apply_fx(c, &fx, now, wall);
        break;
    }
    case DX_T_NODE_CMD: {
        dx_msg_cmd cmd;
        if (ref.node != c->cfg.id)
            return;
        if ((rc = dx_msg_cmd_decode(payload, plen, &cmd, &d)) != 0)
            break;
        on_cmd(c, &cmd, wall);
        break;
    }
    case DX_T_TASK_SUBMIT:
        if (c->leading)
            on_submit(c, payload, plen, now, wall);
        return;                     /* counted there */
    case DX_T_TASK_RECORD:
        /* Agents follow the replica stream, not the retained records; a
         * record that arrives anyway is applied as one. */
        if (c->leading)
            return;                 /* our own writes coming back */
        if (plen == 0) {
            dx_tasks_on_record(&c->tasks, ref.name, NULL);
            return;
        }
        if ((rc = dx_task_record_decode(payload, plen, &c->scratch_rec,
                                            &d)) != 0)
            break;
        dx_tasks_on_record(&c->tasks, ref.name, &c->scratch_rec);
        break;
    case DX_T_TASK_REPLICA: {
        const dx_msg_replica *m = &c->scratch_repl;
        if (c->leading)
            return;                 /* in flight when we took over */
        if ((rc = dx_msg_replica_decode(payload, plen, &c->scratch_repl,
                                        &d)) != 0)
            break;
        for (size_t i = 0; i < m->n; i++)
            dx_tasks_on_record(&c->tasks, m->records[i].spec.id,
                               &m->records[i]);
        for (size_t i = 0; i < m->n_cleared; i++)
            dx_tasks_on_record(&c->tasks, m->cleared[i].id, NULL);
        break;
    }
    case DX_T_TASK_CANCEL: {
        dx_msg_request rq;
        if (!c->leading)
            return;
        if ((rc = dx_msg_request_decode(payload, plen, &rq, &d)) != 0)
            break;
        rc = dx_tasks_cancel(&c->tasks, ref.name, now, wall);
        reply(c, rq.reply_to, rq.corr, rc == 0,
              rc == 0 ? NULL : "no such task", ref.name);
        rc = 0;
        break;
    }
    case DX_T_NODE_ASSIGN:
        if (ref.node != c->cfg.id)
            return;
        if ((rc = dx_msg_assign_decode(payload, plen, &c->scratch_assign,
                                       &d)) != 0)
            break;
        on_assign(c, &c->scratch_assign, now, wall);
        break;
    case DX_T_NODE_REPORT:
        if (!c->leading)
            return;
        if ((rc = dx_msg_report_decode(payload, plen, &c->scratch_report,
                                       &d)) != 0)
            break;
        if (c->scratch_report.node != ref.node) {
            rc = dx_diag_set(&d, DX_EINVAL, "report of node %u on the topic "
                             "of node %u", c->scratch_report.node, ref.node);
            break;
        }
        sync_sched(c);
        dx_tasks_on_report(&c->tasks, &c->scratch_report, c->sn, c->n_sn,
                           c->elect.term, now, wall);
        task_notes(c, wall);
        break;
    case DX_T_REPLY: {
        dx_dfs_env e;
        char mine[DX_TOPIC_MAX + 1];
        if (c->dfs == NULL)
            return;
        snprintf(mine, sizeof mine, "%s", dx_dfs_reply_topic(c->dfs));
        if (strlen(mine) != tlen || memcmp(mine, topic, tlen) != 0)
            return;
        if ((rc = dx_dfs_reply_decode(payload, plen, c->scratch_dreply,
                                      &d)) != 0)
            break;
        dfs_env(c, &e, now, wall);
        dx_dfs_on_reply(c->dfs, c->scratch_dreply, &e);
        dfs_notes(c, wall);
        break;
    }
    case DX_T_IO_ACT_SET: {
        dx_msg_actuator m;
        if (ref.node != c->cfg.id)
            return;
        if ((rc = dx_msg_actuator_decode(payload, plen, &m, &d)) != 0)
            break;
        on_actuator_set(c, &ref, &m);
        break;
    }
    default:
        return;                     /* not ours to act on */
    }
    if (rc < 0)
        reject(c, topic, tlen, rc, &d);
    /* A request that could not be read still gets an answer when it says
     * where to send one. */
    if (rc < 0 && (ref.kind == DX_T_NODE_CMD || ref.kind == DX_T_TASK_CANCEL ||
                   ref.kind == DX_T_IO_ACT_SET)) {
        char reply_to[DX_TOPIC_MAX + 1], corr[DX_CORR_MAX + 1], why[256];
        if (dx_msg_reply_target(payload, plen, reply_to, corr) == 0) {
            snprintf(why, sizeof why, "invalid request: %s%s%.160s",
                     dx_strerror(rc), d.msg[0] ? ": " : "", d.msg);
            reply(c, reply_to, corr, false, why, NULL);
        }
    }
}

void dx_core_tick(dx_core *c, int64_t now, int64_t wall)
{
    dx_member_change chg[16];
    dx_elect_fx fx;
    size_t n;

    /* If this loop itself was stalled, everyone else looks silent: give
     * them a fresh start instead of failing the whole cluster. */
    if (c->last_tick_ms != 0 && now - c->last_tick_ms > c->cfg.timeout_ms / 2) {
        dx_outbox_log(&c->out, DX_LOG_WARN,
                      "this agent was stalled for %" PRId64 " ms",
                      now - c->last_tick_ms);
        dx_members_grace(&c->members, now);
    }
    c->last_tick_ms = now;

    if (c->connected && now >= c->next_hb_ms) {
        dx_msg_heartbeat hb;
        dx_action *a;
        memset(&hb, 0, sizeof hb);
        hb.id = c->cfg.id;
        hb.epoch = c->epoch;
        hb.seq = ++c->hb_seq;
        hb.leader = c->elect.leader;
        hb.term = c->elect.term;
        hb.load = c->load;
        hb.load.running = dx_exec_running(&c->exec);
        hb.load.queued = dx_exec_queued(&c->exec);
        if (c->has_pool) {
            dx_pool_stat ps;
            dx_pool_stats(&c->pool, &ps);
            hb.load.mem_free_kb = ps.free_bytes / 1024;
            hb.load.mem_largest_kb = ps.largest_free / 1024;
        }
        hb.rejected = c->rejected;
        hb.draining = c->draining;
        hb.workers = c->exec.workers;
        a = begin_publish(c, DX_T_NODE_HEARTBEAT, c->cfg.id, NULL, 0, false,
                          SMALL_PAYLOAD);
        PUBLISH(c, a, msg_heartbeat, &hb);
        /* Our own entry learns our load as every other node's does (the
         * echo of our heartbeat is ignored): the scheduler on a leader
         * needs it for the leader's own placements. */
        {
            dx_member_change self_chg;
            (void)dx_members_on_heartbeat(&c->members, c->cfg.id, &hb, now,
                                          &self_chg);
        }
        c->next_hb_ms += c->cfg.heartbeat_ms;
        if (c->next_hb_ms <= now)
            c->next_hb_ms = now + c->cfg.heartbeat_ms;
    }

    do {
        n = dx_members_tick(&c->members, now, chg, 16);
        for (size_t i = 0; i < n; i++)
            on_change(c, &chg[i], now, wall);
    } while (n == 16);

    memset(&fx, 0, sizeof fx);
    dx_elect_tick(&c->elect, &c->members, now, &fx);
    apply_fx(c, &fx, now, wall);

    if (c->members_dirty && c->connected && dx_elect_is_leader(&c->elect))
        publish_members(c, now, wall);

    /* This node's tasks. */
    dx_exec_tick(&c->exec, now, wall);
    pump(c, now, wall);
    if (c->connected)
        flush_reports(c, now);
    /* The leader's: records at once, then the items and the replica
     * batch, paced as reports are. */
    if (c->leading && c->connected) {
        sync_sched(c);
        dx_tasks_tick(&c->tasks, c->sn, c->n_sn, c->elect.term, now);
        task_notes(c, wall);
        flush_records(c, now);
        flush_items(c, now);
        if (replica_due(c) && now >= c->replica_at &&
            room(c, DX_PAYLOAD_MAX))
            flush_replica(c, now);
    }
    /* The file system's. */
    if (c->dfs != NULL && c->connected) {
        dx_dfs_env e;
        dfs_env(c, &e, now, wall);
        dx_dfs_tick(c->dfs, &e);
        dfs_notes(c, wall);
        if (c->cfg.scrub_every_ms > 0) {
            if (c->next_scrub_ms == 0)
                c->next_scrub_ms = now + c->cfg.scrub_every_ms;
            if (now >= c->next_scrub_ms) {
                c->next_scrub_ms = now + c->cfg.scrub_every_ms;
                (void)dx_outbox_add(&c->out, DX_ACT_DFS_SCRUB, 0);
            }
        }
    }
}

int64_t dx_core_next_deadline(const dx_core *c)
{
    int64_t t = dx_members_next_deadline(&c->members);
    int64_t e = dx_elect_next_deadline(&c->elect);
    if (e < t)
        t = e;
    if (c->connected && c->next_hb_ms < t)
        t = c->next_hb_ms;
    if (c->members_dirty && c->connected && dx_elect_is_leader(&c->elect))
        t = 0;
    if (dx_exec_next_deadline(&c->exec) < t)
        t = dx_exec_next_deadline(&c->exec);
    if (c->connected && dx_exec_has_report(&c->exec) && c->report_at < t)
        t = c->report_at;
    if (c->leading && c->connected && dx_tasks_next_deadline(&c->tasks) < t)
        t = dx_tasks_next_deadline(&c->tasks);
    if (c->leading && c->connected && c->tasks.n_items > 0 &&
        c->items_due < t)
        t = c->items_due;
    if (c->leading && c->connected && replica_due(c) && c->replica_at < t)
        t = c->replica_at;
    if (c->dfs != NULL && c->connected) {
        if (dx_dfs_next_deadline(c->dfs) < t)
            t = dx_dfs_next_deadline(c->dfs);
        if (c->next_scrub_ms != 0 && c->next_scrub_ms < t)
            t = c->next_scrub_ms;
    }
    /* Tick often enough that a long wait is never mistaken for a stall. */
    if (c->last_tick_ms + c->cfg.timeout_ms / 4 < t)
        t = c->last_tick_ms + c->cfg.timeout_ms / 4;
    return t;
}

void dx_core_set_load(dx_core *c, const dx_load *load)
{
    c->load = *load;
}

void dx_core_shutdown(dx_core *c, int64_t wall)
{
    if (!c->connected)
        return;
    event(c, true, "node_left", c->cfg.id, wall,
          "Node %u is shutting down", c->cfg.id);
    publish_state(c, DX_WIRE_OFFLINE, "shutdown");
}

void dx_core_on_store(dx_core *c, bool read, const char *key, uint32_t index,
                      uint32_t crc, int rc, const char *topic, int64_t now,
                      int64_t wall)
{
    dx_dfs_env e;
    if (c->dfs == NULL)
        return;
    dfs_env(c, &e, now, wall);
    dx_dfs_on_store_done(c->dfs, read, key, index, crc, rc, topic, &e);
    dfs_notes(c, wall);
}

void dx_core_on_scrub_item(dx_core *c, const char *key, uint32_t index,
                           uint32_t crc, bool ok, int64_t age_ms, int64_t now,
                           int64_t wall)
{
    dx_dfs_env e;
    if (c->dfs == NULL)
        return;
    dfs_env(c, &e, now, wall);
    dx_dfs_on_scrub_item(c->dfs, key, index, crc, ok, age_ms, &e);
}

void dx_core_on_scrub_done(dx_core *c, uint64_t chunks, uint64_t bad,
                           int64_t now, int64_t wall)
{
    dx_dfs_env e;
    if (c->dfs == NULL)
        return;
    dfs_env(c, &e, now, wall);
    dx_dfs_on_scrub_done(c->dfs, chunks, bad, &e);
    dfs_notes(c, wall);
}
