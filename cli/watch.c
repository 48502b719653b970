/*
 * watch.c - `distribux watch`: a live, top-like view of the cluster.
 *
 * One connection subscribes to the documented topics the view needs: the
 * retained node states and the leader's membership view (who is online,
 * failed or offline), the heartbeats (CPU, the task memory pool, running
 * and queued tasks, and their age as this CLI sees them), the retained
 * leader, the events, and the DFS metadata ({root}/dfs/files/#: how many
 * files, their bytes, how many are under-replicated).  Messages are taken
 * off the client's list as they are folded into the view (cli_take), so
 * memory stays flat however long the view runs.
 *
 * A frame is drawn when something changed, at most every --interval-ms
 * (default 200), and at least once a second (heartbeat ages move).  On a
 * terminal the view uses the alternate screen with the cursor hidden and
 * reads keys without echo (termios, no canonical mode); `q` quits, and the
 * terminal is restored on every way out: q, SIGINT, SIGTERM, and exit()
 * (an atexit hook).  --once collects for ONCE_MS, prints one frame without
 * escapes to stdout (any file or pipe) and exits 0.
 *
 * Cost: per message a decode and a linear search over at most DX_VIEW_MAX
 * nodes or the known files; a DFS metadata payload (up to 512 KiB) is
 * decoded into one heap buffer reused for every file.
 */
#include "commands.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "dx_dfs.h"

#define ONCE_MS 1000
#define INTERVAL_DEFAULT_MS 200
#define REDRAW_MS 1000
#define EVENTS_SHOWN 8
#define BAR_CELLS 10

typedef struct w_node {
    uint16_t id;
    char name[DX_NAME_MAX + 1];
    const char *state;           /* online, failed, offline */
    uint64_t epoch;
    uint64_t pool_kb;            /* from the birth: the task memory pool */
    bool has_hb;
    dx_msg_heartbeat hb;
    int64_t hb_at;
} w_node;

typedef struct w_file {
    char name[DX_DFS_NAME_MAX + 1];
    uint64_t size;
    bool under;
} w_file;

typedef struct w_view {
    w_node nodes[DX_VIEW_MAX];
    size_t n;
    bool has_leader;
    dx_msg_leader leader;
    w_file *files;
    size_t n_files, cap_files;
    dx_dfs_file *meta;           /* decode buffer */
    dx_msg_members members;      /* decode buffer */
    char events[EVENTS_SHOWN][DX_TEXT_MAX + 32];
    size_t n_events;             /* total ever; events[n % SHOWN] */
} w_view;

/* ---- the view ---- */

static w_node *node_of(w_view *v, uint16_t id)
{
    for (size_t i = 0; i < v->n; i++)
        if (v->nodes[i].id == id)
            return &v->nodes[i];
    if (v->n == DX_VIEW_MAX)
        return NULL;
    memset(&v->nodes[v->n], 0, sizeof v->nodes[0]);
    v->nodes[v->n].id = id;
    v->nodes[v->n].state = "unknown";
    return &v->nodes[v->n++];
}

static void on_state(w_view *v, const cli_msg *m)
{
    dx_msg_state st;
    w_node *r;
    if (m->plen == 0 ||
        dx_msg_state_decode(m->payload, m->plen, &st, NULL) != 0 ||
        (r = node_of(v, st.id)) == NULL || st.epoch < r->epoch)
        return;
    r->epoch = st.epoch;
    if (st.name[0])
        memcpy(r->name, st.name, sizeof r->name);
    if (st.state == DX_WIRE_ONLINE) {
        r->state = "online";
        r->pool_kb = st.pool_kb;
    } else {
        r->state = strcmp(st.reason, "shutdown") == 0 ? "offline" : "failed";
    }
}

/* The leader's view knows what only a receiver's clock can tell (a node
 * that stopped heartbeating); it wins for the same epoch. */
static void on_members(w_view *v, const cli_msg *m)
{
    const dx_msg_members *mm = &v->members;
    if (m->plen == 0 ||
        dx_msg_members_decode(m->payload, m->plen, &v->members, NULL) != 0)
        return;
    for (size_t i = 0; i < mm->n; i++) {
        const dx_view_node *vn = &mm->nodes[i];
        w_node *r = node_of(v, vn->id);
        if (r == NULL || vn->epoch < r->epoch)
            continue;
        if (vn->epoch > r->epoch || strcmp(r->state, "online") == 0)
            r->state = vn->state == DX_VIEW_ONLINE   ? "online"
                       : vn->state == DX_VIEW_FAILED ? "failed"
                                                     : "offline";
        r->epoch = vn->epoch;
        if (!r->name[0])
            memcpy(r->name, vn->name, sizeof r->name);
    }
}

