/* test_share.c — identical kernels share one LLVM function (codegen.c, "identical
 * kernels"): kernels that differ only in their buffers are emitted once; any difference in
 * structure (a constant, a stride, a dtype, noalias, a reduction, an extent) keeps them
 * apart. Results are checked against plain C with and without sharing (no_share_kernels),
 * serial, parallel and inside a repeat. */
#include <criterion/criterion.h>
#include <string.h>

#include "cg.h"

static jit_t *J;

static void setup(void) {
  char msg[256];
  cr_assert_eq(jit_create(&J, NULL, msg, sizeof msg), 0, "%s", msg);
}
static void teardown(void) { jit_destroy(J); }

TestSuite(share, .init = setup, .fini = teardown);

/* Internal loop functions in f's unoptimized LLVM IR (not the .par / .seq wrappers). */
static int loop_fns(kir_func *f, const cg_options *o) {
  char *txt;
  size_t len;
  FILE *m = open_memstream(&txt, &len);
  cr_assert_eq(cg_dump(J, f, o, "llvm", m), 0, "%s", jit_errmsg(J));
  fclose(m);
  int n = 0;
  for (char *p = txt; (p = strstr(p, "define internal void @")); p++) {
    char *end = strchr(p, '(');
    n += !(end - p > 4 && (!strncmp(end - 4, ".par", 4) || !strncmp(end - 4, ".seq", 4)));
  }
  free(txt);
  return n;
}

static cg_entry compile(kir_func *f, const cg_options *o) {
  cg_entry fn;
  cr_assert_eq(cg_compile(J, f, o, &fn), 0, "%s", jit_errmsg(J));
  return fn;
}

/* y = x * k + 1 over [r, c] (flags: KIR_PAR on dim 0 or none). */
static void axpb(kir_func *f, int x, int y, int64_t r, int64_t c, double k, int flags) {
  int64_t ext[2] = {r, c};
  int fl[2] = {flags, 0};
  kir_loop(f, "axpb", 2, ext, fl);
  kir_index i = kir_index_bcast(2, 2, ext);
  int v = kir_op2(f, SC_ADD, kir_op2(f, SC_MUL, kir_load(f, x, i), kir_const(f, KIR_F32, k)), kir_const(f, KIR_F32, 1));
  kir_store_to(f, y, i, v, KIR_RED_NONE, -1);
}

/* Five kernels: a -> b -> c -> d with k = 2 (three identical), then d -> e with k = 3. */
static kir_func *chain(const char *name, int flags) {
  int64_t r = 8, c = 40, n = r * c;
  kir_func *f = kir_new(name, 5);
  int b[5];
  for (int i = 0; i < 5; i++)
    b[i] = kir_buffer(f, (const char *[]){"a", "b", "c", "d", "e"}[i], KIR_F32, i, 0, n);
  for (int i = 0; i < 3; i++)
    axpb(f, b[i], b[i + 1], r, c, 2, flags);
  axpb(f, b[3], b[4], r, c, 3, flags);
  return f;
}

static void check_chain(int flags) {
  float a[320], b[320], c[320], d[320], e[320];
  for (int i = 0; i < 320; i++)
    a[i] = (float)(i % 50) - 20;   /* small integers: exact with or without FMA */
  for (int share = 0; share < 2; share++) {
    cg_options o = {.no_share_kernels = !share};
    kir_func *f = chain(share ? "chain_shared" : "chain_apart", flags);
    cr_assert_eq(loop_fns(f, &o), share ? 2 : 4);
    memset(e, 0, sizeof e);
    compile(f, &o)((void *[]){a, b, c, d, e});
    for (int i = 0; i < 320; i++) {
      float w = a[i] * 2 + 1;
      w = w * 2 + 1;
      w = w * 2 + 1;
      cr_assert_eq(e[i], w * 3 + 1, "i %d share %d", i, share);
    }
    kir_free(f);
  }
}

Test(share, serial_identical_kernels_share_a_function) { check_chain(0); }
Test(share, parallel_identical_kernels_share_a_function) { check_chain(KIR_PAR); }

