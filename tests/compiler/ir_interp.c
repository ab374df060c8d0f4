/* ir_interp.c — the reference interpreter on hand-computed cases. */
#include <criterion/criterion.h>
#include <string.h>

#include "ir_testutil.h"

#define D(...) ((int64_t[]){__VA_ARGS__})

static IrGraph *g;
static IrInterp *I;
static void setup(void) { g = ir_graph_new(); I = NULL; }
static void teardown(void) { ir_interp_free(I); ir_graph_free(g); }
TestSuite(interp, .init = setup, .fini = teardown);

static IrVal cst(IrDType dt, int rank, const int64_t *d, const double *v) { return ir_const(g, dt, ir_shape(rank, d), v); }

/* Runs the graph (a fresh interpreter) and returns v's data. */
static const double *run(IrVal v)
{
  cr_assert(v != IR_NONE, "build: %s", ir_errmsg(g));
  ir_interp_free(I); /* the graph may have grown since */
  I = ir_interp_new(g);
  ir_interp_set_seed(I, 42);
  cr_assert(ir_interp_run(I) == 0, "run: %s", ir_interp_error(I));
  return ir_interp_value(I, v)->data;
}

static void expect_vals(const double *got, const double *want, int n, double tol)
{
  for (int i = 0; i < n; i++) cr_expect(fabs(got[i] - want[i]) <= tol, "[%d] got %.10g want %.10g", i, got[i], want[i]);
}

Test(interp, matmul_and_bias)
{
  IrVal a = cst(IR_F64, 2, D(2, 3), (double[]){1, 2, 3, 4, 5, 6});
  IrVal b = cst(IR_F64, 2, D(3, 2), (double[]){7, 8, 9, 10, 11, 12});
  IrVal c = ir_binary(g, OP_ADD, ir_matmul(g, a, b, 0, 0), cst(IR_F64, 1, D(2), (double[]){1, -1}));
  expect_vals(run(c), (double[]){59, 63, 140, 153}, 4, 0);
  IrVal ct = ir_matmul(g, b, a, 1, 1); /* b^T a^T = (ab)^T */
  expect_vals(run(ct), (double[]){58, 139, 64, 154}, 4, 0);
}

Test(interp, scalar_semantics)
{
  IrVal x = cst(IR_F64, 1, D(4), (double[]){-7, -0.0, 0, 5.5});
  IrVal m = ir_binary(g, OP_MOD, x, ir_scalar(g, IR_F64, 3));
  IrVal s = ir_unary(g, OP_SIGN, x);
  IrVal xi = cst(IR_I32, 1, D(4), (double[]){-7, -1, 0, 7});
  IrVal di = ir_binary(g, OP_DIV, xi, ir_scalar(g, IR_I32, 2));
  IrVal mi = ir_binary(g, OP_MOD, xi, ir_scalar(g, IR_I32, 3));
  IrVal ci = ir_cast(g, cst(IR_F32, 1, D(3), (double[]){2.7, -2.7, 0.1}), IR_I32);
  expect_vals(run(m), (double[]){2, 0, 0, 2.5}, 4, 1e-15);
  expect_vals(run(s), (double[]){-1, 1, 1, 1}, 4, 0);
  expect_vals(run(di), (double[]){-4, -1, 0, 3}, 4, 0);
  expect_vals(run(mi), (double[]){2, 2, 0, 1}, 4, 0);
  expect_vals(run(ci), (double[]){2, -2, 0}, 3, 0);
}

Test(interp, f32_rounds_every_op)
{
  IrVal a = cst(IR_F32, 0, D(0), (double[]){1.0});
  IrVal t = ir_binary(g, OP_DIV, a, ir_scalar(g, IR_F32, 3));
  cr_expect(run(t)[0] == (double)(1.0f / 3.0f));
}

