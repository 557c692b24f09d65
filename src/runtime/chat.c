/* chat.c - chat template families: detection from a Jinja chat_template by the
 * markers llama.cpp uses, and rendering that equals the Jinja output (chat.h).
 *
 * What each family writes per message (T = content, trim(T) = Python's strip,
 * BOS/EOS/EOT = the vocabulary's texts, bn_chat_texts):
 *   bitnet   Role: trim(T) EOT                          gen "Assistant: "
 *   llama3   <|start_header_id|>role<|end_header_id|>\n\n trim(T) <|eot_id|>
 *                                                       gen header of assistant
 *   llama2   user: BOS [INST] strip(sys block + T) [/INST]   assistant: ' ' strip(T) ' ' EOS
 *            (the system message goes into the first user turn; no gen prompt)
 *   chatml   <|im_start|>role\n T <|im_end|>\n          gen <|im_start|>assistant\n
 *   phi3     <|role|>\n T <|end|>\n (empty system skipped)  gen <|assistant|>\n, else EOS
 *   falcon3  <|role|>\n T \n; assistant: <|assistant|>\n T EOS (\n unless last)
 *                                                       gen <|assistant|>\n (after a message)
 *   zephyr   <|role|>\n T EOS \n                        gen <|assistant|>\n (after a message)
 *   gemma    <start_of_turn>role\n trim(T) <end_of_turn>\n, assistant -> model,
 *            system folded into the first user turn     gen <start_of_turn>model\n
 */
#include "bn/chat.h"
#include "bn/gguf.h"
#include "bn/tokenizer.h"

#include <stdlib.h>
#include <string.h>

static const char *const NAMES[BN_CHAT_COUNT] = {"bitnet", "llama3",  "llama2", "chatml",
                                                 "phi3",   "falcon3", "zephyr", "gemma"};
#define KNOWN "bitnet, llama3, llama2, chatml, phi3, falcon3, zephyr, gemma"

const char *bn_chat_tpl_name(bn_chat_tpl t)
{
    return (unsigned)t < BN_CHAT_COUNT ? NAMES[t] : "?";
}

bn_status bn_chat_tpl_parse(const char *name, bn_chat_tpl *out, bn_error *err)
{
    for (int i = 0; i < BN_CHAT_COUNT; i++)
        if (name && !strcmp(name, NAMES[i])) {
            *out = (bn_chat_tpl)i;
            return BN_OK;
        }
    return bn_error_set(err, BN_EINVAL, "unknown chat template '%s' (known: " KNOWN ")",
                        name ? name : "");
}

/* ---- detection ---------------------------------------------------------------------- */

static int has(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (s[i] == needle[0] && !memcmp(s + i, needle, k))
            return 1;
    return 0;
}

bn_status bn_chat_detect_text(const char *t, size_t n, bn_chat_tpl *out, bn_error *err)
{
    /* The order of llama.cpp's checks: earlier markers win. Families we do not
     * render (phi4, mistral, glmedge, ...) are refused, never approximated. */
    int fam = -1;
    const char *other = NULL;
    if (has(t, n, "<|im_start|>")) {
        if (has(t, n, "<|im_sep|>"))
            other = "phi4";
        else
            fam = BN_CHAT_CHATML;
    } else if ((n >= 7 && !memcmp(t, "mistral", 7)) || has(t, n, "[INST]")) {
        if (has(t, n, "[SYSTEM_PROMPT]") || has(t, n, "' [INST] ' + system_message") ||
            has(t, n, "[AVAILABLE_TOOLS]") || (n >= 7 && !memcmp(t, "mistral", 7)))
            other = "mistral";
        else
            fam = BN_CHAT_LLAMA2;
    } else if (has(t, n, "<|assistant|>") && has(t, n, "<|end|>")) {
        fam = BN_CHAT_PHI3;
    } else if (has(t, n, "<|assistant|>") && has(t, n, "<|user|>")) {
        /* llama.cpp tells falcon3 from glmedge by "</s>"; zephyr-7b-beta writes
         * eos_token after every message, falcon3 a newline after user turns */
        if (has(t, n, "</s>") || has(t, n, "'<|user|>\\n' + message['content'] + '\\n'"))
            fam = BN_CHAT_FALCON3;
        else if (has(t, n, "<|endoftext|>") ||
                 has(t, n, "'<|user|>\\n' + message['content'] + eos_token") ||
                 has(t, n, "'<|user|>\n' + message['content'] + eos_token"))
            fam = BN_CHAT_ZEPHYR;
        else
            other = "glmedge";
    } else if (has(t, n, "<|user|>") && has(t, n, "<|endoftext|>")) {
        fam = BN_CHAT_ZEPHYR;
    } else if (has(t, n, "<start_of_turn>")) {
        fam = BN_CHAT_GEMMA;
    } else if (has(t, n, "<|start_header_id|>") && has(t, n, "<|end_header_id|>")) {
        fam = BN_CHAT_LLAMA3;
    } else if (has(t, n, "BITNET") ||
               (has(t, n, "| capitalize") && has(t, n, "Assistant: "))) {
        /* BitNet-2B-4T: "Role: text<|eot_id|>" with the role capitalized */
        fam = BN_CHAT_BITNET;
    }
    if (fam < 0)
        return bn_error_set(err, BN_EUNSUPPORTED,
                            "the chat template%s%s%s matches none of the families bntk renders "
                            "(" KNOWN "); choose one with --chat-template",
                            other ? " (" : "", other ? other : "", other ? ")" : "");
    *out = (bn_chat_tpl)fam;
    return BN_OK;
}

