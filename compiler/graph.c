/* graph.c — the graph IR's storage and builder: nodes, values, leaves, the poisoned-builder
 * error discipline, typed builders for every op, subgraph copy and inlining.
 * The op table rows (ir_ops) are expanded here from ops.def. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

/* Shape and gradient rules live in ops_shape.c and ops_grad.c; the table names them
 * shp_x / gr_x, and they are defined as ir_shp_x / ir_gr_x (the module prefix). */
#define OP(E, name, arity, kind, flags, shape, grad, eval, sc, lower) \
  int ir_##shape(IrGraph *g, IrNode *n);
#include "ops.def"
#undef OP
#define OP(E, name, arity, kind, flags, shape, grad, eval, sc, lower) \
  int ir_##grad(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin);
#include "ops.def"
#undef OP

/* IR_ND rows name gr_none; the table holds NULL for them. */
const IrOpInfo ir_ops[OP_NOPS] = {
#define OP(E, name, arity, kind, flags, shape, grad, eval, sc, lower) \
  [OP_##E] = {name, arity, kind, flags, ir_##shape, ((flags) & IR_ND) ? NULL : ir_##grad, sc, lower},
#include "ops.def"
#undef OP
};

const IrScalarInfo ir_scalars[SC_NOPS] = {
#define SC(E, name, arity, doms, fexpr, iexpr) [SC_##E] = {name, arity, doms},
#include "scalar.def"
#undef SC
};

/* ir_scalar_eval: scalar.def's expressions, in double or int64 semantics. */
double ir_scalar_eval(IrScalarOp op, int is_int, double fa, double fb, double fc, double p0,
                      double p1)
{
  if (is_int) {
    int64_t a = (int64_t)fa, b = (int64_t)fb, c = (int64_t)fc;
    (void)a, (void)b, (void)c;
    switch (op) {
#define SC(E, name, arity, doms, fexpr, iexpr) \
  case SC_##E: return (double)(iexpr);
#include "scalar.def"
#undef SC
    default: return 0;
    }
  }
  double a = fa, b = fb, c = fc;
  (void)a, (void)b, (void)c;
  switch (op) {
#define SC(E, name, arity, doms, fexpr, iexpr) \
  case SC_##E: return (double)(fexpr);
#include "scalar.def"
#undef SC
  default: return 0;
  }
}

/* ------------------------------------------------------------ basics ---- */

IrGraph *ir_graph_new(void)
{
  IrGraph *g = calloc(1, sizeof *g);
  if (g) g->next_stream = 1;
  return g;
}

static void node_free(IrNode *n)
{
  free(n->in);
  free(n->out);
  free(n->name);
  free(n->init);
  free(n->cdata);
  ir_graph_free(n->sub[0]);
  ir_graph_free(n->sub[1]);
  free(n);
}

void ir_graph_free(IrGraph *g)
{
  if (!g) return;
  for (int i = 0; i < g->nnodes; i++) node_free(g->nodes[i]);
  free(g->nodes);
  free(g->vals);
  free(g->outs);
  free(g);
}

const char *ir_errmsg(const IrGraph *g) { return g->err; }

int ir_fail(IrGraph *g, const char *fmt, ...)
{
  if (!g->failed) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->err, sizeof g->err, fmt, ap);
    va_end(ap);
  }
  g->failed = 1;
  return -1;
}

void ir_clear_error(IrGraph *g)
{
  g->failed = 0;
  g->err[0] = 0;
  g->err_node = 0;
}

int64_t ir_numel(const IrShape *s)
{
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++) n *= s->dim[i];
  return n;
}

IrShape ir_shape(int rank, const int64_t *dims)
{
  IrShape s = {0};
  s.rank = rank;
  for (int i = 0; i < rank && i < IR_MAX_RANK; i++) s.dim[i] = dims[i];
  return s;
}

int ir_shape_eq(const IrShape *a, const IrShape *b)
{
  if (a->rank != b->rank) return 0;
  for (int i = 0; i < a->rank; i++)
    if (a->dim[i] != b->dim[i]) return 0;
  return 1;
}

int ir_is_float(IrDType t) { return t == IR_F32 || t == IR_F64; }

const char *ir_dtype_name(IrDType t)
{
  static const char *names[] = {"f32", "f64", "i32", "i64", "bool", "bit"};
  return (unsigned)t < IR_NDTYPES ? names[t] : "?";
}

size_t ir_dtype_size(IrDType t)
{
  static const size_t sz[] = {4, 8, 4, 8, 1, 1};
  return (unsigned)t < IR_NDTYPES ? sz[t] : 0;
}

