/* check_call.c — calls (built-ins, functions, module instantiation and instances),
 * subscripts and scan.
 *
 * A user function is checked once, generically: its hyper-parameters and the dimension
 * names of its argument types stay symbols. A call then unifies each argument's type
 * with the declared one (binding generic dims such as B to the caller's dims, solving
 * simple linear dims like `T + 1`), and substitutes the bindings and the instance's
 * hyper-parameter values into the result type (Hindley–Milner-style instantiation,
 * restricted to dimensions).
 */
#include <string.h>

#include "check.h"

static Node *kid(const Node *n, int i) {
  return n && i < n->nkids ? n->kids[i] : NULL;
}

static int is_kw(const Node *n) {
  return n && n->kind == N_KWARG;
}

/* ---------------------------------------------------------------- bindings */

typedef struct Bind {
  int n;
  const char *name[64];
  Dim *val[64];           /* NULL: generic, not bound yet */
  int generic[64];
  int src[64];            /* argument index that bound it */
  Type *srct[64];
} Bind;

static int bind_find(Bind *b, const char *name) {
  for (int i = 0; i < b->n; i++)
    if (strcmp(b->name[i], name) == 0) return i;
  return -1;
}

static void bind_add(Bind *b, const char *name, Dim *v, int generic) {
  if (b->n >= 64 || bind_find(b, name) >= 0) return;
  b->name[b->n] = name;
  b->val[b->n] = v;
  b->generic[b->n] = generic;
  b->src[b->n] = -1;
  b->n++;
}

static Type *bsubst(Chk *C, Bind *b, Type *t) {
  return type_subst(C->L, t, b->n, b->name, b->val);
}

static Dim *dsubst(Chk *C, Bind *b, Dim *d) {
  return dim_subst(C->L, d, b->n, b->name, b->val);
}

typedef struct Unbound {
  Bind *b;
  const char *first;
  int count;
} Unbound;

static void count_unbound(void *ctx, const char *name) {
  Unbound *u = ctx;
  int i = bind_find(u->b, name);
  if (i >= 0 && u->b->generic[i] && !u->b->val[i]) {
    if (!u->first || strcmp(u->first, name)) u->count++;
    u->first = name;
  }
}

/* ---------------------------------------------------------------- unification */

typedef struct Site {
  Node *call;
  Node *fn;               /* the callee's declaration */
  const char *argname;
  Node *argnode;          /* the argument expression, or NULL */
  Node *decl;             /* the parameter's declaration */
  int argi;
} Site;

static Span site_span(Site *s) {
  return s->argnode ? s->argnode->span : s->call->span;
}

static const char *callee_name(Site *s) {
  return s->fn && s->fn->name ? s->fn->name : "fn";
}

static int mismatch(Chk *C, Site *s, Bind *b, Type *want, Type *got) {
  Diag *d = diag_error(C->L, site_span(s), "argument '%s' of '%s' must be %s, got %s", s->argname,
                       callee_name(s), type_str_of(bsubst(C, b, want)), type_str_of(got));
  if (s->decl) diag_note(C->L, d, s->decl->span, "parameter declared as %s here", type_str_of(want));
  return 0;
}

/* Binds a plain generic dim, or reports two different bindings of one name. */
static int bind_dim(Chk *C, Site *s, Bind *b, int i, Dim *got, Type *gott) {
  if (!b->val[i]) {
    b->val[i] = got;
    b->src[i] = s->argi;
    b->srct[i] = gott;
    return 1;
  }
  if (dim_equal(b->val[i], got)) return 1;
  Diag *d = diag_error(C->L, site_span(s), "in call to '%s': dimension %s is %s here (%s) but %s from an earlier argument (%s)",
                       callee_name(s), b->name[i], dim_str(got), type_str_of(gott), dim_str(b->val[i]),
                       type_str_of(b->srct[i]));
  if (s->decl) diag_note(C->L, d, s->decl->span, "parameter declared here");
  return 0;
}

