/* bn-info - describe a model file: header, every KV, the tensor table and
 * totals, as text or (--json) as JSON on stdout.
 *
 * Exit codes: 0 ok, 2 bad usage or bad input, 3 an I/O or system failure; on
 * failure exactly one line "bn-info: <message>" goes to stderr. */
#include <cJSON.h>
#include <limits.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn/gguf.h"
#include "bn/util.h"
#include "tools/common/info_ckpt.h"
#include "tools/common/cli.h"
#include "tools/common/opt.h"

#define BN_INFO_JSON_SCHEMA 1 /* docs/json.md */


typedef struct {
    int json;           /* --json */
    FILE *out;          /* where --json goes: stdout or the --json FILE */
    uint64_t max_items; /* --items: array elements shown per KV */
    int sha256;         /* --sha256: digest of every checkpoint tensor's data */
} options;

static int fail(bn_status st, const char *msg)
{
    fprintf(stderr, "bn-info: %s\n", msg);
    return bn_status_exit_code(st);
}

/* ---- GGUF ------------------------------------------------------------------- */

static void print_gguf_text(const bn_gguf *g, const options *o)
{
    char key[160], val[240], ne[96];
    printf("%s: GGUF v%" PRIu32 ", %" PRId64 " KVs, %" PRId64 " tensors, alignment %" PRIu32
           ", data at offset %" PRIu64 ", %" PRIu64 " bytes\n",
           bn_gguf_path(g), bn_gguf_version(g), bn_gguf_n_kv(g), bn_gguf_n_tensors(g),
           bn_gguf_alignment(g), bn_gguf_data_offset(g), bn_gguf_file_size(g));

    printf("\nKVs:\n");
    for (int64_t i = 0; i < bn_gguf_n_kv(g); i++) {
        const bn_gguf_kv *kv = bn_gguf_kv_at(g, i);
        bn_gguf_escape(kv->key, strlen(kv->key), key, sizeof key);
        if (o->max_items == UINT64_MAX) { /* --items 0: every item, however long */
            printf("  %4" PRId64 "  %-44s %-6s  ", i, key, bn_gguf_vtype_name(kv->type));
            bn_gguf_print_value(g, kv, o->max_items, stdout);
            putchar('\n');
            continue;
        }
        bn_gguf_format_value(g, kv, o->max_items, val, sizeof val);
        printf("  %4" PRId64 "  %-44s %-6s  %s\n", i, key, bn_gguf_vtype_name(kv->type), val);
    }

    printf("\ntensors:\n  %4s  %-40s %-6s %-26s %14s %14s\n", "#", "name", "type", "ne", "bytes",
           "offset");
    for (int64_t i = 0; i < bn_gguf_n_tensors(g); i++) {
        const bn_gguf_tensor *t = bn_gguf_tensor_at(g, i);
        size_t n = (size_t)snprintf(ne, sizeof ne, "[");
        for (uint32_t j = 0; j < t->n_dims && n < sizeof ne; j++)
            n += (size_t)snprintf(ne + n, sizeof ne - n, "%s%" PRId64, j ? ", " : "", t->ne[j]);
        if (n < sizeof ne)
            snprintf(ne + n, sizeof ne - n, "]");
        bn_gguf_escape(t->name, strlen(t->name), key, sizeof key);
        printf("  %4" PRId64 "  %-40s %-6s %-26s %14" PRIu64 " %14" PRIu64 "\n", i, key,
               bn_type_name(t->type), ne, t->nbytes, t->offset);
    }

    bn_gguf_totals sum = bn_gguf_sum(g);
    printf("\ntotals: %" PRId64 " tensors, %" PRIu64 " parameters, %" PRIu64 " bytes", 
           bn_gguf_n_tensors(g), sum.n_params, sum.n_bytes);
    if (sum.n_params)
        printf(", %.4f bits per weight", 8.0 * (double)sum.n_bytes / (double)sum.n_params);
    printf("\n");
}

static int info_gguf(const char *path, const options *o)
{
    bn_gguf *g;
    bn_error err;
    bn_status st = bn_gguf_open(path, &g, &err);
    if (st)
        return fail(st, err.msg);
    if (!o->json) {
        print_gguf_text(g, o);
        bn_gguf_close(g);
        return 0;
    }
    /* The file's own "version" (GGUF 3) becomes "gguf_version" beside the
     * tool's; "file" is the header's "input" (docs/json.md). */
    static const char *const renames[] = {"file", NULL, "version", "gguf_version", NULL};
    cJSON *j = bn_cli_json_doc("bn-info", BN_INFO_JSON_SCHEMA, path), *body = bn_gguf_to_json(g, o->max_items);
    char *text = NULL;
    if (j && body && bn_cli_json_adopt(j, body, renames) == 0)
        text = cJSON_Print(j);
    else if (!j)
        cJSON_Delete(body);
    cJSON_Delete(j);
    bn_gguf_close(g);
    if (!text)
        return fail(BN_ENOMEM, "out of memory building the JSON description");
    fprintf(o->out, "%s\n", text);
    free(text);
    return 0;
}

