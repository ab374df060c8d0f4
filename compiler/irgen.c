/* irgen.c — lowering a checked .nn program to the graph IR by tracing.
 *
 * A note on the algorithm. The checker has proved the program well-typed for every
 * binding of its symbolic dimensions; here one binding is chosen (B = batch size, the
 * hyper-parameters of each module instance, the data's shapes) and the program is simply
 * run, as a partial evaluator: compile-time values (Val of kind VK_INT, VK_FLOAT, ...)
 * are computed now, tensor values are IR values, and each tensor operation appends one
 * node. Calls are inlined, `for` loops unrolled, `if` decided. A `scan` traces its step
 * once into a subgraph: tensors of enclosing graphs that the step uses (parameters,
 * closed-over lets) become the scan's loop-invariant inputs ("captures"), so gradients
 * reach them through the scan node. Module instances own their parameters, created once
 * as graph leaves named by their path ("l1.W", "cells.0.Wx").
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "irgen.h"
#include "irgen_int.h"

/* ------------------------------------------------------------------ values */

/* A new value of kind k. Out of memory, the trace fails (reported) and the value is a
 * scratch one that callers may fill in but that is never used: their trace is discarded. */
Val *irg_val(Tr *t, VKind k) {
  static _Thread_local Val oom_sink;
  Val *v = lang_alloc(t->L, sizeof *v);
  if (!v) {
    irg_error(t, t->at, "out of memory");
    memset(&oom_sink, 0, sizeof oom_sink);
    v = &oom_sink;
  }
  v->k = k;
  v->v = IR_NONE;
  return v;
}

/* Records the source span of every node of the root graph made so far without one. */
static void note_spans(Tr *t) {
  IrgProgram *p = t->root ? t->root->prog : NULL;
  if (!p || t->g != t->root->g) return;
  int n = t->g->nnodes;
  if (n > p->nspan) {
    Span *s = realloc(p->span, sizeof(Span) * n);
    if (!s) return;
    for (int i = p->nspan; i < n; i++) s[i] = t->at;
    p->span = s;
    p->nspan = n;
  }
}

Val *irg_tensor(Tr *t, IrVal x) {
  if (x == IR_NONE) return irg_fail_ir(t);
  note_spans(t);
  Val *v = irg_val(t, VK_TENSOR);
  if (!v) return NULL;
  v->v = x;
  v->g = t->g;
  return v;
}

Val *irg_int(Tr *t, int64_t i) {
  Val *v = irg_val(t, VK_INT);
  if (v) v->i = i;
  return v;
}

Val *irg_float(Tr *t, double f) {
  Val *v = irg_val(t, VK_FLOAT);
  if (v) v->f = f;
  return v;
}

Val *irg_tuple(Tr *t, int n, Val **el) {
  Val *v = irg_val(t, VK_TUPLE);
  if (!v) return NULL;
  v->el = lang_alloc(t->L, sizeof(Val *) * (n ? n : 1));
  if (!v->el) return irg_error(t, t->at, "out of memory");
  if (n) memcpy(v->el, el, sizeof(Val *) * n);
  v->n = n;
  return v;
}

/* Reports an error at the node being lowered; returns NULL (the error Val). When the graph
 * builder ran out of memory, that is the error (the operand it could not make is not). */
Val *irg_error(Tr *t, Span sp, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (t->g && t->g->failed && strstr(ir_errmsg(t->g), "out of memory")) snprintf(buf, sizeof buf, "%s", ir_errmsg(t->g));
  if (!t->failed) diag_error(t->L, sp, "%s", buf);
  t->failed = 1;
  return NULL;
}

/* A graph builder failed: the IR's message names the op and the shapes. */
Val *irg_fail_ir(Tr *t) {
  return irg_error(t, t->at, "cannot lower this expression: %s", ir_errmsg(t->g));
}

/* ------------------------------------------------------------------ environments */

Env *irg_env(Tr *t, Env *up) {
  Env *e = lang_alloc(t->L, sizeof *e);
  if (e) e->up = up;
  return e;
}

void irg_bind(Tr *t, Env *e, const char *name, Val *v) {
  if (!name || !e) return;
  for (Binding *b = e->b; b; b = b->next)
    if (b->name == name) { b->v = v; return; }
  Binding *b = lang_alloc(t->L, sizeof *b);
  if (!b) return;
  b->name = name;
  b->v = v;
  b->next = e->b;
  e->b = b;
}

