/*
 * test_dfs_msg.c - unit tests of the DFS wire contract (topics/dx_dfs.c)
 * and of the checksums (topics/dx_hash.c).
 *
 * Hashes are checked against published vectors: the CRC32C check value of
 * "123456789" and the iSCSI vectors of RFC 3720 appendix B.4; the SHA-256
 * examples of FIPS 180-2 appendix B ("abc", the 56-byte message, one
 * million 'a') and the well-known digest of "".  Each payload has a
 * canonical fixture "as written by dx_dfs_<type>_encode" from the struct
 * its builder below returns: the struct must encode to exactly those bytes
 * and the bytes decode back to it.  Hostile payloads are literal strings
 * in tables, each with the exact error code expected.  Fixtures use ' for "
 * to stay readable: cc_sq() turns every ' into ".  Decoders are always fed an
 * exact-size heap copy without a NUL, so ASan catches a read past `len`
 * (codec_check.h, shared with test_msg.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec_check.h"
#include "dx_dfs.h"
#include "dx_hash.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define OK 0
#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define ROOT "distribux/plant"

/* ---- helpers ---- */
static void sha_hex(const void *buf, size_t len, char hex[65])
{
    dx_sha256 s;
    dx_sha256_init(&s);
    dx_sha256_update(&s, buf, len);
    dx_sha256_final(&s, hex);
}

/* ---- one generic view of every codec ---- */

#define ADAPT(type)                                                           \
    static int dec_##type(const char *b, size_t l, void *o, dx_diag *d)      \
    {                                                                         \
        return dx_dfs_##type##_decode(b, l, o, d);                           \
    }                                                                         \
    static int enc_##type(const void *m, char *b, size_t c, size_t *l)       \
    {                                                                         \
        return dx_dfs_##type##_encode(m, b, c, l);                           \
    }
ADAPT(file)
ADAPT(req)
ADAPT(reply)
ADAPT(stored)
ADAPT(fetch)
ADAPT(bad)

enum { FILE_, REQ, REPLY, STORED, FETCH, BAD, N_CODECS };

typedef struct codec {
    const char *name;
    size_t size;
    cc_dec_fn dec;
    cc_enc_fn enc;
    size_t max; /* payload limit of the decoder */
} codec;

static const codec codecs[N_CODECS] = {
    {"file", sizeof(dx_dfs_file), dec_file, enc_file, DX_DFS_JSON_MAX},
    {"req", sizeof(dx_dfs_req), dec_req, enc_req, DX_PAYLOAD_MAX},
    {"reply", sizeof(dx_dfs_reply), dec_reply, enc_reply, DX_DFS_JSON_MAX},
    {"stored", sizeof(dx_dfs_stored), dec_stored, enc_stored, DX_PAYLOAD_MAX},
    {"fetch", sizeof(dx_dfs_fetch), dec_fetch, enc_fetch, DX_PAYLOAD_MAX},
    {"bad", sizeof(dx_dfs_bad), dec_bad, enc_bad, DX_PAYLOAD_MAX},
};

static char enc_buf[DX_DFS_JSON_MAX + 1];

#define CC_CODECS
#include "codec_check.h"

/* ---- fixtures: builders and the bytes their encoders write ---- */
/* Field by field: a struct assignment need not copy zeroed padding, and
 * round trips compare whole structs with memcmp. */
static void set_chunk(dx_dfs_chunk *c, uint32_t crc, uint32_t n, uint16_t a,
                      uint16_t b, uint16_t d)
{
    c->crc = crc;
    c->n = n;
    c->nodes[0] = a;
    c->nodes[1] = b;
    c->nodes[2] = d;
}

/* As written by dx_dfs_file_encode(file_full()). */
#define FX_FILE "{'v':1,'name':'logs/1/temp1/1764000000000.jsonl','key':'2a0001'," \
    "'size':2100000,'chunk_size':1048576,'replicas':3,'sha256':'" SHA_ABC "',"     \
    "'created_ms':1764000000000,'term':2,'under_replicated':true,'chunks':["      \
    "{'crc':'e3069283','nodes':[1,2,3]},{'crc':'00000000','nodes':[65535]},"      \
    "{'crc':'ffffffff','nodes':[]}]}"

static void file_full(dx_dfs_file *m)
{
    memset(m, 0, sizeof *m);
    strcpy(m->name, "logs/1/temp1/1764000000000.jsonl");
    strcpy(m->key, "2a0001");
    m->size = 2100000; /* 3 chunks: 2 full, one of 2848 bytes */
    m->chunk_size = 1048576;
    m->replicas = 3;
    strcpy(m->sha256, SHA_ABC);
    m->created_ms = 1764000000000;
    m->term = 2;
    m->under_replicated = true;
    m->n_chunks = 3;
    set_chunk(&m->chunks[0], 0xe3069283u, 3, 1, 2, 3);
    set_chunk(&m->chunks[1], 0, 1, 65535, 0, 0);
    set_chunk(&m->chunks[2], 0xffffffffu, 0, 0, 0, 0);
}

/* As written by dx_dfs_req_encode(req_put()). */
#define FX_PUT "{'v':1,'op':'put','name':'data.txt','size':123," \
    "'chunk_size':1048576,'replicas':3,'reply_to':'distribux/plant/reply/cli-1'," \
    "'corr':'c-7'}"
#define FX_COMMIT "{'v':1,'op':'commit','key':'2a0001','sha256':'" SHA_ABC \
    "','reply_to':'r/x','corr':'c-8'}"
#define FX_ABORT "{'v':1,'op':'abort','key':'2a0001'}"
#define FX_RM "{'v':1,'op':'rm','name':'logs/a.txt','reply_to':'r/x'}"

static void req_put(dx_dfs_req *m)
{
    memset(m, 0, sizeof *m);
    m->op = DX_DFS_OP_PUT;
    strcpy(m->name, "data.txt");
    m->size = 123;
    m->chunk_size = 1048576;
    m->replicas = 3;
    strcpy(m->reply_to, "distribux/plant/reply/cli-1");
    strcpy(m->corr, "c-7");
}

/* As written by dx_dfs_reply_encode(reply_plan()). */
#define FX_REPLY "{'v':1,'corr':'c-7','ok':true,'node':3,'key':'2a0001'," \
    "'chunk_size':1048576,'plan':[[1,2,3],[2,3,1]]}"
#define FX_REPLY_ERR "{'v':1,'corr':'c-8','ok':false,'node':3," \
    "'error':'chunks lack copies: r\xc3\xa9" "essayez','missing':[4,4095]}"

static void reply_plan(dx_dfs_reply *m)
{
    memset(m, 0, sizeof *m);
    strcpy(m->corr, "c-7");
    m->ok = true;
    m->node = 3;
    strcpy(m->key, "2a0001");
    m->chunk_size = 1048576;
    m->n_plan = 2;
    set_chunk(&m->plan[0], 0, 3, 1, 2, 3);
    set_chunk(&m->plan[1], 0, 3, 2, 3, 1);
}

#define FX_STORED "{'v':1,'node':2,'index':5,'crc':'e3069283','ok':true}"
#define FX_STORED_ERR "{'v':1,'node':2,'index':4095,'crc':'00000001'," \
    "'ok':false,'error':'disk full'}"
#define FX_FETCH "{'v':1,'key':'2a0001','index':5,'crc':'e3069283'," \
    "'reply_to':'distribux/plant/dfs/data/x1'}"
#define FX_BAD "{'v':1,'key':'2a0001','index':5,'node':2,'from':0," \
    "'reason':'checksum'}"

static void stored_full(dx_dfs_stored *m)
{
    memset(m, 0, sizeof *m);
    m->node = 2;
    m->index = 5;
    m->crc = 0xe3069283u;
    m->ok = true;
}

static void fetch_full(dx_dfs_fetch *m)
{
    memset(m, 0, sizeof *m);
    strcpy(m->key, "2a0001");
    m->index = 5;
    m->crc = 0xe3069283u;
    strcpy(m->reply_to, "distribux/plant/dfs/data/x1");
}

static void bad_full(dx_dfs_bad *m)
{
    memset(m, 0, sizeof *m);
    strcpy(m->key, "2a0001");
    m->index = 5;
    m->node = 2;
    strcpy(m->reason, "checksum");
}

typedef struct fixture {
    int c;
    const char *sq;
} fixture;

static const fixture fixtures[] = {
    {FILE_, FX_FILE}, {REQ, FX_PUT},       {REQ, FX_COMMIT},
    {REQ, FX_ABORT},  {REQ, FX_RM},        {REPLY, FX_REPLY},
    {REPLY, FX_REPLY_ERR}, {STORED, FX_STORED}, {STORED, FX_STORED_ERR},
    {FETCH, FX_FETCH}, {BAD, FX_BAD},
};

