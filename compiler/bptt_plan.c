/* bptt_plan.c — memory-efficient BPTT: cost tables, schedules, an abstract executor, and
 * the choice of policy for a budget in bytes. Depends on libc only (it may move to runtime/).
 *
 * Sources (docs/bptt.md has the details and the patent note):
 *  - Gruslys, Munos, Danihelka, Lanctot, Graves, "Memory-Efficient Backpropagation Through
 *    Time", NIPS 2016 (arXiv:1606.03401): the DPs BPTT-HSM, -ISM, -MSM. Recurrences and
 *    boundary conditions as in compiler-techniques.md §1.2 (m counts the slot of h_s):
 *      HSM C(t,m) = min_{1<=y<t}  y + C(t-y, m-1)     + C(y, m)
 *      ISM Q(t,m) = min_{1<=y<=t} y + Q(t-y, m-alpha) + Q(y-1, m)     (needs m-alpha >= 1)
 *      MSM M(t,m) = the smaller of both forms;  all: X(0,m) = 0, X(1,m) = 1,
 *      and "replay from h_s" t(t+1)/2 is always a candidate (the only one when m = 1).
 *    MSM has one move more than the notes' recurrence (found by the brute-force test):
 *    in a segment that starts at a checkpoint pushed for it alone (table layer 1), store
 *    internal_{s+1} and drop h_s (CONVERT): 1 + M0(t-1, m-alpha+1). With it, MSM equals
 *    an exhaustive search for T <= 10, m <= 6, alpha <= 4; without it, it lost by one op.
 *  - Griewank 1992; Griewank & Walther, ACM TOMS 26(1) 2000 (revolve): with s checkpoints
 *    the minimal advances are p(l,s) = r*l - binom(s+r, s+1), binom(s+r-1,s) < l <=
 *    binom(s+r,s); C_HSM(T,m) = p(T,m) + T. Policy "revolve" splits by these bounds.
 *  - Chen, Xu, Zhang, Guestrin 2016 (arXiv:1604.06174): keep segment boundaries, re-run
 *    each segment keeping its internal states. Policy "sqrt".
 * A schedule is emitted by the recursive order of the DPs: forward to a checkpoint, reverse
 * the right part with the slots left, pop, reverse the left part with all slots.
 */
#include "bptt.h"

#include <assert.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define BP_DP_MAX_T 32767      /* costs <= T(T+1)/2 + T stay below 2^31 (int32 lanes) */
#define BP_DP_MAX_CELLS (64u << 20)
#define BP_DP_MAX_WORK 4e9     /* lane-ops, about a second of planning on one core */
#define BP_CACHE_SIZE 8

/* ---- names ------------------------------------------------------------------------- */

static const char *const policy_names[BP_POLICY_COUNT] = {
  "store-all", "revolve", "sqrt", "hsm", "ism", "msm"};

static const char *const policy_sources[BP_POLICY_COUNT] = {
  "plain BPTT (every internal state kept)",
  "Griewank 1992; Griewank & Walther, ACM TOMS 26(1) 2000 (revolve, binomial checkpoints)",
  "Chen, Xu, Zhang, Guestrin 2016, arXiv:1604.06174 (segment checkpoints)",
  "Gruslys et al., NIPS 2016, arXiv:1606.03401, BPTT-HSM (see US patent 11,256,990)",
  "Gruslys et al., NIPS 2016, arXiv:1606.03401, BPTT-ISM (see US patent 11,256,990)",
  "Gruslys et al., NIPS 2016, arXiv:1606.03401, BPTT-MSM (see US patent 11,256,990)"};

const char *bp_policy_name(bp_policy p) {
  return (unsigned)p < BP_POLICY_COUNT ? policy_names[p] : NULL;
}

const char *bp_policy_source(bp_policy p) {
  return (unsigned)p < BP_POLICY_COUNT ? policy_sources[p] : NULL;
}

int bp_policy_parse(const char *name, bp_policy *out) {
  for (int p = 0; p < BP_POLICY_COUNT; p++)
    if (name && strcmp(name, policy_names[p]) == 0) {
      *out = (bp_policy)p;
      return 0;
    }
  return -1;
}

/* ---- context ----------------------------------------------------------------------- */

/* One DP table: cells (layer, t, m) for t in [0, T], m in [1, M] (column 0 unused).
 * Layer 0: the segment's start h_s must stay (h_0, or inside a stored internal state).
 * Layer 1 (MSM only): h_s is a checkpoint pushed for this segment alone, so it may be
 * dropped once internal_{s+1} is stored (BP_KIND_CONVERT). */
typedef struct {
  bp_policy policy;
  int alpha, T, M, layers;
  int32_t *cost;
  uint16_t *split;
  uint8_t *kind;
} bp_table;

struct bp_ctx {
  char msg[256];
  bp_table cache[BP_CACHE_SIZE];
  int next_victim;
  int built;               /* tables computed */
  long revolve_fallbacks;  /* times revolve's split rule missed */
};

static int fail(bp_ctx *c, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->msg, sizeof c->msg, fmt, ap);
  va_end(ap);
  return status;
}

bp_ctx *bp_ctx_new(void) { return calloc(1, sizeof(bp_ctx)); }

static void table_free(bp_table *tb) {
  free(tb->cost);
  free(tb->split);
  free(tb->kind);
  memset(tb, 0, sizeof *tb);
}

void bp_ctx_free(bp_ctx *c) {
  if (!c) return;
  for (int i = 0; i < BP_CACHE_SIZE; i++) table_free(&c->cache[i]);
  free(c);
}

const char *bp_errmsg(const bp_ctx *c) { return c ? c->msg : "out of memory"; }

int bp_tables_built(const bp_ctx *c) { return c->built; }

static long tables_total;   /* every context's tables (atomic) */

long bp_tables_built_total(void) { return __atomic_load_n(&tables_total, __ATOMIC_RELAXED); }

long bp_revolve_fallbacks(const bp_ctx *c) { return c->revolve_fallbacks; }

