/*
 * quant.h - ternarization methods, packers/unpackers for every tensor type we
 * write, the reusable tensor buffers, quantization error statistics and the
 * quantization report (GGUF requantization: requant.h).
 *
 * This module is the single place where packed tensor bytes are produced.
 * bn-convert and bn-quant hand it float weights (or ternary codes) and hand
 * the bytes it returns to the GGUF writer; the runtime and bn-verify use the
 * unpackers. Formats are those of ../shared/specs/FORMATS.md §2 and §4.
 *
 * Contract:
 *  1. Matrices are row-major: n_rows rows of ne0 contiguous elements (ne0 is
 *     GGUF's ne[0], the input dimension of a PyTorch [out, in] weight). A
 *     tensor with more than two dims is packed as ne[0] x (ne[1]*ne[2]*ne[3]).
 *  2. Float packers (F32, F16, BF16, Q8_0, TQ1_0, TQ2_0) produce exactly the
 *     bytes of gguf-py's quants.quantize (llama.cpp), verified against
 *     ../shared/golden/ternary. Ternary packers (I2_S, TQ1_0, TQ2_0) take int8
 *     codes in {-1, 0, +1} and one per-tensor scale; for TQ* their bytes equal
 *     the float packer's bytes of the dequantized tensor scale*codes.
 *  3. Row-range calls (`*_rows`, rows [r0, r1)) take pointers to the WHOLE
 *     source and destination tensors and touch only those rows, so callers may
 *     split a tensor across threads. ne0 must be a multiple of the type's block
 *     (bn_type_block_size). The whole-tensor helpers take n_threads (<= 0 or 1:
 *     run in the calling thread) and use pthreads.
 *  4. Unpackers never trust the bytes: sizes are checked against src_size, and
 *     I2_S code 0b11 / non-finite scales are rejected with a message.
 *  5. Ternarization fails with BN_EINVAL, naming the tensor, on NaN or Inf.
 *     `name` arguments are used only in messages and statistics.
 */
#ifndef BN_QUANT_H
#define BN_QUANT_H

#pragma GCC visibility push(default) /* what this header declares is libbn's API */

#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include "bn/error.h"
#include "bn/arch.h"
#include "bn/gguf.h"

/* ---- packers --------------------------------------------------------------- */

/* Byte size of a packed [n_rows][ne0] tensor of type t (I2_S includes its 32-byte
 * tail). BN_EINVAL if ne0 is not a multiple of the block, or on overflow. */
bn_status bn_quant_packed_size(bn_type t, int64_t ne0, int64_t n_rows, size_t *out,
                               bn_error *err);

/* Float rows [r0, r1) -> type t in {F32, F16, BF16, Q8_0, TQ1_0, TQ2_0, Q6_K, Q4_K}, as
 * gguf-py. src: (n_rows, ne0) floats; dst: the whole packed tensor. */
bn_status bn_pack_f32_rows(bn_type t, const float *src, int64_t ne0, int64_t r0, int64_t r1,
                           void *dst, bn_error *err);

/* Ternary code rows [r0, r1) -> t in {I2_S, TQ1_0, TQ2_0}. codes: (n_rows, ne0) int8 in
 * {-1,0,1}; scale: the per-tensor scale (TQ stores it per block as fp16; all-zero
 * blocks get d = 0). For I2_S the tail is NOT written here: call bn_pack_i2s_tail
 * once per tensor. BN_EINVAL on a code outside {-1,0,1}. */
bn_status bn_pack_ternary_rows(bn_type t, const int8_t *codes, float scale, int64_t ne0,
                               int64_t r0, int64_t r1, void *dst, bn_error *err);

/* The I2_S tail: f32 scale (little-endian) then 28 zero bytes. */
void bn_pack_i2s_tail(float scale, uint8_t tail[BN_I2_S_TAIL]);

