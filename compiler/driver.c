/* driver.c — `nnc FILE.nn`: runs a file's training declaration.
 *
 * The model is traced twice (irgen.c): once in training mode with the backward graph
 * appended (outputs: loss, metrics, one gradient per parameter), once in evaluation mode
 * (loss and metrics). Each is compiled once (exec.c: LLVM, or the interpreter with
 * --interp) for a fixed batch size; the driver owns the parameters and optimizer state as
 * plain float arrays, feeds shuffled batches (libnnrt's seeded batcher), applies the
 * optimizer (libnnrt), reports progress, evaluates held-out data after every epoch,
 * appends metrics to a CSV file, and saves the weights as safetensors.
 * Same seed, same numbers: initialization, shuffling and sampling all come from Philox
 * counters keyed by the seed.
 *
 * Checkpoints hold everything the next step depends on: parameters, optimizer state, the
 * step count and the position in the epoch (the batch order is a function of seed and
 * epoch). They are written atomically after every epoch, when --steps stops a run, and
 * on SIGINT; --resume continues from one, and ends with the same weights, bit for bit, as
 * a run that was never interrupted.
 */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "driver_int.h"
#include "bptt_lower.h"
#include "exec.h"

typedef struct Param {
  const char *name;
  IrType t;
  int64_t n;
  int used;                /* read by the model (Linear(bias = false) declares an unused b) */
  float *w, *m, *v;        /* value; optimizer state */
} Param;

typedef struct Run {
  Lang *L;
  const DrvOptions *o;
  IrgSettings s;
  nnrt_ctx *ctx;
  Data train, held;
  Param *p;
  int np;
  IrgProgram tp;           /* training program */
  Exec *tx;
  IrgProgram ep;           /* evaluation program (batch size = eval_bs) */
  Exec *ex;
  int64_t eval_bs;
  IrgProgram ep2;          /* the same for the last, partial batch (rows % eval_bs) */
  Exec *ex2;
  int64_t step;
  int64_t epoch0, batch0;  /* where a resumed run starts */
  char ckpt[512];
  int stopped;             /* SIGINT or --steps ended the run early */
  char msg[1024];
} Run;

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_s(void) {   /* this thread's CPU time: --time-passes */
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int error(Run *r, const char *fmt, const char *what) {
  fprintf(r->o->err, "nnc: error: ");
  fprintf(r->o->err, fmt, what);
  fprintf(r->o->err, "\n");
  return 1;
}

/* ------------------------------------------------------------------ initializers */

static void fans(int rank, const int64_t *d, double *fin, double *fout) {
  double rf = 1;
  for (int i = 2; i < rank; i++) rf *= d[i];
  *fin = rank >= 2 ? d[1] * rf : d[0];
  *fout = rank >= 2 ? d[0] * rf : d[0];
}

/* Orthogonal rows (or columns) by modified Gram-Schmidt on a normal matrix. */
static void orthogonal(float *w, int64_t rows, int64_t cols, uint64_t seed, uint64_t stream) {
  int tr = rows < cols;
  int64_t r = tr ? rows : cols, c = tr ? cols : rows;  /* make r vectors of length c, r <= c */
  double *q = malloc(sizeof(double) * r * c);
  if (!q) return;
  for (int64_t i = 0; i < r * c; i++) q[i] = nnrt_rand_normal(seed, stream, (uint64_t)i);
  for (int64_t i = 0; i < r; i++) {
    for (int64_t j = 0; j < i; j++) {
      double dot = 0;
      for (int64_t k = 0; k < c; k++) dot += q[i * c + k] * q[j * c + k];
      for (int64_t k = 0; k < c; k++) q[i * c + k] -= dot * q[j * c + k];
    }
    double nrm = 0;
    for (int64_t k = 0; k < c; k++) nrm += q[i * c + k] * q[i * c + k];
    nrm = sqrt(nrm) + 1e-12;
    for (int64_t k = 0; k < c; k++) q[i * c + k] /= nrm;
  }
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++)
      w[i * cols + j] = (float)(tr ? q[i * c + j] : q[j * c + i]);
  free(q);
}

