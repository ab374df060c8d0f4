/* test_kernels.c — kernel IR through codegen and the JIT, against plain C:
 * every scalar.def opcode on a grid of values (its C reference semantics taken from
 * scalar.def itself), broadcasting loop nests, reductions with post expressions, multi-output
 * kernels, parallel == serial, runtime calls, error paths, the --dump=kernels text, and
 * that the f32 transcendental kernels are vectorized. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "cg.h"
#include "rt.h"

static jit_t *J;

static void setup(void) {
  char msg[256];
  cr_assert_eq(jit_create(&J, NULL, msg, sizeof msg), 0, "%s", msg);
}
static void teardown(void) { jit_destroy(J); }

TestSuite(kernels, .init = setup, .fini = teardown);

static cg_entry compile(kir_func *f, const cg_options *o) {
  cg_entry fn;
  cr_assert_eq(cg_compile(J, f, o, &fn), 0, "%s", jit_errmsg(J));
  return fn;
}

/* ------------------------------------------------ scalar opcodes vs scalar.def ---- */

/* The reference: scalar.def's own C expressions. */
static double ref_float(int op, double a, double b, double c, double p0, double p1) {
  switch (op) {
#define SC(E, name, arity, doms, fexpr, iexpr) case SC_##E: return (double)(fexpr);
#include "scalar.def"
#undef SC
  }
  return NAN;
}
static int64_t ref_int(int op, int64_t a, int64_t b, int64_t c, double p0, double p1) {
  switch (op) {
#define SC(E, name, arity, doms, fexpr, iexpr) case SC_##E: return (int64_t)(iexpr);
#include "scalar.def"
#undef SC
  }
  return 0;
}

static const double fgrid[] = {-100, -20, -3.5, -1, -0.7, -0.1, -1e-4, 0, 1e-4, 0.1, 0.5,
                               0.7,  1,   2.5,  10, 30,   88,   89,   100, NAN};
static const int64_t igrid[] = {-7, -3, -1, 0, 1, 2, 5, 100};
#define NF ((int)(sizeof fgrid / sizeof fgrid[0]))
#define NI ((int)(sizeof igrid / sizeof igrid[0]))

/* Builds out[i] = op(a[i], b[i], c[i]) over n points; a is bool for select. */
static kir_func *op_func(int op, kir_dtype dt, int64_t n, double p0, double p1) {
  char name[64];
  snprintf(name, sizeof name, "op_%s_%s", kir_scalars[op].name, kir_dtype_name(dt));
  kir_func *f = kir_new(name, 4);
  int sel = op == SC_SELECT;
  int a = kir_buffer(f, "a", sel ? KIR_BOOL : dt, 0, 0, n);
  int b = kir_buffer(f, "b", dt, 1, 0, n);
  int c = kir_buffer(f, "c", dt, 2, 0, n);
  kir_dtype rdt = kir_op_result(op, sel ? KIR_BOOL : dt, dt);
  int o = kir_buffer(f, "o", rdt, 3, 0, n);
  kir_loop(f, "op", 1, &n, NULL);
  kir_index x = kir_index_bcast(1, 1, &n);
  int v = kir_opp(f, op, kir_load(f, a, x), kir_load(f, b, x), kir_load(f, c, x), p0, p1);
  kir_store_to(f, o, x, v, KIR_RED_NONE, -1);
  return f;
}

static int close_enough(double got, double want, int exact) {
  if (isnan(want) || isnan(got))
    return isnan(want) && isnan(got);
  if (got == want)
    return 1;
  if (exact || isinf(want) || isinf(got))
    return 0;
  return fabs(got - want) <= 4e-6 * fabs(want) + 1e-30;
}

static int is_exact(int op) {
  return !(op == SC_EXP || op == SC_LOG || op == SC_TANH || op == SC_SIGMOID || op == SC_POW ||
           op == SC_SOFTPLUS || op == SC_MOD || op == SC_LEAKY_RELU /* p0 rounded to f32 */);
}

