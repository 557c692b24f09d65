/*
 * pickle.c - a pickle machine that can only build data, for torch.save's
 * data.pkl.
 *
 * It runs pickle protocol 2 plus the protocol-4 extras torch.save may emit
 * (FRAME, SHORT_BINUNICODE, BINUNICODE8, MEMOIZE, STACK_GLOBAL). Values are
 * None, bools, 64-bit ints, floats, strings, bytes, tuples, lists, dicts,
 * opaque leaves (a set, a complex, a torch.device or dtype: kept as "something
 * that is not a weight") and four things no pickle of ours may forge:
 *   - a reference to a global of torch's weights-only allow-list
 *     (torch/_weights_only_unpickler.py, _get_allowed_globals; GLOBAL or
 *     STACK_GLOBAL, "__builtin__" read as "builtins" as torch does):
 *     collections.OrderedDict/Counter, _codecs.encode (how protocol 2 pickles
 *     bytes), builtins.set/bytearray/complex, torch.Size, torch.device,
 *     torch.Tensor, torch.nn.parameter.Parameter, torch dtypes, qschemes and
 *     tensor classes, torch.serialization._get_layout, the torch.*Storage
 *     classes and the torch._utils tensor rebuilders; calling one builds
 *     its value, never runs anything. Rebuilders torch allows for tensors that
 *     cannot be dense weights (sparse, quantized, meta, subclass, numpy,
 *     _rebuild_tensor_v3's untyped storages) are refused by name as
 *     unsupported. Everything else (frozenset, os.system, builtins.eval, ...)
 *     is refused as not allowed, modules sys/os/posix/nt always;
 *   - a storage, from BINPERSID ('storage', torch.<T>Storage, key, location, numel);
 *   - a tensor, from REDUCE on _rebuild_tensor_v2 (a view: storage, offset,
 *     sizes, strides, all in elements, bounds-checked here);
 *   - an OrderedDict, from REDUCE on collections.OrderedDict with no arguments;
 *     BUILD on it (module.state_dict()'s _metadata) is accepted and discarded.
 * Every other callable, INST/OBJ/NEWOBJ, extension codes and unknown opcodes
 * are rejected with their name. Nothing is ever called or imported.
 *
 * Limits, all proportional to the pickle length n: values live in an arena of at
 * most 64n + 1 MiB; the stack, the mark stack and the memo hold at most n
 * entries; the walk that names the tensors stops at depth 100 and after
 * visiting 4n + 1024 values (shared references cannot blow it up).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn/util.h"
#include "convert/ckpt_internal.h"
#include "util/strset.h"
#include "util/utf8.h"

#define PKL_MAX_DEPTH 100

/* ---- values ---------------------------------------------------------------- */

typedef enum {
    V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_BYTES, V_TUPLE, V_LIST, V_DICT,
    V_GLOBAL, V_STORAGE, V_TENSOR, V_OPAQUE
} vkind;

typedef enum {
    G_ORDERED_DICT, G_REBUILD_TENSOR_V2, G_REBUILD_PARAMETER, G_REBUILD_PARAMETER_WITH_STATE, G_STORAGE,
    G_COUNTER,            /* collections.Counter(dict) -> a dict */
    G_CODECS_ENCODE,      /* _codecs.encode(str, 'latin1') -> bytes (protocol 2's bytes) */
    G_BYTEARRAY,          /* builtins.bytearray() / (str, 'latin-1') / (bytes) -> bytes */
    G_SET,                /* builtins.set() / (list) -> opaque */
    G_COMPLEX,            /* builtins.complex(re, im) -> opaque */
    G_SIZE,               /* torch.Size(tuple) -> the tuple */
    G_DEVICE,             /* torch.device(type[, index]) -> opaque */
    G_LAYOUT,             /* torch.serialization._get_layout(name) -> opaque */
    G_FROM_TYPE_V2,       /* torch._tensor._rebuild_from_type_v2(func, type, args, state) */
    G_VALUE,              /* a dtype, qscheme, tensor class or Parameter: a value, not called */
    G_UNSUPPORTED         /* a rebuilder torch allows whose tensors cannot be dense weights */
} gkind;

typedef struct pv pv;
typedef struct {
    uint32_t storage;
    uint64_t offset;
    int n_dims;
    int64_t shape[BN_CKPT_MAX_DIMS], stride[BN_CKPT_MAX_DIMS];
} ptensor;

struct pv {
    vkind kind;
    union {
        int64_t i;                                        /* V_BOOL, V_INT */
        double f;                                         /* V_FLOAT */
        struct { const char *s; size_t n; } str;          /* V_STR, V_BYTES: NUL-terminated copy */
        struct { pv **v; size_t n, cap; int ordered; } seq; /* V_TUPLE, V_LIST; V_DICT: 2n, key/value */
        struct { gkind g; bn_ckpt_dtype dtype; const char *name; } glob; /* V_GLOBAL; name: static */
        uint32_t storage;                                 /* V_STORAGE */
        ptensor *t;                                       /* V_TENSOR */
    } u;
};

typedef struct block { struct block *next; size_t used, size; } block;

typedef struct {
    const uint8_t *p;    /* (n) the pickle */
    size_t n, pos, op_at;
    const char *label, *part;
    unsigned flags;
    bn_error *err;
    /* arena */
    block *blocks;
    size_t arena_used, arena_cap;
    /* stacks */
    pv **stack; size_t sn, scap;
    size_t *marks; size_t mn, mcap;
    /* memo: open addressing, key -> value */
    uint64_t *mkeys; pv **mvals; size_t mslots, mcount;
    bnu_strset skeys;    /* storage key -> storage index */
    size_t limit;        /* cap for stack, marks and memo entries */
    bn_pkl_result *res;
} pm;

