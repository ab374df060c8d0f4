/* exec.h — running a graph: compiled through LLVM (the default) or by the reference
 * interpreter (--interp; the JIT's oracle). Both take the same host buffers: one per leaf
 * (input, param, state) in its dtype's native layout (f32 as float, i32 as int32_t, bool
 * as uint8_t), and give one buffer per graph output. */
#ifndef NNC_EXEC_H
#define NNC_EXEC_H

#include "ir.h"

typedef enum { EXEC_JIT, EXEC_INTERP } ExecBackend;

typedef struct Exec Exec;
struct jit;

typedef struct ExecStats {
  double lower_ms, compile_ms;   /* graph -> kernel IR; kernel IR -> machine code */
  int64_t arena_bytes;           /* temporaries of one run */
  int cache_hit;                 /* 1: the machine code came from the compile cache (no LLVM
                                    passes or code generation ran) */
  double cpu_lower_ms, cpu_ir_ms, cpu_opt_ms, cpu_emit_ms;   /* this thread's CPU time: lowering
                  (fusion, memory planning), building LLVM IR, LLVM's passes, instruction
                  selection and emitting the object (--time-passes) */
} ExecStats;

/* Prepares g (whose outputs are g->outs) for running. The graph must outlive the Exec.
 * Returns 0, or -1 with a message. */
int exec_create(IrGraph *g, ExecBackend b, const char *name, Exec **out, char *msg, size_t cap);
/* The same with checkpointed BPTT (bptt_lower.h; NULL: plain BPTT). The JIT only: the
 * interpreter runs plain BPTT. */
struct lscan_options;
struct lscan_bound;
int exec_create_bptt(IrGraph *g, ExecBackend b, const char *name, const struct lscan_options *bptt, Exec **out,
                     char *msg, size_t cap);
/* The checkpointed scans' executors after a run (their stats), or NULL when none. */
const struct lscan_bound *exec_bptt(const Exec *x);
void exec_free(Exec *x);
/* Points leaf `leaf` at caller memory (numel elements of its dtype), kept across runs. */
int exec_bind(Exec *x, IrVal leaf, void *data);
/* The buffer of graph output i after a run (owned by x). */
void *exec_output(Exec *x, int i);
int exec_run(Exec *x, uint64_t seed, uint64_t step, char *msg, size_t cap);
ExecStats exec_stats(const Exec *x);
/* The interpreter's tensor for any value after a run (EXEC_INTERP only; NULL otherwise). */
const IrTensor *exec_interp_value(const Exec *x, IrVal v);
/* Prints the kernels of a JIT-compiled graph (--dump=kernels); nothing for the interpreter. */
void exec_print_kernels(const Exec *x, FILE *out);
/* Prints its LLVM IR ("llvm", "llvm-opt": after the optimizer) or assembly ("asm").
 * Returns 0, or -1 with a message. */
int exec_print_llvm(const Exec *x, const char *what, FILE *out, char *msg, size_t cap);

#endif
