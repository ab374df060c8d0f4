/* irgen_ops.c — the built-in ops of the language, lowered to graph IR nodes.
 *
 * Arguments are bound to the op's parameters by the signature in lang/builtins.def (the
 * checker's table: the same names, defaults and variadic tail), then one row of the table
 * below builds the nodes. An op the checker knows but the back end does not lower yet is
 * an error at the call ("not supported by the back end yet"), never a crash.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "irgen_int.h"

typedef struct Args {
  const Builtin *op;
  Val *a[8];              /* by parameter index; NULL = absent (default None) */
  Val *rest[IR_MAX_RANK + 1];
  int nrest;
  Node *call;
} Args;

typedef Val *(*Lower)(Tr *t, Args *A);

/* ------------------------------------------------------------------ binding */

static Val *default_val(Tr *t, const char *s) {
  if (!s || !strcmp(s, "None")) return NULL;
  if (!strcmp(s, "true") || !strcmp(s, "false")) {
    Val *v = irg_val(t, VK_BOOL);
    v->i = s[0] == 't';
    return v;
  }
  if (!strcmp(s, "f32") || !strcmp(s, "i32") || !strcmp(s, "i64") || !strcmp(s, "f64")) {
    Val *v = irg_val(t, VK_DTYPE);
    v->dt = s[0] == 'f' ? (s[1] == '3' ? IR_F32 : IR_F64) : (s[1] == '3' ? IR_I32 : IR_I64);
    return v;
  }
  if (strpbrk(s, ".eE")) return irg_float(t, strtod(s, NULL));
  return irg_int(t, strtoll(s, NULL, 10));
}

static int bind(Tr *t, Args *A, Val **pos, int npos, Node **kw, Val **kwv, int nkw) {
  const Builtin *op = A->op;
  int vi = op->variadic, after = 0;
  if (vi >= 0)
    for (int i = vi + 1; i < op->nparams; i++) after += op->params[i].deflt == NULL;
  int p = 0;
  for (int i = 0; i < npos; i++) {
    if (vi >= 0 && p == vi && npos - i > after) {
      if (A->nrest >= IR_MAX_RANK + 1) return irg_error(t, A->call->span, "too many arguments"), -1;
      A->rest[A->nrest++] = pos[i];
      continue;
    }
    if (p == vi) p++;
    while (p < op->nparams && p != vi && A->a[p]) p++;
    if (p >= op->nparams) return irg_error(t, A->call->span, "too many arguments to %s", op->name), -1;
    A->a[p++] = pos[i];
  }
  for (int k = 0; k < nkw; k++)
    for (int i = 0; i < op->nparams; i++)
      if (!strcmp(op->params[i].name, kw[k]->name)) A->a[i] = kwv[k];
  for (int i = 0; i < op->nparams; i++)
    if (!A->a[i] && i != vi) A->a[i] = default_val(t, op->params[i].deflt);
  return 0;
}

/* ------------------------------------------------------------------ argument helpers */

static IrVal ten(Tr *t, Args *A, int i) {
  Val *v = A->a[i];
  if (!v) return IR_NONE;
  if (v->k == VK_TENSOR) return irg_use(t, v);
  if (irg_is_num(v)) return irg_const_of(t, v, v->k == VK_FLOAT ? IR_F32 : IR_I32);
  return IR_NONE;
}

static IrDType dtype_of(Tr *t, IrVal x) { return ir_type(t->g, x)->dtype; }
static int rank_of(Tr *t, IrVal x) { return ir_type(t->g, x)->shape.rank; }

static int64_t int_or(Args *A, int i, int64_t d) {
  return A->a[i] && (A->a[i]->k == VK_INT || A->a[i]->k == VK_BOOL) ? A->a[i]->i : d;
}

static double num_or(Args *A, int i, double d) {
  return A->a[i] && irg_is_num(A->a[i]) ? irg_num(A->a[i]) : d;
}

static int norm_axis(int64_t ax, int rank) { return (int)(ax < 0 ? ax + rank : ax); }

/* A dims list from the variadic tail (ints, or one tuple of ints). */
static int dims_of(Tr *t, Args *A, IrShape *s) {
  Val **d = A->rest;
  int n = A->nrest;
  if (n == 1 && d[0]->k == VK_TUPLE) d = d[0]->el, n = d ? A->rest[0]->n : 0;
  s->rank = n;
  for (int i = 0; i < n; i++) {
    if (d[i]->k != VK_INT) return irg_error(t, A->call->span, "dimensions must be compile-time integers"), -1;
    s->dim[i] = d[i]->i;
  }
  return 0;
}

/* A tensor operand of an elementwise op with another operand's dtype for numbers. */
static IrVal ten_like(Tr *t, Args *A, int i, IrDType like) {
  Val *v = A->a[i];
  if (v && irg_is_num(v)) return irg_const_of(t, v, like);
  return ten(t, A, i);
}

