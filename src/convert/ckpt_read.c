/*
 * ckpt_read.c - moving one tensor's bytes out of a checkpoint
 * (include/bn/checkpoint.h: bn_ckpt_read_raw, bn_ckpt_read_f32, the ranged
 * read): contiguous and strided views of mapped shards (safetensors, legacy
 * PyTorch) and of zip entries (PyTorch), converted to f32 on the way when
 * asked. Which tensors there are is checkpoint.c's.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bn/checkpoint.h"
#include "bn/gguf.h" /* bn_f16_to_f32, bn_bf16_to_f32 */
#include "convert/ckpt_internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoint readers copy little-endian file bytes as host values"
#endif

#define CK_BOUNCE 65536           /* bytes converted per step when reading through a zip */
#define CK_MAP_SLICE (8u << 20)   /* bytes copied from a mapping before its pages are released */

/* ---- dtype conversion --------------------------------------------------------------- */

/* OCP FP8 E4M3 ("fn": no infinities, S.1111.111 is NaN), bias 7. */
static float f8e4m3_to_f32(uint8_t b)
{
    int e = (b >> 3) & 15, m = b & 7;
    float f;
    if (e == 15 && m == 7) f = NAN;
    else if (e == 0) f = ldexpf((float)m, -9);
    else f = ldexpf((float)(8 + m), e - 10);
    return b & 0x80 ? -f : f;
}

/* n contiguous little-endian elements of dt at src to float at dst. */
static void to_f32(const uint8_t *src, bn_ckpt_dtype dt, size_t n, float *dst)
{
#define LOOP(T, expr) do { for (size_t i = 0; i < n; i++) { T x; memcpy(&x, src + i * sizeof x, sizeof x); dst[i] = (expr); } } while (0)
    switch (dt) {
    case BN_CKPT_F64: LOOP(double, (float)x); break;
    case BN_CKPT_F32: memmove(dst, src, n * 4); break;
    case BN_CKPT_F16: {
        size_t done = bnc_have_avx2() ? bnc_f16_to_f32_avx2(src, n, dst) : 0;
        src += 2 * done, dst += done, n -= done;
        LOOP(uint16_t, bn_f16_to_f32(x));
        break;
    }
    case BN_CKPT_BF16: {
        size_t done = bnc_have_avx2() ? bnc_bf16_to_f32_avx2(src, n, dst) : 0;
        src += 2 * done, dst += done, n -= done;
        LOOP(uint16_t, bn_bf16_to_f32(x));
        break;
    }
    case BN_CKPT_I64: LOOP(int64_t, (float)x); break;
    case BN_CKPT_I32: LOOP(int32_t, (float)x); break;
    case BN_CKPT_I16: LOOP(int16_t, (float)x); break;
    case BN_CKPT_I8: LOOP(int8_t, (float)x); break;
    case BN_CKPT_U64: LOOP(uint64_t, (float)x); break;
    case BN_CKPT_U32: LOOP(uint32_t, (float)x); break;
    case BN_CKPT_U16: LOOP(uint16_t, (float)x); break;
    case BN_CKPT_U8: LOOP(uint8_t, (float)x); break;
    case BN_CKPT_BOOL: LOOP(uint8_t, x ? 1.0f : 0.0f); break;
    case BN_CKPT_F8_E4M3: LOOP(uint8_t, f8e4m3_to_f32(x)); break;
    case BN_CKPT_F8_E5M2: LOOP(uint8_t, bn_f16_to_f32((uint16_t)(x << 8))); break;
    case BN_CKPT_DTYPE_COUNT: break;
    }
#undef LOOP
}

/* Move n elements from src to dst (element index at): raw bytes or floats. */
static void put(void *dst, uint64_t at, const uint8_t *src, size_t n, bn_ckpt_dtype dt, int f32)
{
    if (f32) to_f32(src, dt, n, (float *)dst + at);
    else memcpy((uint8_t *)dst + at * bn_ckpt_dtype_size(dt), src, n * bn_ckpt_dtype_size(dt));
}

/* ---- views ---------------------------------------------------------------------------- */

