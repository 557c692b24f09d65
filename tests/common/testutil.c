/* testutil.c - see testutil.h. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *rot(const char *base, const char *rel)
{
    static char bufs[8][8192];
    static int next;
    char *b = bufs[next++ & 7];
    snprintf(b, sizeof bufs[0], "%s/%s", base, rel);
    return b;
}

static const char *envor(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

const char *tu_root(const char *rel) { return rot(envor("BN_ROOT", "."), rel); }
const char *tu_shared(const char *rel) { return rot(envor("BN_SHARED", "../shared"), rel); }
const char *tu_build(const char *rel) { return rot(envor("BN_BUILD", "build"), rel); }

const char *tu_keep(const char *p)
{
    static char bufs[32][8192];
    static int next;
    char *b = bufs[next++ & 31];
    snprintf(b, sizeof bufs[0], "%s", p);
    return b;
}

const char *tu_tmp(const char *rel)
{
    static char dir[4096];
    if (!dir[0]) {
        const char *t = getenv("BN_TMP");
        if (t && *t) {
            snprintf(dir, sizeof dir, "%s/%ld", t, (long)getpid());
        } else {
            snprintf(dir, sizeof dir, "/tmp/bntk-test-%ld", (long)getpid());
        }
        mkdir(dir, 0755);
    }
    return rot(dir, rel);
}

uint8_t *tu_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) {
        b[n] = 0;
        *len = (size_t)n;
    }
    return b;
}

int tu_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && w == len) ? 0 : -1;
}

int tu_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int tu_run(const char *cmd, char **out)
{
    char full[8192];
    snprintf(full, sizeof full, "(%s) 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p)
        return -1;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    int c;
    while ((c = fgetc(p)) != EOF) {
        if (n + 1 >= cap)
            buf = realloc(buf, cap *= 2);
        buf[n++] = (char)c;
    }
    buf[n] = 0;
    int st = pclose(p);
    if (out)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

uint32_t tu_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

float tu_f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float tu_ref_dot(const float *a, const float *b, int n)
{
    float l[8] = {0};
    int n8 = n - n % 8;
    for (int i = 0; i < n8; i++)
        l[i % 8] = l[i % 8] + a[i] * b[i];
    float s = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
    for (int i = n8; i < n; i++)
        s = s + a[i] * b[i];
    return s;
}
