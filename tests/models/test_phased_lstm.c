/* Tests of stdlib/phased_lstm.nn (Neil et al. 2016): the time gate's open fraction at test
 * is about r_on, closed units keep their state exactly, the training leak opens every gate
 * a little, gradients through one step (tau and s included) match finite differences,
 * and a short training run lowers the loss. */
#include <criterion/criterion.h>
#include <math.h>

#include "models_util.h"
#include "nnrt.h"

/* x: f32[B, T, 2], channel 0 the input, channel 1 the timestamp (ms) */
static const char *mech_src =
  "import phased_lstm as pl\n"
  "model M {\n"
  "  rnn = pl.PhasedLSTM(1, 64, r_on = 0.05)\n"
  "  fn loss_of(x: f32[B, T, 2]) -> f32[] = mean(rnn.last(x[:, :, 0:1], x[:, :, 1]))\n"
  "  fn open_fraction(x: f32[B, T, 2]) -> f32[] = rnn.open_fraction(x[:, :, 0:1], x[:, :, 1])\n"
  "  # the largest change of (c, h) over a step where the unit's gate is closed (k = 0)\n"
  "  fn closed_change(x: f32[B, T, 2]) -> f32[] {\n"
  "    let (hs, cs, ks) = rnn.forward(x[:, :, 0:1], x[:, :, 1])\n"
  "    let shut = cast(ks[:, 1:] == 0, f32)\n"
  "    return max(shut * (abs(cs[:, 1:] - cs[:, :-1]) + abs(hs[:, 1:] - hs[:, :-1])))\n"
  "  }\n"
  "  # the smallest gate value: 0 when closed at test, alpha * phi > 0 in training\n"
  "  fn min_gate(x: f32[B, T, 2]) -> f32[] {\n"
  "    let (_, _, ks) = rnn.forward(x[:, :, 0:1], x[:, :, 1])\n"
  "    return min(ks)\n"
  "  }\n"
  "  fn max_gate(x: f32[B, T, 2]) -> f32[] {\n"
  "    let (_, _, ks) = rnn.forward(x[:, :, 0:1], x[:, :, 1])\n"
  "    return max(ks)\n"
  "  }\n"
  "}\n"
  "train M {\n"
  "  data = npy(x = \"unused.npy\", x_shape = (40, 2))\n"
  "  loss = loss_of(batch.x)\n"
  "  metric open_fraction = open_fraction(batch.x)\n"
  "  metric closed_change = closed_change(batch.x)\n"
  "  metric min_gate = min_gate(batch.x)\n"
  "  metric max_gate = max_gate(batch.x)\n"
  "  optimizer = adam(lr = 1e-3)\n"
  "  batch_size = 8\n"
  "}\n";

/* B sequences of T events at sorted random times in [0, span) ms, inputs sin-like */
static void events(float *x, int64_t b, int64_t t, double span, uint64_t stream) {
  for (int64_t i = 0; i < b; i++) {
    double now = 0;
    for (int64_t j = 0; j < t; j++) {
      now += 2 * span / t * nnrt_rand_uniform(9, stream, (uint64_t)(i * t + j));
      x[(i * t + j) * 2] = (float)sin(0.7 * now + i);
      x[(i * t + j) * 2 + 1] = (float)now;
    }
  }
}

Test(phased_lstm, open_fraction_is_r_on_at_test) {
  MtProg P;
  int64_t xs[3] = {8, 40, 2};
  mt_build(&P, mech_src, 0, 1, 3, xs, -1, NULL);
  static float x[8 * 40 * 2];
  events(x, 8, 40, 400, 1);
  mt_run(&P, x, NULL, 0);
  float open = mt_metric(&P, "open_fraction"), moved = mt_metric(&P, "closed_change");
  cr_log_info("open fraction %.4f (r_on 0.05), largest change of a closed unit %g, gates in [%g, %g]", open,
              moved, mt_metric(&P, "min_gate"), mt_metric(&P, "max_gate"));
  cr_expect(open > 0.03 && open < 0.08, "open fraction %.4f is about r_on = 0.05", open);
  cr_expect_eq(moved, 0.0f, "a closed unit keeps c and h exactly (changed by %g)", moved);
  cr_expect_eq(mt_metric(&P, "min_gate"), 0.0f, "alpha = 0 at test");
  cr_expect(mt_metric(&P, "max_gate") > 0.5f && mt_metric(&P, "max_gate") <= 1.0f, "the gate peaks at 1");
  mt_free(&P);
}

