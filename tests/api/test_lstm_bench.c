/* test_lstm_bench.c — the model the LSTM benchmark times (bench/lstm_step.nn, through
 * bench/lstm_bench.c) computes what bench/torch_models.py's lstm_step computes: PyTorch's
 * LSTM cell (gates i, f, g, o; no forget bias) from a zero state, loss = mean(h^2) over
 * every state, one SGD step at lr 0.01. The oracle is plain C in double on the model's own
 * initial weights: the first loss of nnc_train_step must be that loss, and the step's
 * update divided by -lr must be its gradient by central differences. Run on Lstm3x4 and
 * on a short sequence of each benchmark model (their own train declarations). */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nnc.h"

#define LR 0.01

typedef struct lstm {
  int in, hidden;
  double *wx, *wh, *b; /* [4*hidden, in], [4*hidden, hidden], [4*hidden] */
} lstm;

static double sigm(double v) { return 1 / (1 + exp(-v)); }

/* mean over [B, T, hidden] of h^2; x is [B, T, in] */
static double ref_loss(const lstm *l, const float *x, int B, int T) {
  int H = l->hidden, I = l->in;
  double *h = calloc((size_t)H, sizeof *h), *c = calloc((size_t)H, sizeof *c), *z = malloc(sizeof *z * 4 * H);
  double sum = 0;
  for (int bi = 0; bi < B; bi++) {
    memset(h, 0, sizeof *h * H);
    memset(c, 0, sizeof *c * H);
    for (int t = 0; t < T; t++) {
      const float *xt = x + ((size_t)bi * T + t) * I;
      for (int r = 0; r < 4 * H; r++) {
        double s = l->b[r];
        for (int k = 0; k < I; k++) s += l->wx[(size_t)r * I + k] * xt[k];
        for (int k = 0; k < H; k++) s += l->wh[(size_t)r * H + k] * h[k];
        z[r] = s;
      }
      for (int j = 0; j < H; j++) {
        c[j] = sigm(z[H + j]) * c[j] + sigm(z[j]) * tanh(z[2 * H + j]);
        h[j] = sigm(z[3 * H + j]) * tanh(c[j]);
        sum += h[j] * h[j];
      }
    }
  }
  free(h), free(c), free(z);
  return sum / ((double)B * T * H);
}

/* The model's parameter `name` (f32), asserted to have n elements. */
static float *param(nnc_model *m, const char *name, int64_t n) {
  for (int i = 0; i < nnc_param_count(m); i++) {
    const char *pn;
    nnrt_tensor *t;
    cr_assert_eq(nnc_param(m, i, &pn, &t), NNC_OK);
    if (strcmp(pn, name)) continue;
    cr_assert_eq(nnrt_tensor_nbytes(t), sizeof(float) * (size_t)n, "%s: %zu bytes", name, nnrt_tensor_nbytes(t));
    return nnrt_tensor_data(t);
  }
  cr_assert_fail("no parameter %s", name);
  return NULL;
}

static double *to_double(const float *p, int64_t n) {
  double *d = malloc(sizeof *d * (size_t)n);
  for (int64_t i = 0; i < n; i++) d[i] = p[i];
  return d;
}

/* d loss / d w[i] by central differences (double; step relative to the weight). */
static double numeric(const lstm *l, double *w, int64_t i, const float *x, int B, int T) {
  double w0 = w[i], e = 1e-4 * fmax(fabs(w0), 0.1);
  w[i] = w0 + e;
  double up = ref_loss(l, x, B, T);
  w[i] = w0 - e;
  double down = ref_loss(l, x, B, T);
  w[i] = w0;
  return (up - down) / (2 * e);
}

/* Checks every `every`-th element of one parameter: -(new - old) / lr against the numeric
 * gradient. The tolerance allows the float rounding of old and new (an ulp of w each,
 * divided by lr) and 0.2 % of the gradient. */
