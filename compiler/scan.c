/* scan.c — the gradient rule of scan: backpropagation through time, kept as a loop.
 *
 * Algorithm (compiler-techniques.md §5.2; Werbos 1990 "Backpropagation through time";
 * JAX's scan transpose): the forward scan is switched to store the carry entering every
 * step (its "saved" outputs, stacked along the time axis). The backward is one more scan
 * running in the opposite direction whose body is the reverse-mode derivative of the
 * forward body: it recomputes the step from the stored carry (so no other residual is
 * kept), then applies the body's VJP.
 *
 *   backward body formals: dc[nc], dk_acc[nkf]          (carries)
 *                          c_t[nc], x_t[nx], dy_t[ny]   (per step)
 *                          ds_t[nc] when the stored carries have adjoints themselves
 *                          k[nk]                        (constants)
 *   results:               dc_t-1[nc] (+ ds_t), dk_acc + dk_t[nkf] (carries),
 *                          dx_t[nxf] (per step)
 *
 * ds_t occurs in second-order derivatives: differentiating a backward scan makes the
 * stored carries (its step inputs) receive adjoints, which join the carry adjoint.
 *
 * nkf and nxf count the floating constants and step inputs (others get no gradient). The
 * gradient of a constant is accumulated in the carry rather than stacked per step, so its
 * memory does not grow with T. Checkpointing policies (bptt_plan.c) may later replace the
 * "store every carry" choice made here.
 *
 * With g->keep_products (set by the training tracer when scan hoisting is on, never under
 * a memory budget), the forward also stacks the body's carry-dependent matmul products,
 * followed through the sums that add invariants to them (x W + h U + b: extra ys after
 * the user's), and the backward body reads them as step inputs (pr_t, after ds_t) instead
 * of recomputing them: the same values, one GEMM per step less. The recomputation then
 * keeps only the cheap elementwise part. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

typedef struct {
  int nc, nx, nk, ny, ax, rev;
  int np;  /* stored products: the last np ys of the forward body (keep_products) */
  int nkf, nxf;
  int ds; /* the stored carries have adjoints (ds_t step inputs) */
} Geo;

static Geo geo(const IrGraph *g, const IrNode *n)
{
  Geo s;
  s.nc = (int)n->attr.ints[0], s.nx = (int)n->attr.ints[1], s.nk = (int)n->attr.ints[2];
  s.ax = (int)n->attr.ints[3], s.rev = (int)n->attr.ints[4];
  s.ny = n->sub[0]->nouts - s.nc;
  s.nkf = s.nxf = s.ds = s.np = 0;
  for (int j = 0; j < s.nk; j++) s.nkf += ir_is_float(ir_type(g, n->in[s.nc + s.nx + j])->dtype);
  for (int j = 0; j < s.nx; j++) s.nxf += ir_is_float(ir_type(g, n->in[s.nc + j])->dtype);
  return s;
}

/* Makes the forward scan store its per-step carries (outputs nc+ny .. nc+ny+nc-1). */
static int ensure_saved(IrGraph *g, IrNode *n, const Geo *s)
{
  if (n->attr.ints[5]) return 0;
  IrType t[64];
  if (s->nc > 64) return ir_fail(g, "scan: too many carries");
  for (int j = 0; j < s->nc; j++) {
    t[j] = *ir_type(g, n->in[j]);
    IrShape *sh = &t[j].shape;
    if (sh->rank >= IR_MAX_RANK || s->ax > sh->rank) return ir_fail(g, "scan: carry %d cannot be stacked", j);
    for (int i = sh->rank; i > s->ax; i--) sh->dim[i] = sh->dim[i - 1];
    sh->dim[s->ax] = n->attr.ints[6]; /* T, recorded by the shape rule */
    sh->rank++;
  }
  n->attr.ints[5] = 1;
  return ir_node_add_outputs(g, n, s->nc, t);
}

/* The sum v + u (or v - u) that is v's only use, with u not depending on a carry and of
 * v's shape or broadcast to it; NULL if none. */
static const IrNode *sum_of(const IrGraph *B, IrVal v, const int *uses, const uint8_t *dep)
{
  if (uses[v] != 1) return NULL;
  for (int i = B->vals[v].node + 1; i < B->nnodes; i++) {
    const IrNode *c = B->nodes[i];
    if (c->nin != 2 || (c->in[0] != v && c->in[1] != v)) continue;
    IrVal u = c->in[0] == v ? c->in[1] : c->in[0];
    int ok = (c->op == OP_ADD || (c->op == OP_SUB && c->in[0] == v)) && u != v && !dep[u] &&
             ir_shape_eq(&B->vals[c->out[0]].t.shape, &B->vals[v].t.shape);
    return ok ? c : NULL;
  }
  return NULL;
}

