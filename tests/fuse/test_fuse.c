/* test_fuse.c — operator fusion (compiler/fuse.c) and memory planning (compiler/memplan.c):
 * kernel counts of an LSTM cell, an MLP layer, conv+bias+relu and a reduction; fused and
 * unfused runs agree with each other and with the interpreter; planned arenas have no two
 * live buffers sharing bytes and stay between the lower bound and the bump arena. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"
#include "fuse.h"

static jit_t *J;

static void setup(void) {
  char msg[256];
  jit_options o = {.opt = JIT_O1, .fast_codegen = 1}; /* many small compiles: keep them cheap */
  cr_assert_eq(jit_create(&J, &o, msg, sizeof msg), 0, "%s", msg);
}
static void teardown(void) {
  jit_destroy(J);
  lower_options plain = {0};
  lower_set_options(&plain);
}

TestSuite(fuse, .init = setup, .fini = teardown);

static IrShape sh(int r, int64_t a, int64_t b, int64_t c, int64_t d) {
  int64_t x[4] = {a, b, c, d};
  return ir_shape(r, x);
}

static void set_opts(int fuse, int plan) {
  lower_options o = {.no_fuse = !fuse, .no_memplan = !plan};
  lower_set_options(&o);
}

static void lower_ok(IrGraph *g, lower_plan *p) {
  static int serial;
  char msg[512], name[32];
  snprintf(name, sizeof name, "f%d", serial++); /* one JIT: unique function names */
  cr_assert_eq(ir_verify(g, "test", msg, sizeof msg), 0, "%s", msg);
  cr_assert_eq(lower_graph(g, name, p, msg, sizeof msg), 0, "%s", msg);
}

typedef struct counts {
  int loops, gemms, calls; /* gemms: nnrt_sgemm*; calls: other runtime calls */
} counts;

static counts count(IrGraph *g, int fuse) {
  lower_plan p;
  set_opts(fuse, 1);
  lower_ok(g, &p);
  counts c = {0};
  for (int k = 0; k < p.f->nkernel; k++) {
    const kir_kernel *K = &p.f->kernel[k];
    if (K->kind == KIR_LOOP)
      c.loops++;
    else if (K->kind == KIR_CALL && !strncmp(K->callee, "nnrt_sgemm", 10))
      c.gemms++;
    else if (K->kind == KIR_CALL)
      c.calls++;
  }
  cr_log_info("%s: %d loop kernels, %d GEMM calls, %d other calls", fuse ? "fused" : "unfused", c.loops, c.gemms,
              c.calls);
  lower_plan_free(&p);
  return c;
}

static double leaf(int64_t i, int s) { return 0.9 * sin(0.731 * (double)(i + 1) * (s + 1) + s); }

/* Runs g lowered with the options; returns every output as doubles (malloc'ed), and
 * checks the memory plan. */
static double *run(IrGraph *g, int fuse, int plan, int64_t *n) {
  lower_plan p;
  set_opts(fuse, plan);
  lower_ok(g, &p);
  char msg[512];
  for (int s = 0; s < p.nslots; s++)
    if (p.slots[s].kind == LOWER_SLOT_ARENA)
      cr_assert_eq(memplan_check(p.f, s, msg, sizeof msg), 0, "%s", msg);
  cg_options o = {0};
  cg_entry fn;
  cr_assert_eq(cg_compile(J, p.f, &o, &fn), 0, "%s", jit_errmsg(J));
  void **slots = calloc((size_t)p.nslots, sizeof *slots);
  int64_t tot = 0;
  for (int s = 0; s < p.nslots; s++) {
    slots[s] = calloc(1, (size_t)p.slots[s].bytes + 64);
    if (p.slots[s].kind == LOWER_SLOT_ARENA) /* garbage, as a reused arena would hold */
      memset(slots[s], 0x7f, (size_t)p.slots[s].bytes);
    if (p.slots[s].kind == LOWER_SLOT_OUTPUT)
      tot += ir_numel(&ir_type(g, p.slots[s].val)->shape);
    if (p.slots[s].kind != LOWER_SLOT_LEAF)
      continue;
    const IrType *t = ir_type(g, p.slots[s].val);
    cr_assert_eq(t->dtype, IR_F32);
    for (int64_t i = 0; i < ir_numel(&t->shape); i++)
      ((float *)slots[s])[i] = (float)leaf(i, s);
  }
  fn(slots);
  double *out = malloc(sizeof *out * (size_t)(tot + 1));
  int64_t k = 0;
  for (int s = 0; s < p.nslots; s++)
    if (p.slots[s].kind == LOWER_SLOT_OUTPUT)
      for (int64_t i = 0; i < ir_numel(&ir_type(g, p.slots[s].val)->shape); i++)
        out[k++] = ((float *)slots[s])[i];
  for (int s = 0; s < p.nslots; s++)
    free(slots[s]);
  free(slots);
  lower_plan_free(&p);
  *n = tot;
  return out;
}

