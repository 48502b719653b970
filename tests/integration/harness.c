/*
 * harness.c - the integration-test harness: a real broker, real processes.
 *
 * See harness.h for the contract.  How it works:
 *
 * Processes.  dxh_spawn() forks and, in the child, makes a new process group,
 * sets PR_SET_PDEATHSIG(SIGKILL) (then checks the parent did not die in
 * between), closes every inherited descriptor (Paho's sockets must not leak
 * into a child, or the broker would not see an observer go away), points
 * stdout and stderr at the log file and execs.  A CLOEXEC pipe tells the
 * parent whether exec failed.  Signals go to the whole group, so anything
 * an agent starts dies with it.  Processes are reaped by polling waitpid()
 * (no SIGCHLD handler to fight with the test).
 *
 * Cleanup.  Every live child also sits in a fixed table of "slots" (pid, log
 * path, owning test pid) that the signal handlers read with nothing but
 * kill(), waitpid(), open(), read(), write() and lseek(), all
 * async-signal-safe.  The
 * owner pid keeps a forked copy of the test from killing its parent's
 * children.  An on_exit() hook (atexit plus the exit status) tears down any
 * harness still alive.  Handlers chain to whatever was installed before them
 * (ASan's SIGSEGV report, cmocka's), or re-raise with the default action.
 *
 * Broker.  The template config is copied line by line; only the listener,
 * persistence_location, log_dest, pid_file, daemon and (as root) user lines
 * change.  The port comes from bind(127.0.0.1:0); if mosquitto then dies
 * with "Address already in use", another port is tried.  "Accepting" means
 * connect() succeeds and, where /proc allows checking, the listening socket
 * belongs to our mosquitto and not to a stranger that took the port.
 *
 * Observer.  A Paho MQTTAsync client whose callbacks only copy the message
 * into a growing array under a mutex and broadcast a condition variable.
 * Synchronous operations wait on a small reference-counted record, so a
 * late callback after a timeout never touches freed memory.  Paho has one
 * receive thread per process that sleeps up to 1 s in poll(); two
 * workarounds keep observers quick (see kick_paho and obs_start_connect):
 * a second observer connects in ~40 ms instead of 2 s, and observers are
 * back ~1.1 s after a broker restart instead of 3-4 s.
 *
 * Cost: polling waits use 5-20 ms sleeps; a message costs one malloc.
 */
#define _GNU_SOURCE /* pipe2, close_range */

#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <MQTTAsync.h>

#ifndef DXH_DEFAULT_BROKER_CONF
#define DXH_DEFAULT_BROKER_CONF "broker-config/dev.conf"
#endif

enum {
    SLOT_MAX = 256,      /* processes tracked at once, per test process */
    SLOT_PATH = 512,     /* longest log path the signal path can print */
    DIR_MAX = 16,        /* live harnesses, per test process */
    TAIL_LINES = 80,
    TAIL_BYTES = 32768,  /* at most this much of each log is scanned */
    STOP_GRACE_MS = 2000,
    BROKER_START_MS = 10000,
    OP_TIMEOUT_MS = 5000,
    WATCHDOG_S = 290,
};

struct dxh_proc {
    dxh *h;
    dxh_proc *next;
    char name[64];
    char *log;
    pid_t pid;
    int slot;     /* index in g_slots, or -1 */
    bool reaped;
    int status;   /* shell-style, once reaped */
    int agent_id; /* 0: not an agent */
};

struct dxh {
    dxh *next_live;
    pid_t owner;
    char *dir;
    int dir_slot;
    bool passed;
    bool failed;
    dxh_proc *procs;
    dxh_proc *procs_tail;
    dxh_obs *obs;
    dxh_proc *broker;
    int port;
    char url[64];
    char conf[SLOT_PATH];
};

struct dxh_obs {
    dxh *h;
    dxh_obs *next;
    dxh_obs *all_next; /* g_all_obs */
    MQTTAsync cli;
    char *url;
    char *client_id;
    char *will_topic;
    char *will_payload;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* messages, operations and connection state */
    dxh_msg **msgs;
    size_t n;
    size_t cap;
    uint64_t base_seq; /* seq of msgs[0] */
    uint64_t next_seq;
    char **filters;
    size_t nfilters;
    int keepalive_s;
    int will_qos;
    bool will_retain;
    bool connected;
    bool connecting;       /* a MQTTAsync_connect is in flight */
    int64_t last_attempt;  /* when the last one started */
    int last_error;        /* Paho's code for the last failed connect */
    uint64_t conn_gen; /* bumped on every (re)connect */
    uint64_t subs_gen; /* the conn_gen whose resubscription completed */
};

/* ---- process-wide state the signal handlers read ---------------------- */

typedef struct slot {
    volatile sig_atomic_t owner; /* test pid using it; anything else: free */
    volatile sig_atomic_t pid;   /* child to kill, 0 when none */
    char log[SLOT_PATH];
} slot;

typedef struct dir_slot {
    volatile sig_atomic_t owner;
    char path[SLOT_PATH];
} dir_slot;

static slot g_slots[SLOT_MAX];
static dir_slot g_dirs[DIR_MAX];
static volatile sig_atomic_t g_in_handler;
static char g_sigbuf[TAIL_BYTES];

static const int g_fatal_signals[] = {SIGABRT, SIGSEGV, SIGTERM, SIGINT,
                                      SIGALRM};
#define N_FATAL (sizeof g_fatal_signals / sizeof g_fatal_signals[0])
static struct sigaction g_old_actions[N_FATAL];
static bool g_hooks_installed;
static dxh *g_live; /* harnesses not yet destroyed (main thread only) */
static atomic_uint g_obs_counter;
static pthread_mutex_t g_obs_mu = PTHREAD_MUTEX_INITIALIZER;
static dxh_obs *g_all_obs; /* every observer of the process, for kicks */

static void teardown(dxh *h, bool failed);

/* ---- small utilities -------------------------------------------------- */

static bool verbose(void)
{
    const char *v = getenv("DXH_VERBOSE");
    return v != NULL && v[0] != '\0' && v[0] != '0';
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("dxh: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

#define SAY_VERBOSE(...)        \
    do {                        \
        if (verbose())          \
            say(__VA_ARGS__);   \
    } while (0)

int64_t dxh_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void dxh_sleep_ms(int ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Milliseconds left until deadline_ns (>= 0), or -1 when deadline is 0
 * ("forever"). */
static int ms_left(int64_t deadline_ns)
{
    if (deadline_ns == 0)
        return -1;
    int64_t left = deadline_ns - dxh_now_ns();
    if (left <= 0)
        return 0;
    return (int)((left + 999999) / 1000000);
}

static int64_t deadline_after(int timeout_ms)
{
    if (timeout_ms < 0)
        return 0;
    return dxh_now_ns() + (int64_t)timeout_ms * 1000000;
}

static bool passed_deadline(int64_t deadline_ns)
{
    return deadline_ns != 0 && dxh_now_ns() >= deadline_ns;
}

int dxh_wait_until(bool (*cond)(void *ctx), void *ctx, int timeout_ms,
                   int poll_ms)
{
    int64_t deadline = deadline_after(timeout_ms);
    for (;;) {
        if (cond(ctx))
            return 0;
        if (passed_deadline(deadline))
            return DX_ETIMEOUT;
        dxh_sleep_ms(poll_ms > 0 ? poll_ms : 10);
    }
}

/* A malloc'd printf; NULL when out of memory. */
static char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

static char *xstrdup(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Async-signal-safe write of a string to stderr. */
static void err_str(const char *s)
{
    (void)write_all(2, s, strlen(s));
}

/* Async-signal-safe write of a non-negative integer to stderr. */
static void err_int(long v)
{
    char buf[24];
    size_t i = sizeof buf;
    if (v < 0)
        v = 0;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0 && i > 0);
    (void)write_all(2, buf + i, sizeof buf - i);
}

/* Prints the last TAIL_LINES lines of the file at path to stderr, with a
 * header.  Async-signal-safe: open/lseek/read/write and the caller's
 * buffer only. */
static void tail_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    off_t end = lseek(fd, 0, SEEK_END);
    off_t start = end > (off_t)cap ? end - (off_t)cap : 0;
    size_t n = 0;
    if (end > 0 && lseek(fd, start, SEEK_SET) == start) {
        while (n < cap) {
            ssize_t r = read(fd, buf + n, cap - n);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            n += (size_t)r;
        }
    }
    close(fd);

    size_t i = n;
    if (i > 0 && buf[i - 1] == '\n')
        i--;
    int lines = 0;
    while (i > 0) {
        if (buf[i - 1] == '\n' && ++lines == TAIL_LINES)
            break;
        i--;
    }
    err_str("---- dxh: last lines of ");
    err_str(path);
    err_str(n == 0 ? " (empty) ----\n" : " ----\n");
    if (n > i) {
        (void)write_all(2, buf + i, n - i);
        if (buf[n - 1] != '\n')
            err_str("\n");
    }
}

/* mkdir that accepts an existing directory. */
static int make_dir(const char *path)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return 0;
    return DX_EIO;
}

/* Removes path and everything below it, without following symlinks. */
static void remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d != NULL) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                    continue;
                char *sub = xprintf("%s/%s", path, e->d_name);
                if (sub != NULL) {
                    remove_tree(sub);
                    free(sub);
                }
            }
            closedir(d);
        }
        (void)rmdir(path);
    } else {
        (void)unlink(path);
    }
}

