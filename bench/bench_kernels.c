/*
 * bench_kernels.c - throughput of every available kernel on a 2560 x 6912
 * I2_S matrix (BitNet b1.58 2B's FFN up/gate shape: ne0 = 2560, ne1 = 6912),
 * for 1 token (decode: GB/s of packed weights streamed) and 64 tokens
 * (prefill: GOPS, one multiply-add = 2 ops), with 1 and 2 threads, next to
 * this machine's read bandwidth measured by a STREAM-like probe.
 *
 * "hot" decode reuses one matrix (4.2 MiB: it stays in L2/L3); "streamed"
 * decode walks as many copies as fill the probe buffer (512 MiB, about twice
 * this machine's 260 MiB L3), so the weights come from DRAM as they do for a
 * real model, and is the figure to hold against the probe.
 *
 * A second table gives the same shape as TQ2_0 and TQ1_0 with Q8_K
 * activations (hot only).
 *
 * A third table (also alone with --batch) times the I2_S matmul per batch
 * size, as bn-serve's concurrent streams and prefill see it: the 2B model's
 * three shapes (2560x2560, 2560->6912, 6912->2560), 1..128 tokens, the
 * avx512vnni and amx kernels with 1 and 2 threads, weights streamed from
 * DRAM (each call takes the next of as many copies as fill the probe
 * buffer). The two kernels alternate, one call set each per rep, and the
 * medians of the reps are printed with the spread (max/min - 1) of each.
 *
 * Usage: bench_kernels [seconds per measurement, default 0.3]
 *        bench_kernels --probe [seconds]   only the bandwidth line (scripts/bench_vs.sh)
 *        bench_kernels --batch [reps]      only the batch-size table (default 7 reps)
 * Figures go in closing notes, never into tests.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn/kernels.h"
#include "bn/threadpool.h"
#include "bn/util.h"
#include "bench_util.h"

#define NE0 2560
#define NE1 6912
#define PREFILL 64
#define PROBE_BYTES ((size_t)512 << 20) /* beyond the last-level cache */

static uint64_t rng = 0x243F6A8885A308D3ull;
static uint64_t rnd(void) { return bn_rng_next(&rng); }

/* ---- STREAM-like read probe: sum 64-bit words of a large buffer ---- */

typedef struct {
    const uint64_t *buf;
    size_t words, per_task;
    uint64_t sums[BN_POOL_MAX_THREADS];
} probe_ctx;

static void probe_task(void *vctx, int64_t task, int worker)
{
    probe_ctx *c = vctx;
    size_t a = (size_t)task * c->per_task, b = a + c->per_task < c->words ? a + c->per_task : c->words;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = a; i + 4 <= b; i += 4) {
        s0 += c->buf[i];
        s1 += c->buf[i + 1];
        s2 += c->buf[i + 2];
        s3 += c->buf[i + 3];
    }
    c->sums[worker] += s0 + s1 + s2 + s3;
}

static double probe(bn_pool *pool, const uint64_t *buf, double min_s)
{
    probe_ctx c;
    memset(&c, 0, sizeof c);
    c.buf = buf;
    c.words = PROBE_BYTES / 8;
    int nt = bn_pool_threads(pool);
    c.per_task = c.words / (size_t)nt;
    double best = 1e30, t_end = bn_now_seconds() + min_s;
    do {
        double t0 = bn_now_seconds();
        bn_pool_run(pool, probe_task, &c, nt);
        double dt = bn_now_seconds() - t0;
        if (dt < best)
            best = dt;
    } while (bn_now_seconds() < t_end);
    uint64_t total = 0;
    for (int i = 0; i < nt; i++)
        total += c.sums[i];
    if (total == 42) /* keep the sums alive */
        printf(" ");
    return (double)PROBE_BYTES / best / 1e9;
}

