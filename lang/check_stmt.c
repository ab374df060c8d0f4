/* check_stmt.c — statements: let (with patterns), var and assignment, return,
 * compile-time for and if, expression statements.
 *
 * A compile-time `for` with constant bounds is checked once per iteration (so that
 * `layers[i]` picks the right instance), stopping at the first iteration that reports an
 * error; with symbolic bounds the body is checked once with the index as a symbol.
 */
#include <string.h>

#include "check.h"

static Node *kid(const Node *n, int i) {
  return n && i < n->nkids ? n->kids[i] : NULL;
}

static void stmt(Chk *C, Node *s);

static void block_in_scope(Chk *C, Node *b) {
  for (int i = 0; i < b->nkids; i++) stmt(C, b->kids[i]);
}

void chk_block(Chk *C, Node *b) {
  if (!b) return;
  Scope *saved = C->scope;
  C->scope = scope_push(C->L, saved, 1);
  block_in_scope(C, b);
  scope_pop_warn(C->L, C->scope);
  C->scope = saved;
}

int chk_block_returns(Node *b) {
  if (!b || b->nkids == 0) return 0;
  Node *last = b->kids[b->nkids - 1];
  if (last->kind == N_RETURN) return 1;
  if (last->kind == N_BLOCK) return chk_block_returns(last);
  if (last->kind == N_IF) {
    Node *els = kid(last, 2);
    if (!els) return 0;
    Node *then = kid(last, 1);
    int t = then && then->kind == N_BLOCK ? chk_block_returns(then) : 0;
    int e = els->kind == N_IF ? chk_block_returns(&(Node){.kind = N_BLOCK, .kids = &els, .nkids = 1})
                              : chk_block_returns(els);
    return t && e;
  }
  return 0;
}

/* ---------------------------------------------------------------- patterns */

static int count_names(Node *pat) {
  return pat->kind == N_PTUPLE ? pat->nkids : 1;
}

void chk_bind_pattern(Chk *C, Node *pat, Type *t, SymKind k, Node *stmt_node) {
  if (pat->kind == N_PNAME) {
    pat->type = t;
    if (pat->name) chk_declare(C, C->scope, pat, pat->name, k, t);
    return;
  }
  if (type_is_err(t)) {
    for (int i = 0; i < pat->nkids; i++) chk_bind_pattern(C, pat->kids[i], type_error(), k, stmt_node);
    return;
  }
  if (t->kind != TY_TUPLE || t->nelems != pat->nkids) {
    diag_error(C->L, pat->span, "cannot destructure %s into %d names", type_str_of(t), count_names(pat));
    for (int i = 0; i < pat->nkids; i++) chk_bind_pattern(C, pat->kids[i], type_error(), k, stmt_node);
    return;
  }
  pat->type = t;
  for (int i = 0; i < pat->nkids; i++) chk_bind_pattern(C, pat->kids[i], t->elems[i], k, stmt_node);
}

/* ---------------------------------------------------------------- statements */

static int same_or_weak(Type *want, Type *got) {
  if (type_equal(want, got)) return 1;
  return want->kind == TY_SCALAR && got->kind == TY_SCALAR &&
         (want->scalar == got->scalar || (want->scalar == ST_FLOAT && got->scalar == ST_INT));
}

static void let_stmt(Chk *C, Node *s) {
  Node *pat = kid(s, 0), *ann = kid(s, 1), *val = kid(s, 2);
  Type *t = chk_expr(C, val);
  if (ann) {
    Type *want = chk_type_of_ann(C, ann, 0);
    if (!type_is_err(want) && !type_is_err(t) && !same_or_weak(want, t)) {
      Diag *d = diag_error(C->L, val->span, "value of type %s does not match the declared type %s", type_str_of(t),
                           type_str_of(want));
      diag_note(C->L, d, ann->span, "declared as %s here", type_str_of(want));
      t = type_error();
    } else if (!type_is_err(want)) {
      t = want->kind == TY_SCALAR ? t : want;
    }
  }
  s->type = t;
  chk_bind_pattern(C, pat, t, SYM_LET, s);
}

static void var_stmt(Chk *C, Node *s) {
  Node *ann = kid(s, 0), *val = kid(s, 1);
  Type *t = chk_expr(C, val);
  if (ann) {
    Type *want = chk_type_of_ann(C, ann, 0);
    if (!type_is_err(want) && !type_is_err(t) && !same_or_weak(want, t)) {
      Diag *d = diag_error(C->L, val->span, "value of type %s does not match the declared type %s", type_str_of(t),
                           type_str_of(want));
      diag_note(C->L, d, ann->span, "declared as %s here", type_str_of(want));
    }
    if (!type_is_err(want) && want->kind != TY_SCALAR) t = want;
  }
  s->type = t;
  chk_declare(C, C->scope, s, s->name, SYM_VAR, t);
}

