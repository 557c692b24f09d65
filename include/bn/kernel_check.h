/*
 * kernel_check.h - the kernel self-test (bn-verify --kernels; CONVENTIONS.md:
 * the SQLite bitvec idea): every kernel compiled in against "basic" on the
 * same inputs. Results come back in structs; the writers below turn one
 * bn_kernels_report into text and into JSON, so the two cannot disagree.
 */
#ifndef BN_KERNEL_CHECK_H
#define BN_KERNEL_CHECK_H

#pragma GCC visibility push(default) /* what this header declares is libbn's API */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "bn/error.h"

typedef struct bn_model bn_model; /* model.h */

typedef struct {
    char name[32];
    char desc[96];
    int available;            /* this CPU runs it */
    uint64_t n_matrices;      /* matrices compared (model's own + odd shapes) */
    uint64_t n_sums;          /* integer sums compared against basic */
    uint64_t n_mismatch;      /* sums that differ */
    int logits_checked;       /* tokens whose logits were compared (0: no model run) */
    int logits_identical;     /* 1 when every logit equals basic's bit for bit */
    double max_logit_diff;
    double gbps;              /* weight bytes streamed per second, one thread */
} bn_kernel_check;

/* Run every kernel compiled in against "basic": integer sums on each ternary
 * matrix of the model and on odd shapes (random packed bytes, random int8
 * activations, fixed seed), then the first n_tokens of tokens (or of a fixed
 * pseudo-random sequence when tokens is NULL) through the model with each
 * kernel; logits must be identical. The model's kernel is restored after.
 * *out: malloc'd array of *n entries, basic first. */
bn_status bn_verify_kernels(bn_model *m, const int32_t *tokens, int n_tokens,
                            bn_kernel_check **out, size_t *n, bn_error *err);

/* A kernel passes when it is not available here, or when every sum matched and
 * its logits (if compared) were identical. */
int bn_kernel_check_ok(const bn_kernel_check *k);

/* One --kernels run as it is reported. */
typedef struct {
    const bn_kernel_check *k; /* (n) bn_verify_kernels' entries */
    size_t n;
    int n_tokens;             /* tokens of the model run */
    const char *token_file;   /* the text they came from; NULL: the pseudo-random sequence */
} bn_kernels_report;

size_t bn_kernels_report_n_failed(const bn_kernels_report *r);
/* The heading and one table row per kernel. */
void bn_kernels_report_text(const bn_kernels_report *r, FILE *f);
/* The "kernels" object of bn-verify --json (docs/ci.md); NULL when out of memory. */
struct cJSON *bn_kernels_report_json(const bn_kernels_report *r);

#pragma GCC visibility pop /* end of the exported API */

#endif
