/* bench_convert - bn-convert on a checkpoint of the real BitNet-b1.58-2B-4T layout:
 * wall time and the converter's peak resident memory (the child's ru_maxrss), for
 * I2_S and TQ2_0 output.
 *
 *   bench_convert [DIR]
 *
 * DIR (default $BN_BENCH_DIR or /tmp) receives bntk-bench-2b-hf/ once: config.json
 * of microsoft/bitnet-b1.58-2B-4T (2560/6912, 30 layers, 20/5 heads, vocabulary
 * 128256), the Llama-3 tokenizer from ../shared/data/tokenizers/llama3 ($BN_SHARED),
 * and a 1.19 GB model.safetensors in its offline-packed form (uint8 projections with
 * bf16 weight_scale, bf16 embeddings and norms) with random ternary weights. The
 * largest tensor is the embedding (656 MB bf16, 1.3 GB as f32): peak memory shows
 * whether the converter streams it. bn-convert is found beside this binary's
 * directory (build/bench/../bn-convert). */
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

typedef struct {
    char name[96];
    const char *dtype; /* U8 or BF16 */
    int64_t rows, cols; /* rows 0: a 1-d tensor of cols */
    int kind;          /* 0 packed weight, 1 weight_scale, 2 norm, 3 embedding */
} spec;

static uint64_t rng = 0x243F6A8885A308D3ull;
static uint64_t next(void) { return bn_rng_next(&rng); }

static size_t nbytes(const spec *s)
{
    size_t n = (size_t)(s->rows ? s->rows : 1) * (size_t)s->cols;
    return strcmp(s->dtype, "U8") == 0 ? n : 2 * n;
}

static int make_specs(spec *sp)
{
    int n = 0;
    snprintf(sp[n].name, sizeof sp[n].name, "model.embed_tokens.weight");
    sp[n].dtype = "BF16", sp[n].rows = VOCAB, sp[n].cols = EMBD, sp[n].kind = 3, n++;
    static const struct { const char *name; int out, in; } proj[] = {
        {"self_attn.q_proj", EMBD, EMBD}, {"self_attn.k_proj", KV_HEADS * HEAD_DIM, EMBD},
        {"self_attn.v_proj", KV_HEADS * HEAD_DIM, EMBD}, {"self_attn.o_proj", EMBD, EMBD},
        {"mlp.gate_proj", FF, EMBD}, {"mlp.up_proj", FF, EMBD}, {"mlp.down_proj", EMBD, FF}};
    static const struct { const char *name; int n; } norm[] = {
        {"input_layernorm", EMBD}, {"post_attention_layernorm", EMBD},
        {"self_attn.attn_sub_norm", EMBD}, {"mlp.ffn_sub_norm", FF}};
    for (int l = 0; l < LAYERS; l++) {
        for (int p = 0; p < 7; p++) {
            snprintf(sp[n].name, sizeof sp[n].name, "model.layers.%d.%s.weight", l, proj[p].name);
            sp[n].dtype = "U8", sp[n].rows = proj[p].out / 4, sp[n].cols = proj[p].in, sp[n].kind = 0, n++;
            snprintf(sp[n].name, sizeof sp[n].name, "model.layers.%d.%s.weight_scale", l, proj[p].name);
            sp[n].dtype = "BF16", sp[n].rows = 0, sp[n].cols = 1, sp[n].kind = 1, n++;
        }
        for (int k = 0; k < 4; k++) {
            snprintf(sp[n].name, sizeof sp[n].name, "model.layers.%d.%s.weight", l, norm[k].name);
            sp[n].dtype = "BF16", sp[n].rows = 0, sp[n].cols = norm[k].n, sp[n].kind = 2, n++;
        }
    }
    snprintf(sp[n].name, sizeof sp[n].name, "model.norm.weight");
    sp[n].dtype = "BF16", sp[n].rows = 0, sp[n].cols = EMBD, sp[n].kind = 2, n++;
    return n;
}

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
    for (size_t i = 0; i + 1 < n; i += 2) {
        float v = s->kind == 1 ? 20.0f : s->kind == 2 ? 1.0f
                                                       : ((float)(next() % 2001) - 1000.0f) * 5e-5f;
        uint16_t h = bn_f32_to_bf16(v);
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

static int write_checkpoint(const char *dir)
{
    static spec sp[1 + LAYERS * 18 + 1];
    int n = make_specs(sp);
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
    /* safetensors: header (offsets in order), padded to 8 bytes, then the data */
    size_t cap = 256 * (size_t)n + 64, len = 0, off = 0;
    char *hdr = malloc(cap);
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
    char tmp[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    snprintf(tmp, sizeof tmp, "%s.part", path);
    f = fopen(tmp, "wb");
    uint64_t hl = len;
    int ok = f && fwrite(&hl, 8, 1, f) == 1 && fwrite(hdr, 1, len, f) == len;
    free(hdr);
    uint8_t *buf = malloc(1 << 20);
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

/* Run bn-convert DIR OUT --type TYPE; wall seconds and peak RSS (MB) of the child. */
static int run_convert(const char *conv, const char *dir, const char *out, const char *type,
                       double *sec, double *rss_mb)
{
    double t0 = bn_now_seconds();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
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

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--help")) {
        printf("usage: bench_convert [DIR]   (see the header of bench/bench_convert.c)\n");
        return 0;
    }
    const char *base = argc > 1 ? argv[1] : getenv("BN_BENCH_DIR") ? getenv("BN_BENCH_DIR") : "/tmp";
    char dir[1024], out[4096], conv[4096], st[1200];
    snprintf(dir, sizeof dir, "%s/bntk-bench-2b-hf", base);
    snprintf(st, sizeof st, "%s/model.safetensors", dir);
    struct stat sb;
    if (stat(st, &sb) != 0 && write_checkpoint(dir) != 0)
        return 2;
    snprintf(conv, sizeof conv, "%s", argv[0]);
    char *slash = strrchr(conv, '/');
    snprintf(slash ? slash + 1 : conv, sizeof conv - (size_t)(slash ? slash + 1 - conv : 0),
             "../bn-convert");
    const char *types[] = {"i2_s", "tq2_0"};
    printf("| checkpoint | output | seconds | MB/s in | peak RSS |\n| --- | --- | ---: | ---: | ---: |\n");
    stat(st, &sb);
    for (int i = 0; i < 2; i++) {
        snprintf(out, sizeof out, "%s/bntk-bench-convert.%s.gguf", base, types[i]);
        double sec, rss;
        if (run_convert(conv, dir, out, types[i], &sec, &rss)) {
            fprintf(stderr, "bench_convert: %s %s %s failed\n", conv, dir, types[i]);
            return 2;
        }
        printf("| 2B-4T packed, %.2f GB | %s | %.2f | %.0f | %.0f MB |\n", sb.st_size / 1e9,
               types[i], sec, sb.st_size / 1e6 / sec, rss);
        unlink(out);
    }
    return 0;
}
