/* utf8.c - strict UTF-8 validation; see utf8.h. */
#include "util/utf8.h"

int bnu_utf8_char(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    /* The second-byte ranges exclude overlongs (E0 80..9F, F0 80..8F),
     * surrogates (ED A0..BF) and code points above U+10FFFF (F4 90..BF);
     * C0, C1 and F5..FF never start a character. */
    unsigned char lo = 0x80, hi = 0xBF;
    int len;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else
        return -1;
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n)
            return 0;
        unsigned char b = s[i];
        if (i == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80)
            return -1;
    }
    return len;
}

size_t bnu_utf8_valid_prefix(const void *s, size_t n)
{
    const unsigned char *u = s;
    size_t i = 0;
    while (i < n) {
        int k = bnu_utf8_char(u + i, n - i);
        if (k <= 0)
            return i;
        i += (size_t)k;
    }
    return n;
}