static IrDType first_dtype(Tr *t, Args *A, int from, int to) {
  for (int i = from; i <= to; i++)
    if (A->a[i] && A->a[i]->k == VK_TENSOR) return ir_type(A->a[i]->g, A->a[i]->v)->dtype;
  return IR_F32;
}

/* ------------------------------------------------------------------ rows */

#define UNARY(fn, OPC) \
  static Val *fn(Tr *t, Args *A) { return irg_tensor(t, ir_unary(t->g, OPC, ten(t, A, 0))); }
UNARY(l_relu, OP_RELU)
UNARY(l_sigmoid, OP_SIGMOID)
UNARY(l_tanh, OP_TANH)
UNARY(l_exp, OP_EXP)
UNARY(l_log, OP_LOG)
UNARY(l_abs, OP_ABS)
UNARY(l_sign, OP_SIGN)
UNARY(l_sqrt, OP_SQRT)
UNARY(l_rsqrt, OP_RSQRT)
UNARY(l_floor, OP_FLOOR)
UNARY(l_softplus, OP_SOFTPLUS)

static Val *l_leaky_relu(Tr *t, Args *A) {
  return irg_tensor(t, ir_leaky_relu(t->g, ten(t, A, 0), num_or(A, 1, 0.01)));
}

static Val *l_square(Tr *t, Args *A) {
  IrVal x = ten(t, A, 0);
  return irg_tensor(t, ir_binary(t->g, OP_MUL, x, x));
}

static Val *l_log1p(Tr *t, Args *A) {
  IrVal x = ten(t, A, 0);
  return irg_tensor(t, ir_unary(t->g, OP_LOG, ir_binary(t->g, OP_ADD, x, ir_scalar(t->g, dtype_of(t, x), 1))));
}

static Val *l_log_sigmoid(Tr *t, Args *A) {
  /* log sigmoid(x) = -softplus(-x) */
  IrVal x = ten(t, A, 0);
  return irg_tensor(t, ir_unary(t->g, OP_NEG, ir_unary(t->g, OP_SOFTPLUS, ir_unary(t->g, OP_NEG, x))));
}

static Val *l_clip(Tr *t, Args *A) {
  return irg_tensor(t, ir_clip(t->g, ten(t, A, 0), num_or(A, 1, -INFINITY), num_or(A, 2, INFINITY)));
}

static Val *l_cast(Tr *t, Args *A) {
  if (!A->a[1] || A->a[1]->k != VK_DTYPE) return irg_error(t, A->call->span, "cast needs a dtype");
  return irg_tensor(t, ir_cast(t->g, ten(t, A, 0), A->a[1]->dt));
}

static Val *l_stop_gradient(Tr *t, Args *A) { return irg_tensor(t, ir_stop_gradient(t->g, ten(t, A, 0))); }

static Val *l_straight_through(Tr *t, Args *A) {
  return irg_tensor(t, ir_straight_through(t->g, ten(t, A, 0), ten(t, A, 1)));
}

#define BINARY(fn, OPC) \
  static Val *fn(Tr *t, Args *A) { \
    IrDType d = first_dtype(t, A, 0, 1); \
    return irg_tensor(t, ir_binary(t->g, OPC, ten_like(t, A, 0, d), ten_like(t, A, 1, d))); \
  }
BINARY(l_minimum, OP_MINIMUM)
BINARY(l_maximum, OP_MAXIMUM)
BINARY(l_pow, OP_POW)
BINARY(l_mod, OP_MOD)

static Val *l_where(Tr *t, Args *A) {
  IrDType d = first_dtype(t, A, 1, 2);
  return irg_tensor(t, ir_where(t->g, ten(t, A, 0), ten_like(t, A, 1, d), ten_like(t, A, 2, d)));
}

/* Reduction axes: none = all; an int; or a tuple of ints. */
static int axes_of(Tr *t, Args *A, int i, int rank, int *axes) {
  Val *v = A->a[i];
  if (!v) {
    for (int k = 0; k < rank; k++) axes[k] = k;
    return rank;
  }
  if (v->k == VK_INT) { axes[0] = norm_axis(v->i, rank); return 1; }
  int n = 0;
  for (int k = 0; v->k == VK_TUPLE && k < v->n; k++)
    if (v->el[k]->k == VK_INT) axes[n++] = norm_axis(v->el[k]->i, rank);
  return n;
}

static Val *reduce(Tr *t, Args *A, IrOp op) {
  IrVal x = ten(t, A, 0);
  if (x == IR_NONE) return irg_error(t, A->call->span, "%s needs a tensor", A->op->name);
  if (dtype_of(t, x) == IR_BOOL || (op == OP_MEAN && !ir_is_float(dtype_of(t, x))))
    x = ir_cast(t->g, x, op == OP_MEAN || op == OP_SUM ? IR_F32 : IR_I32);
  int axes[IR_MAX_RANK];
  int n = axes_of(t, A, 1, rank_of(t, x), axes);
  return irg_tensor(t, ir_reduce(t->g, op, x, n, axes, (int)int_or(A, 2, 0)));
}
static Val *l_sum(Tr *t, Args *A) { return reduce(t, A, OP_SUM); }
static Val *l_mean(Tr *t, Args *A) { return reduce(t, A, OP_MEAN); }
static Val *l_max(Tr *t, Args *A) { return reduce(t, A, OP_MAX); }
static Val *l_min(Tr *t, Args *A) { return reduce(t, A, OP_MIN); }
static Val *l_prod(Tr *t, Args *A) { return reduce(t, A, OP_PROD); }
static Val *l_logsumexp(Tr *t, Args *A) { return reduce(t, A, OP_LOGSUMEXP); }

