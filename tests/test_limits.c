/*
 * test_limits.c - resource limits and failure without loss, below the tools.
 *
 * Limits: inputs that claim absurd sizes (a GGUF with 2^32 KVs or 2^60
 * tensors, arrays and strings longer than the file) are refused with
 * BN_EINVAL or BN_ELIMIT and a message that names the claimed count and the
 * bound it broke, before anything of that size is allocated. Under ASan an
 * attempted allocation of that size would abort the test
 * (allocation-size-too-big), so passing there is the "before allocating" proof.
 *
 * Failure without loss (the GGUF writer on bn_atomic_*): the output filesystem
 * full (RLIMIT_FSIZE with SIGXFSZ ignored, so writes fail with EFBIG as they
 * would with ENOSPC), the output directory not writable, SIGTERM / SIGINT in
 * the middle of writing tensor data, and read errors on the input. Each must
 * fail with a message saying what happened, leave no temporary file behind
 * and leave an existing output byte for byte as it was. Each case that
 * changes process state (rlimits, credentials, signal dispositions) runs in a
 * child of its own, so the cases hold whether or not Check forks.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zip.h>

#include "bn/checkpoint.h"
#include "bn/error.h"
#include "bn/gguf.h"
#include "bn/tokenizer_export.h"
#include "bn/util.h"
#include "testutil.h"

/* ---- helpers --------------------------------------------------------------- */

/* Little-endian GGUF header: magic, version 3, n_tensors, n_kv. */
static size_t gguf_header(uint8_t *b, uint64_t n_tensors, uint64_t n_kv)
{
    memcpy(b, "GGUF", 4);
    b[4] = 3;
    b[5] = b[6] = b[7] = 0;
    for (int i = 0; i < 8; i++) {
        b[8 + i] = (uint8_t)(n_tensors >> (8 * i));
        b[16 + i] = (uint8_t)(n_kv >> (8 * i));
    }
    return 24;
}

static void put_u64(uint8_t *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

static void put_u32(uint8_t *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

/* Open an in-memory GGUF that must be refused with st; its message must
 * contain every fragment given (NULL-terminated list). */
static void expect_refused(const uint8_t *b, size_t n, bn_status st, const char *const *frags)
{
    bn_gguf *g = NULL;
    bn_error e;
    bn_error_clear(&e);
    ck_assert_int_eq(bn_gguf_open_mem(b, n, "limits.gguf", &g, &e), st);
    ck_assert_ptr_null(g);
    ck_assert_ptr_null(strchr(e.msg, '\n'));
    ck_assert_ptr_nonnull(strstr(e.msg, "limits.gguf"));
    for (; *frags; frags++)
        ck_assert_msg(strstr(e.msg, *frags), "message '%s' lacks '%s'", e.msg, *frags);
}

static int count_temps(const char *dir, const char *base)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    size_t bl = strlen(base);
    struct dirent *de;
    while ((de = readdir(d)))
        if (strncmp(de->d_name, base, bl) == 0 && strncmp(de->d_name + bl, ".tmp.", 5) == 0)
            n++;
    closedir(d);
    return n;
}

/* A fresh directory under the scratch dir holding OUT = "out.gguf" with the
 * bytes "precious old output" in it. Returns the directory. */
static const char *setup_existing(const char *name, char *out, size_t cap)
{
    const char *dir = tu_tmp(name);
    mkdir(dir, 0755);
    snprintf(out, cap, "%s/out.gguf", dir);
    ck_assert_int_eq(tu_write(out, "precious old output", 19), 0);
    return dir;
}

static void assert_untouched(const char *dir, const char *out)
{
    size_t n = 0;
    uint8_t *b = tu_read(out, &n);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(n, 19);
    ck_assert_int_eq(memcmp(b, "precious old output", 19), 0);
    free(b);
    ck_assert_int_eq(count_temps(dir, "out.gguf"), 0);
}

/* Write a GGUF of one F32 tensor of n_el elements to path, chunk by chunk,
 * calling hook(i) before chunk i. Returns the first failing status (the
 * writer's message in *e) or BN_OK after finish. */
typedef void (*chunk_hook)(size_t i);
static bn_status write_model(const char *path, int64_t n_el, chunk_hook hook, bn_error *e)
{
    static float chunk[4096];
    for (size_t i = 0; i < 4096; i++)
        chunk[i] = (float)i * 0.25f;
    bn_gguf_writer *w = NULL;
    bn_status st = bn_gguf_writer_open(path, 0, &w, e);
    if (st)
        return st;
    int64_t ne[1] = {n_el};
    if ((st = bn_gguf_set_str(w, "general.architecture", "llama", e)) ||
        (st = bn_gguf_add_tensor(w, "token_embd.weight", 1, ne, BN_TYPE_F32, e))) {
        bn_gguf_writer_abort(w);
        return st;
    }
    for (size_t i = 0; (int64_t)(i * 4096) < n_el; i++) {
        if (hook)
            hook(i);
        size_t k = (size_t)(n_el - (int64_t)(i * 4096));
        if (k > 4096)
            k = 4096;
        if ((st = bn_gguf_writer_write(w, chunk, k * sizeof(float), e))) {
            bn_gguf_writer_abort(w);
            return st;
        }
    }
    return bn_gguf_writer_finish(w, e);
}

/* Run fn in a child process; returns its wait status. The child reports a
 * failed expectation with a line on stderr and exit status 1. */
static int in_child(void (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        fn();
        _exit(0);
    }
    int ws = 0;
    ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
    return ws;
}

#define CHILD_EXPECT(cond, ...)                                                                    \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "child: " __VA_ARGS__);                                                \
            fputc('\n', stderr);                                                                   \
            _exit(1);                                                                              \
        }                                                                                          \
    } while (0)