/* The body's matmul products that depend on a carry, each followed through the sums
 * that only add loop invariants or step inputs to it (x W + h U + b: the pre-activation,
 * whose recomputation is then all skipped), at most cap; returns the count. */
static int pick_products(const IrGraph *B, int nc, IrVal *pr, int cap)
{
  uint8_t *dep = calloc((size_t)B->nvals + 1, 1);
  int *uses = calloc((size_t)B->nvals + 1, sizeof *uses), np = 0;
  if (!dep || !uses) return free(dep), free(uses), 0;
  for (int i = 0; i < B->nouts; i++) uses[B->outs[i]] += 2; /* a result is never folded on */
  for (int i = 0; i < B->nnodes; i++)
    for (int k = 0; k < B->nodes[i]->nin; k++) uses[B->nodes[i]->in[k]]++;
  for (int i = 0; i < B->nnodes; i++) {
    const IrNode *m = B->nodes[i];
    int d = m->op == OP_INPUT && m->attr.ints[IR_MAX_INTS - 1] > 0 && m->attr.ints[IR_MAX_INTS - 1] <= nc;
    for (int k = 0; k < m->nin; k++) d |= dep[m->in[k]];
    for (int k = 0; k < m->nout; k++) dep[m->out[k]] = (uint8_t)d;
    if (!d || m->op != OP_MATMUL || !ir_is_float(B->vals[m->out[0]].t.dtype) || np >= cap) continue;
    IrVal v = m->out[0];
    for (const IrNode *c; (c = sum_of(B, v, uses, dep));) v = c->out[0];
    int seen = 0; /* two products summed together end at one value */
    for (int j = 0; j < np; j++) seen |= pr[j] == v;
    if (!seen) pr[np++] = v;
  }
  free(dep), free(uses);
  return np;
}

/* keep_products: appends the products to the forward body's results and their stacks to
 * the scan's outputs (before the saved carries, which come later). */
static int add_products(IrGraph *g, IrNode *n, Geo *s)
{
  IrVal pr[16];
  IrType t[16];
  IrGraph *B = n->sub[0];
  int np = pick_products(B, s->nc, pr, 16);
  if (np == 0) return 0;
  for (int j = 0; j < np; j++) {
    t[j] = B->vals[pr[j]].t;
    IrShape *sh = &t[j].shape;
    if (sh->rank >= IR_MAX_RANK || s->ax > sh->rank) return 0;
    for (int i = sh->rank; i > s->ax; i--) sh->dim[i] = sh->dim[i - 1];
    sh->dim[s->ax] = n->attr.ints[6];
    sh->rank++;
  }
  if (ir_set_outputs(B, np, pr)) return ir_fail(g, "%s", ir_errmsg(B));   /* the body's message, in g */
  if (ir_node_add_outputs(g, n, np, t)) return -1;
  s->np = np;
  return 0;
}

/* bb with every use of value from[j] reading to[j] instead, and without the nodes no
 * result needs any more (the recomputed products). Frees bb. */
static IrGraph *substitute(IrGraph *g, IrGraph *bb, int n, const IrVal *from, const IrVal *to)
{
  IrGraph *nb = ir_graph_new();
  IrVal *map = malloc(((size_t)bb->nvals + 1) * sizeof *map);
  uint8_t *need = calloc((size_t)bb->nvals + 1, 1);
  if (!nb || !map || !need) goto oom;
  nb->next_stream = bb->next_stream;
  for (int i = 0; i < bb->nouts; i++) need[bb->outs[i]] = 1;
  for (int i = bb->nnodes - 1; i >= 0; i--) {
    const IrNode *m = bb->nodes[i];
    int used = m->op == OP_INPUT, cut = 0;
    for (int k = 0; k < m->nout; k++) used |= need[m->out[k]];
    for (int j = 0; j < n; j++) cut |= m->out[0] == from[j];
    for (int k = 0; used && !cut && k < m->nin; k++) need[m->in[k]] = 1;
    if (cut) for (int j = 0; j < n; j++) if (m->out[0] == from[j]) need[to[j]] = 1;
  }
  for (int i = 0; i < bb->nnodes && !nb->failed; i++) {
    const IrNode *m = bb->nodes[i];
    int j = 0, used = m->op == OP_INPUT;
    while (j < n && m->out[0] != from[j]) j++;
    if (j < n) {
      map[m->out[0]] = map[to[j]]; /* to[j] is a formal: copied before */
      continue;
    }
    for (int k = 0; k < m->nout; k++) used |= need[m->out[k]];
    if (!used) continue;
    IrNode *c = ir_copy_node(nb, bb, m, map);
    if (c && (ir_ops[m->op].flags & IR_RANDOM)) c->attr.stream = m->attr.stream;
    for (int k = 0; c && k < m->nout; k++) map[m->out[k]] = c->out[k];
  }
  for (int i = 0; i < bb->nouts && !nb->failed; i++) ir_set_outputs(nb, 1, &map[bb->outs[i]]);
  if (nb->failed) {
    ir_fail(g, "scan gradient: %s", nb->err);
    goto out;
  }
  free(map), free(need);
  ir_graph_free(bb);
  return nb;
oom:
  ir_fail(g, "out of memory");
out:
  free(map), free(need);
  ir_graph_free(nb), ir_graph_free(bb);
  return NULL;
}

