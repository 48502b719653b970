/*
 * election.c - Bully leader election with terms.  See election.h.
 */
#include "election.h"

#include <string.h>

void dx_elect_init(dx_election *e, uint16_t self, const dx_elect_cfg *cfg)
{
    memset(e, 0, sizeof *e);
    e->self = self;
    e->cfg = *cfg;
    e->rng = cfg->seed ? cfg->seed : 0x9e3779b9u ^ self;
}

/* xorshift32: jitter needs no quality, only spread. */
static int64_t jitter(dx_election *e)
{
    uint32_t x = e->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    e->rng = x;
    return e->cfg.jitter_ms > 0 ? (int64_t)(x % (uint32_t)e->cfg.jitter_ms)
                                : 0;
}

static void schedule(dx_election *e, int64_t at)
{
    if (e->start_at == 0 || at < e->start_at)
        e->start_at = at;
}

static void send(dx_election *e, dx_elect_fx *fx, dx_elect_type type,
                 uint16_t to)
{
    dx_msg_election *m;
    if (fx->n_send == sizeof fx->send / sizeof fx->send[0])
        return;
    m = &fx->send[fx->n_send++];
    m->type = type;
    m->from = e->self;
    m->to = to;
    m->term = type == DX_ELECT_COORDINATOR ? e->term : e->max_term;
    m->epoch = e->epoch;
}

static bool higher_alive(const dx_election *e, const dx_members *ms)
{
    return dx_members_highest_alive(ms) > e->self;
}

/* An election is due when there is no live leader, or a lower one. */
static bool needs_election(const dx_election *e, const dx_members *ms)
{
    if (!e->ready || e->role != DX_ROLE_FOLLOWER)
        return false;
    return e->leader == 0 || !dx_members_is_alive(ms, e->leader) ||
           e->leader < e->self;
}

static void become_leader(dx_election *e, dx_elect_fx *fx)
{
    e->term = ++e->max_term;
    e->leader = e->self;
    e->role = DX_ROLE_LEADER;
    e->deadline = 0;
    e->start_at = 0;
    e->answered = false;
    send(e, fx, DX_ELECT_COORDINATOR, 0);
    fx->publish_leader = true;
    fx->leader_changed = true;
}

static void start_election(dx_election *e, const dx_members *ms,
                           int64_t now, dx_elect_fx *fx)
{
    e->start_at = 0;
    fx->election_started = true;
    if (!higher_alive(e, ms)) {
        become_leader(e, fx);
        return;
    }
    e->role = DX_ROLE_CANDIDATE;
    e->answered = false;
    e->deadline = now + e->cfg.answer_ms;
    send(e, fx, DX_ELECT_ELECTION, 0);
}

/* Follows `leader` in `term`; steps down if this node led. */
static void follow(dx_election *e, uint16_t leader, uint64_t term,
                   dx_elect_fx *fx)
{
    if (e->role == DX_ROLE_LEADER && leader != e->self)
        fx->stepped_down = true;
    if (leader != e->leader || term != e->term)
        fx->leader_changed = true;
    e->leader = leader;
    e->term = term;
    if (term > e->max_term)
        e->max_term = term;
    e->role = leader == e->self ? DX_ROLE_LEADER : DX_ROLE_FOLLOWER;
    e->deadline = 0;
    e->answered = false;
    e->start_at = 0;
}

/* After adopting a leader: a dead one is replaced, and a lower one is
 * bullied, both debounced. */
static void check_leader(dx_election *e, const dx_members *ms, int64_t now)
{
    if (!e->ready || e->role != DX_ROLE_FOLLOWER)
        return;
    if (!dx_members_is_alive(ms, e->leader))
        schedule(e, now + e->cfg.answer_ms + jitter(e));
    else if (e->leader < e->self)
        schedule(e, now + e->cfg.settle_ms + jitter(e));
}

void dx_elect_on_connected(dx_election *e, uint64_t epoch, int64_t now)
{
    e->epoch = epoch;
    e->ready = false;
    e->ready_at = now + e->cfg.settle_ms + jitter(e);
    if (e->role == DX_ROLE_CANDIDATE)
        e->role = DX_ROLE_FOLLOWER;
}

void dx_elect_on_disconnected(dx_election *e)
{
    e->ready = false;
    e->ready_at = 0;
    e->start_at = 0;
    e->deadline = 0;
    if (e->role == DX_ROLE_CANDIDATE)
        e->role = DX_ROLE_FOLLOWER;
}

void dx_elect_on_member(dx_election *e, const dx_members *ms,
                        const dx_member_change *chg, int64_t now,
                        dx_elect_fx *fx)
{
    bool down = chg->to != DX_MEMBER_ONLINE;

    if (!e->ready)
        return;
    if (down && chg->id == e->leader && e->role != DX_ROLE_LEADER) {
        e->leader = 0;
        fx->leader_changed = true;
        /* The highest survivor takes over now; the others give it a
         * moment, then run the election themselves if it stays silent. */
        if (!higher_alive(e, ms))
            start_election(e, ms, now, fx);
        else
            schedule(e, now + e->cfg.answer_ms + jitter(e));
        return;
    }
    if (down && e->role == DX_ROLE_CANDIDATE && e->answered &&
        !higher_alive(e, ms)) {
        start_election(e, ms, now, fx);   /* who answered has died */
        return;
    }
}

