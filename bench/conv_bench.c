/* conv_bench.c: throughput of nnc's conv2d passes (im2col + SGEMM) on a few layer shapes.
 *
 *   conv_bench [-c 1]   (-c 1: time with the thread's CPU clock; meaningful for 1 thread)
 *
 * Prints, per layer, the best of 7 runs of each pass in GFLOP/s (2 * outputs * c/groups *
 * kh * kw flops per pass). Threads: OMP_NUM_THREADS. Not a test: nothing is checked here
 * (tests/runtime/test_conv.c does that).
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "kernels.h"

static clockid_t cb_clock = CLOCK_MONOTONIC;

static double cb_now(void)
{
  struct timespec t;
  clock_gettime(cb_clock, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static float *cb_buf(size_t n)
{
  float *p = malloc(n * sizeof *p);
  for (size_t i = 0; p && i < n; i++)
    p[i] = (float)(i % 7) * 0.1f - 0.3f;
  return p;
}

/* Times fwd, bwd_data and bwd_filter of one layer; prints a markdown row. */
static void cb_layer(const char *name, kern_conv2d d)
{
  int64_t oh, ow;
  if (kern_conv2d_check(&d, &oh, &ow) != NNRT_OK)
    return;
  size_t nx = d.n * d.c * d.h * d.w, ny = d.n * d.oc * oh * ow;
  size_t nw = d.oc * (d.c / (d.groups ? d.groups : 1)) * d.kh * d.kw;
  float *x = cb_buf(nx), *w = cb_buf(nw), *y = cb_buf(ny), *dw = cb_buf(nw), *db = cb_buf(d.oc);
  float *ws = cb_buf((size_t)kern_conv2d_workspace(&d));
  double flops = 2.0 * ny * (nw / d.oc), best[3] = {1e30, 1e30, 1e30};
  for (int r = 0; r < 7; r++) {
    double t0 = cb_now();
    kern_conv2d_fwd(&d, x, w, NULL, y, ws);
    double t1 = cb_now();
    kern_conv2d_bwd_data(&d, y, w, x, ws);
    double t2 = cb_now();
    kern_conv2d_bwd_filter(&d, x, y, dw, db, ws);
    double t3 = cb_now();
    double t[3] = {t1 - t0, t2 - t1, t3 - t2};
    for (int p = 0; p < 3; p++)
      best[p] = t[p] < best[p] ? t[p] : best[p];
  }
  printf("| %s | %d | %.1f | %.1f | %.1f |\n", name, omp_get_max_threads(), flops / best[0] * 1e-9,
         flops / best[1] * 1e-9, flops / best[2] * 1e-9);
  free(x), free(w), free(y), free(dw), free(db), free(ws);
}

int main(int argc, char **argv)
{
  if (argc == 3 && !strcmp(argv[1], "-c") && atoi(argv[2]))
    cb_clock = CLOCK_THREAD_CPUTIME_ID;
  printf("| layer (n x c x h x w -> oc, k) | threads | fwd GFLOP/s | bwd_data | bwd_filter |\n");
  printf("|---|---:|---:|---:|---:|\n");
  cb_layer("64x1x28x28 -> 32, 5x5 pad 2", (kern_conv2d){64, 1, 28, 28, 32, 5, 5, 1, 1, 2, 2, 1});
  cb_layer("64x32x14x14 -> 64, 5x5 pad 2",
           (kern_conv2d){64, 32, 14, 14, 64, 5, 5, 1, 1, 2, 2, 1});
  cb_layer("8x64x56x56 -> 64, 3x3 pad 1", (kern_conv2d){8, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1, 1});
  cb_layer("8x256x14x14 -> 256, 1x1", (kern_conv2d){8, 256, 14, 14, 256, 1, 1, 1, 1, 0, 0, 1});
  return 0;
}
