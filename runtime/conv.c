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
 * A 1x1 kernel with stride 1 and no padding needs no im2col: col is x itself. Large GEMMs
 * parallelize themselves (gemm.c); when they are small, the images run in parallel
 * instead, each thread with its own im2col buffer (and, for bwd_filter, its own dw
 * accumulator, summed in thread order at the end).
 */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"

/* Threads the batch loop of bwd_filter uses at most (one dw accumulator each). */
#define CONV_MAX_THREADS 64
#define CONV_NOMEM "conv2d: cannot allocate the im2col workspace"

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

/* ---- one image ---- */

/* Everything a pass needs; the per-image functions read it. */
typedef struct conv_ctx {
  const kern_conv2d *d;
  conv_dims k;
  const float *x, *w, *bias, *dy; /* inputs of the pass (unused ones NULL) */
  float *y, *dx;                  /* outputs (fwd, bwd_data) */
  float **dwt;                    /* bwd_filter: one f32[oc, ck] accumulator per thread */
  int bad;                        /* a thread could not allocate its buffers */
} conv_ctx;

typedef void conv_image_fn(const conv_ctx *c, int64_t b, float *col, float *dw);

/* y[b] = conv(x[b], w) + bias. */
static void conv_fwd_image(const conv_ctx *c, int64_t b, float *col, float *dw)
{
  const kern_conv2d *d = c->d;
  const conv_dims *k = &c->k;
  for (int64_t gi = 0; gi < k->g; gi++) {
    const float *xg = c->x + (b * d->c + gi * k->cg) * d->h * d->w;
    if (!k->direct)
      conv_im2col(d, k, xg, col);
    kern_sgemm(0, 0, k->og, k->P, k->ck, 1.0f, c->w + gi * k->og * k->ck, k->ck,
               k->direct ? xg : col, k->P, 0.0f, c->y + (b * d->oc + gi * k->og) * k->P, k->P,
               NULL, c->bias ? c->bias + gi * k->og : NULL, NNRT_ACT_NONE);
  }
}

/* dx[b] = col2im(W^T dy[b]), or W^T dy[b] itself for a 1x1 kernel. */
static void conv_bwd_data_image(const conv_ctx *c, int64_t b, float *col, float *dw)
{
  const kern_conv2d *d = c->d;
  const conv_dims *k = &c->k;
  int64_t hw = d->h * d->w;
  for (int64_t gi = 0; gi < k->g; gi++) {
    float *dxg = c->dx + (b * d->c + gi * k->cg) * hw;
    const float *dyg = c->dy + (b * d->oc + gi * k->og) * k->P;
    const float *wg = c->w + gi * k->og * k->ck;
    nnrt_sgemm(1, 0, k->ck, k->P, k->og, 1.0f, wg, k->ck, dyg, k->P, 0.0f,
               k->direct ? dxg : col, k->P);
    if (!k->direct) {
      memset(dxg, 0, (size_t)(k->cg * hw) * sizeof *dxg);
      conv_col2im(d, k, col, dxg);
    }
  }
}

/* dw += dy[b] im2col(x[b])^T. */
static void conv_bwd_filter_image(const conv_ctx *c, int64_t b, float *col, float *dw)
{
  const kern_conv2d *d = c->d;
  const conv_dims *k = &c->k;
  for (int64_t gi = 0; gi < k->g; gi++) {
    const float *xg = c->x + (b * d->c + gi * k->cg) * d->h * d->w;
    if (!k->direct)
      conv_im2col(d, k, xg, col);
    nnrt_sgemm(0, 1, k->og, k->ck, k->P, 1.0f, c->dy + (b * d->oc + gi * k->og) * k->P, k->P,
               k->direct ? xg : col, k->P, 1.0f, dw + gi * k->og * k->ck, k->ck);
  }
}

/* ---- the batch loop ---- */

/* Threads for the batch loop: images run in parallel when there are several and each
 * GEMM is too small to use the threads itself (one parallel region per pass, not one per
 * image, matters on a busy machine); else 1 and the GEMMs parallelize themselves. */
static int conv_threads(const kern_conv2d *d, const conv_dims *k)
{
  if (d->n < 2 || omp_in_parallel())
    return 1;
  if (2.0 * (double)k->og * (double)k->ck * (double)k->P >= KERN_GEMM_PAR_MIN_FLOPS)
    return 1;
  int nt = omp_get_max_threads();
  return nt < d->n ? nt : (int)d->n;
}

