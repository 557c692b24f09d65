/* progress.c - see progress.h. */
#include "progress.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "bn/util.h"

#define REDRAW_SECONDS 0.1

void bn_progress_init(bn_progress *p, const char *what, int quiet)
{
    p->enabled = !quiet && isatty(STDERR_FILENO);
    p->drawn = 0;
    p->t0 = bn_now_seconds();
    p->last = -1;
    p->what = what;
}

const char *bn_progress_duration(double s, char *buf, size_t cap)
{
    if (!isfinite(s) || s < 0)
        s = 0;
    long t = (long)(s + 0.5);
    if (t < 60)
        snprintf(buf, cap, "%lds", t);
    else if (t < 3600)
        snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(buf, cap, "%ldh%02ldm", t / 3600, t / 60 % 60);
    return buf;
}

/* 1 when a redraw is due: the first, the last, or REDRAW_SECONDS after the previous. */
static int due(bn_progress *p, int last_item)
{
    if (!p->enabled)
        return 0;
    double now = bn_now_seconds();
    if (!last_item && p->last >= 0 && now - p->last < REDRAW_SECONDS)
        return 0;
    p->last = now;
    return 1;
}

static void draw(bn_progress *p, const char *line)
{
    fprintf(stderr, "\r\033[K%s: %s", p->what, line);
    fflush(stderr);
    p->drawn = 1;
}

void bn_progress_step(bn_progress *p, const char *fmt, ...)
{
    if (!p->enabled)
        return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    p->last = bn_now_seconds();
    draw(p, line);
}

void bn_progress_bytes(bn_progress *p, size_t i, size_t n, const char *item, uint64_t done, uint64_t total)
{
    if (!due(p, i == n))
        return;
    double el = bn_now_seconds() - p->t0;
    double mbs = el > 0 ? (double)done / 1e6 / el : 0;
    char eta[16] = "?", line[256];
    if (done > 0 && total >= done)
        bn_progress_duration(el * (double)(total - done) / (double)done, eta, sizeof eta);
    snprintf(line, sizeof line, "%zu/%zu %-32.32s %5.1f%% %7.1f MB/s  ETA %s", i, n, item ? item : "",
             total ? 100.0 * (double)done / (double)total : 100.0, mbs, eta);
    draw(p, line);
}

void bn_progress_count(bn_progress *p, size_t i, size_t n, const char *units, double rate,
                       const char *rate_unit)
{
    if (!due(p, i == n))
        return;
    double el = bn_now_seconds() - p->t0;
    char eta[16] = "?", e2[16], line[256];
    if (i > 0 && n >= i)
        bn_progress_duration(el * (double)(n - i) / (double)i, eta, sizeof eta);
    snprintf(line, sizeof line, "%zu/%zu %s, %.1f %s, %s elapsed, ETA %s", i, n, units, rate, rate_unit,
             bn_progress_duration(el, e2, sizeof e2), eta);
    draw(p, line);
}

void bn_progress_done(bn_progress *p)
{
    if (p->enabled && p->drawn)
        fprintf(stderr, "\r\033[K");
    p->drawn = 0;
}
