/* nnc.h: the public C API of the nnc compiler. Compile .nn source at run time, list the
 * functions of a model, run them, train the model, save and load its weights. Tensors are
 * the runtime's (nnrt.h, usable without LLVM); this header adds the compiler.
 *
 * Conventions (Lua's and SQLite's habits):
 *  - Every fallible call returns an int status: NNC_OK (0) or a negative NNC_E* code (the
 *    NNRT_E* codes plus NNC_ECOMPILE and NNC_ESTATE). The last failure's message, and for a
 *    source error its position, stay in the context: nnc_errmsg, nnc_error_pos. A failing
 *    compile also leaves every diagnostic as a structured record (nnc_diag_get).
 *  - Nothing here exits, aborts or prints. Logging goes to the callback set with nnc_set_log
 *    (compile times at NNRT_LOG_INFO, errors at NNRT_LOG_ERROR); silent by default.
 *  - Handles are opaque, in create/free pairs; free functions accept NULL.
 *
 * Ownership:
 *   nnc_ctx_create        caller owns the ctx          -> nnc_ctx_free (after its models)
 *   nnc_compile_*         caller owns the model        -> nnc_model_free (before its ctx)
 *   nnc_tensor_create     caller owns the tensor       -> nnrt_tensor_free
 *   nnc_tensor_wrap       caller owns the tensor AND keeps owning the memory it wraps
 *   nnc_run out[i]==NULL  nnc_run creates it; caller owns it -> nnrt_tensor_free
 *   nnc_run out[i]!=NULL  written in place (dtype and shape must match)
 *   nnc_param             borrowed view of the model's weights, valid until nnc_model_free
 *   nnc_fn_info, strings  owned by the model, valid until nnc_model_free
 *   nnc_errmsg, diags     owned by the ctx, valid until the next failing call on it
 *
 * Threads: a ctx and the models made from it belong to one thread at a time (no locks
 * inside); distinct contexts may be used from distinct threads at once. Compiled code runs
 * its loops in parallel on the runtime's OpenMP pool (nnrt_set_threads is process-wide).
 *
 * Memory: the host allocator given to nnc_ctx_create serves the context, models, their
 * weights, compiled functions' arenas and every tensor made through the ctx. The front end,
 * the compiler's passes and LLVM use malloc while compiling; a failed allocation of nnc's
 * is NNC_ENOMEM (a few optional ones take a slower path instead) and leaves the ctx and
 * model usable (tests/api/test_allocsweep.c).
 * nnc_planned_memory says how many bytes one run of a function needs (its scratch arena
 * plus results) before anything is run.
 */
#ifndef NNC_H
#define NNC_H

#include <stddef.h>
#include <stdint.h>

#include "nnrt.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
  NNC_OK = 0,
  NNC_ENOMEM = NNRT_ENOMEM,       /* allocation failed */
  NNC_EINVAL = NNRT_EINVAL,       /* bad argument: NULL handle, bad count, unknown name */
  NNC_EIO = NNRT_EIO,             /* a file could not be read or written */
  NNC_EFORMAT = NNRT_EFORMAT,     /* a weights file or buffer is corrupt */
  NNC_ESHAPE = NNRT_ESHAPE,       /* a tensor's dtype or shape does not fit */
  NNC_ENOTFOUND = NNRT_ENOTFOUND, /* no such function, parameter or weight */
  NNC_ERANGE = NNRT_ERANGE,       /* index out of range */
  NNC_ECOMPILE = -20,             /* the source has errors (see the diagnostics) */
  NNC_EBACKEND = -21,             /* code generation or linking failed */
  NNC_ESTATE = -22,               /* the call does not apply (no train declaration, ...) */
  NNC_EHOST = -23,                /* a host function called by compiled code failed */
};

/* A short constant English name of a status ("compile error"). */
const char *nnc_strstatus(int status);
/* "0.1.0" */
const char *nnc_version(void);

/* ------------------------------------------------------------------ context */

typedef struct nnc_ctx nnc_ctx;
typedef struct nnc_model nnc_model;