bn_status bn_chat_detect(const bn_model *m, bn_chat_tpl *out, int *from_model, bn_error *err)
{
    if (from_model)
        *from_model = 0;
    bn_str s;
    if (bn_gguf_get_str(bn_model_gguf(m), "tokenizer.chat_template", &s, NULL) == BN_OK) {
        bn_status st = bn_chat_detect_text(s.ptr, (size_t)s.len, out, err);
        if (st)
            return bn_error_prefix(err, "%s: tokenizer.chat_template",
                                   bn_gguf_path(bn_model_gguf(m)));
        if (from_model)
            *from_model = 1;
        return BN_OK;
    }
    const bn_tokenizer *tk = bn_model_tokenizer(m);
    if (tk && bn_tokenizer_find(tk, "<|start_header_id|>", 19) >= 0)
        *out = BN_CHAT_LLAMA3;
    else if (tk && bn_tokenizer_find(tk, "<|im_start|>", 12) >= 0)
        *out = BN_CHAT_CHATML;
    else
        *out = BN_CHAT_BITNET;
    return BN_OK;
}

/* ---- vocabulary texts --------------------------------------------------------------- */

static bn_status copy_text(const bn_tokenizer *tk, int32_t id, char *dst, const char *what,
                           bn_error *err)
{
    size_t len = 0;
    const char *t = id >= 0 ? bn_tokenizer_text(tk, id, &len) : NULL;
    if (!t)
        return BN_OK; /* keep the default */
    if (len >= BN_CHAT_TEXT_MAX || memchr(t, 0, len))
        return bn_error_set(err, BN_EUNSUPPORTED,
                            "the %s token %d's text (%zu bytes) is not usable in a chat template",
                            what, (int)id, len);
    memcpy(dst, t, len);
    dst[len] = 0;
    return BN_OK;
}

bn_status bn_chat_texts_of(const bn_model *m, bn_chat_texts *tx, bn_error *err)
{
    strcpy(tx->bos, "<s>");
    strcpy(tx->eos, "</s>");
    strcpy(tx->eot, "<|eot_id|>");
    const bn_tokenizer *tk = m ? bn_model_tokenizer(m) : NULL;
    if (!tk)
        return BN_OK;
    bn_status st;
    if ((st = copy_text(tk, bn_tokenizer_bos(tk), tx->bos, "BOS", err)) ||
        (st = copy_text(tk, bn_tokenizer_eos(tk), tx->eos, "EOS", err)))
        return st;
    if (bn_tokenizer_find(tk, "<|eot_id|>", 10) < 0 && bn_tokenizer_eos(tk) >= 0)
        strcpy(tx->eot, tx->eos);
    return BN_OK;
}

/* ---- rendering ---------------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void put_n(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) {
            if (cap > ((size_t)1 << 40)) {
                b->oom = 1;
                return;
            }
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void put(sbuf *b, const char *s) { put_n(b, s, strlen(s)); }

/* Length of the Python whitespace character at s[0, n) (str.isspace), or 0. */
static size_t space_len(const unsigned char *s, size_t n)
{
    if ((s[0] >= 0x09 && s[0] <= 0x0d) || (s[0] >= 0x1c && s[0] <= 0x20))
        return 1;
    if (n >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0))
        return 2;
    if (n >= 3 && s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80)
        return 3; /* U+1680 */
    if (n >= 3 && s[0] == 0xe2 && s[1] == 0x80 &&
        (s[2] <= 0x8a || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf))
        return 3; /* U+2000..U+200A, U+2028, U+2029, U+202F */
    if (n >= 3 && s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f)
        return 3; /* U+205F */
    if (n >= 3 && s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80)
        return 3; /* U+3000 */
    return 0;
}

