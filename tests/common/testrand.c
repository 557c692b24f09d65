/* testrand.c - reproducible random numbers for the suites (see testutil.h). */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>

#include "bn/util.h"

static uint64_t state = 0x9e3779b97f4a7c15ull;

uint32_t tu_rand32(void)
{
    return (uint32_t)(bn_rng_next(&state) >> 32);
}

float tu_gauss(void)
{
    double u1 = (tu_rand32() + 0.5) / 4294967296.0, u2 = (tu_rand32() + 0.5) / 4294967296.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void tu_rand_seed(uint64_t seed)
{
    state = seed ? seed : 1;
}

int32_t *tu_token_text(size_t n, int n_vocab)
{
    int32_t *t = malloc(n * sizeof *t);
    uint64_t x = 12345;
    for (size_t i = 0; t && i < n; i++)
        t[i] = (int32_t)(bn_rng_next(&x) % (uint64_t)n_vocab);
    return t;
}
