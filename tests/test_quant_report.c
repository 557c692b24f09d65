/* test_quant_report.c - the ternarization report (summary, text/JSON/CSV/HTML),
 * the requantizer (requant.h) and bn-quant end to end on a float GGUF written
 * here (also for tests/cli/quant.sh: `test_quant_report --write-model PATH
 * [--nan|--odd]`). */
#include <check.h>
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bn/quant.h"
#include "bn/requant.h"
#include "bn/util.h"
#include "quant/quant_internal.h"
#include "testutil.h"

/* ---- report ------------------------------------------------------------------------ */

static const char *kinds[7] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};

/* 2 layers x 7 kinds of Gaussian weights, a token embedding, and a NaN tensor. */
static bn_quant_report *sample_report(void)
{
    bn_quant_report *r;
    bn_error e;
    ck_assert_int_eq(bn_quant_report_new("sample <model>", &r, &e), BN_OK);
    const int64_t ne[2] = {256, 8};
    float w[2048];
    int8_t c[2048];
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 7; k++) {
            for (int i = 0; i < 2048; i++)
                w[i] = (0.5f + (float)k) * tu_gauss();
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, kinds[k]);
            bn_ternary_result res;
            bn_quant_stats st;
            ck_assert_int_eq(bn_quant_tensor(name, w, 2, ne, l ? BN_QM_MSE : BN_QM_ABSMEAN, c, &res, &st, &e),
                             BN_OK);
            ck_assert_int_eq(bn_quant_report_add(r, &st, &e), BN_OK);
        }
    bn_ternary_result res;
    bn_quant_stats st;
    ck_assert_int_eq(bn_quant_tensor("token_embd.weight", w, 2, ne, BN_QM_ABSMEAN, c, &res, &st, &e), BN_OK);
    ck_assert_int_eq(bn_quant_report_add(r, &st, &e), BN_OK);
    w[5] = NAN;
    ck_assert_int_eq(bn_quant_tensor("blk.1.attn_q.weight", w, 2, ne, BN_QM_ABSMEAN, c, &res, &st, &e),
                     BN_EINVAL);
    ck_assert_int_eq(bn_quant_report_add(r, &st, &e), BN_OK);
    return r;
}

static char *render(const bn_quant_report *r, bn_report_format f)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    bn_error e;
    ck_assert_int_eq(bn_quant_report_write(r, f, m, &e), BN_OK);
    fclose(m);
    return buf;
}

