/*
 * bench_attention.c - attention alone at depth: one decode step (one token
 * per sequence) of every layer over a KV cache of the BitNet-2B-4T shape
 * (30 layers, 20 query heads sharing 5 KV heads of 128), `depth` positions
 * cached per sequence. At depth 4096 an F16 cache is 315 MB per sequence,
 * far beyond the caches, so each step streams it from DRAM as decode does.
 *
 * Per cell: the median of `reps` steps (after one warm-up step), in ms per
 * step, the K and V bytes read per second (GB/s, to hold against the
 * bandwidth probe), the spread (max/min - 1), and the median CPU time per
 * step (all threads), less disturbed than the wall clock by other work.
 *
 * Usage: bench_attention [reps=7] [depth=4096] [f16|f32] [n_seq=1] [auto|split|tiles]
 * Figures go in closing notes, never into tests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bn/threadpool.h"
#include "bn/util.h"
#include "runtime/model_internal.h"
#include "bench_util.h"

enum { LAYERS = 30, HEADS = 20, KV_HEADS = 5, HEAD_DIM = 128, MAX_SEQ = 64 };

/* A float in [-2, 2) from the generator. */
static float uniform(uint64_t *rng)
{
    return (float)((double)(bn_rng_next(rng) >> 11) / 2251799813685248.0 - 2.0);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--help")) {
        printf("usage: bench_attention [reps=7] [depth=4096] [f16|f32] [n_seq=1] "
               "[auto|split|tiles]\n");
        return 0;
    }
    const int reps = argc > 1 ? atoi(argv[1]) : 7, depth = argc > 2 ? atoi(argv[2]) : 4096;
    const int f16 = argc > 3 ? strcmp(argv[3], "f32") != 0 : 1;
    const int n_seq = argc > 4 ? atoi(argv[4]) : 1;
    const char *plan_name = argc > 5 ? argv[5] : "auto";
    const int plan = !strcmp(plan_name, "split") ? BNR_ATT_SPLIT
                     : !strcmp(plan_name, "tiles") ? BNR_ATT_TILES : BNR_ATT_AUTO;
    if (reps < 1 || reps > 1000 || depth < 1 || depth > 65536 || n_seq < 1 || n_seq > MAX_SEQ) {
        fprintf(stderr, "bench_attention: reps in [1, 1000], depth in [1, 65536], n_seq in "
                        "[1, %d]\n", MAX_SEQ);
        return 2;
    }
    bn_error e;
    bn_kvcache kv;
    const int n_ctx = depth + 1, kvd = KV_HEADS * HEAD_DIM, qd = HEADS * HEAD_DIM;
    if (bnr_kv_init(&kv, f16 ? BN_KV_F16 : BN_KV_F32, LAYERS, n_seq, n_ctx, KV_HEADS, HEAD_DIM,
                    &e)) {
        fprintf(stderr, "bench_attention: %s\n", e.msg);
        return 3;
    }
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    float *k = malloc(sizeof(float) * kvd), *v = malloc(sizeof(float) * kvd);
    float *q = malloc(sizeof(float) * (size_t)n_seq * qd);
    float *out = malloc(sizeof(float) * (size_t)n_seq * qd);
    double *dt = malloc(sizeof(double) * (size_t)reps), *ct = malloc(sizeof(double) * (size_t)reps);
    if (!k || !v || !q || !out || !dt || !ct) {
        fprintf(stderr, "bench_attention: out of memory\n");
        return 3;
    }
    for (int l = 0; l < LAYERS; l++)
        for (int s = 0; s < n_seq; s++)
            for (int p = 0; p < n_ctx; p++) {
                for (int i = 0; i < kvd; i++) {
                    k[i] = uniform(&rng);
                    v[i] = uniform(&rng);
                }
                bnr_kv_store(&kv, l, s, p, k, v);
            }
    for (int i = 0; i < n_seq * qd; i++)
        q[i] = uniform(&rng);
    int seq[MAX_SEQ], pos[MAX_SEQ];
    for (int s = 0; s < n_seq; s++) {
        seq[s] = s;
        pos[s] = depth;
    }
    const bn_hparams hp = {.n_head = HEADS, .n_head_kv = KV_HEADS, .head_dim = HEAD_DIM};
    printf("attention: %d layers, %d heads / %d KV heads of %d, %s cache, depth %d, %d "
           "sequence(s), plan %s; median of %d steps\n",
           LAYERS, HEADS, KV_HEADS, HEAD_DIM, f16 ? "F16" : "F32", depth, n_seq, plan_name, reps);
    printf("| threads | ms/step | GB/s | spread | cpu ms/step |\n");
    printf("| ---: | ---: | ---: | ---: | ---: |\n");
    for (int nt = 1; nt <= 2; nt++) {
        bn_pool *pool;
        bnr_att *a;
        if (bn_pool_create(nt, &pool, &e) || bnr_att_new(&hp, n_ctx, n_seq, nt, &a, &e)) {
            fprintf(stderr, "bench_attention: %s\n", e.msg);
            return 3;
        }
        bnr_att_set_plan(a, plan, 16);
        double bytes = 0.0;
        for (int r = -1; r < reps; r++) {
            const double t0 = bn_now_seconds(), c0 = bench_cpu_seconds();
            bytes = 0.0;
            for (int l = 0; l < LAYERS; l++) {
                bnr_attention(a, pool, &kv, l, q, seq, pos, n_seq, out);
                bytes += bnr_att_kv_bytes(a);
            }
            if (r >= 0) {
                dt[r] = bn_now_seconds() - t0;
                ct[r] = bench_cpu_seconds() - c0;
            }
        }
        qsort(dt, (size_t)reps, sizeof *dt, bench_cmp_double);
        qsort(ct, (size_t)reps, sizeof *ct, bench_cmp_double);
        const double med = dt[reps / 2];
        printf("| %d | %.2f | %.1f | %.0f %% | %.2f |\n", nt, med * 1e3, bytes / med / 1e9,
               (dt[reps - 1] / dt[0] - 1) * 100, ct[reps / 2] * 1e3);
        fflush(stdout);
        bnr_att_free(a);
        bn_pool_destroy(pool);
    }
    bnr_kv_free(&kv);
    free(k);
    free(v);
    free(q);
    free(out);
    free(dt);
    free(ct);
    return 0;
}
