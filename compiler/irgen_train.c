/* irgen_train.c — a `train` declaration: its settings as compile-time values, and the
 * traced program (loss, metrics, gradients) the driver compiles and runs. */
#include <stdlib.h>
#include <string.h>

#include "irgen_int.h"
#include "fuse.h"

/* ------------------------------------------------------------------ objects */

int irg_obj_num(const IrgObj *o, const char *key, int pos, double *out) {
  int p = 0;
  for (int i = 0; i < o->nargs; i++) {
    if (o->args[i].key ? !strcmp(o->args[i].key, key) : p++ == pos) {
      if (o->args[i].is_str) return 0;
      *out = o->args[i].num;
      return 1;
    }
  }
  return 0;
}

int irg_obj_dims(const IrgObj *o, const char *key, int pos, int64_t *dims) {
  int p = 0;
  for (int i = 0; i < o->nargs; i++)
    if (o->args[i].key ? !strcmp(o->args[i].key, key) : p++ == pos) {
      memcpy(dims, o->args[i].dims, sizeof(int64_t) * o->args[i].ndims);
      return o->args[i].ndims;
    }
  return 0;
}

const char *irg_obj_str(const IrgObj *o, const char *key, int pos) {
  int p = 0;
  for (int i = 0; i < o->nargs; i++)
    if (o->args[i].key ? !strcmp(o->args[i].key, key) : p++ == pos)
      return o->args[i].is_str ? o->args[i].s : NULL;
  return NULL;
}

/* Does expression n mention `step` or `epoch` (and so change during training)? */
static int mentions_schedule(const Node *n) {
  if (!n) return 0;
  if (n->kind == N_NAME && n->name && (!strcmp(n->name, "step") || !strcmp(n->name, "epoch"))) return 1;
  for (int i = 0; i < n->nkids; i++)
    if (mentions_schedule(n->kids[i])) return 1;
  return 0;
}

/* Binds `step` and `epoch` for evaluating schedules. */
static Env *schedule_env(Tr *t, Env *up, int64_t step, int64_t epoch) {
  Env *e = irg_env(t, up);
  irg_bind(t, e, lang_intern(t->L, "step", 4), irg_int(t, step));
  irg_bind(t, e, lang_intern(t->L, "epoch", 5), irg_int(t, epoch));
  return e;
}

/* The N_FILE holding declaration d. */
static Node *file_of(Lang *L, const Node *d) {
  for (int i = 0; i < lang_file_count(L); i++) {
    Node *f = lang_file_ast(L, i);
    for (int k = 0; f && k < f->nkids; k++)
      if (f->kids[k] == d) return f;
  }
  return NULL;
}

double irg_obj_num_at(Lang *L, const IrgObj *o, const char *key, int pos, int64_t step, int64_t epoch,
                      double deflt) {
  int p = 0;
  for (int i = 0; i < o->nargs; i++) {
    if (!(o->args[i].key ? !strcmp(o->args[i].key, key) : p++ == pos)) continue;
    if (o->args[i].is_str) return deflt;
    if (!o->args[i].dynamic) return o->args[i].num;
    Tr t = {.L = L};
    t.root = &t;
    Node *file = file_of(L, o->owner);
    if (!file) return deflt;
    Val *v = irg_eval(&t, schedule_env(&t, irg_file_env(&t, file), step, epoch), o->args[i].expr);
    return v && irg_is_num(v) ? irg_num(v) : deflt;
  }
  return deflt;
}

