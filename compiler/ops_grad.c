/* ops_grad.c — the gradient rules of ops.def, each written as graph construction in terms
 * of other ops (a vector-Jacobian product): given the adjoint G of the node's output, build
 * the adjoints of its inputs. Broadcast inputs are un-broadcast (summed) to their shapes.
 * Residual choices follow compiler-techniques.md §4.2 (e.g. tanh and sigmoid reuse y).
 * Scan's rule (BPTT) lives in scan.c.
 * Beware: creating a node may reallocate g->vals, so never hold an IrType pointer
 * (ir_type) across a call that builds nodes; copy the shape first. */
#include "ir.h"

#define X(i) (n->in[i])
#define Y (n->out[0])
#define G (gout[0])

static IrDType dt_of(IrGraph *g, IrVal v) { return ir_type(g, v)->dtype; }
static IrVal k(IrGraph *g, IrVal like, double v) { return ir_scalar(g, dt_of(g, like), v); }
static IrVal add(IrGraph *g, IrVal a, IrVal b) { return ir_binary(g, OP_ADD, a, b); }
static IrVal sub(IrGraph *g, IrVal a, IrVal b) { return ir_binary(g, OP_SUB, a, b); }
static IrVal mul(IrGraph *g, IrVal a, IrVal b) { return ir_binary(g, OP_MUL, a, b); }
static IrVal dv(IrGraph *g, IrVal a, IrVal b) { return ir_binary(g, OP_DIV, a, b); }
static IrVal ub(IrGraph *g, IrVal a, IrVal like) { return ad_unbroadcast(g, a, &ir_type(g, like)->shape); }
/* where(c, a, 0) and where(c, 0, a) */
static IrVal keep_if(IrGraph *g, IrVal c, IrVal a) { return ir_where(g, c, a, k(g, a, 0)); }
static IrVal drop_if(IrGraph *g, IrVal c, IrVal a) { return ir_where(g, c, k(g, a, 0), a); }
static int done(IrGraph *g) { return g->failed ? -1 : 0; }

int ir_gr_neg(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  gin[0] = ir_unary(g, OP_NEG, G);
  return done(g);
}

int ir_gr_exp(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  gin[0] = mul(g, G, Y);
  return done(g);
}

int ir_gr_log(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  gin[0] = dv(g, G, X(0));
  return done(g);
}

int ir_gr_tanh(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  gin[0] = mul(g, G, sub(g, k(g, Y, 1), mul(g, Y, Y)));
  return done(g);
}

int ir_gr_sigmoid(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  gin[0] = mul(g, G, mul(g, Y, sub(g, k(g, Y, 1), Y)));
  return done(g);
}

int ir_gr_relu(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  gin[0] = keep_if(g, ir_binary(g, OP_GT, X(0), k(g, X(0), 0)), G);
  return done(g);
}

int ir_gr_leaky_relu(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  IrVal pos = ir_binary(g, OP_GT, X(0), k(g, X(0), 0));
  gin[0] = ir_where(g, pos, G, mul(g, G, k(g, G, n->attr.flts[0])));
  return done(g);
}

int ir_gr_abs(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  gin[0] = mul(g, G, ir_unary(g, OP_SIGN, X(0)));
  return done(g);
}

int ir_gr_sqrt(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  gin[0] = dv(g, mul(g, G, k(g, G, 0.5)), Y);
  return done(g);
}

int ir_gr_rsqrt(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  IrVal y3 = mul(g, Y, mul(g, Y, Y));
  gin[0] = mul(g, G, mul(g, y3, k(g, Y, -0.5)));
  return done(g);
}

int ir_gr_softplus(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  gin[0] = mul(g, G, ir_unary(g, OP_SIGMOID, X(0)));
  return done(g);
}

