/*
 * loop.h - the agent's event loop: the I/O shell around dx_core.
 *
 * One thread owns the core and everything it decides.  Paho's callbacks
 * only copy messages and connection changes into an inbox; the loop takes
 * them out, hands them to the core with the time, runs the core's timers,
 * and carries out the actions the core returns (publish, log, and the
 * failure simulation: fail, hang, recover).  The loop also owns what the
 * core must not touch: the connection and its reconnect backoff, the epoch
 * file, the memory pool, the system load readings, and signals.
 */
#ifndef DX_LOOP_H
#define DX_LOOP_H

#include "options.h"

/* Exit codes of distribux-agent. */
#define DX_EXIT_OK 0
#define DX_EXIT_FATAL 1      /* cannot run: data directory, memory */
#define DX_EXIT_USAGE 2      /* bad option, refused credentials */
#define DX_EXIT_DUPLICATE 3  /* another live agent has this id */

/* Runs the agent until SIGINT or SIGTERM; returns an exit code. */
int dx_agent_run(const dx_agent_opts *o);

#endif
