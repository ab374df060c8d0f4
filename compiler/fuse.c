/* fuse.c — operator fusion for the lowering: which values are never stored, which nodes
 * share a loop nest, which matmuls absorb transposes and a bias/relu epilogue; and the
 * expression builder the lowering rules call instead of loading a fused value.
 *
 * Algorithm (after TVM's FuseOps pattern kinds and XLA's instruction fusion, as summarized
 * in shared/notes/compiler-techniques.md §2.6, simplified to one pass in node order):
 *   1. GEMM epilogues (TVM kOutEWiseFusable): a 2-D matmul taken by nnrt_sgemm whose only
 *      use is add(., bias[N]), optionally followed by relu as that add's only use, is one
 *      nnrt_sgemm_ex call writing the last value. A matmul whose only use is a transpose
 *      of its two dims writes the transpose directly ((AB)^T = B^T A^T); a transpose of
 *      the last two dims feeding only matmuls is never stored (the operand flag flips).
 *   2. Inlining (ELEM/BCAST into their consumers): an elementwise value that is not a
 *      graph result, whose consumers are elementwise over the same shape or plain
 *      reductions (sum mean max min prod: the reduction absorbs it), is an expression in
 *      its consumers. With more than one use it is recomputed per use, so only cheap
 *      expressions (XLA's rule: no exp/log/tanh/div... duplicated) are inlined there.
 *      Split parts and slices read by such consumers are loads of the whole.
 *   3. Multi-output groups: consecutive stored elementwise nodes over one shape (inline
 *      nodes may sit between them) form one loop nest with one store per value used
 *      outside it; later members use earlier members' expressions (an LSTM cell's c and
 *      h). A concat of such values is stored in place by their nest.
 *   4. Scan bodies: carry j = add(carry formal j, matmul) accumulates onto the carry.
 *   5. Convolution epilogues: conv2d + bias[C, 1, 1] (+ relu) is one nnrt_conv2d_fwd_ex
 *      call, the bias and relu applied per GEMM tile, as in 1.
 * Random ops, scans and calls stay opaque. */
#include "fuse.h"

#include <stdlib.h>
#include <string.h>

static lower_options g_opts;

void lower_set_options(const lower_options *o) { g_opts = *o; }
const lower_options *lower_get_options(void) { return &g_opts; }

/* ------------------------------------------------------------ analysis ---- */

enum { MAX_GROUP = 24, CHEAP_COST = 3 };

static int is_ew_op(const IrNode *n) {
  return lower_rule(n->op) == NULL && ir_ops[n->op].scalar != SC_NONE && n->nout == 1 && n->nin <= 3 &&
         (ir_ops[n->op].kind == IR_ELEMWISE || ir_ops[n->op].kind == IR_BROADCAST) &&
         !(ir_ops[n->op].flags & IR_RANDOM);
}

static int is_plain_reduce(IrOp op) {
  return op == OP_SUM || op == OP_MEAN || op == OP_MAX || op == OP_MIN || op == OP_PROD;
}

/* Transcendental and division opcodes are worth a buffer rather than a recomputation. */
static int op_cost(const IrNode *n) {
  switch (ir_ops[n->op].scalar) {
  case SC_EXP: case SC_LOG: case SC_TANH: case SC_SIGMOID: case SC_DIV: case SC_SQRT:
  case SC_POW: case SC_SOFTPLUS: return 8;
  default: return 1;
  }
}

static const IrShape *shape_of(const IrGraph *g, IrVal v) { return &ir_type(g, v)->shape; }

/* Is n a transpose swapping the last two dims (all others in place)? */
static int swaps_last_two(const IrGraph *g, const IrNode *n) {
  if (n->op != OP_TRANSPOSE)
    return 0;
  int r = shape_of(g, n->out[0])->rank;
  if (r < 2)
    return 0;
  for (int d = 0; d < r - 2; d++)
    if (n->attr.ints[d] != d)
      return 0;
  return n->attr.ints[r - 2] == r - 1 && n->attr.ints[r - 1] == r - 2;
}

