/* parse.y — the .nn grammar (Lemon). docs/language.md §2 is the same grammar in EBNF.
 *
 * The lexer (lex.re) is driven by frontend.c, which pushes tokens in here one at a time.
 * Actions are one line calling an ast_ constructor (ast.c). Nodes live in the Lang's
 * arena, so no symbol owns memory and no %destructor is needed. Lists are separated by
 * ';' (or a newline, turned into ';' by the lexer) and may start and end with any number
 * of separators. Each list has an `error` alternative: on a syntax error the parser pops
 * back to the innermost list and frontend.c skips to the next separator (see there).
 * Comparisons do not chain: `a < b < c` parses, but reports an error (ast_chained).
 */

%name NncParse
%start_symbol file
%token_prefix TK_
%token_type {Token}
%default_type {Node *}
%extra_argument {ParseState *ps}
%stack_size 4000

%include {
#include <assert.h>
#include <string.h>
#include "lang.h"

static const Token no_token = {0, {-1, 0, 0}, 0, 0, NULL};
}

%syntax_error {
  int expected[256], n = 0;
  int state = yypParser->yytos->stateno;
  for (int t = 1; state <= YY_MAX_SHIFT && t < YYNTOKEN && n < 256; t++)
    if (yy_find_shift_action((YYCODETYPE)t, (YYACTIONTYPE)state) != YY_ERROR_ACTION)
      expected[n++] = t;
  parse_syntax_error(ps, yymajor, &TOKEN, expected, n);
}

%stack_overflow { parse_stack_overflow(ps); }

%code {
/* Lets the next syntax error be reported (Lemon mutes errors for three tokens). */
void NncParseResetErrors(void *parser) {
  ((yyParser *)parser)->yyerrcnt = -1;
}

/* Is the parser recovering (the error symbol on top of its stack)? */
int NncParseInError(void *parser) {
  yyParser *p = parser;
  return p->yytos > p->yystack && p->yytos->major == YYERRORSYMBOL;
}
}

%token SEMI COMMA LPAREN RPAREN LBRACKET RBRACKET LBRACE RBRACE COLON DOT DOTDOT ELLIPSIS
       ASSIGN EQ NE LT LE GT GE PLUS MINUS STAR SLASH PERCENT POW AT QUESTION ARROW
       IDENT INT FLOAT SIZE STRING DTYPE SCALARTY
       IMPORT AS MODULE MODEL FN PARAM BUFFER LET VAR RETURN FOR IN IF ELSE SCAN REVERSE
       OVER ALONG FROM TRAIN EXTERN GRAD CONST TRUE FALSE TRAINING NONE AND OR NOT
       END.

%type modkw {Token}
%type cmpop {Token}
%type addop {Token}
%type mulop {Token}
%type dotted {Token}
%type as_opt {Token}
%type rev_opt {int}

/* ---------------------------------------------------------------- separators */

seps0 ::= .
seps0 ::= seps1.
seps1 ::= SEMI.
seps1 ::= seps1 SEMI.

/* ---------------------------------------------------------------- file, declarations */

/* file = { sep } { decl sep { sep } }. The driver ends the input with END, so that no
 * list state has a default reduction: an error is then detected with the list on the
 * stack (the same reason every list below is written inside its brackets). */
file ::= seps0 END.
file ::= seps0 decl_items(B) END.                     { ast_splice(ps->L, ps->root, B); }
file ::= seps0 decl_items(B) seps1 END.               { ast_splice(ps->L, ps->root, B); }
decl_items(A) ::= decl(B).                            { A = ast_list(ps->L, N_FILE, B); }
decl_items(A) ::= decl_items(Q) seps1 decl(B).        { A = ast_add(ps->L, Q, B); }
decl_items(A) ::= decl_items(Q) error.                { A = Q; }   /* a missing separator: keep the list */

decl(A) ::= import(B).                                { A = B; }
decl(A) ::= module(B).                                { A = B; }
decl(A) ::= fn(B).                                    { A = B; }
decl(A) ::= extern(B).                                { A = B; }
decl(A) ::= grad(B).                                  { A = B; }
decl(A) ::= const(B).                                 { A = B; }
decl(A) ::= train(B).                                 { A = B; }
decl(A) ::= error.                                    { A = NULL; }

