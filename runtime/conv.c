/* conv.c: 2-D convolution, NCHW, f32, through SGEMM (im2col).
 *
 * Source: K. Chellapilla, S. Puri, P. Simard, "High Performance Convolutional Neural
 * Networks for Document Processing", IWFHR 2006 (unrolling convolution into a matrix
 * product); Caffe's im2col / col2im. Per image and group (cg = c/groups, og = oc/groups,
 * ck = cg*kh*kw, P = oh*ow):
 *
 *   col  f32[ck, P]   = im2col(x[b, group])          (row (ci, ki, kj), column (oy, ox))
 *   fwd        y[b, group]  f32[og, P]  = W_g f32[og, ck] . col  (+ bias, in the epilogue)
 *   bwd_data   col = W_g^T . dy[b, group];   dx[b, group] = col2im(col)  (scatter-add)
 *   bwd_filter dW_g += dy[b, group] . col^T  (beta = 1 after the first image)
 *
 * A 1x1 kernel with stride 1 and no padding needs no im2col: col is x itself. The GEMMs
 * parallelize themselves (gemm.c); images run one after another and share one workspace.
 */
#include <stdlib.h>
#include <string.h>
#include "kernels.h"

_Static_assert(sizeof(kern_conv2d) == 12 * sizeof(int64_t), "ABI: kern_conv2d is int64_t[12]");

/* Sizes derived from a checked geometry. */
typedef struct conv_dims {
  int64_t g, cg, og, oh, ow, P, ck;
  int direct; /* 1x1, stride 1, no padding: col is x */
} conv_dims;

int kern_conv2d_check(const kern_conv2d *d, int64_t *oh, int64_t *ow)
{
  int64_t g = d->groups ? d->groups : 1;
  if (d->n < 1 || d->c < 1 || d->h < 1 || d->w < 1 || d->oc < 1 || d->kh < 1 || d->kw < 1)
    return kern_fail(NNRT_EINVAL, "conv2d: sizes n, c, h, w, oc, kh, kw must be positive");
  if (d->stride_h < 1 || d->stride_w < 1 || d->pad_h < 0 || d->pad_w < 0 || g < 1)
    return kern_fail(NNRT_EINVAL, "conv2d: strides and groups must be positive, pads >= 0");
  if (d->c % g || d->oc % g)
    return kern_fail(NNRT_EINVAL, "conv2d: groups must divide both c and oc");
  if (d->h + 2 * d->pad_h < d->kh || d->w + 2 * d->pad_w < d->kw)
    return kern_fail(NNRT_EINVAL, "conv2d: the kernel is larger than the padded input");
  if (oh)
    *oh = (d->h + 2 * d->pad_h - d->kh) / d->stride_h + 1;
  if (ow)
    *ow = (d->w + 2 * d->pad_w - d->kw) / d->stride_w + 1;
  return NNRT_OK;
}

static int conv_dims_of(const kern_conv2d *d, conv_dims *k)
{
  int st = kern_conv2d_check(d, &k->oh, &k->ow);
  if (st != NNRT_OK)
    return st;
  k->g = d->groups ? d->groups : 1;
  k->cg = d->c / k->g;
  k->og = d->oc / k->g;
  k->P = k->oh * k->ow;
  k->ck = k->cg * d->kh * d->kw;
  k->direct = d->kh == 1 && d->kw == 1 && d->stride_h == 1 && d->stride_w == 1 &&
              d->pad_h == 0 && d->pad_w == 0;
  return NNRT_OK;
}

int64_t kern_conv2d_workspace(const kern_conv2d *d)
{
  conv_dims k;
  if (conv_dims_of(d, &k) != NNRT_OK)
    return 0;
  return k.direct ? 1 : k.ck * k.P;
}

/* Uses ws, or allocates the workspace into *own; NULL (with a message) if that fails. */
static float *conv_workspace(const kern_conv2d *d, float *ws, float **own)
{
  *own = NULL;
  if (ws)
    return ws;
  *own = malloc((size_t)kern_conv2d_workspace(d) * sizeof(float));
  if (!*own)
    kern_fail(NNRT_ENOMEM, "conv2d: cannot allocate the im2col workspace");
  return *own;
}

/* ---- im2col / col2im ---- */