START_TEST(test_report_summary)
{
    bn_quant_report *r = sample_report();
    ck_assert_uint_eq(bn_quant_report_count(r), 16);
    ck_assert_int_eq(bn_quant_report_n_layers(r), 2);
    bn_quant_summary s, k, l0, l1;
    bn_quant_report_total(r, &s);
    ck_assert_uint_eq(s.n_tensors, 16);
    ck_assert_uint_eq(s.n, 15 * 2048); /* the NaN tensor has no statistics */
    ck_assert(s.flags & BN_QF_NAN_INF);
    /* element-weighted: Σ err² / Σ W², not the mean of the NMSEs */
    double se = 0, sw = 0;
    for (size_t i = 0; i < 15; i++) {
        se += bn_quant_report_at(r, i)->sum_err2;
        sw += bn_quant_report_at(r, i)->sum_w2;
    }
    ck_assert_double_eq_tol(s.nmse, se / sw, 1e-15);
    bn_quant_report_by_kind(r, BN_ROLE_ATTN_Q, &k);
    ck_assert_uint_eq(k.n_tensors, 3);
    ck_assert_uint_eq(k.n, 2 * 2048);
    bn_quant_report_by_layer(r, 0, &l0);
    bn_quant_report_by_layer(r, 1, &l1);
    ck_assert_uint_eq(l0.n_tensors, 7);
    ck_assert_uint_eq(l1.n_tensors, 8);
    ck_assert(l1.nmse < l0.nmse); /* layer 1 used mse, layer 0 absmean */
    /* the absmean baseline: layer 0 is absmean itself, layer 1 beats it */
    ck_assert_double_eq(l0.gain_db, 0.0);
    ck_assert_double_eq(l0.nmse_absmean, l0.nmse);
    ck_assert(l1.gain_db > 1.0 && l1.nmse_absmean > l1.nmse);

    /* gates */
    ck_assert_uint_eq(bn_quant_report_gate(r, -1, 0, NULL), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    ck_assert_uint_eq(bn_quant_report_gate(r, -1, BN_QF_NAN_INF, m), 1);
    fclose(m);
    ck_assert_ptr_nonnull(strstr(buf, "blk.1.attn_q.weight: flagged nan-inf"));
    free(buf);
    /* a limit every tensor passes except the NaN one */
    ck_assert_uint_eq(bn_quant_report_gate(r, 1.0, 0, NULL), 1);
    ck_assert_uint_eq(bn_quant_report_gate(r, 0.0, 0, NULL), 16);
    bn_quant_report_free(r);
}
END_TEST

START_TEST(test_report_formats)
{
    bn_quant_report *r = sample_report();

    char *json = render(r, BN_REPORT_JSON);
    cJSON *root = cJSON_Parse(json);
    ck_assert_ptr_nonnull(root);
    ck_assert_str_eq(cJSON_GetObjectItem(root, "title")->valuestring, "sample <model>");
    cJSON *ts = cJSON_GetObjectItem(root, "tensors");
    ck_assert_int_eq(cJSON_GetArraySize(ts), 16);
    cJSON *t0 = cJSON_GetArrayItem(ts, 0);
    const bn_quant_stats *s0 = bn_quant_report_at(r, 0);
    ck_assert_str_eq(cJSON_GetObjectItem(t0, "name")->valuestring, "blk.0.attn_q.weight");
    ck_assert_double_eq_tol(cJSON_GetObjectItem(t0, "nmse")->valuedouble, s0->nmse, 1e-12 * s0->nmse);
    ck_assert_double_eq_tol(cJSON_GetObjectItem(t0, "scale")->valuedouble, s0->scale, 1e-7 * s0->scale);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(t0, "hist")), BN_QSTAT_BINS);
    ck_assert_int_eq(cJSON_GetObjectItem(t0, "layer")->valueint, 0);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(ts, 15), "nmse")));
    cJSON *bk = cJSON_GetObjectItem(root, "by_kind");
    for (int k = 0; k < 7; k++)
        ck_assert_ptr_nonnull(cJSON_GetObjectItem(bk, kinds[k]));
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(bk, "other"));
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(root, "by_layer")), 2);
    bn_quant_summary tot;
    bn_quant_report_total(r, &tot);
    ck_assert_double_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "total"), "n")->valuedouble, (double)tot.n);
    cJSON_Delete(root);
    free(json);

    char *csv = render(r, BN_REPORT_CSV);
    int lines = 0;
    for (char *p = csv; *p; p++)
        lines += *p == '\n';
    ck_assert_int_eq(lines, 17);
    ck_assert(strncmp(csv, "name,ne0,ne1,", 13) == 0);
    ck_assert_ptr_nonnull(strstr(csv, "\nblk.0.ffn_down.weight,256,8,1,1,ffn_down,0,absmean,"));
    free(csv);

    char *text = render(r, BN_REPORT_TEXT);
    ck_assert_ptr_nonnull(strstr(text, "total"));
    ck_assert_ptr_nonnull(strstr(text, "NMSE per layer and kind"));
    for (char *p = text, *nl; (nl = strchr(p, '\n')); p = nl + 1)
        ck_assert_msg(nl - p <= 120, "text line of %d columns: %.*s", (int)(nl - p), (int)(nl - p), p);
    free(text);

    bn_error e;
    ck_assert_int_eq(bn_quant_report_set_focus(r, "blk.9.attn_q.weight", &e), BN_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, "blk.9.attn_q.weight"));
    ck_assert_int_eq(bn_quant_report_set_focus(r, "blk.1.ffn_up.weight", &e), BN_OK);
    char *html = render(r, BN_REPORT_HTML);
    ck_assert_ptr_nonnull(strstr(html, "Distribution of |W| / s: blk.1.ffn_up.weight"));
    int charts = 0;
    for (char *p = html; (p = strstr(p, "<svg class=\"kind-chart\"")); p++)
        charts++;
    ck_assert_int_eq(charts, 7);
    ck_assert_ptr_nonnull(strstr(html, "<svg class=\"hist\""));
    ck_assert_ptr_null(strstr(html, "http"));
    ck_assert_ptr_null(strstr(html, "src="));
    ck_assert_ptr_null(strstr(html, "<script"));
    ck_assert_ptr_nonnull(strstr(html, "sample &lt;model&gt;"));
    ck_assert_ptr_nonnull(strstr(html, "</html>"));
    free(html);
    bn_quant_report_free(r);

    bn_report_format f;
    ck_assert_int_eq(bn_report_format_from_name("html", &f), 0);
    ck_assert_int_eq(f, BN_REPORT_HTML);
    ck_assert_int_eq(bn_report_format_from_name("xml", &f), -1);
    /* the one rule: the name, else the extension, else text */
    ck_assert_int_eq(bn_report_format_choose(NULL, NULL, &f, &e), BN_OK);
    ck_assert_int_eq(f, BN_REPORT_TEXT);
    ck_assert_int_eq(bn_report_format_choose("csv", "r.json", &f, &e), BN_OK);
    ck_assert_int_eq(f, BN_REPORT_CSV);
    ck_assert_int_eq(bn_report_format_choose(NULL, "out.d/r.htm", &f, &e), BN_OK);
    ck_assert_int_eq(f, BN_REPORT_HTML);
    ck_assert_int_eq(bn_report_format_choose(NULL, "out.d/report", &f, &e), BN_OK);
    ck_assert_int_eq(f, BN_REPORT_TEXT);
    ck_assert_int_eq(bn_report_format_choose("xml", NULL, &f, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "'xml' (text, json, csv, html)"));
    ck_assert_int_eq(bn_report_format_choose(NULL, "r.xyz", &f, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "'.xyz'"));
}
END_TEST