/* Best time of repeated matmuls over at least min_s seconds (1 run minimum). */
static double time_matmul(const bn_kernel *k, bn_pool *pool, const bn_qmat *w,
                          const bn_act *x, float *y, double min_s)
{
    double best = 1e30, t_end = bn_now_seconds() + min_s;
    bn_error e;
    do {
        double t0 = bn_now_seconds();
        if (bn_kernel_matmul_par(k, pool, w, x, y, NE1, &e)) {
            fprintf(stderr, "bench_kernels: %s\n", e.msg);
            exit(1);
        }
        double dt = bn_now_seconds() - t0;
        if (dt < best)
            best = dt;
    } while (bn_now_seconds() < t_end);
    return best;
}

/* ---- batch-size table: I2_S, 2B shapes, streamed weights ---- */

#define BATCH_MAX 128
#define BATCH_REPS_MAX 31
#define BATCH_CALL_S 0.02 /* calls per measurement: at least this long */

typedef struct {
    bn_qmat *w;      /* (n) copies of one shape, side by side in the probe buffer */
    size_t n, next;  /* the next copy to use: every call reads cold weights */
} copy_ring;

/* Seconds per call of k on `calls` successive copies. */
static double ring_time(const bn_kernel *k, bn_pool *pool, copy_ring *cr, const bn_act *x,
                        float *y, int64_t calls)
{
    bn_error e;
    double t0 = bn_now_seconds();
    for (int64_t i = 0; i < calls; i++) {
        if (bn_kernel_matmul_par(k, pool, &cr->w[cr->next], x, y, cr->w[cr->next].ne1, &e)) {
            fprintf(stderr, "bench_kernels: %s\n", e.msg);
            exit(1);
        }
        cr->next = (cr->next + 1) % cr->n;
    }
    return (bn_now_seconds() - t0) / (double)calls;
}

