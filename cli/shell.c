/*
 * shell.c - `distribux shell`: the prototype's interactive controller,
 * with the prompt "DistribuX> ".
 *
 * A line is split into words (single quotes keep text as is, double quotes
 * allow \" and \\, a backslash outside quotes escapes the next character)
 * and run as the CLI would run it (cli_run_command), plus the prototype's
 * words: submit_task, put_log FILE, fail N, exit/quit, and help.  Each
 * command opens its own connection, exactly like the command line.
 *
 * What happens in the cluster is printed as it happens, from a second
 * connection subscribed to {root}/events (the agents' own texts, such as
 * "[Leader Election] Leader is Node 3"), to the retained {root}/leader
 * (one line at start: who leads now) and to the task records (one line
 * when a task this shell submitted is placed, one when it ends).  A
 * background thread turns those messages into lines in a queue; only the
 * main thread writes to the terminal, so lines never cut into a command's
 * output: queued lines are printed after each command, and while the user
 * types (libedit reads characters through our getc function, which also
 * wakes on the queue's pipe, prints the lines above the prompt and has
 * libedit redraw the prompt and the line being edited).
 *
 * While a command starts, the events connection publishes a small QoS 1
 * message every KICK_EVERY_MS (see kick()): Paho's one receive thread per
 * process would otherwise see each command's new connection up to a second
 * late.
 *
 * Piped input (stdin not a terminal) is a script: each line is echoed
 * after the prompt, run, and followed by a quiet period (events caused by
 * the command print before the next command: up to SETTLE_MAX_MS, until
 * SETTLE_QUIET_MS pass without one).  At EOF or `exit` the exit code is
 * that of the last command that failed, or 0.
 *
 * Limits: the queue holds LINES_MAX lines (older ones are dropped while a
 * long command runs); the shell remembers its last OWN_MAX task ids.
 * Ctrl-C ends the shell (libedit restores the terminal first), and with it
 * a command that runs until interrupted (events without --count).
 */
#include "commands.h"

#include <errno.h>
#include <fcntl.h>
#include <histedit.h>
#include <inttypes.h>
#include <locale.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#define PROMPT "DistribuX> "
#define ARGS_MAX 64
#define LINES_MAX 1000
#define OWN_MAX 256
#define SETTLE_QUIET_MS 300
#define SETTLE_MAX_MS 3000
#define HISTORY_MAX 500
#define KICK_EVERY_MS 20
#define KICK_FOR_MS 5000

typedef struct sh_line {
    struct sh_line *next;
    char text[];
} sh_line;

/* A task this shell submitted, and what it has said about it. */
typedef struct sh_own {
    char id[DX_TASK_ID_MAX + 1];
    bool placed, ended;
} sh_own;

typedef struct shell {
    cli_opts o;
    cli *ev;                     /* events, leader, task records */
    pthread_t thread;
    bool thread_on;
    atomic_bool stop;
    _Atomic int64_t busy_since;  /* a command runs since (0: none) */
    int64_t last_kick;           /* event thread only */
    pthread_mutex_t mu;          /* guards the queue and own[] */
    pthread_cond_t cv;
    sh_line *head, *tail;
    size_t n_lines, dropped;
    int64_t last_ms;             /* when the last line was queued */
    int wake[2];                 /* a byte per queued line */
    sh_own own[OWN_MAX];
    size_t n_own;                /* total ever added; own[n % OWN_MAX] */
    char session[16];            /* task id prefix */
    unsigned tasks;
    bool tty;
    EditLine *el;
    History *hist;
    char hist_path[512];
} shell;

/* ---- the queue of lines to print ---- */

