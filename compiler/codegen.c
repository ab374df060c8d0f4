/* codegen.c — kernel IR (kir.h) to LLVM IR through the LLVM-C API.
 *
 * Shape of the module for a kir_func f:
 *   void f(void **slots)                  external: computes each buffer's pointer (slot +
 *                                         offset) and runs the kernels in order
 *   void f.<k>(ptr noalias..., i64 b, i64 e)   internal, one per loop kernel: the nest with
 *                                         dim 0 running over [b, e)
 *   void f.<k>.par(ptr ctx, i64 b, i64 e) for kernels whose dim 0 is parallel: loads the
 *                                         pointers from ctx and calls f.<k>; the driver
 *                                         passes it to nnrt_parallel_for(n, fn, ctx)
 * Loops are emitted in rotated form with a guard, i64 induction variables and nsw index
 * arithmetic so that SCEV sees affine accesses and the loop vectorizer widens the innermost
 * loop. Pointer params are noalias unless two buffers of one kernel overlap in memory.
 * FP arithmetic carries `contract` (FMA) and reductions `reassoc` (vectorizable) unless
 * strict_fp; functions carry prefer-vector-width=512 (LLVM prefers 256 on AVX-512 parts).
 * Accumulators live in allocas that SROA turns into registers. Per-op IR is in
 * codegen_scalar.c. */
#include "cg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <llvm/Config/llvm-config.h>

#define CG_MAX_LIFT 8   /* random streams of one kernel passed as arguments */

typedef struct cg {
  jit_t *j;
  cg_ir x;
  const kir_func *f;
  cg_options o;
  LLVMTypeRef i1, i8, i32, i64, f32, f64, ptr, vd;
  const kir_kernel *k;      /* kernel being emitted */
  LLVMValueRef fn;          /* its function */
  LLVMValueRef *bp;         /* [nbuf] buffer pointers inside fn (NULL: unused) */
  LLVMValueRef iv[KIR_MAX_RANK];
  LLVMValueRef *memo;       /* [nexpr] values emitted in the current block run */
  LLVMValueRef *acc;        /* [nstore] accumulator allocas */
  LLVMValueRef accval;      /* finished accumulator while emitting a post expression */
  LLVMValueRef t;           /* the repeat step inside the kernel being emitted (i64) */
  const int *lift;          /* [nlift] constant expressions passed as parameters (shared kernels) */
  int nlift;
  LLVMValueRef liftv[CG_MAX_LIFT];
  int failed;
} cg;

/* ------------------------------------------------------------ small helpers ---- */

static LLVMTypeRef ty(cg *c, kir_dtype dt) {
  switch (dt) {
  case KIR_F32: return c->f32;
  case KIR_F64: return c->f64;
  case KIR_I32: return c->i32;
  case KIR_I64: return c->i64;
  default: return c->i1;
  }
}
/* The in-memory type (bool is a byte). */
static LLVMTypeRef mty(cg *c, kir_dtype dt) { return dt == KIR_BOOL ? c->i8 : ty(c, dt); }
static LLVMValueRef ci64(cg *c, int64_t v) { return LLVMConstInt(c->i64, (uint64_t)v, 1); }

static void add_attr(cg *c, LLVMValueRef fn, unsigned idx, const char *name) {
  unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
  if (kind) /* 0 = unknown in this LLVM (nocapture is gone in 21+): never attach it */
    LLVMAddAttributeAtIndex(fn, idx, LLVMCreateEnumAttribute(c->x.C, kind, 0));
}

static void fn_attrs(cg *c, LLVMValueRef fn) {
  char w[16];
  snprintf(w, sizeof w, "%d", c->o.vector_width ? c->o.vector_width : 512);
  LLVMAddTargetDependentFunctionAttr(fn, "prefer-vector-width", w);
  add_attr(c, fn, LLVMAttributeFunctionIndex, "nounwind");
}

static LLVMValueRef new_fn(cg *c, const char *name, LLVMTypeRef fty, int internal) {
  LLVMValueRef fn = LLVMAddFunction(c->x.M, name, fty);
  if (internal)
    LLVMSetLinkage(fn, LLVMInternalLinkage);
  fn_attrs(c, fn);
  LLVMPositionBuilderAtEnd(c->x.B, LLVMAppendBasicBlockInContext(c->x.C, fn, "entry"));
  return fn;
}

/* An alloca in fn's entry block (where SROA/mem2reg look for them). */
static LLVMValueRef entry_alloca(cg *c, LLVMTypeRef t, const char *name) {
  LLVMBuilderRef b = LLVMCreateBuilderInContext(c->x.C);
  LLVMBasicBlockRef e = LLVMGetEntryBasicBlock(c->fn);
  LLVMValueRef first = LLVMGetFirstInstruction(e);
  if (first)
    LLVMPositionBuilderBefore(b, first);
  else
    LLVMPositionBuilderAtEnd(b, e);
  LLVMValueRef a = LLVMBuildAlloca(b, t, name);
  LLVMDisposeBuilder(b);
  return a;
}

static int fail(cg *c, const char *fmt, const char *arg) {
  if (!c->failed)
    jit_fail(c->j, fmt, arg);
  c->failed = 1;
  return -1;
}

/* ----------------------------------------------------------------- loops ---- */

typedef struct loop {
  LLVMValueRef iv, hi;
  LLVMBasicBlockRef header, exit;
} loop;

/* for (iv = lo; iv < hi; iv++): guard, then a body block that is also the header. */
static loop loop_begin(cg *c, LLVMValueRef lo, LLVMValueRef hi, const char *name) {
  loop l = {.hi = hi};
  LLVMBasicBlockRef pre = LLVMGetInsertBlock(c->x.B);
  l.header = LLVMAppendBasicBlockInContext(c->x.C, c->fn, name);
  l.exit = LLVMAppendBasicBlockInContext(c->x.C, c->fn, "exit");
  LLVMBuildCondBr(c->x.B, LLVMBuildICmp(c->x.B, LLVMIntSLT, lo, hi, ""), l.header, l.exit);
  LLVMPositionBuilderAtEnd(c->x.B, l.header);
  l.iv = LLVMBuildPhi(c->x.B, c->i64, name);
  LLVMAddIncoming(l.iv, &lo, &pre, 1);
  return l;
}

static void loop_end(cg *c, loop *l) {
  LLVMValueRef next = LLVMBuildNSWAdd(c->x.B, l->iv, ci64(c, 1), "");
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(c->x.B);
  LLVMBuildCondBr(c->x.B, LLVMBuildICmp(c->x.B, LLVMIntSLT, next, l->hi, ""), l->header, l->exit);
  LLVMAddIncoming(l->iv, &next, &latch, 1);
  LLVMPositionBuilderAtEnd(c->x.B, l->exit);
}

