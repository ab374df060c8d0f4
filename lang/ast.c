/* ast.c — AST nodes: constructors for the grammar actions, and the generic text dump.
 *
 * Nodes and their kid arrays live in the Lang's arena. Kid arrays grow by doubling (the
 * old array is left in the arena). Constructors tolerate NULL (out of memory or a child
 * dropped by error recovery) so that a parse never crashes on bad input.
 */
#include <stdarg.h>
#include <string.h>

#include "lang.h"
#include "parse.h"

static const char *const kind_names[] = {
#define X(k, name, kids) name,
#include "ast.def"
#undef X
};

const char *ast_kind_name(NodeKind k) {
  return k >= 0 && k < N__COUNT ? kind_names[k] : "?";
}

Node *ast_new(Lang *L, NodeKind k, Span sp) {
  Node *n = lang_alloc(L, sizeof *n);
  if (n) {
    n->kind = k;
    n->span = sp;
    n->depth = 1;
  }
  return n;
}

/* Keeps parent->depth; reports the one node whose height first passes the limit. */
static void track_depth(Lang *L, Node *parent, const Node *kid) {
  if (!kid || kid->depth + 1 <= parent->depth)
    return;
  parent->depth = kid->depth + 1;
  if (parent->depth == AST_MAX_DEPTH + 1)
    diag_error(L, parent->span, "expression nested too deeply (more than %d levels)",
               AST_MAX_DEPTH);
}

Node *ast_push(Lang *L, Node *parent, Node *kid) {
  if (!parent)
    return NULL;
  int n = parent->nkids;
  if ((n & (n - 1)) == 0 && n >= 4) {          /* full at 4, 8, 16, ...: double */
    Node **kids = lang_alloc(L, 2 * (size_t)n * sizeof *kids);
    if (!kids)
      return parent;
    memcpy(kids, parent->kids, (size_t)n * sizeof *kids);
    parent->kids = kids;
  } else if (n == 0) {
    parent->kids = lang_alloc(L, 4 * sizeof *parent->kids);
    if (!parent->kids)
      return parent;
  }
  parent->kids[parent->nkids++] = kid;
  track_depth(L, parent, kid);
  return parent;
}

/* Widens n's span over kid's. */
static void widen(Node *n, const Node *kid) {
  if (n && kid && kid->span.file == n->span.file)
    n->span = span_join(n->span, kid->span);
}

static Node *make_v(Lang *L, NodeKind k, Span sp, int n, va_list ap) {
  Node *node = ast_new(L, k, sp);
  for (int i = 0; i < n; i++) {
    Node *kid = va_arg(ap, Node *);
    ast_push(L, node, kid);
    widen(node, kid);
  }
  return node;
}

Node *ast_make(Lang *L, NodeKind k, Span sp, int n, ...) {
  va_list ap;
  va_start(ap, n);
  Node *node = make_v(L, k, sp, n, ap);
  va_end(ap);
  return node;
}

Node *ast_named(Lang *L, NodeKind k, Span sp, const Token *name, int n, ...) {
  va_list ap;
  va_start(ap, n);
  Node *node = make_v(L, k, sp, n, ap);
  va_end(ap);
  if (node)
    node->name = name->str;
  if (node && name->span.file == sp.file)
    node->span = span_join(node->span, name->span);
  return node;
}

/* A leaf from one token; the payload depends on the token kind. */
Node *ast_tok(Lang *L, NodeKind k, const Token *t) {
  Node *n = ast_new(L, k, t->span);
  if (!n)
    return NULL;
  switch (t->kind) {
  case TK_IDENT: n->name = t->str; break;
  case TK_STRING: n->str = t->str; break;
  case TK_INT: case TK_SIZE: n->ival = t->ival; break;
  case TK_FLOAT: {
    const SrcFile *f = src_get(L, t->span.file);
    n->fval = t->fval;
    n->str = f ? lang_intern(L, f->text + t->span.off, t->span.len) : NULL;
    break;
  }
  case TK_TRUE: n->ival = 1; break;
  case TK_DTYPE: case TK_SCALARTY: n->op = (int)t->ival; break;
  default: break;
  }
  return n;
}

Node *ast_list(Lang *L, NodeKind k, Node *first) {
  Span sp = first ? first->span : (Span){-1, 0, 0};
  Node *n = ast_new(L, k, sp);
  if (first)
    ast_push(L, n, first);
  return n;
}

Node *ast_add(Lang *L, Node *list, Node *kid) {
  if (!kid)
    return list;
  if (list && list->span.file < 0)
    list->span = kid->span;
  widen(list, kid);
  return ast_push(L, list, kid);
}

Node *ast_splice(Lang *L, Node *dst, Node *list) {
  for (int i = 0; list && i < list->nkids; i++)
    ast_add(L, dst, list->kids[i]);
  return dst;
}