/* ---- limits: GGUF counts and lengths --------------------------------------- */

START_TEST(test_gguf_2p32_kvs)
{
    uint8_t b[64] = {0};
    size_t n = gguf_header(b, 0, (uint64_t)1 << 32);
    static const char *const f[] = {"KV count 4294967296", "cannot fit", NULL};
    expect_refused(b, n + 16, BN_EINVAL, f);
}
END_TEST

START_TEST(test_gguf_2p60_tensors)
{
    uint8_t b[64] = {0};
    size_t n = gguf_header(b, (uint64_t)1 << 60, 0);
    static const char *const f[] = {"tensor count 1152921504606846976", "cannot fit", NULL};
    expect_refused(b, n + 16, BN_EINVAL, f);
}
END_TEST

/* One KV "k" of value type vt; for arrays elem_type follows. Then `count`
 * (array length or string length) as u64, and 8 spare bytes. */
static void expect_kv_count_refused(uint32_t vt, uint32_t elem_type, uint64_t count,
                                    const char *count_text)
{
    uint8_t b[128] = {0};
    size_t n = gguf_header(b, 0, 1);
    put_u64(b + n, 1), n += 8;
    b[n++] = 'k';
    put_u32(b + n, vt), n += 4;
    if (vt == BN_GGUF_ARRAY)
        put_u32(b + n, elem_type), n += 4;
    put_u64(b + n, count), n += 8;
    const char *const f[] = {count_text, NULL};
    expect_refused(b, n + 8, BN_EINVAL, f);
}

/* An array of 2^61 u64 (2^64 bytes, which also overflows) and a string of
 * 2^63 bytes. */
START_TEST(test_gguf_array_and_string_lengths)
{
    expect_kv_count_refused(BN_GGUF_ARRAY, BN_GGUF_U64, (uint64_t)1 << 61, "2305843009213693952");
    expect_kv_count_refused(BN_GGUF_STRING, 0, (uint64_t)1 << 63, "9223372036854775808");
}
END_TEST