static bn_status fail(pm *m, bn_status code, const char *fmt, ...) BN_PRINTF(3, 4);
static bn_status fail(pm *m, bn_status code, const char *fmt, ...)
{
    char msg[BN_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return bn_error_set(m->err, code, "%s: %s byte %zu: %s", m->label, m->part, m->op_at, msg);
}

static void *arena_alloc(pm *m, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (size > m->arena_cap - m->arena_used) return NULL;
    block *b = m->blocks;
    if (!b || b->size - b->used < size) {
        size_t bs = size > 65536 ? size : 65536;
        b = malloc(sizeof(block) + 16 + bs);
        if (!b) return NULL;
        b->next = m->blocks;
        b->used = 0;
        b->size = bs;
        m->blocks = b;
    }
    void *r = (uint8_t *)(b + 1) + 16 + b->used; /* header is padded to keep 16-byte alignment */
    b->used += size;
    m->arena_used += size;
    return r;
}

static pv *newv(pm *m, vkind k)
{
    pv *v = arena_alloc(m, sizeof *v);
    if (!v) return NULL;
    memset(v, 0, sizeof *v);
    v->kind = k;
    return v;
}

#define NOMEM(m) fail((m), BN_ELIMIT, "value memory exceeds %zu bytes (64 per pickle byte)", (m)->arena_cap)

/* Append to a tuple/list/dict body, growing it inside the arena. */
static bn_status seq_push(pm *m, pv *c, pv *x)
{
    if (c->u.seq.n == c->u.seq.cap) {
        size_t nc = c->u.seq.cap ? 2 * c->u.seq.cap : 4;
        pv **nv = arena_alloc(m, nc * sizeof *nv);
        if (!nv) return NOMEM(m);
        if (c->u.seq.n) memcpy(nv, c->u.seq.v, c->u.seq.n * sizeof *nv);
        c->u.seq.v = nv;
        c->u.seq.cap = nc;
    }
    c->u.seq.v[c->u.seq.n++] = x;
    return BN_OK;
}

static const char *kind_name(const pv *v)
{
    static const char *names[] = {"None", "bool", "int", "float", "str", "bytes", "tuple", "list", "dict",
                                  "callable", "storage", "tensor", "opaque value"};
    return names[v->kind];
}

/* ---- stacks and memo ---------------------------------------------------------- */

static bn_status push(pm *m, pv *v)
{
    if (!v) return NOMEM(m);
    if (m->sn == m->scap) {
        if (m->scap >= m->limit) return fail(m, BN_ELIMIT, "stack deeper than %zu entries", m->limit);
        size_t nc = m->scap ? 2 * m->scap : 64;
        pv **ns = realloc(m->stack, nc * sizeof *ns);
        if (!ns) return fail(m, BN_ENOMEM, "out of memory for the stack");
        m->stack = ns;
        m->scap = nc;
    }
    m->stack[m->sn++] = v;
    return BN_OK;
}

/* Entries above the top mark (or the whole stack when there is none). */
static size_t stack_floor(const pm *m) { return m->mn ? m->marks[m->mn - 1] : 0; }

static bn_status pop(pm *m, pv **out)
{
    if (m->sn == 0 || m->sn <= stack_floor(m)) return fail(m, BN_EINVAL, "pop from an empty stack");
    *out = m->stack[--m->sn];
    return BN_OK;
}

static bn_status top(pm *m, pv **out)
{
    if (m->sn == 0 || m->sn <= stack_floor(m)) return fail(m, BN_EINVAL, "empty stack");
    *out = m->stack[m->sn - 1];
    return BN_OK;
}

static bn_status pop_mark(pm *m, size_t *at)
{
    if (m->mn == 0) return fail(m, BN_EINVAL, "no MARK on the stack");
    *at = m->marks[--m->mn];
    return BN_OK;
}

static uint64_t hash64(uint64_t x)
{
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33;
    return x;
}

static bn_status memo_put(pm *m, uint64_t key, pv *v)
{
    if (2 * (m->mcount + 1) > m->mslots) {
        if (m->mcount >= m->limit) return fail(m, BN_ELIMIT, "memo larger than %zu entries", m->limit);
        size_t ns = m->mslots ? 2 * m->mslots : 64;
        uint64_t *nk = malloc(ns * sizeof *nk);
        pv **nv = calloc(ns, sizeof *nv);
        if (!nk || !nv) {
            free(nk); free(nv);
            return fail(m, BN_ENOMEM, "out of memory for the memo");
        }
        for (size_t i = 0; i < m->mslots; i++) {
            if (!m->mvals[i]) continue;
            size_t j = hash64(m->mkeys[i]) & (ns - 1);
            while (nv[j]) j = (j + 1) & (ns - 1);
            nk[j] = m->mkeys[i];
            nv[j] = m->mvals[i];
        }
        free(m->mkeys); free(m->mvals);
        m->mkeys = nk; m->mvals = nv; m->mslots = ns;
    }
    size_t j = hash64(key) & (m->mslots - 1);
    while (m->mvals[j] && m->mkeys[j] != key) j = (j + 1) & (m->mslots - 1);
    if (!m->mvals[j]) m->mcount++;
    m->mkeys[j] = key;
    m->mvals[j] = v;
    return BN_OK;
}

static bn_status memo_get(pm *m, uint64_t key)
{
    if (m->mslots) {
        size_t j = hash64(key) & (m->mslots - 1);
        for (; m->mvals[j]; j = (j + 1) & (m->mslots - 1))
            if (m->mkeys[j] == key) return push(m, m->mvals[j]);
    }
    return fail(m, BN_EINVAL, "memo slot %llu is unset", (unsigned long long)key);
}

/* ---- reading the byte stream ---------------------------------------------------- */

static bn_status need(pm *m, size_t k, const uint8_t **out)
{
    if (m->n - m->pos < k)
        return fail(m, BN_EINVAL, "truncated: operand needs %zu bytes, %zu remain", k, m->n - m->pos);
    *out = m->p + m->pos;
    m->pos += k;
    return BN_OK;
}

static uint64_t le(const uint8_t *b, int k)
{
    uint64_t v = 0;
    for (int i = k - 1; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

static bn_status push_str(pm *m, vkind k, uint64_t len)
{
    const uint8_t *b = NULL;
    if (len > m->n) return fail(m, BN_EINVAL, "string length %llu exceeds the pickle", (unsigned long long)len);
    bn_status s = need(m, (size_t)len, &b);
    if (s) return s;
    if (k == V_STR && bnu_utf8_valid_prefix(b, (size_t)len) != len) return fail(m, BN_EINVAL, "string is not valid UTF-8");
    pv *v = newv(m, k);
    char *c = v ? arena_alloc(m, (size_t)len + 1) : NULL;
    if (!c) return NOMEM(m);
    memcpy(c, b, (size_t)len);
    c[len] = '\0';
    v->u.str.s = c;
    v->u.str.n = (size_t)len;
    return push(m, v);
}

static bn_status push_int(pm *m, int64_t i)
{
    pv *v = newv(m, V_INT);
    if (v) v->u.i = i;
    return push(m, v);
}

/* ---- globals: the allow-list ------------------------------------------------------ */

static const struct { const char *name; bn_ckpt_dtype dt; } storage_types[] = {
    {"FloatStorage", BN_CKPT_F32}, {"DoubleStorage", BN_CKPT_F64}, {"HalfStorage", BN_CKPT_F16},
    {"BFloat16Storage", BN_CKPT_BF16}, {"LongStorage", BN_CKPT_I64}, {"IntStorage", BN_CKPT_I32},
    {"ShortStorage", BN_CKPT_I16}, {"CharStorage", BN_CKPT_I8}, {"ByteStorage", BN_CKPT_U8},
    {"BoolStorage", BN_CKPT_BOOL},
};

/* torch's allow-list beyond the storages (see the header). The names are
 * matched exactly, module and attribute. */
static const struct { const char *mod, *name; gkind g; } allowed[] = {
    {"collections", "OrderedDict", G_ORDERED_DICT},
    {"collections", "Counter", G_COUNTER},
    {"_codecs", "encode", G_CODECS_ENCODE},
    {"builtins", "bytearray", G_BYTEARRAY},
    {"builtins", "set", G_SET},
    {"builtins", "complex", G_COMPLEX},
    {"torch", "Size", G_SIZE},
    {"torch", "device", G_DEVICE},
    {"torch", "Tensor", G_VALUE},
    {"torch.nn.parameter", "Parameter", G_VALUE},
    {"torch.serialization", "_get_layout", G_LAYOUT},
    {"torch._tensor", "_rebuild_from_type_v2", G_FROM_TYPE_V2},
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_TENSOR_V2},
    {"torch._utils", "_rebuild_parameter", G_REBUILD_PARAMETER},
    {"torch._utils", "_rebuild_parameter_with_state", G_REBUILD_PARAMETER_WITH_STATE},
    {"torch._utils", "_rebuild_tensor", G_UNSUPPORTED},
    {"torch._utils", "_rebuild_tensor_v3", G_UNSUPPORTED},
    {"torch._utils", "_rebuild_qtensor", G_UNSUPPORTED},
    {"torch._utils", "_rebuild_sparse_tensor", G_UNSUPPORTED},
    {"torch._utils", "_rebuild_sparse_csr_tensor", G_UNSUPPORTED},
    {"torch._utils", "_rebuild_meta_tensor_no_storage", G_UNSUPPORTED},
    {"torch._utils", "_rebuild_wrapper_subclass", G_UNSUPPORTED},
    {"torch._utils", "_rebuild_device_tensor_from_numpy", G_UNSUPPORTED},
    {"torch._utils", "_rebuild_device_tensor_from_cpu_tensor", G_UNSUPPORTED},
};

/* Attributes of module torch that are plain values: dtypes (their canonical
 * names, as str(dtype) spells them), quantization schemes, tensor classes. */
static const char *const torch_values[] = {
    "float64", "float32", "float16", "bfloat16", "complex32", "complex64", "complex128",
    "int64", "int32", "int16", "int8", "uint8", "bool", "uint16", "uint32", "uint64",
    "int1", "int2", "int3", "int4", "int5", "int6", "int7",
    "uint1", "uint2", "uint3", "uint4", "uint5", "uint6", "uint7",
    "qint8", "quint8", "qint32", "quint4x2", "quint2x4",
    "float8_e5m2", "float8_e4m3fn", "float8_e5m2fnuz", "float8_e4m3fnuz",
    "bits1x8", "bits2x4", "bits4x2", "bits8", "bits16",
    "per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric",
    "per_channel_affine_float_qparams",
    "DoubleTensor", "FloatTensor", "HalfTensor", "BFloat16Tensor", "LongTensor", "IntTensor",
    "ShortTensor", "CharTensor", "ByteTensor", "BoolTensor",
};

/* Modules torch refuses even when a user allow-lists something from them. */
static const char *const blocked_modules[] = {"sys", "os", "posix", "nt"};

static int str_is(const char *s, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

static bn_status push_global(pm *m, const char *mod, size_t ml, const char *name, size_t nl)
{
    pv *v = newv(m, V_GLOBAL);
    if (!v) return NOMEM(m);
    /* Protocol 2 writes Python 2 module names; torch maps them back. */
    if (str_is(mod, ml, "__builtin__")) {
        mod = "builtins";
        ml = strlen(mod);
    }
    int blocked = 0;
    for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++)
        if (str_is(mod, ml, allowed[i].mod) && str_is(name, nl, allowed[i].name)) {
            v->u.glob.g = allowed[i].g;
            v->u.glob.name = allowed[i].name;
            return push(m, v);
        }
    if (str_is(mod, ml, "torch")) {
        for (size_t i = 0; i < sizeof storage_types / sizeof *storage_types; i++)
            if (str_is(name, nl, storage_types[i].name)) {
                v->u.glob.g = G_STORAGE;
                v->u.glob.dtype = storage_types[i].dt;
                v->u.glob.name = storage_types[i].name;
                return push(m, v);
            }
        for (size_t i = 0; i < sizeof torch_values / sizeof *torch_values; i++)
            if (str_is(name, nl, torch_values[i])) {
                v->u.glob.g = G_VALUE;
                v->u.glob.name = torch_values[i];
                return push(m, v);
            }
    }
    for (size_t i = 0; i < sizeof blocked_modules / sizeof *blocked_modules; i++)
        blocked |= str_is(mod, ml, blocked_modules[i]);
    /* print at most 80 bytes of each, with control bytes shown as '?' */
    char mb[81], nb[81];
    size_t a = ml < 80 ? ml : 80, b = nl < 80 ? nl : 80;
    for (size_t i = 0; i < a; i++) mb[i] = (mod[i] < 0x20 || mod[i] == 0x7f) ? '?' : mod[i];
    for (size_t i = 0; i < b; i++) nb[i] = (name[i] < 0x20 || name[i] == 0x7f) ? '?' : name[i];
    mb[a] = nb[b] = '\0';
    if (blocked)
        return fail(m, BN_EUNSUPPORTED, "global '%s.%s' is not allowed: module '%s' never is (torch blocks "
                    "it too)", mb, nb, mb);
    return fail(m, BN_EUNSUPPORTED, "global '%s.%s' is not allowed (only what torch.load(weights_only=True) "
                "accepts: containers, torch tensors, storages, dtypes and devices)", mb, nb);
}

/* ---- building storages and tensors --------------------------------------------------- */

/* BINPERSID: ('storage', torch.<T>Storage, key, location, numel). */
static bn_status persistent_load(pm *m, pv *pid)
{
    size_t want = m->flags & BN_PKL_LEGACY ? 6 : 5;
    if (pid->kind != V_TUPLE || pid->u.seq.n != want)
        return fail(m, BN_EINVAL, "persistent id is a %s, not a %zu-tuple ('storage', type, key, location, numel%s)",
                    kind_name(pid), want, want == 6 ? ", view_metadata" : "");
    pv **a = pid->u.seq.v;
    if (want == 6 && a[5]->kind != V_NONE)
        return fail(m, BN_EUNSUPPORTED, "storage views (view_metadata) of the legacy format are not supported");
    if (a[0]->kind != V_STR || strcmp(a[0]->u.str.s, "storage") != 0)
        return fail(m, BN_EUNSUPPORTED, "persistent id of kind '%s' (only 'storage')",
                    a[0]->kind == V_STR ? a[0]->u.str.s : kind_name(a[0]));
    if (a[1]->kind != V_GLOBAL || a[1]->u.glob.g != G_STORAGE)
        return fail(m, BN_EINVAL, "persistent id storage type is a %s, not a torch storage class", kind_name(a[1]));
    if (a[2]->kind != V_STR || a[2]->u.str.n == 0 || a[2]->u.str.n > 200 ||
        strlen(a[2]->u.str.s) != a[2]->u.str.n || strchr(a[2]->u.str.s, '/') || strcmp(a[2]->u.str.s, "..") == 0 ||
        strcmp(a[2]->u.str.s, ".") == 0)
        return fail(m, BN_EINVAL, "storage key is not a plain name of 1..200 bytes");
    if (a[3]->kind != V_STR) return fail(m, BN_EINVAL, "storage location is a %s, not a str", kind_name(a[3]));
    if (a[4]->kind != V_INT || a[4]->u.i < 0)
        return fail(m, BN_EINVAL, "storage '%s' has a bad element count", a[2]->u.str.s);
    bn_ckpt_dtype dt = a[1]->u.glob.dtype;
    uint64_t numel = (uint64_t)a[4]->u.i;
    bn_pkl_result *r = m->res;
    size_t klen = a[2]->u.str.n;
    int64_t prev = bnu_strset_find(&m->skeys, a[2]->u.str.s, klen);
    size_t idx = prev >= 0 ? (size_t)prev : r->n_storages;
    if (prev >= 0) {
        if (r->storages[idx].dtype != dt || r->storages[idx].numel != numel)
            return fail(m, BN_EINVAL, "storage '%s' is described twice, differently", a[2]->u.str.s);
    } else {
        if (r->n_storages >= m->limit) return fail(m, BN_ELIMIT, "too many storages");
        bn_pkl_storage *ns = realloc(r->storages, (r->n_storages + 1) * sizeof *ns);
        if (!ns) return fail(m, BN_ENOMEM, "out of memory for storages");
        r->storages = ns;
        char *key = strdup(a[2]->u.str.s);
        if (!key) return fail(m, BN_ENOMEM, "out of memory for storages");
        ns[idx].key = key;
        ns[idx].dtype = dt;
        ns[idx].numel = numel;
        r->n_storages++;
        if (bnu_strset_add(&m->skeys, key, klen, (int64_t)idx, NULL) < 0)
            return fail(m, BN_ENOMEM, "out of memory for storages");
    }
    pv *v = newv(m, V_STORAGE);
    if (v) v->u.storage = (uint32_t)idx;
    return push(m, v);
}

/* A tuple of n_dims non-negative ints into out[]. */
static bn_status int_tuple(pm *m, const pv *t, const char *what, int64_t *out, int *n)
{
    if (t->kind != V_TUPLE) return fail(m, BN_EINVAL, "tensor %s is a %s, not a tuple", what, kind_name(t));
    if (t->u.seq.n > BN_CKPT_MAX_DIMS)
        return fail(m, BN_EUNSUPPORTED, "tensor has %zu dimensions (at most %d supported)", t->u.seq.n,
                    BN_CKPT_MAX_DIMS);
    for (size_t i = 0; i < t->u.seq.n; i++) {
        const pv *x = t->u.seq.v[i];
        if (x->kind != V_INT || x->u.i < 0)
            return fail(m, BN_EINVAL, "tensor %s[%zu] is not a non-negative int", what, i);
        out[i] = x->u.i;
    }
    *n = (int)t->u.seq.n;
    return BN_OK;
}

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
 * backward_hooks[, metadata]). The view must lie inside the storage. */
static bn_status rebuild_tensor(pm *m, const pv *args)
{
    if (args->kind != V_TUPLE || args->u.seq.n < 6 || args->u.seq.n > 7)
        return fail(m, BN_EINVAL, "_rebuild_tensor_v2 takes 6 or 7 arguments, got a %s of %zu", kind_name(args),
                    args->kind == V_TUPLE ? args->u.seq.n : (size_t)0);
    pv **a = args->u.seq.v;
    if (a[0]->kind != V_STORAGE) return fail(m, BN_EINVAL, "tensor storage is a %s", kind_name(a[0]));
    if (a[1]->kind != V_INT || a[1]->u.i < 0) return fail(m, BN_EINVAL, "tensor storage offset is not a non-negative int");
    ptensor *t = arena_alloc(m, sizeof *t);
    if (!t) return NOMEM(m);
    memset(t, 0, sizeof *t);
    t->storage = a[0]->u.storage;
    t->offset = (uint64_t)a[1]->u.i;
    int nd_size, nd_stride;
    bn_status s = int_tuple(m, a[2], "size", t->shape, &nd_size);
    if (!s) s = int_tuple(m, a[3], "stride", t->stride, &nd_stride);
    if (s) return s;
    if (nd_size != nd_stride)
        return fail(m, BN_EINVAL, "tensor has %d sizes but %d strides", nd_size, nd_stride);
    t->n_dims = nd_size;
    /* Last element touched: offset + sum (size-1)*stride; it must be < numel. */
    const bn_pkl_storage *st = &m->res->storages[t->storage];
    uint64_t last = t->offset, n_el = 1;
    for (int i = 0; i < t->n_dims; i++)
        if (bn_mul_ovf_u64(n_el, (uint64_t)t->shape[i], &n_el))
            return fail(m, BN_EINVAL, "tensor element count overflows");
    if (n_el > 0) {
        for (int i = 0; i < t->n_dims; i++) {
            uint64_t step;
            if (bn_mul_ovf_u64((uint64_t)(t->shape[i] - 1), (uint64_t)t->stride[i], &step) ||
                bn_add_ovf_u64(last, step, &last))
                return fail(m, BN_EINVAL, "tensor view on storage '%s' overflows", st->key);
        }
        if (last >= st->numel)
            return fail(m, BN_EINVAL, "tensor view (offset %llu) reaches element %llu of storage '%s' which has %llu",
                        (unsigned long long)t->offset, (unsigned long long)last, st->key,
                        (unsigned long long)st->numel);
    }
    pv *v = newv(m, V_TENSOR);
    if (v) v->u.t = t;
    return push(m, v);
}

static bn_status push_opaque(pm *m, const char *what)
{
    pv *v = newv(m, V_OPAQUE);
    if (v) v->u.glob.name = what;
    return push(m, v);
}

/* bytes from a str whose code points are all < 256, as _codecs.encode(s,
 * 'latin1') makes them (protocol 2 pickles bytes that way); UTF-8 codecs
 * give the string's own bytes. */
static bn_status push_encoded(pm *m, const pv *str, const pv *codec)
{
    if (str->kind != V_STR || !codec || codec->kind != V_STR)
        return fail(m, BN_EINVAL, "_codecs.encode needs (str, codec name)");
    const char *c = codec->u.str.s;
    int latin1 = !strcmp(c, "latin1") || !strcmp(c, "latin-1") || !strcmp(c, "iso-8859-1");
    if (!latin1 && strcmp(c, "utf-8") != 0 && strcmp(c, "utf8") != 0)
        return fail(m, BN_EUNSUPPORTED, "_codecs.encode with codec '%.40s' (latin1 or utf-8 only)", c);
    const uint8_t *b = (const uint8_t *)str->u.str.s;
    size_t n = str->u.str.n, k = 0;
    pv *v = newv(m, V_BYTES);
    char *out = v ? arena_alloc(m, n + 1) : NULL;
    if (!out) return NOMEM(m);
    for (size_t i = 0; i < n; i++) {
        if (!latin1 || b[i] < 0x80) {
            out[k++] = (char)b[i];
        } else if ((b[i] == 0xc2 || b[i] == 0xc3) && i + 1 < n) { /* U+0080..U+00FF */
            out[k++] = (char)(((b[i] & 0x03) << 6) | (b[i + 1] & 0x3f));
            i++;
        } else {
            return fail(m, BN_EINVAL, "_codecs.encode: character beyond U+00FF cannot be latin1");
        }
    }
    out[k] = '\0';
    v->u.str.s = out;
    v->u.str.n = k;
    return push(m, v);
}

static int is_number(const pv *v)
{
    return v->kind == V_INT || v->kind == V_FLOAT || v->kind == V_BOOL;
}

static bn_status apply(pm *m, const pv *f, pv *args, int depth);

/* _rebuild_from_type_v2(func, new_type, args, state): func(*args) for a
 * plain Tensor or Parameter; the state (attributes) is dropped. */
static bn_status rebuild_from_type(pm *m, pv *args, int depth)
{
    if (args->kind != V_TUPLE || args->u.seq.n != 4)
        return fail(m, BN_EINVAL, "_rebuild_from_type_v2 takes (func, type, args, state)");
    pv **a = args->u.seq.v;
    if (a[1]->kind != V_GLOBAL || a[1]->u.glob.g != G_VALUE ||
        (strcmp(a[1]->u.glob.name, "Tensor") != 0 && strcmp(a[1]->u.glob.name, "Parameter") != 0))
        return fail(m, BN_EUNSUPPORTED, "_rebuild_from_type_v2 of a tensor subclass (only torch.Tensor and "
                    "Parameter)");
    if (a[0]->kind != V_GLOBAL || a[2]->kind != V_TUPLE)
        return fail(m, BN_EINVAL, "_rebuild_from_type_v2 needs a rebuild function and an argument tuple");
    if (depth > 2) return fail(m, BN_ELIMIT, "_rebuild_from_type_v2 nested too deeply");
    return apply(m, a[0], a[2], depth + 1);
}

/* Call an allow-listed global: build the value it would return. */
static bn_status apply(pm *m, const pv *f, pv *args, int depth)
{
    const char *fname = f->u.glob.name ? f->u.glob.name : "?";
    size_t na = args->kind == V_TUPLE ? args->u.seq.n : 0;
    pv **a = args->kind == V_TUPLE ? args->u.seq.v : NULL;
    if (args->kind != V_TUPLE) return fail(m, BN_EINVAL, "%s called with a %s, not a tuple", fname, kind_name(args));
    switch (f->u.glob.g) {
    case G_ORDERED_DICT: {
        if (na != 0)
            return fail(m, BN_EUNSUPPORTED, "collections.OrderedDict called with arguments");
        pv *d = newv(m, V_DICT);
        if (d) d->u.seq.ordered = 1;
        return push(m, d);
    }
    case G_COUNTER:
        if (na == 0) return push(m, newv(m, V_DICT));
        if (na == 1 && a[0]->kind == V_DICT) return push(m, a[0]);
        return fail(m, BN_EINVAL, "collections.Counter needs () or (dict)");
    case G_CODECS_ENCODE:
        if (na != 2) return fail(m, BN_EINVAL, "_codecs.encode needs (str, codec name)");
        return push_encoded(m, a[0], a[1]);
    case G_BYTEARRAY:
        if (na == 0) return push_str(m, V_BYTES, 0);
        if (na == 1 && a[0]->kind == V_BYTES) return push(m, a[0]);
        if (na == 2) return push_encoded(m, a[0], a[1]);
        return fail(m, BN_EINVAL, "builtins.bytearray needs (), (bytes) or (str, codec name)");
    case G_SET:
        if (na == 0 || (na == 1 && a[0]->kind == V_LIST)) return push_opaque(m, "set");
        return fail(m, BN_EINVAL, "builtins.set needs () or (list)");
    case G_COMPLEX:
        if ((na == 1 || na == 2) && is_number(a[0]) && (na == 1 || is_number(a[1])))
            return push_opaque(m, "complex");
        return fail(m, BN_EINVAL, "builtins.complex needs (real[, imag])");
    case G_SIZE:
        if (na == 1 && a[0]->kind == V_TUPLE) {
            for (size_t i = 0; i < a[0]->u.seq.n; i++)
                if (a[0]->u.seq.v[i]->kind != V_INT) return fail(m, BN_EINVAL, "torch.Size of a non-integer");
            return push(m, a[0]);
        }
        return fail(m, BN_EINVAL, "torch.Size needs (tuple of ints)");
    case G_DEVICE:
        if ((na == 1 || na == 2) && a[0]->kind == V_STR && (na == 1 || a[1]->kind == V_INT))
            return push_opaque(m, "torch.device");
        return fail(m, BN_EINVAL, "torch.device needs (type[, index])");
    case G_LAYOUT:
        if (na == 1 && a[0]->kind == V_STR) return push_opaque(m, "torch.layout");
        return fail(m, BN_EINVAL, "torch.serialization._get_layout needs (name)");
    case G_FROM_TYPE_V2:
        return rebuild_from_type(m, args, depth);
    case G_REBUILD_TENSOR_V2:
        return rebuild_tensor(m, args);
    case G_REBUILD_PARAMETER:
    case G_REBUILD_PARAMETER_WITH_STATE: {
        size_t want = f->u.glob.g == G_REBUILD_PARAMETER ? 3 : 4;
        if (na != want || a[0]->kind != V_TENSOR)
            return fail(m, BN_EINVAL, "%s needs (tensor, requires_grad, hooks%s)",
                        want == 3 ? "_rebuild_parameter" : "_rebuild_parameter_with_state",
                        want == 3 ? "" : ", state");
        return push(m, a[0]);
    }
    case G_UNSUPPORTED:
        return fail(m, BN_EUNSUPPORTED, "torch._utils.%s is allowed by torch.load(weights_only=True), but its "
                    "tensors (sparse, quantized, meta, subclass or untyped-storage) cannot be read as dense "
                    "weights here", fname);
    case G_VALUE:
        return fail(m, BN_EUNSUPPORTED, "calling torch value '%s' is not supported", fname);
    case G_STORAGE:
        break;
    }
    return fail(m, BN_EUNSUPPORTED, "calling a torch storage class is not allowed");
}

static bn_status reduce(pm *m)
{
    pv *args = NULL, *f = NULL;
    bn_status s = pop(m, &args);
    if (!s) s = pop(m, &f);
    if (s) return s;
    if (f->kind != V_GLOBAL) return fail(m, BN_EINVAL, "REDUCE on a %s, not a callable", kind_name(f));
    return apply(m, f, args, 0);
}

/* ---- the machine ------------------------------------------------------------------ */

static const char *op_name(uint8_t op)
{
    switch (op) {
    case 'i': return "INST";
    case 'o': return "OBJ";
    case 0x81: return "NEWOBJ";
    case 0x92: return "NEWOBJ_EX";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 'P': return "PERSID";
    case 'I': return "INT";
    case 'L': return "LONG";
    case 'F': return "FLOAT";
    case 'S': return "STRING";
    case 'V': return "UNICODE";
    case 'p': return "PUT";
    case 'g': return "GET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    default: return NULL;
    }
}

/* Make a tuple (or list) of stack[from..sn) and leave it in their place. */
static bn_status collect(pm *m, size_t from, vkind k)
{
    pv *t = newv(m, k);
    if (!t) return NOMEM(m);
    size_t cnt = m->sn - from;
    if (cnt) {
        t->u.seq.v = arena_alloc(m, cnt * sizeof(pv *));
        if (!t->u.seq.v) return NOMEM(m);
        memcpy(t->u.seq.v, m->stack + from, cnt * sizeof(pv *));
        t->u.seq.n = t->u.seq.cap = cnt;
    }
    m->sn = from;
    return push(m, t);
}

static bn_status set_items(pm *m, size_t from)
{
    if ((m->sn - from) % 2) return fail(m, BN_EINVAL, "SETITEMS with an odd number of items");
    if (from == 0) return fail(m, BN_EINVAL, "SETITEMS without a dict");
    pv *d = m->stack[from - 1];
    if (d->kind != V_DICT) return fail(m, BN_EINVAL, "SETITEM(S) on a %s", kind_name(d));
    for (size_t i = from; i < m->sn; i++) {
        bn_status s = seq_push(m, d, m->stack[i]);
        if (s) return s;
    }
    m->sn = from;
    return BN_OK;
}

static bn_status append_items(pm *m, size_t from)
{
    if (from == 0) return fail(m, BN_EINVAL, "APPEND(S) without a list");
    pv *l = m->stack[from - 1];
    if (l->kind != V_LIST) return fail(m, BN_EINVAL, "APPEND(S) on a %s", kind_name(l));
    for (size_t i = from; i < m->sn; i++) {
        bn_status s = seq_push(m, l, m->stack[i]);
        if (s) return s;
    }
    m->sn = from;
    return BN_OK;
}

static bn_status step(pm *m, int *stop)
{
    const uint8_t *b = NULL;
    bn_status s;
    pv *x = NULL, *y = NULL;
    size_t at = 0;
    m->op_at = m->pos;
    if ((s = need(m, 1, &b))) return s;
    uint8_t op = b[0];
    switch (op) {
    case 0x80: /* PROTO */
        if ((s = need(m, 1, &b))) return s;
        if (b[0] < 2 || b[0] > 5) return fail(m, BN_EUNSUPPORTED, "pickle protocol %u (2 to 5 supported)", b[0]);
        return BN_OK;
    case 0x95: /* FRAME: a length hint; the content is ordinary opcodes */
        if ((s = need(m, 8, &b))) return s;
        if (le(b, 8) > m->n - m->pos) return fail(m, BN_EINVAL, "FRAME of %llu bytes runs past the end",
                                                  (unsigned long long)le(b, 8));
        return BN_OK;
    case '.': *stop = 1; return BN_OK;
    case '(':
        if (m->mn == m->mcap) {
            if (m->mcap >= m->limit) return fail(m, BN_ELIMIT, "more than %zu MARKs", m->limit);
            size_t nc = m->mcap ? 2 * m->mcap : 16;
            size_t *nm = realloc(m->marks, nc * sizeof *nm);
            if (!nm) return fail(m, BN_ENOMEM, "out of memory for marks");
            m->marks = nm;
            m->mcap = nc;
        }
        m->marks[m->mn++] = m->sn;
        return BN_OK;
    case '0': return pop(m, &x);
    case '1':
        if ((s = pop_mark(m, &at))) return s;
        m->sn = at;
        return BN_OK;
    case '2': if ((s = top(m, &x))) return s; return push(m, x);
    case 'N': return push(m, newv(m, V_NONE));
    case 0x88: case 0x89:
        if (!(x = newv(m, V_BOOL))) return NOMEM(m);
        x->u.i = op == 0x88;
        return push(m, x);
    case 'J': if ((s = need(m, 4, &b))) return s; return push_int(m, (int32_t)(uint32_t)le(b, 4));
    case 'K': if ((s = need(m, 1, &b))) return s; return push_int(m, b[0]);
    case 'M': if ((s = need(m, 2, &b))) return s; return push_int(m, (int64_t)le(b, 2));
    case 0x8a: case 0x8b: { /* LONG1, LONG4: little-endian two's complement */
        if ((s = need(m, op == 0x8a ? 1 : 4, &b))) return s;
        uint64_t k = le(b, op == 0x8a ? 1 : 4);
        if (k > 8) return fail(m, BN_EUNSUPPORTED, "integer of %llu bytes (at most 8)", (unsigned long long)k);
        if ((s = need(m, (size_t)k, &b))) return s;
        uint64_t v = le(b, (int)k);
        if (k > 0 && k < 8 && (b[k - 1] & 0x80)) v |= ~(uint64_t)0 << (8 * k);
        return push_int(m, (int64_t)v);
    }
    case 'G': { /* BINFLOAT: big-endian IEEE double */
        if ((s = need(m, 8, &b))) return s;
        uint64_t u = 0;
        for (int i = 0; i < 8; i++) u = u << 8 | b[i];
        if (!(x = newv(m, V_FLOAT))) return NOMEM(m);
        memcpy(&x->u.f, &u, 8);
        return push(m, x);
    }
    case 'X': if ((s = need(m, 4, &b))) return s; return push_str(m, V_STR, le(b, 4));
    case 0x8c: if ((s = need(m, 1, &b))) return s; return push_str(m, V_STR, b[0]);
    case 0x8d: if ((s = need(m, 8, &b))) return s; return push_str(m, V_STR, le(b, 8));
    case 'T': if ((s = need(m, 4, &b))) return s; return push_str(m, V_BYTES, le(b, 4));
    case 'U': if ((s = need(m, 1, &b))) return s; return push_str(m, V_BYTES, b[0]);
    case 'B': if ((s = need(m, 4, &b))) return s; return push_str(m, V_BYTES, le(b, 4));
    case 'C': if ((s = need(m, 1, &b))) return s; return push_str(m, V_BYTES, b[0]);
    case 0x8e: if ((s = need(m, 8, &b))) return s; return push_str(m, V_BYTES, le(b, 8));
    case ')': return push(m, newv(m, V_TUPLE));
    case ']': return push(m, newv(m, V_LIST));
    case '}': return push(m, newv(m, V_DICT));
    case 0x8f: return push_opaque(m, "set"); /* EMPTY_SET: torch allows it (not ADDITEMS) */
    case 't': if ((s = pop_mark(m, &at))) return s; return collect(m, at, V_TUPLE);
    case 'l': if ((s = pop_mark(m, &at))) return s; return collect(m, at, V_LIST);
    case 0x85: case 0x86: case 0x87: {
        size_t k = (size_t)(op - 0x84);
        if (m->sn < stack_floor(m) + k) return fail(m, BN_EINVAL, "TUPLE%zu needs %zu items on the stack", k, k);
        return collect(m, m->sn - k, V_TUPLE);
    }
    case 'd':
        if ((s = pop_mark(m, &at))) return s;
        if ((m->sn - at) % 2) return fail(m, BN_EINVAL, "DICT with an odd number of items");
        return collect(m, at, V_DICT); /* body is key, value, key, value ... */
    case 'a': if ((s = pop(m, &x))) return s; if ((s = push(m, x))) return s; return append_items(m, m->sn - 1);
    case 'e': if ((s = pop_mark(m, &at))) return s; return append_items(m, at);
    case 's':
        if (m->sn < stack_floor(m) + 2) return fail(m, BN_EINVAL, "SETITEM needs a key and a value");
        return set_items(m, m->sn - 2);
    case 'u': if ((s = pop_mark(m, &at))) return s; return set_items(m, at);
    case 'q': if ((s = need(m, 1, &b))) return s; if ((s = top(m, &x))) return s; return memo_put(m, b[0], x);
    case 'r': if ((s = need(m, 4, &b))) return s; if ((s = top(m, &x))) return s; return memo_put(m, le(b, 4), x);
    case 0x94: if ((s = top(m, &x))) return s; return memo_put(m, m->mcount, x);
    case 'h': if ((s = need(m, 1, &b))) return s; return memo_get(m, b[0]);
    case 'j': if ((s = need(m, 4, &b))) return s; return memo_get(m, le(b, 4));
    case 'c': { /* GLOBAL "module\nname\n" */
        const uint8_t *start = m->p + m->pos, *end = m->p + m->n;
        const uint8_t *nl1 = memchr(start, '\n', (size_t)(end - start));
        const uint8_t *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(end - nl1 - 1)) : NULL;
        if (!nl2) return fail(m, BN_EINVAL, "GLOBAL without two newline-terminated names");
        m->pos = (size_t)(nl2 + 1 - m->p);
        return push_global(m, (const char *)start, (size_t)(nl1 - start), (const char *)nl1 + 1,
                           (size_t)(nl2 - nl1 - 1));
    }
    case 0x93: /* STACK_GLOBAL */
        if ((s = pop(m, &y)) || (s = pop(m, &x))) return s;
        if (x->kind != V_STR || y->kind != V_STR) return fail(m, BN_EINVAL, "STACK_GLOBAL needs two strings");
        return push_global(m, x->u.str.s, x->u.str.n, y->u.str.s, y->u.str.n);
    case 'Q': if ((s = pop(m, &x))) return s; return persistent_load(m, x);
    case 'R': return reduce(m);
    case 'b': /* BUILD: only an OrderedDict's attribute state, which we drop */
        if ((s = pop(m, &y)) || (s = top(m, &x))) return s;
        if (x->kind != V_DICT || !x->u.seq.ordered)
            return fail(m, BN_EUNSUPPORTED, "BUILD on a %s (only on an OrderedDict)", kind_name(x));
        return BN_OK;
    default: {
        const char *nm = op_name(op);
        if (nm) return fail(m, BN_EUNSUPPORTED, "opcode %s (0x%02x) is not allowed", nm, op);
        return fail(m, BN_EINVAL, "unknown opcode 0x%02x", op);
    }
    }
}

