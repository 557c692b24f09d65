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
 *     exactly as the Jinja template would with add_generation_prompt =
 *     add_assistant, without BOS: the tokenizer adds BOS (BN_TOK_ADD_SPECIAL)
 *     at the start of a conversation. Rendering a conversation in two parts
 *     (first n messages, then the rest) gives the same text as rendering it
 *     whole, so a chat can evaluate only the new turn.
 *  4. Roles other than the three are BN_EINVAL naming the message index; a
 *     template without a system role (gemma) folds it into the first user turn
 *     as llama.cpp does.
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

typedef struct {
    const char *role;     /* "system", "user" or "assistant" */
    const char *content;  /* UTF-8, NUL-terminated */
} bn_chat_msg;

/* Render msgs[0..n) (contract 3) into a malloc'd NUL-terminated string. m (may be
 * NULL) supplies vocabulary-dependent texts: "bitnet" ends a turn with <|eot_id|>
 * when the vocabulary has it, else with the EOS token's text (the bundled models). */
bn_status bn_chat_format(const bn_model *m, bn_chat_tpl t, const bn_chat_msg *msgs, size_t n,
                         int add_assistant, char **out, size_t *len, bn_error *err);

#pragma GCC visibility pop /* end of the exported API */

#endif