Test(interp, activations)
{
  IrVal x = cst(IR_F64, 1, D(3), (double[]){-2, 0.5, 3});
  expect_vals(run(ir_unary(g, OP_RELU, x)), (double[]){0, 0.5, 3}, 3, 0);
  expect_vals(run(ir_leaky_relu(g, x, 0.1)), (double[]){-0.2, 0.5, 3}, 3, 1e-15);
  expect_vals(run(ir_clip(g, x, -1, 1)), (double[]){-1, 0.5, 1}, 3, 0);
  expect_vals(run(ir_unary(g, OP_SOFTPLUS, x)), (double[]){log1p(exp(-2)), log1p(exp(0.5)), log1p(exp(3))}, 3, 1e-14);
  expect_vals(run(ir_unary(g, OP_SIGMOID, x)), (double[]){1 / (1 + exp(2)), 1 / (1 + exp(-0.5)), 1 / (1 + exp(-3))}, 3, 1e-15);
}

Test(interp, reductions_and_argmax)
{
  IrVal x = cst(IR_F64, 2, D(2, 3), (double[]){1, 5, 5, -1, -2, 0});
  int ax1 = 1, ax0 = 0;
  expect_vals(run(ir_reduce(g, OP_SUM, x, 1, &ax1, 0)), (double[]){11, -3}, 2, 0);
  expect_vals(run(ir_reduce(g, OP_MEAN, x, 1, &ax0, 1)), (double[]){0, 1.5, 2.5}, 3, 0);
  expect_vals(run(ir_reduce(g, OP_MAX, x, 1, &ax1, 0)), (double[]){5, 0}, 2, 0);
  expect_vals(run(ir_reduce(g, OP_MIN, x, 1, &ax0, 0)), (double[]){-1, -2, 0}, 3, 0);
  expect_vals(run(ir_reduce(g, OP_PROD, x, 1, &ax1, 0)), (double[]){25, 0}, 2, 0);
  expect_vals(run(ir_reduce(g, OP_LOGSUMEXP, x, 1, &ax1, 0)),
              (double[]){log(exp(1) + 2 * exp(5)), log(exp(-1) + exp(-2) + 1)}, 2, 1e-14);
  expect_vals(run(ir_argmax(g, x, 1, 0)), (double[]){1, 2}, 2, 0); /* ties: first */
  expect_vals(run(ir_argmin(g, x, 0, 0)), (double[]){1, 1, 1}, 3, 0);
  IrVal tv, ti;
  cr_assert(ir_topk(g, x, 2, 1, 0, &tv, &ti) == 0);
  expect_vals(run(tv), (double[]){5, 5, 0, -1}, 4, 0);
  expect_vals(run(ti), (double[]){1, 2, 2, 0}, 4, 0);
  cr_assert(ir_topk(g, x, 3, 1, 1, &tv, &ti) == 0); /* ascending sort */
  expect_vals(run(tv), (double[]){1, 5, 5, -2, -1, 0}, 6, 0);
  expect_vals(run(ti), (double[]){0, 1, 2, 1, 0, 2}, 6, 0);
}

Test(interp, softmax_and_losses)
{
  IrVal x = cst(IR_F64, 2, D(2, 3), (double[]){0, 0, 0, 1, 2, 3});
  const double *p = run(ir_softmax(g, OP_SOFTMAX, x, 1));
  double z = exp(1) + exp(2) + exp(3);
  expect_vals(p, (double[]){1. / 3, 1. / 3, 1. / 3, exp(1) / z, exp(2) / z, exp(3) / z}, 6, 1e-15);
  IrVal t = cst(IR_I64, 1, D(2), (double[]){1, 2});
  double l0 = log(3), l1 = log(z) - 3;
  expect_vals(run(ir_loss(g, OP_CROSS_ENTROPY, x, t, 0)), (double[]){(l0 + l1) / 2}, 1, 1e-14);
  expect_vals(run(ir_loss(g, OP_CROSS_ENTROPY, x, t, 2)), (double[]){l0, l1}, 2, 1e-14);
  IrVal ls = ir_softmax(g, OP_LOG_SOFTMAX, x, 1);
  expect_vals(run(ir_loss(g, OP_NLL, ls, t, 1)), (double[]){l0 + l1}, 1, 1e-14);
  IrVal y = cst(IR_F64, 2, D(2, 3), (double[]){1, 0, 1, 0, 0, 1});
  expect_vals(run(ir_loss(g, OP_MSE, x, y, 0)), (double[]){(1 + 0 + 1 + 1 + 4 + 4) / 6.0}, 1, 1e-15);
  double bce0 = log(2); /* x = 0 */
  const double *b = run(ir_loss(g, OP_BCE_LOGITS, x, y, 2));
  expect_vals(b, (double[]){bce0, bce0, bce0, log1p(exp(1)), log1p(exp(2)), log1p(exp(-3))}, 6, 1e-14);
  expect_vals(run(ir_loss(g, OP_KL, ls, ls, 0)), (double[]){0}, 1, 1e-15);
}

