/* Tests of stdlib/variational_dropout_lstm.nn (Gal & Ghahramani 2016): a variational mask
 * is drawn once per sequence and holds at every step (naive masks change per step), at
 * rate p and scaled by 1 / (1 - p); embedding dropout drops a word type at all its
 * occurrences; MC dropout averages probabilities over distinct mask samples; gradients
 * through one step of the cell with its recurrent mask; a short run lowers the loss.
 * Interpreter, small sizes. */
#include <criterion/criterion.h>
#include <math.h>

#include "models_util.h"
#include "nnrt.h"

static void fill(float *x, int64_t n, uint64_t stream) {
  for (int64_t i = 0; i < n; i++) x[i] = 2 * nnrt_rand_uniform(7, stream, (uint64_t)i) - 1;
}

/* x: f32[B, T, 4]. Output dropout only (p_o = 0.5): the fraction of (example, unit) whose
 * output is zero at every step is the drop rate for a per-sequence mask, ~0.5^T per step. */
static const char *mask_src =
  "import variational_dropout_lstm as vd\n"
  "model M {\n"
  "  var_ = vd.VariationalLSTM(4, 16, p_x = 0.0, p_h = 0.0, p_o = 0.5)\n"
  "  naive = vd.VariationalLSTM(4, 16, p_x = 0.0, p_h = 0.0, p_o = 0.5, per_step = true)\n"
  "  fn always_zero(hs: f32[B, T, H]) -> f32[] = mean(cast(max(abs(hs), axis = 1) == 0, f32))\n"
  "  fn loss_of(x: f32[B, T, 4]) -> f32[] = mean(var_.forward(x)) + mean(naive.forward(x))\n"
  "  # the masks themselves: per sequence they repeat along T\n"
  "  fn same_along_t(per_step: bool) -> f32[] {\n"
  "    let m = vd.seq_mask(0.25, 8, 6, 32, per_step, true)\n"
  "    return mean(cast(m[:, 1:] == m[:, :-1], f32))\n"
  "  }\n"
  "  fn mask_mean() -> f32[] = mean(vd.seq_mask(0.25, 64, 1, 64, false, true))\n"
  "  fn mask_drop() -> f32[] = mean(cast(vd.seq_mask(0.25, 64, 1, 64, false, true) == 0, f32))\n"
  "}\n"
  "train M {\n"
  "  data = npy(x = \"unused.npy\", x_shape = (12, 4))\n"
  "  loss = loss_of(batch.x)\n"
  "  metric var_zero = always_zero(var_.forward(batch.x))\n"
  "  metric naive_zero = always_zero(naive.forward(batch.x))\n"
  "  metric var_same = same_along_t(false)\n"
  "  metric naive_same = same_along_t(true)\n"
  "  metric mask_mean = mask_mean()\n"
  "  metric mask_drop = mask_drop()\n"
  "  metric test_zero = always_zero(var_.forward(batch.x)) + always_zero(naive.forward(batch.x))\n"
  "  optimizer = adam(lr = 1e-3)\n"
  "  batch_size = 32\n"
  "}\n";

Test(variational, masks_hold_for_the_whole_sequence) {
  MtProg P;
  int64_t xs[3] = {32, 12, 4};
  static float x[32 * 12 * 4];
  fill(x, 32 * 12 * 4, 1);
  mt_build(&P, mask_src, 1, 1, 3, xs, -1, NULL);
  mt_run(&P, x, NULL, 3);
  float vz = mt_metric(&P, "var_zero"), nz = mt_metric(&P, "naive_zero");
  float vs = mt_metric(&P, "var_same"), ns = mt_metric(&P, "naive_same");
  float mm = mt_metric(&P, "mask_mean"), md = mt_metric(&P, "mask_drop");
  cr_log_info("output units zero at all 12 steps: variational %.3f, naive %.4f; masks equal along T: "
              "%.3f vs %.3f; mask mean %.3f, dropped %.3f", vz, nz, vs, ns, mm, md);
  cr_expect(fabsf(vz - 0.5f) < 0.08f, "a per-sequence output mask drops ~p of the units for all steps: %.3f", vz);
  cr_expect(nz < 0.01f, "per-step masks almost never drop a unit at all 12 steps: %.4f", nz);
  cr_expect_eq(vs, 1.0f, "the variational mask is the same at every step (%.3f)", vs);
  cr_expect(fabsf(ns - 0.625f) < 0.05f, "naive masks change along T: equal %.3f, expected 1 - 2 p (1 - p)", ns);
  cr_expect(fabsf(md - 0.25f) < 0.03f, "drop rate p = 0.25: %.3f", md);
  cr_expect(fabsf(mm - 1.0f) < 0.04f, "scaled by 1 / (1 - p): mean %.3f", mm);
  mt_free(&P);
  mt_build(&P, mask_src, 0, 1, 3, xs, -1, NULL);   /* standard approximation: no masks */
  mt_run(&P, x, NULL, 0);
  cr_expect_eq(mt_metric(&P, "test_zero"), 0.0f, "no unit dropped at test");
  mt_free(&P);
}

