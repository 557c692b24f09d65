/* convert_progress.h - a conversion's callbacks (convert.h, requant.h) drawn on the one
 * progress display (progress.h): its stages, then tensor i/n with an ETA from
 * the checkpoint bytes the plan reads; notices as whole lines "TOOL: msg"
 * (none when quiet). Separate from progress.h because convert.h and
 * kernels.h both name a bn_act. Mains only. */
#ifndef BN_CONVERT_PROGRESS_H
#define BN_CONVERT_PROGRESS_H

#include "bn/convert.h"
#include "bn/requant.h"
#include "progress.h"

typedef struct {
    bn_progress p;
    const char *tool;
    int quiet;
    uint64_t total;  /* checkpoint bytes the plan reads */
} bn_convert_progress;

/* Set o's progress/notice/stage/planned callbacks and user to c, which must
 * outlive the run; call bn_progress_done(&c->p) after it. */
void bn_convert_progress_attach(bn_convert_progress *c, bn_convert_opts *o, const char *tool, int quiet);
/* The same for a requantization (requant.h: the same callbacks but stage). */
void bn_requant_progress_attach(bn_convert_progress *c, bn_requant_opts *o, const char *tool, int quiet);

#endif
