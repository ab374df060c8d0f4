/* ir_grad.c — a central-difference gradient check (f64) for EVERY differentiable op of
 * ops.def, and a check that every IR_ND op yields no gradient. The table below is indexed
 * by op; the test `grad/table_complete` iterates over ops.def, so adding an op without a
 * case here fails the suite. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "ir_testutil.h"

#define D(...) ((int64_t[]){__VA_ARGS__})
#define IN(r, lo, hi, ...) tc_in(c, r, D(__VA_ARGS__), lo, hi)
#define INK(r, lo, hi, kink, ...) tc_in_away(c, r, D(__VA_ARGS__), lo, hi, kink)

typedef IrVal (*Build)(TC *c);

static IrVal un(TC *c, IrOp op, double lo, double hi) { return ir_unary(c->g, op, IN(2, lo, hi, 2, 3)); }
static IrVal bin(TC *c, IrOp op, double lo, double hi)
{ /* broadcast: [2, 3] op [3] */
  IrVal a = IN(2, lo, hi, 2, 3), b = IN(1, lo, hi, 3);
  return ir_binary(c->g, op, a, b);
}
static IrVal red(TC *c, IrOp op, double lo, double hi)
{
  int ax[1] = {1};
  return ir_reduce(c->g, op, IN(3, lo, hi, 2, 3, 2), 1, ax, 0);
}

