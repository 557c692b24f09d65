/* test_json.c - the JSON outputs of the tools (docs/json.md), run as
 * processes and parsed with cJSON: each opens with "tool", "version",
 * "schema", "input" in that order, version is bn_version() (what --version
 * prints), the input path has one key, non-finite numbers are null, and
 * `bn-info --items 0` means every item. */
#include <check.h>
#include <cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bn/gguf.h"
#include "bn/quant.h"
#include "bn/version.h"
#include "testutil.h"

/* Run the shell command printf(fmt, ...); its stdout parsed as one JSON
 * document (stderr discarded). */
static cJSON *run_json(const char *fmt, ...)
{
    char cmd[4096], full[4200], *out = NULL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "%s 2>/dev/null", cmd);
    int rc = tu_run(full, &out);
    cJSON *j = out ? cJSON_Parse(out) : NULL;
    ck_assert_msg(rc == 0 && j, "'%s' exited %d and printed %.200s", cmd, rc, out ? out : "(nothing)");
    free(out);
    return j;
}

/* The header: the first four members, in order, with these values. */
static void assert_header(const cJSON *j, const char *tool, int schema, const char *input)
{
    static const char *keys[] = {"tool", "version", "schema", "input"};
    const cJSON *c = j->child;
    for (int i = 0; i < 4; i++, c = c->next) {
        ck_assert_msg(c != NULL, "%s: only %d members", tool, i);
        ck_assert_str_eq(c->string, keys[i]);
    }
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "tool")->valuestring, tool);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "version")->valuestring, bn_version());
    ck_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "schema")));
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(j, "schema")->valueint, schema);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "input")->valuestring, input);
}

/* The KV object of key in bn-info's "kv" array. */
static const cJSON *kv_of(const cJSON *j, const char *key)
{
    const cJSON *kv;
    cJSON_ArrayForEach(kv, cJSON_GetObjectItemCaseSensitive(j, "kv"))
    {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(kv, "key");
        if (cJSON_IsString(k) && strcmp(k->valuestring, key) == 0)
            return kv;
    }
    return NULL;
}

START_TEST(test_info_gguf_header)
{
    const char *in = tu_keep(tu_shared("data/tokenizer-tests/ggml-vocab-gpt-2.gguf"));
    cJSON *j = run_json("'%s' --json '%s'", tu_build("bn-info"), in);
    assert_header(j, "bn-info", 1, in);
    /* one key for the input path; the file's own version is gguf_version */
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(j, "file"));
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(j, "gguf_version")->valueint, 3);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "format")->valuestring, "gguf");
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_info_items_zero_means_all)
{
    const char *in = tu_keep(tu_shared("data/tokenizer-tests/ggml-vocab-gpt-2.gguf"));
    char cmd[1024];
    int counts[3] = {0, 3, 8};
    for (int k = 0; k < 3; k++) {
        cJSON *j = run_json("'%s' --json --items %d '%s'", tu_build("bn-info"), counts[k], in);
        const cJSON *kv = kv_of(j, "tokenizer.ggml.tokens");
        ck_assert_ptr_nonnull(kv);
        int n = cJSON_GetObjectItemCaseSensitive(kv, "count")->valueint;
        int shown = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(kv, "items"));
        ck_assert_int_eq(n, 50257);
        ck_assert_int_eq(shown, counts[k] ? counts[k] : n);
        cJSON_Delete(j);
    }
    /* the text form too: the line runs to the last token (id 50256), not to "..." */
    char *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' --items 0 '%s' | grep 'tokenizer.ggml.tokens'", tu_build("bn-info"), in);
    ck_assert_int_eq(tu_run(cmd, &out), 0);
    size_t n = strlen(out);
    static const char tail[] = ", \"<|endoftext|>\"\n";
    ck_assert_uint_gt(n, 50257 * 4);
    ck_assert_str_eq(out + n - strlen(tail), tail);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' --items 8 '%s' | grep 'tokenizer.ggml.tokens'", tu_build("bn-info"), in);
    ck_assert_int_eq(tu_run(cmd, &out), 0);
    ck_assert_msg(strstr(out, ", ...\n") != NULL, "--items 8 is not abbreviated: %s", out);
    free(out);
}
END_TEST

/* A GGUF whose f32/f64 KVs are NaN and infinite: null in the JSON, never the
 * bare nan/inf that no JSON parser accepts. */
