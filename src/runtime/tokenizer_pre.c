/*
 * tokenizer_pre.c - BPE pre-tokenizers: hand-written matchers for exactly the
 * regexes llama.cpp uses (no regex engine), over code point classes from the
 * generated Unicode table, plus GPT-2's byte <-> unicode map.
 *
 * Llama-3:  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *           ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * GPT-2:    's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * default:  four regexes applied in turn, each splitting the pieces of the
 *           previous one (unmatched stretches stay pieces of their own):
 *           [\p{P}\$\+<=>\^~\|]+  then GPT-2  then \p{N}+  then [0-9][0-9][0-9]
 *
 * The text is decoded once into code points; matchers work on code point
 * index ranges [ini, end) and report word ends. Invalid UTF-8 bytes are code
 * points of class "other" (llama.cpp turns them into U+FFFD, also "other").
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/tokenizer_internal.h"
#include "runtime/unicode.h"

/* ---- GPT-2 byte map ----------------------------------------------------- */

static int gpt2_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

/* The 68 other bytes take 256, 257, ... in byte order: 0x00-0x20 (33 of them),
 * 0x7F-0xA0 (34), then 0xAD. */
uint32_t bnr_gpt2_byte_cp(unsigned char b)
{
    if (gpt2_printable(b))
        return b;
    if (b <= 0x20)
        return 256u + b;
    if (b <= 0xA0)
        return 256u + 33u + (b - 0x7Fu);
    return 256u + 67u; /* 0xAD */
}

int bnr_gpt2_cp_byte(uint32_t cp)
{
    if (cp < 256)
        return gpt2_printable(cp) ? (int)cp : -1;
    if (cp < 256 + 33)
        return (int)(cp - 256);
    if (cp < 256 + 67)
        return (int)(0x7F + cp - 256 - 33);
    if (cp == 256 + 67)
        return 0xAD;
    return -1;
}

/* ---- splitting machinery ------------------------------------------------ */

typedef struct {
    const char *text;
    const uint32_t *cps;   /* (n_cps) code points */
    const uint32_t *offs;  /* (n_cps + 1) byte offset of each code point */
    const uint8_t *cls;    /* (n_cps) BN_UC_* class */
    bn_tok_pre pre;
    bn_word_fn fn;
    void *ctx;
    int stop;              /* callback's non-zero return */
} splitter;

#define OUT (-1) /* class of a position outside the current range */

typedef struct {
    splitter *sp;
    size_t ini, end, prev; /* range, and end of the last word */
    int stage;
} range;

static void stage_run(splitter *sp, int stage, size_t ini, size_t end);

static void emit(range *r, size_t pos)
{
    if (pos > r->prev && !r->sp->stop)
        stage_run(r->sp, r->stage + 1, r->prev, pos);
    r->prev = pos;
}

static int cls_at(const range *r, size_t pos)
{
    return pos >= r->ini && pos < r->end ? r->sp->cls[pos] : OUT;
}

static uint32_t cp_at(const range *r, size_t pos)
{
    return pos >= r->ini && pos < r->end ? r->sp->cps[pos] : 0xFFFFFFFFu;
}

/* [^\s\p{L}\p{N}] inside the range */
static int is_other(int c)
{
    return c == BN_UC_OTHER || c == BN_UC_PUNCT;
}