static IrVal b_neg(TC *c) { return un(c, OP_NEG, -1, 1); }
static IrVal b_exp(TC *c) { return un(c, OP_EXP, -1, 1); }
static IrVal b_log(TC *c) { return un(c, OP_LOG, 0.5, 2); }
static IrVal b_tanh(TC *c) { return un(c, OP_TANH, -2, 2); }
static IrVal b_sigmoid(TC *c) { return un(c, OP_SIGMOID, -3, 3); }
static IrVal b_relu(TC *c) { return ir_unary(c->g, OP_RELU, INK(2, -1, 1, 0, 2, 3)); }
static IrVal b_leaky(TC *c) { return ir_leaky_relu(c->g, INK(2, -1, 1, 0, 2, 3), 0.1); }
static IrVal b_abs(TC *c) { return ir_unary(c->g, OP_ABS, INK(2, -1, 1, 0, 2, 3)); }
static IrVal b_sqrt(TC *c) { return un(c, OP_SQRT, 0.5, 2); }
static IrVal b_rsqrt(TC *c) { return un(c, OP_RSQRT, 0.5, 2); }
static IrVal b_softplus(TC *c) { return un(c, OP_SOFTPLUS, -3, 3); }
static IrVal b_clip(TC *c)
{
  IrVal x = IN(2, -2, 2, 2, 4);
  for (int i = 0; i < 8; i++) /* away from the bounds */
    if (fabs(fabs(c->data[c->n - 1][i]) - 1) < 0.05) c->data[c->n - 1][i] = 0.5;
  return ir_clip(c->g, x, -1, 1);
}
static IrVal b_cast(TC *c) { return ir_cast(c->g, IN(2, -1, 1, 2, 3), IR_F64); }
static IrVal b_add(TC *c) { return bin(c, OP_ADD, -1, 1); }
static IrVal b_sub(TC *c) { return bin(c, OP_SUB, -1, 1); }
static IrVal b_mul(TC *c) { return bin(c, OP_MUL, -1, 1); }
static IrVal b_div(TC *c) { return bin(c, OP_DIV, 0.5, 2); }
static IrVal b_pow(TC *c) { return bin(c, OP_POW, 0.5, 2); }
static IrVal b_maximum(TC *c) { return bin(c, OP_MAXIMUM, -1, 1); }
static IrVal b_minimum(TC *c) { return bin(c, OP_MINIMUM, -1, 1); }
static IrVal b_mod(TC *c)
{
  IrVal a = IN(2, 2.2, 2.8, 2, 3), b = IN(1, 1.0, 1.05, 3);
  return ir_binary(c->g, OP_MOD, a, b);
}
static IrVal b_where(TC *c)
{
  int64_t m[6] = {1, 0, 1, 1, 0, 0};
  IrVal cond = tc_const_int(c, IR_BOOL, 2, D(2, 3), m);
  return ir_where(c->g, cond, IN(2, -1, 1, 2, 3), IN(1, -1, 1, 3));
}
static IrVal b_sum(TC *c) { return red(c, OP_SUM, -1, 1); }
static IrVal b_mean(TC *c)
{
  int ax[2] = {0, 2};
  return ir_reduce(c->g, OP_MEAN, IN(3, -1, 1, 2, 3, 2), 2, ax, 1);
}
static IrVal b_max(TC *c) { return red(c, OP_MAX, -1, 1); }
static IrVal b_min(TC *c) { return red(c, OP_MIN, -1, 1); }
static IrVal b_prod(TC *c) { return red(c, OP_PROD, 0.5, 1.5); }
static IrVal b_lse(TC *c) { return red(c, OP_LOGSUMEXP, -2, 2); }
static IrVal b_matmul(TC *c)
{ /* batched, b broadcast over the batch, a transposed */
  IrVal a = IN(3, -1, 1, 2, 4, 3), b = IN(2, -1, 1, 4, 5);
  return ir_matmul(c->g, a, b, 1, 0);
}
static IrVal b_conv1d(TC *c) { return ir_conv1d(c->g, IN(3, -1, 1, 2, 2, 7), IN(3, -1, 1, 3, 2, 3), 2, 1); }
static IrVal b_conv2d(TC *c)
{
  return ir_conv2d(c->g, IN(4, -1, 1, 1, 2, 5, 4), IN(4, -1, 1, 3, 2, 3, 2), 2, 1, 1, 0);
}
static IrVal b_conv_t2d(TC *c)
{
  return ir_conv_t2d(c->g, IN(4, -1, 1, 1, 2, 3, 3), IN(4, -1, 1, 2, 3, 3, 2), 2, 1, 1, 0, 1, 0);
}
static IrVal b_wgrad(TC *c)
{
  IrAttrs a = {0};
  a.nint = 6;
  int64_t v[6] = {2, 1, 1, 0, 3, 2};
  memcpy(a.ints, v, sizeof v);
  IrVal in[2] = {IN(4, -1, 1, 1, 2, 5, 4), IN(4, -1, 1, 1, 3, 3, 3)};
  return ir_add(c->g, OP_CONV2D_WGRAD, 2, in, &a);
}
static IrVal b_maxpool(TC *c) { return ir_pool2d(c->g, OP_MAXPOOL2D, IN(4, -1, 1, 1, 2, 5, 4), 2, 2, 2, 1, 1, 0); }
static IrVal b_avgpool(TC *c) { return ir_pool2d(c->g, OP_AVGPOOL2D, IN(4, -1, 1, 1, 2, 5, 4), 3, 2, 2, 1, 1, 1); }
static IrVal pool_attrs_op(TC *c, IrOp op)
{
  IrAttrs a = {0};
  a.nint = 6;
  int64_t v[6] = {2, 2, 2, 1, 1, 0};
  memcpy(a.ints, v, sizeof v);
  IrVal x = IN(4, -1, 1, 1, 2, 5, 4);
  IrVal second = op == OP_MAXPOOL2D_GRAD ? IN(4, -1, 1, 1, 2, 3, 3) : IN(4, -1, 1, 1, 2, 5, 4);
  IrVal in[2] = {x, second};
  return ir_add(c->g, op, 2, in, &a);
}
static IrVal b_maxpool_grad(TC *c) { return pool_attrs_op(c, OP_MAXPOOL2D_GRAD); }
static IrVal b_maxpool_select(TC *c) { return pool_attrs_op(c, OP_MAXPOOL2D_SELECT); }
static IrVal b_avgpool_grad(TC *c)
{
  IrAttrs a = {0};
  a.nint = 8;
  int64_t v[8] = {3, 2, 2, 1, 1, 1, 5, 4};
  memcpy(a.ints, v, sizeof v);
  IrVal gy = IN(4, -1, 1, 1, 2, 3, 5);
  return ir_add(c->g, OP_AVGPOOL2D_GRAD, 1, &gy, &a);
}
static IrVal b_softmax(TC *c) { return ir_softmax(c->g, OP_SOFTMAX, IN(2, -2, 2, 3, 4), 1); }
static IrVal b_log_softmax(TC *c) { return ir_softmax(c->g, OP_LOG_SOFTMAX, IN(3, -2, 2, 2, 3, 2), 1); }
static IrVal b_ce(TC *c)
{
  int64_t t[3] = {2, 0, 3};
  return ir_loss(c->g, OP_CROSS_ENTROPY, IN(2, -2, 2, 3, 4), tc_const_int(c, IR_I64, 1, D(3), t), 0);
}
static IrVal b_nll(TC *c)
{
  int64_t t[3] = {1, 0, 3};
  return ir_loss(c->g, OP_NLL, IN(2, -2, 2, 3, 4), tc_const_int(c, IR_I32, 1, D(3), t), 2);
}
static IrVal b_bce(TC *c) { return ir_loss(c->g, OP_BCE_LOGITS, IN(2, -3, 3, 2, 3), IN(2, 0, 1, 2, 3), 0); }
static IrVal b_mse(TC *c) { return ir_loss(c->g, OP_MSE, IN(2, -1, 1, 2, 3), IN(2, -1, 1, 2, 3), 1); }
static IrVal b_kl(TC *c) { return ir_loss(c->g, OP_KL, IN(2, -2, 0, 2, 3), IN(2, -2, 0, 2, 3), 0); }
static IrVal b_gather(TC *c)
{
  int64_t idx[4] = {2, 0, 2, 1};
  return ir_gather(c->g, IN(2, -1, 1, 2, 3), tc_const_int(c, IR_I64, 2, D(2, 2), idx), 1);
}
static IrVal b_scatter(TC *c)
{
  int64_t idx[3] = {1, 3, 1};
  return ir_scatter_add(c->g, IN(2, -1, 1, 4, 2), tc_const_int(c, IR_I32, 1, D(3), idx),
                        IN(2, -1, 1, 3, 2), 0);
}
static IrVal b_take_along(TC *c)
{
  int64_t idx[8] = {2, 0, 1, 1, 0, 0, 2, 1};
  return ir_take_along(c->g, IN(2, -1, 1, 2, 3), tc_const_int(c, IR_I64, 2, D(2, 4), idx), 1);
}
static IrVal b_put_along(TC *c)
{
  int64_t idx[4] = {1, 0, 1, 1};
  return ir_put_along_add(c->g, IN(2, -1, 1, 3, 2), tc_const_int(c, IR_I32, 2, D(2, 2), idx),
                          IN(2, -1, 1, 2, 2), 0);
}
static IrVal b_topk(TC *c)
{ /* top 2 of 4 along axis 0 of [4, 3]; the indices feed nothing (no gradient) */
  IrVal v, i;
  if (ir_topk(c->g, IN(2, -1, 1, 4, 3), 2, 0, 0, &v, &i)) return IR_NONE;
  return v;
}
static IrVal b_concat(TC *c)
{
  IrVal xs[3] = {IN(2, -1, 1, 2, 1), IN(2, -1, 1, 2, 3), IN(2, -1, 1, 2, 2)};
  return ir_concat(c->g, 3, xs, 1);
}
static IrVal b_split(TC *c)
{
  IrVal o[2], x = IN(2, -1, 1, 4, 3);
  if (ir_split(c->g, x, 0, 2, D(1, 3), o)) return IR_NONE;
  IrVal r[2] = {o[1], ir_unary(c->g, OP_TANH, o[0])};
  return ir_concat(c->g, 2, r, 0);
}
static IrVal b_slice(TC *c) { return ir_slice(c->g, IN(2, -1, 1, 4, 3), D(1, 0), D(3, 2)); }
static IrVal b_reshape(TC *c) { return ir_reshape(c->g, IN(2, -1, 1, 4, 3), ir_shape(3, D(2, 3, 2))); }
static IrVal b_transpose(TC *c)
{
  int p[3] = {2, 0, 1};
  return ir_transpose(c->g, IN(3, -1, 1, 2, 3, 4), p);
}
static IrVal b_bcast(TC *c) { return ir_broadcast_to(c->g, IN(2, -1, 1, 3, 1), ir_shape(3, D(2, 3, 4))); }
static IrVal b_pad(TC *c) { return ir_pad(c->g, IN(2, -1, 1, 2, 3), D(1, 0), D(0, 2), 0.5); }
static IrVal b_dropout(TC *c) { return ir_dropout(c->g, IN(2, -1, 1, 4, 5), 0.3); }
static IrVal b_straight(TC *c)
{ /* value and gradient path equal, so central differences apply */
  IrVal x = IN(2, -1, 1, 2, 3);
  IrVal a = ir_binary(c->g, OP_MUL, x, x);
  return ir_straight_through(c->g, a, ir_binary(c->g, OP_MUL, x, x));
}
static IrVal b_custom(TC *c)
{ /* y = x0 * sin-free polynomial x0^2 * x1 with its true gradient as the backward */
  IrType t = {IR_F64, ir_shape(1, D(3))};
  IrGraph *f = ir_graph_new(), *b = ir_graph_new();
  IrVal x0 = ir_formal(f, 0, t), x1 = ir_formal(f, 1, t);
  IrVal y = ir_binary(f, OP_MUL, ir_binary(f, OP_MUL, x0, x0), x1);
  ir_set_outputs(f, 1, &y);
  IrVal a0 = ir_formal(b, 0, t), a1 = ir_formal(b, 1, t);
  ir_formal(b, 2, t);
  IrVal gy = ir_formal(b, 3, t);
  IrVal two = ir_scalar(b, IR_F64, 2);
  IrVal g0 = ir_binary(b, OP_MUL, gy, ir_binary(b, OP_MUL, two, ir_binary(b, OP_MUL, a0, a1)));
  IrVal g1 = ir_binary(b, OP_MUL, gy, ir_binary(b, OP_MUL, a0, a0));
  IrVal gs[2] = {g0, g1};
  ir_set_outputs(b, 2, gs);
  IrVal in[2] = {IN(1, -1, 1, 3), IN(1, -1, 1, 3)};
  return ir_custom_grad(c->g, 2, in, f, b);
}
static IrVal b_scan(TC *c)
{ /* h' = tanh(h * w + x_t), y_t = h' * h' ; over T = 3, reverse when asked */
  IrType ht = {IR_F64, ir_shape(1, D(2))};
  IrGraph *body = ir_graph_new();
  IrVal h = ir_formal(body, 0, ht), x = ir_formal(body, 1, ht), w = ir_formal(body, 2, ht);
  IrVal h1 = ir_unary(body, OP_TANH, ir_binary(body, OP_ADD, ir_binary(body, OP_MUL, h, w), x));
  IrVal outs[2] = {h1, ir_binary(body, OP_MUL, h1, h1)};
  ir_set_outputs(body, 2, outs);
  IrVal h0 = IN(1, -1, 1, 2), xs = IN(2, -1, 1, 3, 2), wv = IN(1, -1, 1, 2);
  IrNode *n = ir_scan(c->g, body, 1, &h0, 1, &xs, 1, &wv, 0, 0);
  if (!n) return IR_NONE;
  IrVal hT = ir_broadcast_to(c->g, n->out[0], ir_shape(2, D(3, 2)));
  return ir_binary(c->g, OP_ADD, n->out[1], hT);
}

