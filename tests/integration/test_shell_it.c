/*
 * test_shell_it.c - `distribux shell` driven by a piped script, and
 * `distribux watch --once`, against a real Mosquitto and real agents.
 *
 * The shell runs the prototype's scenario (status, submit_task, fail 2,
 * status, exit) as a script on its stdin; the test checks the commands'
 * results, the event lines the shell printed, that those lines are texts
 * the agents really published on {root}/events (the observer saw them),
 * their order relative to the commands, and the exit code.  The helpers
 * (it_*) live in test_membership_it.c; see its header.  A last test runs
 * `distribux` alone on a pseudo-terminal (forkpty): the libedit shell,
 * an event printed above a half-typed line, history, and watch's screen.
 */
#define _GNU_SOURCE /* memmem */
#define IT_NAME "shell"
#define IT_HELPERS_ONLY
#include "test_membership_it.c"

#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs `distribux --broker URL --cluster test ARGS < script` through sh,
 * stdout and stderr together; returns the exit code, *out the output. */
static int run_shell(it *t, const char *args, const char *script, char **out)
{
    char path[512], cmd[2048];
    FILE *f;
    int code = -1;

    assert_int_equal(dxh_path(t->h, path, sizeof path, "script.txt"), 0);
    assert_non_null(f = fopen(path, "w"));
    fputs(script, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "exec '%s' --broker %s --cluster %s %s < '%s' "
             "2>&1", dxh_cli_bin(), dxh_broker_url(t->h), t->cluster, args,
             path);
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    if (dxh_run(t->h, argv, IT_CLI_MS * 2, out, NULL, &code) != 0)
        fail_msg("'distribux %s' did not finish; it printed:\n%s", args,
                 *out ? *out : "");
    printf("---- distribux %s ----\n%s----\n", args, *out);
    return code;
}

/* The offset of needle in hay from `from` on; fails the test if absent. */
static size_t find_from(const char *hay, size_t from, const char *needle)
{
    const char *p = strstr(hay + from, needle);
    if (p == NULL)
        fail_msg("'%s' not found in the shell's output after offset %zu",
                 needle, from);
    return (size_t)(p - hay);
}

/* Counts the status-table rows of node `id` with `state` between [a, b). */
static int rows_between(const char *out, size_t a, size_t b, unsigned id,
                        const char *state)
{
    int n = 0;
    for (const char *l = out + a; l != NULL && l < out + b;
         l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        unsigned got;
        const char *end = strchr(l, '\n');
        size_t len = end ? (size_t)(end - l) : strlen(l);
        char line[512];
        if (len >= sizeof line)
            continue;
        memcpy(line, l, len);
        line[len] = '\0';
        if ((line[0] == ' ' || line[0] == '*') &&
            sscanf(line + 1, "%u", &got) == 1 && got == id &&
            strstr(line, state) != NULL)
            n++;
    }
    return n;
}

/* The prototype's scenario, piped. */
static void test_script(void **state)
{
    it *t = *state;
    uint64_t term = it_cluster(t, 3);
    uint64_t mark = dxh_obs_mark(t->obs);
    char *out = NULL, want[128], id[64] = "";
    int code = run_shell(t, "shell",
                         "status\nsubmit_task\nfail 2\nstatus\nexit\n", &out);
    size_t p_status1, p_submit, p_fail, p_status2, p_exit, p, q;

    assert_int_equal(code, 0);
    /* At start: who leads, from the retained {root}/leader. */
    snprintf(want, sizeof want, "[Leader Election] Leader is Node 3 (term %"
             PRIu64 ")", term);
    p = find_from(out, 0, want);
    /* Every command echoed after the prompt, in order. */
    p_status1 = find_from(out, 0, "DistribuX> status\n");
    assert_true(p < p_status1);
    p_submit = find_from(out, p_status1, "DistribuX> submit_task\n");
    p_fail = find_from(out, p_submit, "DistribuX> fail 2\n");
    p_status2 = find_from(out, p_fail, "DistribuX> status\n");
    p_exit = find_from(out, p_status2, "DistribuX> exit\n");
    find_from(out, p_exit, "Leaving the DistribuX shell");

    /* status: the table, every node online, node 3 leading. */
    snprintf(want, sizeof want, "Leader: Node 3 (term %" PRIu64 ")", term);
    find_from(out, p_status1, want);
    for (unsigned n = 1; n <= 3; n++)
        assert_int_equal(rows_between(out, p_status1, p_submit, n, "online"),
                         1);
    assert_non_null(strstr(out + p_status1, "*3 "));

    /* submit_task: the id, then where the leader placed it. */
    p = find_from(out, p_submit, "Task ");
    assert_int_equal(sscanf(out + p, "Task %63s submitted", id), 1);
    assert_true(dx_task_id_is_valid(id));
    snprintf(want, sizeof want, "Task %s submitted\n", id);
    assert_int_equal(find_from(out, p_submit, want), p);
    snprintf(want, sizeof want, "Task %s assigned to Node ", id);
    q = find_from(out, p, want);
    {
        unsigned node = 0;
        assert_int_equal(sscanf(out + q + strlen(want), "%u", &node), 1);
        assert_in_range(node, 1, 3);
    }

    /* fail 2: the command's answer, and the agents' own event lines. */
    find_from(out, p_fail, "Node 2: fail until");
    q = find_from(out, p_fail, "Node 2 marked as failed");
    assert_true(q < p_exit);
    (void)it_expect_event(t, mark, "Node 2 marked as failed", IT_WAIT_MS);
    (void)it_expect_event(t, mark, "Node 2: operator command fail",
                          IT_WAIT_MS);
    /* The second status shows node 2 failed, the others online. */
    assert_int_equal(rows_between(out, p_status2, p_exit, 2, "failed"), 1);
    assert_int_equal(rows_between(out, p_status2, p_exit, 1, "online"), 1);
    assert_int_equal(rows_between(out, p_status2, p_exit, 3, "online"), 1);
    free(out);
    dxh_pass(t->h);
}

