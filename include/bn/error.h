/*
 * error.h - status codes and error messages shared by every libbn module.
 *
 * Contract:
 *  1. Every library function that can fail returns a bn_status (BN_OK == 0) and,
 *     when it fails, fills the caller's bn_error with ONE sentence naming the file,
 *     tensor or field and the bad value ("model.safetensors: tensor 'x': shape ...").
 *  2. A NULL bn_error pointer is allowed: the message is then dropped.
 *  3. Library code never prints, never exits, never aborts on input-dependent
 *     conditions. Only the mains in src/tools/ print and choose exit codes.
 *  4. bn_status_exit_code() maps a status to the CLI convention (every tool's
 *     --help ends with it): 2 for bad input, bad usage or unsupported content,
 *     3 for failures of the system (BN_EIO, BN_ENOMEM, BN_EINTR, BN_EINTERNAL).
 *     1 is left to the mains: a check or gate that failed. A library function
 *     whose open/read/write/mmap fails returns BN_EIO, so mains map it to 3
 *     from the status alone, never from the message.
 */
#ifndef BN_ERROR_H
#define BN_ERROR_H

#pragma GCC visibility push(default) /* what this header declares is libbn's API */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    BN_OK = 0,
    BN_EINVAL,       /* malformed or inconsistent input (a file, a tensor, an argument) */
    BN_EUNSUPPORTED, /* well-formed but not something we handle (architecture, dtype) */
    BN_ELIMIT,       /* a resource limit of ours was hit before allocating */
    BN_ENOTFOUND,    /* a key, tensor or file that was asked for is absent */
    BN_ETYPE,        /* a value exists but has the wrong type */
    BN_EIO,          /* the operating system failed us (open, read, write, rename) */
    BN_ENOMEM,       /* allocation failed */
    BN_EINTR,        /* interrupted by a signal; outputs were rolled back */
    BN_EINTERNAL     /* a broken invariant of ours: a bug, reported, never a crash */
} bn_status;

#define BN_ERROR_MSG_MAX 512

typedef struct {
    bn_status code;
    char msg[BN_ERROR_MSG_MAX];
} bn_error;

#if defined(__GNUC__) || defined(__clang__)
#define BN_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define BN_PRINTF(f, a)
#endif

/* Fill err (if non-NULL) with a formatted message; returns code so callers can
 * write `return bn_error_set(err, BN_EINVAL, "...", ...);`. */
bn_status bn_error_set(bn_error *err, bn_status code, const char *fmt, ...) BN_PRINTF(3, 4);
bn_status bn_error_vset(bn_error *err, bn_status code, const char *fmt, va_list ap);

/* Prefix an existing message with context: "ctx: old message". Returns err->code. */
bn_status bn_error_prefix(bn_error *err, const char *fmt, ...) BN_PRINTF(2, 3);

/* Reset to BN_OK with an empty message. */
void bn_error_clear(bn_error *err);

const char *bn_status_name(bn_status s);
int bn_status_exit_code(bn_status s);

#pragma GCC visibility pop /* end of the exported API */

#endif
