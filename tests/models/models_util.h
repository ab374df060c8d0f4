/* models_util.h — helpers of the model tests: build a train declaration's program from
 * source (parameters initialized as the driver does), run it, check gradients by finite
 * differences, and train a few steps with Adam. */
#ifndef NNC_TEST_MODELS_UTIL_H
#define NNC_TEST_MODELS_UTIL_H

#include <stdint.h>

#include "exec.h"
#include "irgen.h"

typedef struct MtProg {
  Lang *L;
  IrgSettings s;
  IrgProgram p;
  Exec *x;
  int nout;
  float **w;               /* parameter values, p.params order */
  int64_t *n;              /* their element counts */
  float **m, **v;          /* Adam state */
} MtProg;

/* Parses and checks src, traces its train declaration for batch fields x (f32, shape
 * xs[xr]) and y (i32, shape ys[yr], yr = -1: none), and compiles it (interp or JIT).
 * Outputs: loss, metrics, then gradients when training. Aborts the test on failure. */
void mt_build(MtProg *P, const char *src, int training, int interp, int xr, const int64_t *xs, int yr,
              const int64_t *ys);
/* Runs once on the batch (y may be NULL); returns output 0 (the loss). */
float mt_run(MtProg *P, float *x, int32_t *y, uint64_t step);
/* The value of metric `name` after the last run. */
float mt_metric(MtProg *P, const char *name);
/* Checks each parameter's gradient along a random direction against a central difference
 * of the loss (step eps times the parameter scale, at least eps) and expects a relative
 * error below 2e-2; returns the worst relative error. */
double mt_gradcheck(MtProg *P, float *x, int32_t *y, double eps);
/* The same for parameter i alone (a test may need a smaller eps near kinks). */
double mt_gradcheck_one(MtProg *P, int i, float *x, int32_t *y, double eps);
/* Applies an Adam step to every parameter from the last run's gradients. */
void mt_adam(MtProg *P, float lr, int64_t t);
void mt_free(MtProg *P);

#endif