/* An unknown command: an error line, the shell goes on; EOF ends it with
 * the last failure's code.  help; quoting; put_log.  watch --once. */
static void test_errors_help_watch(void **state)
{
    it *t = *state;
    uint64_t term = it_cluster(t, 3);
    char *out = NULL, want[128], data[512], script[1024];
    size_t p;
    FILE *f;
    int code;

    assert_int_equal(dxh_path(t->h, data, sizeof data, "data.txt"), 0);
    assert_non_null(f = fopen(data, "w"));
    fputs("sensor log line\n", f);
    fclose(f);
    snprintf(script, sizeof script, "bogus one\nhelp\n'leader'\n"
             "put_log '%s'\nfail \"9\"\n\n", data);
    code = run_shell(t, "shell", script, &out);

    assert_int_equal(code, 1);     /* fail 9: no such node */
    p = find_from(out, 0, "DistribuX> bogus one\n");
    p = find_from(out, p, "unknown command 'bogus'");
    p = find_from(out, p, "DistribuX> help\n");
    find_from(out, p, "submit_task");
    find_from(out, p, "put_log FILE");
    p = find_from(out, p, "DistribuX> 'leader'\n");
    snprintf(want, sizeof want, "Leader is Node 3 (term %" PRIu64 ")\n",
             term);
    p = find_from(out, p, want);
    /* put_log: stored as logs/data.txt, and the leader's DFS event. */
    p = find_from(out, p, "DistribuX> put_log '");
    find_from(out, p, "logs/data.txt");
    find_from(out, p, "[DFS] logs/data.txt replicated on nodes [1, 2, 3]");
    p = find_from(out, p, "DistribuX> fail \"9\"\n");
    find_from(out, p, "unknown node 9");
    free(out);

    /* Only the unknown command failed: its code, 2. */
    code = run_shell(t, "shell", "nosuch\nleader\n", &out);
    assert_int_equal(code, 2);
    find_from(out, 0, want);
    free(out);

    /* Not a terminal, no command: usage, as before the shell existed. */
    code = run_shell(t, "", "", &out);
    assert_int_equal(code, 2);
    find_from(out, 0, "usage: distribux");
    free(out);

    /* watch --once: one plain frame. */
    code = run_shell(t, "watch --once", "", &out);
    assert_int_equal(code, 0);
    assert_null(strchr(out, '\033'));
    snprintf(want, sizeof want, "Leader: Node 3 (term %" PRIu64 ")", term);
    find_from(out, 0, want);
    find_from(out, 0, "Nodes: 3 (3 online)");
    for (unsigned n = 1; n <= 3; n++)
        assert_int_equal(rows_between(out, 0, strlen(out), n, "online"), 1);
    assert_int_equal(rows_between(out, 0, strlen(out), 3, "[") , 1);
    find_from(out, 0, "*3 ");
    find_from(out, 0, "DFS: 1 file, 16 B, 0 under-replicated");
    find_from(out, 0, "Events:");
    free(out);

    /* watch on a pipe without --once is a usage error. */
    code = run_shell(t, "watch", "", &out);
    assert_int_equal(code, 2);
    find_from(out, 0, "--once");
    free(out);
    dxh_pass(t->h);
}

/* ---- on a terminal (a pseudo-terminal) ---- */

typedef struct term {
    pid_t pid;
    int fd;
    char buf[1 << 16];
    size_t len;
} term;

/* Starts `distribux --broker URL --cluster test ARGS...` (NULL-ended) on
 * a new pseudo-terminal, with HOME in the test's directory (history). */
