/* scan_hoist.c — hoists a scan's per-step input computations out of its recurrence.
 *
 * Algorithm (loop-invariant code motion generalized to "time-invariant" code: the input
 * projection of an RNN, as cuDNN and PyTorch compute x W_ih for all steps at once). Each
 * value of a scan body is classed
 *
 *   INV   depends only on the constants (loop invariants) and literal constants;
 *   STEP  depends on the step inputs x_t and invariants only, through ops that batch over
 *         the time axis (elementwise/broadcast ops whose per-step operands have the result's
 *         rank, and 2-D matmul x_t [M, K] @ k [K, N]);
 *   REC   anything else: depends on a carry, draws random numbers, or does not batch.
 *
 * The STEP values that a REC node or a body result uses are the cut: they are computed
 * before the scan for all T at once (a matmul of [M, K] per step becomes one matmul of
 * [T*M, K] by flattening the stacked operand) and enter the new body as step inputs.
 * The new body keeps the REC and INV nodes it needs, and only the constants and step
 * inputs still used. The pass runs before autodiff, so the gradient of the hoisted
 * matmul is also one big GEMM each for dW (x^T dpre) and dx (dpre W^T) after the reverse
 * scan, instead of T small ones inside it.
 *
 * Same arithmetic per element as before (each output element of the big GEMM is the same
 * dot product), so results agree with the pass off up to the GEMM's blocking order.
 * Scans already differentiated (saved carries) and scans without step inputs are left
 * alone; nested scans inside a body are not visited.
 *
 * ir_scan_pretranspose, run after autodiff, is the same kind of motion for weights: a
 * body's matmul by the transpose of a constant (h @ Wh^T) makes the GEMM pack that
 * transpose on every step (libnnrt reads a plain B in place). The transpose is computed
 * once before the scan and enters the body as a new constant. It also drops the step
 * inputs a body no longer reads (a reverse scan that reads stored products instead of
 * recomputing from x_t), which the lowering would otherwise copy on every step. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

enum { V_INV, V_STEP, V_REC };

typedef struct Hoist {
  const IrGraph *b;   /* the body */
  const IrNode *n;    /* the scan */
  int nc, nx, nk, ax;
  uint8_t *cls;       /* [b->nvals] V_* */
  uint8_t *cut;       /* [b->nvals] STEP value computed outside, a step input of the new body */
  uint8_t *need;      /* [b->nvals] kept in the new body */
  uint8_t *hneed;     /* [b->nvals] computed outside (feeds a cut value) */
  IrVal *outer;       /* [b->nvals] its value in the new outer graph (stacked for STEP) */
} Hoist;

static int formal_pos(const IrNode *n) { return n->op == OP_INPUT ? (int)n->attr.ints[IR_MAX_INTS - 1] - 1 : -1; }

/* Does STEP-fed node m batch over the time axis (see the note at the top)? */
static int batchable(const Hoist *h, const IrNode *m)
{
  const IrGraph *b = h->b;
  if (m->nout != 1 || (ir_ops[m->op].flags & IR_RANDOM) || m->sub[0]) return 0;
  int R = ir_type(b, m->out[0])->shape.rank;
  if (R + 1 > IR_MAX_RANK || h->ax > R) return 0;
  if (m->op == OP_MATMUL)
    return h->cls[m->in[0]] == V_STEP && h->cls[m->in[1]] == V_INV && m->attr.ints[0] == 0 && R == 2 &&
           ir_type(b, m->in[0])->shape.rank == 2 && ir_type(b, m->in[1])->shape.rank == 2 && h->ax <= 1;
  IrKind k = ir_ops[m->op].kind;
  if ((k != IR_ELEMWISE && k != IR_BROADCAST) || ir_ops[m->op].scalar == SC_NONE) return 0;
  for (int i = 0; i < m->nin; i++)
    if (h->cls[m->in[i]] == V_STEP && ir_type(b, m->in[i])->shape.rank != R) return 0;
  return 1;
}

