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
 * instead, each thread with its own im2col buffer. bwd_filter splits the batch into
 * CONV_DW_CHUNKS runs of images (fewer when the batch is smaller), each summed in image
 * order into its own dw accumulator, and adds the accumulators in chunk order: the split
 * depends on n only, so dw is the same, bit for bit, on any number of threads.
 */
#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"

#define CONV_AVX512 __attribute__((target("avx512f,avx512vl")))

/* Runs of images bwd_filter sums separately (one dw accumulator each), then adds in order;
 * also the most threads it uses. A constant, not the thread count: see the note above. */
#define CONV_DW_CHUNKS 4
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

/* gcc turns plain copy loops back into memcpy/memset calls unless told not to. */
#if defined(__GNUC__) && !defined(__clang__)
#define CONV_NO_LIBC_CALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define CONV_NO_LIBC_CALLS
#endif

/* dst[ox] = src[(ox - x0) * s] for x0 <= ox < x1, zero elsewhere in [0, ow): one row of
 * col. Plain loops, not memcpy/memset: the rows are short (8 floats in a 5x5 conv on
 * 12x12), and three libc calls per row cost more than the copy. */
CONV_NO_LIBC_CALLS static void conv_copy_row(float *restrict dst, const float *restrict src, int64_t s,
                          int64_t x0, int64_t x1, int64_t ow)
{
  for (int64_t ox = 0; ox < x0; ox++)
    dst[ox] = 0.0f;
  if (s == 1)
    for (int64_t ox = x0; ox < x1; ox++)
      dst[ox] = src[ox - x0];
  else
    for (int64_t ox = x0; ox < x1; ox++)
      dst[ox] = src[(ox - x0) * s];
  for (int64_t ox = x1; ox < ow; ox++)
    dst[ox] = 0.0f;
}

/* ---- AVX-512 rows for stride_w 1: one masked load and store per 16 columns ----
 * Row oy of the (ci, ki, kj) plane of col is input row iy shifted by kj - pad_w, zero
 * outside the valid columns [x0, x1). The loads are masked to [x0, x1), and masked-off
 * lanes never touch memory (AVX-512 suppresses their faults), so a row is addressed from
 * its shifted start without reading outside the input. In a 5x5 conv on 12x12 (rows of
 * 8), this made im2col and col2im 3-4x faster than the scalar loops. */