/* The fused+planned run equals the unfused bump-arena run (and fused unplanned). */
static void agree(IrGraph *g) {
  int64_t n0, n1, n2;
  double *a = run(g, 0, 0, &n0), *b = run(g, 1, 1, &n1), *c = run(g, 1, 0, &n2);
  cr_assert_eq(n0, n1);
  cr_assert_eq(n0, n2);
  cr_assert_gt(n0, 0);
  for (int64_t i = 0; i < n0; i++) {
    cr_assert(isfinite(a[i]), "unfused output %lld is %g", (long long)i, a[i]);
    cr_assert(fabs(a[i] - b[i]) <= 1e-4 * fabs(a[i]) + 1e-5, "output %lld: unfused %.9g, fused %.9g", (long long)i,
              a[i], b[i]);
    cr_assert(fabs(c[i] - b[i]) <= 1e-6 * fabs(c[i]) + 1e-7, "output %lld: planned %.9g, bump %.9g", (long long)i,
              b[i], c[i]);
  }
  free(a), free(b), free(c);
}

/* ---------------------------------------------------------------- graphs ---- */

enum { B = 32, I = 64, H = 128 };

/* One LSTM cell as nn.LSTM traces it: gates = x Wx^T + h Wh^T + b, split in 4, forget
 * bias 1; returns h', c' (and with_grad: the gradients of sum(h'^2) + sum(c') wrt all). */
static IrGraph *lstm_cell(int with_grad) {
  IrGraph *g = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F32, sh(2, B, I, 0, 0)), h = ir_input(g, "h", IR_F32, sh(2, B, H, 0, 0));
  IrVal c = ir_input(g, "c", IR_F32, sh(2, B, H, 0, 0));
  IrVal wx = ir_param(g, "Wx", IR_F32, sh(2, 4 * H, I, 0, 0), "glorot");
  IrVal wh = ir_param(g, "Wh", IR_F32, sh(2, 4 * H, H, 0, 0), "glorot");
  IrVal b = ir_param(g, "b", IR_F32, sh(1, 4 * H, 0, 0, 0), "zeros");
  int tp[2] = {1, 0};
  IrVal pre = ir_binary(g, OP_ADD, ir_matmul(g, x, ir_transpose(g, wx, tp), 0, 0),
                        ir_matmul(g, h, ir_transpose(g, wh, tp), 0, 0));
  IrVal gates = ir_binary(g, OP_ADD, pre, b), q[4];
  int64_t sizes[4] = {H, H, H, H};
  cr_assert_eq(ir_split(g, gates, 1, 4, sizes, q), 0, "%s", ir_errmsg(g));
  IrVal fg = ir_unary(g, OP_SIGMOID, ir_binary(g, OP_ADD, q[1], ir_scalar(g, IR_F32, 1)));
  IrVal c1 = ir_binary(g, OP_ADD, ir_binary(g, OP_MUL, fg, c),
                       ir_binary(g, OP_MUL, ir_unary(g, OP_SIGMOID, q[0]), ir_unary(g, OP_TANH, q[2])));
  IrVal h1 = ir_binary(g, OP_MUL, ir_unary(g, OP_SIGMOID, q[3]), ir_unary(g, OP_TANH, c1));
  IrVal outs[8] = {h1, c1};
  int n = 2;
  if (with_grad) {
    IrVal loss = ir_binary(g, OP_ADD, ir_reduce(g, OP_SUM, ir_binary(g, OP_MUL, h1, h1), 2, (int[]){0, 1}, 0),
                           ir_reduce(g, OP_SUM, c1, 2, (int[]){0, 1}, 0));
    IrVal wrt[5] = {wx, wh, b, h, c};
    cr_assert_eq(ad_grad(g, loss, 5, wrt, outs + 2), 0, "%s", ir_errmsg(g));
    n = 7;
  }
  ir_set_outputs(g, n, outs);
  return g;
}

