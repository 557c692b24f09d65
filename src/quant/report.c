/*
 * report.c - the quantization report: a growing list of per-tensor statistics
 * (never tensor data), element-weighted summaries per kind / layer / model, the
 * CI gate, the format rule (name, else extension), the text, JSON and CSV
 * writers and the report file. HTML lives in report_html.c.
 */
#include "bn/quant.h"
#include "bn/util.h"
#include "bn/version.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant_internal.h"
#include "quant/report_internal.h"

struct bn_quant_report {
    char *title;
    char *tool;            /* the JSON report's "tool"; NULL: "libbn" */
    char *focus;           /* tensor for the HTML histogram; NULL: highest NMSE */
    bn_quant_stats *items; /* (n) tensors in the order added */
    size_t n, cap;
    char *made_by, *command, *out_type; /* set_meta (HTML header); NULL: not shown */
    bn_quant_report *methods[BNQ_MAX_METHODS]; /* (n_methods) owned: the same tensors, other methods */
    size_t n_methods;
};

int bn_report_format_from_name(const char *name, bn_report_format *f)
{
    static const char *names[] = {"text", "json", "csv", "html"};
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, names[i]) == 0) {
            *f = (bn_report_format)i;
            return 0;
        }
    return -1;
}

bn_status bn_report_format_from_path(const char *path, bn_report_format *f, bn_error *err)
{
    static const struct { const char *ext; bn_report_format f; } exts[] = {
        {"txt", BN_REPORT_TEXT}, {"text", BN_REPORT_TEXT}, {"json", BN_REPORT_JSON},
        {"csv", BN_REPORT_CSV},  {"html", BN_REPORT_HTML}, {"htm", BN_REPORT_HTML},
    };
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base) {
        *f = BN_REPORT_TEXT;
        return BN_OK;
    }
    for (size_t i = 0; i < sizeof exts / sizeof *exts; i++)
        if (strcmp(dot + 1, exts[i].ext) == 0) {
            *f = exts[i].f;
            return BN_OK;
        }
    return bn_error_set(err, BN_EINVAL,
                        "%s: unknown report extension '%s' (known: .txt .json .csv .html)",
                        path, dot);
}

bn_status bn_report_format_choose(const char *name, const char *path, bn_report_format *f, bn_error *err)
{
    if (name) {
        if (bn_report_format_from_name(name, f) != 0)
            return bn_error_set(err, BN_EINVAL, "unknown report format '%s' (text, json, csv, html)", name);
        return BN_OK;
    }
    *f = BN_REPORT_TEXT;
    return path ? bn_report_format_from_path(path, f, err) : BN_OK;
}

bn_status bn_quant_report_new(const char *title, bn_quant_report **out, bn_error *err)
{
    bn_quant_report *r = calloc(1, sizeof *r);
    if (!r || !(r->title = strdup(title ? title : ""))) {
        free(r);
        return bn_error_set(err, BN_ENOMEM, "out of memory creating a report");
    }
    *out = r;
    return BN_OK;
}

bn_status bn_quant_report_set_meta(bn_quant_report *r, const char *tool, const char *command,
                                   const char *out_type, bn_error *err)
{
    char *v[3] = {NULL, NULL, NULL};
    const char *in[3] = {tool, command, out_type};
    for (int i = 0; i < 3; i++)
        if (in[i] && !(v[i] = strdup(in[i]))) {
            free(v[0]);
            free(v[1]);
            return bn_error_set(err, BN_ENOMEM, "out of memory for the report's header");
        }
    free(r->made_by);
    free(r->command);
    free(r->out_type);
    r->made_by = v[0];
    r->command = v[1];
    r->out_type = v[2];
    return BN_OK;
}

bn_status bn_quant_report_add_method(bn_quant_report *r, bn_quant_report *other, bn_error *err)
{
    if (r->n_methods >= BNQ_MAX_METHODS) {
        bn_quant_report_free(other);
        return bn_error_set(err, BN_ELIMIT, "at most %d methods side by side", BNQ_MAX_METHODS);
    }
    r->methods[r->n_methods++] = other;
    return BN_OK;
}

void bnq_report_meta(const bn_quant_report *r, const char **tool, const char **command, const char **out_type)
{
    *tool = r->made_by;
    *command = r->command;
    *out_type = r->out_type;
}