static uint32_t ascii_lower(uint32_t c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* 's 't 're 've 'm 'll 'd at pos: length matched (0 if none). */
static size_t match_contraction(const range *r, size_t pos, int icase)
{
    if (cp_at(r, pos) != '\'' || pos + 1 >= r->end)
        return 0;
    uint32_t a = cp_at(r, pos + 1);
    if (icase)
        a = ascii_lower(a);
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return 2;
    if (pos + 2 >= r->end)
        return 0;
    uint32_t b = cp_at(r, pos + 2);
    if (icase)
        b = ascii_lower(b);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return 3;
    return 0;
}

/* The shared tail of both regexes: \s+(?!\S) | \s+ (and, for Llama-3,
 * \s*[\r\n]+ first). Returns the end of the word starting at pos. */
static size_t match_spaces(const range *r, size_t pos, int crlf)
{
    size_t n = 0, last_crlf = 0;
    while (cls_at(r, pos + n) == BN_UC_SPACE) {
        uint32_t c = cp_at(r, pos + n);
        if (c == '\r' || c == '\n')
            last_crlf = pos + n + 1;
        n++;
    }
    if (crlf && last_crlf > 0)
        return last_crlf;
    /* A run followed by a non-space leaves its last space to the next word. */
    if (n > 1 && pos + n < r->end)
        return pos + n - 1;
    if (n > 0)
        return pos + n;
    return pos + 1; /* no alternative matched: the character is a word alone */
}

static void split_gpt2(range *r)
{
    size_t pos = r->ini;
    while (pos < r->end) {
        size_t m = match_contraction(r, pos, 0);
        if (m) {
            pos += m;
            emit(r, pos);
            continue;
        }
        uint32_t c = cp_at(r, pos);
        int sp = c == ' ';
        int f = cls_at(r, pos + (size_t)sp);
        if (f == BN_UC_LETTER || f == BN_UC_NUMBER || is_other(f)) {
            pos += (size_t)sp;
            if (is_other(f))
                while (is_other(cls_at(r, pos)))
                    pos++;
            else
                while (cls_at(r, pos) == f)
                    pos++;
            emit(r, pos);
            continue;
        }
        pos = match_spaces(r, pos, 0);
        emit(r, pos);
    }
}

static void split_llama3(range *r)
{
    size_t pos = r->ini;
    while (pos < r->end) {
        size_t m = match_contraction(r, pos, 1);
        if (m) {
            pos += m;
            emit(r, pos);
            continue;
        }
        uint32_t c = cp_at(r, pos);
        int f = cls_at(r, pos);
        /* [^\r\n\p{L}\p{N}]?\p{L}+ */
        if (!(c == '\r' || c == '\n' || f == BN_UC_NUMBER) &&
            (f == BN_UC_LETTER || cls_at(r, pos + 1) == BN_UC_LETTER)) {
            pos++;
            while (cls_at(r, pos) == BN_UC_LETTER)
                pos++;
            emit(r, pos);
            continue;
        }
        /* \p{N}{1,3} */
        if (f == BN_UC_NUMBER) {
            size_t start = pos;
            while (cls_at(r, pos) == BN_UC_NUMBER) {
                pos++;
                if (pos - start == 3) {
                    emit(r, pos);
                    start = pos;
                }
            }
            emit(r, pos);
            continue;
        }
        /* ' ?[^\s\p{L}\p{N}]+[\r\n]*' */
        int sp = c == ' ';
        if (is_other(cls_at(r, pos + (size_t)sp))) {
            pos += (size_t)sp;
            while (is_other(cls_at(r, pos)))
                pos++;
            while (cp_at(r, pos) == '\r' || cp_at(r, pos) == '\n')
                pos++;
            emit(r, pos);
            continue;
        }
        pos = match_spaces(r, pos, 1);
        emit(r, pos);
    }
}

/* Emit maximal runs of positions where pred holds, and the stretches between. */
static void split_runs(range *r, int (*pred)(const range *, size_t))
{
    size_t pos = r->ini;
    while (pos < r->end) {
        int in = pred(r, pos);
        while (pos < r->end && pred(r, pos) == in)
            pos++;
        emit(r, pos);
    }
}

static int pred_punct(const range *r, size_t pos)
{
    uint32_t c = r->sp->cps[pos];
    return r->sp->cls[pos] == BN_UC_PUNCT ||
           (c < 0x80 && c && strchr("$+<=>^~|", (int)c) != NULL);
}

static int pred_number(const range *r, size_t pos)
{
    return r->sp->cls[pos] == BN_UC_NUMBER;
}

static int is_digit_at(const range *r, size_t pos)
{
    uint32_t c = cp_at(r, pos);
    return c >= '0' && c <= '9';
}

/* [0-9][0-9][0-9]: non-overlapping triples, leftmost first. */
static void split_digits3(range *r)
{
    size_t pos = r->ini;
    while (pos + 3 <= r->end) {
        if (is_digit_at(r, pos) && is_digit_at(r, pos + 1) && is_digit_at(r, pos + 2)) {
            emit(r, pos);
            pos += 3;
            emit(r, pos);
        } else {
            pos++;
        }
    }
    emit(r, r->end);
}

/* Stage numbering: the last stage of each pre-tokenizer hands words out. */
static void stage_run(splitter *sp, int stage, size_t ini, size_t end)
{
    range r = {sp, ini, end, ini, stage};
    int last;
    switch (sp->pre) {
    case BN_TOKPRE_LLAMA3:
        last = 1;
        if (stage == 0)
            split_llama3(&r);
        break;
    case BN_TOKPRE_GPT2:
        last = 1;
        if (stage == 0)
            split_gpt2(&r);
        break;
    default:
        last = 4;
        if (stage == 0)
            split_runs(&r, pred_punct);
        else if (stage == 1)
            split_gpt2(&r);
        else if (stage == 2)
            split_runs(&r, pred_number);
        else if (stage == 3)
            split_digits3(&r);
        break;
    }
    if (stage == last && !sp->stop) {
        size_t b = sp->offs[ini], e = sp->offs[end];
        sp->stop = sp->fn(sp->ctx, sp->text + b, e - b);
    }
}

int bnr_pretok_split(bn_tok_pre pre, const char *text, size_t len, bn_word_fn fn, void *ctx)
{
    if (len == 0)
        return 0;
    /* At most one code point per byte. */
    uint32_t *cps = malloc(len * sizeof *cps);
    uint32_t *offs = malloc((len + 1) * sizeof *offs);
    uint8_t *cls = malloc(len);
    if (!cps || !offs || !cls) {
        free(cps);
        free(offs);
        free(cls);
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t l = bnr_utf8_decode((const unsigned char *)text + i, len - i, &cp);
        cps[n] = cp;
        offs[n] = (uint32_t)i;
        cls[n] = (uint8_t)bn_uc_class(cp);
        n++;
        i += l;
    }
    offs[n] = (uint32_t)len;
    splitter sp = {text, cps, offs, cls, pre, fn, ctx, 0};
    stage_run(&sp, 0, 0, n);
    free(cps);
    free(offs);
    free(cls);
    return sp.stop;
}