/* import = "import" ( dotted | STRING ) [ "as" IDENT ] */
import(A) ::= IMPORT(K) dotted(D) as_opt(S).          { A = ast_import(ps->L, K.span, &D, 0, &S); }
import(A) ::= IMPORT(K) STRING(P) as_opt(S).          { A = ast_import(ps->L, K.span, &P, 1, &S); }
dotted(A) ::= IDENT(N).                               { A = N; }
dotted(A) ::= dotted(D) DOT IDENT(N).                 { A = ast_dotted(ps->L, &D, &N); }
as_opt(A) ::= .                                       { A = no_token; }
as_opt(A) ::= AS IDENT(N).                            { A = N; }

/* module = ( "module" | "model" ) IDENT [ "(" hparams ")" ] "{" members "}" */
module(A) ::= modkw(K) IDENT(N) hparams_opt(H) member_block(M). { A = ast_module(ps->L, &K, &N, H, M, M ? M->span : N.span); }
modkw(A) ::= MODULE(K).                               { A = K; }
modkw(A) ::= MODEL(K).                                { A = K; }
hparams_opt(A) ::= .                                  { A = NULL; }
hparams_opt(A) ::= LPAREN RPAREN.                     { A = NULL; }
hparams_opt(A) ::= LPAREN hparam_list(H) RPAREN.     { A = H; }
hparams_opt(A) ::= LPAREN hparam_list(H) COMMA RPAREN. { A = H; }
hparam_list(A) ::= hparam(B).                         { A = ast_list(ps->L, N_TUPLE, B); }
hparam_list(A) ::= hparam_list(Q) COMMA hparam(B).    { A = ast_add(ps->L, Q, B); }
hparam(A) ::= IDENT(N) type_opt(T) default_opt(D).    { A = ast_named(ps->L, N_HPARAM, N.span, &N, 2, T, D); }
type_opt(A) ::= .                                     { A = NULL; }
type_opt(A) ::= COLON type(T).                        { A = T; }
default_opt(A) ::= .                                  { A = NULL; }
default_opt(A) ::= ASSIGN expr(E).                    { A = E; }

member_block(A) ::= LBRACE(Q) seps0 RBRACE(R).        { A = ast_enclose(ps->L, NULL, N_TUPLE, Q.span, R.span); }
member_block(A) ::= LBRACE(Q) seps0 member_items(B) RBRACE(R). { A = ast_enclose(ps->L, B, N_TUPLE, Q.span, R.span); }
member_block(A) ::= LBRACE(Q) seps0 member_items(B) seps1 RBRACE(R). { A = ast_enclose(ps->L, B, N_TUPLE, Q.span, R.span); }
member_items(A) ::= member(B).                        { A = ast_list(ps->L, N_TUPLE, B); }
member_items(A) ::= member_items(Q) seps1 member(B).  { A = ast_add(ps->L, Q, B); }
member_items(A) ::= member_items(Q) error.            { A = Q; }   /* a missing separator: keep the list */

member(A) ::= PARAM(K) IDENT(N) COLON type(T) default_opt(D).  { A = ast_named(ps->L, N_PARAM, K.span, &N, 2, T, D); }
member(A) ::= BUFFER(K) IDENT(N) COLON type(T) default_opt(D). { A = ast_named(ps->L, N_BUFFER, K.span, &N, 2, T, D); }
member(A) ::= IDENT(N) ASSIGN expr(E).                { A = ast_named(ps->L, N_FIELD, N.span, &N, 1, E); }
member(A) ::= fn(B).                                  { A = B; }
member(A) ::= const(B).                               { A = B; }
member(A) ::= grad(B).                                { A = B; }
member(A) ::= error.                                  { A = NULL; }

