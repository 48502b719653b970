/*
 * core.h - one agent's cluster logic, without any I/O.
 *
 * The core owns membership and election (and, as they arrive, the
 * scheduler, tasks and dfs modules).  The event loop feeds it what happened
 * -- the connection came up or went down, a message arrived, time passed --
 * together with the time (a monotonic clock for durations, the wall clock
 * only to stamp records people read), and after each call carries out the
 * actions in core->out: publish, log, fail, hang, recover.
 *
 * Because nothing here reads a clock or touches a socket, a whole cluster
 * of cores can run in one process over a simulated broker (the unit tests
 * do), and every decision can be replayed.
 */
#ifndef DX_CORE_H
#define DX_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "dfs.h"
#include "dx_msg.h"
#include "dx_topic.h"
#include "election.h"
#include "exec.h"
#include "membership.h"
#include "mempool.h"
#include "outbox.h"
#include "scheduler.h"
#include "tasks.h"

#define DX_SUBS_MAX 40
#define DX_DIRECT_MAX 8           /* actuator commands in flight */
#define DX_TASK_TTL_DEFAULT_MS 300000
#define DX_BATCH_MS 2             /* min. gap between batches of assign items,
                                     replica records, reports */
#define DX_ACK_DELAY_MS 20        /* acks wait this long for a "run" */

typedef struct dx_core_cfg {
    uint16_t id;
    char name[DX_NAME_MAX + 1];
    dx_topics topics;
    int64_t heartbeat_ms;
    int64_t timeout_ms;
    uint64_t pool_kb;
    size_t n_devices;
    char devices[DX_DEVICES_MAX][DX_NAME_MAX + 1];
    bool actuator[DX_DEVICES_MAX];  /* devices[i] is an actuator (else a sensor) */
    uint32_t seed;
    uint32_t workers;               /* task worker threads */
    int64_t task_ttl_ms;            /* finished records are cleared after */
    /* The task memory pool: the shell's memory, managed by the core.  NULL
     * for no pool (tasks that declare memory then fail). */
    void *pool_mem;
    size_t pool_bytes;
    void *pool_meta;                /* zero-filled, dx_pool_meta_size() */
    size_t pool_meta_bytes;
    /* The distributed file system (self and topics are set by the core).
     * dfs_enabled false: this agent neither stores nor leads the DFS. */
    bool dfs_enabled;
    dx_dfs_cfg dfs;
    int64_t scrub_every_ms;         /* periodic scrub, 0 = on request */
} dx_core_cfg;

/* An actuator command that came on .../actuators/{name}/set. */
typedef struct dx_direct {
    bool used;
    char device[DX_NAME_MAX + 1];
    double value;
    char reply_to[DX_TOPIC_MAX + 1];
    char corr[DX_CORR_MAX + 1];
} dx_direct;

typedef struct dx_core {
    dx_core_cfg cfg;
    dx_members members;
    dx_election elect;
    bool connected;
    uint64_t epoch;
    uint64_t hb_seq;
    int64_t next_hb_ms;
    int64_t last_tick_ms;      /* to notice our own stalls */
    dx_load load;              /* latest local load, set by the shell */
    uint64_t rejected;         /* malformed or invalid messages dropped */
    bool members_dirty;        /* leader: republish {root}/members */
    dx_msg_members view;       /* scratch for publishing {root}/members */
    /* tasks */
    dx_pool pool;
    bool has_pool;
    bool draining;
    bool leading;              /* subscribed to the leader's topics */
    dx_exec exec;              /* what this node runs */
    dx_tasks tasks;            /* the cluster's tasks (leader or replica) */
    size_t n_sn;
    dx_sched_node sn[DX_MAX_NODES];
    uint64_t sn_seq[DX_MAX_NODES];  /* heartbeat seq behind sn[i] */
    dx_direct direct[DX_DIRECT_MAX];
    uint64_t readings;         /* sensor readings published */
    dx_msg_assign scratch_assign;
    dx_msg_report scratch_report;
    dx_task_record scratch_rec;
    dx_task_spec scratch_spec;
    dx_msg_replica scratch_repl;  /* leader: the batch; follower: decoded */
    size_t repl_bytes;         /* bound of the batch's JSON so far */
    int64_t assign_at[DX_MAX_NODES];  /* leader: items to sn[k] go from */
    int64_t ack_since[DX_MAX_NODES];  /* ... its oldest ack-only wait */
    int64_t items_due;         /* leader: the earliest of those, pending */
    int64_t replica_at;        /* leader: the replica batch goes from */
    int64_t report_at;         /* this node's reports go from then */
    /* distributed file system (NULL when disabled) */
    dx_dfs *dfs;
    size_t n_dn;
    dx_dfs_node dn[DX_MAX_NODES];
    dx_dfs_file *scratch_file;       /* large: allocated with the module */
    dx_dfs_reply *scratch_dreply;
    int64_t next_scrub_ms;
    dx_outbox out;
} dx_core;

