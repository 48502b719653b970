/*
 * test_install_it.c - `cmake --install` puts every file where it belongs.
 *
 * Installs the build that produced $DX_CLI (its bin/ is the build's
 * runtime output directory, and the build's CMakeCache.txt names the cmake
 * that made it) into a fresh prefix, then checks: both programs in bin/
 * and runnable; the systemd unit with its restart policy, state directory,
 * environment file, ExecStart and hardening; the example agent
 * configuration, which the installed agent's option parser accepts with
 * every option in it enabled; the broker configurations in
 * share/distribux/broker-config; and that the installed `distribux demo`
 * finds its agent and that broker configuration by itself (started, then
 * stopped with SIGTERM once its processes are up).
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

typedef struct inst {
    dxh *h;
    char prefix[512];
} inst;

/* The build directory of $DX_CLI (BUILD/bin/distribux) and the cmake
 * that configured it (CMAKE_COMMAND in BUILD/CMakeCache.txt). */
static int find_build(char *build, size_t bcap, char *cmake, size_t ccap)
{
    const char *cli = dxh_cli_bin();
    char cache[1024], *text, *p;
    size_t n;

    if (cli == NULL)
        return -1;
    snprintf(build, bcap, "%s", cli);
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(build, '/');
        if (slash == NULL)
            return -1;
        *slash = '\0';
    }
    snprintf(cache, sizeof cache, "%s/CMakeCache.txt", build);
    if ((text = dxh_read_file(cache)) == NULL)
        return -1;
    p = strstr(text, "\nCMAKE_COMMAND:INTERNAL=");
    if (p == NULL) {
        free(text);
        return -1;
    }
    p += strlen("\nCMAKE_COMMAND:INTERNAL=");
    n = strcspn(p, "\r\n");
    snprintf(cmake, ccap, "%.*s", (int)n, p);
    free(text);
    return 0;
}

static int setup(void **state)
{
    inst *t = calloc(1, sizeof *t);
    char build[512], cmake[512], *out = NULL;
    int code = -1;

    if (t == NULL || (t->h = dxh_create("install")) == NULL)
        return -1;
    *state = t;
    if (dxh_cli_bin() == NULL)
        return 0;   /* the test skips */
    if (find_build(build, sizeof build, cmake, sizeof cmake) != 0) {
        print_message("cannot find the build directory of %s\n",
                      dxh_cli_bin());
        return -1;
    }
    if (dxh_path(t->h, t->prefix, sizeof t->prefix, "prefix") != 0 ||
        dxh_runl(t->h, 120000, &out, &code, cmake, "--install", build,
                 "--prefix", t->prefix, NULL) != 0 || code != 0) {
        print_message("cmake --install %s --prefix %s: exit %d\n%s", build,
                      t->prefix, code, out != NULL ? out : "");
        free(out);
        return -1;
    }
    free(out);
    return 0;
}

static int teardown(void **state)
{
    inst *t = *state;
    dxh_destroy(t->h);
    free(t);
    return 0;
}

static void skip_without_cli(void)
{
    if (dxh_cli_bin() == NULL) {
        print_message("DX_CLI is not set: skipping\n");
        skip();
    }
}

static void path_of(const inst *t, const char *rel, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", t->prefix, rel);
}

static void test_files(void **state)
{
    inst *t = *state;
    static const char *const files[] = {
        "bin/distribux",
        "bin/distribux-agent",
        "lib/systemd/system/distribux-agent.service",
        "etc/distribux/agent.conf.example",
        "share/distribux/broker-config/dev.conf",
        "share/distribux/broker-config/secure.conf",
        "share/distribux/broker-config/acl",
        "share/distribux/broker-config/README.md",
    };
    char p[1024], *out = NULL;
    int code = -1;

    skip_without_cli();
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        struct stat st;
        path_of(t, files[i], p, sizeof p);
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode))
            fail_msg("%s was not installed", files[i]);
    }
    path_of(t, "bin/distribux-agent", p, sizeof p);
    assert_int_equal(access(p, X_OK), 0);
    assert_int_equal(dxh_runl(t->h, 10000, &out, &code, p, "--version", NULL),
                     0);
    assert_int_equal(code, 0);
    assert_non_null(strstr(out, "distribux-agent"));
    free(out);
    out = NULL;
    path_of(t, "bin/distribux", p, sizeof p);
    assert_int_equal(dxh_runl(t->h, 10000, &out, &code, p, "--version", NULL),
                     0);
    assert_int_equal(code, 0);
    assert_non_null(strstr(out, "distribux"));
    free(out);
    dxh_pass(t->h);
}