/* Finds an executable: a name with a slash is used as is, else PATH is
 * searched, then /usr/sbin, /sbin, /usr/local/sbin (mosquitto lives in
 * sbin, which is not always on a test's PATH).  Returns 0 or DX_ENOTFOUND. */
static int find_program(const char *name, char *out, size_t cap)
{
    if (strchr(name, '/') != NULL) {
        if (strlen(name) >= cap)
            return DX_ENOSPACE;
        copy_str(out, cap, name);
        return access(out, X_OK) == 0 ? 0 : DX_ENOTFOUND;
    }
    const char *env = getenv("PATH");
    char *path = xprintf("%s:/usr/sbin:/sbin:/usr/local/sbin",
                         env != NULL ? env : "/usr/bin:/bin");
    if (path == NULL)
        return DX_ENOMEM;
    int rc = DX_ENOTFOUND;
    char *save = NULL;
    for (char *dir = strtok_r(path, ":", &save); dir != NULL;
         dir = strtok_r(NULL, ":", &save)) {
        int w = snprintf(out, cap, "%s/%s", dir[0] != '\0' ? dir : ".", name);
        if (w > 0 && (size_t)w < cap && access(out, X_OK) == 0) {
            rc = 0;
            break;
        }
    }
    free(path);
    return rc;
}

static int shell_status(int wstatus)
{
    if (WIFEXITED(wstatus))
        return WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus))
        return 128 + WTERMSIG(wstatus);
    return -1;
}

/* ---- the slot table --------------------------------------------------- */

/* Claims a slot for a child whose output goes to log (may be NULL);
 * returns its index or -1 when the table is full (the child then only has
 * PR_SET_PDEATHSIG to protect against leaks). */
static int slot_acquire(const char *log)
{
    pid_t me = getpid();
    for (int i = 0; i < SLOT_MAX; i++) {
        if (g_slots[i].owner == me)
            continue; /* free slots hold 0 or a forked parent's pid */
        g_slots[i].pid = 0;
        copy_str(g_slots[i].log, SLOT_PATH, log != NULL ? log : "");
        atomic_signal_fence(memory_order_seq_cst);
        g_slots[i].owner = me;
        return i;
    }
    return -1;
}

static void slot_set_pid(int i, pid_t pid)
{
    if (i >= 0)
        g_slots[i].pid = pid;
}

static void slot_release(int i)
{
    if (i < 0)
        return;
    g_slots[i].owner = 0;
    atomic_signal_fence(memory_order_seq_cst);
    g_slots[i].pid = 0;
    g_slots[i].log[0] = '\0';
}

static int dir_register(const char *path)
{
    pid_t me = getpid();
    for (int i = 0; i < DIR_MAX; i++) {
        if (g_dirs[i].owner == me)
            continue;
        copy_str(g_dirs[i].path, SLOT_PATH, path);
        atomic_signal_fence(memory_order_seq_cst);
        g_dirs[i].owner = me;
        return i;
    }
    return -1;
}

static void dir_release(int i)
{
    if (i >= 0)
        g_dirs[i].owner = 0;
}

/* ---- signal handlers and the exit hook -------------------------------- */

/* Kills every child of this test process and prints their logs' tails.
 * Async-signal-safe. */
static void emergency_cleanup(int sig)
{
    pid_t me = getpid();
    for (int i = 0; i < SLOT_MAX; i++) {
        pid_t pid = g_slots[i].pid;
        if (g_slots[i].owner == me && pid > 0) {
            (void)kill(-pid, SIGKILL);
            (void)kill(pid, SIGKILL);
        }
    }
    /* Reap them (up to 500 ms), so no zombie is left even under an init
     * that does not reap. */
    for (int round = 0; round < 100; round++) {
        bool left = false;
        for (int i = 0; i < SLOT_MAX; i++) {
            pid_t pid = g_slots[i].pid;
            if (g_slots[i].owner != me || pid <= 0)
                continue;
            int st;
            pid_t r = waitpid(pid, &st, WNOHANG);
            if (r == pid || (r < 0 && errno != EINTR))
                g_slots[i].pid = 0;
            else
                left = true;
        }
        if (!left)
            break;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 5000000};
        (void)nanosleep(&ts, NULL);
    }
    err_str("\ndxh: ");
    if (sig == SIGALRM) {
        err_str("watchdog expired (DXH_WATCHDOG_S)");
    } else {
        err_str("caught signal ");
        err_int(sig);
    }
    err_str("; killed every child process\n");
    for (int i = 0; i < SLOT_MAX; i++) {
        if (g_slots[i].owner != me || g_slots[i].log[0] == '\0')
            continue;
        bool seen = false;
        for (int j = 0; j < i && !seen; j++)
            seen = g_slots[j].owner == me &&
                   strcmp(g_slots[j].log, g_slots[i].log) == 0;
        if (!seen)
            tail_file(g_slots[i].log, g_sigbuf, sizeof g_sigbuf);
    }
    for (int i = 0; i < DIR_MAX; i++) {
        if (g_dirs[i].owner == me) {
            err_str("dxh: keeping work dir ");
            err_str(g_dirs[i].path);
            err_str("\n");
        }
    }
}

static void on_fatal_signal(int sig, siginfo_t *info, void *uctx)
{
    int saved_errno = errno;
    size_t k = 0;
    while (k < N_FATAL && g_fatal_signals[k] != sig)
        k++;
    if (!g_in_handler) {
        g_in_handler = 1;
        emergency_cleanup(sig);
        g_in_handler = 0;
    }
    struct sigaction *old = k < N_FATAL ? &g_old_actions[k] : NULL;
    if (old != NULL && (old->sa_flags & SA_SIGINFO) &&
        old->sa_sigaction != NULL) {
        old->sa_sigaction(sig, info, uctx);
    } else if (old != NULL && old->sa_handler != SIG_DFL &&
               old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
    } else {
        /* Default action: it fires when the handler returns (the signal
         * is blocked until then), or the fault repeats for SIGSEGV. */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        (void)sigaction(sig, &dfl, NULL);
        (void)raise(sig);
    }
    errno = saved_errno;
}

static void on_exit_hook(int status, void *arg)
{
    (void)arg;
    pid_t me = getpid();
    dxh *h = g_live;
    while (h != NULL) {
        dxh *next = h->next_live;
        if (h->owner == me)
            teardown(h, h->failed || status != 0);
        h = next;
    }
}

static void install_hooks(void)
{
    if (g_hooks_installed)
        return;
    g_hooks_installed = true;
    for (size_t k = 0; k < N_FATAL; k++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_fatal_signal;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        struct sigaction old;
        if (sigaction(g_fatal_signals[k], NULL, &old) != 0)
            continue;
        if (old.sa_handler == SIG_IGN && !(old.sa_flags & SA_SIGINFO))
            continue; /* the test asked to ignore it */
        g_old_actions[k] = old;
        (void)sigaction(g_fatal_signals[k], &sa, NULL);
    }
    (void)on_exit(on_exit_hook, NULL);

    long secs = WATCHDOG_S;
    const char *w = getenv("DXH_WATCHDOG_S");
    if (w != NULL && w[0] != '\0')
        secs = strtol(w, NULL, 10);
    if (secs > 0)
        (void)alarm((unsigned)secs);
}

/* ---- spawning --------------------------------------------------------- */

/* Runs in the forked child: never returns.  Only async-signal-safe calls,
 * because the parent may have other threads (Paho, the sanitizers). */
