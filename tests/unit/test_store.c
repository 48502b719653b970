/*
 * test_store.c - unit tests of the chunk store (agent/store.c) on a real
 * temporary directory under /tmp and its real disk thread: round trips,
 * checksums on write and read, the on-disk layout, deletes, scrubs,
 * refused jobs (whose payloads must be freed: run under ASan to see a
 * leak), leftover temp files, byte accounting, the queue's byte bound,
 * closing with jobs queued, and 200 writes from four threads.
 *
 * The done callback copies each result into a collector and signals a
 * condition variable (CLOCK_MONOTONIC); the tests wait on it with
 * timeouts, so a lost result fails the test instead of hanging it.  To
 * hold jobs in the queue, a test submits a READ whose topic is "gate":
 * its callback blocks the disk thread until the test lets it go.  With
 * the gate in "probe" mode the callback instead submits 1-byte writes
 * until one is refused with DX_ESTATE, which tells it (without any
 * sleep) that dx_store_close has begun.  The callback never asserts:
 * cmocka's assertions must stay on the test's thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dx_hash.h"
#include "store.h"

enum { GATE_NONE, GATE_HOLD, GATE_PROBE };

typedef struct collector {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t n, cap;
    dx_store_result *r;         /* copies; r[i].data owned here */
    dx_store *store;            /* for the probing gate */
    int gate_mode;
    bool gate_in, gate_go;
    unsigned probes_accepted, probes_full, probes_other;
} collector;

static collector col;
static char tmpdir[64];
static size_t mark;             /* results before the latest submit */

/* ---- the collector ---- */

