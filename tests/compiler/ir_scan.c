/* ir_scan.c — autodiff through scan (BPTT) against central differences: forward and
 * reverse scans, an LSTM cell, dropout inside the body, nested scans; and the structure of
 * the result (a loop, not an unrolled graph). */
#include <criterion/criterion.h>
#include <string.h>

#include "ir_testutil.h"

#define D(...) ((int64_t[]){__VA_ARGS__})
#define IN(r, lo, hi, ...) tc_in(c, r, D(__VA_ARGS__), lo, hi)

/* h' = tanh(h * w + x_t * u), y_t = h' * x_t ; time axis ax of xs */
static IrNode *rnn(TC *c, int T, int ax, int reverse, int dropout)
{
  IrType ht = {IR_F64, ir_shape(1, D(3))};
  IrGraph *b = ir_graph_new();
  IrVal h = ir_formal(b, 0, ht), x = ir_formal(b, 1, ht), w = ir_formal(b, 2, ht), u = ir_formal(b, 3, ht);
  IrVal pre = ir_binary(b, OP_ADD, ir_binary(b, OP_MUL, h, w), ir_binary(b, OP_MUL, x, u));
  if (dropout) pre = ir_dropout_ex(b, pre, 0.4, dropout == 2);
  IrVal h1 = ir_unary(b, OP_TANH, pre);
  IrVal o[2] = {h1, ir_binary(b, OP_MUL, h1, x)};
  ir_set_outputs(b, 2, o);
  IrVal h0 = IN(1, -1, 1, 3);
  IrVal xs = ax == 0 ? IN(2, -1, 1, T, 3) : IN(2, -1, 1, 3, T);
  if (ax == 1) { /* body sees [3]: with axis 1 the step input is column t of xs[3, T] */ }
  IrVal k[2] = {IN(1, -1, 1, 3), IN(1, -1, 1, 3)};
  return ir_scan(c->g, b, 1, &h0, 1, &xs, 2, k, ax, reverse);
}

/* Sum of final carry (broadcast) and stacked outputs, so both adjoints are exercised. */
static IrVal both(TC *c, IrNode *n, int T)
{
  if (!n) return IR_NONE;
  const IrShape *ys = &ir_type(c->g, n->out[1])->shape;
  IrVal hT = n->out[0];
  if (ys->dim[0] != 3) hT = ir_broadcast_to(c->g, hT, *ys);
  else hT = ir_broadcast_to(c->g, ir_reshape(c->g, hT, ir_shape(2, D(3, 1))), *ys);
  return ir_binary(c->g, OP_ADD, n->out[1], hT);
}

static void check(TC *c, IrVal y)
{
  char msg[512] = "";
  cr_expect(tc_gradcheck(c, y, 1e-5, 1e-6, 1e-4, msg, sizeof msg) == 0, "%s", msg);
}

Test(scan, bptt_forward)
{
  TC cc, *c = &cc;
  tc_init(c);
  check(c, both(c, rnn(c, 5, 0, 0, 0), 5));
  tc_free(c);
}

Test(scan, bptt_reverse)
{
  TC cc, *c = &cc;
  tc_init(c);
  check(c, both(c, rnn(c, 4, 0, 1, 0), 4));
  tc_free(c);
}

Test(scan, bptt_time_axis_1)
{
  TC cc, *c = &cc;
  tc_init(c);
  check(c, both(c, rnn(c, 4, 1, 0, 0), 4));
  tc_free(c);
}

Test(scan, bptt_with_dropout_regenerates_masks)
{
  TC cc, *c = &cc;
  tc_init(c);
  check(c, both(c, rnn(c, 4, 0, 0, 1), 4));
  tc_free(c);
}

Test(scan, bptt_with_per_sequence_dropout)
{
  TC cc, *c = &cc;
  tc_init(c);
  check(c, both(c, rnn(c, 4, 0, 0, 2), 4));
  tc_free(c);
}

/* y_t = dropout(ones) per step or per sequence: rows of the stacked ys. */
static void masks(int per_seq, double *out)
{
  IrGraph *g = ir_graph_new();
  IrType t = {IR_F64, ir_shape(1, D(64))};
  IrGraph *b = ir_graph_new();
  IrVal cr = ir_formal(b, 0, t), x = ir_formal(b, 1, t);
  IrVal o[2] = {cr, ir_dropout_ex(b, x, 0.5, per_seq)};
  ir_set_outputs(b, 2, o);
  IrVal c0 = ir_fill(g, IR_F64, t.shape, 0), xs = ir_fill(g, IR_F64, ir_shape(2, D(3, 64)), 1);
  IrNode *n = ir_scan(g, b, 1, &c0, 1, &xs, 0, NULL, 0, 0);
  cr_assert(n, "%s", ir_errmsg(g));
  IrInterp *I = ir_interp_new(g);
  cr_assert(ir_interp_run(I) == 0, "%s", ir_interp_error(I));
  memcpy(out, ir_interp_value(I, n->out[1])->data, 3 * 64 * sizeof(double));
  ir_interp_free(I);
  ir_graph_free(g);
}