/* Python's s.strip(): [*b, *e) of s without surrounding whitespace. */
static void strip(const char *s, const char **b, const char **e)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
    size_t k;
    while (p < end && (k = space_len(p, (size_t)(end - p))) > 0)
        p += k;
    /* from the back: find the last non-space character by walking forwards */
    const unsigned char *last = p, *q = p;
    while (q < end) {
        k = space_len(q, (size_t)(end - q));
        if (k) {
            q += k;
        } else {
            q++;
            while (q < end && (*q & 0xc0) == 0x80)
                q++;
            last = q;
        }
    }
    *b = (const char *)p;
    *e = (const char *)last;
}

static void put_trim(sbuf *b, const char *s)
{
    const char *x, *y;
    strip(s, &x, &y);
    put_n(b, x, (size_t)(y - x));
}

typedef enum { R_SYSTEM, R_USER, R_ASSISTANT } role;

static bn_status roles_of(const bn_chat_msg *msgs, size_t n, role *r, bn_error *err)
{
    for (size_t i = 0; i < n; i++) {
        const char *s = msgs[i].role;
        if (!msgs[i].content)
            return bn_error_set(err, BN_EINVAL, "chat message %zu has no content", i);
        if (s && !strcmp(s, "system"))
            r[i] = R_SYSTEM;
        else if (s && !strcmp(s, "user"))
            r[i] = R_USER;
        else if (s && !strcmp(s, "assistant"))
            r[i] = R_ASSISTANT;
        else
            return bn_error_set(err, BN_EINVAL,
                                "chat message %zu has role '%.40s' (system, user or assistant)", i,
                                s ? s : "(null)");
    }
    return BN_OK;
}

/* llama2 and gemma: after an optional first system message, user and
 * assistant alternate starting with user (their templates raise otherwise). */
static bn_status check_alternation(bn_chat_tpl t, const role *r, size_t n, bn_error *err)
{
    size_t first = n > 0 && r[0] == R_SYSTEM ? 1 : 0;
    for (size_t i = first; i < n; i++)
        if (r[i] != ((i - first) % 2 ? R_ASSISTANT : R_USER))
            return bn_error_set(err, BN_EINVAL,
                                "chat message %zu: the %s template needs one system message at most, "
                                "first, then user and assistant turns alternating from user",
                                i, bn_chat_tpl_name(t));
    return BN_OK;
}

static const char *const ROLE_NAME[] = {"system", "user", "assistant"};

