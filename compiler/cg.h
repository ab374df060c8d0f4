/* cg.h — internal interface of nnc's back end: the ORC JIT wrapper (jit_), kernel IR to
 * LLVM code generation (cg_), graph IR to kernel IR lowering (lower_) and AOT output (aot_).
 * The kernel IR itself is declared in kir.h.
 *
 * Conventions: every function returning int returns 0 on success and -1 on failure; the
 * message is then kept in the jit handle (jit_errmsg) and nothing was printed. No function
 * here exits or aborts on user input or resource exhaustion.
 * Thread safety: a jit_t and everything built in it belong to one thread at a time. */
#ifndef NNC_CG_H
#define NNC_CG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <llvm-c/Core.h>

#include "kir.h"

/* ---------------------------------------------------------------- jit.c ---- */

typedef struct jit_t jit_t;

/* Optimisation level of the IR pipeline: default<O0..O3>. */
typedef enum { JIT_O0, JIT_O1, JIT_O2, JIT_O3 } jit_opt_level;

typedef struct jit_options {
  jit_opt_level opt;    /* IR pipeline; JIT_O3 by default */
  int fast_codegen;     /* 1: machine code by CodeGen None (fast-isel), about 15x faster */
  int no_runtime_syms;  /* 1: do not register the runtime ABI (tests of the error path) */
} jit_options;

/* Wall-clock milliseconds spent per phase, summed over everything this jit compiled. */
typedef struct jit_times {
  double ir_ms;       /* building LLVM IR (cg_ adds to it) */
  double opt_ms;      /* the default<On> pipeline */
  double codegen_ms;  /* instruction selection + JIT link (first lookups) */
  int modules;        /* modules added */
} jit_times;

/* One symbol the generated code may call, defined at an absolute address. */
typedef struct jit_symbol {
  const char *name;
  void *addr;
} jit_symbol;

typedef enum { JIT_EMIT_LLVM, JIT_EMIT_ASM, JIT_EMIT_OBJ } jit_emit_kind;

/* Creates a JIT for the host CPU. On success *out owns a handle (jit_destroy frees it) and 0
 * is returned; on failure *out is NULL, -1 is returned and the reason is written to msg
 * (msgsz bytes, may be 0). opt may be NULL (defaults). */
int jit_create(jit_t **out, const jit_options *opt, char *msg, size_t msgsz);
void jit_destroy(jit_t *j);

