/* check.c — the checker's entry (lang_check): files, imports, declarations, modules and
 * functions.
 *
 * Each file gets a scope above the built-ins; declarations are entered first (so that
 * order does not matter between top-level items), then checked: consts, modules (their
 * members in declaration order, then every function), functions, externs, gradient
 * rules, training blocks. A module is checked once, generically: hyper-parameters are
 * symbols, so `param W: f32[4*hidden, input]` is a polynomial shape; an instance
 * (Linear(784, 256)) substitutes its values wherever a member is used.
 */
#include <string.h>

#include "check.h"

static Node *kid(const Node *n, int i) {
  return n && i < n->nkids ? n->kids[i] : NULL;
}

/* ---------------------------------------------------------------- declarations */

Sym *chk_declare(Chk *C, Scope *s, Node *decl, const char *name, SymKind k, Type *t) {
  if (!name) return NULL;
  Sym *old = scope_find_local(s, name);
  if (old) {
    Diag *d = diag_error(C->L, decl->span, "duplicate definition of '%s'", name);
    if (old->decl) diag_note(C->L, d, old->decl->span, "previous definition here");
    return NULL;
  }
  if (bi_find(name) && name[0] != '_')
    diag_warning(C->L, decl->span, "'%s' shadows a built-in op", name);
  return scope_add(C->L, s, name, k, t, decl);
}

static Type *fn_value(Chk *C, Node *decl, Type *self) {
  Type *t = type_new(C->L, TY_FN);
  t->decl = decl;
  CT(t)->self = self;
  return t;
}

/* ---------------------------------------------------------------- written types */

static Type *ann_dim_type(Chk *C, Node *e, Dim **out) {
  int saved = C->dim_ctx;
  C->dim_ctx = 1;
  Type *t = chk_expr(C, e);
  C->dim_ctx = saved;
  if (type_is_err(t)) return t;
  if (t->kind != TY_SCALAR || t->scalar != ST_INT || !CT(t)->ival) {
    if (e->kind == N_NAME && e->sym && e->sym->decl)
      diag_note(C->L, diag_error(C->L, e->span, "'%s' is %s, not a dimension; give the dimension another name", e->name,
                                 type_str_of(t)), e->sym->decl->span, "'%s' declared here", e->name);
    else
      diag_error(C->L, e->span, "a dimension must be a compile-time int, got %s", type_str_of(t));
    return type_error();
  }
  *out = CT(t)->ival;
  return t;
}

Type *chk_type_of_ann(Chk *C, Node *ann, int generic) {
  if (!ann) return type_error();
  int saved = C->generic;
  C->generic = generic;
  Type *r = type_error();
  if (ann->kind == N_TTENSOR && ann->op == DT_BOOL && !ann->ival && ann->nkids == 0) {
    r = type_bool(C->L, 0, 0);  /* `bool` alone is a compile-time bool; `bool[]` a tensor */
  } else if (ann->kind == N_TTENSOR) {
    Dim *d[NNC_MAX_RANK];
    int ok = ann->nkids <= NNC_MAX_RANK;
    if (!ok) diag_error(C->L, ann->span, "a tensor type has at most %d dimensions", NNC_MAX_RANK);
    for (int i = 0; ok && i < ann->nkids; i++) ok = !type_is_err(ann_dim_type(C, ann->kids[i], &d[i]));
    if (ok) r = type_tensor(C->L, (DType)ann->op, ann->nkids, d);
  } else if (ann->kind == N_TTUPLE) {
    Type *el[32];
    int ok = ann->nkids <= 32;
    for (int i = 0; ok && i < ann->nkids; i++) ok = !type_is_err(el[i] = chk_type_of_ann(C, ann->kids[i], generic));
    if (ok) r = type_tuple(C->L, ann->nkids, el);
  } else if (ann->kind == N_TSCALAR) {
    ScalarType st = (ScalarType)ann->op;
    r = st == ST_INT ? type_int(C->L, NULL) : st == ST_FLOAT ? type_float(C->L, 0, 0)
      : st == ST_BOOL ? type_bool(C->L, 0, 0) : type_str(C->L, NULL);
  }
  C->generic = saved;
  ann->type = r;
  return r;
}