static int check_args(bp_ctx *c, bp_policy p, int T, int m, int alpha) {
  if ((unsigned)p >= BP_POLICY_COUNT) return fail(c, BP_ERR_ARG, "unknown BPTT policy %d", p);
  if (T < 0 || T > BP_MAX_T)
    return fail(c, BP_ERR_RANGE, "scan length T = %d is outside [0, %d]", T, BP_MAX_T);
  if (m < 1) return fail(c, BP_ERR_ARG, "slots m = %d: at least 1 (the one of h_0)", m);
  if (alpha < 1) return fail(c, BP_ERR_ARG, "alpha = %d: an internal state is >= 1 unit", alpha);
  return BP_OK;
}

/* ---- Griewank's closed form (revolve) ---------------------------------------------- */

/* Smallest r with binom(s+r, s) >= l (l <= 65535: no overflow); *beta_r = binom(s+r, s). */
static int revolve_rep(int64_t l, int64_t s, int64_t *beta_r) {
  int64_t b = 1;
  int r = 0;
  while (b < l) {
    r++;
    b = b * (s + r) / r;   /* binom(s+r, s) = binom(s+r-1, s) (s+r)/r, exact */
  }
  *beta_r = b;
  return r;
}

int64_t bp_revolve_cost(int T, int m) {
  if (T <= 0) return 0;
  int64_t br, s = m;
  int64_t r = revolve_rep(T, s, &br);
  int64_t binom_s1 = br * r / (s + 1);   /* binom(s+r, s+1) = binom(s+r, s) r/(s+1) */
  return r * T - binom_s1 + T;
}

static int64_t beta(int64_t s, int64_t r) {   /* binom(s+r, s), r small */
  int64_t b = 1;
  for (int64_t i = 1; i <= r; i++) b = b * (s + i) / i;
  return b;
}

/* A first split y for HSM(t, m), t >= 2, m >= 2, that attains the closed form: with r the
 * repetition number of (t, m), the left part (m slots) gets more than binom(m+r-2, m)
 * steps (repetition r-1) and the right part (m-1 slots) at most binom(m-1+r, m-1)
 * (repetition r), so one more advance is paid for by one less repetition. The scan is a
 * guard only: the tests check that it never runs (bp_revolve_fallbacks). */
static int revolve_split(int t, int m, long *fallbacks) {
  int64_t br;
  int64_t r = revolve_rep(t, m, &br);
  int64_t y = r >= 2 ? beta(m, r - 2) + 1 : 1;
  if (t - beta(m - 1, r) > y) y = t - beta(m - 1, r);
  if (y > t - 1) y = t - 1;
  int64_t best = bp_revolve_cost(t, m);
  if (y + bp_revolve_cost(t - (int)y, m - 1) + bp_revolve_cost((int)y, m) == best) return (int)y;
  ++*fallbacks;
  for (y = 1; y < t; y++)
    if (y + bp_revolve_cost(t - (int)y, m - 1) + bp_revolve_cost((int)y, m) == best) break;
  return (int)y;
}

/* ---- the DP tables ------------------------------------------------------------------ */

#define CELL(tb, l, t, m) \
  (((size_t)(l) * (size_t)((tb)->M + 1) + (size_t)(m)) * (size_t)((tb)->T + 1) + (size_t)(t))

/* The hot loop of every DP: the smallest (i + 1) + a[i] + b[i] over i in [0, n) and the
 * first i + 1 that attains it (in *at). Written with GCC/Clang vector extensions (no
 * intrinsics): 4 lanes everywhere, 8 lanes where the CPU has AVX2 (chosen at run time). */
typedef int32_t (*bp_minfn)(const int32_t *a, const int32_t *b, int n, int *at);

/* Lane minima (best, where) -> the minimum and its first index, then the scalar tail i..n. */
static int32_t min_finish(const int32_t *best, const int32_t *where, int lanes,
                          const int32_t *a, const int32_t *b, int i, int n, int *at) {
  int32_t m = INT32_MAX;
  int y = 0;
  for (int k = 0; k < lanes; k++)
    if (best[k] < m || (best[k] == m && where[k] < y)) m = best[k], y = where[k];
  for (; i < n; i++) {
    int32_t v = i + 1 + a[i] + b[i];
    if (v < m) m = v, y = i + 1;
  }
  *at = y;
  return m;
}

typedef int32_t bp_v4 __attribute__((vector_size(16)));

static int32_t min_sum4(const int32_t *a, const int32_t *b, int n, int *at) {
  bp_v4 best = {INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX}, where = {0, 0, 0, 0};
  bp_v4 idx = {1, 2, 3, 4}, step = {4, 4, 4, 4};
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    bp_v4 va, vb;
    memcpy(&va, a + i, sizeof va);
    memcpy(&vb, b + i, sizeof vb);
    bp_v4 v = idx + va + vb;
    bp_v4 lt = v < best;                    /* -1 where v is smaller: keeps the first */
    best = (v & lt) | (best & ~lt);
    where = (idx & lt) | (where & ~lt);
    idx += step;
  }
  int32_t lb[4], lw[4];
  memcpy(lb, &best, sizeof lb);
  memcpy(lw, &where, sizeof lw);
  return min_finish(lb, lw, 4, a, b, i, n, at);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(BP_NO_AVX2)
typedef int32_t bp_v8 __attribute__((vector_size(32)));

__attribute__((target("avx2"))) static int32_t min_sum8(const int32_t *a, const int32_t *b,
                                                        int n, int *at) {
  bp_v8 best = {INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX,
                INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX};
  bp_v8 where = {0, 0, 0, 0, 0, 0, 0, 0}, idx = {1, 2, 3, 4, 5, 6, 7, 8};
  bp_v8 step = {8, 8, 8, 8, 8, 8, 8, 8};
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    bp_v8 va, vb;
    memcpy(&va, a + i, sizeof va);
    memcpy(&vb, b + i, sizeof vb);
    bp_v8 v = idx + va + vb;
    bp_v8 lt = v < best;
    best = (v & lt) | (best & ~lt);
    where = (idx & lt) | (where & ~lt);
    idx += step;
  }
  int32_t lb[8], lw[8];
  memcpy(lb, &best, sizeof lb);
  memcpy(lw, &where, sizeof lw);
  return min_finish(lb, lw, 8, a, b, i, n, at);
}

