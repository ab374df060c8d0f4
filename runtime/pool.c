/* pool.c: 2-D max and average pooling, NCHW, f32, forward and backward.
 *
 * Direct loops over each (image, channel) plane; planes run in parallel (OpenMP) when there
 * is enough work. Max pooling records the argmax (index in the input plane) so that the
 * backward pass is a scatter-add of dy; a window's first maximum wins, and a NaN wins over
 * numbers (it propagates, as in PyTorch). Padding never wins: it is outside the input, not
 * -inf inside it. Average pooling divides by kh*kw (count_include_pad) or by the number of
 * window cells inside the input.
 */
#include <immintrin.h>
#include <omp.h>
#include <string.h>
#include "kernels.h"

#define POOL_AVX512 __attribute__((target("avx512f,avx512vl")))

_Static_assert(sizeof(kern_pool2d) == 11 * sizeof(int64_t), "ABI: kern_pool2d is int64_t[11]");

/* Planes below this many input elements in total run serially. */
#define POOL_PAR_MIN 32768

int kern_pool2d_check(const kern_pool2d *d, int64_t *oh, int64_t *ow)
{
  if (d->n < 1 || d->c < 1 || d->h < 1 || d->w < 1 || d->kh < 1 || d->kw < 1)
    return kern_fail(NNRT_EINVAL, "pool2d: sizes n, c, h, w, kh, kw must be positive");
  if (d->stride_h < 1 || d->stride_w < 1 || d->pad_h < 0 || d->pad_w < 0)
    return kern_fail(NNRT_EINVAL, "pool2d: strides must be positive, pads >= 0");
  if (d->pad_h >= d->kh || d->pad_w >= d->kw)
    return kern_fail(NNRT_EINVAL, "pool2d: padding must be smaller than the window");
  if (d->h + 2 * d->pad_h < d->kh || d->w + 2 * d->pad_w < d->kw)
    return kern_fail(NNRT_EINVAL, "pool2d: the window is larger than the padded input");
  if (d->h * d->w > INT32_MAX)
    return kern_fail(NNRT_EINVAL, "pool2d: an input plane has more than 2^31 elements");
  if (oh)
    *oh = (d->h + 2 * d->pad_h - d->kh) / d->stride_h + 1;
  if (ow)
    *ow = (d->w + 2 * d->pad_w - d->kw) / d->stride_w + 1;
  return NNRT_OK;
}

/* The window of output (oy, ox) clipped to the input: rows [*y0, *y1), columns [*x0, *x1). */
static void pool_window(const kern_pool2d *d, int64_t oy, int64_t ox, int64_t *y0, int64_t *y1,
                        int64_t *x0, int64_t *x1)
{
  int64_t ys = oy * d->stride_h - d->pad_h, xs = ox * d->stride_w - d->pad_w;
  *y0 = ys < 0 ? 0 : ys;
  *x0 = xs < 0 ? 0 : xs;
  *y1 = ys + d->kh > d->h ? d->h : ys + d->kh;
  *x1 = xs + d->kw > d->w ? d->w : xs + d->kw;
}

/* Takes v (input index iv) as the window's maximum *m (index *i) when it is greater, or
 * when it is the first NaN: branch-free, so that the loops below vectorize. */
static inline void pool_take(float *m, int32_t *i, float v, int32_t iv)
{
  int t = v > *m || (v != v && *m == *m);
  *m = t ? v : *m;
  *i = t ? iv : *i;
}

/* One plane of max pooling without padding (every window inside the input); inlined with
 * kh = kw = sh = sw = 2, the common case, the compiler specializes it. */
static inline void pool_max_plane_inside(const kern_pool2d *d, int64_t kh, int64_t kw,
                                         int64_t sh, int64_t sw, int64_t oh, int64_t ow,
                                         const float *x, float *y, int32_t *am)
{
  for (int64_t oy = 0; oy < oh; oy++) {
    int32_t row = (int32_t)(oy * sh * d->w);
    for (int64_t ox = 0; ox < ow; ox++) {
      int32_t at = row + (int32_t)(ox * sw), best = at;
      float m = x[at];
      for (int64_t ky = 0; ky < kh; ky++)
        for (int64_t kx = 0; kx < kw; kx++) {
          int32_t i = at + (int32_t)(ky * d->w + kx);
          pool_take(&m, &best, x[i], i);
        }
      y[oy * ow + ox] = m;
      if (am)
        am[oy * ow + ox] = best;
    }
  }
}

/* Lanes where v replaces the running maximum m: v > m, or v is NaN and m is not (the
 * first NaN wins), as pool_take. */
POOL_AVX512 static inline __mmask16 pool_take16(__m512 v, __m512 m)
{
  __mmask16 gt = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ);
  __mmask16 vn = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  __mmask16 mn = _mm512_cmp_ps_mask(m, m, _CMP_UNORD_Q);
  return gt | (vn & (__mmask16)~mn);
}

