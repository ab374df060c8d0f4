/* gen.c — frequency discrimination, task 1 of Neil, Pfeiffer & Liu 2016 (section 3.1),
 * seeded.
 *
 * x(t) = sin(2 pi t / P + phi0), phi0 ~ U(0, 2 pi), sampled in a 15 ms window from t = 0.
 * Half the examples have P ~ U(5, 6) ms (label 1); the other half P log-uniform in
 * [1, 100] ms outside [5, 6] (label 0). Sampling conditions:
 *   1ms     every 1 ms: 15 steps at t = 0, 1, ..., 14
 *   0.1ms   every 0.1 ms: 150 steps
 *   async   15 times drawn uniformly in [0, 15), sorted
 * Writes <dir>/train_x.npy f32[N, T, 2] (channel 0: x(t), channel 1: t in ms),
 * train_y.npy i32[N] and the same for test_*. Randomness: Philox (nnrt_rand_uniform),
 * stream 1 trains, stream 2 tests.
 *
 * usage: gen DIR 1ms|0.1ms|async [NTRAIN=4000] [NTEST=1000] [SEED=1]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnrt.h"

#define WINDOW_MS 15.0

typedef struct Rng {
  uint64_t seed, stream, i;
} Rng;

static double unif(Rng *r) { return nnrt_rand_uniform(r->seed, r->stream, r->i++); }

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The sample times of one example into t[T] (ms). */
static void times(Rng *r, int async, int T, double *t) {
  for (int j = 0; j < T; j++) t[j] = async ? unif(r) * WINDOW_MS : j * (WINDOW_MS / T);
  if (async) qsort(t, (size_t)T, sizeof *t, cmp_double);
}

/* A period for the label: U(5, 6) for 1, log-uniform in [1, 100] outside [5, 6] for 0. */
static double period(Rng *r, int label) {
  if (label) return 5 + unif(r);
  double p;
  do p = exp(unif(r) * log(100.0)); while (p >= 5 && p <= 6);
  return p;
}

static int write_split(nnrt_ctx *ctx, const char *dir, const char *name, int64_t n, int T, int async, Rng *r) {
  int64_t dx[3] = {n, T, 2}, dy[1] = {n};
  nnrt_tensor *x = NULL, *y = NULL;
  double *t = malloc(sizeof(double) * T);
  int rc = -1;
  if (!t || nnrt_tensor_create(ctx, NNRT_F32, 3, dx, &x) || nnrt_tensor_create(ctx, NNRT_I32, 1, dy, &y)) goto out;
  float *xp = nnrt_tensor_data(x);
  int32_t *yp = nnrt_tensor_data(y);
  for (int64_t i = 0; i < n; i++) {
    int label = (int)(i % 2);             /* balanced; the batcher shuffles */
    double p = period(r, label), phi0 = unif(r) * 2 * M_PI;
    times(r, async, T, t);
    for (int j = 0; j < T; j++) {
      xp[(i * T + j) * 2] = (float)sin(2 * M_PI * t[j] / p + phi0);
      xp[(i * T + j) * 2 + 1] = (float)t[j];
    }
    yp[i] = label;
  }
  char path[1024];
  snprintf(path, sizeof path, "%s/%s_x.npy", dir, name);
  if (nnrt_save_npy(ctx, path, x)) goto out;
  snprintf(path, sizeof path, "%s/%s_y.npy", dir, name);
  if (nnrt_save_npy(ctx, path, y)) goto out;
  rc = 0;
out:
  if (rc) fprintf(stderr, "gen: %s\n", t ? nnrt_errmsg(ctx) : "out of memory");
  free(t);
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: gen DIR 1ms|0.1ms|async [NTRAIN=4000] [NTEST=1000] [SEED=1]\n");
    return 2;
  }
  const char *mode = argv[2];
  int async = !strcmp(mode, "async"), T = !strcmp(mode, "0.1ms") ? 150 : 15;
  if (!async && strcmp(mode, "1ms") && strcmp(mode, "0.1ms")) {
    fprintf(stderr, "gen: unknown sampling '%s' (1ms, 0.1ms, async)\n", mode);
    return 2;
  }
  int64_t ntrain = argc > 3 ? atoll(argv[3]) : 4000, ntest = argc > 4 ? atoll(argv[4]) : 1000;
  uint64_t seed = argc > 5 ? strtoull(argv[5], NULL, 10) : 1;
  if (ntrain < 1 || ntest < 1) return fprintf(stderr, "gen: sizes must be positive\n"), 2;
  nnrt_ctx *ctx = nnrt_ctx_create(NULL, NULL);
  if (!ctx) return 1;
  Rng tr = {seed, 1, 0}, te = {seed, 2, 0};
  int rc = write_split(ctx, argv[1], "train", ntrain, T, async, &tr) ||
           write_split(ctx, argv[1], "test", ntest, T, async, &te);
  nnrt_ctx_free(ctx);
  return rc;
}
