/* bn-synth - write a complete GGUF model of a given shape with random ternary
 * (or float) weights, for benchmarks and tests: every tensor the runtime binds,
 * the hyperparameter keys of FORMATS.md §3, and a small valid SentencePiece-style
 * tokenizer covering the vocabulary. Weights are reproducible from --seed. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bn/arch.h"
#include "bn/error.h"
#include "bn/gguf.h"
#include "bn/quant.h"
#include "bn/util.h"
#include "common/cli.h"


typedef struct {
    const char *out;
    bn_arch arch;
    int embd, ff, layers, heads, heads_kv, vocab, ctx;
    bn_type proj, embd_type;
    int untied;
    int no_vocab;            /* omit the tokenizer */
    uint64_t seed;
    int threads;
    int quiet;
} synth_opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bn-synth -o OUT.gguf [options]\n"
            "Write a GGUF model with random ternary weights (for benchmarks and tests).\n\n"
            "  -o, --output PATH    output file (written atomically)\n"
            "  --preset NAME        2b (BitNet-b1.58-2B shapes: 2560/6912, 30 layers, 20/5 heads,\n"
            "                       128256 vocab) or tiny (256/512, 2 layers, 4/2 heads, 512 vocab)\n"
            "  --arch NAME          bitnet-b1.58 (default), bitnet, llama or falcon3 (written as\n"
            "                       llama, with output.weight)\n"
            "  --embd N --ff N --layers N --heads N --heads-kv N --vocab N --ctx N\n"
            "  --type T             projection type: i2_s (default), tq2_0, tq1_0, f16, bf16, f32\n"
            "  --embd-type T        token embedding / output type: f16 (default), f32, q8_0, q6_k, q4_k\n"
            "  --untied             write a separate output.weight\n"
            "  --no-vocab           write no tokenizer (a model driven by token ids only)\n"
            "  --seed N             random seed (default 1)\n"
            "  -t, --threads N      packing threads (default: all cores)\n"
            "  -q, --quiet          no progress on stderr\n"
            "  -h, --help, --version\n");
}

