/* builtins.c — the built-in op table (builtins.def) and its shape/dtype rules.
 *
 * A call is checked in two steps: bi_bind matches positional and keyword arguments to
 * the row's signature (errors name the op and print its signature), then the row's rule
 * computes the result type from the argument types and compile-time values. Rules are
 * shared between ops of one family (every unary activation uses r_same). Shapes follow
 * numpy / PyTorch conventions (NCHW for images); docs/stdlib.md lists them.
 */
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#include "check.h"

#define RULE(name) static Type *name(Chk *C, BiCall *bc)
#define X(n, sig, rule) RULE(rule);
#include "builtins.def"
#undef X

static Builtin table[] = {
#define X(n, sig, rule) {#n, sig, rule, {{0}}, 0, -1},
#include "builtins.def"
#undef X
};

#define NTABLE ((int)(sizeof table / sizeof table[0]))

/* Splits "x, axis=None, d..." into params (once, on first use). */
static void parse_sig(Builtin *b) {
  static char store[NTABLE][128];
  int idx = (int)(b - table);
  snprintf(store[idx], sizeof store[idx], "%s", b->sig);
  char *p = store[idx];
  b->nparams = 0;
  b->variadic = -1;
  while (*p && b->nparams < 8) {
    while (*p == ' ' || *p == ',') p++;
    if (!*p) break;
    char *start = p;
    while (*p && *p != ',') p++;
    if (*p) *p++ = 0;
    BiParam *bp = &b->params[b->nparams];
    char *eq = strchr(start, '=');
    if (eq) {
      *eq = 0;
      bp->deflt = eq + 1;
    }
    char *dots = strstr(start, "...");
    if (dots) {
      *dots = 0;
      b->variadic = b->nparams;
      bp->deflt = "...";
    }
    bp->name = start;
    b->nparams++;
  }
}

static void parse_all(void) {
  for (int i = 0; i < NTABLE; i++) parse_sig(&table[i]);
}

/* Thread-safe: compilations may run in parallel threads of an embedding program. */
static void init_table(void) {
  static once_flag once = ONCE_FLAG_INIT;
  call_once(&once, parse_all);
}

const Builtin *bi_find(const char *name) {
  init_table();
  for (int i = 0; i < NTABLE; i++)
    if (strcmp(table[i].name, name) == 0) return &table[i];
  return NULL;
}

int bi_count(void) {
  return NTABLE;
}

const Builtin *bi_at(int i) {
  init_table();
  return i >= 0 && i < NTABLE ? &table[i] : NULL;
}

/* ---------------------------------------------------------------- binding */

static int param_index(const Builtin *op, const char *name) {
  for (int i = 0; i < op->nparams; i++)
    if (strcmp(op->params[i].name, name) == 0) return i;
  return -1;
}

static const char *closest_param(const Builtin *op, const char *name) {
  const char *best = NULL;
  int bd = 3;
  for (int i = 0; i < op->nparams; i++) {
    int d = chk_edit_distance(op->params[i].name, name);
    if (d < bd) bd = d, best = op->params[i].name;
  }
  return best;
}

/* The type of a default's spelling: None -> NULL (absent). */
static Type *default_type(Lang *L, const char *s) {
  if (!s || !strcmp(s, "None") || !strcmp(s, "...")) return NULL;
  if (!strcmp(s, "true") || !strcmp(s, "false")) return type_bool(L, 1, s[0] == 't');
  if (!strcmp(s, "f32")) {
    Type *t = type_new(L, TY_DTYPE);
    t->dtype = DT_F32;
    return t;
  }
  if (!strcmp(s, "i32")) {
    Type *t = type_new(L, TY_DTYPE);
    t->dtype = DT_I32;
    return t;
  }
  if (strpbrk(s, ".e")) return type_float(L, 1, strtod(s, NULL));
  return type_int(L, dim_const(L, strtoll(s, NULL, 10)));
}

static int is_kw(const Node *n) {
  return n && n->kind == N_KWARG;
}

/* Trailing required params after the variadic one take the last positionals. */
static int required_after_variadic(const Builtin *op, int *given_kw) {
  int k = 0;
  for (int i = op->variadic + 1; i < op->nparams; i++)
    if (!op->params[i].deflt && !given_kw[i]) k++;
  return k;
}

static int bind_keywords(Chk *C, BiCall *bc, int *given) {
  const Builtin *op = bc->op;
  Node *call = bc->call;
  int ok = 1;
  for (int i = 1; i < call->nkids; i++) {
    Node *a = call->kids[i];
    if (!is_kw(a)) continue;
    int p = param_index(op, a->name);
    if (p < 0 || p == op->variadic) {
      const char *s = closest_param(op, a->name);
      diag_error(C->L, a->span, "unknown keyword argument '%s' for %s(%s)%s%s%s", a->name, op->name, op->sig,
                 s ? "; did you mean '" : "", s ? s : "", s ? "'?" : "");
      ok = 0;
      continue;
    }
    if (given[p]) {
      diag_error(C->L, a->span, "argument '%s' given twice in call to %s(%s)", a->name, op->name, op->sig);
      ok = 0;
      continue;
    }
    given[p] = 1;
    bc->a[p].expr = a->kids[0];
    bc->a[p].type = a->kids[0] ? a->kids[0]->type : NULL;
  }
  return ok;
}

static int arity_error(Chk *C, BiCall *bc, int got) {
  const Builtin *op = bc->op;
  int maxp = op->nparams;
  diag_error(C->L, bc->call->span, "too many arguments to %s: expected at most %d, got %d; signature: %s(%s)",
             op->name, maxp, got, op->name, op->sig);
  return 0;
}

/* Positional arguments in order; the variadic parameter takes what the trailing
 * required parameters leave. */
