/* test_gguf.c - GGUF writer/reader round trips over every value and tensor
 * type, byte-exact writer output, truncations and mutations, typed getters,
 * display and bn-info --json (types, vocab files, writer failures and the
 * malformed corpus: test_gguf_files.c). */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cJSON.h>

#include "bn/gguf.h"
#include "bn/version.h"
#include "bn/util.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------- */

/* A byte builder independent of the writer, for expected images. */
typedef struct {
    uint8_t b[1 << 12];
    size_t n;
} bytes;

static void b_raw(bytes *x, const void *p, size_t n)
{
    ck_assert_uint_le(x->n + n, sizeof x->b);
    memcpy(x->b + x->n, p, n);
    x->n += n;
}
static void b_le(bytes *x, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) {
        uint8_t c = (uint8_t)(v >> (8 * i));
        b_raw(x, &c, 1);
    }
}
static void b_str(bytes *x, const char *s)
{
    b_le(x, strlen(s), 8);
    b_raw(x, s, strlen(s));
}
static void b_pad(bytes *x, size_t a)
{
    while (x->n % a)
        b_le(x, 0, 1);
}

/* ---- writer / reader round trip ----------------------------------------------- */

/* Writes one KV of each scalar type, one array of each element type, and one
 * tensor of each tensor type; tensor i's byte k is (i * 31 + k) & 255. */
static const bn_type k_all_types[] = {BN_TYPE_F32,   BN_TYPE_F16,   BN_TYPE_Q8_0, BN_TYPE_BF16,
                                      BN_TYPE_TQ1_0, BN_TYPE_TQ2_0, BN_TYPE_I2_S};
#define N_TYPES (sizeof k_all_types / sizeof k_all_types[0])

