/*
 * codec_check.h - the checks the codec unit tests (test_msg.c for the
 * cluster's messages, test_dfs_msg.c for the DFS's) make of every decoder
 * and encoder, written once.
 *
 * Include it twice, after <cmocka.h>: first for the function types and
 * the helpers; then, with CC_CODECS defined, after the file's table
 * `codecs`, indexed by codec, whose entries have at least `name` (const
 * char *), `size` (sizeof the struct), `dec` and `enc` (cc_dec_fn and
 * cc_enc_fn), and after an `enc_buf` char array the encoders write into:
 * that adds the checks.  Every function is static: each test program has
 * its copy.
 *
 * The contracts checked:
 *  - a decoder is fed an exact-size heap copy without a NUL, so ASan sees a
 *    read past `len`; when it fails, the struct is all zeros and the diag
 *    is one non-empty line;
 *  - an encoder that fails leaves "" in its buffer and a length of 0; one
 *    that succeeds returns the length of the NUL-terminated text.
 * Fixtures use ' for " to stay readable: cc_sq() turns every ' into ".
 */
#ifndef DX_CODEC_CHECK_TYPES
#define DX_CODEC_CHECK_TYPES

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dx_err.h"

typedef int (*cc_dec_fn)(const char *buf, size_t len, void *out, dx_diag *d);
typedef int (*cc_enc_fn)(const void *m, char *buf, size_t cap, size_t *len);

/* A heap copy of s with every ' turned into " (free it). */
static char *cc_sq(const char *s)
{
    char *r = strdup(s);
    assert_non_null(r);
    for (char *p = r; *p != '\0'; p++)
        if (*p == '\'')
            *p = '"';
    return r;
}

static bool cc_all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}
#endif

#if defined(CC_CODECS) && !defined(DX_CODEC_CHECK_FNS)
#define DX_CODEC_CHECK_FNS

/* Decodes len bytes with codec c from an exact-size heap copy into out (or
 * a scratch struct) and checks the failure contract. */
static int dec_raw(int c, const char *bytes, size_t len, void *out)
{
    void *m = out != NULL ? out : malloc(codecs[c].size);
    char *copy = malloc(len > 0 ? len : 1);
    dx_diag d = {"unset"};
    int rc;

    assert_non_null(m);
    assert_non_null(copy);
    memset(m, 0xa5, codecs[c].size);
    memcpy(copy, bytes, len);
    rc = codecs[c].dec(copy, len, m, &d);
    if (rc != DX_OK) {
        assert_true(cc_all_zero(m, codecs[c].size));
        assert_true(strcmp(d.msg, "unset") != 0 && d.msg[0] != '\0');
        assert_null(strchr(d.msg, '\n'));
    }
    free(copy);
    if (out == NULL)
        free(m);
    return rc;
}

/* Decodes a payload written with ' for ". */
static int dec_sq(int c, const char *sq, void *out)
{
    char *s = cc_sq(sq);
    int rc = dec_raw(c, s, strlen(s), out);
    free(s);
    return rc;
}

#define assert_dec(c, sq, err)                                              \
    do {                                                                    \
        int rc_ = dec_sq(c, sq, NULL);                                      \
        if (rc_ != (err))                                                   \
            fail_msg("%s: %s -> %s, expected %s", codecs[c].name, sq,      \
                     dx_strerror(rc_), dx_strerror(err));                   \
    } while (0)

/* Encodes m with codec c and checks the failure contract. */
static int enc_chk(int c, const void *m, char *buf, size_t cap, size_t *len)
{
    int rc;

    *len = 99;
    rc = codecs[c].enc(m, buf, cap, len);
    if (rc != DX_OK) {
        assert_int_equal(*len, 0);
        if (cap > 0)
            assert_string_equal(buf, "");
    } else {
        assert_int_equal(strlen(buf), *len);
    }
    return rc;
}

/* Encodes m into enc_buf expecting err. */
#define assert_enc(c, m, err)                                               \
    do {                                                                    \
        size_t n_;                                                          \
        int rc_ = enc_chk(c, m, enc_buf, sizeof enc_buf, &n_);              \
        if (rc_ != (err))                                                   \
            fail_msg("%s line %d: encode -> %s, expected %s",              \
                     codecs[c].name, __LINE__, dx_strerror(rc_),            \
                     dx_strerror(err));                                     \
    } while (0)

#endif