/* ---------------------------------------------------------------- instances */

int chk_inst_map(Chk *C, Type *inst, const char **names, Dim **vals, int max) {
  Node *mod = inst->decl;
  int n = 0;
  for (int i = 0; i < mod->op && i < CT(inst)->nh && n < max; i++) {
    Type *h = CT(inst)->hvals[i];
    names[n] = mod->kids[i]->name;
    vals[n++] = h && h->kind == TY_SCALAR && h->scalar == ST_INT ? CT(h)->ival : NULL;
  }
  return n;
}

static Type *subst_inst(Chk *C, Type *t, int n, const char **names, Dim **vals) {
  if (!t) return t;
  if (t->kind == TY_MODULE) {
    Type *r = type_new(C->L, TY_MODULE);
    r->decl = t->decl;
    CT(r)->nh = CT(t)->nh;
    CT(r)->hvals = lang_alloc(C->L, sizeof(Type *) * (CT(t)->nh ? CT(t)->nh : 1));
    if (!CT(r)->hvals) return type_error();
    for (int i = 0; i < CT(t)->nh; i++)
      CT(r)->hvals[i] = type_subst(C->L, CT(t)->hvals[i], n, names, (Dim *const *)vals);
    return r;
  }
  if (t->kind == TY_LIST) {
    Type *r = type_new(C->L, TY_LIST);
    *CT(r) = *CT(t);
    r->elems = lang_alloc(C->L, sizeof(Type *) * (t->nelems ? t->nelems : 1));
    if (!r->elems) return type_error();
    for (int i = 0; i < t->nelems; i++) r->elems[i] = subst_inst(C, t->elems[i], n, names, vals);
    return r;
  }
  return type_subst(C->L, t, n, names, (Dim *const *)vals);
}

/* Instances whose hyper-parameters could not be known generically (a list of symbolic
 * length, `i == 0 ? d : h` with a symbolic i) */
static int partial_instances(const Type *t) {
  if (!t) return 0;
  if (t->kind == TY_LIST) {
    if (CT(t)->ival) return 1;
    for (int i = 0; i < t->nelems; i++)
      if (partial_instances(t->elems[i])) return 1;
  }
  if (t->kind == TY_MODULE)
    for (int i = 0; i < CT(t)->nh; i++) {
      const Type *h = CT(t)->hvals[i];
      if (!h || (h->kind == TY_SCALAR && h->scalar == ST_INT && !CT(h)->ival)) return 1;
    }
  return 0;
}

static int all_known(Type *inst) {
  for (int i = 0; i < CT(inst)->nh; i++) {
    Type *h = CT(inst)->hvals[i];
    int64_t v;
    if (!h || (h->kind == TY_SCALAR && h->scalar == ST_INT && !(CT(h)->ival && dim_is_const(CT(h)->ival, &v))))
      return 0;
  }
  return 1;
}

/* Re-evaluates a sub-module field of a concrete instance with its hyper-parameters'
 * values in scope (unrolls `[Linear(...) for i in 0..n]` for this n). */
static Type *field_of_instance(Chk *C, Type *inst, Sym *y) {
  Node *mod = inst->decl;
  Scope *saved = C->scope;
  C->scope = scope_push(C->L, mod->sym->home, 0);
  for (int i = 0; i < mod->op; i++) scope_add(C->L, C->scope, mod->kids[i]->name, SYM_HPARAM, CT(inst)->hvals[i], NULL);
  Type *t = chk_expr(C, y->decl->kids[0]);
  C->scope = saved;
  return t;
}