static void child_exec(const char *path, char *const argv[], int in_fd,
                       int out_fd, int err_fd, int report_fd, pid_t parent,
                       long max_fd)
{
    (void)setpgid(0, 0);
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127); /* the test died before prctl took effect */

    /* Paho ignores SIGPIPE; a child should not inherit that. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    (void)sigaction(SIGPIPE, &dfl, NULL);

    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
        goto fail;
    /* Keep only 0-2 and the report pipe (moved to 3). */
    if (report_fd != 3) {
        if (dup3(report_fd, 3, O_CLOEXEC) < 0)
            goto fail;
        report_fd = 3;
    }
    if (close_range(4, ~0U, 0) != 0) {
        for (long fd = 4; fd < max_fd; fd++)
            (void)close((int)fd);
    }
    sigset_t none;
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    execv(path, argv);
fail:;
    int e = errno;
    (void)write_all(report_fd, &e, sizeof e);
    _exit(127);
}

/* Forks and execs path with out_fd as stdout and err_fd as stderr, with the
 * child registered in slot before any signal can be handled.  Returns the
 * pid, or a negative DX_E... code when exec failed. */
static pid_t spawn_raw(const char *path, char *const argv[], int out_fd,
                       int err_fd, int slot_idx)
{
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0)
        return DX_EIO;
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        close(devnull);
        return DX_EIO;
    }
    long max_fd = sysconf(_SC_OPEN_MAX);
    if (max_fd < 0 || max_fd > 65536)
        max_fd = 65536;
    pid_t parent = getpid();

    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pid_t pid = fork();
    if (pid == 0)
        child_exec(path, argv, devnull, out_fd, err_fd, report[1], parent,
                   max_fd);
    if (pid > 0) {
        (void)setpgid(pid, pid); /* whichever of us runs first */
        slot_set_pid(slot_idx, pid);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(report[1]);
    close(devnull);
    if (pid < 0) {
        close(report[0]);
        return DX_EIO;
    }

    int child_errno = 0;
    ssize_t r;
    do {
        r = read(report[0], &child_errno, sizeof child_errno);
    } while (r < 0 && errno == EINTR);
    close(report[0]);
    if (r == (ssize_t)sizeof child_errno) {
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        slot_set_pid(slot_idx, 0);
        say("cannot execute %s: %s", path, strerror(child_errno));
        return child_errno == ENOENT ? DX_ENOTFOUND : DX_EIO;
    }
    return pid;
}

static int open_log(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

/* Reaps p if it exited (blocking when block); returns whether it is gone. */
static bool proc_reap(dxh_proc *p, bool block)
{
    if (p->reaped)
        return true;
    for (;;) {
        int st = 0;
        pid_t r = waitpid(p->pid, &st, block ? 0 : WNOHANG);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            return false;
        p->reaped = true;
        p->status = r == p->pid ? shell_status(st) : -1;
        slot_set_pid(p->slot, 0);
        /* Whatever it left behind in its group goes with it. */
        (void)kill(-p->pid, SIGKILL);
        return true;
    }
}

dxh_proc *dxh_spawn(dxh *h, const char *name, const char *const argv[],
                    const char *log_path)
{
    if (h == NULL || argv == NULL || argv[0] == NULL)
        return NULL;
    char path[1024];
    if (find_program(argv[0], path, sizeof path) != 0) {
        say("cannot find program %s", argv[0]);
        return NULL;
    }
    dxh_proc *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->h = h;
    p->slot = -1;
    copy_str(p->name, sizeof p->name, name != NULL ? name : "proc");
    p->log = log_path != NULL ? xstrdup(log_path)
                              : xprintf("%s/%s.log", h->dir, p->name);
    if (p->log == NULL)
        goto fail_proc;
    int fd = open_log(p->log);
    if (fd < 0) {
        say("cannot open %s: %s", p->log, strerror(errno));
        goto fail_log;
    }
    p->slot = slot_acquire(p->log);
    pid_t pid = spawn_raw(path, (char *const *)argv, fd, fd, p->slot);
    close(fd);
    if (pid < 0)
        goto fail_slot;
    p->pid = pid;
    if (h->procs_tail != NULL)
        h->procs_tail->next = p;
    else
        h->procs = p;
    h->procs_tail = p;
    SAY_VERBOSE("started %s (pid %d), log %s", p->name, (int)pid, p->log);
    return p;

fail_slot:
    slot_release(p->slot);
fail_log:
    free(p->log);
fail_proc:
    free(p);
    return NULL;
}

pid_t dxh_proc_pid(const dxh_proc *p)
{
    return p->pid;
}

const char *dxh_proc_log(const dxh_proc *p)
{
    return p->log;
}

int dxh_proc_signal(dxh_proc *p, int sig)
{
    if (p == NULL)
        return DX_EINVAL;
    if (proc_reap(p, false))
        return DX_ESTATE;
    if (kill(-p->pid, sig) != 0 && kill(p->pid, sig) != 0)
        return DX_ESTATE;
    return 0;
}

int dxh_proc_wait(dxh_proc *p, int timeout_ms, int *status)
{
    if (p == NULL)
        return DX_EINVAL;
    if (timeout_ms < 0) {
        proc_reap(p, true);
    } else {
        int64_t deadline = deadline_after(timeout_ms);
        while (!proc_reap(p, false)) {
            if (passed_deadline(deadline))
                return DX_ETIMEOUT;
            dxh_sleep_ms(5);
        }
    }
    if (status != NULL)
        *status = p->status;
    return 0;
}

int dxh_proc_stop(dxh_proc *p, int grace_ms, int *status)
{
    if (p == NULL)
        return DX_EINVAL;
    if (!proc_reap(p, false)) {
        (void)kill(-p->pid, SIGTERM);
        (void)kill(-p->pid, SIGCONT);
        if (dxh_proc_wait(p, grace_ms, NULL) != 0) {
            (void)kill(-p->pid, SIGKILL);
            (void)kill(p->pid, SIGKILL);
            proc_reap(p, true);
        }
    }
    if (status != NULL)
        *status = p->status;
    return 0;
}

bool dxh_proc_is_running(dxh_proc *p)
{
    return p != NULL && !proc_reap(p, false);
}

/* ---- the harness ------------------------------------------------------ */

dxh *dxh_create(const char *name)
{
    install_hooks();
    dxh *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->owner = getpid();
    h->dir_slot = -1;
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] == '\0')
        tmp = "/tmp";
    h->dir = xprintf("%s/dxh-%s-XXXXXX", tmp, name != NULL ? name : "test");
    if (h->dir == NULL)
        goto fail_h;
    if (mkdtemp(h->dir) == NULL) {
        say("mkdtemp %s: %s", h->dir, strerror(errno));
        goto fail_dir;
    }
    h->dir_slot = dir_register(h->dir);
    h->next_live = g_live;
    g_live = h;
    SAY_VERBOSE("work dir %s", h->dir);
    return h;

fail_dir:
    free(h->dir);
fail_h:
    free(h);
    return NULL;
}

void dxh_pass(dxh *h)
{
    if (h != NULL)
        h->passed = true;
}

void dxh_fail(dxh *h)
{
    if (h != NULL)
        h->failed = true;
}

const char *dxh_workdir(const dxh *h)
{
    return h->dir;
}

int dxh_path(const dxh *h, char *buf, size_t len, const char *fmt, ...)
{
    int w = snprintf(buf, len, "%s/", h->dir);
    if (w < 0 || (size_t)w >= len)
        return DX_ENOSPACE;
    va_list ap;
    va_start(ap, fmt);
    int w2 = vsnprintf(buf + w, len - (size_t)w, fmt, ap);
    va_end(ap);
    if (w2 < 0 || (size_t)w2 >= len - (size_t)w)
        return DX_ENOSPACE;
    return 0;
}

/* Stops every process: SIGTERM (+SIGCONT) to all but the broker, a shared
 * grace period, SIGKILL; then the broker the same way. */
static void stop_all(dxh *h)
{
    for (int pass = 0; pass < 2; pass++) {
        bool brokers = pass == 1;
        bool any = false;
        for (dxh_proc *p = h->procs; p != NULL; p = p->next) {
            if ((p == h->broker) != brokers || proc_reap(p, false))
                continue;
            (void)kill(-p->pid, SIGTERM);
            (void)kill(-p->pid, SIGCONT);
            any = true;
        }
        if (!any)
            continue;
        int64_t deadline = deadline_after(STOP_GRACE_MS);
        for (;;) {
            bool running = false;
            for (dxh_proc *p = h->procs; p != NULL; p = p->next)
                if ((p == h->broker) == brokers && !proc_reap(p, false))
                    running = true;
            if (!running || passed_deadline(deadline))
                break;
            dxh_sleep_ms(10);
        }
        for (dxh_proc *p = h->procs; p != NULL; p = p->next) {
            if ((p == h->broker) != brokers || proc_reap(p, false))
                continue;
            say("%s (pid %d) ignored SIGTERM; killing it", p->name,
                (int)p->pid);
            (void)kill(-p->pid, SIGKILL);
            (void)kill(p->pid, SIGKILL);
            proc_reap(p, true);
        }
    }
}