static void queue_line(shell *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void queue_line(shell *s, const char *fmt, ...)
{
    char buf[DX_TEXT_MAX + 128];
    sh_line *l;
    size_t n;
    va_list ap;
    char b = 1;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    n = strlen(buf);
    if ((l = malloc(sizeof *l + n + 1)) == NULL)
        return;
    l->next = NULL;
    memcpy(l->text, buf, n + 1);
    pthread_mutex_lock(&s->mu);
    if (s->n_lines == LINES_MAX) {
        sh_line *old = s->head;
        s->head = old->next;
        if (s->head == NULL)
            s->tail = NULL;
        free(old);
        s->n_lines--;
        s->dropped++;
    }
    if (s->tail != NULL)
        s->tail->next = l;
    else
        s->head = l;
    s->tail = l;
    s->n_lines++;
    s->last_ms = cli_now_ms();
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    /* Non-blocking: a full pipe already wakes the reader. */
    if (write(s->wake[1], &b, 1) < 0 && errno != EAGAIN)
        return;
}

/* Takes every queued line (the caller frees the list). */
static sh_line *take_lines(shell *s, size_t *dropped)
{
    sh_line *l;
    pthread_mutex_lock(&s->mu);
    l = s->head;
    s->head = s->tail = NULL;
    s->n_lines = 0;
    *dropped = s->dropped;
    s->dropped = 0;
    pthread_mutex_unlock(&s->mu);
    return l;
}

/* Prints and frees every queued line; returns whether there was one.
 * `above`: the user is editing a line, clear it first (the caller has
 * libedit redraw it). */
static bool print_lines(shell *s, bool above)
{
    size_t dropped;
    sh_line *l = take_lines(s, &dropped), *next;
    char junk[64];

    while (read(s->wake[0], junk, sizeof junk) > 0)
        ;
    if (l == NULL && dropped == 0)
        return false;
    if (above)
        fputs("\r\033[K", stdout);
    if (dropped > 0)
        printf("(%zu older event lines dropped)\n", dropped);
    for (; l != NULL; l = next) {
        next = l->next;
        puts(l->text);
        free(l);
    }
    fflush(stdout);
    return true;
}

/* Drops every queued line (a command that printed them itself). */
static void drop_lines(shell *s)
{
    size_t dropped;
    sh_line *l = take_lines(s, &dropped), *next;
    for (; l != NULL; l = next) {
        next = l->next;
        free(l);
    }
}

/* Prints lines as they come until none has been queued for quiet_ms
 * (counting from now), or max_ms pass. */
static void settle(shell *s, int quiet_ms, int max_ms)
{
    int64_t start = cli_now_ms(), end = start + max_ms;
    for (;;) {
        int64_t now, quiet_end, until;
        struct timespec ts;
        print_lines(s, false);
        pthread_mutex_lock(&s->mu);
        quiet_end = (s->last_ms > start ? s->last_ms : start) + quiet_ms;
        until = quiet_end < end ? quiet_end : end;
        now = cli_now_ms();
        if (now >= until || s->head != NULL) {
            pthread_mutex_unlock(&s->mu);
            if (now >= until)
                break;
            continue;
        }
        ts.tv_sec = (time_t)(until / 1000);
        ts.tv_nsec = (long)(until % 1000) * 1000000L;
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        pthread_mutex_unlock(&s->mu);
    }
    print_lines(s, false);
}

/* ---- the event thread ---- */

/* The shell's record of task `id`, or NULL; called with s->mu held. */
static sh_own *own_of(shell *s, const char *id)
{
    size_t n = s->n_own < OWN_MAX ? s->n_own : OWN_MAX;
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->own[i].id, id) == 0)
            return &s->own[i];
    return NULL;
}

static void on_record(shell *s, const cli_msg *m)
{
    dx_task_record r;
    sh_own *t;
    bool place = false, end = false;

    if (m->plen == 0 || dx_task_record_decode(m->payload, m->plen, &r,
                                              NULL) != 0)
        return;
    pthread_mutex_lock(&s->mu);
    if ((t = own_of(s, r.spec.id)) != NULL && r.node != 0) {
        bool final = r.state == DX_TS_DONE || r.state == DX_TS_FAILED ||
                     r.state == DX_TS_CANCELLED;
        place = !t->placed;
        end = final && !t->ended;
        t->placed = true;
        t->ended = t->ended || final;
    }
    pthread_mutex_unlock(&s->mu);
    if (place)
        queue_line(s, "Task %s assigned to Node %u", r.spec.id, r.node);
    if (end)
        queue_line(s, "Task %s %s on Node %u%s%s", r.spec.id,
                   dx_task_state_name(r.state), r.node,
                   r.result[0] ? ": " : "", r.result);
}

