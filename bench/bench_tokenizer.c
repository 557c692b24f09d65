/* bench_tokenizer.c - encode and decode all of WikiText-2's wiki.test.raw with
 * the Llama-3 vocabulary (built from tokenizers/llama3 by the tokenizer export)
 * and with llama.cpp's Llama SentencePiece vocabulary. Figures go in closing
 * notes, never into tests. Data: $BN_SHARED (default ../shared). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bn/gguf.h"
#include "bn/tokenizer.h"
#include "bn/tokenizer_export.h"
#include "bn/util.h"

static char g_shared[4096];

static const char *shared(const char *rel)
{
    static char buf[4][4096 + 256];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, sizeof buf[0], "%.4000s/%.200s", g_shared, rel);
    return b;
}

static int die(const bn_error *e)
{
    fprintf(stderr, "bench_tokenizer: %s\n", e->msg);
    return 1;
}

static int bench(const char *label, const bn_tokenizer *t, const char *text, size_t len)
{
    bn_error e;
    double best = 1e30, best_dec = 1e30;
    size_t n_tok = 0;
    for (int rep = 0; rep < 3; rep++) {
        bn_tokens ids = {0};
        double t0 = bn_now_seconds();
        if (bn_tokenizer_encode(t, text, len, 0, &ids, &e) != BN_OK)
            return die(&e);
        double t1 = bn_now_seconds();
        char *out;
        size_t out_len;
        if (bn_tokenizer_decode(t, ids.ids, ids.n, 0, &out, &out_len, &e) != BN_OK)
            return die(&e);
        double t2 = bn_now_seconds();
        if (out_len != len || memcmp(out, text, len) != 0) {
            fprintf(stderr, "bench_tokenizer: %s: decode(encode(text)) differs from the text\n", label);
            return 1;
        }
        free(out);
        n_tok = ids.n;
        bn_tokens_free(&ids);
        if (t1 - t0 < best)
            best = t1 - t0;
        if (t2 - t1 < best_dec)
            best_dec = t2 - t1;
    }
    printf("%-28s %8zu tokens  encode %7.3f s (%6.1f MB/s)  decode %7.3f s   (best of 3)\n", label,
           n_tok, best, (double)len / best / 1e6, best_dec);
    return 0;
}

int main(void)
{
    const char *s = getenv("BN_SHARED");
    snprintf(g_shared, sizeof g_shared, "%s", s && *s ? s : "../shared");
    bn_error e;
    char *text;
    size_t len;
    if (bn_read_file(shared("data/wikitext-2/wiki.test.raw"), (size_t)1 << 30, &text, &len, &e) != BN_OK)
        return die(&e);

    /* Llama-3: tokenizer.json -> GGUF -> runtime, as a converted model would be. */
    char gguf_path[] = "/tmp/bench_tokenizer_XXXXXX";
    int fd = mkstemp(gguf_path);
    if (fd < 0) {
        perror("bench_tokenizer: mkstemp");
        return 1;
    }
    close(fd);
    bn_tokexport *tx;
    bn_gguf_writer *w;
    double t0 = bn_now_seconds();
    if (bn_tokexport_load(shared("data/tokenizers/llama3"), &tx, &e) != BN_OK)
        return die(&e);
    double t1 = bn_now_seconds();
    if (bn_gguf_writer_open(gguf_path, 0, &w, &e) != BN_OK || bn_tokexport_write_kvs(tx, w, &e) != BN_OK ||
        bn_gguf_writer_finish(w, &e) != BN_OK)
        return die(&e);
    bn_tokexport_free(tx);
    bn_gguf *g;
    bn_tokenizer *t;
    double t2 = bn_now_seconds();
    if (bn_gguf_open(gguf_path, &g, &e) != BN_OK || bn_tokenizer_from_gguf(g, &t, &e) != BN_OK)
        return die(&e);
    double t3 = bn_now_seconds();
    bn_gguf_close(g);
    unlink(gguf_path);
    printf("llama3 export of tokenizer.json %.3f s; tokenizer load from GGUF %.3f s\n", t1 - t0, t3 - t2);
    int rc = bench("llama3 (byte-level BPE)", t, text, len);
    bn_tokenizer_free(t);

    if (rc == 0) {
        if (bn_gguf_open(shared("data/tokenizer-tests/ggml-vocab-llama-spm.gguf"), &g, &e) != BN_OK ||
            bn_tokenizer_from_gguf(g, &t, &e) != BN_OK)
            return die(&e);
        bn_gguf_close(g);
        rc = bench("llama-spm (SentencePiece)", t, text, len);
        bn_tokenizer_free(t);
    }
    free(text);
    return rc;
}
