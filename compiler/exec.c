/* exec.c — running a graph through the JIT (lower_graph + cg_compile) or the reference
 * interpreter, behind one buffer-based interface (exec.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_int.h"   /* cache_compile: compiled objects cached on disk */
#include "bptt_lower.h"   /* checkpointed scans: their step functions and executor */
#include "cg.h"
#include "exec.h"
#include "fuse.h"   /* lowering options: --dump=memory */

struct Exec {
  IrGraph *g;
  ExecBackend backend;
  int nleaves;
  IrVal *leaves;      /* leaf values in node order */
  void **leaf_mem;    /* bound caller memory per leaf */
  void **outs;        /* owned output buffers */
  ExecStats stats;
  /* JIT */
  jit_t *jit;
  cache_obj *obj;     /* the linked object (cache.c) */
  uint64_t seed;      /* the seed slot of graphs with random ops */
  int64_t need;       /* bytes of the allocation that failed */
  lower_plan plan;
  cg_entry fn;
  void **slots;
  void *arena;
  /* interpreter */
  IrInterp *I;
  lscan_bound *bptt;  /* checkpointed scans (NULL: none) */
};

static int fail(char *msg, size_t cap, const char *what, const char *why) {
  snprintf(msg, cap, "%s: %s", what, why);
  return -1;
}

static int64_t val_bytes(const IrGraph *g, IrVal v) {
  const IrType *t = ir_type(g, v);
  return ir_numel(&t->shape) * (int64_t)ir_dtype_size(t->dtype);
}

static int is_leaf(IrOp op) { return op == OP_INPUT || op == OP_PARAM || op == OP_STATE; }

static int collect(Exec *x) {
  IrGraph *g = x->g;
  x->leaves = calloc(g->nnodes + 1, sizeof(IrVal));
  x->leaf_mem = calloc(g->nnodes + 1, sizeof(void *));
  x->outs = calloc(g->nouts + 1, sizeof(void *));
  if (!x->leaves || !x->leaf_mem || !x->outs) return -1;
  for (int i = 0; i < g->nnodes; i++)
    if (is_leaf(g->nodes[i]->op)) x->leaves[x->nleaves++] = g->nodes[i]->out[0];
  for (int i = 0; i < g->nouts; i++)
    if (!(x->outs[i] = calloc(1, val_bytes(g, g->outs[i]) + 64))) {
      x->need = val_bytes(g, g->outs[i]);
      return -1;
    }
  return 0;
}

static double cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int create_jit(Exec *x, const char *name, const lscan_options *bo, char *msg, size_t cap) {
  double t0 = jit_now_ms(), c0 = cpu_ms();
  if (lscan_lower_graph(x->g, name, bo, &x->plan, msg, cap)) return -1;
  x->stats.lower_ms = jit_now_ms() - t0;
  x->stats.cpu_lower_ms = cpu_ms() - c0;
  cg_options co = {.no_share_kernels = lower_get_options()->no_share_kernels};
  cache_stats st;
  t0 = jit_now_ms();
  if (cache_compile(x->plan.f, &co, JIT_O2, getenv("NNC_NO_CACHE") == NULL, &x->obj, &x->fn, &st, msg, cap))
    return -1;
  x->stats.cache_hit = st.hit;
  x->stats.cpu_ir_ms = st.cpu_ir_ms, x->stats.cpu_opt_ms = st.cpu_opt_ms, x->stats.cpu_emit_ms = st.cpu_emit_ms;
  x->stats.compile_ms = jit_now_ms() - t0;
  x->slots = calloc(x->plan.nslots + 1, sizeof(void *));
  if (!x->slots) return fail(msg, cap, "exec", "out of memory");
  int nout = 0;
  for (int s = 0; s < x->plan.nslots; s++) {
    const lower_slot *ls = &x->plan.slots[s];
    if (ls->kind == LOWER_SLOT_ARENA) {
      x->stats.arena_bytes = ls->bytes;
      x->arena = aligned_alloc(64, (ls->bytes + 64) / 64 * 64);
      if (!x->arena) {
        snprintf(msg, cap, "exec: out of memory: the step's arena needs %lld bytes (%.1f MiB)",
                 (long long)ls->bytes, ls->bytes / 1048576.0);
        return -1;
      }
      x->slots[s] = x->arena;
    } else if (ls->kind == LOWER_SLOT_SEED) {
      x->slots[s] = &x->seed;
    } else if (ls->kind == LOWER_SLOT_OUTPUT) {
      /* output slots come in g->outs order; a value may be several outputs (two metrics
       * that CSE made one), so match by position, not by value */
      if (nout < x->g->nouts) x->slots[s] = x->outs[nout++];
    }
  }
  return lscan_bind(&x->plan, x->slots, &x->bptt, msg, cap);
}

int exec_create(IrGraph *g, ExecBackend b, const char *name, Exec **out, char *msg, size_t cap) {
  return exec_create_bptt(g, b, name, NULL, out, msg, cap);
}

const lscan_bound *exec_bptt(const Exec *x) { return x ? x->bptt : NULL; }

