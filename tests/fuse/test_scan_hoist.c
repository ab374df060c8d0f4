/* test_scan_hoist.c — the scan input hoisting pass (compiler/scan_hoist.c): an LSTM scan
 * along the time axis of [B, T, I] (as nn.LSTM traces it) and one along axis 0, with and
 * without the pass. The forward values are bit-identical (the same dot products in the
 * same order), the gradients agree within 1e-5 relative (the hoisted dW sums over t*b in
 * one GEMM instead of per step); per step the scan bodies run fewer GEMMs. Then
 * ir_scan_pretranspose: the bodies' products by Wh^T read a transpose made once; and
 * keep_products (scan.c): the backward reads h Wh^T stored by the forward. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"
#include "fuse.h"

static jit_t *J;

static void setup(void) {
  char msg[256];
  jit_options o = {.opt = JIT_O1, .fast_codegen = 1};
  cr_assert_eq(jit_create(&J, &o, msg, sizeof msg), 0, "%s", msg);
}
static void teardown(void) { jit_destroy(J); }

TestSuite(scan_hoist, .init = setup, .fini = teardown);

enum { B = 3, T = 5, I = 4, H = 6, NLEAF = 7 };
#define D(...) ((const int64_t[]){__VA_ARGS__})

/* The LSTM step: z = (x Wx^T) * s + b + h Wh^T, gates i f g o; s [B, 4H] is an invariant
 * that reaches over the time axis when the scan runs along axis 1. Results h', c', h'. */
static IrGraph *body(void) {
  IrGraph *b = ir_graph_new();
  IrType th = {IR_F32, ir_shape(2, D(B, H))};
  IrVal h = ir_formal(b, 0, th), c = ir_formal(b, 1, th);
  IrVal x = ir_formal(b, 2, (IrType){IR_F32, ir_shape(2, D(B, I))});
  IrVal wx = ir_formal(b, 3, (IrType){IR_F32, ir_shape(2, D(4 * H, I))});
  IrVal wh = ir_formal(b, 4, (IrType){IR_F32, ir_shape(2, D(4 * H, H))});
  IrVal bias = ir_formal(b, 5, (IrType){IR_F32, ir_shape(1, D(4 * H))});
  IrVal s = ir_formal(b, 6, (IrType){IR_F32, ir_shape(2, D(B, 4 * H))});
  IrVal xw = ir_binary(b, OP_MUL, ir_matmul(b, x, ir_transpose(b, wx, (int[]){1, 0}), 0, 0), s);
  IrVal z = ir_binary(b, OP_ADD, ir_binary(b, OP_ADD, xw, bias), ir_matmul(b, h, wh, 0, 1));
  IrVal g[4];
  ir_split(b, z, 1, 4, D(H, H, H, H), g);
  IrVal i = ir_unary(b, OP_SIGMOID, g[0]), f = ir_unary(b, OP_SIGMOID, g[1]);
  IrVal gg = ir_unary(b, OP_TANH, g[2]), o = ir_unary(b, OP_SIGMOID, g[3]);
  IrVal c1 = ir_binary(b, OP_ADD, ir_binary(b, OP_MUL, f, c), ir_binary(b, OP_MUL, i, gg));
  IrVal h1 = ir_binary(b, OP_MUL, o, ir_unary(b, OP_TANH, c1));
  ir_set_outputs(b, 3, (IrVal[]){h1, c1, h1});
  return b;
}

/* loss = mean(hs^2) + its gradients wrt the leaves (xs included); hoist: run the pass
 * before autodiff. Outputs: loss, final h, then the gradients. */
