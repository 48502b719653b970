/*
 * test_topics_examples.c - the examples of topics/TOPICS.md, machine-checked.
 *
 * Every mosquitto_pub / mosquitto_sub line of the ```sh blocks runs against
 * a live three-agent cluster with the documented root distribux/plant (the
 * host gets the harness broker's port; subscribers get -C 1 and -W 2), and
 * must exit 0; a subscriber on a topic nobody publishes in those 2 s may
 * time out (exit 27), which is counted and printed.  Every payload given
 * with -m, and every line of the ```json blocks (under the topic of its
 * section), must decode with the codec of its topic kind.
 *
 * TOPICS.md is found through $DX_SOURCE_DIR, else the DX_SOURCE_DIR the
 * build defines, else this file's own path.  The helpers (it_*) live in
 * test_membership_it.c; see its header.
 */
#define IT_NAME "topics"
#define IT_HELPERS_ONLY
#include "test_membership_it.c"

#include "dx_dfs.h"

#define ROOT "distribux/plant"
#define SUB_TIMEOUT_S "2"
#define EXIT_SUB_TIMEOUT 27 /* mosquitto_sub -W ran out */
#define MAX_WORDS 40

/* Every line of TOPICS.md (malloc'd copy; lines[i] point into it). */
typedef struct doc {
    char *text;
    char **lines;
    size_t n;
} doc;

static void doc_load(doc *d)
{
    char path[1024];
    const char *src = getenv("DX_SOURCE_DIR");
#ifdef DX_SOURCE_DIR
    if (src == NULL || src[0] == '\0')
        src = DX_SOURCE_DIR;
#endif
    if (src != NULL && src[0] != '\0') {
        snprintf(path, sizeof path, "%s/topics/TOPICS.md", src);
    } else { /* this file is SRC/tests/integration/test_topics_examples.c */
        snprintf(path, sizeof path, "%s", __FILE__);
        char *cut = strstr(path, "tests/integration/");
        assert_non_null(cut);
        snprintf(cut, sizeof path - (size_t)(cut - path), "topics/TOPICS.md");
    }
    d->text = it_slurp(path, 0);
    if (d->text[0] == '\0')
        fail_msg("cannot read %s", path);
    size_t cap = 1024;
    d->lines = calloc(cap, sizeof *d->lines);
    assert_non_null(d->lines);
    d->n = 0;
    for (char *l = d->text; *l != '\0';) {
        char *nl = strchr(l, '\n');
        if (d->n == cap) {
            d->lines = realloc(d->lines, (cap *= 2) * sizeof *d->lines);
            assert_non_null(d->lines);
        }
        d->lines[d->n++] = l; /* lines[i] is line i + 1 */
        if (nl == NULL)
            break;
        *nl = '\0';
        l = nl + 1;
    }
}

static void doc_free(doc *d)
{
    free(d->text);
    free(d->lines);
}

/* The fence a line opens or closes: "sh", "json", "" (other) or NULL. */
static const char *fence(const char *line)
{
    if (strncmp(line, "```", 3) != 0)
        return NULL;
    return strcmp(line + 3, "sh") == 0 ? "sh" : strcmp(line + 3, "json") == 0 ? "json" : "";
}

/* Decodes payload with the codec of topic's kind; 0 or a DX_E... code with
 * *d saying why. */
