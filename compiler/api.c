/* api.c — the public compiler API (nnc.h): contexts, errors and diagnostics, compiling a
 * source into a model, the list of its functions, tensor helpers and host functions.
 * Running is in api_run.c, training and weights in api_train.c. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

#ifndef NNC_VERSION
#define NNC_VERSION "0.1.0"
#endif

const char *nnc_version(void) { return NNC_VERSION; }

const char *nnc_strstatus(int s) {
  switch (s) {
  case NNC_OK: return "ok";
  case NNC_ECOMPILE: return "compile error";
  case NNC_EBACKEND: return "code generation error";
  case NNC_ESTATE: return "not applicable";
  case NNC_EHOST: return "host function failed";
  default: return nnrt_strstatus(s);
  }
}

/* ------------------------------------------------------------------ memory */

/* Blocks carry a header below the 64-byte aligned pointer: the raw pointer and size. */
typedef struct { void *raw; size_t size; } Hdr;

void *api_alloc(nnc_ctx *c, size_t n) {
  size_t total = n + 64 + sizeof(Hdr);
  if (total < n) return NULL;
  char *raw = c->alloc ? c->alloc(c->ud, NULL, 0, total) : malloc(total);
  if (!raw) return NULL;
  uintptr_t a = ((uintptr_t)raw + sizeof(Hdr) + 63) & ~(uintptr_t)63;
  Hdr *h = (Hdr *)a - 1;
  h->raw = raw;
  h->size = total;
  memset((void *)a, 0, n);
  return (void *)a;
}

void api_free(nnc_ctx *c, void *p) {
  if (!p) return;
  Hdr *h = (Hdr *)p - 1;
  if (c->alloc) c->alloc(c->ud, h->raw, h->size, 0);
  else free(h->raw);
}

/* ------------------------------------------------------------------ context */

nnc_ctx *nnc_ctx_create(nnrt_alloc_fn alloc, void *ud) {
  nnc_ctx tmp = {.alloc = alloc, .ud = ud};
  nnc_ctx *c = api_alloc(&tmp, sizeof *c);
  if (!c) return NULL;
  *c = tmp;
  c->diags = api_alloc(c, sizeof(ApiDiag) * API_MAX_DIAGS);
  c->rt = nnrt_ctx_create(alloc, ud);
  if (!c->diags || !c->rt) {
    nnc_ctx_free(c);
    return NULL;
  }
  return c;
}

void nnc_ctx_free(nnc_ctx *c) {
  if (!c) return;
  nnrt_ctx_free(c->rt);
  api_free(c, c->diags);
  api_free(c, c);
}

void nnc_set_log(nnc_ctx *c, nnrt_log_fn fn, void *ud, nnrt_log_level min_level) {
  if (!c) return;
  c->log = fn;
  c->log_ud = ud;
  c->log_min = min_level;
  nnrt_ctx_set_log(c->rt, fn, ud, min_level);
}

nnrt_ctx *nnc_runtime(nnc_ctx *c) { return c ? c->rt : NULL; }

void api_log(nnc_ctx *c, nnrt_log_level lv, const char *fmt, ...) {
  if (!c->log || lv < c->log_min) return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  c->log(c->log_ud, lv, buf);
}

int api_fail(nnc_ctx *c, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->msg, sizeof c->msg, fmt, ap);
  va_end(ap);
  /* The graph, lowering and JIT stages report exhaustion as a message ("...: out of
   * memory"), not a status: the status follows the message. */
  if (code != NNC_ENOMEM && strstr(c->msg, "out of memory")) code = NNC_ENOMEM;
  c->code = code;
  c->has_pos = 0;
  api_log(c, NNRT_LOG_ERROR, "%s", c->msg);
  return code;
}

const char *nnc_errmsg(const nnc_ctx *c) { return c ? c->msg : "no context (NULL)"; }
int nnc_errcode(const nnc_ctx *c) { return c ? c->code : NNC_EINVAL; }

