/* test_chat.c - chat templates (chat.h):
 *  - bn_chat_render equals, byte for byte, jinja2's render of each family's
 *    real chat_template (fixtures/chat/templates.json, written by
 *    scripts/make_chat_fixtures.py), and detection maps each template to its
 *    family; templates of families we do not render are refused;
 *  - the bundled model's own template, with its vocabulary's texts;
 *  - a conversation's render up to a user turn (with the generation prompt)
 *    is a prefix of the render of the longer conversation (what a chat's
 *    cache reuse relies on);
 *  - bad roles, orders a template refuses, unknown names fail with a message. */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn/chat.h"
#include "bn/convert.h"
#include "bn/model.h"
#include "testutil.h"

static cJSON *fixture(void)
{
    cJSON *j = tu_read_json(tu_root("fixtures/chat/templates.json"));
    ck_assert_msg(j != NULL, "cannot read fixtures/chat/templates.json");
    return j;
}

static bn_chat_msg *msgs_of(const cJSON *arr, size_t *n)
{
    *n = (size_t)cJSON_GetArraySize(arr);
    bn_chat_msg *m = calloc(*n ? *n : 1, sizeof *m);
    for (size_t i = 0; i < *n; i++) {
        const cJSON *o = cJSON_GetArrayItem(arr, (int)i);
        m[i].role = cJSON_GetObjectItem(o, "role")->valuestring;
        m[i].content = cJSON_GetObjectItem(o, "content")->valuestring;
    }
    return m;
}

static void default_texts(bn_chat_texts *tx)
{
    bn_error e;
    ck_assert_int_eq(bn_chat_texts_of(NULL, tx, &e), BN_OK);
    ck_assert_str_eq(tx->bos, "<s>");
    ck_assert_str_eq(tx->eos, "</s>");
    ck_assert_str_eq(tx->eot, "<|eot_id|>");
}

/* Every case of one family object against the renderer. */
static void check_cases(const cJSON *fam, const bn_chat_texts *tx, bn_chat_tpl t)
{
    const char *name = cJSON_GetObjectItem(fam, "name")->valuestring;
    const cJSON *cases = cJSON_GetObjectItem(fam, "cases");
    ck_assert_msg(cJSON_GetArraySize(cases) >= 5, "%s: too few cases", name);
    for (int c = 0; c < cJSON_GetArraySize(cases); c++) {
        const cJSON *cs = cJSON_GetArrayItem(cases, c);
        size_t n;
        bn_chat_msg *m = msgs_of(cJSON_GetObjectItem(cs, "messages"), &n);
        int add = cJSON_IsTrue(cJSON_GetObjectItem(cs, "add_generation_prompt"));
        const char *want = cJSON_GetObjectItem(cs, "expected")->valuestring;
        char *got = NULL;
        size_t len;
        bn_error e;
        ck_assert_msg(bn_chat_render(tx, t, m, n, add, &got, &len, &e) == BN_OK, "%s case %d: %s",
                      name, c, e.msg);
        ck_assert_msg(len == strlen(got), "%s case %d: length", name, c);
        ck_assert_msg(!strcmp(got, want), "%s case %d:\n got: [%s]\nwant: [%s]", name, c, got, want);
        free(got);
        free(m);
    }
}

