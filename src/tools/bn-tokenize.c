/*
 * bn-tokenize - tokenize text with the vocabulary of a GGUF model, or check
 * the tokenizer against llama.cpp's test-tokenizer-0 conformance files.
 *
 *   bn-tokenize MODEL.gguf -p TEXT | -f FILE [--ids | --pieces] [--no-bos] [--parse-special]
 *   bn-tokenize MODEL.gguf --vocab-test FILE.inp FILE.out
 *
 * Exit: 0 ok, 1 a --vocab-test mismatch, 2 bad usage or input, 3 an I/O or
 * system failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "bn/error.h"
#include "bn/gguf.h"
#include "bn/tokenizer.h"
#include "bn/util.h"
#include "tools/common/cli.h"
#include "tools/common/opt.h"

#define MAX_INPUT ((size_t)1 << 30)

static int fail(const bn_error *e)
{
    fprintf(stderr, "bn-tokenize: %s\n", e->msg);
    return bn_status_exit_code(e->code);
}

/* Print s[0, n) double-quoted, escaped as bn_gguf_escape does (valid UTF-8
 * kept, control and invalid bytes as \n, \xNN, ...). Without memory for a
 * long string, it is cut (bn_gguf_escape ends it with "..."). */
static void print_quoted(FILE *f, const char *s, size_t n)
{
    char small[512];
    size_t cap = 4 * n + 8;
    char *buf = cap <= sizeof small ? small : malloc(cap);
    if (!buf) {
        buf = small;
        cap = sizeof small;
    }
    bn_gguf_escape(s, n, buf, cap);
    fprintf(f, "\"%s\"", buf);
    if (buf != small)
        free(buf);
}

static void print_ids(FILE *f, const int32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%d", i ? " " : "", ids[i]);
    fputc('\n', f);
}

static void print_list(const char *label, const int32_t *ids, size_t n)
{
    printf("  %s", label);
    for (size_t i = 0; i < n; i++)
        printf(" %d", ids[i]);
    putchar('\n');
}

static void on_mismatch(void *ctx, size_t index, const char *text, size_t len, const int32_t *want,
                        size_t n_want, const int32_t *got, size_t n_got)
{
    (void)ctx;
    printf("MISMATCH string %zu: ", index + 1);
    print_quoted(stdout, text, len);
    putchar('\n');
    print_list("expected:", want, n_want);
    print_list("got:     ", got, n_got);
}

/* The piece of id as text (control tokens rendered), malloc'd; NULL if out of memory. */
static char *piece_of(const bn_tokenizer *tok, int32_t id, size_t *len)
{
    long l = bn_tokenizer_piece(tok, id, BN_TOK_RENDER_SPECIAL, NULL, 0);
    char *p = malloc(l > 0 ? (size_t)l : 1);
    if (p && l > 0)
        bn_tokenizer_piece(tok, id, BN_TOK_RENDER_SPECIAL, p, (size_t)l);
    *len = l > 0 ? (size_t)l : 0;
    return p;
}

static int print_pieces(const bn_tokenizer *tok, const bn_tokens *ids)
{
    for (size_t i = 0; i < ids->n; i++) {
        size_t l;
        char *p = piece_of(tok, ids->ids[i], &l);
        if (!p)
            return -1;
        printf("%d\t", ids->ids[i]);
        print_quoted(stdout, p, l);
        putchar('\n');
        free(p);
    }
    return 0;
}

/* --json: {"n_tokens": N, "ids": [...], "pieces": [...]}. Pieces are made
 * valid UTF-8 for JSON: bytes that are not (a piece may hold part of a
 * character) become U+FFFD. */
static int print_json(const bn_tokenizer *tok, const bn_tokens *ids)
{
    cJSON *root = cJSON_CreateObject(), *jids = cJSON_CreateArray(), *jp = cJSON_CreateArray();
    int ok = root && jids && jp;
    if (ok) {
        ok = cJSON_AddNumberToObject(root, "n_tokens", (double)ids->n) != NULL;
        cJSON_AddItemToObject(root, "ids", jids);
        cJSON_AddItemToObject(root, "pieces", jp);
    } else {
        cJSON_Delete(jids);
        cJSON_Delete(jp);
    }
    for (size_t i = 0; ok && i < ids->n; i++) {
        size_t l;
        char *p = piece_of(tok, ids->ids[i], &l);
        char *u = p ? bn_tok_utf8_copy(p, l, NULL) : NULL;
        if (u) {
            ok = cJSON_AddItemToArray(jids, cJSON_CreateNumber(ids->ids[i])) &&
                 cJSON_AddItemToArray(jp, cJSON_CreateString(u));
        } else {
            ok = 0;
        }
        free(p);
        free(u);
    }
    char *txt = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!txt)
        return -1;
    puts(txt);
    cJSON_free(txt);
    return 0;
}

