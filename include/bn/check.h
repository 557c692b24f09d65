/*
 * check.h - the structural check of a GGUF for its architecture (bn-verify
 * --check): every problem the loader would stop at, and more, listed at once,
 * one sentence each. Library code never prints to its own streams: the
 * report comes back in a struct, and the writers below turn that one struct
 * into text and into JSON, so the two cannot disagree.
 */
#ifndef BN_CHECK_H
#define BN_CHECK_H

#pragma GCC visibility push(default) /* what this header declares is libbn's API */

#include <stddef.h>
#include <stdio.h>
#include "bn/error.h"
#include "bn/gguf.h"

/* Every problem found, one sentence each (naming key/tensor and the bad value). */
typedef struct {
    char **items;       /* (n) malloc'd strings */
    size_t n, cap;
    size_t n_tensors_checked; /* tensors of the architecture found and checked */
    size_t n_kv_checked;      /* keys looked up with their exact type, present or not */
} bn_check_report;

void bn_check_report_free(bn_check_report *r);

/* Validate an open GGUF for its general.architecture (FORMATS.md §1-5): required
 * KVs with llama.cpp's exact types, every required tensor with the right shape
 * and an accepted type, no stray tensors, the tokenizer present and consistent,
 * finite positive ternary scales, I2_S tails, no NaN/Inf in float tensors.
 * Problems go into r (the report may be non-empty on BN_OK); the return value
 * is non-OK only for allocation failure. */
bn_status bn_check_gguf(const bn_gguf *g, bn_check_report *r, bn_error *err);

/* "== check: PATH", then one "  problem: ..." line per problem, or one "  ok:"
 * line with the counts of the report. */
void bn_check_report_text(const bn_check_report *r, const char *path, FILE *f);
/* {"ok", "tensors_checked", "keys_checked", "problems": [...]} (docs/ci.md);
 * NULL when out of memory. */
struct cJSON *bn_check_report_json(const bn_check_report *r);

#pragma GCC visibility pop /* end of the exported API */

#endif