START_TEST(test_renders_match_jinja)
{
    cJSON *j = fixture();
    bn_chat_texts tx;
    default_texts(&tx);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "bos_token")->valuestring, tx.bos);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "eos_token")->valuestring, tx.eos);
    const cJSON *fams = cJSON_GetObjectItem(j, "families");
    ck_assert_int_eq(cJSON_GetArraySize(fams), BN_CHAT_COUNT);
    for (int f = 0; f < cJSON_GetArraySize(fams); f++) {
        const cJSON *fam = cJSON_GetArrayItem(fams, f);
        bn_chat_tpl t;
        bn_error e;
        ck_assert_msg(bn_chat_tpl_parse(cJSON_GetObjectItem(fam, "name")->valuestring, &t, &e) ==
                          BN_OK, "%s", e.msg);
        ck_assert_str_eq(bn_chat_tpl_name(t), cJSON_GetObjectItem(fam, "name")->valuestring);
        check_cases(fam, &tx, t);
    }
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_detect_real_templates)
{
    cJSON *j = fixture();
    const cJSON *fams = cJSON_GetObjectItem(j, "families");
    for (int f = 0; f < cJSON_GetArraySize(fams); f++) {
        const cJSON *fam = cJSON_GetArrayItem(fams, f);
        const char *name = cJSON_GetObjectItem(fam, "name")->valuestring;
        const char *src = cJSON_GetObjectItem(fam, "template")->valuestring;
        bn_chat_tpl t = BN_CHAT_COUNT;
        bn_error e;
        ck_assert_msg(bn_chat_detect_text(src, strlen(src), &t, &e) == BN_OK, "%s: %s", name, e.msg);
        ck_assert_msg(!strcmp(bn_chat_tpl_name(t), name), "%s detected as %s", name,
                      bn_chat_tpl_name(t));
    }
    const char *bundled = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "bundled"), "template")->valuestring;
    bn_chat_tpl t;
    ck_assert_int_eq(bn_chat_detect_text(bundled, strlen(bundled), &t, NULL), BN_OK);
    ck_assert_int_eq(t, BN_CHAT_BITNET);
    cJSON_Delete(j);
}
END_TEST

/* Families llama.cpp knows but we do not render, and junk: refused by name. */
START_TEST(test_detect_refuses_others)
{
    static const char *const others[] = {
        /* phi-4 */
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '<|im_sep|>' + "
        "message['content'] + '<|im_end|>'}}{% endfor %}",
        /* mistral v7 */
        "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' "
        "+ message['content'] + '[/INST]' }}{% elif message['role'] == 'system' %}{{ "
        "'[SYSTEM_PROMPT] ' + message['content'] + '[/SYSTEM_PROMPT]' }}{% endif %}{% endfor %}",
        /* glmedge */
        "{% for item in messages %}{% if item['role'] == 'user' %}<|user|>\n{{ item['content'] }}"
        "{% elif item['role'] == 'assistant' %}<|assistant|>\n{{ item['content'] }}{% endif %}"
        "{% endfor %}<|assistant|>",
        /* vicuna */
        "{% for m in messages %}{% if m['role'] == 'user' %}USER: {{ m['content'] }}\n{% else %}"
        "ASSISTANT: {{ m['content'] }}</s>\n{% endif %}{% endfor %}",
        "",
        "hello {{ messages }}",
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        bn_chat_tpl t;
        bn_error e;
        ck_assert_msg(bn_chat_detect_text(others[i], strlen(others[i]), &t, &e) == BN_EUNSUPPORTED,
                      "template %zu accepted as %s", i, bn_chat_tpl_name(t));
        ck_assert_msg(strstr(e.msg, "--chat-template") && strstr(e.msg, "llama3, llama2"),
                      "message: %s", e.msg);
    }
}
END_TEST

START_TEST(test_prefix_property)
{
    static const bn_chat_msg conv[] = {
        {"system", "Be brief."}, {"user", "One"}, {"assistant", "Two"}, {"user", "Three"},
        {"assistant", "Four"},   {"user", "Five"}};
    bn_chat_texts tx;
    default_texts(&tx);
    for (int t = 0; t < BN_CHAT_COUNT; t++) {
        char *whole;
        bn_error e;
        ck_assert_int_eq(bn_chat_render(&tx, (bn_chat_tpl)t, conv, 6, 1, &whole, NULL, &e), BN_OK);
        for (size_t k = 2; k <= 6; k += 2) {
            char *part;
            ck_assert_int_eq(bn_chat_render(&tx, (bn_chat_tpl)t, conv, k, 1, &part, NULL, &e), BN_OK);
            ck_assert_msg(!strncmp(whole, part, strlen(part)),
                          "%s: %zu messages + generation prompt is not a prefix of 6:\n[%s]\n[%s]",
                          bn_chat_tpl_name((bn_chat_tpl)t), k, part, whole);
            free(part);
        }
        free(whole);
    }
}
END_TEST

