/* lower_scan.c — a differentiated scan lowered to the checkpointing executor.
 *
 * A forward scan whose saved carries feed only its backward scan (compiler/scan.c) is a
 * "pair". With checkpointing on (lscan_set_options), the pair is lowered as:
 *   - the forward body and the backward body, each once, into two extra kir functions over
 *     the main function's slots (same arena), reading x_t / writing y_t at the step held in
 *     an i64 time cell (data-dependent indices), carries in fixed register buffers;
 *   - in the main function, in place of the forward scan: init copies, a call of
 *     nnrt_bptt_forward(cell) (the schedule's first sweep), final-carry copies; in place of
 *     the backward scan: a call of nnrt_bptt_backward(cell) (the rest of the schedule).
 * The stacked saved carries [T, ...] are not allocated; the executor keeps m slot units in
 * the arena instead. The schedule comes from compiler/bptt_plan.c (bp_choose on the memory
 * budget, or a forced policy): Gruslys et al. 2016 / Griewank 1992 / Chen et al. 2016, see
 * docs/bptt.md. Random ops in a body draw with the scan's counters (rng_steps), so a
 * recomputed step reproduces its dropout mask. */
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "bptt_exec.h"
#include "bptt_lower.h"

#define ARENA_ALIGN 64
#define MAXC 64

typedef struct lscan_pair {
  int fwd_node, bwd_node;          /* graph node ids                                 */
  int nc;
  int64_t piece_bytes[MAXC], reg_off[MAXC], cin_off[MAXC];
  int64_t unit_bytes, units_off, prev_off, tcell_off, cell_off;
  int arena_slot, rev;
  int64_t T;
  kir_func *ff, *bf;               /* step functions (owned)                         */
  bp_schedule sched;
  bp_choice choice;
  uint64_t fixed_bytes;
  /* memory planning (memplan.c) may move main's arena buffers after lowering: what to
   * re-read in lscan_bind. map[w]: (step-function buffer, main buffer) pairs, w = 0 the
   * forward step, 1 the backward; scratch[w]: a main buffer covering the step function's
   * own temporaries (bump range from scratch_off0[w]), which move with it. */
  int *map[2], nmap[2], cmap[2];
  int scratch[2];
  int64_t scratch_off0[2];
  int creg_main[MAXC], cin_main[MAXC], units_main, prev_main, tcell_main, cell_main, live_main;
} lscan_pair;

typedef struct lscan_plan {
  const kir_func *main;
  lscan_pair *p;
  int n, cap;
  uint64_t fixed_bytes;            /* computed once per graph                        */
  int nscans;                      /* checkpointable pairs in the graph              */
  struct lscan_plan *next;
} lscan_plan;

struct lscan_bound {
  lscan_plan *plan;
  nnrt_bptt_rec *rec;
  cache_obj **objs;
};

static lscan_options g_opts;
static lscan_plan *g_plans;
static const lscan_bound *g_last;

void lscan_set_options(const lscan_options *o) { g_opts = *o; }
const lscan_options *lscan_get_options(void) { return &g_opts; }

/* ------------------------------------------------------------ helpers ---- */

static int64_t numel(const IrShape *s) {
  int64_t n = 1;
  for (int d = 0; d < s->rank; d++)
    n *= s->dim[d];
  return n;
}

static int64_t vbytes(const IrGraph *g, IrVal v) {
  const IrType *t = ir_type(g, v);
  return numel(&t->shape) * ir_dtype_size(t->dtype);
}