static void on_message(shell *s, const cli_msg *m)
{
    switch (m->ref.kind) {
    case DX_T_EVENTS: {
        dx_msg_event e;
        if (dx_msg_event_decode(m->payload, m->plen, &e, NULL) == 0)
            queue_line(s, "%s", e.text);
        break;
    }
    case DX_T_LEADER: {
        /* Only the retained one, at start: later changes come as the
         * leader's own "[Leader Election]" event. */
        dx_msg_leader l;
        if (m->retained && m->plen > 0 &&
            dx_msg_leader_decode(m->payload, m->plen, &l, NULL) == 0)
            queue_line(s, "[Leader Election] Leader is Node %u (term %" PRIu64
                       ")", l.leader, l.term);
        break;
    }
    case DX_T_TASK_RECORD:
        if (!m->retained)
            on_record(s, m);
        break;
    default:
        break;
    }
}

/* Paho has one receive thread per process, which sleeps up to a second in
 * poll() and notices a command's new socket only when it wakes: each
 * command would wait that long for its CONNACK.  While a command starts,
 * a QoS 1 publish on this connection (to our own reply topic, which
 * nothing reads) makes the broker answer on a socket the thread watches,
 * which wakes it. */
static void kick(shell *s, int64_t now)
{
    int64_t since = atomic_load(&s->busy_since);
    char topic[DX_TOPIC_MAX + 1];
    if (since == 0 || now - since > KICK_FOR_MS ||
        now - s->last_kick < KICK_EVERY_MS ||
        dx_topic_build(cli_topics(s->ev), DX_T_REPLY, 0,
                       cli_client_id(s->ev), topic, sizeof topic) != 0)
        return;
    s->last_kick = now;
    /* The broker is away: one complaint, then no kicks for a while. */
    if (cli_publish(s->ev, topic, "", 0, 1, false) != 0)
        s->last_kick = now + KICK_FOR_MS;
}

static void *events_main(void *arg)
{
    shell *s = arg;
    while (!atomic_load(&s->stop)) {
        bool busy = atomic_load(&s->busy_since) != 0;
        cli_msg *m = cli_take(s->ev, NULL, NULL, busy ? KICK_EVERY_MS : 100);
        kick(s, cli_now_ms());
        if (m != NULL) {
            on_message(s, m);
            free(m);
        }
    }
    return NULL;
}

/* Connects the events connection and starts its thread; 0 or -1. */
static int events_start(shell *s)
{
    static const dx_topic_kind kinds[] = {DX_T_EVENTS, DX_T_LEADER,
                                          DX_T_TASK_RECORD};
    char f[3][DX_TOPIC_MAX + 1];
    const char *fp[3];

    if ((s->ev = cli_connect(&s->o)) == NULL)
        return -1;
    for (int i = 0; i < 3; i++) {
        dx_topic_filter(cli_topics(s->ev), kinds[i], f[i], sizeof f[i]);
        fp[i] = f[i];
    }
    if (cli_subscribe(s->ev, fp, 3) != 0)
        return -1;
    if (pthread_create(&s->thread, NULL, events_main, s) != 0) {
        fprintf(stderr, "distribux shell: cannot start a thread\n");
        return -1;
    }
    s->thread_on = true;
    return 0;
}

/* ---- words ---- */

/*
 * Splits line (modified in place) into at most max words; returns how many,
 * or -1 with a message for an open quote or too many words.
 */
static int split_words(char *line, char **argv, int max)
{
    char *r = line, *w = line;
    int n = 0;

    for (;;) {
        char quote = 0;
        while (*r == ' ' || *r == '\t' || *r == '\r' || *r == '\n')
            r++;
        if (*r == '\0')
            return n;
        if (n == max) {
            fprintf(stderr, "DistribuX: more than %d words\n", max);
            return -1;
        }
        argv[n++] = w;
        for (; *r != '\0'; r++) {
            if (quote == 0 && (*r == ' ' || *r == '\t' || *r == '\r' ||
                               *r == '\n'))
                break;
            if (quote == 0 && (*r == '\'' || *r == '"')) {
                quote = *r;
            } else if (quote != 0 && *r == quote) {
                quote = 0;
            } else if (*r == '\\' && quote != '\'' && r[1] != '\0' &&
                       (quote == 0 || r[1] == '"' || r[1] == '\\')) {
                *w++ = *++r;
            } else {
                *w++ = *r;
            }
        }
        if (quote != 0) {
            fprintf(stderr, "DistribuX: unterminated %c quote\n", quote);
            return -1;
        }
        if (*r != '\0')
            r++;
        *w++ = '\0';
    }
}

