/* scope.c — the checker's scope chain: built-ins < file < imports < module < function <
 * block. A scope is a list of Syms; lookups walk outwards. Closing a function or block
 * scope warns about arguments and `let` bindings that were never read (names starting
 * with `_` are exempt), as Go and Rust do.
 */
#include <string.h>

#include "check.h"

Scope *scope_push(Lang *L, Scope *up, int warn_unused) {
  Scope *s = lang_alloc(L, sizeof *s);
  if (!s) return up;
  s->up = up;
  s->warn_unused = warn_unused;
  return s;
}

Sym *scope_find_local(Scope *s, const char *name) {
  for (Sym *y = s ? s->syms : NULL; y; y = y->next)
    if (y->name == name || strcmp(y->name, name) == 0) return y;
  return NULL;
}

Sym *scope_lookup(Scope *s, const char *name) {
  for (; s; s = s->up) {
    Sym *y = scope_find_local(s, name);
    if (y) return y;
  }
  return NULL;
}

/* Appends at the tail so that iteration follows declaration order. */
Sym *scope_add(Lang *L, Scope *s, const char *name, SymKind k, Type *t, Node *decl) {
  Sym *y = lang_alloc(L, sizeof *y);
  if (!y) return NULL;
  y->name = name;
  y->kind = k;
  y->type = t;
  y->decl = decl;
  Sym **p = &s->syms;
  while (*p) p = &(*p)->next;
  *p = y;
  return y;
}

static int wants_warning(const Sym *y) {
  if (y->used || !y->name || y->name[0] == '_' || !y->decl) return 0;
  return y->kind == SYM_ARG || y->kind == SYM_LET || y->kind == SYM_VAR;
}

void scope_pop_warn(Lang *L, Scope *s) {
  if (!s || !s->warn_unused) return;
  for (Sym *y = s->syms; y; y = y->next)
    if (wants_warning(y)) diag_warning(L, y->decl->span, "unused variable '%s'", y->name);
}

/* Levenshtein distance, for "did you mean" suggestions (short names only). */
int chk_edit_distance(const char *a, const char *b) {
  int la = (int)strlen(a), lb = (int)strlen(b);
  if (la > 63 || lb > 63) return 99;
  int row[64];
  for (int j = 0; j <= lb; j++) row[j] = j;
  for (int i = 1; i <= la; i++) {
    int prev = row[0];
    row[0] = i;
    for (int j = 1; j <= lb; j++) {
      int cur = row[j];
      int sub = prev + (a[i - 1] != b[j - 1]);
      int best = row[j] + 1 < row[j - 1] + 1 ? row[j] + 1 : row[j - 1] + 1;
      row[j] = sub < best ? sub : best;
      prev = cur;
    }
  }
  return row[lb];
}