/* gemma has no system role: it goes into the first user turn (llama.cpp's rule). */
START_TEST(test_gemma_system_folded)
{
    static const bn_chat_msg conv[] = {{"system", " Be brief. "}, {"user", "Hi"}};
    bn_chat_texts tx;
    default_texts(&tx);
    char *s;
    ck_assert_int_eq(bn_chat_render(&tx, BN_CHAT_GEMMA, conv, 2, 1, &s, NULL, NULL), BN_OK);
    ck_assert_str_eq(s, "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n");
    free(s);
}
END_TEST

START_TEST(test_bad_messages)
{
    bn_chat_texts tx;
    default_texts(&tx);
    char *s = (char *)1;
    bn_error e;
    bn_chat_msg bad_role[] = {{"user", "a"}, {"tool", "b"}};
    ck_assert_int_eq(bn_chat_render(&tx, BN_CHAT_CHATML, bad_role, 2, 1, &s, NULL, &e), BN_EINVAL);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(e.msg, "message 1") && strstr(e.msg, "tool"), "%s", e.msg);
    bn_chat_msg null_role[] = {{NULL, "a"}};
    ck_assert_int_eq(bn_chat_render(&tx, BN_CHAT_LLAMA3, null_role, 1, 1, &s, NULL, &e), BN_EINVAL);
    bn_chat_msg null_content[] = {{"user", NULL}};
    ck_assert_int_eq(bn_chat_render(&tx, BN_CHAT_LLAMA3, null_content, 1, 1, &s, NULL, &e),
                     BN_EINVAL);
    ck_assert_msg(strstr(e.msg, "message 0"), "%s", e.msg);
    bn_chat_msg two_users[] = {{"user", "a"}, {"user", "b"}};
    ck_assert_int_eq(bn_chat_render(&tx, BN_CHAT_LLAMA2, two_users, 2, 1, &s, NULL, &e), BN_EINVAL);
    ck_assert_msg(strstr(e.msg, "message 1") && strstr(e.msg, "llama2"), "%s", e.msg);
    ck_assert_int_eq(bn_chat_render(&tx, BN_CHAT_GEMMA, two_users, 2, 1, &s, NULL, &e), BN_EINVAL);
    bn_chat_msg late_system[] = {{"user", "a"}, {"assistant", "b"}, {"system", "c"}};
    ck_assert_int_eq(bn_chat_render(&tx, BN_CHAT_LLAMA2, late_system, 3, 1, &s, NULL, &e),
                     BN_EINVAL);
    /* the families that take any order render it */
    ck_assert_int_eq(bn_chat_render(&tx, BN_CHAT_CHATML, two_users, 2, 1, &s, NULL, &e), BN_OK);
    free(s);
    ck_assert_int_eq(bn_chat_render(&tx, (bn_chat_tpl)99, two_users, 2, 1, &s, NULL, &e), BN_EINVAL);
    /* nothing at all */
    ck_assert_int_eq(bn_chat_render(&tx, BN_CHAT_CHATML, NULL, 0, 1, &s, NULL, &e), BN_OK);
    ck_assert_str_eq(s, "<|im_start|>assistant\n");
    free(s);
}
END_TEST

START_TEST(test_names)
{
    bn_chat_tpl t;
    bn_error e;
    for (int i = 0; i < BN_CHAT_COUNT; i++) {
        ck_assert_int_eq(bn_chat_tpl_parse(bn_chat_tpl_name((bn_chat_tpl)i), &t, &e), BN_OK);
        ck_assert_int_eq(t, i);
    }
    ck_assert_int_eq(bn_chat_tpl_parse("vicuna", &t, &e), BN_EINVAL);
    ck_assert_msg(strstr(e.msg, "vicuna") && strstr(e.msg, "bitnet, llama3, llama2, chatml, phi3, "
                                                             "falcon3, zephyr, gemma"),
                  "%s", e.msg);
    ck_assert_int_eq(bn_chat_tpl_parse(NULL, &t, &e), BN_EINVAL);
    ck_assert_int_eq(bn_chat_tpl_parse("Llama3", &t, &e), BN_EINVAL);
}
END_TEST

