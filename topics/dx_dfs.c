/*
 * dx_dfs.c - the wire contract of the distributed file system: file names,
 * DFS topics and the six JSON payloads (contract: dx_dfs.h, user-facing
 * spec: TOPICS.md).
 *
 * Names and topics are checked byte by byte in one pass, with no
 * allocation; a store topic is split into at most DX_DFS_R_MAX + 4 levels
 * and every level is parsed strictly (decimal without leading zeros,
 * distinct nodes, 8 lowercase hex digits for the crc), so a topic a
 * replica acts on names exactly one chunk.
 *
 * The codecs follow dx_msg.c's rules, written out per message rather than
 * as tables because the DFS payloads nest differently (arrays of node
 * arrays, a chunk count tied to size and chunk_size).  A decoder first
 * scans the raw bytes once (size, nesting depth with strings skipped, raw
 * control bytes inside strings, and "\u0000" escapes, which cJSON would
 * turn into a silently truncating NUL: the whole payload is refused), then
 * lets cJSON build a tree, reads each known field with its JSON type and
 * range, and finally runs the message's check function, the same one its
 * encoder runs before writing a byte: so an encoder never emits what its
 * decoder rejects.  "v":1 is required and always written first; unknown
 * fields are ignored; JSON null counts as absent; optional fields that are
 * zero/""/false are omitted by the encoder.  On error the output struct is
 * zeroed and dx_diag holds one line ("field 'chunks[3].nodes': node 2
 * listed twice").
 *
 * Cost: the largest metadata payload (4096 chunks of 5 nodes, 240 kB)
 * encodes in about 0.6 ms and decodes in about 4 ms at -O2, nearly all in
 * cJSON; small payloads take microseconds.
 * Limits: integers are exact up to 2^53-1 (JSON numbers are doubles); a
 * sha256 is accepted in either case and stored lowercase; cJSON's global
 * error pointer makes concurrent decoding a benign data race, as in
 * dx_msg.c.
 */
#include "dx_dfs.h"

#include "dx_jsonw.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define SIZE_MAX_ALL ((uint64_t)DX_DFS_CHUNK_MAX * DX_DFS_CHUNKS_MAX)
#define DFS_PREFIX "/dfs/"
#define INDEX_MAX (DX_DFS_CHUNKS_MAX - 1)
#define STORE_LEVELS_MAX (DX_DFS_R_MAX + 4) /* R, nodes, key, index, crc */

static const char *const op_names[] = {"put", "commit", "abort", "rm"};

/* ---- names ---- */
static bool seg_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

static bool name_bad(dx_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Writes the diagnosis of a bad name; always false. */
static bool name_bad(dx_diag *d, const char *fmt, ...)
{
    va_list ap;

    if (d != NULL) {
        va_start(ap, fmt);
        vsnprintf(d->msg, sizeof d->msg, fmt, ap);
        va_end(ap);
    }
    return false;
}

/* The name rules on exactly n bytes (which may hold a NUL: a topic). */
static bool name_check(const char *s, size_t n, dx_diag *d)
{
    size_t seg = 0; /* start of the current segment */

    if (n == 0)
        return name_bad(d, "empty file name");
    if (n > DX_DFS_NAME_MAX)
        return name_bad(d, "file name longer than %d bytes", DX_DFS_NAME_MAX);
    if (s[0] == '/')
        return name_bad(d, "file name starts with '/'");
    if (s[n - 1] == '/')
        return name_bad(d, "file name ends with '/'");
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = i < n ? (unsigned char)s[i] : '/';

        if (c == '/') {
            size_t len = i - seg;

            if (len == 0)
                return name_bad(d, "empty path segment ('//') at byte %zu", i);
            if ((len == 1 || len == 2) && memcmp(s + seg, "..", len) == 0)
                return name_bad(d, "'%.*s' is not allowed as a path segment",
                                (int)len, "..");
            seg = i + 1;
        } else if (!seg_char_ok(c)) {
            if (c > 0x20 && c < 0x7f)
                return name_bad(d, "'%c' at byte %zu is not allowed: use "
                                "[A-Za-z0-9_.-] and '/' between segments",
                                (char)c, i);
            return name_bad(d, "byte 0x%02x at byte %zu is not allowed: use "
                            "[A-Za-z0-9_.-] and '/' between segments", c, i);
        }
    }
    return true;
}

bool dx_dfs_name_is_valid(const char *name, dx_diag *d)
{
    if (name == NULL)
        return name_bad(d, "no file name");
    return name_check(name, strnlen(name, DX_DFS_NAME_MAX + 1), d);
}

static bool key_check(const char *s, size_t n)
{
    if (n == 0 || n > DX_DFS_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z')))
            return false;
    return true;
}

bool dx_dfs_key_is_valid(const char *key)
{
    return key != NULL && key_check(key, strnlen(key, DX_DFS_KEY_MAX + 1));
}

/* A full topic of up to max bytes: printable ASCII, no wildcard, no empty
 * level (dx_topic_is_publishable with a larger limit). */
static bool topic_ok(const char *s, size_t max)
{
    char prev = '/';
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        unsigned char c = (unsigned char)s[n];

        if (n >= max || c < 0x21 || c > 0x7e || c == '+' || c == '#' ||
            (c == '/' && prev == '/'))
            return false;
        prev = (char)c;
    }
    return n > 0 && prev != '/';
}

/* ---- small parsers shared by topics and payloads ---- */
static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void dx_dfs_crc_hex(uint32_t crc, char out[9])
{
    static const char digits[] = "0123456789abcdef";

    for (int i = 0; i < 8; i++)
        out[i] = digits[(crc >> (28 - 4 * i)) & 0xfu];
    out[8] = '\0';
}

int dx_dfs_crc_parse(const char *s, size_t len, uint32_t *out)
{
    uint32_t v = 0;

    if (s == NULL || len != 8)
        return DX_EINVAL;
    for (size_t i = 0; i < 8; i++) {
        int h = hex_val(s[i]);
        if (h < 0)
            return DX_EINVAL;
        v = v << 4 | (uint32_t)h;
    }
    if (out != NULL)
        *out = v;
    return 0;
}

/* Decimal digits without sign or leading zero ("0" itself allowed when
 * lo is 0), value in lo..hi. */