size_t bnq_report_n_methods(const bn_quant_report *r)
{
    return r->n_methods;
}

const bn_quant_report *bnq_report_method_at(const bn_quant_report *r, size_t i)
{
    return i < r->n_methods ? r->methods[i] : NULL;
}

void bn_quant_report_free(bn_quant_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_methods; i++)
        bn_quant_report_free(r->methods[i]);
    free(r->made_by);
    free(r->command);
    free(r->out_type);
    free(r->title);
    free(r->tool);
    free(r->focus);
    free(r->items);
    free(r);
}

bn_status bn_quant_report_set_tool(bn_quant_report *r, const char *tool, bn_error *err)
{
    char *t = strdup(tool ? tool : "libbn");
    if (!t)
        return bn_error_set(err, BN_ENOMEM, "out of memory naming the report's tool");
    free(r->tool);
    r->tool = t;
    return BN_OK;
}

bn_status bn_quant_report_add(bn_quant_report *r, const bn_quant_stats *st, bn_error *err)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        bn_quant_stats *p = realloc(r->items, cap * sizeof *p);
        if (!p)
            return bn_error_set(err, BN_ENOMEM, "out of memory adding tensor '%s' to the report", st->name);
        r->items = p;
        r->cap = cap;
    }
    r->items[r->n++] = *st;
    return BN_OK;
}

size_t bn_quant_report_count(const bn_quant_report *r) { return r->n; }
const bn_quant_stats *bn_quant_report_at(const bn_quant_report *r, size_t i)
{
    return i < r->n ? &r->items[i] : NULL;
}
const char *bnq_report_title(const bn_quant_report *r) { return r->title; }

const bn_quant_stats *bn_quant_report_find(const bn_quant_report *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->items[i].name, name))
            return &r->items[i];
    return NULL;
}

bn_status bn_quant_report_set_focus(bn_quant_report *r, const char *name, bn_error *err)
{
    if (!bn_quant_report_find(r, name))
        return bn_error_set(err, BN_ENOTFOUND, "the report has no tensor named '%s'", name);
    char *f = strdup(name);
    if (!f)
        return bn_error_set(err, BN_ENOMEM, "out of memory");
    free(r->focus);
    r->focus = f;
    return BN_OK;
}

const bn_quant_stats *bnq_report_focus(const bn_quant_report *r, int *chosen)
{
    *chosen = r->focus != NULL;
    if (r->focus)
        return bn_quant_report_find(r, r->focus);
    const bn_quant_stats *worst = NULL;
    for (size_t i = 0; i < r->n; i++) {
        const bn_quant_stats *t = &r->items[i];
        if (!(t->flags & BN_QF_NAN_INF) && (!worst || t->nmse > worst->nmse))
            worst = t;
    }
    return worst;
}

static double gain_db(double err_absmean, double err)
{
    if (err > 0)
        return err_absmean > 0 ? 10.0 * log10(err_absmean / err) : -INFINITY;
    return err_absmean > 0 ? INFINITY : 0.0;
}

/* ---- summaries ------------------------------------------------------------------ */

static void summarize(const bn_quant_report *r, int by, int key, bn_quant_summary *s)
{
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < r->n; i++) {
        const bn_quant_stats *t = &r->items[i];
        if ((by == 1 && (int)t->kind != key) || (by == 2 && t->layer != key))
            continue;
        s->n_tensors++;
        s->flags |= t->flags;
        if (t->flags & BN_QF_NAN_INF)
            continue; /* no statistics to add */
        s->n += t->n;
        s->n_neg += t->n_neg;
        s->n_zero += t->n_zero;
        s->n_pos += t->n_pos;
        s->sum_w2 += t->sum_w2;
        s->sum_err2 += t->sum_err2;
        s->sum_q2 += t->sum_q2;
        s->sum_wq += t->sum_wq;
        s->sum_err2_absmean += t->sum_err2_absmean;
        if (t->max_abs_err > s->max_abs_err)
            s->max_abs_err = t->max_abs_err;
    }
    bnq_derive(s->n, s->sum_w2, s->sum_err2, s->sum_q2, s->sum_wq, &s->mse, &s->rmse, &s->nmse, &s->snr_db,
               &s->cosine);
    s->nmse_absmean = s->sum_w2 > 0 ? s->sum_err2_absmean / s->sum_w2 : 0.0;
    s->gain_db = gain_db(s->sum_err2_absmean, s->sum_err2);
}