Test(interp, target_out_of_range_is_an_error)
{
  IrVal x = cst(IR_F64, 2, D(1, 3), (double[]){0, 0, 0});
  IrVal l = ir_loss(g, OP_CROSS_ENTROPY, x, cst(IR_I64, 1, D(1), (double[]){3}), 0);
  I = ir_interp_new(g);
  cr_expect(ir_interp_run(I) == -1);
  cr_expect(strstr(ir_interp_error(I), "target 3 of row 0 outside [0, 3)") != NULL, "%s", ir_interp_error(I));
  (void)l;
}

Test(interp, conv2d_and_transpose)
{
  /* 1x1x3x3 input 1..9, 2x2 kernel of ones, stride 1, pad 0: window sums */
  IrVal x = cst(IR_F64, 4, D(1, 1, 3, 3), (double[]){1, 2, 3, 4, 5, 6, 7, 8, 9});
  IrVal w = ir_fill(g, IR_F64, ir_shape(4, D(1, 1, 2, 2)), 1);
  expect_vals(run(ir_conv2d(g, x, w, 1, 1, 0, 0)), (double[]){12, 16, 24, 28}, 4, 0);
  /* padding 1, stride 2: corners of the padded input */
  expect_vals(run(ir_conv2d(g, x, w, 2, 2, 1, 1)), (double[]){1, 5, 11, 28}, 4, 0);
  /* transposed: scatters each input element over a 2x2 block */
  IrVal y = cst(IR_F64, 4, D(1, 1, 2, 2), (double[]){1, 2, 3, 4});
  expect_vals(run(ir_conv_t2d(g, y, w, 1, 1, 0, 0, 0, 0)), (double[]){1, 3, 2, 4, 10, 6, 3, 7, 4}, 9, 0);
  IrVal x1 = cst(IR_F64, 3, D(1, 1, 4), (double[]){1, 2, 3, 4});
  IrVal w1 = cst(IR_F64, 3, D(1, 1, 2), (double[]){1, -1});
  expect_vals(run(ir_conv1d(g, x1, w1, 1, 0)), (double[]){-1, -1, -1}, 3, 0);
}

Test(interp, pooling)
{
  IrVal x = cst(IR_F64, 4, D(1, 1, 2, 4), (double[]){1, 3, 2, 0, 4, 2, 8, 8});
  expect_vals(run(ir_pool2d(g, OP_MAXPOOL2D, x, 2, 2, 2, 2, 0, 0)), (double[]){4, 8}, 2, 0);
  expect_vals(run(ir_pool2d(g, OP_AVGPOOL2D, x, 2, 2, 2, 2, 0, 0)), (double[]){2.5, 4.5}, 2, 0);
}

