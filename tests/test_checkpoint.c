/* test_checkpoint.c - checkpoint readers against real torch.save / hand-written
 * safetensors fixtures (fixtures/checkpoints/expected.json, made by
 * scripts/make_checkpoint_fixtures.py from PyTorch), and the malformed corpora
 * under tests/corpus/{safetensors,pickle}/, which must all be rejected. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>
#include <zip.h>

#include "bn/util.h"
#include "bn/checkpoint.h"
#include "bn/gguf.h"
#include "bn/sha256.h"
#include "convert/ckpt_internal.h"
#include "testutil.h"

static cJSON *load_expected(void)
{
    size_t len;
    char *text = (char *)tu_read(tu_root("fixtures/checkpoints/expected.json"), &len);
    ck_assert_msg(text != NULL, "fixtures/checkpoints/expected.json missing");
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    ck_assert_ptr_nonnull(j);
    return j;
}

static void hex_of(const void *data, size_t len, char hex[BN_SHA256_HEX_SIZE])
{
    uint8_t d[BN_SHA256_SIZE];
    bn_sha256(data, len, d);
    bn_sha256_hex(d, hex);
}

/* One fixture: the table matches the expectations exactly, and every tensor
 * reads to the expected bytes, raw and as float32. */
/* Streaming: a tensor read in pieces of 7 elements (and in one piece) equals
 * the whole read; tensors that cannot stream say so and are refused. */
static int n_streamed, n_not_streamed;

static void check_pieces(bn_ckpt *ck, const bn_ckpt_tensor *t, const float *whole, const char *rel)
{
    bn_error e;
    float *g = malloc(t->n_el * sizeof *g + 1);
    if (!bn_ckpt_can_stream(ck, t)) {
        n_not_streamed++;
        ck_assert_int_eq(bn_ckpt_read_f32_range(ck, t, 0, t->n_el, g, &e), BN_EINVAL);
        ck_assert_msg(strstr(e.msg, t->name) && strstr(e.msg, "read it whole"), "%s", e.msg);
        free(g);
        return;
    }
    n_streamed++;
    for (uint64_t at = 0; at < t->n_el; at += 7) {
        uint64_t k = t->n_el - at < 7 ? t->n_el - at : 7;
        ck_assert_msg(bn_ckpt_read_f32_range(ck, t, at, k, g + at, &e) == BN_OK, "%s: %s", rel, e.msg);
    }
    ck_assert_msg(memcmp(g, whole, t->n_el * sizeof *g) == 0, "%s: '%s' read in pieces differs", rel,
                  t->name);
    memset(g, 0, t->n_el * sizeof *g);
    ck_assert_int_eq(bn_ckpt_read_f32_range(ck, t, 0, t->n_el, g, &e), BN_OK);
    ck_assert_msg(memcmp(g, whole, t->n_el * sizeof *g) == 0, "%s: '%s' one piece differs", rel, t->name);
    ck_assert_int_eq(bn_ckpt_read_f32_range(ck, t, t->n_el, 0, g, &e), BN_OK);
    ck_assert_int_eq(bn_ckpt_read_f32_range(ck, t, t->n_el, 1, g, &e), BN_EINVAL);
    ck_assert_int_eq(bn_ckpt_read_f32_range(ck, t, 1, UINT64_MAX, g, &e), BN_EINVAL);
    free(g);
}

