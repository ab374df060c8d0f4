/* irgen_expr.c — expressions and `scan`, lowered by tracing (see irgen.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "irgen_int.h"
#include "parse.h"

Val irg_ret_none = {.k = VK_NONE};

IrDType irg_dtype(int dt) {
  switch (dt) {
  case DT_F64: return IR_F64;
  case DT_I32: return IR_I32;
  case DT_I64: return IR_I64;
  case DT_BOOL: return IR_BOOL;
  case DT_BIT: return IR_BIT;
  default: return IR_F32;
  }
}

/* ------------------------------------------------------------------ arithmetic */

/* Compile-time arithmetic on numbers. Ints stay ints except `/` outside dimensions. */
static Val *fold_binary(Tr *t, int op, Val *a, Val *b, Span sp) {
  int ints = a->k != VK_FLOAT && b->k != VK_FLOAT;
  double x = irg_num(a), y = irg_num(b);
  int64_t i = a->k == VK_FLOAT ? 0 : a->i, j = b->k == VK_FLOAT ? 0 : b->i;
  Val *r;
  switch (op) {
  case TK_PLUS: return ints ? irg_int(t, i + j) : irg_float(t, x + y);
  case TK_MINUS: return ints ? irg_int(t, i - j) : irg_float(t, x - y);
  case TK_STAR: return ints ? irg_int(t, i * j) : irg_float(t, x * y);
  case TK_SLASH:
    if (ints && t->dim_ctx) {
      if (j == 0) return irg_error(t, sp, "division by zero");
      return irg_int(t, i / j);
    }
    return irg_float(t, x / y);
  case TK_PERCENT:
    if (ints) return j ? irg_int(t, ((i % j) + j) % j) : irg_error(t, sp, "modulo by zero");
    return irg_float(t, x - y * floor(x / y));
  case TK_POW:
    if (ints && j >= 0) {
      int64_t p = 1;
      for (int64_t k = 0; k < j; k++) p *= i;
      return irg_int(t, p);
    }
    return irg_float(t, pow(x, y));
  case TK_EQ: r = irg_val(t, VK_BOOL); r->i = x == y; return r;
  case TK_NE: r = irg_val(t, VK_BOOL); r->i = x != y; return r;
  case TK_LT: r = irg_val(t, VK_BOOL); r->i = x < y; return r;
  case TK_LE: r = irg_val(t, VK_BOOL); r->i = x <= y; return r;
  case TK_GT: r = irg_val(t, VK_BOOL); r->i = x > y; return r;
  case TK_GE: r = irg_val(t, VK_BOOL); r->i = x >= y; return r;
  case TK_AND: r = irg_val(t, VK_BOOL); r->i = x && y; return r;
  case TK_OR: r = irg_val(t, VK_BOOL); r->i = x || y; return r;
  default: return irg_error(t, sp, "operator not supported on compile-time values");
  }
}

static IrOp binary_op(int tk) {
  switch (tk) {
  case TK_PLUS: return OP_ADD;
  case TK_MINUS: return OP_SUB;
  case TK_STAR: return OP_MUL;
  case TK_SLASH: return OP_DIV;
  case TK_PERCENT: return OP_MOD;
  case TK_POW: return OP_POW;
  case TK_EQ: return OP_EQ;
  case TK_NE: return OP_NE;
  case TK_LT: return OP_LT;
  case TK_LE: return OP_LE;
  case TK_GT: return OP_GT;
  case TK_GE: return OP_GE;
  case TK_AND: return OP_AND;
  case TK_OR: return OP_OR;
  default: return OP_NOPS;
  }
}

/* The IR value of a tensor or number operand; numbers take the dtype `like`. */
static IrVal operand(Tr *t, Val *v, IrDType like) {
  if (v->k == VK_TENSOR) return irg_use(t, v);
  if (irg_is_num(v)) return irg_const_of(t, v, like);
  return IR_NONE;
}

/* If x is a transpose of the last two axes (x = y.T), returns y; else IR_NONE. */
static IrVal swapped_last_two(Tr *t, IrVal x) {
  const IrNode *p = ir_producer(t->g, x);
  if (p->op != OP_TRANSPOSE || p->nin != 1) return IR_NONE;
  int r = ir_type(t->g, x)->shape.rank;
  if (r < 2 || p->attr.nint != r) return IR_NONE;
  for (int i = 0; i < r - 2; i++)
    if (p->attr.ints[i] != i) return IR_NONE;
  return p->attr.ints[r - 2] == r - 1 && p->attr.ints[r - 1] == r - 2 ? p->in[0] : IR_NONE;
}

