/*
 * gguf.h - GGUF v2/v3: type table, validated mmap reader, streaming writer.
 *
 * The format (normative for this module; ../shared/specs/FORMATS.md §1-2):
 *  1. Little-endian. magic "GGUF", u32 version (2 or 3), u64 n_tensors, u64 n_kv.
 *  2. n_kv records: key string, u32 value type, value. A string is u64 length +
 *     bytes (no NUL). Arrays: u32 element type, u64 count, elements; arrays of
 *     arrays are rejected.
 *  3. n_tensors infos: name string (<= 63 bytes), u32 n_dims (1..4), n_dims u64
 *     ne (ne[0] contiguous), u32 ggml type, u64 offset into the data section.
 *  4. The data section starts at the first multiple of ALIGNMENT
 *     (general.alignment, u32 power of two, default 32) after the infos.
 *  5. Tensor offsets are the running sum of the sizes of the previous tensors,
 *     each padded to ALIGNMENT, in info order (llama.cpp's rule); the writer pads
 *     after the last tensor too. Keys and tensor names are unique.
 *
 * Reader contract: bn_gguf_open() validates everything above before returning;
 * every count and length is checked against the bytes that remain before any
 * allocation; errors are one sentence "FILE: kv|tensor I 'NAME': what, value
 * (offset N)" with N the byte offset of the offending field, status BN_EINVAL.
 * Beyond the list above it also refuses: empty keys/names or ones containing
 * NUL, ne[i] <= 0 or a product above INT64_MAX, ne[0] not a multiple of the
 * type's block, bool values other than 0/1, and general.alignment of any type
 * but u32. It is lenient in one place only: the last tensor's padding may be
 * missing at EOF (and a file without tensors may end before its padded data
 * offset, as gguf-py writes vocab-only files). After a successful open, every
 * pointer handed out points inside the mapping and every tensor's
 * [data, data + nbytes) lies inside the file.
 *
 * Writer contract: add KVs, then tensor infos, then append tensor bytes in info
 * order with bn_gguf_writer_write() (any chunking); padding between tensors is
 * automatic. Output goes to a temp file beside the target, renamed by
 * bn_gguf_writer_finish(); on any failure or abort the temp file is removed and
 * an existing target is untouched. It refuses what the reader would refuse
 * (before writing anything), KVs or infos after the first data write, and a
 * write longer than the current tensor still needs. After an I/O error every
 * further call fails and finish() removes the temp file.
 */
#ifndef BN_GGUF_H
#define BN_GGUF_H

#pragma GCC visibility push(default) /* what this header declares is libbn's API */

#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h> /* memcpy: bn_gguf_f32le */
#include "bn/error.h"

/* ---- ggml tensor types ----------------------------------------------------- */

typedef enum {
    BN_TYPE_F32 = 0,
    BN_TYPE_F16 = 1,
    BN_TYPE_Q8_0 = 8,
    BN_TYPE_BF16 = 30,
    BN_TYPE_TQ1_0 = 34,
    BN_TYPE_TQ2_0 = 35,
    BN_TYPE_I2_S = 36
} bn_type;

#define BN_QK_Q8_0 32
#define BN_QK_TQ 256
#define BN_QK_I2_S 128            /* ne0 must be a multiple of this */
#define BN_I2_S_TAIL 32           /* per-tensor tail: f32 scale + 28 zero bytes */

/* 1 if t is one of the types above. */
int bn_type_known(uint32_t t);
/* 1 if t holds ternary codes (I2_S, TQ1_0, TQ2_0): the projection types. */
int bn_type_is_ternary(bn_type t);
/* "F32", "F16", "Q8_0", "BF16", "TQ1_0", "TQ2_0", "I2_S"; "?" if unknown. */
const char *bn_type_name(uint32_t t);
/* Case-insensitive inverse of bn_type_name; returns 0 and sets *t on success, -1 otherwise. */
int bn_type_from_name(const char *name, bn_type *t);
/* Elements per block (1 for F32/F16/BF16; 32 Q8_0; 256 TQ*; 128 for I2_S row rule). */
int64_t bn_type_block_size(bn_type t);
/* Bytes per block (4, 2, 34, 2, 54, 66; I2_S: 32 bytes per 128 elements). */
size_t bn_type_block_bytes(bn_type t);
/* Total byte size of a tensor of n_el elements whose rows are ne0 long.
 * I2_S: n_el/4 + 32 (one tail per tensor). Fails (BN_EINVAL) when ne0 is not a
 * multiple of the block, or on overflow. */
bn_status bn_type_nbytes(bn_type t, int64_t ne0, uint64_t n_el, uint64_t *out, bn_error *err);
/* Bytes of one row of ne0 elements, excluding the I2_S tail. */
size_t bn_type_row_bytes(bn_type t, int64_t ne0);