static bool dec_ok(const char *s, size_t n, uint32_t lo, uint32_t hi,
                   uint32_t *out)
{
    uint32_t v = 0;

    if (n == 0 || n > 5 || (s[0] == '0' && n > 1))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* Nodes 1..65535, each once.  what names the list in the diagnosis. */
static int nodes_check(const uint16_t *nodes, uint32_t n, const char *what,
                       dx_diag *d)
{
    for (uint32_t i = 0; i < n; i++) {
        if (nodes[i] == 0)
            return dx_diag_set(d, DX_ERANGE, "%s: node 0 (ids are 1..%d)",
                               what, DX_NODE_ID_MAX);
        for (uint32_t k = 0; k < i; k++)
            if (nodes[k] == nodes[i])
                return dx_diag_set(d, DX_ERANGE, "%s: node %u listed twice",
                                   what, (unsigned)nodes[i]);
    }
    return 0;
}

/* ---- topics ---- */
static int cat(char *buf, size_t cap, size_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Appends to buf at *at; DX_ENOSPACE (buf cut) when it does not fit. */
static int cat(char *buf, size_t cap, size_t *at, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*at >= cap)
        return DX_ENOSPACE;
    va_start(ap, fmt);
    n = vsnprintf(buf + *at, cap - *at, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap - *at)
        return DX_ENOSPACE;
    *at += (size_t)n;
    return 0;
}

/* "{root}/dfs/{tail}" into buf; "" on failure. */
static int simple_topic(const dx_topics *t, const char *tail, const char *arg,
                        char *buf, size_t cap)
{
    size_t at = 0;
    int rc;

    if (t == NULL || buf == NULL)
        return DX_EINVAL;
    rc = cat(buf, cap, &at, "%s" DFS_PREFIX "%s%s", t->root, tail,
             arg != NULL ? arg : "");
    if (rc != 0 && cap > 0)
        buf[0] = '\0';
    return rc;
}

int dx_dfs_topic_file(const dx_topics *t, const char *name, char *buf,
                      size_t cap)
{
    if (!dx_dfs_name_is_valid(name, NULL))
        return DX_ENAME;
    return simple_topic(t, "files/", name, buf, cap);
}

int dx_dfs_topic_req(const dx_topics *t, char *buf, size_t cap)
{
    return simple_topic(t, "req", NULL, buf, cap);
}

int dx_dfs_topic_stored(const dx_topics *t, const char *key, char *buf,
                        size_t cap)
{
    if (!dx_dfs_key_is_valid(key))
        return DX_ENAME;
    return simple_topic(t, "stored/", key, buf, cap);
}

int dx_dfs_topic_fetch(const dx_topics *t, uint16_t node, char *buf,
                       size_t cap)
{
    char num[8];

    if (node == 0)
        return DX_ERANGE;
    snprintf(num, sizeof num, "%u", (unsigned)node);
    return simple_topic(t, "fetch/", num, buf, cap);
}

int dx_dfs_topic_bad(const dx_topics *t, char *buf, size_t cap)
{
    return simple_topic(t, "bad", NULL, buf, cap);
}

int dx_dfs_filter_files(const dx_topics *t, char *buf, size_t cap)
{
    return simple_topic(t, "files/#", NULL, buf, cap);
}

int dx_dfs_filter_stored(const dx_topics *t, char *buf, size_t cap)
{
    return simple_topic(t, "stored/+", NULL, buf, cap);
}

int dx_dfs_topic_store(const dx_topics *t, const uint16_t *nodes, size_t n,
                       const char *key, uint32_t index, uint32_t crc,
                       char *buf, size_t cap)
{
    char hex[9];
    size_t at = 0;
    int rc;

    if (t == NULL || buf == NULL)
        return DX_EINVAL;
    if (nodes == NULL || n < 1 || n > DX_DFS_R_MAX ||
        nodes_check(nodes, (uint32_t)n, "nodes", NULL) != 0 ||
        index >= DX_DFS_CHUNKS_MAX)
        return DX_ERANGE;
    if (!dx_dfs_key_is_valid(key))
        return DX_ENAME;
    dx_dfs_crc_hex(crc, hex);
    rc = cat(buf, cap, &at, "%s" DFS_PREFIX "store/%zu", t->root, n);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = cat(buf, cap, &at, "/%u", (unsigned)nodes[i]);
    if (rc == 0)
        rc = cat(buf, cap, &at, "/%s/%u/%s", key, (unsigned)index, hex);
    if (rc != 0 && cap > 0)
        buf[0] = '\0';
    return rc;
}

size_t dx_dfs_store_filters(const dx_topics *t, uint16_t self,
                            char subs[][DX_TOPIC_MAX + 1], size_t cap)
{
    size_t count = 0;

    if (t == NULL || subs == NULL || self == 0)
        return 0;
    for (unsigned r = 1; r <= DX_DFS_R_MAX; r++) {
        for (unsigned p = 1; p <= r && count < cap; p++) {
            char *buf = subs[count];
            size_t at = 0;
            int rc = cat(buf, DX_TOPIC_MAX + 1, &at, "%s" DFS_PREFIX "store/%u",
                         t->root, r);

            for (unsigned i = 1; i <= r && rc == 0; i++)
                rc = i == p ? cat(buf, DX_TOPIC_MAX + 1, &at, "/%u",
                                  (unsigned)self)
                            : cat(buf, DX_TOPIC_MAX + 1, &at, "/+");
            if (rc == 0)
                rc = cat(buf, DX_TOPIC_MAX + 1, &at, "/+/+/+");
            if (rc != 0) { /* cannot happen with a root of DX_ROOT_MAX */
                buf[0] = '\0';
                return count;
            }
            count++;
        }
    }
    return count;
}

/* The levels after "store/": R, R nodes, key, index, crc. */
static int parse_store(const char *s, size_t n, dx_dfs_ref *out, dx_diag *d)
{
    const char *lv[STORE_LEVELS_MAX];
    size_t lvlen[STORE_LEVELS_MAX], nlv = 0, i = 0;
    uint32_t r, v;

    while (i <= n) {
        size_t j = i;
        while (j < n && s[j] != '/')
            j++;
        if (nlv == STORE_LEVELS_MAX)
            return dx_diag_set(d, DX_ERANGE, "store topic with more than %d "
                               "levels after 'store'", STORE_LEVELS_MAX);
        lv[nlv] = s + i;
        lvlen[nlv++] = j - i;
        i = j + 1;
    }
    if (!dec_ok(lv[0], lvlen[0], 1, DX_DFS_R_MAX, &r))
        return dx_diag_set(d, DX_ERANGE, "store topic: replica count must "
                           "be 1..%d", DX_DFS_R_MAX);
    if (nlv != r + 4)
        return dx_diag_set(d, DX_ERANGE, "store topic: R=%u needs %u levels "
                           "after it (%u nodes, key, index, crc), got %zu",
                           (unsigned)r, (unsigned)r + 3, (unsigned)r, nlv - 1);
    out->n_nodes = r;
    for (uint32_t k = 0; k < r; k++) {
        if (!dec_ok(lv[1 + k], lvlen[1 + k], 1, DX_NODE_ID_MAX, &v))
            return dx_diag_set(d, DX_ERANGE, "store topic: node %u is not an "
                               "id 1..%d", (unsigned)k + 1, DX_NODE_ID_MAX);
        out->nodes[k] = (uint16_t)v;
    }
    if (nodes_check(out->nodes, r, "store topic", d) != 0)
        return DX_ERANGE;
    if (!key_check(lv[r + 1], lvlen[r + 1]))
        return dx_diag_set(d, DX_ENAME, "store topic: key must be 1..%d "
                           "bytes of [0-9a-z]", DX_DFS_KEY_MAX);
    memcpy(out->key, lv[r + 1], lvlen[r + 1]);
    out->key[lvlen[r + 1]] = '\0';
    if (!dec_ok(lv[r + 2], lvlen[r + 2], 0, DX_DFS_CHUNKS_MAX - 1,
                &out->index))
        return dx_diag_set(d, DX_ERANGE, "store topic: index must be 0..%d "
                           "without leading zeros", DX_DFS_CHUNKS_MAX - 1);
    for (size_t k = 0; k < lvlen[r + 3]; k++)
        if (lv[r + 3][k] >= 'A' && lv[r + 3][k] <= 'F')
            return dx_diag_set(d, DX_ERANGE, "store topic: crc must be "
                               "lowercase hex");
    if (dx_dfs_crc_parse(lv[r + 3], lvlen[r + 3], &out->crc) != 0)
        return dx_diag_set(d, DX_ERANGE, "store topic: crc must be 8 "
                           "lowercase hex digits");
    return 0;
}

/* level == rest exactly, or rest starts with level + "/" (*tail set). */
static bool level_is(const char *rest, size_t n, const char *level,
                     bool more, const char **tail, size_t *tlen)
{
    size_t k = strlen(level);

    if (!more)
        return n == k && memcmp(rest, level, k) == 0;
    if (n <= k || memcmp(rest, level, k) != 0 || rest[k] != '/')
        return false;
    *tail = rest + k + 1;
    *tlen = n - k - 1;
    return true;
}

static int topic_parse(const dx_topics *t, const char *topic, size_t len,
                       dx_dfs_ref *out, dx_diag *d)
{
    size_t pre = t->root_len + strlen(DFS_PREFIX), n, tlen = 0;
    const char *rest, *tail = NULL;
    uint32_t v;

    if (len < pre || memcmp(topic, t->root, t->root_len) != 0 ||
        memcmp(topic + t->root_len, DFS_PREFIX, strlen(DFS_PREFIX)) != 0)
        return dx_diag_set(d, DX_ETOPIC, "not under {root}/dfs/");
    if (len > DX_DFS_TOPIC_MAX)
        return dx_diag_set(d, DX_ENAME, "DFS topic longer than %d bytes",
                           DX_DFS_TOPIC_MAX);
    rest = topic + pre;
    n = len - pre;
    if (level_is(rest, n, "req", false, NULL, NULL)) {
        out->kind = DX_DFS_T_REQ;
    } else if (level_is(rest, n, "bad", false, NULL, NULL)) {
        out->kind = DX_DFS_T_BAD;
    } else if (level_is(rest, n, "files", true, &tail, &tlen)) {
        if (!name_check(tail, tlen, d))
            return DX_ENAME;
        memcpy(out->name, tail, tlen);
        out->name[tlen] = '\0';
        out->kind = DX_DFS_T_FILE;
    } else if (level_is(rest, n, "stored", true, &tail, &tlen)) {
        if (!key_check(tail, tlen))
            return dx_diag_set(d, DX_ENAME, "stored topic: key must be 1..%d "
                               "bytes of [0-9a-z]", DX_DFS_KEY_MAX);
        memcpy(out->key, tail, tlen);
        out->key[tlen] = '\0';
        out->kind = DX_DFS_T_STORED;
    } else if (level_is(rest, n, "fetch", true, &tail, &tlen)) {
        if (!dec_ok(tail, tlen, 1, DX_NODE_ID_MAX, &v))
            return dx_diag_set(d, DX_ERANGE, "fetch topic: node must be an "
                               "id 1..%d", DX_NODE_ID_MAX);
        out->node = (uint16_t)v;
        out->kind = DX_DFS_T_FETCH;
    } else if (level_is(rest, n, "store", true, &tail, &tlen)) {
        int rc = parse_store(tail, tlen, out, d);
        if (rc != 0)
            return rc;
        out->kind = DX_DFS_T_STORE;
    } else {
        return dx_diag_set(d, DX_ETOPIC, "unknown topic under {root}/dfs/");
    }
    return 0;
}

int dx_dfs_topic_parse(const dx_topics *t, const char *topic, size_t len,
                       dx_dfs_ref *out, dx_diag *d)
{
    int rc;

    if (out == NULL)
        return dx_diag_set(d, DX_EINVAL, "no output struct");
    memset(out, 0, sizeof *out);
    if (t == NULL || (topic == NULL && len > 0))
        return dx_diag_set(d, DX_EINVAL, "no topics or no topic");
    if (topic == NULL)
        return dx_diag_set(d, DX_ETOPIC, "empty topic");
    if ((rc = topic_parse(t, topic, len, out, d)) != 0)
        memset(out, 0, sizeof *out);
    return rc;
}

const char *dx_dfs_op_name(dx_dfs_op op)
{
    size_t v = (size_t)op;
    return v >= 1 && v <= COUNT(op_names) ? op_names[v - 1] : NULL;
}

/* ---- value checks shared by encoders and decoders ---- */
enum skind {
    S_NAME,   /* dx_dfs_name_is_valid */
    S_KEY,    /* dx_dfs_key_is_valid */
    S_SHA,    /* 64 lowercase hex digits */
    S_TOPIC,  /* dx_topic_is_publishable */
    S_LTOPIC, /* the same, up to DX_DFS_TOPIC_MAX bytes */
    S_TEXT,   /* dx_text_is_valid */
    S_REASON  /* 1..DX_REASON_MAX bytes of [a-z_] */
};

static int fbad(dx_diag *d, int err, const char *pre, const char *key,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* One line "field 'chunks[3].nodes': why". */
static int fbad(dx_diag *d, int err, const char *pre, const char *key,
                const char *fmt, ...)
{
    char why[120];
    va_list ap;

    if (d == NULL)
        return err;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return dx_diag_set(d, err, "field '%s%s': %s", pre, key, why);
}

static bool sha_ok(const char *s)
{
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return s[64] == '\0';
}

static bool reason_ok(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++)
        if (n >= DX_REASON_MAX ||
            !((s[n] >= 'a' && s[n] <= 'z') || s[n] == '_'))
            return false;
    return n > 0;
}

/* A string of a struct buffer of `size` bytes: terminated, then its kind's
 * syntax.  Names, keys and topics answer DX_ENAME, the rest DX_ERANGE. */
static int str_check(dx_diag *d, const char *key, enum skind k,
                     const char *s, size_t size)
{
    int err = k == S_NAME || k == S_KEY || k == S_TOPIC || k == S_LTOPIC
                  ? DX_ENAME : DX_ERANGE;
    dx_diag why;

    if (strnlen(s, size) >= size)
        return fbad(d, err, "", key, "longer than %zu bytes", size - 1);
    switch (k) {
    case S_NAME:
        if (!dx_dfs_name_is_valid(s, &why))
            return fbad(d, err, "", key, "%s", why.msg);
        return 0;
    case S_KEY:
        if (!dx_dfs_key_is_valid(s))
            return fbad(d, err, "", key, "expected 1..%d bytes of [0-9a-z]",
                        DX_DFS_KEY_MAX);
        return 0;
    case S_SHA:
        if (!sha_ok(s))
            return fbad(d, err, "", key, "expected 64 hex digits");
        return 0;
    case S_TOPIC:
    case S_LTOPIC:
        if (!topic_ok(s, k == S_TOPIC ? DX_TOPIC_MAX : DX_DFS_TOPIC_MAX))
            return fbad(d, err, "", key, "expected a topic: printable ASCII, "
                        "no '+', '#' or empty level");
        return 0;
    case S_REASON:
        if (!reason_ok(s))
            return fbad(d, err, "", key, "expected 1..%d bytes of [a-z_]",
                        DX_REASON_MAX);
        return 0;
    default:
        if (!dx_text_is_valid(s))
            return fbad(d, err, "", key, "expected UTF-8 text without control "
                        "characters");
        return 0;
    }
}

/* An optional string: "" is absent, else as str_check. */
static int opt_check(dx_diag *d, const char *key, enum skind k, const char *s,
                     size_t size)
{
    return s[0] == '\0' ? 0 : str_check(d, key, k, s, size);
}

static int uint_check(dx_diag *d, const char *key, uint64_t v, uint64_t lo,
                      uint64_t hi)
{
    if (v < lo || v > hi)
        return fbad(d, DX_ERANGE, "", key, "expected an integer %" PRIu64
                    "..%" PRIu64, lo, hi);
    return 0;
}

static int chunk_size_check(dx_diag *d, uint32_t cs)
{
    if (cs < DX_DFS_CHUNK_MIN || cs > DX_DFS_CHUNK_MAX ||
        cs % DX_DFS_CHUNK_MIN != 0)
        return fbad(d, DX_ERANGE, "", "chunk_size", "expected a multiple of "
                    "%u in %u..%u", DX_DFS_CHUNK_MIN, DX_DFS_CHUNK_MIN,
                    DX_DFS_CHUNK_MAX);
    return 0;
}

static int chunk_nodes_check(dx_diag *d, const char *list, uint32_t i,
                             const dx_dfs_chunk *c)
{
    char what[48];

    if (c->n > DX_DFS_R_MAX)
        return fbad(d, DX_ERANGE, "", list, "entry %u has more than %d "
                    "nodes", (unsigned)i, DX_DFS_R_MAX);
    snprintf(what, sizeof what, "field '%s[%u]'", list, (unsigned)i);
    return nodes_check(c->nodes, c->n, what, d);
}

/* ---- the messages' rules: run by the encoder, and after decoding ---- */
static int check_file(const dx_dfs_file *m, dx_diag *d)
{
    uint64_t want;
    int rc;

    if ((rc = str_check(d, "name", S_NAME, m->name, sizeof m->name)) != 0 ||
        (rc = str_check(d, "key", S_KEY, m->key, sizeof m->key)) != 0 ||
        (rc = chunk_size_check(d, m->chunk_size)) != 0 ||
        (rc = uint_check(d, "size", m->size, 0,
                         (uint64_t)m->chunk_size * DX_DFS_CHUNKS_MAX)) != 0 ||
        (rc = uint_check(d, "replicas", m->replicas, 1, DX_DFS_R_MAX)) != 0 ||
        (rc = str_check(d, "sha256", S_SHA, m->sha256, sizeof m->sha256)) != 0)
        return rc;
    if (m->created_ms < 0 || m->created_ms > DX_INT_MAX)
        return fbad(d, DX_ERANGE, "", "created_ms", "expected an integer "
                    "0..%lld", DX_INT_MAX);
    if ((rc = uint_check(d, "term", m->term, 1, DX_INT_MAX)) != 0)
        return rc;
    want = (m->size + m->chunk_size - 1) / m->chunk_size;
    if (m->n_chunks != want)
        return fbad(d, DX_ERANGE, "", "chunks", "%u entries, but size %" PRIu64
                    " in chunks of %u needs %" PRIu64, (unsigned)m->n_chunks,
                    m->size, (unsigned)m->chunk_size, want);
    for (uint32_t i = 0; i < m->n_chunks; i++)
        if ((rc = chunk_nodes_check(d, "chunks", i, &m->chunks[i])) != 0)
            return rc;
    return 0;
}

static int check_req(const dx_dfs_req *m, dx_diag *d)
{
    int rc = 0;

    switch (m->op) {
    case DX_DFS_OP_PUT:
        if ((rc = str_check(d, "name", S_NAME, m->name, sizeof m->name)) != 0 ||
            (rc = uint_check(d, "replicas", m->replicas, 0, DX_DFS_R_MAX)) != 0)
            return rc;
        if (m->chunk_size != 0 &&
            (rc = chunk_size_check(d, m->chunk_size)) != 0)
            return rc;
        rc = uint_check(d, "size", m->size, 0,
                        (uint64_t)(m->chunk_size != 0 ? m->chunk_size
                                                      : DX_DFS_CHUNK_MAX) *
                            DX_DFS_CHUNKS_MAX);
        break;
    case DX_DFS_OP_COMMIT:
        if ((rc = str_check(d, "key", S_KEY, m->key, sizeof m->key)) == 0)
            rc = str_check(d, "sha256", S_SHA, m->sha256, sizeof m->sha256);
        break;
    case DX_DFS_OP_ABORT:
        rc = str_check(d, "key", S_KEY, m->key, sizeof m->key);
        break;
    case DX_DFS_OP_RM:
        rc = str_check(d, "name", S_NAME, m->name, sizeof m->name);
        break;
    default:
        return fbad(d, DX_ERANGE, "", "op", "expected one of "
                    "put|commit|abort|rm");
    }
    if (rc == 0)
        rc = opt_check(d, "reply_to", S_TOPIC, m->reply_to, sizeof m->reply_to);
    if (rc == 0)
        rc = opt_check(d, "corr", S_TEXT, m->corr, sizeof m->corr);
    return rc;
}

static int check_reply(const dx_dfs_reply *m, dx_diag *d)
{
    int rc;

    if ((rc = opt_check(d, "corr", S_TEXT, m->corr, sizeof m->corr)) != 0 ||
        (rc = uint_check(d, "node", m->node, 0, DX_NODE_ID_MAX)) != 0 ||
        (rc = opt_check(d, "error", S_TEXT, m->error, sizeof m->error)) != 0 ||
        (rc = opt_check(d, "key", S_KEY, m->key, sizeof m->key)) != 0)
        return rc;
    if (!m->ok && m->error[0] == '\0')
        return fbad(d, DX_EFIELD, "", "error", "required when ok is false");
    if (m->chunk_size != 0 && (rc = chunk_size_check(d, m->chunk_size)) != 0)
        return rc;
    if (m->n_plan > DX_DFS_CHUNKS_MAX)
        return fbad(d, DX_ERANGE, "", "plan", "more than %d entries",
                    DX_DFS_CHUNKS_MAX);
    if (m->n_plan > 0 && (m->key[0] == '\0' || m->chunk_size == 0))
        return fbad(d, DX_EFIELD, "", m->key[0] == '\0' ? "key" : "chunk_size",
                    "required with a plan");
    for (uint32_t i = 0; i < m->n_plan; i++)
        if ((rc = chunk_nodes_check(d, "plan", i, &m->plan[i])) != 0)
            return rc;
    if (m->n_missing > DX_DFS_MISSING_MAX)
        return fbad(d, DX_ERANGE, "", "missing", "more than %d entries",
                    DX_DFS_MISSING_MAX);
    for (uint32_t i = 0; i < m->n_missing; i++)
        if (m->missing[i] >= DX_DFS_CHUNKS_MAX)
            return fbad(d, DX_ERANGE, "", "missing", "entry %u: expected a "
                        "chunk index 0..%d", (unsigned)i,
                        DX_DFS_CHUNKS_MAX - 1);
    return 0;
}

static int check_stored(const dx_dfs_stored *m, dx_diag *d)
{
    int rc;

    if ((rc = uint_check(d, "node", m->node, 1, DX_NODE_ID_MAX)) != 0 ||
        (rc = uint_check(d, "index", m->index, 0, INDEX_MAX)) != 0 ||
        (rc = opt_check(d, "error", S_TEXT, m->error, sizeof m->error)) != 0)
        return rc;
    if (!m->ok && m->error[0] == '\0')
        return fbad(d, DX_EFIELD, "", "error", "required when ok is false");
    return 0;
}

static int check_fetch(const dx_dfs_fetch *m, dx_diag *d)
{
    int rc;

    if ((rc = str_check(d, "key", S_KEY, m->key, sizeof m->key)) != 0 ||
        (rc = uint_check(d, "index", m->index, 0, DX_DFS_CHUNKS_MAX - 1)) != 0)
        return rc;
    return str_check(d, "reply_to", S_LTOPIC, m->reply_to, sizeof m->reply_to);
}

static int check_bad(const dx_dfs_bad *m, dx_diag *d)
{
    int rc;

    if ((rc = str_check(d, "key", S_KEY, m->key, sizeof m->key)) != 0 ||
        (rc = uint_check(d, "index", m->index, 0, INDEX_MAX)) != 0 ||
        (rc = uint_check(d, "node", m->node, 1, DX_NODE_ID_MAX)) != 0)
        return rc;
    return str_check(d, "reason", S_REASON, m->reason, sizeof m->reason);
}

/* ---- decoding ---- */
/* A member, NULL when absent or null. */
static const cJSON *item(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNull(it) ? NULL : it;
}

/*
 * What every payload passes before its fields are looked at: size (max),
 * one scan for depth, raw control bytes in strings and "\u0000" escapes,
 * JSON syntax with only whitespace after it, an object at the top, and
 * "v":1.  Returns 0 with *root set (cJSON_Delete it) or an error with the
 * diagnosis and *root NULL.
 */
static int parse_payload(const char *buf, size_t len, size_t max,
                         cJSON **root, dx_diag *d)
{
    const char *end = NULL;
    const cJSON *v;
    bool in_str = false;
    int depth = 0, rc = 0;

    *root = NULL;
    if (buf == NULL && len > 0)
        return dx_diag_set(d, DX_EINVAL, "no payload buffer");
    if (len > max)
        return dx_diag_set(d, DX_ETOOBIG, "payload of %zu bytes, the limit "
                           "is %zu", len, max);
    if (len == 0)
        return dx_diag_set(d, DX_EJSON, "empty payload");
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)buf[i];

        if (in_str) {
            if (ch == '"')
                in_str = false;
            else if (ch < 0x20)
                return dx_diag_set(d, DX_EJSON, "raw control character in a "
                                   "string (JSON needs it escaped)");
            else if (ch == '\\' && i + 1 < len) {
                if (buf[i + 1] == 'u' && len - i >= 6 &&
                    memcmp(buf + i + 2, "0000", 4) == 0)
                    return dx_diag_set(d, DX_EJSON, "\\u0000 (NUL) in a "
                                       "string");
                i++; /* an escaped quote does not end the string */
            }
        } else if (ch == '"') {
            in_str = true;
        } else if (ch == '{' || ch == '[') {
            if (++depth > DX_JSON_DEPTH_MAX)
                return dx_diag_set(d, DX_EDEPTH, "JSON nested deeper than %d "
                                   "levels", DX_JSON_DEPTH_MAX);
        } else if ((ch == '}' || ch == ']') && depth > 0) {
            depth--;
        }
    }
    *root = cJSON_ParseWithLengthOpts(buf, len, &end, false);
    if (*root == NULL || end == NULL) {
        rc = dx_diag_set(d, DX_EJSON, "malformed JSON at byte %zu of %zu",
                         end != NULL ? (size_t)(end - buf) : 0, len);
    } else {
        for (; end < buf + len; end++)
            if (*end != ' ' && *end != '\t' && *end != '\r' && *end != '\n')
                break;
        v = cJSON_IsObject(*root) ? item(*root, "v") : NULL;
        if (end != buf + len)
            rc = dx_diag_set(d, DX_EJSON, "malformed JSON at byte %zu of %zu",
                             (size_t)(end - buf), len);
        else if (!cJSON_IsObject(*root))
            rc = dx_diag_set(d, DX_EJSON, "expected a JSON object");
        else if (v == NULL)
            rc = fbad(d, DX_EVERSION, "", "v", "missing, expected %d",
                      DX_PROTO_V);
        else if (!cJSON_IsNumber(v) || v->valuedouble != DX_PROTO_V)
            rc = fbad(d, DX_EVERSION, "", "v", "expected %d", DX_PROTO_V);
    }
    if (rc != 0) {
        cJSON_Delete(*root);
        *root = NULL;
    }
    return rc;
}

