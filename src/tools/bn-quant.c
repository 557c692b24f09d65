/*
 * bn-quant - ternarize the projection weights of a float GGUF and pack them as
 * I2_S, TQ2_0 or TQ1_0; report the quantization error; gate CI on it.
 *
 *   bn-quant IN OUT.gguf [--type i2_s|tq2_0|tq1_0] [--method absmean|absmax|mse]
 *            [--embd-type f16|f32|q8_0|q6_k|q4_k] [-t N] [--quiet] [--report FILE] [--format F]
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
#include "bn/requant.h"
#include "bn/util.h"
#include "common/cli.h"
#include "common/convert_progress.h"



static void usage(FILE *f)
{
    fputs("usage: bn-quant IN OUT.gguf [options]        ternarize and pack a float GGUF\n"
          "       bn-quant --report [FILE] IN [options] report only, nothing written\n"
          "IN is a GGUF with F32/F16/BF16 (or ternary) projections, or a Hugging Face directory\n"
          "(converted as bn-convert does, with the type and method given here).\n"
          "\n"
          "  --type i2_s|tq2_0|tq1_0    packing of the projection weights (default i2_s)\n"
          "  --method absmean|absmax|mse ternarization rule (default absmean, BitNet b1.58)\n"
          "  --method all               report only: every method side by side (HTML report)\n"
          "  --embd-type T   token_embd/output: f16 (default), f32, q8_0, q6_k, q4_k\n"
          "  -t, --threads N            threads for decoding, ternarizing, packing, 1..256 (default 1)\n"
          "  --report [FILE]            write the error report to FILE ('-' or none: stdout)\n"
          "  --format text|json|csv|html report format (default: from FILE's extension, else text)\n"
          "  --json                     the JSON report on stdout (same as --report - --format json)\n"
          "  --focus NAME               tensor whose |W|/s histogram the HTML report shows\n"
          "                             (default: the one with the highest NMSE)\n"
          "  --max-nmse X               exit 1 if any tensor's NMSE exceeds X\n"
          "  --fail-on FLAGS            exit 1 if a tensor has one of FLAGS\n"
          "                             (already-ternary,sign-like,scale-clamped,nan-inf)\n"
          "  --quiet                    no progress on stderr\n"
          "  -h, --help, --version\n"
          "\n"
          "Projection tensors are blk.N.{attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down}.weight;\n"
          "norms are written as F32, everything else is copied. Exit: 0 ok, 1 gate failed, 2 bad input.\n",
          f);
}

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

static int is_option(const char *a) { return a[0] == '-' && a[1] != '\0'; }

/* Returns -1 to continue, or an exit code. */
static int parse_args(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    o->type = BN_TYPE_I2_S;
    o->method = BN_QM_ABSMEAN;
    o->embd_type = BN_TYPE_F16;
    o->threads = 1;
    o->max_nmse = -1;
    const char *pos[8];
    int npos = 0, report_pos = -1; /* index in pos[] of the arg right after --report */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VAL()                                                                                 \
    do {                                                                                           \
        if (!val)                                                                                  \
            return die_usage("option %s needs a value", a);                                        \
        i++;                                                                                       \
    } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--version")) {
            bn_cli_print_version("bn-quant");
            return 0;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            o->quiet = 1;
        } else if (!strcmp(a, "--json")) {
            /* CONVENTIONS: --json prints machine-readable results on stdout */
            o->report = 1;
            o->json = 1;
        } else if (!strcmp(a, "--report")) {
            o->report = 1;
            if (val && !is_option(val))
                report_pos = npos;
        } else if (!strncmp(a, "--report=", 9)) {
            o->report = 1;
            o->report_path = a + 9;
        } else if (!strcmp(a, "--type")) {
            NEED_VAL();
            if (!strcmp(val, "i2_s"))
                o->type = BN_TYPE_I2_S;
            else if (!strcmp(val, "tq2_0"))
                o->type = BN_TYPE_TQ2_0;
            else if (!strcmp(val, "tq1_0"))
                o->type = BN_TYPE_TQ1_0;
            else
                return die_usage("unknown --type '%s' (i2_s, tq2_0, tq1_0)", val);
        } else if (!strcmp(a, "--method")) {
            NEED_VAL();
            if (!strcmp(val, "all"))
                o->all_methods = 1;
            else if (bn_quant_method_from_name(val, &o->method))
                return die_usage("unknown --method '%s' (absmean, absmax, mse, all)", val);
        } else if (!strcmp(a, "--embd-type")) {
            NEED_VAL();
            if (!strcmp(val, "f16"))
                o->embd_type = BN_TYPE_F16;
            else if (!strcmp(val, "f32"))
                o->embd_type = BN_TYPE_F32;
            else if (!strcmp(val, "q8_0"))
                o->embd_type = BN_TYPE_Q8_0;
            else if (bn_type_from_name(val, &o->embd_type) || !bn_role_type_ok(BN_ROLE_TOKEN_EMBD, o->embd_type))
                return die_usage("unknown --embd-type '%s' (f16, f32, q8_0, q6_k, q4_k)", val);
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            NEED_VAL();
            char *end;
            long t = strtol(val, &end, 10);
            if (*val == '\0' || *end || t < 1 || t > 256)
                return die_usage("bad thread count '%s' (1..256)", val);
            o->threads = (int)t;
        } else if (!strcmp(a, "--format")) {
            NEED_VAL();
            if (bn_report_format_from_name(val, &o->fmt))
                return die_usage("unknown --format '%s' (text, json, csv, html)", val);
            o->fmt_set = 1;
        } else if (!strcmp(a, "--focus")) {
            NEED_VAL();
            o->focus = val;
        } else if (!strcmp(a, "--max-nmse")) {
            NEED_VAL();
            char *end;
            double x = strtod(val, &end);
            if (*val == '\0' || *end || !(x >= 0) || !isfinite(x))
                return die_usage("bad --max-nmse '%s' (a number >= 0)", val);
            o->max_nmse = x;
        } else if (!strcmp(a, "--fail-on")) {
            NEED_VAL();
            if (bn_quant_flags_parse(val, &o->fail_flags))
                return die_usage("bad --fail-on '%s' (already-ternary,sign-like,scale-clamped,nan-inf)", val);
        } else if (is_option(a)) {
            return die_usage("unknown option '%s'", a);
        } else {
            if (npos == 8)
                return die_usage("too many arguments at '%s'", a);
            pos[npos++] = a;
        }
#undef NEED_VAL
    }
    /* --report FILE: the argument after --report is FILE when another
     * positional argument remains for the input. */
    if (report_pos >= 0 && npos - 1 >= 1 && !o->report_path) {
        o->report_path = pos[report_pos];
        for (int i = report_pos; i + 1 < npos; i++)
            pos[i] = pos[i + 1];
        npos--;
    }
    if (npos == 1 && o->report) {
        o->in = pos[0];
    } else if (npos == 2) {
        o->in = pos[0];
        o->out = pos[1];
    } else {
        return die_usage("%s", npos == 0 ? "missing input" : "expected IN OUT.gguf, or --report [FILE] IN");
    }
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