/* IEEE half and bfloat16 conversions: round to nearest even; NaN stays NaN
 * (quiet), infinities stay infinities. */
uint16_t bn_f32_to_f16(float f);
float bn_f16_to_f32(uint16_t h);
uint16_t bn_f32_to_bf16(float f);
float bn_bf16_to_f32(uint16_t h);

/* ---- GGUF value types ------------------------------------------------------ */

typedef enum {
    BN_GGUF_U8 = 0,
    BN_GGUF_I8 = 1,
    BN_GGUF_U16 = 2,
    BN_GGUF_I16 = 3,
    BN_GGUF_U32 = 4,
    BN_GGUF_I32 = 5,
    BN_GGUF_F32 = 6,
    BN_GGUF_BOOL = 7,
    BN_GGUF_STRING = 8,
    BN_GGUF_ARRAY = 9,
    BN_GGUF_U64 = 10,
    BN_GGUF_I64 = 11,
    BN_GGUF_F64 = 12
} bn_gguf_vtype;

#define BN_GGUF_DEFAULT_ALIGNMENT 32
#define BN_GGUF_MAX_NAME 63

const char *bn_gguf_vtype_name(uint32_t vt); /* "u8", ..., "array"; "?" if unknown */
size_t bn_gguf_vtype_size(uint32_t vt);      /* fixed size in bytes, 0 for string/array */

/* A string inside the mapping: NOT NUL-terminated. */
typedef struct {
    const char *ptr;
    uint64_t len;
} bn_str;

/* ---- reader ---------------------------------------------------------------- */

typedef struct bn_gguf bn_gguf;

typedef struct {
    const char *key;        /* NUL-terminated copy owned by the reader */
    bn_gguf_vtype type;     /* value type; BN_GGUF_ARRAY for arrays */
    bn_gguf_vtype arr_type; /* element type when type == BN_GGUF_ARRAY */
    uint64_t arr_n;         /* element count when type == BN_GGUF_ARRAY */
    const uint8_t *data;    /* scalar value / first array element, in the mapping (unaligned) */
    uint64_t offset;        /* byte offset of the record's key in the file */
} bn_gguf_kv;

typedef struct {
    const char *name;       /* NUL-terminated copy owned by the reader */
    uint32_t n_dims;        /* 1..4 */
    int64_t ne[4];          /* ne[0] contiguous; unused dims are 1 */
    bn_type type;
    uint64_t offset;        /* relative to the data section */
    uint64_t nbytes;        /* exact byte size from the type table */
    uint64_t n_el;          /* product of ne */
    const uint8_t *data;    /* inside the mapping */
} bn_gguf_tensor;

bn_status bn_gguf_open(const char *path, bn_gguf **out, bn_error *err);
/* Parse an in-memory image (not copied; must outlive the handle). name is used in messages. */
bn_status bn_gguf_open_mem(const void *data, size_t size, const char *name, bn_gguf **out,
                           bn_error *err);
void bn_gguf_close(bn_gguf *g);

const char *bn_gguf_path(const bn_gguf *g);
uint32_t bn_gguf_version(const bn_gguf *g);
uint32_t bn_gguf_alignment(const bn_gguf *g);
uint64_t bn_gguf_data_offset(const bn_gguf *g); /* file offset of the data section */
uint64_t bn_gguf_file_size(const bn_gguf *g);

int64_t bn_gguf_n_kv(const bn_gguf *g);
const bn_gguf_kv *bn_gguf_kv_at(const bn_gguf *g, int64_t i);
const bn_gguf_kv *bn_gguf_find_kv(const bn_gguf *g, const char *key); /* NULL if absent */

/* Typed getters: BN_ENOTFOUND if absent, BN_ETYPE (message names key, expected
 * and actual type) if the type differs. No implicit conversions. */
bn_status bn_gguf_get_u8(const bn_gguf *g, const char *key, uint8_t *out, bn_error *err);
bn_status bn_gguf_get_u32(const bn_gguf *g, const char *key, uint32_t *out, bn_error *err);
bn_status bn_gguf_get_i32(const bn_gguf *g, const char *key, int32_t *out, bn_error *err);
bn_status bn_gguf_get_u64(const bn_gguf *g, const char *key, uint64_t *out, bn_error *err);
bn_status bn_gguf_get_f32(const bn_gguf *g, const char *key, float *out, bn_error *err);
bn_status bn_gguf_get_bool(const bn_gguf *g, const char *key, int *out, bn_error *err);
bn_status bn_gguf_get_str(const bn_gguf *g, const char *key, bn_str *out, bn_error *err);
/* Array of the given element type; the count is (*out)->arr_n. */
bn_status bn_gguf_get_arr(const bn_gguf *g, const char *key, bn_gguf_vtype elem_type,
                          const bn_gguf_kv **out, bn_error *err);

