/* source.c — source files: loading, the NUL sentinel, line tables and positions.
 *
 * A file is read whole into the compilation's arena with a NUL appended (the lexer's
 * sentinel). Line starts are computed once; src_linecol is a binary search over them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lang.h"

enum { SRC_MAX_BYTES = 256 * 1024 * 1024 };

/* Appends f to L->files; returns 0 when out of memory. */
static int src_register(Lang *L, SrcFile *f) {
  if (L->nfiles == L->capfiles) {
    int cap = L->capfiles ? 2 * L->capfiles : 8;
    SrcFile **files = realloc(L->files, cap * sizeof *files);
    if (files)
      L->files = files;
    Node **asts = realloc(L->asts, cap * sizeof *asts);
    if (asts)
      L->asts = asts;
    const char **keys = realloc(L->keys, cap * sizeof *keys);
    if (keys)
      L->keys = keys;
    int *state = realloc(L->state, cap * sizeof *state);
    if (state)
      L->state = state;
    if (!files || !asts || !keys || !state) {
      L->oom++;
      return 0;
    }
    L->capfiles = cap;
  }
  f->id = L->nfiles;
  L->files[L->nfiles] = f;
  L->asts[L->nfiles] = NULL;
  L->keys[L->nfiles] = NULL;
  L->state[L->nfiles] = 0;
  L->nfiles++;
  return 1;
}

/* Fills f->line_starts from f->text; returns 0 when out of memory. */
static int src_index_lines(Lang *L, SrcFile *f) {
  int n = 1;
  for (size_t i = 0; i < f->len; i++)
    n += f->text[i] == '\n';
  f->line_starts = lang_alloc(L, (size_t)n * sizeof(uint32_t));
  if (!f->line_starts)
    return 0;
  int k = 0;
  f->line_starts[k++] = 0;
  for (size_t i = 0; i < f->len; i++)
    if (f->text[i] == '\n')
      f->line_starts[k++] = (uint32_t)(i + 1);
  f->nlines = n;
  return 1;
}

SrcFile *src_from_string(Lang *L, const char *name, const char *text, size_t len) {
  static const Span nowhere = {-1, 0, 0};
  if (len > SRC_MAX_BYTES) {
    diag_error(L, nowhere, "%s: file too large (%zu bytes; limit %d)", name, len, SRC_MAX_BYTES);
    return NULL;
  }
  SrcFile *f = lang_alloc(L, sizeof *f);
  char *copy = f ? lang_alloc(L, len + 1) : NULL;
  const char *path = copy ? lang_intern(L, name, strlen(name)) : NULL;
  if (!path)
    return NULL;
  memcpy(copy, text, len);
  copy[len] = '\0';
  f->path = path;
  f->text = copy;
  f->len = len;
  if (!src_index_lines(L, f) || !src_register(L, f))
    return NULL;
  return f;
}

/* Reads a whole file into a malloc'd buffer; NULL + errno on failure. */
static char *src_read_all(const char *path, size_t *len) {
  FILE *fp = fopen(path, "rb");
  if (!fp)
    return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  if (!buf)
    errno = ENOMEM;
  while (buf) {
    n += fread(buf + n, 1, cap - n, fp);
    if (n < cap || cap > SRC_MAX_BYTES)
      break;
    char *bigger = realloc(buf, cap * 2);
    if (!bigger) {
      free(buf);
      buf = NULL;
      errno = ENOMEM;
      break;
    }
    buf = bigger;
    cap *= 2;
  }
  if (buf && ferror(fp)) {
    int e = errno;
    free(buf);
    buf = NULL;
    errno = e ? e : EIO;
  }
  fclose(fp);
  *len = n;
  return buf;
}

SrcFile *src_load(Lang *L, const char *path) {
  static const Span nowhere = {-1, 0, 0};
  size_t len = 0;
  errno = 0;
  char *buf = src_read_all(path, &len);
  if (!buf) {
    if (errno == ENOMEM)
      L->oom++;
    diag_error(L, nowhere, "cannot read '%s': %s", path, strerror(errno ? errno : EIO));
    return NULL;
  }
  SrcFile *f = src_from_string(L, path, buf, len);
  free(buf);
  return f;
}

SrcFile *src_get(Lang *L, int file) {
  if (!L || file < 0 || file >= L->nfiles)
    return NULL;
  return L->files[file];
}

void src_linecol(const SrcFile *f, uint32_t off, int *line, int *col) {
  int lo = 0, hi = f->nlines - 1;
  while (lo < hi) {
    int mid = lo + (hi - lo + 1) / 2;
    if (f->line_starts[mid] <= off)
      lo = mid;
    else
      hi = mid - 1;
  }
  *line = lo + 1;
  *col = (int)(off - f->line_starts[lo]) + 1;
}

Span span_join(Span a, Span b) {
  if (a.file < 0 || a.file != b.file)
    return a.file < 0 ? b : a;
  uint32_t lo = a.off < b.off ? a.off : b.off;
  uint32_t ea = a.off + a.len, eb = b.off + b.len;
  uint32_t hi = ea > eb ? ea : eb;
  return (Span){a.file, lo, hi - lo};
}