/* fn = "fn" IDENT "(" args ")" [ "->" type ] ( block | "=" expr ) */
fn(A) ::= FN(K) IDENT(N) params(P) ret_opt(R) fnbody(B). { A = ast_fn(ps->L, K.span, &N, P, R, B); }
extern(A) ::= EXTERN(K) FN IDENT(N) params(P) ret_opt(R). { A = ast_extern(ps->L, K.span, &N, P, R); }
grad(A) ::= GRAD(K) IDENT(N) params(P) fnbody(B).     { A = ast_grad(ps->L, K.span, &N, P, B); }
const(A) ::= CONST(K) IDENT(N) type_opt(T) ASSIGN expr(E). { A = ast_named(ps->L, N_CONST, K.span, &N, 2, T, E); }

params(A) ::= LPAREN RPAREN.                          { A = NULL; }
params(A) ::= LPAREN arg_list(Q) RPAREN.              { A = Q; }
params(A) ::= LPAREN arg_list(Q) COMMA RPAREN.        { A = Q; }
arg_list(A) ::= arg(B).                               { A = ast_list(ps->L, N_TUPLE, B); }
arg_list(A) ::= arg_list(Q) COMMA arg(B).             { A = ast_add(ps->L, Q, B); }
arg(A) ::= IDENT(N) type_opt(T) default_opt(D).       { A = ast_named(ps->L, N_ARG, N.span, &N, 2, T, D); }
ret_opt(A) ::= .                                      { A = NULL; }
ret_opt(A) ::= ARROW type(T).                         { A = T; }
fnbody(A) ::= block(B).                               { A = B; }
fnbody(A) ::= ASSIGN expr(E).                         { A = E; }

/* train = "train" IDENT "{" { titem } "}" ; titem = [ IDENT ] IDENT "=" expr */
train(A) ::= TRAIN(K) IDENT(N) titem_block(I).       { A = ast_train(ps->L, K.span, &N, I, I ? I->span : N.span); }
titem_block(A) ::= LBRACE(Q) seps0 RBRACE(R).         { A = ast_enclose(ps->L, NULL, N_TUPLE, Q.span, R.span); }
titem_block(A) ::= LBRACE(Q) seps0 titem_items(B) RBRACE(R). { A = ast_enclose(ps->L, B, N_TUPLE, Q.span, R.span); }
titem_block(A) ::= LBRACE(Q) seps0 titem_items(B) seps1 RBRACE(R). { A = ast_enclose(ps->L, B, N_TUPLE, Q.span, R.span); }
titem_items(A) ::= titem(B).                          { A = ast_list(ps->L, N_TUPLE, B); }
titem_items(A) ::= titem_items(Q) seps1 titem(B).     { A = ast_add(ps->L, Q, B); }
titem_items(A) ::= titem_items(Q) error.              { A = Q; }   /* a missing separator: keep the list */
titem(A) ::= IDENT(N) ASSIGN expr(E).                 { A = ast_titem(ps->L, NULL, &N, E); }
titem(A) ::= IDENT(K) IDENT(N) ASSIGN expr(E).        { A = ast_titem(ps->L, &K, &N, E); }
titem(A) ::= error.                                   { A = NULL; }

/* ---------------------------------------------------------------- types */

/* type = dtype [ "[" dims "]" ] | "(" type { "," type } ")" | "int" | "float" | "str" */
type(A) ::= DTYPE(D).                                 { A = ast_ttensor(ps->L, &D, NULL, D.span); }
type(A) ::= DTYPE(D) LBRACKET RBRACKET(R).            { A = ast_ttensor(ps->L, &D, ast_list(ps->L, N_TUPLE, NULL), R.span); }
type(A) ::= DTYPE(D) LBRACKET expr_list(X) RBRACKET(R). { A = ast_ttensor(ps->L, &D, X, R.span); }
type(A) ::= DTYPE(D) LBRACKET expr_list(X) COMMA RBRACKET(R). { A = ast_ttensor(ps->L, &D, X, R.span); }
type(A) ::= LPAREN type(T) RPAREN.                    { A = T; }
type(A) ::= LPAREN(Q) type(T) COMMA type_list(X) RPAREN(R). { A = ast_enclose(ps->L, ast_splice(ps->L, ast_list(ps->L, N_TTUPLE, T), X), N_TTUPLE, Q.span, R.span); }
type(A) ::= SCALARTY(S).                              { A = ast_tok(ps->L, N_TSCALAR, &S); }
type_list(A) ::= type(T).                             { A = ast_list(ps->L, N_TTUPLE, T); }
type_list(A) ::= type_list(Q) COMMA type(T).          { A = ast_add(ps->L, Q, T); }

