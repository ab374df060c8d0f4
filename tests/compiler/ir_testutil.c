/* ir_testutil.c — see ir_testutil.h. The gradient check follows compiler-techniques.md §4.4:
 * central differences in f64, loss = sum(y * R) with a fixed random R so that every output
 * element is weighted differently. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir_testutil.h"

void tc_init(TC *c)
{
  memset(c, 0, sizeof *c);
  c->g = ir_graph_new();
  c->rng = 0x9E3779B97F4A7C15ull;
}

void tc_free(TC *c)
{
  for (int i = 0; i < c->n; i++) free(c->data[i]);
  ir_graph_free(c->g);
}

double tc_rand(TC *c)
{
  c->rng = c->rng * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(c->rng >> 11) * 0x1.0p-53;
}

static IrVal add_input(TC *c, IrDType dt, int rank, const int64_t *dims, double lo, double hi,
                       int away, double kink)
{
  char name[16];
  snprintf(name, sizeof name, "in%d", c->n);
  IrShape s = ir_shape(rank, dims);
  IrVal v = ir_input(c->g, name, dt, s);
  if (v == IR_NONE || c->n >= TC_MAX_IN) return IR_NONE;
  int64_t k = ir_numel(&s);
  double *d = malloc((size_t)(k ? k : 1) * sizeof *d);
  for (int64_t i = 0; i < k; i++) {
    do d[i] = lo + (hi - lo) * tc_rand(c);
    while (away && d[i] > kink - 0.05 && d[i] < kink + 0.05);
    if (dt == IR_F32) d[i] = (double)(float)d[i];
  }
  c->v[c->n] = v;
  c->data[c->n++] = d;
  return v;
}

IrVal tc_in(TC *c, int rank, const int64_t *dims, double lo, double hi)
{
  return add_input(c, IR_F64, rank, dims, lo, hi, 0, 0);
}

IrVal tc_in_away(TC *c, int rank, const int64_t *dims, double lo, double hi, double kink)
{
  return add_input(c, IR_F64, rank, dims, lo, hi, 1, kink);
}

IrVal tc_in_dt(TC *c, IrDType dt, int rank, const int64_t *dims, double lo, double hi)
{
  return add_input(c, dt, rank, dims, lo, hi, 0, 0);
}

IrVal tc_const_int(TC *c, IrDType dt, int rank, const int64_t *dims, const int64_t *vals)
{
  IrShape s = ir_shape(rank, dims);
  int64_t k = ir_numel(&s);
  double d[256];
  for (int64_t i = 0; i < k && i < 256; i++) d[i] = (double)vals[i];
  return ir_const(c->g, dt, s, d);
}

IrVal tc_const_rand(TC *c, const IrShape *s)
{
  int64_t k = ir_numel(s);
  double *d = malloc((size_t)(k ? k : 1) * sizeof *d);
  for (int64_t i = 0; i < k; i++) d[i] = 0.5 + tc_rand(c);
  IrVal v = ir_const(c->g, IR_F64, *s, d);
  free(d);
  return v;
}

IrInterp *tc_run(TC *c, char *msg, size_t cap)
{
  IrInterp *I = ir_interp_new(c->g);
  if (!I) {
    snprintf(msg, cap, "out of memory");
    return NULL;
  }
  ir_interp_set_seed(I, 1234);
  for (int i = 0; i < c->n; i++)
    if (ir_interp_bind_id(I, c->v[i], c->data[i])) break;
  if (ir_interp_error(I)[0] || ir_interp_run(I)) {
    snprintf(msg, cap, "interp: %s", ir_interp_error(I));
    ir_interp_free(I);
    return NULL;
  }
  return I;
}

int tc_eval(TC *c, IrVal v, double *out, char *msg, size_t cap)
{
  IrInterp *I = tc_run(c, msg, cap);
  if (!I) return -1;
  const IrTensor *t = ir_interp_value(I, v);
  memcpy(out, t->data, (size_t)ir_numel(&t->t.shape) * sizeof(double));
  ir_interp_free(I);
  return 0;
}

static int loss_at(TC *c, IrVal loss, double *out, char *msg, size_t cap)
{
  return tc_eval(c, loss, out, msg, cap);
}

int tc_gradcheck(TC *c, IrVal y, double h, double atol, double rtol, char *msg, size_t cap)
{
  IrGraph *g = c->g;
  if (y == IR_NONE) return snprintf(msg, cap, "build: %s", ir_errmsg(g)), -1;
  const IrShape *ys = &ir_type(g, y)->shape;
  int axes[IR_MAX_RANK];
  for (int i = 0; i < ys->rank; i++) axes[i] = i;
  IrVal R = tc_const_rand(c, ys);
  IrVal loss = ir_reduce(g, OP_SUM, ir_binary(g, OP_MUL, y, R), ys->rank, axes, 0);
  IrVal grads[TC_MAX_IN];
  if (loss == IR_NONE || ad_grad(g, loss, c->n, c->v, grads))
    return snprintf(msg, cap, "autodiff: %s", ir_errmsg(g)), -1;
  if (ir_verify(g, "autodiff", msg, cap)) return -1;
  IrInterp *I = tc_run(c, msg, cap);
  if (!I) return -1;
  int rc = 0;
  for (int i = 0; !rc && i < c->n; i++) {
    const IrTensor *ga = ir_interp_value(I, grads[i]);
    int64_t k = ir_numel(&ir_type(g, c->v[i])->shape);
    for (int64_t j = 0; !rc && j < k; j++) {
      double x = c->data[i][j], lp, lm;
      c->data[i][j] = x + h;
      rc = loss_at(c, loss, &lp, msg, cap);
      c->data[i][j] = x - h;
      if (!rc) rc = loss_at(c, loss, &lm, msg, cap);
      c->data[i][j] = x;
      if (rc) break;
      double num = (lp - lm) / (2 * h), an = ga->data[j];
      if (!(fabs(an - num) <= atol + rtol * fabs(num))) {
        snprintf(msg, cap, "input %d element %lld: autodiff %.9g, central difference %.9g", i,
                 (long long)j, an, num);
        rc = -1;
      }
    }
  }
  ir_interp_free(I);
  return rc;
}
