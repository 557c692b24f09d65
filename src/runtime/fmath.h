/* fmath.h - the float primitives whose exact order the runtime documents and
 * the float reference (reference.c) shares, so that both compute the same bits
 * wherever a value feeds an int8 activation quantization. Internal to libbn. */
#ifndef BN_RT_FMATH_H
#define BN_RT_FMATH_H

#include <math.h>

/* sum a[i] b[i] in one fixed order: float32 products, 8 interleaved float32
 * partial sums, combined ((0+1)+(2+3))+((4+5)+(6+7)), then the tail
 * (matmul.c; AVX2 gives the same bits). */
float bnr_dot(const float *a, const float *b, int n);

/* exp in double, rounded once to float. expf's last bit differs between C
 * libraries, and one ulp before an int8 activation quantization can flip a
 * code; the double form agrees with the PyTorch reference bit for bit (but
 * for results within a double ulp of a float rounding boundary). */
static inline float bnr_exp(float x)
{
    return (float)exp((double)x);
}

#endif