static double rd(const void *p, kir_dtype dt, int64_t i) {
  switch (dt) {
  case KIR_F32: return ((const float *)p)[i];
  case KIR_F64: return ((const double *)p)[i];
  case KIR_I32: return ((const int32_t *)p)[i];
  case KIR_I64: return (double)((const int64_t *)p)[i];
  default: return ((const uint8_t *)p)[i];
  }
}
static void wr(void *p, kir_dtype dt, int64_t i, double v) {
  switch (dt) {
  case KIR_F32: ((float *)p)[i] = (float)v; break;
  case KIR_F64: ((double *)p)[i] = v; break;
  case KIR_I32: ((int32_t *)p)[i] = (int32_t)v; break;
  case KIR_I64: ((int64_t *)p)[i] = (int64_t)v; break;
  default: ((uint8_t *)p)[i] = v != 0; break;
  }
}

/* Runs op on every (a, b) pair of the grid (c = b reversed) and compares with scalar.def. */
static void check_op(int op, kir_dtype dt) {
  int fl = kir_dtype_is_float(dt);
  int ng = fl ? NF : NI;
  int64_t n = (int64_t)ng * ng;
  double p0 = fl ? 0.1 : -2, p1 = fl ? 3.5 : 3;
  if (op == SC_CLIP && fl)
    p0 = -2;
  kir_func *f = op_func(op, dt, n, p0, p1);
  kir_dtype adt = op == SC_SELECT ? KIR_BOOL : dt, rdt = kir_op_result(op, adt, dt);
  void *bufs[4];
  for (int i = 0; i < 4; i++)
    bufs[i] = calloc((size_t)n, 8);
  for (int64_t i = 0; i < n; i++) {
    double a = fl ? fgrid[i / ng] : igrid[i / ng], b = fl ? fgrid[i % ng] : igrid[i % ng];
    double c = fl ? fgrid[ng - 1 - i % ng] : igrid[ng - 1 - i % ng];
    wr(bufs[0], adt, i, a);
    wr(bufs[1], dt, i, b);
    wr(bufs[2], dt, i, c);
  }
  compile(f, NULL)(bufs);
  for (int64_t i = 0; i < n; i++) {
    double a = rd(bufs[0], adt, i), b = rd(bufs[1], dt, i), c = rd(bufs[2], dt, i);
    double want = fl ? ref_float(op, a, b, c, p0, p1) : (double)ref_int(op, (int64_t)a, (int64_t)b, (int64_t)c, p0, p1);
    if (rdt == KIR_F32)
      want = (float)want;
    else if (rdt == KIR_I32)
      want = (int32_t)want;
    else if (rdt == KIR_BOOL)
      want = want != 0;
    double got = rd(bufs[3], rdt, i);
    cr_assert(close_enough(got, want, is_exact(op)), "%s/%s(%g, %g, %g) = %.9g, want %.9g",
              kir_scalars[op].name, kir_dtype_name(dt), a, b, c, got, want);
  }
  for (int i = 0; i < 4; i++)
    free(bufs[i]);
  kir_free(f);
}

Test(kernels, every_scalar_opcode_has_an_emitter) {
  for (int op = 0; op < SC_NOPS; op++)
    cr_expect(cg_scalar_supported(op), "no emitter for %s", kir_scalars[op].name);
}

Test(kernels, float_opcodes_match_reference, .timeout = 30) {
  for (int op = 0; op < SC_NOPS; op++)
    if (kir_scalars[op].doms & SC_DOM_F) {
      check_op(op, KIR_F32);
      check_op(op, KIR_F64);
    }
}

Test(kernels, int_opcodes_match_reference, .timeout = 30) {
  for (int op = 0; op < SC_NOPS; op++)
    if (kir_scalars[op].doms & SC_DOM_I) {
      check_op(op, KIR_I32);
      check_op(op, KIR_I64);
    }
}