static void on_file(w_view *v, const cli *c, const cli_msg *m)
{
    dx_dfs_ref ref;
    size_t i;
    dx_dfs_file *f = v->meta;

    if (dx_dfs_topic_parse(cli_topics(c), m->topic, m->tlen, &ref, NULL) !=
            0 || ref.kind != DX_DFS_T_FILE)
        return;
    for (i = 0; i < v->n_files; i++)
        if (strcmp(v->files[i].name, ref.name) == 0)
            break;
    if (m->plen == 0 ||
        dx_dfs_file_decode(m->payload, m->plen, f, NULL) != 0) {
        if (i < v->n_files)          /* removed (or no longer readable) */
            v->files[i] = v->files[--v->n_files];
        return;
    }
    if (i == v->n_files) {
        if (v->n_files == v->cap_files) {
            size_t cap = v->cap_files ? 2 * v->cap_files : 64;
            w_file *nf = realloc(v->files, cap * sizeof *nf);
            if (nf == NULL)
                return;
            v->files = nf;
            v->cap_files = cap;
        }
        memcpy(v->files[v->n_files].name, ref.name, sizeof ref.name);
        v->n_files++;
    }
    v->files[i].size = f->size;
    v->files[i].under = f->under_replicated;
    for (uint32_t k = 0; k < f->n_chunks; k++)
        if (f->chunks[k].n < f->replicas)
            v->files[i].under = true;
}

static void on_event(w_view *v, const cli_msg *m)
{
    dx_msg_event e;
    char ts[16] = "";
    time_t t;
    struct tm tm;

    if (dx_msg_event_decode(m->payload, m->plen, &e, NULL) != 0)
        return;
    t = (time_t)(e.ts_ms / 1000);
    localtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%H:%M:%S", &tm);
    snprintf(v->events[v->n_events % EVENTS_SHOWN], sizeof v->events[0],
             "%s %s", ts, e.text);
    v->n_events++;
}

/* Folds one message into the view; returns whether it mattered. */
static bool apply(w_view *v, const cli *c, const cli_msg *m)
{
    w_node *r;
    switch (m->ref.kind) {
    case DX_T_NODE_STATE:
        on_state(v, m);
        return true;
    case DX_T_NODE_HEARTBEAT: {
        dx_msg_heartbeat hb;
        if (dx_msg_heartbeat_decode(m->payload, m->plen, &hb, NULL) != 0 ||
            (r = node_of(v, hb.id)) == NULL)
            return false;
        r->has_hb = true;
        r->hb = hb;
        r->hb_at = m->at_ms;
        return true;
    }
    case DX_T_LEADER:
        v->has_leader = m->plen > 0 &&
            dx_msg_leader_decode(m->payload, m->plen, &v->leader, NULL) == 0;
        return true;
    case DX_T_MEMBERS:
        on_members(v, m);
        return true;
    case DX_T_EVENTS:
        on_event(v, m);
        return true;
    default:
        on_file(v, c, m);
        return true;
    }
}

/* ---- drawing ---- */

typedef struct frame {
    char *buf;
    size_t len, cap;
    int cols;                    /* cut lines to this width; 0 = no cut */
    size_t line_start;
} frame;

static void put(frame *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void put(frame *f, const char *fmt, ...)
{
    va_list ap;
    int n;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(f->buf + f->len, f->cap - f->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < f->cap - f->len)
            break;
        {
            size_t cap = f->cap * 2 + (size_t)n;
            char *nb = realloc(f->buf, cap);
            if (nb == NULL)
                return;
            f->buf = nb;
            f->cap = cap;
        }
    }
    f->len += (size_t)n;
}

/* Ends a line, cut to the terminal's width (the escape sequence "\033[K"
 * clears what an older, longer frame left there). */
static void endl(frame *f, bool tty)
{
    if (f->cols > 0 && f->len - f->line_start > (size_t)f->cols - 1)
        f->len = f->line_start + (size_t)f->cols - 1;
    put(f, "%s\n", tty ? "\033[K" : "");
    f->line_start = f->len;
}

static void bar(frame *f, uint64_t used, uint64_t total)
{
    char b[BAR_CELLS + 1];
    uint64_t cells = total > 0 ? (used * BAR_CELLS + total / 2) / total : 0;
    if (cells > BAR_CELLS)
        cells = BAR_CELLS;
    for (uint64_t i = 0; i < BAR_CELLS; i++)
        b[i] = i < cells ? '#' : '.';
    b[BAR_CELLS] = '\0';
    put(f, "[%s] %3" PRIu64 "%%", b,
        total > 0 ? (used * 100 + total / 2) / total : 0);
}

static int by_id(const void *a, const void *b)
{
    return (int)((const w_node *)a)->id - (int)((const w_node *)b)->id;
}