/* ---- hashes ---- */
static void test_crc32c_vectors(void **state)
{
    unsigned char b[32];

    (void)state;
    assert_int_equal(dx_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(dx_crc32c(0, "", 0), 0);
    assert_int_equal(dx_crc32c(0x12345678u, NULL, 0), 0x12345678u);
    /* RFC 3720 B.4 */
    memset(b, 0, sizeof b);
    assert_int_equal(dx_crc32c(0, b, sizeof b), 0x8A9136AAu);
    memset(b, 0xff, sizeof b);
    assert_int_equal(dx_crc32c(0, b, sizeof b), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        b[i] = (unsigned char)i;
    assert_int_equal(dx_crc32c(0, b, sizeof b), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        b[i] = (unsigned char)(31 - i);
    assert_int_equal(dx_crc32c(0, b, sizeof b), 0x113FDB5Cu);
}

/* The table path and the default (on x86-64 with SSE4.2, the crc32
 * instruction) agree on the vectors and on random input of every length up
 * to 300 at every start offset mod 8, with any initial value. */
static void test_crc32c_paths_agree(void **state)
{
    unsigned char buf[320];
    uint64_t x = 0x9E3779B97F4A7C15u;

    (void)state;
    assert_int_equal(dx_crc32c_soft(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(dx_crc32c_soft(0x12345678u, NULL, 0), 0x12345678u);
    for (size_t i = 0; i < sizeof buf; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (unsigned char)x;
    }
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; len <= 300; len++) {
            uint32_t seed = (uint32_t)(x >> 32) ^ (uint32_t)(len * 31 + off);
            assert_int_equal(dx_crc32c(seed, buf + off, len),
                             dx_crc32c_soft(seed, buf + off, len));
        }
}

/* Pieces of every split, and unaligned starts, equal one shot. */
static void test_crc32c_incremental(void **state)
{
    unsigned char *buf = malloc(4099);
    uint32_t whole;

    (void)state;
    assert_non_null(buf);
    for (size_t i = 0; i < 4099; i++)
        buf[i] = (unsigned char)(i * 2654435761u >> 24);
    whole = dx_crc32c(0, buf, 4099);
    for (size_t cut = 0; cut <= 100; cut++)
        assert_int_equal(dx_crc32c(dx_crc32c(0, buf, cut), buf + cut,
                                   4099 - cut), whole);
    for (size_t step = 1; step <= 13; step += 2) {
        uint32_t c = 0;
        for (size_t at = 0; at < 4099; at += step)
            c = dx_crc32c(c, buf + at, at + step <= 4099 ? step : 4099 - at);
        assert_int_equal(c, whole);
    }
    /* one flipped bit always changes it */
    for (size_t i = 0; i < 4099; i += 97) {
        buf[i] ^= 0x10;
        assert_int_not_equal(dx_crc32c(0, buf, 4099), whole);
        buf[i] ^= 0x10;
    }
    free(buf);
}

static void test_sha256_vectors(void **state)
{
    static const char nist56[] =
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    char hex[65];
    char *a = malloc(1000000);

    (void)state;
    sha_hex("abc", 3, hex);
    assert_string_equal(hex, SHA_ABC);
    sha_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934"
                             "ca495991b7852b855");
    sha_hex(nist56, 56, hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff21"
                             "67f6ecedd419db06c1");
    assert_non_null(a);
    memset(a, 'a', 1000000);
    sha_hex(a, 1000000, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a49720"
                             "0e046d39ccc7112cd0");
    free(a);
}

/* Odd pieces (across the 55/56/64-byte padding edges) equal one shot. */
static void test_sha256_incremental(void **state)
{
    static const size_t steps[] = {1, 3, 7, 55, 56, 63, 64, 65, 127, 1000};
    unsigned char buf[3001];
    char whole[65], hex[65];

    (void)state;
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 7 + 3);
    for (size_t len = 0; len <= 130; len++) {
        dx_sha256 s;
        sha_hex(buf, len, whole);
        dx_sha256_init(&s);
        for (size_t at = 0; at < len; at += 3)
            dx_sha256_update(&s, buf + at, at + 3 <= len ? 3 : len - at);
        dx_sha256_final(&s, hex);
        assert_string_equal(hex, whole);
    }
    sha_hex(buf, sizeof buf, whole);
    for (size_t k = 0; k < COUNT(steps); k++) {
        dx_sha256 s;
        dx_sha256_init(&s);
        for (size_t at = 0; at < sizeof buf; at += steps[k])
            dx_sha256_update(&s, buf + at, at + steps[k] <= sizeof buf
                                               ? steps[k] : sizeof buf - at);
        dx_sha256_final(&s, hex);
        assert_string_equal(hex, whole);
    }
    buf[1500] ^= 1;
    sha_hex(buf, sizeof buf, hex);
    assert_string_not_equal(hex, whole);
}

/* ---- names and keys ---- */
static void test_names(void **state)
{
    static const char *const good[] = {
        "logs/1/temp1/1764000000000.jsonl", "data.txt", "a", "...", ".hidden",
        "a.b/c..d/_-.", "A/B/C/D/E/F/G/H/I/J/K/L/M/N/O/P/Q/R/S/T/U/V/W/X/Y/Z"};
    static const struct {
        const char *name;
        const char *why; /* part of the diagnosis */
    } bad[] = {
        {"", "empty"},
        {"..", "'..' is not allowed as a path segment"},
        {".", "'.' is not allowed as a path segment"},
        {"a/../b", "'..' is not allowed as a path segment"},
        {"a/./b", "'.' is not allowed"},
        {"a/..", "'..'"},
        {"/a", "starts with '/'"},
        {"/", "starts with '/'"},
        {"a/", "ends with '/'"},
        {"a//b", "'//'"},
        {"+", "'+'"},
        {"#", "'#'"},
        {"a/+/b", "'+'"},
        {"a b", "0x20"},
        {"\x01", "0x01"},
        {"a\tb", "0x09"},
        {"caf\xc3\xa9", "0xc3"},
        {"a\\b", "'\\'"},
        {"a:b", "':'"},
        {"a\x7f", "0x7f"},
    };
    char longname[300];
    dx_diag d;

    (void)state;
    for (size_t i = 0; i < COUNT(good); i++) {
        strcpy(d.msg, "unset");
        if (!dx_dfs_name_is_valid(good[i], &d))
            fail_msg("'%s' rejected: %s", good[i], d.msg);
    }
    for (size_t i = 0; i < COUNT(bad); i++) {
        strcpy(d.msg, "unset");
        if (dx_dfs_name_is_valid(bad[i].name, &d))
            fail_msg("bad name %zu accepted", i);
        if (strstr(d.msg, bad[i].why) == NULL)
            fail_msg("bad name %zu: diagnosis '%s' lacks '%s'", i, d.msg,
                     bad[i].why);
        assert_null(strchr(d.msg, '\n'));
        assert_false(dx_dfs_name_is_valid(bad[i].name, NULL));
    }
    assert_false(dx_dfs_name_is_valid(NULL, NULL));
    memset(longname, 'a', sizeof longname);
    longname[255] = '\0';
    assert_true(dx_dfs_name_is_valid(longname, NULL));
    longname[100] = '/';
    assert_true(dx_dfs_name_is_valid(longname, NULL));
    longname[255] = 'a';
    longname[256] = '\0';
    strcpy(d.msg, "unset");
    assert_false(dx_dfs_name_is_valid(longname, &d));
    assert_non_null(strstr(d.msg, "255"));
    longname[299] = '\0';
    assert_false(dx_dfs_name_is_valid(longname, NULL));
}

static void test_keys(void **state)
{
    (void)state;
    assert_true(dx_dfs_key_is_valid("2a0001"));
    assert_true(dx_dfs_key_is_valid("z"));
    assert_true(dx_dfs_key_is_valid("0123456789abcdefghijklmn")); /* 24 */
    assert_false(dx_dfs_key_is_valid("0123456789abcdefghijklmno"));
    assert_false(dx_dfs_key_is_valid(""));
    assert_false(dx_dfs_key_is_valid(NULL));
    assert_false(dx_dfs_key_is_valid("2A0001"));
    assert_false(dx_dfs_key_is_valid("a-b"));
    assert_false(dx_dfs_key_is_valid("a/b"));
    assert_false(dx_dfs_key_is_valid("a.b"));
    assert_false(dx_dfs_key_is_valid("+"));
}

static void test_crc_hex_and_ops(void **state)
{
    char hex[9];
    uint32_t v = 0;

    (void)state;
    dx_dfs_crc_hex(0xE3069283u, hex);
    assert_string_equal(hex, "e3069283");
    dx_dfs_crc_hex(0, hex);
    assert_string_equal(hex, "00000000");
    dx_dfs_crc_hex(0xABCDEF01u, hex);
    assert_string_equal(hex, "abcdef01");
    assert_int_equal(dx_dfs_crc_parse("e3069283", 8, &v), OK);
    assert_int_equal(v, 0xe3069283u);
    assert_int_equal(dx_dfs_crc_parse("ABCDEF01", 8, &v), OK);
    assert_int_equal(v, 0xabcdef01u);
    assert_int_equal(dx_dfs_crc_parse("e306928", 7, &v), DX_EINVAL);
    assert_int_equal(dx_dfs_crc_parse("e30692830", 9, &v), DX_EINVAL);
    assert_int_equal(dx_dfs_crc_parse("e306928g", 8, &v), DX_EINVAL);
    assert_int_equal(dx_dfs_crc_parse("-3069283", 8, &v), DX_EINVAL);
    assert_int_equal(dx_dfs_crc_parse("e306 283", 8, &v), DX_EINVAL);
    assert_int_equal(dx_dfs_crc_parse(NULL, 8, &v), DX_EINVAL);
    assert_int_equal(v, 0xabcdef01u); /* untouched on error */

    assert_string_equal(dx_dfs_op_name(DX_DFS_OP_PUT), "put");
    assert_string_equal(dx_dfs_op_name(DX_DFS_OP_COMMIT), "commit");
    assert_string_equal(dx_dfs_op_name(DX_DFS_OP_ABORT), "abort");
    assert_string_equal(dx_dfs_op_name(DX_DFS_OP_RM), "rm");
    assert_null(dx_dfs_op_name((dx_dfs_op)0));
    assert_null(dx_dfs_op_name((dx_dfs_op)5));
}

/* ---- topics ---- */
static dx_topics topics(void)
{
    dx_topics t;
    assert_int_equal(dx_topics_init(&t, NULL, NULL, NULL), OK);
    assert_string_equal(t.root, ROOT);
    return t;
}

static int parse_str(const dx_topics *t, const char *topic, dx_dfs_ref *r)
{
    dx_diag d = {"unset"};
    int rc;

    memset(r, 0xa5, sizeof *r);
    rc = dx_dfs_topic_parse(t, topic, strlen(topic), r, &d);
    if (rc != OK) {
        assert_true(cc_all_zero(r, sizeof *r));
        assert_true(d.msg[0] != '\0' && strcmp(d.msg, "unset") != 0);
        assert_null(strchr(d.msg, '\n'));
    }
    return rc;
}

#define assert_parse(t, topic, err)                                         \
    do {                                                                    \
        dx_dfs_ref r_;                                                      \
        int rc_ = parse_str(t, topic, &r_);                                 \
        if (rc_ != (err))                                                   \
            fail_msg("'%s' -> %s, expected %s", topic, dx_strerror(rc_),    \
                     dx_strerror(err));                                     \
    } while (0)

static void test_topic_simple(void **state)
{
    dx_topics t = topics();
    char buf[DX_DFS_TOPIC_MAX + 1];
    dx_dfs_ref r;

    (void)state;
    assert_int_equal(dx_dfs_topic_file(&t, "logs/1/temp1/1764000000000.jsonl",
                                       buf, sizeof buf), OK);
    assert_string_equal(buf, ROOT "/dfs/files/logs/1/temp1/1764000000000.jsonl");
    assert_int_equal(parse_str(&t, buf, &r), OK);
    assert_int_equal(r.kind, DX_DFS_T_FILE);
    assert_string_equal(r.name, "logs/1/temp1/1764000000000.jsonl");

    assert_int_equal(dx_dfs_topic_req(&t, buf, sizeof buf), OK);
    assert_string_equal(buf, ROOT "/dfs/req");
    assert_int_equal(parse_str(&t, buf, &r), OK);
    assert_int_equal(r.kind, DX_DFS_T_REQ);

    assert_int_equal(dx_dfs_topic_bad(&t, buf, sizeof buf), OK);
    assert_string_equal(buf, ROOT "/dfs/bad");
    assert_int_equal(parse_str(&t, buf, &r), OK);
    assert_int_equal(r.kind, DX_DFS_T_BAD);

    assert_int_equal(dx_dfs_topic_stored(&t, "2a0001", buf, sizeof buf), OK);
    assert_string_equal(buf, ROOT "/dfs/stored/2a0001");
    assert_int_equal(parse_str(&t, buf, &r), OK);
    assert_int_equal(r.kind, DX_DFS_T_STORED);
    assert_string_equal(r.key, "2a0001");

    assert_int_equal(dx_dfs_topic_fetch(&t, 65535, buf, sizeof buf), OK);
    assert_string_equal(buf, ROOT "/dfs/fetch/65535");
    assert_int_equal(parse_str(&t, buf, &r), OK);
    assert_int_equal(r.kind, DX_DFS_T_FETCH);
    assert_int_equal(r.node, 65535);

    assert_int_equal(dx_dfs_filter_files(&t, buf, sizeof buf), OK);
    assert_string_equal(buf, ROOT "/dfs/files/#");
    assert_int_equal(dx_dfs_filter_stored(&t, buf, sizeof buf), OK);
    assert_string_equal(buf, ROOT "/dfs/stored/+");

    /* builder rejections */
    assert_int_equal(dx_dfs_topic_file(&t, "a/../b", buf, sizeof buf), DX_ENAME);
    assert_int_equal(dx_dfs_topic_file(&t, "a/#", buf, sizeof buf), DX_ENAME);
    assert_int_equal(dx_dfs_topic_stored(&t, "A", buf, sizeof buf), DX_ENAME);
    assert_int_equal(dx_dfs_topic_stored(&t, "", buf, sizeof buf), DX_ENAME);
    assert_int_equal(dx_dfs_topic_fetch(&t, 0, buf, sizeof buf), DX_ERANGE);
    assert_int_equal(dx_dfs_topic_req(&t, buf, strlen(ROOT "/dfs/req")),
                     DX_ENOSPACE);
    assert_string_equal(buf, "");
    assert_int_equal(dx_dfs_topic_req(&t, buf, strlen(ROOT "/dfs/req") + 1), OK);

    /* a custom root */
    assert_int_equal(dx_topics_init(&t, "site/a/b", NULL, NULL), OK);
    assert_int_equal(dx_dfs_topic_file(&t, "x", buf, sizeof buf), OK);
    assert_string_equal(buf, "site/a/b/dfs/files/x");
    assert_int_equal(parse_str(&t, buf, &r), OK);
    assert_string_equal(r.name, "x");
    assert_parse(&t, ROOT "/dfs/files/x", DX_ETOPIC);
}

static void test_topic_store(void **state)
{
    static const uint16_t nodes[] = {7, 65535, 1, 300, 2};
    static const char *const want[] = {
        ROOT "/dfs/store/1/7/2a0001/0/e3069283",
        ROOT "/dfs/store/2/7/65535/2a0001/1/e3069283",
        ROOT "/dfs/store/3/7/65535/1/2a0001/2/e3069283",
        ROOT "/dfs/store/4/7/65535/1/300/2a0001/3/e3069283",
        ROOT "/dfs/store/5/7/65535/1/300/2/2a0001/4095/e3069283"};
    dx_topics t = topics();
    char buf[DX_TOPIC_MAX + 1];
    dx_dfs_ref r;

    (void)state;
    for (size_t n = 1; n <= 5; n++) {
        uint32_t index = n == 5 ? 4095 : (uint32_t)(n - 1);
        assert_int_equal(dx_dfs_topic_store(&t, nodes, n, "2a0001", index,
                                            0xE3069283u, buf, sizeof buf), OK);
        assert_string_equal(buf, want[n - 1]);
        assert_int_equal(parse_str(&t, buf, &r), OK);
        assert_int_equal(r.kind, DX_DFS_T_STORE);
        assert_int_equal(r.n_nodes, n);
        assert_memory_equal(r.nodes, nodes, n * sizeof nodes[0]);
        assert_string_equal(r.key, "2a0001");
        assert_int_equal(r.index, index);
        assert_int_equal(r.crc, 0xE3069283u);
    }
    assert_int_equal(dx_dfs_topic_store(&t, nodes, 1, "k", 0, 0, buf,
                                        sizeof buf), OK);
    assert_string_equal(buf, ROOT "/dfs/store/1/7/k/0/00000000");

    /* builder rejections */
    {
        static const uint16_t dup[] = {3, 4, 3};
        static const uint16_t zero[] = {3, 0};
        static const uint16_t six[] = {1, 2, 3, 4, 5, 6};
        assert_int_equal(dx_dfs_topic_store(&t, dup, 3, "k", 0, 0, buf,
                                            sizeof buf), DX_ERANGE);
        assert_int_equal(dx_dfs_topic_store(&t, zero, 2, "k", 0, 0, buf,
                                            sizeof buf), DX_ERANGE);
        assert_int_equal(dx_dfs_topic_store(&t, six, 6, "k", 0, 0, buf,
                                            sizeof buf), DX_ERANGE);
        assert_int_equal(dx_dfs_topic_store(&t, six, 0, "k", 0, 0, buf,
                                            sizeof buf), DX_ERANGE);
        assert_int_equal(dx_dfs_topic_store(&t, NULL, 1, "k", 0, 0, buf,
                                            sizeof buf), DX_ERANGE);
        assert_int_equal(dx_dfs_topic_store(&t, six, 1, "k", 4096, 0, buf,
                                            sizeof buf), DX_ERANGE);
        assert_int_equal(dx_dfs_topic_store(&t, six, 1, "K", 0, 0, buf,
                                            sizeof buf), DX_ENAME);
        assert_int_equal(dx_dfs_topic_store(&t, six, 1, "k", 0, 0, buf, 20),
                         DX_ENOSPACE);
        assert_string_equal(buf, "");
    }
}

static void test_topic_parse_rejects(void **state)
{
    static const struct {
        const char *topic;
        int err;
    } cases[] = {
        /* not DFS topics */
        {ROOT, DX_ETOPIC},
        {ROOT "/", DX_ETOPIC},
        {ROOT "/dfs", DX_ETOPIC},
        {ROOT "/dfsx/req", DX_ETOPIC},
        {ROOT "/nodes/1/state", DX_ETOPIC},
        {"other/root/dfs/req", DX_ETOPIC},
        {ROOT "/dfs/", DX_ETOPIC},
        {ROOT "/dfs/unknown", DX_ETOPIC},
        {ROOT "/dfs/req/x", DX_ETOPIC},
        {ROOT "/dfs/bad/", DX_ETOPIC},
        {ROOT "/dfs/files", DX_ETOPIC},
        {ROOT "/dfs/stored", DX_ETOPIC},
        {ROOT "/dfs/fetch", DX_ETOPIC},
        {ROOT "/dfs/store", DX_ETOPIC},
        /* bad file names */
        {ROOT "/dfs/files/", DX_ENAME},
        {ROOT "/dfs/files/a/../b", DX_ENAME},
        {ROOT "/dfs/files//a", DX_ENAME},
        {ROOT "/dfs/files/a/", DX_ENAME},
        {ROOT "/dfs/files/a//b", DX_ENAME},
        {ROOT "/dfs/files/+", DX_ENAME},
        {ROOT "/dfs/files/#", DX_ENAME},
        {ROOT "/dfs/files/a b", DX_ENAME},
        /* stored, fetch */
        {ROOT "/dfs/stored/", DX_ENAME},
        {ROOT "/dfs/stored/ABC", DX_ENAME},
        {ROOT "/dfs/stored/a/b", DX_ENAME},
        {ROOT "/dfs/stored/+", DX_ENAME},
        {ROOT "/dfs/fetch/0", DX_ERANGE},
        {ROOT "/dfs/fetch/65536", DX_ERANGE},
        {ROOT "/dfs/fetch/01", DX_ERANGE},
        {ROOT "/dfs/fetch/+", DX_ERANGE},
        {ROOT "/dfs/fetch/3/x", DX_ERANGE},
        /* store */
        {ROOT "/dfs/store/", DX_ERANGE},
        {ROOT "/dfs/store/2/3/3/k/0/00000000", DX_ERANGE},      /* repeated */
        {ROOT "/dfs/store/3/1/2/1/k/0/00000000", DX_ERANGE},    /* repeated */
        {ROOT "/dfs/store/6/1/2/3/4/5/6/k/0/00000000", DX_ERANGE},
        {ROOT "/dfs/store/0/k/0/00000000", DX_ERANGE},
        {ROOT "/dfs/store/03/1/2/3/k/0/00000000", DX_ERANGE},
        {ROOT "/dfs/store/3/1/2/k/0/00000000", DX_ERANGE},      /* R > levels */
        {ROOT "/dfs/store/2/1/2/3/k/0/00000000", DX_ERANGE},    /* R < levels */
        {ROOT "/dfs/store/1/1/k/0", DX_ERANGE},
        {ROOT "/dfs/store/1/1/k/0/00000000/x", DX_ERANGE},
        {ROOT "/dfs/store/1/0/k/0/00000000", DX_ERANGE},
        {ROOT "/dfs/store/1/65536/k/0/00000000", DX_ERANGE},
        {ROOT "/dfs/store/1/+/k/0/00000000", DX_ERANGE},
        {ROOT "/dfs/store/1/1/K/0/00000000", DX_ENAME},
        {ROOT "/dfs/store/1/1//0/00000000", DX_ENAME},
        {ROOT "/dfs/store/1/1/k/4096/00000000", DX_ERANGE},
        {ROOT "/dfs/store/1/1/k/01/00000000", DX_ERANGE},
        {ROOT "/dfs/store/1/1/k//00000000", DX_ERANGE},
        {ROOT "/dfs/store/1/1/k/-1/00000000", DX_ERANGE},
        {ROOT "/dfs/store/1/1/k/0/E3069283", DX_ERANGE},        /* uppercase */
        {ROOT "/dfs/store/1/1/k/0/e306928", DX_ERANGE},
        {ROOT "/dfs/store/1/1/k/0/e30692830", DX_ERANGE},
        {ROOT "/dfs/store/1/1/k/0/e306928g", DX_ERANGE},
        {ROOT "/dfs/store/1/1/k/0/", DX_ERANGE},
    };
    dx_topics t = topics();
    char buf[DX_DFS_TOPIC_MAX + 64];
    dx_dfs_ref r;
    dx_diag d;

    (void)state;
    for (size_t i = 0; i < COUNT(cases); i++)
        assert_parse(&t, cases[i].topic, cases[i].err);
    assert_parse(&t, ROOT "/dfs/store/1/1/k/0/00000000", OK);
    assert_parse(&t, ROOT "/dfs/store/1/1/k/4095/ffffffff", OK);

    /* a NUL inside the topic bytes */
    memcpy(buf, ROOT "/dfs/files/a\0b", sizeof ROOT "/dfs/files/a\0b");
    assert_int_equal(dx_dfs_topic_parse(&t, buf, sizeof ROOT "/dfs/files/a\0b" - 1,
                                        &r, &d), DX_ENAME);
    assert_true(cc_all_zero(&r, sizeof r));
    /* only len bytes are read */
    strcpy(buf, ROOT "/dfs/reqXYZ");
    assert_int_equal(dx_dfs_topic_parse(&t, buf, strlen(ROOT "/dfs/req"), &r,
                                        NULL), OK);
    assert_int_equal(r.kind, DX_DFS_T_REQ);
    /* too long: a 256-byte name, and a topic past DX_DFS_TOPIC_MAX */
    memset(buf, 'a', sizeof buf);
    memcpy(buf, ROOT "/dfs/files/", strlen(ROOT "/dfs/files/"));
    assert_int_equal(dx_dfs_topic_parse(&t, buf, strlen(ROOT "/dfs/files/") + 255,
                                        &r, NULL), OK);
    assert_int_equal(strlen(r.name), 255);
    assert_int_equal(dx_dfs_topic_parse(&t, buf, strlen(ROOT "/dfs/files/") + 256,
                                        &r, &d), DX_ENAME);
    assert_int_equal(dx_dfs_topic_parse(&t, buf, sizeof buf, &r, &d), DX_ENAME);
}

/* MQTT matching of a filter against a topic, for the filters test. */
static bool mqtt_match(const char *f, const char *t)
{
    while (*f != '\0') {
        if (*f == '#')
            return true;
        if (*f == '+') {
            while (*t != '\0' && *t != '/')
                t++;
            f++;
        } else {
            while (*f != '\0' && *f != '/' && *f == *t)
                f++, t++;
            if ((*f != '\0' && *f != '/') || (*t != '\0' && *t != '/'))
                return false;
        }
        if (*f == '\0' || *t == '\0')
            return *f == '\0' && *t == '\0';
        f++, t++; /* both at '/' */
    }
    return *t == '\0';
}

static void test_store_filters(void **state)
{
    static const uint16_t sets[][5] = {
        {2, 0}, {5, 0}, {1, 2}, {2, 1}, {3, 4, 5}, {4, 2, 9}, {7, 8, 2, 10},
        {1, 3, 4, 5, 6}, {6, 5, 4, 3, 2}, {22, 12, 32, 200, 20}};
    static const size_t lens[] = {1, 1, 2, 2, 3, 3, 4, 5, 5, 5};
    char subs[DX_DFS_STORE_FILTERS + 2][DX_TOPIC_MAX + 1];
    char topic[DX_TOPIC_MAX + 1];
    dx_topics t = topics();
    size_t n;
    bool seen = false;

    (void)state;
    memset(subs, 'x', sizeof subs);
    n = dx_dfs_store_filters(&t, 2, subs, COUNT(subs));
    assert_int_equal(n, 15);
    assert_int_equal(DX_DFS_STORE_FILTERS, 15);
    assert_string_equal(subs[0], ROOT "/dfs/store/1/2/+/+/+");
    assert_string_equal(subs[1], ROOT "/dfs/store/2/2/+/+/+/+");
    assert_string_equal(subs[2], ROOT "/dfs/store/2/+/2/+/+/+");
    assert_string_equal(subs[14], ROOT "/dfs/store/5/+/+/+/+/2/+/+/+");
    assert_int_equal(subs[15][0], 'x'); /* nothing written past the count */
    for (size_t i = 0; i < n; i++) {
        seen |= strcmp(subs[i], ROOT "/dfs/store/3/+/2/+/+/+/+") == 0;
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(subs[i], subs[k]);
    }
    assert_true(seen);

    /* one publish reaches node x through exactly one filter when x is
     * among the nodes, through none otherwise */
    for (size_t s = 0; s < COUNT(sets); s++) {
        assert_int_equal(dx_dfs_topic_store(&t, sets[s], lens[s], "2a0001", 17,
                                            0xabcdef01u, topic, sizeof topic),
                         OK);
        for (uint16_t x = 1; x <= 12; x++) {
            char mine[DX_DFS_STORE_FILTERS][DX_TOPIC_MAX + 1];
            size_t hits = 0;
            bool member = false;

            assert_int_equal(dx_dfs_store_filters(&t, x, mine, COUNT(mine)), 15);
            for (size_t i = 0; i < 15; i++)
                hits += mqtt_match(mine[i], topic);
            for (size_t i = 0; i < lens[s]; i++)
                member |= sets[s][i] == x;
            if (hits != (member ? 1u : 0u))
                fail_msg("%s: node %u matched %zu filters", topic, x, hits);
        }
    }
    assert_true(mqtt_match(ROOT "/dfs/files/#", ROOT "/dfs/files/a/b"));
    assert_false(mqtt_match(ROOT "/dfs/store/1/2/+/+/+",
                            ROOT "/dfs/store/1/3/k/0/00000000"));

    /* cap and invalid self */
    assert_int_equal(dx_dfs_store_filters(&t, 2, subs, 4), 4);
    assert_string_equal(subs[3], ROOT "/dfs/store/3/2/+/+/+/+/+");
    assert_int_equal(dx_dfs_store_filters(&t, 0, subs, 15), 0);
    assert_int_equal(dx_dfs_store_filters(&t, 65535, subs, 15), 15);
    assert_string_equal(subs[0], ROOT "/dfs/store/1/65535/+/+/+");
}

/* ---- codecs ---- */
static void test_fixtures(void **state)
{
    static char buf[DX_DFS_JSON_MAX + 1];
    dx_dfs_file *f = calloc(1, sizeof *f), *f2 = calloc(1, sizeof *f2);
    dx_dfs_reply *r = calloc(1, sizeof *r), *r2 = calloc(1, sizeof *r2);
    dx_dfs_req q, q2;
    dx_dfs_stored s, s2;
    dx_dfs_fetch fe, fe2;
    dx_dfs_bad b, b2;
    size_t n;
    char *want;

    (void)state;
    assert_non_null(f);
    assert_non_null(f2);
    assert_non_null(r);
    assert_non_null(r2);

    /* every fixture decodes, re-encodes to the same bytes */
    for (size_t i = 0; i < COUNT(fixtures); i++) {
        const codec *c = &codecs[fixtures[i].c];
        void *m = malloc(c->size);
        assert_non_null(m);
        want = cc_sq(fixtures[i].sq);
        if (dec_raw(fixtures[i].c, want, strlen(want), m) != OK)
            fail_msg("fixture %zu (%s) does not decode", i, c->name);
        assert_int_equal(enc_chk(fixtures[i].c, m, buf, sizeof buf, &n), OK);
        if (strcmp(buf, want) != 0)
            fail_msg("fixture %zu: %s\n  re-encoded as %s", i, want, buf);
        free(want);
        free(m);
    }

    /* and the builders encode to the fixtures */
#define CHECK_BUILT(c, m, m2, fx)                                             \
    do {                                                                      \
        want = cc_sq(fx);                                                     \
        assert_int_equal(enc_chk(c, m, buf, sizeof buf, &n), OK);             \
        assert_string_equal(buf, want);                                       \
        assert_int_equal(dec_raw(c, buf, n, m2), OK);                         \
        assert_memory_equal(m, m2, codecs[c].size);                           \
        free(want);                                                           \
    } while (0)
    file_full(f);
    CHECK_BUILT(FILE_, f, f2, FX_FILE);
    req_put(&q);
    CHECK_BUILT(REQ, &q, &q2, FX_PUT);
    reply_plan(r);
    CHECK_BUILT(REPLY, r, r2, FX_REPLY);
    stored_full(&s);
    CHECK_BUILT(STORED, &s, &s2, FX_STORED);
    fetch_full(&fe);
    CHECK_BUILT(FETCH, &fe, &fe2, FX_FETCH);
    bad_full(&b);
    CHECK_BUILT(BAD, &b, &b2, FX_BAD);
#undef CHECK_BUILT

    /* decoded values */
    assert_int_equal(dec_sq(REPLY, FX_REPLY_ERR, r), OK);
    assert_false(r->ok);
    assert_string_equal(r->error, "chunks lack copies: r\xc3\xa9" "essayez");
    assert_int_equal(r->n_missing, 2);
    assert_int_equal(r->missing[1], 4095);
    assert_int_equal(dec_sq(REQ, FX_COMMIT, &q), OK);
    assert_int_equal(q.op, DX_DFS_OP_COMMIT);
    assert_string_equal(q.sha256, SHA_ABC);
    assert_int_equal(dec_sq(FILE_, FX_FILE, f), OK);
    assert_int_equal(f->chunks[0].crc, 0xe3069283u);
    assert_int_equal(f->chunks[2].n, 0);

    free(f);
    free(f2);
    free(r);
    free(r2);
}

/* Tolerated on decode: any key order, unknown fields, whitespace, null
 * for optional fields, an uppercase sha256 (stored lowercase). */
static void test_decode_tolerance(void **state)
{
    dx_dfs_file *f = calloc(1, sizeof *f);
    dx_dfs_req q;
    dx_dfs_bad b;
    dx_dfs_reply *r = calloc(1, sizeof *r);

    (void)state;
    assert_non_null(f);
    assert_non_null(r);
    assert_int_equal(dec_sq(FILE_, " {'under_replicated':false,'chunks':[],'term':1,'created_ms':0,"
                            "'sha256':'BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD',"
                            "'replicas':1,'chunk_size':4096,'size':0,'key':'k',"
                            "'name':'e','v':1.0,'extra':{'x':[1,2]}} \n", f), OK);
    assert_string_equal(f->sha256, SHA_ABC);
    assert_int_equal(f->n_chunks, 0);
    assert_false(f->under_replicated);
    assert_int_equal(dec_sq(REQ, "{'v':1,'op':'put','name':'a','size':0,"
                            "'chunk_size':null,'replicas':0,'corr':'','future':true}",
                            &q), OK);
    assert_int_equal(q.chunk_size, 0);
    assert_int_equal(q.replicas, 0);
    /* a commit ignores a stray name; an abort may carry reply_to */
    assert_int_equal(dec_sq(REQ, "{'v':1,'op':'commit','key':'k','sha256':'"
                            SHA_ABC "','name':'../x'}", &q), OK);
    assert_string_equal(q.name, "");
    assert_int_equal(dec_sq(REQ, "{'v':1,'op':'abort','key':'k','reply_to':'a/b'}",
                            &q), OK);
    assert_string_equal(q.reply_to, "a/b");
    assert_int_equal(dec_sq(BAD, "{'v':1,'key':'k','index':0,'node':1,"
                            "'reason':'missing'}", &b), OK);
    assert_int_equal(b.from, 0);
    /* a minimal ok reply (commit) */
    assert_int_equal(dec_sq(REPLY, "{'v':1,'ok':true}", r), OK);
    assert_int_equal(dec_sq(REPLY, "{'v':1,'ok':true,'key':'k','plan':[]}", r), OK);
    free(f);
    free(r);
}

typedef struct reject {
    int c;
    const char *sq;
    int err;
} reject;

#define F_HEAD "{'v':1,'name':'d','key':'k','size':5000,'chunk_size':4096," \
    "'replicas':2,'sha256':'" SHA_ABC "','created_ms':1,'term':1,"   \
    "'under_replicated':false,"
#define F_OK F_HEAD "'chunks':[{'crc':'00000000','nodes':[1,2]}," \
    "{'crc':'00000001','nodes':[2]}]}"

static const reject rejects[] = {
    /* framing, every codec */
    {FILE_, "", DX_EJSON},
    {FILE_, "[]", DX_EJSON},
    {FILE_, "{'v':1", DX_EJSON},
    {STORED, FX_STORED " x", DX_EJSON},
    {STORED, "{'v':2,'node':2,'index':5,'crc':'e3069283','ok':true}", DX_EVERSION},
    {STORED, "{'node':2,'index':5,'crc':'e3069283','ok':true}", DX_EVERSION},
    {STORED, "{'v':'1','node':2,'index':5,'crc':'e3069283','ok':true}", DX_EVERSION},
    {STORED, "{'v':1.5,'node':2,'index':5,'crc':'e3069283','ok':true}", DX_EVERSION},
    {STORED, "{'v':1,'node':2,'index':5,'crc':'e3069283','ok':true,'x':[[[[[[[[1]]]]]]]]}",
     DX_EDEPTH},
    {STORED, "{'v':1,'node':2,'index':5,'crc':'e3069283','ok':false,'error':'a\\u0000b'}",
     DX_EJSON},
    {STORED, "{'v':1,'node':2,'index':5,'crc':'e3069283','ok':true,'x':'\\u0000'}",
     DX_EJSON},
    {STORED, "{'v':1,'node':2,'index':5,'crc':'e3069283','ok':false,'error':'a\tb'}",
     DX_EJSON},
    /* an escaped backslash before u0000 is text, not a NUL */
    {STORED, "{'v':1,'node':2,'index':5,'crc':'e3069283','ok':false,'error':'a\\\\u0000'}",
     OK},
    {STORED, "{'v':1,'node':2,'index':5,'crc':'e3069283','ok':false,'error':'a\\u0001'}",
     DX_ERANGE},

    /* file */
    {FILE_, F_OK, OK},
    {FILE_, F_HEAD "'chunks':[{'crc':'00000000','nodes':[1,2]}]}", DX_ERANGE},
    {FILE_, F_HEAD "'chunks':[{'crc':'00000000','nodes':[1]},{'crc':'00000000',"
            "'nodes':[1]},{'crc':'00000000','nodes':[1]}]}", DX_ERANGE},
    {FILE_, F_HEAD "'chunks':[{'crc':'00000000','nodes':[1,1]},"
            "{'crc':'00000001','nodes':[2]}]}", DX_ERANGE},
    {FILE_, F_HEAD "'chunks':[{'crc':'00000000','nodes':[1,2,3,4,5,6]},"
            "{'crc':'00000001','nodes':[2]}]}", DX_ERANGE},
    {FILE_, F_HEAD "'chunks':[{'crc':'00000000','nodes':[0]},"
            "{'crc':'00000001','nodes':[2]}]}", DX_ERANGE},
    {FILE_, F_HEAD "'chunks':[{'crc':'00000000','nodes':[65536]},"
            "{'crc':'00000001','nodes':[2]}]}", DX_ERANGE},
    {FILE_, F_HEAD "'chunks':[{'crc':'00000000','nodes':['1']},"
            "{'crc':'00000001','nodes':[2]}]}", DX_EFIELD},
    {FILE_, F_HEAD "'chunks':[{'crc':'00000000','nodes':[1.5]},"
            "{'crc':'00000001','nodes':[2]}]}", DX_ERANGE},
    {FILE_, F_HEAD "'chunks':[{'crc':'0000000g','nodes':[1]},"
            "{'crc':'00000001','nodes':[2]}]}", DX_ERANGE},
    {FILE_, F_HEAD "'chunks':[{'crc':'0000000','nodes':[1]},"
            "{'crc':'00000001','nodes':[2]}]}", DX_ERANGE},
    {FILE_, F_HEAD "'chunks':[{'crc':0,'nodes':[1]},"
            "{'crc':'00000001','nodes':[2]}]}", DX_EFIELD},
    {FILE_, F_HEAD "'chunks':[{'nodes':[1]},{'crc':'00000001','nodes':[2]}]}",
     DX_EFIELD},
    {FILE_, F_HEAD "'chunks':[{'crc':'00000000'},{'crc':'00000001','nodes':[2]}]}",
     DX_EFIELD},
    {FILE_, F_HEAD "'chunks':[{'crc':'00000000','nodes':{}},"
            "{'crc':'00000001','nodes':[2]}]}", DX_EFIELD},
    {FILE_, F_HEAD "'chunks':[1,2]}", DX_EFIELD},
    {FILE_, F_HEAD "'chunks':{}}", DX_EFIELD},
    {FILE_, F_HEAD "'chunks':null}", DX_EFIELD},
    {FILE_, "{'v':1,'name':'d','key':'k','size':0,'chunk_size':4096,'replicas':2,"
            "'sha256':'" SHA_ABC "','created_ms':1,'term':1,"
            "'under_replicated':1,'chunks':[]}", DX_EFIELD},
    {FILE_, "{'v':1,'name':'d','key':'k','size':0,'chunk_size':4096,'replicas':2,"
            "'sha256':'" SHA_ABC "','created_ms':1,'term':1,'chunks':[]}",
     DX_EFIELD},
    {FILE_, "{'v':1,'name':'d','key':'k','size':0,'chunk_size':4096,'replicas':2,"
            "'sha256':'" SHA_ABC "','created_ms':1,'term':1,'under_replicated':false,'chunks':[]}", OK},
    {FILE_, "{'v':1,'name':'d','key':'k','size':0,'chunk_size':4096,'replicas':2,"
            "'sha256':'" SHA_ABC "','created_ms':1,'term':1,"
            "'under_replicated':false,'chunks':[{'crc':'00000000','nodes':[]}]}", DX_ERANGE},
    {FILE_, "{'v':1,'name':'d','key':'k','size':4096,'chunk_size':4096,'replicas':2,"
            "'sha256':'" SHA_ABC "','created_ms':1,'term':1,"
            "'under_replicated':false,'chunks':[{'crc':'00000000','nodes':[]}]}", OK},
    {FILE_, "{'v':1,'name':'d','key':'k','size':5000,'chunk_size':4095,'replicas':2,"
            "'sha256':'" SHA_ABC "','created_ms':1,'term':1,'under_replicated':false,'chunks':[]}", DX_ERANGE},
    {FILE_, "{'v':1,'name':'d','key':'k','size':5000,'chunk_size':6144,'replicas':2,"
            "'sha256':'" SHA_ABC "','created_ms':1,'term':1,'under_replicated':false,'chunks':[]}", DX_ERANGE},
    {FILE_, "{'v':1,'name':'d','key':'k','size':0,'chunk_size':8392704,'replicas':2,"
            "'sha256':'" SHA_ABC "','created_ms':1,'term':1,'under_replicated':false,'chunks':[]}", DX_ERANGE},
    {FILE_, "{'v':1,'name':'d','key':'k','size':0,'chunk_size':0,'replicas':2,"
            "'sha256':'" SHA_ABC "','created_ms':1,'term':1,'under_replicated':false,'chunks':[]}", DX_ERANGE},
    {FILE_, "{'v':1,'name':'d','key':'k','size':16777217,'chunk_size':4096,"
            "'replicas':2,'sha256':'" SHA_ABC "','created_ms':1,'term':1,"
            "'under_replicated':false,'chunks':[]}", DX_ERANGE}, /* more than 4096 chunks */
    {FILE_, "{'v':1,'name':'d','key':'k','size':0,'chunk_size':4096,'replicas':6,"
            "'sha256':'" SHA_ABC "','created_ms':1,'term':1,'under_replicated':false,'chunks':[]}", DX_ERANGE},
    {FILE_, "{'v':1,'name':'d','key':'k','size':0,'chunk_size':4096,'replicas':0,"
            "'sha256':'" SHA_ABC "','created_ms':1,'term':1,'under_replicated':false,'chunks':[]}", DX_ERANGE},
    {FILE_, "{'v':1,'name':'d','key':'k','size':-1,'chunk_size':4096,'replicas':1,"
            "'sha256':'" SHA_ABC "','created_ms':1,'term':1,'under_replicated':false,'chunks':[]}", DX_ERANGE},
    {FILE_, "{'v':1,'name':'d','key':'k','size':'0','chunk_size':4096,'replicas':1,"
            "'sha256':'" SHA_ABC "','created_ms':1,'term':1,'under_replicated':false,'chunks':[]}", DX_EFIELD},
    {FILE_, "{'v':1,'name':'d','key':'k','size':0,'chunk_size':4096,'replicas':1,"
            "'sha256':'" SHA_ABC "','created_ms':-1,'term':1,'under_replicated':false,'chunks':[]}", DX_ERANGE},
    {FILE_, "{'v':1,'name':'d','key':'k','size':0,'chunk_size':4096,'replicas':1,"
            "'sha256':'" SHA_ABC "','created_ms':1,'term':0,'under_replicated':false,'chunks':[]}", DX_ERANGE},
    {FILE_, "{'v':1,'name':'d','key':'k','size':0,'chunk_size':4096,'replicas':1,"
            "'sha256':'" SHA_ABC "','created_ms':1,'under_replicated':false,'chunks':[]}", DX_EFIELD},
    {FILE_, "{'v':1,'name':'d','key':'k','size':0,'chunk_size':4096,'replicas':1,"
            "'sha256':'" SHA_ABC "0','created_ms':1,'term':1,'under_replicated':false,'chunks':[]}", DX_ERANGE},
    {FILE_, "{'v':1,'name':'d','key':'k','size':0,'chunk_size':4096,'replicas':1,"
            "'sha256':'abc','created_ms':1,'term':1,'under_replicated':false,'chunks':[]}", DX_ERANGE},
    {FILE_, "{'v':1,'name':'d','key':'k','size':0,'chunk_size':4096,'replicas':1,"
            "'sha256':'zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',"
            "'created_ms':1,'term':1,'under_replicated':false,'chunks':[]}", DX_ERANGE},
    {FILE_, "{'v':1,'name':'a/../b','key':'k','size':0,'chunk_size':4096,'replicas':1,"
            "'sha256':'" SHA_ABC "','created_ms':1,'term':1,'under_replicated':false,'chunks':[]}", DX_ENAME},
    {FILE_, "{'v':1,'name':'','key':'k','size':0,'chunk_size':4096,'replicas':1,"
            "'sha256':'" SHA_ABC "','created_ms':1,'term':1,'under_replicated':false,'chunks':[]}", DX_ENAME},
    {FILE_, "{'v':1,'name':7,'key':'k','size':0,'chunk_size':4096,'replicas':1,"
            "'sha256':'" SHA_ABC "','created_ms':1,'term':1,'under_replicated':false,'chunks':[]}", DX_EFIELD},
    {FILE_, "{'v':1,'name':'d','key':'K','size':0,'chunk_size':4096,'replicas':1,"
            "'sha256':'" SHA_ABC "','created_ms':1,'term':1,'under_replicated':false,'chunks':[]}", DX_ENAME},
    {FILE_, "{'v':1,'key':'k','size':0,'chunk_size':4096,'replicas':1,"
            "'sha256':'" SHA_ABC "','created_ms':1,'term':1,'under_replicated':false,'chunks':[]}", DX_EFIELD},

    /* req */
    {REQ, "{'v':1}", DX_EFIELD},
    {REQ, "{'v':1,'op':'get','name':'a'}", DX_ERANGE},
    {REQ, "{'v':1,'op':'PUT','name':'a','size':1}", DX_ERANGE},
    {REQ, "{'v':1,'op':1,'name':'a','size':1}", DX_EFIELD},
    {REQ, "{'v':1,'op':'put','size':1}", DX_EFIELD},
    {REQ, "{'v':1,'op':'put','name':'a'}", DX_EFIELD},
    {REQ, "{'v':1,'op':'put','name':'a/','size':1}", DX_ENAME},
    {REQ, "{'v':1,'op':'put','name':'a','size':true}", DX_EFIELD},
    {REQ, "{'v':1,'op':'put','name':'a','size':1,'chunk_size':100}", DX_ERANGE},
    {REQ, "{'v':1,'op':'put','name':'a','size':1,'replicas':6}", DX_ERANGE},
    {REQ, "{'v':1,'op':'put','name':'a','size':16777217,'chunk_size':4096}",
     DX_ERANGE},
    {REQ, "{'v':1,'op':'put','name':'a','size':16777216,'chunk_size':4096}", OK},
    {REQ, "{'v':1,'op':'put','name':'a','size':34359738368}", OK},
    {REQ, "{'v':1,'op':'put','name':'a','size':34359738369}", DX_ERANGE},
    {REQ, "{'v':1,'op':'put','name':'a','size':1,'reply_to':'a/+'}", DX_ENAME},
    {REQ, "{'v':1,'op':'put','name':'a','size':1,'reply_to':''}", DX_ENAME},
    {REQ, "{'v':1,'op':'put','name':'a','size':1,'reply_to':'a//b'}", DX_ENAME},
    {REQ, "{'v':1,'op':'put','name':'a','size':1,'reply_to':5}", DX_EFIELD},
    {REQ, "{'v':1,'op':'put','name':'a','size':1,'corr':'a\\nb'}", DX_ERANGE},
    {REQ, "{'v':1,'op':'put','name':'a','size':1,'corr':"
          "'01234567890123456789012345678901234567890123456789012345678901234'}",
     DX_ERANGE},
    {REQ, "{'v':1,'op':'put','name':'a','size':1,'corr':"
          "'0123456789012345678901234567890123456789012345678901234567890123'}", OK},
    {REQ, "{'v':1,'op':'commit','key':'k'}", DX_EFIELD},
    {REQ, "{'v':1,'op':'commit','sha256':'" SHA_ABC "'}", DX_EFIELD},
    {REQ, "{'v':1,'op':'commit','key':'k','sha256':'x" SHA_ABC "'}", DX_ERANGE},
    {REQ, "{'v':1,'op':'commit','key':'k!','sha256':'" SHA_ABC "'}", DX_ENAME},
    {REQ, "{'v':1,'op':'abort'}", DX_EFIELD},
    {REQ, "{'v':1,'op':'abort','key':'0123456789abcdefghijklmno'}", DX_ENAME},
    {REQ, "{'v':1,'op':'rm'}", DX_EFIELD},
    {REQ, "{'v':1,'op':'rm','name':'#'}", DX_ENAME},
    {REQ, "{'v':1,'op':'rm','name':'x','corr':7}", DX_EFIELD},

    /* reply */
    {REPLY, "{'v':1}", DX_EFIELD},
    {REPLY, "{'v':1,'ok':'true'}", DX_EFIELD},
    {REPLY, "{'v':1,'ok':false}", DX_EFIELD},
    {REPLY, "{'v':1,'ok':false,'error':''}", DX_EFIELD},
    {REPLY, "{'v':1,'ok':false,'error':'no'}", OK},
    {REPLY, "{'v':1,'ok':true,'node':65536}", DX_ERANGE},
    {REPLY, "{'v':1,'ok':true,'node':-3}", DX_ERANGE},
    {REPLY, "{'v':1,'ok':true,'key':'k','chunk_size':4096,'plan':[[1,2],[3,3]]}",
     DX_ERANGE},
    {REPLY, "{'v':1,'ok':true,'key':'k','chunk_size':4096,'plan':[[1,2,3,4,5,6]]}",
     DX_ERANGE},
    {REPLY, "{'v':1,'ok':true,'key':'k','chunk_size':4096,'plan':[[0]]}", DX_ERANGE},
    {REPLY, "{'v':1,'ok':true,'key':'k','chunk_size':4096,'plan':[1]}", DX_EFIELD},
    {REPLY, "{'v':1,'ok':true,'key':'k','chunk_size':4096,'plan':{}}", DX_EFIELD},
    {REPLY, "{'v':1,'ok':true,'key':'k','chunk_size':4096,'plan':[[]]}", OK},
    {REPLY, "{'v':1,'ok':true,'chunk_size':4096,'plan':[[1]]}", DX_EFIELD},
    {REPLY, "{'v':1,'ok':true,'key':'k','plan':[[1]]}", DX_EFIELD},
    {REPLY, "{'v':1,'ok':true,'key':'k','chunk_size':4097,'plan':[[1]]}", DX_ERANGE},
    {REPLY, "{'v':1,'ok':true,'key':'K'}", DX_ENAME},
    {REPLY, "{'v':1,'ok':false,'error':'x','missing':[4096]}", DX_ERANGE},
    {REPLY, "{'v':1,'ok':false,'error':'x','missing':['1']}", DX_EFIELD},
    {REPLY, "{'v':1,'ok':false,'error':'x','missing':3}", DX_EFIELD},
    {REPLY, "{'v':1,'ok':false,'error':'a\\u001fb'}", DX_ERANGE},

    /* stored */
    {STORED, "{'v':1,'index':5,'crc':'e3069283','ok':true}", DX_EFIELD},
    {STORED, "{'v':1,'node':0,'index':5,'crc':'e3069283','ok':true}", DX_ERANGE},
    {STORED, "{'v':1,'node':2,'index':4096,'crc':'e3069283','ok':true}", DX_ERANGE},
    {STORED, "{'v':1,'node':2,'index':5,'crc':'e3069283'}", DX_EFIELD},
    {STORED, "{'v':1,'node':2,'index':5,'ok':true}", DX_EFIELD},
    {STORED, "{'v':1,'node':2,'index':5,'crc':'E3069283','ok':true}", OK},
    {STORED, "{'v':1,'node':2,'index':5,'crc':'e3069283 ','ok':true}", DX_ERANGE},
    {STORED, "{'v':1,'node':2,'index':5,'crc':3808858755,'ok':true}", DX_EFIELD},
    {STORED, "{'v':1,'node':2,'index':5,'crc':'e3069283','ok':false}", DX_EFIELD},
    {STORED, "{'v':1,'node':2,'index':5,'crc':'e3069283','ok':null}", DX_EFIELD},
    {STORED, "{'v':1,'node':2.0,'index':5e0,'crc':'e3069283','ok':true}", OK},
    {STORED, "{'v':1,'node':2,'index':5,'crc':'e3069283','ok':0}", DX_EFIELD},

    /* fetch */
    {FETCH, "{'v':1,'index':5,'crc':'e3069283','reply_to':'a/b'}", DX_EFIELD},
    {FETCH, "{'v':1,'key':'k','crc':'e3069283','reply_to':'a/b'}", DX_EFIELD},
    {FETCH, "{'v':1,'key':'k','index':5,'reply_to':'a/b'}", DX_EFIELD},
    {FETCH, "{'v':1,'key':'k','index':5,'crc':'e3069283'}", DX_EFIELD},
    {FETCH, "{'v':1,'key':'k','index':5,'crc':'e3069283','reply_to':'a/#'}", DX_ENAME},
    {FETCH, "{'v':1,'key':'k','index':5,'crc':'e3069283','reply_to':'/a'}", DX_ENAME},
    {FETCH, "{'v':1,'key':'k','index':5,'crc':'e3069283','reply_to':'a b'}", DX_ENAME},
    {FETCH, "{'v':1,'key':'k','index':5,'crc':'e3069283','reply_to':'a/'}", DX_ENAME},
    {FETCH, "{'v':1,'key':'k','index':5,'crc':'e3069283','reply_to':'a/+/b'}", DX_ENAME},
    {FETCH, "{'v':1,'key':'k','index':4096,'crc':'e3069283','reply_to':'a'}", DX_ERANGE},
    {FETCH, "{'v':1,'key':'','index':1,'crc':'e3069283','reply_to':'a'}", DX_ENAME},

    /* bad */
    {BAD, "{'v':1,'key':'k','index':5,'node':2,'from':0,'reason':'Checksum'}", DX_ERANGE},
    {BAD, "{'v':1,'key':'k','index':5,'node':2,'from':0,'reason':''}", DX_ERANGE},
    {BAD, "{'v':1,'key':'k','index':5,'node':2,'from':0,'reason':'a-b'}", DX_ERANGE},
    {BAD, "{'v':1,'key':'k','index':5,'node':2,'from':0,"
          "'reason':'abcdefghijklmnopqrstuvwxyz_abcdef'}", DX_ERANGE},
    {BAD, "{'v':1,'key':'k','index':5,'node':2,'from':0,"
          "'reason':'abcdefghijklmnopqrstuvwxyz_abcde'}", OK},
    {BAD, "{'v':1,'key':'k','index':5,'node':2,'from':65536,'reason':'x'}", DX_ERANGE},
    {BAD, "{'v':1,'key':'k','index':5,'node':0,'reason':'x'}", DX_ERANGE},
    {BAD, "{'v':1,'key':'k','index':5,'reason':'x'}", DX_EFIELD},
    {BAD, "{'v':1,'key':'k','node':1,'reason':'x'}", DX_EFIELD},
    {BAD, "{'v':1,'key':'k','index':5,'node':1}", DX_EFIELD},
    {BAD, "{'v':1,'key':'k','index':5,'node':1,'reason':['x']}", DX_EFIELD},
};

static void test_rejects(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(rejects); i++)
        assert_dec(rejects[i].c, rejects[i].sq, rejects[i].err);
}

/* Every prefix of every fixture fails, and never reads past len. */
static void test_truncated(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(fixtures); i++) {
        char *s = cc_sq(fixtures[i].sq);
        size_t n = strlen(s);
        for (size_t k = 0; k < n; k++)
            assert_int_not_equal(dec_raw(fixtures[i].c, s, k, NULL), OK);
        assert_int_equal(dec_raw(fixtures[i].c, s, n, NULL), OK);
        free(s);
    }
}