/* A tensor claiming 2^40 x 2^40 F32 elements: more than INT64_MAX bytes. */
START_TEST(test_gguf_tensor_2p80_elements)
{
    uint8_t b[256] = {0};
    size_t n = gguf_header(b, 1, 0);
    put_u64(b + n, 1), n += 8;
    b[n++] = 't';
    put_u32(b + n, 2), n += 4;
    put_u64(b + n, (uint64_t)1 << 40), n += 8;
    put_u64(b + n, (uint64_t)1 << 40), n += 8;
    put_u32(b + n, BN_TYPE_F32), n += 4;
    put_u64(b + n, 0), n += 8;
    bn_gguf *g = NULL;
    bn_error e;
    ck_assert_int_eq(bn_gguf_open_mem(b, n + 64, "limits.gguf", &g, &e), BN_EINVAL);
    ck_assert_ptr_null(g);
    ck_assert_ptr_nonnull(strstr(e.msg, "tensor 0 't'"));
}
END_TEST

/* bn_read_file() with a cap: a file one byte over is refused by size, with
 * the cap in the message, not read. */
START_TEST(test_read_file_cap_named)
{
    const char *p = tu_tmp("cap.txt");
    ck_assert_int_eq(tu_write(p, "0123456789abcdef", 16), 0);
    char *buf = NULL;
    size_t len = 0;
    bn_error e;
    ck_assert_int_eq(bn_read_file(p, 15, &buf, &len, &e), BN_ELIMIT);
    ck_assert_ptr_null(buf);
    ck_assert_ptr_nonnull(strstr(e.msg, "15"));
    ck_assert_ptr_nonnull(strstr(e.msg, "cap.txt"));
}
END_TEST

/* Names quoted from input files cannot break the one-line contract: control
 * bytes come out escaped, in bn_error_set and bn_error_prefix alike. */
START_TEST(test_messages_stay_one_line)
{
    bn_error e;
    bn_error_set(&e, BN_EINVAL, "tensor '%s': bad", "a\nb\r\x1b[2J\x7f");
    ck_assert_str_eq(e.msg, "tensor 'a\\nb\\r\\x1b[2J\\x7f': bad");
    bn_error_prefix(&e, "%s", "evil\tfile");
    ck_assert_str_eq(e.msg, "evil\\tfile: tensor 'a\\nb\\r\\x1b[2J\\x7f': bad");
    char big[2 * BN_ERROR_MSG_MAX];
    memset(big, '\n', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    bn_error_set(&e, BN_EINVAL, "%s", big);
    ck_assert_ptr_null(strchr(e.msg, '\n'));
    ck_assert_uint_eq(strlen(e.msg), BN_ERROR_MSG_MAX - 1 - (BN_ERROR_MSG_MAX - 1) % 2);
}
END_TEST

/* ---- limits: checkpoints ---------------------------------------------------- */

static void write_safetensors(const char *path, const char *header)
{
    size_t hl = strlen(header);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    uint8_t len[8];
    put_u64(len, hl);
    ck_assert_uint_eq(fwrite(len, 1, 8, f), 8);
    ck_assert_uint_eq(fwrite(header, 1, hl, f), hl);
    static const uint8_t data[64];
    ck_assert_uint_eq(fwrite(data, 1, sizeof data, f), sizeof data);
    ck_assert_int_eq(fclose(f), 0);
}

static void expect_ckpt_refused(const char *path, const char *const *frags)
{
    bn_ckpt *ck = NULL;
    bn_error e;
    bn_error_clear(&e);
    bn_status st = bn_ckpt_open(path, &ck, &e);
    ck_assert_msg(st == BN_EINVAL || st == BN_ELIMIT, "status %s: %s", bn_status_name(st), e.msg);
    ck_assert_ptr_null(ck);
    ck_assert_ptr_null(strchr(e.msg, '\n'));
    for (; *frags; frags++)
        ck_assert_msg(strstr(e.msg, *frags), "message '%s' lacks '%s'", e.msg, *frags);
}

/* A safetensors header claiming a 2^40-element F32 tensor (4 TiB) over a file
 * of 64 data bytes: refused from the header alone. */
START_TEST(test_safetensors_2p40_elements)
{
    const char *p = tu_tmp("huge.safetensors");
    write_safetensors(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1048576,1048576],"
                         "\"data_offsets\":[0,4398046511104]}}");
    static const char *const f[] = {"huge.safetensors", "4398046511104", "64", NULL};
    expect_ckpt_refused(p, f);
    /* Shape and offsets that disagree are refused too, even when small. */
    write_safetensors(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1048576,1048576],"
                         "\"data_offsets\":[0,64]}}");
    static const char *const f2[] = {"huge.safetensors", "'w'", NULL};
    expect_ckpt_refused(p, f2);
}
END_TEST