Type *chk_member_of(Chk *C, Type *inst, Sym *y) {
  const char *names[32];
  Dim *vals[32];
  int n = chk_inst_map(C, inst, names, vals, 32);
  if (y->kind == SYM_FN) return fn_value(C, y->decl, inst);
  if (y->kind == SYM_FIELD && partial_instances(y->type) && all_known(inst) && y->decl && y->decl->nkids)
    return field_of_instance(C, inst, y);
  if (y->kind == SYM_HPARAM)
    for (int i = 0; i < inst->decl->op && i < CT(inst)->nh; i++)
      if (!strcmp(inst->decl->kids[i]->name, y->name)) return CT(inst)->hvals[i];
  return subst_inst(C, y->type, n, names, vals);
}

/* ---------------------------------------------------------------- modules */

static const char *init_names[] = {"zeros", "ones", "glorot", "xavier", "he", "orthogonal", "normal",
                                   "uniform", "constant", "eye", "identity", "data_init", NULL};

static int is_init_name(const char *n) {
  for (int i = 0; init_names[i]; i++)
    if (!strcmp(init_names[i], n)) return 1;
  return 0;
}

/* `= glorot`, `= normal(0, 0.01)`, `= 0.5`: initializers take compile-time numbers. */
static void check_init(Chk *C, Node *init) {
  if (!init) return;
  Node *callee = init->kind == N_CALL ? kid(init, 0) : init;
  if (init->kind == N_INT || init->kind == N_FLOAT || (init->kind == N_UNARY)) {
    chk_expr(C, init);
    return;
  }
  if (!callee || callee->kind != N_NAME || !is_init_name(callee->name)) {
    diag_error(C->L, init->span, "unknown initializer; expected zeros, ones, glorot, he, orthogonal, normal(mean, std), "
               "uniform(lo, hi), constant(v), eye, identity(scale) or data_init");
    return;
  }
  for (int i = 1; init->kind == N_CALL && i < init->nkids; i++) {
    Node *a = init->kids[i]->kind == N_KWARG ? kid(init->kids[i], 0) : init->kids[i];
    Type *t = chk_expr(C, a);
    if (!type_is_err(t) && (t->kind != TY_SCALAR || (t->scalar != ST_INT && t->scalar != ST_FLOAT)))
      diag_error(C->L, a->span, "initializer arguments must be compile-time numbers, got %s", type_str_of(t));
  }
  init->type = type_object(C->L, "init");
}

static void member_param(Chk *C, Node *m, Scope *s) {
  C->in_param = 1;
  Type *t = chk_type_of_ann(C, kid(m, 0), 0);
  C->in_param = 0;
  if (!type_is_err(t) && t->kind != TY_TENSOR) {
    diag_error(C->L, m->span, "%s '%s' must be a tensor, got %s", m->kind == N_PARAM ? "param" : "buffer", m->name,
               type_str_of(t));
    t = type_error();
  }
  check_init(C, kid(m, 1));
  m->type = t;
  chk_declare(C, s, m, m->name, m->kind == N_PARAM ? SYM_PARAM : SYM_BUFFER, t);
}

static int is_instances(Type *t) {
  if (t->kind == TY_MODULE) return 1;
  if (t->kind != TY_LIST) return 0;
  for (int i = 0; i < t->nelems; i++)
    if (t->elems[i]->kind != TY_MODULE) return 0;
  return 1;
}

static void member_field(Chk *C, Node *m, Scope *s) {
  Type *t = chk_expr(C, kid(m, 0));
  if (!type_is_err(t) && !is_instances(t)) {
    diag_error(C->L, kid(m, 0)->span, "a module member must be a sub-module or a list of them, got %s; use const or param",
               type_str_of(t));
    t = type_error();
  }
  m->type = t;
  chk_declare(C, s, m, m->name, SYM_FIELD, t);
}