/* The message of the last failure ("" if none). Owned by j, valid until the next call. */
const char *jit_errmsg(const jit_t *j);
/* Records a failure message (printf-style) and returns -1. */
int jit_fail(jit_t *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

LLVMContextRef jit_context(jit_t *j);
/* A new empty module in j's context with the host triple and data layout. Caller owns it
 * until jit_add_module; NULL on failure. */
LLVMModuleRef jit_new_module(jit_t *j, const char *name);
/* Verifies m; returns -1 with the verifier's message if it is broken. */
int jit_verify(jit_t *j, LLVMModuleRef m);
/* Runs the default<On> pipeline of the options on m (timed). */
int jit_optimize(jit_t *j, LLVMModuleRef m);
/* Verifies and hands m to the JIT (m is consumed even on failure). Does not optimise:
 * call jit_optimize first. Machine code is produced on the first lookup. */
int jit_add_module(jit_t *j, LLVMModuleRef m);
/* Address of a JIT-compiled function or data symbol into *addr. */
int jit_lookup(jit_t *j, const char *name, void **addr);
/* Defines symbols at absolute addresses for code added later (the runtime ABI is
 * registered by jit_create unless no_runtime_syms). */
int jit_define_symbols(jit_t *j, const jit_symbol *syms, size_t n);
/* Emits m (unchanged: a clone is compiled) as textual LLVM IR, assembly or an ELF object.
 * *out is malloc'ed (NUL-terminated for text), *len its size without the NUL. */
int jit_emit(jit_t *j, LLVMModuleRef m, jit_emit_kind kind, char **out, size_t *len);
/* Same, written to a file. */
int jit_emit_file(jit_t *j, LLVMModuleRef m, jit_emit_kind kind, const char *path);

jit_times jit_get_times(const jit_t *j);
void jit_add_ir_time(jit_t *j, double ms);
/* Host CPU name as LLVM sees it (e.g. "sapphirerapids"); owned by j. */
const char *jit_cpu_name(const jit_t *j);
/* Monotonic clock in milliseconds, for the phase timers. */
double jit_now_ms(void);

/* ------------------------------------------------------- codegen_abi.c ---- */

/* Defines every runtime function generated code may call (runtime/abi.def), plus the libm
 * functions the scalar fallbacks use, as absolute symbols in j (jit_create calls it). */
int cg_define_runtime(jit_t *j);
/* The LLVM function type of runtime or libm function name, from its C prototype; NULL if
 * the function is not in the ABI. */
LLVMTypeRef cg_abi_signature(LLVMContextRef C, const char *name);

/* ----------------------------------------------------------- codegen.c ---- */

typedef struct cg_options {
  int strict_fp;      /* 1: no contract (FMA) and no reassociation of reductions */
  int vector_width;   /* prefer-vector-width in bits; 0 = 512 */
  int no_parallel;    /* 1: run parallel dims serially (no nnrt_parallel_for) */
  int no_share_kernels;   /* 1: one LLVM function per loop kernel even when two are identical
                             but for their buffers (-fno-share-kernels; codegen.c) */
} cg_options;

/* The compiled form of a kir_func: void name(void **slots). */
typedef void (*cg_entry)(void **slots);

/* Builds an LLVM module in j's context holding the external function f->name plus one
 * internal function per kernel. f must pass kir_verify (checked again here). The caller
 * owns *out. Building time is added to j's ir_ms. */
int cg_build(jit_t *j, const kir_func *f, const cg_options *o, LLVMModuleRef *out);
/* cg_build, jit_optimize, jit_add_module and jit_lookup in one call. */
int cg_compile(jit_t *j, const kir_func *f, const cg_options *o, cg_entry *fn);

/* Is name a function of the runtime ABI (so a kernel may call it)? */
int cg_abi_has(const char *name);

/* --dump=WHAT for a kernel function: "kernels" (kir_print), "llvm" (the module before
 * optimisation), "llvm-opt" (after jit_optimize) or "asm" (host assembly). Writes to out;
 * returns -1 with the message in j for an unknown WHAT or a failure. */
int cg_dump(jit_t *j, const kir_func *f, const cg_options *o, const char *what, FILE *out);

/* ---------------------------------------------------- codegen_scalar.c ---- */

/* What the scalar emitters need: the context, module, builder, and allowed FP flags. */
typedef struct cg_ir {
  LLVMContextRef C;
  LLVMModuleRef M;
  LLVMBuilderRef B;
  int contract;   /* set the contract fast-math flag on FP arithmetic */
} cg_ir;

/* Emits opcode op (scalar.def) on args (operand types already equal; is_float: operands
 * are f32/f64) with immediates p0, p1. NULL if the opcode has no emitter. */
LLVMValueRef cg_scalar(cg_ir *x, int op, int is_float, LLVMValueRef *args, double p0, double p1);
int cg_scalar_supported(int op);
/* x != 0 as i1 (i1 values pass through). */
LLVMValueRef cg_truth(cg_ir *x, LLVMValueRef v);
/* A call to the overloaded intrinsic name ("llvm.fabs") at type t. */
LLVMValueRef cg_intrinsic(cg_ir *x, const char *name, LLVMTypeRef t, int n, LLVMValueRef *args);

/* ------------------------------------------------------ lower.c, lower_ops.c ---- */

/* Graph IR -> kernel IR, one kernel (or a few) per node, one buffer per value.
 * Slots of the compiled function, in order: one per leaf (input, param, state) in node
 * order, one per graph output (g->outs order), and last the arena holding every temporary
 * (no reuse yet: memory planning is a later pass). A graph with random ops gets one more
 * slot after the arena: LOWER_SLOT_SEED, one uint64_t holding the interpreter's seed for
 * the run (ir_interp_set_seed's value); its streams are the nodes' attr.stream (step 0). */
/* A graph calling host functions (OP_HOST_CALL) gets LOWER_SLOT_HOST last: a
 * cg_host_table (host.c) that the generated code passes to nnc_host_call with the site. */
typedef enum { LOWER_SLOT_LEAF, LOWER_SLOT_OUTPUT, LOWER_SLOT_ARENA, LOWER_SLOT_SEED, LOWER_SLOT_HOST } lower_slot_kind;

typedef struct lower_slot {
  lower_slot_kind kind;
  IrVal val;        /* the leaf or output value (-1 for the arena) */
  int64_t bytes;    /* size the caller must provide */
} lower_slot;

/* One host call site of a lowered function: the callee and its argument types. */
typedef struct lower_host {
  char name[64];
  int nin, nout;
  IrType t[IR_HOST_MAX_ARGS];   /* inputs, then results */
} lower_host;

typedef struct lscan_plan lscan_plan; /* checkpointed scans: bptt_lower.h */

typedef struct lower_plan {
  kir_func *f;      /* owned */
  int nslots;
  lower_slot *slots;
  int *buf_of;      /* [g->nvals] the kir buffer holding each value, -1 if none */
  int nhost;        /* host call sites, numbered as the generated code passes them */
  struct lower_host *host;
  lscan_plan *bptt; /* owned: the checkpointed scans' plans and step functions, or NULL */
} lower_plan;

/* Lowers g (its outputs g->outs) into plan->f named name. Returns 0, or -1 with a message
 * naming the node (e.g. "node %7 (gather): not lowered yet"). plan is empty on failure. */
int lower_graph(const IrGraph *g, const char *name, lower_plan *plan, char *msg, size_t msgsz);
/* The same, lowering the scans that bptt checkpoints through its executor (bptt_lower.h;
 * NULL: none). plan owns bptt from the call on, whether it succeeds or not. */
int lower_graph_with(const IrGraph *g, const char *name, lscan_plan *bptt, lower_plan *plan, char *msg,
                     size_t msgsz);
void lower_plan_free(lower_plan *plan);
/* Does the lowering handle op? (Tests walk the op table with it.) */
int lower_supports(IrOp op);

/* ---------------------------------------------------------------- host.c ---- */

/* The run-time table behind LOWER_SLOT_HOST: each site of a plan resolved to a registered
 * function. A failing host call records its message (the first one) and the call sites
 * after it are skipped (results left zero) until the caller reads the status. */
typedef struct cg_host_site {
  const IrHostFn *fn;
  const lower_host *h;
} cg_host_site;
typedef struct cg_host_table {
  int nsite;
  cg_host_site *site;
  int failed;
  char msg[512];
} cg_host_table;

/* Resolves every site of p in hosts. Returns 0, or -1 with a message naming a function
 * that is not registered (hosts->unknown appended). *out NULL when p has no sites. */
int cg_host_table_new(const lower_plan *p, const IrHostTab *hosts, cg_host_table **out, char *msg, size_t cap);
void cg_host_table_free(cg_host_table *t);
/* After a run: 0, or -1 with the first failure's message in msg (the status is reset). */
int cg_host_table_status(cg_host_table *t, char *msg, size_t cap);
/* The function generated code calls (ABI name "nnc_host_call"): site of table tab with
 * pointers to its inputs then results (unused ones NULL). */
void cg_host_call(void *tab, int64_t site, void *a0, void *a1, void *a2, void *a3, void *a4, void *a5,
                  void *a6, void *a7, void *a8, void *a9, void *a10, void *a11);

/* ------------------------------------------------------------------ aot.c ---- */

/* nnc -c: writes the function of plan (lowered from g) as an ELF relocatable object at
 * obj_path and, if header_path is not NULL, a C header declaring it and its slots. */
int aot_write(jit_t *j, const IrGraph *g, const lower_plan *plan, const cg_options *o, const char *obj_path,
              const char *header_path);

/* Internal to lower*.c. */
typedef struct lower_ctx {
  const IrGraph *g;
  kir_func *f;
  int *buf;         /* [nvals] */
  int *oslot;       /* [nvals] output slot a value should be computed into, -1 */
  int arena_slot;
  int64_t arena_bytes;
  int seed_buf;     /* i64[1] buffer of the seed slot, -1 without random ops */
  int in_scan;      /* lowering a scan body: random streams advance with the step t */
  int host_buf;     /* i64[1] buffer of the host slot, -1 without host calls */
  lower_plan *plan; /* the plan being built (host call sites) */
  const IrNode *n;  /* node being lowered (for names and messages) */
  struct fuse_info *fz; /* fusion decisions for g (fuse.h); NULL: one kernel per node */
  lscan_plan *bptt; /* checkpointed scans of this lowering (lower_scan.c), or NULL */
  char *msg;
  size_t msgsz;
} lower_ctx;

typedef int (*lower_fn)(lower_ctx *L, const IrNode *n);
int lower_fail(lower_ctx *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The buffer of an input value (already lowered). */
int lower_in(lower_ctx *L, IrVal v);
/* A fresh buffer for node output v: its output slot if it is a graph output, else arena. */
int lower_out(lower_ctx *L, IrVal v);
/* A temporary buffer of n elements in the arena. */
int lower_tmp(lower_ctx *L, const char *name, kir_dtype dt, int64_t n);
/* Row-major strides of shape s into st[0..rank). */
void lower_strides(const IrShape *s, int64_t *st);
/* Loop flags: dim 0 parallel when the nest has >= 131072 points and dim 0 is not reduced;
 * dims >= nkeep are reduce dims. */
void lower_flags(int rank, const int64_t *ext, int nkeep, int *flags);
/* Lowers subgraph sub inline (same function, same arena) with its formal i bound to
 * buffer formals[i]; results[i] gets the buffer of sub->outs[i]. */
int lower_sub(lower_ctx *L, const IrGraph *sub, const int *formals, int nformals, int *results);
/* Merges adjacent loop dims d, d+1 wherever every index x[0..nx) has stride[d] ==
 * stride[d+1] * ext[d+1]; rewrites ext and x, returns the new rank. */
int lower_collapse(int rank, int64_t *ext, kir_index *x, int nx);
/* Per-op rules of lower_ops.c for ops without a scalar opcode; NULL if not lowered. */
lower_fn lower_rule(IrOp op);

#endif
