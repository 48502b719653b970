/*
 * test_election.c - unit tests of the Bully election (agent/election.c).
 *
 * One dx_election is driven directly, next to a dx_members table filled
 * with births and wills through dx_members_on_state (the view the core
 * would hand it).  Time is simulated from T0; the jitter is 0 unless a test
 * says otherwise, so every deadline is exact: ready at T0 + SETTLE, a
 * candidate gives up waiting for an answer after ANSWER and for the
 * coordinator after COORD.  The last test replays thousands of random
 * inputs and checks the invariants of election.h after each one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "election.h"

#define T0 100000
#define ANSWER 100
#define COORD 400
#define SETTLE 200

typedef struct ctx {
    dx_members ms;
    dx_election e;
    dx_elect_fx fx;        /* effects of the last call */
    int64_t now;
} ctx;

static int setup(void **state)
{
    ctx *x = calloc(1, sizeof *x);    /* the table is large */
    if (x == NULL)
        return -1;
    x->now = T0;
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    *state = NULL;
    return 0;
}

static dx_elect_fx *fx_clear(ctx *x)
{
    memset(&x->fx, 0, sizeof x->fx);
    return &x->fx;
}

static bool fx_empty(const dx_elect_fx *fx)
{
    return fx->n_send == 0 && !fx->publish_leader && !fx->election_started &&
           !fx->leader_changed && !fx->stepped_down;
}

/* Applies a birth or death of `id` to the table; returns the change or
 * fails the test when the table saw none. */
static dx_member_change member(ctx *x, uint16_t id, dx_wire_state s,
                               uint64_t epoch)
{
    dx_msg_state st;
    dx_member_change chg;
    memset(&st, 0, sizeof st);
    st.id = id;
    st.state = s;
    st.epoch = epoch;
    snprintf(st.reason, sizeof st.reason, "%s",
             s == DX_WIRE_ONLINE ? "" : "crash");
    assert_int_equal(dx_members_on_state(&x->ms, id, &st, x->now, &chg), 1);
    return chg;
}

/* Node `id` dies (its will) and the election hears of it. */
static void member_down(ctx *x, uint16_t id)
{
    dx_member_change chg = member(x, id, DX_WIRE_OFFLINE, 1);
    dx_elect_on_member(&x->e, &x->ms, &chg, x->now, fx_clear(x));
}

/* Node `self` with the nodes in `alive` (a bit per id) online, connected
 * at now with epoch 1 and settling. */
static void start_jitter(ctx *x, uint16_t self, unsigned alive,
                         int64_t jitter)
{
    dx_elect_cfg cfg = {ANSWER, COORD, SETTLE, jitter, 7};
    dx_members_init(&x->ms, self, 1000);
    for (uint16_t id = 1; id < 16; id++)
        if (alive & (1u << id))
            member(x, id, DX_WIRE_ONLINE, 1);
    dx_elect_init(&x->e, self, &cfg);
    dx_elect_on_connected(&x->e, 1, x->now);
}

static void start(ctx *x, uint16_t self, unsigned alive)
{
    start_jitter(x, self, alive, 0);
}

#define NODES(a, b, c) ((1u << (a)) | (1u << (b)) | (1u << (c)))

static void tick_at(ctx *x, int64_t t)
{
    x->now = t;
    dx_elect_tick(&x->e, &x->ms, t, fx_clear(x));
}

/* Settles: ticks exactly when settling ends. */
static void settle(ctx *x)
{
    assert_false(x->e.ready);
    tick_at(x, x->e.ready_at);
    assert_true(x->e.ready);
}

static void msg(ctx *x, dx_elect_type type, uint16_t from, uint16_t to,
                uint64_t term)
{
    dx_msg_election m = {type, from, to, term, 1};
    dx_elect_on_message(&x->e, &x->ms, &m, x->now, fx_clear(x));
}

static void coord(ctx *x, uint16_t from, uint64_t term)
{
    msg(x, DX_ELECT_COORDINATOR, from, 0, term);
}

