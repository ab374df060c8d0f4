/* ops_shape.c — the shape rules of ops.def: each derives a node's output dtype and shape
 * from its inputs and attributes, or fails with a message that names the shapes
 * ("matmul: f32[4, 3] @ f32[5, 2]: inner dimensions 3 and 5 differ"). */
#include <string.h>

#include "ir.h"

static const IrType *in_t(IrGraph *g, const IrNode *n, int i) { return ir_type(g, n->in[i]); }

static void set_out(IrGraph *g, IrNode *n, int i, IrDType dt, const IrShape *s)
{
  g->vals[n->out[i]].t.dtype = dt;
  g->vals[n->out[i]].t.shape = *s;
}

static const char *ts(const IrType *t, char *buf) { return ir_type_str(t, buf, 96); }

static int fail1(IrGraph *g, const IrNode *n, const char *what, int i)
{
  char b[96];
  return ir_fail(g, "%s: %s %s", ir_ops[n->op].name, what, ts(in_t(g, n, i), b));
}

static int norm_axis(int64_t axis, int rank) { return (int)(axis < 0 ? axis + rank : axis); }

static int check_axis(IrGraph *g, const IrNode *n, int64_t axis, int rank)
{
  int a = norm_axis(axis, rank);
  if (a < 0 || a >= rank)
    return ir_fail(g, "%s: axis %lld out of range for rank %d", ir_ops[n->op].name,
                   (long long)axis, rank);
  return 0;
}

/* Leaves: the type recorded in the attributes (dtype, ints = shape). Constants need a
 * payload, so they are made with ir_const/ir_fill, never with ir_add. */
int ir_shp_leaf(IrGraph *g, IrNode *n)
{
  if (n->op == OP_CONST && !n->cdata) return ir_fail(g, "const: build constants with ir_const or ir_fill");
  if ((unsigned)n->attr.dtype >= IR_NDTYPES || n->attr.nint > IR_MAX_RANK)
    return ir_fail(g, "%s: bad dtype or rank", ir_ops[n->op].name);
  IrShape s = ir_shape(n->attr.nint, n->attr.ints);
  set_out(g, n, 0, n->attr.dtype, &s);
  return 0;
}

int ir_shp_unary(IrGraph *g, IrNode *n)
{
  const IrType *t = in_t(g, n, 0);
  if (n->op == OP_CLIP && !(n->attr.flts[0] <= n->attr.flts[1]))
    return ir_fail(g, "clip: lower bound %g above upper bound %g", n->attr.flts[0], n->attr.flts[1]);
  if (t->dtype == IR_BOOL || t->dtype == IR_BIT) {
    if (n->op != OP_STOP_GRADIENT) return fail1(g, n, "needs a number, got", 0);
  }
  set_out(g, n, 0, t->dtype, &t->shape);
  return 0;
}

int ir_shp_unary_f(IrGraph *g, IrNode *n)
{
  const IrType *t = in_t(g, n, 0);
  if (!ir_is_float(t->dtype)) return fail1(g, n, "needs a floating tensor, got", 0);
  set_out(g, n, 0, t->dtype, &t->shape);
  return 0;
}

int ir_shp_cast(IrGraph *g, IrNode *n)
{
  if ((unsigned)n->attr.dtype >= IR_NDTYPES) return ir_fail(g, "cast: bad dtype %d", n->attr.dtype);
  set_out(g, n, 0, n->attr.dtype, &in_t(g, n, 0)->shape);
  return 0;
}

/* Broadcast of inputs lo..hi-1 which must share a dtype. */
static int bcast_inputs(IrGraph *g, IrNode *n, int lo, IrShape *out)
{
  const IrType *a = in_t(g, n, lo);
  *out = a->shape;
  for (int i = lo + 1; i < n->nin; i++) {
    const IrType *b = in_t(g, n, i);
    char x[96], y[96];
    if (b->dtype != a->dtype)
      return ir_fail(g, "%s: dtypes differ: %s and %s", ir_ops[n->op].name, ts(a, x), ts(b, y));
    if (ir_broadcast_shapes(out, &b->shape, out))
      return ir_fail(g, "%s: shapes %s and %s do not broadcast", ir_ops[n->op].name, ts(a, x), ts(b, y));
  }
  return 0;
}

int ir_shp_binary(IrGraph *g, IrNode *n)
{
  IrShape s;
  if (bcast_inputs(g, n, 0, &s)) return -1;
  IrDType dt = in_t(g, n, 0)->dtype;
  if (dt == IR_BOOL || dt == IR_BIT) return fail1(g, n, "needs numbers, got", 0);
  set_out(g, n, 0, dt, &s);
  return 0;
}

int ir_shp_binary_f(IrGraph *g, IrNode *n)
{
  if (!ir_is_float(in_t(g, n, 0)->dtype)) return fail1(g, n, "needs floating tensors, got", 0);
  return ir_shp_binary(g, n);
}

int ir_shp_cmp(IrGraph *g, IrNode *n)
{
  IrShape s;
  if (bcast_inputs(g, n, 0, &s)) return -1;
  set_out(g, n, 0, IR_BOOL, &s);
  return 0;
}