/* ---- naming the tensors ------------------------------------------------------------ */

typedef struct {
    pm *m;
    char *path;          /* current name, '.'-joined */
    size_t len, cap;
    size_t budget;       /* values left to visit */
} walker;

static bn_status path_push(walker *w, const char *part, size_t n, size_t *saved)
{
    *saved = w->len;
    size_t need_len = w->len + (w->len ? 1 : 0) + n + 1;
    if (need_len > 4096) return fail(w->m, BN_ELIMIT, "tensor name longer than 4096 bytes");
    if (need_len > w->cap) {
        char *np = realloc(w->path, 4097);
        if (!np) return fail(w->m, BN_ENOMEM, "out of memory for names");
        w->path = np;
        w->cap = 4097;
    }
    if (w->len) w->path[w->len++] = '.';
    memcpy(w->path + w->len, part, n);
    w->len += n;
    w->path[w->len] = '\0';
    return BN_OK;
}

static bn_status emit_tensor(walker *w, const ptensor *t)
{
    pm *m = w->m;
    bn_ckpt_entry e;
    memset(&e, 0, sizeof e);
    e.name = strdup(w->len ? w->path : "tensor");
    if (!e.name) return fail(m, BN_ENOMEM, "out of memory for names");
    e.dtype = m->res->storages[t->storage].dtype;
    e.n_dims = t->n_dims;
    memcpy(e.shape, t->shape, sizeof e.shape);
    memcpy(e.stride, t->stride, sizeof e.stride);
    e.offset = t->offset;
    e.storage = t->storage;
    bn_status s = bnc_ckpt_entry_sizes(&e, m->err);
    if (s) {
        free(e.name);
        return bn_error_prefix(m->err, "%s: %s", m->label, m->part);
    }
    return bnc_ckpt_entries_push(&m->res->tensors, &e, m->err);
}