/* data.pkl of a torch.save zip holding `pkl`, with the records torch writes. */
static const char *write_torch_zip(const char *name, const uint8_t *pkl, size_t n)
{
    const char *path = tu_tmp(name);
    int zerr = 0;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    ck_assert_ptr_nonnull(z);
    static const struct {
        const char *name, *data;
    } rec[] = {{"archive/version", "3\n"}, {"archive/byteorder", "little"}};
    for (size_t i = 0; i < 2; i++) {
        zip_source_t *src = zip_source_buffer(z, rec[i].data, strlen(rec[i].data), 0);
        ck_assert_int_ge(zip_file_add(z, rec[i].name, src, ZIP_FL_OVERWRITE), 0);
    }
    zip_source_t *src = zip_source_buffer(z, pkl, n, 0);
    ck_assert_int_ge(zip_file_add(z, "archive/data.pkl", src, ZIP_FL_OVERWRITE), 0);
    ck_assert_int_eq(zip_close(z), 0);
    return path;
}

/* Lists nested `depth` deep: PROTO 2, `depth` x EMPTY_LIST, (depth-1) x
 * APPEND, STOP. */
static uint8_t *nested_lists(size_t depth, size_t *n)
{
    uint8_t *p = malloc(2 * depth + 3);
    ck_assert_ptr_nonnull(p);
    size_t o = 0;
    p[o++] = 0x80;
    p[o++] = 2;
    memset(p + o, ']', depth), o += depth;
    memset(p + o, 'a', depth - 1), o += depth - 1;
    p[o++] = '.';
    *n = o;
    return p;
}

/* Pickles nesting lists 10^3 and 10^6 deep: the walk that names tensors
 * stops at 100 levels, whatever the depth (no recursion 10^6 deep). The
 * machine's own stack, marks and memo are capped by the pickle's length. */
START_TEST(test_pickle_deep_nest)
{
    size_t n;
    uint8_t *p = nested_lists(1000, &n);
    static const char *const f1[] = {"deep.bin", "nested deeper than", NULL};
    expect_ckpt_refused(write_torch_zip("deep.bin", p, n), f1);
    free(p);
    p = nested_lists(1000 * 1000, &n);
    static const char *const f2[] = {"tall.bin", "nested deeper than 100 levels", NULL};
    expect_ckpt_refused(write_torch_zip("tall.bin", p, n), f2);
    free(p);
}
END_TEST

/* ---- failure without loss: the GGUF writer ---------------------------------- */

static char g_dir[4096], g_out[4096];

/* Output "disk" full: 64 KiB file size limit, SIGXFSZ ignored (so write()
 * returns EFBIG like ENOSPC on a full disk), 1 MiB of tensor data. */
static void child_disk_full(void)
{
    struct rlimit rl = {64 * 1024, 64 * 1024};
    signal(SIGXFSZ, SIG_IGN);
    CHILD_EXPECT(setrlimit(RLIMIT_FSIZE, &rl) == 0, "setrlimit: %s", strerror(errno));
    bn_error e;
    bn_error_clear(&e);
    bn_status st = write_model(g_out, 256 * 1024, NULL, &e);
    CHILD_EXPECT(st == BN_EIO, "status %s (%s), want BN_EIO", bn_status_name(st), e.msg);
    CHILD_EXPECT(strstr(e.msg, "out.gguf") != NULL, "message does not name the output: %s", e.msg);
    CHILD_EXPECT(strstr(e.msg, strerror(EFBIG)) != NULL, "message does not say why: %s", e.msg);
    CHILD_EXPECT(strchr(e.msg, '\n') == NULL, "message of several lines: %s", e.msg);
}

