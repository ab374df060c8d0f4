/* lower_ops.c — lowering rules for the ops that have no scalar opcode: reductions,
 * argmax, matmul, data movement, softmax and the losses. One rule per op family, picked
 * from a table keyed by op (lower_rule).
 *
 * Reductions put the kept dims first and the reduced dims last (reduce dims must be the
 * innermost loops of a kir nest), indexing the input through its strides in that order.
 * Two-pass ops (logsumexp, argmax, softmax, cross-entropy) first compute the row maximum
 * into an arena temporary, as in the interpreter. Matmul calls nnrt_sgemm for f32 when the
 * runtime ABI has it (one call per batch matrix, for matrices of >= 8192 multiply-adds and
 * at most 64 of them), and is otherwise one (batch..., i, j, k) loop nest with k reduced. Sampling ops call the Philox functions of the runtime per element with
 * the run's seed (seed slot), as the interpreter does; gather/scatter_add use a clamped
 * data-dependent index term. Convolution and pooling call the runtime's kernels with a
 * constant geometry array and an arena workspace. A scan becomes a kir repeat over t whose
 * body is the scan's subgraph lowered inline, with copy kernels moving x_t in and y_t out
 * (indices with a t term) and carries in arena buffers; custom_grad inlines its forward. */
#include "bptt_lower.h"
#include "cg.h"
#include "fuse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "rt.h"

static int64_t numel(const IrShape *s) {
  int64_t n = 1;
  for (int d = 0; d < s->rank; d++)
    n *= s->dim[d];
  return n;
}

static const IrType *vt(lower_ctx *L, IrVal v) { return ir_type(L->g, v); }

/* The iteration space of shape s with axes marked in red[] moved last. perm[p] = the
 * shape dim iterated by loop dim p. Returns the number of kept dims. */
static int kept_then_reduced(const IrShape *s, const int *red, int *perm, int64_t *ext) {
  int p = 0, nk;
  for (int d = 0; d < s->rank; d++)
    if (!red[d])
      perm[p] = d, ext[p++] = s->dim[d];
  nk = p;
  for (int d = 0; d < s->rank; d++)
    if (red[d])
      perm[p] = d, ext[p++] = s->dim[d];
  return nk;
}

/* Index of a tensor of shape s iterated in loop order perm (all its dims). */
static kir_index idx_perm(const IrShape *s, const int *perm) {
  int64_t st[IR_MAX_RANK];
  kir_index x = {0};
  lower_strides(s, st);
  for (int p = 0; p < s->rank; p++)
    x.stride[p] = st[perm[p]];
  return x;
}

/* Row-major index over the first nk loop dims (the kept dims, in order). */
static kir_index idx_kept(int nk, const int64_t *ext) {
  kir_index x = {0};
  int64_t m = 1;
  for (int p = nk - 1; p >= 0; p--) {
    x.stride[p] = m;
    m *= ext[p];
  }
  return x;
}

static int cnst(lower_ctx *L, kir_dtype dt, double v) { return kir_const(L->f, dt, v); }

/* ------------------------------------------------------------- reductions ---- */

static kir_red red_of(IrOp op) {
  switch (op) {
  case OP_MAX: return KIR_RED_MAX;
  case OP_MIN: return KIR_RED_MIN;
  case OP_PROD: return KIR_RED_PROD;
  default: return KIR_RED_SUM;
  }
}

/* sum, mean, max, min, prod, logsumexp over attr axes ints[1..]. */
static int r_reduce(lower_ctx *L, const IrNode *n) {
  const IrType *xt = vt(L, n->in[0]);
  int red[IR_MAX_RANK] = {0}, perm[IR_MAX_RANK], flags[IR_MAX_RANK];
  int64_t ext[IR_MAX_RANK];
  for (int i = 1; i < n->attr.nint; i++)
    red[n->attr.ints[i]] = 1;
  int r = xt->shape.rank, nk = kept_then_reduced(&xt->shape, red, perm, ext);
  int64_t cnt = 1;
  for (int p = nk; p < r; p++)
    cnt *= ext[p];
  kir_dtype dt = xt->dtype;
  int xb = lower_in(L, n->in[0]), o = lower_out(L, n->out[0]);
  kir_index xi = idx_perm(&xt->shape, perm), xo = idx_kept(nk, ext);
  lower_flags(r, ext, nk, flags);
  int m = -1;
  if (n->op == OP_LOGSUMEXP) { /* m = max; out = log(sum exp(x - m)) + m */
    m = lower_tmp(L, "rowmax", dt, numel(&vt(L, n->out[0])->shape));
    kir_loop(L->f, "lse_max", r, ext, flags);
    kir_store_to(L->f, m, xo, kir_load(L->f, xb, xi), KIR_RED_MAX, -1);
  }
  int v = -1, post = -1;
  if (L->fz && n->op != OP_LOGSUMEXP) { /* the reduction absorbs an inline input */
    L->fz->epoch++;
    v = fuse_expr(L, n->in[0], &xt->shape, perm);
  }
  kir_loop(L->f, ir_ops[n->op].name, r, ext, flags);
  if (v < 0)
    v = kir_load(L->f, xb, xi);
  if (n->op == OP_LOGSUMEXP) {
    v = kir_op1(L->f, SC_EXP, kir_op2(L->f, SC_SUB, v, kir_load(L->f, m, xo)));
    post = kir_op2(L->f, SC_ADD, kir_op1(L->f, SC_LOG, kir_acc(L->f, dt)), kir_load(L->f, m, xo));
  } else if (n->op == OP_MEAN)
    post = kir_op2(L->f, SC_DIV, kir_acc(L->f, dt), cnst(L, dt, (double)(cnt ? cnt : 1)));
  kir_store_to(L->f, o, xo, v, red_of(n->op), post);
  return 0;
}

/* argmax/argmin over ints[1] -> i64: m = max (min); idx = min over j of (x == m ? j : len),
 * the first index as in the interpreter. */
static int r_argmax(lower_ctx *L, const IrNode *n) {
  const IrType *xt = vt(L, n->in[0]);
  int red[IR_MAX_RANK] = {0}, perm[IR_MAX_RANK], flags[IR_MAX_RANK];
  int64_t ext[IR_MAX_RANK];
  int ax = (int)n->attr.ints[1];
  red[ax] = 1;
  int r = xt->shape.rank, nk = kept_then_reduced(&xt->shape, red, perm, ext);
  int xb = lower_in(L, n->in[0]), o = lower_out(L, n->out[0]);
  kir_index xi = idx_perm(&xt->shape, perm), xo = idx_kept(nk, ext);
  lower_flags(r, ext, nk, flags);
  int m = lower_tmp(L, "argmax_m", xt->dtype, numel(&vt(L, n->out[0])->shape));
  kir_loop(L->f, "argmax_max", r, ext, flags);
  kir_store_to(L->f, m, xo, kir_load(L->f, xb, xi), n->op == OP_ARGMIN ? KIR_RED_MIN : KIR_RED_MAX, -1);
  kir_loop(L->f, "argmax", r, ext, flags);
  int hit = kir_op2(L->f, SC_EQ, kir_load(L->f, xb, xi), kir_load(L->f, m, xo));
  int j = kir_op3(L->f, SC_SELECT, hit, kir_iv(L->f, r - 1), cnst(L, KIR_I64, (double)ext[r - 1]));
  int post = kir_op2(L->f, SC_MIN, kir_acc(L->f, KIR_I64), cnst(L, KIR_I64, (double)(ext[r - 1] - 1)));
  kir_store_to(L->f, o, xo, j, KIR_RED_MIN, post);
  return 0;
}

/* ------------------------------------------------------------- matmul ---- */

typedef struct mm {
  int ta, tb;
  int64_t M, N, K, ar, ac, br, bc, nb;
  IrShape cb, ab, bb; /* batch shapes of out, a, b */
} mm;

/* An operand: itself, or (fusion) the source of a transpose of its last two dims, read
 * with the operand's transpose flag flipped. */