static void check_fixture(const char *rel, const cJSON *want)
{
    bn_ckpt *ck;
    bn_error e;
    bn_error_clear(&e);
    const char *path = tu_root(rel);
    ck_assert_msg(bn_ckpt_open(path, &ck, &e) == BN_OK, "%s: %s", rel, e.msg);
    const cJSON *tensors = cJSON_GetObjectItem(want, "tensors");
    ck_assert_msg((size_t)cJSON_GetArraySize(tensors) == bn_ckpt_n_tensors(ck), "%s: %zu tensors, want %d", rel,
                  bn_ckpt_n_tensors(ck), cJSON_GetArraySize(tensors));
    for (const cJSON *w = tensors->child; w; w = w->next) {
        const bn_ckpt_tensor *t = bn_ckpt_find(ck, w->string);
        ck_assert_msg(t != NULL, "%s: tensor '%s' not found", rel, w->string);
        ck_assert_str_eq(bn_ckpt_dtype_name(t->dtype), cJSON_GetObjectItem(w, "dtype")->valuestring);
        const cJSON *shape = cJSON_GetObjectItem(w, "shape");
        ck_assert_int_eq(t->n_dims, cJSON_GetArraySize(shape));
        int i = 0;
        uint64_t n_el = 1;
        for (const cJSON *d = shape->child; d; d = d->next, i++) {
            ck_assert_msg(t->shape[i] == (int64_t)d->valuedouble, "%s: '%s' dim %d", rel, t->name, i);
            n_el *= (uint64_t)d->valuedouble;
        }
        ck_assert_uint_eq(t->n_el, n_el);
        ck_assert_uint_eq(t->nbytes, n_el * bn_ckpt_dtype_size(t->dtype));
        ck_assert_str_eq(t->file, cJSON_GetObjectItem(w, "file")->valuestring);
        const cJSON *alias = cJSON_GetObjectItem(w, "alias_of");
        if (cJSON_IsString(alias)) {
            ck_assert_msg(t->alias_of >= 0, "%s: '%s' should alias '%s'", rel, t->name, alias->valuestring);
            ck_assert_str_eq(bn_ckpt_tensor_at(ck, (size_t)t->alias_of)->name, alias->valuestring);
        } else {
            ck_assert_msg(t->alias_of == -1, "%s: '%s' is not an alias", rel, t->name);
        }
        char hex[BN_SHA256_HEX_SIZE];
        uint8_t *raw = malloc(t->nbytes + 1);
        float *f = malloc(t->n_el * sizeof *f + 1);
        ck_assert_msg(bn_ckpt_read_raw(ck, t, raw, t->nbytes, &e) == BN_OK, "%s: %s", rel, e.msg);
        hex_of(raw, t->nbytes, hex);
        ck_assert_msg(strcmp(hex, cJSON_GetObjectItem(w, "sha256")->valuestring) == 0, "%s: '%s' raw bytes differ",
                      rel, t->name);
        ck_assert_msg(bn_ckpt_read_f32(ck, t, f, t->n_el, &e) == BN_OK, "%s: %s", rel, e.msg);
        hex_of(f, t->n_el * sizeof *f, hex);
        ck_assert_msg(strcmp(hex, cJSON_GetObjectItem(w, "sha256_f32")->valuestring) == 0,
                      "%s: '%s' float32 values differ", rel, t->name);
        if (t->nbytes > 0) /* one byte short must be refused, not overrun */
            ck_assert_int_eq(bn_ckpt_read_raw(ck, t, raw, t->nbytes - 1, &e), BN_ELIMIT);
        check_pieces(ck, t, f, rel);
        free(raw);
        free(f);
    }
    const cJSON *meta = cJSON_GetObjectItem(want, "metadata");
    for (const cJSON *m = meta ? meta->child : NULL; m; m = m->next) {
        const char *v = bn_ckpt_metadata(ck, m->string);
        ck_assert_msg(v && strcmp(v, m->valuestring) == 0, "%s: metadata '%s'", rel, m->string);
    }
    bn_ckpt_close(ck);
}