static int batch_table(bn_pool *pools[2], uint64_t *buf, const double bw[2], int reps)
{
    static const int64_t shapes[][2] = {{2560, 2560}, {2560, 6912}, {6912, 2560}}; /* ne0, ne1 */
    static const int64_t toks[] = {1, 2, 4, 8, 12, 16, 32, 128};
    const char *names[2] = {"avx512vnni", "amx"};
    const bn_kernel *ks[2];
    bn_error e;
    for (int i = 0; i < 2; i++)
        if (bn_kernel_get(names[i], &ks[i], &e)) {
            printf("batch table: skipped: %s\n", e.msg);
            return 0;
        }
    float *xf = malloc(sizeof(float) * 6912 * BATCH_MAX), *y = malloc(sizeof(float) * 6912 * BATCH_MAX);
    if (!xf || !y) {
        fprintf(stderr, "bench_kernels: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < (size_t)6912 * BATCH_MAX; i++)
        xf[i] = (float)((double)(rnd() % 20001) / 10000.0 - 1.0);
    printf("\nI2_S matmul per batch size, weights streamed from DRAM; median of %d alternating "
           "reps (spread = max/min - 1)\n", reps);
    printf("%-11s %3s %4s | %-31s | %-31s | %s\n", "shape", "thr", "tok", "avx512vnni: ms  GB/s  spread",
           "amx: ms  GB/s  spread", "amx/vnni");
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int64_t ne0 = shapes[si][0], ne1 = shapes[si][1];
        const size_t wbytes = (size_t)(ne0 * ne1 / 4) + 32, stride = (wbytes + 63) / 64 * 64;
        uint8_t *data = (uint8_t *)buf;
        copy_ring cr = {NULL, PROBE_BYTES / stride, 0};
        cr.w = malloc(cr.n * sizeof *cr.w);
        if (!cr.w) {
            fprintf(stderr, "bench_kernels: out of memory\n");
            return 1;
        }
        for (size_t i = 0; i < wbytes - 32; i++) {
            uint8_t b = 0;
            for (int j = 0; j < 4; j++)
                b = (uint8_t)(b << 2 | (uint8_t)(rnd() % 3));
            data[i] = b;
        }
        const float scale = 0.75f;
        memset(data + wbytes - 32, 0, 32);
        memcpy(data + wbytes - 32, &scale, 4);
        for (size_t c = 0; c < cr.n; c++) {
            if (c)
                memcpy(data + c * stride, data, wbytes);
            if (bn_qmat_init(&cr.w[c], BN_TYPE_I2_S, data + c * stride, wbytes, ne0, ne1, &e)) {
                fprintf(stderr, "bench_kernels: %s\n", e.msg);
                return 1;
            }
        }
        for (size_t ti = 0; ti < sizeof toks / sizeof toks[0]; ti++) {
            bn_act a;
            if (bn_act_init(&a, BN_ACT_TOKEN, toks[ti], ne0, &e) ||
                bn_act_quantize(&a, xf, toks[ti], &e)) {
                fprintf(stderr, "bench_kernels: %s\n", e.msg);
                return 1;
            }
            for (int p = 0; p < 2; p++) {
                double t[2][BATCH_REPS_MAX];
                int64_t calls[2];
                for (int k = 0; k < 2; k++) { /* warm-up call, then enough calls for ~20 ms */
                    double one = ring_time(ks[k], pools[p], &cr, &a, y, 1);
                    calls[k] = (int64_t)(BATCH_CALL_S / one) + 1;
                }
                for (int r = 0; r < reps; r++)
                    for (int k = 0; k < 2; k++)
                        t[k][r] = ring_time(ks[k], pools[p], &cr, &a, y, calls[k]);
                char shape[32];
                snprintf(shape, sizeof shape, "%lldx%lld", (long long)ne0, (long long)ne1);
                printf("%-11s %3d %4lld |", shape, p + 1, (long long)toks[ti]);
                double med[2];
                for (int k = 0; k < 2; k++) {
                    qsort(t[k], (size_t)reps, sizeof t[k][0], bench_cmp_double);
                    med[k] = t[k][reps / 2];
                    double gbs = (double)(wbytes - 32) / med[k] / 1e9;
                    printf(" %9.3f %6.2f %3.0f%% %5.1f%% |", med[k] * 1e3, gbs, 100 * gbs / bw[p],
                           100 * (t[k][reps - 1] / t[k][0] - 1));
                }
                printf(" %5.2f\n", med[1] / med[0]);
                fflush(stdout);
            }
            bn_act_free(&a);
        }
        free(cr.w);
    }
    printf("(GB/s: packed weight bytes per second; %% = of the probe bandwidth with as many threads)\n");
    free(xf);
    free(y);
    return 0;
}

int main(int argc, char **argv)
{
    int probe_only = argc > 1 && strcmp(argv[1], "--probe") == 0;
    int batch_only = argc > 1 && strcmp(argv[1], "--batch") == 0;
    if (probe_only || batch_only) {
        argc--;
        argv++;
    }
    int reps = batch_only && argc > 1 ? atoi(argv[1]) : 7;
    if (reps < 1 || reps > BATCH_REPS_MAX) {
        fprintf(stderr, "bench_kernels: reps must be in [1, %d], got '%s'\n", BATCH_REPS_MAX, argv[1]);
        return 2;
    }
    double min_s = argc > 1 && !batch_only ? atof(argv[1]) : 0.3;
    if (!(min_s > 0) || min_s > 60) {
        fprintf(stderr, "bench_kernels: seconds per measurement must be in (0, 60], got '%s'\n", argv[1]);
        return 2;
    }
    bn_error e;
    bn_pool *pools[2];
    for (int i = 0; i < 2; i++)
        if (bn_pool_create(i + 1, &pools[i], &e)) {
            fprintf(stderr, "bench_kernels: %s\n", e.msg);
            return 1;
        }

    uint64_t *buf = malloc(PROBE_BYTES);
    if (!buf) {
        fprintf(stderr, "bench_kernels: out of memory for the bandwidth probe\n");
        return 1;
    }
    for (size_t i = 0; i < PROBE_BYTES / 8; i++)
        buf[i] = i * 0x9E3779B97F4A7C15ull;
    double bw[2];
    for (int i = 0; i < 2; i++)
        bw[i] = probe(pools[i], buf, min_s);
    printf("read bandwidth (STREAM-like sum over %zu MiB): %.1f GB/s with 1 thread, %.1f GB/s with 2\n",
           PROBE_BYTES >> 20, bw[0], bw[1]);
    if (batch_only) {
        int rc = batch_table(pools, buf, bw, reps);
        free(buf);
        for (int i = 0; i < 2; i++)
            bn_pool_destroy(pools[i]);
        return rc;
    }
    if (probe_only) {
        free(buf);
        for (int i = 0; i < 2; i++)
            bn_pool_destroy(pools[i]);
        return 0;
    }

    const size_t wbytes = (size_t)NE0 * NE1 / 4 + 32;
    /* The probe buffer becomes n_copies matrices, the first one the hot one. */
    uint8_t *data = (uint8_t *)buf;
    const size_t wstride = (wbytes + 63) / 64 * 64, n_copies = PROBE_BYTES / wstride;
    float *xf = malloc(sizeof(float) * NE0 * PREFILL), *y = malloc(sizeof(float) * NE1 * PREFILL);
    if (!xf || !y) {
        fprintf(stderr, "bench_kernels: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < wbytes - 32; i++) { /* random codes 0..2 */
        uint8_t b = 0;
        for (int j = 0; j < 4; j++)
            b = (uint8_t)(b << 2 | (uint8_t)(rnd() % 3));
        data[i] = b;
    }
    memset(data + wbytes - 32, 0, 32);
    const float scale = 0.75f;
    memcpy(data + wbytes - 32, &scale, 4);
    bn_qmat *copies = malloc(n_copies * sizeof *copies);
    for (size_t c = 0; c < n_copies; c++) {
        if (c)
            memcpy(data + c * wstride, data, wbytes);
        if (bn_qmat_init(&copies[c], BN_TYPE_I2_S, data + c * wstride, wbytes, NE0, NE1, &e)) {
            fprintf(stderr, "bench_kernels: %s\n", e.msg);
            return 1;
        }
    }
    for (size_t i = 0; i < (size_t)NE0 * PREFILL; i++)
        xf[i] = (float)((double)(rnd() % 20001) / 10000.0 - 1.0);
    bn_qmat w;
    bn_act a1, a64;
    if (bn_qmat_init(&w, BN_TYPE_I2_S, data, wbytes, NE0, NE1, &e) ||
        bn_act_init(&a1, BN_ACT_TOKEN, 1, NE0, &e) || bn_act_init(&a64, BN_ACT_TOKEN, PREFILL, NE0, &e) ||
        bn_act_quantize(&a1, xf, 1, &e) || bn_act_quantize(&a64, xf, PREFILL, &e)) {
        fprintf(stderr, "bench_kernels: %s\n", e.msg);
        return 1;
    }
    const double packed = (double)NE0 * NE1 / 4;
    printf("I2_S %d x %d (%.2f MiB packed); decode = 1 token, prefill = %d tokens\n",
           NE1, NE0, packed / (1 << 20), PREFILL);
    printf("%-11s %3s | %-17s | %-15s | %-17s\n", "", "", "decode, hot", "decode, streamed",
           "prefill");
    printf("%-11s %3s | %8s %8s | %7s %7s | %8s %8s\n", "kernel", "thr", "ms", "GB/s", "GB/s",
           "% probe", "ms", "GOPS");
    size_t nk;
    const bn_kernel *const *ks = bn_kernel_list(&nk);
    for (size_t i = 0; i < nk; i++) {
        const bn_kernel *k = ks[i];
        if (!k->available())
            continue;
        for (int p = 0; p < 2; p++) {
            double td = time_matmul(k, pools[p], &w, &a1, y, min_s);
            printf("%-11s %3d | %8.3f %8.2f |", k->name, p + 1, td * 1e3, packed / td / 1e9);
            /* The scalar reference needs seconds per pass or per prefill. */
            if (strcmp(k->name, "basic") == 0) {
                printf(" %7s %7s | %8s %8s\n", "-", "-", "-", "-");
                continue;
            }
            double t0 = bn_now_seconds();
            for (size_t c = 0; c < n_copies; c++)
                if (bn_kernel_matmul_par(k, pools[p], &copies[c], &a1, y, NE1, &e)) {
                    fprintf(stderr, "bench_kernels: %s\n", e.msg);
                    return 1;
                }
            double gbs = packed * (double)n_copies / (bn_now_seconds() - t0) / 1e9;
            printf(" %7.2f %6.0f%% |", gbs, 100.0 * gbs / bw[p]);
            double tp = time_matmul(k, pools[p], &w, &a64, y, min_s);
            printf(" %8.3f %8.1f\n", tp * 1e3, 2.0 * NE0 * NE1 * PREFILL / tp / 1e9);
            fflush(stdout);
        }
    }

    /* TQ2_0 / TQ1_0, same shape, Q8_K activations (upstream llama.cpp's pairing). */
    bn_act q1, q64;
    if (bn_act_init(&q1, BN_ACT_Q8K, 1, NE0, &e) || bn_act_init(&q64, BN_ACT_Q8K, PREFILL, NE0, &e) ||
        bn_act_quantize(&q1, xf, 1, &e) || bn_act_quantize(&q64, xf, PREFILL, &e)) {
        fprintf(stderr, "bench_kernels: %s\n", e.msg);
        return 1;
    }
    printf("\nTQ2_0 / TQ1_0 %d x %d, Q8_K activations, hot\n", NE1, NE0);
    printf("%-11s %5s %3s | %8s %8s | %8s %8s\n", "kernel", "type", "thr", "ms", "GB/s", "ms", "GOPS");
    for (int ty = 0; ty < 2; ty++) {
        const bn_type type = ty ? BN_TYPE_TQ1_0 : BN_TYPE_TQ2_0;
        const size_t bb = ty ? 54 : 66, nbytes = (size_t)NE1 * (NE0 / 256) * bb;
        uint8_t *td = data; /* reuse the probe buffer */
        for (size_t blk = 0; blk < nbytes / bb; blk++) {
            uint8_t *p = td + blk * bb;
            if (!ty) {
                for (int i = 0; i < 64; i++) {
                    uint8_t b = 0;
                    for (int j = 0; j < 4; j++)
                        b = (uint8_t)(b << 2 | (uint8_t)(rnd() % 3));
                    p[i] = b;
                }
            } else {
                for (int i = 0; i < 48; i++)
                    p[i] = (uint8_t)(((rnd() % 243) * 256 + 242) / 243);
                for (int i = 48; i < 52; i++)
                    p[i] = (uint8_t)(((rnd() % 81) * 3 * 256 + 242) / 243);
            }
            p[bb - 2] = 0x00;
            p[bb - 1] = 0x2c; /* d = 2^-4 */
        }
        bn_qmat tw;
        if (bn_qmat_init(&tw, type, td, nbytes, NE0, NE1, &e)) {
            fprintf(stderr, "bench_kernels: %s\n", e.msg);
            return 1;
        }
        for (size_t i = 0; i < nk; i++) {
            const bn_kernel *k = ks[i];
            if (!k->available() || strcmp(k->name, "basic") == 0)
                continue;
            for (int p = 0; p < 2; p++) {
                double td1 = time_matmul(k, pools[p], &tw, &q1, y, min_s);
                double tp = time_matmul(k, pools[p], &tw, &q64, y, min_s);
                printf("%-11s %5s %3d | %8.3f %8.2f | %8.3f %8.1f\n", k->name, ty ? "TQ1_0" : "TQ2_0",
                       p + 1, td1 * 1e3, (double)nbytes / td1 / 1e9, tp * 1e3,
                       2.0 * NE0 * NE1 * PREFILL / tp / 1e9);
                fflush(stdout);
            }
        }
    }
    bn_act_free(&q1);
    bn_act_free(&q64);
    bn_act_free(&a1);
    bn_act_free(&a64);
    free(copies);
    if (batch_table(pools, buf, bw, reps))
        return 1;
    free(buf);
    free(xf);
    free(y);
    for (int i = 0; i < 2; i++)
        bn_pool_destroy(pools[i]);
    return 0;
}
