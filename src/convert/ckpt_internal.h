/*
 * ckpt_internal.h - what the checkpoint backends (safetensors.c, torchzip.c,
 * pickle.c) hand to checkpoint.c, which owns the public API, and the
 * checkpoint's state that checkpoint.c and ckpt_read.c share. Not installed.
 */
#ifndef BN_CKPT_INTERNAL_H
#define BN_CKPT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "bn/checkpoint.h"
#include "bn/error.h"
#include "util/strset.h"

/* One tensor as a backend found it. */
typedef struct {
    char *name;                        /* malloc'd, owned */
    bn_ckpt_dtype dtype;
    int n_dims;
    int64_t shape[BN_CKPT_MAX_DIMS];   /* (n_dims) outermost first */
    int64_t stride[BN_CKPT_MAX_DIMS];  /* (n_dims) in elements; row-major for safetensors */
    uint64_t n_el, nbytes;
    uint64_t offset;    /* safetensors: byte offset of the data in the file;
                           PyTorch: storage offset in elements */
    uint32_t storage;   /* PyTorch: index into the shard's storage table */
} bn_ckpt_entry;

typedef struct {
    bn_ckpt_entry *v; /* (n) */
    size_t n, cap;
} bn_ckpt_entries;

/* Append e (taking ownership of e->name even on failure). */
bn_status bnc_ckpt_entries_push(bn_ckpt_entries *es, bn_ckpt_entry *e, bn_error *err);
void bnc_ckpt_entries_free(bn_ckpt_entries *es);
/* n_el and nbytes from shape and dtype, overflow-checked; row-major strides. */
bn_status bnc_ckpt_entry_sizes(bn_ckpt_entry *e, bn_error *err);
void bnc_ckpt_entry_contiguous_strides(bn_ckpt_entry *e);

/* ---- safetensors (safetensors.c) ---- */
typedef struct bn_st_file bn_st_file;
/* Map and validate a whole safetensors file; entries come out sorted by offset. */
bn_status bnc_st_open(const char *path, bn_st_file **out, bn_error *err);
void bnc_st_close(bn_st_file *st);
bn_ckpt_entries *bnc_st_entries(bn_st_file *st);
const uint8_t *bnc_st_base(const bn_st_file *st); /* file bytes; entry offsets index it */
const char *bnc_st_metadata(const bn_st_file *st, const char *key);

/* ---- pickle machine (pickle.c) ---- */
typedef struct {
    char *key;          /* storage key: the zip entry <root>/data/<key> */
    bn_ckpt_dtype dtype;
    uint64_t numel;     /* elements the pickle claims */
} bn_pkl_storage;

typedef struct {
    bn_pkl_storage *storages; /* (n_storages) distinct keys, first-seen order */
    size_t n_storages;
    bn_ckpt_entries tensors;  /* flattened names; storage indexes storages[] */
    size_t consumed;          /* bytes up to and including STOP */
    /* The root object, for the legacy format's header records: */
    int root_is_int;
    int64_t root_int;
    int little_endian;        /* root dict's 'little_endian': 1, 0, or -1 when absent */
    char **root_strs;         /* (n_root_strs) when the root is a list of str */
    size_t n_root_strs;
} bn_pkl_result;

#define BN_PKL_PREFIX 1u /* other bytes may follow STOP (legacy files hold several pickles) */
#define BN_PKL_LEGACY 2u /* pre-1.6 persistent ids: a sixth item, view_metadata, must be None */

/* Run one pickle (at most len bytes) and collect its tensors. label names the
 * file and part the pickle ("data.pkl") in messages. Nothing is executed:
 * only the allow-listed callables are built. */
bn_status bnc_pkl_load(const uint8_t *data, size_t len, const char *label, const char *part, unsigned flags,
                      bn_pkl_result *out, bn_error *err);
void bnc_pkl_result_free(bn_pkl_result *r);