static const Build cases[OP_NOPS] = {
  [OP_NEG] = b_neg, [OP_EXP] = b_exp, [OP_LOG] = b_log, [OP_TANH] = b_tanh,
  [OP_SIGMOID] = b_sigmoid, [OP_RELU] = b_relu, [OP_LEAKY_RELU] = b_leaky, [OP_ABS] = b_abs,
  [OP_SQRT] = b_sqrt, [OP_RSQRT] = b_rsqrt, [OP_SOFTPLUS] = b_softplus, [OP_CLIP] = b_clip,
  [OP_CAST] = b_cast, [OP_ADD] = b_add, [OP_SUB] = b_sub, [OP_MUL] = b_mul, [OP_DIV] = b_div,
  [OP_POW] = b_pow, [OP_MAXIMUM] = b_maximum, [OP_MINIMUM] = b_minimum, [OP_MOD] = b_mod,
  [OP_WHERE] = b_where, [OP_SUM] = b_sum, [OP_MEAN] = b_mean, [OP_MAX] = b_max, [OP_MIN] = b_min,
  [OP_PROD] = b_prod, [OP_LOGSUMEXP] = b_lse, [OP_MATMUL] = b_matmul, [OP_CONV1D] = b_conv1d,
  [OP_CONV2D] = b_conv2d, [OP_CONV_T2D] = b_conv_t2d, [OP_CONV2D_WGRAD] = b_wgrad,
  [OP_MAXPOOL2D] = b_maxpool, [OP_AVGPOOL2D] = b_avgpool, [OP_AVGPOOL2D_GRAD] = b_avgpool_grad,
  [OP_MAXPOOL2D_GRAD] = b_maxpool_grad, [OP_MAXPOOL2D_SELECT] = b_maxpool_select,
  [OP_SOFTMAX] = b_softmax, [OP_LOG_SOFTMAX] = b_log_softmax, [OP_CROSS_ENTROPY] = b_ce,
  [OP_NLL] = b_nll, [OP_BCE_LOGITS] = b_bce, [OP_MSE] = b_mse, [OP_KL] = b_kl,
  [OP_GATHER] = b_gather, [OP_SCATTER_ADD] = b_scatter, [OP_TAKE_ALONG] = b_take_along,
  [OP_PUT_ALONG_ADD] = b_put_along, [OP_TOPK] = b_topk, [OP_CONCAT] = b_concat,
  [OP_SPLIT] = b_split, [OP_SLICE] = b_slice, [OP_RESHAPE] = b_reshape,
  [OP_TRANSPOSE] = b_transpose, [OP_BROADCAST_TO] = b_bcast, [OP_PAD] = b_pad,
  [OP_DROPOUT] = b_dropout, [OP_STRAIGHT_THROUGH] = b_straight, [OP_CUSTOM_GRAD] = b_custom,
  [OP_SCAN] = b_scan,
};