static Val *l_argmax(Tr *t, Args *A) {
  IrVal x = ten(t, A, 0);
  int r = rank_of(t, x);
  int axis = A->a[1] ? norm_axis(int_or(A, 1, -1), r) : r - 1;
  /* the language's index results are i32 (like class labels) */
  return irg_tensor(t, ir_cast(t->g, ir_argmax(t->g, x, axis, (int)int_or(A, 2, 0)), IR_I32));
}

static Val *l_reshape(Tr *t, Args *A) {
  IrShape s;
  if (dims_of(t, A, &s)) return NULL;
  IrVal x = ten(t, A, 0);
  int64_t known = 1, neg = -1, n = ir_numel(&ir_type(t->g, x)->shape);
  for (int i = 0; i < s.rank; i++)
    if (s.dim[i] == -1) neg = i; else known *= s.dim[i];
  if (neg >= 0 && known) s.dim[neg] = n / known;
  return irg_tensor(t, ir_reshape(t->g, x, s));
}

static Val *l_flatten(Tr *t, Args *A) {
  IrVal x = ten(t, A, 0);
  const IrShape xsh = ir_type(t->g, x)->shape, *xs = &xsh;
  int st = norm_axis(int_or(A, 1, 1), xs->rank);
  IrShape s = {.rank = st + 1};
  int64_t p = 1;
  for (int i = 0; i < xs->rank; i++)
    if (i < st) s.dim[i] = xs->dim[i]; else p *= xs->dim[i];
  s.dim[st] = p;
  return irg_tensor(t, ir_reshape(t->g, x, s));
}

static Val *l_transpose(Tr *t, Args *A) {
  IrVal x = ten(t, A, 0);
  int r = rank_of(t, x), perm[IR_MAX_RANK];
  if (A->nrest == 0) {
    for (int i = 0; i < r; i++) perm[i] = r - 1 - i;
  } else {
    IrShape s;
    if (dims_of(t, A, &s)) return NULL;
    for (int i = 0; i < r; i++) perm[i] = i < s.rank ? norm_axis(s.dim[i], r) : i;
  }
  return irg_tensor(t, ir_transpose(t->g, x, perm));
}

static int tensors_of(Tr *t, Val *v, IrVal *xs, int cap) {
  if (!v || (v->k != VK_TUPLE && v->k != VK_LIST) || v->n > cap) return -1;
  for (int i = 0; i < v->n; i++) {
    if (v->el[i]->k != VK_TENSOR) return -1;
    xs[i] = irg_use(t, v->el[i]);
  }
  return v->n;
}

static Val *l_concat(Tr *t, Args *A) {
  IrVal xs[64];
  int n = tensors_of(t, A->a[0], xs, 64);
  if (n <= 0) return irg_error(t, A->call->span, "concat needs a tuple of tensors");
  return irg_tensor(t, ir_concat(t->g, n, xs, norm_axis(int_or(A, 1, 0), rank_of(t, xs[0]))));
}

static Val *l_stack(Tr *t, Args *A) {
  IrVal xs[64];
  int n = tensors_of(t, A->a[0], xs, 64);
  if (n <= 0) return irg_error(t, A->call->span, "stack needs a tuple of tensors");
  int r = rank_of(t, xs[0]), ax = norm_axis(int_or(A, 1, 0), r + 1);
  for (int i = 0; i < n; i++) {
    IrShape s = ir_type(t->g, xs[i])->shape;
    for (int k = s.rank; k > ax; k--) s.dim[k] = s.dim[k - 1];
    s.dim[ax] = 1, s.rank++;
    xs[i] = ir_reshape(t->g, xs[i], s);
  }
  return irg_tensor(t, ir_concat(t->g, n, xs, ax));
}

static Val *l_split(Tr *t, Args *A) {
  IrVal x = ten(t, A, 0), out[64];
  int64_t n = int_or(A, 1, 0);
  int ax = norm_axis(int_or(A, 2, 0), rank_of(t, x));
  int64_t d = ir_type(t->g, x)->shape.dim[ax], sizes[64];
  if (n <= 0 || n > 64 || d % n) return irg_error(t, A->call->span, "split: %lld does not divide %lld", (long long)n, (long long)d);
  for (int i = 0; i < n; i++) sizes[i] = d / n;
  if (ir_split(t->g, x, ax, (int)n, sizes, out)) return irg_fail_ir(t);
  Val *el[64];
  for (int i = 0; i < n; i++) el[i] = irg_tensor(t, out[i]);
  return irg_tuple(t, (int)n, el);
}

