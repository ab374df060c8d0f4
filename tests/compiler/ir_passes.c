/* ir_passes.c — simplify and CSE: before/after graphs, the switches, and equal results
 * (interpreter) with and without each pass on a differentiated model. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ir_testutil.h"

#define D(...) ((int64_t[]){__VA_ARGS__})

static int count(const IrGraph *g, IrOp op)
{
  int k = 0;
  for (int i = 0; i < g->nnodes; i++) k += g->nodes[i]->op == op;
  return k;
}

static void verified(const IrGraph *g, const char *pass)
{
  char msg[512];
  cr_assert(ir_verify(g, pass, msg, sizeof msg) == 0, "%s", msg);
}

/* Evaluates every graph output with x bound; returns a malloc'ed concatenation. */
static double *outputs(IrGraph *g, const double *x, int *len)
{
  IrInterp *I = ir_interp_new(g);
  ir_interp_set_seed(I, 7);
  if (x) ir_interp_bind(I, "x", x);
  cr_assert(ir_interp_run(I) == 0, "%s", ir_interp_error(I));
  int n = 0;
  for (int i = 0; i < g->nouts; i++) n += (int)ir_numel(&ir_type(g, g->outs[i])->shape);
  double *r = malloc((size_t)n * sizeof *r), *p = r;
  for (int i = 0; i < g->nouts; i++) {
    const IrTensor *t = ir_interp_value(I, g->outs[i]);
    int64_t k = ir_numel(&t->t.shape);
    memcpy(p, t->data, (size_t)k * sizeof *p);
    p += k;
  }
  ir_interp_free(I);
  *len = n;
  return r;
}

Test(simplify, folds_identities_and_dead_code)
{
  IrGraph *g = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F64, ir_shape(1, D(3)));
  IrVal k = ir_binary(g, OP_MUL, ir_scalar(g, IR_F64, 2), ir_scalar(g, IR_F64, 3)); /* 6 */
  IrVal y = ir_binary(g, OP_MUL, ir_binary(g, OP_ADD, x, ir_scalar(g, IR_F64, 0)), ir_scalar(g, IR_F64, 1));
  IrVal z = ir_binary(g, OP_ADD, y, k);
  ir_unary(g, OP_EXP, x); /* dead */
  ir_set_outputs(g, 1, &z);
  double xv[3] = {1, 2, 3};
  int n0, n1;
  double *before = outputs(g, xv, &n0);
  cr_expect(ir_simplify(g, NULL) == 0, "%s", ir_errmsg(g));
  verified(g, "simplify");
  char *s = ir_print_str(g);
  cr_expect_str_eq(s,
                   "%0 = input \"x\" : f64[3]\n"
                   "%1 = const 6 : f64[]\n"
                   "%2 = add %0, %1 : f64[3]\n"
                   "return %2\n");
  free(s);
  double *after = outputs(g, xv, &n1);
  cr_assert(n0 == n1);
  for (int i = 0; i < n0; i++) cr_expect(before[i] == after[i]);
  free(before), free(after);
  ir_graph_free(g);
}

Test(simplify, switches)
{
  IrGraph *g = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F64, ir_shape(1, D(3)));
  IrVal k = ir_binary(g, OP_MUL, ir_scalar(g, IR_F64, 2), ir_scalar(g, IR_F64, 3));
  IrVal y = ir_binary(g, OP_MUL, ir_binary(g, OP_ADD, x, k), ir_scalar(g, IR_F64, 1));
  ir_unary(g, OP_EXP, x);
  ir_set_outputs(g, 1, &y);
  IrPassOpts o = {.no_fold = 1, .no_identity = 1, .no_dce = 1};
  int before = g->nnodes;
  cr_expect(ir_simplify(g, &o) == 0);
  cr_expect(g->nnodes == before, "all off: nothing changes");
  o.no_dce = 0;
  cr_expect(ir_simplify(g, &o) == 0);
  cr_expect(count(g, OP_EXP) == 0 && count(g, OP_MUL) == 2, "only dead code removed");
  o.no_identity = 0;
  cr_expect(ir_simplify(g, &o) == 0);
  cr_expect(count(g, OP_MUL) == 1, "x * 1 removed, constant product kept");
  o.no_fold = 0;
  cr_expect(ir_simplify(g, &o) == 0);
  cr_expect(count(g, OP_MUL) == 0, "constant product folded");
  verified(g, "simplify");
  ir_graph_free(g);
}

