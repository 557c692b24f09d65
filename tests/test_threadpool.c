/* test_threadpool.c - every task runs exactly once, the barrier holds, worker
 * indices are exclusive, nesting runs inline, limits are reported. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn/threadpool.h"
#include "testutil.h"

typedef struct {
    int n_workers;
    atomic_int *runs;      /* (n_tasks) times each task ran */
    atomic_int *busy;      /* (n_workers) 1 while a worker index is in use */
    atomic_int bad_worker; /* index out of range or used twice at once */
    atomic_long total;
} count_ctx;

static void count_task(void *vctx, int64_t task, int worker)
{
    count_ctx *c = vctx;
    if (worker < 0 || worker >= c->n_workers || atomic_exchange(&c->busy[worker], 1) != 0) {
        atomic_fetch_add(&c->bad_worker, 1);
        return;
    }
    atomic_fetch_add(&c->runs[task], 1);
    volatile uint64_t spin = 0; /* uneven tasks so the dynamic hand-out matters */
    for (int64_t i = 0; i < (task % 7) * 200; i++)
        spin += (uint64_t)i;
    atomic_fetch_add(&c->total, task);
    atomic_store(&c->busy[worker], 0);
}

static int run_counted(bn_pool *pool, int64_t n_tasks, int rounds)
{
    count_ctx c;
    memset(&c, 0, sizeof c);
    c.n_workers = bn_pool_threads(pool);
    c.runs = calloc((size_t)n_tasks, sizeof *c.runs);
    c.busy = calloc((size_t)c.n_workers, sizeof *c.busy);
    int ok = 1;
    for (int r = 0; r < rounds && ok; r++) {
        for (int64_t i = 0; i < n_tasks; i++)
            atomic_store(&c.runs[i], 0);
        atomic_store(&c.total, 0);
        bn_pool_run(pool, count_task, &c, n_tasks);
        /* The barrier: everything is done and visible right after the call. */
        for (int64_t i = 0; i < n_tasks; i++)
            if (atomic_load(&c.runs[i]) != 1)
                ok = 0;
        if (atomic_load(&c.total) != n_tasks * (n_tasks - 1) / 2 || atomic_load(&c.bad_worker))
            ok = 0;
    }
    free(c.runs);
    free(c.busy);
    return ok;
}

START_TEST(test_each_task_once)
{
    bn_pool *pool;
    bn_error e;
    ck_assert_int_eq(bn_pool_create(4, &pool, &e), BN_OK);
    ck_assert_int_eq(bn_pool_threads(pool), 4);
    ck_assert(run_counted(pool, 1000, 5));
    ck_assert(run_counted(pool, 3, 2000));   /* fewer tasks than workers, many barriers */
    ck_assert(run_counted(pool, 1, 10));
    bn_pool_run(pool, count_task, NULL, 0);  /* no tasks: returns, fn never called */
    bn_pool_destroy(pool);
}
END_TEST

/* Threads of this process, from /proc (-1 where there is no /proc). */
static int thread_count(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

/* Workers are created once: runs never add threads. */
START_TEST(test_no_threads_per_run)
{
    int before = thread_count();
    bn_pool *pool;
    ck_assert_int_eq(bn_pool_create(4, &pool, NULL), BN_OK);
    int with_pool = thread_count();
    if (before > 0)
        ck_assert_int_eq(with_pool, before + 3);
    for (int i = 0; i < 50; i++)
        ck_assert(run_counted(pool, 16, 1));
    if (before > 0)
        ck_assert_int_eq(thread_count(), with_pool);
    bn_pool_destroy(pool);
    if (before > 0)
        ck_assert_int_eq(thread_count(), before);
}
END_TEST

START_TEST(test_default_and_serial)
{
    bn_pool *pool;
    ck_assert_int_eq(bn_pool_create(0, &pool, NULL), BN_OK);
    ck_assert_int_eq(bn_pool_threads(pool), bn_cpu_count());
    ck_assert(bn_cpu_count() >= 1);
    ck_assert(run_counted(pool, 257, 3));
    bn_pool_destroy(pool);
    ck_assert_int_eq(bn_pool_threads(NULL), 1);
    ck_assert(run_counted(NULL, 100, 2));
    ck_assert_int_eq(bn_pool_create(1, &pool, NULL), BN_OK);
    ck_assert(run_counted(pool, 100, 2));
    bn_pool_destroy(pool);
    bn_pool_destroy(NULL);
}
END_TEST

START_TEST(test_limits)
{
    bn_pool *pool = (bn_pool *)1;
    bn_error e;
    ck_assert_int_eq(bn_pool_create(BN_POOL_MAX_THREADS + 1, &pool, &e), BN_ELIMIT);
    ck_assert_ptr_null(pool);
    ck_assert_ptr_nonnull(strstr(e.msg, "257"));
}
END_TEST

typedef struct {
    bn_pool *pool;
    atomic_int inner_runs;
    atomic_int wrong_worker;
} nest_ctx;

typedef struct {
    nest_ctx *outer;
    int worker;
} inner_ctx;

static void inner_task(void *vctx, int64_t task, int worker)
{
    (void)task;
    inner_ctx *c = vctx;
    if (worker != c->worker)
        atomic_fetch_add(&c->outer->wrong_worker, 1);
    atomic_fetch_add(&c->outer->inner_runs, 1);
}

static void outer_task(void *vctx, int64_t task, int worker)
{
    (void)task;
    nest_ctx *c = vctx;
    inner_ctx ic = {c, worker};
    bn_pool_run(c->pool, inner_task, &ic, 10); /* must not deadlock */
}

START_TEST(test_nested_runs_inline)
{
    nest_ctx c;
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(bn_pool_create(3, &c.pool, NULL), BN_OK);
    bn_pool_run(c.pool, outer_task, &c, 20);
    ck_assert_int_eq(atomic_load(&c.inner_runs), 200);
    ck_assert_int_eq(atomic_load(&c.wrong_worker), 0);
    bn_pool_destroy(c.pool);
}
END_TEST

/* Two threads share one pool: runs are serialized, none is lost. */
static void *caller(void *vpool)
{
    return (void *)(intptr_t)run_counted(vpool, 64, 200);
}

START_TEST(test_concurrent_callers)
{
    bn_pool *pool;
    ck_assert_int_eq(bn_pool_create(3, &pool, NULL), BN_OK);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, caller, pool), 0);
    int mine = run_counted(pool, 64, 200);
    void *theirs;
    pthread_join(th, &theirs);
    ck_assert(mine);
    ck_assert((intptr_t)theirs);
    bn_pool_destroy(pool);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("threadpool");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_each_task_once);
    tcase_add_test(tc, test_no_threads_per_run);
    tcase_add_test(tc, test_default_and_serial);
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_nested_runs_inline);
    tcase_add_test(tc, test_concurrent_callers);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