int nnc_error_pos(const nnc_ctx *c, const char **file, int *line, int *col) {
  if (!c || !c->has_pos) return 0;
  if (file) *file = c->file;
  if (line) *line = c->line;
  if (col) *col = c->col;
  return 1;
}

/* ------------------------------------------------------------------ diagnostics */

int nnc_diag_count(const nnc_ctx *c) { return c ? c->ndiags : 0; }

int nnc_diag_get(const nnc_ctx *c, int i, nnc_diag *out) {
  if (!c || !out) return NNC_EINVAL;
  if (i < 0 || i >= c->ndiags) return api_fail((nnc_ctx *)c, NNC_ERANGE, "diagnostic %d of %d", i, c->ndiags);
  *out = c->diags[i].d;
  return NNC_OK;
}

static void add_diag(nnc_ctx *c, Lang *L, const Diag *d) {
  if (c->ndiags >= API_MAX_DIAGS) return;
  ApiDiag *a = &c->diags[c->ndiags++];
  SrcFile *f = src_get(L, d->span.file);
  int line = 0, col = 0;
  if (f && (d->span.off || d->span.len)) src_linecol(f, d->span.off, &line, &col);
  else if (f) line = 1, col = 1;
  snprintf(a->file, sizeof a->file, "%s", f ? f->path : "");
  snprintf(a->text, sizeof a->text, "%s", d->msg ? d->msg : "");
  a->d = (nnc_diag){a->file, line, col,
                    d->level == DIAG_ERROR ? NNC_DIAG_ERROR : d->level == DIAG_WARNING ? NNC_DIAG_WARNING : NNC_DIAG_NOTE,
                    a->text};
}

int api_lang_oom(nnc_model *m) {
  int n = lang_out_of_memory(m->L), grew = n != m->oom_seen;
  m->oom_seen = n;
  return grew;
}

int api_fail_diags(nnc_model *m, const char *what) {
  nnc_ctx *c = m->ctx;
  if (api_lang_oom(m)) return api_fail(c, NNC_ENOMEM, "out of memory while %s", what);
  c->ndiags = 0;
  const Diag *d = m->seen ? m->seen->next : diag_first(m->L);
  const ApiDiag *first = NULL;
  for (; d; d = d->next) {
    add_diag(c, m->L, d);
    if (d->level == DIAG_ERROR && !first) first = &c->diags[c->ndiags - 1];
    for (const Diag *n = d->notes; n; n = n->next) add_diag(c, m->L, n);
    m->seen = d;
  }
  if (!first) return api_fail(c, NNC_ECOMPILE, "%s failed", what);
  int rc = api_fail(c, NNC_ECOMPILE, "%s:%d:%d: error: %s", first->file, first->d.line, first->d.column, first->text);
  c->has_pos = 1;
  snprintf(c->file, sizeof c->file, "%s", first->file);
  c->line = first->d.line;
  c->col = first->d.column;
  return rc;
}

/* Moves diagnostics (warnings) of a successful compile into the ctx. */
static void keep_warnings(nnc_model *m) {
  m->ctx->ndiags = 0;
  for (const Diag *d = diag_first(m->L); d; d = d->next) {
    add_diag(m->ctx, m->L, d);
    m->seen = d;
  }
}

/* ------------------------------------------------------------------ dtypes */

nnrt_dtype api_rt_dtype(IrDType t) {
  static const nnrt_dtype map[] = {NNRT_F32, NNRT_F64, NNRT_I32, NNRT_I64, NNRT_BOOL, NNRT_BIT};
  return t < IR_NDTYPES ? map[t] : NNRT_F32;
}

int api_ir_dtype(nnrt_dtype t, IrDType *out) {
  static const int map[] = {IR_F32, IR_F64, IR_I32, IR_I64, IR_BOOL, IR_BIT, -1};
  if ((unsigned)t >= NNRT_DTYPE_COUNT || map[t] < 0) return -1;
  *out = (IrDType)map[t];
  return 0;
}

