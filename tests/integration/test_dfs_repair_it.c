/*
 * test_dfs_repair_it.c - the file system when things break, end to end: a
 * real Mosquitto, real agents with real data directories, the real CLI.
 *
 *  - kill -9 of a chunk holder: get still returns the file, and after the
 *    repair grace every chunk is back at R copies on alive nodes (read from
 *    the retained metadata), and get still matches;
 *  - chunk files corrupted on disk: get returns the right bytes, and after
 *    a scrub the bad copies are rewritten from a good one (checked on disk);
 *  - the leader killed during a put: the put completes (and the file reads
 *    back) or fails with a message and the file is not listed; a retry
 *    then succeeds;
 *  - sensor readings become log files in the DFS.
 *
 * The observer sees every message under {root}/#, so the metadata the
 * leader publishes is checked as published, not as the CLI prints it.
 * The it_ helpers come from test_membership_it.c (see its header).
 */
#define IT_NAME "dfs_repair"
#define IT_HELPERS_ONLY
#include "test_membership_it.c"

#include <fcntl.h>
#include <glob.h>
#include <unistd.h>

#include "dx_dfs.h"
#include "dx_hash.h"

#define DR_RUN_MS 120000

/* DR_ONLY=PATTERN runs only the tests whose name contains PATTERN. */
#define DR_ONLY()                                                            \
    do {                                                                     \
        const char *only_ = getenv("DR_ONLY");                               \
        if (only_ != NULL && strstr(__func__, only_) == NULL)                \
            skip();                                                          \
    } while (0)

/* Writes n pseudo-random bytes (seeded) to WORKDIR/name; returns the path
 * (one of 4 rotating buffers). */
static const char *dr_file(it *t, const char *name, size_t n, unsigned seed)
{
    static char paths[4][512];
    static unsigned next;
    char *path = paths[next++ % 4];
    FILE *f;
    assert_int_equal(dxh_path(t->h, path, 512, "%s", name), 0);
    f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        fputc((int)(seed >> 16) & 0xff, f);
    }
    assert_int_equal(fclose(f), 0);
    return path;
}

