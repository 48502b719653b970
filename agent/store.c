/*
 * store.c - the agent's chunk store.  See store.h for the contract.
 *
 * One disk thread takes jobs from a FIFO list guarded by one mutex and one
 * condition variable (no timed waits, so the clock of the condition does
 * not matter); it runs each job and calls done outside the lock, exactly
 * once per job (a scrub calls it once per batch, `last` on the final one).
 * Every path is relative to a directory descriptor of {dir}/chunks opened
 * once (openat, mkdirat, renameat, unlinkat, all with O_NOFOLLOW where a
 * file is opened), and the only names ever joined into a path are a key
 * checked against [0-9a-z]{1,24} and names the store formats itself from
 * integers, so a path can never leave {dir}/chunks.
 *
 * A write costs a CRC pass over the bytes, one file write, two fsyncs (the
 * file and its directory, three when the key directory is new) and a
 * rename; a read one file read and a CRC pass; a scrub reads every chunk
 * through a 64 KiB buffer (no allocation per file).  The byte count starts
 * from a scan at open, moves with each write and delete, and is set again
 * from the sizes a complete scrub saw.
 *
 * Limits: a chunk rewritten with another CRC under the same index leaves
 * the old file beside it until a delete (which removes every CRC of an
 * index); the store never looks for such pairs because that would scan
 * the key directory on every write.  dx_store_close must not be called
 * from the done callback (the thread would join itself).
 */
#define _GNU_SOURCE 1             /* O_DIRECT */
#include "store.h"

#include "dx_hash.h"
#include "sysload.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMP_PREFIX ".tmp-"
#define TMP_PREFIX_LEN 5
#define TMP_MAX_AGE_MS 60000      /* a scrub removes temp files older */
#define SCRUB_BUF 65536u
#define DIRECT_ALIGN 4096u        /* O_DIRECT: buffer, length, offset */
#define DIRECT_MIN (64u * 1024u)  /* smaller chunks: buffered */
#define NAME_MAX_LEN 32           /* ".tmp-4294967295.ffffffff" and a NUL */

typedef struct node {
    struct node *next;
    dx_store_job job;
} node;

struct dx_store {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    node *head, *tail;            /* under mu */
    size_t qbytes;                /* under mu: write payloads not finished */
    bool stopping;                /* under mu */
    atomic_bool stop;             /* stopping, read by a scrub without mu */
    _Atomic uint64_t bytes;       /* written by the thread only */
    int chunks_fd;
    pthread_t th;
    dx_store_done_fn done;
    void *ctx;
    unsigned char *buf;           /* SCRUB_BUF, the thread's */
    unsigned char *abuf;          /* aligned copy for O_DIRECT, the thread's */
    size_t abuf_cap;
    dx_store_result res;          /* the thread's result, reused */
};

/* ---- names ---- */

/* Checked here too, independent of the codec: a key becomes a path. */
static bool key_is_safe(const char *key)
{
    size_t n = 0;

    if (memchr(key, '\0', DX_DFS_KEY_MAX + 1) == NULL)
        return false;
    for (; key[n]; n++)
        if (!((key[n] >= '0' && key[n] <= '9') ||
              (key[n] >= 'a' && key[n] <= 'z')))
            return false;
    return n >= 1 && n <= DX_DFS_KEY_MAX && dx_dfs_key_is_valid(key);
}

static void chunk_name(char buf[NAME_MAX_LEN], const char *prefix,
                       uint32_t index, uint32_t crc)
{
    snprintf(buf, NAME_MAX_LEN, "%s%" PRIu32 ".%08" PRIx32, prefix, index,
             crc);
}

/* True when name is exactly "{index}.{crc}" as chunk_name writes it: a
 * decimal without leading zeros below DX_DFS_ALL, a dot, 8 lowercase hex
 * digits. */
