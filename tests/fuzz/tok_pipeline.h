/*
 * tok_pipeline.h - for the tokenizer-import harnesses: take a vocabulary the
 * importer accepted all the way through the converter's path (GGUF KVs ->
 * written GGUF -> reader -> runtime tokenizer) and run text through it.
 * Anything the importer accepts, the runtime must accept too.
 */
#ifndef BN_FUZZ_TOK_PIPELINE_H
#define BN_FUZZ_TOK_PIPELINE_H

#include <stdlib.h>
#include <string.h>

#include "bn/gguf.h"
#include "bn/tokenizer.h"
#include "bn/tokenizer_export.h"
#include "common.h"

static void fz_tok_roundtrip(const bn_tokenizer *tok, const char *text, size_t len)
{
    bn_tokens ids = {0};
    bn_error err;
    bn_status st = bn_tokenizer_encode(tok, text, len, BN_TOK_ADD_SPECIAL | BN_TOK_PARSE_SPECIAL,
                                       &ids, &err);
    fz_check(st, &err, "bn_tokenizer_encode");
    if (st == BN_OK) {
        char *out = NULL;
        size_t n = 0;
        for (size_t i = 0; i < ids.n; i++)
            if (ids.ids[i] < 0 || (uint32_t)ids.ids[i] >= bn_tokenizer_n_tokens(tok))
                fz_fail("encode produced id %d of %u", ids.ids[i], bn_tokenizer_n_tokens(tok));
        st = bn_tokenizer_decode(tok, ids.ids, ids.n, BN_TOK_RENDER_SPECIAL, &out, &n, &err);
        fz_check(st, &err, "bn_tokenizer_decode");
        free(out);
    }
    bn_tokens_free(&ids);
}

/* Export t into a scratch GGUF, read it back and tokenize a few strings. */
static void fz_tok_pipeline(const bn_tokexport *t)
{
    static const char *const texts[] = {"Hello world", " leading space", "caf\xc3\xa9 \xe2\x82\xac 12345",
                                        "\xff\xfe bytes", "<s></s><unk>"};
    const char *path = fz_scratch("vocab.gguf");
    bn_gguf_writer *w = NULL;
    bn_error err;
    bn_status st = bn_gguf_writer_open(path, 0, &w, &err);
    if (st) fz_fail("bn_gguf_writer_open: %s", err.msg);
    st = bn_tokexport_write_kvs(t, w, &err);
    fz_check(st, &err, "bn_tokexport_write_kvs");
    if (st) {
        bn_gguf_writer_abort(w);
        return;
    }
    if ((st = bn_gguf_writer_finish(w, &err))) fz_fail("bn_gguf_writer_finish: %s", err.msg);
    bn_gguf *g = NULL;
    st = bn_gguf_open(path, &g, &err);
    if (st) fz_fail("the GGUF the exporter wrote does not open: %s", err.msg);
    bn_tokenizer *tok = NULL;
    st = bn_tokenizer_from_gguf(g, &tok, &err);
    fz_check(st, &err, "bn_tokenizer_from_gguf");
    if (st == BN_OK) {
        if (bn_tokenizer_n_tokens(tok) != bn_tokexport_vocab_size(t))
            fz_fail("exported %u tokens, runtime has %u", bn_tokexport_vocab_size(t),
                    bn_tokenizer_n_tokens(tok));
        for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
            fz_tok_roundtrip(tok, texts[i], strlen(texts[i]));
        bn_tokenizer_free(tok);
    }
    bn_gguf_close(g);
}

/* Load the HF tokenizer directory `dir` and, if accepted, run the pipeline. */
static void fz_tok_load_dir(const char *dir)
{
    bn_tokexport *t = NULL;
    bn_error err;
    bn_status st = bn_tokexport_load(dir, &t, &err);
    fz_check(st, &err, "bn_tokexport_load");
    if (st == BN_OK) {
        fz_tok_pipeline(t);
        bn_tokexport_free(t);
    }
}

#endif