/* Dense sweep of the f32 polynomials against libm (double). */
Test(kernels, exp_tanh_sigmoid_dense_sweep) {
  const int64_t n = 20001;
  int ops[3] = {SC_EXP, SC_TANH, SC_SIGMOID};
  float *in = malloc(n * 4), *out = malloc(n * 4);
  for (int64_t i = 0; i < n; i++)
    in[i] = -90.0f + 180.0f * (float)i / (n - 1);
  for (int k = 0; k < 3; k++) {
    char name[32];
    snprintf(name, sizeof name, "sweep_%s", kir_scalars[ops[k]].name);
    kir_func *f = kir_new(name, 2);
    int a = kir_buffer(f, "a", KIR_F32, 0, 0, n), o = kir_buffer(f, "o", KIR_F32, 1, 0, n);
    kir_loop(f, "k", 1, &n, NULL);
    kir_index x = kir_index_bcast(1, 1, &n);
    kir_store_to(f, o, x, kir_op1(f, ops[k], kir_load(f, a, x)), KIR_RED_NONE, -1);
    void *slots[2] = {in, out};
    compile(f, NULL)(slots);
    double maxrel = 0;
    for (int64_t i = 0; i < n; i++) {
      double w = ref_float(ops[k], in[i], 0, 0, 0, 0);
      if (fabs(w) > 1e-30 && fabs(w) < 3e38)
        maxrel = fmax(maxrel, fabs(out[i] - w) / fabs(w));
    }
    cr_assert(maxrel < 3e-6, "%s: max relative error %g", kir_scalars[ops[k]].name, maxrel);
    kir_free(f);
  }
  free(in);
  free(out);
}

/* ------------------------------------------------------------- loop nests ---- */

static float frand(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  return (float)((*s >> 8) & 0xffff) / 65536.0f * 4 - 2;
}

/* out[i,j,k] = a[i,j,k] * b[j,1] + c[k] (numpy broadcasting), dims 5 x 7 x 33. */
static void bcast_case(int par) {
  int64_t ext[3] = {5, 7, 33}, sb[2] = {7, 1}, sc[1] = {33};
  int n = 5 * 7 * 33;
  float *a = malloc(n * 4), *b = malloc(7 * 4), *c = malloc(33 * 4), *o = malloc(n * 4);
  unsigned s = 1;
  for (int i = 0; i < n; i++)
    a[i] = frand(&s);
  for (int i = 0; i < 7; i++)
    b[i] = frand(&s);
  for (int i = 0; i < 33; i++)
    c[i] = frand(&s);
  kir_func *f = kir_new("bcast", 4);
  int A = kir_buffer(f, "a", KIR_F32, 0, 0, n), B = kir_buffer(f, "b", KIR_F32, 1, 0, 7);
  int C = kir_buffer(f, "c", KIR_F32, 2, 0, 33), O = kir_buffer(f, "o", KIR_F32, 3, 0, n);
  int flags[3] = {par ? KIR_PAR : 0, 0, 0};
  kir_loop(f, "fma", 3, ext, flags);
  kir_index xa = kir_index_bcast(3, 3, ext);
  int v = kir_op2(f, SC_MUL, kir_load(f, A, xa), kir_load(f, B, kir_index_bcast(3, 2, sb)));
  v = kir_op2(f, SC_ADD, v, kir_load(f, C, kir_index_bcast(3, 1, sc)));
  kir_store_to(f, O, xa, v, KIR_RED_NONE, -1);
  void *slots[4] = {a, b, c, o};
  compile(f, NULL)(slots);
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 7; j++)
      for (int k = 0; k < 33; k++) {
        int at = (i * 7 + j) * 33 + k;
        float want = a[at] * b[j] + c[k];
        cr_assert_float_eq(o[at], want, 1e-5, "[%d,%d,%d] %g vs %g", i, j, k, o[at], want);
      }
  free(a), free(b), free(c), free(o);
  kir_free(f);
}

Test(kernels, broadcast_nest) { bcast_case(0); }
Test(kernels, broadcast_nest_parallel) { bcast_case(1); }

/* Over x[8, 6, 50]: s[i] = sum_jk x, m[i] = max_jk x, mean[i] = (sum_jk x) / 300, all in one
 * nest (multi-output), plus p[i,j] = prod over k of (1 + x/100) in a second kernel. */