static int is_contiguous(const bn_ckpt_entry *e)
{
    int64_t s = 1;
    for (int i = e->n_dims - 1; i >= 0; i--) {
        if (e->shape[i] != 1 && e->stride[i] != s) return 0;
        s *= e->shape[i];
    }
    return 1;
}

/* Walk a strided view in row-major order; src points at its first element. */
static void gather(const uint8_t *src, const bn_ckpt_entry *e, void *dst, int f32)
{
    size_t es = bn_ckpt_dtype_size(e->dtype);
    int64_t idx[BN_CKPT_MAX_DIMS] = {0};
    uint64_t pos = 0; /* element offset of idx from src */
    for (uint64_t k = 0; k < e->n_el; k++) {
        put(dst, k, src + pos * es, 1, e->dtype, f32);
        for (int d = e->n_dims - 1; d >= 0; d--) { /* odometer */
            if (++idx[d] < e->shape[d]) {
                pos += (uint64_t)e->stride[d];
                break;
            }
            pos -= (uint64_t)(idx[d] - 1) * (uint64_t)e->stride[d];
            idx[d] = 0;
        }
    }
}

/* Drop the pages of a mapped range from our resident set once copied out (they
 * stay in the page cache): reading a mapped checkpoint tensor by tensor then
 * holds about one tensor, not the file. The range's first page goes too, even
 * if it holds bytes before the range; its last partial page stays for the range
 * after it (which starts in that page). So a tensor read in many small pieces
 * (the ternarizer's 64K-element chunks) leaves no page behind per piece; a page
 * dropped while another thread still reads it is only faulted back in. Advice
 * only. */
static void release_pages(const uint8_t *p, uint64_t len)
{
    long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0 || len == 0) return;
    uintptr_t mask = (uintptr_t)pg - 1;
    uintptr_t b = (uintptr_t)p & ~mask, e = ((uintptr_t)p + (uintptr_t)len) & ~mask;
    if (e > b) madvise((void *)b, e - b, MADV_DONTNEED);
}

/* A view inside a mapping (safetensors, legacy PyTorch). Contiguous data is
 * copied in slices whose pages are released at once. */
static void read_mapped(const uint8_t *src, const bn_ckpt_entry *e, void *dst, int f32)
{
    if (!is_contiguous(e)) {
        gather(src, e, dst, f32);
        return;
    }
    size_t es = bn_ckpt_dtype_size(e->dtype), per = CK_MAP_SLICE / es;
    for (uint64_t at = 0; at < e->n_el; at += per) {
        size_t k = e->n_el - at < per ? (size_t)(e->n_el - at) : per;
        put(dst, at, src + at * es, k, e->dtype, f32);
        release_pages(src + at * es, (uint64_t)k * es);
    }
}

/* A sparse view in a stored zip entry: seek to each contiguous run (the
 * innermost dimension when its stride is 1, else single elements) rather than
 * hold the whole span. */
static bn_status read_zip_runs(bn_tz_file *tz, const bn_ckpt_entry *e, void *dst, int f32, bn_error *err)
{
    size_t es = bn_ckpt_dtype_size(e->dtype), per = CK_BOUNCE / es;
    int nd = e->n_dims;
    uint64_t run = nd > 0 && e->stride[nd - 1] == 1 ? (uint64_t)e->shape[nd - 1] : 1;
    int outer = run > 1 ? nd - 1 : nd; /* dimensions the odometer steps */
    bn_tz_reader *r;
    bn_status s = bnc_tz_reader_open(tz, e->storage, e->offset * es, &r, err);
    if (s) return s;
    uint8_t bounce[CK_BOUNCE];
    int64_t idx[BN_CKPT_MAX_DIMS] = {0};
    uint64_t pos = 0; /* element offset of the run from the view's first element */
    for (uint64_t k = 0; k < e->n_el && !s; k += run) {
        s = bnc_tz_reader_seek(r, (e->offset + pos) * es, err);
        for (uint64_t j = 0; j < run && !s; j += per) {
            size_t m = run - j < per ? (size_t)(run - j) : per;
            s = bnc_tz_reader_read(r, bounce, m * es, err);
            if (!s) put(dst, k + j, bounce, m, e->dtype, f32);
        }
        for (int d = outer - 1; d >= 0; d--) { /* odometer */
            if (++idx[d] < e->shape[d]) {
                pos += (uint64_t)e->stride[d];
                break;
            }
            pos -= (uint64_t)(idx[d] - 1) * (uint64_t)e->stride[d];
            idx[d] = 0;
        }
    }
    bnc_tz_reader_close(r);
    return s;
}

