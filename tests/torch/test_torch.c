/* test_torch.c — nnc agrees with PyTorch: each fixture of tests/fixtures/torch (written by
 * scripts/torch_fixtures.py) is a tiny .nn case, a model Case wrapping one stdlib layer
 * (Case.out) or built-in loss (Case.loss), with PyTorch's arguments, weights, result and
 * gradients. The function is traced (torch_trace.c), the vector-Jacobian product with the
 * fixture's R (layers: the gradient of sum(out * R)) or the loss's gradient is appended
 * (autodiff), and the graph runs through the JIT: the result and every gradient must match
 * PyTorch's within 1e-4, as a norm-wise relative error max|a - b| / max|b|. The
 * interpreter runs the same graph, and its error is printed next to the JIT's, to tell
 * code generation bugs from semantic ones.
 *
 * fashion_mlp: the driver's training program (the train declaration traced with
 * gradients, simplified and CSE'd, JIT-compiled), fed the first 10 batches of
 * Fashion-MNIST in file order from PyTorch's initial weights, updated by libnnrt's Adam:
 * each step's loss must match PyTorch's within 1e-4 relative. (The driver itself always
 * shuffles batches, so its loop is not used.)
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "driver_int.h"
#include "exec.h"
#include "irgen.h"
#include "nnrt.h"
#include "torch_trace.h"

#define FIXTURES NNC_SOURCE_DIR "/tests/fixtures/torch/"
#define TOL 1e-4
#define MAX_WRT 32

static const char *import_paths[] = {NNC_SOURCE_DIR "/stdlib", NULL};

/* One case: its parsed source, the fixture and the traced program. */
typedef struct TorchCase {
  const char *name;
  Lang *L;
  nnrt_ctx *ctx;
  nnrt_weights *w;
  Node *file;
  IrgSettings s;
  IrgProgram p;
} TorchCase;

static void case_open(TorchCase *c, const char *name) {
  char path[512];
  memset(c, 0, sizeof *c);
  c->name = name;
  c->ctx = nnrt_ctx_create(NULL, NULL);
  cr_assert_not_null(c->ctx);
  snprintf(path, sizeof path, FIXTURES "%s.safetensors", name);
  cr_assert_eq(nnrt_weights_load(c->ctx, path, &c->w), 0, "%s", nnrt_errmsg(c->ctx));
  LangOptions lo = {.import_paths = import_paths};
  c->L = lang_new(&lo);
  snprintf(path, sizeof path, FIXTURES "%s.nn", name);
  Node *f = lang_parse_file(c->L, path);
  cr_assert_not_null(f, "cannot read %s", path);
  int errs = lang_check(c->L, f);
  if (errs) diag_render(c->L, stderr, 0);
  cr_assert_eq(errs, 0);
  c->file = f;
}

/* Zero buffers for leaves PyTorch has no counterpart of (unused params; buffers such as
 * BatchNorm's running statistics, which a training-mode forward does not read). */
static void *zero_bufs[64];
static int nzero;

static void case_close(TorchCase *c) {
  for (int i = 0; i < nzero; i++) free(zero_bufs[i]);
  nzero = 0;
  irg_program_free(&c->p);
  lang_free(c->L);
  nnrt_weights_free(c->w);
  nnrt_ctx_free(c->ctx);
}

static const nnrt_tensor *fixture(const TorchCase *c, const char *name) {
  const nnrt_tensor *t = nnrt_weights_get(c->w, name);
  cr_assert_not_null(t, "%s: fixture has no tensor '%s'", c->name, name);
  return t;
}

/* Norm-wise relative error max|a - b| / max|b| (max|b| floored at 1e-30). */
static double rel_err(const float *a, const float *b, int64_t n) {
  double d = 0, m = 0;
  for (int64_t i = 0; i < n; i++) {
    double e = fabs((double)a[i] - b[i]);
    d = e > d || isnan(e) ? e : d;
    m = fmax(m, fabs((double)b[i]));
  }
  return d / fmax(m, 1e-30);
}

/* Does any node of g read v? (Linear(bias = false) declares a b it never reads.) */
static int has_user(const IrGraph *g, IrVal v) {
  for (int i = 0; i < g->nnodes; i++)
    for (int k = 0; k < g->nodes[i]->nin; k++)
      if (g->nodes[i]->in[k] == v) return 1;
  return 0;
}

