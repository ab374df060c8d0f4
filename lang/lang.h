/* lang.h — the one internal header of the .nn front end (lexer, parser, AST, checker).
 *
 * Pipeline: src_load -> lex (re2c, lex.re) pushes tokens into the Lemon parser (parse.y)
 * -> AST (ast.c) -> imports resolved (import.c) -> names, types and symbolic shapes
 * checked (check.c, type.c, builtins.def). Every stage reports through one DiagSink:
 * diagnostics are collected, never fatal, and rendered like clang's.
 *
 * Memory: a Lang (one per compilation) owns every file, token string, node and type it
 * made, in arenas freed by lang_free. Nothing here prints, exits or aborts on bad input.
 */
#ifndef NNC_LANG_H
#define NNC_LANG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct Lang Lang;
typedef struct Node Node;
typedef struct Type Type;
typedef struct Dim Dim;
typedef struct Sym Sym;

/* ---------------------------------------------------------------- memory (arena.c) */

typedef struct Arena Arena;
Arena *arena_new(void);
void arena_free(Arena *a);
void *arena_alloc(Arena *a, size_t n);                  /* zeroed; NULL when out of memory */
char *arena_strndup(Arena *a, const char *s, size_t n);
int arena_failed(const Arena *a);                       /* how many allocations returned NULL */
const char *lang_intern(Lang *L, const char *s, size_t n); /* equal strings -> equal pointers */

/* ---------------------------------------------------------------- sources (source.c) */

typedef struct SrcFile {
  int id;                 /* index in Lang.files */
  const char *path;       /* as given, used in messages */
  char *text;             /* NUL-terminated copy (the lexer's sentinel) */
  size_t len;             /* bytes, excluding the NUL */
  uint32_t *line_starts;  /* byte offset of each line start */
  int nlines;
} SrcFile;

/* A half-open byte range [off, off+len) in one file. */
typedef struct Span {
  int file;
  uint32_t off, len;
} Span;

SrcFile *src_load(Lang *L, const char *path);          /* NULL + diagnostic on I/O error */
SrcFile *src_from_string(Lang *L, const char *name, const char *text, size_t len);
SrcFile *src_get(Lang *L, int file);
void src_linecol(const SrcFile *f, uint32_t off, int *line, int *col); /* 1-based; col in bytes */
Span span_join(Span a, Span b);                          /* smallest span covering both */

/* ---------------------------------------------------------------- diagnostics (diag.c) */

typedef enum { DIAG_ERROR, DIAG_WARNING, DIAG_NOTE } DiagLevel;

typedef struct Diag {
  DiagLevel level;
  Span span;
  char *msg;
  struct Diag *notes;     /* attached notes, in order */
  struct Diag *next;
} Diag;

/* Errors are counted; after `max_errors` (default 50) further errors are dropped and one
 * "too many errors" line is rendered. Warnings can be turned into errors (-Werror). */
