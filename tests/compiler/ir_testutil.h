/* ir_testutil.h — helpers shared by the graph IR tests: f64 inputs with deterministic
 * random data, running the interpreter, and the central-difference gradient check. */
#ifndef NNC_IR_TESTUTIL_H
#define NNC_IR_TESTUTIL_H

#include "ir.h"

#define TC_MAX_IN 16

typedef struct {
  IrGraph *g;
  int n;
  IrVal v[TC_MAX_IN];
  double *data[TC_MAX_IN];
  uint64_t rng;
} TC;

void tc_init(TC *c);
void tc_free(TC *c);
double tc_rand(TC *c); /* uniform in [0, 1) */
/* An f64 input with uniform data in [lo, hi), avoiding |x - kink| < 0.05 when kink_on. */
IrVal tc_in(TC *c, int rank, const int64_t *dims, double lo, double hi);
IrVal tc_in_away(TC *c, int rank, const int64_t *dims, double lo, double hi, double kink);
IrVal tc_in_dt(TC *c, IrDType dt, int rank, const int64_t *dims, double lo, double hi);
IrVal tc_const_int(TC *c, IrDType dt, int rank, const int64_t *dims, const int64_t *vals);
/* A constant with random data (f64). */
IrVal tc_const_rand(TC *c, const IrShape *s);
/* Runs the interpreter with the inputs bound; NULL on failure (msg written). */
IrInterp *tc_run(TC *c, char *msg, size_t cap);
/* Checks d sum(y * R)/d inputs from autodiff against central differences (h, f64).
 * Returns 0 when every element satisfies |a - n| <= atol + rtol |n|; else -1 with msg. */
int tc_gradcheck(TC *c, IrVal y, double h, double atol, double rtol, char *msg, size_t cap);
/* Values of v after a run, copied into out (numel elements). */
int tc_eval(TC *c, IrVal v, double *out, char *msg, size_t cap);

#endif