int ir_gr_clip(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  IrVal lo = ir_binary(g, OP_GE, X(0), k(g, X(0), n->attr.flts[0]));
  IrVal hi = ir_binary(g, OP_LE, X(0), k(g, X(0), n->attr.flts[1]));
  gin[0] = keep_if(g, ir_binary(g, OP_AND, lo, hi), G);
  return done(g);
}

int ir_gr_cast(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  IrDType from = dt_of(g, X(0));
  gin[0] = ir_is_float(from) ? ir_cast(g, G, from) : IR_NONE;
  return done(g);
}

int ir_gr_add(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  gin[0] = ub(g, G, X(0));
  gin[1] = ub(g, G, X(1));
  return done(g);
}

int ir_gr_sub(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  gin[0] = ub(g, G, X(0));
  gin[1] = ub(g, ir_unary(g, OP_NEG, G), X(1));
  return done(g);
}

int ir_gr_mul(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  gin[0] = ub(g, mul(g, G, X(1)), X(0));
  gin[1] = ub(g, mul(g, G, X(0)), X(1));
  return done(g);
}

int ir_gr_div(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  gin[0] = ub(g, dv(g, G, X(1)), X(0));
  IrVal q = dv(g, Y, X(1)); /* a / b^2 */
  gin[1] = ub(g, ir_unary(g, OP_NEG, mul(g, G, q)), X(1));
  return done(g);
}

int ir_gr_pow(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  IrVal bm1 = sub(g, X(1), k(g, X(1), 1));
  gin[0] = ub(g, mul(g, G, mul(g, X(1), ir_binary(g, OP_POW, X(0), bm1))), X(0));
  gin[1] = ub(g, mul(g, G, mul(g, ir_unary(g, OP_LOG, X(0)), Y)), X(1));
  return done(g);
}

/* maximum/minimum: the gradient goes to a where a wins (ties: a), else to b. */
static int minmax(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin, IrOp cmp)
{
  IrVal m = ir_binary(g, cmp, X(0), X(1));
  gin[0] = ub(g, keep_if(g, m, G), X(0));
  gin[1] = ub(g, drop_if(g, m, G), X(1));
  return done(g);
}

int ir_gr_maximum(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  return minmax(g, n, gout, gin, OP_GE);
}

int ir_gr_minimum(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  return minmax(g, n, gout, gin, OP_LE);
}

int ir_gr_mod(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  gin[0] = ub(g, G, X(0));
  IrVal q = ir_unary(g, OP_FLOOR, dv(g, X(0), X(1)));
  gin[1] = ub(g, ir_unary(g, OP_NEG, mul(g, G, q)), X(1));
  return done(g);
}

int ir_gr_where(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  gin[0] = IR_NONE;
  gin[1] = ub(g, keep_if(g, X(0), G), X(1));
  gin[2] = ub(g, drop_if(g, X(0), G), X(2));
  return done(g);
}

/* ---------------------------------------------------------- reductions ---- */

/* v has the reduced shape of node n; returns it broadcast back to n's input shape. */
static IrVal expand(IrGraph *g, const IrNode *n, IrVal v)
{
  IrShape s = ir_type(g, X(0))->shape, kept = s;
  for (int i = 1; i < n->attr.nint; i++) kept.dim[n->attr.ints[i]] = 1;
  return ir_broadcast_to(g, ir_reshape(g, v, kept), s);
}

static int64_t reduced_count(IrGraph *g, const IrNode *n)
{
  int64_t c = 1;
  for (int i = 1; i < n->attr.nint; i++) c *= ir_type(g, X(0))->shape.dim[n->attr.ints[i]];
  return c;
}

int ir_gr_sum(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  gin[0] = expand(g, n, G);
  return done(g);
}

int ir_gr_mean(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  int64_t c = reduced_count(g, n);
  gin[0] = mul(g, expand(g, n, G), k(g, G, c ? 1.0 / (double)c : 0));
  return done(g);
}

