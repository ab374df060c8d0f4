/* lstm_bench.c — nnc's side of the LSTM training-step benchmark (issue 4 (c)); PyTorch's
 * is lstm_step in bench/torch_models.py. Through the public API only (nnc.h): compile
 * bench/lstm_step.nn's model for (input, hidden), bind a random batch xs [B, T, input]
 * (normal(0, 1), fixed seed), run warm-up steps (the first compiles), then time N steps of
 * nnc_train_step (forward over T, loss = mean(h^2), backward, SGD lr 0.01). Not a test.
 *
 *   lstm_bench [--steps=N] [--warmup=N] [--threads=N] [--file=PATH] [B,T,IN,HIDDEN ...]
 *
 * Default shapes: 32,100,128,256  32,100,256,512  1,100,128,256. One JSON line per shape,
 * in torch_models.py's format: median wall ms and median CPU ms (all threads of the
 * process) per step, each step's times, the compile time and the first loss. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nnc.h"

#ifndef NNC_SOURCE_DIR
#define NNC_SOURCE_DIR "."
#endif
#define MAX_STEPS 1000

typedef struct shape { int b, t, in, hidden; } shape;

static double clk_ms(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(const double *v, int n) {
  double s[MAX_STEPS];
  memcpy(s, v, sizeof *v * (size_t)n);
  qsort(s, (size_t)n, sizeof *s, cmp);
  return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

/* normal(0, 1) by Box-Muller over a 64-bit LCG: the same batch on every run */
static void randn(float *x, int64_t n) {
  uint64_t s = 0x2545F4914F6CDD1Dull;
  for (int64_t i = 0; i < n; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    double u1 = ((s >> 11) + 1.0) / 9007199254740994.0;
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    double u2 = (s >> 11) / 9007199254740992.0;
    x[i] = (float)(sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
  }
}

static void print_runs(const char *key, const double *v, int n) {
  printf(", \"%s\": [", key);
  for (int i = 0; i < n; i++) printf("%s%.3f", i ? ", " : "", v[i]);
  printf("]");
}

/* Compiles, warms up and times one shape; prints its JSON line. Returns 0 or 1. */
static int bench_shape(const char *file, shape s, int steps, int warmup, int threads) {
  char model[64];
  snprintf(model, sizeof model, "Lstm%dx%d", s.in, s.hidden);
  nnc_ctx *ctx = nnc_ctx_create(NULL, NULL);
  nnc_options o = {.model = model};
  nnc_model *m = NULL;
  nnrt_tensor *x = NULL;
  int64_t dims[3] = {s.b, s.t, s.in}, n = dims[0] * dims[1] * dims[2];
  float *xs = malloc(sizeof(float) * (size_t)n);
  double wall[MAX_STEPS], cpu[MAX_STEPS], loss = 0, first_loss = 0, compile_ms = 0;
  int rc = !ctx || !xs;
  if (!rc) rc = nnc_compile_file(ctx, file, &o, &m);
  if (!rc) {
    randn(xs, n);
    rc = nnc_tensor_wrap(ctx, NNRT_F32, 3, dims, xs, &x);
  }
  for (int k = 0; !rc && k < warmup + steps; k++) {
    double t0 = clk_ms(CLOCK_MONOTONIC), c0 = clk_ms(CLOCK_PROCESS_CPUTIME_ID);
    rc = nnc_train_step(m, x, NULL, &loss);
    double t = clk_ms(CLOCK_MONOTONIC) - t0, c = clk_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
    if (k == 0) compile_ms = t, first_loss = loss;
    if (k >= warmup) wall[k - warmup] = t, cpu[k - warmup] = c;
  }
  if (rc) {
    fprintf(stderr, "lstm_bench: %s (%d,%d,%d,%d): %s\n", model, s.b, s.t, s.in, s.hidden,
            ctx ? nnc_errmsg(ctx) : "out of memory");
  } else {
    printf("{\"bench\": \"lstm_step\", \"impl\": \"nnc\", \"threads\": %d, \"shape\": [%d, %d, %d, %d], "
           "\"median\": %.3f, \"unit\": \"ms/step\", \"cpu_median\": %.3f",
           threads, s.b, s.t, s.in, s.hidden, median(wall, steps), median(cpu, steps));
    print_runs("runs", wall, steps);
    print_runs("cpu_ms", cpu, steps);
    printf(", \"first_step_ms\": %.1f, \"first_loss\": %.6g, \"last_loss\": %.6g}\n", compile_ms, first_loss, loss);
    fflush(stdout);
  }
  nnrt_tensor_free(x);
  nnc_model_free(m);
  nnc_ctx_free(ctx);
  free(xs);
  return rc != 0;
}

int main(int argc, char **argv) {
  shape sh[16] = {{32, 100, 128, 256}, {32, 100, 256, 512}, {1, 100, 128, 256}};
  int nsh = 0, steps = 5, warmup = 1, threads = 0, failed = 0;
  char file[1024];
  snprintf(file, sizeof file, "%s/bench/lstm_step.nn", NNC_SOURCE_DIR);
  for (int i = 1; i < argc; i++) {
    shape s;
    if (!strncmp(argv[i], "--steps=", 8)) steps = atoi(argv[i] + 8);
    else if (!strncmp(argv[i], "--warmup=", 9)) warmup = atoi(argv[i] + 9);
    else if (!strncmp(argv[i], "--threads=", 10)) threads = atoi(argv[i] + 10);
    else if (!strncmp(argv[i], "--file=", 7)) snprintf(file, sizeof file, "%s", argv[i] + 7);
    else if (sscanf(argv[i], "%d,%d,%d,%d", &s.b, &s.t, &s.in, &s.hidden) == 4 && nsh < 16) sh[nsh++] = s;
    else {
      fprintf(stderr, "usage: lstm_bench [--steps=N] [--warmup=N] [--threads=N] [--file=PATH] [B,T,IN,HIDDEN ...]\n");
      return 2;
    }
  }
  if (steps < 1 || steps > MAX_STEPS) steps = 5;
  if (warmup < 1) warmup = 1; /* the first step compiles: never timed */
  if (!nsh) nsh = 3;
  if (threads > 0) nnrt_set_threads(threads);
  const char *env = getenv("OMP_NUM_THREADS");
  int shown = threads > 0 ? threads : env ? atoi(env) : 0;
  for (int i = 0; i < nsh; i++) failed += bench_shape(file, sh[i], steps, warmup, shown);
  return failed ? 1 : 0;
}
