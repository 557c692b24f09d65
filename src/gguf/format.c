/* format.c - one-line display of GGUF strings and KV values (bn-info, error
 * messages). See gguf.h "display". */
#include "bn/gguf.h"
#include "gguf/internal.h"
#include "util/utf8.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* A bounded output buffer that cuts at a piece boundary (a character or an
 * escape, never inside one) and then ends with "...". With f set, pieces go
 * to f instead, without a bound (bn_gguf_print_value). */
typedef struct {
    FILE *f;
    char *buf;
    size_t cap;      /* >= 4, or the buffer stays empty */
    size_t len;
    size_t marks[8]; /* ring of recent piece starts, for cutting cleanly */
    unsigned n_marks;
    int cut;
} outbuf;

static void ob_init(outbuf *o, char *buf, size_t cap)
{
    memset(o, 0, sizeof *o);
    o->buf = buf;
    o->cap = cap;
    if (cap < 4) { /* too small for any text and "...": give an empty string */
        if (cap)
            buf[0] = '\0';
        o->cut = 1;
        return;
    }
    buf[0] = '\0';
}

/* Append one indivisible piece. */
static void ob_piece(outbuf *o, const char *p, size_t n)
{
    if (o->f) {
        fwrite(p, 1, n, o->f);
        return;
    }
    if (o->cut)
        return;
    if (n <= o->cap - 1 - o->len) {
        o->marks[o->n_marks++ % 8] = o->len;
        memcpy(o->buf + o->len, p, n);
        o->len += n;
        o->buf[o->len] = '\0';
        return;
    }
    /* Cut at the latest piece start that leaves room for "...". */
    size_t at = 0;
    unsigned k = o->n_marks < 8 ? o->n_marks : 8;
    for (unsigned i = 0; i < k; i++) {
        size_t m = o->marks[(o->n_marks - 1 - i) % 8];
        if (m + 4 <= o->cap && m > at)
            at = m;
    }
    if (o->len + 4 <= o->cap)
        at = o->len;
    memcpy(o->buf + at, "...", 4);
    o->len = at + 3;
    o->cut = 1;
}

/* Append text made of single-byte pieces (ASCII we produced ourselves). */
static void ob_text(outbuf *o, const char *s)
{
    for (; *s && !o->cut; s++)
        ob_piece(o, s, 1);
}

static void ob_escaped(outbuf *o, const char *str, uint64_t len)
{
    const uint8_t *s = (const uint8_t *)str;
    for (uint64_t i = 0; i < len && !o->cut;) {
        uint8_t c = s[i];
        char tmp[8];
        int u;
        if (c == '"' || c == '\\') {
            tmp[0] = '\\', tmp[1] = (char)c;
            ob_piece(o, tmp, 2);
        } else if (c == '\n' || c == '\r' || c == '\t') {
            tmp[0] = '\\', tmp[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            ob_piece(o, tmp, 2);
        } else if (c >= 0x20 && c < 0x7f) {
            ob_piece(o, (const char *)s + i, 1);
        } else if (c >= 0x80 && (u = bnu_utf8_char(s + i, (size_t)(len - i))) > 0) {
            ob_piece(o, (const char *)s + i, (size_t)u);
            i += (uint64_t)u;
            continue;
        } else {
            snprintf(tmp, sizeof tmp, "\\x%02x", c);
            ob_piece(o, tmp, 4);
        }
        i++;
    }
}

int bn_gguf_escape(const char *s, uint64_t len, char *buf, size_t cap)
{
    outbuf o;
    ob_init(&o, buf, cap);
    ob_escaped(&o, s, len);
    return len > 0 && o.cut;
}

void bn_gguf_format_scalar(bn_gguf_vtype et, const uint8_t *p, char *buf, size_t cap)
{
    uint64_t u = 0;
    size_t n = bn_gguf_vtype_size(et);
    for (size_t i = n; i-- > 0;)
        u = u << 8 | p[i];
    double d;
    switch (et) {
    case BN_GGUF_U8:
    case BN_GGUF_U16:
    case BN_GGUF_U32:
    case BN_GGUF_U64: snprintf(buf, cap, "%" PRIu64, u); break;
    case BN_GGUF_I8: snprintf(buf, cap, "%d", (int8_t)u); break;
    case BN_GGUF_I16: snprintf(buf, cap, "%d", (int16_t)u); break;
    case BN_GGUF_I32: snprintf(buf, cap, "%" PRId32, (int32_t)u); break;
    case BN_GGUF_I64: snprintf(buf, cap, "%" PRId64, (int64_t)u); break;
    case BN_GGUF_BOOL: snprintf(buf, cap, "%s", u ? "true" : "false"); break;
    case BN_GGUF_F32:
        snprintf(buf, cap, "%.9g", (double)gg_f32_of((uint32_t)u));
        break;
    case BN_GGUF_F64:
        memcpy(&d, &u, 8);
        snprintf(buf, cap, "%.17g", d);
        break;
    default: snprintf(buf, cap, "?"); break;
    }
}

/* Each string element of an abbreviated array shows at most this many bytes. */
#define ITEM_MAX 48

static void format_value(outbuf *o, const bn_gguf *g, const bn_gguf_kv *kv, uint64_t max_items)
{
    char item[ITEM_MAX + 8];
    if (kv->type == BN_GGUF_STRING) {
        bn_str s = bn_gguf_kv_str(kv);
        ob_text(o, "\"");
        ob_escaped(o, s.ptr, s.len);
        ob_text(o, "\"");
        return;
    }
    if (kv->type != BN_GGUF_ARRAY) {
        bn_gguf_format_scalar(kv->type, kv->data, item, sizeof item);
        ob_text(o, item);
        return;
    }
    snprintf(item, sizeof item, "[%" PRIu64 " x %s]", kv->arr_n,
             bn_gguf_vtype_name(kv->arr_type));
    ob_text(o, item);
    size_t es = bn_gguf_vtype_size(kv->arr_type);
    for (uint64_t i = 0; i < kv->arr_n && i < max_items && !o->cut; i++) {
        ob_text(o, i ? ", " : " ");
        if (kv->arr_type == BN_GGUF_STRING) {
            bn_str s = bn_gguf_arr_str(g, kv, i);
            bn_gguf_escape(s.ptr, s.len, item, sizeof item - 2);
            ob_text(o, "\"");
            ob_piece(o, item, strlen(item));
            ob_text(o, "\"");
        } else {
            bn_gguf_format_scalar(kv->arr_type, kv->data + i * es, item, sizeof item);
            ob_text(o, item);
        }
    }
    if (kv->arr_n > max_items)
        ob_text(o, max_items ? ", ..." : " ...");
}

void bn_gguf_format_value(const bn_gguf *g, const bn_gguf_kv *kv, uint64_t max_items, char *buf,
                          size_t cap)
{
    outbuf o;
    ob_init(&o, buf, cap);
    format_value(&o, g, kv, max_items);
}

void bn_gguf_print_value(const bn_gguf *g, const bn_gguf_kv *kv, uint64_t max_items, FILE *f)
{
    outbuf o;
    memset(&o, 0, sizeof o);
    o.f = f;
    format_value(&o, g, kv, max_items);
}