static IrVal mm_operand(lower_ctx *L, IrVal v, int *trans) {
  if (L->fz && L->fz->tsrc[v] >= 0) {
    *trans ^= 1;
    return L->fz->tsrc[v];
  }
  return v;
}

static mm mm_geom(lower_ctx *L, const IrNode *n) {
  mm g = {.ta = (int)n->attr.ints[0], .tb = (int)n->attr.ints[1]};
  IrVal av = mm_operand(L, n->in[0], &g.ta), bv = mm_operand(L, n->in[1], &g.tb);
  const IrShape *as = &vt(L, av)->shape, *bs = &vt(L, bv)->shape;
  const IrShape *cs = &vt(L, n->out[0])->shape;
  g.M = cs->dim[cs->rank - 2], g.N = cs->dim[cs->rank - 1];
  g.ar = as->dim[as->rank - 2], g.ac = as->dim[as->rank - 1];
  g.br = bs->dim[bs->rank - 2], g.bc = bs->dim[bs->rank - 1];
  g.K = g.ta ? g.ar : g.ac;
  g.cb = *cs, g.ab = *as, g.bb = *bs;
  g.cb.rank -= 2, g.ab.rank -= 2, g.bb.rank -= 2;
  g.nb = numel(&g.cb);
  return g;
}

/* Flat batch index in broadcast shape s of out-batch element i (out batch shape o). */
static int64_t bcast_off(const IrShape *s, const IrShape *o, int64_t i) {
  int64_t off = 0, m = 1;
  for (int d = o->rank - 1; d >= 0; d--) {
    int64_t c = i % o->dim[d];
    i /= o->dim[d];
    int sd = d - (o->rank - s->rank);
    if (sd >= 0) {
      off += (s->dim[sd] == 1 ? 0 : c) * m;
      m *= s->dim[sd];
    }
  }
  return off;
}

static int mm_sgemm_beta(lower_ctx *L, const IrNode *n, const mm *g, int a, int b, int o, double beta) {
  for (int64_t i = 0; i < g->nb; i++) {
    kir_call(L->f, "matmul", "nnrt_sgemm");
    kir_arg_i64(L->f, g->ta);
    kir_arg_i64(L->f, g->tb);
    kir_arg_i64(L->f, g->M);
    kir_arg_i64(L->f, g->N);
    kir_arg_i64(L->f, g->K);
    kir_arg_f32(L->f, 1.0);
    kir_arg_buf_at(L->f, a, bcast_off(&g->ab, &g->cb, i) * g->ar * g->ac);
    kir_arg_i64(L->f, g->ac);
    kir_arg_buf_at(L->f, b, bcast_off(&g->bb, &g->cb, i) * g->br * g->bc);
    kir_arg_i64(L->f, g->bc);
    kir_arg_f32(L->f, beta);
    kir_arg_buf_at(L->f, o, i * g->M * g->N);
    kir_arg_i64(L->f, g->N);
  }
  return 0;
}

static int mm_sgemm(lower_ctx *L, const IrNode *n, const mm *g, int a, int b, int o) {
  return mm_sgemm_beta(L, n, g, a, b, o, 0.0);
}

/* out[batch..., i, j] = sum_k a[.., i, k] * b[.., k, j]: loop dims (batch..., i, j, k). */
static int mm_loops(lower_ctx *L, const IrNode *n, const mm *g, int a, int b, int o) {
  int nbd = g->cb.rank, r = nbd + 3, flags[IR_MAX_RANK + 1];
  if (r > KIR_MAX_RANK)
    return lower_fail(L, "matmul with %d batch dims", nbd);
  int64_t ext[KIR_MAX_RANK];
  for (int d = 0; d < nbd; d++)
    ext[d] = g->cb.dim[d];
  ext[nbd] = g->M, ext[nbd + 1] = g->N, ext[nbd + 2] = g->K;
  kir_index xa = kir_index_bcast(nbd, g->ab.rank, g->ab.dim), xb = kir_index_bcast(nbd, g->bb.rank, g->bb.dim);
  kir_index xo = kir_index_bcast(nbd, nbd, g->cb.dim);
  for (int d = 0; d < nbd; d++) {
    xa.stride[d] *= g->ar * g->ac;
    xb.stride[d] *= g->br * g->bc;
    xo.stride[d] *= g->M * g->N;
  }
  xa.stride[nbd] = g->ta ? 1 : g->ac, xa.stride[nbd + 2] = g->ta ? g->ac : 1;
  xb.stride[nbd + 1] = g->tb ? g->bc : 1, xb.stride[nbd + 2] = g->tb ? 1 : g->bc;
  xo.stride[nbd] = g->N, xo.stride[nbd + 1] = 1;
  lower_flags(r, ext, r - 1, flags);
  kir_loop(L->f, "matmul", r, ext, flags);
  int v = kir_op2(L->f, SC_MUL, kir_load(L->f, a, xa), kir_load(L->f, b, xb));
  kir_store_to(L->f, o, xo, v, KIR_RED_SUM, -1);
  return 0;
}

/* sgemm pays for packing and a call per matrix: small or many-batch products (fast
 * weights' per-example [20, 20] matrices) are one loop nest instead. */
int lower_mm_sgemm(IrDType dt, int64_t M, int64_t N, int64_t K, int64_t nbatch) {
  return dt == IR_F32 && cg_abi_has("nnrt_sgemm") && K > 0 && M * N * K >= 8192 && nbatch <= 64;
}

/* Fused forms (fuse.c decided them, sgemm only): C^T written directly as B'^T A'^T, and
 * act(C + bias) through nnrt_sgemm_ex. */
static int mm_fused(lower_ctx *L, const IrNode *n, mm *g, int a, int b) {
  fuse_info *fz = L->fz;
  IrVal m = n->out[0];
  /* onto the buffer of the value it is added to (beta 1), or into the last value's own */
  int acc = fz->acc[m] >= 0, bias = fz->epi_bias[m] >= 0;
  if (fz->mmt[m] >= 0) {
    mm t = *g;
    t.ta = !g->tb, t.tb = !g->ta, t.M = g->N, t.N = g->M;
    t.ar = g->br, t.ac = g->bc, t.br = g->ar, t.bc = g->ac;
    int o = acc ? lower_in(L, fz->acc[m]) : lower_out(L, fz->mmt[m]);
    if (acc)
      L->buf[fz->epi[m]] = o;
    return mm_sgemm_beta(L, n, &t, b, a, o, acc ? 1.0 : 0.0);
  }
  int o = acc ? lower_in(L, fz->acc[m]) : lower_out(L, fz->epi[m]);
  kir_call(L->f, bias ? "matmul_bias" : "matmul_acc", bias ? "nnrt_sgemm_ex" : "nnrt_sgemm");
  kir_arg_i64(L->f, g->ta), kir_arg_i64(L->f, g->tb);
  kir_arg_i64(L->f, g->M), kir_arg_i64(L->f, g->N), kir_arg_i64(L->f, g->K);
  kir_arg_f32(L->f, 1.0);
  kir_arg_buf(L->f, a), kir_arg_i64(L->f, g->ac);
  kir_arg_buf(L->f, b), kir_arg_i64(L->f, g->bc);
  kir_arg_f32(L->f, acc ? 1.0 : 0.0);
  kir_arg_buf(L->f, o), kir_arg_i64(L->f, g->N);
  if (bias) {
    kir_arg_buf(L->f, lower_in(L, fz->epi_bias[m]));
    kir_arg_i64(L->f, fz->epi_act[m] ? NNRT_ACT_RELU : NNRT_ACT_NONE);
  }
  if (acc)
    L->buf[fz->epi[m]] = o;
  return 0;
}

static int r_matmul(lower_ctx *L, const IrNode *n) {
  mm g = mm_geom(L, n);
  int ta = 0, tb = 0;
  int a = lower_in(L, mm_operand(L, n->in[0], &ta)), b = lower_in(L, mm_operand(L, n->in[1], &tb));
  int sg = lower_mm_sgemm(vt(L, n->out[0])->dtype, g.M, g.N, g.K, g.nb);
  if (sg && L->fz && (L->fz->mmt[n->out[0]] >= 0 || L->fz->epi[n->out[0]] >= 0))
    return mm_fused(L, n, &g, a, b);
  int o = lower_out(L, n->out[0]);
  if (sg)
    return mm_sgemm(L, n, &g, a, b, o);
  return mm_loops(L, n, &g, a, b, o);
}

