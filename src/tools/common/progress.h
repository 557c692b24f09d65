/* progress.h - the one progress display of every bntk tool: a line on stderr,
 * redrawn in place at most ten times a second, only when stderr is a terminal
 * and --quiet was not given; nothing at all otherwise (pipes, logs, CI).
 *
 *   bn_progress p;
 *   bn_progress_init(&p, "converting", quiet);
 *   bn_progress_step(&p, "planning: %s", dir);             // before counts exist
 *   bn_progress_bytes(&p, i, n, name, done, total);          // ETA from bytes
 *   bn_progress_count(&p, i, n, "chunks", tok_s, "tokens/s"); // ETA from items
 *   bn_progress_done(&p);                                    // erase the line
 *
 * Mains only; the library reports progress through callbacks. */
#ifndef BN_PROGRESS_H
#define BN_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

#include "bn/error.h" /* BN_PRINTF */

typedef struct {
    int enabled;       /* stderr is a terminal and not quiet */
    int drawn;         /* a line is on screen */
    double t0, last;   /* seconds: start, last redraw */
    const char *what;  /* prefix: "converting", "perplexity", ... */
} bn_progress;

void bn_progress_init(bn_progress *p, const char *what, int quiet);
/* A step that has no count yet ("planning: reading config.json ..."). */
void bn_progress_step(bn_progress *p, const char *fmt, ...) BN_PRINTF(2, 3);
/* Item i of n (1-based, i done), `item` its name; done/total bytes: MB/s and
 * an ETA of elapsed * (total - done) / done, so large tensors weigh as they cost. */
void bn_progress_bytes(bn_progress *p, size_t i, size_t n, const char *item, uint64_t done, uint64_t total);
/* i of n `units` done at `rate` `rate_unit` (e.g. tokens/s); ETA from items. */
void bn_progress_count(bn_progress *p, size_t i, size_t n, const char *units, double rate,
                       const char *rate_unit);
/* Erase the line (when one was drawn). */
void bn_progress_done(bn_progress *p);
/* "45s", "3m07s", "2h05m" into buf (at least 16 bytes). */
const char *bn_progress_duration(double seconds, char *buf, size_t cap);

#endif
