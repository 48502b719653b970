/*
 * harness.h - the integration-test harness: a real broker, real processes.
 *
 * Every integration test and benchmark runs in a "harness" (dxh): a fresh
 * temporary working directory, one Mosquitto broker started from a copy of
 * broker-config/dev.conf on a free loopback port, any number of child
 * processes (agents, the CLI, mosquitto_sub), and MQTT observers that record
 * every message they see so a test can wait for one with a predicate.
 * Mosquitto's own test suite and Redis's start_server work the same way.
 *
 * Cleanup is guaranteed, even when the test fails or dies: every child runs
 * in its own process group with PR_SET_PDEATHSIG(SIGKILL), so it dies with
 * the test even on kill -9; an exit hook and handlers for SIGABRT, SIGSEGV,
 * SIGTERM, SIGINT and a SIGALRM watchdog kill the children.  A failed test
 * prints the last 80 lines of every child's log and keeps its directory;
 * a passed one removes it.
 *
 * Verdict: a harness counts as passed only if dxh_pass() was called and
 * dxh_fail() was not.  With cmocka, end each test body with dxh_pass(h):
 * a failed assertion longjmps past it, and the teardown's dxh_destroy() then
 * knows.  A harness still alive at exit is judged by the exit status instead
 * (non-zero, or dxh_fail() called, means failed).
 *
 * Limits: Linux only (prctl, /proc).  Not thread-safe: create, spawn and
 * destroy from one thread, and that thread must outlive the children
 * (PR_SET_PDEATHSIG fires when the spawning *thread* exits).  Observers are
 * thread-safe.  Error codes are the project's negative DX_E... values.
 *
 * Topics: the harness itself publishes only under "dxh/" (will-client
 * readiness markers, and QoS 1 "dxh/kick" messages that wake Paho's
 * receive thread); a test subscribed to "#" will see them.
 *
 * Environment: DX_BROKER_CONF (template config), DX_AGENT and DX_CLI
 * (programs under test, set by ctest), DXH_KEEP=1 (keep the directory even
 * on success), DXH_WATCHDOG_S (seconds before the watchdog aborts the
 * process, default 290, 0 disables), DXH_VERBOSE=1 (progress on stderr).
 */
#ifndef DX_HARNESS_H
#define DX_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dx_err.h"

typedef struct dxh dxh;           /* one test's world */
typedef struct dxh_proc dxh_proc; /* a child process, owned by its dxh */
typedef struct dxh_obs dxh_obs;   /* an MQTT observer */

/* ---- the harness ------------------------------------------------------ */

/* Creates a harness with a fresh directory $TMPDIR/dxh-NAME-XXXXXX (or
 * /tmp/...) and installs the cleanup hooks; returns NULL on failure.
 * The caller owns the result and releases it with dxh_destroy(). */
dxh *dxh_create(const char *name);

/* Marks the test as passed (call it last in the test body). */
void dxh_pass(dxh *h);

/* Marks the test as failed, whatever else happens. */
void dxh_fail(dxh *h);

/* Stops every observer and process (SIGTERM, SIGKILL after 2 s, the broker
 * last); on failure prints the log tails and keeps the directory, else
 * removes it; frees h and everything it owns.  NULL is a no-op. */
void dxh_destroy(dxh *h);

/* The working directory (owned by h, valid until dxh_destroy). */
const char *dxh_workdir(const dxh *h);

