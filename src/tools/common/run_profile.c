/* run_profile.c - bn-run --profile (see run_profile.h). The context times its
 * own operations (bn_ctx_set_profile); this file drives a prefill batch and
 * decode steps, times the sampler and the whole steps, and prints. */
#include "run_profile.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bn/util.h"

typedef struct {
    bn_profile p;
    double wall;            /* seconds of the steps, end to end */
    int steps;              /* steps the sums cover */
    int tokens;             /* tokens per step */
} phase;

static void print_phase(FILE *out, const char *title, const phase *ph)
{
    double per = 1.0 / ph->steps, covered = 0.0, bytes = 0.0;
    fprintf(out, "\n%s: %d step%s of %d token%s, %.3f ms per step, %.2f tokens/s\n", title,
            ph->steps, ph->steps == 1 ? "" : "s", ph->tokens, ph->tokens == 1 ? "" : "s",
            ph->wall * per * 1e3, ph->steps * (double)ph->tokens / ph->wall);
    fprintf(out, "| op | calls/step | ms/step | share | GB/s | GOPS |\n");
    fprintf(out, "| --- | ---: | ---: | ---: | ---: | ---: |\n");
    for (int i = 0; i < BN_PROF_N_OPS; i++) {
        const bn_prof_stat *s = &ph->p.op[i];
        covered += s->seconds;
        bytes += s->bytes;
        char gbs[32] = "", gops[32] = "";
        if (s->bytes > 0 && s->seconds > 0)
            snprintf(gbs, sizeof gbs, "%.2f", s->bytes / s->seconds / 1e9);
        if (s->ops > 0 && s->seconds > 0)
            snprintf(gops, sizeof gops, "%.1f", s->ops / s->seconds / 1e9);
        fprintf(out, "| %s | %.0f | %.3f | %.1f %% | %s | %s |\n", bn_prof_op_name((bn_prof_op)i),
                s->calls * per, s->seconds * per * 1e3, 100.0 * s->seconds / ph->wall, gbs, gops);
    }
    double other = ph->wall - covered;
    fprintf(out, "| other | - | %.3f | %.1f %% | | |\n", other * per * 1e3,
            100.0 * other / ph->wall);
    fprintf(out, "| total | - | %.3f | 100.0 %% | %.2f | |\n", ph->wall * per * 1e3,
            bytes / ph->wall / 1e9);
}

bn_status bn_profile_run(const bn_profile_opts *o, bn_model *m, FILE *out, bn_error *err)
{
    const bn_hparams *hp = bn_model_hparams(m);
    int n_ctx = o->n_ctx > 0 ? o->n_ctx : hp->n_ctx_train;
    int pp = o->pp > 0 ? o->pp : (n_ctx / 2 < 128 ? n_ctx / 2 : 128);
    pp = pp < 1 ? 1 : pp;
    int tg = o->tg > 0 ? o->tg : (n_ctx - pp < 32 ? n_ctx - pp : 32);
    if (tg < 1 || pp + tg > n_ctx)
        return bn_error_set(err, BN_EINVAL, "profile: a prefill of %d tokens and %d decode steps "
                            "exceed the context of %d positions (-c)", pp, tg, n_ctx);
    bn_ctx_params cp;
    bn_ctx_params_default(&cp);
    cp.n_ctx = pp + tg;
    cp.n_batch = pp;
    cp.kv_type = o->kv;
    bn_sampler_params sp;
    bn_sampler_params_default(&sp);
    if (o->sp)
        sp = *o->sp;
    bn_ctx *c = NULL;
    bn_sampler *smp = NULL;
    phase *ph = calloc(2, sizeof *ph); /* [0] prefill, [1] decode */
    int32_t *toks = malloc((size_t)pp * sizeof *toks);
    float *logits = malloc((size_t)hp->n_vocab * sizeof *logits);
    bn_status st = ph && toks && logits ? BN_OK
                                        : bn_error_set(err, BN_ENOMEM, "profile: out of memory");
    if (!st)
        st = bn_ctx_new(m, &cp, &c, err);
    if (!st)
        st = bn_sampler_new(&sp, hp->n_vocab, &smp, err);
    uint64_t r = 12345;
    for (int i = 0; i < pp && !st; i++)
        toks[i] = (int32_t)(bn_rng_next(&r) % (uint64_t)hp->n_vocab);
    if (!st) /* warm-up: the prefill batch once, untimed, as --bench does (the
              * mapping, the KV cache and the scratch faulted in) */
        st = bn_ctx_eval(c, 0, toks, pp, 0, BN_LOGITS_LAST, logits, err);
    if (!st) {
        bn_ctx_clear(c, 0);
        bn_ctx_set_profile(c, &ph[0].p);
        double t0 = bn_now_seconds();
        st = bn_ctx_eval(c, 0, toks, pp, 0, BN_LOGITS_LAST, logits, err);
        ph[0].wall = bn_now_seconds() - t0;
        ph[0].steps = 1;
        ph[0].tokens = pp;
    }
    bn_ctx_set_profile(c, &ph[1].p);
    int32_t next = toks[pp - 1];
    for (int i = 0; i < tg && !st; i++) {
        double t0 = bn_now_seconds();
        st = bn_ctx_eval(c, 0, &next, 1, pp + i, BN_LOGITS_LAST, logits, err);
        if (st)
            break;
        double t1 = bn_now_seconds();
        next = bn_sampler_sample(smp, logits);
        bn_sampler_accept(smp, next);
        double t2 = bn_now_seconds();
        bn_prof_stat *s = &ph[1].p.op[BN_PROF_SAMPLE];
        s->seconds += t2 - t1;
        s->calls += 1;
        s->bytes += (double)hp->n_vocab * sizeof(float);
        ph[1].wall += t2 - t0;
    }
    ph[1].steps = tg;
    ph[1].tokens = 1;
    if (!st) {
        fprintf(out, "profile: %s, kernel %s, %d threads, %.2f MiB of weights, KV %s\n",
                hp->arch_name, bn_model_kernel(m), bn_model_n_threads(m),
                (double)bn_model_weight_bytes(m) / 1048576.0, o->kv == BN_KV_F16 ? "f16" : "f32");
        print_phase(out, "prefill", &ph[0]);
        print_phase(out, "decode", &ph[1]);
        fprintf(out, "\nGB/s: the bytes an operation reads (weights, KV) over its time; on the "
                     "total row, all of them over the step's wall time\n");
    }
    if (c)
        bn_ctx_set_profile(c, NULL);
    bn_sampler_free(smp);
    bn_ctx_free(c);
    free(toks);
    free(logits);
    free(ph);
    return st;
}