static nnrt_dtype dtype_of_decl(int dt) {
  switch (dt) {
  case DT_F64: return NNRT_F64;
  case DT_I32: return NNRT_I32;
  case DT_I64: return NNRT_I64;
  case DT_BOOL: return NNRT_BOOL;
  case DT_BIT: return NNRT_BIT;
  default: return NNRT_F32;
  }
}

/* ------------------------------------------------------------------ function list */

/* The default of hyper-parameter `name` of module mod when it is an integer literal. */
static int hparam_default(const Node *mod, const char *name, int64_t *v) {
  for (int i = 0; mod && i < mod->op; i++) {
    const Node *h = mod->kids[i];
    if (h && h->name == name && h->nkids > 1 && h->kids[1] && h->kids[1]->kind == N_INT) {
      *v = h->kids[1]->ival;
      return 1;
    }
  }
  return 0;
}

/* A written tensor type as an nnc_arg: literal dims and the model's integer
 * hyper-parameters with literal defaults are numbers; other dims are symbolic (-1). */
static void arg_of_type(const Node *mod, Node *ty, const char *name, nnc_arg *a) {
  memset(a, 0, sizeof *a);
  a->name = name;
  if (!ty || ty->kind != N_TTENSOR) return;
  a->dtype = dtype_of_decl(ty->op);
  a->rank = ty->nkids < NNRT_MAX_RANK ? ty->nkids : NNRT_MAX_RANK;
  for (int i = 0; i < a->rank; i++) {
    Node *d = ty->kids[i];
    int64_t v;
    int known = d && d->kind == N_NAME && hparam_default(mod, d->name, &v);
    a->dims[i] = d && d->kind == N_INT ? d->ival : known ? v : -1;
    a->dim_names[i] = known || (d && d->kind == N_INT) ? NULL : d && d->kind == N_NAME ? d->name : "?";
  }
}

static const char *result_name(nnc_model *m, int i) {
  char buf[32];
  snprintf(buf, sizeof buf, "result%d", i);
  return lang_intern(m->L, buf, strlen(buf));
}

static void fn_info(nnc_model *m, Node *mod, Node *fn, nnc_fn_info *fi) {
  char q[256];
  snprintf(q, sizeof q, "%s%s%s", mod ? mod->name : "", mod ? "." : "", fn->name);
  fi->name = lang_intern(m->L, q, strlen(q));
  fi->nargs = fn->nkids - 2 < NNC_MAX_ARGS ? fn->nkids - 2 : NNC_MAX_ARGS;
  for (int i = 0; i < fi->nargs; i++) {
    Node *a = fn->kids[2 + i];
    arg_of_type(mod, a->nkids ? a->kids[0] : NULL, a->name, &fi->args[i]);
  }
  Node *r = fn->kids[0];
  fi->nresults = !r ? -1 : r->kind == N_TTUPLE ? (r->nkids < NNC_MAX_ARGS ? r->nkids : NNC_MAX_ARGS) : 1;
  for (int i = 0; i < fi->nresults; i++)
    arg_of_type(mod, r->kind == N_TTUPLE ? r->kids[i] : r, result_name(m, i), &fi->results[i]);
}

/* Lists the functions of every `model` and the top-level functions, in file order. */
static int list_fns(nnc_model *m) {
  int cap = 0;
  for (int pass = 0; pass < 2; pass++) {
    int n = 0;
    for (int i = 0; i < m->file->nkids; i++) {
      Node *d = m->file->kids[i];
      if (!d) continue;
      if (d->kind == N_FN && d->name) {
        if (pass) fn_info(m, NULL, d, &m->fns[n]);
        n++;
      }
      if (d->kind != N_MODULE || !d->ival) continue;
      for (int k = d->op; k < d->nkids; k++)
        if (d->kids[k] && d->kids[k]->kind == N_FN && d->kids[k]->name) {
          if (pass) fn_info(m, d, d->kids[k], &m->fns[n]);
          n++;
        }
    }
    if (!pass) {
      cap = n;
      if (!(m->fns = api_alloc(m->ctx, sizeof(nnc_fn_info) * (cap + 1)))) return -1;
    }
    m->nfns = n;
  }
  return 0;
}