/* relu(x W^T + b), nn.Linear's trace; with_grad: gradients of mean(y^2) wrt W, b, x. */
static IrGraph *mlp_layer(int with_grad) {
  IrGraph *g = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F32, sh(2, B, 784, 0, 0));
  IrVal w = ir_param(g, "W", IR_F32, sh(2, 256, 784, 0, 0), "glorot");
  IrVal b = ir_param(g, "b", IR_F32, sh(1, 256, 0, 0, 0), "zeros");
  IrVal y = ir_unary(g, OP_RELU, ir_binary(g, OP_ADD, ir_matmul(g, x, ir_transpose(g, w, (int[]){1, 0}), 0, 0), b));
  IrVal outs[4] = {y};
  int n = 1;
  if (with_grad) {
    IrVal loss = ir_reduce(g, OP_MEAN, ir_binary(g, OP_MUL, y, y), 2, (int[]){0, 1}, 0);
    IrVal wrt[3] = {w, b, x};
    cr_assert_eq(ad_grad(g, loss, 3, wrt, outs + 1), 0, "%s", ir_errmsg(g));
    n = 4;
  }
  ir_set_outputs(g, n, outs);
  return g;
}

/* relu(conv2d(x, w) + b[C, 1, 1]). */
static IrGraph *conv_bias_relu(void) {
  IrGraph *g = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F32, sh(4, 4, 3, 12, 12));
  IrVal w = ir_param(g, "w", IR_F32, sh(4, 8, 3, 3, 3), "glorot");
  IrVal b = ir_param(g, "b", IR_F32, sh(3, 8, 1, 1, 0), "zeros");
  IrVal y = ir_unary(g, OP_RELU, ir_binary(g, OP_ADD, ir_conv2d(g, x, w, 1, 1, 1, 1), b));
  ir_set_outputs(g, 1, &y);
  return g;
}

/* nn.Conv2d's trace: conv2d(x, w) + reshape(slice(b[8]), [8, 1, 1]) (the bias made after
 * the conv), strided and padded, then relu (with_relu) and the gradients of mean(y^2)
 * wrt w, b, x. */
static IrGraph *conv_layer(int with_relu) {
  IrGraph *g = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F32, sh(4, 3, 5, 11, 9));
  IrVal w = ir_param(g, "w", IR_F32, sh(4, 8, 5, 3, 3), "glorot");
  IrVal b = ir_param(g, "b", IR_F32, sh(1, 8, 0, 0, 0), "zeros");
  IrVal c = ir_conv2d(g, x, w, 2, 1, 1, 0);
  IrVal bs = ir_reshape(g, ir_slice(g, b, (int64_t[]){0}, (int64_t[]){8}), sh(3, 8, 1, 1, 0));
  IrVal y = ir_binary(g, OP_ADD, c, bs);
  if (with_relu)
    y = ir_unary(g, OP_RELU, y);
  IrVal outs[4] = {y};
  IrVal loss = ir_reduce(g, OP_MEAN, ir_binary(g, OP_MUL, y, y), 4, (int[]){0, 1, 2, 3}, 0);
  IrVal wrt[3] = {w, b, x};
  cr_assert_eq(ad_grad(g, loss, 3, wrt, outs + 1), 0, "%s", ir_errmsg(g));
  ir_set_outputs(g, 4, outs);
  return g;
}