static int bind_positional(Chk *C, BiCall *bc, int *given) {
  const Builtin *op = bc->op;
  Node *call = bc->call;
  Node *pos[64];
  int np = 0;
  for (int i = 1; i < call->nkids && np < 64; i++)
    if (!is_kw(call->kids[i])) pos[np++] = call->kids[i];
  int p = 0, k = 0;
  int tail = op->variadic >= 0 ? required_after_variadic(op, given) : 0;
  while (k < np) {
    while (p < op->nparams && given[p] && p != op->variadic) p++;
    if (p >= op->nparams) return arity_error(C, bc, np);
    if (p == op->variadic) {
      while (k < np - tail) {
        if (bc->nrest >= NNC_MAX_RANK + 1) return arity_error(C, bc, np);
        bc->rest[bc->nrest].expr = pos[k];
        bc->rest[bc->nrest++].type = pos[k]->type;
        k++;
      }
      p++;
      continue;
    }
    bc->a[p].expr = pos[k];
    bc->a[p].type = pos[k]->type;
    given[p] = 1;
    p++, k++;
  }
  return 1;
}

static int bind_defaults(Chk *C, BiCall *bc, int *given) {
  const Builtin *op = bc->op;
  for (int p = 0; p < op->nparams; p++) {
    if (given[p] || p == op->variadic) continue;
    if (!op->params[p].deflt) {
      diag_error(C->L, bc->call->span, "missing argument '%s' in call to %s(%s)", op->params[p].name,
                 op->name, op->sig);
      return 0;
    }
    bc->a[p].type = default_type(C->L, op->params[p].deflt);
  }
  return 1;
}

Type *bi_check_call(Chk *C, const Builtin *op, Node *call) {
  BiCall bc;
  memset(&bc, 0, sizeof bc);
  bc.call = call;
  bc.op = op;
  int given[8] = {0}, err = 0;
  for (int i = 1; i < call->nkids; i++) {
    Node *a = call->kids[i];
    Node *v = is_kw(a) ? a->kids[0] : a;
    if (v && type_is_err(chk_expr(C, v))) err = 1;
    if (is_kw(a)) a->type = v ? v->type : type_error();
  }
  if (!bind_keywords(C, &bc, given) || !bind_positional(C, &bc, given) ||
      !bind_defaults(C, &bc, given))
    return type_error();
  if (err) return type_error();
  int before = diag_error_count(C->L);
  Type *t = op->rule(C, &bc);
  if (t && t->kind != TY_ERROR) return t;
  if (diag_error_count(C->L) == before)  /* a rule's silent failure: rank limit or memory */
    diag_error(C->L, call->span, "%s: the result would have more than %d dimensions", op->name, NNC_MAX_RANK);
  return type_error();
}

/* ---------------------------------------------------------------- rule helpers */

static Span arg_span(BiCall *bc, int i) {
  return bc->a[i].expr ? bc->a[i].expr->span : bc->call->span;
}

/* Argument i as a tensor; compile-time scalars (literals) are not tensors here. */
static Type *tensor_arg(Chk *C, BiCall *bc, int i) {
  Type *t = bc->a[i].type;
  if (t && t->kind == TY_TENSOR) return t;
  diag_error(C->L, arg_span(bc, i), "argument '%s' of %s must be a tensor, got %s",
             bc->op->params[i].name, bc->op->name, t ? type_str_of(t) : "nothing");
  return NULL;
}

static int is_float(DType d) {
  return d == DT_F32 || d == DT_F64;
}

static int is_intdt(DType d) {
  return d == DT_I32 || d == DT_I64;
}

static Type *float_arg(Chk *C, BiCall *bc, int i) {
  Type *t = tensor_arg(C, bc, i);
  if (t && !is_float(t->dtype)) {
    diag_error(C->L, arg_span(bc, i), "%s needs a floating-point tensor, got %s; use cast(x, f32)",
               bc->op->name, type_str_of(t));
    return NULL;
  }
  return t;
}

/* A compile-time int from a type (value may be symbolic). */
static Dim *int_of(Chk *C, Span sp, Type *t, const char *what, const char *opname) {
  if (t && t->kind == TY_SCALAR && t->scalar == ST_INT && CT(t)->ival) return CT(t)->ival;
  diag_error(C->L, sp, "%s of %s must be a compile-time int, got %s", what, opname,
             t ? type_str_of(t) : "nothing");
  return NULL;
}

static Dim *int_arg(Chk *C, BiCall *bc, int i) {
  return int_of(C, arg_span(bc, i), bc->a[i].type, bc->op->params[i].name, bc->op->name);
}

/* Normalizes an axis (negative counts from the end) against `rank`; -1 on error. */
static int axis_value(Chk *C, Span sp, Type *at, int rank, const Type *of, const char *opname) {
  Dim *d = int_of(C, sp, at, "axis", opname);
  int64_t v;
  if (!d) return -1;
  if (!dim_is_const(d, &v)) {
    diag_error(C->L, sp, "axis of %s must be a constant, got %s", opname, dim_str(d));
    return -1;
  }
  if (v < -rank || v >= rank) {
    diag_error(C->L, sp, "axis %lld is out of range for %s", (long long)v, type_str_of(of));
    return -1;
  }
  return (int)(v < 0 ? v + rank : v);
}

static int axis_arg(Chk *C, BiCall *bc, int i, int rank, const Type *of) {
  return axis_value(C, arg_span(bc, i), bc->a[i].type, rank, of, bc->op->name);
}

static Type *with_dtype(Chk *C, const Type *t, DType dt) {
  return type_tensor(C->L, dt, t->rank, t->dims);
}