static void on_done(void *ctx, dx_store_result *r)
{
    collector *c = ctx;

    if (r->op == DX_STORE_READ && strcmp(r->topic, "gate") == 0) {
        pthread_mutex_lock(&c->mu);
        c->gate_in = true;
        pthread_cond_broadcast(&c->cv);
        while (!c->gate_go)
            pthread_cond_wait(&c->cv, &c->mu);
        pthread_mutex_unlock(&c->mu);
        while (c->gate_mode == GATE_PROBE) {
            dx_store_job j = {.op = DX_STORE_WRITE, .key = "probe", .len = 1};
            unsigned char *b = malloc(1);
            int rc;
            b[0] = 'p';
            j.owner = b;
            j.data = b;
            j.crc = dx_crc32c(0, b, 1);
            rc = dx_store_submit(c->store, &j);
            pthread_mutex_lock(&c->mu);
            if (rc == 0)
                c->probes_accepted++;
            else if (rc == DX_EFULL)
                c->probes_full++;
            else if (rc != DX_ESTATE)
                c->probes_other++;
            pthread_mutex_unlock(&c->mu);
            if (rc == DX_ESTATE || rc == 0)
                break;
            nanosleep(&(struct timespec){0, 100000}, NULL);
        }
    }
    pthread_mutex_lock(&c->mu);
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        dx_store_result *nr = realloc(c->r, cap * sizeof *nr);
        if (nr == NULL)
            abort();
        c->r = nr;
        c->cap = cap;
    }
    c->r[c->n++] = *r;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static struct timespec deadline_in(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

/* Waits until `count` results arrived in total; false on timeout. */
static bool wait_results(size_t count, int64_t timeout_ms)
{
    struct timespec ts = deadline_in(timeout_ms);
    bool ok;

    pthread_mutex_lock(&col.mu);
    while (col.n < count &&
           pthread_cond_timedwait(&col.cv, &col.mu, &ts) != ETIMEDOUT)
        ;
    ok = col.n >= count;
    pthread_mutex_unlock(&col.mu);
    return ok;
}

static bool wait_gate_in(void)
{
    struct timespec ts = deadline_in(10000);
    bool ok;

    pthread_mutex_lock(&col.mu);
    while (!col.gate_in &&
           pthread_cond_timedwait(&col.cv, &col.mu, &ts) != ETIMEDOUT)
        ;
    ok = col.gate_in;
    pthread_mutex_unlock(&col.mu);
    return ok;
}

static void open_gate(void)
{
    pthread_mutex_lock(&col.mu);
    col.gate_go = true;
    pthread_cond_broadcast(&col.cv);
    pthread_mutex_unlock(&col.mu);
}

static size_t results(void)
{
    size_t n;
    pthread_mutex_lock(&col.mu);
    n = col.n;
    pthread_mutex_unlock(&col.mu);
    return n;
}

/* The i-th result (which must have arrived); the collector keeps data. */
static dx_store_result *result(size_t i)
{
    dx_store_result *r;
    pthread_mutex_lock(&col.mu);
    assert_true(i < col.n);
    r = &col.r[i];
    pthread_mutex_unlock(&col.mu);
    return r;
}

/* ---- files ---- */

static void rm_rf(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *e;

    if (lstat(path, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    d = opendir(path);
    if (d != NULL) {
        while ((e = readdir(d)) != NULL) {
            char sub[512];
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rm_rf(sub);
        }
        closedir(d);
    }
    rmdir(path);
}

static void path_of(char *buf, size_t cap, const char *rel)
{
    snprintf(buf, cap, "%s/%s", tmpdir, rel);
}

static bool exists(const char *rel)
{
    char p[512];
    struct stat st;
    path_of(p, sizeof p, rel);
    return lstat(p, &st) == 0;
}

/* Entries of a directory under tmpdir, "." and ".." aside; -1 if absent. */
static int count_entries(const char *rel)
{
    char p[512];
    DIR *d;
    struct dirent *e;
    int n = 0;

    path_of(p, sizeof p, rel);
    d = opendir(p);
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void write_file(const char *rel, const void *data, size_t len)
{
    char p[512];
    FILE *f;
    path_of(p, sizeof p, rel);
    f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void make_dir(const char *rel)
{
    char p[512];
    path_of(p, sizeof p, rel);
    assert_int_equal(mkdir(p, 0700), 0);
}

/* Flips one byte of a file in place. */
static void corrupt(const char *rel, long at)
{
    char p[512];
    int c;
    FILE *f;
    path_of(p, sizeof p, rel);
    f = fopen(p, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, at, SEEK_SET), 0);
    c = fgetc(f);
    assert_true(c != EOF);
    assert_int_equal(fseek(f, at, SEEK_SET), 0);
    assert_int_equal(fputc(c ^ 0x5a, f), c ^ 0x5a);
    assert_int_equal(fclose(f), 0);
}

static void chunk_rel(char *buf, size_t cap, const char *key, uint32_t index,
                      uint32_t crc)
{
    snprintf(buf, cap, "chunks/%s/%" PRIu32 ".%08" PRIx32, key, index, crc);
}

/* ---- jobs ---- */

static void fill(unsigned char *p, size_t len, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (unsigned char)x;
    }
}

/* Submits a write of a copy of data[0..len) (the store frees the copy). */
static int put(dx_store *s, const char *key, uint32_t index,
               const void *data, size_t len, uint32_t crc)
{
    dx_store_job j = {.op = DX_STORE_WRITE, .index = index, .crc = crc,
                      .len = len};
    void *copy = malloc(len ? len : 1);
    if (copy == NULL)
        return DX_ENOMEM;
    memcpy(copy, data, len);
    snprintf(j.key, sizeof j.key, "%s", key);
    j.owner = copy;
    j.data = copy;
    mark = results();
    return dx_store_submit(s, &j);
}

static int get(dx_store *s, const char *key, uint32_t index, uint32_t crc,
               const char *topic)
{
    dx_store_job j = {.op = DX_STORE_READ, .index = index, .crc = crc};
    snprintf(j.key, sizeof j.key, "%s", key);
    snprintf(j.topic, sizeof j.topic, "%s", topic);
    mark = results();
    return dx_store_submit(s, &j);
}

static int del(dx_store *s, const char *key, uint32_t index)
{
    dx_store_job j = {.op = DX_STORE_DELETE, .index = index};
    snprintf(j.key, sizeof j.key, "%s", key);
    mark = results();
    return dx_store_submit(s, &j);
}

static int scrub(dx_store *s)
{
    dx_store_job j = {.op = DX_STORE_SCRUB};
    mark = results();
    return dx_store_submit(s, &j);
}

/* Waits for the result of the job the helper above just submitted (they
 * note the count first: the job may finish before submit returns);
 * returns the result's index. */
static size_t one(int submit_rc)
{
    size_t n = mark;
    assert_int_equal(submit_rc, 0);
    assert_true(wait_results(n + 1, 20000));
    return n;
}

static dx_store *open_store(void)
{
    dx_store *s = NULL;
    dx_diag d = {{0}};
    int rc = dx_store_open(&s, tmpdir, on_done, &col, &d);
    if (rc != 0)
        fail_msg("dx_store_open: %d %s", rc, d.msg);
    col.store = s;
    return s;
}

/* ---- fixtures ---- */

static int setup(void **state)
{
    pthread_condattr_t a;

    (void)state;
    memset(&col, 0, sizeof col);
    pthread_mutex_init(&col.mu, NULL);
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&col.cv, &a);
    pthread_condattr_destroy(&a);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dx-store-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < col.n; i++)
        free(col.r[i].data);
    free(col.r);
    pthread_cond_destroy(&col.cv);
    pthread_mutex_destroy(&col.mu);
    rm_rf(tmpdir);
    return 0;
}

/* ---- tests ---- */

static void test_round_trip(void **state)
{
    enum { LEN = 10000 };
    unsigned char data[LEN];
    char rel[128], p[512];
    struct stat st;
    dx_store_result *r;
    dx_store *s;
    uint32_t crc;

    (void)state;
    fill(data, LEN, 1);
    crc = dx_crc32c(0, data, LEN);
    s = open_store();
    assert_true(exists("chunks"));
    assert_int_equal(dx_store_bytes(s), 0);

    r = result(one(put(s, "k1", 7, data, LEN, crc)));
    assert_int_equal(r->op, DX_STORE_WRITE);
    assert_int_equal(r->rc, 0);
    assert_string_equal(r->key, "k1");
    assert_int_equal(r->index, 7);
    assert_int_equal(r->crc, crc);

    chunk_rel(rel, sizeof rel, "k1", 7, crc);
    path_of(p, sizeof p, rel);
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, LEN);
    assert_int_equal(count_entries("chunks/k1"), 1);   /* no .tmp left */
    path_of(p, sizeof p, "chunks/k1");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(dx_store_bytes(s), LEN);

    r = result(one(get(s, "k1", 7, crc, "some/reply/topic")));
    assert_int_equal(r->op, DX_STORE_READ);
    assert_int_equal(r->rc, 0);
    assert_string_equal(r->topic, "some/reply/topic");
    assert_int_equal(r->len, LEN);
    assert_non_null(r->data);
    assert_memory_equal(r->data, data, LEN);

    /* Writing the same chunk again replaces it and counts it once. */
    r = result(one(put(s, "k1", 7, data, LEN, crc)));
    assert_int_equal(r->rc, 0);
    assert_int_equal(dx_store_bytes(s), LEN);
    assert_int_equal(count_entries("chunks/k1"), 1);

    /* An empty chunk is a chunk too. */
    r = result(one(put(s, "k1", 8, "", 0, 0)));
    assert_int_equal(r->rc, 0);
    r = result(one(get(s, "k1", 8, 0, "t")));
    assert_int_equal(r->rc, 0);
    assert_int_equal(r->len, 0);
    dx_store_close(&s);
    assert_null(s);
}