char *ir_type_str(const IrType *t, char *buf, size_t cap)
{
  size_t k = (size_t)snprintf(buf, cap, "%s[", ir_dtype_name(t->dtype));
  for (int i = 0; i < t->shape.rank && k < cap; i++)
    k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? ", " : "", (long long)t->shape.dim[i]);
  if (k < cap) snprintf(buf + k, cap - k, "]");
  return buf;
}

int ir_broadcast_shapes(const IrShape *a, const IrShape *b, IrShape *out)
{
  IrShape r = {0};
  r.rank = a->rank > b->rank ? a->rank : b->rank;
  for (int i = 0; i < r.rank; i++) {
    int ia = a->rank - r.rank + i, ib = b->rank - r.rank + i;
    int64_t da = ia >= 0 ? a->dim[ia] : 1, db = ib >= 0 ? b->dim[ib] : 1;
    if (da != db && da != 1 && db != 1) return -1;
    r.dim[i] = da == 1 ? db : da;
  }
  *out = r;
  return 0;
}

/* ------------------------------------------------------- node creation ---- */

static int grow(void **p, int *cap, int need, size_t elt)
{
  if (need <= *cap) return 0;
  int nc = *cap ? *cap * 2 : 16;
  while (nc < need) nc *= 2;
  void *q = realloc(*p, (size_t)nc * elt);
  if (!q) return -1;
  *p = q;
  *cap = nc;
  return 0;
}

/* Appends a node with nout outputs (types left zero). NULL when out of memory. */
static IrNode *node_new(IrGraph *g, IrOp op, int nin, const IrVal *in, const IrAttrs *a,
                        int nout)
{
  IrNode *n = calloc(1, sizeof *n);
  if (!n || grow((void **)&g->nodes, &g->capnodes, g->nnodes + 1, sizeof *g->nodes)) {
    free(n);
    ir_fail(g, "out of memory");
    return NULL;
  }
  n->op = op;
  n->nin = nin;
  n->in = nin ? malloc((size_t)nin * sizeof *n->in) : NULL;
  if (nin && !n->in) {
    free(n);
    ir_fail(g, "out of memory");
    return NULL;
  }
  if (nin) memcpy(n->in, in, (size_t)nin * sizeof *in);
  if (a) n->attr = *a;
  n->id = g->nnodes;
  g->nodes[g->nnodes++] = n;
  IrType *ts = calloc((size_t)(nout ? nout : 1), sizeof *ts);
  int rc = ts ? ir_node_add_outputs(g, n, nout, ts) : ir_fail(g, "out of memory");
  free(ts);
  return rc ? NULL : n;
}

int ir_node_add_outputs(IrGraph *g, IrNode *n, int nout, const IrType *t)
{
  if (grow((void **)&g->vals, &g->capvals, g->nvals + nout, sizeof *g->vals))
    return ir_fail(g, "out of memory");
  IrVal *o = realloc(n->out, (size_t)(n->nout + nout) * sizeof *o);
  if (!o) return ir_fail(g, "out of memory");
  n->out = o;
  for (int i = 0; i < nout; i++) {
    IrValue *v = &g->vals[g->nvals];
    v->node = n->id;
    v->idx = n->nout;
    v->t = t[i];
    n->out[n->nout++] = g->nvals++;
  }
  return 0;
}

/* Removes the last node (after its shape rule failed). */
static void node_drop_last(IrGraph *g)
{
  IrNode *n = g->nodes[--g->nnodes];
  g->nvals -= n->nout;
  node_free(n);
}

/* 0 iff the number of elements of s fits in int64 (and every dim is >= 0). */
static int numel_ok(const IrShape *s)
{
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++)
    if (s->dim[i] < 0 || __builtin_mul_overflow(n, s->dim[i], &n)) return -1;
  return 0;
}

/* Outputs a node has before its shape rule runs: the rules of IR_MULTI ops add theirs. */
static int initial_nout(IrOp op) { return ir_ops[op].flags & IR_MULTI ? 0 : 1; }

IrNode *ir_add_node(IrGraph *g, IrOp op, int nin, const IrVal *in, const IrAttrs *a)
{
  if (g->failed) return NULL;
  const IrOpInfo *oi = &ir_ops[op];
  if (oi->arity >= 0 && nin != oi->arity) {
    ir_fail(g, "%s takes %d inputs, got %d", oi->name, oi->arity, nin);
    return NULL;
  }
  for (int i = 0; i < nin; i++)
    if (in[i] < 0 || in[i] >= g->nvals) {
      ir_fail(g, "%s: input %d is not a value of this graph", oi->name, i);
      return NULL;
    }
  IrNode *n = node_new(g, op, nin, in, a, initial_nout(op));
  if (!n) return NULL;
  int rc = oi->shape(g, n);
  for (int k = 0; !rc && k < n->nout; k++)
    if (numel_ok(&g->vals[n->out[k]].t.shape))
      rc = ir_fail(g, "%s: result %d has too many elements (or a negative dimension)", oi->name, k);
  if (rc) {
    node_drop_last(g);
    g->failed = 1;
    return NULL;
  }
  return n;
}

