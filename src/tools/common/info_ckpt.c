/* info_ckpt.c - see info_ckpt.h. */
#include "info_ckpt.h"
#include "cli.h"
#include "progress.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "bn/checkpoint.h"
#include "bn/sha256.h"
#include "bn/util.h"

#define CONFIG_MAX (16u << 20)

/* The config.json fields that say what a model is (a summary, not a parse:
 * interpreting them is the converter's job). */
static const char *const config_keys[] = {
    "architectures", "model_type", "hidden_size", "intermediate_size", "num_hidden_layers",
    "num_attention_heads", "num_key_value_heads", "vocab_size", "max_position_embeddings", "hidden_act",
    "rms_norm_eps", "rope_theta", "tie_word_embeddings", "torch_dtype",
};

int bn_info_is_checkpoint(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    if (S_ISDIR(st.st_mode)) return 1;
    int fd;
    /* not a regular file (a FIFO must not block us): the GGUF reader says so */
    if (bn_input_open(path, &fd, NULL) != BN_OK) return 0;
    char magic[4] = {0};
    ssize_t n = read(fd, magic, 4);
    close(fd);
    return !(n == 4 && memcmp(magic, "GGUF", 4) == 0);
}

/* config.json beside the weights, reduced to config_keys (+ quant_method);
 * NULL when absent. *note explains an unreadable one. */
static cJSON *config_summary(const char *dir, const char **note)
{
    char path[4096];
    *note = "no config.json";
    if ((size_t)snprintf(path, sizeof path, "%s/config.json", dir) >= sizeof path) return NULL;
    char *text;
    size_t len;
    struct stat st;
    if (stat(path, &st) != 0) return NULL;
    *note = "config.json is unreadable or not a JSON object";
    if (bn_read_file(path, CONFIG_MAX, &text, &len, NULL) != BN_OK) return NULL;
    cJSON *cfg = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(cfg)) {
        cJSON_Delete(cfg);
        return NULL;
    }
    cJSON *sum = cJSON_CreateObject();
    for (size_t i = 0; i < sizeof config_keys / sizeof *config_keys; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, config_keys[i]);
        if (v) cJSON_AddItemToObject(sum, config_keys[i], cJSON_Duplicate(v, 1));
    }
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(cfg, "quantization_config");
    const cJSON *qm = cJSON_GetObjectItemCaseSensitive(q, "quant_method");
    if (qm) cJSON_AddItemToObject(sum, "quant_method", cJSON_Duplicate(qm, 1));
    cJSON_Delete(cfg);
    *note = NULL;
    return sum;
}

/* sha256 of every tensor's raw bytes, one tensor in memory at a time; an
 * alias reuses its target's digest. hex: n_tensors * BN_SHA256_HEX_SIZE.
 * Progress: common/progress.h (on a terminal only). */
static bn_status hash_tensors(bn_ckpt *ck, char *hex, bn_progress *progress, bn_error *err)
{
    size_t n = bn_ckpt_n_tensors(ck);
    uint64_t done = 0, total = 0;
    for (size_t i = 0; i < n; i++)
        if (bn_ckpt_tensor_at(ck, i)->alias_of < 0)
            total += bn_ckpt_tensor_at(ck, i)->nbytes;
    for (size_t i = 0; i < n; i++) {
        const bn_ckpt_tensor *t = bn_ckpt_tensor_at(ck, i);
        bn_progress_bytes(progress, i + 1, n, t->name, done, total);
        char *h = hex + i * BN_SHA256_HEX_SIZE;
        if (t->alias_of >= 0 && (size_t)t->alias_of < i) {
            memcpy(h, hex + (size_t)t->alias_of * BN_SHA256_HEX_SIZE, BN_SHA256_HEX_SIZE);
            continue;
        }
        if (t->nbytes > SIZE_MAX - 1)
            return bn_error_set(err, BN_ELIMIT, "tensor '%s': %llu bytes do not fit in memory", t->name,
                                (unsigned long long)t->nbytes);
        void *buf = malloc((size_t)t->nbytes + 1);
        if (!buf)
            return bn_error_set(err, BN_ENOMEM, "tensor '%s': out of memory for %llu bytes", t->name,
                                (unsigned long long)t->nbytes);
        bn_status s = bn_ckpt_read_raw(ck, t, buf, (size_t)t->nbytes, err);
        if (!s) {
            uint8_t d[BN_SHA256_SIZE];
            bn_sha256(buf, (size_t)t->nbytes, d);
            bn_sha256_hex(d, h);
            done += t->nbytes;
        }
        free(buf);
        if (s) return s;
    }
    return BN_OK;
}

