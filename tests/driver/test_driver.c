/* Tests of lowering (irgen) and the training driver: programs traced from .nn source run
 * the same through the JIT and the reference interpreter, and training lowers the loss. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "exec.h"
#include "irgen.h"

static const char *import_paths[] = {NNC_SOURCE_DIR "/stdlib", NULL};

static Node *parse(Lang **L, const char *src) {
  LangOptions lo = {.import_paths = import_paths};
  *L = lang_new(&lo);
  Node *f = lang_parse_string(*L, "test.nn", src, strlen(src));
  cr_assert_not_null(f);
  int errs = lang_check(*L, f);
  if (errs) diag_render(*L, stderr, 0);
  cr_assert_eq(errs, 0);
  return f;
}

static const char *mlp_src =
  "import nn\n"
  "model M {\n"
  "  l1 = nn.Linear(784, 8)\n"
  "  l2 = nn.Linear(8, 10)\n"
  "  fn logits(x: f32[B, 784]) = l2(tanh(l1(x)))\n"
  "}\n"
  "train M {\n"
  "  data = idx(\"fashion-mnist/train\")\n"
  "  loss = cross_entropy(logits(batch.x), batch.y)\n"
  "  metric accuracy = mean(argmax(logits(batch.x), axis = 1) == batch.y)\n"
  "  optimizer = adam(lr = 1e-2)\n"
  "  batch_size = 4\n"
  "}\n";

/* Traces the MLP's training program for batch 4 and runs it both ways. */
Test(irgen, mlp_jit_equals_interpreter) {
  Lang *L;
  Node *f = parse(&L, mlp_src);
  IrgSettings s;
  cr_assert_eq(irg_settings(L, f, NULL, &s), 0);
  cr_assert_eq(s.batch_size, 4);
  cr_assert_str_eq(s.opt[0].kind, "adam");
  IrgField fields[2] = {{"x", IR_F32, {2, {4, 784}}}, {"y", IR_I32, {1, {4}}}};
  IrgOptions io = {.training = 1, .with_grads = 1, .fields = fields, .nfields = 2};
  IrgProgram p;
  int rc = irg_build(L, &s, &io, &p);
  if (rc) diag_render(L, stderr, 0);
  cr_assert_eq(rc, 0);
  cr_assert_eq(p.nparams, 4);
  IrVal outs[8];
  int no = 0;
  outs[no++] = p.loss;
  outs[no++] = p.metric[0];
  for (int i = 0; i < p.nparams; i++) outs[no++] = p.grads[i];
  ir_set_outputs(p.g, no, outs);
  static float x[4 * 784], w[4][784 * 8];
  int32_t y[4] = {0, 2, 1, 2};
  for (int i = 0; i < 4 * 784; i++) x[i] = sinf(i * 0.7f);
  Exec *ex[2];
  char msg[512];
  static float res[2][8][784 * 8];
  for (int b = 0; b < 2; b++) {
    rc = exec_create(p.g, b ? EXEC_INTERP : EXEC_JIT, "step", &ex[b], msg, sizeof msg);
    cr_assert_eq(rc, 0, "%s", msg);
    exec_bind(ex[b], ir_find_leaf(p.g, "batch.x"), x);
    exec_bind(ex[b], ir_find_leaf(p.g, "batch.y"), y);
    for (int i = 0; i < p.nparams; i++) {
      const IrType *t = ir_type(p.g, p.params[i]);
      int64_t n = ir_numel(&t->shape);
      for (int k = 0; k < n; k++) w[i][k] = cosf(k * 0.3f + i);
      exec_bind(ex[b], p.params[i], w[i]);
    }
    cr_assert_eq(exec_run(ex[b], 1, 0, msg, sizeof msg), 0, "%s", msg);
    for (int o = 0; o < no; o++) {
      int64_t n = ir_numel(&ir_type(p.g, outs[o])->shape);
      memcpy(res[b][o], exec_output(ex[b], o), sizeof(float) * n);
    }
  }
  for (int o = 0; o < no; o++) {
    int64_t n = ir_numel(&ir_type(p.g, outs[o])->shape);
    for (int k = 0; k < n; k++)
      cr_expect(fabsf(res[0][o][k] - res[1][o][k]) <= 1e-4f * (1 + fabsf(res[1][o][k])),
                "output %d[%d]: jit %g vs interpreter %g", o, k, res[0][o][k], res[1][o][k]);
  }
  cr_expect(res[1][0][0] > 0.1f, "cross-entropy of random weights is positive");
  exec_free(ex[0]);
  exec_free(ex[1]);
  irg_program_free(&p);
  lang_free(L);
}

/* Parameters are named by their module path, as saved in safetensors. */
Test(irgen, parameter_names_follow_the_module_path) {
  Lang *L;
  Node *f = parse(&L, mlp_src);
  IrgSettings s;
  cr_assert_eq(irg_settings(L, f, NULL, &s), 0);
  IrgField fields[2] = {{"x", IR_F32, {2, {4, 784}}}, {"y", IR_I32, {1, {4}}}};
  IrgOptions io = {.training = 0, .fields = fields, .nfields = 2};
  IrgProgram p;
  cr_assert_eq(irg_build(L, &s, &io, &p), 0);
  const char *want[] = {"l1.W", "l1.b", "l2.W", "l2.b"};
  for (int i = 0; i < 4; i++) cr_expect_str_eq(ir_producer(p.g, p.params[i])->name, want[i]);
  cr_expect_str_eq(ir_producer(p.g, p.params[0])->init, "glorot");
  irg_program_free(&p);
  lang_free(L);
}

Test(driver, initializers) {
  float w[64];
  int64_t d[2] = {8, 8};
  cr_assert_eq(drv_init_param("orthogonal", w, 2, d, 1, 1), 0);
  for (int i = 0; i < 8; i++)
    for (int j = 0; j < 8; j++) {
      double dot = 0;
      for (int k = 0; k < 8; k++) dot += w[i * 8 + k] * w[j * 8 + k];
      cr_expect(fabs(dot - (i == j)) < 1e-5, "rows %d,%d: %g", i, j, dot);
    }
  cr_assert_eq(drv_init_param("glorot", w, 2, d, 1, 1), 0);
  for (int i = 0; i < 64; i++) cr_expect(fabsf(w[i]) <= sqrtf(6.0f / 16) + 1e-6f);
  cr_assert_eq(drv_init_param("constant(0.5)", w, 2, d, 1, 1), 0);
  cr_expect_eq(w[63], 0.5f);
  cr_expect_eq(drv_init_param("bogus", w, 2, d, 1, 1), -1);
}
