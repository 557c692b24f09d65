/* output.c - atomic output files and the output set of one run (util.h). */
#include "bn/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- signal-cleanup registry ----------------------------------------------- */

/* Live temp paths for the signal handler: fixed slots of plain char arrays, so
 * the handler touches no allocator. */
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

/* ---- identities -------------------------------------------------------------- */

/* A file is the same file when device and inode agree (after following links,
 * so a symlink or a hard link to an input is caught). An output that does not
 * exist yet is named by its directory's identity and its last component. */
typedef struct {
    dev_t dev;
    ino_t ino;
    int exists;
    int is_chr;   /* a character device: may be named twice (it holds nothing to lose) */
    int opened;   /* outputs: opened by bn_atomic_open_in */
    char *base;   /* !exists: the last path component */
    char *path;   /* as the caller named it, for messages */
} ident;

static char *dup_str(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

/* Fill id for path; 0 ok, -1 out of memory. A path whose directory cannot be
 * stat'ed either keeps exists = 0 and dev = ino = 0 (it matches nothing real). */
static int ident_of(const char *path, ident *id)
{
    memset(id, 0, sizeof *id);
    struct stat st;
    if (stat(path, &st) == 0) {
        id->dev = st.st_dev;
        id->ino = st.st_ino;
        id->exists = 1;
        id->is_chr = S_ISCHR(st.st_mode);
    } else {
        const char *slash = strrchr(path, '/');
        const char *base = slash ? slash + 1 : path;
        char *dir = slash ? malloc((size_t)(slash - path) + 2) : dup_str(".");
        if (!dir)
            return -1;
        if (slash) {
            size_t n = slash == path ? 1 : (size_t)(slash - path);
            memcpy(dir, path, n);
            dir[n] = '\0';
        }
        if (stat(dir, &st) == 0) {
            id->dev = st.st_dev;
            id->ino = st.st_ino;
        }
        free(dir);
        if (!(id->base = dup_str(base)))
            return -1;
    }
    if (!(id->path = dup_str(path))) {
        free(id->base);
        return -1;
    }
    return 0;
}

static int ident_eq(const ident *a, const ident *b)
{
    if (a->exists != b->exists || a->dev != b->dev || a->ino != b->ino)
        return 0;
    return a->exists || (a->base && b->base && !strcmp(a->base, b->base));
}

static void ident_free(ident *id)
{
    free(id->base);
    free(id->path);
}

/* ---- the output set ---------------------------------------------------------- */

struct bn_atomic_file {
    FILE *f;
    char *path;           /* final target (a symlink resolved to what it names) */
    char *tmp;            /* OUT.tmp.XXXXXX beside it; NULL when written in place */
    int slot;             /* index in the signal-cleanup registry, -1 if none */
    bn_outset *set;       /* NULL: committed on its own */
    int ready;            /* in a set: written, synced and closed, awaiting the rename */
    bn_atomic_file *next; /* in the set's list */
};

struct bn_outset {
    ident *in, *out;
    size_t n_in, n_out, cap_in, cap_out;
    bn_atomic_file *files;
};

bn_status bn_outset_new(bn_outset **out, bn_error *err)
{
    *out = calloc(1, sizeof **out);
    return *out ? BN_OK : bn_error_set(err, BN_ENOMEM, "out of memory for the output set");
}

static int push(ident **v, size_t *n, size_t *cap, const ident *id)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        ident *p = realloc(*v, c * sizeof *p);
        if (!p)
            return -1;
        *v = p;
        *cap = c;
    }
    (*v)[(*n)++] = *id;
    return 0;
}

static bn_status add_input_file(bn_outset *s, const char *path, bn_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return BN_OK; /* absent or not a file: its reader refuses it */
    ident id;
    if (ident_of(path, &id) || push(&s->in, &s->n_in, &s->cap_in, &id)) {
        if (id.path)
            ident_free(&id);
        return bn_error_set(err, BN_ENOMEM, "%s: out of memory", path);
    }
    return BN_OK;
}

/* Files a Hugging Face directory's readers may open: configs, tokenizers and
 * weights (single, sharded or indexed). Anything else in the directory (an
 * earlier run's GGUF or report) is not an input and may be replaced. */
static int is_input_name(const char *n)
{
    static const char *const names[] = {"config.json",          "generation_config.json",
                                        "tokenizer.json",       "tokenizer_config.json",
                                        "special_tokens_map.json", "added_tokens.json",
                                        "tokenizer.model"};
    static const char *const suffixes[] = {".safetensors", ".bin", ".pt", ".pth", ".ckpt",
                                           ".index.json"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(n, names[i]))
            return 1;
    size_t len = strlen(n);
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        size_t k = strlen(suffixes[i]);
        if (len >= k && !strcmp(n + len - k, suffixes[i]))
            return 1;
    }
    return 0;
}

