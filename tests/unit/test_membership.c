/*
 * test_membership.c - unit tests of the membership table (agent/membership.c).
 *
 * The table is fed births, wills, goodbyes and heartbeats built as structs
 * (the codec has its own tests), and a simulated receiver clock starting at
 * T0.  Node 1 is "self"; the others are peers.  Each test states the rule of
 * membership.h it checks: epochs fence stale news, the heartbeat detector
 * fires strictly after timeout_ms, a timed-out node comes back on a fresh
 * heartbeat but a node whose will fired does not, and flapping is damped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "membership.h"

#define SELF 1
#define T0 100000          /* well past the first flap window */
#define TIMEOUT 1000

/* The last change reported; cleared before every call. */
static dx_member_change chg;

static int setup(void **state)
{
    dx_members *ms = calloc(1, sizeof *ms);   /* large: not on the stack */
    if (ms == NULL)
        return -1;
    dx_members_init(ms, SELF, TIMEOUT);
    *state = ms;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    *state = NULL;
    return 0;
}

/* ---- message helpers: each returns what the table returned ---- */
static int state_msg(dx_members *ms, uint16_t id, dx_wire_state s,
                     uint64_t epoch, const char *reason, int64_t now)
{
    dx_msg_state st;
    memset(&st, 0, sizeof st);
    memset(&chg, 0, sizeof chg);
    st.id = id;
    st.state = s;
    st.epoch = epoch;
    snprintf(st.name, sizeof st.name, "node-%u", (unsigned)id);
    snprintf(st.reason, sizeof st.reason, "%s", reason);
    if (s == DX_WIRE_ONLINE) {
        st.heartbeat_ms = 250;
        st.pool_kb = 1024 + epoch;
    }
    return dx_members_on_state(ms, id, &st, now, &chg);
}

static int birth(dx_members *ms, uint16_t id, uint64_t epoch, int64_t now)
{
    return state_msg(ms, id, DX_WIRE_ONLINE, epoch, "", now);
}

static int will(dx_members *ms, uint16_t id, uint64_t epoch, int64_t now)
{
    return state_msg(ms, id, DX_WIRE_OFFLINE, epoch, "crash", now);
}

static int bye(dx_members *ms, uint16_t id, uint64_t epoch, int64_t now)
{
    return state_msg(ms, id, DX_WIRE_OFFLINE, epoch, "shutdown", now);
}

static int beat(dx_members *ms, uint16_t id, uint64_t epoch, uint64_t seq,
                int64_t now)
{
    dx_msg_heartbeat hb;
    memset(&hb, 0, sizeof hb);
    memset(&chg, 0, sizeof chg);
    hb.id = id;
    hb.epoch = epoch;
    hb.seq = seq;
    hb.leader = 3;
    hb.term = seq;           /* lets a test see whether the beat was read */
    hb.load.cpu_pct = (uint32_t)(seq % 100);
    return dx_members_on_heartbeat(ms, id, &hb, now, &chg);
}

/* Runs the timeout detector; returns how many nodes it failed. */
static size_t tick(dx_members *ms, int64_t now)
{
    dx_member_change all[8];
    size_t n = dx_members_tick(ms, now, all, 8);
    if (n > 0)
        chg = all[n - 1];
    return n;
}

static void expect_change(uint16_t id, dx_member_state from,
                          dx_member_state to, dx_member_why why)
{
    assert_int_equal(chg.id, id);
    assert_int_equal(chg.from, from);
    assert_int_equal(chg.to, to);
    assert_int_equal(chg.why, why);
}

static void expect_member(const dx_members *ms, uint16_t id,
                          dx_member_state st, dx_member_why why,
                          uint64_t epoch)
{
    const dx_member *m = dx_members_get(ms, id);
    assert_non_null(m);
    assert_int_equal(m->state, st);
    assert_int_equal(m->why, why);
    assert_int_equal(m->epoch, epoch);
}

