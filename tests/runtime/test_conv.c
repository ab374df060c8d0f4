/* test_conv.c: conv2d and pooling against direct loops, and their backward passes
 * against the adjoint identities <f(x), y> == <x, f^T(y)>.
 *
 * conv2d is linear in x (for fixed w) and in w (for fixed x), so bwd_data and bwd_filter
 * must be the exact adjoints: <conv(x, w), dy> == <x, bwd_data(dy, w)> == <w, bwd_filter(x,
 * dy)>. Max pooling is linear for a fixed argmax, average pooling is linear.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"

static float *rnd(int64_t n, unsigned seed)
{
  float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
  for (int64_t i = 0; i < n; i++) {
    seed = seed * 1664525u + 1013904223u;
    p[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
  }
  return p;
}

static double dot(const float *a, const float *b, int64_t n)
{
  double s = 0.0;
  for (int64_t i = 0; i < n; i++)
    s += (double)a[i] * b[i];
  return s;
}

static double asum(const float *a, int64_t n)
{
  double s = 0.0;
  for (int64_t i = 0; i < n; i++)
    s += fabs(a[i]);
  return s;
}

/* Direct convolution in double: y[b, o, oy, ox]. */
static double conv_ref(const kern_conv2d *d, const float *x, const float *w, const float *bias,
                       int64_t b, int64_t o, int64_t oy, int64_t ox)
{
  int64_t g = d->groups ? d->groups : 1, cg = d->c / g, og = d->oc / g, gi = o / og;
  double s = bias ? bias[o] : 0.0;
  for (int64_t ci = 0; ci < cg; ci++)
    for (int64_t ki = 0; ki < d->kh; ki++)
      for (int64_t kj = 0; kj < d->kw; kj++) {
        int64_t iy = oy * d->stride_h - d->pad_h + ki, ix = ox * d->stride_w - d->pad_w + kj;
        if (iy < 0 || iy >= d->h || ix < 0 || ix >= d->w)
          continue;
        s += (double)x[((b * d->c + gi * cg + ci) * d->h + iy) * d->w + ix] *
             w[((o * cg + ci) * d->kh + ki) * d->kw + kj];
      }
  return s;
}

typedef struct conv_case {
  int64_t n, c, h, w, oc, kh, kw, sh, sw, ph, pw, g;
} conv_case;

static const conv_case conv_cases[] = {
  {2, 3, 9, 11, 4, 3, 3, 1, 1, 1, 1, 1},  /* same padding */
  {1, 4, 10, 7, 6, 3, 2, 2, 1, 0, 1, 2},  /* stride, rectangular kernel, groups */
  {3, 5, 6, 6, 7, 1, 1, 1, 1, 0, 0, 1},   /* 1x1: no im2col */
  {2, 4, 5, 5, 4, 1, 1, 1, 1, 0, 0, 4},   /* depthwise 1x1 */
  {1, 2, 13, 13, 3, 5, 5, 3, 2, 2, 2, 1}, /* big kernel, stride 3/2 */
  {2, 6, 8, 9, 6, 3, 3, 2, 2, 1, 1, 3},   /* grouped, strided */
  {1, 1, 3, 3, 1, 3, 3, 1, 1, 0, 0, 1},   /* output 1x1 */
  {1, 16, 14, 14, 32, 3, 3, 1, 1, 1, 1, 1}, /* a LeNet/ResNet-like layer */
  {2, 3, 5, 40, 4, 3, 5, 1, 1, 1, 2, 1},  /* rows of 40: three 16-lane chunks, padded */
  {3, 2, 12, 12, 5, 5, 5, 1, 1, 0, 0, 1},  /* the CNN's 5x5 on 12x12: rows of 8 */
};

static kern_conv2d conv_of(const conv_case *k)
{
  kern_conv2d d = {k->n, k->c, k->h, k->w, k->oc, k->kh, k->kw, k->sh, k->sw, k->ph, k->pw,
                   k->g};
  return d;
}