static void member_const(Chk *C, Node *m, Scope *s) {
  Sym *y = chk_declare(C, s, m, m->name, SYM_CONST, type_error());
  if (y) y->state = 1;
  Type *t = chk_expr(C, kid(m, 1));
  if (kid(m, 0) && !type_is_err(t)) {
    Type *want = chk_type_of_ann(C, kid(m, 0), 0);
    if (!type_is_err(want) && !(want->kind == TY_SCALAR && t->kind == TY_SCALAR && want->scalar == t->scalar) &&
        !type_equal(want, t))
      diag_error(C->L, kid(m, 1)->span, "const '%s' is declared %s but its value is %s", m->name, type_str_of(want),
                 type_str_of(t));
  }
  if (!type_is_err(t) && t->kind != TY_SCALAR)
    diag_error(C->L, kid(m, 1)->span, "const '%s' must be a compile-time scalar, got %s", m->name, type_str_of(t)),
        t = type_error();
  m->type = t;
  if (y) y->type = t, y->state = 2;
}

static Sym *new_fn_sym(Chk *C, Scope *s, Node *fn, Node *module, Type *self) {
  Sym *y = chk_declare(C, s, fn, fn->name, fn->kind == N_EXTERN ? SYM_EXTERN : SYM_FN, fn_value(C, fn, self));
  if (!y) {
    /* a duplicate still gets checked, through a detached symbol */
    y = lang_alloc(C->L, sizeof *y);
    if (!y) return NULL;
    y->name = fn->name;
    y->kind = SYM_FN;
    y->decl = fn;
  }
  y->home = s;
  y->module = module;
  fn->sym = y;
  fn->type = y->type ? y->type : fn_value(C, fn, self);
  return y;
}

static void declare_hparams(Chk *C, Node *mod, Scope *s, Type **hv) {
  for (int i = 0; i < mod->op; i++) {
    Node *h = mod->kids[i];
    Node *ty = kid(h, 0), *d = kid(h, 1);
    Type *dt = d ? chk_expr(C, d) : NULL;
    Type *tt = ty ? chk_type_of_ann(C, ty, 0) : NULL;
    ScalarType st = tt && tt->kind == TY_SCALAR ? tt->scalar : dt && dt->kind == TY_SCALAR ? dt->scalar : ST_INT;
    if (tt && tt->kind != TY_SCALAR)
      diag_error(C->L, ty->span, "hyper-parameter '%s' must be int, float, bool or str", h->name);
    else if (dt && !type_is_err(dt) && (dt->kind != TY_SCALAR || (dt->scalar != st && !(st == ST_FLOAT && dt->scalar == ST_INT))))
      diag_error(C->L, d->span, "default of hyper-parameter '%s' must be a compile-time %s, got %s", h->name,
                 st == ST_INT ? "int" : st == ST_FLOAT ? "float" : st == ST_BOOL ? "bool" : "str", type_str_of(dt));
    Type *t = st == ST_INT ? type_int(C->L, dim_sym(C->L, h->name)) : st == ST_FLOAT ? type_float(C->L, 0, 0)
            : st == ST_BOOL ? type_bool(C->L, 0, 0) : type_str(C->L, NULL);
    h->type = t;
    hv[i] = t;
    chk_declare(C, s, h, h->name, SYM_HPARAM, t);
  }
}

/* Builds the members' scope of module `mod` (once) and checks its member declarations. */
static Scope *build_module(Chk *C, Node *mod) {
  Sym *ms = mod->sym;
  if (!ms) return NULL;
  if (ms->members || ms->state) return ms->members;
  ms->state = 1;
  Scope *saved = C->scope;
  Type *saved_self = C->self;
  Scope *s = scope_push(C->L, ms->home, 0);
  C->scope = s;
  Type **hv = lang_alloc(C->L, sizeof(Type *) * (mod->op ? mod->op : 1));
  Type *self = type_new(C->L, TY_MODULE);
  self->decl = mod;
  CT(self)->hvals = hv;
  CT(self)->nh = mod->op;
  ms->self = self;
  C->self = self;
  declare_hparams(C, mod, s, hv);
  for (int i = mod->op; i < mod->nkids; i++)
    if (mod->kids[i]->kind == N_FN) new_fn_sym(C, s, mod->kids[i], mod, self);
  for (int i = mod->op; i < mod->nkids; i++) {
    Node *m = mod->kids[i];
    if (m->kind == N_PARAM || m->kind == N_BUFFER) member_param(C, m, s);
    else if (m->kind == N_FIELD) member_field(C, m, s);
    else if (m->kind == N_CONST) member_const(C, m, s);
  }
  ms->members = s;
  C->scope = saved;
  C->self = saved_self;
  return s;
}