Test(phased_lstm, leak_keeps_gates_ajar_in_training) {
  MtProg P;
  int64_t xs[3] = {8, 40, 2};
  mt_build(&P, mech_src, 1, 1, 3, xs, -1, NULL);
  static float x[8 * 40 * 2];
  events(x, 8, 40, 400, 2);
  mt_run(&P, x, NULL, 0);
  float lo = mt_metric(&P, "min_gate"), open = mt_metric(&P, "open_fraction");
  cr_log_info("training: smallest gate %g, fraction k > 0 %.4f", lo, open);
  cr_expect(lo >= 0 && lo < 1e-3f, "closed gates leak alpha * phi < alpha (got %g)", lo);
  cr_expect(open > 0.99f, "with the leak nearly every gate is above 0 (%.4f)", open);
  mt_free(&P);
}

/* One step from non-zero (h, c) at times that fall in every part of the gate. */
static const char *step_src =
  "import phased_lstm as pl\n"
  "model M {\n"
  "  cell = pl.PhasedLSTMCell(2, 6, r_on = 0.4, alpha = 0.1)\n"
  "  fn loss_of(x: f32[B, 15]) -> f32[] {\n"
  "    let h = tanh(x[:, 3:9])\n"
  "    let c = 3 * x[:, 9:15]\n"
  "    let (h1, c1, k) = cell.step(x[:, 0:2], 10 * x[:, 2] + 10, h, c)\n"
  "    return mean(square(h1 - 0.2)) + mean(c1 * c1) + mean(k * h)\n"
  "  }\n"
  "}\n"
  "train M {\n"
  "  data = npy(x = \"unused.npy\", x_shape = (15,))\n"
  "  loss = loss_of(batch.x)\n"
  "  optimizer = adam(lr = 1e-3)\n"
  "  batch_size = 6\n"
  "}\n";

Test(phased_lstm, gradient_through_one_step) {
  MtProg P;
  int64_t xs[2] = {6, 15};
  mt_build(&P, step_src, 1, 1, 2, xs, -1, NULL);
  float x[6 * 15];
  for (int i = 0; i < 6 * 15; i++) x[i] = 2 * nnrt_rand_uniform(4, 1, (uint64_t)i) - 1;
  for (int i = 3; i < 6; i++)   /* peepholes off zero */
    for (int64_t k = 0; k < P.n[i]; k++) P.w[i][k] += nnrt_rand_uniform(5, (uint64_t)i, (uint64_t)k) - 0.5f;
  cr_assert_eq(P.p.nparams, 8, "Wx, Wh, b, pi, pf, po, log_tau, s");
  /* the gate's kinks: a small step for tau and s, so that no phase crosses one */
  double worst = 0;
  for (int i = 0; i < P.p.nparams; i++) {
    double e = mt_gradcheck_one(&P, i, x, NULL, i < 6 ? 1e-2 : 3e-4);
    worst = e > worst ? e : worst;
  }
  cr_log_info("worst relative gradient error %g", worst);
  mt_free(&P);
}

/* Is the sum of the inputs positive? Events at random times; r_on = 0.5 so that a short
 * run sees open gates. */
static const char *train_src =
  "import nn\n"
  "import phased_lstm as pl\n"
  "model M {\n"
  "  rnn = pl.PhasedLSTM(1, 16, r_on = 0.5)\n"
  "  out = nn.Linear(16, 2)\n"
  "  fn logits(x: f32[B, T, 2]) -> f32[B, 2] = out(rnn.last(x[:, :, 0:1], x[:, :, 1]))\n"
  "}\n"
  "train M {\n"
  "  data = npy(x = \"unused.npy\", y = \"unused_y.npy\", x_shape = (10, 2))\n"
  "  loss = cross_entropy(logits(batch.x), batch.y)\n"
  "  optimizer = adam(lr = 1e-2)\n"
  "  batch_size = 32\n"
  "}\n";

Test(phased_lstm, training_lowers_the_loss) {
  MtProg P;
  int64_t xs[3] = {32, 10, 2}, ys[1] = {32};
  mt_build(&P, train_src, 1, 0, 3, xs, 1, ys);
  float x[32 * 10 * 2];
  int32_t y[32];
  double first = 0, last = 0;
  for (int t = 1; t <= 200; t++) {
    events(x, 32, 10, 20, (uint64_t)t + 100);
    for (int i = 0; i < 32; i++) {
      double s = 0;
      for (int j = 0; j < 10; j++) {
        x[(i * 10 + j) * 2] = 2 * nnrt_rand_uniform(6, (uint64_t)t, (uint64_t)(i * 10 + j)) - 1;
        s += x[(i * 10 + j) * 2];
      }
      y[i] = s > 0;
    }
    float l = mt_run(&P, x, y, (uint64_t)t);
    cr_assert(isfinite(l));
    mt_adam(&P, 1e-2f, t);
    if (t <= 20) first += l / 20;
    if (t > 180) last += l / 20;
  }
  cr_log_info("loss: first 20 steps %.3f, last 20 steps %.3f", first, last);
  cr_expect(last < 0.8 * first, "the loss falls: %.3f -> %.3f", first, last);
  mt_free(&P);
}
