/* Tests of stdlib/fast_weights.nn (Ba et al. 2016): the fast-weights update A(t) and its
 * attention form (eq. 3), a gradient check through one step of the cell, and a short
 * training run on associative retrieval that lowers the loss. */
#include <criterion/criterion.h>
#include <math.h>

#include "models_util.h"
#include "nnrt.h"

/* x: f32[B, T, 3] inputs; y unused except by the loss */
static const char *mech_src =
  "import fast_weights as fw\n"
  "model M {\n"
  "  rnn = fw.FastWeightsRNN(3, 6, lam = 0.9, eta = 0.5, S = 2)\n"
  "  fn loss_of(x: f32[B, T, 3]) -> f32[] {\n"
  "    let (hs, _) = rnn.forward(x)\n"
  "    return mean(hs[:, -1])\n"
  "  }\n"
  "  # eq. 1 at t = 1 and t = 3: A(1) = eta h(1) h(1)^T, A(3) = lambda A(2) + eta h(3) h(3)^T\n"
  "  fn update_error(x: f32[B, T, 3]) -> f32[] {\n"
  "    let (hs, As) = rnn.forward(x)\n"
  "    let e1 = max(abs(As[:, 0] - 0.5 * outer(hs[:, 0], hs[:, 0])))\n"
  "    let e3 = max(abs(As[:, 2] - (0.9 * As[:, 1] + 0.5 * outer(hs[:, 2], hs[:, 2]))))\n"
  "    return maximum(e1, e3) / max(abs(As[:, 2]))\n"
  "  }\n"
  "  # A(T) q from the scan against eq. 3, eta sum_tau lambda^(T-tau) h(tau) <h(tau), q>\n"
  "  fn attention_error(x: f32[B, T, 3]) -> f32[] {\n"
  "    let (hs, As) = rnn.forward(x)\n"
  "    let q = hs[:, 1] + 0.5\n"
  "    let a = rnn.cell.fast(As[:, -1], q)\n"
  "    let b = fw.attend(hs, q, 0.9, 0.5)\n"
  "    return max(abs(a - b)) / max(abs(b))\n"
  "  }\n"
  "  fn mean_abs_A(x: f32[B, T, 3]) -> f32[] {\n"
  "    let (_, As) = rnn.forward(x)\n"
  "    return mean(abs(As[:, -1]))\n"
  "  }\n"
  "}\n"
  "train M {\n"
  "  data = npy(x = \"unused.npy\", x_shape = (7, 3))\n"
  "  loss = loss_of(batch.x)\n"
  "  metric update_error = update_error(batch.x)\n"
  "  metric attention_error = attention_error(batch.x)\n"
  "  metric mean_abs_A = mean_abs_A(batch.x)\n"
  "  optimizer = adam(lr = 1e-3)\n"
  "  batch_size = 4\n"
  "}\n";

static void fill(float *x, int64_t n, uint64_t stream) {
  for (int64_t i = 0; i < n; i++) x[i] = 2 * nnrt_rand_uniform(3, stream, (uint64_t)i) - 1;
}

Test(fast_weights, A_update_and_attention_form) {
  MtProg P;
  int64_t xs[3] = {4, 7, 3};
  mt_build(&P, mech_src, 0, 1, 3, xs, -1, NULL);
  float x[4 * 7 * 3];
  fill(x, 4 * 7 * 3, 1);
  mt_run(&P, x, NULL, 0);
  float upd = mt_metric(&P, "update_error"), att = mt_metric(&P, "attention_error");
  cr_log_info("A(t) update error %g, attention form error %g, mean |A(T)| %g", upd, att,
              mt_metric(&P, "mean_abs_A"));
  cr_expect(mt_metric(&P, "mean_abs_A") > 1e-2, "the fast weights are not trivially zero");
  cr_expect(upd < 1e-5, "A(t) = lambda A(t-1) + eta h h^T: relative error %g", upd);
  cr_expect(att < 1e-5, "A(T) q vs eta sum lambda^(T-tau) h <h, q>: relative error %g", att);
  mt_free(&P);
}