/* --------------------------------------------------------- data movement ---- */

/* dst[dx] = src[sx] over ext (rank r): one copy nest. */
static void copy_nest(lower_ctx *L, const char *name, int r, const int64_t *ext0, int src, kir_index sx,
                      int dst, kir_index dx) {
  int flags[IR_MAX_RANK];
  int64_t ext[IR_MAX_RANK];
  kir_index x[2] = {sx, dx};
  memcpy(ext, ext0, sizeof *ext * (size_t)r);
  if (!sx.tstride && !dx.tstride)
    r = lower_collapse(r, ext, x, 2);
  lower_flags(r, ext, r, flags);
  kir_loop(L->f, name, r, ext, flags);
  kir_store_to(L->f, dst, x[1], kir_load(L->f, src, x[0]), KIR_RED_NONE, -1);
}

static kir_index rowmajor(const IrShape *s) { return kir_index_bcast(s->rank, s->rank, s->dim); }

/* reshape: a view of the input when it lives in a slot, else a copy. */
static int r_reshape(lower_ctx *L, const IrNode *n) {
  const IrType *t = vt(L, n->out[0]);
  int in = lower_in(L, n->in[0]);
  const kir_buf *b = &L->f->buf[in];
  if (L->oslot[n->out[0]] < 0 && b->slot >= 0) {
    char name[KIR_NAME];
    snprintf(name, sizeof name, "v%d", n->out[0]);
    L->buf[n->out[0]] = kir_buffer(L->f, name, t->dtype, b->slot, b->offset, b->size);
    return 0;
  }
  int64_t k = numel(&t->shape);
  kir_index x = kir_index_bcast(1, 1, &k);
  copy_nest(L, "reshape", 1, &k, in, x, lower_out(L, n->out[0]), x);
  return 0;
}

static int r_copy(lower_ctx *L, const IrNode *n) { /* stop_gradient, straight_through */
  const IrShape *s = &vt(L, n->out[0])->shape;
  copy_nest(L, ir_ops[n->op].name, s->rank, s->dim, lower_in(L, n->in[0]), rowmajor(s), lower_out(L, n->out[0]),
            rowmajor(s));
  return 0;
}

static int r_transpose(lower_ctx *L, const IrNode *n) {
  const IrShape *s = &vt(L, n->out[0])->shape, *is = &vt(L, n->in[0])->shape;
  int64_t st[IR_MAX_RANK];
  lower_strides(is, st);
  kir_index xi = {0};
  for (int d = 0; d < s->rank; d++)
    xi.stride[d] = st[n->attr.ints[d]];
  copy_nest(L, "transpose", s->rank, s->dim, lower_in(L, n->in[0]), xi, lower_out(L, n->out[0]), rowmajor(s));
  return 0;
}

static int r_broadcast_to(lower_ctx *L, const IrNode *n) {
  const IrShape *s = &vt(L, n->out[0])->shape, *is = &vt(L, n->in[0])->shape;
  copy_nest(L, "broadcast_to", s->rank, s->dim, lower_in(L, n->in[0]), kir_index_bcast(s->rank, is->rank, is->dim),
            lower_out(L, n->out[0]), rowmajor(s));
  return 0;
}

/* A part (shape ps) of a whole (shape ws) at offset off along axis ax, as an index of the
 * whole over the part's loop dims. */
static kir_index part_index(const IrShape *ws, int ax, int64_t off) {
  kir_index x = rowmajor(ws);
  x.offset = off * x.stride[ax];
  return x;
}

static int r_slice(lower_ctx *L, const IrNode *n) {
  const IrShape *s = &vt(L, n->out[0])->shape, *is = &vt(L, n->in[0])->shape;
  kir_index xi = rowmajor(is);
  for (int d = 0; d < is->rank; d++)
    xi.offset += n->attr.ints[d] * xi.stride[d];
  copy_nest(L, "slice", s->rank, s->dim, lower_in(L, n->in[0]), xi, lower_out(L, n->out[0]), rowmajor(s));
  return 0;
}

static int r_concat(lower_ctx *L, const IrNode *n) {
  const IrShape *ws = &vt(L, n->out[0])->shape;
  int ax = (int)n->attr.ints[0], o = lower_out(L, n->out[0]);
  int64_t off = 0;
  for (int j = 0; j < n->nin; j++) {
    const IrShape *ps = &vt(L, n->in[j])->shape;
    copy_nest(L, "concat", ps->rank, ps->dim, lower_in(L, n->in[j]), rowmajor(ps), o, part_index(ws, ax, off));
    off += ps->dim[ax];
  }
  return 0;
}

static int r_split(lower_ctx *L, const IrNode *n) {
  const IrShape *ws = &vt(L, n->in[0])->shape;
  int ax = (int)n->attr.ints[0], in = lower_in(L, n->in[0]);
  int64_t off = 0;
  for (int j = 0; j < n->nout; j++) {
    const IrShape *ps = &vt(L, n->out[j])->shape;
    copy_nest(L, "split", ps->rank, ps->dim, in, part_index(ws, ax, off), lower_out(L, n->out[j]), rowmajor(ps));
    off += ps->dim[ax];
  }
  return 0;
}

/* pad: fill with the value, then copy the input inside. */
static int r_pad(lower_ctx *L, const IrNode *n) {
  const IrType *t = vt(L, n->out[0]);
  const IrShape *s = &t->shape, *is = &vt(L, n->in[0])->shape;
  int o = lower_out(L, n->out[0]), flags[IR_MAX_RANK];
  lower_flags(s->rank, s->dim, s->rank, flags);
  kir_loop(L->f, "pad_fill", s->rank, s->dim, flags);
  kir_store_to(L->f, o, rowmajor(s), cnst(L, t->dtype, n->attr.flts[0]), KIR_RED_NONE, -1);
  kir_index xo = rowmajor(s);
  for (int d = 0; d < s->rank; d++)
    xo.offset += n->attr.ints[d] * xo.stride[d];
  copy_nest(L, "pad", is->rank, is->dim, lower_in(L, n->in[0]), rowmajor(is), o, xo);
  return 0;
}

/* one_hot: out[..., d] = (idx[...] == d); out-of-range indices give zeros. */
static int r_one_hot(lower_ctx *L, const IrNode *n) {
  const IrType *t = vt(L, n->out[0]), *it = vt(L, n->in[0]);
  int r = t->shape.rank, flags[IR_MAX_RANK];
  int o = lower_out(L, n->out[0]);
  lower_flags(r, t->shape.dim, r, flags);
  kir_loop(L->f, "one_hot", r, t->shape.dim, flags);
  int idx = kir_load(L->f, lower_in(L, n->in[0]), kir_index_bcast(r - 1, it->shape.rank, it->shape.dim));
  if (it->dtype != IR_I64)
    idx = kir_cast(L->f, KIR_I64, idx);
  int hit = kir_op2(L->f, SC_EQ, idx, kir_iv(L->f, r - 1));
  kir_store_to(L->f, o, rowmajor(&t->shape), kir_cast(L->f, t->dtype, hit), KIR_RED_NONE, -1);
  return 0;
}

/* ------------------------------------------------------ softmax and losses ---- */

/* Row max m and row sum s of exp(x - m) over axis ax of x: two kernels. The caller's
 * loops use the same (kept..., axis) order: *xi indexes x, *xo the row temporaries. */
typedef struct rows {
  int r, nk, m, s;
  int64_t ext[IR_MAX_RANK];
  int flags[IR_MAX_RANK];
  kir_index xi, xo;
} rows;