/* ----------------------------------------------------------- expressions ---- */

static LLVMValueRef emit_expr(cg *c, int id);

/* offset + sum_d stride_d * iv_d as i64. */
static LLVMValueRef affine(cg *c, const kir_index *x) {
  LLVMValueRef i = ci64(c, x->offset);
  if (x->tstride)
    i = LLVMBuildNSWAdd(c->x.B, i, LLVMBuildNSWMul(c->x.B, c->t, ci64(c, x->tstride), ""), "");
  for (int d = 0; d < c->k->rank; d++)
    if (x->stride[d])
      i = LLVMBuildNSWAdd(c->x.B, i, LLVMBuildNSWMul(c->x.B, c->iv[d], ci64(c, x->stride[d]), ""), "");
  return i;
}

/* stride * clamp(e, 0, limit - 1): data-dependent indices never leave the buffer. */
static LLVMValueRef dyn_term(cg *c, const kir_dyn *d) {
  LLVMValueRef v = emit_expr(c, d->expr);
  if (!v)
    return ci64(c, 0);
  if (LLVMGetIntTypeWidth(LLVMTypeOf(v)) != 64)
    v = LLVMBuildIntCast2(c->x.B, v, c->i64, 1, "");
  LLVMValueRef lo = ci64(c, 0), hi = ci64(c, d->limit - 1);
  v = LLVMBuildSelect(c->x.B, LLVMBuildICmp(c->x.B, LLVMIntSLT, v, lo, ""), lo, v, "");
  v = LLVMBuildSelect(c->x.B, LLVMBuildICmp(c->x.B, LLVMIntSGT, v, hi, ""), hi, v, "");
  return LLVMBuildNSWMul(c->x.B, v, ci64(c, d->stride), "");
}

/* Element pointer of buf at affine index x (+ the dynamic term, if any). */
static LLVMValueRef elem_ptr(cg *c, int buf, const kir_index *x, const kir_dyn *dyn) {
  LLVMValueRef i = affine(c, x);
  if (dyn && dyn->expr >= 0)
    i = LLVMBuildNSWAdd(c->x.B, i, dyn_term(c, dyn), "");
  return LLVMBuildInBoundsGEP2(c->x.B, mty(c, c->f->buf[buf].dt), c->bp[buf], &i, 1, "");
}

/* A call of a scalar runtime function (nnrt_rand_uniform, ...). */
static LLVMValueRef emit_rt(cg *c, const kir_expr *e) {
  LLVMValueRef a[3];
  for (int i = 0; i < 3; i++)
    if (!(a[i] = emit_expr(c, e->arg[i])))
      return NULL;
  const char *name = kir_rt_names[e->op];
  LLVMTypeRef fty = cg_abi_signature(c->x.C, name);
  if (!fty || LLVMCountParamTypes(fty) != 3) {
    jit_fail(c->j, "%s is not in the runtime ABI", name);
    c->failed = 1;
    return NULL;
  }
  LLVMValueRef fn = LLVMGetNamedFunction(c->x.M, name);
  if (!fn)
    fn = LLVMAddFunction(c->x.M, name, fty);
  return LLVMBuildCall2(c->x.B, fty, fn, a, 3, "");
}

static LLVMValueRef emit_load(cg *c, const kir_expr *e) {
  LLVMValueRef v = LLVMBuildLoad2(c->x.B, mty(c, e->dt), elem_ptr(c, e->buf, &e->idx, &e->dyn), "");
  return e->dt == KIR_BOOL ? LLVMBuildICmp(c->x.B, LLVMIntNE, v, LLVMConstNull(c->i8), "") : v;
}

static LLVMValueRef emit_const(cg *c, const kir_expr *e) {
  if (kir_dtype_is_float(e->dt))
    return LLVMConstReal(ty(c, e->dt), e->f);
  return LLVMConstInt(ty(c, e->dt), (uint64_t)e->i, 1);
}

/* Converts v of type from to type to (float->int truncates; anything->bool is v != 0). */
static LLVMValueRef convert(cg *c, LLVMValueRef v, kir_dtype from, kir_dtype to) {
  LLVMBuilderRef b = c->x.B;
  LLVMTypeRef t = ty(c, to);
  if (from == to)
    return v;
  if (to == KIR_BOOL)
    return cg_truth(&c->x, v);
  int ff = kir_dtype_is_float(from), tf = kir_dtype_is_float(to);
  if (ff && tf)
    return to == KIR_F64 ? LLVMBuildFPExt(b, v, t, "") : LLVMBuildFPTrunc(b, v, t, "");
  if (ff)
    return LLVMBuildFPToSI(b, v, t, "");
  if (tf)
    return from == KIR_BOOL ? LLVMBuildUIToFP(b, v, t, "") : LLVMBuildSIToFP(b, v, t, "");
  if (from == KIR_BOOL)
    return LLVMBuildZExt(b, v, t, "");
  return LLVMBuildIntCast2(b, v, t, 1, "");
}

static LLVMValueRef emit_op(cg *c, const kir_expr *e) {
  LLVMValueRef a[3] = {0};
  int ar = kir_scalars[e->op].arity;
  for (int i = 0; i < ar; i++)
    if (!(a[i] = emit_expr(c, e->arg[i])))
      return NULL;
  int typed = e->op == SC_SELECT ? 1 : 0;
  int fl = kir_dtype_is_float(c->f->expr[e->arg[typed]].dt);
  LLVMValueRef v = cg_scalar(&c->x, e->op, fl, a, e->p0, e->p1);
  if (!v)
    fail(c, "no code generator for scalar opcode %s", kir_scalars[e->op].name);
  return v;
}

/* The parameter holding constant expression id in a shared kernel, or NULL. */
static LLVMValueRef lifted(cg *c, int id) {
  for (int i = 0; i < c->nlift; i++)
    if (c->lift[i] == id)
      return c->liftv[i];
  return NULL;
}

static LLVMValueRef emit_expr(cg *c, int id) {
  if (c->memo[id])
    return c->memo[id];
  const kir_expr *e = &c->f->expr[id];
  LLVMValueRef v = NULL;
  switch (e->kind) {
  case KX_CONST: v = emit_const(c, e); break;
  case KX_IV: v = c->iv[e->iv]; break;
  case KX_LOAD: v = emit_load(c, e); break;
  case KX_ACC: v = c->accval; break;
  case KX_AFFINE: v = lifted(c, id) ? lifted(c, id) : affine(c, &e->idx); break;
  case KX_RT: v = emit_rt(c, e); break;
  case KX_OP: v = emit_op(c, e); break;
  case KX_CAST: {
    LLVMValueRef a = emit_expr(c, e->arg[0]);
    v = a ? convert(c, a, c->f->expr[e->arg[0]].dt, e->dt) : NULL;
    break;
  }
  }
  if (e->kind != KX_ACC)
    c->memo[id] = v;
  return v;
}