/* Whole-tensor packers, multi-threaded. dst_size must equal bn_quant_packed_size. */
bn_status bn_pack_f32(bn_type t, const float *src, int64_t ne0, int64_t n_rows, void *dst,
                      size_t dst_size, int n_threads, bn_error *err);
bn_status bn_pack_ternary(bn_type t, const int8_t *codes, float scale, int64_t ne0,
                          int64_t n_rows, void *dst, size_t dst_size, int n_threads,
                          bn_error *err);

/* general.file_type for a file whose bulk tensors are of type t (llama.h's
 * llama_ftype: ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q8_0 7, MOSTLY_BF16 32, MOSTLY_TQ1_0
 * 36, MOSTLY_TQ2_0 37; I2_S 40 as bitnet.cpp's official file). UINT32_MAX for a
 * type outside that list. */
uint32_t bn_quant_file_type(bn_type t);

/* ---- K-quants (embeddings and the head) ------------------------------------- */

/* bn_pack_f32_rows also takes BN_TYPE_Q6_K and BN_TYPE_Q4_K (FORMATS.md §2.3): the
 * bytes of ggml's quantize_row_q6_K_ref / quantize_row_q4_K_ref, which is what
 * llama-quantize writes for --token-embedding-type / --output-tensor-type without
 * an importance matrix (checked against its output, fixtures/kquant), as built by
 * bitnet.cpp. That reference's bytes depend on its build: bitnet.cpp's (clang,
 * -march=native) fuses the multiply-adds of the scale search, upstream llama.cpp's
 * (ggml-base without -march) does not, and a few blocks in a thousand differ.
 * bn_pack_kquant_rows packs rows [r0, r1) either way (bn_pack_f32_rows = FMA). */
typedef enum {
    BN_KQ_FMA = 0,   /* bitnet.cpp's llama-quantize (the default) */
    BN_KQ_PLAIN = 1  /* upstream llama.cpp's llama-quantize */
} bn_kquant_build;
bn_status bn_pack_kquant_rows(bn_type t, bn_kquant_build build, const float *src, int64_t ne0,
                              int64_t r0, int64_t r1, void *dst, bn_error *err);

/* Dequantize n elements (n % 256 == 0) of Q6_K / Q4_K blocks at src into dst,
 * in ggml's float order (dequantize_row_q6_K: (d * scale) * (q - 32)). */
void bn_dequant_row_q6_k(const uint8_t *src, float *dst, int64_t n);
void bn_dequant_row_q4_k(const uint8_t *src, float *dst, int64_t n);
/* The 6-bit scale and min of 32-element group j (0..7) from a Q4_K block's 12
 * packed scale bytes (ggml's get_scale_min_k4). */
void bn_kquant_scale_min_k4(int j, const uint8_t *scales12, uint8_t *sc, uint8_t *m);

/* ---- unpackers ------------------------------------------------------------- */

/* Dequantize rows [r0, r1) of a packed [n_rows][ne0] tensor of any type above
 * (F32, F16, BF16, Q8_0, TQ1_0, TQ2_0, I2_S) into dst ((r1-r0) * ne0 floats).
 * src/src_size: the whole packed tensor (I2_S reads its scale from the tail). */
bn_status bn_unpack_f32_rows(bn_type t, const void *src, size_t src_size, int64_t ne0,
                             int64_t n_rows, int64_t r0, int64_t r1, float *dst, bn_error *err);
bn_status bn_unpack_f32(bn_type t, const void *src, size_t src_size, int64_t ne0,
                        int64_t n_rows, float *dst, int n_threads, bn_error *err);

/* Ternary codes of rows [r0, r1) of an I2_S, TQ1_0 or TQ2_0 tensor into codes
 * ((r1-r0) * ne0 int8 in {-1,0,1}). The 2-bit value 3, which neither I2_S nor
 * TQ2_0 ever writes, is rejected (here and by bn_unpack_f32_rows) with the row and
 * column; every TQ1_0 byte decodes to valid trits. */
