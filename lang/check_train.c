/* check_train.c — training declarations: `train Model { key = expr; kind name = expr }`.
 *
 * Keys come from one table (name, what the value must be, required?). The data source is
 * checked first: it defines the fields of `batch` (batch.x, batch.y) with the batch dim
 * `B`. Losses and metrics are expressions over the model's members and `batch`, and must
 * be scalars; optimizers are calls of sgd/adam/rmsprop whose `lr` may use the
 * compile-time names `step` and `epoch` (a schedule).
 */
#include <string.h>

#include "check.h"

static Node *kid(const Node *n, int i) {
  return n && i < n->nkids ? n->kids[i] : NULL;
}

typedef enum { V_DATA, V_EXPR_LOSS, V_METRIC, V_OPT, V_POS_INT, V_INT, V_SIZE, V_STR, V_POS_NUM } ValueKind;

static const struct {
  const char *key;
  ValueKind kind;
} keys[] = {
    {"data", V_DATA}, {"eval", V_DATA}, {"loss", V_EXPR_LOSS}, {"optimizer", V_OPT},
    {"metric", V_METRIC}, {"batch_size", V_POS_INT}, {"epochs", V_POS_INT}, {"steps", V_POS_INT},
    {"seed", V_INT}, {"memory_budget", V_SIZE}, {"checkpoint", V_STR}, {"checkpoint_every", V_POS_INT},
    {"clip_grad_norm", V_POS_NUM}, {"log_every", V_POS_INT},
};

#define NKEYS ((int)(sizeof keys / sizeof keys[0]))

static int key_index(const char *k) {
  for (int i = 0; i < NKEYS; i++)
    if (!strcmp(keys[i].key, k)) return i;
  return -1;
}

static const char *closest_key(const char *k) {
  const char *best = NULL;
  int bd = 4;
  for (int i = 0; i < NKEYS; i++) {
    int d = chk_edit_distance(keys[i].key, k);
    if (d < bd) bd = d, best = keys[i].key;
  }
  return best;
}

/* ---------------------------------------------------------------- argument binding */

/* A tiny keyword binder for the training built-ins (data sources, optimizers). */
typedef struct TArgs {
  Node *pos[8];
  int npos;
  Node *kw[16];
  int nkw;
} TArgs;

static void targs(Node *call, TArgs *a) {
  memset(a, 0, sizeof *a);
  for (int i = 1; i < call->nkids; i++) {
    Node *k = call->kids[i];
    if (k->kind == N_KWARG && a->nkw < 16) a->kw[a->nkw++] = k;
    else if (k->kind != N_KWARG && a->npos < 8) a->pos[a->npos++] = k;
  }
}

static Node *targ(TArgs *a, int pos, const char *name) {
  for (int i = 0; i < a->nkw; i++)
    if (!strcmp(a->kw[i]->name, name)) return kid(a->kw[i], 0);
  return pos >= 0 && pos < a->npos ? a->pos[pos] : NULL;
}

/* Unknown keywords and extra positionals, against a signature "path, scale, shape". */
static int targs_check(Chk *C, Node *call, TArgs *a, const char *fname, const char *const *params, int maxpos) {
  int ok = 1;
  char sig[200];
  size_t len = (size_t)snprintf(sig, sizeof sig, "%s(", fname);
  for (int i = 0; params[i] && len < sizeof sig; i++)
    len += (size_t)snprintf(sig + len, sizeof sig - len, "%s%s", i ? ", " : "", params[i]);
  if (len < sizeof sig) snprintf(sig + len, sizeof sig - len, ")");
  for (int i = 0; i < a->nkw; i++) {
    int found = 0;
    for (int j = 0; params[j]; j++) found |= !strcmp(params[j], a->kw[i]->name);
    if (!found) {
      diag_error(C->L, a->kw[i]->span, "unknown keyword argument '%s' for %s", a->kw[i]->name, sig);
      ok = 0;
    }
  }
  if (a->npos > maxpos) {
    diag_error(C->L, call->span, "too many arguments to %s: expected at most %d, got %d", sig, maxpos, a->npos);
    ok = 0;
  }
  return ok;
}

static Type *texpr(Chk *C, Node *n) {
  return n ? chk_expr(C, n) : NULL;
}

