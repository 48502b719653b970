/*
 * test_harness.c - the integration harness tested against mosquitto alone.
 *
 * Before any agent test can be trusted, the harness must be: this program
 * starts real brokers (no agents), crashes and restarts them, checks that a
 * retained message survives the crash through the persistence the shipped
 * dev.conf configures, drives child processes through signals, captures a
 * command's output with a timeout, times a raw MQTT will (the benchmark's
 * baseline), and proves the cleanup guarantee by letting a forked copy of
 * the test abort, exit non-zero or be killed with SIGKILL, then checking
 * that its broker and children are gone.  Each test gets its own harness
 * (setup/teardown) and ends with dxh_pass().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static int setup(void **state)
{
    dxh *h = dxh_create("selftest");
    if (h == NULL)
        return -1;
    if (dxh_broker_start(h, NULL) != 0) {
        dxh_fail(h);
        dxh_destroy(h);
        return -1;
    }
    *state = h;
    return 0;
}

static int teardown(void **state)
{
    dxh_destroy(*state);
    return 0;
}

/* The whole file as a malloc'd string (the caller frees it), or NULL. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
        if (len + 1 >= cap) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    if (buf != NULL)
        buf[len] = '\0';
    fclose(f);
    return buf;
}

/* Whether pid no longer runs: reaped here (the test is a subreaper, so
 * orphaned grandchildren come to it) or gone; with zombie_ok, a zombie
 * not yet reparented and reaped also counts. */
static bool pid_gone(pid_t pid, bool zombie_ok)
{
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid)
        return true;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    if (paren == NULL || paren[1] == '\0')
        return true;
    return zombie_ok && (paren[2] == 'Z' || paren[2] == 'X');
}

/* The process state letter from /proc (R, S, T, Z...), '?' if unknown. */
static char pid_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return '?';
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren != NULL && paren[1] != '\0' ? paren[2] : '?';
}

static bool obs_disconnected(void *ctx)
{
    return !dxh_obs_is_connected(ctx);
}

static bool proc_stopped(void *ctx)
{
    return pid_state(*(pid_t *)ctx) == 'T';
}

static bool proc_not_stopped(void *ctx)
{
    return pid_state(*(pid_t *)ctx) != 'T';
}

/* ---- broker and observers --------------------------------------------- */

/* True once the broker's database file holds the retained test topic. */
static bool db_has_retained(void *ctx)
{
    static char buf[1 << 16];
    const char *want = "test/retained";
    size_t n, w = strlen(want);
    bool found = false;
    char path[512];
    FILE *f;
    if (dxh_path(ctx, path, sizeof path, "broker-db/mosquitto.db") != 0 ||
        (f = fopen(path, "rb")) == NULL)
        return false;
    n = fread(buf, 1, sizeof buf, f);     /* a few hundred bytes here */
    fclose(f);
    for (size_t i = 0; i + w <= n && !found; i++)
        found = memcmp(buf + i, want, w) == 0;
    return found;
}

