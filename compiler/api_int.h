/* api_int.h — internals of the public compiler API (nnc.h): tracing one model function
 * with given input types (irgen_fn.c), the compile cache (cache.c) and AOT headers
 * (aot_header.c). Owned by the API area; the lead's headers are only called. */
#ifndef NNC_API_INT_H
#define NNC_API_INT_H

#include "cg.h"
#include "irgen.h"
#include "nnc.h"

#define IRG_FN_MAX_IN 16

/* A function of a checked file: a member `fn` of a module ("Model.fn") or a top-level fn. */
typedef struct IrgFnRef {
  Node *module;   /* NULL for a top-level function */
  Node *fn;       /* the N_FN */
} IrgFnRef;

/* Finds "Model.fn" or "fn" in file. Returns 0, or -1 when there is no such function. */
int irg_find_fn(Node *file, const char *qualified, IrgFnRef *out);

/* Traces function `qualified` of `file` (the model instantiated with its default
 * hyper-parameters, parameters as leaves named "l1.W") applied to nin tensor inputs named
 * after the function's arguments, with dtypes dts and shapes. The function's results
 * (a tensor or a tuple of tensors) become the graph outputs in order. `extern fn` calls
 * find their functions in hosts (NULL: none). Returns 0, or -1
 * with a diagnostic in L (p->g freed). */
int irg_build_fn(Lang *L, Node *file, const char *qualified, int nin, const IrDType *dts,
                 const IrShape *shapes, int training, const IrHostTab *hosts, IrgProgram *p);

/* Traces only the instantiation of module `model` (no function called): its params. */
int irg_build_params(Lang *L, Node *file, const char *model, IrgProgram *p);

/* ------------------------------------------------------------------ cache.c */

/* A compiled kernel function loaded from an object (cached or fresh) into its own small
 * LLJIT; fn stays valid until cache_obj_free. */
typedef struct cache_obj cache_obj;

typedef struct cache_stats {
  int hit;              /* 1: the object came from the disk cache (no LLVM passes/codegen) */
  double compile_ms;    /* cg_build + optimise + emit (0 on a hit) */
  double load_ms;       /* linking the object in memory and looking up the entry */
  double cpu_ir_ms, cpu_opt_ms, cpu_emit_ms;   /* this thread's CPU time building LLVM IR,
                                                  in the default<On> pipeline, emitting */
  uint64_t key[2];
} cache_stats;

/* The cache directory: $NNC_CACHE_DIR, else $XDG_CACHE_HOME/nnc, else $HOME/.cache/nnc.
 * Returns 0, or -1 when none can be named. */
int cache_dir(char *buf, size_t cap);

/* Compiles f: looked up on disk first when use_cache (key: the printed kernel IR, the nnc
 * and LLVM versions, the host CPU and its features, the options), else built, optimised
 * at opt, emitted as an object and stored (write to a temp file, then rename). The object
 * is linked in memory and its entry looked up. A cache that cannot be read or written is
 * not an error (the function is compiled). Returns 0, or -1 with msg. */
int cache_compile(const kir_func *f, const cg_options *o, jit_opt_level opt, int use_cache,
                  cache_obj **obj, cg_entry *fn, cache_stats *st, char *msg, size_t cap);
void cache_obj_free(cache_obj *c);
/* Side files next to the objects (the BPTT plans of lower_scan.c), named by a key that
 * hashes the nnc version, `what` (the file's kind and format) and what cache_key_add adds:
 * every input that the stored result depends on. cache_side_get returns the file's bytes
 * (malloc'd, the caller frees) or NULL on a miss; cache_side_put is best effort (a write
 * that fails only costs a later miss). Thread-safe (temp file, then rename). */
void cache_key_init(uint64_t k[2], const char *what);
void cache_key_add(uint64_t k[2], const void *data, size_t n);
char *cache_side_get(const uint64_t k[2], const char *ext, size_t *len);
void cache_side_put(const uint64_t k[2], const char *ext, const void *buf, size_t len);

/* ------------------------------------------------------------------ api*.c */

#define API_MAX_DIAGS 64
#define API_MAX_HOST 32

/* A registered host function (nnc_register_fn) and its adapter for the IR (IrHostFn). */
typedef struct ApiHost {
  char name[64];
  nnc_host_fn fn;
  void *ud;
  nnc_fn_info sig;            /* names cleared */
  struct nnc_ctx *ctx;
} ApiHost;

typedef struct ApiDiag {
  nnc_diag d;
  char file[256];
  char text[512];
} ApiDiag;

struct nnc_ctx {
  nnrt_alloc_fn alloc;
  void *ud;
  nnrt_ctx *rt;
  nnrt_log_fn log;
  void *log_ud;
  nnrt_log_level log_min;
  int code;
  char msg[1024];
  int has_pos, line, col;
  char file[256];
  ApiDiag *diags;             /* [API_MAX_DIAGS] */
  int ndiags;
  ApiHost host[API_MAX_HOST];
  int nhost;
  IrHostFn hostfn[API_MAX_HOST];   /* host[i] as the IR calls it */
  IrHostTab hosts;                 /* {nhost, hostfn}: what tracing and running use */
};