/* Gives a list its final kind and the span of its brackets. */
Node *ast_enclose(Lang *L, Node *n, NodeKind k, Span open, Span close) {
  if (!n)
    n = ast_new(L, k, open);
  if (!n)
    return NULL;
  n->kind = k;
  n->span = span_join(open, close);
  return n;
}

Node *ast_unary(Lang *L, const Token *op, Node *e) {
  Node *n = ast_make(L, N_UNARY, op->span, 1, e);
  if (n)
    n->op = op->kind;
  return n;
}

Node *ast_binary(Lang *L, const Token *op, Node *a, Node *b) {
  Node *n = ast_make(L, N_BINARY, op->span, 2, a, b);
  if (n)
    n->op = op->kind;
  return n;
}

/* `a < b < c`: reported, then kept as (a < b) < c so parsing goes on. */
Node *ast_chained(Lang *L, const Token *op, Node *a, Node *b) {
  Diag *d = diag_error(L, op->span, "comparison operators cannot be chained");
  if (a)
    diag_note(L, d, a->span, "write this as two comparisons joined with 'and', "
              "e.g. (a < b) and (b < c)");
  return ast_binary(L, op, a, b);
}

Node *ast_module(Lang *L, const Token *kw, const Token *name, Node *hparams, Node *members,
                 Span close) {
  Node *n = ast_named(L, N_MODULE, span_join(kw->span, close), name, 0);
  if (!n)
    return NULL;
  n->ival = kw->kind == TK_MODEL;
  ast_splice(L, n, hparams);
  n->op = n->nkids;
  ast_splice(L, n, members);
  n->span = span_join(kw->span, close);
  return n;
}

Node *ast_fn(Lang *L, Span kw, const Token *name, Node *args, Node *ret, Node *body) {
  Node *n = name ? ast_named(L, N_FN, kw, name, 2, ret, body) : ast_make(L, N_FN, kw, 2, ret, body);
  return ast_splice(L, n, args);
}

Node *ast_extern(Lang *L, Span kw, const Token *name, Node *args, Node *ret) {
  Node *n = ast_named(L, N_EXTERN, kw, name, 1, ret);
  return ast_splice(L, n, args);
}

Node *ast_grad(Lang *L, Span kw, const Token *name, Node *args, Node *body) {
  Node *n = ast_named(L, N_GRAD, kw, name, 1, body);
  return ast_splice(L, n, args);
}

/* import: name = "a.b" or the quoted path (op = 1 then); str = the alias or NULL. */
Node *ast_import(Lang *L, Span kw, const Token *path, int is_string, const Token *alias) {
  Node *n = ast_new(L, N_IMPORT, span_join(kw, path->span));
  if (!n)
    return NULL;
  n->name = path->str;
  n->op = is_string;
  if (alias->kind) {
    n->str = alias->str;
    n->span = span_join(n->span, alias->span);
  }
  return n;
}

/* `a.b` in an import path, as one token whose str is "a.b". */
Token ast_dotted(Lang *L, const Token *a, const Token *b) {
  Token t = *a;
  size_t la = a->str ? strlen(a->str) : 0, lb = b->str ? strlen(b->str) : 0;
  char *buf = lang_alloc(L, la + lb + 2);
  if (buf) {
    memcpy(buf, a->str, la);
    buf[la] = '.';
    memcpy(buf + la + 1, b->str, lb);
    t.str = lang_intern(L, buf, la + lb + 1);
  }
  t.span = span_join(a->span, b->span);
  return t;
}

/* f32, f32[], f32[B, 784]: op = dtype; ival = 1 when written with brackets. */
Node *ast_ttensor(Lang *L, const Token *dt, Node *dims, Span close) {
  Node *n = ast_new(L, N_TTENSOR, span_join(dt->span, close));
  if (!n)
    return NULL;
  n->op = (int)dt->ival;
  n->ival = dims != NULL;
  ast_splice(L, n, dims);
  n->span = span_join(dt->span, close);
  return n;
}

Node *ast_pname(Lang *L, const Token *name) {
  Node *n = ast_new(L, N_PNAME, name->span);
  if (n && name->str && strcmp(name->str, "_") != 0)
    n->name = name->str;
  return n;
}

Node *ast_call(Lang *L, Node *callee, Node *args, Span close) {
  Node *n = ast_make(L, N_CALL, close, 1, callee);
  return ast_splice(L, n, args);
}

Node *ast_index(Lang *L, Node *obj, Node *subs, Span close) {
  Node *n = ast_make(L, N_INDEX, close, 1, obj);
  return ast_splice(L, n, subs);
}

Node *ast_member(Lang *L, Node *obj, const Token *name) {
  return ast_named(L, N_MEMBER, name->span, name, 1, obj);
}

Node *ast_scan(Lang *L, Span kw, int reverse, Node *step, Node *over, Node *along, Node *init) {
  Node *n = ast_make(L, N_SCAN, kw, 4, step, over, along, init);
  if (n)
    n->ival = reverse;
  return n;
}