Test(kernels, reductions_multi_output) {
  int64_t ext[3] = {8, 6, 50}, n = 8 * 6 * 50;
  float *x = malloc(n * 4), s[8], m[8], mn[8], p[48];
  unsigned seed = 3;
  for (int i = 0; i < n; i++)
    x[i] = frand(&seed);
  kir_func *f = kir_new("red", 5);
  int X = kir_buffer(f, "x", KIR_F32, 0, 0, n), S = kir_buffer(f, "s", KIR_F32, 1, 0, 8);
  int M = kir_buffer(f, "m", KIR_F32, 2, 0, 8), MN = kir_buffer(f, "mean", KIR_F32, 3, 0, 8);
  int P = kir_buffer(f, "p", KIR_F32, 4, 0, 48);
  int flags[3] = {KIR_PAR, KIR_RED, KIR_RED};
  kir_loop(f, "stats", 3, ext, flags);
  kir_index xx = kir_index_bcast(3, 3, ext), xo = {.stride = {1}};
  int lx = kir_load(f, X, xx);
  kir_store_to(f, S, xo, lx, KIR_RED_SUM, -1);
  kir_store_to(f, M, xo, lx, KIR_RED_MAX, -1);
  int post = kir_op2(f, SC_MUL, kir_acc(f, KIR_F32), kir_const(f, KIR_F32, 1.0 / 300));
  kir_store_to(f, MN, xo, lx, KIR_RED_SUM, post);
  int flags2[3] = {0, 0, KIR_RED};
  kir_loop(f, "prod", 3, ext, flags2);
  int t = kir_op2(f, SC_ADD, kir_const(f, KIR_F32, 1), kir_op2(f, SC_DIV, kir_load(f, X, xx), kir_const(f, KIR_F32, 100)));
  kir_store_to(f, P, (kir_index){.stride = {6, 1}}, t, KIR_RED_PROD, -1);
  void *slots[5] = {x, s, m, mn, p};
  compile(f, NULL)(slots);
  for (int i = 0; i < 8; i++) {
    double ws = 0, wm = -INFINITY;
    for (int k = 0; k < 300; k++)
      ws += x[i * 300 + k], wm = fmax(wm, x[i * 300 + k]);
    cr_assert_float_eq(s[i], ws, 1e-3, "sum %d: %g vs %g", i, s[i], ws);
    cr_assert_eq(m[i], (float)wm, "max %d", i);
    cr_assert_float_eq(mn[i], ws / 300, 1e-5, "mean %d", i);
    for (int j = 0; j < 6; j++) {
      double wp = 1;
      for (int k = 0; k < 50; k++)
        wp *= 1 + x[(i * 6 + j) * 50 + k] / 100.0;
      cr_assert_float_eq(p[i * 6 + j], wp, 1e-4 * fabs(wp), "prod %d,%d", i, j);
    }
  }
  free(x);
  kir_free(f);
}

/* y = tanh(x) * 2 + iv, also z = x > 0 (bool): the same kernel serial and parallel. */
static kir_func *par_func(const char *name, int64_t r, int64_t c) {
  int64_t ext[2] = {r, c}, n = r * c;
  kir_func *f = kir_new(name, 3);
  int X = kir_buffer(f, "x", KIR_F32, 0, 0, n), Y = kir_buffer(f, "y", KIR_F32, 1, 0, n);
  int Z = kir_buffer(f, "z", KIR_BOOL, 2, 0, n);
  int flags[2] = {KIR_PAR, 0};
  kir_loop(f, "k", 2, ext, flags);
  kir_index xi = kir_index_bcast(2, 2, ext);
  int lx = kir_load(f, X, xi);
  int v = kir_op2(f, SC_MUL, kir_op1(f, SC_TANH, lx), kir_const(f, KIR_F32, 2));
  v = kir_op2(f, SC_ADD, v, kir_cast(f, KIR_F32, kir_iv(f, 1)));
  kir_store_to(f, Y, xi, v, KIR_RED_NONE, -1);
  kir_store_to(f, Z, xi, kir_op2(f, SC_GT, lx, kir_const(f, KIR_F32, 0)), KIR_RED_NONE, -1);
  return f;
}

