/* pool.c: 2-D max and average pooling, NCHW, f32, forward and backward.
 *
 * Direct loops over each (image, channel) plane; planes run in parallel (OpenMP) when there
 * is enough work. Max pooling records the argmax (index in the input plane) so that the
 * backward pass is a scatter-add of dy; a window's first maximum wins, and a NaN wins over
 * numbers (it propagates, as in PyTorch). Padding never wins: it is outside the input, not
 * -inf inside it. Average pooling divides by kh*kw (count_include_pad) or by the number of
 * window cells inside the input.
 */
#include <omp.h>
#include <string.h>
#include "kernels.h"

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

/* One plane of max pooling: x f32[h, w] -> y f32[oh, ow], argmax (may be NULL). */
static void pool_max_plane(const kern_pool2d *d, int64_t oh, int64_t ow, const float *x,
                           float *y, int32_t *am)
{
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
