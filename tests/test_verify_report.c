/* test_verify_report.c - the verify module's rules and reports: every result's
 * text and JSON come from one struct and say the same thing (the --check text
 * once said "24 keys" where the JSON said 28), the gates, the perplexity text
 * rule (FORMATS.md §6 step 1), the batch policy, and the merge check's exact
 * vocabulary lookup. The model runs are in test_verify.c and tests/cli/verify.sh. */
#define _GNU_SOURCE /* open_memstream */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "bn/gguf.h"
#include "bn/tokenizer.h"
#include "bn/verify.h"
#include "testutil.h"

/* What a writer prints, as a malloc'd string. */
typedef struct {
    char *buf;
    size_t len;
    FILE *f;
} capture;

static FILE *cap_open(capture *c)
{
    memset(c, 0, sizeof *c);
    c->f = open_memstream(&c->buf, &c->len);
    ck_assert_ptr_nonnull(c->f);
    return c->f;
}

static char *cap_close(capture *c)
{
    fclose(c->f);
    return c->buf;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    ck_assert_msg(cJSON_IsNumber(v), "JSON field %s is not a number", key);
    return v->valuedouble;
}

/* ---- --check ----------------------------------------------------------------- */

static void check_agrees(const bn_check_report *r)
{
    capture c;
    bn_check_report_text(r, "m.gguf", cap_open(&c));
    char *txt = cap_close(&c);
    cJSON *j = bn_check_report_json(r);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(cJSON_IsTrue(cJSON_GetObjectItem(j, "ok")), r->n == 0);
    const cJSON *pr = cJSON_GetObjectItem(j, "problems");
    ck_assert_int_eq(cJSON_GetArraySize(pr), (int)r->n);
    ck_assert_ptr_nonnull(strstr(txt, "== check: m.gguf\n"));
    /* every problem line is the JSON's problem, in order */
    const char *p = txt;
    for (int i = 0; i < (int)r->n; i++) {
        char want[512];
        snprintf(want, sizeof want, "  problem: %s\n", cJSON_GetArrayItem(pr, i)->valuestring);
        const char *at = strstr(p, want);
        ck_assert_msg(at != NULL, "problem %d not in the text:\n%s", i, txt);
        p = at + strlen(want);
    }
    const char *ok = strstr(txt, "  ok: ");
    ck_assert_int_eq(ok != NULL, r->n == 0);
    if (ok) { /* every count the text gives is one the JSON gives */
        unsigned long t, k, sum;
        ck_assert_int_eq(sscanf(ok, "  ok: %lu tensors, %lu keys checked, %lu checks passed", &t,
                                &k, &sum), 3);
        ck_assert_int_eq(t, (unsigned long)num(j, "tensors_checked"));
        ck_assert_int_eq(k, (unsigned long)num(j, "keys_checked"));
        ck_assert_int_eq(sum, t + k);
    }
    cJSON_Delete(j);
    free(txt);
}

START_TEST(test_check_text_is_the_json)
{
    char *items[2] = {"required tensor 'x' is missing", "key 'y' has type i32"};
    bn_check_report ok = {NULL, 0, 0, 46, 28}, bad = {items, 2, 2, 40, 31};
    check_agrees(&ok);
    check_agrees(&bad);
}
END_TEST

/* The counts of a real file: a vocabulary-only GGUF has keys but no tensors. */
START_TEST(test_check_real_file_text_is_the_json)
{
    bn_gguf *g;
    bn_error e;
    ck_assert_msg(bn_gguf_open(tu_shared("data/tokenizer-tests/ggml-vocab-llama-spm.gguf"), &g,
                               &e) == BN_OK, "%s", e.msg);
    bn_check_report r;
    ck_assert_int_eq(bn_check_gguf(g, &r, &e), BN_OK);
    ck_assert_uint_gt(r.n, 0);
    ck_assert_uint_gt(r.n_kv_checked, 0);
    check_agrees(&r);
    bn_check_report_free(&r);
    bn_gguf_close(g);
}
END_TEST