/* A strided view in a zip: read the storage span the view touches, then
 * gather; sparse views in stored entries are read run by run instead. */
static bn_status read_zip_strided(bn_tz_file *tz, const bn_ckpt_entry *e, void *dst, int f32, bn_error *err)
{
    size_t es = bn_ckpt_dtype_size(e->dtype);
    uint64_t last = 0; /* elements past offset: checked against the storage by pickle.c */
    for (int i = 0; i < e->n_dims; i++) last += (uint64_t)(e->shape[i] - 1) * (uint64_t)e->stride[i];
    uint64_t span = (last + 1) * es;
    if (bnc_tz_storage_seekable(tz, e->storage) && span / 2 > e->nbytes + CK_BOUNCE)
        return read_zip_runs(tz, e, dst, f32, err);
    if (span > SIZE_MAX) return bn_error_set(err, BN_ELIMIT, "view spans %llu bytes", (unsigned long long)span);
    uint8_t *buf = malloc((size_t)span);
    if (!buf) return bn_error_set(err, BN_ENOMEM, "out of memory for a %llu-byte view span", (unsigned long long)span);
    bn_tz_reader *r;
    bn_status s = bnc_tz_reader_open(tz, e->storage, e->offset * es, &r, err);
    if (!s) {
        s = bnc_tz_reader_read(r, buf, (size_t)span, err);
        bnc_tz_reader_close(r);
    }
    if (!s) gather(buf, e, dst, f32);
    free(buf);
    return s;
}

/* Elements [first, first + n) of a contiguous view in a zip entry (a stored
 * entry seeks; a deflated one inflates and drops what comes before first). */
static bn_status read_zip_span(bn_tz_file *tz, const bn_ckpt_entry *e, uint64_t first, uint64_t n,
                               void *dst, int f32, bn_error *err)
{
    size_t es = bn_ckpt_dtype_size(e->dtype);
    bn_tz_reader *r;
    bn_status s = bnc_tz_reader_open(tz, e->storage, (e->offset + first) * es, &r, err);
    if (s) return s;
    if (!f32 || e->dtype == BN_CKPT_F32) {
        s = bnc_tz_reader_read(r, dst, (size_t)(n * es), err);
    } else {
        uint8_t bounce[CK_BOUNCE];
        size_t per = CK_BOUNCE / es;
        for (uint64_t at = 0; at < n && !s; at += per) {
            size_t k = n - at < per ? (size_t)(n - at) : per;
            s = bnc_tz_reader_read(r, bounce, k * es, err);
            if (!s) to_f32(bounce, e->dtype, k, (float *)dst + at);
        }
    }
    bnc_tz_reader_close(r);
    return s;
}

static bn_status read_zip(bn_tz_file *tz, const bn_ckpt_entry *e, void *dst, int f32, bn_error *err)
{
    if (!is_contiguous(e)) return read_zip_strided(tz, e, dst, f32, err);
    return read_zip_span(tz, e, 0, e->n_el, dst, f32, err);
}

/* ---- the API --------------------------------------------------------------------------- */

static const ck_tensor *own_tensor(const bn_ckpt *ck, const bn_ckpt_tensor *pt)
{
    return pt && pt->index < ck->n && &ck->t[pt->index]->pub == pt ? ck->t[pt->index] : NULL;
}

/* First element of a view in a mapped shard (safetensors: byte offset; legacy
 * PyTorch: element offset into its storage). */
static const uint8_t *mapped_view(const ck_shard *sh, const bn_ckpt_entry *e)
{
    return sh->st ? bnc_st_base(sh->st) + e->offset
                  : bnc_tl_storage_data(sh->tl, e->storage) + e->offset * bn_ckpt_dtype_size(e->dtype);
}