Test(interp, indexing)
{
  IrVal e = cst(IR_F64, 2, D(3, 2), (double[]){0, 1, 10, 11, 20, 21});
  IrVal ids = cst(IR_I32, 1, D(3), (double[]){2, 0, 2});
  expect_vals(run(ir_embedding(g, e, ids)), (double[]){20, 21, 0, 1, 20, 21}, 6, 0);
  IrVal src = ir_fill(g, IR_F64, ir_shape(2, D(3, 2)), 1);
  expect_vals(run(ir_scatter_add(g, e, ids, src, 0)), (double[]){1, 2, 10, 11, 22, 23}, 6, 0);
  IrVal oh = ir_one_hot(g, cst(IR_I64, 1, D(3), (double[]){1, -1, 0}), 2, IR_F32);
  expect_vals(run(oh), (double[]){0, 1, 0, 0, 1, 0}, 6, 0);
  /* per-row pick: q[3, 2], actions [3, 1] */
  IrVal act = cst(IR_I64, 2, D(3, 1), (double[]){1, 0, 1});
  expect_vals(run(ir_take_along(g, e, act, 1)), (double[]){1, 10, 21}, 3, 0);
  IrVal one = ir_fill(g, IR_F64, ir_shape(2, D(3, 1)), 5);
  expect_vals(run(ir_put_along_add(g, e, act, one, 1)), (double[]){0, 6, 15, 11, 20, 26}, 6, 0);
  IrVal cols = cst(IR_I64, 1, D(2), (double[]){1, 1});
  expect_vals(run(ir_gather(g, e, cols, 1)), (double[]){1, 1, 11, 11, 21, 21}, 6, 0);
}

Test(interp, data_movement)
{
  IrVal x = cst(IR_F64, 2, D(2, 3), (double[]){1, 2, 3, 4, 5, 6});
  int perm[2] = {1, 0};
  expect_vals(run(ir_transpose(g, x, perm)), (double[]){1, 4, 2, 5, 3, 6}, 6, 0);
  expect_vals(run(ir_slice(g, x, D(0, 1), D(2, 3))), (double[]){2, 3, 5, 6}, 4, 0);
  expect_vals(run(ir_pad(g, x, D(0, 1), D(0, 0), -1)), (double[]){-1, 1, 2, 3, -1, 4, 5, 6}, 8, 0);
  IrVal xs[2] = {x, x};
  expect_vals(run(ir_concat(g, 2, xs, 1)), (double[]){1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6}, 12, 0);
  IrVal p[2];
  ir_split(g, x, 1, 2, D(1, 2), p);
  expect_vals(run(p[1]), (double[]){2, 3, 5, 6}, 4, 0);
  IrVal r = cst(IR_F64, 2, D(2, 1), (double[]){7, 8});
  expect_vals(run(ir_broadcast_to(g, r, ir_shape(2, D(2, 2)))), (double[]){7, 7, 8, 8}, 4, 0);
  IrVal c = cst(IR_BOOL, 1, D(3), (double[]){1, 0, 1});
  expect_vals(run(ir_where(g, c, x, ir_scalar(g, IR_F64, 0))), (double[]){1, 0, 3, 4, 0, 6}, 6, 0);
}

Test(interp, sampling_is_reproducible_and_distinct)
{
  IrShape s = ir_shape(1, D(20000));
  IrVal u1 = ir_uniform(g, IR_F64, s, 0, 1), u2 = ir_uniform(g, IR_F64, s, 0, 1);
  IrVal n1 = ir_normal(g, IR_F64, s, 1, 2);
  run(u1);
  const double *a = ir_interp_value(I, u1)->data, *b = ir_interp_value(I, u2)->data;
  const double *n = ir_interp_value(I, n1)->data;
  double mean = 0, nm = 0, nv = 0;
  int same = 0;
  for (int i = 0; i < 20000; i++) {
    mean += a[i];
    same += a[i] == b[i];
    nm += n[i];
  }
  nm /= 20000;
  for (int i = 0; i < 20000; i++) nv += (n[i] - nm) * (n[i] - nm);
  nv /= 20000;
  cr_expect(fabs(mean / 20000 - 0.5) < 0.01, "uniform mean %g", mean / 20000);
  cr_expect(same < 10, "two streams must differ");
  cr_expect(fabs(nm - 1) < 0.05 && fabs(nv - 4) < 0.2, "normal mean %g var %g", nm, nv);
  double first = a[17];
  IrInterp *J = ir_interp_new(g);
  ir_interp_set_seed(J, 42);
  cr_assert(ir_interp_run(J) == 0);
  cr_expect(ir_interp_value(J, u1)->data[17] == first, "same seed, same numbers");
  ir_interp_set_seed(J, 43);
  cr_assert(ir_interp_run(J) == 0);
  cr_expect(ir_interp_value(J, u1)->data[17] != first, "another seed, other numbers");
  ir_interp_free(J);
}