static int dims_from(Chk *C, BiCall *bc, Dim **out, int *rank) {
  BiArg *r = bc->rest;
  int n = bc->nrest;
  Type *only = n == 1 ? r[0].type : NULL;
  if (only && only->kind == TY_TUPLE) {
    if (only->nelems > NNC_MAX_RANK) return 0;
    for (int i = 0; i < only->nelems; i++)
      if (!(out[i] = int_of(C, r[0].expr->span, only->elems[i], "dimension", bc->op->name))) return 0;
    *rank = only->nelems;
    return 1;
  }
  if (n > NNC_MAX_RANK) {
    diag_error(C->L, bc->call->span, "%s: more than %d dimensions", bc->op->name, NNC_MAX_RANK);
    return 0;
  }
  for (int i = 0; i < n; i++)
    if (!(out[i] = int_of(C, r[i].expr->span, r[i].type, "dimension", bc->op->name))) return 0;
  *rank = n;
  return 1;
}

/* ---------------------------------------------------------------- elementwise rules */

RULE(r_same) {
  return tensor_arg(C, bc, 0);
}

RULE(r_same_float) {
  return float_arg(C, bc, 0);
}

RULE(r_isnan) {
  Type *t = float_arg(C, bc, 0);
  return t ? with_dtype(C, t, DT_BOOL) : NULL;
}

RULE(r_clip) {
  Type *t = tensor_arg(C, bc, 0);
  if (!t) return NULL;
  Type *r = chk_elementwise(C, bc->call, bc->a[0].expr, t, bc->a[1].expr, bc->a[1].type, "clip");
  return chk_elementwise(C, bc->call, bc->a[0].expr, r, bc->a[2].expr, bc->a[2].type, "clip");
}

RULE(r_cast) {
  Type *t = tensor_arg(C, bc, 0), *d = bc->a[1].type;
  if (!t) return NULL;
  if (!d || d->kind != TY_DTYPE) {
    diag_error(C->L, arg_span(bc, 1), "cast needs a dtype (f32, i32, ...), got %s", type_str_of(d));
    return NULL;
  }
  return with_dtype(C, t, d->dtype);
}

RULE(r_binary) {
  return chk_elementwise(C, bc->call, bc->a[0].expr, bc->a[0].type, bc->a[1].expr, bc->a[1].type,
                         bc->op->name);
}

RULE(r_where) {
  Type *c = bc->a[0].type;
  if (!c || (c->kind == TY_TENSOR && c->dtype != DT_BOOL) || (c->kind != TY_TENSOR &&
      !(c->kind == TY_SCALAR && c->scalar == ST_BOOL))) {
    diag_error(C->L, arg_span(bc, 0), "where needs a bool condition, got %s", type_str_of(c));
    return NULL;
  }
  Type *v = chk_elementwise(C, bc->call, bc->a[1].expr, bc->a[1].type, bc->a[2].expr, bc->a[2].type,
                            "where");
  if (type_is_err(v) || c->kind != TY_TENSOR || v->kind != TY_TENSOR) return v;
  Type *out;
  if (!type_broadcast(C->L, v, c, &out)) {
    diag_error(C->L, bc->call->span, "where: cannot broadcast condition %s with %s", type_str_of(c),
               type_str_of(v));
    return NULL;
  }
  return with_dtype(C, out, v->dtype);
}

RULE(r_straight_through) {
  Type *f = tensor_arg(C, bc, 0), *b = tensor_arg(C, bc, 1);
  if (!f || !b) return NULL;
  if (!type_equal(f, b)) {
    diag_error(C->L, bc->call->span, "straight_through needs the same type twice: %s and %s",
               type_str_of(f), type_str_of(b));
    return NULL;
  }
  return f;
}

/* ---------------------------------------------------------------- reductions */

/* Marks the reduced axes in red[]; axis None = all. */
static int reduce_axes(Chk *C, BiCall *bc, const Type *x, int *red) {
  Type *ax = bc->a[1].type;
  if (!ax) {
    for (int i = 0; i < x->rank; i++) red[i] = 1;
    return 1;
  }
  if (ax->kind == TY_TUPLE) {
    for (int i = 0; i < ax->nelems; i++) {
      int a = axis_value(C, arg_span(bc, 1), ax->elems[i], x->rank, x, bc->op->name);
      if (a < 0) return 0;
      red[a] = 1;
    }
    return 1;
  }
  int a = axis_arg(C, bc, 1, x->rank, x);
  if (a < 0) return 0;
  red[a] = 1;
  return 1;
}

static Type *reduce_to(Chk *C, BiCall *bc, Type *x, DType dt) {
  int red[NNC_MAX_RANK] = {0};
  if (!reduce_axes(C, bc, x, red)) return NULL;
  Type *kd = bc->a[2].type;
  int keep = kd && kd->kind == TY_SCALAR && CT(kd)->known && CT(kd)->fval != 0;
  Dim *d[NNC_MAX_RANK];
  int r = 0;
  for (int i = 0; i < x->rank; i++) {
    if (!red[i]) d[r++] = x->dims[i];
    else if (keep) d[r++] = dim_const(C->L, 1);
  }
  return type_tensor(C->L, dt, r, d);
}

RULE(r_reduce) {
  Type *x = tensor_arg(C, bc, 0);
  return x ? reduce_to(C, bc, x, x->dtype == DT_BOOL ? DT_I32 : x->dtype) : NULL;
}

/* mean/var/std/...: ints and bools average to f32 (accuracy = mean(pred == y)). */
RULE(r_reduce_float) {
  Type *x = tensor_arg(C, bc, 0);
  return x ? reduce_to(C, bc, x, is_float(x->dtype) ? x->dtype : DT_F32) : NULL;
}

RULE(r_reduce_index) {
  Type *x = tensor_arg(C, bc, 0);
  return x ? reduce_to(C, bc, x, DT_I32) : NULL;
}

/* ---------------------------------------------------------------- shape ops */

static Dim *dims_product(Chk *C, Dim *const *d, int n) {
  Dim *p = dim_const(C->L, 1);
  for (int i = 0; i < n; i++) p = dim_mul(C->L, p, d[i]);
  return p;
}