/* Writes WORKDIR/<printf(fmt, ...)> into buf; returns 0 or DX_ENOSPACE. */
int dxh_path(const dxh *h, char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- the broker ------------------------------------------------------- */

/* Writes WORKDIR/broker.conf from the template (conf, else $DX_BROKER_CONF,
 * else the source tree's broker-config/dev.conf) with a free port and
 * WORKDIR/broker-db/ as persistence_location, starts mosquitto with its
 * output in WORKDIR/broker.log, and returns 0 once it accepts TCP
 * connections (retrying with another port if the port was taken). */
int dxh_broker_start(dxh *h, const char *conf);

/* Stops the broker with SIGTERM (it saves its database), SIGKILL after
 * grace_ms; returns 0 or a DX_E... code. */
int dxh_broker_stop(dxh *h, int grace_ms);

/* Kills the broker with SIGKILL (a crash: no clean save) and reaps it. */
int dxh_broker_kill(dxh *h);

/* Starts the broker again on the same port with the same database, after a
 * stop or kill; returns 0 once it accepts connections and every observer
 * owned by h has reconnected and resubscribed. */
int dxh_broker_restart(dxh *h);

/* Whether the broker process is alive (it may be stopped by SIGSTOP). */
bool dxh_broker_is_running(dxh *h);

/* The broker's process (for SIGSTOP/SIGCONT), or NULL if never started. */
dxh_proc *dxh_broker_proc(const dxh *h);

/* The broker's port, 0 before dxh_broker_start. */
int dxh_broker_port(const dxh *h);

/* "tcp://127.0.0.1:PORT" (owned by h). */
const char *dxh_broker_url(const dxh *h);

/* ---- processes -------------------------------------------------------- */

/* Starts argv[0] (a path, or a name looked up on PATH, /usr/sbin, /sbin)
 * with argv, stdin from /dev/null and stdout+stderr appended to log_path
 * (NULL: WORKDIR/<name>.log), in its own process group.  Returns the
 * process, owned by h, or NULL if the program could not be executed. */
dxh_proc *dxh_spawn(dxh *h, const char *name, const char *const argv[],
                    const char *log_path);

/* The process id (also its process group id). */
pid_t dxh_proc_pid(const dxh_proc *p);

/* The log file path (owned by h). */
const char *dxh_proc_log(const dxh_proc *p);

/* Sends sig (SIGKILL, SIGSTOP, SIGCONT, SIGTERM, ...) to the process
 * group; returns 0, or DX_ESTATE if the process was already reaped. */
int dxh_proc_signal(dxh_proc *p, int sig);

/* Waits up to timeout_ms (< 0: forever) for the process to exit; on 0 sets
 * *status (may be NULL) shell-style: the exit code, or 128 + the signal.
 * Returns DX_ETIMEOUT if it is still running. */
int dxh_proc_wait(dxh_proc *p, int timeout_ms, int *status);

/* SIGTERM (and SIGCONT, in case it is stopped), then SIGKILL after
 * grace_ms; reaps it and sets *status as dxh_proc_wait does. */
int dxh_proc_stop(dxh_proc *p, int grace_ms, int *status);

/* Whether the process has not exited yet (reaps it if it has). */
bool dxh_proc_is_running(dxh_proc *p);

/* ---- agents ----------------------------------------------------------- */

/* $DX_AGENT and $DX_CLI, or NULL when unset. */
const char *dxh_agent_bin(void);
const char *dxh_cli_bin(void);

/* Builds {bin, "--id", N, "--broker", URL, "--data-dir", WORKDIR/nodeN,
 * "--cluster", "test", extra..., NULL}; bin NULL means $DX_AGENT, extra may
 * be NULL.  The caller frees the result with dxh_argv_free(). */
char **dxh_agent_argv(const dxh *h, const char *bin, int id,
                      const char *const extra[]);

/* Frees an argv from dxh_agent_argv(); NULL is a no-op. */
void dxh_argv_free(char **argv);

/* Creates WORKDIR/nodeN and starts the agent with dxh_agent_argv(), its
 * output appended to WORKDIR/nodeN.log (so a restarted agent continues the
 * same log).  Returns the process (owned by h) or NULL. */
dxh_proc *dxh_agent_start(dxh *h, const char *bin, int id,
                          const char *const extra[]);

/* Starts agents 1..n with the same extra args; 0 or the first error. */
int dxh_agents_start(dxh *h, const char *bin, int n,
                     const char *const extra[]);

/* The most recently started process of agent id, or NULL. */
dxh_proc *dxh_agent(const dxh *h, int id);

/* ---- commands --------------------------------------------------------- */

/* Runs argv to completion with a timeout, capturing its stdout into *out
 * (malloc'd, NUL-terminated, the caller frees it; out may be NULL) and
 * appending its stderr to WORKDIR/run.log (h may be NULL: stderr is
 * inherited).  Returns 0 with *exit_code set shell-style, or DX_ETIMEOUT
 * (the process group was killed; *out holds what it printed so far). */
int dxh_run(dxh *h, const char *const argv[], int timeout_ms, char **out,
            size_t *out_len, int *exit_code);

/* dxh_run() with the arguments listed after prog (at most 62), ending
 * with NULL. */
int dxh_runl(dxh *h, int timeout_ms, char **out, int *exit_code,
             const char *prog, ...) __attribute__((sentinel));

/* ---- time ------------------------------------------------------------- */

/* The whole file as a malloc'd NUL-terminated string (the caller frees
 * it), or NULL. */
char *dxh_read_file(const char *path);

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t dxh_now_ns(void);

/* Sleeps ms milliseconds (restarting after signals). */
void dxh_sleep_ms(int ms);

/* Calls cond(ctx) every poll_ms until it returns true (returns 0) or
 * timeout_ms passes (returns DX_ETIMEOUT). */
int dxh_wait_until(bool (*cond)(void *ctx), void *ctx, int timeout_ms,
                   int poll_ms);

/* ---- MQTT observer ---------------------------------------------------- */

/* One recorded message.  Owned by its observer: valid until
 * dxh_obs_clear() or dxh_obs_destroy(). */
typedef struct dxh_msg {
    const char *topic;   /* NUL-terminated */
    const char *payload; /* a copy, with a NUL after payload_len bytes */
    size_t payload_len;
    int qos;
    bool retained;  /* delivered as a retained message */
    int64_t t_ns;   /* receive time, CLOCK_MONOTONIC */
    uint64_t seq;   /* 0, 1, 2... in arrival order, never reset */
} dxh_msg;

typedef struct dxh_obs_opts {
    const char *url;          /* NULL: the harness broker */
    const char *client_id;    /* NULL: unique "dxh-obs-PID-N" */
    const char *will_topic;   /* NULL: no will */
    const char *will_payload; /* NULL: empty */
    int will_qos;
    bool will_retain;
    int keepalive_s;          /* 0: 10 s */
} dxh_obs_opts;

/* Connects an observer (MQTT 3.1.1, clean session); opts may be NULL.
 * After a lost connection it reconnects, and resubscribes, when
 * dxh_obs_wait_connected() is called (dxh_broker_restart() does it for the
 * observers h owns); until then it records nothing.  With h the observer is
 * owned by h (dxh_destroy frees it); with h NULL, opts->url is required and
 * the caller owns it.  NULL on failure. */
dxh_obs *dxh_obs_new(dxh *h, const dxh_obs_opts *opts);

/* Disconnects and frees the observer and its messages; NULL is a no-op. */
void dxh_obs_destroy(dxh_obs *o);

/* The observer's client id (owned by o). */
const char *dxh_obs_client_id(const dxh_obs *o);

/* Subscribes to filter at QoS 1 and waits for the SUBACK (5 s); the filter
 * is kept and resubscribed after every reconnect. */
int dxh_obs_subscribe(dxh_obs *o, const char *filter);

/* Whether the client is connected now. */
bool dxh_obs_is_connected(dxh_obs *o);

/* Reconnects if needed (retrying every 50 ms while the broker refuses) and
 * waits until connected and resubscribed; 0 or DX_ETIMEOUT. */
int dxh_obs_wait_connected(dxh_obs *o, int timeout_ms);

/* Publishes and waits for completion (PUBACK for QoS 1, 5 s); len 0 with
 * retain clears a retained message.  Returns 0 or a DX_E... code. */
int dxh_obs_publish(dxh_obs *o, const char *topic, const void *payload,
                    size_t len, int qos, bool retain);

/* dxh_obs_publish() of a NUL-terminated string. */
int dxh_obs_publish_str(dxh_obs *o, const char *topic, const char *payload,
                        int qos, bool retain);

/* A predicate over a recorded message; called without the observer's lock
 * (it may call the count and payload helpers). */
typedef bool (*dxh_pred)(const dxh_msg *m, void *ctx);

/* Blocks until a message recorded since the last clear satisfies pred (it
 * is checked against each message once, in order) or timeout_ms passes.
 * Returns the message (owned by o) or NULL on timeout. */
const dxh_msg *dxh_obs_wait_for(dxh_obs *o, dxh_pred pred, void *ctx,
                                int timeout_ms);

/* As dxh_obs_wait_for(), considering only messages with seq >= from
 * (from a dxh_obs_mark() taken before acting). */
const dxh_msg *dxh_obs_wait_for_from(dxh_obs *o, uint64_t from,
                                     dxh_pred pred, void *ctx,
                                     int timeout_ms);

/* The seq the next message will get: a mark for dxh_obs_wait_for_from(). */
uint64_t dxh_obs_mark(dxh_obs *o);

/* Messages recorded since the last clear whose topic matches filter
 * (an MQTT filter; a plain topic matches itself). */
size_t dxh_obs_count(dxh_obs *o, const char *filter);

/* Waits until dxh_obs_count(o, filter) >= n; 0 or DX_ETIMEOUT. */
int dxh_obs_wait_count(dxh_obs *o, const char *filter, size_t n,
                       int timeout_ms);

/* A copy of the payload of the last message matching filter (malloc'd,
 * NUL-terminated, the caller frees it), or NULL if there is none. */
char *dxh_obs_last_payload(dxh_obs *o, const char *filter);

/* Forgets every recorded message (invalidates dxh_msg pointers). */
void dxh_obs_clear(dxh_obs *o);

/* A ready-made predicate: ctx is a dxh_match. */
typedef struct dxh_match {
    const char *filter;   /* MQTT filter the topic must match; NULL: any */
    const char *contains; /* substring of the payload; NULL: any */
    int retained;         /* 1 retained only, 0 live only, -1 either */
} dxh_match;
bool dxh_pred_match(const dxh_msg *m, void *ctx);

/* Whether topic matches the MQTT filter (with + and #). */
bool dxh_topic_matches(const char *filter, const char *topic);

/* ---- the raw will baseline ------------------------------------------- */

/* Starts `mosquitto_sub` as client_id with a will (topic, payload, QoS 1,
 * retained or not) and returns once the broker has surely registered it:
 * obs publishes a retained marker the client subscribes to, and the client
 * printing it proves CONNECT and SUBSCRIBE were processed.  The process is
 * owned by h; NULL on failure or after timeout_ms. */
dxh_proc *dxh_will_client_start(dxh *h, dxh_obs *obs, const char *client_id,
                                const char *will_topic,
                                const char *will_payload, bool will_retain,
                                int timeout_ms);

/* Kills the will client with SIGKILL and measures the time until obs (which
 * must be subscribed to will_topic) records a message on will_topic; sets
 * *ms and returns 0, or DX_ETIMEOUT. */
int dxh_will_measure(dxh *h, dxh_obs *obs, dxh_proc *client,
                     const char *will_topic, int timeout_ms, double *ms);

#endif