int ir_shp_logic(IrGraph *g, IrNode *n)
{
  IrShape s;
  for (int i = 0; i < n->nin; i++)
    if (in_t(g, n, i)->dtype != IR_BOOL && in_t(g, n, i)->dtype != IR_BIT)
      return fail1(g, n, "needs bool tensors, got", i);
  if (bcast_inputs(g, n, 0, &s)) return -1;
  set_out(g, n, 0, in_t(g, n, 0)->dtype, &s);
  return 0;
}

int ir_shp_where(IrGraph *g, IrNode *n)
{
  IrShape s, c = in_t(g, n, 0)->shape;
  if (in_t(g, n, 0)->dtype != IR_BOOL) return fail1(g, n, "condition must be bool, got", 0);
  if (bcast_inputs(g, n, 1, &s)) return -1;
  if (ir_broadcast_shapes(&s, &c, &s)) return fail1(g, n, "condition does not broadcast:", 0);
  set_out(g, n, 0, in_t(g, n, 1)->dtype, &s);
  return 0;
}

/* Reduced shape of s over the axes in ints[1..]; mask[i] set for reduced axes. */
static int reduce_shape(IrGraph *g, IrNode *n, const IrShape *s, int keep, IrShape *out)
{
  int mask[IR_MAX_RANK] = {0};
  for (int i = 1; i < n->attr.nint; i++) {
    if (check_axis(g, n, n->attr.ints[i], s->rank)) return -1;
    int a = norm_axis(n->attr.ints[i], s->rank);
    if (mask[a]) return ir_fail(g, "%s: axis %d given twice", ir_ops[n->op].name, a);
    mask[a] = 1;
    n->attr.ints[i] = a;
  }
  out->rank = 0;
  for (int i = 0; i < s->rank; i++) {
    if (!mask[i]) out->dim[out->rank++] = s->dim[i];
    else if (keep) out->dim[out->rank++] = 1;
  }
  return 0;
}

int ir_shp_reduce(IrGraph *g, IrNode *n)
{
  const IrType *t = in_t(g, n, 0);
  IrShape s;
  if (n->attr.nint < 1) return ir_fail(g, "%s: missing keepdims attribute", ir_ops[n->op].name);
  if (t->dtype == IR_BOOL || t->dtype == IR_BIT) return fail1(g, n, "needs numbers, got", 0);
  if (reduce_shape(g, n, &t->shape, (int)n->attr.ints[0], &s)) return -1;
  set_out(g, n, 0, t->dtype, &s);
  return 0;
}

int ir_shp_reduce_f(IrGraph *g, IrNode *n)
{
  if (!ir_is_float(in_t(g, n, 0)->dtype)) return fail1(g, n, "needs a floating tensor, got", 0);
  return ir_shp_reduce(g, n);
}

int ir_shp_argmax(IrGraph *g, IrNode *n)
{
  const IrType *t = in_t(g, n, 0);
  IrShape s;
  if (n->attr.nint != 2) return ir_fail(g, "argmax: needs (keepdims, axis)");
  if (reduce_shape(g, n, &t->shape, (int)n->attr.ints[0], &s)) return -1;
  set_out(g, n, 0, IR_I64, &s);
  return 0;
}

int ir_shp_topk(IrGraph *g, IrNode *n)
{
  const IrType *t = in_t(g, n, 0);
  if (n->attr.nint != 3) return ir_fail(g, "topk: needs (k, axis, ascending)");
  if (t->dtype == IR_BOOL || t->dtype == IR_BIT) return fail1(g, n, "needs numbers, got", 0);
  if (check_axis(g, n, n->attr.ints[1], t->shape.rank)) return -1;
  int ax = norm_axis(n->attr.ints[1], t->shape.rank);
  n->attr.ints[1] = ax;
  char b[96];
  if (n->attr.ints[0] < 1 || n->attr.ints[0] > t->shape.dim[ax])
    return ir_fail(g, "topk: k = %lld outside [1, %lld] for %s along axis %d", (long long)n->attr.ints[0],
                   (long long)t->shape.dim[ax], ts(t, b), ax);
  IrType ot[2] = {*t, *t};
  ot[0].shape.dim[ax] = ot[1].shape.dim[ax] = n->attr.ints[0];
  ot[1].dtype = IR_I64;
  if (n->nout == 0) return ir_node_add_outputs(g, n, 2, ot);
  if (n->nout != 2) return ir_fail(g, "topk: has %d outputs, expected 2", n->nout);
  g->vals[n->out[0]].t = ot[0];
  g->vals[n->out[1]].t = ot[1];
  return 0;
}