bn_status bn_unpack_ternary_rows(bn_type t, const void *src, size_t src_size, int64_t ne0,
                                 int64_t n_rows, int64_t r0, int64_t r1, int8_t *codes,
                                 bn_error *err);

/* The per-tensor scale of a ternary tensor: I2_S's tail scale; for TQ1_0/TQ2_0 the
 * common fp16 d of every non-zero block (0 if every block is zero). BN_EINVAL if TQ
 * blocks disagree (not a per-tensor ternary tensor) or the scale is not finite. */
bn_status bn_packed_ternary_scale(bn_type t, const void *src, size_t src_size, int64_t ne0,
                                  int64_t n_rows, float *scale, bn_error *err);

/* Hugging Face offline-packed BitNet weights (FORMATS.md §4): packed is uint8
 * [out/4][in] (packed_rows = out/4), byte [r, c] holds rows r, r+R, r+2R, r+3R
 * (R = packed_rows) in bits 1:0, 3:2, 5:4, 7:6 as code+1. codes: [4*R][in] int8.
 * BN_EINVAL (naming `name`, the byte and its position) on the unused value 3. */
bn_status bn_unpack_hf_bitnet_u8(const char *name, const uint8_t *packed, int64_t packed_rows,
                                 int64_t in, int8_t *codes, bn_error *err);
/* The stored I2_S scale for an HF `weight_scale` value: 1 / weight_scale.
 * BN_EINVAL if weight_scale is not finite and positive or the result is not finite. */
bn_status bn_hf_weight_scale_to_scale(const char *name, float weight_scale, float *scale,
                                      bn_error *err);

/* ---- tensor buffers -------------------------------------------------------- */

/* The buffers a streaming converter moves one tensor at a time through, grown
 * to the largest tensor and reused: bn-convert's pipeline and the requantizer
 * (requant.h). Peak memory is about 5.25 bytes per element of the largest
 * tensor (floats, codes, I2_S bytes). */
typedef struct {
    float *f;          /* (f_cap) weights as f32: read or decoded */
    int8_t *codes;     /* (codes_cap) ternary codes of f */
    int8_t *scratch;   /* (scratch_cap) codes in another row order (q/k permutation) */
    uint8_t *packed;   /* (packed_cap) packed bytes, read or to be written */
    size_t f_cap, codes_cap, scratch_cap, packed_cap;
} bn_quant_bufs;

/* Grow each buffer to hold at least the count given (elements; 0 leaves it as
 * it is); contents are kept. `what` (a tensor name) is used in messages:
 * BN_ELIMIT when a count overflows the address space, BN_ENOMEM. */
bn_status bn_quant_bufs_reserve(bn_quant_bufs *b, size_t n_f, size_t n_codes, size_t n_scratch,
                                size_t n_packed, const char *what, bn_error *err);
void bn_quant_bufs_free(bn_quant_bufs *b); /* and zero it for reuse */

/* ---- ternarization --------------------------------------------------------- */

typedef enum {
    BN_QM_ABSMEAN = 0, /* BitNet b1.58: s = max(mean|W|, 1e-5), T = clamp(round(W/s)) */
    BN_QM_ABSMAX,      /* s0 = max|W|, T = sign(W)[|W| > s0/2], s = mean|W| over T != 0 */
    BN_QM_MSE          /* (Δ, s) minimizing ||W - s T||², T = sign(W)[|W| > Δ], exact */
} bn_quant_method;

const char *bn_quant_method_name(bn_quant_method m);                /* "absmean", ... */
int bn_quant_method_from_name(const char *name, bn_quant_method *m); /* 0 ok, -1 unknown */

/* Flags of a ternarized tensor (bit set in bn_ternary_result.flags / bn_quant_stats.flags). */
#define BN_QF_ALREADY_TERNARY 0x1u /* every value in {-s, 0, s}: kept exactly, error 0 */
#define BN_QF_SIGN_LIKE 0x2u       /* more than 99% of codes are non-zero */
#define BN_QF_SCALE_CLAMPED 0x4u   /* absmean scale hit its 1e-5 floor */
#define BN_QF_NAN_INF 0x8u         /* the input holds NaN or Inf (ternarization failed) */

