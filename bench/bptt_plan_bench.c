/* bptt_plan_bench.c — planning time of the BPTT DPs (compiler/bptt_plan.c) for T = 1000
 * and a few hundred slots, and the resulting forward ops per step for every policy. Not a
 * test: run it by hand (target bptt_plan_bench, bench/bptt.cmake). */
#include "bptt.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* CPU time of this process: the shared machine's load does not count. */
static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Time of a fresh table for (p, T, m, alpha), and of a cached second request. */
static void time_table(bp_policy p, int T, int m, int alpha) {
  bp_ctx *c = bp_ctx_new();
  int64_t cost = 0;
  double t0 = now_s();
  int st = bp_cost(c, p, T, m, alpha, &cost);
  double t1 = now_s();
  bp_schedule s;
  int sb = st == BP_OK ? bp_schedule_build(c, p, T, m, alpha, &s) : st;
  double t2 = now_s();
  if (st != BP_OK || sb != BP_OK) {
    printf("%-8s T=%d m=%d alpha=%d: %s\n", bp_policy_name(p), T, m, alpha, bp_errmsg(c));
  } else {
    printf("%-8s T=%-5d m=%-4d alpha=%d  table %8.1f ms  schedule %6.2f ms (%zu actions)"
           "  cost %lld = %.3f T  peak %d\n", bp_policy_name(p), T, m, alpha,
           (t1 - t0) * 1e3, (t2 - t1) * 1e3, s.n, (long long)cost, (double)cost / T,
           s.peak_units);
    bp_schedule_free(&s);
  }
  bp_ctx_free(c);
}

int main(int argc, char **argv) {
  int T = argc > 1 ? atoi(argv[1]) : 1000, alpha = argc > 2 ? atoi(argv[2]) : 4;
  static const int ms[] = {10, 50, 100, 200, 300, 500};
  printf("# planning CPU time, T = %d, alpha = %d (one fresh bp_ctx per line)\n", T, alpha);
  for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
    time_table(BP_MSM, T, ms[i], alpha);
    time_table(BP_HSM, T, ms[i], alpha);
    time_table(BP_ISM, T, ms[i], alpha);
  }
  printf("# forward ops per step C/T for every policy, T = %d, alpha = %d\n", T, alpha);
  printf("%6s", "m");
  for (int p = 0; p < BP_POLICY_COUNT; p++) printf(" %9s", bp_policy_name((bp_policy)p));
  printf("\n");
  bp_ctx *c = bp_ctx_new();
  static const int ms2[] = {2, 5, 10, 20, 32, 50, 100, 200, 500, 1000, 2000, 4000};
  for (size_t i = 0; i < sizeof ms2 / sizeof ms2[0]; i++) {
    printf("%6d", ms2[i]);
    for (int p = 0; p < BP_POLICY_COUNT; p++) {
      int64_t cost;
      if (bp_cost(c, (bp_policy)p, T, ms2[i], alpha, &cost) == BP_OK)
        printf(" %9.3f", (double)cost / T);
      else
        printf(" %9s", "-");
    }
    printf("\n");
  }
  bp_ctx_free(c);
  return 0;
}