static rows row_stats(lower_ctx *L, int x, const IrType *xt, int ax, int want_sum) {
  rows R;
  int red[IR_MAX_RANK] = {0}, perm[IR_MAX_RANK];
  red[ax] = 1;
  R.r = xt->shape.rank;
  R.nk = kept_then_reduced(&xt->shape, red, perm, R.ext);
  R.xi = idx_perm(&xt->shape, perm);
  R.xo = idx_kept(R.nk, R.ext);
  lower_flags(R.r, R.ext, R.nk, R.flags);
  int64_t nrow = numel(&xt->shape) / (xt->shape.dim[ax] ? xt->shape.dim[ax] : 1);
  fuse_rows *c = NULL;
  for (int i = 0; L->fz && i < L->fz->nrows; i++) { /* softmax and cross-entropy of one x */
    const fuse_rows *e = &L->fz->rows[i];
    if (e->x == x && e->r == R.r && (e->s >= 0 || !want_sum) && !memcmp(&e->xi, &R.xi, sizeof R.xi) &&
        !memcmp(e->ext, R.ext, sizeof *R.ext * (size_t)R.r))
      c = &L->fz->rows[i];
  }
  if (c) {
    R.m = c->m, R.s = c->s;
    return R;
  }
  R.m = lower_tmp(L, "rowmax", xt->dtype, nrow);
  kir_loop(L->f, "rowmax", R.r, R.ext, R.flags);
  kir_store_to(L->f, R.m, R.xo, kir_load(L->f, x, R.xi), KIR_RED_MAX, -1);
  R.s = -1;
  if (want_sum) {
    R.s = lower_tmp(L, "rowsum", xt->dtype, nrow);
    kir_loop(L->f, "rowsum", R.r, R.ext, R.flags);
    int d = kir_op2(L->f, SC_SUB, kir_load(L->f, x, R.xi), kir_load(L->f, R.m, R.xo));
    kir_store_to(L->f, R.s, R.xo, kir_op1(L->f, SC_EXP, d), KIR_RED_SUM, -1);
  }
  if (L->fz && L->fz->nrows < FUSE_MAX_ROWS) {
    fuse_rows *e = &L->fz->rows[L->fz->nrows++];
    *e = (fuse_rows){.x = x, .r = R.r, .m = R.m, .s = R.s, .xi = R.xi};
    memcpy(e->ext, R.ext, sizeof *R.ext * (size_t)R.r);
  }
  return R;
}

static int r_softmax(lower_ctx *L, const IrNode *n) {
  const IrType *xt = vt(L, n->in[0]);
  int x = lower_in(L, n->in[0]);
  rows R = row_stats(L, x, xt, (int)n->attr.ints[0], 1);
  int o = lower_out(L, n->out[0]);
  int keep[IR_MAX_RANK];
  lower_flags(R.r, R.ext, R.r, keep);
  kir_loop(L->f, ir_ops[n->op].name, R.r, R.ext, keep);
  int d = kir_op2(L->f, SC_SUB, kir_load(L->f, x, R.xi), kir_load(L->f, R.m, R.xo));
  int s = kir_load(L->f, R.s, R.xo), v;
  if (n->op == OP_SOFTMAX)
    v = kir_op2(L->f, SC_DIV, kir_op1(L->f, SC_EXP, d), s);
  else
    v = kir_op2(L->f, SC_SUB, d, kir_op1(L->f, SC_LOG, s));
  kir_store_to(L->f, o, R.xi, v, KIR_RED_NONE, -1);
  return 0;
}

/* Per-row (or per-element) terms l[k] reduced by attr ints[0]: 0 mean, 1 sum, 2 none. */
static void loss_reduce(lower_ctx *L, const IrNode *n, int l, kir_dtype dt, int64_t k) {
  int64_t red = n->attr.ints[0];
  int o = lower_out(L, n->out[0]);
  kir_index x = kir_index_bcast(1, 1, &k);
  if (red == 2) {
    copy_nest(L, "loss", 1, &k, l, x, o, x);
    return;
  }
  int flags[1] = {KIR_RED};
  kir_loop(L->f, "loss_reduce", 1, &k, flags);
  int post = red == 0 ? kir_op2(L->f, SC_DIV, kir_acc(L->f, dt), cnst(L, dt, (double)(k ? k : 1))) : -1;
  kir_store_to(L->f, o, kir_index_zero(), kir_load(L->f, l, x), KIR_RED_SUM, post);
}

/* mse: (a - b)^2; bce_logits: max(x, 0) - x y + log1p(exp(-|x|)) = softplus(x) - x y. */
static int r_loss_ew(lower_ctx *L, const IrNode *n) {
  const IrType *t = vt(L, n->in[0]);
  int64_t k = numel(&t->shape);
  int a = lower_in(L, n->in[0]), b = lower_in(L, n->in[1]);
  int l = lower_tmp(L, "terms", t->dtype, k), flags[1];
  lower_flags(1, &k, 1, flags);
  kir_loop(L->f, ir_ops[n->op].name, 1, &k, flags);
  kir_index x = kir_index_bcast(1, 1, &k);
  int la = kir_load(L->f, a, x), lb = kir_load(L->f, b, x), v;
  if (n->op == OP_MSE) {
    int d = kir_op2(L->f, SC_SUB, la, lb);
    v = kir_op2(L->f, SC_MUL, d, d);
  } else
    v = kir_op2(L->f, SC_SUB, kir_op1(L->f, SC_SOFTPLUS, la), kir_op2(L->f, SC_MUL, la, lb));
  kir_store_to(L->f, l, x, v, KIR_RED_NONE, -1);
  loss_reduce(L, n, l, t->dtype, k);
  return 0;
}

/* cross_entropy: m + log(sum exp(x - m)) - x[t]; nll: -x[t]; kl: sum exp(p) (p - q). The
 * picked logit is sum_c (c == t ? x : 0), which keeps every access affine. */
static int r_loss_rows(lower_ctx *L, const IrNode *n) {
  const IrType *xt = vt(L, n->in[0]);
  kir_dtype dt = xt->dtype;
  int64_t rowsn = xt->shape.rank ? xt->shape.dim[0] : 1, cols = rowsn ? numel(&xt->shape) / rowsn : 0;
  IrShape flat = {.rank = 2, .dim = {rowsn, cols}};
  IrType ft = {.dtype = dt, .shape = flat};
  int x = lower_in(L, n->in[0]), y = lower_in(L, n->in[1]);
  rows R = row_stats(L, x, &ft, 1, n->op == OP_CROSS_ENTROPY);
  int l = lower_tmp(L, "terms", dt, rowsn);
  kir_loop(L->f, ir_ops[n->op].name, 2, R.ext, R.flags);
  int lx = kir_load(L->f, x, R.xi), v;
  if (n->op == OP_KL)
    v = kir_op2(L->f, SC_MUL, kir_op1(L->f, SC_EXP, lx), kir_op2(L->f, SC_SUB, lx, kir_load(L->f, y, R.xi)));
  else {
    int t = kir_load(L->f, y, R.xo);
    if (vt(L, n->in[1])->dtype != IR_I64)
      t = kir_cast(L->f, KIR_I64, t);
    int hit = kir_op2(L->f, SC_EQ, t, kir_iv(L->f, 1));
    v = kir_op3(L->f, SC_SELECT, hit, lx, cnst(L, dt, 0));
  }
  int post = -1;
  if (n->op == OP_NLL)
    post = kir_op1(L->f, SC_NEG, kir_acc(L->f, dt));
  else if (n->op == OP_CROSS_ENTROPY) {
    int lse = kir_op2(L->f, SC_ADD, kir_load(L->f, R.m, R.xo), kir_op1(L->f, SC_LOG, kir_load(L->f, R.s, R.xo)));
    post = kir_op2(L->f, SC_SUB, lse, kir_acc(L->f, dt));
  }
  kir_store_to(L->f, l, R.xo, v, KIR_RED_SUM, post);
  loss_reduce(L, n, l, dt, rowsn);
  return 0;
}

/* ------------------------------------------------------------- sampling ---- */

