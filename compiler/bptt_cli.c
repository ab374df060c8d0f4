/* bptt_cli.c — the command line's side of memory-budgeted BPTT: parsing --memory-budget
 * sizes (the language's size suffixes: KB MB GB TB in powers of 1000, KiB MiB GiB TiB in
 * powers of 1024) and --bptt-policy, and turning them with the train declaration's
 * memory_budget into lscan options (compiler/bptt_lower.h) for the training step. */
#include <stdlib.h>
#include <string.h>

#include "bptt_lower.h"

int lscan_parse_bytes(const char *s, uint64_t *out) {
  static const struct { const char *suf; uint64_t mul; } units[] = {
    {"", 1},          {"B", 1},
    {"KB", 1000ull},  {"MB", 1000000ull}, {"GB", 1000000000ull}, {"TB", 1000000000000ull},
    {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}, {"TiB", 1ull << 40}};
  char *end;
  if (!s || *s < '0' || *s > '9')
    return -1;
  unsigned long long n = strtoull(s, &end, 10);
  for (size_t i = 0; i < sizeof units / sizeof *units; i++)
    if (!strcmp(end, units[i].suf)) {
      if (n > UINT64_MAX / units[i].mul)
        return -1;
      *out = (uint64_t)n * units[i].mul;
      return 0;
    }
  return -1;
}

int lscan_configure(uint64_t budget, const char *policy, uint64_t extra_fixed, FILE *dump, lscan_options *out,
                    char *msg, size_t cap) {
  lscan_options o = {.policy = -1, .extra_fixed = extra_fixed, .dump = dump, .budget_bytes = budget};
  if (policy && strcmp(policy, "auto") != 0) {
    bp_policy p;
    if (bp_policy_parse(policy, &p)) {
      snprintf(msg, cap, "unknown BPTT policy '%s' (store-all, revolve, sqrt, hsm, ism, msm)", policy);
      return -1;
    }
    o.policy = (int)p;
  }
  o.active = budget > 0 || o.policy >= 0;
  *out = o;
  return 0;
}
