/*
 * tokenizer.h - the runtime tokenizer: SentencePiece (GGUF model "llama") and
 * byte-level BPE (GGUF model "gpt2"), token for token identical to llama.cpp
 * (and so to Hugging Face tokenizers) on valid UTF-8.
 *
 * Contract:
 *  1. A tokenizer is built from a plain vocabulary description (bn_vocab_desc)
 *     or from GGUF metadata (FORMATS.md §5). Everything is copied: the source
 *     may be freed or unmapped afterwards. Construction validates the whole
 *     vocabulary (types, ids in range, merges naming known tokens) and fails
 *     with one sentence naming the field. Duplicate token texts resolve to the
 *     last id, as in llama.cpp.
 *  2. SPM ("llama"): optional space prefix, ' ' -> U+2581, UTF-8 characters
 *     merged pairwise by highest token score (leftmost on ties), pieces that are
 *     not tokens fall back to <0xNN> byte tokens (then to UNK). Bytes that are
 *     not valid UTF-8 are characters of their own (llama.cpp lets an invalid
 *     lead byte swallow the bytes after it), so they round-trip as bytes.
 *  3. BPE ("gpt2"): the pre-tokenizer named by tokenizer.ggml.pre splits the
 *     text (regexes of llama.cpp, hand-written matchers over generated Unicode
 *     tables), each word is mapped byte -> GPT-2 unicode, then merged by lowest
 *     merge rank. Llama-3 style vocabularies ("llama-bpe", "llama3", "falcon3")
 *     use ignore_merges: a word that is itself a token is emitted whole.
 *     Invalid UTF-8 never fails: each invalid byte is its own "other" character
 *     and byte-level BPE keeps it, so decode(encode(s)) == s for any bytes
 *     (llama.cpp would substitute U+FFFD; HF cannot take such input at all).
 *  4. Special tokens: with BN_TOK_PARSE_SPECIAL, control and unknown-type tokens
 *     written literally in the text are matched (longest first). User-defined
 *     tokens are always matched, as llama.cpp and Hugging Face do.
 *     BN_TOK_ADD_SPECIAL adds BOS / EOS where the vocabulary's add_bos / add_eos
 *     flags ask for them.
 *  5. Decoding reverses the byte map, U+2581 and <0xNN> exactly; control tokens
 *     decode to nothing unless BN_TOK_RENDER_SPECIAL. It is lossless: unlike
 *     llama.cpp's detokenize for BPE vocabularies, no
 *     clean_up_tokenization_spaces (" ," -> ",") is applied. bn_tok_stream turns a
 *     sequence of pieces into complete UTF-8 for streaming output.
 *  6. A built tokenizer is immutable: encode/decode may run concurrently.
 */
#ifndef BN_TOKENIZER_H
#define BN_TOKENIZER_H

#pragma GCC visibility push(default) /* what this header declares is libbn's API */

#include <stddef.h>
#include <stdint.h>
#include "bn/error.h"
#include "bn/gguf.h"

typedef enum {
    BN_TOKMODEL_SPM = 1, /* GGUF "llama" */
    BN_TOKMODEL_BPE = 2  /* GGUF "gpt2" */
} bn_tok_model;

/* GGUF tokenizer.ggml.token_type values (FORMATS.md §5). */
typedef enum {
    BN_TOKTYPE_NORMAL = 1,
    BN_TOKTYPE_UNKNOWN = 2,
    BN_TOKTYPE_CONTROL = 3,
    BN_TOKTYPE_USER_DEFINED = 4,
    BN_TOKTYPE_UNUSED = 5,
    BN_TOKTYPE_BYTE = 6
} bn_tok_type;

/* Pre-tokenizers of byte-level BPE vocabularies. */
typedef enum {
    BN_TOKPRE_DEFAULT = 0, /* llama.cpp's default chain of four regexes */
    BN_TOKPRE_LLAMA3 = 1,  /* "llama-bpe", "llama3", "llama-v3", "falcon3", ... */
    BN_TOKPRE_GPT2 = 2     /* "gpt-2", "mpt", "olmo", "phi-2", ... */
} bn_tok_pre;

/* Map a tokenizer.ggml.pre name to a pre-tokenizer; NULL or "" means
 * "default". Returns 0 on success, -1 for a name we do not implement. */
int bn_tok_pre_from_name(const char *name, bn_tok_pre *out);

