/*
 * requant.h - GGUF to GGUF requantization (bn-quant): the projections of a
 * float (or ternary) GGUF ternarized and packed as I2_S, TQ2_0 or TQ1_0, the
 * embeddings and head re-encoded, the norms written as F32, everything else
 * copied; or, with no output, only the error statistics of the projections.
 *
 * Contract:
 *  1. A tensor's treatment comes from its role in the architecture table
 *     (arch.h, bn_role_of_name): a blk.N projection is ternarized, token_embd
 *     and output take embd_type, a 1-D float tensor is F32, anything else is
 *     copied byte for byte. Every KV is copied, general.file_type follows
 *     proj_type, general.alignment is kept.
 *  2. Nothing is written until every re-encoded tensor has been found
 *     decodable and its row length fits its new type, and, for a file of an
 *     architecture of the table with its shape hyperparameters, every tensor
 *     of the table is present with the shape those hyperparameters imply.
 *  3. It streams: one tensor at a time through bn_quant_bufs (quant.h), so
 *     peak memory follows the largest tensor. The output is a file of the
 *     caller's output set (util.h): the caller commits it.
 *  4. Every projection's statistics are added to the caller's report (in file
 *     order). A report-only run lists a NaN/Inf projection (flag nan-inf) and
 *     tells the notice callback, where writing a model refuses it.
 *  5. Ternarization and packing are quant.h's (bn_quant_tensor_mt, the
 *     packers): the bytes are identical for any thread count.
 */
#ifndef BN_REQUANT_H
#define BN_REQUANT_H

#pragma GCC visibility push(default) /* what this header declares is libbn's API */

#include <stddef.h>
#include <stdint.h>
#include "bn/error.h"
#include "bn/gguf.h"
#include "bn/quant.h"

struct bn_outset; /* util.h */

typedef struct {
    const char *in_name;       /* the input's path, in messages */
    const char *out_path;      /* OUT.gguf; NULL: report only, nothing written */
    bn_type proj_type;         /* I2_S (default), TQ2_0, TQ1_0 */
    bn_type embd_type;         /* token_embd/output: F16 (default), F32, Q8_0 */
    bn_quant_method method;    /* absmean (default) */
    int n_threads;             /* decoding, ternarizing, packing; <= 1: the calling thread */
    bn_quant_report *report;   /* required: each projection's statistics are added here */
    struct bn_outset *outputs; /* required with out_path: OUT joins it, the caller commits */
    /* The callbacks of bn_convert_opts (convert.h), so one display serves both:
     * once the plan is known, n tensors and the bytes they hold; then tensor i
     * of n done (1-based), bytes_in of the input read so far; notices. */
    void (*planned)(void *user, size_t n, uint64_t bytes_in);
    void (*progress)(void *user, size_t i, size_t n, const char *name, uint64_t bytes_in,
                     uint64_t bytes_out);
    void (*notice)(void *user, const char *msg);
    void *user;
} bn_requant_opts;

void bn_requant_opts_init(bn_requant_opts *o);
/* Requantize the open file g (contract above). */
bn_status bn_requant_run(const bn_requant_opts *o, const bn_gguf *g, bn_error *err);

#pragma GCC visibility pop /* end of the exported API */

#endif
