/*
 * checkpoint.h - Hugging Face checkpoints in: safetensors and PyTorch zip
 * (.bin), single files and sharded directories, behind one API.
 *
 * What is read (normative for this module; ../shared/specs/FORMATS.md §7):
 *  1. bn_ckpt_open(path) accepts a directory or a single file. In a directory
 *     the weights are looked up in this order of preference:
 *       model.safetensors, model.safetensors.index.json,
 *       pytorch_model.bin, pytorch_model.bin.index.json.
 *     A file ending in ".json" is an index; any other file is recognised by
 *     its content: a zip archive or a legacy torch.save pickle stream is a
 *     PyTorch checkpoint, anything else must be safetensors.
 *  2. Index files: `weight_map` is an object {tensor name: shard file name};
 *     shard names are plain file names in the index's directory (no '/', no
 *     "..", not empty). Every mapped tensor must exist in its shard, every
 *     tensor of a shard must be mapped to that shard, a name found in two
 *     shards is an error, and each shard is opened once.
 *  3. safetensors is validated completely before open returns: header length,
 *     UTF-8, strict JSON (no duplicate keys, no trailing garbage, integers
 *     only in [0, 2^53]), dtypes, and data offsets that tile the data buffer
 *     exactly in tensor order of offset. Misaligned tensors are fine.
 *  4. PyTorch zip: data.pkl is interpreted by a pickle machine of our own
 *     (protocol 2 plus the protocol-4 framing/memo opcodes) that can build
 *     only containers, scalars, storages and tensors, from exactly the
 *     globals torch.load(weights_only=True) allows (_codecs.encode for bytes,
 *     set, bytearray, complex, Counter, torch.Size/device, dtypes, the tensor
 *     rebuilders; pickle.c lists them); any other callable is rejected by
 *     name and nothing is ever executed. Every tensor view is
 *     bounds-checked against its storage, and every storage against its zip
 *     entry, at open time. The legacy format (before PyTorch 1.6: pickles
 *     followed by raw storages, no zip) is read the same way from a mapping.
 *     TorchScript archives are recognised and rejected as such.
 *
 * Tensor names:
 *  - safetensors: the header keys, as they are.
 *  - PyTorch: the pickled object is walked in order and every tensor found is
 *    named by its path of dict keys (strings or integers) and list/tuple
 *    indices joined with '.'. A plain state dict therefore gives its own keys;
 *    a nested training checkpoint {"model": sd, "optimizer": {...}, "epoch": 3}
 *    gives "model.<key>" and "optimizer.state.0.exp_avg"-style names, and
 *    non-tensor leaves (epoch) are skipped. Look tensors up by full name, or
 *    call bn_ckpt_set_prefix(ck, "model.") so bn_ckpt_find() also resolves
 *    the plain state-dict keys of that sub-dict.
 *
 * Aliases (tied weights): a .bin may hold two names on one storage with the
 * same offset, shape and strides; the second is reported with alias_of set to
 * the first and no data of its own. When config.json beside the weights has
 * "tie_word_embeddings": true and lm_head.weight is absent while
 * model.embed_tokens.weight is present (as in safetensors files written by
 * transformers), lm_head.weight is listed as an alias of it.
 * bn_ckpt_add_alias() adds others. Aliases always come after their target.
 *
 * Memory: open keeps the mappings (safetensors, legacy) or zip handles
 * (PyTorch zip) and the tensor table; a read moves one tensor into the
 * caller's buffer through a small bounce buffer and releases the mapped pages
 * it copied. Non-contiguous views in a zip are the one exception: their
 * storage span is read into a temporary buffer and gathered in order (a
 * sparse view of an uncompressed entry is read run by run instead).
 * Measured: reading every tensor of a 1 GB checkpoint whose largest tensor is
 * 128 MiB peaks at 132 MB RSS (zip) and 140 MB (safetensors).
 *
 * Tensor pointers handed out stay valid until bn_ckpt_close().
 *
 * Data handed out is contiguous, row-major (outermost dimension first, as
 * PyTorch orders shapes), little-endian.
 */
#ifndef BN_CHECKPOINT_H
#define BN_CHECKPOINT_H

#pragma GCC visibility push(default) /* what this header declares is libbn's API */

#include <stddef.h>
#include <stdint.h>
#include "bn/error.h"

#define BN_CKPT_MAX_DIMS 8

typedef enum {
    BN_CKPT_F64,
    BN_CKPT_F32,
    BN_CKPT_F16,
    BN_CKPT_BF16,
    BN_CKPT_I64,
    BN_CKPT_I32,
    BN_CKPT_I16,
    BN_CKPT_I8,
    BN_CKPT_U64,
    BN_CKPT_U32,
    BN_CKPT_U16,
    BN_CKPT_U8,
    BN_CKPT_BOOL,
    BN_CKPT_F8_E4M3,
    BN_CKPT_F8_E5M2,
    BN_CKPT_DTYPE_COUNT
} bn_ckpt_dtype;

/* safetensors spelling: "F32", "BF16", "U8", "BOOL", "F8_E4M3", ... */
const char *bn_ckpt_dtype_name(bn_ckpt_dtype dt);
/* Bytes per element (1, 2, 4 or 8). */
size_t bn_ckpt_dtype_size(bn_ckpt_dtype dt);
/* Inverse of bn_ckpt_dtype_name (exact, case-sensitive); 0 on success, -1 otherwise. */
int bn_ckpt_dtype_from_name(const char *name, bn_ckpt_dtype *dt);

typedef enum {
    BN_CKPT_SAFETENSORS,
    BN_CKPT_TORCH_ZIP,    /* torch.save since 1.6 */
    BN_CKPT_TORCH_LEGACY  /* torch.save before 1.6: pickles and raw storages, no zip */
} bn_ckpt_format;