/* ---- --kernels --------------------------------------------------------------- */

START_TEST(test_kernels_text_is_the_json)
{
    bn_kernel_check k[3];
    memset(k, 0, sizeof k);
    snprintf(k[0].name, sizeof k[0].name, "basic");
    k[0].available = 1, k[0].n_matrices = 64, k[0].n_sums = 90992, k[0].logits_checked = 8;
    k[0].logits_identical = 1, k[0].gbps = 1.5;
    snprintf(k[1].name, sizeof k[1].name, "broken");
    k[1].available = 1, k[1].n_matrices = 64, k[1].n_sums = 90992, k[1].n_mismatch = 3;
    k[1].logits_checked = 8;
    snprintf(k[2].name, sizeof k[2].name, "absent");
    bn_kernels_report r = {k, 3, 8, NULL};
    ck_assert_uint_eq(bn_kernels_report_n_failed(&r), 1);
    capture c;
    bn_kernels_report_text(&r, cap_open(&c));
    char *txt = cap_close(&c);
    cJSON *j = bn_kernels_report_json(&r);
    ck_assert_ptr_nonnull(j);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "ok")));
    ck_assert_int_eq((int)num(j, "tokens"), 8);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "token_source")->valuestring, "pseudo-random");
    ck_assert_ptr_nonnull(strstr(txt, "8 model tokens from a pseudo-random sequence"));
    const cJSON *arr = cJSON_GetObjectItem(j, "kernels");
    ck_assert_int_eq(cJSON_GetArraySize(arr), 3);
    for (int i = 0; i < 3; i++) {
        const cJSON *e = cJSON_GetArrayItem(arr, i);
        const char *name = cJSON_GetObjectItem(e, "name")->valuestring;
        char row[64];
        snprintf(row, sizeof row, "\n  %-12s ", name);
        const char *line = strstr(txt, row);
        ck_assert_msg(line != NULL, "no row for %s:\n%s", name, txt);
        const char *eol = strchr(line + 1, '\n');
        int fail = eol && memmem(line, (size_t)(eol - line), "FAIL", 4) != NULL;
        ck_assert_int_eq(fail, !cJSON_IsTrue(cJSON_GetObjectItem(e, "ok")));
        char nm[32], avail[8], logits[16];
        unsigned long long mats, sums, bad;
        if (cJSON_IsTrue(cJSON_GetObjectItem(e, "available"))) {
            ck_assert_int_eq(sscanf(line + 1, "  %31s %7s %llu %llu %llu %15s", nm, avail, &mats,
                                    &sums, &bad, logits), 6);
            ck_assert_str_eq(avail, "yes");
            ck_assert_uint_eq(mats, (unsigned long long)num(e, "matrices"));
            ck_assert_uint_eq(sums, (unsigned long long)num(e, "sums"));
            ck_assert_uint_eq(bad, (unsigned long long)num(e, "mismatches"));
            ck_assert_str_eq(logits, cJSON_IsTrue(cJSON_GetObjectItem(e, "logits_identical"))
                                         ? "same" : "DIFFER");
        } else {
            ck_assert_int_eq(sscanf(line + 1, "  %31s %7s", nm, avail), 2);
            ck_assert_str_eq(avail, "no");
        }
    }
    cJSON_Delete(j);
    free(txt);
}
END_TEST

/* ---- --perplexity and --reference --------------------------------------------------- */

/* |a - b| within half a unit of the last printed digit (decimals places). */
static void same_printed(double printed, double exact, int decimals, const char *what)
{
    ck_assert_msg(fabs(printed - exact) <= 0.5 * pow(10, -decimals) * (1 + 1e-9),
                  "%s: the text says %.9g, the JSON %.9g", what, printed, exact);
}