static void dump_logs(dxh *h)
{
    char *buf = malloc(TAIL_BYTES);
    if (buf == NULL)
        return;
    fflush(stdout);
    fflush(stderr);
    for (dxh_proc *p = h->procs; p != NULL; p = p->next) {
        bool seen = false;
        for (dxh_proc *q = h->procs; q != p && !seen; q = q->next)
            seen = strcmp(q->log, p->log) == 0;
        if (!seen)
            tail_file(p->log, buf, TAIL_BYTES);
    }
    char run_log[SLOT_PATH];
    if (dxh_path(h, run_log, sizeof run_log, "run.log") == 0 &&
        access(run_log, R_OK) == 0)
        tail_file(run_log, buf, TAIL_BYTES);
    free(buf);
}

static void teardown(dxh *h, bool failed)
{
    for (dxh **pp = &g_live; *pp != NULL; pp = &(*pp)->next_live) {
        if (*pp == h) {
            *pp = h->next_live;
            break;
        }
    }
    while (h->obs != NULL)
        dxh_obs_destroy(h->obs); /* unlinks itself */
    stop_all(h);

    const char *keep = getenv("DXH_KEEP");
    if (failed) {
        dump_logs(h);
        say("test FAILED; keeping work dir %s", h->dir);
    } else if (keep != NULL && keep[0] != '\0' && keep[0] != '0') {
        say("keeping work dir %s (DXH_KEEP)", h->dir);
    } else {
        remove_tree(h->dir);
    }
    dir_release(h->dir_slot);

    dxh_proc *p = h->procs;
    while (p != NULL) {
        dxh_proc *next = p->next;
        slot_release(p->slot);
        free(p->log);
        free(p);
        p = next;
    }
    free(h->dir);
    free(h);
}

void dxh_destroy(dxh *h)
{
    if (h == NULL)
        return;
    teardown(h, h->failed || !h->passed);
}

/* ---- the broker ------------------------------------------------------- */

/* A port nobody was listening on a moment ago (0 on error). */
static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return 0;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    int port = 0;
    if (bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(s);
    return port;
}

static bool can_connect(int port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return false;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    bool ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    close(s);
    return ok;
}

/* Whether pid owns a socket listening on port; true when /proc cannot
 * tell (the check only guards against a stranger on our port). */
static bool pid_listens_on(pid_t pid, int port)
{
    FILE *f = fopen("/proc/net/tcp", "re");
    if (f == NULL)
        return true;
    unsigned long inodes[8];
    size_t ninodes = 0;
    char line[512];
    while (fgets(line, sizeof line, f) != NULL && ninodes < 8) {
        unsigned int lport = 0, st = 0;
        unsigned long inode = 0;
        if (sscanf(line, " %*d: %*x:%x %*x:%*x %x %*x:%*x %*x:%*x %*x %*u %*u %lu",
                   &lport, &st, &inode) == 3 &&
            st == 0x0A && lport == (unsigned int)port)
            inodes[ninodes++] = inode;
    }
    fclose(f);
    if (ninodes == 0)
        return false;

    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    if (d == NULL)
        return true;
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        char link[64 + sizeof e->d_name], target[64];
        snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        unsigned long inode;
        if (sscanf(target, "socket:[%lu]", &inode) != 1)
            continue;
        for (size_t i = 0; i < ninodes; i++)
            if (inodes[i] == inode)
                found = true;
    }
    closedir(d);
    return found;
}

/* Copies the template to WORKDIR/broker.conf with our port and database
 * directory.  Returns 0 or a DX_E... code. */
static int write_broker_conf(dxh *h, const char *tmpl, int port)
{
    FILE *in = fopen(tmpl, "re");
    if (in == NULL) {
        say("cannot read broker config %s: %s", tmpl, strerror(errno));
        return DX_ENOTFOUND;
    }
    int rc = DX_EIO;
    char db[SLOT_PATH];
    if (dxh_path(h, db, sizeof db, "broker-db") != 0 ||
        dxh_path(h, h->conf, sizeof h->conf, "broker.conf") != 0 ||
        make_dir(db) != 0)
        goto close_in;
    FILE *out = fopen(h->conf, "we");
    if (out == NULL)
        goto close_in;
    bool root = geteuid() == 0;
    bool seen_listener = false, seen_location = false, seen_dest = false;
    bool seen_user = false;
    fprintf(out, "# Written by the DistribuX test harness from %s:\n"
                 "# listener port, persistence_location and logging "
                 "rewritten for this test.\n", tmpl);
    char *line = NULL;
    size_t cap = 0;
    rc = 0;
    while (getline(&line, &cap, in) >= 0) {
        const char *s = line + strspn(line, " \t");
        size_t kw = strcspn(s, " \t\r\n");
#define KW(word) (kw == strlen(word) && strncmp(s, word, kw) == 0)
        if (KW("listener") || KW("port")) {
            if (seen_listener) {
                say("%s: more than one listener; the harness handles one",
                    tmpl);
                rc = DX_EINVAL;
                break;
            }
            seen_listener = true;
            fprintf(out, "listener %d 127.0.0.1\n", port);
        } else if (KW("persistence_location")) {
            seen_location = true;
            fprintf(out, "persistence_location %s/\n", db);
        } else if (KW("log_dest")) {
            if (seen_dest)
                fprintf(out, "# (dxh) %s", line);
            else
                fputs("log_dest stderr\n", out);
            seen_dest = true;
        } else if (KW("pid_file") || KW("daemon")) {
            fprintf(out, "# (dxh) %s", line);
        } else if (KW("user") && root) {
            seen_user = true;
            fputs("user root\n", out);
        } else {
            fputs(line, out);
        }
#undef KW
    }
    free(line);
    fputc('\n', out);
    if (!seen_listener)
        fprintf(out, "listener %d 127.0.0.1\n", port);
    if (!seen_location)
        fprintf(out, "persistence_location %s/\n", db);
    if (root && !seen_user) /* else mosquitto drops to a user who cannot
                               write our 0700 directory */
        fputs("user root\n", out);
    if (fclose(out) != 0 && rc == 0)
        rc = DX_EIO;
close_in:
    fclose(in);
    return rc;
}

static bool file_contains_from(const char *path, off_t from,
                               const char *needle)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool found = false;
    char buf[8192];
    if (lseek(fd, from, SEEK_SET) == from) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        if (n > 0) {
            buf[n] = '\0';
            found = strstr(buf, needle) != NULL;
        }
    }
    close(fd);
    return found;
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : 0;
}

/* Spawns mosquitto on h->conf and waits until it accepts connections.
 * Returns 0, DX_EEXISTS when the port was taken, or another DX_E... */
static int broker_launch(dxh *h)
{
    char log[SLOT_PATH];
    if (dxh_path(h, log, sizeof log, "broker.log") != 0)
        return DX_ENOSPACE;
    off_t log_start = file_size(log);
    const char *argv[] = {"mosquitto", "-c", h->conf, NULL};
    dxh_proc *p = dxh_spawn(h, "broker", argv, log);
    if (p == NULL)
        return DX_ENOTFOUND;
    h->broker = p;
    int64_t deadline = deadline_after(BROKER_START_MS);
    for (;;) {
        if (!dxh_proc_is_running(p)) {
            if (file_contains_from(log, log_start, "Address already in use"))
                return DX_EEXISTS;
            say("mosquitto exited with status %d; see %s", p->status, log);
            return DX_ECONNECT;
        }
        if (can_connect(h->port) && pid_listens_on(p->pid, h->port))
            return 0;
        if (passed_deadline(deadline))
            break;
        dxh_sleep_ms(10);
    }
    say("mosquitto did not accept connections on port %d within %d ms",
        h->port, (int)BROKER_START_MS);
    dxh_proc_stop(p, 0, NULL);
    return DX_ETIMEOUT;
}