/* ---------------------------------------------------------------- statements */

/* block = "{" { sep } { stmt sep { sep } } "}" */
block(A) ::= LBRACE(Q) seps0 RBRACE(R).               { A = ast_enclose(ps->L, NULL, N_BLOCK, Q.span, R.span); }
block(A) ::= LBRACE(Q) seps0 stmt_items(S) RBRACE(R). { A = ast_enclose(ps->L, S, N_BLOCK, Q.span, R.span); }
block(A) ::= LBRACE(Q) seps0 stmt_items(S) seps1 RBRACE(R). { A = ast_enclose(ps->L, S, N_BLOCK, Q.span, R.span); }
stmt_items(A) ::= stmt(B).                            { A = ast_list(ps->L, N_BLOCK, B); }
stmt_items(A) ::= stmt_items(Q) seps1 stmt(B).        { A = ast_add(ps->L, Q, B); }
stmt_items(A) ::= stmt_items(Q) error.                { A = Q; }   /* a missing separator: keep the list */

stmt(A) ::= LET(K) pattern(P) type_opt(T) ASSIGN expr(E). { A = ast_make(ps->L, N_LET, K.span, 3, P, T, E); }
stmt(A) ::= VAR(K) IDENT(N) type_opt(T) ASSIGN expr(E).   { A = ast_named(ps->L, N_VAR, K.span, &N, 2, T, E); }
stmt(A) ::= IDENT(N) ASSIGN expr(E).                  { A = ast_named(ps->L, N_ASSIGN, N.span, &N, 1, E); }
stmt(A) ::= RETURN(K).                                { A = ast_make(ps->L, N_RETURN, K.span, 1, NULL); }
stmt(A) ::= RETURN(K) expr(E).                        { A = ast_make(ps->L, N_RETURN, K.span, 1, E); }
stmt(A) ::= FOR(K) IDENT(N) IN expr(Q) DOTDOT expr(H) block(B). { A = ast_named(ps->L, N_FOR, K.span, &N, 3, Q, H, B); }
stmt(A) ::= ifstmt(B).                                { A = B; }
stmt(A) ::= expr(E).                                  { A = ast_make(ps->L, N_EXPRSTMT, E->span, 1, E); }
stmt(A) ::= error.                                    { A = NULL; }

ifstmt(A) ::= IF(K) expr(C) block(T).                 { A = ast_make(ps->L, N_IF, K.span, 3, C, T, NULL); }
ifstmt(A) ::= IF(K) expr(C) block(T) ELSE block(E).   { A = ast_make(ps->L, N_IF, K.span, 3, C, T, E); }
ifstmt(A) ::= IF(K) expr(C) block(T) ELSE ifstmt(E).  { A = ast_make(ps->L, N_IF, K.span, 3, C, T, E); }

/* pattern = IDENT | "_" | "(" pattern { "," pattern } ")" */
pattern(A) ::= IDENT(N).                              { A = ast_pname(ps->L, &N); }
pattern(A) ::= LPAREN(Q) pattern_list(P) RPAREN(R).  { A = ast_enclose(ps->L, P, N_PTUPLE, Q.span, R.span); }
pattern_list(A) ::= pattern(P).                       { A = ast_list(ps->L, N_PTUPLE, P); }
pattern_list(A) ::= pattern_list(Q) COMMA pattern(P). { A = ast_add(ps->L, Q, P); }

/* ---------------------------------------------------------------- expressions */

/* expr = or [ "?" expr ":" expr ] | scan */
expr(A) ::= or(B).                                    { A = B; }
expr(A) ::= or(C) QUESTION expr(T) COLON expr(E).     { A = ast_make(ps->L, N_COND, C->span, 3, C, T, E); }
expr(A) ::= SCAN(K) rev_opt(V) postfix(S) over_opt(O) ALONG postfix(D) FROM postfix(I). { A = ast_scan(ps->L, K.span, V, S, O, D, I); }
rev_opt(A) ::= .                                      { A = 0; }
rev_opt(A) ::= REVERSE.                               { A = 1; }
over_opt(A) ::= .                                     { A = NULL; }
over_opt(A) ::= OVER postfix(X).                      { A = X; }