/* max/min: the gradient is shared equally by the elements equal to the result. */
int ir_gr_maxmin(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  IrVal hit = ir_cast(g, ir_binary(g, OP_EQ, X(0), expand(g, n, Y)), dt_of(g, X(0)));
  int axes[IR_MAX_RANK];
  for (int i = 1; i < n->attr.nint; i++) axes[i - 1] = (int)n->attr.ints[i];
  IrVal cnt = ir_reduce(g, OP_SUM, hit, n->attr.nint - 1, axes, 0);
  gin[0] = mul(g, hit, expand(g, n, dv(g, G, cnt)));
  return done(g);
}

int ir_gr_prod(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  gin[0] = dv(g, expand(g, n, mul(g, G, Y)), X(0));
  return done(g);
}

int ir_gr_logsumexp(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  IrVal p = ir_unary(g, OP_EXP, sub(g, X(0), expand(g, n, Y)));
  gin[0] = mul(g, expand(g, n, G), p);
  return done(g);
}

/* --------------------------------------------------------- contractions ---- */

/* C = op(A) op(B): dA = G op(B)^T (transposed back if ta), dB = op(A)^T G (likewise). */
int ir_gr_matmul(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  int ta = (int)n->attr.ints[0], tb = (int)n->attr.ints[1];
  IrVal A = X(0), B = X(1);
  IrVal da = ta ? ir_matmul(g, B, G, tb, 1) : ir_matmul(g, G, B, 0, !tb);
  IrVal db = tb ? ir_matmul(g, G, A, 1, ta) : ir_matmul(g, A, G, !ta, 0);
  gin[0] = ub(g, da, A);
  gin[1] = ub(g, db, B);
  return done(g);
}

/* Output padding making conv_t2d(G) as large as the conv2d input x (per spatial axis i). */
static int out_pad(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p)
{
  return (int)(in - ((out - 1) * s - 2 * p + k));
}

static IrVal wgrad(IrGraph *g, IrVal x, IrVal gy, const int64_t *a4, int64_t kh, int64_t kw)
{
  IrAttrs a = {0};
  a.nint = 6;
  for (int i = 0; i < 4; i++) a.ints[i] = a4[i];
  a.ints[4] = kh;
  a.ints[5] = kw;
  IrVal in[2] = {x, gy};
  return ir_add(g, OP_CONV2D_WGRAD, 2, in, &a);
}

/* conv2d input/weight gradients; a = (sh, sw, ph, pw). */
static void conv2d_vjp(IrGraph *g, IrVal x, IrVal w, IrVal gy, const int64_t *a, IrVal *gx, IrVal *gw)
{
  /* copies: creating nodes may move g->vals */
  IrShape xs = ir_type(g, x)->shape, ws = ir_type(g, w)->shape, ys = ir_type(g, gy)->shape;
  int oph = out_pad(xs.dim[2], ys.dim[2], ws.dim[2], a[0], a[2]);
  int opw = out_pad(xs.dim[3], ys.dim[3], ws.dim[3], a[1], a[3]);
  *gx = ir_conv_t2d(g, gy, w, (int)a[0], (int)a[1], (int)a[2], (int)a[3], oph, opw);
  *gw = wgrad(g, x, gy, a, ws.dim[2], ws.dim[3]);
}

int ir_gr_conv2d(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  conv2d_vjp(g, X(0), X(1), G, n->attr.ints, &gin[0], &gin[1]);
  return done(g);
}

/* conv1d as conv2d with H = 1. */
static IrVal to4(IrGraph *g, IrVal v)
{
  const IrShape *s = &ir_type(g, v)->shape;
  int64_t d[4] = {s->dim[0], s->dim[1], 1, s->dim[2]};
  return ir_reshape(g, v, ir_shape(4, d));
}