static void test_wrong_crc(void **state)
{
    unsigned char data[4096];
    dx_store_result *r;
    dx_store *s;
    uint32_t crc;

    (void)state;
    fill(data, sizeof data, 2);
    crc = dx_crc32c(0, data, sizeof data);
    s = open_store();
    r = result(one(put(s, "bad", 0, data, sizeof data, crc ^ 1)));
    assert_int_equal(r->rc, DX_ECHECKSUM);
    assert_true(r->error[0] != '\0');
    assert_false(exists("chunks/bad"));
    assert_int_equal(count_entries("chunks"), 0);
    assert_int_equal(dx_store_bytes(s), 0);
    dx_store_close(&s);
}

/* A failed write leaves no temp file and counts nothing: the rename
 * fails (a directory holds the name), and a write past RLIMIT_FSIZE fails
 * part way (EFBIG after a short write, as ENOSPC would). */
static void test_write_failures(void **state)
{
    unsigned char data[4096];
    struct rlimit old, small;
    char rel[128];
    dx_store_result *r;
    dx_store *s;
    uint32_t crc;

    (void)state;
    fill(data, sizeof data, 7);
    crc = dx_crc32c(0, data, sizeof data);
    s = open_store();
    make_dir("chunks/f1");
    chunk_rel(rel, sizeof rel, "f1", 0, crc);
    make_dir(rel);
    r = result(one(put(s, "f1", 0, data, sizeof data, crc)));
    assert_int_equal(r->rc, DX_EIO);
    assert_non_null(strstr(r->error, "rename"));
    assert_int_equal(count_entries("chunks/f1"), 1);    /* the directory */
    assert_int_equal(dx_store_bytes(s), 0);

    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = old;
    small.rlim_cur = 1000;
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    r = result(one(put(s, "f2", 0, data, sizeof data, crc)));
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);
    assert_int_equal(r->rc, DX_EIO);
    assert_non_null(strstr(r->error, "write f2/.tmp-0."));
    assert_false(exists("chunks/f2"));      /* new key directory removed */
    assert_int_equal(dx_store_bytes(s), 0);

    /* The same write works once the limit is gone. */
    assert_int_equal(result(one(put(s, "f2", 0, data, sizeof data,
                                    crc)))->rc, 0);
    assert_int_equal(count_entries("chunks/f2"), 1);
    assert_int_equal(dx_store_bytes(s), sizeof data);
    dx_store_close(&s);
}

