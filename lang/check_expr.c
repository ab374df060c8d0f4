/* check_expr.c — types and symbolic shapes of expressions.
 *
 * Every expression gets Node.type. Compile-time scalars (literals, hyper-parameters,
 * loop indices, dimensions) carry their values: ints as Dims, so `4*hidden` in a shape
 * and `4*hidden` in an expression are the same polynomial. Tensor arithmetic broadcasts
 * numpy-style with one dtype on both sides; literals are weakly typed. TY_ERROR means
 * "already reported": every rule returns it silently when an operand has it.
 */
#include <math.h>
#include <string.h>

#include "check.h"

/* ---------------------------------------------------------------- operators */

typedef enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD, OP_MATMUL, OP_POW, OP_EQ, OP_NE, OP_LT,
               OP_LE, OP_GT, OP_GE, OP_AND, OP_OR, OP_NOT, OP_NEG, OP_POS, OP_UNKNOWN } Op;

static const struct { const char *tok; Op op; } op_names[] = {
    {"'+'", OP_ADD}, {"'-'", OP_SUB}, {"'*'", OP_MUL}, {"'/'", OP_DIV}, {"'%'", OP_MOD},
    {"'@'", OP_MATMUL}, {"'**'", OP_POW}, {"'=='", OP_EQ}, {"'!='", OP_NE}, {"'<'", OP_LT},
    {"'<='", OP_LE}, {"'>'", OP_GT}, {"'>='", OP_GE}, {"'and'", OP_AND}, {"'or'", OP_OR},
    {"'not'", OP_NOT},
};

/* Operators are identified by their token's printed name, so the checker does not
 * depend on the generated token numbers. */
static Op op_of(int tok) {
  const char *n = tok_name(tok);
  for (size_t i = 0; n && i < sizeof op_names / sizeof op_names[0]; i++)
    if (strcmp(n, op_names[i].tok) == 0) return op_names[i].op;
  return OP_UNKNOWN;
}

static const char *op_text(Op op) {
  static const char *t[] = {"+", "-", "*", "/", "%", "@", "**", "==", "!=", "<", "<=", ">", ">=",
                            "and", "or", "not", "-", "+", "?"};
  return t[op];
}

static int is_cmp(Op op) {
  return op >= OP_EQ && op <= OP_GE;
}

/* ---------------------------------------------------------------- helpers */

static int is_scalar(const Type *t, ScalarType st) {
  return t && t->kind == TY_SCALAR && t->scalar == st;
}

static int is_num_scalar(const Type *t) {
  return is_scalar(t, ST_INT) || is_scalar(t, ST_FLOAT);
}

/* A note at the place an operand comes from: its declaration when it is a name. */
static void note_origin(Chk *C, Diag *d, Node *n, const Type *t) {
  if (!d || !n) return;
  if (n->kind == N_NAME && n->sym && n->sym->decl)
    diag_note(C->L, d, n->sym->decl->span, "'%s' declared as %s here", n->name, type_str_of(t));
  else
    diag_note(C->L, d, n->span, "this is %s", type_str_of(t));
}

static Node *kid(const Node *n, int i) {
  return n && i < n->nkids ? n->kids[i] : NULL;
}

/* ---------------------------------------------------------------- compile-time scalars */

static Type *int_arith(Chk *C, Node *at, Op op, Type *a, Type *b) {
  Lang *L = C->L;
  Dim *x = CT(a)->ival, *y = CT(b)->ival;
  if (!x || !y) return is_cmp(op) ? type_bool(L, 0, 0) : type_int(L, NULL);
  int64_t vx, vy;
  int kx = dim_is_const(x, &vx), ky = dim_is_const(y, &vy);
  switch (op) {
  case OP_ADD: return type_int(L, dim_add(L, x, y));
  case OP_SUB: return type_int(L, dim_sub(L, x, y));
  case OP_MUL: return type_int(L, dim_mul(L, x, y));
  case OP_DIV:
    if (ky && vy == 0) {
      diag_error(L, at->span, "division by zero");
      return type_error();
    }
    /* exact or symbolic quotients stay ints (D / k is a dimension); 1/255 is a float */
    if (C->dim_ctx || !(kx && ky) || vx % vy == 0) return type_int(L, dim_floordiv(L, x, y));
    return type_float(L, 1, (double)vx / (double)vy);
  case OP_MOD:
    if (kx && ky && vy != 0) return type_int(L, dim_const(L, ((vx % vy) + vy) % vy));
    return type_int(L, NULL);
  case OP_POW:
    if (kx && ky && vy >= 0 && vy < 63) {
      int64_t r = 1;
      for (int64_t i = 0; i < vy; i++) r *= vx;
      return type_int(L, dim_const(L, r));
    }
    return type_int(L, NULL);
  default: break;
  }
  if (is_cmp(op)) {
    if (dim_equal(x, y)) return type_bool(L, 1, op == OP_EQ || op == OP_LE || op == OP_GE);
    if (!kx || !ky) return type_bool(L, 0, 0);
    int r = op == OP_EQ ? vx == vy : op == OP_NE ? vx != vy : op == OP_LT ? vx < vy
          : op == OP_LE ? vx <= vy : op == OP_GT ? vx > vy : vx >= vy;
    return type_bool(L, 1, r);
  }
  diag_error(L, at->span, "operator '%s' does not apply to int", op_text(op));
  return type_error();
}