static int unify_dims(Chk *C, Site *s, Bind *b, Type *want, Type *got) {
  int done[NNC_MAX_RANK] = {0};
  for (int k = 0; k < want->rank; k++) {
    const char *nm;
    int i;
    if (dim_is_sym(want->dims[k], &nm) && (i = bind_find(b, nm)) >= 0 && b->generic[i]) {
      if (!bind_dim(C, s, b, i, got->dims[k], got)) return 0;
      done[k] = 1;
    }
  }
  for (int k = 0; k < want->rank; k++) {
    if (done[k]) continue;
    Unbound u = {b, NULL, 0};
    dim_each_sym(want->dims[k], count_unbound, &u);
    if (u.count == 1) {
      Dim *v = dim_solve(C->L, dsubst(C, b, want->dims[k]), u.first, got->dims[k]);
      if (v) {
        b->val[bind_find(b, u.first)] = v;
        continue;
      }
    }
    if (!dim_equal(dsubst(C, b, want->dims[k]), got->dims[k])) return mismatch(C, s, b, want, got);
  }
  return 1;
}

static int unify_scalar(Chk *C, Site *s, Bind *b, Type *want, Type *got) {
  int ok = got->kind == TY_SCALAR &&
           (got->scalar == want->scalar || (want->scalar == ST_FLOAT && got->scalar == ST_INT));
  if (!ok) return mismatch(C, s, b, want, got);
  const char *nm;
  int i;
  if (want->scalar == ST_INT && CT(want)->ival && dim_is_sym(CT(want)->ival, &nm) &&
      (i = bind_find(b, nm)) >= 0 && b->generic[i] && CT(got)->ival)
    return bind_dim(C, s, b, i, CT(got)->ival, got);
  return 1;
}

static int unify(Chk *C, Site *s, Bind *b, Type *want, Type *got) {
  if (type_is_err(want) || type_is_err(got)) return 0;
  switch (want->kind) {
  case TY_TENSOR:
    if (got->kind == TY_SCALAR && want->rank == 0 &&
        (got->scalar == ST_INT || (got->scalar == ST_FLOAT && (want->dtype == DT_F32 || want->dtype == DT_F64))))
      return 1;
    if (got->kind != TY_TENSOR || got->dtype != want->dtype || got->rank != want->rank)
      return mismatch(C, s, b, want, got);
    return unify_dims(C, s, b, want, got);
  case TY_TUPLE:
    if (got->kind != TY_TUPLE || got->nelems != want->nelems) return mismatch(C, s, b, want, got);
    for (int i = 0; i < want->nelems; i++)
      if (!unify(C, s, b, want->elems[i], got->elems[i])) return 0;
    return 1;
  case TY_SCALAR: return unify_scalar(C, s, b, want, got);
  default: return type_equal(want, got) ? 1 : mismatch(C, s, b, want, got);
  }
}

/* ---------------------------------------------------------------- user functions */

static Node *fn_arg(Node *fn, int i) {
  int first = fn->kind == N_EXTERN ? 1 : fn->kind == N_FN ? 2 : 1;
  return kid(fn, first + i);
}

static int fn_nargs(Node *fn) {
  int first = fn->kind == N_EXTERN ? 1 : fn->kind == N_FN ? 2 : 1;
  return fn->nkids - first;
}

static void print_sig(Node *fn, char *buf, size_t n) {
  size_t len = (size_t)snprintf(buf, n, "%s(", fn->name ? fn->name : "fn");
  for (int i = 0; i < fn_nargs(fn) && len < n; i++)
    len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? ", " : "", fn_arg(fn, i)->name);
  if (len < n) snprintf(buf + len, n - len, ")");
}

/* A result dim that became a constant <= 0 once the call's values were substituted
 * (a 5x5 convolution of a 4x4 image): reported at the call. */
