/* Tests of stdlib/zoneout_lstm.nn (Krueger et al. 2016): in training a unit either keeps
 * its previous value or takes the new one, at rates z_h and z_c; at test the expectation
 * z prev + (1 - z) new; gradients through one step (masks included) match finite
 * differences; a short training run lowers the loss. All on the interpreter: the JIT
 * cannot run random ops yet (repro/jit_random_seed_slot.nn). */
#include <criterion/criterion.h>
#include <math.h>

#include "models_util.h"
#include "nnrt.h"

/* x: f32[B, T, 4] */
static const char *seq_src =
  "import zoneout_lstm as zo\n"
  "model M {\n"
  "  rnn = zo.ZoneoutLSTM(4, 16, z_c = 0.5, z_h = 0.05)\n"
  "  fn loss_of(x: f32[B, T, 4]) -> f32[] = mean(rnn.states(x)[:, -1])\n"
  "  # fractions of (example, step, unit) whose h / c equal the previous step's exactly\n"
  "  fn kept_h(x: f32[B, T, 4]) -> f32[] {\n"
  "    let (hs, _) = rnn.forward(x)\n"
  "    return mean(hs[:, 1:] == hs[:, :-1])\n"
  "  }\n"
  "  fn kept_c(x: f32[B, T, 4]) -> f32[] {\n"
  "    let (_, cs) = rnn.forward(x)\n"
  "    return mean(cs[:, 1:] == cs[:, :-1])\n"
  "  }\n"
  "}\n"
  "train M {\n"
  "  data = npy(x = \"unused.npy\", x_shape = (21, 4))\n"
  "  loss = loss_of(batch.x)\n"
  "  metric kept_h = kept_h(batch.x)\n"
  "  metric kept_c = kept_c(batch.x)\n"
  "  optimizer = adam(lr = 1e-3)\n"
  "  batch_size = 16\n"
  "}\n";

static void fill(float *x, int64_t n, uint64_t stream) {
  for (int64_t i = 0; i < n; i++) x[i] = 2 * nnrt_rand_uniform(3, stream, (uint64_t)i) - 1;
}

Test(zoneout, units_keep_previous_values_at_rate_z) {
  MtProg P;
  int64_t xs[3] = {16, 21, 4};
  mt_build(&P, seq_src, 1, 1, 3, xs, -1, NULL);
  static float x[16 * 21 * 4];
  fill(x, 16 * 21 * 4, 1);
  mt_run(&P, x, NULL, 3);
  float kh = mt_metric(&P, "kept_h"), kc = mt_metric(&P, "kept_c");
  cr_log_info("training: kept h %.4f (z_h 0.05), kept c %.4f (z_c 0.5) over 5120 units x steps", kh, kc);
  cr_expect(fabsf(kh - 0.05f) < 0.02f, "h kept at rate z_h = 0.05: %.4f", kh);
  cr_expect(fabsf(kc - 0.5f) < 0.04f, "c kept at rate z_c = 0.5: %.4f", kc);
  mt_free(&P);
  mt_build(&P, seq_src, 0, 1, 3, xs, -1, NULL);
  mt_run(&P, x, NULL, 0);
  kh = mt_metric(&P, "kept_h"), kc = mt_metric(&P, "kept_c");
  cr_log_info("test: kept h %.4f, kept c %.4f", kh, kc);
  cr_expect(kh < 0.01f && kc < 0.01f, "at test the expectation moves every unit");
  mt_free(&P);
}

/* One step: per unit, the output is exactly the previous value or the new LSTM value in
 * training, and z prev + (1 - z) new at test. x: f32[B, 12] = (input 4, h 4, c 4). */