static int scalar_fval(const Type *t, double *v) {
  if (is_scalar(t, ST_FLOAT)) {
    *v = CT(t)->fval;
    return CT(t)->known;
  }
  int64_t i;
  if (is_scalar(t, ST_INT) && CT(t)->ival && dim_is_const(CT(t)->ival, &i)) {
    *v = (double)i;
    return 1;
  }
  return 0;
}

static Type *float_arith(Chk *C, Node *at, Op op, Type *a, Type *b) {
  double x, y;
  int k = scalar_fval(a, &x) & scalar_fval(b, &y);
  double r = 0;
  switch (op) {
  case OP_ADD: r = x + y; break;
  case OP_SUB: r = x - y; break;
  case OP_MUL: r = x * y; break;
  case OP_DIV: r = y != 0 ? x / y : 0; break;
  case OP_MOD: r = y != 0 ? x - y * floor(x / y) : 0; break;
  case OP_POW: {
    r = 1;
    if (k && y == (int)y && y >= 0 && y < 64)
      for (int i = 0; i < (int)y; i++) r *= x;
    else k = 0;
    break;
  }
  case OP_LT: return type_bool(C->L, k, x < y);
  case OP_LE: return type_bool(C->L, k, x <= y);
  case OP_GT: return type_bool(C->L, k, x > y);
  case OP_GE: return type_bool(C->L, k, x >= y);
  case OP_EQ: return type_bool(C->L, k, x == y);
  case OP_NE: return type_bool(C->L, k, x != y);
  default:
    diag_error(C->L, at->span, "operator '%s' does not apply to float", op_text(op));
    return type_error();
  }
  return type_float(C->L, k, r);
}

static Type *bool_arith(Chk *C, Node *at, Op op, Type *a, Type *b) {
  int k = CT(a)->known && CT(b)->known;
  int x = CT(a)->fval != 0, y = CT(b)->fval != 0;
  switch (op) {
  case OP_AND: return type_bool(C->L, k || (CT(a)->known && !x) || (CT(b)->known && !y), x && y);
  case OP_OR: return type_bool(C->L, k || (CT(a)->known && x) || (CT(b)->known && y), x || y);
  case OP_EQ: return type_bool(C->L, k, x == y);
  case OP_NE: return type_bool(C->L, k, x != y);
  default:
    diag_error(C->L, at->span, "operator '%s' does not apply to bool", op_text(op));
    return type_error();
  }
}

static Type *scalar_binary(Chk *C, Node *at, Op op, Type *a, Type *b) {
  if (is_scalar(a, ST_INT) && is_scalar(b, ST_INT)) return int_arith(C, at, op, a, b);
  if (is_num_scalar(a) && is_num_scalar(b)) return float_arith(C, at, op, a, b);
  if (is_scalar(a, ST_BOOL) && is_scalar(b, ST_BOOL)) return bool_arith(C, at, op, a, b);
  if (is_scalar(a, ST_STR) && is_scalar(b, ST_STR) && (op == OP_EQ || op == OP_NE)) {
    int k = CT(a)->known && CT(b)->known;
    int eq = k && strcmp(CT(a)->sval, CT(b)->sval) == 0;
    return type_bool(C->L, k, op == OP_EQ ? eq : !eq);
  }
  diag_error(C->L, at->span, "operator '%s' does not apply to %s and %s", op_text(op), type_str_of(a),
             type_str_of(b));
  return type_error();
}

/* ---------------------------------------------------------------- tensors */

static int is_float_dt(DType d) {
  return d == DT_F32 || d == DT_F64;
}

