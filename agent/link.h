/*
 * link.h - one MQTT connection, over Paho MQTTAsync.
 *
 * A thin wrapper with three jobs: connect with a last will that the caller
 * sets afresh for every attempt (Paho's automatic reconnect would reuse the
 * old will, so it is off and the caller reconnects by hand), hand every
 * message and connection change to a callback that must only queue it
 * (Paho calls it on its own thread under its global lock: anything slow
 * there stalls every socket and keepalive), and publish.  Blocking helpers
 * (connect_wait, subscribe_wait, flush) serve short-lived programs such as
 * the CLI.
 *
 * dx_link_abort() drops the TCP connection without an MQTT DISCONNECT, so
 * the broker publishes the will: the agent's crash simulation.
 */
#ifndef DX_LINK_H
#define DX_LINK_H

#include <stdbool.h>
#include <stddef.h>

#include "dx_topic.h"

#define DX_LINK_SUBS_MAX 64   /* filters in one SUBSCRIBE */

typedef struct dx_link dx_link;

typedef enum {
    DX_LINK_CONNECTED = 1,   /* code 0 */
    DX_LINK_CONNECT_FAILED,  /* code: Paho/CONNACK code, or DX_ETLS;
                                text: why */
    DX_LINK_LOST             /* text: cause, may be empty */
} dx_link_status;

typedef struct dx_link_cb {
    /* Paho thread.  Copies what it needs; the buffers die on return. */
    void (*on_message)(void *ctx, const char *topic, size_t tlen,
                       const void *payload, size_t plen, bool retained);
    /* Paho thread. */
    void (*on_status)(void *ctx, dx_link_status st, int code,
                      const char *text);
    void *ctx;
} dx_link_cb;

typedef struct dx_link_opts {
    const char *uri;          /* tcp://host:port, ssl://host:port */
    const char *client_id;
    int keepalive_s;
    int connect_timeout_s;
    int max_inflight;
    const char *user;         /* NULL: anonymous */
    const char *password;     /* never logged */
    const char *cafile;       /* TLS: CA bundle; enables verification */
    const char *cert;         /* TLS client certificate (PEM) */
    const char *key;          /* TLS client key (PEM) */
} dx_link_opts;

/* Creates a link (not connected).  Strings are copied.  Returns 0,
 * DX_EINVAL for a bad URI or client id, DX_ENOMEM. */
int dx_link_create(dx_link **out, const dx_link_opts *opts,
                   const dx_link_cb *cb);

/* Frees the link; disconnects without a DISCONNECT if still connected
 * (use dx_link_disconnect first for a graceful close).  Sets *l to NULL. */
void dx_link_destroy(dx_link **l);

/*
 * Sets this link's socket options on fd, a TCP socket to the broker.
 *
 * Paho never sets TCP_NODELAY, so Nagle's algorithm holds a small publish
 * (an event, a coordinator message) until the broker's delayed ACK, about
 * 40 ms later: most of a failover.
 *
 * The send buffer is set too, to 4 MiB.  A 1 MiB chunk written into
 * the default (autotuned from 16 KiB) buffer goes out in part; Paho then
 * finishes the write from its receive thread, which afterwards sleeps
 * 100 ms when nothing is to be read: strace of a 64 MiB put showed two
 * such stalls, and agents sending chunks for a get or a repair have them
 * too.  Setting it turns the kernel's autotuning off, and the kernel caps
 * it at net.core.wmem_max (212992 on a stock Debian, where autotuning can
 * reach 4 MiB), so it is set only where wmem_max allows 4 MiB.
 * Memory is only used while data waits in it.
 */
void dx_link_tune_socket(int fd);

/* For a process that exits right after: like dx_link_destroy on a link
 * already disconnected (dx_link_disconnect), but without waiting for
 * Paho's threads.  Paho's MQTTAsync_destroy waits for its receive thread,
 * which sleeps 100 ms once it has no socket: a one-shot CLI command would
 * spend that at every exit.  The link stays allocated (and reachable, so
 * leak checkers do not count it) until the process exits.  A link still
 * connected is destroyed as by dx_link_destroy.  Sets *l to NULL. */
void dx_link_leave(dx_link **l);

/*
 * Starts a connection attempt with this will (will_topic NULL: none); the
 * result arrives as DX_LINK_CONNECTED or DX_LINK_CONNECT_FAILED.  The will
 * is copied.
 */
int dx_link_connect(dx_link *l, const char *will_topic,
                    const void *will_payload, size_t will_len, int will_qos,
                    bool will_retain);

/* connect, then wait up to timeout_ms for the result: 0, DX_ECONNECT,
 * DX_EAUTH (refused credentials), DX_ETLS (the TLS handshake failed: CA,
 * host name, version) or DX_ETIMEOUT; `why` gets one line. */
int dx_link_connect_wait(dx_link *l, int timeout_ms, char *why, size_t cap);

/* Subscribes to n filters at qos; asynchronous. */
int dx_link_subscribe(dx_link *l, const char *const *filters, size_t n,
                      int qos);

/* Unsubscribes from one filter; asynchronous. */
int dx_link_unsubscribe(dx_link *l, const char *filter);

/* Subscribes and waits for the SUBACK: 0, DX_ETIMEOUT or DX_ECONNECT. */
int dx_link_subscribe_wait(dx_link *l, const char *const *filters, size_t n,
                           int qos, int timeout_ms);

/* Queues a publish (the payload is copied).  DX_ECONNECT when down. */
int dx_link_publish(dx_link *l, const char *topic, const void *payload,
                    size_t len, int qos, bool retain);

/* Waits until every queued publish is acknowledged, up to timeout_ms. */
int dx_link_flush(dx_link *l, int timeout_ms);

/* Sends DISCONNECT (the will is discarded) and waits up to timeout_ms. */
int dx_link_disconnect(dx_link *l, int timeout_ms);

/* Drops the connection without DISCONNECT: the broker fires the will. */
int dx_link_abort(dx_link *l);

/* True while connected. */
bool dx_link_is_connected(const dx_link *l);

#endif
