/* verify.c — the IR verifier, run after every pass in test builds. It checks: SSA order
 * (each input is produced by an earlier node), the value table (each output points back
 * at its node), arity, constant payloads, and that re-running every op's shape rule gives
 * the stored output types; subgraphs (scan bodies, custom_grad) are verified recursively.
 * Messages name the pass that ran last: "after cse: %7 = add %3, %9: input %9 is defined
 * later (SSA order)". */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

typedef struct {
  const char *pass;
  char *msg;
  size_t cap;
} Ctx;

static int bad(Ctx *c, const IrGraph *g, const IrNode *n, const char *what, long long v)
{
  char ts[96] = "";
  if (n && n->nout) ir_type_str(&g->vals[n->out[0]].t, ts, sizeof ts);
  snprintf(c->msg, c->cap, "after %s: node %d (%s%s%s): %s %lld", c->pass, n ? n->id : -1,
           n ? ir_ops[n->op].name : "graph", ts[0] ? " : " : "", ts, what, v);
  return -1;
}

static int check_links(Ctx *c, const IrGraph *g, const IrNode *n, int pos)
{
  if ((unsigned)n->op >= OP_NOPS) return bad(c, g, NULL, "unknown op", n->op);
  if (n->id != pos) return bad(c, g, n, "node id differs from its position", pos);
  int ar = ir_ops[n->op].arity;
  if (ar >= 0 && n->nin != ar) return bad(c, g, n, "wrong number of inputs:", n->nin);
  for (int i = 0; i < n->nin; i++) {
    IrVal v = n->in[i];
    if (v < 0 || v >= g->nvals) return bad(c, g, n, "input is not a value:", v);
    if (g->vals[v].node >= pos) return bad(c, g, n, "input defined later (SSA order): %", v);
  }
  for (int k = 0; k < n->nout; k++) {
    IrVal v = n->out[k];
    if (v < 0 || v >= g->nvals || g->vals[v].node != pos || g->vals[v].idx != k)
      return bad(c, g, n, "output does not point back at its node: %", v);
  }
  if (n->op == OP_CONST && n->ncdata != 1 && n->ncdata != ir_numel(&g->vals[n->out[0]].t.shape))
    return bad(c, g, n, "constant payload size", n->ncdata);
  return 0;
}

/* Re-runs the shape rule and compares; the graph's types and error state are restored. */
static int check_types(Ctx *c, const IrGraph *cg, const IrNode *cn)
{
  IrGraph *g = (IrGraph *)cg;
  IrNode *n = (IrNode *)cn;
  IrType saved[64];
  if (n->nout > 64) return bad(c, g, n, "too many outputs", n->nout);
  for (int k = 0; k < n->nout; k++) saved[k] = g->vals[n->out[k]].t;
  int failed = g->failed;
  char err[sizeof g->err];
  memcpy(err, g->err, sizeof err);
  g->failed = 0;
  int rc = ir_ops[n->op].shape(g, n), mismatch = -1;
  char why[sizeof g->err];
  memcpy(why, g->err, sizeof why);
  for (int k = 0; !rc && k < n->nout; k++) {
    const IrType *t = &g->vals[n->out[k]].t;
    if (t->dtype != saved[k].dtype || !ir_shape_eq(&t->shape, &saved[k].shape)) mismatch = k;
  }
  for (int k = 0; k < n->nout; k++) g->vals[n->out[k]].t = saved[k];
  g->failed = failed;
  memcpy(g->err, err, sizeof err);
  if (rc) {
    snprintf(c->msg, c->cap, "after %s: node %d (%s): shape rule fails: %s", c->pass, n->id,
             ir_ops[n->op].name, why);
    return -1;
  }
  if (mismatch >= 0) return bad(c, g, n, "stored type differs from the shape rule for output", mismatch);
  return 0;
}

/* A leaf's stored type must be the one its attributes record (dtype, ints = shape). */
static int check_leaf(Ctx *c, const IrGraph *g, const IrNode *n)
{
  const IrType *t = &g->vals[n->out[0]].t;
  IrShape s = ir_shape(n->attr.nint, n->attr.ints);
  if (n->nout != 1 || t->dtype != n->attr.dtype || n->attr.nint > IR_MAX_RANK || !ir_shape_eq(&s, &t->shape))
    return bad(c, g, n, "leaf type differs from its attributes; rank", n->attr.nint);
  return 0;
}

static int verify_graph(Ctx *c, const IrGraph *g)
{
  for (int i = 0; i < g->nnodes; i++) {
    const IrNode *n = g->nodes[i];
    if (check_links(c, g, n, i)) return -1;
    for (int s = 0; s < 2; s++)
      if (n->sub[s] && verify_graph(c, n->sub[s])) return -1;
    if (ir_ops[n->op].flags & IR_LEAF ? check_leaf(c, g, n) : check_types(c, g, n)) return -1;
  }
  for (int i = 0; i < g->nouts; i++)
    if (g->outs[i] < 0 || g->outs[i] >= g->nvals) return bad(c, g, NULL, "result is not a value:", g->outs[i]);
  return 0;
}

int ir_verify(const IrGraph *g, const char *after_pass, char *msg, size_t cap)
{
  Ctx c = {after_pass ? after_pass : "build", msg, cap};
  if (cap) msg[0] = 0;
  return verify_graph(&c, g);
}