static void check_grad(const char *what, const lstm *l, double *w, const float *after, int64_t n, int every,
                       const float *x, int B, int T) {
  int sharp = 0;
  for (int64_t i = 0; i < n; i += every) {
    double g = (w[i] - after[i]) / LR, ng = numeric(l, w, i, x, B, T);
    double ulps = 4 * FLT_EPSILON * fmax(fabs(w[i]), fabs(after[i])) / LR, tol = ulps + 2e-3 * fabs(ng) + 1e-9;
    cr_assert(fabs(g - ng) <= tol, "%s[%lld]: nnc's SGD step gives gradient %.9g, central differences %.9g (tol %.3g)",
              what, (long long)i, g, ng, tol);
    sharp += fabs(ng) > 20 * ulps;
  }
  /* the check means something only where the gradient stands well above the rounding */
  cr_assert_gt(sharp, 0, "%s: no checked gradient is above 20x its rounding tolerance", what);
}

/* One train step of `model` at (B, T): first loss and the step's gradients against plain C. */
static void check_model(const char *model, int in, int hidden, int B, int T, int every) {
  nnc_ctx *ctx = nnc_ctx_create(NULL, NULL);
  cr_assert(ctx);
  nnc_options o = {.model = model, .seed = 7};
  nnc_model *m = NULL;
  cr_assert_eq(nnc_compile_file(ctx, NNC_SOURCE_DIR "/bench/lstm_step.nn", &o, &m), NNC_OK, "%s", nnc_errmsg(ctx));
  cr_assert_eq(nnc_param_count(m), 3);
  int64_t nx = (int64_t)4 * hidden * in, nh = (int64_t)4 * hidden * hidden, nb = 4 * hidden;
  float *wx = param(m, "lstm.cell.Wx", nx), *wh = param(m, "lstm.cell.Wh", nh), *b = param(m, "lstm.cell.b", nb);
  /* a nonzero bias, so that its gradient and its use in every gate are checked too */
  for (int64_t i = 0; i < nb; i++) b[i] = (float)(0.05 * sin(1.7 * i + 0.3));
  lstm l = {in, hidden, to_double(wx, nx), to_double(wh, nh), to_double(b, nb)};
  int64_t dims[3] = {B, T, in}, n = (int64_t)B * T * in;
  float *x = malloc(sizeof *x * (size_t)n);
  for (int64_t i = 0; i < n; i++) x[i] = (float)(1.5 * sin(0.37 * i + 1.1) + 0.25 * cos(2.3 * i));
  nnrt_tensor *tx;
  cr_assert_eq(nnc_tensor_wrap(ctx, NNRT_F32, 3, dims, x, &tx), NNC_OK);
  double loss = 0, ref = ref_loss(&l, x, B, T);
  cr_assert_eq(nnc_train_step(m, tx, NULL, &loss), NNC_OK, "%s", nnc_errmsg(ctx));
  cr_assert(fabs(loss - ref) <= 1e-5 * fabs(ref) + 1e-9, "%s: first loss %.9g, plain C mean(h^2) %.9g", model, loss, ref);
  check_grad("Wx", &l, l.wx, wx, nx, every, x, B, T);
  check_grad("Wh", &l, l.wh, wh, nh, every, x, B, T);
  check_grad("b", &l, l.b, b, nb, every > 1 ? every / 4 + 1 : 1, x, B, T);
  nnrt_tensor_free(tx);
  nnc_model_free(m);
  nnc_ctx_free(ctx);
  free(x), free(l.wx), free(l.wh), free(l.b);
}

Test(lstm_bench, tiny_model_loss_and_every_gradient_match_plain_c) {
  check_model("Lstm3x4", 3, 4, 2, 5, 1);
}

Test(lstm_bench, benchmark_models_loss_and_sampled_gradients_match_plain_c, .timeout = 120) {
  check_model("Lstm128x256", 128, 256, 2, 3, 2999);
  check_model("Lstm128x256", 128, 256, 1, 2, 2999); /* batch 1: once "argument 13 names no buffer" */
  check_model("Lstm256x512", 256, 512, 2, 2, 9973);
}