IrVal ir_add(IrGraph *g, IrOp op, int nin, const IrVal *in, const IrAttrs *a)
{
  IrNode *n = ir_add_node(g, op, nin, in, a);
  return n && n->nout ? n->out[0] : IR_NONE;
}

/* ------------------------------------------------------------- leaves ---- */

static IrVal leaf(IrGraph *g, IrOp op, const char *name, IrDType dt, IrShape s)
{
  if (g->failed) return IR_NONE;
  if (s.rank < 0 || s.rank > IR_MAX_RANK) {
    ir_fail(g, "%s '%s': rank %d out of range (max %d)", ir_ops[op].name, name ? name : "",
            s.rank, IR_MAX_RANK);
    return IR_NONE;
  }
  for (int i = 0; i < s.rank; i++)
    if (s.dim[i] < 0) {
      ir_fail(g, "%s '%s': negative dimension %lld", ir_ops[op].name, name ? name : "",
              (long long)s.dim[i]);
      return IR_NONE;
    }
  if (numel_ok(&s)) {
    ir_fail(g, "%s '%s': too many elements", ir_ops[op].name, name ? name : "");
    return IR_NONE;
  }
  IrAttrs a = {0};
  a.dtype = dt;
  a.nint = s.rank;
  for (int i = 0; i < s.rank; i++) a.ints[i] = s.dim[i];
  IrNode *n = node_new(g, op, 0, NULL, &a, 1);
  if (!n) return IR_NONE;
  if (name && !(n->name = strdup(name))) {
    ir_fail(g, "out of memory");
    return IR_NONE;
  }
  g->vals[n->out[0]].t.dtype = dt;
  g->vals[n->out[0]].t.shape = s;
  return n->out[0];
}

IrVal ir_input(IrGraph *g, const char *name, IrDType dt, IrShape s)
{
  return leaf(g, OP_INPUT, name, dt, s);
}

IrVal ir_formal(IrGraph *g, int pos, IrType t)
{
  char nm[32];
  snprintf(nm, sizeof nm, "arg%d", pos);
  IrVal v = leaf(g, OP_INPUT, nm, t.dtype, t.shape);
  if (v != IR_NONE) ir_producer(g, v)->attr.ints[IR_MAX_INTS - 1] = pos + 1;
  return v;
}

IrVal ir_param(IrGraph *g, const char *name, IrDType dt, IrShape s, const char *init)
{
  IrVal v = leaf(g, OP_PARAM, name, dt, s);
  if (v != IR_NONE && init && !(ir_producer(g, v)->init = strdup(init))) {
    ir_fail(g, "out of memory");
    return IR_NONE;
  }
  return v;
}

IrVal ir_state(IrGraph *g, const char *name, IrDType dt, IrShape s)
{
  return leaf(g, OP_STATE, name, dt, s);
}

IrVal ir_const(IrGraph *g, IrDType dt, IrShape s, const double *data)
{
  IrVal v = leaf(g, OP_CONST, NULL, dt, s);
  if (v == IR_NONE) return v;
  IrNode *n = ir_producer(g, v);
  int64_t k = ir_numel(&s);
  n->cdata = malloc((size_t)(k ? k : 1) * sizeof(double));
  if (!n->cdata) {
    ir_fail(g, "out of memory");
    return IR_NONE;
  }
  if (k) memcpy(n->cdata, data, (size_t)k * sizeof(double));
  n->ncdata = k;
  return v;
}

IrVal ir_fill(IrGraph *g, IrDType dt, IrShape s, double x)
{
  IrVal v = leaf(g, OP_CONST, NULL, dt, s);
  if (v == IR_NONE) return v;
  IrNode *n = ir_producer(g, v);
  if (!(n->cdata = malloc(sizeof(double)))) {
    ir_fail(g, "out of memory");
    return IR_NONE;
  }
  n->cdata[0] = x;
  n->ncdata = 1;
  return v;
}

IrVal ir_scalar(IrGraph *g, IrDType dt, double x)
{
  IrShape s = {0};
  return ir_fill(g, dt, s, x);
}

IrVal ir_or_zeros(IrGraph *g, IrVal x, const IrType *t)
{
  return x != IR_NONE ? x : ir_fill(g, t->dtype, t->shape, 0.0);
}