/* Every op is either differentiable with a case above, or marked IR_ND with no rule. */
Test(grad, table_complete)
{
  for (int op = 0; op < OP_NOPS; op++) {
    const IrOpInfo *oi = &ir_ops[op];
    int diff = (oi->flags & IR_DIFF) != 0, nd = (oi->flags & IR_ND) != 0;
    cr_expect(diff != nd, "op %s must be exactly one of IR_DIFF / IR_ND", oi->name);
    if (diff) {
      cr_expect(oi->grad != NULL, "op %s is IR_DIFF but has no gradient rule", oi->name);
      cr_expect(cases[op] != NULL, "op %s has no gradient-check case in tests/compiler/ir_grad.c", oi->name);
    } else {
      cr_expect(oi->grad == NULL, "op %s is IR_ND but the table holds a gradient rule", oi->name);
    }
  }
}

ParameterizedTestParameters(grad, central_differences)
{
  static int ops[OP_NOPS];
  int n = 0;
  for (int op = 0; op < OP_NOPS; op++)
    if (cases[op]) ops[n++] = op;
  return cr_make_param_array(int, ops, (size_t)n);
}

ParameterizedTest(int *op, grad, central_differences)
{
  TC c;
  char msg[512] = "";
  tc_init(&c);
  IrVal y = cases[*op](&c);
  int uses = 0; /* the case must exercise its op */
  for (int i = 0; i < c.g->nnodes; i++) uses |= c.g->nodes[i]->op == (IrOp)*op;
  cr_assert(uses, "case for %s does not build it: %s", ir_ops[*op].name, ir_errmsg(c.g));
  int rc = tc_gradcheck(&c, y, 1e-5, 1e-6, 1e-4, msg, sizeof msg);
  cr_expect(rc == 0, "%s: %s", ir_ops[*op].name, msg);
  tc_free(&c);
}

