/*
 * commands.c - status, leader, events, fail, hang, recover, drain,
 * undrain (the task commands are in tasks.c, the file commands in dfs.c),
 * and cli_run_command, which dispatches every command, including shell
 * (shell.c), watch (watch.c) and demo (demo.c).
 *
 * status reads four documented topics: every node's retained state (birth
 * or will), the heartbeats (load, and their age as this CLI sees them),
 * the retained leader, and the leader's retained membership view, which
 * says which detector failed a node (its will, or a heartbeat timeout that
 * only the agents' clocks can measure).  One row per node id, always.
 */
#include "commands.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cli_parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* ---- status ---- */

typedef struct row {
    uint16_t id;
    char name[DX_NAME_MAX + 1];
    const char *state;       /* online, failed, offline */
    const char *why;         /* will, timeout, shutdown, "" */
    uint64_t epoch;
    bool has_hb;
    dx_msg_heartbeat hb;
    int64_t hb_at;
} row;

typedef struct view {
    row rows[DX_VIEW_MAX];
    size_t n;
    bool has_leader;
    dx_msg_leader leader;
    bool has_members;
    dx_msg_members members;
} view;

static row *row_of(view *v, uint16_t id)
{
    for (size_t i = 0; i < v->n; i++)
        if (v->rows[i].id == id)
            return &v->rows[i];
    if (v->n == DX_VIEW_MAX)
        return NULL;
    memset(&v->rows[v->n], 0, sizeof v->rows[0]);
    v->rows[v->n].id = id;
    v->rows[v->n].state = "unknown";
    v->rows[v->n].why = "";
    return &v->rows[v->n++];
}

static int by_id(const void *a, const void *b)
{
    return (int)((const row *)a)->id - (int)((const row *)b)->id;
}

static const char *view_state(dx_view_state s)
{
    return s == DX_VIEW_ONLINE ? "online" : s == DX_VIEW_FAILED ? "failed"
                                                                 : "offline";
}

static const char *view_why(dx_view_why w)
{
    static const char *n[] = {"", "will", "timeout", "shutdown"};
    return (unsigned)w < 4 ? n[w] : "";
}

/* Folds every message received into the view. */
static void build_view(cli *c, view *v)
{
    for (const cli_msg *m = cli_messages(c); m != NULL; m = m->next) {
        row *r;
        if (m->plen == 0)
            continue;
        switch (m->ref.kind) {
        case DX_T_NODE_STATE: {
            dx_msg_state st;
            if (dx_msg_state_decode(m->payload, m->plen, &st, NULL) != 0 ||
                (r = row_of(v, st.id)) == NULL || st.epoch < r->epoch)
                break;
            r->epoch = st.epoch;
            if (st.name[0])
                memcpy(r->name, st.name, sizeof r->name);
            if (st.state == DX_WIRE_ONLINE) {
                r->state = "online";
                r->why = "";
            } else if (strcmp(st.reason, "shutdown") == 0) {
                r->state = "offline";
                r->why = "shutdown";
            } else {
                r->state = "failed";
                r->why = "will";
            }
            break;
        }
        case DX_T_NODE_HEARTBEAT: {
            dx_msg_heartbeat hb;
            if (dx_msg_heartbeat_decode(m->payload, m->plen, &hb, NULL) != 0 ||
                (r = row_of(v, hb.id)) == NULL)
                break;
            r->has_hb = true;
            r->hb = hb;
            r->hb_at = m->at_ms;
            break;
        }
        case DX_T_LEADER:
            if (dx_msg_leader_decode(m->payload, m->plen, &v->leader, NULL) == 0)
                v->has_leader = true;
            break;
        case DX_T_MEMBERS:
            if (dx_msg_members_decode(m->payload, m->plen, &v->members,
                                      NULL) == 0)
                v->has_members = true;
            break;
        default:
            break;
        }
    }
    /* The leader's view knows what only a receiver's clock can tell: a
     * node that stopped heartbeating.  It wins for the same epoch. */
    if (v->has_members && (!v->has_leader || v->members.term >= v->leader.term))
        for (size_t i = 0; i < v->members.n; i++) {
            const dx_view_node *vn = &v->members.nodes[i];
            row *r = row_of(v, vn->id);
            if (r == NULL || vn->epoch < r->epoch)
                continue;
            if (vn->epoch > r->epoch || strcmp(r->state, "online") == 0) {
                r->state = view_state(vn->state);
                r->why = view_why(vn->why);
            }
            r->epoch = vn->epoch;
            if (!r->name[0])
                memcpy(r->name, vn->name, sizeof r->name);
        }
    qsort(v->rows, v->n, sizeof v->rows[0], by_id);
}