/* Binds every leaf of the graph to the fixture tensor of the same name. */
static void bind_leaves(TorchCase *c, Exec *x) {
  IrOp kinds[3] = {OP_INPUT, OP_PARAM, OP_STATE};
  for (int k = 0; k < 3; k++) {
    IrVal v[256];
    int n = ir_leaves(c->p.g, kinds[k], v, 256);
    cr_assert(n <= 256);
    for (int i = 0; i < n; i++) {
      const char *nm = ir_producer(c->p.g, v[i])->name;
      if (!nnrt_weights_get(c->w, nm) && (kinds[k] == OP_STATE || !has_user(c->p.g, v[i])) && nzero < 64) {
        const IrType *lt = ir_type(c->p.g, v[i]);
        zero_bufs[nzero] = calloc(ir_numel(&lt->shape) + 1, ir_dtype_size(lt->dtype));
        cr_assert_eq(exec_bind(x, v[i], zero_bufs[nzero++]), 0);
        continue;
      }
      const nnrt_tensor *t = fixture(c, nm);
      cr_assert_eq(nnrt_tensor_numel(t), ir_numel(&ir_type(c->p.g, v[i])->shape), "%s: '%s' has another shape",
                   c->name, nm);
      cr_assert_eq(exec_bind(x, v[i], nnrt_tensor_data(t)), 0);
    }
  }
}

/* Runs the case's graph (outputs: the result, then the gradients of wrt_name[]) on
 * backend b; errs[0] = the result's error, errs[1] = the worst gradient's, named in worst. */
static void run_backend(TorchCase *c, ExecBackend b, int nwrt, const char *const *wrt_name, double *errs,
                        char *worst, size_t cap) {
  Exec *x = NULL;
  char msg[512];
  cr_assert_eq(exec_create(c->p.g, b, c->name, &x, msg, sizeof msg), 0, "%s: %s", c->name, msg);
  bind_leaves(c, x);
  cr_assert_eq(exec_run(x, 1, 0, msg, sizeof msg), 0, "%s: %s", c->name, msg);
  errs[0] = errs[1] = 0;
  snprintf(worst, cap, "-");
  for (int i = 0; i <= nwrt; i++) {
    char key[300];
    snprintf(key, sizeof key, i ? "grad.%s" : "out", i ? wrt_name[i - 1] : "");
    const nnrt_tensor *want = fixture(c, key);
    int64_t n = ir_numel(&ir_type(c->p.g, c->p.g->outs[i])->shape);
    cr_assert_eq(n, nnrt_tensor_numel(want), "%s: %s has %lld elements, PyTorch %lld", c->name, key, (long long)n,
                 (long long)nnrt_tensor_numel(want));
    double e = rel_err(exec_output(x, i), nnrt_tensor_data(want), n);
    if (i == 0) {
      errs[0] = e;
    } else if (!(e <= errs[1])) {
      errs[1] = e;
      snprintf(worst, cap, "%s", wrt_name[i - 1]);
    }
  }
  exec_free(x);
}