Diag *diag_error(Lang *L, Span sp, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
Diag *diag_warning(Lang *L, Span sp, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void diag_note(Lang *L, Diag *d, Span sp, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int diag_error_count(const Lang *L);
const Diag *diag_first(const Lang *L);
/* Renders every diagnostic clang-style:
 *   file:line:col: error: message
 *    12 |   let y = x @ W
 *       |           ~~^~~
 *   file:line:col: note: declared as f32[B, 256] here
 * A span of several bytes gets a caret at its start and tildes over the rest (clamped to
 * the first line; tabs kept so columns line up). color: 0 plain, 1 ANSI. */
void diag_render(const Lang *L, FILE *out, int color);
/* Renders only the diagnostics reported since its previous call (e.g. the checker's
 * warnings before a training run, then the run's own errors). */
void diag_render_new(Lang *L, FILE *out, int color);

/* ---------------------------------------------------------------- tokens (lex.re) */

/* Token kinds are the Lemon terminals TK_* from the generated parse.h; 0 is end of input. */
typedef struct Token {
  int kind;
  Span span;
  int64_t ival;           /* TK_INT, TK_SIZE (bytes) */
  double fval;            /* TK_FLOAT */
  const char *str;        /* TK_IDENT (interned name), TK_STRING (unescaped, interned) */
} Token;

const char *tok_name(int kind);   /* "identifier", "'+'", "'scan'", ... for messages and dumps */

/* ---------------------------------------------------------------- AST (ast.c) */

typedef enum {
#define X(k, name, kids) k,
#include "ast.def"
#undef X
  N__COUNT
} NodeKind;

/* Tensor element types. DT_BIT is packed, 64 per word (binarized networks). */
typedef enum { DT_NONE, DT_F32, DT_F64, DT_I32, DT_I64, DT_BOOL, DT_BIT } DType;
/* Hyper-parameter (compile-time scalar) types. */
typedef enum { ST_INT = 1, ST_FLOAT, ST_BOOL, ST_STR } ScalarType;

struct Node {
  NodeKind kind;
  Span span;
  int op;                 /* operator token, DType, ScalarType or a small count, per ast.def */
  const char *name;       /* interned identifier or NULL */
  const char *str;        /* string payload or NULL */
  int64_t ival;
  double fval;
  Node **kids;
  int nkids;
  /* filled by the checker */
  Type *type;
  Sym *sym;
  /* filled by the parser: height of this subtree (1 for a leaf). The parser reports
   * trees higher than AST_MAX_DEPTH, so walkers may recurse without a guard. */
  int depth;
};

#define AST_MAX_DEPTH 2000

Node *ast_new(Lang *L, NodeKind k, Span sp);            /* NULL when out of memory */
Node *ast_push(Lang *L, Node *parent, Node *kid);       /* appends kid (may be NULL); returns parent */
const char *ast_kind_name(NodeKind k);
/* Stable text dump, one node per line, indented two spaces per level:
 *   (call :3:9
 *     (name logits)
 *     (kwarg axis (int 1)))
 * Used by --dump=ast and the golden tests. */
void ast_dump(const Lang *L, const Node *n, FILE *out);

/* ---------------------------------------------------------------- types and shapes (type.c) */

/* A symbolic dimension: an integer polynomial over named symbols (B, T, hidden), kept in a
 * canonical form so that equal dimensions compare equal: 4*hidden == hidden*4,
 * (h+1)*2 == 2*h+2. Division is exact-only (h/2 stays a symbol-like term when not). */
Dim *dim_const(Lang *L, int64_t v);
Dim *dim_sym(Lang *L, const char *name);
Dim *dim_add(Lang *L, const Dim *a, const Dim *b);
Dim *dim_sub(Lang *L, const Dim *a, const Dim *b);
Dim *dim_mul(Lang *L, const Dim *a, const Dim *b);
Dim *dim_div(Lang *L, const Dim *a, const Dim *b);
int dim_equal(const Dim *a, const Dim *b);
int dim_is_const(const Dim *d, int64_t *value);
int dim_print(const Dim *d, char *buf, size_t n);       /* "4*hidden", "B", "T + 1" */

typedef enum {
  TY_ERROR,       /* already reported: suppresses cascades */
  TY_TENSOR,      /* dtype + shape (rank 0 = scalar tensor) */
  TY_TUPLE,
  TY_SCALAR,      /* compile-time int/float/bool/str (hyper-parameters, loop indices) */
  TY_MODULE,      /* an instance of a module */
  TY_LIST,        /* a list of module instances (layer stacks) */
  TY_FN,          /* a function value */
  TY_NAMESPACE,   /* an imported file */
  TY_DTYPE,
  TY_OBJECT,      /* run-time objects of the training declaration: data sources, optimizers */
} TypeKind;

#define NNC_MAX_RANK 8

struct Type {
  TypeKind kind;
  DType dtype;            /* TY_TENSOR */
  int rank;
  Dim *dims[NNC_MAX_RANK];
  ScalarType scalar;      /* TY_SCALAR */
  Type **elems;           /* TY_TUPLE, TY_LIST */
  int nelems;
  Node *decl;             /* TY_MODULE, TY_FN: the declaring node */
  const char *objkind;    /* TY_OBJECT: "data", "optimizer", ... */
};

/* Prints a type the way users read it: f32[B, T, 128], (f32[B, H], f32[B, H]), int. */
int type_print(const Type *t, char *buf, size_t n);

/* ---------------------------------------------------------------- the compilation (lang.c) */

typedef struct LangOptions {
  const char **import_paths;  /* searched after the importing file's directory; NULL-terminated */
  int warnings_as_errors;
  int max_errors;             /* 0 = default (50) */
} LangOptions;

Lang *lang_new(const LangOptions *opt);  /* NULL only when out of memory */
void lang_free(Lang *L);
/* How many allocations of this compilation failed so far (0: none). After a failure its
 * trees, types, names and diagnostics may be incomplete: a caller that sees the count grow
 * during a call reports "out of memory" rather than that call's results. */
int lang_out_of_memory(const Lang *L);

/* Parses one file (and, through its imports, the files it imports). Returns the N_FILE
 * node, or NULL when the file could not be read; syntax errors leave a partial tree and
 * diagnostics. */
Node *lang_parse_file(Lang *L, const char *path);
Node *lang_parse_string(Lang *L, const char *name, const char *text, size_t len);
/* Names, types and shapes of everything reachable from `file`. Returns the error count. */
int lang_check(Lang *L, Node *file);

/* Dumps for --dump=tokens|ast|types (stable text, for people and golden tests). */
int lang_dump_tokens(Lang *L, SrcFile *f, FILE *out);
void lang_dump_types(Lang *L, Node *file, FILE *out);


/* ================================================================ front end internals
 * (section owned by "parse": lexer, parser driver, imports, the Lang struct) */

/* Zeroed memory living until lang_free; NULL when out of memory. */
void *lang_alloc(Lang *L, size_t n);
Arena *lang_arena(Lang *L);
const LangOptions *lang_options(const Lang *L);

/* Parses one source without resolving its imports (golden tests, the REPL). Returns the
 * N_FILE node (never NULL unless out of memory); errors are left as diagnostics. */
Node *lang_parse_source(Lang *L, SrcFile *f);
/* The N_FILE of the file an N_IMPORT resolved to, or NULL when it did not resolve. */
Node *lang_import_file(Lang *L, const Node *import);
/* Every file parsed so far, in load order (the root first). */
int lang_file_count(const Lang *L);
Node *lang_file_ast(Lang *L, int file);

/* The compilation. Fields are private to lang/ (parse's files and check's). */
struct Lang {
  Arena *arena;
  LangOptions opt;
  SrcFile **files;        /* malloc'd; index = SrcFile.id */
  Node **asts;            /* N_FILE per file, NULL until parsed */
  const char **keys;      /* canonical path per file (parse-once), or NULL */
  int *state;             /* per file: 0 loaded, 1 parsing (cycle check), 2 done */
  int nfiles, capfiles;
  const char **itab;      /* intern table, open addressing */
  size_t icap, icount;
  Diag *dhead, *dtail;
  Diag *drendered;        /* the last diagnostic diag_render_new printed */
  int dropped_shown;
  int nerrors, nwarnings, ndropped;
  const Node **imp_nodes; /* import node -> file index */
  int *imp_files;
  int nimp, capimp;
  void *check;            /* owned by check.c */
  int oom;                /* failed mallocs besides the arena's (see lang_out_of_memory) */
};

/* The lexer (lex.re). Tokens are produced one at a time; newlines become TK_SEMI by the
 * Go rule (see docs/language.md §1). Errors become diagnostics; bad bytes are skipped. */
typedef struct Lexer {
  Lang *L;
  SrcFile *f;
  const unsigned char *cur, *tok, *end;
  int last;               /* kind of the previous token (0 at the start) */
  char *brackets;         /* stack of open '(' '[' '{' (malloc'd) */
  char *bctx;             /* per '{': 'm' module, 't' train, 's' statements */
  uint32_t *bpos;         /* per bracket: byte offset of the opener */
  int depth, cap;
  int pending_ctx;        /* context for the next '{' */
  int too_deep;           /* nesting limit hit: the driver stops */
  int bad_bytes;          /* bytes before this token were reported and skipped */
} Lexer;

#define LEX_MAX_NESTING 256

void lex_init(Lexer *lx, Lang *L, SrcFile *f);
void lex_done(Lexer *lx);
int lex_next(Lexer *lx, Token *t);          /* returns t->kind; 0 at end of input */
char lex_context(const Lexer *lx);          /* innermost '{': 'm', 't', 's'; 'f' top level */
void lex_unwind_parens(Lexer *lx);          /* pops '(' '[' above the innermost '{' */
int lex_inserted_semi(const SrcFile *f, const Token *t); /* a ';' that stands for a newline */


/* The parser driver (frontend.c) and the Lemon parser (parse.y). */
typedef struct ParseState {
  Lang *L;
  SrcFile *f;
  Lexer *lx;
  Node *root;             /* the N_FILE being built */
  char ctx;               /* lex_context before the current token */
  int error;              /* set when the last token pushed raised a syntax error */
  int dead;               /* parser stack exhausted: stop */
} ParseState;

void *NncParseAlloc(void *(*mallocproc)(size_t));
void NncParse(void *parser, int kind, Token tok, ParseState *ps);
void NncParseFree(void *parser, void (*freeproc)(void *));
void NncParseResetErrors(void *parser);     /* report the next syntax error again */
int NncParseInError(void *parser);          /* recovering from a syntax error */

void parse_syntax_error(ParseState *ps, int kind, const Token *tok, const int *expected, int n);
void parse_stack_overflow(ParseState *ps);

/* AST constructors used by the grammar actions (ast.c). Kids may be NULL. A "list" is a
 * temporary node whose kids are spliced into their final parent. */
Node *ast_make(Lang *L, NodeKind k, Span sp, int n, ...);
Node *ast_named(Lang *L, NodeKind k, Span sp, const Token *name, int n, ...);
Node *ast_tok(Lang *L, NodeKind k, const Token *t);
Node *ast_list(Lang *L, NodeKind k, Node *first);
Node *ast_add(Lang *L, Node *list, Node *kid);
Node *ast_splice(Lang *L, Node *dst, Node *list);
Node *ast_enclose(Lang *L, Node *n, NodeKind k, Span open, Span close);
Node *ast_unary(Lang *L, const Token *op, Node *e);
Node *ast_binary(Lang *L, const Token *op, Node *a, Node *b);
Node *ast_chained(Lang *L, const Token *op, Node *a, Node *b);
Node *ast_module(Lang *L, const Token *kw, const Token *name, Node *hparams, Node *members,
                 Span close);
Node *ast_fn(Lang *L, Span kw, const Token *name, Node *args, Node *ret, Node *body);
Node *ast_extern(Lang *L, Span kw, const Token *name, Node *args, Node *ret);
Node *ast_grad(Lang *L, Span kw, const Token *name, Node *args, Node *body);
Node *ast_import(Lang *L, Span kw, const Token *path, int is_string, const Token *alias);
Token ast_dotted(Lang *L, const Token *a, const Token *b);
Node *ast_ttensor(Lang *L, const Token *dt, Node *dims, Span close);
Node *ast_pname(Lang *L, const Token *name);
Node *ast_call(Lang *L, Node *callee, Node *args, Span close);
Node *ast_index(Lang *L, Node *obj, Node *subs, Span close);
Node *ast_member(Lang *L, Node *obj, const Token *name);
Node *ast_scan(Lang *L, Span kw, int reverse, Node *step, Node *over, Node *along, Node *init);
Node *ast_titem(Lang *L, const Token *kind, const Token *name, Node *value);
Node *ast_train(Lang *L, Span kw, const Token *name, Node *items, Span close);
Node *ast_comprehension(Lang *L, Span open, Node *elem, const Token *var, Node *lo, Node *hi,
                        Span close);
Node *ast_lambda(Lang *L, Span kw, Node *args, Node *body);

#endif
