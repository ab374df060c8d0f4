/* test_lex.c — the lexer: every token kind, literal values, the newline rule, comments,
 * and every lexical error with its message and column. */
#include <criterion/criterion.h>
#include <string.h>

#include "lang.h"
#include "parse.h"

enum { MAXTOK = 256 };

typedef struct Lexed {
  Lang *L;
  SrcFile *f;
  Token toks[MAXTOK];
  int n;
} Lexed;

/* Lexes src up to the end of input (kind 0, not stored). */
static Lexed *lex_all(const char *src) {
  static Lexed lx;
  memset(&lx, 0, sizeof lx);
  lx.L = lang_new(NULL);
  cr_assert_not_null(lx.L);
  lx.f = src_from_string(lx.L, "t.nn", src, strlen(src));
  cr_assert_not_null(lx.f);
  Lexer lexer;
  lex_init(&lexer, lx.L, lx.f);
  Token t;
  while (lex_next(&lexer, &t) != 0 && lx.n < MAXTOK)
    lx.toks[lx.n++] = t;
  lex_done(&lexer);
  return &lx;
}

static void expect_kinds(const char *src, const int *kinds, int n) {
  Lexed *lx = lex_all(src);
  cr_expect_eq(lx->n, n, "%s: %d tokens, expected %d", src, lx->n, n);
  for (int i = 0; i < n && i < lx->n; i++)
    cr_expect_eq(lx->toks[i].kind, kinds[i], "%s: token %d is %s, expected %s", src, i,
                 tok_name(lx->toks[i].kind), tok_name(kinds[i]));
  cr_expect_eq(diag_error_count(lx->L), 0, "%s: unexpected errors", src);
  lang_free(lx->L);
}

#define KINDS(src, ...)                                                      \
  do {                                                                       \
    static const int k_[] = {__VA_ARGS__};                                   \
    expect_kinds(src, k_, (int)(sizeof k_ / sizeof k_[0]));                  \
  } while (0)

/* The first diagnostic: its message and 1-based line:col. */
static void expect_error(const char *src, const char *msg, int line, int col) {
  Lexed *lx = lex_all(src);
  const Diag *d = diag_first(lx->L);
  cr_assert_not_null(d, "%s: no diagnostic", src);
  cr_expect_str_eq(d->msg, msg);
  int l, c;
  src_linecol(lx->f, d->span.off, &l, &c);
  cr_expect_eq(l, line, "%s: line %d, expected %d", msg, l, line);
  cr_expect_eq(c, col, "%s: col %d, expected %d", msg, c, col);
  lang_free(lx->L);
}

Test(lex, punctuation) {
  KINDS("( ) [ ] { } , ; : . .. ... = == != < <= > >= + - * / % ** @ ? ->",
        TK_LPAREN, TK_RPAREN, TK_LBRACKET, TK_RBRACKET, TK_LBRACE, TK_RBRACE, TK_COMMA,
        TK_SEMI, TK_COLON, TK_DOT, TK_DOTDOT, TK_ELLIPSIS, TK_ASSIGN, TK_EQ, TK_NE, TK_LT,
        TK_LE, TK_GT, TK_GE, TK_PLUS, TK_MINUS, TK_STAR, TK_SLASH, TK_PERCENT, TK_POW, TK_AT,
        TK_QUESTION, TK_ARROW);
}

Test(lex, keywords) {
  KINDS("import as module model fn param buffer let var return for in if else scan reverse "
        "over along from train extern grad const true false training None and or not x",
        TK_IMPORT, TK_AS, TK_MODULE, TK_MODEL, TK_FN, TK_PARAM, TK_BUFFER, TK_LET, TK_VAR,
        TK_RETURN, TK_FOR, TK_IN, TK_IF, TK_ELSE, TK_SCAN, TK_REVERSE, TK_OVER, TK_ALONG,
        TK_FROM, TK_TRAIN, TK_EXTERN, TK_GRAD, TK_CONST, TK_TRUE, TK_FALSE, TK_TRAINING,
        TK_NONE, TK_AND, TK_OR, TK_NOT, TK_IDENT, TK_SEMI);
}

Test(lex, type_names) {
  Lexed *lx = lex_all("f32 f64 i32 i64 bool bit int float str f16 _ _x x9;");
  static const int want[] = {DT_F32, DT_F64, DT_I32, DT_I64, DT_BOOL, DT_BIT};
  cr_assert_eq(lx->n, 14);
  for (int i = 0; i < 6; i++) {
    cr_expect_eq(lx->toks[i].kind, TK_DTYPE);
    cr_expect_eq(lx->toks[i].ival, want[i]);
  }
  cr_expect_eq(lx->toks[6].ival, ST_INT);
  cr_expect_eq(lx->toks[7].ival, ST_FLOAT);
  cr_expect_eq(lx->toks[8].ival, ST_STR);
  for (int i = 9; i < 13; i++)
    cr_expect_eq(lx->toks[i].kind, TK_IDENT, "token %d", i);
  cr_expect_str_eq(lx->toks[9].str, "f16");
  cr_expect_eq(lx->toks[10].str, lang_intern(lx->L, "_", 1), "identifiers are interned");
  lang_free(lx->L);
}

