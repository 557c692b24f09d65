/* bn-serve - an OpenAI-compatible HTTP server for a BitNet / Llama GGUF model,
 * with continuous batching and a built-in chat page (src/serve/serve.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn/util.h"
#include "common/cli.h"
#include "serve/serve.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bn-serve MODEL.gguf [options]\n"
            "Serve a model over HTTP: OpenAI's /v1/chat/completions and /v1/completions\n"
            "(streaming or not), /v1/models, /health, /metrics, /tokenize, /detokenize, and a\n"
            "chat page at /.\n\n"
            "  -m, --model PATH       the model (instead of the first argument)\n"
            "  --host ADDR            listen address (default 127.0.0.1; numeric)\n"
            "  --port N               port (default 8080; 0: any free port)\n"
            "  --port-file PATH       write the bound port to PATH once listening\n"
            "  -c, --ctx-size N       KV cache positions in all, split across the slots as\n"
            "                         llama-server's -c (default: the model's context length)\n"
            "  -np, --parallel N      slots: requests evaluated together (default 4)\n"
            "  --queue N              requests waiting for a slot; beyond that 503 (default 64)\n"
            "  --prefill-chunk N      prompt tokens per batched step (default 128)\n"
            "  -t, --threads N        threads (default: all cores)\n"
            "  --kernel NAME          ternary kernel (default: $BN_KERNEL or the fastest)\n"
            "  --kv f32|f16           KV cache type (default f32)\n"
            "  --chat-template NAME   bitnet, llama3, llama2, chatml, phi3, falcon3, zephyr,\n"
            "                         gemma (default: the model's)\n"
            "  --alias NAME           model id in responses (default: the file name)\n"
            "  --api-key KEY          require 'Authorization: Bearer KEY' (all but /health, /)\n"
            "  --api-key-file PATH    the key from a file (its first line)\n"
            "  --timeout S            wall time of one request, queue included (default 600)\n"
            "  --idle-timeout S       close a connection silent this long (default 30)\n"
            "  --header-timeout S     request headers must arrive within S (default 10)\n"
            "  --drain S              on SIGTERM/SIGINT, time for in-flight requests (default 30)\n"
            "  --max-body BYTES       request body limit (default 1048576)\n"
            "  --max-conns N          concurrent connections (default 256)\n"
            "  -h, --help, --version\n"
            "Exit status: 0 after SIGTERM/SIGINT, 2 bad usage or input, 3 system failure.\n");
}

static int bad(const char *opt, const char *v, const char *what)
{
    fprintf(stderr, "bn-serve: %s '%s' is not %s\n", opt, v, what);
    return -1;
}

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

/* 0 run, 1 exit 0 (help/version), -1 usage error. */
static int parse_args(int argc, char **argv, bn_srv_opts *o, char **key_buf)
{
    const char *key_file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 1;
        }
        if (!strcmp(a, "--version")) {
            bn_cli_print_version("bn-serve");
            return 1;
        }
        if (a[0] != '-') {
            if (o->model_path) {
                fprintf(stderr, "bn-serve: more than one model: '%s' and '%s'\n", o->model_path, a);
                return -1;
            }
            o->model_path = a;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bn-serve: %s needs a value (see --help)\n", a);
            return -1;
        }
        const char *v = argv[++i];
        long n;
        double d;
        if (!strcmp(a, "-m") || !strcmp(a, "--model"))
            o->model_path = v;
        else if (!strcmp(a, "--host"))
            o->host = v;
        else if (!strcmp(a, "--port")) {
            if (bn_cli_parse_int(v, 0, 65535, &n))
                return bad(a, v, "a port in [0, 65535]");
            o->port = (int)n;
        } else if (!strcmp(a, "--port-file"))
            o->port_file = v;
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            if (bn_cli_parse_int(v, 8, 1 << 24, &n))
                return bad(a, v, "an integer in [8, 16777216]");
            o->n_ctx = (int)n;
        } else if (!strcmp(a, "-np") || !strcmp(a, "--parallel")) {
            if (bn_cli_parse_int(v, 1, 256, &n))
                return bad(a, v, "an integer in [1, 256]");
            o->parallel = (int)n;
        } else if (!strcmp(a, "--queue")) {
            if (bn_cli_parse_int(v, 0, 100000, &n))
                return bad(a, v, "an integer in [0, 100000]");
            o->queue = (int)n;
        } else if (!strcmp(a, "--prefill-chunk")) {
            if (bn_cli_parse_int(v, 1, 65536, &n))
                return bad(a, v, "an integer in [1, 65536]");
            o->prefill_chunk = (int)n;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (bn_cli_parse_int(v, 1, 1024, &n))
                return bad(a, v, "an integer in [1, 1024]");
            o->mopts.n_threads = (int)n;
        } else if (!strcmp(a, "--kernel"))
            o->mopts.kernel = v;
        else if (!strcmp(a, "--kv")) {
            if (strcmp(v, "f32") != 0 && strcmp(v, "f16") != 0)
                return bad(a, v, "f32 or f16");
            o->kv = strcmp(v, "f16") ? BN_KV_F32 : BN_KV_F16;
        } else if (!strcmp(a, "--chat-template")) {
            bn_chat_tpl t;
            bn_error err;
            bn_error_clear(&err);
            if (bn_chat_tpl_parse(v, &t, &err)) {
                fprintf(stderr, "bn-serve: --chat-template: %s\n", err.msg);
                return -1;
            }
            o->chat_template = v;
        } else if (!strcmp(a, "--alias"))
            o->alias = v;
        else if (!strcmp(a, "--api-key")) {
            if (!*v)
                return bad(a, v, "a non-empty key");
            o->api_key = v;
        } else if (!strcmp(a, "--api-key-file"))
            key_file = v;
        else if (!strcmp(a, "--timeout") || !strcmp(a, "--drain")) {
            if (bn_cli_parse_double(v, &d) || d <= 0 || d > 1e7)
                return bad(a, v, "a number of seconds in (0, 1e7]");
            *(!strcmp(a, "--timeout") ? &o->timeout_s : &o->drain_s) = d;
        } else if (!strcmp(a, "--idle-timeout") || !strcmp(a, "--header-timeout")) {
            if (bn_cli_parse_int(v, 1, 86400, &n))
                return bad(a, v, "a whole number of seconds in [1, 86400]");
            *(!strcmp(a, "--idle-timeout") ? &o->idle_timeout_s : &o->header_timeout_s) =
                (unsigned)n;
        } else if (!strcmp(a, "--max-body")) {
            if (bn_cli_parse_int(v, 16, 1L << 30, &n))
                return bad(a, v, "a byte count in [16, 1073741824]");
            o->max_body = (size_t)n;
        } else if (!strcmp(a, "--max-conns")) {
            if (bn_cli_parse_int(v, 1, 65536, &n))
                return bad(a, v, "an integer in [1, 65536]");
            o->max_conns = (unsigned)n;
        } else {
            fprintf(stderr, "bn-serve: unknown option '%s' (see --help)\n", a);
            return -1;
        }
    }
    if (!o->model_path) {
        fprintf(stderr, "bn-serve: no model given (see --help)\n");
        return -1;
    }
    if (key_file && o->api_key) {
        fprintf(stderr, "bn-serve: give --api-key or --api-key-file, not both\n");
        return -1;
    }
    if (key_file) {
        if (read_key_file(key_file, key_buf))
            return -1;
        o->api_key = *key_buf;
    }
    return 0;
}

int main(int argc, char **argv)
{
    bn_srv_opts o;
    bn_srv_opts_default(&o);
    char *key = NULL;
    int rc = parse_args(argc, argv, &o, &key);
    if (rc) {
        free(key);
        return rc > 0 ? 0 : 2;
    }
    bn_error err;
    bn_error_clear(&err);
    rc = bn_srv_run(&o, &err);
    if (rc)
        fprintf(stderr, "bn-serve: %s\n", err.msg);
    free(key);
    return rc;
}