START_TEST(test_fixtures)
{
    cJSON *j = load_expected();
    const cJSON *fx = cJSON_GetObjectItem(j, "fixtures");
    int n = 0;
    for (const cJSON *f = fx->child; f; f = f->next, n++) {
        char rel[512];
        snprintf(rel, sizeof rel, "fixtures/checkpoints/%s", f->string);
        check_fixture(rel, f);
    }
    ck_assert_int_ge(n, 12);
    /* both kinds occur: mapped and stored-zip tensors stream; deflated entries and
     * strided views do not */
    ck_assert_int_gt(n_streamed, 20);
    ck_assert_int_gt(n_not_streamed, 0);
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_recognised_rejects)
{
    cJSON *j = load_expected();
    const cJSON *rj = cJSON_GetObjectItem(j, "rejects");
    int n = 0;
    for (const cJSON *r = rj->child; r; r = r->next, n++) {
        char rel[512];
        snprintf(rel, sizeof rel, "fixtures/checkpoints/%s", r->string);
        bn_ckpt *ck = NULL;
        bn_error e;
        bn_error_clear(&e);
        ck_assert_int_eq(bn_ckpt_open(tu_root(rel), &ck, &e), BN_EUNSUPPORTED);
        ck_assert_ptr_null(ck);
        ck_assert_msg(strstr(e.msg, r->valuestring) != NULL, "%s: message '%s' lacks '%s'", rel, e.msg,
                      r->valuestring);
    }
    ck_assert_int_eq(n, 1);
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_single_file_and_dir)
{
    bn_ckpt *ck;
    bn_error e;
    /* A directory prefers model.safetensors over pytorch_model.bin. */
    ck_assert_int_eq(bn_ckpt_open(tu_root("fixtures/checkpoints/prefer_st"), &ck, &e), BN_OK);
    ck_assert_int_eq(bn_ckpt_get_format(ck), BN_CKPT_SAFETENSORS);
    ck_assert_str_eq(bn_ckpt_dir(ck), tu_root("fixtures/checkpoints/prefer_st"));
    const bn_ckpt_tensor *mapped = bn_ckpt_find(ck, "x");
    ck_assert_ptr_nonnull(mapped);
    ck_assert_int_eq(bnc_ckpt_parallel_reads(ck, mapped), 1); /* a mapped shard: any thread */
    bn_ckpt_close(ck);
    /* The .bin of the same directory opened as a file. */
    ck_assert_int_eq(bn_ckpt_open(tu_root("fixtures/checkpoints/prefer_st/pytorch_model.bin"), &ck, &e), BN_OK);
    ck_assert_int_eq(bn_ckpt_get_format(ck), BN_CKPT_TORCH_ZIP);
    ck_assert_ptr_nonnull(bn_ckpt_find(ck, "y"));
    ck_assert_str_eq(bn_ckpt_dir(ck), tu_root("fixtures/checkpoints/prefer_st"));
    bn_ckpt_close(ck);
    /* A sharded index opened directly. */
    ck_assert_int_eq(bn_ckpt_open(tu_root("fixtures/checkpoints/pt_sharded/pytorch_model.bin.index.json"), &ck, &e),
                     BN_OK);
    ck_assert_uint_eq(bn_ckpt_n_shards(ck), 2);
    ck_assert_str_eq(bn_ckpt_shard_name(ck, 1), "pytorch_model-00002-of-00002.bin");
    ck_assert_ptr_null(bn_ckpt_shard_name(ck, 2));
    bn_ckpt_close(ck);
    /* An empty directory names what it looked for. */
    const char *empty = tu_tmp("emptydir");
    mkdir(empty, 0755);
    ck_assert_int_eq(bn_ckpt_open(empty, &ck, &e), BN_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, "model.safetensors"));
}
END_TEST

START_TEST(test_prefix_and_alias)
{
    bn_ckpt *ck;
    bn_error e;
    ck_assert_int_eq(bn_ckpt_open(tu_root("fixtures/checkpoints/pt_nested.bin"), &ck, &e), BN_OK);
    ck_assert_ptr_null(bn_ckpt_find(ck, "norm.weight"));
    ck_assert_int_eq(bn_ckpt_set_prefix(ck, "model.", &e), BN_OK);
    const bn_ckpt_tensor *t = bn_ckpt_find(ck, "norm.weight");
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t->name, "model.norm.weight");
    ck_assert_ptr_nonnull(bn_ckpt_find(ck, "optimizer.state.0.momentum_buffer"));
    /* Added aliases read their target's data and refuse clashes. */
    ck_assert_int_eq(bn_ckpt_add_alias(ck, "output.weight", "model.proj.weight", &e), BN_OK);
    ck_assert_int_eq(bn_ckpt_add_alias(ck, "output.weight", "model.proj.weight", &e), BN_EINVAL);
    ck_assert_int_eq(bn_ckpt_add_alias(ck, "x", "no.such", &e), BN_ENOTFOUND);
    const bn_ckpt_tensor *a = bn_ckpt_find(ck, "output.weight"), *b = bn_ckpt_find(ck, "model.proj.weight");
    ck_assert_int_eq(a->alias_of, (int64_t)b->index);
    float x[16], y[16];
    ck_assert_uint_eq(a->n_el, 16);
    ck_assert_int_eq(bn_ckpt_read_f32(ck, a, x, 16, &e), BN_OK);
    ck_assert_int_eq(bn_ckpt_read_f32(ck, b, y, 16, &e), BN_OK);
    ck_assert_mem_eq(x, y, sizeof x);
    ck_assert_ptr_null(bn_ckpt_tensor_at(ck, bn_ckpt_n_tensors(ck)));
    bn_ckpt_close(ck);
}
END_TEST

