/*
 * bn-quant - ternarize the projection weights of a float GGUF and pack them as
 * I2_S, TQ2_0 or TQ1_0; report the quantization error; gate CI on it.
 *
 *   bn-quant IN OUT.gguf [--type i2_s|tq2_0|tq1_0] [--method absmean|absmax|mse]
 *            [--embd-type f16|f32|q8_0] [-t N] [--quiet] [--report FILE] [--format F]
 *   bn-quant --report [FILE] IN [--format text|json|csv|html]
 *
 * Streams tensor by tensor (peak memory ~ the largest tensor as f32 plus its
 * codes and packed bytes). Exit 0 ok, 1 gate failed or I/O failure, 2 bad input.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bn/convert.h"
#include "bn/error.h"
#include "bn/gguf.h"
#include "bn/quant.h"
#include "bn/util.h"
#include "common/cli.h"
#include "common/convert_progress.h"
#include "common/opt.h"



typedef struct {
    const char *in, *out, *report_path;
    const char *focus;       /* --focus: tensor for the HTML histogram */
    int report;              /* --report given */
    int json;                /* --json: the JSON report on stdout */
    bn_report_format fmt;
    int fmt_set;
    bn_type type;
    bn_quant_method method;
    int all_methods;         /* --method all: one report per method, side by side */
    bn_type embd_type;
    int threads;
    int quiet;
    double max_nmse;         /* < 0: none */
    uint32_t fail_flags;
} opts;

static int die_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "bn-quant: ");
    fprintf(stderr, fmt, arg);
    fputs(" (see bn-quant --help)\n", stderr);
    return 2;
}

static const char *const TYPE_NAMES[] = {"i2_s", "tq2_0", "tq1_0", NULL};
static const int TYPE_VALUES[] = {BN_TYPE_I2_S, BN_TYPE_TQ2_0, BN_TYPE_TQ1_0};
static const char *const EMBD_NAMES[] = {"f16", "f32", "q8_0", NULL};
static const int EMBD_VALUES[] = {BN_TYPE_F16, BN_TYPE_F32, BN_TYPE_Q8_0};

static int method_fn(const char *v, void *p, char *msg, size_t cap)
{
    opts *o = p;
    o->all_methods = !strcmp(v, "all");
    if (o->all_methods || !bn_quant_method_from_name(v, &o->method))
        return 0;
    snprintf(msg, cap, "unknown method '%s' (absmean, absmax, mse, all)", v);
    return -1;
}

static int format_fn(const char *v, void *p, char *msg, size_t cap)
{
    opts *o = p;
    if (bn_report_format_from_name(v, &o->fmt)) {
        snprintf(msg, cap, "unknown format '%s' (text, json, csv, html)", v);
        return -1;
    }
    o->fmt_set = 1;
    return 0;
}

static int fail_on_fn(const char *v, void *p, char *msg, size_t cap)
{
    if (bn_quant_flags_parse(v, p)) {
        snprintf(msg, cap, "bad flags '%s' (already-ternary,sign-like,scale-clamped,nan-inf)", v);
        return -1;
    }
    return 0;
}

