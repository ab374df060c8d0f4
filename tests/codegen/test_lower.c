/* test_lower.c — graphs lowered to kernels and run by the JIT equal the reference
 * interpreter (interp.c) on random inputs, for every op the lowering handles. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "cg.h"
#include "fuse.h"

static jit_t *J;
static int serial;

static void setup(void) {
  char msg[256];
  cr_assert_eq(jit_create(&J, NULL, msg, sizeof msg), 0, "%s", msg);
}
static void teardown(void) { jit_destroy(J); }

TestSuite(lower, .init = setup, .fini = teardown);

static uint64_t rng = 88172645463325252ull;
static double urand(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (double)(rng >> 11) / 9007199254740992.0;
}

static void put(void *p, IrDType dt, int64_t i, double v) {
  switch (dt) {
  case IR_F32: ((float *)p)[i] = (float)v; break;
  case IR_F64: ((double *)p)[i] = v; break;
  case IR_I32: ((int32_t *)p)[i] = (int32_t)v; break;
  case IR_I64: ((int64_t *)p)[i] = (int64_t)v; break;
  default: ((uint8_t *)p)[i] = v != 0; break;
  }
}
static double get(const void *p, IrDType dt, int64_t i) {
  switch (dt) {
  case IR_F32: return ((const float *)p)[i];
  case IR_F64: return ((const double *)p)[i];
  case IR_I32: return ((const int32_t *)p)[i];
  case IR_I64: return (double)((const int64_t *)p)[i];
  default: return ((const uint8_t *)p)[i];
  }
}

/* Random leaf values: floats in [-2, 2), ints in [0, int_hi), bools 50/50. */
static double leaf_value(IrDType dt, int64_t int_hi) {
  if (dt == IR_F32 || dt == IR_F64)
    return (float)(urand() * 4 - 2);
  if (dt == IR_BOOL)
    return urand() < 0.5;
  return (double)(int64_t)(urand() * (double)int_hi);
}

static int close_to(double got, double want, int is_float) {
  if (isnan(want) || isnan(got))
    return isnan(want) && isnan(got);
  if (!is_float || isinf(want))
    return got == want;
  return fabs(got - want) <= 2e-4 * fabs(want) + 2e-5;
}

/* Lowers, compiles and runs g, runs the interpreter, and compares every output. */
static void check_graph(IrGraph *g, const char *label, int64_t int_hi) {
  static int serial_no;
  char msg[512], name[64];
  snprintf(name, sizeof name, "t%d_%s", serial_no++, label);
  cr_assert_eq(ir_verify(g, "test", msg, sizeof msg), 0, "%s", msg);
  lower_plan p;
  cr_assert_eq(lower_graph(g, name, &p, msg, sizeof msg), 0, "%s", msg);
  cg_options o = {.no_parallel = serial};
  cg_entry fn;
  cr_assert_eq(cg_compile(J, p.f, &o, &fn), 0, "%s", jit_errmsg(J));
  IrInterp *I = ir_interp_new(g);
  cr_assert_not_null(I);
  void **slots = calloc((size_t)p.nslots, sizeof *slots);
  for (int s = 0; s < p.nslots; s++) {
    slots[s] = calloc(1, (size_t)p.slots[s].bytes + 64);
    if (p.slots[s].kind == LOWER_SLOT_SEED) {
      *(uint64_t *)slots[s] = 0x1234567890abcdefull;
      ir_interp_set_seed(I, 0x1234567890abcdefull);
    }
    if (p.slots[s].kind != LOWER_SLOT_LEAF)
      continue;
    const IrType *t = ir_type(g, p.slots[s].val);
    int64_t k = ir_numel(&t->shape);
    double *d = malloc(sizeof *d * (size_t)(k ? k : 1));
    for (int64_t i = 0; i < k; i++) {
      d[i] = leaf_value(t->dtype, int_hi);
      put(slots[s], t->dtype, i, d[i]);
    }
    cr_assert_eq(ir_interp_bind_id(I, p.slots[s].val, d), 0, "%s", ir_interp_error(I));
    free(d);
  }
  fn(slots);
  cr_assert_eq(ir_interp_run(I), 0, "%s", ir_interp_error(I));
  for (int s = 0; s < p.nslots; s++) {
    if (p.slots[s].kind != LOWER_SLOT_OUTPUT)
      continue;
    const IrTensor *want = ir_interp_value(I, p.slots[s].val);
    cr_assert_not_null(want);
    int64_t k = ir_numel(&want->t.shape);
    for (int64_t i = 0; i < k; i++) {
      double got = get(slots[s], want->t.dtype, i);
      cr_assert(close_to(got, want->data[i], ir_is_float(want->t.dtype)), "%s: output slot %d [%lld] = %.9g, want %.9g",
                name, s, (long long)i, got, want->data[i]);
    }
  }
  for (int s = 0; s < p.nslots; s++)
    free(slots[s]);
  free(slots);
  ir_interp_free(I);
  lower_plan_free(&p);
}

static IrShape sh(int r, int64_t a, int64_t b, int64_t c) {
  int64_t d[3] = {a, b, c};
  return ir_shape(r, d);
}

