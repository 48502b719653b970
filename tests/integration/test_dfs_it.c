/*
 * test_dfs_it.c - the distributed file system end to end through the CLI:
 * a real Mosquitto, three real agents with data directories, the real
 * `distribux put/get/ls/stat/rm`.
 *
 * Round trips of random binary files at the chunk boundaries (0 B, 1 B,
 * chunk-1, chunk, chunk+1 with --chunk-kb 64) and one 20 MiB file with the
 * default chunk size: each is put, its --json answer checked against the
 * file (size, chunks, copies, SHA-256 computed here), fetched back with
 * -o and compared byte for byte; no part file may be left behind.  Bad
 * names and bad options are refused with exit 2 and a message, and
 * nothing is listed afterwards.  ls, stat and rm are checked in text and
 * JSON, against the retained metadata the observer decodes.
 *
 * The it_ helpers come from test_membership_it.c (see its header).
 * DFS_ONLY=PATTERN runs only the matching tests.
 */
#define IT_NAME "dfs"
#define IT_HELPERS_ONLY
#include "test_membership_it.c"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "dx_dfs.h"
#include "dx_hash.h"

#define DFS_CHUNK 65536          /* --chunk-kb 64 */
#define DFS_BIG (20u << 20)      /* the large round trip */
#define DFS_BIG_MS 120000        /* put or get of it, ASan agents, 2 cores */

/* Runs the CLI with t's broker and cluster and the arguments up to NULL;
 * returns the exit code.  *out and *out_len get stdout (binary-safe), *err
 * what it wrote on stderr (all malloc'd; each may be NULL). */
static int dfs_cli(it *t, int timeout_ms, char **out, size_t *out_len,
                   char **err, const char *arg, ...) __attribute__((sentinel));
static int dfs_cli(it *t, int timeout_ms, char **out, size_t *out_len,
                   char **err, const char *arg, ...)
{
    const char *argv[40] = {dxh_cli_bin(), "--broker", dxh_broker_url(t->h),
                            "--cluster", t->cluster};
    size_t n = 5, len = 0;
    char log[512], *o = NULL;
    int code = -1;
    long before;
    va_list ap;

    va_start(ap, arg);
    for (const char *a = arg; a != NULL && n < 39; a = va_arg(ap, const char *))
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    assert_int_equal(dxh_path(t->h, log, sizeof log, "run.log"), 0);
    before = it_file_size(log);
    if (dxh_run(t->h, argv, timeout_ms, &o, &len, &code) != 0)
        fail_msg("distribux %s did not finish within %d ms", arg, timeout_ms);
    if (out != NULL)
        *out = o;
    else
        free(o);
    if (out_len != NULL)
        *out_len = len;
    if (err != NULL)
        *err = it_slurp(log, before);
    return code;
}

/* Writes `size` pseudo-random bytes (seeded) to WORKDIR/name; the path
 * into path, the SHA-256 into hex. */
static void dfs_make_file(it *t, const char *name, size_t size,
                          uint32_t seed, char path[512], char hex[65])
{
    static uint8_t buf[65536];
    uint64_t x = 0x9e3779b97f4a7c15ull ^ seed;
    dx_sha256 sha;
    size_t left = size;
    int fd;

    assert_int_equal(dxh_path(t->h, path, 512, "%s", name), 0);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    dx_sha256_init(&sha);
    while (left > 0) {
        size_t n = left < sizeof buf ? left : sizeof buf;
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = (uint8_t)(x >> 24);
        }
        assert_int_equal(write(fd, buf, n), (ssize_t)n);
        dx_sha256_update(&sha, buf, n);
        left -= n;
    }
    assert_int_equal(close(fd), 0);
    dx_sha256_final(&sha, hex);
}

/* Fails the test unless the files at a and b hold the same bytes. */
static void dfs_assert_same(const char *a, const char *b)
{
    static uint8_t ba[65536], bb[65536];
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    uint64_t at = 0;
    if (fa == NULL || fb == NULL)
        fail_msg("cannot open %s or %s", a, b);
    for (;;) {
        size_t na = fread(ba, 1, sizeof ba, fa), nb = fread(bb, 1, sizeof bb,
                                                             fb);
        size_t n = na < nb ? na : nb;
        for (size_t i = 0; i < n; i++)
            if (ba[i] != bb[i])
                fail_msg("%s and %s differ at byte %" PRIu64, a, b, at + i);
        if (na != nb)
            fail_msg("%s and %s differ in length (one ends at %" PRIu64 ")",
                     a, b, at + n);
        if (na == 0)
            break;
        at += n;
    }
    fclose(fa);
    fclose(fb);
}

/* Fails the test if a part file (NAME.part-PID) is left in the work
 * directory. */
