/* lang.c — the compilation object: creation, arena, interning, and the dump of tokens.
 *
 * One Lang owns every file, string, node and type of one compilation. Strings are
 * interned in an open-addressing hash table (FNV-1a), so equal names are equal pointers.
 */
#include <stdlib.h>
#include <string.h>

#include "lang.h"

/* Copies the NULL-terminated import path list into the arena. */
static const char **copy_paths(Lang *L, const char **paths) {
  int n = 0;
  while (paths && paths[n])
    n++;
  const char **copy = lang_alloc(L, (size_t)(n + 1) * sizeof *copy);
  for (int i = 0; copy && i < n; i++)
    copy[i] = lang_intern(L, paths[i], strlen(paths[i]));
  return copy;
}

Lang *lang_new(const LangOptions *opt) {
  Lang *L = calloc(1, sizeof *L);
  if (!L)
    return NULL;
  L->arena = arena_new();
  if (!L->arena) {
    free(L);
    return NULL;
  }
  if (opt)
    L->opt = *opt;
  L->opt.import_paths = copy_paths(L, opt ? opt->import_paths : NULL);
  if (!L->opt.import_paths) {
    lang_free(L);
    return NULL;
  }
  return L;
}

void lang_free(Lang *L) {
  if (!L)
    return;
  arena_free(L->arena);
  free(L->files);
  free(L->asts);
  free(L->keys);
  free(L->state);
  free(L->itab);
  free(L->imp_nodes);
  free(L->imp_files);
  free(L);
}

int lang_out_of_memory(const Lang *L) {
  return L ? L->oom + arena_failed(L->arena) : 0;
}

void *lang_alloc(Lang *L, size_t n) {
  return arena_alloc(L->arena, n);
}

Arena *lang_arena(Lang *L) {
  return L->arena;
}

const LangOptions *lang_options(const Lang *L) {
  return &L->opt;
}

static uint64_t intern_hash(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h;
}

/* Doubles the intern table; returns 0 when out of memory. */
static int intern_grow(Lang *L) {
  size_t cap = L->icap ? 2 * L->icap : 256;
  const char **tab = calloc(cap, sizeof *tab);
  if (!tab) {
    L->oom++;
    return 0;
  }
  for (size_t i = 0; i < L->icap; i++) {
    const char *s = L->itab[i];
    if (!s)
      continue;
    size_t j = intern_hash(s, strlen(s)) & (cap - 1);
    while (tab[j])
      j = (j + 1) & (cap - 1);
    tab[j] = s;
  }
  free(L->itab);
  L->itab = tab;
  L->icap = cap;
  return 1;
}

const char *lang_intern(Lang *L, const char *s, size_t n) {
  if ((L->icount + 1) * 2 > L->icap && !intern_grow(L))
    return NULL;
  size_t j = intern_hash(s, n) & (L->icap - 1);
  for (; L->itab[j]; j = (j + 1) & (L->icap - 1)) {
    const char *t = L->itab[j];
    if (strncmp(t, s, n) == 0 && t[n] == '\0')
      return t;
  }
  char *copy = arena_strndup(L->arena, s, n);
  if (!copy)
    return NULL;
  L->itab[j] = copy;
  L->icount++;
  return copy;
}

int lang_file_count(const Lang *L) {
  return L->nfiles;
}

Node *lang_file_ast(Lang *L, int file) {
  return file >= 0 && file < L->nfiles ? L->asts[file] : NULL;
}

/* Prints text with C escapes for control bytes, for the token dump. */
static void dump_escaped(const char *s, size_t n, FILE *out) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\n')
      fputs("\\n", out);
    else if (c == '\\' || c == '\'')
      fprintf(out, "\\%c", c);
    else if (c < 0x20 || c == 0x7f)
      fprintf(out, "\\x%02x", c);
    else
      fputc(c, out);
  }
}

/* One line per token: `line:col kind 'text'`; the end of input is the last line. */
int lang_dump_tokens(Lang *L, SrcFile *f, FILE *out) {
  Lexer lx;
  Token t;
  lex_init(&lx, L, f);
  int n = 0;
  do {
    lex_next(&lx, &t);
    int line, col;
    src_linecol(f, t.span.off, &line, &col);
    fprintf(out, "%d:%d %s '", line, col, tok_name(t.kind));
    dump_escaped(f->text + t.span.off, t.span.len, out);
    fputs("'\n", out);
    n++;
  } while (t.kind != 0 && !lx.too_deep);
  lex_done(&lx);
  return n;
}
