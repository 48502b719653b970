/*
 * fuzz_decode.c - libFuzzer target for the wire contract: every payload
 * decoder of dx_msg.h and the topic parser of dx_topic.h, on arbitrary
 * bytes.
 *
 * Beyond "no crash, no sanitizer report" it checks properties, aborting on
 * a violation: a failed decode leaves the struct zeroed and one line of
 * diagnosis; a successful decode re-encodes, and that encoding decodes to
 * the very same struct (an encoder never emits what a decoder rejects, and
 * nothing is lost on the way); a parsed topic builds back to the same bytes.
 * Build: tests/fuzz/CMakeLists.txt (-DDX_FUZZ=ON, clang).  Run:
 *   fuzz_decode -max_total_time=60 tests/fuzz/corpus
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dx_msg.h"
#include "dx_topic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

static void topic_round_trip(const char *buf, size_t len)
{
    static dx_topics t;
    static bool ready;
    dx_topic_ref ref;
    char built[DX_TOPIC_MAX + 1];

    if (!ready && dx_topics_init(&t, NULL, NULL, NULL) != 0)
        abort();
    ready = true;
    if (dx_topic_parse(&t, buf, len, &ref) != 0) {
        if (!all_zero(&ref, sizeof ref))
            abort();
        return;
    }
    if (dx_topic_build(&t, ref.kind, ref.node, ref.name, built, sizeof built) != 0 ||
        strlen(built) != len || memcmp(built, buf, len) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;

    round_trip_msg_state(buf, size);
    round_trip_msg_heartbeat(buf, size);
    round_trip_msg_election(buf, size);
    round_trip_msg_leader(buf, size);
    round_trip_msg_cmd(buf, size);
    round_trip_msg_event(buf, size);
    round_trip_msg_reply(buf, size);
    round_trip_task_spec(buf, size);
    round_trip_task_record(buf, size);
    round_trip_msg_assign(buf, size);
    round_trip_msg_reading(buf, size);
    round_trip_msg_actuator(buf, size);
    round_trip_msg_members(buf, size);
    topic_round_trip(buf, size);
    (void)dx_json_depth_ok(buf, size, size > 0 ? data[0] % 16 : 0);
    return 0;
}