/* Returns -1 to continue, or an exit code. */
static int parse_args(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    o->method = BN_QM_ABSMEAN;
    o->max_nmse = -1;
    int type = BN_TYPE_I2_S, embd = BN_TYPE_F16;
    const char *report = NULL; /* "": --report without FILE */
    o->threads = 1;
    const bn_opt table[] = {
        {.s = "-m", .l = "--model", .kind = BN_OPT_STR, .p = &o->in, .arg = "IN", .flags = BN_OPT_POS0,
         .help = "the input (or as the first argument)"},
        BN_O_ENUM(NULL, "--type", &type, TYPE_NAMES, TYPE_VALUES,
                  "packing of the projection weights (default i2_s)"),
        BN_O_FUNC(NULL, "--method", o, method_fn, "absmean|absmax|mse|all",
                  "ternarization rule (default absmean, BitNet b1.58);\n"
                  "all: report only, every method side by side (HTML report)"),
        BN_O_ENUM(NULL, "--embd-type", &embd, EMBD_NAMES, EMBD_VALUES,
                  "token_embd/output encoding (default f16)"),
        BN_O_INT("-t", "--threads", &o->threads, 1, 256, "N",
                 "threads for decoding, ternarizing, packing (default 1)"),
        {.l = "--report", .kind = BN_OPT_OPTSTR, .p = &report, .arg = "FILE", .dflt = "",
         .help = "write the error report to FILE ('-' or none: stdout)"},
        BN_O_FUNC(NULL, "--format", o, format_fn, "text|json|csv|html",
                  "report format (default: from FILE's extension, else text)"),
        BN_O_FLAG(NULL, "--json", &o->json, "the JSON report on stdout (same as --report - --format json)"),
        BN_O_STR(NULL, "--focus", &o->focus, "NAME",
                 "tensor whose |W|/s histogram the HTML report shows\n"
                 "(default: the one with the highest NMSE)"),
        BN_O_DOUBLE(NULL, "--max-nmse", &o->max_nmse, 0, INFINITY, "X",
                    "exit 1 if any tensor's NMSE exceeds X"),
        BN_O_FUNC(NULL, "--fail-on", &o->fail_flags, fail_on_fn, "FLAGS",
                  "exit 1 if a tensor has one of FLAGS\n"
                  "(already-ternary,sign-like,scale-clamped,nan-inf)"),
        BN_O_FLAG("-q", "--quiet", &o->quiet, "no progress on stderr"),
    };
    const bn_opt_spec spec = {
        "bn-quant",
        "usage: bn-quant IN OUT.gguf [options]        ternarize and pack a float GGUF\n"
        "       bn-quant --report [FILE] IN [options] report only, nothing written\n"
        "IN is a GGUF with F32/F16/BF16 (or ternary) projections, or a Hugging Face directory\n"
        "(converted as bn-convert does, with the type and method given here).\n"
        "\n",
        table, BN_OPT_N(table), {&o->in, &o->out}, 2, 1,
        "\nProjection tensors are blk.N.{attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down}.weight;\n"
        "norms are written as F32, everything else is copied.\n"};
    int rc = bn_opt_parse(&spec, argc, argv);
    if (rc >= 0)
        return rc;
    o->type = (bn_type)type;
    o->embd_type = (bn_type)embd;
    o->report = report != NULL || o->json;
    o->report_path = report && *report ? report : NULL;
    if (!o->in || (!o->out && !o->report))
        return die_usage("%s", !o->in ? "missing input" : "expected IN OUT.gguf, or --report [FILE] IN");
    if (o->json) {
        if (o->report_path || (o->fmt_set && o->fmt != BN_REPORT_JSON))
            return die_usage("%s", "--json writes the JSON report to stdout: do not combine it with a report "
                                   "file or another --format");
        o->fmt = BN_REPORT_JSON;
        o->fmt_set = 1;
    }
    if (o->report && !o->fmt_set && o->report_path && strcmp(o->report_path, "-") != 0) {
        bn_error e;
        if (bn_report_format_from_path(o->report_path, &o->fmt, &e))
            return die_usage("--report %s", e.msg);
        o->fmt_set = 1;
    }
    if (o->all_methods && (o->out || !o->report || !o->fmt_set || o->fmt != BN_REPORT_HTML))
        return die_usage("%s", "--method all compares the methods in an HTML report and writes no model: "
                               "use --report FILE.html IN (or --format html)");
    return -1;
}

/* ---- tensor classes ---------------------------------------------------------------- */

/* How a tensor is requantized, by its role in the architecture table: a
 * projection, an embedding or head, a norm (or any other 1-D float vector,
 * kept F32), or copied unchanged (BN_RCLASS_NONE). */
static bn_role_class classify(const bn_gguf_tensor *t)
{
    int layer;
    bn_role r = bn_role_of_name(t->name, &layer);
    if (bn_role_is_proj(r) && strncmp(t->name, "blk.", 4) == 0)
        return BN_RCLASS_PROJ;
    if (r == BN_ROLE_TOKEN_EMBD || r == BN_ROLE_OUTPUT)
        return BN_RCLASS_EMBD;
    int is_float = t->type == BN_TYPE_F32 || t->type == BN_TYPE_F16 || t->type == BN_TYPE_BF16;
    if (t->n_dims == 1 && is_float)
        return BN_RCLASS_NORM;
    return BN_RCLASS_NONE;
}

