/*
 * arch.h - the GGUF architectures bntk reads and writes (FORMATS.md §3).
 * Shared by the converter (which writes them) and the runtime (which runs them).
 */
#ifndef BN_ARCH_H
#define BN_ARCH_H

#pragma GCC visibility push(default) /* what this header declares is libbn's API */

#include <string.h>

typedef enum {
    BN_ARCH_BITNET = 0,      /* "bitnet": 1bitLLM BitnetForCausalLM, silu gate, sub-norms, NEOX rope */
    BN_ARCH_BITNET_B158 = 1, /* "bitnet-b1.58": BitNetForCausalLM (2B-4T), relu² gate, sub-norms, NEOX rope */
    BN_ARCH_LLAMA = 2        /* "llama": LlamaForCausalLM + BitNet quantization, silu, NORM rope */
} bn_arch;

#define BN_ARCH_COUNT 3

static inline const char *bn_arch_name(bn_arch a)
{
    switch (a) {
    case BN_ARCH_BITNET: return "bitnet";
    case BN_ARCH_BITNET_B158: return "bitnet-b1.58";
    case BN_ARCH_LLAMA: return "llama";
    }
    return "?";
}

/* 0 and *a set on success, -1 for a name we do not support. */
static inline int bn_arch_from_name(const char *name, bn_arch *a)
{
    for (int i = 0; i < BN_ARCH_COUNT; i++)
        if (strcmp(name, bn_arch_name((bn_arch)i)) == 0) {
            *a = (bn_arch)i;
            return 0;
        }
    return -1;
}

#pragma GCC visibility pop /* end of the exported API */

#endif