void bn_quant_report_by_kind(const bn_quant_report *r, bn_role k, bn_quant_summary *out)
{
    summarize(r, 1, (int)k, out);
}
void bn_quant_report_by_layer(const bn_quant_report *r, int layer, bn_quant_summary *out)
{
    if (layer < 0) {
        memset(out, 0, sizeof *out);
        return;
    }
    summarize(r, 2, layer, out);
}
void bn_quant_report_total(const bn_quant_report *r, bn_quant_summary *out) { summarize(r, 0, 0, out); }

int bn_quant_report_n_layers(const bn_quant_report *r)
{
    int n = 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->items[i].layer + 1 > n)
            n = r->items[i].layer + 1;
    return n;
}

/* NMSE of one (layer, kind) cell; NAN if absent. */
double bnq_cell_nmse(const bn_quant_report *r, int layer, bn_role k, uint32_t *flags)
{
    double sw2 = 0, se2 = 0;
    int found = 0, nan = 0;
    for (size_t i = 0; i < r->n; i++) {
        const bn_quant_stats *t = &r->items[i];
        if (t->layer == layer && t->kind == k) {
            found = 1;
            if (flags)
                *flags |= t->flags;
            if (t->flags & BN_QF_NAN_INF)
                nan = 1;
            sw2 += t->sum_w2;
            se2 += t->sum_err2;
        }
    }
    if (!found || nan)
        return NAN;
    return sw2 > 0 ? se2 / sw2 : 0.0;
}

/* ---- gate --------------------------------------------------------------------- */

size_t bn_quant_report_gate(const bn_quant_report *r, double max_nmse, uint32_t fail_flags, FILE *out)
{
    size_t bad = 0;
    char fb[96];
    for (size_t i = 0; i < r->n; i++) {
        const bn_quant_stats *t = &r->items[i];
        int fail = 0;
        /* NaN NMSE (a nan-inf tensor) never passes a NMSE limit */
        if (max_nmse >= 0 && !(t->nmse <= max_nmse)) {
            fail = 1;
            if (out)
                fprintf(out, "%s: nmse %.6g > %.6g\n", t->name, t->nmse, max_nmse);
        }
        if (t->flags & fail_flags) {
            fail = 1;
            if (out)
                fprintf(out, "%s: flagged %s\n", t->name, bn_quant_flags_str(t->flags & fail_flags, fb, sizeof fb));
        }
        bad += (size_t)fail;
    }
    return bad;
}

/* ---- text ------------------------------------------------------------------------ */

void bnq_shape_str(const bn_quant_stats *t, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (uint32_t d = 0; d < t->n_dims && d < 4; d++) {
        int w = snprintf(buf + len, cap - len, "%s%lld", d ? "x" : "", (long long)t->ne[d]);
        if (w < 0 || (size_t)w >= cap - len)
            break;
        len += (size_t)w;
    }
}

static double pct(uint64_t a, uint64_t n) { return n ? 100.0 * (double)a / (double)n : 0.0; }

/* Single-letter flags for the 120-column table (legend printed below it). */
static void short_flags(uint32_t f, char out[5])
{
    int i = 0;
    if (f & BN_QF_ALREADY_TERNARY)
        out[i++] = 'T';
    if (f & BN_QF_SIGN_LIKE)
        out[i++] = 'S';
    if (f & BN_QF_SCALE_CLAMPED)
        out[i++] = 'C';
    if (f & BN_QF_NAN_INF)
        out[i++] = 'N';
    if (!i)
        out[i++] = '-';
    out[i] = '\0';
}

/* A name that fits w columns: the tail is kept (it holds the kind). */
static const char *fit(const char *s, size_t w, char *buf, size_t cap)
{
    size_t len = strlen(s);
    if (len <= w)
        return s;
    snprintf(buf, cap, "~%s", s + len - (w - 1));
    return buf;
}

