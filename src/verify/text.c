/*
 * text.c - the text reports of bn-verify's results (check.h, kernel_check.h,
 * ppl.h): what llama-perplexity prints where it prints the same thing, a
 * table for --kernels. Each writer reads the struct its JSON twin (json.c)
 * reads, so the text and the JSON cannot disagree.
 */
#include <stdio.h>

#include "bn/verify.h"

void bn_check_report_text(const bn_check_report *r, const char *path, FILE *f)
{
    fprintf(f, "== check: %s\n", path);
    for (size_t i = 0; i < r->n; i++)
        fprintf(f, "  problem: %s\n", r->items[i]);
    if (!r->n)
        fprintf(f, "  ok: %zu tensors, %zu keys checked, %zu checks passed\n",
                r->n_tensors_checked, r->n_kv_checked, r->n_tensors_checked + r->n_kv_checked);
}

void bn_kernels_report_text(const bn_kernels_report *r, FILE *f)
{
    fprintf(f, "== kernels (against basic; %d model tokens from %s)\n", r->n_tokens,
            r->token_file ? r->token_file : "a pseudo-random sequence");
    fprintf(f, "  %-12s %-9s %8s %10s %10s %-8s %8s\n", "kernel", "available", "matrices",
            "sums", "mismatch", "logits", "GB/s");
    for (size_t i = 0; i < r->n; i++) {
        const bn_kernel_check *k = &r->k[i];
        const char *lg = !k->available ? "-" : !k->logits_checked ? "n/a"
                         : k->logits_identical ? "same" : "DIFFER";
        if (k->available)
            fprintf(f, "  %-12s %-9s %8llu %10llu %10llu %-8s %8.2f%s\n", k->name, "yes",
                    (unsigned long long)k->n_matrices, (unsigned long long)k->n_sums,
                    (unsigned long long)k->n_mismatch, lg, k->gbps,
                    bn_kernel_check_ok(k) ? "" : "  FAIL");
        else
            fprintf(f, "  %-12s %-9s %8s %10s %10s %-8s %8s\n", k->name, "no", "-", "-", "-", lg,
                    "-");
    }
}

void bn_ppl_report_header(const bn_ppl_report *r, FILE *f)
{
    if (r->ref_dir) {
        fprintf(f, "== reference: %s (%s mode) on %s (%zu tokens, n_ctx %d)\n", r->ref_dir,
                r->ref_mode, r->file, r->n_text_tokens, r->n_ctx);
        return;
    }
    fprintf(f, "== perplexity: %s (%zu tokens, kernel %s, %s activations, %d threads)\n",
            r->file, r->n_text_tokens, r->kernel, r->activations, r->n_threads);
    fprintf(f,
            "perplexity: calculating perplexity over %d chunks, n_ctx=%d, batch_size=%d, "
            "n_seq=%d\n",
            bn_ppl_n_chunks(r->n_text_tokens, r->n_ctx, r->max_chunks), r->n_ctx, r->n_batch,
            r->n_seq);
}

static void reference_text(const bn_ppl_report *r, FILE *f)
{
    const bn_kld_result *k = &r->res->kld;
    fprintf(f, "  positions:        %llu (%d chunks)\n", (unsigned long long)k->n,
            r->res->n_chunks);
    fprintf(f, "  PPL(model):       %10.4f +/- %.5f\n", k->ppl_test, k->ppl_test_err);
    fprintf(f, "  PPL(reference):   %10.4f +/- %.5f\n", k->ppl_base, k->ppl_base_err);
    fprintf(f, "  PPL ratio:        %10.6f +/- %.6f\n", k->ppl_ratio, k->ppl_ratio_err);
    fprintf(f, "  Mean KLD:         %10.6f +/- %.6f (max %.6f)\n", k->kld_mean, k->kld_err,
            k->kld_max);
    fprintf(f, "  Same top p:       %10.3f +/- %.3f %%\n", 100 * k->top1, 100 * k->top1_err);
    fprintf(f, "  RMS Δp:           %10.3f +/- %.3f %%\n", 100 * k->rms_dp, 100 * k->rms_dp_err);
}

void bn_ppl_report_text(const bn_ppl_report *r, FILE *f)
{
    if (!r->res)
        return;
    if (r->ref_dir) {
        reference_text(r, f);
        return;
    }
    fprintf(f, "Final estimate: PPL = %.4f +/- %.5f\n", r->res->ppl, r->res->ppl_err);
    fprintf(f, "  %d chunks, %llu scored tokens, %.2f s, %.1f tokens/s\n", r->res->n_chunks,
            (unsigned long long)r->res->n_scored, r->res->seconds, r->res->tok_per_s);
}