int drv_init_param(const char *desc, float *w, int rank, const int64_t *dims, uint64_t seed,
                   uint64_t stream) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) n *= dims[i];
  double a = 0, b = 0, fin, fout;
  fans(rank, dims, &fin, &fout);
  char name[32] = "";
  int nargs = sscanf(desc, "%31[a-z_](%lf,%lf)", name, &a, &b) - 1;
  if (!strcmp(name, "zeros") || !strcmp(name, "ones") || !strcmp(name, "constant")) {
    float v = !strcmp(name, "ones") ? 1.0f : !strcmp(name, "constant") && nargs >= 1 ? (float)a : 0.0f;
    for (int64_t i = 0; i < n; i++) w[i] = v;
  } else if (!strcmp(name, "glorot") || !strcmp(name, "xavier")) {
    double lim = sqrt(6.0 / (fin + fout));
    nnrt_fill_uniform(w, n, seed, stream, (float)-lim, (float)lim);
  } else if (!strcmp(name, "he") || !strcmp(name, "kaiming")) {
    nnrt_fill_normal(w, n, seed, stream, 0, (float)sqrt(2.0 / fin));
  } else if (!strcmp(name, "lecun")) {
    double lim = 1.0 / sqrt(fin);   /* PyTorch's default for Linear and Conv */
    nnrt_fill_uniform(w, n, seed, stream, (float)-lim, (float)lim);
  } else if (!strcmp(name, "normal")) {
    nnrt_fill_normal(w, n, seed, stream, nargs >= 1 ? (float)a : 0, nargs >= 2 ? (float)b : 1);
  } else if (!strcmp(name, "uniform")) {
    nnrt_fill_uniform(w, n, seed, stream, nargs >= 1 ? (float)a : 0, nargs >= 2 ? (float)b : 1);
  } else if (!strcmp(name, "orthogonal") && rank == 2) {
    orthogonal(w, dims[0], dims[1], seed, stream);
  } else if ((!strcmp(name, "eye") || !strcmp(name, "identity")) && rank == 2) {
    for (int64_t i = 0; i < n; i++) w[i] = 0;
    for (int64_t i = 0; i < dims[0] && i < dims[1]; i++) w[i * dims[1] + i] = nargs >= 1 ? (float)a : 1.0f;
  } else {
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------ programs */

/* Memory-budgeted BPTT (bptt_lower.h): the budget covers the graph's values plus the
 * optimizer state the driver keeps (two floats per parameter). */
static int bptt_options(Run *r, const IrgProgram *p, lscan_options *o) {
  uint64_t budget = r->o->memory_budget ? r->o->memory_budget : (uint64_t)r->s.memory_budget, extra = 0;
  for (int i = 0; i < p->nparams; i++) extra += 2 * (uint64_t)ir_numel(&ir_type(p->g, p->params[i])->shape) * 4;
  return lscan_configure(budget, r->o->bptt_policy, extra, r->o->dump_bptt ? r->o->out : NULL, o, r->msg,
                         sizeof r->msg);
}

/* --time-passes: one line per compiled function, CPU seconds per stage. */
static void time_passes(FILE *out, const char *fn, int64_t bs, int traced, int nodes, double trace, double passes,
                        ExecStats st) {
  double lower = st.cpu_lower_ms / 1e3, ir = st.cpu_ir_ms / 1e3, opt = st.cpu_opt_ms / 1e3,
         emit = st.cpu_emit_ms / 1e3;
  fprintf(out, "time-passes %s (batch %lld, %d nodes traced, %d after passes): trace+autodiff %.3f, "
               "simplify+cse %.3f, lower %.3f, llvm-ir %.3f, llvm-opt %.3f, llvm-emit %.3f, total %.3f CPU s%s\n",
          fn, (long long)bs, traced, nodes, trace, passes, lower, ir, opt, emit,
          trace + passes + lower + ir + opt + emit, st.cache_hit ? " (from the compile cache)" : "");
}

static int build(Run *r, IrgProgram *p, Exec **x, int training, int64_t bs, Data *d) {
  IrgField f[2];
  for (int i = 0; i < d->nfields; i++) {
    f[i] = d->fields[i];
    f[i].shape.dim[0] = bs;
  }
  static const IrHostTab cli_hosts = {0, NULL, "the nnc command has no host functions; run the model from a C "
                                              "program through nnc.h and register it with nnc_register_fn"};
  /* under a memory budget the checkpointing executor runs the scans: no hoisting there */
  int budget = training && (r->o->memory_budget || r->s.memory_budget);
  IrgOptions io = {.hosts = &cli_hosts, .training = training, .with_grads = training, .fields = f,
                   .nfields = d->nfields, .no_scan_hoist = budget};
  double c0 = cpu_s();
  if (irg_build(r->L, &r->s, &io, p)) return 1;   /* diagnostics are in L */
  double c_trace = cpu_s() - c0;
  int traced = p->g->nnodes;
  IrVal outs[2 + IRG_MAX_METRICS + 1024];
  int no = 0;
  outs[no++] = p->loss;
  for (int i = 0; i < p->nmetrics; i++) outs[no++] = p->metric[i];
  if (training) {
    if (p->nparams > 1024) return error(r, "%s", "too many parameters");
    for (int i = 0; i < p->nparams; i++) outs[no++] = p->grads[i];
  }
  ir_set_outputs(p->g, no, outs);
  if (!r->o->no_passes && !r->o->check_numerics) {
    /* simplify and CSE rewrite value ids: find the parameters again by name */
    const char *names[1024];
    for (int i = 0; i < p->nparams; i++) {
      const char *nm = ir_producer(p->g, p->params[i])->name;
      names[i] = lang_intern(r->L, nm, strlen(nm));   /* the passes free the old nodes */
    }
    IrPassOpts po = {0};
    if (ir_simplify(p->g, &po) || ir_cse(p->g)) return error(r, "optimizing the graph: %s", ir_errmsg(p->g));
    for (int i = 0; i < p->nparams; i++) p->params[i] = ir_find_leaf(p->g, names[i]);
  }
  double c_passes = cpu_s() - c0 - c_trace;
  if (r->o->dump && !strcmp(r->o->dump, "graph")) {
    ir_print(p->g, r->o->out);
    return 0;
  }
  lscan_options bo = {0}; /* checkpointing: the training step only */
  if (training && bptt_options(r, p, &bo)) return error(r, "%s", r->msg);
  int xrc = exec_create_bptt(p->g, r->o->interp ? EXEC_INTERP : EXEC_JIT, training ? "train_step" : "eval_step",
                             &bo, x, r->msg, sizeof r->msg);
  if (xrc) return error(r, "%s", r->msg);
  if (r->o->time_passes) time_passes(r->o->out, training ? "train_step" : "eval_step", bs, traced, p->g->nnodes,
                                     c_trace, c_passes, exec_stats(*x));
  if (r->o->dump && (!strcmp(r->o->dump, "llvm") || !strcmp(r->o->dump, "llvm-opt") || !strcmp(r->o->dump, "asm"))) {
    if (exec_print_llvm(*x, r->o->dump, r->o->out, r->msg, sizeof r->msg)) return error(r, "%s", r->msg);
  } else if (r->o->dump) {
    exec_print_kernels(*x, r->o->out);
  }
  return 0;
}

static Param *param_named(Run *r, const char *name) {
  for (int i = 0; i < r->np; i++)
    if (!strcmp(r->p[i].name, name)) return &r->p[i];
  return NULL;
}

/* Does any node of g read value v? */
static int has_user(const IrGraph *g, IrVal v) {
  for (int i = 0; i < g->nnodes; i++)
    for (int k = 0; k < g->nodes[i]->nin; k++)
      if (g->nodes[i]->in[k] == v) return 1;
  return 0;
}

/* Creates the parameters (from the training program's leaves) and initializes them. */
static int make_params(Run *r) {
  IrgProgram *p = &r->tp;
  r->np = p->nparams;
  r->p = calloc(r->np + 1, sizeof(Param));
  for (int i = 0; i < r->np; i++) {
    IrNode *nd = ir_producer(p->g, p->params[i]);
    Param *q = &r->p[i];
    q->used = has_user(p->g, p->params[i]);
    q->name = nd->name;
    q->t = *ir_type(p->g, p->params[i]);
    q->n = ir_numel(&q->t.shape);
    q->w = calloc(q->n + 1, sizeof(float));
    q->m = calloc(q->n + 1, sizeof(float));
    q->v = calloc(q->n + 1, sizeof(float));
    if (!q->w || !q->m || !q->v) return error(r, "%s", "out of memory");
    if (drv_init_param(nd->init ? nd->init : "zeros", q->w, q->t.shape.rank, q->t.shape.dim,
                       (uint64_t)r->s.seed, 1000 + (uint64_t)i))
      return error(r, "unknown initializer '%s'", nd->init);
  }
  return 0;
}

static int bind_params(Run *r, IrgProgram *p, Exec *x) {
  for (int i = 0; i < p->nparams; i++) {
    Param *q = param_named(r, ir_producer(p->g, p->params[i])->name);
    if (!q || exec_bind(x, p->params[i], q->w)) return error(r, "%s", "parameter mismatch between programs");
  }
  return 0;
}

static int load_weights(Run *r, const char *path) {
  nnrt_weights *w = NULL;
  if (nnrt_weights_load(r->ctx, path, &w)) return error(r, "%s", nnrt_errmsg(r->ctx));
  int rc = 0;
  for (int i = 0; i < r->np && !rc; i++) {
    Param *q = &r->p[i];
    if (!q->used) continue;
    nnrt_tensor *dst = NULL;
    nnrt_tensor_wrap(r->ctx, NNRT_F32, q->t.shape.rank, q->t.shape.dim, q->w, &dst);
    if (nnrt_weights_read(w, q->name, dst)) rc = error(r, "%s", nnrt_errmsg(r->ctx));
    nnrt_tensor_free(dst);
  }
  nnrt_weights_free(w);
  return rc;
}

static int save_weights(Run *r, const char *path) {
  const char **names = calloc(r->np + 1, sizeof *names);
  const nnrt_tensor **ts = calloc(r->np + 1, sizeof *ts);
  int rc = 0, n = 0;
  for (int i = 0; i < r->np; i++) {
    if (!r->p[i].used) continue;   /* parameters the model never reads are not weights */
    nnrt_tensor *t = NULL;
    nnrt_tensor_wrap(r->ctx, NNRT_F32, r->p[i].t.shape.rank, r->p[i].t.shape.dim, r->p[i].w, &t);
    names[n] = r->p[i].name;
    ts[n++] = t;
  }
  const char *mk[] = {"format", "model"}, *mv[] = {"nnc", r->s.model->name};
  if (nnrt_weights_save(r->ctx, path, n, names, ts, 2, mk, mv)) rc = error(r, "%s", nnrt_errmsg(r->ctx));
  for (int i = 0; i < n; i++) nnrt_tensor_free((nnrt_tensor *)ts[i]);
  free(names);
  free(ts);
  return rc;
}

/* ------------------------------------------------------------------ checkpoints */

static int save_checkpoint(Run *r, int64_t epoch, int64_t batch) {
  int n = 3 * r->np;
  const char **names = calloc(n + 1, sizeof *names);
  const nnrt_tensor **ts = calloc(n + 1, sizeof *ts);
  char (*buf)[300] = calloc(n + 1, sizeof *buf);
  int rc = 0;
  for (int i = 0; i < r->np; i++) {
    Param *q = &r->p[i];
    float *arr[3] = {q->w, q->m, q->v};
    const char *suffix[3] = {"", ".opt_m", ".opt_v"};
    for (int k = 0; k < 3; k++) {
      nnrt_tensor *t = NULL;
      nnrt_tensor_wrap(r->ctx, NNRT_F32, q->t.shape.rank, q->t.shape.dim, arr[k], &t);
      snprintf(buf[3 * i + k], sizeof buf[0], "%s%s", q->name, suffix[k]);
      names[3 * i + k] = buf[3 * i + k];
      ts[3 * i + k] = t;
    }
  }
  char step[32], ep[32], bt[32], seed[32];
  snprintf(step, sizeof step, "%lld", (long long)r->step);
  snprintf(ep, sizeof ep, "%lld", (long long)epoch);
  snprintf(bt, sizeof bt, "%lld", (long long)batch);
  snprintf(seed, sizeof seed, "%lld", (long long)r->s.seed);
  const char *mk[] = {"format", "model", "step", "epoch", "batch", "seed"};
  const char *mv[] = {"nnc-checkpoint", r->s.model->name, step, ep, bt, seed};
  if (nnrt_weights_save(r->ctx, r->ckpt, n, names, ts, 6, mk, mv)) rc = error(r, "%s", nnrt_errmsg(r->ctx));
  for (int i = 0; i < n; i++) nnrt_tensor_free((nnrt_tensor *)ts[i]);
  free(names);
  free(ts);
  free(buf);
  return rc;
}

static int64_t meta_int(const nnrt_weights *w, const char *key) {
  const char *v = nnrt_weights_metadata(w, key);
  return v ? strtoll(v, NULL, 10) : 0;
}

static int load_checkpoint(Run *r) {
  nnrt_weights *w = NULL;
  if (nnrt_weights_load(r->ctx, r->ckpt, &w)) return error(r, "%s", nnrt_errmsg(r->ctx));
  const char *fmt = nnrt_weights_metadata(w, "format");
  int rc = 0;
  if (!fmt || strcmp(fmt, "nnc-checkpoint")) rc = error(r, "%s is not an nnc checkpoint", r->ckpt);
  for (int i = 0; i < r->np && !rc; i++) {
    Param *q = &r->p[i];
    float *arr[3] = {q->w, q->m, q->v};
    const char *suffix[3] = {"", ".opt_m", ".opt_v"};
    for (int k = 0; k < 3 && !rc; k++) {
      char name[300];
      snprintf(name, sizeof name, "%s%s", q->name, suffix[k]);
      nnrt_tensor *dst = NULL;
      nnrt_tensor_wrap(r->ctx, NNRT_F32, q->t.shape.rank, q->t.shape.dim, arr[k], &dst);
      if (nnrt_weights_read(w, name, dst)) rc = error(r, "%s", nnrt_errmsg(r->ctx));
      nnrt_tensor_free(dst);
    }
  }
  if (!rc) {
    r->step = meta_int(w, "step");
    r->epoch0 = meta_int(w, "epoch");
    r->batch0 = meta_int(w, "batch");
    if (meta_int(w, "seed") != r->s.seed) rc = error(r, "%s", "the checkpoint was written with another seed");
  }
  nnrt_weights_free(w);
  return rc;
}

/* ------------------------------------------------------------------ optimizer */

static int optimize(Run *r, int64_t t, int64_t epoch) {
  const IrgObj *o = &r->s.opt[0];
  double lr = irg_obj_num_at(r->L, o, "lr", 0, t - 1, epoch, 1e-3);
  if (!drv_opt_known(o->kind))
    return error(r, "unknown optimizer '%s' (sgd, momentum, adam, adamw, rmsprop)", o->kind);
  if (r->s.clip_grad_norm > 0) {
    float *g[1024];
    int64_t n[1024];
    for (int i = 0; i < r->np && i < 1024; i++) g[i] = exec_output(r->tx, 1 + r->tp.nmetrics + i), n[i] = r->p[i].n;
    nnrt_clip_grad_norm(g, n, r->np, (float)r->s.clip_grad_norm);
  }
  for (int i = 0; i < r->np; i++) {
    Param *q = &r->p[i];
    drv_opt_apply(o, lr, q->w, exec_output(r->tx, 1 + r->tp.nmetrics + i), q->m, q->v, q->n, t);
  }
  return 0;
}

/* ------------------------------------------------------------------ the loop */

/* Runs one evaluation batch through x (program p); adds rows-weighted loss and metrics. */
static int eval_batch(Run *r, IrgProgram *p, Exec *x, const nnrt_tensor *xb, const nnrt_tensor *yb,
                      int64_t rows, double *sl, double *sm) {
  exec_bind(x, ir_find_leaf(p->g, "batch.x"), nnrt_tensor_data(xb));
  IrVal ly = ir_find_leaf(p->g, "batch.y");
  if (ly != IR_NONE) exec_bind(x, ly, nnrt_tensor_data(yb));
  if (exec_run(x, (uint64_t)r->s.seed, 0, r->msg, sizeof r->msg)) return error(r, "%s", r->msg);
  *sl += rows * (double)*(float *)exec_output(x, 0);
  for (int i = 0; i < p->nmetrics; i++) sm[i] += rows * (double)*(float *)exec_output(x, 1 + i);
  return 0;
}

/* Evaluates the whole held-out split (the last partial batch through its own program):
 * per-example means of the loss and of every metric (m[0..nmetrics-1]). */
static int evaluate(Run *r, double *loss, double *m) {
  *loss = NAN;
  for (int i = 0; i < IRG_MAX_METRICS; i++) m[i] = NAN;
  if (!r->ex || !r->held.x) return 0;
  nnrt_batcher *b = NULL;
  if (nnrt_batcher_create(r->ctx, r->held.x, r->held.y, r->eval_bs, 0, 0, &b))
    return error(r, "%s", nnrt_errmsg(r->ctx));
  const nnrt_tensor *xb, *yb;
  double sl = 0, sm[IRG_MAX_METRICS] = {0};
  int64_t n = 0, rows;
  int rc = 0;
  while (!rc && (rows = nnrt_batcher_next(b, &xb, &yb)) > 0) {
    if (rows == r->eval_bs) rc = eval_batch(r, &r->ep, r->ex, xb, yb, rows, &sl, sm);
    else if (r->ex2) rc = eval_batch(r, &r->ep2, r->ex2, xb, yb, rows, &sl, sm);
    else continue;
    n += rows;
  }
  nnrt_batcher_free(b);
  if (!rc && n) {
    *loss = sl / n;
    for (int i = 0; i < r->ep.nmetrics; i++) m[i] = sm[i] / n;
  }
  return rc;
}

/* --check-numerics: reruns the failing step in the interpreter and reports the first node
 * whose output holds a NaN or an Inf, at the source that made it. */
static int diagnose_numerics(Run *r, const void *xb, const void *yb) {
  Exec *ix = NULL;
  if (exec_create(r->tp.g, EXEC_INTERP, "check", &ix, r->msg, sizeof r->msg)) return error(r, "%s", r->msg);
  bind_params(r, &r->tp, ix);
  exec_bind(ix, ir_find_leaf(r->tp.g, "batch.x"), (void *)xb);
  exec_bind(ix, ir_find_leaf(r->tp.g, "batch.y"), (void *)yb);
  int rc = exec_run(ix, (uint64_t)r->s.seed, (uint64_t)r->step, r->msg, sizeof r->msg);
  IrGraph *g = r->tp.g;
  for (int i = 0; !rc && i < g->nnodes; i++) {
    IrNode *n = g->nodes[i];
    for (int k = 0; k < n->nout; k++) {
      const IrTensor *v = exec_interp_value(ix, n->out[k]);
      int64_t m = v ? ir_numel(&v->t.shape) : 0;
      for (int64_t j = 0; j < m; j++) {
        if (isfinite(v->data[j])) continue;
        Span sp = i < r->tp.nspan ? r->tp.span[i] : (Span){0, 0, 0};
        const char *what = isnan(v->data[j]) ? "NaN" : "Inf";
        if (i < r->tp.nspan && sp.len)
          diag_error(r->L, sp, "%s first produced by '%s' (node %%%d) at step %lld", what,
                     ir_ops[n->op].name, i, (long long)r->step + 1);
        else
          diag_error(r->L, r->s.train->span, "%s first produced by '%s' (node %%%d, in the backward "
                     "pass) at step %lld", what, ir_ops[n->op].name, i, (long long)r->step + 1);
        exec_free(ix);
        return 1;
      }
    }
  }
  exec_free(ix);
  return rc ? error(r, "%s", r->msg)
            : error(r, "%s", "the compiled step produced a NaN or Inf that the interpreter does not reproduce");
}

static int finite_outputs(Run *r) {
  int no = r->tp.g->nouts;
  for (int i = 0; i < no; i++) {
    const float *o = exec_output(r->tx, i);
    int64_t n = ir_numel(&ir_type(r->tp.g, r->tp.g->outs[i])->shape);
    if (ir_type(r->tp.g, r->tp.g->outs[i])->dtype != IR_F32) continue;
    for (int64_t j = 0; j < n; j++)
      if (!isfinite(o[j])) return 0;
  }
  return 1;
}

static int train_epoch(Run *r, nnrt_batcher *b, nnrt_progress *pg, int64_t epoch, double *mean_loss) {
  const nnrt_tensor *xb, *yb;
  int64_t rows, k = 0;
  double sum = 0;
  if (epoch == r->epoch0)   /* a resumed run: skip the batches it had already trained on */
    for (; k < r->batch0 && nnrt_batcher_next(b, &xb, &yb) > 0; k++) {}
  IrVal lx = ir_find_leaf(r->tp.g, "batch.x"), ly = ir_find_leaf(r->tp.g, "batch.y");
  for (;;) {
    /* stop before a step: Ctrl-C, or --steps reached (also by a resumed run) */
    if (interrupted || (r->o->max_steps > 0 && r->step >= r->o->max_steps)) {
      r->stopped = 1;
      if (r->ckpt[0] && save_checkpoint(r, epoch, k)) return 1;
      if (interrupted) fprintf(r->o->out, "\ninterrupted at step %lld%s%s\n", (long long)r->step,
                               r->ckpt[0] ? ": checkpoint saved to " : "", r->ckpt);
      break;
    }
    if ((rows = nnrt_batcher_next(b, &xb, &yb)) <= 0) break;
    exec_bind(r->tx, lx, nnrt_tensor_data(xb));
    if (ly != IR_NONE) exec_bind(r->tx, ly, nnrt_tensor_data(yb));
    if (exec_run(r->tx, (uint64_t)r->s.seed, (uint64_t)r->step, r->msg, sizeof r->msg)) return error(r, "%s", r->msg);
    double loss = *(float *)exec_output(r->tx, 0);
    if (r->o->check_numerics && !finite_outputs(r))
      return diagnose_numerics(r, nnrt_tensor_data(xb), ly != IR_NONE ? nnrt_tensor_data(yb) : NULL);
    if (!isfinite(loss))
      return error(r, "%s", "the loss is not finite (NaN or Inf); --check-numerics finds the op that made it");
    if (optimize(r, ++r->step, epoch)) return 1;
    sum += loss;
    k++;
    nnrt_progress_step(pg, epoch, k, loss, rows);
  }
  *mean_loss = k ? sum / k : NAN;
  return 0;
}

/* Can a file be written at path? (Checked before training, so a bad --save does not
 * lose the run.) */
static int writable_dir_of(const char *path) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash) return access(".", W_OK) == 0;
  if (slash == dir) slash[1] = 0; else *slash = 0;
  return access(dir, W_OK) == 0;
}