static void finish(IrGraph *g, IrVal out, const char *name, int64_t int_hi) {
  cr_assert_neq(out, IR_NONE, "%s: %s", name, ir_errmsg(g));
  ir_set_outputs(g, 1, &out);
  check_graph(g, name, int_hi);
  ir_graph_free(g);
}

/* ------------------------------------------------------------- elementwise ---- */

static int is_ew(IrOp op) {
  return ir_ops[op].scalar != SC_NONE && (ir_ops[op].kind == IR_ELEMWISE || ir_ops[op].kind == IR_BROADCAST) &&
         !(ir_ops[op].flags & IR_LEAF);
}

/* Every elementwise/broadcast op of ops.def on f32 (bool for logic ops), broadcasting
 * b[1, 5] against a[4, 5]. */
Test(lower, every_elementwise_op_matches_interpreter) {
  for (int op = 0; op < OP_NOPS; op++) {
    if (!is_ew(op))
      continue;
    IrGraph *g = ir_graph_new();
    int logic = op == OP_AND || op == OP_OR || op == OP_NOT;
    IrDType dt = logic ? IR_BOOL : IR_F32;
    IrVal a = ir_input(g, "a", dt, sh(2, 4, 5, 0)), b = ir_input(g, "b", dt, sh(2, 1, 5, 0)), o;
    int ar = ir_ops[op].arity;
    if (op == OP_WHERE)
      o = ir_where(g, ir_input(g, "c", IR_BOOL, sh(2, 4, 1, 0)), a, b);
    else if (op == OP_LEAKY_RELU)
      o = ir_leaky_relu(g, a, 0.2);
    else if (op == OP_CLIP)
      o = ir_clip(g, a, -0.5, 1.25);
    else if (op == OP_CAST)
      o = ir_cast(g, a, IR_I32);
    else if (op == OP_STRAIGHT_THROUGH)
      o = ir_straight_through(g, a, a);
    else if (op == OP_STOP_GRADIENT)
      o = ir_stop_gradient(g, a);
    else
      o = ar == 1 ? ir_unary(g, op, a) : ir_binary(g, op, a, b);
    finish(g, o, ir_ops[op].name, 4);
  }
}

Test(lower, integer_elementwise_ops) {
  IrOp ops[] = {OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD, OP_MAXIMUM, OP_LT, OP_EQ, OP_NEG, OP_ABS};
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
    IrGraph *g = ir_graph_new();
    IrVal a = ir_input(g, "a", IR_I64, sh(2, 3, 4, 0)), b = ir_input(g, "b", IR_I64, sh(1, 4, 0, 0));
    IrVal o = ir_ops[ops[i]].arity == 1 ? ir_unary(g, ops[i], a) : ir_binary(g, ops[i], a, b);
    finish(g, o, ir_ops[ops[i]].name, 7);
  }
}

/* ------------------------------------------------------------- reductions ---- */

Test(lower, reductions_match_interpreter) {
  IrOp ops[] = {OP_SUM, OP_MEAN, OP_MAX, OP_MIN, OP_PROD, OP_LOGSUMEXP};
  int axes[][4] = {{1, 1}, {2, 0, 2}, {3, 0, 1, 2}, {1, 2}};
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    for (int k = 0; k < 4; k++)
      for (int keep = 0; keep < 2; keep++) {
        IrGraph *g = ir_graph_new();
        IrVal x = ir_input(g, "x", IR_F32, sh(3, 3, 4, 5));
        finish(g, ir_reduce(g, ops[i], x, axes[k][0], &axes[k][1], keep), ir_ops[ops[i]].name, 0);
      }
}

Test(lower, argmax_matches_interpreter) {
  for (int ax = 0; ax < 2; ax++)
    for (int keep = 0; keep < 2; keep++) {
      IrGraph *g = ir_graph_new();
      IrVal x = ir_input(g, "x", IR_F32, sh(2, 6, 7, 0));
      finish(g, ir_argmax(g, x, ax, keep), "argmax", 0);
      g = ir_graph_new(); /* argmin, with ties (integers in [0, 3)) */
      x = ir_input(g, "x", IR_I32, sh(2, 6, 7, 0));
      IrAttrs at = {.nint = 2, .ints = {keep, ax}};
      finish(g, ir_add(g, OP_ARGMIN, 1, &x, &at), "argmin", 3);
    }
}

/* ------------------------------------------------------------- matmul ---- */

static void mm_case(IrShape as, IrShape bs, int ta, int tb) {
  IrGraph *g = ir_graph_new();
  IrVal a = ir_input(g, "a", IR_F32, as), b = ir_input(g, "b", IR_F32, bs);
  finish(g, ir_matmul(g, a, b, ta, tb), "matmul", 0);
}

