/* test_bptt_budget.c — budget in bytes -> policy and slots, the table cache, names, the
 * --dump=bptt text and argument errors of the BPTT planner (compiler/bptt_plan.c). */
#include "bptt.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

/* A scan of T = 100 steps: carry 4 KiB, internal state 14 KiB (alpha = 4), fixed 1 MiB. */
static bp_budget scan100(uint64_t budget) {
  return (bp_budget){100, 4096, 14 * 1024, 1 << 20, budget};
}

Test(bptt_budget, below_minimum_names_it) {
  bp_ctx *c = bp_ctx_new();
  bp_choice ch;
  bp_budget b = scan100((1 << 20) + 4095);   /* not even h_0 fits */
  cr_expect_eq(bp_choose(c, &b, BP_ALL_POLICIES, &ch), BP_ERR_BUDGET);
  cr_expect(strstr(bp_errmsg(c), "1052672 bytes"), "message: %s", bp_errmsg(c));   /* 1 MiB + 4 KiB */
  b.budget_bytes = 1000;                     /* below the fixed part */
  cr_expect_eq(bp_choose(c, &b, BP_ALL_POLICIES, &ch), BP_ERR_BUDGET);
  cr_expect(strstr(bp_errmsg(c), "1052672 bytes"), "message: %s", bp_errmsg(c));
  bp_ctx_free(c);
}

Test(bptt_budget, forced_policy_minimum) {
  bp_ctx *c = bp_ctx_new();
  bp_choice ch;
  bp_budget b = scan100((1 << 20) + 50 * 4096);   /* 50 slots */
  int need = bp_min_slots(BP_STORE_ALL, 100, 4);
  cr_expect_eq(need, 1 + 4 * 99);
  cr_expect_eq(bp_choose(c, &b, 1u << BP_STORE_ALL, &ch), BP_ERR_BUDGET);
  char want[64];
  snprintf(want, sizeof want, "%llu bytes", (unsigned long long)((1 << 20) + (uint64_t)need * 4096));
  cr_expect(strstr(bp_errmsg(c), want), "message: %s, want %s", bp_errmsg(c), want);
  cr_expect_eq(bp_choose(c, &b, 1u << BP_REVOLVE, &ch), BP_OK);
  cr_expect_eq(ch.policy, BP_REVOLVE);
  bp_ctx_free(c);
}

Test(bptt_budget, generous_budget_stores_all) {
  bp_ctx *c = bp_ctx_new();
  bp_choice ch;
  bp_budget b = scan100(64u << 20);
  cr_assert_eq(bp_choose(c, &b, BP_ALL_POLICIES, &ch), BP_OK, "%s", bp_errmsg(c));
  cr_expect_eq(ch.policy, BP_STORE_ALL);
  cr_expect_eq(ch.forwards, 100);
  cr_expect_eq(ch.alpha, 4);
  cr_expect_eq(ch.peak_units, 1 + 4 * 99);
  cr_expect_eq(ch.peak_bytes, (1 << 20) + (uint64_t)(1 + 4 * 99) * 4096);
  bp_ctx_free(c);
}

/* The choice is the cheapest allowed policy, and it fits. */
Test(bptt_budget, tight_budget_cheapest_that_fits) {
  bp_ctx *c = bp_ctx_new();
  for (int slots = 1; slots <= 420; slots += 7) {
    bp_choice ch;
    bp_budget b = scan100((1 << 20) + (uint64_t)slots * 4096 + 100);
    cr_assert_eq(bp_choose(c, &b, BP_ALL_POLICIES, &ch), BP_OK, "%s", bp_errmsg(c));
    cr_expect_eq(ch.m, slots);
    cr_expect_leq(ch.peak_bytes, b.budget_bytes);
    cr_expect_leq(ch.peak_units, slots);
    for (int p = 0; p < BP_POLICY_COUNT; p++) {
      int64_t cost;
      if (slots < bp_min_slots((bp_policy)p, 100, 4)) continue;
      cr_assert_eq(bp_cost(c, (bp_policy)p, 100, slots, 4, &cost), BP_OK);
      cr_expect_leq(ch.forwards, cost, "slots %d: %s chose %lld, %s costs %lld", slots,
                    bp_policy_name(ch.policy), (long long)ch.forwards,
                    bp_policy_name((bp_policy)p), (long long)cost);
    }
  }
  bp_ctx_free(c);
}

/* Without the paper's policies the choice still works (revolve, sqrt, store-all). */
Test(bptt_budget, without_gruslys_policies) {
  bp_ctx *c = bp_ctx_new();
  unsigned open = 1u << BP_STORE_ALL | 1u << BP_REVOLVE | 1u << BP_SQRT;
  bp_choice ch;
  bp_budget b = scan100((1 << 20) + 40 * 4096);
  cr_assert_eq(bp_choose(c, &b, open, &ch), BP_OK, "%s", bp_errmsg(c));
  cr_expect(ch.policy == BP_REVOLVE || ch.policy == BP_SQRT);
  cr_expect_eq(bp_tables_built(c), 0, "no Gruslys table was computed");
  bp_ctx_free(c);
}

