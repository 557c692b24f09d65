/* testutil.h - helpers shared by the Check suites: where the fixtures and the
 * shared data live, and scratch files. Paths come from the environment that
 * tests/run.sh sets (BN_ROOT, BN_SHARED, BN_BUILD, BN_TMP), with defaults that
 * work when a suite is run by hand from the repository root. */
#ifndef BN_TESTUTIL_H
#define BN_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Path of rel under the repository root / ../shared / the build dir / a scratch
 * dir. Returned strings are static buffers rotated over 8 calls. */
const char *tu_root(const char *rel);
const char *tu_shared(const char *rel);
const char *tu_build(const char *rel);
const char *tu_tmp(const char *rel);

/* A copy of p that outlives the rotation above (32 slots, rotated). */
const char *tu_keep(const char *p);

/* Parse a JSON file (a cJSON *, NULL if unreadable or invalid; cJSON_Delete it). */
struct cJSON *tu_read_json(const char *path);
/* Run a Check suite (forking each test); 0 if every test passed, else 1. */
struct Suite;
int tu_run_suite(struct Suite *s);

/* Logits [n_pos][n_vocab] of ids at positions 0..n_pos-1 of one fresh context
 * (Check assertions on failure; malloc'd). */
struct bn_model;
float *tu_eval_all(struct bn_model *m, const int32_t *ids, int n_pos);
/* bn-synth ARGS (-q -o the scratch file NAME): the path (a tu_keep copy), or
 * the result loaded with the default options (Check assertions on failure). */
const char *tu_synth(const char *name, const char *args);
struct bn_model *tu_synth_load(const char *name, const char *args);

/* The GGUF files a and b hold the same tensors (names, types, bytes); Check
 * assertions naming `what` and the tensor otherwise. */
void tu_assert_same_tensors(const char *a, const char *b, const char *what);

/* Copy the GGUF src into dst through the GGUF writer, changing what the
 * fields say (zero fields change nothing; Check assertions on failure).
 * KVs keep their order; general.alignment is left to the writer. */
typedef struct {
    const char *drop_kv;                   /* omit this key */
    const char *i32_kv;                    /* rewrite this u32 key as i32, in place */
    const char *arch;                      /* general.architecture's new value, in place */
    uint32_t ff_override;                  /* every *.feed_forward_length, in place */
    const char *set_str_key, *set_str_val; /* replace or add a string KV, after the others */
    const char *set_f32_key;               /* replace or add an f32 KV, after the others */
    float f32_val;
    const char *set_u32_key;               /* replace or add a u32 KV, after the others */
    uint32_t u32_val;
    const char *drop_tensor;               /* omit this tensor */
    int extra_tensor;                      /* add "extra.weight" F32 [4] = 1, 2, 3, 4 */
    const char *patch_tensor;              /* tensor whose bytes are patched */
    int64_t patch_at;                      /* byte offset; < 0 from the end */
    uint8_t patch_bytes[4];
    int n_patch;
} tu_gguf_mutation;
void tu_gguf_mutate(const char *src, const char *dst, const tu_gguf_mutation *mu);

/* Logits [n_pos][n_vocab] against a reference: the same argmax at every position
 * and max |got - want| <= tol * max|want| at every position (Check assertions
 * naming `what` and the position). Returns the worst |delta| / max|want|. */
double tu_compare_logits(const float *got, const float *want, int n_pos, int n_vocab, double tol,
                         const char *what);

/* Whole file into a malloc'd buffer (NULL on failure). */
uint8_t *tu_read(const char *path, size_t *len);
int tu_write(const char *path, const void *data, size_t len);
int tu_exists(const char *path);
/* Run a shell command, return its exit status (or -1), capture stdout+stderr into *out (malloc'd, may be NULL). */
int tu_run(const char *cmd, char **out);

/* The float dot product in the runtime's documented order (bnr_dot): lane j
 * sums a[i]*b[i] for i = j mod 8 below n - n % 8, lanes combined
 * ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)), the tail added last; plain ISO C,
 * no contraction. */
float tu_ref_dot(const float *a, const float *b, int n);

/* The bits of a float32 and back. */
uint32_t tu_f32_bits(float f);
float tu_f32_from_bits(uint32_t u);

/* Reproducible random numbers, all from the library's one generator,
 * bn_rng_next (bn/util.h).
 * tu_rand32: the library's one generator (bn_rng_next), one sequence per
 * process (Check forks each test from the same state). tu_gauss: Box-Muller,
 * N(0, 1). A suite that wants a stream of its own calls bn_rng_next itself. */
uint32_t tu_rand32(void);
float tu_gauss(void);
void tu_rand_seed(uint64_t seed); /* restart the sequence (0 is replaced by 1) */
/* n pseudo-random token ids in [0, n_vocab), the same for every call (malloc'd). */
int32_t *tu_token_text(size_t n, int n_vocab);

#endif
