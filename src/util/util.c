/* util.c - checked arithmetic, file reading and mapping, atomic output files. */
#include "bn/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int bn_mul_ovf_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a != 0 && b > UINT64_MAX / a)
        return 1;
    *out = a * b;
    return 0;
}

int bn_add_ovf_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    if (b > UINT64_MAX - a)
        return 1;
    *out = a + b;
    return 0;
}

int bn_mul_ovf_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 1;
    *out = a * b;
    return 0;
}

int bn_add_ovf_size(size_t a, size_t b, size_t *out)
{
    if (b > SIZE_MAX - a)
        return 1;
    *out = a + b;
    return 0;
}

double bn_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

bn_status bn_read_file(const char *path, size_t max_bytes, char **out, size_t *len, bn_error *err)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return bn_error_set(err, errno == ENOENT ? BN_ENOTFOUND : BN_EIO, "%s: cannot open: %s",
                            path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return bn_error_set(err, BN_EINVAL, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > max_bytes) {
        fclose(f);
        return bn_error_set(err, BN_ELIMIT, "%s: %lld bytes is larger than the limit of %zu bytes",
                            path, (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return bn_error_set(err, BN_ENOMEM, "%s: cannot allocate %zu bytes", path, n + 1);
    }
    size_t got = n ? fread(buf, 1, n, f) : 0;
    int rerr = ferror(f);
    fclose(f);
    if (got != n || rerr) {
        free(buf);
        return bn_error_set(err, BN_EIO, "%s: read error after %zu of %zu bytes", path, got, n);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return BN_OK;
}

bn_status bn_map_file(const char *path, bn_mapped_file *mf, bn_error *err)
{
    static const uint8_t empty[1];
    memset(mf, 0, sizeof *mf);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return bn_error_set(err, errno == ENOENT ? BN_ENOTFOUND : BN_EIO, "%s: cannot open: %s",
                            path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return bn_error_set(err, BN_EINVAL, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        mf->data = empty;
        return BN_OK;
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return bn_error_set(err, BN_ELIMIT, "%s: too large to map", path);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return bn_error_set(err, BN_EIO, "%s: mmap failed: %s", path, strerror(e));
    mf->data = p;
    mf->size = (size_t)st.st_size;
    mf->is_mmap = 1;
    return BN_OK;
}

void bn_unmap_file(bn_mapped_file *mf)
{
    if (mf && mf->is_mmap)
        munmap((void *)mf->data, mf->size);
    if (mf)
        memset(mf, 0, sizeof *mf);
}

/* ---- atomic output files ---------------------------------------------------- */

struct bn_atomic_file {
    FILE *f;
    char *path; /* final target */
    char *tmp;  /* OUT.tmp.XXXXXX */
    int slot;   /* index in the signal-cleanup registry, -1 if none */
};

/* Registry of live temp paths for the signal handler: fixed slots of plain
 * char arrays, so the handler touches no allocator. */
#define BN_ATOMIC_SLOTS 16
#define BN_ATOMIC_PATH_MAX 4096
static char g_tmp_paths[BN_ATOMIC_SLOTS][BN_ATOMIC_PATH_MAX];
static volatile sig_atomic_t g_tmp_used[BN_ATOMIC_SLOTS];

static int registry_add(const char *tmp)
{
    size_t n = strlen(tmp);
    if (n >= BN_ATOMIC_PATH_MAX)
        return -1;
    for (int i = 0; i < BN_ATOMIC_SLOTS; i++) {
        if (!g_tmp_used[i]) {
            memcpy(g_tmp_paths[i], tmp, n + 1);
            g_tmp_used[i] = 1;
            return i;
        }
    }
    return -1;
}

static void registry_remove(int slot)
{
    if (slot >= 0)
        g_tmp_used[slot] = 0;
}

void bn_atomic_cleanup_signal(void)
{
    for (int i = 0; i < BN_ATOMIC_SLOTS; i++)
        if (g_tmp_used[i]) {
            unlink(g_tmp_paths[i]);
            g_tmp_used[i] = 0;
        }
}

bn_status bn_atomic_open(const char *path, bn_atomic_file **out, bn_error *err)
{
    *out = NULL;
    bn_atomic_file *af = calloc(1, sizeof *af);
    size_t n = strlen(path);
    if (!af)
        return bn_error_set(err, BN_ENOMEM, "%s: out of memory", path);
    af->slot = -1;
    af->path = malloc(n + 1);
    af->tmp = malloc(n + 16);
    if (!af->path || !af->tmp) {
        free(af->path);
        free(af->tmp);
        free(af);
        return bn_error_set(err, BN_ENOMEM, "%s: out of memory", path);
    }
    memcpy(af->path, path, n + 1);
    snprintf(af->tmp, n + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(af->tmp);
    if (fd < 0) {
        int e = errno;
        free(af->path);
        free(af->tmp);
        free(af);
        return bn_error_set(err, BN_EIO, "%s: cannot create a temporary file beside it: %s", path,
                            strerror(e));
    }
    af->slot = registry_add(af->tmp);
    fchmod(fd, 0644);
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        close(fd);
        unlink(af->tmp);
        registry_remove(af->slot);
        free(af->path);
        free(af->tmp);
        free(af);
        return bn_error_set(err, BN_EIO, "%s: fdopen failed", path);
    }
    *out = af;
    return BN_OK;
}

FILE *bn_atomic_stream(bn_atomic_file *af) { return af->f; }

const char *bn_atomic_temp_path(const bn_atomic_file *af) { return af->tmp; }

static void atomic_free(bn_atomic_file *af)
{
    registry_remove(af->slot);
    free(af->path);
    free(af->tmp);
    free(af);
}

void bn_atomic_abort(bn_atomic_file *af)
{
    if (!af)
        return;
    if (af->f)
        fclose(af->f);
    unlink(af->tmp);
    atomic_free(af);
}

bn_status bn_atomic_commit(bn_atomic_file *af, bn_error *err)
{
    int failed = fflush(af->f) != 0 || ferror(af->f);
    int e = errno;
    if (!failed && fsync(fileno(af->f)) != 0) {
        failed = 1;
        e = errno;
    }
    if (fclose(af->f) != 0 && !failed) {
        failed = 1;
        e = errno;
    }
    af->f = NULL;
    if (failed) {
        bn_error_set(err, BN_EIO, "%s: write failed: %s", af->path, strerror(e));
        unlink(af->tmp);
        atomic_free(af);
        return BN_EIO;
    }
    if (rename(af->tmp, af->path) != 0) {
        e = errno;
        bn_error_set(err, BN_EIO, "%s: cannot rename the temporary file into place: %s", af->path,
                     strerror(e));
        unlink(af->tmp);
        atomic_free(af);
        return BN_EIO;
    }
    atomic_free(af);
    return BN_OK;
}