static void stem_of(const char *path, char *out, size_t cap) {
  const char *b = strrchr(path, '/');
  b = b ? b + 1 : path;
  snprintf(out, cap, "%s", b);
  char *dot = strrchr(out, '.');
  if (dot && dot != out) *dot = 0;
}

static int loop(Run *r, const char *path) {
  int64_t epochs = r->o->epochs > 0 ? r->o->epochs : r->s.epochs;
  nnrt_batcher *b = NULL;
  if (nnrt_batcher_create(r->ctx, r->train.x, r->train.y, r->s.batch_size, (uint64_t)r->s.seed,
                          NNRT_BATCH_SHUFFLE | NNRT_BATCH_DROP_LAST, &b))
    return error(r, "%s", nnrt_errmsg(r->ctx));
  nnrt_progress *pg = NULL;
  nnrt_progress_create(r->ctx, r->o->out, epochs, nnrt_batcher_batches(b), NNRT_PROGRESS_AUTO, &pg);
  char stem[256], csv[512];
  stem_of(path, stem, sizeof stem);
  snprintf(csv, sizeof csv, "%s.metrics.csv", stem);
  /* columns: epoch, step, train_loss, eval_loss, eval_<metric>..., seconds */
  const char *cols[5 + IRG_MAX_METRICS];
  char names[IRG_MAX_METRICS][80];
  int nc = 0, nm = r->ep.nmetrics;
  cols[nc++] = "epoch", cols[nc++] = "step", cols[nc++] = "train_loss", cols[nc++] = "eval_loss";
  for (int i = 0; i < nm; i++) {
    snprintf(names[i], sizeof names[i], "eval_%s", r->ep.metric_name[i]);
    cols[nc++] = names[i];
  }
  cols[nc++] = "seconds";
  nnrt_metrics *mc = NULL;
  if (nnrt_metrics_open(r->ctx, r->o->metrics ? r->o->metrics : csv, nc, cols, &mc))
    fprintf(r->o->err, "nnc: warning: metrics not written: %s\n", nnrt_errmsg(r->ctx));
  int rc = 0;
  double t0 = now_s();
  if (r->epoch0) nnrt_batcher_seek_epoch(b, r->epoch0);
  for (int64_t e = r->epoch0; e < epochs && !rc; e++) {
    double tl, el, em[IRG_MAX_METRICS], te = now_s();
    rc = train_epoch(r, b, pg, e, &tl);
    double tt = now_s() - te; /* training only: what PyTorch's benchmark loop times */
    if (rc || r->stopped) break;
    rc = evaluate(r, &el, em);
    if (!rc && r->ckpt[0]) rc = save_checkpoint(r, e + 1, 0);
    if (rc) break;
    nnrt_progress_epoch_end(pg, e, nm ? r->ep.metric_name[0] : NULL, em[0]);
    double row[5 + IRG_MAX_METRICS];
    int k = 0;
    row[k++] = (double)e + 1, row[k++] = (double)r->step, row[k++] = tl, row[k++] = el;
    for (int i = 0; i < nm; i++) row[k++] = em[i];
    row[k++] = now_s() - te;
    if (mc) nnrt_metrics_append(mc, row);
    fprintf(r->o->out, "epoch %lld: train loss %.4f", (long long)e + 1, tl);
    if (!isnan(el)) fprintf(r->o->out, ", eval loss %.4f", el);
    if (!isnan(el) && !strcmp(r->s.data.kind, "text"))
      fprintf(r->o->out, " (%.3f bits per character)", el / log(2.0));
    for (int i = 0; i < nm; i++)
      if (!isnan(em[i])) fprintf(r->o->out, ", eval %s %.4f", r->ep.metric_name[i], em[i]);
    fprintf(r->o->out, " (%.1f s, train %.1f s)\n", now_s() - te, tt);
    fflush(r->o->out);
  }
  if (!rc) fprintf(r->o->out, "trained %lld steps in %.1f s\n", (long long)r->step, now_s() - t0);
  if (mc) nnrt_metrics_close(mc);
  nnrt_progress_free(pg);
  nnrt_batcher_free(b);
  return rc;
}