/* Size limits: whitespace padding keeps a payload valid, so only the
 * length decides: DX_PAYLOAD_MAX for small messages, DX_DFS_JSON_MAX for
 * files and replies. */
static void test_limits(void **state)
{
    size_t big = DX_DFS_JSON_MAX + 1;
    char *buf = malloc(big);

    (void)state;
    assert_non_null(buf);
    for (int c = 0; c < N_CODECS; c++) {
        const char *sq = c == FILE_ ? FX_FILE : c == REQ ? FX_PUT
                         : c == REPLY ? FX_REPLY : c == STORED ? FX_STORED
                         : c == FETCH ? FX_FETCH : FX_BAD;
        char *s = cc_sq(sq);
        size_t n = strlen(s), max = codecs[c].max;

        memset(buf, ' ', big);
        memcpy(buf, s, n);
        assert_int_equal(dec_raw(c, buf, max, NULL), OK);
        assert_int_equal(dec_raw(c, buf, max + 1, NULL), DX_ETOOBIG);
        if (max < DX_DFS_JSON_MAX)
            assert_int_equal(dec_raw(c, buf, DX_PAYLOAD_MAX + 1, NULL),
                             DX_ETOOBIG);
        free(s);
    }
    assert_int_equal(dx_dfs_stored_decode(NULL, 0, &(dx_dfs_stored){0}, NULL),
                     DX_EJSON);
    assert_int_equal(dx_dfs_stored_decode(NULL, 3, &(dx_dfs_stored){0}, NULL),
                     DX_EINVAL);
    assert_int_equal(dx_dfs_stored_decode("{}", 2, NULL, NULL), DX_EINVAL);
    free(buf);
}

