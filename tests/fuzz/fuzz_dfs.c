/*
 * fuzz_dfs.c - libFuzzer target for the DFS wire contract (dx_dfs.h): the
 * six payload decoders, the DFS topic parser and the file name rules, on
 * arbitrary bytes.
 *
 * Beyond "no crash, no sanitizer report" it checks properties, aborting on
 * a violation:
 *  - a failed decode leaves the struct zeroed with one line of diagnosis;
 *    a successful one re-encodes (within the decoder's size limit), and
 *    that encoding decodes to the very same struct;
 *  - a topic that parses builds back to the very same bytes with the
 *    matching dx_dfs_topic_* builder; a failed parse leaves the reference
 *    zeroed;
 *  - the input as a C string: a valid file name builds a files topic that
 *    parses back to that name, and an invalid one is refused by the
 *    builder; dx_dfs_crc_parse agrees with dx_dfs_crc_hex.
 * Build: tests/fuzz/CMakeLists.txt (-DDX_FUZZ=ON, clang).  Run:
 *   fuzz_dfs -max_total_time=60 tests/fuzz/corpus
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dx_dfs.h"
#include "fuzz.h"

static char enc[DX_DFS_JSON_MAX + 1];

/* memcmp against zeros: a byte loop over two 80 kB structs, instrumented,
 * would cost most of the time of every input. */
static bool all_zero(const void *p, size_t n)
{
    static const unsigned char zeros[sizeof(dx_dfs_file) > sizeof(dx_dfs_reply)
                                         ? sizeof(dx_dfs_file)
                                         : sizeof(dx_dfs_reply)];
    return n <= sizeof zeros && memcmp(p, zeros, n) == 0;
}

/* Static structs: a file or a reply is about 80 kB. */
#define ROUND_TRIP(type, max)                                                \
    static void round_trip_##type(const char *buf, size_t len)              \
    {                                                                        \
        static dx_dfs_##type first, again;                                  \
        dx_diag d = {""};                                                   \
        size_t n = 0;                                                        \
                                                                             \
        if (dx_dfs_##type##_decode(buf, len, &first, &d) != 0) {            \
            if (!all_zero(&first, sizeof first) || d.msg[0] == '\0' ||      \
                memchr(d.msg, '\0', sizeof d.msg) == NULL)                  \
                abort();                                                     \
            return;                                                          \
        }                                                                    \
        if (dx_dfs_##type##_encode(&first, enc, sizeof enc, &n) != 0 ||      \
            n > (max) || strlen(enc) != n)                                  \
            abort();                                                         \
        if (dx_dfs_##type##_decode(enc, n, &again, NULL) != 0 ||            \
            memcmp(&first, &again, sizeof first) != 0)                      \
            abort();                                                         \
    }
ROUND_TRIP(file, DX_DFS_JSON_MAX)
ROUND_TRIP(req, DX_PAYLOAD_MAX)
ROUND_TRIP(reply, DX_DFS_JSON_MAX)
ROUND_TRIP(stored, DX_PAYLOAD_MAX)
ROUND_TRIP(fetch, DX_PAYLOAD_MAX)
ROUND_TRIP(bad, DX_PAYLOAD_MAX)

/* Parse, then rebuild from the reference: the same bytes come back. */
static void topic_check(const dx_topics *t, const char *topic, size_t len)
{
    char again[DX_DFS_TOPIC_MAX + 1];
    dx_dfs_ref r;
    dx_diag d = {""};
    int rc = dx_dfs_topic_parse(t, topic, len, &r, &d);

    if (rc != 0) {
        if (!all_zero(&r, sizeof r) || d.msg[0] == '\0')
            abort();
        return;
    }
    switch (r.kind) {
    case DX_DFS_T_FILE:
        rc = dx_dfs_topic_file(t, r.name, again, sizeof again);
        break;
    case DX_DFS_T_REQ:
        rc = dx_dfs_topic_req(t, again, sizeof again);
        break;
    case DX_DFS_T_STORE:
        rc = dx_dfs_topic_store(t, r.nodes, r.n_nodes, r.key, r.index, r.crc,
                                again, sizeof again);
        break;
    case DX_DFS_T_STORED:
        rc = dx_dfs_topic_stored(t, r.key, again, sizeof again);
        break;
    case DX_DFS_T_FETCH:
        rc = dx_dfs_topic_fetch(t, r.node, again, sizeof again);
        break;
    case DX_DFS_T_BAD:
        rc = dx_dfs_topic_bad(t, again, sizeof again);
        break;
    default:
        abort();
    }
    if (rc != 0 || strlen(again) != len || memcmp(again, topic, len) != 0)
        abort();
}

/* The input as a C string: names and crc strings. */
static void string_checks(const dx_topics *t, const char *s, size_t len)
{
    char topic[DX_DFS_TOPIC_MAX + 1], hex[9];
    dx_diag d = {""};
    dx_dfs_ref r;
    uint32_t crc;

    if (dx_dfs_name_is_valid(s, &d)) {
        if (dx_dfs_topic_file(t, s, topic, sizeof topic) != 0 ||
            dx_dfs_topic_parse(t, topic, strlen(topic), &r, NULL) != 0 ||
            r.kind != DX_DFS_T_FILE || strcmp(r.name, s) != 0)
            abort();
    } else if (d.msg[0] == '\0' ||
               dx_dfs_topic_file(t, s, topic, sizeof topic) != DX_ENAME) {
        abort();
    }
    if (dx_dfs_crc_parse(s, len, &crc) == 0) {
        dx_dfs_crc_hex(crc, hex);
        for (size_t i = 0; i < 8; i++)
            if (hex[i] != (s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 'a' : s[i]))
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static dx_topics t;
    const char *buf = (const char *)data;
    char *str;

    if (t.root_len == 0 && dx_topics_init(&t, NULL, NULL, NULL) != 0)
        abort();
    round_trip_file(buf, size);
    round_trip_req(buf, size);
    round_trip_reply(buf, size);
    round_trip_stored(buf, size);
    round_trip_fetch(buf, size);
    round_trip_bad(buf, size);
    topic_check(&t, buf, size);
    /* the same bytes after the root, so the parser gets past the prefix */
    if (size <= DX_DFS_TOPIC_MAX) {
        char topic[2 * DX_DFS_TOPIC_MAX];
        size_t n = t.root_len + 5;

        memcpy(topic, t.root, t.root_len);
        memcpy(topic + t.root_len, "/dfs/", 5);
        memcpy(topic + n, buf, size);
        topic_check(&t, topic, n + size);
    }
    if ((str = malloc(size + 1)) != NULL) {
        memcpy(str, buf, size);
        str[size] = '\0';
        string_checks(&t, str, size);
        free(str);
    }
    return 0;
}