/* Classes every body value; returns the number of STEP values that are not formals. */
static int classify(Hoist *h)
{
  const IrGraph *b = h->b;
  int nlift = 0;
  for (int i = 0; i < b->nnodes; i++) {
    const IrNode *m = b->nodes[i];
    int pos = formal_pos(m), c = V_INV;
    if (pos >= 0) c = pos < h->nc ? V_REC : pos < h->nc + h->nx ? V_STEP : V_INV;
    else if (ir_ops[m->op].flags & IR_LEAF) c = m->op == OP_CONST ? V_INV : V_REC;
    else if ((ir_ops[m->op].flags & IR_RANDOM) || m->sub[0]) c = V_REC;
    else {
      for (int k = 0; k < m->nin; k++) c = h->cls[m->in[k]] > c ? h->cls[m->in[k]] : c;
      if (c == V_STEP && !batchable(h, m)) c = V_REC;
      nlift += c == V_STEP;
    }
    for (int k = 0; k < m->nout; k++) h->cls[m->out[k]] = (uint8_t)c;
  }
  return nlift;
}

/* Marks the cut, what the new body keeps (need) and what is computed outside (hneed).
 * Returns the number of cut values that are not formals. */
static int mark(Hoist *h)
{
  const IrGraph *b = h->b;
  int ncut = 0;
  for (int i = 0; i < b->nouts; i++) h->need[b->outs[i]] = 1;
  for (int i = b->nnodes - 1; i >= 0; i--) { /* consumers come after producers */
    const IrNode *m = b->nodes[i];
    int used = 0, hused = 0;
    for (int k = 0; k < m->nout; k++) used |= h->need[m->out[k]], hused |= h->hneed[m->out[k]];
    if (used && h->cls[m->out[0]] == V_STEP && formal_pos(m) < 0) { /* the body reads it: cut */
      h->cut[m->out[0]] = 1, h->need[m->out[0]] = 0, h->hneed[m->out[0]] = 1, hused = 1, used = 0;
      ncut++;
    }
    for (int k = 0; k < m->nin; k++) {
      if (used) h->need[m->in[k]] = 1;
      if (hused) h->hneed[m->in[k]] = 1;
    }
  }
  return ncut;
}

/* Invariant v (outer value, rank r) aligned to broadcast against a stacked value of rank
 * R + 1 whose time axis is ax: a 1 is inserted at ax when v reaches over it. */
static IrVal align(IrGraph *g, IrVal v, int R, int ax)
{
  IrShape s = ir_type(g, v)->shape, t = {.rank = R + 1};
  if (s.rank == 0 || s.rank <= R - ax) return v;
  for (int i = 0, j = 0; i <= R; i++) t.dim[i] = i == ax ? 1 : i < R - s.rank + (i > ax) ? 1 : s.dim[j++];
  return ir_reshape(g, v, t);
}

/* The stacked value of STEP node m, built in g from its inputs' outer values. */
static IrVal lift(Hoist *h, IrGraph *g, const IrNode *m)
{
  const IrGraph *b = h->b;
  int R = ir_type(b, m->out[0])->shape.rank;
  if (m->op == OP_MATMUL) { /* [.., T, .., K] -> [T*M, K] @ k -> [.., T, .., N] */
    IrVal a = h->outer[m->in[0]];
    IrShape as = ir_type(g, a)->shape, os = as;
    int64_t K = as.dim[as.rank - 1];
    IrVal a2 = ir_reshape(g, a, ir_shape(2, (const int64_t[]){ir_numel(&as) / K, K}));
    IrVal p = ir_matmul(g, a2, h->outer[m->in[1]], 0, (int)m->attr.ints[1]);
    if (p == IR_NONE) return IR_NONE;
    os.dim[os.rank - 1] = ir_type(g, p)->shape.dim[1];
    return ir_reshape(g, p, os);
  }
  IrVal in[8];
  if (m->nin > 8) return ir_fail(g, "scan hoist: %s has too many inputs", ir_ops[m->op].name), IR_NONE;
  for (int k = 0; k < m->nin; k++)
    in[k] = h->cls[m->in[k]] == V_STEP ? h->outer[m->in[k]] : align(g, h->outer[m->in[k]], R, h->ax);
  return ir_add(g, m->op, m->nin, in, &m->attr);
}

/* Builds in g the outer values of every hneed body value (map: g's old values -> new). */
static int build_outer(Hoist *h, IrGraph *g, const IrVal *map)
{
  const IrGraph *b = h->b;
  for (int i = 0; i < b->nnodes && !g->failed; i++) {
    const IrNode *m = b->nodes[i];
    if (!h->hneed[m->out[0]]) continue;
    int pos = formal_pos(m);
    if (pos >= 0) h->outer[m->out[0]] = map[h->n->in[pos]]; /* x (stacked) or k */
    else if (h->cls[m->out[0]] == V_STEP) h->outer[m->out[0]] = lift(h, g, m);
    else {
      IrNode *c = ir_copy_node(g, b, m, h->outer);
      for (int k = 0; c && k < m->nout; k++) h->outer[m->out[k]] = c->out[k];
    }
  }
  return g->failed ? -1 : 0;
}