/* An empty report (a model with no projections) still renders in every format. */
START_TEST(test_report_empty)
{
    bn_quant_report *r;
    bn_error e;
    ck_assert_int_eq(bn_quant_report_new("", &r, &e), BN_OK);
    for (int f = 0; f < 4; f++) {
        char *out = render(r, (bn_report_format)f);
        ck_assert(strlen(out) > 0);
        if (f == BN_REPORT_JSON) {
            cJSON *root = cJSON_Parse(out);
            ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(root, "tensors")), 0);
            ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "total"), "n")->valueint, 0);
            cJSON_Delete(root);
        }
        if (f == BN_REPORT_HTML)
            ck_assert_ptr_null(strstr(out, "<svg"));
        free(out);
    }
    ck_assert_uint_eq(bn_quant_report_gate(r, 0.0, ~0u, NULL), 0);
    bn_quant_report_free(r);
}
END_TEST

/* ---- bn-quant end to end --------------------------------------------------------- */

/* A tiny `bitnet` GGUF as llama.cpp's converter writes with --outtype f32: 2 layers,
 * hidden 256, FFN 512, vocab 64, Gaussian weights (one projection stored as F16 and
 * one as BF16 to exercise decoding). with_nan puts a NaN into blk.1.ffn_down; odd
 * gives blk.0.attn_q rows of 320, which no ternary type can pack. Also used by
 * tests/cli/quant.sh through `test_quant_report --write-model PATH [--nan|--odd]`. */
typedef struct {
    const char *name;
    int64_t ne0, ne1; /* ne1 0: 1-D */
    bn_type type;
} model_tensor;

static int model_tensors(model_tensor *out, int odd)
{
    int n = 0;
    out[n++] = (model_tensor){"token_embd.weight", 256, 64, BN_TYPE_F32};
    out[n++] = (model_tensor){"output_norm.weight", 256, 0, BN_TYPE_F32};
    static char names[2][11][40];
    static const char *per[11] = {"attn_norm", "attn_q",   "attn_k", "attn_v",  "attn_output", "attn_sub_norm",
                                  "ffn_norm",  "ffn_gate", "ffn_up", "ffn_down", "ffn_sub_norm"};
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 11; k++) {
            snprintf(names[l][k], sizeof names[l][k], "blk.%d.%s.weight", l, per[k]);
            int64_t ne0 = strcmp(per[k], "ffn_down") ? 256 : 512;
            if (odd && l == 0 && k == 1)
                ne0 = 320; /* not a multiple of the I2_S (128) or TQ (256) block */
            int64_t ne1 = strstr(per[k], "norm") ? 0 : (!strcmp(per[k], "ffn_gate") || !strcmp(per[k], "ffn_up")) ? 512 : 256;
            bn_type t = (l == 1 && k == 3) ? BN_TYPE_F16 : (l == 0 && k == 8) ? BN_TYPE_BF16 : BN_TYPE_F32;
            out[n++] = (model_tensor){names[l][k], ne0, ne1, t};
        }
    return n;
}

