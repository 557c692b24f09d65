/* bench_convert - bn-convert on two checkpoints: wall time and the converter's peak
 * resident memory (the child's ru_maxrss).
 *
 *   bench_convert [DIR]              time both (below), writing them into DIR once
 *   bench_convert --make-large DIR   only write the latent checkpoint into DIR
 *
 * DIR (default $BN_BENCH_DIR or /tmp) receives, once:
 *
 * bntk-bench-2b-hf/: config.json of microsoft/bitnet-b1.58-2B-4T (2560/6912, 30
 * layers, 20/5 heads, vocabulary 128256), the Llama-3 tokenizer from
 * ../shared/data/tokenizers/llama3 ($BN_SHARED), and a 1.19 GB model.safetensors in
 * its offline-packed form (uint8 projections with bf16 weight_scale, bf16 embeddings
 * and norms) with random ternary weights. The largest tensor is the embedding (656 MB
 * bf16, 1.3 GB as f32): peak memory shows whether the converter streams it. Timed
 * for I2_S and TQ2_0 output.
 *
 * bntk-bench-large-hf/: a latent (master-weight) checkpoint shaped like
 * 1bitLLM/bitnet_b1_58-large (BitnetForCausalLM, 1536/4096, 24 layers, 16 heads,
 * vocabulary 32002, tied head): 729 M fp16 weights, 1.46 GB, random near-Gaussian
 * values (sd ~0.02, as trained latent weights) that every projection ternarizes
 * with absmean. It has no tokenizer: --make-large leaves that to its caller
 * (scripts/bench_convert.sh copies a SentencePiece tokenizer.model in, which the
 * converters pad to the vocabulary); the timed run here passes $BN_BENCH_TOKENIZER
 * or, without it, skips this checkpoint. Timed for TQ2_0 with 1 and 2 threads.
 *
 * bn-convert is found beside this binary's directory (build/bench/../bn-convert). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bn/gguf.h" /* bn_f32_to_bf16 */
#include "bn/util.h" /* bn_now_seconds, bn_rng_next */

enum { EMBD = 2560, FF = 6912, LAYERS = 30, HEADS = 20, KV_HEADS = 5, VOCAB = 128256 };
#define HEAD_DIM (EMBD / HEADS)
/* 1bitLLM/bitnet_b1_58-large */
enum { L_EMBD = 1536, L_FF = 4096, L_LAYERS = 24, L_HEADS = 16, L_VOCAB = 32002 };
#define MAX_SPECS (1 + LAYERS * 18 + 1)

typedef struct {
    char name[96];
    const char *dtype; /* U8, BF16 or F16 */
    int64_t rows, cols; /* rows 0: a 1-d tensor of cols */
    int kind;          /* 0 packed weight, 1 weight_scale, 2 norm, 3 embedding, 4 latent weight */
} spec;

static uint64_t rng = 0x243F6A8885A308D3ull;
static uint64_t next(void) { return bn_rng_next(&rng); }

static size_t nbytes(const spec *s)
{
    size_t n = (size_t)(s->rows ? s->rows : 1) * (size_t)s->cols;
    return strcmp(s->dtype, "U8") == 0 ? n : 2 * n;
}

/* Near-Gaussian, sd ~0.02: the sum of four uniforms on [-1, 1) has sd 1.155. */
static float latent_value(void)
{
    float u = 0.0f;
    for (int k = 0; k < 4; k++)
        u += (float)(next() >> 40) * (2.0f / 16777216.0f) - 1.0f;
    return u * (0.02f / 1.155f);
}

/* A checkpoint's tensors in the layer order of the HF files: the embedding, per layer
 * seven projections (offline-packed: uint8 [out/4, in] with a bf16 weight_scale;
 * latent: [out, in] of dtype) and four norms, then the final norm. */
typedef struct {
    const char *dtype; /* of the embedding, norms and latent projections */
    int packed;
    int64_t embd, vocab, layers;
    struct { const char *name; int64_t out, in; } proj[7];
    struct { const char *name; int64_t n; } norm[4];
} layout;

static void add(spec *sp, int *n, const char *dtype, int64_t rows, int64_t cols, int kind, const char *fmt,
                int layer, const char *part)
{
    snprintf(sp[*n].name, sizeof sp[*n].name, fmt, layer, part);
    sp[*n].dtype = dtype, sp[*n].rows = rows, sp[*n].cols = cols, sp[*n].kind = kind;
    (*n)++;
}

