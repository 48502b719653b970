/*
 * demo.c - `distribux demo`: a whole cluster on this machine, driven
 * through the prototype's scenario, then the shell on the live cluster.
 *
 * Two processes.  The supervisor (the process the user started) makes a
 * temporary folder, starts Mosquitto from broker-config/dev.conf's
 * settings on a free loopback port and three agents, each in its own
 * process group (so a Ctrl-C at the terminal reaches only the demo) and
 * with PR_SET_PDEATHSIG (so they die with the supervisor even on kill -9).
 * It then forks the driver, which runs the scenario with the CLI's own
 * commands (cli_run_command) and opens the shell, and waits for it.
 * However the driver ends (success, a failed step, Ctrl-C, SIGTERM, a
 * crash) the supervisor stops everything it started (SIGTERM, SIGKILL
 * after 3 s) and removes the folder unless --keep.  The supervisor never
 * starts a thread, so forking it and PR_SET_PDEATHSIG are safe; the
 * driver is the only process that talks MQTT.
 *
 * Every step prints a header and the commands' usual output, then checks
 * what it expects, polling until the cluster gets there or a deadline
 * passes: `status` and `tasks` are run again with --json, their stdout
 * captured in a file and parsed; re-routing is read from the events, which
 * a `distribux events` process (started with the agents) writes to a file
 * that the driver shows after each step; the DFS metadata is read from its
 * retained topic.  The driver holds no MQTT connection between commands:
 * Paho shares one receive thread per process, and an idle second client
 * slows every other connection by a second or more.  `--no-shell` exits 0
 * only if every step behaved, else 1 naming the step, so the demo doubles
 * as an end-to-end test (tests/integration/test_demo_it.c).
 *
 * Cost: about 25 s, most of it the 4 s tasks and the commands' waits for
 * a heartbeat.
 * Limits: Linux (/proc/self/exe, prctl).  One demo per process.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include "commands.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dx_dfs.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

#define DEMO_NODES 3
#define DEMO_TASK_MS 4000        /* still running when `fail 2` lands */
#define DEMO_FILE "logs/demo.txt"
#define STOP_GRACE_MS 3000
#define BROKER_TRIES 6
#define BROKER_UP_MS 5000
#define LOG_TAIL_LINES 20

typedef struct demo {
    char self[PATH_MAX];         /* this program */
    char exe_dir[PATH_MAX];      /* its directory */
    char agent[PATH_MAX];        /* distribux-agent beside it */
    char mosquitto[PATH_MAX];
    char conf_src[PATH_MAX];     /* dev.conf */
    char dir[PATH_MAX];          /* the temporary folder */
    char broker[64];             /* tcp://127.0.0.1:PORT */
    const char *cluster;
    const char *root;            /* NULL: distribux/CLUSTER */
    int port;
    pid_t pids[2 + DEMO_NODES];  /* the broker, `events`, the agents */
    size_t npids;
    bool keep, shell;
    cli_opts o;                  /* the demo cluster, for the driver */
    char events_log[PATH_MAX];   /* DIR/events.log: `distribux events` */
    long events_off;             /* how much of it the driver has shown */
} demo;

/* The signal handlers' view of the supervisor: which driver to forward a
 * SIGTERM to, and which signal asked us to stop.  Handlers can reach
 * nothing else. */
static volatile pid_t demo_driver_pid;
static volatile sig_atomic_t demo_stop_signal;

/* ---- files and paths ---- */

static int join(char *buf, size_t cap, const char *a, const char *b)
{
    int n = snprintf(buf, cap, "%s/%s", a, b);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static bool is_file(const char *path, int mode)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
           access(path, mode) == 0;
}

/* The program `name` on PATH, else in `fallback` (may be NULL). */
static int find_program(const char *name, const char *fallback, char *out,
                        size_t cap)
{
    const char *path = getenv("PATH");
    while (path != NULL && *path != '\0') {
        size_t n = strcspn(path, ":");
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%.*s", (int)n, path);
        if (n > 0 && join(out, cap, dir, name) == 0 && is_file(out, X_OK))
            return 0;
        path += n + (path[n] == ':');
    }
    if (fallback != NULL && is_file(fallback, X_OK)) {
        snprintf(out, cap, "%s", fallback);
        return 0;
    }
    return -1;
}

/* Finds the agent next to this program and the broker configuration:
 * DX_BROKER_CONF, the installed share/distribux/broker-config, else the
 * source tree this program was built from. */
