/* models_util.c — see models_util.h. */
#include "models_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "nnrt.h"

static const char *import_paths[] = {NNC_SOURCE_DIR "/stdlib", NULL};

static void init_params(MtProg *P) {
  P->w = calloc((size_t)P->p.nparams + 1, sizeof *P->w);
  P->n = calloc((size_t)P->p.nparams + 1, sizeof *P->n);
  P->m = calloc((size_t)P->p.nparams + 1, sizeof *P->m);
  P->v = calloc((size_t)P->p.nparams + 1, sizeof *P->v);
  for (int i = 0; i < P->p.nparams; i++) {
    IrNode *nd = ir_producer(P->p.g, P->p.params[i]);
    const IrType *t = ir_type(P->p.g, P->p.params[i]);
    P->n[i] = ir_numel(&t->shape);
    P->w[i] = calloc((size_t)P->n[i] + 1, sizeof(float));
    P->m[i] = calloc((size_t)P->n[i] + 1, sizeof(float));
    P->v[i] = calloc((size_t)P->n[i] + 1, sizeof(float));
    cr_assert_eq(drv_init_param(nd->init ? nd->init : "zeros", P->w[i], t->shape.rank, t->shape.dim, 1,
                                1000 + (uint64_t)i), 0, "initializer %s", nd->init);
    exec_bind(P->x, P->p.params[i], P->w[i]);
  }
}

void mt_build(MtProg *P, const char *src, int training, int interp, int xr, const int64_t *xs, int yr,
              const int64_t *ys) {
  memset(P, 0, sizeof *P);
  LangOptions lo = {.import_paths = import_paths};
  P->L = lang_new(&lo);
  Node *f = lang_parse_string(P->L, "model_test.nn", src, strlen(src));
  cr_assert_not_null(f);
  int errs = lang_check(P->L, f);
  if (errs) diag_render(P->L, stderr, 0);
  cr_assert_eq(errs, 0);
  cr_assert_eq(irg_settings(P->L, f, NULL, &P->s), 0);
  IrgField fields[2] = {{"x", IR_F32, {xr, {0}}}, {"y", IR_I32, {yr < 0 ? 0 : yr, {0}}}};
  for (int i = 0; i < xr; i++) fields[0].shape.dim[i] = xs[i];
  for (int i = 0; i < yr; i++) fields[1].shape.dim[i] = ys[i];
  IrgOptions io = {.training = training, .with_grads = training, .fields = fields, .nfields = yr < 0 ? 1 : 2};
  int rc = irg_build(P->L, &P->s, &io, &P->p);
  if (rc) diag_render(P->L, stderr, 0);
  cr_assert_eq(rc, 0);
  IrVal outs[1 + IRG_MAX_METRICS + 64];
  outs[P->nout++] = P->p.loss;
  for (int i = 0; i < P->p.nmetrics; i++) outs[P->nout++] = P->p.metric[i];
  cr_assert(P->p.nparams <= 64);
  if (training)
    for (int i = 0; i < P->p.nparams; i++) outs[P->nout++] = P->p.grads[i];
  ir_set_outputs(P->p.g, P->nout, outs);
  char msg[512];
  rc = exec_create(P->p.g, interp ? EXEC_INTERP : EXEC_JIT, "model_test", &P->x, msg, sizeof msg);
  cr_assert_eq(rc, 0, "%s", msg);
  init_params(P);
}

float mt_run(MtProg *P, float *x, int32_t *y, uint64_t step) {
  char msg[512];
  exec_bind(P->x, ir_find_leaf(P->p.g, "batch.x"), x);
  if (y) exec_bind(P->x, ir_find_leaf(P->p.g, "batch.y"), y);
  cr_assert_eq(exec_run(P->x, 1, step, msg, sizeof msg), 0, "%s", msg);
  return *(float *)exec_output(P->x, 0);
}

float mt_metric(MtProg *P, const char *name) {
  for (int i = 0; i < P->p.nmetrics; i++)
    if (!strcmp(P->p.metric_name[i], name)) return *(float *)exec_output(P->x, 1 + i);
  cr_assert_fail("no metric %s", name);
  return NAN;
}

double mt_gradcheck_one(MtProg *P, int i, float *x, int32_t *y, double eps) {
  int64_t n = P->n[i];
  float *w = P->w[i], *w0 = malloc(sizeof(float) * n), *v = malloc(sizeof(float) * n);
  memcpy(w0, w, sizeof(float) * n);
  mt_run(P, x, y, 0);
  const float *g = exec_output(P->x, 1 + P->p.nmetrics + i);
  double scale = 0, gv = 0;
  for (int64_t k = 0; k < n; k++) scale += fabs(w0[k]);
  scale = n ? scale / n : 0;
  double e = eps * (scale > 1 ? scale : 1);
  for (int64_t k = 0; k < n; k++) v[k] = nnrt_rand_uniform(7, (uint64_t)i, (uint64_t)k) - 0.5f;
  for (int64_t k = 0; k < n; k++) gv += (double)g[k] * v[k];
  for (int64_t k = 0; k < n; k++) w[k] = (float)(w0[k] + e * v[k]);
  double lp = mt_run(P, x, y, 0);
  for (int64_t k = 0; k < n; k++) w[k] = (float)(w0[k] - e * v[k]);
  double lm = mt_run(P, x, y, 0);
  memcpy(w, w0, sizeof(float) * n);
  double fd = (lp - lm) / (2 * e), err = fabs(fd - gv) / (fabs(fd) + fabs(gv) + 1e-4);
  cr_expect(err < 2e-2, "gradient of %s: analytic %g, finite difference %g", ir_producer(P->p.g, P->p.params[i])->name,
            gv, fd);
  cr_log_info("%s: analytic %.6g, finite difference %.6g (rel %.2g)", ir_producer(P->p.g, P->p.params[i])->name,
              gv, fd, err);
  free(w0);
  free(v);
  return err;
}

double mt_gradcheck(MtProg *P, float *x, int32_t *y, double eps) {
  double worst = 0;
  for (int i = 0; i < P->p.nparams; i++) {
    double e = mt_gradcheck_one(P, i, x, y, eps);
    if (e > worst) worst = e;
  }
  return worst;
}

void mt_adam(MtProg *P, float lr, int64_t t) {
  for (int i = 0; i < P->p.nparams; i++) {
    const float *g = exec_output(P->x, 1 + P->p.nmetrics + i);
    nnrt_adam_step(P->w[i], g, P->m[i], P->v[i], P->n[i], lr, 0.9f, 0.999f, 1e-8f, 0, t, 0);
  }
}

void mt_free(MtProg *P) {
  exec_free(P->x);
  for (int i = 0; i < P->p.nparams; i++) free(P->w[i]), free(P->m[i]), free(P->v[i]);
  free(P->w);
  free(P->m);
  free(P->v);
  free(P->n);
  irg_program_free(&P->p);
  lang_free(P->L);
}