Test(lower, matmul_matches_interpreter) {
  mm_case(sh(2, 5, 7, 0), sh(2, 7, 3, 0), 0, 0);
  mm_case(sh(2, 7, 5, 0), sh(2, 7, 3, 0), 1, 0);
  mm_case(sh(2, 5, 7, 0), sh(2, 3, 7, 0), 0, 1);
  mm_case(sh(2, 7, 5, 0), sh(2, 3, 7, 0), 1, 1);
  mm_case(sh(3, 2, 5, 7), sh(2, 7, 3, 0), 0, 0); /* batched, b broadcast */
  mm_case(sh(2, 33, 65, 0), sh(2, 65, 17, 0), 0, 0);
}

Test(lower, matmul_f64_uses_loops) {
  IrGraph *g = ir_graph_new();
  IrVal a = ir_input(g, "a", IR_F64, sh(2, 4, 6, 0)), b = ir_input(g, "b", IR_F64, sh(2, 6, 2, 0));
  finish(g, ir_matmul(g, a, b, 0, 0), "matmul64", 0);
}

/* ------------------------------------------------------------- data movement ---- */

Test(lower, data_movement_matches_interpreter) {
  IrGraph *g = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F32, sh(3, 2, 3, 4));
  int perm[3] = {2, 0, 1};
  finish(g, ir_transpose(g, x, perm), "transpose", 0);

  g = ir_graph_new();
  x = ir_input(g, "x", IR_F32, sh(3, 2, 3, 4));
  IrVal r = ir_reshape(g, x, sh(2, 6, 4, 0));
  finish(g, ir_unary(g, OP_EXP, r), "reshape", 0);

  g = ir_graph_new();
  x = ir_input(g, "x", IR_F32, sh(2, 3, 1, 0));
  finish(g, ir_broadcast_to(g, x, sh(3, 2, 3, 5)), "broadcast_to", 0);

  g = ir_graph_new();
  x = ir_input(g, "x", IR_F32, sh(3, 4, 5, 6));
  int64_t st[3] = {1, 0, 2}, en[3] = {3, 5, 5};
  finish(g, ir_slice(g, x, st, en), "slice", 0);

  g = ir_graph_new();
  IrVal parts[3] = {ir_input(g, "a", IR_F32, sh(2, 2, 3, 0)), ir_input(g, "b", IR_F32, sh(2, 2, 1, 0)),
                    ir_input(g, "c", IR_F32, sh(2, 2, 4, 0))};
  finish(g, ir_concat(g, 3, parts, 1), "concat", 0);

  g = ir_graph_new();
  x = ir_input(g, "x", IR_F32, sh(2, 3, 4, 0));
  int64_t bf[2] = {1, 0}, af[2] = {2, 3};
  finish(g, ir_pad(g, x, bf, af, 0.5), "pad", 0);

  g = ir_graph_new();
  x = ir_input(g, "i", IR_I64, sh(2, 2, 5, 0));
  finish(g, ir_one_hot(g, x, 4, IR_F32), "one_hot", 5);
}

Test(lower, split_multi_output) {
  IrGraph *g = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F32, sh(2, 3, 8, 0)), outs[3];
  int64_t sizes[3] = {2, 4, 2};
  cr_assert_eq(ir_split(g, x, 1, 3, sizes, outs), 0, "%s", ir_errmsg(g));
  IrVal res[3] = {outs[0], ir_unary(g, OP_TANH, outs[1]), outs[2]};
  ir_set_outputs(g, 3, res);
  check_graph(g, "split", 0);
  ir_graph_free(g);
}

/* Results that are leaves, repeated, or constants are copied into their slots. */
Test(lower, results_copied_when_needed) {
  IrGraph *g = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F32, sh(1, 6, 0, 0));
  double cd[6] = {1, 2, 3, 4, 5, 6};
  IrVal c = ir_const(g, IR_F32, sh(1, 6, 0, 0), cd);
  IrVal y = ir_binary(g, OP_MUL, x, c);
  IrVal outs[4] = {y, x, y, c};
  ir_set_outputs(g, 4, outs);
  check_graph(g, "copies", 0);
  ir_graph_free(g);
}

/* ------------------------------------------------------ softmax and losses ---- */

Test(lower, softmax_matches_interpreter) {
  for (int ax = 0; ax < 3; ax++)
    for (int lg = 0; lg < 2; lg++) {
      IrGraph *g = ir_graph_new();
      IrVal x = ir_input(g, "x", IR_F32, sh(3, 3, 4, 5));
      finish(g, ir_softmax(g, lg ? OP_LOG_SOFTMAX : OP_SOFTMAX, x, ax), "softmax", 0);
    }
}

Test(lower, losses_match_interpreter) {
  for (int red = 0; red < 3; red++) {
    IrGraph *g = ir_graph_new();
    IrVal x = ir_input(g, "x", IR_F32, sh(2, 6, 5, 0)), t = ir_input(g, "t", IR_I64, sh(1, 6, 0, 0));
    finish(g, ir_loss(g, OP_CROSS_ENTROPY, x, t, red), "cross_entropy", 5);
    g = ir_graph_new();
    x = ir_input(g, "x", IR_F32, sh(2, 6, 5, 0)), t = ir_input(g, "t", IR_I32, sh(1, 6, 0, 0));
    finish(g, ir_loss(g, OP_NLL, x, t, red), "nll", 5);
    IrOp ew[3] = {OP_MSE, OP_BCE_LOGITS, OP_KL};
    for (int k = 0; k < 3; k++) {
      g = ir_graph_new();
      IrVal a = ir_input(g, "a", IR_F32, sh(2, 4, 3, 0)), b = ir_input(g, "b", IR_F32, sh(2, 4, 3, 0));
      finish(g, ir_loss(g, ew[k], a, b, red), ir_ops[ew[k]].name, 0);
    }
  }
}