START_TEST(test_ppl_text_is_the_json)
{
    double vals[3] = {152.7948, 144.948, 123.25351};
    bn_ppl_result res;
    memset(&res, 0, sizeof res);
    res.n_ctx = 256, res.n_chunks = 3, res.n_tokens = 1000, res.n_scored = 381;
    res.nll_mean = log(123.25351), res.ppl = 123.25351, res.ppl_err = 21.157183;
    res.seconds = 1.25, res.tok_per_s = 614.4;
    bn_ppl_report r = {"wiki.raw", 1000, 256, 0, 2048, 8, "basic", "token", 2,
                       NULL, "quantized", NULL, vals, 3};
    /* before the run: the header, and only the running estimates in the JSON */
    capture c;
    bn_ppl_report_header(&r, cap_open(&c));
    char *txt = cap_close(&c);
    int chunks, n_ctx, batch, n_seq;
    const char *at = strstr(txt, "perplexity: calculating perplexity over ");
    ck_assert_ptr_nonnull(at);
    ck_assert_int_eq(sscanf(at, "perplexity: calculating perplexity over %d chunks, n_ctx=%d, "
                                "batch_size=%d, n_seq=%d", &chunks, &n_ctx, &batch, &n_seq), 4);
    ck_assert_int_eq(chunks, bn_ppl_n_chunks(1000, 256, 0));
    ck_assert_int_eq(n_ctx, 256);
    ck_assert_int_eq(batch, 2048);
    ck_assert_int_eq(n_seq, 8);
    free(txt);
    cJSON *j = bn_ppl_report_json(&r);
    ck_assert_int_eq(cJSON_GetArraySize(j), 1);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "chunk_ppl")), 3);
    cJSON_Delete(j);

    r.res = &res;
    bn_ppl_report_text(&r, cap_open(&c));
    txt = cap_close(&c);
    j = bn_ppl_report_json(&r);
    double ppl, err, secs, tps;
    unsigned long long scored;
    at = strstr(txt, "Final estimate: PPL = ");
    ck_assert_ptr_nonnull(at);
    ck_assert_int_eq(sscanf(at, "Final estimate: PPL = %lf +/- %lf\n  %d chunks, %llu scored "
                                "tokens, %lf s, %lf tokens/s", &ppl, &err, &chunks, &scored,
                            &secs, &tps), 6);
    same_printed(ppl, num(j, "ppl"), 4, "ppl");
    same_printed(err, num(j, "ppl_err"), 5, "ppl_err");
    same_printed(secs, num(j, "seconds"), 2, "seconds");
    same_printed(tps, num(j, "tokens_per_second"), 1, "tokens/s");
    ck_assert_int_eq(chunks, (int)num(j, "chunks"));
    ck_assert_uint_eq(scored, (unsigned long long)num(j, "scored"));
    const cJSON *cp = cJSON_GetObjectItem(j, "chunk_ppl");
    ck_assert_int_eq(cJSON_GetArraySize(cp), 3);
    ck_assert(cJSON_GetArrayItem(cp, 2)->valuedouble == vals[2]);
    cJSON_Delete(j);
    free(txt);
}
END_TEST

