/* lex.re — the .nn lexer (re2c 3.0, sentinel method on the NUL-terminated source).
 *
 * lex_next returns one token at a time with its Span. A newline becomes TK_SEMI (Go's
 * rule, docs/language.md §1) when the previous token can end a statement and the newline
 * is not inside ( ) or [ ]; a block comment spanning lines counts as a newline. Every
 * error (stray byte, invalid UTF-8, bad number, unterminated string or comment) becomes a
 * diagnostic and lexing goes on. Brackets are tracked on a stack, which also gives the
 * parser the context of the innermost '{' for its messages, and bounds nesting.
 */
#include <stdlib.h>
#include <string.h>

#include "lang.h"
#include "parse.h"

/*!re2c
  re2c:api:style = free-form;
  re2c:define:YYCTYPE = "unsigned char";
  re2c:define:YYCURSOR = "lx->cur";
  re2c:define:YYMARKER = "mk";
  re2c:yyfill:enable = 0;
  re2c:sentinel = 0;

  u8cont = [\x80-\xbf];
  u8 = [\xc2-\xdf] u8cont
     | "\xe0" [\xa0-\xbf] u8cont
     | [\xe1-\xec\xee\xef] u8cont u8cont
     | "\xed" [\x80-\x9f] u8cont
     | "\xf0" [\x90-\xbf] u8cont u8cont
     | [\xf1-\xf3] u8cont u8cont u8cont
     | "\xf4" [\x80-\x8f] u8cont u8cont;
  dec = [0-9]+;
  hex = [0-9a-fA-F];
  exp = [eE] [+-]? dec;
  identc = [A-Za-z0-9_];
*/

/* ---------------------------------------------------------------- token names */

static const char *const tok_names[] = {
  [0] = "end of file",
  [TK_SEMI] = "';'", [TK_COMMA] = "','", [TK_LPAREN] = "'('", [TK_RPAREN] = "')'",
  [TK_LBRACKET] = "'['", [TK_RBRACKET] = "']'", [TK_LBRACE] = "'{'", [TK_RBRACE] = "'}'",
  [TK_COLON] = "':'", [TK_DOT] = "'.'", [TK_DOTDOT] = "'..'", [TK_ELLIPSIS] = "'...'",
  [TK_ASSIGN] = "'='", [TK_EQ] = "'=='", [TK_NE] = "'!='", [TK_LT] = "'<'", [TK_LE] = "'<='",
  [TK_GT] = "'>'", [TK_GE] = "'>='", [TK_PLUS] = "'+'", [TK_MINUS] = "'-'", [TK_STAR] = "'*'",
  [TK_SLASH] = "'/'", [TK_PERCENT] = "'%'", [TK_POW] = "'**'", [TK_AT] = "'@'",
  [TK_QUESTION] = "'?'", [TK_ARROW] = "'->'",
  [TK_IDENT] = "identifier", [TK_INT] = "integer", [TK_FLOAT] = "float", [TK_SIZE] = "size",
  [TK_STRING] = "string", [TK_DTYPE] = "dtype", [TK_SCALARTY] = "scalar type",
  [TK_IMPORT] = "'import'", [TK_AS] = "'as'", [TK_MODULE] = "'module'", [TK_MODEL] = "'model'",
  [TK_FN] = "'fn'", [TK_PARAM] = "'param'", [TK_BUFFER] = "'buffer'", [TK_LET] = "'let'",
  [TK_VAR] = "'var'", [TK_RETURN] = "'return'", [TK_FOR] = "'for'", [TK_IN] = "'in'",
  [TK_IF] = "'if'", [TK_ELSE] = "'else'", [TK_SCAN] = "'scan'", [TK_REVERSE] = "'reverse'",
  [TK_OVER] = "'over'", [TK_ALONG] = "'along'", [TK_FROM] = "'from'", [TK_TRAIN] = "'train'",
  [TK_EXTERN] = "'extern'", [TK_GRAD] = "'grad'", [TK_CONST] = "'const'", [TK_TRUE] = "'true'",
  [TK_FALSE] = "'false'", [TK_TRAINING] = "'training'", [TK_NONE] = "'None'", [TK_AND] = "'and'",
  [TK_OR] = "'or'", [TK_NOT] = "'not'", [TK_END] = "end of file",
};