int nnc_fn_count(const nnc_model *m) { return m ? m->nfns : 0; }

int nnc_fn_info_get(const nnc_model *m, int i, nnc_fn_info *out) {
  if (!m || !out) return m ? api_fail(m->ctx, NNC_EINVAL, "nnc_fn_info_get: out is NULL") : NNC_EINVAL;
  if (i < 0 || i >= m->nfns) return api_fail(m->ctx, NNC_ERANGE, "function %d of %d", i, m->nfns);
  *out = m->fns[i];
  return NNC_OK;
}

/* ------------------------------------------------------------------ compiling */

/* The model whose params the API owns: the option, the train declaration's, or the
 * first `model` of the file. */
static const char *pick_model(nnc_model *m) {
  if (m->opt.model) return m->opt.model;
  if (m->has_train) return m->s.model->name;
  for (int i = 0; i < m->file->nkids; i++)
    if (m->file->kids[i] && m->file->kids[i]->kind == N_MODULE && m->file->kids[i]->ival)
      return m->file->kids[i]->name;
  return NULL;
}

static int has_train(const Node *file) {
  for (int i = 0; i < file->nkids; i++)
    if (file->kids[i] && file->kids[i]->kind == N_TRAIN) return 1;
  return 0;
}

/* Checks the parsed file, reads its train declaration, creates the params. */
static int finish(nnc_model *m) {
  /* a tree the parser could not finish for want of memory is not checked */
  if (api_lang_oom(m)) return api_fail(m->ctx, NNC_ENOMEM, "out of memory while parsing");
  if (!m->file || diag_error_count(m->L) || lang_check(m->L, m->file)) return api_fail_diags(m, "compiling");
  if (has_train(m->file)) {
    if (irg_settings(m->L, m->file, m->opt.model, &m->s)) return api_fail_diags(m, "reading the train declaration");
    m->has_train = 1;
  }
  m->model_name = pick_model(m);
  if (list_fns(m)) return api_fail(m->ctx, NNC_ENOMEM, "out of memory");
  int rc = api_check_externs(m);
  if (rc) return rc;
  rc = api_init_params(m);
  if (rc) return rc;
  if (api_lang_oom(m)) return api_fail(m->ctx, NNC_ENOMEM, "out of memory while compiling");
  keep_warnings(m);
  return NNC_OK;
}

static int begin(nnc_ctx *c, const nnc_options *opt, nnc_model **out, nnc_model **pm) {
  if (!out) return c ? api_fail(c, NNC_EINVAL, "the out pointer is NULL") : NNC_EINVAL;
  *out = NULL;
  if (!c) return NNC_EINVAL;
  c->ndiags = 0;
  nnc_model *m = api_alloc(c, sizeof *m);
  if (!m) return api_fail(c, NNC_ENOMEM, "out of memory");
  m->ctx = c;
  if (opt) m->opt = *opt;
  if (!m->opt.seed) m->opt.seed = 1;
  LangOptions lo = {(const char **)m->opt.import_paths, 0, 0};
  if (!(m->L = lang_new(&lo))) {
    api_free(c, m);
    return api_fail(c, NNC_ENOMEM, "out of memory");
  }
  *pm = m;
  return NNC_OK;
}

static int end(nnc_model *m, int rc, nnc_model **out) {
  if (rc) {
    nnc_model_free(m);
    return rc;
  }
  *out = m;
  return NNC_OK;
}

int nnc_compile_string(nnc_ctx *c, const char *name, const char *src, size_t len, const nnc_options *opt,
                       nnc_model **out) {
  nnc_model *m = NULL;
  int rc = begin(c, opt, out, &m);
  if (rc) return rc;
  if (!src) return end(m, api_fail(c, NNC_EINVAL, "the source is NULL"), out);
  m->file = lang_parse_string(m->L, name ? name : "<string>", src, len);
  return end(m, finish(m), out);
}