START_TEST(test_sha256)
{
    char hex[BN_SHA256_HEX_SIZE];
    hex_of("", 0, hex);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_of("abc", 3, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* Streaming in odd pieces equals one shot (two-block message of FIPS 180-4). */
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    bn_sha256_ctx s;
    bn_sha256_init(&s);
    for (size_t i = 0; i < strlen(m); i += 7) bn_sha256_update(&s, m + i, strlen(m) - i < 7 ? strlen(m) - i : 7);
    uint8_t d[BN_SHA256_SIZE];
    bn_sha256_final(&s, d);
    bn_sha256_hex(d, hex);
    ck_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}
END_TEST

/* ---- malformed corpora ---- */

/* Put a raw data.pkl into a zip as torch.save lays it out, beside two 64-byte
 * storages (data/0 and data/1: 16 floats each). */
static const char *wrap_pickle(const uint8_t *pkl, size_t len)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s", tu_tmp("wrapped.bin"));
    static const uint8_t zeros[64];
    int ze;
    zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &ze);
    ck_assert_ptr_nonnull(za);
    struct { const char *name; const void *data; size_t len; } e[] = {
        {"archive/data.pkl", pkl, len}, {"archive/version", "3\n", 2},
        {"archive/data/0", zeros, 64}, {"archive/data/1", zeros, 64}};
    for (size_t i = 0; i < 4; i++) {
        zip_source_t *src = zip_source_buffer(za, e[i].data, e[i].len, 0);
        ck_assert_ptr_nonnull(src);
        zip_int64_t idx = zip_file_add(za, e[i].name, src, ZIP_FL_OVERWRITE);
        ck_assert_int_ge(idx, 0);
        zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
    }
    ck_assert_int_eq(zip_close(za), 0);
    return path;
}

/* Every tensor of an accepted file reads (raw and float) without error. */
static void read_all(bn_ckpt *ck)
{
    bn_error e;
    for (size_t i = 0; i < bn_ckpt_n_tensors(ck); i++) {
        const bn_ckpt_tensor *t = bn_ckpt_tensor_at(ck, i);
        uint8_t *raw = malloc(t->nbytes + 1);
        float *f = malloc(t->n_el * sizeof *f + 1);
        ck_assert_msg(bn_ckpt_read_raw(ck, t, raw, t->nbytes, &e) == BN_OK, "%s", e.msg);
        ck_assert_msg(bn_ckpt_read_f32(ck, t, f, t->n_el, &e) == BN_OK, "%s", e.msg);
        free(raw);
        free(f);
    }
}

/* Open every file of a corpus directory; returns how many were rejected.
 * Files named ok_* are controls built the same way and must be accepted. */
static int run_corpus(const char *sub, const char *wrap_ext)
{
    char dir[4096]; /* tu_root's buffers rotate: keep a copy */
    snprintf(dir, sizeof dir, "%s", tu_root(sub));
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "no corpus %s", dir);
    struct dirent *de;
    int rejected = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        const char *open_path = path;
        uint8_t *buf = NULL;
        if (wrap_ext && strstr(de->d_name, wrap_ext)) {
            size_t len;
            buf = tu_read(path, &len);
            ck_assert_ptr_nonnull(buf);
            open_path = wrap_pickle(buf, len);
        }
        bn_ckpt *ck = NULL;
        bn_error e;
        bn_error_clear(&e);
        bn_status s = bn_ckpt_open(open_path, &ck, &e);
        if (getenv("BN_CORPUS_VERBOSE")) fprintf(stderr, "%-40s %s\n", de->d_name, s ? e.msg : "(accepted)");
        if (strncmp(de->d_name, "ok_", 3) == 0) {
            ck_assert_msg(s == BN_OK, "%s: control rejected: %s", de->d_name, e.msg);
            read_all(ck);
            bn_ckpt_close(ck);
        } else {
            ck_assert_msg(s != BN_OK, "%s: accepted", de->d_name);
            ck_assert_ptr_null(ck);
            ck_assert_msg(e.code == s && strlen(e.msg) > 10, "%s: no message", de->d_name);
            ck_assert_msg(s != BN_EINTERNAL && s != BN_ENOMEM, "%s: %s", de->d_name, e.msg);
            rejected++;
        }
        free(buf);
    }
    closedir(d);
    return rejected;
}

