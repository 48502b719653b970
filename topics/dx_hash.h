/*
 * dx_hash.h - the checksums of the distributed file system.
 *
 * CRC32C (Castagnoli, the polynomial iSCSI and ext4 use) guards every
 * chunk: fast enough to run on every write, read and scrub.  SHA-256
 * (FIPS 180-4) names the content of a whole file.  Both are incremental,
 * so a file is hashed as it streams and never held whole in memory.
 * Pure code, no allocation.
 */
#ifndef DX_HASH_H
#define DX_HASH_H

#include <stddef.h>
#include <stdint.h>

/* CRC32C of buf, continuing from crc (start with 0).  Check value:
 * dx_crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t dx_crc32c(uint32_t crc, const void *buf, size_t len);
/* The same by table lookups only (dx_crc32c uses the CPU's crc32
 * instruction where it has one); exported so tests compare the two. */
uint32_t dx_crc32c_soft(uint32_t crc, const void *buf, size_t len);

typedef struct dx_sha256 {
    uint32_t h[8];
    uint64_t bytes;
    uint8_t block[64];
    size_t used;
} dx_sha256;

void dx_sha256_init(dx_sha256 *s);
void dx_sha256_update(dx_sha256 *s, const void *buf, size_t len);
/* Writes the digest as 64 lowercase hex digits and a NUL into hex. */
void dx_sha256_final(dx_sha256 *s, char hex[65]);

#endif