const char *tok_name(int kind) {
  if (kind < 0 || kind >= (int)(sizeof tok_names / sizeof tok_names[0]) || !tok_names[kind])
    return "token";
  return tok_names[kind];
}

/* ---------------------------------------------------------------- state */

void lex_init(Lexer *lx, Lang *L, SrcFile *f) {
  memset(lx, 0, sizeof *lx);
  lx->L = L;
  lx->f = f;
  lx->cur = (const unsigned char *)f->text;
  lx->end = lx->cur + f->len;
  lx->pending_ctx = 's';
}

void lex_done(Lexer *lx) {
  free(lx->brackets);
  free(lx->bctx);
  free(lx->bpos);
  lx->brackets = lx->bctx = NULL;
  lx->bpos = NULL;
}

static Span lex_span(const Lexer *lx, const unsigned char *from, const unsigned char *to) {
  const unsigned char *base = (const unsigned char *)lx->f->text;
  return (Span){lx->f->id, (uint32_t)(from - base), (uint32_t)(to - from)};
}

/* Does a newline after a token of this kind end the statement? */
static int ends_statement(int kind) {
  switch (kind) {
  case TK_IDENT: case TK_INT: case TK_FLOAT: case TK_SIZE: case TK_STRING:
  case TK_RPAREN: case TK_RBRACKET: case TK_RBRACE: case TK_RETURN: case TK_TRUE:
  case TK_FALSE: case TK_TRAINING: case TK_NONE: case TK_ELLIPSIS: case TK_DTYPE:
  case TK_SCALARTY:
    return 1;
  default:
    return 0;
  }
}

static char top_bracket(const Lexer *lx) {
  return lx->depth ? lx->brackets[lx->depth - 1] : 0;
}

char lex_context(const Lexer *lx) {
  for (int i = lx->depth - 1; i >= 0; i--)
    if (lx->brackets[i] == '{')
      return lx->bctx[i];
  return 'f';
}

void lex_unwind_parens(Lexer *lx) {
  while (lx->depth && lx->brackets[lx->depth - 1] != '{')
    lx->depth--;
}

/* Pushes an opening bracket; 0 when nesting is too deep (reported here). */
static int push_bracket(Lexer *lx, char c, Span sp) {
  if (lx->depth >= LEX_MAX_NESTING) {
    diag_error(lx->L, sp, "expression nested too deeply (limit %d)", LEX_MAX_NESTING);
    lx->too_deep = 1;
    return 0;
  }
  if (lx->depth == lx->cap) {
    int cap = lx->cap ? 2 * lx->cap : 32;
    char *b = realloc(lx->brackets, cap), *x = realloc(lx->bctx, cap);
    uint32_t *o = realloc(lx->bpos, cap * sizeof *o);
    if (b)
      lx->brackets = b;
    if (x)
      lx->bctx = x;
    if (o)
      lx->bpos = o;
    if (!b || !x || !o) {
      lx->L->oom++;
      diag_error(lx->L, sp, "out of memory");
      lx->too_deep = 1;
      return 0;
    }
    lx->cap = cap;
  }
  lx->bctx[lx->depth] = c == '{' ? (char)lx->pending_ctx : 0;
  lx->bpos[lx->depth] = sp.off;
  lx->brackets[lx->depth++] = c;
  if (c == '{')
    lx->pending_ctx = 's';
  return 1;
}

/* Pops up to the matching opener; a closer with no opener on the stack is ignored. */
static void pop_bracket(Lexer *lx, char open) {
  for (int i = lx->depth - 1; i >= 0; i--)
    if (lx->brackets[i] == open) {
      lx->depth = i;
      return;
    }
}

int lex_inserted_semi(const SrcFile *f, const Token *t) {
  return t->kind == TK_SEMI && (t->span.off >= f->len || f->text[t->span.off] != ';');
}