static int vocab_test(const bn_tokenizer *tok, const char *inp_path, const char *out_path,
                      unsigned flags)
{
    bn_error e;
    bn_error_clear(&e);
    size_t n, bad;
    if (bn_tokenizer_vocab_test_flags(tok, inp_path, out_path, flags, on_mismatch, NULL, &n, &bad, &e) !=
        BN_OK)
        return fail(&e);
    printf("%zu/%zu strings match\n", n - bad, n);
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *prompt = NULL, *file = NULL, *vt[2] = {NULL, NULL};
    int pieces = 0, json = 0, no_bos = 0, parse_special = 0;
    const bn_opt opts[] = {
        BN_O_MODEL(&model),
        BN_O_STR("-p", "--prompt", &prompt, "TEXT", "text to tokenize"),
        BN_O_STR("-f", "--file", &file, "FILE", "file to tokenize"),
        {.l = "--ids", .kind = BN_OPT_UNSET, .p = &pieces,
         .help = "print the ids on one line, space-separated (default)"},
        BN_O_FLAG(NULL, "--pieces", &pieces,
                  "print one token per line: id, tab, the piece as a quoted string"),
        BN_O_FLAG(NULL, "--json", &json, "print {\"n_tokens\", \"ids\", \"pieces\"} as one JSON object"),
        BN_O_FLAG(NULL, "--no-bos", &no_bos, "do not add BOS (and EOS) even if the vocabulary asks for them"),
        BN_O_FLAG(NULL, "--parse-special", &parse_special,
                  "match control tokens such as <|begin_of_text|> in the text"),
        {.l = "--vocab-test", .kind = BN_OPT_STR2, .p = vt, .arg = "INP OUT",
         .help = "llama.cpp test-tokenizer-0: each string of INP (terminated by\n"
                 "\"\\n__ggml_vocab_test__\\n\") is tokenized without BOS (and without\n"
                 "special parsing unless --parse-special) and compared with the\n"
                 "ids on its line of OUT; every mismatch is printed; exit 1 if\n"
                 "there is any"},
    };
    const bn_opt_spec spec = {
        "bn-tokenize",
        "usage: bn-tokenize MODEL.gguf (-p TEXT | -f FILE) [--ids | --pieces | --json] [--no-bos]\n"
        "                   [--parse-special]\n"
        "       bn-tokenize MODEL.gguf --vocab-test FILE.inp FILE.out\n"
        "\n"
        "Tokenize TEXT (or the contents of FILE) with the vocabulary stored in MODEL.gguf.\n",
        opts, BN_OPT_N(opts), {&model}, 1, 1, NULL};
    int prc = bn_opt_parse(&spec, argc, argv);
    if (prc >= 0)
        return prc;
    const char *vt_inp = vt[0], *vt_out = vt[1];
    if (!model || (!vt_inp && !prompt && !file) || (prompt && file) || (vt_inp && (prompt || file)))
        return bn_opt_fail(&spec, "need MODEL.gguf and exactly one of -p, -f, --vocab-test (see --help)");

    bn_error e;
    bn_error_clear(&e);
    bn_gguf *g = NULL;
    bn_tokenizer *tok = NULL;
    if (bn_gguf_open(model, &g, &e) != BN_OK)
        return fail(&e);
    if (bn_tokenizer_from_gguf(g, &tok, &e) != BN_OK) {
        bn_error_prefix(&e, "%s", model);
        bn_gguf_close(g);
        return fail(&e);
    }
    bn_gguf_close(g);

    int rc = 0;
    if (vt_inp) {
        rc = vocab_test(tok, vt_inp, vt_out, parse_special ? BN_TOK_PARSE_SPECIAL : 0);
        bn_tokenizer_free(tok);
        return rc;
    }
    char *text = NULL;
    size_t len;
    if (file) {
        if (bn_read_file(file, MAX_INPUT, &text, &len, &e) != BN_OK) {
            bn_tokenizer_free(tok);
            return fail(&e);
        }
    }
    const char *src = file ? text : prompt;
    if (!file)
        len = strlen(prompt);
    unsigned flags = (no_bos ? 0 : BN_TOK_ADD_SPECIAL) | (parse_special ? BN_TOK_PARSE_SPECIAL : 0);
    bn_tokens ids = {0};
    if (bn_tokenizer_encode(tok, src, len, flags, &ids, &e) != BN_OK) {
        rc = fail(&e);
    } else if ((json ? print_json(tok, &ids) : pieces ? print_pieces(tok, &ids) : 0) != 0) {
        fprintf(stderr, "bn-tokenize: out of memory\n");
        rc = 3;
    } else if (!json && !pieces) {
        print_ids(stdout, ids.ids, ids.n);
    }
    if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, "bn-tokenize: writing the output failed\n");
        rc = 3;
    }
    bn_tokens_free(&ids);
    free(text);
    bn_tokenizer_free(tok);
    return rc;
}