static int make_specs(const layout *L, spec *sp)
{
    int n = 0;
    add(sp, &n, L->dtype, L->vocab, L->embd, 3, "model.embed_tokens.weight%.0d%s", 0, "");
    for (int l = 0; l < L->layers; l++) {
        for (int p = 0; p < 7; p++) {
            if (!L->packed) {
                add(sp, &n, L->dtype, L->proj[p].out, L->proj[p].in, 4, "model.layers.%d.%s.weight", l,
                    L->proj[p].name);
                continue;
            }
            add(sp, &n, "U8", L->proj[p].out / 4, L->proj[p].in, 0, "model.layers.%d.%s.weight", l, L->proj[p].name);
            add(sp, &n, "BF16", 0, 1, 1, "model.layers.%d.%s.weight_scale", l, L->proj[p].name);
        }
        for (int k = 0; k < 4; k++)
            add(sp, &n, L->dtype, 0, L->norm[k].n, 2, "model.layers.%d.%s.weight", l, L->norm[k].name);
    }
    add(sp, &n, L->dtype, 0, L->embd, 2, "model.norm.weight%.0d%s", 0, "");
    return n;
}

/* microsoft/bitnet-b1.58-2B-4T, offline-packed */
static const layout LAYOUT_2B = {
    "BF16", 1, EMBD, VOCAB, LAYERS,
    {{"self_attn.q_proj", EMBD, EMBD}, {"self_attn.k_proj", KV_HEADS * HEAD_DIM, EMBD},
     {"self_attn.v_proj", KV_HEADS * HEAD_DIM, EMBD}, {"self_attn.o_proj", EMBD, EMBD},
     {"mlp.gate_proj", FF, EMBD}, {"mlp.up_proj", FF, EMBD}, {"mlp.down_proj", EMBD, FF}},
    {{"input_layernorm", EMBD}, {"post_attention_layernorm", EMBD}, {"self_attn.attn_sub_norm", EMBD},
     {"mlp.ffn_sub_norm", FF}}};

/* 1bitLLM/bitnet_b1_58-large, latent fp16 */
static const layout LAYOUT_LARGE = {
    "F16", 0, L_EMBD, L_VOCAB, L_LAYERS,
    {{"self_attn.q_proj", L_EMBD, L_EMBD}, {"self_attn.k_proj", L_EMBD, L_EMBD},
     {"self_attn.v_proj", L_EMBD, L_EMBD}, {"self_attn.o_proj", L_EMBD, L_EMBD},
     {"mlp.gate_proj", L_FF, L_EMBD}, {"mlp.up_proj", L_FF, L_EMBD}, {"mlp.down_proj", L_EMBD, L_FF}},
    {{"input_layernorm", L_EMBD}, {"post_attention_layernorm", L_EMBD}, {"self_attn.inner_attn_ln", L_EMBD},
     {"mlp.ffn_layernorm", L_FF}}};

static void fill(const spec *s, uint8_t *buf, size_t n)
{
    static uint8_t valid[81]; /* bytes whose four 2-bit fields are 0..2 (code - 1) */
    if (!valid[1])
        for (int i = 0; i < 81; i++)
            valid[i] = (uint8_t)(i % 3 | (i / 3 % 3) << 2 | (i / 9 % 3) << 4 | (i / 27 % 3) << 6);
    if (s->kind == 0) {
        for (size_t i = 0; i < n; i++)
            buf[i] = valid[next() % 81];
        return;
    }
    int f16 = strcmp(s->dtype, "F16") == 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        float v = s->kind == 1   ? 20.0f
                  : s->kind == 2 ? 1.0f
                  : s->kind == 4 ? latent_value()
                                 : ((float)(next() % 2001) - 1000.0f) * 5e-5f;
        uint16_t h = f16 ? bn_f32_to_f16(v) : bn_f32_to_bf16(v);
        memcpy(buf + i, &h, 2);
    }
}

static int copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = a ? fopen(to, "wb") : NULL;
    char buf[1 << 16];
    size_t k;
    int ok = a && b;
    while (ok && (k = fread(buf, 1, sizeof buf, a)) > 0)
        ok = fwrite(buf, 1, k, b) == k;
    if (a)
        fclose(a);
    if (b && fclose(b))
        ok = 0;
    return ok ? 0 : -1;
}