typedef struct users {
  int *first;   /* [nvals] the consumer node of a value's first use */
  uint8_t *out; /* [nvals] graph result */
} users;

/* The node using v, when it has exactly one use and is not a result; else NULL. */
static const IrNode *only_user(const IrGraph *g, const fuse_info *fz, const users *u, IrVal v) {
  if (fz->uses[v] != 1 || u->out[v] || u->first[v] < 0)
    return NULL;
  return g->nodes[u->first[v]];
}

/* A bias add on a [M, N] matmul result m: the other operand is f32 [N] or [1, N]. */
static IrVal bias_of(const IrGraph *g, const IrNode *a, IrVal m) {
  if (a->op != OP_ADD || a->nin != 2 || !ir_shape_eq(shape_of(g, a->out[0]), shape_of(g, m)))
    return -1;
  IrVal b = a->in[0] == m ? a->in[1] : a->in[0];
  /* with one row, another product [1, N] has a bias's shape: it is the add(m1, m2) case */
  if (b == m || ir_type(g, b)->dtype != IR_F32 || ir_producer(g, b)->op == OP_MATMUL)
    return -1;
  const IrShape *bs = shape_of(g, b);
  int64_t N = shape_of(g, m)->dim[1];
  if ((bs->rank == 1 && bs->dim[0] == N) || (bs->rank == 2 && bs->dim[0] == 1 && bs->dim[1] == N))
    return b;
  return -1;
}

static int is_zero_const(const IrGraph *g, IrVal v) {
  const IrNode *n = ir_producer(g, v);
  if (n->op != OP_CONST || !n->cdata)
    return 0;
  for (int64_t i = 0; i < n->ncdata; i++)
    if (n->cdata[i] != 0)
      return 0;
  return 1;
}

/* The relu using v, when v's other uses are all masks gt(v, 0) (x > 0 iff relu(x) > 0,
 * so they can read relu(v) and v need not be stored); else NULL. */
static const IrNode *relu_user(const IrGraph *g, const fuse_info *fz, const users *u, IrVal v) {
  const IrNode *r = NULL;
  int seen = 0;
  if (u->out[v])
    return NULL;
  for (int j = 0; j < g->nnodes; j++) {
    const IrNode *n = g->nodes[j];
    for (int k = 0; k < n->nin; k++) {
      if (n->in[k] != v)
        continue;
      seen++;
      if (n->op == OP_RELU && !r && !fz->skip[n->out[0]])
        r = n;
      else if (!(n->op == OP_GT && k == 0 && n->nin == 2 && n->in[1] != v && is_zero_const(g, n->in[1])))
        return NULL;
    }
  }
  return seen == fz->uses[v] ? r : NULL;
}

/* A 2-D matmul that lower_ops.c gives to nnrt_sgemm. */
static int sgemm_node(const IrGraph *g, const IrNode *n) {
  const IrShape *cs = shape_of(g, n->out[0]), *as = shape_of(g, n->in[0]);
  if (cs->rank != 2 || as->rank != 2 || shape_of(g, n->in[1])->rank != 2)
    return 0;
  int64_t K = n->attr.ints[0] ? as->dim[0] : as->dim[1];
  return lower_mm_sgemm(ir_type(g, n->out[0])->dtype, cs->dim[0], cs->dim[1], K, 1);
}

/* Scan bodies: carry j = add(carry formal j, matmul) with the formal used only there
 * (weight-gradient sums) accumulates the product onto the carry's buffer in place. */