Scope *chk_module_scope(Chk *C, Type *inst) {
  if (!inst || !inst->decl || inst->decl->kind != N_MODULE) return NULL;
  return build_module(C, inst->decl);
}

/* ---------------------------------------------------------------- functions */

typedef struct FnSave {
  Scope *scope;
  Node *fn, *fn_ret_node;
  Type *fn_ret, *ret_seen, *self;
  int generic, dim_ctx, ngen;
  const char *gen[32];
} FnSave;

static void fn_enter(Chk *C, FnSave *sv, Scope *home, Node *fn, Type *self) {
  sv->scope = C->scope, sv->fn = C->fn, sv->fn_ret_node = C->fn_ret_node;
  sv->fn_ret = C->fn_ret, sv->ret_seen = C->ret_seen, sv->self = C->self;
  sv->generic = C->generic, sv->dim_ctx = C->dim_ctx, sv->ngen = C->ngen;
  memcpy(sv->gen, C->gen, sizeof sv->gen);
  C->scope = scope_push(C->L, home, 1);
  C->fn = fn;
  C->fn_ret = NULL;
  C->fn_ret_node = NULL;
  C->ret_seen = NULL;
  C->self = self;
  C->generic = 0;
  C->dim_ctx = 0;
  C->ngen = 0;
}

static void fn_leave(Chk *C, FnSave *sv) {
  scope_pop_warn(C->L, C->scope);
  C->scope = sv->scope, C->fn = sv->fn, C->fn_ret_node = sv->fn_ret_node;
  C->fn_ret = sv->fn_ret, C->ret_seen = sv->ret_seen, C->self = sv->self;
  C->generic = sv->generic, C->dim_ctx = sv->dim_ctx, C->ngen = sv->ngen;
  memcpy(C->gen, sv->gen, sizeof sv->gen);
}

static int first_arg(const Node *fn) {
  return fn->kind == N_FN ? 2 : 1;
}

/* Types one argument: generic dims of its annotation become symbols of the function;
 * an int argument is itself a compile-time symbol. */
static Type *arg_type(Chk *C, Node *fn, Node *a) {
  Node *ty = kid(a, 0);
  if (!ty) {
    diag_error(C->L, a->span, "argument '%s' of '%s' needs a type", a->name, fn->name ? fn->name : "fn");
    return type_error();
  }
  Type *t = chk_type_of_ann(C, ty, 1);
  if (t->kind == TY_SCALAR && t->scalar == ST_INT) {
    t = type_int(C->L, dim_sym(C->L, a->name));
    if (C->ngen < 32) C->gen[C->ngen++] = a->name;
  }
  if (kid(a, 1)) {
    Type *d = chk_expr(C, kid(a, 1));
    if (!type_is_err(d) && !type_is_err(t) && d->kind != TY_SCALAR)
      diag_error(C->L, kid(a, 1)->span, "a default must be a compile-time scalar, got %s", type_str_of(d));
  }
  return t;
}

static int is_int_arg(const Node *a) {
  const Node *ty = a->nkids ? a->kids[0] : NULL;
  return ty && ty->kind == N_TSCALAR && ty->op == ST_INT;
}

/* int arguments first, so that `fn f(x: f32[B, k], k: int)` finds k declared */
static void check_args(Chk *C, Node *fn, Sym *fs) {
  int n = fn->nkids - first_arg(fn);
  fs->nargs = n;
  fs->argt = lang_alloc(C->L, sizeof(Type *) * (n ? n : 1));
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < n && fs->argt; i++) {
      Node *a = fn->kids[first_arg(fn) + i];
      if (is_int_arg(a) != (pass == 0)) continue;
      Type *t = arg_type(C, fn, a);
      a->type = t;
      fs->argt[i] = t;
      chk_declare(C, C->scope, a, a->name, SYM_ARG, t);
    }
  if (fn->kind == N_EXTERN)  /* host functions: arguments are not "unused" */
    for (Sym *y = C->scope->syms; y; y = y->next) y->used = 1;
}