static bp_minfn pick_min_sum(void) {
  return __builtin_cpu_supports("avx2") ? min_sum8 : min_sum4;
}
#else
static bp_minfn pick_min_sum(void) { return min_sum4; }
#endif

/* rev[j] = column[T - j]: column m read backwards, so that both operands of min_sum run
 * forwards: col[t - y] = rev[T - t + y]. */
static void reverse_col(const bp_table *tb, int layer, int m, int32_t *rev) {
  const int32_t *col = &tb->cost[CELL(tb, layer, 0, m)];
  for (int j = 0; j <= tb->T; j++) rev[j] = col[tb->T - j];
}

static void set_cell(bp_table *tb, int l, int t, int m, int32_t cost, int kind, int y) {
  size_t i = CELL(tb, l, t, m);
  tb->cost[i] = cost;
  tb->kind[i] = (uint8_t)kind;
  tb->split[i] = (uint16_t)y;
}

/* What column m of a layer may use: the reversed columns it reads (NULL: that move is not
 * allowed) and whether the start may be dropped (layer 1). */
typedef struct { const int32_t *rh, *ra, *rc; bp_minfn min_sum; } bp_moves;

/* One cell, t >= 2, from the columns already done: the cheapest of replay (t(t+1)/2),
 *   HIDDEN   y + X1(t-y, m-1) + X(y, m),         1 <= y < t    (rh = layer 1, column m-1)
 *   INTERNAL y + X0(t-y, m-alpha) + X(y-1, m),   1 <= y <= t   (ra = layer 0, column m-alpha)
 *   CONVERT  1 + X0(t-1, m-alpha+1), layer 1 only: store internal_{s+1}, drop h_s.
 * Ties go to the earlier move in this list, then to the smaller y. */
static void fill_cell(bp_table *tb, int l, int t, int m, const bp_moves *mv) {
  const int32_t *own = &tb->cost[CELL(tb, l, 0, m)];
  int32_t best = (int32_t)((int64_t)t * (t + 1) / 2);
  int kind = BP_KIND_REPLAY, y = 0, at;
  if (mv->rh) {
    int32_t v = mv->min_sum(mv->rh + (tb->T - t + 1), own + 1, t - 1, &at);
    if (v < best) best = v, kind = BP_KIND_HIDDEN, y = at;
  }
  if (mv->ra) {
    int32_t v = mv->min_sum(mv->ra + (tb->T - t + 1), own, t, &at);
    if (v < best) best = v, kind = BP_KIND_INTERNAL, y = at;
  }
  if (mv->rc) {
    int32_t v = 1 + mv->rc[tb->T - t + 1];
    if (v < best) best = v, kind = BP_KIND_CONVERT, y = 1;
  }
  set_cell(tb, l, t, m, best, kind, y);
}

/* Column m of layer l, t = 0..T. rev holds three scratch columns of T + 1. */
static void fill_col(bp_table *tb, int l, int m, int32_t *rev) {
  int T = tb->T, alpha = tb->alpha;
  bp_moves mv = {NULL, NULL, NULL, pick_min_sum()};
  if (tb->policy != BP_ISM && m >= 2) {
    reverse_col(tb, tb->layers - 1, m - 1, rev);
    mv.rh = rev;
  }
  if (tb->policy != BP_HSM && m - alpha >= 1) {
    reverse_col(tb, 0, m - alpha, rev + (T + 1));
    mv.ra = rev + (T + 1);
  }
  if (l == 1 && m - alpha + 1 >= 1) {
    reverse_col(tb, 0, m - alpha + 1, rev + 2 * (T + 1));
    mv.rc = rev + 2 * (T + 1);
  }
  set_cell(tb, l, 0, m, 0, BP_KIND_REPLAY, 0);
  for (int t = 1; t <= T; t++) {
    if (t == 1 || (!mv.rh && !mv.ra && !mv.rc))
      set_cell(tb, l, t, m, (int32_t)((int64_t)t * (t + 1) / 2), BP_KIND_REPLAY, 0);
    else if (mv.ra && m >= 1 + (int64_t)alpha * (t - 1))
      set_cell(tb, l, t, m, t, BP_KIND_INTERNAL, 1);       /* store all: the lower bound t */
    else if (!mv.ra && !mv.rc && m >= t - 1)
      set_cell(tb, l, t, m, 2 * t - 1, BP_KIND_HIDDEN, 1); /* hidden only: the bound 2t-1 */
    else
      fill_cell(tb, l, t, m, &mv);
  }
}

/* About the inner-loop lane-ops of a table: per column m, sum of t over the cells that are
 * not saturated (t > m + 1 for HSM, t > (m-1)/alpha + 1 otherwise), per move kind. */
static double table_work(bp_policy p, int T, int M, int alpha) {
  double moves = p == BP_MSM ? 4 : 1, work = 0;   /* MSM: 2 layers x (hidden, internal) */
  for (int m = 1; m <= M; m++) {
    double t0 = p == BP_HSM ? m + 1.0 : (m - 1.0) / alpha + 1;
    if (t0 < T) work += ((double)T * T - t0 * t0) / 2 * moves;
  }
  return work;
}

static int table_build(bp_ctx *c, bp_table *tb, bp_policy p, int T, int M, int alpha) {
  int layers = p == BP_MSM ? 2 : 1;
  size_t cells = (size_t)layers * (size_t)(M + 1) * (size_t)(T + 1);
  double work = T <= BP_DP_MAX_T && cells <= BP_DP_MAX_CELLS ? table_work(p, T, M, alpha) : 0;
  if (T > BP_DP_MAX_T || cells > BP_DP_MAX_CELLS || work > BP_DP_MAX_WORK)
    return fail(c, BP_ERR_RANGE, "BPTT %s table for T = %d, m = %d is too large to plan "
                "(%zu cells, about %.2g steps; limits %u and %.2g); use revolve or sqrt",
                policy_names[p], T, M, cells, work, BP_DP_MAX_CELLS, BP_DP_MAX_WORK);
  *tb = (bp_table){p, alpha, T, M, layers, malloc(cells * sizeof(int32_t)),
                   malloc(cells * sizeof(uint16_t)), malloc(cells)};
  int32_t *rev = malloc(3 * (size_t)(T + 1) * sizeof(int32_t));
  if (!tb->cost || !tb->split || !tb->kind || !rev) {
    free(rev);
    table_free(tb);
    return fail(c, BP_ERR_NOMEM, "out of memory for a BPTT table (%zu cells)", cells);
  }
  for (int m = 1; m <= M; m++)   /* layer 1 reads layer 0's column m-alpha+1 <= m */
    for (int l = 0; l < layers; l++) fill_col(tb, l, m, rev);
  free(rev);
  c->built++;
  __atomic_fetch_add(&tables_total, 1, __ATOMIC_RELAXED);
  return BP_OK;
}