/* Traces, differentiates and runs one fixture; the JIT's errors must be within TOL. */
static void check_case(const char *name) {
  TorchCase c;
  case_open(&c, name);
  const char *fn = nnrt_weights_metadata(c.w, "fn");
  cr_assert_not_null(fn);
  char msg[512];
  IrVal out;
  c.p.g = torch_trace(c.L, c.file, "Case", fn, c.w, &out, msg, sizeof msg);
  if (!c.p.g) diag_render(c.L, stderr, 0);
  cr_assert_not_null(c.p.g, "%s: %s", name, msg);
  /* differentiate w.r.t. each leaf the fixture has a gradient for */
  const char *wrt_name[MAX_WRT];
  IrVal wrt[MAX_WRT], grads[MAX_WRT];
  int nwrt = 0;
  for (int i = 0; i < nnrt_weights_count(c.w); i++) {
    const char *nm = nnrt_weights_name(c.w, i);
    if (strncmp(nm, "grad.", 5)) continue;
    cr_assert(nwrt < MAX_WRT);
    wrt_name[nwrt] = nm + 5;
    wrt[nwrt] = ir_find_leaf(c.p.g, wrt_name[nwrt]);
    cr_assert_neq(wrt[nwrt], IR_NONE, "%s: no leaf '%s' in nnc's graph", name, wrt_name[nwrt]);
    nwrt++;
  }
  /* every parameter of nnc's model is named as in the PyTorch fixture */
  IrVal pv[64];
  int np = ir_leaves(c.p.g, OP_PARAM, pv, 64);
  for (int i = 0; i < np && i < 64; i++) {
    const char *pn = ir_producer(c.p.g, pv[i])->name;
    if (has_user(c.p.g, pv[i]))
      cr_expect_not_null(nnrt_weights_get(c.w, pn), "%s: nnc param '%s' is not in the fixture", name, pn);
  }
  IrVal r = IR_NONE;
  if (nnrt_weights_get(c.w, "R")) r = ir_input(c.p.g, "R", IR_F32, ir_type(c.p.g, out)->shape);
  cr_assert_eq(ad_vjp(c.p.g, 1, &out, &r, nwrt, wrt, grads), 0, "%s: %s", name, ir_errmsg(c.p.g));
  IrVal outs[MAX_WRT + 1];
  outs[0] = out;
  memcpy(outs + 1, grads, sizeof(IrVal) * nwrt);
  ir_set_outputs(c.p.g, nwrt + 1, outs);
  double ej[2], ei[2];
  char wj[300], wi[300];
  run_backend(&c, EXEC_INTERP, nwrt, wrt_name, ei, wi, sizeof wi);
  run_backend(&c, EXEC_JIT, nwrt, wrt_name, ej, wj, sizeof wj);
  fprintf(stderr, "torch-agreement %-18s jit fwd %.2e bwd %.2e (%s) | interp fwd %.2e bwd %.2e (%s)\n", name, ej[0],
          ej[1], wj, ei[0], ei[1], wi);
  cr_expect(ej[0] <= TOL, "%s: forward differs from PyTorch: relative error %.3g (interpreter %.3g)", name, ej[0],
            ei[0]);
  cr_expect(ej[1] <= TOL, "%s: gradient of %s differs from PyTorch: relative error %.3g (interpreter %.3g)", name,
            wj, ej[1], ei[1]);
  case_close(&c);
}