/* An MLP training-step forward: relu(x W1 + b1) W2 + b2 -> cross-entropy (mean), and the
 * argmax accuracy; then the same with parallel loops off. */
static void mlp(const char *name) {
  IrGraph *g = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F32, sh(2, 256, 784, 0)), y = ir_input(g, "y", IR_I64, sh(1, 256, 0, 0));
  IrVal w1 = ir_param(g, "w1", IR_F32, sh(2, 784, 512, 0), "glorot"), b1 = ir_param(g, "b1", IR_F32, sh(1, 512, 0, 0), "zeros");
  IrVal w2 = ir_param(g, "w2", IR_F32, sh(2, 512, 10, 0), "glorot"), b2 = ir_param(g, "b2", IR_F32, sh(1, 10, 0, 0), "zeros");
  IrVal h = ir_unary(g, OP_RELU, ir_binary(g, OP_ADD, ir_matmul(g, x, w1, 0, 0), b1));
  IrVal lg = ir_binary(g, OP_ADD, ir_matmul(g, h, w2, 0, 0), b2);
  IrVal loss = ir_loss(g, OP_CROSS_ENTROPY, lg, y, 0);
  IrVal acc = ir_reduce(g, OP_MEAN, ir_cast(g, ir_binary(g, OP_EQ, ir_argmax(g, lg, 1, 0), y), IR_F32), 1,
                        (int[]){0}, 0);
  IrVal outs[2] = {loss, acc};
  ir_set_outputs(g, 2, outs);
  check_graph(g, name, 10);
  ir_graph_free(g);
}

Test(lower, mlp_forward_matches_interpreter) { mlp("mlp"); }
Test(lower, mlp_forward_serial_matches_interpreter) {
  serial = 1;
  mlp("mlp_serial");
}

/* Ops not lowered yet are reported with the node, never crash. The list is explicit so
 * that a newly lowered op (or a new op in ops.def) shows up here. */
Test(lower, unsupported_ops_are_known_and_reported) {
  IrOp pending[] = {OP_NOPS};
  int np = 0;
  for (int op = 0; op < OP_NOPS; op++) {
    int is_pending = 0;
    for (int i = 0; i < np; i++)
      is_pending |= pending[i] == op;
    cr_expect_eq(lower_supports(op), !is_pending, "%s: supported=%d", ir_ops[op].name, lower_supports(op));
  }
  IrGraph *g = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F32, sh(2, 2, 5, 0));
  IrVal o = ir_cast(g, ir_binary(g, OP_GT, x, x), IR_BIT);
  cr_assert_neq(o, IR_NONE, "%s", ir_errmsg(g));
  ir_set_outputs(g, 1, &o);
  lower_plan p;
  char msg[256];
  cr_assert_eq(lower_graph(g, "bits", &p, msg, sizeof msg), -1);
  cr_assert(strstr(msg, "(cast): packed bit tensors are not lowered yet"), "%s", msg);
  ir_graph_free(g);
}

/* The kernels of a small graph as --dump=kernels prints them (unfused, bump arena: the
 * fused form is tested in tests/fuse). */
Test(lower, dump_of_lowered_graph) {
  lower_options saved = *lower_get_options(), plain = {.no_fuse = 1, .no_memplan = 1};
  lower_set_options(&plain);
  IrGraph *g = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F32, sh(2, 2, 3, 0)), b = ir_input(g, "b", IR_F32, sh(1, 3, 0, 0));
  IrVal s = ir_reduce(g, OP_SUM, ir_unary(g, OP_TANH, ir_binary(g, OP_ADD, x, b)), 1, (int[]){1}, 0);
  ir_set_outputs(g, 1, &s);
  lower_plan p;
  char msg[256];
  cr_assert_eq(lower_graph(g, "f", &p, msg, sizeof msg), 0, "%s", msg);
  char *txt;
  size_t len;
  FILE *m = open_memstream(&txt, &len);
  kir_print(p.f, m);
  fclose(m);
  cr_assert(strstr(txt, "kernel add loop i0<2 i1<3\n  v2[3*i0 + i1] = add(x[3*i0 + i1], b[i1])\n"), "%s", txt);
  cr_assert(strstr(txt, "kernel sum loop i0<2 i1<3 red\n  v4[i0] += v3[3*i0 + i1]\n"), "%s", txt);
  cr_assert_eq(p.slots[3].kind, LOWER_SLOT_ARENA);
  cr_assert_eq(p.slots[3].bytes, 64 + 24);
  lower_set_options(&saved);
  free(txt);
  lower_plan_free(&p);
  ir_graph_free(g);
}