START_TEST(test_reference_text_is_the_json)
{
    bn_ppl_result res;
    memset(&res, 0, sizeof res);
    res.n_ctx = 128, res.n_chunks = 2, res.has_kld = 1;
    bn_kld_result *k = &res.kld;
    k->n = 126, k->ppl_test = 131.59671, k->ppl_test_err = 41.794461, k->ppl_base = 195.95641;
    k->ppl_base_err = 63.624339, k->ppl_ratio = 0.6715612, k->ppl_ratio_err = 0.0783641;
    k->kld_mean = 0.8680171, k->kld_err = 0.0651662, k->kld_max = 5.1478461;
    k->top1 = 0.4047619, k->top1_err = 0.0439012, k->rms_dp = 0.1324512, k->rms_dp_err = 0.0191811;
    bn_ppl_report r = {"wiki.raw", 1000, 128, 2, 2048, 2, "basic", "token", 2,
                       "ckpt", "latent", NULL, NULL, 0};
    cJSON *j = bn_ppl_report_json(&r); /* before the run: nothing known yet */
    ck_assert_int_eq(cJSON_GetArraySize(j), 0);
    cJSON_Delete(j);
    capture c;
    bn_ppl_report_header(&r, cap_open(&c));
    char *txt = cap_close(&c);
    ck_assert_str_eq(txt, "== reference: ckpt (latent mode) on wiki.raw (1000 tokens, n_ctx 128)\n");
    free(txt);
    r.res = &res;
    bn_ppl_report_text(&r, cap_open(&c));
    txt = cap_close(&c);
    j = bn_ppl_report_json(&r);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "mode")->valuestring, "latent");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "dir")->valuestring, "ckpt");
    unsigned long long pos;
    int chunks;
    double v[2];
    ck_assert_int_eq(sscanf(strstr(txt, "positions:"), "positions: %llu (%d chunks)", &pos,
                            &chunks), 2);
    ck_assert_uint_eq(pos, (unsigned long long)num(j, "positions"));
    ck_assert_int_eq(chunks, (int)num(j, "chunks"));
    static const struct {
        const char *label, *key, *key_err;
        int decimals, decimals_err;
        double scale;
    } rows[] = {
        {"PPL(model):", "ppl", "ppl_err", 4, 5, 1},
        {"PPL(reference):", "ppl_reference", "ppl_reference_err", 4, 5, 1},
        {"PPL ratio:", "ppl_ratio", "ppl_ratio_err", 6, 6, 1},
        {"Mean KLD:", "kld_mean", "kld_err", 6, 6, 1},
        {"Same top p:", "top1", "top1_err", 3, 3, 100},
        {"RMS Δp:", "rms_dp", "rms_dp_err", 3, 3, 100},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *at = strstr(txt, rows[i].label);
        ck_assert_msg(at != NULL, "no %s line:\n%s", rows[i].label, txt);
        ck_assert_int_eq(sscanf(at + strlen(rows[i].label), " %lf +/- %lf", &v[0], &v[1]), 2);
        same_printed(v[0], rows[i].scale * num(j, rows[i].key), rows[i].decimals, rows[i].key);
        same_printed(v[1], rows[i].scale * num(j, rows[i].key_err), rows[i].decimals_err,
                     rows[i].key_err);
    }
    cJSON_Delete(j);
    free(txt);
}
END_TEST

/* ---- gates ------------------------------------------------------------------------- */

START_TEST(test_gates)
{
    bn_ppl_result ppl, ref;
    memset(&ppl, 0, sizeof ppl);
    memset(&ref, 0, sizeof ref);
    ppl.ppl = 123.25;
    ref.kld.kld_mean = 1e-10, ref.kld.top1 = 0.995, ref.kld.ppl_ratio = 1.2, ref.kld.ppl_test = 99;
    bn_gate_limits l;
    bn_gate_limits_init(&l);
    bn_gates g;
    bn_gates_eval(&l, &ppl, &ref, &g);
    ck_assert_int_eq(g.n, 0); /* nothing set, nothing evaluated */

    l.max_ppl = 100, l.min_top1 = 99.9, l.max_ppl_ratio = 1.5;
    bn_gates_eval(&l, &ppl, &ref, &g);
    ck_assert_int_eq(g.n, 3);
    ck_assert_int_eq(g.n_failed, 2);
    char buf[160];
    ck_assert_str_eq(bn_gate_text(&g.g[0], buf, sizeof buf), "gate min-top1 failed: 99.5 < 99.9");
    ck_assert_str_eq(bn_gate_text(&g.g[1], buf, sizeof buf),
                     "gate max-ppl-ratio passed: 1.2 <= 1.5");
    ck_assert_str_eq(bn_gate_text(&g.g[2], buf, sizeof buf), "gate max-ppl failed: 123.25 > 100");
    cJSON *j = bn_gates_json(&g);
    ck_assert_int_eq(cJSON_GetArraySize(j), 3);
    for (int i = 0; i < 3; i++) {
        const cJSON *e = cJSON_GetArrayItem(j, i);
        ck_assert_str_eq(cJSON_GetObjectItem(e, "name")->valuestring, g.g[i].name);
        ck_assert(num(e, "value") == g.g[i].value);
        ck_assert(num(e, "threshold") == g.g[i].threshold);
        ck_assert_int_eq(cJSON_IsTrue(cJSON_GetObjectItem(e, "pass")), g.g[i].pass);
        ck_assert_ptr_nonnull(strstr(bn_gate_text(&g.g[i], buf, sizeof buf),
                                     g.g[i].pass ? "passed" : "failed"));
    }
    cJSON_Delete(j);

    /* without --perplexity, max-ppl reads the reference run's perplexity */
    bn_gates_eval(&l, NULL, &ref, &g);
    ck_assert_int_eq(g.n, 3);
    ck_assert(g.g[2].value == 99 && g.g[2].pass);
    /* a value that is not a number never passes */
    ppl.ppl = NAN;
    bn_gates_eval(&l, &ppl, NULL, &g);
    ck_assert_int_eq(g.n, 1);
    ck_assert_int_eq(g.n_failed, 1);
}
END_TEST

