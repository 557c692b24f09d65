/* error.c - the bn_error message buffer; see include/bn/error.h. */
#include "bn/error.h"

#include <stdio.h>
#include <string.h>

/* Messages quote names and values taken from input files (tensor names from
 * a JSON header, strings from a pickle, records from a zip), which may hold
 * newlines or terminal escapes. The contract is one line of text, so every
 * control byte of the formatted message is written as \n, \r, \t or \xNN
 * (cut at the buffer's end like any long message). */
static void one_line(char *msg, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strnlen(msg, cap - 1), i = 0;
    while (i < n && (unsigned char)msg[i] >= 0x20 && msg[i] != 0x7f)
        i++;
    if (i == n)
        return;
    char src[BN_ERROR_MSG_MAX];
    memcpy(src, msg, n);
    size_t o = i;
    for (; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        char esc[4];
        size_t k = 0;
        if (c == '\n' || c == '\r' || c == '\t') {
            esc[k++] = '\\';
            esc[k++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        } else if (c < 0x20 || c == 0x7f) {
            esc[k++] = '\\';
            esc[k++] = 'x';
            esc[k++] = hex[c >> 4];
            esc[k++] = hex[c & 15];
        } else {
            esc[k++] = (char)c;
        }
        if (o + k > cap - 1)
            break;
        memcpy(msg + o, esc, k);
        o += k;
    }
    msg[o] = '\0';
}

bn_status bn_error_vset(bn_error *err, bn_status code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        one_line(err->msg, sizeof err->msg);
    }
    return code;
}

bn_status bn_error_set(bn_error *err, bn_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bn_error_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

bn_status bn_error_prefix(bn_error *err, const char *fmt, ...)
{
    if (!err)
        return BN_OK;
    char old[BN_ERROR_MSG_MAX];
    memcpy(old, err->msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    /* One prefix, once: when the message already starts with the context, or
     * with its leading "FILE: " part (added by the layer below), that part is not
     * repeated: "m.gguf: tensor 'x'" + "m.gguf: bad" -> "m.gguf: tensor 'x': bad". */
    size_t skip = 0;
    for (size_t k = 1; n > 0 && k <= (size_t)n && k + 1 < sizeof old; k++) {
        int boundary = k == (size_t)n || (err->msg[k] == ':' && err->msg[k + 1] == ' ');
        if (boundary && old[k] == ':' && old[k + 1] == ' ' && !strncmp(old, err->msg, k))
            skip = k + 2;
    }
    if (skip == (size_t)n + 2) {
        memcpy(err->msg, old, sizeof old);
        return err->code;
    }
    memmove(old, old + skip, sizeof old - skip);
    if (n >= 0 && (size_t)n < sizeof err->msg) {
        size_t used = (size_t)n;
        size_t room = sizeof err->msg - used;
        size_t oldlen = strnlen(old, sizeof old - 1);
        if (room > 2) {
            memcpy(err->msg + used, ": ", 2);
            used += 2;
            room -= 2;
            size_t k = oldlen < room - 1 ? oldlen : room - 1;
            memcpy(err->msg + used, old, k);
            err->msg[used + k] = '\0';
        }
    }
    one_line(err->msg, sizeof err->msg);
    return err->code;
}

void bn_error_clear(bn_error *err)
{
    if (err) {
        err->code = BN_OK;
        err->msg[0] = '\0';
    }
}

const char *bn_status_name(bn_status s)
{
    switch (s) {
    case BN_OK: return "ok";
    case BN_EINVAL: return "invalid input";
    case BN_EUNSUPPORTED: return "unsupported";
    case BN_ELIMIT: return "limit exceeded";
    case BN_ENOTFOUND: return "not found";
    case BN_ETYPE: return "wrong type";
    case BN_EIO: return "I/O error";
    case BN_ENOMEM: return "out of memory";
    case BN_EINTR: return "interrupted";
    case BN_EINTERNAL: return "internal error";
    }
    return "unknown status";
}

int bn_status_exit_code(bn_status s)
{
    switch (s) {
    case BN_OK: return 0;
    case BN_EIO:
    case BN_ENOMEM:
    case BN_EINTR:
    case BN_EINTERNAL: return 3;
    default: return 2;
    }
}