static Val *l_expand(Tr *t, Args *A) {
  IrVal x = ten(t, A, 0);
  IrShape s = ir_type(t->g, x)->shape;
  int ax = norm_axis(int_or(A, 1, 0), s.rank + 1);
  for (int k = s.rank; k > ax; k--) s.dim[k] = s.dim[k - 1];
  s.dim[ax] = 1, s.rank++;
  return irg_tensor(t, ir_reshape(t->g, x, s));
}

static Val *l_squeeze(Tr *t, Args *A) {
  IrVal x = ten(t, A, 0);
  IrShape s = ir_type(t->g, x)->shape;
  int ax = norm_axis(int_or(A, 1, 0), s.rank);
  for (int k = ax; k < s.rank - 1; k++) s.dim[k] = s.dim[k + 1];
  s.rank--;
  return irg_tensor(t, ir_reshape(t->g, x, s));
}

static Val *l_broadcast_to(Tr *t, Args *A) {
  IrShape s;
  if (dims_of(t, A, &s)) return NULL;
  return irg_tensor(t, ir_broadcast_to(t->g, ten(t, A, 0), s));
}

static Val *l_one_hot(Tr *t, Args *A) {
  IrDType dt = A->a[2] && A->a[2]->k == VK_DTYPE ? A->a[2]->dt : IR_F32;
  int64_t depth = int_or(A, 1, 0);
  if (depth > 2147483647) return irg_error(t, t->at, "one_hot: depth %lld, more than 2147483647", (long long)depth);
  return irg_tensor(t, ir_one_hot(t->g, ten(t, A, 0), (int)depth, dt));
}

/* gather(x, idx, axis): per-position picks along axis (numpy take_along_axis). idx has
 * x's rank, or one less (one pick per position: the axis is dropped), as the checker types it. */
static Val *l_gather(Tr *t, Args *A) {
  IrVal x = ten(t, A, 0), idx = ten(t, A, 1);
  int r = rank_of(t, x), ax = norm_axis(int_or(A, 2, 0), r);
  if (rank_of(t, idx) == r) return irg_tensor(t, ir_take_along(t->g, x, idx, ax));
  IrShape is = ir_type(t->g, idx)->shape, os = is;
  for (int k = is.rank; k > ax; k--) is.dim[k] = is.dim[k - 1];
  is.dim[ax] = 1, is.rank++;
  IrVal y = ir_take_along(t->g, x, ir_reshape(t->g, idx, is), ax);
  return irg_tensor(t, ir_reshape(t->g, y, os));
}

static Val *l_take(Tr *t, Args *A) { return irg_tensor(t, ir_embedding(t->g, ten(t, A, 0), ten(t, A, 1))); }

static Val *l_scatter_add(Tr *t, Args *A) {
  IrVal x = ten(t, A, 0);
  return irg_tensor(t, ir_scatter_add(t->g, x, ten(t, A, 1), ten(t, A, 2), norm_axis(int_or(A, 3, 0), rank_of(t, x))));
}

static Val *l_matmul(Tr *t, Args *A) { return irg_tensor(t, irg_matmul(t, ten(t, A, 0), ten(t, A, 1))); }

static Val *l_outer(Tr *t, Args *A) {
  IrVal a = ten(t, A, 0), b = ten(t, A, 1);
  IrShape sa = ir_type(t->g, a)->shape, sb = ir_type(t->g, b)->shape;
  sa.dim[sa.rank++] = 1;
  for (int k = sb.rank; k > sb.rank - 1; k--) sb.dim[k] = sb.dim[k - 1];
  sb.dim[sb.rank - 1] = 1, sb.rank++;
  return irg_tensor(t, ir_binary(t->g, OP_MUL, ir_reshape(t->g, a, sa), ir_reshape(t->g, b, sb)));
}

static Val *l_conv1d(Tr *t, Args *A) {
  return irg_tensor(t, ir_conv1d(t->g, ten(t, A, 0), ten(t, A, 1), (int)int_or(A, 2, 1), (int)int_or(A, 3, 0)));
}

static Val *l_conv2d(Tr *t, Args *A) {
  int s = (int)int_or(A, 2, 1), p = (int)int_or(A, 3, 0);
  if (int_or(A, 4, 1) != 1) return irg_error(t, A->call->span, "dilated convolution is not supported by the back end yet");
  return irg_tensor(t, ir_conv2d(t->g, ten(t, A, 0), ten(t, A, 1), s, s, p, p));
}

static Val *l_conv_transpose2d(Tr *t, Args *A) {
  int s = (int)int_or(A, 2, 1), p = (int)int_or(A, 3, 0), op = (int)int_or(A, 4, 0);
  return irg_tensor(t, ir_conv_t2d(t->g, ten(t, A, 0), ten(t, A, 1), s, s, p, p, op, op));
}

