/* vmath.c: expf, tanhf and the logistic sigmoid over arrays, AVX-512 with a scalar twin.
 *
 * exp (Cephes expf, S. Moshier; the same scheme as XLA's and Eigen's pexp):
 *   n = round(x / ln 2), r = x - n ln 2 with ln 2 split in two (Cody-Waite) so r is exact
 *   to about 2^-32; exp(r) on |r| <= ln2 / 2 by a degree-7 polynomial 1 + r + r^2 P(r);
 *   2^n applied as two factors 2^(n/2) 2^(n - n/2), each a normal float, so the result
 *   overflows to inf and underflows through the denormals without a special case.
 *   x is clamped to [-104, 89] first (beyond, the result is 0 or inf anyway); NaN passes.
 * tanh(x) = sign(x) (1 - t) / (1 + t) with t = exp(-2|x|)  (abs err ~1e-7 near 0), and
 *   x - x^3/3 for |x| < 2^-8, which keeps tiny arguments (and the sign of zero) exact
 * sigmoid(x) = 1 / (1 + exp(-x))
 *
 * The scalar twin computes the same formulas in plain C, for hosts without AVX-512 and as
 * the reference the tests compare code paths with.
 */
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>
#include "kernels.h"

#define KERN_AVX512 __attribute__((target("avx512f,avx512vl,fma")))

/* Arrays below this length run on one thread. */
#define VM_PAR_MIN 65536

#define VM_LOG2E 1.44269504088896341f
#define VM_LN2_HI 0.693359375f /* 8 significant bits: n * LN2_HI is exact */
#define VM_LN2_LO -2.12194440e-4f
#define VM_X_MIN -104.0f
#define VM_X_MAX 89.0f
#define VM_TANH_SMALL 0.00390625f /* 2^-8: below, tanh(x) = x - x^3/3 to 1 ulp */
/* Cephes expf: exp(r) = 1 + r + r^2 (P0 + P1 r + ... + P5 r^5), |r| <= ln2 / 2. */
#define VM_P0 5.0000001201e-1f
#define VM_P1 1.6666665459e-1f
#define VM_P2 4.1665795894e-2f
#define VM_P3 8.3334519073e-3f
#define VM_P4 1.3981999507e-3f
#define VM_P5 1.9875691500e-4f

static int vm_forced; /* KERN_ISA_*; AUTO = follow the host */

int kern_vmath_force_isa(int isa)
{
  if (isa == KERN_ISA_AVX2 || isa < KERN_ISA_AUTO || isa > KERN_ISA_AVX512 ||
      isa > kern_isa_host())
    return -1; /* no AVX2 variant: such hosts run the scalar code */
  vm_forced = isa;
  return 0;
}

static int vm_avx512(void)
{
  int isa = vm_forced ? vm_forced : kern_isa_host();
  return isa == KERN_ISA_AVX512;
}

/* ---- scalar ---- */

/* 2^n for -75 <= n <= 65 (a normal float). */
static float vm_pow2(int32_t n)
{
  uint32_t bits = (uint32_t)(n + 127) << 23;
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

/* Plain multiply-adds, not fmaf: without -mfma that is a slow libm call. n * VM_LN2_HI is
 * exact, so the reduction stays accurate without a fused multiply-add. */
static float vm_exp1(float x)
{
  if (x != x)
    return x;
  x = x < VM_X_MIN ? VM_X_MIN : x > VM_X_MAX ? VM_X_MAX : x;
  float t = x * VM_LOG2E;
  int32_t ni = (int32_t)(t + (t < 0.0f ? -0.5f : 0.5f)), n1 = ni >> 1;
  float n = (float)ni;
  float r = x - n * VM_LN2_HI;
  r = r - n * VM_LN2_LO;
  float p = VM_P5 * r + VM_P4;
  p = p * r + VM_P3;
  p = p * r + VM_P2;
  p = p * r + VM_P1;
  p = p * r + VM_P0;
  p = (p * (r * r) + r) + 1.0f;
  return p * vm_pow2(n1) * vm_pow2(ni - n1);
}

static float vm_tanh1(float x)
{
  if (fabsf(x) < VM_TANH_SMALL)
    return x * (1.0f - x * x * (1.0f / 3.0f)); /* x * (...), not x - ...: keeps -0 */
  float t = vm_exp1(-2.0f * fabsf(x));
  float y = (1.0f - t) / (1.0f + t);
  return x != x ? x : copysignf(y, x);
}

static float vm_sigmoid1(float x)
{
  return 1.0f / (1.0f + vm_exp1(-x));
}

/* ---- AVX-512 ---- */

KERN_AVX512 static __m512 vm_exp16(__m512 x)
{
  __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  __m512 xc = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(VM_X_MIN)),
                            _mm512_set1_ps(VM_X_MAX));
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(VM_LOG2E)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-VM_LN2_HI), xc);
  r = _mm512_fmadd_ps(n, _mm512_set1_ps(-VM_LN2_LO), r);
  __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(VM_P5), r, _mm512_set1_ps(VM_P4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VM_P3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VM_P2));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VM_P1));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VM_P0));
  p = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
  __m512i ni = _mm512_cvtps_epi32(n), n1 = _mm512_srai_epi32(ni, 1);
  __m512i bias = _mm512_set1_epi32(127);
  __m512 s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n1, bias), 23));
  __m512 s2 = _mm512_castsi512_ps(
    _mm512_slli_epi32(_mm512_add_epi32(_mm512_sub_epi32(ni, n1), bias), 23));
  __m512 y = _mm512_mul_ps(_mm512_mul_ps(p, s1), s2);
  return _mm512_mask_blend_ps(nan, y, x);
}