static int nonpositive_dim(Chk *C, Node *call, Node *fn, Type *r) {
  if (!r) return 0;
  if (r->kind == TY_TUPLE) {
    for (int i = 0; i < r->nelems; i++)
      if (nonpositive_dim(C, call, fn, r->elems[i])) return 1;
    return 0;
  }
  if (r->kind != TY_TENSOR) return 0;
  for (int i = 0; i < r->rank; i++) {
    int64_t v;
    if (dim_is_const(r->dims[i], &v) && v <= 0) {
      Diag *d = diag_error(C->L, call->span, "'%s' would return %s here: dimension %d is %lld",
                           fn->name ? fn->name : "fn", type_str_of(r), i, (long long)v);
      diag_note(C->L, d, fn->span, "'%s' declared here", fn->name ? fn->name : "fn");
      return 1;
    }
  }
  return 0;
}

Type *chk_fn_call(Chk *C, Node *call, Node *fn, Type *self, Node *const *args, int nargs, Type *const *argt) {
  Sym *fs = fn->sym;
  if (!fs || type_is_err(chk_fn_result(C, fn, self))) return type_error();
  Bind b = {0};
  const char *hn[32];
  Dim *hv[32];
  int nh = self ? chk_inst_map(C, self, hn, hv, 32) : 0;
  for (int i = 0; i < nh; i++) bind_add(&b, hn[i], hv[i], hv[i] == NULL);
  for (int i = 0; i < fs->ngen; i++) bind_add(&b, fs->gen[i], NULL, 1);
  int ok = 1;
  for (int i = 0; i < nargs && i < fs->nargs; i++) {
    if (!argt[i]) continue;
    Node *an = fn_arg(fn, i);
    Site s = {call, fn, an->name, args ? args[i] : NULL, an, i};
    if (!unify(C, &s, &b, fs->argt[i], argt[i])) ok = 0;
  }
  if (!ok) return type_error();
  Type *r = bsubst(C, &b, fs->ret);
  return nonpositive_dim(C, call, fn, r) ? type_error() : r;
}

/* Orders positional and keyword arguments by the callee's parameters; defaulted ones
 * get their default's type. Returns the count or -1 after an error. */
static int order_args(Chk *C, Node *call, Node *fn, Node **argn, Type **argt) {
  int np = fn_nargs(fn), k = 0, ok = 1;
  char sig[256];
  print_sig(fn, sig, sizeof sig);
  for (int i = 0; i < np; i++) argn[i] = NULL, argt[i] = NULL;
  for (int i = 1; i < call->nkids; i++) {
    Node *a = call->kids[i];
    if (is_kw(a)) {
      int p = -1;
      for (int j = 0; j < np; j++)
        if (!strcmp(fn_arg(fn, j)->name, a->name)) p = j;
      if (p < 0 || argn[p]) {
        diag_error(C->L, a->span, p < 0 ? "unknown keyword argument '%s' for %s" : "argument '%s' given twice in call to %s",
                   a->name, sig);
        ok = 0;
        continue;
      }
      argn[p] = kid(a, 0);
      argt[p] = argn[p] ? argn[p]->type : type_error();
      continue;
    }
    if (k >= np) {
      Diag *d = diag_error(C->L, call->span, "too many arguments to '%s': expected %d, got %d", fn->name ? fn->name : "fn",
                           np, call->nkids - 1);
      diag_note(C->L, d, fn->span, "'%s' declared here", sig);
      return -1;
    }
    while (k < np && argn[k]) k++;
    argn[k] = a;
    argt[k] = a->type;
    k++;
  }
  for (int i = 0; i < np; i++) {
    if (argn[i]) continue;
    Node *dflt = kid(fn_arg(fn, i), 1);
    if (dflt && dflt->type) {
      argt[i] = dflt->type;
      continue;
    }
    Diag *d = diag_error(C->L, call->span, "missing argument '%s' in call to %s", fn_arg(fn, i)->name, sig);
    diag_note(C->L, d, fn->span, "'%s' declared here", fn->name ? fn->name : "fn");
    ok = 0;
  }
  return ok ? np : -1;
}

