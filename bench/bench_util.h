/* bench_util.h - what every benchmark measures with: the process's CPU time
 * (all threads; less disturbed by other work on the cores than the wall
 * clock) and the comparison that sorts times for their median. */
#ifndef BN_BENCH_UTIL_H
#define BN_BENCH_UTIL_H

#include <time.h>

static inline double bench_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#endif