/* A call `kind(args...)` whose arguments are compile-time numbers or strings. */
static int read_obj(Tr *t, Env *e, Node *n, IrgObj *o) {
  memset(o, 0, sizeof *o);
  if (n->kind != N_CALL || n->kids[0]->kind != N_NAME) {
    irg_error(t, n->span, "expected a call such as idx(...) or adam(...)");
    return -1;
  }
  o->kind = n->kids[0]->name;
  o->span = n->span;
  o->owner = t->decl;
  for (int i = 1; i < n->nkids && o->nargs < IRG_MAX_ARGS; i++) {
    Node *a = n->kids[i];
    const char *key = NULL;
    if (a->kind == N_KWARG) key = a->name, a = a->kids[0];
    o->args[o->nargs].expr = a;
    o->args[o->nargs].dynamic = mentions_schedule(a);
    Val *v = irg_eval(t, schedule_env(t, e, 0, 0), a);
    if (!v) return -1;
    o->args[o->nargs].key = key;
    if (v->k == VK_STR || v->k == VK_DTYPE) {
      o->args[o->nargs].is_str = 1;
      o->args[o->nargs].s = v->k == VK_STR ? v->s : ir_dtype_name(v->dt);
    } else if (irg_is_num(v)) {
      o->args[o->nargs].num = irg_num(v);
    } else if (v->k == VK_TUPLE && v->n <= 8) {
      for (int k = 0; k < v->n; k++) {
        if (v->el[k]->k != VK_INT) return irg_error(t, a->span, "expected a tuple of integers"), -1;
        o->args[o->nargs].dims[k] = v->el[k]->i;
      }
      o->args[o->nargs].ndims = v->n;
    } else {
      irg_error(t, a->span, "argument must be a number or a string known at compile time");
      return -1;
    }
    o->nargs++;
  }
  return 0;
}

/* ------------------------------------------------------------------ settings */

static Node *find_train(Node *file, const char *model) {
  for (int i = 0; i < file->nkids; i++) {
    Node *d = file->kids[i];
    if (d && d->kind == N_TRAIN && (!model || !strcmp(d->name, model))) return d;
  }
  return NULL;
}

static int int_setting(Tr *t, Env *e, Node *v, int64_t *out) {
  Val *x = irg_eval(t, e, v);
  if (!x) return -1;
  if (x->k != VK_INT) {
    irg_error(t, v->span, "expected a compile-time integer");
    return -1;
  }
  *out = x->i;
  return 0;
}

static int read_item(Tr *t, Env *e, Node *it, IrgSettings *s) {
  Node *v = it->kids[0];
  const char *k = it->name;
  if (it->str) {
    if (!strcmp(it->str, "optimizer")) {
      if (s->nopt >= IRG_MAX_OPTS) return irg_error(t, it->span, "too many optimizers"), -1;
      s->opt_name[s->nopt] = k;
      return read_obj(t, e, v, &s->opt[s->nopt++]);
    }
    return 0;   /* loss / metric: traced by irg_build */
  }
  if (!strcmp(k, "data")) return read_obj(t, e, v, &s->data);
  if (!strcmp(k, "eval")) return s->has_eval = 1, read_obj(t, e, v, &s->eval);
  if (!strcmp(k, "optimizer")) {
    s->opt_name[s->nopt] = NULL;
    return read_obj(t, e, v, &s->opt[s->nopt++]);
  }
  if (!strcmp(k, "batch_size")) return int_setting(t, e, v, &s->batch_size);
  if (!strcmp(k, "epochs")) return int_setting(t, e, v, &s->epochs);
  if (!strcmp(k, "steps")) return int_setting(t, e, v, &s->steps);
  if (!strcmp(k, "seed")) return int_setting(t, e, v, &s->seed);
  if (!strcmp(k, "log_every")) return int_setting(t, e, v, &s->log_every);
  if (!strcmp(k, "checkpoint_every")) return int_setting(t, e, v, &s->checkpoint_every);
  if (!strcmp(k, "memory_budget")) return int_setting(t, e, v, &s->memory_budget);
  if (!strcmp(k, "clip_grad_norm")) {
    Val *x = irg_eval(t, e, v);
    if (!x || !irg_is_num(x)) return irg_error(t, v->span, "expected a number"), -1;
    s->clip_grad_norm = irg_num(x);
    return 0;
  }
  if (!strcmp(k, "checkpoint")) {
    Val *x = irg_eval(t, e, v);
    if (!x || x->k != VK_STR) return irg_error(t, v->span, "expected a path string"), -1;
    s->checkpoint = x->s;
    return 0;
  }
  return 0;   /* loss and unknown keys: the checker has reported unknown ones */
}