/* A compile-time scalar next to a tensor takes the tensor's dtype (weak literal). */
static Type *weak_scalar(Chk *C, Node *at, Type *t, Node *sn, Type *s, const char *opname) {
  if (is_scalar(s, ST_FLOAT) && !is_float_dt(t->dtype)) {
    diag_error(C->L, sn ? sn->span : at->span, "cannot mix %s tensor and float literal; use cast(x, f32)",
               dtype_name(t->dtype));
    return type_error();
  }
  if (is_scalar(s, ST_STR) || (s->kind != TY_SCALAR && s->kind != TY_TENSOR)) {
    diag_error(C->L, sn ? sn->span : at->span, "'%s' needs a tensor or a number, got %s", opname, type_str_of(s));
    return type_error();
  }
  if (is_scalar(s, ST_BOOL) && t->dtype != DT_BOOL) {
    diag_error(C->L, sn ? sn->span : at->span, "cannot mix %s tensor and bool in '%s'", dtype_name(t->dtype), opname);
    return type_error();
  }
  return type_tensor(C->L, t->dtype, 0, NULL);
}

Type *chk_elementwise(Chk *C, Node *at, Node *an, Type *a, Node *bn, Type *b, const char *opname) {
  if (type_is_err(a) || type_is_err(b)) return type_error();
  if (a->kind == TY_SCALAR && b->kind == TY_SCALAR) {
    diag_error(C->L, at->span, "%s needs a tensor operand", opname);
    return type_error();
  }
  if (a->kind != TY_TENSOR && a->kind != TY_SCALAR) {
    diag_error(C->L, an ? an->span : at->span, "'%s' needs a tensor, got %s", opname, type_str_of(a));
    return type_error();
  }
  if (b->kind != TY_TENSOR && b->kind != TY_SCALAR) {
    diag_error(C->L, bn ? bn->span : at->span, "'%s' needs a tensor, got %s", opname, type_str_of(b));
    return type_error();
  }
  if (a->kind == TY_SCALAR) a = weak_scalar(C, at, b, an, a, opname);
  if (b->kind == TY_SCALAR) b = weak_scalar(C, at, a, bn, b, opname);
  if (type_is_err(a) || type_is_err(b)) return type_error();
  if (a->dtype != b->dtype) {
    Diag *d = diag_error(C->L, at->span, "mismatched dtypes in '%s': %s and %s; use cast(x, %s)", opname,
                         type_str_of(a), type_str_of(b), dtype_name(a->dtype));
    note_origin(C, d, an, a);
    note_origin(C, d, bn, b);
    return type_error();
  }
  Type *out;
  if (!type_broadcast(C->L, a, b, &out)) {
    Diag *d = diag_error(C->L, at->span, "cannot broadcast %s with %s", type_str_of(a), type_str_of(b));
    note_origin(C, d, an, a);
    note_origin(C, d, bn, b);
    return type_error();
  }
  return out;
}

static Type *tensor_binary(Chk *C, Node *e, Op op, Node *an, Type *a, Node *bn, Type *b) {
  const char *name = op_text(op);
  if (op == OP_MATMUL) {
    if (a->kind != TY_TENSOR || b->kind != TY_TENSOR) {
      diag_error(C->L, e->span, "'@' needs two tensors, got %s and %s", type_str_of(a), type_str_of(b));
      return type_error();
    }
    if (a->dtype != b->dtype) return chk_elementwise(C, e, an, a, bn, b, "@");
    Type *out;
    char why[600];
    if (!type_matmul(C->L, a, b, &out, why, sizeof why)) {
      Diag *d = diag_error(C->L, e->span, "%s", why);
      note_origin(C, d, an, a);
      note_origin(C, d, bn, b);
      return type_error();
    }
    return out;
  }
  Type *t = chk_elementwise(C, e, an, a, bn, b, name);
  if (type_is_err(t)) return t;
  if (op == OP_AND || op == OP_OR) {
    if (t->dtype != DT_BOOL) {
      diag_error(C->L, e->span, "'%s' needs bool tensors, got %s", name, type_str_of(t));
      return type_error();
    }
    return t;
  }
  if (is_cmp(op)) return type_tensor(C->L, DT_BOOL, t->rank, t->dims);
  if (t->dtype == DT_BOOL || t->dtype == DT_BIT) {
    diag_error(C->L, e->span, "arithmetic '%s' on %s tensors; use cast(x, f32)", name, dtype_name(t->dtype));
    return type_error();
  }
  return t;
}

