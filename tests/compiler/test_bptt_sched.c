/* test_bptt_sched.c — schedules of every BPTT policy (compiler/bptt_plan.c): the abstract
 * executor's counts against the predicted costs, slots within the budget, a toy RNN whose
 * gradients must be bitwise the same under every policy, and broken schedules rejected. */
#include "bptt.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const bp_policy all[] = {BP_STORE_ALL, BP_REVOLVE, BP_SQRT, BP_HSM, BP_ISM, BP_MSM};
#define NPOL (sizeof all / sizeof all[0])

/* Builds and simulates p(T, m, alpha) and checks it against bp_cost; 0 if p cannot run. */
static int check_one(bp_ctx *c, bp_policy p, int T, int m, int alpha) {
  if (m < bp_min_slots(p, T, alpha)) {
    int64_t cost;
    cr_expect_eq(bp_cost(c, p, T, m, alpha, &cost), BP_ERR_BUDGET);
    return 0;
  }
  bp_schedule s;
  bp_sim_stats st;
  int64_t cost = -1;
  cr_assert_eq(bp_cost(c, p, T, m, alpha, &cost), BP_OK, "%s", bp_errmsg(c));
  cr_assert_eq(bp_schedule_build(c, p, T, m, alpha, &s), BP_OK, "%s", bp_errmsg(c));
  cr_assert_eq(bp_simulate(c, &s, &st), BP_OK, "%s T=%d m=%d alpha=%d: %s", bp_policy_name(p),
               T, m, alpha, bp_errmsg(c));
  cr_expect_eq(st.forwards, cost, "%s T=%d m=%d alpha=%d: ran %lld forward steps, cost %lld",
               bp_policy_name(p), T, m, alpha, (long long)st.forwards, (long long)cost);
  cr_expect_eq(st.forwards, s.forwards);
  cr_expect_leq(st.peak_units, m, "%s T=%d m=%d alpha=%d", bp_policy_name(p), T, m, alpha);
  cr_expect_eq(st.peak_units, s.peak_units);
  cr_expect_eq(st.backwards, T);
  for (size_t i = 1; i < s.n; i++)   /* so RESTORE may read a slot in place (docs/bptt.md) */
    if (s.acts[i].op == BP_SAVE_HIDDEN || s.acts[i].op == BP_SAVE_INTERNAL)
      cr_assert_eq(s.acts[i - 1].op, BP_FORWARD, "%s T=%d m=%d: action %zu", bp_policy_name(p),
                   T, m, i);
  bp_schedule_free(&s);
  return 1;
}

static void check_all_T(bp_policy p, int alpha) {
  bp_ctx *c = bp_ctx_new();
  int ran = 0;
  for (int T = 200; T >= 0; T--) {   /* largest first: one table serves every T */
    int ms[] = {1 + alpha * (T > 0 ? T - 1 : 0), 40, 16, 9, 6, 4, 3, 2, 1};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) ran += check_one(c, p, T, ms[i], alpha);
  }
  cr_expect_gt(ran, 200, "%s ran in only %d cases", bp_policy_name(p), ran);
  cr_expect_eq(bp_revolve_fallbacks(c), 0, "revolve's binomial split rule missed");
  if (p == BP_HSM || p == BP_ISM || p == BP_MSM) cr_expect_leq(bp_tables_built(c), 1);
  bp_ctx_free(c);
}

Test(bptt_sched, store_all) { check_all_T(BP_STORE_ALL, 1); check_all_T(BP_STORE_ALL, 3); }
Test(bptt_sched, revolve) { check_all_T(BP_REVOLVE, 1); }
Test(bptt_sched, sqrt) { check_all_T(BP_SQRT, 1); check_all_T(BP_SQRT, 3); }
Test(bptt_sched, hsm) { check_all_T(BP_HSM, 1); }
Test(bptt_sched, ism_alpha1) { check_all_T(BP_ISM, 1); }
Test(bptt_sched, ism_alpha3) { check_all_T(BP_ISM, 3); }
Test(bptt_sched, msm_alpha1) { check_all_T(BP_MSM, 1); }
Test(bptt_sched, msm_alpha3) { check_all_T(BP_MSM, 3); }

/* revolve (closed form, no table) and the HSM DP reach the same cost. */
Test(bptt_sched, revolve_equals_hsm) {
  bp_ctx *c = bp_ctx_new();
  for (int T = 120; T >= 0; T--)
    for (int m = 1; m <= 24; m++) {
      int64_t r, h;
      cr_assert_eq(bp_cost(c, BP_REVOLVE, T, m, 1, &r), BP_OK);
      cr_assert_eq(bp_cost(c, BP_HSM, T, m, 1, &h), BP_OK);
      cr_expect_eq(r, h, "T=%d m=%d", T, m);
    }
  bp_ctx_free(c);
}

/* A long chain needs no table for revolve and stays shallow (recursion depth <= m). */
Test(bptt_sched, revolve_long_chain) {
  bp_ctx *c = bp_ctx_new();
  check_one(c, BP_REVOLVE, 20000, 12, 1);
  check_one(c, BP_REVOLVE, 3000, 400, 1);
  cr_expect_eq(bp_tables_built(c), 0);
  cr_expect_eq(bp_revolve_fallbacks(c), 0);
  bp_ctx_free(c);
}