/* The retained leader message; leader 0 means cleared (NULL). */
static void leader_msg(ctx *x, uint16_t leader, uint64_t term)
{
    dx_msg_leader l = {leader, term, 1};
    dx_elect_on_leader(&x->e, &x->ms, leader ? &l : NULL, x->now,
                       fx_clear(x));
}

static void hint(ctx *x, uint16_t leader, uint64_t term)
{
    dx_elect_on_hint(&x->e, &x->ms, leader, term, x->now, fx_clear(x));
}

static void expect_sent(const ctx *x, size_t i, dx_elect_type type,
                        uint16_t to, uint64_t term)
{
    assert_true(i < x->fx.n_send);
    assert_int_equal(x->fx.send[i].type, type);
    assert_int_equal(x->fx.send[i].from, x->e.self);
    assert_int_equal(x->fx.send[i].to, to);
    assert_int_equal(x->fx.send[i].term, term);
    assert_int_equal(x->fx.send[i].epoch, x->e.epoch);
}

static void expect_role(const ctx *x, dx_role role, uint16_t leader,
                        uint64_t term)
{
    assert_int_equal(x->e.role, role);
    assert_int_equal(x->e.leader, leader);
    assert_int_equal(x->e.term, term);
    assert_true(x->e.max_term >= x->e.term);
}

/* Asserts the node just became leader in `term` and said so. */
static void expect_new_leader(const ctx *x, uint64_t term)
{
    expect_role(x, DX_ROLE_LEADER, x->e.self, term);
    assert_true(dx_elect_is_leader(&x->e));
    assert_int_equal(x->fx.n_send, 1);
    expect_sent(x, 0, DX_ELECT_COORDINATOR, 0, term);
    assert_true(x->fx.publish_leader);
    assert_true(x->fx.leader_changed);
    assert_false(x->fx.stepped_down);
}

/* Node 1 of {1,2,3}, settled: a candidate that sent ELECTION. */
static void candidate_1(ctx *x)
{
    start(x, 1, NODES(1, 2, 3));
    settle(x);
    assert_int_equal(x->e.role, DX_ROLE_CANDIDATE);
}

/* Node 3 of {1,2,3}, settled: leader in term 1. */
static void leader_3(ctx *x)
{
    start(x, 3, NODES(1, 2, 3));
    settle(x);
    expect_new_leader(x, 1);
}

/* ---- becoming leader ---- */
static void test_single_node_leads_after_settle(void **state)
{
    ctx *x = *state;

    start(x, 1, 1u << 1);
    assert_int_equal(dx_elect_next_deadline(&x->e), T0 + SETTLE);
    tick_at(x, T0 + SETTLE - 1);
    assert_true(fx_empty(&x->fx));
    assert_false(x->e.ready);
    assert_false(dx_elect_is_leader(&x->e));
    settle(x);
    expect_new_leader(x, 1);
    assert_true(x->fx.election_started);
    assert_int_equal(x->e.max_term, 1);
    assert_int_equal(dx_elect_next_deadline(&x->e), INT64_MAX);
}

static void test_highest_alive_elects_at_once(void **state)
{
    ctx *x = *state;

    leader_3(x);     /* no ELECTION, no waiting: COORDINATOR only */
    assert_int_equal(dx_elect_next_deadline(&x->e), INT64_MAX);
}

static void test_lower_node_sends_election_and_waits(void **state)
{
    ctx *x = *state;

    candidate_1(x);
    assert_int_equal(x->fx.n_send, 1);
    expect_sent(x, 0, DX_ELECT_ELECTION, 0, 0);
    assert_true(x->fx.election_started);
    assert_false(x->fx.publish_leader);
    assert_int_equal(x->e.leader, 0);
    assert_int_equal(x->e.term, 0);
    assert_int_equal(dx_elect_next_deadline(&x->e), x->now + ANSWER);
    tick_at(x, x->now + ANSWER - 1);
    assert_true(fx_empty(&x->fx));
    assert_int_equal(x->e.role, DX_ROLE_CANDIDATE);
}

