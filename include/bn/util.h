/*
 * util.h - small shared pieces below every module: overflow-checked size
 * arithmetic, whole-file reading with a size cap, and atomic output files.
 *
 * Atomic output contract (CONVENTIONS.md "Writers"):
 *  1. bn_atomic_open() creates OUT.tmp.XXXXXX in the directory of OUT (so the
 *     final rename() is atomic on one filesystem) and registers it.
 *  2. bn_atomic_commit() flushes, fsyncs and renames the temp file onto OUT.
 *  3. bn_atomic_abort() (or any failed commit) closes and unlinks the temp file;
 *     an existing OUT is never touched before a successful commit.
 *  4. bn_atomic_cleanup_signal() is async-signal-safe: a main's SIGINT/SIGTERM
 *     handler calls it to unlink every registered temp file before exiting.
 */
#ifndef BN_UTIL_H
#define BN_UTIL_H

#pragma GCC visibility push(default) /* what this header declares is libbn's API */

#include <stdint.h>
#include <stdio.h>
#include <stddef.h>
#include "bn/error.h"

/* Checked arithmetic: return 1 on overflow (and leave *out unspecified), 0 if ok. */
int bn_mul_ovf_u64(uint64_t a, uint64_t b, uint64_t *out);
int bn_add_ovf_u64(uint64_t a, uint64_t b, uint64_t *out);
int bn_mul_ovf_size(size_t a, size_t b, size_t *out);
int bn_add_ovf_size(size_t a, size_t b, size_t *out);

/* Read a whole file (at most max_bytes) into a malloc'd buffer, NUL-terminated
 * (the NUL is not counted in *len). */
bn_status bn_read_file(const char *path, size_t max_bytes, char **out, size_t *len, bn_error *err);

/* Read-only mapping of a whole file. Empty files map to a non-NULL dummy. */
typedef struct {
    const uint8_t *data; /* (size) bytes, read-only */
    size_t size;
    int is_mmap;         /* internal: 1 when data came from mmap() */
} bn_mapped_file;
bn_status bn_map_file(const char *path, bn_mapped_file *mf, bn_error *err);
void bn_unmap_file(bn_mapped_file *mf);

typedef struct bn_atomic_file bn_atomic_file;
bn_status bn_atomic_open(const char *path, bn_atomic_file **out, bn_error *err);
FILE *bn_atomic_stream(bn_atomic_file *af);          /* buffered stream to write to */
const char *bn_atomic_temp_path(const bn_atomic_file *af);
bn_status bn_atomic_commit(bn_atomic_file *af, bn_error *err); /* frees af */
void bn_atomic_abort(bn_atomic_file *af);                      /* frees af; NULL ok */
void bn_atomic_cleanup_signal(void);

/* Seconds from a monotonic clock, for progress reports and benchmarks. */
double bn_now_seconds(void);

/* xorshift64* (Vigna): the one small reproducible generator (sampler, bn-synth,
 * tests, benchmarks). *state must never be 0. */
static inline uint64_t bn_rng_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

#pragma GCC visibility pop /* end of the exported API */

#endif