static void check_ret_decl(Chk *C, Node *fn, Sym *fs) {
  Node *r = kid(fn, 0);
  if (!r) return;
  Type *t = chk_type_of_ann(C, r, fn->kind == N_EXTERN);
  fs->ret = t;
  C->fn_ret = t;
  C->fn_ret_node = r;
}

static Type *check_body(Chk *C, Node *fn) {
  Node *body = kid(fn, 1);
  if (!body) return type_error();
  if (body->kind == N_BLOCK) {
    chk_block(C, body);
    if (!chk_block_returns(body)) {
      diag_error(C->L, fn->span, "function '%s' must end with a return", fn->name ? fn->name : "(lambda)");
      return type_error();
    }
    return C->fn_ret ? C->fn_ret : C->ret_seen ? C->ret_seen : type_error();
  }
  Type *t = chk_expr(C, body);
  if (C->fn_ret && !type_is_err(t) && !type_is_err(C->fn_ret) && !type_equal(t, C->fn_ret)) {
    Diag *d = diag_error(C->L, body->span, "'%s' returns %s but is declared to return %s", fn->name ? fn->name : "fn",
                         type_str_of(t), type_str_of(C->fn_ret));
    diag_note(C->L, d, C->fn_ret_node->span, "return type declared here");
  }
  return C->fn_ret ? C->fn_ret : t;
}

static Type *check_fn(Chk *C, Node *fn) {
  Sym *fs = fn->sym;
  FnSave sv;
  Type *self = fs->module && fs->module->sym ? fs->module->sym->self : NULL;
  fs->state = 1;
  fn_enter(C, &sv, fs->home, fn, self);
  check_args(C, fn, fs);
  check_ret_decl(C, fn, fs);
  Type *r;
  if (fn->kind == N_EXTERN) {
    r = fs->ret;
    if (!kid(fn, 0)) {
      diag_error(C->L, fn->span, "extern fn '%s' needs a return type", fn->name);
      r = type_error();
    }
  } else {
    r = check_body(C, fn);
  }
  fs->ret = r;
  fs->ngen = C->ngen;
  fs->gen = lang_alloc(C->L, sizeof(char *) * (C->ngen ? C->ngen : 1));
  if (fs->gen) memcpy(fs->gen, C->gen, sizeof(char *) * C->ngen);
  fn_leave(C, &sv);
  fs->state = 2;
  return r;
}

Type *chk_fn_result(Chk *C, Node *fn, Type *self) {
  Sym *fs = fn ? fn->sym : NULL;
  if (!fs) return type_error();
  if (fs->state == 2) return fs->ret ? fs->ret : type_error();
  if (fs->state == 1) {
    if (fs->ret && fs->argt) return fs->ret;
    diag_error(C->L, fn->span, "recursive function '%s' needs a declared return type", fn->name);
    return type_error();
  }
  if (fs->module) build_module(C, fs->module);
  return check_fn(C, fn);
}

Type *chk_lambda_apply(Chk *C, Node *at, Node *fn, Type *const *args, int n) {
  int na = fn->nkids - 2;
  if (na != n) {
    diag_error(C->L, fn->span, "this lambda takes %d argument%s, but the scan passes %d (inputs, then carries)", na,
               na == 1 ? "" : "s", n);
    return type_error();
  }
  FnSave sv;
  fn_enter(C, &sv, C->scope, fn, C->self);
  for (int i = 0; i < n; i++) {
    Node *a = fn->kids[2 + i];
    Type *t = args[i];
    if (kid(a, 0)) {
      Type *w = chk_type_of_ann(C, kid(a, 0), 0);
      if (!type_is_err(w) && !type_equal(w, t))
        diag_error(C->L, a->span, "lambda argument '%s' is declared %s but receives %s", a->name, type_str_of(w),
                   type_str_of(t));
    }
    a->type = t;
    chk_declare(C, C->scope, a, a->name, SYM_ARG, t);
  }
  check_ret_decl(C, fn, &(Sym){0});
  Type *r = check_body(C, fn);
  fn_leave(C, &sv);
  fn->type = r;
  return r;
}