static void carry_accumulate(const IrGraph *g, fuse_info *fz, const users *u, int ncarry) {
  for (int j = 0; j < ncarry && j < g->nouts; j++) {
    IrVal v = g->outs[j];
    const IrNode *a = ir_producer(g, v);
    if (a->op != OP_ADD || a->nin != 2 || fz->skip[v] || fz->uses[v] != 1)
      continue;
    for (int k = 0; k < 2; k++) {
      IrVal f = a->in[k], m = a->in[1 - k];
      const IrNode *fn = ir_producer(g, f), *mn = ir_producer(g, m);
      if (fn->op != OP_INPUT || fn->attr.ints[IR_MAX_INTS - 1] - 1 != j || fz->uses[f] != 1 || f == m ||
          !ir_shape_eq(shape_of(g, f), shape_of(g, v)) || only_user(g, fz, u, m) != a)
        continue;
      if (mn->op == OP_TRANSPOSE && fz->skip[m]) /* written by its matmul (mmt) */
        mn = ir_producer(g, mn->in[0]);
      else if (mn->op != OP_MATMUL || !sgemm_node(g, mn) || fz->epi[m] >= 0 || fz->mmt[m] >= 0)
        continue;
      if (mn->op != OP_MATMUL || fz->acc[mn->out[0]] >= 0 || fz->epi[mn->out[0]] >= 0)
        continue;
      fz->acc[mn->out[0]] = f, fz->epi[mn->out[0]] = v;
      fz->skip[v] = 1;
      break;
    }
  }
}

/* Producer output mo absorbs the bias add c (with bias b) and the relu after it, when every
 * other use of c is a mask gt(c, 0): those masks then read the relu's output. */
static void bias_epilogue(const IrGraph *g, fuse_info *fz, const users *u, IrVal mo, const IrNode *c, IrVal b) {
  fz->epi[mo] = c->out[0], fz->epi_bias[mo] = b;
  fz->skip[c->out[0]] = 1;
  const IrNode *r = relu_user(g, fz, u, c->out[0]);
  if (!r)
    return;
  fz->epi[mo] = r->out[0], fz->epi_act[mo] = 1;
  fz->skip[r->out[0]] = 1;
  for (int j = 0; j < g->nnodes; j++) /* relu's backward masks read relu(x) > 0 */
    if (g->nodes[j] != r && g->nodes[j]->nin > 0 && g->nodes[j]->in[0] == c->out[0])
      fz->sub0[g->nodes[j]->out[0]] = r->out[0];
}

static void gemm_patterns(const IrGraph *g, fuse_info *fz, const users *u) {
  for (int i = 0; i < g->nnodes; i++) {
    const IrNode *n = g->nodes[i];
    if (swaps_last_two(g, n) && !u->out[n->out[0]] && !fz->skip[n->out[0]]) { /* not a matmul's (mmt) */
      int all_mm = fz->uses[n->out[0]] > 0;
      for (int j = i + 1; j < g->nnodes && all_mm; j++)
        for (int k = 0; k < g->nodes[j]->nin; k++)
          if (g->nodes[j]->in[k] == n->out[0])
            all_mm &= g->nodes[j]->op == OP_MATMUL && k < 2;
      fz->tsrc[n->out[0]] = n->in[0];
      fz->skip[n->out[0]] = (uint8_t)all_mm;
    }
    if (n->op != OP_MATMUL)
      continue;
    IrVal m = n->out[0];
    const IrShape *cs = shape_of(g, m);
    if (!sgemm_node(g, n))
      continue;
    const IrNode *c = only_user(g, fz, u, m);
    if (!c)
      continue;
    IrVal m1 = c->op == OP_ADD && c->nin == 2 ? (c->in[0] == m ? c->in[1] : c->in[0]) : -1;
    if (m1 >= 0 && m1 != m && ir_producer(g, m1)->op == OP_MATMUL && sgemm_node(g, ir_producer(g, m1)) &&
        fz->mmt[m1] < 0 && fz->epi[m1] < 0 &&
        only_user(g, fz, u, m1) == c && ir_producer(g, m1)->id < n->id && ir_shape_eq(shape_of(g, m1), cs) &&
        ir_shape_eq(shape_of(g, c->out[0]), cs)) {
      /* add(m1, m): m accumulates onto m1's buffer (beta = 1), which then holds the sum */
      fz->acc[m] = m1, fz->epi[m] = c->out[0];
      fz->skip[c->out[0]] = 1;
      m = c->out[0];
      if (!(c = only_user(g, fz, u, m))) {
        continue;
      }
    }
    if (swaps_last_two(g, c) && fz->acc[n->out[0]] < 0) {
      fz->mmt[m] = c->out[0];
      fz->skip[c->out[0]] = 1;
      continue;
    }
    IrVal b = bias_of(g, c, m);
    if (b >= 0)
      bias_epilogue(g, fz, u, n->out[0], c, b);
  }
}