static int decodable(bn_type t)
{
    return t == BN_TYPE_F32 || t == BN_TYPE_F16 || t == BN_TYPE_BF16 || t == BN_TYPE_Q8_0 ||
           t == BN_TYPE_TQ1_0 || t == BN_TYPE_TQ2_0 || t == BN_TYPE_I2_S;
}

static bn_type out_type(const opts *o, const bn_gguf_tensor *t)
{
    switch (classify(t)) {
    case BN_RCLASS_PROJ: return o->type;
    case BN_RCLASS_EMBD: return o->embd_type;
    case BN_RCLASS_NORM: return BN_TYPE_F32;
    case BN_RCLASS_NONE: return t->type;
    }
    return t->type;
}

/* Rows of a tensor viewed as ne0 x (ne1*ne2*ne3). */
static int64_t n_rows(const bn_gguf_tensor *t)
{
    return t->ne[0] > 0 ? (int64_t)(t->n_el / (uint64_t)t->ne[0]) : 0; /* an empty tensor has no rows */
}

/* ---- progress: common/progress.h, ETA from the bytes of the tensors read ---------- */

typedef struct {
    bn_progress p;
    uint64_t done, total;
} progress;

static void progress_show(progress *p, int64_t i, int64_t n, const char *name)
{
    bn_progress_bytes(&p->p, (size_t)i + 1, (size_t)n, name, p->done, p->total);
}

static void progress_end(progress *p)
{
    bn_progress_done(&p->p);
}

static void progress_start(progress *p, const bn_gguf *g, int quiet)
{
    bn_progress_init(&p->p, "bn-quant", quiet);
    p->done = p->total = 0;
    for (int64_t i = 0; i < bn_gguf_n_tensors(g); i++)
        p->total += bn_gguf_tensor_at(g, i)->nbytes;
}

/* ---- the work ------------------------------------------------------------------------ */

typedef struct {
    float *f;     /* (n) decoded weights */
    int8_t *c;    /* (n) codes */
    uint8_t *p;   /* packed bytes */
    size_t cap_n, cap_p;
} buffers;

static bn_status grow(buffers *b, size_t n, size_t np, bn_error *err)
{
    if (n > b->cap_n) {
        free(b->f);
        free(b->c);
        b->f = malloc(n * sizeof *b->f);
        b->c = malloc(n);
        b->cap_n = n;
        if (!b->f || !b->c) {
            b->cap_n = 0;
            return bn_error_set(err, BN_ENOMEM, "out of memory for a tensor of %zu elements", n);
        }
    }
    if (np > b->cap_p) {
        free(b->p);
        b->p = malloc(np);
        b->cap_p = np;
        if (!b->p) {
            b->cap_p = 0;
            return bn_error_set(err, BN_ENOMEM, "out of memory for %zu packed bytes", np);
        }
    }
    return BN_OK;
}

/* Decode a tensor to f32 into b->f. */
static bn_status decode(const bn_gguf_tensor *t, buffers *b, int threads, bn_error *err)
{
    if (!decodable(t->type))
        return bn_error_set(err, BN_EUNSUPPORTED, "tensor '%s': type %s cannot be decoded", t->name,
                            bn_type_name((uint32_t)t->type));
    bn_status st = grow(b, (size_t)t->n_el, 0, err);
    if (st)
        return st;
    st = bn_unpack_f32(t->type, t->data, (size_t)t->nbytes, t->ne[0], n_rows(t), b->f, threads, err);
    return st ? bn_error_prefix(err, "tensor '%s'", t->name) : BN_OK;
}

/* Ternarize + stats a projection tensor held in b->f. */
static bn_status ternarize(const opts *o, const bn_gguf_tensor *t, buffers *b, bn_ternary_result *res,
                           bn_quant_stats *st, bn_error *err)
{
    return bn_quant_tensor_mt(t->name, b->f, t->n_dims, t->ne, o->method, b->c, res, st, o->threads, err);
}