/* True when the two files have the same bytes. */
static bool dr_same(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa != NULL && fb != NULL;
    int ca, cb;
    while (same) {
        ca = fgetc(fa);
        cb = fgetc(fb);
        if (ca != cb)
            same = false;
        if (ca == EOF || cb == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

/* `distribux get name -o WORKDIR/out` must exit 0 with the bytes of src. */
static void dr_get_same(it *t, const char *name, const char *src,
                        const char *out_name)
{
    char out[512], *err = NULL;
    int code;
    assert_int_equal(dxh_path(t->h, out, sizeof out, "%s", out_name), 0);
    code = it_cli(t, NULL, &err, "get", name, "-o", out, NULL);
    if (code != 0)
        fail_msg("get %s exited %d: %s", name, code, err ? err : "");
    free(err);
    if (!dr_same(src, out))
        fail_msg("get %s: %s differs from %s", name, out, src);
}

/* Decoded metadata of `name` from a message, into a static buffer. */
static dx_dfs_file *dr_meta_buf;

static const dx_dfs_file *dr_meta(const it *t, const dxh_msg *m,
                                  const char *name)
{
    char topic[DX_DFS_TOPIC_MAX + 1];
    dx_topics tp;
    dx_diag d;
    if (dr_meta_buf == NULL)
        dr_meta_buf = calloc(1, sizeof *dr_meta_buf);
    assert_non_null(dr_meta_buf);
    if (dx_topics_init(&tp, t->root, NULL, &d) != 0 ||
        dx_dfs_topic_file(&tp, name, topic, sizeof topic) != 0 ||
        strcmp(m->topic, topic) != 0 || m->payload_len == 0 ||
        dx_dfs_file_decode(m->payload, m->payload_len, dr_meta_buf, &d) != 0)
        return NULL;
    return dr_meta_buf;
}

typedef struct dr_want {
    const it *t;
    const char *name;
    uint32_t copies;          /* every chunk listed on this many nodes */
    int without;              /* ... none of them this node (0: any) */
} dr_want;

static bool dr_pred_meta(const dxh_msg *m, void *ctx)
{
    dr_want *w = ctx;
    const dx_dfs_file *f = dr_meta(w->t, m, w->name);
    if (f == NULL)
        return false;
    for (uint32_t i = 0; i < f->n_chunks; i++) {
        if (f->chunks[i].n != w->copies)
            return false;
        for (uint32_t k = 0; k < f->chunks[i].n; k++)
            if (f->chunks[i].nodes[k] == w->without)
                return false;
    }
    return true;
}

/* Waits for metadata of name with `copies` holders per chunk, none of
 * them `without`; returns it (static buffer). */
static const dx_dfs_file *dr_expect_meta(it *t, uint64_t from,
                                         const char *name, uint32_t copies,
                                         int without, int timeout_ms)
{
    dr_want w = {t, name, copies, without};
    const dxh_msg *m =
        dxh_obs_wait_for_from(t->obs, from, dr_pred_meta, &w, timeout_ms);
    if (m == NULL)
        fail_msg("no metadata of %s with %u copies of every chunk%s within "
                 "%d ms", name, copies, without ? " off the dead node" : "",
                 timeout_ms);
    return dr_meta(t, m, name);
}

/* `distribux put path --name name more...` must exit 0. */
static void dr_put(it *t, const char *path, const char *name,
                   const char *chunk_kb)
{
    char *err = NULL;
    int code = it_cli(t, NULL, &err, "put", path, "--name", name,
                      "--chunk-kb", chunk_kb, NULL);
    if (code != 0)
        fail_msg("put %s exited %d: %s", name, code, err ? err : "");
    free(err);
}

static const char *const dr_fast_repair[] = {"--repair-grace-ms", "500",
                                             NULL};

/* kill -9 of a holder: reads go on, then every chunk is copied back to R
 * alive nodes. */
static void test_repair_after_kill(void **state)
{
    it *t = *state;
    DR_ONLY();
    const char *src;
    const dx_dfs_file *f;
    uint64_t from;
    int victim = 0;

    for (int id = 1; id <= 4; id++)
        (void)it_agent(t, id, dr_fast_repair);
    (void)it_expect_view(t, 0, 4, "1=online 2=online 3=online 4=online",
                         IT_WAIT_MS);
    (void)it_expect_leader(t, 0, 4, 1, NULL, IT_WAIT_MS);

    src = dr_file(t, "repair.bin", 17 * 65536 + 3, 7);
    from = dxh_obs_mark(t->obs);
    dr_put(t, src, "plant/repair.bin", "64");
    f = dr_expect_meta(t, from, "plant/repair.bin", 3, 0, IT_WAIT_MS);
    assert_int_equal(f->n_chunks, 18);
    assert_false(f->under_replicated);
    /* A follower that holds chunks (with 4 nodes and R = 3, each of 1..3
     * holds most of them). */
    for (uint32_t k = 0; k < f->chunks[0].n && victim == 0; k++)
        if (f->chunks[0].nodes[k] != 4)
            victim = f->chunks[0].nodes[k];
    assert_true(victim != 0);

    from = dxh_obs_mark(t->obs);
    it_signal(t, victim, SIGKILL);
    /* The copies on the other nodes serve the file at once. */
    dr_get_same(t, "plant/repair.bin", src, "repair.out1");
    /* After the grace, every chunk is on 3 alive nodes again. */
    f = dr_expect_meta(t, from, "plant/repair.bin", 3, victim, 30000);
    assert_false(f->under_replicated);
    (void)it_expect_event(t, from, "[DFS]", IT_WAIT_MS);
    dr_get_same(t, "plant/repair.bin", src, "repair.out2");
}

/* Finds node id's copy of chunk index (any key); path into buf. */
static bool dr_chunk_path(it *t, int id, uint32_t index, char *buf,
                          size_t cap)
{
    char pattern[600];
    glob_t g;
    bool found;
    assert_int_equal(dxh_path(t->h, pattern, sizeof pattern,
                              "node%d/chunks/*/%u.*", id, index), 0);
    found = glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc == 1;
    if (found)
        snprintf(buf, cap, "%s", g.gl_pathv[0]);
    globfree(&g);
    return found;
}

/* Overwrites 16 bytes in the middle of a file. */
static void dr_corrupt(const char *path)
{
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "CORRUPTCORRUPT!!", 16, 1000), 16);
    close(fd);
}

/* The file's bytes match the CRC32C its name ends with. */
typedef struct dr_crc_ok {
    const char *path;
} dr_crc_ok;

static bool dr_cond_crc_ok(void *ctx)
{
    dr_crc_ok *c = ctx;
    const char *dot = strrchr(c->path, '.');
    unsigned char buf[65536];
    uint32_t want, crc = 0;
    size_t n;
    FILE *f;
    if (dot == NULL || dx_dfs_crc_parse(dot + 1, strlen(dot + 1), &want) != 0)
        return false;
    if ((f = fopen(c->path, "rb")) == NULL)
        return false;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        crc = dx_crc32c(crc, buf, n);
    fclose(f);
    return crc == want;
}

/* Corrupt copies on disk: reads still return the right bytes; a scrub
 * finds them and the leader rewrites them from the good copy. */
static void test_corrupt_chunk(void **state)
{
    it *t = *state;
    DR_ONLY();
    const char *src;
    char p1[600], p2[600];
    dr_crc_ok c1 = {p1}, c2 = {p2};
    uint64_t from;

    (void)it_cluster(t, 3);
    src = dr_file(t, "corrupt.bin", 4 * 65536, 11);
    from = dxh_obs_mark(t->obs);
    dr_put(t, src, "corrupt.bin", "64");
    (void)dr_expect_meta(t, from, "corrupt.bin", 3, 0, IT_WAIT_MS);

    /* Chunk 0 bad on nodes 1 and 2: only node 3's copy is good. */
    assert_true(dr_chunk_path(t, 1, 0, p1, sizeof p1));
    assert_true(dr_chunk_path(t, 2, 0, p2, sizeof p2));
    dr_corrupt(p1);
    dr_corrupt(p2);
    assert_false(dr_cond_crc_ok(&c1));
    dr_get_same(t, "corrupt.bin", src, "corrupt.out1");

    from = dxh_obs_mark(t->obs);
    assert_int_equal(it_cli(t, NULL, NULL, "scrub", "1", NULL), 0);
    assert_int_equal(it_cli(t, NULL, NULL, "scrub", "2", NULL), 0);
    (void)it_expect_event(t, from, "scrub", IT_WAIT_MS);
    if (dxh_wait_until(dr_cond_crc_ok, &c1, IT_WAIT_MS, 50) != 0 ||
        dxh_wait_until(dr_cond_crc_ok, &c2, IT_WAIT_MS, 50) != 0)
        fail_msg("the corrupt copies of chunk 0 were not repaired");
    dr_get_same(t, "corrupt.bin", src, "corrupt.out2");
}

static bool dr_pred_stored(const dxh_msg *m, void *ctx)
{
    const it *t = ctx;
    char prefix[DX_TOPIC_MAX + 1];
    snprintf(prefix, sizeof prefix, "%s/dfs/stored/", t->root);
    return strncmp(m->topic, prefix, strlen(prefix)) == 0;
}

/* The leader dies while a put streams: the put ends either way with a
 * clear outcome, never a listed half file; a retry succeeds. */
static void test_leader_killed_during_put(void **state)
{
    it *t = *state;
    DR_ONLY();
    const char *src;
    const char *argv[16];
    dxh_proc *put;
    int status = 0, code;
    char *out = NULL, *err = NULL;
    char log[512];
    uint64_t from;

    (void)it_cluster(t, 3);
    src = dr_file(t, "big.bin", 20u << 20, 23);
    argv[0] = dxh_cli_bin();
    argv[1] = "--broker";
    argv[2] = dxh_broker_url(t->h);
    argv[3] = "--cluster";
    argv[4] = t->cluster;
    argv[5] = "put";
    argv[6] = src;
    argv[7] = "--name";
    argv[8] = "big.bin";
    argv[9] = "--chunk-kb";
    argv[10] = "64";
    argv[11] = NULL;
    from = dxh_obs_mark(t->obs);
    put = dxh_spawn(t->h, "put-big", argv, NULL);
    assert_non_null(put);
    if (dxh_obs_wait_for_from(t->obs, from, dr_pred_stored, t, IT_WAIT_MS) ==
        NULL)
        fail_msg("the put stored no chunk");
    it_signal(t, 3, SIGKILL);
    assert_int_equal(dxh_proc_wait(put, DR_RUN_MS, &status), 0);
    code = status;
    (void)it_expect_leader(t, from, 2, 1, NULL, IT_WAIT_MS);
    if (code == 0) {
        printf("    the put completed across the leader's death\n");
        dr_get_same(t, "big.bin", src, "big.out1");
    } else {
        snprintf(log, sizeof log, "%s", dxh_proc_log(put));
        err = it_slurp(log, 0);
        printf("    the put failed (exit %d): %s", code, err ? err : "");
        assert_int_equal(code, 1);
        assert_non_null(err);
        assert_true(strlen(err) > 10);
        free(err);
        err = NULL;
        /* Not listed, not half. */
        assert_int_equal(it_cli(t, &out, NULL, "ls", NULL), 0);
        if (strstr(out, "big.bin") != NULL)
            fail_msg("a failed put is listed:\n%s", out);
        free(out);
        out = NULL;
        /* The same put again, with the new leader, works. */
        dr_put(t, src, "big.bin", "64");
        dr_get_same(t, "big.bin", src, "big.out2");
    }
}

/* The first line of text that starts with prefix, or NULL. */
static const char *line_starting(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *l = text; l != NULL && *l != '\0';) {
        if (strncmp(l, prefix, n) == 0)
            return l;
        l = strchr(l, '\n');
        if (l != NULL)
            l++;
    }
    return NULL;
}