/* ---- the text rule and the batch policy ------------------------------------------------ */

static bn_tokenizer *spm(void)
{
    bn_gguf *g;
    bn_error e;
    ck_assert_msg(bn_gguf_open(tu_shared("data/tokenizer-tests/ggml-vocab-llama-spm.gguf"), &g,
                               &e) == BN_OK, "%s", e.msg);
    bn_tokenizer *t;
    ck_assert_msg(bn_tokenizer_from_gguf(g, &t, &e) == BN_OK, "%s", e.msg);
    bn_gguf_close(g);
    return t;
}

static int same_ids(const bn_tokens *a, const bn_tokens *b)
{
    return a->n == b->n && (a->n == 0 || memcmp(a->ids, b->ids, a->n * sizeof *a->ids) == 0);
}

START_TEST(test_tokenize_rule)
{
    bn_tokenizer *t = spm();
    bn_error e;
    bn_tokens want = {0}, got = {0}, two = {0};
    ck_assert_int_eq(bn_tokenizer_encode(t, " Hello world", 12, BN_TOK_ADD_SPECIAL, &want, &e), BN_OK);
    ck_assert_int_gt(want.n, 1);
    ck_assert_int_eq(want.ids[0], bn_tokenizer_bos(t)); /* BOS as the vocabulary adds it */
    /* one trailing newline is dropped */
    ck_assert_int_eq(bn_ppl_tokenize(t, " Hello world\n", 13, &got, &e), BN_OK);
    ck_assert(same_ids(&got, &want));
    ck_assert_int_eq(bn_ppl_tokenize(t, " Hello world", 12, &got, &e), BN_OK);
    ck_assert(same_ids(&got, &want));
    /* only one */
    ck_assert_int_eq(bn_ppl_tokenize(t, " Hello world\n\n", 14, &two, &e), BN_OK);
    ck_assert(!same_ids(&two, &want));
    /* the file form reads the same bytes */
    const char *path = tu_tmp("ppl-text.txt");
    ck_assert_int_eq(tu_write(path, " Hello world\n", 13), 0);
    ck_assert_int_eq(bn_ppl_tokenize_file(t, path, &got, &e), BN_OK);
    ck_assert(same_ids(&got, &want));
    ck_assert_int_ne(bn_ppl_tokenize_file(t, tu_tmp("no-such-text.txt"), &got, &e), BN_OK);
    ck_assert_ptr_nonnull(strstr(e.msg, "no-such-text.txt"));
    bn_tokens_free(&want);
    bn_tokens_free(&got);
    bn_tokens_free(&two);
    bn_tokenizer_free(t);
}
END_TEST