Test(kernels, parallel_equals_serial) {
  int64_t r = 64, c = 1000, n = r * c;
  float *x = malloc(n * 4), *y1 = malloc(n * 4), *y2 = malloc(n * 4);
  uint8_t *z1 = malloc(n), *z2 = malloc(n);
  unsigned s = 9;
  for (int64_t i = 0; i < n; i++)
    x[i] = frand(&s);
  kir_func *f = par_func("par", r, c), *g = par_func("ser", r, c);
  cg_options ser = {.no_parallel = 1};
  compile(f, NULL)((void *[]){x, y1, z1});
  compile(g, &ser)((void *[]){x, y2, z2});
  kir_free(g);
  cr_assert_eq(memcmp(y1, y2, n * 4), 0);
  cr_assert_eq(memcmp(z1, z2, n), 0);
  for (int64_t i = 0; i < n; i += 997)
    cr_assert_eq(z1[i], x[i] > 0);
  free(x), free(y1), free(y2), free(z1), free(z2);
  kir_free(f);
}

/* Buffers at offsets in one shared slot (the arena of a memory plan). */
Test(kernels, buffers_share_a_slot) {
  float arena[64] = {0};
  int64_t n = 16;
  kir_func *f = kir_new("arena", 1);
  int A = kir_buffer(f, "a", KIR_F32, 0, 0, n), B = kir_buffer(f, "b", KIR_F32, 0, 16, n);
  int C = kir_buffer(f, "c", KIR_F32, 0, 40, n);
  kir_loop(f, "k", 1, &n, NULL);
  kir_index x = kir_index_bcast(1, 1, &n);
  kir_store_to(f, C, x, kir_op2(f, SC_SUB, kir_load(f, A, x), kir_load(f, B, x)), KIR_RED_NONE, -1);
  for (int i = 0; i < 16; i++)
    arena[i] = (float)i, arena[16 + i] = (float)(2 * i);
  compile(f, NULL)((void *[]){arena});
  for (int i = 0; i < 16; i++)
    cr_assert_eq(arena[40 + i], -(float)i);
  kir_free(f);
}

/* In place: a = a * 2 (the same buffer loaded and stored: one pointer, no noalias clash). */
Test(kernels, in_place_update) {
  float a[100];
  for (int i = 0; i < 100; i++)
    a[i] = (float)i;
  int64_t n = 100;
  kir_func *f = kir_new("inplace", 1);
  int A = kir_buffer(f, "a", KIR_F32, 0, 0, n);
  kir_loop(f, "k", 1, &n, NULL);
  kir_index x = kir_index_bcast(1, 1, &n);
  kir_store_to(f, A, x, kir_op2(f, SC_MUL, kir_load(f, A, x), kir_const(f, KIR_F32, 2)), KIR_RED_NONE, -1);
  compile(f, NULL)((void *[]){a});
  for (int i = 0; i < 100; i++)
    cr_assert_eq(a[i], 2.0f * i);
  kir_free(f);
}

/* ------------------------------------------------------------- runtime calls ---- */

Test(kernels, runtime_call_kernel) {
  int64_t n = 1000;
  float *got = malloc(n * 4), *want = malloc(n * 4);
  kir_func *f = kir_new("fill", 1);
  int X = kir_buffer(f, "x", KIR_F32, 0, 0, n);
  kir_call(f, "init", "nnrt_fill_uniform");
  kir_arg_buf(f, X);
  kir_arg_i64(f, n);
  kir_arg_i64(f, 42);
  kir_arg_i64(f, 3);
  kir_arg_f32(f, -1);
  kir_arg_f32(f, 1);
  compile(f, NULL)((void *[]){got});
  nnrt_fill_uniform(want, n, 42, 3, -1, 1);
  cr_assert_eq(memcmp(got, want, n * 4), 0);
  free(got), free(want);
  kir_free(f);
}

Test(kernels, unknown_runtime_function_is_an_error) {
  kir_func *f = kir_new("bad", 1);
  kir_buffer(f, "x", KIR_F32, 0, 0, 4);
  kir_call(f, "k", "nnrt_no_such_thing");
  cg_entry fn;
  cr_assert_eq(cg_compile(J, f, NULL, &fn), -1);
  cr_assert_null(fn);
  cr_assert(strstr(jit_errmsg(J), "nnrt_no_such_thing"), "%s", jit_errmsg(J));
  kir_free(f);
}