static void human(char *buf, size_t cap, uint64_t bytes)
{
    if (bytes < 1024)
        snprintf(buf, cap, "%" PRIu64 " B", bytes);
    else if (bytes < 1024 * 1024)
        snprintf(buf, cap, "%.1f KiB", (double)bytes / 1024.0);
    else if (bytes < 1024ull * 1024 * 1024)
        snprintf(buf, cap, "%.1f MiB", (double)bytes / 1048576.0);
    else
        snprintf(buf, cap, "%.1f GiB", (double)bytes / 1073741824.0);
}

static void draw(w_view *v, const cli *c, frame *f, bool tty)
{
    int64_t now = cli_now_ms();
    size_t online = 0, under = 0;
    uint64_t bytes = 0;
    uint16_t leader = 0;
    char ts[16], size[32];
    time_t t = time(NULL);
    struct tm tm;

    qsort(v->nodes, v->n, sizeof v->nodes[0], by_id);
    for (size_t i = 0; i < v->n; i++) {
        if (strcmp(v->nodes[i].state, "online") != 0)
            continue;
        online++;
        if (v->has_leader && v->nodes[i].id == v->leader.leader)
            leader = v->leader.leader;
    }
    localtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%H:%M:%S", &tm);
    f->len = f->line_start = 0;
    if (tty)
        put(f, "\033[H");
    put(f, "DistribuX watch  %s  %s", cli_topics(c)->root, ts);
    endl(f, tty);
    if (leader)
        put(f, "Leader: Node %u (term %" PRIu64 ")", leader, v->leader.term);
    else
        put(f, "Leader: none (an election is due)");
    put(f, "   Nodes: %zu (%zu online)", v->n, online);
    endl(f, tty);
    endl(f, tty);
    put(f, "%-6s %-14s %-8s %-17s %-17s %4s %6s %7s", "NODE", "NAME",
        "STATE", "CPU", "POOL USED", "RUN", "QUEUE", "HB AGE");
    endl(f, tty);
    for (size_t i = 0; i < v->n; i++) {
        const w_node *r = &v->nodes[i];
        put(f, "%s%-5u %-14.14s %-8s ", r->id == leader ? "*" : " ", r->id,
            r->name, r->state);
        if (r->has_hb && strcmp(r->state, "online") == 0) {
            uint64_t pool = r->pool_kb, free_kb = r->hb.load.mem_free_kb;
            bar(f, r->hb.load.cpu_pct, 100);
            put(f, " ");
            if (pool > 0)
                bar(f, free_kb < pool ? pool - free_kb : 0, pool);
            else
                put(f, "%-17s", "-");
            put(f, " %4u %6u %5" PRId64 "ms", r->hb.load.running,
                r->hb.load.queued, now - r->hb_at);
        } else {
            put(f, "%-17s %-17s %4s %6s %7s", "-", "-", "-", "-", "-");
        }
        endl(f, tty);
    }
    if (v->n == 0) {
        put(f, "No nodes have announced themselves.");
        endl(f, tty);
    }
    endl(f, tty);
    for (size_t i = 0; i < v->n_files; i++) {
        bytes += v->files[i].size;
        under += v->files[i].under;
    }
    human(size, sizeof size, bytes);
    put(f, "DFS: %zu file%s, %s, %zu under-replicated", v->n_files,
        v->n_files == 1 ? "" : "s", size, under);
    endl(f, tty);
    endl(f, tty);
    put(f, "Events:");
    endl(f, tty);
    {
        size_t n = v->n_events < EVENTS_SHOWN ? v->n_events : EVENTS_SHOWN;
        for (size_t k = v->n_events - n; k < v->n_events; k++) {
            put(f, "  %s", v->events[k % EVENTS_SHOWN]);
            endl(f, tty);
        }
        if (n == 0) {
            put(f, "  (none since the view opened)");
            endl(f, tty);
        }
    }
    if (tty) {
        put(f, "q: quit");
        endl(f, tty);
        put(f, "\033[J");
    }
}

/* ---- the terminal ---- */

/* What atexit and the signal handlers need: file-local by necessity (a
 * handler has no argument), set only while the view owns the terminal. */
static struct termios saved_tio;
static volatile sig_atomic_t term_active, stop_signal;

static void term_restore(void)
{
    static const char seq[] = "\033[?25h\033[?1049l";
    if (!term_active)
        return;
    term_active = 0;
    (void)tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_tio);
    if (write(STDOUT_FILENO, seq, sizeof seq - 1) < 0)
        return;
}

static void on_signal(int sig)
{
    (void)sig;
    stop_signal = 1;
}

