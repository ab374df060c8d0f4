/* test_bptt_dp.c — the BPTT DPs (compiler/bptt_plan.c) against oracles written apart from
 * them: a shortest-path search over every schedule of a general checkpointing model
 * (T <= 10, m <= 6, alpha <= 4), Griewank's closed form (HSM), and the properties MSM must have. */
#include "bptt.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

/* ---- brute force -------------------------------------------------------------------
 * A state of the general model: n = steps 1..n still to reverse; register = h_c (c = NONE
 * when useless) plus internal_c when k; H = stored hidden states (bit p: h_p; h_0 always
 * held); I = stored internal states (bit q-1: internal_q). Memory |H| + alpha |I| <= m.
 * Moves: forward (cost 1), save, restore, free, backward (needs internal_n in I or in the
 * register). No stack discipline, no fixed split: any order of moves is allowed. */
#define NONE 15
#define MAXC 64

typedef struct { uint32_t key; uint16_t gen; uint8_t dist; } bf_entry;
typedef struct { uint32_t *v; size_t n, cap; } bf_bucket;

typedef struct {
  bf_entry *map;
  uint32_t mask;
  uint16_t gen;
  bf_bucket b[MAXC];
  int alpha, m, hidden_ok, internal_ok;
} bf;

static uint32_t enc(int n, int c, int k, uint32_t H, uint32_t I) {
  return (uint32_t)n | (uint32_t)c << 4 | (uint32_t)k << 8 | H << 9 | I << 19;
}

/* Drops what can no longer be used: h_p with p >= n, internal_q with q > n, a register
 * that is at or beyond n (unless it holds internal_n). */
static uint32_t canon(int n, int c, int k, uint32_t H, uint32_t I) {
  H &= (1u << n) - 1u;
  H |= 1u;
  I &= (1u << n) - 1u;
  if (c != NONE && (c > n || (c == n && !k))) c = NONE;
  if (c == NONE) k = 0;
  return enc(n, c, k, H, I);
}

static bf_entry *slot(bf *s, uint32_t key) {
  uint32_t h = (key * 2654435761u) & s->mask;
  while (s->map[h].gen == s->gen && s->map[h].key != key) h = (h + 1) & s->mask;
  return &s->map[h];
}

static void relax(bf *s, uint32_t key, int d) {
  bf_entry *e = slot(s, key);
  if (e->gen == s->gen && e->dist <= d) return;
  cr_assert_lt(d, MAXC);
  *e = (bf_entry){key, s->gen, (uint8_t)d};
  bf_bucket *b = &s->b[d];
  if (b->n == b->cap) {
    b->cap = b->cap ? 2 * b->cap : 1024;
    b->v = realloc(b->v, b->cap * sizeof *b->v);
    cr_assert_not_null(b->v);
  }
  b->v[b->n++] = key;
}

static void expand(bf *s, uint32_t key, int d) {
  int n = key & 15, c = key >> 4 & 15, k = key >> 8 & 1;
  uint32_t H = key >> 9 & 1023, I = key >> 19 & 1023;
  int mem = __builtin_popcount(H) + s->alpha * __builtin_popcount(I);
  if (c != NONE && c < n) relax(s, canon(n, c + 1, 1, H, I), d + 1);
  if (s->hidden_ok && c != NONE && c < n && !(H >> c & 1) && mem + 1 <= s->m)
    relax(s, canon(n, c, k, H | 1u << c, I), d);
  if (s->internal_ok && c != NONE && c >= 1 && k && !(I >> (c - 1) & 1) && mem + s->alpha <= s->m)
    relax(s, canon(n, c, k, H, I | 1u << (c - 1)), d);
  for (int p = 0; p < 10; p++) {
    if (H >> p & 1) relax(s, canon(n, p, 0, H, I), d);
    if (H >> p & 1 && p > 0) relax(s, canon(n, c, k, H & ~(1u << p), I), d);
    if (I >> p & 1) relax(s, canon(n, p + 1, 1, H, I), d);
    if (I >> p & 1) relax(s, canon(n, c, k, H, I & ~(1u << p)), d);
  }
  if (n >= 1 && ((I >> (n - 1) & 1) || (c == n && k)))
    relax(s, canon(n - 1, c, k, H, I & ~(1u << (n - 1))), d);
}