Test(scan, dropout_per_step_or_per_sequence)
{
  double a[192], b[192];
  masks(0, a);
  masks(1, b);
  int same_a = 1, same_b = 1;
  for (int i = 0; i < 64; i++) {
    same_a &= a[i] == a[64 + i] && a[i] == a[128 + i];
    same_b &= b[i] == b[64 + i] && b[i] == b[128 + i];
  }
  cr_expect(!same_a, "per-step masks differ between steps");
  cr_expect(same_b, "a per-sequence mask is shared by all steps");
}

Test(scan, gradient_is_a_loop_not_unrolled)
{
  int counts[2];
  for (int k = 0; k < 2; k++) {
    TC cc, *c = &cc;
    tc_init(c);
    IrNode *n = rnn(c, k ? 50 : 5, 0, 0, 0);
    IrVal y = both(c, n, 0);
    int ax[2] = {0, 1};
    IrVal loss = ir_reduce(c->g, OP_SUM, y, 2, ax, 0), gr[5];
    cr_assert(ad_grad(c->g, loss, c->n, c->v, gr) == 0, "%s", ir_errmsg(c->g));
    int scans = 0;
    for (int i = 0; i < c->g->nnodes; i++) scans += c->g->nodes[i]->op == OP_SCAN;
    cr_expect(scans == 2, "forward scan and one backward scan, got %d", scans);
    cr_expect(n->attr.ints[5] == 1 && n->nout == 3, "the forward scan stores its carries");
    counts[k] = c->g->nnodes;
    tc_free(c);
  }
  cr_expect(counts[0] == counts[1], "graph size must not depend on T (%d vs %d)", counts[0], counts[1]);
}

/* LSTM cell (design.md's sketch) over [B=2, T=3, I=2] (batch first, time axis 1). */
static IrGraph *lstm_body(int B, int I, int H)
{
  IrGraph *b = ir_graph_new();
  IrType hs = {IR_F64, ir_shape(2, D(B, H))}, xs = {IR_F64, ir_shape(2, D(B, I))};
  IrType wx = {IR_F64, ir_shape(2, D(4 * H, I))}, wh = {IR_F64, ir_shape(2, D(4 * H, H))};
  IrType bt = {IR_F64, ir_shape(1, D(4 * H))};
  IrVal h = ir_formal(b, 0, hs), cc = ir_formal(b, 1, hs), x = ir_formal(b, 2, xs);
  IrVal Wx = ir_formal(b, 3, wx), Wh = ir_formal(b, 4, wh), bias = ir_formal(b, 5, bt);
  IrVal z = ir_binary(b, OP_ADD, ir_binary(b, OP_ADD, ir_matmul(b, x, Wx, 0, 1), ir_matmul(b, h, Wh, 0, 1)), bias);
  IrVal g4[4];
  ir_split(b, z, 1, 4, D(H, H, H, H), g4);
  IrVal i = ir_unary(b, OP_SIGMOID, g4[0]), f = ir_unary(b, OP_SIGMOID, g4[1]);
  IrVal gg = ir_unary(b, OP_TANH, g4[2]), o = ir_unary(b, OP_SIGMOID, g4[3]);
  IrVal c1 = ir_binary(b, OP_ADD, ir_binary(b, OP_MUL, f, cc), ir_binary(b, OP_MUL, i, gg));
  IrVal h1 = ir_binary(b, OP_MUL, o, ir_unary(b, OP_TANH, c1));
  IrVal outs[3] = {h1, c1, h1};
  ir_set_outputs(b, 3, outs);
  return b;
}

Test(scan, bptt_lstm_cell)
{
  TC cc, *c = &cc;
  tc_init(c);
  int B = 2, I = 2, H = 3, T = 3;
  IrVal init[2] = {IN(2, -0.5, 0.5, B, H), IN(2, -0.5, 0.5, B, H)};
  IrVal xs = IN(3, -1, 1, B, T, I);
  IrVal k[3] = {IN(2, -0.7, 0.7, 4 * H, I), IN(2, -0.7, 0.7, 4 * H, H), IN(1, -0.3, 0.3, 4 * H)};
  IrNode *n = ir_scan(c->g, lstm_body(B, I, H), 2, init, 1, &xs, 3, k, 1, 0);
  cr_assert(n, "%s", ir_errmsg(c->g));
  /* loss over the stacked h [B, T, H] plus the final cell state */
  IrVal cT = ir_broadcast_to(c->g, ir_reshape(c->g, n->out[1], ir_shape(3, D(B, 1, H))), ir_shape(3, D(B, T, H)));
  check(c, ir_binary(c->g, OP_ADD, n->out[2], cT));
  tc_free(c);
}

