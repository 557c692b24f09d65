/* ppl_progress.c - llama-perplexity's running output for bn_ppl_run; see ppl_progress.h. */
#include "ppl_progress.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void bn_ppl_progress_start(bn_ppl_progress_ctx *pc, FILE *out, const char *what, int quiet)
{
    memset(pc, 0, sizeof *pc);
    pc->out = out;
    pc->quiet = quiet;
    bn_progress_init(&pc->prog, what, quiet);
    pc->defer = pc->prog.enabled && isatty(fileno(out));
}

void bn_ppl_progress_on_pass(void *user, int chunk0, int n_seq, int n_chunks)
{
    bn_ppl_progress_ctx *pc = user;
    if (chunk0 == 0)
        bn_progress_step(&pc->prog, "evaluating chunk%s 1%s%d of %d (the first pass sets the ETA)",
                         n_seq > 1 ? "s" : "", n_seq > 1 ? "-" : "", n_seq > 1 ? n_seq : 1, n_chunks);
}

/* The values held since the last print, "[i]ppl," each, and a newline after the last chunk. */
static void print_values(bn_ppl_progress_ctx *pc, int last)
{
    for (; pc->n_printed < pc->n_vals; pc->n_printed++)
        fprintf(pc->out, "[%d]%.4f,", pc->n_printed + 1, pc->vals[pc->n_printed]);
    if (last)
        fprintf(pc->out, "\n");
    fflush(pc->out);
}

bn_status bn_ppl_progress_on_chunk(void *user, const bn_ppl_progress *p, bn_error *err)
{
    bn_ppl_progress_ctx *pc = user;
    if (pc->n_vals == pc->cap) {
        int nc = pc->cap ? 2 * pc->cap : 64;
        double *nv = realloc(pc->vals, (size_t)nc * sizeof *nv);
        if (!nv)
            return bn_error_set(err, BN_ENOMEM, "out of memory for chunk values");
        pc->vals = nv;
        pc->cap = nc;
    }
    pc->vals[pc->n_vals++] = p->ppl;
    if (pc->quiet)
        return BN_OK;
    if (p->chunk == 1) { /* the callbacks of a pass come after it: seconds is the first pass */
        int passes = (p->n_chunks + p->n_seq - 1) / (p->n_seq > 0 ? p->n_seq : 1);
        char eta[16];
        bn_progress_done(&pc->prog);
        fprintf(pc->out, "perplexity: %.2f seconds per pass - ETA %s\n", p->seconds,
                bn_progress_duration(p->seconds * passes, eta, sizeof eta));
        fflush(pc->out);
    }
    if (!pc->defer)
        print_values(pc, p->chunk == p->n_chunks);
    bn_progress_count(&pc->prog, (size_t)p->chunk, (size_t)p->n_chunks, "chunks", p->tok_per_s,
                      "tokens/s");
    return BN_OK;
}

void bn_ppl_progress_end(bn_ppl_progress_ctx *pc)
{
    bn_progress_done(&pc->prog);
    if (!pc->quiet && pc->defer && pc->n_printed < pc->n_vals)
        print_values(pc, 1);
}

void bn_ppl_progress_free(bn_ppl_progress_ctx *pc)
{
    free(pc->vals);
    pc->vals = NULL;
    pc->n_vals = pc->cap = pc->n_printed = 0;
}
