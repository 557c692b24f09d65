/* ppl_progress.h - what llama-perplexity prints while it runs (the pass time
 * and ETA after the first pass, "[i]ppl," per chunk), plus the live line of
 * progress.h on a terminal, for bn_ppl_run's callbacks (ppl.h). When the text
 * goes to the same terminal as the live line, the "[i]ppl," values would be
 * overwritten, so they are printed when the run ends. Every running estimate
 * is kept (vals) for the JSON report. Mains only.
 *
 *   bn_ppl_progress_ctx pc;
 *   bn_ppl_progress_start(&pc, out, "perplexity", quiet);
 *   params.on_chunk = bn_ppl_progress_on_chunk; params.on_pass = bn_ppl_progress_on_pass;
 *   params.user = &pc;
 *   ... bn_ppl_run ...
 *   bn_ppl_progress_end(&pc);  // then pc.vals[0..pc.n_vals); bn_ppl_progress_free(&pc)
 */
#ifndef BN_PPL_PROGRESS_H
#define BN_PPL_PROGRESS_H
#include <stdio.h>
#include "bn/ppl.h"
#include "progress.h"
typedef struct {
    FILE *out;         /* the text stream */
    int quiet;         /* no pass time, no values, no live line */
    bn_progress prog;
    int defer;         /* hold the printed values until the end */
    int n_printed;     /* values printed so far */
    double *vals;      /* (n_vals) running PPL after each chunk */
    int n_vals, cap;
} bn_ppl_progress_ctx;
void bn_ppl_progress_start(bn_ppl_progress_ctx *pc, FILE *out, const char *what, int quiet);
bn_status bn_ppl_progress_on_chunk(void *user, const bn_ppl_progress *p, bn_error *err);
void bn_ppl_progress_on_pass(void *user, int chunk0, int n_seq, int n_chunks);
/* Erase the live line and print the held values. */
void bn_ppl_progress_end(bn_ppl_progress_ctx *pc);
void bn_ppl_progress_free(bn_ppl_progress_ctx *pc);
#endif