static Type *call_user(Chk *C, Node *call, Node *fn, Type *self) {
  Node *argn[64];
  Type *argt[64];
  if (fn_nargs(fn) > 64) return type_error();
  if (fn->kind == N_FN && !fn->name) {
    diag_error(C->L, call->span, "a lambda can only be used as the step of a scan");
    return type_error();
  }
  if (!fn->sym || type_is_err(chk_fn_result(C, fn, self))) return type_error();
  int n = order_args(C, call, fn, argn, argt);
  if (n < 0) return type_error();
  return chk_fn_call(C, call, fn, self, argn, n, argt);
}

/* ---------------------------------------------------------------- modules */

static Node *hparam(Node *mod, int i) {
  return i < mod->op ? mod->kids[i] : NULL;
}

static void print_hsig(Node *mod, char *buf, size_t n) {
  size_t len = (size_t)snprintf(buf, n, "%s(", mod->name);
  for (int i = 0; i < mod->op && len < n; i++)
    len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? ", " : "", hparam(mod, i)->name);
  if (len < n) snprintf(buf + len, n - len, ")");
}

/* The declared (or default's) scalar kind of hyper-parameter h. */
static ScalarType hparam_kind(Node *h) {
  Node *ty = kid(h, 0), *d = kid(h, 1);
  if (ty && ty->type && ty->type->kind == TY_SCALAR) return ty->type->scalar;
  if (ty && ty->kind == N_TSCALAR) return (ScalarType)ty->op;
  if (d && d->type && d->type->kind == TY_SCALAR) return d->type->scalar;
  if (d && d->kind == N_FLOAT) return ST_FLOAT;
  if (d && d->kind == N_STRING) return ST_STR;
  if (d && d->kind == N_BOOL) return ST_BOOL;
  return ST_INT;
}

static int hparam_ok(Chk *C, Node *mod, Node *h, Node *at, Type *t) {
  ScalarType k = hparam_kind(h);
  static const char *kn[] = {"?", "int", "float", "bool", "str"};
  int ok = t->kind == TY_SCALAR && (t->scalar == k || (k == ST_FLOAT && t->scalar == ST_INT));
  if (!ok) {
    Diag *d = diag_error(C->L, at->span, "hyper-parameter '%s' of %s must be a compile-time %s, got %s", h->name,
                         mod->name, kn[k], type_str_of(t));
    diag_note(C->L, d, h->span, "declared here");
  }
  return ok;
}

Type *chk_module_instance(Chk *C, Node *call, Node *mod) {
  int nh = mod->op;
  char sig[256];
  print_hsig(mod, sig, sizeof sig);
  Type **hv = lang_alloc(C->L, sizeof(Type *) * (nh ? nh : 1));
  Node *given[64] = {0};
  int k = 0, ok = 1;
  if (!hv || nh > 64) return type_error();
  for (int i = 1; i < call->nkids; i++) {
    Node *a = call->kids[i];
    int p = -1;
    if (is_kw(a)) {
      for (int j = 0; j < nh; j++)
        if (!strcmp(hparam(mod, j)->name, a->name)) p = j;
      if (p < 0) {
        diag_error(C->L, a->span, "unknown keyword argument '%s' for %s", a->name, sig);
        ok = 0;
        continue;
      }
    } else {
      while (k < nh && given[k]) k++;
      if (k >= nh) {
        Diag *d = diag_error(C->L, call->span, "too many arguments to %s: expected %d, got %d", sig, nh, call->nkids - 1);
        diag_note(C->L, d, mod->span, "module %s declared here", mod->name);
        return type_error();
      }
      p = k++;
    }
    given[p] = is_kw(a) ? kid(a, 0) : a;
  }
  for (int i = 0; i < nh; i++) {
    Node *h = hparam(mod, i);
    if (given[i]) {
      hv[i] = given[i]->type;
      if (type_is_err(hv[i]) || !hparam_ok(C, mod, h, given[i], hv[i])) ok = 0;
    } else if (kid(h, 1)) {
      hv[i] = kid(h, 1)->type ? kid(h, 1)->type : chk_expr(C, kid(h, 1));
    } else {
      Diag *d = diag_error(C->L, call->span, "missing hyper-parameter '%s' in %s", h->name, sig);
      diag_note(C->L, d, mod->span, "module %s declared here", mod->name);
      ok = 0;
    }
  }
  if (!ok) return type_error();
  Type *t = type_new(C->L, TY_MODULE);
  t->decl = mod;
  CT(t)->hvals = hv;
  CT(t)->nh = nh;
  return t;
}