static void test_retained_survives_broker_crash(void **state)
{
    dxh *h = *state;
    int port = dxh_broker_port(h);
    assert_true(port > 0);

    /* The test broker runs the shipped config with our port and db dir. */
    char path[512], want[600];
    assert_int_equal(dxh_path(h, path, sizeof path, "broker.conf"), 0);
    char *conf = slurp(path);
    assert_non_null(conf);
    snprintf(want, sizeof want, "\nlistener %d 127.0.0.1\n", port);
    assert_non_null(strstr(conf, want));
    snprintf(want, sizeof want, "\npersistence_location %s/broker-db/\n",
             dxh_workdir(h));
    assert_non_null(strstr(conf, want));
    assert_non_null(strstr(conf, "\nallow_anonymous true"));
    free(conf);

    dxh_obs *a = dxh_obs_new(h, NULL);
    assert_non_null(a);
    assert_int_equal(dxh_obs_subscribe(a, "test/#"), 0);
    assert_int_equal(dxh_obs_publish_str(a, "test/retained", "hello", 1, true),
                     0);
    dxh_match live = {.filter = "test/retained", .contains = "hello",
                      .retained = 0};
    assert_non_null(dxh_obs_wait_for(a, dxh_pred_match, &live, 2000));

    /* A later subscriber gets it flagged as retained. */
    dxh_obs *b = dxh_obs_new(h, NULL);
    assert_non_null(b);
    assert_int_equal(dxh_obs_subscribe(b, "test/#"), 0);
    dxh_match kept = {.filter = "test/retained", .contains = "hello",
                      .retained = 1};
    const dxh_msg *m = dxh_obs_wait_for(b, dxh_pred_match, &kept, 2000);
    assert_non_null(m);
    assert_int_equal(m->payload_len, 5);
    assert_true(m->t_ns > 0);

    /* Crash the broker: no clean save, only what autosave wrote.  dev.conf
     * saves every second: wait until a save holds the message. */
    assert_int_equal(dxh_wait_until(db_has_retained, h, 10000, 50), 0);
    assert_int_equal(dxh_broker_kill(h), 0);
    assert_false(dxh_broker_is_running(h));
    assert_int_equal(dxh_wait_until(obs_disconnected, a, 3000, 10), 0);
    dxh_obs_clear(a);

    assert_int_equal(dxh_broker_restart(h), 0);
    assert_int_equal(dxh_broker_port(h), port);
    assert_true(dxh_broker_is_running(h));

    /* The old observer reconnects by itself and resubscribes... */
    assert_int_equal(dxh_obs_wait_connected(a, 5000), 0);
    assert_non_null(dxh_obs_wait_for(a, dxh_pred_match, &kept, 3000));
    /* ...and a new one sees the retained message that survived. */
    dxh_obs *c = dxh_obs_new(h, NULL);
    assert_non_null(c);
    assert_int_equal(dxh_obs_subscribe(c, "test/retained"), 0);
    assert_non_null(dxh_obs_wait_for(c, dxh_pred_match, &kept, 2000));
    char *last = dxh_obs_last_payload(c, "test/retained");
    assert_non_null(last);
    assert_string_equal(last, "hello");
    free(last);
    assert_int_equal(dxh_obs_count(c, "test/#"), 1);
    assert_int_equal(dxh_obs_count(c, "other/#"), 0);

    /* Clearing the retained message with an empty payload. */
    assert_int_equal(dxh_obs_publish(c, "test/retained", NULL, 0, 1, true), 0);
    dxh_obs_destroy(c); /* explicit destroy; a and b go with the harness */
    dxh_pass(h);
}

static void test_broker_stop_and_restart(void **state)
{
    dxh *h = *state;
    dxh_obs *a = dxh_obs_new(h, NULL);
    assert_non_null(a);
    assert_int_equal(dxh_obs_publish_str(a, "test/clean", "saved", 1, true),
                     0);
    assert_int_equal(dxh_broker_stop(h, 3000), 0);
    int st = -1;
    assert_int_equal(dxh_proc_wait(dxh_broker_proc(h), 0, &st), 0);
    assert_int_equal(st, 0); /* SIGTERM is a clean exit for mosquitto */
    assert_int_equal(dxh_broker_restart(h), 0);

    dxh_obs *b = dxh_obs_new(h, NULL);
    assert_non_null(b);
    assert_int_equal(dxh_obs_subscribe(b, "test/clean"), 0);
    assert_int_equal(dxh_obs_wait_count(b, "test/clean", 1, 2000), 0);

    /* SIGSTOP on the broker: the harness can freeze it (a partition). */
    assert_int_equal(dxh_proc_signal(dxh_broker_proc(h), SIGSTOP), 0);
    pid_t bp = dxh_proc_pid(dxh_broker_proc(h));
    assert_int_equal(dxh_wait_until(proc_stopped, &bp, 2000, 5), 0);
    assert_int_equal(dxh_proc_signal(dxh_broker_proc(h), SIGCONT), 0);
    assert_int_equal(dxh_wait_until(proc_not_stopped, &bp, 2000, 5), 0);
    dxh_pass(h);
}

/* ---- processes and commands ------------------------------------------ */

