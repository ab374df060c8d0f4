/* check.h — internals shared by the checker's files (type.c, builtins.c, scope.c, check*.c).
 *
 * lang.h holds the contract (Type, Dim, Node); this header adds what the checker needs
 * beyond it: the compile-time values carried by scalar and module types, the scope
 * chain, and the built-in op table. Nothing here is used outside lang/ except through
 * the accessors marked "for lowering".
 */
#ifndef NNC_CHECK_H
#define NNC_CHECK_H

#include "lang.h"

/* ---------------------------------------------------------------- types (type.c) */

/* Every Type the checker makes is a ChkType: the public Type first, then the
 * compile-time payload. Cast freely between Type * and ChkType *. */
typedef struct ChkType {
  Type t;
  /* TY_SCALAR: value. ints are Dims (possibly symbolic: `hidden`, `4*h`); float, bool
   * and str values are known only when `known` is set. */
  int known;
  Dim *ival;
  double fval;
  const char *sval;
  /* TY_MODULE: hyper-parameter values of this instance, in declaration order;
   * TY_FN: the module instance a member function is bound to (cell.step), or NULL;
   * TY_NAMESPACE: the imported file. */
  Type **hvals;
  int nh;
  Type *self;
  Node *file;
  int builtin;            /* TY_FN: index in the built-in table + 1, or 0 */
} ChkType;

#define CT(t) ((ChkType *)(t))

Type *type_error(void);                                  /* the one shared TY_ERROR */
Type *type_tensor(Lang *L, DType dt, int rank, Dim *const *dims);
Type *type_scalar_t(Lang *L, DType dt);                  /* rank-0 tensor */
Type *type_int(Lang *L, Dim *value);                     /* compile-time int; value may be NULL */
Type *type_float(Lang *L, int known, double v);
Type *type_bool(Lang *L, int known, int v);
Type *type_str(Lang *L, const char *s);                  /* s NULL: unknown */
Type *type_tuple(Lang *L, int n, Type *const *elems);
Type *type_new(Lang *L, TypeKind k);
Type *type_object(Lang *L, const char *objkind);
int type_equal(const Type *a, const Type *b);            /* same kind, dtype, shape / elems */
int type_is_err(const Type *t);                          /* NULL or TY_ERROR (or contains one) */
const char *dtype_name(DType dt);
/* numpy broadcasting of two shapes; returns 0 and leaves *out unset on a mismatch. */
int type_broadcast(Lang *L, const Type *a, const Type *b, Type **out);
/* matmul shape rule; on mismatch returns 0 and prints the reason into why[n]. */
int type_matmul(Lang *L, const Type *a, const Type *b, Type **out, char *why, size_t n);
/* Replaces the symbols names[i] by vals[i] in every dim of t (simultaneously). */
Type *type_subst(Lang *L, Type *t, int n, const char *const *names, Dim *const *vals);
/* Prints into a rotating static buffer: for messages only. */
const char *type_str_of(const Type *t);
const char *dim_str(const Dim *d);

/* ---------------------------------------------------------------- dims (type.c) */

Dim *dim_floordiv(Lang *L, const Dim *a, const Dim *b); /* floor for constants; exact or opaque else */
Dim *dim_subst(Lang *L, const Dim *d, int n, const char *const *names, Dim *const *vals);
int dim_is_sym(const Dim *d, const char **name);
int dim_has_opaque(const Dim *d);                        /* contains a non-exact quotient */         /* a single plain symbol with coefficient 1 */
/* Calls f for each plain symbol of d (opaque quotients contribute their own symbols). */
void dim_each_sym(const Dim *d, void (*f)(void *, const char *), void *ctx);
/* Solves `d == target` for the single unknown symbol `x` when d is linear in x and the
 * solution is exact (4*h == 32 gives h = 8); returns the value or NULL. */
Dim *dim_solve(Lang *L, const Dim *d, const char *x, const Dim *target);

/* ---------------------------------------------------------------- scopes (scope.c) */

typedef enum {
  SYM_BUILTIN, SYM_FN, SYM_MODULE, SYM_IMPORT, SYM_CONST, SYM_HPARAM, SYM_PARAM,
  SYM_BUFFER, SYM_FIELD, SYM_ARG, SYM_LET, SYM_VAR, SYM_DIM, SYM_LOOP, SYM_EXTERN,
} SymKind;

struct Sym {
  const char *name;
  SymKind kind;
  Type *type;
  Node *decl;             /* the declaring node (for notes), NULL for built-ins */
  int used;
  int state;              /* checker progress for fns and consts: 0 new, 1 busy, 2 done */
  Sym *next;              /* in its scope */
  /* functions: the generic signature found by checking the body once */
  Type **argt;            /* argument types, symbolic in hparams and generic dims */
  int nargs;
  Type *ret;              /* result type (declared or inferred) */
  const char **gen;       /* generic names (dims and compile-time scalar args) */
  int ngen;
  /* modules: the members' scope (hparams symbolic), built once */
  struct Scope *members;
  Type *self;             /* the generic instance: hparams as symbols */
  Node *module;           /* for members: the module declaring them */
  struct Scope *home;     /* fns: the scope the function was declared in */
};

