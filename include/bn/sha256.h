/*
 * sha256.h - SHA-256 (FIPS 180-4), streaming, for content hashes that any
 * other tool (sha256sum, Python hashlib) can reproduce.
 */
#ifndef BN_SHA256_H
#define BN_SHA256_H

#pragma GCC visibility push(default) /* what this header declares is libbn's API */

#include <stddef.h>
#include <stdint.h>

#define BN_SHA256_SIZE 32
#define BN_SHA256_HEX_SIZE 65 /* 64 hex digits + NUL */

typedef struct {
    uint32_t h[8];      /* chaining state */
    uint64_t n_bytes;   /* total bytes hashed so far */
    uint8_t buf[64];    /* pending partial block */
    size_t n_buf;       /* bytes used in buf */
} bn_sha256_ctx;

void bn_sha256_init(bn_sha256_ctx *s);
void bn_sha256_update(bn_sha256_ctx *s, const void *data, size_t len);
void bn_sha256_final(bn_sha256_ctx *s, uint8_t out[BN_SHA256_SIZE]);
/* One-shot helpers. hex gets lowercase hex digits and a NUL. */
void bn_sha256(const void *data, size_t len, uint8_t out[BN_SHA256_SIZE]);
void bn_sha256_hex(const uint8_t digest[BN_SHA256_SIZE], char hex[BN_SHA256_HEX_SIZE]);

#pragma GCC visibility pop /* end of the exported API */

#endif