Test(scan, nested_scan)
{
  /* outer over T=3 steps of xs[3, 2, 2]; inner scans the [2, 2] slice over 2 steps */
  TC cc, *c = &cc;
  tc_init(c);
  IrType v2 = {IR_F64, ir_shape(1, D(2))}, m22 = {IR_F64, ir_shape(2, D(2, 2))};
  IrGraph *inner = ir_graph_new();
  IrVal a = ir_formal(inner, 0, v2), r = ir_formal(inner, 1, v2);
  IrVal a1 = ir_unary(inner, OP_TANH, ir_binary(inner, OP_ADD, ir_binary(inner, OP_MUL, a, r), r));
  ir_set_outputs(inner, 1, &a1);
  IrGraph *outer = ir_graph_new();
  IrVal h = ir_formal(outer, 0, v2), x = ir_formal(outer, 1, m22);
  IrNode *in = ir_scan(outer, inner, 1, &h, 1, &x, 0, NULL, 0, 0);
  IrVal o = in ? in->out[0] : IR_NONE;
  IrVal outs[2] = {o, ir_unary(outer, OP_EXP, o)};
  ir_set_outputs(outer, 2, outs);
  IrVal h0 = IN(1, -1, 1, 2), xs = IN(3, -1, 1, 3, 2, 2);
  IrNode *n = ir_scan(c->g, outer, 1, &h0, 1, &xs, 0, NULL, 0, 0);
  cr_assert(n, "%s", ir_errmsg(c->g));
  check(c, n->out[1]);
  tc_free(c);
}

Test(scan, two_scans_draw_different_numbers)
{ /* the same body built twice (same stream ids inside) must not repeat its draws */
  IrGraph *g = ir_graph_new();
  IrType t = {IR_F64, ir_shape(1, D(64))};
  IrVal ys[2];
  for (int k = 0; k < 2; k++) {
    IrGraph *b = ir_graph_new();
    IrVal cr = ir_formal(b, 0, t), x = ir_formal(b, 1, t);
    IrVal o[2] = {cr, ir_dropout(b, x, 0.5)};
    ir_set_outputs(b, 2, o);
    IrVal c0 = ir_fill(g, IR_F64, t.shape, 0), xs = ir_fill(g, IR_F64, ir_shape(2, D(2, 64)), 1);
    IrNode *n = ir_scan(g, b, 1, &c0, 1, &xs, 0, NULL, 0, 0);
    cr_assert(n, "%s", ir_errmsg(g));
    ys[k] = n->out[1];
  }
  IrInterp *I = ir_interp_new(g);
  cr_assert(ir_interp_run(I) == 0, "%s", ir_interp_error(I));
  const double *a = ir_interp_value(I, ys[0])->data, *b = ir_interp_value(I, ys[1])->data;
  int same = 0;
  for (int i = 0; i < 128; i++) same += a[i] == b[i];
  cr_expect(same < 100, "masks of two scans coincide on %d of 128", same);
  ir_interp_free(I);
  ir_graph_free(g);
}

Test(scan, length_only_scan_and_its_gradient)
{ /* a rollout with no step inputs: h' = tanh(h * w + b), y_t = h' ; T = 4 */
  TC cc, *c = &cc;
  tc_init(c);
  IrType ht = {IR_F64, ir_shape(1, D(3))};
  IrGraph *b = ir_graph_new();
  IrVal h = ir_formal(b, 0, ht), w = ir_formal(b, 1, ht), bias = ir_formal(b, 2, ht);
  IrVal h1 = ir_unary(b, OP_TANH, ir_binary(b, OP_ADD, ir_binary(b, OP_MUL, h, w), bias));
  IrVal o[2] = {h1, h1};
  ir_set_outputs(b, 2, o);
  IrVal h0 = IN(1, -1, 1, 3), k[2] = {IN(1, -1, 1, 3), IN(1, -1, 1, 3)};
  IrNode *n = ir_scan_len(c->g, b, 1, &h0, 4, 2, k, 0);
  cr_assert(n, "%s", ir_errmsg(c->g));
  char tb[64];
  cr_expect_str_eq(ir_type_str(ir_type(c->g, n->out[1]), tb, sizeof tb), "f64[4, 3]");
  check(c, n->out[1]);
  tc_free(c);
}