/* a @ b, with a transposed operand folded into the matmul's transpose flags (so
 * `x @ W.T` reads W in place instead of copying it every step). */
IrVal irg_matmul(Tr *t, IrVal a, IrVal b) {
  IrVal a0 = a == IR_NONE ? IR_NONE : swapped_last_two(t, a);
  IrVal b0 = b == IR_NONE ? IR_NONE : swapped_last_two(t, b);
  return ir_matmul(t->g, a0 != IR_NONE ? a0 : a, b0 != IR_NONE ? b0 : b, a0 != IR_NONE, b0 != IR_NONE);
}

static Val *eval_binary(Tr *t, Env *e, Node *n) {
  Val *a = irg_eval(t, e, n->kids[0]);
  Val *b = a ? irg_eval(t, e, n->kids[1]) : NULL;
  if (!b) return NULL;
  t->at = n->span;
  if (irg_is_num(a) && irg_is_num(b)) return fold_binary(t, n->op, a, b, n->span);
  if (a->k != VK_TENSOR && b->k != VK_TENSOR)
    return irg_error(t, n->span, "operands are not tensors or numbers");
  IrDType like = a->k == VK_TENSOR ? ir_type(a->g, a->v)->dtype : ir_type(b->g, b->v)->dtype;
  IrVal x = operand(t, a, like), y = operand(t, b, like);
  if (x == IR_NONE || y == IR_NONE) return irg_error(t, n->span, "operand cannot be used here");
  if (n->op == TK_AT) return irg_tensor(t, irg_matmul(t, x, y));
  IrOp op = binary_op(n->op);
  if (op == OP_NOPS) return irg_error(t, n->span, "operator not supported by the back end");
  return irg_tensor(t, ir_binary(t->g, op, x, y));
}

static Val *eval_unary(Tr *t, Env *e, Node *n) {
  Val *a = irg_eval(t, e, n->kids[0]);
  if (!a) return NULL;
  t->at = n->span;
  if (n->op == TK_PLUS) return a;
  if (irg_is_num(a)) {
    if (n->op == TK_NOT) {
      Val *r = irg_val(t, VK_BOOL);
      r->i = !irg_num(a);
      return r;
    }
    return a->k == VK_FLOAT ? irg_float(t, -a->f) : irg_int(t, -a->i);
  }
  if (a->k != VK_TENSOR) return irg_error(t, n->span, "operand is not a tensor");
  return irg_tensor(t, ir_unary(t->g, n->op == TK_NOT ? OP_NOT : OP_NEG, irg_use(t, a)));
}

static Val *eval_cond(Tr *t, Env *e, Node *n) {
  Val *c = irg_eval(t, e, n->kids[0]);
  if (!c) return NULL;
  if (c->k == VK_BOOL || c->k == VK_INT) return irg_eval(t, e, n->kids[c->i ? 1 : 2]);
  Val *a = irg_eval(t, e, n->kids[1]);
  Val *b = a ? irg_eval(t, e, n->kids[2]) : NULL;
  if (!b) return NULL;
  t->at = n->span;
  IrDType like = a->k == VK_TENSOR ? ir_type(a->g, a->v)->dtype
                 : b->k == VK_TENSOR ? ir_type(b->g, b->v)->dtype : IR_F32;
  return irg_tensor(t, ir_where(t->g, irg_use(t, c), operand(t, a, like), operand(t, b, like)));
}

/* ------------------------------------------------------------------ members and indexing */