int exec_create_bptt(IrGraph *g, ExecBackend b, const char *name, const lscan_options *bptt, Exec **out,
                     char *msg, size_t cap) {
  *out = NULL;
  Exec *x = calloc(1, sizeof *x);
  if (!x) return fail(msg, cap, "exec", "out of memory");
  x->g = g;
  x->backend = b;
  int rc = 0;
  if (collect(x)) {
    snprintf(msg, cap, "exec: out of memory: an output of %lld bytes (%.1f MiB) could not be allocated",
             (long long)x->need, x->need / 1048576.0);
    rc = -1;
  }
  if (!rc && b == EXEC_JIT) rc = create_jit(x, name, bptt, msg, cap);
  if (!rc && b == EXEC_INTERP && !(x->I = ir_interp_new(g))) rc = fail(msg, cap, "exec", "out of memory");
  if (rc) {
    exec_free(x);
    return -1;
  }
  *out = x;
  return 0;
}

void exec_free(Exec *x) {
  if (!x) return;
  if (x->outs)
    for (int i = 0; i < x->g->nouts; i++) free(x->outs[i]);
  free(x->outs);
  free(x->leaves);
  free(x->leaf_mem);
  free(x->slots);
  free(x->arena);
  lscan_unbind(x->bptt);
  lower_plan_free(&x->plan);
  if (x->jit) jit_destroy(x->jit);
  cache_obj_free(x->obj);
  if (x->I) ir_interp_free(x->I);
  free(x);
}

int exec_bind(Exec *x, IrVal leaf, void *data) {
  for (int i = 0; i < x->nleaves; i++)
    if (x->leaves[i] == leaf) {
      x->leaf_mem[i] = data;
      if (x->backend == EXEC_JIT)
        for (int s = 0; s < x->plan.nslots; s++)
          if (x->plan.slots[s].kind == LOWER_SLOT_LEAF && x->plan.slots[s].val == leaf) x->slots[s] = data;
      return 0;
    }
  return -1;
}

void *exec_output(Exec *x, int i) { return i >= 0 && i < x->g->nouts ? x->outs[i] : NULL; }

ExecStats exec_stats(const Exec *x) { return x->stats; }

const IrTensor *exec_interp_value(const Exec *x, IrVal v) {
  return x->backend == EXEC_INTERP ? ir_interp_value(x->I, v) : NULL;
}

int exec_print_llvm(const Exec *x, const char *what, FILE *out, char *msg, size_t cap) {
  if (x->backend != EXEC_JIT || !x->plan.f) return fail(msg, cap, "dump", "the interpreter has no LLVM IR");
  jit_t *j = NULL;
  jit_options jo = {0};
  jo.opt = JIT_O2;
  if (jit_create(&j, &jo, msg, cap)) return -1;
  cg_options co = {.no_share_kernels = lower_get_options()->no_share_kernels};
  int rc = cg_dump(j, x->plan.f, &co, what, out);
  if (rc) fail(msg, cap, "dump", jit_errmsg(j));
  jit_destroy(j);
  return rc;
}

void exec_print_kernels(const Exec *x, FILE *out) {
  /* --dump=memory printed the arena plans while lowering instead */
  if (x->backend == EXEC_JIT && x->plan.f && !lower_get_options()->dump_memory) kir_print(x->plan.f, out);
}

/* The run's RNG key: the same for both back ends, so their samples agree bit for bit. */
static uint64_t run_seed(uint64_t seed, uint64_t step) { return seed * 0x9E3779B97F4A7C15ull + step; }

static int run_interp(Exec *x, uint64_t seed, uint64_t step, char *msg, size_t cap) {
  ir_interp_set_seed(x->I, run_seed(seed, step));
  for (int i = 0; i < x->nleaves; i++) {
    if (!x->leaf_mem[i]) continue;
    const IrType *t = ir_type(x->g, x->leaves[i]);
    int64_t n = ir_numel(&t->shape);
    double *d = malloc(sizeof(double) * (n ? n : 1));
    if (!d) return fail(msg, cap, "interpreter", "out of memory");
    ir_to_double(t->dtype, x->leaf_mem[i], d, n);
    int rc = ir_interp_bind_id(x->I, x->leaves[i], d);
    free(d);
    if (rc) return fail(msg, cap, "interpreter", ir_interp_error(x->I));
  }
  if (ir_interp_run(x->I)) return fail(msg, cap, "interpreter", ir_interp_error(x->I));
  for (int i = 0; i < x->g->nouts; i++) {
    const IrTensor *r = ir_interp_value(x->I, x->g->outs[i]);
    if (!r) return fail(msg, cap, "interpreter", "an output was not computed");
    ir_from_double(r->t.dtype, r->data, x->outs[i], ir_numel(&r->t.shape));
  }
  return 0;
}

int exec_run(Exec *x, uint64_t seed, uint64_t step, char *msg, size_t cap) {
  if (x->backend == EXEC_INTERP) return run_interp(x, seed, step, msg, cap);
  x->seed = run_seed(seed, step);
  for (int s = 0; s < x->plan.nslots; s++)
    if (!x->slots[s]) return fail(msg, cap, "exec", "a leaf of the compiled function is not bound");
  x->fn(x->slots);
  return 0;
}