Test(lex, integers_and_floats) {
  Lexed *lx = lex_all("0 42 0x2a 0XfF 9223372036854775807 1.5 1e-3 .5 2.5E+2 0..n");
  static const int64_t ints[] = {0, 42, 42, 255, INT64_MAX};
  for (int i = 0; i < 5; i++) {
    cr_expect_eq(lx->toks[i].kind, TK_INT);
    cr_expect_eq(lx->toks[i].ival, ints[i], "int %d", i);
  }
  static const double floats[] = {1.5, 1e-3, 0.5, 250.0};
  for (int i = 0; i < 4; i++) {
    cr_expect_eq(lx->toks[5 + i].kind, TK_FLOAT);
    cr_expect_float_eq(lx->toks[5 + i].fval, floats[i], 1e-12);
  }
  cr_expect_eq(lx->toks[9].kind, TK_INT, "0..n is a range, not 0. .n");
  cr_expect_eq(lx->toks[10].kind, TK_DOTDOT);
  cr_expect_eq(diag_error_count(lx->L), 0);
  lang_free(lx->L);
}

Test(lex, sizes) {
  Lexed *lx = lex_all("64KB 64MB 1GB 2TB 64KiB 64MiB 1GiB 1TiB;");
  static const int64_t want[] = {64000, 64000000, 1000000000, 2000000000000LL, 65536,
                                 67108864, 1073741824, 1099511627776LL};
  cr_assert_eq(lx->n, 9);
  for (int i = 0; i < 8; i++) {
    cr_expect_eq(lx->toks[i].kind, TK_SIZE);
    cr_expect_eq(lx->toks[i].ival, want[i], "size %d", i);
  }
  lang_free(lx->L);
}

Test(lex, strings_and_escapes) {
  Lexed *lx = lex_all("\"a\\tb\\n\\\\\\\"\\x41\" \"caf\xc3\xa9\" \"\";");
  cr_assert_eq(lx->n, 4);
  cr_expect_str_eq(lx->toks[0].str, "a\tb\n\\\"A");
  cr_expect_str_eq(lx->toks[1].str, "caf\xc3\xa9");
  cr_expect_str_eq(lx->toks[2].str, "");
  cr_expect_eq(diag_error_count(lx->L), 0);
  lang_free(lx->L);
}

Test(lex, comments) {
  KINDS("a # line comment\nb /* block /* nested */ still */ c",
        TK_IDENT, TK_SEMI, TK_IDENT, TK_IDENT, TK_SEMI);
  KINDS("# caf\xc3\xa9 in a comment is fine\nx", TK_IDENT, TK_SEMI);
}

/* The Go rule: a newline ends a statement after an identifier, literal, ')', ']', '}',
 * return, true, false, training, None, '...' or a type name, outside ( ) and [ ]. */
Test(lex, newline_rule) {
  KINDS("x\ny", TK_IDENT, TK_SEMI, TK_IDENT, TK_SEMI);
  KINDS("x +\ny", TK_IDENT, TK_PLUS, TK_IDENT, TK_SEMI);
  KINDS("f(x,\ny\n)", TK_IDENT, TK_LPAREN, TK_IDENT, TK_COMMA, TK_IDENT, TK_RPAREN, TK_SEMI);
  KINDS("[x\n]", TK_LBRACKET, TK_IDENT, TK_RBRACKET, TK_SEMI);
  KINDS("{x\n}", TK_LBRACE, TK_IDENT, TK_SEMI, TK_RBRACE, TK_SEMI);
  KINDS("f(fn() {x\n})", TK_IDENT, TK_LPAREN, TK_FN, TK_LPAREN, TK_RPAREN, TK_LBRACE,
        TK_IDENT, TK_SEMI, TK_RBRACE, TK_RPAREN, TK_SEMI);
  KINDS("return\n1\n", TK_RETURN, TK_SEMI, TK_INT, TK_SEMI);
  KINDS("true\nfalse\ntraining\nNone\n...\nf32\nint\n\"s\"\n1.5\n4KB\n",
        TK_TRUE, TK_SEMI, TK_FALSE, TK_SEMI, TK_TRAINING, TK_SEMI, TK_NONE, TK_SEMI,
        TK_ELLIPSIS, TK_SEMI, TK_DTYPE, TK_SEMI, TK_SCALARTY, TK_SEMI, TK_STRING, TK_SEMI,
        TK_FLOAT, TK_SEMI, TK_SIZE, TK_SEMI);
  KINDS("let\nx =\n1", TK_LET, TK_IDENT, TK_ASSIGN, TK_INT, TK_SEMI);
  KINDS("x /* two\nlines */ y", TK_IDENT, TK_SEMI, TK_IDENT, TK_SEMI);
  KINDS("x /* one line */ y", TK_IDENT, TK_IDENT, TK_SEMI);
  KINDS("x\n\n\n", TK_IDENT, TK_SEMI);
  KINDS("x", TK_IDENT, TK_SEMI);   /* the last line needs no newline */
  Lexed *lx = lex_all("  # nothing\n");
  cr_expect_eq(lx->n, 0, "an empty file has no tokens");
  lang_free(lx->L);
}