/* The leader, if the retained leader message names a node that is up. */
static uint16_t live_leader(view *v)
{
    if (!v->has_leader)
        return 0;
    for (size_t i = 0; i < v->n; i++)
        if (v->rows[i].id == v->leader.leader)
            return strcmp(v->rows[i].state, "online") == 0 ? v->leader.leader
                                                           : 0;
    return 0;
}

static void print_status_json(view *v, uint16_t leader, int64_t now)
{
    cJSON *root = cJSON_CreateObject(), *nodes;
    char *s;
    if (leader)
        cJSON_AddNumberToObject(root, "leader", leader);
    else
        cJSON_AddNullToObject(root, "leader");
    cJSON_AddNumberToObject(root, "term",
                            v->has_leader ? (double)v->leader.term : 0);
    nodes = cJSON_AddArrayToObject(root, "nodes");
    for (size_t i = 0; i < v->n; i++) {
        const row *r = &v->rows[i];
        cJSON *n = cJSON_CreateObject();
        cJSON_AddNumberToObject(n, "id", r->id);
        cJSON_AddStringToObject(n, "name", r->name);
        cJSON_AddStringToObject(n, "state", r->state);
        if (r->why[0])
            cJSON_AddStringToObject(n, "reason", r->why);
        else
            cJSON_AddNullToObject(n, "reason");
        cJSON_AddNumberToObject(n, "epoch", (double)r->epoch);
        cJSON_AddBoolToObject(n, "leader", r->id == leader);
        if (r->has_hb && strcmp(r->state, "online") == 0) {
            cJSON *l = cJSON_AddObjectToObject(n, "load");
            cJSON_AddNumberToObject(l, "cpu", r->hb.load.cpu_pct);
            cJSON_AddNumberToObject(l, "mem_free_kb",
                                    (double)r->hb.load.mem_free_kb);
            cJSON_AddNumberToObject(l, "mem_largest_kb",
                                    (double)r->hb.load.mem_largest_kb);
            cJSON_AddNumberToObject(l, "running", r->hb.load.running);
            cJSON_AddNumberToObject(l, "queued", r->hb.load.queued);
            cJSON_AddNumberToObject(l, "disk_free_kb",
                                    (double)r->hb.load.disk_free_kb);
            cJSON_AddNumberToObject(n, "heartbeat_age_ms",
                                    (double)(now - r->hb_at));
            cJSON_AddNumberToObject(n, "rejected", (double)r->hb.rejected);
        } else {
            cJSON_AddNullToObject(n, "load");
            cJSON_AddNullToObject(n, "heartbeat_age_ms");
            cJSON_AddNullToObject(n, "rejected");
        }
        cJSON_AddItemToArray(nodes, n);
    }
    s = cJSON_PrintUnformatted(root);
    if (s != NULL)
        puts(s);
    free(s);
    cJSON_Delete(root);
}

static void print_status_table(view *v, uint16_t leader, int64_t now)
{
    if (leader)
        printf("Leader: Node %u (term %" PRIu64 ")\n", leader, v->leader.term);
    else
        printf("Leader: none (an election is due)\n");
    if (v->n == 0) {
        printf("No nodes have announced themselves.\n");
        return;
    }
    printf("%-6s %-16s %-18s %6s %5s %10s %9s %7s %8s\n", "NODE", "NAME",
           "STATE", "EPOCH", "CPU", "MEM FREE", "RUN/QUEUE", "HB AGE",
           "REJECTED");
    for (size_t i = 0; i < v->n; i++) {
        const row *r = &v->rows[i];
        char state[32], id[8], cpu[8] = "-", mem[16] = "-", tasks[16] = "-",
             age[16] = "-", rej[16] = "-";
        snprintf(id, sizeof id, "%s%u", r->id == leader ? "*" : " ", r->id);
        snprintf(state, sizeof state, "%s%s%s%s", r->state,
                 r->why[0] ? " (" : "", r->why, r->why[0] ? ")" : "");
        if (r->has_hb && strcmp(r->state, "online") == 0) {
            snprintf(cpu, sizeof cpu, "%u%%", r->hb.load.cpu_pct);
            snprintf(mem, sizeof mem, "%.1f MiB",
                     (double)r->hb.load.mem_free_kb / 1024.0);
            snprintf(tasks, sizeof tasks, "%u/%u", r->hb.load.running,
                     r->hb.load.queued);
            snprintf(age, sizeof age, "%" PRId64 "ms", now - r->hb_at);
            snprintf(rej, sizeof rej, "%" PRIu64, r->hb.rejected);
        }
        printf("%-6s %-16s %-18s %6" PRIu64 " %5s %10s %9s %7s %8s\n", id,
               r->name, state, r->epoch, cpu, mem, tasks, age, rej);
    }
}

static bool never(const cli_msg *m, void *arg)
{
    (void)m, (void)arg;
    return false;
}