/* Values are reused only within one straight-line region: forget them at block changes. */
static void forget(cg *c) { memset(c->memo, 0, sizeof *c->memo * (size_t)c->f->nexpr); }

/* -------------------------------------------------------- stores and reductions ---- */

static void store_value(cg *c, const kir_store *st, LLVMValueRef v) {
  kir_dtype dt = c->f->buf[st->buf].dt;
  LLVMValueRef p = elem_ptr(c, st->buf, &st->idx, &st->dyn);
  if (st->accum) { /* mem += v */
    LLVMValueRef old = LLVMBuildLoad2(c->x.B, mty(c, dt), p, "");
    if (dt == KIR_BOOL)
      v = LLVMBuildOr(c->x.B, LLVMBuildICmp(c->x.B, LLVMIntNE, old, LLVMConstNull(c->i8), ""), v, "");
    else
      v = kir_dtype_is_float(dt) ? LLVMBuildFAdd(c->x.B, old, v, "") : LLVMBuildAdd(c->x.B, old, v, "");
  }
  if (dt == KIR_BOOL)
    v = LLVMBuildZExt(c->x.B, v, c->i8, "");
  LLVMBuildStore(c->x.B, v, p);
}

static LLVMValueRef red_identity(cg *c, kir_red r, kir_dtype dt) {
  LLVMTypeRef t = ty(c, dt);
  int fl = kir_dtype_is_float(dt);
  int bits = dt == KIR_I32 ? 32 : 64;
  switch (r) {
  case KIR_RED_PROD: return fl ? LLVMConstReal(t, 1) : LLVMConstInt(t, 1, 0);
  case KIR_RED_MAX: return fl ? LLVMConstReal(t, -INFINITY) : LLVMConstInt(t, 1ull << (bits - 1), 0);
  case KIR_RED_MIN: return fl ? LLVMConstReal(t, INFINITY) : LLVMConstInt(t, ~0ull >> (65 - bits), 0);
  default: return LLVMConstNull(t);
  }
}

static LLVMValueRef red_combine(cg *c, kir_red r, kir_dtype dt, LLVMValueRef a, LLVMValueRef v) {
  LLVMBuilderRef b = c->x.B;
  int fl = kir_dtype_is_float(dt);
  LLVMValueRef out, args[2] = {a, v};
  switch (r) {
  case KIR_RED_PROD: out = fl ? LLVMBuildFMul(b, a, v, "") : LLVMBuildMul(b, a, v, ""); break;
  case KIR_RED_MAX:
    out = fl ? cg_intrinsic(&c->x, "llvm.maxnum", ty(c, dt), 2, args)
             : LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGE, a, v, ""), a, v, "");
    break;
  case KIR_RED_MIN:
    out = fl ? cg_intrinsic(&c->x, "llvm.minnum", ty(c, dt), 2, args)
             : LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLE, a, v, ""), a, v, "");
    break;
  default: out = fl ? LLVMBuildFAdd(b, a, v, "") : LLVMBuildAdd(b, a, v, ""); break;
  }
  if (fl && !c->o.strict_fp && LLVMCanValueUseFastMathFlags(out)) {
    LLVMFastMathFlags fm = LLVMFastMathAllowReassoc | LLVMFastMathAllowContract;
    if (r == KIR_RED_MAX || r == KIR_RED_MIN)
      fm |= LLVMFastMathNoNaNs | LLVMFastMathNoSignedZeros;
    LLVMSetFastMathFlags(out, fm);
  }
  return out;
}

static kir_dtype value_dt(cg *c, const kir_store *st) { return c->f->expr[st->value].dt; }

static void init_accs(cg *c) {
  for (int s = c->k->store0; s < c->k->store0 + c->k->nstore; s++) {
    const kir_store *st = &c->f->store[s];
    if (st->red != KIR_RED_NONE)
      LLVMBuildStore(c->x.B, red_identity(c, st->red, value_dt(c, st)), c->acc[s]);
  }
}

static void finish_accs(cg *c) {
  forget(c);
  for (int s = c->k->store0; s < c->k->store0 + c->k->nstore && !c->failed; s++) {
    const kir_store *st = &c->f->store[s];
    if (st->red == KIR_RED_NONE)
      continue;
    LLVMValueRef a = LLVMBuildLoad2(c->x.B, ty(c, value_dt(c, st)), c->acc[s], "");
    if (st->post >= 0) {
      c->accval = a;
      a = emit_expr(c, st->post);
    }
    if (a)
      store_value(c, st, a);
  }
}

static void emit_body(cg *c) {
  forget(c);
  for (int s = c->k->store0; s < c->k->store0 + c->k->nstore && !c->failed; s++) {
    const kir_store *st = &c->f->store[s];
    LLVMValueRef v = emit_expr(c, st->value);
    if (!v)
      return;
    if (st->red == KIR_RED_NONE) {
      store_value(c, st, v);
      continue;
    }
    kir_dtype dt = value_dt(c, st);
    LLVMValueRef a = LLVMBuildLoad2(c->x.B, ty(c, dt), c->acc[s], "");
    LLVMBuildStore(c->x.B, red_combine(c, st->red, dt, a, v), c->acc[s]);
  }
}

static int first_reduce_dim(const kir_kernel *k) {
  for (int d = 0; d < k->rank; d++)
    if (k->dim[d].reduce)
      return d;
  return k->rank;
}

static int has_reduction(cg *c) {
  for (int s = c->k->store0; s < c->k->store0 + c->k->nstore; s++)
    if (c->f->store[s].red != KIR_RED_NONE)
      return 1;
  return 0;
}

/* Emits dims d.. of the nest; dim 0 runs over [lo0, hi0). */
static void emit_nest(cg *c, int d, LLVMValueRef lo0, LLVMValueRef hi0) {
  int r = first_reduce_dim(c->k), red = has_reduction(c);
  if (d == r && red)
    init_accs(c);
  if (d == c->k->rank)
    emit_body(c);
  else {
    char name[16];
    snprintf(name, sizeof name, "i%d", d);
    LLVMValueRef lo = d == 0 ? lo0 : ci64(c, 0), hi = d == 0 ? hi0 : ci64(c, c->k->dim[d].extent);
    loop l = loop_begin(c, lo, hi, name);
    c->iv[d] = l.iv;
    emit_nest(c, d + 1, lo0, hi0);
    loop_end(c, &l);
  }
  if (d == r && red)
    finish_accs(c);
}