or(A) ::= and(B).                                     { A = B; }
or(A) ::= or(Q) OR(O) and(R).                         { A = ast_binary(ps->L, &O, Q, R); }
and(A) ::= not(B).                                    { A = B; }
and(A) ::= and(Q) AND(O) not(R).                      { A = ast_binary(ps->L, &O, Q, R); }
not(A) ::= NOT(O) not(E).                             { A = ast_unary(ps->L, &O, E); }
not(A) ::= cmp(B).                                    { A = B; }

/* cmp = sum [ cmpop sum ]: a second comparison parses but is reported (no chains) */
cmp(A) ::= sum(B).                                    { A = B; }
cmp(A) ::= cmpchain(B).                               { A = B; }
cmpchain(A) ::= sum(Q) cmpop(O) sum(R).               { A = ast_binary(ps->L, &O, Q, R); }
cmpchain(A) ::= cmpchain(Q) cmpop(O) sum(R).          { A = ast_chained(ps->L, &O, Q, R); }
cmpop(A) ::= EQ(O).                                   { A = O; }
cmpop(A) ::= NE(O).                                   { A = O; }
cmpop(A) ::= LT(O).                                   { A = O; }
cmpop(A) ::= LE(O).                                   { A = O; }
cmpop(A) ::= GT(O).                                   { A = O; }
cmpop(A) ::= GE(O).                                   { A = O; }

sum(A) ::= prod(B).                                   { A = B; }
sum(A) ::= sum(Q) addop(O) prod(R).                   { A = ast_binary(ps->L, &O, Q, R); }
addop(A) ::= PLUS(O).                                 { A = O; }
addop(A) ::= MINUS(O).                                { A = O; }
prod(A) ::= unary(B).                                 { A = B; }
prod(A) ::= prod(Q) mulop(O) unary(R).                { A = ast_binary(ps->L, &O, Q, R); }
mulop(A) ::= STAR(O).                                 { A = O; }
mulop(A) ::= SLASH(O).                                { A = O; }
mulop(A) ::= PERCENT(O).                              { A = O; }
mulop(A) ::= AT(O).                                   { A = O; }

/* unary = ( "-" | "+" ) unary | power ; power = postfix [ "**" unary ] */
unary(A) ::= MINUS(O) unary(E).                       { A = ast_unary(ps->L, &O, E); }
unary(A) ::= PLUS(O) unary(E).                        { A = ast_unary(ps->L, &O, E); }
unary(A) ::= power(B).                                { A = B; }
power(A) ::= postfix(B).                              { A = B; }
power(A) ::= postfix(Q) POW(O) unary(R).              { A = ast_binary(ps->L, &O, Q, R); }

/* postfix = primary { "(" args ")" | "[" subs "]" | "." IDENT } */
postfix(A) ::= primary(B).                            { A = B; }
postfix(A) ::= postfix(F) LPAREN RPAREN(R).           { A = ast_call(ps->L, F, NULL, R.span); }
postfix(A) ::= postfix(F) LPAREN call_arg_list(X) RPAREN(R). { A = ast_call(ps->L, F, X, R.span); }
postfix(A) ::= postfix(F) LPAREN call_arg_list(X) COMMA RPAREN(R). { A = ast_call(ps->L, F, X, R.span); }
postfix(A) ::= postfix(O) LBRACKET sub_list(S) RBRACKET(R). { A = ast_index(ps->L, O, S, R.span); }
postfix(A) ::= postfix(O) DOT IDENT(N).               { A = ast_member(ps->L, O, &N); }

call_arg_list(A) ::= call_arg(B).                     { A = ast_list(ps->L, N_TUPLE, B); }
call_arg_list(A) ::= call_arg_list(Q) COMMA call_arg(B). { A = ast_add(ps->L, Q, B); }
call_arg(A) ::= expr(E).                              { A = E; }
call_arg(A) ::= IDENT(N) ASSIGN expr(E).              { A = ast_named(ps->L, N_KWARG, N.span, &N, 1, E); }