Test(simplify, keeps_broadcasting_identities)
{ /* x[3] + zeros[2, 3] is not x: the result is larger */
  IrGraph *g = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F64, ir_shape(1, D(3)));
  IrVal y = ir_binary(g, OP_ADD, x, ir_fill(g, IR_F64, ir_shape(2, D(2, 3)), 0));
  ir_set_outputs(g, 1, &y);
  cr_expect(ir_simplify(g, NULL) == 0);
  cr_expect(count(g, OP_ADD) == 1);
  cr_expect(ir_type(g, g->outs[0])->shape.rank == 2);
  ir_graph_free(g);
}

Test(cse, merges_equal_nodes_only)
{
  IrGraph *g = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F64, ir_shape(1, D(4)));
  IrVal a = ir_unary(g, OP_TANH, x), b = ir_unary(g, OP_TANH, x);
  IrVal c = ir_binary(g, OP_ADD, a, ir_scalar(g, IR_F64, 1));
  IrVal d = ir_binary(g, OP_ADD, b, ir_scalar(g, IR_F64, 1));
  IrVal u1 = ir_uniform(g, IR_F64, ir_shape(1, D(4)), 0, 1), u2 = ir_uniform(g, IR_F64, ir_shape(1, D(4)), 0, 1);
  IrVal e = ir_binary(g, OP_ADD, ir_leaky_relu(g, x, 0.1), ir_leaky_relu(g, x, 0.2));
  IrVal outs[5] = {c, d, u1, u2, e};
  ir_set_outputs(g, 5, outs);
  double xv[4] = {-1, 0, 1, 2};
  int n0, n1;
  double *before = outputs(g, xv, &n0);
  cr_expect(ir_cse(g) == 0, "%s", ir_errmsg(g));
  verified(g, "cse");
  cr_expect(count(g, OP_TANH) == 1);
  cr_expect(count(g, OP_CONST) == 1);
  cr_expect(count(g, OP_UNIFORM) == 2, "distinct streams are distinct draws");
  cr_expect(count(g, OP_LEAKY_RELU) == 2, "different float attributes");
  cr_expect(g->outs[0] == g->outs[1]);
  double *after = outputs(g, xv, &n1);
  cr_assert(n0 == n1);
  for (int i = 0; i < n0; i++) cr_expect(before[i] == after[i], "[%d] %g vs %g", i, before[i], after[i]);
  free(before), free(after);
  ir_graph_free(g);
}

/* A two-layer MLP with its parameter gradients as outputs. */
static IrGraph *mlp_with_grads(void)
{
  IrGraph *g = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F64, ir_shape(2, D(4, 5)));
  IrVal w1 = ir_param(g, "w1", IR_F64, ir_shape(2, D(6, 5)), "glorot");
  IrVal b1 = ir_param(g, "b1", IR_F64, ir_shape(1, D(6)), "zeros");
  IrVal w2 = ir_param(g, "w2", IR_F64, ir_shape(2, D(3, 6)), "glorot");
  IrVal t = ir_const(g, IR_I64, ir_shape(1, D(4)), (double[]){0, 2, 1, 2});
  IrVal h = ir_unary(g, OP_TANH, ir_binary(g, OP_ADD, ir_matmul(g, x, w1, 0, 1), b1));
  IrVal loss = ir_loss(g, OP_CROSS_ENTROPY, ir_matmul(g, h, w2, 0, 1), t, 0);
  IrVal grads[3];
  cr_assert(ad_grad_params(g, loss, grads) == 0, "%s", ir_errmsg(g));
  ir_set_outputs(g, 1, &loss);
  ir_set_outputs(g, 3, grads);
  return g;
}

static void bind_params(IrInterp *I)
{
  double w1[30], b1[6], w2[18];
  for (int i = 0; i < 30; i++) w1[i] = sin(i + 1.0);
  for (int i = 0; i < 6; i++) b1[i] = 0.1 * i;
  for (int i = 0; i < 18; i++) w2[i] = cos(i + 0.5);
  ir_interp_bind(I, "w1", w1), ir_interp_bind(I, "b1", b1), ir_interp_bind(I, "w2", w2);
}

static double *mlp_run(IrGraph *g, int *len)
{
  double x[20];
  for (int i = 0; i < 20; i++) x[i] = 0.1 * i - 1;
  IrInterp *I = ir_interp_new(g);
  bind_params(I);
  ir_interp_bind(I, "x", x);
  cr_assert(ir_interp_run(I) == 0, "%s", ir_interp_error(I));
  int n = 1 + 30 + 6 + 18;
  double *r = malloc((size_t)n * sizeof *r), *p = r;
  for (int i = 0; i < g->nouts; i++) {
    const IrTensor *t = ir_interp_value(I, g->outs[i]);
    memcpy(p, t->data, (size_t)ir_numel(&t->t.shape) * sizeof *p);
    p += ir_numel(&t->t.shape);
  }
  ir_interp_free(I);
  *len = n;
  return r;
}