static void run_free(Run *r) {
  exec_free(r->tx);
  exec_free(r->ex);
  exec_free(r->ex2);
  irg_program_free(&r->tp);
  irg_program_free(&r->ep);
  irg_program_free(&r->ep2);
  for (int i = 0; i < r->np; i++) free(r->p[i].w), free(r->p[i].m), free(r->p[i].v);
  free(r->p);
  drv_data_free(&r->train);
  drv_data_free(&r->held);
  nnrt_ctx_free(r->ctx);
}

int drv_train(Lang *L, Node *file, const char *path, const DrvOptions *o) {
  Run r = {.L = L, .o = o};
  r.tp.loss = r.ep.loss = r.ep2.loss = IR_NONE;
  if (irg_settings(L, file, NULL, &r.s)) return 1;
  if (o->seed >= 0) r.s.seed = o->seed;
  if (!r.s.nopt) return error(&r, "%s", "the train declaration has no optimizer");
  if (!(r.ctx = nnrt_ctx_create(NULL, NULL))) return error(&r, "%s", "out of memory");
  if (!o->no_save && o->save && !writable_dir_of(o->save)) {
    int rc = error(&r, "cannot write the weights to %s (its directory is missing or not writable)", o->save);
    nnrt_ctx_free(r.ctx);
    return rc;
  }
  if (o->threads > 0) nnrt_set_threads(o->threads);
  /* Ctrl-C from here on finishes the current step, saves a checkpoint and exits */
  struct sigaction sa = {0}, old;
  sa.sa_handler = on_sigint;
  sigaction(SIGINT, &sa, &old);
  interrupted = 0;
  int rc = drv_data_load(&r.train, &r.held, &r.s, r.ctx, r.msg, sizeof r.msg) ? error(&r, "%s", r.msg) : 0;
  double t0 = now_s();
  if (!rc) rc = build(&r, &r.tp, &r.tx, 1, r.s.batch_size, &r.train);
  if (!rc && o->dump) {
    run_free(&r);
    return 0;
  }
  double t_init = now_s();   /* initializing the parameters is not compiling */
  if (!rc) rc = make_params(&r);
  t_init = now_s() - t_init;
  if (!rc && r.held.x) {
    r.eval_bs = r.s.batch_size;
    rc = build(&r, &r.ep, &r.ex, 0, r.eval_bs, &r.held);
    int64_t rest = nnrt_tensor_dim(r.held.x, 0) % r.eval_bs;
    if (!rc && rest) rc = build(&r, &r.ep2, &r.ex2, 0, rest, &r.held);
  }
  if (!rc) {
    double t_compile = now_s() - t0 - t_init;
    Exec *xs[3] = {r.tx, r.ex, r.ex2};
    int nfn = 0, hits = 0;
    for (int i = 0; i < 3; i++)
      if (xs[i]) nfn++, hits += exec_stats(xs[i]).cache_hit;
    char how[96] = "interpreter";
    if (!o->interp) snprintf(how, sizeof how, "LLVM JIT, %d of %d functions from the compile cache", hits, nfn);
    fprintf(o->out, "compiled %s in %.3f s (%d parameters, %s; parameters initialized in %.3f s)\n", r.s.model->name,
            t_compile, r.np, how, t_init);
  }
  if (!rc) rc = bind_params(&r, &r.tp, r.tx);
  if (!rc && r.ex) rc = bind_params(&r, &r.ep, r.ex);
  if (!rc && r.ex2) rc = bind_params(&r, &r.ep2, r.ex2);
  if (!rc && o->load) rc = load_weights(&r, o->load);
  const char *ck = o->checkpoint ? o->checkpoint : r.s.checkpoint;
  if (ck) {
    snprintf(r.ckpt, sizeof r.ckpt, "%s", ck);
  } else if (o->resume) {
    char stem[256];
    stem_of(path, stem, sizeof stem);
    snprintf(r.ckpt, sizeof r.ckpt, "%s.ckpt", stem);
  }
  if (!rc && o->resume) {
    rc = load_checkpoint(&r);
    if (!rc) fprintf(o->out, "resuming %s at step %lld (epoch %lld, batch %lld)\n", r.ckpt,
                     (long long)r.step, (long long)r.epoch0 + 1, (long long)r.batch0);
  }
  if (!rc) rc = loop(&r, path);
  if (!rc && o->dump_bptt) lscan_dump_measured(o->out, exec_bptt(r.tx));
  sigaction(SIGINT, &old, NULL);
  if (!rc && !o->no_save) {
    char stem[256], out[512];
    stem_of(path, stem, sizeof stem);
    snprintf(out, sizeof out, "%s.safetensors", stem);
    rc = save_weights(&r, o->save ? o->save : out);
    if (!rc) fprintf(o->out, "weights saved to %s\n", o->save ? o->save : out);
  }
  run_free(&r);
  return rc;
}