static void model_values(const model_tensor *mt, float *w, size_t n, int with_nan)
{
    for (size_t i = 0; i < n; i++)
        w[i] = mt->ne1 ? 0.02f * tu_gauss() : 1.0f + 0.01f * tu_gauss();
    if (with_nan && !strcmp(mt->name, "blk.1.ffn_down.weight"))
        w[n / 2] = NAN;
}

static bn_status write_model(const char *path, int with_nan, int odd, bn_error *e)
{
    tu_rand_seed(0x243f6a8885a308d3ull);
    model_tensor mt[32];
    int n = model_tensors(mt, odd);
    bn_gguf_writer *w;
    bn_status st = bn_gguf_writer_open(path, 0, &w, e);
    if (st)
        return st;
    if ((st = bn_gguf_set_str(w, "general.architecture", "bitnet", e)) ||
        (st = bn_gguf_set_str(w, "general.name", "bntk quant test", e)) ||
        (st = bn_gguf_set_u32(w, "general.file_type", 0, e)) ||
        (st = bn_gguf_set_u32(w, "bitnet.block_count", 2, e)) ||
        (st = bn_gguf_set_u32(w, "bitnet.embedding_length", 256, e)) ||
        (st = bn_gguf_set_f32(w, "bitnet.attention.layer_norm_rms_epsilon", 1e-5f, e)))
        goto fail;
    for (int i = 0; i < n; i++) {
        int64_t ne[2] = {mt[i].ne0, mt[i].ne1};
        if ((st = bn_gguf_add_tensor(w, mt[i].name, mt[i].ne1 ? 2 : 1, ne, mt[i].type, e)))
            goto fail;
    }
    for (int i = 0; i < n; i++) {
        int64_t rows = mt[i].ne1 ? mt[i].ne1 : 1;
        size_t cnt = (size_t)(mt[i].ne0 * rows), sz;
        float *v = malloc(cnt * 4);
        model_values(&mt[i], v, cnt, with_nan);
        if ((st = bn_quant_packed_size(mt[i].type, mt[i].ne0, rows, &sz, e)) == BN_OK) {
            uint8_t *p = malloc(sz);
            st = bn_pack_f32(mt[i].type, v, mt[i].ne0, rows, p, sz, 1, e);
            if (!st)
                st = bn_gguf_writer_write(w, p, sz, e);
            free(p);
        }
        free(v);
        if (st)
            goto fail;
    }
    return bn_gguf_writer_finish(w, e);
fail:
    bn_gguf_writer_abort(w);
    return st;
}

/* Quantize with the real tool, then read the output back: file_type, types,
 * codes equal to bn_ternarize on the input, scales, embeddings and norms. */