/* ---------------------------------------------------------------- calls */

static Type *call_value(Chk *C, Node *call, Type *ft) {
  if (type_is_err(ft)) return type_error();
  if (ft->kind == TY_FN && CT(ft)->builtin) return bi_check_call(C, bi_at(CT(ft)->builtin - 1), call);
  for (int i = 1; i < call->nkids; i++) {
    Node *a = call->kids[i];
    Type *t = chk_expr(C, is_kw(a) ? kid(a, 0) : a);
    if (is_kw(a)) a->type = t;
    if (type_is_err(t)) return type_error();
  }
  if (ft->kind == TY_FN && ft->decl && ft->decl->kind == N_MODULE) return chk_module_instance(C, call, ft->decl);
  if (ft->kind == TY_FN && ft->decl) return call_user(C, call, ft->decl, CT(ft)->self);
  if (ft->kind == TY_MODULE) {
    Scope *ms = chk_module_scope(C, ft);
    Sym *fwd = ms ? scope_find_local(ms, "forward") : NULL;
    if (!fwd || fwd->kind != SYM_FN) {
      diag_error(C->L, call->span, "module %s has no fn forward; call one of its functions by name",
                 ft->decl->name);
      return type_error();
    }
    fwd->used = 1;
    return call_user(C, call, fwd->decl, ft);
  }
  diag_error(C->L, kid(call, 0)->span, "%s is not callable", type_str_of(ft));
  return type_error();
}

Type *chk_call(Chk *C, Node *call) {
  Node *callee = kid(call, 0);
  Type *ft = chk_expr(C, callee);
  if (type_is_err(ft)) {  /* still check (and mark as used) the arguments */
    for (int i = 1; i < call->nkids; i++)
      chk_expr(C, is_kw(call->kids[i]) ? kid(call->kids[i], 0) : call->kids[i]);
    return type_error();
  }
  return call_value(C, call, ft);
}

/* ---------------------------------------------------------------- subscripts */

static int is_int_scalar(const Type *t) {
  return t && t->kind == TY_SCALAR && t->scalar == ST_INT;
}

/* Normalizes a (possibly negative) constant index against dim n. */
static Dim *norm_index(Chk *C, Dim *i, Dim *n) {
  int64_t v;
  if (dim_is_const(i, &v) && v < 0) return dim_add(C->L, n, i);
  return i;
}

static int count_axes(Node *ix) {
  int n = 0;
  for (int i = 1; i < ix->nkids; i++)
    if (ix->kids[i]->kind != N_NONE && ix->kids[i]->kind != N_ELLIPSIS) n++;
  return n;
}

