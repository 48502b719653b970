/*
 * main.c - distribux-agent: parse the options, run the loop.
 */
#include <malloc.h>
#include <stdio.h>

#include "loop.h"
#include "options.h"

int main(int argc, char **argv)
{
    dx_agent_opts o;
    char err[512];
    int rc;

    /* One malloc arena for every thread.  Chunks arrive on Paho's receive
     * thread; in an arena of its own the memory they used stayed resident
     * for good (malloc_trim does not shrink the top of a thread's arena,
     * and loop.c raises the trim threshold while chunks flow): an agent
     * kept 10-15 MB after a 64 MiB put and get, and now falls back to about
     * 5.5 MB two seconds later.  The agent's few threads contend little. */
    (void)mallopt(M_ARENA_MAX, 1);
    rc = dx_agent_opts_parse(&o, argc, argv, err, sizeof err);
    if (rc == 1)
        return DX_EXIT_OK;
    if (rc != 0) {
        fprintf(stderr, "distribux-agent: %s\n", err);
        return DX_EXIT_USAGE;
    }
    return dx_agent_run(&o);
}