/* Columns beyond these add nothing: HSM reaches 2t-1 at m = t-1, ISM/MSM reach t (store
 * all) at m = 1 + alpha (t-1). */
static int useful_slots(bp_policy p, int T, int alpha) {
  int64_t cap = p == BP_HSM ? (int64_t)T : 1 + (int64_t)alpha * (T > 0 ? T - 1 : 0);
  return cap < 1 ? 1 : cap > INT32_MAX ? INT32_MAX : (int)cap;
}

/* The cached table for (p, alpha) covering T and m (after clamping), built if needed. */
static int table_get(bp_ctx *c, bp_policy p, int T, int m, int alpha, const bp_table **out) {
  int key_alpha = p == BP_HSM ? 1 : alpha;
  int cap = useful_slots(p, T, alpha);
  int M = m < cap ? m : cap;
  for (int i = 0; i < BP_CACHE_SIZE; i++) {
    bp_table *tb = &c->cache[i];
    if (tb->cost && tb->policy == p && tb->alpha == key_alpha && tb->T >= T && tb->M >= M) {
      *out = tb;
      return BP_OK;
    }
  }
  int grow_T = T, grow_M = M;   /* replace a smaller table of the same key, if any */
  int slot = -1;
  for (int i = 0; i < BP_CACHE_SIZE && slot < 0; i++) {
    bp_table *tb = &c->cache[i];
    if (tb->cost && tb->policy == p && tb->alpha == key_alpha) slot = i;
  }
  if (slot >= 0) {
    bp_table *old = &c->cache[slot];
    grow_T = old->T > T ? old->T : T;
    grow_M = old->M > M ? old->M : M;
  } else {
    slot = c->next_victim;
    c->next_victim = (c->next_victim + 1) % BP_CACHE_SIZE;
  }
  bp_table fresh;
  int st = table_build(c, &fresh, p, grow_T, grow_M, key_alpha);
  if (st == BP_ERR_RANGE && (grow_T > T || grow_M > M))   /* the union is too big: just this */
    st = table_build(c, &fresh, p, T, M, key_alpha);
  if (st != BP_OK) return st;
  table_free(&c->cache[slot]);
  c->cache[slot] = fresh;
  *out = &c->cache[slot];
  return BP_OK;
}

static int is_dp(bp_policy p) { return p == BP_HSM || p == BP_ISM || p == BP_MSM; }

int bp_dp_lookup(bp_ctx *c, bp_policy p, int T, int m, int alpha, int64_t *cost, int *kind,
                 int *split) {
  int st = check_args(c, p, T, m, alpha);
  if (st != BP_OK) return st;
  if (!is_dp(p)) return fail(c, BP_ERR_ARG, "%s is not a DP policy", policy_names[p]);
  const bp_table *tb;
  if ((st = table_get(c, p, T, m, alpha, &tb)) != BP_OK) return st;
  int mm = m < tb->M ? m : tb->M;
  size_t i = CELL(tb, 0, T, mm);
  *cost = tb->cost[i];
  if (kind) *kind = tb->kind[i];
  if (split) *split = tb->split[i];
  return BP_OK;
}

/* ---- schedules ---------------------------------------------------------------------- */

/* Emission state: the schedule being written, where the register is, the live units. */
typedef struct {
  bp_ctx *c;
  bp_schedule *s;
  const bp_table *tb;    /* DP policies; NULL for revolve */
  int reg;               /* step whose hidden state the register holds */
  int live, nomem;
} bp_emit;

static void emit(bp_emit *e, bp_op op, int step, int slot) {
  bp_schedule *s = e->s;
  if (e->nomem) return;
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 256;
    bp_action *a = realloc(s->acts, cap * sizeof *a);
    if (!a) {
      e->nomem = 1;
      return;
    }
    s->acts = a;
    s->cap = cap;
  }
  s->acts[s->n++] = (bp_action){(uint8_t)op, step, slot};
  if (op == BP_FORWARD) s->forwards++, e->reg = step;
  if (op == BP_RESTORE) e->reg = step;
}

static void emit_save(bp_emit *e, bp_op op, int step, int slot, int units) {
  emit(e, op, step, slot);
  e->live += units;
  if (e->live > e->s->peak_units) e->s->peak_units = e->live;
}

static void emit_free(bp_emit *e, int step, int slot, int units) {
  emit(e, BP_FREE, step, slot);
  e->live -= units;
}

/* Register := h_from (held in slot), then FORWARD up to step `to`. */
static void advance(bp_emit *e, int from, int slot, int to) {
  if (e->reg != from) emit(e, BP_RESTORE, from, slot);
  for (int k = from + 1; k <= to; k++) emit(e, BP_FORWARD, k, -1);
}

/* The first move for (t, m) in layer l: the DP's cell, or revolve's binomial split. */
static void decide(const bp_emit *e, int l, int t, int m, int *kind, int *y) {
  if (!e->tb) {
    *kind = t <= 1 || m <= 1 ? BP_KIND_REPLAY : BP_KIND_HIDDEN;
    *y = *kind == BP_KIND_HIDDEN ? revolve_split(t, m, &e->c->revolve_fallbacks) : 0;
    return;
  }
  const bp_table *tb = e->tb;
  if (l >= tb->layers) l = 0;
  size_t i = CELL(tb, l, t, m < tb->M ? m : tb->M);   /* beyond M: saturated */
  *kind = tb->kind[i];
  *y = tb->split[i];
}