Test(lex, inserted_semicolons_are_marked) {
  Lexed *lx = lex_all("x;\ny\n");
  cr_assert_eq(lx->n, 4);
  cr_expect(!lex_inserted_semi(lx->f, &lx->toks[1]), "a written ';'");
  cr_expect(lex_inserted_semi(lx->f, &lx->toks[3]), "a newline");
  lang_free(lx->L);
}

Test(lex, spans) {
  Lexed *lx = lex_all("let  abc = 0x10\n");
  cr_assert_geq(lx->n, 4);
  cr_expect_eq(lx->toks[1].span.off, 5);
  cr_expect_eq(lx->toks[1].span.len, 3);
  cr_expect_eq(lx->toks[3].span.off, 11);
  cr_expect_eq(lx->toks[3].span.len, 4);
  lang_free(lx->L);
}

Test(lex, token_names) {
  cr_expect_str_eq(tok_name(TK_IDENT), "identifier");
  cr_expect_str_eq(tok_name(TK_PLUS), "'+'");
  cr_expect_str_eq(tok_name(TK_SCAN), "'scan'");
  cr_expect_str_eq(tok_name(0), "end of file");
  for (int k = 1; k <= TK_END; k++)
    cr_expect_str_neq(tok_name(k), "token", "kind %d has no name", k);
}

Test(lex, errors) {
  expect_error("x = \"abc\ny", "unterminated string", 1, 5);
  expect_error("x\n/* a /* b */ c", "unterminated block comment", 2, 1);
  expect_error("a $ b", "unexpected character '$'", 1, 3);
  expect_error("a \x01", "unexpected byte 0x01", 1, 3);
  expect_error("ab\xff", "invalid UTF-8 byte 0xff", 1, 3);
  expect_error("\"ab\xe2\x82\"", "invalid UTF-8 byte 0xe2", 1, 4);       /* truncated */
  expect_error("# \xc0\xaf", "invalid UTF-8 byte 0xc0", 1, 3);           /* overlong */
  expect_error("\"\xe0\x80\xaf\"", "invalid UTF-8 byte 0xe0", 1, 2);     /* overlong, 3 bytes */
  expect_error("\"\xed\xa0\x80\"", "invalid UTF-8 byte 0xed", 1, 2);     /* surrogate */
  expect_error("\"\xf4\x90\x80\x80\"", "invalid UTF-8 byte 0xf4", 1, 2); /* > U+10FFFF */
  expect_error("/* \x80 */", "invalid UTF-8 byte 0x80", 1, 4);           /* lone continuation */
  expect_error("x = \xc3\xa9", "unexpected character U+00E9 '\xc3\xa9' (non-ASCII characters "
               "are allowed only in strings and comments)", 1, 5);
  expect_error("1e", "invalid number '1e': exponent has no digits", 1, 1);
  expect_error("x 1.5e+", "invalid number '1.5e+': exponent has no digits", 1, 3);
  expect_error("0x", "invalid number '0x': no hex digits after '0x'", 1, 1);
  expect_error("12abc", "invalid number '12abc'", 1, 1);
  expect_error("99999999999999999999", "integer literal '99999999999999999999' is too large", 1, 1);
  expect_error("99999999999TiB", "size '99999999999TiB' is too large", 1, 1);
  expect_error("\"a\\qb\"", "invalid escape sequence '\\q' in string", 1, 3);
  expect_error("\"\\x00\"", "'\\x00' is not allowed in a string", 1, 2);
}

Test(lex, bad_bytes_are_skipped) {
  Lexed *lx = lex_all("a \xff\xfe $ b");
  cr_expect_eq(lx->n, 3, "a b and the final ';'");
  cr_expect_eq(diag_error_count(lx->L), 3);
  lang_free(lx->L);
}

Test(lex, nesting_limit) {
  char src[600];
  memset(src, '(', 300);
  src[300] = '\0';
  Lexed *lx = lex_all(src);
  cr_expect_eq(lx->n, LEX_MAX_NESTING);
  cr_assert_eq(diag_error_count(lx->L), 1);
  cr_expect_str_eq(diag_first(lx->L)->msg, "expression nested too deeply (limit 256)");
  lang_free(lx->L);
}

Test(lex, dump_tokens) {
  Lang *L = lang_new(NULL);
  SrcFile *f = src_from_string(L, "t.nn", "let x = 1\n", 10);
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  lang_dump_tokens(L, f, out);
  fclose(out);
  cr_expect_str_eq(buf, "1:1 'let' 'let'\n1:5 identifier 'x'\n1:7 '=' '='\n1:9 integer '1'\n"
                        "1:10 ';' '\\n'\n2:1 end of file ''\n");
  free(buf);
  lang_free(L);
}