static int parse_int(const char *opt, const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "bn-synth: %s '%s' is not an integer in [%ld, %ld]\n", opt, s, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static void preset_tiny(synth_opts *o)
{
    o->embd = 256, o->ff = 512, o->layers = 2, o->heads = 4, o->heads_kv = 2, o->vocab = 512;
    o->ctx = 512;
}

static void preset_2b(synth_opts *o)
{
    o->embd = 2560, o->ff = 6912, o->layers = 30, o->heads = 20, o->heads_kv = 5;
    o->vocab = 128256, o->ctx = 4096;
}

/* ---- random numbers (bn_rng_next, reproducible) ----------------------------------- */

static float rng_uniform(uint64_t *s) /* [-1, 1) */
{
    return 2.0f * bn_rng_float(s) - 1.0f;
}

/* ---- tensors -------------------------------------------------------------------------- */

typedef struct {
    char name[BN_GGUF_MAX_NAME + 1];
    int64_t ne0, ne1;        /* ne1 = 1 for vectors */
    bn_type type;
    bn_role_class cls;       /* what the values look like (arch.h) */
} tdesc;

/* Rows per generated chunk: bounds memory for the 128256 x 2560 embedding. */
#define CHUNK_ELEMS (1 << 22)

/* Generate and write one tensor in row chunks. */
static bn_status write_tensor(bn_gguf_writer *w, const tdesc *t, uint64_t *rng, int threads,
                              bn_error *err)
{
    int64_t rows_per = CHUNK_ELEMS / t->ne0 > 0 ? CHUNK_ELEMS / t->ne0 : 1;
    if (rows_per > t->ne1)
        rows_per = t->ne1;
    size_t n = (size_t)(rows_per * t->ne0), cap;
    bn_status st = bn_quant_packed_size(t->type, t->ne0, rows_per, &cap, err);
    if (st)
        return st;
    float *f = malloc(n * sizeof *f);
    int8_t *codes = malloc(n);
    uint8_t *buf = malloc(cap);
    if (!f || !codes || !buf) {
        st = bn_error_set(err, BN_ENOMEM, "out of memory for tensor '%s'", t->name);
        goto out;
    }
    /* ternary scale ~ 1/sqrt(fan-in): keeps activations O(1) without sub-norms */
    float scale = 1.0f / sqrtf((float)t->ne0);
    for (int64_t r0 = 0; r0 < t->ne1 && !st; r0 += rows_per) {
        int64_t nr = t->ne1 - r0 < rows_per ? t->ne1 - r0 : rows_per;
        size_t m = (size_t)(nr * t->ne0), bytes;
        if ((st = bn_quant_packed_size(t->type, t->ne0, nr, &bytes, err)))
            break;
        if (t->cls == BN_RCLASS_PROJ) {
            for (size_t i = 0; i < m; i++)
                codes[i] = (int8_t)(bn_rng_next(rng) % 3) - 1;
            if (t->type == BN_TYPE_I2_S || t->type == BN_TYPE_TQ2_0 ||
                t->type == BN_TYPE_TQ1_0) {
                st = bn_pack_ternary(t->type, codes, scale, t->ne0, nr, buf, bytes, threads, err);
                if (t->type == BN_TYPE_I2_S)
                    bytes -= BN_I2_S_TAIL; /* one tail for the whole tensor, below */
            } else {
                for (size_t i = 0; i < m; i++)
                    f[i] = scale * codes[i];
                st = bn_pack_f32(t->type, f, t->ne0, nr, buf, bytes, threads, err);
            }
        } else {
            for (size_t i = 0; i < m; i++)
                f[i] = t->cls == BN_RCLASS_NORM ? 1.0f + 0.25f * rng_uniform(rng) : rng_uniform(rng);
            st = bn_pack_f32(t->type, f, t->ne0, nr, buf, bytes, threads, err);
        }
        if (!st)
            st = bn_gguf_writer_write(w, buf, bytes, err);
    }
    if (!st && t->type == BN_TYPE_I2_S) {
        uint8_t tail[BN_I2_S_TAIL];
        bn_pack_i2s_tail(scale, tail);
        st = bn_gguf_writer_write(w, tail, sizeof tail, err);
    }
out:
    free(f);
    free(codes);
    free(buf);
    return st ? bn_error_prefix(err, "tensor '%s'", t->name) : BN_OK;
}

/* ---- tokenizer -------------------------------------------------------------------------- */

/* <unk>, <s>, </s>, the 256 byte tokens, then distinct "words": the base-26
 * spelling of the index, with the SentencePiece space mark on even ones. */
static bn_status write_tokenizer(bn_gguf_writer *w, int n_vocab, bn_error *err)
{
    char **tok = calloc((size_t)n_vocab, sizeof *tok);
    float *scores = malloc((size_t)n_vocab * sizeof *scores);
    int32_t *types = malloc((size_t)n_vocab * sizeof *types);
    bn_status st = BN_OK;
    if (!tok || !scores || !types) {
        st = bn_error_set(err, BN_ENOMEM, "out of memory for %d tokens", n_vocab);
        goto out;
    }
    for (int i = 0; i < n_vocab; i++) {
        char buf[32];
        if (i == 0)
            snprintf(buf, sizeof buf, "<unk>");
        else if (i == 1)
            snprintf(buf, sizeof buf, "<s>");
        else if (i == 2)
            snprintf(buf, sizeof buf, "</s>");
        else if (i < 3 + 256)
            snprintf(buf, sizeof buf, "<0x%02X>", i - 3);
        else {
            int k = i - 3 - 256, n = 0;
            char word[16];
            do {
                word[n++] = (char)('a' + k % 26);
                k /= 26;
            } while (k > 0 && n < 15);
            word[n] = 0;
            snprintf(buf, sizeof buf, "%s%s", i % 2 ? "" : "\xe2\x96\x81", word);
        }
        tok[i] = strdup(buf);
        if (!tok[i]) {
            st = bn_error_set(err, BN_ENOMEM, "out of memory for %d tokens", n_vocab);
            goto out;
        }
        scores[i] = i < 3 + 256 ? 0.0f : -(float)i;
        types[i] = i == 0 ? 2 : i < 3 ? 3 : i < 3 + 256 ? 6 : 1;
    }
    if ((st = bn_gguf_set_str(w, "tokenizer.ggml.model", "llama", err)) ||
        (st = bn_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, NULL,
                                  (uint64_t)n_vocab, err)) ||
        (st = bn_gguf_set_arr(w, "tokenizer.ggml.scores", BN_GGUF_F32, scores,
                              (uint64_t)n_vocab, err)) ||
        (st = bn_gguf_set_arr(w, "tokenizer.ggml.token_type", BN_GGUF_I32, types,
                              (uint64_t)n_vocab, err)) ||
        (st = bn_gguf_set_u32(w, "tokenizer.ggml.unknown_token_id", 0, err)) ||
        (st = bn_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 1, err)) ||
        (st = bn_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 2, err)) ||
        (st = bn_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", 1, err)) ||
        (st = bn_gguf_set_bool(w, "tokenizer.ggml.add_eos_token", 0, err)))
        goto out;