/* A bias add on a conv2d result m f32[N, C, H, W]: the other operand is f32 [C, 1, 1] or
 * [1, C, 1, 1] (one bias per output channel, as nn.Conv2d's b[:, None, None]). */
static IrVal conv_bias_of(const IrGraph *g, const IrNode *a, IrVal m) {
  if (a->op != OP_ADD || a->nin != 2 || !ir_shape_eq(shape_of(g, a->out[0]), shape_of(g, m)))
    return -1;
  IrVal b = a->in[0] == m ? a->in[1] : a->in[0];
  if (b == m || ir_type(g, b)->dtype != IR_F32)
    return -1;
  const IrShape *bs = shape_of(g, b);
  int64_t C = shape_of(g, m)->dim[1];
  int r = bs->rank;
  if ((r != 3 && r != 4) || (r == 4 && bs->dim[0] != 1))
    return -1;
  return bs->dim[r - 3] == C && bs->dim[r - 2] == 1 && bs->dim[r - 1] == 1 ? b : -1;
}

/* The value holding v's data in the same order, computed before node n: v itself, or
 * what v reshapes or slices whole (nn.Conv2d's bias is reshape(slice(b)), traced after
 * the conv); -1 when there is none. */
static IrVal stored_before(const IrGraph *g, IrVal v, const IrNode *n) {
  for (;;) {
    const IrNode *p = ir_producer(g, v);
    if (p->op == OP_PARAM || p->op == OP_INPUT || p->op == OP_CONST || p->id < n->id)
      return v;
    if (p->op == OP_RESHAPE || (p->op == OP_SLICE && ir_shape_eq(shape_of(g, p->in[0]), shape_of(g, v))))
      v = p->in[0];
    else
      return -1;
  }
}

/* Convolution epilogues: an f32 conv2d whose only use is add(., bias[C, 1, 1]), optionally
 * followed by relu, is one nnrt_conv2d_fwd_ex call writing the last value (the runtime
 * applies bias and relu to each GEMM tile in registers). */
static void conv_patterns(const IrGraph *g, fuse_info *fz, const users *u) {
  for (int i = 0; i < g->nnodes; i++) {
    const IrNode *n = g->nodes[i];
    if (n->op != OP_CONV2D || ir_type(g, n->out[0])->dtype != IR_F32 || !cg_abi_has("nnrt_conv2d_fwd_ex"))
      continue;
    const IrNode *c = only_user(g, fz, u, n->out[0]);
    IrVal b = c ? conv_bias_of(g, c, n->out[0]) : -1;
    if (b >= 0)
      b = stored_before(g, b, n);
    if (b >= 0)
      bias_epilogue(g, fz, u, n->out[0], c, b);
  }
}

/* Can every consumer of v take its expression? */
static int consumers_take_expr(const IrGraph *g, const fuse_info *fz, IrVal v) {
  const IrShape *s = shape_of(g, v);
  for (int j = 0; j < g->nnodes; j++) {
    const IrNode *c = g->nodes[j];
    for (int k = 0; k < c->nin; k++) {
      if (c->in[k] != v)
        continue;
      if (is_plain_reduce(c->op) && k == 0 && fz->uses[v] == 1)
        continue;
      if (is_ew_op(c) && !fz->skip[c->out[0]] && ir_shape_eq(shape_of(g, c->out[0]), s))
        continue;
      return 0;
    }
  }
  return 1;
}