static void test_answer_waits_for_coordinator(void **state)
{
    ctx *x = *state;
    int64_t asked;

    start(x, 2, NODES(1, 2, 3));
    settle(x);
    asked = x->now;
    x->now += 10;
    msg(x, DX_ELECT_ANSWER, 1, 2, 0);       /* from a lower node */
    msg(x, DX_ELECT_ANSWER, 3, 1, 0);       /* to another candidate */
    assert_false(x->e.answered);
    msg(x, DX_ELECT_ANSWER, 3, 2, 0);
    assert_true(x->fx.n_send == 0);
    assert_true(x->e.answered);
    assert_int_equal(dx_elect_next_deadline(&x->e), asked + 10 + COORD);
    tick_at(x, asked + ANSWER);             /* the answer wait is over */
    assert_true(fx_empty(&x->fx));
    assert_int_equal(x->e.role, DX_ROLE_CANDIDATE);
    /* No coordinator in time: the winner never spoke, try again. */
    tick_at(x, asked + 10 + COORD);
    assert_int_equal(x->e.role, DX_ROLE_CANDIDATE);
    assert_int_equal(x->fx.n_send, 1);
    expect_sent(x, 0, DX_ELECT_ELECTION, 0, 0);
    assert_false(x->e.answered);
    assert_int_equal(dx_elect_next_deadline(&x->e), x->now + ANSWER);
}

static void test_no_answer_becomes_leader(void **state)
{
    ctx *x = *state;

    candidate_1(x);
    tick_at(x, x->now + ANSWER);
    expect_new_leader(x, 1);
}

static void test_answered_candidate_leads_when_answerer_dies(void **state)
{
    ctx *x = *state;

    start(x, 2, NODES(1, 2, 3));
    settle(x);
    msg(x, DX_ELECT_ANSWER, 3, 2, 0);
    member_down(x, 3);
    expect_new_leader(x, 1);
}

/* ---- following ---- */
static void test_coordinator_from_higher_is_followed(void **state)
{
    ctx *x = *state;

    candidate_1(x);
    coord(x, 3, 1);
    expect_role(x, DX_ROLE_FOLLOWER, 3, 1);
    assert_true(x->fx.leader_changed);
    assert_false(x->fx.stepped_down);
    assert_int_equal(x->fx.n_send, 0);
    assert_int_equal(dx_elect_next_deadline(&x->e), INT64_MAX);
    tick_at(x, x->now + 10 * COORD);
    assert_true(fx_empty(&x->fx));
    expect_role(x, DX_ROLE_FOLLOWER, 3, 1);
}

static void test_stale_coordinator_is_fenced(void **state)
{
    ctx *x = *state;

    candidate_1(x);
    coord(x, 3, 5);
    expect_role(x, DX_ROLE_FOLLOWER, 3, 5);
    coord(x, 2, 4);
    assert_true(fx_empty(&x->fx));
    leader_msg(x, 2, 4);
    assert_true(fx_empty(&x->fx));
    hint(x, 2, 4);
    assert_true(fx_empty(&x->fx));
    expect_role(x, DX_ROLE_FOLLOWER, 3, 5);
}

static void test_leader_steps_down_on_higher_term(void **state)
{
    ctx *x = *state;

    leader_3(x);
    coord(x, 2, 2);
    expect_role(x, DX_ROLE_FOLLOWER, 2, 2);
    assert_true(x->fx.stepped_down);
    assert_true(x->fx.leader_changed);
    assert_false(dx_elect_is_leader(&x->e));
    assert_int_equal(x->e.max_term, 2);
}

static void test_leader_answers_stale_coordinator(void **state)
{
    ctx *x = *state;

    leader_3(x);
    coord(x, 2, 2);                 /* steps down ... */
    tick_at(x, x->now + SETTLE);    /* ... and bullies back: term 3 */
    expect_new_leader(x, 3);
    coord(x, 1, 2);                 /* a stale leader wakes up */
    expect_role(x, DX_ROLE_LEADER, 3, 3);
    assert_int_equal(x->fx.n_send, 1);
    expect_sent(x, 0, DX_ELECT_COORDINATOR, 0, 3);
    assert_false(x->fx.stepped_down);
}

