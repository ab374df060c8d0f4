/* ir_print.c — the text dump (golden text) and the verifier catching broken graphs. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ir_testutil.h"

#define D(...) ((int64_t[]){__VA_ARGS__})

/* A small MLP layer with dropout and a loss. */
static IrGraph *mlp(void)
{
  IrGraph *g = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F32, ir_shape(2, D(128, 784)));
  IrVal w = ir_param(g, "W", IR_F32, ir_shape(2, D(256, 784)), "glorot");
  IrVal b = ir_param(g, "b", IR_F32, ir_shape(1, D(256)), "zeros");
  IrVal t = ir_input(g, "y", IR_I64, ir_shape(1, D(128)));
  IrVal h = ir_unary(g, OP_RELU, ir_binary(g, OP_ADD, ir_matmul(g, x, w, 0, 1), b));
  IrVal d = ir_dropout(g, h, 0.5);
  IrVal l = ir_loss(g, OP_CROSS_ENTROPY, d, t, 0);
  ir_set_outputs(g, 1, &l);
  return g;
}

Test(print, golden_mlp)
{
  IrGraph *g = mlp();
  char *s = ir_print_str(g);
  const char *want =
      "%0 = input \"x\" : f32[128, 784]\n"
      "%1 = param \"W\" init=glorot : f32[256, 784]\n"
      "%2 = param \"b\" init=zeros : f32[256]\n"
      "%3 = input \"y\" : i64[128]\n"
      "%4 = matmul %0, %1 [0, 1] : f32[128, 256]\n"
      "%5 = add %4, %2 : f32[128, 256]\n"
      "%6 = relu %5 : f32[128, 256]\n"
      "%7 = dropout %6 [0] (0.5) stream=1 : f32[128, 256]\n"
      "%8 = cross_entropy %7, %3 [0] : f32[]\n"
      "return %8\n";
  cr_expect_str_eq(s, want);
  free(s);
  ir_graph_free(g);
}

Test(print, golden_split_and_scan)
{
  IrGraph *g = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F32, ir_shape(2, D(4, 6)));
  IrVal p[2];
  ir_split(g, x, 1, 2, D(2, 4), p);
  IrType ht = {IR_F32, ir_shape(1, D(6))};
  IrGraph *body = ir_graph_new();
  IrVal h = ir_formal(body, 0, ht), xt = ir_formal(body, 1, ht);
  IrVal h1 = ir_unary(body, OP_TANH, ir_binary(body, OP_ADD, h, xt));
  ir_set_outputs(body, 1, &h1);
  IrVal h0 = ir_fill(g, IR_F32, ir_shape(1, D(6)), 0);
  ir_scan(g, body, 1, &h0, 1, &x, 0, NULL, 0, 1);
  char *s = ir_print_str(g);
  const char *want =
      "%0 = input \"x\" : f32[4, 6]\n"
      "%1, %2 = split %0 [1, 2, 4] : f32[4, 2], f32[4, 4]\n"
      "%3 = const 0 : f32[6]\n"
      "%4 = scan %3, %0 [1, 1, 0, 0, 1, 0, 4] : f32[6]\n"
      "  body {\n"
      "    %0 = input #0 : f32[6]\n"
      "    %1 = input #1 : f32[6]\n"
      "    %2 = add %0, %1 : f32[6]\n"
      "    %3 = tanh %2 : f32[6]\n"
      "    return %3\n"
      "  }\n";
  cr_expect_str_eq(s, want);
  free(s);
  ir_graph_free(g);
}

Test(verify, accepts_built_and_differentiated_graphs)
{
  IrGraph *g = mlp();
  char msg[512];
  cr_expect(ir_verify(g, "build", msg, sizeof msg) == 0, "%s", msg);
  IrVal grads[2];
  cr_assert(ad_grad_params(g, g->outs[0], grads) == 0, "%s", ir_errmsg(g));
  cr_expect(ir_verify(g, "autodiff", msg, sizeof msg) == 0, "%s", msg);
  ir_graph_free(g);
}

