/* api_bench.c — the targets of the API issue (not a test):
 *  1. a REPL line with a small expression: under 100 ms (cold: empty cache; warm: cached);
 *  2. a cached re-run of each example: under 10% of the first run's compile time (the
 *     "compiled ... in X s" line of `nnc FILE --steps=1`, fresh cache directory);
 *  3. the AOT Fashion-MNIST MLP at batch 1: under 50 us per image (one thread).
 * Usage: api_bench [reps]. Medians are printed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_int.h"
#include "fashion_mlp.h"

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp);
  return v[n / 2];
}

static void repl_line(int reps) {
  FILE *null = fopen("/dev/null", "w");
  double cold[64], warm[64];
  for (int r = 0; r < reps; r++) {
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/nnc_bench_repl_%d_%d", (int)getpid(), r);
    setenv("NNC_CACHE_DIR", dir, 1);
    repl_session *s = repl_new(NULL);
    repl_input(s, "let x = ones(4, 8) * 0.5", null);
    double t0 = jit_now_ms();
    repl_input(s, "sum(tanh(x) * 2 + 1, axis = 1)", null);
    cold[r] = jit_now_ms() - t0;
    repl_free(s);
    s = repl_new(NULL);
    repl_input(s, "let x = ones(4, 8) * 0.5", null);
    t0 = jit_now_ms();
    repl_input(s, "sum(tanh(x) * 2 + 1, axis = 1)", null);
    warm[r] = jit_now_ms() - t0;
    repl_free(s);
  }
  fclose(null);
  printf("REPL line `sum(tanh(x) * 2 + 1, axis = 1)`: %.1f ms cold (empty cache), %.1f ms cached (target < 100 ms)\n",
         median(cold, reps), median(warm, reps));
}

/* Seconds of the "compiled NAME in X s" line of `nnc FILE --steps=1`. */
static double compile_s(const char *file, const char *cache) {
  char cmd[2048], line[512];
  snprintf(cmd, sizeof cmd, "NNC_CACHE_DIR=%s %s %s/examples/%s --steps=1 --no-save --metrics=/dev/null 2>&1",
           cache, NNC_EXE, NNC_SOURCE_DIR, file);
  FILE *p = popen(cmd, "r");
  double s = -1;
  while (p && fgets(line, sizeof line, p)) {
    char *c = strstr(line, "compiled ");
    if (c && strstr(c, " in ")) s = atof(strstr(c, " in ") + 4);
  }
  if (p) pclose(p);
  return s;
}

static void cached_rerun(void) {
  const char *ex[] = {"fashion_mlp.nn", "fashion_cnn.nn", "char_lstm.nn"};
  for (int i = 0; i < 3; i++) {
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/nnc_bench_cache_%d_%d", (int)getpid(), i);
    double first = compile_s(ex[i], dir), again = compile_s(ex[i], dir);
    if (first <= 0 || again < 0) {
      printf("%-16s could not run (data missing?)\n", ex[i]);
      continue;
    }
    printf("%-16s compile %.2f s, cached re-run %.3f s = %.1f%% (target < 10%%)\n", ex[i], first, again,
           100 * again / first);
  }
}

static float params[FASHIONMLP_PARAM_FLOATS] __attribute__((aligned(64)));
static unsigned char arena[FASHIONMLP_LOGITS_ARENA_BYTES] __attribute__((aligned(64)));

static void aot_batch1(int reps) {
  nnrt_set_threads(1);
  for (int64_t i = 0; i < FASHIONMLP_PARAM_FLOATS; i++) params[i] = (float)((i % 13) - 6) * 0.01f;
  fashionmlp_prepare(params);
  float x[FASHIONMLP_LOGITS_x_NUMEL], y[FASHIONMLP_LOGITS_RESULT0_NUMEL];
  for (int i = 0; i < FASHIONMLP_LOGITS_x_NUMEL; i++) x[i] = (float)(i % 7) / 7;
  double t[64];
  for (int r = 0; r < reps; r++) {
    double t0 = jit_now_ms();
    for (int k = 0; k < 200; k++) fashionmlp_logits(params, x, y, arena);
    t[r] = (jit_now_ms() - t0) * 1000 / 200;
  }
  printf("AOT MLP batch 1: %.1f us per image, one thread (target < 50 us; arena %d bytes)\n", median(t, reps),
         FASHIONMLP_LOGITS_ARENA_BYTES);
}

int main(int argc, char **argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 5;
  if (reps < 1 || reps > 64) reps = 5;
  repl_line(reps);
  aot_batch1(reps);
  cached_rerun();
  return 0;
}
