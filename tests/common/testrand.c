/* testrand.c - reproducible random numbers for the suites (see testutil.h). */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>

static uint64_t state = 0x9e3779b97f4a7c15ull;

uint32_t tu_rand32(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (uint32_t)(state >> 16);
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

uint64_t tu_lcg64(uint64_t *state)
{
    return *state = *state * 6364136223846793005ull + 1442695040888963407ull;
}

int32_t *tu_token_text(size_t n, int n_vocab)
{
    int32_t *t = malloc(n * sizeof *t);
    uint32_t x = 12345;
    for (size_t i = 0; t && i < n; i++) {
        x = x * 1103515245u + 12345u;
        t[i] = (int32_t)((x >> 8) % (uint32_t)n_vocab);
    }
    return t;
}