/* Fewest forward ops that reverse T steps in the general model (Dial's buckets). */
static int brute(bf *s, int T, int m, int alpha, int hidden_ok, int internal_ok) {
  s->gen++;
  s->m = m, s->alpha = alpha, s->hidden_ok = hidden_ok, s->internal_ok = internal_ok;
  for (int d = 0; d < MAXC; d++) s->b[d].n = 0;
  relax(s, canon(T, 0, 0, 1u, 0u), 0);
  for (int d = 0; d < MAXC; d++)
    for (size_t i = 0; i < s->b[d].n; i++) {
      uint32_t key = s->b[d].v[i];
      if (slot(s, key)->dist != d) continue;   /* stale */
      if ((key & 15) == 0) return d;
      expand(s, key, d);
    }
  return -1;
}

static bf *bf_new(void) {
  bf *s = calloc(1, sizeof *s);
  s->mask = (1u << 22) - 1u;
  s->map = calloc((size_t)s->mask + 1, sizeof *s->map);
  cr_assert(s->map);
  return s;
}

static void bf_free(bf *s) {
  for (int d = 0; d < MAXC; d++) free(s->b[d].v);
  free(s->map);
  free(s);
}

/* ---- DP vs brute force ------------------------------------------------------------- */

static void check_dp_vs_brute(bp_policy p, int alpha) {
  bf *s = bf_new();
  bp_ctx *c = bp_ctx_new();
  for (int T = 0; T <= 10; T++)
    for (int m = 1; m <= 6; m++) {
      int64_t dp;
      cr_assert_eq(bp_dp_lookup(c, p, T, m, alpha, &dp, NULL, NULL), BP_OK, "%s", bp_errmsg(c));
      int want = brute(s, T, m, alpha, p != BP_ISM, p != BP_HSM);
      cr_expect_eq(dp, want, "%s T=%d m=%d alpha=%d: DP %lld, brute force %d",
                   bp_policy_name(p), T, m, alpha, (long long)dp, want);
    }
  bp_ctx_free(c);
  bf_free(s);
}

Test(bptt_dp, brute_force_sanity) {
  bf *s = bf_new();
  cr_expect_eq(brute(s, 3, 1, 1, 1, 1), 6, "only h_0: 3 + 2 + 1");
  cr_expect_eq(brute(s, 4, 9, 2, 0, 1), 4, "every internal state fits");
  cr_expect_eq(brute(s, 4, 9, 2, 1, 0), 7, "hidden states only: 2T - 1");
  cr_expect_eq(brute(s, 0, 1, 1, 1, 1), 0);
  bf_free(s);
}

Test(bptt_dp, hsm_equals_brute_force) { check_dp_vs_brute(BP_HSM, 1); }
Test(bptt_dp, ism_equals_brute_force_alpha1) { check_dp_vs_brute(BP_ISM, 1); }
Test(bptt_dp, ism_equals_brute_force_alpha2) { check_dp_vs_brute(BP_ISM, 2); }
Test(bptt_dp, ism_equals_brute_force_alpha3) { check_dp_vs_brute(BP_ISM, 3); }
Test(bptt_dp, ism_equals_brute_force_alpha4) { check_dp_vs_brute(BP_ISM, 4); }
Test(bptt_dp, msm_equals_brute_force_alpha1) { check_dp_vs_brute(BP_MSM, 1); }
Test(bptt_dp, msm_equals_brute_force_alpha2) { check_dp_vs_brute(BP_MSM, 2); }
Test(bptt_dp, msm_equals_brute_force_alpha3) { check_dp_vs_brute(BP_MSM, 3); }
Test(bptt_dp, msm_equals_brute_force_alpha4) { check_dp_vs_brute(BP_MSM, 4); }

/* ---- HSM vs Griewank's closed form ------------------------------------------------- */

/* binom(n, k) by Pascal's rule: independent of bp_revolve_cost's product formula. */
static int64_t pascal(int n, int k) {
  static int64_t tab[64][64];   /* binom(63, 31) < 2^63 */
  if (!tab[0][0])
    for (int i = 0; i < 64; i++)
      for (int j = 0; j <= i; j++) tab[i][j] = j == 0 || j == i ? 1 : tab[i - 1][j - 1] + tab[i - 1][j];
  cr_assert_lt(n, 64);
  return k < 0 || k > n ? 0 : tab[n][k];
}

