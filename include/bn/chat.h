/*
 * chat.h - chat templates: which one a model uses, and a conversation turned
 * into the text its template produces. Shared by bn-run --chat and bn-serve.
 *
 * Contract:
 *  1. Templates are the families llama.cpp recognises for the models we run
 *     (llama_chat_apply_template), each by one name: "bitnet" (BitNet-2B-4T:
 *     "Role: text<|eot_id|>"), "llama3", "llama2", "chatml", "phi3", "falcon3",
 *     "zephyr", "gemma". bn_chat_tpl_parse() refuses any other name with a
 *     message listing the known ones.
 *  2. Detection (bn_chat_detect) reads tokenizer.chat_template and matches the
 *     markers llama.cpp matches. A model with a template that matches no family
 *     is BN_EUNSUPPORTED, naming the file and the known names (choose one with
 *     --chat-template): never a silent fallback. A model without a template gets
 *     the family its vocabulary implies (<|start_header_id|>: llama3,
 *     <|im_start|>: chatml), else "bitnet"; *from_model says which happened.
 *  3. bn_chat_format() renders messages (roles "system", "user", "assistant")
 *     exactly as the family's Jinja template renders them (Hugging Face's
 *     apply_chat_template: trim_blocks, lstrip_blocks) with add_generation_prompt
 *     = add_assistant, without the BOS that starts the text: the tokenizer adds
 *     that one (BN_TOK_ADD_SPECIAL); a BOS inside the text (llama2's later
 *     turns) is written as the BOS token's text, to be parsed as special.
 *     Tested byte for byte against jinja2 renders of the real templates
 *     (fixtures/chat/templates.json). `| trim` / `.strip()` remove what Python
 *     calls whitespace (ASCII and the Unicode spaces). A chat that keeps its
 *     conversation in a KV cache re-renders it whole and re-evaluates from the
 *     first token that differs (some templates end the last assistant turn
 *     differently from an inner one, e.g. falcon3).
 *  4. Roles other than the three, or a NULL content, are BN_EINVAL naming the
 *     message index; so are orders the template itself refuses (llama2, gemma:
 *     user and assistant alternate, starting with user; llama2: a system
 *     message only first). A template without a system role (gemma) folds it
 *     into the first user turn as llama.cpp does.
 */
#ifndef BN_CHAT_H
#define BN_CHAT_H

#pragma GCC visibility push(default) /* what this header declares is libbn's API */

#include <stddef.h>
#include "bn/error.h"
#include "bn/model.h"

typedef enum {
    BN_CHAT_BITNET = 0,
    BN_CHAT_LLAMA3,
    BN_CHAT_LLAMA2,
    BN_CHAT_CHATML,
    BN_CHAT_PHI3,
    BN_CHAT_FALCON3,
    BN_CHAT_ZEPHYR,
    BN_CHAT_GEMMA,
    BN_CHAT_COUNT
} bn_chat_tpl;

const char *bn_chat_tpl_name(bn_chat_tpl t);
/* BN_EINVAL for an unknown name, listing the known ones. */
bn_status bn_chat_tpl_parse(const char *name, bn_chat_tpl *out, bn_error *err);

/* Contract 2. from_model (may be NULL): 1 when tokenizer.chat_template decided. */
bn_status bn_chat_detect(const bn_model *m, bn_chat_tpl *out, int *from_model, bn_error *err);
/* The family of a Jinja chat_template string (len bytes), by llama.cpp's markers;
 * BN_EUNSUPPORTED (naming the known names) when it matches none. */
bn_status bn_chat_detect_text(const char *tmpl, size_t len, bn_chat_tpl *out, bn_error *err);

typedef struct {
    const char *role;     /* "system", "user" or "assistant" */
    const char *content;  /* UTF-8, NUL-terminated */
} bn_chat_msg;

/* The vocabulary's texts a template writes: bos_token, eos_token, and the end of
 * a "bitnet" turn (<|eot_id|> when the vocabulary has it, else the EOS text:
 * the bundled models). */
#define BN_CHAT_TEXT_MAX 128
typedef struct {
    char bos[BN_CHAT_TEXT_MAX], eos[BN_CHAT_TEXT_MAX], eot[BN_CHAT_TEXT_MAX];
} bn_chat_texts;
/* From m's tokenizer; m NULL, or without a tokenizer or such a token: "<s>",
 * "</s>", "<|eot_id|>". BN_EUNSUPPORTED for a token text of BN_CHAT_TEXT_MAX
 * bytes or more, or one holding a NUL. */
bn_status bn_chat_texts_of(const bn_model *m, bn_chat_texts *tx, bn_error *err);

/* Render msgs[0..n) (contract 3) into a malloc'd NUL-terminated string (*len
 * excludes the NUL; len may be NULL). m (may be NULL) supplies the texts. */
bn_status bn_chat_format(const bn_model *m, bn_chat_tpl t, const bn_chat_msg *msgs, size_t n,
                         int add_assistant, char **out, size_t *len, bn_error *err);
/* The same with explicit texts. */
bn_status bn_chat_render(const bn_chat_texts *tx, bn_chat_tpl t, const bn_chat_msg *msgs,
                         size_t n, int add_assistant, char **out, size_t *len, bn_error *err);

#pragma GCC visibility pop /* end of the exported API */

#endif