static Val *member_of(Tr *t, Val *o, const char *name, Span sp) {
  Val *v = NULL;
  switch (o->k) {
  case VK_NS:
    v = irg_lookup(irg_file_env(t, o->file), name);
    break;
  case VK_INST:
    for (Binding *b = o->inst->env->b; b && !v; b = b->next)
      if (b->name == name) v = b->v;
    break;
  case VK_OBJ:
    for (int i = 0; i < o->n; i++)
      if (o->fnames[i] == name) v = o->el[i];
    break;
  case VK_TENSOR:
    if (!strcmp(name, "T")) {
      IrVal x = irg_use(t, o);
      if (x == IR_NONE) return irg_fail_ir(t);
      int r = ir_type(t->g, x)->shape.rank;
      if (r < 2) return irg_error(t, sp, ".T needs a tensor of rank 2 or more");
      int perm[IR_MAX_RANK];
      for (int i = 0; i < r; i++) perm[i] = i;
      perm[r - 2] = r - 1;
      perm[r - 1] = r - 2;
      return irg_tensor(t, ir_transpose(t->g, x, perm));
    }
    break;
  default:
    break;
  }
  if (!v) return irg_error(t, sp, "no member '%s' here", name);
  return v;
}

/* Subscripts of a tensor: ints drop an axis, slices keep it, None adds one, ... fills. */
static Val *index_tensor(Tr *t, Env *e, Node *n, Val *o) {
  IrVal x = irg_use(t, o);
  if (x == IR_NONE) return irg_fail_ir(t);
  const IrShape sh = ir_type(t->g, x)->shape, *s = &sh;   /* a copy: the type table moves */
  int64_t start[IR_MAX_RANK], end[IR_MAX_RANK];
  int64_t outd[IR_MAX_RANK * 2];
  int nout = 0, ax = 0, nsub = n->nkids - 1, has_ell = 0;
  for (int i = 1; i < n->nkids; i++) has_ell |= n->kids[i]->kind == N_ELLIPSIS;
  int used = 0;
  for (int i = 1; i < n->nkids; i++) used += n->kids[i]->kind != N_NONE && n->kids[i]->kind != N_ELLIPSIS;
  for (int i = 0; i < s->rank; i++) start[i] = 0, end[i] = s->dim[i];
  for (int i = 1; i <= nsub; i++) {
    Node *sub = n->kids[i];
    if (sub->kind == N_NONE) { outd[nout++] = 1; continue; }
    if (sub->kind == N_ELLIPSIS) {
      for (int k = 0; k < s->rank - used; k++, ax++) outd[nout++] = s->dim[ax];
      continue;
    }
    if (ax >= s->rank) return irg_error(t, sub->span, "too many subscripts");
    int64_t d = s->dim[ax];
    if (sub->kind == N_SLICE) {
      int64_t lo = 0, hi = d;
      for (int k = 0; k < 3; k++) {
        if (sub->nkids <= k || !sub->kids[k]) continue;
        Val *b = irg_eval(t, e, sub->kids[k]);
        if (!b) return NULL;
        if (b->k != VK_INT) return irg_error(t, sub->kids[k]->span, "slice bounds must be compile-time integers");
        if (k == 2 && b->i != 1) return irg_error(t, sub->kids[k]->span, "slice steps other than 1 are not supported by the back end yet");
        int64_t vb = b->i < 0 ? b->i + d : b->i;
        vb = vb < 0 ? 0 : vb > d ? d : vb;
        if (k == 0) lo = vb; else if (k == 1) hi = vb;
      }
      if (hi < lo) hi = lo;
      start[ax] = lo, end[ax] = hi;
      outd[nout++] = hi - lo;
    } else {
      Val *b = irg_eval(t, e, sub);
      if (!b) return NULL;
      if (b->k != VK_INT) return irg_error(t, sub->span, "subscripts must be compile-time integers (use gather for tensor indices)");
      int64_t k = b->i < 0 ? b->i + d : b->i;
      if (k < 0 || k >= d) return irg_error(t, sub->span, "index %lld out of range for a dimension of %lld", (long long)b->i, (long long)d);
      start[ax] = k, end[ax] = k + 1;
    }
    ax++;
  }
  for (; ax < s->rank; ax++) outd[nout++] = s->dim[ax];
  t->at = n->span;
  IrVal y = ir_slice(t->g, x, start, end);
  if (y == IR_NONE) return irg_fail_ir(t);
  if (nout > IR_MAX_RANK) return irg_error(t, n->span, "result has too many dimensions");
  IrShape rs = ir_shape(nout, outd);
  if (!ir_shape_eq(&rs, &ir_type(t->g, y)->shape)) y = ir_reshape(t->g, y, rs);
  return irg_tensor(t, y);
}

