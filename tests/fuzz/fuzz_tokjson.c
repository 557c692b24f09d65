/*
 * fuzz_tokjson.c - the tokenizer.json importer and the JSON files read beside
 * it. The input is split at NUL bytes (which JSON text cannot contain):
 * tokenizer.json, then optionally tokenizer_config.json, config.json and
 * generation_config.json. An accepted directory goes through GGUF and the
 * runtime tokenizer (tok_pipeline.h).
 * needs: src/convert/tok_hf_json.c src/convert/tokenizer_export.c src/runtime/tokenizer.c
 */
#include <unistd.h>

#include "tok_pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const files[] = {"tokenizer.json", "tokenizer_config.json", "config.json",
                                        "generation_config.json"};
    const uint8_t *p = data, *end = data + size;
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        const char *path = fz_scratch(files[i]);
        if (p > end) { /* fewer parts than files: the rest are absent */
            unlink(path);
            continue;
        }
        const uint8_t *nul = memchr(p, 0, (size_t)(end - p));
        const uint8_t *stop = nul ? nul : end;
        fz_write(path, p, (size_t)(stop - p));
        p = stop + 1;
    }
    fz_tok_load_dir(fz_scratch(""));
    return 0;
}