int ir_shp_matmul(IrGraph *g, IrNode *n)
{
  const IrType *a = in_t(g, n, 0), *b = in_t(g, n, 1);
  char x[96], y[96];
  if (a->shape.rank < 2 || b->shape.rank < 2)
    return ir_fail(g, "matmul: operands need rank >= 2, got %s and %s", ts(a, x), ts(b, y));
  if (a->dtype != b->dtype || a->dtype == IR_BOOL)
    return ir_fail(g, "matmul: dtypes %s and %s", ts(a, x), ts(b, y));
  int ra = a->shape.rank, rb = b->shape.rank, ta = (int)n->attr.ints[0], tb = (int)n->attr.ints[1];
  int64_t m = a->shape.dim[ra - 2 + ta], k = a->shape.dim[ra - 1 - ta];
  int64_t k2 = b->shape.dim[rb - 2 + tb], nn = b->shape.dim[rb - 1 - tb];
  if (k != k2)
    return ir_fail(g, "matmul: %s @ %s: inner dimensions %lld and %lld differ", ts(a, x), ts(b, y),
                   (long long)k, (long long)k2);
  IrShape ba = a->shape, bb = b->shape, s;
  ba.rank -= 2;
  bb.rank -= 2;
  if (ir_broadcast_shapes(&ba, &bb, &s))
    return ir_fail(g, "matmul: batch dimensions of %s and %s do not broadcast", ts(a, x), ts(b, y));
  s.dim[s.rank++] = m;
  s.dim[s.rank++] = nn;
  set_out(g, n, 0, a->dtype, &s);
  return 0;
}

/* Output size of a convolution / pooling window. */
static int64_t conv_out(int64_t in, int64_t k, int64_t s, int64_t p) { return (in + 2 * p - k) / s + 1; }

static int conv_common(IrGraph *g, IrNode *n, int rank, int wch)
{
  const IrType *x = in_t(g, n, 0), *w = in_t(g, n, 1);
  char a[96], b[96];
  if (x->shape.rank != rank || w->shape.rank != rank)
    return ir_fail(g, "%s: needs rank-%d input and weight, got %s and %s", ir_ops[n->op].name, rank,
                   ts(x, a), ts(w, b));
  if (!ir_is_float(x->dtype) || x->dtype != w->dtype)
    return ir_fail(g, "%s: dtypes %s and %s", ir_ops[n->op].name, ts(x, a), ts(w, b));
  if (x->shape.dim[1] != w->shape.dim[wch])
    return ir_fail(g, "%s: input %s has %lld channels, weight %s expects %lld", ir_ops[n->op].name,
                   ts(x, a), (long long)x->shape.dim[1], ts(w, b), (long long)w->shape.dim[wch]);
  for (int i = 0; i < n->attr.nint; i++)
    if (n->attr.ints[i] < 0 || (i < rank - 2 && n->attr.ints[i] < 1))
      return ir_fail(g, "%s: bad stride/padding %lld", ir_ops[n->op].name, (long long)n->attr.ints[i]);
  return 0;
}

static int conv_fwd_shape(IrGraph *g, IrNode *n, int sp)
{
  const IrType *x = in_t(g, n, 0), *w = in_t(g, n, 1);
  IrShape s = x->shape;
  s.dim[1] = w->shape.dim[0];
  for (int i = 0; i < sp; i++) {
    s.dim[2 + i] = conv_out(x->shape.dim[2 + i], w->shape.dim[2 + i], n->attr.ints[i], n->attr.ints[sp + i]);
    if (s.dim[2 + i] < 1) {
      char a[96], b[96];
      return ir_fail(g, "%s: kernel %s larger than padded input %s", ir_ops[n->op].name, ts(w, a), ts(x, b));
    }
  }
  set_out(g, n, 0, x->dtype, &s);
  return 0;
}

int ir_shp_conv1d(IrGraph *g, IrNode *n)
{
  if (n->attr.nint != 2) return ir_fail(g, "conv1d: needs (stride, pad)");
  return conv_common(g, n, 3, 1) ? -1 : conv_fwd_shape(g, n, 1);
}

int ir_shp_conv2d(IrGraph *g, IrNode *n)
{
  if (n->attr.nint != 4) return ir_fail(g, "conv2d: needs (sh, sw, ph, pw)");
  return conv_common(g, n, 4, 1) ? -1 : conv_fwd_shape(g, n, 2);
}

int ir_shp_conv_t2d(IrGraph *g, IrNode *n)
{
  if (n->attr.nint != 6) return ir_fail(g, "conv_t2d: needs (sh, sw, ph, pw, oph, opw)");
  if (conv_common(g, n, 4, 0)) return -1;
  const IrType *x = in_t(g, n, 0), *w = in_t(g, n, 1);
  IrShape s = x->shape;
  s.dim[1] = w->shape.dim[1];
  for (int i = 0; i < 2; i++) {
    const int64_t *a = n->attr.ints;
    s.dim[2 + i] = (x->shape.dim[2 + i] - 1) * a[i] - 2 * a[2 + i] + w->shape.dim[2 + i] + a[4 + i];
    if (s.dim[2 + i] < 1) return ir_fail(g, "conv_t2d: empty output");
  }
  set_out(g, n, 0, x->dtype, &s);
  return 0;
}