static Val *eval_index(Tr *t, Env *e, Node *n) {
  Val *o = irg_eval(t, e, n->kids[0]);
  if (!o) return NULL;
  if (o->k == VK_TENSOR) return index_tensor(t, e, n, o);
  if ((o->k == VK_LIST || o->k == VK_TUPLE) && n->nkids == 2) {
    Val *i = irg_eval(t, e, n->kids[1]);
    if (!i) return NULL;
    if (i->k != VK_INT) return irg_error(t, n->kids[1]->span, "index must be a compile-time integer");
    int64_t k = i->i < 0 ? i->i + o->n : i->i;
    if (k < 0 || k >= o->n) return irg_error(t, n->kids[1]->span, "index %lld out of range (%d elements)", (long long)i->i, o->n);
    return o->el[k];
  }
  return irg_error(t, n->span, "this value cannot be indexed");
}

/* ------------------------------------------------------------------ calls */

/* Evaluates a call's arguments: positional ones into pos, keywords into kw/kwv. */
static int eval_args(Tr *t, Env *e, Node *call, Val **pos, int *npos, Node **kw, Val **kwv, int *nkw) {
  *npos = *nkw = 0;
  for (int i = 1; i < call->nkids; i++) {
    Node *a = call->kids[i];
    if (*npos >= IRG_MAX_ARGS || *nkw >= IRG_MAX_ARGS) {
      irg_error(t, a->span, "too many arguments");
      return -1;
    }
    if (a->kind == N_KWARG) {
      Val *v = irg_eval(t, e, a->kids[0]);
      if (!v) return -1;
      kw[*nkw] = a;
      kwv[(*nkw)++] = v;
    } else {
      Val *v = irg_eval(t, e, a);
      if (!v) return -1;
      pos[(*npos)++] = v;
    }
  }
  return 0;
}

/* Traces fn into a fresh subgraph whose formals have the types of args. */
static IrGraph *trace_sub(Tr *t, Node *fn, Env *home, Val **args, int nargs, Val **res) {
  Tr b = *t;
  b.g = ir_graph_new();
  b.outer = t;
  b.caps = NULL;
  b.ncaps = b.nformals = 0;
  if (!b.g) return NULL;
  Val *fa[IRG_MAX_ARGS];
  for (int i = 0; i < nargs; i++) {
    fa[i] = irg_val(&b, VK_TENSOR);
    fa[i]->g = b.g;
    fa[i]->v = ir_formal(b.g, b.nformals++, *ir_type(args[i]->g, args[i]->v));
  }
  *res = irg_call_fn(&b, fn, home, fa, nargs, NULL, NULL, 0, t->at);
  t->failed |= b.failed;
  if (!*res || b.ncaps) {
    if (*res && b.ncaps)
      irg_error(t, fn->span, "a function with a custom gradient may use only its arguments");
    ir_graph_free(b.g);
    return NULL;
  }
  return b.g;
}