out:
    if (tok)
        for (int i = 0; i < n_vocab; i++)
            free(tok[i]);
    free(tok);
    free(scores);
    free(types);
    return st;
}

/* ---- the model ---------------------------------------------------------------------------- */

static bn_status write_kvs(bn_gguf_writer *w, const synth_opts *o, const bn_arch_info *a,
                           bn_error *err)
{
    bn_status st;
    uint32_t file_type = bn_quant_file_type(o->proj);
    const bn_arch_hparams hp = {.n_vocab = o->vocab, .n_ctx = o->ctx, .n_embd = o->embd,
                                .n_layer = o->layers, .n_ff = o->ff, .n_head = o->heads,
                                .n_head_kv = o->heads_kv, .head_dim = o->embd / o->heads,
                                .n_rot = o->embd / o->heads, .eps = 1e-5f,
                                .rope_base = 500000.0f};
    if ((st = bn_gguf_set_str(w, "general.architecture", a->gguf_name, err)) ||
        (st = bn_gguf_set_str(w, "general.name", "bn-synth random ternary model", err)) ||
        (st = bn_gguf_set_u32(w, "general.quantization_version", 2, err)) ||
        (st = bn_gguf_set_u32(w, "general.file_type", file_type, err)) ||
        (st = bn_arch_write_hparams(w, a, &hp, err)))
        return st;
    return o->no_vocab ? BN_OK : write_tokenizer(w, o->vocab, err);
}

/* The table's tensor list in file order; returns the count (caller frees *out). */
static int list_tensors(const synth_opts *o, const bn_arch_info *a, int untied, tdesc **out)
{
    size_t n = bn_arch_n_tensors(a, o->layers, untied);
    tdesc *t = calloc(n, sizeof *t);
    if (!t)
        return -1;
    const bn_arch_dims dims = {o->embd, o->ff, o->vocab, o->heads, o->heads_kv, o->embd / o->heads};
    for (size_t i = 0; i < n; i++) {
        const bn_arch_tensor *e;
        int64_t l;
        bn_arch_tensor_at(a, o->layers, untied, i, &e, &l);
        bn_arch_gguf_tensor_name(e, l, t[i].name, sizeof t[i].name);
        t[i].ne0 = bn_arch_dim(e->ne0, &dims);
        t[i].ne1 = bn_arch_dim(e->ne1, &dims);
        t[i].cls = bn_role_class_of(e->role);
        t[i].type = t[i].cls == BN_RCLASS_PROJ   ? o->proj
                    : t[i].cls == BN_RCLASS_EMBD ? o->embd_type
                                                 : BN_TYPE_F32;
    }
    *out = t;
    return (int)n;
}

static bn_status synth(const synth_opts *o, bn_error *err)
{
    const bn_arch_info *a = bn_arch_get(o->arch);
    /* a row whose head is untied always gets output.weight */
    int untied = o->untied || a->head == BN_HEAD_UNTIED;
    tdesc *t;
    int n = list_tensors(o, a, untied, &t);
    if (n < 0)
        return bn_error_set(err, BN_ENOMEM, "out of memory");
    bn_gguf_writer *w = NULL;
    bn_status st = bn_gguf_writer_open(o->out, 0, &w, err);
    if (!st)
        st = write_kvs(w, o, a, err);
    for (int i = 0; i < n && !st; i++) {
        int64_t ne[2] = {t[i].ne0, t[i].ne1};
        st = bn_gguf_add_tensor(w, t[i].name, t[i].cls == BN_RCLASS_NORM ? 1 : 2, ne, t[i].type, err);
    }
    uint64_t rng = o->seed * 0x9E3779B97F4A7C15ull + 0x1234567ull;
    double t0 = bn_now_seconds();
    for (int i = 0; i < n && !st; i++) {
        st = write_tensor(w, &t[i], &rng, o->threads, err);
        if (!o->quiet && isatty(2))
            fprintf(stderr, "\rbn-synth: tensor %d/%d  %.1f s", i + 1, n, bn_now_seconds() - t0);
    }
    if (!o->quiet && isatty(2))
        fprintf(stderr, "\n");
    if (!st)
        st = bn_gguf_writer_finish(w, err);
    else
        bn_gguf_writer_abort(w);
    free(t);
    return st;
}