/* ------------------------------------------------------------ kernels ---- */

/* The distinct buffers a loop kernel touches, in first-use order. */
typedef struct bufset {
  int n;
  int *ids;
  char *used; /* [nbuf] */
} bufset;

static void mark_expr(const kir_func *f, int id, bufset *s) {
  const kir_expr *e = &f->expr[id];
  if (e->kind == KX_LOAD && !s->used[e->buf]) {
    s->used[e->buf] = 1;
    s->ids[s->n++] = e->buf;
  }
  if (e->kind == KX_LOAD && e->dyn.expr >= 0)
    mark_expr(f, e->dyn.expr, s);
  int n = e->kind == KX_OP ? kir_scalars[e->op].arity : e->kind == KX_CAST ? 1 : e->kind == KX_RT ? 3 : 0;
  for (int i = 0; i < n; i++)
    mark_expr(f, e->arg[i], s);
}

static void kernel_bufs(const kir_func *f, const kir_kernel *k, bufset *s) {
  memset(s->used, 0, (size_t)f->nbuf);
  s->n = 0;
  for (int i = k->store0; i < k->store0 + k->nstore; i++) {
    const kir_store *st = &f->store[i];
    if (!s->used[st->buf]) {
      s->used[st->buf] = 1;
      s->ids[s->n++] = st->buf;
    }
    mark_expr(f, st->value, s);
    if (st->dyn.expr >= 0)
      mark_expr(f, st->dyn.expr, s);
    if (st->post >= 0)
      mark_expr(f, st->post, s);
  }
}

/* Do buffers a and b share bytes? (Then neither may be noalias.) */
static int overlap(const kir_func *f, int a, int b) {
  const kir_buf *x = &f->buf[a], *y = &f->buf[b];
  if (x->slot != y->slot || x->slot < 0)
    return 0;
  int64_t x0 = x->offset * kir_dtype_size(x->dt), x1 = x0 + x->size * kir_dtype_size(x->dt);
  int64_t y0 = y->offset * kir_dtype_size(y->dt), y1 = y0 + y->size * kir_dtype_size(y->dt);
  return x0 < y1 && y0 < x1;
}

static void param_attrs(cg *c, LLVMValueRef fn, const bufset *s) {
  for (int i = 0; i < s->n; i++) {
    int alias = 0;
    for (int j = 0; j < s->n; j++)
      alias |= j != i && overlap(c->f, s->ids[i], s->ids[j]);
    if (!alias)
      add_attr(c, fn, i + 1, "noalias");
#if LLVM_VERSION_MAJOR < 21
    add_attr(c, fn, i + 1, "nocapture");
#endif
  }
}

/* void f.<k>(ptr..., i64 b, i64 e): the loop nest of kernel k. */
static LLVMValueRef emit_loop_fn(cg *c, int ki, const bufset *s) {
  const kir_kernel *k = &c->f->kernel[ki];
  LLVMTypeRef ps[64 + 3 + CG_MAX_LIFT];   /* pointers, begin, end, t, streams */
  int np = 0;
  for (int i = 0; i < s->n && np < 64; i++)
    ps[np++] = c->ptr;
  ps[np++] = c->i64;
  ps[np++] = c->i64;
  ps[np++] = c->i64; /* t */
  for (int i = 0; i < c->nlift; i++)
    ps[np++] = c->i64;   /* random streams (shared kernels) */
  char name[2 * KIR_NAME + 16];
  snprintf(name, sizeof name, "%s.%s.%d", c->f->name, k->name, ki);
  c->k = k;
  c->fn = new_fn(c, name, LLVMFunctionType(c->vd, ps, np, 0), 1);
  param_attrs(c, c->fn, s);
  memset(c->bp, 0, sizeof *c->bp * (size_t)c->f->nbuf);
  for (int i = 0; i < s->n; i++)
    c->bp[s->ids[i]] = LLVMGetParam(c->fn, i);
  for (int st = k->store0; st < k->store0 + k->nstore; st++)
    if (c->f->store[st].red != KIR_RED_NONE)
      c->acc[st] = entry_alloca(c, ty(c, value_dt(c, &c->f->store[st])), "acc");
  LLVMValueRef lo = LLVMGetParam(c->fn, s->n), hi = LLVMGetParam(c->fn, s->n + 1);
  c->t = LLVMGetParam(c->fn, s->n + 2);
  for (int i = 0; i < c->nlift; i++)
    c->liftv[i] = LLVMGetParam(c->fn, s->n + 3 + i);
  if (k->rank == 0) { /* one point: run once when the range is non-empty */
    LLVMBasicBlockRef once = LLVMAppendBasicBlockInContext(c->x.C, c->fn, "once");
    LLVMBasicBlockRef exit = LLVMAppendBasicBlockInContext(c->x.C, c->fn, "exit");
    LLVMBuildCondBr(c->x.B, LLVMBuildICmp(c->x.B, LLVMIntSLT, lo, hi, ""), once, exit);
    LLVMPositionBuilderAtEnd(c->x.B, once);
    emit_nest(c, 0, lo, hi);
    LLVMBuildBr(c->x.B, exit);
    LLVMPositionBuilderAtEnd(c->x.B, exit);
  } else
    emit_nest(c, 0, lo, hi);
  LLVMBuildRetVoid(c->x.B);
  return c->fn;
}

/* void f.<k>.par(ptr ctx, i64 b, i64 e) { f.<k>(ctx[0], ..., ctx[n-1], b, e); } */
static LLVMValueRef emit_par_fn(cg *c, LLVMValueRef kfn, int n) {
  char name[256];
  snprintf(name, sizeof name, "%s.par", LLVMGetValueName(kfn));
  LLVMTypeRef ps[3] = {c->ptr, c->i64, c->i64};
  c->fn = new_fn(c, name, LLVMFunctionType(c->vd, ps, 3, 0), 1);
  LLVMValueRef args[67 + CG_MAX_LIFT];
  for (int i = 0; i < n; i++) {
    LLVMValueRef idx = ci64(c, i);
    LLVMValueRef p = LLVMBuildInBoundsGEP2(c->x.B, c->ptr, LLVMGetParam(c->fn, 0), &idx, 1, "");
    args[i] = LLVMBuildLoad2(c->x.B, c->ptr, p, "");
  }
  args[n] = LLVMGetParam(c->fn, 1);
  args[n + 1] = LLVMGetParam(c->fn, 2);
  LLVMValueRef idx = ci64(c, n); /* ctx[n] holds t */
  LLVMValueRef tp = LLVMBuildLoad2(c->x.B, c->ptr, LLVMBuildInBoundsGEP2(c->x.B, c->ptr, LLVMGetParam(c->fn, 0), &idx, 1, ""), "");
  args[n + 2] = LLVMBuildPtrToInt(c->x.B, tp, c->i64, "t");
  for (int i = 0; i < c->nlift; i++) {   /* ctx[n + 1 + i]: the streams */
    LLVMValueRef li = ci64(c, n + 1 + i);
    LLVMValueRef lp = LLVMBuildLoad2(c->x.B, c->ptr, LLVMBuildInBoundsGEP2(c->x.B, c->ptr, LLVMGetParam(c->fn, 0), &li, 1, ""), "");
    args[n + 3 + i] = LLVMBuildPtrToInt(c->x.B, lp, c->i64, "");
  }
  LLVMBuildCall2(c->x.B, LLVMGlobalGetValueType(kfn), kfn, args, n + 3 + c->nlift, "");
  LLVMBuildRetVoid(c->x.B);
  return c->fn;
}