static void test_read_missing_and_corrupt(void **state)
{
    unsigned char data[5000];
    char rel[128];
    dx_store_result *r;
    dx_store *s;
    uint32_t crc;

    (void)state;
    fill(data, sizeof data, 3);
    crc = dx_crc32c(0, data, sizeof data);
    s = open_store();
    r = result(one(get(s, "nokey", 0, crc, "t")));
    assert_int_equal(r->rc, DX_ENOTFOUND);
    assert_null(r->data);

    assert_int_equal(result(one(put(s, "c1", 3, data, sizeof data, crc)))->rc,
                     0);
    /* Another crc or index of an existing key is not there either. */
    r = result(one(get(s, "c1", 3, crc ^ 0x10, "t")));
    assert_int_equal(r->rc, DX_ENOTFOUND);
    r = result(one(get(s, "c1", 4, crc, "t")));
    assert_int_equal(r->rc, DX_ENOTFOUND);

    chunk_rel(rel, sizeof rel, "c1", 3, crc);
    corrupt(rel, 1234);
    r = result(one(get(s, "c1", 3, crc, "t")));
    assert_int_equal(r->rc, DX_ECHECKSUM);
    assert_null(r->data);
    assert_true(r->error[0] != '\0');
    dx_store_close(&s);
}

/* A result of a scrub for key/index, from results [from, to). */
static const dx_store_item *scrub_item(size_t from, size_t to,
                                       const char *key, uint32_t index)
{
    for (size_t i = from; i < to; i++) {
        dx_store_result *r = result(i);
        for (size_t k = 0; k < r->n; k++)
            if (strcmp(r->items[k].key, key) == 0 &&
                r->items[k].index == index)
                return &r->items[k];
    }
    return NULL;
}

/* Submits a scrub (nothing else may be in flight) and waits for its last
 * batch; its results are [*from, *to). */
static void run_scrub(dx_store *s, size_t *from, size_t *to)
{
    size_t n = results();

    *from = n;
    assert_int_equal(scrub(s), 0);
    for (;;) {
        assert_true(wait_results(n + 1, 60000));
        assert_int_equal(result(n)->op, DX_STORE_SCRUB);
        if (result(n)->last)
            break;
        assert_int_equal(result(n)->n, DX_STORE_SCRUB_BATCH);
        n++;
    }
    *to = n + 1;
}