/* A context using alloc/ud for its memory (NULL: malloc). NULL only when out of memory. */
nnc_ctx *nnc_ctx_create(nnrt_alloc_fn alloc, void *ud);
void nnc_ctx_free(nnc_ctx *ctx);
/* Messages at level >= min_level go to fn (NULL: silence). msg is valid during the call. */
void nnc_set_log(nnc_ctx *ctx, nnrt_log_fn fn, void *ud, nnrt_log_level min_level);
/* The runtime context behind ctx (for the nnrt_* tensor and data functions). Owned by ctx. */
nnrt_ctx *nnc_runtime(nnc_ctx *ctx);

/* The last failure: message ("" if none), status, and where in the source (returns 1 and
 * fills file/line/col, 1-based, when the failure has a position; else 0). */
const char *nnc_errmsg(const nnc_ctx *ctx);
int nnc_errcode(const nnc_ctx *ctx);
int nnc_error_pos(const nnc_ctx *ctx, const char **file, int *line, int *col);

typedef enum { NNC_DIAG_ERROR, NNC_DIAG_WARNING, NNC_DIAG_NOTE } nnc_severity;
typedef struct nnc_diag {
  const char *file;   /* as given ("<string>" name for a string source) */
  int line, column;   /* 1-based; 0 when the diagnostic has no position */
  nnc_severity severity;
  const char *text;
} nnc_diag;
/* Diagnostics of the last compile (errors, warnings and their notes, in order). */
int nnc_diag_count(const nnc_ctx *ctx);
int nnc_diag_get(const nnc_ctx *ctx, int i, nnc_diag *out);

/* A host C function callable from .nn code declared `extern fn name(...)`. Compiled code
 * (and the interpreter) call it with its arguments as nnrt tensors (read-only, valid
 * during the call) and its results preallocated, zeroed, of the declared types: write
 * their data; do not replace or free them. Returns 0, or a non-zero status that makes the
 * nnc_run / nnc_train_step calling it fail with NNC_EHOST (its message names the function
 * and the status). Not differentiable: a gradient reaching a call is a compile error at
 * the call site unless stop_gradient cuts it. Not callable from `nnc -c` objects. */
typedef int (*nnc_host_fn)(void *ud, int nin, const nnrt_tensor *const *in, int nout, nnrt_tensor **out);
/* Registers fn (with ud) as `extern fn name`, for models compiled from ctx afterwards and
 * functions traced afterwards. sig gives its signature: nargs and args[i].dtype, rank and
 * dims (-1: any size), nresults and results[i] likewise (names ignored; copied). A
 * declaration that disagrees (count, dtype, rank or a numeric dim) fails nnc_compile_* with
 * NNC_ESHAPE; a traced call whose sizes disagree fails with both types in the message.
 * Registering a name again replaces it. */
struct nnc_fn_info;
int nnc_register_fn(nnc_ctx *ctx, const char *name, const struct nnc_fn_info *sig, nnc_host_fn fn, void *ud);

/* ------------------------------------------------------------------ compiling */

typedef struct nnc_options {
  uint64_t seed;                    /* parameter initialization and random ops (0: 1) */
  int opt_level;                    /* 1..3: LLVM's default<On> pipeline (0: 2) */
  int no_cache;                     /* 1: do not read or write the compile cache */
  const char *const *import_paths;  /* NULL-terminated, searched after the file's directory */
  const char *model;                /* the model to train and initialize (NULL: the train
                                       declaration's, else the first `model`) */
} nnc_options;

/* Parses and checks source text (name is used in messages) or a file, and initializes the
 * model's parameters from their initializers. Functions are compiled on first use. On a
 * source error: NNC_ECOMPILE, diagnostics kept, *out NULL. opt may be NULL. */
int nnc_compile_string(nnc_ctx *ctx, const char *name, const char *src, size_t len, const nnc_options *opt,
                       nnc_model **out);
int nnc_compile_file(nnc_ctx *ctx, const char *path, const nnc_options *opt, nnc_model **out);
void nnc_model_free(nnc_model *m);

/* ------------------------------------------------------------------ functions */

