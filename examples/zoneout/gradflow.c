/* gradflow.c — zoneout experiment (b): the gradient norm ||d loss / d c~_t|| over time at
 * initialization, with zoneout (z_c = z_h = 0.15, masks sampled as in training) and without,
 * the same weights (Krueger et al. 2016, section 4.1 and figure 5).
 *
 * Builds both train declarations of gradflow.nn, and for N test images of Fashion-MNIST
 * (14 x 14 by 2 x 2 averages, pixels in a fixed seeded permutation, one pixel per step)
 * runs one training step each on the interpreter (the JIT cannot run random ops yet:
 * tests/models/repro/jit_random_seed_slot.nn) and averages ||d loss / d probe[t]||.
 * Prints the norms at t = 1 and t = 196 and their ratio for each model and writes
 * OUT/<model>.csv (step, grad_norm) for plot.sh.
 *
 * usage: gradflow GRADFLOW.nn OUT_DIR [N=32] [SEED=1]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "exec.h"
#include "irgen.h"
#include "nnrt.h"

enum { STEPS = 196, HIDDEN = 64 };

/* x[n][196]: images 14 x 14 (2 x 2 means of 28 x 28), permuted pixels; y[n] labels */
static int load_images(int n, uint64_t seed, float *x, int32_t *y) {
  nnrt_ctx *ctx = nnrt_ctx_create(NULL, NULL);
  nnrt_tensor *img = NULL, *lab = NULL;
  const char *ip = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
  const char *lp = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
  if (!ctx || nnrt_load_idx(ctx, ip, NNRT_F32, 1 / 255.0, &img) || nnrt_load_idx(ctx, lp, NNRT_I32, 1, &lab)) {
    fprintf(stderr, "gradflow: %s\n", ctx ? nnrt_errmsg(ctx) : "out of memory");
    return -1;
  }
  int perm[STEPS];
  for (int i = 0; i < STEPS; i++) perm[i] = i;
  for (int i = STEPS - 1; i > 0; i--) {
    int j = (int)(nnrt_rand_uniform(seed, 7, (uint64_t)i) * (i + 1));
    int t = perm[i]; perm[i] = perm[j > i ? i : j]; perm[j > i ? i : j] = t;
  }
  const float *p = nnrt_tensor_data(img);
  const int32_t *l = nnrt_tensor_data(lab);
  for (int k = 0; k < n; k++) {
    float small[STEPS];
    for (int r = 0; r < 14; r++)
      for (int c = 0; c < 14; c++) {
        const float *q = p + (size_t)k * 784 + (2 * r) * 28 + 2 * c;
        small[r * 14 + c] = (q[0] + q[1] + q[28] + q[29]) / 4;
      }
    for (int t = 0; t < STEPS; t++) x[k * STEPS + t] = small[perm[t]];
    y[k] = l[k];
  }
  nnrt_tensor_free(img);
  nnrt_tensor_free(lab);
  nnrt_ctx_free(ctx);
  return 0;
}