static void test_process_signals(void **state)
{
    dxh *h = *state;
    const char *sleep30[] = {"sleep", "30", NULL};
    int st = -1;

    dxh_proc *p = dxh_spawn(h, "sleeper", sleep30, NULL);
    assert_non_null(p);
    pid_t pid = dxh_proc_pid(p);
    assert_true(dxh_proc_is_running(p));
    assert_int_equal(getpgid(pid), pid); /* its own process group */
    assert_int_equal(dxh_proc_wait(p, 100, &st), DX_ETIMEOUT);

    assert_int_equal(dxh_proc_signal(p, SIGSTOP), 0);
    assert_int_equal(dxh_wait_until(proc_stopped, &pid, 2000, 5), 0);
    assert_int_equal(dxh_proc_signal(p, SIGCONT), 0);
    assert_int_equal(dxh_wait_until(proc_not_stopped, &pid, 2000, 5), 0);

    assert_int_equal(dxh_proc_signal(p, SIGKILL), 0);
    assert_int_equal(dxh_proc_wait(p, 2000, &st), 0);
    assert_int_equal(st, 128 + SIGKILL);
    assert_false(dxh_proc_is_running(p));
    assert_int_equal(dxh_proc_signal(p, SIGKILL), DX_ESTATE);

    p = dxh_spawn(h, "sleeper", sleep30, NULL);
    assert_non_null(p);
    assert_int_equal(dxh_proc_signal(p, SIGTERM), 0);
    assert_int_equal(dxh_proc_wait(p, 2000, &st), 0);
    assert_int_equal(st, 128 + SIGTERM);

    /* A process that ignores SIGTERM is killed after the grace period. */
    const char *stubborn[] = {"sh", "-c", "trap '' TERM; sleep 30", NULL};
    p = dxh_spawn(h, "stubborn", stubborn, NULL);
    assert_non_null(p);
    dxh_sleep_ms(100); /* let sh install the trap */
    int64_t t0 = dxh_now_ns();
    assert_int_equal(dxh_proc_stop(p, 300, &st), 0);
    assert_int_equal(st, 128 + SIGKILL);
    assert_true(dxh_now_ns() - t0 < 2000000000);

    const char *missing[] = {"/nonexistent/dxh-program", NULL};
    assert_null(dxh_spawn(h, "missing", missing, NULL));
    dxh_pass(h);
}

static void test_run_capture(void **state)
{
    dxh *h = *state;
    dxh_obs *a = dxh_obs_new(h, NULL);
    assert_non_null(a);
    assert_int_equal(dxh_obs_publish_str(a, "test/cap", "captured", 1, true),
                     0);

    char port[16];
    snprintf(port, sizeof port, "%d", dxh_broker_port(h));
    char *out = NULL;
    int code = -1;
    assert_int_equal(dxh_runl(h, 5000, &out, &code, "mosquitto_sub", "-h",
                              "127.0.0.1", "-p", port, "-t", "test/cap", "-C",
                              "1", "-W", "5", NULL),
                     0);
    assert_int_equal(code, 0);
    assert_string_equal(out, "captured\n");
    free(out);

    const char *argv[] = {"sh", "-c", "echo out; echo err-line >&2; exit 3",
                          NULL};
    size_t len = 0;
    assert_int_equal(dxh_run(h, argv, 5000, &out, &len, &code), 0);
    assert_int_equal(code, 3);
    assert_string_equal(out, "out\n");
    assert_int_equal(len, 4);
    free(out);
    char path[512];
    assert_int_equal(dxh_path(h, path, sizeof path, "run.log"), 0);
    char *log = slurp(path);
    assert_non_null(log);
    assert_non_null(strstr(log, "err-line"));
    free(log);

    /* A hung command is killed at the deadline, partial output kept. */
    const char *slow[] = {"sh", "-c", "echo partial; sleep 10", NULL};
    int64_t t0 = dxh_now_ns();
    assert_int_equal(dxh_run(h, slow, 300, &out, NULL, &code), DX_ETIMEOUT);
    assert_true(dxh_now_ns() - t0 < 2000000000);
    assert_string_equal(out, "partial\n");
    free(out);
    dxh_pass(h);
}

/* ---- wills ------------------------------------------------------------ */