/* A call of a function that has a `grad` rule: forward and backward as subgraphs. */
static Val *call_custom_grad(Tr *t, Node *fn, Node *rule, Env *home, Val **args, int nargs) {
  IrVal in[IRG_MAX_ARGS];
  for (int i = 0; i < nargs; i++) {
    if (args[i]->k != VK_TENSOR) return irg_error(t, t->at, "custom-gradient functions take tensors only");
    in[i] = irg_use(t, args[i]);
    if (in[i] == IR_NONE) return irg_fail_ir(t);
  }
  Val *y;
  IrGraph *fwd = trace_sub(t, fn, home, args, nargs, &y);
  if (!fwd) return NULL;
  if (!y || y->k != VK_TENSOR) { ir_graph_free(fwd); return irg_error(t, fn->span, "a custom-gradient function must return one tensor"); }
  IrVal yv = irg_use(t, y);
  if (ir_set_outputs(fwd, 1, &yv)) {
    Val *e = irg_error(t, fn->span, "%s", ir_errmsg(fwd));
    ir_graph_free(fwd);
    return e;
  }
  /* backward formals: x..., y, gy; the rule names x... and gy */
  Tr b = *t;
  b.g = ir_graph_new();
  b.outer = t, b.caps = NULL, b.ncaps = b.nformals = 0;
  Val *fa[IRG_MAX_ARGS + 2];
  for (int i = 0; i < nargs; i++) {
    fa[i] = irg_val(&b, VK_TENSOR);
    fa[i]->g = b.g;
    fa[i]->v = ir_formal(b.g, b.nformals++, *ir_type(t->g, in[i]));
  }
  IrType yt = *ir_type(fwd, yv);
  ir_formal(b.g, b.nformals++, yt);
  fa[nargs] = irg_val(&b, VK_TENSOR);
  fa[nargs]->g = b.g;
  fa[nargs]->v = ir_formal(b.g, b.nformals++, yt);
  Val *r = irg_call_fn(&b, rule, home, fa, nargs + 1, NULL, NULL, 0, rule->span);
  t->failed |= b.failed;
  IrVal outs[IRG_MAX_ARGS];
  int nr = r && r->k == VK_TUPLE ? r->n : 1;
  if (!r || nr != nargs || b.ncaps) {
    ir_graph_free(fwd);
    ir_graph_free(b.g);
    return r ? irg_error(t, rule->span, "gradient rule must return one gradient per argument and use only its arguments") : NULL;
  }
  for (int i = 0; i < nr; i++) outs[i] = irg_use(&b, r->k == VK_TUPLE ? r->el[i] : r);
  if (ir_set_outputs(b.g, nr, outs)) {
    Val *e = irg_error(t, rule->span, "%s", ir_errmsg(b.g));
    ir_graph_free(fwd);
    ir_graph_free(b.g);
    return e;
  }
  return irg_tensor(t, ir_custom_grad(t->g, nargs, in, fwd, b.g));
}

/* The declared types of extern f's results, bound in e: tout[0..*nout). */
static int extern_results(Tr *t, Env *e, Node *ret, IrType *tout, int *nout) {
  int n = ret && ret->kind == N_TTUPLE ? ret->nkids : 1;
  if (n > IR_HOST_MAX_ARGS) return irg_error(t, ret->span, "more than %d results", IR_HOST_MAX_ARGS), -1;
  for (int k = 0; k < n; k++)
    if (irg_shape_of_type(t, e, ret->kind == N_TTUPLE ? ret->kids[k] : ret, &tout[k].dtype, &tout[k].shape))
      return -1;
  *nout = n;
  return 0;
}

/* A call of `extern fn` f: one host_call node on the arguments, results typed by the
 * declaration. The function must be registered (and agree with the traced types). */
static Val *call_extern(Tr *t, Val *f, Val **args, int nargs, Span sp) {
  Node *fn = f->fn;
  const IrHostTab *hosts = t->root ? t->root->hosts : t->hosts;
  const IrHostFn *h = ir_host_find(hosts, fn->name);
  if (!h)
    return irg_error(t, sp, "host function '%s' is not registered%s%s", fn->name, hosts && hosts->unknown ? ": " : "",
                     hosts && hosts->unknown ? hosts->unknown : "");
  int na = fn->nkids - 1, nout = 0;
  if (nargs != na || na > IR_HOST_MAX_ARGS)
    return irg_error(t, sp, "host function '%s' takes %d arguments, %d given", fn->name, na, nargs);
  Env *e = irg_env(t, f->env);
  IrVal in[IR_HOST_MAX_ARGS];
  IrType tin[IR_HOST_MAX_ARGS], tout[IR_HOST_MAX_ARGS];
  for (int i = 0; i < na; i++) {
    Node *a = fn->kids[1 + i], *ty = a->nkids > 0 ? a->kids[0] : NULL;
    IrDType dt = ty && ty->kind == N_TTENSOR ? irg_dtype(ty->op) : IR_F32;
    in[i] = args[i]->k == VK_TENSOR ? irg_use(t, args[i]) : irg_const_of(t, args[i], dt);
    if (in[i] == IR_NONE) return irg_error(t, sp, "argument %d of host function '%s' is not a tensor", i + 1, fn->name);
    irg_bind_dims(t, e, ty, irg_tensor(t, in[i]));
    tin[i] = *ir_type(t->g, in[i]);
  }
  if (extern_results(t, e, fn->kids[0], tout, &nout)) return NULL;
  if (na + nout > IR_HOST_MAX_ARGS)
    return irg_error(t, sp, "host function '%s': more than %d arguments and results", fn->name, IR_HOST_MAX_ARGS);
  char msg[512] = "";
  if (h->check && h->check(h->ud, na, tin, nout, tout, msg, sizeof msg)) return irg_error(t, sp, "%s", msg);
  IrNode *n = ir_host_call(t->g, fn->name, na, in, nout, tout);
  if (!n) return irg_fail_ir(t);
  Val *r[IR_HOST_MAX_ARGS];
  for (int k = 0; k < nout; k++)
    if (!(r[k] = irg_tensor(t, n->out[k]))) return NULL;
  return fn->kids[0] && fn->kids[0]->kind == N_TTUPLE ? irg_tuple(t, nout, r) : r[0];
}