static bn_status add_input_dir(bn_outset *s, const char *dir, bn_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return BN_OK; /* its reader says why */
    bn_status st = BN_OK;
    struct dirent *de;
    size_t dl = strlen(dir);
    while (!st && (de = readdir(d))) {
        if (!is_input_name(de->d_name))
            continue;
        size_t n = dl + strlen(de->d_name) + 2;
        char *p = malloc(n);
        if (!p) {
            st = bn_error_set(err, BN_ENOMEM, "%s: out of memory", dir);
            break;
        }
        snprintf(p, n, "%s/%s", dir, de->d_name);
        st = add_input_file(s, p, err);
        free(p);
    }
    closedir(d);
    return st;
}

bn_status bn_outset_input(bn_outset *s, const char *path, bn_error *err)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return add_input_dir(s, path, err);
    return add_input_file(s, path, err);
}

/* Register path as an output (opened = 1 when bn_atomic_open_in asks). A path
 * already registered and not yet opened is that registration. */
static bn_status add_output(bn_outset *s, const char *path, int opening, bn_error *err)
{
    ident id;
    if (ident_of(path, &id))
        return bn_error_set(err, BN_ENOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < s->n_in; i++)
        if (ident_eq(&id, &s->in[i])) {
            bn_error_set(err, BN_EINVAL, "%s: is the input %s; refusing to overwrite an input", path,
                         s->in[i].path);
            ident_free(&id);
            return BN_EINVAL;
        }
    if (!id.is_chr)
        for (size_t i = 0; i < s->n_out; i++)
            if (ident_eq(&id, &s->out[i])) {
                if (opening && !s->out[i].opened) {
                    s->out[i].opened = 1;
                    ident_free(&id);
                    return BN_OK;
                }
                bn_error_set(err, BN_EINVAL, "%s: is also the output %s of this run; give each "
                             "output its own file", path, s->out[i].path);
                ident_free(&id);
                return BN_EINVAL;
            }
    id.opened = opening;
    if (push(&s->out, &s->n_out, &s->cap_out, &id)) {
        ident_free(&id);
        return bn_error_set(err, BN_ENOMEM, "%s: out of memory", path);
    }
    return BN_OK;
}

bn_status bn_outset_output(bn_outset *s, const char *path, bn_error *err)
{
    return add_output(s, path, 0, err);
}

bn_status bn_outset_plan(bn_outset **out, const char *const *inputs, size_t n_in,
                         const char *const *outputs, size_t n_out, bn_error *err)
{
    bn_status st = bn_outset_new(out, err);
    for (size_t i = 0; i < n_in && !st; i++)
        if (inputs[i])
            st = bn_outset_input(*out, inputs[i], err);
    for (size_t i = 0; i < n_out && !st; i++)
        if (outputs[i])
            st = bn_outset_output(*out, outputs[i], err);
    return st;
}

/* ---- atomic files ------------------------------------------------------------- */

static void atomic_free(bn_atomic_file *af)
{
    registry_remove(af->slot);
    free(af->path);
    free(af->tmp);
    free(af);
}

static void unlink_set(bn_outset *s, bn_atomic_file *af)
{
    for (bn_atomic_file **p = s ? &s->files : NULL; p && *p; p = &(*p)->next)
        if (*p == af) {
            *p = af->next;
            return;
        }
}

/* Writable in place: a character device (/dev/null, a terminal) or a FIFO that
 * has a reader. Anything else that is not a regular file is refused, so a
 * rename never replaces a special file. *direct_fd >= 0 when written in place. */
static bn_status open_special(const char *path, const struct stat *st, int *direct_fd, bn_error *err)
{
    *direct_fd = -1;
    if (S_ISDIR(st->st_mode))
        return bn_error_set(err, BN_EINVAL, "%s: is a directory, not an output file", path);
    if (!S_ISCHR(st->st_mode) && !S_ISFIFO(st->st_mode))
        return bn_error_set(err, BN_EINVAL, "%s: not a regular file (%s); refusing to write to it",
                            path, S_ISBLK(st->st_mode) ? "a block device" : "a socket");
    int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        if (e == ENXIO)
            return bn_error_set(err, BN_EINVAL, "%s: a FIFO with no reader; refusing to wait for one",
                                path);
        return bn_error_set(err, BN_EIO, "%s: cannot open for writing: %s", path, strerror(e));
    }
    if (bn_fd_blocking(fd, path, err))
        return BN_EIO;
    *direct_fd = fd;
    return BN_OK;
}

