/*
 * hfconfig.c - config.json of a Hugging Face BitNet checkpoint -> bn_hfconfig.
 *
 * Only the fields the three supported architectures need are read; each is
 * type- and range-checked because config.json comes from strangers too.
 */
#include "bn/convert.h"

#include <cJSON.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn/util.h"
#include "util/json_strict.h"

#define CONFIG_MAX_BYTES (16u << 20) /* a config.json is a few KB */
#define SUPPORTED bn_arch_hf_classes()

/* Integer field in [lo, hi]; absent -> *out = dflt (or error if dflt < 0 and required). */
static bn_status get_uint(const cJSON *root, const char *name, const char *key, int64_t lo,
                          int64_t hi, int64_t dflt, int64_t *out, bn_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        if (dflt < 0)
            return bn_error_set(err, BN_EINVAL, "%s: required field '%s' is missing", name, key);
        *out = dflt;
        return BN_OK;
    }
    if (!cJSON_IsNumber(v))
        return bn_error_set(err, BN_EINVAL, "%s: field '%s' must be an integer", name, key);
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < (double)lo || d > (double)hi)
        return bn_error_set(err, BN_EINVAL, "%s: field '%s' = %g is not an integer in [%lld, %lld]",
                            name, key, d, (long long)lo, (long long)hi);
    *out = (int64_t)d;
    return BN_OK;
}

static bn_status get_float(const cJSON *root, const char *name, const char *key, double dflt,
                           float *out, bn_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        *out = (float)dflt;
        return BN_OK;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble <= 0 ||
        v->valuedouble > 1e30)
        return bn_error_set(err, BN_EINVAL, "%s: field '%s' must be a positive finite number", name,
                            key);
    /* The GGUF stores f32: a value below the smallest normal f32 would be
     * written as 0 or as a denormal that has lost its digits. */
    if (v->valuedouble < FLT_MIN)
        return bn_error_set(err, BN_EINVAL, "%s: field '%s' = %g does not survive conversion to "
                            "the file's f32 (smallest normal %g)", name, key, v->valuedouble,
                            (double)FLT_MIN);
    *out = (float)v->valuedouble;
    return BN_OK;
}

/* Token id: an integer, or a list whose first element is one (generation configs). */
static bn_status get_token_id(const cJSON *root, const char *name, const char *key, int64_t *out,
                              bn_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    *out = -1;
    if (!v || cJSON_IsNull(v))
        return BN_OK;
    if (cJSON_IsArray(v))
        v = cJSON_GetArrayItem(v, 0);
    if (!v || !cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
        v->valuedouble < 0 || v->valuedouble > (double)UINT32_MAX)
        return bn_error_set(err, BN_EINVAL, "%s: field '%s' is not a token id", name, key);
    *out = (int64_t)v->valuedouble;
    return BN_OK;
}