static void check_conv(const conv_case *cc, int use_ws)
{
  kern_conv2d d = conv_of(cc);
  int64_t oh, ow;
  cr_assert_eq(kern_conv2d_check(&d, &oh, &ow), NNRT_OK);
  int64_t nx = d.n * d.c * d.h * d.w, ny = d.n * d.oc * oh * ow;
  int64_t nw = d.oc * (d.c / (d.groups ? d.groups : 1)) * d.kh * d.kw;
  float *x = rnd(nx, 1), *w = rnd(nw, 2), *bias = rnd(d.oc, 3), *y = rnd(ny, 4);
  float *dy = rnd(ny, 5), *dx = rnd(nx, 6), *dw = rnd(nw, 7), *db = rnd(d.oc, 8);
  float *ws = use_ws ? malloc((size_t)kern_conv2d_workspace(&d) * sizeof(float)) : NULL;
  cr_assert_eq(kern_conv2d_fwd(&d, x, w, bias, y, ws), NNRT_OK);
  for (int64_t b = 0; b < d.n; b++)
    for (int64_t o = 0; o < d.oc; o++)
      for (int64_t oy = 0; oy < oh; oy++)
        for (int64_t ox = 0; ox < ow; ox++) {
          double want = conv_ref(&d, x, w, bias, b, o, oy, ox);
          float got = y[((b * d.oc + o) * oh + oy) * ow + ox];
          cr_assert(fabs(got - want) <= 1e-5 * (1.0 + fabs(want)) * sqrt((double)nw),
                    "fwd [%ld,%ld,%ld,%ld]: %g vs %g", (long)b, (long)o, (long)oy, (long)ox,
                    got, want);
        }
  /* adjoints: <conv(x, w) - bias, dy> == <x, bwd_data(dy)> == <w, bwd_filter(dy)> */
  cr_assert_eq(kern_conv2d_bwd_data(&d, dy, w, dx, ws), NNRT_OK);
  cr_assert_eq(kern_conv2d_bwd_filter(&d, x, dy, dw, db, ws), NNRT_OK);
  double ydy = dot(y, dy, ny);
  for (int64_t b = 0; b < d.n; b++)
    for (int64_t o = 0; o < d.oc; o++)
      for (int64_t p = 0; p < oh * ow; p++)
        ydy -= (double)bias[o] * dy[(b * d.oc + o) * oh * ow + p];
  double scale = 1e-5 * (asum(y, ny) + asum(dy, ny)) * (1.0 + sqrt((double)nw));
  cr_assert(fabs(dot(x, dx, nx) - ydy) <= scale, "bwd_data adjoint: %g vs %g",
            dot(x, dx, nx), ydy);
  cr_assert(fabs(dot(w, dw, nw) - ydy) <= scale, "bwd_filter adjoint: %g vs %g",
            dot(w, dw, nw), ydy);
  for (int64_t o = 0; o < d.oc; o++) {
    double s = 0.0;
    for (int64_t b = 0; b < d.n; b++)
      for (int64_t p = 0; p < oh * ow; p++)
        s += dy[(b * d.oc + o) * oh * ow + p];
    cr_assert(fabs(db[o] - s) <= 1e-5 * (1.0 + fabs(s)), "dbias[%ld]", (long)o);
  }
  free(x), free(w), free(bias), free(y), free(dy), free(dx), free(dw), free(db), free(ws);
}

Test(conv, forward_and_adjoints)
{
  for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++)
    check_conv(&conv_cases[i], (int)(i & 1));
}

Test(conv, every_gemm_path)
{
  omp_set_num_threads(2);
  kern_gemm_set_par_min(1e5); /* threads inside the GEMMs, not over images */
  for (int isa = KERN_ISA_SCALAR; isa <= kern_isa_host(); isa++) {
    cr_assert_eq(kern_gemm_force_isa(isa), 0);
    check_conv(&conv_cases[1], 1);
    check_conv(&conv_cases[7], 0);
  }
}

/* The relu epilogue (kern_conv2d_fwd_act) gives exactly relu of the plain forward, on every
 * shape class (padding, stride, groups, 1x1, batch 1) and every GEMM path. */