static int missing(dx_diag *d, const char *pre, const char *key)
{
    return fbad(d, DX_EFIELD, pre, key, "missing");
}

/* An integer JSON value in lo..hi (at most DX_INT_MAX). */
static int int_val(const cJSON *it, const char *pre, const char *key,
                   uint64_t lo, uint64_t hi, uint64_t *out, dx_diag *d)
{
    double x;

    if (!cJSON_IsNumber(it))
        return fbad(d, DX_EFIELD, pre, key, "expected an integer %" PRIu64
                    "..%" PRIu64, lo, hi);
    x = it->valuedouble;
    /* !(..) also catches NaN; in range, the cast is exact */
    if (!(x >= 0 && x <= (double)DX_INT_MAX) || x != (double)(uint64_t)x ||
        (uint64_t)x < lo || (uint64_t)x > hi)
        return fbad(d, DX_ERANGE, pre, key, "expected an integer %" PRIu64
                    "..%" PRIu64, lo, hi);
    *out = (uint64_t)x;
    return 0;
}

/* Member `key` as an integer; absent: DX_EFIELD when req, else 0. */
static int get_int(const cJSON *o, const char *key, bool req, uint64_t lo,
                   uint64_t hi, uint64_t *out, dx_diag *d)
{
    const cJSON *it = item(o, key);

    *out = 0;
    if (it == NULL)
        return req ? missing(d, "", key) : 0;
    return int_val(it, "", key, lo, hi, out, d);
}