/* x: f32[B, T] token ids (as floats) of a 6-word vocabulary; embedding dropout p_e = 0.5 */
static const char *emb_src =
  "import variational_dropout_lstm as vd\n"
  "model M {\n"
  "  param w: f32[1] = ones\n"
  "  fn zE(x: f32[B, T]) -> f32[B, T] = vd.embedding_mask(0.5, cast(x, i32), 6, training)[:, :, 0]\n"
  "  # over pairs of positions with the same word: is the mask the same?\n"
  "  fn consistent(x: f32[B, T]) -> f32[] {\n"
  "    let z = zE(x)\n"
  "    let same_word = cast(x[:, :, None] == x[:, None, :], f32)\n"
  "    return sum(same_word * cast(z[:, :, None] == z[:, None, :], f32)) / sum(same_word)\n"
  "  }\n"
  "}\n"
  "train M {\n"
  "  data = npy(x = \"unused.npy\", x_shape = (30,))\n"
  "  loss = mean(w * zE(batch.x))\n"
  "  metric consistent = consistent(batch.x)\n"
  "  metric kept = mean(zE(batch.x))\n"
  "  metric differs = mean(cast(sum(zE(batch.x), axis = 1) != sum(zE(batch.x)[0:1], axis = 1), f32))\n"
  "  optimizer = adam(lr = 1e-3)\n"
  "  batch_size = 64\n"
  "}\n";

Test(variational, embedding_dropout_drops_word_types) {
  MtProg P;
  int64_t xs[2] = {64, 30};
  static float x[64 * 30];
  for (int i = 0; i < 64 * 30; i++) x[i] = (float)(int)(6 * nnrt_rand_uniform(11, 2, (uint64_t)i));
  mt_build(&P, emb_src, 1, 1, 2, xs, -1, NULL);
  mt_run(&P, x, NULL, 1);
  float c = mt_metric(&P, "consistent"), k = mt_metric(&P, "kept"), d = mt_metric(&P, "differs");
  cr_log_info("same word, same mask: %.4f; kept %.3f; sequences with another mask count %.3f", c, k, d);
  cr_expect_eq(c, 1.0f, "every occurrence of a word type shares its mask (%.4f)", c);
  cr_expect(fabsf(k - 0.5f) < 0.08f, "about half the tokens kept: %.3f", k);
  cr_expect(d > 0.3f, "masks differ between sequences: %.3f", d);
  mt_free(&P);
}

/* x: f32[B, T] token ids of an 8-symbol vocabulary. MC dropout with S = 4 samples. */
static const char *mc_src =
  "import variational_dropout_lstm as vd\n"
  "model M {\n"
  "  lm = vd.DropoutLM(8, 6, 12, p_e = 0.2, p_x = 0.3, p_h = 0.3, p_o = 0.3)\n"
  "  fn ids(x: f32[B, T]) -> i32[B, T] = cast(x, i32)\n"
  "}\n"
  "train M {\n"
  "  data = npy(x = \"unused.npy\", x_shape = (10,))\n"
  "  loss = mean(lm.logits(ids(batch.x)))\n"
  "  metric mc_mass = mean(abs(sum(exp(lm.mc_log_probs(ids(batch.x), 4)), axis = 2) - 1))\n"
  "  metric sample_gap = mean(abs(lm.logits(ids(batch.x), true) - lm.logits(ids(batch.x), true)))\n"
  "  metric mc_vs_std = mean(abs(lm.mc_log_probs(ids(batch.x), 4) - log_softmax(lm.logits(ids(batch.x)), axis = -1)))\n"
  "  metric mc_one = mean(abs(lm.mc_log_probs(ids(batch.x), 1)))\n"
  "  optimizer = adam(lr = 1e-3)\n"
  "  batch_size = 16\n"
  "}\n";

Test(variational, mc_dropout_averages_distinct_samples) {
  MtProg P;
  int64_t xs[2] = {16, 10};
  float x[16 * 10];
  for (int i = 0; i < 16 * 10; i++) x[i] = (float)(int)(8 * nnrt_rand_uniform(11, 3, (uint64_t)i));
  mt_build(&P, mc_src, 0, 1, 2, xs, -1, NULL);     /* evaluation mode: MC samples anyway */
  mt_run(&P, x, NULL, 0);
  float mass = mt_metric(&P, "mc_mass"), gap = mt_metric(&P, "sample_gap");
  float vs = mt_metric(&P, "mc_vs_std");
  cr_log_info("MC probabilities sum to 1 within %g; two samples differ by %g; MC vs standard %g", mass, gap, vs);
  cr_expect(mass < 1e-5f, "the MC average is a distribution (off by %g)", mass);
  cr_expect(gap > 1e-3f, "two mask samples give different logits (%g)", gap);
  cr_expect(vs > 1e-4f, "MC differs from the standard approximation (%g)", vs);
  mt_free(&P);
}