int ir_set_outputs(IrGraph *g, int n, const IrVal *v)
{
  IrVal *o = realloc(g->outs, (size_t)(g->nouts + n) * sizeof *o);
  if (!o) return ir_fail(g, "out of memory");
  g->outs = o;
  for (int i = 0; i < n; i++) {
    if (v[i] < 0 || v[i] >= g->nvals) return ir_fail(g, "graph output %d is not a value", i);
    g->outs[g->nouts++] = v[i];
  }
  return 0;
}

int ir_leaves(const IrGraph *g, IrOp kind, IrVal *out, int cap)
{
  int k = 0;
  for (int i = 0; i < g->nnodes; i++)
    if (g->nodes[i]->op == kind) {
      if (out && k < cap) out[k] = g->nodes[i]->out[0];
      k++;
    }
  return k;
}

IrVal ir_find_leaf(const IrGraph *g, const char *name)
{
  for (int i = 0; i < g->nnodes; i++) {
    const IrNode *n = g->nodes[i];
    if ((ir_ops[n->op].flags & IR_LEAF) && n->name && !strcmp(n->name, name)) return n->out[0];
  }
  return IR_NONE;
}

/* ----------------------------------------------------- typed builders ---- */

static IrAttrs attrs_ints(int n, const int64_t *v)
{
  IrAttrs a = {0};
  a.nint = n;
  for (int i = 0; i < n && i < IR_MAX_INTS; i++) a.ints[i] = v[i];
  return a;
}

IrVal ir_unary(IrGraph *g, IrOp op, IrVal x) { return ir_add(g, op, 1, &x, NULL); }

IrVal ir_binary(IrGraph *g, IrOp op, IrVal a, IrVal b)
{
  IrVal in[2] = {a, b};
  return ir_add(g, op, 2, in, NULL);
}

IrVal ir_where(IrGraph *g, IrVal c, IrVal a, IrVal b)
{
  IrVal in[3] = {c, a, b};
  return ir_add(g, OP_WHERE, 3, in, NULL);
}

IrVal ir_leaky_relu(IrGraph *g, IrVal x, double alpha)
{
  IrAttrs a = {0};
  a.nflt = 1;
  a.flts[0] = alpha;
  return ir_add(g, OP_LEAKY_RELU, 1, &x, &a);
}

IrVal ir_clip(IrGraph *g, IrVal x, double lo, double hi)
{
  IrAttrs a = {0};
  a.nflt = 2;
  a.flts[0] = lo;
  a.flts[1] = hi;
  return ir_add(g, OP_CLIP, 1, &x, &a);
}

IrVal ir_cast(IrGraph *g, IrVal x, IrDType dt)
{
  IrAttrs a = {0};
  a.dtype = dt;
  return ir_add(g, OP_CAST, 1, &x, &a);
}

IrVal ir_reduce(IrGraph *g, IrOp op, IrVal x, int naxes, const int *axes, int keepdims)
{
  IrAttrs a = {0};
  if (naxes + 1 > IR_MAX_INTS) naxes = IR_MAX_INTS - 1;
  a.nint = naxes + 1;
  a.ints[0] = keepdims;
  for (int i = 0; i < naxes; i++) a.ints[1 + i] = axes[i];
  return ir_add(g, op, 1, &x, &a);
}

IrVal ir_argmax(IrGraph *g, IrVal x, int axis, int keepdims)
{
  int64_t v[2] = {keepdims, axis};
  IrAttrs a = attrs_ints(2, v);
  return ir_add(g, OP_ARGMAX, 1, &x, &a);
}

IrVal ir_argmin(IrGraph *g, IrVal x, int axis, int keepdims)
{
  int64_t v[2] = {keepdims, axis};
  IrAttrs a = attrs_ints(2, v);
  return ir_add(g, OP_ARGMIN, 1, &x, &a);
}

int ir_topk(IrGraph *g, IrVal x, int k, int axis, int ascending, IrVal *values, IrVal *indices)
{
  int64_t v[3] = {k, axis, ascending != 0};
  IrAttrs a = attrs_ints(3, v);
  IrNode *n = ir_add_node(g, OP_TOPK, 1, &x, &a);
  *values = n ? n->out[0] : IR_NONE;
  *indices = n ? n->out[1] : IR_NONE;
  return n ? 0 : -1;
}

IrVal ir_take_along(IrGraph *g, IrVal x, IrVal idx, int axis)
{
  int64_t v[1] = {axis};
  IrAttrs a = attrs_ints(1, v);
  IrVal in[2] = {x, idx};
  return ir_add(g, OP_TAKE_ALONG, 2, in, &a);
}

IrVal ir_put_along_add(IrGraph *g, IrVal x, IrVal idx, IrVal src, int axis)
{
  int64_t v[1] = {axis};
  IrAttrs a = attrs_ints(1, v);
  IrVal in[3] = {x, idx, src};
  return ir_add(g, OP_PUT_ALONG_ADD, 3, in, &a);
}