/* One step of the cell from non-zero h and A; every parameter's gradient. */
static const char *step_src =
  "import fast_weights as fw\n"
  "model M {\n"
  "  cell = fw.FastWeightsCell(3, 5, S = 1)\n"
  "  fn loss_of(x: f32[B, 8]) -> f32[] {\n"
  "    let h = tanh(x[:, 3:])\n"
  "    let A = 0.7 * outer(h, h) + 0.1\n"
  "    let (h1, A1) = cell.step(x[:, :3], h, A)\n"
  "    return mean(square(h1 - 0.2)) + mean(A1 * A1) + mean(h1 * x[:, 3:])\n"
  "  }\n"
  "}\n"
  "train M {\n"
  "  data = npy(x = \"unused.npy\", x_shape = (8,))\n"
  "  loss = loss_of(batch.x)\n"
  "  optimizer = adam(lr = 1e-3)\n"
  "  batch_size = 4\n"
  "}\n";

Test(fast_weights, gradient_through_one_step) {
  MtProg P;
  int64_t xs[2] = {4, 8};
  mt_build(&P, step_src, 1, 1, 2, xs, -1, NULL);
  cr_assert_eq(P.p.nparams, 5, "W, C.W, C.b, ln.gamma, ln.beta");
  float x[32];
  fill(x, 32, 2);
  for (int i = 0; i < P.p.nparams; i++)   /* move LN's gain and bias off 1 and 0 */
    for (int64_t k = 0; k < P.n[i]; k++) P.w[i][k] += 0.1f * (nnrt_rand_uniform(5, (uint64_t)i, (uint64_t)k) - 0.5f);
  double worst = mt_gradcheck(&P, x, NULL, 1e-3);
  cr_log_info("worst relative gradient error %g", worst);
  mt_free(&P);
}

/* Associative retrieval with K = 2 (length 7): a batch of sequences and their targets. */
static void retrieval(int64_t b, uint64_t step, float *x, int32_t *y) {
  uint64_t r = 0;
  for (int64_t i = 0; i < b; i++) {
    float *s = x + i * 7;
    int l0 = (int)(nnrt_rand_uniform(11, step, r++) * 26), l1;
    do l1 = (int)(nnrt_rand_uniform(11, step, r++) * 26); while (l1 == l0);
    int d0 = (int)(nnrt_rand_uniform(11, step, r++) * 10), d1 = (int)(nnrt_rand_uniform(11, step, r++) * 10);
    int q = nnrt_rand_uniform(11, step, r++) < 0.5f;
    s[0] = (float)l0, s[1] = (float)(26 + d0), s[2] = (float)l1, s[3] = (float)(26 + d1);
    s[4] = s[5] = 36;
    s[6] = (float)(q ? l1 : l0);
    y[i] = q ? d1 : d0;
  }
}

static const char *train_src =
  "import fast_weights as fw\n"
  "model M {\n"
  "  net = fw.FastWeightsClassifier(37, 10, hidden = 16, embed = 16)\n"
  "}\n"
  "train M {\n"
  "  data = npy(x = \"unused.npy\", y = \"unused_y.npy\", x_shape = (7,))\n"
  "  loss = cross_entropy(net.logits(cast(batch.x, i32)), batch.y)\n"
  "  optimizer = adam(lr = 3e-3)\n"
  "  batch_size = 32\n"
  "}\n";

Test(fast_weights, training_lowers_the_loss) {
  MtProg P;
  int64_t xs[2] = {32, 7}, ys[1] = {32};
  mt_build(&P, train_src, 1, 0, 2, xs, 1, ys);
  float x[32 * 7];
  int32_t y[32];
  double first = 0, last = 0;
  for (int t = 1; t <= 300; t++) {
    retrieval(32, (uint64_t)t, x, y);
    float l = mt_run(&P, x, y, (uint64_t)t);
    cr_assert(isfinite(l));
    mt_adam(&P, 3e-3f, t);
    if (t <= 20) first += l / 20;
    if (t > 280) last += l / 20;
  }
  cr_log_info("loss: first 20 steps %.3f, last 20 steps %.3f", first, last);
  cr_expect(first > 2.0, "starts near ln 10 (%.3f)", first);
  cr_expect(last < 0.8 * first, "the loss falls: %.3f -> %.3f", first, last);
  mt_free(&P);
}