/* The MSM move that drops a pushed checkpoint once internal_{s+1} is stored: T=7, m=4,
 * alpha=3 costs 13 with it, 14 without (brute force agrees with 13). */
Test(bptt_sched, msm_convert_move) {
  bp_ctx *c = bp_ctx_new();
  bp_schedule s;
  bp_sim_stats st;
  cr_assert_eq(bp_schedule_build(c, BP_MSM, 7, 4, 3, &s), BP_OK);
  cr_assert_eq(bp_simulate(c, &s, &st), BP_OK, "%s", bp_errmsg(c));
  cr_expect_eq(st.forwards, 13);
  int converts = 0;
  for (size_t i = 0; i + 2 < s.n; i++)
    converts += s.acts[i].op == BP_FREE && s.acts[i + 1].op == BP_FORWARD &&
                s.acts[i + 2].op == BP_SAVE_INTERNAL && s.acts[i + 2].slot == s.acts[i].slot &&
                s.acts[i].slot > 0;
  cr_expect_gt(converts, 0);
  bp_schedule_free(&s);
  bp_ctx_free(c);
}

/* ---- a toy RNN run by the schedule --------------------------------------------------
 * h_t = tanh(w h_{t-1} + u x_t), L = sum_t c_t h_t. The internal state of step t is
 * (t, h_{t-1}, h_t); backward checks that it got exactly the states of the reference
 * forward pass, then dz = (dh + c_t)(1 - h_t^2), dw += dz h_{t-1}, du += dz x_t,
 * dh = dz w. */
typedef struct { int kind, step; double hprev, h; } toy_slot;   /* kind: 0 free, 1 h, 2 i, 3 tail */
typedef struct { double dh, dw, du; } toy_grad;

static const double W = 0.9, U = 0.5;
static double xin(int t) { return sin(0.37 * t); }
static double coef(int t) { return cos(0.11 * t); }

static void toy_reference(int T, double *h) {
  h[0] = 0.25;
  for (int t = 1; t <= T; t++) h[t] = tanh(W * h[t - 1] + U * xin(t));
}

static void occupy(toy_slot *sl, int m, int u, int n, toy_slot v) {
  cr_assert(u >= 0 && u + n <= m, "slot %d..%d outside %d", u, u + n, m);
  for (int i = u; i < u + n; i++) {
    cr_assert_eq(sl[i].kind, 0, "unit %d overwritten", i);
    sl[i] = v;
    if (i > u) sl[i].kind = 3;
  }
}

static void release(toy_slot *sl, int u, int n) {
  for (int i = u; i < u + n; i++) sl[i].kind = 0;
}

static void toy_backward(toy_grad *g, int t, double hprev, double h, const double *ref) {
  cr_assert(hprev == ref[t - 1] && h == ref[t], "step %d got the wrong state", t);
  double dz = (g->dh + coef(t)) * (1 - h * h);
  g->dw += dz * hprev;
  g->du += dz * xin(t);
  g->dh = dz * W;
}

/* Runs s on the toy RNN; returns the gradients and the forward steps taken. */
static toy_grad toy_run(const bp_schedule *s, const double *ref, int64_t *forwards) {
  toy_slot *sl = calloc((size_t)s->m, sizeof *sl);
  toy_grad g = {0, 0, 0};
  int reg = 0, reg_int = 0;
  double h = ref[0], hprev = 0;
  int next = s->T;
  *forwards = 0;
  for (size_t i = 0; i < s->n; i++) {
    bp_action a = s->acts[i];
    int w = a.op == BP_SAVE_INTERNAL ? s->alpha : 1;
    switch (a.op) {
    case BP_FORWARD:
      cr_assert_eq(reg, a.step - 1);
      hprev = h, h = tanh(W * h + U * xin(a.step)), reg = a.step, reg_int = 1, ++*forwards;
      break;
    case BP_SAVE_HIDDEN:
    case BP_SAVE_INTERNAL:
      cr_assert(reg == a.step && (a.op == BP_SAVE_HIDDEN || reg_int));
      occupy(sl, s->m, a.slot, w, (toy_slot){a.op == BP_SAVE_HIDDEN ? 1 : 2, a.step, hprev, h});
      break;
    case BP_RESTORE:
      cr_assert(sl[a.slot].kind == 1 || sl[a.slot].kind == 2);
      cr_assert_eq(sl[a.slot].step, a.step);
      reg = a.step, reg_int = sl[a.slot].kind == 2, h = sl[a.slot].h, hprev = sl[a.slot].hprev;
      break;
    case BP_BACKWARD:
      cr_assert_eq(a.step, next);
      if (a.slot < 0) {
        cr_assert(reg == a.step && reg_int);
        toy_backward(&g, a.step, hprev, h, ref);
      } else {
        cr_assert(sl[a.slot].kind == 2 && sl[a.slot].step == a.step);
        toy_backward(&g, a.step, sl[a.slot].hprev, sl[a.slot].h, ref);
      }
      next--;
      break;
    case BP_FREE:
      cr_assert(sl[a.slot].kind == 1 || sl[a.slot].kind == 2);
      release(sl, a.slot, sl[a.slot].kind == 2 ? s->alpha : 1);
      break;
    }
  }
  cr_assert_eq(next, 0);
  free(sl);
  return g;
}