/* The callee of the first kernel of g fused (the forward convolution), and its last argument. */
static void first_call(IrGraph *g, char *callee, size_t n, int64_t *last) {
  lower_plan p;
  set_opts(1, 1);
  lower_ok(g, &p);
  const kir_kernel *K = &p.f->kernel[0];
  cr_assert_eq(K->kind, KIR_CALL);
  snprintf(callee, n, "%s", K->callee);
  *last = p.f->arg[K->arg0 + K->narg - 1].i;
  lower_plan_free(&p);
}

/* ----------------------------------------------------------------- tests ---- */

Test(fuse, lstm_cell_forward_is_gemms_plus_one_kernel) {
  IrGraph *g = lstm_cell(0);
  counts f = count(g, 1), u = count(g, 0);
  /* x Wx^T, then h Wh^T accumulated onto it with the bias (nnrt_sgemm_ex, beta 1), then
   * one loop nest computing c' and h' from the four gate slices */
  cr_expect_eq(f.gemms, 2, "%d GEMM calls", f.gemms);
  cr_expect_eq(f.loops, 1, "%d loop kernels", f.loops);
  cr_expect_gt(u.loops, 10, "unfused: %d loop kernels", u.loops);
  agree(g);
  ir_graph_free(g);
}

Test(fuse, lstm_cell_backward_kernels) {
  IrGraph *g = lstm_cell(1);
  counts f = count(g, 1), u = count(g, 0);
  cr_expect_leq(f.loops, u.loops / 3, "fused %d loop kernels, unfused %d", f.loops, u.loops);
  cr_expect_leq(f.gemms, u.gemms, "fused %d GEMMs, unfused %d", f.gemms, u.gemms);
  agree(g);
  ir_graph_free(g);
}

Test(fuse, mlp_layer_is_one_gemm_with_epilogue) {
  IrGraph *g = mlp_layer(0);
  lower_plan p;
  set_opts(1, 1);
  lower_ok(g, &p);
  cr_assert_eq(p.f->nkernel, 1);
  cr_expect_str_eq(p.f->kernel[0].callee, "nnrt_sgemm_ex");
  const kir_arg *last = &p.f->arg[p.f->kernel[0].arg0 + p.f->kernel[0].narg - 1];
  cr_expect_eq(last->i, 1, "the relu epilogue");
  lower_plan_free(&p);
  agree(g);
  ir_graph_free(g);
}

Test(fuse, mlp_layer_training_agrees) {
  IrGraph *g = mlp_layer(1);
  counts f = count(g, 1), u = count(g, 0);
  cr_expect_lt(f.loops + f.gemms, u.loops + u.gemms, "fused %d kernels, unfused %d", f.loops + f.gemms,
               u.loops + u.gemms);
  agree(g);
  ir_graph_free(g);
}

Test(fuse, conv_bias_relu_is_one_kernel) {
  IrGraph *g = conv_bias_relu();
  counts f = count(g, 1), u = count(g, 0);
  cr_expect_eq(f.calls, 1, "%d convolution calls", f.calls);
  cr_expect_eq(f.loops, 0, "%d loop kernels (bias + relu are the conv's epilogue)", f.loops);
  cr_expect_eq(u.loops, 2);
  char callee[64];
  int64_t act;
  first_call(g, callee, sizeof callee, &act);
  cr_expect_str_eq(callee, "nnrt_conv2d_fwd_ex");
  cr_expect_eq(act, 1, "the relu epilogue");
  agree(g);
  ir_graph_free(g);
}

Test(fuse, conv_layer_training_agrees) {
  for (int relu = 0; relu < 2; relu++) {
    IrGraph *g = conv_layer(relu);
    counts f = count(g, 1), u = count(g, 0);
    cr_expect_lt(f.loops, u.loops, "fused %d loop kernels, unfused %d", f.loops, u.loops);
    char callee[64];
    int64_t act;
    first_call(g, callee, sizeof callee, &act);
    cr_expect_str_eq(callee, "nnrt_conv2d_fwd_ex", "relu %d: %s", relu, callee);
    cr_expect_eq(act, relu);
    agree(g);
    ir_graph_free(g);
  }
}

