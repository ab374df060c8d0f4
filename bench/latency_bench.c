/* latency_bench.c — batch-1 inference latency of the Fashion-MNIST MLP (issue 4 (d)), the
 * anchor being mlp_latency in bench/torch_models.py. Two ways through nnc, on the same
 * weights (the API model's initial weights, copied into the AOT parameter block):
 *   jit  nnc_run(m, "FashionMLP.logits", x [1, 784]) through the C API (nnc.h), the result
 *        written in place into a tensor made once;
 *   aot  fashionmlp_logits() of the object `nnc -c examples/fashion_mlp.nn` wrote (its
 *        header from the same command), libnnrt only.
 * Each is warmed up (100 calls), then timed RUNS times over CALLS calls; prints one JSON
 * line per way: median microseconds per call (wall and process CPU) and every run, and
 * the largest difference between the two ways' logits (they must agree). Not a test.
 *
 *   latency_bench [--runs=N] [--calls=N]      (threads: OMP_NUM_THREADS) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fashion_mlp.h"
#include "nnc.h"

#ifndef NNC_SOURCE_DIR
#define NNC_SOURCE_DIR "."
#endif
#define MAX_RUNS 64

static float params[FASHIONMLP_PARAM_FLOATS] __attribute__((aligned(64)));
static unsigned char arena[FASHIONMLP_LOGITS_ARENA_BYTES] __attribute__((aligned(64)));
static float x[FASHIONMLP_LOGITS_x_NUMEL], y_aot[FASHIONMLP_LOGITS_RESULT0_NUMEL];

static double clk_us(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec * 1e-3;
}

static int cmp(const void *a, const void *b) {
  double p = *(const double *)a, q = *(const double *)b;
  return p < q ? -1 : p > q;
}

static double median(const double *v, int n) {
  double s[MAX_RUNS];
  memcpy(s, v, sizeof *v * (size_t)n);
  qsort(s, (size_t)n, sizeof *s, cmp);
  return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

typedef struct jit_call { nnc_model *m; const nnrt_tensor *in[1]; nnrt_tensor *out[1]; int rc; } jit_call;

static void call_jit(void *u) {
  jit_call *j = u;
  if (!j->rc) j->rc = nnc_run(j->m, "FashionMLP.logits", 1, j->in, 1, j->out);
}

static void call_aot(void *u) { fashionmlp_logits(params, x, y_aot, arena); }

/* Times fn: RUNS runs of CALLS calls after 100 warm-up calls; prints one JSON line. */
static void measure(const char *impl, void (*fn)(void *), void *u, int runs, int calls, int threads, double diff) {
  double wall[MAX_RUNS], cpu[MAX_RUNS];
  for (int i = 0; i < 100; i++) fn(u);
  for (int r = 0; r < runs; r++) {
    double t0 = clk_us(CLOCK_MONOTONIC), c0 = clk_us(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < calls; i++) fn(u);
    wall[r] = (clk_us(CLOCK_MONOTONIC) - t0) / calls;
    cpu[r] = (clk_us(CLOCK_PROCESS_CPUTIME_ID) - c0) / calls;
  }
  printf("{\"bench\": \"mlp_latency\", \"impl\": \"%s\", \"threads\": %d, \"median\": %.3f, \"unit\": \"us/call\", "
         "\"cpu_median\": %.3f, \"calls_per_run\": %d, \"max_abs_diff_jit_aot\": %.3g, \"runs\": [",
         impl, threads, median(wall, runs), median(cpu, runs), calls, diff);
  for (int r = 0; r < runs; r++) printf("%s%.3f", r ? ", " : "", wall[r]);
  printf("]}\n");
  fflush(stdout);
}

/* Copies the API model's weights into the AOT block by name, then its transposed copies. */
static int copy_weights(nnc_model *m) {
  for (int k = 0; k < FASHIONMLP_NPARAMS; k++) {
    int found = 0;
    for (int i = 0; i < nnc_param_count(m) && !found; i++) {
      const char *name;
      nnrt_tensor *t;
      if (nnc_param(m, i, &name, &t) || strcmp(name, fashionmlp_param_names[k])) continue;
      memcpy(params + fashionmlp_param_offsets[k], nnrt_tensor_data(t), nnrt_tensor_nbytes(t));
      found = 1;
    }
    if (!found) return -1;
  }
  fashionmlp_prepare(params);
  return 0;
}

int main(int argc, char **argv) {
  int runs = 7, calls = 2000;
  for (int i = 1; i < argc; i++) {
    if (!strncmp(argv[i], "--runs=", 7)) runs = atoi(argv[i] + 7);
    else if (!strncmp(argv[i], "--calls=", 8)) calls = atoi(argv[i] + 8);
    else {
      fprintf(stderr, "usage: latency_bench [--runs=N] [--calls=N]\n");
      return 2;
    }
  }
  if (runs < 1 || runs > MAX_RUNS) runs = 7;
  if (calls < 1) calls = 2000;
  const char *env = getenv("OMP_NUM_THREADS");
  int threads = env ? atoi(env) : 0;
  char file[1024];
  snprintf(file, sizeof file, "%s/examples/fashion_mlp.nn", NNC_SOURCE_DIR);
  nnc_ctx *ctx = nnc_ctx_create(NULL, NULL);
  jit_call j = {0};
  int64_t dx[2] = {1, 784}, dy[2] = {1, 10};
  for (int i = 0; i < FASHIONMLP_LOGITS_x_NUMEL; i++) x[i] = (float)((i * 7919) % 256) / 255;
  nnrt_tensor *tx = NULL;
  int rc = !ctx;
  if (!rc) rc = nnc_compile_file(ctx, file, NULL, &j.m);
  if (!rc) rc = nnc_tensor_wrap(ctx, NNRT_F32, 2, dx, x, &tx);
  if (!rc) rc = nnc_tensor_create(ctx, NNRT_F32, 2, dy, &j.out[0]);
  j.in[0] = tx;
  if (!rc) call_jit(&j), rc = j.rc;
  if (!rc && copy_weights(j.m)) rc = -1;
  if (rc) {
    fprintf(stderr, "latency_bench: %s\n", ctx ? nnc_errmsg(ctx) : "out of memory");
    return 1;
  }
  call_aot(NULL);
  const float *yj = nnrt_tensor_data(j.out[0]);
  double diff = 0;
  for (int i = 0; i < FASHIONMLP_LOGITS_RESULT0_NUMEL; i++) diff = fmax(diff, fabs(yj[i] - y_aot[i]));
  measure("nnc_jit", call_jit, &j, runs, calls, threads, diff);
  measure("nnc_aot", call_aot, NULL, runs, calls, threads, diff);
  nnrt_tensor_free(tx);
  nnrt_tensor_free(j.out[0]);
  nnc_model_free(j.m);
  nnc_ctx_free(ctx);
  return j.rc || diff > 1e-4;
}
