/* bptt_exec.h — the checkpointed-BPTT executor's record (runtime/bptt_exec.c). The
 * compiler (compiler/lower_scan.c) lowers a scan's forward body and backward body into two
 * functions over the same slots as the main function, and the main function calls
 * nnrt_bptt_forward / nnrt_bptt_backward (abi.def) with a cell holding a pointer to this
 * record. The record holds the planner's action table (compiler/bptt.h, docs/bptt.md) and
 * byte offsets into the arena of the carry register, the previous carry, the slot units,
 * the backward body's carry formals and the time cell. No LLVM here. */
#ifndef NNRT_BPTT_EXEC_H
#define NNRT_BPTT_EXEC_H

#include <stdint.h>

#define NNRT_BPTT_MAX_CARRIES 64

typedef struct nnrt_bptt_rec {
  const int32_t *acts;          /* n triplets (op, step, slot), ops as bp_op          */
  int64_t n, pos;               /* pos: where nnrt_bptt_backward resumes              */
  void (*fwd)(void **slots);    /* forward body at step tcell (carry register in place) */
  void (*refwd)(void **slots);  /* the same without writing y_t: recomputation          */
  void (*bwd)(void **slots);    /* backward body at step tcell                        */
  void **slots;
  int arena_slot;
  int nc;                       /* carries: pieces of one unit                        */
  int64_t reg_off[NNRT_BPTT_MAX_CARRIES];   /* arena bytes: the forward body's carries */
  int64_t cin_off[NNRT_BPTT_MAX_CARRIES];   /* arena bytes: backward body's c_t formals */
  int64_t piece_bytes[NNRT_BPTT_MAX_CARRIES];
  int64_t unit_bytes;           /* one hidden state: the carries, packed               */
  int64_t units_off, prev_off, tcell_off;   /* arena bytes; units: m * unit_bytes      */
  int rev;                      /* the forward scan runs t = T-1..0: step t is index T-t */
  int64_t T;
  int m, alpha;                 /* alpha must be 2: internal_t = (h_{t-1}, h_t)         */
  uint8_t *kind;                /* [m] 1: unit u starts an internal slot               */
  /* measured */
  int64_t forwards, elided, backwards;
  int live_units, peak_units;
  int bad;                      /* an action the executor could not run (a bug)        */
} nnrt_bptt_rec;

#endif