static int want_str(Chk *C, Node *n, const char *what) {
  Type *t = texpr(C, n);
  if (!t || type_is_err(t)) return 0;
  if (t->kind == TY_SCALAR && t->scalar == ST_STR) return 1;
  diag_error(C->L, n->span, "%s must be a string, got %s", what, type_str_of(t));
  return 0;
}

/* ---------------------------------------------------------------- data sources */

static void set_batch(Chk *C, Type *x, Type *y) {
  C->nbfield = 2;
  C->bfield[0] = "x";
  C->btype[0] = x;
  C->bfield[1] = "y";
  C->btype[1] = y;
}

/* shape=(1, 28, 28) -> the dims after B */
static int shape_dims(Chk *C, Node *n, Dim **d, int *r) {
  Type *t = texpr(C, n);
  if (!t || type_is_err(t)) return 0;
  Type *one[1] = {t};
  Type **el = t->kind == TY_TUPLE ? t->elems : one;
  int ne = t->kind == TY_TUPLE ? t->nelems : 1;
  if (ne >= NNC_MAX_RANK) return 0;
  for (int i = 0; i < ne; i++) {
    if (el[i]->kind != TY_SCALAR || el[i]->scalar != ST_INT || !CT(el[i])->ival) {
      diag_error(C->L, n->span, "shape must be a tuple of compile-time ints, got %s", type_str_of(t));
      return 0;
    }
    d[i] = CT(el[i])->ival;
  }
  *r = ne;
  return 1;
}

static Type *batch_tensor(Chk *C, DType dt, Dim **rest, int n) {
  Dim *d[NNC_MAX_RANK];
  d[0] = dim_sym(C->L, "B");
  for (int i = 0; i < n && i + 1 < NNC_MAX_RANK; i++) d[i + 1] = rest[i];
  return type_tensor(C->L, dt, n + 1, d);
}

static int data_idx(Chk *C, Node *call, TArgs *a) {
  static const char *p[] = {"path", "scale", "shape", NULL};
  int ok = targs_check(C, call, a, "idx", p, 1);
  Node *path = targ(a, 0, "path");
  if (!path) {
    diag_error(C->L, call->span, "missing argument 'path' in call to idx(path, scale, shape)");
    return 0;
  }
  ok &= want_str(C, path, "the path");
  Type *sc = texpr(C, targ(a, -1, "scale"));
  if (sc && !type_is_err(sc) && (sc->kind != TY_SCALAR || (sc->scalar != ST_FLOAT && sc->scalar != ST_INT)))
    diag_error(C->L, targ(a, -1, "scale")->span, "scale must be a number, got %s", type_str_of(sc)), ok = 0;
  Dim *d[NNC_MAX_RANK];
  int r = 1;
  d[0] = dim_const(C->L, 784);
  Node *sh = targ(a, -1, "shape");
  if (sh && !shape_dims(C, sh, d, &r)) return 0;
  if (ok) set_batch(C, batch_tensor(C, DT_F32, d, r), batch_tensor(C, DT_I32, NULL, 0));
  return ok;
}

static int data_text(Chk *C, Node *call, TArgs *a) {
  static const char *p[] = {"path", "seq", "split", NULL};
  int ok = targs_check(C, call, a, "text", p, 2);
  Node *path = targ(a, 0, "path");
  if (!path) {
    diag_error(C->L, call->span, "missing argument 'path' in call to text(path, seq, split)");
    return 0;
  }
  ok &= want_str(C, path, "the path");
  Node *seqn = targ(a, 1, "seq");
  Dim *seq = seqn ? chk_const_int(C, seqn, "seq") : dim_const(C->L, 100);
  if (!seq) return 0;
  Type *sp = texpr(C, targ(a, -1, "split"));
  if (sp && !type_is_err(sp) && (sp->kind != TY_SCALAR || sp->scalar != ST_FLOAT))
    diag_error(C->L, targ(a, -1, "split")->span, "split must be a float in (0, 1], got %s", type_str_of(sp)), ok = 0;
  if (ok) set_batch(C, batch_tensor(C, DT_I32, &seq, 1), batch_tensor(C, DT_I32, &seq, 1));
  return ok;
}

/* csv(path, x_shape=(..), y_shape=(..)) and npy(x=path, y=path, x_shape=, y_shape=):
 * the file's shapes are known only at run time, so they are declared here. */