int nnc_compile_file(nnc_ctx *c, const char *path, const nnc_options *opt, nnc_model **out) {
  nnc_model *m = NULL;
  int rc = begin(c, opt, out, &m);
  if (rc) return rc;
  if (!path) return end(m, api_fail(c, NNC_EINVAL, "the path is NULL"), out);
  m->file = lang_parse_file(m->L, path);
  if (!m->file) {
    if (api_fail_diags(m, "reading") != NNC_ENOMEM) c->code = NNC_EIO;
    return end(m, c->code, out);
  }
  return end(m, finish(m), out);
}

void nnc_model_free(nnc_model *m) {
  if (!m) return;
  nnc_ctx *c = m->ctx;
  while (m->progs) {
    ApiProg *q = m->progs;
    m->progs = q->next;
    api_prog_free(m, q);
  }
  api_free_params(m);
  api_free(c, m->fns);
  lang_free(m->L);
  api_free(c, m);
}

/* ------------------------------------------------------------------ host functions */

/* "f32[?, 4]" (a symbolic dim by its name, -1 without one as ?). */
static const char *arg_str(const nnc_arg *a, char *buf, size_t cap) {
  size_t n = (size_t)snprintf(buf, cap, "%s[", nnrt_dtype_name(a->dtype));
  for (int d = 0; d < a->rank && n < cap; d++) {
    if (a->dims[d] >= 0) n += (size_t)snprintf(buf + n, cap - n, "%s%lld", d ? ", " : "", (long long)a->dims[d]);
    else n += (size_t)snprintf(buf + n, cap - n, "%s%s", d ? ", " : "", a->dim_names[d] ? a->dim_names[d] : "?");
  }
  if (n < cap) snprintf(buf + n, cap - n, "]");
  return buf;
}

static nnc_arg arg_of_ir(const IrType *t) {
  nnc_arg a = {0};
  a.dtype = api_rt_dtype(t->dtype);
  a.rank = t->shape.rank;
  for (int d = 0; d < a.rank; d++) a.dims[d] = t->shape.dim[d];
  return a;
}

/* Do the two agree (dtype, rank, and every dim numeric in both)? */
static int arg_fits(const nnc_arg *reg, const nnc_arg *have) {
  if (reg->dtype != have->dtype || reg->rank != have->rank) return 0;
  for (int d = 0; d < reg->rank; d++)
    if (reg->dims[d] >= 0 && have->dims[d] >= 0 && reg->dims[d] != have->dims[d]) return 0;
  return 1;
}

/* Compares h's registered signature with a declared or traced one (have); 0, or -1 with
 * a message naming both types. */
static int sig_check(const ApiHost *h, const nnc_fn_info *have, int traced, char *msg, size_t cap) {
  const nnc_fn_info *r = &h->sig;
  if (r->nargs != have->nargs || r->nresults != have->nresults) {
    snprintf(msg, cap, "host function '%s' is %s with %d arguments and %d results, registered with %d and %d", h->name,
             traced ? "called" : "declared", have->nargs, have->nresults, r->nargs, r->nresults);
    return -1;
  }
  for (int i = 0; i < r->nargs + r->nresults; i++) {
    const nnc_arg *a = i < r->nargs ? &r->args[i] : &r->results[i - r->nargs];
    const nnc_arg *b = i < r->nargs ? &have->args[i] : &have->results[i - r->nargs];
    if (arg_fits(a, b)) continue;
    char x[128], y[128];
    snprintf(msg, cap, "host function '%s': %s %d is %s%s%s, registered as %s", h->name, i < r->nargs ? "argument" : "result",
             1 + (i < r->nargs ? i : i - r->nargs), traced ? "" : "declared ", arg_str(b, y, sizeof y),
             traced ? " at this call" : "", arg_str(a, x, sizeof x));
    return -1;
  }
  return 0;
}

