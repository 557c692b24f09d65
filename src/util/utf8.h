/*
 * utf8.h - (internal) the one strict UTF-8 validator (RFC 3629: no overlong
 * forms, no surrogates U+D800..U+DFFF, nothing above U+10FFFF). Every module
 * that must refuse or escape invalid text uses it: the GGUF formatter, the
 * checkpoint readers, generation's text pieces, the server's JSON strings,
 * the tokenizer's byte fallback. (The tokenizers' lenient decoder, which never
 * fails, is a different thing: src/runtime/unicode.h.)
 */
#ifndef BN_UTIL_UTF8_H
#define BN_UTIL_UTF8_H

#include <stddef.h>

/* The character at s[0, n), n >= 1: its length in bytes (1..4) when valid,
 * 0 when s[0, n) is a valid but incomplete prefix of one (more bytes may
 * complete it), -1 when s[0] cannot start a valid character given the bytes
 * that follow. */
int bnu_utf8_char(const unsigned char *s, size_t n);

/* The length of the longest prefix of s[0, n) made of complete valid
 * characters: n when all of it is valid UTF-8, else the offset of the first
 * byte that starts an invalid or truncated character. */
size_t bnu_utf8_valid_prefix(const void *s, size_t n);

#endif