/* Readings of a periodic sensor task land in the DFS as log segments. */
static void test_sensor_logs(void **state)
{
    it *t = *state;
    DR_ONLY();
    const char *const node1[] = {"--sensor", "temp1 sim seed=3",
                                 "--log-flush-s", "1",
                                 "--log-flush-readings", "5", NULL};
    char *out = NULL, *text;
    char name[300], path[512];
    const char *p, *e;

    (void)it_agent(t, 1, node1);
    (void)it_agent(t, 2, NULL);
    (void)it_agent(t, 3, NULL);
    (void)it_expect_view(t, 0, 3, "1=online 2=online 3=online", IT_WAIT_MS);
    (void)it_expect_leader(t, 0, 3, 1, NULL, IT_WAIT_MS);
    assert_int_equal(it_cli(t, NULL, NULL, "submit", "--kind", "sensor.read",
                            "--device", "temp1", "--every", "100", "--id",
                            "logger", NULL), 0);
    /* Wait for a segment to be listed: a line that starts with its name
     * (not "No files under logs/1/temp1/."). */
    p = NULL;
    for (int i = 0; i < 100 && p == NULL; i++) {
        free(out);
        out = NULL;
        assert_int_equal(it_cli(t, &out, NULL, "ls", "logs/1/temp1/", NULL),
                         0);
        p = line_starting(out, "logs/1/temp1/");
        if (p == NULL)
            dxh_sleep_ms(200);
    }
    if (p == NULL)
        fail_msg("no sensor log segment listed: %s", out ? out : "");
    e = p + strcspn(p, " \t\n");
    snprintf(name, sizeof name, "%.*s", (int)(e - p), p);
    free(out);
    assert_int_equal(dxh_path(t->h, path, sizeof path, "segment.jsonl"), 0);
    assert_int_equal(it_cli(t, NULL, NULL, "get", name, "-o", path, NULL), 0);
    text = it_slurp(path, 0);
    assert_non_null(text);
    /* At least one reading per line, as JSON with a value. */
    assert_non_null(strstr(text, "\"value\":"));
    assert_non_null(strstr(text, "\"seq\":"));
    free(text);
    assert_int_equal(it_cli(t, NULL, NULL, "cancel", "logger", NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_repair_after_kill, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_chunk, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_leader_killed_during_put,
                                        it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(test_sensor_logs, it_setup,
                                        it_teardown),
    };
    return cmocka_run_group_tests_name("dfs_repair", tests, NULL, NULL);
}
