/* gates.c - the CI gates of bn-verify over perplexity and KLD results (verify.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bn/verify.h"

void bn_gate_limits_init(bn_gate_limits *l)
{
    l->max_ppl = l->max_kld = l->min_top1 = l->max_ppl_ratio = NAN;
}

static void add(bn_gates *g, const char *name, double value, double threshold, int is_max)
{
    if (isnan(threshold))
        return;
    bn_gate *e = &g->g[g->n++];
    e->name = name;
    e->value = value;
    e->threshold = threshold;
    e->is_max = is_max;
    e->pass = is_max ? value <= threshold : value >= threshold; /* NAN fails either way */
    g->n_failed += !e->pass;
}

void bn_gates_eval(const bn_gate_limits *l, const bn_ppl_result *ppl, const bn_ppl_result *ref,
                   bn_gates *out)
{
    memset(out, 0, sizeof *out);
    if (ref) {
        add(out, "max-kld", ref->kld.kld_mean, l->max_kld, 1);
        add(out, "min-top1", 100 * ref->kld.top1, l->min_top1, 0);
        add(out, "max-ppl-ratio", ref->kld.ppl_ratio, l->max_ppl_ratio, 1);
    }
    add(out, "max-ppl", ppl ? ppl->ppl : ref ? ref->kld.ppl_test : NAN, l->max_ppl, 1);
}

const char *bn_gate_text(const bn_gate *g, char *buf, size_t cap)
{
    const char *op = g->pass ? (g->is_max ? "<=" : ">=") : (g->is_max ? ">" : "<");
    snprintf(buf, cap, "gate %s %s: %.6g %s %.6g", g->name, g->pass ? "passed" : "failed",
             g->value, op, g->threshold);
    return buf;
}