static Type *check_binary(Chk *C, Node *e) {
  Node *an = kid(e, 0), *bn = kid(e, 1);
  Type *a = chk_expr(C, an), *b = chk_expr(C, bn);
  if (type_is_err(a) || type_is_err(b)) return type_error();
  Op op = op_of(e->op);
  if (a->kind == TY_SCALAR && b->kind == TY_SCALAR) return scalar_binary(C, e, op, a, b);
  return tensor_binary(C, e, op, an, a, bn, b);
}

static Type *check_unary(Chk *C, Node *e) {
  Type *a = chk_expr(C, kid(e, 0));
  if (type_is_err(a)) return type_error();
  Op op = op_of(e->op);
  if (op == OP_NOT) {
    if (is_scalar(a, ST_BOOL)) return type_bool(C->L, CT(a)->known, CT(a)->fval == 0);
    if (a->kind == TY_TENSOR && a->dtype == DT_BOOL) return a;
    diag_error(C->L, e->span, "'not' needs a bool, got %s", type_str_of(a));
    return type_error();
  }
  if (op == OP_SUB) op = OP_NEG;
  if (op == OP_ADD) op = OP_POS;
  if (is_scalar(a, ST_INT))
    return op == OP_POS ? a : type_int(C->L, CT(a)->ival ? dim_sub(C->L, dim_const(C->L, 0), CT(a)->ival) : NULL);
  if (is_scalar(a, ST_FLOAT)) return op == OP_POS ? a : type_float(C->L, CT(a)->known, -CT(a)->fval);
  if (a->kind == TY_TENSOR && a->dtype != DT_BOOL && a->dtype != DT_BIT) return a;
  diag_error(C->L, e->span, "unary '%s' does not apply to %s", op_text(op), type_str_of(a));
  return type_error();
}

/* c ? a : b — compile-time when c is a compile-time bool, else where(c, a, b). */
static Type *check_cond(Chk *C, Node *e) {
  Type *c = chk_expr(C, kid(e, 0)), *a = chk_expr(C, kid(e, 1)), *b = chk_expr(C, kid(e, 2));
  if (type_is_err(c) || type_is_err(a) || type_is_err(b)) return type_error();
  if (is_scalar(c, ST_BOOL)) {
    if (CT(c)->known) return CT(c)->fval != 0 ? a : b;
    if (is_scalar(a, ST_INT) && is_scalar(b, ST_INT))
      return dim_equal(CT(a)->ival, CT(b)->ival) ? a : type_int(C->L, NULL);
    if (a->kind == TY_SCALAR && b->kind == TY_SCALAR && a->scalar == b->scalar) return a->scalar == ST_FLOAT ? type_float(C->L, 0, 0)
           : a->scalar == ST_BOOL ? type_bool(C->L, 0, 0) : type_str(C->L, NULL);
    if (is_num_scalar(a) && is_num_scalar(b)) return type_float(C->L, 0, 0);
    if (type_equal(a, b)) return a;
    if (a->kind == TY_SCALAR || b->kind == TY_SCALAR)
      return chk_elementwise(C, e, kid(e, 1), a, kid(e, 2), b, "?:");
    diag_error(C->L, e->span, "the branches of '?:' differ: %s and %s", type_str_of(a), type_str_of(b));
    return type_error();
  }
  if (c->kind == TY_TENSOR && c->dtype == DT_BOOL) {
    Type *v = chk_elementwise(C, e, kid(e, 1), a, kid(e, 2), b, "?:"), *out;
    if (type_is_err(v)) return v;
    if (!type_broadcast(C->L, v, c, &out)) {
      diag_error(C->L, e->span, "cannot broadcast condition %s with %s", type_str_of(c), type_str_of(v));
      return type_error();
    }
    return type_tensor(C->L, v->dtype, out->rank, out->dims);
  }
  diag_error(C->L, kid(e, 0)->span, "condition of '?:' must be a bool, got %s", type_str_of(c));
  return type_error();
}

/* ---------------------------------------------------------------- names */

static const char *suggest_in(Scope *s, const char *name) {
  const char *best = NULL;
  int bd = 3;
  for (; s; s = s->up)
    for (Sym *y = s->syms; y; y = y->next) {
      int d = chk_edit_distance(y->name, name);
      if (d < bd && d < (int)strlen(name) && strcmp(y->name, name)) bd = d, best = y->name;
    }
  return best;
}