/* IrHostFn.check: the types of a traced call. */
static int host_check(void *ud, int nin, const IrType *tin, int nout, const IrType *tout, char *msg, size_t cap) {
  nnc_fn_info have = {0};
  have.nargs = nin < NNC_MAX_ARGS ? nin : NNC_MAX_ARGS;
  have.nresults = nout < NNC_MAX_ARGS ? nout : NNC_MAX_ARGS;
  for (int i = 0; i < have.nargs; i++) have.args[i] = arg_of_ir(&tin[i]);
  for (int i = 0; i < have.nresults; i++) have.results[i] = arg_of_ir(&tout[i]);
  return sig_check(ud, &have, 1, msg, cap);
}

/* IrHostFn.call: the buffers wrapped as nnrt tensors for the user's function. */
static int host_call(void *ud, int nin, const IrType *tin, void *const *in, int nout, const IrType *tout,
                     void *const *out, char *msg, size_t cap) {
  ApiHost *h = ud;
  nnrt_tensor *t[IR_HOST_MAX_ARGS] = {0};
  int rc = 0, n = nin + nout;
  for (int i = 0; i < n && !rc; i++) {
    const IrType *ty = i < nin ? &tin[i] : &tout[i - nin];
    rc = nnrt_tensor_wrap(h->ctx->rt, api_rt_dtype(ty->dtype), ty->shape.rank, ty->shape.dim, i < nin ? in[i] : out[i - nin],
                          &t[i]);
  }
  if (rc) snprintf(msg, cap, "wrapping its tensors: %s", nnrt_errmsg(h->ctx->rt));
  else if ((rc = h->fn(h->ud, nin, (const nnrt_tensor *const *)t, nout, t + nin)))
    snprintf(msg, cap, "it returned %d (%s)", rc, nnc_strstatus(rc));
  for (int i = 0; i < n; i++) nnrt_tensor_free(t[i]);
  return rc;
}

int nnc_register_fn(nnc_ctx *c, const char *name, const struct nnc_fn_info *sig, nnc_host_fn fn, void *ud) {
  if (!c) return NNC_EINVAL;
  if (!name || !*name || !fn || !sig)
    return api_fail(c, NNC_EINVAL, "nnc_register_fn: a name, a signature and a function are needed");
  if (strlen(name) >= sizeof c->host[0].name) return api_fail(c, NNC_EINVAL, "host function name '%s' is too long", name);
  if (sig->nargs < 0 || sig->nresults < 1 || sig->nargs + sig->nresults > IR_HOST_MAX_ARGS)
    return api_fail(c, NNC_EINVAL, "host function '%s': %d arguments and %d results (at least one result, at most %d in all)",
                    name, sig->nargs, sig->nresults, IR_HOST_MAX_ARGS);
  for (int i = 0; i < sig->nargs + sig->nresults; i++) {
    const nnc_arg *a = i < sig->nargs ? &sig->args[i] : &sig->results[i - sig->nargs];
    if (a->rank < 0 || a->rank > NNRT_MAX_RANK || a->dtype == NNRT_BIT)
      return api_fail(c, NNC_EINVAL, "host function '%s': %s %d has rank %d or dtype %s", name,
                      i < sig->nargs ? "argument" : "result", 1 + (i < sig->nargs ? i : i - sig->nargs), a->rank,
                      nnrt_dtype_name(a->dtype));
  }
  int i = 0;
  while (i < c->nhost && strcmp(c->host[i].name, name)) i++;
  if (i == API_MAX_HOST) return api_fail(c, NNC_ERANGE, "more than %d host functions", API_MAX_HOST);
  ApiHost *h = &c->host[i];
  snprintf(h->name, sizeof h->name, "%s", name);
  h->fn = fn;
  h->ud = ud;
  h->ctx = c;
  h->sig = *sig;
  h->sig.name = NULL;
  for (int k = 0; k < NNC_MAX_ARGS; k++) {
    h->sig.args[k].name = h->sig.results[k].name = NULL;
    for (int d = 0; d < NNRT_MAX_RANK; d++) h->sig.args[k].dim_names[d] = h->sig.results[k].dim_names[d] = NULL;
  }
  c->hostfn[i] = (IrHostFn){h->name, host_call, host_check, h};
  if (i == c->nhost) c->nhost++;
  c->hosts = (IrHostTab){c->nhost, c->hostfn, "register it with nnc_register_fn before compiling the model"};
  return NNC_OK;
}

