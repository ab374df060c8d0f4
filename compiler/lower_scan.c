/* lower_scan.c — a differentiated scan lowered to the checkpointing executor.
 *
 * A forward scan whose saved carries feed only its backward scan (compiler/scan.c) is a
 * "pair". With checkpointing on (lscan_lower_graph's options), the pair is lowered as:
 *   - step functions, extra kir functions over the main function's slots (same arena):
 *     the forward body (first sweep), the backward body, and the forward body again
 *     without its y_t stores (recomputation), reading x_t / writing y_t at the step held
 *     in an i64 time cell (data-dependent indices), carries in fixed register buffers;
 *   - in the main function, in place of the forward scan: init copies, a call of
 *     nnrt_bptt_forward(cell) (the schedule's first sweep), final-carry copies; in place of
 *     the backward scan: a call of nnrt_bptt_backward(cell) (the rest of the schedule).
 * The stacked saved carries [T, ...] are not allocated; the executor keeps m slot units in
 * the arena instead. The schedule comes from compiler/bptt_plan.c (bp_choose on the memory
 * budget, or a forced policy): Gruslys et al. 2016 / Griewank 1992 / Chen et al. 2016, see
 * docs/bptt.md. Random ops in a body draw with the scan's counters (rng_steps), so a
 * recomputed step reproduces its dropout mask. Memory planning (memplan.c) covers the
 * main function: one-point kernels mark what the executor and step functions use, and
 * lscan_bind reads the planned offsets back. Under a budget, a first lowering measures
 * the planned sizes and the slots are chosen from them (lscan_lower_graph, at the end). */
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "bptt_exec.h"
#include "bptt_lower.h"

#define ARENA_ALIGN 64
#define MAXC 64

/* The step functions of a pair: the forward body of the first sweep (writes y_t), the
 * backward body, and the forward body that recomputes a step in the backward phase
 * (carries only: the scan's outputs are written once, so they need not outlive the
 * first sweep). */
enum { W_FWD, W_BWD, W_RE, W_N };

typedef struct lscan_pair {
  int fwd_node, bwd_node;          /* graph node ids                                 */
  int idx;                         /* among the graph's checkpointable scans          */
  int nc;
  int64_t piece_bytes[MAXC], reg_off[MAXC], cin_off[MAXC];
  int64_t unit_bytes, units_off, prev_off, tcell_off, cell_off;
  int arena_slot, rev;
  int64_t T;
  kir_func *sf[W_N];               /* step functions (owned), by W_FWD, W_BWD, W_RE  */
  bp_schedule sched;
  bp_choice choice;
  uint64_t fixed_bytes;
  /* memory planning (memplan.c) may move main's arena buffers after lowering: what to
   * re-read in lscan_bind. map[w]: (step-function buffer, main buffer) pairs of step
   * function w; scratch[w]: a main buffer covering its own temporaries (bump range from
   * scratch_off0[w]), which move with it. */
  int *map[W_N], nmap[W_N], cmap[W_N];
  int scratch[W_N];
  int64_t scratch_off0[W_N];
  int creg_main[MAXC], cin_main[MAXC], units_main, prev_main, tcell_main, cell_main, live_main;
} lscan_pair;

/* The choice for one checkpointable scan, made between two lowerings (budget mode). */
typedef struct lscan_pick {
  bp_choice choice;
  bp_schedule sched;
  int plain;                       /* store-all fits: the plain repeat, no executor   */
} lscan_pick;

/* The state of one lowering's checkpointed scans: options, pairs, step function being
 * built. One per lower_graph_with call, owned by the lower_plan it ends in (no globals:
 * independent lowerings may run on different threads at once). */
struct lscan_plan {
  lscan_options o;
  lscan_pair *p;
  int n, cap;
  int probe;                       /* budget mode, first lowering: default slots, no schedule */
  lscan_pick *pick;                /* later lowerings: the choice per checkpointable scan    */
  int npick, seen;                 /* seen: checkpointable forward scans met so far           */
  int64_t total_bytes;             /* after lowering: every slot's bytes + o.extra_fixed       */
  lscan_pair *cur;                 /* the step function being built (redecl): pair, which one */
  int w;
};

