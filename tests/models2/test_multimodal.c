/* Tests of stdlib/multimodal_word_embedding.nn (entry 29): synonym_auc against a C
 * reference (and its extremes); weight sharing: with E_out = E the gradient reaches the
 * input vectors of words that only ever appear as targets, untied it does not; the image
 * feature reaches the loss in models A and B, not in the text-only model; gradients through
 * one GRU step of model C; a short run lowers the loss. Interpreter, small sizes. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "models_util.h"
#include "nnrt.h"

/* x: f32[1, 160] = a table [40, 4]; rows 5..34 are 10 classes x 3 synonyms */
static const char *auc_src =
  "import multimodal_word_embedding as mm\n"
  "model M {\n"
  "  param w: f32[1] = ones\n"
  "  fn auc(x: f32[B, 160]) -> f32[] = mm.synonym_auc(reshape(x[0], 40, 4), 5, 10, 3)\n"
  "}\n"
  "train M {\n"
  "  data = npy(x = \"unused.npy\", x_shape = (160,))\n"
  "  loss = mean(w) * auc(batch.x)\n"
  "  metric auc = auc(batch.x)\n"
  "  optimizer = adam(lr = 1e-3)\n"
  "  batch_size = 1\n"
  "}\n";

static double cosine(const float *a, const float *b) {
  double ab = 0, aa = 0, bb = 0;
  for (int k = 0; k < 4; k++) ab += a[k] * b[k], aa += a[k] * a[k], bb += b[k] * b[k];
  return ab / sqrt(aa * bb);
}

/* the reference: positives (same class) vs negatives, ties one half */
static double auc_ref(const float *t) {
  double pos[30], neg[435], wins = 0;
  int np = 0, nn = 0;
  for (int i = 0; i < 30; i++)
    for (int j = i + 1; j < 30; j++) {
      double s = cosine(t + 4 * (5 + i), t + 4 * (5 + j));
      if (i / 3 == j / 3) pos[np++] = s;
      else neg[nn++] = s;
    }
  for (int i = 0; i < np; i++)
    for (int j = 0; j < nn; j++) wins += pos[i] > neg[j] ? 1 : pos[i] == neg[j] ? 0.5 : 0;
  return wins / ((double)np * nn);
}

static float run_auc(MtProg *P, float *x) {
  mt_run(P, x, NULL, 0);
  return mt_metric(P, "auc");
}

Test(multimodal, synonym_auc_matches_a_reference) {
  MtProg P;
  int64_t xs[2] = {1, 160};
  float x[160];
  mt_build(&P, auc_src, 0, 1, 2, xs, -1, NULL);
  for (int i = 0; i < 160; i++) x[i] = nnrt_rand_normal(4, 1, (uint64_t)i);
  float a = run_auc(&P, x);
  double r = auc_ref(x);
  cr_log_info("random table: AUC %.5f, reference %.5f", a, r);
  cr_expect(fabs(a - r) < 1e-5, "AUC %.5f vs reference %.5f", a, r);
  for (int i = 0; i < 30; i++)          /* synonyms share one vector: AUC 1 */
    memcpy(x + 4 * (5 + i), x + 4 * (5 + i / 3 * 3), 4 * sizeof(float));
  float one = run_auc(&P, x);
  for (int i = 0; i < 30; i++)          /* same synonym index across classes: nearly one vector */
    for (int k = 0; k < 4; k++) x[4 * (5 + i) + k] = x[4 * (35 + i % 3) + k] + 0.05f * nnrt_rand_normal(4, 2, (uint64_t)(4 * i + k));
  float low = run_auc(&P, x);
  cr_log_info("synonyms identical: %.4f; same index identical: %.4f (reference %.4f)", one, low, auc_ref(x));
  cr_expect_eq(one, 1.0f);
  cr_expect(fabs(low - auc_ref(x)) < 1e-5 && low < 0.4f, "text-like confusion gives a low AUC: %.4f", low);
  mt_free(&P);
}

/* x: f32[B, 28] = ids[3] | targets[3] | v[22 -> feat 22]. Vocabulary 8: ids use words 1..4,
 * targets also 5..7 (never an input). */