static bn_status write_tensor(const opts *o, const bn_gguf_tensor *t, bn_gguf_writer *w, buffers *b,
                              bn_quant_report *rep, bn_error *err)
{
    bn_type ot = out_type(o, t);
    bn_role_class cl = classify(t);
    if (cl == BN_RCLASS_NONE)
        return bn_gguf_writer_write(w, t->data, (size_t)t->nbytes, err);
    size_t np;
    bn_status st = bn_quant_packed_size(ot, t->ne[0], n_rows(t), &np, err);
    if (st)
        return bn_error_prefix(err, "tensor '%s' as %s", t->name, bn_type_name((uint32_t)ot));
    if ((st = grow(b, (size_t)t->n_el, np, err)) || (st = decode(t, b, o->threads, err)))
        return st;
    if (cl == BN_RCLASS_PROJ) {
        bn_ternary_result res;
        bn_quant_stats qs;
        if ((st = ternarize(o, t, b, &res, &qs, err)))
            return st;
        if ((st = bn_quant_report_add(rep, &qs, err)))
            return st;
        st = bn_pack_ternary(ot, b->c, res.scale, t->ne[0], n_rows(t), b->p, np, o->threads, err);
    } else {
        st = bn_pack_f32(ot, b->f, t->ne[0], n_rows(t), b->p, np, o->threads, err);
    }
    if (st)
        return bn_error_prefix(err, "tensor '%s'", t->name);
    return bn_gguf_writer_write(w, b->p, np, err);
}

/* u32 hyperparameter {arch}.KEY (non-zero); dflt when absent. */
static bn_status hparam(const bn_gguf *g, const char *arch, const char *key, uint32_t dflt, uint32_t *out,
                        bn_error *err)
{
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    if (!bn_gguf_find_kv(g, k) && dflt) {
        *out = dflt;
        return BN_OK;
    }
    bn_status st = bn_gguf_get_u32(g, k, out, err);
    if (!st && *out == 0)
        st = bn_error_set(err, BN_EINVAL, "key '%s' is 0", k);
    return st;
}

/* The hyperparameters bn-quant copies must describe the tensors it writes, as
 * bn-convert makes sure: the converter's tensor plan (bn_plan_tensors: the rows
 * of the architecture table) for the file's own KVs, and every planned tensor
 * present with the planned shape.
 * Files of other architectures, without tensors or without the shape KVs are
 * copied unchecked. */