Val *irg_call_value(Tr *t, Val *f, Val **args, int nargs, Node **kw, Val **kwv, int nkw, Node *call) {
  Span sp = call->span;
  const char *prefix = t->prefix;
  t->prefix = NULL;   /* only a module instantiation takes the field's path */
  switch (f->k) {
  case VK_BUILTIN:
    return irg_builtin(t, f->s, args, nargs, kw, kwv, nkw, call);
  case VK_FN: {
    Node *rule = f->fn->name ? irg_find_grad(t, f->fn) : NULL;
    if (rule && !nkw) return call_custom_grad(t, f->fn, rule, f->env, args, nargs);
    return irg_call_fn(t, f->fn, f->env, args, nargs, kw, kwv, nkw, sp);
  }
  case VK_MODULE: {
    return irg_instantiate(t, f->fn, f->env, prefix, args, nargs, kw, kwv, nkw);
  }
  case VK_INST: {
    Node *fwd = irg_member_fn(f->inst, lang_intern(t->L, "forward", 7));
    if (!fwd) return irg_error(t, sp, "module %s has no 'forward' function to call", f->inst->decl->name);
    return irg_call_fn(t, fwd, f->inst->env, args, nargs, kw, kwv, nkw, sp);
  }
  case VK_EXTERN:
    return nkw ? irg_error(t, sp, "host function '%s' takes positional arguments only", f->fn->name)
               : call_extern(t, f, args, nargs, sp);
  default:
    return irg_error(t, sp, "this value is not callable");
  }
}

static Val *eval_call(Tr *t, Env *e, Node *n) {
  Val *f = irg_eval(t, e, n->kids[0]);
  if (!f) return NULL;
  Val *pos[IRG_MAX_ARGS], *kwv[IRG_MAX_ARGS];
  Node *kw[IRG_MAX_ARGS];
  int npos, nkw;
  const char *prefix = t->prefix;
  t->prefix = NULL;   /* arguments never consume the field's path */
  if (eval_args(t, e, n, pos, &npos, kw, kwv, &nkw)) return NULL;
  t->prefix = prefix;
  t->at = n->span;
  return irg_call_value(t, f, pos, npos, kw, kwv, nkw, n);
}

Val *irg_comprehension(Tr *t, Env *e, Node *n, const char *path) {
  Val *lo = irg_eval(t, e, n->kids[1]);
  Val *hi = lo ? irg_eval(t, e, n->kids[2]) : NULL;
  if (!hi) return NULL;
  if (lo->k != VK_INT || hi->k != VK_INT)
    return irg_error(t, n->span, "comprehension bounds must be compile-time integers");
  int cnt = hi->i > lo->i ? (int)(hi->i - lo->i) : 0;
  Val *l = irg_val(t, VK_LIST);
  l->el = lang_alloc(t->L, sizeof(Val *) * (cnt ? cnt : 1));
  for (int k = 0; k < cnt; k++) {
    Env *le = irg_env(t, e);
    irg_bind(t, le, n->name, irg_int(t, lo->i + k));
    char buf[512];
    snprintf(buf, sizeof buf, "%s.%d", path ? path : "", k);
    t->prefix = path ? lang_intern(t->L, buf, strlen(buf)) : NULL;
    Val *v = irg_eval(t, le, n->kids[0]);
    t->prefix = NULL;
    if (!v) return NULL;
    l->el[l->n++] = v;
  }
  return l;
}

/* ------------------------------------------------------------------ scan */