START_TEST(test_corpus_safetensors)
{
    ck_assert_int_ge(run_corpus("tests/corpus/safetensors", NULL), 20);
}
END_TEST

START_TEST(test_corpus_pickle)
{
    ck_assert_int_ge(run_corpus("tests/corpus/pickle", ".pkl"), 20);
}
END_TEST

/* The os.system pickle names the call it refuses, and nothing runs: the
 * command it carries would create a marker file. */
START_TEST(test_os_system_not_run)
{
    const char *marker = "/tmp/bntk_ckpt_pwned";
    unlink(marker);
    const char *names[] = {"os_system.pkl", "builtins_eval.pkl", "stack_global_exec.pkl"};
    const char *want[] = {"'os.system'", "'builtins.eval'", "'builtins.exec'"};
    for (int i = 0; i < 3; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "tests/corpus/pickle/%s", names[i]);
        size_t len;
        uint8_t *pkl = tu_read(tu_root(rel), &len);
        ck_assert_ptr_nonnull(pkl);
        bn_ckpt *ck = NULL;
        bn_error e;
        ck_assert_int_eq(bn_ckpt_open(wrap_pickle(pkl, len), &ck, &e), BN_EUNSUPPORTED);
        ck_assert_msg(strstr(e.msg, want[i]) != NULL, "%s: %s", names[i], e.msg);
        free(pkl);
    }
    ck_assert_msg(!tu_exists(marker), "a pickle ran a command");
}
END_TEST

/* Truncating a good file anywhere never crashes and never passes unnoticed:
 * either open fails, or (zip central directory intact) a read does. */
START_TEST(test_truncations)
{
    const char *files[] = {"fixtures/checkpoints/st_dtypes.safetensors", "fixtures/checkpoints/pt_proto4.bin"};
    for (int f = 0; f < 2; f++) {
        size_t len;
        uint8_t *data = tu_read(tu_root(files[f]), &len);
        ck_assert_ptr_nonnull(data);
        for (size_t cut = 0; cut < len; cut += (cut < 64 ? 1 : 7)) {
            const char *p = tu_tmp("cut.bin");
            ck_assert_int_eq(tu_write(p, data, cut), 0);
            bn_ckpt *ck = NULL;
            bn_error e;
            bn_status s = bn_ckpt_open(p, &ck, &e);
            ck_assert_msg(s != BN_OK, "%s cut at %zu accepted", files[f], cut);
        }
        free(data);
    }
}
END_TEST

/* Random byte mutations of good files (fixed seed): each either opens and then
 * reads (or refuses to read) every tensor, or is refused; never a crash, a
 * sanitizer report or an internal error. */
static void mutate_and_open(const uint8_t *orig, size_t len, int wrap, unsigned seed, int rounds)
{
    uint8_t *buf = malloc(len);
    uint64_t rs = bn_rng_seed(seed);
    for (int r = 0; r < rounds; r++) {
        memcpy(buf, orig, len);
        int flips = 1 + (int)(bn_rng_next(&rs) % 4);
        for (int k = 0; k < flips; k++) {
            size_t at = (size_t)(bn_rng_next(&rs) % len);
            buf[at] = (uint8_t)(bn_rng_next(&rs) >> 56);
        }
        const char *p = wrap ? wrap_pickle(buf, len) : tu_tmp("mutant.bin");
        if (!wrap) ck_assert_int_eq(tu_write(p, buf, len), 0);
        bn_ckpt *ck = NULL;
        bn_error e;
        bn_status s = bn_ckpt_open(p, &ck, &e);
        ck_assert_msg(s != BN_EINTERNAL, "round %d: %s", r, e.msg);
        if (s) continue;
        for (size_t i = 0; i < bn_ckpt_n_tensors(ck); i++) {
            const bn_ckpt_tensor *t = bn_ckpt_tensor_at(ck, i);
            void *dst = malloc(t->nbytes + 1);
            s = bn_ckpt_read_raw(ck, t, dst, t->nbytes, &e);
            ck_assert_msg(s == BN_OK || s == BN_EINVAL, "round %d: read: %s", r, e.msg);
            free(dst);
        }
        bn_ckpt_close(ck);
    }
    free(buf);
}