START_TEST(test_non_finite_is_null)
{
    const char *path = tu_keep(tu_tmp("nonfinite.gguf"));
    bn_gguf_writer *w;
    bn_error e;
    float fa[3] = {1.5f, NAN, -INFINITY};
    ck_assert_int_eq(bn_gguf_writer_open(path, 0, &w, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_f32(w, "x.nan", NAN, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_f64(w, "x.inf", INFINITY, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_arr(w, "x.arr", BN_GGUF_F32, fa, 3, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_writer_finish(w, &e), BN_OK);
    /* cJSON_Parse refuses nan/inf, so parsing at all is half the check */
    cJSON *j = run_json("'%s' --json '%s'", tu_build("bn-info"), path);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(kv_of(j, "x.nan"), "value")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(kv_of(j, "x.inf"), "value")));
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(kv_of(j, "x.arr"), "items");
    ck_assert_double_eq(cJSON_GetArrayItem(arr, 0)->valuedouble, 1.5);
    ck_assert(cJSON_IsNull(cJSON_GetArrayItem(arr, 1)));
    ck_assert(cJSON_IsNull(cJSON_GetArrayItem(arr, 2)));
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_info_checkpoint_header)
{
    const char *in = tu_keep(tu_root("fixtures/tiny-b158"));
    cJSON *j = run_json("'%s' --json '%s'", tu_build("bn-info"), in);
    assert_header(j, "bn-info", 1, in);
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(j, "path"));
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "format")->valuestring, "safetensors");
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_quant_and_convert_reports)
{
    const char *in = tu_keep(tu_root("fixtures/tiny-b158"));
    cJSON *j = run_json("'%s' --json --quiet '%s'", tu_build("bn-quant"), in);
    assert_header(j, "bn-quant", BN_QUANT_REPORT_SCHEMA, in);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "tensors")), 28);
    cJSON_Delete(j);

    const char *rep = tu_keep(tu_tmp("convert-report.json"));
    j = run_json("'%s' -q --report '%s' '%s' '%s' >/dev/null && cat '%s'", tu_build("bn-convert"),
             rep, in, tu_tmp("convert-report.gguf"), rep);
    assert_header(j, "bn-convert", BN_QUANT_REPORT_SCHEMA, in);
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_verify_header)
{
    const char *in = tu_keep(tu_root("fixtures/tiny-b158"));
    const char *gguf = tu_keep(tu_tmp("verify-json.gguf"));
    cJSON *j = run_json("'%s' -q '%s' '%s' >/dev/null && '%s' '%s' --check --json -", tu_build("bn-convert"),
             in, gguf, tu_build("bn-verify"), gguf);
    assert_header(j, "bn-verify", 1, gguf);
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(j, "model"));
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ok")));
    cJSON_Delete(j);
}
END_TEST

/* "version" is what --version prints (its second line when the commit is
 * known), for every tool in the build directory. */
START_TEST(test_version_matches_the_tools)
{
    DIR *d = opendir(tu_build(""));
    struct dirent *e;
    int n = 0;
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL) {
        char path[1024], cmd[1100], want[1400], *out = NULL;
        if (strncmp(e->d_name, "bn-", 3) != 0)
            continue;
        snprintf(path, sizeof path, "%s", tu_build(e->d_name));
        if (access(path, X_OK) != 0)
            continue;
        snprintf(cmd, sizeof cmd, "'%s' --version", path);
        ck_assert_int_eq(tu_run(cmd, &out), 0);
        if (*bn_version_commit())
            snprintf(want, sizeof want, "%s (bntk) %s\nversion %s\n", e->d_name, BN_VERSION, bn_version());
        else
            snprintf(want, sizeof want, "%s (bntk) %s\n", e->d_name, BN_VERSION);
        ck_assert_str_eq(out, want);
        free(out);
        n++;
    }
    closedir(d);
    ck_assert_int_ge(n, 7);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_info_gguf_header);
    tcase_add_test(tc, test_info_items_zero_means_all);
    tcase_add_test(tc, test_non_finite_is_null);
    tcase_add_test(tc, test_info_checkpoint_header);
    tcase_add_test(tc, test_quant_and_convert_reports);
    tcase_add_test(tc, test_verify_header);
    tcase_add_test(tc, test_version_matches_the_tools);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
