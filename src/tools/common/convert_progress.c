/* convert_progress.c - see convert_progress.h. */
#include "convert_progress.h"

#include <stdio.h>

/* ---- a conversion's callbacks ---------------------------------------------------- */

static void on_notice(void *user, const char *msg)
{
    bn_convert_progress *c = user;
    if (c->quiet)
        return;
    bn_progress_done(&c->p); /* a whole line; the progress line comes back with the next tensor */
    fprintf(stderr, "%s: %s\n", c->tool, msg);
}

static void on_stage(void *user, const char *what)
{
    bn_convert_progress *c = user;
    bn_progress_step(&c->p, "%s", what);
}

static void on_planned(void *user, size_t n, uint64_t bytes_in)
{
    bn_convert_progress *c = user;
    c->total = bytes_in;
    bn_progress_step(&c->p, "%zu tensors, %.1f MB to read", n, (double)bytes_in / 1e6);
}

static void on_tensor(void *user, size_t i, size_t n, const char *name, uint64_t in, uint64_t out)
{
    (void)out;
    bn_convert_progress *c = user;
    bn_progress_bytes(&c->p, i, n, name, in, c->total);
}

static void init(bn_convert_progress *c, const char *tool, int quiet)
{
    c->tool = tool;
    c->quiet = quiet;
    c->total = 0;
    bn_progress_init(&c->p, tool, quiet);
}

void bn_convert_progress_attach(bn_convert_progress *c, bn_convert_opts *o, const char *tool, int quiet)
{
    init(c, tool, quiet);
    o->progress = on_tensor;
    o->notice = on_notice;
    o->stage = on_stage;
    o->planned = on_planned;
    o->user = c;
}

void bn_requant_progress_attach(bn_convert_progress *c, bn_requant_opts *o, const char *tool, int quiet)
{
    init(c, tool, quiet);
    o->progress = on_tensor;
    o->notice = on_notice;
    o->planned = on_planned;
    o->user = c;
}