static void test_same_term_higher_id_wins(void **state)
{
    ctx *x = *state;

    start(x, 1, NODES(1, 2, 3));     /* settling: only follows */
    coord(x, 2, 5);
    expect_role(x, DX_ROLE_FOLLOWER, 2, 5);
    coord(x, 3, 5);
    expect_role(x, DX_ROLE_FOLLOWER, 3, 5);
    assert_true(x->fx.leader_changed);
    coord(x, 2, 5);
    assert_true(fx_empty(&x->fx));
    expect_role(x, DX_ROLE_FOLLOWER, 3, 5);
}

static void test_same_term_lower_leader_yields(void **state)
{
    ctx *x = *state;

    start(x, 2, (1u << 1) | (1u << 2));     /* 3 not known yet */
    settle(x);
    expect_new_leader(x, 1);
    member(x, 3, DX_WIRE_ONLINE, 1);
    coord(x, 3, 1);
    expect_role(x, DX_ROLE_FOLLOWER, 3, 1);
    assert_true(x->fx.stepped_down);
}

static void test_same_term_higher_leader_holds(void **state)
{
    ctx *x = *state;

    leader_3(x);
    coord(x, 2, 1);
    expect_role(x, DX_ROLE_LEADER, 3, 1);
    assert_int_equal(x->fx.n_send, 1);
    expect_sent(x, 0, DX_ELECT_COORDINATOR, 0, 1);
    assert_false(x->fx.stepped_down);
}

static void test_lower_coordinator_is_bullied(void **state)
{
    ctx *x = *state;
    int64_t t;

    leader_3(x);
    coord(x, 2, 2);                 /* a lower node leads a newer term */
    t = x->now;
    assert_int_equal(x->e.start_at, t + SETTLE);
    tick_at(x, t + SETTLE - 1);
    assert_true(fx_empty(&x->fx));
    tick_at(x, t + SETTLE);
    assert_true(x->fx.election_started);
    expect_new_leader(x, 3);        /* term + 1 */
}

static void test_bully_is_debounced_with_jitter(void **state)
{
    ctx *x = *state;

    start_jitter(x, 3, NODES(1, 2, 3) | (1u << 4), 50);
    settle(x);                       /* 4 is alive: candidate */
    assert_int_equal(x->e.role, DX_ROLE_CANDIDATE);
    coord(x, 2, 1);
    expect_role(x, DX_ROLE_FOLLOWER, 2, 1);
    assert_true(x->e.start_at >= x->now + SETTLE);
    assert_true(x->e.start_at < x->now + SETTLE + 50);
    member(x, 4, DX_WIRE_OFFLINE, 1);
    tick_at(x, x->e.start_at);
    expect_new_leader(x, 2);
}

static void test_coordinator_while_settling_bullied_when_ready(void **state)
{
    ctx *x = *state;

    start(x, 3, NODES(1, 2, 3));
    coord(x, 2, 4);                  /* retained state of a past election */
    expect_role(x, DX_ROLE_FOLLOWER, 2, 4);
    assert_int_equal(x->e.start_at, 0);    /* not ready: no timer yet */
    settle(x);
    expect_new_leader(x, 5);
}

/* ---- leader failure ---- */
/* Node `self` of {1,2,3}, settled, following 3 in term 1. */
static void follower_of_3(ctx *x, uint16_t self)
{
    start(x, self, NODES(1, 2, 3));
    settle(x);
    coord(x, 3, 1);
    expect_role(x, DX_ROLE_FOLLOWER, 3, 1);
}

static void test_leader_failure_highest_survivor_takes_over(void **state)
{
    ctx *x = *state;

    follower_of_3(x, 2);
    x->now += 1000;
    member_down(x, 3);
    assert_true(x->fx.election_started);
    expect_new_leader(x, 2);
}