static bn_status walk(walker *w, const pv *v, int depth)
{
    pm *m = w->m;
    if (depth > PKL_MAX_DEPTH) return fail(m, BN_ELIMIT, "objects nested deeper than %d levels", PKL_MAX_DEPTH);
    if (w->budget-- == 0) return fail(m, BN_ELIMIT, "object graph too large to walk (shared references?)");
    bn_status s = BN_OK;
    size_t saved;
    char num[24];
    switch (v->kind) {
    case V_TENSOR:
        return emit_tensor(w, v->u.t);
    case V_TUPLE:
    case V_LIST:
        for (size_t i = 0; i < v->u.seq.n && !s; i++) {
            snprintf(num, sizeof num, "%zu", i);
            if ((s = path_push(w, num, strlen(num), &saved))) break;
            s = walk(w, v->u.seq.v[i], depth + 1);
            w->len = saved;
            if (w->path) w->path[w->len] = '\0';
        }
        return s;
    case V_DICT:
        for (size_t i = 0; i + 1 < v->u.seq.n && !s; i += 2) {
            const pv *k = v->u.seq.v[i];
            const char *part;
            size_t n;
            if (k->kind == V_STR) {
                part = k->u.str.s;
                n = k->u.str.n;
                if (strlen(part) != n) return fail(m, BN_EINVAL, "dict key holds a NUL byte");
            } else if (k->kind == V_INT) {
                snprintf(num, sizeof num, "%lld", (long long)k->u.i);
                part = num;
                n = strlen(num);
            } else {
                continue; /* keys of other kinds cannot name a tensor; their values are not weights */
            }
            if ((s = path_push(w, part, n, &saved))) break;
            s = walk(w, v->u.seq.v[i + 1], depth + 1);
            w->len = saved;
            if (w->path) w->path[w->len] = '\0';
        }
        return s;
    default:
        return BN_OK; /* scalars, strings, storages alone: not tensors */
    }
}