/* ------------------------------------------------------------- driver ---- */

typedef struct driver {
  LLVMValueRef fn;
  LLVMValueRef *ptrs;  /* [nbuf] buffer pointers computed from slots */
  LLVMValueRef ctx;    /* [65 + CG_MAX_LIFT x ptr] alloca for parallel contexts (pointers, t, streams) */
  LLVMValueRef t;      /* the current repeat step (i64 0 outside repeats) */
  struct kcache *kc;   /* identical kernels share a function (NULL: -fno-share-kernels) */
} driver;

static LLVMValueRef runtime_fn(cg *c, const char *name, LLVMTypeRef *fty) {
  *fty = cg_abi_signature(c->x.C, name);
  if (!*fty) {
    fail(c, "kernel calls '%s', which is not in the runtime ABI (runtime/abi.def)", name);
    return NULL;
  }
  LLVMValueRef fn = LLVMGetNamedFunction(c->x.M, name);
  return fn ? fn : LLVMAddFunction(c->x.M, name, *fty);
}

/* ---------------------------------------------------- identical kernels ---- */

/* Kernels that differ only in which buffers they touch (the 20 unrolled copies of one scan
 * step in MC dropout, the same layer applied twice) share one LLVM function: LLVM's passes
 * and instruction selection then run once per distinct kernel, not once per kernel. A
 * kernel's key is its structure with buffers numbered by first use (the order of its
 * parameters) and expressions by first visit (a DAG, not a tree: linear in its size):
 * dims, stores, expressions with their constants and index strides, the parameters'
 * dtypes and noalias flags, and whether it runs in parallel. Equal keys emit equal code.
 * The one constant left out of the key is the stream of a random draw (the stream operand
 * of a KX_RT when it is a constant): it becomes an i64 argument, so the masks of unrolled
 * MC-dropout samples, which differ only in their stream, share a function too. */
typedef struct keybuf {
  int64_t *w;
  int n, cap;
  int lift[CG_MAX_LIFT];        /* the random streams' expressions (constants, passed as */
  int64_t liftval[CG_MAX_LIFT]; /* arguments: dropout masks that differ only in their stream */
  int nlift;                    /* share a function) */
  int *seen;        /* [nexpr] first-visit number, -1 */
  const int *local; /* [nbuf] parameter index */
} keybuf;

static void kput(keybuf *kb, int64_t v) {
  if (kb->n == kb->cap) {
    int cap = kb->cap ? 2 * kb->cap : 256;
    int64_t *w = realloc(kb->w, sizeof *w * (size_t)cap);
    if (!w) {
      kb->n = -1;   /* out of memory: no key, the kernel is emitted on its own */
      return;
    }
    kb->w = w, kb->cap = cap;
  }
  if (kb->n >= 0)
    kb->w[kb->n++] = v;
}
static void kput_f(keybuf *kb, double f) {
  int64_t v;
  memcpy(&v, &f, sizeof v);
  kput(kb, v);
}
static void key_index(keybuf *kb, const kir_index *x, int rank) {
  kput(kb, x->offset);
  kput(kb, x->tstride);
  for (int d = 0; d < rank; d++)
    kput(kb, x->stride[d]);
}
static void key_expr(keybuf *kb, const kir_func *f, int rank, int id);
static void key_dyn(keybuf *kb, const kir_func *f, int rank, const kir_dyn *d) {
  kput(kb, d->expr >= 0);
  if (d->expr >= 0) {
    key_expr(kb, f, rank, d->expr);
    kput(kb, d->stride);
    kput(kb, d->limit);
  }
}
/* Is expression id a constant i64 (an affine index with no loop terms)? */
static int const_affine(const kir_func *f, int rank, int id) {
  const kir_expr *e = &f->expr[id];
  if (e->kind != KX_AFFINE || e->idx.tstride)
    return 0;
  for (int d = 0; d < rank; d++)
    if (e->idx.stride[d])
      return 0;
  return 1;
}
/* A random draw's stream: lifted into an argument when constant (at most CG_MAX_LIFT). */
static void key_stream(keybuf *kb, const kir_func *f, int rank, int id) {
  if (id < 0 || !const_affine(f, rank, id) || kb->nlift == CG_MAX_LIFT) {
    key_expr(kb, f, rank, id);
    return;
  }
  for (int i = 0; i < kb->nlift; i++)
    if (kb->lift[i] == id) {
      kput(kb, -1000 - i);
      return;
    }
  kput(kb, -1000 - kb->nlift);
  kb->lift[kb->nlift] = id;
  kb->liftval[kb->nlift++] = f->expr[id].idx.offset;
}
static void key_expr(keybuf *kb, const kir_func *f, int rank, int id) {
  if (id < 0) {
    kput(kb, -1);
    return;
  }
  if (kb->seen[id] >= 0) {
    kput(kb, -2 - kb->seen[id]);
    return;
  }
  kb->seen[id] = kb->n;
  const kir_expr *e = &f->expr[id];
  kput(kb, e->kind);
  kput(kb, e->dt);
  int n = 0;
  switch (e->kind) {
  case KX_CONST: kir_dtype_is_float(e->dt) ? kput_f(kb, e->f) : kput(kb, e->i); break;
  case KX_IV: kput(kb, e->iv); break;
  case KX_LOAD:
    kput(kb, kb->local[e->buf]);
    key_index(kb, &e->idx, rank);
    key_dyn(kb, f, rank, &e->dyn);
    break;
  case KX_ACC: break;
  case KX_AFFINE: key_index(kb, &e->idx, rank); break;
  case KX_RT:
    kput(kb, e->op);
    key_expr(kb, f, rank, e->arg[0]);
    key_stream(kb, f, rank, e->arg[1]);
    key_expr(kb, f, rank, e->arg[2]);
    break;
  case KX_OP: kput(kb, e->op), kput_f(kb, e->p0), kput_f(kb, e->p1), n = kir_scalars[e->op].arity; break;
  case KX_CAST: n = 1; break;
  }
  for (int i = 0; i < n; i++)
    key_expr(kb, f, rank, e->arg[i]);
}

