/*
 * core.c - one agent's cluster logic: dispatches messages to membership
 * and election, turns their decisions into messages, and keeps the
 * heartbeat.  See core.h.
 *
 * Events ({root}/events) are published once per cluster, not once per
 * node: a membership change is announced by the leader, or, when the change
 * is the leader's own death, by the highest survivor (its successor); an
 * election result by the new leader.  Every node still logs what it sees.
 */
#include "core.h"

#include <inttypes.h>
#include <stdarg.h>
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
}

size_t dx_core_subscriptions(const dx_core *c,
                             char subs[][DX_TOPIC_MAX + 1], size_t cap)
{
    static const dx_topic_kind wild[] = {DX_T_NODE_STATE, DX_T_NODE_HEARTBEAT};
    size_t n = 0;
    for (size_t i = 0; i < 2 && n < cap; i++)
        if (dx_topic_filter(&c->cfg.topics, wild[i], subs[n],
                            DX_TOPIC_MAX + 1) == 0)
            n++;
    if (n < cap && dx_topic_build(&c->cfg.topics, DX_T_ELECTION, 0, NULL,
                                  subs[n], DX_TOPIC_MAX + 1) == 0)
        n++;
    if (n < cap && dx_topic_build(&c->cfg.topics, DX_T_LEADER, 0, NULL,
                                  subs[n], DX_TOPIC_MAX + 1) == 0)
        n++;
    if (n < cap && dx_topic_build(&c->cfg.topics, DX_T_NODE_CMD, c->cfg.id,
                                  NULL, subs[n], DX_TOPIC_MAX + 1) == 0)
        n++;
    return n;
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
static void apply_fx(dx_core *c, const dx_elect_fx *fx, int64_t wall)
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
    apply_fx(c, &fx, wall);
    c->members_dirty = true;
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
                  const char *error)
{
    dx_msg_reply r;
    dx_action *a;
    if (reply_to[0] == '\0')
        return;
    memset(&r, 0, sizeof r);
    snprintf(r.corr, sizeof r.corr, "%s", corr);
    r.ok = ok;
    r.node = c->cfg.id;
    snprintf(r.error, sizeof r.error, "%s", error ? error : "");
    a = dx_outbox_add(&c->out, DX_ACT_PUBLISH, SMALL_PAYLOAD);
    if (a == NULL)
        return;
    snprintf(a->topic, sizeof a->topic, "%s", reply_to);
    a->qos = 1;
    PUBLISH(c, a, msg_reply, &r);
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
    default:
        reply(c, cmd->reply_to, cmd->corr, false,
              "drain and undrain arrive with the task scheduler; this agent "
              "has no tasks to move");
        return;
    }
    /* Reply first: after a fail or hang this node cannot answer. */
    reply(c, cmd->reply_to, cmd->corr, true, NULL);
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
            apply_fx(c, &fx, wall);
        }
        break;
    }
    case DX_T_ELECTION: {
        dx_msg_election m;
        if ((rc = dx_msg_election_decode(payload, plen, &m, &d)) != 0)
            break;
        dx_elect_on_message(&c->elect, &c->members, &m, now, &fx);
        apply_fx(c, &fx, wall);
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
        apply_fx(c, &fx, wall);
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
    default:
        return;                     /* not ours to act on */
    }
    if (rc < 0)
        reject(c, topic, tlen, rc, &d);
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
        hb.rejected = c->rejected;
        a = begin_publish(c, DX_T_NODE_HEARTBEAT, c->cfg.id, NULL, 0, false,
                          SMALL_PAYLOAD);
        PUBLISH(c, a, msg_heartbeat, &hb);
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
    apply_fx(c, &fx, wall);

    if (c->members_dirty && c->connected && dx_elect_is_leader(&c->elect))
        publish_members(c, now, wall);
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