/* ---- entry point ------------------------------------------------------------------- */

/* What the legacy header records need to know about the root object. */
static bn_status describe_root(pm *m, const pv *v)
{
    bn_pkl_result *r = m->res;
    r->little_endian = -1;
    if (v->kind == V_INT) {
        r->root_is_int = 1;
        r->root_int = v->u.i;
    } else if (v->kind == V_DICT) {
        for (size_t i = 0; i + 1 < v->u.seq.n; i += 2) {
            const pv *k = v->u.seq.v[i], *x = v->u.seq.v[i + 1];
            if (k->kind == V_STR && strcmp(k->u.str.s, "little_endian") == 0 && x->kind == V_BOOL)
                r->little_endian = (int)x->u.i;
        }
    } else if (v->kind == V_LIST && v->u.seq.n > 0) {
        for (size_t i = 0; i < v->u.seq.n; i++)
            if (v->u.seq.v[i]->kind != V_STR) return BN_OK;
        r->root_strs = calloc(v->u.seq.n, sizeof *r->root_strs);
        if (!r->root_strs) return fail(m, BN_ENOMEM, "out of memory");
        for (size_t i = 0; i < v->u.seq.n; i++, r->n_root_strs++)
            if (!(r->root_strs[i] = strdup(v->u.seq.v[i]->u.str.s))) return fail(m, BN_ENOMEM, "out of memory");
    }
    return BN_OK;
}