/* A split whose every part is taken as an expression (loads of the whole at an offset). */
static void inline_split(const IrGraph *g, fuse_info *fz, const users *u, const IrNode *n) {
  for (int j = 0; j < n->nout; j++)
    if (u->out[n->out[j]] || fz->uses[n->out[j]] > 4 || !consumers_take_expr(g, fz, n->out[j]))
      return;
  for (int j = 0; j < n->nout; j++)
    fz->inl[n->out[j]] = fz->skip[n->out[j]] = 1;
}

static void inline_values(const IrGraph *g, fuse_info *fz, const users *u) {
  int *cost = calloc((size_t)g->nvals + 1, sizeof *cost);
  for (int i = 0; i < g->nnodes; i++) {
    const IrNode *n = g->nodes[i];
    IrVal v = n->out[0];
    if (n->op == OP_SPLIT && ir_type(g, v)->dtype != IR_BIT) {
      inline_split(g, fz, u, n);
      continue;
    }
    if (n->op == OP_SLICE && ir_type(g, v)->dtype != IR_BIT && !u->out[v] && fz->uses[v] <= 4 &&
        consumers_take_expr(g, fz, v)) {
      fz->inl[v] = fz->skip[v] = 1;
      continue;
    }
    if (!is_ew_op(n) || fz->skip[v] || u->out[v] || fz->uses[v] == 0 || ir_type(g, v)->dtype == IR_BIT)
      continue;
    int c = op_cost(n);
    for (int k = 0; cost && k < n->nin; k++)
      if (fz->inl[n->in[k]])
        c += cost[n->in[k]];
    if (cost)
      cost[v] = c;
    if (fz->uses[v] > 1 && (c > CHEAP_COST || fz->uses[v] > 4))
      continue;
    if (consumers_take_expr(g, fz, v))
      fz->inl[v] = fz->skip[v] = 1;
  }
  free(cost);
}

/* A concat of stored elementwise values used only there: they are stored straight into
 * their part of the concat's buffer, and the concat makes no copies. */
static void absorb_concats(const IrGraph *g, fuse_info *fz, const users *u) {
  for (int i = 0; i < g->nnodes; i++) {
    const IrNode *c = g->nodes[i];
    if (c->op != OP_CONCAT || fz->skip[c->out[0]] || ir_type(g, c->out[0])->dtype == IR_BIT)
      continue;
    int ok = 1;
    for (int k = 0; k < c->nin && ok; k++) {
      IrVal v = c->in[k];
      const IrNode *p = ir_producer(g, v);
      ok = is_ew_op(p) && !fz->skip[v] && !fz->inl[v] && fz->uses[v] == 1 && !u->out[v] && fz->cat[v] < 0;
    }
    if (!ok)
      continue;
    int64_t off = 0;
    for (int k = 0; k < c->nin; k++) {
      fz->cat[c->in[k]] = c->out[0], fz->catoff[c->in[k]] = off;
      off += shape_of(g, c->in[k])->dim[c->attr.ints[0]];
    }
    fz->skip[c->out[0]] = 1;
  }
}

/* Runs of stored elementwise nodes over one shape, inline nodes allowed in between. */
static void form_groups(const IrGraph *g, fuse_info *fz) {
  for (int i = 0; i < g->nnodes; i++) {
    const IrNode *n = g->nodes[i];
    if (!is_ew_op(n) || fz->skip[n->out[0]] || ir_type(g, n->out[0])->dtype == IR_BIT)
      continue;
    const IrShape *s = shape_of(g, n->out[0]);
    int j = i + 1, members = 1, end = i + 1;
    for (; j < g->nnodes && members < MAX_GROUP; j++) {
      const IrNode *m = g->nodes[j];
      if (fz->inl[m->out[0]] && is_ew_op(m))
        continue;
      if (!is_ew_op(m) || fz->skip[m->out[0]] || ir_type(g, m->out[0])->dtype == IR_BIT ||
          !ir_shape_eq(shape_of(g, m->out[0]), s))
        break;
      members++;
      fz->skip[m->out[0]] = 1;
      end = j + 1;
    }
    fz->gend[i] = end;
    i = end - 1;
  }
}