static int find_files(demo *d)
{
    char self[PATH_MAX], *slash;
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    const char *env = getenv("DX_BROKER_CONF");

    if (n <= 0) {
        fprintf(stderr, "distribux demo: cannot read /proc/self/exe: %s\n",
                strerror(errno));
        return -1;
    }
    self[n] = '\0';
    snprintf(d->self, sizeof d->self, "%s", self);
    if ((slash = strrchr(self, '/')) != NULL)
        *slash = '\0';
    snprintf(d->exe_dir, sizeof d->exe_dir, "%s", self);
    if (join(d->agent, sizeof d->agent, d->exe_dir, "distribux-agent") != 0 ||
        !is_file(d->agent, X_OK)) {
        fprintf(stderr, "distribux demo: no distribux-agent next to this "
                "program (in %s)\n", d->exe_dir);
        return -1;
    }
    if (find_program("mosquitto", "/usr/sbin/mosquitto", d->mosquitto,
                     sizeof d->mosquitto) != 0) {
        fprintf(stderr, "distribux demo: mosquitto not found on PATH nor in "
                "/usr/sbin (Debian: apt-get install mosquitto)\n");
        return -1;
    }
    if (env != NULL && is_file(env, R_OK)) {
        snprintf(d->conf_src, sizeof d->conf_src, "%s", env);
        return 0;
    }
    if (join(d->conf_src, sizeof d->conf_src, d->exe_dir,
             "../share/distribux/broker-config/dev.conf") == 0 &&
        is_file(d->conf_src, R_OK))
        return 0;
#ifdef DX_SOURCE_DIR
    snprintf(d->conf_src, sizeof d->conf_src, "%s",
             DX_SOURCE_DIR "/broker-config/dev.conf");
    if (is_file(d->conf_src, R_OK))
        return 0;
#endif
    fprintf(stderr, "distribux demo: broker-config/dev.conf not found (looked "
            "in %s/../share/distribux/broker-config and the source tree)\n",
            d->exe_dir);
    return -1;
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    (void)remove(path);
    return 0;
}

/* Prints the last `lines` lines of a file to stderr. */
static void print_tail(const char *path, int lines)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long size, start;
    size_t got;
    int seen = 0;

    if (f == NULL)
        return;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) <= 0 ||
        (buf = malloc((size_t)size + 1)) == NULL) {
        fclose(f);
        return;
    }
    rewind(f);
    got = fread(buf, 1, (size_t)size, f);
    buf[got] = '\0';
    for (start = (long)got - 1; start > 0; start--)
        if (buf[start - 1] == '\n' && ++seen > lines)
            break;
    fprintf(stderr, "---- %s (last lines)\n%s", path, buf + start);
    free(buf);
    fclose(f);
}

/* ---- processes (supervisor) ---- */

static void on_signal(int sig, siginfo_t *info, void *ctx)
{
    (void)ctx;
    /* A Ctrl-C at the terminal reaches the driver too (same process group)
     * and the shell may want it; forward only what was sent to us alone. */
    if (sig == SIGINT && info != NULL && info->si_code != SI_USER)
        return;
    demo_stop_signal = sig;
    if (demo_driver_pid > 0)
        (void)kill(demo_driver_pid, SIGTERM);
}

static void set_handlers(bool ours)
{
    struct sigaction sa;
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    if (ours) {
        sa.sa_sigaction = on_signal;
        sa.sa_flags = SA_SIGINFO;
    } else {
        sa.sa_handler = SIG_DFL;
    }
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        (void)sigaction(sigs[i], &sa, NULL);
}

/* Starts argv[0] with its output in log, in its own process group, killed
 * with SIGTERM if the supervisor dies.  Returns the pid or -1. */
static pid_t spawn(const char *const argv[], const char *log)
{
    pid_t parent = getpid(), pid;

    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "distribux demo: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        int in = open("/dev/null", O_RDONLY);
        (void)setpgid(0, 0);
        (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent || out < 0 || in < 0)
            _exit(127);
        (void)dup2(in, STDIN_FILENO);
        (void)dup2(out, STDOUT_FILENO);
        (void)dup2(out, STDERR_FILENO);
        set_handlers(false);
        execv(argv[0], (char *const *)argv);
        dprintf(STDERR_FILENO, "cannot execute %s: %s\n", argv[0],
                strerror(errno));
        _exit(127);
    }
    (void)setpgid(pid, pid);   /* either side may win the race; both set it */
    return pid;
}

/* SIGTERM to every process group, SIGKILL to those still alive after
 * STOP_GRACE_MS; reaps them all.  Agents first, so their goodbyes reach the
 * broker. */
