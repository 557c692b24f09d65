/* error.c - the bn_error message buffer; see include/bn/error.h. */
#include "bn/error.h"

#include <stdio.h>
#include <string.h>

bn_status bn_error_vset(bn_error *err, bn_status code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
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
    case BN_EINTERNAL: return 1;
    default: return 2;
    }
}