static int decode_for_topic(const char *topic, const char *p, dx_diag *d)
{
    static union {
        dx_msg_state st;
        dx_msg_heartbeat hb;
        dx_msg_assign as;
        dx_msg_cmd cmd;
        dx_msg_election el;
        dx_msg_leader ld;
        dx_msg_members mb;
        dx_task_spec spec;
        dx_task_record rec;
        dx_msg_event ev;
        dx_msg_reply rp;
        dx_msg_reading rd;
        dx_msg_actuator act;
        dx_msg_report rep;
        dx_msg_request req;
    } u;
    static dx_dfs_file dfile;
    static dx_msg_replica repl;
    dx_topics tp;
    dx_topic_ref ref;
    dx_dfs_ref dref;
    size_t len = strlen(p);
    int rc = dx_topics_init(&tp, ROOT, NULL, d);
    if (rc == 0)
        rc = dx_topic_parse(&tp, topic, strlen(topic), &ref);
    if (rc == DX_ETOPIC &&
        dx_dfs_topic_parse(&tp, topic, strlen(topic), &dref, d) == 0) {
        dx_dfs_req rq;
        dx_dfs_stored st;
        dx_dfs_fetch fe;
        dx_dfs_bad bd;
        switch (dref.kind) {
        case DX_DFS_T_FILE: return dx_dfs_file_decode(p, len, &dfile, d);
        case DX_DFS_T_REQ: return dx_dfs_req_decode(p, len, &rq, d);
        case DX_DFS_T_STORED: return dx_dfs_stored_decode(p, len, &st, d);
        case DX_DFS_T_FETCH: return dx_dfs_fetch_decode(p, len, &fe, d);
        case DX_DFS_T_BAD: return dx_dfs_bad_decode(p, len, &bd, d);
        default:
            return dx_diag_set(d, DX_ETOPIC, "topic %s: no JSON payload",
                               topic);
        }
    }
    if (rc != 0)
        return dx_diag_set(d, rc, "topic %s: %s", topic, dx_strerror(rc));
    switch (ref.kind) {
    case DX_T_NODE_STATE: return dx_msg_state_decode(p, len, &u.st, d);
    case DX_T_NODE_HEARTBEAT: return dx_msg_heartbeat_decode(p, len, &u.hb, d);
    case DX_T_NODE_ASSIGN: return dx_msg_assign_decode(p, len, &u.as, d);
    case DX_T_NODE_CMD: return dx_msg_cmd_decode(p, len, &u.cmd, d);
    case DX_T_NODE_REPORT: return dx_msg_report_decode(p, len, &u.rep, d);
    case DX_T_ELECTION: return dx_msg_election_decode(p, len, &u.el, d);
    case DX_T_LEADER: return dx_msg_leader_decode(p, len, &u.ld, d);
    case DX_T_MEMBERS: return dx_msg_members_decode(p, len, &u.mb, d);
    case DX_T_TASK_SUBMIT: return dx_task_spec_decode(p, len, &u.spec, d);
    case DX_T_TASK_RECORD: return dx_task_record_decode(p, len, &u.rec, d);
    case DX_T_TASK_CANCEL: return dx_msg_request_decode(p, len, &u.req, d);
    case DX_T_TASK_REPLICA: return dx_msg_replica_decode(p, len, &repl, d);
    case DX_T_EVENTS: return dx_msg_event_decode(p, len, &u.ev, d);
    case DX_T_REPLY: return dx_msg_reply_decode(p, len, &u.rp, d);
    case DX_T_IO_SENSOR: return dx_msg_reading_decode(p, len, &u.rd, d);
    case DX_T_IO_ACT_SET:
    case DX_T_IO_ACT_STATE: return dx_msg_actuator_decode(p, len, &u.act, d);
    default: return dx_diag_set(d, DX_ETOPIC, "topic %s has no codec", topic);
    }
}

/* Splits a shell line into words (whitespace; '...' and "..." quoting; an
 * unquoted word starting with # begins a comment) written into buf. */
static size_t shell_words(const char *line, char *buf, size_t cap,
                          char *words[], size_t max)
{
    size_t n = 0, o = 0;
    const char *p = line;
    for (;;) {
        p += strspn(p, " \t");
        if (*p == '\0' || *p == '#' || n == max)
            return n;
        words[n++] = buf + o;
        while (*p != '\0' && *p != ' ' && *p != '\t' && o + 1 < cap) {
            char q = *p;
            if (q == '\'' || q == '"') {
                for (p++; *p != '\0' && *p != q && o + 1 < cap; p++) {
                    if (q == '"' && *p == '\\' && p[1] != '\0')
                        p++;
                    buf[o++] = *p;
                }
                if (*p == q)
                    p++;
            } else {
                buf[o++] = *p++;
            }
        }
        buf[o++] = '\0';
    }
}

/* The value after option opt in words, or NULL. */
static const char *opt_value(char *words[], size_t n, const char *opt)
{
    for (size_t i = 1; i + 1 < n; i++)
        if (strcmp(words[i], opt) == 0)
            return words[i + 1];
    return NULL;
}

/* argv for the harness broker: -p PORT after the host (or replacing a -p);
 * subscribers get -W 2 (replacing a -W) and -C 1 unless they have -C. */
static void rewrite(char *words[], size_t n, const char *port, bool sub,
                    const char *argv[])
{
    size_t k = 0;
    bool has_h = opt_value(words, n, "-h") != NULL;
    bool has_p = opt_value(words, n, "-p") != NULL;
    argv[k++] = words[0];
    if (!has_h) {
        argv[k++] = "-h";
        argv[k++] = "127.0.0.1";
    }
    if (!has_h || !has_p) {
        argv[k++] = "-p";
        argv[k++] = port;
    }
    for (size_t i = 1; i < n; i++) {
        argv[k++] = words[i];
        bool is_p = strcmp(words[i], "-p") == 0;
        bool is_w = sub && strcmp(words[i], "-W") == 0;
        if (i + 1 < n && (is_p || is_w)) {
            argv[k++] = is_p ? port : SUB_TIMEOUT_S;
            i++;
        }
    }
    if (sub && opt_value(words, n, "-W") == NULL) {
        argv[k++] = "-W";
        argv[k++] = SUB_TIMEOUT_S;
    }
    if (sub && opt_value(words, n, "-C") == NULL) {
        argv[k++] = "-C";
        argv[k++] = "1";
    }
    argv[k] = NULL;
}