IrVal ir_matmul(IrGraph *g, IrVal x, IrVal y, int ta, int tb)
{
  int64_t v[2] = {ta, tb};
  IrAttrs a = attrs_ints(2, v);
  IrVal in[2] = {x, y};
  return ir_add(g, OP_MATMUL, 2, in, &a);
}

IrVal ir_conv1d(IrGraph *g, IrVal x, IrVal w, int stride, int pad)
{
  int64_t v[2] = {stride, pad};
  IrAttrs a = attrs_ints(2, v);
  IrVal in[2] = {x, w};
  return ir_add(g, OP_CONV1D, 2, in, &a);
}

IrVal ir_conv2d(IrGraph *g, IrVal x, IrVal w, int sh, int sw, int ph, int pw)
{
  int64_t v[4] = {sh, sw, ph, pw};
  IrAttrs a = attrs_ints(4, v);
  IrVal in[2] = {x, w};
  return ir_add(g, OP_CONV2D, 2, in, &a);
}

IrVal ir_conv_t2d(IrGraph *g, IrVal x, IrVal w, int sh, int sw, int ph, int pw, int oph,
                  int opw)
{
  int64_t v[6] = {sh, sw, ph, pw, oph, opw};
  IrAttrs a = attrs_ints(6, v);
  IrVal in[2] = {x, w};
  return ir_add(g, OP_CONV_T2D, 2, in, &a);
}

IrVal ir_pool2d(IrGraph *g, IrOp op, IrVal x, int kh, int kw, int sh, int sw, int ph, int pw)
{
  int64_t v[6] = {kh, kw, sh, sw, ph, pw};
  IrAttrs a = attrs_ints(6, v);
  return ir_add(g, op, 1, &x, &a);
}

IrVal ir_softmax(IrGraph *g, IrOp op, IrVal x, int axis)
{
  int64_t v[1] = {axis};
  IrAttrs a = attrs_ints(1, v);
  return ir_add(g, op, 1, &x, &a);
}

IrVal ir_loss(IrGraph *g, IrOp op, IrVal x, IrVal y, int reduction)
{
  int64_t v[1] = {reduction};
  IrAttrs a = attrs_ints(1, v);
  IrVal in[2] = {x, y};
  return ir_add(g, op, 2, in, &a);
}

IrVal ir_gather(IrGraph *g, IrVal x, IrVal idx, int axis)
{
  int64_t v[1] = {axis};
  IrAttrs a = attrs_ints(1, v);
  IrVal in[2] = {x, idx};
  return ir_add(g, OP_GATHER, 2, in, &a);
}

IrVal ir_embedding(IrGraph *g, IrVal table, IrVal idx) { return ir_gather(g, table, idx, 0); }

IrVal ir_scatter_add(IrGraph *g, IrVal x, IrVal idx, IrVal src, int axis)
{
  int64_t v[1] = {axis};
  IrAttrs a = attrs_ints(1, v);
  IrVal in[3] = {x, idx, src};
  return ir_add(g, OP_SCATTER_ADD, 3, in, &a);
}

IrVal ir_one_hot(IrGraph *g, IrVal idx, int depth, IrDType dt)
{
  int64_t v[1] = {depth};
  IrAttrs a = attrs_ints(1, v);
  a.dtype = dt;
  return ir_add(g, OP_ONE_HOT, 1, &idx, &a);
}

IrVal ir_concat(IrGraph *g, int n, const IrVal *xs, int axis)
{
  int64_t v[1] = {axis};
  IrAttrs a = attrs_ints(1, v);
  return ir_add(g, OP_CONCAT, n, xs, &a);
}

int ir_split(IrGraph *g, IrVal x, int axis, int n, const int64_t *sizes, IrVal *out)
{
  if (n < 1 || n + 1 > IR_MAX_INTS) return ir_fail(g, "split: %d parts (1..%d allowed)", n,
                                                   IR_MAX_INTS - 1);
  IrAttrs a = {0};
  a.nint = n + 1;
  a.ints[0] = axis;
  for (int i = 0; i < n; i++) a.ints[1 + i] = sizes[i];
  IrNode *nd = ir_add_node(g, OP_SPLIT, 1, &x, &a);
  for (int i = 0; i < n; i++) out[i] = nd ? nd->out[i] : IR_NONE;
  return nd ? 0 : -1;
}

static int rank_of(IrGraph *g, IrVal x) { return x >= 0 && x < g->nvals ? ir_type(g, x)->shape.rank : 0; }

IrVal ir_slice(IrGraph *g, IrVal x, const int64_t *start, const int64_t *end)
{
  int r = rank_of(g, x);
  IrAttrs a = {0};
  a.nint = 2 * r;
  for (int i = 0; i < r; i++) {
    a.ints[i] = start[i];
    a.ints[r + i] = end[i];
  }
  return ir_add(g, OP_SLICE, 1, &x, &a);
}