static IrGraph *model(int ax, int hoist, int pretranspose, int products) {
  IrGraph *g = ir_graph_new();
  IrShape xs_sh = ax == 1 ? ir_shape(3, D(B, T, I)) : ir_shape(3, D(T, B, I));
  IrVal lv[NLEAF] = {ir_input(g, "xs", IR_F32, xs_sh), ir_input(g, "h0", IR_F32, ir_shape(2, D(B, H))),
                     ir_input(g, "c0", IR_F32, ir_shape(2, D(B, H))),
                     ir_input(g, "wx", IR_F32, ir_shape(2, D(4 * H, I))),
                     ir_input(g, "wh", IR_F32, ir_shape(2, D(4 * H, H))),
                     ir_input(g, "b", IR_F32, ir_shape(1, D(4 * H))),
                     ir_input(g, "s", IR_F32, ir_shape(2, D(B, 4 * H)))};
  IrNode *sc = ir_scan(g, body(), 2, lv + 1, 1, lv, 4, lv + 3, ax, 0);
  cr_assert_not_null(sc, "%s", ir_errmsg(g));
  IrVal hs = sc->out[2], hT = sc->out[0];
  IrVal loss = ir_reduce(g, OP_MEAN, ir_binary(g, OP_MUL, hs, hs), 3, (int[]){0, 1, 2}, 0);
  ir_set_outputs(g, 1, &loss);
  ir_set_outputs(g, 1, &hT);
  if (hoist) {
    int nh = 0;
    IrVal *vm = malloc(sizeof *vm * (size_t)g->nvals);
    cr_assert_eq(ir_scan_hoist(g, vm, NULL, &nh), 0, "%s", ir_errmsg(g));
    cr_assert_eq(nh, 1);
    for (int i = 0; i < NLEAF; i++) lv[i] = vm[lv[i]];
    cr_assert_eq(vm[loss], g->outs[0]);
    loss = g->outs[0];
    free(vm);
  }
  IrVal gr[NLEAF];
  g->keep_products = products;
  cr_assert_eq(ad_grad(g, loss, NLEAF, lv, gr), 0, "%s", ir_errmsg(g));
  ir_set_outputs(g, NLEAF, gr);
  if (pretranspose) {
    int ns = 0;
    cr_assert_eq(ir_scan_pretranspose(g, NULL, NULL, &ns), 0, "%s", ir_errmsg(g));
    cr_assert_eq(ns, 2, "forward: Wh^T; backward: Wh^T when recomputing, else x_t is unread");
  }
  char msg[512];
  cr_assert_eq(ir_verify(g, "test", msg, sizeof msg), 0, "%s", msg);
  return g;
}

static double leaf(int64_t i, int s) { return 0.9 * sin(0.731 * (double)(i + 1) * (s + 1) + s); }

/* All outputs of g, evaluated by the interpreter (jit = 0) or the JIT. */
static double *eval(IrGraph *g, int jit, int64_t *n) {
  int64_t tot = 0;
  for (int i = 0; i < g->nouts; i++) tot += ir_numel(&ir_type(g, g->outs[i])->shape);
  double *out = malloc(sizeof *out * (size_t)tot);
  *n = tot;
  if (!jit) {
    IrInterp *in = ir_interp_new(g);
    for (int i = 0, s = -1; i < g->nnodes; i++) {
      if (g->nodes[i]->op != OP_INPUT) continue;
      s++; /* the leaf's position among the inputs */
      int64_t k = ir_numel(&ir_type(g, g->nodes[i]->out[0])->shape);
      double *d = malloc(sizeof *d * (size_t)k);
      for (int64_t j = 0; j < k; j++) d[j] = (float)leaf(j, s);
      cr_assert_eq(ir_interp_bind_id(in, g->nodes[i]->out[0], d), 0, "%s", ir_interp_error(in));
      free(d);
    }
    cr_assert_eq(ir_interp_run(in), 0, "%s", ir_interp_error(in));
    int64_t k = 0;
    for (int i = 0; i < g->nouts; i++) {
      const IrTensor *t = ir_interp_value(in, g->outs[i]);
      for (int64_t j = 0; j < ir_numel(&t->t.shape); j++) out[k++] = t->data[j];
    }
    ir_interp_free(in);
    return out;
  }
  static int serial;
  char msg[512], name[32];
  snprintf(name, sizeof name, "h%d", serial++);
  lower_plan p;
  cr_assert_eq(lower_graph(g, name, &p, msg, sizeof msg), 0, "%s", msg);
  cg_options o = {0};
  cg_entry fn;
  cr_assert_eq(cg_compile(J, p.f, &o, &fn), 0, "%s", jit_errmsg(J));
  void **slots = calloc((size_t)p.nslots, sizeof *slots);
  for (int s = 0; s < p.nslots; s++) {
    slots[s] = calloc(1, (size_t)p.slots[s].bytes + 64);
    if (p.slots[s].kind != LOWER_SLOT_LEAF) continue;
    int li = 0; /* the leaf's position among the inputs, as the interpreter run numbers them */
    for (int i = 0; i < ir_producer(g, p.slots[s].val)->id; i++) li += g->nodes[i]->op == OP_INPUT;
    for (int64_t i = 0; i < ir_numel(&ir_type(g, p.slots[s].val)->shape); i++)
      ((float *)slots[s])[i] = (float)leaf(i, li);
  }
  fn(slots);
  int64_t k = 0;
  for (int i = 0; i < g->nouts; i++)
    for (int s = 0; s < p.nslots; s++)
      if (p.slots[s].kind == LOWER_SLOT_OUTPUT && p.slots[s].val == g->outs[i]) {
        for (int64_t j = 0; j < ir_numel(&ir_type(g, g->outs[i])->shape); j++) out[k++] = ((float *)slots[s])[j];
        break;
      }
  cr_assert_eq(k, tot, "outputs found in slots: %lld of %lld", (long long)k, (long long)tot);
  for (int s = 0; s < p.nslots; s++) free(slots[s]);
  free(slots);
  lower_plan_free(&p);
  return out;
}