/* Runs every mosquitto_pub/sub example against a live cluster. */
static void test_sh_examples(void **state)
{
    it *t = *state;
    char port[16], buf[2048], *words[MAX_WORDS];
    const char *argv[MAX_WORDS + 10];
    size_t runs = 0, payloads = 0, timeouts = 0, failures = 0;
    doc d;
    snprintf(port, sizeof port, "%d", dxh_broker_port(t->h));
    (void)it_cluster(t, 3);
    doc_load(&d);
    bool in_sh = false;
    for (size_t i = 0; i < d.n; i++) {
        const char *f = fence(d.lines[i]);
        if (f != NULL) {
            in_sh = !in_sh && strcmp(f, "sh") == 0;
            continue;
        }
        bool sub = strncmp(d.lines[i], "mosquitto_sub ", 14) == 0;
        if (!in_sh || (!sub && strncmp(d.lines[i], "mosquitto_pub ", 14) != 0))
            continue;
        size_t n = shell_words(d.lines[i], buf, sizeof buf, words, MAX_WORDS);
        const char *topic = opt_value(words, n, "-t");
        const char *payload = opt_value(words, n, "-m");
        dx_diag diag = {""};
        if (payload != NULL && topic != NULL) {
            payloads++;
            if (decode_for_topic(topic, payload, &diag) != 0) {
                printf("    line %zu: payload does not decode: %s\n", i + 1,
                       diag.msg);
                failures++;
            }
        }
        rewrite(words, n, port, sub, argv);
        int code = -1;
        if (dxh_run(t->h, argv, IT_WAIT_MS, NULL, NULL, &code) != 0)
            code = -1;
        runs++;
        bool timed_out = sub && code == EXIT_SUB_TIMEOUT;
        timeouts += timed_out;
        failures += code != 0 && !timed_out;
        printf("    line %3zu: exit %2d%s %s\n", i + 1, code,
               timed_out ? " (no message in " SUB_TIMEOUT_S " s)" : "",
               d.lines[i]);
    }
    doc_free(&d);
    printf("    %zu commands run, %zu -m payloads decoded, %zu subscribers "
           "timed out, %zu failures\n", runs, payloads, timeouts, failures);
    assert_true(runs >= 20);
    assert_true(payloads >= 5);
    assert_int_equal(failures, 0);
    dxh_pass(t->h);
}

/* "{root}/nodes/{id}/state" -> "distribux/plant/nodes/2/state". */
static void expand(const char *tmpl, char *out, size_t cap)
{
    static const char *const from[] = {"{root}", "{id}", "{task}", "{client}",
                                       "{name}", "{key}"};
    static const char *const to[] = {ROOT, "2", "t1", "ops-1", "valve2",
                                     "2000300"};
    size_t o = 0;
    while (*tmpl != '\0' && o + 1 < cap) {
        size_t k = 0;
        while (k < 6 && strncmp(tmpl, from[k], strlen(from[k])) != 0)
            k++;
        if (k < 6) {
            o += (size_t)snprintf(out + o, cap - o, "%s", to[k]);
            tmpl += strlen(from[k]);
        } else {
            out[o++] = *tmpl++;
        }
    }
    out[o < cap ? o : cap - 1] = '\0';
}

/* Every ```json example decodes with the codec of its section's topic. */
static void test_json_examples(void **state)
{
    (void)state;
    doc d;
    char topic[DX_TOPIC_MAX + 1] = "";
    size_t checked = 0, failures = 0;
    bool in_json = false;
    doc_load(&d);
    for (size_t i = 0; i < d.n; i++) {
        const char *l = d.lines[i], *f = fence(l), *tick;
        if (f != NULL) {
            in_json = !in_json && strcmp(f, "json") == 0;
        } else if (!in_json && l[0] == '#') {
            /* "## `{root}/...`" names the section's topic; the requests
             * and replies section shows replies. */
            if ((tick = strstr(l, "`{root}/")) != NULL) {
                char tmpl[DX_TOPIC_MAX + 1];
                snprintf(tmpl, sizeof tmpl, "%.*s", (int)strcspn(tick + 1, "`"),
                         tick + 1);
                expand(tmpl, topic, sizeof topic);
            } else if (strstr(l, "Requests and replies") != NULL) {
                expand("{root}/reply/{client}", topic, sizeof topic);
            } else if (strncmp(l, "## ", 3) == 0) {
                topic[0] = '\0';
            }
        } else if (in_json && l[0] != '\0') {
            dx_diag diag = {""};
            checked++;
            if (topic[0] == '\0' || decode_for_topic(topic, l, &diag) != 0) {
                printf("    line %zu (%s): %s\n      %s\n", i + 1,
                       topic[0] != '\0' ? topic : "no topic", diag.msg, l);
                failures++;
            }
        }
    }
    doc_free(&d);
    printf("    %zu JSON examples checked, %zu failures\n", checked, failures);
    assert_true(checked >= 15);
    assert_int_equal(failures, 0);
}

static int plant_setup(void **state)
{
    *state = it_new(IT_NAME, "plant");
    return *state != NULL ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_examples),
        cmocka_unit_test_setup_teardown(test_sh_examples, plant_setup,
                                        it_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
