/* kir.c — the kernel IR (see kir.h): builders, the verifier and the --dump=kernels printer.
 * The verifier proves every affine access in bounds by taking the minimum and maximum of
 * offset + sum(stride_d * iv_d) over the box 0 <= iv_d < extent_d (each term is monotone). */
#include "kir.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Name, arity and domains of each scalar.def opcode (read from the table itself, so that
 * kernels need nothing linked from the graph IR). */
const kir_scalar_info kir_scalars[SC_NOPS] = {
#define SC(E, name, arity, doms, fexpr, iexpr) {name, arity, doms},
#include "scalar.def"
#undef SC
};

static const char *const dtype_names[IR_NDTYPES] = {
    [IR_F32] = "f32", [IR_F64] = "f64", [IR_I32] = "i32", [IR_I64] = "i64", [IR_BOOL] = "bool", [IR_BIT] = "bit"};
static const int dtype_sizes[IR_NDTYPES] = {
    [IR_F32] = 4, [IR_F64] = 8, [IR_I32] = 4, [IR_I64] = 8, [IR_BOOL] = 1, [IR_BIT] = 1};

const char *const kir_rt_names[KIR_NRT] = {"nnrt_rand_uniform", "nnrt_rand_normal"};

int kir_dtype_size(kir_dtype dt) { return dtype_sizes[dt]; }
const char *kir_dtype_name(kir_dtype dt) { return dtype_names[dt]; }
int kir_dtype_is_float(kir_dtype dt) { return dt == KIR_F32 || dt == KIR_F64; }
int kir_ok(const kir_func *f) { return !f->oom; }

kir_func *kir_new(const char *name, int nslots) {
  kir_func *f = calloc(1, sizeof *f);
  if (!f)
    return NULL;
  snprintf(f->name, sizeof f->name, "%s", name);
  f->nslots = nslots;
  return f;
}

void kir_free(kir_func *f) {
  if (!f)
    return;
  for (int b = 0; b < f->nbuf; b++)
    free(f->buf[b].data);
  free(f->buf);
  free(f->kernel);
  free(f->expr);
  free(f->store);
  free(f->arg);
  free(f);
}

/* Makes room for one more element in a growable array; returns its index or -1. */
static int grow(kir_func *f, void **p, int *n, int *cap, size_t elsz) {
  if (f->oom)
    return -1;
  if (*n == *cap) {
    int nc = *cap ? *cap * 2 : 16;
    void *q = realloc(*p, (size_t)nc * elsz);
    if (!q) {
      f->oom = 1;
      return -1;
    }
    *p = q;
    *cap = nc;
  }
  memset((char *)*p + (size_t)*n * elsz, 0, elsz);
  return (*n)++;
}

#define GROW(f, field, n, c) grow(f, (void **)&(f)->field, &(f)->n, &(f)->c, sizeof *(f)->field)

int kir_buffer(kir_func *f, const char *name, kir_dtype dt, int slot, int64_t offset, int64_t size) {
  int id = GROW(f, buf, nbuf, cbuf);
  if (id < 0)
    return -1;
  kir_buf *b = &f->buf[id];
  snprintf(b->name, sizeof b->name, "%s", name);
  b->dt = dt;
  b->slot = slot;
  b->offset = offset;
  b->size = size;
  b->alloc = -1;
  return id;
}

int kir_const_buffer(kir_func *f, const char *name, kir_dtype dt, int64_t size, const void *data) {
  size_t bytes = (size_t)size * (size_t)kir_dtype_size(dt);
  void *copy = malloc(bytes ? bytes : 1);
  if (!copy) {
    f->oom = 1;
    return -1;
  }
  memcpy(copy, data, bytes);
  int id = kir_buffer(f, name, dt, 0, 0, size);
  if (id < 0) {
    free(copy);
    return -1;
  }
  f->buf[id].slot = -1;
  f->buf[id].data = copy;
  return id;
}

