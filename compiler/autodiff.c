/* autodiff.c — reverse-mode automatic differentiation over the graph IR.
 *
 * Algorithm (compiler-techniques.md §4.1; Griewank & Walther, "Evaluating Derivatives",
 * ch. 3): mark the values that depend on a wrt value and reach an output; walk the
 * forward nodes in reverse topological order keeping a value -> adjoint map; for each
 * marked node call its op's gradient rule (ops_grad.c, scan.c) with the adjoints of its
 * outputs, and add the returned input adjoints into the map (fan-out sums with add nodes).
 * Integer and bool values carry no adjoint; IR_ND ops (stop_gradient, sampling, argmax,
 * comparisons) cut the flow. A gradient that reaches a host call (IR_HOST: an `extern fn`,
 * which has no derivative) from a wrt value is an error naming the function, never a
 * silent zero: the user cuts it on purpose with stop_gradient. Broadcasting is undone by ad_unbroadcast inside the rules. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

IrVal ad_unbroadcast(IrGraph *g, IrVal a, const IrShape *top)
{
  if (a == IR_NONE || g->failed) return IR_NONE;
  IrShape from = ir_type(g, a)->shape, tos = *top, *to = &tos; /* top may point into g->vals */
  if (ir_shape_eq(&from, to)) return a;
  int axes[IR_MAX_RANK], na = 0, lead = from.rank - to->rank;
  if (lead < 0) {
    ir_fail(g, "autodiff: cannot un-broadcast rank %d to rank %d", from.rank, to->rank);
    return IR_NONE;
  }
  for (int i = 0; i < from.rank; i++)
    if (i < lead || (to->dim[i - lead] == 1 && from.dim[i] != 1)) axes[na++] = i;
  IrVal s = na ? ir_reduce(g, OP_SUM, a, na, axes, 1) : a;
  return ir_reshape(g, s, tos);
}

typedef struct {
  IrGraph *g;
  int nvals0, nnodes0;
  char *dep;   /* value depends on a wrt value */
  char *reach; /* value reaches an output */
  IrVal *adj;
} Ad;

static int node_has(const char *mark, const IrNode *n)
{
  for (int k = 0; k < n->nout; k++)
    if (mark[n->out[k]]) return 1;
  return 0;
}

static int flows(const IrGraph *g, IrVal v) { return ir_is_float(ir_type(g, v)->dtype); }

/* dep: forward from wrt through differentiable ops; reach: backward from outs. */
static void mark(Ad *a, int nout, const IrVal *outs, int nwrt, const IrVal *wrt)
{
  IrGraph *g = a->g;
  for (int i = 0; i < nwrt; i++) a->dep[wrt[i]] = 1;
  for (int i = 0; i < a->nnodes0; i++) {
    const IrNode *n = g->nodes[i];
    /* host calls carry dep on, so that a gradient reaching them can be reported */
    if ((ir_ops[n->op].flags & IR_ND) && !(ir_ops[n->op].flags & IR_HOST)) continue;
    int d = 0;
    for (int j = 0; j < n->nin; j++) d |= a->dep[n->in[j]] && flows(g, n->in[j]);
    for (int k = 0; d && k < n->nout; k++) a->dep[n->out[k]] |= flows(g, n->out[k]);
  }
  for (int i = 0; i < nout; i++) a->reach[outs[i]] = 1;
  for (int i = a->nnodes0 - 1; i >= 0; i--) {
    const IrNode *n = g->nodes[i];
    if (!node_has(a->reach, n)) continue;
    for (int j = 0; j < n->nin; j++) a->reach[n->in[j]] = 1;
  }
}

/* adj[v] += d, checking d has v's type. */
static int accumulate(Ad *a, const IrNode *n, int j, IrVal d)
{
  IrGraph *g = a->g;
  IrVal v = n->in[j];
  if (d == IR_NONE || !a->dep[v] || !flows(g, v)) return 0;
  const IrType *tv = ir_type(g, v), *td = ir_type(g, d);
  if (tv->dtype != td->dtype || !ir_shape_eq(&tv->shape, &td->shape)) {
    char x[96], y[96];
    return ir_fail(g, "autodiff: gradient rule of %s gave %s for input %d of type %s",
                   ir_ops[n->op].name, ir_type_str(td, y, 96), j, ir_type_str(tv, x, 96));
  }
  a->adj[v] = a->adj[v] == IR_NONE ? d : ir_binary(g, OP_ADD, a->adj[v], d);
  return g->failed ? -1 : 0;
}

/* Does a gradient from a wrt value flow through host call n (an adjoint reached one of
 * its results and one of its floating inputs depends on a wrt value)? Then fail. */
static int host_gradient(Ad *a, const IrNode *n)
{
  IrGraph *g = a->g;
  int gout = 0, dep = 0;
  for (int k = 0; k < n->nout; k++) gout |= a->adj[n->out[k]] != IR_NONE;
  for (int j = 0; j < n->nin; j++) dep |= a->dep[n->in[j]] && flows(g, n->in[j]);
  if (!gout || !dep) return 0;
  ir_fail(g, "a gradient flows into host function '%s', which is not differentiable; wrap its argument "
          "or its result in stop_gradient", n->name ? n->name : "?");
  g->err_node = n->id + 1;
  return -1;
}

