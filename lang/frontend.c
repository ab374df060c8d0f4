/* frontend.c — drives the Lemon parser with the lexer's tokens; syntax errors and recovery.
 *
 * Messages: on a syntax error the parser hands over the set of tokens it could have
 * shifted in its current state; parse_syntax_error turns that set into a message naming
 * what was found and, where the set says it clearly, what was expected ("expected ';' or
 * newline after statement, found 'b'").
 *
 * Recovery (panic mode at statement level, as in most hand-written parsers): the grammar
 * has an `error` alternative in every list (declarations, members, statements, training
 * items), so Lemon pops back to the innermost list. The driver then withholds tokens,
 * counting braces, until the next ';' or newline at that level, a '}' closing it, or a
 * keyword that can only start a new item (then a ';' is fed first). Open '(' and '['
 * are forgotten, so that newlines end statements again. One error is reported per item.
 */
#include <stdlib.h>
#include <string.h>

#include "lang.h"
#include "parse.h"

typedef struct Recovery {
  int skipping;           /* withholding tokens */
  int rel;                /* braces opened since the error */
} Recovery;

/* ---------------------------------------------------------------- messages */

static int has(const int *set, int n, int kind) {
  for (int i = 0; i < n; i++)
    if (set[i] == kind)
      return 1;
  return 0;
}

/* Tokens that merely continue an expression; left out of "expected ..." lists. */
static int continues_expr(int k) {
  switch (k) {
  case TK_LPAREN: case TK_LBRACKET: case TK_DOT: case TK_PLUS: case TK_MINUS: case TK_STAR:
  case TK_SLASH: case TK_PERCENT: case TK_POW: case TK_AT: case TK_EQ: case TK_NE:
  case TK_LT: case TK_LE: case TK_GT: case TK_GE: case TK_AND: case TK_OR: case TK_QUESTION:
    return 1;
  default:
    return 0;
  }
}

/* "'x'", "newline", "end of file", "'return'", ... for "found X". */
static void describe(const ParseState *ps, const Token *t, char *buf, size_t n) {
  const char *text = ps->f->text + t->span.off;
  int len = (int)t->span.len;
  switch (t->kind) {
  case 0: case TK_END: snprintf(buf, n, "end of file"); return;
  case TK_SEMI:
    snprintf(buf, n, "%s", lex_inserted_semi(ps->f, t) ? "newline" : "';'");
    return;
  case TK_IDENT: case TK_INT: case TK_FLOAT: case TK_SIZE: case TK_DTYPE: case TK_SCALARTY:
    if (len > 40)
      snprintf(buf, n, "'%.40s...'", text);
    else
      snprintf(buf, n, "'%.*s'", len, text);
    return;
  case TK_STRING: snprintf(buf, n, "string"); return;
  default:
    if (tok_name(t->kind)[1] >= 'a' && tok_name(t->kind)[1] <= 'z')
      snprintf(buf, n, "keyword %s", tok_name(t->kind));
    else
      snprintf(buf, n, "%s", tok_name(t->kind));
    return;
  }
}

static const char *expected_name(int kind) {
  return kind == TK_SEMI ? "';' or newline" : tok_name(kind);
}

/* "A", "A or B", "A, B or C" into buf. */
static void join_names(const int *set, int n, char *buf, size_t size) {
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < n && used < size; i++) {
    const char *sep = i == 0 ? "" : i == n - 1 ? " or " : ", ";
    used += (size_t)snprintf(buf + used, size - used, "%s%s", sep, expected_name(set[i]));
  }
}

static const char *context_word(char ctx) {
  return ctx == 'm' ? "member" : ctx == 't' ? "training setting" : ctx == 's' ? "statement"
                                                                            : "declaration";
}

/* The innermost open bracket before token t (t itself may have just opened one). */
static int innermost_bracket(const ParseState *ps, const Token *t, char *open, uint32_t *off) {
  const Lexer *lx = ps->lx;
  int i = lx->depth - 1;
  if (i >= 0 && lx->bpos[i] == t->span.off)
    i--;
  if (i < 0)
    return 0;
  *open = lx->brackets[i];
  *off = lx->bpos[i];
  return 1;
}