START_TEST(test_mutations)
{
    const char *files[] = {"fixtures/checkpoints/st_dtypes.safetensors", "fixtures/checkpoints/pt_proto4.bin",
                           "tests/corpus/pickle/ok_control.pkl", "fixtures/checkpoints/legacy_dtypes.bin"};
    for (int f = 0; f < 4; f++) {
        size_t len;
        uint8_t *data = tu_read(tu_root(files[f]), &len);
        ck_assert_ptr_nonnull(data);
        mutate_and_open(data, len, f == 2, 17u + (unsigned)f, 300);
        free(data);
    }
}
END_TEST

/* ---- large storages through the zip paths ---- */

typedef struct { uint8_t b[1024]; size_t n; } pbuf;
static void pb(pbuf *p, const void *d, size_t n) { memcpy(p->b + p->n, d, n); p->n += n; }
static void pb_lit(pbuf *p, const char *s) { pb(p, s, strlen(s)); }
static void pb_str(pbuf *p, const char *s)
{
    uint32_t n = (uint32_t)strlen(s);
    pb_lit(p, "X"); pb(p, &n, 4); pb(p, s, n);
}
static void pb_int(pbuf *p, int32_t v) { pb_lit(p, "J"); pb(p, &v, 4); }

/* name: _rebuild_tensor_v2(('storage', HalfStorage, '0', 'cpu', numel), off, size, stride, False, OrderedDict()) */
static void pb_tensor(pbuf *p, const char *name, int32_t numel, int32_t off, int nd, const int32_t *size,
                      const int32_t *stride)
{
    pb_str(p, name);
    pb_lit(p, "ctorch._utils\n_rebuild_tensor_v2\n((");
    pb_str(p, "storage");
    pb_lit(p, "ctorch\nHalfStorage\n");
    pb_str(p, "0");
    pb_str(p, "cpu");
    pb_int(p, numel);
    pb_lit(p, "tQ");
    pb_int(p, off);
    pb_lit(p, "(");
    for (int i = 0; i < nd; i++) pb_int(p, size[i]);
    pb_lit(p, "t(");
    for (int i = 0; i < nd; i++) pb_int(p, stride[i]);
    pb_lit(p, "t\x89" "ccollections\nOrderedDict\n)RtR");
}

/* A 100000-element F16 storage (larger than the 64 KiB bounce buffer and the
 * inflate skip buffer), stored and deflated, read through an offset view, a
 * strided view and two sparse views: every element must come out as the
 * storage says. */