/* ND ops with a floating input: autodiff gives a zeros constant (no path). */
static IrVal nd_case(TC *c, IrOp op)
{
  IrVal x = IN(2, -1, 1, 3, 4);
  switch (op) {
  case OP_SIGN: case OP_FLOOR: case OP_STOP_GRADIENT: return ir_unary(c->g, op, x);
  case OP_LT: case OP_GT: case OP_EQ: return ir_cast(c->g, ir_binary(c->g, op, x, IN(2, -1, 1, 3, 4)), IR_F64);
  case OP_ARGMAX: return ir_cast(c->g, ir_argmax(c->g, x, 1, 0), IR_F64);
  case OP_ARGMIN: return ir_cast(c->g, ir_argmin(c->g, x, 0, 1), IR_F64);
  case OP_BERNOULLI: return ir_bernoulli(c->g, ir_unary(c->g, OP_SIGMOID, x));
  case OP_CATEGORICAL: return ir_cast(c->g, ir_categorical(c->g, x), IR_F64);
  default: return IR_NONE;
  }
}

Test(grad, nd_ops_have_no_gradient)
{
  IrOp ops[] = {OP_SIGN, OP_FLOOR, OP_STOP_GRADIENT, OP_LT, OP_GT, OP_EQ, OP_ARGMAX, OP_ARGMIN, OP_BERNOULLI,
                OP_CATEGORICAL};
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
    TC c;
    tc_init(&c);
    IrVal y = nd_case(&c, ops[i]);
    int ax[2] = {0, 1};
    const IrShape *s = &ir_type(c.g, y)->shape;
    IrVal loss = ir_reduce(c.g, OP_SUM, y, s->rank, ax, 0), gx;
    cr_assert(ad_grad(c.g, loss, 1, &c.v[0], &gx) == 0, "%s: %s", ir_ops[ops[i]].name, ir_errmsg(c.g));
    const IrNode *p = ir_producer(c.g, gx);
    cr_expect(p->op == OP_CONST && p->ncdata == 1 && p->cdata[0] == 0, "%s: gradient is not the zero constant",
              ir_ops[ops[i]].name);
    tc_free(&c);
  }
}

Test(grad, loss_must_be_scalar)
{
  TC cc, *c = &cc;
  tc_init(c);
  IrVal y = IN(2, -1, 1, 2, 2), g;
  cr_expect(ad_grad(c->g, y, 1, &c->v[0], &g) == -1);
  cr_expect(strstr(ir_errmsg(c->g), "floating scalar") != NULL, "%s", ir_errmsg(c->g));
  tc_free(c);
}

Test(grad, fan_out_sums)
{ /* y = x*x + x: dy/dx = 2x + 1 */
  TC cc, *c = &cc;
  tc_init(c);
  IrVal x = IN(1, -1, 1, 4);
  IrVal y = ir_binary(c->g, OP_ADD, ir_binary(c->g, OP_MUL, x, x), x);
  int ax = 0;
  IrVal loss = ir_reduce(c->g, OP_SUM, y, 1, &ax, 0), gx;
  cr_assert(ad_grad(c->g, loss, 1, &x, &gx) == 0);
  double out[4];
  char msg[256];
  cr_assert(tc_eval(c, gx, out, msg, sizeof msg) == 0);
  for (int i = 0; i < 4; i++) cr_expect(fabs(out[i] - (2 * c->data[0][i] + 1)) < 1e-12);
  tc_free(c);
}

Test(grad, params_in_order)
{
  IrGraph *g = ir_graph_new();
  IrVal w = ir_param(g, "w", IR_F64, ir_shape(1, D(3)), "zeros");
  IrVal b = ir_param(g, "b", IR_F64, ir_shape(1, D(3)), "zeros");
  IrVal x = ir_input(g, "x", IR_F64, ir_shape(1, D(3)));
  int ax = 0;
  IrVal loss = ir_reduce(g, OP_SUM, ir_binary(g, OP_ADD, ir_binary(g, OP_MUL, w, x), b), 1, &ax, 0);
  IrVal grads[2];
  cr_assert(ad_grad_params(g, loss, grads) == 0, "%s", ir_errmsg(g));
  IrInterp *I = ir_interp_new(g);
  double xv[3] = {1, 2, 3};
  ir_interp_bind(I, "x", xv);
  cr_assert(ir_interp_run(I) == 0, "%s", ir_interp_error(I));
  for (int i = 0; i < 3; i++) {
    cr_expect(ir_interp_value(I, grads[0])->data[i] == xv[i]);
    cr_expect(ir_interp_value(I, grads[1])->data[i] == 1);
  }
  (void)w, (void)b;
  ir_interp_free(I);
  ir_graph_free(g);
}

