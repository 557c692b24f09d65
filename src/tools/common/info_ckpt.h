/*
 * info_ckpt.h - the checkpoint half of bn-info: a Hugging Face directory or a
 * .safetensors / .bin file in, an architecture summary (from config.json) and
 * a tensor table (name, dtype, shape, bytes, shard) out, as text or JSON.
 * With sha256, each tensor's row also carries the sha256 of its data in
 * contiguous row-major little-endian order: the bytes bn_ckpt_read_raw hands
 * out, so any tool can cross-check what we read.
 */
#ifndef BN_INFO_CKPT_H
#define BN_INFO_CKPT_H

#include <stdio.h>

typedef struct {
    int json;    /* --json: one JSON document on out */
    int sha256;  /* --sha256: hash every tensor's data */
} bn_info_ckpt_opts;

/* 1 if path should be shown as a checkpoint: a directory, or a file that is
 * not GGUF (does not start with "GGUF"). */
int bn_info_is_checkpoint(const char *path);

/* Print the report on out; errors go to err as one line. Returns the exit
 * code: 0, or bn_status_exit_code() of the failure. */
int bn_info_ckpt(const char *path, const bn_info_ckpt_opts *opts, FILE *out, FILE *err);

#endif
