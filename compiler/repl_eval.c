/* repl_eval.c — the REPL's session (the terminal side is repl.c).
 *
 * A note on the design (compiler-techniques.md §7.3). The session keeps the definitions
 * typed so far as one source text and the `let` variables as run-time tensors. An
 * expression becomes a fresh function `fn __repl_N(v1: f32[2, 3], ...) = (EXPR)` whose
 * arguments are the variables, compiled with the definitions through the C API and run on
 * the stored tensors: so variables are never re-evaluated, and every compiled function
 * (earlier ones included) is found again in the disk cache instead of going through LLVM.
 * Only the front end sees the whole text again, which costs microseconds. A rank-0 result
 * of a compile-time number (`1 + 2`) is evaluated as `full(EXPR)`, an f32 tensor.
 * Values print numpy-style: the type, then nested brackets, with long dims summarized to
 * their first and last three entries when the tensor has more than 1000 elements. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

#define REPL_MAX_VARS 128

struct repl_session {
  nnc_ctx *ctx;
  nnc_options opt;
  char *defs;            /* definitions so far (NUL-terminated) */
  size_t ndefs;
  int counter;
  int nvars;
  struct { char name[64]; nnrt_tensor *t; } var[REPL_MAX_VARS];
};

repl_session *repl_new(const char *const *import_paths) {
  repl_session *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->ctx = nnc_ctx_create(NULL, NULL);
  s->defs = calloc(1, 1);
  if (!s->ctx || !s->defs) {
    repl_free(s);
    return NULL;
  }
  s->opt.import_paths = import_paths;
  s->opt.opt_level = 1;
  s->opt.no_cache = getenv("NNC_NO_CACHE") != NULL;
  return s;
}

void repl_free(repl_session *s) {
  if (!s) return;
  for (int i = 0; i < s->nvars; i++) nnrt_tensor_free(s->var[i].t);
  free(s->defs);
  nnc_ctx_free(s->ctx);
  free(s);
}

/* ------------------------------------------------------------------ input shape */

int repl_needs_more(const char *text) {
  int depth = 0, in_str = 0;
  for (const char *p = text; *p; p++) {
    if (in_str) {
      if (*p == '\\' && p[1]) p++;
      else if (*p == '"') in_str = 0;
    } else if (*p == '"') in_str = 1;
    else if (*p == '#') while (p[1] && p[1] != '\n') p++;
    else if (*p == '(' || *p == '[' || *p == '{') depth++;
    else if (*p == ')' || *p == ']' || *p == '}') depth--;
  }
  size_t n = strlen(text);
  while (n && isspace((unsigned char)text[n - 1])) n--;
  return depth > 0 || (n && text[n - 1] == '\\');
}

static const char *skip_ws(const char *p) {
  while (isspace((unsigned char)*p)) p++;
  return p;
}

/* Does text start with word (followed by a non-identifier character)? */
static int starts_with_word(const char *text, const char *word) {
  size_t n = strlen(word);
  return !strncmp(text, word, n) && !isalnum((unsigned char)text[n]) && text[n] != '_';
}

static int is_definition(const char *t) {
  static const char *const kw[] = {"model", "module", "fn", "const", "import", "extern", "grad", "train"};
  for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++)
    if (starts_with_word(t, kw[i])) return 1;
  return 0;
}

/* ------------------------------------------------------------------ diagnostics */

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++) n += *s == '\n';
  return n;
}

/* Prints the context's diagnostics against the user's input: first is the line of the
 * combined source where the input starts, skip the columns of a wrapper prefix. */
