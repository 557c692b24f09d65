/*
 * lint-model.h - a model of bn_error_set() for the static analyzer, force-
 * included by scripts/lint.sh into every file but src/util/error.c.
 *
 * bn_error_set() returns its `code` argument, which callers pass on as a
 * failure status (`return bn_error_set(err, BN_EINVAL, ...)`). It lives in
 * another translation unit, so the analyzer cannot see that and explores
 * "failed but returned BN_OK" paths, reporting reads of out-parameters that
 * are only written on success. This macro makes the return value visible;
 * the call itself is unchanged.
 */
#ifndef BN_LINT_MODEL_H
#define BN_LINT_MODEL_H
#include "bn/error.h"
#define bn_error_set(err, code, ...) (bn_error_set((err), (code), __VA_ARGS__), (code))
#endif