static Val *pool(Tr *t, Args *A, IrOp op) {
  int k = (int)int_or(A, 1, 2), s = (int)int_or(A, 2, k), p = (int)int_or(A, 3, 0);
  return irg_tensor(t, ir_pool2d(t->g, op, ten(t, A, 0), k, k, s, s, p, p));
}
static Val *l_max_pool2d(Tr *t, Args *A) { return pool(t, A, OP_MAXPOOL2D); }
static Val *l_avg_pool2d(Tr *t, Args *A) { return pool(t, A, OP_AVGPOOL2D); }

static Val *softmax_like(Tr *t, Args *A, IrOp op) {
  IrVal x = ten(t, A, 0);
  return irg_tensor(t, ir_softmax(t->g, op, x, norm_axis(int_or(A, 1, -1), rank_of(t, x))));
}
static Val *l_softmax(Tr *t, Args *A) { return softmax_like(t, A, OP_SOFTMAX); }
static Val *l_log_softmax(Tr *t, Args *A) { return softmax_like(t, A, OP_LOG_SOFTMAX); }

/* layer_norm(x) = (x - mean) / sqrt(var + eps) over one axis, built from primitives. */
static Val *l_layer_norm(Tr *t, Args *A) {
  IrVal x = ten(t, A, 0);
  int ax = norm_axis(int_or(A, 1, -1), rank_of(t, x));
  IrDType d = dtype_of(t, x);
  IrVal mu = ir_reduce(t->g, OP_MEAN, x, 1, &ax, 1);
  IrVal xc = ir_binary(t->g, OP_SUB, x, mu);
  IrVal var = ir_reduce(t->g, OP_MEAN, ir_binary(t->g, OP_MUL, xc, xc), 1, &ax, 1);
  IrVal r = ir_unary(t->g, OP_RSQRT, ir_binary(t->g, OP_ADD, var, ir_scalar(t->g, d, num_or(A, 2, 1e-5))));
  return irg_tensor(t, ir_binary(t->g, OP_MUL, xc, r));
}

static Val *l_dropout(Tr *t, Args *A) {
  if (!t->training) return A->a[0];
  return irg_tensor(t, ir_dropout(t->g, ten(t, A, 0), num_or(A, 1, 0.5)));
}

static Val *loss(Tr *t, Args *A, IrOp op) {
  return irg_tensor(t, ir_loss(t->g, op, ten(t, A, 0), ten(t, A, 1), 0));
}

/* Class losses over [..., C] scores and [...] targets: flattened to [N, C] and [N]. */
static Val *class_loss(Tr *t, Args *A, IrOp op) {
  IrVal x = ten(t, A, 0), y = ten(t, A, 1);
  const IrShape xsh = ir_type(t->g, x)->shape, *xs = &xsh;
  if (xs->rank > 2) {
    int64_t c = xs->dim[xs->rank - 1], n = ir_numel(xs) / (c ? c : 1);
    int64_t d2[2] = {n, c};
    x = ir_reshape(t->g, x, ir_shape(2, d2));
    y = ir_reshape(t->g, y, ir_shape(1, &n));
  }
  return irg_tensor(t, ir_loss(t->g, op, x, y, 0));
}
static Val *l_cross_entropy(Tr *t, Args *A) { return class_loss(t, A, OP_CROSS_ENTROPY); }
static Val *l_nll(Tr *t, Args *A) { return class_loss(t, A, OP_NLL); }
static Val *l_bce_with_logits(Tr *t, Args *A) { return loss(t, A, OP_BCE_LOGITS); }
static Val *l_mse(Tr *t, Args *A) { return loss(t, A, OP_MSE); }
/* KL(softmax(p) || softmax(q)) from logits: the IR's kl takes log-probabilities. */
static Val *l_kl_categorical(Tr *t, Args *A) {
  IrVal p = ten(t, A, 0), q = ten(t, A, 1);
  int ax = rank_of(t, p) - 1;
  return irg_tensor(t, ir_loss(t->g, OP_KL, ir_softmax(t->g, OP_LOG_SOFTMAX, p, ax),
                               ir_softmax(t->g, OP_LOG_SOFTMAX, q, ax), 0));
}

static Val *fill(Tr *t, Args *A, double v, int dtype_slot) {
  IrShape s;
  if (dims_of(t, A, &s)) return NULL;
  Val *d = A->a[dtype_slot];
  return irg_tensor(t, ir_fill(t->g, d && d->k == VK_DTYPE ? d->dt : IR_F32, s, v));
}
static Val *l_zeros(Tr *t, Args *A) { return fill(t, A, 0, 1); }
static Val *l_ones(Tr *t, Args *A) { return fill(t, A, 1, 1); }
static Val *l_full(Tr *t, Args *A) { return fill(t, A, num_or(A, 1, 0), 2); }

static Val *l_uniform(Tr *t, Args *A) {
  IrShape s;
  if (dims_of(t, A, &s)) return NULL;
  return irg_tensor(t, ir_uniform(t->g, IR_F32, s, num_or(A, 1, 0), num_or(A, 2, 1)));
}

