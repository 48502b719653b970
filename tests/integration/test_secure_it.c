/*
 * test_secure_it.c - broker-config/secure.conf with a real Mosquitto: TLS,
 * passwords and the ACL.
 *
 * One harness for the whole file (making certificates and forming a
 * cluster is the slow part): scripts/make-dev-certs.sh writes a CA, the
 * broker's certificate and the users ops, 1, 2, 3 into WORKDIR/certs; the
 * broker runs on a copy of secure.conf whose file paths point there (the
 * harness rewrites the listener port and the persistence location); three
 * agents join with their own credentials over ssl://.  An operator's
 * mosquitto_sub records the whole tree.  The harness's own observers speak
 * plain MQTT without credentials, so they are not used here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static dxh *h;
static char src[1024];              /* the source tree */
static char certs[1024];            /* WORKDIR/certs */
static char url[128], plain_url[128], badhost_url[128];
static char ca[1100], pw[4][1100];  /* pw[0] ops, pw[1..3] nodes */
static char secret[4][64];          /* the passwords themselves */
static int port;

static void read_line(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, (int)cap, f));
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;
    if (f == NULL)
        return strdup("");
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    if (buf != NULL && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)
        buf[0] = '\0';
    fclose(f);
    return buf;
}

static bool file_has(const char *path, const char *needle)
{
    char *s = slurp(path);
    bool yes = s != NULL && strstr(s, needle) != NULL;
    free(s);
    return yes;
}

/* WORKDIR/secure.conf: secure.conf with its file paths made absolute. */
static void write_conf(char *out, size_t cap)
{
    char in[1100], line[1024];
    FILE *fi, *fo;
    snprintf(in, sizeof in, "%s/broker-config/secure.conf", src);
    assert_int_equal(dxh_path(h, out, cap, "secure.conf"), 0);
    fi = fopen(in, "r");
    fo = fopen(out, "w");
    assert_non_null(fi);
    assert_non_null(fo);
    while (fgets(line, sizeof line, fi) != NULL) {
        char kw[32] = "";
        sscanf(line, "%31s", kw);
        if (strcmp(kw, "cafile") == 0)
            fprintf(fo, "cafile %s/ca.crt\n", certs);
        else if (strcmp(kw, "certfile") == 0)
            fprintf(fo, "certfile %s/server.crt\n", certs);
        else if (strcmp(kw, "keyfile") == 0)
            fprintf(fo, "keyfile %s/server.key\n", certs);
        else if (strcmp(kw, "password_file") == 0)
            fprintf(fo, "password_file %s/passwd\n", certs);
        else if (strcmp(kw, "acl_file") == 0)
            fprintf(fo, "acl_file %s/broker-config/acl\n", src);
        else
            fputs(line, fo);
    }
    fclose(fi);
    fclose(fo);
}

/* distribux with `user`'s credentials (0 = ops) and extra args; returns
 * its exit code, stdout in *out when out is not NULL. */
static int cli(int user, const char *broker, const char *cafile,
               const char *a1, const char *a2, const char *a3,
               const char *a4, const char *a5, char **out)
{
    char uname[8];
    const char *argv[24];
    int n = 0, code = -1;
    snprintf(uname, sizeof uname, user ? "%d" : "ops", user);
    argv[n++] = dxh_cli_bin();
    argv[n++] = "--broker";
    argv[n++] = broker;
    if (cafile != NULL) {
        argv[n++] = "--cafile";
        argv[n++] = cafile;
    }
    argv[n++] = "--user";
    argv[n++] = uname;
    argv[n++] = "--password-file";
    argv[n++] = pw[user];
    argv[n++] = "--cluster";
    argv[n++] = "test";
    const char *rest[] = {a1, a2, a3, a4, a5};
    for (int i = 0; i < 5 && rest[i] != NULL; i++)
        argv[n++] = rest[i];
    argv[n] = NULL;
    assert_int_equal(dxh_run(h, argv, 90000, out, NULL, &code), 0);
    return code;
}

/* The retained members view, read as ops. */
static char *members(void)
{
    char *out = NULL;
    int code = -1;
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    assert_int_equal(dxh_runl(h, 10000, &out, &code, "mosquitto_sub", "-h",
                              "127.0.0.1", "-p", p, "--cafile", ca, "-u",
                              "ops", "-P", secret[0], "-t",
                              "distribux/test/members", "-C", "1", "-W", "3",
                              NULL), 0);
    return out ? out : strdup("");
}