int kir_loop(kir_func *f, const char *name, int rank, const int64_t *ext, const int *flags) {
  int id = GROW(f, kernel, nkernel, ckernel);
  if (id < 0)
    return -1;
  kir_kernel *k = &f->kernel[id];
  k->kind = KIR_LOOP;
  snprintf(k->name, sizeof k->name, "%s", name);
  k->rank = rank;
  for (int d = 0; d < rank && d < KIR_MAX_RANK; d++) {
    k->dim[d].extent = ext[d];
    k->dim[d].parallel = flags && (flags[d] & KIR_PAR);
    k->dim[d].reduce = flags && (flags[d] & KIR_RED);
  }
  k->store0 = f->nstore;
  return id;
}

int kir_store_to(kir_func *f, int buf, kir_index idx, int value, kir_red red, int post) {
  if (f->oom || f->nkernel == 0 || f->kernel[f->nkernel - 1].kind != KIR_LOOP)
    return -1;
  int id = GROW(f, store, nstore, cstore);
  if (id < 0)
    return -1;
  f->store[id] = (kir_store){.buf = buf, .idx = idx, .value = value, .red = red, .post = post, .dyn = {.expr = -1}};
  f->kernel[f->nkernel - 1].nstore++;
  return id;
}

int kir_call(kir_func *f, const char *name, const char *callee) {
  int id = GROW(f, kernel, nkernel, ckernel);
  if (id < 0)
    return -1;
  kir_kernel *k = &f->kernel[id];
  k->kind = KIR_CALL;
  snprintf(k->name, sizeof k->name, "%s", name);
  snprintf(k->callee, sizeof k->callee, "%s", callee);
  k->arg0 = f->narg;
  return id;
}

static int add_arg(kir_func *f, kir_arg a) {
  if (f->oom || f->nkernel == 0 || f->kernel[f->nkernel - 1].kind != KIR_CALL)
    return -1;
  int id = GROW(f, arg, narg, carg);
  if (id < 0)
    return -1;
  f->arg[id] = a;
  f->kernel[f->nkernel - 1].narg++;
  return id;
}

int kir_arg_buf(kir_func *f, int buf) { return add_arg(f, (kir_arg){.kind = KIR_ARG_BUF, .buf = buf}); }
int kir_arg_buf_at(kir_func *f, int buf, int64_t elem) {
  return add_arg(f, (kir_arg){.kind = KIR_ARG_BUF, .buf = buf, .i = elem});
}
int kir_arg_i64(kir_func *f, int64_t v) { return add_arg(f, (kir_arg){.kind = KIR_ARG_I64, .i = v}); }
int kir_arg_buf_t(kir_func *f, int buf, int64_t elem, int64_t tstride) {
  return add_arg(f, (kir_arg){.kind = KIR_ARG_BUF, .buf = buf, .i = elem, .tstride = tstride});
}

int kir_repeat(kir_func *f, const char *name, int64_t count, int reverse) {
  int id = GROW(f, kernel, nkernel, ckernel);
  if (id < 0)
    return -1;
  kir_kernel *k = &f->kernel[id];
  k->kind = KIR_REPEAT;
  snprintf(k->name, sizeof k->name, "%s", name);
  k->count = count;
  k->reverse = reverse;
  return id;
}

void kir_repeat_end(kir_func *f, int id) {
  if (id >= 0 && id < f->nkernel)
    f->kernel[id].nbody = f->nkernel - id - 1;
}

int kir_arg_null(kir_func *f) { return add_arg(f, (kir_arg){.kind = KIR_ARG_NULL}); }
int kir_arg_f32(kir_func *f, double v) { return add_arg(f, (kir_arg){.kind = KIR_ARG_F32, .f = v}); }

static int new_expr(kir_func *f, kir_expr e) {
  int id = GROW(f, expr, nexpr, cexpr);
  if (id < 0)
    return -1;
  f->expr[id] = e;
  return id;
}

int kir_const(kir_func *f, kir_dtype dt, double v) {
  return new_expr(f, (kir_expr){.kind = KX_CONST, .dt = dt, .f = v, .i = (int64_t)v});
}

