/* test_generate.c - generation (generate.h):
 *  - scripted token streams (one-hot logits, greedy) on a bn-synth model whose
 *    vocabulary has <0xNN> byte tokens: UTF-8 characters cut between tokens
 *    are released whole, a cut at the end becomes U+FFFD, stop strings split
 *    across tokens are never released (not one byte), false starts are,
 *    stop tokens end without text, n_predict, params checked;
 *  - non-finite logits fail with BN_EINVAL naming the token index;
 *  - on the bundled model: bn_generate reproduces the PyTorch reference's
 *    greedy tokens and text (fixtures/reference/tiny-b158/generate.json), the
 *    pieces concatenate to the tokens' decode, a sampled sequence is the same
 *    whether generated alone or stepped by hand in bn_ctx_eval_batch beside
 *    another sequence, the cache ends holding prompt + generated tokens,
 *    context full and abort finish as documented. */
#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn/convert.h"
#include "bn/generate.h"
#include "bn/model.h"
#include "bn/tokenizer.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static bn_model *synth_model(void)
{
    static char path[1024];
    if (!path[0]) {
        snprintf(path, sizeof path, "%s", tu_tmp("gen-synth.gguf"));
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "'%s' -q -o '%s' --layers 1", tu_build("bn-synth"), path);
        ck_assert_int_eq(tu_run(cmd, NULL), 0);
    }
    bn_model *m;
    bn_error e;
    ck_assert_msg(bn_model_load(path, NULL, &m, &e) == BN_OK, "%s", e.msg);
    return m;
}

static bn_model *bundled_model(void)
{
    static const char *path;
    bn_error e;
    if (!path) {
        path = tu_keep(tu_tmp("gen-tiny-b158.gguf"));
        bn_convert_opts o;
        bn_convert_opts_init(&o);
        o.in_dir = tu_keep(tu_root("fixtures/tiny-b158"));
        o.out_path = path;
        o.proj_type = BN_TYPE_I2_S;
        bn_convert_result r;
        ck_assert_msg(bn_convert_run(&o, &r, &e) == BN_OK, "%s", e.msg);
    }
    bn_model *m;
    ck_assert_msg(bn_model_load(path, NULL, &m, &e) == BN_OK, "%s", e.msg);
    return m;
}

/* Id of the <0xNN> byte token of the synth vocabulary. */
static int32_t byte_tok(const bn_model *m, unsigned char b)
{
    char t[8];
    snprintf(t, sizeof t, "<0x%02X>", b);
    int32_t id = bn_tokenizer_find(bn_model_tokenizer(m), t, 6);
    ck_assert_int_ge(id, 0);
    return id;
}

/* Logits that make greedy sampling pick id. */
static void one_hot(float *lg, int V, int32_t id)
{
    for (int v = 0; v < V; v++)
        lg[v] = (float)(v % 7) * 0.01f;
    lg[id] = 10.0f;
}

typedef struct {
    char text[4096];
    size_t len;
    int n_pieces;
    char pieces[64][64]; /* the pieces, NUL-terminated (test texts are small) */
} collect;

static void add_piece(collect *c, const char *t, size_t n)
{
    ck_assert_uint_lt(c->len + n, sizeof c->text);
    memcpy(c->text + c->len, t, n);
    c->len += n;
    c->text[c->len] = 0;
    if (c->n_pieces < 64 && n < 64) {
        memcpy(c->pieces[c->n_pieces], t, n);
        c->pieces[c->n_pieces][n] = 0;
    }
    c->n_pieces++;
}

/* Drive g through the bytes of s (one byte token each), collecting pieces;
 * returns the finish reason of the last step taken (steps stop at a finish). */
static bn_finish script_bytes(bn_gen *g, const bn_model *m, const char *s, size_t n, collect *c,
                              int *steps)
{
    int V = bn_model_hparams(m)->n_vocab;
    float *lg = malloc((size_t)V * sizeof *lg);
    bn_gen_step st;
    bn_error e;
    bn_finish f = BN_FINISH_NONE;
    *steps = 0;
    for (size_t i = 0; i < n && f == BN_FINISH_NONE; i++) {
        one_hot(lg, V, byte_tok(m, (unsigned char)s[i]));
        ck_assert_msg(bn_gen_next(g, lg, &st, &e) == BN_OK, "%s", e.msg);
        ck_assert_int_eq(st.token, byte_tok(m, (unsigned char)s[i]));
        ck_assert_int_eq(st.evaluate, 1);
        add_piece(c, st.text, st.len);
        f = st.finish;
        (*steps)++;
    }
    free(lg);
    return f;
}