IrVal ir_reshape(IrGraph *g, IrVal x, IrShape s)
{
  IrAttrs a = attrs_ints(s.rank, s.dim);
  return ir_add(g, OP_RESHAPE, 1, &x, &a);
}

IrVal ir_transpose(IrGraph *g, IrVal x, const int *perm)
{
  int r = rank_of(g, x);
  IrAttrs a = {0};
  a.nint = r;
  for (int i = 0; i < r; i++) a.ints[i] = perm[i];
  return ir_add(g, OP_TRANSPOSE, 1, &x, &a);
}

IrVal ir_broadcast_to(IrGraph *g, IrVal x, IrShape s)
{
  IrAttrs a = attrs_ints(s.rank, s.dim);
  return ir_add(g, OP_BROADCAST_TO, 1, &x, &a);
}

IrVal ir_pad(IrGraph *g, IrVal x, const int64_t *before, const int64_t *after, double value)
{
  int r = rank_of(g, x);
  IrAttrs a = {0};
  a.nint = 2 * r;
  for (int i = 0; i < r; i++) {
    a.ints[i] = before[i];
    a.ints[r + i] = after[i];
  }
  a.nflt = 1;
  a.flts[0] = value;
  return ir_add(g, OP_PAD, 1, &x, &a);
}

static IrVal sample(IrGraph *g, IrOp op, IrDType dt, IrShape s, double p0, double p1)
{
  IrAttrs a = attrs_ints(s.rank, s.dim);
  a.dtype = dt;
  a.nflt = 2;
  a.flts[0] = p0;
  a.flts[1] = p1;
  a.stream = g->next_stream++;
  return ir_add(g, op, 0, NULL, &a);
}

IrVal ir_uniform(IrGraph *g, IrDType dt, IrShape s, double lo, double hi)
{
  return sample(g, OP_UNIFORM, dt, s, lo, hi);
}

IrVal ir_normal(IrGraph *g, IrDType dt, IrShape s, double mean, double std)
{
  return sample(g, OP_NORMAL, dt, s, mean, std);
}

static IrVal random1(IrGraph *g, IrOp op, IrVal x, double p)
{
  IrAttrs a = {0};
  a.nflt = 1;
  a.flts[0] = p;
  a.stream = g->next_stream++;
  return ir_add(g, op, 1, &x, &a);
}

IrVal ir_bernoulli(IrGraph *g, IrVal p) { return random1(g, OP_BERNOULLI, p, 0); }
IrVal ir_categorical(IrGraph *g, IrVal logits) { return random1(g, OP_CATEGORICAL, logits, 0); }

IrVal ir_dropout(IrGraph *g, IrVal x, double p) { return ir_dropout_ex(g, x, p, 0); }

IrVal ir_dropout_ex(IrGraph *g, IrVal x, double p, int per_sequence)
{
  if (!(p >= 0 && p < 1)) {
    ir_fail(g, "dropout: probability %g outside [0, 1)", p);
    return IR_NONE;
  }
  IrAttrs a = {0};
  a.nint = 1;
  a.ints[0] = per_sequence != 0;
  a.nflt = 1;
  a.flts[0] = p;
  a.stream = g->next_stream++;
  return ir_add(g, OP_DROPOUT, 1, &x, &a);
}

IrVal ir_stop_gradient(IrGraph *g, IrVal x) { return ir_unary(g, OP_STOP_GRADIENT, x); }

IrVal ir_straight_through(IrGraph *g, IrVal value, IrVal grad_path)
{
  return ir_binary(g, OP_STRAIGHT_THROUGH, value, grad_path);
}

/* Gives every random op of sub (and of its subgraphs) a fresh stream id of g, so that
 * random ops stay distinct across all the bodies of a model. */
static void renumber_streams(IrGraph *g, IrGraph *sub)
{
  for (int i = 0; sub && i < sub->nnodes; i++) {
    IrNode *n = sub->nodes[i];
    if (ir_ops[n->op].flags & IR_RANDOM) n->attr.stream = g->next_stream++;
    renumber_streams(g, n->sub[0]);
    renumber_streams(g, n->sub[1]);
  }
}