static void assign_stmt(Chk *C, Node *s) {
  Type *t = chk_expr(C, kid(s, 0));
  Sym *y = scope_lookup(C->scope, s->name);
  if (!y) {
    diag_error(C->L, s->span, "unknown name '%s' (declare it with var)", s->name);
    return;
  }
  if (y->kind != SYM_VAR) {
    Diag *d = diag_error(C->L, s->span, "cannot assign to '%s': it is not a var", s->name);
    if (y->decl) diag_note(C->L, d, y->decl->span, "'%s' declared here", s->name);
    return;
  }
  s->sym = y;
  s->type = t;
  if (type_is_err(t) || type_is_err(y->type) || same_or_weak(y->type, t)) return;
  Diag *d = diag_error(C->L, kid(s, 0)->span, "assignment changes the type of '%s': %s declared, %s assigned", s->name,
                       type_str_of(y->type), type_str_of(t));
  diag_note(C->L, d, y->decl->span, "'%s' declared as %s here", s->name, type_str_of(y->type));
  y->type = type_error();  /* no cascade from later uses */
}

static void return_stmt(Chk *C, Node *s) {
  Node *v = kid(s, 0);
  if (!C->fn) {
    diag_error(C->L, s->span, "return outside a function");
    return;
  }
  if (!v) {
    diag_error(C->L, s->span, "return needs a value");
    return;
  }
  Type *t = chk_expr(C, v);
  if (type_is_err(t)) {
    if (!C->ret_seen) C->ret_seen = t;
    return;
  }
  if (C->fn_ret) {
    if (!type_is_err(C->fn_ret) && !same_or_weak(C->fn_ret, t)) {
      Diag *d = diag_error(C->L, v->span, "'%s' returns %s but is declared to return %s",
                           C->fn->name ? C->fn->name : "fn", type_str_of(t), type_str_of(C->fn_ret));
      diag_note(C->L, d, C->fn_ret_node->span, "return type declared here");
    }
    return;
  }
  if (!C->ret_seen) {
    C->ret_seen = t;
  } else if (!type_is_err(C->ret_seen) && !type_equal(C->ret_seen, t)) {
    diag_error(C->L, v->span, "'%s' returns %s here but %s earlier", C->fn->name ? C->fn->name : "fn", type_str_of(t),
               type_str_of(C->ret_seen));
  }
}

static void for_body(Chk *C, Node *s, Dim *iv) {
  Scope *saved = C->scope;
  C->scope = scope_push(C->L, saved, 1);
  scope_add(C->L, C->scope, s->name, SYM_LOOP, type_int(C->L, iv), s);
  Node *body = kid(s, 2);
  if (body) block_in_scope(C, body);
  scope_pop_warn(C->L, C->scope);
  C->scope = saved;
}

static void for_stmt(Chk *C, Node *s) {
  Dim *lo = chk_const_int(C, kid(s, 0), "for bound");
  Dim *hi = chk_const_int(C, kid(s, 1), "for bound");
  if (!lo || !hi) {
    for_body(C, s, dim_sym(C->L, s->name ? s->name : "i"));
    return;
  }
  int64_t a, b;
  if (!dim_is_const(lo, &a) || !dim_is_const(hi, &b) || b - a > 64) {
    for_body(C, s, dim_sym(C->L, s->name));
    return;
  }
  for (int64_t i = a; i < b; i++) {
    int before = diag_error_count(C->L);
    for_body(C, s, dim_const(C->L, i));
    if (diag_error_count(C->L) > before) break;
  }
}

static void if_stmt(Chk *C, Node *s) {
  Node *cond = kid(s, 0);
  Type *c = chk_expr(C, cond);
  if (!type_is_err(c) && !(c->kind == TY_SCALAR && c->scalar == ST_BOOL)) {
    if (c->kind == TY_TENSOR)
      diag_error(C->L, cond->span, "if needs a compile-time condition (hyper-parameters, training), got %s; use where(c, a, b) for tensors",
                 type_str_of(c));
    else
      diag_error(C->L, cond->span, "if needs a compile-time bool, got %s", type_str_of(c));
  }
  chk_block(C, kid(s, 1));
  Node *els = kid(s, 2);
  if (els && els->kind == N_IF) if_stmt(C, els);
  else chk_block(C, els);
}

static void stmt(Chk *C, Node *s) {
  if (!s) return;
  switch (s->kind) {
  case N_LET: let_stmt(C, s); break;
  case N_VAR: var_stmt(C, s); break;
  case N_ASSIGN: assign_stmt(C, s); break;
  case N_RETURN: return_stmt(C, s); break;
  case N_FOR: for_stmt(C, s); break;
  case N_IF: if_stmt(C, s); break;
  case N_BLOCK: chk_block(C, s); break;
  case N_EXPRSTMT: chk_expr(C, kid(s, 0)); break;
  default: chk_expr(C, s); break;
  }
}
