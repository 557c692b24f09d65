/*
 * common.h - helpers shared by the libFuzzer harnesses (tests/fuzz/fuzz_*.c).
 *
 * Oracles beyond the sanitizers: every failure must carry a status that is not
 * BN_EINTERNAL (a broken invariant of ours is a bug even when it is reported)
 * and exactly one non-empty line of message. A harness that finds either calls
 * fz_fail(), which aborts so libFuzzer records the input.
 */
#ifndef BN_FUZZ_COMMON_H
#define BN_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include "bn/error.h"

/* Path of `name` inside a scratch directory private to this process (on
 * /dev/shm when it exists), created on first use and removed at exit. For
 * parsers whose only entry point is a path. */
const char *fz_scratch(const char *name);

/* Replace the file at path with data[0, n); aborts on failure (the harness
 * cannot do its job, which is not a finding about the input). */
void fz_write(const char *path, const void *data, size_t n);

/* Check the error contract of a call that returned st with err filled. */
void fz_check(bn_status st, const bn_error *err, const char *what);

/* Print a message and abort(). */
void fz_fail(const char *fmt, ...) BN_PRINTF(1, 2);

/* Touch every byte of [p, p + n) so ASan sees a read of the whole range;
 * returns a checksum so the reads cannot be optimised away. */
unsigned fz_touch(const void *p, size_t n);

#endif