/* This thread's im2col buffer: the caller's ws on thread 0, else malloc'ed into *own. */
static float *conv_thread_col(const conv_ctx *c, float *ws, int tid, float **own)
{
  *own = NULL;
  if (c->k.direct)
    return NULL;
  if (ws && tid == 0)
    return ws;
  *own = malloc((size_t)(c->k.ck * c->k.P) * sizeof(float));
  return *own;
}

/* One thread's share of the batch (images split statically, so the bwd_filter sums are
 * the same from run to run); shared: inside conv_batch's team, else the whole batch.
 * Marks c->bad if its buffers could not be allocated. */
static void conv_batch_part(conv_ctx *c, conv_image_fn *fn, float *ws, int tid, int shared)
{
  float *own, *col = conv_thread_col(c, ws, tid, &own), *dw = c->dwt ? c->dwt[tid] : NULL;
  int ok = (col || c->k.direct) && (!c->dwt || dw);
  if (!ok) {
#pragma omp atomic write
    c->bad = 1;
  }
  if (shared) {
#pragma omp for schedule(static)
    for (int64_t b = 0; b < c->d->n; b++)
      if (ok)
        fn(c, b, col, dw);
  } else if (ok) { /* no worksharing here: it would bind to a caller's team */
    for (int64_t b = 0; b < c->d->n; b++)
      fn(c, b, col, dw);
  }
  free(own);
}

/* dwt[0] += dwt[1] + ... (in thread order: deterministic). */
static void conv_reduce_dw(const conv_ctx *c, int nt)
{
  int64_t nw = c->d->oc * c->k.ck;
#pragma omp for schedule(static)
  for (int64_t i = 0; i < nw; i++)
    for (int t = 1; t < nt; t++)
      c->dwt[0][i] += c->dwt[t][i];
}

/* Runs fn over the batch on nt threads; NNRT_OK or NNRT_ENOMEM. */
static int conv_batch(conv_ctx *c, conv_image_fn *fn, float *ws, int nt)
{
  if (nt == 1)
    conv_batch_part(c, fn, ws, 0, 0);
  else {
#pragma omp parallel num_threads(nt)
    {
      conv_batch_part(c, fn, ws, omp_get_thread_num(), 1); /* ends with a barrier */
      int bad;
#pragma omp atomic read
      bad = c->bad;
      if (c->dwt && !bad)
        conv_reduce_dw(c, omp_get_num_threads());
    }
  }
  return c->bad ? kern_fail(NNRT_ENOMEM, CONV_NOMEM) : NNRT_OK;
}

/* ---- the three passes ---- */

int kern_conv2d_fwd(const kern_conv2d *d, const float *x, const float *w, const float *bias,
                    float *y, float *ws)
{
  conv_ctx c = {d, {0}, x, w, bias, NULL, y, NULL, NULL, 0};
  int st = conv_dims_of(d, &c.k);
  if (st != NNRT_OK)
    return st;
  return conv_batch(&c, conv_fwd_image, ws, conv_threads(d, &c.k));
}

int kern_conv2d_bwd_data(const kern_conv2d *d, const float *dy, const float *w, float *dx,
                         float *ws)
{
  conv_ctx c = {d, {0}, NULL, w, NULL, dy, NULL, dx, NULL, 0};
  int st = conv_dims_of(d, &c.k);
  if (st != NNRT_OK)
    return st;
  return conv_batch(&c, conv_bwd_data_image, ws, conv_threads(d, &c.k));
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

/* Thread 0 accumulates into dw itself, the others into zeroed buffers summed at the end. */
int kern_conv2d_bwd_filter(const kern_conv2d *d, const float *x, const float *dy, float *dw,
                           float *dbias, float *ws)
{
  float *dwt[CONV_MAX_THREADS] = {dw};
  conv_ctx c = {d, {0}, x, NULL, NULL, dy, NULL, NULL, dwt, 0};
  int st = conv_dims_of(d, &c.k);
  if (st != NNRT_OK)
    return st;
  int nt = conv_threads(d, &c.k);
  nt = nt > CONV_MAX_THREADS ? CONV_MAX_THREADS : nt;
  size_t nw = (size_t)(d->oc * c.k.ck);
  memset(dw, 0, nw * sizeof *dw);
  for (int t = 1; t < nt; t++)
    dwt[t] = calloc(nw, sizeof(float)); /* NULL: that thread reports ENOMEM */
  st = conv_batch(&c, conv_bwd_filter_image, ws, nt);
  for (int t = 1; t < nt; t++)
    free(dwt[t]);
  if (st == NNRT_OK && dbias)
    conv_bias_grad(d, &c.k, dy, dbias);
  return st;
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