/* Flattens a tensor or a tuple of tensors into vs (at most cap). Returns the count, -1. */
static int flatten(Val *v, Val **vs, int cap) {
  if (v->k == VK_TENSOR) { vs[0] = v; return 1; }
  if (v->k != VK_TUPLE || v->n > cap) return -1;
  for (int i = 0; i < v->n; i++) {
    if (v->el[i]->k != VK_TENSOR) return -1;
    vs[i] = v->el[i];
  }
  return v->n;
}

/* The axis of the first `over` input whose checked dim is the `along` symbol. */
static int time_axis(Tr *t, Node *over, Node *along, Val *x0) {
  const Type *ty = over->type;
  if (ty && ty->kind == TY_TUPLE && ty->nelems > 0) ty = ty->elems[0];
  if (ty && ty->kind == TY_TENSOR && along->kind == N_NAME)
    for (int i = 0; i < ty->rank; i++) {
      const char *nm;
      if (ty->dims[i] && dim_is_sym(ty->dims[i], &nm) && nm == along->name) return i;
    }
  int r = ir_type(x0->g, x0->v)->shape.rank;
  return r >= 2 ? 1 : 0;
}

static Val *eval_scan(Tr *t, Env *e, Node *n) {
  enum { MAXC = 16 };
  Val *step = irg_eval(t, e, n->kids[0]);
  Val *over = step && n->kids[1] ? irg_eval(t, e, n->kids[1]) : NULL;
  Val *init = step ? irg_eval(t, e, n->kids[3]) : NULL;
  if (!step || !init || (n->kids[1] && !over)) return NULL;
  Val *cs[MAXC], *xs[MAXC];
  int nc = flatten(init, cs, MAXC), nx = 0, axis = 0, dummy = 0;
  if (nc < 0) return irg_error(t, n->kids[3]->span, "the initial carry must be a tensor or a tuple of tensors");
  if (over) {
    nx = flatten(over, xs, MAXC);
    if (nx <= 0) return irg_error(t, n->kids[1]->span, "scan inputs must be tensors");
    axis = time_axis(t, n->kids[1], n->kids[2], xs[0]);
  } else {
    Val *len = irg_eval(t, e, n->kids[2]);
    if (!len) return NULL;
    if (len->k != VK_INT) return irg_error(t, n->kids[2]->span, "scan length must be a compile-time integer");
    int64_t d = len->i;
    xs[0] = irg_tensor(t, ir_fill(t->g, IR_F32, ir_shape(1, &d), 0));
    if (!xs[0]) return NULL;
    nx = 1, dummy = 1, axis = 0;
  }
  /* the body */
  Tr b = *t;
  b.g = ir_graph_new();
  if (!b.g) return irg_error(t, n->span, "out of memory");
  b.outer = t, b.caps = NULL, b.ncaps = 0, b.nformals = 0;
  Val *args[2 * MAXC];
  int na = 0;
  IrVal cf[MAXC];
  for (int i = 0; i < nc; i++) cf[i] = ir_formal(b.g, b.nformals++, *ir_type(cs[i]->g, cs[i]->v));
  for (int j = 0; j < nx; j++) {
    IrType xt = *ir_type(xs[j]->g, xs[j]->v);
    if (axis >= xt.shape.rank) { ir_graph_free(b.g); return irg_error(t, n->kids[1]->span, "scan input has no time axis %d", axis); }
    for (int k = axis; k < xt.shape.rank - 1; k++) xt.shape.dim[k] = xt.shape.dim[k + 1];
    xt.shape.rank--;
    IrVal f = ir_formal(b.g, b.nformals++, xt);
    if (!dummy) { args[na] = irg_val(&b, VK_TENSOR); args[na]->g = b.g; args[na++]->v = f; }
  }
  for (int i = 0; i < nc; i++) { args[na] = irg_val(&b, VK_TENSOR); args[na]->g = b.g; args[na++]->v = cf[i]; }
  if (b.failed || b.g->failed) {   /* out of memory making the formals */
    Val *err = b.failed ? NULL : irg_error(t, n->span, "%s", ir_errmsg(b.g));
    t->failed |= b.failed;
    ir_graph_free(b.g);
    return err;
  }
  Val *r = irg_call_value(&b, step, args, na, NULL, NULL, 0, n);
  t->failed |= b.failed;
  Val *rs[2 * MAXC];
  int nr = r ? flatten(r, rs, 2 * MAXC) : -1;
  if (nr < nc) {
    ir_graph_free(b.g);
    return r ? irg_error(t, n->kids[0]->span, "the scan step must return the carry (%d tensor%s)", nc, nc == 1 ? "" : "s") : NULL;
  }
  IrVal outs[3 * MAXC];
  int no = 0;
  for (int i = 0; i < nc; i++) outs[no++] = irg_use(&b, rs[i]);
  for (int i = 0; i < nr; i++) outs[no++] = irg_use(&b, rs[i]);   /* stacked carries, then outputs */
  if (ir_set_outputs(b.g, no, outs)) {
    Val *err = irg_error(t, n->span, "%s", ir_errmsg(b.g));
    ir_graph_free(b.g);
    return err;
  }
  /* loop invariants, in formal order */
  IrVal consts[64];
  int nk = b.ncaps;
  if (nk > 64) { ir_graph_free(b.g); return irg_error(t, n->span, "scan step uses too many outer values"); }
  for (Capture *c = b.caps; c; c = c->next)
    consts[c->pos - nc - nx] = c->parent_val;
  IrVal iv[MAXC], xv[MAXC];
  for (int i = 0; i < nc; i++) iv[i] = irg_use(t, cs[i]);
  for (int j = 0; j < nx; j++) xv[j] = irg_use(t, xs[j]);
  t->at = n->span;
  IrNode *sn = ir_scan(t->g, b.g, nc, iv, nx, xv, nk, consts, axis, (int)n->ival);
  if (!sn) return irg_fail_ir(t);
  Val *res[2 * MAXC];
  for (int i = 0; i < nr; i++) res[i] = irg_tensor(t, sn->out[nc + i]);
  return nr == 1 ? res[0] : irg_tuple(t, nr, res);
}