/* ---- births and deaths ---- */
static void test_birth_makes_online(void **state)
{
    dx_members *ms = *state;
    const dx_member *m;

    assert_null(dx_members_get(ms, 2));
    assert_false(dx_members_is_alive(ms, 2));
    assert_int_equal(birth(ms, 2, 5, T0), 1);
    expect_change(2, DX_MEMBER_UNKNOWN, DX_MEMBER_ONLINE, DX_WHY_NONE);
    assert_int_equal(chg.epoch, 5);
    assert_false(chg.rejoined);
    assert_false(chg.quiet);
    assert_false(chg.flap_start);
    expect_member(ms, 2, DX_MEMBER_ONLINE, DX_WHY_NONE, 5);
    assert_true(dx_members_is_alive(ms, 2));
    m = dx_members_get(ms, 2);
    assert_string_equal(m->name, "node-2");
    assert_int_equal(m->heartbeat_ms, 250);
    assert_int_equal(m->pool_kb, 1029);
    assert_int_equal(m->last_seen_ms, T0);
    assert_int_equal(m->since_ms, T0);
}

static void test_will_same_epoch_fails(void **state)
{
    dx_members *ms = *state;

    assert_int_equal(birth(ms, 2, 5, T0), 1);
    assert_int_equal(will(ms, 2, 5, T0 + 10), 1);
    expect_change(2, DX_MEMBER_ONLINE, DX_MEMBER_FAILED, DX_WHY_WILL);
    expect_member(ms, 2, DX_MEMBER_FAILED, DX_WHY_WILL, 5);
    assert_false(dx_members_is_alive(ms, 2));
    assert_int_equal(dx_members_get(ms, 2)->since_ms, T0 + 10);
    /* The retained will delivered again is not a second death. */
    assert_int_equal(will(ms, 2, 5, T0 + 20), 0);
}

static void test_late_will_is_ignored(void **state)
{
    dx_members *ms = *state;

    assert_int_equal(birth(ms, 2, 5, T0), 1);
    assert_int_equal(birth(ms, 2, 6, T0 + 10), 1);   /* reconnected */
    assert_true(chg.rejoined);
    assert_int_equal(will(ms, 2, 5, T0 + 20), 0);    /* the old will */
    expect_member(ms, 2, DX_MEMBER_ONLINE, DX_WHY_NONE, 6);
    /* An old goodbye is just as stale. */
    assert_int_equal(bye(ms, 2, 5, T0 + 30), 0);
    expect_member(ms, 2, DX_MEMBER_ONLINE, DX_WHY_NONE, 6);
}

static void test_old_birth_is_ignored(void **state)
{
    dx_members *ms = *state;

    assert_int_equal(birth(ms, 2, 6, T0), 1);
    assert_int_equal(birth(ms, 2, 5, T0 + 10), 0);
    expect_member(ms, 2, DX_MEMBER_ONLINE, DX_WHY_NONE, 6);
    assert_int_equal(dx_members_get(ms, 2)->pool_kb, 1030);
    /* Nor does an old birth revive a node dead in a newer epoch. */
    assert_int_equal(will(ms, 2, 6, T0 + 20), 1);
    assert_int_equal(birth(ms, 2, 5, T0 + 30), 0);
    expect_member(ms, 2, DX_MEMBER_FAILED, DX_WHY_WILL, 6);
}

static void test_duplicate_birth_is_no_change(void **state)
{
    dx_members *ms = *state;

    assert_int_equal(birth(ms, 2, 5, T0), 1);
    assert_int_equal(birth(ms, 2, 5, T0 + 400), 0);
    /* A retained birth redelivered is not a sign of life. */
    assert_int_equal(dx_members_get(ms, 2)->last_seen_ms, T0);
}