/* The largest file and plan: 4096 chunks of 5 nodes round-trip. */
static void test_roundtrip_max(void **state)
{
    static char buf[DX_DFS_JSON_MAX + 1];
    dx_dfs_file *f = calloc(1, sizeof *f), *f2 = calloc(1, sizeof *f2);
    dx_dfs_reply *r = calloc(1, sizeof *r), *r2 = calloc(1, sizeof *r2);
    size_t n;

    (void)state;
    assert_non_null(f);
    assert_non_null(f2);
    assert_non_null(r);
    assert_non_null(r2);
    file_full(f);
    memset(f->name, 'n', DX_DFS_NAME_MAX);
    f->name[DX_DFS_NAME_MAX] = '\0';
    memset(f->key, 'z', DX_DFS_KEY_MAX);
    f->chunk_size = DX_DFS_CHUNK_MAX;
    f->size = (uint64_t)DX_DFS_CHUNK_MAX * DX_DFS_CHUNKS_MAX;
    f->replicas = 5;
    f->created_ms = DX_INT_MAX;
    f->term = DX_INT_MAX;
    f->n_chunks = DX_DFS_CHUNKS_MAX;
    for (uint32_t i = 0; i < DX_DFS_CHUNKS_MAX; i++) {
        f->chunks[i].crc = i * 2654435761u;
        f->chunks[i].n = 5;
        for (uint16_t k = 0; k < 5; k++)
            f->chunks[i].nodes[k] = (uint16_t)(65535u - k * 7u - i % 3u);
    }
    assert_int_equal(enc_chk(FILE_, f, buf, sizeof buf, &n), OK);
    assert_true(n > DX_PAYLOAD_MAX);
    assert_int_equal(dec_raw(FILE_, buf, n, f2), OK);
    assert_memory_equal(f, f2, sizeof *f);
    assert_int_equal(enc_chk(FILE_, f, buf, n, &n), DX_ENOSPACE);

    reply_plan(r);
    r->n_plan = DX_DFS_CHUNKS_MAX;
    for (uint32_t i = 0; i < DX_DFS_CHUNKS_MAX; i++)
        memcpy(&r->plan[i], &f->chunks[i], sizeof r->plan[i]),
            r->plan[i].crc = 0;
    r->n_missing = DX_DFS_MISSING_MAX;
    for (uint32_t i = 0; i < DX_DFS_MISSING_MAX; i++)
        r->missing[i] = 4095 - i;
    assert_int_equal(enc_chk(REPLY, r, buf, sizeof buf, &n), OK);
    assert_int_equal(dec_raw(REPLY, buf, n, r2), OK);
    assert_memory_equal(r, r2, sizeof *r);
    /* one more chunk than the size needs, and one too many missing */
    r->n_missing = DX_DFS_MISSING_MAX + 1;
    assert_enc(REPLY, r, DX_ERANGE);
    f->size -= DX_DFS_CHUNK_MAX;
    assert_enc(FILE_, f, DX_ERANGE);
    free(f);
    free(f2);
    free(r);
    free(r2);
}