static bn_status check_layout(const bn_gguf *g, bn_error *err)
{
    bn_str an;
    if (bn_gguf_n_tensors(g) == 0 || bn_gguf_get_str(g, "general.architecture", &an, NULL) != BN_OK)
        return BN_OK;
    const bn_arch_info *row = bn_arch_from_gguf(an.ptr, (size_t)an.len);
    if (!row)
        return BN_OK;
    bn_hfconfig cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.arch = row->id;
    cfg.gguf_arch = row->gguf_name;
    /* Without the shape hyperparameters there is nothing to disagree with. */
    static const char *const need[] = {"embedding_length", "feed_forward_length", "block_count",
                                       "attention.head_count"};
    for (size_t k = 0; k < sizeof need / sizeof *need; k++) {
        char key[128];
        snprintf(key, sizeof key, "%s.%s", cfg.gguf_arch, need[k]);
        if (!bn_gguf_find_kv(g, key))
            return BN_OK;
    }
    const bn_gguf_tensor *embd = bn_gguf_find_tensor(g, "token_embd.weight");
    uint32_t n_vocab_t = embd && embd->n_dims == 2 && embd->ne[1] <= UINT32_MAX ? (uint32_t)embd->ne[1] : 1;
    bn_status st;
    if ((st = hparam(g, cfg.gguf_arch, "embedding_length", 0, &cfg.n_embd, err)) ||
        (st = hparam(g, cfg.gguf_arch, "feed_forward_length", 0, &cfg.n_ff, err)) ||
        (st = hparam(g, cfg.gguf_arch, "block_count", 0, &cfg.n_layer, err)) ||
        (st = hparam(g, cfg.gguf_arch, "attention.head_count", 0, &cfg.n_head, err)) ||
        (st = hparam(g, cfg.gguf_arch, "attention.head_count_kv", cfg.n_head, &cfg.n_head_kv, err)) ||
        (st = hparam(g, cfg.gguf_arch, "vocab_size", n_vocab_t, &cfg.n_vocab, err)))
        return st;
    if (cfg.n_embd % cfg.n_head || cfg.n_layer > 4096)
        return bn_error_set(err, BN_EINVAL, "%s.embedding_length %u is not a multiple of "
                            "%s.attention.head_count %u, or %s.block_count %u is too large", cfg.gguf_arch,
                            cfg.n_embd, cfg.gguf_arch, cfg.n_head, cfg.gguf_arch, cfg.n_layer);
    cfg.head_dim = cfg.n_embd / cfg.n_head;
    bn_tensor_plan *plan;
    size_t n_plan;
    if ((st = bn_plan_tensors(&cfg, bn_gguf_find_tensor(g, "output.weight") != NULL, &plan, &n_plan, err)))
        return st;
    for (size_t k = 0; k < n_plan && !st; k++) {
        const bn_tensor_plan *p = &plan[k];
        const bn_gguf_tensor *t = bn_gguf_find_tensor(g, p->gguf_name);
        int64_t want1 = p->rows; /* 1 for vectors */
        if (!t)
            st = bn_error_set(err, BN_EINVAL, "tensor '%s' is missing for the hyperparameters of "
                              "this %s file", p->gguf_name, cfg.gguf_arch);
        else if (t->ne[0] != p->cols || (t->n_dims > 1 ? t->ne[1] : 1) != want1)
            st = bn_error_set(err, BN_EINVAL, "tensor '%s' is [%lld, %lld] but the file's "
                              "hyperparameters (embedding_length %u, feed_forward_length %u, heads %u/%u, "
                              "vocab %u) make it [%lld, %lld]", p->gguf_name, (long long)t->ne[0],
                              (long long)(t->n_dims > 1 ? t->ne[1] : 1), cfg.n_embd, cfg.n_ff, cfg.n_head,
                              cfg.n_head_kv, cfg.n_vocab, (long long)p->cols, (long long)want1);
    }
    free(plan);
    return st;
}

static bn_status quantize(const opts *o, const bn_gguf *g, bn_quant_report *rep, bn_outset *outs,
                          bn_error *err)
{
    int64_t nt = bn_gguf_n_tensors(g);
    bn_status lst = check_layout(g, err);
    if (lst)
        return bn_error_prefix(err, "%s", o->in);
    /* Validate every tensor's target layout before creating the output. */
    for (int64_t i = 0; i < nt; i++) {
        const bn_gguf_tensor *t = bn_gguf_tensor_at(g, i);
        bn_role_class cl = classify(t);
        if (cl == BN_RCLASS_NONE)
            continue;
        if (!decodable(t->type))
            return bn_error_set(err, BN_EUNSUPPORTED, "tensor '%s': type %s cannot be re-encoded", t->name,
                                bn_type_name((uint32_t)t->type));
        if (cl == BN_RCLASS_PROJ && t->n_dims != 2)
            return bn_error_set(err, BN_EINVAL, "tensor '%s': projection with %u dimensions (expected 2)", t->name,
                                t->n_dims);
        size_t np;
        bn_type ot = out_type(o, t);
        if (bn_quant_packed_size(ot, t->ne[0], n_rows(t), &np, err))
            return bn_error_prefix(err, "tensor '%s' as %s", t->name, bn_type_name((uint32_t)ot));
    }

    uint32_t align = bn_gguf_alignment(g);
    bn_gguf_writer *w;
    bn_status st = bn_gguf_writer_open_in(outs, o->out, align == BN_GGUF_DEFAULT_ALIGNMENT ? 0 : align, &w,
                                          err);
    if (st)
        return st;
    int has_ftype = 0, has_qv = 0;
    for (int64_t i = 0; i < bn_gguf_n_kv(g) && !st; i++) {
        const bn_gguf_kv *kv = bn_gguf_kv_at(g, i);
        if (!strcmp(kv->key, "general.alignment"))
            continue; /* the writer emits it for a non-default alignment */
        if (!strcmp(kv->key, "general.file_type")) {
            has_ftype = 1;
            st = bn_gguf_set_u32(w, kv->key, bn_quant_file_type(o->type), err);
        } else {
            has_qv |= !strcmp(kv->key, "general.quantization_version");
            st = bn_gguf_copy_kv(w, g, kv, err);
        }
    }
    if (!st && !has_qv)
        st = bn_gguf_set_u32(w, "general.quantization_version", 2, err);
    if (!st && !has_ftype)
        st = bn_gguf_set_u32(w, "general.file_type", bn_quant_file_type(o->type), err);
    for (int64_t i = 0; i < nt && !st; i++) {
        const bn_gguf_tensor *t = bn_gguf_tensor_at(g, i);
        st = bn_gguf_add_tensor(w, t->name, t->n_dims, t->ne, out_type(o, t), err);
    }
    progress pr;
    progress_start(&pr, g, o->quiet);
    buffers b = {0};
    for (int64_t i = 0; i < nt && !st; i++) {
        const bn_gguf_tensor *t = bn_gguf_tensor_at(g, i);
        st = write_tensor(o, t, w, &b, rep, err);
        pr.done += t->nbytes;
        progress_show(&pr, i, nt, t->name);
    }
    progress_end(&pr);
    free(b.f);
    free(b.c);
    free(b.p);
    if (st) {
        bn_gguf_writer_abort(w);
        return st;
    }
    return bn_gguf_writer_finish(w, err);
}