int ir_shp_wgrad(IrGraph *g, IrNode *n)
{
  const IrType *x = in_t(g, n, 0), *gy = in_t(g, n, 1);
  if (n->attr.nint != 6 || x->shape.rank != 4 || gy->shape.rank != 4 || x->dtype != gy->dtype ||
      x->shape.dim[0] != gy->shape.dim[0])
    return fail1(g, n, "bad operands, input", 0);
  const int64_t *a = n->attr.ints;
  for (int i = 0; i < 2; i++)
    if (conv_out(x->shape.dim[2 + i], a[4 + i], a[i], a[2 + i]) != gy->shape.dim[2 + i])
      return fail1(g, n, "gradient size does not match the convolution of", 0);
  int64_t d[4] = {gy->shape.dim[1], x->shape.dim[1], a[4], a[5]};
  IrShape s = ir_shape(4, d);
  set_out(g, n, 0, x->dtype, &s);
  return 0;
}

static int pool_check(IrGraph *g, IrNode *n, const IrType *x)
{
  if (x->shape.rank != 4 || !ir_is_float(x->dtype)) return fail1(g, n, "needs f32/f64[N, C, H, W], got", 0);
  const int64_t *a = n->attr.ints;
  for (int i = 0; i < 4; i++)
    if (a[i] < 1) return ir_fail(g, "%s: kernel and stride must be >= 1", ir_ops[n->op].name);
  if (a[4] < 0 || a[5] < 0 || a[4] * 2 > a[0] || a[5] * 2 > a[1])
    return ir_fail(g, "%s: padding must be in [0, kernel/2]", ir_ops[n->op].name);
  return 0;
}

int ir_shp_pool(IrGraph *g, IrNode *n)
{
  const IrType *x = in_t(g, n, 0);
  if (n->attr.nint != 6) return ir_fail(g, "%s: needs (kh, kw, sh, sw, ph, pw)", ir_ops[n->op].name);
  if (pool_check(g, n, x)) return -1;
  IrShape s = x->shape;
  const int64_t *a = n->attr.ints;
  for (int i = 0; i < 2; i++) {
    s.dim[2 + i] = conv_out(x->shape.dim[2 + i], a[i], a[2 + i], a[4 + i]);
    if (s.dim[2 + i] < 1) return fail1(g, n, "window larger than the input", 0);
  }
  set_out(g, n, 0, x->dtype, &s);
  return 0;
}

int ir_shp_maxpool_grad(IrGraph *g, IrNode *n)
{
  const IrType *x = in_t(g, n, 0);
  set_out(g, n, 0, x->dtype, &x->shape);
  return 0;
}

int ir_shp_maxpool_select(IrGraph *g, IrNode *n)
{
  const IrType *x = in_t(g, n, 0), *h = in_t(g, n, 1);
  char a[96], b[96];
  if (h->dtype != x->dtype || !ir_shape_eq(&h->shape, &x->shape))
    return ir_fail(g, "maxpool2d_select: %s and %s differ", ts(x, a), ts(h, b));
  return ir_shp_pool(g, n);
}

int ir_shp_avgpool_grad(IrGraph *g, IrNode *n)
{
  const IrType *gy = in_t(g, n, 0);
  if (n->attr.nint != 8 || gy->shape.rank != 4) return fail1(g, n, "bad operand", 0);
  IrShape s = gy->shape;
  s.dim[2] = n->attr.ints[6];
  s.dim[3] = n->attr.ints[7];
  set_out(g, n, 0, gy->dtype, &s);
  return 0;
}

int ir_shp_softmax(IrGraph *g, IrNode *n)
{
  const IrType *t = in_t(g, n, 0);
  if (!ir_is_float(t->dtype)) return fail1(g, n, "needs a floating tensor, got", 0);
  if (check_axis(g, n, n->attr.ints[0], t->shape.rank)) return -1;
  n->attr.ints[0] = norm_axis(n->attr.ints[0], t->shape.rank);
  set_out(g, n, 0, t->dtype, &t->shape);
  return 0;
}

static int set_loss_out(IrGraph *g, IrNode *n, const IrShape *none)
{
  IrShape scalar = {0};
  int64_t red = n->attr.ints[0];
  if (red < 0 || red > 2) return ir_fail(g, "%s: reduction %lld (0 mean, 1 sum, 2 none)", ir_ops[n->op].name, (long long)red);
  set_out(g, n, 0, in_t(g, n, 0)->dtype, red == 2 ? none : &scalar);
  return 0;
}

int ir_shp_loss_cls(IrGraph *g, IrNode *n)
{
  const IrType *x = in_t(g, n, 0), *t = in_t(g, n, 1);
  char a[96], b[96];
  if (x->shape.rank != 2 || !ir_is_float(x->dtype)) return fail1(g, n, "needs f32/f64[N, C] scores, got", 0);
  if (t->shape.rank != 1 || (t->dtype != IR_I32 && t->dtype != IR_I64) || t->shape.dim[0] != x->shape.dim[0])
    return ir_fail(g, "%s: targets %s do not match scores %s (want i32/i64[%lld])", ir_ops[n->op].name,
                   ts(t, b), ts(x, a), (long long)x->shape.dim[0]);
  return set_loss_out(g, n, &t->shape);
}

int ir_shp_loss_ew(IrGraph *g, IrNode *n)
{
  const IrType *x = in_t(g, n, 0), *y = in_t(g, n, 1);
  char a[96], b[96];
  if (!ir_is_float(x->dtype) || x->dtype != y->dtype || !ir_shape_eq(&x->shape, &y->shape))
    return ir_fail(g, "%s: operands %s and %s must have one floating type", ir_ops[n->op].name, ts(x, a), ts(y, b));
  return set_loss_out(g, n, &x->shape);
}

