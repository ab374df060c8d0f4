/* lower.c — graph IR (ir.h) to kernel IR (kir.h): the driver, buffer assignment and the
 * elementwise/broadcast and reduction rules.
 *
 * Algorithm: walk the nodes in order (they are topologically sorted). Leaves get their own
 * slot; constants become constant buffers; every other node's outputs get one buffer each,
 * in the output slot when the value is a graph result and otherwise in a bump-allocated
 * arena (64-byte aligned, no reuse yet: memory planning is a later pass). Elementwise and
 * broadcast nodes go through their scalar.def opcode (ops.def column "scalar"): one loop
 * nest over the output shape, inputs indexed with numpy broadcasting (stride 0). Every
 * other op has a rule in lower_ops.c (table keyed by op). A graph result that is a leaf or
 * appears twice is copied into its output slot at the end.
 * The per-node structure (one rule builds the expressions of a node from its inputs'
 * buffers) is where fusion will plug in: a fused group will pass expressions instead of
 * loads between its members. */
#include "bptt_lower.h"
#include "cg.h"
#include "fuse.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 64
/* A nest runs in parallel from this many points: below it one thread finishes in tens of
 * microseconds, and on an oversubscribed machine every OpenMP region can cost far more
 * than that (spinning workers get descheduled; toolchain.md §4). */
#define LOWER_PAR_MIN_POINTS (1 << 17)

int lower_fail(lower_ctx *L, const char *fmt, ...) {
  va_list ap;
  int n = 0;
  if (L->n)
    n = snprintf(L->msg, L->msgsz, "node %%%d (%s): ", L->n->id, ir_ops[L->n->op].name);
  va_start(ap, fmt);
  if (n >= 0 && (size_t)n < L->msgsz)
    vsnprintf(L->msg + n, L->msgsz - n, fmt, ap);
  va_end(ap);
  return -1;
}

void lower_strides(const IrShape *s, int64_t *st) {
  int64_t m = 1;
  for (int d = s->rank - 1; d >= 0; d--) {
    st[d] = m;
    m *= s->dim[d];
  }
}

void lower_flags(int rank, const int64_t *ext, int nkeep, int *flags) {
  int64_t pts = 1;
  for (int d = 0; d < rank; d++) {
    pts *= ext[d];
    flags[d] = d >= nkeep ? KIR_RED : 0;
  }
  if (rank > 0 && nkeep > 0 && ext[0] > 1 && pts >= LOWER_PAR_MIN_POINTS)
    flags[0] |= KIR_PAR;
}

static int64_t numel(const IrShape *s) {
  int64_t n = 1;
  for (int d = 0; d < s->rank; d++)
    n *= s->dim[d];
  return n;
}

static void val_name(lower_ctx *L, IrVal v, char *buf, size_t n) {
  const IrNode *p = ir_producer(L->g, v);
  if (p->name)
    snprintf(buf, n, "%s", p->name);
  else
    snprintf(buf, n, "v%d", v);
}