Test(kernels, wrong_arity_runtime_call_is_an_error) {
  kir_func *f = kir_new("bad2", 1);
  int X = kir_buffer(f, "x", KIR_F32, 0, 0, 4);
  kir_call(f, "k", "nnrt_fill_uniform");
  kir_arg_buf(f, X);
  cg_entry fn;
  cr_assert_eq(cg_compile(J, f, NULL, &fn), -1);
  cr_assert(strstr(jit_errmsg(J), "number of arguments"), "%s", jit_errmsg(J));
  kir_free(f);
}

/* ------------------------------------------------------------- verifier ---- */

Test(kernels, out_of_bounds_access_is_rejected) {
  int64_t n = 10;
  kir_func *f = kir_new("oob", 2);
  int A = kir_buffer(f, "a", KIR_F32, 0, 0, n), B = kir_buffer(f, "b", KIR_F32, 1, 0, n);
  kir_loop(f, "k", 1, &n, NULL);
  kir_index x = kir_index_bcast(1, 1, &n), y = x;
  y.offset = 1; /* reads a[1..10] */
  kir_store_to(f, B, x, kir_load(f, A, y), KIR_RED_NONE, -1);
  cg_entry fn;
  cr_assert_eq(cg_compile(J, f, NULL, &fn), -1);
  cr_assert(strstr(jit_errmsg(J), "a[1..10] outside its 10 elements"), "%s", jit_errmsg(J));
  kir_free(f);
}

Test(kernels, type_errors_are_rejected) {
  int64_t n = 4;
  char msg[256];
  kir_func *f = kir_new("types", 2);
  int A = kir_buffer(f, "a", KIR_F32, 0, 0, n), B = kir_buffer(f, "b", KIR_I32, 1, 0, n);
  kir_loop(f, "k", 1, &n, NULL);
  kir_index x = kir_index_bcast(1, 1, &n);
  kir_store_to(f, B, x, kir_op2(f, SC_ADD, kir_load(f, A, x), kir_load(f, B, x)), KIR_RED_NONE, -1);
  cr_assert_eq(kir_verify(f, msg, sizeof msg), -1);
  cr_assert(strstr(msg, "add of f32 and i32"), "%s", msg);
  kir_free(f);
  f = kir_new("dom", 2);
  B = kir_buffer(f, "b", KIR_I32, 1, 0, n);
  kir_loop(f, "k", 1, &n, NULL);
  kir_store_to(f, B, x, kir_op1(f, SC_EXP, kir_load(f, B, x)), KIR_RED_NONE, -1);
  cr_assert_eq(kir_verify(f, msg, sizeof msg), -1);
  cr_assert(strstr(msg, "exp is not defined on i32"), "%s", msg);
  kir_free(f);
}

/* ------------------------------------------------------------- dumps ---- */

Test(kernels, dump_kernels_text_is_stable) {
  int64_t ext[2] = {4, 3};
  kir_func *f = kir_new("dump", 3);
  int A = kir_buffer(f, "a", KIR_F32, 0, 0, 12), B = kir_buffer(f, "b", KIR_F32, 1, 0, 3);
  int S = kir_buffer(f, "s", KIR_F32, 2, 8, 4);
  int flags[2] = {KIR_PAR, KIR_RED};
  kir_loop(f, "rowsum", 2, ext, flags);
  int v = kir_op2(f, SC_MUL, kir_load(f, A, kir_index_bcast(2, 2, ext)), kir_load(f, B, (kir_index){.stride = {0, 1}}));
  kir_store_to(f, S, (kir_index){.stride = {1}}, v, KIR_RED_SUM,
               kir_op1(f, SC_RELU, kir_acc(f, KIR_F32)));
  kir_call(f, "fill", "nnrt_fill_normal");
  kir_arg_buf(f, A);
  kir_arg_i64(f, 12);
  kir_arg_f32(f, 0.5);
  char *txt;
  size_t len;
  FILE *m = open_memstream(&txt, &len);
  kir_print(f, m);
  fclose(m);
  const char *want = "func dump(slots 3)\n"
                     "  buf a f32[12] = slot0 + 0\n"
                     "  buf b f32[3] = slot1 + 0\n"
                     "  buf s f32[4] = slot2 + 8\n"
                     "kernel rowsum loop i0<4 par i1<3 red\n"
                     "  s[i0] += mul(a[3*i0 + i1], b[i1]) then relu(acc)\n"
                     "kernel fill call nnrt_fill_normal(a, 12, 0.5)\n";
  cr_assert_str_eq(txt, want);
  free(txt);
  kir_free(f);
}