/* ------------------------------------------------ gradient control semantics ---- */

/* Gradient of sum(y) w.r.t. the first input, evaluated. */
static void grad_of(TC *c, IrVal y, double *out)
{
  const IrShape *s = &ir_type(c->g, y)->shape;
  int ax[IR_MAX_RANK];
  for (int i = 0; i < s->rank; i++) ax[i] = i;
  IrVal loss = ir_reduce(c->g, OP_SUM, y, s->rank, ax, 0), gx;
  cr_assert(ad_grad(c->g, loss, 1, &c->v[0], &gx) == 0, "%s", ir_errmsg(c->g));
  char msg[256];
  cr_assert(tc_eval(c, gx, out, msg, sizeof msg) == 0, "%s", msg);
}

Test(control, stop_gradient_blocks_one_path)
{ /* y = x * stop_gradient(x): dy/dx = x (not 2x) */
  TC cc, *c = &cc;
  tc_init(c);
  IrVal x = IN(1, -1, 1, 5);
  double gx[5];
  grad_of(c, ir_binary(c->g, OP_MUL, x, ir_stop_gradient(c->g, x)), gx);
  for (int i = 0; i < 5; i++) cr_expect(fabs(gx[i] - c->data[0][i]) < 1e-15);
  tc_free(c);
}

Test(control, straight_through_sign)
{ /* BNN: value sign(x), gradient of clip(x, -1, 1): 1 inside [-1, 1], 0 outside */
  TC cc, *c = &cc;
  tc_init(c);
  IrVal x = INK(1, -2, 2, 1, 8);
  IrVal q = ir_straight_through(c->g, ir_unary(c->g, OP_SIGN, x), ir_clip(c->g, x, -1, 1));
  double gx[8], val[8];
  char msg[256];
  cr_assert(tc_eval(c, q, val, msg, sizeof msg) == 0, "%s", msg);
  grad_of(c, q, gx);
  for (int i = 0; i < 8; i++) {
    double xi = c->data[0][i];
    cr_expect(val[i] == (xi >= 0 ? 1 : -1));
    cr_expect(gx[i] == (fabs(xi) <= 1 ? 1 : 0), "x=%g grad %g", xi, gx[i]);
  }
  tc_free(c);
}

Test(control, custom_gradient_replaces_the_rule)
{ /* forward y = x * x, user backward says dy/dx = 3 (deliberately not 2x) */
  TC cc, *c = &cc;
  tc_init(c);
  IrType t = {IR_F64, ir_shape(1, D(4))};
  IrGraph *f = ir_graph_new(), *b = ir_graph_new();
  IrVal fx = ir_formal(f, 0, t);
  IrVal fy = ir_binary(f, OP_MUL, fx, fx);
  ir_set_outputs(f, 1, &fy);
  ir_formal(b, 0, t);
  ir_formal(b, 1, t);
  IrVal gy = ir_formal(b, 2, t);
  IrVal r = ir_binary(b, OP_MUL, gy, ir_scalar(b, IR_F64, 3));
  ir_set_outputs(b, 1, &r);
  IrVal x = IN(1, -1, 1, 4);
  IrVal y = ir_custom_grad(c->g, 1, &x, f, b);
  double val[4], gx[4];
  char msg[256];
  cr_assert(tc_eval(c, y, val, msg, sizeof msg) == 0, "%s", msg);
  grad_of(c, y, gx);
  for (int i = 0; i < 4; i++) {
    cr_expect(fabs(val[i] - c->data[0][i] * c->data[0][i]) < 1e-15);
    cr_expect(gx[i] == 3);
  }
  tc_free(c);
}

Test(control, custom_gradient_signature_checked)
{
  TC cc, *c = &cc;
  tc_init(c);
  IrType t = {IR_F64, ir_shape(1, D(4))};
  IrGraph *f = ir_graph_new(), *b = ir_graph_new();
  IrVal fx = ir_formal(f, 0, t);
  ir_set_outputs(f, 1, &fx);
  IrVal bx = ir_formal(b, 0, t);
  ir_set_outputs(b, 1, &bx); /* backward lacks (y, gy) formals */
  IrVal x = IN(1, -1, 1, 4);
  cr_expect(ir_custom_grad(c->g, 1, &x, f, b) == IR_NONE);
  cr_expect(strstr(ir_errmsg(c->g), "custom_grad") != NULL, "%s", ir_errmsg(c->g));
  tc_free(c);
}

Test(control, integer_values_carry_no_gradient)
{ /* y = gather(x, argmax(x)) : the index path is integer, only x's gather path flows */
  TC cc, *c = &cc;
  tc_init(c);
  IrVal x = IN(1, -1, 1, 6);
  IrVal i = ir_reshape(c->g, ir_argmax(c->g, x, 0, 1), ir_shape(1, D(1)));
  double gx[6];
  grad_of(c, ir_gather(c->g, x, i, 0), gx);
  int best = 0;
  for (int k = 1; k < 6; k++)
    if (c->data[0][k] > c->data[0][best]) best = k;
  for (int k = 0; k < 6; k++) cr_expect(gx[k] == (k == best));
  tc_free(c);
}