int ir_shp_loss_kl(IrGraph *g, IrNode *n)
{
  if (ir_shp_loss_ew(g, n)) return -1;
  const IrType *x = in_t(g, n, 0);
  if (x->shape.rank < 1) return fail1(g, n, "needs rows, got", 0);
  IrShape rows = ir_shape(1, x->shape.dim);
  return set_loss_out(g, n, &rows);
}

static int is_index(IrDType t) { return t == IR_I32 || t == IR_I64; }

int ir_shp_gather(IrGraph *g, IrNode *n)
{
  const IrType *x = in_t(g, n, 0), *idx = in_t(g, n, 1);
  if (!is_index(idx->dtype)) return fail1(g, n, "indices must be i32/i64, got", 1);
  if (check_axis(g, n, n->attr.ints[0], x->shape.rank)) return -1;
  int ax = norm_axis(n->attr.ints[0], x->shape.rank);
  n->attr.ints[0] = ax;
  if (x->shape.rank - 1 + idx->shape.rank > IR_MAX_RANK) return ir_fail(g, "gather: result rank too large");
  IrShape s = {0};
  for (int i = 0; i < ax; i++) s.dim[s.rank++] = x->shape.dim[i];
  for (int i = 0; i < idx->shape.rank; i++) s.dim[s.rank++] = idx->shape.dim[i];
  for (int i = ax + 1; i < x->shape.rank; i++) s.dim[s.rank++] = x->shape.dim[i];
  set_out(g, n, 0, x->dtype, &s);
  return 0;
}

int ir_shp_scatter(IrGraph *g, IrNode *n)
{
  IrVal x = n->in[0], idx = n->in[1];
  /* src must have the shape gather(x, idx, axis) would have */
  IrNode probe = *n;
  IrVal in2[2] = {x, idx};
  probe.in = in2;
  probe.nin = 2;
  IrValue saved = g->vals[n->out[0]];
  if (ir_shp_gather(g, &probe)) return -1;
  IrType want = g->vals[n->out[0]].t;
  g->vals[n->out[0]] = saved;
  n->attr.ints[0] = probe.attr.ints[0];
  const IrType *src = in_t(g, n, 2);
  char a[96], b[96];
  if (src->dtype != want.dtype || !ir_shape_eq(&src->shape, &want.shape))
    return ir_fail(g, "scatter_add: source %s, expected %s", ts(src, a), ts(&want, b));
  set_out(g, n, 0, ir_type(g, x)->dtype, &ir_type(g, x)->shape);
  return 0;
}

/* idx has x's rank and dims except on the axis. */
static int along_check(IrGraph *g, IrNode *n, const IrType *x, const IrType *idx)
{
  char a[96], b[96];
  if (!is_index(idx->dtype)) return fail1(g, n, "indices must be i32/i64, got", 1);
  if (check_axis(g, n, n->attr.ints[0], x->shape.rank)) return -1;
  int ax = norm_axis(n->attr.ints[0], x->shape.rank), ok = idx->shape.rank == x->shape.rank;
  for (int i = 0; ok && i < x->shape.rank; i++) ok = i == ax || idx->shape.dim[i] == x->shape.dim[i];
  if (!ok) return ir_fail(g, "%s: indices %s do not match %s outside axis %d", ir_ops[n->op].name,
                          ts(idx, b), ts(x, a), ax);
  n->attr.ints[0] = ax;
  return 0;
}

int ir_shp_take_along(IrGraph *g, IrNode *n)
{
  const IrType *x = in_t(g, n, 0), *idx = in_t(g, n, 1);
  if (along_check(g, n, x, idx)) return -1;
  set_out(g, n, 0, x->dtype, &idx->shape);
  return 0;
}

int ir_shp_put_along(IrGraph *g, IrNode *n)
{
  const IrType *x = in_t(g, n, 0), *idx = in_t(g, n, 1), *src = in_t(g, n, 2);
  char a[96], b[96];
  if (along_check(g, n, x, idx)) return -1;
  if (src->dtype != x->dtype || !ir_shape_eq(&src->shape, &idx->shape))
    return ir_fail(g, "put_along_add: source %s, expected %s shaped like the indices", ts(src, a), ts(idx, b));
  set_out(g, n, 0, x->dtype, &x->shape);
  return 0;
}

int ir_shp_one_hot(IrGraph *g, IrNode *n)
{
  const IrType *t = in_t(g, n, 0);
  if (!is_index(t->dtype)) return fail1(g, n, "indices must be i32/i64, got", 0);
  if (n->attr.ints[0] < 1) return ir_fail(g, "one_hot: depth %lld < 1", (long long)n->attr.ints[0]);
  if (t->shape.rank >= IR_MAX_RANK) return ir_fail(g, "one_hot: rank too large");
  IrShape s = t->shape;
  s.dim[s.rank++] = n->attr.ints[0];
  set_out(g, n, 0, n->attr.dtype, &s);
  return 0;
}