static void dfs_assert_no_part(it *t)
{
    DIR *d = opendir(dxh_workdir(t->h));
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strstr(e->d_name, ".part-") != NULL)
            fail_msg("part file left behind: %s", e->d_name);
    closedir(d);
}

static cJSON *dfs_json(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    if (j == NULL)
        fail_msg("not JSON: %.300s", text);
    return j;
}

static double dfs_num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v))
        fail_msg("no number '%s' in %s", key, cJSON_PrintUnformatted(o));
    return v->valuedouble;
}

/* Waits until the observer has seen the retained metadata of name with
 * upload key `key`, and decodes it into f. */
static void dfs_meta(it *t, const char *name, const char *key, dx_dfs_file *f)
{
    const char *topic = it_topic(t, "dfs/files/%s", name);
    dxh_match mt = {topic, key, -1};
    const dxh_msg *m = dxh_obs_wait_for(t->obs, dxh_pred_match, &mt,
                                        IT_WAIT_MS);
    if (m == NULL)
        fail_msg("no metadata of %s with key %s on %s", name, key, topic);
    if (dx_dfs_file_decode(m->payload, m->payload_len, f, NULL) != 0)
        fail_msg("bad metadata on %s: %.300s", topic, m->payload);
}

/* Puts a fresh random file of `size` bytes as `name` and fetches it back,
 * checking the CLI's answer, the metadata and the bytes. */
static void dfs_round_trip(it *t, const char *name, size_t size,
                           const char *chunk_kb, uint32_t chunk_size,
                           int timeout_ms)
{
    static dx_dfs_file f;
    char src[512], dst[512], hex[65], fname[64], *out = NULL, *err = NULL;
    uint32_t chunks = (uint32_t)((size + chunk_size - 1) / chunk_size);
    cJSON *j;
    int code;

    snprintf(fname, sizeof fname, "src-%s", name);
    for (char *c = fname; *c != '\0'; c++)
        *c = *c == '/' ? '_' : *c;        /* a name may hold '/' */
    dfs_make_file(t, fname, size, (uint32_t)size, src, hex);
    code = chunk_kb != NULL
               ? dfs_cli(t, timeout_ms, &out, NULL, &err, "--json", "put",
                         src, "--name", name, "--chunk-kb", chunk_kb, NULL)
               : dfs_cli(t, timeout_ms, &out, NULL, &err, "--json", "put",
                         src, "--name", name, NULL);
    if (code != 0)
        fail_msg("put %s (%zu bytes): exit %d: %s", name, size, code, err);
    j = dfs_json(out);
    assert_string_equal(it_json_str(j, "name"), name);
    assert_true(dfs_num(j, "size") == (double)size);
    assert_true(dfs_num(j, "chunks") == (double)chunks);
    assert_true(dfs_num(j, "replicas") == 3.0);
    assert_string_equal(it_json_str(j, "sha256"), hex);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
                         j, "nodes")), chunks > 0 ? 3 : 0);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
        j, "under_replicated")));
    /* The leader's metadata says the same. */
    dfs_meta(t, name, it_json_str(j, "key"), &f);
    assert_int_equal(f.size, size);
    assert_int_equal(f.n_chunks, chunks);
    assert_int_equal(f.chunk_size, chunk_size);
    assert_string_equal(f.sha256, hex);
    for (uint32_t i = 0; i < f.n_chunks; i++)
        assert_int_equal(f.chunks[i].n, 3);
    cJSON_Delete(j);
    free(out);
    free(err);

    fname[0] = 'd', fname[1] = 's', fname[2] = 't';   /* "dst-..." */
    assert_int_equal(dxh_path(t->h, dst, sizeof dst, "%s", fname), 0);
    code = dfs_cli(t, timeout_ms, &out, NULL, &err, "get", name, "-o", dst,
                   NULL);
    if (code != 0)
        fail_msg("get %s: exit %d: %s", name, code, err);
    free(out);
    free(err);
    dfs_assert_same(src, dst);
    dfs_assert_no_part(t);
}

/* ---- the tests ---- */

static void test_round_trips(void **state)
{
    it *t = *state;
    static const size_t sizes[] = {0, 1, DFS_CHUNK - 1, DFS_CHUNK,
                                   DFS_CHUNK + 1};
    char name[32], src[512], *out = NULL;
    size_t len = 0;

    (void)it_cluster(t, 3);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        snprintf(name, sizeof name, "rt-%zu.bin", sizes[i]);
        dfs_round_trip(t, name, sizes[i], "64", DFS_CHUNK, IT_CLI_MS);
    }
    /* To stdout: the same bytes (src-rt-65537.bin is still there). */
    assert_int_equal(dfs_cli(t, IT_CLI_MS, &out, &len, NULL, "get",
                             "rt-65537.bin", NULL), 0);
    assert_int_equal(len, DFS_CHUNK + 1);
    assert_int_equal(dxh_path(t->h, src, sizeof src, "src-rt-65537.bin"),
                     0);
    {
        char *want = it_slurp(src, 0);
        assert_memory_equal(out, want, len);
        free(want);
    }
    free(out);
    dfs_round_trip(t, "big/twenty.bin", DFS_BIG, NULL, DX_DFS_CHUNK_DEFAULT,
                   DFS_BIG_MS);
    dxh_pass(t->h);
}