static void term_start(it *t, term *tm, const char *arg, ...)
{
    const char *argv[16] = {dxh_cli_bin(), "--broker", dxh_broker_url(t->h),
                            "--cluster", t->cluster};
    size_t n = 5;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a != NULL && n < 15; a = va_arg(ap, const char *))
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    memset(tm, 0, sizeof *tm);
    tm->pid = forkpty(&tm->fd, NULL, NULL, NULL);
    assert_true(tm->pid >= 0);
    if (tm->pid == 0) {
        setenv("HOME", dxh_workdir(t->h), 1);
        setenv("TERM", "xterm", 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
}

/* Reads until `needle` appears at or after offset `from` of everything
 * the terminal printed; returns its offset (fails after timeout_ms). */
static size_t term_expect(term *tm, size_t from, const char *needle,
                          int timeout_ms)
{
    int64_t end = dxh_now_ns() + (int64_t)timeout_ms * 1000000;
    for (;;) {
        const char *p = NULL;
        if (from <= tm->len)
            p = memmem(tm->buf + from, tm->len - from, needle, strlen(needle));
        if (p != NULL)
            return (size_t)(p - tm->buf);
        int64_t left = (end - dxh_now_ns()) / 1000000;
        struct pollfd pf = {tm->fd, POLLIN, 0};
        if (left <= 0 || tm->len + 1 >= sizeof tm->buf)
            break;
        if (poll(&pf, 1, (int)left) > 0) {
            ssize_t r = read(tm->fd, tm->buf + tm->len,
                             sizeof tm->buf - tm->len - 1);
            if (r <= 0)
                break;
            tm->len += (size_t)r;
            tm->buf[tm->len] = '\0';
        }
    }
    tm->buf[tm->len] = '\0';
    fail_msg("the terminal did not show '%s' after offset %zu; it shows:\n%s",
             needle, from, tm->buf);
    return 0;
}

static void term_write(term *tm, const char *s)
{
    assert_int_equal(write(tm->fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* Waits for the program to exit (killing it after timeout_ms); its code. */
static int term_wait(term *tm, int timeout_ms)
{
    int st = 0;
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        char junk[4096];
        struct pollfd pf = {tm->fd, POLLIN, 0};
        /* Keep reading, so the program never blocks on a full terminal. */
        if (poll(&pf, 1, 20) > 0)
            (void)!read(tm->fd, junk, sizeof junk);
        if (waitpid(tm->pid, &st, WNOHANG) == tm->pid) {
            close(tm->fd);
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
    }
    kill(tm->pid, SIGKILL);
    waitpid(tm->pid, &st, 0);
    close(tm->fd);
    fail_msg("the program on the terminal did not exit within %d ms",
             timeout_ms);
    return -1;
}

/* `distribux` alone on a terminal: the shell with libedit; an event is
 * printed above the line being typed, which is redrawn; history; watch
 * takes the screen and q gives it back. */
static void test_terminal(void **state)
{
    it *t = *state;
    uint64_t term_no = it_cluster(t, 3);
    static term tm;
    char want[64];
    size_t p;

    term_start(t, &tm, NULL);
    snprintf(want, sizeof want, "Leader is Node 3 (term %" PRIu64 ")",
             term_no);
    p = term_expect(&tm, 0, want, IT_WAIT_MS);
    p = term_expect(&tm, p, "DistribuX> ", IT_WAIT_MS);
    term_write(&tm, "sta");
    p = term_expect(&tm, p, "sta", IT_WAIT_MS);
    /* An event while the user types: above the prompt, line redrawn. */
    assert_int_equal(it_cli(t, NULL, NULL, "drain", "1", NULL), 0);
    p = term_expect(&tm, p, "\r\033[KNode 1: draining", IT_WAIT_MS);
    p = term_expect(&tm, p, "DistribuX> sta", IT_WAIT_MS);
    term_write(&tm, "tus\r");
    snprintf(want, sizeof want, "Leader: Node 3 (term %" PRIu64 ")", term_no);
    p = term_expect(&tm, p, want, IT_CLI_MS);
    p = term_expect(&tm, p, "DistribuX> ", IT_WAIT_MS);
    /* History: up arrow brings back "status". */
    term_write(&tm, "\033[A");
    p = term_expect(&tm, p, "status", IT_WAIT_MS);
    term_write(&tm, "\r");
    p = term_expect(&tm, p, want, IT_CLI_MS);
    p = term_expect(&tm, p, "DistribuX> ", IT_WAIT_MS);
    /* watch: the alternate screen, a frame, q, the screen restored. */
    term_write(&tm, "watch\r");
    p = term_expect(&tm, p, "\033[?1049h\033[?25l", IT_CLI_MS);
    p = term_expect(&tm, p, "q: quit", IT_WAIT_MS);
    term_write(&tm, "q");
    p = term_expect(&tm, p, "\033[?25h\033[?1049l", IT_WAIT_MS);
    p = term_expect(&tm, p, "DistribuX> ", IT_WAIT_MS);
    term_write(&tm, "exit\r");
    term_expect(&tm, p, "Leaving the DistribuX shell", IT_CLI_MS);
    assert_int_equal(term_wait(&tm, IT_CLI_MS), 0);
    dxh_pass(t->h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_script, it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(test_errors_help_watch, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_terminal, it_setup, it_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
