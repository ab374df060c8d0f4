/* irgen_int.h — internals shared by irgen.c (values, environments, statements, modules),
 * irgen_expr.c (expressions, scan), irgen_ops.c (built-in ops) and irgen_train.c. */
#ifndef NNC_IRGEN_INT_H
#define NNC_IRGEN_INT_H

#include "irgen.h"

typedef enum {
  VK_NONE, VK_TENSOR, VK_TUPLE, VK_INT, VK_FLOAT, VK_BOOL, VK_STR, VK_DTYPE,
  VK_INST,     /* a module instance */
  VK_LIST,     /* a list of values (module instances) */
  VK_MODULE,   /* a module declaration, not yet instantiated */
  VK_FN,       /* a function (top-level, member, or lambda) */
  VK_BUILTIN,  /* a built-in op */
  VK_EXTERN,   /* a host C function */
  VK_NS,       /* an imported file */
  VK_OBJ,      /* a record: batch */
} VKind;

typedef struct Val Val;
typedef struct Env Env;
typedef struct Inst Inst;

struct Val {
  VKind k;
  IrVal v;            /* VK_TENSOR: value in graph g */
  IrGraph *g;
  int64_t i;          /* VK_INT, VK_BOOL */
  double f;           /* VK_FLOAT */
  const char *s;      /* VK_STR, VK_BUILTIN (name) */
  IrDType dt;         /* VK_DTYPE */
  Val **el;           /* VK_TUPLE, VK_LIST */
  int n;
  Node *fn;           /* VK_FN, VK_MODULE, VK_EXTERN: declaration */
  Env *env;           /* VK_FN, VK_MODULE: defining environment */
  Inst *inst;         /* VK_INST; VK_FN: bound instance */
  Node *file;         /* VK_NS */
  const char **fnames;/* VK_OBJ: field names */
};

typedef struct Binding {
  const char *name;   /* interned */
  Val *v;
  struct Binding *next;
} Binding;

struct Env {
  Env *up;
  Binding *b;
};

struct Inst {
  Node *decl;
  Env *env;           /* hyper-parameters and members */
  const char *prefix; /* "l1." */
};

typedef struct Capture {
  IrGraph *g;         /* graph owning the captured value */
  IrVal outer;        /* the value there */
  IrVal parent_val;   /* the same value in the parent tracer's graph */
  IrVal formal;       /* the body formal standing for it */
  int pos;            /* its formal position */
  struct Capture *next;
} Capture;

typedef struct FileEnv {
  Node *file;
  Env *env;
  struct FileEnv *next;
} FileEnv;

typedef struct Tr Tr;
struct Tr {
  Lang *L;
  IrGraph *g;         /* graph being built */
  Tr *outer;          /* enclosing tracer (scan bodies) */
  Tr *root;
  int training;
  int failed;
  int depth;
  Span at;            /* node being lowered (for errors) */
  const char *prefix; /* path for the next module instantiation */
  FileEnv *files;
  Capture *caps;      /* scan bodies: captured values */
  int ncaps;
  int nformals;
  int dim_ctx;        /* evaluating a written type: int / int stays an int */
  IrgProgram *prog;   /* root tracer: where node spans are recorded */
  Node *decl;         /* reading a train declaration: that declaration */
  const IrHostTab *hosts; /* root tracer: the registered host functions (NULL: none) */
};

extern Val irg_ret_none;
#define RET_NONE (&irg_ret_none)

Val *irg_val(Tr *t, VKind k);
Val *irg_tensor(Tr *t, IrVal x);
Val *irg_int(Tr *t, int64_t i);
Val *irg_float(Tr *t, double f);
Val *irg_tuple(Tr *t, int n, Val **el);
Val *irg_error(Tr *t, Span sp, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
Val *irg_fail_ir(Tr *t);
Env *irg_env(Tr *t, Env *up);
void irg_bind(Tr *t, Env *e, const char *name, Val *v);
Val *irg_lookup(Env *e, const char *name);
IrVal irg_use(Tr *t, Val *v);
IrVal irg_const_of(Tr *t, Val *v, IrDType dt);
int irg_is_num(const Val *v);
double irg_num(const Val *v);
IrDType irg_dtype(int dt);  /* DType -> IrDType */
int irg_shape_of_type(Tr *t, Env *e, Node *ty, IrDType *dt, IrShape *s);
Val *irg_instantiate(Tr *t, Node *mod, Env *home, const char *prefix, Val **pos, int npos,
                     Node **kw, Val **kwv, int nkw);
Node *irg_member_fn(Inst *in, const char *name);
Val *irg_call_fn(Tr *t, Node *fn, Env *home, Val **args, int nargs, Node **kw, Val **kwv,
                 int nkw, Span at);
Val *irg_exec_block(Tr *t, Env *up, Node *b);
/* Binds the symbolic dims of written type ty (names not bound yet) from actual's shape. */
void irg_bind_dims(Tr *t, Env *e, Node *ty, Val *actual);
Env *irg_file_env(Tr *t, Node *file);
Node *irg_find_grad(Tr *t, Node *fn);

/* irgen_expr.c */
Val *irg_eval(Tr *t, Env *e, Node *n);
IrVal irg_matmul(Tr *t, IrVal a, IrVal b);
Val *irg_comprehension(Tr *t, Env *e, Node *n, const char *path);
Val *irg_call_value(Tr *t, Val *f, Val **args, int nargs, Node **kw, Val **kwv, int nkw,
                    Node *call);

/* irgen_ops.c: a built-in op applied to evaluated arguments. */
Val *irg_builtin(Tr *t, const char *name, Val **args, int nargs, Node **kw, Val **kwv,
                 int nkw, Node *call);
int irg_has_builtin(const char *name);

#endif