int dxh_broker_start(dxh *h, const char *conf)
{
    if (h == NULL)
        return DX_EINVAL;
    if (h->broker != NULL && dxh_proc_is_running(h->broker))
        return DX_ESTATE;
    if (conf == NULL)
        conf = getenv("DX_BROKER_CONF");
    if (conf == NULL || conf[0] == '\0')
        conf = DXH_DEFAULT_BROKER_CONF;
    int rc = DX_ECONNECT;
    for (int attempt = 0; attempt < 5; attempt++) {
        h->port = free_port();
        if (h->port == 0)
            return DX_EIO;
        snprintf(h->url, sizeof h->url, "tcp://127.0.0.1:%d", h->port);
        rc = write_broker_conf(h, conf, h->port);
        if (rc != 0)
            return rc;
        rc = broker_launch(h);
        if (rc != DX_EEXISTS)
            break;
        say("port %d was taken; trying another", h->port);
    }
    if (rc == 0)
        SAY_VERBOSE("broker up on %s", h->url);
    return rc;
}

int dxh_broker_stop(dxh *h, int grace_ms)
{
    if (h == NULL || h->broker == NULL)
        return DX_ESTATE;
    return dxh_proc_stop(h->broker, grace_ms, NULL);
}

int dxh_broker_kill(dxh *h)
{
    if (h == NULL || h->broker == NULL)
        return DX_ESTATE;
    (void)dxh_proc_signal(h->broker, SIGKILL);
    return dxh_proc_wait(h->broker, -1, NULL);
}

int dxh_broker_restart(dxh *h)
{
    if (h == NULL || h->port == 0)
        return DX_ESTATE;
    if (h->broker != NULL && dxh_proc_is_running(h->broker))
        return DX_ESTATE;
    int64_t deadline = deadline_after(BROKER_START_MS);
    int rc;
    for (;;) {
        rc = broker_launch(h);
        if (rc != DX_EEXISTS)
            break;
        if (passed_deadline(deadline)) {
            say("port %d is still taken; cannot restart the broker", h->port);
            return rc;
        }
        dxh_sleep_ms(200);
    }
    if (rc != 0)
        return rc;
    /* Bring the harness's observers back before the test goes on. */
    for (dxh_obs *o = h->obs; o != NULL; o = o->next) {
        if (dxh_obs_wait_connected(o, BROKER_START_MS) != 0) {
            say("observer %s did not reconnect (Paho code %d)", o->client_id,
                o->last_error);
            rc = DX_ECONNECT;
        }
    }
    return rc;
}

bool dxh_broker_is_running(dxh *h)
{
    return h != NULL && h->broker != NULL && dxh_proc_is_running(h->broker);
}

dxh_proc *dxh_broker_proc(const dxh *h)
{
    return h->broker;
}

int dxh_broker_port(const dxh *h)
{
    return h->port;
}

const char *dxh_broker_url(const dxh *h)
{
    return h->url;
}

/* ---- agents ----------------------------------------------------------- */

const char *dxh_agent_bin(void)
{
    return getenv("DX_AGENT");
}

const char *dxh_cli_bin(void)
{
    return getenv("DX_CLI");
}

char **dxh_agent_argv(const dxh *h, const char *bin, int id,
                      const char *const extra[])
{
    if (bin == NULL)
        bin = dxh_agent_bin();
    if (h == NULL || bin == NULL)
        return NULL;
    size_t nextra = 0;
    while (extra != NULL && extra[nextra] != NULL)
        nextra++;
    char **argv = calloc(10 + nextra, sizeof *argv);
    if (argv == NULL)
        return NULL;
    size_t i = 0;
    argv[i++] = xstrdup(bin);
    argv[i++] = xstrdup("--id");
    argv[i++] = xprintf("%d", id);
    argv[i++] = xstrdup("--broker");
    argv[i++] = xstrdup(h->url);
    argv[i++] = xstrdup("--data-dir");
    argv[i++] = xprintf("%s/node%d", h->dir, id);
    argv[i++] = xstrdup("--cluster");
    argv[i++] = xstrdup("test");
    for (size_t k = 0; k < nextra; k++)
        argv[i++] = xstrdup(extra[k]);
    for (size_t k = 0; k < i; k++) {
        if (argv[k] == NULL) {
            /* One allocation failed: free the rest, slot by slot. */
            for (size_t j = 0; j < i; j++)
                free(argv[j]);
            free(argv);
            return NULL;
        }
    }
    return argv;
}

void dxh_argv_free(char **argv)
{
    if (argv == NULL)
        return;
    for (char **a = argv; *a != NULL; a++)
        free(*a);
    free(argv);
}

dxh_proc *dxh_agent_start(dxh *h, const char *bin, int id,
                          const char *const extra[])
{
    if (bin == NULL)
        bin = dxh_agent_bin();
    if (h == NULL || bin == NULL) {
        say("no agent program (set DX_AGENT)");
        return NULL;
    }
    char dir[SLOT_PATH], name[32];
    if (dxh_path(h, dir, sizeof dir, "node%d", id) != 0 || make_dir(dir) != 0)
        return NULL;
    char **argv = dxh_agent_argv(h, bin, id, extra);
    if (argv == NULL)
        return NULL;
    snprintf(name, sizeof name, "node%d", id);
    dxh_proc *p = dxh_spawn(h, name, (const char *const *)argv, NULL);
    dxh_argv_free(argv);
    if (p != NULL)
        p->agent_id = id;
    return p;
}

int dxh_agents_start(dxh *h, const char *bin, int n, const char *const extra[])
{
    for (int id = 1; id <= n; id++)
        if (dxh_agent_start(h, bin, id, extra) == NULL)
            return DX_EIO;
    return 0;
}

dxh_proc *dxh_agent(const dxh *h, int id)
{
    dxh_proc *found = NULL;
    for (dxh_proc *p = h->procs; p != NULL; p = p->next)
        if (p->agent_id == id)
            found = p;
    return found;
}

/* ---- commands --------------------------------------------------------- */

int dxh_run(dxh *h, const char *const argv[], int timeout_ms, char **out,
            size_t *out_len, int *exit_code)
{
    if (out != NULL)
        *out = NULL;
    if (out_len != NULL)
        *out_len = 0;
    if (argv == NULL || argv[0] == NULL)
        return DX_EINVAL;
    char path[1024];
    if (find_program(argv[0], path, sizeof path) != 0) {
        say("cannot find program %s", argv[0]);
        return DX_ENOTFOUND;
    }

    char log[SLOT_PATH] = "";
    int err_fd;
    if (h != NULL && dxh_path(h, log, sizeof log, "run.log") == 0) {
        err_fd = open_log(log);
        if (err_fd >= 0) {
            /* One header line, so the log says which command wrote what. */
            dprintf(err_fd, "$");
            for (size_t i = 0; argv[i] != NULL; i++)
                dprintf(err_fd, " %s", argv[i]);
            dprintf(err_fd, "\n");
        }
    } else {
        err_fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
    }
    if (err_fd < 0)
        return DX_EIO;

    int rc = DX_EIO;
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        goto close_err;
    int slot_idx = slot_acquire(log);
    pid_t pid = spawn_raw(path, (char *const *)argv, pipefd[1], err_fd,
                          slot_idx);
    close(pipefd[1]);
    if (pid < 0) {
        rc = pid;
        goto release;
    }

    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    if (buf == NULL) {
        rc = DX_ENOMEM;
        (void)kill(-pid, SIGKILL);
    }
    int64_t deadline = deadline_after(timeout_ms);
    bool timed_out = false;
    while (buf != NULL) {
        struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
        int left = ms_left(deadline);
        if (left == 0) {
            timed_out = true;
            break;
        }
        int pr = poll(&pfd, 1, left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue; /* the deadline check above ends the loop */
        if (len + 1 >= cap) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL)
                break;
            buf = bigger;
            cap *= 2;
        }
        ssize_t r = read(pipefd[0], buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; /* EOF: the command closed its stdout */
        len += (size_t)r;
    }

    int st = 0;
    bool reaped = false;
    while (!timed_out) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR)) {
            reaped = w == pid;
            break;
        }
        if (ms_left(deadline) == 0)
            timed_out = true;
        else
            dxh_sleep_ms(5);
    }
    if (!reaped) {
        (void)kill(-pid, SIGKILL);
        (void)kill(pid, SIGKILL);
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
    }
    (void)kill(-pid, SIGKILL); /* anything it left in its group */
    slot_set_pid(slot_idx, 0);

    if (buf != NULL) {
        buf[len] = '\0';
        if (out != NULL)
            *out = buf;
        else
            free(buf);
        if (out_len != NULL)
            *out_len = len;
        rc = 0;
    }
    if (timed_out) {
        rc = DX_ETIMEOUT;
        if (err_fd >= 0 && log[0] != '\0')
            dprintf(err_fd, "(dxh: killed after %d ms)\n", timeout_ms);
    } else if (rc == 0 && exit_code != NULL) {
        *exit_code = shell_status(st);
    }