#define NNC_MAX_ARGS 16
typedef struct nnc_arg {
  const char *name;          /* argument name ("x"); results: "result0", ... */
  nnrt_dtype dtype;
  int rank;
  int64_t dims[NNRT_MAX_RANK];       /* -1 where symbolic */
  const char *dim_names[NNRT_MAX_RANK]; /* "B" where symbolic, NULL when a number */
} nnc_arg;
typedef struct nnc_fn_info {
  const char *name;          /* "FashionMLP.logits" or a top-level "f" */
  int nargs, nresults;       /* nresults: -1 when the result type is not written */
  nnc_arg args[NNC_MAX_ARGS], results[NNC_MAX_ARGS];
} nnc_fn_info;

int nnc_fn_count(const nnc_model *m);
int nnc_fn_info_get(const nnc_model *m, int i, nnc_fn_info *out);

/* Runs function fn on nin tensors (shapes bind the symbolic dims). Compiled on the first
 * call for each distinct input shape (then cached in m and on disk). Results: out[i] NULL
 * gets a new tensor; out[i] non-NULL is written in place. */
int nnc_run(nnc_model *m, const char *fn, int nin, const nnrt_tensor *const *in, int nout, nnrt_tensor **out);
/* Bytes one run of fn on inputs of these shapes needs beyond its inputs and weights: the
 * planned scratch arena plus the results (compiles fn if needed). */
int nnc_planned_memory(nnc_model *m, const char *fn, int nin, const nnrt_tensor *const *in, int64_t *bytes);

/* ------------------------------------------------------------------ training */

/* One optimizer step of the model's train declaration on one batch (x, y: the batch.x and
 * batch.y of the declaration; the batch size is x's first dim; y may be NULL when the loss
 * does not use it). *loss (may be NULL) gets the batch loss before the step. */
int nnc_train_step(nnc_model *m, const nnrt_tensor *x, const nnrt_tensor *y, double *loss);
/* Steps taken so far. */
int64_t nnc_train_steps(const nnc_model *m);
/* The declaration's metrics (`metric accuracy = ...`) on the batch of the last step:
 * how many, and the name and value of metric i. */
int nnc_train_metric_count(const nnc_model *m);
int nnc_train_metric(nnc_model *m, int i, const char **name, double *value);

/* ------------------------------------------------------------------ weights */

int nnc_param_count(const nnc_model *m);
/* Name ("l1.W") and a borrowed f32 view of parameter i (writes through change the model). */
int nnc_param(nnc_model *m, int i, const char **name, nnrt_tensor **view);
/* safetensors; loading reads every parameter by name (missing ones: NNC_ENOTFOUND). */
int nnc_weights_save(nnc_model *m, const char *path);
int nnc_weights_load(nnc_model *m, const char *path);
int nnc_weights_load_memory(nnc_model *m, const void *buf, size_t size);

/* ------------------------------------------------------------------ ahead of time */

typedef enum { NNC_EMIT_OBJ, NNC_EMIT_ASM, NNC_EMIT_LLVM } nnc_emit_kind;
/* Compiles every function of the model whose arguments are tensors, symbolic dims bound to
 * batch, into one ELF object (or assembly, or LLVM IR) at out that links with libnnrt
 * only; header (may be NULL) gets typed entry points and buffer sizes. */
int nnc_emit(nnc_model *m, nnc_emit_kind kind, const char *out, const char *header, int64_t batch);

/* ------------------------------------------------------------------ tensors */

/* Convenience over nnrt (errors recorded in ctx): a zeroed tensor; a tensor over caller
 * memory without copying; copy n bytes in or out (n must equal the tensor's size). */
int nnc_tensor_create(nnc_ctx *ctx, nnrt_dtype dt, int rank, const int64_t *dims, nnrt_tensor **out);
int nnc_tensor_wrap(nnc_ctx *ctx, nnrt_dtype dt, int rank, const int64_t *dims, void *data, nnrt_tensor **out);
int nnc_tensor_fill(nnc_ctx *ctx, nnrt_tensor *t, const void *src, size_t n);
int nnc_tensor_read(nnc_ctx *ctx, const nnrt_tensor *t, void *dst, size_t n);

#ifdef __cplusplus
}
#endif
#endif