START_TEST(test_large_zip_views)
{
    enum { NUMEL = 100000 };
    uint16_t *st = malloc(NUMEL * sizeof *st);
    for (int i = 0; i < NUMEL; i++) st[i] = (uint16_t)((i * 7) & 0x7bff); /* finite halves */
    pbuf p = {.n = 0};
    pb_lit(&p, "\x80\x02}(");
    int32_t s1[] = {30000}, t1[] = {1}, s2[] = {100, 300}, t2[] = {1, 300};
    int32_t s3[] = {9, 20}, t3[] = {11000, 1}, s4[] = {7, 3}, t4[] = {3, 40000};
    pb_tensor(&p, "tail", NUMEL, 70000, 1, s1, t1);
    pb_tensor(&p, "strided", NUMEL, 5, 2, s2, t2);
    pb_tensor(&p, "sparse_rows", NUMEL, 17, 2, s3, t3);   /* runs of 20, far apart */
    pb_tensor(&p, "sparse_elems", NUMEL, 1, 2, s4, t4);   /* single elements, far apart */
    pb_lit(&p, "u.");
    for (int deflate = 0; deflate < 2; deflate++) {
        const char *path = tu_tmp(deflate ? "big_deflated.bin" : "big_stored.bin");
        int ze;
        zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &ze);
        ck_assert_ptr_nonnull(za);
        struct { const char *name; const void *data; size_t len; } e[] = {
            {"big/data.pkl", p.b, p.n}, {"big/version", "3\n", 2}, {"big/data/0", st, NUMEL * 2}};
        for (int i = 0; i < 3; i++) {
            zip_int64_t idx = zip_file_add(za, e[i].name, zip_source_buffer(za, e[i].data, e[i].len, 0), 0);
            ck_assert_int_ge(idx, 0);
            zip_set_file_compression(za, (zip_uint64_t)idx, deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
        }
        ck_assert_int_eq(zip_close(za), 0);
        bn_ckpt *ck;
        bn_error err;
        ck_assert_msg(bn_ckpt_open(path, &ck, &err) == BN_OK, "%s", err.msg);
        const bn_ckpt_tensor *tail = bn_ckpt_find(ck, "tail"), *strided = bn_ckpt_find(ck, "strided");
        float *f = malloc(30000 * sizeof *f);
        uint16_t *h = malloc(30000 * sizeof *h);
        ck_assert_int_eq(bn_ckpt_read_f32(ck, tail, f, 30000, &err), BN_OK);
        ck_assert_int_eq(bn_ckpt_read_raw(ck, tail, h, 60000, &err), BN_OK);
        for (int i = 0; i < 30000; i++) {
            ck_assert_uint_eq(h[i], st[70000 + i]);
            ck_assert_msg(f[i] == bn_f16_to_f32(st[70000 + i]), "tail[%d]", i);
        }
        /* a slice from the middle: seeks in the stored entry; deflated entries and
         * strided views are read whole instead */
        ck_assert_int_eq(bn_ckpt_can_stream(ck, tail), !deflate);
        ck_assert_int_eq(bn_ckpt_can_stream(ck, strided), 0);
        /* but never by several threads at once: a zip's entries share one libzip
         * handle (concurrent ranged reads of one tensor raced in bn-convert -t 2) */
        ck_assert_int_eq(bnc_ckpt_parallel_reads(ck, tail), 0);
        if (!deflate) {
            float g[1000];
            ck_assert_int_eq(bn_ckpt_read_f32_range(ck, tail, 12345, 1000, g, &err), BN_OK);
            ck_assert_int_eq(memcmp(g, f + 12345, sizeof g), 0);
        }
        ck_assert_int_eq(bn_ckpt_read_f32(ck, strided, f, 30000, &err), BN_OK);
        ck_assert_int_eq(bn_ckpt_read_raw(ck, strided, h, 60000, &err), BN_OK);
        for (int r = 0; r < 100; r++)
            for (int c = 0; c < 300; c++) {
                ck_assert_uint_eq(h[r * 300 + c], st[5 + r + c * 300]);
                ck_assert(f[r * 300 + c] == bn_f16_to_f32(st[5 + r + c * 300]));
            }
        /* Sparse views: read run by run from the stored zip, from the span when deflated. */
        const char *sparse[] = {"sparse_rows", "sparse_elems"};
        const int32_t *sz[] = {s3, s4}, *sd[] = {t3, t4}, off[] = {17, 1};
        for (int v = 0; v < 2; v++) {
            const bn_ckpt_tensor *t = bn_ckpt_find(ck, sparse[v]);
            ck_assert_int_eq(bn_ckpt_read_f32(ck, t, f, 30000, &err), BN_OK);
            ck_assert_int_eq(bn_ckpt_read_raw(ck, t, h, 60000, &err), BN_OK);
            for (int r = 0; r < sz[v][0]; r++)
                for (int c = 0; c < sz[v][1]; c++) {
                    uint16_t want = st[off[v] + r * sd[v][0] + c * sd[v][1]];
                    ck_assert_uint_eq(h[r * sz[v][1] + c], want);
                    ck_assert(f[r * sz[v][1] + c] == bn_f16_to_f32(want));
                }
        }
        free(f);
        free(h);
        bn_ckpt_close(ck);
    }
    free(st);
}
END_TEST

/* ---- index files ---- */

static void copy_file(const char *from, const char *to)
{
    size_t len;
    uint8_t *b = tu_read(from, &len);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(tu_write(to, b, len), 0);
    free(b);
}

/* A scratch model directory with the two st_sharded shards (layers.0-2.w in
 * A = model-00001-of-00002, layers.3-4.w in B) plus a copy of A named C, and
 * the given index. Returns the open status; *msg gets the message. */