static void text_summary_row(FILE *f, const char *label, const bn_quant_summary *s)
{
    char fl[5];
    short_flags(s->flags, fl);
    fprintf(f, "%-14s %7llu %13llu %6.2f %6.2f %6.2f %10.4e %8.3f %9.6f %10.4e %9.3f %-4s\n", label,
            (unsigned long long)s->n_tensors, (unsigned long long)s->n, pct(s->n_neg, s->n),
            pct(s->n_zero, s->n), pct(s->n_pos, s->n), s->nmse, s->snr_db, s->cosine, s->max_abs_err, s->gain_db,
            fl);
}

static void write_text(const bn_quant_report *r, FILE *f)
{
    char nb[64], sh[48], fl[5];
    fprintf(f, "Quantization report: %s\n\n", r->title);
    fprintf(f, "%-28s %-11s %-7s %9s %5s %5s %5s %10s %7s %8s %9s %-4s\n", "tensor", "shape", "method", "scale",
            "-1%", "0%", "+1%", "NMSE", "SNR dB", "cosine", "max err", "flag");
    for (size_t i = 0; i < r->n; i++) {
        const bn_quant_stats *t = &r->items[i];
        bnq_shape_str(t, sh, sizeof sh);
        short_flags(t->flags, fl);
        fprintf(f, "%-28s %-11s %-7s %9.3e %5.1f %5.1f %5.1f %10.4e %7.2f %8.5f %9.3e %-4s\n",
                fit(t->name, 28, nb, sizeof nb), sh, bn_quant_method_name(t->method), (double)t->scale,
                pct(t->n_neg, t->n), pct(t->n_zero, t->n), pct(t->n_pos, t->n), t->nmse, t->snr_db, t->cosine,
                t->max_abs_err, fl);
    }
    fprintf(f, "flags: T already-ternary, S sign-like (>99%% non-zero), C scale-clamped (1e-5), N NaN/Inf\n"
               "dB>absm: error reduction against BitNet's absmean rule, 10 log10(err absmean / err)\n\n");

    fprintf(f, "%-14s %7s %13s %6s %6s %6s %10s %8s %9s %10s %9s %-4s\n", "kind", "tensors", "elements", "-1%",
            "0%", "+1%", "NMSE", "SNR dB", "cosine", "max err", "dB>absm", "flag");
    bn_quant_summary s;
    for (int k = 0; k <= BN_ROLE_N_PROJ; k++) {
        bn_quant_report_by_kind(r, (bn_role)k, &s);
        if (s.n_tensors)
            text_summary_row(f, bn_role_name((bn_role)k), &s);
    }
    bn_quant_report_total(r, &s);
    text_summary_row(f, "total", &s);

    int nl = bn_quant_report_n_layers(r);
    if (nl > 0) {
        fprintf(f, "\nNMSE per layer and kind\n%-5s", "layer");
        for (int k = 0; k < BN_ROLE_N_PROJ; k++)
            fprintf(f, " %11s", bn_role_name((bn_role)k));
        fprintf(f, " %11s\n", "layer");
        for (int l = 0; l < nl; l++) {
            fprintf(f, "%-5d", l);
            for (int k = 0; k < BN_ROLE_N_PROJ; k++) {
                double v = bnq_cell_nmse(r, l, (bn_role)k, NULL);
                if (isnan(v))
                    fprintf(f, " %11s", "-");
                else
                    fprintf(f, " %11.4e", v);
            }
            bn_quant_report_by_layer(r, l, &s);
            fprintf(f, " %11.4e\n", s.nmse);
        }
    }
}

/* ---- JSON ------------------------------------------------------------------------ */

static cJSON *num(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static void add_num(cJSON *o, const char *k, double v) { cJSON_AddItemToObject(o, k, num(v)); }

static cJSON *flags_json(uint32_t flags)
{
    cJSON *a = cJSON_CreateArray();
    char buf[96];
    bn_quant_flags_str(flags, buf, sizeof buf);
    if (strcmp(buf, "-") != 0)
        for (char *save = NULL, *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save))
            cJSON_AddItemToArray(a, cJSON_CreateString(p));
    return a;
}