/* Same shape and opcodes, one difference each: none of them is shared. */
Test(share, any_structural_difference_keeps_kernels_apart) {
  int64_t n = 64, m = 32;
  kir_func *f = kir_new("apart", 4);
  int A = kir_buffer(f, "a", KIR_F32, 0, 0, n), B = kir_buffer(f, "b", KIR_F32, 1, 0, n);
  int I = kir_buffer(f, "i", KIR_I32, 2, 0, n), S = kir_buffer(f, "s", KIR_F32, 3, 0, 2 * n);
  kir_index x = kir_index_bcast(1, 1, &n), half = kir_index_bcast(1, 1, &m);
  kir_index rev = {.offset = n - 1, .stride = {-1}}, off = {.offset = 1, .stride = {1}};
  int one = kir_const(f, KIR_F32, 1);
  kir_loop(f, "base", 1, &n, NULL);   /* b = a + 1 */
  kir_store_to(f, B, x, kir_op2(f, SC_ADD, kir_load(f, A, x), one), KIR_RED_NONE, -1);
  kir_loop(f, "other_const", 1, &n, NULL);
  kir_store_to(f, B, x, kir_op2(f, SC_ADD, kir_load(f, A, x), kir_const(f, KIR_F32, 2)), KIR_RED_NONE, -1);
  kir_loop(f, "reversed", 1, &n, NULL);
  kir_store_to(f, B, x, kir_op2(f, SC_ADD, kir_load(f, A, rev), one), KIR_RED_NONE, -1);
  kir_loop(f, "shorter", 1, &m, NULL);
  kir_store_to(f, B, half, kir_op2(f, SC_ADD, kir_load(f, A, half), one), KIR_RED_NONE, -1);
  kir_loop(f, "int", 1, &n, NULL);
  kir_store_to(f, I, x, kir_op2(f, SC_ADD, kir_load(f, I, x), kir_const(f, KIR_I32, 1)), KIR_RED_NONE, -1);
  kir_loop(f, "aliased", 1, &n, NULL);   /* s[i] = s[i + 1] + 1 through two overlapping views */
  int S2 = kir_buffer(f, "s_hi", KIR_F32, 3, 1, n);
  kir_store_to(f, S, x, kir_op2(f, SC_ADD, kir_load(f, S2, x), one), KIR_RED_NONE, -1);
  kir_loop(f, "offset", 1, &n, NULL);   /* reads a[i + 1]: an index offset */
  kir_store_to(f, B, x, kir_op2(f, SC_ADD, kir_load(f, S, off), one), KIR_RED_NONE, -1);
  cr_assert_eq(loop_fns(f, NULL), 7);
  kir_free(f);
}

/* Expressions used twice (a DAG) and reductions: equal ones shared, sum and max apart. */
Test(share, shared_subexpressions_and_reductions) {
  int64_t ext[2] = {6, 50}, n = 300;
  int fl[2] = {KIR_PAR, KIR_RED};
  kir_func *f = kir_new("dag", 4);
  int A = kir_buffer(f, "a", KIR_F32, 0, 0, n), B = kir_buffer(f, "b", KIR_F32, 1, 0, n);
  int S = kir_buffer(f, "s", KIR_F32, 2, 0, 6), T = kir_buffer(f, "t", KIR_F32, 3, 0, 6);
  kir_index x = kir_index_bcast(2, 2, ext), row = {.stride = {1, 0}};
  for (int k = 0; k < 2; k++) {   /* s = rowsum(a*a + a*a), t = rowsum(b*b + b*b) */
    kir_loop(f, "sumsq", 2, ext, fl);
    int l = kir_load(f, k ? B : A, x), sq = kir_op2(f, SC_MUL, l, l);
    kir_store_to(f, k ? T : S, row, kir_op2(f, SC_ADD, sq, sq), KIR_RED_SUM, -1);
  }
  kir_loop(f, "summax", 2, ext, fl);   /* the same with max: apart */
  int l = kir_load(f, B, x), sq = kir_op2(f, SC_MUL, l, l);
  kir_store_to(f, T, row, kir_op2(f, SC_ADD, sq, sq), KIR_RED_MAX, -1);
  cr_assert_eq(loop_fns(f, NULL), 2);
  float a[300], b[300], s[6], t[6];
  for (int i = 0; i < 300; i++)
    a[i] = (float)(i % 7) - 3, b[i] = (float)(i % 5);
  compile(f, NULL)((void *[]){a, b, s, t});
  for (int r = 0; r < 6; r++) {
    float ws = 0, wt = 0;
    for (int j = 0; j < 50; j++) {
      float sa = a[r * 50 + j] * a[r * 50 + j] * 2, sb = b[r * 50 + j] * b[r * 50 + j] * 2;
      ws += sa;
      wt = wt > sb ? wt : sb;
    }
    cr_assert_float_eq(s[r], ws, 1e-3, "row %d", r);
    cr_assert_eq(t[r], wt, "row %d", r);
  }
  kir_free(f);
}

/* Two repeats with the same body over different buffers (two unrolled scans): one
 * function, and each step still sees its own t. */