static void test_leader_failure_lower_survivor_waits(void **state)
{
    ctx *x = *state;
    int64_t at;

    follower_of_3(x, 1);
    x->now += 1000;
    member_down(x, 3);
    expect_role(x, DX_ROLE_FOLLOWER, 0, 1);
    assert_true(x->fx.leader_changed);
    assert_int_equal(x->fx.n_send, 0);
    at = x->e.start_at;
    assert_int_equal(at, x->now + ANSWER);
    coord(x, 2, 2);                  /* the survivor took over: cancel */
    expect_role(x, DX_ROLE_FOLLOWER, 2, 2);
    assert_int_equal(x->e.start_at, 0);
    assert_int_equal(dx_elect_next_deadline(&x->e), INT64_MAX);
    tick_at(x, at);
    assert_true(fx_empty(&x->fx));
}

static void test_leader_failure_silent_survivor(void **state)
{
    ctx *x = *state;

    follower_of_3(x, 1);
    member_down(x, 3);
    tick_at(x, x->e.start_at);       /* 2 stayed silent */
    assert_int_equal(x->e.role, DX_ROLE_CANDIDATE);
    assert_int_equal(x->fx.n_send, 1);
    expect_sent(x, 0, DX_ELECT_ELECTION, 0, 1);
}

static void test_other_failures_keep_the_leader(void **state)
{
    ctx *x = *state;

    follower_of_3(x, 2);
    member_down(x, 1);
    assert_true(fx_empty(&x->fx));
    expect_role(x, DX_ROLE_FOLLOWER, 3, 1);
}

/* ---- the retained leader message ---- */
static void test_stale_retained_leader_is_reasserted(void **state)
{
    ctx *x = *state;

    leader_3(x);
    coord(x, 2, 2);
    tick_at(x, x->now + SETTLE);
    expect_new_leader(x, 3);
    leader_msg(x, 2, 2);                   /* an older term */
    assert_true(x->fx.publish_leader);
    assert_int_equal(x->fx.n_send, 0);
    leader_msg(x, 1, 3);                   /* this term, lower id */
    assert_true(x->fx.publish_leader);
    leader_msg(x, 3, 3);                   /* its own echo */
    assert_true(fx_empty(&x->fx));
    expect_role(x, DX_ROLE_LEADER, 3, 3);
}

static void test_cleared_leader_is_reasserted(void **state)
{
    ctx *x = *state;

    leader_3(x);
    leader_msg(x, 0, 0);
    assert_true(x->fx.publish_leader);
    assert_int_equal(x->fx.n_send, 0);
    assert_false(x->fx.leader_changed);
    expect_role(x, DX_ROLE_LEADER, 3, 1);
}

static void test_cleared_leader_ignored_by_follower(void **state)
{
    ctx *x = *state;

    follower_of_3(x, 1);
    leader_msg(x, 0, 0);
    assert_true(fx_empty(&x->fx));
    expect_role(x, DX_ROLE_FOLLOWER, 3, 1);
}

static void test_retained_leader_followed_while_settling(void **state)
{
    ctx *x = *state;

    start(x, 1, NODES(1, 2, 3));
    leader_msg(x, 3, 7);
    expect_role(x, DX_ROLE_FOLLOWER, 3, 7);
    assert_true(x->fx.leader_changed);
    settle(x);                       /* a live higher leader: no election */
    assert_true(fx_empty(&x->fx));
    expect_role(x, DX_ROLE_FOLLOWER, 3, 7);
}

static void test_reconnected_leader_reasserts(void **state)
{
    ctx *x = *state;

    leader_3(x);
    dx_elect_on_disconnected(&x->e);
    assert_false(x->e.ready);
    x->now += 5000;
    dx_elect_on_connected(&x->e, 2, x->now);
    settle(x);
    assert_true(x->fx.publish_leader);
    assert_int_equal(x->fx.n_send, 0);      /* no new term, no storm */
    expect_role(x, DX_ROLE_LEADER, 3, 1);
}