Test(bptt_budget, table_cache) {
  bp_ctx *c = bp_ctx_new();
  int64_t a, b2;
  cr_assert_eq(bp_cost(c, BP_MSM, 300, 40, 3, &a), BP_OK);
  cr_expect_eq(bp_tables_built(c), 1);
  cr_assert_eq(bp_cost(c, BP_MSM, 300, 40, 3, &b2), BP_OK);
  cr_assert_eq(bp_cost(c, BP_MSM, 120, 25, 3, &b2), BP_OK);   /* fits the first table */
  cr_expect_eq(bp_tables_built(c), 1);
  cr_assert_eq(bp_cost(c, BP_MSM, 300, 40, 2, &b2), BP_OK);   /* another alpha */
  cr_expect_eq(bp_tables_built(c), 2);
  cr_assert_eq(bp_cost(c, BP_MSM, 400, 40, 3, &b2), BP_OK);   /* longer: rebuilt, grown */
  cr_expect_eq(bp_tables_built(c), 3);
  cr_assert_eq(bp_cost(c, BP_MSM, 300, 40, 3, &b2), BP_OK);
  cr_expect_eq(b2, a);
  cr_expect_eq(bp_tables_built(c), 3);
  bp_ctx *fresh = bp_ctx_new();   /* a grown table answers like a fresh one */
  for (int T = 1; T <= 300; T += 37)
    for (int m = 1; m <= 40; m += 3) {
      int64_t x, y;
      cr_assert_eq(bp_cost(c, BP_MSM, T, m, 3, &x), BP_OK);
      cr_assert_eq(bp_cost(fresh, BP_MSM, T, m, 3, &y), BP_OK);
      cr_expect_eq(x, y, "T=%d m=%d", T, m);
    }
  bp_ctx_free(fresh);
  bp_ctx_free(c);
}

Test(bptt_budget, policy_names) {
  for (int p = 0; p < BP_POLICY_COUNT; p++) {
    bp_policy q;
    cr_assert_eq(bp_policy_parse(bp_policy_name((bp_policy)p), &q), 0);
    cr_expect_eq(q, p);
    cr_expect_gt(strlen(bp_policy_source((bp_policy)p)), 10);
  }
  bp_policy q;
  cr_expect_eq(bp_policy_parse("chen", &q), -1);
  cr_expect_null(bp_policy_name(BP_POLICY_COUNT));
  cr_expect(strstr(bp_policy_source(BP_MSM), "11,256,990"));
  cr_expect(strstr(bp_policy_source(BP_REVOLVE), "Griewank"));
  cr_expect(strstr(bp_policy_source(BP_SQRT), "Chen"));
}

Test(bptt_budget, dump) {
  bp_ctx *c = bp_ctx_new();
  bp_choice ch;
  bp_budget b = scan100((1 << 20) + 40 * 4096);
  cr_assert_eq(bp_choose(c, &b, BP_ALL_POLICIES, &ch), BP_OK);
  bp_schedule s;
  cr_assert_eq(bp_schedule_build(c, ch.policy, ch.T, ch.m, ch.alpha, &s), BP_OK);
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  cr_assert_eq(bp_dump(f, "lstm", &ch, &s), BP_OK);
  fclose(f);
  char want[96];
  snprintf(want, sizeof want, "forward ops %lld", (long long)ch.forwards);
  cr_expect(strstr(text, "bptt lstm: policy msm"), "%s", text);
  cr_expect(strstr(text, "Gruslys"), "%s", text);
  cr_expect(strstr(text, want), "%s", text);
  cr_expect(strstr(text, "first sweep keeps: h0"), "%s", text);
  snprintf(want, sizeof want, "predicted peak %d slots", ch.peak_units);
  cr_expect(strstr(text, want), "%s", text);
  free(text);
  bp_schedule_free(&s);
  bp_ctx_free(c);
}

Test(bptt_budget, argument_errors) {
  bp_ctx *c = bp_ctx_new();
  int64_t cost;
  bp_schedule s;
  cr_expect_eq(bp_cost(c, BP_MSM, 10, 0, 1, &cost), BP_ERR_ARG);
  cr_expect_eq(bp_cost(c, BP_MSM, -1, 3, 1, &cost), BP_ERR_RANGE);
  cr_expect_eq(bp_cost(c, BP_MSM, 10, 3, 0, &cost), BP_ERR_ARG);
  cr_expect_eq(bp_cost(c, (bp_policy)42, 10, 3, 1, &cost), BP_ERR_ARG);
  cr_expect_eq(bp_cost(c, BP_MSM, BP_MAX_T + 1, 3, 1, &cost), BP_ERR_RANGE);
  cr_expect_eq(bp_cost(c, BP_MSM, 30000, 5000, 1, &cost), BP_ERR_RANGE);   /* table too big */
  cr_expect(strstr(bp_errmsg(c), "revolve"), "%s", bp_errmsg(c));
  cr_expect_eq(bp_schedule_build(c, BP_STORE_ALL, 10, 5, 1, &s), BP_ERR_BUDGET);
  cr_expect_null(s.acts);
  bp_budget b = {10, 0, 4, 0, 100};
  bp_choice ch;
  cr_expect_eq(bp_choose(c, &b, BP_ALL_POLICIES, &ch), BP_ERR_ARG);
  bp_ctx_free(c);
}

