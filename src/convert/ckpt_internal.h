/*
 * ckpt_internal.h - what the checkpoint backends (safetensors.c, torchzip.c,
 * pickle.c) hand to checkpoint.c, which owns the public API. Not installed.
 */
#ifndef BN_CKPT_INTERNAL_H
#define BN_CKPT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "bn/checkpoint.h"
#include "bn/error.h"

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
bn_status bn_ckpt_entries_push(bn_ckpt_entries *es, bn_ckpt_entry *e, bn_error *err);
void bn_ckpt_entries_free(bn_ckpt_entries *es);
/* n_el and nbytes from shape and dtype, overflow-checked; row-major strides. */
bn_status bn_ckpt_entry_sizes(bn_ckpt_entry *e, bn_error *err);
void bn_ckpt_entry_contiguous_strides(bn_ckpt_entry *e);

/* Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF); with
 * json_text also no raw control bytes other than \t \n \r. Returns the offset
 * of the first bad byte, or len if all is well. */
size_t bn_ckpt_utf8_check(const uint8_t *s, size_t len, int json_text);

/* ---- safetensors (safetensors.c) ---- */
typedef struct bn_st_file bn_st_file;
/* Map and validate a whole safetensors file; entries come out sorted by offset. */
bn_status bn_st_open(const char *path, bn_st_file **out, bn_error *err);
void bn_st_close(bn_st_file *st);
bn_ckpt_entries *bn_st_entries(bn_st_file *st);
const uint8_t *bn_st_base(const bn_st_file *st); /* file bytes; entry offsets index it */
const char *bn_st_metadata(const bn_st_file *st, const char *key);
/* Drop the whole pages of [offset, offset + len) from our resident set after a
 * tensor was copied out (they stay in the page cache), so reading a mapped
 * checkpoint tensor by tensor keeps memory near one tensor, not the file. */
void bn_st_release(const bn_st_file *st, uint64_t offset, uint64_t len);

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
} bn_pkl_result;

/* Run data.pkl (len bytes) and collect its tensors. label names the file in
 * messages. Nothing is executed: only the allow-listed callables are built. */
bn_status bn_pkl_load(const uint8_t *data, size_t len, const char *label, bn_pkl_result *out,
                      bn_error *err);
void bn_pkl_result_free(bn_pkl_result *r);

/* ---- PyTorch zip (torchzip.c) ---- */
typedef struct bn_tz_file bn_tz_file;
typedef struct bn_tz_reader bn_tz_reader;
/* Open the zip, read data.pkl and check every view against its storage and
 * every storage against its zip entry. */
bn_status bn_tz_open(const char *path, bn_tz_file **out, bn_error *err);
void bn_tz_close(bn_tz_file *tz);
bn_ckpt_entries *bn_tz_entries(bn_tz_file *tz);
/* Sequential reader of storage `storage` starting at byte `offset`. */
bn_status bn_tz_reader_open(bn_tz_file *tz, uint32_t storage, uint64_t offset, bn_tz_reader **out,
                            bn_error *err);
bn_status bn_tz_reader_read(bn_tz_reader *r, void *dst, size_t n, bn_error *err);
void bn_tz_reader_close(bn_tz_reader *r);
/* Whether path starts like a zip archive / a legacy torch.save pickle. */
int bn_tz_is_zip(const uint8_t *head, size_t n);

#endif