int ir_gr_conv1d(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  int64_t a[4] = {1, n->attr.ints[0], 0, n->attr.ints[1]};
  IrVal gx, gw;
  conv2d_vjp(g, to4(g, X(0)), to4(g, X(1)), to4(g, G), a, &gx, &gw);
  gin[0] = ir_reshape(g, gx, ir_type(g, X(0))->shape);
  gin[1] = ir_reshape(g, gw, ir_type(g, X(1))->shape);
  return done(g);
}

int ir_gr_conv_t2d(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  const int64_t *a = n->attr.ints;
  IrShape ws = ir_type(g, X(1))->shape;
  gin[0] = ir_conv2d(g, G, X(1), (int)a[0], (int)a[1], (int)a[2], (int)a[3]);
  gin[1] = wgrad(g, G, X(0), a, ws.dim[2], ws.dim[3]);
  return done(g);
}

/* wgrad(x, gy) is bilinear: with cotangent G (weight-shaped), dx = conv_t2d(gy, G) and
 * dgy = conv2d(x, G). */
int ir_gr_wgrad(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  const int64_t *a = n->attr.ints;
  const IrShape *xs = &ir_type(g, X(0))->shape, *ys = &ir_type(g, X(1))->shape;
  int oph = out_pad(xs->dim[2], ys->dim[2], a[4], a[0], a[2]);
  int opw = out_pad(xs->dim[3], ys->dim[3], a[5], a[1], a[3]);
  gin[0] = ir_conv_t2d(g, X(1), G, (int)a[0], (int)a[1], (int)a[2], (int)a[3], oph, opw);
  gin[1] = ir_conv2d(g, X(0), G, (int)a[0], (int)a[1], (int)a[2], (int)a[3]);
  return done(g);
}

int ir_gr_maxpool(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  IrVal in[2] = {X(0), G};
  gin[0] = ir_add(g, OP_MAXPOOL2D_GRAD, 2, in, &n->attr);
  return done(g);
}

/* maxpool2d_grad(x, g) and maxpool2d_select(x, h) are linear in their second input and
 * each other's adjoint; w.r.t. x they are piecewise constant (no gradient). */
int ir_gr_maxpool_grad(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  IrVal in[2] = {X(0), G};
  gin[0] = IR_NONE;
  gin[1] = ir_add(g, OP_MAXPOOL2D_SELECT, 2, in, &n->attr);
  return done(g);
}

int ir_gr_maxpool_select(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  IrVal in[2] = {X(0), G};
  gin[0] = IR_NONE;
  gin[1] = ir_add(g, OP_MAXPOOL2D_GRAD, 2, in, &n->attr);
  return done(g);
}

int ir_gr_avgpool(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  IrAttrs a = n->attr;
  a.nint = 8;
  a.ints[6] = ir_type(g, X(0))->shape.dim[2];
  a.ints[7] = ir_type(g, X(0))->shape.dim[3];
  gin[0] = ir_add(g, OP_AVGPOOL2D_GRAD, 1, &G, &a);
  return done(g);
}

int ir_gr_avgpool_grad(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  IrAttrs a = n->attr;
  a.nint = 6;
  gin[0] = ir_add(g, OP_AVGPOOL2D, 1, &G, &a);
  return done(g);
}

/* ------------------------------------------------ normalisers, losses ---- */

static IrVal sum_keep(IrGraph *g, IrVal x, int axis)
{
  return ir_reduce(g, OP_SUM, x, 1, &axis, 1);
}

int ir_gr_softmax(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  IrVal s = sum_keep(g, mul(g, G, Y), (int)n->attr.ints[0]);
  gin[0] = mul(g, Y, sub(g, G, s));
  return done(g);
}

int ir_gr_log_softmax(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  IrVal s = sum_keep(g, G, (int)n->attr.ints[0]);
  gin[0] = sub(g, G, mul(g, ir_unary(g, OP_EXP, Y), s));
  return done(g);
}

/* The loss adjoint shaped to broadcast against the input: G/count (mean), G (sum), or G
 * reshaped to [N, 1, ...] for per-row losses with reduction none. */
