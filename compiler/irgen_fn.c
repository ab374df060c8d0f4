/* irgen_fn.c — tracing one function of a model for inference and the C API: the model is
 * instantiated with its default hyper-parameters (parameters become leaves named by their
 * path, "l1.W", exactly as irg_build names them, so weights are shared with training),
 * each tensor argument becomes an input leaf named after the argument, and the function's
 * result (a tensor or a tuple of tensors) becomes the graph's outputs. */
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "irgen_int.h"

static Node *find_decl(Node *file, NodeKind k, const char *name, size_t n) {
  for (int i = 0; file && i < file->nkids; i++) {
    Node *d = file->kids[i];
    if (d && d->kind == k && d->name && strlen(d->name) == n && !strncmp(d->name, name, n)) return d;
  }
  return NULL;
}

int irg_find_fn(Node *file, const char *q, IrgFnRef *out) {
  memset(out, 0, sizeof *out);
  if (!file || !q) return -1;
  const char *dot = strchr(q, '.');
  if (!dot) {
    out->fn = find_decl(file, N_FN, q, strlen(q));
    return out->fn ? 0 : -1;
  }
  out->module = find_decl(file, N_MODULE, q, (size_t)(dot - q));
  if (!out->module) return -1;
  for (int i = out->module->op; i < out->module->nkids; i++) {
    Node *m = out->module->kids[i];
    if (m && m->kind == N_FN && m->name && !strcmp(m->name, dot + 1)) out->fn = m;
  }
  return out->fn ? 0 : -1;
}

/* Collects the graph outputs of a function result: a tensor or a (nested) tuple. */
static int collect_outputs(Tr *t, Val *r, IrVal *outs, int *n, int cap) {
  if (r && r->k == VK_TENSOR) {
    if (*n >= cap) return irg_error(t, t->at, "too many results"), -1;
    outs[(*n)++] = irg_use(t, r);
    return 0;
  }
  if (r && r->k == VK_TUPLE) {
    for (int i = 0; i < r->n; i++)
      if (collect_outputs(t, r->el[i], outs, n, cap)) return -1;
    return 0;
  }
  irg_error(t, t->at, "the function must return a tensor or a tuple of tensors");
  return -1;
}

/* The environment and instance a function runs in: its module's instance, or its file. */
static Env *home_of(Tr *t, Node *file, const IrgFnRef *ref) {
  Env *fe = irg_file_env(t, file);
  if (!ref->module) return fe;
  Val *m = irg_lookup(fe, ref->module->name);
  if (!m || m->k != VK_MODULE) return NULL;
  Val *inst = irg_instantiate(t, m->fn, m->env, NULL, NULL, 0, NULL, NULL, 0);
  return inst ? inst->inst->env : NULL;
}

static int trace_call(Tr *t, Node *file, const IrgFnRef *ref, int nin, const IrDType *dts,
                      const IrShape *shapes, IrgProgram *p) {
  Env *home = home_of(t, file, ref);
  if (!home) return -1;
  int na = ref->fn->nkids - 2;
  if (nin != na) {
    irg_error(t, ref->fn->span, "function '%s' takes %d arguments, %d given", ref->fn->name, na, nin);
    return -1;
  }
  Val *args[IRG_FN_MAX_IN];
  for (int i = 0; i < nin && i < IRG_FN_MAX_IN; i++)
    if (!(args[i] = irg_tensor(t, ir_input(t->g, ref->fn->kids[2 + i]->name, dts[i], shapes[i])))) return -1;
  t->at = ref->fn->span;
  Val *r = irg_call_fn(t, ref->fn, home, args, nin, NULL, NULL, 0, ref->fn->span);
  if (!r) return -1;
  IrVal outs[64];
  int no = 0;
  if (collect_outputs(t, r, outs, &no, 64)) return -1;
  if (ir_set_outputs(t->g, no, outs)) return irg_fail_ir(t), -1;
  (void)p;
  return 0;
}

/* p->params: the graph's parameter leaves. Returns 0, or -1 (reported, p freed) when out
 * of memory. */
static int collect_params(Lang *L, Span at, IrgProgram *p) {
  p->nparams = ir_leaves(p->g, OP_PARAM, NULL, 0);
  p->params = calloc(p->nparams + 1, sizeof(IrVal));
  if (!p->params) {
    irg_program_free(p);
    return diag_error(L, at, "out of memory"), -1;
  }
  ir_leaves(p->g, OP_PARAM, p->params, p->nparams);
  return 0;
}

int irg_build_fn(Lang *L, Node *file, const char *qualified, int nin, const IrDType *dts,
                 const IrShape *shapes, int training, const IrHostTab *hosts, IrgProgram *p) {
  memset(p, 0, sizeof *p);
  p->loss = IR_NONE;
  Span at = {file ? file->span.file : 0, 0, 0};
  IrgFnRef ref;
  if (irg_find_fn(file, qualified, &ref)) return diag_error(L, at, "no function '%s' in this file", qualified), -1;
  if (nin > IRG_FN_MAX_IN) return diag_error(L, ref.fn->span, "more than %d arguments", IRG_FN_MAX_IN), -1;
  Tr t = {.L = L, .training = training, .hosts = hosts};
  t.root = &t;
  t.g = p->g = ir_graph_new();
  if (!t.g) return diag_error(L, at, "out of memory"), -1;
  int rc = trace_call(&t, file, &ref, nin, dts, shapes, p);
  if (rc || t.failed) {
    irg_program_free(p);
    return -1;
  }
  return collect_params(L, at, p);
}

int irg_build_params(Lang *L, Node *file, const char *model, IrgProgram *p) {
  memset(p, 0, sizeof *p);
  p->loss = IR_NONE;
  Span at = {file ? file->span.file : 0, 0, 0};
  Node *mod = find_decl(file, N_MODULE, model, strlen(model));
  if (!mod) return diag_error(L, at, "no model '%s' in this file", model), -1;
  Tr t = {.L = L};
  t.root = &t;
  t.g = p->g = ir_graph_new();
  if (!t.g) return diag_error(L, at, "out of memory"), -1;
  IrgFnRef ref = {mod, NULL};
  if (!home_of(&t, file, &ref) || t.failed) {
    irg_program_free(p);
    return -1;
  }
  return collect_params(L, at, p);
}
