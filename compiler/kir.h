/* kir.h — the kernel IR: the loop-level IR between the graph IR and LLVM.
 *
 * A kir_func is what one compiled graph function runs: a list of kernels over buffers.
 *   - A buffer is a typed view (dtype, element count) at an element offset into a slot;
 *     slots are the pointers the compiled function receives: void fn(void **slots).
 *     Several buffers may share a slot (memory planning puts temporaries in one arena).
 *   - A loop kernel is a perfect loop nest over an iteration space of rank <= 8; each dim
 *     has an extent and is flagged parallel (only dim 0 is run in parallel) or reduce
 *     (reduction dims form a suffix of the nest). Its body is one or more stores of scalar
 *     expression trees; a store with a reduction kind accumulates over the reduce dims and
 *     writes once after them (optionally through a post expression over the accumulator).
 *   - A call kernel calls a runtime function (nnrt_sgemm, ...) with buffer pointers and
 *     scalars.
 * Indices are affine: element = offset + sum_d stride[d] * iv[d] (stride 0 = broadcast).
 * Expressions are nodes in the function's expression array, referenced by id.
 * Builders return an id >= 0, or -1 after an allocation failure (sticky: kir_ok() is 0). */
#ifndef NNC_KIR_H
#define NNC_KIR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ir.h"

#define KIR_MAX_RANK 8
#define KIR_NAME 48

/* Scalar element types: the graph IR's (BIT is not supported by kernels). BOOL is one
 * byte in memory and i1 in expressions. */
typedef IrDType kir_dtype;
#define KIR_F32 IR_F32
#define KIR_F64 IR_F64
#define KIR_I32 IR_I32
#define KIR_I64 IR_I64
#define KIR_BOOL IR_BOOL

/* Scalar opcodes are the graph IR's (scalar.def, IrScalarOp); comparisons and logical ops
 * yield BOOL, select yields its operand 1's type, the others their operand 0's type. */
typedef IrScalarOp kir_op;

typedef struct kir_scalar_info {
  const char *name;
  int arity;
  int doms;   /* SC_DOM_F and/or SC_DOM_I */
} kir_scalar_info;
extern const kir_scalar_info kir_scalars[SC_NOPS];

typedef struct kir_index {
  int64_t offset;
  int64_t stride[KIR_MAX_RANK];
  int64_t tstride;  /* inside a repeat: + tstride * t (t = the repeat's step) */
} kir_index;

typedef enum { KX_CONST, KX_IV, KX_LOAD, KX_OP, KX_CAST, KX_ACC, KX_AFFINE, KX_RT } kir_xkind;

/* Scalar runtime functions an expression may call (KX_RT): (seed, stream, index) -> f32. */
typedef enum { KIR_RT_UNIFORM, KIR_RT_NORMAL, KIR_NRT } kir_rtfn;
extern const char *const kir_rt_names[KIR_NRT];

/* A data-dependent index term: + stride * clamp(expr, 0, limit - 1) (gather, scatter). */
typedef struct kir_dyn {
  int expr;         /* -1: none; else an integer expression */
  int64_t stride, limit;
} kir_dyn;

typedef struct kir_expr {
  kir_xkind kind;
  kir_dtype dt;
  int op;           /* KX_OP: kir_op (scalar.def); KX_RT: kir_rtfn */
  double p0, p1;    /* KX_OP: the opcode's float immediates (leaky_relu alpha, clip bounds) */
  int arg[3];       /* KX_OP, KX_CAST, KX_RT: operand expression ids */
  int buf;          /* KX_LOAD: buffer id */
  int iv;           /* KX_IV: loop dim */
  kir_index idx;    /* KX_LOAD; KX_AFFINE: the i64 value offset + sum stride_d iv_d */
  kir_dyn dyn;      /* KX_LOAD */
  double f;         /* KX_CONST of float type */
  int64_t i;        /* KX_CONST of integer or bool type */
} kir_expr;

typedef enum { KIR_RED_NONE, KIR_RED_SUM, KIR_RED_PROD, KIR_RED_MAX, KIR_RED_MIN } kir_red;

typedef struct kir_store {
  int buf;
  kir_index idx;    /* strides over reduce dims must be 0 when red != NONE */
  int value;        /* expression stored (or accumulated) */
  kir_red red;
  int post;         /* -1, or an expression over KX_ACC(this store) written instead */
  kir_dyn dyn;      /* data-dependent index term (then the kernel must be serial) */
  int accum;        /* 1: mem += value (read-modify-write), with red == NONE */
} kir_store;

typedef struct kir_dim {
  int64_t extent;
  int parallel;
  int reduce;
} kir_dim;

typedef enum { KIR_ARG_BUF, KIR_ARG_I64, KIR_ARG_I32, KIR_ARG_F32, KIR_ARG_F64, KIR_ARG_NULL } kir_argkind;

typedef struct kir_arg {
  kir_argkind kind;
  int buf;          /* KIR_ARG_BUF: pointer to element i (+ tstride * t) of this buffer */
  int64_t tstride;
  int64_t i;
  double f;
} kir_arg;

/* KIR_REPEAT runs the nbody kernels that follow it count times, t = 0..count-1 (or
 * count-1..0 when reverse); their indices and call pointers add tstride * t. Repeats do
 * not nest (a scan inside a scan body is not lowered yet). */
typedef enum { KIR_LOOP, KIR_CALL, KIR_REPEAT } kir_kkind;