static void test_disconnect_cancels_candidacy(void **state)
{
    ctx *x = *state;

    candidate_1(x);
    dx_elect_on_disconnected(&x->e);
    assert_int_equal(x->e.role, DX_ROLE_FOLLOWER);
    assert_int_equal(dx_elect_next_deadline(&x->e), INT64_MAX);
    tick_at(x, x->now + 10 * COORD);
    assert_true(fx_empty(&x->fx));
}

/* ---- heartbeat hints ---- */
static void test_hint_adopts_newer_live_leader(void **state)
{
    ctx *x = *state;

    follower_of_3(x, 1);
    hint(x, 4, 3);                   /* 4 is not alive */
    assert_true(fx_empty(&x->fx));
    hint(x, 3, 1);                   /* not newer */
    assert_true(fx_empty(&x->fx));
    hint(x, 0, 9);                   /* no leader */
    assert_true(fx_empty(&x->fx));
    hint(x, 2, 2);
    expect_role(x, DX_ROLE_FOLLOWER, 2, 2);
    assert_true(x->fx.leader_changed);
    hint(x, 3, 1);                   /* older now */
    assert_true(fx_empty(&x->fx));
    expect_role(x, DX_ROLE_FOLLOWER, 2, 2);
}

static void test_hint_fences_a_stale_leader(void **state)
{
    ctx *x = *state;

    leader_3(x);
    hint(x, 2, 2);
    expect_role(x, DX_ROLE_FOLLOWER, 2, 2);
    assert_true(x->fx.stepped_down);
}

/* ---- ELECTION from a lower node ---- */
static void test_election_from_lower_node(void **state)
{
    ctx *x = *state;

    leader_3(x);
    msg(x, DX_ELECT_ELECTION, 1, 0, 0);
    assert_int_equal(x->fx.n_send, 2);
    expect_sent(x, 0, DX_ELECT_ANSWER, 1, 1);
    expect_sent(x, 1, DX_ELECT_COORDINATOR, 0, 1);
    msg(x, DX_ELECT_ELECTION, 4, 0, 0);      /* a higher one: not ours */
    assert_true(fx_empty(&x->fx));
    expect_role(x, DX_ROLE_LEADER, 3, 1);
}

/* A follower whose leader is gone answers a lower candidate and runs its
 * own election (the Bully rule). */
static void test_election_makes_follower_run(void **state)
{
    ctx *x = *state;

    start(x, 2, NODES(1, 2, 3) | (1u << 4));
    settle(x);
    coord(x, 4, 1);
    expect_role(x, DX_ROLE_FOLLOWER, 4, 1);
    (void)member(x, 4, DX_WIRE_OFFLINE, 1);   /* gone; not yet acted on */
    msg(x, DX_ELECT_ELECTION, 1, 0, 4);
    assert_int_equal(x->e.max_term, 4);
    expect_sent(x, 0, DX_ELECT_ANSWER, 1, 4);
    expect_sent(x, 1, DX_ELECT_ELECTION, 0, 4);
    assert_int_equal(x->e.role, DX_ROLE_CANDIDATE);
}

/* With a live higher leader, the follower only answers: the leader itself
 * answers the candidate with its coordinator, and no election churns. */
static void test_election_with_live_leader_only_answers(void **state)
{
    ctx *x = *state;

    follower_of_3(x, 2);
    msg(x, DX_ELECT_ELECTION, 1, 0, 1);
    assert_int_equal(x->fx.n_send, 1);
    expect_sent(x, 0, DX_ELECT_ANSWER, 1, 1);
    expect_role(x, DX_ROLE_FOLLOWER, 3, 1);
    assert_false(x->fx.election_started);
}

/* A settling node answers a lower candidate (so two nodes cannot both
 * lead one term at start-up) but runs no election of its own yet. */