/* Python's strip(): ASCII and Unicode spaces go, other bytes stay. */
START_TEST(test_trim_unicode_spaces)
{
    bn_chat_texts tx;
    default_texts(&tx);
    bn_chat_msg m[] = {{"user", "\xe3\x80\x80\xc2\xa0 \t\xe2\x80\x83x y\xe2\x80\xa8\n\x1f"}};
    char *s;
    ck_assert_int_eq(bn_chat_render(&tx, BN_CHAT_LLAMA3, m, 1, 0, &s, NULL, NULL), BN_OK);
    ck_assert_str_eq(s, "<|start_header_id|>user<|end_header_id|>\n\nx y<|eot_id|>");
    free(s);
    bn_chat_msg k[] = {{"user", "\xe2\x80\x8b\xc3\xa9"}}; /* U+200B is not whitespace in Python */
    ck_assert_int_eq(bn_chat_render(&tx, BN_CHAT_BITNET, k, 1, 0, &s, NULL, NULL), BN_OK);
    ck_assert_str_eq(s, "User: \xe2\x80\x8b\xc3\xa9<|eot_id|>");
    free(s);
}
END_TEST

/* The bundled model: its GGUF's chat_template is detected as bitnet, and its
 * vocabulary's texts (no <|eot_id|>: the EOS "</s>" ends a turn) reproduce the
 * Jinja render of that template. A model without a template gets bitnet, not
 * from the model. */
START_TEST(test_bundled_model)
{
    const char *out = tu_keep(tu_tmp("chat-tiny-b158.gguf"));
    bn_convert_opts o;
    bn_convert_opts_init(&o);
    o.in_dir = tu_keep(tu_root("fixtures/tiny-b158"));
    o.out_path = out;
    o.proj_type = BN_TYPE_I2_S;
    bn_convert_result r;
    bn_error e;
    ck_assert_msg(bn_convert_run(&o, &r, &e) == BN_OK, "%s", e.msg);
    bn_model *m;
    ck_assert_msg(bn_model_load(out, NULL, &m, &e) == BN_OK, "%s", e.msg);
    bn_chat_tpl t = BN_CHAT_COUNT;
    int from = -1;
    ck_assert_msg(bn_chat_detect(m, &t, &from, &e) == BN_OK, "%s", e.msg);
    ck_assert_int_eq(t, BN_CHAT_BITNET);
    ck_assert_int_eq(from, 1);
    cJSON *j = fixture();
    const cJSON *b = cJSON_GetObjectItem(j, "bundled");
    const cJSON *cases = cJSON_GetObjectItem(b, "cases");
    ck_assert_int_ge(cJSON_GetArraySize(cases), 5);
    for (int c = 0; c < cJSON_GetArraySize(cases); c++) {
        const cJSON *cs = cJSON_GetArrayItem(cases, c);
        size_t n;
        bn_chat_msg *msgs = msgs_of(cJSON_GetObjectItem(cs, "messages"), &n);
        char *got;
        ck_assert_int_eq(bn_chat_format(m, t, msgs, n,
                                        cJSON_IsTrue(cJSON_GetObjectItem(cs, "add_generation_prompt")),
                                        &got, NULL, &e),
                         BN_OK);
        ck_assert_str_eq(got, cJSON_GetObjectItem(cs, "expected")->valuestring);
        free(got);
        free(msgs);
    }
    cJSON_Delete(j);
    bn_model_free(m);

    const char *plain = tu_tmp("chat-synth.gguf");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' -q -o '%s' --layers 1", tu_build("bn-synth"), plain);
    ck_assert_int_eq(tu_run(cmd, NULL), 0);
    ck_assert_msg(bn_model_load(plain, NULL, &m, &e) == BN_OK, "%s", e.msg);
    ck_assert_int_eq(bn_chat_detect(m, &t, &from, &e), BN_OK);
    ck_assert_int_eq(t, BN_CHAT_BITNET);
    ck_assert_int_eq(from, 0);
    bn_model_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("chat");
    TCase *tc = tcase_create("chat");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_renders_match_jinja);
    tcase_add_test(tc, test_detect_real_templates);
    tcase_add_test(tc, test_detect_refuses_others);
    tcase_add_test(tc, test_prefix_property);
    tcase_add_test(tc, test_gemma_system_folded);
    tcase_add_test(tc, test_bad_messages);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_trim_unicode_spaces);
    tcase_add_test(tc, test_bundled_model);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