/* u = nnrt_rand_uniform(seed, stream, flat element index) over the shape being stored. */
static int draw(lower_ctx *L, const IrNode *n, kir_rtfn fn, const IrShape *s) {
  int seed = kir_load(L->f, L->seed_buf, kir_index_zero());
  /* The interpreter's step: 0 at top level, t + 1 in a scan body (ev_scan), except for
   * per-sequence dropout (ints[0] = 1), which keeps the enclosing step. */
  int per_seq = n->op == OP_DROPOUT && n->attr.nint > 0 && n->attr.ints[0];
  kir_index st = {.offset = (int64_t)ir_rng_stream(n->attr.stream, 0)};
  if (L->in_scan && !per_seq) {
    st.offset = (int64_t)ir_rng_stream(n->attr.stream, 1);
    st.tstride = (int64_t)ir_rng_stream(0, 1);
  }
  return kir_rt(L->f, fn, seed, kir_affine(L->f, st), kir_affine(L->f, rowmajor(s)));
}

/* uniform: lo + (hi - lo) u; normal: mean + std z; bernoulli: u < p; dropout: u >= p ?
 * x / (1 - p) : 0 (the interpreter's rules, counters as in ev_sample). */
static int r_sample(lower_ctx *L, const IrNode *n) {
  const IrType *t = vt(L, n->out[0]);
  const IrShape *s = &t->shape;
  kir_dtype dt = t->dtype;
  int o = lower_out(L, n->out[0]), flags[IR_MAX_RANK];
  lower_flags(s->rank, s->dim, s->rank, flags);
  kir_loop(L->f, ir_ops[n->op].name, s->rank, s->dim, flags);
  double a = n->attr.flts[0], b = n->attr.flts[1];
  int u = draw(L, n, n->op == OP_NORMAL ? KIR_RT_NORMAL : KIR_RT_UNIFORM, s), v;
  if (dt != KIR_F32)
    u = kir_cast(L->f, dt, u);
  if (n->op == OP_UNIFORM)
    v = kir_op2(L->f, SC_ADD, cnst(L, dt, a), kir_op2(L->f, SC_MUL, cnst(L, dt, b - a), u));
  else if (n->op == OP_NORMAL)
    v = kir_op2(L->f, SC_ADD, cnst(L, dt, a), kir_op2(L->f, SC_MUL, cnst(L, dt, b), u));
  else {
    int x = kir_load(L->f, lower_in(L, n->in[0]), rowmajor(s));
    if (n->op == OP_BERNOULLI)
      v = kir_cast(L->f, dt, kir_op2(L->f, SC_LT, u, x));
    else
      v = kir_op3(L->f, SC_SELECT, kir_op2(L->f, SC_GE, u, cnst(L, dt, a)),
                  kir_op2(L->f, SC_DIV, x, cnst(L, dt, 1 - a)), cnst(L, dt, 0));
  }
  kir_store_to(L->f, o, rowmajor(s), v, KIR_RED_NONE, -1);
  return 0;
}

/* categorical: argmax_c logits - log(-log(max(u, 1e-12))), u at row * C + c. */
static int r_categorical(lower_ctx *L, const IrNode *n) {
  const IrType *xt = vt(L, n->in[0]);
  const IrShape *s = &xt->shape;
  int r = s->rank, x = lower_in(L, n->in[0]), flags[IR_MAX_RANK];
  int64_t k = numel(s), rowsn = numel(&vt(L, n->out[0])->shape);
  kir_dtype dt = xt->dtype;
  int noisy = lower_tmp(L, "gumbel", dt, k);
  lower_flags(r, s->dim, r, flags);
  kir_loop(L->f, "gumbel", r, s->dim, flags);
  int u = draw(L, n, KIR_RT_UNIFORM, s);
  if (dt != KIR_F32)
    u = kir_cast(L->f, dt, u);
  u = kir_op2(L->f, SC_MAX, u, cnst(L, dt, 1e-12));
  int gum = kir_op1(L->f, SC_NEG, kir_op1(L->f, SC_LOG, kir_op1(L->f, SC_NEG, kir_op1(L->f, SC_LOG, u))));
  kir_store_to(L->f, noisy, rowmajor(s), kir_op2(L->f, SC_ADD, kir_load(L->f, x, rowmajor(s)), gum), KIR_RED_NONE, -1);
  int64_t ext[2] = {rowsn, s->dim[r - 1]};
  int fl[2];
  lower_flags(2, ext, 1, fl);
  kir_index xi = {.stride = {ext[1], 1}}, xo = {.stride = {1}};
  int m = lower_tmp(L, "gumbel_max", dt, rowsn), o = lower_out(L, n->out[0]);
  kir_loop(L->f, "categorical_max", 2, ext, fl);
  kir_store_to(L->f, m, xo, kir_load(L->f, noisy, xi), KIR_RED_MAX, -1);
  kir_loop(L->f, "categorical", 2, ext, fl);
  int hit = kir_op2(L->f, SC_EQ, kir_load(L->f, noisy, xi), kir_load(L->f, m, xo));
  int j = kir_op3(L->f, SC_SELECT, hit, kir_iv(L->f, 1), cnst(L, KIR_I64, (double)ext[1]));
  int post = kir_op2(L->f, SC_MIN, kir_acc(L->f, KIR_I64), cnst(L, KIR_I64, (double)(ext[1] - 1)));
  kir_store_to(L->f, o, xo, j, KIR_RED_MIN, post);
  return 0;
}

/* ------------------------------------------------------------- indexing ---- */

/* x = [pre, D, post] around axis, idx flattened to [J]: the (pre, J, post) loop space. */
typedef struct take {
  int64_t ext[3], D;
  kir_index xs, xidx; /* x without its axis term; idx over dim 1 */
} take;

static take take_geom(lower_ctx *L, const IrNode *n) {
  const IrShape *s = &vt(L, n->in[0])->shape;
  int ax = (int)n->attr.ints[0];
  take t = {.ext = {1, numel(&vt(L, n->in[1])->shape), 1}, .D = s->dim[ax]};
  for (int d = 0; d < ax; d++)
    t.ext[0] *= s->dim[d];
  for (int d = ax + 1; d < s->rank; d++)
    t.ext[2] *= s->dim[d];
  t.xs = (kir_index){.stride = {t.D * t.ext[2], 0, 1}};
  t.xidx = (kir_index){.stride = {0, 1, 0}};
  return t;
}

static int take_index(lower_ctx *L, const IrNode *n, const take *t) {
  int i = kir_load(L->f, lower_in(L, n->in[1]), t->xidx);
  return vt(L, n->in[1])->dtype == IR_I64 ? i : kir_cast(L->f, KIR_I64, i);
}

/* gather: out[p, j, q] = x[p, idx[j], q] (indices clamped into [0, D)). */
static int r_gather(lower_ctx *L, const IrNode *n) {
  take t = take_geom(L, n);
  int o = lower_out(L, n->out[0]), flags[3];
  lower_flags(3, t.ext, 3, flags);
  kir_loop(L->f, "gather", 3, t.ext, flags);
  kir_dyn dyn = {.expr = take_index(L, n, &t), .stride = t.ext[2], .limit = t.D};
  kir_index xo = {.stride = {t.ext[1] * t.ext[2], t.ext[2], 1}};
  kir_store_to(L->f, o, xo, kir_load_dyn(L->f, lower_in(L, n->in[0]), t.xs, dyn), KIR_RED_NONE, -1);
  return 0;
}

/* scatter_add: out = x; out[p, idx[j], q] += src[p, j, q] (serial: indices may repeat). */
static int r_scatter_add(lower_ctx *L, const IrNode *n) {
  take t = take_geom(L, n);
  const IrShape *s = &vt(L, n->in[0])->shape;
  int o = lower_out(L, n->out[0]);
  copy_nest(L, "scatter_init", s->rank, s->dim, lower_in(L, n->in[0]), rowmajor(s), o, rowmajor(s));
  kir_loop(L->f, "scatter_add", 3, t.ext, NULL);
  kir_dyn dyn = {.expr = take_index(L, n, &t), .stride = t.ext[2], .limit = t.D};
  kir_index xsrc = {.stride = {t.ext[1] * t.ext[2], t.ext[2], 1}};
  kir_store_dyn(L->f, o, t.xs, dyn, kir_load(L->f, lower_in(L, n->in[2]), xsrc), 1);
  return 0;
}

