/*
 * pack_threads.c - whole-tensor packing and unpacking split across pthreads.
 * Rows are cut into n_threads contiguous ranges; each range is independent
 * (the row packers write disjoint bytes), so results do not depend on the
 * thread count.
 */
#include "bn/quant.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant_internal.h"

#define BNQ_MAX_THREADS 256

typedef struct {
    bnq_rows_fn fn;
    void *ctx;
    int64_t r0, r1;
    bn_status st;
    bn_error err;
} bnq_job;

static void *job_main(void *arg)
{
    bnq_job *j = arg;
    j->st = j->fn(j->ctx, j->r0, j->r1, &j->err);
    return NULL;
}

bn_status bnq_parallel_rows(int64_t n_rows, int n_threads, bnq_rows_fn fn, void *ctx, bn_error *err)
{
    if (n_threads < 1)
        n_threads = 1;
    if (n_threads > BNQ_MAX_THREADS)
        n_threads = BNQ_MAX_THREADS;
    if ((int64_t)n_threads > n_rows)
        n_threads = n_rows > 0 ? (int)n_rows : 1;
    if (n_threads == 1)
        return fn(ctx, 0, n_rows, err);

    bnq_job *jobs = calloc((size_t)n_threads, sizeof *jobs);
    pthread_t *tids = calloc((size_t)n_threads, sizeof *tids);
    int *started = calloc((size_t)n_threads, sizeof *started);
    if (!jobs || !tids || !started) {
        free(jobs);
        free(tids);
        free(started);
        return bn_error_set(err, BN_ENOMEM, "out of memory starting %d threads", n_threads);
    }
    for (int i = 0; i < n_threads; i++) {
        jobs[i].fn = fn;
        jobs[i].ctx = ctx;
        jobs[i].r0 = n_rows * i / n_threads;
        jobs[i].r1 = n_rows * (i + 1) / n_threads;
    }
    /* Thread 0's range runs in the caller; a range whose thread cannot be
     * created also runs here, so a failing pthread_create only costs speed. */
    for (int i = 1; i < n_threads; i++)
        started[i] = pthread_create(&tids[i], NULL, job_main, &jobs[i]) == 0;
    job_main(&jobs[0]);
    for (int i = 1; i < n_threads; i++) {
        if (started[i])
            pthread_join(tids[i], NULL);
        else
            job_main(&jobs[i]);
    }
    bn_status st = BN_OK;
    for (int i = 0; i < n_threads && st == BN_OK; i++)
        if (jobs[i].st) {
            st = jobs[i].st;
            if (err)
                *err = jobs[i].err;
        }
    free(jobs);
    free(tids);
    free(started);
    return st;
}

/* ---- whole-tensor entry points ------------------------------------------------- */

typedef struct {
    bn_type t;
    const float *f32;
    const int8_t *codes;
    float scale;
    int64_t ne0, n_rows;
    const void *src;
    size_t src_size;
    void *dst;
} pack_ctx;

static bn_status pack_f32_job(void *c, int64_t r0, int64_t r1, bn_error *err)
{
    pack_ctx *p = c;
    return bn_pack_f32_rows(p->t, p->f32, p->ne0, r0, r1, p->dst, err);
}

static bn_status pack_ternary_job(void *c, int64_t r0, int64_t r1, bn_error *err)
{
    pack_ctx *p = c;
    return bn_pack_ternary_rows(p->t, p->codes, p->scale, p->ne0, r0, r1, p->dst, err);
}

static bn_status unpack_f32_job(void *c, int64_t r0, int64_t r1, bn_error *err)
{
    pack_ctx *p = c;
    return bn_unpack_f32_rows(p->t, p->src, p->src_size, p->ne0, p->n_rows, r0, r1,
                              (float *)p->dst + (size_t)r0 * (size_t)p->ne0, err);
}

static bn_status check_dst(bn_type t, int64_t ne0, int64_t n_rows, size_t dst_size, bn_error *err)
{
    size_t want;
    bn_status st = bn_quant_packed_size(t, ne0, n_rows, &want, err);
    if (st)
        return st;
    if (dst_size != want)
        return bn_error_set(err, BN_EINVAL, "%s tensor of %lld x %lld needs %zu bytes, buffer has %zu",
                            bn_type_name((uint32_t)t), (long long)n_rows, (long long)ne0, want, dst_size);
    return BN_OK;
}

bn_status bn_pack_f32(bn_type t, const float *src, int64_t ne0, int64_t n_rows, void *dst,
                      size_t dst_size, int n_threads, bn_error *err)
{
    bn_status st = check_dst(t, ne0, n_rows, dst_size, err);
    if (st)
        return st;
    pack_ctx p = {.t = t, .f32 = src, .ne0 = ne0, .n_rows = n_rows, .dst = dst};
    return bnq_parallel_rows(n_rows, n_threads, pack_f32_job, &p, err);
}

bn_status bn_pack_ternary(bn_type t, const int8_t *codes, float scale, int64_t ne0,
                          int64_t n_rows, void *dst, size_t dst_size, int n_threads,
                          bn_error *err)
{
    bn_status st = check_dst(t, ne0, n_rows, dst_size, err);
    if (st)
        return st;
    pack_ctx p = {.t = t, .codes = codes, .scale = scale, .ne0 = ne0, .n_rows = n_rows, .dst = dst};
    if ((st = bnq_parallel_rows(n_rows, n_threads, pack_ternary_job, &p, err)))
        return st;
    if (t == BN_TYPE_I2_S)
        bn_pack_i2s_tail(scale, (uint8_t *)dst + dst_size - BN_I2_S_TAIL);
    return BN_OK;
}

bn_status bn_unpack_f32(bn_type t, const void *src, size_t src_size, int64_t ne0,
                        int64_t n_rows, float *dst, int n_threads, bn_error *err)
{
    pack_ctx p = {.t = t, .src = src, .src_size = src_size, .ne0 = ne0, .n_rows = n_rows, .dst = dst};
    return bnq_parallel_rows(n_rows, n_threads, unpack_f32_job, &p, err);
}