static IrVal loss_adj(IrGraph *g, const IrNode *n, IrVal gy, int rows)
{
  const IrShape *xs = &ir_type(g, X(0))->shape;
  int64_t red = n->attr.ints[0];
  if (red == 1) return gy;
  if (red == 0) {
    int64_t c = rows ? xs->dim[0] : ir_numel(xs);
    return mul(g, gy, k(g, gy, c ? 1.0 / (double)c : 0));
  }
  if (!rows) return gy;
  IrShape s = *xs;
  for (int i = 1; i < s.rank; i++) s.dim[i] = 1;
  return ir_reshape(g, gy, s);
}

static IrVal one_hot_like(IrGraph *g, IrVal t, IrVal x)
{
  const IrType *xt = ir_type(g, x);
  if (xt->shape.dim[1] > 2147483647) {   /* ir_one_hot's depth is an int */
    ir_fail(g, "one_hot: %lld classes, more than 2147483647", (long long)xt->shape.dim[1]);
    return IR_NONE;
  }
  return ir_one_hot(g, t, (int)xt->shape.dim[1], xt->dtype);
}

int ir_gr_cross_entropy(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  IrVal p = ir_softmax(g, OP_SOFTMAX, X(0), 1);
  gin[0] = mul(g, sub(g, p, one_hot_like(g, X(1), X(0))), loss_adj(g, n, G, 1));
  gin[1] = IR_NONE;
  return done(g);
}

int ir_gr_nll(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  gin[0] = mul(g, ir_unary(g, OP_NEG, one_hot_like(g, X(1), X(0))), loss_adj(g, n, G, 1));
  gin[1] = IR_NONE;
  return done(g);
}

int ir_gr_bce_logits(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  IrVal a = loss_adj(g, n, G, 0);
  gin[0] = mul(g, sub(g, ir_unary(g, OP_SIGMOID, X(0)), X(1)), a);
  gin[1] = mul(g, ir_unary(g, OP_NEG, X(0)), a);
  return done(g);
}

int ir_gr_mse(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  IrVal d = mul(g, mul(g, sub(g, X(0), X(1)), k(g, G, 2)), loss_adj(g, n, G, 0));
  gin[0] = d;
  gin[1] = ir_unary(g, OP_NEG, d);
  return done(g);
}

int ir_gr_kl(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  IrVal a = loss_adj(g, n, G, 1), p = ir_unary(g, OP_EXP, X(0));
  IrVal d = add(g, sub(g, X(0), X(1)), k(g, X(0), 1));
  gin[0] = mul(g, mul(g, p, d), a);
  gin[1] = ir_unary(g, OP_NEG, mul(g, p, a));
  return done(g);
}

/* ------------------------------------------------------------ indexing ---- */

int ir_gr_gather(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  IrVal z = ir_or_zeros(g, IR_NONE, ir_type(g, X(0)));
  gin[0] = ir_scatter_add(g, z, X(1), G, (int)n->attr.ints[0]);
  gin[1] = IR_NONE;
  return done(g);
}

int ir_gr_scatter(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  gin[0] = G;
  gin[1] = IR_NONE;
  gin[2] = ir_gather(g, G, X(1), (int)n->attr.ints[0]);
  return done(g);
}

static IrVal along(IrGraph *g, IrOp op, int nin, const IrVal *in, int axis)
{
  IrAttrs a = {0};
  a.nint = 1;
  a.ints[0] = axis;
  return ir_add(g, op, nin, in, &a);
}

int ir_gr_take_along(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  IrVal in[3] = {ir_or_zeros(g, IR_NONE, ir_type(g, X(0))), X(1), G};
  gin[0] = along(g, OP_PUT_ALONG_ADD, 3, in, (int)n->attr.ints[0]);
  gin[1] = IR_NONE;
  return done(g);
}