/* A vocabulary, as GGUF stores it. Strings need not be NUL-terminated. */
typedef struct {
    bn_tok_model model;
    bn_tok_pre pre;                 /* BPE only */
    uint32_t n_tokens;
    const char *const *tokens;      /* (n_tokens) token texts */
    const size_t *token_lens;       /* (n_tokens) byte lengths; NULL: NUL-terminated */
    const float *scores;            /* (n_tokens) or NULL (all 0) */
    const int32_t *types;           /* (n_tokens) bn_tok_type, or NULL (all normal) */
    uint32_t n_merges;              /* BPE: "left right", rank = index */
    const char *const *merges;      /* (n_merges) */
    const size_t *merge_lens;       /* (n_merges) or NULL: NUL-terminated */
    int32_t bos_id, eos_id, unk_id, pad_id; /* -1 when absent */
    int add_bos, add_eos;           /* used by BN_TOK_ADD_SPECIAL */
    int add_space_prefix;           /* SPM: prepend ' ' to text after BOS/special */
    int ignore_merges;              /* BPE: -1 = from pre (1 for Llama-3), else 0/1 */
    int strict_bytes;               /* BPE: 1 = text holding a byte the vocabulary has no
                                       token for is refused; 0 = dropped, as llama.cpp
                                       does (vocabularies from files are strict) */
} bn_vocab_desc;

/* Fill d with the defaults: ids -1, add_bos 0, add_eos 0, add_space_prefix 1,
 * ignore_merges -1, model SPM, pre DEFAULT, everything else empty. */
void bn_vocab_desc_init(bn_vocab_desc *d);

typedef struct bn_tokenizer bn_tokenizer;

bn_status bn_tokenizer_create(const bn_vocab_desc *v, bn_tokenizer **out, bn_error *err);
/* Reads tokenizer.ggml.{model,pre,tokens,scores,token_type,merges,
 * bos/eos/unknown/padding_token_id,add_bos_token,add_eos_token,add_space_prefix}.
 * Absent keys take llama.cpp's defaults: SPM bos 1, eos 2, unk 0, add_bos 1,
 * add_space_prefix 1; BPE no special ids, add_bos 1 only for Llama-3
 * pre-tokenizers, add_space_prefix 0; add_eos 0. tokenizer.ggml.pre must
 * name a pre-tokenizer we implement (BN_EUNSUPPORTED otherwise). */
bn_status bn_tokenizer_from_gguf(const bn_gguf *g, bn_tokenizer **out, bn_error *err);
/* BN_EINVAL naming the first byte a byte-level BPE vocabulary has no token for
 * (text holding it cannot be encoded); BN_OK for complete or SPM vocabularies. */
bn_status bn_tokenizer_check_bytes(const bn_tokenizer *t, bn_error *err);
void bn_tokenizer_free(bn_tokenizer *t);

bn_tok_model bn_tokenizer_model(const bn_tokenizer *t);
bn_tok_pre bn_tokenizer_pre(const bn_tokenizer *t);
uint32_t bn_tokenizer_n_tokens(const bn_tokenizer *t);
int32_t bn_tokenizer_bos(const bn_tokenizer *t); /* -1 when absent */
int32_t bn_tokenizer_eos(const bn_tokenizer *t);
int bn_tokenizer_add_bos(const bn_tokenizer *t);
int bn_tokenizer_add_eos(const bn_tokenizer *t);
/* Token text as stored (not decoded); *len gets its length. NULL if out of range. */
const char *bn_tokenizer_text(const bn_tokenizer *t, int32_t id, size_t *len);
bn_tok_type bn_tokenizer_type(const bn_tokenizer *t, int32_t id); /* 0 if out of range */
/* Id of an exact token text, or -1. */
int32_t bn_tokenizer_find(const bn_tokenizer *t, const char *text, size_t len);

#define BN_TOK_ADD_SPECIAL    1u /* encode: BOS/EOS per the add_bos/add_eos flags */
#define BN_TOK_PARSE_SPECIAL  2u /* encode: match control tokens in the text */
#define BN_TOK_RENDER_SPECIAL 4u /* decode: control tokens produce their text */
#define BN_TOK_KEEP_SPACE     8u /* decode: keep the SPM prefix space of the first token */

/* The growable token id array (the one every module and tool appends to);
 * zero-initialise, release with bn_tokens_free. Appending grows the capacity
 * by doubling; on failure (BN_ENOMEM, err may be NULL) v is unchanged. */