#define CASE(n) \
  Test(torch, n) { check_case(#n); }

CASE(linear)
CASE(linear_nobias)
CASE(embedding)
CASE(conv1d)
CASE(conv2d)
CASE(conv2d_k5)
CASE(conv_transpose2d)
CASE(maxpool2d)
CASE(maxpool2d_overlap)
CASE(avgpool2d)
CASE(avgpool2d_overlap)
CASE(batchnorm)
CASE(batchnorm2d)
CASE(layernorm)
CASE(rnncell)
CASE(lstmcell)
CASE(grucell)
CASE(lstm)
CASE(gru)
CASE(rnn)
CASE(bilstm)
CASE(bigru)
CASE(batchnorm_formula)
CASE(cross_entropy)
CASE(nll)
CASE(bce_with_logits)
CASE(mse)
CASE(kl_categorical)
CASE(kl_each)

/* The error measure itself: equal arrays give 0, a 1% change gives 1e-2. */
Test(torch, rel_err_measures) {
  float a[3] = {1, -2, 4}, b[3] = {1, -2, 4};
  cr_expect_eq(rel_err(a, b, 3), 0.0);
  a[2] = 4.04f;
  cr_expect(fabs(rel_err(a, b, 3) - 0.01) < 1e-6);
  a[0] = NAN;
  cr_expect(!(rel_err(a, b, 3) <= TOL), "NaN is an error");
}

/* ------------------------------------------------------------------ the MLP */

/* Builds the training program as the driver does: loss then one gradient per param,
 * simplified and CSE'd, then the params found again by name. */
static void build_train_step(TorchCase *c, const Data *d) {
  IrgField f[2];
  for (int i = 0; i < d->nfields; i++) {
    f[i] = d->fields[i];
    f[i].shape.dim[0] = c->s.batch_size;
  }
  IrgOptions io = {.training = 1, .with_grads = 1, .fields = f, .nfields = d->nfields};
  int rc = irg_build(c->L, &c->s, &io, &c->p);
  if (rc) diag_render(c->L, stderr, 0);
  cr_assert_eq(rc, 0);
  IrVal outs[1 + 16];
  cr_assert(c->p.nparams <= 16);
  outs[0] = c->p.loss;
  memcpy(outs + 1, c->p.grads, sizeof(IrVal) * c->p.nparams);
  ir_set_outputs(c->p.g, 1 + c->p.nparams, outs);
  const char *names[16];
  for (int i = 0; i < c->p.nparams; i++) {
    const char *nm = ir_producer(c->p.g, c->p.params[i])->name;
    names[i] = lang_intern(c->L, nm, strlen(nm));
  }
  IrPassOpts po = {0};
  cr_assert_eq(ir_simplify(c->p.g, &po) || ir_cse(c->p.g), 0, "%s", ir_errmsg(c->p.g));
  for (int i = 0; i < c->p.nparams; i++) c->p.params[i] = ir_find_leaf(c->p.g, names[i]);
}

Test(torch, fashion_mlp_adam_steps, .timeout = 60) {
  struct stat st;
  if (stat("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", &st))
    cr_skip_test("Fashion-MNIST is not installed (dataset-fashion-mnist)");
  TorchCase c;
  case_open(&c, "fashion_mlp");
  int rc = irg_settings(c.L, c.file, NULL, &c.s);
  if (rc) diag_render(c.L, stderr, 0);
  cr_assert_eq(rc, 0);
  Data train = {0}, held = {0};
  char msg[1024];
  cr_assert_eq(drv_data_load(&train, &held, &c.s, c.ctx, msg, sizeof msg), 0, "%s", msg);
  build_train_step(&c, &train);
  Exec *x = NULL;
  cr_assert_eq(exec_create(c.p.g, EXEC_JIT, "train_step", &x, msg, sizeof msg), 0, "%s", msg);
  int np = c.p.nparams;
  float *w[16], *m[16], *v[16];
  int64_t n[16];
  for (int i = 0; i < np; i++) {
    const char *nm = ir_producer(c.p.g, c.p.params[i])->name;
    const nnrt_tensor *t = fixture(&c, nm);
    n[i] = ir_numel(&ir_type(c.p.g, c.p.params[i])->shape);
    cr_assert_eq(n[i], nnrt_tensor_numel(t), "%s", nm);
    w[i] = malloc(sizeof(float) * n[i]);
    m[i] = calloc(n[i], sizeof(float));
    v[i] = calloc(n[i], sizeof(float));
    cr_assert(w[i] && m[i] && v[i]);
    memcpy(w[i], nnrt_tensor_data(t), sizeof(float) * n[i]);
    exec_bind(x, c.p.params[i], w[i]);
  }
  double lr = 0;
  cr_assert(irg_obj_num(&c.s.opt[0], "lr", 0, &lr));
  const nnrt_tensor *want = fixture(&c, "loss");
  const float *wl = nnrt_tensor_data(want);
  int64_t steps = nnrt_tensor_numel(want), bs = c.s.batch_size;
  int64_t row = nnrt_tensor_numel(train.x) / nnrt_tensor_dim(train.x, 0);
  cr_assert(nnrt_tensor_dim(train.x, 0) >= steps * bs);
  IrVal lx = ir_find_leaf(c.p.g, "batch.x"), ly = ir_find_leaf(c.p.g, "batch.y");
  double worst = 0;
  for (int64_t t = 0; t < steps; t++) {
    exec_bind(x, lx, (float *)nnrt_tensor_data(train.x) + t * bs * row);
    exec_bind(x, ly, (int32_t *)nnrt_tensor_data(train.y) + t * bs);
    cr_assert_eq(exec_run(x, 1, (uint64_t)t, msg, sizeof msg), 0, "%s", msg);
    double loss = *(float *)exec_output(x, 0), e = fabs(loss - wl[t]) / fabs(wl[t]);
    fprintf(stderr, "torch-agreement fashion_mlp step %2lld: nnc %.6f torch %.6f rel %.2e\n", (long long)t + 1, loss,
            wl[t], e);
    cr_expect(e <= TOL, "step %lld: nnc loss %.7f, PyTorch %.7f (relative error %.3g)", (long long)t + 1, loss, wl[t],
              e);
    worst = fmax(worst, e);
    for (int i = 0; i < np; i++)
      nnrt_adam_step(w[i], exec_output(x, 1 + i), m[i], v[i], n[i], (float)lr, 0.9f, 0.999f, 1e-8f, 0, t + 1, 0);
  }
  fprintf(stderr, "torch-agreement fashion_mlp worst step loss rel error %.2e\n", worst);
  for (int i = 0; i < np; i++) free(w[i]), free(m[i]), free(v[i]);
  exec_free(x);
  drv_data_free(&train);
  drv_data_free(&held);
  case_close(&c);
}