static void test_election_answered_while_settling(void **state)
{
    ctx *x = *state;

    start(x, 3, NODES(1, 2, 3));
    msg(x, DX_ELECT_ELECTION, 1, 0, 0);
    assert_int_equal(x->fx.n_send, 1);
    expect_sent(x, 0, DX_ELECT_ANSWER, 1, 0);
    assert_int_equal(x->e.role, DX_ROLE_FOLLOWER);
    assert_false(x->fx.election_started);
}

/* ---- idempotence ---- */
typedef struct snap {
    dx_role role;
    uint16_t leader;
    uint64_t term, max_term;
    int64_t start_at, deadline;
    bool answered, ready;
} snap;

static snap take(const dx_election *e)
{
    snap s = {e->role, e->leader, e->term, e->max_term,
              e->start_at, e->deadline, e->answered, e->ready};
    return s;
}

static void expect_same(const snap *a, const snap *b)
{
    assert_int_equal(a->role, b->role);
    assert_int_equal(a->leader, b->leader);
    assert_int_equal(a->term, b->term);
    assert_int_equal(a->max_term, b->max_term);
    assert_int_equal(a->start_at, b->start_at);
    assert_int_equal(a->deadline, b->deadline);
    assert_int_equal(a->answered, b->answered);
    assert_int_equal(a->ready, b->ready);
}

typedef void (*input_fn)(ctx *x, uint16_t a, uint64_t b);

static void in_answer(ctx *x, uint16_t from, uint64_t term)
{
    msg(x, DX_ELECT_ANSWER, from, x->e.self, term);
}

static void in_election(ctx *x, uint16_t from, uint64_t term)
{
    msg(x, DX_ELECT_ELECTION, from, 0, term);
}

/* Applies an input twice: the second time changes no state and has no
 * effect beyond (re)sending answers and coordinators. */
static void twice(ctx *x, input_fn f, uint16_t a, uint64_t b)
{
    snap first, second;
    f(x, a, b);
    first = take(&x->e);
    f(x, a, b);
    second = take(&x->e);
    expect_same(&first, &second);
    assert_false(x->fx.leader_changed);
    assert_false(x->fx.stepped_down);
    assert_false(x->fx.election_started);
    for (size_t i = 0; i < x->fx.n_send; i++)
        assert_int_not_equal(x->fx.send[i].type, DX_ELECT_ELECTION);
}

static void test_duplicates_are_harmless(void **state)
{
    ctx *x = *state;
    dx_member_change chg;

    start(x, 2, NODES(1, 2, 3));
    settle(x);
    twice(x, in_answer, 3, 0);
    twice(x, coord, 3, 1);
    twice(x, leader_msg, 3, 1);
    twice(x, hint, 3, 1);
    twice(x, in_election, 1, 1);
    assert_int_equal(x->e.role, DX_ROLE_FOLLOWER);  /* leader 3 is alive */
    twice(x, coord, 3, 1);
    chg = member(x, 3, DX_WIRE_OFFLINE, 1);
    dx_elect_on_member(&x->e, &x->ms, &chg, x->now, fx_clear(x));
    expect_new_leader(x, 2);
    dx_elect_on_member(&x->e, &x->ms, &chg, x->now, fx_clear(x));
    assert_true(fx_empty(&x->fx));
    twice(x, leader_msg, 2, 2);
    twice(x, coord, 1, 1);
    twice(x, in_election, 1, 2);
    expect_role(x, DX_ROLE_LEADER, 2, 2);
}

