/*
 * dx_jsonw.h - the bounded JSON writer behind every encoder of topics/
 * (dx_msg.c, dx_dfs.c).  Internal to the codec library.
 *
 * It writes into a caller buffer and keeps counting past its end, so an
 * encoder learns the size it needed (DX_ENOSPACE, DX_ETOOBIG) without a
 * second pass; one byte is always left for the NUL.  A key gets a comma
 * before it unless it opens an object or array.  Strings are escaped for
 * '"' and '\\' only: the encoders' checks reject control characters first.
 */
#ifndef DX_JSONW_H
#define DX_JSONW_H

#include <stddef.h>
#include <stdint.h>

typedef struct dx_jw {
    char *buf;
    size_t cap, len; /* len counts on past cap, so the size is known */
    char last;       /* the last byte written (or counted) */
} dx_jw;

void dx_jw_put(dx_jw *w, const char *s, size_t n);
void dx_jw_cstr(dx_jw *w, const char *s);
/* A comma unless the last byte opened an object or array. */
void dx_jw_sep(dx_jw *w);
/* "s", escaped. */
void dx_jw_str(dx_jw *w, const char *s);
/* ,"key": (the comma as dx_jw_sep) */
void dx_jw_key(dx_jw *w, const char *key);
void dx_jw_u64(dx_jw *w, uint64_t v);
/* Shortest of %.15g and %.17g that reads back exactly, '.' whatever the
 * locale. */
void dx_jw_dbl(dx_jw *w, double x);

/*
 * Ends an encoding: rc (0, or the encoder's error) becomes DX_ETOOBIG when
 * the text is longer than max and DX_ENOSPACE when it did not fit the
 * buffer.  On 0 the text is NUL-terminated and *len set; otherwise the
 * buffer holds "" (when it has room for it).  Returns rc.
 */
int dx_jw_finish(dx_jw *w, int rc, size_t max, size_t *len);

#endif
