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
 * Usage: bench_kernels [seconds per measurement, default 0.3]
 *        bench_kernels --probe [seconds]   only the bandwidth line (scripts/bench_vs.sh)
 * Figures go in closing notes, never into tests.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn/kernels.h"
#include "bn/threadpool.h"
#include "bn/util.h"

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

int main(int argc, char **argv)
{
    int probe_only = argc > 1 && strcmp(argv[1], "--probe") == 0;
    if (probe_only) {
        argc--;
        argv++;
    }
    double min_s = argc > 1 ? atof(argv[1]) : 0.3;
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
    free(buf);
    free(xf);
    free(y);
    for (int i = 0; i < 2; i++)
        bn_pool_destroy(pools[i]);
    return 0;
}