static void shape_str(const bn_ckpt_tensor *t, char *buf, size_t cap)
{
    size_t at = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < t->n_dims && at < cap; d++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (at < cap) snprintf(buf + at, cap - at, "]");
}

static const char *format_name(const bn_ckpt *ck) { return bn_ckpt_format_name(bn_ckpt_get_format(ck)); }

/* 0, or BN_ENOMEM when the document could not be built. */
static bn_status print_json(bn_ckpt *ck, const char *path, cJSON *config, const char *hex, const char *sd_key,
                            FILE *out)
{
    cJSON *root = bn_cli_json_doc("bn-info", 1, path); /* docs/json.md; "input" is the path */
    if (!root)
        return BN_ENOMEM;
    /* where the model's weights are: "" a plain state dict, null none found */
    if (sd_key) cJSON_AddStringToObject(root, "state_dict_key", sd_key);
    else cJSON_AddNullToObject(root, "state_dict_key");
    cJSON_AddStringToObject(root, "format", format_name(ck));
    cJSON_AddStringToObject(root, "weights", bn_ckpt_path(ck));
    cJSON *shards = cJSON_AddArrayToObject(root, "shards");
    for (size_t i = 0; i < bn_ckpt_n_shards(ck); i++)
        cJSON_AddItemToArray(shards, cJSON_CreateString(bn_ckpt_shard_name(ck, i)));
    if (config) cJSON_AddItemToObject(root, "config", cJSON_Duplicate(config, 1));
    else cJSON_AddNullToObject(root, "config");
    cJSON *ts = cJSON_AddArrayToObject(root, "tensors");
    double total = 0;
    for (size_t i = 0; i < bn_ckpt_n_tensors(ck); i++) {
        const bn_ckpt_tensor *t = bn_ckpt_tensor_at(ck, i);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddStringToObject(o, "dtype", bn_ckpt_dtype_name(t->dtype));
        cJSON *sh = cJSON_AddArrayToObject(o, "shape");
        for (int d = 0; d < t->n_dims; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
        cJSON_AddNumberToObject(o, "bytes", (double)t->nbytes);
        cJSON_AddStringToObject(o, "shard", t->file);
        if (t->alias_of >= 0) cJSON_AddStringToObject(o, "alias_of", bn_ckpt_tensor_at(ck, (size_t)t->alias_of)->name);
        else cJSON_AddNullToObject(o, "alias_of");
        if (hex) cJSON_AddStringToObject(o, "sha256", hex + i * BN_SHA256_HEX_SIZE);
        cJSON_AddItemToArray(ts, o);
        if (t->alias_of < 0) total += (double)t->nbytes;
    }
    cJSON_AddNumberToObject(root, "total_bytes", total);
    char *s = cJSON_Print(root);
    if (s) fprintf(out, "%s\n", s);
    free(s);
    cJSON_Delete(root);
    return s ? BN_OK : BN_ENOMEM;
}

static void print_text(bn_ckpt *ck, const char *path, cJSON *config, const char *note, const char *hex,
                       const char *sd_key, FILE *out)
{
    size_t n = bn_ckpt_n_tensors(ck), ns = bn_ckpt_n_shards(ck);
    fprintf(out, "checkpoint  %s\n", path);
    fprintf(out, "format      %s, %zu shard%s (%s%s)\n", format_name(ck), ns, ns == 1 ? "" : "s",
            bn_ckpt_shard_name(ck, 0) ? bn_ckpt_shard_name(ck, 0) : "-", ns > 1 ? ", ..." : "");
    if (config) {
        fprintf(out, "config     ");
        for (const cJSON *c = config->child; c; c = c->next) {
            char *v = cJSON_PrintUnformatted(c);
            fprintf(out, " %s=%s", c->string, v ? v : "?");
            free(v);
        }
        fprintf(out, "\n");
    } else {
        fprintf(out, "config      (%s)\n", note);
    }
    size_t wname = 4, wshape = 5, wfile = 5, n_alias = 0;
    uint64_t total = 0;
    char shape[256];
    for (size_t i = 0; i < n; i++) {
        const bn_ckpt_tensor *t = bn_ckpt_tensor_at(ck, i);
        shape_str(t, shape, sizeof shape);
        if (strlen(t->name) > wname) wname = strlen(t->name);
        if (strlen(shape) > wshape) wshape = strlen(shape);
        if (strlen(t->file) > wfile) wfile = strlen(t->file);
        if (t->alias_of >= 0) n_alias++;
        else total += t->nbytes;
    }
    fprintf(out, "tensors     %zu (%zu alias%s), %llu bytes of data\n", n, n_alias, n_alias == 1 ? "" : "es",
            (unsigned long long)total);
    if (sd_key && *sd_key)
        fprintf(out, "state dict  under '%s' (a training checkpoint: the model's weights are the tensors "
                "named %s.*)\n", sd_key, sd_key);
    fprintf(out, "  %-*s  %-7s  %-*s  %12s  %-*s%s\n", (int)wname, "name", "dtype", (int)wshape, "shape", "bytes",
            (int)wfile, "shard", hex ? "  sha256" : "");
    for (size_t i = 0; i < n; i++) {
        const bn_ckpt_tensor *t = bn_ckpt_tensor_at(ck, i);
        shape_str(t, shape, sizeof shape);
        fprintf(out, "  %-*s  %-7s  %-*s  %12llu  %-*s", (int)wname, t->name, bn_ckpt_dtype_name(t->dtype),
                (int)wshape, shape, (unsigned long long)t->nbytes, (int)wfile, t->file);
        if (hex) fprintf(out, "  %s", hex + i * BN_SHA256_HEX_SIZE);
        if (t->alias_of >= 0) fprintf(out, "  (alias of %s)", bn_ckpt_tensor_at(ck, (size_t)t->alias_of)->name);
        fprintf(out, "\n");
    }
}

int bn_info_ckpt(const char *path, const bn_info_ckpt_opts *opts, FILE *out, FILE *errf)
{
    bn_error err;
    bn_error_clear(&err);
    bn_ckpt *ck;
    bn_status s = bn_ckpt_open(path, &ck, &err);
    if (s) {
        fprintf(errf, "bn-info: %s\n", err.msg);
        return bn_status_exit_code(s);
    }
    char *hex = NULL;
    if (opts->sha256) {
        size_t n = bn_ckpt_n_tensors(ck);
        hex = calloc(n ? n : 1, BN_SHA256_HEX_SIZE);
        bn_progress progress;
        bn_progress_init(&progress, "sha256", errf != stderr);
        s = hex ? hash_tensors(ck, hex, &progress, &err) : bn_error_set(&err, BN_ENOMEM, "out of memory for digests");
        bn_progress_done(&progress);
    }
    if (!s) {
        const char *note;
        cJSON *config = config_summary(bn_ckpt_dir(ck), &note);
        /* Where the model's weights are: "" for a plain state dict, NULL if none is found. */
        char key[64];
        bn_error e2;
        const char *sd_key = bn_ckpt_find_state_dict(ck, NULL, key, sizeof key, &e2) == BN_OK ? key : NULL;
        if (opts->json) {
            if ((s = print_json(ck, path, config, hex, sd_key, out)))
                bn_error_set(&err, s, "%s: out of memory building the JSON description", path);
        } else {
            print_text(ck, path, config, note, hex, sd_key, out);
        }
        cJSON_Delete(config);
    }
    if (s)
        fprintf(errf, "bn-info: %s\n", err.msg);
    free(hex);
    bn_ckpt_close(ck);
    return s ? bn_status_exit_code(s) : 0;
}