Test(conv, relu_epilogue_is_relu_of_forward)
{
  for (int isa = KERN_ISA_SCALAR; isa <= kern_isa_host(); isa++) {
    cr_assert_eq(kern_gemm_force_isa(isa), 0);
    int64_t neg = 0;
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++) {
      kern_conv2d d = conv_of(&conv_cases[i]);
      int64_t oh, ow;
      cr_assert_eq(kern_conv2d_check(&d, &oh, &ow), NNRT_OK);
      int64_t nx = d.n * d.c * d.h * d.w, nw = d.oc * (d.c / d.groups) * d.kh * d.kw;
      int64_t ny = d.n * d.oc * oh * ow;
      float *x = rnd(nx, 31), *w = rnd(nw, 32), *bias = rnd(d.oc, 33);
      float *y = rnd(ny, 34), *yr = rnd(ny, 35);
      cr_assert_eq(kern_conv2d_fwd(&d, x, w, bias, y, NULL), NNRT_OK);
      cr_assert_eq(kern_conv2d_fwd_act(&d, x, w, bias, NNRT_ACT_RELU, yr, NULL), NNRT_OK);
      for (int64_t j = 0; j < ny; j++) {
        neg += y[j] < 0.0f;
        cr_assert_eq(yr[j], y[j] > 0.0f ? y[j] : 0.0f, "case %zu isa %d at %lld", i, isa,
                     (long long)j);
      }
      free(x), free(w), free(bias), free(y), free(yr);
    }
    cr_assert_gt(neg, 0, "no negative output: the relu is not exercised");
  }
  kern_gemm_force_isa(KERN_ISA_AUTO);
}

Test(conv, unknown_activation_is_an_error)
{
  kern_conv2d d = conv_of(&conv_cases[0]);
  float buf[4096] = {0};
  cr_assert_eq(kern_conv2d_fwd_act(&d, buf, buf, NULL, 7, buf, NULL), NNRT_EINVAL);
  cr_assert_str_eq(kern_errmsg(), "conv2d: the activation must be none or relu");
  int64_t geom[12];
  memcpy(geom, &d, sizeof geom);
  cr_assert_eq(nnrt_conv2d_fwd_ex(geom, buf, buf, NULL, buf, NULL, -1), NNRT_EINVAL);
}

/* Regression: convs called from inside a parallel region (each thread its own batch) must
 * not share their image loop with the caller's team; bwd_filter sums are deterministic. */
Test(conv, inside_parallel_region_and_deterministic)
{
  kern_conv2d d = conv_of(&conv_cases[5]);
  int64_t oh, ow;
  kern_conv2d_check(&d, &oh, &ow);
  int64_t nx = d.n * d.c * d.h * d.w, ny = d.n * d.oc * oh * ow, nw = d.oc * 2 * 9;
  float *x = rnd(nx, 1), *w = rnd(nw, 2), *ref = rnd(ny, 3), *dy = rnd(ny, 4);
  float *y[2] = {rnd(ny, 5), rnd(ny, 6)}, *dw[2] = {rnd(nw, 7), rnd(nw, 8)}, *dw0 = rnd(nw, 9);
  omp_set_num_threads(2);
  cr_assert_eq(kern_conv2d_fwd(&d, x, w, NULL, ref, NULL), NNRT_OK);
  cr_assert_eq(kern_conv2d_bwd_filter(&d, x, dy, dw0, NULL, NULL), NNRT_OK);
#pragma omp parallel num_threads(2)
  {
    int t = omp_get_thread_num();
    kern_conv2d_fwd(&d, x, w, NULL, y[t], NULL);
    kern_conv2d_bwd_filter(&d, x, dy, dw[t], NULL, NULL);
  }
  for (int t = 0; t < 2; t++) {
    cr_assert_eq(memcmp(y[t], ref, (size_t)ny * sizeof *ref), 0, "thread %d fwd", t);
    cr_assert_eq(memcmp(dw[t], dw0, (size_t)nw * sizeof *dw0), 0, "thread %d dw", t);
  }
  cr_assert_eq(kern_conv2d_bwd_filter(&d, x, dy, dw[0], NULL, NULL), NNRT_OK);
  cr_assert_eq(memcmp(dw[0], dw0, (size_t)nw * sizeof *dw0), 0, "bwd_filter not deterministic");
  free(x), free(w), free(ref), free(dy), free(y[0]), free(y[1]), free(dw[0]), free(dw[1]);
  free(dw0);
}

/* dw (and y, dx) are the same, bit for bit, on 1, 2 and 3 threads: the batch is split into
 * chunks by its size only (9 images: chunks of 2, 2, 2, 3). */