static int is_minus_one(const Dim *d) {
  int64_t v;
  return dim_is_const(d, &v) && v == -1;
}

RULE(r_reshape) {
  Type *x = tensor_arg(C, bc, 0);
  Dim *d[NNC_MAX_RANK];
  int r, hole = -1;
  if (!x || !dims_from(C, bc, d, &r)) return NULL;
  for (int i = 0; i < r; i++)
    if (is_minus_one(d[i])) {
      if (hole >= 0) {
        diag_error(C->L, bc->call->span, "reshape: only one dimension may be -1");
        return NULL;
      }
      hole = i;
    }
  Dim *total = dims_product(C, x->dims, x->rank);
  if (hole >= 0) {
    Dim *known = dim_const(C->L, 1);
    for (int i = 0; i < r; i++)
      if (i != hole) known = dim_mul(C->L, known, d[i]);
    d[hole] = dim_floordiv(C->L, total, known);
  }
  Dim *got = dims_product(C, d, r);
  /* with non-exact quotients (D/k) equality is undecidable here: trust the user */
  if (!dim_equal(total, got) && !dim_has_opaque(total) && !dim_has_opaque(got)) {
    Type *want = type_tensor(C->L, x->dtype, r, d);
    diag_error(C->L, bc->call->span, "reshape: %s has %s elements, %s has %s", type_str_of(x),
               dim_str(total), type_str_of(want), dim_str(dims_product(C, d, r)));
    return NULL;
  }
  return type_tensor(C->L, x->dtype, r, d);
}

RULE(r_flatten) {
  Type *x = tensor_arg(C, bc, 0);
  if (!x) return NULL;
  int s = axis_arg(C, bc, 1, x->rank, x);
  if (s < 0) return NULL;
  Dim *d[NNC_MAX_RANK];
  for (int i = 0; i < s; i++) d[i] = x->dims[i];
  d[s] = dims_product(C, x->dims + s, x->rank - s);
  return type_tensor(C->L, x->dtype, s + 1, d);
}

RULE(r_transpose) {
  Type *x = tensor_arg(C, bc, 0);
  if (!x) return NULL;
  Dim *d[NNC_MAX_RANK];
  if (bc->nrest == 0) {
    for (int i = 0; i < x->rank; i++) d[i] = x->dims[x->rank - 1 - i];
    return type_tensor(C->L, x->dtype, x->rank, d);
  }
  if (bc->nrest != x->rank) {
    diag_error(C->L, bc->call->span, "transpose: %d axes given for %s", bc->nrest, type_str_of(x));
    return NULL;
  }
  int seen[NNC_MAX_RANK] = {0};
  for (int i = 0; i < x->rank; i++) {
    int a = axis_value(C, bc->rest[i].expr->span, bc->rest[i].type, x->rank, x, "transpose");
    if (a < 0) return NULL;
    if (seen[a]++) {
      diag_error(C->L, bc->rest[i].expr->span, "transpose: axis %d repeated", a);
      return NULL;
    }
    d[i] = x->dims[a];
  }
  return type_tensor(C->L, x->dtype, x->rank, d);
}

/* The tensors of a tuple argument (concat/stack). */
static Type *tuple_arg(Chk *C, BiCall *bc, int i) {
  Type *t = bc->a[i].type;
  if (t && t->kind == TY_TUPLE && t->nelems > 0) {
    for (int k = 0; k < t->nelems; k++)
      if (t->elems[k]->kind != TY_TENSOR) break;
      else if (k == t->nelems - 1) return t;
  }
  diag_error(C->L, arg_span(bc, i), "%s needs a tuple of tensors, got %s", bc->op->name, type_str_of(t));
  return NULL;
}

static Span elem_span(BiCall *bc, int i, int k) {
  Node *e = bc->a[i].expr;
  if (e && e->kind == N_TUPLE && k < e->nkids) return e->kids[k]->span;
  return arg_span(bc, i);
}

/* Element k must match element 0 in dtype, rank and every dim except `skip`. */
static int same_but(Chk *C, BiCall *bc, Type *xs, int k, int skip) {
  Type *a = xs->elems[0], *b = xs->elems[k];
  int ok = a->dtype == b->dtype && a->rank == b->rank;
  for (int i = 0; ok && i < a->rank; i++)
    if (i != skip && !dim_equal(a->dims[i], b->dims[i])) ok = 0;
  if (!ok) {
    Diag *d = diag_error(C->L, elem_span(bc, 0, k), "%s: shapes differ: %s and %s%s", bc->op->name,
                         type_str_of(a), type_str_of(b), skip >= 0 ? " (outside the concatenation axis)" : "");
    diag_note(C->L, d, elem_span(bc, 0, 0), "first operand is %s", type_str_of(a));
  }
  return ok;
}

RULE(r_concat) {
  Type *xs = tuple_arg(C, bc, 0);
  if (!xs) return NULL;
  Type *a = xs->elems[0];
  int ax = axis_arg(C, bc, 1, a->rank, a);
  if (ax < 0) return NULL;
  Dim *d[NNC_MAX_RANK];
  for (int i = 0; i < a->rank; i++) d[i] = a->dims[i];
  for (int k = 1; k < xs->nelems; k++) {
    if (!same_but(C, bc, xs, k, ax)) return NULL;
    d[ax] = dim_add(C->L, d[ax], xs->elems[k]->dims[ax]);
  }
  return type_tensor(C->L, a->dtype, a->rank, d);
}

RULE(r_stack) {
  Type *xs = tuple_arg(C, bc, 0);
  if (!xs) return NULL;
  Type *a = xs->elems[0];
  if (a->rank >= NNC_MAX_RANK) return NULL;
  int ax = axis_arg(C, bc, 1, a->rank + 1, a);
  if (ax < 0) return NULL;
  for (int k = 1; k < xs->nelems; k++)
    if (!same_but(C, bc, xs, k, -1)) return NULL;
  Dim *d[NNC_MAX_RANK];
  for (int i = 0, j = 0; i <= a->rank; i++)
    d[i] = i == ax ? dim_const(C->L, xs->nelems) : a->dims[j++];
  return type_tensor(C->L, a->dtype, a->rank + 1, d);
}