int ir_shp_concat(IrGraph *g, IrNode *n)
{
  if (n->nin < 1) return ir_fail(g, "concat: no inputs");
  const IrType *a = in_t(g, n, 0);
  if (check_axis(g, n, n->attr.ints[0], a->shape.rank)) return -1;
  int ax = norm_axis(n->attr.ints[0], a->shape.rank);
  n->attr.ints[0] = ax;
  IrShape s = a->shape;
  for (int i = 1; i < n->nin; i++) {
    const IrType *b = in_t(g, n, i);
    int ok = b->dtype == a->dtype && b->shape.rank == a->shape.rank;
    for (int d = 0; ok && d < s.rank; d++) ok = d == ax || b->shape.dim[d] == s.dim[d];
    char x[96], y[96];
    if (!ok) return ir_fail(g, "concat: %s and %s differ outside axis %d", ts(a, x), ts(b, y), ax);
    s.dim[ax] += b->shape.dim[ax];
  }
  set_out(g, n, 0, a->dtype, &s);
  return 0;
}

int ir_shp_split(IrGraph *g, IrNode *n)
{
  const IrType *t = in_t(g, n, 0);
  if (check_axis(g, n, n->attr.ints[0], t->shape.rank)) return -1;
  int ax = norm_axis(n->attr.ints[0], t->shape.rank), k = n->attr.nint - 1;
  n->attr.ints[0] = ax;
  int64_t total = 0;
  IrType ot[IR_MAX_INTS];
  for (int i = 0; i < k; i++) {
    if (n->attr.ints[1 + i] < 0) return ir_fail(g, "split: negative size");
    total += n->attr.ints[1 + i];
    ot[i] = *t;
    ot[i].shape.dim[ax] = n->attr.ints[1 + i];
  }
  char b[96];
  if (total != t->shape.dim[ax])
    return ir_fail(g, "split: sizes sum to %lld but %s has %lld along axis %d", (long long)total,
                   ts(t, b), (long long)t->shape.dim[ax], ax);
  if (n->nout == 0) return ir_node_add_outputs(g, n, k, ot);
  if (n->nout != k) return ir_fail(g, "split: has %d outputs, expected %d", n->nout, k);
  for (int i = 0; i < k; i++) g->vals[n->out[i]].t = ot[i];
  return 0;
}

int ir_shp_slice(IrGraph *g, IrNode *n)
{
  const IrType *t = in_t(g, n, 0);
  int r = t->shape.rank;
  IrShape s = t->shape;
  if (n->attr.nint != 2 * r) return ir_fail(g, "slice: needs start and end per axis");
  for (int i = 0; i < r; i++) {
    int64_t a = n->attr.ints[i], b = n->attr.ints[r + i];
    char x[96];
    if (a < 0 || a > b || b > t->shape.dim[i])
      return ir_fail(g, "slice: [%lld:%lld] out of range on axis %d of %s", (long long)a,
                     (long long)b, i, ts(t, x));
    s.dim[i] = b - a;
  }
  set_out(g, n, 0, t->dtype, &s);
  return 0;
}

int ir_shp_reshape(IrGraph *g, IrNode *n)
{
  const IrType *t = in_t(g, n, 0);
  IrShape s = ir_shape(n->attr.nint, n->attr.ints);
  char x[96];
  if (n->attr.nint > IR_MAX_RANK) return ir_fail(g, "reshape: rank %d too large", n->attr.nint);
  if (ir_numel(&s) != ir_numel(&t->shape))
    return ir_fail(g, "reshape: %s has %lld elements, the new shape %lld", ts(t, x),
                   (long long)ir_numel(&t->shape), (long long)ir_numel(&s));
  set_out(g, n, 0, t->dtype, &s);
  return 0;
}

int ir_shp_transpose(IrGraph *g, IrNode *n)
{
  const IrType *t = in_t(g, n, 0);
  int seen[IR_MAX_RANK] = {0};
  IrShape s = t->shape;
  if (n->attr.nint != t->shape.rank) return fail1(g, n, "permutation length differs from rank of", 0);
  for (int i = 0; i < s.rank; i++) {
    int64_t p = n->attr.ints[i];
    if (p < 0 || p >= s.rank || seen[p]++) return ir_fail(g, "transpose: not a permutation");
    s.dim[i] = t->shape.dim[p];
  }
  set_out(g, n, 0, t->dtype, &s);
  return 0;
}

int ir_shp_broadcast_to(IrGraph *g, IrNode *n)
{
  const IrType *t = in_t(g, n, 0);
  IrShape s = ir_shape(n->attr.nint, n->attr.ints), b;
  if (n->attr.nint > IR_MAX_RANK) return ir_fail(g, "broadcast_to: rank %d too large", n->attr.nint);
  IrType want = {t->dtype, s};
  char x[96], y[96];
  if (ir_broadcast_shapes(&t->shape, &s, &b) || !ir_shape_eq(&b, &s))
    return ir_fail(g, "broadcast_to: cannot broadcast %s to %s", ts(t, x), ts(&want, y));
  set_out(g, n, 0, t->dtype, &s);
  return 0;
}