static const char *step_src =
  "import zoneout_lstm as zo\n"
  "model M {\n"
  "  cell = zo.ZoneoutLSTMCell(4, 4, z_c = 0.3, z_h = 0.6)\n"
  "  fn parts(x: f32[B, 12]) {\n"
  "    let h = tanh(x[:, 4:8])\n"
  "    let c = 2 * x[:, 8:12]\n"
  "    let dh = zo.zoneout_masks(0.6, B, 1, 4)[:, 0]\n"
  "    let dc = zo.zoneout_masks(0.3, B, 1, 4)[:, 0]\n"
  "    let (h1, c1) = cell.step(x[:, 0:4], dh, dc, h, c)\n"
  "    let (hn, cn) = cell.cell.step(x[:, 0:4], h, c)\n"
  "    return (h, c, h1, c1, hn, cn)\n"
  "  }\n"
  "  fn loss_of(x: f32[B, 12]) -> f32[] {\n"
  "    let (h, c, h1, c1, _, _) = parts(x)\n"
  "    return mean(square(h1 - 0.2)) + mean(c1 * c1) + mean(h1 * c)\n"
  "  }\n"
  "  # training: min(|h1 - h|, |h1 - h~|) is 0 for every unit\n"
  "  fn either_error(x: f32[B, 12]) -> f32[] {\n"
  "    let (h, c, h1, c1, hn, cn) = parts(x)\n"
  "    return max(minimum(abs(h1 - h), abs(h1 - hn))) + max(minimum(abs(c1 - c), abs(c1 - cn)))\n"
  "  }\n"
  "  fn kept_h(x: f32[B, 12]) -> f32[] {\n"
  "    let (h, _, h1, _, _, _) = parts(x)\n"
  "    return mean(h1 == h)\n"
  "  }\n"
  "  # test: h1 = z_h h + (1 - z_h) h~, c1 = z_c c + (1 - z_c) c~\n"
  "  fn expectation_error(x: f32[B, 12]) -> f32[] {\n"
  "    let (h, c, h1, c1, hn, cn) = parts(x)\n"
  "    return max(abs(h1 - (0.6 * h + 0.4 * hn))) + max(abs(c1 - (0.3 * c + 0.7 * cn)))\n"
  "  }\n"
  "}\n"
  "train M {\n"
  "  data = npy(x = \"unused.npy\", x_shape = (12,))\n"
  "  loss = loss_of(batch.x)\n"
  "  metric either_error = either_error(batch.x)\n"
  "  metric kept_h = kept_h(batch.x)\n"
  "  metric expectation_error = expectation_error(batch.x)\n"
  "  optimizer = adam(lr = 1e-3)\n"
  "  batch_size = 8\n"
  "}\n";

Test(zoneout, one_step_mixes_previous_and_new) {
  MtProg P;
  int64_t xs[2] = {8, 12};
  float x[8 * 12];
  fill(x, 8 * 12, 2);
  mt_build(&P, step_src, 1, 1, 2, xs, -1, NULL);
  mt_run(&P, x, NULL, 5);
  float either = mt_metric(&P, "either_error"), kh = mt_metric(&P, "kept_h");
  cr_log_info("training: either error %g, kept h %.3f", either, kh);
  cr_expect_eq(either, 0.0f, "every unit is the previous or the new value (off by %g)", either);
  cr_expect(kh > 0.2f && kh < 0.95f, "some units kept, some updated (%.3f kept, z_h = 0.6)", kh);
  mt_free(&P);
  mt_build(&P, step_src, 0, 1, 2, xs, -1, NULL);
  mt_run(&P, x, NULL, 0);
  float ex = mt_metric(&P, "expectation_error");
  cr_log_info("test: expectation error %g", ex);
  cr_expect(ex < 1e-6f, "test mixes by the expectation (off by %g)", ex);
  mt_free(&P);
}

Test(zoneout, gradient_through_one_step) {
  MtProg P;
  int64_t xs[2] = {8, 12};
  float x[8 * 12];
  fill(x, 8 * 12, 3);
  mt_build(&P, step_src, 1, 1, 2, xs, -1, NULL);
  cr_assert_eq(P.p.nparams, 3, "Wx, Wh, b");
  double worst = mt_gradcheck(&P, x, NULL, 1e-2);   /* the masks repeat: same seed, step 0 */
  cr_log_info("worst relative gradient error %g", worst);
  mt_free(&P);
}

/* Is the sum of the inputs positive? (interpreter: a small model, 150 steps) */
static const char *train_src =
  "import nn\n"
  "import zoneout_lstm as zo\n"
  "model M {\n"
  "  rnn = zo.ZoneoutLSTM(1, 8, z_c = 0.15, z_h = 0.15)\n"
  "  out = nn.Linear(8, 2)\n"
  "  fn logits(x: f32[B, T, 1]) -> f32[B, 2] = out(rnn.states(x)[:, -1])\n"
  "}\n"
  "train M {\n"
  "  data = npy(x = \"unused.npy\", y = \"unused_y.npy\", x_shape = (8, 1))\n"
  "  loss = cross_entropy(logits(batch.x), batch.y)\n"
  "  optimizer = adam(lr = 2e-2)\n"
  "  batch_size = 16\n"
  "}\n";

Test(zoneout, training_lowers_the_loss) {
  MtProg P;
  int64_t xs[3] = {16, 8, 1}, ys[1] = {16};
  mt_build(&P, train_src, 1, 1, 3, xs, 1, ys);
  float x[16 * 8];
  int32_t y[16];
  double first = 0, last = 0;
  for (int t = 1; t <= 150; t++) {
    fill(x, 16 * 8, 100 + (uint64_t)t);
    for (int i = 0; i < 16; i++) {
      double s = 0;
      for (int j = 0; j < 8; j++) s += x[i * 8 + j];
      y[i] = s > 0;
    }
    float l = mt_run(&P, x, y, (uint64_t)t);
    cr_assert(isfinite(l));
    mt_adam(&P, 2e-2f, t);
    if (t <= 20) first += l / 20;
    if (t > 130) last += l / 20;
  }
  cr_log_info("loss: first 20 steps %.3f, last 20 steps %.3f", first, last);
  cr_expect(last < 0.8 * first, "the loss falls: %.3f -> %.3f", first, last);
  mt_free(&P);
}
