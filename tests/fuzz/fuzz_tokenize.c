/*
 * fuzz_tokenize.c - the BPE and SPM encoders (and the decoder and streaming
 * detokenizer) on arbitrary bytes, against real vocabularies: llama.cpp's
 * ggml-vocab-llama-spm.gguf (SentencePiece, byte fallback) and
 * ggml-vocab-gpt-2.gguf (byte-level BPE, GPT-2 pre-tokenizer) from
 * $BN_SHARED/data/tokenizer-tests, and the Llama-3 tokenizer.json from
 * $BN_SHARED/data/tokenizers/llama3 exported through our converter
 * (byte-level BPE, Llama-3 pre-tokenizer, ignore_merges).
 * needs: src/runtime/tokenizer.c src/convert/tokenizer_export.c
 *
 * Input: byte 0 picks the vocabulary (bits 0-1) and the flags (bit 2 parse
 * special, bit 3 add special); the rest is the text.
 * Oracles: ids in range; byte-level BPE without special parsing decodes back
 * to exactly the input, whatever the bytes (tokenizer.h contract 3); SPM does
 * for valid UTF-8 without special parsing that does not itself contain U+2581
 * (SentencePiece's space marker: "\xe2\x96\x81" and " " encode alike, in
 * SentencePiece and llama.cpp as here); the stream detokenizer stays
 * within the room it promises to use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn/gguf.h"
#include "bn/tokenizer.h"
#include "bn/tokenizer_export.h"
#include "common.h"
#include "util/utf8.h"

#define N_VOCAB 3
static bn_tokenizer *vocab[N_VOCAB];
static const char *vocab_name[N_VOCAB] = {"llama-spm", "gpt-2", "llama3"};

static const char *shared_dir(void)
{
    const char *s = getenv("BN_SHARED");
    return s && s[0] ? s : "../shared";
}

static void load_gguf_vocab(int i, const char *path)
{
    bn_gguf *g = NULL;
    bn_error err;
    if (bn_gguf_open(path, &g, &err)) fz_fail("%s (set BN_SHARED)", err.msg);
    if (bn_tokenizer_from_gguf(g, &vocab[i], &err)) fz_fail("%s", err.msg);
    bn_gguf_close(g);
}

static void load_llama3(const char *dir)
{
    bn_tokexport *t = NULL;
    bn_gguf_writer *w = NULL;
    bn_error err;
    const char *path = fz_scratch("llama3-vocab.gguf");
    if (bn_tokexport_load(dir, &t, &err) || bn_gguf_writer_open(path, 0, &w, &err) ||
        bn_tokexport_write_kvs(t, w, &err) || bn_gguf_writer_finish(w, &err))
        fz_fail("%s", err.msg);
    bn_tokexport_free(t);
    load_gguf_vocab(2, path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char path[1024];
    snprintf(path, sizeof path, "%s/data/tokenizer-tests/ggml-vocab-llama-spm.gguf", shared_dir());
    load_gguf_vocab(0, path);
    snprintf(path, sizeof path, "%s/data/tokenizer-tests/ggml-vocab-gpt-2.gguf", shared_dir());
    load_gguf_vocab(1, path);
    snprintf(path, sizeof path, "%s/data/tokenizers/llama3", shared_dir());
    load_llama3(path);
    return 0;
}

static int has_space_marker(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i + 2 < n; i++)
        if (s[i] == 0xe2 && s[i + 1] == 0x96 && s[i + 2] == 0x81) return 1;
    return 0;
}

static void stream_check(const bn_tokenizer *t, const bn_tokens *ids)
{
    bn_tok_stream s;
    char piece[256], out[3 * (sizeof piece + 4)];
    bn_tok_stream_init(&s);
    for (size_t i = 0; i < ids->n; i++) {
        long n = bn_tokenizer_piece(t, ids->ids[i], 0, piece, sizeof piece);
        if (n < 0) fz_fail("piece of id %d refused", ids->ids[i]);
        if ((size_t)n > sizeof piece) continue; /* longer than our buffer: skip */
        size_t w = bn_tok_stream_feed(&s, piece, (size_t)n, out);
        if (w > 3 * ((size_t)n + 4)) fz_fail("stream wrote %zu bytes for a %ld-byte piece", w, n);
    }
    if (bn_tok_stream_flush(&s, out) > 3) fz_fail("stream flush wrote more than 3 bytes");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int which = data[0] & 3;
    if (which >= N_VOCAB) which = 1;
    const bn_tokenizer *t = vocab[which];
    unsigned flags = ((data[0] & 4) ? BN_TOK_PARSE_SPECIAL : 0) | ((data[0] & 8) ? BN_TOK_ADD_SPECIAL : 0);
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    bn_tokens ids = {0};
    bn_error err;
    bn_status st = bn_tokenizer_encode(t, text, len, flags, &ids, &err);
    fz_check(st, &err, "bn_tokenizer_encode");
    if (st != BN_OK) {
        bn_tokens_free(&ids);
        return 0;
    }
    for (size_t i = 0; i < ids.n; i++)
        if (ids.ids[i] < 0 || (uint32_t)ids.ids[i] >= bn_tokenizer_n_tokens(t))
            fz_fail("%s: id %d out of range", vocab_name[which], ids.ids[i]);

    char *back = NULL;
    size_t blen = 0;
    st = bn_tokenizer_decode(t, ids.ids, ids.n, 0, &back, &blen, &err);
    fz_check(st, &err, "bn_tokenizer_decode");
    if (st == BN_OK && !(flags & BN_TOK_PARSE_SPECIAL)) {
        int must = bn_tokenizer_model(t) == BN_TOKMODEL_BPE ||
                   (bnu_utf8_valid_prefix(data + 1, len) == len && !has_space_marker(data + 1, len));
        if (must && (blen != len || memcmp(back, text, len) != 0))
            fz_fail("%s: decode(encode(s)) != s for %zu bytes (got %zu)", vocab_name[which], len,
                    blen);
    }
    free(back);
    stream_check(t, &ids);
    bn_tokens_free(&ids);
    return 0;
}