/* ------------------------------------------------------- sampling, indexing ---- */

/* Random ops draw the interpreter's numbers: same seed slot value, same streams. */
Test(lower, sampling_matches_interpreter) {
  IrGraph *g = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F32, sh(2, 8, 40, 0));
  IrVal u = ir_uniform(g, IR_F32, sh(2, 8, 40, 0), -1, 3), z = ir_normal(g, IR_F32, sh(1, 50, 0, 0), 1, 2);
  IrVal p = ir_unary(g, OP_SIGMOID, x);
  IrVal outs[5] = {u, z, ir_bernoulli(g, p), ir_dropout(g, x, 0.3), ir_categorical(g, x)};
  for (int i = 0; i < 5; i++)
    cr_assert_neq(outs[i], IR_NONE, "%s", ir_errmsg(g));
  ir_set_outputs(g, 5, outs);
  check_graph(g, "sampling", 0);
  ir_graph_free(g);
}

Test(lower, gather_scatter_match_interpreter) {
  IrGraph *g = ir_graph_new();
  IrVal t = ir_input(g, "tab", IR_F32, sh(2, 10, 4, 0)), i = ir_input(g, "i", IR_I64, sh(2, 3, 2, 0));
  finish(g, ir_embedding(g, t, i), "embedding", 10);
  g = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F32, sh(3, 2, 6, 3)), j = ir_input(g, "j", IR_I32, sh(1, 4, 0, 0));
  finish(g, ir_gather(g, x, j, 1), "gather", 6);
  g = ir_graph_new();
  x = ir_input(g, "x", IR_F32, sh(3, 2, 6, 3));
  j = ir_input(g, "j", IR_I64, sh(1, 9, 0, 0)); /* 9 draws from 6 rows: repeats accumulate */
  IrVal src = ir_input(g, "src", IR_F32, sh(3, 2, 9, 3));
  finish(g, ir_scatter_add(g, x, j, src, 1), "scatter_add", 6);
}

/* --------------------------------------------------- convolution, pooling ---- */

static IrShape sh4(int64_t a, int64_t b, int64_t c, int64_t d) {
  int64_t x[4] = {a, b, c, d};
  return ir_shape(4, x);
}

Test(lower, convolution_matches_interpreter) {
  IrGraph *g = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F32, sh4(2, 3, 9, 8)), w = ir_input(g, "w", IR_F32, sh4(4, 3, 3, 2));
  finish(g, ir_conv2d(g, x, w, 2, 1, 1, 0), "conv2d", 0);
  g = ir_graph_new();
  x = ir_input(g, "x", IR_F32, sh(3, 2, 3, 11)), w = ir_input(g, "w", IR_F32, sh(3, 5, 3, 4));
  finish(g, ir_conv1d(g, x, w, 2, 1), "conv1d", 0);
  g = ir_graph_new();
  x = ir_input(g, "x", IR_F32, sh4(2, 4, 4, 3)), w = ir_input(g, "w", IR_F32, sh4(4, 3, 3, 3));
  finish(g, ir_conv_t2d(g, x, w, 2, 2, 1, 1, 1, 0), "conv_t2d", 0);
  /* conv2d_wgrad through autodiff of a conv */
  g = ir_graph_new();
  x = ir_input(g, "x", IR_F32, sh4(2, 3, 7, 7));
  IrVal p = ir_param(g, "w", IR_F32, sh4(4, 3, 3, 3), "glorot");
  IrVal loss = ir_reduce(g, OP_SUM, ir_unary(g, OP_TANH, ir_conv2d(g, x, p, 1, 1, 1, 1)), 4, (int[]){0, 1, 2, 3}, 0);
  IrVal gw;
  cr_assert_eq(ad_grad(g, loss, 1, &p, &gw), 0, "%s", ir_errmsg(g));
  finish(g, gw, "conv_wgrad", 0);
}

/* relu(conv2d(x, w) + reshape(slice(b))): nn.Conv2d's trace, one nnrt_conv2d_fwd_ex call
 * with the bias and relu in the GEMM epilogue (fuse.c), alone and with the gradients of
 * sum(y^2) wrt w, b and x (its relu masks read the fused output). */
Test(lower, fused_conv_bias_relu_matches_interpreter) {
  for (int grad = 0; grad < 2; grad++) {
    IrGraph *g = ir_graph_new();
    IrVal x = ir_param(g, "x", IR_F32, sh4(3, 2, 9, 8), "zeros"), w = ir_param(g, "w", IR_F32, sh4(5, 2, 3, 3), "glorot");
    IrVal b = ir_param(g, "b", IR_F32, sh(1, 5, 0, 0), "zeros");
    IrVal bs = ir_reshape(g, ir_slice(g, b, (int64_t[]){0}, (int64_t[]){5}), sh(3, 5, 1, 1));
    IrVal y = ir_unary(g, OP_RELU, ir_binary(g, OP_ADD, ir_conv2d(g, x, w, 1, 2, 1, 0), bs));
    IrVal outs[4] = {y}, wrt[3] = {w, b, x};
    if (grad) {
      IrVal loss = ir_reduce(g, OP_SUM, ir_binary(g, OP_MUL, y, y), 4, (int[]){0, 1, 2, 3}, 0);
      cr_assert_eq(ad_grad(g, loss, 3, wrt, outs + 1), 0, "%s", ir_errmsg(g));
    }
    ir_set_outputs(g, grad ? 4 : 1, outs);
    check_graph(g, grad ? "conv_bias_relu_grad" : "conv_bias_relu", 0);
    ir_graph_free(g);
  }
}