/* The new body: formals (carries, kept step inputs, cut values, kept constants), then the
 * needed nodes. xs/ks get the outer values feeding the new step inputs and constants. */
static IrGraph *new_body(Hoist *h, IrGraph *g, const IrVal *map, IrVal *xs, int *nx, IrVal *ks, int *nk)
{
  const IrGraph *b = h->b;
  IrGraph *nb = ir_graph_new();
  IrVal *bm = malloc((size_t)(b->nvals ? b->nvals : 1) * sizeof *bm);
  if (!nb || !bm) goto fail;
  nb->next_stream = b->next_stream;
  int p = 0;
  for (int j = 0; j < h->nc; j++) /* carries keep their positions */
    for (int i = 0; i < b->nnodes; i++)
      if (formal_pos(b->nodes[i]) == j) bm[b->nodes[i]->out[0]] = ir_formal(nb, j, *ir_type(b, b->nodes[i]->out[0]));
  p = h->nc, *nx = *nk = 0;
  for (int pass = 0; pass < 3; pass++) /* kept x formals, cut values, kept k formals */
    for (int i = 0; i < b->nnodes; i++) {
      const IrNode *m = b->nodes[i];
      IrVal v = m->out[0];
      int pos = formal_pos(m);
      int take = pass == 0 ? pos >= h->nc && pos < h->nc + h->nx && h->need[v]
               : pass == 1 ? h->cut[v]
                           : pos >= h->nc + h->nx && h->need[v];
      if (!take) continue;
      bm[v] = ir_formal(nb, p++, *ir_type(b, v));
      if (pass < 2) xs[(*nx)++] = pass == 0 ? map[h->n->in[pos]] : h->outer[v];
      else ks[(*nk)++] = map[h->n->in[pos]];
    }
  for (int i = 0; i < b->nnodes && !nb->failed; i++) {
    const IrNode *m = b->nodes[i];
    if (formal_pos(m) >= 0 || !h->need[m->out[0]] || h->cut[m->out[0]]) continue;
    IrNode *c = ir_copy_node(nb, b, m, bm);
    if (c && (ir_ops[m->op].flags & IR_RANDOM)) c->attr.stream = m->attr.stream;
    for (int k = 0; c && k < m->nout; k++) bm[m->out[k]] = c->out[k];
  }
  for (int i = 0; i < b->nouts && !nb->failed; i++) ir_set_outputs(nb, 1, &bm[b->outs[i]]);
  if (nb->failed) {
    ir_fail(g, "scan hoist: %s", nb->err);
    goto out;
  }
  free(bm);
  return nb;
fail:
  ir_fail(g, "out of memory");
out:
  free(bm);
  ir_graph_free(nb);
  return NULL;
}

static void hoist_free(Hoist *h)
{
  free(h->cls), free(h->cut), free(h->need), free(h->hneed), free(h->outer);
}

/* Plans the hoist of scan n: 1 when something is hoisted, 0 when not, -1 out of memory. */
static int plan(Hoist *h, const IrNode *n)
{
  memset(h, 0, sizeof *h);
  if (n->op != OP_SCAN || n->attr.ints[5] || n->attr.ints[1] == 0) return 0;
  h->n = n, h->b = n->sub[0];
  h->nc = (int)n->attr.ints[0], h->nx = (int)n->attr.ints[1], h->nk = (int)n->attr.ints[2];
  h->ax = (int)n->attr.ints[3];
  size_t nv = (size_t)h->b->nvals + 1;
  h->cls = calloc(nv, 1), h->cut = calloc(nv, 1), h->need = calloc(nv, 1), h->hneed = calloc(nv, 1);
  h->outer = malloc(nv * sizeof *h->outer);
  if (!h->cls || !h->cut || !h->need || !h->hneed || !h->outer) return hoist_free(h), -1;
  if (classify(h) == 0 || mark(h) == 0) return hoist_free(h), 0;
  return 1;
}

