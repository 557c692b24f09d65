/* bn-serve - an OpenAI-compatible HTTP server for a BitNet / Llama GGUF model,
 * with continuous batching and a built-in chat page (src/serve/serve.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn/error.h"

#include "bn/util.h"
#include "common/cli.h"
#include "common/opt.h"
#include "serve/serve.h"

static int read_key_file(const char *path, char **out)
{
    bn_error err;
    bn_error_clear(&err);
    size_t len;
    char *buf;
    if (bn_read_file(path, 4096, &buf, &len, &err)) {
        fprintf(stderr, "bn-serve: --api-key-file: %s\n", err.msg);
        return -1;
    }
    buf[strcspn(buf, "\r\n")] = 0;
    if (!*buf) {
        fprintf(stderr, "bn-serve: --api-key-file %s: the first line is empty\n", path);
        free(buf);
        return -1;
    }
    *out = buf;
    return 0;
}

static const char *const KV_NAMES[] = {"f32", "f16", NULL};
static const int KV_VALUES[] = {BN_KV_F32, BN_KV_F16};

/* -1 run, else the exit code. */
static int parse_args(int argc, char **argv, bn_srv_opts *o, char **key_buf)
{
    const char *key_file = NULL;
    int kv = (int)o->kv, idle = (int)o->idle_timeout_s, header = (int)o->header_timeout_s;
    int conns = (int)o->max_conns;
    long body = (long)o->max_body;
    const bn_opt opts[] = {
        BN_O_MODEL(&o->model_path),
        BN_O_STR(NULL, "--host", &o->host, "ADDR", "listen address (default 127.0.0.1; numeric)"),
        BN_O_INT(NULL, "--port", &o->port, 0, 65535, "N", "port (default 8080; 0: any free port)"),
        BN_O_STR(NULL, "--port-file", &o->port_file, "PATH", "write the bound port to PATH once listening"),
        BN_O_INT("-c", "--ctx-size", &o->n_ctx, 8, 1 << 24, "N",
                 "KV cache positions in all, split across the slots as\n"
                 "llama-server's -c (default: the model's context length)"),
        BN_O_INT("-np", "--parallel", &o->parallel, 1, 256, "N",
                 "slots: requests evaluated together (default 4)"),
        BN_O_INT(NULL, "--queue", &o->queue, 0, 100000, "N",
                 "requests waiting for a slot; beyond that 503 (default 64)"),
        BN_O_INT(NULL, "--prefill-chunk", &o->prefill_chunk, 1, 65536, "N",
                 "prompt tokens per batched step (default 128)"),
        BN_O_FLAG(NULL, "--no-repack", &o->mopts.tq1_file_layout,
                  "run TQ1_0 projections from the file's bytes, not repacked\n"
                  "as TQ2_0 at load (the same results; slower, 54/66 the memory)"),
        BN_O_INT("-t", "--threads", &o->mopts.n_threads, 1, 1024, "N", "threads (default: all cores)"),
        BN_O_FUNC(NULL, "--kernel", &o->mopts.kernel, bn_opt_kernel, "NAME",
                  "ternary kernel (default: $BN_KERNEL or the fastest)"),
        BN_O_ENUM(NULL, "--kv", &kv, KV_NAMES, KV_VALUES, "KV cache type (default f32)"),
        BN_O_FUNC(NULL, "--chat-template", &o->chat_template, bn_opt_chat_template, "NAME",
                  "bitnet, llama3, llama2, chatml, phi3, falcon3, zephyr,\n"
                  "gemma (default: the model's)"),
        BN_O_STR(NULL, "--alias", &o->alias, "NAME", "model id in responses (default: the file name)"),
        BN_O_STR(NULL, "--api-key", &o->api_key, "KEY",
                 "require 'Authorization: Bearer KEY' (all but /health, /)"),
        BN_O_STR(NULL, "--api-key-file", &key_file, "PATH", "the key from a file (its first line)"),
        {.l = "--timeout", .kind = BN_OPT_DOUBLE, .p = &o->timeout_s, .dlo = 0, .dhi = 1e7,
         .flags = BN_OPT_OPEN_LO, .arg = "S",
         .help = "wall time of one request, queue included (default 600)"},
        BN_O_INT(NULL, "--idle-timeout", &idle, 1, 86400, "S",
                 "close a connection silent this long (default 30)"),
        BN_O_INT(NULL, "--header-timeout", &header, 1, 86400, "S",
                 "request headers must arrive within S (default 10)"),
        {.l = "--drain", .kind = BN_OPT_DOUBLE, .p = &o->drain_s, .dlo = 0, .dhi = 1e7,
         .flags = BN_OPT_OPEN_LO, .arg = "S",
         .help = "on SIGTERM/SIGINT, time for in-flight requests (default 30)"},
        BN_O_LONG(NULL, "--max-body", &body, 16, 1L << 30, "BYTES", "request body limit (default 1048576)"),
        BN_O_INT(NULL, "--max-conns", &conns, 1, 65536, "N", "concurrent connections (default 256)"),
    };
    const bn_opt_spec spec = {
        "bn-serve",
        "usage: bn-serve MODEL.gguf [options]\n"
        "Serve a model over HTTP: OpenAI's /v1/chat/completions and /v1/completions\n"
        "(streaming or not), /v1/models, /health, /metrics, /tokenize, /detokenize, and a\n"
        "chat page at /.\n\n",
        opts, BN_OPT_N(opts), {&o->model_path}, 1, 1,
        "bn-serve runs until SIGTERM or SIGINT, then exits 0.\n"};
    int rc = bn_opt_parse(&spec, argc, argv);
    if (rc >= 0)
        return rc;
    o->kv = (bn_kv_type)kv;
    o->idle_timeout_s = (unsigned)idle;
    o->header_timeout_s = (unsigned)header;
    o->max_conns = (unsigned)conns;
    o->max_body = (size_t)body;
    if (!o->model_path)
        return bn_opt_fail(&spec, "no model given (see --help)");
    if (o->api_key && !*o->api_key)
        return bn_opt_fail(&spec, "--api-key '' is not a non-empty key");
    if (key_file && o->api_key)
        return bn_opt_fail(&spec, "give --api-key or --api-key-file, not both");
    if (key_file) {
        if (read_key_file(key_file, key_buf))
            return 2;
        o->api_key = *key_buf;
    }
    return -1;
}

int main(int argc, char **argv)
{
    bn_srv_opts o;
    bn_srv_opts_default(&o);
    char *key = NULL;
    int rc = parse_args(argc, argv, &o, &key);
    if (rc >= 0) {
        free(key);
        return rc;
    }
    bn_error err;
    bn_error_clear(&err);
    rc = bn_srv_run(&o, &err);
    if (rc)
        fprintf(stderr, "bn-serve: %s\n", err.msg);
    free(key);
    return rc;
}