static bn_status open_with_index(const char *index, bn_error *e)
{
    static int n;
    char dir[4096], p[8192];
    char name[64];
    snprintf(name, sizeof name, "idx%d", n++);
    snprintf(dir, sizeof dir, "%s", tu_tmp(name));
    mkdir(dir, 0755);
    const char *shards[] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};
    for (int i = 0; i < 2; i++) {
        char from[4096];
        snprintf(from, sizeof from, "%s/%s", tu_root("fixtures/checkpoints/st_sharded"), shards[i]);
        snprintf(p, sizeof p, "%s/%s", dir, shards[i]);
        copy_file(from, p);
        if (i == 0) {
            snprintf(p, sizeof p, "%s/C.safetensors", dir);
            copy_file(from, p);
        }
    }
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    ck_assert_int_eq(tu_write(p, index, strlen(index)), 0);
    bn_ckpt *ck = NULL;
    bn_error_clear(e);
    bn_status s = bn_ckpt_open(dir, &ck, e);
    if (!s) {
        ck_assert_uint_eq(bn_ckpt_n_shards(ck), 2); /* each shard opened once */
        read_all(ck);
    }
    bn_ckpt_close(ck);
    return s;
}

#define A "\"model-00001-of-00002.safetensors\""
#define B "\"model-00002-of-00002.safetensors\""
#define MAP_OK "\"layers.0.w\": " A ", \"layers.1.w\": " A ", \"layers.2.w\": " A ", \"layers.3.w\": " B

START_TEST(test_index_rules)
{
    static const struct { const char *json; bn_status want; const char *says; } cases[] = {
        {"{\"weight_map\": {" MAP_OK ", \"layers.4.w\": " B "}}", BN_OK, ""},
        {"{\"weight_map\": {" MAP_OK ", \"layers.4.w\": \"../st_sharded/model-00002-of-00002.safetensors\"}}",
         BN_EINVAL, "plain file name"},
        {"{\"weight_map\": {" MAP_OK ", \"layers.4.w\": \"sub/x.safetensors\"}}", BN_EINVAL, "plain file name"},
        {"{\"weight_map\": {" MAP_OK ", \"layers.4.w\": \"..\"}}", BN_EINVAL, "plain file name"},
        {"{\"weight_map\": {" MAP_OK ", \"layers.4.w\": 7}}", BN_EINVAL, "plain file name"},
        {"{\"weight_map\": {" MAP_OK ", \"layers.4.w\": " A "}}", BN_EINVAL, "but found in"},
        {"{\"weight_map\": {" MAP_OK ", \"layers.4.w\": " B ", \"layers.9.w\": " B "}}", BN_EINVAL, "not there"},
        {"{\"weight_map\": {" MAP_OK "}}", BN_EINVAL, "missing from weight_map"},
        {"{\"weight_map\": {" MAP_OK ", \"layers.4.w\": " B ", \"layers.4.w\": " B "}}", BN_EINVAL, "twice"},
        {"{\"weight_map\": {" MAP_OK ", \"layers.4.w\": " B ", \"x\": \"C.safetensors\"}}", BN_EINVAL,
         "in two shards"},
        {"{\"weight_map\": {" MAP_OK ", \"layers.4.w\": \"nope.safetensors\"}}", BN_ENOTFOUND, "does not exist"},
        {"{\"weight_map\": [1]}", BN_EINVAL, "weight_map"},
        {"{\"weight_map\": {}} trailing", BN_EINVAL, "JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        bn_error e;
        bn_status s = open_with_index(cases[i].json, &e);
        ck_assert_msg(s == cases[i].want, "index case %zu: status %d, want %d (%s)", i, s, cases[i].want, e.msg);
        ck_assert_msg(strstr(e.msg, cases[i].says) != NULL, "index case %zu: '%s' lacks '%s'", i, e.msg,
                      cases[i].says);
    }
}
END_TEST

Suite *checkpoint_suite(void);
Suite *checkpoint_suite(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_fixtures);
    tcase_add_test(tc, test_recognised_rejects);
    tcase_add_test(tc, test_single_file_and_dir);
    tcase_add_test(tc, test_prefix_and_alias);
    tcase_add_test(tc, test_sha256);
    tcase_add_test(tc, test_corpus_safetensors);
    tcase_add_test(tc, test_corpus_pickle);
    tcase_add_test(tc, test_os_system_not_run);
    tcase_add_test(tc, test_truncations);
    tcase_add_test(tc, test_index_rules);
    tcase_add_test(tc, test_mutations);
    tcase_add_test(tc, test_large_zip_views);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(checkpoint_suite());
}