Test(interp, dropout_and_bernoulli)
{
  IrVal x = ir_fill(g, IR_F64, ir_shape(1, D(10000)), 2.0);
  IrVal d = ir_dropout(g, x, 0.25);
  const double *y = run(d);
  int kept = 0;
  for (int i = 0; i < 10000; i++) {
    cr_assert(y[i] == 0 || fabs(y[i] - 2.0 / 0.75) < 1e-12);
    kept += y[i] != 0;
  }
  cr_expect(abs(kept - 7500) < 200, "kept %d", kept);
  IrVal bern = ir_bernoulli(g, ir_fill(g, IR_F64, ir_shape(1, D(10000)), 0.3));
  const double *bv = run(bern);
  int ones = 0;
  for (int i = 0; i < 10000; i++) ones += bv[i] == 1;
  cr_expect(abs(ones - 3000) < 200, "ones %d", ones);
  IrVal logits = cst(IR_F64, 2, D(2, 3), (double[]){0, 50, 0, -50, -50, 50});
  expect_vals(run(ir_categorical(g, logits)), (double[]){1, 2}, 2, 0);
}

Test(interp, scan_forward_and_reverse)
{
  /* carry' = carry + x_t, y_t = carry' : a cumulative sum over axis 1 of [2, 3] */
  IrType ct = {IR_F64, ir_shape(1, D(2))};
  for (int rev = 0; rev < 2; rev++) {
    IrGraph *body = ir_graph_new();
    IrVal c = ir_formal(body, 0, ct), x = ir_formal(body, 1, ct);
    IrVal c1 = ir_binary(body, OP_ADD, c, x);
    IrVal o[2] = {c1, c1};
    ir_set_outputs(body, 2, o);
    IrVal xs = cst(IR_F64, 2, D(2, 3), (double[]){1, 2, 3, 10, 20, 30});
    IrVal c0 = ir_fill(g, IR_F64, ct.shape, 0);
    IrNode *n = ir_scan(g, body, 1, &c0, 1, &xs, 0, NULL, 1, rev);
    cr_assert(n, "%s", ir_errmsg(g));
    expect_vals(run(n->out[0]), (double[]){6, 60}, 2, 0);
    if (!rev) expect_vals(run(n->out[1]), (double[]){1, 3, 6, 10, 30, 60}, 6, 0);
    else expect_vals(run(n->out[1]), (double[]){6, 5, 3, 60, 50, 30}, 6, 0);
  }
}

Test(interp, bind_by_name_and_unbound_input)
{
  IrVal x = ir_input(g, "x", IR_F32, ir_shape(1, D(2)));
  IrVal w = ir_param(g, "w", IR_F32, ir_shape(1, D(2)), "zeros");
  IrVal y = ir_binary(g, OP_ADD, x, w);
  I = ir_interp_new(g);
  cr_expect(ir_interp_run(I) == -1);
  cr_expect(strstr(ir_interp_error(I), "input 'x' is not bound") != NULL, "%s", ir_interp_error(I));
  cr_expect(ir_interp_bind(I, "nope", (double[]){1, 2}) == -1);
  cr_assert(ir_interp_bind(I, "x", (double[]){1, 2}) == 0);
  cr_assert(ir_interp_bind(I, "w", (double[]){0.5, 0.25}) == 0);
  cr_assert(ir_interp_run(I) == 0, "%s", ir_interp_error(I));
  expect_vals(ir_interp_value(I, y)->data, (double[]){1.5, 2.25}, 2, 0);
}