/* Report only: statistics of every projection tensor; NaN/Inf tensors are listed
 * (flag nan-inf) rather than fatal, so the gate can name them. */
static bn_status report_only(const opts *o, const bn_gguf *g, bn_quant_report *rep, bn_error *err)
{
    buffers b = {0};
    bn_status st = BN_OK;
    int64_t nt = bn_gguf_n_tensors(g);
    progress pr;
    progress_start(&pr, g, o->quiet);
    for (int64_t i = 0; i < nt && !st; i++) {
        const bn_gguf_tensor *t = bn_gguf_tensor_at(g, i);
        pr.done += t->nbytes;
        progress_show(&pr, i, nt, t->name);
        if (classify(t) != BN_RCLASS_PROJ)
            continue;
        if ((st = decode(t, &b, o->threads, err)))
            break;
        bn_ternary_result res;
        bn_quant_stats qs;
        st = ternarize(o, t, &b, &res, &qs, err);
        if (st && (res.flags & BN_QF_NAN_INF)) {
            if (!o->quiet)
                fprintf(stderr, "bn-quant: warning: %s\n", err->msg);
            st = BN_OK;
        }
        if (!st)
            st = bn_quant_report_add(rep, &qs, err);
    }
    progress_end(&pr);
    free(b.f);
    free(b.c);
    free(b.p);
    return st;
}

static bn_status emit_report(const opts *o, const bn_quant_report *rep, bn_outset *outs, bn_error *err)
{
    bn_report_format fmt = o->fmt_set ? o->fmt : BN_REPORT_TEXT;
    if (!o->report_path || !strcmp(o->report_path, "-"))
        return bn_quant_report_write(rep, fmt, stdout, err);
    bn_atomic_file *af;
    bn_status st = bn_atomic_open_in(outs, o->report_path, &af, err);
    if (st)
        return st;
    if (bn_quant_report_write(rep, fmt, bn_atomic_stream(af), err) != BN_OK) {
        bn_atomic_abort(af);
        return bn_error_prefix(err, "%s", o->report_path);
    }
    return bn_atomic_commit(af, err);
}

/* Every output (OUT, --report FILE) against the input and each other, before
 * anything is read. */
static bn_status plan_outputs(const opts *o, bn_outset **outs, bn_error *err)
{
    const char *out[2] = {o->out, o->report && o->report_path && strcmp(o->report_path, "-") != 0
                                      ? o->report_path : NULL};
    return bn_outset_plan(outs, &o->in, 1, out, 2, err);
}

/* IN is a Hugging Face directory: run bn-convert's pipeline with our type and
 * method, collecting the statistics into rep (nothing written when o->out is NULL). */
