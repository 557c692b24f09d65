/*
 * fuzz_spm.c - the SentencePiece protobuf decoder (tokenizer.model) through
 * bn_tokexport_load(), then the accepted vocabulary through GGUF and the
 * runtime tokenizer (tok_pipeline.h).
 * needs: src/convert/spm_proto.c src/convert/tokenizer_export.c src/runtime/tokenizer.c
 */
#include "tok_pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_write(fz_scratch("tokenizer.model"), data, size);
    fz_tok_load_dir(fz_scratch(""));
    return 0;
}