typedef struct ApiParam {
  const char *name;           /* interned in the model's Lang */
  IrType t;
  int64_t n;
  float *w, *m, *v;           /* value; optimizer state */
  nnrt_tensor *view;
} ApiParam;

/* One compiled program: a traced graph lowered and linked, with its buffers. */
typedef struct ApiProg {
  char key[512];              /* function + input types */
  IrgProgram p;
  lower_plan plan;
  cache_obj *obj;
  cg_entry fn;
  void **slots;
  void *arena;
  void **outs;                /* [g->nouts] owned output buffers */
  uint64_t seed;              /* LOWER_SLOT_SEED */
  int64_t arena_bytes, out_bytes;
  int *grad_param;            /* train: output index -> ApiParam index, -1 */
  cg_host_table *host;        /* the host functions its code calls (NULL: none) */
  struct ApiProg *next;
} ApiProg;

struct nnc_model {
  nnc_ctx *ctx;
  Lang *L;
  Node *file;
  nnc_options opt;
  const char *model_name;     /* the model whose params these are, or NULL */
  ApiParam *p;
  int np;
  nnc_fn_info *fns;
  int nfns;
  ApiProg *progs;
  int has_train;
  IrgSettings s;
  int64_t step;
  ApiProg *last_train;        /* the program of the last step (metrics) */
  const Diag *seen;           /* last diagnostic of L already reported */
  int oom_seen;               /* lang_out_of_memory(L) when last looked at */
};

/* api.c */
/* After running q: NNC_OK, or NNC_EHOST with the message of a host function that failed. */
int api_host_status(nnc_model *m, ApiProg *q);
/* Checks the `extern fn` declarations of the file against the registered signatures. */
/* The ctx's host functions as tracing and running use them. */
const IrHostTab *api_hosts(nnc_ctx *c);
int api_check_externs(nnc_model *m);
int api_fail(nnc_ctx *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void api_log(nnc_ctx *c, nnrt_log_level lv, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Moves the new diagnostics of m->L into the ctx; returns NNC_ECOMPILE with the first error. */
int api_fail_diags(nnc_model *m, const char *what);
/* 1 when an allocation of m's front end or tracer failed since the last look: what they
 * made since may be incomplete and must not be used (they keep going on NULL). */
int api_lang_oom(nnc_model *m);
void *api_alloc(nnc_ctx *c, size_t n);     /* zeroed, 64-byte aligned; NULL when out of memory */
void api_free(nnc_ctx *c, void *p);
nnrt_dtype api_rt_dtype(IrDType t);
int api_ir_dtype(nnrt_dtype t, IrDType *out);

/* api_run.c: graph (outputs set) -> simplify, CSE, lower, compile (cache) -> *out. Takes p. */
int api_prog_build(nnc_model *m, const char *key, const char *sym, IrgProgram *p, ApiProg **out);
void api_prog_free(nnc_model *m, ApiProg *q);
ApiProg *api_prog_find(nnc_model *m, const char *key);
/* Points the leaf slots at params (by name) and inputs (by name, in_names[i] -> data[i]). */
int api_prog_bind(nnc_model *m, ApiProg *q, int nin, const char *const *in_names, void *const *data);
ApiParam *api_param_named(nnc_model *m, const char *name);
/* The entry symbol of a function: "FashionMLP.logits" -> "nnc_FashionMLP_logits". */
void api_symbol_of(const char *name, char *out, size_t cap);

/* aot_model.c: `nnc -c|-S|--emit-llvm FILE [-o PATH]`; returns the exit status. */
int aot_cli(const char *file, const char *out, int kind, int64_t batch, const char *const *import_paths);
void api_print_error(nnc_ctx *c, FILE *err);
/* The compiled program of fn for these inputs (traced and compiled on the first call). */
int api_get_prog(nnc_model *m, const char *fn, int nin, const nnrt_tensor *const *in, ApiProg **out);

/* repl_eval.c: a REPL session (definitions, variables) independent of the terminal. */
typedef struct repl_session repl_session;
repl_session *repl_new(const char *const *import_paths);
void repl_free(repl_session *s);
/* Is the input incomplete (open brackets, a trailing backslash)? */
int repl_needs_more(const char *text);
/* Handles one complete input, printing results and errors to out; 1 on :quit. */
int repl_input(repl_session *s, const char *text, FILE *out);
/* numpy-style: the type, then the values (summarized above 1000 elements). */
void repl_print_tensor(const nnrt_tensor *t, FILE *out);

/* repl.c (the nnc binary only): the REPL over in/out; a terminal gets libedit. */
int repl_main(const char *const *import_paths, FILE *in, FILE *out);

/* api_train.c */
int api_init_params(nnc_model *m);
/* The param of leaf v by name, created and initialized when new (a module instantiated
 * inside a function); NULL with the ctx's error on failure. */
ApiParam *api_param_ensure(nnc_model *m, IrGraph *g, IrVal v);
void api_free_params(nnc_model *m);

#endif