static bn_gen *new_gen(const bn_model *m, int n_predict, const char *const *stops, int n_stops)
{
    bn_gen_params p;
    bn_gen_params_default(&p);
    p.sampler.temp = 0; /* greedy: one-hot logits choose */
    p.n_predict = n_predict;
    p.stop_strs = stops;
    p.n_stop_strs = n_stops;
    bn_gen *g;
    bn_error e;
    ck_assert_msg(bn_gen_new(m, &p, &g, &e) == BN_OK, "%s", e.msg);
    return g;
}

/* ---- scripted streams -------------------------------------------------------------------- */

START_TEST(test_utf8_cut_between_tokens)
{
    bn_model *m = synth_model();
    bn_gen *g = new_gen(m, -1, NULL, 0);
    collect c = {0};
    int steps;
    /* "Hi é€😀": 2-, 3- and 4-byte characters, each cut into byte tokens */
    const char *s = "Hi \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
    ck_assert_int_eq(script_bytes(g, m, s, strlen(s), &c, &steps), BN_FINISH_NONE);
    ck_assert_str_eq(c.text, s);
    /* no piece ends inside a character */
    const char *want[] = {"H", "i", " ", "", "\xc3\xa9", "", "", "\xe2\x82\xac", "", "", "",
                          "\xf0\x9f\x98\x80"};
    ck_assert_int_eq(c.n_pieces, 12);
    for (int i = 0; i < 12; i++)
        ck_assert_msg(!strcmp(c.pieces[i], want[i]), "piece %d is [%s]", i, c.pieces[i]);
    /* a cut at the end becomes U+FFFD when the generation is ended from outside */
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(script_bytes(g, m, "\xe2\x82", 2, &c, &steps), BN_FINISH_NONE);
    ck_assert_uint_eq(c.len, 0);
    bn_gen_step st;
    bn_gen_finish(g, BN_FINISH_CONTEXT, &st);
    ck_assert_int_eq(st.finish, BN_FINISH_CONTEXT);
    ck_assert_uint_eq(st.len, 3);
    ck_assert_int_eq(memcmp(st.text, "\xef\xbf\xbd", 3), 0);
    ck_assert_int_eq(bn_gen_finish_reason(g), BN_FINISH_CONTEXT);
    bn_gen_free(g);
    bn_model_free(m);
}
END_TEST