/* One step's type of the stacked value v (time axis removed). */
static IrType step_type(const IrGraph *g, IrVal v, int ax)
{
  IrType t = *ir_type(g, v);
  for (int i = ax; i + 1 < t.shape.rank; i++) t.shape.dim[i] = t.shape.dim[i + 1];
  t.shape.rank--;
  return t;
}

/* Builds the backward body described at the top of this file. */
static IrGraph *backward_body(IrGraph *g, const IrNode *n, const Geo *s)
{
  const IrGraph *B = n->sub[0];
  IrGraph *bb = ir_graph_new();
  int nf = 2 * s->nc + s->nkf + s->nx + s->ny + s->nk + (s->ds ? s->nc : 0) + s->np, p = 0;
  IrVal *f = malloc((size_t)nf * sizeof *f), *res = malloc((size_t)B->nouts * sizeof *res);
  IrVal *wrt = malloc((size_t)(s->nc + s->nx + s->nk + 1) * sizeof *wrt);
  IrVal *d = malloc((size_t)(s->nc + s->nx + s->nk + 1) * sizeof *d), *outs = NULL;
  if (!bb || !f || !res || !wrt || !d) goto oom;
  const IrNode *fw = n;
  for (int j = 0; j < s->nc; j++) f[p] = ir_formal(bb, p, *ir_type(g, fw->in[j])), p++; /* dc */
  for (int j = 0; j < s->nk; j++) {
    IrVal k = fw->in[s->nc + s->nx + j];
    if (ir_is_float(ir_type(g, k)->dtype)) f[p] = ir_formal(bb, p, *ir_type(g, k)), p++; /* dk_acc */
  }
  int cbase = p;
  for (int j = 0; j < s->nc; j++) f[p] = ir_formal(bb, p, *ir_type(g, fw->in[j])), p++;           /* c_t */
  for (int j = 0; j < s->nx; j++) f[p] = ir_formal(bb, p, step_type(g, fw->in[s->nc + j], s->ax)), p++; /* x_t */
  for (int j = 0; j < s->ny; j++) f[p] = ir_formal(bb, p, B->vals[B->outs[s->nc + j]].t), p++;   /* dy_t */
  int dsbase = p;
  for (int j = 0; s->ds && j < s->nc; j++) f[p] = ir_formal(bb, p, *ir_type(g, fw->in[j])), p++; /* ds_t */
  int pbase = p;
  for (int j = 0; j < s->np; j++) f[p] = ir_formal(bb, p, B->vals[B->outs[s->nc + s->ny + j]].t), p++; /* pr_t */
  int kbase = p;
  for (int j = 0; j < s->nk; j++) f[p] = ir_formal(bb, p, *ir_type(g, fw->in[s->nc + s->nx + j])), p++; /* k */
  /* recompute the step: body(c_t, x_t, k) */
  IrVal args[256];
  if (s->nc + s->nx + s->nk > 256) goto oom;
  for (int j = 0; j < s->nc + s->nx; j++) args[j] = f[cbase + j];
  for (int j = 0; j < s->nk; j++) args[s->nc + s->nx + j] = f[kbase + j];
  if (ir_inline(bb, B, args, res)) goto fail;
  /* VJP with seeds (dc, dy_t) w.r.t. (c_t, x_t, k) */
  IrVal gseed[256];
  if (B->nouts > 256) goto oom;
  for (int j = 0; j < s->nc; j++) gseed[j] = f[j];
  for (int j = 0; j < s->ny; j++) gseed[s->nc + j] = f[cbase + s->nc + s->nx + j];
  for (int j = 0; j < s->nc + s->nx + s->nk; j++) wrt[j] = args[j];
  if (ad_vjp(bb, s->nc + s->ny, res, gseed, s->nc + s->nx + s->nk, wrt, d)) goto fail;
  /* results: dc_prev, dk_acc + dk_t, dx_t */
  outs = malloc((size_t)(s->nc + s->nkf + s->nxf + 1) * sizeof *outs);
  if (!outs) goto oom;
  int q = 0, acc = s->nc;
  for (int j = 0; j < s->nc; j++)
    outs[q++] = s->ds && ir_is_float(ir_type(bb, d[j])->dtype) ? ir_binary(bb, OP_ADD, d[j], f[dsbase + j]) : d[j];
  for (int j = 0; j < s->nk; j++)
    if (ir_is_float(ir_type(bb, args[s->nc + s->nx + j])->dtype))
      outs[q++] = ir_binary(bb, OP_ADD, f[acc++], d[s->nc + s->nx + j]);
  for (int j = 0; j < s->nx; j++)
    if (ir_is_float(ir_type(bb, args[s->nc + j])->dtype)) outs[q++] = d[s->nc + j];
  if (bb->failed || ir_set_outputs(bb, q, outs)) goto fail;
  if (s->np) { /* the recomputed products read the stored ones */
    IrVal to[16];
    for (int j = 0; j < s->np; j++) to[j] = f[pbase + j];
    IrGraph *nb = substitute(g, bb, s->np, res + s->nc + s->ny, to);
    bb = NULL;
    if (!nb) goto out;
    bb = nb;
  }
  free(f), free(res), free(wrt), free(d), free(outs);
  return bb;
oom:
  ir_fail(g, "out of memory");
  goto out;
fail:
  ir_fail(g, "scan gradient: %s", bb->err);
out:
  free(f), free(res), free(wrt), free(d), free(outs);
  ir_graph_free(bb);
  return NULL;
}