/* Reverses steps s+1..s+t: h_s is in `slot`, units [top, top + m - 1) are free, on entry
 * dh = dL/dh_{s+t}. Layer 1: h_s was pushed for this segment alone (slot == top - 1).
 * Right parts recurse (depth <= m), left parts loop. Returns 1 iff it freed h_s's slot. */
static int reverse(bp_emit *e, int s, int t, int m, int slot, int top, int l) {
  int alpha = e->s->alpha;
  while (t > 0) {
    int kind, y;
    decide(e, l, t, m, &kind, &y);
    if (kind == BP_KIND_REPLAY) {         /* re-run from h_s for every step: t(t+1)/2 */
      for (int k = t; k >= 1; k--) {
        advance(e, s, slot, s + k);
        emit(e, BP_BACKWARD, s + k, -1);
      }
      return 0;
    }
    if (kind == BP_KIND_CONVERT) {        /* internal_{s+1} replaces h_s in its slot */
      assert(l == 1 && slot == top - 1);
      advance(e, s, slot, s);
      emit_free(e, s, slot, 1);
      emit(e, BP_FORWARD, s + 1, -1);
      emit_save(e, BP_SAVE_INTERNAL, s + 1, slot, alpha);
      reverse(e, s + 1, t - 1, m - alpha + 1, slot, slot + alpha, 0);
      emit(e, BP_BACKWARD, s + 1, slot);
      emit_free(e, s + 1, slot, alpha);
      return 1;
    }
    advance(e, s, slot, s + y);
    if (kind == BP_KIND_HIDDEN) {         /* push h_{s+y}, right part, pop, left part */
      emit_save(e, BP_SAVE_HIDDEN, s + y, top, 1);
      if (!reverse(e, s + y, t - y, m - 1, top, top + 1, 1)) emit_free(e, s + y, top, 1);
      t = y;
    } else {                              /* push internal_{s+y}: its backward is free */
      emit_save(e, BP_SAVE_INTERNAL, s + y, top, alpha);
      reverse(e, s + y, t - y, m - alpha, top, top + alpha, 0);
      emit(e, BP_BACKWARD, s + y, top);
      emit_free(e, s + y, top, alpha);
      t = y - 1;
    }
  }
  return 0;
}

/* Plain BPTT: keep internal_1..internal_{T-1}; step T runs from the register. */
static void gen_store_all(bp_emit *e, int T, int alpha) {
  for (int t = 1; t <= T; t++) {
    emit(e, BP_FORWARD, t, -1);
    if (t < T) emit_save(e, BP_SAVE_INTERNAL, t, 1 + alpha * (t - 1), alpha);
  }
  for (int t = T; t >= 1; t--) {
    emit(e, BP_BACKWARD, t, t == T ? -1 : 1 + alpha * (t - 1));
    if (t < T) emit_free(e, t, 1 + alpha * (t - 1), alpha);
  }
}

/* Chen's segments: nseg near-equal segments, the longer ones last. Segment j starts at
 * bound(j); boundaries 0..nseg-2 are kept in slots 0..nseg-2. */
static int seg_start(int T, int nseg, int j) {
  int base = T / nseg, longer = T % nseg, shorter = nseg - longer;
  return j <= shorter ? j * base : shorter * base + (j - shorter) * (base + 1);
}

static int64_t sqrt_cost(int T, int nseg) {   /* sweep to the last boundary, then T */
  return T == 0 ? 0 : (int64_t)T + seg_start(T, nseg, nseg - 1);
}

static int64_t sqrt_peak(int T, int nseg, int alpha) {
  if (T == 0) return 1;
  int len_last = T - seg_start(T, nseg, nseg - 1);
  return (nseg > 1 ? nseg - 1 : 1) + (int64_t)alpha * (len_last - 1);
}

/* The fewest segments (the cheapest plan) that fit in m slots; 0 if none. */
static int sqrt_segments(int T, int m, int alpha) {
  if (T == 0) return 1;
  for (int nseg = 1; nseg <= T; nseg++)
    if (sqrt_peak(T, nseg, alpha) <= m) return nseg;
  return 0;
}

static void gen_segment(bp_emit *e, int b, int end, int slot, int top, int alpha) {
  advance(e, b, slot, b);
  for (int k = b + 1; k <= end; k++) {
    emit(e, BP_FORWARD, k, -1);
    if (k < end) emit_save(e, BP_SAVE_INTERNAL, k, top + alpha * (k - b - 1), alpha);
  }
  emit(e, BP_BACKWARD, end, -1);
  for (int k = end - 1; k > b; k--) {
    emit(e, BP_BACKWARD, k, top + alpha * (k - b - 1));
    emit_free(e, k, top + alpha * (k - b - 1), alpha);
  }
}

static void gen_sqrt(bp_emit *e, int T, int nseg, int alpha) {
  if (T == 0) return;
  for (int j = 1; j < nseg; j++) {           /* the sweep */
    int b = seg_start(T, nseg, j);
    for (int k = seg_start(T, nseg, j - 1) + 1; k <= b; k++) emit(e, BP_FORWARD, k, -1);
    if (j < nseg - 1) emit_save(e, BP_SAVE_HIDDEN, b, j, 1);
  }
  for (int j = nseg - 1; j >= 0; j--) {
    int b = seg_start(T, nseg, j), end = seg_start(T, nseg, j + 1);
    int last = j == nseg - 1 && j > 0;       /* its boundary is only in the register */
    gen_segment(e, b, end, last ? -1 : j, last ? j : j + 1, alpha);
    if (j > 0 && !last) emit_free(e, b, j, 1);
  }
}

int bp_min_slots(bp_policy p, int T, int alpha) {
  if (p == BP_STORE_ALL) {
    int64_t v = T > 0 ? 1 + (int64_t)alpha * (T - 1) : 1;
    return v > INT32_MAX ? INT32_MAX : (int)v;
  }
  if (p == BP_SQRT) {
    int64_t best = 1;
    for (int nseg = 1; nseg <= T; nseg++) {
      int64_t v = sqrt_peak(T, nseg, alpha);
      if (nseg == 1 || v < best) best = v;
    }
    return best > INT32_MAX ? INT32_MAX : (int)best;
  }
  return 1;
}

void bp_schedule_free(bp_schedule *s) {
  if (!s) return;
  free(s->acts);
  memset(s, 0, sizeof *s);
}