Test(verify, catches_ssa_violation_and_names_pass)
{
  IrGraph *g = mlp();
  char msg[512];
  g->nodes[5]->in[0] = 7; /* relu's input now defined later */
  cr_expect(ir_verify(g, "cse", msg, sizeof msg) == -1);
  cr_expect(strstr(msg, "after cse") != NULL, "%s", msg);
  cr_expect(strstr(msg, "SSA order") != NULL, "%s", msg);
  ir_graph_free(g);
}

Test(verify, catches_wrong_stored_shape)
{
  IrGraph *g = mlp();
  char msg[512];
  g->vals[5].t.shape.dim[1] = 255; /* add's result */
  cr_expect(ir_verify(g, "simplify", msg, sizeof msg) == -1);
  cr_expect(strstr(msg, "after simplify") != NULL && strstr(msg, "stored type differs") != NULL, "%s", msg);
  ir_graph_free(g);
}

Test(verify, catches_broken_input_types)
{
  IrGraph *g = mlp();
  char msg[512];
  g->vals[2].t.shape.dim[0] = 7; /* param b (type and attributes) no longer broadcasts */
  g->nodes[2]->attr.ints[0] = 7;
  cr_expect(ir_verify(g, "fuse", msg, sizeof msg) == -1);
  cr_expect(strstr(msg, "shape rule fails") != NULL && strstr(msg, "do not broadcast") != NULL, "%s", msg);
  cr_expect(!g->failed, "the graph's own error state is untouched");
  ir_graph_free(g);
}

Test(verify, catches_bad_arity)
{
  IrGraph *g = mlp();
  char msg[512];
  IrNode *relu = g->nodes[6];
  relu->in = realloc(relu->in, 2 * sizeof *relu->in);
  relu->in[1] = 0;
  relu->nin = 2; /* relu with two inputs */
  cr_expect(ir_verify(g, "test", msg, sizeof msg) == -1);
  cr_expect(strstr(msg, "wrong number of inputs") != NULL, "%s", msg);
  ir_graph_free(g);
}

Test(verify, catches_leaf_type_change)
{
  IrGraph *g = mlp();
  char msg[512];
  g->vals[0].t.dtype = IR_F64; /* input x retyped behind the builder's back */
  cr_expect(ir_verify(g, "lower", msg, sizeof msg) == -1);
  cr_expect(strstr(msg, "leaf type differs") != NULL, "%s", msg);
  ir_graph_free(g);
}

Test(print, golden_custom_grad)
{
  IrGraph *g = ir_graph_new();
  IrType t = {IR_F32, ir_shape(1, D(2))};
  IrGraph *f = ir_graph_new(), *b = ir_graph_new();
  IrVal fx = ir_formal(f, 0, t), fy = ir_unary(f, OP_SIGN, fx);
  ir_set_outputs(f, 1, &fy);
  ir_formal(b, 0, t);
  ir_formal(b, 1, t);
  IrVal gy = ir_formal(b, 2, t);
  ir_set_outputs(b, 1, &gy);
  IrVal x = ir_input(g, "x", IR_F32, t.shape);
  ir_custom_grad(g, 1, &x, f, b);
  char *s = ir_print_str(g);
  cr_expect_str_eq(s,
                   "%0 = input \"x\" : f32[2]\n"
                   "%1 = custom_grad %0 : f32[2]\n"
                   "  forward {\n"
                   "    %0 = input #0 : f32[2]\n"
                   "    %1 = sign %0 : f32[2]\n"
                   "    return %1\n"
                   "  }\n"
                   "  backward {\n"
                   "    %0 = input #0 : f32[2]\n"
                   "    %1 = input #1 : f32[2]\n"
                   "    %2 = input #2 : f32[2]\n"
                   "    return %2\n"
                   "  }\n");
  free(s);
  ir_graph_free(g);
}