static int count_of(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static bool formed(void *ctx)
{
    char *m = members();
    bool yes = strstr(m, "\"leader\":3") != NULL &&
               count_of(m, "\"online\"") == 3;
    (void)ctx;
    free(m);
    return yes;
}

static bool node1_online(void)
{
    char *m = members();
    /* {"id":1,...,"state":"online"...}: the object of node 1 */
    const char *p = strstr(m, "{\"id\":1,");
    const char *e = p ? strchr(p, '}') : NULL;
    const char *st = p ? strstr(p, "\"state\":\"online\"") : NULL;
    bool yes = p != NULL && st != NULL && st < e;
    free(m);
    return yes;
}

static int setup(void **state)
{
    const char *conf = getenv("DX_BROKER_CONF");
    char tmp[1024], path[1100], log[1100];
    int code = -1;
    (void)state;
    if (dxh_agent_bin() == NULL || dxh_cli_bin() == NULL || conf == NULL)
        return -1;
    /* DX_BROKER_CONF is SRC/broker-config/dev.conf */
    snprintf(tmp, sizeof tmp, "%s", conf);
    snprintf(src, sizeof src, "%s", dirname(dirname(tmp)));
    h = dxh_create("secure");
    if (h == NULL)
        return -1;
    dxh_path(h, certs, sizeof certs, "certs");
    snprintf(path, sizeof path, "%s/scripts/make-dev-certs.sh", src);
    if (dxh_runl(h, 60000, NULL, &code, "sh", path, certs, "1", "2", "3",
                 NULL) != 0 || code != 0)
        return -1;
    snprintf(ca, sizeof ca, "%s/ca.crt", certs);
    for (int i = 0; i < 4; i++) {
        snprintf(pw[i], sizeof pw[i], i ? "%s/%d.password" : "%s/ops.password",
                 certs, i);
        read_line(pw[i], secret[i], sizeof secret[i]);
    }
    write_conf(path, sizeof path);
    if (dxh_broker_start(h, path) != 0)
        return -1;
    port = dxh_broker_port(h);
    snprintf(url, sizeof url, "ssl://127.0.0.1:%d", port);
    snprintf(plain_url, sizeof plain_url, "tcp://127.0.0.1:%d", port);
    /* 127.1 is 127.0.0.1, but not a name the certificate carries. */
    snprintf(badhost_url, sizeof badhost_url, "ssl://127.1:%d", port);

    /* The operator's recording of the whole tree. */
    {
        char p[16];
        const char *argv[] = {"mosquitto_sub", "-h", "127.0.0.1", "-p", p,
                              "--cafile", ca, "-u", "ops", "-P", secret[0],
                              "-t", "distribux/test/#", "-v", NULL};
        snprintf(p, sizeof p, "%d", port);
        dxh_path(h, log, sizeof log, "ops-sub.log");
        if (dxh_spawn(h, "ops-sub", argv, log) == NULL)
            return -1;
    }
    for (int id = 1; id <= 3; id++) {
        char uname[8];
        snprintf(uname, sizeof uname, "%d", id);
        const char *extra[] = {"--broker", url, "--cafile", ca, "--user",
                               uname, "--password-file", pw[id], NULL};
        if (dxh_agent_start(h, NULL, id, extra) == NULL)
            return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dxh_destroy(h);
    return 0;
}

static void test_cluster_forms(void **state)
{
    (void)state;
    assert_int_equal(dxh_wait_until(formed, NULL, 30000, 300), 0);
}

static void test_no_password_in_ps_or_logs(void **state)
{
    char path[1100];
    (void)state;
    for (int id = 1; id <= 3; id++) {
        char *cmd, *log;
        size_t n;
        FILE *f;
        snprintf(path, sizeof path, "/proc/%d/cmdline",
                 (int)dxh_proc_pid(dxh_agent(h, id)));
        f = fopen(path, "r");
        assert_non_null(f);
        cmd = calloc(1, 8192);
        n = fread(cmd, 1, 8191, f);
        fclose(f);
        for (size_t i = 0; i < n; i++)
            if (cmd[i] == '\0')
                cmd[i] = ' ';
        assert_non_null(strstr(cmd, "--password-file"));
        for (int u = 0; u < 4; u++)
            assert_null(strstr(cmd, secret[u]));
        free(cmd);
        log = slurp(dxh_proc_log(dxh_agent(h, id)));
        for (int u = 0; u < 4; u++)
            assert_null(strstr(log, secret[u]));
        free(log);
    }
}

static void test_node2_cannot_impersonate_node1(void **state)
{
    char p[16], log[1100];
    int code = -1;
    (void)state;
    snprintf(p, sizeof p, "%d", port);
    dxh_path(h, log, sizeof log, "ops-sub.log");
    assert_true(node1_online());
    /* A forged clean shutdown (retained) and a forged heartbeat of node 1,
     * and, as a control, a message node 2 may send. */
    assert_int_equal(dxh_runl(h, 10000, NULL, &code, "mosquitto_pub", "-h",
                              "127.0.0.1", "-p", p, "--cafile", ca, "-u", "2",
                              "-P", secret[2], "-q", "1", "-r", "-t",
                              "distribux/test/nodes/1/state", "-m",
                              "{\"v\":1,\"state\":\"offline\",\"why\":"
                              "\"shutdown\",\"epoch\":9999999,\"name\":"
                              "\"forged-by-2\"}", NULL), 0);
    assert_int_equal(code, 0);  /* MQTT 3.1.1: a denied publish is acked */
    assert_int_equal(dxh_runl(h, 10000, NULL, &code, "mosquitto_pub", "-h",
                              "127.0.0.1", "-p", p, "--cafile", ca, "-u", "2",
                              "-P", secret[2], "-q", "0", "-t",
                              "distribux/test/nodes/1/heartbeat", "-m",
                              "{\"v\":1,\"epoch\":9999999,\"name\":"
                              "\"forged-by-2\"}", NULL), 0);
    assert_int_equal(dxh_runl(h, 10000, NULL, &code, "mosquitto_pub", "-h",
                              "127.0.0.1", "-p", p, "--cafile", ca, "-u", "2",
                              "-P", secret[2], "-q", "1", "-t",
                              "distribux/test/dfs/probe", "-m",
                              "control-from-2", NULL), 0);
    for (int i = 0; i < 50 && !file_has(log, "control-from-2"); i++)
        dxh_sleep_ms(100);
    assert_true(file_has(log, "control-from-2"));
    dxh_sleep_ms(1500);
    assert_false(file_has(log, "forged-by-2"));
    assert_true(node1_online());
}

static void test_wrong_password_refused(void **state)
{
    char wrong[1100];
    const char *w = "wrong-secret-7f3a9c";
    FILE *f;
    int status = -1;
    dxh_proc *a;
    (void)state;
    dxh_path(h, wrong, sizeof wrong, "wrong.password");
    f = fopen(wrong, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", w);
    fclose(f);
    const char *extra[] = {"--broker", url, "--cafile", ca, "--user", "1",
                           "--password-file", wrong, NULL};
    a = dxh_agent_start(h, NULL, 9, extra);
    assert_non_null(a);
    assert_int_equal(dxh_proc_wait(a, 10000, &status), 0);
    assert_int_equal(status, 2);
    assert_true(file_has(dxh_proc_log(a), "refused"));
    assert_false(file_has(dxh_proc_log(a), w));
    /* The CLI: one line, exit 2. */
    snprintf(pw[0], sizeof pw[0], "%s", wrong);
    assert_int_equal(cli(0, url, ca, "status", NULL, NULL, NULL, NULL, NULL),
                     2);
    snprintf(pw[0], sizeof pw[0], "%s/ops.password", certs);
    {
        char run[1100];
        dxh_path(h, run, sizeof run, "run.log");
        assert_true(file_has(run, "refused the credentials"));
        assert_false(file_has(run, w));
    }
}

static void test_tls_failures(void **state)
{
    char run[1100], other[1100];
    int code = -1;
    dxh_proc *a;
    int status = -1;
    (void)state;
    dxh_path(h, run, sizeof run, "run.log");
    /* Plain MQTT to the TLS port: exit 1 (like an absent broker), with a
     * hint. */
    assert_int_equal(cli(0, plain_url, NULL, "status", NULL, NULL, NULL, NULL,
                         NULL), 1);
    assert_true(file_has(run, "use ssl://"));
    /* A CA that did not sign the broker's certificate: exit 2. */
    dxh_path(h, other, sizeof other, "other-ca");
    {
        char path[1100];
        snprintf(path, sizeof path, "%s/scripts/make-dev-certs.sh", src);
        assert_int_equal(dxh_runl(h, 60000, NULL, &code, "sh", path, other,
                                  "1", NULL), 0);
        assert_int_equal(code, 0);
    }
    strcat(other, "/ca.crt");
    assert_int_equal(cli(0, url, other, "status", NULL, NULL, NULL, NULL,
                         NULL), 2);
    assert_true(file_has(run, "certificate verify failed"));
    /* A host name the certificate does not carry: exit 2. */
    assert_int_equal(cli(0, badhost_url, ca, "status", NULL, NULL, NULL,
                         NULL, NULL), 2);
    assert_true(file_has(run, "certificate was not accepted"));
    /* The agent with the wrong CA: one line, exit 2. */
    const char *extra[] = {"--broker", url, "--cafile", other, "--user", "3",
                           "--password-file", pw[3], NULL};
    a = dxh_agent_start(h, NULL, 8, extra);
    assert_non_null(a);
    assert_int_equal(dxh_proc_wait(a, 10000, &status), 0);
    assert_int_equal(status, 2);
    assert_true(file_has(dxh_proc_log(a), "TLS handshake"));
}

static void test_operator_submits_node_cannot_command(void **state)
{
    char *out = NULL;
    (void)state;
    /* An operator submits and the task completes. */
    assert_int_equal(cli(0, url, ca, "submit", "--kind", "noop", "--wait",
                         NULL, &out), 0);
    free(out);
    /* Node 2's credentials cannot command node 1 (nodes/1/cmd is
     * operator-only): the request is dropped, no reply comes, exit 1, and
     * node 1 stays online. */
    assert_int_equal(cli(2, url, ca, "fail", "1", "--timeout-ms", "2000",
                         NULL, NULL), 1);
    dxh_sleep_ms(1500);
    assert_true(node1_online());
    assert_true(formed(NULL));
}

static void test_pass(void **state)
{
    (void)state;
    dxh_pass(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_forms),
        cmocka_unit_test(test_no_password_in_ps_or_logs),
        cmocka_unit_test(test_node2_cannot_impersonate_node1),
        cmocka_unit_test(test_wrong_password_refused),
        cmocka_unit_test(test_tls_failures),
        cmocka_unit_test(test_operator_submits_node_cannot_command),
        cmocka_unit_test(test_pass),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