int ir_shp_pad(IrGraph *g, IrNode *n)
{
  const IrType *t = in_t(g, n, 0);
  int r = t->shape.rank;
  IrShape s = t->shape;
  if (n->attr.nint != 2 * r) return ir_fail(g, "pad: needs before and after per axis");
  for (int i = 0; i < r; i++) {
    if (n->attr.ints[i] < 0 || n->attr.ints[r + i] < 0) return ir_fail(g, "pad: negative padding");
    s.dim[i] += n->attr.ints[i] + n->attr.ints[r + i];
  }
  set_out(g, n, 0, t->dtype, &s);
  return 0;
}

int ir_shp_sample(IrGraph *g, IrNode *n)
{
  if (!ir_is_float(n->attr.dtype)) return ir_fail(g, "%s: dtype must be f32 or f64", ir_ops[n->op].name);
  if (n->attr.nint > IR_MAX_RANK) return ir_fail(g, "%s: rank too large", ir_ops[n->op].name);
  IrShape s = ir_shape(n->attr.nint, n->attr.ints);
  for (int i = 0; i < s.rank; i++)
    if (s.dim[i] < 0) return ir_fail(g, "%s: negative dimension", ir_ops[n->op].name);
  set_out(g, n, 0, n->attr.dtype, &s);
  return 0;
}

int ir_shp_categorical(IrGraph *g, IrNode *n)
{
  const IrType *t = in_t(g, n, 0);
  if (!ir_is_float(t->dtype) || t->shape.rank < 1) return fail1(g, n, "needs floating logits[..., C], got", 0);
  IrShape s = t->shape;
  s.rank--;
  set_out(g, n, 0, IR_I64, &s);
  return 0;
}

int ir_shp_straight(IrGraph *g, IrNode *n)
{
  const IrType *a = in_t(g, n, 0), *b = in_t(g, n, 1);
  char x[96], y[96];
  if (a->dtype != b->dtype || !ir_shape_eq(&a->shape, &b->shape))
    return ir_fail(g, "straight_through: value %s and gradient path %s differ", ts(a, x), ts(b, y));
  set_out(g, n, 0, a->dtype, &a->shape);
  return 0;
}

/* Type of formal pos of subgraph sub, or NULL when missing. */
static const IrType *formal_type(const IrGraph *sub, int pos)
{
  for (int i = 0; i < sub->nnodes; i++) {
    const IrNode *m = sub->nodes[i];
    if (m->op == OP_INPUT && m->attr.ints[IR_MAX_INTS - 1] == pos + 1) return &sub->vals[m->out[0]].t;
  }
  return NULL;
}

static int count_formals(const IrGraph *sub)
{
  int k = 0;
  for (int i = 0; i < sub->nnodes; i++)
    if (sub->nodes[i]->op == OP_INPUT && sub->nodes[i]->attr.ints[IR_MAX_INTS - 1] > 0) k++;
  return k;
}

/* Checks formal pos of sub has type want. */
static int check_formal(IrGraph *g, const char *what, const IrGraph *sub, int pos, const IrType *want)
{
  const IrType *f = formal_type(sub, pos);
  char a[96], b[96];
  if (!f) return ir_fail(g, "%s: formal %d missing", what, pos);
  if (f->dtype != want->dtype || !ir_shape_eq(&f->shape, &want->shape))
    return ir_fail(g, "%s: formal %d is %s, given %s", what, pos, ts(f, a), ts(want, b));
  return 0;
}

int ir_shp_custom(IrGraph *g, IrNode *n)
{
  const IrGraph *f = n->sub[0], *b = n->sub[1];
  if (!f || !b || f->nouts != 1 || b->nouts != n->nin || count_formals(f) != n->nin ||
      count_formals(b) != n->nin + 2)
    return ir_fail(g, "custom_grad: forward must map %d args to 1 result, backward %d args to %d",
                   n->nin, n->nin + 2, n->nin);
  for (int i = 0; i < n->nin; i++) {
    if (check_formal(g, "custom_grad forward", f, i, in_t(g, n, i))) return -1;
    if (check_formal(g, "custom_grad backward", b, i, in_t(g, n, i))) return -1;
    const IrType *r = &b->vals[b->outs[i]].t, *x = in_t(g, n, i);
    if (r->dtype != x->dtype || !ir_shape_eq(&r->shape, &x->shape))
      return ir_fail(g, "custom_grad: backward result %d does not match input %d", i, i);
  }
  const IrType *y = &f->vals[f->outs[0]].t;
  if (check_formal(g, "custom_grad backward", b, n->nin, y) ||
      check_formal(g, "custom_grad backward", b, n->nin + 1, y))
    return -1;
  set_out(g, n, 0, y->dtype, &y->shape);
  return 0;
}

/* t with axis removed (a per-step slice) / inserted with length T (stacked). */
static IrType drop_axis(IrType t, int ax)
{
  for (int i = ax; i + 1 < t.shape.rank; i++) t.shape.dim[i] = t.shape.dim[i + 1];
  t.shape.rank--;
  return t;
}

static IrType add_axis(IrType t, int ax, int64_t T)
{
  for (int i = t.shape.rank; i > ax; i--) t.shape.dim[i] = t.shape.dim[i - 1];
  t.shape.dim[ax] = T;
  t.shape.rank++;
  return t;
}