/* ----------------------------------------------- convolution and pooling ---- */

/* A constant i64 geometry array for the runtime's conv/pool entry points. */
static int geom_buf(lower_ctx *L, const int64_t *g, int n) {
  char name[KIR_NAME];
  snprintf(name, sizeof name, "geom%d", L->n->out[0]);
  return kir_const_buffer(L->f, name, KIR_I64, n, g);
}

static const IrShape *shp(lower_ctx *L, IrVal v) { return &vt(L, v)->shape; }

/* int64_t[12] of kern_conv2d: n c h w oc kh kw sh sw ph pw groups, for the forward conv
 * whose input is x (n, c, h, w) and weights w (oc, c, kh, kw). */
static int conv_call(lower_ctx *L, const char *fn, const int64_t *g, int a, int b, int out, int with_bias) {
  int64_t wsn = nnrt_conv2d_workspace(g);
  if (wsn <= 0)
    return lower_fail(L, "invalid convolution geometry");
  int gb = geom_buf(L, g, 12), ws = lower_tmp(L, "conv_ws", KIR_F32, wsn);
  kir_call(L->f, ir_ops[L->n->op].name, fn);
  kir_arg_buf(L->f, gb);
  kir_arg_buf(L->f, a);
  kir_arg_buf(L->f, b);
  if (with_bias)
    kir_arg_null(L->f);
  kir_arg_buf(L->f, out);
  if (!with_bias && !strcmp(fn, "nnrt_conv2d_bwd_filter"))
    kir_arg_null(L->f); /* dbias */
  kir_arg_buf(L->f, ws);
  return 0;
}

/* conv2d with fuse.c's epilogue: act(conv(x, w) + bias) written into the epilogue's value. */
static int conv_fused(lower_ctx *L, const IrNode *n, const int64_t *g, int xb, int wb) {
  const fuse_info *fz = L->fz;
  IrVal m = n->out[0];
  int64_t wsn = nnrt_conv2d_workspace(g);
  if (wsn <= 0)
    return lower_fail(L, "invalid convolution geometry");
  int gb = geom_buf(L, g, 12), ws = lower_tmp(L, "conv_ws", KIR_F32, wsn);
  int bias = lower_in(L, fz->epi_bias[m]), o = lower_out(L, fz->epi[m]);
  kir_call(L->f, fz->epi_act[m] ? "conv2d_bias_relu" : "conv2d_bias", "nnrt_conv2d_fwd_ex");
  kir_arg_buf(L->f, gb), kir_arg_buf(L->f, xb), kir_arg_buf(L->f, wb), kir_arg_buf(L->f, bias);
  kir_arg_buf(L->f, o), kir_arg_buf(L->f, ws);
  kir_arg_i64(L->f, fz->epi_act[m] ? NNRT_ACT_RELU : NNRT_ACT_NONE);
  return 0;
}

static int r_conv(lower_ctx *L, const IrNode *n) {
  const IrShape *x = shp(L, n->in[0]), *w = shp(L, n->in[1]), *y = shp(L, n->out[0]);
  const int64_t *a = n->attr.ints;
  int xb = lower_in(L, n->in[0]), wb = lower_in(L, n->in[1]);
  if (vt(L, n->out[0])->dtype != IR_F32)
    return lower_fail(L, "only f32 convolutions are lowered");
  if (n->op == OP_CONV2D && L->fz && L->fz->epi[n->out[0]] >= 0) {
    int64_t g[12] = {x->dim[0], x->dim[1], x->dim[2], x->dim[3], w->dim[0], w->dim[2], w->dim[3], a[0], a[1], a[2], a[3], 1};
    return conv_fused(L, n, g, xb, wb);
  }
  int o = lower_out(L, n->out[0]);
  switch (n->op) {
  case OP_CONV1D: {
    int64_t g[12] = {x->dim[0], x->dim[1], 1, x->dim[2], w->dim[0], 1, w->dim[2], 1, a[0], 0, a[1], 1};
    return conv_call(L, "nnrt_conv2d_fwd", g, xb, wb, o, 1);
  }
  case OP_CONV2D: {
    int64_t g[12] = {x->dim[0], x->dim[1], x->dim[2], x->dim[3], w->dim[0], w->dim[2], w->dim[3], a[0], a[1], a[2], a[3], 1};
    return conv_call(L, "nnrt_conv2d_fwd", g, xb, wb, o, 1);
  }
  case OP_CONV_T2D: { /* the input gradient of conv2d from y (n, O, H', W') to x (n, C, H, W) */
    int64_t g[12] = {x->dim[0], w->dim[1], y->dim[2], y->dim[3], w->dim[0], w->dim[2], w->dim[3], a[0], a[1], a[2], a[3], 1};
    return conv_call(L, "nnrt_conv2d_bwd_data", g, xb, wb, o, 0);
  }
  default: { /* conv2d_wgrad(x, g) -> [O, C, KH, KW] */
    const IrShape *gs = w;
    int64_t g[12] = {x->dim[0], x->dim[1], x->dim[2], x->dim[3], gs->dim[1], a[4], a[5], a[0], a[1], a[2], a[3], 1};
    return conv_call(L, "nnrt_conv2d_bwd_filter", g, xb, wb, o, 0);
  }
  }
}

/* int64_t[11] of kern_pool2d: n c h w kh kw sh sw ph pw count_include_pad. */
static int r_pool(lower_ctx *L, const IrNode *n) {
  const IrShape *x = n->op == OP_AVGPOOL2D_GRAD ? shp(L, n->out[0]) : shp(L, n->in[0]);
  const int64_t *a = n->attr.ints;
  int64_t g[11] = {x->dim[0], x->dim[1], x->dim[2], x->dim[3], a[0], a[1], a[2], a[3], a[4], a[5], 1};
  if (vt(L, n->out[0])->dtype != IR_F32)
    return lower_fail(L, "only f32 pooling is lowered");
  int gb = geom_buf(L, g, 11), in = lower_in(L, n->in[0]), o;
  const char *fn = n->op == OP_MAXPOOL2D ? "nnrt_maxpool2d_fwd" : n->op == OP_AVGPOOL2D ? "nnrt_avgpool2d_fwd"
                                                                                         : "nnrt_avgpool2d_bwd";
  if (n->op == OP_MAXPOOL2D_GRAD) { /* recompute the argmax, then scatter the gradient */
    int64_t ny = numel(shp(L, n->in[1]));
    int ytmp = lower_tmp(L, "pool_y", KIR_F32, ny), am = lower_tmp(L, "pool_argmax", KIR_I32, ny);
    kir_call(L->f, "maxpool2d_fwd", "nnrt_maxpool2d_fwd");
    kir_arg_buf(L->f, gb), kir_arg_buf(L->f, in), kir_arg_buf(L->f, ytmp), kir_arg_buf(L->f, am);
    o = lower_out(L, n->out[0]);
    kir_call(L->f, "maxpool2d_bwd", "nnrt_maxpool2d_bwd");
    kir_arg_buf(L->f, gb), kir_arg_buf(L->f, lower_in(L, n->in[1])), kir_arg_buf(L->f, am), kir_arg_buf(L->f, o);
    return 0;
  }
  if (n->op == OP_MAXPOOL2D_SELECT) { /* out = h at each window's argmax of x */
    const IrShape *ys = shp(L, n->out[0]);
    int64_t ny = numel(ys), planes = x->dim[0] * x->dim[1], hw = x->dim[2] * x->dim[3];
    int ytmp = lower_tmp(L, "pool_y", KIR_F32, ny), am = lower_tmp(L, "pool_argmax", KIR_I32, ny);
    kir_call(L->f, "maxpool2d_fwd", "nnrt_maxpool2d_fwd");
    kir_arg_buf(L->f, gb), kir_arg_buf(L->f, in), kir_arg_buf(L->f, ytmp), kir_arg_buf(L->f, am);
    o = lower_out(L, n->out[0]);
    int64_t ext[2] = {planes, ny / (planes ? planes : 1)};
    kir_loop(L->f, "maxpool2d_select", 2, ext, NULL);
    kir_index xo = {.stride = {ext[1], 1}};
    kir_dyn dyn = {.expr = kir_cast(L->f, KIR_I64, kir_load(L->f, am, xo)), .stride = 1, .limit = hw};
    int v = kir_load_dyn(L->f, lower_in(L, n->in[1]), (kir_index){.stride = {hw, 0}}, dyn);
    kir_store_to(L->f, o, xo, v, KIR_RED_NONE, -1);
    return 0;
  }
  o = lower_out(L, n->out[0]);
  kir_call(L->f, ir_ops[n->op].name, fn);
  kir_arg_buf(L->f, gb), kir_arg_buf(L->f, in), kir_arg_buf(L->f, o);
  if (n->op == OP_MAXPOOL2D)
    kir_arg_null(L->f);
  return 0;
}