static Val *l_normal(Tr *t, Args *A) {
  IrShape s;
  if (dims_of(t, A, &s)) return NULL;
  return irg_tensor(t, ir_normal(t->g, IR_F32, s, num_or(A, 1, 0), num_or(A, 2, 1)));
}

static Val *l_bernoulli(Tr *t, Args *A) {
  IrVal p = ten(t, A, 0);
  if (A->nrest) {
    IrShape s;
    if (dims_of(t, A, &s)) return NULL;
    p = ir_broadcast_to(t->g, p, s);
  }
  return irg_tensor(t, ir_bernoulli(t->g, p));
}

static Val *l_categorical(Tr *t, Args *A) { return irg_tensor(t, ir_categorical(t->g, ten(t, A, 0))); }

/* ------------------------------------------------------------------ composites
 * Built-ins without an op of their own, written with the primitives (so their gradients
 * come from the primitives' rules). */

static IrVal sc(Tr *t, IrVal like, double v) { return ir_scalar(t->g, dtype_of(t, like), v); }

static IrVal reduce_all(Tr *t, IrOp op, IrVal x) {
  int axes[IR_MAX_RANK], r = rank_of(t, x);
  for (int i = 0; i < r; i++) axes[i] = i;
  return ir_reduce(t->g, op, x, r, axes, 0);
}

static Val *l_ceil(Tr *t, Args *A) {   /* -floor(-x) */
  IrVal x = ten(t, A, 0);
  return irg_tensor(t, ir_unary(t->g, OP_NEG, ir_unary(t->g, OP_FLOOR, ir_unary(t->g, OP_NEG, x))));
}

static Val *l_round(Tr *t, Args *A) {  /* floor(x + 0.5): halves round up */
  IrVal x = ten(t, A, 0);
  return irg_tensor(t, ir_unary(t->g, OP_FLOOR, ir_binary(t->g, OP_ADD, x, sc(t, x, 0.5))));
}

static Val *l_expm1(Tr *t, Args *A) {
  IrVal x = ten(t, A, 0);
  return irg_tensor(t, ir_binary(t->g, OP_SUB, ir_unary(t->g, OP_EXP, x), sc(t, x, 1)));
}

static Val *l_elu(Tr *t, Args *A) {    /* x > 0 ? x : alpha * (exp(x) - 1) */
  IrVal x = ten(t, A, 0);
  IrVal neg = ir_binary(t->g, OP_MUL, sc(t, x, num_or(A, 1, 1.0)),
                        ir_binary(t->g, OP_SUB, ir_unary(t->g, OP_EXP, ir_binary(t->g, OP_MINIMUM, x, sc(t, x, 0))), sc(t, x, 1)));
  return irg_tensor(t, ir_where(t->g, ir_binary(t->g, OP_GT, x, sc(t, x, 0)), x, neg));
}

static Val *l_gelu(Tr *t, Args *A) {   /* the tanh approximation (Hendrycks & Gimpel 2016) */
  IrVal x = ten(t, A, 0);
  IrVal x3 = ir_binary(t->g, OP_MUL, ir_binary(t->g, OP_MUL, x, x), x);
  IrVal in = ir_binary(t->g, OP_MUL, sc(t, x, 0.7978845608028654),
                       ir_binary(t->g, OP_ADD, x, ir_binary(t->g, OP_MUL, sc(t, x, 0.044715), x3)));
  IrVal half = ir_binary(t->g, OP_MUL, sc(t, x, 0.5), x);
  return irg_tensor(t, ir_binary(t->g, OP_MUL, half, ir_binary(t->g, OP_ADD, sc(t, x, 1), ir_unary(t->g, OP_TANH, in))));
}

static Val *l_isnan(Tr *t, Args *A) {
  IrVal x = ten(t, A, 0);
  return irg_tensor(t, ir_binary(t->g, OP_NE, x, x));
}

/* variance over axes (population, as numpy's default) */
static IrVal variance(Tr *t, Args *A, IrVal x) {
  int axes[IR_MAX_RANK];
  int n = axes_of(t, A, 1, rank_of(t, x), axes);
  IrVal mu = ir_reduce(t->g, OP_MEAN, x, n, axes, 1);
  IrVal d = ir_binary(t->g, OP_SUB, x, mu);
  return ir_reduce(t->g, OP_MEAN, ir_binary(t->g, OP_MUL, d, d), n, axes, (int)int_or(A, 2, 0));
}
static Val *l_variance(Tr *t, Args *A) { return irg_tensor(t, variance(t, A, ten(t, A, 0))); }
static Val *l_std(Tr *t, Args *A) { return irg_tensor(t, ir_unary(t->g, OP_SQRT, variance(t, A, ten(t, A, 0)))); }