/* Inputs of the backward scan: carries (dcT, zero accumulators), step inputs (saved
 * carries, xs, dys), constants. */
static IrNode *backward_scan(IrGraph *g, const IrNode *n, const IrVal *gout, const Geo *s, IrGraph *bb)
{
  int nc2 = s->nc + s->nkf, nx2 = s->nc + s->nx + s->ny + (s->ds ? s->nc : 0) + s->np;
  IrVal init[128], xs[256], ks[128];
  if (nc2 > 128 || nx2 > 256 || s->nk > 128) {
    ir_graph_free(bb);
    ir_fail(g, "scan gradient: too many carries or inputs");
    return NULL;
  }
  for (int j = 0; j < s->nc; j++) init[j] = ir_or_zeros(g, gout[j], ir_type(g, n->out[j]));
  int q = s->nc;
  for (int j = 0; j < s->nk; j++) {
    IrVal k = n->in[s->nc + s->nx + j];
    if (ir_is_float(ir_type(g, k)->dtype)) init[q++] = ir_or_zeros(g, IR_NONE, ir_type(g, k));
    ks[j] = k;
  }
  for (int j = 0; j < s->nc; j++) xs[j] = n->out[s->nc + s->ny + s->np + j]; /* saved carries */
  for (int j = 0; j < s->nx; j++) xs[s->nc + j] = n->in[s->nc + j];
  for (int j = 0; j < s->ny; j++) xs[s->nc + s->nx + j] = ir_or_zeros(g, gout[s->nc + j], ir_type(g, n->out[s->nc + j]));
  for (int j = 0; s->ds && j < s->nc; j++) /* adjoints of the stored carries */
    xs[s->nc + s->nx + s->ny + j] = ir_or_zeros(g, gout[s->nc + s->ny + j], ir_type(g, n->out[s->nc + s->ny + j]));
  for (int j = 0; j < s->np; j++) /* the stored products */
    xs[nx2 - s->np + j] = n->out[s->nc + s->ny + j];
  return ir_scan_keep_streams(g, bb, nc2, init, nx2, xs, s->nk, ks, s->ax, !s->rev);
}

int ir_gr_scan(IrGraph *g, const IrNode *cn, const IrVal *gout, IrVal *gin)
{
  IrNode *n = g->nodes[cn->id]; /* the forward scan is changed to save its carries */
  Geo s = geo(g, n);
  for (int j = 0; n->attr.ints[5] && j < s.nc; j++) s.ds |= gout[s.nc + s.ny + j] != IR_NONE;
  if (g->keep_products && !n->attr.ints[5] && add_products(g, n, &s)) return -1;
  if (ensure_saved(g, n, &s)) return -1;
  IrGraph *bb = backward_body(g, n, &s);
  if (!bb) return -1;
  IrNode *b = backward_scan(g, n, gout, &s, bb);
  if (!b) return -1;
  for (int j = 0; j < s.nc; j++) gin[j] = b->out[j];
  int acc = s.nc, dx = s.nc + s.nkf;
  for (int j = 0; j < s.nk; j++) {
    IrVal k = n->in[s.nc + s.nx + j];
    gin[s.nc + s.nx + j] = ir_is_float(ir_type(g, k)->dtype) ? b->out[acc++] : IR_NONE;
  }
  for (int j = 0; j < s.nx; j++) {
    IrVal x = n->in[s.nc + j];
    gin[s.nc + j] = ir_is_float(ir_type(g, x)->dtype) ? b->out[dx++] : IR_NONE;
  }
  return g->failed ? -1 : 0;
}