/* The CLI's own commands, all usable in the shell. */
static const char *const cli_words[] = {
    "status", "leader", "events", "fail", "hang", "recover", "drain",
    "undrain", "submit", "tasks", "task", "cancel", "put", "get", "ls",
    "stat", "rm", "scrub", "watch"};

static bool is_cli_word(const char *w)
{
    for (size_t i = 0; i < sizeof cli_words / sizeof cli_words[0]; i++)
        if (strcmp(w, cli_words[i]) == 0)
            return true;
    return false;
}

static void help(void)
{
    printf(
        "Commands (as in the prototype):\n"
        "  status                every node: state, load, heartbeat age, leader\n"
        "  submit_task [ARGS]    submit a task (default: --kind compute --ms 1000;\n"
        "                        ARGS as for submit) and show where it runs\n"
        "  put_log FILE          store FILE in the DFS as logs/<its base name>\n"
        "  fail N [--for S]      node N drops its connection\n"
        "  exit, quit [CODE]     leave the shell (the cluster keeps running)\n"
        "  help                  this list\n"
        "Every distribux command works as on the command line (--json first\n"
        "for JSON output):\n"
        "  leader, events [--count N], hang N, recover N, drain N, undrain N,\n"
        "  submit ..., tasks, task ID, cancel ID, put FILE [--name NAME]\n"
        "  [--replicas R] [--chunk-kb K], get NAME [-o FILE], ls [PREFIX],\n"
        "  stat NAME, rm NAME, scrub [N], watch [--interval-ms N]\n"
        "Cluster events print as they happen.  Quote words with ' or \".\n"
        "Ctrl-D or exit leaves; Ctrl-C ends the shell and a running command.\n");
}

/* submit_task [ARGS]: names the task so its records can be followed. */
static int submit_task(shell *s, const cli_opts *o, int argc, char **argv)
{
    char *av[ARGS_MAX + 8];
    char id[DX_TASK_ID_MAX + 1];
    bool named = false;
    int n = 0;

    for (int i = 1; i < argc; i++)
        named = named || strcmp(argv[i], "--id") == 0 ||
                strcmp(argv[i], "--count") == 0 ||
                strncmp(argv[i], "id=", 3) == 0;
    av[n++] = "submit";
    if (!named) {
        snprintf(id, sizeof id, "%s-%u", s->session, ++s->tasks);
        pthread_mutex_lock(&s->mu);
        memset(&s->own[s->n_own % OWN_MAX], 0, sizeof s->own[0]);
        memcpy(s->own[s->n_own % OWN_MAX].id, id, sizeof id);
        s->n_own++;
        pthread_mutex_unlock(&s->mu);
        av[n++] = "--id";
        av[n++] = id;
    }
    if (argc == 1) {
        av[n++] = "--kind";
        av[n++] = "compute";
        av[n++] = "--ms";
        av[n++] = "1000";
    }
    for (int i = 1; i < argc; i++)
        av[n++] = argv[i];
    av[n] = NULL;
    return cli_run_command(o, n, av);
}

/* put_log FILE: put FILE --name logs/<basename>. */
static int put_log(const cli_opts *o, int argc, char **argv)
{
    char name[DX_NAME_MAX * 4], *av[5];
    const char *base;

    if (argc != 2) {
        fprintf(stderr, "DistribuX: usage: put_log FILE\n");
        return 2;
    }
    base = strrchr(argv[1], '/');
    base = base != NULL ? base + 1 : argv[1];
    if (*base == '\0') {
        fprintf(stderr, "DistribuX: put_log: '%s' names no file\n", argv[1]);
        return 2;
    }
    snprintf(name, sizeof name, "logs/%s", base);
    av[0] = "put";
    av[1] = argv[1];
    av[2] = "--name";
    av[3] = name;
    av[4] = NULL;
    return cli_run_command(o, 4, av);
}