/* `loss = e` (name loss) or `metric acc = e` (str "metric", name acc). */
Node *ast_titem(Lang *L, const Token *kind, const Token *name, Node *value) {
  Span sp = kind ? kind->span : name->span;
  Node *n = ast_named(L, N_TITEM, sp, name, 1, value);
  if (n && kind)
    n->str = kind->str;
  return n;
}

Node *ast_train(Lang *L, Span kw, const Token *name, Node *items, Span close) {
  Node *n = ast_named(L, N_TRAIN, span_join(kw, close), name, 0);
  ast_splice(L, n, items);
  if (n)
    n->span = span_join(kw, close);
  return n;
}

Node *ast_comprehension(Lang *L, Span open, Node *elem, const Token *var, Node *lo, Node *hi,
                        Span close) {
  Node *n = ast_named(L, N_COMPREH, span_join(open, close), var, 3, elem, lo, hi);
  if (n)
    n->span = span_join(open, close);
  return n;
}

Node *ast_lambda(Lang *L, Span kw, Node *args, Node *body) {
  Node *fn = ast_fn(L, kw, NULL, args, NULL, body);
  return ast_make(L, N_LAMBDA, kw, 1, fn);
}

/* ---------------------------------------------------------------- dump */

enum { AST_DUMP_MAX_DEPTH = AST_MAX_DEPTH + 8 };

static const char *const dtype_names[] = {"none", "f32", "f64", "i32", "i64", "bool", "bit"};
static const char *const scalar_names[] = {"?", "int", "float", "bool", "str"};

static void dump_string(const char *s, FILE *out) {
  fputc('"', out);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(out, "\\%c", c);
    else if (c == '\n')
      fputs("\\n", out);
    else if (c == '\t')
      fputs("\\t", out);
    else if (c < 0x20 || c == 0x7f)
      fprintf(out, "\\x%02x", c);
    else
      fputc(c, out);
  }
  fputc('"', out);
}

/* Operator spelling for unary/binary nodes: tok_name without its quotes. */
static void dump_op(int op, FILE *out) {
  const char *s = tok_name(op);
  size_t n = strlen(s);
  if (n >= 2 && s[0] == '\'')
    fprintf(out, " %.*s", (int)(n - 2), s + 1);
  else
    fprintf(out, " %s", s);
}

/* The scalar payload of a node, after its kind name. */
static void dump_payload(const Node *n, FILE *out) {
  if (n->name)
    fprintf(out, " %s", n->name);
  switch (n->kind) {
  case N_UNARY: case N_BINARY: dump_op(n->op, out); break;
  case N_TTENSOR: case N_DTYPE:
    fprintf(out, " %s", n->op >= 0 && n->op <= DT_BIT ? dtype_names[n->op] : "?");
    if (n->kind == N_TTENSOR && n->ival && n->nkids == 0)
      fputs(" []", out);
    return;
  case N_TSCALAR: fprintf(out, " %s", n->op >= 1 && n->op <= ST_STR ? scalar_names[n->op] : "?"); return;
  case N_FLOAT: fprintf(out, " %s", n->str ? n->str : "?"); return;
  case N_BOOL: fputs(n->ival ? " true" : " false", out); return;
  case N_MODULE: fprintf(out, "%s hparams=%d", n->ival ? " model" : "", n->op); return;
  case N_IMPORT:
    if (n->op)
      fputs(" path", out);
    if (n->str)
      fprintf(out, " as %s", n->str);
    return;
  case N_SCAN: if (n->ival) fputs(" reverse", out); return;
  case N_INT: case N_SIZE: fprintf(out, " %lld", (long long)n->ival); return;
  default: break;
  }
  if (n->str) {
    fputc(' ', out);
    dump_string(n->str, out);
  }
}

static void dump_node(const Lang *L, const Node *n, int depth, FILE *out) {
  fprintf(out, "%*s", 2 * depth, "");
  if (!n) {
    fputs("_", out);
    return;
  }
  if (depth > AST_DUMP_MAX_DEPTH) {
    fputs("(...)", out);
    return;
  }
  fprintf(out, "(%s", ast_kind_name(n->kind));
  dump_payload(n, out);
  if (n->nkids) {
    const SrcFile *f = src_get((Lang *)L, n->span.file);
    if (f) {
      int line, col;
      src_linecol(f, n->span.off, &line, &col);
      fprintf(out, " :%d:%d", line, col);
    }
  }
  for (int i = 0; i < n->nkids; i++) {
    fputc('\n', out);
    dump_node(L, n->kids[i], depth + 1, out);
  }
  fputc(')', out);
}

void ast_dump(const Lang *L, const Node *n, FILE *out) {
  dump_node(L, n, 0, out);
  fputc('\n', out);
}