/* Copies scan n into g with its step computations hoisted (plan h); maps its outputs. */
static int emit(Hoist *h, IrGraph *g, IrVal *map)
{
  const IrNode *n = h->n;
  int nin = n->nin + h->b->nvals;
  IrVal *xs = malloc((size_t)nin * sizeof *xs), *ks = malloc((size_t)nin * sizeof *ks);
  IrVal *init = malloc((size_t)(h->nc + 1) * sizeof *init);
  int nx = 0, nk = 0, rc = -1;
  if (!xs || !ks || !init) {
    ir_fail(g, "out of memory");
    goto out;
  }
  for (int j = 0; j < h->nc; j++) init[j] = map[n->in[j]];
  if (build_outer(h, g, map)) goto out;
  IrGraph *nb = new_body(h, g, map, xs, &nx, ks, &nk);
  if (!nb) goto out;
  IrNode *s = ir_scan_keep_streams(g, nb, h->nc, init, nx, xs, nk, ks, h->ax, (int)n->attr.ints[4]);
  if (!s || s->nout != n->nout) {
    if (s) ir_fail(g, "scan hoist: the new scan has %d outputs, not %d", s->nout, n->nout);
    goto out;
  }
  for (int k = 0; k < n->nout; k++) map[n->out[k]] = s->out[k];
  rc = 0;
out:
  free(xs), free(ks), free(init);
  return rc;
}

/* Rewrites scan n into ng: 1 when it did, 0 to have it copied as is, -1 on failure. */
typedef int (*rewrite_fn)(IrGraph *ng, const IrGraph *g, const IrNode *n, IrVal *map);

/* Rebuilds g node by node through rw (see ir_scan_hoist for vmap, origin, nchanged). */
static int rebuild(IrGraph *g, rewrite_fn rw, IrVal *vmap, int **origin, int *nchanged)
{
  int nh = 0, n0 = g->nnodes, cap = n0 * 8 + 16;
  if (origin) *origin = NULL;
  if (nchanged) *nchanged = 0;
  if (g->failed) return -1;
  IrGraph *ng = ir_graph_new();
  IrVal *map = malloc(((size_t)g->nvals + 1) * sizeof *map);
  int *org = malloc((size_t)cap * sizeof *org);
  if (!ng || !map || !org) goto oom;
  ng->next_stream = g->next_stream;
  for (int i = 0; i < n0 && !ng->failed; i++) {
    const IrNode *n = g->nodes[i];
    int first = ng->nnodes, rc = rw(ng, g, n, map);
    if (rc < 0 && !ng->failed) ir_fail(ng, "scan %d could not be rewritten", i);
    if (rc < 0) break;
    nh += rc;
    if (rc == 0) {
      IrNode *m = ir_copy_node(ng, g, n, map);
      for (int k = 0; m && k < n->nout; k++) map[n->out[k]] = m->out[k];
    }
    if (ng->nnodes > cap) {
      int *o = realloc(org, (size_t)(cap = ng->nnodes * 2) * sizeof *org);
      if (!o) goto oom;
      org = o;
    }
    for (int k = first; k < ng->nnodes; k++) org[k] = i;
  }
  for (int i = 0; i < g->nouts && !ng->failed; i++) ir_set_outputs(ng, 1, &map[g->outs[i]]);
  if (ng->failed || g->failed) {
    if (!g->failed) ir_fail(g, "%s", ng->err);
    goto out;
  }
  if (vmap) memcpy(vmap, map, (size_t)g->nvals * sizeof *map);
  ir_graph_swap(g, ng);
  ir_graph_free(ng);
  free(map);
  if (origin) *origin = org;
  else free(org);
  if (nchanged) *nchanged = nh;
  return 0;
oom:
  ir_fail(g, "out of memory");
out:
  ir_graph_free(ng);
  free(map), free(org);
  return -1;
}

static int hoist_rewrite(IrGraph *ng, const IrGraph *g, const IrNode *n, IrVal *map)
{
  Hoist h;
  int p = plan(&h, n);
  if (p < 0) return ir_fail(ng, "out of memory");
  if (p == 0) return 0;
  int rc = emit(&h, ng, map);
  hoist_free(&h);
  return rc ? -1 : 1;
}

int ir_scan_hoist(IrGraph *g, IrVal *vmap, int **origin, int *nhoisted)
{
  return rebuild(g, hoist_rewrite, vmap, origin, nhoisted);
}

/* ------------------------------------------------------ pre-transposed weights ---- */

/* Is body value v, used as matmul m's B operand, the transpose of constant formal (k >= 0)?
 * Returns that formal's position, or -1. */