/* ---------------------------------------------------------------- errors */

/* Reports the invalid UTF-8 byte at p and skips it and the continuation bytes after it. */
static void bad_utf8(Lexer *lx, const unsigned char *p) {
  lx->bad_bytes = 1;
  diag_error(lx->L, lex_span(lx, p, p + 1), "invalid UTF-8 byte 0x%02x", *p);
  lx->cur = p + 1;
  while (*lx->cur >= 0x80 && *lx->cur <= 0xbf)
    lx->cur++;
}

/* Decodes a valid UTF-8 sequence of n bytes. */
static unsigned utf8_decode(const unsigned char *p, int n) {
  static const unsigned char lead_mask[] = {0, 0x7f, 0x1f, 0x0f, 0x07};
  unsigned c = p[0] & lead_mask[n];
  for (int i = 1; i < n; i++)
    c = (c << 6) | (p[i] & 0x3f);
  return c;
}

static void stray_char(Lexer *lx, const unsigned char *p, const unsigned char *q) {
  Span sp = lex_span(lx, p, q);
  lx->bad_bytes = 1;
  if (q - p > 1)
    diag_error(lx->L, sp, "unexpected character U+%04X '%.*s' (non-ASCII characters are "
               "allowed only in strings and comments)", utf8_decode(p, (int)(q - p)),
               (int)(q - p), (const char *)p);
  else if (*p >= 0x21 && *p <= 0x7e)
    diag_error(lx->L, sp, "unexpected character '%c'", *p);
  else
    diag_error(lx->L, sp, "unexpected byte 0x%02x", *p);
}

/* ---------------------------------------------------------------- comments */

/* Skips a '#' comment up to (not including) the newline; checks its UTF-8. */
static void skip_line_comment(Lexer *lx) {
  for (;;) {
    const unsigned char *p = lx->cur, *mk;
    (void)mk;
    /*!re2c
      [\n\x00]              { lx->cur = p; return; }
      [\x01-\x09\x0b-\x7f]+ { continue; }
      u8                    { continue; }
      *                     { bad_utf8(lx, p); continue; }
    */
  }
}

/* Skips a nested block comment whose opening bracket is at `open`. Returns 1 when it spanned
 * a newline. An unterminated comment is reported at its start. */
static int skip_block_comment(Lexer *lx, const unsigned char *open) {
  int depth = 1, newline = 0;
  for (;;) {
    const unsigned char *p = lx->cur, *mk;
    (void)mk;
    /*!re2c
      "*" "/"       { if (--depth == 0) return newline; continue; }
      "/*"          { depth++; continue; }
      "\n"          { newline = 1; continue; }
      "\x00"        {
        if (p < lx->end) continue;
        lx->cur = p;
        diag_error(lx->L, lex_span(lx, open, open + 2), "unterminated block comment");
        return newline;
      }
      [\x01-\x7f]   { continue; }
      u8            { continue; }
      *             { bad_utf8(lx, p); continue; }
    */
  }
}

/* ---------------------------------------------------------------- strings */

typedef struct StrBuf {
  char *s;
  size_t n, cap;
  int oom;   /* a realloc failed: the string is truncated */
} StrBuf;

static void sb_put(StrBuf *b, const unsigned char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? 2 * b->cap : 64;
    while (cap < b->n + n + 1)
      cap *= 2;
    char *p = realloc(b->s, cap);
    if (!p) {
      b->oom++;   /* the string is truncated; reported through lang_out_of_memory */
      return;
    }
    b->s = p;
    b->cap = cap;
  }
  memcpy(b->s + b->n, s, n);
  b->n += n;
}