/* ------------------------------------------------------------------ dispatch */

static Val *eval_name(Tr *t, Env *e, Node *n) {
  Val *v = irg_lookup(e, n->name);
  if (v) return v;
  if (irg_has_builtin(n->name)) {
    v = irg_val(t, VK_BUILTIN);
    v->s = n->name;
    return v;
  }
  return irg_error(t, n->span, "'%s' has no value when lowering", n->name);
}

Val *irg_eval(Tr *t, Env *e, Node *n) {
  if (t->failed || !n) return NULL;
  Val *v;
  switch (n->kind) {
  case N_INT: case N_SIZE: return irg_int(t, n->ival);
  case N_FLOAT: return irg_float(t, n->fval);
  case N_BOOL: v = irg_val(t, VK_BOOL); v->i = n->ival; return v;
  case N_TRAINING: v = irg_val(t, VK_BOOL); v->i = t->training; return v;
  case N_STRING: v = irg_val(t, VK_STR); v->s = n->str; return v;
  case N_DTYPE: v = irg_val(t, VK_DTYPE); v->dt = irg_dtype(n->op); return v;
  case N_NONE: return irg_val(t, VK_NONE);
  case N_NAME: return eval_name(t, e, n);
  case N_MEMBER: {
    Val *o = irg_eval(t, e, n->kids[0]);
    return o ? member_of(t, o, n->name, n->span) : NULL;
  }
  case N_CALL: return eval_call(t, e, n);
  case N_INDEX: return eval_index(t, e, n);
  case N_UNARY: return eval_unary(t, e, n);
  case N_BINARY: return eval_binary(t, e, n);
  case N_COND: return eval_cond(t, e, n);
  case N_TUPLE: case N_LIST: {
    Val *el[64];
    if (n->nkids > 64) return irg_error(t, n->span, "too many elements");
    for (int i = 0; i < n->nkids; i++)
      if (!(el[i] = irg_eval(t, e, n->kids[i]))) return NULL;
    v = irg_tuple(t, n->nkids, el);
    if (n->kind == N_LIST) v->k = VK_LIST;
    return v;
  }
  case N_COMPREH: return irg_comprehension(t, e, n, NULL);
  case N_SCAN: return eval_scan(t, e, n);
  case N_LAMBDA:
    v = irg_val(t, VK_FN);
    v->fn = n->kids[0];
    v->env = e;
    return v;
  default:
    return irg_error(t, n->span, "expression not supported by the back end");
  }
}
