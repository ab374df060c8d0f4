/* embed_jit: a C program that compiles a model from a string at run time, trains it for a
 * few hundred steps on XOR and runs inference, through the public compiler API (nnc.h).
 * The model's `decide` calls a C function of this program (`extern fn threshold`).
 *
 *   cc -I compiler -I runtime main.c libnncomp.a libnnlang.a libnnrt.a $(llvm-config-19 --libs) \
 *      -fopenmp -lz -lm -o embed_jit && ./embed_jit
 *
 * Exits 0 when the trained network gets all four XOR cases right. */
#include <stdio.h>
#include <string.h>

#include "nnc.h"

static const char *MODEL =
    "extern fn threshold(p: f32[B, 1]) -> i32[B, 1]\n"
    "model Xor {\n"
    "  param W1: f32[2, 8] = normal(0, 1)\n"
    "  param b1: f32[8] = zeros\n"
    "  param W2: f32[8, 1] = normal(0, 1)\n"
    "  param b2: f32[1] = zeros\n"
    "  fn predict(x: f32[B, 2]) -> f32[B, 1] = sigmoid(tanh(x @ W1 + b1) @ W2 + b2)\n"
    "  fn decide(x: f32[B, 2]) -> i32[B, 1] = threshold(predict(x))\n"
    "}\n"
    "train Xor {\n"
    "  data = npy(x = \"x.npy\", y = \"y.npy\", x_shape = (2,), y_shape = (1,))\n"
    "  loss = mean((predict(batch.x) - cast(batch.y, f32)) ** 2)\n"
    "  optimizer = adam(lr = 0.05)\n"
    "  batch_size = 4\n"
    "}\n";

/* The host function behind `extern fn threshold`: 1 where p > 0.5. */
static int threshold(void *ud, int nin, const nnrt_tensor *const *in, int nout, nnrt_tensor **out) {
  const float *p = nnrt_tensor_data(in[0]);
  int32_t *y = nnrt_tensor_data(out[0]);
  for (int64_t i = 0; i < nnrt_tensor_numel(in[0]); i++) y[i] = p[i] > 0.5f;
  return 0;
}

static int check(nnc_ctx *ctx, int rc, const char *what) {
  if (rc == NNC_OK) return 0;
  const char *file;
  int line, col;
  if (nnc_error_pos(ctx, &file, &line, &col)) fprintf(stderr, "(at %s:%d:%d) ", file, line, col);
  fprintf(stderr, "%s: %s (%s)\n", what, nnc_errmsg(ctx), nnc_strstatus(rc));
  return 1;
}

int main(void) {
  nnc_ctx *ctx = nnc_ctx_create(NULL, NULL);
  nnc_model *m = NULL;
  nnc_fn_info sig = {.nargs = 1, .nresults = 1};   /* f32[?, 1] -> i32[?, 1] */
  sig.args[0] = (nnc_arg){.dtype = NNRT_F32, .rank = 2, .dims = {-1, 1}};
  sig.results[0] = (nnc_arg){.dtype = NNRT_I32, .rank = 2, .dims = {-1, 1}};
  if (!ctx || check(ctx, nnc_register_fn(ctx, "threshold", &sig, threshold, NULL), "register")) return 1;
  if (check(ctx, nnc_compile_string(ctx, "xor.nn", MODEL, strlen(MODEL), NULL, &m), "compile")) return 1;
  float xs[8] = {0, 0, 0, 1, 1, 0, 1, 1}, ys[4] = {0, 1, 1, 0};
  int64_t xd[2] = {4, 2}, yd[2] = {4, 1};
  nnrt_tensor *x, *y, *p = NULL;   /* x and y wrap the arrays above: no copy */
  nnc_tensor_wrap(ctx, NNRT_F32, 2, xd, xs, &x);
  nnc_tensor_wrap(ctx, NNRT_F32, 2, yd, ys, &y);
  double loss = 0;
  for (int step = 0; step < 300; step++) {
    if (check(ctx, nnc_train_step(m, x, y, &loss), "train")) return 1;
    if (step % 100 == 0) printf("step %d: loss %.4f\n", step, loss);
  }
  if (check(ctx, nnc_run(m, "Xor.predict", 1, (const nnrt_tensor *const *)&x, 1, &p), "run")) return 1;
  const float *out = nnrt_tensor_data(p);
  int right = 0;
  for (int i = 0; i < 4; i++) {
    printf("xor(%g, %g) = %.3f\n", xs[2 * i], xs[2 * i + 1], out[i]);
    right += (out[i] > 0.5f) == (ys[i] > 0.5f);
  }
  nnrt_tensor *d = NULL;   /* the same decisions through the host function */
  if (check(ctx, nnc_run(m, "Xor.decide", 1, (const nnrt_tensor *const *)&x, 1, &d), "run decide")) return 1;
  const int32_t *dec = nnrt_tensor_data(d);
  for (int i = 0; i < 4; i++) right -= dec[i] != (out[i] > 0.5f);
  nnrt_tensor_free(d);
  printf("final loss %.4f, %d of 4 right\n", loss, right);
  nnrt_tensor_free(p);
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
  nnc_model_free(m);
  nnc_ctx_free(ctx);
  return right == 4 ? 0 : 1;
}