void fuse_free(fuse_info *fz) {
  if (!fz)
    return;
  free(fz->uses), free(fz->inl), free(fz->tsrc), free(fz->mmt), free(fz->epi), free(fz->epi_bias);
  free(fz->epi_act), free(fz->gend), free(fz->skip), free(fz->gexpr), free(fz->gstamp), free(fz->acc);
  free(fz->cat), free(fz->catoff), free(fz->sub0);
  free(fz);
}

static fuse_info *fuse_alloc(int nvals, int nnodes) {
  fuse_info *fz = calloc(1, sizeof *fz);
  if (!fz)
    return NULL;
  size_t nv = (size_t)nvals + 1, nn = (size_t)nnodes + 1;
  fz->nvals = nvals, fz->nnodes = nnodes;
  fz->uses = calloc(nv, sizeof *fz->uses), fz->inl = calloc(nv, 1), fz->skip = calloc(nv, 1);
  fz->tsrc = malloc(nv * sizeof *fz->tsrc), fz->mmt = malloc(nv * sizeof *fz->mmt);
  fz->epi = malloc(nv * sizeof *fz->epi), fz->epi_bias = malloc(nv * sizeof *fz->epi_bias);
  fz->epi_act = calloc(nv, sizeof *fz->epi_act), fz->gend = malloc(nn * sizeof *fz->gend);
  fz->gexpr = malloc(nv * sizeof *fz->gexpr), fz->gstamp = calloc(nv, sizeof *fz->gstamp);
  fz->acc = malloc(nv * sizeof *fz->acc), fz->cat = malloc(nv * sizeof *fz->cat);
  fz->catoff = calloc(nv, sizeof *fz->catoff), fz->sub0 = malloc(nv * sizeof *fz->sub0);
  if (!fz->sub0 || !fz->acc || !fz->cat || !fz->catoff || !fz->uses || !fz->inl || !fz->skip || !fz->tsrc ||
      !fz->mmt || !fz->epi || !fz->epi_bias ||
      !fz->epi_act || !fz->gend || !fz->gexpr || !fz->gstamp) {
    fuse_free(fz);
    return NULL;
  }
  for (size_t v = 0; v < nv; v++)
    fz->tsrc[v] = fz->mmt[v] = fz->epi[v] = fz->epi_bias[v] = fz->gexpr[v] = fz->acc[v] = fz->cat[v] = fz->sub0[v] = -1;
  for (size_t i = 0; i < nn; i++)
    fz->gend[i] = -1;
  fz->epoch = 1;
  return fz;
}

fuse_info *fuse_analyze(const IrGraph *g, int ncarry) {
  fuse_info *fz = fuse_alloc(g->nvals, g->nnodes);
  users u = {calloc((size_t)g->nvals + 1, sizeof *u.first), calloc((size_t)g->nvals + 1, 1)};
  if (!fz || !u.first || !u.out) {
    fuse_free(fz), free(u.first), free(u.out);
    return NULL;
  }
  for (int v = 0; v <= g->nvals; v++)
    u.first[v] = -1;
  for (int i = 0; i < g->nnodes; i++)
    for (int k = 0; k < g->nodes[i]->nin; k++) {
      IrVal v = g->nodes[i]->in[k];
      fz->uses[v]++;
      if (u.first[v] < 0)
        u.first[v] = i;
    }
  for (int i = 0; i < g->nouts; i++)
    fz->uses[g->outs[i]]++, u.out[g->outs[i]] = 1;
  gemm_patterns(g, fz, &u);
  conv_patterns(g, fz, &u);
  carry_accumulate(g, fz, &u, ncarry);
  inline_values(g, fz, &u);
  absorb_concats(g, fz, &u);
  form_groups(g, fz);
  free(u.first), free(u.out);
  return fz;
}