static void test_graceful_shutdown(void **state)
{
    dx_members *ms = *state;

    assert_int_equal(birth(ms, 2, 5, T0), 1);
    assert_int_equal(bye(ms, 2, 5, T0 + 10), 1);
    expect_change(2, DX_MEMBER_ONLINE, DX_MEMBER_OFFLINE, DX_WHY_SHUTDOWN);
    expect_member(ms, 2, DX_MEMBER_OFFLINE, DX_WHY_SHUTDOWN, 5);
    /* Neither the detector nor a straggling beat changes that. */
    assert_int_equal(tick(ms, T0 + 5 * TIMEOUT), 0);
    assert_int_equal(beat(ms, 2, 5, 9, T0 + 20), 0);
    /* And the will that follows a goodbye is not a crash. */
    assert_int_equal(will(ms, 2, 5, T0 + 30), 0);
    expect_member(ms, 2, DX_MEMBER_OFFLINE, DX_WHY_SHUTDOWN, 5);
}

static void test_id_mismatch_is_einval(void **state)
{
    dx_members *ms = *state;
    dx_msg_state st;
    dx_msg_heartbeat hb;

    memset(&st, 0, sizeof st);
    st.id = 3;
    st.state = DX_WIRE_ONLINE;
    st.epoch = 1;
    assert_int_equal(dx_members_on_state(ms, 2, &st, T0, &chg), DX_EINVAL);
    memset(&hb, 0, sizeof hb);
    hb.id = 3;
    hb.epoch = 1;
    hb.seq = 1;
    assert_int_equal(dx_members_on_heartbeat(ms, 2, &hb, T0, &chg),
                     DX_EINVAL);
    assert_int_equal(ms->n, 0);
    assert_null(dx_members_get(ms, 2));
    assert_null(dx_members_get(ms, 3));
}

static void test_table_full(void **state)
{
    dx_members *ms = *state;

    for (unsigned id = 1; id <= DX_MAX_NODES; id++)
        assert_int_equal(birth(ms, (uint16_t)id, 1, T0), 1);
    assert_int_equal(ms->n, DX_MAX_NODES);
    assert_int_equal(birth(ms, DX_MAX_NODES + 1, 1, T0), DX_EFULL);
    assert_int_equal(will(ms, DX_MAX_NODES + 1, 1, T0), DX_EFULL);
    assert_int_equal(beat(ms, DX_MAX_NODES + 1, 1, 1, T0), DX_EFULL);
    /* Known nodes still work. */
    assert_int_equal(will(ms, DX_MAX_NODES, 1, T0 + 1), 1);
    assert_int_equal(dx_members_count_alive(ms), DX_MAX_NODES - 1);
    assert_int_equal(dx_members_highest_alive(ms), DX_MAX_NODES - 1);
}

/* ---- the heartbeat detector ---- */
static void test_timeout_boundary(void **state)
{
    dx_members *ms = *state;

    assert_int_equal(birth(ms, SELF, 1, T0), 1);
    assert_int_equal(birth(ms, 2, 5, T0), 1);
    assert_int_equal(beat(ms, 2, 5, 1, T0 + 200), 0);
    assert_int_equal(dx_members_get(ms, 2)->last_seen_ms, T0 + 200);
    assert_int_equal(tick(ms, T0 + 200 + TIMEOUT), 0);
    expect_member(ms, 2, DX_MEMBER_ONLINE, DX_WHY_NONE, 5);
    assert_int_equal(tick(ms, T0 + 200 + TIMEOUT + 1), 1);
    expect_change(2, DX_MEMBER_ONLINE, DX_MEMBER_FAILED, DX_WHY_TIMEOUT);
    assert_int_equal(chg.epoch, 5);
    expect_member(ms, 2, DX_MEMBER_FAILED, DX_WHY_TIMEOUT, 5);
    /* Once, and never self. */
    assert_int_equal(tick(ms, T0 + 10 * TIMEOUT), 0);
    assert_true(dx_members_is_alive(ms, SELF));
}