static const char *get_str(const cJSON *root, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bn_status pick_arch(const cJSON *root, const char *name, bn_hfconfig *cfg, bn_error *err)
{
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    const cJSON *a0 = cJSON_IsArray(archs) ? cJSON_GetArrayItem(archs, 0) : NULL;
    if (!cJSON_IsString(a0))
        return bn_error_set(err, BN_EUNSUPPORTED,
                            "%s: no 'architectures' list naming the model class; supported: %s",
                            name, SUPPORTED);
    snprintf(cfg->hf_arch, sizeof cfg->hf_arch, "%s", a0->valuestring);

    const cJSON *qc = cJSON_GetObjectItemCaseSensitive(root, "quantization_config");
    const char *qm = cJSON_IsObject(qc) ? get_str(qc, "quant_method") : NULL;
    cfg->offline_packed = qm && strcmp(qm, "bitnet") == 0;

    /* the first row of the architecture table for this class */
    const bn_arch_info *row = NULL;
    for (int i = 0; i < BN_ARCH_COUNT && !row; i++) {
        const bn_arch_info *r = bn_arch_get((bn_arch)i);
        if (!r->hf_by_name_only && strcmp(a0->valuestring, r->hf_class) == 0)
            row = r;
    }
    if (!row)
        return bn_error_set(err, BN_EUNSUPPORTED, "%s: architecture '%s' is not supported; supported: %s",
                            name, a0->valuestring, SUPPORTED);
    if (row->hf_needs_bitnet && !cfg->offline_packed)
        return bn_error_set(err, BN_EUNSUPPORTED,
                            "%s: %s without quantization_config.quant_method \"bitnet\" is not a "
                            "BitNet model; supported: %s",
                            name, a0->valuestring, SUPPORTED);
    cfg->arch = row->id;
    cfg->gguf_arch = row->gguf_name;
    return BN_OK;
}

/* The GGUF architecture fixes the FFN activation (relu² for bitnet-b1.58, SiLU
 * otherwise), so a config asking for another one cannot be represented. */
static bn_status pick_act(const cJSON *root, const char *name, bn_hfconfig *cfg, bn_error *err)
{
    cfg->act = bn_arch_get(cfg->arch)->act;
    const char *want = cfg->act == BN_FFN_RELU2 ? "relu2" : "silu";
    const char *act = get_str(root, "hidden_act");
    if (!act || strcmp(act, want) == 0 || (cfg->act == BN_FFN_SILU && strcmp(act, "swish") == 0))
        return BN_OK;
    return bn_error_set(err, BN_EUNSUPPORTED,
                        "%s: hidden_act '%s' is not supported for %s (GGUF '%s' uses %s)", name,
                        act, cfg->hf_arch, cfg->gguf_arch, want);
}

static bn_status check_rope_scaling(const cJSON *root, const char *name, bn_error *err)
{
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    if (!rs || cJSON_IsNull(rs))
        return BN_OK;
    const char *type = cJSON_IsObject(rs) ? get_str(rs, "rope_type") : NULL;
    if (!type && cJSON_IsObject(rs))
        type = get_str(rs, "type");
    const cJSON *f = cJSON_IsObject(rs) ? cJSON_GetObjectItemCaseSensitive(rs, "factor") : NULL;
    if (type && (strcmp(type, "default") == 0 ||
                 (strcmp(type, "linear") == 0 && cJSON_IsNumber(f) && f->valuedouble == 1.0)))
        return BN_OK;
    return bn_error_set(err, BN_EUNSUPPORTED,
                        "%s: rope_scaling of type '%s' is not supported (only none or linear 1.0)",
                        name, type ? type : "?");
}

bn_status bn_hfconfig_parse(const char *json, size_t len, const char *name, bn_hfconfig *cfg,
                            bn_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->bos_id = cfg->eos_id = -1;
    cJSON *root;
    bn_status st = bnu_json_parse_strict(name, json, len, &root, err);
    if (st)
        return st;
    if (!cJSON_IsObject(root)) {
        st = bn_error_set(err, BN_EINVAL, "%s: the top level is not a JSON object", name);
        goto done;
    }
    if ((st = pick_arch(root, name, cfg, err)) || (st = pick_act(root, name, cfg, err)) ||
        (st = check_rope_scaling(root, name, err)))
        goto done;

    int64_t vocab, embd, ff, layer, head, head_kv, head_dim, ctx;
    const int64_t big = 1 << 24;
    if ((st = get_uint(root, name, "vocab_size", 1, big, -1, &vocab, err)) ||
        (st = get_uint(root, name, "hidden_size", 1, 1 << 20, -1, &embd, err)) ||
        (st = get_uint(root, name, "intermediate_size", 1, 1 << 22, -1, &ff, err)) ||
        (st = get_uint(root, name, "num_hidden_layers", 1, 512, -1, &layer, err)) /* llama.cpp: LLAMA_MAX_LAYERS */ ||
        (st = get_uint(root, name, "num_attention_heads", 1, 4096, -1, &head, err)) ||
        (st = get_uint(root, name, "num_key_value_heads", 1, 4096, head, &head_kv, err)) ||
        (st = get_uint(root, name, "max_position_embeddings", 1, big, 2048, &ctx, err)))
        goto done;
    if (embd % head != 0) {
        st = bn_error_set(err, BN_EINVAL, "%s: hidden_size %lld is not a multiple of num_attention_heads %lld",
                          name, (long long)embd, (long long)head);
        goto done;
    }
    if ((st = get_uint(root, name, "head_dim", 2, 1 << 16, embd / head, &head_dim, err)))
        goto done;
    if (head_dim != embd / head || head_dim % 2 != 0) {
        st = bn_error_set(err, BN_EUNSUPPORTED,
                          "%s: head_dim %lld must be even and equal hidden_size / num_attention_heads (%lld)",
                          name, (long long)head_dim, (long long)(embd / head));
        goto done;
    }
    if (head % head_kv != 0) {
        st = bn_error_set(err, BN_EINVAL,
                          "%s: num_attention_heads %lld is not a multiple of num_key_value_heads %lld",
                          name, (long long)head, (long long)head_kv);
        goto done;
    }
    cfg->n_vocab = (uint32_t)vocab;
    cfg->n_embd = (uint32_t)embd;
    cfg->n_ff = (uint32_t)ff;
    cfg->n_layer = (uint32_t)layer;
    cfg->n_head = (uint32_t)head;
    cfg->n_head_kv = (uint32_t)head_kv;
    cfg->head_dim = (uint32_t)head_dim;
    cfg->n_ctx = (uint32_t)ctx;
    double eps_default = bn_arch_get(cfg->arch)->hf_eps_default;
    if ((st = get_float(root, name, "rms_norm_eps", eps_default, &cfg->rms_eps, err)) ||
        (st = get_float(root, name, "rope_theta", 10000.0, &cfg->rope_theta, err)))
        goto done;

    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(root, "tie_word_embeddings");
    if (!tie || cJSON_IsNull(tie))
        cfg->tie_embeddings = -1;
    else if (cJSON_IsBool(tie))
        cfg->tie_embeddings = cJSON_IsTrue(tie);
    else {
        st = bn_error_set(err, BN_EINVAL, "%s: field 'tie_word_embeddings' must be true or false", name);
        goto done;
    }
    if ((st = get_token_id(root, name, "bos_token_id", &cfg->bos_id, err)) ||
        (st = get_token_id(root, name, "eos_token_id", &cfg->eos_id, err)))
        goto done;
done:
    cJSON_Delete(root);
    return st;
}

bn_status bn_hfconfig_load(const char *dir, bn_hfconfig *cfg, bn_error *err)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/config.json", dir) >= (int)sizeof path)
        return bn_error_set(err, BN_EINVAL, "%s: path too long", dir);
    char *buf;
    size_t len;
    bn_status st = bn_read_file(path, CONFIG_MAX_BYTES, &buf, &len, err);
    if (st)
        return st;
    st = bn_hfconfig_parse(buf, len, path, cfg, err);
    free(buf);
    return st;
}