/* Encoders refuse what decoders reject. */
static void test_encode_rejects(void **state)
{
    dx_dfs_file *f = calloc(1, sizeof *f);
    dx_dfs_reply *r = calloc(1, sizeof *r);
    dx_dfs_req q;
    dx_dfs_stored s;
    dx_dfs_fetch fe;
    dx_dfs_bad b;
    char small[8];
    size_t n;

    (void)state;
    assert_non_null(f);
    assert_non_null(r);
#define FILE_BAD(stmt, err) do { file_full(f); stmt; assert_enc(FILE_, f, err); } while (0)
    FILE_BAD((void)0, OK);
    FILE_BAD(strcpy(f->name, "a/../b"), DX_ENAME);
    FILE_BAD(memset(f->name, 'a', sizeof f->name), DX_ENAME);
    FILE_BAD(strcpy(f->key, ""), DX_ENAME);
    FILE_BAD(f->chunk_size = 0, DX_ERANGE);
    FILE_BAD(f->chunk_size = 4097, DX_ERANGE);
    FILE_BAD(f->size = 5000000, DX_ERANGE);
    FILE_BAD(f->n_chunks = 4, DX_ERANGE);
    FILE_BAD(f->replicas = 6, DX_ERANGE);
    FILE_BAD(f->replicas = 0, DX_ERANGE);
    FILE_BAD(f->sha256[3] = 'A', DX_ERANGE);
    FILE_BAD(f->sha256[63] = '\0', DX_ERANGE);
    FILE_BAD(f->created_ms = -1, DX_ERANGE);
    FILE_BAD(f->term = 0, DX_ERANGE);
    FILE_BAD(f->term = (uint64_t)DX_INT_MAX + 1, DX_ERANGE);
    FILE_BAD(f->chunks[0].nodes[2] = 1, DX_ERANGE);
    FILE_BAD(f->chunks[1].nodes[0] = 0, DX_ERANGE);
    FILE_BAD(f->chunks[1].n = 6, DX_ERANGE);
#undef FILE_BAD

#define REQ_BAD(stmt, err) do { req_put(&q); stmt; assert_enc(REQ, &q, err); } while (0)
    REQ_BAD((void)0, OK);
    REQ_BAD(q.op = (dx_dfs_op)0, DX_ERANGE);
    REQ_BAD(q.op = (dx_dfs_op)5, DX_ERANGE);
    REQ_BAD(strcpy(q.name, "a b"), DX_ENAME);
    REQ_BAD(q.chunk_size = 4095, DX_ERANGE);
    REQ_BAD(q.replicas = 6, DX_ERANGE);
    REQ_BAD(q.size = (uint64_t)1048576 * 4096 + 1, DX_ERANGE);
    REQ_BAD(strcpy(q.reply_to, "a/+"), DX_ENAME);
    REQ_BAD(strcpy(q.corr, "a\nb"), DX_ERANGE);
    REQ_BAD(memset(q.corr, 'c', sizeof q.corr), DX_ERANGE);
    REQ_BAD((q.op = DX_DFS_OP_COMMIT, strcpy(q.key, "k")), DX_ERANGE); /* no sha */
    REQ_BAD((q.op = DX_DFS_OP_COMMIT, strcpy(q.sha256, SHA_ABC)), DX_ENAME);
    REQ_BAD((q.op = DX_DFS_OP_ABORT, strcpy(q.key, "k")), OK);
    REQ_BAD(q.op = DX_DFS_OP_ABORT, DX_ENAME);
    REQ_BAD((q.op = DX_DFS_OP_RM, strcpy(q.name, "")), DX_ENAME);
#undef REQ_BAD

#define REPLY_BAD(stmt, err) do { reply_plan(r); stmt; assert_enc(REPLY, r, err); } while (0)
    REPLY_BAD((void)0, OK);
    REPLY_BAD(r->ok = false, DX_EFIELD);
    REPLY_BAD((r->ok = false, strcpy(r->error, "x")), OK);
    REPLY_BAD(strcpy(r->error, "a\x01"), DX_ERANGE);
    REPLY_BAD(strcpy(r->key, ""), DX_EFIELD);
    REPLY_BAD(r->chunk_size = 0, DX_EFIELD);
    REPLY_BAD(r->chunk_size = 1, DX_ERANGE);
    REPLY_BAD(r->plan[1].nodes[2] = 2, DX_ERANGE);
    REPLY_BAD(r->n_plan = DX_DFS_CHUNKS_MAX + 1, DX_ERANGE);
    REPLY_BAD((r->n_missing = 1, r->missing[0] = 4096), DX_ERANGE);
#undef REPLY_BAD

    stored_full(&s);
    s.node = 0;
    assert_enc(STORED, &s, DX_ERANGE);
    stored_full(&s);
    s.index = 4096;
    assert_enc(STORED, &s, DX_ERANGE);
    stored_full(&s);
    s.ok = false;
    assert_enc(STORED, &s, DX_EFIELD);
    fetch_full(&fe);
    fe.reply_to[0] = '\0';
    assert_enc(FETCH, &fe, DX_ENAME);
    fetch_full(&fe);
    memset(fe.reply_to, 'a', DX_DFS_TOPIC_MAX);
    fe.reply_to[DX_DFS_TOPIC_MAX] = '\0';
    assert_enc(FETCH, &fe, OK); /* longer than DX_TOPIC_MAX is fine here */
    fe.reply_to[DX_DFS_TOPIC_MAX] = 'a';
    assert_enc(FETCH, &fe, DX_ENAME);
    bad_full(&b);
    strcpy(b.reason, "bit rot");
    assert_enc(BAD, &b, DX_ERANGE);
    bad_full(&b);
    b.node = 0;
    assert_enc(BAD, &b, DX_ERANGE);

    /* buffer too small, and bad arguments */
    stored_full(&s);
    assert_int_equal(enc_chk(STORED, &s, small, sizeof small, &n), DX_ENOSPACE);
    assert_int_equal(dx_dfs_stored_encode(NULL, small, sizeof small, &n),
                     DX_EINVAL);
    assert_int_equal(dx_dfs_stored_encode(&s, NULL, 0, &n), DX_EINVAL);
    free(f);
    free(r);
}

/* A string with quotes and backslashes survives the round trip. */
static void test_escapes(void **state)
{
    static char buf[4096];
    dx_dfs_stored s, s2;
    size_t n;

    (void)state;
    stored_full(&s);
    s.ok = false;
    strcpy(s.error, "say \"no\" \\ twice \xe2\x82\xac");
    assert_int_equal(enc_chk(STORED, &s, buf, sizeof buf, &n), OK);
    assert_non_null(strstr(buf, "\\\"no\\\" \\\\ twice"));
    assert_int_equal(dec_raw(STORED, buf, n, &s2), OK);
    assert_memory_equal(&s, &s2, sizeof s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_vectors),
        cmocka_unit_test(test_crc32c_incremental),
        cmocka_unit_test(test_crc32c_paths_agree),
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_sha256_incremental),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_crc_hex_and_ops),
        cmocka_unit_test(test_topic_simple),
        cmocka_unit_test(test_topic_store),
        cmocka_unit_test(test_topic_parse_rejects),
        cmocka_unit_test(test_store_filters),
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_decode_tolerance),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_roundtrip_max),
        cmocka_unit_test(test_encode_rejects),
        cmocka_unit_test(test_escapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