START_TEST(test_batch_policy)
{
    ck_assert_int_eq(bn_ppl_n_seq(2048, 256, 32000), 8);  /* -b / n_ctx */
    ck_assert_int_eq(bn_ppl_n_seq(100, 256, 32000), 1);   /* at least one */
    /* 512 x 128256 float logits are 263 MB a sequence: two fit the 512 MiB budget */
    ck_assert_int_eq(bn_ppl_n_seq(8192, 512, 128256), 2);
    ck_assert_int_eq(bn_ppl_n_seq(8192, 4096, 128256), 1);
    ck_assert_int_eq(bn_ppl_n_chunks(1000, 256, 0), 3);    /* the remainder is dropped */
    ck_assert_int_eq(bn_ppl_n_chunks(1000, 256, 2), 2);    /* --chunks caps */
    ck_assert_int_eq(bn_ppl_n_chunks(1000, 256, 9), 3);
}
END_TEST

/* ---- the merge check looks texts up exactly ------------------------------------------------ */

/* Problems of --check on a BPE vocabulary of these tokens and merges (lens: bytes). */
static char *merge_problems(const char *const *toks, const size_t *lens, int n_tok,
                            const char *const *merges, int n_merges)
{
    const char *path = tu_tmp("merges.gguf");
    bn_gguf_writer *w;
    bn_error e;
    ck_assert_int_eq(bn_gguf_writer_open(path, 0, &w, &e), BN_OK);
    int rc = bn_gguf_set_str(w, "tokenizer.ggml.model", "gpt2", &e);
    rc |= bn_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, lens, (uint64_t)n_tok, &e);
    rc |= bn_gguf_set_arr_str(w, "tokenizer.ggml.merges", merges, NULL, (uint64_t)n_merges, &e);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(bn_gguf_writer_finish(w, &e), BN_OK);
    bn_gguf *g;
    ck_assert_msg(bn_gguf_open(path, &g, &e) == BN_OK, "%s", e.msg);
    bn_check_report r;
    ck_assert_int_eq(bn_check_gguf(g, &r, &e), BN_OK);
    char *merges_problem = NULL;
    for (size_t i = 0; i < r.n; i++)
        if (strstr(r.items[i], "tokenizer.ggml.merges"))
            merges_problem = strdup(r.items[i]);
    bn_check_report_free(&r);
    bn_gguf_close(g);
    return merges_problem;
}

START_TEST(test_merges_exact)
{
    const char *merges[2] = {"a b", "ab c"};
    /* "ab" is there: both merges parse */
    const char *good[5] = {"a", "b", "c", "ab", "abc"};
    char *p = merge_problems(good, NULL, 5, merges, 2);
    ck_assert_msg(p == NULL, "%s", p ? p : "");
    /* "ab" only as the prefix of a longer text, with a NUL after it: a lookup that
     * stopped at the NUL (or a hash that collided) would find it */
    const char *nul[5] = {"a", "b", "c", "ab\0z", "abc"};
    const size_t lens[5] = {1, 1, 1, 4, 3};
    p = merge_problems(nul, lens, 5, merges, 2);
    ck_assert_ptr_nonnull(p);
    ck_assert_msg(strstr(p, "2 of 2 merges do not parse; the first, #0 \"a b\", produces a token "
                            "that is not in the vocabulary") != NULL, "%s", p);
    free(p);
    /* texts that differ only in the bytes the keys escape (0x00, 0x01) stay apart */
    const char *esc[4] = {"a", "b", "a\001b", "a\001\001b"};
    const size_t esc_lens[4] = {1, 1, 3, 4};
    const char *m1[1] = {"a b"};
    p = merge_problems(esc, esc_lens, 4, m1, 1);
    ck_assert_ptr_nonnull(p);
    free(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("verify_report");
    TCase *tc = tcase_create("reports");
    tcase_add_test(tc, test_check_text_is_the_json);
    tcase_add_test(tc, test_check_real_file_text_is_the_json);
    tcase_add_test(tc, test_kernels_text_is_the_json);
    tcase_add_test(tc, test_ppl_text_is_the_json);
    tcase_add_test(tc, test_reference_text_is_the_json);
    tcase_add_test(tc, test_gates);
    suite_add_tcase(s, tc);
    tc = tcase_create("rules");
    tcase_add_test(tc, test_tokenize_rule);
    tcase_add_test(tc, test_batch_policy);
    tcase_add_test(tc, test_merges_exact);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