static void test_tick_respects_cap(void **state)
{
    dx_members *ms = *state;
    dx_member_change two[2];

    for (uint16_t id = 2; id <= 6; id++)
        assert_int_equal(birth(ms, id, 1, T0), 1);
    assert_int_equal(dx_members_tick(ms, T0 + TIMEOUT + 1, two, 2), 2);
    assert_int_equal(dx_members_tick(ms, T0 + TIMEOUT + 1, two, 2), 2);
    assert_int_equal(dx_members_tick(ms, T0 + TIMEOUT + 1, two, 2), 1);
    assert_int_equal(dx_members_count_alive(ms), 0);
}

static void test_heartbeat_after_timeout_revives(void **state)
{
    dx_members *ms = *state;

    assert_int_equal(birth(ms, 2, 5, T0), 1);
    assert_int_equal(beat(ms, 2, 5, 1, T0 + 100), 0);
    assert_int_equal(tick(ms, T0 + 100 + TIMEOUT + 1), 1);
    assert_int_equal(beat(ms, 2, 5, 2, T0 + 3000), 1);
    expect_change(2, DX_MEMBER_FAILED, DX_MEMBER_ONLINE, DX_WHY_NONE);
    assert_false(chg.rejoined);
    expect_member(ms, 2, DX_MEMBER_ONLINE, DX_WHY_NONE, 5);
    assert_int_equal(dx_members_get(ms, 2)->last_seen_ms, T0 + 3000);
    assert_int_equal(dx_members_get(ms, 2)->seq, 2);
    /* The detector restarts from that beat. */
    assert_int_equal(tick(ms, T0 + 3000 + TIMEOUT), 0);
    assert_int_equal(tick(ms, T0 + 3000 + TIMEOUT + 1), 1);
}

/* A beat already counted before the silence (a QoS 0 duplicate, or one
 * overtaken by a newer beat) says nothing about the node being alive now. */
static void test_stale_heartbeat_after_timeout_does_not_revive(void **state)
{
    dx_members *ms = *state;

    assert_int_equal(birth(ms, 2, 5, T0), 1);
    assert_int_equal(beat(ms, 2, 5, 7, T0 + 100), 0);
    assert_int_equal(tick(ms, T0 + 100 + TIMEOUT + 1), 1);
    assert_int_equal(beat(ms, 2, 5, 7, T0 + 2000), 0);   /* duplicate */
    assert_int_equal(beat(ms, 2, 5, 6, T0 + 2000), 0);   /* older */
    expect_member(ms, 2, DX_MEMBER_FAILED, DX_WHY_TIMEOUT, 5);
    assert_int_equal(dx_members_get(ms, 2)->seq, 7);
}

static void test_heartbeat_after_will_does_not_revive(void **state)
{
    dx_members *ms = *state;

    assert_int_equal(birth(ms, 2, 5, T0), 1);
    assert_int_equal(will(ms, 2, 5, T0 + 10), 1);
    assert_int_equal(beat(ms, 2, 5, 1, T0 + 20), 0);
    expect_member(ms, 2, DX_MEMBER_FAILED, DX_WHY_WILL, 5);
}

static void test_will_after_timeout_keeps_one_death(void **state)
{
    dx_members *ms = *state;

    assert_int_equal(birth(ms, 2, 5, T0), 1);
    assert_int_equal(tick(ms, T0 + TIMEOUT + 1), 1);
    /* The will confirms a crash: a better reason, not a second death. */
    assert_int_equal(will(ms, 2, 5, T0 + 2000), 0);
    expect_member(ms, 2, DX_MEMBER_FAILED, DX_WHY_WILL, 5);
    /* And now a beat of that epoch cannot bring it back. */
    assert_int_equal(beat(ms, 2, 5, 9, T0 + 2100), 0);
    expect_member(ms, 2, DX_MEMBER_FAILED, DX_WHY_WILL, 5);
}

