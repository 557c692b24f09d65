/* cli.c - see cli.h. */
#include "cli.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bn/tokenizer.h"
#include "bn/util.h"
#include "bn/version.h"

static void on_signal(int sig)
{
    bn_atomic_cleanup_signal();
    static const char msg[] = "\ninterrupted: temporary output removed\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Inputs are memory-mapped: when a file shrinks under us (another process
 * truncates or rewrites it) or its device fails, touching a page past the new
 * end raises SIGBUS. That is bad input, not a crash: say so in one line, remove
 * the temporary output and exit 2. */
static void on_sigbus(int sig)
{
    (void)sig;
    bn_atomic_cleanup_signal();
    static const char msg[] = "\nerror: an input file was truncated or could not be read while "
                              "mapped (SIGBUS); temporary output removed\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(2);
}

void bn_cli_install_signal_cleanup(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_sigbus;
    sigaction(SIGBUS, &sa, NULL);
    /* Past `ulimit -f` a write fails with EFBIG instead of killing us, so the
     * writer reports it and removes its temporary file. */
    signal(SIGXFSZ, SIG_IGN);
}

int bn_cli_parse_int(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int bn_cli_parse_double(const char *s, double *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

const char *bn_cli_command_line(int argc, char **argv, char *buf, size_t cap)
{
    size_t at = 0;
    if (!cap)
        return buf;
    buf[0] = '\0';
    for (int i = 0; i < argc && at + 1 < cap; i++) {
        const char *a = argv[i];
        int plain = *a != '\0';
        for (const char *c = a; *c && plain; c++)
            plain = strchr("-_./=:,+@%0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", *c) != NULL;
        if (i)
            buf[at++] = ' ';
        if (!plain && at + 1 < cap)
            buf[at++] = '\'';
        for (const char *c = (i == 0 && strrchr(a, '/')) ? strrchr(a, '/') + 1 : a; *c && at + 1 < cap; c++) {
            if (*c == '\'' && !plain) { /* 'it'\''s' */
                if (at + 5 >= cap)
                    break;
                memcpy(buf + at, "'\\''", 4);
                at += 4;
            } else {
                buf[at++] = (unsigned char)*c < 0x20 ? '?' : *c;
            }
        }
        if (!plain && at + 1 < cap)
            buf[at++] = '\'';
        buf[at] = '\0';
    }
    if (at + 1 >= cap && cap > 4)
        memcpy(buf + cap - 4, "...", 4);
    return buf;
}

double bn_cli_peak_rss_mb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_maxrss * 1024.0 / 1e6; /* Linux reports KiB */
}

void bn_cli_print_version(const char *tool)
{
    printf("%s (bntk) %s\n", tool, BN_VERSION);
    if (*bn_version_commit())
        printf("version %s\n", bn_version());
}

/* The path as valid UTF-8 (stray bytes become U+FFFD), so the document stays
 * valid JSON. */
static cJSON *json_path(const char *path)
{
    char *u = bn_tok_utf8_copy(path, strlen(path), NULL);
    if (!u)
        return NULL;
    cJSON *j = cJSON_CreateString(u);
    free(u);
    return j;
}

cJSON *bn_cli_json_doc(const char *tool, int schema, const char *input)
{
    cJSON *doc = cJSON_CreateObject(), *in = json_path(input ? input : "");
    if (!doc || !in || !cJSON_AddStringToObject(doc, "tool", tool) ||
        !cJSON_AddStringToObject(doc, "version", bn_version()) ||
        !cJSON_AddNumberToObject(doc, "schema", schema) || !cJSON_AddItemToObject(doc, "input", in)) {
        if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(doc, "input")))
            cJSON_Delete(in);
        cJSON_Delete(doc);
        return NULL;
    }
    return doc;
}

int bn_cli_json_adopt(cJSON *doc, cJSON *body, const char *const *renames)
{
    int rc = 0;
    while (body && body->child) {
        cJSON *it = cJSON_DetachItemViaPointer(body, body->child);
        const char *key = it->string;
        for (const char *const *r = renames; r && r[0]; r += 2)
            if (strcmp(key, r[0]) == 0) {
                key = r[1];
                break;
            }
        if (!key) {
            cJSON_Delete(it);
        } else if (!cJSON_AddItemToObject(doc, key, it)) {
            cJSON_Delete(it);
            rc = -1;
        }
    }
    cJSON_Delete(body);
    return rc;
}