RULE(r_split) {
  Type *x = tensor_arg(C, bc, 0);
  Dim *n = x ? int_arg(C, bc, 1) : NULL;
  if (!n) return NULL;
  int64_t k;
  if (!dim_is_const(n, &k) || k < 1 || k > 64) {
    diag_error(C->L, arg_span(bc, 1), "split: the number of parts must be a constant in 1..64, got %s",
               dim_str(n));
    return NULL;
  }
  int ax = axis_arg(C, bc, 2, x->rank, x);
  if (ax < 0) return NULL;
  int64_t len;
  if (dim_is_const(x->dims[ax], &len) && len % k != 0) {
    diag_error(C->L, bc->call->span, "split: axis %d of %s does not divide into %lld parts", ax,
               type_str_of(x), (long long)k);
    return NULL;
  }
  Dim *d[NNC_MAX_RANK];
  for (int i = 0; i < x->rank; i++) d[i] = x->dims[i];
  d[ax] = dim_floordiv(C->L, x->dims[ax], n);
  Type *part = type_tensor(C->L, x->dtype, x->rank, d);
  Type *parts[64];
  for (int i = 0; i < k; i++) parts[i] = part;
  return type_tuple(C->L, (int)k, parts);
}

RULE(r_slice) {
  Type *x = tensor_arg(C, bc, 0);
  if (!x) return NULL;
  int ax = axis_arg(C, bc, 1, x->rank, x);
  Dim *lo = ax >= 0 ? int_arg(C, bc, 2) : NULL, *hi = lo ? int_arg(C, bc, 3) : NULL;
  if (!hi) return NULL;
  Dim *d[NNC_MAX_RANK];
  for (int i = 0; i < x->rank; i++) d[i] = x->dims[i];
  d[ax] = dim_sub(C->L, hi, lo);
  return type_tensor(C->L, x->dtype, x->rank, d);
}

RULE(r_expand) {
  Type *x = tensor_arg(C, bc, 0);
  if (!x || x->rank >= NNC_MAX_RANK) return NULL;
  int ax = axis_arg(C, bc, 1, x->rank + 1, x);
  if (ax < 0) return NULL;
  Dim *d[NNC_MAX_RANK];
  for (int i = 0, j = 0; i <= x->rank; i++) d[i] = i == ax ? dim_const(C->L, 1) : x->dims[j++];
  return type_tensor(C->L, x->dtype, x->rank + 1, d);
}

RULE(r_squeeze) {
  Type *x = tensor_arg(C, bc, 0);
  if (!x) return NULL;
  int ax = axis_arg(C, bc, 1, x->rank, x);
  if (ax < 0) return NULL;
  int64_t v;
  if (!dim_is_const(x->dims[ax], &v) || v != 1) {
    diag_error(C->L, bc->call->span, "squeeze: axis %d of %s is not 1", ax, type_str_of(x));
    return NULL;
  }
  Dim *d[NNC_MAX_RANK];
  for (int i = 0, j = 0; i < x->rank; i++)
    if (i != ax) d[j++] = x->dims[i];
  return type_tensor(C->L, x->dtype, x->rank - 1, d);
}

RULE(r_broadcast_to) {
  Type *x = tensor_arg(C, bc, 0), *out;
  Dim *d[NNC_MAX_RANK];
  int r;
  if (!x || !dims_from(C, bc, d, &r)) return NULL;
  Type *want = type_tensor(C->L, x->dtype, r, d);
  if (!type_broadcast(C->L, x, want, &out) || !type_equal(out, want)) {
    diag_error(C->L, bc->call->span, "cannot broadcast %s to %s", type_str_of(x), type_str_of(want));
    return NULL;
  }
  return want;
}

/* widths: ((lo, hi), ...) for the trailing axes, aligned to the end. */
RULE(r_pad) {
  Type *x = tensor_arg(C, bc, 0), *w = bc->a[1].type;
  if (!x) return NULL;
  if (!w || w->kind != TY_TUPLE || w->nelems > x->rank) {
    diag_error(C->L, arg_span(bc, 1), "pad: widths must be a tuple of (lo, hi) pairs, one per trailing axis of %s",
               type_str_of(x));
    return NULL;
  }
  Dim *d[NNC_MAX_RANK];
  for (int i = 0; i < x->rank; i++) d[i] = x->dims[i];
  for (int k = 0; k < w->nelems; k++) {
    Type *p = w->elems[k];
    int ax = x->rank - w->nelems + k;
    if (p->kind != TY_TUPLE || p->nelems != 2) {
      diag_error(C->L, arg_span(bc, 1), "pad: width %d must be a (lo, hi) pair, got %s", k, type_str_of(p));
      return NULL;
    }
    Dim *lo = int_of(C, arg_span(bc, 1), p->elems[0], "pad width", "pad");
    Dim *hi = lo ? int_of(C, arg_span(bc, 1), p->elems[1], "pad width", "pad") : NULL;
    if (!hi) return NULL;
    d[ax] = dim_add(C->L, dim_add(C->L, d[ax], lo), hi);
  }
  return type_tensor(C->L, x->dtype, x->rank, d);
}

static int want_int_tensor(Chk *C, BiCall *bc, int i, Type *t) {
  if (is_intdt(t->dtype)) return 1;
  diag_error(C->L, arg_span(bc, i), "%s: '%s' must be an integer tensor, got %s", bc->op->name,
             bc->op->params[i].name, type_str_of(t));
  return 0;
}