int kir_iv(kir_func *f, int dim) { return new_expr(f, (kir_expr){.kind = KX_IV, .dt = KIR_I64, .iv = dim}); }

int kir_load(kir_func *f, int buf, kir_index idx) { return kir_load_dyn(f, buf, idx, (kir_dyn){.expr = -1}); }

int kir_load_dyn(kir_func *f, int buf, kir_index idx, kir_dyn dyn) {
  if (buf < 0 || buf >= f->nbuf)
    return -1;
  return new_expr(f, (kir_expr){.kind = KX_LOAD, .dt = f->buf[buf].dt, .buf = buf, .idx = idx, .dyn = dyn});
}

int kir_store_dyn(kir_func *f, int buf, kir_index idx, kir_dyn dyn, int value, int accum) {
  int s = kir_store_to(f, buf, idx, value, KIR_RED_NONE, -1);
  if (s >= 0) {
    f->store[s].dyn = dyn;
    f->store[s].accum = accum;
  }
  return s;
}

int kir_affine(kir_func *f, kir_index idx) {
  return new_expr(f, (kir_expr){.kind = KX_AFFINE, .dt = KIR_I64, .idx = idx});
}

int kir_rt(kir_func *f, kir_rtfn fn, int seed, int stream, int index) {
  return new_expr(f, (kir_expr){.kind = KX_RT, .dt = KIR_F32, .op = fn, .arg = {seed, stream, index}});
}

kir_dtype kir_op_result(kir_op op, kir_dtype a0, kir_dtype a1) {
  if ((op >= SC_LT && op <= SC_NE) || op == SC_AND || op == SC_OR || op == SC_NOT)
    return KIR_BOOL;
  return op == SC_SELECT ? a1 : a0;
}

int kir_opp(kir_func *f, kir_op op, int a, int b, int c, double p0, double p1) {
  int args[3] = {a, b, c};
  if (f->oom || op < 0 || op >= SC_NOPS)
    return -1;
  for (int i = 0; i < kir_scalars[op].arity; i++)
    if (args[i] < 0 || args[i] >= f->nexpr)
      return -1;
  kir_expr e = {.kind = KX_OP, .op = op, .arg = {a, b, c}, .p0 = p0, .p1 = p1};
  kir_dtype d1 = kir_scalars[op].arity > 1 ? f->expr[b].dt : KIR_F32;
  e.dt = kir_op_result(op, f->expr[a].dt, d1);
  return new_expr(f, e);
}

static int new_op(kir_func *f, kir_op op, int a, int b, int c) { return kir_opp(f, op, a, b, c, 0, 0); }

int kir_op1(kir_func *f, kir_op op, int a) { return new_op(f, op, a, -1, -1); }
int kir_op2(kir_func *f, kir_op op, int a, int b) { return new_op(f, op, a, b, -1); }
int kir_op3(kir_func *f, kir_op op, int a, int b, int c) { return new_op(f, op, a, b, c); }

int kir_cast(kir_func *f, kir_dtype dt, int a) {
  if (a < 0 || a >= f->nexpr)
    return -1;
  return new_expr(f, (kir_expr){.kind = KX_CAST, .dt = dt, .arg = {a, -1, -1}});
}

int kir_acc(kir_func *f, kir_dtype dt) { return new_expr(f, (kir_expr){.kind = KX_ACC, .dt = dt}); }

kir_index kir_index_zero(void) { return (kir_index){0}; }

kir_index kir_index_bcast(int nd, int rank, const int64_t *shape) {
  kir_index x = {0};
  int64_t s = 1;
  for (int r = rank - 1; r >= 0; r--) {
    int d = nd - rank + r;
    if (d >= 0 && d < KIR_MAX_RANK)
      x.stride[d] = shape[r] == 1 ? 0 : s;
    s *= shape[r];
  }
  return x;
}

/* ------------------------------------------------------------------ verifier ---- */

