/*
 * dx_err.h - the project's error codes.
 *
 * One X-macro list makes both the enum of negative DX_E... codes and the
 * text dx_strerror() returns, so a code and its message cannot drift apart
 * (libuv does the same).  Functions named for an action return 0 or one of
 * these codes; functions named as a question return bool.
 */
#ifndef DX_ERR_H
#define DX_ERR_H

#define DX_ERRNO_MAP(X)                                                   \
    X(INVAL, "invalid argument")                                          \
    X(NAME, "invalid name")                                               \
    X(RANGE, "value out of range")                                        \
    X(TOOBIG, "payload too large")                                        \
    X(DEPTH, "JSON nested too deeply")                                    \
    X(JSON, "malformed JSON")                                             \
    X(FIELD, "missing or mistyped field")                                 \
    X(VERSION, "unsupported message version")                             \
    X(NOSPACE, "buffer too small")                                        \
    X(NOMEM, "out of memory")                                             \
    X(TOPIC, "topic not part of the DistribuX tree")                      \
    X(IO, "input/output error")                                           \
    X(CONNECT, "cannot connect to the broker")                            \
    X(AUTH, "broker refused the credentials")                             \
    X(TIMEOUT, "timed out")                                               \
    X(EXISTS, "already exists")                                           \
    X(NOTFOUND, "not found")                                              \
    X(STALE, "stale message")                                             \
    X(FULL, "full")                                                       \
    X(STATE, "not allowed in the current state")                          \
    X(TLS, "TLS handshake with the broker failed")                       \
    X(CHECKSUM, "checksum mismatch")

typedef enum {
    DX_OK = 0,
    DX_E__FIRST = -1000,
#define DX_ERR_ENUM(name, text) DX_E##name,
    DX_ERRNO_MAP(DX_ERR_ENUM)
#undef DX_ERR_ENUM
    DX_E__LAST
} dx_err;

/* Returns a static, human-readable text for an error code (never NULL). */
const char *dx_strerror(int err);

/*
 * A caller-provided place for a one-line explanation of why input was
 * rejected ("field 'epoch': expected an integer 1..2^53").  Every function
 * that takes one accepts NULL.
 */
typedef struct dx_diag {
    char msg[160];
} dx_diag;

/* printf-style: fills d->msg when d is not NULL; returns err unchanged. */
int dx_diag_set(dx_diag *d, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
