/* import.c — parsing a file and, recursively, the files it imports.
 *
 * `import a.b` looks for a/b.nn, `import "dir/x.nn"` for that path: first in the
 * importing file's directory, then in LangOptions.import_paths, then in each directory of
 * $NNC_PATH (':'-separated), then in the standard library (NNC_STDLIB_DIR, a compile-time
 * define; absent, no default). A file is identified by its realpath and parsed once
 * however often it is imported. Import cycles are found with the usual depth-first
 * "on the stack" marks (state 1 = being parsed): the message names the whole cycle.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lang.h"

enum { IMPORT_MAX_DEPTH = 64 };

/* Records that import node `n` resolved to file `file`. */
static void import_record(Lang *L, const Node *n, int file) {
  if (L->nimp == L->capimp) {
    int cap = L->capimp ? 2 * L->capimp : 16;
    const Node **nodes = realloc(L->imp_nodes, cap * sizeof *nodes);
    if (nodes)
      L->imp_nodes = nodes;
    int *files = realloc(L->imp_files, cap * sizeof *files);
    if (files)
      L->imp_files = files;
    if (!nodes || !files) {
      L->oom++;
      return;
    }
    L->capimp = cap;
  }
  L->imp_nodes[L->nimp] = n;
  L->imp_files[L->nimp++] = file;
}

Node *lang_import_file(Lang *L, const Node *import) {
  for (int i = 0; i < L->nimp; i++)
    if (L->imp_nodes[i] == import)
      return L->asts[L->imp_files[i]];
  return NULL;
}

/* The relative file name an import asks for: "a/b.nn" for `import a.b`. */
static void import_relpath(const Node *n, char *buf, size_t size) {
  if (n->op) {
    snprintf(buf, size, "%s", n->name);
    return;
  }
  snprintf(buf, size, "%s.nn", n->name);
  for (char *p = buf; *p && strcmp(p, ".nn") != 0; p++)
    if (*p == '.')
      *p = '/';
}

/* dir + "/" + rel into buf (rel alone when dir is empty or rel is absolute); an overlong
 * path becomes "" (which does not exist). */
static void path_join(const char *dir, size_t dirlen, const char *rel, char *buf, size_t size) {
  int n;
  if (rel[0] == '/' || dirlen == 0)
    n = snprintf(buf, size, "%s", rel);
  else
    n = snprintf(buf, size, "%.*s/%s", (int)dirlen, dir, rel);
  if (n < 0 || (size_t)n >= size)
    buf[0] = '\0';
}

/* Finds rel in the search path; fills buf and returns 1 when it exists. */
static int import_find(Lang *L, const SrcFile *from, const char *rel, char *buf, size_t size) {
  const char *slash = strrchr(from->path, '/');
  path_join(from->path, slash ? (size_t)(slash - from->path) : 0, rel, buf, size);
  if (buf[0] && access(buf, R_OK) == 0)
    return 1;
  for (const char **p = L->opt.import_paths; p && *p; p++) {
    path_join(*p, strlen(*p), rel, buf, size);
    if (buf[0] && access(buf, R_OK) == 0)
      return 1;
  }
  const char *env = getenv("NNC_PATH");
  while (env && *env) {
    const char *end = strchr(env, ':');
    size_t n = end ? (size_t)(end - env) : strlen(env);
    path_join(env, n, rel, buf, size);
    if (n && buf[0] && access(buf, R_OK) == 0)
      return 1;
    env = end ? end + 1 : NULL;
  }
#ifdef NNC_STDLIB_DIR
  path_join(NNC_STDLIB_DIR, strlen(NNC_STDLIB_DIR), rel, buf, size);
  if (buf[0] && access(buf, R_OK) == 0)
    return 1;
#endif
  return 0;
}

/* The file already loaded under this canonical key, or -1. */
static int file_by_key(const Lang *L, const char *key) {
  for (int i = 0; i < L->nfiles; i++)
    if (L->keys[i] && strcmp(L->keys[i], key) == 0)
      return i;
  return -1;
}

