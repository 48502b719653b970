/*
 * test_compose_it.c - compose/docker-compose.yml is valid, and every agent
 * command line in it is accepted by the real agent's option parser.
 *
 * `docker-compose -f compose/docker-compose.yml config` (Debian's
 * docker-compose 1.29) must exit 0; its output is the normalised YAML
 * (services sorted, `command:` and `entrypoint:` as block lists, one item a
 * line, quoted when YAML needs it), which a line-based reader takes apart.
 * A service whose entrypoint is distribux-agent is an agent; there must be
 * three, with ids 1..3, on tcp://broker:1883.
 *
 Each command line is run as `distribux-agent <args> --check-config`,
 * which parses and validates every option, prints "ok" and exits 0, without
 * touching the data directory or the broker.  A negative control (the first
 * agent's line with `--heartbeat-ms 0`) must be refused with exit code 2,
 * so the check can fail.
 *
 * Skipped (not passed) when docker-compose is not installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define ARGS_MAX 48
#define AGENTS_MAX 8

typedef struct service {
    char name[64];
    char *entry[4];
    size_t n_entry;
    char *cmd[ARGS_MAX];
    size_t n_cmd;
} service;

/* The value of `key:TYPE=` in BUILD/CMakeCache.txt, where BUILD holds
 * $DX_CLI's bin/. */
static int cache_value(const char *key, char *out, size_t cap)
{
    const char *cli = dxh_cli_bin();
    char path[1024], *text, *p;
    size_t n;

    if (cli == NULL)
        return -1;
    snprintf(path, sizeof path, "%s", cli);
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(path, '/');
        if (slash == NULL)
            return -1;
        *slash = '\0';
    }
    strncat(path, "/CMakeCache.txt", sizeof path - strlen(path) - 1);
    if ((text = dxh_read_file(path)) == NULL)
        return -1;
    for (p = text; p != NULL; p = strchr(p, '\n')) {
        p += *p == '\n';
        if (strncmp(p, key, strlen(key)) == 0 && p[strlen(key)] == ':') {
            const char *v = strchr(p, '=');
            if (v == NULL)
                break;
            n = strcspn(v + 1, "\r\n");
            snprintf(out, cap, "%.*s", (int)n, v + 1);
            free(text);
            return 0;
        }
    }
    free(text);
    return -1;
}

static const char *docker_compose(void)
{
    static const char *const paths[] = {"/usr/bin/docker-compose",
                                        "/usr/local/bin/docker-compose"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

/* A YAML scalar as docker-compose prints it: plain, 'single' ('' is a
 * quote) or "double" (simple escapes).  Returns a malloc'd string. */
static char *unquote(const char *s)
{
    size_t n = strlen(s), k = 0;
    char *out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    if (n >= 2 && s[0] == '\'' && s[n - 1] == '\'') {
        for (size_t i = 1; i + 1 < n; i++) {
            out[k++] = s[i];
            if (s[i] == '\'' && s[i + 1] == '\'')
                i++;
        }
    } else if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        for (size_t i = 1; i + 1 < n; i++)
            out[k++] = s[i] == '\\' && i + 2 < n ? s[++i] : s[i];
    } else {
        memcpy(out, s, n);
        k = n;
    }
    out[k] = '\0';
    return out;
}

/* Splits the normalised config into services (their entrypoint and
 * command lists).  Returns how many; the caller frees with free_services. */
static size_t parse_services(char *text, service *sv, size_t cap)
{
    size_t n = 0;
    bool in_services = false;
    char **list = NULL;
    size_t *count = NULL, max = 0;

    for (char *line = strtok(text, "\n"); line != NULL;
         line = strtok(NULL, "\n")) {
        size_t indent = strspn(line, " ");
        if (indent == 0) {
            in_services = strcmp(line, "services:") == 0;
            list = NULL;
            continue;
        }
        if (!in_services)
            continue;
        if (indent == 2 && line[strlen(line) - 1] == ':' && n < cap) {
            memset(&sv[n], 0, sizeof sv[n]);
            snprintf(sv[n].name, sizeof sv[n].name, "%.*s",
                     (int)(strlen(line) - 3), line + 2);
            n++;
            list = NULL;
        } else if (indent == 4 && n > 0 && strcmp(line + 4, "command:") == 0) {
            list = sv[n - 1].cmd;
            count = &sv[n - 1].n_cmd;
            max = ARGS_MAX;
        } else if (indent == 4 && n > 0 &&
                   strcmp(line + 4, "entrypoint:") == 0) {
            list = sv[n - 1].entry;
            count = &sv[n - 1].n_entry;
            max = 4;
        } else if (indent == 4 && list != NULL && strncmp(line + 4, "- ", 2) == 0) {
            if (*count < max)
                list[(*count)++] = unquote(line + 6);
        } else if (indent > 4 && list != NULL && *count > 0) {
            /* a long scalar folded onto the next line */
            char *prev = list[*count - 1], *joined;
            size_t need = strlen(prev) + strlen(line + indent) + 2;
            if ((joined = malloc(need)) != NULL) {
                snprintf(joined, need, "%s %s", prev, line + indent);
                free(prev);
                list[*count - 1] = joined;
            }
        } else if (indent <= 4) {
            list = NULL;
        }
    }
    return n;
}

static void free_services(service *sv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < sv[i].n_cmd; k++)
            free(sv[i].cmd[k]);
        for (size_t k = 0; k < sv[i].n_entry; k++)
            free(sv[i].entry[k]);
    }
}