Test(fuse, reduction_absorbs_elementwise_inputs) {
  IrGraph *g = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F32, sh(2, 6, 5, 0, 0)), b = ir_input(g, "b", IR_F32, sh(1, 5, 0, 0, 0));
  IrVal s = ir_reduce(g, OP_SUM, ir_unary(g, OP_TANH, ir_binary(g, OP_ADD, x, b)), 1, (int[]){1}, 0);
  ir_set_outputs(g, 1, &s);
  lower_plan p;
  set_opts(1, 1);
  lower_ok(g, &p);
  char *txt;
  size_t len;
  FILE *m = open_memstream(&txt, &len);
  kir_print(p.f, m);
  fclose(m);
  cr_expect_eq(p.f->nkernel, 1, "%s", txt);
  cr_expect(strstr(txt, "+= tanh(add(x[5*i0 + i1], b[i1]))"), "%s", txt);
  free(txt);
  lower_plan_free(&p);
  agree(g);
  ir_graph_free(g);
}

/* A value used by two kernels of different shapes stays stored; expensive ones are not
 * recomputed per use. */
Test(fuse, shared_expensive_value_is_stored_once) {
  IrGraph *g = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F32, sh(2, 8, 16, 0, 0));
  IrVal e = ir_unary(g, OP_EXP, x);
  IrVal a = ir_binary(g, OP_MUL, e, ir_scalar(g, IR_F32, 2)), s = ir_reduce(g, OP_SUM, e, 1, (int[]){1}, 0);
  IrVal outs[2] = {a, s};
  ir_set_outputs(g, 2, outs);
  lower_plan p;
  set_opts(1, 1);
  lower_ok(g, &p);
  int exps = 0;
  for (int i = 0; i < p.f->nexpr; i++)
    exps += p.f->expr[i].kind == KX_OP && p.f->expr[i].op == SC_EXP;
  cr_expect_eq(exps, 1, "exp built %d times", exps);
  lower_plan_free(&p);
  agree(g);
  ir_graph_free(g);
}

/* ---------------------------------------------------------- memory plans ---- */

static void plan_bounds(IrGraph *g) {
  lower_plan p;
  set_opts(1, 0);
  lower_ok(g, &p);
  int arena = -1;
  for (int s = 0; s < p.nslots; s++)
    if (p.slots[s].kind == LOWER_SLOT_ARENA)
      arena = s;
  int64_t bump = p.slots[arena].bytes;
  memplan_stats st;
  int64_t planned = memplan_run(p.f, arena, &st);
  char msg[512];
  cr_assert_eq(memplan_check(p.f, arena, msg, sizeof msg), 0, "%s", msg);
  cr_expect_geq(planned, st.lower_bound, "planned %lld < lower bound %lld", (long long)planned,
                (long long)st.lower_bound);
  cr_expect_leq(planned, bump + 64 * st.nbufs, "planned %lld > bump %lld", (long long)planned, (long long)bump);
  cr_expect_lt(planned, bump, "no reuse at all: %lld bytes", (long long)planned);
  lower_plan_free(&p);
}

Test(fuse, planned_arenas_have_no_live_overlap) {
  IrGraph *gs[3] = {lstm_cell(1), mlp_layer(1), conv_bias_relu()};
  for (int i = 0; i < 2; i++) {
    plan_bounds(gs[i]);
    ir_graph_free(gs[i]);
  }
  ir_graph_free(gs[2]);
}

/* The checker finds a planted overlap: two live buffers moved onto each other. */
Test(fuse, checker_catches_overlap) {
  IrGraph *g = mlp_layer(1);
  lower_plan p;
  set_opts(0, 1);
  lower_ok(g, &p);
  int arena = -1, a = -1, b = -1;
  for (int s = 0; s < p.nslots; s++)
    if (p.slots[s].kind == LOWER_SLOT_ARENA)
      arena = s;
  char msg[512];
  cr_assert_eq(memplan_check(p.f, arena, msg, sizeof msg), 0, "%s", msg);
  /* the first kernel's arena output and an arena input of the next kernel reading it */
  for (int k = 0; k < p.f->nbuf && b < 0; k++)
    if (p.f->buf[k].slot == arena && p.f->buf[k].dt == IR_F32)
      a < 0 ? (a = k) : (b = k);
  cr_assert(a >= 0 && b >= 0);
  /* a and b are both live around b's definition under the bump layout; force a clash */
  p.f->buf[b].offset = p.f->buf[a].offset;
  p.f->buf[a].alloc = p.f->buf[b].alloc = -1;
  cr_expect_eq(memplan_check(p.f, arena, msg, sizeof msg), -1, "not caught");
  lower_plan_free(&p);
  ir_graph_free(g);
}