/* Scalar decoding from a kv (type must match; caller checks kv->type). */
uint32_t bn_gguf_kv_u32(const bn_gguf_kv *kv);
int32_t bn_gguf_kv_i32(const bn_gguf_kv *kv);
float bn_gguf_kv_f32(const bn_gguf_kv *kv);
bn_str bn_gguf_kv_str(const bn_gguf_kv *kv);
/* Any integer-typed scalar widened to int64 / any numeric scalar as double;
 * returns 0 on success, -1 if the kv is not of such a type. */
int bn_gguf_kv_as_i64(const bn_gguf_kv *kv, int64_t *out);
int bn_gguf_kv_as_f64(const bn_gguf_kv *kv, double *out);

/* Array element access, O(1) (string arrays are indexed at open). Index and
 * element type must be valid (checked by the caller with arr_n / arr_type). */
bn_str bn_gguf_arr_str(const bn_gguf *g, const bn_gguf_kv *kv, uint64_t i);
int64_t bn_gguf_arr_i64(const bn_gguf_kv *kv, uint64_t i);  /* any integer/bool element type */
double bn_gguf_arr_f64(const bn_gguf_kv *kv, uint64_t i);   /* any numeric element type */

int64_t bn_gguf_n_tensors(const bn_gguf *g);
const bn_gguf_tensor *bn_gguf_tensor_at(const bn_gguf *g, int64_t i);
const bn_gguf_tensor *bn_gguf_find_tensor(const bn_gguf *g, const char *name); /* NULL if absent */

/* Sums over all tensors: elements, data bytes (without padding). */
typedef struct {
    uint64_t n_params;
    uint64_t n_bytes;
} bn_gguf_totals;
bn_gguf_totals bn_gguf_sum(const bn_gguf *g);

/* A little-endian float32 at p (any alignment). Inline, like the tail reader
 * below, so that the kernels (built without the GGUF reader for check-arm)
 * read an I2_S scale with the same code as the loader and the unpackers. */