release:
    slot_release(slot_idx);
    close(pipefd[0]);
close_err:
    close(err_fd);
    return rc;
}

int dxh_runl(dxh *h, int timeout_ms, char **out, int *exit_code,
             const char *prog, ...)
{
    const char *argv[64];
    size_t n = 0;
    argv[n++] = prog;
    va_list ap;
    va_start(ap, prog);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 63)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return dxh_run(h, argv, timeout_ms, out, NULL, exit_code);
}

/* ---- MQTT observer ---------------------------------------------------- */

/* A pending Paho operation: one reference for the waiter, one for the
 * callback; whoever drops the last frees it. */
typedef struct obs_op {
    dxh_obs *o;
    int refs;
    bool done;
    int rc;
} obs_op;

typedef struct resub_ctx {
    dxh_obs *o;
    uint64_t gen;
} resub_ctx;

static obs_op *op_new(dxh_obs *o)
{
    obs_op *op = calloc(1, sizeof *op);
    if (op != NULL) {
        op->o = o;
        op->refs = 2;
    }
    return op;
}

static void op_unref_locked(obs_op *op)
{
    if (--op->refs == 0)
        free(op);
}

static void op_finish(obs_op *op, int rc)
{
    dxh_obs *o = op->o;
    pthread_mutex_lock(&o->mu);
    op->done = true;
    op->rc = rc;
    pthread_cond_broadcast(&o->cv);
    op_unref_locked(op);
    pthread_mutex_unlock(&o->mu);
}

static void on_op_success(void *ctx, MQTTAsync_successData *r)
{
    (void)r;
    op_finish(ctx, 0);
}

static void on_op_failure(void *ctx, MQTTAsync_failureData *r)
{
    obs_op *op = ctx;
    op_finish(op, r != NULL && r->code == MQTTASYNC_DISCONNECTED
                      ? DX_ECONNECT : DX_EIO);
}

/* Returns the absolute CLOCK_MONOTONIC time deadline_ns as a timespec. */
static struct timespec to_timespec(int64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000),
                          .tv_nsec = (long)(ns % 1000000000)};
    return ts;
}

/* Waits on o->cv (o->mu held) until deadline_ns (0: forever); returns
 * whether the deadline passed. */
static bool cv_wait_until(dxh_obs *o, int64_t deadline_ns)
{
    if (deadline_ns == 0) {
        pthread_cond_wait(&o->cv, &o->mu);
        return false;
    }
    struct timespec ts = to_timespec(deadline_ns);
    return pthread_cond_timedwait(&o->cv, &o->mu, &ts) == ETIMEDOUT;
}

/* Paho's one receive thread (shared by every client of the process) sleeps
 * up to 1 s in poll() and only then notices a socket that started
 * connecting meanwhile, so a second observer took 2 s to connect and a
 * reconnect 3-4 s.  A QoS 1 publish from another connected observer makes
 * the broker answer on a socket that poll() watches, which wakes it.  The
 * kick topic is not subscribed by anything. */
static void kick_paho(dxh_obs *except)
{
    pthread_mutex_lock(&g_obs_mu);
    for (dxh_obs *k = g_all_obs; k != NULL; k = k->all_next) {
        if (k != except && MQTTAsync_isConnected(k->cli)) {
            (void)MQTTAsync_send(k->cli, "dxh/kick", 0, "", 1, 0, NULL);
            break;
        }
    }
    pthread_mutex_unlock(&g_obs_mu);
}

/* Like cv_wait_until(), but wakes every 20 ms to kick Paho. */
static bool cv_wait_kicking(dxh_obs *o, int64_t deadline_ns)
{
    int64_t slice = dxh_now_ns() + 20000000;
    if (deadline_ns != 0 && deadline_ns < slice)
        slice = deadline_ns;
    if (!cv_wait_until(o, slice))
        return false;
    if (deadline_ns != 0 && dxh_now_ns() >= deadline_ns)
        return true;
    pthread_mutex_unlock(&o->mu);
    kick_paho(o);
    pthread_mutex_lock(&o->mu);
    return false;
}

/* Waits for the callback (or the timeout) and drops the waiter's ref;
 * kick: the operation is a connect (see kick_paho). */
static int op_wait(obs_op *op, int timeout_ms, bool kick)
{
    dxh_obs *o = op->o;
    int64_t deadline = deadline_after(timeout_ms);
    pthread_mutex_lock(&o->mu);
    bool late = false;
    while (!op->done && !late)
        late = kick ? cv_wait_kicking(o, deadline) : cv_wait_until(o, deadline);
    int rc = op->done ? op->rc : DX_ETIMEOUT;
    op_unref_locked(op);
    pthread_mutex_unlock(&o->mu);
    return rc;
}

/* The Paho call failed synchronously: no callback will come. */
static int op_abandon(obs_op *op, int rc)
{
    free(op);
    return rc;
}

static void on_resub_success(void *ctx, MQTTAsync_successData *r)
{
    (void)r;
    resub_ctx *rs = ctx;
    dxh_obs *o = rs->o;
    pthread_mutex_lock(&o->mu);
    if (rs->gen > o->subs_gen)
        o->subs_gen = rs->gen;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
    free(rs);
}

static void on_resub_failure(void *ctx, MQTTAsync_failureData *r)
{
    resub_ctx *rs = ctx;
    fprintf(stderr, "dxh: %s: resubscription failed (%d)\n",
            rs->o->client_id, r != NULL ? r->code : 0);
    free(rs);
}

/* Paho: our connect succeeded.  Resubscribes without waiting. */
static void on_conn_success(void *ctx, MQTTAsync_successData *r)
{
    (void)r;
    dxh_obs *o = ctx;
    pthread_mutex_lock(&o->mu);
    o->connecting = false;
    o->connected = true;
    uint64_t gen = ++o->conn_gen;
    size_t n = o->nfilters;
    char **filters = n > 0 ? calloc(n, sizeof *filters) : NULL;
    int *qos = n > 0 ? calloc(n, sizeof *qos) : NULL;
    if (n == 0 || filters == NULL || qos == NULL) {
        o->subs_gen = gen; /* nothing to resubscribe (or no memory) */
        n = 0;
    }
    for (size_t i = 0; i < n; i++) {
        /* The strings are freed only after the client is destroyed, and
         * Paho copies them. */
        filters[i] = o->filters[i];
        qos[i] = 1;
    }
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);

    resub_ctx *rs = n > 0 ? malloc(sizeof *rs) : NULL;
    if (rs != NULL) {
        rs->o = o;
        rs->gen = gen;
        MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
        ro.onSuccess = on_resub_success;
        ro.onFailure = on_resub_failure;
        ro.context = rs;
        if (MQTTAsync_subscribeMany(o->cli, (int)n, filters, qos, &ro) !=
            MQTTASYNC_SUCCESS)
            free(rs);
    }
    free(filters);
    free(qos);
}

static void on_conn_failure(void *ctx, MQTTAsync_failureData *r)
{
    dxh_obs *o = ctx;
    pthread_mutex_lock(&o->mu);
    o->connecting = false;
    o->last_error = r != NULL ? r->code : -1;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
}

/* Starts a connect (o->connecting already set by the caller).  Paho's
 * automatic reconnect is not used: its timer runs about once a second, so
 * it took 3-4 s after a broker restart; dxh_obs_wait_connected() drives
 * reconnects instead. */
static int obs_start_connect(dxh_obs *o)
{
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    MQTTAsync_willOptions wo = MQTTAsync_willOptions_initializer;
    co.keepAliveInterval = o->keepalive_s;
    co.cleansession = 1;
    co.MQTTVersion = MQTTVERSION_3_1_1;
    co.connectTimeout = 5;
    co.automaticReconnect = 0;
    if (o->will_topic != NULL) {
        wo.topicName = o->will_topic;
        wo.message = o->will_payload;
        wo.qos = o->will_qos;
        wo.retained = o->will_retain ? 1 : 0;
        co.will = &wo;
    }
    co.onSuccess = on_conn_success;
    co.onFailure = on_conn_failure;
    co.context = o;
    int rc = MQTTAsync_connect(o->cli, &co);
    return rc == MQTTASYNC_SUCCESS ? 0 : DX_ECONNECT;
}

