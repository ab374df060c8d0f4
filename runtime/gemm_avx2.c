/* gemm_avx2.c: the AVX2 + FMA SGEMM micro-kernel, 6 x 16 (the BLIS Haswell shape).
 *
 * 6 rows x 2 ymm = 12 accumulators of the 16 ymm registers, 2 for the B row, 1 for the A
 * broadcast: 12 FMAs per 2 loads + 6 broadcasts (compiler-techniques §6.1; BLIS
 * config/haswell). B rows are read and edge tiles stored through lane masks, so the kernel
 * also runs on an unpacked B (gemm.c's small-problem path).
 * Built with per-function target attributes; gemm.c calls it only on hosts with AVX2 + FMA.
 */
#include <immintrin.h>
#include "kernels.h"

#define KERN_AVX2 __attribute__((target("avx2,fma")))

enum { MR = 6, NR = 16 };

/* Integer lane mask of the first n (clamped to 0..8) lanes. */
KERN_AVX2 static __m256i avx2_mask(int n)
{
  n = n < 0 ? 0 : n > 8 ? 8 : n;
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Epilogue of 8 lanes: c = act(alpha * v + beta * c + rb + bias_col), masked. */
KERN_AVX2 static void avx2_store8(float *c, __m256 v, __m256i m, const kern_epi *e, __m256 rb,
                                  const float *bias_col)
{
  v = _mm256_mul_ps(v, _mm256_set1_ps(e->alpha));
  if (e->beta != 0.0f)
    v = _mm256_fmadd_ps(_mm256_set1_ps(e->beta), _mm256_maskload_ps(c, m), v);
  v = _mm256_add_ps(v, rb);
  if (bias_col)
    v = _mm256_add_ps(v, _mm256_maskload_ps(bias_col, m));
  if (e->relu)
    v = _mm256_max_ps(v, _mm256_setzero_ps());
  _mm256_maskstore_ps(c, m, v);
}

KERN_AVX2 static void ukr_avx2_6x16(int64_t kc, const float *a, int64_t acs, const float *b,
                                    int64_t bks, float *c, int64_t ldc, int mr, int nr,
                                    const kern_epi *e)
{
  __m256i m0 = avx2_mask(nr), m1 = avx2_mask(nr - 8);
  __m256 acc0[MR], acc1[MR];
#pragma GCC unroll 6
  for (int i = 0; i < MR; i++) {
    acc0[i] = _mm256_setzero_ps();
    acc1[i] = _mm256_setzero_ps();
  }
  for (int64_t k = 0; k < kc; k++, a += acs, b += bks) {
    __m256 b0 = _mm256_maskload_ps(b, m0), b1 = _mm256_maskload_ps(b + 8, m1);
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
      __m256 ai = _mm256_broadcast_ss(a + i);
      acc0[i] = _mm256_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm256_fmadd_ps(ai, b1, acc1[i]);
    }
  }
  const float *bc = e->bias_col;
#pragma GCC unroll 6
  for (int i = 0; i < MR; i++) {
    if (i >= mr)
      break;
    __m256 rb = _mm256_set1_ps(e->bias_row ? e->bias_row[i] : 0.0f);
    avx2_store8(c + i * ldc, acc0[i], m0, e, rb, bc);
    avx2_store8(c + i * ldc + 8, acc1[i], m1, e, rb, bc ? bc + 8 : NULL);
  }
}

const kern_gemm_arch kern_gemm_avx2 = {
  "avx2-6x16", KERN_ISA_AVX2, MR, NR, 256, 1024,
  ukr_avx2_6x16, ukr_avx2_6x16, NULL, NULL,
};