Test(kernels, exp_kernel_is_vectorized_and_emits_an_object) {
  int64_t n = 1024;
  kir_func *f = kir_new("vexp", 2);
  int A = kir_buffer(f, "a", KIR_F32, 0, 0, n), O = kir_buffer(f, "o", KIR_F32, 1, 0, n);
  kir_loop(f, "k", 1, &n, NULL);
  kir_index x = kir_index_bcast(1, 1, &n);
  kir_store_to(f, O, x, kir_op1(f, SC_SIGMOID, kir_load(f, A, x)), KIR_RED_NONE, -1);
  LLVMModuleRef m;
  cr_assert_eq(cg_build(J, f, NULL, &m), 0, "%s", jit_errmsg(J));
  cr_assert_eq(jit_optimize(J, m), 0);
  char *s;
  size_t len;
  cr_assert_eq(jit_emit(J, m, JIT_EMIT_LLVM, &s, &len), 0);
  cr_assert(strstr(s, " x float>"), "not vectorized:\n%s", s);
  cr_assert(strstr(s, "define void @vexp(ptr"), "%s", s);
  free(s);
  cr_assert_eq(jit_emit(J, m, JIT_EMIT_OBJ, &s, &len), 0);
  cr_assert(len > 64 && memcmp(s, "\177ELF", 4) == 0 && s[16] == 1 /* ET_REL */);
  free(s);
  LLVMDisposeModule(m);
  kir_free(f);
}

/* Prototypes of abi.def are parsed into LLVM types, parameter names ignored. */
Test(kernels, abi_signatures_parse) {
  LLVMContextRef C = jit_context(J);
  LLVMTypeRef t = cg_abi_signature(C, "nnrt_fill_uniform");
  cr_assert_not_null(t);
  cr_assert_eq(LLVMCountParamTypes(t), 6);
  LLVMTypeRef p[6];
  LLVMGetParamTypes(t, p);
  cr_assert_eq(LLVMGetTypeKind(p[0]), LLVMPointerTypeKind);
  cr_assert_eq(LLVMGetIntTypeWidth(p[1]), 64);
  cr_assert_eq(LLVMGetTypeKind(p[4]), LLVMFloatTypeKind);
  t = cg_abi_signature(C, "nnrt_get_threads");
  cr_assert_eq(LLVMCountParamTypes(t), 0);
  cr_assert_eq(LLVMGetIntTypeWidth(LLVMGetReturnType(t)), 32);
  t = cg_abi_signature(C, "nnrt_parallel_for");
  cr_assert_eq(LLVMCountParamTypes(t), 3);
  cr_assert_null(cg_abi_signature(C, "not_a_runtime_function"));
  for (int i = 0; i < rt_abi_count; i++)
    cr_expect_not_null(cg_abi_signature(C, rt_abi_table[i].name), "cannot type %s %s", rt_abi_table[i].name,
                       rt_abi_table[i].params);
}

/* A repeat runs its kernels for t = 3, 2, 1, 0 (reversed): an order-sensitive accumulator
 * (d = 10 d + t) gives 3210; per-step call pointers and indices move with t. */
