/*
 * test_cli_it.c - the distribux CLI against a real Mosquitto and real
 * agents: status (table and JSON), leader, events, and its errors.
 *
 * The helpers (it_*) live in test_membership_it.c; see its header.
 */
#define IT_NAME "cli"
#define IT_HELPERS_ONLY
#include "test_membership_it.c"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* The id of a status table row (" 2     node-2 ..." or "*3 ..."), with
 * *star set; 0 for other lines. */
static unsigned row_id(const char *line, bool *star)
{
    *star = line[0] == '*';
    unsigned id = 0;
    return (line[0] == '*' || line[0] == ' ') &&
                   sscanf(line + 1, "%u", &id) == 1
               ? id
               : 0;
}

static void expect_key(const cJSON *o, const char *key,
                       cJSON_bool (*is)(const cJSON *))
{
    char text[512] = "";
    if (!is(cJSON_GetObjectItemCaseSensitive(o, key))) {
        (void)cJSON_PrintPreallocated((cJSON *)o, text, sizeof text, 0);
        fail_msg("key '%s' missing or of the wrong type in %s", key, text);
    }
}

/* status (table and --json), leader (text and --json). */
static void test_status_and_leader(void **state)
{
    it *t = *state;
    uint64_t term = it_cluster(t, 3);
    char *out = NULL, want[64];

    assert_int_equal(it_cli(t, &out, NULL, "status", NULL), 0);
    printf("%s", out);
    snprintf(want, sizeof want, "Leader: Node 3 (term %" PRIu64 ")", term);
    assert_non_null(strstr(out, want));
    int rows[4] = {0}, nrows = 0;
    for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        bool star;
        unsigned id = row_id(line, &star);
        if (id == 0)
            continue;
        assert_in_range(id, 1, 3);
        rows[id]++;
        nrows++;
        assert_int_equal(star, id == 3);
        assert_non_null(strstr(line, "online"));
    }
    free(out);
    assert_int_equal(nrows, 3); /* one row per node, no duplicates */
    assert_true(rows[1] == 1 && rows[2] == 1 && rows[3] == 1);

    cJSON *j = it_status_json(t);
    expect_key(j, "leader", cJSON_IsNumber);
    expect_key(j, "term", cJSON_IsNumber);
    expect_key(j, "nodes", cJSON_IsArray);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "leader")->valueint, 3);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "nodes")), 3);
    const cJSON *n;
    cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(j, "nodes"))
    {
        expect_key(n, "id", cJSON_IsNumber);
        expect_key(n, "name", cJSON_IsString);
        expect_key(n, "state", cJSON_IsString);
        expect_key(n, "epoch", cJSON_IsNumber);
        expect_key(n, "load", cJSON_IsObject);
        expect_key(n, "heartbeat_age_ms", cJSON_IsNumber);
    }
    cJSON_Delete(j);

    assert_int_equal(it_cli(t, &out, NULL, "leader", NULL), 0);
    snprintf(want, sizeof want, "Leader is Node 3 (term %" PRIu64 ")", term);
    assert_non_null(strstr(out, want));
    free(out);
    assert_int_equal(it_cli(t, &out, NULL, "--json", "leader", NULL), 0);
    j = cJSON_Parse(out);
    free(out);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "leader")->valueint, 3);
    assert_int_equal(
        (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, "term")),
        term);
    cJSON_Delete(j);
    dxh_pass(t->h);
}

/* events --count 1 returns after one event (a node killed). */
static void test_events_count(void **state)
{
    it *t = *state;
    (void)it_cluster(t, 3);
    char broker_log[512], needle[64];
    assert_int_equal(dxh_path(t->h, broker_log, sizeof broker_log,
                              "broker.log"), 0);
    long from = it_file_size(broker_log);
    const char *argv[] = {dxh_cli_bin(), "--broker", dxh_broker_url(t->h),
                          "--cluster", t->cluster, "--timeout-ms", "30000",
                          "events", "--count", "1", NULL};
    dxh_proc *ev = dxh_spawn(t->h, "events", argv, NULL);
    assert_non_null(ev);
    /* Its connection is in the broker's log; its subscription follows at
     * once, but cannot be seen: if the first event came too early, make
     * another (node 1 back, then down again). */
    snprintf(needle, sizeof needle, "as dx-cli-%d-", (int)dxh_proc_pid(ev));
    it_expect_in_file(broker_log, from, needle, IT_WAIT_MS);
    int status = -1;
    for (int i = 0; i < 4 && dxh_proc_wait(ev, 0, &status) != 0; i++) {
        uint64_t mark = dxh_obs_mark(t->obs);
        if (dxh_proc_is_running(dxh_agent(t->h, 1)))
            it_signal(t, 1, SIGKILL);
        else
            (void)it_agent(t, 1, NULL);
        (void)it_expect_event(t, mark, "Node 1 ", IT_WAIT_MS);
        (void)dxh_proc_wait(ev, 3000, &status);
    }
    assert_int_equal(status, 0);
    char *out = it_slurp(dxh_proc_log(ev), 0);
    printf("    events --count 1 printed: %s", out);
    assert_non_null(strstr(out, "Node 1 "));
    char *nl = strchr(out, '\n');
    assert_true(nl != NULL && nl[1] == '\0'); /* exactly one event */
    free(out);
    dxh_pass(t->h);
}

/* A port nobody listens on (0 on error). */
static int unused_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int s = socket(AF_INET, SOCK_STREAM, 0), port = 0;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0)
        close(s);
    return port;
}

/* No broker: a clear message within seconds; an unknown command: exit 2. */
static void test_errors(void **state)
{
    it *t = *state;
    char url[64], *err = NULL;
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", unused_port());
    int64_t t0 = dxh_now_ns();
    int code = it_cli(t, NULL, &err, "--broker", url, "status", NULL);
    double ms = it_ms_since(t0, dxh_now_ns());
    printf("    no broker: exit %d after %.0f ms: %s", code, ms, err);
    assert_int_not_equal(code, 0);
    assert_true(ms < 8000);
    assert_non_null(strstr(err, "cannot reach the broker"));
    free(err);
    assert_int_equal(it_cli(t, NULL, NULL, "frobnicate", NULL), 2);
    dxh_pass(t->h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_status_and_leader, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_events_count, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_errors, it_setup, it_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
