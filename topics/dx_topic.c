/*
 * dx_topic.c - building and parsing the DistribuX topic tree.
 *
 * The tree is fixed (see dx_topic.h and TOPICS.md); a topic is the root
 * followed by a handful of levels, so parsing splits the remainder on '/'
 * into at most five levels and matches them against a small table.  Cost:
 * one pass over the topic, no allocation.
 */
#include "dx_topic.h"

#include "dx_msg.h"

#include <stdio.h>
#include <string.h>

#define MAX_LEVELS 5

bool dx_name_is_valid(const char *s)
{
    size_t n = 0;
    if (s == NULL)
        return false;
    for (; s[n] != '\0'; n++) {
        unsigned char c = (unsigned char)s[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
        if (!ok || n >= DX_NAME_MAX)
            return false;
    }
    if (n == 0 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    return true;
}

/* A topic or root: printable ASCII, no wildcards, no empty level. */
static bool topic_chars_ok(const char *s, size_t max)
{
    size_t n = 0;
    char prev = '/';
    if (s == NULL)
        return false;
    for (; s[n] != '\0'; n++) {
        unsigned char c = (unsigned char)s[n];
        if (n >= max || c < 0x21 || c > 0x7e || c == '+' || c == '#')
            return false;
        if (c == '/' && prev == '/')
            return false;
        prev = (char)c;
    }
    return n > 0 && prev != '/';
}

bool dx_topic_is_publishable(const char *s)
{
    return topic_chars_ok(s, DX_TOPIC_MAX);
}

int dx_topics_init(dx_topics *t, const char *root, const char *cluster,
                   dx_diag *d)
{
    int n;
    memset(t, 0, sizeof *t);
    if (root != NULL) {
        if (!topic_chars_ok(root, DX_ROOT_MAX) || root[0] == '$')
            return dx_diag_set(d, DX_ENAME,
                               "invalid topic root '%.64s': use printable "
                               "levels without '+', '#', '$' at the start, "
                               "or empty levels, at most %d bytes",
                               root, DX_ROOT_MAX);
        n = snprintf(t->root, sizeof t->root, "%s", root);
    } else {
        if (cluster == NULL)
            cluster = DX_CLUSTER_DEFAULT;
        if (!dx_name_is_valid(cluster))
            return dx_diag_set(d, DX_ENAME,
                               "invalid cluster name '%.64s': use 1..%d of "
                               "[A-Za-z0-9_.-]",
                               cluster, DX_NAME_MAX);
        n = snprintf(t->root, sizeof t->root, "distribux/%s", cluster);
    }
    t->root_len = (size_t)n;
    return 0;
}

/* Level patterns after the root.  'N' = node id, 'S' = name, else literal. */
typedef struct {
    dx_topic_kind kind;
    const char *levels[MAX_LEVELS];
} topic_shape;

static const topic_shape shapes[] = {
    {DX_T_NODE_STATE, {"nodes", "N", "state"}},
    {DX_T_NODE_HEARTBEAT, {"nodes", "N", "heartbeat"}},
    {DX_T_NODE_ASSIGN, {"nodes", "N", "assign"}},
    {DX_T_NODE_CMD, {"nodes", "N", "cmd"}},
    {DX_T_NODE_REPORT, {"nodes", "N", "report"}},
    {DX_T_ELECTION, {"election"}},
    {DX_T_LEADER, {"leader"}},
    {DX_T_TASK_SUBMIT, {"tasks", "submit"}},
    {DX_T_TASK_RECORD, {"tasks", "S"}},
    {DX_T_TASK_CANCEL, {"tasks", "S", "cancel"}},
    {DX_T_EVENTS, {"events"}},
    {DX_T_MEMBERS, {"members"}},
    {DX_T_REPLY, {"reply", "S"}},
    {DX_T_IO_SENSOR, {"io", "N", "sensors", "S"}},
    {DX_T_IO_ACT_SET, {"io", "N", "actuators", "S", "set"}},
    {DX_T_IO_ACT_STATE, {"io", "N", "actuators", "S", "state"}},
    {DX_T_TASK_REPLICA, {"replica", "tasks"}},
};

static const topic_shape *shape_of(dx_topic_kind kind)
{
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (shapes[i].kind == kind)
            return &shapes[i];
    return NULL;
}

static int append(char *buf, size_t cap, size_t *at, const char *s)
{
    size_t n = strlen(s);
    if (*at + n + 1 > cap)
        return DX_ENOSPACE;
    memcpy(buf + *at, s, n + 1);
    *at += n;
    return 0;
}

/* A name level: task topics take task ids (which exclude "submit"). */
static bool name_ok(dx_topic_kind kind, const char *name)
{
    if (kind == DX_T_TASK_RECORD || kind == DX_T_TASK_CANCEL)
        return dx_task_id_is_valid(name);
    return dx_name_is_valid(name);
}

/* Shared by build and filter: wildcard=true writes '+' for N and S. */
static int compose(const dx_topics *t, dx_topic_kind kind, uint16_t node,
                   const char *name, bool wildcard, char *buf, size_t cap)
{
    const topic_shape *sh = shape_of(kind);
    char num[8];
    size_t at = 0;
    int rc;

    if (sh == NULL)
        return DX_EINVAL;
    if ((rc = append(buf, cap, &at, t->root)) != 0)
        return rc;
    for (int i = 0; i < MAX_LEVELS && sh->levels[i] != NULL; i++) {
        const char *lv = sh->levels[i];
        if (wildcard && (strcmp(lv, "S") == 0 ||
                         (strcmp(lv, "N") == 0 && node == 0))) {
            lv = "+";
        } else if (strcmp(lv, "N") == 0) {
            if (node == 0)
                return DX_ERANGE;
            snprintf(num, sizeof num, "%u", (unsigned)node);
            lv = num;
        } else if (strcmp(lv, "S") == 0) {
            if (!name_ok(kind, name))
                return DX_ENAME;
            lv = name;
        }
        if ((rc = append(buf, cap, &at, "/")) != 0 ||
            (rc = append(buf, cap, &at, lv)) != 0)
            return rc;
    }
    return at > DX_TOPIC_MAX ? DX_ENOSPACE : 0;
}

int dx_topic_build(const dx_topics *t, dx_topic_kind kind, uint16_t node,
                   const char *name, char *buf, size_t cap)
{
    return compose(t, kind, node, name, false, buf, cap);
}

int dx_topic_filter(const dx_topics *t, dx_topic_kind kind, char *buf,
                    size_t cap)
{
    return compose(t, kind, 0, NULL, true, buf, cap);
}

int dx_topic_filter_node(const dx_topics *t, dx_topic_kind kind, uint16_t node,
                         char *buf, size_t cap)
{
    return compose(t, kind, node, NULL, true, buf, cap);
}

/* A node id level: 1..65535 in decimal without sign or leading zero. */
static int parse_node(const char *s, size_t n, uint16_t *out)
{
    unsigned long v = 0;
    if (n == 0 || n > 5 || s[0] == '0')
        return DX_ERANGE;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return DX_ERANGE;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v == 0 || v > DX_NODE_ID_MAX)
        return DX_ERANGE;
    *out = (uint16_t)v;
    return 0;
}

int dx_topic_parse(const dx_topics *t, const char *topic, size_t len,
                   dx_topic_ref *out)
{
    const char *lv[MAX_LEVELS];
    size_t lvlen[MAX_LEVELS];
    size_t nlv = 0, i = 0;
    const char *rest;
    size_t restlen;

    memset(out, 0, sizeof *out);
    if (len > DX_TOPIC_MAX || len <= t->root_len + 1 ||
        memcmp(topic, t->root, t->root_len) != 0 || topic[t->root_len] != '/')
        return DX_ETOPIC;
    rest = topic + t->root_len + 1;
    restlen = len - t->root_len - 1;
    while (i <= restlen) {
        size_t j = i;
        while (j < restlen && rest[j] != '/')
            j++;
        if (nlv == MAX_LEVELS)
            return DX_ETOPIC;
        lv[nlv] = rest + i;
        lvlen[nlv++] = j - i;
        i = j + 1;
    }

    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const topic_shape *sh = &shapes[s];
        size_t k = 0;
        int bad = 0;
        for (; k < MAX_LEVELS && sh->levels[k] != NULL; k++) {
            const char *p = sh->levels[k];
            if (k >= nlv)
                break;
            if (strcmp(p, "N") == 0 || strcmp(p, "S") == 0)
                continue;
            if (strlen(p) != lvlen[k] || memcmp(p, lv[k], lvlen[k]) != 0)
                break;
        }
        if (k != nlv || (k < MAX_LEVELS && sh->levels[k] != NULL))
            continue;
        /* Literal levels match: now the variable ones must be valid. */
        for (k = 0; k < nlv && !bad; k++) {
            if (strcmp(sh->levels[k], "N") == 0) {
                bad = parse_node(lv[k], lvlen[k], &out->node);
            } else if (strcmp(sh->levels[k], "S") == 0) {
                if (lvlen[k] == 0 || lvlen[k] > DX_NAME_MAX)
                    bad = DX_ENAME;
                else {
                    memcpy(out->name, lv[k], lvlen[k]);
                    out->name[lvlen[k]] = '\0';
                    if (strlen(out->name) != lvlen[k] ||
                        !name_ok(sh->kind, out->name))
                        bad = DX_ENAME;
                }
            }
        }
        if (bad) {
            memset(out, 0, sizeof *out);
            return bad;
        }
        out->kind = sh->kind;
        return 0;
    }
    return DX_ETOPIC;
}

void dx_text_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (cap == 0)
        return;
    if (n >= cap) {
        n = cap - 1;
        /* Back off over continuation bytes to the start of a character,
         * and drop that character too: it did not fit whole. */
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memmove(dst, src, n);       /* src may live next to dst */
    dst[n] = '\0';
}