/* Mean over the n images of ||d loss / d c~_t|| for t = 1..196 into norm[]. */
static int measure(Lang *L, Node *file, const char *model, int n, const float *x, const int32_t *y, double *norm) {
  IrgSettings s;
  IrgProgram p;
  if (irg_settings(L, file, model, &s)) return diag_render(L, stderr, 0), -1;
  IrgField f[2] = {{"x", IR_F32, {3, {1, STEPS, 1}}}, {"y", IR_I32, {1, {1}}}};
  IrgOptions io = {.training = 1, .with_grads = 1, .fields = f, .nfields = 2};
  if (irg_build(L, &s, &io, &p)) return diag_render(L, stderr, 0), -1;
  IrVal outs[64];
  int no = 0, probe = -1;
  outs[no++] = p.loss;
  for (int i = 0; i < p.nparams && no < 64; i++) outs[no++] = p.grads[i];
  ir_set_outputs(p.g, no, outs);
  Exec *ex = NULL;
  char msg[512];
  if (exec_create(p.g, EXEC_INTERP, model, &ex, msg, sizeof msg)) {
    fprintf(stderr, "gradflow: %s\n", msg);
    return -1;
  }
  float *w[64] = {0};
  for (int i = 0; i < p.nparams; i++) {
    IrNode *nd = ir_producer(p.g, p.params[i]);
    const IrType *t = ir_type(p.g, p.params[i]);
    w[i] = calloc((size_t)ir_numel(&t->shape) + 1, sizeof(float));
    drv_init_param(nd->init ? nd->init : "zeros", w[i], t->shape.rank, t->shape.dim, 1, 1000 + (uint64_t)i);
    exec_bind(ex, p.params[i], w[i]);
    if (strstr(nd->name, "probe")) probe = i;
  }
  int rc = probe < 0 ? -1 : 0;
  for (int t = 0; t < STEPS; t++) norm[t] = 0;
  for (int k = 0; k < n && !rc; k++) {
    exec_bind(ex, ir_find_leaf(p.g, "batch.x"), (void *)(x + k * STEPS));
    exec_bind(ex, ir_find_leaf(p.g, "batch.y"), (void *)(y + k));
    if (exec_run(ex, 1, (uint64_t)k, msg, sizeof msg)) {
      fprintf(stderr, "gradflow: %s\n", msg);
      rc = -1;
    }
    const float *g = rc ? NULL : exec_output(ex, 1 + probe);
    for (int t = 0; t < STEPS && g; t++) {
      double ss = 0;
      for (int h = 0; h < HIDDEN; h++) ss += (double)g[t * HIDDEN + h] * g[t * HIDDEN + h];
      norm[t] += sqrt(ss) / n;
    }
  }
  for (int i = 0; i < p.nparams; i++) free(w[i]);
  exec_free(ex);
  irg_program_free(&p);
  return rc;
}

static int write_csv(const char *dir, const char *model, const double *norm) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s.csv", dir, model);
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fprintf(f, "step,grad_norm\n");
  for (int t = 0; t < STEPS; t++) fprintf(f, "%d,%.6g\n", t + 1, norm[t]);
  return fclose(f);
}

int main(int argc, char **argv) {
  if (argc < 3) return fprintf(stderr, "usage: gradflow GRADFLOW.nn OUT_DIR [N=32] [SEED=1]\n"), 2;
  int n = argc > 3 ? atoi(argv[3]) : 32;
  uint64_t seed = argc > 4 ? strtoull(argv[4], NULL, 10) : 1;
  float *x = malloc(sizeof(float) * STEPS * (n > 0 ? n : 1));
  int32_t *y = malloc(sizeof(int32_t) * (n > 0 ? n : 1));
  if (n <= 0 || !x || !y || load_images(n, seed, x, y)) return 1;
  Lang *L = lang_new(&(LangOptions){0});
  Node *file = lang_parse_file(L, argv[1]);
  if (!file || lang_check(L, file)) return diag_render(L, stderr, 0), 1;
  const char *models[2] = {"Zoneout", "Plain"};
  double norm[2][STEPS];
  printf("gradient norm ||dL/dc~_t|| at initialization, mean of %d permuted 14x14 Fashion-MNIST images\n", n);
  printf("%-8s %12s %12s %14s\n", "model", "t = 1", "t = 196", "ratio 1/196");
  for (int m = 0; m < 2; m++) {
    if (measure(L, file, models[m], n, x, y, norm[m]) || write_csv(argv[2], models[m], norm[m])) return 1;
    printf("%-8s %12.4g %12.4g %14.4g\n", models[m], norm[m][0], norm[m][STEPS - 1], norm[m][0] / norm[m][STEPS - 1]);
  }
  double gain = (norm[0][0] / norm[0][STEPS - 1]) / (norm[1][0] / norm[1][STEPS - 1]);
  printf("zoneout's ratio / plain ratio: %.4g (claim: >= 10; PyTorch calibration 121)\n", gain);
  lang_free(L);
  free(x);
  free(y);
  return 0;
}