/* ---------------------------------------------------------------- gradient rules */

static Sym *grad_target(Chk *C, Node *g, Scope *s) {
  Sym *f = scope_lookup(s, g->name);
  if (!f || (f->kind != SYM_FN && f->kind != SYM_EXTERN)) {
    diag_error(C->L, g->span, "gradient rule for unknown function '%s'", g->name);
    return NULL;
  }
  f->used = 1;
  if (type_is_err(chk_fn_result(C, f->decl, NULL))) return NULL;
  return f;
}

static void check_grad_result(Chk *C, Node *g, Sym *f, Type *r) {
  if (type_is_err(r)) return;
  Type *want = f->nargs == 1 ? f->argt[0] : type_tuple(C->L, f->nargs, f->argt);
  if (type_equal(r, want)) return;
  Diag *d = diag_error(C->L, g->span, "gradient rule for '%s' must return %s (one gradient per argument), got %s",
                       g->name, type_str_of(want), type_str_of(r));
  diag_note(C->L, d, f->decl->span, "'%s' declared here", g->name);
}

static void check_grad(Chk *C, Node *g, Scope *home, Node *module) {
  Sym *f = grad_target(C, g, home);
  if (!f) return;
  int na = g->nkids - 1;
  if (na != f->nargs + 1) {
    Diag *d = diag_error(C->L, g->span, "gradient rule for '%s' takes %d arguments (its %d and the output gradient), got %d",
                         g->name, f->nargs + 1, f->nargs, na);
    diag_note(C->L, d, f->decl->span, "'%s' declared here", g->name);
    return;
  }
  FnSave sv;
  Type *self = module && module->sym ? module->sym->self : NULL;
  fn_enter(C, &sv, home, g, self);
  for (int i = 0; i < na; i++) {
    Node *a = g->kids[1 + i];
    Type *t = i < f->nargs ? f->argt[i] : f->ret;
    for (int k = 0; i < f->nargs && k < f->ngen; k++)  /* generic dims of f are in scope */
      if (!scope_find_local(C->scope, f->gen[k]))
        scope_add(C->L, C->scope, f->gen[k], SYM_DIM, type_int(C->L, dim_sym(C->L, f->gen[k])), NULL);
    if (kid(a, 0)) {
      Type *w = chk_type_of_ann(C, kid(a, 0), 1);
      if (!type_is_err(w) && !type_equal(w, t))
        diag_error(C->L, a->span, "argument '%s' of the gradient rule is declared %s but '%s' gives %s", a->name,
                   type_str_of(w), g->name, type_str_of(t));
    }
    a->type = t;
    Sym *y = chk_declare(C, C->scope, a, a->name, SYM_ARG, t);
    if (y) y->used = 1;  /* a rule may ignore an argument (grad f(x, dy) = dy) */
  }
  Node *body = kid(g, 0);
  Type *r;
  if (body && body->kind == N_BLOCK) {
    chk_block(C, body);
    r = chk_block_returns(body) ? C->ret_seen : type_error();
    if (!chk_block_returns(body)) diag_error(C->L, g->span, "gradient rule for '%s' must end with a return", g->name);
  } else {
    r = chk_expr(C, body);
  }
  fn_leave(C, &sv);
  g->type = r;
  check_grad_result(C, g, f, r);
}

/* ---------------------------------------------------------------- files */