static DType dtype_arg(BiCall *bc, int i, DType dflt) {
  Type *t = bc->a[i].type;
  return t && t->kind == TY_DTYPE ? t->dtype : dflt;
}

RULE(r_one_hot) {
  Type *i = tensor_arg(C, bc, 0);
  Dim *n = i && want_int_tensor(C, bc, 0, i) ? int_arg(C, bc, 1) : NULL;
  if (!n || i->rank >= NNC_MAX_RANK) return NULL;
  Dim *d[NNC_MAX_RANK];
  for (int k = 0; k < i->rank; k++) d[k] = i->dims[k];
  d[i->rank] = n;
  return type_tensor(C->L, dtype_arg(bc, 2, DT_F32), i->rank + 1, d);
}

/* gather(x, idx, axis): idx has x's shape with `axis` removed (one pick per row), or x's
 * rank with any length at `axis` (torch.gather); the result has idx's shape. */
RULE(r_gather) {
  Type *x = tensor_arg(C, bc, 0), *idx = x ? tensor_arg(C, bc, 1) : NULL;
  if (!idx || !want_int_tensor(C, bc, 1, idx)) return NULL;
  int ax = axis_arg(C, bc, 2, x->rank, x);
  if (ax < 0) return NULL;
  int ok = idx->rank == x->rank || idx->rank == x->rank - 1;
  for (int i = 0, j = 0; ok && i < x->rank; i++) {
    if (i == ax) {
      if (idx->rank == x->rank) j++;
      continue;
    }
    if (!dim_equal(x->dims[i], idx->dims[j++])) ok = 0;
  }
  if (!ok) {
    diag_error(C->L, bc->call->span, "gather: index %s does not fit %s along axis %d", type_str_of(idx),
               type_str_of(x), ax);
    return NULL;
  }
  return with_dtype(C, idx, x->dtype);
}

RULE(r_take) {
  Type *t = tensor_arg(C, bc, 0), *idx = t ? tensor_arg(C, bc, 1) : NULL;
  if (!idx || !want_int_tensor(C, bc, 1, idx)) return NULL;
  if (t->rank < 1 || idx->rank + t->rank - 1 > NNC_MAX_RANK) return NULL;
  Dim *d[NNC_MAX_RANK];
  int r = 0;
  for (int i = 0; i < idx->rank; i++) d[r++] = idx->dims[i];
  for (int i = 1; i < t->rank; i++) d[r++] = t->dims[i];
  return type_tensor(C->L, t->dtype, r, d);
}

RULE(r_scatter_add) {
  Type *x = tensor_arg(C, bc, 0), *idx = x ? tensor_arg(C, bc, 1) : NULL;
  Type *src = idx ? tensor_arg(C, bc, 2) : NULL;
  if (!src || !want_int_tensor(C, bc, 1, idx)) return NULL;
  if (axis_arg(C, bc, 3, x->rank, x) < 0) return NULL;
  if (src->dtype != x->dtype) {
    diag_error(C->L, arg_span(bc, 2), "scatter_add: src is %s but x is %s", type_str_of(src), type_str_of(x));
    return NULL;
  }
  return x;
}

RULE(r_topk) {
  Type *x = tensor_arg(C, bc, 0);
  Dim *k = x ? int_arg(C, bc, 1) : NULL;
  if (!k) return NULL;
  int ax = axis_arg(C, bc, 2, x->rank, x);
  if (ax < 0) return NULL;
  Dim *d[NNC_MAX_RANK];
  for (int i = 0; i < x->rank; i++) d[i] = x->dims[i];
  d[ax] = k;
  Type *parts[2] = {type_tensor(C->L, x->dtype, x->rank, d), type_tensor(C->L, DT_I32, x->rank, d)};
  return type_tuple(C->L, 2, parts);
}

RULE(r_same_axis) {
  Type *x = tensor_arg(C, bc, 0);
  return x && axis_arg(C, bc, 1, x->rank, x) >= 0 ? x : NULL;
}

RULE(r_same_axis_float) {
  Type *x = float_arg(C, bc, 0);
  return x && axis_arg(C, bc, 1, x->rank, x) >= 0 ? x : NULL;
}

RULE(r_argsort) {
  Type *x = r_same_axis(C, bc);
  return x ? with_dtype(C, x, DT_I32) : NULL;
}

/* ---------------------------------------------------------------- contraction */

RULE(r_matmul) {
  Type *a = tensor_arg(C, bc, 0), *b = a ? tensor_arg(C, bc, 1) : NULL, *out;
  char why[600];
  if (!b) return NULL;
  if (a->dtype != b->dtype) {
    diag_error(C->L, bc->call->span, "matmul: operands have different dtypes: %s and %s", type_str_of(a),
               type_str_of(b));
    return NULL;
  }
  if (!type_matmul(C->L, a, b, &out, why, sizeof why)) {
    diag_error(C->L, bc->call->span, "%s", why);
    return NULL;
  }
  return out;
}

RULE(r_outer) {
  Type *a = tensor_arg(C, bc, 0), *b = a ? tensor_arg(C, bc, 1) : NULL;
  if (!b || a->rank < 1 || b->rank < 1) return b ? (diag_error(C->L, bc->call->span, "outer needs vectors"), NULL) : NULL;
  Type ea = *a, eb = *b, *batch;
  ea.rank--, eb.rank--;
  if (!type_broadcast(C->L, &ea, &eb, &batch) || batch->rank + 2 > NNC_MAX_RANK) {
    diag_error(C->L, bc->call->span, "outer: batch dimensions do not broadcast: %s and %s", type_str_of(a),
               type_str_of(b));
    return NULL;
  }
  Dim *d[NNC_MAX_RANK];
  for (int i = 0; i < batch->rank; i++) d[i] = batch->dims[i];
  d[batch->rank] = a->dims[a->rank - 1];
  d[batch->rank + 1] = b->dims[b->rank - 1];
  return type_tensor(C->L, a->dtype, batch->rank + 2, d);
}