/* ------------------------------------------------------ subgraphs: scan ---- */

/* custom_grad: the forward subgraph, inline. */
static int r_custom_grad(lower_ctx *L, const IrNode *n) {
  int formals[64], res;
  if (n->nin > 64)
    return lower_fail(L, "more than 64 inputs");
  for (int i = 0; i < n->nin; i++)
    formals[i] = lower_in(L, n->in[i]);
  if (lower_sub(L, n->sub[0], formals, n->nin, &res))
    return -1;
  const IrShape *s = shp(L, n->out[0]);
  copy_nest(L, "custom_grad", s->rank, s->dim, res, rowmajor(s), lower_out(L, n->out[0]), rowmajor(s));
  return 0;
}

typedef struct scan_geom {
  int nc, nx, nk, ny, ax, rev, saved;
  int64_t T;
} scan_geom;

/* Step t of stacked tensor `whole` (time axis ax) <-> one step's buffer `part`. */
static void step_copy(lower_ctx *L, const char *name, const IrShape *ws, int ax, int whole, int part, int to_whole) {
  IrShape ps = *ws;
  ps.dim[ax] = 1;
  kir_index xw = rowmajor(ws), xp = rowmajor(&ps);
  xw.tstride = xw.stride[ax];
  for (int d = 0; d < ps.rank; d++)
    xw.stride[d] = d == ax ? 0 : xw.stride[d];
  if (to_whole)
    copy_nest(L, name, ps.rank, ps.dim, part, xp, whole, xw);
  else
    copy_nest(L, name, ps.rank, ps.dim, whole, xw, part, xp);
}

static void flat_copy(lower_ctx *L, const char *name, int src, int dst, int64_t k) {
  kir_index x = kir_index_bcast(1, 1, &k);
  copy_nest(L, name, 1, &k, src, x, dst, x);
}

/* One step's body: x slices in, (saved carries), the body, ys out, carries updated. */
static int scan_body(lower_ctx *L, const IrNode *n, const scan_geom *g, const int *carry, int *formals) {
  const IrGraph *body = n->sub[0];
  int res[128], tmp[64];
  for (int j = 0; j < g->nx; j++)
    step_copy(L, "scan_x", shp(L, n->in[g->nc + j]), g->ax, lower_in(L, n->in[g->nc + j]), formals[g->nc + j], 0);
  for (int j = 0; g->saved && j < g->nc; j++)
    step_copy(L, "scan_saved", shp(L, n->out[g->nc + g->ny + j]), g->ax, L->buf[n->out[g->nc + g->ny + j]], carry[j], 1);
  if (lower_sub(L, body, formals, g->nc + g->nx + g->nk, res))
    return -1;
  for (int j = 0; j < g->nc; j++) { /* results that are carries go through a temporary */
    tmp[j] = -1;
    for (int k = 0; k < g->nc; k++)
      if (res[j] == carry[k] && k != j) {
        tmp[j] = lower_tmp(L, "scan_swap", L->f->buf[carry[j]].dt, L->f->buf[carry[j]].size);
        flat_copy(L, "scan_swap", res[j], tmp[j], L->f->buf[carry[j]].size);
      }
  }
  for (int j = 0; j < g->ny; j++)
    step_copy(L, "scan_y", shp(L, n->out[g->nc + j]), g->ax, L->buf[n->out[g->nc + j]], res[g->nc + j], 1);
  for (int j = 0; j < g->nc; j++)
    if (res[j] != carry[j])
      flat_copy(L, "scan_carry", tmp[j] >= 0 ? tmp[j] : res[j], carry[j], L->f->buf[carry[j]].size);
  return 0;
}

/* scan: carries in arena buffers, a kir repeat over t running the body lowered inline;
 * outputs: final carries, stacked ys, and (saved) the stacked carries entering each step. */
static int r_scan(lower_ctx *L, const IrNode *n) {
  int done = 0, ck = lscan_lower(L, n, &done); /* checkpointed BPTT: lower_scan.c */
  if (ck || done)
    return ck;
  const int64_t *a = n->attr.ints;
  scan_geom g = {.nc = (int)a[0], .nx = (int)a[1], .nk = (int)a[2], .ax = (int)a[3], .rev = (int)a[4], .saved = (int)a[5]};
  g.ny = n->sub[0]->nouts - g.nc;
  if (L->in_scan)
    return lower_fail(L, "a scan inside a scan body is not lowered yet");
  if (g.nx < 1 || g.nc + g.nx + g.nk > 64 || g.ny + g.nc > 64)
    return lower_fail(L, "scan shape not lowered (%d carries, %d xs)", g.nc, g.nx);
  g.T = shp(L, n->in[g.nc])->dim[g.ax];
  int carry[64], formals[64];
  for (int j = 0; j < g.nc; j++) {
    const IrType *t = vt(L, n->in[j]);
    carry[j] = formals[j] = lower_tmp(L, "carry", t->dtype, numel(&t->shape));
    flat_copy(L, "scan_init", lower_in(L, n->in[j]), carry[j], numel(&t->shape));
  }
  for (int j = 0; j < g.nx; j++) {
    IrShape ps = *shp(L, n->in[g.nc + j]);
    ps.dim[g.ax] = 1;
    formals[g.nc + j] = lower_tmp(L, "x_t", vt(L, n->in[g.nc + j])->dtype, numel(&ps));
  }
  for (int j = 0; j < g.nk; j++)
    formals[g.nc + g.nx + j] = lower_in(L, n->in[g.nc + g.nx + j]);
  for (int j = 0; j < n->nout; j++)
    lower_out(L, n->out[j]);
  int rep = kir_repeat(L->f, "scan", g.T, g.rev);
  L->in_scan = 1;
  int rc = scan_body(L, n, &g, carry, formals);
  L->in_scan = 0;
  kir_repeat_end(L->f, rep);
  for (int j = 0; rc == 0 && j < g.nc; j++)
    flat_copy(L, "scan_final", carry[j], L->buf[n->out[j]], L->f->buf[carry[j]].size);
  return rc;
}

/* topk along ints[1]: rank_j = #{i : x_i before x_j} (greater, or equal with a lower index;
 * less when ascending), then for r < k: values[r] = sum_j (rank_j == r ? x_j : 0) and the
 * same for the index. O(len^2) per row, all accesses affine. */