static void print_errors(repl_session *s, const char *input, int first, int skip, FILE *out) {
  static const char *sev[] = {"error", "warning", "note"};
  int nd = nnc_diag_count(s->ctx);
  for (int i = 0; i < nd; i++) {
    nnc_diag d;
    nnc_diag_get(s->ctx, i, &d);
    if (d.line < first) {
      fprintf(out, "%s:%d:%d: %s: %s\n", d.file, d.line, d.column, sev[d.severity], d.text);
      continue;
    }
    if (d.severity == NNC_DIAG_WARNING && strstr(d.text, "unused")) continue;   /* the wrapper's arguments */
    int line = d.line - first, col = d.column - (line == 0 ? skip : 0);
    fprintf(out, "%s: %s\n", sev[d.severity], d.text);
    const char *l = input;
    for (int k = 0; k < line && strchr(l, '\n'); k++) l = strchr(l, '\n') + 1;
    int len = (int)(strchr(l, '\n') ? strchr(l, '\n') - l : (long)strlen(l));
    if (col >= 1 && col <= len + 1) fprintf(out, "  %.*s\n  %*s^\n", len, l, col - 1, "");
  }
  if (!nd) fprintf(out, "error: %s\n", nnc_errmsg(s->ctx));
}

/* ------------------------------------------------------------------ printing values */

typedef struct Printer {
  FILE *out;
  const nnrt_tensor *t;
  int rank;
  const int64_t *dims;
  int summarize;
  int width;
} Printer;

static double elem(const nnrt_tensor *t, int64_t i) {
  const void *d = nnrt_tensor_data(t);
  switch (nnrt_tensor_dtype(t)) {
  case NNRT_F64: return ((const double *)d)[i];
  case NNRT_I32: return ((const int32_t *)d)[i];
  case NNRT_I64: return (double)((const int64_t *)d)[i];
  case NNRT_BOOL: case NNRT_U8: return ((const uint8_t *)d)[i];
  default: return ((const float *)d)[i];
  }
}

static int format(const Printer *p, double v, char *buf, size_t cap) {
  nnrt_dtype dt = nnrt_tensor_dtype(p->t);
  if (dt == NNRT_BOOL) return snprintf(buf, cap, "%s", v != 0 ? "true" : "false");
  if (dt == NNRT_I32 || dt == NNRT_I64 || dt == NNRT_U8) return snprintf(buf, cap, "%.0f", v);
  return snprintf(buf, cap, "%.6g", v);
}

/* Is index i of a dim of size n hidden by summarization (and which is the first hidden)? */
static int hidden(const Printer *p, int64_t i, int64_t n) { return p->summarize && n > 6 && i >= 3 && i < n - 3; }

static void print_rec(const Printer *p, int d, int64_t off, int indent) {
  int64_t n = p->dims[d], stride = 1;
  for (int k = d + 1; k < p->rank; k++) stride *= p->dims[k];
  fputc('[', p->out);
  for (int64_t i = 0; i < n; i++) {
    if (hidden(p, i, n)) {
      fprintf(p->out, d + 1 == p->rank ? "..., " : "...,\n%*s", d + 1 == p->rank ? 0 : indent + 1, "");
      i = n - 4;
      continue;
    }
    if (d + 1 == p->rank) {
      char b[64];
      format(p, elem(p->t, off + i), b, sizeof b);
      fprintf(p->out, "%*s", p->width, b);
    } else {
      print_rec(p, d + 1, off + i * stride, indent + 1);
    }
    if (i + 1 < n) {
      fputc(',', p->out);
      if (d + 1 == p->rank) fputc(' ', p->out);
      else fprintf(p->out, "%s%*s", p->rank - d > 2 ? "\n\n" : "\n", indent + 1, "");
    }
  }
  fputc(']', p->out);
}

void repl_print_tensor(const nnrt_tensor *t, FILE *out) {
  char ty[160];
  nnrt_tensor_shape_str(t, ty, sizeof ty);
  Printer p = {out, t, nnrt_tensor_rank(t), nnrt_tensor_dims(t), nnrt_tensor_numel(t) > 1000, 1};
  char b[64];
  for (int64_t i = 0; i < nnrt_tensor_numel(t); i++) {
    int w = format(&p, elem(t, i), b, sizeof b);
    if (w > p.width) p.width = w;
  }
  if (p.rank == 0) {
    format(&p, elem(t, 0), b, sizeof b);
    fprintf(out, "%s %s\n", ty, b);
    return;
  }
  fprintf(out, "%s\n", ty);
  print_rec(&p, 0, 0, 0);
  fputc('\n', out);
}

/* ------------------------------------------------------------------ evaluating */