static int backprop_node(Ad *a, const IrNode *n)
{
  IrGraph *g = a->g;
  const IrOpInfo *oi = &ir_ops[n->op];
  if ((oi->flags & IR_HOST) && host_gradient(a, n)) return -1;
  if (!oi->grad || !node_has(a->dep, n) || !node_has(a->reach, n)) return 0;
  int any = 0;
  for (int k = 0; k < n->nout; k++) any |= a->adj[n->out[k]] != IR_NONE;
  if (!any) return 0;
  IrVal *gout = malloc((size_t)n->nout * sizeof *gout), *gin = malloc((size_t)(n->nin ? n->nin : 1) * sizeof *gin);
  int rc = gout && gin ? 0 : ir_fail(g, "out of memory");
  for (int k = 0; !rc && k < n->nout; k++) gout[k] = a->adj[n->out[k]];
  for (int j = 0; !rc && j < n->nin; j++) gin[j] = IR_NONE;
  if (!rc) rc = oi->grad(g, n, gout, gin);
  if (!rc && g->failed) rc = -1;
  for (int j = 0; !rc && j < n->nin; j++) rc = accumulate(a, n, j, gin[j]);
  free(gout);
  free(gin);
  return rc;
}

/* Seeds adj[outs[k]] with gouts[k] (ones when IR_NONE). */
static int seed(Ad *a, int nout, const IrVal *outs, const IrVal *gouts)
{
  IrGraph *g = a->g;
  for (int k = 0; k < nout; k++) {
    if (!flows(g, outs[k])) continue;
    const IrType *t = ir_type(g, outs[k]);
    IrVal s = gouts && gouts[k] != IR_NONE ? gouts[k] : ir_fill(g, t->dtype, t->shape, 1.0);
    if (s == IR_NONE) return -1;
    a->adj[outs[k]] = a->adj[outs[k]] == IR_NONE ? s : ir_binary(g, OP_ADD, a->adj[outs[k]], s);
  }
  return g->failed ? -1 : 0;
}

int ad_vjp(IrGraph *g, int nout, const IrVal *outs, const IrVal *gouts, int nwrt,
           const IrVal *wrt, IrVal *grads)
{
  if (g->failed) return -1;
  Ad a = {g, g->nvals, g->nnodes, NULL, NULL, NULL};
  a.dep = calloc((size_t)a.nvals0 + 1, 1);
  a.reach = calloc((size_t)a.nvals0 + 1, 1);
  a.adj = malloc(((size_t)a.nvals0 + 1) * sizeof *a.adj);
  int rc = a.dep && a.reach && a.adj ? 0 : ir_fail(g, "out of memory");
  for (int i = 0; !rc && i < a.nvals0; i++) a.adj[i] = IR_NONE;
  for (int i = 0; !rc && i < nout + nwrt; i++) {
    IrVal v = i < nout ? outs[i] : wrt[i - nout];
    if (v < 0 || v >= a.nvals0) rc = ir_fail(g, "autodiff: %%%d is not a value", v);
  }
  if (!rc) {
    mark(&a, nout, outs, nwrt, wrt);
    rc = seed(&a, nout, outs, gouts);
  }
  for (int i = a.nnodes0 - 1; !rc && i >= 0; i--) rc = backprop_node(&a, g->nodes[i]);
  for (int i = 0; !rc && i < nwrt; i++) {
    grads[i] = ir_or_zeros(g, a.adj[wrt[i]], ir_type(g, wrt[i]));
    if (grads[i] == IR_NONE) rc = -1;
  }
  free(a.dep);
  free(a.reach);
  free(a.adj);
  return rc;
}

int ad_grad(IrGraph *g, IrVal loss, int nwrt, const IrVal *wrt, IrVal *grads)
{
  if (g->failed) return -1;
  if (loss < 0 || loss >= g->nvals) return ir_fail(g, "autodiff: the loss is not a value");
  const IrType *t = ir_type(g, loss);
  char b[96];
  if (!ir_is_float(t->dtype) || ir_numel(&t->shape) != 1)
    return ir_fail(g, "autodiff: the loss must be a floating scalar, got %s", ir_type_str(t, b, sizeof b));
  return ad_vjp(g, 1, &loss, NULL, nwrt, wrt, grads);
}

int ad_grad_params(IrGraph *g, IrVal loss, IrVal *grads)
{
  int np = ir_leaves(g, OP_PARAM, NULL, 0);
  IrVal *ps = malloc((size_t)(np ? np : 1) * sizeof *ps);
  if (!ps) return ir_fail(g, "out of memory");
  ir_leaves(g, OP_PARAM, ps, np);
  int rc = ad_grad(g, loss, np, ps, grads);
  free(ps);
  return rc;
}