/* Comma-separated flag names ("already-ternary,sign-like") into buf; "-" if none. */
const char *bn_quant_flags_str(uint32_t flags, char *buf, size_t cap);
/* Parse "sign-like,nan-inf" into a flag mask. 0 ok, -1 on an unknown name. */
int bn_quant_flags_parse(const char *s, uint32_t *flags);

typedef struct {
    float scale;      /* dequantized weight = scale * code */
    float threshold;  /* |W| > threshold <=> code != 0 (absmean: s/2, in weight units) */
    uint32_t flags;   /* BN_QF_* */
} bn_ternary_result;

/* Ternarize n floats with method m into codes (n int8). Detects already-ternary
 * input first (any method): codes = sign, scale = the common magnitude. */
bn_status bn_ternarize(const char *name, const float *w, uint64_t n, bn_quant_method m,
                       int8_t *codes, bn_ternary_result *res, bn_error *err);
/* The same on n_threads threads; the result is bit-identical for any count. */
bn_status bn_ternarize_mt(const char *name, const float *w, uint64_t n, bn_quant_method m,
                          int8_t *codes, bn_ternary_result *res, int n_threads, bn_error *err);

/* ---- statistics ------------------------------------------------------------ */

/* A tensor's kind in the statistics: its projection role (arch.h), or
 * BN_ROLE_OTHER for everything else (norms, embeddings, unknown names); layer
 * from the name (-1 if none), GGUF (blk.N.attn_q.weight) or Hugging Face
 * (model.layers.N.self_attn.q_proj.weight). Names are those of the
 * architecture table; bn_role_name() names a kind ("attn_q", ..., "other"). */
bn_role bn_quant_kind_of(const char *name, int *layer);

#define BN_QSTAT_BINS 64
#define BN_QSTAT_NAME_MAX 128

typedef struct {
    char name[BN_QSTAT_NAME_MAX];
    uint32_t n_dims;
    int64_t ne[4];               /* GGUF order, ne[0] contiguous; unused dims 1 */
    bn_role kind;                /* bn_quant_kind_of */
    int layer;                   /* -1 if the name has none */
    bn_quant_method method;
    float scale;
    float threshold;             /* weight units */
    uint32_t flags;              /* BN_QF_* */
    uint64_t n;                  /* elements */
    uint64_t n_neg, n_zero, n_pos;
    double sum_w2;               /* Σ W² */
    double sum_err2;             /* Σ (W - s T)² */
    double sum_q2;               /* Σ (s T)² */
    double sum_wq;               /* Σ W · s T */
    double mse, rmse, nmse;      /* nmse = mse / mean W² (0 if W == 0) */
    double snr_db;               /* 10 log10(Σ W² / Σ err²); +inf when err == 0 */
    double cosine;               /* <W, sT> / (|W| |sT|); 1 if both zero */
    double max_abs_err;
    /* The BitNet baseline: Σ (W - s T)² had absmean been used (equal to sum_err2
     * when the method is absmean or the tensor is already ternary), and its NMSE. */
    double sum_err2_absmean, nmse_absmean;
    /* Histogram of |W| / scale over [0, hist_max): bin i covers
     * [i, i+1) * hist_max / BN_QSTAT_BINS; values >= hist_max go in the last bin. */
    double hist_max;
    uint64_t hist[BN_QSTAT_BINS];
} bn_quant_stats;

/* Fill st from the original weights and the codes/scale chosen for them. */
bn_status bn_quant_stats_compute(bn_quant_stats *st, const char *name, uint32_t n_dims,
                                 const int64_t *ne, const float *w, const int8_t *codes,
                                 const bn_ternary_result *res, bn_quant_method m,
                                 bn_error *err);