static int find_var(repl_session *s, const char *name, size_t n) {
  for (int i = 0; i < s->nvars; i++)
    if (strlen(s->var[i].name) == n && !strncmp(s->var[i].name, name, n)) return i;
  return -1;
}

/* defs + "fn __repl_N(vars...) = (EXPR)": the wrapper's source; *skip = prefix columns. */
static char *wrap(repl_session *s, const char *expr, const char *fn, int as_full, int *skip) {
  size_t cap = s->ndefs + strlen(expr) + 256 + (size_t)s->nvars * 200;
  char *src = malloc(cap);
  if (!src) return NULL;
  size_t n = (size_t)snprintf(src, cap, "%s\nfn %s(", s->defs, fn);
  size_t line0 = n - strlen(fn) - 4;
  for (int i = 0; i < s->nvars; i++) {
    char ty[160];
    nnrt_tensor_shape_str(s->var[i].t, ty, sizeof ty);
    if (!strchr(ty, '[')) strcat(ty, "[]");
    n += (size_t)snprintf(src + n, cap - n, "%s%s: %s", i ? ", " : "", s->var[i].name, ty);
  }
  n += (size_t)snprintf(src + n, cap - n, ") = %s(", as_full ? "full(" : "");
  *skip = (int)(n - line0);
  snprintf(src + n, cap - n, "%s)%s\n", expr, as_full ? ")" : "");
  return src;
}

/* Compiles EXPR as a function of the variables into *m; returns a status. */
static int compile_expr(repl_session *s, const char *expr, char *fn, size_t fncap, nnc_model **m, FILE *out) {
  snprintf(fn, fncap, "__repl_%d", ++s->counter);
  int skip, rc = NNC_ENOMEM;
  for (int as_full = 0; as_full < 2; as_full++) {
    char *src = wrap(s, expr, fn, as_full, &skip);
    if (!src) break;
    rc = nnc_compile_string(s->ctx, "<repl>", src, strlen(src), &s->opt, m);
    free(src);
    if (rc) break;
    IrgFnRef ref;
    irg_find_fn((*m)->file, fn, &ref);
    Node *body = ref.fn->kids[1];
    if (!body->type || body->type->kind != TY_SCALAR || as_full) return NNC_OK;
    nnc_model_free(*m);   /* a compile-time number: evaluate it as full(EXPR) */
    *m = NULL;
  }
  print_errors(s, expr, count_lines(s->defs) + 2, skip, out);
  return rc ? rc : NNC_ECOMPILE;
}

static const nnrt_tensor *const *var_tensors(repl_session *s, const nnrt_tensor **buf) {
  for (int i = 0; i < s->nvars; i++) buf[i] = s->var[i].t;
  return buf;
}

/* Evaluates EXPR; results (owned by the caller) into res[0..*nres). */
static int eval(repl_session *s, const char *expr, nnrt_tensor **res, int *nres, nnc_model **keep, FILE *out) {
  char fn[32];
  nnc_model *m = NULL;
  int rc = compile_expr(s, expr, fn, sizeof fn, &m, out);
  if (rc) return rc;
  const nnrt_tensor *in[REPL_MAX_VARS];
  ApiProg *q = NULL;
  rc = api_get_prog(m, fn, s->nvars, var_tensors(s, in), &q);
  if (!rc) {
    *nres = q->p.g->nouts < NNC_MAX_ARGS ? q->p.g->nouts : NNC_MAX_ARGS;
    for (int i = 0; i < *nres; i++) res[i] = NULL;
    rc = nnc_run(m, fn, s->nvars, in, *nres, res);
  }
  if (rc) print_errors(s, expr, count_lines(s->defs) + 2, 0, out);
  if (keep && !rc) *keep = m;
  else nnc_model_free(m);
  return rc;
}

static void free_results(nnrt_tensor **res, int n) {
  for (int i = 0; i < n; i++) nnrt_tensor_free(res[i]);
}

static void show(repl_session *s, const char *expr, FILE *out) {
  nnrt_tensor *res[NNC_MAX_ARGS];
  int n = 0;
  if (eval(s, expr, res, &n, NULL, out)) return;
  for (int i = 0; i < n; i++) repl_print_tensor(res[i], out);
  free_results(res, n);
}

