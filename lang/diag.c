/* diag.c — the diagnostics engine: collect errors, warnings and notes; render clang-style.
 *
 *   path:line:col: error: message
 *    12 |   let y = x @ W
 *       |           ~~^~~        (caret at the span's start, tildes over the rest)
 *   path:line:col: note: ...
 *
 * Diagnostics are kept in report order. Errors past max_errors are counted but not kept;
 * one "too many errors" line replaces them. Nothing is printed until diag_render.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lang.h"

enum { DIAG_DEFAULT_MAX = 50, DIAG_LINE_WINDOW = 160 };

/* Formats a message into the arena; falls back to a fixed text when out of memory. */
static char *diag_format(Lang *L, const char *fmt, va_list ap) {
  char small[512];
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  char *msg = n >= 0 ? lang_alloc(L, (size_t)n + 1) : NULL;
  if (msg && n < (int)sizeof small)
    memcpy(msg, small, (size_t)n + 1);
  else if (msg)
    vsnprintf(msg, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  return msg ? msg : (char *)"(out of memory formatting a diagnostic)";
}

static int diag_max(const Lang *L) {
  return L->opt.max_errors > 0 ? L->opt.max_errors : DIAG_DEFAULT_MAX;
}

static Diag *diag_add(Lang *L, DiagLevel level, Span sp, const char *fmt, va_list ap) {
  if (level == DIAG_ERROR && L->nerrors >= diag_max(L)) {
    L->nerrors++;
    L->ndropped++;
    return NULL;
  }
  Diag *d = lang_alloc(L, sizeof *d);
  if (!d) {
    L->nerrors += level == DIAG_ERROR;
    return NULL;
  }
  d->level = level;
  d->span = sp;
  d->msg = diag_format(L, fmt, ap);
  if (level == DIAG_ERROR)
    L->nerrors++;
  else
    L->nwarnings++;
  if (L->dtail)
    L->dtail->next = d;
  else
    L->dhead = d;
  L->dtail = d;
  return d;
}

Diag *diag_error(Lang *L, Span sp, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  Diag *d = diag_add(L, DIAG_ERROR, sp, fmt, ap);
  va_end(ap);
  return d;
}

/* With -Werror a warning is recorded as an error whose message ends in [-Werror]. */
Diag *diag_warning(Lang *L, Span sp, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  Diag *d = diag_add(L, L->opt.warnings_as_errors ? DIAG_ERROR : DIAG_WARNING, sp, fmt, ap);
  va_end(ap);
  if (d && L->opt.warnings_as_errors) {
    size_t n = strlen(d->msg);
    char *m = lang_alloc(L, n + 12);
    if (m) {
      memcpy(m, d->msg, n);
      memcpy(m + n, " [-Werror]", 11);
      d->msg = m;
    }
  }
  return d;
}

void diag_note(Lang *L, Diag *d, Span sp, const char *fmt, ...) {
  if (!d)
    return;   /* the diagnostic was dropped (too many errors): so is its note */
  Diag *n = lang_alloc(L, sizeof *n);
  if (!n)
    return;
  va_list ap;
  va_start(ap, fmt);
  n->level = DIAG_NOTE;
  n->span = sp;
  n->msg = diag_format(L, fmt, ap);
  va_end(ap);
  Diag **p = &d->notes;
  while (*p)
    p = &(*p)->next;
  *p = n;
}

int diag_error_count(const Lang *L) {
  return L ? L->nerrors : 0;
}

const Diag *diag_first(const Lang *L) {
  return L ? L->dhead : NULL;
}

/* ---------------------------------------------------------------- rendering */

typedef struct Style {
  const char *bold, *reset, *err, *warn, *note, *caret;
} Style;

static const Style plain = {"", "", "", "", "", ""};
static const Style ansi = {"\033[1m", "\033[0m", "\033[1;31m", "\033[1;35m", "\033[1;36m",
                           "\033[1;32m"};

static const char *level_name(DiagLevel l) {
  return l == DIAG_ERROR ? "error" : l == DIAG_WARNING ? "warning" : "note";
}

static const char *level_color(const Style *s, DiagLevel l) {
  return l == DIAG_ERROR ? s->err : l == DIAG_WARNING ? s->warn : s->note;
}

/* Prints the source line of `sp` with a gutter, then the caret line. Very long lines are
 * shown as a window around the column, with "..." where cut. */
static void render_snippet(const SrcFile *f, Span sp, int line, int col, FILE *out,
                           const Style *st) {
  uint32_t start = f->line_starts[line - 1];
  uint32_t end = start;
  while (end < f->len && f->text[end] != '\n')
    end++;
  if (end > start && f->text[end - 1] == '\r')
    end--;
  uint32_t from = start, to = end;
  if (end - start > DIAG_LINE_WINDOW) {
    uint32_t at = sp.off;
    from = at > start + DIAG_LINE_WINDOW / 2 ? at - DIAG_LINE_WINDOW / 2 : start;
    to = from + DIAG_LINE_WINDOW < end ? from + DIAG_LINE_WINDOW : end;
    if (from > to)
      from = to;
  }
  char num[16];
  int w = snprintf(num, sizeof num, "%d", line);
  fprintf(out, " %s | %s", num, from > start ? "..." : "");
  fwrite(f->text + from, 1, to - from, out);
  fprintf(out, "%s\n %*s | %s", to < end ? "..." : "", w, "", from > start ? "   " : "");
  uint32_t caret = sp.off < from ? from : sp.off > to ? to : sp.off;
  for (uint32_t i = from; i < caret; i++)
    fputc(f->text[i] == '\t' ? '\t' : ' ', out);
  fprintf(out, "%s^", st->caret);
  uint32_t stop = sp.off + sp.len < to ? sp.off + sp.len : to;
  for (uint32_t i = caret + 1; i < stop; i++)
    fputc('~', out);
  fprintf(out, "%s\n", st->reset);
  (void)col;
}

static void render_one(const Lang *L, const Diag *d, FILE *out, const Style *st) {
  const SrcFile *f = src_get((Lang *)L, d->span.file);
  int line = 0, col = 0;
  if (f) {
    src_linecol(f, d->span.off, &line, &col);
    fprintf(out, "%s%s:%d:%d: ", st->bold, f->path, line, col);
  } else {
    fprintf(out, "%s", st->bold);
  }
  fprintf(out, "%s%s:%s%s %s%s\n", level_color(st, d->level), level_name(d->level), st->reset,
          st->bold, d->msg, st->reset);
  if (f)
    render_snippet(f, d->span, line, col, out, st);
}

void diag_render_new(Lang *L, FILE *out, int color) {
  const Style *st = color ? &ansi : &plain;
  for (const Diag *d = L->drendered ? L->drendered->next : L->dhead; d; d = d->next) {
    render_one(L, d, out, st);
    for (const Diag *n = d->notes; n; n = n->next)
      render_one(L, n, out, st);
    L->drendered = (Diag *)d;
  }
  if (L->ndropped && !L->dropped_shown) {
    fprintf(out, "%s%serror:%s%s too many errors (limit %d); %d more not shown%s\n", st->bold,
            st->err, st->reset, st->bold, diag_max(L), L->ndropped, st->reset);
    L->dropped_shown = 1;
  }
}

void diag_render(const Lang *L, FILE *out, int color) {
  const Style *st = color ? &ansi : &plain;
  for (const Diag *d = L->dhead; d; d = d->next) {
    render_one(L, d, out, st);
    for (const Diag *n = d->notes; n; n = n->next)
      render_one(L, n, out, st);
  }
  if (L->ndropped)
    fprintf(out, "%s%serror:%s%s too many errors (limit %d); %d more not shown%s\n", st->bold,
            st->err, st->reset, st->bold, diag_max(L), L->ndropped, st->reset);
}