/* Matmul kernels inside the scans' repeats, forward and reverse, of g lowered fused. */
static void step_gemms(IrGraph *g, int *fwd, int *bwd, int *kernels) {
  static int serial;
  char msg[512], name[32];
  snprintf(name, sizeof name, "c%d", serial++);
  lower_plan p;
  cr_assert_eq(lower_graph(g, name, &p, msg, sizeof msg), 0, "%s", msg);
  *fwd = *bwd = *kernels = 0;
  for (int k = 0; k < p.f->nkernel; k++) {
    const kir_kernel *K = &p.f->kernel[k];
    if (K->kind != KIR_REPEAT) continue;
    *kernels += K->nbody;
    for (int j = k + 1; j <= k + K->nbody; j++)
      if (!strncmp(p.f->kernel[j].name, "matmul", 6)) /* small: loop nests named after the op */
        *(K->reverse ? bwd : fwd) += 1;
  }
  lower_plan_free(&p);
}

/* Matmuls by a transposed operand (flag or transpose node) in the scan bodies. */
static int body_transposed_b(const IrGraph *g) {
  int n = 0;
  for (int i = 0; i < g->nnodes; i++)
    for (int k = 0; g->nodes[i]->op == OP_SCAN && k < g->nodes[i]->sub[0]->nnodes; k++) {
      const IrGraph *b = g->nodes[i]->sub[0];
      const IrNode *m = b->nodes[k];
      n += m->op == OP_MATMUL && (m->attr.ints[1] || ir_producer(b, m->in[1])->op == OP_TRANSPOSE);
    }
  return n;
}

/* Step inputs of the scans that their bodies never read. */
static int unread_step_inputs(const IrGraph *g) {
  int n = 0;
  for (int i = 0; i < g->nnodes; i++) {
    const IrNode *sc = g->nodes[i];
    if (sc->op != OP_SCAN) continue;
    const IrGraph *b = sc->sub[0];
    for (int k = 0; k < b->nnodes; k++) {
      int pos = b->nodes[k]->op == OP_INPUT ? (int)b->nodes[k]->attr.ints[IR_MAX_INTS - 1] - 1 : -1;
      if (pos < sc->attr.ints[0] || pos >= sc->attr.ints[0] + sc->attr.ints[1]) continue;
      int used = 0;
      for (int m = 0; m < b->nnodes; m++)
        for (int j = 0; j < b->nodes[m]->nin; j++) used |= b->nodes[m]->in[j] == b->nodes[k]->out[0];
      for (int j = 0; j < b->nouts; j++) used |= b->outs[j] == b->nodes[k]->out[0];
      n += !used;
    }
  }
  return n;
}

static int body_matmuls(const IrGraph *g) {
  int n = 0;
  for (int i = 0; i < g->nnodes; i++)
    if (g->nodes[i]->op == OP_SCAN && !g->nodes[i]->attr.ints[4])
      for (int k = 0; k < g->nodes[i]->sub[0]->nnodes; k++) n += g->nodes[i]->sub[0]->nodes[k]->op == OP_MATMUL;
  return n;
}

/* g1 computes what g0 does: forward outputs (loss, final h) bit-identical in the
 * interpreter when exact_fwd, everything within 1e-5 relative in both back ends. */
static void agree(IrGraph *g0, IrGraph *g1, int exact_fwd) {
  for (int jit = 0; jit < 2; jit++) {
    int64_t n0, n1;
    double *a = eval(g0, jit, &n0), *b = eval(g1, jit, &n1);
    cr_assert_eq(n0, n1);
    int64_t nfwd = 1 + B * H;
    for (int64_t i = 0; i < n0; i++) {
      if (i < nfwd && !jit && exact_fwd)
        cr_assert_eq(a[i], b[i], "forward output %lld: %.9g vs %.9g", (long long)i, a[i], b[i]);
      cr_assert(fabs(a[i] - b[i]) <= 1e-5 * fabs(a[i]) + 1e-7, "%s output %lld: %.9g without, %.9g with the pass",
                jit ? "JIT" : "interpreter", (long long)i, a[i], b[i]);
    }
    free(a), free(b);
  }
}