IrVal ir_custom_grad(IrGraph *g, int nin, const IrVal *in, IrGraph *fwd, IrGraph *bwd)
{
  if (g->failed) {
    ir_graph_free(fwd);
    ir_graph_free(bwd);
    return IR_NONE;
  }
  /* The shape rule reads the subgraphs, so attach them through a staged attrs trick:
   * the node is created by hand here. */
  IrNode *n = node_new(g, OP_CUSTOM_GRAD, nin, in, NULL, 1);
  if (!n) {
    ir_graph_free(fwd);
    ir_graph_free(bwd);
    return IR_NONE;
  }
  n->sub[0] = fwd;
  n->sub[1] = bwd;
  renumber_streams(g, fwd);
  renumber_streams(g, bwd);
  if (ir_ops[OP_CUSTOM_GRAD].shape(g, n)) {
    node_drop_last(g);
    g->failed = 1;
    return IR_NONE;
  }
  return n->out[0];
}

static IrNode *scan_node(IrGraph *g, IrGraph *body, int nc, const IrVal *init, int nx, const IrVal *xs,
                         int nk, const IrVal *consts, int axis, int reverse, int64_t T);

IrNode *ir_scan(IrGraph *g, IrGraph *body, int nc, const IrVal *init, int nx, const IrVal *xs,
                int nk, const IrVal *consts, int axis, int reverse)
{
  if (!g->failed) renumber_streams(g, body);
  return ir_scan_keep_streams(g, body, nc, init, nx, xs, nk, consts, axis, reverse);
}

IrNode *ir_scan_len(IrGraph *g, IrGraph *body, int nc, const IrVal *init, int64_t T, int nk,
                    const IrVal *consts, int reverse)
{
  if (!g->failed) renumber_streams(g, body);
  return scan_node(g, body, nc, init, 0, NULL, nk, consts, 0, reverse, T);
}

IrNode *ir_scan_keep_streams(IrGraph *g, IrGraph *body, int nc, const IrVal *init, int nx,
                             const IrVal *xs, int nk, const IrVal *consts, int axis, int reverse)
{
  return scan_node(g, body, nc, init, nx, xs, nk, consts, axis, reverse, -1);
}

/* The scan node; T < 0: the length comes from the step inputs. */
static IrNode *scan_node(IrGraph *g, IrGraph *body, int nc, const IrVal *init, int nx, const IrVal *xs,
                         int nk, const IrVal *consts, int axis, int reverse, int64_t T)
{
  int nin = nc + nx + nk;
  IrVal *in = malloc((size_t)(nin ? nin : 1) * sizeof *in);
  if (g->failed || !in) {
    if (!in) ir_fail(g, "out of memory");
    free(in);
    ir_graph_free(body);
    return NULL;
  }
  if (nc) memcpy(in, init, (size_t)nc * sizeof *in);
  if (nx) memcpy(in + nc, xs, (size_t)nx * sizeof *in);
  if (nk) memcpy(in + nc + nx, consts, (size_t)nk * sizeof *in);
  int64_t v[7] = {nc, nx, nk, axis, reverse, 0, T};
  IrAttrs a = attrs_ints(T >= 0 ? 7 : 6, v);
  IrNode *n = node_new(g, OP_SCAN, nin, in, &a, 0);
  free(in);
  if (!n) {
    ir_graph_free(body);
    return NULL;
  }
  n->sub[0] = body;
  if (ir_ops[OP_SCAN].shape(g, n)) {
    node_drop_last(g);
    g->failed = 1;
    return NULL;
  }
  return n;
}

/* ------------------------------------------------ copy and inlining ---- */

/* Copies node n of a graph into dst with inputs remapped through map (old value -> new).
 * Returns the new node or NULL. */
static IrNode *copy_node(IrGraph *dst, const IrNode *n, const IrVal *map)
{
  IrVal in[64] = {0}, *pin = in;
  if (n->nin > 64 && !(pin = malloc((size_t)n->nin * sizeof *pin))) {
    ir_fail(dst, "out of memory");
    return NULL;
  }
  for (int i = 0; i < n->nin; i++) pin[i] = map[n->in[i]];
  IrNode *m = node_new(dst, n->op, n->nin, pin, &n->attr, 0);
  if (pin != in) free(pin);
  if (!m) return NULL;
  int oom = 0;
  if (n->name && !(m->name = strdup(n->name))) oom = 1;
  if (n->init && !(m->init = strdup(n->init))) oom = 1;
  if (n->cdata) {
    size_t k = (size_t)(n->ncdata ? n->ncdata : 1);
    if ((m->cdata = malloc(k * sizeof(double)))) memcpy(m->cdata, n->cdata, k * sizeof(double));
    else oom = 1;
    m->ncdata = n->ncdata;
  }
  for (int s = 0; s < 2; s++)
    if (n->sub[s] && !(m->sub[s] = ir_subgraph_copy(n->sub[s]))) oom = 1;
  if (oom) {
    ir_fail(dst, "out of memory");
    return NULL;
  }
  return m;
}