static void stop_group(pid_t *pids, size_t n)
{
    struct timespec tick = {0, 20 * 1000 * 1000};
    size_t alive = 0;

    for (size_t i = 0; i < n; i++)
        if (pids[i] > 0) {
            (void)kill(-pids[i], SIGTERM);
            (void)kill(pids[i], SIGTERM);
            alive++;
        }
    for (int waited = 0; alive > 0 && waited < STOP_GRACE_MS; waited += 20) {
        nanosleep(&tick, NULL);
        for (size_t i = 0; i < n; i++)
            if (pids[i] > 0 && waitpid(pids[i], NULL, WNOHANG) == pids[i]) {
                pids[i] = 0;
                alive--;
            }
    }
    for (size_t i = 0; i < n; i++)
        if (pids[i] > 0) {
            (void)kill(-pids[i], SIGKILL);
            (void)kill(pids[i], SIGKILL);
            while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
                ;
            pids[i] = 0;
        }
}

static void stop_all(demo *d)
{
    if (d->npids > 1)
        stop_group(d->pids + 1, d->npids - 1);
    if (d->npids > 0)
        stop_group(d->pids, 1);
    d->npids = 0;
}

/* A port that was free a moment ago (the broker may still lose a race for
 * it; the caller then tries another). */
static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static bool accepts(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok;

    if (fd < 0)
        return false;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* Writes DIR/mosquitto.conf: dev.conf with the listener on `port`, the
 * database in DIR/broker-db/, the log on stderr, and (as root) user root,
 * since mosquitto would otherwise drop to a user who cannot write DIR. */
static int write_conf(const demo *d, const char *path)
{
    FILE *in = fopen(d->conf_src, "r"), *out;
    char *line = NULL;
    size_t cap = 0;
    bool root = geteuid() == 0, seen_user = false, seen_dest = false;
    int rc = 0;

    if (in == NULL) {
        fprintf(stderr, "distribux demo: %s: %s\n", d->conf_src,
                strerror(errno));
        return -1;
    }
    if ((out = fopen(path, "w")) == NULL) {
        fclose(in);
        return -1;
    }
    fprintf(out, "# distribux demo: %s with the listener, database and log "
            "rewritten\n", d->conf_src);
    while (getline(&line, &cap, in) >= 0) {
        const char *s = line + strspn(line, " \t");
        size_t kw = strcspn(s, " \t\r\n");
#define KW(word) (kw == strlen(word) && strncmp(s, word, kw) == 0)
        if (KW("listener") || KW("port") || KW("pid_file") || KW("daemon") ||
            (KW("log_dest") && seen_dest))
            fprintf(out, "# (demo) %s", line);
        else if (KW("persistence_location"))
            fprintf(out, "persistence_location %s/broker-db/\n", d->dir);
        else if (KW("log_dest"))
            fputs("log_dest stderr\n", out);
        else if (KW("user") && root)
            fputs("user root\n", out);
        else
            fputs(line, out);
        seen_dest = seen_dest || KW("log_dest");
        seen_user = seen_user || KW("user");
#undef KW
    }
    fprintf(out, "\nlistener %d 127.0.0.1\n", d->port);
    if (root && !seen_user)
        fputs("user root\n", out);
    free(line);
    fclose(in);
    if (fclose(out) != 0)
        rc = -1;
    return rc;
}

static int start_broker(demo *d)
{
    char conf[PATH_MAX], log[PATH_MAX], db[PATH_MAX];
    const char *argv[] = {d->mosquitto, "-c", conf, NULL};

    if (join(conf, sizeof conf, d->dir, "mosquitto.conf") != 0 ||
        join(log, sizeof log, d->dir, "broker.log") != 0 ||
        join(db, sizeof db, d->dir, "broker-db") != 0 ||
        mkdir(db, 0700) != 0)
        return -1;
    for (int t = 0; t < BROKER_TRIES; t++) {
        pid_t pid;
        if ((d->port = free_port()) <= 0 || write_conf(d, conf) != 0 ||
            (pid = spawn(argv, log)) < 0)
            return -1;
        d->pids[0] = pid;
        d->npids = 1;
        for (int ms = 0; ms < BROKER_UP_MS; ms += 20) {
            struct timespec tick = {0, 20 * 1000 * 1000};
            if (accepts(d->port)) {
                snprintf(d->broker, sizeof d->broker, "tcp://127.0.0.1:%d",
                         d->port);
                return 0;
            }
            if (waitpid(pid, NULL, WNOHANG) == pid) {
                d->npids = 0;   /* it died: port taken?  another one */
                break;
            }
            nanosleep(&tick, NULL);
        }
        stop_all(d);
    }
    fprintf(stderr, "distribux demo: mosquitto did not start (see below)\n");
    print_tail(log, LOG_TAIL_LINES);
    return -1;
}

/* `distribux events` into DIR/events.log, started before the agents so
 * that it sees every event; the driver shows its lines after each step.
 * A process of its own: a second MQTT client in the driver would slow
 * every command's connection (Paho shares one receive thread). */
static int start_events(demo *d)
{
    const char *argv[] = {d->self, "--broker", d->broker, "--cluster",
                          d->cluster, "events", NULL, NULL, NULL};
    if (d->root != NULL) {
        argv[5] = "--root";
        argv[6] = d->root;
        argv[7] = "events";
    }
    if (join(d->events_log, sizeof d->events_log, d->dir, "events.log") != 0 ||
        (d->pids[d->npids] = spawn(argv, d->events_log)) < 0)
        return -1;
    d->npids++;
    return 0;
}

static int start_agents(demo *d)
{
    for (int id = 1; id <= DEMO_NODES; id++) {
        char sid[8], name[16], file[16], data[PATH_MAX], log[PATH_MAX];
        const char *argv[16];
        int k = 0;
        snprintf(sid, sizeof sid, "%d", id);
        snprintf(name, sizeof name, "press-%d", id);
        snprintf(file, sizeof file, "node%d", id);
        if (join(data, sizeof data, d->dir, file) != 0 ||
            (mkdir(data, 0700) != 0 && errno != EEXIST))
            return -1;
        snprintf(file, sizeof file, "node%d.log", id);
        if (join(log, sizeof log, d->dir, file) != 0)
            return -1;
        argv[k++] = d->agent;
        argv[k++] = "--id";
        argv[k++] = sid;
        argv[k++] = "--name";
        argv[k++] = name;
        argv[k++] = "--broker";
        argv[k++] = d->broker;
        argv[k++] = "--cluster";
        argv[k++] = d->cluster;
        if (d->root != NULL) {
            argv[k++] = "--root";
            argv[k++] = d->root;
        }
        argv[k++] = "--data-dir";
        argv[k++] = data;
        argv[k] = NULL;
        if ((d->pids[d->npids] = spawn(argv, log)) < 0)
            return -1;
        d->npids++;
    }
    return 0;
}

/* ---- the driver: running and checking commands ---- */

/* Runs a CLI command with its usual output, after a "$ distribux ..."
 * line.  Returns its exit code. */
static int show(demo *d, int argc, const char *const argv[])
{
    int rc;
    printf("$ distribux");
    for (int i = 0; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\n");
    fflush(stdout);
    rc = cli_run_command(&d->o, argc, (char **)argv);
    fflush(stdout);
    return rc;
}

/* Runs a CLI command with --json, its stdout captured and parsed.
 * Returns the JSON (the caller frees it with cJSON_Delete) or NULL. */
static cJSON *run_json(demo *d, int argc, const char *const argv[])
{
    char path[PATH_MAX], *buf = NULL;
    cli_opts oo = d->o;
    int fd, saved, rc;
    cJSON *j = NULL;
    FILE *f;
    long size;

    if (join(path, sizeof path, d->dir, "capture.json") != 0)
        return NULL;
    fflush(stdout);
    if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
        return NULL;
    if ((saved = dup(STDOUT_FILENO)) < 0) {
        close(fd);
        return NULL;
    }
    (void)dup2(fd, STDOUT_FILENO);
    close(fd);
    oo.json = true;
    rc = cli_run_command(&oo, argc, (char **)argv);
    fflush(stdout);
    (void)dup2(saved, STDOUT_FILENO);
    close(saved);
    if (rc != 0 || (f = fopen(path, "r")) == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 &&
        (buf = calloc(1, (size_t)size + 1)) != NULL) {
        rewind(f);
        if (fread(buf, 1, (size_t)size, f) == (size_t)size)
            j = cJSON_Parse(buf);
    }
    free(buf);
    fclose(f);
    return j;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* What a step wants of `status --json`: true when j satisfies it;
 * otherwise why (one line) in why. */
typedef bool (*want_fn)(const cJSON *j, void *arg, char *why, size_t cap);

/* Polls the command's JSON until want() holds or timeout_ms pass. */
static bool poll_json(demo *d, const char *cmd, want_fn want, void *arg,
                      int timeout_ms, char *why, size_t cap)
{
    const char *argv[] = {cmd};
    int64_t end = cli_now_ms() + timeout_ms;
    bool ok = false;

    snprintf(why, cap, "no answer to %s", cmd);
    do {
        cJSON *j = run_json(d, 1, argv);
        ok = j != NULL && want(j, arg, why, cap);
        cJSON_Delete(j);
        if (!ok && cli_now_ms() < end)
            sleep_ms(200);
    } while (!ok && cli_now_ms() < end);
    return ok;
}

static int json_int(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valueint : 0;
}

static const char *json_str(const cJSON *o, const char *key)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
    return s != NULL ? s : "";
}

/* The cluster a status step expects: node i+1 online when online[i], else
 * failed; the leader. */
typedef struct want_cluster {
    bool online[DEMO_NODES];
    int leader;
} want_cluster;

static bool want_status(const cJSON *j, void *arg, char *why, size_t cap)
{
    const want_cluster *w = arg;
    const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(j, "nodes"), *n;
    int seen = 0;

    if (json_int(j, "leader") != w->leader) {
        snprintf(why, cap, "the leader is %d, expected Node %d",
                 json_int(j, "leader"), w->leader);
        return false;
    }
    cJSON_ArrayForEach(n, nodes) {
        int id = json_int(n, "id");
        const char *st = json_str(n, "state");
        const char *want;
        if (id < 1 || id > DEMO_NODES)
            continue;
        seen++;
        want = w->online[id - 1] ? "online" : "failed";
        if (strcmp(st, want) != 0) {
            snprintf(why, cap, "Node %d is %s, expected %s", id, st, want);
            return false;
        }
    }
    if (seen != DEMO_NODES) {
        snprintf(why, cap, "status shows %d of %d nodes", seen, DEMO_NODES);
        return false;
    }
    return true;
}

/* The three tasks of the scenario (demo-1..3), as their retained records
 * last showed them. */
typedef struct demo_tasks {
    bool seen[DEMO_NODES];
    uint16_t node[DEMO_NODES];
    uint32_t attempt[DEMO_NODES];
    dx_task_state state[DEMO_NODES];
} demo_tasks;

/* Folds `tasks --json` into t; false when the command did not answer. */
static bool read_tasks(demo *d, demo_tasks *t)
{
    const char *argv[] = {"tasks"};
    cJSON *j = run_json(d, 1, argv);
    const cJSON *r;

    if (j == NULL)
        return false;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(j, "tasks")) {
        const char *id = json_str(r, "id");
        int k;
        if (strncmp(id, "demo-", 5) != 0 || id[5] < '1' ||
            id[5] > '0' + DEMO_NODES || id[6] != '\0')
            continue;
        k = id[5] - '1';
        t->seen[k] = true;
        t->node[k] = (uint16_t)json_int(r, "node");
        t->attempt[k] = (uint32_t)json_int(r, "attempt");
        if (dx_task_state_parse(json_str(r, "state"), &t->state[k]) != 0)
            t->state[k] = DX_TS_QUEUED;
    }
    cJSON_Delete(j);
    return true;
}

/* Waits until every task is placed (want_done false) or done. */
static bool wait_tasks(demo *d, demo_tasks *t, bool want_done, int timeout_ms,
                       char *why, size_t cap)
{
    int64_t end = cli_now_ms() + timeout_ms;
    for (;;) {
        int k;
        (void)read_tasks(d, t);
        for (k = 0; k < DEMO_NODES; k++)
            if (!t->seen[k] || (want_done ? t->state[k] != DX_TS_DONE
                                          : t->node[k] == 0))
                break;
        if (k == DEMO_NODES)
            return true;
        if (cli_now_ms() >= end) {
            if (!t->seen[k])
                snprintf(why, cap, "no record of task demo-%d", k + 1);
            else
                snprintf(why, cap, "task demo-%d is %s on Node %u, expected "
                         "%s", k + 1, dx_task_state_name(t->state[k]),
                         t->node[k], want_done ? "done" : "placed");
            return false;
        }
        sleep_ms(200);
    }
}

/* Prints the events (the `events` process's lines) that arrived since
 * the last call. */
static void show_events(demo *d)
{
    FILE *f;
    char line[1024];

    sleep_ms(300);   /* the last step's events are on their way */
    if ((f = fopen(d->events_log, "r")) == NULL)
        return;
    if (fseek(f, d->events_off, SEEK_SET) == 0)
        while (fgets(line, sizeof line, f) != NULL) {
            size_t n = strlen(line);
            if (n == 0 || line[n - 1] != '\n')
                break;          /* half written: next time */
            d->events_off += (long)n;
            printf("  (event) %s", line);
        }
    fclose(f);
    fflush(stdout);
}

/* Waits up to timeout_ms for an event line containing `needle`. */
static bool events_have(demo *d, const char *needle, int timeout_ms)
{
    int64_t end = cli_now_ms() + timeout_ms;
    char line[1024];
    bool found = false;

    for (;;) {
        FILE *f = fopen(d->events_log, "r");
        while (f != NULL && !found && fgets(line, sizeof line, f) != NULL)
            found = strstr(line, needle) != NULL;
        if (f != NULL)
            fclose(f);
        if (found || cli_now_ms() >= end)
            return found;
        sleep_ms(100);
    }
}

/* ---- the DFS check ---- */

typedef struct file_want {
    const char *topic;
    uint64_t size;
} file_want;

static bool is_file_msg(const cli_msg *m, void *arg)
{
    const file_want *w = arg;
    return m->plen > 0 && strcmp(m->topic, w->topic) == 0;
}

/* The file's retained metadata must say `size` bytes, and every chunk must
 * have a copy on each alive node and none on a failed one. */
static bool check_file(demo *d, uint64_t size, const bool *alive,
                       char *why, size_t cap)
{
    char topic[DX_DFS_TOPIC_MAX + 1];
    const char *filters[1] = {topic};
    dx_dfs_file *f = malloc(sizeof *f);
    file_want w = {topic, size};
    const cli_msg *cur = NULL, *m;
    int64_t end = cli_now_ms() + 10000;
    bool ok = false;
    cli *c = NULL;

    snprintf(why, cap, "no metadata on the file's retained topic");
    if (f == NULL || (c = cli_connect(&d->o)) == NULL ||
        dx_dfs_topic_file(cli_topics(c), DEMO_FILE, topic, sizeof topic) != 0 ||
        cli_subscribe(c, filters, 1) != 0)
        goto done;
    /* Retained first; a later repair may publish a newer version. */
    while (!ok && cli_now_ms() < end &&
           (m = cli_wait(c, is_file_msg, &w,
                         (int)(end - cli_now_ms()), &cur)) != NULL) {
        dx_diag dg;
        ok = true;
        if (dx_dfs_file_decode(m->payload, m->plen, f, &dg) != 0) {
            snprintf(why, cap, "bad metadata: %s", dg.msg);
            ok = false;
        } else if (f->size != size) {
            snprintf(why, cap, "metadata says %llu bytes, the file has %llu",
                     (unsigned long long)f->size, (unsigned long long)size);
            ok = false;
        }
        for (uint32_t i = 0; ok && i < f->n_chunks; i++)
            for (int id = 1; ok && id <= DEMO_NODES; id++) {
                bool has = false;
                for (uint32_t k = 0; k < f->chunks[i].n; k++)
                    has = has || f->chunks[i].nodes[k] == id;
                if (has != alive[id - 1]) {
                    snprintf(why, cap, "chunk %u %s a copy on Node %d", i,
                             has ? "has" : "lacks", id);
                    ok = false;
                }
            }
    }
done:
    cli_close(&c);
    free(f);
    return ok;
}

/* Writes a small sensor log (a few KiB of readings); returns its size or
 * -1. */
static long write_log(const char *path)
{
    FILE *f = fopen(path, "w");
    long size;
    if (f == NULL)
        return -1;
    for (int i = 0; i < 200; i++)
        fprintf(f, "2026-11-27T10:%02d:%02d press-%d temp1 %.2f C\n",
                i / 60, i % 60, i % DEMO_NODES + 1,
                60.0 + 5.0 * (double)((i * 37) % 100) / 100.0);
    size = ftell(f);
    return fclose(f) == 0 ? size : -1;
}

/* ---- the scenario ---- */

typedef struct step {
    int n;
    const char *title;
    char why[320];
} step;

static void header(step *s, const char *title)
{
    s->n++;
    s->title = title;
    s->why[0] = '\0';
    printf("\n== Step %d: %s\n", s->n, title);
    fflush(stdout);
}

static int fail_step(step *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Records why the current step failed; returns -1. */
static int fail_step(step *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->why, sizeof s->why, fmt, ap);
    va_end(ap);
    return -1;
}

/* Waits until status shows w; on timeout shows the status table for the
 * record, and the step fails. */
static bool expect_status(demo *d, step *s, const want_cluster *w,
                          int timeout_ms)
{
    const char *argv[] = {"status"};
    if (poll_json(d, "status", want_status, (void *)w, timeout_ms, s->why,
                  sizeof s->why))
        return true;
    (void)show(d, 1, argv);
    return false;
}

/* wait_tasks, showing the task table when it times out. */
static bool expect_tasks(demo *d, step *s, demo_tasks *t, bool want_done,
                         int timeout_ms)
{
    const char *argv[] = {"tasks"};
    if (wait_tasks(d, t, want_done, timeout_ms, s->why, sizeof s->why))
        return true;
    (void)show(d, 1, argv);
    return false;
}

/* A command line as (argc, argv). */
#define ARGS(...) (int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(char *)), \
                  (const char *[]){__VA_ARGS__}

/* The prototype's scenario; 0 when every step behaved, else -1 with the
 * failed step in *s. */
static int scenario(demo *d, step *s)
{
    want_cluster all = {{true, true, true}, 3};
    want_cluster no2 = {{true, false, true}, 3};
    want_cluster only3 = {{false, false, true}, 3};
    bool alive_no2[DEMO_NODES] = {true, false, true};
    demo_tasks t;
    char logpath[PATH_MAX], ms[16];
    int moving[DEMO_NODES], n_moving = 0, spread = 0;
    long size;

    memset(&t, 0, sizeof t);
    snprintf(ms, sizeof ms, "%d", DEMO_TASK_MS);

    header(s, "status: three agents, the highest id leads");
    if (!expect_status(d, s, &all, 20000))
        return -1;
    if (show(d, ARGS("status")) != 0)
        return fail_step(s, "status failed");
    show_events(d);

    header(s, "submit_task x3: the leader spreads them over the nodes");
    if (show(d, ARGS("submit", "--kind", "compute", "--ms", ms, "--count",
                     "3", "--id", "demo")) != 0)
        return fail_step(s, "submit failed");
    if (!expect_tasks(d, s, &t, false, 5000))
        return -1;
    (void)show(d, ARGS("tasks"));
    for (int k = 0; k < DEMO_NODES; k++) {
        bool first = true;
        for (int i = 0; i < k; i++)
            first = first && t.node[i] != t.node[k];
        spread += first;
        if (t.node[k] == 2 && t.state[k] != DX_TS_DONE)
            moving[n_moving++] = k;
    }
    if (spread < 2)
        return fail_step(s, "all three tasks went to Node %u", t.node[0]);
    if (n_moving == 0)
        return fail_step(s, "Node 2 has no unfinished task to re-route");
    show_events(d);

    header(s, "fail 2: Node 2 crashes, its tasks are re-routed");
    if (show(d, ARGS("fail", "2")) != 0)
        return fail_step(s, "fail 2 failed");
    if (!expect_status(d, s, &no2, 15000))
        return -1;
    if (!expect_tasks(d, s, &t, true, 30000))
        return -1;
    (void)show(d, ARGS("status"));
    (void)show(d, ARGS("tasks"));
    for (int i = 0; i < n_moving; i++) {
        char want[64];
        snprintf(want, sizeof want, "Re-routing Task demo-%d from Node 2",
                 moving[i] + 1);
        if (!events_have(d, want, 5000))
            return fail_step(s, "no '%s' event", want);
        printf("Task demo-%d: re-routed away from Node 2 (the events say "
               "'%s ...')\n", moving[i] + 1, want);
    }
    printf("Leader: Node 3 stays (the highest live id)\n");
    show_events(d);

    header(s, "put_log: a sensor log into the DFS, replicated");
    if (join(logpath, sizeof logpath, d->dir, "press.log") != 0 ||
        (size = write_log(logpath)) < 0)
        return fail_step(s, "cannot write %s", logpath);
    if (show(d, ARGS("put", logpath, "--name", DEMO_FILE)) != 0)
        return fail_step(s, "put failed");
    if (show(d, ARGS("stat", DEMO_FILE)) != 0)
        return fail_step(s, "stat failed");
    if (!check_file(d, (uint64_t)size, alive_no2, s->why, sizeof s->why))
        return -1;
    printf("%s: %ld bytes, every chunk on Nodes 1 and 3 (Node 2 is down)\n",
           DEMO_FILE, size);
    show_events(d);

    header(s, "fail 1: Node 1 crashes too");
    if (show(d, ARGS("fail", "1")) != 0)
        return fail_step(s, "fail 1 failed");
    if (!expect_status(d, s, &only3, 15000))
        return -1;
    show_events(d);

    header(s, "status: Node 3 carries on alone");
    if (!expect_status(d, s, &only3, 5000))
        return -1;
    if (show(d, ARGS("status")) != 0)
        return fail_step(s, "status failed");
    show_events(d);
    return 0;
}

/* The driver process: the scenario, then the shell.  Returns its exit
 * code. */
static int drive(demo *d)
{
    step s = {0};
    int rc;

    memset(&d->o, 0, sizeof d->o);
    d->o.broker = d->broker;
    d->o.cluster = d->cluster;
    d->o.root = d->root;
    rc = scenario(d, &s);
    if (rc != 0) {
        fprintf(stderr, "\ndistribux demo: step %d (%s) failed: %s\n", s.n,
                s.title, s.why);
        return 1;
    }
    printf("\ndistribux demo: every step behaved as expected\n");
    if (!d->shell)
        return 0;
    printf("\nThe cluster is still running (broker %s, cluster %s).  Try\n"
           "status, recover 1, submit_task, put_log FILE, fail 3, help; exit "
           "ends the demo\nand stops everything.\n"
           "From another terminal: distribux --broker %s --cluster %s status\n",
           d->broker, d->cluster, d->broker, d->cluster);
    fflush(stdout);
    {
        const char *argv[] = {"shell"};
        return cli_run_command(&d->o, 1, (char **)argv);
    }
}

static void usage(FILE *out)
{
    fprintf(out, "usage: distribux demo [--no-shell] [--keep]\n\n"
            "Starts Mosquitto on a free loopback port and three agents, runs\n"
            "the prototype's scenario, then opens the shell; stops everything\n"
            "on exit.\n"
            "  --no-shell   run the scenario only; exit 0 if every step\n"
            "               behaved, else 1 naming the failed step\n"
            "  --keep       keep the temporary folder (logs, data)\n");
}

int cli_demo(const cli_opts *o, int argc, char **argv)
{
    demo *d = calloc(1, sizeof *d);
    const char *tmp = getenv("TMPDIR");
    pid_t driver;
    int rc = 1, status = 0;

    if (d == NULL)
        return 1;
    d->shell = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-shell") == 0) {
            d->shell = false;
        } else if (strcmp(argv[i], "--keep") == 0) {
            d->keep = true;
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            free(d);
            return 0;
        } else {
            fprintf(stderr, "distribux demo: unexpected '%s'\n", argv[i]);
            usage(stderr);
            free(d);
            return 2;
        }
    }
    d->cluster = o->cluster != NULL ? o->cluster : "demo";
    d->root = o->root;
    if (find_files(d) != 0)
        goto free_demo;
    snprintf(d->dir, sizeof d->dir, "%s/distribux-demo.XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(d->dir) == NULL) {
        fprintf(stderr, "distribux demo: mkdtemp %s: %s\n", d->dir,
                strerror(errno));
        goto free_demo;
    }
    set_handlers(true);
    if (start_broker(d) != 0 || demo_stop_signal != 0)
        goto stop;
    if (start_events(d) != 0 || start_agents(d) != 0) {
        fprintf(stderr, "distribux demo: cannot start the agents\n");
        goto stop;
    }
    printf("distribux demo: Mosquitto on %s (configured from %s)\n"
           "distribux demo: agents 1..%d (cluster %s), files in %s\n",
           d->broker, d->conf_src, DEMO_NODES, d->cluster, d->dir);
    printf("demo: started pids");
    for (size_t i = 0; i < d->npids; i++)
        printf(" %ld", (long)d->pids[i]);
    printf("\n");
    fflush(NULL);
    if (demo_stop_signal != 0)
        goto stop;

    if ((driver = fork()) < 0) {
        fprintf(stderr, "distribux demo: fork: %s\n", strerror(errno));
        goto stop;
    }
    if (driver == 0) {
        set_handlers(false);
        rc = drive(d);
        fflush(NULL);
        free(d);
        exit(rc);
    }
    demo_driver_pid = driver;
    if (demo_stop_signal != 0)
        (void)kill(driver, SIGTERM);
    while (waitpid(driver, &status, 0) < 0 && errno == EINTR)
        ;
    demo_driver_pid = 0;
    if (WIFEXITED(status)) {
        rc = WEXITSTATUS(status);
    } else {
        int sig = WIFSIGNALED(status) ? WTERMSIG(status) : SIGTERM;
        fprintf(stderr, "\ndistribux demo: stopped by signal %d\n", sig);
        rc = 128 + sig;
    }
    if (rc != 0 && rc < 128) {
        char log[PATH_MAX], file[16];
        for (int id = 1; id <= DEMO_NODES; id++) {
            snprintf(file, sizeof file, "node%d.log", id);
            if (join(log, sizeof log, d->dir, file) == 0)
                print_tail(log, LOG_TAIL_LINES);
        }
    }
stop:
    printf("distribux demo: stopping the broker and the agents\n");
    fflush(stdout);
    stop_all(d);
    if (d->keep) {
        printf("distribux demo: kept %s\n", d->dir);
    } else {
        (void)nftw(d->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    }
    if (rc == 0 && demo_stop_signal != 0)
        rc = 128 + demo_stop_signal;
    set_handlers(false);
free_demo:
    free(d);
    return rc;
}