static int transposed_const(const IrGraph *b, const IrNode *m, int nfirst_k)
{
  if (m->op != OP_MATMUL || ir_type(b, m->in[1])->shape.rank != 2 || ir_type(b, m->out[0])->shape.rank != 2)
    return -1;
  const IrNode *p = ir_producer(b, m->in[1]);
  if (!m->attr.ints[1] && p->op == OP_TRANSPOSE && p->attr.ints[0] == 1) p = ir_producer(b, p->in[0]);
  else if (!m->attr.ints[1]) return -1;
  int pos = formal_pos(p);
  return pos >= nfirst_k ? pos : -1;
}

/* Marks in drop[] (nx entries) the step inputs scan n's body does not read, unless that
 * is all of them (the length comes from them); returns how many. */
static int unused_inputs(const IrNode *n, uint8_t *drop)
{
  const IrGraph *b = n->sub[0];
  int nc = (int)n->attr.ints[0], nx = (int)n->attr.ints[1], nd = 0;
  for (int j = 0; j < nx; j++) drop[j] = 1;
  for (int i = 0; i < b->nnodes; i++) {
    int pos = formal_pos(b->nodes[i]);
    if (pos < nc || pos >= nc + nx) continue;
    IrVal v = b->nodes[i]->out[0];
    for (int k = 0; k < b->nouts; k++) drop[pos - nc] &= b->outs[k] != v;
    for (int m = i + 1; m < b->nnodes && drop[pos - nc]; m++)
      for (int k = 0; k < b->nodes[m]->nin; k++) drop[pos - nc] &= b->nodes[m]->in[k] != v;
  }
  for (int j = 0; j < nx; j++) nd += drop[j];
  if (nd == nx) memset(drop, 0, (size_t)nx), nd = 0;
  return nd;
}

/* The formal positions of the constants scan n's body multiplies by transposed; count. */
static int pretranspose_plan(const IrNode *n, int *pos, int cap)
{
  if (n->op != OP_SCAN) return 0;
  const IrGraph *b = n->sub[0];
  int k0 = (int)(n->attr.ints[0] + n->attr.ints[1]), np = 0;
  for (int i = 0; i < b->nnodes; i++) {
    int q = transposed_const(b, b->nodes[i], k0), seen = 0;
    for (int j = 0; j < np; j++) seen |= pos[j] == q;
    if (q >= 0 && !seen && np < cap && ir_is_float(ir_type(b, b->nodes[i]->in[1])->dtype)) pos[np++] = q;
  }
  return np;
}

/* Which pretransposed constant (index into pos) matmul m multiplies by, or -1. */
static int pt_index(const IrGraph *b, const IrNode *m, int k0, const int *pos, int np)
{
  int q = transposed_const(b, m, k0);
  for (int j = 0; q >= 0 && j < np; j++)
    if (pos[j] == q) return j;
  return -1;
}

/* The body of n with formals nin + j holding transpose(constant pos[j]): every matmul by
 * such a transpose reads the new formal untransposed; transposes left unused go. */
static IrGraph *pretranspose_body(IrGraph *g, const IrNode *n, const int *pos, int np, const uint8_t *drop)
{
  const IrGraph *b = n->sub[0];
  IrGraph *nb = ir_graph_new();
  IrVal *bm = malloc((size_t)(b->nvals ? b->nvals : 1) * sizeof *bm), kt[16];
  int *uses = calloc((size_t)b->nvals + 1, sizeof *uses);
  int nc = (int)n->attr.ints[0], k0 = (int)(n->attr.ints[0] + n->attr.ints[1]), nd = 0;
  for (int j = 0; j < k0 - nc; j++) nd += drop[j];
  if (!nb || !bm || !uses) {
    ir_fail(g, "out of memory");
    free(bm), free(uses), ir_graph_free(nb);
    return NULL;
  }
  nb->next_stream = b->next_stream;
  for (int i = 0; i < b->nouts; i++) uses[b->outs[i]]++;
  for (int i = 0; i < b->nnodes; i++) { /* uses that stay */
    int j = pt_index(b, b->nodes[i], k0, pos, np);
    for (int k = 0; k < b->nodes[i]->nin; k++) uses[b->nodes[i]->in[k]] += j < 0 || k != 1;
  }
  for (int j = 0; j < np; j++) {
    IrType t = {IR_F32, {0}};
    for (int i = 0; i < b->nnodes; i++)
      if (formal_pos(b->nodes[i]) == pos[j]) t = *ir_type(b, b->nodes[i]->out[0]);
    int64_t r = t.shape.dim[0];
    t.shape.dim[0] = t.shape.dim[1], t.shape.dim[1] = r;
    kt[j] = ir_formal(nb, n->nin - nd + j, t);
  }
  for (int i = 0; i < b->nnodes && !nb->failed; i++) {
    const IrNode *m = b->nodes[i];
    int j = pt_index(b, m, k0, pos, np), q = formal_pos(m);
    if (q >= nc) { /* step inputs after a dropped one, and constants, move down */
      int shift = 0;
      for (int x = 0; x < k0 - nc && x < q - nc; x++) shift += drop[x];
      if (q < k0 && drop[q - nc]) continue;
      bm[m->out[0]] = ir_formal(nb, q - shift, *ir_type(b, m->out[0]));
      continue;
    }
    if (j >= 0) { /* matmul(a, k') with k' = transpose(k) outside */
      bm[m->out[0]] = ir_matmul(nb, bm[m->in[0]], kt[j], (int)m->attr.ints[0], 0);
      continue;
    }
    if (m->op == OP_TRANSPOSE && !uses[m->out[0]]) continue;
    IrNode *c = ir_copy_node(nb, b, m, bm);
    if (c && (ir_ops[m->op].flags & IR_RANDOM)) c->attr.stream = m->attr.stream;
    for (int k = 0; c && k < m->nout; k++) bm[m->out[k]] = c->out[k];
  }
  for (int i = 0; i < b->nouts && !nb->failed; i++) ir_set_outputs(nb, 1, &bm[b->outs[i]]);
  free(bm), free(uses);
  if (nb->failed) {
    ir_fail(g, "scan pretranspose: %s", nb->err);
    ir_graph_free(nb);
    return NULL;
  }
  return nb;
}