static void test_will_of_killed_client(void **state)
{
    dxh *h = *state;
    dxh_obs *o = dxh_obs_new(h, NULL);
    assert_non_null(o);
    assert_int_equal(dxh_obs_subscribe(o, "test/will/#"), 0);

    /* The plain way: start, give it 200 ms to connect, kill -9. */
    char port[16];
    snprintf(port, sizeof port, "%d", dxh_broker_port(h));
    const char *argv[] = {"mosquitto_sub", "-h", "127.0.0.1", "-p", port,
                          "-i", "dxh-will-raw", "-t", "test/nothing",
                          "--will-topic", "test/will/raw", "--will-payload",
                          "gone", NULL};
    dxh_proc *p = dxh_spawn(h, "will-raw", argv, NULL);
    assert_non_null(p);
    dxh_sleep_ms(200);
    assert_true(dxh_proc_is_running(p));
    uint64_t mark = dxh_obs_mark(o);
    assert_int_equal(dxh_proc_signal(p, SIGKILL), 0);
    dxh_match will = {.filter = "test/will/raw", .contains = "gone",
                      .retained = -1};
    assert_non_null(dxh_obs_wait_for_from(o, mark, dxh_pred_match, &will,
                                          2000));

    /* The measured way the benchmark uses. */
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof id, "dxh-will-%d", i);
        dxh_proc *c = dxh_will_client_start(h, o, id, "test/will/api", "dead",
                                            false, 5000);
        assert_non_null(c);
        double ms = -1;
        assert_int_equal(dxh_will_measure(h, o, c, "test/will/api", 2000, &ms),
                         0);
        assert_true(ms >= 0 && ms < 2000);
        printf("dxh: raw will latency, run %d: %.2f ms\n", i + 1, ms);
    }
    assert_int_equal(dxh_obs_count(o, "test/will/api"), 3);
    dxh_pass(h);
}

/* ---- agents' command lines -------------------------------------------- */

