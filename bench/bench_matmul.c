/*
 * bench_matmul.c - the float head alone: bnr_matmul on an F16 weight of the
 * BitNet-2B-4T output shape (128256 rows x 2560, 657 MB: far beyond the
 * caches, so every call streams it from DRAM as the model's head does), for
 * token counts from decode (1) through serving batches (2..15) to prefill
 * and perplexity (64, 256), with 1 and 2 threads.
 *
 * Per cell: the median of `reps` calls (after one warm-up call), in ms per
 * call, with the weight bytes streamed per second (GB/s, the decode figure
 * to hold against the memory bandwidth) and GFLOP/s (one multiply-add = 2
 * flops; the prefill figure to hold against the mul+add peak), and the
 * spread (max/min - 1) of the calls so a noisy machine shows; and the median
 * CPU time per call (all threads), which time-slicing with other processes
 * disturbs less than the wall clock.
 *
 * Usage: bench_matmul [reps=7] [rows=128256] [n_in=2560] [tokens...]
 * Figures go in closing notes, never into tests.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bn/gguf.h"
#include "bn/threadpool.h"
#include "bn/util.h"
#include "runtime/model_internal.h"
#include "bench_util.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

/* A roughly Gaussian float (sum of 4 uniforms), scaled like a trained head. */
static float small_gauss(void)
{
    double s = 0;
    for (int i = 0; i < 4; i++)
        s += (double)(bn_rng_next(&rng) >> 11) / 9007199254740992.0 - 0.5;
    return (float)(s * 0.05);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--help")) {
        printf("usage: bench_matmul [reps=7] [rows=128256] [n_in=2560] [tokens...]\n");
        return 0;
    }
    int reps = argc > 1 ? atoi(argv[1]) : 7;
    int n_out = argc > 2 ? atoi(argv[2]) : 128256, n_in = argc > 3 ? atoi(argv[3]) : 2560;
    int toks[32] = {1, 2, 4, 8, 12, 16, 64, 256}, n_toks = 8;
    if (argc > 4) {
        n_toks = 0;
        for (int i = 4; i < argc && n_toks < 32; i++)
            toks[n_toks++] = atoi(argv[i]);
    }
    if (reps < 1 || reps > 1000 || n_out < 1 || n_in < 8 || n_in > 65536) {
        fprintf(stderr, "bench_matmul: reps in [1, 1000], rows >= 1, n_in in [8, 65536]\n");
        return 2;
    }
    int max_tok = 1;
    for (int i = 0; i < n_toks; i++) {
        if (toks[i] < 1 || toks[i] > 4096) {
            fprintf(stderr, "bench_matmul: token counts in [1, 4096]\n");
            return 2;
        }
        max_tok = toks[i] > max_tok ? toks[i] : max_tok;
    }
    size_t rb = 2 * (size_t)n_in;
    uint8_t *data = malloc(rb * (size_t)n_out);
    float *x = malloc(sizeof(float) * (size_t)max_tok * n_in);
    float *y = malloc(sizeof(float) * (size_t)max_tok * n_out);
    if (!data || !x || !y) {
        fprintf(stderr, "bench_matmul: out of memory\n");
        return 3;
    }
    for (size_t i = 0; i < (size_t)n_in * n_out; i++) {
        uint16_t h = bn_f32_to_f16(small_gauss());
        memcpy(data + 2 * i, &h, 2);
    }
    for (size_t i = 0; i < (size_t)max_tok * n_in; i++)
        x[i] = small_gauss() * 20.0f;
    bn_weight w = {.name = "output.weight", .type = BN_TYPE_F16, .n_in = n_in, .n_out = n_out,
                   .data = data, .nbytes = rb * (size_t)n_out, .row_bytes = rb, .scale = 1.0f};
    printf("F16 weight %d x %d (%.0f MB), median of %d calls\n", n_out, n_in,
           (double)w.nbytes / 1e6, reps);
    printf("| threads | tokens | ms/call | GB/s | GFLOP/s | spread | cpu ms/call |\n");
    printf("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    double *dt = malloc(sizeof(double) * (size_t)reps), *ct = malloc(sizeof(double) * (size_t)reps);
    for (int nt = 1; nt <= 2; nt++) {
        bn_error e;
        bn_model m;
        memset(&m, 0, sizeof m);
        if (bn_pool_create(nt, &m.pool, &e)) {
            fprintf(stderr, "bench_matmul: %s\n", e.msg);
            return 3;
        }
        bn_mm_scratch *s;
        if (bnr_mm_scratch_new(&m, max_tok, n_in, &s, &e)) {
            fprintf(stderr, "bench_matmul: %s\n", e.msg);
            return 3;
        }
        for (int k = 0; k < n_toks; k++) {
            bnr_mm_set_input(s, x, toks[k], n_in);
            for (int r = -1; r < reps; r++) {
                double t0 = bn_now_seconds(), c0 = bench_cpu_seconds();
                if (bnr_matmul(&m, s, &w, y, &e)) {
                    fprintf(stderr, "bench_matmul: %s\n", e.msg);
                    return 3;
                }
                if (r >= 0) {
                    dt[r] = bn_now_seconds() - t0;
                    ct[r] = bench_cpu_seconds() - c0;
                }
            }
            qsort(dt, (size_t)reps, sizeof *dt, bench_cmp_double);
            qsort(ct, (size_t)reps, sizeof *ct, bench_cmp_double);
            double med = dt[reps / 2];
            printf("| %d | %d | %.2f | %.1f | %.1f | %.0f %% | %.2f |\n", nt, toks[k], med * 1e3,
                   (double)w.nbytes / med / 1e9,
                   2.0 * n_in * (double)n_out * toks[k] / med / 1e9,
                   (dt[reps - 1] / dt[0] - 1) * 100, ct[reps / 2] * 1e3);
            fflush(stdout);
        }
        bnr_mm_scratch_free(s);
        bn_pool_destroy(m.pool);
    }
    free(dt);
    free(ct);
    free(data);
    free(x);
    free(y);
    return 0;
}