/* The numbers a tensor and an aggregate share. */
static void add_metrics(cJSON *o, const bn_quant_summary *s)
{
    add_num(o, "n", (double)s->n);
    add_num(o, "n_neg", (double)s->n_neg);
    add_num(o, "n_zero", (double)s->n_zero);
    add_num(o, "n_pos", (double)s->n_pos);
    add_num(o, "frac_neg", s->n ? (double)s->n_neg / (double)s->n : 0);
    add_num(o, "frac_zero", s->n ? (double)s->n_zero / (double)s->n : 0);
    add_num(o, "frac_pos", s->n ? (double)s->n_pos / (double)s->n : 0);
    add_num(o, "sum_w2", s->sum_w2);
    add_num(o, "sum_err2", s->sum_err2);
    add_num(o, "sum_q2", s->sum_q2);
    add_num(o, "sum_wq", s->sum_wq);
    add_num(o, "mse", s->mse);
    add_num(o, "rmse", s->rmse);
    add_num(o, "nmse", s->nmse);
    add_num(o, "snr_db", s->snr_db);
    add_num(o, "cosine", s->cosine);
    add_num(o, "max_abs_err", s->max_abs_err);
    add_num(o, "sum_err2_absmean", s->sum_err2_absmean);
    add_num(o, "nmse_absmean", s->nmse_absmean);
    add_num(o, "gain_db_vs_absmean", s->gain_db);
    cJSON_AddItemToObject(o, "flags", flags_json(s->flags));
}

static cJSON *summary_json(const bn_quant_summary *s)
{
    cJSON *o = cJSON_CreateObject();
    add_num(o, "tensors", (double)s->n_tensors);
    add_metrics(o, s);
    return o;
}

static cJSON *tensor_json(const bn_quant_stats *t)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", t->name);
    cJSON *shape = cJSON_CreateArray();
    for (uint32_t d = 0; d < t->n_dims; d++)
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->ne[d]));
    cJSON_AddItemToObject(o, "ne", shape);
    cJSON_AddStringToObject(o, "kind", bn_role_name(t->kind));
    if (t->layer >= 0)
        add_num(o, "layer", t->layer);
    else
        cJSON_AddNullToObject(o, "layer");
    cJSON_AddStringToObject(o, "method", bn_quant_method_name(t->method));
    add_num(o, "scale", (double)t->scale);
    add_num(o, "threshold", (double)t->threshold);
    const bn_quant_summary m = {.n_tensors = 1, .n = t->n, .n_neg = t->n_neg, .n_zero = t->n_zero,
                                .n_pos = t->n_pos, .sum_w2 = t->sum_w2, .sum_err2 = t->sum_err2,
                                .sum_q2 = t->sum_q2, .sum_wq = t->sum_wq, .mse = t->mse, .rmse = t->rmse,
                                .nmse = t->nmse, .snr_db = t->snr_db, .cosine = t->cosine,
                                .max_abs_err = t->max_abs_err, .sum_err2_absmean = t->sum_err2_absmean,
                                .nmse_absmean = t->nmse_absmean, .gain_db = gain_db(t->sum_err2_absmean, t->sum_err2),
                                .flags = t->flags};
    add_metrics(o, &m);
    add_num(o, "hist_max", t->hist_max);
    cJSON *h = cJSON_CreateArray();
    for (int b = 0; b < BN_QSTAT_BINS; b++)
        cJSON_AddItemToArray(h, cJSON_CreateNumber((double)t->hist[b]));
    cJSON_AddItemToObject(o, "hist", h);
    return o;
}