typedef struct {
    int32_t *ids; /* (n) */
    size_t n, cap;
} bn_tokens;
void bn_tokens_free(bn_tokens *v);
bn_status bn_tokens_append(bn_tokens *v, const int32_t *ids, size_t n, bn_error *err);
bn_status bn_tokens_push(bn_tokens *v, int32_t id, bn_error *err);

/* Append the ids of text[0, len) to out. Fails on allocation, limits (1 GiB
 * per call; 700 MB per SPM fragment), or an SPM byte that has neither a byte
 * token nor UNK to fall back to. */
bn_status bn_tokenizer_encode(const bn_tokenizer *t, const char *text, size_t len,
                              unsigned flags, bn_tokens *out, bn_error *err);

/* Bytes of one token as text (SPM spaces and <0xNN> resolved, BPE byte map
 * reversed). Writes at most cap bytes; returns the full length (like
 * snprintf, without a NUL), or -1 for an out-of-range id. flags:
 * BN_TOK_RENDER_SPECIAL. */
long bn_tokenizer_piece(const bn_tokenizer *t, int32_t id, unsigned flags, char *buf,
                        size_t cap);

/* Decode ids into a malloc'd, NUL-terminated buffer (*len excludes the NUL).
 * A leading BOS is skipped; with an SPM space prefix, the first token's
 * leading space is removed (unless BN_TOK_KEEP_SPACE), so that
 * decode(encode(s)) == s (llama.cpp keeps that space when a BOS precedes).
 * Out-of-range ids are an error naming the index. */
bn_status bn_tokenizer_decode(const bn_tokenizer *t, const int32_t *ids, size_t n,
                              unsigned flags, char **out, size_t *len, bn_error *err);

/* Streaming detokenizer: feed pieces (e.g. one token at a time); emits only
 * complete UTF-8 characters. A sequence cut between tokens is held back (at
 * most 3 bytes); bytes that can never start or continue a valid character
 * are emitted as U+FFFD, as is an incomplete sequence at flush. */
typedef struct {
    unsigned char pend[4]; /* bytes of an incomplete character */
    int n_pend;
} bn_tok_stream;
void bn_tok_stream_init(bn_tok_stream *s);
/* Writes at most 3 * (len + 4) bytes into out (the caller provides that
 * room); returns the number written. */
size_t bn_tok_stream_feed(bn_tok_stream *s, const char *piece, size_t len, char *out);
/* Emit what is left (U+FFFD for an incomplete character); out needs 3 bytes.
 * Returns bytes written. */
size_t bn_tok_stream_flush(bn_tok_stream *s, char *out);
/* s[0..len) as one whole piece through a fresh stream (feed, then flush): a
 * malloc'd, NUL-terminated string of valid UTF-8, each byte that does not
 * decode turned into U+FFFD (a JSON string, say, must hold valid UTF-8), its
 * length in *out_len when not NULL. NULL when out of memory. */
char *bn_tok_utf8_copy(const char *s, size_t len, size_t *out_len);

/* llama.cpp's test-tokenizer-0 protocol: inp_path holds strings, each
 * followed by "\n__ggml_vocab_test__\n"; out_path one line of
 * whitespace-separated ids per string. Each string is encoded without BOS
 * and without special parsing. on_mismatch (may be NULL) is called for each
 * string whose ids differ; *n_strings and *n_bad get the counts. Fails
 * (BN_EINVAL naming the file and line) when out_path has a malformed line or
 * fewer lines than inp_path has strings, and when inp_path holds no string at
 * all (zero strings tested is not a pass). */
typedef void (*bn_vocab_test_fn)(void *ctx, size_t index, const char *text, size_t len,
                                 const int32_t *want, size_t n_want, const int32_t *got,
                                 size_t n_got);
bn_status bn_tokenizer_vocab_test(const bn_tokenizer *t, const char *inp_path,
                                  const char *out_path, bn_vocab_test_fn on_mismatch, void *ctx,
                                  size_t *n_strings, size_t *n_bad, bn_error *err);
/* The same with encode flags for every string (BN_TOK_PARSE_SPECIAL: control
 * tokens written in the text are matched, as Hugging Face encodes by default). */
bn_status bn_tokenizer_vocab_test_flags(const bn_tokenizer *t, const char *inp_path,
                                        const char *out_path, unsigned flags,
                                        bn_vocab_test_fn on_mismatch, void *ctx, size_t *n_strings,
                                        size_t *n_bad, bn_error *err);

#pragma GCC visibility pop /* end of the exported API */

#endif
