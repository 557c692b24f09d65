/* bench_model - prompt-processing throughput against the batch size, for each
 * kernel: shows what evaluating a prompt as matrix x matrix buys over
 * token-by-token mat-vecs (n_batch 1), and token generation speed.
 *
 *   bench_model [MODEL.gguf] [n_prompt=64] [n_gen=16] [threads=0]
 *
 * Without MODEL, $BN_BENCH_MODEL is used; without either it says how to make
 * one and skips (exit 0), so `make bench` never needs a 1.2 GB file.
 *
 * Make a model of the BitNet-2B shapes first (~1.2 GB, keep it out of the repo):
 *   build/bn-synth --preset 2b -o /tmp/bn-2b.gguf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn/kernels.h"
#include "bn/model.h"
#include "bn/util.h"

static int die(const char *what, const bn_error *e)
{
    fprintf(stderr, "bench_model: %s: %s\n", what, e->msg);
    return 2;
}

/* tokens/s of evaluating toks[0..n) with the given batch size, or token by token
 * with logits each time (gen). */
static double run(bn_model *m, const int32_t *toks, int n, int n_batch, int gen, bn_error *e)
{
    bn_ctx_params p;
    bn_ctx_params_default(&p);
    p.n_ctx = n + 1;
    p.n_batch = n_batch;
    bn_ctx *c;
    if (bn_ctx_new(m, &p, &c, e))
        return -1;
    float *lg = malloc((size_t)bn_model_hparams(m)->n_vocab * sizeof *lg);
    double t0 = bn_now_seconds();
    bn_status st = BN_OK;
    if (gen)
        for (int i = 0; i < n && !st; i++)
            st = bn_ctx_eval(c, 0, &toks[i], 1, i, BN_LOGITS_LAST, lg, e);
    else
        st = bn_ctx_eval(c, 0, toks, n, 0, BN_LOGITS_LAST, lg, e);
    double dt = bn_now_seconds() - t0;
    free(lg);
    bn_ctx_free(c);
    return st ? -1 : n / dt;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--help")) {
        printf("usage: bench_model [MODEL.gguf] [n_prompt=64] [n_gen=16] [threads=0]\n");
        return 0;
    }
    const char *path = argc > 1 ? argv[1] : getenv("BN_BENCH_MODEL");
    if (!path || !*path) {
        printf("bench_model: skipped: no model. Make one with the BitNet-2B shapes:\n"
               "  build/bn-synth --preset 2b -o /tmp/bn-2b.gguf\n"
               "then run: BN_BENCH_MODEL=/tmp/bn-2b.gguf make bench\n");
        return 0;
    }
    int n_prompt = argc > 2 ? atoi(argv[2]) : 64, n_gen = argc > 3 ? atoi(argv[3]) : 16;
    int threads = argc > 4 ? atoi(argv[4]) : 0;
    if (n_prompt < 1 || n_gen < 1 || n_prompt > 65536 || n_gen > 65536) {
        fprintf(stderr, "bench_model: n_prompt and n_gen must be in [1, 65536]\n");
        return 2;
    }
    bn_error e;
    bn_model_opts o;
    bn_model_opts_default(&o);
    o.n_threads = threads;
    bn_model *m;
    double t0 = bn_now_seconds();
    if (bn_model_load(path, &o, &m, &e))
        return die(path, &e);
    const bn_hparams *hp = bn_model_hparams(m);
    printf("model %s: %s %s, %d layers, %d/%d, vocab %d, %.2f GiB, loaded in %.2f s, "
           "%d threads\n",
           path, hp->arch_name, bn_type_name(hp->proj_type), hp->n_layer, hp->n_embd, hp->n_ff,
           hp->n_vocab, bn_model_weight_bytes(m) / 1073741824.0, bn_now_seconds() - t0,
           bn_model_n_threads(m));
    int n = n_prompt > n_gen ? n_prompt : n_gen;
    int32_t *toks = malloc((size_t)n * sizeof *toks);
    for (int i = 0; i < n; i++)
        toks[i] = (int32_t)((i * 2654435761u) % (uint32_t)hp->n_vocab);

    size_t nk;
    const bn_kernel *const *ks = bn_kernel_list(&nk);
    int batches[3] = {1, 16, n_prompt};
    printf("| kernel | pp%d b1 | pp%d b16 | pp%d b%d | tg%d |\n", n_prompt, n_prompt, n_prompt,
           n_prompt, n_gen);
    printf("| --- | ---: | ---: | ---: | ---: |\n");
    for (size_t k = 0; k < nk; k++) {
        if (!ks[k]->available() || bn_model_set_kernel(m, ks[k]->name, &e))
            continue;
        printf("| %s |", ks[k]->name);
        for (int b = 0; b < 3; b++) {
            double r = run(m, toks, n_prompt, batches[b], 0, &e);
            if (r < 0)
                return die("eval", &e);
            printf(" %.2f |", r);
            fflush(stdout);
        }
        double r = run(m, toks, n_gen, 1, 1, &e);
        if (r < 0)
            return die("eval", &e);
        printf(" %.2f |\n", r);
    }
    free(toks);
    bn_model_free(m);
    return 0;
}