/* Copies scan n into g with np more constants, transpose(constant pos[j]) each, and
 * without the step inputs drop[] marks. */
static int pretranspose_emit(IrGraph *g, const IrGraph *og, const IrNode *n, const int *pos, int np,
                             const uint8_t *drop, IrVal *map)
{
  IrGraph *nb = pretranspose_body(g, n, pos, np, drop);
  IrVal *in = malloc((size_t)(n->nin + np) * sizeof *in);
  if (!nb || !in) {
    if (nb) ir_fail(g, "out of memory");
    ir_graph_free(nb), free(in);
    return -1;
  }
  int nc = (int)n->attr.ints[0], nx = (int)n->attr.ints[1], nk = (int)n->attr.ints[2] + np, q = 0;
  for (int k = 0; k < n->nin; k++)
    if (k < nc || k >= nc + nx || !drop[k - nc]) in[q++] = map[n->in[k]];
  for (int j = 0; j < np; j++) in[q++] = ir_transpose(g, map[n->in[pos[j]]], (int[]){1, 0});
  nx = q - nc - nk;
  IrNode *s = ir_scan_keep_streams(g, nb, nc, in, nx, in + nc, nk, in + nc + nx, (int)n->attr.ints[3],
                                   (int)n->attr.ints[4]);
  free(in);
  if (!s) return -1;
  if (n->nout > s->nout) { /* the saved carries autodiff added (scan.c, ensure_saved) */
    IrType t[64];
    int extra = n->nout - s->nout;
    if (extra > 64) return ir_fail(g, "scan pretranspose: too many outputs");
    for (int k = 0; k < extra; k++) t[k] = *ir_type(og, n->out[s->nout + k]);
    s->attr.ints[5] = n->attr.ints[5];
    if (ir_node_add_outputs(g, s, extra, t)) return -1;
  }
  for (int k = 0; k < n->nout; k++) map[n->out[k]] = s->out[k];
  return 0;
}

static int pretranspose_rewrite(IrGraph *ng, const IrGraph *g, const IrNode *n, IrVal *map)
{
  int pos[16], np = pretranspose_plan(n, pos, 16), nd = 0, rc;
  if (n->op != OP_SCAN || n->attr.ints[1] == 0) return 0; /* ir_scan_len: its length is an attribute */
  uint8_t *drop = calloc((size_t)n->attr.ints[1], 1);
  if (!drop) return ir_fail(ng, "out of memory");
  nd = unused_inputs(n, drop);
  rc = np + nd == 0 ? 0 : pretranspose_emit(ng, g, n, pos, np, drop, map) ? -1 : 1;
  free(drop);
  return rc;
}

int ir_scan_pretranspose(IrGraph *g, IrVal *vmap, int **origin, int *nscans)
{
  return rebuild(g, pretranspose_rewrite, vmap, origin, nscans);
}