/* An int or a tuple of `n` ints (stride=(2, 1)); out[k] for each spatial axis. */
static int spatial_ints(Chk *C, BiCall *bc, int i, int n, Dim **out) {
  Type *t = bc->a[i].type;
  const char *what = bc->op->params[i].name;
  if (t && t->kind == TY_TUPLE) {
    if (t->nelems != n) {
      diag_error(C->L, arg_span(bc, i), "%s of %s needs %d values, got %d", what, bc->op->name, n, t->nelems);
      return 0;
    }
    for (int k = 0; k < n; k++)
      if (!(out[k] = int_of(C, arg_span(bc, i), t->elems[k], what, bc->op->name))) return 0;
    return 1;
  }
  Dim *v = int_of(C, arg_span(bc, i), t, what, bc->op->name);
  for (int k = 0; k < n; k++) out[k] = v;
  return v != NULL;
}

/* out = (in + 2p - dil*(k-1) - 1) / s + 1 */
static Dim *conv_len(Chk *C, Dim *in, Dim *k, Dim *s, Dim *p, Dim *dil) {
  Lang *L = C->L;
  Dim *one = dim_const(L, 1);
  Dim *span = dim_add(L, dim_mul(L, dil, dim_sub(L, k, one)), one);
  Dim *num = dim_sub(L, dim_add(L, in, dim_mul(L, dim_const(L, 2), p)), span);
  return dim_add(L, dim_floordiv(L, num, s), one);
}

/* Convolution and pooling outputs must not be empty: a 5x5 window over a 4x4 image. */
static int positive_dims(Chk *C, BiCall *bc, Type *out) {
  for (int i = 2; i < out->rank; i++) {
    int64_t v;
    if (dim_is_const(out->dims[i], &v) && v <= 0) {
      diag_error(C->L, bc->call->span, "%s: the window does not fit: the output would be %s", bc->op->name,
                 type_str_of(out));
      return 0;
    }
  }
  return 1;
}

static Type *conv_nd(Chk *C, BiCall *bc, int nsp) {
  Type *x = float_arg(C, bc, 0), *w = x ? float_arg(C, bc, 1) : NULL;
  if (!w) return NULL;
  if (x->rank != nsp + 2 || w->rank != nsp + 2) {
    diag_error(C->L, bc->call->span, "%s needs x as [N, C, %s] and w as [Cout, Cin, %s], got %s and %s",
               bc->op->name, nsp == 1 ? "L" : "H, W", nsp == 1 ? "k" : "kh, kw", type_str_of(x), type_str_of(w));
    return NULL;
  }
  if (!dim_equal(x->dims[1], w->dims[1])) {
    diag_error(C->L, bc->call->span, "%s: input has %s channels but the filter expects %s (%s, %s)",
               bc->op->name, dim_str(x->dims[1]), dim_str(w->dims[1]), type_str_of(x), type_str_of(w));
    return NULL;
  }
  Dim *s[2], *p[2], *dl[2], *d[NNC_MAX_RANK];
  if (!spatial_ints(C, bc, 2, nsp, s) || !spatial_ints(C, bc, 3, nsp, p) || !spatial_ints(C, bc, 4, nsp, dl))
    return NULL;
  d[0] = x->dims[0];
  d[1] = w->dims[0];
  for (int k = 0; k < nsp; k++) d[2 + k] = conv_len(C, x->dims[2 + k], w->dims[2 + k], s[k], p[k], dl[k]);
  Type *out = type_tensor(C->L, x->dtype, nsp + 2, d);
  return positive_dims(C, bc, out) ? out : NULL;
}

RULE(r_conv1d) {
  return conv_nd(C, bc, 1);
}

RULE(r_conv2d) {
  return conv_nd(C, bc, 2);
}

/* w: [Cin, Cout, kh, kw]; out = (in - 1)*s - 2p + k + output_padding */
RULE(r_conv_transpose2d) {
  Type *x = float_arg(C, bc, 0), *w = x ? float_arg(C, bc, 1) : NULL;
  if (!w) return NULL;
  if (x->rank != 4 || w->rank != 4 || !dim_equal(x->dims[1], w->dims[0])) {
    diag_error(C->L, bc->call->span, "conv_transpose2d needs x [N, Cin, H, W] and w [Cin, Cout, kh, kw], got %s and %s",
               type_str_of(x), type_str_of(w));
    return NULL;
  }
  Dim *s[2], *p[2], *op[2], *d[4];
  if (!spatial_ints(C, bc, 2, 2, s) || !spatial_ints(C, bc, 3, 2, p) || !spatial_ints(C, bc, 4, 2, op))
    return NULL;
  Lang *L = C->L;
  d[0] = x->dims[0];
  d[1] = w->dims[1];
  for (int k = 0; k < 2; k++) {
    Dim *v = dim_mul(L, dim_sub(L, x->dims[2 + k], dim_const(L, 1)), s[k]);
    v = dim_sub(L, v, dim_mul(L, dim_const(L, 2), p[k]));
    d[2 + k] = dim_add(L, dim_add(L, v, w->dims[2 + k]), op[k]);
  }
  return type_tensor(L, x->dtype, 4, d);
}

RULE(r_pool2d) {
  Type *x = float_arg(C, bc, 0);
  if (!x) return NULL;
  if (x->rank != 4) {
    diag_error(C->L, bc->call->span, "%s needs x as [N, C, H, W], got %s", bc->op->name, type_str_of(x));
    return NULL;
  }
  Dim *k[2], *s[2], *p[2], *d[4];
  if (!spatial_ints(C, bc, 1, 2, k)) return NULL;
  if (bc->a[2].type) {
    if (!spatial_ints(C, bc, 2, 2, s)) return NULL;
  } else {
    s[0] = k[0], s[1] = k[1];
  }
  if (!spatial_ints(C, bc, 3, 2, p)) return NULL;
  Dim *one = dim_const(C->L, 1);
  d[0] = x->dims[0];
  d[1] = x->dims[1];
  for (int i = 0; i < 2; i++) d[2 + i] = conv_len(C, x->dims[2 + i], k[i], s[i], p[i], one);
  Type *out = type_tensor(C->L, x->dtype, 4, d);
  return positive_dims(C, bc, out) ? out : NULL;
}

