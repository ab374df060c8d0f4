/* fuse.h — operator fusion (fuse.c) and memory planning (memplan.c) of nnc's back end, and
 * the process-wide lowering options that switch them (-fno-fuse, --dump=memory).
 *
 * Fusion is decided per graph before lowering (fuse_analyze) and applied by the lowering
 * rules (lower.c, lower_ops.c): values marked inline are never stored, their consumers
 * build their expression instead of loading them; runs of elementwise nodes over one
 * iteration space become one multi-store loop nest; matmuls absorb transposes of their
 * operands and of their result, and a bias add (+ relu) epilogue (nnrt_sgemm_ex).
 * Memory planning (memplan_run) then places the arena buffers of the lowered function by
 * liveness over its kernel schedule. See docs/codegen.md, "Fusion" and "Memory planning". */
#ifndef NNC_FUSE_H
#define NNC_FUSE_H

#include <stdint.h>
#include <stdio.h>

#include "cg.h"

/* ----------------------------------------------------------- options ---- */

typedef struct lower_options {
  int no_fuse;        /* -fno-fuse: one kernel per node, as before */
  int no_memplan;     /* keep the bump arena (one buffer per value, no reuse) */
  FILE *dump_memory;  /* --dump=memory: the plan of every lowered function is written here */
  int no_scan_hoist;  /* -fno-scan-hoist: keep scans' input projections inside (scan_hoist.c) */
  int no_share_kernels;   /* -fno-share-kernels: no LLVM function shared by identical kernels */
} lower_options;

/* Process-wide, like the BPTT options (set once by the CLI before compiling). */
void lower_set_options(const lower_options *o);
const lower_options *lower_get_options(void);

/* ----------------------------------------------------------- fuse.c ---- */

/* Row max and row sum of exp(x - max) of buffer x over the same rows, computed once
 * (softmax and cross-entropy of the same logits share them). */
typedef struct fuse_rows {
  int x, r, m, s;   /* s: -1 when only the max was computed */
  int64_t ext[IR_MAX_RANK];
  kir_index xi;     /* x's index over the (kept..., reduced) loop: same rows iff same */
} fuse_rows;
#define FUSE_MAX_ROWS 8

typedef struct fuse_info {
  int nvals, nnodes;
  int *uses;          /* [nvals] consumer edges (a graph output counts as one) */
  uint8_t *inl;       /* [nvals] 1: computed as an expression inside its consumers */
  IrVal *tsrc;        /* [nvals] v = transpose of the last two dims of tsrc[v], else -1 */
  IrVal *mmt;         /* [nvals] matmul output whose only use is a transpose: that value, else -1 */
  IrVal *epi;         /* [nvals] matmul or conv2d output -> the value its accumulation/bias/relu
                         yields, else -1 */
  IrVal *epi_bias;    /* [nvals] the bias of that epilogue, else -1 */
  int *epi_act;       /* [nvals] 1: relu after the bias */
  IrVal *acc;         /* [nvals] matmul output m2 of add(m1, m2): m2 accumulates onto m1's buffer
                         (beta 1); m1 may be a scan body's carry formal */
  IrVal *cat;         /* [nvals] elementwise value stored into this concat's buffer, else -1 */
  int64_t *catoff;    /* [nvals] at this offset along the concat's axis */
  IrVal *sub0;        /* [nvals] node output -> the value its operand 0 reads instead (relu masks) */
  int *gend;          /* [nnodes] i: elementwise nodes [i, gend[i]) form one loop nest, else -1 */
  uint8_t *skip;      /* [nvals] the producer of v makes no kernel of its own (inline, absorbed) */
  int *gexpr;         /* [nvals] expression of v in the kernel being built (when gstamp[v] == epoch) */
  int *gstamp;
  int epoch;          /* bumped per kernel built through fuse_expr */
  fuse_rows rows[FUSE_MAX_ROWS];
  int nrows;
} fuse_info;

/* Decides the fusion of g. ncarry > 0: g is a scan body whose first ncarry formals and
 * results are its carries (the carry buffers may then be updated in place). Returns NULL
 * when out of memory (the caller lowers unfused). */
fuse_info *fuse_analyze(const IrGraph *g, int ncarry);
void fuse_free(fuse_info *fz);

/* Whether lower_ops.c's matmul goes through nnrt_sgemm (the fusion of epilogues needs it). */
int lower_mm_sgemm(IrDType dt, int64_t M, int64_t N, int64_t K, int64_t nbatch);

/* The expression of value v (an inline value built recursively, a value of the kernel being
 * built, or a load of its buffer) for a nest iterating shape `it` whose loop dim p runs
 * shape dim perm[p] (numpy broadcasting of v's shape to `it`). */
int fuse_expr(lower_ctx *L, IrVal v, const IrShape *it, const int *perm);

/* Lowers nodes [i0, i1) of L->g, a run of elementwise nodes over one shape (inline ones
 * skipped), as one loop nest storing each non-inline value. */
int fuse_lower_group(lower_ctx *L, int i0, int i1);

/* --------------------------------------------------------- memplan.c ---- */

typedef struct memplan_stats {
  int nbufs;            /* arena allocations planned (views counted once) */
  int inplace;          /* of which took over a dying input's memory */
  int64_t naive_bytes;  /* the bump arena: every buffer its own bytes */
  int64_t planned_bytes;
  int64_t lower_bound;  /* peak live bytes over the schedule */
} memplan_stats;

/* Re-places the buffers of arena slot `arena` in f: liveness over the kernel order
 * (a buffer used in a repeat lives through all of it), in-place reuse by elementwise
 * stores, offsets greedy by size (best gap). Returns the new arena size in bytes, or -1
 * when out of memory (f is then unchanged). Buffers that code outside f uses (the BPTT
 * executor's) must be kept live by kernels of f that touch them. */
int64_t memplan_run(kir_func *f, int arena, memplan_stats *st);
/* Checks that no two arena buffers live at the same time share bytes. 0 when none do,
 * else -1 with the pair named in msg. */
int memplan_check(const kir_func *f, int arena, char *msg, size_t msgsz);
void memplan_print(const kir_func *f, const memplan_stats *st, FILE *out);

#endif