Test(grad, f32_model_with_f32_tolerances)
{ /* f32 throughout (the interpreter rounds every op to float): h = 1e-2, 2% tolerance */
  TC cc, *c = &cc;
  tc_init(c);
  IrVal x = tc_in_dt(c, IR_F32, 2, D(3, 4), -1, 1), w = tc_in_dt(c, IR_F32, 2, D(5, 4), -1, 1);
  IrVal b = tc_in_dt(c, IR_F32, 1, D(5), -0.5, 0.5);
  IrVal h = ir_unary(c->g, OP_TANH, ir_binary(c->g, OP_ADD, ir_matmul(c->g, x, w, 0, 1), b));
  int64_t t[3] = {0, 4, 2};
  IrVal l = ir_loss(c->g, OP_CROSS_ENTROPY, h, tc_const_int(c, IR_I32, 1, D(3), t), 0);
  IrVal y = ir_binary(c->g, OP_ADD, l, ir_reduce(c->g, OP_MEAN, ir_unary(c->g, OP_SIGMOID, h), 2, (int[]){0, 1}, 0));
  char msg[512] = "";
  cr_assert(ir_type(c->g, y)->dtype == IR_F32);
  /* the random weight R of tc_gradcheck is f64: cast y so the loss stays in f32 up to R */
  int rc = tc_gradcheck(c, ir_cast(c->g, y, IR_F64), 1e-2, 1e-3, 2e-2, msg, sizeof msg);
  cr_expect(rc == 0, "%s", msg);
  tc_free(c);
}

/* ------------------------------------------------------------ second order ---- */

/* d/dx of sum(y) as a value of the graph (first-order gradient). */
static IrVal first_grad(TC *c, IrVal y, IrVal x)
{
  const IrShape *s = &ir_type(c->g, y)->shape;
  int ax[IR_MAX_RANK];
  for (int i = 0; i < s->rank; i++) ax[i] = i;
  IrVal loss = ir_reduce(c->g, OP_SUM, y, s->rank, ax, 0), gx = IR_NONE;
  if (ad_grad(c->g, loss, 1, &x, &gx)) return IR_NONE;
  return gx;
}

Test(grad, second_order_mlp_hessian_vector)
{ /* the gradient is itself differentiated (Hessian-vector products, as TRPO needs) */
  TC cc, *c = &cc;
  tc_init(c);
  IrVal x = IN(2, -1, 1, 3, 4), w = IN(2, -1, 1, 5, 4);
  IrVal h = ir_unary(c->g, OP_SOFTPLUS, ir_matmul(c->g, x, w, 0, 1));
  int64_t t[3] = {1, 4, 0};
  IrVal l = ir_loss(c->g, OP_CROSS_ENTROPY, ir_unary(c->g, OP_TANH, h), tc_const_int(c, IR_I64, 1, D(3), t), 0);
  IrVal gw = first_grad(c, l, w);
  char msg[512] = "";
  cr_expect(tc_gradcheck(c, gw, 1e-5, 1e-6, 1e-4, msg, sizeof msg) == 0, "%s", msg);
  tc_free(c);
}

Test(grad, second_order_through_conv_and_max_pooling)
{
  TC cc, *c = &cc;
  tc_init(c);
  IrVal x = IN(4, -1, 1, 1, 1, 6, 6), w = IN(4, -1, 1, 2, 1, 3, 3);
  IrVal p = ir_pool2d(c->g, OP_MAXPOOL2D, ir_unary(c->g, OP_TANH, ir_conv2d(c->g, x, w, 1, 1, 1, 1)), 2, 2, 2, 2, 0, 0);
  IrVal y = ir_unary(c->g, OP_SOFTPLUS, p);
  IrVal gw = first_grad(c, ir_binary(c->g, OP_MUL, y, y), w);
  char msg[512] = "";
  cr_expect(tc_gradcheck(c, gw, 1e-5, 1e-6, 1e-4, msg, sizeof msg) == 0, "%s", msg);
  tc_free(c);
}

Test(grad, second_order_through_scan)
{
  TC cc, *c = &cc;
  tc_init(c);
  IrType ht = {IR_F64, ir_shape(1, D(2))};
  IrGraph *body = ir_graph_new();
  IrVal h = ir_formal(body, 0, ht), x = ir_formal(body, 1, ht), w = ir_formal(body, 2, ht);
  IrVal h1 = ir_unary(body, OP_TANH, ir_binary(body, OP_ADD, ir_binary(body, OP_MUL, h, w), x));
  IrVal o[2] = {h1, ir_binary(body, OP_MUL, h1, h1)};
  ir_set_outputs(body, 2, o);
  IrVal h0 = IN(1, -1, 1, 2), xs = IN(2, -1, 1, 3, 2), wv = IN(1, -1, 1, 2);
  IrNode *n = ir_scan(c->g, body, 1, &h0, 1, &xs, 1, &wv, 0, 0);
  cr_assert(n, "%s", ir_errmsg(c->g));
  IrVal gw = first_grad(c, n->out[1], wv);
  cr_assert(gw != IR_NONE, "%s", ir_errmsg(c->g));
  char msg[512] = "";
  cr_expect(tc_gradcheck(c, gw, 1e-5, 1e-6, 1e-4, msg, sizeof msg) == 0, "%s", msg);
  tc_free(c);
}

