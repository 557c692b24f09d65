/*
 * fuzz_hfconfig.c - config.json parsing (bn_hfconfig_parse) and, for what it
 * accepts, the tensor plan the converter derives from it (sizes, names,
 * allocation proportional to the claimed layer count).
 * needs: src/convert/hfconfig.c src/convert/plan.c
 */
#include <stdlib.h>
#include <string.h>

#include "bn/convert.h"
#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bn_hfconfig cfg;
    bn_error err;
    bn_status st = bn_hfconfig_parse((const char *)data, size, "config.json", &cfg, &err);
    fz_check(st, &err, "bn_hfconfig_parse");
    if (st != BN_OK) return 0;
    if (!cfg.gguf_arch || !memchr(cfg.hf_arch, 0, sizeof cfg.hf_arch))
        fz_fail("accepted config without an architecture name");
    for (int has_output = 0; has_output <= 1; has_output++) {
        bn_tensor_plan *plan = NULL;
        size_t n = 0;
        st = bn_plan_tensors(&cfg, has_output, &plan, &n, &err);
        fz_check(st, &err, "bn_plan_tensors");
        for (size_t i = 0; st == BN_OK && i < n; i++) {
            if (!memchr(plan[i].gguf_name, 0, sizeof plan[i].gguf_name) || !plan[i].gguf_name[0])
                fz_fail("plan %zu: bad GGUF name", i);
            if (plan[i].rows <= 0 || plan[i].cols <= 0)
                fz_fail("plan %zu '%s': shape %lld x %lld", i, plan[i].gguf_name,
                        (long long)plan[i].rows, (long long)plan[i].cols);
        }
        free(plan);
    }
    return 0;
}