static int r_topk(lower_ctx *L, const IrNode *n) {
  const IrType *xt = vt(L, n->in[0]);
  const IrShape *s = &xt->shape;
  int ax = (int)n->attr.ints[1], asc = (int)n->attr.ints[2], x = lower_in(L, n->in[0]);
  int64_t k = n->attr.ints[0], outer = 1, len = s->dim[ax], inner = 1;
  for (int d = 0; d < ax; d++)
    outer *= s->dim[d];
  for (int d = ax + 1; d < s->rank; d++)
    inner *= s->dim[d];
  int rank = lower_tmp(L, "topk_rank", KIR_I64, outer * len * inner), flags[4];
  int64_t e1[4] = {outer, len, inner, len};
  lower_flags(4, e1, 3, flags);
  kir_loop(L->f, "topk_rank", 4, e1, flags);
  kir_index xj = {.stride = {len * inner, inner, 1, 0}}, xi = {.stride = {len * inner, 0, 1, inner}};
  int vj = kir_load(L->f, x, xj), vi = kir_load(L->f, x, xi);
  int ahead = kir_op2(L->f, asc ? SC_LT : SC_GT, vi, vj);
  int tie = kir_op2(L->f, SC_AND, kir_op2(L->f, SC_EQ, vi, vj), kir_op2(L->f, SC_LT, kir_iv(L->f, 3), kir_iv(L->f, 1)));
  int one = kir_op3(L->f, SC_SELECT, kir_op2(L->f, SC_OR, ahead, tie), cnst(L, KIR_I64, 1), cnst(L, KIR_I64, 0));
  kir_store_to(L->f, rank, (kir_index){.stride = {len * inner, inner, 1}}, one, KIR_RED_SUM, -1);
  int ov = lower_out(L, n->out[0]), oi = lower_out(L, n->out[1]);
  int64_t e2[4] = {outer, k, inner, len};
  lower_flags(4, e2, 3, flags);
  kir_loop(L->f, "topk", 4, e2, flags);
  kir_index xr = {.stride = {len * inner, 0, 1, inner}}, xo = {.stride = {k * inner, inner, 1}};
  int hit = kir_op2(L->f, SC_EQ, kir_load(L->f, rank, xr), kir_iv(L->f, 1));
  kir_store_to(L->f, ov, xo, kir_op3(L->f, SC_SELECT, hit, kir_load(L->f, x, xr), cnst(L, xt->dtype, 0)), KIR_RED_SUM, -1);
  kir_store_to(L->f, oi, xo, kir_op3(L->f, SC_SELECT, hit, kir_iv(L->f, 3), cnst(L, KIR_I64, 0)), KIR_RED_SUM, -1);
  return 0;
}

/* take_along / put_along_add: loop over idx's shape; x is indexed by the same position
 * with the axis coordinate replaced by idx (clamped). */
static kir_index along_x(lower_ctx *L, const IrNode *n, kir_dyn *dyn) {
  const IrShape *xs = shp(L, n->in[0]), *is = shp(L, n->in[1]);
  int ax = (int)n->attr.ints[0];
  kir_index x = rowmajor(xs);
  int i = kir_load(L->f, lower_in(L, n->in[1]), rowmajor(is));
  if (vt(L, n->in[1])->dtype != IR_I64)
    i = kir_cast(L->f, KIR_I64, i);
  *dyn = (kir_dyn){.expr = i, .stride = x.stride[ax], .limit = xs->dim[ax]};
  x.stride[ax] = 0;
  return x;
}

static int r_take_along(lower_ctx *L, const IrNode *n) {
  const IrShape *is = shp(L, n->in[1]);
  int o = lower_out(L, n->out[0]), flags[IR_MAX_RANK];
  lower_flags(is->rank, is->dim, is->rank, flags);
  kir_loop(L->f, "take_along", is->rank, is->dim, flags);
  kir_dyn dyn;
  kir_index xi = along_x(L, n, &dyn);
  kir_store_to(L->f, o, rowmajor(is), kir_load_dyn(L->f, lower_in(L, n->in[0]), xi, dyn), KIR_RED_NONE, -1);
  return 0;
}

static int r_put_along_add(lower_ctx *L, const IrNode *n) {
  const IrShape *xs = shp(L, n->in[0]), *is = shp(L, n->in[1]);
  int o = lower_out(L, n->out[0]);
  copy_nest(L, "put_along_init", xs->rank, xs->dim, lower_in(L, n->in[0]), rowmajor(xs), o, rowmajor(xs));
  kir_loop(L->f, "put_along_add", is->rank, is->dim, NULL);
  kir_dyn dyn;
  kir_index xi = along_x(L, n, &dyn);
  kir_store_dyn(L->f, o, xi, dyn, kir_load(L->f, lower_in(L, n->in[2]), rowmajor(is)), 1);
  return 0;
}

/* ----------------------------------------------------------- host calls ---- */

/* host_call: a call of nnc_host_call(table, site, inputs..., results..., NULL...); the
 * site records the callee and the types (host.c resolves it when the plan is bound). */
static int r_host_call(lower_ctx *L, const IrNode *n) {
  if (L->in_scan)
    return lower_fail(L, "host function '%s': a call inside a scan body is not compiled yet "
                      "(only the interpreter runs it); call it outside the scan", n->name);
  lower_plan *p = L->plan;
  lower_host *h = realloc(p->host, sizeof *h * (size_t)(p->nhost + 1));
  if (!h)
    return lower_fail(L, "out of memory");
  p->host = h;
  h = &p->host[p->nhost];
  memset(h, 0, sizeof *h);
  snprintf(h->name, sizeof h->name, "%s", n->name ? n->name : "");
  h->nin = n->nin, h->nout = n->nout;
  int args[IR_HOST_MAX_ARGS];
  for (int i = 0; i < n->nin; i++)
    h->t[i] = *vt(L, n->in[i]), args[i] = lower_in(L, n->in[i]);
  for (int k = 0; k < n->nout; k++)
    h->t[n->nin + k] = *vt(L, n->out[k]), args[n->nin + k] = lower_out(L, n->out[k]);
  kir_call(L->f, "host_call", "nnc_host_call");
  kir_arg_buf(L->f, L->host_buf);
  kir_arg_i64(L->f, p->nhost++);
  for (int i = 0; i < IR_HOST_MAX_ARGS; i++)
    i < n->nin + n->nout ? kir_arg_buf(L->f, args[i]) : kir_arg_null(L->f);
  return 0;
}

/* ---------------------------------------------------------------- table ---- */

static const lower_fn rules[OP_NOPS] = {
    [OP_SUM] = r_reduce,          [OP_MEAN] = r_reduce,         [OP_MAX] = r_reduce,
    [OP_MIN] = r_reduce,          [OP_PROD] = r_reduce,         [OP_LOGSUMEXP] = r_reduce,
    [OP_ARGMAX] = r_argmax,       [OP_MATMUL] = r_matmul,       [OP_RESHAPE] = r_reshape,
    [OP_TRANSPOSE] = r_transpose, [OP_BROADCAST_TO] = r_broadcast_to,
    [OP_SLICE] = r_slice,         [OP_CONCAT] = r_concat,       [OP_SPLIT] = r_split,
    [OP_PAD] = r_pad,             [OP_ONE_HOT] = r_one_hot,     [OP_SOFTMAX] = r_softmax,
    [OP_LOG_SOFTMAX] = r_softmax, [OP_MSE] = r_loss_ew,         [OP_BCE_LOGITS] = r_loss_ew,
    [OP_CROSS_ENTROPY] = r_loss_rows, [OP_NLL] = r_loss_rows,   [OP_KL] = r_loss_rows,
    [OP_STOP_GRADIENT] = r_copy,  [OP_STRAIGHT_THROUGH] = r_copy,
    [OP_UNIFORM] = r_sample,      [OP_NORMAL] = r_sample,       [OP_BERNOULLI] = r_sample,
    [OP_DROPOUT] = r_sample,      [OP_CATEGORICAL] = r_categorical,
    [OP_GATHER] = r_gather,       [OP_SCATTER_ADD] = r_scatter_add,
    [OP_CONV1D] = r_conv,         [OP_CONV2D] = r_conv,         [OP_CONV_T2D] = r_conv,
    [OP_CONV2D_WGRAD] = r_conv,   [OP_MAXPOOL2D] = r_pool,      [OP_AVGPOOL2D] = r_pool,
    [OP_MAXPOOL2D_GRAD] = r_pool, [OP_AVGPOOL2D_GRAD] = r_pool,
    [OP_SCAN] = r_scan,           [OP_CUSTOM_GRAD] = r_custom_grad,
    [OP_ARGMIN] = r_argmax,       [OP_TAKE_ALONG] = r_take_along, [OP_PUT_ALONG_ADD] = r_put_along_add,
    [OP_TOPK] = r_topk,           [OP_MAXPOOL2D_SELECT] = r_pool,
    [OP_HOST_CALL] = r_host_call,
};

lower_fn lower_rule(IrOp op) { return op >= 0 && op < OP_NOPS ? rules[op] : NULL; }