int lower_tmp(lower_ctx *L, const char *name, kir_dtype dt, int64_t n) {
  int64_t sz = kir_dtype_size(dt);
  int64_t off = (L->arena_bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
  L->arena_bytes = off + n * sz;
  return kir_buffer(L->f, name, dt, L->arena_slot, off / sz, n);
}

int lower_out(lower_ctx *L, IrVal v) {
  const IrType *t = ir_type(L->g, v);
  char name[KIR_NAME];
  val_name(L, v, name, sizeof name);
  int b;
  if (L->oslot[v] >= 0) {
    b = kir_buffer(L->f, name, t->dtype, L->oslot[v], 0, numel(&t->shape));
    L->oslot[v] = -1; /* a second use as a result gets a copy */
  } else
    b = lower_tmp(L, name, t->dtype, numel(&t->shape));
  L->buf[v] = b;
  return b;
}

int lower_in(lower_ctx *L, IrVal v) { return L->buf[v]; }

/* ------------------------------------------------------------ elementwise ---- */

int lower_collapse(int rank, int64_t *ext, kir_index *x, int nx) {
  int r = rank;
  for (int d = r - 2; d >= 0; d--) {
    int ok = 1;
    for (int i = 0; i < nx; i++)
      ok &= x[i].stride[d] == x[i].stride[d + 1] * ext[d + 1];
    if (!ok)
      continue;
    ext[d] *= ext[d + 1];
    for (int i = 0; i < nx; i++) {
      x[i].stride[d] = x[i].stride[d + 1];
      for (int e = d + 1; e < r - 1; e++)
        x[i].stride[e] = x[i].stride[e + 1];
      x[i].stride[r - 1] = 0;
    }
    for (int e = d + 1; e < r - 1; e++)
      ext[e] = ext[e + 1];
    r--;
  }
  return r;
}

/* out = op(in...) over the output shape, inputs broadcast; dims that every operand walks
 * contiguously are merged (a [128, 10] add is one loop of 1280). */
static int lower_ew(lower_ctx *L, const IrNode *n) {
  const IrType *t = ir_type(L->g, n->out[0]);
  int r = t->shape.rank, sc = ir_ops[n->op].scalar;
  int flags[IR_MAX_RANK];
  int64_t ext[IR_MAX_RANK];
  kir_index x[4];
  memcpy(ext, t->shape.dim, sizeof ext);
  x[0] = kir_index_bcast(r, r, t->shape.dim);
  for (int j = 0; j < n->nin && j < 3; j++) {
    const IrShape *s = &ir_type(L->g, n->in[j])->shape;
    x[j + 1] = kir_index_bcast(r, s->rank, s->dim);
  }
  r = lower_collapse(r, ext, x, 1 + (n->nin < 3 ? n->nin : 3));
  lower_flags(r, ext, r, flags);
  int o = lower_out(L, n->out[0]);
  kir_loop(L->f, ir_ops[n->op].name, r, ext, flags);
  int a[3] = {-1, -1, -1};
  for (int j = 0; j < n->nin && j < 3; j++)
    a[j] = kir_load(L->f, lower_in(L, n->in[j]), x[j + 1]);
  int v;
  if (sc == SC_CAST)
    v = a[0];
  else {
    if (sc == SC_SELECT && ir_type(L->g, n->in[0])->dtype != IR_BOOL)
      a[0] = kir_cast(L->f, KIR_BOOL, a[0]);
    v = kir_opp(L->f, sc, a[0], a[1], a[2], n->attr.flts[0], n->attr.flts[1]);
  }
  if (v >= 0 && L->f->expr[v].dt != t->dtype)
    v = kir_cast(L->f, t->dtype, v);
  kir_store_to(L->f, o, x[0], v, KIR_RED_NONE, -1);
  return 0;
}

/* -------------------------------------------------------------- driver ---- */

static int is_leaf(IrOp op) { return op == OP_INPUT || op == OP_PARAM || op == OP_STATE; }

int lower_supports(IrOp op) {
  if (is_leaf(op) || op == OP_CONST)
    return 1;
  if (ir_ops[op].scalar != SC_NONE && (ir_ops[op].kind == IR_ELEMWISE || ir_ops[op].kind == IR_BROADCAST))
    return 1;
  return lower_rule(op) != NULL;
}

static int lower_const(lower_ctx *L, const IrNode *n) {
  const IrType *t = ir_type(L->g, n->out[0]);
  int64_t k = numel(&t->shape), sz = kir_dtype_size(t->dtype);
  char *data = malloc((size_t)(k ? k : 1) * (size_t)sz);
  if (!data)
    return lower_fail(L, "out of memory for a constant of %lld elements", (long long)k);
  for (int64_t i = 0; i < k; i++) {
    double v = n->cdata[n->ncdata == 1 ? 0 : i];
    switch (t->dtype) {
    case IR_F32: ((float *)data)[i] = (float)v; break;
    case IR_F64: ((double *)data)[i] = v; break;
    case IR_I32: ((int32_t *)data)[i] = (int32_t)v; break;
    case IR_I64: ((int64_t *)data)[i] = (int64_t)v; break;
    default: ((uint8_t *)data)[i] = v != 0; break;
    }
  }
  char name[KIR_NAME];
  snprintf(name, sizeof name, "c%d", n->out[0]);
  L->buf[n->out[0]] = kir_const_buffer(L->f, name, t->dtype, k, data);
  free(data);
  return 0;
}

static int lower_node(lower_ctx *L, int i) {
  const IrNode *n = L->g->nodes[i];
  L->n = n;
  if (is_leaf(n->op))
    return 0; /* bound to slots up front */
  if (L->fz && L->fz->skip[n->out[0]])
    return 0; /* inline, or lowered with another node (fuse.c) */
  if (L->fz && L->fz->gend[i] > i)
    return fuse_lower_group(L, i, L->fz->gend[i]);
  for (int i = 0; i < n->nout; i++)
    if (ir_type(L->g, n->out[i])->dtype == IR_BIT)
      return lower_fail(L, "packed bit tensors are not lowered yet");
  if (n->op == OP_CONST)
    return lower_const(L, n);
  lower_fn rule = lower_rule(n->op);
  if (rule)
    return rule(L, n);
  if (ir_ops[n->op].scalar != SC_NONE)
    return lower_ew(L, n);
  return lower_fail(L, "not lowered yet");
}

int lower_sub(lower_ctx *L, const IrGraph *sub, const int *formals, int nformals, int *results) {
  lower_ctx C = *L;
  const IrNode *saved = L->n;
  C.g = sub;
  C.buf = malloc(sizeof *C.buf * (size_t)(sub->nvals + 1));
  C.oslot = malloc(sizeof *C.oslot * (size_t)(sub->nvals + 1));
  int rc = C.buf && C.oslot ? 0 : lower_fail(L, "out of memory");
  for (int v = 0; rc == 0 && v <= sub->nvals; v++)
    C.buf[v] = C.oslot[v] = -1;
  for (int i = 0; rc == 0 && i < sub->nnodes; i++) {
    const IrNode *n = sub->nodes[i];
    int pos = n->op == OP_INPUT ? (int)n->attr.ints[IR_MAX_INTS - 1] - 1 : -1; /* as ir_formal stores it */
    if (pos >= 0 && pos < nformals)
      C.buf[n->out[0]] = formals[pos];
    else if (is_leaf(n->op))
      rc = lower_fail(L, "a subgraph leaf that is not a formal parameter");
  }
  int ncarry = saved && saved->op == OP_SCAN && saved->sub[0] == sub ? (int)saved->attr.ints[0] : 0;
  C.fz = rc == 0 && !lower_get_options()->no_fuse ? fuse_analyze(sub, ncarry) : NULL;
  for (int i = 0; rc == 0 && i < sub->nnodes; i++)
    rc = kir_ok(C.f) ? lower_node(&C, i) : lower_fail(L, "out of memory building kernels");
  fuse_free(C.fz);
  for (int i = 0; rc == 0 && i < sub->nouts; i++)
    results[i] = C.buf[sub->outs[i]];
  L->arena_bytes = C.arena_bytes;
  L->n = saved;
  free(C.buf);
  free(C.oslot);
  return rc;
}

/* Copies value v (buffer src) into a buffer of output slot `slot`. */
static void copy_result(lower_ctx *L, IrVal v, int slot) {
  const IrType *t = ir_type(L->g, v);
  int64_t k = numel(&t->shape);
  int dst = kir_buffer(L->f, "result", t->dtype, slot, 0, k);
  kir_loop(L->f, "copy_result", 1, &k, NULL);
  kir_index x = kir_index_bcast(1, 1, &k);
  kir_store_to(L->f, dst, x, kir_load(L->f, L->buf[v], x), KIR_RED_NONE, -1);
}

/* Does g or one of its subgraphs draw random numbers? */
static int has_random(const IrGraph *g) {
  for (int i = 0; i < g->nnodes; i++) {
    const IrNode *n = g->nodes[i];
    if ((ir_ops[n->op].flags & IR_RANDOM) || (n->sub[0] && has_random(n->sub[0])) ||
        (n->sub[1] && has_random(n->sub[1])))
      return 1;
  }
  return 0;
}

/* Does g or one of its subgraphs call a host function? */
static int has_host(const IrGraph *g) {
  for (int i = 0; i < g->nnodes; i++) {
    const IrNode *n = g->nodes[i];
    if (n->op == OP_HOST_CALL || (n->sub[0] && has_host(n->sub[0])) || (n->sub[1] && has_host(n->sub[1])))
      return 1;
  }
  return 0;
}

/* Slots: leaves, outputs, arena (and the seed, the host table). Returns the slot count or -1. */
static int assign_slots(lower_ctx *L, lower_plan *p) {
  const IrGraph *g = L->g;
  int ns = 0, cap = g->nnodes + g->nouts + 3;
  p->slots = calloc((size_t)cap, sizeof *p->slots);
  if (!p->slots)
    return lower_fail(L, "out of memory");
  for (int i = 0; i < g->nnodes; i++) {
    const IrNode *n = g->nodes[i];
    if (!is_leaf(n->op))
      continue;
    const IrType *t = ir_type(g, n->out[0]);
    if (t->dtype == IR_BIT)
      return lower_fail(L, "packed bit inputs are not lowered yet");
    char name[KIR_NAME];
    val_name(L, n->out[0], name, sizeof name);
    L->buf[n->out[0]] = kir_buffer(L->f, name, t->dtype, ns, 0, numel(&t->shape));
    p->slots[ns++] = (lower_slot){LOWER_SLOT_LEAF, n->out[0], numel(&t->shape) * kir_dtype_size(t->dtype)};
  }
  for (int i = 0; i < g->nouts; i++) {
    IrVal v = g->outs[i];
    const IrType *t = ir_type(g, v);
    p->slots[ns] = (lower_slot){LOWER_SLOT_OUTPUT, v, numel(&t->shape) * kir_dtype_size(t->dtype)};
    if (L->oslot[v] < 0 && !is_leaf(ir_producer(g, v)->op) && ir_producer(g, v)->op != OP_CONST)
      L->oslot[v] = ns;
    ns++;
  }
  L->arena_slot = ns;
  p->slots[ns++] = (lower_slot){LOWER_SLOT_ARENA, -1, 0};
  L->seed_buf = -1;
  if (has_random(g)) {
    L->seed_buf = kir_buffer(L->f, "seed", KIR_I64, ns, 0, 1);
    p->slots[ns++] = (lower_slot){LOWER_SLOT_SEED, -1, 8};
  }
  L->host_buf = -1;
  if (has_host(g)) {
    L->host_buf = kir_buffer(L->f, "host", KIR_I64, ns, 0, 1);
    p->slots[ns++] = (lower_slot){LOWER_SLOT_HOST, -1, 0};
  }
  return ns;
}

/* A result that is a reshape of a value used only there: the value is computed into the
 * output slot and the reshape is a view of it (no copy kernel). */
static void results_through_reshapes(lower_ctx *L) {
  const IrGraph *g = L->g;
  for (int i = 0; i < g->nnodes; i++) {
    const IrNode *n = g->nodes[i];
    IrVal o = n->out[0], x = n->nin ? n->in[0] : -1;
    if (n->op != OP_RESHAPE || L->oslot[o] < 0 || L->oslot[x] >= 0 || L->fz->uses[x] != 1 || L->fz->skip[x])
      continue;
    const IrNode *p = ir_producer(g, x);
    if (is_leaf(p->op) || p->op == OP_CONST || ir_type(g, x)->dtype != ir_type(g, o)->dtype)
      continue;
    L->oslot[x] = L->oslot[o];
    L->oslot[o] = -1;
  }
}

/* Result values not computed in place (leaves, constants, repeats) are copied. */
static void copy_results(lower_ctx *L, lower_plan *p) {
  for (int s = 0; s < p->nslots; s++) {
    if (p->slots[s].kind != LOWER_SLOT_OUTPUT)
      continue;
    IrVal v = p->slots[s].val;
    const kir_buf *b = &L->f->buf[L->buf[v]];
    if (b->slot != s)
      copy_result(L, v, s);
  }
}

void lower_plan_free(lower_plan *p) {
  lscan_plan_free(p->bptt);
  kir_free(p->f);
  free(p->slots);
  free(p->buf_of);
  free(p->host);
  memset(p, 0, sizeof *p);
}

/* Memory planning of the arena (memplan.c) unless switched off; --dump=memory. */
static int plan_memory(lower_ctx *L, lower_plan *p) {
  const lower_options *o = lower_get_options();
  if (o->no_memplan)
    return 0;
  memplan_stats st;
  int64_t bytes = memplan_run(L->f, L->arena_slot, &st);
  if (bytes < 0)
    return lower_fail(L, "out of memory planning the arena");
  p->slots[L->arena_slot].bytes = bytes;
  if (o->dump_memory)
    memplan_print(L->f, &st, o->dump_memory);
  return 0;
}

int lower_graph(const IrGraph *g, const char *name, lower_plan *p, char *msg, size_t msgsz) {
  return lower_graph_with(g, name, NULL, p, msg, msgsz);
}

int lower_graph_with(const IrGraph *g, const char *name, lscan_plan *bptt, lower_plan *p, char *msg,
                     size_t msgsz) {
  memset(p, 0, sizeof *p);
  p->bptt = bptt;
  lower_ctx L = {.g = g, .msg = msg, .msgsz = msgsz, .plan = p, .bptt = bptt};
  L.f = kir_new(name, 0);
  L.buf = malloc(sizeof *L.buf * (size_t)(g->nvals + 1));
  L.oslot = malloc(sizeof *L.oslot * (size_t)(g->nvals + 1));
  p->f = L.f;
  p->buf_of = L.buf;
  if (!L.f || !L.buf || !L.oslot) {
    free(L.oslot);
    lower_plan_free(p);
    return lower_fail(&L, "out of memory");
  }
  for (int v = 0; v <= g->nvals; v++)
    L.buf[v] = L.oslot[v] = -1;
  int rc = (p->nslots = assign_slots(&L, p)) < 0 ? -1 : 0;
  L.f->nslots = p->nslots;
  L.fz = rc == 0 && !lower_get_options()->no_fuse ? fuse_analyze(g, 0) : NULL;
  if (L.fz)
    results_through_reshapes(&L);
  for (int i = 0; i < g->nnodes && rc == 0 && kir_ok(L.f); i++)   /* stop at the first failed allocation */
    rc = lower_node(&L, i);
  fuse_free(L.fz);
  L.fz = NULL;
  L.n = NULL;
  if (rc == 0 && kir_ok(L.f))
    copy_results(&L, p);
  if (rc == 0 && !kir_ok(L.f))
    rc = lower_fail(&L, "out of memory building kernels");
  if (rc == 0)
    p->slots[L.arena_slot].bytes = L.arena_bytes;
  if (rc == 0)
    rc = plan_memory(&L, p);
  free(L.oslot);
  if (rc)
    lower_plan_free(p);
  return rc;
}