Val *irg_lookup(Env *e, const char *name) {
  for (; e; e = e->up)
    for (Binding *b = e->b; b; b = b->next)
      if (b->name == name) return b->v;
  return NULL;
}

/* Assigns an existing binding (var), searching outwards. Returns 0 if not found. */
static int rebind(Env *e, const char *name, Val *v) {
  for (; e; e = e->up)
    for (Binding *b = e->b; b; b = b->next)
      if (b->name == name) { b->v = v; return 1; }
  return 0;
}

/* ------------------------------------------------------------------ captures */

/* The IR value of tensor v usable in the graph being traced: v itself when it belongs
 * to this graph, else a scan-body formal bound to it (created once per value). */
IrVal irg_use(Tr *t, Val *v) {
  if (!v || v->k != VK_TENSOR) return IR_NONE;
  if (v->g == t->g) return v->v;
  for (Capture *c = t->caps; c; c = c->next)
    if (c->g == v->g && c->outer == v->v) return c->formal;
  if (!t->outer) return IR_NONE;
  Tr *o = t->outer;
  IrVal outer = irg_use(o, v);          /* the value in the parent graph */
  if (outer == IR_NONE) return IR_NONE;
  Capture *c = lang_alloc(t->L, sizeof *c);
  if (!c) return IR_NONE;
  c->g = v->g;
  c->outer = v->v;
  c->parent_val = outer;
  c->pos = t->nformals;
  c->formal = ir_formal(t->g, t->nformals++, *ir_type(o->g, outer));
  if (c->formal == IR_NONE) return IR_NONE;   /* out of memory: not captured */
  c->next = t->caps;
  t->caps = c;
  t->ncaps++;
  return c->formal;
}

/* Converts a compile-time number to a rank-0 tensor of dtype dt in the current graph. */
IrVal irg_const_of(Tr *t, Val *v, IrDType dt) {
  double x = v->k == VK_INT ? (double)v->i : v->k == VK_BOOL ? (double)v->i : v->f;
  return ir_scalar(t->g, dt, x);
}

int irg_is_num(const Val *v) {
  return v && (v->k == VK_INT || v->k == VK_FLOAT || v->k == VK_BOOL);
}

double irg_num(const Val *v) {
  return v->k == VK_FLOAT ? v->f : (double)v->i;
}

/* ------------------------------------------------------------------ module instances */

static Val *eval_field_value(Tr *t, Inst *in, Node *m, const char *prefix);

/* Evaluates the dims of a written tensor type in env e. */
int irg_shape_of_type(Tr *t, Env *e, Node *ty, IrDType *dt, IrShape *s) {
  if (!ty || ty->kind != N_TTENSOR) {
    irg_error(t, ty ? ty->span : t->at, "expected a tensor type");
    return -1;
  }
  *dt = irg_dtype(ty->op);
  s->rank = ty->nkids;
  for (int i = 0; i < ty->nkids; i++) {
    t->dim_ctx = 1;
    Val *d = irg_eval(t, e, ty->kids[i]);
    t->dim_ctx = 0;
    if (!d) return -1;
    if (d->k != VK_INT) {
      irg_error(t, ty->kids[i]->span, "dimension is not known when lowering");
      return -1;
    }
    s->dim[i] = d->i;
  }
  return 0;
}