/* ---------------------------------------------------------- expressions ---- */

/* Index of a tensor of shape s broadcast (numpy, right-aligned) to `it`, loop dim p
 * running dim perm[p] of it. */
static kir_index bcast_perm(const IrShape *s, const IrShape *it, const int *perm) {
  int64_t st[IR_MAX_RANK];
  kir_index x = {0};
  lower_strides(s, st);
  int lead = it->rank - s->rank;
  for (int p = 0; p < it->rank; p++) {
    int sd = perm[p] - lead;
    x.stride[p] = sd >= 0 && s->dim[sd] != 1 ? st[sd] : 0;
  }
  return x;
}

/* Part v of a split or a slice: a load of the whole at the part's offset. */
static int split_load(lower_ctx *L, IrVal v, const IrShape *it, const int *perm) {
  const IrNode *n = ir_producer(L->g, v);
  const IrShape *ws = &ir_type(L->g, n->in[0])->shape, *ps = &ir_type(L->g, v)->shape;
  int ax = (int)n->attr.ints[0];
  int64_t off = 0, st[IR_MAX_RANK], start = 0;
  lower_strides(ws, st);
  if (n->op == OP_SLICE) /* ints[0..rank): the start of each dim */
    for (int d = 0; d < ws->rank; d++)
      start += n->attr.ints[d] * st[d];
  else
    for (int j = 0; j < n->nout && n->out[j] != v; j++)
      off += ir_type(L->g, n->out[j])->shape.dim[ax];
  kir_index x = bcast_perm(ps, it, perm);
  int lead = it->rank - ps->rank;
  for (int p = 0; p < it->rank; p++) {
    int sd = perm[p] - lead;
    x.stride[p] = sd >= 0 && ps->dim[sd] != 1 ? st[sd] : 0;
  }
  x.offset = n->op == OP_SLICE ? start : off * st[ax];
  return kir_load(L->f, lower_in(L, n->in[0]), x);
}

/* The expression of elementwise node n over inputs built by fuse_expr. */
static int ew_expr(lower_ctx *L, const IrNode *n, const IrShape *it, const int *perm) {
  int sc = ir_ops[n->op].scalar, a[3] = {-1, -1, -1};
  for (int j = 0; j < n->nin && j < 3; j++)
    a[j] = fuse_expr(L, j == 0 && L->fz->sub0[n->out[0]] >= 0 ? L->fz->sub0[n->out[0]] : n->in[j], it, perm);
  int v;
  if (sc == SC_CAST)
    v = a[0];
  else {
    if (sc == SC_SELECT && ir_type(L->g, n->in[0])->dtype != IR_BOOL)
      a[0] = kir_cast(L->f, KIR_BOOL, a[0]);
    v = kir_opp(L->f, sc, a[0], a[1], a[2], n->attr.flts[0], n->attr.flts[1]);
  }
  kir_dtype dt = ir_type(L->g, n->out[0])->dtype;
  if (v >= 0 && L->f->expr[v].dt != dt)
    v = kir_cast(L->f, dt, v);
  return v;
}

int fuse_expr(lower_ctx *L, IrVal v, const IrShape *it, const int *perm) {
  fuse_info *fz = L->fz;
  if (fz && fz->gstamp[v] == fz->epoch)
    return fz->gexpr[v];
  if (fz && fz->inl[v] && (ir_producer(L->g, v)->op == OP_SPLIT || ir_producer(L->g, v)->op == OP_SLICE))
    return split_load(L, v, it, perm);
  if (fz && fz->inl[v]) {
    int e = ew_expr(L, ir_producer(L->g, v), it, perm);
    fz->gexpr[v] = e, fz->gstamp[v] = fz->epoch;
    return e;
  }
  return kir_load(L->f, lower_in(L, v), bcast_perm(&ir_type(L->g, v)->shape, it, perm));
}