static void test_heartbeat_newer_epoch_is_new_incarnation(void **state)
{
    dx_members *ms = *state;
    const dx_member *m;

    assert_int_equal(birth(ms, 2, 5, T0), 1);
    assert_int_equal(beat(ms, 2, 6, 1, T0 + 10), 1);
    expect_change(2, DX_MEMBER_ONLINE, DX_MEMBER_ONLINE, DX_WHY_NONE);
    assert_true(chg.rejoined);
    assert_int_equal(chg.epoch, 6);
    expect_member(ms, 2, DX_MEMBER_ONLINE, DX_WHY_NONE, 6);
    /* Its birth, arriving later, fills in the details quietly. */
    assert_int_equal(birth(ms, 2, 6, T0 + 20), 0);
    m = dx_members_get(ms, 2);
    assert_int_equal(m->pool_kb, 1030);
    assert_int_equal(m->seq, 1);
    /* From a dead epoch, a newer beat is a return, not a rejoin. */
    assert_int_equal(will(ms, 2, 6, T0 + 30), 1);
    assert_int_equal(beat(ms, 2, 7, 1, T0 + 40), 1);
    expect_change(2, DX_MEMBER_FAILED, DX_MEMBER_ONLINE, DX_WHY_NONE);
    assert_false(chg.rejoined);
}

static void test_heartbeat_of_unknown_node_adds_it(void **state)
{
    dx_members *ms = *state;

    assert_int_equal(beat(ms, 4, 2, 3, T0), 1);
    expect_change(4, DX_MEMBER_UNKNOWN, DX_MEMBER_ONLINE, DX_WHY_NONE);
    assert_false(chg.rejoined);
    expect_member(ms, 4, DX_MEMBER_ONLINE, DX_WHY_NONE, 2);
}

static void test_duplicate_heartbeat_is_no_change(void **state)
{
    dx_members *ms = *state;
    const dx_member *m;

    assert_int_equal(birth(ms, 2, 5, T0), 1);
    assert_int_equal(beat(ms, 2, 5, 3, T0 + 100), 0);
    assert_int_equal(beat(ms, 2, 5, 3, T0 + 150), 0);
    m = dx_members_get(ms, 2);
    assert_int_equal(m->seq, 3);
    assert_int_equal(m->last_seen_ms, T0 + 100);
    assert_true(m->has_load);
    assert_int_equal(m->load.cpu_pct, 3);
    assert_int_equal(m->term, 3);
}

static void test_reordered_heartbeats(void **state)
{
    dx_members *ms = *state;
    const dx_member *m;

    assert_int_equal(birth(ms, 2, 5, T0), 1);
    assert_int_equal(beat(ms, 2, 5, 5, T0 + 100), 0);
    assert_int_equal(beat(ms, 2, 5, 4, T0 + 110), 0);   /* overtaken */
    m = dx_members_get(ms, 2);
    assert_int_equal(m->seq, 5);
    assert_int_equal(m->last_seen_ms, T0 + 100);
    assert_int_equal(m->term, 5);     /* the older load is not applied */
    assert_int_equal(beat(ms, 2, 5, 6, T0 + 200), 0);
    assert_int_equal(m->seq, 6);
    assert_int_equal(m->last_seen_ms, T0 + 200);
    /* A beat of an older epoch is dropped whole. */
    assert_int_equal(birth(ms, 2, 6, T0 + 300), 1);
    assert_int_equal(beat(ms, 2, 5, 99, T0 + 310), 0);
    assert_int_equal(m->seq, 0);
    assert_int_equal(m->last_seen_ms, T0 + 300);
    assert_int_equal(m->term, 6);
}