Test(conv, results_do_not_depend_on_threads)
{
  kern_conv2d d = {9, 5, 10, 9, 6, 3, 3, 1, 1, 1, 1, 1};
  int64_t oh, ow;
  cr_assert_eq(kern_conv2d_check(&d, &oh, &ow), NNRT_OK);
  int64_t nx = d.n * d.c * d.h * d.w, ny = d.n * d.oc * oh * ow, nw = d.oc * d.c * 9;
  float *x = rnd(nx, 41), *w = rnd(nw, 42), *dy = rnd(ny, 43);
  float *y[3], *dx[3], *dw[3];
  for (int t = 0; t < 3; t++) {
    y[t] = rnd(ny, 50 + t), dx[t] = rnd(nx, 60 + t), dw[t] = rnd(nw, 70 + t);
    omp_set_num_threads(t + 1);
    cr_assert_eq(kern_conv2d_fwd(&d, x, w, NULL, y[t], NULL), NNRT_OK);
    cr_assert_eq(kern_conv2d_bwd_data(&d, dy, w, dx[t], NULL), NNRT_OK);
    cr_assert_eq(kern_conv2d_bwd_filter(&d, x, dy, dw[t], NULL, NULL), NNRT_OK);
  }
  omp_set_num_threads(2);
  for (int t = 1; t < 3; t++) {
    cr_assert_eq(memcmp(y[t], y[0], (size_t)ny * sizeof(float)), 0, "%d threads: y", t + 1);
    cr_assert_eq(memcmp(dx[t], dx[0], (size_t)nx * sizeof(float)), 0, "%d threads: dx", t + 1);
    cr_assert_eq(memcmp(dw[t], dw[0], (size_t)nw * sizeof(float)), 0, "%d threads: dw", t + 1);
  }
  for (int t = 0; t < 3; t++)
    free(y[t]), free(dx[t]), free(dw[t]);
  free(x), free(w), free(dy);
}

Test(conv, abi_matches_struct)
{
  const conv_case *cc = &conv_cases[0];
  kern_conv2d d = conv_of(cc);
  int64_t geom[12];
  memcpy(geom, &d, sizeof geom);
  int64_t oh, ow;
  kern_conv2d_check(&d, &oh, &ow);
  int64_t nx = d.n * d.c * d.h * d.w, ny = d.n * d.oc * oh * ow, nw = d.oc * d.c * 9;
  float *x = rnd(nx, 1), *w = rnd(nw, 2), *y1 = rnd(ny, 3), *y2 = rnd(ny, 4);
  cr_assert_eq(nnrt_conv2d_workspace(geom), kern_conv2d_workspace(&d));
  cr_assert_eq(nnrt_conv2d_fwd(geom, x, w, NULL, y1, NULL), NNRT_OK);
  cr_assert_eq(kern_conv2d_fwd(&d, x, w, NULL, y2, NULL), NNRT_OK);
  cr_assert_eq(memcmp(y1, y2, (size_t)ny * sizeof *y1), 0);
  free(x), free(w), free(y1), free(y2);
}

Test(conv, bad_geometry_is_an_error)
{
  kern_conv2d bad[] = {
    {1, 3, 5, 5, 4, 7, 7, 1, 1, 0, 0, 1}, /* kernel larger than input */
    {1, 3, 5, 5, 4, 3, 3, 0, 1, 0, 0, 1}, /* stride 0 */
    {1, 3, 5, 5, 4, 3, 3, 1, 1, 0, 0, 2}, /* groups do not divide c */
    {0, 3, 5, 5, 4, 3, 3, 1, 1, 0, 0, 1}, /* empty batch */
    {1, 3, 5, 5, 4, 3, 3, 1, 1, -1, 0, 1}, /* negative pad */
  };
  float buf[16] = {0};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cr_assert_eq(kern_conv2d_fwd(&bad[i], buf, buf, NULL, buf, NULL), NNRT_EINVAL);
    cr_assert(strstr(kern_errmsg(), "conv2d") != NULL);
    cr_assert_eq(kern_conv2d_workspace(&bad[i]), 0);
  }
}

/* ---- pooling ---- */

/* Window maximum over an explicitly padded plane (-inf outside), and its input index. */
static float pool_max_ref(const kern_pool2d *d, const float *x, int64_t oy, int64_t ox,
                          int32_t *arg)
{
  float m = -INFINITY;
  *arg = -1;
  for (int64_t ki = 0; ki < d->kh; ki++)
    for (int64_t kj = 0; kj < d->kw; kj++) {
      int64_t iy = oy * d->stride_h + ki - d->pad_h, ix = ox * d->stride_w + kj - d->pad_w;
      int in = iy >= 0 && iy < d->h && ix >= 0 && ix < d->w;
      float v = in ? x[iy * d->w + ix] : -INFINITY;
      if (v > m) {
        m = v;
        *arg = (int32_t)(iy * d->w + ix);
      }
    }
  return m;
}