static const char *import_binding(Chk *C, Node *imp) {
  if (imp->str) return imp->str;
  const char *p = imp->name ? imp->name : "";
  size_t n = strlen(p);
  if (n > 3 && !strcmp(p + n - 3, ".nn")) n -= 3;
  size_t b = n;
  while (b > 0 && p[b - 1] != '.' && p[b - 1] != '/') b--;
  return lang_intern(C->L, p + b, n - b);
}

static void check_file(Chk *C, Node *file);

static void declare_import(Chk *C, Node *imp, Scope *s) {
  Node *f = lang_import_file(C->L, imp);
  Type *t = type_error();
  if (f) {
    check_file(C, f);
    t = type_new(C->L, TY_NAMESPACE);
    CT(t)->file = f;
  }
  imp->type = t;
  Sym *y = chk_declare(C, s, imp, import_binding(C, imp), SYM_IMPORT, t);
  if (y) y->used = 1;
}

static void declare_top(Chk *C, Node *d, Scope *s) {
  switch (d->kind) {
  case N_IMPORT: declare_import(C, d, s); break;
  case N_MODULE: {
    Type *t = fn_value(C, d, NULL);
    Sym *y = chk_declare(C, s, d, d->name, SYM_MODULE, t);
    if (!y) y = lang_alloc(C->L, sizeof *y);
    if (y) y->home = s, y->decl = d, d->sym = y, d->type = t;
    break;
  }
  case N_FN:
  case N_EXTERN: new_fn_sym(C, s, d, NULL, NULL); break;
  default: break;
  }
}

static void check_module(Chk *C, Node *mod) {
  Scope *s = build_module(C, mod);
  if (!s) return;
  for (int i = mod->op; i < mod->nkids; i++) {
    Node *m = mod->kids[i];
    if (m->kind == N_FN && m->sym) chk_fn_result(C, m, NULL);
  }
  for (int i = mod->op; i < mod->nkids; i++)
    if (mod->kids[i]->kind == N_GRAD) check_grad(C, mod->kids[i], s, mod);
}

static void check_decls(Chk *C, Node *file, Scope *s) {
  for (int i = 0; i < file->nkids; i++)
    if (file->kids[i]->kind == N_CONST) member_const(C, file->kids[i], s);
  for (int i = 0; i < file->nkids; i++) {
    Node *d = file->kids[i];
    if (d->kind == N_MODULE) check_module(C, d);
    else if ((d->kind == N_FN || d->kind == N_EXTERN) && d->sym) chk_fn_result(C, d, NULL);
  }
  for (int i = 0; i < file->nkids; i++) {
    Node *d = file->kids[i];
    if (d->kind == N_GRAD) check_grad(C, d, s, NULL);
    else if (d->kind == N_TRAIN) chk_train(C, d);
  }
}

static void check_file(Chk *C, Node *file) {
  if (!file || file->sym) return;
  Sym *fy = lang_alloc(C->L, sizeof *fy);
  if (!fy) return;
  file->sym = fy;
  Scope *s = scope_push(C->L, C->builtins, 0);
  fy->members = s;
  Scope *saved = C->scope;
  C->scope = s;
  for (int i = 0; i < file->nkids; i++) declare_top(C, file->kids[i], s);
  check_decls(C, file, s);
  C->scope = saved;
}

static Scope *builtin_scope(Chk *C) {
  Scope *s = scope_push(C->L, NULL, 0);
  for (int i = 0; i < bi_count(); i++) {
    Type *t = type_new(C->L, TY_FN);
    CT(t)->builtin = i + 1;
    scope_add(C->L, s, lang_intern(C->L, bi_at(i)->name, strlen(bi_at(i)->name)), SYM_BUILTIN, t, NULL);
  }
  return s;
}

int lang_check(Lang *L, Node *file) {
  if (!L || !file) return L ? diag_error_count(L) : 1;
  Chk C;
  memset(&C, 0, sizeof C);
  C.L = L;
  C.builtins = builtin_scope(&C);
  C.scope = C.builtins;
  check_file(&C, file);
  return diag_error_count(L);
}