static inline float bn_gguf_f32le(const uint8_t *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The per-tensor scale of an I2_S tensor: the f32 (little-endian) after its
 * n_el/4 code bytes (FORMATS.md §2.1); data holds n_el/4 + BN_I2_S_TAIL bytes.
 * The one reader of the tail: loader, content rules, unpackers, kernels. */
static inline float bn_i2s_tail_scale(const uint8_t *data, uint64_t n_el)
{
    return bn_gguf_f32le(data + n_el / 4);
}

/* The content rules of the quantized types, which sizes cannot show: I2_S has a
 * finite scale > 0, 28 zero tail bytes and no 2-bit code 0b11; every TQ1_0 and
 * TQ2_0 block scale is finite and not negative; every Q8_0 block scale finite.
 * BN_EINVAL with "tensor 'NAME': ..." at the first violation; BN_OK for other
 * types. The one rule of the loader and of bn-verify --check. */
bn_status bn_gguf_check_tensor_data(const bn_gguf_tensor *t, bn_error *err);

/* ---- display ------------------------------------------------------------ */

/* Escape len bytes for one line of text: printable ASCII and well-formed UTF-8
 * are kept; '"', '\\', \n, \r, \t are backslash-escaped; any other byte becomes
 * \xNN. Writes at most cap bytes including the NUL; output that does not fit
 * is cut at a character boundary and ends with "..." (a cap below 4 gives ""
 * for any non-empty input). Returns 1 if it was cut, 0 if not. */
int bn_gguf_escape(const char *s, uint64_t len, char *buf, size_t cap);

/* Format a KV's value for display: numbers in decimal (floats with %.9g /
 * %.17g, enough to round-trip), bools as true/false, strings quoted and
 * escaped, arrays as `[N x type] first, items, ...` showing at most max_items
 * elements. Same truncation rule as bn_gguf_escape. */
void bn_gguf_format_value(const bn_gguf *g, const bn_gguf_kv *kv, uint64_t max_items, char *buf,
                          size_t cap);
/* The same text written to f without the overall bound (each string element
 * of an array still shows at most 48 bytes): for showing every item. */
void bn_gguf_print_value(const bn_gguf *g, const bn_gguf_kv *kv, uint64_t max_items, FILE *f);
/* One scalar element (type et, not string/array) at p, as bn_gguf_format_value does. */
void bn_gguf_format_scalar(bn_gguf_vtype et, const uint8_t *p, char *buf, size_t cap);

/* The whole file described as a cJSON tree (what `bn-info --json` prints):
 * {"file", "format": "gguf", "version", "alignment", "n_kv", "n_tensors",
 *  "data_offset", "file_size", "kv": [{"key", "type", "offset", "value"} |
 *  {"key", "type": "array", "elem_type", "offset", "count", "items": [first
 *  max_items]}], "tensors": [{"name", "type", "ne", "n_elements", "bytes",
 *  "offset"}], "totals": {"parameters", "bytes", "bits_per_weight"}}.
 * Strings are full length; bytes that are not UTF-8 (and NULs) become U+FFFD.
 * Integers above 2^53 are given as decimal strings so no digit is lost.
 * Returns NULL when out of memory; free with cJSON_Delete(). */
struct cJSON;
struct cJSON *bn_gguf_to_json(const bn_gguf *g, uint64_t max_items);

/* ---- writer ---------------------------------------------------------------- */

typedef struct bn_gguf_writer bn_gguf_writer;
struct bn_outset; /* util.h */

/* alignment: 0 means BN_GGUF_DEFAULT_ALIGNMENT; a non-default alignment is also
 * written as general.alignment (u32) automatically, as the first KV. Setting
 * general.alignment yourself is accepted only as a u32 equal to the writer's
 * alignment (a no-op when it was written automatically), so KVs copied from a
 * file with the same alignment pass through. */
bn_status bn_gguf_writer_open(const char *path, uint32_t alignment, bn_gguf_writer **out,
                              bn_error *err);
/* The same, as one output of a run's output set (util.h): finish() completes the
 * file and bn_outset_commit() renames it together with the run's other outputs. */
bn_status bn_gguf_writer_open_in(struct bn_outset *set, const char *path, uint32_t alignment,
                                 bn_gguf_writer **out, bn_error *err);

/* KVs, in the order they should appear. Duplicate keys are an error. */
bn_status bn_gguf_set_u8(bn_gguf_writer *w, const char *key, uint8_t v, bn_error *err);
bn_status bn_gguf_set_i8(bn_gguf_writer *w, const char *key, int8_t v, bn_error *err);
bn_status bn_gguf_set_u16(bn_gguf_writer *w, const char *key, uint16_t v, bn_error *err);
bn_status bn_gguf_set_i16(bn_gguf_writer *w, const char *key, int16_t v, bn_error *err);
bn_status bn_gguf_set_u32(bn_gguf_writer *w, const char *key, uint32_t v, bn_error *err);
bn_status bn_gguf_set_i32(bn_gguf_writer *w, const char *key, int32_t v, bn_error *err);
bn_status bn_gguf_set_u64(bn_gguf_writer *w, const char *key, uint64_t v, bn_error *err);
bn_status bn_gguf_set_i64(bn_gguf_writer *w, const char *key, int64_t v, bn_error *err);
bn_status bn_gguf_set_f32(bn_gguf_writer *w, const char *key, float v, bn_error *err);
bn_status bn_gguf_set_f64(bn_gguf_writer *w, const char *key, double v, bn_error *err);
bn_status bn_gguf_set_bool(bn_gguf_writer *w, const char *key, int v, bn_error *err);
bn_status bn_gguf_set_str(bn_gguf_writer *w, const char *key, const char *v, bn_error *err);
bn_status bn_gguf_set_strn(bn_gguf_writer *w, const char *key, const char *v, size_t len,
                           bn_error *err);
/* Array of fixed-size elements (elem_type not string/array): n elements at data, little-endian. */
bn_status bn_gguf_set_arr(bn_gguf_writer *w, const char *key, bn_gguf_vtype elem_type,
                          const void *data, uint64_t n, bn_error *err);
/* Array of strings; lens may be NULL for NUL-terminated strings. */
bn_status bn_gguf_set_arr_str(bn_gguf_writer *w, const char *key, const char *const *strs,
                              const size_t *lens, uint64_t n, bn_error *err);
/* Copy one KV (any type, including arrays) from an open reader. */
bn_status bn_gguf_copy_kv(bn_gguf_writer *w, const bn_gguf *src, const bn_gguf_kv *kv,
                          bn_error *err);

/* Tensor infos, in data order; all infos before the first write. ne[0] first. */
bn_status bn_gguf_add_tensor(bn_gguf_writer *w, const char *name, uint32_t n_dims,
                             const int64_t *ne, bn_type type, bn_error *err);

/* Append tensor bytes in info order; chunks may split or span tensors' ends
 * arbitrarily within one tensor (a write never crosses into the next tensor:
 * the writer refuses more bytes than the current tensor needs). Padding is added
 * when a tensor is complete. The header is emitted on the first write. */
bn_status bn_gguf_writer_write(bn_gguf_writer *w, const void *data, size_t n, bn_error *err);

/* Verify every tensor got exactly its bytes, flush, fsync, rename. Frees w. */
bn_status bn_gguf_writer_finish(bn_gguf_writer *w, bn_error *err);
/* Remove the temp file and free w. NULL ok. */
void bn_gguf_writer_abort(bn_gguf_writer *w);

#pragma GCC visibility pop /* end of the exported API */

#endif