typedef struct ImportFrame {
  int file;
  const Node *import;     /* the import in this file being followed, or NULL */
} ImportFrame;

static int parse_tree(Lang *L, const char *path, ImportFrame *stack, int depth,
                      const Node *via);

/* Reports the cycle stack[from..depth-1] -> file, at `via`, with a note at each import. */
static void report_cycle(Lang *L, ImportFrame *stack, int from, int depth, const Node *via) {
  char msg[1024];
  size_t used = 0;
  for (int i = from; i < depth && used < sizeof msg; i++)
    used += (size_t)snprintf(msg + used, sizeof msg - used, "%s -> ",
                             L->files[stack[i].file]->path);
  if (used < sizeof msg)
    snprintf(msg + used, sizeof msg - used, "%s", L->files[stack[from].file]->path);
  Diag *d = diag_error(L, via->span, "import cycle: %s", msg);
  for (int i = from; i < depth - 1; i++)
    diag_note(L, d, stack[i].import->span, "'%s' imports '%s' here",
              L->files[stack[i].file]->path, L->files[stack[i + 1].file]->path);
}

/* Resolves and parses the imports of file `id` (on the stack at depth-1). */
static void parse_imports(Lang *L, int id, ImportFrame *stack, int depth) {
  Node *root = L->asts[id];
  for (int i = 0; root && i < root->nkids; i++) {
    Node *n = root->kids[i];
    if (!n || n->kind != N_IMPORT || !n->name)
      continue;
    char rel[PATH_MAX], path[PATH_MAX];
    import_relpath(n, rel, sizeof rel);
    if (!import_find(L, L->files[id], rel, path, sizeof path)) {
      diag_error(L, n->span, "cannot find import '%s' (looked for '%s' next to '%s', in the "
                 "import paths and $NNC_PATH)", n->name, rel, L->files[id]->path);
      continue;
    }
    stack[depth - 1].import = n;
    int file = parse_tree(L, path, stack, depth, n);
    if (file >= 0)
      import_record(L, n, file);
  }
}

/* Parses `path` and its imports; returns its file index or -1. `via` is the import that
 * asked for it (NULL for the root). */
static int parse_tree(Lang *L, const char *path, ImportFrame *stack, int depth,
                      const Node *via) {
  char real[PATH_MAX];
  const char *key = realpath(path, real) ? real : path;
  int id = file_by_key(L, key);
  if (id >= 0 && L->state[id] == 1) {
    for (int i = 0; i < depth; i++)
      if (stack[i].file == id)
        report_cycle(L, stack, i, depth, via);
    return -1;
  }
  if (id >= 0)
    return id;
  if (depth >= IMPORT_MAX_DEPTH) {
    diag_error(L, via->span, "imports nested too deeply (limit %d)", IMPORT_MAX_DEPTH);
    return -1;
  }
  SrcFile *f = src_load(L, path);
  if (!f)
    return -1;
  id = f->id;
  L->keys[id] = lang_intern(L, key, strlen(key));
  L->state[id] = 1;
  L->asts[id] = lang_parse_source(L, f);
  stack[depth] = (ImportFrame){id, NULL};
  parse_imports(L, id, stack, depth + 1);
  L->state[id] = 2;
  return id;
}

Node *lang_parse_file(Lang *L, const char *path) {
  ImportFrame stack[IMPORT_MAX_DEPTH + 1];
  int id = parse_tree(L, path, stack, 0, NULL);
  return id >= 0 ? L->asts[id] : NULL;
}

Node *lang_parse_string(Lang *L, const char *name, const char *text, size_t len) {
  SrcFile *f = src_from_string(L, name, text, len);
  if (!f)
    return NULL;
  ImportFrame stack[IMPORT_MAX_DEPTH + 1];
  L->state[f->id] = 1;
  L->asts[f->id] = lang_parse_source(L, f);
  stack[0] = (ImportFrame){f->id, NULL};
  parse_imports(L, f->id, stack, 1);
  L->state[f->id] = 2;
  return L->asts[f->id];
}