/* Scans: repeat bodies keep their buffers for the whole repeat (an RNN with gradients). */
Test(fuse, scan_with_gradients_agrees_and_plans) {
  enum { T = 6, F = 8, HH = 16, BB = 4 };
  IrGraph *g = ir_graph_new(), *body = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F32, sh(3, BB, T, F, 0)), h0 = ir_input(g, "h0", IR_F32, sh(2, BB, HH, 0, 0));
  IrVal wx = ir_param(g, "wx", IR_F32, sh(2, F, HH, 0, 0), "glorot");
  IrVal wh = ir_param(g, "wh", IR_F32, sh(2, HH, HH, 0, 0), "glorot");
  IrType th = {IR_F32, sh(2, BB, HH, 0, 0)}, tx = {IR_F32, sh(2, BB, F, 0, 0)};
  IrType twx = {IR_F32, sh(2, F, HH, 0, 0)}, twh = {IR_F32, sh(2, HH, HH, 0, 0)};
  IrVal fh = ir_formal(body, 0, th), fx = ir_formal(body, 1, tx), fwx = ir_formal(body, 2, twx);
  IrVal fwh = ir_formal(body, 3, twh);
  IrVal pre = ir_binary(body, OP_ADD, ir_matmul(body, fx, fwx, 0, 0), ir_matmul(body, fh, fwh, 0, 0));
  IrVal h1 = ir_unary(body, OP_TANH, pre);
  IrVal res[2] = {h1, ir_binary(body, OP_MUL, h1, h1)};
  ir_set_outputs(body, 2, res);
  IrVal consts[2] = {wx, wh};
  IrNode *sc = ir_scan(g, body, 1, &h0, 1, &x, 2, consts, 1, 0);
  cr_assert_not_null(sc, "%s", ir_errmsg(g));
  IrVal loss = ir_reduce(g, OP_SUM, sc->out[1], 3, (int[]){0, 1, 2}, 0);
  IrVal outs[4] = {sc->out[0], loss};
  IrVal wrt[2] = {wx, wh};
  cr_assert_eq(ad_grad(g, loss, 2, wrt, outs + 2), 0, "%s", ir_errmsg(g));
  ir_set_outputs(g, 4, outs);
  agree(g);
  plan_bounds(g);
  ir_graph_free(g);
}

/* Slices and split parts read by elementwise consumers are loads of the whole; a concat of
 * elementwise values is written by their nest (no copy kernels at all). */
Test(fuse, slices_splits_and_concats_are_not_copied) {
  IrGraph *g = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F32, sh(2, 6, 12, 0, 0)), q[3];
  IrVal s = ir_slice(g, x, (int64_t[]){1, 2}, (int64_t[]){5, 6});
  cr_assert_eq(ir_split(g, x, 1, 3, (int64_t[]){4, 4, 4}, q), 0, "%s", ir_errmsg(g));
  IrVal a = ir_unary(g, OP_TANH, ir_slice(g, x, (int64_t[]){0, 0}, (int64_t[]){6, 4}));
  IrVal b = ir_binary(g, OP_MUL, q[1], q[2]);
  IrVal cat = ir_concat(g, 2, (IrVal[]){a, b}, 1);
  IrVal outs[2] = {ir_binary(g, OP_ADD, s, ir_scalar(g, IR_F32, 1)), ir_unary(g, OP_EXP, cat)};
  ir_set_outputs(g, 2, outs);
  counts f = count(g, 1), u = count(g, 0);
  cr_expect_eq(f.loops, 3, "fused: %d loop kernels", f.loops); /* slice+1; tanh, mul into cat; exp */
  cr_expect_gt(u.loops, f.loops);
  agree(g);
  ir_graph_free(g);
}

/* ------------------------------------------------------- random graphs ---- */