Test(lower, pooling_matches_interpreter) {
  for (int k = 0; k < 2; k++) {
    IrOp op = k ? OP_AVGPOOL2D : OP_MAXPOOL2D;
    IrGraph *g = ir_graph_new();
    IrVal x = ir_input(g, "x", IR_F32, sh4(2, 3, 8, 7));
    finish(g, ir_pool2d(g, op, x, 3, 2, 2, 2, 1, 0), ir_ops[op].name, 0);
    g = ir_graph_new(); /* and its gradient */
    x = ir_param(g, "x", IR_F32, sh4(2, 3, 8, 7), "zeros");
    IrVal y = ir_pool2d(g, op, x, 2, 2, 2, 2, 0, 0), gx;
    IrVal loss = ir_reduce(g, OP_SUM, ir_binary(g, OP_MUL, y, y), 4, (int[]){0, 1, 2, 3}, 0);
    cr_assert_eq(ad_grad(g, loss, 1, &x, &gx), 0, "%s", ir_errmsg(g));
    finish(g, gx, "pool_grad", 0);
  }
  IrGraph *g = ir_graph_new(); /* maxpool2d_select: h at x's window argmax */
  IrVal x = ir_input(g, "x", IR_F32, sh4(2, 3, 8, 7)), h = ir_input(g, "h", IR_F32, sh4(2, 3, 8, 7));
  IrAttrs at = {.nint = 6, .ints = {3, 2, 2, 2, 1, 0}};
  IrVal in2[2] = {x, h};
  finish(g, ir_add(g, OP_MAXPOOL2D_SELECT, 2, in2, &at), "maxpool2d_select", 0);
}

Test(lower, topk_matches_interpreter) {
  for (int ax = 0; ax < 2; ax++)
    for (int asc = 0; asc < 2; asc++) {
      IrGraph *g = ir_graph_new();
      IrVal x = ir_input(g, "x", IR_I64, sh(2, 5, 6, 0)), v, i; /* small ints: many ties */
      cr_assert_eq(ir_topk(g, x, 3, ax, asc, &v, &i), 0, "%s", ir_errmsg(g));
      IrVal outs[2] = {v, i};
      ir_set_outputs(g, 2, outs);
      check_graph(g, "topk", 4);
      ir_graph_free(g);
      g = ir_graph_new();
      x = ir_input(g, "x", IR_F32, sh(2, 4, 7, 0));
      cr_assert_eq(ir_topk(g, x, 7, 1, asc, &v, &i), 0, "%s", ir_errmsg(g)); /* argsort */
      outs[0] = v, outs[1] = i;
      ir_set_outputs(g, 2, outs);
      check_graph(g, "sort", 0);
      ir_graph_free(g);
    }
}

Test(lower, take_put_along_match_interpreter) {
  for (int ax = 0; ax < 2; ax++) {
    IrGraph *g = ir_graph_new();
    IrVal x = ir_input(g, "x", IR_F32, sh(2, 5, 6, 0));
    IrVal i = ir_input(g, "i", IR_I64, ax ? sh(2, 5, 3, 0) : sh(2, 4, 6, 0));
    IrAttrs at = {.nint = 1, .ints = {ax}};
    IrVal in2[2] = {x, i};
    finish(g, ir_add(g, OP_TAKE_ALONG, 2, in2, &at), "take_along", 5);
    g = ir_graph_new();
    x = ir_input(g, "x", IR_F32, sh(2, 5, 6, 0));
    i = ir_input(g, "i", IR_I32, ax ? sh(2, 5, 9, 0) : sh(2, 8, 6, 0));
    IrVal src = ir_input(g, "src", IR_F32, ax ? sh(2, 5, 9, 0) : sh(2, 8, 6, 0));
    IrVal in3[3] = {x, i, src};
    finish(g, ir_add(g, OP_PUT_ALONG_ADD, 3, in3, &at), "put_along_add", 5);
  }
}

/* ------------------------------------------------------------------ scan ---- */