void dx_elect_on_message(dx_election *e, const dx_members *ms,
                         const dx_msg_election *msg, int64_t now,
                         dx_elect_fx *fx)
{
    if (msg->from == e->self)
        return;
    if (msg->type != DX_ELECT_COORDINATOR && msg->term > e->max_term)
        e->max_term = msg->term;

    switch (msg->type) {
    case DX_ELECT_ELECTION:
        if (msg->from > e->self)
            return;
        /* Answer even while settling: a live higher node must stop a lower
         * candidate, or both could lead in the same term.  Our own
         * election follows when settling ends. */
        send(e, fx, DX_ELECT_ANSWER, msg->from);
        if (!e->ready)
            return;
        if (e->role == DX_ROLE_LEADER)
            send(e, fx, DX_ELECT_COORDINATOR, 0);
        else if (e->role == DX_ROLE_FOLLOWER &&
                 !(e->leader > e->self && dx_members_is_alive(ms, e->leader)))
            start_election(e, ms, now, fx);
        /* (A live higher leader answers the candidate itself.) */
        return;
    case DX_ELECT_ANSWER:
        if (msg->to == e->self && e->role == DX_ROLE_CANDIDATE &&
            msg->from > e->self) {
            e->answered = true;
            e->deadline = now + e->cfg.coord_ms;
        }
        return;
    case DX_ELECT_COORDINATOR:
        if (msg->term < e->term) {
            /* A stale leader: tell it the current term. */
            if (e->role == DX_ROLE_LEADER)
                send(e, fx, DX_ELECT_COORDINATOR, 0);
            return;
        }
        if (msg->term == e->term && e->leader != 0 &&
            (msg->from == e->leader || msg->from < e->leader)) {
            if (e->role == DX_ROLE_LEADER && msg->from != e->self)
                send(e, fx, DX_ELECT_COORDINATOR, 0);
            else if (e->role == DX_ROLE_CANDIDATE && msg->from == e->leader)
                follow(e, msg->from, msg->term, fx);  /* it is still there */
            return;     /* a duplicate, or the lower of two in one term */
        }
        follow(e, msg->from, msg->term, fx);
        check_leader(e, ms, now);
        return;
    }
}

void dx_elect_on_leader(dx_election *e, const dx_members *ms,
                        const dx_msg_leader *msg, int64_t now,
                        dx_elect_fx *fx)
{
    if (msg == NULL) {
        if (e->role == DX_ROLE_LEADER)
            fx->publish_leader = true;
        return;
    }
    if (msg->term > e->max_term)
        e->max_term = msg->term;
    if (e->role == DX_ROLE_LEADER) {
        if (msg->term < e->term ||
            (msg->term == e->term && msg->leader < e->self)) {
            fx->publish_leader = true;     /* overwritten by a stale value */
            return;
        }
        if (msg->term == e->term && msg->leader == e->self)
            return;
    } else if (msg->term < e->term ||
               (msg->term == e->term && e->leader != 0)) {
        return;
    }
    follow(e, msg->leader, msg->term, fx);
    check_leader(e, ms, now);
}

void dx_elect_on_hint(dx_election *e, const dx_members *ms, uint16_t leader,
                      uint64_t term, int64_t now, dx_elect_fx *fx)
{
    if (leader == 0 || term <= e->term || !dx_members_is_alive(ms, leader))
        return;
    if (term > e->max_term)
        e->max_term = term;
    follow(e, leader, term, fx);
    check_leader(e, ms, now);
}

void dx_elect_tick(dx_election *e, const dx_members *ms, int64_t now,
                   dx_elect_fx *fx)
{
    if (!e->ready && e->ready_at != 0 && now >= e->ready_at) {
        e->ready = true;
        e->ready_at = 0;
        if (e->role == DX_ROLE_LEADER && e->leader == e->self)
            fx->publish_leader = true;   /* re-assert after a reconnect */
        else if (needs_election(e, ms))
            start_election(e, ms, now, fx);
        return;
    }
    if (e->start_at != 0 && now >= e->start_at) {
        e->start_at = 0;
        if (needs_election(e, ms))
            start_election(e, ms, now, fx);
    }
    if (e->role == DX_ROLE_CANDIDATE && e->deadline != 0 &&
        now >= e->deadline) {
        if (!e->answered)
            become_leader(e, fx);
        else
            start_election(e, ms, now, fx); /* the winner never spoke */
    }
}

int64_t dx_elect_next_deadline(const dx_election *e)
{
    int64_t t = INT64_MAX;
    if (!e->ready && e->ready_at != 0)
        t = e->ready_at;
    if (e->start_at != 0 && e->start_at < t)
        t = e->start_at;
    if (e->role == DX_ROLE_CANDIDATE && e->deadline != 0 && e->deadline < t)
        t = e->deadline;
    return t;
}

bool dx_elect_is_leader(const dx_election *e)
{
    return e->role == DX_ROLE_LEADER;
}

const char *dx_role_name(dx_role r)
{
    switch (r) {
    case DX_ROLE_LEADER:
        return "leader";
    case DX_ROLE_CANDIDATE:
        return "candidate";
    default:
        return "follower";
    }
}