/* One place decides how a path is read: a directory or a file that does not
 * start with "GGUF" is a Hugging Face checkpoint. */
static int info_path(const char *path, const options *o)
{
    if (bn_info_is_checkpoint(path)) {
        bn_info_ckpt_opts co = {.json = o->json, .sha256 = o->sha256};
        return bn_info_ckpt(path, &co, o->json ? o->out : stdout, stderr);
    }
    return info_gguf(path, o);
}

static int items_fn(const char *v, void *p, char *msg, size_t cap)
{
    long n;
    if (v[0] == '-' || bn_cli_parse_int(v, 0, LONG_MAX, &n)) {
        snprintf(msg, cap, "'%.64s' is not a count", v);
        return -1;
    }
    *(uint64_t *)p = n ? (uint64_t)n : UINT64_MAX; /* 0: all */
    return 0;
}

/* --json FILE: the document goes to FILE.tmp.XXXXXX, renamed once complete;
 * FILE may not be the input. */
static int info_to_file(const char *path, const char *json_path, options *o)
{
    bn_error err;
    bn_outset *set = NULL;
    bn_atomic_file *af = NULL;
    const char *outs[1] = {json_path};
    bn_status st = bn_outset_plan(&set, &path, 1, outs, 1, &err);
    if (!st)
        st = bn_atomic_open_in(set, json_path, &af, &err);
    if (st) {
        bn_outset_free(set);
        return fail(st, err.msg);
    }
    o->out = bn_atomic_stream(af);
    int rc = info_path(path, o);
    if (rc) {
        bn_atomic_abort(af);
    } else if (bn_atomic_commit(af, &err) || bn_outset_commit(set, &err)) {
        rc = fail(err.code, err.msg);
    }
    bn_outset_free(set);
    return rc;
}

int main(int argc, char **argv)
{
    options o = {.json = 0, .max_items = 8, .out = stdout};
    const char *path = NULL, *json = NULL;
    const bn_opt opts[] = {
        BN_O_MODEL(&path),
        {.l = "--json", .kind = BN_OPT_OPTSTR, .p = &json, .arg = "FILE", .dflt = "-",
         .help = "the same as JSON, on stdout or into FILE"},
        BN_O_FUNC(NULL, "--items", &o.max_items, items_fn, "N",
                  "array elements to show per KV (default 8; 0: all of them)"),
        BN_O_SECTION("\nA checkpoint (a directory, or any file that is not GGUF) is described by its\n"
                     "config.json summary and tensor table (name, dtype, shape, bytes, shard)."),
        BN_O_FLAG(NULL, "--sha256", &o.sha256,
                  "add the sha256 of each tensor's data (contiguous, row-major,\n"
                  "little-endian: the bytes the readers hand out)"),
    };
    const bn_opt_spec spec = {
        "bn-info",
        "usage: bn-info [--json [FILE]] [--items N] FILE.gguf\n"
        "       bn-info [--json [FILE]] [--sha256] CHECKPOINT (a Hugging Face directory, .safetensors or .bin)\n"
        "\n"
        "Print a GGUF file's header (version, alignment, counts, data offset), every\n"
        "KV (arrays abbreviated to their length and first items, strings quoted and\n"
        "escaped), the tensor table (name, type, ne, bytes, offset) and totals\n"
        "(parameters, bytes, bits per weight). The file is fully validated first.\n"
        "\n",
        opts, BN_OPT_N(opts), {&path}, 1, 1, NULL};
    int rc = bn_opt_parse(&spec, argc, argv);
    if (rc >= 0)
        return rc;
    if (!path)
        return bn_opt_fail(&spec, "no file given (see --help)");
    o.json = json != NULL;
    if (json && strcmp(json, "-") != 0)
        return info_to_file(path, json, &o);
    rc = info_path(path, &o);
    if (fflush(stdout) != 0 || ferror(stdout))
        return fail(BN_EIO, "cannot write to standard output");
    return rc;
}