static int term_enter(void)
{
    static const char seq[] = "\033[?1049h\033[?25l\033[H\033[2J";
    static bool hooked;
    struct termios raw;

    if (tcgetattr(STDIN_FILENO, &saved_tio) != 0)
        return -1;
    raw = saved_tio;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    if (!hooked) {
        atexit(term_restore);
        hooked = true;
    }
    if (tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) != 0)
        return -1;
    term_active = 1;
    if (write(STDOUT_FILENO, seq, sizeof seq - 1) < 0)
        return -1;
    return 0;
}

/* Whether `q` was pressed (keys are read and dropped). */
static bool quit_key(void)
{
    struct pollfd p = {STDIN_FILENO, POLLIN, 0};
    char k[16];
    ssize_t n;
    if (poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN))
        return false;
    if ((n = read(STDIN_FILENO, k, sizeof k)) <= 0)
        return n == 0;           /* EOF on stdin: nobody can press q */
    for (ssize_t i = 0; i < n; i++)
        if (k[i] == 'q' || k[i] == 'Q')
            return true;
    return false;
}

static int term_cols(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
        return ws.ws_col;
    return 0;
}

static void write_all(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(STDOUT_FILENO, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        buf += w;
        len -= (size_t)w;
    }
}

/* ---- the command ---- */

static int subscribe_all(cli *c)
{
    static const dx_topic_kind kinds[] = {DX_T_NODE_STATE, DX_T_NODE_HEARTBEAT,
                                          DX_T_LEADER, DX_T_MEMBERS,
                                          DX_T_EVENTS};
    char f[6][DX_DFS_TOPIC_MAX + 1];
    const char *fp[6];
    for (size_t i = 0; i < 5; i++) {
        dx_topic_filter(cli_topics(c), kinds[i], f[i], sizeof f[i]);
        fp[i] = f[i];
    }
    dx_dfs_filter_files(cli_topics(c), f[5], sizeof f[5]);
    fp[5] = f[5];
    return cli_subscribe(c, fp, 6);
}

int cli_watch(const cli_opts *opts, int argc, char **argv)
{
    cli_opts o = *opts;
    bool once = false;
    long interval = INTERVAL_DEFAULT_MS;
    w_view *v = NULL;
    frame f = {NULL, 0, 0, 0, 0};
    cli *c = NULL;
    int rc = 0;
    struct sigaction sa, old_int, old_term;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--once") == 0) {
            once = true;
        } else if (strcmp(argv[i], "--interval-ms") == 0 && i + 1 < argc &&
                   cli_parse_long(argv[i + 1], 10, 60000, &interval) == 0) {
            i++;
        } else {
            fprintf(stderr, "distribux watch: unexpected '%s' (usage: watch "
                    "[--once] [--interval-ms 10..60000])\n", argv[i]);
            return 2;
        }
    }
    if (!once && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))) {
        fprintf(stderr, "distribux watch: needs a terminal (use --once for "
                "one frame)\n");
        return 2;
    }
    if (o.timeout_ms <= 0)
        o.timeout_ms = 3000;
    if ((v = calloc(1, sizeof *v)) == NULL ||
        (v->meta = malloc(sizeof *v->meta)) == NULL ||
        (f.buf = malloc(f.cap = 16384)) == NULL) {
        rc = 1;
        goto cleanup;
    }
    if ((c = cli_connect(&o)) == NULL || subscribe_all(c) != 0) {
        rc = 1;
        goto cleanup;
    }

    if (once) {
        int64_t end = cli_now_ms() + ONCE_MS;
        for (int64_t now; (now = cli_now_ms()) < end;) {
            cli_msg *m = cli_take(c, NULL, NULL, (int)(end - now));
            if (m != NULL) {
                apply(v, c, m);
                free(m);
            }
        }
        draw(v, c, &f, false);
        fwrite(f.buf, 1, f.len, stdout);
        fflush(stdout);
        goto cleanup;
    }

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    stop_signal = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    fflush(stdout);
    if (term_enter() != 0) {
        term_restore();
        fprintf(stderr, "distribux watch: cannot set up the terminal\n");
        rc = 1;
    } else {
        int64_t last = cli_now_ms();   /* retained messages first */
        bool dirty = true;
        while (!stop_signal && !quit_key()) {
            int64_t now;
            cli_msg *m = cli_take(c, NULL, NULL, 50);
            if (m != NULL) {
                dirty = apply(v, c, m) || dirty;
                free(m);
            }
            now = cli_now_ms();
            if ((dirty && now - last >= interval) || now - last >= REDRAW_MS) {
                f.cols = term_cols();
                draw(v, c, &f, true);
                write_all(f.buf, f.len);
                last = now;
                dirty = false;
            }
        }
        term_restore();
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
cleanup:
    cli_close(&c);
    if (v != NULL) {
        free(v->files);
        free(v->meta);
    }
    free(v);
    free(f.buf);
    return rc;
}