static int data_table(Chk *C, Node *call, TArgs *a, const char *name) {
  static const char *pc[] = {"path", "x_shape", "y_shape", "x_dtype", "y_dtype", NULL};
  static const char *pn[] = {"x", "y", "x_shape", "y_shape", "x_dtype", "y_dtype", NULL};
  int csv = !strcmp(name, "csv");
  int ok = targs_check(C, call, a, name, csv ? pc : pn, csv ? 1 : 2);
  Node *path = targ(a, 0, csv ? "path" : "x");
  if (!path) {
    diag_error(C->L, call->span, "missing argument '%s' in call to %s", csv ? "path" : "x", name);
    return 0;
  }
  ok &= want_str(C, path, "the path");
  Dim *xd[NNC_MAX_RANK], *yd[NNC_MAX_RANK];
  int xr = 0, yr = 0;
  Node *xs = targ(a, -1, "x_shape"), *ys = targ(a, -1, "y_shape");
  if (!xs) {
    diag_error(C->L, call->span, "%s needs x_shape=(...): the shape of one example", name);
    return 0;
  }
  if (!shape_dims(C, xs, xd, &xr) || (ys && !shape_dims(C, ys, yd, &yr))) return 0;
  Type *xdt = texpr(C, targ(a, -1, "x_dtype")), *ydt = texpr(C, targ(a, -1, "y_dtype"));
  DType xt = xdt && xdt->kind == TY_DTYPE ? xdt->dtype : DT_F32;
  DType dt = ydt && ydt->kind == TY_DTYPE ? ydt->dtype : DT_I32;
  if (ok) set_batch(C, batch_tensor(C, xt, xd, xr), batch_tensor(C, dt, yd, yr));
  return ok;
}

/* generator(fn, args...): a host function returning (x, y) per batch. */
static int data_generator(Chk *C, Node *call, TArgs *a) {
  Node *fn = a->npos ? a->pos[0] : NULL;
  Type *ft = texpr(C, fn);
  if (!ft || type_is_err(ft)) {
    if (!fn) diag_error(C->L, call->span, "missing argument 'fn' in call to generator(fn, args...)");
    return 0;
  }
  if (ft->kind != TY_FN || !ft->decl || ft->decl->kind != N_EXTERN || !ft->decl->sym) {
    diag_error(C->L, fn->span, "generator needs an extern fn, got %s", type_str_of(ft));
    return 0;
  }
  Type *r = chk_fn_result(C, ft->decl, NULL);
  if (type_is_err(r)) return 0;
  if (r->kind == TY_TUPLE && r->nelems >= 2) set_batch(C, r->elems[0], r->elems[1]);
  else set_batch(C, r, r);
  return 1;
}

static Type *check_data(Chk *C, Node *v) {
  Node *callee = v && v->kind == N_CALL ? kid(v, 0) : NULL;
  if (!callee || callee->kind != N_NAME) {
    diag_error(C->L, v->span, "data must be a source: idx(...), text(...), csv(...), npy(...) or generator(...)");
    return type_error();
  }
  TArgs a;
  targs(v, &a);
  int ok;
  if (!strcmp(callee->name, "idx")) ok = data_idx(C, v, &a);
  else if (!strcmp(callee->name, "text")) ok = data_text(C, v, &a);
  else if (!strcmp(callee->name, "csv") || !strcmp(callee->name, "npy")) ok = data_table(C, v, &a, callee->name);
  else if (!strcmp(callee->name, "generator")) ok = data_generator(C, v, &a);
  else {
    diag_error(C->L, callee->span, "unknown data source '%s'; expected idx, text, csv, npy or generator", callee->name);
    return type_error();
  }
  return ok ? type_object(C->L, "data") : type_error();
}

/* ---------------------------------------------------------------- optimizers */