/*
 * Runs one line; returns its exit code (0 for an empty line).  Sets *quit
 * for exit/quit, and *code to an explicit exit code (or -1).
 */
static int run_line(shell *s, char *line, bool *quit, int *code)
{
    char *argv[ARGS_MAX + 1];
    cli_opts o = s->o;
    int argc = split_words(line, argv, ARGS_MAX), first = 0, rc;
    const char *w;

    if (argc < 0)
        return 2;
    while (first < argc && strcmp(argv[first], "--json") == 0) {
        o.json = true;
        first++;
    }
    if (first == argc)
        return 0;
    argv[argc] = NULL;
    argc -= first;
    w = argv[first];
    if (strcmp(w, "exit") == 0 || strcmp(w, "quit") == 0) {
        long v;
        *quit = true;
        if (argc > 1 && cli_parse_long(argv[first + 1], 0, 255, &v) == 0)
            *code = (int)v;
        return 0;
    }
    if (strcmp(w, "help") == 0 || strcmp(w, "?") == 0) {
        help();
        return 0;
    }
    if (strcmp(w, "submit_task") == 0)
        return submit_task(s, &o, argc, argv + first);
    if (strcmp(w, "put_log") == 0)
        return put_log(&o, argc, argv + first);
    if (strcmp(w, "shell") == 0 || strcmp(w, "demo") == 0) {
        fprintf(stderr, "DistribuX: '%s' cannot run inside the shell\n", w);
        return 2;
    }
    if (!is_cli_word(w)) {
        fprintf(stderr, "DistribuX: unknown command '%s' (type 'help')\n", w);
        return 2;
    }
    rc = cli_run_command(&o, argc, argv + first);
    /* These print the events themselves while they run. */
    if (strcmp(w, "events") == 0 || strcmp(w, "watch") == 0)
        drop_lines(s);
    return rc;
}

/* ---- terminal input (libedit) ---- */

static char *prompt(EditLine *el)
{
    (void)el;
    return PROMPT;
}

/* libedit's character reader: waits for a key or for queued lines, which
 * it prints above the prompt before libedit redraws the line. */