static bn_status quantize_hf(const opts *o, bn_quant_report *rep, bn_outset *outs, bn_error *err)
{
    bn_convert_opts co;
    bn_convert_opts_init(&co);
    co.in_dir = o->in;
    co.out_path = o->out;
    co.proj_type = o->type;
    co.embd_type = o->embd_type;
    co.method = (int)o->method;
    co.n_threads = o->threads;
    co.report = rep;
    co.outputs = outs;
    bn_convert_progress pc;
    bn_convert_progress_attach(&pc, &co, "bn-quant", o->quiet);
    bn_convert_result r;
    bn_status st = bn_convert_run(&co, &r, err);
    bn_progress_done(&pc.p);
    return st;
}

int main(int argc, char **argv)
{
    opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    bn_cli_install_signal_cleanup();

    bn_error err;
    bn_error_clear(&err);
    bn_gguf *g = NULL;
    bn_quant_report *rep = NULL;
    bn_outset *outs = NULL;
    bn_status st = plan_outputs(&o, &outs, &err);
    struct stat sb;
    int is_hf = stat(o.in, &sb) == 0 && S_ISDIR(sb.st_mode);
    if (!st && !is_hf)
        st = bn_gguf_open(o.in, &g, &err);
    /* --method all: absmean first (the report's own tables and gates), then
     * the others beside it */
    int n_runs = o.all_methods ? 3 : 1;
    for (int k = 0; k < n_runs && !st; k++) {
        opts om = o;
        if (o.all_methods)
            om.method = k == 0 ? BN_QM_ABSMEAN : k == 1 ? BN_QM_ABSMAX : BN_QM_MSE;
        bn_quant_report *r = NULL;
        if ((st = bn_quant_report_new(o.in, &r, &err)))
            break;
        if (!(st = bn_quant_report_set_tool(r, "bn-quant", &err))) {
            if (is_hf)
                st = quantize_hf(&om, r, outs, &err); /* a Hugging Face directory: the converter's pipeline */
            else
                st = o.out ? quantize(&om, g, r, outs, &err) : report_only(&om, g, r, &err);
        }
        if (k == 0)
            rep = r;
        else if (st)
            bn_quant_report_free(r);
        else
            st = bn_quant_report_add_method(rep, r, &err);
    }
    if (!st) {
        char cmd[2048], tool[64];
        snprintf(tool, sizeof tool, "bn-quant %s", BN_VERSION);
        st = bn_quant_report_set_meta(rep, tool, bn_cli_command_line(argc, argv, cmd, sizeof cmd),
                                      o.out ? bn_type_name((uint32_t)o.type) : "report only", &err);
    }
    if (!st && o.focus)
        st = bn_quant_report_set_focus(rep, o.focus, &err);
    if (!st && o.report)
        st = emit_report(&o, rep, outs, &err);
    if (!st)
        st = bn_outset_commit(outs, &err); /* OUT and the report together, or neither */
    bn_outset_free(outs);
    if (st) {
        fprintf(stderr, "bn-quant: %s\n", err.msg);
        rc = bn_status_exit_code(st);
    } else {
        rc = 0;
        size_t bad = bn_quant_report_gate(rep, o.max_nmse, o.fail_flags, NULL);
        if (bad) {
            fprintf(stderr, "bn-quant: %zu tensor%s failed the gate:\n", bad, bad == 1 ? "" : "s");
            bn_quant_report_gate(rep, o.max_nmse, o.fail_flags, stderr);
            rc = 1;
        }
        if (!o.quiet && bn_quant_report_count(rep) == 0)
            fprintf(stderr, "bn-quant: warning: %s has no projection tensors (blk.N.attn_q.weight, ...); "
                            "nothing was ternarized\n", o.in);
        if (!o.quiet && o.out) {
            bn_quant_summary s;
            bn_quant_report_total(rep, &s);
            fprintf(stderr, "bn-quant: wrote %s: %llu ternarized tensors (%s, %s), NMSE %.4f (absmean %.4f, %+.2f dB)\n",
                    o.out, (unsigned long long)s.n_tensors, bn_type_name((uint32_t)o.type),
                    bn_quant_method_name(o.method), s.nmse, s.nmse_absmean, s.gain_db);
        }
    }
    bn_quant_report_free(rep);
    bn_gguf_close(g);
    return rc;
}
