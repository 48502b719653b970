/*
 * main.c - distribux, the operator's command line.
 *
 * Global options may stand anywhere on the line; the first other word is
 * the command.  Every command connects to the broker, reads the documented
 * topics (TOPICS.md), and exits: 0 on success, 1 when the cluster or the
 * broker said no (or did not answer), 2 for a usage error.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "commands.h"

static void usage(FILE *out)
{
    fprintf(out,
        "usage: distribux [options] COMMAND [args]\n"
        "       distribux [options]    (on a terminal: the shell)\n\n"
        "Commands:\n"
        "  shell                  the interactive shell (prompt DistribuX>): the\n"
        "                         prototype's status, submit_task, put_log FILE,\n"
        "                         fail N, exit, and every command below; prints\n"
        "                         cluster events as they happen; reads a script\n"
        "                         of commands when stdin is not a terminal\n"
        "  watch [--once] [--interval-ms N]\n"
        "                         live view of nodes, load, tasks, DFS and events\n"
        "                         (q quits); redraws at most every N ms (default\n"
        "                         200); --once: one plain frame after 1 s, then exit\n"
        "  demo [--no-shell] [--keep]\n"
        "                         start a broker and three agents, run the\n"
        "                         prototype's scenario, then open the shell;\n"
        "                         --no-shell: exit 0 only if every step behaved;\n"
        "                         --keep: keep the temporary directory\n"
        "  status                 every node: state, epoch, load, heartbeat age, leader\n"
        "  leader                 the leader and its term\n"
        "  events [--count N]     follow the cluster's event stream (default: forever)\n"
        "  fail N [--for S]       node N drops its connection (the broker fires its\n"
        "                         will); default until recover\n"
        "  hang N [--for S]       node N stops heartbeats and processing, keeps its\n"
        "                         socket; default until recover\n"
        "  recover N              end a fail or hang of node N\n"
        "  drain N, undrain N     node N takes no new tasks and its queued ones move away; undo\n"
        "  submit [--kind K] [--ms MS] [--mem KB] [--node N] [--every MS] [--device D]\n"
        "         [--value X] [--id ID] [--count N] [--wait] [key=value ...]\n"
        "                         submit a task (kind noop|compute|sleep|sensor.read|\n"
        "                         actuator.set, default noop; ms 0, mem 0, node any,\n"
        "                         every 0 = once; keys kind ms mem_kb node every_ms\n"
        "                         device value id); --count N: N tasks ID-1..ID-N;\n"
        "                         --wait: until every task is done (exit 1 if one failed)\n"
        "  tasks                  every task record: id, state, node, attempt, kind, result\n"
        "  task ID                one task's record\n"
        "  cancel ID              cancel a task (also stops a periodic one)\n"
        "  put FILE [--name NAME] [--replicas R] [--chunk-kb K]\n"
        "                         store FILE in the DFS (name default: FILE's base\n"
        "                         name; R and K default: the leader's, 3 and 1024)\n"
        "  get NAME [-o FILE]     read a DFS file (default: to stdout)\n"
        "  ls [PREFIX]            list DFS files (default: all)\n"
        "  stat NAME              a DFS file's size, checksum, chunks and replicas\n"
        "  rm NAME                remove a DFS file\n"
        "  scrub [N]              verify the chunks' checksums (default: every node)\n\n"
        "Options:\n"
        "  --broker URI           broker (default $DX_BROKER or tcp://127.0.0.1:1883)\n"
        "  --cluster NAME         cluster (default $DX_CLUSTER or plant)\n"
        "  --root TOPIC           topic root (default distribux/CLUSTER)\n"
        "  --json                 machine-readable output (default: tables)\n"
        "  --timeout-ms N         how long to wait for answers (default 3000;\n"
        "                         submit --wait: 60000)\n"
        "  --user NAME            broker user name (default: none)\n"
        "  --password-file FILE   broker password (default $DX_PASSWORD or none)\n"
        "  --cafile FILE          CA certificate: use TLS and verify the broker\n"
        "                         (default: plain TCP)\n"
        "  --cert FILE --key FILE client certificate and key for TLS (default: none)\n"
        "  --help, --version\n");
}

int main(int argc, char **argv)
{
    cli_opts o;
    const char *env;
    char *rest[64];
    int nrest = 0;

    /* put and get move chunks through malloc'd buffers: keep them on the
     * heap (reused warm) rather than a fresh mapping per chunk. */
    (void)mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    (void)mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);

    memset(&o, 0, sizeof o);
    o.broker = (env = getenv("DX_BROKER")) ? env : "tcp://127.0.0.1:1883";
    o.cluster = (env = getenv("DX_CLUSTER")) ? env : NULL;
    o.timeout_ms = 0;   /* the command's default: cli_run_command */
    o.one_shot = true;  /* but not for shell, watch, demo: cli_run_command */

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **str = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--version") == 0) {
            printf("distribux %s\n", DX_VERSION);
            return 0;
        }
        if (strcmp(a, "--json") == 0) {
            o.json = true;
            continue;
        }
        if (strcmp(a, "--broker") == 0)
            str = &o.broker;
        else if (strcmp(a, "--cluster") == 0)
            str = &o.cluster;
        else if (strcmp(a, "--root") == 0)
            str = &o.root;
        else if (strcmp(a, "--user") == 0)
            str = &o.user;
        else if (strcmp(a, "--password-file") == 0)
            str = &o.password_file;
        else if (strcmp(a, "--cafile") == 0)
            str = &o.cafile;
        else if (strcmp(a, "--cert") == 0)
            str = &o.cert;
        else if (strcmp(a, "--key") == 0)
            str = &o.key;
        if (str != NULL || strcmp(a, "--timeout-ms") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "distribux: %s: missing value\n", a);
                return 2;
            }
            if (str != NULL) {
                *str = argv[++i];
            } else {
                long v;
                if (cli_parse_long(argv[++i], 1, 3600000, &v) != 0) {
                    fprintf(stderr, "distribux: --timeout-ms: expected "
                            "1..3600000, got '%s'\n", argv[i]);
                    return 2;
                }
                o.timeout_ms = (int)v;
            }
            continue;
        }
        if (nrest == (int)(sizeof rest / sizeof rest[0])) {
            fprintf(stderr, "distribux: too many arguments\n");
            return 2;
        }
        rest[nrest++] = argv[i];
    }
    if (nrest == 0 && isatty(STDIN_FILENO)) {
        static char shell[] = "shell";
        rest[nrest++] = shell;
    }
    if (nrest == 0) {
        usage(stderr);
        return 2;
    }
    return cli_run_command(&o, nrest, rest);
}