Test(share, kernels_in_repeats_are_shared_and_see_t) {
  int64_t c = 16;
  kir_func *f = kir_new("reps", 2);
  int X = kir_buffer(f, "x", KIR_F32, 0, 0, 4 * c), Y = kir_buffer(f, "y", KIR_F32, 1, 0, 4 * c);
  for (int k = 0; k < 2; k++) {
    int r = kir_repeat(f, "steps", 4, k);
    kir_loop(f, "scale", 1, &c, NULL);   /* buf[t] = (buf[t] + 1) * (t + 1) */
    kir_index bt = {.stride = {1}, .tstride = c};
    int tv = kir_cast(f, KIR_F32, kir_affine(f, (kir_index){.tstride = 1}));
    int v = kir_op2(f, SC_MUL, kir_op2(f, SC_ADD, kir_load(f, k ? Y : X, bt), kir_const(f, KIR_F32, 1)),
                    kir_op2(f, SC_ADD, tv, kir_const(f, KIR_F32, 1)));
    kir_store_to(f, k ? Y : X, bt, v, KIR_RED_NONE, -1);
    kir_repeat_end(f, r);
  }
  cr_assert_eq(loop_fns(f, NULL), 1);
  float x[64] = {0}, y[64] = {0};
  compile(f, NULL)((void *[]){x, y});
  for (int i = 0; i < 64; i++) {
    cr_assert_eq(x[i], (float)(i / 16 + 1), "x %d", i);
    cr_assert_eq(y[i], (float)(i / 16 + 1), "y %d", i);
  }
  kir_free(f);
}

/* Random draws that differ only in their stream (MC-dropout masks) share a function, the
 * stream passed as an argument: serial and parallel, the same numbers as unshared. */
static kir_func *draws(const char *name, int flags) {
  int64_t ext[2] = {4, 40}, n = 160;
  int fl[2] = {flags, 0};
  kir_func *f = kir_new(name, 5);
  int S = kir_buffer(f, "seed", KIR_I64, 0, 0, 1);
  const int64_t streams[4] = {5, 6, 7, 5};
  for (int k = 0; k < 4; k++) {
    int O = kir_buffer(f, "o", KIR_F32, 1 + k, 0, n);
    kir_loop(f, "draw", 2, ext, fl);
    kir_index x = kir_index_bcast(2, 2, ext);
    int u = kir_rt(f, KIR_RT_UNIFORM, kir_load(f, S, kir_index_zero()), kir_affine(f, (kir_index){.offset = streams[k]}),
                   kir_affine(f, x));
    kir_store_to(f, O, x, kir_op2(f, SC_MUL, u, kir_const(f, KIR_F32, 2)), KIR_RED_NONE, -1);
  }
  return f;
}

static void check_draws(int flags) {
  float o[2][4][160];
  int64_t seed = 42;
  for (int share = 0; share < 2; share++) {
    cg_options opt = {.no_share_kernels = !share};
    kir_func *f = draws(share ? "draws_shared" : "draws_apart", flags);
    cr_assert_eq(loop_fns(f, &opt), share ? 1 : 4);
    compile(f, &opt)((void *[]){&seed, o[share][0], o[share][1], o[share][2], o[share][3]});
    kir_free(f);
  }
  cr_assert_eq(memcmp(o[0], o[1], sizeof o[0]), 0, "shared draws differ from unshared ones");
  cr_assert_eq(memcmp(o[1][0], o[1][3], sizeof o[1][0]), 0, "the same stream, other numbers");
  cr_assert_neq(memcmp(o[1][0], o[1][1], sizeof o[1][0]), 0, "two streams, the same numbers");
}

Test(share, random_streams_are_arguments_serial) { check_draws(0); }
Test(share, random_streams_are_arguments_parallel) { check_draws(KIR_PAR); }

/* The widest kernel (64 buffers) with random streams: its parameters fit (pointers,
 * begin, end, t, streams), twice, serial, the copies shared. */
Test(share, widest_kernel_with_streams) {
  int64_t n = 8;
  kir_func *f = kir_new("wide", 65);
  int S = kir_buffer(f, "seed", KIR_I64, 0, 0, 1), B[63];
  for (int i = 0; i < 63; i++)
    B[i] = kir_buffer(f, "b", KIR_F32, 1 + i, 0, n);
  int O[2] = {kir_buffer(f, "o0", KIR_F32, 64, 0, n), kir_buffer(f, "o1", KIR_F32, 64, 0, n)};
  for (int k = 0; k < 2; k++) {
    kir_loop(f, "wide", 1, &n, NULL);
    kir_index x = kir_index_bcast(1, 1, &n);
    int v = kir_rt(f, KIR_RT_UNIFORM, kir_load(f, S, kir_index_zero()), kir_affine(f, (kir_index){.offset = 9 + k}),
                   kir_affine(f, x));
    for (int i = 0; i < 62; i++)
      v = kir_op2(f, SC_ADD, v, kir_load(f, B[i], x));
    kir_store_to(f, O[k], x, v, KIR_RED_NONE, -1);
  }
  cr_assert_eq(loop_fns(f, NULL), 1);
  static float bufs[63][8], o[8];
  int64_t seed = 1;
  void *slots[65] = {&seed};
  for (int i = 0; i < 63; i++)
    slots[1 + i] = bufs[i];
  slots[64] = o;
  compile(f, NULL)(slots);
  cr_assert(o[0] > 0 && o[0] < 1, "%g", o[0]);
  kir_free(f);
}