static double pool_avg_ref(const kern_pool2d *d, const float *x, int64_t oy, int64_t ox)
{
  double s = 0.0;
  int64_t cnt = 0;
  for (int64_t ki = 0; ki < d->kh; ki++)
    for (int64_t kj = 0; kj < d->kw; kj++) {
      int64_t iy = oy * d->stride_h + ki - d->pad_h, ix = ox * d->stride_w + kj - d->pad_w;
      if (iy >= 0 && iy < d->h && ix >= 0 && ix < d->w) {
        s += x[iy * d->w + ix];
        cnt++;
      }
    }
  return s / (double)(d->count_include_pad ? d->kh * d->kw : cnt);
}

static const kern_pool2d pool_cases[] = {
  {2, 3, 8, 8, 2, 2, 2, 2, 0, 0, 0},   {1, 2, 7, 9, 3, 3, 2, 2, 1, 1, 0},
  {2, 2, 7, 9, 3, 3, 2, 2, 1, 1, 1},   {1, 1, 5, 5, 3, 3, 1, 1, 1, 1, 0},
  {3, 4, 6, 5, 2, 3, 1, 2, 1, 1, 0},   {2, 64, 32, 32, 3, 3, 2, 2, 1, 1, 0}, /* parallel */
  {2, 3, 9, 11, 3, 3, 2, 2, 0, 0, 0},  /* no padding: windows all inside */
  {2, 3, 9, 37, 2, 2, 2, 2, 0, 0, 0},  /* 2x2 stride 2, odd sizes: 18 outputs a row */
};

static void check_pool(const kern_pool2d *d)
{
  int64_t oh, ow;
  cr_assert_eq(kern_pool2d_check(d, &oh, &ow), NNRT_OK);
  int64_t planes = d->n * d->c, hw = d->h * d->w, np = oh * ow;
  float *x = rnd(planes * hw, 11), *y = rnd(planes * np, 12), *dy = rnd(planes * np, 13);
  float *dx = rnd(planes * hw, 14);
  int32_t *am = malloc((size_t)(planes * np) * sizeof *am);
  cr_assert_eq(kern_maxpool2d_fwd(d, x, y, am), NNRT_OK);
  for (int64_t p = 0; p < planes; p++)
    for (int64_t o = 0; o < np; o++) {
      int32_t arg;
      float want = pool_max_ref(d, x + p * hw, o / ow, o % ow, &arg);
      cr_assert_eq(y[p * np + o], want);
      cr_assert_eq(am[p * np + o], arg);
    }
  cr_assert_eq(kern_maxpool2d_bwd(d, dy, am, dx), NNRT_OK);
  cr_assert(fabs(dot(y, dy, planes * np) - dot(x, dx, planes * hw)) <=
            1e-5 * (1.0 + asum(dy, planes * np)), "maxpool adjoint");
  cr_assert_eq(kern_avgpool2d_fwd(d, x, y), NNRT_OK);
  for (int64_t p = 0; p < planes; p++)
    for (int64_t o = 0; o < np; o++) {
      double want = pool_avg_ref(d, x + p * hw, o / ow, o % ow);
      cr_assert(fabs(y[p * np + o] - want) <= 1e-6 * (1.0 + fabs(want)));
    }
  cr_assert_eq(kern_avgpool2d_bwd(d, dy, dx), NNRT_OK);
  cr_assert(fabs(dot(y, dy, planes * np) - dot(x, dx, planes * hw)) <=
            1e-5 * (1.0 + asum(dy, planes * np)), "avgpool adjoint");
  free(x), free(y), free(dy), free(dx), free(am);
}

Test(pool, forward_backward)
{
  omp_set_num_threads(2);
  for (size_t i = 0; i < sizeof pool_cases / sizeof pool_cases[0]; i++)
    check_pool(&pool_cases[i]);
}