int irg_settings(Lang *L, Node *file, const char *model, IrgSettings *s) {
  memset(s, 0, sizeof *s);
  Tr t = {.L = L};
  t.root = &t;
  s->train = find_train(file, model);
  t.decl = s->train;
  if (!s->train) {
    diag_error(L, (Span){file->span.file, 0, 0}, "no train declaration%s%s in this file",
               model ? " for " : "", model ? model : "");
    return -1;
  }
  Env *fe = irg_file_env(&t, file);
  Val *m = irg_lookup(fe, s->train->name);
  if (!m || m->k != VK_MODULE) {
    diag_error(L, s->train->span, "'%s' is not a model", s->train->name);
    return -1;
  }
  s->model = m->fn;
  s->epochs = 1, s->seed = 1, s->log_every = 0;
  for (int i = 0; i < s->train->nkids; i++)
    if (s->train->kids[i] && read_item(&t, fe, s->train->kids[i], s)) return -1;
  if (!s->batch_size) s->batch_size = 32;
  return t.failed ? -1 : 0;
}

/* ------------------------------------------------------------------ the program */

static Val *batch_object(Tr *t, const IrgOptions *o) {
  Val *b = irg_val(t, VK_OBJ);
  b->n = o->nfields;
  b->el = lang_alloc(t->L, sizeof(Val *) * (o->nfields ? o->nfields : 1));
  b->fnames = lang_alloc(t->L, sizeof(char *) * (o->nfields ? o->nfields : 1));
  for (int i = 0; i < o->nfields; i++) {
    char name[64];
    snprintf(name, sizeof name, "batch.%s", o->fields[i].name);
    b->fnames[i] = lang_intern(t->L, o->fields[i].name, strlen(o->fields[i].name));
    b->el[i] = irg_tensor(t, ir_input(t->g, name, o->fields[i].dtype, o->fields[i].shape));
    if (!b->el[i]) return NULL;
  }
  return b;
}

static IrVal scalar_tensor(Tr *t, Val *v, Node *at, const char *what) {
  if (!v) return IR_NONE;
  if (v->k != VK_TENSOR) {
    irg_error(t, at->span, "%s must be a tensor", what);
    return IR_NONE;
  }
  IrVal x = irg_use(t, v);
  if (ir_type(t->g, x)->shape.rank != 0) {
    irg_error(t, at->span, "%s must be a scalar", what);
    return IR_NONE;
  }
  if (ir_type(t->g, x)->dtype != IR_F32) x = ir_cast(t->g, x, IR_F32);
  return x;
}

static int trace_items(Tr *t, Env *te, const IrgSettings *s, IrgProgram *p) {
  for (int i = 0; i < s->train->nkids; i++) {
    Node *it = s->train->kids[i];
    if (!it) continue;
    int is_loss = it->str ? !strcmp(it->str, "loss") : !strcmp(it->name, "loss");
    int is_metric = it->str && !strcmp(it->str, "metric");
    if (!is_loss && !is_metric) continue;
    IrVal x = scalar_tensor(t, irg_eval(t, te, it->kids[0]), it->kids[0], is_loss ? "a loss" : "a metric");
    if (x == IR_NONE) return -1;
    if (is_loss) {
      if (p->loss != IR_NONE) return irg_error(t, it->span, "several losses are not supported by the back end yet"), -1;
      p->loss = x;
    } else if (p->nmetrics < IRG_MAX_METRICS) {
      p->metric_name[p->nmetrics] = it->name;
      p->metric[p->nmetrics++] = x;
    }
  }
  return 0;
}

/* Runs a scan pass (scan_hoist.c) over the program's graph; the program's values and
 * spans follow the rebuild. */