static void test_agent_command_line(void **state)
{
    dxh *h = *state;
    const char *extra[] = {"--heartbeat-ms", "100", NULL};
    char **argv = dxh_agent_argv(h, "/bin/echo", 3, extra);
    assert_non_null(argv);
    char want[600];
    assert_string_equal(argv[0], "/bin/echo");
    assert_string_equal(argv[1], "--id");
    assert_string_equal(argv[2], "3");
    assert_string_equal(argv[3], "--broker");
    assert_string_equal(argv[4], dxh_broker_url(h));
    assert_string_equal(argv[5], "--data-dir");
    snprintf(want, sizeof want, "%s/node3", dxh_workdir(h));
    assert_string_equal(argv[6], want);
    assert_string_equal(argv[7], "--cluster");
    assert_string_equal(argv[8], "test");
    assert_string_equal(argv[9], "--heartbeat-ms");
    assert_string_equal(argv[10], "100");
    assert_null(argv[11]);
    dxh_argv_free(argv);

    /* echo stands in for the agent: its "output" is its command line. */
    dxh_proc *p = dxh_agent_start(h, "/bin/echo", 2, extra);
    assert_non_null(p);
    assert_ptr_equal(dxh_agent(h, 2), p);
    assert_null(dxh_agent(h, 7));
    int st = -1;
    assert_int_equal(dxh_proc_wait(p, 2000, &st), 0);
    assert_int_equal(st, 0);
    char path[512];
    assert_int_equal(dxh_path(h, path, sizeof path, "node2.log"), 0);
    assert_string_equal(dxh_proc_log(p), path);
    char *log = slurp(path);
    assert_non_null(log);
    snprintf(want, sizeof want,
             "--id 2 --broker %s --data-dir %s/node2 --cluster test "
             "--heartbeat-ms 100\n",
             dxh_broker_url(h), dxh_workdir(h));
    assert_string_equal(log, want);
    free(log);
    struct stat sb;
    assert_int_equal(dxh_path(h, path, sizeof path, "node2"), 0);
    assert_int_equal(stat(path, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    dxh_pass(h);
}

/* ---- the cleanup guarantee -------------------------------------------- */

enum death { DIE_ABORT, DIE_EXIT, DIE_SIGKILL };

/* The forked copy of the test: a harness with a broker and a sleeper,
 * reports their pids, waits for the parent's go, then dies as told. */
static void doomed_child(const char *tmpdir, int report_fd, int go_fd,
                         enum death how)
{
    setenv("TMPDIR", tmpdir, 1);
    dxh *h = dxh_create("doomed");
    if (h == NULL || dxh_broker_start(h, NULL) != 0)
        _exit(90);
    const char *sleep30[] = {"sleep", "30", NULL};
    dxh_proc *p = dxh_spawn(h, "sleeper", sleep30, NULL);
    if (p == NULL)
        _exit(91);
    pid_t pids[2] = {dxh_proc_pid(dxh_broker_proc(h)), dxh_proc_pid(p)};
    if (write(report_fd, pids, sizeof pids) != (ssize_t)sizeof pids)
        _exit(92);
    close(report_fd);
    char go;
    if (read(go_fd, &go, 1) != 1)
        _exit(95);
    switch (how) {
    case DIE_ABORT:
        abort();
    case DIE_EXIT:
        exit(3);
    case DIE_SIGKILL:
        for (;;)
            pause();
    }
    _exit(93);
}

static void check_cleanup(dxh *h, enum death how)
{
    char err_path[512];
    assert_int_equal(dxh_path(h, err_path, sizeof err_path, "doomed-%d.err",
                              (int)how),
                     0);
    int fds[2], go[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(pipe(go), 0);
    fflush(NULL);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(fds[0]);
        close(go[1]);
        if (freopen(err_path, "w", stderr) == NULL)
            _exit(94);
        doomed_child(dxh_workdir(h), fds[1], go[0], how);
    }
    close(fds[1]);
    close(go[0]);
    pid_t pids[2] = {0, 0};
    ssize_t n = read(fds[0], pids, sizeof pids);
    close(fds[0]);
    if (n != (ssize_t)sizeof pids)
        kill(child, SIGKILL);
    assert_int_equal(n, sizeof pids);
    bool alive = !pid_gone(pids[0], true) && !pid_gone(pids[1], true);
    assert_int_equal(write(go[1], "g", 1), 1);
    close(go[1]);
    assert_true(alive);

    if (how == DIE_SIGKILL)
        assert_int_equal(kill(child, SIGKILL), 0);
    int st = 0;
    assert_int_equal(waitpid(child, &st, 0), child);
    switch (how) {
    case DIE_ABORT:
        assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
        break;
    case DIE_EXIT:
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 3);
        break;
    case DIE_SIGKILL:
        assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        break;
    }

    /* Nothing outlives the test: not the broker, not the sleeper. */
    int64_t deadline = dxh_now_ns() + 3000000000;
    while ((!pid_gone(pids[0], false) || !pid_gone(pids[1], false)) &&
           dxh_now_ns() < deadline)
        dxh_sleep_ms(10);
    assert_true(pid_gone(pids[0], true));
    assert_true(pid_gone(pids[1], true));

    /* A failing test says where its logs are and shows their tails. */
    char *err = slurp(err_path);
    assert_non_null(err);
    if (how != DIE_SIGKILL) {
        assert_non_null(strstr(err, "keeping work dir"));
        assert_non_null(strstr(err, "broker.log ----"));
        assert_non_null(strstr(err, "mosquitto version"));
    }
    free(err);
}

static void test_cleanup_on_abort(void **state)
{
    check_cleanup(*state, DIE_ABORT);
    dxh_pass(*state);
}

static void test_cleanup_on_failed_exit(void **state)
{
    check_cleanup(*state, DIE_EXIT);
    dxh_pass(*state);
}

static void test_cleanup_on_sigkill(void **state)
{
    check_cleanup(*state, DIE_SIGKILL);
    dxh_pass(*state);
}

/* ---- pure helpers ----------------------------------------------------- */

static void test_topic_matching(void **state)
{
    (void)state;
    assert_true(dxh_topic_matches("a/b", "a/b"));
    assert_false(dxh_topic_matches("a/b", "a/bc"));
    assert_false(dxh_topic_matches("a/b", "a"));
    assert_true(dxh_topic_matches("a/+", "a/b"));
    assert_false(dxh_topic_matches("a/+", "a/b/c"));
    assert_true(dxh_topic_matches("a/+/c", "a/b/c"));
    assert_true(dxh_topic_matches("a/#", "a/b/c"));
    assert_true(dxh_topic_matches("a/#", "a"));
    assert_true(dxh_topic_matches("#", "a/b"));
    assert_false(dxh_topic_matches("#", "$SYS/broker"));
    assert_true(dxh_topic_matches("+/+", "/x"));
    assert_false(dxh_topic_matches("b/#", "a/b"));
}

int main(void)
{
    /* Orphans of the doomed children are reparented here and reaped by
     * pid_gone(), instead of lingering as zombies under a PID 1 that may
     * not reap. */
    (void)prctl(PR_SET_CHILD_SUBREAPER, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_retained_survives_broker_crash,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_broker_stop_and_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_process_signals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_capture, setup, teardown),
        cmocka_unit_test_setup_teardown(test_will_of_killed_client, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_agent_command_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cleanup_on_abort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cleanup_on_failed_exit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cleanup_on_sigkill, setup,
                                        teardown),
        cmocka_unit_test(test_topic_matching),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    /* Reap orphans reparented here (a killed shell's sleep, say). */
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    return failed;
}