static int64_t arena_take(lower_ctx *L, int64_t bytes) {
  int64_t off = (L->arena_bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
  L->arena_bytes = off + bytes;
  return off;
}

static lscan_plan *plan_of(const kir_func *f, int create) {
  for (lscan_plan *p = g_plans; p; p = p->next)
    if (p->main == f)
      return p;
  if (!create)
    return NULL;
  lscan_plan *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  p->main = f;
  p->next = g_plans;
  g_plans = p;
  return p;
}

static void plan_free(lscan_plan *p) {
  for (int i = 0; i < p->n; i++) {
    free(p->p[i].map[0]);
    free(p->p[i].map[1]);
    kir_free(p->p[i].ff);
    kir_free(p->p[i].bf);
    bp_schedule_free(&p->p[i].sched);
  }
  free(p->p);
  free(p);
}

void lscan_forget(const kir_func *main) {
  for (lscan_plan **pp = &g_plans; *pp; pp = &(*pp)->next)
    if ((*pp)->main == main) {
      lscan_plan *p = *pp;
      *pp = p->next;
      plan_free(p);
      return;
    }
}

/* The backward scan fed by forward scan f's saved carries, or NULL if they have other
 * users (or are graph results, or the backward also differentiates them). */
static const IrNode *pair_of(const IrGraph *g, const IrNode *f) {
  int nc = (int)f->attr.ints[0], ny = f->sub[0]->nouts - nc;
  const IrNode *b = NULL;
  for (int j = 0; j < nc; j++) {
    IrVal s = f->out[nc + ny + j];
    for (int i = 0; i < g->nouts; i++)
      if (g->outs[i] == s)
        return NULL;
    for (int i = f->id + 1; i < g->nnodes; i++) {
      const IrNode *u = g->nodes[i];
      for (int k = 0; k < u->nin; k++) {
        if (u->in[k] != s)
          continue;
        if (u->op != OP_SCAN || (b && b != u))
          return NULL;
        int nc2 = (int)u->attr.ints[0];
        if (k != nc2 + j)
          return NULL;
        b = u;
      }
    }
  }
  if (!b || b->attr.ints[5] || b->attr.ints[4] != !f->attr.ints[4])
    return NULL;
  int nx = (int)f->attr.ints[1];
  if (b->attr.ints[1] != nc + nx + ny || b->attr.ints[3] != f->attr.ints[3])
    return NULL;
  return b;
}

static int checkpointable(const IrGraph *g, const IrNode *f) {
  return f->op == OP_SCAN && f->attr.ints[5] && (int)f->attr.ints[0] <= MAXC && pair_of(g, f) != NULL;
}

/* Bytes a training step keeps besides the scans' slots: every value the bump-allocated
 * arena and the slots hold (leaves, results, temporaries, scan bodies), saved carries of
 * checkpointed scans left out, plus the caller's extra (optimizer state). */
static uint64_t sub_bytes(const IrGraph *g) {
  uint64_t s = 0;
  for (int i = 0; i < g->nnodes; i++) {
    const IrNode *n = g->nodes[i];
    for (int k = 0; k < n->nout; k++)
      s += (uint64_t)vbytes(g, n->out[k]);
    if (n->sub[0])
      s += sub_bytes(n->sub[0]);
  }
  return s;
}

static void graph_budget(const IrGraph *g, lscan_plan *P) {
  uint64_t s = g_opts.extra_fixed;
  for (int i = 0; i < g->nnodes; i++) {
    const IrNode *n = g->nodes[i];
    int ck = checkpointable(g, n), nc = (int)n->attr.ints[0];
    int ny = n->op == OP_SCAN ? n->sub[0]->nouts - nc : 0;
    P->nscans += ck;
    for (int k = 0; k < n->nout; k++)
      if (!(ck && k >= nc + ny))
        s += (uint64_t)vbytes(g, n->out[k]);
    if (n->sub[0])
      s += sub_bytes(n->sub[0]);
  }
  P->fixed_bytes = s;
}

/* The step function being built and where its buffer map goes (redecl). */
static lscan_pair *g_cur;
static int g_w;

/* Re-declares main's buffer b in the step function sf (and records the pair). */
static int redecl(const kir_func *mf, kir_func *sf, int b) {
  const kir_buf *x = &mf->buf[b];
  if (x->slot < 0)
    return kir_const_buffer(sf, x->name, x->dt, x->size, x->data);
  int s = kir_buffer(sf, x->name, x->dt, x->slot, x->offset, x->size);
  lscan_pair *pp = g_cur;
  int w = g_w;
  if (s >= 0 && pp) {
    if (pp->nmap[w] == pp->cmap[w]) {
      int cap = pp->cmap[w] ? 2 * pp->cmap[w] : 32;
      int *q = realloc(pp->map[w], sizeof *q * 2 * (size_t)cap);
      if (!q)
        return -1;
      pp->map[w] = q, pp->cmap[w] = cap;
    }
    pp->map[w][2 * pp->nmap[w]] = s;
    pp->map[w][2 * pp->nmap[w] + 1] = b;
    pp->nmap[w]++;
  }
  return s;
}

/* A main buffer over bytes [off, off + bytes) of the arena (as f32 elements). */
static int arena_buf(lower_ctx *L, const char *name, int64_t off, int64_t bytes) {
  return kir_buffer(L->f, name, KIR_F32, L->arena_slot, off / 4, bytes > 0 ? (bytes + 3) / 4 : 1);
}

/* A one-point kernel loading element 0 of each arena buffer of the pair's step function w
 * (and of the executor's state when exec is set): the executor's uses are invisible to
 * memory planning, so these kernels mark them live around the calls. */
static void touch(lower_ctx *L, const lscan_pair *pp, int w0, int w1, int exec) {
  int64_t one = 1;
  int flags = 0, acc = -1, nb = 0;
  int *bufs = malloc(sizeof *bufs * (size_t)(pp->nmap[0] + pp->nmap[1] + 2 * MAXC + 8));
  if (!bufs)
    return;
  for (int w = w0; w <= w1; w++) {
    bufs[nb++] = pp->scratch[w];
    for (int i = 0; i < pp->nmap[w]; i++)
      bufs[nb++] = pp->map[w][2 * i + 1];
  }
  if (exec) {
    bufs[nb++] = pp->units_main, bufs[nb++] = pp->prev_main;
    bufs[nb++] = pp->tcell_main, bufs[nb++] = pp->cell_main;
    for (int j = 0; j < pp->nc; j++)
      bufs[nb++] = pp->creg_main[j], bufs[nb++] = pp->cin_main[j];
  }
  kir_loop(L->f, "bp_live", 1, &one, &flags);
  kir_index z = kir_index_zero();
  for (int i = 0; i < nb; i++) {
    int b = bufs[i];
    if (b < 0 || L->f->buf[b].slot != L->arena_slot)
      continue;
    int v = kir_cast(L->f, KIR_F64, kir_load(L->f, b, z));
    acc = acc < 0 ? v : kir_op2(L->f, SC_ADD, acc, v);
  }
  free(bufs);
  kir_store_to(L->f, pp->live_main, z, acc < 0 ? kir_const(L->f, KIR_F64, 0) : acc, KIR_RED_NONE, -1);
}

static kir_index rowmajor(const IrShape *s) { return kir_index_bcast(s->rank, s->rank, s->dim); }

/* Step t (from the time cell) of stacked `whole` (axis ax, T steps) <-> `part`; serial. */
static void dyn_copy(kir_func *f, const char *name, const IrShape *ws, int ax, int whole, int part, int to_whole,
                     int tcell) {
  IrShape ps = *ws;
  ps.dim[ax] = 1;
  kir_index xw = rowmajor(ws), xp = rowmajor(&ps);
  kir_dyn dyn = {.stride = xw.stride[ax], .limit = ws->dim[ax]};
  xw.stride[ax] = 0;
  int flags[IR_MAX_RANK] = {0};
  kir_loop(f, name, ps.rank, ps.dim, flags);
  dyn.expr = kir_load(f, tcell, kir_index_zero());
  if (to_whole)
    kir_store_dyn(f, whole, xw, dyn, kir_load(f, part, xp), 0);
  else
    kir_store_to(f, part, xp, kir_load_dyn(f, whole, xw, dyn), KIR_RED_NONE, -1);
}

static void flat_copy(kir_func *f, const char *name, int src, int dst, int64_t k) {
  kir_index x = kir_index_bcast(1, 1, &k);
  int flags = 0;
  kir_loop(f, name, 1, &k, &flags);
  kir_store_to(f, dst, x, kir_load(f, src, x), KIR_RED_NONE, -1);
}

/* ----------------------------------------------------------- planning ---- */

/* FORWARD(t) directly followed by BACKWARD(t) from the register, after the first sweep:
 * the executor skips these (the backward body recomputes the step from h_{t-1}). */
static int64_t elidable(const bp_schedule *s) {
  int64_t n = 0;
  size_t i = 0;
  while (i < s->n && s->acts[i].op != BP_BACKWARD)
    i++;
  for (; i + 1 < s->n; i++)
    n += s->acts[i].op == BP_FORWARD && s->acts[i + 1].op == BP_BACKWARD && s->acts[i + 1].step == s->acts[i].step &&
         s->acts[i + 1].slot < 0;
  return n;
}

/* In the m slots bp_choose found, the allowed policy with the fewest forward body runs
 * once elisions are counted (ties: bp_policy order). The planner's cost model counts a
 * FORWARD before each BACKWARD that this compiler's backward body makes anyway, so here
 * revolve/HSM usually win: Griewank's model, where a reverse step includes its recompute. */
static int cheapest(bp_ctx *c, lscan_pair *pp, int T, unsigned allowed) {
  int64_t best = -1;
  for (int p = 0; p < BP_POLICY_COUNT; p++) {
    bp_schedule s = {0};
    if (!(allowed & (1u << p)) || bp_schedule_build(c, (bp_policy)p, T, pp->choice.m, 2, &s) != BP_OK)
      continue;
    int64_t runs = s.forwards - elidable(&s);
    if (best < 0 || runs < best) {
      best = runs;
      bp_schedule_free(&pp->sched);
      pp->sched = s;
      pp->choice.policy = (bp_policy)p;
      pp->choice.forwards = s.forwards;
    } else
      bp_schedule_free(&s);
  }
  return best < 0 ? BP_ERR_BUDGET : BP_OK;
}

static int plan_pair(lower_ctx *L, lscan_plan *P, lscan_pair *pp, int64_t T) {
  bp_ctx *c = bp_ctx_new();
  if (!c)
    return lower_fail(L, "out of memory");
  uint64_t hid = (uint64_t)pp->unit_bytes;
  /* the executor's own registers: prev and the backward body's carry formals */
  uint64_t fixed = P->fixed_bytes + 2 * hid;
  int rc = BP_OK;
  if (g_opts.budget_bytes) {
    uint64_t share = g_opts.budget_bytes > fixed ? (g_opts.budget_bytes - fixed) / (uint64_t)P->nscans : 0;
    bp_budget b = {.T = (int)T, .hidden_bytes = hid, .internal_bytes = 2 * hid, .fixed_bytes = fixed,
                   .budget_bytes = g_opts.budget_bytes > fixed ? fixed + share : g_opts.budget_bytes};
    unsigned allowed = g_opts.policy >= 0 ? 1u << g_opts.policy : g_opts.allowed ? g_opts.allowed : BP_ALL_POLICIES;
    rc = bp_choose(c, &b, allowed, &pp->choice);
  } else {
    int m = g_opts.slots;
    bp_policy p = g_opts.policy >= 0 ? (bp_policy)g_opts.policy : BP_REVOLVE;
    if (m <= 0) {
      m = 2;
      while ((int64_t)m * m < 4 * T)
        m++;
    }
    if (m < bp_min_slots(p, (int)T, 2))
      m = bp_min_slots(p, (int)T, 2);
    int64_t cost = 0;
    rc = bp_cost(c, p, (int)T, m, 2, &cost);
    pp->choice = (bp_choice){.policy = p, .T = (int)T, .m = m, .alpha = 2, .forwards = cost};
  }
  if (rc == BP_OK && g_opts.budget_bytes && g_opts.policy < 0)
    rc = cheapest(c, pp, (int)T, g_opts.allowed ? g_opts.allowed : BP_ALL_POLICIES);
  else if (rc == BP_OK)
    rc = bp_schedule_build(c, pp->choice.policy, (int)T, pp->choice.m, 2, &pp->sched);
  if (rc == BP_OK) {
    pp->choice.peak_units = pp->sched.peak_units;
    pp->choice.peak_bytes = fixed + (uint64_t)pp->sched.peak_units * hid;
    pp->fixed_bytes = fixed;
  } else
    lower_fail(L, "bptt: %s", bp_errmsg(c));
  bp_ctx_free(c);
  return rc == BP_OK ? 0 : -1;
}

/* ------------------------------------------------------------ forward ---- */

typedef struct geo {
  int nc, nx, nk, ny, ax;
  int64_t T;
} geo;

static geo geo_of(const IrNode *n) {
  const int64_t *a = n->attr.ints;
  geo g = {.nc = (int)a[0], .nx = (int)a[1], .nk = (int)a[2], .ax = (int)a[3]};
  g.ny = n->sub[0]->nouts - g.nc;
  return g;
}

/* Random ops of the body were lowered for a repeat (RNG step = t + 1 with t the repeat's
 * step, lower_ops.c draw()). A step function runs outside any repeat, so each counter
 * stream `offset + tstride * t` is rewritten to read t from the time cell: the same
 * counters as the plain scan, hence the same masks when a step is recomputed. */
static void rng_steps(kir_func *f, int e0, int tcell) {
  int e1 = f->nexpr;
  for (int e = e0; e < e1; e++) {
    if (f->expr[e].kind != KX_RT)
      continue;
    kir_expr st = f->expr[f->expr[e].arg[1]];
    if (st.kind != KX_AFFINE || st.idx.tstride == 0)
      continue;
    int t = kir_load(f, tcell, kir_index_zero());
    int v = kir_op2(f, SC_ADD, kir_const(f, KIR_I64, (double)st.idx.offset),
                    kir_op2(f, SC_MUL, kir_const(f, KIR_I64, (double)st.idx.tstride), t));
    if (v >= 0)
      f->expr[e].arg[1] = v;
  }
}

/* The body of one step inside step function sf: x_t in (dynamic t), body, y_t out, carries
 * updated in place. creg/xt/...: buffer ids of main; carries in creg[0..nc). */
static int step_fn(lower_ctx *L, const IrNode *n, const geo *g, kir_func *sf, const int *creg, int ncin,
                   const int *cin, int64_t tcell_off) {
  const kir_func *mf = L->f;
  int64_t lo = (L->arena_bytes + 63) / 64 * 64;
  int tcell = redecl(mf, sf, g_cur->tcell_main);
  (void)tcell_off;
  int formals[256], res[256], tmp[MAXC], saved_seed = L->seed_buf;
  int mc[MAXC];
  for (int j = 0; j < g->nc; j++)
    formals[j] = mc[j] = redecl(mf, sf, creg[j]);
  /* step inputs: the first ncin come from the executor (cin), the rest are sliced */
  for (int j = 0; j < g->nx; j++) {
    IrVal xv = n->in[g->nc + j];
    if (j < ncin) {
      formals[g->nc + j] = redecl(mf, sf, cin[j]);
      continue;
    }
    IrShape ps = ir_type(L->g, xv)->shape;
    ps.dim[g->ax] = 1;
    int64_t off = arena_take(L, numel(&ps) * ir_dtype_size(ir_type(L->g, xv)->dtype));
    int dt = ir_type(L->g, xv)->dtype;
    formals[g->nc + j] = kir_buffer(sf, "x_t", dt, L->arena_slot, off / kir_dtype_size(dt), numel(&ps));
    dyn_copy(sf, "bp_x", &ir_type(L->g, xv)->shape, g->ax, redecl(mf, sf, lower_in(L, xv)), formals[g->nc + j], 0,
             tcell);
  }
  for (int j = 0; j < g->nk; j++)
    formals[g->nc + g->nx + j] = redecl(mf, sf, lower_in(L, n->in[g->nc + g->nx + j]));
  if (L->seed_buf >= 0)
    L->seed_buf = redecl(mf, sf, L->seed_buf);
  kir_func *saved_f = L->f;
  L->f = sf;
  L->in_scan = 1;
  int e0 = sf->nexpr, rc = lower_sub(L, n->sub[0], formals, g->nc + g->nx + g->nk, res);
  L->in_scan = 0;
  L->f = saved_f;
  L->seed_buf = saved_seed;
  if (rc)
    return -1;
  rng_steps(sf, e0, tcell);
  for (int j = 0; j < g->nc; j++) { /* results that are carries go through a temporary */
    tmp[j] = -1;
    for (int k = 0; k < g->nc; k++)
      if (res[j] == mc[k] && k != j) {
        int64_t sz = sf->buf[mc[j]].size, dt = sf->buf[mc[j]].dt;
        int64_t off = arena_take(L, sz * kir_dtype_size((kir_dtype)dt));
        tmp[j] = kir_buffer(sf, "bp_swap", (kir_dtype)dt, L->arena_slot, off / kir_dtype_size((kir_dtype)dt), sz);
        flat_copy(sf, "bp_swap", res[j], tmp[j], sz);
      }
  }
  for (int j = 0; j < g->ny; j++) {
    IrVal yv = n->out[g->nc + j];
    dyn_copy(sf, "bp_y", &ir_type(L->g, yv)->shape, g->ax, redecl(mf, sf, L->buf[yv]), res[g->nc + j], 1, tcell);
  }
  for (int j = 0; j < g->nc; j++)
    if (res[j] != mc[j])
      flat_copy(sf, "bp_carry", tmp[j] >= 0 ? tmp[j] : res[j], mc[j], sf->buf[mc[j]].size);
  g_cur->scratch_off0[g_w] = lo;
  g_cur->scratch[g_w] = arena_buf(L, "bp_scratch", lo, L->arena_bytes - lo);
  return kir_ok(sf) ? 0 : lower_fail(L, "out of memory building kernels");
}

/* Carry registers in the arena (main), initialised from the scan's init inputs. */
static void carries_in(lower_ctx *L, const IrNode *n, int nc, int *creg, int64_t *off) {
  for (int j = 0; j < nc; j++) {
    const IrType *t = ir_type(L->g, n->in[j]);
    int64_t k = numel(&t->shape), es = ir_dtype_size(t->dtype);
    off[j] = arena_take(L, k * es);
    creg[j] = kir_buffer(L->f, "bp_carry", t->dtype, L->arena_slot, off[j] / es, k);
    flat_copy(L->f, "scan_init", lower_in(L, n->in[j]), creg[j], k);
  }
}

/* 0: lowered through the executor; 1: left to the plain rule (store-all fits); -1. */
static int lower_forward(lower_ctx *L, const IrNode *n, lscan_plan *P) {
  geo g = geo_of(n);
  g.T = ir_type(L->g, n->in[g.nc])->shape.dim[g.ax];
  if (P->n == P->cap) {
    int cap = P->cap ? 2 * P->cap : 4;
    lscan_pair *q = realloc(P->p, sizeof *q * (size_t)cap);
    if (!q)
      return lower_fail(L, "out of memory");
    P->p = q, P->cap = cap;
  }
  lscan_pair *pp = &P->p[P->n];
  memset(pp, 0, sizeof *pp);
  pp->fwd_node = n->id;
  pp->bwd_node = pair_of(L->g, n)->id;
  pp->nc = g.nc;
  pp->arena_slot = L->arena_slot;
  pp->rev = (int)n->attr.ints[4];
  pp->T = g.T;
  for (int j = 0; j < g.nc; j++) {
    pp->piece_bytes[j] = vbytes(L->g, n->in[j]);
    pp->unit_bytes += pp->piece_bytes[j];
  }
  if (plan_pair(L, P, pp, g.T))
    return -1;
  if (pp->choice.policy == BP_STORE_ALL && g_opts.policy < 0) {
    /* the budget keeps every state: today's plain BPTT (a kir repeat), no executor */
    if (g_opts.dump) {
      char nm[KIR_NAME];
      snprintf(nm, sizeof nm, "%.30s.scan%d", L->f->name, P->n);
      bp_dump(g_opts.dump, nm, &pp->choice, NULL);
    }
    bp_schedule_free(&pp->sched);
    return 1;
  }
  P->n++; /* owned by P from here (freed with it) */
  int creg[MAXC];
  carries_in(L, n, g.nc, creg, pp->reg_off);
  pp->units_off = arena_take(L, pp->unit_bytes * pp->choice.m);
  pp->prev_off = arena_take(L, pp->unit_bytes);
  pp->tcell_off = arena_take(L, 8);
  pp->cell_off = arena_take(L, 8);
  int64_t live_off = arena_take(L, 8);
  for (int j = 0; j < g.nc; j++)
    pp->creg_main[j] = creg[j];
  pp->units_main = arena_buf(L, "bp_units", pp->units_off, pp->unit_bytes * pp->choice.m);
  pp->prev_main = arena_buf(L, "bp_prev", pp->prev_off, pp->unit_bytes);
  pp->tcell_main = kir_buffer(L->f, "bp_t", KIR_I64, L->arena_slot, pp->tcell_off / 8, 1);
  pp->cell_main = kir_buffer(L->f, "bp_cell", KIR_I64, L->arena_slot, pp->cell_off / 8, 1);
  pp->live_main = kir_buffer(L->f, "bp_live", KIR_F64, L->arena_slot, live_off / 8, 1);
  pp->scratch[0] = pp->scratch[1] = -1;
  for (int j = 0; j < MAXC; j++)
    pp->cin_main[j] = -1;
  for (int j = 0; j < g.nc + g.ny; j++)
    lower_out(L, n->out[j]);
  char name[KIR_NAME];
  snprintf(name, sizeof name, "%.30s.bp%df", L->f->name, P->n - 1);
  if (!(pp->ff = kir_new(name, L->f->nslots)))
    return lower_fail(L, "out of memory");
  g_cur = pp, g_w = 0;
  int rc = step_fn(L, n, &g, pp->ff, creg, 0, NULL, pp->tcell_off);
  g_cur = NULL;
  if (rc)
    return -1;
  touch(L, pp, 0, 0, 1);
  kir_call(L->f, "bptt_forward", "nnrt_bptt_forward");
  kir_arg_buf(L->f, pp->cell_main);
  for (int j = 0; j < g.nc; j++)
    flat_copy(L->f, "scan_final", creg[j], L->buf[n->out[j]], L->f->buf[creg[j]].size);
  if (g_opts.dump) {
    snprintf(name, sizeof name, "%.30s.scan%d", L->f->name, P->n - 1);
    bp_dump(g_opts.dump, name, &pp->choice, &pp->sched);
  }
  return 0;
}

static int lower_backward(lower_ctx *L, const IrNode *n, lscan_pair *pp) {
  geo g = geo_of(n);
  int creg[MAXC * 2], cin[MAXC];
  int64_t off[MAXC * 2];
  if (g.nc > 2 * MAXC)
    return lower_fail(L, "too many carries");
  carries_in(L, n, g.nc, creg, off);
  for (int j = 0; j < pp->nc; j++) {
    const IrType *t = ir_type(L->g, n->in[g.nc + j]);
    int64_t k = numel(&t->shape) / t->shape.dim[g.ax], es = ir_dtype_size(t->dtype);
    pp->cin_off[j] = arena_take(L, k * es);
    cin[j] = pp->cin_main[j] = kir_buffer(L->f, "bp_cin", t->dtype, L->arena_slot, pp->cin_off[j] / es, k);
  }
  for (int j = 0; j < n->nout; j++)
    lower_out(L, n->out[j]);
  char name[KIR_NAME];
  snprintf(name, sizeof name, "%.30s.bp%db", L->f->name, (int)(pp - plan_of(L->f, 0)->p));
  if (!(pp->bf = kir_new(name, L->f->nslots)))
    return lower_fail(L, "out of memory");
  g_cur = pp, g_w = 1;
  int rc = step_fn(L, n, &g, pp->bf, creg, pp->nc, cin, pp->tcell_off);
  g_cur = NULL;
  if (rc)
    return -1;
  touch(L, pp, 1, 1, 0);
  kir_call(L->f, "bptt_backward", "nnrt_bptt_backward");
  kir_arg_buf(L->f, pp->cell_main);
  for (int j = 0; j < g.nc; j++)
    flat_copy(L->f, "scan_final", creg[j], L->buf[n->out[j]], L->f->buf[creg[j]].size);
  touch(L, pp, 0, 1, 1);
  return 0;
}

int lscan_lower(lower_ctx *L, const IrNode *n, int *done) {
  *done = 0;
  if (!g_opts.active || L->in_scan || L->g == NULL)
    return 0;
  lscan_plan *P = plan_of(L->f, 0);
  if (P)
    for (int i = 0; i < P->n; i++)
      if (P->p[i].bwd_node == n->id && L->g->nodes[n->id] == n) {
        *done = 1;
        return lower_backward(L, n, &P->p[i]);
      }
  if (!checkpointable(L->g, n) || L->g->nodes[n->id] != n)
    return 0;
  if (!P) {
    if (!(P = plan_of(L->f, 1)))
      return lower_fail(L, "out of memory");
    graph_budget(L->g, P);
  }
  int rc = lower_forward(L, n, P);
  *done = rc <= 0;
  return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------ binding ---- */

static int64_t boff(const kir_func *f, int b) { return f->buf[b].offset * kir_dtype_size(f->buf[b].dt); }

/* After memory planning moved main's arena buffers: the step functions' copies follow
 * their main buffer, their temporaries follow their scratch buffer, the executor's
 * offsets are read again. A no-op when nothing moved. */
static void resync(const kir_func *mf, lscan_pair *pp) {
  kir_func *sfs[2] = {pp->ff, pp->bf};
  for (int w = 0; w < 2; w++) {
    kir_func *sf = sfs[w];
    char *mapped = calloc((size_t)sf->nbuf + 1, 1);
    for (int i = 0; i < pp->nmap[w]; i++) {
      int s = pp->map[w][2 * i], m = pp->map[w][2 * i + 1];
      sf->buf[s].offset = mf->buf[m].offset;
      if (mapped)
        mapped[s] = 1;
    }
    int64_t shift = boff(mf, pp->scratch[w]) - pp->scratch_off0[w];
    for (int b = 0; mapped && b < sf->nbuf; b++)
      if (!mapped[b] && sf->buf[b].slot == pp->arena_slot)
        sf->buf[b].offset += shift / kir_dtype_size(sf->buf[b].dt);
    free(mapped);
  }
  for (int j = 0; j < pp->nc; j++) {
    pp->reg_off[j] = boff(mf, pp->creg_main[j]);
    pp->cin_off[j] = boff(mf, pp->cin_main[j]);
  }
  pp->units_off = boff(mf, pp->units_main);
  pp->prev_off = boff(mf, pp->prev_main);
  pp->tcell_off = boff(mf, pp->tcell_main);
  pp->cell_off = boff(mf, pp->cell_main);
}

int lscan_bind(const kir_func *main, void **slots, lscan_bound **out, char *msg, size_t cap) {
  *out = NULL;
  lscan_plan *P = plan_of(main, 0);
  if (!P || P->n == 0)
    return 0;
  lscan_bound *b = calloc(1, sizeof *b);
  if (b) {
    b->rec = calloc((size_t)P->n, sizeof *b->rec);
    b->objs = calloc((size_t)P->n * 2, sizeof *b->objs);
  }
  if (!b || !b->rec || !b->objs) {
    if (b)
      free(b->rec), free(b->objs), free(b);
    snprintf(msg, cap, "bptt: out of memory");
    return -1;
  }
  b->plan = P;
  int use_cache = getenv("NNC_NO_CACHE") == NULL;
  for (int i = 0; i < P->n; i++) {
    lscan_pair *pp = &P->p[i];
    nnrt_bptt_rec *r = &b->rec[i];
    cg_options co = {0};
    cache_stats st;
    cg_entry ff, bf;
    if (!pp->bf) {
      snprintf(msg, cap, "bptt: the backward scan of checkpointed scan %d was not lowered", i);
      lscan_unbind(b);
      return -1;
    }
    resync(main, pp);
    if (cache_compile(pp->ff, &co, JIT_O2, use_cache, &b->objs[2 * i], &ff, &st, msg, cap) ||
        cache_compile(pp->bf, &co, JIT_O2, use_cache, &b->objs[2 * i + 1], &bf, &st, msg, cap)) {
      lscan_unbind(b);
      return -1;
    }
    *r = (nnrt_bptt_rec){.acts = (const int32_t *)NULL, .n = (int64_t)pp->sched.n, .fwd = ff, .bwd = bf,
                         .slots = slots, .arena_slot = pp->arena_slot, .nc = pp->nc, .unit_bytes = pp->unit_bytes,
                         .units_off = pp->units_off, .prev_off = pp->prev_off, .tcell_off = pp->tcell_off,
                         .m = pp->choice.m, .alpha = 2, .rev = pp->rev, .T = pp->T};
    int32_t *acts = malloc(sizeof *acts * 3 * (pp->sched.n + 1));
    r->kind = calloc((size_t)pp->choice.m + 1, 1);
    if (!acts || !r->kind) {
      free(acts);
      snprintf(msg, cap, "bptt: out of memory");
      lscan_unbind(b);
      return -1;
    }
    for (size_t k = 0; k < pp->sched.n; k++) {
      acts[3 * k] = pp->sched.acts[k].op;
      acts[3 * k + 1] = pp->sched.acts[k].step;
      acts[3 * k + 2] = pp->sched.acts[k].slot;
    }
    r->acts = acts;
    for (int j = 0; j < pp->nc; j++) {
      r->reg_off[j] = pp->reg_off[j];
      r->cin_off[j] = pp->cin_off[j];
      r->piece_bytes[j] = pp->piece_bytes[j];
    }
    *(int64_t *)((char *)slots[pp->arena_slot] + pp->cell_off) = (int64_t)(intptr_t)r;
  }
  g_last = *out = b;
  return 0;
}

void lscan_unbind(lscan_bound *b) {
  if (!b)
    return;
  if (g_last == b)
    g_last = NULL;
  for (int i = 0; i < b->plan->n; i++) {
    free((void *)b->rec[i].acts);
    free(b->rec[i].kind);
    cache_obj_free(b->objs[2 * i]);
    cache_obj_free(b->objs[2 * i + 1]);
  }
  lscan_forget(b->plan->main);
  free(b->rec);
  free(b->objs);
  free(b);
}

int lscan_count(const lscan_bound *b) { return b ? b->plan->n : 0; }

int lscan_get_stats(const lscan_bound *b, int i, lscan_stats *out) {
  if (!b || i < 0 || i >= b->plan->n)
    return -1;
  const lscan_pair *pp = &b->plan->p[i];
  const nnrt_bptt_rec *r = &b->rec[i];
  *out = (lscan_stats){.choice = pp->choice, .forwards = r->forwards, .elided = r->elided,
                       .backwards = r->backwards, .peak_units = r->peak_units, .bad = r->bad,
                       .predicted_runs = pp->sched.forwards - elidable(&pp->sched),
                       .peak_bytes = pp->fixed_bytes + (uint64_t)r->peak_units * (uint64_t)pp->unit_bytes};
  return 0;
}

const lscan_bound *lscan_last_bound(void) { return g_last; }

void lscan_dump_measured(FILE *f, const lscan_bound *b) {
  for (int i = 0; i < lscan_count(b); i++) {
    lscan_stats s;
    lscan_get_stats(b, i, &s);
    fprintf(f,
            "bptt scan%d measured: forward body runs %lld (predicted %lld; +%lld elided: the backward body "
            "recomputes them), backward %lld; peak %d slots = %llu bytes with the fixed part (predicted %llu)\n",
            i, (long long)s.forwards, (long long)s.predicted_runs, (long long)s.elided, (long long)s.backwards,
            s.peak_units,
            (unsigned long long)s.peak_bytes, (unsigned long long)s.choice.peak_bytes);
  }
}