static void render(const bn_chat_texts *tx, bn_chat_tpl t, const bn_chat_msg *msgs,
                   const role *r, size_t n, int add, sbuf *b)
{
    switch (t) {
    case BN_CHAT_BITNET:
        for (size_t i = 0; i < n; i++) {
            put(b, r[i] == R_SYSTEM ? "System: " : r[i] == R_USER ? "User: " : "Assistant: ");
            put_trim(b, msgs[i].content);
            put(b, tx->eot);
        }
        if (add)
            put(b, "Assistant: ");
        break;
    case BN_CHAT_LLAMA3:
        for (size_t i = 0; i < n; i++) {
            put(b, "<|start_header_id|>");
            put(b, ROLE_NAME[r[i]]);
            put(b, "<|end_header_id|>\n\n");
            put_trim(b, msgs[i].content);
            put(b, "<|eot_id|>");
        }
        if (add)
            put(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    case BN_CHAT_LLAMA2: {
        size_t first = n > 0 && r[0] == R_SYSTEM ? 1 : 0;
        for (size_t i = first; i < n; i++) {
            if (r[i] == R_USER) {
                if (b->n > 0)
                    put(b, tx->bos);
                put(b, "[INST] ");
                if (i == first && first) {
                    /* strip() applies to the whole: system block + text */
                    sbuf c = {0};
                    put(&c, "<<SYS>>\n");
                    put(&c, msgs[0].content);
                    put(&c, "\n<</SYS>>\n\n");
                    put(&c, msgs[i].content);
                    if (c.oom)
                        b->oom = 1;
                    else
                        put_trim(b, c.p);
                    free(c.p);
                } else {
                    put_trim(b, msgs[i].content);
                }
                put(b, " [/INST]");
            } else {
                put(b, " ");
                put_trim(b, msgs[i].content);
                put(b, " ");
                put(b, tx->eos);
            }
        }
        break;
    }
    case BN_CHAT_CHATML:
        for (size_t i = 0; i < n; i++) {
            put(b, "<|im_start|>");
            put(b, ROLE_NAME[r[i]]);
            put(b, "\n");
            put(b, msgs[i].content);
            put(b, "<|im_end|>\n");
        }
        if (add)
            put(b, "<|im_start|>assistant\n");
        break;
    case BN_CHAT_PHI3:
        for (size_t i = 0; i < n; i++) {
            if (r[i] == R_SYSTEM && !msgs[i].content[0])
                continue;
            put(b, "<|");
            put(b, ROLE_NAME[r[i]]);
            put(b, "|>\n");
            put(b, msgs[i].content);
            put(b, "<|end|>\n");
        }
        put(b, add ? "<|assistant|>\n" : tx->eos);
        break;
    case BN_CHAT_FALCON3:
        for (size_t i = 0; i < n; i++) {
            put(b, "<|");
            put(b, ROLE_NAME[r[i]]);
            put(b, "|>\n");
            put(b, msgs[i].content);
            if (r[i] == R_ASSISTANT) {
                put(b, tx->eos);
                if (i + 1 < n)
                    put(b, "\n");
            } else {
                put(b, "\n");
            }
        }
        if (add && n > 0)
            put(b, "<|assistant|>\n");
        break;
    case BN_CHAT_ZEPHYR:
        for (size_t i = 0; i < n; i++) {
            put(b, "<|");
            put(b, ROLE_NAME[r[i]]);
            put(b, "|>\n");
            put(b, msgs[i].content);
            put(b, tx->eos);
            put(b, "\n");
        }
        if (add && n > 0)
            put(b, "<|assistant|>\n");
        break;
    case BN_CHAT_GEMMA: {
        const char *sys = NULL;
        for (size_t i = 0; i < n; i++) {
            if (r[i] == R_SYSTEM) {
                sys = msgs[i].content;
                continue;
            }
            put(b, r[i] == R_USER ? "<start_of_turn>user\n" : "<start_of_turn>model\n");
            if (sys && r[i] == R_USER) {
                const char *x, *y;
                strip(sys, &x, &y);
                if (y > x) {
                    put_n(b, x, (size_t)(y - x));
                    put(b, "\n\n");
                }
                sys = NULL;
            }
            put_trim(b, msgs[i].content);
            put(b, "<end_of_turn>\n");
        }
        if (add)
            put(b, "<start_of_turn>model\n");
        break;
    }
    default:
        break;
    }
}

bn_status bn_chat_render(const bn_chat_texts *tx, bn_chat_tpl t, const bn_chat_msg *msgs,
                         size_t n, int add_assistant, char **out, size_t *len, bn_error *err)
{
    *out = NULL;
    if (len)
        *len = 0;
    if ((unsigned)t >= BN_CHAT_COUNT)
        return bn_error_set(err, BN_EINVAL, "chat template %d is not a known family", (int)t);
    if (n > ((size_t)1 << 24))
        return bn_error_set(err, BN_ELIMIT, "%zu chat messages (at most %d)", n, 1 << 24);
    role *r = malloc((n ? n : 1) * sizeof *r);
    if (!r)
        return bn_error_set(err, BN_ENOMEM, "out of memory for %zu chat messages", n);
    bn_status st = roles_of(msgs, n, r, err);
    if (!st && (t == BN_CHAT_LLAMA2 || t == BN_CHAT_GEMMA))
        st = check_alternation(t, r, n, err);
    if (st) {
        free(r);
        return st;
    }
    sbuf b = {0};
    put(&b, "");
    render(tx, t, msgs, r, n, add_assistant, &b);
    free(r);
    if (b.oom) {
        free(b.p);
        return bn_error_set(err, BN_ENOMEM, "out of memory rendering %zu chat messages", n);
    }
    *out = b.p;
    if (len)
        *len = b.n;
    return BN_OK;
}

bn_status bn_chat_format(const bn_model *m, bn_chat_tpl t, const bn_chat_msg *msgs, size_t n,
                         int add_assistant, char **out, size_t *len, bn_error *err)
{
    bn_chat_texts tx;
    *out = NULL;
    bn_status st = bn_chat_texts_of(m, &tx, err);
    if (st)
        return st;
    return bn_chat_render(&tx, t, msgs, n, add_assistant, out, len, err);
}