static int hexval(unsigned char c) {
  return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* Lexes the rest of a string after the opening quote at `open`; unescapes into b. */
static void lex_string_body(Lexer *lx, const unsigned char *open, StrBuf *b) {
  for (;;) {
    const unsigned char *p = lx->cur, *mk;
    (void)mk;
    /*!re2c
      "\""                    { return; }
      "\\n"                   { sb_put(b, (const unsigned char *)"\n", 1); continue; }
      "\\t"                   { sb_put(b, (const unsigned char *)"\t", 1); continue; }
      "\\r"                   { sb_put(b, (const unsigned char *)"\r", 1); continue; }
      "\\\\"                  { sb_put(b, (const unsigned char *)"\\", 1); continue; }
      "\\\""                  { sb_put(b, (const unsigned char *)"\"", 1); continue; }
      "\\x" hex hex           {
        unsigned char c = (unsigned char)(hexval(p[2]) * 16 + hexval(p[3]));
        if (c == 0)
          diag_error(lx->L, lex_span(lx, p, lx->cur), "'\\x00' is not allowed in a string");
        else
          sb_put(b, &c, 1);
        continue;
      }
      "\\" [\x20-\x7e]        {
        diag_error(lx->L, lex_span(lx, p, lx->cur), "invalid escape sequence '\\%c' in string",
                   p[1]);
        continue;
      }
      [\n\x00] | "\\" [\n\x00] {
        if (lx->cur[-1] == 0 && lx->cur - 1 < lx->end) {
          diag_error(lx->L, lex_span(lx, lx->cur - 1, lx->cur), "unexpected byte 0x00 in string");
          continue;
        }
        lx->cur--;
        Diag *d = diag_error(lx->L, lex_span(lx, open, open + 1), "unterminated string");
        diag_note(lx->L, d, lex_span(lx, lx->cur, lx->cur),
                  "the line ends here; a string cannot span lines (write \\n for a newline)");
        return;
      }
      [\x20-\x7e\t]           { sb_put(b, p, 1); continue; }
      u8                      { sb_put(b, p, (size_t)(lx->cur - p)); continue; }
      *                       { bad_utf8(lx, p); continue; }
    */
  }
}

static int lex_string(Lexer *lx, Token *t) {
  StrBuf b = {0};
  lex_string_body(lx, lx->tok, &b);
  if (b.oom)
    lx->L->oom++;
  t->str = lang_intern(lx->L, b.s ? b.s : "", b.n);
  free(b.s);
  return TK_STRING;
}

/* ---------------------------------------------------------------- numbers */

static int bad_number(Lexer *lx, const char *why) {
  diag_error(lx->L, lex_span(lx, lx->tok, lx->cur), "invalid number '%.*s'%s%s",
             (int)(lx->cur - lx->tok), (const char *)lx->tok, why ? ": " : "", why ? why : "");
  return TK_INT;
}

/* Parses digits in base 10 or 16 into *v; 0 on overflow (reported). */
static int parse_uint(Lexer *lx, const unsigned char *s, const unsigned char *e, int base,
                      int64_t *v) {
  uint64_t x = 0;
  for (; s < e; s++) {
    unsigned d = (unsigned)hexval(*s);
    if (x > (uint64_t)(INT64_MAX - d) / (uint64_t)base) {
      diag_error(lx->L, lex_span(lx, lx->tok, lx->cur), "integer literal '%.*s' is too large",
                 (int)(lx->cur - lx->tok), (const char *)lx->tok);
      *v = 0;
      return 0;
    }
    x = x * base + d;
  }
  *v = (int64_t)x;
  return 1;
}

static int lex_int(Lexer *lx, Token *t, int base) {
  const unsigned char *s = lx->tok + (base == 16 ? 2 : 0);
  parse_uint(lx, s, lx->cur, base, &t->ival);
  return TK_INT;
}

static int lex_float(Lexer *lx, Token *t) {
  char buf[128];
  size_t n = (size_t)(lx->cur - lx->tok);
  if (n >= sizeof buf) {
    diag_error(lx->L, lex_span(lx, lx->tok, lx->cur), "float literal is too long");
    return TK_FLOAT;
  }
  memcpy(buf, lx->tok, n);
  buf[n] = '\0';
  t->fval = strtod(buf, NULL);
  return TK_FLOAT;
}

/* A size: digits then a unit (KB = 1000 bytes, KiB = 1024 bytes, ...). */
static int lex_size(Lexer *lx, Token *t) {
  const unsigned char *u = lx->tok;
  while (*u >= '0' && *u <= '9')
    u++;
  int64_t v;
  if (!parse_uint(lx, lx->tok, u, 10, &v))
    return TK_SIZE;
  int binary = u[1] == 'i';
  int power = *u == 'K' ? 1 : *u == 'M' ? 2 : *u == 'G' ? 3 : 4;
  for (int i = 0; i < power; i++) {
    int64_t m = binary ? 1024 : 1000;
    if (v > INT64_MAX / m) {
      diag_error(lx->L, lex_span(lx, lx->tok, lx->cur), "size '%.*s' is too large",
                 (int)(lx->cur - lx->tok), (const char *)lx->tok);
      return TK_SIZE;
    }
    v *= m;
  }
  t->ival = v;
  return TK_SIZE;
}

/* ---------------------------------------------------------------- the main scanner */

static int kw(Lexer *lx, int kind, int ctx) {
  if (ctx)
    lx->pending_ctx = ctx;
  return kind;
}

static int dtype_tok(Token *t, int dt) {
  t->ival = dt;
  return TK_DTYPE;
}

static int scalar_tok(Token *t, int st) {
  t->ival = st;
  return TK_SCALARTY;
}

static int open_tok(Lexer *lx, int kind, char c) {
  if (!push_bracket(lx, c, lex_span(lx, lx->tok, lx->cur)))
    return 0;
  return kind;
}

static int close_tok(Lexer *lx, int kind, char open) {
  pop_bracket(lx, open);
  return kind;
}

/* Scans one raw token into t (kind returned); -1 for a newline, -2 for a block comment
 * that spanned a newline, -3 for something skipped (whitespace, comment, bad byte).
 * Long only because it is the rule table: one line per token. Ties between rules of the
 * same length go to the earlier rule (keywords before identifiers, sizes and malformed
 * numbers before the generic number-with-suffix error). */
static int lex_raw(Lexer *lx, Token *t) {
  const unsigned char *mk;
  lx->tok = lx->cur;
  /*!re2c
    "\x00"        {
      if (lx->tok < lx->end) { stray_char(lx, lx->tok, lx->cur); return -3; }
      lx->cur = lx->tok;
      return 0;
    }
    [ \t\r\f\v]+  { return -3; }
    "\n"          { return -1; }
    "#"           { skip_line_comment(lx); return -3; }
    "/*"          { return skip_block_comment(lx, lx->tok) ? -2 : -3; }

    "import"   { return kw(lx, TK_IMPORT, 0); }
    "as"       { return TK_AS; }
    "module"   { return kw(lx, TK_MODULE, 'm'); }
    "model"    { return kw(lx, TK_MODEL, 'm'); }
    "fn"       { return kw(lx, TK_FN, 's'); }
    "param"    { return TK_PARAM; }
    "buffer"   { return TK_BUFFER; }
    "let"      { return TK_LET; }
    "var"      { return TK_VAR; }
    "return"   { return TK_RETURN; }
    "for"      { return kw(lx, TK_FOR, 's'); }
    "in"       { return TK_IN; }
    "if"       { return kw(lx, TK_IF, 's'); }
    "else"     { return kw(lx, TK_ELSE, 's'); }
    "scan"     { return TK_SCAN; }
    "reverse"  { return TK_REVERSE; }
    "over"     { return TK_OVER; }
    "along"    { return TK_ALONG; }
    "from"     { return TK_FROM; }
    "train"    { return kw(lx, TK_TRAIN, 't'); }
    "extern"   { return TK_EXTERN; }
    "grad"     { return kw(lx, TK_GRAD, 's'); }
    "const"    { return TK_CONST; }
    "true"     { return TK_TRUE; }
    "false"    { return TK_FALSE; }
    "training" { return TK_TRAINING; }
    "None"     { return TK_NONE; }
    "and"      { return TK_AND; }
    "or"       { return TK_OR; }
    "not"      { return TK_NOT; }
    "f32"      { return dtype_tok(t, DT_F32); }
    "f64"      { return dtype_tok(t, DT_F64); }
    "i32"      { return dtype_tok(t, DT_I32); }
    "i64"      { return dtype_tok(t, DT_I64); }
    "bool"     { return dtype_tok(t, DT_BOOL); }
    "bit"      { return dtype_tok(t, DT_BIT); }
    "int"      { return scalar_tok(t, ST_INT); }
    "float"    { return scalar_tok(t, ST_FLOAT); }
    "str"      { return scalar_tok(t, ST_STR); }
    [A-Za-z_] identc* {
      t->str = lang_intern(lx->L, (const char *)lx->tok, (size_t)(lx->cur - lx->tok));
      return TK_IDENT;
    }

    dec [KMGT] "i"? "B"                { return lex_size(lx, t); }
    dec "." dec [eE] [+-]? | dec [eE] [+-]? { return bad_number(lx, "exponent has no digits"); }
    "0" [xX]                           { return bad_number(lx, "no hex digits after '0x'"); }
    dec | "0" [xX] hex+ {
      return lex_int(lx, t, lx->tok[1] == 'x' || lx->tok[1] == 'X' ? 16 : 10);
    }
    dec "." dec exp? | dec exp | "." dec exp? { return lex_float(lx, t); }
    (dec ("." dec)? | "0" [xX] hex+) identc+ { return bad_number(lx, NULL); }

    "\""  { return lex_string(lx, t); }

    "("   { return open_tok(lx, TK_LPAREN, '('); }
    ")"   { return close_tok(lx, TK_RPAREN, '('); }
    "["   { return open_tok(lx, TK_LBRACKET, '['); }
    "]"   { return close_tok(lx, TK_RBRACKET, '['); }
    "{"   { return open_tok(lx, TK_LBRACE, '{'); }
    "}"   { return close_tok(lx, TK_RBRACE, '{'); }
    ","   { return TK_COMMA; }
    ";"   { return TK_SEMI; }
    ":"   { return TK_COLON; }
    "."   { return TK_DOT; }
    ".."  { return TK_DOTDOT; }
    "..." { return TK_ELLIPSIS; }
    "="   { return TK_ASSIGN; }
    "=="  { return TK_EQ; }
    "!="  { return TK_NE; }
    "<"   { return TK_LT; }
    "<="  { return TK_LE; }
    ">"   { return TK_GT; }
    ">="  { return TK_GE; }
    "+"   { return TK_PLUS; }
    "-"   { return TK_MINUS; }
    "*"   { return TK_STAR; }
    "/"   { return TK_SLASH; }
    "%"   { return TK_PERCENT; }
    "**"  { return TK_POW; }
    "@"   { return TK_AT; }
    "?"   { return TK_QUESTION; }
    "->"  { return TK_ARROW; }

    u8    { stray_char(lx, lx->tok, lx->cur); return -3; }
    [\x80-\xff] { bad_utf8(lx, lx->tok); return -3; }
    *     { stray_char(lx, lx->tok, lx->cur); return -3; }
  */
}

/* Would a newline here become a ';'? */
static int newline_ends(const Lexer *lx) {
  char top = top_bracket(lx);
  return ends_statement(lx->last) && top != '(' && top != '[';
}

int lex_next(Lexer *lx, Token *t) {
  lx->bad_bytes = 0;
  for (;;) {
    memset(t, 0, sizeof *t);
    if (lx->too_deep) {
      lx->tok = lx->cur;
      t->span = lex_span(lx, lx->cur, lx->cur);
      return t->kind = 0;
    }
    int k = lex_raw(lx, t);
    t->span = lex_span(lx, lx->tok, lx->cur);
    if (k == -1 || k == -2) {
      if (!newline_ends(lx))
        continue;
      if (k == -2)
        t->span.len = 0;
      k = TK_SEMI;
    } else if (k == -3) {
      continue;
    } else if (k == 0 && newline_ends(lx)) {
      k = TK_SEMI;   /* the last line needs no newline */
      t->span.len = 0;
    }
    lx->last = k;
    return t->kind = k;
  }
}