/* get_int into a member of type T, returning from the caller on error;
 * the range check makes the narrowing exact. */
#define GET_INT(o, key, req, lo, hi, T, dst, d)                              \
    do {                                                                     \
        uint64_t v_;                                                         \
        int rc_ = get_int(o, key, req, lo, hi, &v_, d);                      \
        if (rc_ != 0)                                                        \
            return rc_;                                                      \
        (dst) = (T)v_;                                                       \
    } while (0)

/* Member `key` as a string into dst (size bytes), then checked by kind;
 * absent: DX_EFIELD when req, else "".  A sha256 is lowercased. */
static int get_str(const cJSON *o, const char *key, bool req, enum skind k,
                   char *dst, size_t size, dx_diag *d)
{
    const cJSON *it = item(o, key);
    size_t n;

    if (it == NULL)
        return req ? missing(d, "", key) : 0;
    if (!cJSON_IsString(it))
        return fbad(d, DX_EFIELD, "", key, "expected a string");
    n = strlen(it->valuestring);
    if (n >= size)
        return str_check(d, key, k, it->valuestring, size);
    memcpy(dst, it->valuestring, n + 1);
    for (size_t i = 0; k == S_SHA && i < n; i++)
        if (dst[i] >= 'A' && dst[i] <= 'F')
            dst[i] = (char)(dst[i] - 'A' + 'a');
    return str_check(d, key, k, dst, size);
}

