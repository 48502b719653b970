/*
 * election.h - Bully leader election with terms.
 *
 * The highest alive node id leads.  A node that finds no live leader, or a
 * leader with a lower id than its own, starts an election: when its
 * membership view holds no live higher node it declares itself coordinator
 * at once (this is what makes failover take milliseconds); otherwise it
 * sends ELECTION and waits answer_ms for an ANSWER from a higher node, and
 * after an answer waits coord_ms for that node's COORDINATOR before trying
 * again.  A node that receives ELECTION from a lower id answers and runs its
 * own election.  A COORDINATOR from a lower id than a live self is bullied:
 * this node takes over with a newer term.
 *
 * Every leadership has a term, one higher than any term the new leader has
 * seen.  Nodes follow the highest term; a coordinator or retained leader
 * message from a lower term is ignored, which fences off a stale leader (one
 * that was hung and wakes up): it sees the newer term and steps down.  Two
 * coordinators in one term (two candidates that raced) are settled by id.
 * The leader re-asserts its retained leader message whenever it sees it
 * overwritten by a stale or empty value.
 *
 * Elections that membership changes trigger are debounced with jitter, so
 * a broker restart, which makes every node see every other leave and come
 * back, does not start a storm.  Pure: time comes in as an argument, and
 * what to send comes out in a dx_elect_fx.  No allocation, no I/O.
 */
#ifndef DX_ELECTION_H
#define DX_ELECTION_H

#include <stdbool.h>
#include <stdint.h>

#include "dx_msg.h"
#include "membership.h"

typedef enum {
    DX_ROLE_FOLLOWER = 0,
    DX_ROLE_CANDIDATE,
    DX_ROLE_LEADER
} dx_role;

typedef struct dx_elect_cfg {
    int64_t answer_ms;   /* candidate waits this long for an ANSWER */
    int64_t coord_ms;    /* then this long for the COORDINATOR */
    int64_t settle_ms;   /* after (re)connecting, gather retained state */
    int64_t jitter_ms;   /* random extra delay for debounced elections */
    uint32_t seed;       /* for the jitter; any value */
} dx_elect_cfg;

typedef struct dx_election {
    uint16_t self;
    uint64_t epoch;
    dx_elect_cfg cfg;
    bool ready;          /* connected and settled: may lead */
    dx_role role;
    uint16_t leader;     /* followed (or own) leader, 0 = none */
    uint64_t term;       /* its term */
    uint64_t max_term;   /* the highest term seen anywhere */
    int64_t start_at;    /* a scheduled election, 0 = none */
    int64_t ready_at;    /* when settling ends, 0 = not settling */
    int64_t deadline;    /* candidate: end of the current wait */
    bool answered;       /* candidate: a higher node answered */
    uint32_t rng;
} dx_election;

/* What the caller must do after a call, in this order. */
typedef struct dx_elect_fx {
    size_t n_send;
    dx_msg_election send[4];  /* to publish on {root}/election */
    bool publish_leader;      /* publish retained {leader: self, term} */
    bool election_started;    /* announce "election started" */
    bool leader_changed;      /* the followed leader or term changed */
    bool stepped_down;        /* this node was leader and no longer is */
} dx_elect_fx;

/* Initialises a follower with no leader. */
void dx_elect_init(dx_election *e, uint16_t self, const dx_elect_cfg *cfg);

/* The node (re)connected with a new epoch: settle for cfg.settle_ms, then
 * elect if there is no live leader or only a lower one. */
void dx_elect_on_connected(dx_election *e, uint64_t epoch, int64_t now);

/* The node lost its broker connection: it cannot lead until settled again. */
void dx_elect_on_disconnected(dx_election *e);

/* A membership change; elects when the leader is gone. */
void dx_elect_on_member(dx_election *e, const dx_members *ms,
                        const dx_member_change *chg, int64_t now,
                        dx_elect_fx *fx);

/* A message from {root}/election. */
void dx_elect_on_message(dx_election *e, const dx_members *ms,
                         const dx_msg_election *msg, int64_t now,
                         dx_elect_fx *fx);

/* The retained {root}/leader message; msg NULL when it was cleared. */
void dx_elect_on_leader(dx_election *e, const dx_members *ms,
                        const dx_msg_leader *msg, int64_t now,
                        dx_elect_fx *fx);

/* A peer's heartbeat says it follows (leader, term): a newer term with a
 * live leader is adopted, which fences a node that missed the coordinator. */
void dx_elect_on_hint(dx_election *e, const dx_members *ms, uint16_t leader,
                      uint64_t term, int64_t now, dx_elect_fx *fx);

/* Runs due timers. */
void dx_elect_tick(dx_election *e, const dx_members *ms, int64_t now,
                   dx_elect_fx *fx);

/* The next time tick has work, INT64_MAX when none. */
int64_t dx_elect_next_deadline(const dx_election *e);

/* True when this node currently leads. */
bool dx_elect_is_leader(const dx_election *e);

const char *dx_role_name(dx_role r);

#endif
