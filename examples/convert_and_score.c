/* convert_and_score.c - libbn from a program of your own, through the public
 * API only (the installed headers and pkg-config; see Makefile here).
 *
 *   convert_and_score HF_DIR OUT.gguf TEXT_FILE [N_CTX [N_CHUNKS]]
 *
 * 1. converts the Hugging Face checkpoint HF_DIR to OUT.gguf (I2_S),
 * 2. loads OUT.gguf,
 * 3. computes the perplexity of TEXT_FILE over N_CHUNKS chunks (default 4)
 *    of N_CTX tokens (default 128), as `bn-verify --perplexity` does,
 * 4. continues the first 8 tokens of TEXT_FILE greedily by 16 tokens.
 * Exit 0 on success, 2 on bad input or usage, 3 on an I/O failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bn/convert.h>
#include <bn/error.h>
#include <bn/model.h>
#include <bn/tokenizer.h>
#include <bn/verify.h>
#include <bn/version.h>

static int fail(bn_status st, const char *msg)
{
    fprintf(stderr, "convert_and_score: %s\n", msg);
    return st == BN_EIO || st == BN_ENOMEM ? 3 : 2;
}

static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) != NULL) {
        *len = fread(buf, 1, (size_t)n, f);
        buf[*len] = '\0';
        if (*len != (size_t)n) {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    return buf;
}

static int32_t argmax(const float *v, int n)
{
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

/* One token's text on the current line, newlines and tabs as \n and \t. */
static void print_piece(const bn_tokenizer *tok, int32_t id)
{
    char piece[256];
    long k = bn_tokenizer_piece(tok, id, 0, piece, sizeof piece);
    for (long i = 0; i < k && i < (long)sizeof piece; i++) {
        if (piece[i] == '\n')
            fputs("\\n", stdout);
        else if (piece[i] == '\t')
            fputs("\\t", stdout);
        else
            putchar(piece[i]);
    }
}

/* Greedy continuation of the first n_prompt tokens by n_new tokens, printed. */
static bn_status generate(bn_model *m, const bn_tokens *toks, int n_prompt, int n_new,
                          bn_error *err)
{
    const bn_tokenizer *tok = bn_model_tokenizer(m);
    int n_vocab = bn_model_hparams(m)->n_vocab;
    bn_ctx_params cp;
    bn_ctx *c = NULL;
    float *logits = malloc((size_t)n_vocab * sizeof *logits);
    if (!logits)
        return bn_error_set(err, BN_ENOMEM, "out of memory for %d logits", n_vocab);
    bn_ctx_params_default(&cp);
    cp.n_ctx = n_prompt + n_new;
    bn_status st = bn_ctx_new(m, &cp, &c, err);
    if (!st)
        st = bn_ctx_eval(c, 0, toks->ids, n_prompt, 0, BN_LOGITS_LAST, logits, err);
    printf("prompt: ");
    for (int i = 0; i < n_prompt; i++)
        print_piece(tok, toks->ids[i]);
    printf("\ngenerated: ");
    int n_done = 0;
    for (; !st && n_done < n_new; n_done++) {
        int32_t next = argmax(logits, n_vocab);
        print_piece(tok, next);
        if (n_done + 1 < n_new)
            st = bn_ctx_eval(c, 0, &next, 1, n_prompt + n_done, BN_LOGITS_LAST, logits, err);
    }
    printf("\n%d tokens generated\n", n_done);
    bn_ctx_free(c);
    free(logits);
    return st;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 6) {
        fprintf(stderr, "usage: convert_and_score HF_DIR OUT.gguf TEXT_FILE [N_CTX [N_CHUNKS]]\n");
        return 2;
    }
    int n_ctx = argc > 4 ? atoi(argv[4]) : 128, n_chunks = argc > 5 ? atoi(argv[5]) : 4;
    if (n_ctx < 16 || n_chunks < 1)
        return fail(BN_EINVAL, "N_CTX must be at least 16 and N_CHUNKS at least 1");
    printf("libbn %s\n", bn_version());

    bn_error err;
    bn_convert_opts co;
    bn_convert_result cr;
    bn_convert_opts_init(&co);
    co.in_dir = argv[1];
    co.out_path = argv[2];
    co.proj_type = BN_TYPE_I2_S;
    bn_status st = bn_convert_run(&co, &cr, &err);
    if (st)
        return fail(st, err.msg);
    printf("converted: %zu tensors, %llu bytes\n", cr.n_tensors, (unsigned long long)cr.bytes_out);

    bn_model *m = NULL;
    if ((st = bn_model_load(argv[2], NULL, &m, &err)))
        return fail(st, err.msg);
    const bn_tokenizer *tok = bn_model_tokenizer(m);
    if (!tok) {
        bn_model_free(m);
        return fail(BN_EINVAL, "the converted model has no tokenizer");
    }
    size_t len = 0;
    char *text = read_text(argv[3], &len);
    if (!text) {
        bn_model_free(m);
        return fail(BN_EIO, "cannot read the text file");
    }
    bn_tokens toks = {0};
    st = bn_tokenizer_encode(tok, text, len, BN_TOK_ADD_SPECIAL, &toks, &err);
    free(text);

    bn_evaluator *ev = NULL;
    bn_ppl_result pr;
    if (!st)
        st = bn_verify_model_evaluator(m, n_ctx, 1, &ev, &err);
    if (!st) {
        bn_ppl_params pp;
        bn_ppl_params_init(&pp);
        pp.n_ctx = n_ctx;
        pp.max_chunks = n_chunks;
        pp.add_bos = bn_tokenizer_add_bos(tok);
        pp.bos_id = bn_tokenizer_bos(tok);
        st = bn_ppl_run(ev, toks.ids, toks.n, &pp, &pr, &err);
    }
    bn_evaluator_free(ev);
    if (!st)
        printf("perplexity: %.6f +/- %.6f over %d chunks of %d tokens\n", pr.ppl, pr.ppl_err,
               pr.n_chunks, pr.n_ctx);
    if (!st && toks.n < 8)
        st = bn_error_set(&err, BN_EINVAL, "the text has fewer than 8 tokens");
    if (!st)
        st = generate(m, &toks, 8, 16, &err);
    bn_tokens_free(&toks);
    bn_model_free(m);
    if (st)
        return fail(st, err.msg);
    return fflush(stdout) == 0 ? 0 : 3;
}