static int get_bool(const cJSON *o, const char *key, bool req, bool *out,
                    dx_diag *d)
{
    const cJSON *it = item(o, key);

    if (it == NULL)
        return req ? missing(d, "", key) : 0;
    if (!cJSON_IsBool(it))
        return fbad(d, DX_EFIELD, "", key, "expected true or false");
    *out = cJSON_IsTrue(it);
    return 0;
}

static int crc_val(const cJSON *it, const char *pre, const char *key,
                   uint32_t *out, dx_diag *d)
{
    if (it == NULL)
        return missing(d, pre, key);
    if (!cJSON_IsString(it) ||
        dx_dfs_crc_parse(it->valuestring, strlen(it->valuestring), out) != 0)
        return fbad(d, cJSON_IsString(it) ? DX_ERANGE : DX_EFIELD, pre, key,
                    "expected a string of 8 hex digits");
    return 0;
}

/* An array of up to DX_DFS_R_MAX node ids (distinctness: the checks). */
static int nodes_val(const cJSON *arr, const char *pre, const char *key,
                     dx_dfs_chunk *c, dx_diag *d)
{
    const cJSON *el;
    uint64_t v = 0;
    int rc;

    if (!cJSON_IsArray(arr))
        return fbad(d, DX_EFIELD, pre, key, "expected an array of node ids");
    cJSON_ArrayForEach(el, arr) {
        if (c->n == DX_DFS_R_MAX)
            return fbad(d, DX_ERANGE, pre, key, "more than %d nodes",
                        DX_DFS_R_MAX);
        if ((rc = int_val(el, pre, key, 1, DX_NODE_ID_MAX, &v, d)) != 0)
            return rc;
        c->nodes[c->n++] = (uint16_t)v;
    }
    return 0;
}

