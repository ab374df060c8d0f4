/* bptt.h — the memory-efficient BPTT planner: which states of a scan to keep and which
 * to recompute, as a schedule of actions that any executor (interpreter, generated code)
 * can run. Self-contained (libc only) so that it can move into the runtime, where T may be
 * known only at run time. Prefix bp_. See docs/bptt.md.
 *
 * Cost model (Gruslys et al. 2016, arXiv:1606.03401): one forward step costs 1, backward
 * steps are not counted (each runs exactly once); memory is counted in hidden-state units
 * ("slots"); a stored internal state (what a step's backward needs; it also holds the
 * step's output hidden state) costs alpha units. m counts the slot holding h_0.
 *
 * Thread safety: a bp_ctx (and its table cache) is used by one thread at a time;
 * schedules are plain data. Nothing here prints, exits or aborts on user input.
 */
#ifndef NNC_BPTT_H
#define NNC_BPTT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Status codes. A failing call keeps a message in its bp_ctx (bp_errmsg). */
enum { BP_OK = 0, BP_ERR_ARG = 1, BP_ERR_NOMEM = 2, BP_ERR_BUDGET = 3, BP_ERR_RANGE = 4,
       BP_ERR_INVALID = 5 };

/* Largest sequence length the planner accepts (splits are uint16, costs uint32). */
#define BP_MAX_T 65535

/* The policies, each from a named source (docs/bptt.md). Order = preference on ties. */
typedef enum {
  BP_STORE_ALL,   /* plain BPTT: keep every internal state                               */
  BP_REVOLVE,     /* Griewank 1992 / Griewank & Walther 2000: binomial, closed form    */
  BP_SQRT,        /* Chen et al. 2016: sqrt(T)-style segments, boundaries kept          */
  BP_HSM,         /* Gruslys et al. 2016, BPTT-HSM: DP, hidden-state checkpoints        */
  BP_ISM,         /* Gruslys et al. 2016, BPTT-ISM: DP, internal-state checkpoints      */
  BP_MSM,         /* Gruslys et al. 2016, BPTT-MSM: DP, cheaper of the two per split    */
  BP_POLICY_COUNT
} bp_policy;

#define BP_ALL_POLICIES ((1u << BP_POLICY_COUNT) - 1u)

/* "msm", "revolve", ...; NULL for an out-of-range value. */
const char *bp_policy_name(bp_policy p);
/* The policy's source, one line (for --dump=bptt and docs). */
const char *bp_policy_source(bp_policy p);
/* Returns 0 and sets *out iff name is a policy name ("store-all", "sqrt", ...). */
int bp_policy_parse(const char *name, bp_policy *out);

/* ---- the action language -------------------------------------------------------------
 * The executor has one register: a hidden state h_c, plus (right after FORWARD(c) or a
 * RESTORE from an internal slot) step c's internal state. Slots are offsets in a buffer of
 * m hidden-state units; a hidden slot takes 1 unit, an internal slot alpha units.
 *   FORWARD(t)            register h_{t-1} -> h_t and internal_t            (cost 1)
 *   SAVE_HIDDEN(t, u)     copy h_t from the register to units [u, u+1)
 *   SAVE_INTERNAL(t, u)   copy internal_t (with h_t) to units [u, u+alpha)
 *   RESTORE(t, u)         register := the state of step t held in slot u
 *   BACKWARD(t, u)        backward of step t with internal_t from slot u, or from the
 *                         register if u == -1; dh: dL/dh_t -> dL/dh_{t-1}
 *   FREE(t, u)            slot u (holding step t) is no longer needed
 * The register starts at h_0; every schedule begins with SAVE_HIDDEN(0, 0). Backward
 * steps come in the order T, T-1, ..., 1. Slots are allocated as a stack.            */
typedef enum { BP_FORWARD, BP_SAVE_HIDDEN, BP_SAVE_INTERNAL, BP_RESTORE, BP_BACKWARD,
               BP_FREE } bp_op;

typedef struct {
  uint8_t op;      /* bp_op */
  int32_t step;
  int32_t slot;    /* unit offset, or -1 */
} bp_action;

/* A schedule owns its action array (free with bp_schedule_free). */
typedef struct {
  bp_action *acts;
  size_t n, cap;
  bp_policy policy;
  int T, m, alpha;       /* m: the slots it was planned for                       */
  int64_t forwards;      /* FORWARD actions (= the policy's predicted cost)       */
  int peak_units;        /* most units live at once (<= m)                        */
} bp_schedule;

/* ---- planner context: error message and a cache of DP tables ---------------------- */
typedef struct bp_ctx bp_ctx;

bp_ctx *bp_ctx_new(void);                 /* NULL when out of memory */
void bp_ctx_free(bp_ctx *c);
const char *bp_errmsg(const bp_ctx *c);   /* message of the last failed call, or "" */
/* Tables are cached per (policy, alpha); a request that fits a cached table (T and m no
 * larger) reuses it. Counts the tables computed since bp_ctx_new (for tests). */