static uint64_t rs = 0x9e3779b97f4a7c15ull;
static int rnd(int n) {
  rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
  return (int)((rs >> 11) % (uint64_t)n);
}

/* Random DAGs over [R, C] f32 values (and [C] vectors): elementwise chains with shared
 * uses, broadcasts, reductions, matmuls with transposes, bias adds and relus, splits and
 * concats; several results. Fused and planned runs must equal the unfused bump run. */
Test(fuse, random_graphs_agree) {
  enum { R = 24, C = 32, NV = 40 };
  static const IrOp un[] = {OP_TANH, OP_SIGMOID, OP_RELU, OP_EXP, OP_NEG};
  static const IrOp bin[] = {OP_ADD, OP_SUB, OP_MUL, OP_MAXIMUM};
  for (int trial = 0; trial < 8; trial++) {
    IrGraph *g = ir_graph_new();
    IrVal m[NV], vec = ir_input(g, "v", IR_F32, sh(1, C, 0, 0, 0));
    IrVal sq = ir_param(g, "W", IR_F32, sh(2, C, C, 0, 0), "glorot");
    int n = 0;
    m[n++] = ir_input(g, "a", IR_F32, sh(2, R, C, 0, 0));
    m[n++] = ir_input(g, "b", IR_F32, sh(2, R, C, 0, 0));
    while (n < NV) {
      IrVal x = m[rnd(n)], y = m[rnd(n)], r = IR_NONE, q[2];
      switch (rnd(9)) {
      case 0: case 1: r = ir_unary(g, un[rnd(5)], ir_clip(g, x, -3, 3)); break;
      case 2: case 3: r = ir_binary(g, bin[rnd(4)], x, y); break;
      case 4: r = ir_binary(g, OP_ADD, x, rnd(2) ? vec : ir_reduce(g, OP_MEAN, y, 1, (int[]){0}, 0)); break;
      case 5: { /* relu(x Wᵀ + v) or x W, maybe accumulated */
        IrVal p = ir_matmul(g, x, rnd(2) ? ir_transpose(g, sq, (int[]){1, 0}) : sq, 0, 0);
        if (rnd(2))
          p = ir_binary(g, OP_ADD, p, ir_matmul(g, y, sq, 0, 1));
        r = rnd(2) ? ir_unary(g, OP_RELU, ir_binary(g, OP_ADD, p, vec))
                   : ir_binary(g, OP_MUL, p, ir_scalar(g, IR_F32, 0.1));
        break;
      }
      case 6:
        cr_assert_eq(ir_split(g, x, 1, 2, (int64_t[]){C / 2, C / 2}, q), 0, "%s", ir_errmsg(g));
        r = ir_concat(g, 2, (IrVal[]){ir_unary(g, OP_TANH, q[1]), ir_binary(g, OP_MUL, q[0], q[1])}, 1);
        break;
      case 7: r = ir_binary(g, OP_MUL, x, ir_reduce(g, OP_SUM, ir_unary(g, OP_TANH, y), 1, (int[]){1}, 1)); break;
      default: r = ir_where(g, ir_binary(g, OP_GT, x, ir_scalar(g, IR_F32, 0)), y, ir_scalar(g, IR_F32, 0)); break;
      }
      cr_assert_neq(r, IR_NONE, "%s", ir_errmsg(g));
      m[n++] = r;
    }
    IrVal outs[7] = {m[NV - 1], m[NV / 2 + rnd(NV / 2 - 1)], ir_reduce(g, OP_SUM, m[NV - 2], 2, (int[]){0, 1}, 0)};
    int nout = 3;
    if (trial % 2) { /* and the backward graph */
      IrVal loss = ir_binary(g, OP_ADD, outs[2], ir_reduce(g, OP_MEAN, ir_binary(g, OP_MUL, outs[0], outs[0]), 2,
                                                          (int[]){0, 1}, 0));
      IrVal wrt[4] = {m[0], m[1], sq, vec};
      cr_assert_eq(ad_grad(g, loss, 4, wrt, outs + 3), 0, "%s", ir_errmsg(g));
      nout = 7;
    }
    ir_set_outputs(g, nout, outs);
    agree(g);
    ir_graph_free(g);
  }
}