/* DIR/model.safetensors: header (offsets in order), padded to 8 bytes, then the data. */
static int write_safetensors(const char *dir, const spec *sp, int n)
{
    char path[4096], tmp[4200];
    size_t cap = 256 * (size_t)n + 64, len = 0, off = 0;
    char *hdr = malloc(cap);
    if (!hdr)
        return -1;
    len += (size_t)snprintf(hdr + len, cap - len, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < n; i++) {
        size_t b = nbytes(&sp[i]);
        if (sp[i].rows)
            len += (size_t)snprintf(hdr + len, cap - len,
                                    ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld,%lld],\"data_offsets\":[%zu,%zu]}",
                                    sp[i].name, sp[i].dtype, (long long)sp[i].rows,
                                    (long long)sp[i].cols, off, off + b);
        else
            len += (size_t)snprintf(hdr + len, cap - len,
                                    ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld],\"data_offsets\":[%zu,%zu]}",
                                    sp[i].name, sp[i].dtype, (long long)sp[i].cols, off, off + b);
        off += b;
    }
    len += (size_t)snprintf(hdr + len, cap - len, "}");
    while (len % 8)
        hdr[len++] = ' ';
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    snprintf(tmp, sizeof tmp, "%s.part", path);
    FILE *f = fopen(tmp, "wb");
    uint64_t hl = len;
    int ok = f && fwrite(&hl, 8, 1, f) == 1 && fwrite(hdr, 1, len, f) == len;
    free(hdr);
    uint8_t *buf = malloc(1 << 20);
    ok = ok && buf;
    for (int i = 0; ok && i < n; i++) {
        size_t b = nbytes(&sp[i]);
        for (size_t at = 0; ok && at < b; at += 1 << 20) {
            size_t k = b - at < (1u << 20) ? b - at : 1u << 20;
            fill(&sp[i], buf, k);
            ok = fwrite(buf, 1, k, f) == k;
        }
    }
    free(buf);
    if (f && fclose(f))
        ok = 0;
    if (!ok || rename(tmp, path)) {
        fprintf(stderr, "bench_convert: writing %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    printf("wrote %s: %zu MB, %d tensors\n", path, (off + 8 + len) >> 20, n);
    return 0;
}

static int write_checkpoint_2b(const char *dir)
{
    static spec sp[MAX_SPECS];
    int n = make_specs(&LAYOUT_2B, sp);
    char path[4096];
    const char *shared = getenv("BN_SHARED") ? getenv("BN_SHARED") : "../shared";
    const char *files[] = {"tokenizer.json", "tokenizer_config.json"};
    mkdir(dir, 0755);
    for (int i = 0; i < 2; i++) {
        char from[4096];
        snprintf(from, sizeof from, "%s/data/tokenizers/llama3/%s", shared, files[i]);
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (copy_file(from, path)) {
            fprintf(stderr, "bench_convert: cannot copy %s (set BN_SHARED)\n", from);
            return -1;
        }
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "{\"architectures\": [\"BitNetForCausalLM\"], \"model_type\": \"bitnet\","
               " \"hidden_act\": \"relu2\", \"hidden_size\": %d, \"intermediate_size\": %d,"
               " \"num_hidden_layers\": %d, \"num_attention_heads\": %d, \"num_key_value_heads\": %d,"
               " \"vocab_size\": %d, \"max_position_embeddings\": 4096, \"rms_norm_eps\": 1e-05,"
               " \"rope_theta\": 500000.0, \"tie_word_embeddings\": true, \"bos_token_id\": 128000,"
               " \"eos_token_id\": 128001, \"torch_dtype\": \"bfloat16\", \"quantization_config\":"
               " {\"quant_method\": \"bitnet\", \"linear_class\": \"autobitlinear\","
               " \"quantization_mode\": \"offline\"}}\n",
            EMBD, FF, LAYERS, HEADS, KV_HEADS, VOCAB);
    fclose(f);
    return write_safetensors(dir, sp, n);
}

/* config.json as 1bitLLM/bitnet_b1_58-large has it (head tied: the file has no lm_head). */
static int write_checkpoint_large(const char *dir)
{
    static spec sp[MAX_SPECS];
    int n = make_specs(&LAYOUT_LARGE, sp);
    char path[4096];
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bench_convert: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "{\"architectures\": [\"BitnetForCausalLM\"], \"model_type\": \"llama\","
               " \"hidden_act\": \"silu\", \"hidden_size\": %d, \"intermediate_size\": %d,"
               " \"num_hidden_layers\": %d, \"num_attention_heads\": %d, \"num_key_value_heads\": %d,"
               " \"vocab_size\": %d, \"max_position_embeddings\": 2048, \"rms_norm_eps\": 1e-05,"
               " \"rope_theta\": 10000.0, \"tie_word_embeddings\": true, \"bos_token_id\": 1,"
               " \"eos_token_id\": 2, \"pad_token_id\": 32000, \"torch_dtype\": \"float16\","
               " \"input_bits\": 8, \"weight_bits\": 1}\n",
            L_EMBD, L_FF, L_LAYERS, L_HEADS, L_HEADS, L_VOCAB);
    fclose(f);
    return write_safetensors(dir, sp, n);
}

/* Run bn-convert DIR OUT --type TYPE [-t THREADS]; wall seconds and peak RSS (MB) of
 * the child. threads 0: the converter's default. */