static int scan_pass(IrgProgram *p, int (*pass)(IrGraph *, IrVal *, int **, int *)) {
  IrVal *vmap = malloc(((size_t)p->g->nvals + 1) * sizeof *vmap);
  int *origin = NULL, nh = 0;
  if (!vmap) return ir_fail(p->g, "out of memory");
  if (pass(p->g, vmap, &origin, &nh)) return free(vmap), -1;
  if (p->loss != IR_NONE) p->loss = vmap[p->loss];
  for (int i = 0; i < p->nmetrics; i++) p->metric[i] = vmap[p->metric[i]];
  for (int i = 0; p->params && i < p->nparams; i++) p->params[i] = vmap[p->params[i]];
  for (int i = 0; p->grads && i < p->nparams; i++) p->grads[i] = vmap[p->grads[i]];
  Span *sp = p->nspan && nh ? malloc(sizeof(Span) * (size_t)p->g->nnodes) : NULL;
  if (sp) {
    for (int i = 0; i < p->g->nnodes; i++) sp[i] = origin[i] < p->nspan ? p->span[origin[i]] : p->span[0];
    free(p->span);
    p->span = sp, p->nspan = p->g->nnodes;
  }
  free(vmap), free(origin);
  return 0;
}

int irg_build(Lang *L, const IrgSettings *s, const IrgOptions *o, IrgProgram *p) {
  memset(p, 0, sizeof *p);
  p->loss = IR_NONE;
  Tr t = {.L = L, .training = o->training, .prog = p, .hosts = o->hosts};
  t.root = &t;
  t.g = p->g = ir_graph_new();
  if (!t.g) return diag_error(L, s->train->span, "out of memory"), -1;
  Node *file = NULL;
  for (int i = 0; i < lang_file_count(L) && !file; i++) {
    Node *f = lang_file_ast(L, i);
    for (int k = 0; f && k < f->nkids; k++)
      if (f->kids[k] == s->train) file = f;
  }
  Env *fe = file ? irg_file_env(&t, file) : NULL;
  Val *m = fe ? irg_lookup(fe, s->model->name) : NULL;
  Val *inst = m ? irg_instantiate(&t, m->fn, m->env, NULL, NULL, 0, NULL, NULL, 0) : NULL;
  Val *batch = inst ? batch_object(&t, o) : NULL;
  if (batch) {
    Env *te = irg_env(&t, inst->inst->env);
    irg_bind(&t, te, lang_intern(L, "batch", 5), batch);
    if (o->nfields)   /* B, the batch size, as the checker knows it in train blocks */
      irg_bind(&t, te, lang_intern(L, "B", 1), irg_int(&t, o->fields[0].shape.dim[0]));
    int hoist = !o->no_scan_hoist && !lower_get_options()->no_scan_hoist;
    if (!trace_items(&t, te, s, p) && p->loss != IR_NONE) {
      if (hoist && scan_pass(p, ir_scan_hoist))   /* before autodiff: the gradients follow */
        irg_error(&t, s->train->span, "hoisting scan inputs: %s", ir_errmsg(t.g));
      t.g->keep_products = hoist;   /* the same switch: never under a memory budget */
      p->nparams = ir_leaves(t.g, OP_PARAM, NULL, 0);
      p->params = calloc(p->nparams + 1, sizeof(IrVal));
      p->grads = calloc(p->nparams + 1, sizeof(IrVal));
      if (!p->params || !p->grads) irg_error(&t, s->train->span, "out of memory");
      else ir_leaves(t.g, OP_PARAM, p->params, p->nparams);
      if (!t.failed && o->with_grads && ad_grad_params(t.g, p->loss, p->grads)) {
        int en = t.g->err_node - 1;   /* a host call the gradient reached: its call site */
        Span at = en >= 0 && en < p->nspan && p->span[en].len ? p->span[en] : s->train->span;
        irg_error(&t, at, "cannot differentiate the loss: %s", ir_errmsg(t.g));
      } else if (!t.failed && hoist && scan_pass(p, ir_scan_pretranspose)) {
        irg_error(&t, s->train->span, "pre-transposing scan weights: %s", ir_errmsg(t.g));
      }
    } else if (!t.failed) {
      irg_error(&t, s->train->span, "the train declaration has no loss");
    }
  }
  if (t.failed || !batch) {
    irg_program_free(p);
    return -1;
  }
  return 0;
}

void irg_program_free(IrgProgram *p) {
  ir_graph_free(p->g);
  free(p->span);
  free(p->params);
  free(p->grads);
  memset(p, 0, sizeof *p);
  p->loss = IR_NONE;
}