/* topk: the value adjoints go back to the selected positions (indices carry none). */
int ir_gr_topk(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  if (G == IR_NONE) {
    gin[0] = IR_NONE;
    return 0;
  }
  IrVal in[3] = {ir_or_zeros(g, IR_NONE, ir_type(g, X(0))), n->out[1], G};
  gin[0] = along(g, OP_PUT_ALONG_ADD, 3, in, (int)n->attr.ints[1]);
  return done(g);
}

int ir_gr_put_along(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  IrVal in[2] = {G, X(1)};
  gin[0] = G;
  gin[1] = IR_NONE;
  gin[2] = along(g, OP_TAKE_ALONG, 2, in, (int)n->attr.ints[0]);
  return done(g);
}

/* ------------------------------------------------------- data movement ---- */

int ir_gr_concat(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  int ax = (int)n->attr.ints[0];
  IrShape s = ir_type(g, Y)->shape;
  int64_t lo[IR_MAX_RANK] = {0}, hi[IR_MAX_RANK];
  for (int i = 0; i < s.rank; i++) hi[i] = s.dim[i];
  for (int i = 0; i < n->nin; i++) {
    hi[ax] = lo[ax] + ir_type(g, X(i))->shape.dim[ax];
    gin[i] = ir_slice(g, G, lo, hi);
    lo[ax] = hi[ax];
  }
  return done(g);
}

int ir_gr_split(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  IrVal parts[IR_MAX_INTS];
  for (int i = 0; i < n->nout; i++) parts[i] = ir_or_zeros(g, gout[i], ir_type(g, n->out[i]));
  gin[0] = ir_concat(g, n->nout, parts, (int)n->attr.ints[0]);
  return done(g);
}

int ir_gr_slice(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  const IrShape *s = &ir_type(g, X(0))->shape;
  int64_t after[IR_MAX_RANK];
  for (int i = 0; i < s->rank; i++) after[i] = s->dim[i] - n->attr.ints[s->rank + i];
  gin[0] = ir_pad(g, G, n->attr.ints, after, 0.0);
  return done(g);
}

int ir_gr_reshape(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  gin[0] = ir_reshape(g, G, ir_type(g, X(0))->shape);
  return done(g);
}

int ir_gr_transpose(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  int inv[IR_MAX_RANK];
  for (int i = 0; i < n->attr.nint; i++) inv[n->attr.ints[i]] = i;
  gin[0] = ir_transpose(g, G, inv);
  return done(g);
}

int ir_gr_broadcast_to(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  gin[0] = ub(g, G, X(0));
  return done(g);
}

int ir_gr_pad(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  const IrShape *s = &ir_type(g, X(0))->shape;
  int64_t end[IR_MAX_RANK];
  for (int i = 0; i < s->rank; i++) end[i] = n->attr.ints[i] + s->dim[i];
  gin[0] = ir_slice(g, G, n->attr.ints, end);
  return done(g);
}

/* ------------------------------------------------ randomness, control ---- */

/* The mask is regenerated from the same Philox stream: dropout(G) with the same attrs. */
int ir_gr_dropout(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  gin[0] = ir_add(g, OP_DROPOUT, 1, &G, &n->attr);
  return done(g);
}

int ir_gr_straight(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  gin[0] = IR_NONE;
  gin[1] = G;
  return done(g);
}

/* The user's backward subgraph, inlined with (x..., y, G). */
int ir_gr_custom(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  IrVal args[IR_MAX_INTS + 2];
  if (n->nin > IR_MAX_INTS) return ir_fail(g, "custom_grad: too many inputs");
  for (int i = 0; i < n->nin; i++) args[i] = X(i);
  args[n->nin] = Y;
  args[n->nin + 1] = G;
  return ir_inline(g, n->sub[1], args, gin);
}

/* IR_ND ops: no gradient (the table holds NULL; this exists for the X-macro). */
int ir_gr_none(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin)
{
  for (int i = 0; i < n->nin; i++) gin[i] = IR_NONE;
  return 0;
}