Test(pool, nan_propagates_and_abi)
{
  kern_pool2d d = {1, 1, 2, 2, 2, 2, 2, 2, 0, 0, 0};
  float x[4] = {1.0f, NAN, 3.0f, 2.0f}, y[1];
  int32_t am[1];
  int64_t geom[11];
  memcpy(geom, &d, sizeof geom);
  cr_assert_eq(nnrt_maxpool2d_fwd(geom, x, y, am), NNRT_OK);
  cr_assert(isnan(y[0]));
  cr_assert_eq(am[0], 1);
  cr_assert_eq(nnrt_avgpool2d_fwd(geom, x, y), NNRT_OK);
  cr_assert(isnan(y[0]));
}

Test(pool, bad_geometry_is_an_error)
{
  kern_pool2d pad_too_big = {1, 1, 4, 4, 2, 2, 2, 2, 2, 0, 0};
  kern_pool2d too_big = {1, 1, 2, 2, 3, 3, 1, 1, 0, 0, 0};
  float buf[16] = {0};
  cr_assert_eq(kern_avgpool2d_fwd(&pad_too_big, buf, buf), NNRT_EINVAL);
  cr_assert(strstr(kern_errmsg(), "pool2d") != NULL);
  cr_assert_eq(kern_maxpool2d_fwd(&too_big, buf, buf, NULL), NNRT_EINVAL);
  cr_assert_eq(kern_maxpool2d_bwd(&too_big, buf, NULL, buf), NNRT_EINVAL);
}

/* x with many ties (few distinct values) and, with nans, a NaN in about one cell in 13. */
static float *pool_ties(int64_t n, int nans)
{
  float *x = malloc((size_t)n * sizeof *x);
  for (int64_t i = 0; i < n; i++)
    x[i] = nans && i % 13 == 5 ? NAN : (float)((i * 7 + i / 5) % 4);
  return x;
}

/* The vectorized 2x2 stride-2 max pool (AVX-512) and the scalar one give the same maxima
 * and argmax, first maximum on ties, first NaN, at every row length (tails of 16). */
Test(pool, two_by_two_every_isa)
{
  static const kern_pool2d cases[] = {
    {1, 1, 2, 2, 2, 2, 2, 2, 0, 0, 0},  {3, 5, 24, 24, 2, 2, 2, 2, 0, 0, 0},
    {2, 3, 9, 37, 2, 2, 2, 2, 0, 0, 0}, {1, 2, 8, 70, 2, 2, 2, 2, 0, 0, 0},
    {1, 1, 3, 65, 2, 2, 2, 2, 0, 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    for (int nans = 0; nans < 2; nans++) {
      const kern_pool2d *d = &cases[i];
      int64_t oh, ow;
      cr_assert_eq(kern_pool2d_check(d, &oh, &ow), NNRT_OK);
      int64_t planes = d->n * d->c, hw = d->h * d->w, np = planes * oh * ow;
      float *x = pool_ties(planes * hw, nans), *y[2] = {rnd(np, 1), rnd(np, 2)};
      int32_t *am[2] = {malloc((size_t)np * sizeof(int32_t)), malloc((size_t)np * sizeof(int32_t))};
      for (int k = 0; k < 2; k++) {
        cr_assert_eq(kern_gemm_force_isa(k ? KERN_ISA_AUTO : KERN_ISA_SCALAR), 0);
        cr_assert_eq(kern_maxpool2d_fwd(d, x, y[k], am[k]), NNRT_OK);
      }
      kern_gemm_force_isa(KERN_ISA_AUTO);
      cr_assert_eq(memcmp(am[0], am[1], (size_t)np * sizeof(int32_t)), 0, "case %zu nans %d", i, nans);
      cr_assert_eq(memcmp(y[0], y[1], (size_t)np * sizeof(float)), 0, "case %zu nans %d", i, nans);
      for (int64_t p = 0; p < planes && !nans; p++)
        for (int64_t o = 0; o < oh * ow; o++) {
          int32_t arg;
          float want = pool_max_ref(d, x + p * hw, o / ow, o % ow, &arg);
          cr_assert_eq(y[1][p * oh * ow + o], want);
          cr_assert_eq(am[1][p * oh * ow + o], arg, "case %zu plane %lld out %lld", i, (long long)p,
                       (long long)o);
        }
      for (int64_t o = 0; o < np && nans; o++) /* a window holding a NaN yields it */
        if (isnan(x[am[1][o] + (o / (oh * ow)) * hw]))
          cr_assert(isnan(y[1][o]));
      free(x), free(y[0]), free(y[1]), free(am[0]), free(am[1]);
    }
}
