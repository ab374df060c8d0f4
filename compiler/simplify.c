/* simplify.c — constant folding, algebraic identities and dead-code elimination.
 *
 * Algorithm: one forward rewrite of the graph into a new one (value map old -> new), as in
 * QBE's and TVM's simple passes:
 *   - identities: x + 0, 0 + x, x - 0, x * 1, 1 * x, x / 1 -> x (only where x already has
 *     the result's type, so no broadcast is lost); reshape/broadcast_to to the same shape,
 *     identity transpose, cast to the same dtype -> x. (x * 0 is not folded: NaN * 0.)
 *   - folding: a deterministic op whose inputs are all constants and whose result is small
 *     (<= 4096 elements) is evaluated by the reference interpreter into a constant.
 *   - dead code: nodes that do not reach g->outs are dropped (inputs, params and states
 *     stay: they are the graph's interface). Skipped when the graph has no results.
 * Subgraphs (scan bodies, custom gradients) are simplified first, recursively: a BPTT
 * backward body recomputes the whole forward step, and dead code removes what its VJP
 * does not use. Each part can be switched off (IrPassOpts) so tests compare results with
 * and without. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

#define FOLD_MAX 4096

/* 1 iff v is a constant whose every element equals x. */
static int const_is(const IrGraph *g, IrVal v, double x)
{
  const IrNode *n = ir_producer(g, v);
  if (n->op != OP_CONST) return 0;
  for (int64_t i = 0; i < (n->ncdata ? n->ncdata : 1); i++)
    if (n->cdata[i] != x) return 0;
  return 1;
}

/* The value an identity reduces node n (inputs in ng, renamed) to, or IR_NONE. out is
 * n's output in the old graph g. */
static IrVal identity(const IrGraph *g, const IrGraph *ng, const IrNode *n, const IrVal *in)
{
  IrVal out = n->out[0];
  const IrType *ot = ir_type(g, out);
  int a0 = n->nin > 0 && ir_type(ng, in[0])->dtype == ot->dtype && ir_shape_eq(&ir_type(ng, in[0])->shape, &ot->shape);
  int a1 = n->nin > 1 && ir_type(ng, in[1])->dtype == ot->dtype && ir_shape_eq(&ir_type(ng, in[1])->shape, &ot->shape);
  switch (n->op) {
  case OP_ADD:
    if (a0 && const_is(ng, in[1], 0)) return in[0];
    if (a1 && const_is(ng, in[0], 0)) return in[1];
    break;
  case OP_SUB: if (a0 && const_is(ng, in[1], 0)) return in[0]; break;
  case OP_MUL:
    if (a0 && const_is(ng, in[1], 1)) return in[0];
    if (a1 && const_is(ng, in[0], 1)) return in[1];
    break;
  case OP_DIV: if (a0 && const_is(ng, in[1], 1)) return in[0]; break;
  case OP_RESHAPE: case OP_BROADCAST_TO: case OP_CAST: if (a0) return in[0]; break;
  case OP_TRANSPOSE:
    for (int i = 0; i < n->attr.nint; i++)
      if (n->attr.ints[i] != i) return IR_NONE;
    return in[0];
  default: break;
  }
  return IR_NONE;
}

static int foldable(const IrGraph *ng, const IrNode *n, const IrVal *in, const IrGraph *g)
{
  int fl = ir_ops[n->op].flags;
  if ((fl & (IR_LEAF | IR_RANDOM | IR_HOST)) || n->sub[0] || n->nout != 1) return 0;
  if (ir_numel(&ir_type(g, n->out[0])->shape) > FOLD_MAX) return 0;
  for (int i = 0; i < n->nin; i++)
    if (ir_producer(ng, in[i])->op != OP_CONST) return 0;
  return 1;
}

/* Evaluates n on its constant inputs; returns the new constant in ng or IR_NONE. */
static IrVal fold(IrGraph *ng, const IrGraph *g, const IrNode *n, const IrVal *in)
{
  IrGraph *t = ir_graph_new();
  IrVal *map = calloc((size_t)g->nvals, sizeof *map), res = IR_NONE;
  if (!t || !map) goto out;
  for (int i = 0; i < n->nin; i++) {
    const IrNode *c = ir_producer(ng, in[i]);
    map[n->in[i]] = ir_copy_node(t, ng, c, map) ? t->nodes[t->nnodes - 1]->out[0] : IR_NONE;
  }
  if (t->failed || !ir_copy_node(t, g, n, map)) goto out;
  IrVal v = t->nodes[t->nnodes - 1]->out[0];
  IrInterp *I = ir_interp_new(t);
  if (I && !ir_interp_run(I)) {
    const IrTensor *r = ir_interp_value(I, v);
    res = ir_const(ng, r->t.dtype, r->t.shape, r->data);
  }
  ir_interp_free(I);
out:
  free(map);
  ir_graph_free(t);
  return res;
}