Test(passes, differentiated_model_same_results)
{
  IrGraph *g = mlp_with_grads();
  int n0, n1, n2;
  double *ref = mlp_run(g, &n0);
  int nodes0 = g->nnodes;
  cr_assert(ir_simplify(g, NULL) == 0, "%s", ir_errmsg(g));
  verified(g, "simplify");
  double *s = mlp_run(g, &n1);
  cr_assert(ir_cse(g) == 0, "%s", ir_errmsg(g));
  verified(g, "cse");
  double *c = mlp_run(g, &n2);
  cr_expect(g->nnodes < nodes0, "passes shrink the graph (%d -> %d)", nodes0, g->nnodes);
  for (int i = 0; i < n0; i++) {
    cr_expect(fabs(ref[i] - s[i]) <= 1e-14 * (1 + fabs(ref[i])), "simplify [%d] %g vs %g", i, ref[i], s[i]);
    cr_expect(fabs(ref[i] - c[i]) <= 1e-14 * (1 + fabs(ref[i])), "cse [%d] %g vs %g", i, ref[i], c[i]);
  }
  free(ref), free(s), free(c);
  ir_graph_free(g);
}

Test(passes, clone_keeps_live_nodes)
{
  IrGraph *g = mlp_with_grads();
  IrGraph *c = ir_graph_clone(g);
  cr_assert(c != NULL);
  verified(c, "clone");
  cr_expect(c->nouts == g->nouts && c->nnodes <= g->nnodes);
  ir_graph_free(c);
  ir_graph_free(g);
}

static int body_nodes(const IrGraph *g)
{
  int k = 0;
  for (int i = 0; i < g->nnodes; i++)
    for (int s = 0; s < 2; s++)
      if (g->nodes[i]->sub[s]) k += g->nodes[i]->sub[s]->nnodes + body_nodes(g->nodes[i]->sub[s]);
  return k;
}

Test(passes, scan_bodies_are_simplified_too)
{ /* BPTT: the backward body recomputes the forward step, partly dead for its VJP */
  IrGraph *g = ir_graph_new();
  IrType ht = {IR_F64, ir_shape(1, D(3))};
  IrGraph *b = ir_graph_new();
  IrVal h = ir_formal(b, 0, ht), x = ir_formal(b, 1, ht), w = ir_formal(b, 2, ht);
  IrVal h1 = ir_unary(b, OP_TANH, ir_binary(b, OP_ADD, ir_binary(b, OP_MUL, h, w), x));
  IrVal y = ir_unary(b, OP_EXP, ir_binary(b, OP_MUL, h1, ir_scalar(b, IR_F64, 1)));
  IrVal o[2] = {h1, y};
  ir_set_outputs(b, 2, o);
  IrVal h0 = ir_fill(g, IR_F64, ht.shape, 0.1), xin = ir_input(g, "x", IR_F64, ir_shape(2, D(4, 3)));
  IrVal wp = ir_param(g, "w", IR_F64, ht.shape, "ones");
  IrNode *n = ir_scan(g, b, 1, &h0, 1, &xin, 1, &wp, 0, 0);
  int ax[2] = {0, 1};
  IrVal loss = ir_reduce(g, OP_SUM, n->out[1], 2, ax, 0), gw;
  cr_assert(ad_grad(g, loss, 1, &wp, &gw) == 0, "%s", ir_errmsg(g));
  IrVal outs[2] = {loss, gw};
  ir_set_outputs(g, 2, outs);
  double xv[12], wv[3] = {0.5, -0.3, 0.8};
  for (int i = 0; i < 12; i++) xv[i] = sin(i);
  double before[4], after[4];
  for (int pass = 0; pass < 2; pass++) {
    if (pass) {
      int n0 = body_nodes(g);
      cr_assert(ir_simplify(g, NULL) == 0, "%s", ir_errmsg(g));
      cr_assert(ir_cse(g) == 0, "%s", ir_errmsg(g));
      verified(g, "simplify+cse");
      cr_expect(body_nodes(g) < n0, "subgraphs shrink (%d -> %d)", n0, body_nodes(g));
    }
    IrInterp *I = ir_interp_new(g);
    ir_interp_bind(I, "x", xv), ir_interp_bind(I, "w", wv);
    cr_assert(ir_interp_run(I) == 0, "%s", ir_interp_error(I));
    double *r = pass ? after : before;
    r[0] = ir_interp_value(I, g->outs[0])->data[0];
    memcpy(r + 1, ir_interp_value(I, g->outs[1])->data, 3 * sizeof(double));
    ir_interp_free(I);
  }
  for (int i = 0; i < 4; i++) cr_expect(fabs(before[i] - after[i]) <= 1e-14 * (1 + fabs(before[i])), "[%d]", i);
  ir_graph_free(g);
}