/* The key of loop kernel k over its buffers s (kb->n < 0: none). */
static void kernel_key(cg *c, const kir_kernel *k, const bufset *s, int par, keybuf *kb, int *local) {
  const kir_func *f = c->f;
  kb->n = 0;
  kb->nlift = 0;
  kb->local = local;
  for (int i = 0; i < s->n; i++) {
    int alias = 0;
    for (int j = 0; j < s->n; j++)
      alias |= j != i && overlap(f, s->ids[i], s->ids[j]);
    local[s->ids[i]] = i;
    kput(kb, f->buf[s->ids[i]].dt * 2 + alias);
  }
  kput(kb, par);
  kput(kb, k->rank);
  for (int d = 0; d < k->rank; d++)
    kput(kb, k->dim[d].extent * 4 + k->dim[d].parallel * 2 + k->dim[d].reduce);
  for (int i = k->store0; i < k->store0 + k->nstore; i++) {
    const kir_store *st = &f->store[i];
    kput(kb, local[st->buf]);
    key_index(kb, &st->idx, k->rank);
    kput(kb, st->red);
    kput(kb, st->accum);
    key_dyn(kb, f, k->rank, &st->dyn);
    key_expr(kb, f, k->rank, st->value);
    key_expr(kb, f, k->rank, st->post);
  }
  for (int i = 0; i < f->nexpr; i++)   /* the next key starts from scratch */
    kb->seen[i] = -1;
}

typedef struct kshared {
  int64_t *key;
  int n;
  uint64_t hash;
  LLVMValueRef kfn, pfn, sfn;   /* loop function, its parallel wrapper, its serial wrapper */
} kshared;

typedef struct kcache {
  kshared *e;
  int n, cap;
  keybuf kb;
  int *local;
} kcache;

static uint64_t key_hash(const int64_t *w, int n) {
  uint64_t h = 1469598103934665603ull;
  for (int i = 0; i < n; i++)
    h = (h ^ (uint64_t)w[i]) * 1099511628211ull;
  return h;
}

/* The entry with kb's key, or a new empty one (NULL: out of memory or no key). */
static kshared *kcache_find(kcache *kc) {
  if (kc->kb.n < 0)
    return NULL;
  uint64_t h = key_hash(kc->kb.w, kc->kb.n);
  for (int i = 0; i < kc->n; i++)
    if (kc->e[i].hash == h && kc->e[i].n == kc->kb.n && !memcmp(kc->e[i].key, kc->kb.w, sizeof *kc->kb.w * (size_t)kc->kb.n))
      return &kc->e[i];
  if (kc->n == kc->cap) {
    int cap = kc->cap ? 2 * kc->cap : 64;
    kshared *e = realloc(kc->e, sizeof *e * (size_t)cap);
    if (!e)
      return NULL;
    kc->e = e, kc->cap = cap;
  }
  int64_t *key = malloc(sizeof *key * (size_t)kc->kb.n + 1);
  if (!key)
    return NULL;
  memcpy(key, kc->kb.w, sizeof *key * (size_t)kc->kb.n);
  kc->e[kc->n] = (kshared){.key = key, .n = kc->kb.n, .hash = h};
  return &kc->e[kc->n++];
}

static void kcache_free(kcache *kc) {
  for (int i = 0; i < kc->n; i++)
    free(kc->e[i].key);
  free(kc->e);
  free(kc->kb.w);
  free(kc->kb.seen);
  free(kc->local);
}

/* void f.<k>.seq(ptr..., i64 t) { f.<k>(ptr..., 0, n0, t); }, not inlined: the second and
 * later uses of a serial kernel call it (the loop inlined once into it, trip count known). */
static LLVMValueRef emit_seq_fn(cg *c, LLVMValueRef kfn, int n, int64_t n0) {
  char name[256];
  snprintf(name, sizeof name, "%s.seq", LLVMGetValueName(kfn));
  LLVMTypeRef ps[67 + CG_MAX_LIFT];
  for (int i = 0; i < n; i++)
    ps[i] = c->ptr;
  for (int i = 0; i <= c->nlift; i++)
    ps[n + i] = c->i64;   /* t, then the streams */
  LLVMValueRef fn = new_fn(c, name, LLVMFunctionType(c->vd, ps, n + 1 + c->nlift, 0), 1);
  add_attr(c, fn, LLVMAttributeFunctionIndex, "noinline");
  LLVMValueRef args[67 + CG_MAX_LIFT];
  for (int i = 0; i < n; i++)
    args[i] = LLVMGetParam(fn, i);
  args[n] = ci64(c, 0);
  args[n + 1] = ci64(c, n0);
  args[n + 2] = LLVMGetParam(fn, n);
  for (int i = 0; i < c->nlift; i++)
    args[n + 3 + i] = LLVMGetParam(fn, n + 1 + i);
  LLVMBuildCall2(c->x.B, LLVMGlobalGetValueType(kfn), kfn, args, n + 3 + c->nlift, "");
  LLVMBuildRetVoid(c->x.B);
  return fn;
}