/* let NAME = EXPR (a type annotation after NAME is checked by the compiler). */
static void let(repl_session *s, const char *text, FILE *out) {
  const char *p = skip_ws(text + 3), *name = p;
  while (isalnum((unsigned char)*p) || *p == '_') p++;
  size_t n = (size_t)(p - name);
  const char *eq = strchr(p, '=');
  if (!n || n >= 64 || !eq) {
    fprintf(out, "error: expected 'let NAME = EXPR'\n");
    return;
  }
  char expr[8192];
  snprintf(expr, sizeof expr, "%s", skip_ws(eq + 1));   /* an annotation `let x: T =` is ignored */
  nnrt_tensor *res[NNC_MAX_ARGS];
  int nr = 0;
  if (eval(s, expr, res, &nr, NULL, out)) return;
  if (nr < 1) {   /* `let x =` with nothing after: no value to keep (res[0] is unset) */
    fprintf(out, "error: 'let %.*s = ...' needs an expression with a value\n", (int)n, name);
    return;
  }
  int i = find_var(s, name, n);
  if (i < 0 && s->nvars == REPL_MAX_VARS) {
    fprintf(out, "error: too many variables\n");
    free_results(res, nr);
    return;
  }
  if (i < 0) i = s->nvars++;
  else nnrt_tensor_free(s->var[i].t);
  snprintf(s->var[i].name, sizeof s->var[i].name, "%.*s", (int)n, name);
  s->var[i].t = res[0];
  free_results(res + 1, nr - 1);
}

/* A definition is kept when the definitions with it still compile. */
static void define(repl_session *s, const char *text, FILE *out) {
  size_t n = strlen(text);
  char *nd = malloc(s->ndefs + n + 2);
  if (!nd) return;
  snprintf(nd, s->ndefs + n + 2, "%s%s\n", s->defs, text);
  nnc_model *m = NULL;
  if (nnc_compile_string(s->ctx, "<repl>", nd, strlen(nd), &s->opt, &m)) {
    print_errors(s, text, count_lines(s->defs) + 1, 0, out);
    free(nd);
    return;
  }
  nnc_model_free(m);
  free(s->defs);
  s->defs = nd;
  s->ndefs = strlen(nd);
}

/* ------------------------------------------------------------------ commands */

static const char *HELP =
    "  EXPR                 evaluate and print (dtype, shape, values)\n"
    "  let NAME = EXPR      keep a value for later inputs\n"
    "  fn/model/module/...  add a definition\n"
    "  :type EXPR           the checker's type of EXPR\n"
    "  :load FILE           add the definitions of a file\n"
    "  :dump graph|kernels|llvm EXPR\n"
    "  :time EXPR           compile and run times\n"
    "  :help, :quit\n"
    "Input continues on the next line while brackets are open or a line ends with '\\'.\n";

static void cmd_type(repl_session *s, const char *expr, FILE *out) {
  char fn[32];
  snprintf(fn, sizeof fn, "__repl_%d", ++s->counter);
  int skip;
  char *src = wrap(s, expr, fn, 0, &skip);
  nnc_model *m = NULL;
  if (!src) return;
  if (nnc_compile_string(s->ctx, "<repl>", src, strlen(src), &s->opt, &m)) {
    print_errors(s, expr, count_lines(s->defs) + 2, skip, out);
  } else {
    IrgFnRef ref;
    irg_find_fn(m->file, fn, &ref);
    char ty[256] = "?";
    if (ref.fn->kids[1]->type) type_print(ref.fn->kids[1]->type, ty, sizeof ty);
    fprintf(out, "%s\n", ty);
  }
  free(src);
  nnc_model_free(m);
}

static void cmd_load(repl_session *s, const char *path, FILE *out) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(out, "error: cannot open '%s'\n", path);
    return;
  }
  char *text = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&text, &len);
  char buf[4096];
  size_t k;
  while (m && (k = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, k, m);
  fclose(f);
  if (m) fclose(m);
  if (text) define(s, text, out);
  free(text);
}

