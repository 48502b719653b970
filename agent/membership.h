/*
 * membership.h - who is alive, as this node sees it.
 *
 * A pure state machine fed with births, wills, heartbeats and the time on
 * the receiver's monotonic clock (milliseconds).  A node is ONLINE after a
 * birth or a fresh heartbeat, FAILED on its will (the broker saw the socket
 * drop: a crash, detected in milliseconds) or when no heartbeat arrived for
 * timeout_ms (a hang or a partition), and OFFLINE after a graceful shutdown.
 *
 * Epochs fence stale news: a node raises its epoch on every connection and
 * its birth and will carry the same value, so a death or heartbeat from an
 * epoch older than the newest birth is ignored (a will can arrive after the
 * next birth).  Flapping is damped: after DX_FLAP_LIMIT changes inside
 * DX_FLAP_WINDOW_MS a node is marked flapping and its changes are reported
 * quietly until it has been stable for a window.
 *
 * Cost: a table of up to DX_MAX_NODES entries, looked up linearly (a plant
 * cluster has dozens of nodes); tick is O(n).  No allocation, no I/O.
 */
#ifndef DX_MEMBERSHIP_H
#define DX_MEMBERSHIP_H

#include <stdbool.h>
#include <stdint.h>

#include "dx_msg.h"

#define DX_MAX_NODES 256
#define DX_FLAP_LIMIT 4
#define DX_FLAP_WINDOW_MS 10000

typedef enum {
    DX_MEMBER_UNKNOWN = 0,
    DX_MEMBER_ONLINE,
    DX_MEMBER_FAILED,
    DX_MEMBER_OFFLINE
} dx_member_state;

/* Which detector fired. */
typedef enum {
    DX_WHY_NONE = 0,
    DX_WHY_WILL,      /* the broker published the node's will */
    DX_WHY_TIMEOUT,   /* no heartbeat for timeout_ms */
    DX_WHY_SHUTDOWN   /* the node said goodbye */
} dx_member_why;

typedef struct dx_member {
    uint16_t id;
    dx_member_state state;
    dx_member_why why;
    bool flapping;
    char name[DX_NAME_MAX + 1];
    uint64_t epoch;            /* newest epoch seen */
    uint64_t seq;              /* last heartbeat sequence */
    int64_t last_seen_ms;      /* receiver clock: last birth or heartbeat */
    int64_t since_ms;          /* receiver clock: last state change */
    uint32_t heartbeat_ms;     /* the node's own period, from its birth */
    uint64_t pool_kb;
    bool has_load;
    dx_load load;              /* from the last heartbeat */
    bool draining;             /* from the last heartbeat */
    uint32_t workers;          /* from the last heartbeat, 0 = unknown */
    uint64_t rejected;
    uint16_t leader;           /* whom it follows, from its heartbeat */
    uint64_t term;
    size_t n_devices;
    char devices[DX_DEVICES_MAX][DX_NAME_MAX + 1];
    int64_t flap_window_ms;    /* start of the current flap window */
    uint32_t flaps;            /* changes inside it */
} dx_member;

/* A state change, as reported to the rest of the core. */
typedef struct dx_member_change {
    uint16_t id;
    dx_member_state from, to;
    dx_member_why why;
    uint64_t epoch;
    bool rejoined;    /* ONLINE -> ONLINE with a new epoch (missed death) */
    bool quiet;       /* flapping: act on it, but do not announce it */
    bool flap_start;  /* this change made the node flapping */
} dx_member_change;

typedef struct dx_members {
    uint16_t self;
    int64_t timeout_ms;
    size_t n;
    dx_member m[DX_MAX_NODES];
} dx_members;

/* Starts an empty table for node `self` with the given heartbeat timeout. */
void dx_members_init(dx_members *ms, uint16_t self, int64_t timeout_ms);

/* The entry for id, or NULL. */
const dx_member *dx_members_get(const dx_members *ms, uint16_t id);

/* True when id is known and ONLINE (self counts when its entry is online). */
bool dx_members_is_alive(const dx_members *ms, uint16_t id);

/* The highest id that is ONLINE, 0 when none. */
uint16_t dx_members_highest_alive(const dx_members *ms);

/* Number of ONLINE nodes. */
size_t dx_members_count_alive(const dx_members *ms);

/*
 * Applies a birth or death (the node's retained state topic).  Returns 1 and
 * fills *chg when the node's state changed, 0 when it did not (duplicate or
 * stale), DX_EFULL when the table is full, DX_EINVAL when the id in the
 * payload does not match the topic's.
 */
int dx_members_on_state(dx_members *ms, uint16_t topic_id,
                        const dx_msg_state *st, int64_t now,
                        dx_member_change *chg);

/* Applies a heartbeat; same returns as dx_members_on_state (a heartbeat
 * brings a node timed out in the same epoch back, or announces a newer
 * epoch whose birth has not arrived yet). */
int dx_members_on_heartbeat(dx_members *ms, uint16_t topic_id,
                            const dx_msg_heartbeat *hb, int64_t now,
                            dx_member_change *chg);

/*
 * Fails every ONLINE node (self excluded) whose last heartbeat is older
 * than timeout_ms.  Writes up to cap changes and returns how many.
 */
size_t dx_members_tick(dx_members *ms, int64_t now, dx_member_change *chg,
                       size_t cap);

/* The next time tick could fail a node, or INT64_MAX when none can. */
int64_t dx_members_next_deadline(const dx_members *ms);

/*
 * Gives every ONLINE node a fresh last-seen time.  Called when this node
 * itself was stalled (its loop did not run for a long time), so that its
 * own pause is not mistaken for everyone else's silence.
 */
void dx_members_grace(dx_members *ms, int64_t now);

/* Names for logs and status: "online", "failed", "offline", "unknown";
 * "will", "timeout", "shutdown", "". */
const char *dx_member_state_name(dx_member_state s);
const char *dx_member_why_name(dx_member_why w);

#endif