/* Copies n's output types (the shape rule is not rerun: types are already checked). */
static int copy_out_types(IrGraph *dst, IrNode *m, const IrGraph *src, const IrNode *n)
{
  IrType t[64] = {{0}}, *pt = t;
  if (n->nout > 64 && !(pt = malloc((size_t)n->nout * sizeof *pt))) return ir_fail(dst, "out of memory");
  for (int i = 0; i < n->nout; i++) pt[i] = src->vals[n->out[i]].t;
  int rc = ir_node_add_outputs(dst, m, n->nout, pt);
  if (pt != t) free(pt);
  return rc;
}

IrNode *ir_copy_node(IrGraph *dst, const IrGraph *src, const IrNode *n, const IrVal *map)
{
  IrNode *m = copy_node(dst, n, map);
  return m && !copy_out_types(dst, m, src, n) ? m : NULL;
}

void ir_graph_swap(IrGraph *a, IrGraph *b)
{
  IrGraph t = *a;
  *a = *b;
  *b = t;
}

IrGraph *ir_subgraph_copy(const IrGraph *src)
{
  IrGraph *dst = ir_graph_new();
  IrVal *map = malloc((size_t)(src->nvals ? src->nvals : 1) * sizeof *map);
  if (!dst || !map) {
    free(map);
    ir_graph_free(dst);
    return NULL;
  }
  dst->next_stream = src->next_stream;
  for (int i = 0; i < src->nnodes && !dst->failed; i++) {
    const IrNode *n = src->nodes[i];
    IrNode *m = copy_node(dst, n, map);
    if (!m || copy_out_types(dst, m, src, n)) break;
    for (int k = 0; k < n->nout; k++) map[n->out[k]] = m->out[k];
  }
  for (int i = 0; i < src->nouts && !dst->failed; i++) ir_set_outputs(dst, 1, &map[src->outs[i]]);
  free(map);
  if (dst->failed) {
    ir_graph_free(dst);
    return NULL;
  }
  return dst;
}

/* Formal position of an OP_INPUT in a subgraph (-1: not a formal). */
static int formal_pos(const IrNode *n)
{
  return n->op == OP_INPUT ? (int)n->attr.ints[IR_MAX_INTS - 1] - 1 : -1;
}

int ir_inline(IrGraph *g, const IrGraph *sub, const IrVal *args, IrVal *res)
{
  if (g->failed) return -1;
  IrVal *map = malloc((size_t)(sub->nvals ? sub->nvals : 1) * sizeof *map);
  if (!map) return ir_fail(g, "out of memory");
  for (int i = 0; i < sub->nnodes && !g->failed; i++) {
    const IrNode *n = sub->nodes[i];
    int pos = formal_pos(n);
    if (pos >= 0) {
      map[n->out[0]] = args[pos];
      continue;
    }
    IrNode *m = copy_node(g, n, map);
    if (!m || copy_out_types(g, m, sub, n)) break;
    if (ir_ops[n->op].flags & IR_RANDOM) m->attr.stream = n->attr.stream; /* same numbers */
    for (int k = 0; k < n->nout; k++) map[n->out[k]] = m->out[k];
  }
  for (int i = 0; i < sub->nouts && !g->failed; i++) res[i] = map[sub->outs[i]];
  free(map);
  return g->failed ? -1 : 0;
}

/* ------------------------------------------------------ host calls ---- */

IrNode *ir_host_call(IrGraph *g, const char *name, int nin, const IrVal *in, int nout, const IrType *rt)
{
  if (g->failed) return NULL;
  if (!name || nout < 1 || nin < 0 || nin + nout > IR_HOST_MAX_ARGS) {
    ir_fail(g, "host_call '%s': %d arguments and %d results (at most %d in all, at least one result)",
            name ? name : "", nin, nout, IR_HOST_MAX_ARGS);
    return NULL;
  }
  IrAttrs a = {0};
  a.ints[a.nint++] = nout;
  for (int k = 0; k < nout; k++) {
    if (a.nint + 2 + rt[k].shape.rank > IR_MAX_INTS) {
      ir_fail(g, "host_call '%s': the result types need more than %d attributes", name, IR_MAX_INTS);
      return NULL;
    }
    a.ints[a.nint++] = rt[k].dtype;
    a.ints[a.nint++] = rt[k].shape.rank;
    for (int d = 0; d < rt[k].shape.rank; d++) a.ints[a.nint++] = rt[k].shape.dim[d];
  }
  IrNode *n = ir_add_node(g, OP_HOST_CALL, nin, in, &a);
  if (n && !(n->name = strdup(name))) {
    ir_fail(g, "out of memory");
    return NULL;
  }
  return n;
}

const IrHostFn *ir_host_find(const IrHostTab *h, const char *name)
{
  for (int i = 0; h && name && i < h->n; i++)
    if (!strcmp(h->fn[i].name, name)) return &h->fn[i];
  return NULL;
}