/* Forward rewrite with identities and folding. */
static IrGraph *rewrite(IrGraph *g, const IrPassOpts *o)
{
  IrGraph *ng = ir_graph_new();
  IrVal *map = malloc((size_t)(g->nvals ? g->nvals : 1) * sizeof *map), in[64];
  if (!ng || !map) goto fail;
  ng->next_stream = g->next_stream;
  for (int i = 0; i < g->nnodes; i++) {
    const IrNode *n = g->nodes[i];
    IrVal r = IR_NONE;
    for (int j = 0; j < n->nin && j < 64; j++) in[j] = map[n->in[j]];
    if (n->nin <= 64 && n->nout == 1 && !(o && o->no_identity)) r = identity(g, ng, n, in);
    if (r == IR_NONE && n->nin <= 64 && !(o && o->no_fold) && foldable(ng, n, in, g)) r = fold(ng, g, n, in);
    if (r != IR_NONE) {
      map[n->out[0]] = r;
      continue;
    }
    IrNode *m = ir_copy_node(ng, g, n, map);
    if (!m) goto fail;
    for (int k = 0; k < n->nout; k++) map[n->out[k]] = m->out[k];
  }
  for (int i = 0; i < g->nouts; i++) ir_set_outputs(ng, 1, &map[g->outs[i]]);
  if (ng->failed) goto fail;
  free(map);
  return ng;
fail:
  if (ng && ng->failed) ir_fail(g, "simplify: %s", ng->err);
  else ir_fail(g, "simplify: out of memory");
  free(map);
  ir_graph_free(ng);
  return NULL;
}

/* Keeps the nodes reaching g->outs, plus leaves other than constants. */
static IrGraph *dce(IrGraph *g)
{
  char *live = calloc((size_t)g->nvals + 1, 1);
  IrVal *map = malloc(((size_t)g->nvals + 1) * sizeof *map);
  IrGraph *ng = ir_graph_new();
  if (!live || !map || !ng) goto fail;
  ng->next_stream = g->next_stream;
  for (int i = 0; i < g->nouts; i++) live[g->outs[i]] = 1;
  for (int i = g->nnodes - 1; i >= 0; i--) {
    const IrNode *n = g->nodes[i];
    int l = (ir_ops[n->op].flags & IR_LEAF) && n->op != OP_CONST;
    for (int k = 0; k < n->nout; k++) l |= live[n->out[k]];
    for (int k = 0; l && k < n->nout; k++) live[n->out[k]] = 1;
    for (int j = 0; l && j < n->nin; j++) live[n->in[j]] = 1;
  }
  for (int i = 0; i < g->nnodes; i++) {
    const IrNode *n = g->nodes[i];
    if (!n->nout || !live[n->out[0]]) continue;
    IrNode *m = ir_copy_node(ng, g, n, map);
    if (!m) goto fail;
    for (int k = 0; k < n->nout; k++) map[n->out[k]] = m->out[k];
  }
  for (int i = 0; i < g->nouts; i++) ir_set_outputs(ng, 1, &map[g->outs[i]]);
  if (ng->failed) goto fail;
  free(live), free(map);
  return ng;
fail:
  ir_fail(g, "dead-code elimination: %s", ng && ng->failed ? ng->err : "out of memory");
  free(live), free(map);
  ir_graph_free(ng);
  return NULL;
}

/* Simplifies the subgraphs (scan bodies, custom gradients) of g's nodes. */
static int simplify_subgraphs(IrGraph *g, const IrPassOpts *o)
{
  for (int i = 0; i < g->nnodes; i++)
    for (int s = 0; s < 2; s++) {
      IrGraph *sub = g->nodes[i]->sub[s];
      if (sub && ir_simplify(sub, o)) return ir_fail(g, "simplify (subgraph of node %d): %s", i, sub->err);
    }
  return 0;
}

int ir_simplify(IrGraph *g, const IrPassOpts *o)
{
  if (g->failed || simplify_subgraphs(g, o)) return -1;
  IrGraph *ng = rewrite(g, o);
  if (!ng) return -1;
  ir_graph_swap(g, ng);
  ir_graph_free(ng);
  if ((o && o->no_dce) || !g->nouts) return 0;
  if (!(ng = dce(g))) return -1;
  ir_graph_swap(g, ng);
  ir_graph_free(ng);
  return 0;
}

IrGraph *ir_graph_clone(const IrGraph *g)
{
  IrGraph *c = ir_subgraph_copy(g);
  if (!c || !c->nouts) return c;
  IrGraph *d = dce(c);
  ir_graph_free(c);
  return d;
}
