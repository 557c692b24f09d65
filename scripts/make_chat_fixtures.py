#!/usr/bin/python3
"""Reference renders of real chat templates for tests/test_chat.c.

Each family's chat_template is the Jinja string its models ship in
tokenizer_config.json (named below). Every conversation is rendered with
jinja2 the way Hugging Face transformers does (trim_blocks, lstrip_blocks,
raise_exception, add_generation_prompt), with bos_token "<s>" and eos_token
"</s>". A leading bos_token is removed from the expected text: bntk's
formatter leaves the first BOS to the tokenizer (chat.h, contract 3).
Conversations a template refuses (raise_exception) are left out. "bundled"
holds the same for fixtures/tiny-b158's own template, rendered with its
tokenizer_config.json's bos/eos tokens.

Usage: /usr/bin/python3 scripts/make_chat_fixtures.py > fixtures/chat/templates.json
Needs python3-jinja2 (Debian).
"""
import json
import os
import sys

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

TEMPLATES = {
    # microsoft/bitnet-b1.58-2B-4T
    "bitnet": "{% for message in messages %}{% set content = message['role'] | capitalize + ': '+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ 'Assistant: ' }}{% endif %}",
    # meta-llama/Meta-Llama-3-8B-Instruct, with the generation prompt behind its flag
    # as in Llama 3.1 and later (the very first 3.0 upload always appended it)
    "llama3": "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
    # meta-llama/Llama-2-7b-chat-hf
    "llama2": "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
    # teknium/OpenHermes-2.5-Mistral-7B
    "chatml": "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
    # microsoft/Phi-3.5-mini-instruct
    "phi3": "{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}",
    # tiiuae/Falcon3-7B-Instruct (and the -1.58bit models): the branch without tools
    "falcon3": "{%- for message in messages %}\n    {%- if message['role'] == 'system' %}\n        {{- '<|system|>\\n' + message['content'] + '\\n' }}\n    {%- elif message['role'] == 'user' %}\n        {{- '<|user|>\\n' + message['content'] + '\\n' }}\n    {%- elif message['role'] == 'assistant' %}\n        {%- if not loop.last %}\n            {{- '<|assistant|>\\n' + message['content'] + eos_token + '\\n' }}\n        {%- else %}\n            {{- '<|assistant|>\\n' + message['content'] + eos_token }}\n        {%- endif %}\n    {%- endif %}\n    {%- if loop.last and add_generation_prompt %}\n        {{- '<|assistant|>\\n' }}\n    {%- endif %}\n{%- endfor %}",
    # HuggingFaceH4/zephyr-7b-beta
    "zephyr": "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}",
    # google/gemma-7b-it
    "gemma": "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}",
}

SYS = {"role": "system", "content": "You are a terse assistant."}
U1 = {"role": "user", "content": "Hello"}
A1 = {"role": "assistant", "content": "Hi! How can I help?"}
U2 = {"role": "user", "content": "Tell me a joke, please."}
WS = {"role": "user", "content": "  Gr\u00fc\u00dfe, \u4e16\u754c!\n  "}
A2 = {"role": "assistant", "content": " Why did the chicken cross the road? \n"}

CONVERSATIONS = [
    ([U1], True),
    ([U1], False),
    ([SYS, U1], True),
    ([SYS, U1, A1, U2], True),
    ([U1, A1, U2], True),
    ([U1, A1], False),
    ([SYS, U1, A1], False),
    ([U1, A1, U2, A2], False),
    ([WS], True),
    ([SYS, WS, A2, U2], True),
]


def raise_exception(msg):
    raise jinja2.exceptions.TemplateError(msg)


def main():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    bos, eos = "<s>", "</s>"
    out = {"bos_token": bos, "eos_token": eos, "families": []}
    for name, src in TEMPLATES.items():
        tpl = env.from_string(src)
        cases = []
        for msgs, gen in CONVERSATIONS:
            try:
                text = tpl.render(messages=msgs, add_generation_prompt=gen,
                                  bos_token=bos, eos_token=eos)
            except jinja2.exceptions.TemplateError:
                continue
            if text.startswith(bos):
                text = text[len(bos):]
            cases.append({"messages": msgs, "add_generation_prompt": gen, "expected": text})
        out["families"].append({"name": name, "template": src, "cases": cases})
    # the bundled model's own template (fixtures/tiny-b158): the bitnet family
    # with its EOS text as the end of a turn and no trim, so no padded contents
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "fixtures", "tiny-b158", "tokenizer_config.json")) as f:
        cfg = json.load(f)
    tpl = env.from_string(cfg["chat_template"])
    cases = []
    for msgs, gen in CONVERSATIONS:
        if any(m["content"] != m["content"].strip() for m in msgs):
            continue
        text = tpl.render(messages=msgs, add_generation_prompt=gen,
                          bos_token=cfg["bos_token"], eos_token=cfg["eos_token"])
        if text.startswith(cfg["bos_token"]):
            text = text[len(cfg["bos_token"]):]
        cases.append({"messages": msgs, "add_generation_prompt": gen, "expected": text})
    out["bundled"] = {"model": "tiny-b158", "name": "bitnet", "template": cfg["chat_template"],
                      "cases": cases}
    json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