static int need_slots(bp_ctx *c, bp_policy p, int T, int m, int alpha) {
  int need = bp_min_slots(p, T, alpha);
  if (m >= need) return BP_OK;
  return fail(c, BP_ERR_BUDGET, "BPTT policy %s needs at least %d slots for T = %d "
              "(alpha = %d); %d given", policy_names[p], need, T, alpha, m);
}

int bp_schedule_build(bp_ctx *c, bp_policy p, int T, int m, int alpha, bp_schedule *out) {
  memset(out, 0, sizeof *out);
  int st = check_args(c, p, T, m, alpha);
  if (st == BP_OK) st = need_slots(c, p, T, m, alpha);
  if (st != BP_OK) return st;
  *out = (bp_schedule){.policy = p, .T = T, .m = m, .alpha = alpha};
  bp_emit e = {.c = c, .s = out, .reg = 0};
  if (is_dp(p) && (st = table_get(c, p, T, m, alpha, &e.tb)) != BP_OK) return st;
  emit_save(&e, BP_SAVE_HIDDEN, 0, 0, 1);
  if (p == BP_STORE_ALL) gen_store_all(&e, T, alpha);
  else if (p == BP_SQRT) gen_sqrt(&e, T, sqrt_segments(T, m, alpha), alpha);
  else reverse(&e, 0, T, m, 0, 1, 0);
  emit_free(&e, 0, 0, 1);
  if (e.nomem) {
    bp_schedule_free(out);
    return fail(c, BP_ERR_NOMEM, "out of memory for a BPTT schedule (T = %d)", T);
  }
  return BP_OK;
}

/* ---- predicted cost ----------------------------------------------------------------- */

int bp_cost(bp_ctx *c, bp_policy p, int T, int m, int alpha, int64_t *cost) {
  int st = check_args(c, p, T, m, alpha);
  if (st == BP_OK) st = need_slots(c, p, T, m, alpha);
  if (st != BP_OK) return st;
  switch (p) {
  case BP_STORE_ALL: *cost = T; return BP_OK;
  case BP_REVOLVE: *cost = bp_revolve_cost(T, m); return BP_OK;
  case BP_SQRT: *cost = sqrt_cost(T, sqrt_segments(T, m, alpha)); return BP_OK;
  default: break;
  }
  if (p != BP_HSM && T > 0 && m >= 1 + (int64_t)alpha * (T - 1)) {
    *cost = T;   /* every internal state fits: no table needed */
    return BP_OK;
  }
  return bp_dp_lookup(c, p, T, m, alpha, cost, NULL, NULL);
}

/* ---- the abstract executor ---------------------------------------------------------- */

typedef struct {
  int reg, reg_internal;   /* register: h_reg (and internal_reg if reg_internal) */
  int next;                /* the next step to reverse */
  int live, peak;
  int units;               /* units tracked: the highest any valid SAVE reaches (<= m) */
  int *owner;              /* per unit: 1 + index of the SAVE that holds it, or 0 */
} bp_sim;

/* Units [u, u+n) inside [0, m) and all free. */
static int units_free(const bp_sim *v, int m, int u, int n) {
  if (u < 0 || n > m || u > m - n) return 0;
  for (int i = u; i < u + n; i++)
    if (v->owner[i]) return 0;
  return 1;
}

/* The SAVE action that slot u holds step t with, or NULL. */
static const bp_action *slot_at(const bp_sim *v, const bp_schedule *s, int u, int t) {
  if (u < 0 || u >= v->units || !v->owner[u]) return NULL;
  const bp_action *a = &s->acts[v->owner[u] - 1];
  return a->slot == u && a->step == t ? a : NULL;
}

static void occupy(bp_sim *v, int u, int n, int owner) {
  for (int i = u; i < u + n; i++) v->owner[i] = owner;
  v->live += owner ? n : -n;
  if (v->live > v->peak) v->peak = v->live;
}

/* Applies action i; returns NULL or what is wrong with it. */
static const char *sim_step(bp_sim *v, const bp_schedule *s, size_t i, bp_sim_stats *st) {
  const bp_action *a = &s->acts[i];
  int t = a->step, u = a->slot, w = a->op == BP_SAVE_INTERNAL ? s->alpha : 1;
  const bp_action *held = slot_at(v, s, u, t);
  switch ((bp_op)a->op) {
  case BP_FORWARD:
    if (t < 1 || t > s->T || v->reg != t - 1) return "FORWARD(t) needs h_{t-1} in the register";
    v->reg = t, v->reg_internal = 1, st->forwards++;
    return NULL;
  case BP_SAVE_HIDDEN:
  case BP_SAVE_INTERNAL:
    if (v->reg != t || (a->op == BP_SAVE_INTERNAL && !v->reg_internal))
      return "SAVE of a state the register does not hold";
    if (!units_free(v, s->m, u, w)) return "SAVE to units outside [0, m) or in use";
    occupy(v, u, w, (int)i + 1);
    return NULL;
  case BP_RESTORE:
    if (!held) return "RESTORE from a slot that does not hold that step";
    v->reg = t, v->reg_internal = held->op == BP_SAVE_INTERNAL;
    return NULL;
  case BP_BACKWARD:
    if (t != v->next) return "BACKWARD out of order (expected T, T-1, ..., 1)";
    if (u == -1 ? !(v->reg == t && v->reg_internal) : !(held && held->op == BP_SAVE_INTERNAL))
      return "BACKWARD(t) without internal_t";
    v->next--, st->backwards++;
    return NULL;
  case BP_FREE:
    if (!held) return "FREE of a slot that does not hold that step";
    occupy(v, u, held->op == BP_SAVE_INTERNAL ? s->alpha : 1, 0);
    return NULL;
  }
  return "unknown action";
}