/* lo:hi:step over a dim of length n -> its length. */
static Dim *slice_len(Chk *C, Node *sl, Dim *n) {
  Dim *lo = dim_const(C->L, 0), *hi = n, *st = dim_const(C->L, 1);
  if (kid(sl, 0) && !(lo = chk_const_int(C, kid(sl, 0), "slice bound"))) return NULL;
  if (kid(sl, 1) && !(hi = chk_const_int(C, kid(sl, 1), "slice bound"))) return NULL;
  if (kid(sl, 2) && !(st = chk_const_int(C, kid(sl, 2), "slice step"))) return NULL;
  lo = norm_index(C, lo, n);
  hi = norm_index(C, hi, n);
  int64_t s, a, b, len;
  if (!dim_is_const(st, &s) || s < 1) {
    diag_error(C->L, sl->span, "slice step must be a positive constant");
    return NULL;
  }
  if (dim_is_const(hi, &b) && dim_is_const(n, &len) && b > len) hi = n;
  if (dim_is_const(lo, &a) && dim_is_const(hi, &b) && b < a) return dim_const(C->L, 0);
  Dim *diff = dim_sub(C->L, hi, lo);
  return s == 1 ? diff : dim_floordiv(C->L, dim_add(C->L, diff, dim_const(C->L, s - 1)), st);
}

static Type *index_tensor(Chk *C, Node *ix, Type *x) {
  Dim *d[NNC_MAX_RANK];
  int r = 0, ax = 0, used = count_axes(ix), ell = 0;
  for (int i = 1; i < ix->nkids; i++)
    if (ix->kids[i]->kind == N_ELLIPSIS && ell++) {
      diag_error(C->L, ix->kids[i]->span, "only one '...' per subscript");
      return type_error();
    }
  if (used > x->rank) {
    diag_error(C->L, ix->span, "too many indices (%d) for %s", used, type_str_of(x));
    return type_error();
  }
  int nnone = 0, nint = 0;
  for (int i = 1; i < ix->nkids; i++) {
    NodeKind k = ix->kids[i]->kind;
    nnone += k == N_NONE;
    nint += k != N_NONE && k != N_SLICE && k != N_ELLIPSIS;
  }
  if (x->rank - nint + nnone > NNC_MAX_RANK) {
    diag_error(C->L, ix->span, "the result would have more than %d dimensions", NNC_MAX_RANK);
    return type_error();
  }
  for (int i = 1; i < ix->nkids; i++) {
    Node *s = ix->kids[i];
    if (s->kind == N_NONE) {
      d[r++] = dim_const(C->L, 1);
    } else if (s->kind == N_ELLIPSIS) {
      for (int k = 0; k < x->rank - used && r < NNC_MAX_RANK; k++) d[r++] = x->dims[ax++];
    } else if (s->kind == N_SLICE) {
      Dim *len = slice_len(C, s, x->dims[ax++]);
      if (!len) return type_error();
      d[r++] = len;
    } else {
      Type *t = chk_expr(C, s);
      if (type_is_err(t)) return type_error();
      if (t->kind == TY_TENSOR) {
        diag_error(C->L, s->span, "indexing with a tensor (%s) is gather/take, not a subscript", type_str_of(t));
        return type_error();
      }
      if (!is_int_scalar(t) || !CT(t)->ival) {
        diag_error(C->L, s->span, "index must be a compile-time int, got %s", type_str_of(t));
        return type_error();
      }
      int64_t v, n;
      if (dim_is_const(CT(t)->ival, &v) && dim_is_const(x->dims[ax], &n) && (v >= n || v < -n)) {
        diag_error(C->L, s->span, "index %lld is out of range for axis %d of %s", (long long)v, ax, type_str_of(x));
        return type_error();
      }
      ax++;
    }
  }
  while (ax < x->rank && r < NNC_MAX_RANK) d[r++] = x->dims[ax++];
  return type_tensor(C->L, x->dtype, r, d);
}

