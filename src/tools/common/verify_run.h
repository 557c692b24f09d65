/* verify_run.h - bn-verify's sections over the library (bn/verify.h): each runs
 * one check, prints its text and adds its JSON, both from one result; the model
 * is loaded once for every section that runs it, then the gates. Mains only. */
#ifndef BN_VERIFY_RUN_H
#define BN_VERIFY_RUN_H

#include <stdio.h>

#include <cJSON.h>

#include "bn/kernels.h"
#include "bn/model.h"
#include "bn/reference.h"

typedef struct {
    const char *model;
    const char *ppl_file;
    const char *ref_dir;
    const char *data_file;
    const char *json_path;
    const char *kernel;
    bn_actq actq;
    bn_ref_mode ref_mode;
    int do_check, do_kernels;
    int n_ctx, n_chunks, n_batch, n_threads, n_tokens;
    int quiet;
    double max_ppl, max_kld, min_top1, max_ppl_ratio; /* NAN: gate not set */
} options;

/* Every requested section, then the gates, into root ("check", "kernels",
 * "perplexity", "reference", "gates"); text on out_text, failures on stderr.
 * Returns the exit code: 0 all pass, 1 a check or gate failed, 2 bad input, 3 I/O. */
int verify_run(const options *o, FILE *out_text, cJSON *root);
/* 0 when an emitter ran out of memory and the document is incomplete. */
int verify_json_complete(void);

#endif