/* ------------------------------------------- passes on every op's gradient graph ---- */

/* Evaluates all graph outputs into out (concatenated); returns the count. */
static int eval_outs(TC *c, double *out, int cap)
{
  char msg[256];
  IrInterp *I = tc_run(c, msg, sizeof msg);
  cr_assert(I, "%s", msg);
  int k = 0;
  for (int i = 0; i < c->g->nouts; i++) {
    const IrTensor *t = ir_interp_value(I, c->g->outs[i]);
    for (int64_t j = 0; j < ir_numel(&t->t.shape) && k < cap; j++) out[k++] = t->data[j];
  }
  ir_interp_free(I);
  return k;
}

ParameterizedTestParameters(grad, passes_preserve_gradients)
{
  static int ops[OP_NOPS];
  int n = 0;
  for (int op = 0; op < OP_NOPS; op++)
    if (cases[op]) ops[n++] = op;
  return cr_make_param_array(int, ops, (size_t)n);
}

/* simplify + CSE on the differentiated graph of every op: verified, same values. */
ParameterizedTest(int *op, grad, passes_preserve_gradients)
{
  TC cc, *c = &cc;
  tc_init(c);
  IrVal y = cases[*op](c);
  cr_assert(y != IR_NONE, "%s", ir_errmsg(c->g));
  IrShape ys = ir_type(c->g, y)->shape;
  int ax[IR_MAX_RANK];
  for (int i = 0; i < ys.rank; i++) ax[i] = i;
  IrVal loss = ir_reduce(c->g, OP_SUM, ir_binary(c->g, OP_MUL, y, tc_const_rand(c, &ys)), ys.rank, ax, 0);
  IrVal grads[TC_MAX_IN];
  cr_assert(ad_grad(c->g, loss, c->n, c->v, grads) == 0, "%s", ir_errmsg(c->g));
  ir_set_outputs(c->g, 1, &loss);
  ir_set_outputs(c->g, c->n, grads);
  static double before[4096], after[4096];
  int n0 = eval_outs(c, before, 4096), nodes0 = c->g->nnodes;
  char msg[512];
  cr_assert(ir_simplify(c->g, NULL) == 0, "%s", ir_errmsg(c->g));
  cr_assert(ir_verify(c->g, "simplify", msg, sizeof msg) == 0, "%s: %s", ir_ops[*op].name, msg);
  cr_assert(ir_cse(c->g) == 0, "%s", ir_errmsg(c->g));
  cr_assert(ir_verify(c->g, "cse", msg, sizeof msg) == 0, "%s: %s", ir_ops[*op].name, msg);
  for (int i = 0; i < c->n; i++) { /* value ids changed: find the inputs again by name */
    char name[16];
    snprintf(name, sizeof name, "in%d", i);
    c->v[i] = ir_find_leaf(c->g, name);
  }
  int n1 = eval_outs(c, after, 4096);
  cr_expect(n0 == n1);
  cr_expect(c->g->nnodes <= nodes0);
  for (int i = 0; i < n0 && i < n1; i++)
    cr_expect(fabs(before[i] - after[i]) <= 1e-13 * (1 + fabs(before[i])), "%s [%d]: %.17g vs %.17g",
              ir_ops[*op].name, i, before[i], after[i]);
  tc_free(c);
}

Test(grad, vjp_of_several_outputs)
{ /* outs (x*x, 3x) with cotangents (u, v): x-bar = 2 x u + 3 v */
  TC cc, *c = &cc;
  tc_init(c);
  IrVal x = IN(1, -1, 1, 4);
  IrShape s = ir_type(c->g, x)->shape;
  IrVal u = tc_const_rand(c, &s), v = tc_const_rand(c, &s);
  IrVal outs[2] = {ir_binary(c->g, OP_MUL, x, x), ir_binary(c->g, OP_MUL, x, ir_scalar(c->g, IR_F64, 3))};
  IrVal gouts[2] = {u, v}, gx;
  cr_assert(ad_vjp(c->g, 2, outs, gouts, 1, &x, &gx) == 0, "%s", ir_errmsg(c->g));
  double got[4], uu[4], vv[4];
  char msg[256];
  cr_assert(tc_eval(c, gx, got, msg, sizeof msg) == 0, "%s", msg);
  tc_eval(c, u, uu, msg, sizeof msg);
  tc_eval(c, v, vv, msg, sizeof msg);
  for (int i = 0; i < 4; i++) cr_expect(fabs(got[i] - (2 * c->data[0][i] * uu[i] + 3 * vv[i])) < 1e-14);
  tc_free(c);
}