bn_status bnc_pkl_load(const uint8_t *data, size_t len, const char *label, const char *part, unsigned flags,
                      bn_pkl_result *out, bn_error *err)
{
    memset(out, 0, sizeof *out);
    pm m;
    memset(&m, 0, sizeof m);
    m.p = data;
    m.n = len;
    m.label = label;
    m.part = part;
    m.flags = flags;
    m.err = err;
    m.res = out;
    m.limit = len + 16;
    m.arena_cap = len > (SIZE_MAX - (1u << 20)) / 64 ? SIZE_MAX : 64 * len + (1u << 20);
    bn_status s = BN_OK;
    int stop = 0;
    while (!s && !stop) s = step(&m, &stop);
    if (!s && m.sn != 1)
        s = bn_error_set(err, BN_EINVAL, "%s: %s: STOP with %zu values on the stack (want 1)", label, part, m.sn);
    if (!s && m.mn)
        s = bn_error_set(err, BN_EINVAL, "%s: %s: STOP with %zu MARKs never closed", label, part, m.mn);
    if (!s && m.pos != len && !(flags & BN_PKL_PREFIX))
        s = bn_error_set(err, BN_EINVAL, "%s: %s: %zu bytes after STOP", label, part, len - m.pos);
    out->consumed = m.pos;
    if (!s) {
        walker w = {&m, NULL, 0, 0, 4 * m.pos + 1024};
        s = walk(&w, m.stack[0], 0);
        free(w.path);
    }
    if (!s) s = describe_root(&m, m.stack[0]);
    while (m.blocks) {
        block *b = m.blocks;
        m.blocks = b->next;
        free(b);
    }
    free(m.stack);
    free(m.marks);
    free(m.mkeys);
    free(m.mvals);
    bnu_strset_free(&m.skeys);
    if (s) bnc_pkl_result_free(out);
    return s;
}

void bnc_pkl_result_free(bn_pkl_result *r)
{
    for (size_t i = 0; i < r->n_storages; i++) free(r->storages[i].key);
    free(r->storages);
    for (size_t i = 0; i < r->n_root_strs; i++) free(r->root_strs[i]);
    free(r->root_strs);
    bnc_ckpt_entries_free(&r->tensors);
    memset(r, 0, sizeof *r);
}