static Val *l_norm(Tr *t, Args *A) {
  IrVal x = ten(t, A, 0);
  int axes[IR_MAX_RANK];
  int n = axes_of(t, A, 1, rank_of(t, x), axes);
  return irg_tensor(t, ir_unary(t->g, OP_SQRT, ir_reduce(t->g, OP_SUM, ir_binary(t->g, OP_MUL, x, x), n, axes, (int)int_or(A, 2, 0))));
}

static Val *l_argmin(Tr *t, Args *A) {
  IrVal x = ir_unary(t->g, OP_NEG, ten(t, A, 0));
  int r = rank_of(t, x);
  int axis = A->a[1] ? norm_axis(int_or(A, 1, -1), r) : r - 1;
  return irg_tensor(t, ir_cast(t->g, ir_argmax(t->g, x, axis, (int)int_or(A, 2, 0)), IR_I32));
}

static Val *l_count_nonzero(Tr *t, Args *A) {
  IrVal x = ten(t, A, 0);
  IrVal nz = ir_cast(t->g, ir_binary(t->g, OP_NE, x, sc(t, x, 0)), IR_I32);
  int axes[IR_MAX_RANK];
  int n = axes_of(t, A, 1, rank_of(t, x), axes);
  return irg_tensor(t, ir_reduce(t->g, OP_SUM, nz, n, axes, (int)int_or(A, 2, 0)));
}

static Val *l_slice(Tr *t, Args *A) {
  IrVal x = ten(t, A, 0);
  const IrShape sh = ir_type(t->g, x)->shape, *s = &sh;
  int ax = norm_axis(int_or(A, 1, 0), s->rank);
  int64_t st[IR_MAX_RANK], en[IR_MAX_RANK];
  for (int i = 0; i < s->rank; i++) st[i] = 0, en[i] = s->dim[i];
  int64_t lo = int_or(A, 2, 0), hi = int_or(A, 3, s->dim[ax]);
  st[ax] = lo < 0 ? lo + s->dim[ax] : lo;
  en[ax] = hi < 0 ? hi + s->dim[ax] : hi;
  return irg_tensor(t, ir_slice(t->g, x, st, en));
}

/* pad(x, widths): widths is ((before, after), ...) for the trailing axes, or one int for
 * every axis */
static Val *l_pad(Tr *t, Args *A) {
  IrVal x = ten(t, A, 0);
  int r = rank_of(t, x);
  int64_t be[IR_MAX_RANK] = {0}, af[IR_MAX_RANK] = {0};
  Val *w = A->a[1];
  if (w && w->k == VK_INT) {
    for (int i = 0; i < r; i++) be[i] = af[i] = w->i;
  } else if (w && w->k == VK_TUPLE && w->n <= r) {
    for (int i = 0; i < w->n; i++) {
      Val *p = w->el[i];
      int ax = r - w->n + i;
      if (p->k == VK_TUPLE && p->n == 2 && p->el[0]->k == VK_INT && p->el[1]->k == VK_INT)
        be[ax] = p->el[0]->i, af[ax] = p->el[1]->i;
      else if (p->k == VK_INT)
        be[ax] = af[ax] = p->i;
      else
        return irg_error(t, A->call->span, "pad widths must be integers or (before, after) pairs");
    }
  } else {
    return irg_error(t, A->call->span, "pad widths must be an integer or a tuple");
  }
  return irg_tensor(t, ir_pad(t->g, x, be, af, num_or(A, 2, 0)));
}

static Val *l_smooth_l1(Tr *t, Args *A) {  /* mean of 0.5 d^2 / beta if |d| < beta else |d| - beta/2 */
  IrVal a = ten(t, A, 0), b = ten(t, A, 1);
  double beta = num_or(A, 2, 1.0);
  IrVal d = ir_unary(t->g, OP_ABS, ir_binary(t->g, OP_SUB, a, b));
  IrVal q = ir_binary(t->g, OP_MUL, sc(t, d, 0.5 / beta), ir_binary(t->g, OP_MUL, d, d));
  IrVal l = ir_binary(t->g, OP_SUB, d, sc(t, d, beta / 2));
  IrVal e = ir_where(t->g, ir_binary(t->g, OP_LT, d, sc(t, d, beta)), q, l);
  return irg_tensor(t, reduce_all(t, OP_MEAN, e));
}

/* KL(N(mu, exp(logvar)) || N(0, 1)) summed over the last axis, averaged over the rest */
static Val *l_gaussian_kl(Tr *t, Args *A) {
  IrVal mu = ten(t, A, 0), lv = ten(t, A, 1);
  IrVal e = ir_binary(t->g, OP_SUB, ir_binary(t->g, OP_ADD, ir_unary(t->g, OP_EXP, lv), ir_binary(t->g, OP_MUL, mu, mu)),
                      ir_binary(t->g, OP_ADD, lv, sc(t, lv, 1)));
  int last = rank_of(t, e) - 1;
  IrVal s = ir_binary(t->g, OP_MUL, sc(t, e, 0.5), ir_reduce(t->g, OP_SUM, e, 1, &last, 0));
  return irg_tensor(t, reduce_all(t, OP_MEAN, s));
}