/* Whether the agent's option parser accepts args: `--check-config`
 * parses and validates every option, prints "ok" and exits 0 (2 with one
 * line naming a bad option).  *code gets the exit code. */
static bool agent_accepts(dxh *h, const char *agent, char *const *args,
                          size_t n, int *code)
{
    const char *argv[ARGS_MAX + 4];
    char *out = NULL;
    size_t k = 0;
    bool ok;

    argv[k++] = agent;
    for (size_t i = 0; i < n && k < ARGS_MAX + 1; i++)
        argv[k++] = args[i];
    argv[k++] = "--check-config";
    argv[k] = NULL;
    *code = -1;
    ok = dxh_run(h, argv, 10000, &out, NULL, code) == 0 && *code == 0 &&
         out != NULL && strstr(out, "ok") != NULL;
    free(out);
    return ok;
}

static void test_compose_config(void **state)
{
    (void)state;
    const char *dc = docker_compose(), *agent = dxh_agent_bin();
    char src[512], file[1024], *out = NULL;
    service sv[16];
    size_t n, agents = 0;
    bool ids[4] = {false};
    int code = -1;
    dxh *h;

    if (dc == NULL) {
        print_message("docker-compose is not installed: skipping\n");
        skip();
    }
    if (agent == NULL) {
        print_message("DX_AGENT is not set: skipping\n");
        skip();
    }
    assert_int_equal(cache_value("CMAKE_HOME_DIRECTORY", src, sizeof src), 0);
    snprintf(file, sizeof file, "%s/compose/docker-compose.yml", src);
    h = dxh_create("compose");
    assert_non_null(h);

    assert_int_equal(dxh_runl(h, 60000, &out, &code, dc, "-f", file,
                              "config", NULL), 0);
    if (code != 0) {
        free(out);
        fail_msg("docker-compose -f %s config exited %d (see run.log in "
                 "the kept folder)", file, code);
    }
    assert_non_null(out);
    n = parse_services(out, sv, sizeof sv / sizeof sv[0]);
    free(out);
    assert_true(n >= 5);   /* broker, agent1..3, cli */

    for (size_t i = 0; i < n; i++) {
        long id = 0;
        bool broker = false;
        if (sv[i].n_entry == 0 ||
            strstr(sv[i].entry[0], "distribux-agent") == NULL)
            continue;
        agents++;
        for (size_t k = 0; k + 1 < sv[i].n_cmd; k++) {
            if (strcmp(sv[i].cmd[k], "--id") == 0)
                id = strtol(sv[i].cmd[k + 1], NULL, 10);
            if (strcmp(sv[i].cmd[k], "--broker") == 0)
                broker = strcmp(sv[i].cmd[k + 1], "tcp://broker:1883") == 0;
        }
        print_message("%s: distribux-agent", sv[i].name);
        for (size_t k = 0; k < sv[i].n_cmd; k++)
            print_message(" %s", sv[i].cmd[k]);
        print_message("\n");
        if (id < 1 || id > 3 || ids[id] || !broker) {
            free_services(sv, n);
            fail_msg("service %s: expected a distinct --id 1..3 and --broker "
                     "tcp://broker:1883", sv[i].name);
        }
        ids[id] = true;
        if (!agent_accepts(h, agent, sv[i].cmd, sv[i].n_cmd, &code)) {
            free_services(sv, n);
            fail_msg("distribux-agent ... --check-config refused the command "
                     "line of service %s (exit %d; its stderr is in run.log "
                     "in the kept folder)", sv[i].name, code);
        }
    }
    assert_int_equal(agents, 3);

    /* The negative control: the same check notices a refused option. */
    for (size_t i = 0; i < n; i++) {
        char *bad[ARGS_MAX + 2];
        size_t k;
        if (sv[i].n_entry == 0 ||
            strstr(sv[i].entry[0], "distribux-agent") == NULL)
            continue;
        for (k = 0; k < sv[i].n_cmd && k < ARGS_MAX; k++)
            bad[k] = sv[i].cmd[k];
        bad[k++] = "--heartbeat-ms";
        bad[k++] = "0";
        bool accepted = agent_accepts(h, agent, bad, k, &code);
        free_services(sv, n);
        assert_false(accepted);
        assert_int_equal(code, 2);
        dxh_pass(h);
        dxh_destroy(h);
        return;
    }
    free_services(sv, n);
    fail_msg("no agent service");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compose_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
