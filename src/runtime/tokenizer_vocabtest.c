/* tokenizer_vocabtest.c - llama.cpp's test-tokenizer-0 conformance protocol
 * (see bn_tokenizer_vocab_test in bn/tokenizer.h). */
#include <stdlib.h>
#include <string.h>

#include "bn/tokenizer.h"
#include "bn/util.h"

#define MAX_FILE ((size_t)1 << 30)
static const char SEP[] = "\n__ggml_vocab_test__\n";

/* Parse one line of ids into v. */
static bn_status parse_ids(const char *line, size_t len, bn_tokens *v, const char *path,
                           size_t lineno, bn_error *err)
{
    v->n = 0;
    size_t i = 0;
    for (;;) {
        while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
            i++;
        if (i == len)
            return BN_OK;
        size_t start = i;
        int64_t x = 0;
        while (i < len && line[i] >= '0' && line[i] <= '9' && x <= INT32_MAX)
            x = x * 10 + (line[i++] - '0');
        if (i == start || x > INT32_MAX || (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != '\r')) {
            size_t end = start;
            while (end < len && end - start < 20 && line[end] != ' ' && line[end] != '\t' && line[end] != '\r')
                end++;
            return bn_error_set(err, BN_EINVAL, "%s:%zu: '%.*s' is not a token id", path, lineno,
                                (int)(end - start), line + start);
        }
        bn_status st = bn_tokens_push(v, (int32_t)x, err);
        if (st)
            return st;
    }
}

bn_status bn_tokenizer_vocab_test(const bn_tokenizer *t, const char *inp_path,
                                  const char *out_path, bn_vocab_test_fn on_mismatch, void *ctx,
                                  size_t *n_strings, size_t *n_bad, bn_error *err)
{
    return bn_tokenizer_vocab_test_flags(t, inp_path, out_path, 0, on_mismatch, ctx, n_strings, n_bad,
                                         err);
}

bn_status bn_tokenizer_vocab_test_flags(const bn_tokenizer *t, const char *inp_path,
                                        const char *out_path, unsigned flags,
                                        bn_vocab_test_fn on_mismatch, void *ctx, size_t *n_strings,
                                        size_t *n_bad, bn_error *err)
{
    *n_strings = *n_bad = 0;
    char *inp = NULL, *exp = NULL;
    size_t inp_len, exp_len;
    bn_status st = bn_read_file(inp_path, MAX_FILE, &inp, &inp_len, err);
    if (st == BN_OK)
        st = bn_read_file(out_path, MAX_FILE, &exp, &exp_len, err);
    bn_tokens want = {0}, got = {0};
    size_t sep_len = sizeof SEP - 1, pos = 0, epos = 0, lineno = 0;
    while (st == BN_OK) {
        /* The next string ends at the next separator; bytes after the last one are ignored. */
        size_t end = pos;
        while (end + sep_len <= inp_len && memcmp(inp + end, SEP, sep_len) != 0)
            end++;
        if (end + sep_len > inp_len)
            break;
        if (epos >= exp_len) {
            st = bn_error_set(err, BN_EINVAL, "%s: no line for string %zu of %s", out_path,
                              *n_strings + 1, inp_path);
            break;
        }
        const char *nl = memchr(exp + epos, '\n', exp_len - epos);
        size_t llen = nl ? (size_t)(nl - (exp + epos)) : exp_len - epos;
        lineno++;
        if ((st = parse_ids(exp + epos, llen, &want, out_path, lineno, err)) != BN_OK)
            break;
        epos += llen + (nl != NULL);
        got.n = 0;
        if ((st = bn_tokenizer_encode(t, inp + pos, end - pos, flags, &got, err)) != BN_OK)
            break;
        if (got.n != want.n || (got.n && memcmp(got.ids, want.ids, got.n * sizeof *got.ids) != 0)) {
            (*n_bad)++;
            if (on_mismatch)
                on_mismatch(ctx, *n_strings, inp + pos, end - pos, want.ids, want.n, got.ids, got.n);
        }
        (*n_strings)++;
        pos = end + sep_len;
    }
    /* "0/0 strings match" is not a pass: an input without one separated string
     * (empty, truncated, or not a vocab-test file) tested nothing. */
    if (st == BN_OK && *n_strings == 0)
        st = bn_error_set(err, BN_EINVAL, "%s: no string ends with the separator "
                          "\"\\n__ggml_vocab_test__\\n\"; nothing to test", inp_path);
    bn_tokens_free(&want);
    bn_tokens_free(&got);
    free(inp);
    free(exp);
    return st;
}