static int check_lr(Chk *C, Node *lr) {
  Scope *saved = C->scope;
  C->scope = scope_push(C->L, saved, 0);
  scope_add(C->L, C->scope, "step", SYM_LOOP, type_int(C->L, dim_sym(C->L, "step")), NULL);
  scope_add(C->L, C->scope, "epoch", SYM_LOOP, type_int(C->L, dim_sym(C->L, "epoch")), NULL);
  Type *t = chk_expr(C, lr);
  C->scope = saved;
  if (type_is_err(t)) return 0;
  if (t->kind == TY_SCALAR && (t->scalar == ST_FLOAT || t->scalar == ST_INT)) return 1;
  diag_error(C->L, lr->span, "lr must be a number or a schedule in step and epoch, got %s", type_str_of(t));
  return 0;
}

static int check_params_list(Chk *C, Node *pl) {
  if (pl->kind != N_LIST) {
    diag_error(C->L, pl->span, "params must be a list of sub-module or parameter names");
    return 0;
  }
  for (int i = 0; i < pl->nkids; i++) {
    Type *t = chk_expr(C, pl->kids[i]);
    if (type_is_err(t)) return 0;
    if (t->kind != TY_MODULE && t->kind != TY_LIST && t->kind != TY_TENSOR) {
      diag_error(C->L, pl->kids[i]->span, "params must name sub-modules or parameters, got %s", type_str_of(t));
      return 0;
    }
  }
  return 1;
}

static int opt_num(Chk *C, Node *n) {
  Type *t = texpr(C, n);
  if (!t || type_is_err(t)) return t != NULL ? 0 : 1;
  if (t->kind == TY_SCALAR && (t->scalar == ST_FLOAT || t->scalar == ST_INT || t->scalar == ST_BOOL)) return 1;
  diag_error(C->L, n->span, "optimizer settings must be compile-time numbers, got %s", type_str_of(t));
  return 0;
}

static Type *check_optimizer(Chk *C, Node *v, Node **loss_name) {
  static const char *psgd[] = {"lr", "momentum", "nesterov", "weight_decay", "params", "loss", NULL};
  static const char *padam[] = {"lr", "beta1", "beta2", "eps", "weight_decay", "params", "loss", NULL};
  static const char *prms[] = {"lr", "alpha", "eps", "momentum", "params", "loss", NULL};
  Node *callee = v && v->kind == N_CALL ? kid(v, 0) : NULL;
  const char *const *p = NULL;
  if (callee && callee->kind == N_NAME)
    p = !strcmp(callee->name, "sgd") ? psgd : !strcmp(callee->name, "adam") ? padam
      : !strcmp(callee->name, "rmsprop") ? prms : NULL;
  if (!p) {
    diag_error(C->L, v->span, "optimizer must be sgd(...), adam(...) or rmsprop(...)");
    return type_error();
  }
  TArgs a;
  targs(v, &a);
  int ok = targs_check(C, v, &a, callee->name, p, 1);
  Node *lr = targ(&a, 0, "lr");
  if (!lr && strcmp(callee->name, "adam")) {
    diag_error(C->L, v->span, "missing argument 'lr' in call to %s", callee->name);
    ok = 0;
  }
  if (lr) ok &= check_lr(C, lr);
  for (int i = 1; p[i]; i++) {
    Node *n = targ(&a, -1, p[i]);
    if (!n) continue;
    if (!strcmp(p[i], "params")) ok &= check_params_list(C, n);
    else if (!strcmp(p[i], "loss")) {
      if (n->kind != N_NAME) diag_error(C->L, n->span, "loss= must name a loss of this train block"), ok = 0;
      else *loss_name = n;
    } else ok &= opt_num(C, n);
  }
  return ok ? type_object(C->L, "optimizer") : type_error();
}

/* ---------------------------------------------------------------- losses, settings */

static Type *check_scalar_expr(Chk *C, Node *v, const char *what) {
  Type *t = chk_expr(C, v);
  if (type_is_err(t)) return t;
  if (t->kind != TY_TENSOR || t->rank != 0) {
    Diag *d = diag_error(C->L, v->span, "%s must be a scalar, got %s", what, type_str_of(t));
    if (t->kind == TY_TENSOR) diag_note(C->L, d, v->span, "did you mean mean(...)?");
    return type_error();
  }
  if (!strcmp(what, "loss") && t->dtype != DT_F32 && t->dtype != DT_F64) {
    diag_error(C->L, v->span, "loss must be f32, got %s", type_str_of(t));
    return type_error();
  }
  return t;
}