Test(kernels, repeat_runs_body_per_step) {
  float blocks[4 * 8], want[8], d = 0;
  int64_t one = 1, eight = 8;
  kir_func *f = kir_new("rep", 2);
  int X = kir_buffer(f, "x", KIR_F32, 0, 0, 32), D = kir_buffer(f, "d", KIR_F32, 1, 0, 1);
  int r = kir_repeat(f, "steps", 4, 1);
  kir_call(f, "fill", "nnrt_fill_uniform");
  kir_arg_buf_t(f, X, 0, 8);
  kir_arg_i64(f, 8), kir_arg_i64(f, 5), kir_arg_i64(f, 1), kir_arg_f32(f, 0), kir_arg_f32(f, 1);
  kir_loop(f, "digits", 1, &one, NULL);
  int tv = kir_cast(f, KIR_F32, kir_affine(f, (kir_index){.tstride = 1}));
  int v = kir_op2(f, SC_ADD, kir_op2(f, SC_MUL, kir_load(f, D, kir_index_zero()), kir_const(f, KIR_F32, 10)), tv);
  kir_store_to(f, D, kir_index_zero(), v, KIR_RED_NONE, -1);
  kir_loop(f, "scale", 1, &eight, NULL); /* x[t] *= t + 1 */
  kir_index xt = {.stride = {1}, .tstride = 8};
  int sc = kir_op2(f, SC_ADD, tv, kir_const(f, KIR_F32, 1));
  kir_store_to(f, X, xt, kir_op2(f, SC_MUL, kir_load(f, X, xt), sc), KIR_RED_NONE, -1);
  kir_repeat_end(f, r);
  char *txt;
  size_t len;
  FILE *m = open_memstream(&txt, &len);
  kir_print(f, m);
  fclose(m);
  cr_assert(strstr(txt, "kernel steps repeat t<4 reversed over the next 3 kernels\n"), "%s", txt);
  cr_assert(strstr(txt, "call nnrt_fill_uniform(x+0+8*t, 8, 5, 1, 0, 1)"), "%s", txt);
  free(txt);
  compile(f, NULL)((void *[]){blocks, &d});
  cr_assert_eq(d, 3210.0f);
  nnrt_fill_uniform(want, 8, 5, 1, 0, 1);
  for (int t = 0; t < 4; t++)
    for (int i = 0; i < 8; i++)
      cr_assert_float_eq(blocks[t * 8 + i], want[i] * (t + 1), 1e-6, "t %d i %d", t, i);
  kir_free(f);
}

Test(kernels, repeat_out_of_bounds_is_rejected) {
  int64_t one = 1;
  char msg[256];
  kir_func *f = kir_new("rep_oob", 1);
  int X = kir_buffer(f, "x", KIR_F32, 0, 0, 4);
  int r = kir_repeat(f, "steps", 5, 0);
  kir_loop(f, "k", 1, &one, NULL);
  kir_store_to(f, X, (kir_index){.tstride = 1}, kir_const(f, KIR_F32, 1), KIR_RED_NONE, -1);
  kir_repeat_end(f, r);
  cr_assert_eq(kir_verify(f, msg, sizeof msg), -1);
  cr_assert(strstr(msg, "x[0..4] outside its 4 elements"), "%s", msg);
  kir_free(f);
}

/* --dump=llvm, llvm-opt, asm of one kernel function; an unknown dump is an error. */
Test(kernels, dumps_llvm_and_asm) {
  int64_t n = 64;
  kir_func *f = kir_new("dumpme", 2);
  int A = kir_buffer(f, "a", KIR_F32, 0, 0, n), O = kir_buffer(f, "o", KIR_F32, 1, 0, n);
  kir_loop(f, "k", 1, &n, NULL);
  kir_index x = kir_index_bcast(1, 1, &n);
  kir_store_to(f, O, x, kir_op2(f, SC_MUL, kir_load(f, A, x), kir_load(f, A, x)), KIR_RED_NONE, -1);
  const char *what[3] = {"llvm", "llvm-opt", "asm"}, *want[3] = {"define internal void @dumpme.k.0(ptr noalias", " x float>", "dumpme:"};
  for (int i = 0; i < 3; i++) {
    char *txt;
    size_t len;
    FILE *m = open_memstream(&txt, &len);
    cr_assert_eq(cg_dump(J, f, NULL, what[i], m), 0, "%s", jit_errmsg(J));
    fclose(m);
    cr_assert(strstr(txt, want[i]), "--dump=%s lacks '%s':\n%s", what[i], want[i], txt);
    free(txt);
  }
  cr_assert_eq(cg_dump(J, f, NULL, "graph", stdout), -1);
  cr_assert(strstr(jit_errmsg(J), "unknown dump 'graph'"));
  kir_free(f);
}