/* Input columns [x0, x1) of output row range where ix = ox * s - p + kj is in [0, w). */
static void conv_valid(int64_t kj, int64_t s, int64_t p, int64_t w, int64_t ow, int64_t *x0,
                       int64_t *x1)
{
  int64_t lo = p - kj, hi = w + p - kj; /* need lo <= ox * s < hi */
  *x0 = lo <= 0 ? 0 : (lo + s - 1) / s;
  *x1 = hi <= 0 ? 0 : (hi + s - 1) / s;
  if (*x1 > ow)
    *x1 = ow;
  if (*x0 > *x1)
    *x0 = *x1;
}

/* col f32[cg*kh*kw, oh*ow] from x f32[cg, h, w] (one image, one group). */
static void conv_im2col(const kern_conv2d *d, const conv_dims *k, const float *x, float *col)
{
  for (int64_t ci = 0; ci < k->cg; ci++)
    for (int64_t ki = 0; ki < d->kh; ki++)
      for (int64_t kj = 0; kj < d->kw; kj++, col += k->P) {
        int64_t x0, x1;
        conv_valid(kj, d->stride_w, d->pad_w, d->w, k->ow, &x0, &x1);
        for (int64_t oy = 0; oy < k->oh; oy++) {
          float *dst = col + oy * k->ow;
          int64_t iy = oy * d->stride_h - d->pad_h + ki;
          if (iy < 0 || iy >= d->h) {
            memset(dst, 0, (size_t)k->ow * sizeof *dst);
            continue;
          }
          const float *src = x + (ci * d->h + iy) * d->w;
          memset(dst, 0, (size_t)x0 * sizeof *dst);
          if (d->stride_w == 1)
            memcpy(dst + x0, src + x0 + kj - d->pad_w, (size_t)(x1 - x0) * sizeof *dst);
          else
            for (int64_t ox = x0; ox < x1; ox++)
              dst[ox] = src[ox * d->stride_w + kj - d->pad_w];
          memset(dst + x1, 0, (size_t)(k->ow - x1) * sizeof *dst);
        }
      }
}

/* dst[ox * s + off] += src[ox] for x0 <= ox < x1 (all in bounds, see conv_valid);
 * restrict lets the stride-1 case vectorize. */
static void conv_add_row(float *restrict dst, int64_t s, int64_t off, const float *restrict src,
                         int64_t x0, int64_t x1)
{
  if (s == 1)
    for (int64_t ox = x0; ox < x1; ox++)
      dst[ox + off] += src[ox];
  else
    for (int64_t ox = x0; ox < x1; ox++)
      dst[ox * s + off] += src[ox];
}

/* dx f32[cg, h, w] += col2im(col) (one image, one group); the adjoint of conv_im2col. */
static void conv_col2im(const kern_conv2d *d, const conv_dims *k, const float *col, float *dx)
{
  for (int64_t ci = 0; ci < k->cg; ci++)
    for (int64_t ki = 0; ki < d->kh; ki++)
      for (int64_t kj = 0; kj < d->kw; kj++, col += k->P) {
        int64_t x0, x1;
        conv_valid(kj, d->stride_w, d->pad_w, d->w, k->ow, &x0, &x1);
        for (int64_t oy = 0; oy < k->oh; oy++) {
          int64_t iy = oy * d->stride_h - d->pad_h + ki;
          if (iy < 0 || iy >= d->h)
            continue;
          conv_add_row(dx + (ci * d->h + iy) * d->w, d->stride_w, kj - d->pad_w,
                       col + oy * k->ow, x0, x1);
        }
      }
}

/* ---- the three passes ---- */

int kern_conv2d_fwd(const kern_conv2d *d, const float *x, const float *w, const float *bias,
                    float *y, float *ws)
{
  conv_dims k;
  float *own = NULL;
  int st = conv_dims_of(d, &k);
  if (st != NNRT_OK)
    return st;
  float *col = k.direct ? NULL : conv_workspace(d, ws, &own);
  if (!k.direct && !col)
    return NNRT_ENOMEM;
  for (int64_t b = 0; b < d->n; b++)
    for (int64_t gi = 0; gi < k.g; gi++) {
      const float *xg = x + (b * d->c + gi * k.cg) * d->h * d->w;
      if (!k.direct)
        conv_im2col(d, &k, xg, col);
      kern_sgemm(0, 0, k.og, k.P, k.ck, 1.0f, w + gi * k.og * k.ck, k.ck, k.direct ? xg : col,
                 k.P, 0.0f, y + (b * d->oc + gi * k.og) * k.P, k.P, NULL,
                 bias ? bias + gi * k.og : NULL, NNRT_ACT_NONE);
    }
  free(own);
  return NNRT_OK;
}

