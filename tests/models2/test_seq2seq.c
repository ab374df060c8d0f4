/* Tests of stdlib/seq2seq_grounding.nn (entry 28): the scoring (forward kinematics, the
 * ordered touch list, the stop at the first end flag), free running equals teacher forcing
 * on the model's own outputs, gradients through the encoder and one decoder step, a short
 * run lowers the loss. Interpreter, small sizes. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "models_util.h"
#include "nnrt.h"

/* elbow-up inverse kinematics of the 2-link arm (links 0.6), as in the generator */
static void ik(double px, double py, float *q) {
  double q2 = -acos((px * px + py * py - 0.72) / 0.72);
  q[0] = (float)(atan2(py, px) - atan2(0.6 * sin(q2), 0.6 + 0.6 * cos(q2))), q[1] = (float)q2;
}

static const double slot_xy[3][2] = {{-0.5, 0.8}, {0.0, 0.9}, {0.5, 0.8}};

/* A trajectory of T = 12 steps touching slots (1-based) s[0..n-1], 3 steps each (home,
 * slot, home), then an end step; returns its length. q [12][2], end [12], m [12]. */
static int traj(const int *s, int n, float *q, float *end, float *m) {
  float home[2], at[2];
  ik(0.0, 0.3, home);
  memset(end, 0, 12 * sizeof(float)), memset(m, 0, 12 * sizeof(float));
  int t = 0;
  for (int k = 0; k < n; k++) {
    ik(slot_xy[s[k] - 1][0], slot_xy[s[k] - 1][1], at);
    memcpy(q + 2 * t++, home, sizeof home);
    memcpy(q + 2 * t++, at, sizeof at);
    memcpy(q + 2 * t++, home, sizeof home);
  }
  for (; t < 12; t++) memcpy(q + 2 * t, home, sizeof home);
  t = 3 * n;
  end[t] = 1;
  for (int i = 0; i <= t; i++) m[i] = 1;
  return t + 1;
}

/* x: f32[B, 12 * 7] = prediction q^ [12][2] | end logits [12] | target q [12][2] | mask [12] */
static const char *score_src =
  "import seq2seq_grounding as sg\n"
  "model M {\n"
  "  param w: f32[1] = ones\n"
  "  fn em(x: f32[B, 84]) -> f32[B] = sg.exact_match(reshape(x[:, 0:24], B, 12, 2), x[:, 24:36],\n"
  "                                                  reshape(x[:, 36:60], B, 12, 2), x[:, 60:72])\n"
  "}\n"
  "train M {\n"
  "  data = npy(x = \"unused.npy\", x_shape = (84,))\n"
  "  loss = mean(w * em(batch.x))\n"
  "  metric em0 = em(batch.x)[0]\n"
  "  metric em1 = em(batch.x)[1]\n"
  "  metric em2 = em(batch.x)[2]\n"
  "  metric em3 = em(batch.x)[3]\n"
  "  metric em4 = em(batch.x)[4]\n"
  "  optimizer = adam(lr = 1e-3)\n"
  "  batch_size = 5\n"
  "}\n";

static void row(float *r, const int *ps, int pn, int stop_at, const int *ts, int tn) {
  float end[12], m[12];
  traj(ps, pn, r, end, m);                         /* prediction */
  for (int t = 0; t < 12; t++) r[24 + t] = t == stop_at ? 3.0f : -3.0f;
  traj(ts, tn, r + 36, end, r + 60);               /* target */
}

Test(seq2seq, touch_lists_are_scored_exactly) {
  MtProg P;
  int64_t xs[2] = {5, 84};
  float x[5 * 84] = {0};
  int lr[2] = {1, 3}, rl[2] = {3, 1}, l[1] = {1}, lcr[3] = {1, 2, 3};
  row(x + 0 * 84, lr, 2, 6, lr, 2);     /* the same touches: match */
  row(x + 1 * 84, rl, 2, 6, lr, 2);     /* the order differs */
  row(x + 2 * 84, l, 1, 3, lr, 2);      /* one touch missing */
  row(x + 3 * 84, lcr, 3, 3, lcr, 3);   /* stops (end flag) before touch 2 */
  row(x + 4 * 84, lcr, 3, 9, lcr, 3);   /* three touches: match */
  mt_build(&P, score_src, 0, 1, 2, xs, -1, NULL);
  mt_run(&P, x, NULL, 0);
  float e[5] = {mt_metric(&P, "em0"), mt_metric(&P, "em1"), mt_metric(&P, "em2"), mt_metric(&P, "em3"),
                mt_metric(&P, "em4")};
  cr_log_info("exact match: same %g, order %g, missing %g, early stop %g, three %g", e[0], e[1], e[2], e[3], e[4]);
  cr_expect_eq(e[0], 1.0f);
  cr_expect_eq(e[1], 0.0f, "the touch order counts");
  cr_expect_eq(e[2], 0.0f, "a missing touch counts");
  cr_expect_eq(e[3], 0.0f, "the prediction ends at its first end flag");
  cr_expect_eq(e[4], 1.0f);
  mt_free(&P);
}