static void test_scrub(void **state)
{
    unsigned char a[3000], b[6000], c[100];
    uint32_t ca, cb, cc;
    char rel[128], p[512];
    struct timespec old[2];
    const dx_store_item *it;
    dx_store_result *last;
    size_t from, to;
    dx_store *s;

    (void)state;
    fill(a, sizeof a, 4);
    fill(b, sizeof b, 5);
    fill(c, sizeof c, 6);
    ca = dx_crc32c(0, a, sizeof a);
    cb = dx_crc32c(0, b, sizeof b);
    cc = dx_crc32c(0, c, sizeof c);
    s = open_store();
    assert_int_equal(result(one(put(s, "s1", 0, a, sizeof a, ca)))->rc, 0);
    assert_int_equal(result(one(put(s, "s1", 1, b, sizeof b, cb)))->rc, 0);
    assert_int_equal(result(one(put(s, "s2", 0, c, sizeof c, cc)))->rc, 0);
    chunk_rel(rel, sizeof rel, "s1", 1, cb);
    corrupt(rel, 10);

    /* Names the scrub must skip, and temp files: one old, one fresh. */
    write_file("chunks/s1/junk", "x", 1);
    write_file("chunks/s1/5.XYZ", "x", 1);
    write_file("chunks/s1/01.00000000", "x", 1);
    write_file("chunks/s2/.tmp-9.00000000", "x", 1);
    write_file("chunks/s2/.tmp-8.00000000", "x", 1);
    path_of(p, sizeof p, "chunks/s2/1.00000000");  /* must not hang */
    assert_int_equal(mkfifo(p, 0600), 0);
    make_dir("chunks/NotAKey");
    write_file("chunks/NotAKey/0.00000000", "", 0);
    path_of(p, sizeof p, "chunks/s2/.tmp-9.00000000");
    clock_gettime(CLOCK_REALTIME, &old[0]);
    old[0].tv_sec -= 120;
    old[1] = old[0];
    assert_int_equal(utimensat(AT_FDCWD, p, old, 0), 0);

    run_scrub(s, &from, &to);
    assert_int_equal(to - from, 1);         /* four items: one batch */
    last = result(to - 1);
    assert_true(last->last);
    assert_int_equal(last->rc, 0);
    assert_int_equal(last->chunks, 4);
    assert_int_equal(last->bad, 2);
    assert_int_equal(last->n, 4);

    it = scrub_item(from, to, "s1", 0);
    assert_non_null(it);
    assert_true(it->ok);
    assert_int_equal(it->crc, ca);
    assert_int_equal(it->size, sizeof a);
    assert_true(it->age_ms >= -1000 && it->age_ms < 60000);
    it = scrub_item(from, to, "s1", 1);
    assert_non_null(it);
    assert_false(it->ok);
    assert_int_equal(it->crc, cb);
    assert_int_equal(it->size, sizeof b);
    it = scrub_item(from, to, "s2", 0);
    assert_non_null(it);
    assert_true(it->ok);
    assert_int_equal(it->size, sizeof c);

    it = scrub_item(from, to, "s2", 1);     /* the FIFO */
    assert_non_null(it);
    assert_false(it->ok);
    assert_int_equal(result(one(get(s, "s2", 1, 0, "t")))->rc, DX_EIO);

    assert_false(exists("chunks/s2/.tmp-9.00000000"));
    assert_true(exists("chunks/s2/.tmp-8.00000000"));
    assert_true(exists("chunks/s1/junk"));
    assert_true(exists("chunks/s1/5.XYZ"));
    assert_true(exists("chunks/s1/01.00000000"));
    assert_int_equal(dx_store_bytes(s), sizeof a + sizeof b + sizeof c);
    dx_store_close(&s);
}

static void test_delete(void **state)
{
    unsigned char d[3][2048];
    uint32_t crc[3];
    char rel[128];
    dx_store *s;

    (void)state;
    s = open_store();
    for (uint32_t i = 0; i < 3; i++) {
        fill(d[i], sizeof d[i], 10 + i);
        crc[i] = dx_crc32c(0, d[i], sizeof d[i]);
        assert_int_equal(
            result(one(put(s, "del", i, d[i], sizeof d[i], crc[i])))->rc, 0);
    }
    assert_int_equal(result(one(put(s, "keep", 0, d[0], sizeof d[0],
                                    crc[0])))->rc, 0);
    assert_int_equal(dx_store_bytes(s), 4 * 2048);

    /* One index, whatever its crc; twice is fine. */
    assert_int_equal(result(one(del(s, "del", 1)))->rc, 0);
    chunk_rel(rel, sizeof rel, "del", 1, crc[1]);
    assert_false(exists(rel));
    chunk_rel(rel, sizeof rel, "del", 0, crc[0]);
    assert_true(exists(rel));
    assert_int_equal(count_entries("chunks/del"), 2);
    assert_int_equal(dx_store_bytes(s), 3 * 2048);
    assert_int_equal(result(one(del(s, "del", 1)))->rc, 0);
    assert_int_equal(result(one(get(s, "del", 1, crc[1], "t")))->rc,
                     DX_ENOTFOUND);

    /* The whole key, with a stray file in it. */
    write_file("chunks/del/.tmp-2.00000000", "xx", 2);
    assert_int_equal(result(one(del(s, "del", DX_DFS_ALL)))->rc, 0);
    assert_false(exists("chunks/del"));
    assert_true(exists("chunks/keep"));
    assert_int_equal(dx_store_bytes(s), 2048);
    assert_int_equal(result(one(del(s, "del", DX_DFS_ALL)))->rc, 0);
    assert_int_equal(result(one(del(s, "never", 3)))->rc, 0);
    dx_store_close(&s);
}

