/*
 * dx_topic.h - the DistribuX topic tree: building and parsing topic names.
 *
 * Every topic lives under one root, by default "distribux/{cluster}" with the
 * cluster "plant", and configurable so a plant can mount the tree anywhere in
 * its namespace.  Builders write into a caller buffer; the parser maps a
 * received topic back to its kind and the node id or name inside it.  Names
 * (clusters, node names, task ids, devices, reply clients) are validated: an
 * empty level, '+', '#', '/', NUL, control characters or an over-long name
 * are rejected.  Pure code: no allocation, no I/O.
 */
#ifndef DX_TOPIC_H
#define DX_TOPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dx_err.h"

#define DX_ROOT_MAX 128     /* bytes of the topic root */
#define DX_NAME_MAX 64      /* bytes of a name: cluster, node, device, client */
#define DX_TOPIC_MAX 256    /* bytes of a whole topic */
#define DX_NODE_ID_MAX 65535
#define DX_CLUSTER_DEFAULT "plant"

typedef enum {
    DX_T_UNKNOWN = 0,
    DX_T_NODE_STATE,     /* {root}/nodes/{id}/state            retained */
    DX_T_NODE_HEARTBEAT, /* {root}/nodes/{id}/heartbeat        QoS 0 */
    DX_T_NODE_ASSIGN,    /* {root}/nodes/{id}/assign */
    DX_T_NODE_CMD,       /* {root}/nodes/{id}/cmd */
    DX_T_NODE_REPORT,    /* {root}/nodes/{id}/report */
    DX_T_ELECTION,       /* {root}/election */
    DX_T_LEADER,         /* {root}/leader                      retained */
    DX_T_TASK_SUBMIT,    /* {root}/tasks/submit */
    DX_T_TASK_RECORD,    /* {root}/tasks/{task}                retained */
    DX_T_TASK_CANCEL,    /* {root}/tasks/{task}/cancel */
    DX_T_EVENTS,         /* {root}/events */
    DX_T_MEMBERS,        /* {root}/members                     retained */
    DX_T_REPLY,          /* {root}/reply/{client} */
    DX_T_IO_SENSOR,      /* {root}/io/{id}/sensors/{name} */
    DX_T_IO_ACT_SET,     /* {root}/io/{id}/actuators/{name}/set */
    DX_T_IO_ACT_STATE,   /* {root}/io/{id}/actuators/{name}/state retained */
    DX_T_TASK_REPLICA,   /* {root}/replica/tasks                leader -> followers */
    DX_T__COUNT
} dx_topic_kind;

/* The root every topic is built under.  Fill with dx_topics_init(). */
typedef struct dx_topics {
    char root[DX_ROOT_MAX + 1];
    size_t root_len;
} dx_topics;

/* What a received topic names. */
typedef struct dx_topic_ref {
    dx_topic_kind kind;
    uint16_t node;               /* node id, for node and io topics */
    char name[DX_NAME_MAX + 1];  /* task id, reply client or device name */
} dx_topic_ref;

/*
 * Sets the root: `root` when not NULL (a valid topic without wildcards,
 * without a leading or trailing '/'), else "distribux/{cluster}", with
 * DX_CLUSTER_DEFAULT when cluster is NULL.  Returns DX_ENAME with a
 * diagnosis for a bad root or cluster.
 */
int dx_topics_init(dx_topics *t, const char *root, const char *cluster,
                   dx_diag *d);

/*
 * Writes the topic of `kind` into buf (NUL-terminated).  `node` is used by
 * the node and io kinds (1..65535), `name` by task records, replies and io
 * devices; the other is ignored.  Returns DX_ENAME/DX_ERANGE for bad parts,
 * DX_ENOSPACE when buf is too small.
 */
int dx_topic_build(const dx_topics *t, dx_topic_kind kind, uint16_t node,
                   const char *name, char *buf, size_t cap);

/*
 * Writes a subscription filter: the topic of `kind` with '+' in place of
 * the node id and of the name (for example "{root}/nodes/+/state").
 */
int dx_topic_filter(const dx_topics *t, dx_topic_kind kind, char *buf,
                    size_t cap);

/* The same with the node id fixed and '+' for the name only (for example
 * "{root}/io/3/actuators/+/set"); node 0 gives '+' for the id too. */
int dx_topic_filter_node(const dx_topics *t, dx_topic_kind kind, uint16_t node,
                         char *buf, size_t cap);

/*
 * Parses a received topic of `len` bytes (not necessarily NUL-terminated).
 * Returns 0 and fills *out, or DX_ETOPIC for a topic outside the tree and
 * DX_ENAME/DX_ERANGE for a bad id or name inside it.
 */
int dx_topic_parse(const dx_topics *t, const char *topic, size_t len,
                   dx_topic_ref *out);

/* True when s is a valid name: 1..DX_NAME_MAX bytes of [A-Za-z0-9_.-],
 * not "." or "..". */
bool dx_name_is_valid(const char *s);

/* True when s is a valid reply-to or other full topic for publishing:
 * 1..DX_TOPIC_MAX bytes, printable, no '+', '#', no empty level. */
bool dx_topic_is_publishable(const char *s);

/* Copies src into dst (cap bytes, NUL-terminated), cutting a too-long text
 * at a UTF-8 character boundary, so a truncated text stays valid. */
void dx_text_copy(char *dst, size_t cap, const char *src);

#endif