/* ------------------------------------------------------------------ host calls */

static int ncalls;

/* y = x + 1 (f32), counting calls */
static int plus_one(void *ud, int nin, const IrType *tin, void *const *in, int nout, const IrType *tout,
                    void *const *out, char *msg, size_t cap)
{
  (void)ud, (void)nin, (void)nout, (void)tout, (void)msg, (void)cap;
  ncalls++;
  for (int64_t i = 0; i < ir_numel(&tin[0].shape); i++) ((float *)out[0])[i] = ((float *)in[0])[i] + 1;
  return 0;
}

static const IrHostFn plus_fn = {"plus_one", plus_one, NULL, NULL};
static const IrHostTab plus_tab = {1, &plus_fn, NULL};

/* Two calls on the same input and one on a constant: CSE keeps both, folding runs none. */
static IrGraph *host_graph(IrVal *x)
{
  IrGraph *g = ir_graph_new();
  IrType t = {IR_F32, ir_shape(1, D(3))};
  *x = ir_input(g, "x", IR_F32, t.shape);
  IrVal c = ir_fill(g, IR_F32, t.shape, 2.0);
  IrNode *a = ir_host_call(g, "plus_one", 1, x, 1, &t), *b = ir_host_call(g, "plus_one", 1, x, 1, &t),
         *k = ir_host_call(g, "plus_one", 1, &c, 1, &t);
  cr_assert(a && b && k, "%s", ir_errmsg(g));
  IrVal s = ir_binary(g, OP_ADD, ir_binary(g, OP_ADD, a->out[0], b->out[0]), k->out[0]);
  ir_set_outputs(g, 1, &s);
  return g;
}

static double run_host(IrGraph *g)
{
  IrInterp *I = ir_interp_new(g);
  ir_interp_set_hosts(I, &plus_tab);
  double x[3] = {1, 2, 3};
  ir_interp_bind(I, "x", x);
  cr_assert(ir_interp_run(I) == 0, "%s", ir_interp_error(I));
  double r = ir_interp_value(I, g->outs[0])->data[2];
  ir_interp_free(I);
  return r;
}

Test(passes, host_calls_are_never_merged_or_folded)
{
  IrVal x;
  IrGraph *g = host_graph(&x);
  char *dump = ir_print_str(g);
  cr_expect(strstr(dump, "= host_call \"plus_one\" %0 [1, 0, 1, 3] : f32[3]") != NULL, "%s", dump);
  free(dump);
  ncalls = 0;
  cr_expect_eq(run_host(g), 4 + 4 + 3); /* without the passes */
  cr_expect_eq(ncalls, 3);
  cr_assert(ir_simplify(g, NULL) == 0 && ir_cse(g) == 0, "%s", ir_errmsg(g));
  verified(g, "cse");
  cr_expect_eq(count(g, OP_HOST_CALL), 3);
  ncalls = 0;
  cr_expect_eq(run_host(g), 11); /* with them: the same calls */
  cr_expect_eq(ncalls, 3);
  ir_graph_free(g);
}

Test(passes, unregistered_host_function_fails_the_interpreter)
{
  IrVal x;
  IrGraph *g = host_graph(&x);
  IrInterp *I = ir_interp_new(g);
  double xs[3] = {0};
  ir_interp_bind(I, "x", xs);
  cr_expect(ir_interp_run(I) == -1);
  cr_expect_str_eq(ir_interp_error(I), "host function 'plus_one' is not registered");
  ir_interp_free(I);
  ir_graph_free(g);
}

/* A gradient reaching a host call fails autodiff naming it; stop_gradient cuts it. */
Test(passes, gradient_into_a_host_call_is_an_error)
{
  for (int cut = 0; cut < 2; cut++) {
    IrGraph *g = ir_graph_new();
    IrType t = {IR_F32, ir_shape(1, D(3))};
    IrVal w = ir_param(g, "w", IR_F32, t.shape, "zeros"), arg = cut ? ir_stop_gradient(g, w) : w;
    IrNode *h = ir_host_call(g, "plus_one", 1, &arg, 1, &t);
    int ax = 0;
    IrVal loss = ir_reduce(g, OP_SUM, ir_binary(g, OP_MUL, h->out[0], w), 1, &ax, 0), gw;
    int rc = ad_grad(g, loss, 1, &w, &gw);
    if (cut) {
      cr_expect_eq(rc, 0, "%s", ir_errmsg(g));
    } else {
      cr_expect_eq(rc, -1);
      cr_expect_str_eq(ir_errmsg(g), "a gradient flows into host function 'plus_one', which is not differentiable; "
                                     "wrap its argument or its result in stop_gradient");
      cr_expect_eq(g->err_node, h->id + 1);
    }
    ir_graph_free(g);
  }
}