KERN_AVX512 static __m512 vm_tanh16(__m512 x)
{
  __m512 sign = _mm512_castsi512_ps(
    _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u)));
  __m512 ax = _mm512_castsi512_ps(
    _mm512_andnot_si512(_mm512_castps_si512(sign), _mm512_castps_si512(x)));
  __m512 t = vm_exp16(_mm512_mul_ps(ax, _mm512_set1_ps(-2.0f)));
  __m512 one = _mm512_set1_ps(1.0f);
  __m512 y = _mm512_div_ps(_mm512_sub_ps(one, t), _mm512_add_ps(one, t));
  y = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(y), _mm512_castps_si512(sign)));
  __m512 poly = _mm512_fnmadd_ps(_mm512_mul_ps(x, x), _mm512_set1_ps(1.0f / 3.0f), one);
  __mmask16 small = _mm512_cmp_ps_mask(ax, _mm512_set1_ps(VM_TANH_SMALL), _CMP_LT_OQ);
  y = _mm512_mask_blend_ps(small, y, _mm512_mul_ps(x, poly));
  __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  return _mm512_mask_blend_ps(nan, y, x);
}

KERN_AVX512 static __m512 vm_sigmoid16(__m512 x)
{
  __m512 one = _mm512_set1_ps(1.0f);
  __m512 e = vm_exp16(_mm512_sub_ps(_mm512_setzero_ps(), x));
  return _mm512_div_ps(one, _mm512_add_ps(one, e));
}

/* Mask of the first n (<= 16) lanes. */
KERN_AVX512 static __mmask16 vm_mask(int64_t n)
{
  return (__mmask16)(n >= 16 ? 0xffffu : (1u << n) - 1u);
}

KERN_AVX512 static void vm_exp_avx512(int64_t n, const float *x, float *y)
{
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = vm_mask(n - i);
    _mm512_mask_storeu_ps(y + i, m, vm_exp16(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

KERN_AVX512 static void vm_tanh_avx512(int64_t n, const float *x, float *y)
{
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = vm_mask(n - i);
    _mm512_mask_storeu_ps(y + i, m, vm_tanh16(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

KERN_AVX512 static void vm_sigmoid_avx512(int64_t n, const float *x, float *y)
{
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = vm_mask(n - i);
    _mm512_mask_storeu_ps(y + i, m, vm_sigmoid16(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

static void vm_exp_scalar(int64_t n, const float *x, float *y)
{
  for (int64_t i = 0; i < n; i++)
    y[i] = vm_exp1(x[i]);
}

static void vm_tanh_scalar(int64_t n, const float *x, float *y)
{
  for (int64_t i = 0; i < n; i++)
    y[i] = vm_tanh1(x[i]);
}

static void vm_sigmoid_scalar(int64_t n, const float *x, float *y)
{
  for (int64_t i = 0; i < n; i++)
    y[i] = vm_sigmoid1(x[i]);
}

/* ---- entry points ---- */

typedef void vm_fn(int64_t n, const float *x, float *y);

/* Runs f over the array, split into 16-aligned chunks over threads when it is long. */
static void vm_run(vm_fn *f, int64_t n, const float *x, float *y)
{
  if (n < VM_PAR_MIN || omp_in_parallel() || omp_get_max_threads() == 1) {
    f(n, x, y);
    return;
  }
#pragma omp parallel
  {
    int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    int64_t chunk = ((n + nt - 1) / nt + 15) & ~(int64_t)15;
    int64_t lo = t * chunk, hi = lo + chunk < n ? lo + chunk : n;
    if (lo < hi)
      f(hi - lo, x + lo, y + lo);
  }
}

void nnrt_vexp(int64_t n, const float *x, float *y)
{
  vm_run(vm_avx512() ? vm_exp_avx512 : vm_exp_scalar, n, x, y);
}

void nnrt_vtanh(int64_t n, const float *x, float *y)
{
  vm_run(vm_avx512() ? vm_tanh_avx512 : vm_tanh_scalar, n, x, y);
}

void nnrt_vsigmoid(int64_t n, const float *x, float *y)
{
  vm_run(vm_avx512() ? vm_sigmoid_avx512 : vm_sigmoid_scalar, n, x, y);
}
