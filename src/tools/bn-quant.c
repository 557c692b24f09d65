/*
 * bn-quant - ternarize the projection weights of a float GGUF and pack them as
 * I2_S, TQ2_0 or TQ1_0; report the quantization error; gate CI on it.
 *
 * The work is the library's requantizer (bn/requant.h); --help lists the options.
 * Exit 0 ok, 1 a gate failed, 2 bad input or usage, 3 an I/O or system failure.
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
#include "bn/requant.h"
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
static const char *const EMBD_NAMES[] = {"f16", "f32", "q8_0", "q6_k", "q4_k", NULL};
static const int EMBD_VALUES[] = {BN_TYPE_F16, BN_TYPE_F32, BN_TYPE_Q8_0, BN_TYPE_Q6_K, BN_TYPE_Q4_K};

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

/* ---- the work: the library's requantizer (GGUF) or converter (HF directory) -------- */

/* The --report file, or NULL for stdout (or no report). */
static const char *report_file(const opts *o)
{
    return o->report && o->report_path && strcmp(o->report_path, "-") != 0 ? o->report_path : NULL;
}

/* Every output (OUT, --report FILE) against the input and each other, before
 * anything is read. */
static bn_status plan_outputs(const opts *o, bn_outset **outs, bn_error *err)
{
    const char *out[2] = {o->out, report_file(o)};
    return bn_outset_plan(outs, &o->in, 1, out, 2, err);
}

/* One run with method m, its statistics into rep (nothing written when o->out
 * is NULL): a GGUF g through requant.h, a Hugging Face directory (g NULL)
 * through bn-convert's pipeline with our type and method. */
static bn_status run(const opts *o, bn_quant_method m, const bn_gguf *g, bn_quant_report *rep,
                     bn_outset *outs, bn_error *err)
{
    bn_convert_progress pc;
    bn_status st;
    if (g) {
        bn_requant_opts ro = {.in_name = o->in, .out_path = o->out, .proj_type = o->type,
                              .embd_type = o->embd_type, .method = m, .n_threads = o->threads,
                              .report = rep, .outputs = outs}; /* every field but the callbacks */
        bn_requant_progress_attach(&pc, &ro, "bn-quant", o->quiet);
        st = bn_requant_run(&ro, g, err);
    } else {
        bn_convert_opts co;
        bn_convert_opts_init(&co);
        co.in_dir = o->in;
        co.out_path = o->out;
        co.proj_type = o->type;
        co.embd_type = o->embd_type;
        co.method = (int)m;
        co.n_threads = o->threads;
        co.report = rep;
        co.outputs = outs;
        bn_convert_progress_attach(&pc, &co, "bn-quant", o->quiet);
        bn_convert_result r;
        st = bn_convert_run(&co, &r, err);
    }
    bn_progress_done(&pc.p);
    return st;
}

/* --method all: absmean first (the report's own tables and gates), then the
 * others beside it in *rep. */
static bn_status run_methods(const opts *o, const bn_gguf *g, bn_outset *outs, bn_quant_report **rep,
                             bn_error *err)
{
    static const bn_quant_method all[] = {BN_QM_ABSMEAN, BN_QM_ABSMAX, BN_QM_MSE};
    bn_status st = BN_OK;
    for (int k = 0; k < (o->all_methods ? 3 : 1) && !st; k++) {
        bn_quant_report *r = NULL;
        if ((st = bn_quant_report_new(o->in, &r, err)))
            break;
        if (!(st = bn_quant_report_set_tool(r, "bn-quant", err)))
            st = run(o, o->all_methods ? all[k] : o->method, g, r, outs, err);
        if (k == 0)
            *rep = r;
        else if (st)
            bn_quant_report_free(r);
        else
            st = bn_quant_report_add_method(*rep, r, err);
    }
    return st;
}

/* The gate, and the one-line summary on stderr. 0 or 1. */
static int finish(const opts *o, const bn_quant_report *rep)
{
    int rc = 0;
    size_t bad = bn_quant_report_gate(rep, o->max_nmse, o->fail_flags, NULL);
    if (bad) {
        fprintf(stderr, "bn-quant: %zu tensor%s failed the gate:\n", bad, bad == 1 ? "" : "s");
        bn_quant_report_gate(rep, o->max_nmse, o->fail_flags, stderr);
        rc = 1;
    }
    if (!o->quiet && bn_quant_report_count(rep) == 0)
        fprintf(stderr, "bn-quant: warning: %s has no projection tensors (blk.N.attn_q.weight, ...); "
                        "nothing was ternarized\n", o->in);
    if (!o->quiet && o->out) {
        bn_quant_summary s;
        bn_quant_report_total(rep, &s);
        fprintf(stderr, "bn-quant: wrote %s: %llu ternarized tensors (%s, %s), NMSE %.4f (absmean %.4f, %+.2f dB)\n",
                o->out, (unsigned long long)s.n_tensors, bn_type_name((uint32_t)o->type),
                bn_quant_method_name(o->method), s.nmse, s.nmse_absmean, s.gain_db);
    }
    return rc;
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
    if (!st)
        st = run_methods(&o, g, outs, &rep, &err);
    if (!st) {
        char cmd[2048], tool[64];
        snprintf(tool, sizeof tool, "bn-quant %s", BN_VERSION);
        st = bn_quant_report_set_meta(rep, tool, bn_cli_command_line(argc, argv, cmd, sizeof cmd),
                                      o.out ? bn_type_name((uint32_t)o.type) : "report only", &err);
    }
    if (!st && o.focus)
        st = bn_quant_report_set_focus(rep, o.focus, &err);
    if (!st && o.report)
        st = bn_quant_report_save(rep, o.fmt_set ? o.fmt : BN_REPORT_TEXT, report_file(&o), outs, &err);
    if (!st)
        st = bn_outset_commit(outs, &err); /* OUT and the report together, or neither */
    bn_outset_free(outs);
    if (st) {
        fprintf(stderr, "bn-quant: %s\n", err.msg);
        rc = bn_status_exit_code(st);
    } else {
        rc = finish(&o, rep);
    }
    bn_quant_report_free(rep);
    bn_gguf_close(g);
    return rc;
}
