/*
 * unicode.h - the little Unicode the tokenizers need: UTF-8 decoding that
 * never fails, and one class per code point for the pre-tokenizer regexes.
 *
 * Classes come from a two-stage table generated from the Unicode Character
 * Database by scripts/gen_unicode_tables.py (src/runtime/unicode_tables.c):
 * whitespace is the White_Space property (llama.cpp's \s), letter is \p{L},
 * number \p{N}, punctuation \p{P}; unassigned code points are "other".
 */
#ifndef BN_RUNTIME_UNICODE_H
#define BN_RUNTIME_UNICODE_H

#include <stddef.h>
#include <stdint.h>

enum {
    BN_UC_OTHER = 0,
    BN_UC_LETTER = 1,
    BN_UC_NUMBER = 2,
    BN_UC_SPACE = 3,
    BN_UC_PUNCT = 4
};

/* A byte that does not start a valid UTF-8 sequence decodes to
 * BN_UC_INVALID_BASE + byte: never a real code point, class "other". */
#define BN_UC_INVALID_BASE 0x110000u

extern const uint16_t bnr_uc_stage1[]; /* (0x110000 / 128) block numbers */
extern const uint8_t bnr_uc_stage2[];  /* (n_blocks * 128) classes */

static inline int bn_uc_class(uint32_t cp)
{
    if (cp >= 0x110000u)
        return BN_UC_OTHER;
    return bnr_uc_stage2[(size_t)bnr_uc_stage1[cp >> 7] * 128 + (cp & 127)];
}

/* Decode the character at s[0, n) (n >= 1) into *cp; returns its length in
 * bytes (1..4). Lead and continuation bytes are checked as llama.cpp does
 * (so overlong forms are accepted); a byte that cannot start a complete
 * sequence is returned alone as BN_UC_INVALID_BASE + byte. */
size_t bnr_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* Encode cp (< 0x110000) into out; returns the length (1..4). */
size_t bnr_utf8_encode(uint32_t cp, char out[4]);

/* Strict validation (what text must be to be accepted) is util's:
 * src/util/utf8.h. */

#endif
