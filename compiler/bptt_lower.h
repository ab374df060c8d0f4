/* bptt_lower.h — memory-budgeted BPTT as a lowering: a differentiated scan (forward scan
 * with saved carries + its backward scan, compiler/scan.c) lowered to the checkpointing
 * executor (runtime/bptt_exec.c) running a schedule of compiler/bptt.h. Prefix lscan_.
 * See docs/bptt.md, "The executor". No global state: the options travel with each
 * lowering (lscan_lower_graph, exec_create_bptt) and the plans with its lower_plan, so
 * independent compilations may run on different threads at once. */
#ifndef NNC_BPTT_LOWER_H
#define NNC_BPTT_LOWER_H

#include <stdint.h>
#include <stdio.h>

#include "bptt.h"
#include "cg.h"

typedef struct lscan_options {
  int active;              /* 0: every scan stores all carries (plain BPTT, the default)  */
  int policy;              /* -1: the cheapest of `allowed`; else a forced bp_policy       */
  unsigned allowed;        /* mask of 1u << bp_policy (0 = all)                            */
  uint64_t budget_bytes;   /* 0: no budget (then `slots` or a default of ~2 sqrt(T) units) */
  int slots;               /* >0: units per scan when there is no budget (tests)           */
  uint64_t extra_fixed;    /* bytes the graph does not hold (optimizer state, ...)         */
  FILE *dump;              /* --dump=bptt: the plan per scan at lowering time              */
} lscan_options;

/* bptt_cli.c: a size ("64MB", "1GiB", "1000") in bytes; 0, or -1 when malformed. */
int lscan_parse_bytes(const char *s, uint64_t *out);
/* *o: options for a training-step lowering: a budget (0: none) and a policy name (NULL or
 * "auto": the cheapest that fits). Active when either is given. -1 on an unknown policy,
 * with msg. */
int lscan_configure(uint64_t budget, const char *policy, uint64_t extra_fixed, FILE *dump, lscan_options *o,
                    char *msg, size_t cap);

/* Lowers g like lower_graph (cg.h), with the scans checkpointed as o says (NULL or
 * inactive: plain BPTT). With a budget it lowers twice or three times: a first lowering
 * with default slots measures what the memory planner really places (the planned arena,
 * leaves, results), the slots are chosen from that, and the step is lowered again (once
 * more if the plan then exceeds the budget). The plans end in p->bptt. 0, or -1 with msg
 * (for example a budget below the minimum, named in bytes). */
int lscan_lower_graph(const IrGraph *g, const char *name, const lscan_options *o, lower_plan *p, char *msg,
                      size_t cap);

/* One lowering's checkpointed scans (cg.h's lower_ctx.bptt, lower_plan.bptt): the options,
 * the plans, the step functions. Create/free pair; lower_plan_free frees its own. */
lscan_plan *lscan_plan_new(const lscan_options *o);
void lscan_plan_free(lscan_plan *P);

/* Called by r_scan (lower_ops.c): lowers n through the executor when it is a checkpointed
 * scan of L->bptt (sets *done = 1), else leaves it to the plain rule. -1 with a message
 * on failure. */
int lscan_lower(lower_ctx *L, const IrNode *n, int *done);

/* After the main function's slots are set up (exec.c): compiles the step functions of the
 * checkpointed scans of p (p->bptt) and points the executor cells in the arena at their
 * records. *out is NULL when there are none; it refers to p, so unbind before freeing p.
 * Returns 0, or -1 with msg. */
typedef struct lscan_bound lscan_bound;
int lscan_bind(const lower_plan *p, void **slots, lscan_bound **out, char *msg, size_t cap);
void lscan_unbind(lscan_bound *b);

/* Measured by the last run, per checkpointed scan i (0..count-1). */
typedef struct lscan_stats {
  bp_choice choice;        /* predicted: policy, slots, forward ops, peak units and bytes */
  int64_t forwards;        /* forward body runs                                           */
  int64_t elided;          /* FORWARDs skipped (the backward body recomputes that step)   */
  int64_t predicted_runs;  /* choice.forwards minus the FORWARDs the schedule lets it skip */
  int64_t backwards;
  int peak_units;
  uint64_t peak_bytes;     /* the step's bytes with this scan at its peak: every slot of
                            * the final plan (planned arena, leaves, results) + extra,
                            * less this scan's unused slot units. choice.peak_bytes is the
                            * prediction, made from the previous lowering's sizes          */
  int bad;                 /* the executor met an action it could not run                */
} lscan_stats;
int lscan_count(const lscan_bound *b);
int lscan_get_stats(const lscan_bound *b, int i, lscan_stats *out);
/* --dump=bptt after a run: measured forward ops and peak bytes per scan. */
void lscan_dump_measured(FILE *f, const lscan_bound *b);

#endif