static void call_loop_kernel(cg *c, driver *dv, kcache *kc, int ki, const bufset *s, LLVMBasicBlockRef at) {
  const kir_kernel *k = &c->f->kernel[ki];
  int64_t n0 = k->rank ? k->dim[0].extent : 1;
  int par = k->rank && k->dim[0].parallel && !c->o.no_parallel && n0 > 1;
  kshared *sh = NULL;
  c->nlift = 0;
  if (kc) {
    kernel_key(c, k, s, par, &kc->kb, kc->local);
    sh = kcache_find(kc);
    c->lift = kc->kb.lift, c->nlift = kc->kb.nlift;
  }
  LLVMValueRef kfn = sh && sh->kfn ? sh->kfn : emit_loop_fn(c, ki, s), sfn = NULL;
  LLVMValueRef pfn = !par ? NULL : sh && sh->pfn ? sh->pfn : emit_par_fn(c, kfn, s->n);
  if (sh && sh->kfn && !par)
    sfn = sh->sfn ? sh->sfn : (sh->sfn = emit_seq_fn(c, kfn, s->n, n0));
  if (sh)
    sh->kfn = kfn, sh->pfn = pfn;
  LLVMPositionBuilderAtEnd(c->x.B, at);
  c->fn = dv->fn;
  int nl = c->nlift;
  c->nlift = 0;
  const int64_t *lv = kc ? kc->kb.liftval : NULL;
  LLVMValueRef args[67 + CG_MAX_LIFT];
  for (int i = 0; i < s->n; i++)
    args[i] = dv->ptrs[s->ids[i]];
  if (sfn) {
    args[s->n] = dv->t;
    for (int i = 0; i < nl; i++)
      args[s->n + 1 + i] = ci64(c, lv[i]);
    LLVMBuildCall2(c->x.B, LLVMGlobalGetValueType(sfn), sfn, args, s->n + 1 + nl, "");
    return;
  }
  if (!par) {
    args[s->n] = ci64(c, 0);
    args[s->n + 1] = ci64(c, n0);
    args[s->n + 2] = dv->t;
    for (int i = 0; i < nl; i++)
      args[s->n + 3 + i] = ci64(c, lv[i]);
    LLVMBuildCall2(c->x.B, LLVMGlobalGetValueType(kfn), kfn, args, s->n + 3 + nl, "");
    return;
  }
  args[s->n] = LLVMBuildIntToPtr(c->x.B, dv->t, c->ptr, "");
  for (int i = 0; i < nl; i++)   /* ctx: pointers, t, streams */
    args[s->n + 1 + i] = LLVMConstIntToPtr(ci64(c, lv[i]), c->ptr);
  for (int i = 0; i <= s->n + nl; i++) {
    LLVMValueRef idx = ci64(c, i);
    LLVMBuildStore(c->x.B, args[i], LLVMBuildInBoundsGEP2(c->x.B, c->ptr, dv->ctx, &idx, 1, ""));
  }
  LLVMTypeRef fty;
  LLVMValueRef pf = runtime_fn(c, "nnrt_parallel_for", &fty);
  if (pf)
    LLVMBuildCall2(c->x.B, fty, pf, (LLVMValueRef[]){ci64(c, n0), pfn, dv->ctx}, 3, "");
}

/* One argument of a call kernel, converted to the callee's parameter type. */
static LLVMValueRef call_arg(cg *c, driver *dv, const kir_arg *a, LLVMTypeRef pt) {
  LLVMTypeKind tk = LLVMGetTypeKind(pt);
  if (a->kind == KIR_ARG_NULL)
    return tk == LLVMPointerTypeKind ? LLVMConstNull(pt) : NULL;
  if (a->kind == KIR_ARG_BUF) {
    if (tk != LLVMPointerTypeKind)
      return NULL;
    int64_t sz = kir_dtype_size(c->f->buf[a->buf].dt);
    LLVMValueRef off = ci64(c, a->i * sz);
    if (a->tstride)
      off = LLVMBuildNSWAdd(c->x.B, off, LLVMBuildNSWMul(c->x.B, dv->t, ci64(c, a->tstride * sz), ""), "");
    return a->i || a->tstride ? LLVMBuildInBoundsGEP2(c->x.B, c->i8, dv->ptrs[a->buf], &off, 1, "") : dv->ptrs[a->buf];
  }
  if (tk == LLVMIntegerTypeKind)
    return LLVMConstInt(pt, (uint64_t)(a->kind == KIR_ARG_I64 || a->kind == KIR_ARG_I32 ? a->i : (int64_t)a->f), 1);
  if (tk == LLVMFloatTypeKind || tk == LLVMDoubleTypeKind)
    return LLVMConstReal(pt, a->kind == KIR_ARG_F32 || a->kind == KIR_ARG_F64 ? a->f : (double)a->i);
  return NULL;
}

static void call_runtime_kernel(cg *c, driver *dv, const kir_kernel *k) {
  LLVMTypeRef fty;
  LLVMValueRef fn = runtime_fn(c, k->callee, &fty);
  if (!fn)
    return;
  unsigned np = LLVMCountParamTypes(fty);
  if ((int)np != k->narg || np > 32) {
    fail(c, "call to '%s' with the wrong number of arguments", k->callee);
    return;
  }
  LLVMTypeRef pt[32];
  LLVMValueRef args[32];
  LLVMGetParamTypes(fty, pt);
  for (unsigned i = 0; i < np; i++)
    if (!(args[i] = call_arg(c, dv, &c->f->arg[k->arg0 + i], pt[i]))) {
      fail(c, "call to '%s': an argument does not match the prototype", k->callee);
      return;
    }
  LLVMBuildCall2(c->x.B, fty, fn, args, np, "");
}

/* A constant buffer as an internal, 64-byte aligned global holding its raw bytes. */
static LLVMValueRef const_global(cg *c, const kir_buf *x) {
  size_t n = (size_t)x->size * (size_t)kir_dtype_size(x->dt);
  LLVMValueRef init = LLVMConstStringInContext2(c->x.C, x->data, n, 1);
  LLVMValueRef g = LLVMAddGlobal(c->x.M, LLVMTypeOf(init), x->name);
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMInternalLinkage);
  LLVMSetAlignment(g, 64);
  return g;
}

/* The entry block of f: load each slot once and offset each buffer pointer. */
static void driver_prologue(cg *c, driver *dv) {
  LLVMValueRef slots = LLVMGetParam(dv->fn, 0);
  LLVMValueRef *slot = calloc((size_t)c->f->nslots + 1, sizeof *slot);
  for (int b = 0; b < c->f->nbuf && slot; b++) {
    const kir_buf *x = &c->f->buf[b];
    if (x->slot < 0) {
      dv->ptrs[b] = const_global(c, x);
      continue;
    }
    if (!slot[x->slot]) {
      LLVMValueRef i = ci64(c, x->slot);
      slot[x->slot] = LLVMBuildLoad2(c->x.B, c->ptr, LLVMBuildInBoundsGEP2(c->x.B, c->ptr, slots, &i, 1, ""), "");
    }
    LLVMValueRef off = ci64(c, x->offset * kir_dtype_size(x->dt));
    dv->ptrs[b] = LLVMBuildInBoundsGEP2(c->x.B, c->i8, slot[x->slot], &off, 1, x->name);
  }
  if (!slot)
    fail(c, "out of memory in %s", "codegen");
  free(slot);
  dv->ctx = LLVMBuildAlloca(c->x.B, LLVMArrayType2(c->ptr, 65 + CG_MAX_LIFT), "ctx");
  dv->t = ci64(c, 0);
}

static void emit_range(cg *c, driver *dv, bufset *s, int from, int to);