struct lscan_bound {
  lscan_plan *plan;
  nnrt_bptt_rec *rec;
  cache_obj **objs;
};

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

lscan_plan *lscan_plan_new(const lscan_options *o) {
  lscan_plan *P = calloc(1, sizeof *P);
  if (P && o)
    P->o = *o;
  return P;
}

static void picks_free(lscan_pick *k, int n) {
  for (int i = 0; i < n; i++)
    bp_schedule_free(&k[i].sched);
  free(k);
}

void lscan_plan_free(lscan_plan *P) {
  if (!P)
    return;
  for (int i = 0; i < P->n; i++) {
    for (int w = 0; w < W_N; w++) {
      free(P->p[i].map[w]);
      kir_free(P->p[i].sf[w]);
    }
    bp_schedule_free(&P->p[i].sched);
  }
  picks_free(P->pick, P->npick);
  free(P->p);
  free(P);
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

/* Re-declares main's buffer b in the step function sf (and records the pair in P->cur's
 * map for step function P->w). */
static int redecl(lscan_plan *P, const kir_func *mf, kir_func *sf, int b) {
  const kir_buf *x = &mf->buf[b];
  if (x->slot < 0)
    return kir_const_buffer(sf, x->name, x->dt, x->size, x->data);
  int s = kir_buffer(sf, x->name, x->dt, x->slot, x->offset, x->size);
  lscan_pair *pp = P->cur;
  int w = P->w;
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

/* Moves step function w's own temporaries (its arena buffers not re-declared from main:
 * the bump range from pp->scratch_off0[w]) by `bytes` (a multiple of 64). */
static void shift_temps(lscan_pair *pp, int w, int64_t bytes) {
  kir_func *sf = pp->sf[w];
  char *mapped = calloc((size_t)sf->nbuf + 1, 1);
  if (!mapped)
    return;
  for (int i = 0; i < pp->nmap[w]; i++)
    mapped[pp->map[w][2 * i]] = 1;
  for (int b = 0; b < sf->nbuf; b++)
    if (!mapped[b] && sf->buf[b].slot == pp->arena_slot)
      sf->buf[b].offset += bytes / kir_dtype_size(sf->buf[b].dt);
  free(mapped);
}

/* The backward body and the recomputing forward body run one at a time in the backward
 * phase and their temporaries die within each call, so they share one range: the larger
 * one's (which overlaps nothing else in the bump order either, so this holds without
 * memory planning too). Main's two scratch buffers then start at the same bump offset:
 * one allocation for memplan.c, live as long as each was. */
static void share_scratch(lower_ctx *L, lscan_pair *pp) {
  int big = L->f->buf[pp->scratch[W_BWD]].size >= L->f->buf[pp->scratch[W_RE]].size ? W_BWD : W_RE;
  int small = big == W_BWD ? W_RE : W_BWD;
  kir_buf *bs = &L->f->buf[pp->scratch[small]], *bb = &L->f->buf[pp->scratch[big]];
  shift_temps(pp, small, pp->scratch_off0[big] - pp->scratch_off0[small]);
  bs->offset = bb->offset, bs->size = bb->size;
  pp->scratch_off0[small] = pp->scratch_off0[big];
}

/* A one-point kernel loading element 0 of each arena buffer of the pair's step function w
 * (and of the executor's state when exec is set): the executor's uses are invisible to
 * memory planning, so these kernels mark them live around the calls. */
static void touch(lower_ctx *L, const lscan_pair *pp, int w0, int w1, int exec) {
  int64_t one = 1;
  int flags = 0, acc = -1, nb = 0;
  int *bufs = malloc(sizeof *bufs * (size_t)(pp->nmap[0] + pp->nmap[1] + pp->nmap[2] + 2 * MAXC + 8));
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
static int cheapest(bp_ctx *c, lscan_pick *k, int T, unsigned allowed) {
  int64_t best = -1;
  for (int p = 0; p < BP_POLICY_COUNT; p++) {
    bp_schedule s = {0};
    if (!(allowed & (1u << p)) || bp_schedule_build(c, (bp_policy)p, T, k->choice.m, 2, &s) != BP_OK)
      continue;
    int64_t runs = s.forwards - elidable(&s);
    if (best < 0 || runs < best) {
      best = runs;
      bp_schedule_free(&k->sched);
      k->sched = s;
      k->choice.policy = (bp_policy)p;
      k->choice.forwards = s.forwards;
    } else
      bp_schedule_free(&s);
  }
  return best < 0 ? BP_ERR_BUDGET : BP_OK;
}

/* The compile cache's key of choose's result: every input it depends on. */
static void plan_key(const lscan_options *o, uint64_t fixed, int nscans, int T, uint64_t hid, uint64_t key[2]) {
  int64_t in[8] = {o->policy, o->allowed, (int64_t)o->budget_bytes, (int64_t)fixed, nscans, T, (int64_t)hid, 2};
  cache_key_init(key, "bptt plan 1: policy allowed budget fixed nscans T hidden alpha");
  cache_key_add(key, in, sizeof in);
}

/* A plan that an earlier compile stored under key (its DP tables are not rebuilt: at
 * T = 1000 they took most of a cached re-run). 1 on a hit; 0 on a miss or a bad file. */
static int plan_load(bp_ctx *c, const uint64_t key[2], int T, lscan_pick *k) {
  size_t len;
  unsigned char *buf = (unsigned char *)cache_side_get(key, "bptt", &len);
  if (!buf)
    return 0;
  int ok = bp_plan_decode(c, buf, len, &k->choice, &k->sched) == BP_OK && k->choice.T == T;
  free(buf);
  if (!ok)
    bp_schedule_free(&k->sched);
  return ok;
}

static void plan_store(const uint64_t key[2], const lscan_pick *k) {
  unsigned char *buf;
  size_t len;
  if (bp_plan_encode(&k->choice, &k->sched, &buf, &len) != BP_OK)
    return;
  cache_side_put(key, "bptt", buf, len);
  free(buf);
}

/* Budget mode: the choice for one scan of T steps, `hid` bytes per slot unit, when the
 * rest of the training step takes `fixed` bytes (measured on a lowering) and nscans scans
 * share what the budget leaves equally; from the compile cache when it holds it. 0, or
 * -1 with msg (a budget below the minimum). */
static int choose(const lscan_options *o, uint64_t fixed, int nscans, int T, uint64_t hid, lscan_pick *k, char *msg,
                  size_t cap) {
  bp_ctx *c = bp_ctx_new();
  if (!c)
    return snprintf(msg, cap, "bptt: out of memory"), -1;
  uint64_t key[2];
  int use_cache = getenv("NNC_NO_CACHE") == NULL;
  plan_key(o, fixed, nscans, T, hid, key);
  if (use_cache && plan_load(c, key, T, k)) {
    k->plain = k->choice.policy == BP_STORE_ALL && o->policy < 0;
    bp_ctx_free(c);
    return 0;
  }
  uint64_t B = o->budget_bytes, share = B > fixed ? (B - fixed) / (uint64_t)nscans : 0;
  bp_budget b = {.T = T, .hidden_bytes = hid, .internal_bytes = 2 * hid, .fixed_bytes = fixed,
                 .budget_bytes = B > fixed ? fixed + share : B};
  unsigned all = o->allowed ? o->allowed : BP_ALL_POLICIES;
  int rc = bp_choose(c, &b, o->policy >= 0 ? 1u << o->policy : all, &k->choice);
  if (rc == BP_OK && o->policy < 0)
    rc = cheapest(c, k, T, all);
  else if (rc == BP_OK)
    rc = bp_schedule_build(c, k->choice.policy, T, k->choice.m, 2, &k->sched);
  if (rc == BP_OK) {
    k->choice.peak_units = k->sched.peak_units;
    k->plain = k->choice.policy == BP_STORE_ALL && o->policy < 0;
    if (use_cache)
      plan_store(key, k);
  } else
    snprintf(msg, cap, "bptt: %s", bp_errmsg(c));
  bp_ctx_free(c);
  return rc == BP_OK ? 0 : -1;
}

/* The pair's policy, slots and schedule. 0: through the executor; 1: the plain repeat
 * (the budget keeps every state); -1 with a message. Budget mode takes the choice made
 * between lowerings (P->pick); its first lowering (P->probe) only needs the slot count. */
static int plan_pair(lower_ctx *L, lscan_plan *P, lscan_pair *pp, int64_t T) {
  const lscan_options *o = &P->o;
  if (P->pick) {
    if (P->seen > P->npick)
      return lower_fail(L, "bptt: checkpointed scan %d was not planned", P->seen - 1);
    lscan_pick *k = &P->pick[P->seen - 1];
    pp->choice = k->choice;
    pp->sched = k->sched;
    k->sched = (bp_schedule){0};
    return k->plain;
  }
  bp_policy p = o->policy >= 0 ? (bp_policy)o->policy : BP_REVOLVE;
  int m = o->slots;
  if (m <= 0) /* about 2 sqrt(T) units */
    for (m = 2; (int64_t)m * m < 4 * T; m++)
      ;
  if (m < bp_min_slots(p, (int)T, 2))
    m = bp_min_slots(p, (int)T, 2);
  pp->choice = (bp_choice){.policy = p, .T = (int)T, .m = m, .alpha = 2};
  if (P->probe)
    return 0;
  bp_ctx *c = bp_ctx_new();
  if (!c)
    return lower_fail(L, "out of memory");
  int64_t cost = 0;
  int rc = bp_cost(c, p, (int)T, m, 2, &cost);
  pp->choice.forwards = cost;
  if (rc == BP_OK)
    rc = bp_schedule_build(c, p, (int)T, m, 2, &pp->sched);
  if (rc == BP_OK)
    pp->choice.peak_units = pp->sched.peak_units;
  else
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

/* The body of one step as step function w of pair pp (named name): x_t in (dynamic t),
 * body, y_t out (not for W_RE), carries updated in place. creg/cin: buffer ids of main;
 * carries in creg[0..nc), the first ncin step inputs in cin. */
static int step_fn(lower_ctx *L, const IrNode *n, const geo *g, lscan_pair *pp, int w, const char *name,
                   const int *creg, int ncin, const int *cin) {
  const kir_func *mf = L->f;
  kir_func *sf = pp->sf[w] = kir_new(name, L->f->nslots);
  if (!sf)
    return lower_fail(L, "out of memory");
  L->bptt->cur = pp, L->bptt->w = w;
  int64_t lo = (L->arena_bytes + 63) / 64 * 64;
  int tcell = redecl(L->bptt, mf, sf, pp->tcell_main);
  int formals[256], res[256], tmp[MAXC], saved_seed = L->seed_buf;
  int mc[MAXC];
  for (int j = 0; j < g->nc; j++)
    formals[j] = mc[j] = redecl(L->bptt, mf, sf, creg[j]);
  /* step inputs: the first ncin come from the executor (cin), the rest are sliced */
  for (int j = 0; j < g->nx; j++) {
    IrVal xv = n->in[g->nc + j];
    if (j < ncin) {
      formals[g->nc + j] = redecl(L->bptt, mf, sf, cin[j]);
      continue;
    }
    IrShape ps = ir_type(L->g, xv)->shape;
    ps.dim[g->ax] = 1;
    int64_t off = arena_take(L, numel(&ps) * ir_dtype_size(ir_type(L->g, xv)->dtype));
    int dt = ir_type(L->g, xv)->dtype;
    formals[g->nc + j] = kir_buffer(sf, "x_t", dt, L->arena_slot, off / kir_dtype_size(dt), numel(&ps));
    dyn_copy(sf, "bp_x", &ir_type(L->g, xv)->shape, g->ax, redecl(L->bptt, mf, sf, lower_in(L, xv)), formals[g->nc + j], 0,
             tcell);
  }
  for (int j = 0; j < g->nk; j++)
    formals[g->nc + g->nx + j] = redecl(L->bptt, mf, sf, lower_in(L, n->in[g->nc + g->nx + j]));
  if (L->seed_buf >= 0)
    L->seed_buf = redecl(L->bptt, mf, sf, L->seed_buf);
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
  for (int j = 0; j < g->ny && w != W_RE; j++) {
    IrVal yv = n->out[g->nc + j];
    dyn_copy(sf, "bp_y", &ir_type(L->g, yv)->shape, g->ax, redecl(L->bptt, mf, sf, L->buf[yv]), res[g->nc + j], 1, tcell);
  }
  for (int j = 0; j < g->nc; j++)
    if (res[j] != mc[j])
      flat_copy(sf, "bp_carry", tmp[j] >= 0 ? tmp[j] : res[j], mc[j], sf->buf[mc[j]].size);
  pp->scratch_off0[w] = lo;
  pp->scratch[w] = arena_buf(L, "bp_scratch", lo, L->arena_bytes - lo);
  L->bptt->cur = NULL;
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
  pp->idx = P->seen - 1;
  pp->bwd_node = pair_of(L->g, n)->id;
  pp->nc = g.nc;
  pp->arena_slot = L->arena_slot;
  pp->rev = (int)n->attr.ints[4];
  pp->T = g.T;
  for (int j = 0; j < g.nc; j++) {
    pp->piece_bytes[j] = vbytes(L->g, n->in[j]);
    pp->unit_bytes += pp->piece_bytes[j];
  }
  int rc = plan_pair(L, P, pp, g.T);
  if (rc) { /* 1: the budget keeps every state: today's plain BPTT (a kir repeat) */
    bp_schedule_free(&pp->sched);
    return rc;
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
  pp->scratch[W_FWD] = pp->scratch[W_BWD] = pp->scratch[W_RE] = -1;
  for (int j = 0; j < MAXC; j++)
    pp->cin_main[j] = -1;
  for (int j = 0; j < g.nc + g.ny; j++)
    lower_out(L, n->out[j]);
  char name[KIR_NAME], rname[KIR_NAME];
  snprintf(name, sizeof name, "%.30s.bp%df", L->f->name, P->n - 1);
  snprintf(rname, sizeof rname, "%.30s.bp%dr", L->f->name, P->n - 1);
  if (step_fn(L, n, &g, pp, W_FWD, name, creg, 0, NULL) || step_fn(L, n, &g, pp, W_RE, rname, creg, 0, NULL))
    return -1;
  touch(L, pp, W_FWD, W_FWD, 1);
  kir_call(L->f, "bptt_forward", "nnrt_bptt_forward");
  kir_arg_buf(L->f, pp->cell_main);
  for (int j = 0; j < g.nc; j++)
    flat_copy(L->f, "scan_final", creg[j], L->buf[n->out[j]], L->f->buf[creg[j]].size);
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
  snprintf(name, sizeof name, "%.30s.bp%db", L->f->name, (int)(pp - L->bptt->p));
  if (step_fn(L, n, &g, pp, W_BWD, name, creg, pp->nc, cin))
    return -1;
  share_scratch(L, pp);
  touch(L, pp, W_BWD, W_RE, 0); /* what the backward phase runs: backward and recompute */
  kir_call(L->f, "bptt_backward", "nnrt_bptt_backward");
  kir_arg_buf(L->f, pp->cell_main);
  for (int j = 0; j < g.nc; j++)
    flat_copy(L->f, "scan_final", creg[j], L->buf[n->out[j]], L->f->buf[creg[j]].size);
  touch(L, pp, W_BWD, W_RE, 1);
  return 0;
}

int lscan_lower(lower_ctx *L, const IrNode *n, int *done) {
  *done = 0;
  lscan_plan *P = L->bptt;
  if (!P || !P->o.active || L->in_scan || L->g == NULL || n->id < 0 || n->id >= L->g->nnodes ||
      L->g->nodes[n->id] != n)
    return 0;
  for (int i = 0; i < P->n; i++)
    if (P->p[i].bwd_node == n->id) {
      *done = 1;
      return lower_backward(L, n, &P->p[i]);
    }
  if (!checkpointable(L->g, n))
    return 0;
  P->seen++;
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
  for (int w = 0; w < W_N; w++) {
    for (int i = 0; i < pp->nmap[w]; i++)
      pp->sf[w]->buf[pp->map[w][2 * i]].offset = mf->buf[pp->map[w][2 * i + 1]].offset;
    int64_t off = boff(mf, pp->scratch[w]);
    shift_temps(pp, w, off - pp->scratch_off0[w]);
    pp->scratch_off0[w] = off; /* binding twice moves nothing */
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

int lscan_bind(const lower_plan *lp, void **slots, lscan_bound **out, char *msg, size_t cap) {
  *out = NULL;
  lscan_plan *P = lp->bptt;
  const kir_func *main = lp->f;
  if (!P || P->n == 0)
    return 0;
  lscan_bound *b = calloc(1, sizeof *b);
  if (b) {
    b->rec = calloc((size_t)P->n, sizeof *b->rec);
    b->objs = calloc((size_t)P->n * W_N, sizeof *b->objs);
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
    cg_entry fn[W_N];
    if (!pp->sf[W_BWD]) {
      snprintf(msg, cap, "bptt: the backward scan of checkpointed scan %d was not lowered", i);
      lscan_unbind(b);
      return -1;
    }
    resync(main, pp);
    for (int w = 0; w < W_N; w++)
      if (cache_compile(pp->sf[w], &co, JIT_O2, use_cache, &b->objs[W_N * i + w], &fn[w], &st, msg, cap)) {
        lscan_unbind(b);
        return -1;
      }
    *r = (nnrt_bptt_rec){.acts = (const int32_t *)NULL, .n = (int64_t)pp->sched.n, .fwd = fn[W_FWD],
                         .bwd = fn[W_BWD], .refwd = fn[W_RE],
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
  *out = b;
  return 0;
}

void lscan_unbind(lscan_bound *b) {
  if (!b)
    return;
  for (int i = 0; i < b->plan->n; i++) {
    free((void *)b->rec[i].acts);
    free(b->rec[i].kind);
    for (int w = 0; w < W_N; w++)
      cache_obj_free(b->objs[W_N * i + w]);
  }
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

void lscan_dump_measured(FILE *f, const lscan_bound *b) {
  for (int i = 0; i < lscan_count(b); i++) {
    lscan_stats s;
    lscan_get_stats(b, i, &s);
    fprintf(f,
            "bptt scan%d measured: forward body runs %lld (predicted %lld; +%lld elided: the backward body "
            "recomputes them), backward %lld; peak %d slots = %llu bytes with the fixed part (predicted %llu)\n",
            b->plan->p[i].idx, (long long)s.forwards, (long long)s.predicted_runs, (long long)s.elided, (long long)s.backwards,
            s.peak_units,
            (unsigned long long)s.peak_bytes, (unsigned long long)s.choice.peak_bytes);
  }
}

/* ----------------------------------------------------- the lowerings ---- */

/* After a lowering: the bytes of every slot (leaves, results, the planned arena with the
 * scans' slot units) plus the caller's extra (optimizer state), and per executor scan the
 * rest of the step besides its own slots. Without a budget the prediction is this plan. */
static void measure(lscan_plan *P, const lower_plan *lp) {
  int64_t t = (int64_t)P->o.extra_fixed;
  for (int s = 0; s < lp->nslots; s++)
    t += lp->slots[s].bytes;
  P->total_bytes = t;
  for (int i = 0; i < P->n; i++) {
    lscan_pair *pp = &P->p[i];
    pp->fixed_bytes = (uint64_t)(t - pp->choice.m * pp->unit_bytes);
    if (!P->pick)
      pp->choice.peak_bytes = pp->fixed_bytes + (uint64_t)pp->choice.peak_units * (uint64_t)pp->unit_bytes;
  }
}

/* The step's bytes at the executors' peaks: slot units never used are never touched. */
static int64_t peak_total(const lscan_plan *P) {
  int64_t t = P->total_bytes;
  for (int i = 0; i < P->n; i++)
    t -= (int64_t)(P->p[i].choice.m - P->p[i].choice.peak_units) * P->p[i].unit_bytes;
  return t;
}

/* Budget mode: from lowering P's measured sizes, the choice for each of its scans again
 * (*out, P->n picks), with the predicted peak of the step at each scan's peak. */
static int choose_all(const lscan_plan *P, lscan_pick **out, char *msg, size_t cap) {
  int64_t fixed = P->total_bytes, all;
  for (int i = 0; i < P->n; i++)
    fixed -= (int64_t)P->p[i].choice.m * P->p[i].unit_bytes;
  lscan_pick *k = calloc((size_t)P->n + 1, sizeof *k);
  if (!k)
    return snprintf(msg, cap, "bptt: out of memory"), -1;
  for (int i = 0; i < P->n; i++)
    if (choose(&P->o, (uint64_t)fixed, P->n, (int)P->p[i].T, (uint64_t)P->p[i].unit_bytes, &k[i], msg, cap)) {
      picks_free(k, P->n);
      return -1;
    }
  all = fixed; /* a plain scan keeps its T carries instead of slots */
  for (int i = 0; i < P->n; i++)
    all += (k[i].plain ? P->p[i].T : k[i].choice.m) * P->p[i].unit_bytes;
  for (int i = 0; i < P->n; i++) {
    if (k[i].plain) /* the repeat keeps T carries: that is its peak (--dump=bptt) */
      k[i].choice.peak_units = (int)P->p[i].T;
    k[i].choice.peak_bytes =
        (uint64_t)(all - (int64_t)(k[i].plain ? 0 : k[i].choice.m - k[i].choice.peak_units) * P->p[i].unit_bytes);
  }
  *out = k;
  return 0;
}

/* --dump=bptt: each checkpointable scan's plan, once the last lowering has made it. */
static void dump_plans(const lscan_plan *P, const char *fname) {
  char nm[KIR_NAME + 16];
  for (int i = 0; i < P->npick; i++)
    if (P->pick[i].plain) {
      snprintf(nm, sizeof nm, "%.30s.scan%d", fname, i);
      bp_dump(P->o.dump, nm, &P->pick[i].choice, NULL);
    }
  for (int i = 0; i < P->n; i++) {
    snprintf(nm, sizeof nm, "%.30s.scan%d", fname, P->p[i].idx);
    bp_dump(P->o.dump, nm, &P->p[i].choice, &P->p[i].sched);
  }
}

int lscan_lower_graph(const IrGraph *g, const char *name, const lscan_options *o, lower_plan *p, char *msg,
                      size_t cap) {
  if (!o || !o->active)
    return lower_graph(g, name, p, msg, cap);
  lscan_plan *P = lscan_plan_new(o);
  if (!P)
    return snprintf(msg, cap, "bptt: out of memory"), -1;
  P->probe = o->budget_bytes > 0;
  if (lower_graph_with(g, name, P, p, msg, cap)) /* P is p's from here */
    return -1;
  measure(P, p);
  /* Budget mode: the first lowering measured what the memory planner really places; choose
   * the slots from it and lower again, and once more if nonlinear placement overshot. */
  for (int pass = 0; (P->probe || P->pick) && (P->n || P->npick); pass++) {
    int plain = 0;
    for (int i = 0; i < P->npick; i++)
      plain |= P->pick[i].plain;
    if (!P->probe && (pass == 2 || plain || P->n == 0 || peak_total(P) <= (int64_t)o->budget_bytes))
      break;
    lscan_pick *k;
    int nk = P->n;
    if (choose_all(P, &k, msg, cap)) {
      lower_plan_free(p);
      return -1;
    }
    lower_plan_free(p);
    if (!(P = lscan_plan_new(o))) {
      picks_free(k, nk);
      return snprintf(msg, cap, "bptt: out of memory"), -1;
    }
    P->pick = k, P->npick = nk;
    if (lower_graph_with(g, name, P, p, msg, cap))
      return -1;
    measure(P, p);
  }
  if (o->dump)
    dump_plans(P, name);
  return 0;
}