static int closer_of(char open) {
  return open == '(' ? TK_RPAREN : open == '[' ? TK_RBRACKET : TK_RBRACE;
}

/* The message for an error at t, given the full expected set E and the shortened E'. */
static Diag *syntax_message(ParseState *ps, const Token *t, const char *found, const int *E,
                            int n, const int *E2, int n2) {
  Lang *L = ps->L;
  char list[256];
  char open;
  uint32_t off;
  if ((t->kind == TK_PARAM || t->kind == TK_BUFFER) && !has(E, n, TK_PARAM))
    return diag_error(L, t->span, "%s declarations are allowed only in a module body",
                      tok_name(t->kind));
  if (t->kind == TK_END && innermost_bracket(ps, t, &open, &off) && has(E, n, closer_of(open))) {
    Diag *d = diag_error(L, t->span, "expected %s at end of file", tok_name(closer_of(open)));
    diag_note(L, d, (Span){ps->f->id, off, 1}, "to match this '%c'", open);
    return d;
  }
  if (t->kind == TK_ELSE && has(E, n, TK_LET))
    return diag_error(L, t->span, "'else' must be on the same line as the '}' that closes "
                      "its 'if' block");
  if (has(E, n, TK_LET))
    return diag_error(L, t->span, "expected statement, found %s", found);
  if (has(E, n, TK_PARAM))
    return diag_error(L, t->span, "expected module member (param, buffer, fn, const, grad or "
                      "name = value), found %s", found);
  if (has(E, n, TK_IMPORT))
    return diag_error(L, t->span, "expected declaration (import, module, model, fn, extern, "
                      "grad, const or train), found %s", found);
  if (ps->ctx == 't' && has(E, n, TK_IDENT) && has(E, n, TK_RBRACE))
    return diag_error(L, t->span, "expected training setting (name = value), found %s", found);
  if (has(E, n, TK_SEMI) && t->kind != TK_SEMI)
    return diag_error(L, t->span, "expected ';' or newline after %s, found %s",
                      context_word(ps->ctx), found);
  if (has(E, n, TK_IDENT) && has(E, n, TK_INT) && has(E, n, TK_LPAREN))
    return diag_error(L, t->span, "expected expression, found %s", found);
  if (has(E, n, TK_DTYPE) && has(E, n, TK_SCALARTY))
    return diag_error(L, t->span, "expected type, found %s", found);
  if (n == 2 && has(E, n, TK_IDENT) && has(E, n, TK_LPAREN))
    return diag_error(L, t->span, "expected pattern (a name, '_' or '(a, b)'), found %s", found);
  if (n2 == 2 && has(E2, n2, TK_IDENT) && has(E2, n2, TK_STRING))
    return diag_error(L, t->span, "expected module name or path string after 'import', "
                      "found %s", found);
  if (n2 >= 1 && n2 <= 4) {
    join_names(E2, n2, list, sizeof list);
    Diag *d = diag_error(L, t->span, "expected %s, found %s", list, found);
    if (innermost_bracket(ps, t, &open, &off) && open != '{' && has(E2, n2, closer_of(open)))
      diag_note(L, d, (Span){ps->f->id, off, 1}, "to match this '%c'", open);
    return d;
  }
  return diag_error(L, t->span, "unexpected %s", found);
}

void parse_syntax_error(ParseState *ps, int kind, const Token *tok, const int *expected, int n) {
  int E2[256], n2 = 0;
  for (int i = 0; i < n; i++)
    if (!continues_expr(expected[i]))
      E2[n2++] = expected[i];
  if (n2 == 0) {
    memcpy(E2, expected, (size_t)n * sizeof *E2);
    n2 = n;
  }
  char found[96];
  describe(ps, tok, found, sizeof found);
  if (!ps->lx->bad_bytes)   /* else the lexer's message explains it: no cascade */
    syntax_message(ps, tok, found, expected, n, E2, n2);
  ps->error = 1;
  (void)kind;
}

void parse_stack_overflow(ParseState *ps) {
  Span sp = {ps->f->id, (uint32_t)(ps->lx->tok - (const unsigned char *)ps->f->text), 1};
  diag_error(ps->L, sp, "expression nested too deeply (parser stack exhausted)");
  ps->dead = 1;
}