static void test_bad_names_and_options(void **state)
{
    it *t = *state;
    char long_name[DX_DFS_NAME_MAX + 2], src[512], hex[65], *out, *err;
    const char *bad[] = {"..", "/a", "a+b", "a#b", "a\x01" "b", long_name,
                         "a//b", "a/", "."};
    cJSON *j;

    memset(long_name, 'a', DX_DFS_NAME_MAX + 1);
    long_name[DX_DFS_NAME_MAX + 1] = '\0';   /* 256 bytes */
    (void)it_cluster(t, 3);
    dfs_make_file(t, "small.txt", 100, 7, src, hex);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int code = dfs_cli(t, IT_CLI_MS, NULL, NULL, &err, "put", src,
                           "--name", bad[i], NULL);
        if (code != 2 || strstr(err, "invalid name") == NULL)
            fail_msg("put --name '%.40s': exit %d, stderr '%s' (want 2 and "
                     "a reason)", bad[i], code, err);
        free(err);
    }
    /* Bad files and options: exit 2, the culprit named. */
    {
        char dir[512], missing[512];
        assert_int_equal(dxh_path(t->h, dir, sizeof dir, "node1"), 0);
        assert_int_equal(dxh_path(t->h, missing, sizeof missing, "nope"), 0);
        struct {
            const char *args[6];
            const char *says;
        } cases[] = {
            {{"put", dir, NULL}, "directory"},
            {{"put", missing, NULL}, "nope"},
            {{"put", src, "--bogus", NULL}, "--bogus"},
            {{"put", src, "--replicas", "9", NULL}, "--replicas"},
            {{"put", src, "--chunk-kb", "5", NULL}, "--chunk-kb"},
            {{"put", src, "--chunk-kb", NULL}, "--chunk-kb"},
            {{"put", NULL}, "expected"},
            {{"get", "x", "--bogus", NULL}, "--bogus"},
            {{"get", "..", NULL}, "invalid name"},
            {{"ls", "a", "b", NULL}, "unexpected"},
            {{"rm", NULL}, "rm"},
            {{"stat", "a", "b", NULL}, "stat"},
            {{"scrub", "0", NULL}, "node id"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            const char *const *a = cases[i].args;
            int code = dfs_cli(t, IT_CLI_MS, NULL, NULL, &err, a[0], a[1],
                               a[1] ? a[2] : NULL, a[1] && a[2] ? a[3] : NULL,
                               NULL);
            if (code != 2 || strstr(err, cases[i].says) == NULL)
                fail_msg("%s %s: exit %d, stderr '%s' (want 2 and '%s')",
                         a[0], a[1] ? a[1] : "", code, err, cases[i].says);
            free(err);
        }
    }
    /* Nothing was stored. */
    assert_int_equal(dfs_cli(t, IT_CLI_MS, &out, NULL, NULL, "--json", "ls",
                             NULL), 0);
    j = dfs_json(out);
    assert_true(cJSON_IsArray(j));
    assert_int_equal(cJSON_GetArraySize(j), 0);
    cJSON_Delete(j);
    free(out);
    assert_int_equal(dxh_obs_count(t->obs, it_topic(t, "dfs/files/#")), 0);
    dxh_pass(t->h);
}