/* p(l, s) + l, r the unique value with binom(s+r-1, s) < l <= binom(s+r, s). */
static int64_t griewank(int l, int s) {
  if (l == 0) return 0;
  int r = 0;
  while (pascal(s + r, s) < l) r++;
  return (int64_t)r * l - pascal(s + r, s + 1) + l;
}

Test(bptt_dp, hsm_equals_closed_form) {
  bp_ctx *c = bp_ctx_new();
  for (int T = 0; T < 60; T++)
    for (int m = 1; m < 16; m++) {
      int64_t dp;
      cr_assert_eq(bp_dp_lookup(c, BP_HSM, T, m, 1, &dp, NULL, NULL), BP_OK);
      cr_expect_eq(dp, griewank(T, m), "T=%d m=%d: DP %lld, closed form %lld", T, m,
                   (long long)dp, (long long)griewank(T, m));
      cr_expect_eq(bp_revolve_cost(T, m), griewank(T, m), "T=%d m=%d", T, m);
    }
  bp_ctx_free(c);
}

/* compiler-techniques.md §1.3: HSM at T = 1000, forward ops / T to two decimals. */
Test(bptt_dp, hsm_thousand_steps_table) {
  static const int m[] = {2, 5, 10, 20, 32, 50, 100, 200, 500, 1000};
  static const double ratio[] = {29.8, 7.28, 4.64, 3.75, 3.41, 2.95, 2.90, 2.80, 2.50, 2.00};
  for (int i = 0; i < 10; i++) {
    /* the table's three significant digits: |C - 1000 ratio| <= half a unit of the last */
    int64_t got = bp_revolve_cost(1000, m[i]), want = (int64_t)(ratio[i] * 1000 + 0.5);
    int64_t half = ratio[i] >= 10 ? 50 : 5;
    cr_expect(got >= want - half && got <= want + half, "m=%d: C = %lld, want %g T", m[i],
              (long long)got, ratio[i]);
  }
}

/* ---- MSM's properties ---------------------------------------------------------------- */

static int64_t cost_of(bp_ctx *c, bp_policy p, int T, int m, int alpha) {
  int64_t v = -1;
  cr_assert_eq(bp_dp_lookup(c, p, T, m, alpha, &v, NULL, NULL), BP_OK, "%s", bp_errmsg(c));
  return v;
}

Test(bptt_dp, msm_dominates_and_is_monotone) {
  bp_ctx *c = bp_ctx_new();
  for (int alpha = 1; alpha <= 4; alpha++)
    for (int T = 1; T <= 60; T++) {
      int64_t prev = INT64_MAX;
      for (int m = 1; m <= 1 + alpha * T + 2; m++) {
        int64_t h = cost_of(c, BP_HSM, T, m, alpha), i = cost_of(c, BP_ISM, T, m, alpha);
        int64_t x = cost_of(c, BP_MSM, T, m, alpha);
        cr_expect_leq(x, h, "T=%d m=%d alpha=%d", T, m, alpha);
        cr_expect_leq(x, i, "T=%d m=%d alpha=%d", T, m, alpha);
        cr_expect_leq(x, prev, "MSM grows with m: T=%d m=%d alpha=%d", T, m, alpha);
        cr_expect_geq(x, T);
        prev = x;
      }
      cr_expect_eq(cost_of(c, BP_MSM, T, 1 + alpha * T, alpha), T);
      cr_expect_eq(cost_of(c, BP_MSM, T, 1 + alpha * (T - 1), alpha), T);
      if (T >= 2) cr_expect_gt(cost_of(c, BP_MSM, T, alpha * (T - 1), alpha), T);
    }
  bp_ctx_free(c);
}

/* The notes' T = 100, alpha = 4 comparison: MSM beats both pure forms at tight budgets. */
Test(bptt_dp, msm_beats_pure_forms_when_tight) {
  bp_ctx *c = bp_ctx_new();
  int m = 40;   /* 10 % of store-all (1 + 4 * 100) */
  int64_t h = cost_of(c, BP_HSM, 100, m, 4), i = cost_of(c, BP_ISM, 100, m, 4);
  int64_t x = cost_of(c, BP_MSM, 100, m, 4);
  cr_expect_lt(x, h);
  cr_expect_lt(x, i);
  bp_ctx_free(c);
}