/* One step of the cell: x: f32[B, 12] = (input 4, h 4, c 4); masks on x and h. */
static const char *step_src =
  "import variational_dropout_lstm as vd\n"
  "model M {\n"
  "  cell = vd.VariationalLSTMCell(4, 4)\n"
  "  fn loss_of(x: f32[B, 12]) -> f32[] {\n"
  "    let zx = vd.keep_mask(0.3, B, 1, 4, true)[:, 0]\n"
  "    let zh = vd.keep_mask(0.3, B, 1, 4, true)[:, 0]\n"
  "    let (h1, c1) = cell.step(x[:, 0:4] * zx, zh, tanh(x[:, 4:8]), 2 * x[:, 8:12])\n"
  "    return mean(square(h1 - 0.2)) + mean(c1 * c1) + mean(h1 * x[:, 8:12])\n"
  "  }\n"
  "  # the recurrent mask enters as h * z_h: dropped units of h do not reach the gates\n"
  "  fn masked_h_matters(x: f32[B, 12]) -> f32[] {\n"
  "    let z = cast(arange(4) < 2, f32)[None, :] * ones(B, 4)\n"
  "    let (a, _) = cell.step(x[:, 0:4], z, tanh(x[:, 4:8]), x[:, 8:12])\n"
  "    let (b, _) = cell.step(x[:, 0:4], z, tanh(x[:, 4:8]) * z, x[:, 8:12])\n"
  "    return max(abs(a - b))\n"
  "  }\n"
  "}\n"
  "train M {\n"
  "  data = npy(x = \"unused.npy\", x_shape = (12,))\n"
  "  loss = loss_of(batch.x)\n"
  "  metric masked_h_matters = masked_h_matters(batch.x)\n"
  "  optimizer = adam(lr = 1e-3)\n"
  "  batch_size = 8\n"
  "}\n";

Test(variational, gradient_through_one_step) {
  MtProg P;
  int64_t xs[2] = {8, 12};
  float x[8 * 12];
  fill(x, 8 * 12, 4);
  mt_build(&P, step_src, 1, 1, 2, xs, -1, NULL);
  cr_assert_eq(P.p.nparams, 3, "Wx, Wh, b");
  mt_run(&P, x, NULL, 0);
  cr_expect_lt(mt_metric(&P, "masked_h_matters"), 1e-6f, "h * z_h: a dropped unit's value is ignored");
  double worst = mt_gradcheck(&P, x, NULL, 1e-2);   /* same seed and step: the masks repeat */
  cr_log_info("worst relative gradient error %g", worst);
  mt_free(&P);
}

/* Next-symbol prediction on a repeating pattern, variational dropout 0.1 everywhere */
static const char *train_src =
  "import variational_dropout_lstm as vd\n"
  "model M {\n"
  "  lm = vd.DropoutLM(5, 8, 16, p_x = 0.1, p_h = 0.1, p_o = 0.1)\n"
  "}\n"
  "train M {\n"
  "  data = npy(x = \"unused.npy\", y = \"unused_y.npy\", x_shape = (12,), y_shape = (12,))\n"
  "  loss = vd.token_nll(log_softmax(lm.logits(cast(batch.x, i32)), axis = -1), batch.y)\n"
  "  optimizer = adam(lr = 3e-2)\n"
  "  batch_size = 16\n"
  "}\n";

Test(variational, training_lowers_the_loss) {
  MtProg P;
  int64_t xs[2] = {16, 12}, ys[2] = {16, 12};
  mt_build(&P, train_src, 1, 1, 2, xs, 2, ys);
  float x[16 * 12];
  int32_t y[16 * 12];
  double first = 0, last = 0;
  for (int t = 1; t <= 120; t++) {
    for (int i = 0; i < 16; i++) {      /* a sequence 0 1 2 3 4 0 1 ... from a random phase */
      int ph = (int)(5 * nnrt_rand_uniform(5, (uint64_t)t, (uint64_t)i));
      for (int j = 0; j < 12; j++) x[i * 12 + j] = (float)((ph + j) % 5), y[i * 12 + j] = (ph + j + 1) % 5;
    }
    float l = mt_run(&P, x, y, (uint64_t)t);
    cr_assert(isfinite(l));
    mt_adam(&P, 3e-2f, t);
    if (t <= 10) first += l / 10;
    if (t > 110) last += l / 10;
  }
  cr_log_info("loss: first 10 steps %.3f, last 10 steps %.3f", first, last);
  cr_expect(last < 0.5 * first, "the loss falls: %.3f -> %.3f", first, last);
  mt_free(&P);
}
