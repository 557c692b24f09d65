/*
 * util.h - small shared pieces below every module: overflow-checked size
 * arithmetic, whole-file reading with a size cap, and atomic output files.
 *
 * Inputs: every file a reader opens goes through bn_input_open(), which opens
 * without blocking (a FIFO with no writer cannot hang the run) and refuses
 * anything but a regular file: "PATH: not a regular file (a FIFO)".
 * bn_read_file() and bn_map_file() use it.
 *
 * Atomic output contract (CONVENTIONS.md "Writers"):
 *  1. bn_atomic_open() creates OUT.tmp.XXXXXX in the directory of OUT (so the
 *     final rename() is atomic on one filesystem) and registers it. A symlink
 *     OUT is followed: the file it names is replaced, not the link.
 *  2. An OUT that exists and is not a regular file is never renamed over: a
 *     character device, or a FIFO with a reader, is written in place (write
 *     errors such as ENOSPC on /dev/full are reported by the commit); a FIFO
 *     with no reader, a socket, a block device or a directory is refused.
 *  3. bn_atomic_commit() flushes, fsyncs and renames the temp file onto OUT.
 *  4. bn_atomic_abort() (or any failed commit) closes and unlinks the temp file;
 *     an existing OUT is never touched before a successful commit.
 *  5. bn_atomic_cleanup_signal() is async-signal-safe: a main's SIGINT/SIGTERM
 *     handler calls it to unlink every registered temp file before exiting.
 *
 * Output set: the outputs of one run (a GGUF and its report) succeed or fail
 * together, and none of them may be one of the run's inputs.
 *  1. bn_outset_input() records an input by device and inode (links followed);
 *     a directory records the files its readers may open (configs, tokenizers,
 *     weights and their indexes).
 *  2. bn_outset_output() refuses (BN_EINVAL, before anything is read) a path that
 *     is an input or another output of the set; bn_atomic_open_in() does the same
 *     for a path not registered yet.
 *  3. bn_atomic_commit() on a file of a set only flushes, syncs and closes it;
 *     bn_outset_commit() renames them all once every one is complete.
 *  4. bn_outset_free() removes every temp file not yet renamed, so a failed run
 *     leaves every output as it was. (Outputs written in place by rule 2 of the
 *     atomic contract cannot be rolled back; they hold nothing to lose.)
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

/* Open path read-only (O_CLOEXEC), refusing anything but a regular file without
 * blocking on a FIFO; *fd is a blocking descriptor the caller closes. */
bn_status bn_input_open(const char *path, int *fd, bn_error *err);
/* Clear O_NONBLOCK on fd (opened with it so a FIFO cannot block the open);
 * on failure fd is closed and BN_EIO returned. */
bn_status bn_fd_blocking(int fd, const char *path, bn_error *err);
/* bn_input_open() and close: for inputs a library opens by name (libzip). */
bn_status bn_input_check(const char *path, bn_error *err);

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
typedef struct bn_outset bn_outset;
bn_status bn_atomic_open(const char *path, bn_atomic_file **out, bn_error *err);
bn_status bn_atomic_open_in(bn_outset *set, const char *path, bn_atomic_file **out, bn_error *err);
FILE *bn_atomic_stream(bn_atomic_file *af);          /* buffered stream to write to */
const char *bn_atomic_temp_path(const bn_atomic_file *af);
bn_status bn_atomic_commit(bn_atomic_file *af, bn_error *err); /* frees af */
void bn_atomic_abort(bn_atomic_file *af);                      /* frees af; NULL ok */
void bn_atomic_cleanup_signal(void);

bn_status bn_outset_new(bn_outset **out, bn_error *err);
bn_status bn_outset_input(bn_outset *s, const char *path, bn_error *err);
bn_status bn_outset_output(bn_outset *s, const char *path, bn_error *err);
/* new + every input + every output (NULL entries skipped); *out is set (to free)
 * even on failure. */
bn_status bn_outset_plan(bn_outset **out, const char *const *inputs, size_t n_in,
                         const char *const *outputs, size_t n_out, bn_error *err);
bn_status bn_outset_commit(bn_outset *s, bn_error *err);
void bn_outset_free(bn_outset *s); /* NULL ok */

/* Seconds from a monotonic clock, for progress reports and benchmarks. */
double bn_now_seconds(void);

/* Random numbers: one small reproducible generator for the sampler, the kernel
 * self-tests and kernel checks, bn-synth, tests and benchmarks. Each caller
 * keeps its own state, so streams never depend on threads or on each other.
 *  1. bn_rng_next: xorshift64* (Vigna), 64 bits a call; *state must never be 0.
 *  2. bn_rng_seed: a bn_rng_next state from any seed (0, 1, 2 ... give
 *     unrelated streams): one splitmix64 step from the seed, 0 replaced by 1.
 *  3. bn_rng_splitmix: splitmix64 (Vigna), the seeding generator, as a stream
 *     of its own: adds 0x9E3779B97F4A7C15 to *state (any value) and mixes it.
 *  4. bn_rng_float: uniform in [0, 1) with 24 random bits (the top ones of
 *     bn_rng_next), exact in a float. */
static inline uint64_t bn_rng_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static inline uint64_t bn_rng_splitmix(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint64_t bn_rng_seed(uint64_t seed)
{
    uint64_t s = bn_rng_splitmix(&seed);
    return s ? s : 1;
}

static inline float bn_rng_float(uint64_t *state)
{
    return (float)(bn_rng_next(state) >> 40) / 16777216.0f;
}

#pragma GCC visibility pop /* end of the exported API */

#endif
