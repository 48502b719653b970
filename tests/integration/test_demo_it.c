/*
 * test_demo_it.c - `distribux demo` as an end-to-end test.
 *
 * The demo starts its own Mosquitto and three agents (next to the CLI),
 * runs the prototype's scenario and checks every step itself; with
 * --no-shell it exits 0 only if every step behaved.  These tests run the
 * real binary ($DX_CLI) and check what a user would: the exit code, the
 * step headers, and that nothing it started survives it (it prints the
 * pids it started on a "demo: started pids ..." line) and its temporary
 * folder is gone.  A second test stops the demo with SIGTERM in the middle
 * of the scenario and checks the same cleanup; a third checks a usage
 * error.
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
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define DEMO_TIMEOUT_MS 180000
#define PIDS_MAX 16

static const char *const headers[] = {
    "== Step 1: status",
    "== Step 2: submit_task",
    "== Step 3: fail 2",
    "== Step 4: put_log",
    "== Step 5: fail 1",
    "== Step 6: status",
};

static int setup(void **state)
{
    dxh *h = dxh_create("demo");
    if (h == NULL)
        return -1;
    *state = h;
    return 0;
}

static int teardown(void **state)
{
    dxh_destroy(*state);
    return 0;
}

static const char *cli_or_skip(void)
{
    const char *cli = dxh_cli_bin();
    if (cli == NULL) {
        print_message("DX_CLI is not set: skipping\n");
        skip();
    }
    return cli;
}

/* The pids of the "demo: started pids A B C" line; returns how many. */
static size_t started_pids(const char *out, pid_t *pids, size_t cap)
{
    const char *p = strstr(out, "demo: started pids");
    size_t n = 0;
    if (p == NULL)
        return 0;
    p += strlen("demo: started pids");
    while (n < cap && *p == ' ') {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v <= 1)
            break;
        pids[n++] = (pid_t)v;
        p = end;
    }
    return n;
}

/* The demo's temporary folder, from its "files in DIR" line. */
static void files_dir(const char *out, char *dir, size_t cap)
{
    const char *p = strstr(out, "files in ");
    dir[0] = '\0';
    if (p != NULL)
        snprintf(dir, cap, "%.*s", (int)strcspn(p + 9, "\n"), p + 9);
}

/* Nothing the demo started is alive, and its folder is gone. */
static void assert_cleaned_up(const char *out)
{
    pid_t pids[PIDS_MAX];
    char dir[512];
    size_t n = started_pids(out, pids, PIDS_MAX);
    struct stat st;

    /* the broker, `events`, three agents */
    if (n < 5)
        fail_msg("expected a 'demo: started pids' line with 5 pids, got %zu",
                 n);
    for (size_t i = 0; i < n; i++)
        if (kill(pids[i], 0) == 0 || errno != ESRCH)
            fail_msg("pid %ld, started by the demo, is still alive",
                     (long)pids[i]);
    files_dir(out, dir, sizeof dir);
    assert_true(strncmp(dir, "/", 1) == 0);
    if (stat(dir, &st) == 0)
        fail_msg("the demo's folder %s is still there", dir);
}

static void test_demo_no_shell(void **state)
{
    dxh *h = *state;
    const char *cli = cli_or_skip();
    char *out = NULL, log[512];
    int code = -1;

    int rc = dxh_runl(h, DEMO_TIMEOUT_MS, &out, &code, cli, "demo",
                      "--no-shell", NULL);
    printf("%s", out != NULL ? out : "");
    if (rc != 0 || code != 0) {
        char *err;
        assert_int_equal(dxh_path(h, log, sizeof log, "run.log"), 0);
        err = dxh_read_file(log);
        print_message("demo exited %d (rc %d); its stderr:\n%s\n", code, rc,
                      err != NULL ? err : "");
        free(err);
        free(out);
        fail_msg("distribux demo --no-shell exited %d, expected 0", code);
    }
    assert_non_null(out);
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++)
        if (strstr(out, headers[i]) == NULL)
            fail_msg("no '%s' in the demo's output", headers[i]);
    assert_non_null(strstr(out, "every step behaved as expected"));
    assert_non_null(strstr(out, "Leader: Node 3"));
    assert_non_null(strstr(out, "failed (will)"));
    assert_cleaned_up(out);
    free(out);
    dxh_pass(h);
}

/* SIGTERM while the scenario runs: everything stops, the folder goes. */
static void test_demo_sigterm(void **state)
{
    dxh *h = *state;
    const char *cli = cli_or_skip();
    const char *argv[] = {cli, "demo", "--no-shell", NULL};
    dxh_proc *p = dxh_spawn(h, "demo", argv, NULL);
    char *out = NULL;
    int status = -1;
    int64_t end = dxh_now_ns() + 60 * 1000000000LL;

    assert_non_null(p);
    /* Until the scenario is under way (the agents are up). */
    while (dxh_now_ns() < end) {
        free(out);
        out = dxh_read_file(dxh_proc_log(p));
        if (out != NULL && strstr(out, "== Step 2") != NULL)
            break;
        dxh_sleep_ms(50);
    }
    assert_non_null(out);
    assert_non_null(strstr(out, "== Step 2"));
    assert_int_equal(kill(dxh_proc_pid(p), SIGTERM), 0);
    assert_int_equal(dxh_proc_wait(p, 20000, &status), 0);
    free(out);
    out = dxh_read_file(dxh_proc_log(p));
    printf("%s", out != NULL ? out : "");
    assert_int_equal(status, 128 + SIGTERM);
    assert_cleaned_up(out);
    free(out);
    dxh_pass(h);
}

static void test_demo_usage(void **state)
{
    dxh *h = *state;
    const char *cli = cli_or_skip();
    int code = -1;

    assert_int_equal(dxh_runl(h, 10000, NULL, &code, cli, "demo", "--bogus",
                              NULL), 0);
    assert_int_equal(code, 2);
    dxh_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_demo_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_demo_no_shell, setup, teardown),
        cmocka_unit_test_setup_teardown(test_demo_sigterm, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