bn_status bn_atomic_open_in(bn_outset *set, const char *path, bn_atomic_file **out, bn_error *err)
{
    *out = NULL;
    bn_status st;
    if (set && (st = add_output(set, path, 1, err)))
        return st;
    bn_atomic_file *af = calloc(1, sizeof *af);
    if (!af)
        return bn_error_set(err, BN_ENOMEM, "%s: out of memory", path);
    af->slot = -1;
    struct stat sb;
    int fd = -1;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        if ((st = open_special(path, &sb, &fd, err))) {
            free(af);
            return st;
        }
        af->path = dup_str(path);
    } else {
        /* A symlink to a file: replace the file it names, not the link. */
        char *real = NULL;
        struct stat lsb;
        if (lstat(path, &lsb) == 0 && S_ISLNK(lsb.st_mode))
            real = realpath(path, NULL);
        af->path = real ? real : dup_str(path);
        size_t n = af->path ? strlen(af->path) + 16 : 0;
        if (af->path && (af->tmp = malloc(n)))
            snprintf(af->tmp, n, "%s.tmp.XXXXXX", af->path);
    }
    if (!af->path || (fd < 0 && !af->tmp)) {
        if (fd >= 0)
            close(fd);
        atomic_free(af);
        return bn_error_set(err, BN_ENOMEM, "%s: out of memory", path);
    }
    if (fd < 0) {
        fd = mkstemp(af->tmp);
        if (fd < 0) {
            int e = errno;
            atomic_free(af);
            return bn_error_set(err, BN_EIO, "%s: cannot create a temporary file beside it: %s",
                                path, strerror(e));
        }
        af->slot = registry_add(af->tmp);
        fchmod(fd, 0644);
    }
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        close(fd);
        if (af->tmp)
            unlink(af->tmp);
        atomic_free(af);
        return bn_error_set(err, BN_EIO, "%s: fdopen failed", path);
    }
    if (set) {
        af->set = set;
        af->next = set->files;
        set->files = af;
    }
    *out = af;
    return BN_OK;
}

bn_status bn_atomic_open(const char *path, bn_atomic_file **out, bn_error *err)
{
    return bn_atomic_open_in(NULL, path, out, err);
}

FILE *bn_atomic_stream(bn_atomic_file *af) { return af->f; }

const char *bn_atomic_temp_path(const bn_atomic_file *af) { return af->tmp ? af->tmp : af->path; }

void bn_atomic_abort(bn_atomic_file *af)
{
    if (!af)
        return;
    if (af->f)
        fclose(af->f);
    if (af->tmp)
        unlink(af->tmp);
    unlink_set(af->set, af);
    atomic_free(af);
}

/* Flush, sync and close; 0 ok, else errno. A device or FIFO cannot be synced
 * (EINVAL, ENOTSUP, EROFS): that is not a failure of the write. */
static int finish_stream(bn_atomic_file *af)
{
    int e = 0;
    if (fflush(af->f) != 0 || ferror(af->f))
        e = errno ? errno : EIO;
    if (!e && fsync(fileno(af->f)) != 0 &&
        (af->tmp || (errno != EINVAL && errno != ENOTSUP && errno != EROFS)))
        e = errno;
    if (fclose(af->f) != 0 && !e)
        e = errno;
    af->f = NULL;
    return e;
}

static bn_status rename_into_place(bn_atomic_file *af, bn_error *err)
{
    if (af->tmp && rename(af->tmp, af->path) != 0) {
        int e = errno;
        unlink(af->tmp);
        return bn_error_set(err, BN_EIO, "%s: cannot rename the temporary file into place: %s",
                            af->path, strerror(e));
    }
    return BN_OK;
}

bn_status bn_atomic_commit(bn_atomic_file *af, bn_error *err)
{
    int e = finish_stream(af);
    if (e) {
        bn_error_set(err, BN_EIO, "%s: write failed: %s", af->path, strerror(e));
        bn_atomic_abort(af);
        return BN_EIO;
    }
    if (af->set) {
        af->ready = 1; /* renamed by bn_outset_commit with the others */
        return BN_OK;
    }
    bn_status st = rename_into_place(af, err);
    atomic_free(af);
    return st;
}

bn_status bn_outset_commit(bn_outset *s, bn_error *err)
{
    for (bn_atomic_file *af = s->files; af; af = af->next)
        if (!af->ready)
            return bn_error_set(err, BN_EINTERNAL, "%s: output not finished before the run's commit",
                                af->path);
    /* Every output is complete on disk; only renames remain, each atomic and in
     * its own directory where the temp file was already created. */
    bn_status st = BN_OK;
    while (s->files) {
        bn_atomic_file *af = s->files;
        s->files = af->next;
        bn_status r = st ? BN_OK : rename_into_place(af, err);
        if (st && af->tmp)
            unlink(af->tmp);
        if (r)
            st = r;
        atomic_free(af);
    }
    return st;
}

void bn_outset_free(bn_outset *s)
{
    if (!s)
        return;
    while (s->files)
        bn_atomic_abort(s->files);
    for (size_t i = 0; i < s->n_in; i++)
        ident_free(&s->in[i]);
    for (size_t i = 0; i < s->n_out; i++)
        ident_free(&s->out[i]);
    free(s->in);
    free(s->out);
    free(s);
}