static void check_axis(int ax) {
  IrGraph *g0 = model(ax, 0, 0, 0), *g1 = model(ax, 1, 0, 0), *g2 = model(ax, 1, 1, 0), *g3 = model(ax, 1, 1, 1);
  cr_assert_eq(body_matmuls(g0), 2);
  cr_assert_eq(body_matmuls(g1), 1, "x Wx^T left the forward body");
  agree(g0, g1, 1);
  cr_assert_eq(body_transposed_b(g1), 2, "h Wh^T forward and recomputed backward");
  cr_assert_eq(body_transposed_b(g2), 0, "both read transpose(Wh) made before the scans");
  agree(g1, g2, 1);
  agree(g2, g3, 1);
  lower_options fused = {0};
  lower_set_options(&fused);
  int f0, b0, k0, f1, b1, k1;
  step_gemms(g0, &f0, &b0, &k0);
  step_gemms(g1, &f1, &b1, &k1);
  cr_log_info("axis %d: per step %d+%d GEMMs, %d kernels without; %d+%d, %d with", ax, f0, b0, k0, f1, b1, k1);
  cr_assert_eq(f0, 2);
  cr_assert_eq(f1, 1);
  cr_assert_eq(b0, 6); /* recompute x Wx, h Wh; dh, dx; dWh, dWx */
  cr_assert_eq(b1, 3); /* recompute h Wh; dh; dWh */
  cr_assert_lt(k1, k0);
  int f3, b3, k3;
  step_gemms(g3, &f3, &b3, &k3);
  cr_log_info("axis %d, stored products: per step %d+%d GEMMs, %d kernels", ax, f3, b3, k3);
  cr_assert_eq(f3, 1);
  cr_assert_eq(b3, 2, "h Wh^T is read from the forward's stack, not recomputed");
  cr_assert_eq(unread_step_inputs(g3), 0, "the backward's x_t (no longer read) is not an input");
  ir_graph_free(g0), ir_graph_free(g1), ir_graph_free(g2), ir_graph_free(g3);
}

Test(scan_hoist, lstm_along_axis_1_agrees_and_runs_fewer_gemms) { check_axis(1); }
Test(scan_hoist, lstm_along_axis_0_agrees_and_runs_fewer_gemms) { check_axis(0); }

/* A scan whose step inputs only meet the carries directly has nothing to hoist, and one
 * already differentiated (saved carries) is left alone. */
Test(scan_hoist, nothing_to_hoist_leaves_the_graph) {
  IrGraph *g = ir_graph_new(), *b = ir_graph_new();
  IrType t = {IR_F32, ir_shape(2, D(B, H))};
  IrVal h = ir_formal(b, 0, t), x = ir_formal(b, 1, t);
  IrVal h1 = ir_unary(b, OP_TANH, ir_binary(b, OP_ADD, h, x));
  ir_set_outputs(b, 2, (IrVal[]){h1, h1});
  IrVal xs = ir_input(g, "xs", IR_F32, ir_shape(3, D(T, B, H))), h0 = ir_input(g, "h0", IR_F32, t.shape);
  IrNode *sc = ir_scan(g, b, 1, &h0, 1, &xs, 0, NULL, 0, 0);
  ir_set_outputs(g, 1, &sc->out[1]);
  int nh = -1, n = g->nnodes;
  cr_assert_eq(ir_scan_hoist(g, NULL, NULL, &nh), 0, "%s", ir_errmsg(g));
  cr_assert_eq(nh, 0);
  cr_assert_eq(g->nnodes, n);
  ir_graph_free(g);
}

/* Regression (the LSTM step at B = 1 with -fno-scan-hoist: "invalid kernel IR: kernel
 * matmul_bias: argument 13 names no buffer"): with one row, the product x Wx^T [1, N] has
 * a bias's shape, and the fusion took it as h Wh^T's bias while also accumulating it. */
Test(scan_hoist, one_row_product_sum_is_not_a_bias) {
  enum { N = 192, K = 48 };
  IrGraph *g = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F32, ir_shape(2, D(1, K))), h = ir_input(g, "h", IR_F32, ir_shape(2, D(1, K)));
  IrVal wx = ir_input(g, "wx", IR_F32, ir_shape(2, D(N, K))), wh = ir_input(g, "wh", IR_F32, ir_shape(2, D(N, K)));
  IrVal b = ir_input(g, "b", IR_F32, ir_shape(1, D(N)));
  IrVal z = ir_binary(g, OP_ADD, ir_binary(g, OP_ADD, ir_matmul(g, x, wx, 0, 1), ir_matmul(g, h, wh, 0, 1)), b);
  IrVal y = ir_unary(g, OP_TANH, z);
  ir_set_outputs(g, 1, &y);
  lower_options fused = {0};
  lower_set_options(&fused);
  int64_t n0, n1;
  double *a = eval(g, 0, &n0), *c = eval(g, 1, &n1);
  cr_assert_eq(n0, n1);
  for (int64_t i = 0; i < n0; i++)
    cr_assert(fabs(a[i] - c[i]) <= 1e-5 * fabs(a[i]) + 1e-6, "output %lld: %.9g vs %.9g", (long long)i, a[i], c[i]);
  free(a), free(c);
  ir_graph_free(g);
}