/* sub = expr | [ expr ] ":" [ expr ] [ ":" [ expr ] ] | "..." */
sub_list(A) ::= sub(B).                               { A = ast_list(ps->L, N_TUPLE, B); }
sub_list(A) ::= sub_list(Q) COMMA sub(B).             { A = ast_add(ps->L, Q, B); }
sub(A) ::= expr(E).                                   { A = E; }
sub(A) ::= ELLIPSIS(E).                               { A = ast_tok(ps->L, N_ELLIPSIS, &E); }
sub(A) ::= expr_opt(Q) COLON(C) expr_opt(H).          { A = ast_make(ps->L, N_SLICE, C.span, 3, Q, H, NULL); }
sub(A) ::= expr_opt(Q) COLON(C) expr_opt(H) COLON expr_opt(S). { A = ast_make(ps->L, N_SLICE, C.span, 3, Q, H, S); }
expr_opt(A) ::= .                                     { A = NULL; }
expr_opt(A) ::= expr(E).                              { A = E; }

expr_list(A) ::= expr(E).                             { A = ast_list(ps->L, N_TUPLE, E); }
expr_list(A) ::= expr_list(Q) COMMA expr(E).          { A = ast_add(ps->L, Q, E); }

primary(A) ::= INT(T).                                { A = ast_tok(ps->L, N_INT, &T); }
primary(A) ::= FLOAT(T).                              { A = ast_tok(ps->L, N_FLOAT, &T); }
primary(A) ::= SIZE(T).                               { A = ast_tok(ps->L, N_SIZE, &T); }
primary(A) ::= STRING(T).                             { A = ast_tok(ps->L, N_STRING, &T); }
primary(A) ::= TRUE(T).                               { A = ast_tok(ps->L, N_BOOL, &T); }
primary(A) ::= FALSE(T).                              { A = ast_tok(ps->L, N_BOOL, &T); }
primary(A) ::= TRAINING(T).                           { A = ast_tok(ps->L, N_TRAINING, &T); }
primary(A) ::= NONE(T).                               { A = ast_tok(ps->L, N_NONE, &T); }
primary(A) ::= DTYPE(T).                              { A = ast_tok(ps->L, N_DTYPE, &T); }
primary(A) ::= IDENT(T).                              { A = ast_tok(ps->L, N_NAME, &T); }
primary(A) ::= LPAREN expr(E) RPAREN.                 { A = E; }
primary(A) ::= LPAREN(Q) RPAREN(R).                   { A = ast_enclose(ps->L, NULL, N_TUPLE, Q.span, R.span); }
primary(A) ::= LPAREN(Q) expr(E) COMMA RPAREN(R).     { A = ast_enclose(ps->L, ast_list(ps->L, N_TUPLE, E), N_TUPLE, Q.span, R.span); }
primary(A) ::= LPAREN(Q) expr(E) COMMA expr_list(X) RPAREN(R). { A = ast_enclose(ps->L, ast_splice(ps->L, ast_list(ps->L, N_TUPLE, E), X), N_TUPLE, Q.span, R.span); }
primary(A) ::= LPAREN(Q) expr(E) COMMA expr_list(X) COMMA RPAREN(R). { A = ast_enclose(ps->L, ast_splice(ps->L, ast_list(ps->L, N_TUPLE, E), X), N_TUPLE, Q.span, R.span); }
primary(A) ::= LBRACKET(Q) RBRACKET(R).               { A = ast_enclose(ps->L, NULL, N_LIST, Q.span, R.span); }
primary(A) ::= LBRACKET(Q) expr_list(X) RBRACKET(R). { A = ast_enclose(ps->L, X, N_LIST, Q.span, R.span); }
primary(A) ::= LBRACKET(Q) expr_list(X) COMMA RBRACKET(R). { A = ast_enclose(ps->L, X, N_LIST, Q.span, R.span); }
primary(A) ::= LBRACKET(Q) expr(E) FOR IDENT(N) IN expr(Lo) DOTDOT expr(Hi) RBRACKET(R). { A = ast_comprehension(ps->L, Q.span, E, &N, Lo, Hi, R.span); }
primary(A) ::= FN(K) params(P) block(B). { A = ast_lambda(ps->L, K.span, P, B); }