RULE(r_grid_sample) {
  Type *x = float_arg(C, bc, 0), *g = x ? float_arg(C, bc, 1) : NULL;
  if (!g) return NULL;
  int64_t two;
  if (x->rank != 4 || g->rank != 4 || !dim_is_const(g->dims[3], &two) || two != 2 ||
      !dim_equal(x->dims[0], g->dims[0])) {
    diag_error(C->L, bc->call->span, "grid_sample needs x [N, C, H, W] and grid [N, Ho, Wo, 2], got %s and %s",
               type_str_of(x), type_str_of(g));
    return NULL;
  }
  Dim *d[4] = {x->dims[0], x->dims[1], g->dims[1], g->dims[2]};
  return type_tensor(C->L, x->dtype, 4, d);
}

/* ---------------------------------------------------------------- nn, losses */

RULE(r_dropout) {
  Type *x = float_arg(C, bc, 0), *p = bc->a[1].type;
  if (!x) return NULL;
  if (!p || (p->kind != TY_SCALAR && p->kind != TY_TENSOR) ||
      (p->kind == TY_SCALAR && p->scalar != ST_FLOAT && p->scalar != ST_INT)) {
    diag_error(C->L, arg_span(bc, 1), "dropout: p must be a probability, got %s", type_str_of(p));
    return NULL;
  }
  return x;
}

/* logits [.., C] f32 with targets [..] int -> f32[] */
RULE(r_class_loss) {
  Type *lg = float_arg(C, bc, 0), *t = lg ? tensor_arg(C, bc, 1) : NULL;
  if (!t || !want_int_tensor(C, bc, 1, t)) return NULL;
  int ok = lg->rank == t->rank + 1;
  for (int i = 0; ok && i < t->rank; i++)
    if (!dim_equal(lg->dims[i], t->dims[i])) ok = 0;
  if (!ok) {
    diag_error(C->L, bc->call->span, "%s: targets %s do not match %s (expected the shape of %s without its last axis)",
               bc->op->name, type_str_of(t), type_str_of(lg), bc->op->params[0].name);
    return NULL;
  }
  return type_scalar_t(C->L, lg->dtype);
}

RULE(r_pair_loss) {
  Type *a = float_arg(C, bc, 0), *b = a ? float_arg(C, bc, 1) : NULL, *out;
  if (!b) return NULL;
  if (a->dtype != b->dtype || !type_broadcast(C->L, a, b, &out)) {
    diag_error(C->L, bc->call->span, "%s: operands do not match: %s and %s", bc->op->name, type_str_of(a),
               type_str_of(b));
    return NULL;
  }
  return type_scalar_t(C->L, a->dtype);
}

/* ---------------------------------------------------------------- constructors, random */

static Type *num_arg_ok(Chk *C, BiCall *bc, int i) {
  Type *t = bc->a[i].type;
  if (!t || (t->kind == TY_SCALAR && (t->scalar == ST_INT || t->scalar == ST_FLOAT || t->scalar == ST_BOOL)) ||
      (t->kind == TY_TENSOR && t->rank == 0))
    return t;
  diag_error(C->L, arg_span(bc, i), "%s: '%s' must be a number, got %s", bc->op->name, bc->op->params[i].name,
             type_str_of(t));
  return type_error();
}

RULE(r_fill) {
  Dim *d[NNC_MAX_RANK];
  int r;
  if (!dims_from(C, bc, d, &r)) return NULL;
  int dt = bc->op->params[bc->op->nparams - 1].name[0] == 'd' ? bc->op->nparams - 1 : -1;
  if (!strcmp(bc->op->name, "full") && type_is_err(num_arg_ok(C, bc, 1))) return NULL;
  return type_tensor(C->L, dt >= 0 ? dtype_arg(bc, dt, DT_F32) : DT_F32, r, d);
}

RULE(r_arange) {
  Dim *n = int_arg(C, bc, 0);
  return n ? type_tensor(C->L, dtype_arg(bc, 1, DT_I32), 1, &n) : NULL;
}

RULE(r_eye) {
  Dim *n = int_arg(C, bc, 0);
  Dim *d[2] = {n, n};
  return n ? type_tensor(C->L, dtype_arg(bc, 1, DT_F32), 2, d) : NULL;
}

RULE(r_random) {
  Dim *d[NNC_MAX_RANK];
  int r;
  if (!dims_from(C, bc, d, &r)) return NULL;
  if (type_is_err(num_arg_ok(C, bc, 1)) || type_is_err(num_arg_ok(C, bc, 2))) return NULL;
  return type_tensor(C->L, DT_F32, r, d);
}

RULE(r_bernoulli) {
  Type *p = bc->a[0].type;
  if (bc->nrest > 0) {
    Dim *d[NNC_MAX_RANK];
    int r;
    if (type_is_err(num_arg_ok(C, bc, 0)) || !dims_from(C, bc, d, &r)) return NULL;
    return type_tensor(C->L, DT_F32, r, d);
  }
  p = float_arg(C, bc, 0);
  return p;
}

RULE(r_categorical) {
  Type *lg = float_arg(C, bc, 0);
  if (!lg) return NULL;
  if (lg->rank < 1) {
    diag_error(C->L, arg_span(bc, 0), "categorical needs logits with a class axis, got %s", type_str_of(lg));
    return NULL;
  }
  return type_tensor(C->L, DT_I32, lg->rank - 1, lg->dims);
}
