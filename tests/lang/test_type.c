/* test_type.c — symbolic dimensions (canonical polynomials), type printing, numpy
 * broadcasting and the matmul shape rule (lang/type.c), and the built-in table's
 * signatures (lang/builtins.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "check.h"

static Lang *L;

static void setup(void) {
  L = lang_new(NULL);
  cr_assert_not_null(L);
}

static void teardown(void) {
  lang_free(L);
}

TestSuite(type, .init = setup, .fini = teardown);

static Dim *S(const char *n) {
  return dim_sym(L, lang_intern(L, n, strlen(n)));
}

static Dim *K(int64_t v) {
  return dim_const(L, v);
}

static const char *P(const Dim *d) {
  static char buf[8][128];
  static int k;
  k = (k + 1) % 8;
  dim_print(d, buf[k], sizeof buf[k]);
  return buf[k];
}

Test(type, dim_canonical_order) {
  Dim *a = dim_mul(L, S("hidden"), K(4)), *b = dim_mul(L, K(4), S("hidden"));
  cr_assert(dim_equal(a, b));
  cr_assert_str_eq(P(a), "4*hidden");
  Dim *c = dim_mul(L, K(2), dim_add(L, S("h"), K(1)));
  Dim *d = dim_add(L, dim_mul(L, S("h"), K(2)), K(2));
  cr_assert(dim_equal(c, d));
  cr_assert_str_eq(P(c), "2*h + 2");
}

Test(type, dim_subtraction_prints_minus) {
  cr_assert_str_eq(P(dim_sub(L, S("T"), K(1))), "T - 1");
  cr_assert_str_eq(P(dim_sub(L, K(1), S("T"))), "-T + 1");
  Dim *z = dim_sub(L, S("T"), S("T"));
  int64_t v = 7;
  cr_assert(dim_is_const(z, &v));
  cr_assert_eq(v, 0);
  cr_assert_str_eq(P(z), "0");
}

Test(type, dim_products_of_symbols) {
  Dim *ab = dim_mul(L, S("a"), S("b")), *ba = dim_mul(L, S("b"), S("a"));
  cr_assert(dim_equal(ab, ba));
  cr_assert_str_eq(P(ab), "a*b");
  Dim *sq = dim_mul(L, dim_add(L, S("x"), K(1)), dim_add(L, S("x"), K(1)));
  cr_assert_str_eq(P(sq), "x*x + 2*x + 1");
  cr_assert(!dim_equal(sq, dim_add(L, S("x"), K(1))));
}

Test(type, dim_division_exact_or_opaque) {
  int64_t v;
  cr_assert(dim_is_const(dim_div(L, K(24), K(2)), &v));
  cr_assert_eq(v, 12);
  cr_assert(dim_is_const(dim_div(L, K(7), K(2)), &v));
  cr_assert_eq(v, 3, "constants divide with floor");
  Dim *q = dim_div(L, dim_mul(L, K(4), S("h")), K(4));
  cr_assert(dim_equal(q, S("h")));
  Dim *p = dim_div(L, dim_add(L, dim_mul(L, K(2), S("h")), K(2)), dim_add(L, S("h"), K(1)));
  cr_assert(dim_is_const(p, &v) && v == 2, "multiple of the divisor: %s", P(p));
  Dim *o = dim_div(L, S("h"), K(2));
  cr_assert(!dim_is_const(o, NULL));
  cr_assert_str_eq(P(o), "h/2");
  cr_assert(dim_equal(o, dim_div(L, S("h"), K(2))), "equal opaque quotients compare equal");
  cr_assert_str_eq(P(dim_div(L, dim_sub(L, S("H"), K(5)), K(2))), "(H - 5)/2");
}

Test(type, dim_substitution) {
  const char *names[2] = {lang_intern(L, "h", 1), lang_intern(L, "H", 1)};
  Dim *vals[2] = {K(3), K(9)};
  int64_t v;
  Dim *d = dim_subst(L, dim_add(L, dim_mul(L, K(4), S("h")), K(1)), 2, names, vals);
  cr_assert(dim_is_const(d, &v) && v == 13);
  Dim *o = dim_div(L, dim_sub(L, S("H"), K(5)), K(2));
  cr_assert(dim_is_const(dim_subst(L, o, 2, names, vals), &v) && v == 2, "opaque quotient divides again");
  Dim *s = dim_solve(L, dim_add(L, S("T"), K(1)), lang_intern(L, "T", 1), K(10));
  cr_assert(s && dim_is_const(s, &v) && v == 9);
}

static Type *T2(DType dt, Dim *a, Dim *b) {
  Dim *d[2] = {a, b};
  return type_tensor(L, dt, 2, d);
}

Test(type, printing) {
  char buf[128];
  Dim *d[3] = {S("B"), S("T"), K(128)};
  type_print(type_tensor(L, DT_F32, 3, d), buf, sizeof buf);
  cr_assert_str_eq(buf, "f32[B, T, 128]");
  Type *h = T2(DT_F32, S("B"), S("H"));
  Type *el[2] = {h, h};
  type_print(type_tuple(L, 2, el), buf, sizeof buf);
  cr_assert_str_eq(buf, "(f32[B, H], f32[B, H])");
  type_print(type_scalar_t(L, DT_I32), buf, sizeof buf);
  cr_assert_str_eq(buf, "i32[]");
  type_print(type_int(L, K(3)), buf, sizeof buf);
  cr_assert_str_eq(buf, "int");
  cr_assert_eq(type_print(h, buf, 4), 9, "returns the full length when truncated");
  cr_assert_str_eq(buf, "f32");
}

Test(type, broadcasting) {
  Type *out;
  Dim *one[1] = {S("D")};
  cr_assert(type_broadcast(L, T2(DT_F32, S("B"), S("D")), type_tensor(L, DT_F32, 1, one), &out));
  cr_assert_str_eq(type_str_of(out), "f32[B, D]");
  cr_assert(type_broadcast(L, T2(DT_F32, S("B"), K(1)), T2(DT_F32, K(1), K(5)), &out));
  cr_assert_str_eq(type_str_of(out), "f32[B, 5]");
  cr_assert(!type_broadcast(L, T2(DT_F32, S("B"), K(128)), T2(DT_F32, S("B"), K(256)), &out));
  cr_assert(type_broadcast(L, type_scalar_t(L, DT_F32), T2(DT_F32, S("B"), K(3)), &out));
  cr_assert_eq(out->rank, 2);
}

Test(type, matmul_rule) {
  Type *out;
  char why[256];
  cr_assert(type_matmul(L, T2(DT_F32, S("B"), K(784)), T2(DT_F32, K(784), K(256)), &out, why, sizeof why));
  cr_assert_str_eq(type_str_of(out), "f32[B, 256]");
  cr_assert(!type_matmul(L, T2(DT_F32, S("B"), K(256)), T2(DT_F32, K(128), K(10)), &out, why, sizeof why));
  cr_assert_str_eq(why, "matmul: inner dimensions differ: f32[B, 256] @ f32[128, 10] (256 vs 128)");
  Dim *v[1] = {K(784)};
  cr_assert(type_matmul(L, T2(DT_F32, S("B"), K(784)), type_tensor(L, DT_F32, 1, v), &out, why, sizeof why));
  cr_assert_str_eq(type_str_of(out), "f32[B]", "a 1-D right operand drops its axis");
  Dim *b3[3] = {S("N"), S("M"), S("K")}, *w3[3] = {K(1), S("K"), S("P")};
  cr_assert(type_matmul(L, type_tensor(L, DT_F32, 3, b3), type_tensor(L, DT_F32, 3, w3), &out, why, sizeof why));
  cr_assert_str_eq(type_str_of(out), "f32[N, M, P]", "batch dims broadcast");
}

Test(type, builtin_signatures) {
  const Builtin *s = bi_find("sum");
  cr_assert_not_null(s);
  cr_assert_eq(s->nparams, 3);
  cr_assert_str_eq(s->params[1].name, "axis");
  cr_assert_str_eq(s->params[1].deflt, "None");
  const Builtin *f = bi_find("full");
  cr_assert_eq(f->variadic, 0);
  cr_assert_str_eq(f->params[1].name, "value");
  cr_assert_null(f->params[1].deflt);
  cr_assert_null(bi_find("no_such_op"));
  for (int i = 0; i < bi_count(); i++) {
    const Builtin *b = bi_at(i);
    cr_assert(b->nparams >= 1 && b->rule, "%s has a signature and a rule", b->name);
  }
}