/* tuple[i], list[i]: compile-time index into an aggregate. */
static Type *index_aggregate(Chk *C, Node *ix, Type *x) {
  if (ix->nkids != 2) {
    diag_error(C->L, ix->span, "%s takes one index", type_str_of(x));
    return type_error();
  }
  Dim *i = chk_const_int(C, ix->kids[1], "index");
  int64_t v;
  if (!i) return type_error();
  if (!dim_is_const(i, &v)) {
    if (x->kind == TY_LIST && x->nelems == 1 && CT(x)->ival) return x->elems[0]; /* symbolic-length list */
    diag_error(C->L, ix->kids[1]->span, "index must be a constant, got %s", dim_str(i));
    return type_error();
  }
  if (v < 0) v += x->nelems;
  if (v < 0 || v >= x->nelems) {
    if (x->kind == TY_LIST && CT(x)->ival) return x->elems[0];
    diag_error(C->L, ix->kids[1]->span, "index %lld is out of range for %s", (long long)v, type_str_of(x));
    return type_error();
  }
  return x->elems[v];
}

Type *chk_index(Chk *C, Node *ix) {
  Type *x = chk_expr(C, kid(ix, 0));
  if (type_is_err(x)) return type_error();
  if (x->kind == TY_TENSOR) return index_tensor(C, ix, x);
  if (x->kind == TY_TUPLE || x->kind == TY_LIST) return index_aggregate(C, ix, x);
  diag_error(C->L, ix->span, "%s cannot be subscripted", type_str_of(x));
  return type_error();
}

/* ---------------------------------------------------------------- scan */

static int elems_of(Type *t, Type **out, int max) {
  if (t->kind == TY_TUPLE) {
    int n = t->nelems < max ? t->nelems : max;
    for (int i = 0; i < n; i++) out[i] = t->elems[i];
    return n;
  }
  out[0] = t;
  return 1;
}

static Node *elem_node(Node *n, int i) {
  return n && n->kind == N_TUPLE && i < n->nkids ? n->kids[i] : n;
}

static int find_axis(Type *t, Dim *along) {
  for (int i = 0; i < t->rank; i++)
    if (dim_equal(t->dims[i], along)) return i;
  return -1;
}

static Type *drop_axis(Chk *C, Type *t, int ax) {
  Dim *d[NNC_MAX_RANK];
  for (int i = 0, j = 0; i < t->rank; i++)
    if (i != ax) d[j++] = t->dims[i];
  return type_tensor(C->L, t->dtype, t->rank - 1, d);
}

static Type *insert_axis(Chk *C, Type *t, int ax, Dim *len) {
  if (t->kind != TY_TENSOR || t->rank >= NNC_MAX_RANK) return t;
  if (ax > t->rank) ax = t->rank;
  Dim *d[NNC_MAX_RANK];
  for (int i = 0, j = 0; i <= t->rank; i++) d[i] = i == ax ? len : t->dims[j++];
  return type_tensor(C->L, t->dtype, t->rank + 1, d);
}

/* Applies the step function to the per-step argument types. */
static Type *apply_step(Chk *C, Node *scan, Type *st, Type **args, int n) {
  if (type_is_err(st)) return type_error();
  if (st->kind == TY_FN && st->decl && st->decl->kind == N_FN) {
    if (!st->decl->name) return chk_lambda_apply(C, scan, st->decl, args, n);
    if (fn_nargs(st->decl) != n) {
      Diag *d = diag_error(C->L, kid(scan, 0)->span, "scan step '%s' takes %d argument%s, but the scan passes %d (inputs, then carries)",
                           st->decl->name, fn_nargs(st->decl), fn_nargs(st->decl) == 1 ? "" : "s", n);
      diag_note(C->L, d, st->decl->span, "'%s' declared here", st->decl->name);
      return type_error();
    }
    return chk_fn_call(C, scan, st->decl, CT(st)->self, NULL, n, args);
  }
  if (st->kind == TY_MODULE) {
    Scope *ms = chk_module_scope(C, st);
    Sym *f = ms ? scope_find_local(ms, "step") : NULL;
    if (!f) f = ms ? scope_find_local(ms, "forward") : NULL;
    if (f && f->kind == SYM_FN) {
      Type *ft = chk_member_of(C, st, f);
      return apply_step(C, scan, ft, args, n);
    }
  }
  diag_error(C->L, kid(scan, 0)->span, "scan step must be a function, got %s", type_str_of(st));
  return type_error();
}