Test(bptt_sched, toy_gradients_identical) {
  bp_ctx *c = bp_ctx_new();
  static const int Ts[] = {1, 2, 7, 50, 123};
  static const int ms[] = {1, 2, 3, 5, 8, 20, 100};
  double ref[124];
  for (int a = 1; a <= 3; a += 2)
    for (size_t ti = 0; ti < sizeof Ts / sizeof Ts[0]; ti++) {
      int T = Ts[ti];
      toy_reference(T, ref);
      bp_schedule base;
      int64_t f;
      cr_assert_eq(bp_schedule_build(c, BP_STORE_ALL, T, 1 + a * T, a, &base), BP_OK);
      toy_grad want = toy_run(&base, ref, &f);
      cr_expect_eq(f, T);
      bp_schedule_free(&base);
      for (size_t p = 0; p < NPOL; p++)
        for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++) {
          bp_schedule s;
          if (ms[mi] < bp_min_slots(all[p], T, a)) continue;
          cr_assert_eq(bp_schedule_build(c, all[p], T, ms[mi], a, &s), BP_OK, "%s", bp_errmsg(c));
          toy_grad g = toy_run(&s, ref, &f);
          cr_expect_eq(f, s.forwards);
          cr_expect(memcmp(&g, &want, sizeof g) == 0, "%s T=%d m=%d alpha=%d: gradients differ",
                    bp_policy_name(all[p]), T, ms[mi], a);
          bp_schedule_free(&s);
        }
    }
  bp_ctx_free(c);
}

/* ---- the abstract executor rejects what is wrong -------------------------------------- */

static bp_schedule sample(bp_ctx *c) {
  bp_schedule s;
  cr_assert_eq(bp_schedule_build(c, BP_MSM, 20, 6, 2, &s), BP_OK);
  return s;
}

static size_t find_op(const bp_schedule *s, bp_op op, size_t from) {
  for (size_t i = from; i < s->n; i++)
    if (s->acts[i].op == op) return i;
  cr_assert_fail("no action %d after %zu", op, from);
  return 0;
}

static void expect_invalid(bp_ctx *c, bp_schedule *s, const char *what) {
  bp_sim_stats st;
  cr_expect_eq(bp_simulate(c, s, &st), BP_ERR_INVALID, "%s was accepted", what);
  cr_expect_gt(strlen(bp_errmsg(c)), 0);
  bp_schedule_free(s);
}

static void drop(bp_schedule *s, size_t i) {
  memmove(&s->acts[i], &s->acts[i + 1], (s->n - i - 1) * sizeof s->acts[0]);
  s->n--;
}

Test(bptt_sched, simulator_rejects_broken_schedules) {
  bp_ctx *c = bp_ctx_new();
  bp_schedule s = sample(c);
  bp_sim_stats st;
  cr_assert_eq(bp_simulate(c, &s, &st), BP_OK);
  drop(&s, find_op(&s, BP_FORWARD, 0));
  expect_invalid(c, &s, "a missing FORWARD");

  s = sample(c);
  size_t b1 = find_op(&s, BP_BACKWARD, 0), b2 = find_op(&s, BP_BACKWARD, b1 + 1);
  int step = s.acts[b1].step;
  s.acts[b1].step = s.acts[b2].step, s.acts[b2].step = step;
  expect_invalid(c, &s, "BACKWARDs out of order");

  s = sample(c);
  size_t f = s.n - 2;   /* the last FREE is h_0's; drop one before it */
  drop(&s, find_op(&s, BP_FREE, 0) < f ? find_op(&s, BP_FREE, 0) : f);
  expect_invalid(c, &s, "a missing FREE");

  s = sample(c);
  s.m = s.peak_units - 1;
  expect_invalid(c, &s, "more slots than m");

  s = sample(c);
  size_t sv = find_op(&s, BP_SAVE_HIDDEN, 1);
  s.acts[sv].slot = 0;   /* on top of h_0 */
  expect_invalid(c, &s, "a SAVE over a live slot");

  s = sample(c);
  size_t bw = find_op(&s, BP_BACKWARD, 0);
  s.acts[bw].slot = s.acts[bw].slot < 0 ? 0 : -1;
  expect_invalid(c, &s, "a BACKWARD without its internal state");
  bp_ctx_free(c);
}

/* m far beyond what T needs: tables and the executor stay at the size T needs. */
Test(bptt_sched, huge_m) {
  bp_ctx *c = bp_ctx_new();
  for (size_t p = 0; p < NPOL; p++) cr_expect_eq(check_one(c, all[p], 150, 1 << 30, 3), 1);
  int64_t cost;
  cr_assert_eq(bp_cost(c, BP_HSM, 150, 1 << 30, 3, &cost), BP_OK);
  cr_expect_eq(cost, 2 * 150 - 1);
  bp_ctx_free(c);
}