static bool chunk_name_parse(const char *name, uint32_t *index,
                             uint32_t *crc)
{
    uint64_t v = 0;
    uint32_t c = 0;
    size_t i = 0;

    for (; name[i] >= '0' && name[i] <= '9'; i++) {
        if (i == 10 || (i == 1 && name[0] == '0'))
            return false;
        v = v * 10 + (uint64_t)(name[i] - '0');
    }
    if (i == 0 || v >= DX_DFS_ALL || name[i] != '.')
        return false;
    name += i + 1;
    for (i = 0; i < 8; i++) {
        char ch = name[i];
        uint32_t d;
        if (ch >= '0' && ch <= '9')
            d = (uint32_t)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            d = (uint32_t)(ch - 'a' + 10);
        else
            return false;
        c = c << 4 | d;
    }
    if (name[8] != '\0')
        return false;
    *index = (uint32_t)v;
    *crc = c;
    return true;
}

/* ---- results and errors ---- */

static void result_init(dx_store_result *r, const dx_store_job *j)
{
    /* The items are written as a scrub fills them, not cleared here. */
    memset(r, 0, offsetof(dx_store_result, items));
    r->last = false;
    r->chunks = r->bad = 0;
    r->op = j->op;
    memcpy(r->key, j->key, sizeof r->key);
    r->index = j->index;
    r->crc = j->crc;
    if (j->op == DX_STORE_READ)
        memcpy(r->topic, j->topic, sizeof r->topic);
}

/* Sets rc DX_EIO and "what key/name: errno text"; returns DX_EIO. */
static int fail_errno(dx_store_result *r, const char *what, const char *key,
                      const char *name, int err)
{
    char text[96], full[320];

    if (strerror_r(err, text, sizeof text) != 0)
        snprintf(text, sizeof text, "errno %d", err);
    snprintf(full, sizeof full, "%.24s %.24s%s%.40s: %.96s", what, key,
             name[0] ? "/" : "", name, text);
    snprintf(r->error, sizeof r->error, "%.*s", (int)sizeof r->error - 1,
             full);
    r->rc = DX_EIO;
    return DX_EIO;
}

/* ---- plain I/O ---- */

static int write_all(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (n == 0)
            return EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads up to len bytes (fewer at end of file) into p; *got says how
 * many.  0 or an errno. */
static int read_upto(int fd, unsigned char *p, size_t len, size_t *got)
{
    size_t have = 0;

    while (have < len) {
        ssize_t n = read(fd, p + have, len - have);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            *got = have;
            return errno;
        }
        if (n == 0)
            break;
        have += (size_t)n;
    }
    *got = have;
    return 0;
}

/*
 * Writes a chunk into the fresh file fd.  The bulk (whole 4 KiB blocks)
 * goes through O_DIRECT from an aligned copy, the tail through the page
 * cache: a buffered write of a new file makes the kernel allocate and fill
 * a page-cache page for every 4 KiB, which was the largest cost of an
 * agent during a put (half its CPU with three agents and the broker on two
 * cores); the chunk is fsynced anyway, and a filesystem that refuses
 * O_DIRECT (tmpfs) gets buffered writes.
 */
static int write_chunk(dx_store *s, int fd, const unsigned char *p, size_t len)
{
    size_t bulk = len & ~(size_t)(DIRECT_ALIGN - 1);
    int fl, err;

    if (bulk < DIRECT_MIN || (fl = fcntl(fd, F_GETFL)) < 0)
        return write_all(fd, p, len);
    if (s->abuf_cap < bulk) {
        void *b = NULL;
        if (posix_memalign(&b, DIRECT_ALIGN, bulk) != 0)
            return write_all(fd, p, len);
        free(s->abuf);
        s->abuf = b;
        s->abuf_cap = bulk;
    }
    if (fcntl(fd, F_SETFL, fl | O_DIRECT) != 0)
        return write_all(fd, p, len);
    memcpy(s->abuf, p, bulk);
    err = write_all(fd, s->abuf, bulk);
    (void)fcntl(fd, F_SETFL, fl);
    if (err == EINVAL) {
        /* Accepted by fcntl, refused by write: start again buffered. */
        if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
            return errno;
        return write_all(fd, p, len);
    }
    if (err != 0)
        return err;
    return write_all(fd, p + bulk, len - bulk);
}