START_TEST(test_bn_quant_tool)
{
    static const struct {
        const char *arg;
        bn_type t;
        uint32_t ftype;
    } ty[3] = {{"i2_s", BN_TYPE_I2_S, 40}, {"tq2_0", BN_TYPE_TQ2_0, 37}, {"tq1_0", BN_TYPE_TQ1_0, 36}};
    bn_error e;
    const char *in = tu_tmp("quant_tool_in.gguf");
    ck_assert_int_eq(write_model(in, 0, 0, &e), BN_OK);
    bn_gguf *gi;
    ck_assert_int_eq(bn_gguf_open(in, &gi, &e), BN_OK);
    for (int k = 0; k < 3; k++) {
        char out[512], cmd[2048];
        snprintf(out, sizeof out, "%s", tu_tmp(ty[k].arg));
        snprintf(cmd, sizeof cmd, "%s %s %s --type %s -t 3 --quiet", tu_build("bn-quant"), in, out, ty[k].arg);
        char *log = NULL;
        int rc = tu_run(cmd, &log);
        ck_assert_msg(rc == 0, "%s -> %d: %s", cmd, rc, log ? log : "");
        free(log);
        bn_gguf *go;
        ck_assert_int_eq(bn_gguf_open(out, &go, &e), BN_OK);
        uint32_t ft;
        ck_assert_int_eq(bn_gguf_get_u32(go, "general.file_type", &ft, &e), BN_OK);
        ck_assert_uint_eq(ft, ty[k].ftype);
        ck_assert_int_eq(bn_gguf_get_u32(go, "general.quantization_version", &ft, &e), BN_OK);
        ck_assert_uint_eq(ft, 2);
        bn_str arch;
        ck_assert_int_eq(bn_gguf_get_str(go, "general.architecture", &arch, &e), BN_OK);
        ck_assert(arch.len == 6 && memcmp(arch.ptr, "bitnet", 6) == 0);
        ck_assert_int_eq(bn_gguf_n_tensors(go), bn_gguf_n_tensors(gi));
        int projections = 0;
        for (int64_t i = 0; i < bn_gguf_n_tensors(gi); i++) {
            const bn_gguf_tensor *a = bn_gguf_tensor_at(gi, i), *b = bn_gguf_tensor_at(go, i);
            ck_assert_str_eq(a->name, b->name);
            ck_assert_int_eq(a->ne[0], b->ne[0]);
            ck_assert_int_eq(a->ne[1], b->ne[1]);
            int64_t rows = (int64_t)(a->n_el / (uint64_t)a->ne[0]);
            float *w = malloc(a->n_el * 4), *y = malloc(a->n_el * 4);
            ck_assert_int_eq(bn_unpack_f32(a->type, a->data, a->nbytes, a->ne[0], rows, w, 1, &e), BN_OK);
            int layer;
            if (bn_quant_kind_of(a->name, &layer) != BN_ROLE_OTHER) {
                projections++;
                ck_assert_int_eq(b->type, ty[k].t);
                int8_t *want = malloc(a->n_el), *got = malloc(a->n_el);
                bn_ternary_result r;
                ck_assert_int_eq(bn_ternarize(a->name, w, a->n_el, BN_QM_ABSMEAN, want, &r, &e), BN_OK);
                ck_assert_int_eq(bn_unpack_ternary_rows(b->type, b->data, b->nbytes, b->ne[0], rows, 0, rows, got, &e),
                                 BN_OK);
                ck_assert_msg(memcmp(want, got, a->n_el) == 0, "%s codes differ", a->name);
                float s;
                ck_assert_int_eq(bn_packed_ternary_scale(b->type, b->data, b->nbytes, b->ne[0], rows, &s, &e), BN_OK);
                ck_assert_float_eq(s, ty[k].t == BN_TYPE_I2_S ? r.scale : bn_f16_to_f32(bn_f32_to_f16(r.scale)));
                free(want);
                free(got);
            } else if (!strcmp(a->name, "token_embd.weight")) {
                ck_assert_int_eq(b->type, BN_TYPE_F16);
                ck_assert_int_eq(bn_unpack_f32(b->type, b->data, b->nbytes, b->ne[0], rows, y, 1, &e), BN_OK);
                for (uint64_t j = 0; j < a->n_el; j++)
                    ck_assert_float_eq(y[j], bn_f16_to_f32(bn_f32_to_f16(w[j])));
            } else {
                ck_assert_int_eq(b->type, BN_TYPE_F32);
                ck_assert_int_eq(memcmp(a->data, b->data, a->nbytes), 0);
            }
            free(w);
            free(y);
        }
        ck_assert_int_eq(projections, 14);
        bn_gguf_close(go);
    }
    bn_gguf_close(gi);
}
END_TEST
/* ---- the requantizer as a library (requant.h) ---------------------------------- */

typedef struct {
    size_t planned_n, calls, last_i, notices;
    uint64_t planned_bytes, last_in;
    char notice[600];
} rq_seen;

static void rq_planned(void *u, size_t n, uint64_t bytes)
{
    rq_seen *s = u;
    s->planned_n = n;
    s->planned_bytes = bytes;
}

static void rq_progress(void *u, size_t i, size_t n, const char *name, uint64_t in, uint64_t out)
{
    (void)n, (void)name, (void)out;
    rq_seen *s = u;
    ck_assert_uint_eq(i, s->last_i + 1); /* every tensor once, in order */
    s->calls++;
    s->last_i = i;
    s->last_in = in;
}

static void rq_notice(void *u, const char *msg)
{
    rq_seen *s = u;
    s->notices++;
    snprintf(s->notice, sizeof s->notice, "%s", msg);
}

/* bn_requant_run on g into path (NULL: report only); the report's tensor count. */
static bn_status requant(const bn_gguf *g, const char *path, int threads, rq_seen *seen, size_t *count,
                         bn_error *e)
{
    bn_requant_opts o;
    bn_requant_opts_init(&o);
    o.in_name = "model.gguf";
    o.out_path = path;
    o.proj_type = BN_TYPE_TQ2_0;
    o.n_threads = threads;
    o.planned = rq_planned;
    o.progress = rq_progress;
    o.notice = rq_notice;
    o.user = seen;
    memset(seen, 0, sizeof *seen);
    bn_outset *outs = NULL;
    bn_status st = bn_quant_report_new("model.gguf", &o.report, e);
    if (!st && path && !(st = bn_outset_new(&outs, e)))
        st = bn_outset_output(outs, path, e);
    o.outputs = outs;
    if (!st)
        st = bn_requant_run(&o, g, e);
    if (!st && outs)
        st = bn_outset_commit(outs, e);
    *count = o.report ? bn_quant_report_count(o.report) : 0;
    bn_outset_free(outs);
    bn_quant_report_free(o.report);
    return st;
}