START_TEST(test_writer_disk_full)
{
    const char *dir = setup_existing("full", g_out, sizeof g_out);
    int ws = in_child(child_disk_full);
    ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    assert_untouched(dir, g_out);
}
END_TEST

/* Output directory not writable: mode 0555, and when we are root (who
 * ignores modes) the child first drops to nobody's uid and gid. */
static void child_unwritable(void)
{
    if (geteuid() == 0) {
        CHILD_EXPECT(setgid(65534) == 0 && setuid(65534) == 0, "cannot drop root: %s",
                     strerror(errno));
    }
    bn_error e;
    bn_error_clear(&e);
    bn_status st = write_model(g_out, 1024, NULL, &e);
    CHILD_EXPECT(st == BN_EIO, "status %s (%s), want BN_EIO", bn_status_name(st), e.msg);
    CHILD_EXPECT(strstr(e.msg, g_dir) != NULL, "message does not name the directory: %s", e.msg);
    CHILD_EXPECT(strstr(e.msg, "ermission denied") != NULL, "message does not say why: %s", e.msg);
}

START_TEST(test_writer_unwritable_dir)
{
    snprintf(g_dir, sizeof g_dir, "%s", setup_existing("ro", g_out, sizeof g_out));
    chmod(g_out, 0644);
    ck_assert_int_eq(chmod(g_dir, 0555), 0);
    int ws = in_child(child_unwritable);
    chmod(g_dir, 0755);
    ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    assert_untouched(g_dir, g_out);
}
END_TEST

/* SIGTERM / SIGINT in the middle of the tensor data: the handler a main
 * installs (bn_atomic_cleanup_signal, then default action) must leave no
 * temporary file. The signal is raised by the writer loop itself after 8 of
 * 64 chunks, so the temp file exists and holds a partial model. */
static int g_sig;

