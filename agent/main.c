/*
 * main.c - distribux-agent: parse the options, run the loop.
 */
#include <stdio.h>

#include "loop.h"
#include "options.h"

int main(int argc, char **argv)
{
    dx_agent_opts o;
    char err[512];
    int rc;

    rc = dx_agent_opts_parse(&o, argc, argv, err, sizeof err);
    if (rc == 1)
        return DX_EXIT_OK;
    if (rc != 0) {
        fprintf(stderr, "distribux-agent: %s\n", err);
        return DX_EXIT_USAGE;
    }
    return dx_agent_run(&o);
}
