/*
 * client.h - the CLI's connection to the cluster: connect, subscribe,
 * collect what arrives, publish a request and wait for its reply.
 *
 * Messages are copied into a list on Paho's thread and read by the
 * command's thread; the list lives as long as the command (a CLI call
 * sees at most a few thousand messages).
 */
#ifndef DX_CLI_CLIENT_H
#define DX_CLI_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dx_msg.h"
#include "dx_topic.h"
#include "link.h"

typedef struct cli_msg {
    struct cli_msg *next;
    int64_t at_ms;          /* monotonic receive time */
    bool retained;
    dx_topic_ref ref;       /* parsed topic; kind UNKNOWN if outside */
    size_t tlen, plen;
    char *topic, *payload;  /* NUL-terminated copies */
    char data[];
} cli_msg;

typedef struct cli_opts {
    const char *broker;
    const char *cluster;
    const char *root;
    const char *user;
    const char *password_file;
    const char *cafile, *cert, *key;
    bool json;
    int timeout_ms;         /* how long to wait for answers */
    bool one_shot;          /* the process exits after this command: close
                               without waiting for Paho's threads */
} cli_opts;

typedef struct cli cli;

/* Connects; on failure prints one line to stderr and returns NULL. */
cli *cli_connect(const cli_opts *o);

/* Disconnects and frees everything. */
void cli_close(cli **c);

const dx_topics *cli_topics(const cli *c);

/* The client id, unique per call; used for the reply topic. */
const char *cli_client_id(const cli *c);

/* Subscribes to n filters and waits for the SUBACK.  0 or an error
 * (printed). */
int cli_subscribe(cli *c, const char *const *filters, size_t n);

/*
 * Subscribes to n filters without waiting for the SUBACK (a wait costs up
 * to 100 ms: Paho polls).  Packets leave in order and the broker handles
 * them in order, so whatever this client publishes afterwards, and every
 * message caused by it, meets the subscription in place.  0, or -1 when
 * the connection is down (printed).
 */
int cli_subscribe_async(cli *c, const char *const *filters, size_t n);

/* Subscribes to the filter of one topic kind ("+" for ids and names). */
int cli_subscribe_kind(cli *c, dx_topic_kind kind);

/*
 * Waits until a message arrives that `pred` accepts (NULL: any), or until
 * timeout_ms pass.  Returns that message (owned by the client) or NULL.
 * Messages already received count: the scan starts at *cursor (NULL: the
 * first message) and leaves *cursor after the message returned.
 */
const cli_msg *cli_wait(cli *c, bool (*pred)(const cli_msg *, void *),
                        void *arg, int timeout_ms, const cli_msg **cursor);

/*
 * Like cli_wait, but removes the message from the list and hands it to the
 * caller, who frees it with free().  For long-running or bulk commands
 * (get, watch): messages the caller takes do not pile up.  Do not mix with
 * cursors of cli_wait that may point at a taken message.
 */
cli_msg *cli_take(cli *c, bool (*pred)(const cli_msg *, void *), void *arg,
                  int timeout_ms);

/* Drops every received message that `pred` accepts (NULL: all). */
void cli_drop(cli *c, bool (*pred)(const cli_msg *, void *), void *arg);

/* Waits until no message has arrived for quiet_ms, or max_ms pass. */
void cli_settle(cli *c, int quiet_ms, int max_ms);

/* The first message received (a snapshot); iterate with ->next. */
const cli_msg *cli_messages(cli *c);

/* Publishes and waits for the broker's acknowledgement. */
int cli_publish(cli *c, const char *topic, const char *payload, size_t len,
                int qos, bool retain);

/*
 * Queues a publish without waiting for the broker's acknowledgement (the
 * payload is copied).  For bulk transfers: cli_publish waits for every
 * PUBACK, which caps throughput.  0, or -1 when the connection is down
 * (printed).  cli_flush waits for everything queued.
 */
int cli_publish_async(cli *c, const char *topic, const void *payload,
                      size_t len, int qos, bool retain);

/* Waits until every queued publish is acknowledged, up to timeout_ms:
 * 0, or -1 (printed). */
int cli_flush(cli *c, int timeout_ms);

/*
 * Sends an operator command to a node and waits for its reply.  Returns 0
 * when the node accepted it; otherwise prints why and returns non-zero.
 */
int cli_node_command(cli *c, uint16_t node, dx_cmd_type cmd, uint32_t for_ms);

int64_t cli_now_ms(void);

#endif