static void on_signal(int sig)
{
    bn_atomic_cleanup_signal();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void hook_raise(size_t i)
{
    if (i == 8)
        raise(g_sig);
}

static void child_signal(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(g_sig, &sa, NULL);
    bn_error e;
    write_model(g_out, 64 * 4096, hook_raise, &e);
    CHILD_EXPECT(0, "the writer finished although signal %d was raised", g_sig);
}

static void signal_case(int sig, const char *name)
{
    const char *dir = setup_existing(name, g_out, sizeof g_out);
    g_sig = sig;
    int ws = in_child(child_signal);
    ck_assert_msg(WIFSIGNALED(ws) && WTERMSIG(ws) == sig, "child did not die of signal %d", sig);
    assert_untouched(dir, g_out);
}

START_TEST(test_writer_sigterm)
{
    signal_case(SIGTERM, "sigterm");
}
END_TEST

START_TEST(test_writer_sigint)
{
    signal_case(SIGINT, "sigint");
}
END_TEST

/* The same writes without a failure succeed and replace the old output, so
 * the cases above fail for the reason they claim. */
START_TEST(test_writer_control)
{
    const char *dir = setup_existing("control", g_out, sizeof g_out);
    bn_error e;
    ck_assert_int_eq(write_model(g_out, 64 * 4096, NULL, &e), BN_OK);
    ck_assert_int_eq(count_temps(dir, "out.gguf"), 0);
    bn_gguf *g = NULL;
    ck_assert_int_eq(bn_gguf_open(g_out, &g, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_n_tensors(g), 1);
    bn_gguf_close(g);
}
END_TEST

/* ---- read errors on the input ---------------------------------------------- */

/* A directory where a model file should be: open() works, reading fails. */
START_TEST(test_reader_read_error)
{
    const char *dir = tu_tmp("a-directory.gguf");
    mkdir(dir, 0755);
    bn_gguf *g = NULL;
    bn_error e;
    bn_status st = bn_gguf_open(dir, &g, &e);
    ck_assert_int_ne(st, BN_OK);
    ck_assert_int_ne(st, BN_EINTERNAL);
    ck_assert_ptr_null(g);
    ck_assert_ptr_nonnull(strstr(e.msg, "a-directory.gguf"));
    char *buf = NULL;
    size_t len;
    st = bn_read_file(dir, 1 << 20, &buf, &len, &e);
    ck_assert_int_ne(st, BN_OK);
    ck_assert_ptr_null(buf);
    ck_assert_ptr_nonnull(strstr(e.msg, "a-directory.gguf"));
}
END_TEST

/* ---- fuzzing regressions ---------------------------------------------------- */

/* Every tests/corpus/<format>/regress-* input (what the fuzzers found, see
 * tests/fuzz/) goes back through the parser its harness drove: it must be
 * refused with a one-line message and a status that is not an internal
 * error; under `make asan` any leak or bad access in the path fails too. */
static void expect_clean_refusal(const char *what, bn_status st, const bn_error *e)
{
    ck_assert_msg(st != BN_OK, "%s: accepted", what);
    ck_assert_msg(st != BN_EINTERNAL, "%s: internal error: %s", what, e->msg);
    ck_assert_msg(e->code == st && e->msg[0], "%s: no message", what);
    ck_assert_msg(strchr(e->msg, '\n') == NULL, "%s: message of several lines: %s", what, e->msg);
}

static int replay_dir(const char *format)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_root(format));
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "regress-", 8) != 0)
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        bn_error e;
        bn_error_clear(&e);
        bn_status st;
        if (strstr(format, "gguf")) {
            bn_gguf *g = NULL;
            st = bn_gguf_open(path, &g, &e);
            bn_gguf_close(g);
        } else if (strstr(format, "tokenizer")) {
            bn_tokexport *t = NULL;
            st = bn_tokexport_load(path, &t, &e);
            bn_tokexport_free(t);
        } else {
            bn_ckpt *ck = NULL;
            st = bn_ckpt_open(path, &ck, &e);
            bn_ckpt_close(ck);
        }
        expect_clean_refusal(de->d_name, st, &e);
        n++;
    }
    closedir(d);
    return n;
}

START_TEST(test_fuzz_regressions)
{
    int n = replay_dir("tests/corpus/gguf") + replay_dir("tests/corpus/safetensors") +
            replay_dir("tests/corpus/pickle") + replay_dir("tests/corpus/tokenizer");
    ck_assert_int_ge(n, 2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("limits");
    TCase *lim = tcase_create("limits");
    tcase_set_timeout(lim, 60);
    tcase_add_test(lim, test_gguf_2p32_kvs);
    tcase_add_test(lim, test_gguf_2p60_tensors);
    tcase_add_test(lim, test_gguf_array_and_string_lengths);
    tcase_add_test(lim, test_gguf_tensor_2p80_elements);
    tcase_add_test(lim, test_read_file_cap_named);
    tcase_add_test(lim, test_messages_stay_one_line);
    tcase_add_test(lim, test_safetensors_2p40_elements);
    tcase_add_test(lim, test_pickle_deep_nest);
    suite_add_tcase(s, lim);
    TCase *loss = tcase_create("failure_without_loss");
    tcase_set_timeout(loss, 60);
    tcase_add_test(loss, test_writer_disk_full);
    tcase_add_test(loss, test_writer_unwritable_dir);
    tcase_add_test(loss, test_writer_sigterm);
    tcase_add_test(loss, test_writer_sigint);
    tcase_add_test(loss, test_writer_control);
    tcase_add_test(loss, test_reader_read_error);
    suite_add_tcase(s, loss);
    TCase *reg = tcase_create("fuzz_regressions");
    tcase_add_test(reg, test_fuzz_regressions);
    suite_add_tcase(s, reg);
    return tu_run_suite(s);
}
