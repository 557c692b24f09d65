/*
 * fuzz_model.c - a GGUF through the architecture table, twice: the loader
 * (bn_model_load_gguf) and bn-verify --check (bn_check_gguf) on the same file.
 * needs: src/arch/table.c src/arch/hparams.c src/runtime/model.c src/verify/check.c
 *
 * Oracle: no sanitizer report; every refusal obeys the error contract; and
 * whatever the loader refuses, --check reports (at least one problem): the two
 * apply the same rules (issue 13).
 */
#include <stdlib.h>

#include "bn/model.h"
#include "bn/verify.h"
#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bn_gguf *g;
    bn_error e;
    if (bn_gguf_open_mem(data, size, "fuzz.gguf", &g, &e) != BN_OK)
        return 0;
    bn_check_report r;
    bn_error ce;
    bn_status cs = bn_check_gguf(g, &r, &ce);
    if (cs) {
        fz_check(cs, &ce, "bn_check_gguf");
        bn_gguf_close(g);
        return 0;
    }
    bn_model_opts o;
    bn_model_opts_default(&o);
    o.n_threads = 1;
    o.kernel = "basic";
    bn_model *m = NULL;
    bn_status st = bn_model_load_gguf(g, &o, &m, &e);
    if (st) {
        fz_check(st, &e, "bn_model_load_gguf");
        if (r.n == 0 && st != BN_ENOMEM)
            fz_fail("the loader refused a file --check passed: %s", e.msg);
        bn_gguf_close(g);
    } else {
        bn_model_free(m);
    }
    bn_check_report_free(&r);
    return 0;
}
