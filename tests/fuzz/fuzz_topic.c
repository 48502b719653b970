/*
 * fuzz_topic.c - libFuzzer checks of the topic tree (dx_topic.h): parsing
 * arbitrary bytes, configuring arbitrary roots and clusters, and building
 * topics from arbitrary parts.  Aborts on a violated property:
 *
 *  - a topic that parses builds back to the very same bytes; a failed parse
 *    leaves the reference zeroed;
 *  - a root accepted by dx_topics_init is kept as given (or as
 *    "distribux/{cluster}"), fits DX_ROOT_MAX and is itself publishable;
 *  - a topic built from (kind, node, name) parses back to that kind, node
 *    and name, fits DX_TOPIC_MAX, is publishable, and matches the
 *    subscription filters of its kind.
 *
 * Input: "ROOT\nTOPIC" uses ROOT (and ROOT as a cluster name) for the rest;
 * anything else is parsed under the default root.  The first three bytes
 * also choose a kind and a node id, the rest a name, for the build checks.
 * Compiled alone as fuzz_topic (-DFUZZ_TOPIC_MAIN) and into fuzz_decode.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dx_topic.h"
#include "fuzz.h"

static bool zeroed(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

/* MQTT filter matching, '+' and '#', for the filter property. */
static bool matches(const char *filter, const char *topic)
{
    while (*filter != '\0') {
        if (filter[0] == '#')
            return true;
        if (filter[0] == '+') {
            topic += strcspn(topic, "/");
            filter++;
        } else {
            size_t n = strcspn(filter, "/");
            if (strncmp(filter, topic, n) != 0 ||
                (topic[n] != '/' && topic[n] != '\0'))
                return false;
            filter += n;
            topic += n;
        }
        if (*filter == '\0')
            return *topic == '\0';
        if (*topic != '/')
            return false;
        filter++;
        topic++;
    }
    return *topic == '\0';
}

static void parse_check(const dx_topics *t, const char *buf, size_t len)
{
    dx_topic_ref ref;
    char built[DX_TOPIC_MAX + 1];

    memset(&ref, 0xa5, sizeof ref);
    if (dx_topic_parse(t, buf, len, &ref) != 0) {
        if (!zeroed(&ref, sizeof ref))
            abort();
        return;
    }
    if (ref.kind <= DX_T_UNKNOWN || ref.kind >= DX_T__COUNT ||
        memchr(ref.name, '\0', sizeof ref.name) == NULL)
        abort();
    if (dx_topic_build(t, ref.kind, ref.node, ref.name, built,
                       sizeof built) != 0 ||
        strlen(built) != len || memcmp(built, buf, len) != 0)
        abort();
}

static bool kind_has_node(dx_topic_kind k)
{
    return k == DX_T_NODE_STATE || k == DX_T_NODE_HEARTBEAT ||
           k == DX_T_NODE_ASSIGN || k == DX_T_NODE_CMD ||
           k == DX_T_NODE_REPORT || k == DX_T_IO_SENSOR ||
           k == DX_T_IO_ACT_SET || k == DX_T_IO_ACT_STATE;
}

static bool kind_has_name(dx_topic_kind k)
{
    return k == DX_T_TASK_RECORD || k == DX_T_TASK_CANCEL ||
           k == DX_T_REPLY || k == DX_T_IO_SENSOR || k == DX_T_IO_ACT_SET ||
           k == DX_T_IO_ACT_STATE;
}

static void build_check(const dx_topics *t, const uint8_t *data, size_t size)
{
    char name[DX_NAME_MAX + 16], built[DX_TOPIC_MAX + 1];
    char filter[DX_TOPIC_MAX + 1];
    dx_topic_ref ref;
    dx_topic_kind kind;
    uint16_t node;
    size_t n, len;

    if (size < 3)
        return;
    kind = (dx_topic_kind)(data[0] % (DX_T__COUNT + 1));
    node = (uint16_t)(data[1] << 8 | data[2]);
    n = size - 3 < sizeof name - 1 ? size - 3 : sizeof name - 1;
    memcpy(name, data + 3, n);
    name[n] = '\0';

    if (dx_topic_build(t, kind, node, name, built, sizeof built) != 0)
        return;
    len = strlen(built);
    if (kind <= DX_T_UNKNOWN || kind >= DX_T__COUNT || len > DX_TOPIC_MAX ||
        !dx_topic_is_publishable(built))
        abort();
    if (dx_topic_parse(t, built, len, &ref) != 0 || ref.kind != kind ||
        (kind_has_node(kind) && ref.node != node) ||
        (kind_has_name(kind) && strcmp(ref.name, name) != 0))
        abort();
    if (dx_topic_filter(t, kind, filter, sizeof filter) == 0 &&
        !matches(filter, built))
        abort();
    if (dx_topic_filter_node(t, kind, node, filter, sizeof filter) == 0 &&
        !matches(filter, built))
        abort();
    /* A buffer one byte short is refused, never overrun. */
    {
        char *small = malloc(len);
        if (small == NULL)
            return;
        if (dx_topic_build(t, kind, node, name, small, len) == 0)
            abort();
        free(small);
    }
}

void fz_topic(const uint8_t *data, size_t size)
{
    static dx_topics def;
    static bool ready;
    const char *buf = (const char *)data;
    const char *nl = memchr(buf, '\n', size);

    if (!ready && dx_topics_init(&def, NULL, NULL, NULL) != 0)
        abort();
    ready = true;
    parse_check(&def, buf, size);
    build_check(&def, data, size);

    /* (a root with a NUL inside is only its C string: not tried) */
    if (nl != NULL && (size_t)(nl - buf) <= DX_TOPIC_MAX &&
        memchr(buf, '\0', (size_t)(nl - buf)) == NULL) {
        char root[DX_TOPIC_MAX + 1];
        size_t rl = (size_t)(nl - buf), rest = size - rl - 1;
        dx_topics t;
        memcpy(root, buf, rl);
        root[rl] = '\0';
        memset(&t, 0, sizeof t);
        if (dx_topics_init(&t, root, NULL, NULL) == 0) {
            if (strcmp(t.root, root) != 0 ||
                t.root_len != rl || rl > DX_ROOT_MAX ||
                !dx_topic_is_publishable(t.root))
                abort();
            parse_check(&t, nl + 1, rest);
            build_check(&t, (const uint8_t *)nl + 1, rest);
        }
        memset(&t, 0, sizeof t);
        if (dx_topics_init(&t, NULL, root, NULL) == 0) {
            if (!dx_name_is_valid(root) ||
                strncmp(t.root, "distribux/", 10) != 0 ||
                strcmp(t.root + 10, root) != 0)
                abort();
            parse_check(&t, nl + 1, rest);
        }
    }
}

#ifdef FUZZ_TOPIC_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_topic(data, size);
    return 0;
}
#endif