/* ---- PyTorch zip (torchzip.c) ---- */
typedef struct bn_tz_file bn_tz_file;
typedef struct bn_tz_reader bn_tz_reader;
/* Open the zip, read data.pkl and check every view against its storage and
 * every storage against its zip entry. */
bn_status bnc_tz_open(const char *path, bn_tz_file **out, bn_error *err);
void bnc_tz_close(bn_tz_file *tz);
bn_ckpt_entries *bnc_tz_entries(bn_tz_file *tz);
/* Sequential reader of storage `storage` starting at byte `offset`. */
bn_status bnc_tz_reader_open(bn_tz_file *tz, uint32_t storage, uint64_t offset, bn_tz_reader **out,
                            bn_error *err);
bn_status bnc_tz_reader_read(bn_tz_reader *r, void *dst, size_t n, bn_error *err);
/* Whether the storage's zip entry is stored uncompressed, so that readers can
 * seek; and the seek itself (to a byte offset in the storage). */
int bnc_tz_storage_seekable(const bn_tz_file *tz, uint32_t storage);
bn_status bnc_tz_reader_seek(bn_tz_reader *r, uint64_t offset, bn_error *err);
void bnc_tz_reader_close(bn_tz_reader *r);
/* Whether a file starts like a zip archive. */
int bnc_tz_is_zip(const uint8_t *head, size_t n);

/* ---- PyTorch legacy format, before 1.6 (torchlegacy.c) ---- */
typedef struct bn_tl_file bn_tl_file;
/* Whether a file starts with the legacy magic-number pickle. */
int bnc_tl_is_legacy(const uint8_t *head, size_t n);
/* Map the file, run its pickles, place every storage, check every view. */
bn_status bnc_tl_open(const char *path, bn_tl_file **out, bn_error *err);
void bnc_tl_close(bn_tl_file *tl);
bn_ckpt_entries *bnc_tl_entries(bn_tl_file *tl);
/* First byte of storage `storage` in the file; numel * element size bytes follow. */
const uint8_t *bnc_tl_storage_data(const bn_tl_file *tl, uint32_t storage);

/* ---- the checkpoint itself: its table (checkpoint.c) and its reads (ckpt_read.c) ---- */

typedef struct {
    char *name;          /* base name */
    char *path;
    bn_st_file *st;      /* exactly one of st, tz, tl */
    bn_tz_file *tz;
    bn_tl_file *tl;
} ck_shard;

typedef struct {
    bn_ckpt_tensor pub;
    char *name;          /* owned; pub.name points here */
    size_t shard;
    const bn_ckpt_entry *e; /* NULL for an added alias */
} ck_tensor;

struct bn_ckpt {
    char *path, *dir, *prefix;
    bn_ckpt_format format;
    ck_shard *shards; size_t n_shards;
    ck_tensor **t; size_t n, cap;   /* individually allocated: pointers stay valid */
    bnu_strset names;               /* tensor name -> index; keys are the owned names */
};

/* Whether ranged reads of t (bn_ckpt_read_f32_range) may run on several threads
 * at once: a contiguous view of a mapped shard (safetensors, legacy PyTorch).
 * Reads through a zip entry share the archive's one libzip handle and must not. */
int bnc_ckpt_parallel_reads(const bn_ckpt *ck, const bn_ckpt_tensor *t);

/* AVX2 loops of reading (read_avx2.c); call only with bnc_have_avx2().
 * bnc_f16_to_f32_avx2 converts the first multiple of 8 of n halves at src
 * (little-endian) exactly as bn_f16_to_f32 and returns how many it did;
 * bnc_all_finite_avx2 is 1 when no float of f[0..n) is NaN or Inf (0: maybe one
 * is, look with the scalar code). */
int bnc_have_avx2(void);
size_t bnc_f16_to_f32_avx2(const uint8_t *src, size_t n, float *dst);
size_t bnc_bf16_to_f32_avx2(const uint8_t *src, size_t n, float *dst); /* as bn_bf16_to_f32 */
int bnc_all_finite_avx2(const float *f, size_t n);

#endif