/* Lanes [lo, hi) clamped to [0, 16). */
static __mmask16 conv_lanes(int64_t lo, int64_t hi)
{
  lo = lo < 0 ? 0 : lo > 16 ? 16 : lo;
  hi = hi < 0 ? 0 : hi > 16 ? 16 : hi;
  if (hi <= lo)
    return 0;
  return (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}

/* The (ci, ki, kj) plane of col (oh rows of ow) from xc = x f32[h, w] of channel ci. */
CONV_AVX512 static void conv_im2col_plane_avx512(const kern_conv2d *d, const conv_dims *k,
                                                 const float *xc, int64_t ki, int64_t kj,
                                                 int64_t x0, int64_t x1, float *col)
{
  if (k->ow <= 16) { /* one chunk a row: the masks are the same for every row */
    __mmask16 st = conv_lanes(0, k->ow), ld = conv_lanes(x0, x1);
    for (int64_t oy = 0; oy < k->oh; oy++, col += k->ow) {
      int64_t iy = oy * d->stride_h - d->pad_h + ki;
      int in = iy >= 0 && iy < d->h;
      const float *src = in ? xc + iy * d->w + kj - d->pad_w : xc;
      _mm512_mask_storeu_ps(col, st, _mm512_maskz_loadu_ps(in ? ld : 0, src));
    }
    return;
  }
  for (int64_t oy = 0; oy < k->oh; oy++) {
    int64_t iy = oy * d->stride_h - d->pad_h + ki;
    int in = iy >= 0 && iy < d->h;
    const float *src = in ? xc + iy * d->w + kj - d->pad_w : xc; /* src[ox] for ox in [x0, x1) */
    float *dst = col + oy * k->ow;
    for (int64_t o = 0; o < k->ow; o += 16) {
      __mmask16 ld = in ? conv_lanes(x0 - o, x1 - o) : 0;
      _mm512_mask_storeu_ps(dst + o, conv_lanes(0, k->ow - o), _mm512_maskz_loadu_ps(ld, src + o));
    }
  }
}

/* Most kernel columns the AVX-512 col2im handles (its valid ranges are on the stack). */
#define CONV_KW_MAX 64

/* dxc f32[h, w] of channel ci += col2im of channel ci's kh*kw planes of col. Each input row
 * iy is loaded once per 16 columns and gets every (kj) plane's shifted row added in
 * registers before one store: adding plane after plane in memory (as the scalar path
 * does) stalled on store forwarding, each store overlapping the next load one float
 * off. Each element still gets its contributions in (ki, kj) order, as in the scalar path. */
CONV_AVX512 static void conv_col2im_chan_avx512(const kern_conv2d *d, const conv_dims *k,
                                                const float *col, float *dxc)
{
  int64_t lo[CONV_KW_MAX], hi[CONV_KW_MAX]; /* columns ix that plane kj reaches */
  for (int64_t kj = 0; kj < d->kw; kj++) {
    conv_valid(kj, 1, d->pad_w, d->w, k->ow, &lo[kj], &hi[kj]);
    lo[kj] += kj - d->pad_w, hi[kj] += kj - d->pad_w;
  }
  for (int64_t ki = 0; ki < d->kh; ki++)
    for (int64_t oy = 0; oy < k->oh; oy++) {
      int64_t iy = oy * d->stride_h - d->pad_h + ki;
      if (iy < 0 || iy >= d->h)
        continue;
      float *dst = dxc + iy * d->w;
      const float *row = col + ki * d->kw * k->P + oy * k->ow + d->pad_w; /* plane kj: row - kj */
      for (int64_t c0 = 0; c0 < d->w; c0 += 16) {
        __mmask16 m = conv_lanes(0, d->w - c0);
        __m512 acc = _mm512_maskz_loadu_ps(m, dst + c0);
        for (int64_t kj = 0; kj < d->kw; kj++) {
          __mmask16 in = conv_lanes(lo[kj] - c0, hi[kj] - c0);
          const float *src = row + kj * k->P - kj; /* src[ix] = plane kj's col at ox = ix - kj + pad_w */
          acc = _mm512_mask_add_ps(acc, in, acc, _mm512_maskz_loadu_ps(in, src + c0));
        }
        _mm512_mask_storeu_ps(dst + c0, m, acc);
      }
    }
}

/* Whether the AVX-512 rows apply: stride_w 1 on a host (or forced ISA) with AVX-512. */
static int conv_rows_avx512(const kern_conv2d *d)
{
  return d->stride_w == 1 && d->kw <= CONV_KW_MAX && kern_gemm_isa() == KERN_ISA_AVX512;
}

/* col f32[cg*kh*kw, oh*ow] from x f32[cg, h, w] (one image, one group). */
static void conv_im2col(const kern_conv2d *d, const conv_dims *k, const float *x, float *col)
{
  int avx512 = conv_rows_avx512(d);
  for (int64_t ci = 0; ci < k->cg; ci++)
    for (int64_t ki = 0; ki < d->kh; ki++)
      for (int64_t kj = 0; kj < d->kw; kj++, col += k->P) {
        int64_t x0, x1;
        conv_valid(kj, d->stride_w, d->pad_w, d->w, k->ow, &x0, &x1);
        if (avx512) {
          conv_im2col_plane_avx512(d, k, x + ci * d->h * d->w, ki, kj, x0, x1, col);
          continue;
        }
        for (int64_t oy = 0; oy < k->oh; oy++) {
          float *dst = col + oy * k->ow;
          int64_t iy = oy * d->stride_h - d->pad_h + ki;
          if (iy < 0 || iy >= d->h || x0 == x1) {
            memset(dst, 0, (size_t)k->ow * sizeof *dst);
            continue;
          }
          const float *src = x + (ci * d->h + iy) * d->w + x0 * d->stride_w + kj - d->pad_w;
          conv_copy_row(dst, src, d->stride_w, x0, x1, k->ow);
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
  if (conv_rows_avx512(d)) {
    for (int64_t ci = 0; ci < k->cg; ci++)
      conv_col2im_chan_avx512(d, k, col + ci * d->kh * d->kw * k->P, dx + ci * d->h * d->w);
    return;
  }
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
  float **dwt;                    /* bwd_filter: one f32[oc, ck] accumulator per chunk */
  int64_t units;                  /* what the batch loop splits: images, or bwd_filter's chunks */
  int bad;                        /* a thread could not allocate its buffers */
  int act;                        /* fwd: NNRT_ACT_NONE or NNRT_ACT_RELU after the bias */
} conv_ctx;

/* Runs unit u (an image, or a chunk of images for bwd_filter) with this thread's col. */
typedef void conv_image_fn(const conv_ctx *c, int64_t u, float *col);

/* y[b] = act(conv(x[b], w) + bias), the bias and act in the GEMM's epilogue. */
static void conv_fwd_image(const conv_ctx *c, int64_t b, float *col)
{
  const kern_conv2d *d = c->d;
  const conv_dims *k = &c->k;
  for (int64_t gi = 0; gi < k->g; gi++) {
    const float *xg = c->x + (b * d->c + gi * k->cg) * d->h * d->w;
    if (!k->direct)
      conv_im2col(d, k, xg, col);
    kern_sgemm(0, 0, k->og, k->P, k->ck, 1.0f, c->w + gi * k->og * k->ck, k->ck,
               k->direct ? xg : col, k->P, 0.0f, c->y + (b * d->oc + gi * k->og) * k->P, k->P,
               NULL, c->bias ? c->bias + gi * k->og : NULL, c->act);
  }
}

/* dx[b] = col2im(W^T dy[b]), or W^T dy[b] itself for a 1x1 kernel. */
static void conv_bwd_data_image(const conv_ctx *c, int64_t b, float *col)
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

/* Images [n q / nq, n (q + 1) / nq) of chunk q of nq. */
static int64_t conv_chunk_start(int64_t n, int64_t q, int64_t nq)
{
  return n * q / nq;
}

/* dwt[q] = the sum over chunk q's images, in image order. */
static void conv_bwd_filter_chunk(const conv_ctx *c, int64_t q, float *col)
{
  float *dw = c->dwt[q];
  memset(dw, 0, (size_t)(c->d->oc * c->k.ck) * sizeof *dw);
  int64_t b1 = conv_chunk_start(c->d->n, q + 1, c->units);
  for (int64_t b = conv_chunk_start(c->d->n, q, c->units); b < b1; b++)
    conv_bwd_filter_image(c, b, col, dw);
}

/* ---- the batch loop ---- */

/* Threads for the batch loop: images run in parallel when there are several and each
 * GEMM is too small to use the threads itself (one parallel region per pass, not one per
 * image, matters on a busy machine); else 1 and the GEMMs parallelize themselves. */
static int conv_threads(const kern_conv2d *d, const conv_dims *k, int64_t units)
{
  if (units < 2 || omp_in_parallel())
    return 1;
  if (2.0 * (double)k->og * (double)k->ck * (double)k->P >= KERN_GEMM_PAR_MIN_FLOPS)
    return 1;
  int nt = omp_get_max_threads();
  return nt < units ? nt : (int)units;
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

/* One thread's share of the units (split statically); shared: inside conv_batch's team,
 * else all of them. Marks c->bad if its buffer could not be allocated. */
static void conv_batch_part(conv_ctx *c, conv_image_fn *fn, float *ws, int tid, int shared)
{
  float *own, *col = conv_thread_col(c, ws, tid, &own);
  int ok = col || c->k.direct;
  if (!ok) {
#pragma omp atomic write
    c->bad = 1;
  }
  if (shared) {
#pragma omp for schedule(static)
    for (int64_t u = 0; u < c->units; u++)
      if (ok)
        fn(c, u, col);
  } else if (ok) { /* no worksharing here: it would bind to a caller's team */
    for (int64_t u = 0; u < c->units; u++)
      fn(c, u, col);
  }
  free(own);
}

/* dwt[0] += dwt[1] + ... (in chunk order: the same sums on any number of threads);
 * shared: inside conv_batch's team. */
static void conv_reduce_dw(const conv_ctx *c, int shared)
{
  int64_t nw = c->d->oc * c->k.ck;
  if (shared) {
#pragma omp for schedule(static)
    for (int64_t i = 0; i < nw; i++)
      for (int64_t q = 1; q < c->units; q++)
        c->dwt[0][i] += c->dwt[q][i];
  } else {
    for (int64_t i = 0; i < nw; i++)
      for (int64_t q = 1; q < c->units; q++)
        c->dwt[0][i] += c->dwt[q][i];
  }
}

/* Runs fn over the batch on nt threads; NNRT_OK or NNRT_ENOMEM. */
static int conv_batch(conv_ctx *c, conv_image_fn *fn, float *ws, int nt)
{
  if (nt == 1) {
    conv_batch_part(c, fn, ws, 0, 0);
    if (c->dwt && !c->bad)
      conv_reduce_dw(c, 0);
  } else {
#pragma omp parallel num_threads(nt)
    {
      conv_batch_part(c, fn, ws, omp_get_thread_num(), 1); /* ends with a barrier */
      int bad;
#pragma omp atomic read
      bad = c->bad;
      if (c->dwt && !bad)
        conv_reduce_dw(c, 1);
    }
  }
  return c->bad ? kern_fail(NNRT_ENOMEM, CONV_NOMEM) : NNRT_OK;
}

/* ---- the three passes ---- */

int kern_conv2d_fwd_act(const kern_conv2d *d, const float *x, const float *w, const float *bias,
                        int act, float *y, float *ws)
{
  conv_ctx c = {d, {0}, x, w, bias, NULL, y, NULL, NULL, d->n, 0, act};
  if (act != NNRT_ACT_NONE && act != NNRT_ACT_RELU)
    return kern_fail(NNRT_EINVAL, "conv2d: the activation must be none or relu");
  int st = conv_dims_of(d, &c.k);
  if (st != NNRT_OK)
    return st;
  return conv_batch(&c, conv_fwd_image, ws, conv_threads(d, &c.k, c.units));
}

int kern_conv2d_fwd(const kern_conv2d *d, const float *x, const float *w, const float *bias,
                    float *y, float *ws)
{
  return kern_conv2d_fwd_act(d, x, w, bias, NNRT_ACT_NONE, y, ws);
}

int kern_conv2d_bwd_data(const kern_conv2d *d, const float *dy, const float *w, float *dx,
                         float *ws)
{
  conv_ctx c = {d, {0}, NULL, w, NULL, dy, NULL, dx, NULL, d->n, 0, NNRT_ACT_NONE};
  int st = conv_dims_of(d, &c.k);
  if (st != NNRT_OK)
    return st;
  return conv_batch(&c, conv_bwd_data_image, ws, conv_threads(d, &c.k, c.units));
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

/* Chunk 0 accumulates into dw itself, the others into buffers added at the end. */
int kern_conv2d_bwd_filter(const kern_conv2d *d, const float *x, const float *dy, float *dw,
                           float *dbias, float *ws)
{
  float *dwt[CONV_DW_CHUNKS] = {dw};
  conv_ctx c = {d, {0}, x, NULL, NULL, dy, NULL, NULL, dwt, 0, 0, NNRT_ACT_NONE};
  int st = conv_dims_of(d, &c.k);
  if (st != NNRT_OK)
    return st;
  c.units = d->n < CONV_DW_CHUNKS ? d->n : CONV_DW_CHUNKS;
  size_t nw = (size_t)(d->oc * c.k.ck);
  int ok = 1;
  for (int64_t q = 1; q < c.units; q++)
    ok &= (dwt[q] = malloc(nw * sizeof(float))) != NULL;
  st = ok ? conv_batch(&c, conv_bwd_filter_chunk, ws, conv_threads(d, &c.k, c.units))
          : kern_fail(NNRT_ENOMEM, CONV_NOMEM);
  for (int64_t q = 1; q < c.units; q++)
    free(dwt[q]);
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

int nnrt_conv2d_fwd_ex(const int64_t *geom, const float *x, const float *w, const float *bias,
                       float *y, float *ws, int act)
{
  kern_conv2d d = conv_geom(geom);
  return kern_conv2d_fwd_act(&d, x, w, bias, act, y, ws);
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