/* Ternarize + statistics in one call, the per-tensor entry point for bn-convert and
 * bn-quant. w: product(ne) floats, ne in GGUF order (ne[0] = the input dimension
 * of a PyTorch [out, in] weight); codes: as many int8 (caller-owned), ready for
 * bn_pack_ternary with res->scale. st may be NULL. On NaN/Inf returns BN_EINVAL
 * naming the tensor and, if st is non-NULL, fills it with name/shape and
 * BN_QF_NAN_INF so a report can still list the tensor.
 * Offline-packed HF weights have no latent W: unpack them
 * (bn_unpack_hf_bitnet_u8), and if a report entry is wanted, pass scale * codes
 * here; it is recognised as already ternary and kept exactly. */
bn_status bn_quant_tensor(const char *name, const float *w, uint32_t n_dims, const int64_t *ne,
                          bn_quant_method m, int8_t *codes, bn_ternary_result *res,
                          bn_quant_stats *st, bn_error *err);
/* The same on n_threads threads (codes, scale and statistics bit-identical for
 * any count: work is split into fixed chunks whose partial sums are combined in
 * order). */
bn_status bn_quant_tensor_mt(const char *name, const float *w, uint32_t n_dims, const int64_t *ne,
                             bn_quant_method m, int8_t *codes, bn_ternary_result *res,
                             bn_quant_stats *st, int n_threads, bn_error *err);

/* A tensor's floats in pieces: read(ctx, first, n, dst, err) stores elements
 * [first, first + n) at dst[0..n) and returns 0, or fails with a message. It is
 * called from several threads at once, each element once, for ranges of at most
 * 65536 elements. */
typedef struct {
    bn_status (*read)(void *ctx, uint64_t first, uint64_t n, float *dst, bn_error *err);
    void *ctx;
} bn_quant_source;

/* bn_quant_tensor_mt on the floats src stores into w (product(ne) floats) as the
 * first pass over the tensor reaches them: each piece is converted and then
 * scanned while it is in cache, instead of the tensor being converted first and
 * read back. The same codes, result and statistics, bit for bit; w holds the
 * tensor afterwards, unless src failed (its status and message are returned). */
bn_status bn_quant_tensor_fill(const char *name, const bn_quant_source *src, float *w, uint32_t n_dims,
                               const int64_t *ne, bn_quant_method m, int8_t *codes, bn_ternary_result *res,
                               bn_quant_stats *st, int n_threads, bn_error *err);

/* ---- report ---------------------------------------------------------------- */

/* A report holds only statistics (no tensor data): add tensors one at a time. */
typedef struct bn_quant_report bn_quant_report;

typedef enum {
    BN_REPORT_TEXT = 0, /* aligned table, <= 120 columns */
    BN_REPORT_JSON,     /* every number (cJSON) */
    BN_REPORT_CSV,      /* one row per tensor, every number */
    BN_REPORT_HTML      /* self-contained page with inline SVG charts */
} bn_report_format;

int bn_report_format_from_name(const char *name, bn_report_format *f); /* 0 ok, -1 unknown */
/* The format a report file's extension names: .txt/.text, .json, .csv, .html/.htm;
 * no extension is text. Any other extension is BN_EINVAL naming the known ones
 * (a report is never written in a format its name does not say). */
bn_status bn_report_format_from_path(const char *path, bn_report_format *f, bn_error *err);

/* title: shown in text/HTML headers, and in JSON as "title" and "input":
 * the input path. */
bn_status bn_quant_report_new(const char *title, bn_quant_report **out, bn_error *err);
/* The JSON report's "tool" (the program writing it; default "libbn"). The JSON
 * opens with "tool", "version" (bn_version()), "schema"
 * (BN_QUANT_REPORT_SCHEMA) and "input"; non-finite numbers are null
 * (docs/json.md). */
