/*
 * threadpool.h - a persistent pool of worker threads for data-parallel loops.
 *
 * Contract:
 *  1. bn_pool_create(n) starts n-1 pthreads once; the thread that calls
 *     bn_pool_run() is the n-th worker. No thread is created per call.
 *     n <= 0 means bn_cpu_count().
 *  2. bn_pool_run(pool, fn, ctx, n_tasks) calls fn(ctx, task, worker) exactly
 *     once for every task in [0, n_tasks) and returns only when all calls have
 *     returned (a barrier): everything the tasks wrote is visible to the caller.
 *     Tasks are handed out dynamically (an atomic counter), so uneven tasks
 *     balance; `worker` is in [0, bn_pool_threads()) and no two concurrent
 *     calls share one, so it can index per-thread scratch buffers.
 *  3. A NULL pool, a pool of one thread, or a bn_pool_run() issued from inside
 *     a task (nesting) runs every task in the calling thread, in order, with
 *     worker 0 (the nested case: with the caller's own worker index).
 *  4. One bn_pool_run() at a time per pool: concurrent callers from different
 *     threads are serialized by the pool.
 *  5. Between runs workers poll briefly (yielding the core, ~100 us) so
 *     back-to-back runs start fast, then sleep on a condition variable: an
 *     idle pool costs no CPU.
 */
#ifndef BN_THREADPOOL_H
#define BN_THREADPOOL_H

#pragma GCC visibility push(default) /* what this header declares is libbn's API */

#include <stdint.h>
#include "bn/error.h"

#define BN_POOL_MAX_THREADS 256

typedef struct bn_pool bn_pool;

/* fn(ctx, task, worker): one unit of work. */
typedef void (*bn_pool_fn)(void *ctx, int64_t task, int worker);

/* Online CPUs (sched_getaffinity when available), at least 1. */
int bn_cpu_count(void);

/* n_threads <= 0: bn_cpu_count(). BN_ELIMIT above BN_POOL_MAX_THREADS;
 * BN_ENOMEM / BN_EIO when memory or pthread_create fails (nothing leaks). */
bn_status bn_pool_create(int n_threads, bn_pool **out, bn_error *err);

/* Number of workers including the caller (1 for a NULL pool). */
int bn_pool_threads(const bn_pool *pool);

/* Run fn for tasks [0, n_tasks) across the pool; returns after all finished. */
void bn_pool_run(bn_pool *pool, bn_pool_fn fn, void *ctx, int64_t n_tasks);

/* Stop and join the workers, free the pool. NULL is fine. */
void bn_pool_destroy(bn_pool *pool);

#pragma GCC visibility pop /* end of the exported API */

#endif