const IrHostTab *api_hosts(nnc_ctx *c) {
  c->hosts = (IrHostTab){c->nhost, c->hostfn, "register it with nnc_register_fn before compiling the model"};
  return &c->hosts;
}

int api_check_externs(nnc_model *m) {
  nnc_ctx *c = m->ctx;
  for (int i = 0; i < m->file->nkids; i++) {
    Node *d = m->file->kids[i];
    const IrHostFn *f = d && d->kind == N_EXTERN ? ir_host_find(&c->hosts, d->name) : NULL;
    if (!f) continue;
    nnc_fn_info have = {0};
    have.nargs = d->nkids - 1 < NNC_MAX_ARGS ? d->nkids - 1 : NNC_MAX_ARGS;
    for (int k = 0; k < have.nargs; k++) {
      Node *a = d->kids[1 + k];
      arg_of_type(NULL, a->nkids ? a->kids[0] : NULL, a->name, &have.args[k]);
    }
    Node *r = d->kids[0];
    have.nresults = !r ? 0 : r->kind == N_TTUPLE ? (r->nkids < NNC_MAX_ARGS ? r->nkids : NNC_MAX_ARGS) : 1;
    for (int k = 0; k < have.nresults; k++) arg_of_type(NULL, r->kind == N_TTUPLE ? r->kids[k] : r, NULL, &have.results[k]);
    char msg[600];
    if (sig_check(f->ud, &have, 0, msg, sizeof msg)) return api_fail(c, NNC_ESHAPE, "%s", msg);
  }
  return NNC_OK;
}

int api_host_status(nnc_model *m, ApiProg *q) {
  char msg[600];
  return cg_host_table_status(q->host, msg, sizeof msg) ? api_fail(m->ctx, NNC_EHOST, "%s", msg) : NNC_OK;
}

/* ------------------------------------------------------------------ tensors */

static int rt_status(nnc_ctx *c, int rc) {
  return rc ? api_fail(c, rc, "%s", nnrt_errmsg(c->rt)) : NNC_OK;
}

int nnc_tensor_create(nnc_ctx *c, nnrt_dtype dt, int rank, const int64_t *dims, nnrt_tensor **out) {
  if (!c) return NNC_EINVAL;
  return rt_status(c, nnrt_tensor_create(c->rt, dt, rank, dims, out));
}

int nnc_tensor_wrap(nnc_ctx *c, nnrt_dtype dt, int rank, const int64_t *dims, void *data, nnrt_tensor **out) {
  if (!c) return NNC_EINVAL;
  return rt_status(c, nnrt_tensor_wrap(c->rt, dt, rank, dims, data, out));
}

int nnc_tensor_fill(nnc_ctx *c, nnrt_tensor *t, const void *src, size_t n) {
  if (!c) return NNC_EINVAL;
  if (!t || !src) return api_fail(c, NNC_EINVAL, "nnc_tensor_fill: NULL tensor or source");
  if (n != nnrt_tensor_nbytes(t))
    return api_fail(c, NNC_ESHAPE, "nnc_tensor_fill: %zu bytes given, the tensor holds %zu", n, nnrt_tensor_nbytes(t));
  memcpy(nnrt_tensor_data(t), src, n);
  return NNC_OK;
}

int nnc_tensor_read(nnc_ctx *c, const nnrt_tensor *t, void *dst, size_t n) {
  if (!c) return NNC_EINVAL;
  if (!t || !dst) return api_fail(c, NNC_EINVAL, "nnc_tensor_read: NULL tensor or destination");
  if (n != nnrt_tensor_nbytes(t))
    return api_fail(c, NNC_ESHAPE, "nnc_tensor_read: %zu bytes asked, the tensor holds %zu", n, nnrt_tensor_nbytes(t));
  memcpy(dst, nnrt_tensor_data(t), n);
  return NNC_OK;
}