static Type *check_setting(Chk *C, Node *v, ValueKind k, const char *key) {
  Type *t = chk_expr(C, v);
  if (type_is_err(t)) return t;
  int64_t iv;
  int is_int = t->kind == TY_SCALAR && t->scalar == ST_INT && CT(t)->ival;
  switch (k) {
  case V_POS_INT:
    if (!is_int || !dim_is_const(CT(t)->ival, &iv) || iv <= 0) break;
    return t;
  case V_INT:
    if (!is_int) break;
    return t;
  case V_SIZE:
    if (!is_int || !dim_is_const(CT(t)->ival, &iv) || iv <= 0) break;
    return t;
  case V_STR:
    if (t->kind != TY_SCALAR || t->scalar != ST_STR) break;
    return t;
  case V_POS_NUM: {
    double x = 0;
    if (t->kind == TY_SCALAR && t->scalar == ST_FLOAT && CT(t)->known) x = CT(t)->fval;
    else if (is_int && dim_is_const(CT(t)->ival, &iv)) x = (double)iv;
    if (x <= 0) break;
    return t;
  }
  default: return t;
  }
  static const char *what[] = {"", "", "", "", "a positive int", "an int", "a size (64MB) or a positive int",
                               "a string", "a positive number"};
  char got[64];
  if (is_int) snprintf(got, sizeof got, "%s", dim_str(CT(t)->ival));
  else snprintf(got, sizeof got, "%s", type_str_of(t));
  diag_error(C->L, v->span, "%s must be %s, got %s", key, what[k], got);
  return type_error();
}

/* ---------------------------------------------------------------- the block */

typedef struct Seen {
  Node *item[64];
  const char *name[64];
  int n;
} Seen;

static int seen_dup(Chk *C, Seen *s, Node *it, const char *name) {
  for (int i = 0; i < s->n; i++)
    if (!strcmp(s->name[i], name)) {
      Diag *d = diag_error(C->L, it->span, "duplicate train setting '%s'", name);
      diag_note(C->L, d, s->item[i]->span, "previous setting here");
      return 1;
    }
  if (s->n < 64) s->item[s->n] = it, s->name[s->n++] = name;
  return 0;
}

/* The setting an item belongs to: `loss = ...` -> loss; `metric acc = ...` -> metric. */
static const char *item_key(Node *it) {
  return it->str ? it->str : it->name;
}

static Node *find_model(Chk *C, Node *train) {
  Sym *y = scope_lookup(C->scope, train->name);
  if (!y || y->kind != SYM_MODULE) {
    diag_error(C->L, train->span, "train: unknown model '%s'", train->name);
    return NULL;
  }
  y->used = 1;
  Node *mod = y->decl;
  for (int i = 0; i < mod->op; i++)
    if (!kid(mod->kids[i], 1)) {
      diag_error(C->L, train->span, "train: model '%s' has hyper-parameter '%s' without a default", mod->name,
                 mod->kids[i]->name);
      return NULL;
    }
  return mod;
}

static void check_item(Chk *C, Node *train, Node *it, Seen *seen, Node **opt_loss, int *nopt_loss, int *nopt) {
  const char *key = item_key(it);
  int k = key_index(key);
  Node *v = kid(it, 0);
  if (k < 0 || (it->str && keys[k].kind != V_EXPR_LOSS && keys[k].kind != V_METRIC && keys[k].kind != V_OPT)) {
    const char *s = closest_key(key);
    if (it->str) diag_error(C->L, it->span, "unknown kind '%s'; expected loss, metric or optimizer", it->str);
    else if (s) diag_error(C->L, it->span, "unknown train setting '%s'; did you mean '%s'?", key, s);
    else diag_error(C->L, it->span, "unknown train setting '%s'", key);
    return;
  }
  if (keys[k].kind == V_DATA) return; /* checked first */
  if (seen_dup(C, seen, it, it->name)) return;
  switch (keys[k].kind) {
  case V_EXPR_LOSS: it->type = check_scalar_expr(C, v, "loss"); break;
  case V_METRIC: it->type = check_scalar_expr(C, v, "metric"); break;
  case V_OPT: {
    Node *ln = NULL;
    it->type = check_optimizer(C, v, &ln);
    if (ln && *nopt_loss < 16) opt_loss[(*nopt_loss)++] = ln;
    (*nopt)++;
    break;
  }
  default: it->type = check_setting(C, v, keys[k].kind, key); break;
  }
  if (!it->str && !strcmp(key, "metric")) diag_error(C->L, it->span, "a metric needs a name: metric accuracy = ...");
}