/* ---------------------------------------------------------------- recovery */

/* A keyword that can only start a new item: recovery restarts there. */
static int starts_item(int kind, char ctx) {
  switch (kind) {
  case TK_LET: case TK_VAR: case TK_RETURN: case TK_FOR: case TK_IF: case TK_IMPORT:
  case TK_MODULE: case TK_MODEL: case TK_TRAIN: case TK_EXTERN: case TK_CONST: case TK_GRAD:
  case TK_PARAM: case TK_BUFFER:
    return 1;
  case TK_FN:
    return ctx == 'm' || ctx == 'f';
  default:
    return 0;
  }
}

static void push(void *p, ParseState *ps, const Token *t) {
  ps->error = 0;
  NncParse(p, t->kind, *t, ps);
}

/* Feeds a ';' standing for the end of the broken item, then t. */
static void restart_at(void *p, ParseState *ps, const Token *t) {
  Token semi = {TK_SEMI, {t->span.file, t->span.off, 0}, 0, 0, NULL};
  push(p, ps, &semi);
  if (!ps->dead)
    push(p, ps, t);
}

/* While skipping: 1 when t ends the skip (and must be fed). */
static int skip_ends(Recovery *rc, const ParseState *ps, const Token *t) {
  switch (t->kind) {
  case TK_END: return 1;
  case TK_LBRACE: rc->rel++; return 0;
  case TK_RBRACE:
    if (rc->rel == 0)
      return 1;
    rc->rel--;
    return 0;
  case TK_SEMI: return rc->rel == 0;
  default: return rc->rel == 0 && starts_item(t->kind, ps->ctx);
  }
}

/* After a reported error at t: decide how to get back in step. */
static void begin_recovery(void *p, ParseState *ps, Recovery *rc, const Token *t) {
  lex_unwind_parens(ps->lx);
  if (t->kind == TK_END)
    return;   /* nothing follows: stay muted */
  if (t->kind == TK_SEMI || t->kind == TK_RBRACE) {
    if (!NncParseInError(p))
      NncParseResetErrors(p);
    return;
  }
  if (starts_item(t->kind, ps->ctx)) {
    restart_at(p, ps, t);
    if (!NncParseInError(p))
      return;
  }
  rc->skipping = 1;
  rc->rel = t->kind == TK_LBRACE;
}

/* Feeds one token; returns 0 once the end of input was fed or the parser gave up. */
static int feed(void *p, ParseState *ps, Recovery *rc, const Token *t) {
  if (rc->skipping) {
    if (!skip_ends(rc, ps, t))
      return 1;
    rc->skipping = 0;
    NncParseResetErrors(p);
    if (t->kind != TK_SEMI && t->kind != TK_RBRACE && t->kind != TK_END)
      restart_at(p, ps, t);
    else
      push(p, ps, t);
  } else {
    push(p, ps, t);
  }
  if (ps->error && !ps->dead)
    begin_recovery(p, ps, rc, t);
  return t->kind != TK_END && !ps->dead;
}

Node *lang_parse_source(Lang *L, SrcFile *f) {
  Lexer lx;
  ParseState ps = {L, f, &lx, NULL, 'f', 0, 0};
  Recovery rc = {0, 0};
  ps.root = ast_new(L, N_FILE, (Span){f->id, 0, 0});
  void *p = NncParseAlloc(malloc);
  if (!p || !ps.root) {
    L->oom++;
    diag_error(L, (Span){f->id, 0, 0}, "out of memory");
    NncParseFree(p, free);
    return ps.root;
  }
  lex_init(&lx, L, f);
  Token t;
  do {
    ps.ctx = lex_context(&lx);
    lex_next(&lx, &t);
    if (lx.too_deep)
      break;   /* reported by the lexer; the rest of the file is not parsed */
    if (t.kind == 0)
      t.kind = TK_END;
  } while (feed(p, &ps, &rc, &t));
  if (!ps.dead && !lx.too_deep) {
    t.kind = 0;
    push(p, &ps, &t);
  }
  lex_done(&lx);
  NncParseFree(p, free);
  return ps.root;
}