static void on_connlost(void *ctx, char *cause)
{
    (void)cause;
    dxh_obs *o = ctx;
    pthread_mutex_lock(&o->mu);
    o->connected = false;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
}

/* Paho: a message.  Copy, append, signal; nothing else. */
static int on_message(void *ctx, char *topic, int topic_len,
                      MQTTAsync_message *msg)
{
    dxh_obs *o = ctx;
    size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    size_t plen = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    int64_t now = dxh_now_ns();
    /* One block: the record, then the topic, then the payload. */
    dxh_msg *m = malloc(sizeof *m + tlen + 1 + plen + 1);
    bool stored = false;
    if (m != NULL) {
        char *t = (char *)(m + 1);
        char *p = t + tlen + 1;
        memcpy(t, topic, tlen);
        t[tlen] = '\0';
        if (plen > 0)
            memcpy(p, msg->payload, plen);
        p[plen] = '\0';
        m->topic = t;
        m->payload = p;
        m->payload_len = plen;
        m->qos = msg->qos;
        m->retained = msg->retained != 0;
        m->t_ns = now;
        pthread_mutex_lock(&o->mu);
        if (o->n == o->cap) {
            size_t cap = o->cap != 0 ? o->cap * 2 : 256;
            dxh_msg **bigger = realloc(o->msgs, cap * sizeof *bigger);
            if (bigger != NULL) {
                o->msgs = bigger;
                o->cap = cap;
            }
        }
        if (o->n < o->cap) {
            m->seq = o->next_seq++;
            o->msgs[o->n++] = m;
            stored = true;
            pthread_cond_broadcast(&o->cv);
        }
        pthread_mutex_unlock(&o->mu);
    }
    if (!stored) {
        fprintf(stderr, "dxh: %s: out of memory, message dropped\n",
                o->client_id);
        free(m);
    }
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    return 1;
}

static void obs_unregister(dxh_obs *o)
{
    pthread_mutex_lock(&g_obs_mu);
    for (dxh_obs **pp = &g_all_obs; *pp != NULL; pp = &(*pp)->all_next) {
        if (*pp == o) {
            *pp = o->all_next;
            break;
        }
    }
    pthread_mutex_unlock(&g_obs_mu);
}

dxh_obs *dxh_obs_new(dxh *h, const dxh_obs_opts *opts)
{
    dxh_obs_opts none;
    memset(&none, 0, sizeof none);
    if (opts == NULL)
        opts = &none;
    const char *url = opts->url != NULL ? opts->url
                      : h != NULL      ? h->url
                                       : NULL;
    if (url == NULL || url[0] == '\0')
        return NULL;

    dxh_obs *o = calloc(1, sizeof *o);
    if (o == NULL)
        return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&o->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&o->mu, NULL);
    o->url = xstrdup(url);
    o->client_id = opts->client_id != NULL
                       ? xstrdup(opts->client_id)
                       : xprintf("dxh-obs-%d-%u", (int)getpid(),
                                 atomic_fetch_add(&g_obs_counter, 1u));
    o->will_topic = xstrdup(opts->will_topic);
    o->will_payload = xstrdup(opts->will_payload != NULL ? opts->will_payload
                                                         : "");
    if (o->url == NULL || o->client_id == NULL || o->will_payload == NULL)
        goto fail_strings;

    if (MQTTAsync_create(&o->cli, o->url, o->client_id,
                         MQTTCLIENT_PERSISTENCE_NONE, NULL) !=
        MQTTASYNC_SUCCESS)
        goto fail_strings;
    MQTTAsync_setCallbacks(o->cli, o, on_connlost, on_message, NULL);
    o->keepalive_s = opts->keepalive_s > 0 ? opts->keepalive_s : 10;
    o->will_qos = opts->will_qos;
    o->will_retain = opts->will_retain;

    pthread_mutex_lock(&g_obs_mu);
    o->all_next = g_all_obs;
    g_all_obs = o;
    pthread_mutex_unlock(&g_obs_mu);
    if (dxh_obs_wait_connected(o, OP_TIMEOUT_MS) != 0) {
        say("observer %s cannot connect to %s (Paho code %d)", o->client_id,
            o->url, o->last_error);
        goto fail_client;
    }

    if (h != NULL && opts->url == NULL) {
        o->h = h;
        o->next = h->obs;
        h->obs = o;
    }
    return o;

fail_client:
    obs_unregister(o);
    MQTTAsync_destroy(&o->cli);
fail_strings:
    free(o->url);
    free(o->client_id);
    free(o->will_topic);
    free(o->will_payload);
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->cv);
    free(o);
    return NULL;
}

void dxh_obs_destroy(dxh_obs *o)
{
    if (o == NULL)
        return;
    if (o->h != NULL) {
        for (dxh_obs **pp = &o->h->obs; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == o) {
                *pp = o->next;
                break;
            }
        }
    }
    if (MQTTAsync_isConnected(o->cli)) {
        MQTTAsync_disconnectOptions dopts =
            MQTTAsync_disconnectOptions_initializer;
        obs_op *op = op_new(o);
        if (op != NULL) {
            dopts.timeout = 1000;
            dopts.onSuccess = on_op_success;
            dopts.onFailure = on_op_failure;
            dopts.context = op;
            if (MQTTAsync_disconnect(o->cli, &dopts) == MQTTASYNC_SUCCESS)
                (void)op_wait(op, 2000, false);
            else
                (void)op_abandon(op, 0);
        }
    }
    obs_unregister(o);
    MQTTAsync_destroy(&o->cli);
    dxh_obs_clear(o);
    free(o->msgs);
    for (size_t i = 0; i < o->nfilters; i++)
        free(o->filters[i]);
    free(o->filters);
    free(o->url);
    free(o->client_id);
    free(o->will_topic);
    free(o->will_payload);
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->cv);
    free(o);
}

const char *dxh_obs_client_id(const dxh_obs *o)
{
    return o->client_id;
}

int dxh_obs_subscribe(dxh_obs *o, const char *filter)
{
    if (o == NULL || filter == NULL)
        return DX_EINVAL;
    pthread_mutex_lock(&o->mu);
    bool known = false;
    for (size_t i = 0; i < o->nfilters && !known; i++)
        known = strcmp(o->filters[i], filter) == 0;
    int rc = 0;
    if (!known) {
        char **bigger = realloc(o->filters, (o->nfilters + 1) * sizeof *bigger);
        char *copy = xstrdup(filter);
        if (bigger != NULL)
            o->filters = bigger;
        if (bigger == NULL || copy == NULL) {
            free(copy);
            rc = DX_ENOMEM;
        } else {
            o->filters[o->nfilters++] = copy;
        }
    }
    pthread_mutex_unlock(&o->mu);
    if (rc != 0)
        return rc;

    obs_op *op = op_new(o);
    if (op == NULL)
        return DX_ENOMEM;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess = on_op_success;
    ro.onFailure = on_op_failure;
    ro.context = op;
    if (MQTTAsync_subscribe(o->cli, filter, 1, &ro) != MQTTASYNC_SUCCESS)
        return op_abandon(op, DX_ECONNECT);
    return op_wait(op, OP_TIMEOUT_MS, false);
}

bool dxh_obs_is_connected(dxh_obs *o)
{
    pthread_mutex_lock(&o->mu);
    bool c = o->connected;
    pthread_mutex_unlock(&o->mu);
    return c;
}

int dxh_obs_wait_connected(dxh_obs *o, int timeout_ms)
{
    int64_t deadline = deadline_after(timeout_ms);
    bool ok = false, late = false;
    pthread_mutex_lock(&o->mu);
    for (;;) {
        ok = o->connected && o->subs_gen >= o->conn_gen;
        if (ok || late)
            break;
        /* (Re)connect, at most every 50 ms while the broker refuses. */
        if (!o->connected && !o->connecting &&
            dxh_now_ns() - o->last_attempt >= 50000000) {
            o->connecting = true;
            o->last_attempt = dxh_now_ns();
            pthread_mutex_unlock(&o->mu);
            int rc = obs_start_connect(o);
            pthread_mutex_lock(&o->mu);
            if (rc != 0)
                o->connecting = false;
        }
        late = cv_wait_kicking(o, deadline);
    }
    pthread_mutex_unlock(&o->mu);
    return ok ? 0 : DX_ETIMEOUT;
}