static void test_refused_jobs(void **state)
{
    static const char *const bad_keys[] = {"../x", "A", "", "a/b", "a.b",
                                           "..", "k-1"};
    dx_store_job j;
    dx_store *s;

    (void)state;
    s = open_store();
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
        /* Each refused write's owner is freed by submit: ASan would
         * report it as a leak otherwise. */
        assert_int_equal(put(s, bad_keys[i], 0, "abc", 3,
                             dx_crc32c(0, "abc", 3)), DX_EINVAL);
        assert_int_equal(get(s, bad_keys[i], 0, 0, "t"), DX_EINVAL);
        assert_int_equal(del(s, bad_keys[i], DX_DFS_ALL), DX_EINVAL);
    }
    /* 25 characters, with no NUL inside the key array. */
    memset(&j, 0, sizeof j);
    j.op = DX_STORE_READ;
    memset(j.key, 'a', sizeof j.key);
    assert_int_equal(dx_store_submit(s, &j), DX_EINVAL);

    memset(&j, 0, sizeof j);
    snprintf(j.key, sizeof j.key, "ok");
    j.op = DX_STORE_WRITE;                    /* no data */
    j.owner = malloc(16);
    assert_int_equal(dx_store_submit(s, &j), DX_EINVAL);
    j.op = 0;                                 /* no such op */
    assert_int_equal(dx_store_submit(s, &j), DX_EINVAL);
    j.op = 99;
    assert_int_equal(dx_store_submit(s, &j), DX_EINVAL);
    assert_int_equal(put(s, "ok", DX_DFS_CHUNKS_MAX, "a", 1, 0), DX_EINVAL);
    assert_int_equal(put(s, "ok", DX_DFS_ALL, "a", 1, 0), DX_EINVAL);
    assert_int_equal(get(s, "ok", DX_DFS_ALL, 0, "t"), DX_EINVAL);
    j.op = DX_STORE_WRITE;                    /* too long */
    j.owner = malloc(1);
    j.data = j.owner;
    j.len = DX_DFS_CHUNK_MAX + 1;
    assert_int_equal(dx_store_submit(s, &j), DX_EINVAL);
    /* A store that is not there still frees the payload. */
    j.owner = malloc(1);
    j.len = 1;
    assert_int_equal(dx_store_submit(NULL, &j), DX_EINVAL);
    assert_int_equal(dx_store_submit(s, NULL), DX_EINVAL);

    /* No done call followed and nothing reached the disk. */
    assert_int_equal(result(one(get(s, "zz", 0, 0, "t")))->rc, DX_ENOTFOUND);
    assert_int_equal(results(), 1);
    assert_int_equal(count_entries("chunks"), 0);
    assert_int_equal(count_entries(""), 1);
    dx_store_close(&s);
    dx_store_close(&s);                       /* NULL-safe */
    dx_store_close(NULL);
}

static void test_open_cleans_and_counts(void **state)
{
    unsigned char data[777];
    char rel[128];
    dx_diag d = {{0}};
    dx_store *s = NULL;
    char missing[128];
    uint32_t crc;

    (void)state;
    fill(data, sizeof data, 20);
    crc = dx_crc32c(0, data, sizeof data);
    make_dir("chunks");
    make_dir("chunks/old");
    chunk_rel(rel, sizeof rel, "old", 2, crc);
    write_file(rel, data, sizeof data);
    write_file("chunks/old/.tmp-3.00000000", "left over", 9);
    write_file("chunks/old/notes", "not counted", 11);

    s = open_store();
    assert_false(exists("chunks/old/.tmp-3.00000000"));
    assert_true(exists("chunks/old/notes"));
    assert_int_equal(dx_store_bytes(s), sizeof data);
    assert_int_equal(result(one(get(s, "old", 2, crc, "t")))->rc, 0);
    dx_store_close(&s);

    snprintf(missing, sizeof missing, "%s/no/such/dir", tmpdir);
    assert_int_equal(dx_store_open(&s, missing, on_done, &col, &d), DX_EIO);
    assert_null(s);
    assert_true(d.msg[0] != '\0');
    assert_int_equal(dx_store_open(&s, tmpdir, NULL, &col, NULL), DX_EINVAL);
}

