/*
 * threadpool.c - persistent workers, one generation counter, a barrier.
 *
 * bn_pool_run() publishes (fn, ctx, n_tasks) under the mutex, bumps the
 * generation and wakes the workers; every participant (the caller included)
 * pulls task indices from an atomic counter until they run out, and the
 * caller sleeps until the last worker has checked out. The mutex hand-offs
 * order the job's publication before the tasks and the tasks' writes before
 * bn_pool_run() returns.
 *
 * A decode step issues hundreds of short runs back to back, and a condition
 * variable round trip costs ~10 us. So both sides first poll the atomic
 * generation / active count SPIN_ITERS times, yielding the core between
 * polls (about 100 us in all), and only then sleep: back-to-back runs skip
 * the futex (~3 us per run instead of ~10 on this project's 2-core machine),
 * an idle pool still sleeps, and a poller never starves the thread it waits
 * for when cores are oversubscribed (a pause-spin did: 100+ us stalls).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bn/threadpool.h"

#define SPIN_ITERS 200

struct bn_pool {
    int n;                      /* workers including the caller */
    pthread_t *threads;         /* (n - 1) */
    pthread_mutex_t mu;         /* guards everything below except next */
    pthread_cond_t start;       /* generation bumped or stop set */
    pthread_cond_t done;        /* active reached 0 */
    pthread_mutex_t run_mu;     /* one bn_pool_run at a time */
    atomic_uint_fast64_t gen;   /* written under mu, polled without it */
    atomic_int stop;
    atomic_int active;          /* helpers still inside the current generation */
    bn_pool_fn fn;
    void *ctx;
    int64_t n_tasks;
    atomic_int_fast64_t next;   /* next task index to hand out */
};

typedef struct {
    bn_pool *pool;
    int index;
} worker_arg;

/* Index of the calling thread while it runs a pool task, else -1: a nested
 * bn_pool_run() then runs inline instead of deadlocking. */
static _Thread_local int tl_worker = -1;

int bn_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > BN_POOL_MAX_THREADS ? BN_POOL_MAX_THREADS : (int)n;
}

/* One poll of a spin-wait: yield the core, so a spinning thread never keeps
 * the thread it waits for off the CPU on an oversubscribed machine. */
static inline void cpu_relax(void)
{
    sched_yield();
}

static void drain(bn_pool *p, int worker)
{
    int saved = tl_worker;
    tl_worker = worker;
    for (;;) {
        int64_t i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (i >= p->n_tasks)
            break;
        p->fn(p->ctx, i, worker);
    }
    tl_worker = saved;
}

static void *worker_main(void *varg)
{
    worker_arg *arg = varg;
    bn_pool *p = arg->pool;
    const int index = arg->index;
    free(arg);
    uint64_t seen = 0;
    for (;;) {
        for (int i = 0; i < SPIN_ITERS && atomic_load(&p->gen) == seen && !atomic_load(&p->stop); i++)
            cpu_relax();
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
            pthread_cond_wait(&p->start, &p->mu);
        if (p->stop)
            break;
        seen = atomic_load(&p->gen);
        pthread_mutex_unlock(&p->mu);
        drain(p, index);
        pthread_mutex_lock(&p->mu);
        if (atomic_fetch_sub(&p->active, 1) == 1)
            pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void stop_workers(bn_pool *p, int started)
{
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < started; i++)
        pthread_join(p->threads[i], NULL);
}

static void free_pool(bn_pool *p)
{
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->run_mu);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    free(p->threads);
    free(p);
}

bn_status bn_pool_create(int n_threads, bn_pool **out, bn_error *err)
{
    *out = NULL;
    if (n_threads <= 0)
        n_threads = bn_cpu_count();
    if (n_threads > BN_POOL_MAX_THREADS)
        return bn_error_set(err, BN_ELIMIT, "thread pool: %d threads requested, at most %d",
                            n_threads, BN_POOL_MAX_THREADS);
    bn_pool *p = calloc(1, sizeof *p);
    if (!p)
        return bn_error_set(err, BN_ENOMEM, "thread pool: out of memory");
    p->n = n_threads;
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) {
        free(p);
        return bn_error_set(err, BN_ENOMEM, "thread pool: out of memory");
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->run_mu, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->next, 0);
    atomic_init(&p->gen, 0);
    atomic_init(&p->stop, 0);
    atomic_init(&p->active, 0);
    for (int i = 0; i < n_threads - 1; i++) {
        worker_arg *arg = malloc(sizeof *arg);
        if (arg) {
            arg->pool = p;
            arg->index = i + 1;
        }
        int rc = arg ? pthread_create(&p->threads[i], NULL, worker_main, arg) : ENOMEM;
        if (rc != 0) {
            free(arg);
            stop_workers(p, i);
            free_pool(p);
            return bn_error_set(err, rc == ENOMEM ? BN_ENOMEM : BN_EIO,
                                "thread pool: cannot start thread %d of %d: %s", i + 1,
                                n_threads, strerror(rc));
        }
    }
    *out = p;
    return BN_OK;
}

int bn_pool_threads(const bn_pool *pool)
{
    return pool ? pool->n : 1;
}

void bn_pool_run(bn_pool *pool, bn_pool_fn fn, void *ctx, int64_t n_tasks)
{
    if (n_tasks <= 0)
        return;
    if (!pool || pool->n == 1 || n_tasks == 1 || tl_worker >= 0) {
        int w = tl_worker >= 0 ? tl_worker : 0;
        for (int64_t i = 0; i < n_tasks; i++)
            fn(ctx, i, w);
        return;
    }
    pthread_mutex_lock(&pool->run_mu);
    pthread_mutex_lock(&pool->mu);
    pool->fn = fn;
    pool->ctx = ctx;
    pool->n_tasks = n_tasks;
    atomic_store_explicit(&pool->next, 0, memory_order_relaxed);
    atomic_store(&pool->active, pool->n - 1);
    atomic_fetch_add(&pool->gen, 1);
    pthread_cond_broadcast(&pool->start);
    pthread_mutex_unlock(&pool->mu);

    drain(pool, 0);

    for (int i = 0; i < SPIN_ITERS && atomic_load(&pool->active) > 0; i++)
        cpu_relax();
    pthread_mutex_lock(&pool->mu);
    while (atomic_load(&pool->active) > 0)
        pthread_cond_wait(&pool->done, &pool->mu);
    pthread_mutex_unlock(&pool->mu);
    pthread_mutex_unlock(&pool->run_mu);
}

void bn_pool_destroy(bn_pool *pool)
{
    if (!pool)
        return;
    stop_workers(pool, pool->n - 1);
    free_pool(pool);
}