static int run_convert(const char *conv, const char *dir, const char *out, const char *type,
                       int threads, double *sec, double *rss_mb)
{
    char nt[16];
    snprintf(nt, sizeof nt, "%d", threads);
    double t0 = bn_now_seconds();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (threads > 0)
            execl(conv, conv, dir, out, "--type", type, "-t", nt, "-q", (char *)NULL);
        else
            execl(conv, conv, dir, out, "--type", type, "-q", (char *)NULL);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid)
        return -1;
    *sec = bn_now_seconds() - t0;
    *rss_mb = (double)ru.ru_maxrss * 1024.0 / 1e6;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Seconds to read a file once through 4 MiB read()s (from the page cache after the
 * first time): the floor a streaming converter is measured against. */
static double read_once(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1.0;
    static char buf[4 << 20];
    double t0 = bn_now_seconds();
    while (fread(buf, 1, sizeof buf, f) == sizeof buf)
        ;
    double t = bn_now_seconds() - t0;
    fclose(f);
    return t;
}

static int copy_tokenizer(const char *model, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.model", dir);
    if (copy_file(model, path)) {
        fprintf(stderr, "bench_convert: cannot copy %s to %s\n", model, path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--help")) {
        printf("usage: bench_convert [DIR] | --make-large DIR   (see the header of bench/bench_convert.c)\n");
        return 0;
    }
    if (argc > 2 && !strcmp(argv[1], "--make-large"))
        return write_checkpoint_large(argv[2]) ? 2 : 0;
    const char *base = argc > 1 ? argv[1] : getenv("BN_BENCH_DIR") ? getenv("BN_BENCH_DIR") : "/tmp";
    char dir[1024], out[4096], conv[4096], st[1200];
    snprintf(dir, sizeof dir, "%s/bntk-bench-2b-hf", base);
    snprintf(st, sizeof st, "%s/model.safetensors", dir);
    struct stat sb;
    if (stat(st, &sb) != 0 && write_checkpoint_2b(dir) != 0)
        return 2;
    snprintf(conv, sizeof conv, "%s", argv[0]);
    char *slash = strrchr(conv, '/');
    snprintf(slash ? slash + 1 : conv, sizeof conv - (size_t)(slash ? slash + 1 - conv : 0),
             "../bn-convert");
    const char *types[] = {"i2_s", "tq2_0"};
    printf("| checkpoint | output | threads | seconds | MB/s in | peak RSS |\n"
           "| --- | --- | ---: | ---: | ---: | ---: |\n");
    stat(st, &sb);
    read_once(st); /* into the page cache */
    double rd = read_once(st);
    printf("| 2B-4T packed, %.2f GB | (read once) | 1 | %.2f | %.0f | |\n", sb.st_size / 1e9, rd,
           sb.st_size / 1e6 / rd);
    for (int i = 0; i < 2; i++) {
        snprintf(out, sizeof out, "%s/bntk-bench-convert.%s.gguf", base, types[i]);
        double sec, rss;
        if (run_convert(conv, dir, out, types[i], 0, &sec, &rss)) {
            fprintf(stderr, "bench_convert: %s %s %s failed\n", conv, dir, types[i]);
            return 2;
        }
        printf("| 2B-4T packed, %.2f GB | %s | all | %.2f | %.0f | %.0f MB |\n", sb.st_size / 1e9,
               types[i], sec, sb.st_size / 1e6 / sec, rss);
        unlink(out);
    }
    const char *tok = getenv("BN_BENCH_TOKENIZER");
    if (!tok) {
        printf("(latent large checkpoint skipped: set BN_BENCH_TOKENIZER to a tokenizer.model, "
               "or run scripts/bench_convert.sh)\n");
        return 0;
    }
    snprintf(dir, sizeof dir, "%s/bntk-bench-large-hf", base);
    snprintf(st, sizeof st, "%s/model.safetensors", dir);
    if ((stat(st, &sb) != 0 && write_checkpoint_large(dir) != 0) || copy_tokenizer(tok, dir))
        return 2;
    stat(st, &sb);
    read_once(st);
    rd = read_once(st);
    printf("| large latent, %.2f GB | (read once) | 1 | %.2f | %.0f | |\n", sb.st_size / 1e9, rd,
           sb.st_size / 1e6 / rd);
    snprintf(out, sizeof out, "%s/bntk-bench-convert.large.gguf", base);
    for (int t = 1; t <= 2; t++) {
        double sec, rss;
        if (run_convert(conv, dir, out, "tq2_0", t, &sec, &rss)) {
            fprintf(stderr, "bench_convert: %s %s tq2_0 failed\n", conv, dir);
            return 2;
        }
        printf("| large latent, %.2f GB | tq2_0 | %d | %.2f | %.0f | %.0f MB |\n", sb.st_size / 1e9, t,
               sec, sb.st_size / 1e6 / sec, rss);
    }
    unlink(out);
    return 0;
}
