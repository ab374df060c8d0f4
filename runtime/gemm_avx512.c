/* gemm_avx512.c: the AVX-512 SGEMM micro-kernel, 14 x 32.
 *
 * Register blocking (Low et al., "Analytical Modeling Is Enough for High-Performance BLIS",
 * ACM TOMS 43(2), 2016): 14 rows x 2 zmm = 28 accumulators of the 32 zmm registers, plus 2
 * for the B row and 1 for the A broadcast. Each k step does 2 loads, 14 broadcasts (folded
 * into the FMAs as {1to16} memory operands) and 28 FMAs; 28 independent chains cover the
 * FMA latency (4 cycles x 2 ports = 8 in flight needed). The B micro-panel (KC x 32 floats)
 * stays in L1 across the row loop. Edge tiles: all 14 x 32 are computed (packing pads with
 * zeros), only mr rows and nr columns are stored, through lane masks.
 *
 * Built with per-function target attributes: the library needs no -march flag and only
 * calls this after __builtin_cpu_supports("avx512f") (see gemm.c).
 */
#include <immintrin.h>
#include "kernels.h"

#define KERN_AVX512 __attribute__((target("avx512f,avx512vl,fma")))

enum { MR = 14, NR = 32 };

/* Mask of the first n (clamped to 0..16) lanes. */
KERN_AVX512 static __mmask16 avx512_mask(int n)
{
  n = n < 0 ? 0 : n > 16 ? 16 : n;
  return (__mmask16)((1u << n) - 1u);
}

/* Epilogue of one row: c = act(alpha * v + beta * c + bias_row + bias_col), masked. */
KERN_AVX512 static void avx512_store_row(float *c, __m512 v0, __m512 v1, __mmask16 m0,
                                         __mmask16 m1, const kern_epi *e, int i)
{
  __m512 alpha = _mm512_set1_ps(e->alpha);
  v0 = _mm512_mul_ps(v0, alpha);
  v1 = _mm512_mul_ps(v1, alpha);
  if (e->beta != 0.0f) {
    __m512 beta = _mm512_set1_ps(e->beta);
    v0 = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(m0, c), v0);
    v1 = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(m1, c + 16), v1);
  }
  if (e->bias_row) {
    __m512 rb = _mm512_set1_ps(e->bias_row[i]);
    v0 = _mm512_add_ps(v0, rb);
    v1 = _mm512_add_ps(v1, rb);
  }
  if (e->bias_col) {
    v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, e->bias_col));
    v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, e->bias_col + 16));
  }
  if (e->relu) {
    v0 = _mm512_max_ps(v0, _mm512_setzero_ps());
    v1 = _mm512_max_ps(v1, _mm512_setzero_ps());
  }
  _mm512_mask_storeu_ps(c, m0, v0);
  _mm512_mask_storeu_ps(c + 16, m1, v1);
}

KERN_AVX512 static void ukr_avx512_14x32(int64_t kc, const float *a, const float *b, float *c,
                                         int64_t ldc, int mr, int nr, const kern_epi *e)
{
  __m512 acc0[MR], acc1[MR];
#pragma GCC unroll 14
  for (int i = 0; i < MR; i++) {
    acc0[i] = _mm512_setzero_ps();
    acc1[i] = _mm512_setzero_ps();
  }
  for (int i = 0; i < mr; i++) {
    _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch((const char *)(c + i * ldc + 31), _MM_HINT_T0);
  }
  for (int64_t k = 0; k < kc; k++, a += MR, b += NR) {
    __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 14
    for (int i = 0; i < MR; i++) {
      __m512 ai = _mm512_set1_ps(a[i]);
      acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
    }
  }
  __mmask16 m0 = avx512_mask(nr), m1 = avx512_mask(nr - 16);
#pragma GCC unroll 14
  for (int i = 0; i < MR; i++)
    if (i < mr)
      avx512_store_row(c + i * ldc, acc0[i], acc1[i], m0, m1, e, i);
}

const kern_gemm_arch kern_gemm_avx512 = {
  "avx512-14x32", KERN_ISA_AVX512, MR, NR, 336, 256, 4096, ukr_avx512_14x32,
};
