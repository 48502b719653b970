/*
 * fuzz_decode.c - libFuzzer target for the wire contract: every payload
 * decoder of dx_msg.h, dx_msg_reply_target() and the topic parser of
 * dx_topic.h, on arbitrary bytes.
 *
 * Beyond "no crash, no sanitizer report" it checks properties, aborting on
 * a violation: a failed decode leaves the struct zeroed and one line of
 * diagnosis; a successful decode re-encodes, and that encoding decodes to
 * the very same struct (an encoder never emits what a decoder rejects, and
 * nothing is lost on the way); a reply target is empty when not found, a
 * valid request's reply_to and corr when found, and always what a decoded
 * request would say; a parsed topic builds back to the same bytes.
 * One source, several targets: compiled with -DFUZZ_SET=<mask of fuzz.h>
 * it fuzzes one decoder family only (fuzz_membership, fuzz_election,
 * fuzz_tasks, fuzz_requests), so a short CI run spends its time on fewer
 * decoders; without it (fuzz_decode) it runs them all, and the topic
 * checks of fuzz_topic.c too.
 * Build: tests/fuzz/CMakeLists.txt (-DDX_FUZZ=ON, clang).  Run:
 *   fuzz_decode -max_total_time=60 tests/fuzz/corpus
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dx_msg.h"
#include "dx_topic.h"
#include "fuzz.h"

#ifndef FUZZ_SET
#define FUZZ_SET FZ_ALL
#endif
#define FZ_ON(family) ((FUZZ_SET) & (family))

static char enc[DX_PAYLOAD_MAX + 1];

static bool all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

/* Static structs: the largest (an assign) is tens of kB. */
#define ROUND_TRIP(type)                                                     \
    static void round_trip_##type(const char *buf, size_t len)              \
    {                                                                        \
        static dx_##type first, again;                                      \
        dx_diag d = {""};                                                   \
        size_t n = 0;                                                        \
                                                                             \
        if (dx_##type##_decode(buf, len, &first, &d) != 0) {                \
            if (!all_zero(&first, sizeof first) || d.msg[0] == '\0' ||      \
                memchr(d.msg, '\0', sizeof d.msg) == NULL)                  \
                abort();                                                     \
            return;                                                          \
        }                                                                    \
        if (dx_##type##_encode(&first, enc, sizeof enc, &n) != 0 ||          \
            n > DX_PAYLOAD_MAX || strlen(enc) != n)                         \
            abort();                                                         \
        if (dx_##type##_decode(enc, n, &again, NULL) != 0 ||                \
            memcmp(&first, &again, sizeof first) != 0)                      \
            abort();                                                         \
    }
ROUND_TRIP(msg_state)
ROUND_TRIP(msg_heartbeat)
ROUND_TRIP(msg_election)
ROUND_TRIP(msg_leader)
ROUND_TRIP(msg_cmd)
ROUND_TRIP(msg_event)
ROUND_TRIP(msg_reply)
ROUND_TRIP(task_spec)
ROUND_TRIP(task_record)
ROUND_TRIP(msg_assign)
ROUND_TRIP(msg_reading)
ROUND_TRIP(msg_actuator)
ROUND_TRIP(msg_members)
ROUND_TRIP(msg_report)
ROUND_TRIP(msg_request)

static void reply_target_check(const char *buf, size_t len)
{
    char to[DX_TOPIC_MAX + 1], corr[DX_CORR_MAX + 1];
    static dx_msg_request req, found;
    size_t n;
    int rc;

    memset(to, 0xa5, sizeof to);
    memset(corr, 0xa5, sizeof corr);
    rc = dx_msg_reply_target(buf, len, to, corr);
    if (memchr(to, '\0', sizeof to) == NULL ||
        memchr(corr, '\0', sizeof corr) == NULL)
        abort();
    if (rc == DX_ENOTFOUND) {
        if (to[0] != '\0' || corr[0] != '\0')
            abort();
    } else if (rc != 0 || to[0] == '\0') {
        abort();
    } else {
        /* both pass the encoder's checks: a request can carry them */
        memset(&found, 0, sizeof found);
        memcpy(found.reply_to, to, sizeof to);
        memcpy(found.corr, corr, sizeof corr);
        if (dx_msg_request_encode(&found, enc, sizeof enc, &n) != 0)
            abort();
    }
    if (dx_msg_request_decode(buf, len, &req, NULL) == 0 &&
        (strcmp(req.reply_to, to) != 0 ||
         (to[0] != '\0' && strcmp(req.corr, corr) != 0)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;

    if (FZ_ON(FZ_MEMBERSHIP)) {
        round_trip_msg_state(buf, size);
        round_trip_msg_heartbeat(buf, size);
        round_trip_msg_members(buf, size);
    }
    if (FZ_ON(FZ_ELECTION)) {
        round_trip_msg_election(buf, size);
        round_trip_msg_leader(buf, size);
    }
    if (FZ_ON(FZ_TASKS)) {
        round_trip_task_spec(buf, size);
        round_trip_task_record(buf, size);
        round_trip_msg_assign(buf, size);
        round_trip_msg_report(buf, size);
    }
    if (FZ_ON(FZ_REQUESTS)) {
        round_trip_msg_cmd(buf, size);
        round_trip_msg_request(buf, size);
        reply_target_check(buf, size);
        round_trip_msg_reply(buf, size);
        round_trip_msg_event(buf, size);
        round_trip_msg_reading(buf, size);
        round_trip_msg_actuator(buf, size);
    }
    if (FZ_ON(FZ_TOPIC))
        fz_topic(data, size);
    (void)dx_json_depth_ok(buf, size, size > 0 ? data[0] % 16 : 0);
    return 0;
}