typedef struct vctx {
  const kir_func *f;
  const kir_kernel *k;
  int64_t tcount;   /* steps of the enclosing repeat (1 outside) */
  int store;        /* the store whose post expression is walked, else -1 */
  char *msg;
  size_t msgsz;
} vctx;

static int vfail(vctx *v, const char *fmt, ...) {
  va_list ap;
  int n = snprintf(v->msg, v->msgsz, "kernel %s: ", v->k ? v->k->name : "?");
  va_start(ap, fmt);
  if (n >= 0 && (size_t)n < v->msgsz)
    vsnprintf(v->msg + n, v->msgsz - n, fmt, ap);
  va_end(ap);
  return -1;
}

static int check_expr(vctx *v, int id);

static int check_access(vctx *v, int buf, const kir_index *x, const kir_dyn *dyn) {
  if (buf < 0 || buf >= v->f->nbuf)
    return vfail(v, "no buffer %d", buf);
  int64_t lo = x->offset, hi = x->offset, tspan = x->tstride * (v->tcount - 1);
  if (tspan > 0)
    hi += tspan;
  else
    lo += tspan;
  if (dyn && dyn->expr >= 0) {
    if (check_expr(v, dyn->expr))
      return -1;
    if (kir_dtype_is_float(v->f->expr[dyn->expr].dt) || dyn->limit < 1)
      return vfail(v, "a dynamic index needs an integer expression and a limit");
    int64_t span = dyn->stride * (dyn->limit - 1);
    if (span > 0)
      hi += span;
    else
      lo += span;
  }
  for (int d = 0; d < v->k->rank; d++) {
    int64_t span = x->stride[d] * (v->k->dim[d].extent - 1);
    if (span > 0)
      hi += span;
    else
      lo += span;
  }
  for (int d = v->k->rank; d < KIR_MAX_RANK; d++)
    if (x->stride[d])
      return vfail(v, "index uses dim %d beyond rank %d", d, v->k->rank);
  const kir_buf *b = &v->f->buf[buf];
  if (lo < 0 || hi >= b->size)
    return vfail(v, "access to %s[%lld..%lld] outside its %lld elements", b->name, (long long)lo,
                 (long long)hi, (long long)b->size);
  return 0;
}

static int check_op(vctx *v, const kir_expr *e) {
  const kir_scalar_info *oi = &kir_scalars[e->op];
  for (int i = 0; i < oi->arity; i++)
    if (check_expr(v, e->arg[i]))
      return -1;
  const kir_expr *x = v->f->expr;
  int dom = kir_dtype_is_float(x[e->arg[e->op == SC_SELECT]].dt) ? SC_DOM_F : SC_DOM_I;
  if (!(oi->doms & dom))
    return vfail(v, "%s is not defined on %s", oi->name, kir_dtype_name(x[e->arg[0]].dt));
  if (e->op == SC_SELECT) {
    if (x[e->arg[0]].dt != KIR_BOOL || x[e->arg[1]].dt != x[e->arg[2]].dt)
      return vfail(v, "select needs (bool, T, T)");
    return 0;
  }
  for (int i = 1; i < oi->arity; i++)
    if (x[e->arg[i]].dt != x[e->arg[0]].dt)
      return vfail(v, "%s of %s and %s", oi->name, kir_dtype_name(x[e->arg[0]].dt),
                   kir_dtype_name(x[e->arg[i]].dt));
  return 0;
}

static int check_expr(vctx *v, int id) {
  if (id < 0 || id >= v->f->nexpr)
    return vfail(v, "no expression %d", id);
  const kir_expr *e = &v->f->expr[id];
  switch (e->kind) {
  case KX_CONST: return 0;
  case KX_IV: return e->iv < v->k->rank ? 0 : vfail(v, "loop variable i%d beyond rank", e->iv);
  case KX_LOAD: return check_access(v, e->buf, &e->idx, &e->dyn);
  case KX_AFFINE: return 0;
  case KX_RT:
    for (int i = 0; i < 3; i++)
      if (check_expr(v, e->arg[i]) || v->f->expr[e->arg[i]].dt != KIR_I64)
        return vfail(v, "%s takes three i64 operands", kir_rt_names[e->op]);
    return 0;
  case KX_CAST: return check_expr(v, e->arg[0]);
  case KX_ACC:
    if (v->store < 0)
      return vfail(v, "accumulator read outside a post expression");
    if (e->dt != v->f->expr[v->f->store[v->store].value].dt)
      return vfail(v, "accumulator read as %s", kir_dtype_name(e->dt));
    return 0;
  case KX_OP: return check_op(v, e);
  }
  return vfail(v, "bad expression kind");
}