static int scan_check_inputs(IrGraph *g, IrNode *n, int64_t *T)
{
  const IrGraph *body = n->sub[0];
  int nc = (int)n->attr.ints[0], nx = (int)n->attr.ints[1], nk = (int)n->attr.ints[2];
  int ax = (int)n->attr.ints[3];
  int64_t len = n->attr.nint >= 7 ? n->attr.ints[6] : -1;
  if (!body || nx < 0 || nc < 0 || nk < 0 || nc + nx + nk != n->nin || count_formals(body) != n->nin ||
      body->nouts < nc)
    return ir_fail(g, "scan: body must take %d carries, %d step inputs, %d constants", nc, nx, nk);
  if (nx == 0 && len < 0) return ir_fail(g, "scan: without step inputs the length must be given");
  *T = nx == 0 ? len : -1;
  for (int i = 0; i < n->nin; i++) {
    IrType t = *in_t(g, n, i);
    if (i >= nc && i < nc + nx) {
      if (ax < 0 || ax >= t.shape.rank) return fail1(g, n, "time axis out of range for", i);
      if (*T >= 0 && t.shape.dim[ax] != *T) return fail1(g, n, "step inputs differ in length:", i);
      *T = t.shape.dim[ax];
      t = drop_axis(t, ax);
    }
    if (check_formal(g, "scan body", body, i, &t)) return -1;
  }
  if (len >= 0 && *T != len)
    return ir_fail(g, "scan: length attribute %lld differs from the step inputs' %lld", (long long)len, (long long)*T);
  for (int i = 0; i < nc; i++) {
    const IrType *r = &body->vals[body->outs[i]].t, *c = in_t(g, n, i);
    if (r->dtype != c->dtype || !ir_shape_eq(&r->shape, &c->shape))
      return fail1(g, n, "body's new carry differs from the initial carry", i);
  }
  return 0;
}

int ir_shp_scan(IrGraph *g, IrNode *n)
{
  int64_t T = 0;
  if (n->attr.nint < 6 || scan_check_inputs(g, n, &T)) return n->attr.nint < 6 ? ir_fail(g, "scan: attrs") : -1;
  const IrGraph *body = n->sub[0];
  int nc = (int)n->attr.ints[0], ny = body->nouts - nc, ax = (int)n->attr.ints[3];
  int saved = (int)n->attr.ints[5], nout = nc + ny + (saved ? nc : 0);
  n->attr.nint = 7; /* the length is always recorded (ints[6] = T) */
  n->attr.ints[6] = T;
  IrType ot[64];
  if (nout > 64) return ir_fail(g, "scan: too many outputs");
  for (int i = 0; i < nc; i++) ot[i] = *in_t(g, n, i);
  for (int i = 0; i < ny; i++) {
    IrType y = body->vals[body->outs[nc + i]].t;
    if (y.shape.rank >= IR_MAX_RANK || ax > y.shape.rank) return ir_fail(g, "scan: output %d rank", i);
    ot[nc + i] = add_axis(y, ax, T);
  }
  for (int i = 0; saved && i < nc; i++) {
    if (ax > ot[i].shape.rank) return ir_fail(g, "scan: carry %d rank below time axis", i);
    ot[nc + ny + i] = add_axis(ot[i], ax, T);
  }
  if (n->nout == 0) return ir_node_add_outputs(g, n, nout, ot);
  if (n->nout != nout) return ir_fail(g, "scan: has %d outputs, expected %d", n->nout, nout);
  for (int i = 0; i < nout; i++) g->vals[n->out[i]].t = ot[i];
  return 0;
}

/* host_call: the result types are the attributes (the extern's declared return type). */
int ir_shp_host_call(IrGraph *g, IrNode *n)
{
  const int64_t *a = n->attr.ints;
  int nout = n->attr.nint > 0 ? (int)a[0] : 0, p = 1;
  IrType ot[IR_HOST_MAX_ARGS];
  if (nout < 1 || nout + n->nin > IR_HOST_MAX_ARGS) return ir_fail(g, "host_call: %d results", nout);
  for (int k = 0; k < nout; k++) {
    if (p + 2 > n->attr.nint || a[p] < 0 || a[p] >= IR_NDTYPES || a[p + 1] < 0 || a[p + 1] > IR_MAX_RANK ||
        p + 2 + a[p + 1] > n->attr.nint)
      return ir_fail(g, "host_call: bad attributes for result %d", k);
    ot[k].dtype = (IrDType)a[p];
    ot[k].shape.rank = (int)a[p + 1];
    for (int d = 0; d < ot[k].shape.rank; d++) ot[k].shape.dim[d] = a[p + 2 + d];
    p += 2 + ot[k].shape.rank;
  }
  if (n->nout == 0) return ir_node_add_outputs(g, n, nout, ot);
  if (n->nout != nout) return ir_fail(g, "host_call: has %d outputs, expected %d", n->nout, nout);
  for (int k = 0; k < nout; k++) g->vals[n->out[k]].t = ot[k];
  return 0;
}