static Val *l_arange(Tr *t, Args *A) {
  int64_t n = int_or(A, 0, 0);
  IrDType dt = A->a[1] && A->a[1]->k == VK_DTYPE ? A->a[1]->dt : IR_I32;
  double *v = malloc(sizeof(double) * (n > 0 ? n : 1));
  if (!v) return irg_error(t, A->call->span, "out of memory");
  for (int64_t i = 0; i < n; i++) v[i] = (double)i;
  IrVal c = ir_const(t->g, dt, ir_shape(1, &n), v);
  free(v);
  return irg_tensor(t, c);
}

static Val *l_eye(Tr *t, Args *A) {
  int64_t n = int_or(A, 0, 0), d[2] = {n, n};
  IrDType dt = A->a[1] && A->a[1]->k == VK_DTYPE ? A->a[1]->dt : IR_F32;
  double *v = calloc(n * n > 0 ? n * n : 1, sizeof(double));
  if (!v) return irg_error(t, A->call->span, "out of memory");
  for (int64_t i = 0; i < n; i++) v[i * n + i] = 1;
  IrVal c = ir_const(t->g, dt, ir_shape(2, d), v);
  free(v);
  return irg_tensor(t, c);
}

/* ------------------------------------------------------------------ the table */

static const struct {
  const char *name;
  Lower fn;
} rows[] = {
  {"relu", l_relu}, {"leaky_relu", l_leaky_relu}, {"abs", l_abs}, {"sign", l_sign},
  {"floor", l_floor}, {"square", l_square}, {"sigmoid", l_sigmoid}, {"tanh", l_tanh},
  {"exp", l_exp}, {"log", l_log}, {"log1p", l_log1p}, {"sqrt", l_sqrt}, {"rsqrt", l_rsqrt},
  {"softplus", l_softplus}, {"log_sigmoid", l_log_sigmoid}, {"clip", l_clip}, {"cast", l_cast},
  {"stop_gradient", l_stop_gradient}, {"straight_through", l_straight_through},
  {"minimum", l_minimum}, {"maximum", l_maximum}, {"pow", l_pow}, {"mod", l_mod},
  {"where", l_where}, {"sum", l_sum}, {"mean", l_mean}, {"max", l_max}, {"min", l_min},
  {"prod", l_prod}, {"logsumexp", l_logsumexp}, {"argmax", l_argmax},
  {"reshape", l_reshape}, {"flatten", l_flatten}, {"transpose", l_transpose},
  {"concat", l_concat}, {"stack", l_stack}, {"split", l_split}, {"expand", l_expand},
  {"squeeze", l_squeeze}, {"broadcast_to", l_broadcast_to}, {"one_hot", l_one_hot},
  {"gather", l_gather}, {"take", l_take}, {"scatter_add", l_scatter_add},
  {"matmul", l_matmul}, {"outer", l_outer}, {"conv1d", l_conv1d}, {"conv2d", l_conv2d},
  {"conv_transpose2d", l_conv_transpose2d}, {"max_pool2d", l_max_pool2d},
  {"avg_pool2d", l_avg_pool2d}, {"softmax", l_softmax}, {"log_softmax", l_log_softmax},
  {"layer_norm", l_layer_norm}, {"dropout", l_dropout}, {"cross_entropy", l_cross_entropy},
  {"nll", l_nll}, {"bce_with_logits", l_bce_with_logits}, {"mse", l_mse},
  {"kl_categorical", l_kl_categorical}, {"zeros", l_zeros}, {"ones", l_ones},
  {"full", l_full}, {"uniform", l_uniform}, {"normal", l_normal},
  {"bernoulli", l_bernoulli}, {"categorical", l_categorical},
  {"ceil", l_ceil}, {"round", l_round}, {"expm1", l_expm1}, {"elu", l_elu}, {"gelu", l_gelu},
  {"isnan", l_isnan}, {"variance", l_variance}, {"std", l_std}, {"norm", l_norm},
  {"argmin", l_argmin}, {"count_nonzero", l_count_nonzero}, {"slice", l_slice}, {"pad", l_pad},
  {"smooth_l1", l_smooth_l1}, {"gaussian_kl", l_gaussian_kl}, {"arange", l_arange},
  {"eye", l_eye},
};

static Lower find_row(const char *name) {
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    if (!strcmp(rows[i].name, name)) return rows[i].fn;
  return NULL;
}

int irg_has_builtin(const char *name) { return bi_find(name) != NULL; }

int irg_lowers_builtin(const char *name) { return find_row(name) != NULL; }

Val *irg_builtin(Tr *t, const char *name, Val **pos, int npos, Node **kw, Val **kwv, int nkw,
                 Node *call) {
  Args A = {.op = bi_find(name), .call = call};
  Lower fn = find_row(name);
  if (!A.op || !fn) return irg_error(t, call->span, "'%s' is not supported by the back end yet", name);
  if (bind(t, &A, pos, npos, kw, kwv, nkw)) return NULL;
  t->at = call->span;
  return fn(t, &A);
}