/* ---- queries ---- */
static void test_highest_and_count_alive(void **state)
{
    dx_members *ms = *state;

    assert_int_equal(dx_members_highest_alive(ms), 0);
    assert_int_equal(dx_members_count_alive(ms), 0);
    assert_int_equal(birth(ms, 2, 1, T0), 1);
    assert_int_equal(birth(ms, 7, 1, T0), 1);
    assert_int_equal(birth(ms, 4, 1, T0), 1);
    assert_int_equal(dx_members_highest_alive(ms), 7);
    assert_int_equal(dx_members_count_alive(ms), 3);
    assert_int_equal(will(ms, 7, 1, T0 + 1), 1);
    assert_int_equal(dx_members_highest_alive(ms), 4);
    assert_int_equal(dx_members_count_alive(ms), 2);
    assert_int_equal(bye(ms, 4, 1, T0 + 2), 1);
    assert_int_equal(dx_members_highest_alive(ms), 2);
    assert_int_equal(dx_members_count_alive(ms), 1);
    assert_false(dx_members_is_alive(ms, 4));
    assert_false(dx_members_is_alive(ms, 9));
}

static void test_next_deadline(void **state)
{
    dx_members *ms = *state;

    assert_int_equal(dx_members_next_deadline(ms), INT64_MAX);
    assert_int_equal(birth(ms, SELF, 1, T0), 1);
    assert_int_equal(dx_members_next_deadline(ms), INT64_MAX);  /* self */
    assert_int_equal(birth(ms, 2, 1, T0 + 300), 1);
    assert_int_equal(birth(ms, 3, 1, T0 + 100), 1);
    assert_int_equal(dx_members_next_deadline(ms), T0 + 100 + TIMEOUT + 1);
    /* The deadline is exactly when tick fails the node. */
    assert_int_equal(tick(ms, T0 + 100 + TIMEOUT), 0);
    assert_int_equal(tick(ms, T0 + 100 + TIMEOUT + 1), 1);
    assert_int_equal(chg.id, 3);
    assert_int_equal(dx_members_next_deadline(ms), T0 + 300 + TIMEOUT + 1);
    assert_int_equal(beat(ms, 2, 1, 1, T0 + 900), 0);
    assert_int_equal(dx_members_next_deadline(ms), T0 + 900 + TIMEOUT + 1);
    assert_int_equal(will(ms, 2, 1, T0 + 950), 1);
    assert_int_equal(dx_members_next_deadline(ms), INT64_MAX);
}

static void test_grace_refreshes_last_seen(void **state)
{
    dx_members *ms = *state;

    assert_int_equal(birth(ms, 2, 1, T0), 1);
    assert_int_equal(birth(ms, 3, 1, T0), 1);
    assert_int_equal(will(ms, 3, 1, T0 + 1), 1);
    dx_members_grace(ms, T0 + 900);
    assert_int_equal(dx_members_get(ms, 2)->last_seen_ms, T0 + 900);
    assert_int_equal(dx_members_get(ms, 3)->state, DX_MEMBER_FAILED);
    assert_int_equal(dx_members_next_deadline(ms), T0 + 900 + TIMEOUT + 1);
    assert_int_equal(tick(ms, T0 + 1500), 0);
    assert_int_equal(tick(ms, T0 + 900 + TIMEOUT + 1), 1);
}

/* ---- flap damping ---- */
/* Makes node 2 change state once: dies when online, is born when not.
 * Returns the change. */
static dx_member_change flip(dx_members *ms, int64_t now)
{
    const dx_member *m = dx_members_get(ms, 2);
    if (m != NULL && m->state == DX_MEMBER_ONLINE)
        assert_int_equal(will(ms, 2, m->epoch, now), 1);
    else
        assert_int_equal(birth(ms, 2, m != NULL ? m->epoch + 1 : 1, now), 1);
    return chg;
}

static void test_flapping_sets_quiet_once(void **state)
{
    dx_members *ms = *state;
    dx_member_change c;
    int starts = 0;

    c = flip(ms, T0);                       /* the first birth: not a flap */
    assert_false(c.quiet);
    for (int i = 1; i <= DX_FLAP_LIMIT; i++) {
        c = flip(ms, T0 + 100 * i);
        assert_false(c.quiet);
        assert_false(c.flap_start);
    }
    assert_false(dx_members_get(ms, 2)->flapping);
    for (int i = DX_FLAP_LIMIT + 1; i <= DX_FLAP_LIMIT + 6; i++) {
        c = flip(ms, T0 + 100 * i);
        assert_true(c.quiet);
        starts += c.flap_start;
        assert_int_equal(c.flap_start, i == DX_FLAP_LIMIT + 1);
    }
    assert_int_equal(starts, 1);
    assert_true(dx_members_get(ms, 2)->flapping);
}

