/* irgen.h — lowering a checked .nn program to the graph IR (irgen.c), and the training
 * set-up read from a `train` declaration (irgen_train.c).
 *
 * Lowering is tracing: the program is evaluated with concrete shapes (every symbolic
 * dimension bound: B to the batch size, hyper-parameters to their values), compile-time
 * values (ints, loops, `if`, `training`) are computed on the spot, and every tensor
 * operation appends a node to the graph. Function calls are inlined; a `scan` becomes one
 * IR scan node whose body is traced once into a subgraph, so loops stay loops.
 *
 * Errors the checker cannot see (an op the back end does not lower yet, a data file whose
 * shape disagrees with the model) are reported as diagnostics at the user's source.
 */
#ifndef NNC_IRGEN_H
#define NNC_IRGEN_H

#include "ir.h"
#include "lang.h"

#define IRG_MAX_FIELDS 8
#define IRG_MAX_METRICS 16
#define IRG_MAX_OPTS 4
#define IRG_MAX_ARGS 16

/* A batch field the data source provides (batch.x, batch.y), with its per-batch shape. */
typedef struct IrgField {
  const char *name;
  IrDType dtype;
  IrShape shape;
} IrgField;

/* A run-time object of a train declaration: a data source or an optimizer, as written:
 * kind ("idx", "text", "adam", ...) plus positional and keyword arguments that are
 * compile-time scalars or strings. */
typedef struct IrgObj {
  const char *kind;
  Span span;
  Node *owner;            /* the train declaration it belongs to */
  int nargs;
  struct {
    const char *key;   /* NULL for positional */
    int is_str;
    const char *s;
    double num;
    int ndims;            /* a tuple of integers: shape = (1, 28, 28) */
    int64_t dims[8];
    Node *expr;           /* as written */
    int dynamic;          /* depends on `step` or `epoch` (a schedule): num is its value at 0 */
  } args[IRG_MAX_ARGS];
} IrgObj;

/* Looks up a keyword (or positional index pos >= 0 when not given by keyword). */
int irg_obj_num(const IrgObj *o, const char *key, int pos, double *out);
const char *irg_obj_str(const IrgObj *o, const char *key, int pos);
/* A tuple-of-integers argument: its length (0 when absent), dims filled. */
int irg_obj_dims(const IrgObj *o, const char *key, int pos, int64_t *dims);

/* The value of a numeric argument at a given step and epoch (0-based): schedules such as
 * lr = 1e-3 * 0.5 ** epoch are evaluated again; other arguments are constants. Returns
 * `deflt` when the argument is absent or cannot be evaluated. */
double irg_obj_num_at(Lang *L, const IrgObj *o, const char *key, int pos, int64_t step, int64_t epoch,
                      double deflt);

/* The settings of one `train` declaration, as compile-time values. */
typedef struct IrgSettings {
  Node *train;            /* the declaration */
  Node *model;            /* the module it trains */
  IrgObj data, eval;      /* eval.kind == NULL when absent */
  int has_eval;
  IrgObj opt[IRG_MAX_OPTS];
  const char *opt_name[IRG_MAX_OPTS];
  int nopt;
  int64_t batch_size, epochs, steps, seed, log_every, checkpoint_every;
  int64_t memory_budget;  /* bytes, 0 = none */
  double clip_grad_norm;  /* 0 = none */
  const char *checkpoint;
} IrgSettings;

/* Reads the train declaration of `file` (the first one, or the one named `model` when not
 * NULL). Returns 0, or -1 with a diagnostic. */
int irg_settings(Lang *L, Node *file, const char *model, IrgSettings *s);

/* What one traced function of the model computes. */
typedef struct IrgProgram {
  IrGraph *g;
  IrVal loss;                      /* IR_NONE when the program has no loss */
  int nmetrics;
  const char *metric_name[IRG_MAX_METRICS];
  IrVal metric[IRG_MAX_METRICS];
  int nparams;                     /* params in ir_leaves order */
  IrVal *params;
  IrVal *grads;                    /* when built with gradients */
  Span *span;                      /* [node id] the source that made each node (len 0: none) */
  int nspan;
} IrgProgram;

typedef struct IrgOptions {
  int training;                    /* value of `training` */
  const IrHostTab *hosts;          /* host functions `extern fn` calls may use (NULL: none) */
  int with_grads;                  /* append the backward graph (gradients of the loss) */
  int no_scan_hoist;               /* keep scans as traced (also off with -fno-scan-hoist) */
  const IrgField *fields;          /* batch fields */
  int nfields;
} IrgOptions;

/* Traces the loss and metrics of train declaration s into a new graph. Returns 0, or -1
 * with diagnostics in L (and p->g freed). */
int irg_build(Lang *L, const IrgSettings *s, const IrgOptions *o, IrgProgram *p);
void irg_program_free(IrgProgram *p);
/* Does the back end lower built-in `name`? (The checker knows more than are lowered.) */
int irg_lowers_builtin(const char *name);

#endif