typedef struct kir_kernel {
  kir_kkind kind;
  char name[KIR_NAME];
  int rank;
  kir_dim dim[KIR_MAX_RANK];
  int store0, nstore;   /* KIR_LOOP: stores [store0, store0 + nstore) */
  char callee[KIR_NAME];
  int arg0, narg;       /* KIR_CALL: args [arg0, arg0 + narg) */
  int64_t count;        /* KIR_REPEAT */
  int reverse, nbody;
} kir_kernel;

typedef struct kir_buf {
  char name[KIR_NAME];
  kir_dtype dt;
  int slot;         /* -1: a constant buffer holding data */
  int64_t offset;   /* elements of dt from the slot's pointer */
  int64_t size;     /* elements */
  void *data;       /* constant buffers: size elements, owned by the function */
  int alloc;        /* memory planning: arena allocation id (views share one), -1 */
} kir_buf;

typedef struct kir_func {
  char name[KIR_NAME];
  int nslots;
  kir_buf *buf;       int nbuf, cbuf;
  kir_kernel *kernel; int nkernel, ckernel;
  kir_expr *expr;     int nexpr, cexpr;
  kir_store *store;   int nstore, cstore;
  kir_arg *arg;       int narg, carg;
  int oom;
} kir_func;

/* A new empty function; NULL when out of memory. kir_free releases everything. */
kir_func *kir_new(const char *name, int nslots);
void kir_free(kir_func *f);
int kir_ok(const kir_func *f);
int kir_dtype_size(kir_dtype dt);
const char *kir_dtype_name(kir_dtype dt);
int kir_dtype_is_float(kir_dtype dt);

/* Buffers and kernels. */
int kir_buffer(kir_func *f, const char *name, kir_dtype dt, int slot, int64_t offset, int64_t size);
/* A read-only buffer holding a copy of size elements of data (emitted as a constant). */
int kir_const_buffer(kir_func *f, const char *name, kir_dtype dt, int64_t size, const void *data);
/* A loop kernel over extents ext[0..rank); flags per dim: KIR_PAR and/or KIR_RED. */
enum { KIR_PAR = 1, KIR_RED = 2 };
int kir_loop(kir_func *f, const char *name, int rank, const int64_t *ext, const int *flags);
/* Adds a store to the last kernel, which must be a loop. */
int kir_store_to(kir_func *f, int buf, kir_index idx, int value, kir_red red, int post);
/* A call kernel; add its arguments with kir_arg_* in order. */
int kir_call(kir_func *f, const char *name, const char *callee);
int kir_arg_buf(kir_func *f, int buf);
int kir_arg_buf_at(kir_func *f, int buf, int64_t elem);   /* pointer to buf + elem */
int kir_arg_i64(kir_func *f, int64_t v);
int kir_arg_f32(kir_func *f, double v);
int kir_arg_null(kir_func *f);   /* a NULL pointer */
/* Pointer to buf + elem + tstride * t (inside a repeat). */
int kir_arg_buf_t(kir_func *f, int buf, int64_t elem, int64_t tstride);
/* Opens a repeat of count steps: the kernels added until kir_repeat_end(f, id) form it. */
int kir_repeat(kir_func *f, const char *name, int64_t count, int reverse);
void kir_repeat_end(kir_func *f, int id);

/* Expressions. */
int kir_const(kir_func *f, kir_dtype dt, double v);
int kir_iv(kir_func *f, int dim);          /* the loop variable of dim, as i64 */
int kir_load(kir_func *f, int buf, kir_index idx);
int kir_op1(kir_func *f, kir_op op, int a);
int kir_op2(kir_func *f, kir_op op, int a, int b);
int kir_op3(kir_func *f, kir_op op, int a, int b, int c);
/* Any arity, with immediates p0, p1 (args beyond the arity are ignored). */
int kir_opp(kir_func *f, kir_op op, int a, int b, int c, double p0, double p1);
/* The dtype op yields for operands of types a0 (operand 0) and a1 (operand 1). */
kir_dtype kir_op_result(kir_op op, kir_dtype a0, kir_dtype a1);
int kir_cast(kir_func *f, kir_dtype dt, int a);
/* In a store's post expression: the finished accumulator (dtype of the stored value). */
int kir_acc(kir_func *f, kir_dtype dt);
/* An i64 affine function of the loop variables (e.g. a flat element index). */
int kir_affine(kir_func *f, kir_index idx);
/* f32 fn(seed, stream, index) with i64 operands (a runtime call; not vectorized). */
int kir_rt(kir_func *f, kir_rtfn fn, int seed, int stream, int index);
/* A load whose index adds dyn.stride * clamp(dyn.expr, 0, dyn.limit - 1). */
int kir_load_dyn(kir_func *f, int buf, kir_index idx, kir_dyn dyn);
/* A store to idx + the dyn term, mem[i] += value when accum (serial kernels only). */
int kir_store_dyn(kir_func *f, int buf, kir_index idx, kir_dyn dyn, int value, int accum);

/* Indices: row-major over shape[0..rank) aligned to the last rank dims of an iteration
 * space of rank nd (numpy broadcasting: dims of extent 1 get stride 0). */
kir_index kir_index_bcast(int nd, int rank, const int64_t *shape);
kir_index kir_index_zero(void);

/* Checks types, dims, and that every access stays inside its buffer. Returns 0, or -1 with
 * a message in msg. */
int kir_verify(const kir_func *f, char *msg, size_t msgsz);

/* --dump=kernels: a stable, human-readable listing. */
void kir_print(const kir_func *f, FILE *out);

#endif