static int check_dims(vctx *v) {
  const kir_kernel *k = v->k;
  if (k->rank < 0 || k->rank > KIR_MAX_RANK)
    return vfail(v, "rank %d", k->rank);
  for (int d = 0; d < k->rank; d++) {
    if (k->dim[d].extent < 0)
      return vfail(v, "negative extent");
    if (d > 0 && k->dim[d - 1].reduce && !k->dim[d].reduce)
      return vfail(v, "reduce dims must be innermost");
    if (k->dim[d].reduce && k->dim[d].parallel)
      return vfail(v, "dim %d both parallel and reduce", d);
  }
  return 0;
}

static int check_store(vctx *v, int s) {
  const kir_store *st = &v->f->store[s];
  v->store = -1;
  if (check_access(v, st->buf, &st->idx, &st->dyn) || check_expr(v, st->value))
    return -1;
  if ((st->dyn.expr >= 0 || st->accum) && (v->k->rank && v->k->dim[0].parallel))
    return vfail(v, "a scatter store in a parallel kernel");
  if (st->accum && st->red != KIR_RED_NONE)
    return vfail(v, "an accumulating store cannot also reduce");
  kir_dtype bdt = v->f->buf[st->buf].dt;
  int out = st->post >= 0 ? st->post : st->value;
  if (st->red == KIR_RED_NONE && st->post >= 0)
    return vfail(v, "post expression without a reduction");
  for (int d = 0; d < v->k->rank; d++)
    if (st->red != KIR_RED_NONE && v->k->dim[d].reduce && st->idx.stride[d])
      return vfail(v, "reducing store indexed by reduce dim %d", d);
  if (st->post >= 0) {
    v->store = s;
    if (check_expr(v, st->post))
      return -1;
  }
  if (v->f->expr[out].dt != bdt)
    return vfail(v, "store of %s into %s buffer %s", kir_dtype_name(v->f->expr[out].dt),
                 kir_dtype_name(bdt), v->f->buf[st->buf].name);
  return 0;
}

static int check_call_arg(vctx *v, const kir_arg *a) {
  const kir_buf *b = &v->f->buf[a->buf];
  int64_t last = a->i + a->tstride * (v->tcount - 1);
  if (a->i < 0 || a->i >= b->size || last < 0 || last >= b->size)
    return vfail(v, "call argument %s+%lld outside its %lld elements", b->name, (long long)a->i, (long long)b->size);
  return 0;
}

static int check_kernel(vctx *v) {
  const kir_kernel *k = v->k;
  if (k->kind == KIR_CALL) {
    for (int a = k->arg0; a < k->arg0 + k->narg; a++)
      if (v->f->arg[a].kind == KIR_ARG_BUF) {
        if (v->f->arg[a].buf < 0 || v->f->arg[a].buf >= v->f->nbuf)
          return vfail(v, "argument %d names no buffer", a - k->arg0);
        if (check_call_arg(v, &v->f->arg[a]))
          return -1;
      }
    return 0;
  }
  if (check_dims(v))
    return -1;
  for (int s = k->store0; s < k->store0 + k->nstore; s++)
    if (check_store(v, s))
      return -1;
  return 0;
}