static int has_loss(Seen *s, const char *name) {
  for (int i = 0; i < s->n; i++)
    if (!strcmp(s->name[i], name) && s->item[i]->str && !strcmp(s->item[i]->str, "loss")) return 1;
  for (int i = 0; i < s->n; i++)
    if (!strcmp(s->name[i], name) && !s->item[i]->str && !strcmp(name, "loss")) return 1;
  return 0;
}

static const char *closest_loss(Seen *s, const char *name) {
  const char *best = NULL;
  int bd = 3;
  for (int i = 0; i < s->n; i++) {
    if (strcmp(item_key(s->item[i]), "loss")) continue;
    int d = chk_edit_distance(s->name[i], name);
    if (d < bd) bd = d, best = s->name[i];
  }
  return best;
}

static int has_key(Seen *s, const char *key) {
  for (int i = 0; i < s->n; i++)
    if (!strcmp(item_key(s->item[i]), key)) return 1;
  return 0;
}

static void check_data_items(Chk *C, Node *train, Seen *seen) {
  for (int i = 0; i < train->nkids; i++) {
    Node *it = train->kids[i];
    if (it->str || (strcmp(it->name, "data") && strcmp(it->name, "eval"))) continue;
    if (seen_dup(C, seen, it, it->name)) continue;
    int before = C->nbfield;
    Type *bt[4];
    memcpy(bt, C->btype, sizeof bt);
    it->type = check_data(C, kid(it, 0));
    if (!strcmp(it->name, "eval") && before) { /* batch fields come from `data` */
      C->nbfield = before;
      memcpy(C->btype, bt, sizeof bt);
    }
  }
  /* No usable data source (missing, or its error already reported): batch.x and batch.y
   * are error types, so their uses do not add follow-on errors. */
  if (!C->nbfield) set_batch(C, type_error(), type_error());
}

static void check_required(Chk *C, Node *train, Seen *seen, Node **opt_loss, int nol, int nopt) {
  static const char *req[] = {"data", "optimizer", "batch_size"};
  for (int i = 0; i < 3; i++)
    if (!has_key(seen, req[i])) diag_error(C->L, train->span, "train %s: missing '%s'", train->name, req[i]);
  if (!has_key(seen, "loss") && (nol == 0 || nol < nopt))
    diag_error(C->L, train->span, "train %s: missing 'loss' (or a loss= for each optimizer)", train->name);
  for (int i = 0; i < nol; i++)
    if (!has_loss(seen, opt_loss[i]->name)) {
      const char *s = closest_loss(seen, opt_loss[i]->name);
      diag_error(C->L, opt_loss[i]->span, "optimizer names loss '%s', which is not declared%s%s%s", opt_loss[i]->name,
                 s ? "; did you mean '" : "", s ? s : "", s ? "'?" : "");
    }
}

void chk_train(Chk *C, Node *train) {
  Node *mod = find_model(C, train);
  if (!mod) return;
  Type inst_probe = {.kind = TY_MODULE, .decl = mod};
  Scope *ms = chk_module_scope(C, &inst_probe);
  if (!ms) return;
  Scope *saved = C->scope;
  Type *saved_self = C->self;
  C->scope = scope_push(C->L, ms, 0);
  C->self = mod->sym->self;
  C->in_train = 1;
  C->nbfield = 0;
  Type *batch = type_object(C->L, "batch");
  scope_add(C->L, C->scope, "batch", SYM_LET, batch, NULL);
  scope_add(C->L, C->scope, "B", SYM_DIM, type_int(C->L, dim_sym(C->L, "B")), NULL);
  Seen seen = {0};
  Node *opt_loss[16];
  int nol = 0, nopt = 0;
  check_data_items(C, train, &seen);
  for (int i = 0; i < train->nkids; i++) check_item(C, train, train->kids[i], &seen, opt_loss, &nol, &nopt);
  check_required(C, train, &seen, opt_loss, nol, nopt);
  C->scope = saved;
  C->self = saved_self;
  C->in_train = 0;
  C->nbfield = 0;
}
