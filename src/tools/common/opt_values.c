/* opt_values.c - option values several tools share, checked by the library
 * (opt.h); the library's message is the one the user sees. */
#include <stdio.h>

#include "bn/chat.h"
#include "bn/gguf.h"
#include "bn/kernels.h"
#include "bn/model.h"
#include "opt.h"

static int refuse(const bn_error *e, char *msg, size_t cap)
{
    snprintf(msg, cap, "%s", e->msg);
    return -1;
}

int bn_opt_actq(const char *v, void *p, char *msg, size_t cap)
{
    bn_error e;
    return bn_actq_parse(v, p, &e) ? refuse(&e, msg, cap) : 0;
}

int bn_opt_chat_template(const char *v, void *p, char *msg, size_t cap)
{
    bn_error e;
    bn_chat_tpl t;
    if (bn_chat_tpl_parse(v, &t, &e))
        return refuse(&e, msg, cap);
    *(const char **)p = v;
    return 0;
}

int bn_opt_kernel(const char *v, void *p, char *msg, size_t cap)
{
    bn_error e;
    const bn_kernel *k;
    if (bn_kernel_get(v, &k, &e))
        return refuse(&e, msg, cap);
    *(const char **)p = v;
    return 0;
}

int bn_opt_type(const char *v, void *p, char *msg, size_t cap)
{
    if (bn_type_from_name(v, p) != 0) {
        snprintf(msg, cap, "unknown type '%s'", v);
        return -1;
    }
    return 0;
}