/* Mask of the first n (clamped to 0..16) lanes. */
static __mmask16 pool_mask(int64_t n)
{
  n = n < 0 ? 0 : n > 16 ? 16 : n;
  return (__mmask16)((1u << n) - 1u);
}

/* One plane of 2x2, stride-2 max pooling without padding, 16 outputs a step: the two
 * input rows are loaded 32 floats at a time and split into even and odd columns; the
 * four window cells are taken in pool_max_plane's order, so results and argmax are the
 * same. */
POOL_AVX512 static void pool_max2_plane_avx512(const kern_pool2d *d, int64_t oh, int64_t ow,
                                               const float *x, float *y, int32_t *am)
{
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                         28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512i one = _mm512_set1_epi32(1), down = _mm512_set1_epi32((int32_t)d->w);
  for (int64_t oy = 0; oy < oh; oy++) {
    const float *r0 = x + 2 * oy * d->w, *r1 = r0 + d->w;
    for (int64_t ox = 0; ox < ow; ox += 16) {
      int64_t n = ow - ox < 16 ? ow - ox : 16;
      __mmask16 lo = pool_mask(2 * n), hi = pool_mask(2 * n - 16), out = pool_mask(n);
      __m512 a0 = _mm512_maskz_loadu_ps(lo, r0 + 2 * ox), a1 = _mm512_maskz_loadu_ps(hi, r0 + 2 * ox + 16);
      __m512 b0 = _mm512_maskz_loadu_ps(lo, r1 + 2 * ox), b1 = _mm512_maskz_loadu_ps(hi, r1 + 2 * ox + 16);
      __m512 c[4] = {_mm512_permutex2var_ps(a0, even, a1), _mm512_permutex2var_ps(a0, odd, a1),
                     _mm512_permutex2var_ps(b0, even, b1), _mm512_permutex2var_ps(b0, odd, b1)};
      __m512i at = _mm512_add_epi32(_mm512_set1_epi32((int32_t)(2 * oy * d->w + 2 * ox)), even);
      __m512i ci[4] = {at, _mm512_add_epi32(at, one), _mm512_add_epi32(at, down),
                       _mm512_add_epi32(_mm512_add_epi32(at, down), one)};
      __m512 m = c[0];
      __m512i best = ci[0];
      for (int k = 1; k < 4; k++) {
        __mmask16 t = pool_take16(c[k], m);
        m = _mm512_mask_mov_ps(m, t, c[k]);
        best = _mm512_mask_mov_epi32(best, t, ci[k]);
      }
      _mm512_mask_storeu_ps(y + oy * ow + ox, out, m);
      if (am)
        _mm512_mask_storeu_epi32(am + oy * ow + ox, out, best);
    }
  }
}

/* One plane of max pooling: x f32[h, w] -> y f32[oh, ow], argmax (may be NULL). */
static void pool_max_plane(const kern_pool2d *d, int64_t oh, int64_t ow, const float *x,
                           float *y, int32_t *am)
{
  if (d->pad_h == 0 && d->pad_w == 0) {
    int two = d->kh == 2 && d->kw == 2 && d->stride_h == 2 && d->stride_w == 2;
    if (two && kern_gemm_isa() == KERN_ISA_AVX512)
      pool_max2_plane_avx512(d, oh, ow, x, y, am);
    else if (two)
      pool_max_plane_inside(d, 2, 2, 2, 2, oh, ow, x, y, am);
    else
      pool_max_plane_inside(d, d->kh, d->kw, d->stride_h, d->stride_w, oh, ow, x, y, am);
    return;
  }
  for (int64_t oy = 0; oy < oh; oy++)
    for (int64_t ox = 0; ox < ow; ox++) {
      int64_t y0, y1, x0, x1, best = -1;
      float m = 0.0f;
      pool_window(d, oy, ox, &y0, &y1, &x0, &x1);
      for (int64_t iy = y0; iy < y1; iy++)
        for (int64_t ix = x0; ix < x1; ix++) {
          float v = x[iy * d->w + ix];
          if (best < 0 || v > m || (v != v && m == m)) {
            m = v;
            best = iy * d->w + ix;
          }
        }
      y[oy * ow + ox] = m;
      if (am)
        am[oy * ow + ox] = (int32_t)best;
    }
}

/* One plane of average pooling. */
static void pool_avg_plane(const kern_pool2d *d, int64_t oh, int64_t ow, const float *x,
                           float *y)
{
  for (int64_t oy = 0; oy < oh; oy++)
    for (int64_t ox = 0; ox < ow; ox++) {
      int64_t y0, y1, x0, x1;
      float s = 0.0f;
      pool_window(d, oy, ox, &y0, &y1, &x0, &x1);
      for (int64_t iy = y0; iy < y1; iy++)
        for (int64_t ix = x0; ix < x1; ix++)
          s += x[iy * d->w + ix];
      int64_t cnt = d->count_include_pad ? d->kh * d->kw : (y1 - y0) * (x1 - x0);
      y[oy * ow + ox] = s / (float)cnt;
    }
}