START_TEST(test_stop_string_split_across_tokens)
{
    bn_model *m = synth_model();
    const char *stops[] = {"STOP", "\xc3\xa9!"};
    collect c = {0};
    int steps;
    /* "STOP" arrives in four tokens: not one of its bytes is ever released */
    bn_gen *g = new_gen(m, -1, stops, 2);
    ck_assert_int_eq(script_bytes(g, m, "xySTOPzz", 8, &c, &steps), BN_FINISH_STOP);
    ck_assert_int_eq(steps, 6);
    ck_assert_str_eq(c.text, "xy");
    for (int i = 0; i < c.n_pieces; i++)
        ck_assert_ptr_null(strchr(c.pieces[i], 'S'));
    ck_assert_int_eq(bn_gen_finish_reason(g), BN_FINISH_STOP);
    /* after the end, another step is an error */
    int V = bn_model_hparams(m)->n_vocab;
    float *lg = calloc((size_t)V, sizeof *lg);
    bn_gen_step st;
    bn_error e;
    ck_assert_int_eq(bn_gen_next(g, lg, &st, &e), BN_EINVAL);
    ck_assert_msg(strstr(e.msg, "already ended"), "%s", e.msg);
    bn_gen_free(g);

    /* false starts are released once they cannot become a stop string */
    g = new_gen(m, -1, stops, 2);
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(script_bytes(g, m, "aSTObSTOP", 9, &c, &steps), BN_FINISH_STOP);
    ck_assert_str_eq(c.text, "aSTOb");
    ck_assert_str_eq(c.pieces[1], "");     /* "S" held */
    ck_assert_str_eq(c.pieces[3], "");     /* "STO" held */
    ck_assert_str_eq(c.pieces[4], "STOb"); /* released together */
    bn_gen_free(g);

    /* a stop string that ends in a character cut across tokens */
    g = new_gen(m, -1, stops, 2);
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(script_bytes(g, m, "caf\xc3\xa9!!", 7, &c, &steps), BN_FINISH_STOP);
    ck_assert_str_eq(c.text, "caf");
    ck_assert_int_eq(steps, 6);
    bn_gen_free(g);

    /* held text that never became a stop string goes out at n_predict */
    g = new_gen(m, 4, stops, 2);
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(script_bytes(g, m, "abST", 4, &c, &steps), BN_FINISH_LENGTH);
    ck_assert_str_eq(c.text, "abST");
    ck_assert_str_eq(c.pieces[3], "ST");
    ck_assert_int_eq(bn_gen_n_generated(g), 4);
    bn_gen_free(g);

    /* the same when a stop token ends it: held text is text */
    g = new_gen(m, -1, stops, 2);
    memset(&c, 0, sizeof c);
    script_bytes(g, m, "zST", 3, &c, &steps);
    one_hot(lg, V, bn_tokenizer_eos(bn_model_tokenizer(m)));
    ck_assert_int_eq(bn_gen_next(g, lg, &st, &e), BN_OK);
    ck_assert_int_eq(st.finish, BN_FINISH_STOP);
    ck_assert_int_eq(st.token, bn_tokenizer_eos(bn_model_tokenizer(m)));
    ck_assert_int_eq(st.evaluate, 1);
    ck_assert_uint_eq(st.len, 2);
    ck_assert_int_eq(memcmp(st.text, "ST", 2), 0);
    bn_gen_free(g);
    free(lg);
    bn_model_free(m);
}
END_TEST

START_TEST(test_stop_tokens)
{
    bn_model *m = synth_model();
    int32_t ids[16];
    /* the synth vocabulary: EOS "</s>" only */
    ck_assert_int_eq(bn_gen_stop_tokens(m, ids, 16), 1);
    ck_assert_int_eq(ids[0], bn_tokenizer_eos(bn_model_tokenizer(m)));
    int V = bn_model_hparams(m)->n_vocab;
    float *lg = malloc((size_t)V * sizeof *lg);
    bn_gen_step st;
    bn_error e;

    bn_gen *g = new_gen(m, -1, NULL, 0);
    one_hot(lg, V, ids[0]);
    ck_assert_int_eq(bn_gen_next(g, lg, &st, &e), BN_OK);
    ck_assert_int_eq(st.finish, BN_FINISH_STOP);
    ck_assert_uint_eq(st.len, 0);
    bn_gen_free(g);

    /* ignore_eos: EOS is an ordinary (control, textless) token; extra stop ids stop */
    bn_gen_params p;
    bn_gen_params_default(&p);
    p.sampler.temp = 0;
    p.ignore_eos = 1;
    int32_t q = byte_tok(m, 'q');
    p.stop_ids = &q;
    p.n_stop_ids = 1;
    ck_assert_int_eq(bn_gen_new(m, &p, &g, &e), BN_OK);
    ck_assert_int_eq(bn_gen_next(g, lg, &st, &e), BN_OK);
    ck_assert_int_eq(st.finish, BN_FINISH_NONE);
    ck_assert_uint_eq(st.len, 0);
    one_hot(lg, V, byte_tok(m, 'p'));
    ck_assert_int_eq(bn_gen_next(g, lg, &st, &e), BN_OK);
    ck_assert_uint_eq(st.len, 1);
    one_hot(lg, V, q);
    ck_assert_int_eq(bn_gen_next(g, lg, &st, &e), BN_OK);
    ck_assert_int_eq(st.finish, BN_FINISH_STOP);
    ck_assert_int_eq(st.token, q);
    ck_assert_uint_eq(st.len, 0);
    ck_assert_int_eq(bn_gen_n_generated(g), 3);
    bn_gen_free(g);

    /* n_predict 0: ends before sampling anything */
    g = new_gen(m, 0, NULL, 0);
    ck_assert_int_eq(bn_gen_next(g, lg, &st, &e), BN_OK);
    ck_assert_int_eq(st.finish, BN_FINISH_LENGTH);
    ck_assert_int_eq(st.evaluate, 0);
    ck_assert_int_eq(bn_gen_n_generated(g), 0);
    bn_gen_free(g);
    free(lg);
    bn_model_free(m);
}
END_TEST