/* Does anything but the stored members of nodes [i0, i1) use v (a result counts)? */
static int used_outside(const IrGraph *g, const fuse_info *fz, IrVal v, int i0, int i1) {
  int inside = 0;
  for (int i = i0; i < i1; i++) {
    const IrNode *n = g->nodes[i];
    for (int k = 0; k < n->nin; k++) /* an inline user is inside when all of its own uses are */
      inside += n->in[k] == v && (!fz->inl[n->out[0]] || !used_outside(g, fz, n->out[0], i0, i1));
  }
  return inside < fz->uses[v];
}

/* Nodes [i0, i1) of L->g (elementwise, same output shape, inline ones skipped): one loop
 * nest storing every value that is not inline, contiguous dims merged. */
int fuse_lower_group(lower_ctx *L, int i0, int i1) {
  const IrGraph *g = L->g;
  fuse_info *fz = L->fz;
  IrShape it = ir_type(g, g->nodes[i0]->out[0])->shape;
  int perm[IR_MAX_RANK], r = it.rank, nst = 0, sbuf[MAX_GROUP], sval[MAX_GROUP];
  kir_index sidx[MAX_GROUP];
  for (int d = 0; d < IR_MAX_RANK; d++)
    perm[d] = d;
  fz->epoch++;
  int e0 = L->f->nexpr;
  for (int i = i0; i < i1; i++) {
    const IrNode *n = g->nodes[i];
    if (fz->inl[n->out[0]])
      continue;
    L->n = n;
    IrVal v = n->out[0];
    int e = ew_expr(L, n, &it, perm);
    fz->gexpr[v] = e, fz->gstamp[v] = fz->epoch;
    if (nst >= MAX_GROUP || !used_outside(g, fz, v, i0, i1))
      continue;
    sval[nst] = e, sidx[nst] = kir_index_bcast(r, r, it.dim);
    if (fz->cat[v] >= 0) { /* into its part of the concat */
      IrVal c = fz->cat[v];
      const IrShape *ws = &ir_type(g, c)->shape;
      int ax = (int)ir_producer(g, c)->attr.ints[0];
      sbuf[nst] = L->buf[c] >= 0 ? L->buf[c] : lower_out(L, c);
      sidx[nst] = kir_index_bcast(r, r, ws->dim);
      sidx[nst].offset = fz->catoff[v] * sidx[nst].stride[ax];
    } else
      sbuf[nst] = lower_out(L, v);
    nst++;
  }
  if (!kir_ok(L->f))
    return lower_fail(L, "out of memory building kernels");
  /* merge dims over every store and load */
  int nl = 0, e1 = L->f->nexpr;
  kir_index *x = malloc(sizeof *x * (size_t)(e1 - e0 + nst + 1));
  if (!x)
    return lower_fail(L, "out of memory");
  for (int k = 0; k < nst; k++)
    x[nl++] = sidx[k];
  for (int e = e0; e < e1; e++)
    if (L->f->expr[e].kind == KX_LOAD)
      x[nl++] = L->f->expr[e].idx;
  int64_t ext[IR_MAX_RANK];
  memcpy(ext, it.dim, sizeof ext);
  r = lower_collapse(r, ext, x, nl);
  nl = nst;
  for (int e = e0; e < e1; e++)
    if (L->f->expr[e].kind == KX_LOAD)
      L->f->expr[e].idx = x[nl++];
  int flags[IR_MAX_RANK];
  lower_flags(r, ext, r, flags);
  char name[KIR_NAME];
  snprintf(name, sizeof name, "%s%s", ir_ops[g->nodes[i0]->op].name, nst > 1 ? "_fused" : "");
  kir_loop(L->f, name, r, ext, flags);
  for (int s = 0; s < nst; s++)
    kir_store_to(L->f, sbuf[s], x[s], sval[s], KIR_RED_NONE, -1);
  free(x);
  return 0;
}