/* The common frame: out zeroed, payload parsed, fields read by fill, the
 * check run; out zeroed again on any error. */
static int decode(const char *buf, size_t len, size_t max, void *out,
                  size_t size, int (*fill)(const cJSON *, void *, dx_diag *),
                  dx_diag *d)
{
    cJSON *root;
    int rc;

    if (out == NULL)
        return dx_diag_set(d, DX_EINVAL, "no output struct");
    memset(out, 0, size);
    if ((rc = parse_payload(buf, len, max, &root, d)) == 0)
        rc = fill(root, out, d);
    cJSON_Delete(root);
    if (rc != 0)
        memset(out, 0, size);
    return rc;
}

static int fill_file(const cJSON *o, void *p, dx_diag *d)
{
    dx_dfs_file *m = p;
    const cJSON *arr, *el;
    char pre[32];
    int rc;

    if ((rc = get_str(o, "name", true, S_NAME, m->name, sizeof m->name, d)) ||
        (rc = get_str(o, "key", true, S_KEY, m->key, sizeof m->key, d)))
        return rc;
    GET_INT(o, "size", true, 0, SIZE_MAX_ALL, uint64_t, m->size, d);
    GET_INT(o, "chunk_size", true, 0, DX_DFS_CHUNK_MAX, uint32_t,
            m->chunk_size, d);
    if ((rc = chunk_size_check(d, m->chunk_size)) != 0)
        return rc;
    GET_INT(o, "replicas", true, 1, DX_DFS_R_MAX, uint32_t, m->replicas, d);
    if ((rc = get_str(o, "sha256", true, S_SHA, m->sha256, sizeof m->sha256,
                      d)) != 0)
        return rc;
    GET_INT(o, "created_ms", true, 0, DX_INT_MAX, int64_t, m->created_ms, d);
    GET_INT(o, "term", true, 1, DX_INT_MAX, uint64_t, m->term, d);
    if ((rc = get_bool(o, "under_replicated", true, &m->under_replicated,
                       d)) != 0)
        return rc;
    if ((arr = item(o, "chunks")) == NULL)
        return missing(d, "", "chunks");
    if (!cJSON_IsArray(arr))
        return fbad(d, DX_EFIELD, "", "chunks", "expected an array");
    cJSON_ArrayForEach(el, arr) {
        dx_dfs_chunk *c = &m->chunks[m->n_chunks];
        const cJSON *nodes;

        if (m->n_chunks == DX_DFS_CHUNKS_MAX)
            return fbad(d, DX_ERANGE, "", "chunks", "more than %d entries",
                        DX_DFS_CHUNKS_MAX);
        if (!cJSON_IsObject(el))
            return fbad(d, DX_EFIELD, "", "chunks", "entry %u: expected an "
                        "object", (unsigned)m->n_chunks);
        snprintf(pre, sizeof pre, "chunks[%u].", (unsigned)m->n_chunks);
        if ((rc = crc_val(item(el, "crc"), pre, "crc", &c->crc, d)) != 0)
            return rc;
        if ((nodes = item(el, "nodes")) == NULL)
            return missing(d, pre, "nodes");
        if ((rc = nodes_val(nodes, pre, "nodes", c, d)) != 0)
            return rc;
        m->n_chunks++;
    }
    return check_file(m, d);
}

