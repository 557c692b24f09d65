/* common.c - see common.h. */
#include "common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

static char scratch_dir[256];

static void scratch_remove(void)
{
    DIR *d = opendir(scratch_dir);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            snprintf(p, sizeof p, "%s/%s", scratch_dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(scratch_dir);
}

const char *fz_scratch(const char *name)
{
    static char path[512];
    if (!scratch_dir[0]) {
        struct stat st;
        const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
        snprintf(scratch_dir, sizeof scratch_dir, "%s/bn-fuzz.%ld", base, (long)getpid());
        if (mkdir(scratch_dir, 0700) != 0 && errno != EEXIST)
            fz_fail("cannot create %s: %s", scratch_dir, strerror(errno));
        atexit(scratch_remove);
    }
    if (!name || !name[0]) return scratch_dir;
    snprintf(path, sizeof path, "%s/%s", scratch_dir, name);
    return path;
}

void fz_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) fz_fail("cannot create %s: %s", path, strerror(errno));
    int bad = n && fwrite(data, 1, n, f) != n;
    bad |= fclose(f) != 0;
    if (bad)
        fz_fail("cannot write %s: %s", path, strerror(errno));
}

void fz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

void fz_check(bn_status st, const bn_error *err, const char *what)
{
    if (st == BN_OK) return;
    if (st == BN_EINTERNAL) fz_fail("%s: internal error: %s", what, err->msg);
    if (err->code != st)
        fz_fail("%s: returned %s but the error says %s", what, bn_status_name(st),
                bn_status_name(err->code));
    size_t len = strnlen(err->msg, sizeof err->msg);
    if (len == 0 || len == sizeof err->msg) fz_fail("%s: empty or unterminated message", what);
    if (memchr(err->msg, '\n', len)) fz_fail("%s: message of several lines: %s", what, err->msg);
}

unsigned fz_touch(const void *p, size_t n)
{
    const volatile unsigned char *b = p;
    unsigned s = 0;
    for (size_t i = 0; i < n; i++) s = s * 31u + b[i];
    return s;
}
