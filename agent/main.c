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

    /* DFS chunks (up to 8 MiB) pass through malloc'd buffers: Paho's
     * receive buffer, the inbox event.  Above glibc's mmap threshold each
     * would be a fresh mapping whose every page faults on first touch
     * (measured: a quarter of an agent's CPU during a put).  Keep them on
     * the heap, where freed blocks are reused warm. */
    (void)mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    (void)mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
    rc = dx_agent_opts_parse(&o, argc, argv, err, sizeof err);
    if (rc == 1)
        return DX_EXIT_OK;
    if (rc != 0) {
        fprintf(stderr, "distribux-agent: %s\n", err);
        return DX_EXIT_USAGE;
    }
    return dx_agent_run(&o);
}