int bp_simulate(bp_ctx *c, const bp_schedule *s, bp_sim_stats *st) {
  *st = (bp_sim_stats){0, 0, 0};
  if (s->m < 1 || s->alpha < 1 || s->T < 0)
    return fail(c, BP_ERR_ARG, "schedule with m = %d, alpha = %d, T = %d", s->m, s->alpha, s->T);
  bp_sim v = {.reg = 0, .next = s->T, .units = 1};
  for (size_t i = 0; i < s->n; i++) {   /* m may be huge; track only the units in use */
    const bp_action *a = &s->acts[i];
    int w = a->op == BP_SAVE_INTERNAL ? s->alpha : 1;
    if ((a->op == BP_SAVE_HIDDEN || a->op == BP_SAVE_INTERNAL) && a->slot >= 0 &&
        w <= s->m && a->slot <= s->m - w && a->slot + w > v.units)
      v.units = a->slot + w;
  }
  v.owner = calloc((size_t)v.units, sizeof(int));
  if (!v.owner) return fail(c, BP_ERR_NOMEM, "out of memory simulating a schedule");
  int status = BP_OK;
  for (size_t i = 0; i < s->n && status == BP_OK; i++) {
    const char *why = sim_step(&v, s, i, st);
    if (why)
      status = fail(c, BP_ERR_INVALID, "action %zu (op %d, step %d, slot %d): %s", i,
                    s->acts[i].op, s->acts[i].step, s->acts[i].slot, why);
  }
  if (status == BP_OK && v.next != 0)
    status = fail(c, BP_ERR_INVALID, "schedule ends with steps 1..%d not reversed", v.next);
  if (status == BP_OK && v.live != 0)
    status = fail(c, BP_ERR_INVALID, "schedule ends with %d units still held", v.live);
  st->peak_units = v.peak;
  free(v.owner);
  return status;
}

/* ---- budget in bytes ---------------------------------------------------------------- */

static int64_t slots_for(const bp_budget *b) {   /* whole hidden-state units that fit */
  uint64_t v = (b->budget_bytes - b->fixed_bytes) / b->hidden_bytes;
  return v > INT32_MAX ? INT32_MAX : (int64_t)v;
}

static int budget_error(bp_ctx *c, const bp_budget *b, unsigned allowed, int alpha) {
  int need = INT32_MAX;
  for (int p = 0; p < BP_POLICY_COUNT; p++)
    if (allowed & (1u << p)) {
      int v = bp_min_slots((bp_policy)p, b->T, alpha);
      need = v < need ? v : need;
    }
  return fail(c, BP_ERR_BUDGET, "memory budget of %llu bytes is below the minimum of %llu "
              "bytes for T = %d (fixed %llu + %d slot%s of %llu bytes)",
              (unsigned long long)b->budget_bytes,
              (unsigned long long)(b->fixed_bytes + (uint64_t)need * b->hidden_bytes), b->T,
              (unsigned long long)b->fixed_bytes, need, need == 1 ? "" : "s",
              (unsigned long long)b->hidden_bytes);
}

/* Cheapest allowed policy in m slots. ISM is skipped when MSM is allowed (never cheaper),
 * HSM when revolve is (the same cost, and revolve wins ties). */
static int pick(bp_ctx *c, int T, int m, int alpha, unsigned allowed, bp_choice *out) {
  int found = 0;
  for (int p = 0; p < BP_POLICY_COUNT; p++) {
    int64_t cost;
    if (!(allowed & (1u << p)) || m < bp_min_slots((bp_policy)p, T, alpha)) continue;
    if (p == BP_ISM && (allowed & (1u << BP_MSM))) continue;
    if (p == BP_HSM && (allowed & (1u << BP_REVOLVE))) continue;   /* same cost, no table */
    int st = bp_cost(c, (bp_policy)p, T, m, alpha, &cost);
    if (st == BP_ERR_RANGE) continue;   /* its table is too big to plan: the others remain */
    if (st != BP_OK) return st;
    if (!found || cost < out->forwards) out->policy = (bp_policy)p, out->forwards = cost;
    found = 1;
  }
  return found ? BP_OK : BP_ERR_BUDGET;
}

int bp_choose(bp_ctx *c, const bp_budget *b, unsigned allowed, bp_choice *out) {
  memset(out, 0, sizeof *out);
  if (!b->hidden_bytes || !b->internal_bytes)
    return fail(c, BP_ERR_ARG, "BPTT budget: hidden and internal state sizes must be > 0");
  if (b->T < 0 || b->T > BP_MAX_T)
    return fail(c, BP_ERR_RANGE, "scan length T = %d is outside [0, %d]", b->T, BP_MAX_T);
  if (!(allowed & BP_ALL_POLICIES)) return fail(c, BP_ERR_ARG, "no BPTT policy allowed");
  uint64_t a = (b->internal_bytes + b->hidden_bytes - 1) / b->hidden_bytes;
  if (a > INT32_MAX / 2) return fail(c, BP_ERR_RANGE, "internal state %llu x the hidden state",
                                     (unsigned long long)a);
  int alpha = (int)a;
  if (b->budget_bytes < b->fixed_bytes || slots_for(b) < 1)
    return budget_error(c, b, allowed, alpha);
  int m = (int)slots_for(b);
  int st = pick(c, b->T, m, alpha, allowed, out);
  if (st == BP_ERR_BUDGET) return budget_error(c, b, allowed, alpha);
  if (st != BP_OK) return st;
  bp_schedule s;
  if ((st = bp_schedule_build(c, out->policy, b->T, m, alpha, &s)) != BP_OK) return st;
  out->T = b->T, out->m = m, out->alpha = alpha, out->peak_units = s.peak_units;
  out->peak_bytes = b->fixed_bytes + (uint64_t)s.peak_units * b->hidden_bytes;
  bp_schedule_free(&s);
  return BP_OK;
}

/* ---- persisting a plan -------------------------------------------------------------- */

/* Format: the magic, then little-endian int64 fields (the choice, the schedule's header,
 * n), then n actions of three int64 (op, step, slot). Plain and slow-to-grow on purpose:
 * at T = 1000 a schedule is a few thousand actions. */
static const char plan_magic[8] = {'N', 'N', 'C', 'B', 'P', 'T', '1', '\n'};
enum { PLAN_HEAD = 12 };

static void put64(unsigned char *p, int64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)((uint64_t)v >> (8 * i));
}

static int64_t get64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return (int64_t)v;
}