/* ---- invariants under random input ---- */
static uint32_t rnd(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* One random input: an election message, a leader message, a hint, a
 * membership change, a reconnect, or time passing. */
static void random_input(ctx *x, uint32_t *r, uint64_t *epochs)
{
    uint16_t who = (uint16_t)(1 + rnd(r) % 5);
    uint64_t term = rnd(r) % (x->e.max_term + 3);
    dx_member_change chg;

    switch (rnd(r) % 8) {
    case 0:
        msg(x, (dx_elect_type)(1 + rnd(r) % 3), who,
            (uint16_t)(rnd(r) % 6), term);
        break;
    case 1:
        leader_msg(x, rnd(r) % 4 ? who : 0, term ? term : 1);
        break;
    case 2:
        hint(x, who, term);
        break;
    case 3:
        if (who == x->e.self)
            break;
        if (dx_members_is_alive(&x->ms, who))
            chg = member(x, who, DX_WIRE_OFFLINE, epochs[who]);
        else
            chg = member(x, who, DX_WIRE_ONLINE, ++epochs[who]);
        dx_elect_on_member(&x->e, &x->ms, &chg, x->now, fx_clear(x));
        break;
    case 4:
        if (rnd(r) % 8 == 0) {
            dx_elect_on_disconnected(&x->e);
            dx_elect_on_connected(&x->e, x->e.epoch + 1, x->now);
        }
        break;
    default:
        tick_at(x, x->now + rnd(r) % (2 * COORD));
        break;
    }
}

static void test_terms_never_decrease(void **state)
{
    ctx *x = *state;
    uint32_t r = 12345;
    uint64_t epochs[6] = {0, 1, 1, 1, 1, 1};

    start_jitter(x, 3, NODES(1, 2, 3) | (1u << 4) | (1u << 5), 30);
    for (int i = 0; i < 20000; i++) {
        uint64_t term = x->e.term, max_term = x->e.max_term;
        random_input(x, &r, epochs);
        assert_true(x->e.term >= term);
        assert_true(x->e.max_term >= max_term);
        assert_true(x->e.term <= x->e.max_term);
        if (x->e.role == DX_ROLE_LEADER)
            assert_int_equal(x->e.leader, x->e.self);
        for (size_t k = 0; k < x->fx.n_send; k++)
            if (x->fx.send[k].type == DX_ELECT_COORDINATOR)
                assert_int_equal(x->fx.send[k].term, x->e.term);
        if (x->fx.publish_leader)
            assert_true(dx_elect_is_leader(&x->e));
    }
}

static void test_role_names(void **state)
{
    (void)state;
    assert_string_equal(dx_role_name(DX_ROLE_LEADER), "leader");
    assert_string_equal(dx_role_name(DX_ROLE_CANDIDATE), "candidate");
    assert_string_equal(dx_role_name(DX_ROLE_FOLLOWER), "follower");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_single_node_leads_after_settle),
        T(test_highest_alive_elects_at_once),
        T(test_lower_node_sends_election_and_waits),
        T(test_answer_waits_for_coordinator),
        T(test_no_answer_becomes_leader),
        T(test_answered_candidate_leads_when_answerer_dies),
        T(test_coordinator_from_higher_is_followed),
        T(test_stale_coordinator_is_fenced),
        T(test_leader_steps_down_on_higher_term),
        T(test_leader_answers_stale_coordinator),
        T(test_same_term_higher_id_wins),
        T(test_same_term_lower_leader_yields),
        T(test_same_term_higher_leader_holds),
        T(test_lower_coordinator_is_bullied),
        T(test_bully_is_debounced_with_jitter),
        T(test_coordinator_while_settling_bullied_when_ready),
        T(test_leader_failure_highest_survivor_takes_over),
        T(test_leader_failure_lower_survivor_waits),
        T(test_leader_failure_silent_survivor),
        T(test_other_failures_keep_the_leader),
        T(test_stale_retained_leader_is_reasserted),
        T(test_cleared_leader_is_reasserted),
        T(test_cleared_leader_ignored_by_follower),
        T(test_retained_leader_followed_while_settling),
        T(test_reconnected_leader_reasserts),
        T(test_disconnect_cancels_candidacy),
        T(test_hint_adopts_newer_live_leader),
        T(test_hint_fences_a_stale_leader),
        T(test_election_from_lower_node),
        T(test_election_makes_follower_run),
        T(test_election_with_live_leader_only_answers),
        T(test_election_answered_while_settling),
        T(test_duplicates_are_harmless),
        T(test_terms_never_decrease),
        T(test_role_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