/* "safetensors", "pytorch-zip", "pytorch-legacy". */
const char *bn_ckpt_format_name(bn_ckpt_format f);

typedef struct {
    const char *name;                 /* full name, NUL-terminated, unique */
    bn_ckpt_dtype dtype;
    int n_dims;                       /* 0 for a scalar */
    int64_t shape[BN_CKPT_MAX_DIMS];  /* (n_dims) PyTorch order: outermost first */
    uint64_t n_el;                    /* product of shape; 1 for a scalar, 0 if any dim is 0 */
    uint64_t nbytes;                  /* n_el * dtype size: what bn_ckpt_read_raw writes */
    const char *file;                 /* base name of the shard holding the data */
    int64_t alias_of;                 /* -1, or index of the tensor whose data this shares */
    size_t index;                     /* position in the table (bn_ckpt_tensor_at(index)) */
} bn_ckpt_tensor;

typedef struct bn_ckpt bn_ckpt;

/* Open a model directory or a single checkpoint file (see 1. above). Validates
 * all headers, indexes, pickles and views before returning. */
bn_status bn_ckpt_open(const char *path, bn_ckpt **out, bn_error *err);
void bn_ckpt_close(bn_ckpt *ck); /* NULL ok */

bn_ckpt_format bn_ckpt_get_format(const bn_ckpt *ck);
/* Directory holding the weights (for config.json, tokenizer files): the path
 * itself when a directory was opened, else the file's directory ("." if none). */
const char *bn_ckpt_dir(const bn_ckpt *ck);
/* The file that was chosen: the single weights file or the index file. */
const char *bn_ckpt_path(const bn_ckpt *ck);
size_t bn_ckpt_n_shards(const bn_ckpt *ck);
const char *bn_ckpt_shard_name(const bn_ckpt *ck, size_t i); /* base name; NULL if out of range */

/* safetensors "__metadata__" values (of the first shard that has the key);
 * NULL when absent or for PyTorch checkpoints. */
const char *bn_ckpt_metadata(const bn_ckpt *ck, const char *key);

/* The tensor table, in file order (safetensors: by data offset per shard,
 * shards in index order; PyTorch: pickle walk order), aliases included. */
size_t bn_ckpt_n_tensors(const bn_ckpt *ck);
const bn_ckpt_tensor *bn_ckpt_tensor_at(const bn_ckpt *ck, size_t i); /* NULL if out of range */
/* Lookup by full name (after any prefix set below); NULL if absent. */
const bn_ckpt_tensor *bn_ckpt_find(const bn_ckpt *ck, const char *name);

/* Make bn_ckpt_find() try name prefixed with `prefix` as well as name itself,
 * so a converter can address {"model": state_dict} files with plain keys
 * (bn_ckpt_set_prefix(ck, "model.")). NULL or "" clears it. */
bn_status bn_ckpt_set_prefix(bn_ckpt *ck, const char *prefix, bn_error *err);

/* Find the state dict inside a training checkpoint: the first of "" (a plain
 * state dict), "state_dict", "model", "module" and their two-level
 * combinations ("state_dict.module", "model.model", ...) under which `probe`
 * (NULL: "model.embed_tokens.weight", which every supported architecture has)
 * is a tensor; sets the prefix (bn_ckpt_set_prefix) and writes the key used,
 * dot-joined, "" for a plain one, into key[cap]. Dict nesting and flat
 * "module."-prefixed names (DistributedDataParallel) are the same thing here,
 * since names are dot-joined paths. BN_ENOTFOUND when none has it. */
#define BN_CKPT_PROBE_MAX 192
bn_status bn_ckpt_find_state_dict(bn_ckpt *ck, const char *probe, char *key, size_t cap, bn_error *err);
/* The prefix set (with its trailing '.'), "" if none. */
const char *bn_ckpt_prefix(const bn_ckpt *ck);

/* List `name` as an alias of the existing tensor `target` (tied weights the
 * checkpoint leaves out). Fails if name exists or target does not. */
bn_status bn_ckpt_add_alias(bn_ckpt *ck, const char *name, const char *target, bn_error *err);

/* Read a tensor (an alias reads its target) as contiguous row-major data.
 * read_raw copies t->nbytes bytes of the stored dtype; cap is dst's size in
 * bytes. read_f32 converts every dtype to float (F64/I64/U64 rounded to
 * nearest, BOOL as 0/1, F8 decoded); cap is dst's size in floats. Fails with
 * BN_ELIMIT if dst is too small, BN_EINVAL if the file turns out shorter or
 * different than its headers said. */
bn_status bn_ckpt_read_raw(bn_ckpt *ck, const bn_ckpt_tensor *t, void *dst, size_t cap, bn_error *err);
bn_status bn_ckpt_read_f32(bn_ckpt *ck, const bn_ckpt_tensor *t, float *dst, size_t cap, bn_error *err);

/* Streaming: elements [first, first + n) of the tensor in row-major order as
 * floats (converted as bn_ckpt_read_f32 does), at a cost proportional to n, so
 * a converter can hold a slice of a large tensor instead of all of it. Only for
 * tensors bn_ckpt_can_stream() accepts: contiguous data in a mapped shard
 * (safetensors, legacy PyTorch) or in a stored (uncompressed) zip entry;
 * otherwise, and for a range outside the tensor, BN_EINVAL. */
int bn_ckpt_can_stream(const bn_ckpt *ck, const bn_ckpt_tensor *t);
bn_status bn_ckpt_read_f32_range(bn_ckpt *ck, const bn_ckpt_tensor *t, uint64_t first, uint64_t n,
                                 float *dst, bn_error *err);

#pragma GCC visibility pop /* end of the exported API */

#endif