static Type *check_name(Chk *C, Node *e) {
  Sym *y = scope_lookup(C->scope, e->name);
  if (!y && C->generic && C->dim_ctx) {
    /* a generic dimension: bound per call by matching argument shapes */
    if (C->ngen < 32) C->gen[C->ngen++] = e->name;
    y = scope_add(C->L, C->scope, e->name, SYM_DIM, type_int(C->L, dim_sym(C->L, e->name)), e);
  }
  if (!y && C->in_param) {
    diag_error(C->L, e->span, "a parameter's shape may use only hyper-parameters and constants; '%s' is neither",
               e->name);
    return type_error();
  }
  if (!y) {
    const char *s = suggest_in(C->scope, e->name);
    if (s) diag_error(C->L, e->span, "unknown name '%s'; did you mean '%s'?", e->name, s);
    else diag_error(C->L, e->span, "unknown name '%s'", e->name);
    return type_error();
  }
  y->used = 1;
  e->sym = y;
  if (y->kind == SYM_CONST && y->state == 1) {
    diag_error(C->L, e->span, "'%s' is defined in terms of itself", e->name);
    return type_error();
  }
  return y->type ? y->type : type_error();
}

/* ---------------------------------------------------------------- members */

static Type *inst_member(Chk *C, Node *e, Type *inst) {
  Scope *ms = chk_module_scope(C, inst);
  Sym *y = ms ? scope_find_local(ms, e->name) : NULL;
  if (!y) {
    const char *s = suggest_in(ms ? &(Scope){NULL, ms->syms, 0} : NULL, e->name);
    diag_error(C->L, e->span, "module %s has no member '%s'%s%s%s", inst->decl->name, e->name,
               s ? "; did you mean '" : "", s ? s : "", s ? "'?" : "");
    return type_error();
  }
  y->used = 1;
  e->sym = y;
  return chk_member_of(C, inst, y);
}

static Type *ns_member(Chk *C, Node *e, Type *ns) {
  Node *file = CT(ns)->file;
  Scope *fs = file && file->sym ? file->sym->members : NULL;
  Sym *y = fs ? scope_find_local(fs, e->name) : NULL;
  if (!y) {
    const char *s = fs ? suggest_in(&(Scope){NULL, fs->syms, 0}, e->name) : NULL;
    Node *obj = kid(e, 0);
    diag_error(C->L, e->span, "unknown name '%s' in %s%s%s%s", e->name,
               obj && obj->name ? obj->name : "import", s ? "; did you mean '" : "", s ? s : "", s ? "'?" : "");
    return type_error();
  }
  y->used = 1;
  e->sym = y;
  return y->type ? y->type : type_error();
}

static Type *batch_member(Chk *C, Node *e) {
  for (int i = 0; i < C->nbfield; i++)
    if (strcmp(C->bfield[i], e->name) == 0) return C->btype[i];
  diag_error(C->L, e->span, "the batch has no field '%s' (fields: x, y)", e->name);
  return type_error();
}

static Type *check_member(Chk *C, Node *e) {
  Type *o = chk_expr(C, kid(e, 0));
  if (type_is_err(o)) return type_error();
  switch (o->kind) {
  case TY_NAMESPACE: return ns_member(C, e, o);
  case TY_MODULE: return inst_member(C, e, o);
  case TY_OBJECT:
    if (o->objkind && !strcmp(o->objkind, "batch")) return batch_member(C, e);
    break;
  case TY_TENSOR:
    if (!strcmp(e->name, "T")) {
      if (o->rank < 2) {
        diag_error(C->L, e->span, ".T needs at least two dimensions, got %s", type_str_of(o));
        return type_error();
      }
      Dim *d[NNC_MAX_RANK];
      for (int i = 0; i < o->rank; i++) d[i] = o->dims[i];
      d[o->rank - 2] = o->dims[o->rank - 1];
      d[o->rank - 1] = o->dims[o->rank - 2];
      return type_tensor(C->L, o->dtype, o->rank, d);
    }
    break;
  default: break;
  }
  diag_error(C->L, e->span, "%s has no member '%s'", type_str_of(o), e->name);
  return type_error();
}

/* ---------------------------------------------------------------- aggregates */

static Type *check_tuple(Chk *C, Node *e) {
  Type *el[64];
  int n = e->nkids < 64 ? e->nkids : 64, err = 0;
  for (int i = 0; i < n; i++) err |= type_is_err(el[i] = chk_expr(C, e->kids[i]));
  return err ? type_error() : type_tuple(C->L, n, el);
}