static int carry_check(Chk *C, Node *scan, Type *st, Type *init, Type *got, int i) {
  if (type_equal(init, got)) return 1;
  Node *in = elem_node(kid(scan, 3), i);
  Diag *d = diag_error(C->L, in->span, "scan carry changes shape: %s from here, %s returned by step",
                       type_str_of(init), type_str_of(got));
  Node *fn = st->kind == TY_FN ? st->decl : NULL;
  if (fn && fn->name) diag_note(C->L, d, fn->span, "'%s' returns %s", fn->name, type_str_of(got));
  else diag_note(C->L, d, kid(scan, 0)->span, "the step returns %s", type_str_of(got));
  return 0;
}

Type *chk_scan(Chk *C, Node *scan) {
  Node *stepn = kid(scan, 0), *overn = kid(scan, 1), *alongn = kid(scan, 2), *initn = kid(scan, 3);
  Type *st = chk_expr(C, stepn);
  Type *ov = overn ? chk_expr(C, overn) : NULL, *init = chk_expr(C, initn);
  Dim *along = chk_const_int(C, alongn, "scan length (along)");
  if (type_is_err(st) || (ov && type_is_err(ov)) || type_is_err(init) || !along) return type_error();
  Type *xs[16], *carry[16], *args[32];
  int nx = ov ? elems_of(ov, xs, 16) : 0, nc = elems_of(init, carry, 16), na = 0, stack_ax = -1;
  for (int i = 0; i < nx; i++) {
    int ax = xs[i]->kind == TY_TENSOR ? find_axis(xs[i], along) : -1;
    if (ax < 0) {
      diag_error(C->L, elem_node(overn, i)->span, "scan input %s has no axis %s", type_str_of(xs[i]), dim_str(along));
      return type_error();
    }
    if (stack_ax < 0) stack_ax = ax;
    args[na++] = drop_axis(C, xs[i], ax);
  }
  for (int i = 0; i < nc; i++) args[na++] = carry[i];
  Type *r = apply_step(C, scan, st, args, na);
  if (type_is_err(r)) return type_error();
  Type *res[16];
  int nr = (init->kind != TY_TUPLE && r->kind == TY_TUPLE) || init->kind == TY_TUPLE ? elems_of(r, res, 16) : elems_of(r, res, 1);
  if (init->kind != TY_TUPLE && r->kind != TY_TUPLE) nr = 1, res[0] = r;
  if (nr < nc) {
    diag_error(C->L, stepn->span, "scan step returns %s but the carry is %s", type_str_of(r), type_str_of(init));
    return type_error();
  }
  for (int i = 0; i < nc; i++)
    if (!carry_check(C, scan, st, carry[i], res[i], i)) return type_error();
  /* without `over`: after the batch axis when the carry is batched ([B, H]), else first */
  int batched = carry[0]->kind == TY_TENSOR && carry[0]->rank >= 2;
  Type *out[16];
  for (int i = 0; i < nr; i++) {
    int ax = stack_ax >= 0 ? stack_ax : batched ? 1 : 0;  /* insert_axis clamps to the rank */
    if (res[i]->kind != TY_TENSOR || res[i]->rank >= NNC_MAX_RANK) {
      diag_error(C->L, stepn->span, "scan: per-step value %s cannot be stacked (a tensor of at most %d dimensions)",
                 type_str_of(res[i]), NNC_MAX_RANK - 1);
      return type_error();
    }
    out[i] = insert_axis(C, res[i], ax, along);
  }
  return nr == 1 ? out[0] : type_tuple(C->L, nr, out);
}