START_TEST(test_nonfinite_logits)
{
    bn_model *m = synth_model();
    int V = bn_model_hparams(m)->n_vocab;
    float *lg = malloc((size_t)V * sizeof *lg);
    bn_gen_step st;
    bn_error e;
    const float bad[] = {NAN, INFINITY, -INFINITY};
    for (int k = 0; k < 3; k++) {
        bn_gen *g = new_gen(m, -1, NULL, 0);
        one_hot(lg, V, byte_tok(m, 'a'));
        ck_assert_int_eq(bn_gen_next(g, lg, &st, &e), BN_OK);
        lg[V - 3] = bad[k];
        ck_assert_int_eq(bn_gen_next(g, lg, &st, &e), BN_EINVAL);
        ck_assert_msg(strstr(e.msg, "generated token 1") && strstr(e.msg, k ? "infinity" : "NaN"),
                      "%s", e.msg);
        bn_gen_free(g);
    }
    free(lg);
    bn_model_free(m);
}
END_TEST

START_TEST(test_params_checked)
{
    bn_model *m = synth_model();
    bn_gen_params p;
    bn_gen *g = (bn_gen *)1;
    bn_error e;
    const char *many[BN_GEN_MAX_STOP_STRS + 1];
    for (int i = 0; i <= BN_GEN_MAX_STOP_STRS; i++)
        many[i] = "x";
    char longs[BN_GEN_MAX_STOP_LEN + 2];
    memset(longs, 'a', sizeof longs - 1);
    longs[sizeof longs - 1] = 0;
    const char *empty[] = {""}, *lng[] = {longs}, *bad8[] = {"ok\xff"}, *nul[] = {NULL};
    struct {
        const char *const *s;
        int n;
        const char *msg;
    } cases[] = {{many, BN_GEN_MAX_STOP_STRS + 1, "stop strings"}, {empty, 1, "empty"},
                 {lng, 1, "too long"}, {bad8, 1, "UTF-8"}, {nul, 1, "empty"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bn_gen_params_default(&p);
        p.stop_strs = cases[i].s;
        p.n_stop_strs = cases[i].n;
        ck_assert_int_eq(bn_gen_new(m, &p, &g, &e), BN_EINVAL);
        ck_assert_ptr_null(g);
        ck_assert_msg(strstr(e.msg, cases[i].msg), "case %zu: %s", i, e.msg);
    }
    bn_gen_params_default(&p);
    int32_t big = bn_model_hparams(m)->n_vocab;
    p.stop_ids = &big;
    p.n_stop_ids = 1;
    ck_assert_int_eq(bn_gen_new(m, &p, &g, &e), BN_EINVAL);
    ck_assert_msg(strstr(e.msg, "stop token id"), "%s", e.msg);
    bn_gen_params_default(&p);
    p.sampler.top_p = 2.0f;
    ck_assert_int_eq(bn_gen_new(m, &p, &g, &e), BN_EINVAL);
    ck_assert_msg(strstr(e.msg, "top-p"), "%s", e.msg);
    /* the longest allowed stop string is fine */
    longs[BN_GEN_MAX_STOP_LEN] = 0;
    bn_gen_params_default(&p);
    p.stop_strs = lng;
    p.n_stop_strs = 1;
    ck_assert_int_eq(bn_gen_new(m, &p, &g, &e), BN_OK);
    bn_gen_free(g);
    bn_gen_free(NULL);
    ck_assert_str_eq(bn_finish_name(BN_FINISH_STOP), "stop");
    ck_assert_str_eq(bn_finish_name(BN_FINISH_LENGTH), "length");
    ck_assert_str_eq(bn_finish_name(BN_FINISH_CONTEXT), "context");
    ck_assert_str_eq(bn_finish_name(BN_FINISH_ABORT), "abort");
    ck_assert_str_eq(bn_finish_name(BN_FINISH_NONE), "");
    bn_model_free(m);
}
END_TEST

/* ---- the bundled model -------------------------------------------------------------------- */

typedef struct {
    int32_t ids[512];
    int n;
} tokens;

static void on_token(void *u, int32_t t)
{
    tokens *k = u;
    ck_assert_int_lt(k->n, 512);
    k->ids[k->n++] = t;
}

static int on_text(void *u, const char *t, size_t n)
{
    add_piece(u, t, n);
    return 0;
}

static int32_t *json_ids(const cJSON *arr, int *n)
{
    *n = cJSON_GetArraySize(arr);
    int32_t *ids = malloc((size_t)*n * sizeof *ids);
    for (int i = 0; i < *n; i++)
        ids[i] = (int32_t)cJSON_GetArrayItem(arr, i)->valuedouble;
    return ids;
}

static bn_ctx *new_ctx(bn_model *m, int n_ctx, int n_seq)
{
    bn_ctx_params cp;
    bn_ctx_params_default(&cp);
    cp.n_ctx = n_ctx;
    cp.n_seq = n_seq;
    bn_ctx *c;
    bn_error e;
    ck_assert_msg(bn_ctx_new(m, &cp, &c, &e) == BN_OK, "%s", e.msg);
    return c;
}

START_TEST(test_reference_greedy)
{
    cJSON *j = tu_read_json(tu_root("fixtures/reference/tiny-b158/generate.json"));
    ck_assert_ptr_nonnull(j);
    int n_prompt, n_want;
    int32_t *prompt = json_ids(cJSON_GetObjectItem(j, "prompt_ids"), &n_prompt);
    int32_t *want = json_ids(cJSON_GetObjectItem(j, "generated_ids"), &n_want);
    bn_model *m = bundled_model();
    bn_ctx *c = new_ctx(m, 128, 1);
    bn_gen_params p;
    bn_gen_params_default(&p);
    p.sampler.temp = 0;
    p.n_predict = n_want;
    p.ignore_eos = 1;
    tokens got = {0};
    p.on_token = on_token;
    p.on_token_user = &got;
    collect text = {0};
    bn_gen_result r;
    bn_error e;
    ck_assert_msg(bn_generate(c, 0, 0, prompt, n_prompt, &p, on_text, &text, &r, &e) == BN_OK, "%s",
                  e.msg);
    ck_assert_int_eq(r.finish, BN_FINISH_LENGTH);
    ck_assert_int_eq(r.n_prompt, n_prompt);
    ck_assert_int_eq(r.n_gen, n_want);
    ck_assert_int_eq(got.n, n_want);
    for (int i = 0; i < n_want; i++)
        ck_assert_msg(got.ids[i] == want[i], "token %d: %d, reference %d", i, got.ids[i], want[i]);
    /* every generated token is in the cache */
    ck_assert_int_eq(bn_ctx_seq_len(c, 0), n_prompt + n_want);
    /* text: the reference's full_text is prompt + continuation */
    const char *full = cJSON_GetObjectItem(j, "full_text")->valuestring;
    const char *pr = cJSON_GetObjectItem(j, "prompt")->valuestring;
    ck_assert_str_eq(text.text, full + strlen(pr));
    char *dec;
    size_t dl;
    ck_assert_int_eq(bn_tokenizer_decode(bn_model_tokenizer(m), got.ids, (size_t)got.n,
                                         BN_TOK_KEEP_SPACE, &dec, &dl, &e),
                     BN_OK);
    ck_assert_str_eq(text.text, dec);
    free(dec);
    bn_ctx_free(c);
    bn_model_free(m);
    free(prompt);
    free(want);
    cJSON_Delete(j);
}
END_TEST

/* A sampled generation: pieces == decode(tokens), and the same tokens when the
 * sequence is stepped by hand in a batch beside another sequence. */
START_TEST(test_batch_invariance)
{
    bn_model *m = bundled_model();
    const bn_tokenizer *tk = bn_model_tokenizer(m);
    int V = bn_model_hparams(m)->n_vocab;
    bn_tokens pa = {0}, pb = {0};
    bn_error e;
    const char *ta = "The album was released in", *tb = "In 1998 , the band";
    ck_assert_int_eq(bn_tokenizer_encode(tk, ta, strlen(ta), BN_TOK_ADD_SPECIAL, &pa, &e), BN_OK);
    ck_assert_int_eq(bn_tokenizer_encode(tk, tb, strlen(tb), BN_TOK_ADD_SPECIAL, &pb, &e), BN_OK);
    const int N = 40;
    bn_gen_params p;
    bn_gen_params_default(&p);
    p.sampler.temp = 0.9f;
    p.sampler.seed = 42;
    p.n_predict = N;
    p.ignore_eos = 1;
    const char *stop[] = {"zzzz"}; /* exercised but never met */
    p.stop_strs = stop;
    p.n_stop_strs = 1;

    /* alone, through bn_generate */
    bn_ctx *c1 = new_ctx(m, 128, 1);
    tokens alone = {0};
    collect text = {0};
    p.on_token = on_token;
    p.on_token_user = &alone;
    bn_gen_result r;
    ck_assert_msg(bn_generate(c1, 0, 0, pa.ids, (int)pa.n, &p, on_text, &text, &r, &e) == BN_OK,
                  "%s", e.msg);
    ck_assert_int_eq(alone.n, N);
    char *dec;
    size_t dl;
    ck_assert_int_eq(bn_tokenizer_decode(tk, alone.ids, (size_t)alone.n, BN_TOK_KEEP_SPACE, &dec,
                                         &dl, &e),
                     BN_OK);
    ck_assert_str_eq(text.text, dec);
    free(dec);

    /* by hand: sequence 1 (pa) beside sequence 0 (pb, other parameters), one batch per step */
    p.on_token = NULL;
    bn_gen_params q = p;
    q.sampler.seed = 7;
    q.n_predict = N / 2; /* finishes earlier: the batch shrinks */
    bn_gen *ga, *gb;
    ck_assert_int_eq(bn_gen_new(m, &p, &ga, &e), BN_OK);
    ck_assert_int_eq(bn_gen_new(m, &q, &gb, &e), BN_OK);
    bn_gen_accept_prompt(ga, pa.ids, pa.n);
    bn_gen_accept_prompt(gb, pb.ids, pb.n);
    bn_ctx *c2 = new_ctx(m, 128, 2);
    float *lg = malloc(2 * (size_t)V * sizeof *lg);
    bn_seq_tokens items[2] = {{0, pb.ids, (int)pb.n, 0}, {1, pa.ids, (int)pa.n, 0}};
    ck_assert_int_eq(bn_ctx_eval_batch(c2, items, 2, BN_LOGITS_LAST, lg, &e), BN_OK);
    int32_t ta_tok, tb_tok;
    tokens hand = {0};
    collect text2 = {0};
    int pos_a = (int)pa.n, pos_b = (int)pb.n, b_done = 0;
    for (;;) {
        bn_gen_step sa, sb;
        ck_assert_int_eq(bn_gen_next(ga, lg + (b_done ? 0 : V), &sa, &e), BN_OK);
        hand.ids[hand.n++] = sa.token;
        add_piece(&text2, sa.text, sa.len);
        int n_items = 0;
        if (!b_done) {
            ck_assert_int_eq(bn_gen_next(gb, lg, &sb, &e), BN_OK);
            tb_tok = sb.token;
            if (sb.finish != BN_FINISH_NONE)
                b_done = 1;
            else
                items[n_items++] = (bn_seq_tokens){0, &tb_tok, 1, pos_b++};
        }
        if (sa.finish != BN_FINISH_NONE)
            break;
        ta_tok = sa.token;
        items[n_items++] = (bn_seq_tokens){1, &ta_tok, 1, pos_a++};
        ck_assert_int_eq(bn_ctx_eval_batch(c2, items, n_items, BN_LOGITS_LAST, lg, &e), BN_OK);
    }
    ck_assert_int_eq(bn_gen_n_generated(gb), N / 2);
    ck_assert_int_eq(hand.n, N);
    for (int i = 0; i < N; i++)
        ck_assert_msg(hand.ids[i] == alone.ids[i], "token %d: batched %d, alone %d", i, hand.ids[i],
                      alone.ids[i]);
    ck_assert_str_eq(text2.text, text.text);
    free(lg);
    bn_gen_free(ga);
    bn_gen_free(gb);
    bn_ctx_free(c1);
    bn_ctx_free(c2);
    bn_tokens_free(&pa);
    bn_tokens_free(&pb);
    bn_model_free(m);
}
END_TEST

static int abort_first(void *u, const char *t, size_t n)
{
    (void)t;
    int *calls = u;
    (*calls)++;
    return n > 0;
}

START_TEST(test_context_abort_continue)
{
    bn_model *m = bundled_model();
    int32_t prompt[] = {1, 315, 1560, 312};
    bn_gen_params p;
    bn_gen_params_default(&p);
    p.sampler.temp = 0;
    p.ignore_eos = 1;
    bn_gen_result r;
    bn_error e;

    /* context full: 4 + 3 positions */
    bn_ctx *c = new_ctx(m, 7, 1);
    collect t = {0};
    ck_assert_int_eq(bn_generate(c, 0, 0, prompt, 4, &p, on_text, &t, &r, &e), BN_OK);
    ck_assert_int_eq(r.finish, BN_FINISH_CONTEXT);
    ck_assert_int_eq(r.n_gen, 3);
    ck_assert_int_eq(bn_ctx_seq_len(c, 0), 7);
    /* a prompt that does not fit, and a position beyond the cache */
    ck_assert_int_eq(bn_generate(c, 0, 7, prompt, 1, &p, NULL, NULL, &r, &e), BN_ELIMIT);
    ck_assert_msg(strstr(e.msg, "does not fit"), "%s", e.msg);
    ck_assert_int_eq(bn_generate(c, 0, 8, prompt, 1, &p, NULL, NULL, &r, &e), BN_EINVAL);
    ck_assert_int_eq(bn_generate(c, 0, 0, prompt, 0, &p, NULL, NULL, &r, &e), BN_EINVAL);
    bn_ctx_free(c);

    /* abort at the first piece: one token generated and cached, no more callbacks */
    c = new_ctx(m, 64, 1);
    int calls = 0;
    ck_assert_int_eq(bn_generate(c, 0, 0, prompt, 4, &p, abort_first, &calls, &r, &e), BN_OK);
    ck_assert_int_eq(r.finish, BN_FINISH_ABORT);
    ck_assert_int_eq(calls, 1);
    ck_assert_int_eq(bn_ctx_seq_len(c, 0), 4 + r.n_gen);

    /* a second turn continues after the first; the same as one long generation */
    p.n_predict = 5;
    int pos = bn_ctx_seq_len(c, 0);
    int32_t more[] = {312, 1392};
    ck_assert_int_eq(bn_generate(c, 0, pos, more, 2, &p, NULL, NULL, &r, &e), BN_OK);
    ck_assert_int_eq(r.finish, BN_FINISH_LENGTH);
    ck_assert_int_eq(bn_ctx_seq_len(c, 0), pos + 2 + 5);
    /* re-evaluating from an earlier position truncates first */
    ck_assert_int_eq(bn_generate(c, 0, 2, more, 2, &p, NULL, NULL, &r, &e), BN_OK);
    ck_assert_int_eq(bn_ctx_seq_len(c, 0), 2 + 2 + 5);
    bn_ctx_free(c);
    bn_model_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("generate");
    TCase *tc = tcase_create("generate");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_utf8_cut_between_tokens);
    tcase_add_test(tc, test_stop_string_split_across_tokens);
    tcase_add_test(tc, test_stop_tokens);
    tcase_add_test(tc, test_nonfinite_logits);
    tcase_add_test(tc, test_params_checked);
    tcase_add_test(tc, test_reference_greedy);
    tcase_add_test(tc, test_batch_invariance);
    tcase_add_test(tc, test_context_abort_continue);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
