/*
 * tokenizer_decode.c - ids back to text (llama.cpp's token_to_piece and
 * detokenize), and the streaming UTF-8 assembler for token-by-token output.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/tokenizer_internal.h"
#include "runtime/unicode.h"
#include "util/utf8.h"

/* Copy src into buf as far as cap allows; returns n (snprintf-like). */
static long put(char *buf, size_t cap, size_t at, const char *src, size_t n)
{
    if (at < cap)
        memcpy(buf + at, src, n < cap - at ? n : cap - at);
    return (long)n;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

long bn_tokenizer_piece(const bn_tokenizer *t, int32_t id, unsigned flags, char *buf, size_t cap)
{
    if (id < 0 || (uint32_t)id >= t->n_tokens)
        return -1;
    const char *s = t->blob + t->tok_off[id];
    size_t n = t->tok_len[id];
    int ty = t->types[id];
    if (ty == BN_TOKTYPE_CONTROL || ty == BN_TOKTYPE_UNKNOWN)
        return (flags & BN_TOK_RENDER_SPECIAL) ? put(buf, cap, 0, s, n) : 0;
    if (ty == BN_TOKTYPE_USER_DEFINED)
        return put(buf, cap, 0, s, n);
    if (t->model == BN_TOKMODEL_SPM) {
        if (ty == BN_TOKTYPE_BYTE) {
            /* "<0xNN>" */
            if (n == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>' && hexval(s[3]) >= 0 &&
                hexval(s[4]) >= 0) {
                char b = (char)(hexval(s[3]) * 16 + hexval(s[4]));
                return put(buf, cap, 0, &b, 1);
            }
            return put(buf, cap, 0, s, n);
        }
        if (ty != BN_TOKTYPE_NORMAL)
            return 0;
        /* U+2581 -> ' ' */
        size_t o = 0;
        for (size_t i = 0; i < n;) {
            if (n - i >= 3 && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
                put(buf, cap, o++, " ", 1);
                i += 3;
            } else {
                put(buf, cap, o++, s + i, 1);
                i++;
            }
        }
        return (long)o;
    }
    if (ty != BN_TOKTYPE_NORMAL)
        return 0;
    /* BPE: each GPT-2 character back to its byte; characters outside the
     * map (malformed vocabularies) are copied as they are. */
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = bnr_utf8_decode((const unsigned char *)s + i, n - i, &cp);
        int b = bnr_gpt2_cp_byte(cp);
        if (b >= 0) {
            char c = (char)b;
            put(buf, cap, o++, &c, 1);
        } else {
            put(buf, cap, o, s + i, l);
            o += l;
        }
        i += l;
    }
    return (long)o;
}

bn_status bn_tokenizer_decode(const bn_tokenizer *t, const int32_t *ids, size_t n,
                              unsigned flags, char **out, size_t *len, bn_error *err)
{
    *out = NULL;
    *len = 0;
    size_t start = 0;
    int strip = t->model == BN_TOKMODEL_SPM && t->add_space_prefix && !(flags & BN_TOK_KEEP_SPACE);
    if (n > 0 && t->bos >= 0 && ids[0] == t->bos) {
        start = 1; /* the prefix space, if any, follows BOS in the text */
    }
    size_t total = 0;
    for (size_t i = start; i < n; i++) {
        long l = bn_tokenizer_piece(t, ids[i], flags, NULL, 0);
        if (l < 0)
            return bn_error_set(err, BN_EINVAL, "decode: id %d at index %zu is out of range for %u tokens",
                                ids[i], i, t->n_tokens);
        if (total > SIZE_MAX - (size_t)l - 1)
            return bn_error_set(err, BN_ELIMIT, "decode: text too long");
        total += (size_t)l;
    }
    char *buf = malloc(total + 1);
    if (!buf)
        return bn_error_set(err, BN_ENOMEM, "decode: out of memory for %zu bytes", total + 1);
    size_t o = 0;
    for (size_t i = start; i < n; i++) {
        long l = bn_tokenizer_piece(t, ids[i], flags, buf + o, total - o);
        /* llama.cpp strips one leading space of the first piece only. */
        if (strip && i == start && l > 0 && buf[o] == ' ') {
            memmove(buf + o, buf + o + 1, (size_t)l - 1);
            l--;
        }
        o += (size_t)l;
    }
    buf[o] = '\0';
    *out = buf;
    *len = o;
    return BN_OK;
}

/* ---- streaming ------------------------------------------------------------- */

void bn_tok_stream_init(bn_tok_stream *s)
{
    s->n_pend = 0;
}

static const char REPL[3] = {'\xEF', '\xBF', '\xBD'}; /* U+FFFD */

size_t bn_tok_stream_feed(bn_tok_stream *s, const char *piece, size_t len, char *out)
{
    size_t o = 0;
    /* Work on pending bytes + piece as one stream, a byte at a time. */
    unsigned char win[8];
    size_t i = 0;
    while (i < len || s->n_pend > 0) {
        /* Fill the window: pending bytes first, then up to 4 from the piece. */
        size_t w = 0;
        for (int k = 0; k < s->n_pend; k++)
            win[w++] = s->pend[k];
        size_t from_piece = 0;
        while (w < 4 && i + from_piece < len)
            win[w++] = (unsigned char)piece[i + from_piece++];
        if (w == 0)
            break;
        int r = bnu_utf8_char(win, w);
        if (r == 0) {
            /* Incomplete but possibly valid: keep everything for the next piece. */
            for (size_t k = 0; k < w; k++)
                s->pend[k] = win[k];
            s->n_pend = (int)w; /* w < 4 here, so the piece is used up */
            break;
        }
        size_t used = r > 0 ? (size_t)r : 1;
        if (r > 0) {
            memcpy(out + o, win, used);
            o += used;
        } else {
            memcpy(out + o, REPL, 3);
            o += 3;
        }
        /* Consume `used` bytes: from pending first, then from the piece. */
        int np = s->n_pend;
        if ((int)used <= np) {
            memmove(s->pend, s->pend + used, (size_t)np - used);
            s->n_pend = np - (int)used;
        } else {
            i += used - (size_t)np;
            s->n_pend = 0;
        }
    }
    return o;
}

size_t bn_tok_stream_flush(bn_tok_stream *s, char *out)
{
    if (s->n_pend == 0)
        return 0;
    s->n_pend = 0;
    memcpy(out, REPL, 3);
    return 3;
}

char *bn_tok_utf8_copy(const char *s, size_t len, size_t *out_len)
{
    if (len > (SIZE_MAX - 16) / 3)
        return NULL;
    char *out = malloc(3 * (len + 4) + 4); /* feed's bound, then flush's 3, then the NUL */
    if (!out)
        return NULL;
    bn_tok_stream st;
    bn_tok_stream_init(&st);
    size_t o = bn_tok_stream_feed(&st, s, len, out);
    o += bn_tok_stream_flush(&st, out + o);
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    return out;
}