static Type *check_list(Chk *C, Node *e) {
  Type *t = check_tuple(C, e);
  if (type_is_err(t)) return t;
  t->kind = TY_LIST;
  return t;
}

/* [elem for i in lo..hi]: unrolled when the bounds are constants. */
static Type *check_comprehension(Chk *C, Node *e) {
  Dim *lo = chk_const_int(C, kid(e, 1), "comprehension bound");
  Dim *hi = chk_const_int(C, kid(e, 2), "comprehension bound");
  if (!lo || !hi) return type_error();
  int64_t a, b;
  int known = dim_is_const(lo, &a) && dim_is_const(hi, &b);
  int n = known ? (int)(b - a) : 1;
  if (n < 0 || n > 256) {
    diag_error(C->L, e->span, "comprehension over %lld elements", (long long)n);
    return type_error();
  }
  Type **el = lang_alloc(C->L, sizeof(Type *) * (n ? n : 1));
  if (!el) return type_error();
  for (int i = 0; i < n; i++) {
    Scope *saved = C->scope;
    C->scope = scope_push(C->L, saved, 0);
    Dim *iv = known ? dim_const(C->L, a + i) : dim_sym(C->L, e->name);
    scope_add(C->L, C->scope, e->name, SYM_LOOP, type_int(C->L, iv), e);
    el[i] = chk_expr(C, kid(e, 0));
    C->scope = saved;
    if (type_is_err(el[i])) return type_error();
  }
  Type *t = type_tuple(C->L, n, el);
  t->kind = TY_LIST;
  if (!known) CT(t)->ival = dim_sub(C->L, hi, lo);
  return t;
}

/* ---------------------------------------------------------------- literals */

static Type *check_literal(Chk *C, Node *e) {
  Lang *L = C->L;
  switch (e->kind) {
  case N_INT:
  case N_SIZE: return type_int(L, dim_const(L, e->ival));
  case N_FLOAT: return type_float(L, 1, e->fval);
  case N_BOOL: return type_bool(L, 1, (int)e->ival);
  case N_STRING: return type_str(L, e->str);
  case N_TRAINING: return type_bool(L, 0, 0);
  case N_DTYPE: {
    Type *t = type_new(L, TY_DTYPE);
    t->dtype = (DType)e->op;
    return t;
  }
  case N_NONE:
    diag_error(L, e->span, "None is only valid in a subscript (a new axis)");
    return type_error();
  default: return type_error();
  }
}

Dim *chk_const_int(Chk *C, Node *e, const char *what) {
  Type *t = chk_expr(C, e);
  if (type_is_err(t)) return NULL;
  if (is_scalar(t, ST_INT) && CT(t)->ival) return CT(t)->ival;
  if (is_scalar(t, ST_INT))
    diag_error(C->L, e->span, "%s must be a compile-time int with a known value", what);
  else
    diag_error(C->L, e->span, "%s must be a compile-time int, got %s", what, type_str_of(t));
  return NULL;
}

/* ---------------------------------------------------------------- dispatch */

Type *chk_expr(Chk *C, Node *e) {
  if (!e) return type_error();
  Type *t;
  switch (e->kind) {
  case N_NAME: t = check_name(C, e); break;
  case N_MEMBER: t = check_member(C, e); break;
  case N_CALL: t = chk_call(C, e); break;
  case N_INDEX: t = chk_index(C, e); break;
  case N_UNARY: t = check_unary(C, e); break;
  case N_BINARY: t = check_binary(C, e); break;
  case N_COND: t = check_cond(C, e); break;
  case N_TUPLE: t = check_tuple(C, e); break;
  case N_LIST: t = check_list(C, e); break;
  case N_COMPREH: t = check_comprehension(C, e); break;
  case N_SCAN: t = chk_scan(C, e); break;
  case N_LAMBDA: {
    t = type_new(C->L, TY_FN);
    t->decl = kid(e, 0);
    CT(t)->self = C->self;
    break;
  }
  case N_KWARG:
    diag_error(C->L, e->span, "keyword argument outside a call");
    t = type_error();
    break;
  case N_ELLIPSIS:
  case N_SLICE:
    diag_error(C->L, e->span, "'%s' is only valid in a subscript", e->kind == N_SLICE ? ":" : "...");
    t = type_error();
    break;
  default: t = check_literal(C, e); break;
  }
  e->type = t ? t : type_error();
  return e->type;
}
