/*
 * fuzz.h - shared by the libFuzzer targets of tests/fuzz (see
 * CMakeLists.txt there): the families one fuzz_decode.c is compiled for,
 * and the topic checks of fuzz_topic.c.
 */
#ifndef DX_FUZZ_H
#define DX_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Decoder families: -DFUZZ_SET=<mask> builds fuzz_decode.c for a subset. */
#define FZ_MEMBERSHIP 0x01u /* state, heartbeat, members */
#define FZ_ELECTION 0x02u   /* election, leader */
#define FZ_TASKS 0x04u      /* task spec, record, assign, report */
#define FZ_REQUESTS 0x08u   /* cmd, request + reply target, reply, event,
                               reading, actuator */
#define FZ_TOPIC 0x10u      /* dx_topic_parse / dx_topic_build */
#define FZ_ALL 0x1fu

/* The topic checks on arbitrary bytes (fuzz_topic.c); abort() on a
 * violated property. */
void fz_topic(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