static void test_unit(void **state)
{
    inst *t = *state;
    static const char *const lines[] = {
        "\nRestart=on-failure\n",
        "\nRestartSec=1\n",
        "\nStateDirectory=distribux\n",
        "\nEnvironmentFile=-/etc/distribux/agent.env\n",
        "/distribux-agent --config /etc/distribux/agent.conf\n",
        "\nNoNewPrivileges=yes\n",
        "\nProtectSystem=strict\n",
        "\nReadWritePaths=/var/lib/distribux\n",
        "\n[Install]\nWantedBy=multi-user.target\n",
    };
    char p[1024], *unit;

    skip_without_cli();
    path_of(t, "lib/systemd/system/distribux-agent.service", p, sizeof p);
    unit = dxh_read_file(p);
    assert_non_null(unit);
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        if (strstr(unit, lines[i]) == NULL) {
            free(unit);
            fail_msg("the unit lacks '%s'", lines[i]);
        }
    /* ExecStart names an absolute agent path, not a template variable. */
    assert_non_null(strstr(unit, "\nExecStart=/"));
    assert_null(strstr(unit, "@CMAKE"));
    free(unit);
    dxh_pass(t->h);
}

/* The example, and the example with every commented option enabled, pass
 * the installed agent's option parser (--config FILE --help parses the
 * file first: exit 0 when it is valid, 2 with the bad line otherwise). */
static void test_example_config(void **state)
{
    inst *t = *state;
    char ex[1024], all[1024], agent[1024], line[1024];
    FILE *in, *out;
    int code = -1, enabled = 0;

    skip_without_cli();
    path_of(t, "etc/distribux/agent.conf.example", ex, sizeof ex);
    path_of(t, "bin/distribux-agent", agent, sizeof agent);
    assert_int_equal(dxh_runl(t->h, 10000, NULL, &code, agent, "--config", ex,
                              "--help", NULL), 0);
    assert_int_equal(code, 0);

    /* "#key value" lines whose key is an option: uncommented. */
    assert_int_equal(dxh_path(t->h, all, sizeof all, "all.conf"), 0);
    in = fopen(ex, "r");
    out = fopen(all, "w");
    assert_non_null(in);
    assert_non_null(out);
    while (fgets(line, sizeof line, in) != NULL) {
        if (line[0] == '#' && line[1] >= 'a' && line[1] <= 'z' &&
            strchr(line, ' ') != NULL) {
            fputs(line + 1, out);
            enabled++;
        } else {
            fputs(line, out);
        }
    }
    fclose(in);
    fclose(out);
    assert_true(enabled >= 5);
    assert_int_equal(dxh_runl(t->h, 10000, NULL, &code, agent, "--config",
                              all, "--help", NULL), 0);
    assert_int_equal(code, 0);
    /* And the parser does check the file: a wrong key fails. */
    out = fopen(all, "a");
    assert_non_null(out);
    fputs("no-such-option 1\n", out);
    fclose(out);
    assert_int_equal(dxh_runl(t->h, 10000, NULL, &code, agent, "--config",
                              all, "--help", NULL), 0);
    assert_int_equal(code, 2);
    dxh_pass(t->h);
}

/* The installed demo finds the installed agent and broker-config. */
static void test_installed_demo_finds_its_files(void **state)
{
    inst *t = *state;
    char cli[1024], want[1024], *log = NULL;
    const char *argv[] = {cli, "demo", "--no-shell", NULL};
    dxh_proc *p;
    int status = -1;
    int64_t end = dxh_now_ns() + 60 * 1000000000LL;

    skip_without_cli();
    path_of(t, "bin/distribux", cli, sizeof cli);
    unsetenv("DX_BROKER_CONF");     /* no hint: it must look itself */
    p = dxh_spawn(t->h, "demo", argv, NULL);
    assert_non_null(p);
    while (dxh_now_ns() < end) {
        free(log);
        log = dxh_read_file(dxh_proc_log(p));
        if (log != NULL && (strstr(log, "== Step 1") != NULL ||
                            !dxh_proc_is_running(p)))
            break;
        dxh_sleep_ms(50);
    }
    assert_int_equal(kill(dxh_proc_pid(p), SIGTERM), 0);
    assert_int_equal(dxh_proc_wait(p, 20000, &status), 0);
    free(log);
    log = dxh_read_file(dxh_proc_log(p));
    printf("%s", log != NULL ? log : "");
    assert_non_null(log);
    snprintf(want, sizeof want, "(configured from %s/bin/../share/distribux/"
             "broker-config/dev.conf)", t->prefix);
    assert_non_null(strstr(log, want));
    assert_non_null(strstr(log, "demo: started pids"));
    free(log);
    dxh_pass(t->h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_unit),
        cmocka_unit_test(test_example_config),
        cmocka_unit_test(test_installed_demo_finds_its_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