static char *slurp(const char *path, size_t *len)
{
    char *buf;
    bn_error e;
    ck_assert_int_eq(bn_read_file(path, 1u << 26, &buf, len, &e), BN_OK);
    return buf;
}

/* The bytes do not depend on the thread count; the callbacks see the plan,
 * every tensor in order and every input byte; a NaN projection is noticed and
 * listed by a report-only run and refused, with nothing written, by a real one. */
START_TEST(test_requant_library)
{
    bn_error e;
    const char *in = tu_tmp("requant_in.gguf"), *nan_in = tu_tmp("requant_nan.gguf");
    const char *o1 = tu_tmp("requant_t1.gguf"), *o3 = tu_tmp("requant_t3.gguf");
    ck_assert_int_eq(write_model(in, 0, 0, &e), BN_OK);
    ck_assert_int_eq(write_model(nan_in, 1, 0, &e), BN_OK);
    bn_gguf *g, *gn;
    ck_assert_int_eq(bn_gguf_open(in, &g, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_open(nan_in, &gn, &e), BN_OK);
    rq_seen seen;
    size_t count;
    ck_assert_int_eq(requant(g, o1, 1, &seen, &count, &e), BN_OK);
    ck_assert_uint_eq(count, 14);
    ck_assert_uint_eq(seen.planned_n, (size_t)bn_gguf_n_tensors(g));
    ck_assert_uint_eq(seen.calls, seen.planned_n);
    ck_assert_uint_eq(seen.planned_bytes, bn_gguf_sum(g).n_bytes);
    ck_assert_uint_eq(seen.last_in, seen.planned_bytes);
    ck_assert_int_eq(requant(g, o3, 3, &seen, &count, &e), BN_OK);
    size_t n1, n3;
    char *b1 = slurp(o1, &n1), *b3 = slurp(o3, &n3);
    ck_assert(n1 == n3 && memcmp(b1, b3, n1) == 0);
    free(b1);
    free(b3);

    ck_assert_int_eq(requant(gn, NULL, 2, &seen, &count, &e), BN_OK);
    ck_assert_uint_eq(count, 14);
    ck_assert_uint_eq(seen.notices, 1);
    ck_assert_msg(strstr(seen.notice, "warning: ") == seen.notice && strstr(seen.notice, "blk.1.ffn_down"),
                  "%s", seen.notice);
    const char *on = tu_tmp("requant_nan_out.gguf");
    remove(on);
    ck_assert_int_eq(requant(gn, on, 2, &seen, &count, &e), BN_EINVAL);
    ck_assert_msg(strstr(e.msg, "blk.1.ffn_down"), "%s", e.msg);
    ck_assert_int_ne(access(on, F_OK), 0);

    bn_requant_opts o;
    bn_requant_opts_init(&o);
    o.in_name = "model.gguf";
    ck_assert_int_eq(bn_requant_run(&o, g, &e), BN_EINVAL); /* no report */
    bn_gguf_close(g);
    bn_gguf_close(gn);
}
END_TEST

Suite *quant_report_suite(void)
{
    Suite *s = suite_create("quant_report");
    TCase *rp = tcase_create("report");
    tcase_add_test(rp, test_report_summary);
    tcase_add_test(rp, test_report_formats);
    tcase_add_test(rp, test_report_empty);
    suite_add_tcase(s, rp);
    TCase *tl = tcase_create("tool");
    tcase_set_timeout(tl, 120);
    tcase_add_test(tl, test_bn_quant_tool);
    tcase_add_test(tl, test_requant_library);
    suite_add_tcase(s, tl);
    return s;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "--write-model")) {
        bn_error e;
        const char *variant = argc >= 4 ? argv[3] : "";
        if (write_model(argv[2], !strcmp(variant, "--nan"), !strcmp(variant, "--odd"), &e)) {
            fprintf(stderr, "test_quant_report: %s\n", e.msg);
            return 2;
        }
        return 0;
    }
    (void)argc;
    (void)argv;
    return tu_run_suite(quant_report_suite());
}