static int fill_req(const cJSON *o, void *p, dx_diag *d)
{
    dx_dfs_req *m = p;
    const cJSON *op = item(o, "op");
    size_t k = 0;
    int rc;

    if (op == NULL)
        return missing(d, "", "op");
    for (size_t i = 0; cJSON_IsString(op) && i < COUNT(op_names); i++)
        if (strcmp(op->valuestring, op_names[i]) == 0)
            k = i + 1;
    if (k == 0)
        return fbad(d, cJSON_IsString(op) ? DX_ERANGE : DX_EFIELD, "", "op",
                    "expected one of put|commit|abort|rm");
    m->op = (dx_dfs_op)k;
    switch (m->op) {
    case DX_DFS_OP_PUT:
        if ((rc = get_str(o, "name", true, S_NAME, m->name, sizeof m->name,
                          d)) != 0)
            return rc;
        GET_INT(o, "size", true, 0, SIZE_MAX_ALL, uint64_t, m->size, d);
        GET_INT(o, "chunk_size", false, 0, DX_DFS_CHUNK_MAX, uint32_t,
                m->chunk_size, d);
        GET_INT(o, "replicas", false, 0, DX_DFS_R_MAX, uint32_t, m->replicas,
                d);
        break;
    case DX_DFS_OP_COMMIT:
        if ((rc = get_str(o, "key", true, S_KEY, m->key, sizeof m->key, d)) ||
            (rc = get_str(o, "sha256", true, S_SHA, m->sha256,
                          sizeof m->sha256, d)))
            return rc;
        break;
    case DX_DFS_OP_ABORT:
        if ((rc = get_str(o, "key", true, S_KEY, m->key, sizeof m->key, d)))
            return rc;
        break;
    default:
        if ((rc = get_str(o, "name", true, S_NAME, m->name, sizeof m->name,
                          d)) != 0)
            return rc;
        break;
    }
    if ((rc = get_str(o, "reply_to", false, S_TOPIC, m->reply_to,
                      sizeof m->reply_to, d)) ||
        (rc = get_str(o, "corr", false, S_TEXT, m->corr, sizeof m->corr, d)))
        return rc;
    return check_req(m, d);
}

static int fill_reply(const cJSON *o, void *p, dx_diag *d)
{
    dx_dfs_reply *m = p;
    const cJSON *arr, *el;
    char pre[32];
    uint64_t v = 0;
    int rc;

    if ((rc = get_str(o, "corr", false, S_TEXT, m->corr, sizeof m->corr, d)) ||
        (rc = get_bool(o, "ok", true, &m->ok, d)))
        return rc;
    GET_INT(o, "node", false, 0, DX_NODE_ID_MAX, uint16_t, m->node, d);
    if ((rc = get_str(o, "error", false, S_TEXT, m->error, sizeof m->error,
                      d)) ||
        (rc = get_str(o, "key", false, S_KEY, m->key, sizeof m->key, d)))
        return rc;
    GET_INT(o, "chunk_size", false, 0, DX_DFS_CHUNK_MAX, uint32_t,
            m->chunk_size, d);
    if ((arr = item(o, "plan")) != NULL) {
        if (!cJSON_IsArray(arr))
            return fbad(d, DX_EFIELD, "", "plan", "expected an array");
        cJSON_ArrayForEach(el, arr) {
            if (m->n_plan == DX_DFS_CHUNKS_MAX)
                return fbad(d, DX_ERANGE, "", "plan", "more than %d entries",
                            DX_DFS_CHUNKS_MAX);
            snprintf(pre, sizeof pre, "plan[%u]", (unsigned)m->n_plan);
            if ((rc = nodes_val(el, "", pre, &m->plan[m->n_plan], d)) != 0)
                return rc;
            m->n_plan++;
        }
    }
    if ((arr = item(o, "missing")) != NULL) {
        if (!cJSON_IsArray(arr))
            return fbad(d, DX_EFIELD, "", "missing", "expected an array");
        cJSON_ArrayForEach(el, arr) {
            if (m->n_missing == DX_DFS_MISSING_MAX)
                return fbad(d, DX_ERANGE, "", "missing", "more than %d "
                            "entries", DX_DFS_MISSING_MAX);
            if ((rc = int_val(el, "", "missing", 0, DX_DFS_CHUNKS_MAX - 1, &v,
                              d)) != 0)
                return rc;
            m->missing[m->n_missing++] = (uint32_t)v;
        }
    }
    return check_reply(m, d);
}

static int fill_stored(const cJSON *o, void *p, dx_diag *d)
{
    dx_dfs_stored *m = p;
    int rc;

    GET_INT(o, "node", true, 1, DX_NODE_ID_MAX, uint16_t, m->node, d);
    GET_INT(o, "index", true, 0, DX_DFS_CHUNKS_MAX - 1, uint32_t, m->index, d);
    if ((rc = crc_val(item(o, "crc"), "", "crc", &m->crc, d)) ||
        (rc = get_bool(o, "ok", true, &m->ok, d)) ||
        (rc = get_str(o, "error", false, S_TEXT, m->error, sizeof m->error, d)))
        return rc;
    return check_stored(m, d);
}

static int fill_fetch(const cJSON *o, void *p, dx_diag *d)
{
    dx_dfs_fetch *m = p;
    int rc;

    if ((rc = get_str(o, "key", true, S_KEY, m->key, sizeof m->key, d)))
        return rc;
    GET_INT(o, "index", true, 0, DX_DFS_CHUNKS_MAX - 1, uint32_t, m->index, d);
    if ((rc = crc_val(item(o, "crc"), "", "crc", &m->crc, d)) ||
        (rc = get_str(o, "reply_to", true, S_LTOPIC, m->reply_to,
                      sizeof m->reply_to, d)))
        return rc;
    return check_fetch(m, d);
}

static int fill_bad(const cJSON *o, void *p, dx_diag *d)
{
    dx_dfs_bad *m = p;
    int rc;

    if ((rc = get_str(o, "key", true, S_KEY, m->key, sizeof m->key, d)))
        return rc;
    GET_INT(o, "index", true, 0, DX_DFS_CHUNKS_MAX - 1, uint32_t, m->index, d);
    GET_INT(o, "node", true, 1, DX_NODE_ID_MAX, uint16_t, m->node, d);
    GET_INT(o, "from", false, 0, DX_NODE_ID_MAX, uint16_t, m->from, d);
    if ((rc = get_str(o, "reason", true, S_REASON, m->reason,
                      sizeof m->reason, d)))
        return rc;
    return check_bad(m, d);
}

/* ---- encoding (the writer: dx_jsonw.h) ---- */
static void kv_u64(dx_jw *w, const char *key, uint64_t v)
{
    dx_jw_key(w, key);
    dx_jw_u64(w, v);
}

static void kv_str(dx_jw *w, const char *key, const char *s)
{
    dx_jw_key(w, key);
    dx_jw_str(w, s);
}

static void kv_opt(dx_jw *w, const char *key, const char *s)
{
    if (s[0] != '\0')
        kv_str(w, key, s);
}

