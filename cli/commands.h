/*
 * commands.h - the CLI's commands, shared by main and the shell.
 */
#ifndef DX_CLI_COMMANDS_H
#define DX_CLI_COMMANDS_H

#include "client.h"

/* Runs argv[0] with its arguments; returns the process exit code. */
int cli_run_command(const cli_opts *o, int argc, char **argv);

/* The task commands (tasks.c): submit, tasks, task, cancel.  Parses,
 * connects and runs argv[0]; returns the exit code, or -1 when argv[0] is
 * none of them.  o->timeout_ms 0 means the command's default. */
int cli_task_command(const cli_opts *o, int argc, char **argv);

/* The file commands (dfs.c): put, get, ls, stat, rm, scrub.  Like
 * cli_task_command: the exit code, or -1 when argv[0] is none of them. */
int cli_dfs_command(const cli_opts *o, int argc, char **argv);

/* The interactive shell (shell.c): argv is {"shell"}.  Returns the exit
 * code: 0, or with piped input the code of the last command that failed. */
int cli_shell(const cli_opts *o, int argc, char **argv);

/* The live view (watch.c): watch [--once] [--interval-ms N]. */
int cli_watch(const cli_opts *o, int argc, char **argv);

/* The demo (demo.c): demo [--no-shell] [--keep]. */
int cli_demo(const cli_opts *o, int argc, char **argv);

/* Prints "distribux CMD: <message>" on stderr; returns 2 (a usage
 * error's exit code). */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ms (wall clock, since 1970) as local "YYYY-MM-DD HH:MM:SS.mmm" in buf,
 * or "-" for 0; returns the text. */
#define CLI_WALL_TEXT_MAX 40
const char *cli_wall_text(int64_t ms, char buf[CLI_WALL_TEXT_MAX]);

/* Prints j as one line of JSON on stdout and frees it. */
struct cJSON;
void cli_print_json(struct cJSON *j);

/* Parses a whole decimal number in [min, max]; 0 or -1. */
int cli_parse_long(const char *s, long min, long max, long *out);

#endif
