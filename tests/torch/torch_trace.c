/* torch_trace.c — a test-local tracer for tests/torch (see torch_trace.h), built on the
 * tracer's internals (irgen_int.h): instantiate the model as irg_build does, bind each
 * argument to an input leaf and inline the call. */
#include <stdio.h>
#include <string.h>

#include "irgen_int.h"
#include "torch_trace.h"

#define TT_MAX_ARGS 8

static IrGraph *fail(IrGraph *g, char *msg, size_t cap, const char *what, const char *name) {
  snprintf(msg, cap, "%s%s", what, name ? name : "");
  ir_graph_free(g);
  return NULL;
}

/* The input leaf for argument `name`, from the fixture tensor of that name. */
static Val *arg_leaf(Tr *t, const nnrt_weights *w, const char *name) {
  const nnrt_tensor *x = nnrt_weights_get(w, name);
  if (!x) return NULL;
  IrShape s = {0, {0}};
  s.rank = nnrt_tensor_rank(x);
  for (int i = 0; i < s.rank; i++) s.dim[i] = nnrt_tensor_dim(x, i);
  IrDType dt = nnrt_tensor_dtype(x) == NNRT_I32 ? IR_I32 : IR_F32;
  return irg_tensor(t, ir_input(t->g, name, dt, s));
}

IrGraph *torch_trace(Lang *L, Node *file, const char *model, const char *fn, const nnrt_weights *w,
                     IrVal *out, char *msg, size_t cap) {
  Tr t = {.L = L, .training = 1};
  t.root = &t;
  t.g = ir_graph_new();
  if (!t.g) return fail(NULL, msg, cap, "out of memory", NULL);
  Env *fe = irg_file_env(&t, file);
  Val *m = fe ? irg_lookup(fe, lang_intern(L, model, strlen(model))) : NULL;
  if (!m || m->k != VK_MODULE) return fail(t.g, msg, cap, "no model ", model);
  Val *inst = irg_instantiate(&t, m->fn, m->env, NULL, NULL, 0, NULL, NULL, 0);
  if (!inst || t.failed) return fail(t.g, msg, cap, "cannot instantiate ", model);
  Node *f = irg_member_fn(inst->inst, lang_intern(L, fn, strlen(fn)));
  if (!f) return fail(t.g, msg, cap, "no function ", fn);
  int na = f->nkids - 2;   /* kids: result type, body, then the arguments */
  if (na < 0 || na > TT_MAX_ARGS) return fail(t.g, msg, cap, "bad argument count in ", fn);
  Val *args[TT_MAX_ARGS];
  for (int i = 0; i < na; i++)
    if (!(args[i] = arg_leaf(&t, w, f->kids[2 + i]->name)))
      return fail(t.g, msg, cap, "the fixture has no argument ", f->kids[2 + i]->name);
  t.at = f->span;
  Val *r = irg_call_fn(&t, f, inst->inst->env, args, na, NULL, NULL, 0, f->span);
  if (!r || t.failed) return fail(t.g, msg, cap, "cannot trace ", fn);
  if (r->k != VK_TENSOR) return fail(t.g, msg, cap, "the result is not one tensor: ", fn);
  *out = irg_use(&t, r);
  return t.g;
}