int kern_conv2d_bwd_data(const kern_conv2d *d, const float *dy, const float *w, float *dx,
                         float *ws)
{
  conv_dims k;
  float *own = NULL;
  int st = conv_dims_of(d, &k);
  if (st != NNRT_OK)
    return st;
  float *col = k.direct ? NULL : conv_workspace(d, ws, &own);
  if (!k.direct && !col)
    return NNRT_ENOMEM;
  int64_t hw = d->h * d->w;
  for (int64_t b = 0; b < d->n; b++)
    for (int64_t gi = 0; gi < k.g; gi++) {
      float *dxg = dx + (b * d->c + gi * k.cg) * hw;
      const float *dyg = dy + (b * d->oc + gi * k.og) * k.P;
      const float *wg = w + gi * k.og * k.ck;
      if (k.direct) { /* dx_g f32[cg, hw] = W_g^T . dy_g */
        nnrt_sgemm(1, 0, k.ck, k.P, k.og, 1.0f, wg, k.ck, dyg, k.P, 0.0f, dxg, k.P);
        continue;
      }
      nnrt_sgemm(1, 0, k.ck, k.P, k.og, 1.0f, wg, k.ck, dyg, k.P, 0.0f, col, k.P);
      memset(dxg, 0, (size_t)(k.cg * hw) * sizeof *dxg);
      conv_col2im(d, &k, col, dxg);
    }
  free(own);
  return NNRT_OK;
}

/* dbias[o] = sum of dy[b, o, :, :] over the batch. */
static void conv_bias_grad(const kern_conv2d *d, const conv_dims *k, const float *dy,
                           float *dbias)
{
  for (int64_t o = 0; o < d->oc; o++) {
    double s = 0.0;
    for (int64_t b = 0; b < d->n; b++) {
      const float *p = dy + (b * d->oc + o) * k->P;
      for (int64_t i = 0; i < k->P; i++)
        s += p[i];
    }
    dbias[o] = (float)s;
  }
}

int kern_conv2d_bwd_filter(const kern_conv2d *d, const float *x, const float *dy, float *dw,
                           float *dbias, float *ws)
{
  conv_dims k;
  float *own = NULL;
  int st = conv_dims_of(d, &k);
  if (st != NNRT_OK)
    return st;
  float *col = k.direct ? NULL : conv_workspace(d, ws, &own);
  if (!k.direct && !col)
    return NNRT_ENOMEM;
  for (int64_t b = 0; b < d->n; b++)
    for (int64_t gi = 0; gi < k.g; gi++) {
      const float *xg = x + (b * d->c + gi * k.cg) * d->h * d->w;
      if (!k.direct)
        conv_im2col(d, &k, xg, col);
      nnrt_sgemm(0, 1, k.og, k.ck, k.P, 1.0f, dy + (b * d->oc + gi * k.og) * k.P, k.P,
                 k.direct ? xg : col, k.P, b == 0 ? 0.0f : 1.0f, dw + gi * k.og * k.ck, k.ck);
    }
  if (dbias)
    conv_bias_grad(d, &k, dy, dbias);
  free(own);
  return NNRT_OK;
}

/* ---- the ABI: geometry as int64_t[12] ---- */

static kern_conv2d conv_geom(const int64_t *geom)
{
  kern_conv2d d;
  memcpy(&d, geom, sizeof d);
  return d;
}

int64_t nnrt_conv2d_workspace(const int64_t *geom)
{
  kern_conv2d d = conv_geom(geom);
  return kern_conv2d_workspace(&d);
}

int nnrt_conv2d_fwd(const int64_t *geom, const float *x, const float *w, const float *bias,
                    float *y, float *ws)
{
  kern_conv2d d = conv_geom(geom);
  return kern_conv2d_fwd(&d, x, w, bias, y, ws);
}

int nnrt_conv2d_bwd_data(const int64_t *geom, const float *dy, const float *w, float *dx,
                         float *ws)
{
  kern_conv2d d = conv_geom(geom);
  return kern_conv2d_bwd_data(&d, dy, w, dx, ws);
}

int nnrt_conv2d_bwd_filter(const int64_t *geom, const float *x, const float *dy, float *dw,
                           float *dbias, float *ws)
{
  kern_conv2d d = conv_geom(geom);
  return kern_conv2d_bwd_filter(&d, x, dy, dw, dbias, ws);
}