/* h' = tanh(x_t Wx + h Wh + b) with dropout on x_t, y_t = h' * 2; over x[B, T, F], axis 1. */
static IrGraph *rnn(int reverse, int with_grad) {
  enum { B = 3, T = 5, F = 4, H = 6 };
  IrGraph *g = ir_graph_new(), *body = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F32, ir_shape(3, (int64_t[]){B, T, F})), h0 = ir_input(g, "h0", IR_F32, sh(2, B, H, 0));
  IrVal wx = ir_param(g, "wx", IR_F32, sh(2, F, H, 0), "glorot"), wh = ir_param(g, "wh", IR_F32, sh(2, H, H, 0), "glorot");
  IrVal b = ir_param(g, "b", IR_F32, sh(1, H, 0, 0), "zeros");
  IrType th = {IR_F32, sh(2, B, H, 0)}, tx = {IR_F32, sh(2, B, F, 0)};
  IrType twx = {IR_F32, sh(2, F, H, 0)}, twh = {IR_F32, sh(2, H, H, 0)}, tb = {IR_F32, sh(1, H, 0, 0)};
  IrVal fh = ir_formal(body, 0, th), fx = ir_formal(body, 1, tx), fwx = ir_formal(body, 2, twx);
  IrVal fwh = ir_formal(body, 3, twh), fb = ir_formal(body, 4, tb);
  IrVal xt = ir_dropout(body, fx, 0.2);
  IrVal pre = ir_binary(body, OP_ADD, ir_matmul(body, xt, fwx, 0, 0), ir_matmul(body, fh, fwh, 0, 0));
  IrVal h1 = ir_unary(body, OP_TANH, ir_binary(body, OP_ADD, pre, fb));
  IrVal res[2] = {h1, ir_binary(body, OP_MUL, h1, ir_scalar(body, IR_F32, 2))};
  ir_set_outputs(body, 2, res);
  IrVal consts[3] = {wx, wh, b};
  IrNode *sc = ir_scan(g, body, 1, &h0, 1, &x, 3, consts, 1, reverse);
  cr_assert_not_null(sc, "%s", ir_errmsg(g));
  IrVal loss = ir_reduce(g, OP_SUM, ir_binary(g, OP_MUL, sc->out[1], sc->out[1]), 3, (int[]){0, 1, 2}, 0);
  IrVal outs[6] = {sc->out[0], sc->out[1], loss};
  int n = 3;
  if (with_grad) {
    IrVal wrt[3] = {wx, wh, b};
    cr_assert_eq(ad_grad(g, loss, 3, wrt, outs + 3), 0, "%s", ir_errmsg(g));
    n = 6;
  }
  ir_set_outputs(g, n, outs);
  return g;
}

Test(lower, scan_matches_interpreter) {
  for (int rev = 0; rev < 2; rev++) {
    IrGraph *g = rnn(rev, 0);
    check_graph(g, rev ? "scan_rev" : "scan", 0);
    ir_graph_free(g);
  }
}

Test(lower, scan_gradients_match_interpreter) {
  IrGraph *g = rnn(0, 1);
  check_graph(g, "scan_grad", 0);
  ir_graph_free(g);
}

/* ------------------------------------------------------------------ AOT ---- */

static const char aot_main[] =
    "#include <stdio.h>\n#include <stdlib.h>\n#include \"aotf.h\"\n"
    "int main(int argc, char **argv) {\n"
    "  void *s[AOTF_NSLOTS];\n"
    "  FILE *in = fopen(argv[1], \"rb\"), *out = fopen(argv[2], \"wb\");\n"
    "  for (int i = 0; i < AOTF_NSLOTS; i++) {\n"
    "    s[i] = aligned_alloc(64, (aotf_slot_bytes[i] + 64) / 64 * 64);\n"
    "    if (i < 3 && fread(s[i], 1, aotf_slot_bytes[i], in) != (size_t)aotf_slot_bytes[i]) return 2;\n"
    "  }\n"
    "  aotf(s);\n"
    "  fwrite(s[3], 1, aotf_slot_bytes[3], out);\n"
    "  for (int i = 0; i < AOTF_NSLOTS; i++) free(s[i]);\n"
    "  fclose(in);\n"
    "  return fclose(out) != 0;\n}\n";

/* nnc -c: object + header linked into a C program with libnnrt only; its result equals
 * the interpreter's. Graph: softmax(x W + b) over f32[8, 16] x f32[16, 4]. */
Test(lower, aot_object_links_and_runs, .timeout = 60) {
  char dir[] = "/tmp/nnc_aot_XXXXXX", path[512], cmd[2048];
  cr_assert_not_null(mkdtemp(dir));
  IrGraph *g = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F32, sh(2, 8, 16, 0)), w = ir_param(g, "w", IR_F32, sh(2, 16, 4, 0), "glorot");
  IrVal b = ir_param(g, "b", IR_F32, sh(1, 4, 0, 0), "zeros");
  IrVal y = ir_softmax(g, OP_SOFTMAX, ir_binary(g, OP_ADD, ir_matmul(g, x, w, 0, 0), b), 1);
  ir_set_outputs(g, 1, &y);
  lower_plan p;
  char msg[256];
  cr_assert_eq(lower_graph(g, "aotf", &p, msg, sizeof msg), 0, "%s", msg);
  cr_assert_eq(p.nslots, 5); /* x, w, b, y, arena */
  char obj[600], hdr[600];
  snprintf(obj, sizeof obj, "%s/aotf.o", dir);
  snprintf(hdr, sizeof hdr, "%s/aotf.h", dir);
  cr_assert_eq(aot_write(J, g, &p, NULL, obj, hdr), 0, "%s", jit_errmsg(J));
  snprintf(path, sizeof path, "%s/main.c", dir);
  FILE *f = fopen(path, "w");
  fputs(aot_main, f);
  fclose(f);
  /* inputs: x, w, b as f32, also bound in the interpreter */
  IrInterp *I = ir_interp_new(g);
  snprintf(path, sizeof path, "%s/in.bin", dir);
  f = fopen(path, "wb");
  for (int s = 0; s < 3; s++) {
    const IrType *t = ir_type(g, p.slots[s].val);
    int64_t k = ir_numel(&t->shape);
    double d[128];
    for (int64_t i = 0; i < k; i++) {
      float v = (float)leaf_value(IR_F32, 0);
      d[i] = v;
      fwrite(&v, 4, 1, f);
    }
    ir_interp_bind_id(I, p.slots[s].val, d);
  }
  fclose(f);