/* Initialises a core.  Large: allocate it (calloc) rather than on a stack.
 * Release what it allocates with dx_core_fini. */
void dx_core_init(dx_core *c, const dx_core_cfg *cfg);
void dx_core_fini(dx_core *c);

/* Writes the subscription filters the core needs into subs; returns how
 * many.  The shell subscribes to all of them on every connect, each at
 * dx_core_subscription_qos. */
size_t dx_core_subscriptions(const dx_core *c,
                             char subs[][DX_TOPIC_MAX + 1], size_t cap);

/* The QoS to subscribe to one of those filters with: 1, or 0 for
 * {root}/tasks/submit. */
int dx_core_subscription_qos(const dx_core *c, const char *filter);

/* The will to register for a connection with `epoch`: the retained state
 * topic and an "offline" payload with reason "crash". */
int dx_core_will(const dx_core *c, uint64_t epoch, char *topic, size_t tcap,
                 char *payload, size_t pcap, size_t *plen);

/* The connection is up with a fresh epoch: publishes the birth. */
void dx_core_on_connected(dx_core *c, uint64_t epoch, int64_t now,
                          int64_t wall);

/* The connection is down. */
void dx_core_on_disconnected(dx_core *c, int64_t now);

/* A message arrived.  Invalid input is counted and dropped, never acted on. */
void dx_core_on_message(dx_core *c, const char *topic, size_t tlen,
                        const char *payload, size_t plen, bool retained,
                        int64_t now, int64_t wall);

/* Time passed: heartbeats, failure detection, election timers. */
void dx_core_tick(dx_core *c, int64_t now, int64_t wall);

/* When the next tick is due (monotonic ms). */
int64_t dx_core_next_deadline(const dx_core *c);

/* The shell's latest reading of CPU and disk (the rest of the load report
 * comes from the core's own pool and queue). */
void dx_core_set_load(dx_core *c, const dx_load *load);

/*
 * A worker finished the job of `slot` (see DX_ACT_JOB): rc 0, DX_ESTATE
 * when cancelled, or an error; text is the result or the error, value and
 * seq the reading (sensor.read).
 */
void dx_core_on_job_done(dx_core *c, uint32_t slot, int rc, const char *text,
                         double value, uint64_t seq, int64_t now,
                         int64_t wall);

/*
 * The disk thread finished a DFS_WRITE (read false) or a DFS_READ that
 * failed (read true; topic: the read's, where its bytes were to go) of
 * chunk key/index/crc with rc (0 or DX_E...).
 */
void dx_core_on_store(dx_core *c, bool read, const char *key, uint32_t index,
                      uint32_t crc, int rc, const char *topic, int64_t now,
                      int64_t wall);

/* A scrub found local chunk key/index/crc (ok: its bytes match), last
 * modified age_ms ago; dx_core_on_scrub_done ends the scrub. */
void dx_core_on_scrub_item(dx_core *c, const char *key, uint32_t index,
                           uint32_t crc, bool ok, int64_t age_ms, int64_t now,
                           int64_t wall);
void dx_core_on_scrub_done(dx_core *c, uint64_t chunks, uint64_t bad,
                           int64_t now, int64_t wall);

/* A graceful exit: publishes the retained "offline" state. */
void dx_core_shutdown(dx_core *c, int64_t wall);

#endif