/* Body kernels [i+1, i+1+nbody) of repeat i. */
static int check_repeat(vctx *v, int i) {
  const kir_kernel *r = &v->f->kernel[i];
  if (r->count < 0 || r->nbody < 0 || i + r->nbody >= v->f->nkernel)
    return vfail(v, "bad repeat");
  if (v->tcount != 1)
    return vfail(v, "nested repeats");
  for (int b = i + 1; b <= i + r->nbody; b++)
    if (v->f->kernel[b].kind == KIR_REPEAT)
      return vfail(v, "nested repeats");
  return 0;
}

int kir_verify(const kir_func *f, char *msg, size_t msgsz) {
  vctx v = {.f = f, .msg = msg, .msgsz = msgsz, .store = -1, .tcount = 1};
  if (f->oom)
    return vfail(&v, "out of memory while building");
  for (int b = 0; b < f->nbuf; b++) {
    const kir_buf *x = &f->buf[b];
    if ((x->slot < 0 && !x->data) || x->slot >= f->nslots || x->offset < 0)
      return vfail(&v, "buffer %s: bad slot or offset", x->name);
    if (x->dt != KIR_F32 && x->dt != KIR_F64 && x->dt != KIR_I32 && x->dt != KIR_I64 && x->dt != KIR_BOOL)
      return vfail(&v, "buffer %s: %s is not supported by kernels", x->name, kir_dtype_name(x->dt));
  }
  int end = -1; /* last kernel of the current repeat */
  for (int i = 0; i < f->nkernel; i++) {
    v.k = &f->kernel[i];
    if (i > end)
      v.tcount = 1;
    if (v.k->kind == KIR_REPEAT) {
      if (check_repeat(&v, i))
        return -1;
      v.tcount = v.k->count > 0 ? v.k->count : 1;
      end = i + v.k->nbody;
      continue;
    }
    if (check_kernel(&v))
      return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------- printer ---- */

static void print_index(const kir_func *f, const kir_index *x, int rank, FILE *out) {
  int any = 0;
  fputc('[', out);
  for (int d = 0; d < rank; d++) {
    if (!x->stride[d])
      continue;
    fprintf(out, "%s", any ? " + " : "");
    if (x->stride[d] != 1)
      fprintf(out, "%lld*", (long long)x->stride[d]);
    fprintf(out, "i%d", d);
    any = 1;
  }
  if (x->tstride) {
    fprintf(out, "%s%lld*t", any ? " + " : "", (long long)x->tstride);
    any = 1;
  }
  if (x->offset || !any)
    fprintf(out, "%s%lld", any ? " + " : "", (long long)x->offset);
  fputc(']', out);
}

static void print_expr(const kir_func *f, int id, int rank, FILE *out);

/* "[affine + stride*clamp(e, limit)]" */
static void print_dyn_index(const kir_func *f, const kir_index *x, const kir_dyn *d, int rank, FILE *out) {
  print_index(f, x, rank, out);
  if (d->expr < 0)
    return;
  fprintf(out, "[+%lld*", (long long)d->stride);
  print_expr(f, d->expr, rank, out);
  fprintf(out, " <%lld]", (long long)d->limit);
}

static void print_expr(const kir_func *f, int id, int rank, FILE *out) {
  const kir_expr *e = &f->expr[id];
  switch (e->kind) {
  case KX_AFFINE:
    fprintf(out, "idx");
    print_index(f, &e->idx, rank, out);
    return;
  case KX_RT:
    fprintf(out, "%s(", kir_rt_names[e->op]);
    for (int i = 0; i < 3; i++) {
      fprintf(out, i ? ", " : "");
      print_expr(f, e->arg[i], rank, out);
    }
    fputc(')', out);
    return;
  case KX_CONST:
    if (kir_dtype_is_float(e->dt))
      fprintf(out, "%.9g", e->f);
    else
      fprintf(out, "%lld", (long long)e->i);
    if (e->dt != KIR_F32)
      fprintf(out, ":%s", kir_dtype_name(e->dt));
    return;
  case KX_IV: fprintf(out, "i%d", e->iv); return;
  case KX_ACC: fprintf(out, "acc"); return;
  case KX_LOAD:
    fprintf(out, "%s", f->buf[e->buf].name);
    print_dyn_index(f, &e->idx, &e->dyn, rank, out);
    return;
  case KX_CAST:
    fprintf(out, "%s(", kir_dtype_name(e->dt));
    print_expr(f, e->arg[0], rank, out);
    fputc(')', out);
    return;
  case KX_OP:
    fprintf(out, "%s(", kir_scalars[e->op].name);
    for (int i = 0; i < kir_scalars[e->op].arity; i++) {
      if (i)
        fprintf(out, ", ");
      print_expr(f, e->arg[i], rank, out);
    }
    if (e->p0 != 0 || e->p1 != 0)
      fprintf(out, "; %.9g, %.9g", e->p0, e->p1);
    fputc(')', out);
    return;
  }
}

static const char *const red_names[] = {"=", "+=", "*=", "max=", "min="};

static void print_loop(const kir_func *f, const kir_kernel *k, FILE *out) {
  fprintf(out, "kernel %s loop", k->name);
  for (int d = 0; d < k->rank; d++)
    fprintf(out, " i%d<%lld%s%s", d, (long long)k->dim[d].extent, k->dim[d].parallel ? " par" : "",
            k->dim[d].reduce ? " red" : "");
  fputc('\n', out);
  for (int s = k->store0; s < k->store0 + k->nstore; s++) {
    const kir_store *st = &f->store[s];
    fprintf(out, "  %s", f->buf[st->buf].name);
    print_dyn_index(f, &st->idx, &st->dyn, k->rank, out);
    fprintf(out, " %s ", st->accum ? "+=!" : red_names[st->red]);
    print_expr(f, st->value, k->rank, out);
    if (st->post >= 0) {
      fprintf(out, " then ");
      print_expr(f, st->post, k->rank, out);
    }
    fputc('\n', out);
  }
}

static void print_call(const kir_func *f, const kir_kernel *k, FILE *out) {
  fprintf(out, "kernel %s call %s(", k->name, k->callee);
  for (int a = k->arg0; a < k->arg0 + k->narg; a++) {
    const kir_arg *x = &f->arg[a];
    fprintf(out, "%s", a > k->arg0 ? ", " : "");
    if (x->kind == KIR_ARG_BUF && x->tstride)
      fprintf(out, "%s+%lld+%lld*t", f->buf[x->buf].name, (long long)x->i, (long long)x->tstride);
    else if (x->kind == KIR_ARG_BUF && x->i)
      fprintf(out, "%s+%lld", f->buf[x->buf].name, (long long)x->i);
    else if (x->kind == KIR_ARG_BUF)
      fprintf(out, "%s", f->buf[x->buf].name);
    else if (x->kind == KIR_ARG_NULL)
      fprintf(out, "null");
    else if (x->kind == KIR_ARG_F32 || x->kind == KIR_ARG_F64)
      fprintf(out, "%.9g", x->f);
    else
      fprintf(out, "%lld", (long long)x->i);
  }
  fprintf(out, ")\n");
}

void kir_print(const kir_func *f, FILE *out) {
  fprintf(out, "func %s(slots %d)\n", f->name, f->nslots);
  for (int b = 0; b < f->nbuf; b++) {
    const kir_buf *x = &f->buf[b];
    if (x->slot < 0)
      fprintf(out, "  buf %s %s[%lld] = const\n", x->name, kir_dtype_name(x->dt), (long long)x->size);
    else
      fprintf(out, "  buf %s %s[%lld] = slot%d + %lld\n", x->name, kir_dtype_name(x->dt), (long long)x->size,
              x->slot, (long long)x->offset);
  }
  for (int i = 0; i < f->nkernel; i++) {
    const kir_kernel *k = &f->kernel[i];
    if (k->kind == KIR_REPEAT)
      fprintf(out, "kernel %s repeat t<%lld%s over the next %d kernels\n", k->name, (long long)k->count,
              k->reverse ? " reversed" : "", k->nbody);
    else if (k->kind == KIR_LOOP)
      print_loop(f, k, out);
    else
      print_call(f, k, out);
  }
}
