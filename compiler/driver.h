/* driver.h — `nnc FILE.nn`: run a file's training declaration (driver.c, data.c's
 * sources in driver_data.c). */
#ifndef NNC_DRIVER_H
#define NNC_DRIVER_H

#include <stdint.h>
#include <stdio.h>

#include "lang.h"

typedef struct DrvOptions {
  int64_t seed;           /* -1: the declaration's (default 1) */
  int64_t epochs;         /* -1: the declaration's */
  int64_t max_steps;      /* > 0: stop after this many steps (tests, smoke runs) */
  int threads;            /* 0: OpenMP's default */
  int interp;             /* run the reference interpreter instead of the JIT */
  const char *save;       /* weights out (safetensors); NULL: <stem>.safetensors */
  const char *load;       /* weights in, before training */
  const char *metrics;    /* CSV path; NULL: <stem>.metrics.csv */
  int no_save;
  const char *checkpoint; /* checkpoint path; NULL: the declaration's, else <stem>.ckpt */
  int resume;             /* continue from the checkpoint */
  int check_numerics;     /* find the first op that made a NaN or Inf (no graph passes) */
  const char *dump;       /* "graph" or "kernels": print the training step, do not train */
  int no_passes;           /* -fno-opt: skip simplify and CSE (to compare) */
  uint64_t memory_budget; /* --memory-budget (bytes); 0: the declaration's memory_budget */
  const char *bptt_policy;/* --bptt-policy: NULL = the cheapest that fits the budget */
  int dump_bptt;          /* --dump=bptt: each scan's plan, then what the executor measured */
  int time_passes;        /* --time-passes: CPU seconds per compile stage of each function */
  FILE *out;              /* progress and results (stdout) */
  FILE *err;              /* diagnostics (stderr) */
} DrvOptions;

/* Runs the training declaration of a checked file. Returns 0, or 1 after printing why
 * (run-time errors on o->err; errors at the user's source are left as diagnostics in L). */
int drv_train(Lang *L, Node *file, const char *path, const DrvOptions *o);

/* Fills a parameter from its initializer description ("glorot", "normal(0,0.01)", ...)
 * for shape dims[rank]. Returns 0, or -1 for an unknown initializer. */
int drv_init_param(const char *desc, float *w, int rank, const int64_t *dims, uint64_t seed,
                   uint64_t stream);

/* Optimizers (optstep.c): is `kind` one nnc applies (sgd, momentum, adam, adamw, rmsprop)?
 * drv_opt_apply updates n weights w from gradients g at step t (1-based) with learning
 * rate lr (the schedule's value now), the optimizer's state m and v (zeroed at the
 * start), and the other settings of the train declaration's object o. */
struct IrgObj;
int drv_opt_known(const char *kind);
void drv_opt_apply(const struct IrgObj *o, double lr, float *w, const float *g, float *m, float *v,
                   int64_t n, int64_t t);

#endif
