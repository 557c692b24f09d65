/* testcheck.c - the parts of testutil that need cJSON or Check (see
 * testutil.h). A file of its own so that testutil.c builds without them, as
 * check-arm's static cross build of the kernel suite needs. */
#include "testutil.h"

#include "bn/model.h"

#include <cJSON.h>
#include <check.h>

#include <math.h>
#include <stdlib.h>

cJSON *tu_read_json(const char *path)
{
    size_t n;
    char *s = (char *)tu_read(path, &n);
    if (!s)
        return NULL;
    cJSON *j = cJSON_ParseWithLength(s, n);
    free(s);
    return j;
}

int tu_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

double tu_compare_logits(const float *got, const float *want, int n_pos, int n_vocab, double tol,
                         const char *what)
{
    float maxabs = 0;
    for (size_t i = 0; i < (size_t)n_pos * (size_t)n_vocab; i++)
        maxabs = fmaxf(maxabs, fabsf(want[i]));
    double worst = 0;
    for (int p = 0; p < n_pos; p++) {
        const float *a = got + (size_t)p * n_vocab, *b = want + (size_t)p * n_vocab;
        int am = 0, bm = 0;
        double d = 0;
        for (int v = 0; v < n_vocab; v++) {
            if (a[v] > a[am])
                am = v;
            if (b[v] > b[bm])
                bm = v;
            d = fmax(d, fabs((double)a[v] - b[v]));
        }
        ck_assert_msg(am == bm, "%s: argmax differs at position %d (%d vs %d)", what, p, am, bm);
        ck_assert_msg(d <= tol * maxabs,
                      "%s: max |delta| %.3g at position %d exceeds %g * max|logit| (%.3g)", what, d,
                      p, tol, tol * maxabs);
        worst = fmax(worst, d / maxabs);
    }
    return worst;
}

float *tu_eval_all(bn_model *m, const int32_t *ids, int n_pos)
{
    bn_ctx_params cp;
    bn_ctx_params_default(&cp);
    cp.n_ctx = n_pos;
    bn_ctx *c;
    bn_error e;
    ck_assert_msg(bn_ctx_new(m, &cp, &c, &e) == BN_OK, "%s", e.msg);
    float *got = malloc((size_t)n_pos * (size_t)bn_model_hparams(m)->n_vocab * sizeof *got);
    ck_assert_ptr_nonnull(got);
    ck_assert_msg(bn_ctx_eval(c, 0, ids, n_pos, 0, BN_LOGITS_ALL, got, &e) == BN_OK, "%s", e.msg);
    bn_ctx_free(c);
    return got;
}
