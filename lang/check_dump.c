/* check_dump.c — lang_dump_types: every declaration and binding of one file with its
 * checked type, one per line, indented two spaces per level (--dump=types and the golden
 * tests). Stable text: declaration order, no addresses.
 *
 *   module Linear(input: int, output: int)
 *     param W: f32[output, input]
 *     fn forward(x: f32[B, input]) -> f32[B, output]
 *       let h: f32[B, output]
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"

static Node *kid(const Node *n, int i) {
  return n && i < n->nkids ? n->kids[i] : NULL;
}

static void indent(FILE *out, int depth) {
  for (int i = 0; i < depth; i++) fputs("  ", out);
}

static const char *ty(const Node *n) {
  return type_str_of(n ? n->type : NULL);
}

static void dump_pattern(Node *p, FILE *out, int depth, const char *kw) {
  if (!p) return;
  if (p->kind == N_PNAME) {
    if (!p->name) return;
    indent(out, depth);
    fprintf(out, "%s %s: %s\n", kw, p->name, ty(p));
    return;
  }
  for (int i = 0; i < p->nkids; i++) dump_pattern(p->kids[i], out, depth, kw);
}

static void dump_block(Node *b, FILE *out, int depth);

static void dump_lambdas(Node *e, FILE *out, int depth);
static void dump_stmt(Node *s, FILE *out, int depth);

/* `head` and the bindings of a nested block (or an else-if), only when it has some. */
static void dump_nested(const char *head, Node *b, FILE *out, int depth) {
  char *text = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&text, &len);
  if (!m) return;
  if (b && b->kind == N_IF) dump_stmt(b, m, depth + 1);
  else dump_block(b, m, depth + 1);
  fclose(m);
  if (len) {
    indent(out, depth);
    fprintf(out, "%s\n%s", head, text);
  }
  free(text);
}

static void dump_stmt(Node *s, FILE *out, int depth) {
  switch (s->kind) {
  case N_LET:
    dump_pattern(kid(s, 0), out, depth, "let");
    dump_lambdas(kid(s, 2), out, depth);
    break;
  case N_VAR:
    indent(out, depth);
    fprintf(out, "var %s: %s\n", s->name, ty(s));
    break;
  case N_FOR: {
    char head[128];
    snprintf(head, sizeof head, "for %s", s->name ? s->name : "_");
    dump_nested(head, kid(s, 2), out, depth);
    break;
  }
  case N_IF:
    dump_nested("if", kid(s, 1), out, depth);
    if (kid(s, 2)) dump_nested("else", kid(s, 2), out, depth);
    break;
  case N_RETURN:
    indent(out, depth);
    fprintf(out, "return %s\n", ty(kid(s, 0)));
    dump_lambdas(kid(s, 0), out, depth);
    break;
  case N_BLOCK: dump_block(s, out, depth); break;
  default: break;
  }
}

static void dump_block(Node *b, FILE *out, int depth) {
  if (!b || b->kind != N_BLOCK) return;
  for (int i = 0; i < b->nkids; i++) dump_stmt(b->kids[i], out, depth);
}

static void dump_args(Node *fn, int first, FILE *out) {
  fputc('(', out);
  for (int i = first; i < fn->nkids; i++) {
    Node *a = fn->kids[i];
    fprintf(out, "%s%s: %s", i > first ? ", " : "", a->name, ty(a));
  }
  fputc(')', out);
}

static void dump_fn(Node *fn, FILE *out, int depth) {
  indent(out, depth);
  Type *r = fn->sym ? fn->sym->ret : fn->type;
  const char *kw = fn->kind == N_EXTERN ? "extern fn" : fn->kind == N_GRAD ? "grad" : "fn";
  fprintf(out, "%s %s", kw, fn->name ? fn->name : "(lambda)");
  dump_args(fn, fn->kind == N_FN ? 2 : 1, out);
  fprintf(out, " -> %s\n", type_str_of(fn->kind == N_GRAD ? fn->type : r));
  Node *body = fn->kind == N_EXTERN ? NULL : kid(fn, fn->kind == N_FN ? 1 : 0);
  if (body && body->kind == N_BLOCK) dump_block(body, out, depth + 1);
  else if (body) dump_lambdas(body, out, depth);
}

/* Lambdas inside an expression (scan steps) are listed under the binding using them. */
static void dump_lambdas(Node *e, FILE *out, int depth) {
  if (!e) return;
  if (e->kind == N_LAMBDA && kid(e, 0)) {
    dump_fn(kid(e, 0), out, depth + 1);
    return;
  }
  for (int i = 0; i < e->nkids; i++) dump_lambdas(e->kids[i], out, depth);
}

static void dump_member(Node *m, FILE *out, int depth) {
  switch (m->kind) {
  case N_PARAM:
  case N_BUFFER:
    indent(out, depth);
    fprintf(out, "%s %s: %s\n", m->kind == N_PARAM ? "param" : "buffer", m->name, ty(m));
    break;
  case N_FIELD:
    indent(out, depth);
    fprintf(out, "%s: %s\n", m->name, ty(m));
    break;
  case N_CONST: {
    const Type *t = m->type;
    indent(out, depth);
    if (t && t->kind == TY_SCALAR && t->scalar == ST_INT && CT(t)->ival)
      fprintf(out, "const %s: int = %s\n", m->name, dim_str(CT(t)->ival));
    else
      fprintf(out, "const %s: %s\n", m->name, ty(m));
    break;
  }
  case N_FN:
  case N_GRAD: dump_fn(m, out, depth); break;
  default: break;
  }
}

static void dump_module(Node *mod, FILE *out) {
  fprintf(out, "%s %s", mod->ival ? "model" : "module", mod->name);
  if (mod->op) {
    fputc('(', out);
    for (int i = 0; i < mod->op; i++)
      fprintf(out, "%s%s: %s", i ? ", " : "", mod->kids[i]->name, ty(mod->kids[i]));
    fputc(')', out);
  }
  fputc('\n', out);
  for (int i = mod->op; i < mod->nkids; i++) dump_member(mod->kids[i], out, 1);
}

static void dump_train(Node *t, FILE *out) {
  fprintf(out, "train %s\n", t->name);
  for (int i = 0; i < t->nkids; i++) {
    Node *it = t->kids[i];
    indent(out, 1);
    if (it->str) fprintf(out, "%s %s: %s\n", it->str, it->name, ty(it));
    else fprintf(out, "%s: %s\n", it->name, ty(it));
  }
}

void lang_dump_types(Lang *L, Node *file, FILE *out) {
  (void)L;
  if (!file) return;
  for (int i = 0; i < file->nkids; i++) {
    Node *d = file->kids[i];
    switch (d->kind) {
    case N_IMPORT: fprintf(out, "import %s%s%s\n", d->name, d->str ? " as " : "", d->str ? d->str : ""); break;
    case N_MODULE: dump_module(d, out); break;
    case N_FN:
    case N_EXTERN:
    case N_GRAD: dump_fn(d, out, 0); break;
    case N_CONST: dump_member(d, out, 0); break;
    case N_TRAIN: dump_train(d, out); break;
    default: break;
    }
  }
}