static bn_status write_json(const bn_quant_report *r, FILE *f, bn_error *err)
{
    /* The header every bntk JSON document opens with (docs/json.md); the
     * input is the title, which both tools set to the input path. */
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "tool", r->tool ? r->tool : "libbn");
    cJSON_AddStringToObject(root, "version", bn_version());
    cJSON_AddNumberToObject(root, "schema", BN_QUANT_REPORT_SCHEMA);
    cJSON_AddStringToObject(root, "input", r->title);
    cJSON_AddStringToObject(root, "title", r->title);
    cJSON *ts = cJSON_AddArrayToObject(root, "tensors");
    for (size_t i = 0; i < r->n; i++)
        cJSON_AddItemToArray(ts, tensor_json(&r->items[i]));
    bn_quant_summary s;
    cJSON *bk = cJSON_AddObjectToObject(root, "by_kind");
    for (int k = 0; k <= BN_ROLE_N_PROJ; k++) {
        bn_quant_report_by_kind(r, (bn_role)k, &s);
        if (s.n_tensors)
            cJSON_AddItemToObject(bk, bn_role_name((bn_role)k), summary_json(&s));
    }
    cJSON *bl = cJSON_AddArrayToObject(root, "by_layer");
    for (int l = 0; l < bn_quant_report_n_layers(r); l++) {
        bn_quant_report_by_layer(r, l, &s);
        cJSON *o = summary_json(&s);
        cJSON_AddNumberToObject(o, "layer", l);
        cJSON_AddItemToArray(bl, o);
    }
    bn_quant_report_total(r, &s);
    cJSON_AddItemToObject(root, "total", summary_json(&s));
    char *txt = cJSON_Print(root);
    cJSON_Delete(root);
    if (!txt)
        return bn_error_set(err, BN_ENOMEM, "out of memory printing the JSON report");
    fputs(txt, f);
    fputc('\n', f);
    free(txt);
    return BN_OK;
}

/* ---- CSV ------------------------------------------------------------------------ */

static void csv_str(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void write_csv(const bn_quant_report *r, FILE *f)
{
    fputs("name,ne0,ne1,ne2,ne3,kind,layer,method,scale,threshold,n,n_neg,n_zero,n_pos,frac_neg,frac_zero,"
          "frac_pos,mse,rmse,nmse,snr_db,cosine,max_abs_err,sum_w2,sum_err2,nmse_absmean,gain_db_vs_absmean,flags\n",
          f);
    char fb[96];
    for (size_t i = 0; i < r->n; i++) {
        const bn_quant_stats *t = &r->items[i];
        csv_str(f, t->name);
        fprintf(f, ",%lld,%lld,%lld,%lld,%s,%d,%s,%.9g,%.9g,%llu,%llu,%llu,%llu,%.17g,%.17g,%.17g,%.17g,%.17g,"
                   "%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,",
                (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
                bn_role_name(t->kind), t->layer, bn_quant_method_name(t->method), (double)t->scale,
                (double)t->threshold, (unsigned long long)t->n, (unsigned long long)t->n_neg,
                (unsigned long long)t->n_zero, (unsigned long long)t->n_pos,
                t->n ? (double)t->n_neg / (double)t->n : 0.0, t->n ? (double)t->n_zero / (double)t->n : 0.0,
                t->n ? (double)t->n_pos / (double)t->n : 0.0, t->mse, t->rmse, t->nmse, t->snr_db, t->cosine,
                t->max_abs_err, t->sum_w2, t->sum_err2, t->nmse_absmean, gain_db(t->sum_err2_absmean, t->sum_err2));
        bn_quant_flags_str(t->flags, fb, sizeof fb);
        csv_str(f, fb);
        fputc('\n', f);
    }
}

bn_status bn_quant_report_write(const bn_quant_report *r, bn_report_format fmt, FILE *out, bn_error *err)
{
    bn_status st = BN_OK;
    switch (fmt) {
    case BN_REPORT_TEXT: write_text(r, out); break;
    case BN_REPORT_JSON: st = write_json(r, out, err); break;
    case BN_REPORT_CSV: write_csv(r, out); break;
    case BN_REPORT_HTML: bnq_write_html(r, out); break;
    default: return bn_error_set(err, BN_EINVAL, "unknown report format %d", (int)fmt);
    }
    if (st)
        return st;
    if (fflush(out) != 0 || ferror(out))
        return bn_error_set(err, BN_EIO, "writing the report failed");
    return BN_OK;
}

bn_status bn_quant_report_save(const bn_quant_report *r, bn_report_format f, const char *path,
                               bn_outset *outs, bn_error *err)
{
    if (!path)
        return bn_quant_report_write(r, f, stdout, err);
    bn_atomic_file *af;
    bn_status st = bn_atomic_open_in(outs, path, &af, err);
    if (st)
        return st;
    if (bn_quant_report_write(r, f, bn_atomic_stream(af), err) != BN_OK) {
        bn_atomic_abort(af);
        return bn_error_prefix(err, "%s", path);
    }
    return bn_atomic_commit(af, err);
}