static void test_slow_changes_never_flap(void **state)
{
    dx_members *ms = *state;

    for (int i = 0; i < 3 * DX_FLAP_LIMIT; i++) {
        dx_member_change c = flip(ms, T0 + (int64_t)i * (DX_FLAP_WINDOW_MS + 1));
        assert_false(c.quiet);
        assert_false(c.flap_start);
    }
}

static void test_flapping_ends_after_a_stable_window(void **state)
{
    dx_members *ms = *state;
    int64_t t = T0;
    dx_member_change c;

    for (int i = 0; i <= DX_FLAP_LIMIT + 1; i++, t += 100)
        c = flip(ms, t);
    assert_true(c.quiet);
    t += DX_FLAP_WINDOW_MS + 1;              /* quiet for a whole window */
    c = flip(ms, t);
    assert_false(c.quiet);
    assert_false(c.flap_start);
    assert_false(dx_members_get(ms, 2)->flapping);
}

/* membership.h: "its changes are reported quietly until it has been stable
 * for a window".  A node that never stops flapping (a change every second
 * for a minute) must stay quiet after the first flap_start: it is never
 * stable for a window. */
static void test_continuous_flapping_stays_quiet(void **state)
{
    dx_members *ms = *state;
    int starts = 0, loud_after_start = 0;

    flip(ms, T0);
    for (int i = 1; i <= 60; i++) {
        dx_member_change c = flip(ms, T0 + 1000 * i);
        if (starts > 0 && !c.quiet)
            loud_after_start++;
        starts += c.flap_start;
    }
    assert_int_equal(starts, 1);
    assert_int_equal(loud_after_start, 0);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(dx_member_state_name(DX_MEMBER_ONLINE), "online");
    assert_string_equal(dx_member_state_name(DX_MEMBER_FAILED), "failed");
    assert_string_equal(dx_member_state_name(DX_MEMBER_OFFLINE), "offline");
    assert_string_equal(dx_member_state_name(DX_MEMBER_UNKNOWN), "unknown");
    assert_string_equal(dx_member_why_name(DX_WHY_WILL), "will");
    assert_string_equal(dx_member_why_name(DX_WHY_TIMEOUT), "timeout");
    assert_string_equal(dx_member_why_name(DX_WHY_SHUTDOWN), "shutdown");
    assert_string_equal(dx_member_why_name(DX_WHY_NONE), "");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_birth_makes_online),
        T(test_will_same_epoch_fails),
        T(test_late_will_is_ignored),
        T(test_old_birth_is_ignored),
        T(test_duplicate_birth_is_no_change),
        T(test_graceful_shutdown),
        T(test_id_mismatch_is_einval),
        T(test_table_full),
        T(test_timeout_boundary),
        T(test_tick_respects_cap),
        T(test_heartbeat_after_timeout_revives),
        T(test_stale_heartbeat_after_timeout_does_not_revive),
        T(test_heartbeat_after_will_does_not_revive),
        T(test_will_after_timeout_keeps_one_death),
        T(test_heartbeat_newer_epoch_is_new_incarnation),
        T(test_heartbeat_of_unknown_node_adds_it),
        T(test_duplicate_heartbeat_is_no_change),
        T(test_reordered_heartbeats),
        T(test_highest_and_count_alive),
        T(test_next_deadline),
        T(test_grace_refreshes_last_seen),
        T(test_flapping_sets_quiet_once),
        T(test_slow_changes_never_flap),
        T(test_flapping_ends_after_a_stable_window),
        T(test_continuous_flapping_stays_quiet),
        T(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