static void test_ls_stat_rm(void **state)
{
    it *t = *state;
    static dx_dfs_file f, g;
    char src[512], hex_a[65], hex_b[65], *out, *err;
    cJSON *j;

    (void)it_cluster(t, 3);
    dfs_make_file(t, "a.txt", 1000, 1, src, hex_a);
    assert_int_equal(dfs_cli(t, IT_CLI_MS, NULL, NULL, NULL, "put", src,
                             NULL), 0);
    dfs_make_file(t, "b.bin", 3 * 4096 + 5, 2, src, hex_b);
    assert_int_equal(dfs_cli(t, IT_CLI_MS, &out, NULL, NULL, "put", src,
                             "--name", "dir/b.bin", "--chunk-kb", "4",
                             "--replicas", "2", NULL), 0);
    if (strstr(out, "put dir/b.bin: 12293 bytes, 4 chunks, 2 replicas on "
                    "nodes [") == NULL || strstr(out, hex_b) == NULL)
        fail_msg("put's line: %s", out);
    free(out);

    /* ls: a table sorted by name; JSON; a prefix. */
    assert_int_equal(dfs_cli(t, IT_CLI_MS, &out, NULL, NULL, "ls", NULL), 0);
    {
        const char *a = strstr(out, "a.txt"), *b = strstr(out, "dir/b.bin");
        if (strstr(out, "NAME") == NULL || a == NULL || b == NULL || a > b ||
            strstr(out, "under-replicated") != NULL)
            fail_msg("ls: %s", out);
    }
    free(out);
    assert_int_equal(dfs_cli(t, IT_CLI_MS, &out, NULL, NULL, "--json", "ls",
                             NULL), 0);
    j = dfs_json(out);
    assert_int_equal(cJSON_GetArraySize(j), 2);
    {
        const cJSON *a = cJSON_GetArrayItem(j, 0), *b = cJSON_GetArrayItem(j,
                                                                          1);
        assert_string_equal(it_json_str(a, "name"), "a.txt");
        assert_true(dfs_num(a, "size") == 1000.0);
        assert_true(dfs_num(a, "chunks") == 1.0);
        assert_true(dfs_num(a, "replicas") == 3.0);
        assert_true(dfs_num(a, "copies") == 3.0);
        assert_string_equal(it_json_str(a, "sha256"), hex_a);
        assert_true(dfs_num(a, "created_ms") > 0);
        assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
            a, "under_replicated")));
        assert_string_equal(it_json_str(b, "name"), "dir/b.bin");
        assert_true(dfs_num(b, "chunks") == 4.0);
        assert_true(dfs_num(b, "replicas") == 2.0);
        assert_true(dfs_num(b, "copies") == 2.0);
    }
    cJSON_Delete(j);
    free(out);
    assert_int_equal(dfs_cli(t, IT_CLI_MS, &out, NULL, NULL, "--json", "ls",
                             "dir/", NULL), 0);
    j = dfs_json(out);
    assert_int_equal(cJSON_GetArraySize(j), 1);
    assert_string_equal(it_json_str(cJSON_GetArrayItem(j, 0), "name"),
                        "dir/b.bin");
    cJSON_Delete(j);
    free(out);

    /* stat: JSON is the metadata the leader retained. */
    assert_int_equal(dfs_cli(t, IT_CLI_MS, &out, NULL, NULL, "--json", "stat",
                             "dir/b.bin", NULL), 0);
    assert_int_equal(dx_dfs_file_decode(out, strlen(out), &f, NULL), 0);
    dfs_meta(t, "dir/b.bin", f.key, &g);
    assert_string_equal(f.key, g.key);
    assert_string_equal(f.sha256, hex_b);
    assert_int_equal(f.size, 12293);
    assert_int_equal(f.chunk_size, 4096);
    assert_int_equal(f.n_chunks, 4);
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(f.chunks[i].crc, g.chunks[i].crc);
        assert_int_equal(f.chunks[i].n, 2);
    }
    free(out);
    assert_int_equal(dfs_cli(t, IT_CLI_MS, &out, NULL, NULL, "stat",
                             "dir/b.bin", NULL), 0);
    {
        char crc[9];
        dx_dfs_crc_hex(g.chunks[3].crc, crc);
        if (strstr(out, hex_b) == NULL || strstr(out, g.key) == NULL ||
            strstr(out, crc) == NULL || strstr(out, "12293") == NULL)
            fail_msg("stat: %s", out);
    }
    free(out);

    /* rm: gone from ls, get and stat; a second rm fails. */
    assert_int_equal(dfs_cli(t, IT_CLI_MS, &out, NULL, NULL, "rm", "a.txt",
                             NULL), 0);
    assert_non_null(strstr(out, "removed a.txt"));
    free(out);
    assert_int_equal(dfs_cli(t, IT_CLI_MS, &out, NULL, NULL, "--json", "ls",
                             NULL), 0);
    j = dfs_json(out);
    assert_int_equal(cJSON_GetArraySize(j), 1);
    cJSON_Delete(j);
    free(out);
    assert_int_equal(dfs_cli(t, IT_CLI_MS, NULL, NULL, &err, "get", "a.txt",
                             NULL), 1);
    assert_non_null(strstr(err, "no such file: a.txt"));
    free(err);
    assert_int_equal(dfs_cli(t, IT_CLI_MS, NULL, NULL, NULL, "stat", "a.txt",
                             NULL), 1);
    assert_int_equal(dfs_cli(t, IT_CLI_MS, NULL, NULL, &err, "rm", "a.txt",
                             NULL), 1);
    free(err);
    dxh_pass(t->h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trips, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_bad_names_and_options, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_ls_stat_rm, it_setup,
                                        it_teardown),
    };
    if (getenv("DFS_ONLY") != NULL)
        cmocka_set_test_filter(getenv("DFS_ONLY"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