#define LM_SRC(fa, fb, tied)                                                                     \
  "import multimodal_word_embedding as mm\n"                                                     \
  "model M {\n"                                                                                  \
  "  lm = mm.MultimodalLM(8, d = 4, hidden = 5, feat = 22, fusion_a = " fa ", fusion_b = " fb ", tied = " tied ")\n" \
  "  fn loss_of(x: f32[B, 28]) -> f32[] = cross_entropy(reshape(lm.logits(cast(x[:, 0:3], i32), x[:, 6:28]), B * 3, 8),\n" \
  "                                                      reshape(cast(x[:, 3:6], i32), B * 3))\n" \
  "  fn v_effect(x: f32[B, 28]) -> f32[] =\n"                                                   \
  "    max(abs(lm.logits(cast(x[:, 0:3], i32), x[:, 6:28]) - lm.logits(cast(x[:, 0:3], i32), 2 * x[:, 6:28])))\n" \
  "}\n"                                                                                          \
  "train M {\n"                                                                                  \
  "  data = npy(x = \"unused.npy\", x_shape = (28,))\n"                                          \
  "  loss = loss_of(batch.x)\n"                                                                  \
  "  metric v_effect = v_effect(batch.x)\n"                                                      \
  "  optimizer = adam(lr = 1e-3)\n"                                                              \
  "  batch_size = 6\n"                                                                           \
  "}\n"

static void captions(float *x, int b, uint64_t stream) {
  for (int i = 0; i < b; i++) {
    float *r = x + 28 * i;
    int cls = (int)(3 * nnrt_rand_uniform(3, stream, (uint64_t)i));
    r[0] = 1, r[1] = (float)(2 + (i % 3)), r[2] = 4;           /* inputs: words 1..4 */
    r[3] = (float)(2 + (i % 3)), r[4] = 4, r[5] = (float)(5 + cls);   /* targets: 5..7 = the class */
    for (int k = 0; k < 22; k++) r[6 + k] = (k % 3 == cls) + 0.1f * nnrt_rand_normal(3, stream + 7, (uint64_t)(i * 22 + k));
  }
}

/* the largest |gradient| of rows 5..7 of lm.emb.table (words that never are inputs) */
static float target_row_grad(MtProg *P) {
  IrVal e = ir_find_leaf(P->p.g, "lm.emb.table");
  for (int i = 0; i < P->p.nparams; i++)
    if (P->p.params[i] == e) {
      const float *g = exec_output(P->x, 1 + P->p.nmetrics + i);
      float m = 0;
      for (int k = 5 * 4; k < 8 * 4; k++) m = fmaxf(m, fabsf(g[k]));
      return m;
    }
  cr_assert_fail("no parameter lm.emb.table");
  return 0;
}

Test(multimodal, tying_sends_output_gradients_to_the_input_embedding) {
  MtProg P;
  int64_t xs[2] = {6, 28};
  float x[6 * 28];
  captions(x, 6, 1);
  mt_build(&P, LM_SRC("false", "true", "true"), 1, 1, 2, xs, -1, NULL);
  mt_run(&P, x, NULL, 1);
  float tied = target_row_grad(&P), vc = mt_metric(&P, "v_effect");
  mt_free(&P);
  mt_build(&P, LM_SRC("false", "true", "false"), 1, 1, 2, xs, -1, NULL);
  mt_run(&P, x, NULL, 1);
  float untied = target_row_grad(&P);
  mt_free(&P);
  mt_build(&P, LM_SRC("true", "false", "false"), 1, 1, 2, xs, -1, NULL);
  mt_run(&P, x, NULL, 1);
  float va = mt_metric(&P, "v_effect");
  mt_free(&P);
  mt_build(&P, LM_SRC("false", "false", "false"), 1, 1, 2, xs, -1, NULL);
  mt_run(&P, x, NULL, 1);
  float vt = mt_metric(&P, "v_effect");
  mt_free(&P);
  cr_log_info("|dL/dE| of target-only words: tied %g, untied %g; image effect A %g, C %g, text %g", tied, untied, va,
              vc, vt);
  cr_expect(tied > 1e-4f, "tied: output gradients reach E (%g)", tied);
  cr_expect_eq(untied, 0.0f, "untied: E sees only inputs (%g)", untied);
  cr_expect(va > 1e-4f && vc > 1e-4f, "the image changes the predictions of A and C");
  cr_expect_eq(vt, 0.0f, "text-only ignores the image (%g)", vt);
}

Test(multimodal, gradient_through_one_gru_step) {
  MtProg P;
  int64_t xs[2] = {6, 28};
  float x[6 * 28];
  captions(x, 6, 2);
  mt_build(&P, LM_SRC("false", "true", "true"), 1, 1, 2, xs, -1, NULL);
  double worst = mt_gradcheck(&P, x, NULL, 1e-2);
  cr_log_info("worst relative gradient error %g", worst);
  mt_free(&P);
}

Test(multimodal, training_lowers_the_loss) {
  MtProg P;
  int64_t xs[2] = {16, 28};
  float x[16 * 28];
  mt_build(&P, LM_SRC("false", "true", "true"), 1, 1, 2, xs, -1, NULL);
  double first = 0, last = 0;
  for (int t = 1; t <= 150; t++) {
    captions(x, 16, 100 + (uint64_t)t);
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