#ifdef NNC_SANITIZE
  const char *san = "-fsanitize=address,undefined"; /* libnnrt.a is instrumented */
#else
  const char *san = "";
#endif
  snprintf(cmd, sizeof cmd, "cc -std=c11 %s -I%s -o %s/prog %s/main.c %s %s/runtime/libnnrt.a -fopenmp -lm -lz && %s/prog %s/in.bin %s/out.bin",
           san, dir, dir, dir, obj, NNC_BINARY_DIR, dir, dir, dir);
  cr_assert_eq(system(cmd), 0, "%s", cmd);
  cr_assert_eq(ir_interp_run(I), 0);
  const IrTensor *want = ir_interp_value(I, y);
  snprintf(path, sizeof path, "%s/out.bin", dir);
  f = fopen(path, "rb");
  float got[32];
  cr_assert_eq(fread(got, 4, 32, f), 32);
  fclose(f);
  for (int i = 0; i < 32; i++)
    cr_assert(close_to(got[i], want->data[i], 1), "[%d] %g vs %g", i, got[i], want->data[i]);
  snprintf(cmd, sizeof cmd, "grep -q 'slot 0: leaf x f32\\[8, 16\\], 512 bytes' %s && rm -rf %s", hdr, dir);
  cr_assert_eq(system(cmd), 0, "header lacks the slot comment");
  ir_interp_free(I);
  lower_plan_free(&p);
  ir_graph_free(g);
}

/* A training step's graph: forward, cross-entropy, and ad_grad_params's backward graph
 * (transposed matmuls, un-broadcast sums, relu masks, softmax - one_hot), all lowered. */
Test(lower, mlp_gradients_match_interpreter) {
  IrGraph *g = ir_graph_new();
  IrVal x = ir_input(g, "x", IR_F32, sh(2, 16, 20, 0)), y = ir_input(g, "y", IR_I64, sh(1, 16, 0, 0));
  IrVal w1 = ir_param(g, "w1", IR_F32, sh(2, 20, 12, 0), "glorot"), b1 = ir_param(g, "b1", IR_F32, sh(1, 12, 0, 0), "zeros");
  IrVal w2 = ir_param(g, "w2", IR_F32, sh(2, 12, 5, 0), "glorot"), b2 = ir_param(g, "b2", IR_F32, sh(1, 5, 0, 0), "zeros");
  IrVal h = ir_unary(g, OP_TANH, ir_binary(g, OP_ADD, ir_matmul(g, x, w1, 0, 0), b1));
  h = ir_dropout(g, ir_unary(g, OP_RELU, h), 0.25);
  IrVal lg = ir_binary(g, OP_ADD, ir_matmul(g, h, w2, 0, 0), b2);
  IrVal loss = ir_loss(g, OP_CROSS_ENTROPY, lg, y, 0);
  IrVal grads[5];
  grads[0] = loss;
  cr_assert_eq(ad_grad_params(g, loss, grads + 1), 0, "%s", ir_errmsg(g));
  ir_set_outputs(g, 5, grads);
  check_graph(g, "mlp_grad", 5);
  ir_graph_free(g);
}

/* Contiguous dims merge; a broadcast dim stops the merge. */
Test(lower, collapse_merges_contiguous_dims) {
  int64_t ext[3] = {4, 5, 6};
  kir_index x[2] = {kir_index_bcast(3, 3, ext), kir_index_bcast(3, 3, ext)};
  cr_assert_eq(lower_collapse(3, ext, x, 2), 1);
  cr_assert_eq(ext[0], 120);
  cr_assert_eq(x[1].stride[0], 1);
  int64_t e2[3] = {4, 5, 6}, bs[2] = {1, 6};
  kir_index y[2] = {kir_index_bcast(3, 3, e2), kir_index_bcast(3, 2, bs)}; /* b[1, 6]: stride 0 on dim 1 */
  cr_assert_eq(lower_collapse(3, e2, y, 2), 2);
  cr_assert(e2[0] == 20 && e2[1] == 6, "%lld %lld", (long long)e2[0], (long long)e2[1]);
  cr_assert(y[1].stride[0] == 0 && y[1].stride[1] == 1 && y[0].stride[0] == 6);
}