static int fsync_retry(int fd)
{
    while (fsync(fd) != 0)
        if (errno != EINTR)
            return errno;
    return 0;
}

/* Opens {chunks}/{key} as a directory, creating it first when create is
 * set (*created then says whether it was new).  fd or -1 with errno. */
static int open_key_dir(dx_store *s, const char *key, bool create,
                        bool *created)
{
    if (created)
        *created = false;
    if (create) {
        if (mkdirat(s->chunks_fd, key, 0700) == 0) {
            if (created)
                *created = true;
        } else if (errno != EEXIST) {
            return -1;
        }
    }
    return openat(s->chunks_fd, key,
                  O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
}

static int64_t age_ms(const struct stat *st, int64_t now_ms)
{
    int64_t m = (int64_t)st->st_mtim.tv_sec * 1000 +
                st->st_mtim.tv_nsec / 1000000;
    return now_ms - m;
}

/* The thread alone changes the count, so load and store are enough. */
static void bytes_add(dx_store *s, uint64_t add, uint64_t sub)
{
    uint64_t b = atomic_load(&s->bytes) + add;
    atomic_store(&s->bytes, b >= sub ? b - sub : 0);
}

/* ---- jobs ---- */

static void run_write(dx_store *s, const dx_store_job *j, dx_store_result *r)
{
    char tmp[NAME_MAX_LEN], name[NAME_MAX_LEN];
    uint32_t crc = dx_crc32c(0, j->data, j->len);
    uint64_t old = 0;
    struct stat st;
    bool created;
    int kfd, fd = -1, err;

    r->len = j->len;
    if (crc != j->crc) {
        r->rc = DX_ECHECKSUM;
        snprintf(r->error, sizeof r->error, "chunk %s/%" PRIu32 ": the "
                 "bytes have crc %08" PRIx32 ", not %08" PRIx32, j->key,
                 j->index, crc, j->crc);
        return;
    }
    chunk_name(tmp, TMP_PREFIX, j->index, j->crc);
    chunk_name(name, "", j->index, j->crc);
    kfd = open_key_dir(s, j->key, true, &created);
    if (kfd < 0) {
        fail_errno(r, "mkdir", j->key, "", errno);
        return;
    }
    fd = openat(kfd, tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC |
                O_NOFOLLOW, 0600);
    if (fd < 0 && errno == EEXIST) {
        /* Only this thread writes here: it is a leftover of a crash. */
        unlinkat(kfd, tmp, 0);
        fd = openat(kfd, tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC |
                    O_NOFOLLOW, 0600);
    }
    if (fd < 0) {
        fail_errno(r, "create", j->key, tmp, errno);
        goto close_dir;
    }
    if ((err = write_chunk(s, fd, j->data, j->len)) != 0 ||
        (err = fsync_retry(fd)) != 0) {
        fail_errno(r, "write", j->key, tmp, err);
        goto remove_tmp;
    }
    err = close(fd) != 0 ? errno : 0;
    fd = -1;
    if (err != 0 && err != EINTR) {
        fail_errno(r, "close", j->key, tmp, err);
        goto remove_tmp;
    }
    if (fstatat(kfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(st.st_mode))
        old = (uint64_t)st.st_size;        /* the same chunk, written again */
    if (renameat(kfd, tmp, kfd, name) != 0) {
        fail_errno(r, "rename", j->key, tmp, errno);
        goto remove_tmp;
    }
    bytes_add(s, j->len, old);
    if ((err = fsync_retry(kfd)) != 0)
        fail_errno(r, "fsync", j->key, "", err);
    else if (created && (err = fsync_retry(s->chunks_fd)) != 0)
        fail_errno(r, "fsync chunks for", j->key, "", err);
    goto close_dir;

remove_tmp:
    if (fd >= 0)
        close(fd);
    unlinkat(kfd, tmp, 0);
close_dir:
    close(kfd);
    if (r->rc != 0 && created)          /* fails, as it should, if used */
        unlinkat(s->chunks_fd, j->key, AT_REMOVEDIR);
}

static void run_read(dx_store *s, const dx_store_job *j, dx_store_result *r)
{
    char name[NAME_MAX_LEN], path[DX_DFS_KEY_MAX + 1 + NAME_MAX_LEN];
    unsigned char *data = NULL;
    struct stat st;
    size_t got = 0;
    uint32_t crc;
    int fd, err;

    chunk_name(name, "", j->index, j->crc);
    snprintf(path, sizeof path, "%s/%s", j->key, name);
    /* O_NONBLOCK: a FIFO planted under a chunk's name must not hang the
     * thread (no effect on a regular file). */
    fd = openat(s->chunks_fd, path,
                O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            r->rc = DX_ENOTFOUND;
            snprintf(r->error, sizeof r->error, "no chunk %s", path);
        } else {
            fail_errno(r, "open", j->key, name, errno);
        }
        return;
    }
    if (fstat(fd, &st) != 0) {
        fail_errno(r, "stat", j->key, name, errno);
        goto close_file;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > DX_DFS_CHUNK_MAX) {
        r->rc = DX_EIO;
        snprintf(r->error, sizeof r->error, "chunk %s is not a regular file "
                 "of at most %u bytes", path, DX_DFS_CHUNK_MAX);
        goto close_file;
    }
    data = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
    if (data == NULL) {
        r->rc = DX_ENOMEM;
        snprintf(r->error, sizeof r->error, "no memory for chunk %s", path);
        goto close_file;
    }
    if ((err = read_upto(fd, data, (size_t)st.st_size, &got)) != 0) {
        fail_errno(r, "read", j->key, name, err);
        goto free_data;
    }
    crc = dx_crc32c(0, data, got);
    if (crc != j->crc) {
        r->rc = DX_ECHECKSUM;
        snprintf(r->error, sizeof r->error, "chunk %s: the stored bytes "
                 "have crc %08" PRIx32, path, crc);
        goto free_data;
    }
    r->data = data;
    r->len = got;
    data = NULL;
free_data:
    free(data);
close_file:
    close(fd);
}

/* Removes the files of one key (all, or those of one index) and, for all,
 * the directory. */
static void run_delete(dx_store *s, const dx_store_job *j, dx_store_result *r)
{
    bool all = j->index == DX_DFS_ALL;
    struct dirent *e;
    DIR *dir;
    int kfd, err = 0;

    kfd = open_key_dir(s, j->key, false, NULL);
    if (kfd < 0) {
        if (errno != ENOENT)
            fail_errno(r, "open", j->key, "", errno);
        return;
    }
    dir = fdopendir(kfd);
    if (dir == NULL) {
        fail_errno(r, "open", j->key, "", errno);
        close(kfd);
        return;
    }
    while ((errno = 0, e = readdir(dir)) != NULL) {
        uint32_t index, crc;
        bool chunk = chunk_name_parse(e->d_name, &index, &crc);
        struct stat st;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (!all && (!chunk || index != j->index))
            continue;
        if (fstatat(kfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            st.st_mode = 0;                 /* not counted */
        if (unlinkat(kfd, e->d_name, 0) != 0) {
            if (errno != ENOENT && r->rc == 0)
                fail_errno(r, "unlink", j->key, e->d_name, errno);
            continue;
        }
        if (chunk && S_ISREG(st.st_mode))
            bytes_add(s, 0, (uint64_t)st.st_size);
    }
    if (errno != 0 && r->rc == 0)
        fail_errno(r, "list", j->key, "", errno);
    if (!all && r->rc == 0 && (err = fsync_retry(kfd)) != 0)
        fail_errno(r, "fsync", j->key, "", err);
    closedir(dir);
    if (all && r->rc == 0) {
        if (unlinkat(s->chunks_fd, j->key, AT_REMOVEDIR) != 0 &&
            errno != ENOENT)
            fail_errno(r, "rmdir", j->key, "", errno);
        else if ((err = fsync_retry(s->chunks_fd)) != 0)
            fail_errno(r, "fsync chunks for", j->key, "", err);
    }
}

/* CRC32C of an open file, streamed through s->buf.  0 or an errno. */
static int crc_file(dx_store *s, int fd, uint32_t *crc)
{
    uint32_t c = 0;

    for (;;) {
        size_t got;
        int err = read_upto(fd, s->buf, SCRUB_BUF, &got);
        if (err != 0)
            return err;
        c = dx_crc32c(c, s->buf, got);
        if (got < SCRUB_BUF)
            break;
    }
    *crc = c;
    return 0;
}

static void scrub_emit(dx_store *s, dx_store_result *r, bool last)
{
    r->last = last;
    s->done(s->ctx, r);
    r->n = 0;
}

/* Checks the chunks of one key directory; false when the store closes. */
static bool scrub_key(dx_store *s, dx_store_result *r, const char *key,
                      uint64_t *total)
{
    int64_t now = dx_wall_ms();
    struct dirent *e;
    DIR *dir;
    int kfd = open_key_dir(s, key, false, NULL);

    if (kfd < 0)
        return true;
    dir = fdopendir(kfd);
    if (dir == NULL) {
        close(kfd);
        return true;
    }
    while ((e = readdir(dir)) != NULL) {
        dx_store_item *it = &r->items[r->n];
        uint32_t index, crc, have = 0;
        struct stat st;
        int fd;

        if (atomic_load(&s->stop)) {
            closedir(dir);
            return false;
        }
        if (strncmp(e->d_name, TMP_PREFIX, TMP_PREFIX_LEN) == 0) {
            if (fstatat(kfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                age_ms(&st, now) > TMP_MAX_AGE_MS)
                unlinkat(kfd, e->d_name, 0);
            continue;
        }
        if (!chunk_name_parse(e->d_name, &index, &crc))
            continue;
        memset(it, 0, sizeof *it);
        memcpy(it->key, key, strlen(key) + 1);
        it->index = index;
        it->crc = crc;
        fd = openat(kfd, e->d_name,
                    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
            it->age_ms = age_ms(&st, dx_wall_ms());
            it->size = (uint64_t)st.st_size;
            it->ok = crc_file(s, fd, &have) == 0 && have == crc;
            *total += it->size;
        }
        if (fd >= 0)
            close(fd);
        r->chunks++;
        r->bad += !it->ok;
        if (++r->n == DX_STORE_SCRUB_BATCH)
            scrub_emit(s, r, false);
    }
    closedir(dir);
    return true;
}

static void run_scrub(dx_store *s, dx_store_result *r)
{
    uint64_t total = 0;
    struct dirent *e;
    DIR *top;
    int fd;

    /* A descriptor of its own: a dup would share the read position. */
    fd = openat(s->chunks_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || (top = fdopendir(fd)) == NULL) {
        fail_errno(r, "list", "chunks", "", errno);
        if (fd >= 0)
            close(fd);
        scrub_emit(s, r, true);
        return;
    }
    while ((e = readdir(top)) != NULL) {
        if (!key_is_safe(e->d_name))
            continue;
        if (!scrub_key(s, r, e->d_name, &total)) {
            r->rc = DX_ESTATE;
            snprintf(r->error, sizeof r->error, "the store is closing");
            break;
        }
    }
    closedir(top);
    if (r->rc == 0)
        atomic_store(&s->bytes, total);
    scrub_emit(s, r, true);
}

/* Runs one job into s->res.  True when done is still to be called with
 * it (a scrub calls done itself, batch by batch). */
static bool run_job(dx_store *s, const dx_store_job *j, bool closing)
{
    dx_store_result *r = &s->res;

    result_init(r, j);
    if (closing) {
        r->rc = DX_ESTATE;
        snprintf(r->error, sizeof r->error, "the store is closing");
        r->last = j->op == DX_STORE_SCRUB;
        return true;
    }
    switch (j->op) {
    case DX_STORE_WRITE:
        run_write(s, j, r);
        break;
    case DX_STORE_READ:
        run_read(s, j, r);
        break;
    case DX_STORE_DELETE:
        run_delete(s, j, r);
        break;
    case DX_STORE_SCRUB:
        run_scrub(s, r);
        return false;
    }
    return true;
}

/* ---- the thread ---- */

static void *thread_main(void *arg)
{
    dx_store *s = arg;

    for (;;) {
        node *n;
        bool closing, pending;

        pthread_mutex_lock(&s->mu);
        while (s->head == NULL && !s->stopping)
            pthread_cond_wait(&s->cv, &s->mu);
        n = s->head;
        if (n == NULL) {                    /* stopping, queue drained */
            pthread_mutex_unlock(&s->mu);
            return NULL;
        }
        s->head = n->next;
        if (s->head == NULL)
            s->tail = NULL;
        closing = s->stopping;
        pthread_mutex_unlock(&s->mu);

        pending = run_job(s, &n->job, closing);
        if (n->job.op == DX_STORE_WRITE) {
            /* Released before done, so a writer refused with DX_EFULL can
             * send again from the done callback. */
            free(n->job.owner);
            pthread_mutex_lock(&s->mu);
            s->qbytes -= n->job.len;
            pthread_mutex_unlock(&s->mu);
        }
        free(n);
        if (pending)
            s->done(s->ctx, &s->res);
    }
}

/* ---- open: the first scan ---- */

/* Removes every temp file of one key directory (no writer runs yet) and
 * adds the sizes of its chunk files to *total. */
static void scan_key(dx_store *s, const char *key, uint64_t *total)
{
    struct dirent *e;
    DIR *dir;
    int kfd = open_key_dir(s, key, false, NULL);

    if (kfd < 0)
        return;
    dir = fdopendir(kfd);
    if (dir == NULL) {
        close(kfd);
        return;
    }
    while ((e = readdir(dir)) != NULL) {
        uint32_t index, crc;
        struct stat st;

        if (strncmp(e->d_name, TMP_PREFIX, TMP_PREFIX_LEN) == 0)
            unlinkat(kfd, e->d_name, 0);
        else if (chunk_name_parse(e->d_name, &index, &crc) &&
                 fstatat(kfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                 S_ISREG(st.st_mode))
            *total += (uint64_t)st.st_size;
    }
    closedir(dir);
}

static int scan(dx_store *s, dx_diag *d)
{
    uint64_t total = 0;
    struct dirent *e;
    DIR *top;
    int fd = openat(s->chunks_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0 || (top = fdopendir(fd)) == NULL) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return dx_diag_set(d, DX_EIO, "cannot list the chunk directory: %s",
                           strerror(err));
    }
    while ((e = readdir(top)) != NULL)
        if (key_is_safe(e->d_name))
            scan_key(s, e->d_name, &total);
    closedir(top);
    atomic_store(&s->bytes, total);
    return 0;
}

/* ---- public ---- */

int dx_store_open(dx_store **out, const char *dir, dx_store_done_fn done,
                  void *ctx, dx_diag *d)
{
    char path[PATH_MAX];
    sigset_t all, old;
    dx_store *s;
    int rc, err;

    if (out == NULL || dir == NULL || done == NULL)
        return dx_diag_set(d, DX_EINVAL, "the store needs a directory and "
                           "a done callback");
    *out = NULL;
    if ((size_t)snprintf(path, sizeof path, "%s/chunks", dir) >= sizeof path)
        return dx_diag_set(d, DX_EIO, "data directory path too long");
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return DX_ENOMEM;
    s->buf = malloc(SCRUB_BUF);
    rc = DX_ENOMEM;
    if (s->buf == NULL)
        goto fail_buf;
    s->done = done;
    s->ctx = ctx;
    atomic_init(&s->stop, false);
    atomic_init(&s->bytes, 0);
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        rc = dx_diag_set(d, DX_EIO, "cannot create %s: %s", path,
                         strerror(errno));
        goto fail_dir;
    }
    s->chunks_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->chunks_fd < 0) {
        rc = dx_diag_set(d, DX_EIO, "cannot open %s: %s", path,
                         strerror(errno));
        goto fail_dir;
    }
    if ((rc = scan(s, d)) != 0)
        goto fail_scan;
    rc = DX_ENOMEM;
    if (pthread_mutex_init(&s->mu, NULL) != 0)
        goto fail_scan;
    if (pthread_cond_init(&s->cv, NULL) != 0)
        goto fail_cond;

    /* The thread inherits the mask: signals stay with the loop's thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(&s->th, NULL, thread_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        rc = dx_diag_set(d, DX_ENOMEM, "cannot start the disk thread: %s",
                         strerror(err));
        goto fail_thread;
    }
    *out = s;
    return 0;

fail_thread:
    pthread_cond_destroy(&s->cv);
fail_cond:
    pthread_mutex_destroy(&s->mu);
fail_scan:
    close(s->chunks_fd);
fail_dir:
    free(s->buf);
    free(s->abuf);
fail_buf:
    free(s);
    return rc;
}

static bool job_is_valid(const dx_store_job *j)
{
    switch (j->op) {
    case DX_STORE_WRITE:
        return key_is_safe(j->key) && j->index < DX_DFS_CHUNKS_MAX &&
               j->data != NULL && j->len <= DX_DFS_CHUNK_MAX;
    case DX_STORE_READ:
        return key_is_safe(j->key) && j->index < DX_DFS_CHUNKS_MAX &&
               memchr(j->topic, '\0', sizeof j->topic) != NULL;
    case DX_STORE_DELETE:
        return key_is_safe(j->key) &&
               (j->index < DX_DFS_CHUNKS_MAX || j->index == DX_DFS_ALL);
    case DX_STORE_SCRUB:
        return true;
    default:
        return false;
    }
}

/* Besides the codes in store.h: DX_EINVAL also for an index past
 * DX_DFS_CHUNKS_MAX - 1 (DX_DFS_ALL only for a delete) or a write longer
 * than DX_DFS_CHUNK_MAX, DX_ENOMEM when the job cannot be copied. */
int dx_store_submit(dx_store *s, const dx_store_job *job)
{
    node *n = NULL;
    int rc = 0;

    if (job == NULL)
        return DX_EINVAL;
    if (s == NULL || !job_is_valid(job)) {
        rc = DX_EINVAL;
        goto fail;
    }
    n = malloc(sizeof *n);
    if (n == NULL) {
        rc = DX_ENOMEM;
        goto fail;
    }
    n->next = NULL;
    n->job = *job;
    if (job->op != DX_STORE_WRITE) {
        n->job.owner = NULL;            /* nothing of the caller's to free */
        n->job.data = NULL;
        n->job.len = 0;
    }
    if (job->op == DX_STORE_SCRUB)
        memset(n->job.key, 0, sizeof n->job.key);

    pthread_mutex_lock(&s->mu);
    if (s->stopping)
        rc = DX_ESTATE;
    else if (job->op == DX_STORE_WRITE &&
             job->len > DX_STORE_QUEUE_BYTES - s->qbytes)
        rc = DX_EFULL;
    if (rc == 0) {
        s->qbytes += n->job.len;
        if (s->tail)
            s->tail->next = n;
        else
            s->head = n;
        s->tail = n;
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    if (rc == 0)
        return 0;
    free(n);
fail:
    if (job->op == DX_STORE_WRITE)
        free(job->owner);
    return rc;
}

uint64_t dx_store_bytes(dx_store *s)
{
    return s ? atomic_load(&s->bytes) : 0;
}

void dx_store_close(dx_store **sp)
{
    dx_store *s;

    if (sp == NULL || (s = *sp) == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    atomic_store(&s->stop, true);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->th, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    close(s->chunks_fd);
    free(s->buf);
    free(s->abuf);
    free(s);
    *sp = NULL;
}