int dxh_obs_publish(dxh_obs *o, const char *topic, const void *payload,
                    size_t len, int qos, bool retain)
{
    if (o == NULL || topic == NULL || len > (size_t)INT32_MAX)
        return DX_EINVAL;
    obs_op *op = op_new(o);
    if (op == NULL)
        return DX_ENOMEM;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess = on_op_success;
    ro.onFailure = on_op_failure;
    ro.context = op;
    if (MQTTAsync_send(o->cli, topic, (int)len, payload != NULL ? payload : "",
                       qos, retain ? 1 : 0, &ro) != MQTTASYNC_SUCCESS)
        return op_abandon(op, DX_ECONNECT);
    return op_wait(op, OP_TIMEOUT_MS, false);
}

int dxh_obs_publish_str(dxh_obs *o, const char *topic, const char *payload,
                        int qos, bool retain)
{
    return dxh_obs_publish(o, topic, payload,
                           payload != NULL ? strlen(payload) : 0, qos, retain);
}

const dxh_msg *dxh_obs_wait_for_from(dxh_obs *o, uint64_t from,
                                     dxh_pred pred, void *ctx, int timeout_ms)
{
    int64_t deadline = deadline_after(timeout_ms);
    uint64_t next = from;
    bool late = false;
    pthread_mutex_lock(&o->mu);
    for (;;) {
        if (next < o->base_seq)
            next = o->base_seq;
        while (next < o->next_seq) {
            const dxh_msg *m = o->msgs[next - o->base_seq];
            next++;
            /* Records are immutable and only the test thread frees them,
             * so the predicate can run unlocked. */
            pthread_mutex_unlock(&o->mu);
            if (pred == NULL || pred(m, ctx))
                return m;
            pthread_mutex_lock(&o->mu);
            if (next < o->base_seq)
                next = o->base_seq;
        }
        if (late)
            break;
        late = cv_wait_until(o, deadline);
    }
    pthread_mutex_unlock(&o->mu);
    return NULL;
}

const dxh_msg *dxh_obs_wait_for(dxh_obs *o, dxh_pred pred, void *ctx,
                                int timeout_ms)
{
    return dxh_obs_wait_for_from(o, 0, pred, ctx, timeout_ms);
}

uint64_t dxh_obs_mark(dxh_obs *o)
{
    pthread_mutex_lock(&o->mu);
    uint64_t s = o->next_seq;
    pthread_mutex_unlock(&o->mu);
    return s;
}

size_t dxh_obs_count(dxh_obs *o, const char *filter)
{
    size_t count = 0;
    pthread_mutex_lock(&o->mu);
    for (size_t i = 0; i < o->n; i++)
        if (dxh_topic_matches(filter, o->msgs[i]->topic))
            count++;
    pthread_mutex_unlock(&o->mu);
    return count;
}

typedef struct count_ctx {
    const char *filter;
    size_t need;
    size_t seen;
} count_ctx;

static bool pred_count(const dxh_msg *m, void *ctx)
{
    count_ctx *c = ctx;
    if (dxh_topic_matches(c->filter, m->topic))
        c->seen++;
    return c->seen >= c->need;
}

int dxh_obs_wait_count(dxh_obs *o, const char *filter, size_t n,
                       int timeout_ms)
{
    if (n == 0)
        return 0;
    count_ctx c = {.filter = filter, .need = n, .seen = 0};
    return dxh_obs_wait_for(o, pred_count, &c, timeout_ms) != NULL
               ? 0 : DX_ETIMEOUT;
}

char *dxh_obs_last_payload(dxh_obs *o, const char *filter)
{
    char *copy = NULL;
    pthread_mutex_lock(&o->mu);
    for (size_t i = o->n; i > 0; i--) {
        const dxh_msg *m = o->msgs[i - 1];
        if (dxh_topic_matches(filter, m->topic)) {
            copy = malloc(m->payload_len + 1);
            if (copy != NULL)
                memcpy(copy, m->payload, m->payload_len + 1);
            break;
        }
    }
    pthread_mutex_unlock(&o->mu);
    return copy;
}

void dxh_obs_clear(dxh_obs *o)
{
    pthread_mutex_lock(&o->mu);
    for (size_t i = 0; i < o->n; i++)
        free(o->msgs[i]);
    o->n = 0;
    o->base_seq = o->next_seq;
    pthread_mutex_unlock(&o->mu);
}

bool dxh_topic_matches(const char *f, const char *t)
{
    if (f == NULL || t == NULL)
        return false;
    /* MQTT: wildcards at the first level do not match $SYS-style topics. */
    if (t[0] == '$' && (f[0] == '+' || f[0] == '#'))
        return false;
    for (;;) {
        if (f[0] == '#')
            return true;
        if (f[0] == '+') {
            f++;
            while (*t != '\0' && *t != '/')
                t++;
        } else {
            while (*f != '\0' && *f != '/') {
                if (*f != *t)
                    return false;
                f++;
                t++;
            }
            if (*t != '\0' && *t != '/')
                return false;
        }
        if (*f == '\0')
            return *t == '\0';
        if (*t == '\0') /* "a/#" also matches "a" */
            return strcmp(f, "/#") == 0;
        f++;
        t++;
    }
}

bool dxh_pred_match(const dxh_msg *m, void *ctx)
{
    const dxh_match *w = ctx;
    if (w->filter != NULL && !dxh_topic_matches(w->filter, m->topic))
        return false;
    if (w->retained == 1 && !m->retained)
        return false;
    if (w->retained == 0 && m->retained)
        return false;
    return w->contains == NULL || strstr(m->payload, w->contains) != NULL;
}

/* ---- the raw will baseline ------------------------------------------- */

static bool file_contains(const char *path, const char *needle)
{
    return file_contains_from(path, 0, needle);
}

dxh_proc *dxh_will_client_start(dxh *h, dxh_obs *obs, const char *client_id,
                                const char *will_topic,
                                const char *will_payload, bool will_retain,
                                int timeout_ms)
{
    if (h == NULL || obs == NULL || client_id == NULL || will_topic == NULL)
        return NULL;
    char port[16], marker_topic[256], marker[256], name[64], log[SLOT_PATH];
    snprintf(port, sizeof port, "%d", h->port);
    snprintf(marker_topic, sizeof marker_topic, "dxh/ready/%s", client_id);
    snprintf(marker, sizeof marker, "dxh-ready-%s", client_id);
    snprintf(name, sizeof name, "will-%s", client_id);
    for (char *c = name; *c != '\0'; c++)
        if (*c == '/')
            *c = '_';
    if (dxh_path(h, log, sizeof log, "%s.log", name) != 0)
        return NULL;
    if (dxh_obs_publish_str(obs, marker_topic, marker, 1, true) != 0)
        return NULL;

    const char *argv[] = {"mosquitto_sub", "-h", "127.0.0.1", "-p", port,
                          "-i", client_id, "-q", "1", "-t", marker_topic,
                          "--will-topic", will_topic, "--will-payload",
                          will_payload != NULL ? will_payload : "",
                          "--will-qos", "1",
                          will_retain ? "--will-retain" : NULL, NULL};
    dxh_proc *p = dxh_spawn(h, name, argv, log);
    int64_t deadline = deadline_after(timeout_ms);
    while (p != NULL && !file_contains(log, marker)) {
        if (!dxh_proc_is_running(p) || passed_deadline(deadline)) {
            say("will client %s did not come up; see %s", client_id, log);
            dxh_proc_stop(p, 0, NULL);
            p = NULL;
            break;
        }
        dxh_sleep_ms(5);
    }
    /* Clear the retained marker so it does not pollute the broker. */
    (void)dxh_obs_publish(obs, marker_topic, NULL, 0, 1, true);
    return p;
}

int dxh_will_measure(dxh *h, dxh_obs *obs, dxh_proc *client,
                     const char *will_topic, int timeout_ms, double *ms)
{
    (void)h;
    if (obs == NULL || client == NULL || will_topic == NULL)
        return DX_EINVAL;
    dxh_match want = {.filter = will_topic, .contains = NULL, .retained = -1};
    uint64_t mark = dxh_obs_mark(obs);
    int64_t t0 = dxh_now_ns();
    if (dxh_proc_signal(client, SIGKILL) != 0)
        return DX_ESTATE;
    const dxh_msg *m =
        dxh_obs_wait_for_from(obs, mark, dxh_pred_match, &want, timeout_ms);
    (void)dxh_proc_wait(client, 1000, NULL);
    if (m == NULL)
        return DX_ETIMEOUT;
    if (ms != NULL)
        *ms = (double)(m->t_ns - t0) / 1e6;
    return 0;
}

char *dxh_read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;
    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        (buf = calloc(1, (size_t)n + 1)) == NULL) {
        fclose(f);
        return NULL;
    }
    rewind(f);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}
