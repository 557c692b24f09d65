/* util.c - checked arithmetic, input files (regular files only), reading and mapping. */
#include "bn/util.h"

#include <errno.h>
#include <fcntl.h>
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

/* size_t is at most 64 bits wide: the u64 result, then the size_t range. */
int bn_mul_ovf_size(size_t a, size_t b, size_t *out)
{
    uint64_t r;
    if (bn_mul_ovf_u64(a, b, &r) || r > SIZE_MAX)
        return 1;
    *out = (size_t)r;
    return 0;
}

int bn_add_ovf_size(size_t a, size_t b, size_t *out)
{
    uint64_t r;
    if (bn_add_ovf_u64(a, b, &r) || r > SIZE_MAX)
        return 1;
    *out = (size_t)r;
    return 0;
}

double bn_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* What a non-regular file is, for "not a regular file (a FIFO)". */
static const char *file_kind(mode_t m)
{
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    if (S_ISSOCK(m))
        return "a socket";
    return "not a plain file";
}

bn_status bn_fd_blocking(int fd, const char *path, bn_error *err)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        return bn_error_set(err, BN_EIO, "%s: fcntl failed: %s", path, strerror(e));
    }
    return BN_OK;
}

bn_status bn_input_open(const char *path, int *fd_out, bn_error *err)
{
    *fd_out = -1;
    /* O_NONBLOCK: opening a FIFO with no writer must not wait for one; a
     * regular file ignores the flag, and it is cleared before anything reads. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        /* a socket cannot be opened at all: say what it is */
        struct stat sst;
        if (e == ENXIO && stat(path, &sst) == 0 && !S_ISREG(sst.st_mode))
            return bn_error_set(err, BN_EINVAL, "%s: not a regular file (%s)", path,
                                file_kind(sst.st_mode));
        return bn_error_set(err, e == ENOENT ? BN_ENOTFOUND : BN_EIO, "%s: cannot open: %s", path,
                            strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return bn_error_set(err, BN_EIO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return bn_error_set(err, BN_EINVAL, "%s: not a regular file (%s)", path,
                            file_kind(st.st_mode));
    }
    if (bn_fd_blocking(fd, path, err))
        return BN_EIO;
    *fd_out = fd;
    return BN_OK;
}

bn_status bn_input_check(const char *path, bn_error *err)
{
    int fd;
    bn_status st = bn_input_open(path, &fd, err);
    if (!st)
        close(fd);
    return st;
}

/* bn_input_open and fstat: the size of the regular file the readers below take whole. */
static bn_status open_stat(const char *path, int *fd, struct stat *st, bn_error *err)
{
    bn_status s = bn_input_open(path, fd, err);
    if (s)
        return s;
    if (fstat(*fd, st) != 0) {
        int e = errno;
        close(*fd);
        return bn_error_set(err, BN_EIO, "%s: cannot stat: %s", path, strerror(e));
    }
    return BN_OK;
}

bn_status bn_read_file(const char *path, size_t max_bytes, char **out, size_t *len, bn_error *err)
{
    *out = NULL;
    *len = 0;
    int fd;
    struct stat st;
    bn_status s = open_stat(path, &fd, &st, err);
    if (s)
        return s;
    if ((uint64_t)st.st_size > max_bytes) {
        close(fd);
        return bn_error_set(err, BN_ELIMIT, "%s: %lld bytes is larger than the limit of %zu bytes",
                            path, (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        return bn_error_set(err, BN_ENOMEM, "%s: cannot allocate %zu bytes", path, n + 1);
    }
    size_t got = 0;
    int e = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            e = r < 0 ? errno : 0;
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    if (got != n) {
        free(buf);
        return bn_error_set(err, BN_EIO, "%s: read error after %zu of %zu bytes%s%s", path, got, n,
                            e ? ": " : " (the file shrank)", e ? strerror(e) : "");
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
    int fd;
    struct stat st;
    bn_status s = open_stat(path, &fd, &st, err);
    if (s)
        return s;
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