#define BN_QUANT_REPORT_SCHEMA 1
bn_status bn_quant_report_set_tool(bn_quant_report *r, const char *tool, bn_error *err);
void bn_quant_report_free(bn_quant_report *r);
bn_status bn_quant_report_add(bn_quant_report *r, const bn_quant_stats *st, bn_error *err);
size_t bn_quant_report_count(const bn_quant_report *r);
const bn_quant_stats *bn_quant_report_at(const bn_quant_report *r, size_t i);
const bn_quant_stats *bn_quant_report_find(const bn_quant_report *r, const char *name); /* NULL if absent */
/* The tensor whose |W|/s histogram the HTML report shows (default: highest NMSE).
 * BN_ENOTFOUND if no tensor of that name has been added. */
bn_status bn_quant_report_set_focus(bn_quant_report *r, const char *name, bn_error *err);

/* Element-weighted aggregate (sums of the per-tensor sums; derived metrics
 * recomputed from them). */
typedef struct {
    uint64_t n_tensors;
    uint64_t n, n_neg, n_zero, n_pos;
    double sum_w2, sum_err2, sum_q2, sum_wq;
    double mse, rmse, nmse, snr_db, cosine, max_abs_err;
    double sum_err2_absmean, nmse_absmean; /* the absmean baseline */
    double gain_db;                        /* 10 log10(err² absmean / err²): > 0 beats absmean */
    uint32_t flags;                        /* OR of the members' flags */
} bn_quant_summary;

/* Totals per kind (a projection role or BN_ROLE_OTHER), per layer
 * (layer < 0 or absent -> n_tensors 0), and for the whole model. */
void bn_quant_report_by_kind(const bn_quant_report *r, bn_role k, bn_quant_summary *out);
void bn_quant_report_by_layer(const bn_quant_report *r, int layer, bn_quant_summary *out);
void bn_quant_report_total(const bn_quant_report *r, bn_quant_summary *out);
int bn_quant_report_n_layers(const bn_quant_report *r); /* 1 + highest layer, 0 if none */

bn_status bn_quant_report_write(const bn_quant_report *r, bn_report_format f, FILE *out,
                                bn_error *err);

/* The one rule for a report's format: the one named (text|json|csv|html) when
 * name is non-NULL, else the one path's extension names
 * (bn_report_format_from_path), else text (path NULL). BN_EINVAL on an
 * unknown name, listing the known ones. */
bn_status bn_report_format_choose(const char *name, const char *path, bn_report_format *f,
                                  bn_error *err);

struct bn_outset; /* util.h */
/* Write r in format f to path (NULL: stdout): a file of the output set outs
 * (util.h), complete when this returns BN_OK and renamed onto path when the
 * set is committed; a failure removes it. Errors name the path. */
bn_status bn_quant_report_save(const bn_quant_report *r, bn_report_format f, const char *path,
                               struct bn_outset *outs, bn_error *err);

/* What the HTML report's header names besides the title: the tool and its
 * version ("bn-quant 0.1.0"), the command line, the output type ("I2_S", or
 * "report only"); NULL leaves one out. The date is the time of writing
 * (SOURCE_DATE_EPOCH when set, for reproducible pages). */
bn_status bn_quant_report_set_meta(bn_quant_report *r, const char *tool, const char *command,
                                   const char *out_type, bn_error *err);
/* Side by side (HTML): `other` holds the same tensors ternarized by another
 * method; r takes ownership (freed with r, also on failure). At most 3. */
bn_status bn_quant_report_add_method(bn_quant_report *r, bn_quant_report *other, bn_error *err);

/* CI gate: a tensor fails when nmse > max_nmse (max_nmse < 0: no limit) or
 * (flags & fail_flags). Returns the number of failing tensors; if out is non-NULL
 * writes one line per failure ("name: nmse 0.31 > 0.2" / "name: flagged sign-like"). */
size_t bn_quant_report_gate(const bn_quant_report *r, double max_nmse, uint32_t fail_flags,
                            FILE *out);

#pragma GCC visibility pop /* end of the exported API */

#endif