/* Holds the disk thread in the gate and queues 64 MiB of writes. */
static void fill_queue(dx_store *s, dx_store_job *jobs, size_t n)
{
    dx_store_job j = {.op = DX_STORE_READ};

    snprintf(j.key, sizeof j.key, "gate");
    snprintf(j.topic, sizeof j.topic, "gate");
    assert_int_equal(dx_store_submit(s, &j), 0);
    assert_true(wait_gate_in());
    for (size_t i = 0; i < n; i++) {
        jobs[i] = (dx_store_job){.op = DX_STORE_WRITE, .index = (uint32_t)i,
                                 .crc = 1, .len = DX_DFS_CHUNK_MAX};
        snprintf(jobs[i].key, sizeof jobs[i].key, "q");
        jobs[i].owner = calloc(1, DX_DFS_CHUNK_MAX);
        assert_non_null(jobs[i].owner);
        jobs[i].data = jobs[i].owner;
        assert_int_equal(dx_store_submit(s, &jobs[i]), 0);
    }
}

static void test_queue_bound(void **state)
{
    enum { N = DX_STORE_QUEUE_BYTES / DX_DFS_CHUNK_MAX };
    dx_store_job jobs[N];
    dx_store *s;

    (void)state;
    assert_int_equal(N * (size_t)DX_DFS_CHUNK_MAX, DX_STORE_QUEUE_BYTES);
    s = open_store();
    col.gate_mode = GATE_HOLD;
    fill_queue(s, jobs, N);
    /* Exactly at the bound: one more byte is refused (and freed), other
     * jobs are still taken. */
    assert_int_equal(put(s, "q", 100, "x", 1, dx_crc32c(0, "x", 1)),
                     DX_EFULL);
    assert_int_equal(get(s, "q", 0, 0, "t"), 0);
    open_gate();
    /* gate + N writes (wrong crc: refused by the thread) + the read */
    assert_true(wait_results(N + 2, 60000));
    for (size_t i = 1; i <= N; i++) {
        assert_int_equal(result(i)->op, DX_STORE_WRITE);
        assert_int_equal(result(i)->rc, DX_ECHECKSUM);
    }
    assert_int_equal(result(N + 1)->rc, DX_ENOTFOUND);
    assert_int_equal(result(one(put(s, "q", 100, "x", 1,
                                    dx_crc32c(0, "x", 1))))->rc, 0);
    assert_int_equal(dx_store_bytes(s), 1);
    dx_store_close(&s);
}

static void test_close_with_queued_jobs(void **state)
{
    enum { N = DX_STORE_QUEUE_BYTES / DX_DFS_CHUNK_MAX };
    dx_store_job jobs[N];
    dx_store *s;

    (void)state;
    s = open_store();
    col.gate_mode = GATE_PROBE;
    fill_queue(s, jobs, N);
    assert_int_equal(get(s, "q", 0, 0, "reply"), 0);
    assert_int_equal(del(s, "q", DX_DFS_ALL), 0);
    assert_int_equal(scrub(s), 0);
    open_gate();             /* the gate probes until close has begun */
    dx_store_close(&s);
    assert_null(s);

    assert_int_equal(results(), 1 + N + 3);
    assert_int_equal(col.probes_accepted, 0);
    assert_int_equal(col.probes_other, 0);
    assert_int_equal(result(0)->rc, DX_ENOTFOUND);      /* the gate */
    for (size_t i = 1; i <= N; i++) {
        assert_int_equal(result(i)->op, DX_STORE_WRITE);
        assert_int_equal(result(i)->rc, DX_ESTATE);
        assert_int_equal(result(i)->index, i - 1);
    }
    assert_int_equal(result(N + 1)->op, DX_STORE_READ);
    assert_int_equal(result(N + 1)->rc, DX_ESTATE);
    assert_string_equal(result(N + 1)->topic, "reply");
    assert_null(result(N + 1)->data);
    assert_int_equal(result(N + 2)->op, DX_STORE_DELETE);
    assert_int_equal(result(N + 2)->rc, DX_ESTATE);
    assert_int_equal(result(N + 3)->op, DX_STORE_SCRUB);
    assert_int_equal(result(N + 3)->rc, DX_ESTATE);
    assert_true(result(N + 3)->last);
    assert_false(exists("chunks/q"));
}