/* A request that fits alone is served even when its union with a cached table would not. */
Test(bptt_budget, cache_union_too_big) {
  bp_ctx *c = bp_ctx_new();
  int64_t a, b;
  cr_assert_eq(bp_cost(c, BP_HSM, 6000, 20, 1, &a), BP_OK, "%s", bp_errmsg(c));
  cr_assert_eq(bp_cost(c, BP_HSM, 1000, 1000, 1, &b), BP_OK, "%s", bp_errmsg(c));
  cr_expect_eq(a, bp_revolve_cost(6000, 20));
  cr_expect_eq(b, bp_revolve_cost(1000, 1000));
  cr_expect_eq(bp_tables_built(c), 2);
  bp_ctx_free(c);
}

/* Too much planning is an error that names the way out; bp_choose falls back. */
Test(bptt_budget, too_big_to_plan) {
  bp_ctx *c = bp_ctx_new();
  int64_t cost;
  cr_expect_eq(bp_cost(c, BP_MSM, 30000, 50, 4, &cost), BP_ERR_RANGE);
  cr_expect(strstr(bp_errmsg(c), "use revolve or sqrt"), "%s", bp_errmsg(c));
  bp_choice ch;
  bp_budget b = {30000, 4096, 14 * 1024, 0, 50 * 4096};
  cr_assert_eq(bp_choose(c, &b, BP_ALL_POLICIES, &ch), BP_OK, "%s", bp_errmsg(c));
  cr_expect_eq(ch.policy, BP_REVOLVE);
  cr_expect_eq(ch.forwards, bp_revolve_cost(30000, 50));
  cr_expect_eq(bp_tables_built(c), 0);
  bp_ctx_free(c);
}

/* A plan persisted for the compile cache decodes to the same choice and schedule; bytes
 * that are truncated, from another format or describe a broken schedule are refused. */
Test(bptt_budget, plan_encode_decode) {
  bp_ctx *c = bp_ctx_new();
  bp_choice ch, ch2;
  bp_budget b = scan100((1 << 20) + 30 * 4096);
  cr_assert_eq(bp_choose(c, &b, BP_ALL_POLICIES, &ch), BP_OK);
  bp_schedule s, s2;
  cr_assert_eq(bp_schedule_build(c, ch.policy, ch.T, ch.m, ch.alpha, &s), BP_OK);
  unsigned char *buf;
  size_t len;
  cr_assert_eq(bp_plan_encode(&ch, &s, &buf, &len), BP_OK);
  cr_assert_eq(bp_plan_decode(c, buf, len, &ch2, &s2), BP_OK, "%s", bp_errmsg(c));
  cr_expect(!memcmp(&ch, &ch2, sizeof ch), "the choice round-trips");
  cr_expect(s2.n == s.n && s2.forwards == s.forwards && s2.peak_units == s.peak_units &&
            s2.policy == s.policy && s2.T == s.T && s2.m == s.m && s2.alpha == s.alpha);
  for (size_t i = 0; i < s.n && i < s2.n; i++)
    cr_assert(s.acts[i].op == s2.acts[i].op && s.acts[i].step == s2.acts[i].step &&
              s.acts[i].slot == s2.acts[i].slot, "action %zu", i);
  bp_schedule_free(&s2);
  cr_expect_eq(bp_plan_decode(c, buf, len - 24, &ch2, &s2), BP_ERR_INVALID, "one action short");
  cr_expect(strstr(bp_errmsg(c), "bad length"), "%s", bp_errmsg(c));
  cr_expect_eq(bp_plan_decode(c, buf, 20, &ch2, &s2), BP_ERR_INVALID, "truncated header");
  buf[0] = 'X';
  cr_expect_eq(bp_plan_decode(c, buf, len, &ch2, &s2), BP_ERR_INVALID);
  cr_expect_str_eq(bp_errmsg(c), "not a BPTT plan");
  buf[0] = 'N';
  size_t last = len - 24;   /* the final FREE(0, 0) becomes FREE(1, 0): a broken schedule */
  buf[last + 8] = 1;
  cr_expect_eq(bp_plan_decode(c, buf, len, &ch2, &s2), BP_ERR_INVALID);
  cr_expect(strstr(bp_errmsg(c), "FREE of a slot that does not hold that step"), "%s", bp_errmsg(c));
  cr_expect(s2.acts == NULL && s2.n == 0, "nothing is handed out on failure");
  free(buf);
  bp_schedule_free(&s);
  bp_ctx_free(c);
}