static void kv_bool(dx_jw *w, const char *key, bool b)
{
    dx_jw_key(w, key);
    dx_jw_cstr(w, b ? "true" : "false");
}

static void kv_crc(dx_jw *w, const char *key, uint32_t crc)
{
    char hex[9];

    dx_dfs_crc_hex(crc, hex);
    kv_str(w, key, hex);
}

static void put_nodes(dx_jw *w, const dx_dfs_chunk *c)
{
    dx_jw_put(w, "[", 1);
    for (uint32_t i = 0; i < c->n; i++) {
        if (i > 0)
            dx_jw_put(w, ",", 1);
        dx_jw_u64(w, c->nodes[i]);
    }
    dx_jw_put(w, "]", 1);
}

/* The common frame: check, write "{"v":1 ... }", bound the size; buf
 * holds "" when it fails. */
static int encode(const void *m, int (*check)(const void *),
                  void (*body)(dx_jw *, const void *), size_t max, char *buf,
                  size_t cap, size_t *len)
{
    dx_jw w = {buf, cap, 0, '\0'};
    int rc;

    if (len != NULL)
        *len = 0;
    if (m == NULL || buf == NULL || len == NULL)
        return DX_EINVAL;
    if ((rc = check(m)) == 0) {
        dx_jw_cstr(&w, "{\"v\":1");
        body(&w, m);
        dx_jw_put(&w, "}", 1);
    }
    return dx_jw_finish(&w, rc, max, len);
}

static void body_file(dx_jw *w, const void *p)
{
    const dx_dfs_file *m = p;
    char hex[9];

    kv_str(w, "name", m->name);
    kv_str(w, "key", m->key);
    kv_u64(w, "size", m->size);
    kv_u64(w, "chunk_size", m->chunk_size);
    kv_u64(w, "replicas", m->replicas);
    kv_str(w, "sha256", m->sha256);
    kv_u64(w, "created_ms", (uint64_t)m->created_ms);
    kv_u64(w, "term", m->term);
    kv_bool(w, "under_replicated", m->under_replicated);
    dx_jw_key(w, "chunks");
    dx_jw_put(w, "[", 1);
    for (uint32_t i = 0; i < m->n_chunks; i++) {
        if (i > 0)
            dx_jw_put(w, ",", 1);
        dx_dfs_crc_hex(m->chunks[i].crc, hex);
        dx_jw_cstr(w, "{\"crc\":");
        dx_jw_str(w, hex);
        dx_jw_key(w, "nodes");
        put_nodes(w, &m->chunks[i]);
        dx_jw_put(w, "}", 1);
    }
    dx_jw_put(w, "]", 1);
}

static void body_req(dx_jw *w, const void *p)
{
    const dx_dfs_req *m = p;

    kv_str(w, "op", dx_dfs_op_name(m->op));
    switch (m->op) {
    case DX_DFS_OP_PUT:
        kv_str(w, "name", m->name);
        kv_u64(w, "size", m->size);
        if (m->chunk_size != 0)
            kv_u64(w, "chunk_size", m->chunk_size);
        if (m->replicas != 0)
            kv_u64(w, "replicas", m->replicas);
        break;
    case DX_DFS_OP_COMMIT:
        kv_str(w, "key", m->key);
        kv_str(w, "sha256", m->sha256);
        break;
    case DX_DFS_OP_ABORT:
        kv_str(w, "key", m->key);
        break;
    default:
        kv_str(w, "name", m->name);
        break;
    }
    kv_opt(w, "reply_to", m->reply_to);
    kv_opt(w, "corr", m->corr);
}

static void body_reply(dx_jw *w, const void *p)
{
    const dx_dfs_reply *m = p;

    kv_opt(w, "corr", m->corr);
    kv_bool(w, "ok", m->ok);
    if (m->node != 0)
        kv_u64(w, "node", m->node);
    kv_opt(w, "error", m->error);
    kv_opt(w, "key", m->key);
    if (m->chunk_size != 0)
        kv_u64(w, "chunk_size", m->chunk_size);
    if (m->n_plan > 0) {
        dx_jw_key(w, "plan");
        dx_jw_put(w, "[", 1);
        for (uint32_t i = 0; i < m->n_plan; i++) {
            if (i > 0)
                dx_jw_put(w, ",", 1);
            put_nodes(w, &m->plan[i]);
        }
        dx_jw_put(w, "]", 1);
    }
    if (m->n_missing > 0) {
        dx_jw_key(w, "missing");
        dx_jw_put(w, "[", 1);
        for (uint32_t i = 0; i < m->n_missing; i++) {
            if (i > 0)
                dx_jw_put(w, ",", 1);
            dx_jw_u64(w, m->missing[i]);
        }
        dx_jw_put(w, "]", 1);
    }
}

static void body_stored(dx_jw *w, const void *p)
{
    const dx_dfs_stored *m = p;

    kv_u64(w, "node", m->node);
    kv_u64(w, "index", m->index);
    kv_crc(w, "crc", m->crc);
    kv_bool(w, "ok", m->ok);
    kv_opt(w, "error", m->error);
}

static void body_fetch(dx_jw *w, const void *p)
{
    const dx_dfs_fetch *m = p;

    kv_str(w, "key", m->key);
    kv_u64(w, "index", m->index);
    kv_crc(w, "crc", m->crc);
    kv_str(w, "reply_to", m->reply_to);
}

static void body_bad(dx_jw *w, const void *p)
{
    const dx_dfs_bad *m = p;

    kv_str(w, "key", m->key);
    kv_u64(w, "index", m->index);
    kv_u64(w, "node", m->node);
    kv_u64(w, "from", m->from);
    kv_str(w, "reason", m->reason);
}

#define DX_DFS_CODEC(type, max)                                              \
    static int check_any_##type(const void *m)                               \
    {                                                                        \
        return check_##type(m, NULL);                                        \
    }                                                                        \
    int dx_dfs_##type##_encode(const dx_dfs_##type *m, char *buf,            \
                               size_t cap, size_t *len)                      \
    {                                                                        \
        return encode(m, check_any_##type, body_##type, max, buf, cap, len); \
    }                                                                        \
    int dx_dfs_##type##_decode(const char *buf, size_t len,                  \
                               dx_dfs_##type *out, dx_diag *d)               \
    {                                                                        \
        return decode(buf, len, max, out, sizeof *out, fill_##type, d);      \
    }

DX_DFS_CODEC(file, (size_t)DX_DFS_JSON_MAX)
DX_DFS_CODEC(req, (size_t)DX_PAYLOAD_MAX)
DX_DFS_CODEC(reply, (size_t)DX_DFS_JSON_MAX)
DX_DFS_CODEC(stored, (size_t)DX_PAYLOAD_MAX)
DX_DFS_CODEC(fetch, (size_t)DX_PAYLOAD_MAX)
DX_DFS_CODEC(bad, (size_t)DX_PAYLOAD_MAX)
#undef DX_DFS_CODEC