int bp_plan_encode(const bp_choice *ch, const bp_schedule *s, unsigned char **buf, size_t *len) {
  size_t n = 8 + 8 * (PLAN_HEAD + 3 * s->n);
  unsigned char *b = malloc(n);
  if (!b) return BP_ERR_NOMEM;
  int64_t head[PLAN_HEAD] = {ch->policy, ch->T, ch->m, ch->alpha, ch->forwards, ch->peak_units,
                             (int64_t)ch->peak_bytes, s->policy, s->forwards, s->peak_units,
                             (int64_t)s->n, s->m};
  memcpy(b, plan_magic, 8);
  for (int i = 0; i < PLAN_HEAD; i++) put64(b + 8 + 8 * i, head[i]);
  unsigned char *p = b + 8 + 8 * PLAN_HEAD;
  for (size_t i = 0; i < s->n; i++, p += 24) {
    put64(p, s->acts[i].op);
    put64(p + 8, s->acts[i].step);
    put64(p + 16, s->acts[i].slot);
  }
  *buf = b, *len = n;
  return BP_OK;
}

/* The header's fields in range and consistent with each other; NULL or what is wrong. */
static const char *plan_head_ok(const int64_t *h, size_t len) {
  if (h[0] < 0 || h[0] >= BP_POLICY_COUNT || h[7] != h[0]) return "policy";
  if (h[1] < 0 || h[1] > BP_MAX_T || h[2] < 1 || h[2] > INT32_MAX || h[3] < 1 ||
      h[3] > INT32_MAX / 2 || h[11] != h[2])
    return "T, m or alpha";
  if (h[10] < 0 || (uint64_t)h[10] != (len - 8 - 8 * PLAN_HEAD) / 24 ||
      (len - 8 - 8 * PLAN_HEAD) % 24)
    return "length";
  return NULL;
}

int bp_plan_decode(bp_ctx *c, const unsigned char *buf, size_t len, bp_choice *ch, bp_schedule *s) {
  memset(ch, 0, sizeof *ch);
  memset(s, 0, sizeof *s);
  int64_t h[PLAN_HEAD];
  if (len < 8 + 8 * PLAN_HEAD || memcmp(buf, plan_magic, 8))
    return fail(c, BP_ERR_INVALID, "not a BPTT plan");
  for (int i = 0; i < PLAN_HEAD; i++) h[i] = get64(buf + 8 + 8 * i);
  const char *why = plan_head_ok(h, len);
  if (why) return fail(c, BP_ERR_INVALID, "BPTT plan: bad %s", why);
  bp_schedule d = {.policy = (bp_policy)h[7], .T = (int)h[1], .m = (int)h[2], .alpha = (int)h[3],
                   .n = (size_t)h[10], .cap = (size_t)h[10]};
  d.acts = malloc((d.n ? d.n : 1) * sizeof *d.acts);
  if (!d.acts) return fail(c, BP_ERR_NOMEM, "out of memory for a BPTT plan");
  const unsigned char *p = buf + 8 + 8 * PLAN_HEAD;
  for (size_t i = 0; i < d.n; i++, p += 24) {
    int64_t op = get64(p), step = get64(p + 8), slot = get64(p + 16);
    if (op < 0 || op > BP_FREE || step < 0 || step > d.T || slot < -1 || slot >= d.m)
      return bp_schedule_free(&d), fail(c, BP_ERR_INVALID, "BPTT plan: bad action %zu", i);
    d.acts[i] = (bp_action){(uint8_t)op, (int32_t)step, (int32_t)slot};
  }
  bp_sim_stats st;
  int rc = bp_simulate(c, &d, &st);
  if (rc == BP_OK && (st.forwards != h[8] || st.peak_units != h[9]))
    rc = fail(c, BP_ERR_INVALID, "BPTT plan: forwards or peak differ from the header");
  if (rc != BP_OK) return bp_schedule_free(&d), rc;
  d.forwards = h[8], d.peak_units = (int)h[9];
  *ch = (bp_choice){(bp_policy)h[0], (int)h[1], (int)h[2], (int)h[3], h[4], (int)h[5],
                    (uint64_t)h[6]};
  *s = d;
  return BP_OK;
}

/* ---- --dump=bptt -------------------------------------------------------------------- */

/* The checkpoints of the first sweep: the SAVEs before the first BACKWARD. */
static void dump_first_sweep(FILE *f, const bp_schedule *s) {
  int shown = 0, total = 0;
  fprintf(f, "  first sweep keeps:");
  for (size_t i = 0; i < s->n && s->acts[i].op != BP_BACKWARD; i++) {
    const bp_action *a = &s->acts[i];
    if (a->op != BP_SAVE_HIDDEN && a->op != BP_SAVE_INTERNAL) continue;
    if (shown < 16) fprintf(f, " %c%d", a->op == BP_SAVE_HIDDEN ? 'h' : 'i', a->step), shown++;
    total++;
  }
  fprintf(f, "%s (%d states)\n", total > shown ? " ..." : "", total);
}

int bp_dump(FILE *f, const char *scan, const bp_choice *ch, const bp_schedule *s) {
  double per_step = ch->T ? (double)ch->forwards / ch->T : 0.0;
  fprintf(f, "bptt %s: policy %s -- %s\n", scan ? scan : "scan", bp_policy_name(ch->policy),
          bp_policy_source(ch->policy));
  fprintf(f, "  T = %d, slots = %d (alpha = %d; store-all needs %d)\n", ch->T, ch->m,
          ch->alpha, bp_min_slots(BP_STORE_ALL, ch->T, ch->alpha));
  fprintf(f, "  forward ops %lld = %.2f T, recomputation %lld\n", (long long)ch->forwards,
          per_step, (long long)(ch->forwards - ch->T));
  if (s) {
    int hid = 0, in = 0;
    for (size_t i = 0; i < s->n; i++)
      hid += s->acts[i].op == BP_SAVE_HIDDEN, in += s->acts[i].op == BP_SAVE_INTERNAL;
    fprintf(f, "  stores: %d hidden, %d internal\n", hid, in);
    dump_first_sweep(f, s);
  }
  fprintf(f, "  predicted peak %d slots = %llu bytes with the fixed part\n", ch->peak_units,
          (unsigned long long)ch->peak_bytes);
  return BP_OK;
}