/* Initializer description kept on the param leaf: "glorot", "normal(0,0.01)". */
static const char *init_desc(Tr *t, Env *e, Node *init) {
  if (!init) return "zeros";
  if (init->kind == N_NAME) return init->name;
  if (init->kind == N_CALL && init->kids[0]->kind == N_NAME) {
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%s(", init->kids[0]->name);
    for (int i = 1; i < init->nkids && n < (int)sizeof buf - 32; i++) {
      Node *a = init->kids[i];
      if (a->kind == N_KWARG) a = a->kids[0];
      Val *v = irg_eval(t, e, a);
      if (!v || !irg_is_num(v)) {
        irg_error(t, a->span, "initializer arguments must be compile-time numbers");
        return NULL;
      }
      n += snprintf(buf + n, sizeof buf - n, "%s%.9g", i > 1 ? "," : "", irg_num(v));
    }
    snprintf(buf + n, sizeof buf - n, ")");
    return lang_intern(t->L, buf, strlen(buf));
  }
  if (init->kind == N_INT || init->kind == N_FLOAT) {
    char buf[64];
    snprintf(buf, sizeof buf, "constant(%.9g)", init->kind == N_INT ? (double)init->ival : init->fval);
    return lang_intern(t->L, buf, strlen(buf));
  }
  irg_error(t, init->span, "unsupported initializer");
  return NULL;
}

static const char *joined(Tr *t, const char *prefix, const char *name) {
  char buf[512];
  snprintf(buf, sizeof buf, "%s%s", prefix ? prefix : "", name);
  return lang_intern(t->L, buf, strlen(buf));
}

/* Creates the members of instance `in` in declaration order. */
static int instantiate_members(Tr *t, Inst *in, Node *mod) {
  int nh = mod->op;
  for (int i = nh; i < mod->nkids && !t->failed; i++) {
    Node *m = mod->kids[i];
    IrDType dt;
    IrShape s;
    switch (m->kind) {
    case N_PARAM:
    case N_BUFFER: {
      if (irg_shape_of_type(t, in->env, m->kids[0], &dt, &s)) return -1;
      const char *name = joined(t, in->prefix, m->name);
      IrVal x;
      if (m->kind == N_PARAM) {
        const char *init = init_desc(t, in->env, m->nkids > 1 ? m->kids[1] : NULL);
        if (!init) return -1;
        x = ir_param(t->root->g, name, dt, s, init);
      } else {
        x = ir_state(t->root->g, name, dt, s);
      }
      if (x == IR_NONE) return irg_fail_ir(t), -1;
      Val *v = irg_val(t, VK_TENSOR);
      v->v = x;
      v->g = t->root->g;
      irg_bind(t, in->env, m->name, v);
      break;
    }
    case N_FIELD: {
      Val *v = eval_field_value(t, in, m, joined(t, in->prefix, m->name));
      if (!v) return -1;
      irg_bind(t, in->env, m->name, v);
      break;
    }
    case N_CONST: {
      Val *v = irg_eval(t, in->env, m->kids[m->nkids - 1]);
      if (!v) return -1;
      irg_bind(t, in->env, m->name, v);
      break;
    }
    case N_FN: {
      Val *v = irg_val(t, VK_FN);
      v->fn = m;
      v->env = in->env;
      v->inst = in;
      irg_bind(t, in->env, m->name, v);
      break;
    }
    default:
      break;   /* grad rules are looked up by name when a function is called */
    }
  }
  return 0;
}

/* Binds hyper-parameters from a call's arguments (positional, then keywords, then
 * defaults evaluated in the instance's own environment). */
static int bind_hparams(Tr *t, Inst *in, Node *mod, Val **pos, int npos, Node **kw,
                        Val **kwv, int nkw) {
  int nh = mod->op;
  for (int i = 0; i < nh; i++) {
    Node *h = mod->kids[i];
    Val *v = i < npos ? pos[i] : NULL;
    for (int k = 0; k < nkw; k++)
      if (kw[k]->name == h->name) v = kwv[k];
    if (!v && h->nkids > 1 && h->kids[1]) v = irg_eval(t, in->env, h->kids[1]);
    if (!v) {
      irg_error(t, t->at, "missing hyper-parameter '%s' of module %s", h->name, mod->name);
      return -1;
    }
    irg_bind(t, in->env, h->name, v);
  }
  return 0;
}

Val *irg_instantiate(Tr *t, Node *mod, Env *home, const char *prefix, Val **pos, int npos,
                     Node **kw, Val **kwv, int nkw) {
  Inst *in = lang_alloc(t->L, sizeof *in);
  if (!in) return NULL;
  in->decl = mod;
  in->env = irg_env(t, home);
  in->prefix = prefix ? joined(t, prefix, ".") : "";
  if (bind_hparams(t, in, mod, pos, npos, kw, kwv, nkw)) return NULL;
  if (instantiate_members(t, in, mod)) return NULL;
  Val *v = irg_val(t, VK_INST);
  v->inst = in;
  return v;
}

/* A field's value: a module instantiation (named by the field's path) or a list of
 * them built by a comprehension. Anything else is evaluated normally. */
static Val *eval_field_value(Tr *t, Inst *in, Node *m, const char *path) {
  const char *saved = t->prefix;
  Node *e = m->kids[0];
  Val *v;
  if (e->kind == N_COMPREH) {
    v = irg_comprehension(t, in->env, e, path);
  } else {
    t->prefix = path;
    v = irg_eval(t, in->env, e);
  }
  t->prefix = saved;
  return v;
}

/* ------------------------------------------------------------------ functions */

/* Finds a function member `name` of instance in. */
Node *irg_member_fn(Inst *in, const char *name) {
  Node *mod = in->decl;
  for (int i = mod->op; i < mod->nkids; i++)
    if (mod->kids[i]->kind == N_FN && mod->kids[i]->name == name) return mod->kids[i];
  return NULL;
}

/* Binds the generic dims of a declared argument type to the actual tensor's shape, so
 * that `zeros(B, hidden)` inside the body knows B. */
void irg_bind_dims(Tr *t, Env *e, Node *ty, Val *actual) {
  if (!ty || ty->kind != N_TTENSOR || !actual || actual->k != VK_TENSOR || actual->v == IR_NONE) return;
  const IrType *at = ir_type(actual->g, actual->v);
  if (at->shape.rank != ty->nkids) return;
  for (int i = 0; i < ty->nkids; i++) {
    Node *d = ty->kids[i];
    if (d->kind == N_NAME && !irg_lookup(e, d->name))
      irg_bind(t, e, d->name, irg_int(t, at->shape.dim[i]));
  }
}

/* Calls function fn (with environment home, instance self) on evaluated arguments. */
Val *irg_call_fn(Tr *t, Node *fn, Env *home, Val **args, int nargs, Node **kw, Val **kwv,
                 int nkw, Span at) {
  if (++t->depth > 200) {
    t->depth--;
    return irg_error(t, at, "calls nested too deeply (recursion is not supported)");
  }
  Env *e = irg_env(t, home);
  int na = fn->nkids - 2;
  for (int i = 0; i < na; i++) {
    Node *a = fn->kids[2 + i];
    Val *v = i < nargs ? args[i] : NULL;
    for (int k = 0; k < nkw; k++)
      if (kw[k]->name == a->name) v = kwv[k];
    if (!v && a->nkids > 1 && a->kids[1]) v = irg_eval(t, e, a->kids[1]);
    if (!v) {
      t->depth--;
      return irg_error(t, at, "missing argument '%s'", a->name);
    }
    irg_bind(t, e, a->name, v);
    irg_bind_dims(t, e, a->nkids > 0 ? a->kids[0] : NULL, v);
  }
  Val *r;
  Node *body = fn->kids[1];
  if (body->kind == N_BLOCK) {
    r = irg_exec_block(t, e, body);
    if (r == RET_NONE) r = irg_val(t, VK_NONE);
  } else {
    r = irg_eval(t, e, body);
  }
  t->depth--;
  return r;
}

/* ------------------------------------------------------------------ statements */

/* Binds a pattern (name, _, or tuple) to v. */
static int bind_pattern(Tr *t, Env *e, Node *p, Val *v) {
  if (p->kind == N_PNAME) {
    if (p->name) irg_bind(t, e, p->name, v);
    return 0;
  }
  if (!v || v->k != VK_TUPLE || v->n != p->nkids) {
    irg_error(t, p->span, "cannot destructure this value");
    return -1;
  }
  for (int i = 0; i < p->nkids; i++)
    if (bind_pattern(t, e, p->kids[i], v->el[i])) return -1;
  return 0;
}

static Val *exec_stmt(Tr *t, Env *e, Node *s);

/* Runs a block; returns the returned value, RET_NONE when it falls off the end, or NULL
 * after an error. */
Val *irg_exec_block(Tr *t, Env *up, Node *b) {
  Env *e = irg_env(t, up);
  for (int i = 0; i < b->nkids; i++) {
    if (!b->kids[i]) continue;
    Val *r = exec_stmt(t, e, b->kids[i]);
    if (!r) return NULL;
    if (r != RET_NONE) return r;
  }
  return RET_NONE;
}

static Val *exec_for(Tr *t, Env *e, Node *s) {
  Val *lo = irg_eval(t, e, s->kids[0]);
  Val *hi = lo ? irg_eval(t, e, s->kids[1]) : NULL;
  if (!hi) return NULL;
  if (lo->k != VK_INT || hi->k != VK_INT)
    return irg_error(t, s->span, "loop bounds must be compile-time integers");
  for (int64_t i = lo->i; i < hi->i; i++) {
    Env *le = irg_env(t, e);
    irg_bind(t, le, s->name, irg_int(t, i));
    Val *r = irg_exec_block(t, le, s->kids[2]);
    if (r != RET_NONE) return r;
  }
  return RET_NONE;
}

static Val *exec_if(Tr *t, Env *e, Node *s) {
  Val *c = irg_eval(t, e, s->kids[0]);
  if (!c) return NULL;
  if (c->k != VK_BOOL && c->k != VK_INT)
    return irg_error(t, s->kids[0]->span, "condition must be known at compile time");
  Node *br = c->i ? s->kids[1] : (s->nkids > 2 ? s->kids[2] : NULL);
  if (!br) return RET_NONE;
  if (br->kind == N_IF) return exec_if(t, e, br);
  return irg_exec_block(t, e, br);
}

static Val *exec_stmt(Tr *t, Env *e, Node *s) {
  t->at = s->span;
  switch (s->kind) {
  case N_LET: {
    Val *v = irg_eval(t, e, s->kids[s->nkids - 1]);
    if (!v || bind_pattern(t, e, s->kids[0], v)) return NULL;
    return RET_NONE;
  }
  case N_VAR: {
    Val *v = irg_eval(t, e, s->kids[s->nkids - 1]);
    if (!v) return NULL;
    irg_bind(t, e, s->name, v);
    return RET_NONE;
  }
  case N_ASSIGN: {
    Val *v = irg_eval(t, e, s->kids[0]);
    if (!v) return NULL;
    if (!rebind(e, s->name, v)) return irg_error(t, s->span, "unknown variable '%s'", s->name);
    return RET_NONE;
  }
  case N_RETURN:
    return s->nkids && s->kids[0] ? irg_eval(t, e, s->kids[0]) : irg_val(t, VK_NONE);
  case N_FOR:
    return exec_for(t, e, s);
  case N_IF:
    return exec_if(t, e, s);
  case N_EXPRSTMT:
    return irg_eval(t, e, s->kids[0]) ? RET_NONE : NULL;
  case N_BLOCK:
    return irg_exec_block(t, e, s);
  default:
    return irg_error(t, s->span, "statement not supported by the back end");
  }
}

/* ------------------------------------------------------------------ top level */

/* Binds every declaration of a file (functions, modules, consts, imports, externs) into
 * its environment; bodies are evaluated lazily, when called. */
Env *irg_file_env(Tr *t, Node *file) {
  for (FileEnv *f = t->files; f; f = f->next)
    if (f->file == file) return f->env;
  FileEnv *fe = lang_alloc(t->L, sizeof *fe);
  fe->file = file;
  fe->env = irg_env(t, NULL);
  fe->next = t->files;
  t->files = fe;
  for (int i = 0; i < file->nkids; i++) {
    Node *d = file->kids[i];
    if (!d) continue;
    Val *v = NULL;
    switch (d->kind) {
    case N_IMPORT: {
      Node *f = lang_import_file(t->L, d);
      if (!f) continue;
      v = irg_val(t, VK_NS);
      v->file = f;
      const char *alias = d->str ? d->str : strrchr(d->name, '.') ? strrchr(d->name, '.') + 1 : d->name;
      irg_bind(t, fe->env, lang_intern(t->L, alias, strlen(alias)), v);
      continue;
    }
    case N_MODULE:
      v = irg_val(t, VK_MODULE);
      v->fn = d;
      v->env = fe->env;
      break;
    case N_FN:
      v = irg_val(t, VK_FN);
      v->fn = d;
      v->env = fe->env;
      break;
    case N_EXTERN:
      v = irg_val(t, VK_EXTERN);
      v->fn = d;
      v->env = fe->env;   /* constants its types may name */
      break;
    case N_CONST:
      v = irg_eval(t, fe->env, d->kids[d->nkids - 1]);
      break;
    default:
      continue;
    }
    if (v) irg_bind(t, fe->env, d->name, v);
  }
  return fe->env;
}

Node *irg_find_grad(Tr *t, Node *fn) {
  for (FileEnv *f = t->files; f; f = f->next)
    for (int i = 0; i < f->file->nkids; i++) {
      Node *d = f->file->kids[i];
      if (d && d->kind == N_GRAD && d->name == fn->name) return d;
    }
  return NULL;
}