static void dump_llvm(ApiProg *q, FILE *out) {
  jit_t *j = NULL;
  char msg[512];
  if (jit_create(&j, NULL, msg, sizeof msg)) {
    fprintf(out, "error: %s\n", msg);
    return;
  }
  cg_options co = {0};
  LLVMModuleRef mod = NULL;
  if (cg_build(j, q->plan.f, &co, &mod)) {
    fprintf(out, "error: %s\n", jit_errmsg(j));
  } else {
    char *ir = LLVMPrintModuleToString(mod);
    fputs(ir, out);
    LLVMDisposeMessage(ir);
    LLVMDisposeModule(mod);
  }
  jit_destroy(j);
}

static void cmd_dump(repl_session *s, const char *arg, FILE *out) {
  const char *what = arg, *expr = arg;
  while (*expr && !isspace((unsigned char)*expr)) expr++;
  size_t wn = (size_t)(expr - what);
  expr = skip_ws(expr);
  int kind = wn == 5 && !strncmp(what, "graph", 5) ? 0 : wn == 7 && !strncmp(what, "kernels", 7) ? 1
           : wn == 4 && !strncmp(what, "llvm", 4) ? 2 : -1;
  if (kind < 0 || !*expr) {
    fprintf(out, "error: usage: :dump graph|kernels|llvm EXPR\n");
    return;
  }
  nnrt_tensor *res[NNC_MAX_ARGS];
  int n = 0;
  nnc_model *m = NULL;
  if (eval(s, expr, res, &n, &m, out)) return;
  free_results(res, n);
  ApiProg *q = m->progs;
  if (kind == 0) ir_print(q->p.g, out);
  else if (kind == 1) kir_print(q->plan.f, out);
  else dump_llvm(q, out);
  nnc_model_free(m);
}

static void cmd_time(repl_session *s, const char *expr, FILE *out) {
  nnrt_tensor *res[NNC_MAX_ARGS];
  int n = 0;
  nnc_model *m = NULL;
  double t0 = jit_now_ms();
  if (eval(s, expr, res, &n, &m, out)) return;
  double t1 = jit_now_ms();
  const nnrt_tensor *in[REPL_MAX_VARS];
  int reps;
  char fn[32];
  snprintf(fn, sizeof fn, "__repl_%d", s->counter);
  double t2 = jit_now_ms();
  for (reps = 0; reps < 1000 && (reps < 3 || jit_now_ms() - t2 < 200); reps++)
    nnc_run(m, fn, s->nvars, var_tensors(s, in), n, res);
  double run = (jit_now_ms() - t2) / reps;
  fprintf(out, "first call %.2f ms (compile + run), then %.4f ms per run (%d runs)\n", t1 - t0, run, reps);
  free_results(res, n);
  nnc_model_free(m);
}

/* Handles one complete input; returns 1 on :quit. */
int repl_input(repl_session *s, const char *text, FILE *out) {
  const char *t = skip_ws(text);
  if (!*t) return 0;
  if (*t == ':') {
    const char *arg = t + 1;
    while (isalpha((unsigned char)*arg)) arg++;
    size_t n = (size_t)(arg - t - 1);
    arg = skip_ws(arg);
    char a[8192];
    snprintf(a, sizeof a, "%s", arg);
    for (size_t k = strlen(a); k && isspace((unsigned char)a[k - 1]);) a[--k] = 0;
    if ((n == 4 && !strncmp(t + 1, "quit", 4)) || (n == 1 && t[1] == 'q')) return 1;
    if (n == 4 && !strncmp(t + 1, "help", 4)) fputs(HELP, out);
    else if (n == 4 && !strncmp(t + 1, "type", 4)) cmd_type(s, a, out);
    else if (n == 4 && !strncmp(t + 1, "load", 4)) cmd_load(s, a, out);
    else if (n == 4 && !strncmp(t + 1, "dump", 4)) cmd_dump(s, a, out);
    else if (n == 4 && !strncmp(t + 1, "time", 4)) cmd_time(s, a, out);
    else fprintf(out, "error: unknown command '%.*s' (:help lists them)\n", (int)n + 1, t);
    return 0;
  }
  if (starts_with_word(t, "let")) let(s, t, out);
  else if (is_definition(t)) define(s, t, out);
  else show(s, t, out);
  return 0;
}