/* x: f32[B, 36] = ids[2] | scene[12] | q0[2] | q[5][2] | end[5] | mask[5] */
static const char *model_src =
  "import seq2seq_grounding as sg\n"
  "model M {\n"
  "  enc = sg.Seq2SeqEncoder(4, embed = 3, hidden = 5)\n"
  "  dec = sg.GroundingDecoder(hidden = 5)\n"
  "  fn q(x: f32[B, 36]) -> f32[B, 5, 2] = reshape(x[:, 16:26], B, 5, 2)\n"
  "  fn loss_of(x: f32[B, 36]) -> f32[] {\n"
  "    let (h, c) = enc(cast(x[:, 0:2], i32), x[:, 2:14])\n"
  "    let qprev = concat((x[:, None, 14:16], q(x)[:, :-1]), axis = 1)\n"
  "    let (qh, e) = dec.teacher(h, c, x[:, 2:14], qprev)\n"
  "    return sg.trajectory_loss(qh, e, q(x), x[:, 26:31], x[:, 31:36])\n"
  "  }\n"
  "  # free running = teacher forcing fed with the free run's own outputs\n"
  "  fn free_vs_teacher(x: f32[B, 36]) -> f32[] {\n"
  "    let (h, c) = enc(cast(x[:, 0:2], i32), x[:, 2:14])\n"
  "    let (qf, ef) = dec.free(h, c, x[:, 2:14], x[:, 14:16], x[:, 26:31, None])\n"
  "    let (qt, et) = dec.teacher(h, c, x[:, 2:14], concat((x[:, None, 14:16], qf[:, :-1]), axis = 1))\n"
  "    return max(abs(qf - qt)) + max(abs(ef - et))\n"
  "  }\n"
  "}\n"
  "train M {\n"
  "  data = npy(x = \"unused.npy\", x_shape = (36,))\n"
  "  loss = loss_of(batch.x)\n"
  "  metric free_vs_teacher = free_vs_teacher(batch.x)\n"
  "  optimizer = adam(lr = 1e-3)\n"
  "  batch_size = 8\n"
  "}\n";

/* token k in {1, 2, 3} and a one-hot scene; target q_t = (0.2 k t, -0.1 t), end at t = 4 */
static void task(float *x, int b, uint64_t stream) {
  memset(x, 0, sizeof(float) * 36 * (size_t)b);
  for (int i = 0; i < b; i++) {
    float *r = x + 36 * i;
    int k = 1 + (int)(3 * nnrt_rand_uniform(9, stream, (uint64_t)i));
    r[0] = (float)(1 + (int)(3 * nnrt_rand_uniform(9, stream + 1000, (uint64_t)i))), r[1] = (float)k;
    r[2 + 4 * (i % 3) + (int)(4 * nnrt_rand_uniform(8, stream, (uint64_t)i))] = 1;
    for (int t = 0; t < 5; t++) r[16 + 2 * t] = 0.2f * k * (t + 1), r[17 + 2 * t] = -0.1f * (t + 1), r[31 + t] = 1;
    r[26 + 4] = 1;
  }
}

Test(seq2seq, free_running_matches_teacher_forcing_on_own_outputs) {
  MtProg P;
  int64_t xs[2] = {8, 36};
  float x[8 * 36];
  task(x, 8, 1);
  mt_build(&P, model_src, 0, 1, 2, xs, -1, NULL);
  mt_run(&P, x, NULL, 0);
  float d = mt_metric(&P, "free_vs_teacher");
  cr_log_info("free running vs teacher forcing on its outputs: %g", d);
  cr_expect(d < 1e-5f, "off by %g", d);
  mt_free(&P);
}

Test(seq2seq, gradient_through_encoder_and_decoder) {
  MtProg P;
  int64_t xs[2] = {8, 36};
  float x[8 * 36];
  task(x, 8, 2);
  mt_build(&P, model_src, 1, 1, 2, xs, -1, NULL);
  cr_assert_eq(P.p.nparams, 9, "emb, encoder cell (3), decoder cell (3), head (2)");
  double worst = mt_gradcheck(&P, x, NULL, 1e-2);
  cr_log_info("worst relative gradient error %g", worst);
  mt_free(&P);
}

Test(seq2seq, training_lowers_the_loss) {
  MtProg P;
  int64_t xs[2] = {16, 36};
  float x[16 * 36];
  mt_build(&P, model_src, 1, 1, 2, xs, -1, NULL);
  double first = 0, last = 0;
  for (int t = 1; t <= 150; t++) {
    task(x, 16, 100 + (uint64_t)t);
    float l = mt_run(&P, x, NULL, (uint64_t)t);
    cr_assert(isfinite(l));
    mt_adam(&P, 2e-2f, t);
    if (t <= 10) first += l / 10;
    if (t > 140) last += l / 10;
  }
  cr_log_info("loss: first 10 steps %.3f, last 10 steps %.3f", first, last);
  cr_expect(last < 0.3 * first, "the loss falls: %.3f -> %.3f", first, last);
  mt_free(&P);
}