typedef struct Scope {
  struct Scope *up;
  Sym *syms;
  int warn_unused;        /* report unused args/lets when the scope closes */
} Scope;

Scope *scope_push(Lang *L, Scope *up, int warn_unused);
Sym *scope_find_local(Scope *s, const char *name);
Sym *scope_lookup(Scope *s, const char *name);
Sym *scope_add(Lang *L, Scope *s, const char *name, SymKind k, Type *t, Node *decl);
/* Warns about unused args/lets of s (names starting with `_` exempt). */
void scope_pop_warn(Lang *L, Scope *s);

/* ---------------------------------------------------------------- built-ins (builtins.c) */

typedef struct Chk Chk;

/* One bound argument of a built-in call: the expression (NULL when defaulted) and its
 * type (the default's type when defaulted). `rest` collects a variadic tail (d...). */
typedef struct BiArg {
  Node *expr;
  Type *type;
} BiArg;

typedef struct BiCall {
  Node *call;
  const struct Builtin *op;
  BiArg a[8];
  int nrest;
  BiArg rest[NNC_MAX_RANK + 1];
} BiCall;

typedef Type *(*BiRule)(Chk *C, BiCall *bc);

typedef struct BiParam {
  const char *name;
  const char *deflt;      /* default's spelling, NULL when required; "..." marks variadic */
} BiParam;

typedef struct Builtin {
  const char *name;
  const char *sig;        /* "x, axis=None, keepdims=false" as written in builtins.def */
  BiRule rule;
  BiParam params[8];
  int nparams;
  int variadic;           /* index of the `d...` parameter, or -1 */
} Builtin;

const Builtin *bi_find(const char *name);
int bi_count(void);
const Builtin *bi_at(int i);
/* Checks a call of a built-in: binds positional and keyword arguments (errors name the
 * op and its signature), then applies the shape rule. args are already typed. */
Type *bi_check_call(Chk *C, const Builtin *op, Node *call);

/* ---------------------------------------------------------------- checker (check*.c) */

struct Chk {
  Lang *L;
  Scope *builtins;
  Scope *scope;           /* innermost */
  Node *fn;               /* the function being checked, or NULL */
  Type *fn_ret;           /* its declared return type, or NULL */
  Node *fn_ret_node;
  Type *ret_seen;         /* the first returned type (inferred result) */
  Type *self;             /* the module instance whose members are in scope */
  int dim_ctx;            /* evaluating a written type: int / int is a dimension */
  int generic;            /* unknown names in dims become generic dims */
  const char *gen[32];    /* generic names collected for the function being set up */
  int ngen;
  int in_param;           /* evaluating a param/buffer shape: no free dims */
  int in_train;           /* inside a train block: `step`, `epoch`, `batch` known */
  const char *bfield[4];  /* batch fields and their types (train blocks) */
  Type *btype[4];
  int nbfield;
};

Type *chk_expr(Chk *C, Node *e);
/* Elementwise arithmetic / comparison typing of a op b (broadcasting, weak literals). */
Type *chk_elementwise(Chk *C, Node *at, Node *an, Type *a, Node *bn, Type *b, const char *opname);
/* The compile-time int value of e (type TY_SCALAR int), or NULL after an error naming
 * `what` ("axis", "for bound"). */
Dim *chk_const_int(Chk *C, Node *e, const char *what);
Type *chk_type_of_ann(Chk *C, Node *ann, int generic);   /* a written type -> Type */
Type *chk_call(Chk *C, Node *call);
Type *chk_scan(Chk *C, Node *scan);
Type *chk_index(Chk *C, Node *ix);
Type *chk_fn_call(Chk *C, Node *call, Node *fn, Type *self, Node *const *args, int nargs,
                  Type *const *argt);
void chk_block(Chk *C, Node *block);
void chk_train(Chk *C, Node *train);
Type *chk_fn_result(Chk *C, Node *fn, Type *self);        /* checks fn if needed */
/* Checks a lambda's body with its arguments bound to args (scan steps). */
Type *chk_lambda_apply(Chk *C, Node *at, Node *fn, Type *const *args, int n);
/* Declares name in s; reports duplicates (with a note) and shadowed built-ins. */
Sym *chk_declare(Chk *C, Scope *s, Node *decl, const char *name, SymKind k, Type *t);
/* Does every path through this block end in `return`? */
int chk_block_returns(Node *block);
Scope *chk_module_scope(Chk *C, Type *inst);
/* The type of member y of a module instance, its hyper-parameters substituted. */
Type *chk_member_of(Chk *C, Type *inst, Sym *y);
/* The instance's hyper-parameter names and int values (for substitution); returns n. */
int chk_inst_map(Chk *C, Type *inst, const char **names, Dim **vals, int max);
void chk_bind_pattern(Chk *C, Node *pat, Type *t, SymKind k, Node *stmt);
int chk_edit_distance(const char *a, const char *b);
/* Instantiates module `mod` with the (already typed) arguments of `call`. */
Type *chk_module_instance(Chk *C, Node *call, Node *mod);

#endif