enum { CW_THREADS = 4, CW_PER = 50, CW_LEN = 64 * 1024 };

typedef struct cw_arg {
    dx_store *s;
    uint32_t first;
    int bad_rc;
} cw_arg;

static void *cw_main(void *p)
{
    cw_arg *a = p;
    for (uint32_t i = a->first; i < a->first + CW_PER; i++) {
        unsigned char *b = malloc(CW_LEN);
        dx_store_job j = {.op = DX_STORE_WRITE, .index = i, .len = CW_LEN};
        int rc;
        if (b == NULL) {
            a->bad_rc = DX_ENOMEM;
            break;
        }
        fill(b, CW_LEN, 1000 + i);
        snprintf(j.key, sizeof j.key, "many");
        j.owner = b;
        j.data = b;
        j.crc = dx_crc32c(0, b, CW_LEN);
        rc = dx_store_submit(a->s, &j);
        if (rc != 0)
            a->bad_rc = rc;
    }
    return NULL;
}

static void test_concurrent_writes(void **state)
{
    enum { TOTAL = CW_THREADS * CW_PER };
    pthread_t th[CW_THREADS];
    cw_arg args[CW_THREADS];
    unsigned char *want = malloc(CW_LEN);
    size_t base, from, to, items = 0;
    dx_store *s;

    (void)state;
    assert_non_null(want);
    s = open_store();
    for (int t = 0; t < CW_THREADS; t++) {
        args[t] = (cw_arg){s, (uint32_t)(t * CW_PER), 0};
        assert_int_equal(pthread_create(&th[t], NULL, cw_main, &args[t]), 0);
    }
    for (int t = 0; t < CW_THREADS; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(args[t].bad_rc, 0);
    }
    assert_true(wait_results(TOTAL, 120000));
    for (size_t i = 0; i < TOTAL; i++) {
        assert_int_equal(result(i)->op, DX_STORE_WRITE);
        assert_int_equal(result(i)->rc, 0);
    }
    assert_int_equal(count_entries("chunks/many"), TOTAL);
    assert_int_equal(dx_store_bytes(s), (uint64_t)TOTAL * CW_LEN);

    base = results();
    for (uint32_t i = 0; i < TOTAL; i++) {
        fill(want, CW_LEN, 1000 + i);
        assert_int_equal(get(s, "many", i, dx_crc32c(0, want, CW_LEN), "t"),
                         0);
    }
    assert_true(wait_results(base + TOTAL, 120000));
    for (uint32_t i = 0; i < TOTAL; i++) {
        dx_store_result *r = result(base + i);
        fill(want, CW_LEN, 1000 + i);
        assert_int_equal(r->rc, 0);
        assert_int_equal(r->index, i);         /* one thread: FIFO */
        assert_int_equal(r->len, CW_LEN);
        assert_memory_equal(r->data, want, CW_LEN);
    }

    /* 200 chunks: one full batch, then the last with the rest. */
    run_scrub(s, &from, &to);
    assert_int_equal(to - from, 2);
    assert_false(result(from)->last);
    assert_int_equal(result(from)->n, DX_STORE_SCRUB_BATCH);
    for (size_t i = from; i < to; i++)
        for (size_t k = 0; k < result(i)->n; k++) {
            assert_true(result(i)->items[k].ok);
            assert_int_equal(result(i)->items[k].size, CW_LEN);
            items++;
        }
    assert_int_equal(items, TOTAL);
    assert_int_equal(result(to - 1)->chunks, TOTAL);
    assert_int_equal(result(to - 1)->bad, 0);
    free(want);
    dx_store_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_crc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_missing_and_corrupt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scrub, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_jobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_cleans_and_counts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_queue_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_with_queued_jobs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writes, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