static void write_everything(const char *path, uint32_t alignment)
{
    bn_gguf_writer *w;
    bn_error e;
    ck_assert_int_eq(bn_gguf_writer_open(path, alignment, &w, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_u8(w, "v.u8", 200, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_i8(w, "v.i8", -100, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_u16(w, "v.u16", 65000, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_i16(w, "v.i16", -32000, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_u32(w, "v.u32", 4000000000u, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_i32(w, "v.i32", -2000000000, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_f32(w, "v.f32", 1e-5f, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_bool(w, "v.bool", 7, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_str(w, "v.str", "h\xc3\xa9llo \"w\"\n", &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_strn(w, "v.strn", "a\0b", 3, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_u64(w, "v.u64", UINT64_MAX, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_i64(w, "v.i64", INT64_MIN, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_f64(w, "v.f64", 0.1, &e), BN_OK);
    static const uint8_t au8[] = {1, 2, 255};
    static const int8_t ai8[] = {-1, 0, 1};
    static const uint16_t au16[] = {1, 65535};
    static const int16_t ai16[] = {-32768, 32767};
    static const uint32_t au32[] = {0, 4294967295u};
    static const int32_t ai32[] = {-5, 1, 6};
    static const float af32[] = {0.5f, -2.25f};
    static const uint8_t abool[] = {1, 0, 1};
    static const uint64_t au64[] = {UINT64_MAX, 3};
    static const int64_t ai64[] = {INT64_MIN, 4};
    static const double af64[] = {-0.125, 1e300};
    ck_assert_int_eq(bn_gguf_set_arr(w, "a.u8", BN_GGUF_U8, au8, 3, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_arr(w, "a.i8", BN_GGUF_I8, ai8, 3, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_arr(w, "a.u16", BN_GGUF_U16, au16, 2, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_arr(w, "a.i16", BN_GGUF_I16, ai16, 2, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_arr(w, "a.u32", BN_GGUF_U32, au32, 2, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_arr(w, "a.i32", BN_GGUF_I32, ai32, 3, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_arr(w, "a.f32", BN_GGUF_F32, af32, 2, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_arr(w, "a.bool", BN_GGUF_BOOL, abool, 3, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_arr(w, "a.u64", BN_GGUF_U64, au64, 2, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_arr(w, "a.i64", BN_GGUF_I64, ai64, 2, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_arr(w, "a.f64", BN_GGUF_F64, af64, 2, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_arr(w, "a.empty", BN_GGUF_I32, NULL, 0, &e), BN_OK);
    const char *strs[] = {"", "<s>", "\xe2\x96\x81the"};
    ck_assert_int_eq(bn_gguf_set_arr_str(w, "a.str", strs, NULL, 3, &e), BN_OK);
    const size_t lens[] = {2, 1};
    ck_assert_int_eq(bn_gguf_set_arr_str(w, "a.strn", (const char *[]){"x\0", "y"}, lens, 2, &e),
                     BN_OK);
    for (size_t i = 0; i < N_TYPES; i++) {
        char name[32];
        int64_t ne[2] = {bn_type_block_size(k_all_types[i]) * 2, 3};
        if (ne[0] < 8)
            ne[0] = 5; /* odd sizes exercise the padding */
        snprintf(name, sizeof name, "t.%s", bn_type_name(k_all_types[i]));
        ck_assert_int_eq(bn_gguf_add_tensor(w, name, 2, ne, k_all_types[i], &e), BN_OK);
    }
    for (size_t i = 0; i < N_TYPES; i++) {
        int64_t ne0 = bn_type_block_size(k_all_types[i]) * 2;
        uint64_t nb;
        ck_assert_int_eq(bn_type_nbytes(k_all_types[i], ne0 < 8 ? 5 : ne0,
                                        (uint64_t)(ne0 < 8 ? 5 : ne0) * 3, &nb, &e), BN_OK);
        uint8_t *buf = malloc(nb);
        for (uint64_t k = 0; k < nb; k++)
            buf[k] = (uint8_t)(i * 31 + k);
        /* chunked unevenly: 1 byte, then the rest */
        ck_assert_int_eq(bn_gguf_writer_write(w, buf, 1, &e), BN_OK);
        ck_assert_int_eq(bn_gguf_writer_write(w, buf + 1, nb - 1, &e), BN_OK);
        free(buf);
    }
    ck_assert_int_eq(bn_gguf_writer_finish(w, &e), BN_OK);
}

static void check_everything(bn_gguf *g, uint32_t alignment)
{
    bn_error e;
    uint8_t u8;
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    float f32;
    int b;
    bn_str s;
    int64_t i64;
    double f64;
    ck_assert_uint_eq(bn_gguf_version(g), 3);
    ck_assert_uint_eq(bn_gguf_alignment(g), alignment);
    ck_assert_uint_eq(bn_gguf_data_offset(g) % alignment, 0);
    ck_assert_int_eq(bn_gguf_get_u8(g, "v.u8", &u8, &e), BN_OK);
    ck_assert_uint_eq(u8, 200);
    ck_assert_int_eq(bn_gguf_kv_as_i64(bn_gguf_find_kv(g, "v.i8"), &i64), 0);
    ck_assert_int_eq(i64, -100);
    ck_assert_int_eq(bn_gguf_kv_as_i64(bn_gguf_find_kv(g, "v.u16"), &i64), 0);
    ck_assert_int_eq(i64, 65000);
    ck_assert_int_eq(bn_gguf_kv_as_i64(bn_gguf_find_kv(g, "v.i16"), &i64), 0);
    ck_assert_int_eq(i64, -32000);
    ck_assert_int_eq(bn_gguf_get_u32(g, "v.u32", &u32, &e), BN_OK);
    ck_assert_uint_eq(u32, 4000000000u);
    ck_assert_int_eq(bn_gguf_get_i32(g, "v.i32", &i32, &e), BN_OK);
    ck_assert_int_eq(i32, -2000000000);
    ck_assert_int_eq(bn_gguf_get_f32(g, "v.f32", &f32, &e), BN_OK);
    ck_assert_int_eq(memcmp(&f32, &(float){1e-5f}, 4), 0);
    ck_assert_int_eq(bn_gguf_get_bool(g, "v.bool", &b, &e), BN_OK);
    ck_assert_int_eq(b, 1);
    ck_assert_uint_eq(bn_gguf_find_kv(g, "v.bool")->data[0], 1);
    ck_assert_int_eq(bn_gguf_get_str(g, "v.str", &s, &e), BN_OK);
    ck_assert_uint_eq(s.len, 11);
    ck_assert_int_eq(memcmp(s.ptr, "h\xc3\xa9llo \"w\"\n", 11), 0);
    ck_assert_int_eq(bn_gguf_get_str(g, "v.strn", &s, &e), BN_OK);
    ck_assert_uint_eq(s.len, 3);
    ck_assert_int_eq(memcmp(s.ptr, "a\0b", 3), 0);
    ck_assert_int_eq(bn_gguf_get_u64(g, "v.u64", &u64, &e), BN_OK);
    ck_assert_uint_eq(u64, UINT64_MAX);
    ck_assert_int_eq(bn_gguf_kv_as_i64(bn_gguf_find_kv(g, "v.u64"), &i64), -1);
    ck_assert_int_eq(bn_gguf_kv_as_i64(bn_gguf_find_kv(g, "v.i64"), &i64), 0);
    ck_assert_int_eq(i64, INT64_MIN);
    ck_assert_int_eq(bn_gguf_kv_as_f64(bn_gguf_find_kv(g, "v.f64"), &f64), 0);
    ck_assert(f64 == 0.1);
    ck_assert_int_eq(bn_gguf_kv_as_f64(bn_gguf_find_kv(g, "v.str"), &f64), -1);

    const bn_gguf_kv *kv;
    ck_assert_int_eq(bn_gguf_get_arr(g, "a.u8", BN_GGUF_U8, &kv, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_arr_i64(kv, 2), 255);
    ck_assert_int_eq(bn_gguf_get_arr(g, "a.i8", BN_GGUF_I8, &kv, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_arr_i64(kv, 0), -1);
    ck_assert_int_eq(bn_gguf_get_arr(g, "a.u16", BN_GGUF_U16, &kv, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_arr_i64(kv, 1), 65535);
    ck_assert_int_eq(bn_gguf_get_arr(g, "a.i16", BN_GGUF_I16, &kv, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_arr_i64(kv, 0), -32768);
    ck_assert_int_eq(bn_gguf_get_arr(g, "a.u32", BN_GGUF_U32, &kv, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_arr_i64(kv, 1), 4294967295ll);
    ck_assert_int_eq(bn_gguf_get_arr(g, "a.i32", BN_GGUF_I32, &kv, &e), BN_OK);
    ck_assert_uint_eq(kv->arr_n, 3);
    ck_assert_int_eq(bn_gguf_arr_i64(kv, 0), -5);
    ck_assert(bn_gguf_arr_f64(kv, 2) == 6.0);
    ck_assert_int_eq(bn_gguf_get_arr(g, "a.f32", BN_GGUF_F32, &kv, &e), BN_OK);
    ck_assert(bn_gguf_arr_f64(kv, 1) == -2.25);
    ck_assert_int_eq(bn_gguf_get_arr(g, "a.bool", BN_GGUF_BOOL, &kv, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_arr_i64(kv, 1), 0);
    ck_assert_int_eq(bn_gguf_arr_i64(kv, 2), 1);
    ck_assert_int_eq(bn_gguf_get_arr(g, "a.u64", BN_GGUF_U64, &kv, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_arr_i64(kv, 0), INT64_MAX); /* saturates */
    ck_assert_int_eq(bn_gguf_arr_i64(kv, 1), 3);
    ck_assert_int_eq(bn_gguf_get_arr(g, "a.i64", BN_GGUF_I64, &kv, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_arr_i64(kv, 0), INT64_MIN);
    ck_assert_int_eq(bn_gguf_get_arr(g, "a.f64", BN_GGUF_F64, &kv, &e), BN_OK);
    ck_assert(bn_gguf_arr_f64(kv, 1) == 1e300);
    ck_assert_int_eq(bn_gguf_get_arr(g, "a.empty", BN_GGUF_I32, &kv, &e), BN_OK);
    ck_assert_uint_eq(kv->arr_n, 0);
    ck_assert_int_eq(bn_gguf_get_arr(g, "a.str", BN_GGUF_STRING, &kv, &e), BN_OK);
    ck_assert_uint_eq(kv->arr_n, 3);
    ck_assert_uint_eq(bn_gguf_arr_str(g, kv, 0).len, 0);
    s = bn_gguf_arr_str(g, kv, 2);
    ck_assert_uint_eq(s.len, 6);
    ck_assert_int_eq(memcmp(s.ptr, "\xe2\x96\x81the", 6), 0);
    ck_assert_int_eq(bn_gguf_get_arr(g, "a.strn", BN_GGUF_STRING, &kv, &e), BN_OK);
    ck_assert_uint_eq(bn_gguf_arr_str(g, kv, 0).len, 2);

    ck_assert_int_eq(bn_gguf_n_tensors(g), (int64_t)N_TYPES);
    uint64_t expect_off = 0;
    for (size_t i = 0; i < N_TYPES; i++) {
        char name[32];
        snprintf(name, sizeof name, "t.%s", bn_type_name(k_all_types[i]));
        const bn_gguf_tensor *t = bn_gguf_find_tensor(g, name);
        ck_assert_ptr_eq(t, bn_gguf_tensor_at(g, (int64_t)i));
        ck_assert_int_eq(t->type, k_all_types[i]);
        ck_assert_uint_eq(t->n_dims, 2);
        ck_assert_int_eq(t->ne[1], 3);
        ck_assert_int_eq(t->ne[2], 1);
        ck_assert_uint_eq(t->n_el, (uint64_t)t->ne[0] * 3);
        ck_assert_uint_eq(t->offset, expect_off);
        ck_assert_ptr_eq(t->data, bn_gguf_tensor_at(g, 0)->data + t->offset);
        for (uint64_t k = 0; k < t->nbytes; k++)
            ck_assert_uint_eq(t->data[k], (uint8_t)(i * 31 + k));
        expect_off += (t->nbytes + alignment - 1) / alignment * alignment;
    }
    /* The writer pads after the last tensor too. */
    ck_assert_uint_eq(bn_gguf_file_size(g), bn_gguf_data_offset(g) + expect_off);
    ck_assert_ptr_null(bn_gguf_find_tensor(g, "t.nope"));
    ck_assert_ptr_null(bn_gguf_tensor_at(g, (int64_t)N_TYPES));
    ck_assert_ptr_null(bn_gguf_kv_at(g, -1));
}

START_TEST(test_roundtrip)
{
    static const uint32_t aligns[] = {0, 32, 64, 1, 4096};
    for (size_t a = 0; a < sizeof aligns / sizeof aligns[0]; a++) {
        const char *path = tu_tmp("all.gguf");
        bn_gguf *g;
        bn_error e;
        write_everything(path, aligns[a]);
        ck_assert_int_eq(bn_gguf_open(path, &g, &e), BN_OK);
        uint32_t want = aligns[a] ? aligns[a] : 32;
        check_everything(g, want);
        uint32_t ga;
        /* a non-default alignment is recorded as general.alignment, u32 */
        ck_assert_int_eq(bn_gguf_get_u32(g, "general.alignment", &ga, &e),
                         want == 32 ? BN_ENOTFOUND : BN_OK);
        if (want != 32)
            ck_assert_uint_eq(ga, want);
        bn_gguf_close(g);
    }
}
END_TEST

START_TEST(test_copy_kv_roundtrip)
{
    /* Copying every KV and tensor of one file into a new one reproduces it byte for byte. */
    const char *src = tu_tmp("src.gguf"), *dst = tu_tmp("dst.gguf");
    bn_gguf *g;
    bn_gguf_writer *w;
    bn_error e;
    write_everything(src, 64);
    ck_assert_int_eq(bn_gguf_open(src, &g, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_writer_open(dst, 64, &w, &e), BN_OK);
    for (int64_t i = 0; i < bn_gguf_n_kv(g); i++)
        ck_assert_int_eq(bn_gguf_copy_kv(w, g, bn_gguf_kv_at(g, i), &e), BN_OK);
    for (int64_t i = 0; i < bn_gguf_n_tensors(g); i++) {
        const bn_gguf_tensor *t = bn_gguf_tensor_at(g, i);
        ck_assert_int_eq(bn_gguf_add_tensor(w, t->name, t->n_dims, t->ne, t->type, &e), BN_OK);
    }
    for (int64_t i = 0; i < bn_gguf_n_tensors(g); i++) {
        const bn_gguf_tensor *t = bn_gguf_tensor_at(g, i);
        ck_assert_int_eq(bn_gguf_writer_write(w, t->data, t->nbytes, &e), BN_OK);
    }
    ck_assert_int_eq(bn_gguf_writer_finish(w, &e), BN_OK);
    bn_gguf_close(g);
    size_t na, nb;
    uint8_t *a = tu_read(src, &na), *b = tu_read(dst, &nb);
    ck_assert_uint_eq(na, nb);
    ck_assert_int_eq(memcmp(a, b, na), 0);
    free(a);
    free(b);
}
END_TEST

START_TEST(test_writer_exact_bytes)
{
    /* Built by hand from FORMATS.md §1: two KVs, one F32 tensor of 3, alignment 32. */
    bytes x = {.n = 0};
    b_raw(&x, "GGUF", 4);
    b_le(&x, 3, 4);
    b_le(&x, 1, 8); /* tensors */
    b_le(&x, 2, 8); /* kvs */
    b_str(&x, "a.b");
    b_le(&x, 4, 4); /* u32 */
    b_le(&x, 7, 4);
    b_str(&x, "s");
    b_le(&x, 8, 4); /* string */
    b_str(&x, "hi");
    b_str(&x, "t");
    b_le(&x, 1, 4);    /* n_dims */
    b_le(&x, 3, 8);    /* ne[0] */
    b_le(&x, 0, 4);    /* F32 */
    b_le(&x, 0, 8);    /* offset */
    ck_assert_uint_eq(x.n, 99);
    b_pad(&x, 32);     /* data section at 128 */
    const float data[3] = {1.0f, -2.0f, 0.5f};
    b_le(&x, 0x3f800000, 4);
    b_le(&x, 0xc0000000, 4);
    b_le(&x, 0x3f000000, 4);
    b_pad(&x, 32);
    ck_assert_uint_eq(x.n, 160);

    const char *path = tu_tmp("exact.gguf");
    bn_gguf_writer *w;
    bn_error e;
    ck_assert_int_eq(bn_gguf_writer_open(path, 0, &w, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_u32(w, "a.b", 7, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_set_str(w, "s", "hi", &e), BN_OK);
    ck_assert_int_eq(bn_gguf_add_tensor(w, "t", 1, (int64_t[]){3}, BN_TYPE_F32, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_writer_write(w, data, sizeof data, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_writer_finish(w, &e), BN_OK);
    size_t n;
    uint8_t *got = tu_read(path, &n);
    ck_assert_uint_eq(n, x.n);
    ck_assert_int_eq(memcmp(got, x.b, n), 0);
    free(got);

    /* The reader on the same bytes, from memory. */
    bn_gguf *g;
    ck_assert_int_eq(bn_gguf_open_mem(x.b, x.n, "exact", &g, &e), BN_OK);
    ck_assert_uint_eq(bn_gguf_data_offset(g), 128);
    ck_assert_str_eq(bn_gguf_path(g), "exact");
    ck_assert_uint_eq(bn_gguf_find_kv(g, "s")->offset, 43);
    ck_assert_ptr_eq(bn_gguf_tensor_at(g, 0)->data, x.b + 128);
    bn_gguf_close(g);

    /* Lenient on the last tensor's padding only: cut the final 20 zero bytes. */
    ck_assert_int_eq(bn_gguf_open_mem(x.b, 140, "short", &g, &e), BN_OK);
    bn_gguf_close(g);
    ck_assert_int_eq(bn_gguf_open_mem(x.b, 139, "short", &g, &e), BN_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "past the end of the file"));
}
END_TEST

START_TEST(test_truncation_and_mutation)
{
    /* Every prefix of a valid file fails cleanly until the last tensor's data
     * is complete; random single-byte changes never crash (ASan build). */
    const char *path = tu_tmp("trunc.gguf");
    write_everything(path, 32);
    size_t n;
    uint8_t *img = tu_read(path, &n);
    bn_gguf *g;
    bn_error e;
    ck_assert_int_eq(bn_gguf_open_mem(img, n, "full", &g, &e), BN_OK);
    const bn_gguf_tensor *last = bn_gguf_tensor_at(g, bn_gguf_n_tensors(g) - 1);
    size_t need = (size_t)(bn_gguf_data_offset(g) + last->offset + last->nbytes);
    bn_gguf_close(g);
    for (size_t len = 0; len < n; len++) {
        bn_status st = bn_gguf_open_mem(img, len, "cut", &g, &e);
        if (len >= need) {
            ck_assert_msg(st == BN_OK, "prefix %zu: %s", len, e.msg);
            bn_gguf_close(g);
        } else {
            ck_assert_msg(st == BN_EINVAL, "prefix %zu accepted", len);
            ck_assert(strncmp(e.msg, "cut: ", 5) == 0 && strstr(e.msg, "(offset "));
            ck_assert_ptr_null(strchr(e.msg, '\n'));
        }
    }
    uint64_t seed = 12345;
    uint8_t *m = malloc(n);
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(m, img, n);
        uint64_t r = bn_rng_next(&seed);
        size_t at = (size_t)(r >> 33) % (size_t)need;
        m[at] ^= (uint8_t)(1u << ((r >> 20) & 7));
        if (bn_gguf_open_mem(m, n, "mut", &g, &e) == BN_OK) {
            for (int64_t i = 0; i < bn_gguf_n_tensors(g); i++) {
                const bn_gguf_tensor *t = bn_gguf_tensor_at(g, i);
                ck_assert(t->data >= m && t->data + t->nbytes <= m + n);
            }
            bn_gguf_close(g);
        } else {
            ck_assert(e.msg[0] != '\0');
        }
    }
    free(m);
    free(img);
}
END_TEST

START_TEST(test_many_entries_and_v2)
{
    /* Thousands of keys and tensors (the name sets grow many times); every one
     * is found again, and the same file relabelled as version 2 still opens. */
    const char *path = tu_tmp("many.gguf");
    bn_gguf_writer *w;
    bn_error e;
    char name[32];
    ck_assert_int_eq(bn_gguf_writer_open(path, 0, &w, &e), BN_OK);
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof name, "k.%d", i);
        ck_assert_int_eq(bn_gguf_set_i32(w, name, -i, &e), BN_OK);
    }
    for (int i = 0; i < 700; i++) {
        snprintf(name, sizeof name, "blk.%d.w", i);
        ck_assert_int_eq(bn_gguf_add_tensor(w, name, 1, (int64_t[]){i + 1}, BN_TYPE_F16, &e),
                         BN_OK);
    }
    uint8_t zeros[1400] = {0};
    for (int i = 0; i < 700; i++)
        ck_assert_int_eq(bn_gguf_writer_write(w, zeros, (size_t)(i + 1) * 2, &e), BN_OK);
    ck_assert_int_eq(bn_gguf_writer_finish(w, &e), BN_OK);

    size_t n;
    uint8_t *img = tu_read(path, &n);
    img[4] = 2; /* GGUF v2 has the same layout */
    bn_gguf *g;
    ck_assert_int_eq(bn_gguf_open_mem(img, n, "v2", &g, &e), BN_OK);
    ck_assert_uint_eq(bn_gguf_version(g), 2);
    for (int i = 0; i < 3000; i++) {
        int32_t v;
        snprintf(name, sizeof name, "k.%d", i);
        ck_assert_int_eq(bn_gguf_get_i32(g, name, &v, &e), BN_OK);
        ck_assert_int_eq(v, -i);
    }
    for (int i = 0; i < 700; i++) {
        snprintf(name, sizeof name, "blk.%d.w", i);
        const bn_gguf_tensor *t = bn_gguf_find_tensor(g, name);
        ck_assert_ptr_nonnull(t);
        ck_assert_int_eq(t->ne[0], i + 1);
    }
    ck_assert_ptr_null(bn_gguf_find_kv(g, "k.3000"));
    bn_gguf_close(g);
    free(img);
}
END_TEST

/* ---- typed getters ----------------------------------------------------------- */

START_TEST(test_getters_refuse_wrong_type)
{
    const char *path = tu_tmp("types.gguf");
    write_everything(path, 32);
    bn_gguf *g;
    bn_error e;
    ck_assert_int_eq(bn_gguf_open(path, &g, &e), BN_OK);
    uint32_t u32;
    float f;
    const bn_gguf_kv *kv;
    ck_assert_int_eq(bn_gguf_get_u32(g, "v.f32", &u32, &e), BN_ETYPE);
    ck_assert_ptr_nonnull(strstr(e.msg, "key 'v.f32' has type f32, expected u32"));
    ck_assert_int_eq(bn_gguf_get_f32(g, "v.u32", &f, &e), BN_ETYPE);
    ck_assert_int_eq(bn_gguf_get_u32(g, "v.i32", &u32, &e), BN_ETYPE);
    ck_assert_int_eq(bn_gguf_get_u32(g, "a.u32", &u32, &e), BN_ETYPE);
    ck_assert_ptr_nonnull(strstr(e.msg, "is an array of u32, expected u32"));
    ck_assert_int_eq(bn_gguf_get_arr(g, "a.i32", BN_GGUF_F32, &kv, &e), BN_ETYPE);
    ck_assert_ptr_nonnull(strstr(e.msg, "is an array of i32, expected an array of f32"));
    ck_assert_int_eq(bn_gguf_get_arr(g, "v.i32", BN_GGUF_I32, &kv, &e), BN_ETYPE);
    ck_assert_int_eq(bn_gguf_get_u32(g, "missing", &u32, &e), BN_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, "key 'missing' is missing"));
    ck_assert_int_eq(bn_gguf_get_bool(g, "v.u8", &(int){0}, &e), BN_ETYPE);
    ck_assert_int_eq(bn_gguf_get_str(g, "a.str", &(bn_str){0}, &e), BN_ETYPE);
    bn_gguf_close(g);
}
END_TEST

/* ---- display ---------------------------------------------------------------------- */

START_TEST(test_escape_and_format)
{
    char buf[64];
    ck_assert_int_eq(bn_gguf_escape("a\"b\\\n\t\x01\xc3\xa9\xff", 10, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "a\\\"b\\\\\\n\\t\\x01\xc3\xa9\\xff");
    /* overlong, surrogate and truncated UTF-8 are escaped byte by byte */
    bn_gguf_escape("\xc0\xaf\xed\xa0\x80\xe2\x96", 7, buf, sizeof buf);
    ck_assert_str_eq(buf, "\\xc0\\xaf\\xed\\xa0\\x80\\xe2\\x96");
    /* cut at a character boundary, never inside an escape or a UTF-8 sequence */
    ck_assert_int_eq(bn_gguf_escape("abcdefgh", 8, buf, 9), 0);
    ck_assert_str_eq(buf, "abcdefgh");
    ck_assert_int_eq(bn_gguf_escape("abcdefghi", 9, buf, 9), 1);
    ck_assert_str_eq(buf, "abcde...");
    ck_assert_int_eq(bn_gguf_escape("abcd\x01xyz", 8, buf, 10), 1);
    ck_assert_str_eq(buf, "abcd...");
    ck_assert_int_eq(bn_gguf_escape("abcd\xe2\x96\x81xyz", 10, buf, 10), 1);
    ck_assert_str_eq(buf, "abcd...");
    ck_assert_int_eq(bn_gguf_escape("abcd", 4, buf, 3), 1); /* no room even for "..." */
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(bn_gguf_escape("", 0, buf, 1), 0);
    ck_assert_int_eq(bn_gguf_escape("x", 1, NULL, 0), 1);

    const char *path = tu_tmp("fmt.gguf");
    write_everything(path, 32);
    bn_gguf *g;
    bn_error e;
    static const struct {
        const char *key;
        uint64_t items;
        size_t cap;
        const char *want;
    } cases[] = {
        {"v.str", 8, 256, "\"h\xc3\xa9llo \\\"w\\\"\\n\""},
        {"v.f32", 8, 256, "9.99999975e-06"},
        {"v.i64", 8, 256, "-9223372036854775808"},
        {"v.bool", 8, 256, "true"},
        {"a.i32", 2, 256, "[3 x i32] -5, 1, ..."},
        {"a.str", 8, 256, "[3 x string] \"\", \"<s>\", \"\xe2\x96\x81the\""},
        {"a.str", 0, 256, "[3 x string] ..."},
        {"a.f64", 8, 16, "[2 x f64] -0..."},
    };
    char v[256];
    ck_assert_int_eq(bn_gguf_open(path, &g, &e), BN_OK);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bn_gguf_format_value(g, bn_gguf_find_kv(g, cases[i].key), cases[i].items, v, cases[i].cap);
        ck_assert_str_eq(v, cases[i].want);
    }
    bn_gguf_close(g);
}
END_TEST

/* ---- bn-info --json ---------------------------------------------------------------- */

static cJSON *run_json(const char *args)
{
    char cmd[8192], *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' --json %s 2>/dev/null", tu_build("bn-info"), args);
    ck_assert_int_eq(tu_run(cmd, &out), 0);
    cJSON *j = cJSON_Parse(out);
    ck_assert_msg(j != NULL, "bn-info --json output does not parse: %.200s", out);
    free(out);
    return j;
}

/* The type table's ternary column and the one I2_S tail reader (FORMATS.md
 * §2.1: the little-endian f32 after the n_el/4 code bytes). */
START_TEST(test_ternary_types_and_tail)
{
    static const bn_type tern[] = {BN_TYPE_I2_S, BN_TYPE_TQ1_0, BN_TYPE_TQ2_0};
    static const bn_type other[] = {BN_TYPE_F32, BN_TYPE_F16, BN_TYPE_BF16, BN_TYPE_Q8_0};
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(bn_type_is_ternary(tern[i]), 1);
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(bn_type_is_ternary(other[i]), 0);
    ck_assert_int_eq(bn_type_is_ternary((bn_type)99), 0);
    /* 256 elements: 64 code bytes, then 0.75f = 0x3f400000 little-endian, at an
     * odd address so an aligned load would be wrong. */
    uint8_t buf[1 + 64 + BN_I2_S_TAIL] = {0};
    uint8_t *data = buf + 1;
    data[64] = 0x00, data[65] = 0x00, data[66] = 0x40, data[67] = 0x3f;
    ck_assert(bn_i2s_tail_scale(data, 256) == 0.75f);
    ck_assert(bn_gguf_f32le(data + 64) == 0.75f);
}
END_TEST

START_TEST(test_info_json)
{
    char args[4096];
    snprintf(args, sizeof args, "'%s'",
             tu_shared("data/tokenizer-tests/ggml-vocab-llama-spm.gguf"));
    cJSON *j = run_json(args);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "format")->valuestring, "gguf");
    /* issue 17: "version" is the tool's (docs/json.md); the file's is "gguf_version" */
    ck_assert_int_eq(cJSON_GetObjectItem(j, "gguf_version")->valueint, 3);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "version")->valuestring, bn_version());
    ck_assert_int_eq(cJSON_GetObjectItem(j, "n_kv")->valueint, 22);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "kv")), 22);
    int seen = 0;
    cJSON *kv;
    cJSON_ArrayForEach(kv, cJSON_GetObjectItem(j, "kv"))
    {
        const char *key = cJSON_GetObjectItem(kv, "key")->valuestring;
        if (strcmp(key, "tokenizer.ggml.tokens") == 0) {
            ck_assert_str_eq(cJSON_GetObjectItem(kv, "elem_type")->valuestring, "string");
            ck_assert_int_eq(cJSON_GetObjectItem(kv, "count")->valueint, 32000);
            cJSON *items = cJSON_GetObjectItem(kv, "items");
            ck_assert_int_eq(cJSON_GetArraySize(items), 8);
            ck_assert_str_eq(cJSON_GetArrayItem(items, 1)->valuestring, "<s>");
            seen++;
        } else if (strcmp(key, "tokenizer.ggml.add_bos_token") == 0) {
            ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(kv, "value")));
            seen++;
        } else if (strcmp(key, "general.architecture") == 0) {
            ck_assert_str_eq(cJSON_GetObjectItem(kv, "value")->valuestring, "llama");
            seen++;
        }
    }
    ck_assert_int_eq(seen, 3);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "totals"),
                                               "bits_per_weight")));
    cJSON_Delete(j);

    /* A file with every tensor type: the tensor table and totals agree with the reader. */
    const char *path = tu_tmp("json.gguf");
    write_everything(path, 64);
    snprintf(args, sizeof args, "--items 2 '%s'", path);
    j = run_json(args);
    bn_gguf *g;
    bn_error e;
    ck_assert_int_eq(bn_gguf_open(path, &g, &e), BN_OK);
    cJSON *ts = cJSON_GetObjectItem(j, "tensors");
    ck_assert_int_eq(cJSON_GetArraySize(ts), (int)N_TYPES);
    for (int64_t i = 0; i < bn_gguf_n_tensors(g); i++) {
        const bn_gguf_tensor *t = bn_gguf_tensor_at(g, i);
        cJSON *jt = cJSON_GetArrayItem(ts, (int)i);
        ck_assert_str_eq(cJSON_GetObjectItem(jt, "name")->valuestring, t->name);
        ck_assert_str_eq(cJSON_GetObjectItem(jt, "type")->valuestring, bn_type_name(t->type));
        ck_assert(cJSON_GetObjectItem(jt, "bytes")->valuedouble == (double)t->nbytes);
        ck_assert(cJSON_GetObjectItem(jt, "offset")->valuedouble == (double)t->offset);
        ck_assert(cJSON_GetArrayItem(cJSON_GetObjectItem(jt, "ne"), 0)->valuedouble ==
                  (double)t->ne[0]);
    }
    bn_gguf_totals sum = bn_gguf_sum(g);
    cJSON *tot = cJSON_GetObjectItem(j, "totals");
    ck_assert(cJSON_GetObjectItem(tot, "parameters")->valuedouble == (double)sum.n_params);
    ck_assert(cJSON_GetObjectItem(tot, "bytes")->valuedouble == (double)sum.n_bytes);
    ck_assert_uint_eq(sum.n_params, 5 * 3 * 3 + 64 * 3 + 512 * 3 * 2 + 256 * 3);
    /* u64 beyond 2^53 is exact, as a string; NUL inside a string becomes U+FFFD */
    cJSON_ArrayForEach(kv, cJSON_GetObjectItem(j, "kv"))
    {
        const char *key = cJSON_GetObjectItem(kv, "key")->valuestring;
        if (strcmp(key, "v.u64") == 0)
            ck_assert_str_eq(cJSON_GetObjectItem(kv, "value")->valuestring,
                             "18446744073709551615");
        if (strcmp(key, "v.strn") == 0)
            ck_assert_str_eq(cJSON_GetObjectItem(kv, "value")->valuestring, "a\xef\xbf\xbd" "b");
        if (strcmp(key, "a.i32") == 0)
            ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(kv, "items")), 2);
    }
    bn_gguf_close(g);
    cJSON_Delete(j);
}
END_TEST
int main(void)
{
    Suite *s = suite_create("gguf");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_copy_kv_roundtrip);
    tcase_add_test(tc, test_writer_exact_bytes);
    tcase_add_test(tc, test_truncation_and_mutation);
    tcase_add_test(tc, test_many_entries_and_v2);
    tcase_add_test(tc, test_getters_refuse_wrong_type);
    tcase_add_test(tc, test_escape_and_format);
    tcase_add_test(tc, test_info_json);
    tcase_add_test(tc, test_ternary_types_and_tail);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