int bp_tables_built(const bp_ctx *c);
/* Tables computed by every bp_ctx of this process (thread-safe; for tests of the cache). */
long bp_tables_built_total(void);

/* Predicted forward ops of policy p for T steps, m slots, internal size alpha.
 * BP_ERR_BUDGET when the policy cannot run in m slots (e.g. store-all, sqrt). */
int bp_cost(bp_ctx *c, bp_policy p, int T, int m, int alpha, int64_t *cost);
/* Smallest m with which policy p runs at all (1 for the DPs and revolve). */
int bp_min_slots(bp_policy p, int T, int alpha);

/* Builds the schedule of policy p; out is overwritten (and owned by the caller on BP_OK). */
int bp_schedule_build(bp_ctx *c, bp_policy p, int T, int m, int alpha, bp_schedule *out);
void bp_schedule_free(bp_schedule *s);

/* Abstract executor: checks that s is well formed (each action's preconditions, slot
 * bounds and overlap, backward order, every slot freed) and counts. Returns BP_OK, or
 * BP_ERR_INVALID with the first violation in c's message. */
typedef struct { int64_t forwards; int peak_units; int backwards; } bp_sim_stats;
int bp_simulate(bp_ctx *c, const bp_schedule *s, bp_sim_stats *st);

/* ---- the DP tables and closed forms, exposed for tests ----------------------------- */
/* Optimal cost of the DP for policy p in {HSM, ISM, MSM}; kind/split of its first move.
 * CONVERT (MSM, inside a segment that starts at a pushed checkpoint): store internal_{s+1}
 * and drop the checkpoint h_s, which nothing needs any more. */
enum { BP_KIND_REPLAY = 0, BP_KIND_HIDDEN = 1, BP_KIND_INTERNAL = 2, BP_KIND_CONVERT = 3 };
int bp_dp_lookup(bp_ctx *c, bp_policy p, int T, int m, int alpha, int64_t *cost,
                 int *kind, int *split);
/* Griewank's closed form: C_HSM(T, m) = p(T, m) + T, p(l,s) = r*l - binom(s+r, s+1). */
int64_t bp_revolve_cost(int T, int m);
/* How often revolve's split rule missed in c's schedules and a scan ran instead (tests). */
long bp_revolve_fallbacks(const bp_ctx *c);

/* ---- budget in bytes -> policy and slots ------------------------------------------- */
typedef struct {
  int T;                    /* scan length                                               */
  uint64_t hidden_bytes;    /* one stored hidden state (the scan's carry)                */
  uint64_t internal_bytes;  /* one step's internal state: what its backward needs AND the
                               step's output carry (alpha = ceil(internal / hidden))     */
  uint64_t fixed_bytes;     /* params, grads, optimizer state, one step's working set    */
  uint64_t budget_bytes;
} bp_budget;

typedef struct {
  bp_policy policy;
  int T, m, alpha;          /* m: slots given to the policy                              */
  int64_t forwards;         /* predicted forward ops (T = no recomputation)              */
  int peak_units;           /* predicted peak slots (<= m)                               */
  uint64_t peak_bytes;      /* fixed_bytes + peak_units * hidden_bytes                   */
} bp_choice;

/* Chooses the cheapest policy among those in allowed (a mask of 1u << bp_policy; ties go
 * to the earlier policy in bp_policy order). BP_ERR_BUDGET when nothing allowed fits; the
 * message names the minimum budget in bytes. */
int bp_choose(bp_ctx *c, const bp_budget *b, unsigned allowed, bp_choice *out);

/* ---- persisting a plan (the compile cache keeps it next to the objects) ----------- */
/* Encodes a choice and its schedule as bytes (malloc'd into *buf, owned by the caller):
 * a cached re-run then needs no DP table. BP_ERR_NOMEM when out of memory. */
int bp_plan_encode(const bp_choice *ch, const bp_schedule *s, unsigned char **buf, size_t *len);
/* Decodes bp_plan_encode's bytes into *ch and *s (owned by the caller on BP_OK) and checks
 * them: the format, the fields' agreement and the schedule itself (bp_simulate: forwards,
 * peak). BP_ERR_INVALID (c's message says why) for anything else, e.g. a truncated file. */
int bp_plan_decode(bp_ctx *c, const unsigned char *buf, size_t len, bp_choice *ch, bp_schedule *s);

/* --dump=bptt: one scan's plan (policy and source, stored steps of the first sweep when a
 * schedule is given, recomputation, predicted peak). Writes to f; returns BP_OK. */
int bp_dump(FILE *f, const char *scan, const bp_choice *ch, const bp_schedule *s);

#endif