static bn_status read_tensor(bn_ckpt *ck, const bn_ckpt_tensor *pt, void *dst, size_t cap, int f32, bn_error *err)
{
    const ck_tensor *t = own_tensor(ck, pt);
    if (!t) return bn_error_set(err, BN_EINVAL, "tensor handle does not belong to this checkpoint");
    const bn_ckpt_entry *e = t->e;
    uint64_t need = f32 ? e->n_el : e->nbytes;
    if (need > cap)
        return bn_error_set(err, BN_ELIMIT, "tensor '%s': buffer of %zu %s is smaller than the %llu needed", t->name, cap,
                            f32 ? "floats" : "bytes", (unsigned long long)need);
    if (e->n_el == 0) return BN_OK;
    const ck_shard *sh = &ck->shards[t->shard];
    bn_status s = BN_OK;
    if (sh->st || sh->tl)
        read_mapped(mapped_view(sh, e), e, dst, f32);
    else
        s = read_zip(sh->tz, e, dst, f32, err);
    if (s) bn_error_prefix(err, "%s: tensor '%s'", sh->name, t->name);
    return s;
}

/* ---- pieces of a tensor (streaming) ---- */

int bn_ckpt_can_stream(const bn_ckpt *ck, const bn_ckpt_tensor *pt)
{
    const ck_tensor *t = own_tensor(ck, pt);
    if (!t || !is_contiguous(t->e)) return 0;
    const ck_shard *sh = &ck->shards[t->shard];
    return sh->st || sh->tl || bnc_tz_storage_seekable(sh->tz, t->e->storage);
}

int bnc_ckpt_parallel_reads(const bn_ckpt *ck, const bn_ckpt_tensor *pt)
{
    const ck_tensor *t = own_tensor(ck, pt);
    if (!t || !is_contiguous(t->e)) return 0;
    const ck_shard *sh = &ck->shards[t->shard];
    return sh->st || sh->tl;
}

bn_status bn_ckpt_read_f32_range(bn_ckpt *ck, const bn_ckpt_tensor *pt, uint64_t first, uint64_t n,
                                 float *dst, bn_error *err)
{
    const ck_tensor *t = own_tensor(ck, pt);
    if (!t) return bn_error_set(err, BN_EINVAL, "tensor handle does not belong to this checkpoint");
    const bn_ckpt_entry *e = t->e;
    if (first > e->n_el || n > e->n_el - first)
        return bn_error_set(err, BN_EINVAL, "tensor '%s': elements %llu..+%llu are outside its %llu",
                            t->name, (unsigned long long)first, (unsigned long long)n,
                            (unsigned long long)e->n_el);
    if (!bn_ckpt_can_stream(ck, pt))
        return bn_error_set(err, BN_EINVAL, "tensor '%s' cannot be read in pieces (a strided view "
                            "or a compressed zip entry): read it whole", t->name);
    if (n == 0) return BN_OK;
    const ck_shard *sh = &ck->shards[t->shard];
    if (sh->st || sh->tl) {
        bn_ckpt_entry piece = *e;  /* the same contiguous view, shifted and shortened */
        piece.n_dims = 1;
        piece.shape[0] = (int64_t)n;
        piece.stride[0] = 1;
        piece.n_el = n;
        read_mapped(mapped_view(sh, e) + first * bn_ckpt_dtype_size(e->dtype), &piece, dst, 1);
        return BN_OK;
    }
    bn_status s = read_zip_span(sh->tz, e, first, n, dst, 1, err);
    if (s) bn_error_prefix(err, "%s: tensor '%s'", sh->name, t->name);
    return s;
}

bn_status bn_ckpt_read_raw(bn_ckpt *ck, const bn_ckpt_tensor *t, void *dst, size_t cap, bn_error *err)
{
    return read_tensor(ck, t, dst, cap, 0, err);
}

bn_status bn_ckpt_read_f32(bn_ckpt *ck, const bn_ckpt_tensor *t, float *dst, size_t cap, bn_error *err)
{
    return read_tensor(ck, t, dst, cap, 1, err);
}