static int getc_fn(EditLine *el, wchar_t *wc)
{
    shell *s = NULL;
    mbstate_t st;

    el_get(el, EL_CLIENTDATA, &s);
    memset(&st, 0, sizeof st);
    for (;;) {
        struct pollfd p[2] = {{STDIN_FILENO, POLLIN, 0},
                              {s->wake[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if ((p[1].revents & POLLIN) && print_lines(s, true))
            el_set(el, EL_REFRESH);
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            char b;
            ssize_t r = read(STDIN_FILENO, &b, 1);
            size_t k;
            if (r == 0)
                return 0;
            if (r < 0) {
                if (errno == EINTR || errno == EAGAIN)
                    continue;
                return -1;
            }
            k = mbrtowc(wc, &b, 1, &st);
            if (k == (size_t)-2)
                continue;            /* more bytes of one character */
            if (k == (size_t)-1)
                *wc = (wchar_t)(unsigned char)b;
            return 1;
        }
    }
}

static void editline_open(shell *s)
{
    HistEvent he;
    const char *home = getenv("HOME");

    s->el = el_init("distribux", stdin, stdout, stderr);
    s->hist = history_init();
    if (s->el == NULL || s->hist == NULL)
        return;
    history(s->hist, &he, H_SETSIZE, HISTORY_MAX);
    history(s->hist, &he, H_SETUNIQUE, 1);
    if (home != NULL && home[0] != '\0') {
        snprintf(s->hist_path, sizeof s->hist_path,
                 "%s/.distribux_history", home);
        history(s->hist, &he, H_LOAD, s->hist_path);
    }
    el_set(s->el, EL_CLIENTDATA, s);
    el_set(s->el, EL_PROMPT, prompt);
    el_set(s->el, EL_EDITOR, "emacs");
    el_set(s->el, EL_SIGNAL, 1);
    el_set(s->el, EL_HIST, history, s->hist);
    el_set(s->el, EL_GETCFN, getc_fn);
    el_source(s->el, NULL);
}

static void editline_close(shell *s)
{
    HistEvent he;
    if (s->hist != NULL) {
        if (s->hist_path[0])
            history(s->hist, &he, H_SAVE, s->hist_path);
        history_end(s->hist);
        s->hist = NULL;
    }
    if (s->el != NULL) {
        el_end(s->el);
        s->el = NULL;
    }
}

/* Reads one line (malloc'd, without its newline) or NULL at EOF. */
static char *read_line(shell *s)
{
    if (s->tty && s->el != NULL) {
        int count = 0;
        const char *l = el_gets(s->el, &count);
        char *copy;
        HistEvent he;
        if (l == NULL || count <= 0)
            return NULL;
        if ((copy = strdup(l)) == NULL)
            return NULL;
        copy[strcspn(copy, "\r\n")] = '\0';
        if (copy[strspn(copy, " \t")] != '\0')
            history(s->hist, &he, H_ENTER, copy);
        return copy;
    } else {
        char *l = NULL;
        size_t cap = 0;
        if (getline(&l, &cap, stdin) < 0) {
            free(l);
            return NULL;
        }
        l[strcspn(l, "\r\n")] = '\0';
        return l;
    }
}

/* ---- the shell ---- */

int cli_shell(const cli_opts *opts, int argc, char **argv)
{
    shell *s;
    int last_fail = 0, code = -1, rc = 0;
    bool quit = false;
    char *line;

    if (argc > 1) {
        fprintf(stderr, "distribux shell: unexpected '%s'\n", argv[1]);
        return 2;
    }
    if ((s = calloc(1, sizeof *s)) == NULL)
        return 1;
    s->o = *opts;
    if (s->o.timeout_ms <= 0)
        s->o.timeout_ms = 3000;
    s->tty = isatty(STDIN_FILENO) != 0;
    pthread_mutex_init(&s->mu, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&s->cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    s->wake[0] = s->wake[1] = -1;
    if (pipe(s->wake) != 0 ||
        fcntl(s->wake[0], F_SETFL, O_NONBLOCK) != 0 ||
        fcntl(s->wake[1], F_SETFL, O_NONBLOCK) != 0) {
        fprintf(stderr, "distribux shell: cannot create a pipe\n");
        rc = 1;
        goto cleanup;
    }
    snprintf(s->session, sizeof s->session, "s%06" PRIx64,
             (uint64_t)(cli_now_ms() ^ (int64_t)time(NULL) ^
                        ((int64_t)getpid() << 8)) & 0xffffff);
    if (events_start(s) != 0) {
        rc = 1;
        goto cleanup;
    }
    if (s->tty) {
        setlocale(LC_CTYPE, "");
        printf("DistribuX shell: cluster %s at %s.  Type 'help' for the "
               "commands, 'exit' to leave.\n", cli_topics(s->ev)->root,
               s->o.broker);
        editline_open(s);
    }
    /* The retained leader comes right after the subscription. */
    settle(s, 100, 1000);

    while (!quit && (line = read_line(s)) != NULL) {
        if (!s->tty) {
            printf("%s%s\n", PROMPT, line);
            fflush(stdout);
        }
        atomic_store(&s->busy_since, cli_now_ms());
        rc = run_line(s, line, &quit, &code);
        atomic_store(&s->busy_since, 0);
        free(line);
        fflush(stdout);
        fflush(stderr);
        if (rc != 0)
            last_fail = rc;
        if (!s->tty)
            settle(s, SETTLE_QUIET_MS, SETTLE_MAX_MS);
        else
            print_lines(s, false);
    }
    if (s->tty && !quit)
        putchar('\n');
    if (!s->tty)
        settle(s, SETTLE_QUIET_MS, SETTLE_MAX_MS);
    printf("Leaving the DistribuX shell (the cluster keeps running)\n");
    rc = code >= 0 ? code : s->tty ? 0 : last_fail;
cleanup:
    editline_close(s);
    if (s->thread_on) {
        atomic_store(&s->stop, true);
        pthread_join(s->thread, NULL);
    }
    cli_close(&s->ev);
    drop_lines(s);
    if (s->wake[0] >= 0)
        close(s->wake[0]);
    if (s->wake[1] >= 0)
        close(s->wake[1]);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
    fflush(stdout);
    return rc;
}