static int cmd_status(cli *c, const cli_opts *o)
{
    static view v;             /* large; one per process */
    static const dx_topic_kind kinds[] = {DX_T_NODE_STATE, DX_T_NODE_HEARTBEAT,
                                          DX_T_LEADER, DX_T_MEMBERS};
    char f[4][DX_TOPIC_MAX + 1];
    const char *fp[4];
    int64_t start = cli_now_ms(), window = 250;
    const cli_msg *cur = NULL;

    for (int i = 0; i < 4; i++) {
        dx_topic_filter(cli_topics(c), kinds[i], f[i], sizeof f[i]);
        fp[i] = f[i];
    }
    if (cli_subscribe(c, fp, 4) != 0)
        return 1;
    /* Retained messages come at once; then wait for one heartbeat of the
     * slowest node, so loads and heartbeat ages are real. */
    cli_settle(c, 100, 1000);
    for (const cli_msg *m = cli_messages(c); m != NULL; m = m->next) {
        dx_msg_state st;
        if (m->ref.kind == DX_T_NODE_STATE && m->plen > 0 &&
            dx_msg_state_decode(m->payload, m->plen, &st, NULL) == 0 &&
            st.state == DX_WIRE_ONLINE && st.heartbeat_ms > window)
            window = st.heartbeat_ms;
    }
    window = window + window / 2 + 50;
    if (window > o->timeout_ms)
        window = o->timeout_ms;
    if (cli_now_ms() < start + window)
        (void)cli_wait(c, never, NULL, (int)(start + window - cli_now_ms()),
                       &cur);

    memset(&v, 0, sizeof v);
    build_view(c, &v);
    if (o->json)
        print_status_json(&v, live_leader(&v), cli_now_ms());
    else
        print_status_table(&v, live_leader(&v), cli_now_ms());
    return 0;
}

/* ---- leader ---- */

static bool is_leader_msg(const cli_msg *m, void *arg)
{
    (void)arg;
    return m->ref.kind == DX_T_LEADER;
}

static int cmd_leader(cli *c, const cli_opts *o)
{
    const cli_msg *cur = NULL, *m;
    dx_msg_leader l;
    bool ok;

    if (cli_subscribe_kind(c, DX_T_LEADER) != 0)
        return 1;
    m = cli_wait(c, is_leader_msg, NULL, 1000, &cur);
    ok = m != NULL && m->plen > 0 &&
         dx_msg_leader_decode(m->payload, m->plen, &l, NULL) == 0;
    if (o->json) {
        if (ok)
            printf("{\"leader\":%u,\"term\":%" PRIu64 "}\n", l.leader, l.term);
        else
            printf("{\"leader\":null,\"term\":0}\n");
    } else if (ok) {
        printf("Leader is Node %u (term %" PRIu64 ")\n", l.leader, l.term);
    } else {
        printf("No leader has been elected\n");
    }
    return 0;
}

/* ---- events ---- */

static bool is_event(const cli_msg *m, void *arg)
{
    (void)arg;
    return m->ref.kind == DX_T_EVENTS;
}

static int cmd_events(cli *c, const cli_opts *o, int argc, char **argv)
{
    long count = -1, seen = 0;
    const cli_msg *cur = NULL, *m;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--count") == 0 && i + 1 < argc &&
            cli_parse_long(argv[i + 1], 1, 1000000, &count) == 0) {
            i++;
            continue;
        }
        fprintf(stderr, "distribux events: unexpected '%s' (usage: events "
                "[--count N])\n", argv[i]);
        return 2;
    }
    if (cli_subscribe_kind(c, DX_T_EVENTS) != 0)
        return 1;
    fflush(stdout);
    while (count < 0 || seen < count) {
        dx_msg_event e;
        m = cli_wait(c, is_event, NULL, count < 0 ? 3600000 : o->timeout_ms,
                     &cur);
        if (m == NULL) {
            if (count < 0)
                continue;
            fprintf(stderr, "distribux events: %ld of %ld events within %d "
                    "ms\n", seen, count, o->timeout_ms);
            return 1;
        }
        if (dx_msg_event_decode(m->payload, m->plen, &e, NULL) != 0)
            continue;
        seen++;
        if (o->json) {
            printf("%s\n", m->payload);
        } else {
            char ts[16] = "";
            time_t t = (time_t)(e.ts_ms / 1000);
            struct tm tm;
            localtime_r(&t, &tm);
            strftime(ts, sizeof ts, "%H:%M:%S", &tm);
            printf("%s.%03d %s\n", ts, (int)(e.ts_ms % 1000), e.text);
        }
        fflush(stdout);
    }
    return 0;
}

/* ---- fail, hang, recover, drain, undrain ---- */