int main(int argc, char **argv)
{
    synth_opts o = {.arch = BN_ARCH_BITNET_B158, .proj = BN_TYPE_I2_S, .embd_type = BN_TYPE_F16,
                    .seed = 1};
    preset_tiny(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--version")) {
            bn_cli_print_version("bn-synth");
            return 0;
        }
        if (!strcmp(a, "--untied")) {
            o.untied = 1;
            continue;
        }
        if (!strcmp(a, "--no-vocab")) {
            o.no_vocab = 1;
            continue;
        }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o.quiet = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "bn-synth: unknown option or missing value: '%s' (see --help)\n", a);
            return 2;
        }
        i++;
        int rc = 0, iv;
        if (!strcmp(a, "-o") || !strcmp(a, "--output"))
            o.out = v;
        else if (!strcmp(a, "--preset")) {
            if (!strcmp(v, "2b"))
                preset_2b(&o);
            else if (!strcmp(v, "tiny"))
                preset_tiny(&o);
            else
                rc = -1, fprintf(stderr, "bn-synth: --preset '%s' is not 2b or tiny\n", v);
        } else if (!strcmp(a, "--arch")) {
            if (bn_arch_from_name(v, &o.arch) != 0)
                rc = -1, fprintf(stderr, "bn-synth: --arch '%s' is not one of %s\n", v,
                                 bn_arch_names());
        } else if (!strcmp(a, "--embd"))
            rc = parse_int(a, v, 1, 1 << 16, &o.embd);
        else if (!strcmp(a, "--ff"))
            rc = parse_int(a, v, 1, 1 << 18, &o.ff);
        else if (!strcmp(a, "--layers"))
            rc = parse_int(a, v, 1, 1024, &o.layers);
        else if (!strcmp(a, "--heads"))
            rc = parse_int(a, v, 1, 1024, &o.heads);
        else if (!strcmp(a, "--heads-kv"))
            rc = parse_int(a, v, 1, 1024, &o.heads_kv);
        else if (!strcmp(a, "--vocab"))
            rc = parse_int(a, v, 3 + 256, 1 << 22, &o.vocab);
        else if (!strcmp(a, "--ctx"))
            rc = parse_int(a, v, 1, 1 << 24, &o.ctx);
        else if (!strcmp(a, "--seed"))
            rc = parse_int(a, v, 0, 0x7fffffff, &iv), o.seed = (uint64_t)(rc ? 0 : iv);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads"))
            rc = parse_int(a, v, 0, 256, &o.threads);
        else if (!strcmp(a, "--type") || !strcmp(a, "--embd-type")) {
            bn_type ty;
            int proj = !strcmp(a, "--type");
            int ok = bn_type_from_name(v, &ty) == 0 &&
                     (proj ? (ty == BN_TYPE_I2_S || ty == BN_TYPE_TQ2_0 || ty == BN_TYPE_TQ1_0 ||
                              ty == BN_TYPE_F16 || ty == BN_TYPE_BF16 || ty == BN_TYPE_F32)
                           : bn_role_type_ok(BN_ROLE_TOKEN_EMBD, ty));
            if (!ok)
                rc = -1, fprintf(stderr, "bn-synth: %s '%s' is not one of %s\n", a, v,
                                 proj ? "i2_s, tq2_0, tq1_0, f16, bf16, f32" : "f16, f32, q8_0, q6_k, q4_k");
            else if (proj)
                o.proj = ty;
            else
                o.embd_type = ty;
        } else {
            fprintf(stderr, "bn-synth: unknown option '%s' (see --help)\n", a);
            return 2;
        }
        if (rc)
            return 2;
    }
    if (!o.out) {
        fprintf(stderr, "bn-synth: no output file (-o PATH)\n");
        return 2;
    }
    if (o.embd % o.heads || o.heads % o.heads_kv || (o.embd / o.heads) % 2) {
        fprintf(stderr, "bn-synth: --embd %d, --heads %d, --heads-kv %d: heads must divide embd "
                "into an even head size, and heads-kv must divide heads\n",
                o.embd, o.heads, o.heads_kv);
        return 2;
    }
    int64_t blk = bn_type_block_size(o.proj);
    int64_t eblk = bn_type_block_size(o.embd_type);
    if (o.embd % blk || o.ff % blk || o.embd % eblk) {
        fprintf(stderr, "bn-synth: --embd %d and --ff %d must be multiples of %lld for type %s\n",
                o.embd, o.ff, (long long)(blk > eblk ? blk : eblk), bn_type_name(blk >= eblk ? o.proj : o.embd_type));
        return 2;
    }
    bn_cli_install_signal_cleanup();
    bn_error err;
    bn_error_clear(&err);
    bn_status st = synth(&o, &err);
    if (st) {
        fprintf(stderr, "bn-synth: %s\n", err.msg); /* library messages name the file */
        return bn_status_exit_code(st);
    }
    return 0;
}