/* for (i = 0; i < count; i++) { t = reverse ? count-1-i : i; kernels of the repeat } */
static void emit_repeat(cg *c, driver *dv, bufset *s, int ki) {
  const kir_kernel *r = &c->f->kernel[ki];
  c->fn = dv->fn;
  loop l = loop_begin(c, ci64(c, 0), ci64(c, r->count), "t");
  LLVMValueRef t = r->reverse ? LLVMBuildNSWSub(c->x.B, ci64(c, r->count - 1), l.iv, "") : l.iv;
  dv->t = t;
  emit_range(c, dv, s, ki + 1, ki + 1 + r->nbody);
  dv->t = ci64(c, 0);
  c->fn = dv->fn;
  loop_end(c, &l);
}

/* Emits kernels [from, to) into the driver at the builder's position. */
static void emit_range(cg *c, driver *dv, bufset *s, int from, int to) {
  for (int ki = from; ki < to && !c->failed; ki++) {
    const kir_kernel *k = &c->f->kernel[ki];
    LLVMBasicBlockRef at = LLVMGetInsertBlock(c->x.B);
    if (k->kind == KIR_REPEAT) {
      emit_repeat(c, dv, s, ki);
      ki += k->nbody;
    } else if (k->kind == KIR_CALL)
      call_runtime_kernel(c, dv, k);
    else {
      kernel_bufs(c->f, k, s);
      if (s->n > 64) {
        fail(c, "kernel %s touches more than 64 buffers", k->name);
        return;
      }
      call_loop_kernel(c, dv, dv->kc, ki, s, at);
    }
  }
}

static void emit_driver(cg *c, bufset *s) {
  driver dv = {0};
  dv.ptrs = calloc((size_t)c->f->nbuf + 1, sizeof *dv.ptrs);
  if (!dv.ptrs) {
    fail(c, "out of memory in %s", "codegen");
    return;
  }
  kcache kc = {0};
  if (!c->o.no_share_kernels) {
    kc.kb.seen = malloc(sizeof *kc.kb.seen * (size_t)c->f->nexpr + 1);
    kc.local = calloc((size_t)c->f->nbuf + 1, sizeof *kc.local);
    for (int i = 0; kc.kb.seen && i < c->f->nexpr; i++)
      kc.kb.seen[i] = -1;
    dv.kc = kc.kb.seen && kc.local ? &kc : NULL;
  }
  dv.fn = c->fn = new_fn(c, c->f->name, LLVMFunctionType(c->vd, &c->ptr, 1, 0), 0);
  driver_prologue(c, &dv);
  emit_range(c, &dv, s, 0, c->f->nkernel);
  LLVMBuildRetVoid(c->x.B);
  kcache_free(&kc);
  free(dv.ptrs);
}

static void init_types(cg *c) {
  LLVMContextRef C = c->x.C;
  c->i1 = LLVMInt1TypeInContext(C);
  c->i8 = LLVMInt8TypeInContext(C);
  c->i32 = LLVMInt32TypeInContext(C);
  c->i64 = LLVMInt64TypeInContext(C);
  c->f32 = LLVMFloatTypeInContext(C);
  c->f64 = LLVMDoubleTypeInContext(C);
  c->ptr = LLVMPointerTypeInContext(C, 0);
  c->vd = LLVMVoidTypeInContext(C);
}

static int build(cg *c) {
  const kir_func *f = c->f;
  bufset s = {0};
  s.ids = calloc((size_t)f->nbuf + 1, sizeof *s.ids);
  s.used = calloc((size_t)f->nbuf + 1, 1);
  c->bp = calloc((size_t)f->nbuf + 1, sizeof *c->bp);
  c->memo = calloc((size_t)f->nexpr + 1, sizeof *c->memo);
  c->acc = calloc((size_t)f->nstore + 1, sizeof *c->acc);
  if (!s.ids || !s.used || !c->bp || !c->memo || !c->acc)
    fail(c, "out of memory in %s", "codegen");
  else
    emit_driver(c, &s);
  free(s.ids);
  free(s.used);
  free(c->bp);
  free(c->memo);
  free(c->acc);
  return c->failed ? -1 : 0;
}

int cg_build(jit_t *j, const kir_func *f, const cg_options *o, LLVMModuleRef *out) {
  *out = NULL;
  char msg[512];
  if (kir_verify(f, msg, sizeof msg))
    return jit_fail(j, "invalid kernel IR: %s", msg);
  double t0 = jit_now_ms();
  cg c = {.j = j, .f = f};
  if (o)
    c.o = *o;
  c.x.C = jit_context(j);
  c.x.contract = !c.o.strict_fp;
  if (!(c.x.M = jit_new_module(j, f->name)))
    return -1;
  c.x.B = LLVMCreateBuilderInContext(c.x.C);
  init_types(&c);
  int rc = build(&c);
  LLVMDisposeBuilder(c.x.B);
  if (rc == 0)
    rc = jit_verify(j, c.x.M);
  jit_add_ir_time(j, jit_now_ms() - t0);
  if (rc) {
    LLVMDisposeModule(c.x.M);
    return -1;
  }
  *out = c.x.M;
  return 0;
}

int cg_compile(jit_t *j, const kir_func *f, const cg_options *o, cg_entry *fn) {
  LLVMModuleRef m;
  void *addr;
  *fn = NULL;
  if (cg_build(j, f, o, &m))
    return -1;
  if (jit_optimize(j, m)) {
    LLVMDisposeModule(m);
    return -1;
  }
  if (jit_add_module(j, m) || jit_lookup(j, f->name, &addr))
    return -1;
  *fn = (cg_entry)addr;
  return 0;
}

int cg_dump(jit_t *j, const kir_func *f, const cg_options *o, const char *what, FILE *out) {
  if (!strcmp(what, "kernels")) {
    kir_print(f, out);
    return 0;
  }
  int opt = !strcmp(what, "llvm-opt") || !strcmp(what, "asm");
  if (!opt && strcmp(what, "llvm"))
    return jit_fail(j, "unknown dump '%s' (kernels, llvm, llvm-opt, asm)", what);
  LLVMModuleRef m;
  if (cg_build(j, f, o, &m))
    return -1;
  char *text = NULL;
  size_t len = 0;
  int rc = opt ? jit_optimize(j, m) : 0;
  if (rc == 0)
    rc = jit_emit(j, m, strcmp(what, "asm") ? JIT_EMIT_LLVM : JIT_EMIT_ASM, &text, &len);
  if (rc == 0 && fwrite(text, 1, len, out) != len)
    rc = jit_fail(j, "cannot write the %s dump", what);
  free(text);
  LLVMDisposeModule(m);
  return rc;
}