static int cmd_node(cli *c, const cli_opts *o, dx_cmd_type cmd, int argc,
                    char **argv)
{
    long id, secs = 0;
    const char *name = dx_cmd_name(cmd);
    bool timed = cmd == DX_CMD_FAIL || cmd == DX_CMD_HANG;
    int rc;

    if (argc < 2 || cli_parse_long(argv[1], 1, 65535, &id) != 0) {
        fprintf(stderr, "distribux %s: expected a node id 1..65535\n", name);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        if (timed && strcmp(argv[i], "--for") == 0 &&
            i + 1 < argc && cli_parse_long(argv[i + 1], 1, 86400, &secs) == 0) {
            i++;
            continue;
        }
        fprintf(stderr, "distribux %s: unexpected '%s' (usage: %s N%s)\n",
                name, argv[i], name, timed ? " [--for SECONDS 1..86400]" : "");
        return 2;
    }
    rc = cli_node_command(c, (uint16_t)id, cmd, (uint32_t)secs * 1000u);
    if (rc == 0) {
        if (o->json)
            printf("{\"node\":%ld,\"cmd\":\"%s\",\"ok\":true}\n", id, name);
        else if (cmd == DX_CMD_RECOVER)
            printf("Node %ld is recovering\n", id);
        else if (cmd == DX_CMD_DRAIN)
            printf("Node %ld is draining: no new tasks, its queued tasks move "
                   "away\n", id);
        else if (cmd == DX_CMD_UNDRAIN)
            printf("Node %ld takes tasks again\n", id);
        else if (secs > 0)
            printf("Node %ld: %s for %ld s\n", id, name, secs);
        else
            printf("Node %ld: %s until 'distribux recover %ld'\n", id, name,
                   id);
    }
    return rc;
}

int cli_run_command(const cli_opts *opts, int argc, char **argv)
{
    static const struct {
        const char *name;
        dx_cmd_type cmd;
    } node_cmds[] = {{"fail", DX_CMD_FAIL}, {"hang", DX_CMD_HANG},
                     {"recover", DX_CMD_RECOVER}, {"drain", DX_CMD_DRAIN},
                     {"undrain", DX_CMD_UNDRAIN}};
    const size_t n_node_cmds = sizeof node_cmds / sizeof node_cmds[0];
    const char *name = argv[0];
    cli_opts oo = *opts;
    const cli_opts *o = &oo;
    cli *c;
    int rc;
    bool known = strcmp(name, "status") == 0 || strcmp(name, "leader") == 0 ||
                 strcmp(name, "events") == 0;

    /* These run many commands (or connections) in one process. */
    oo.one_shot = false;
    if (strcmp(name, "shell") == 0)
        return cli_shell(o, argc, argv);
    if (strcmp(name, "watch") == 0)
        return cli_watch(o, argc, argv);
    if (strcmp(name, "demo") == 0)
        return cli_demo(o, argc, argv);
    oo.one_shot = opts->one_shot;
    if ((rc = cli_task_command(o, argc, argv)) >= 0)
        return rc;
    if ((rc = cli_dfs_command(o, argc, argv)) >= 0)
        return rc;
    if (oo.timeout_ms <= 0)
        oo.timeout_ms = 3000;
    for (size_t i = 0; i < n_node_cmds; i++)
        known = known || strcmp(name, node_cmds[i].name) == 0;
    if (!known) {
        fprintf(stderr, "distribux: unknown command '%s' (see --help)\n",
                name);
        return 2;
    }
    if ((strcmp(name, "status") == 0 || strcmp(name, "leader") == 0) &&
        argc > 1) {
        fprintf(stderr, "distribux %s: unexpected '%s'\n", name, argv[1]);
        return 2;
    }
    if ((c = cli_connect(o)) == NULL)
        return 1;
    if (strcmp(name, "status") == 0)
        rc = cmd_status(c, o);
    else if (strcmp(name, "leader") == 0)
        rc = cmd_leader(c, o);
    else if (strcmp(name, "events") == 0)
        rc = cmd_events(c, o, argc, argv);
    for (size_t i = 0; i < n_node_cmds && rc < 0; i++)
        if (strcmp(name, node_cmds[i].name) == 0)
            rc = cmd_node(c, o, node_cmds[i].cmd, argc, argv);
    cli_close(&c);
    return rc;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "distribux %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 2;
}

void cli_print_json(struct cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    if (s != NULL)
        puts(s);
    free(s);
    cJSON_Delete(j);
}

const char *cli_wall_text(int64_t ms, char buf[CLI_WALL_TEXT_MAX])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    size_t w;
    if (ms <= 0)
        return "-";
    localtime_r(&t, &tm);
    w = strftime(buf, CLI_WALL_TEXT_MAX, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf + w, CLI_WALL_TEXT_MAX - w, ".%03d", (int)(ms % 1000));
    return buf;
}