/* One plane of the average pooling adjoint: dx f32[h, w] (zeroed) += spread dy. */
static void pool_avg_plane_bwd(const kern_pool2d *d, int64_t oh, int64_t ow, const float *dy,
                               float *dx)
{
  memset(dx, 0, (size_t)(d->h * d->w) * sizeof *dx);
  for (int64_t oy = 0; oy < oh; oy++)
    for (int64_t ox = 0; ox < ow; ox++) {
      int64_t y0, y1, x0, x1;
      pool_window(d, oy, ox, &y0, &y1, &x0, &x1);
      int64_t cnt = d->count_include_pad ? d->kh * d->kw : (y1 - y0) * (x1 - x0);
      float g = dy[oy * ow + ox] / (float)cnt;
      for (int64_t iy = y0; iy < y1; iy++)
        for (int64_t ix = x0; ix < x1; ix++)
          dx[iy * d->w + ix] += g;
    }
}

/* One plane of the max pooling adjoint: dx (zeroed) += dy at argmax. */
static void pool_max_plane_bwd(const kern_pool2d *d, int64_t np, const float *dy,
                               const int32_t *am, float *dx)
{
  memset(dx, 0, (size_t)(d->h * d->w) * sizeof *dx);
  for (int64_t i = 0; i < np; i++)
    dx[am[i]] += dy[i];
}

/* Which pass a pool_run call makes. */
enum { POOL_MAX, POOL_MAX_BWD, POOL_AVG, POOL_AVG_BWD };

/* Runs one pass over every plane; in and out are the pass's input and output tensors. */
static int pool_run(const kern_pool2d *d, int pass, const float *in, float *out, int32_t *am,
                    const int32_t *amc)
{
  int64_t oh, ow;
  int st = kern_pool2d_check(d, &oh, &ow);
  if (st != NNRT_OK)
    return st;
  int64_t planes = d->n * d->c, hw = d->h * d->w, np = oh * ow;
  int par = planes > 1 && planes * hw >= POOL_PAR_MIN && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (par)
  for (int64_t p = 0; p < planes; p++) {
    switch (pass) {
    case POOL_MAX: pool_max_plane(d, oh, ow, in + p * hw, out + p * np, am ? am + p * np : NULL);
      break;
    case POOL_MAX_BWD: pool_max_plane_bwd(d, np, in + p * np, amc + p * np, out + p * hw);
      break;
    case POOL_AVG: pool_avg_plane(d, oh, ow, in + p * hw, out + p * np);
      break;
    default: pool_avg_plane_bwd(d, oh, ow, in + p * np, out + p * hw);
    }
  }
  return NNRT_OK;
}

int kern_maxpool2d_fwd(const kern_pool2d *d, const float *x, float *y, int32_t *argmax)
{
  return pool_run(d, POOL_MAX, x, y, argmax, NULL);
}

int kern_maxpool2d_bwd(const kern_pool2d *d, const float *dy, const int32_t *argmax,
                       float *dx)
{
  if (!argmax)
    return kern_fail(NNRT_EINVAL, "maxpool2d_bwd: argmax is required");
  return pool_run(d, POOL_MAX_BWD, dy, dx, NULL, argmax);
}

int kern_avgpool2d_fwd(const kern_pool2d *d, const float *x, float *y)
{
  return pool_run(d, POOL_AVG, x, y, NULL, NULL);
}

int kern_avgpool2d_bwd(const kern_pool2d *d, const float *dy, float *dx)
{
  return pool_run(d, POOL_AVG_BWD, dy, dx, NULL, NULL);
}

/* ---- the ABI: geometry as int64_t[11] ---- */

static kern_pool2d pool_geom(const int64_t *geom)
{
  kern_pool2d d;
  memcpy(&d, geom, sizeof d);
  return d;
}

int nnrt_maxpool2d_fwd(const int64_t *geom, const float *x, float *y, int32_t *argmax)
{
  kern_pool2d d = pool_geom(geom);
  return kern_maxpool2d_fwd(&d, x, y, argmax);
}

int nnrt_maxpool2d_bwd(const int64_t *geom, const float *dy, const int32_t *argmax, float *dx)
{
  kern_pool2d d = pool_geom(geom);
  return kern_maxpool2d_bwd(&d, dy, argmax, dx);
}

int nnrt_avgpool2d_fwd(const int64_t *geom, const float *x, float *y)
{
  kern_pool2d d = pool_geom(geom);
  return kern_avgpool2d_fwd(&d, x, y);
}

int nnrt_avgpool2d_bwd(const int64_t *geom, const float *dy, float *dx)
{
  kern_pool2d d = pool_geom(geom);
  return kern_avgpool2d_bwd(&d, dy, dx);
}
