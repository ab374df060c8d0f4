/* ir.h — nnc's graph IR: an SSA dataflow graph of tensor ops, its op table, the builder,
 * the reference interpreter (ir_interp_*), reverse-mode autodiff (ad_*), the verifier,
 * the printer and the simple passes (simplify, CSE). See docs/ir.md.
 *
 * Conventions
 *  - A graph owns everything in it (nodes, constants, subgraphs). ir_graph_free frees all.
 *  - A value (IrVal) is an int id of one output of one node. Nodes are kept in topological
 *    (creation) order; a node may only use values of earlier nodes (SSA).
 *  - The builder is "poisoned" on the first error: ir_add* return IR_NONE (-1), the graph
 *    keeps the message (ir_errmsg) and every later ir_add* with an IR_NONE input returns
 *    IR_NONE silently. So a front end may build a whole expression and check once.
 *  - Nothing here prints, exits or aborts on bad input; functions returning int return
 *    0 on success and -1 on failure with the message kept in the graph (or interpreter).
 *  - Not thread-safe per graph; distinct graphs may be used from distinct threads.
 */
#ifndef NNC_IR_H
#define NNC_IR_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ------------------------------------------------------------------ types ---- */

#define IR_MAX_RANK 8
#define IR_MAX_INTS 24 /* integer attributes per node */
#define IR_MAX_FLTS 4  /* float attributes per node */
#define IR_NONE (-1)

typedef int32_t IrVal;

typedef enum { IR_F32, IR_F64, IR_I32, IR_I64, IR_BOOL, IR_BIT, IR_NDTYPES } IrDType;

typedef struct IrShape {
  int rank;
  int64_t dim[IR_MAX_RANK];
} IrShape;

typedef struct IrType {
  IrDType dtype;
  IrShape shape;
} IrType;

/* Fusion kinds (TVM's op pattern kinds): what a fuser may do with the op. */
typedef enum {
  IR_ELEMWISE,    /* out[i] = f(in[i]), same shapes */
  IR_BROADCAST,   /* elementwise with numpy broadcasting of inputs */
  IR_INJECTIVE,   /* each output element reads one input element (reshape, slice, ...) */
  IR_REDUCTION,   /* reduces axes */
  IR_CONTRACTION, /* matmul, convolution: a GEMM-like kernel with an epilogue */
  IR_OPAQUE       /* anything else (leaves, scan, losses, sampling, ...) */
} IrKind;

/* Op flags (ops.def column 5). */
enum {
  IR_DIFF = 1 << 0,   /* has a gradient rule (w.r.t. its floating inputs) */
  IR_ND = 1 << 1,     /* not differentiable: autodiff treats the output as a constant */
  IR_LEAF = 1 << 2,   /* input/param/state/const: no inputs */
  IR_RANDOM = 1 << 3, /* draws from the counter-based RNG (attr stream) */
  IR_MULTI = 1 << 4,  /* may have several outputs */
  IR_INTERNAL = 1 << 5, /* built by gradient rules; the front end need not expose it */
  IR_HOST = 1 << 6     /* calls the host (extern fn): never merged or folded, and a gradient
                          reaching it is an autodiff error, not a silent zero */
};

/* Scalar opcodes (scalar.def): the per-element semantics of elementwise ops. */
typedef enum {
#define SC(E, name, arity, doms, fexpr, iexpr) SC_##E,
#include "scalar.def"
#undef SC
  SC_NOPS,
  SC_NONE = -1
} IrScalarOp;

typedef enum {
#define OP(E, name, arity, kind, flags, shape, grad, eval, sc, lower) OP_##E,
#include "ops.def"
#undef OP
  OP_NOPS
} IrOp;

/* Attributes. Their meaning per op is documented in ops.def; use the typed builders below
 * rather than filling this by hand. */
typedef struct IrAttrs {
  int nint;
  int64_t ints[IR_MAX_INTS];
  int nflt;
  double flts[IR_MAX_FLTS];
  IrDType dtype;   /* cast/one_hot/sampling/leaf result dtype */
  uint64_t stream; /* sampling ops and dropout: unique RNG stream id */
} IrAttrs;

struct IrGraph;

typedef struct IrNode {
  IrOp op;
  int id;        /* index in g->nodes */
  int nin;
  IrVal *in;
  int nout;
  IrVal *out;
  IrAttrs attr;
  char *name;    /* input/param/state name (owned) */
  char *init;    /* param: initializer description, e.g. "glorot" or "normal(0,0.01)" */
  double *cdata; /* const: values (ncdata == 1: a fill value) */
  int64_t ncdata;
  struct IrGraph *sub[2]; /* scan: body; custom_grad: forward, backward */
} IrNode;

typedef struct IrValue {
  int node; /* producing node id */
  int idx;  /* output index */
  IrType t;
} IrValue;

typedef struct IrGraph {
  int nnodes, capnodes;
  IrNode **nodes;   /* stable pointers */
  int nvals, capvals;
  IrValue *vals;
  int nouts;
  IrVal *outs;      /* graph results (a subgraph's formal results) */
  uint64_t next_stream; /* next RNG stream id handed out by sampling builders */
  int failed;
  char err[512];
  int err_node;     /* 1 + id of the node the error is about (autodiff: a host call); 0 none */
  int keep_products; /* autodiff of a scan stacks its carry-dependent matmul products rather
                        than recomputing them in the backward (scan.c); set by the tracer */
} IrGraph;

/* One op's row of the op table (filled from ops.def). */
typedef struct IrOpInfo {
  const char *name;
  int arity; /* -1: variadic */
  IrKind kind;
  int flags;
  int (*shape)(IrGraph *g, IrNode *n); /* sets the output types or fails */
  /* Gradient rule: gout[i] is the adjoint of output i (IR_NONE: zero); writes gin[j]
   * (IR_NONE: no gradient for input j). Builds nodes in g. */
  int (*grad)(IrGraph *g, const IrNode *n, const IrVal *gout, IrVal *gin);
  IrScalarOp scalar; /* elementwise ops: the scalar opcode */
  const char *lower; /* others: runtime function it lowers to ("" if inline/none) */
} IrOpInfo;

extern const IrOpInfo ir_ops[OP_NOPS];

typedef struct IrScalarInfo {
  const char *name;
  int arity;
  int doms; /* SC_DOM_* */
} IrScalarInfo;
enum { SC_DOM_F = 1, SC_DOM_I = 2 };
extern const IrScalarInfo ir_scalars[SC_NOPS];

/* Scalar helpers used by scalar.def's C reference semantics (double for floats). */
static inline double ir_sc_sigmoid(double a) {
  return a >= 0 ? 1.0 / (1.0 + exp(-a)) : exp(a) / (1.0 + exp(a));
}
static inline double ir_sc_softplus(double a) { return fmax(a, 0.0) + log1p(exp(-fabs(a))); }
static inline double ir_sc_fmod_floor(double a, double b) { return a - b * floor(a / b); }
static inline int64_t ir_sc_imod_floor(int64_t a, int64_t b) {
  if (b == 0) return 0;
  int64_t r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}
static inline int64_t ir_sc_idiv_floor(int64_t a, int64_t b) {
  if (b == 0) return 0;
  return (a - ir_sc_imod_floor(a, b)) / b;
}
/* The Philox stream of a random op: its node stream id and the step of the enclosing scan
 * (0 outside scans; inside, step = parent_step * 1000003 + t + 1 for time index t). Draws
 * are nnrt_rand_uniform(seed, ir_rng_stream(stream, step), element index). A dropout with
 * ints[0] = 1 (per sequence) uses parent_step instead of step. */
static inline uint64_t ir_rng_stream(uint64_t stream, uint64_t step) { return stream + (step << 32); }
/* Evaluates scalar opcode op in double (floating) or int64 (integer/bool) semantics. */
double ir_scalar_eval(IrScalarOp op, int is_int, double a, double b, double c, double p0,
                      double p1);

/* ----------------------------------------------------------- graph.c ---- */

IrGraph *ir_graph_new(void);
void ir_graph_free(IrGraph *g);
const char *ir_errmsg(const IrGraph *g);
int ir_fail(IrGraph *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ir_clear_error(IrGraph *g);

/* Generic builder: nin inputs, attrs a (NULL: none). Returns the first output value. */
IrVal ir_add(IrGraph *g, IrOp op, int nin, const IrVal *in, const IrAttrs *a);
/* Same, returning the node (NULL on failure); for multi-output ops. */
IrNode *ir_add_node(IrGraph *g, IrOp op, int nin, const IrVal *in, const IrAttrs *a);

/* The type of v. The pointer is valid only until the next node is added to g (the value
 * table may move): copy the IrType/IrShape before building more nodes. */
static inline const IrType *ir_type(const IrGraph *g, IrVal v) { return &g->vals[v].t; }
static inline IrNode *ir_producer(const IrGraph *g, IrVal v) {
  return g->nodes[g->vals[v].node];
}
int64_t ir_numel(const IrShape *s);
IrShape ir_shape(int rank, const int64_t *dims);
int ir_shape_eq(const IrShape *a, const IrShape *b);
int ir_is_float(IrDType t);
const char *ir_dtype_name(IrDType t);
size_t ir_dtype_size(IrDType t); /* bytes per element (bit: 1; packing bits is the runtime's) */
/* Writes "f32[128, 256]" into buf. */
char *ir_type_str(const IrType *t, char *buf, size_t cap);
/* Appends outputs to the graph result list. */
int ir_set_outputs(IrGraph *g, int n, const IrVal *v);
/* Param/input/state values in creation order; returns the count (writes at most cap). */
int ir_leaves(const IrGraph *g, IrOp kind, IrVal *out, int cap);
IrVal ir_find_leaf(const IrGraph *g, const char *name);
/* Appends nout extra outputs of types t to node n (used by autodiff on scan nodes). */
int ir_node_add_outputs(IrGraph *g, IrNode *n, int nout, const IrType *t);

/* Leaves. `init` for params: initializer description kept for the runtime/front end. */
IrVal ir_input(IrGraph *g, const char *name, IrDType dt, IrShape s);
IrVal ir_param(IrGraph *g, const char *name, IrDType dt, IrShape s, const char *init);
IrVal ir_state(IrGraph *g, const char *name, IrDType dt, IrShape s);
IrVal ir_const(IrGraph *g, IrDType dt, IrShape s, const double *data); /* copies numel */
IrVal ir_fill(IrGraph *g, IrDType dt, IrShape s, double v);
IrVal ir_scalar(IrGraph *g, IrDType dt, double v); /* rank-0 constant */
/* A subgraph's formal parameter number pos (OP_INPUT with attr ints[0] = pos). */
IrVal ir_formal(IrGraph *g, int pos, IrType t);

/* Typed builders (each returns IR_NONE on error; see ops.def for semantics). */
IrVal ir_unary(IrGraph *g, IrOp op, IrVal x);
IrVal ir_binary(IrGraph *g, IrOp op, IrVal a, IrVal b);
IrVal ir_where(IrGraph *g, IrVal c, IrVal a, IrVal b);
IrVal ir_leaky_relu(IrGraph *g, IrVal x, double alpha);
IrVal ir_clip(IrGraph *g, IrVal x, double lo, double hi);
IrVal ir_cast(IrGraph *g, IrVal x, IrDType dt);
IrVal ir_reduce(IrGraph *g, IrOp op, IrVal x, int naxes, const int *axes, int keepdims);
IrVal ir_argmax(IrGraph *g, IrVal x, int axis, int keepdims);
IrVal ir_argmin(IrGraph *g, IrVal x, int axis, int keepdims);
/* The k largest (ascending: smallest) along axis, sorted, and their i64 indices. */
int ir_topk(IrGraph *g, IrVal x, int k, int axis, int ascending, IrVal *values, IrVal *indices);
/* numpy take_along_axis: idx has x's rank (dims equal except on axis); y has idx's shape.
 * E.g. the Q-value of each row's action: take_along(q[B, A], a[B, 1], 1) -> [B, 1]. */
IrVal ir_take_along(IrGraph *g, IrVal x, IrVal idx, int axis);
IrVal ir_put_along_add(IrGraph *g, IrVal x, IrVal idx, IrVal src, int axis);
IrVal ir_matmul(IrGraph *g, IrVal a, IrVal b, int ta, int tb);
IrVal ir_conv1d(IrGraph *g, IrVal x, IrVal w, int stride, int pad);
IrVal ir_conv2d(IrGraph *g, IrVal x, IrVal w, int sh, int sw, int ph, int pw);
IrVal ir_conv_t2d(IrGraph *g, IrVal x, IrVal w, int sh, int sw, int ph, int pw, int oph,
                  int opw);
IrVal ir_pool2d(IrGraph *g, IrOp op, IrVal x, int kh, int kw, int sh, int sw, int ph, int pw);
IrVal ir_softmax(IrGraph *g, IrOp op, IrVal x, int axis); /* OP_SOFTMAX / OP_LOG_SOFTMAX */
/* Losses: reduction 0 = mean, 1 = sum, 2 = none. */
IrVal ir_loss(IrGraph *g, IrOp op, IrVal a, IrVal b, int reduction);
IrVal ir_gather(IrGraph *g, IrVal x, IrVal idx, int axis);
IrVal ir_embedding(IrGraph *g, IrVal table, IrVal idx); /* gather along axis 0 */
IrVal ir_scatter_add(IrGraph *g, IrVal x, IrVal idx, IrVal src, int axis);
IrVal ir_one_hot(IrGraph *g, IrVal idx, int depth, IrDType dt);
IrVal ir_concat(IrGraph *g, int n, const IrVal *xs, int axis);
/* Splits x along axis into n parts of the given sizes; writes n values into out. */
int ir_split(IrGraph *g, IrVal x, int axis, int n, const int64_t *sizes, IrVal *out);
IrVal ir_slice(IrGraph *g, IrVal x, const int64_t *start, const int64_t *end);
IrVal ir_reshape(IrGraph *g, IrVal x, IrShape s);
IrVal ir_transpose(IrGraph *g, IrVal x, const int *perm);
IrVal ir_broadcast_to(IrGraph *g, IrVal x, IrShape s);
IrVal ir_pad(IrGraph *g, IrVal x, const int64_t *before, const int64_t *after, double value);
IrVal ir_uniform(IrGraph *g, IrDType dt, IrShape s, double lo, double hi);
IrVal ir_normal(IrGraph *g, IrDType dt, IrShape s, double mean, double std);
IrVal ir_bernoulli(IrGraph *g, IrVal p);
IrVal ir_categorical(IrGraph *g, IrVal logits); /* logits[..., C] -> i64[...] */
IrVal ir_dropout(IrGraph *g, IrVal x, double p);
/* per_sequence = 1: inside a scan, the mask is drawn once for the whole sequence
 * (variational dropout: the RNG step is the enclosing graph's, not the time index). */
IrVal ir_dropout_ex(IrGraph *g, IrVal x, double p, int per_sequence);
IrVal ir_stop_gradient(IrGraph *g, IrVal x);
IrVal ir_straight_through(IrGraph *g, IrVal value, IrVal grad_path);
/* custom_grad: fwd is a subgraph with nin formals -> 1 result; bwd a subgraph with formals
 * (x_0..x_{nin-1}, y, gy) -> nin results (the input adjoints). The graph takes both. */
IrVal ir_custom_grad(IrGraph *g, int nin, const IrVal *in, IrGraph *fwd, IrGraph *bwd);
/* scan: body formals are (carry_0..carry_{nc-1}, x_0..x_{nx-1}, const_0..const_{nk-1}),
 * its results (carry'_0.., y_0..). Each xs[j] has the time axis `axis`; ys are stacked
 * along the same axis. Outputs: final carries then stacked ys. The graph takes `body`.
 * reverse: iterate t = T-1 .. 0 (ys are still indexed by t). The random ops of the body
 * get fresh stream ids of g (so two scans never share random numbers). */
IrNode *ir_scan(IrGraph *g, IrGraph *body, int nc, const IrVal *init, int nx, const IrVal *xs,
                int nk, const IrVal *consts, int axis, int reverse);
/* A scan without step inputs, T steps (body formals: carries, constants); ys stack on
 * axis 0. For rollouts and generation. */
IrNode *ir_scan_len(IrGraph *g, IrGraph *body, int nc, const IrVal *init, int64_t T, int nk,
                    const IrVal *consts, int reverse);

/* A call of host function `name` (an `extern fn`) on nin inputs, with nout results of
 * types rt (the declaration's return type). Attributes: ints[0] = nout, then per result
 * dtype, rank, dims. The node keeps the name; CSE never merges two calls (a host function
 * may have effects), folding never runs one, and a gradient reaching one fails ad_vjp. */
#define IR_HOST_MAX_ARGS 12   /* inputs + results of one host call */
IrNode *ir_host_call(IrGraph *g, const char *name, int nin, const IrVal *in, int nout, const IrType *rt);

/* Host functions the interpreter and compiled code call for OP_HOST_CALL: one buffer per
 * input and per result in the dtype's native layout (f32 as float, i32 as int32_t, bool as
 * uint8_t), with the traced types. Results are preallocated (zeroed); call returns 0, or
 * non-zero with a message in msg. check (may be NULL) is asked at trace time whether the
 * traced types fit the registered signature; 0 yes, else -1 with msg. */
typedef int (*IrHostCall)(void *ud, int nin, const IrType *tin, void *const *in, int nout,
                          const IrType *tout, void *const *out, char *msg, size_t cap);
typedef struct IrHostFn {
  const char *name;
  IrHostCall call;
  int (*check)(void *ud, int nin, const IrType *tin, int nout, const IrType *tout, char *msg, size_t cap);
  void *ud;
} IrHostFn;
typedef struct IrHostTab {
  int n;
  const IrHostFn *fn;
  const char *unknown;  /* why a name may be missing (added to the message), or NULL */
} IrHostTab;
/* The function registered as name, or NULL (h may be NULL). */
const IrHostFn *ir_host_find(const IrHostTab *h, const char *name);

/* The broadcast of two shapes (numpy rules); 0 ok, -1 incompatible. */
int ir_broadcast_shapes(const IrShape *a, const IrShape *b, IrShape *out);

/* --------------------------------------------------- graph_print.c ---- */

/* Stable text dump: one line per node, e.g. "%12 = matmul %3, %7 : f32[128, 256]".
 * Returns a malloc'ed string (caller frees) or NULL when out of memory. */
char *ir_print_str(const IrGraph *g);
int ir_print(const IrGraph *g, FILE *f);

/* -------------------------------------------------------- verify.c ---- */

/* Checks SSA order, arity, dtypes, shapes re-derived by the shape rules, scan bodies.
 * Returns 0 if fine; else -1 with "after <pass>: <problem>" in msg. */
int ir_verify(const IrGraph *g, const char *after_pass, char *msg, size_t cap);

/* -------------------------------------------------------- interp.c ---- */

/* n elements between a dtype's native layout (float, double, int32, int64, one byte per
 * bool) and the interpreter's doubles. */
void ir_to_double(IrDType dt, const void *src, double *dst, int64_t n);
void ir_from_double(IrDType dt, const double *src, void *dst, int64_t n);

/* A tensor as the interpreter holds it: every dtype stored as double (exact for ints
 * up to 2^53; f32 values are rounded to float after every op; bit/bool are 0/1). */
typedef struct IrTensor {
  IrType t;
  double *data;
} IrTensor;

typedef struct IrInterp IrInterp;
IrInterp *ir_interp_new(const IrGraph *g); /* NULL when out of memory */
void ir_interp_free(IrInterp *I);
const char *ir_interp_error(const IrInterp *I);
void ir_interp_set_seed(IrInterp *I, uint64_t seed);
/* The host functions OP_HOST_CALL nodes call (kept by pointer; NULL: none). */
void ir_interp_set_hosts(IrInterp *I, const IrHostTab *h);
/* Binds a leaf (input, param or state) by name / by value id. Copies numel doubles. */
int ir_interp_bind(IrInterp *I, const char *name, const double *data);
int ir_interp_bind_id(IrInterp *I, IrVal v, const double *data);
/* Unbound params/states are zero; an unbound input is an error. */
int ir_interp_run(IrInterp *I);
/* A value's tensor after a run (owned by I), NULL if not computed. */
const IrTensor *ir_interp_value(const IrInterp *I, IrVal v);
/* One-shot: runs subgraph g on the given argument tensors (formals in order), writing
 * results into res[0..g->nouts-1] (caller frees res[i].data). msg gets the error. */
int ir_interp_call(const IrGraph *g, uint64_t seed, uint64_t step, const IrTensor *args,
                   IrTensor *res, char *msg, size_t cap);

/* ------------------------------------------------------ autodiff.c ---- */

/* Reverse mode. Appends to g the nodes computing, for each wrt[i], the gradient of the
 * sum over k of <outs[k], gouts[k]> (a vector-Jacobian product). gouts[k] == IR_NONE
 * means a ones tensor. grads[i] is a zeros constant where there is no path. */
int ad_vjp(IrGraph *g, int nout, const IrVal *outs, const IrVal *gouts, int nwrt,
           const IrVal *wrt, IrVal *grads);
/* Gradient of the scalar loss w.r.t. each wrt value. */
int ad_grad(IrGraph *g, IrVal loss, int nwrt, const IrVal *wrt, IrVal *grads);
/* Gradient of the scalar loss w.r.t. every param (in ir_leaves order). grads must hold
 * ir_leaves(g, OP_PARAM, NULL, 0) entries. */
int ad_grad_params(IrGraph *g, IrVal loss, IrVal *grads);
/* Sums adjoint a into the shape of x (un-broadcast): reduces the broadcast axes. */
IrVal ad_unbroadcast(IrGraph *g, IrVal a, const IrShape *to);

/* -------------------------------------------------- simplify.c / cse.c ---- */

typedef struct IrPassOpts {
  int no_fold;     /* constant folding off */
  int no_identity; /* algebraic identities off */
  int no_dce;      /* dead-code elimination off */
} IrPassOpts;
/* Each pass rewrites g in place (new value ids: callers read results from g->outs). */
int ir_simplify(IrGraph *g, const IrPassOpts *o);
int ir_cse(IrGraph *g);
/* Copies g into a new graph keeping only nodes that reach g->outs (leaves are kept). */
IrGraph *ir_graph_clone(const IrGraph *g);
/* scan_hoist.c: computes each scan's per-step input computations (x_t @ W, elementwise
 * ops of x_t and constants) for all steps before the scan; run before autodiff. Rebuilds
 * g: vmap (NULL or [old g->nvals]) gets old value -> new value; *origin (NULL or a
 * malloc'ed [new g->nnodes], caller frees) the old node each new node comes from (the
 * scan for hoisted ones); *nhoisted the number of scans changed. 0 or -1 (message in g). */
int ir_scan_hoist(IrGraph *g, IrVal *vmap, int **origin, int *nhoisted);
/* scan_hoist.c, after autodiff: a scan body's matmul by a transposed constant (h @ Wh^T)
 * reads transpose(Wh), computed once before the scan, as a new constant. Same contract. */
int ir_scan_pretranspose(IrGraph *g, IrVal *vmap, int **origin, int *nscans);

/* ------------------------------------------ shared by the IR's own .c files ---- */

/* Deep-copies subgraph src. NULL when out of memory. */
IrGraph *ir_subgraph_copy(const IrGraph *src);
/* Copies node n of graph src into dst, its inputs renamed through map (src value -> dst
 * value), output types kept. NULL on failure (message in dst). */
IrNode *ir_copy_node(IrGraph *dst, const IrGraph *src, const IrNode *n, const IrVal *map);
/* Exchanges the contents of two graphs (passes build a new graph, then swap). */
void ir_graph_swap(IrGraph *a, IrGraph *b);
/* Inlines subgraph sub into g: formals map to args; results written to res. */
int ir_inline(IrGraph *g, const IrGraph *sub, const IrVal *args, IrVal *res);
/* ir_scan without renumbering the body's random streams (autodiff: a backward body
 * recomputes the forward's draws). */
IrNode *ir_scan_keep_streams(IrGraph *g, IrGraph *body, int nc, const IrVal *init, int nx,
                             const IrVal *xs, int nk, const IrVal *consts, int axis, int reverse);
/* Makes x of type t: the value itself, or a zeros constant when x == IR_NONE. */
IrVal ir_or_zeros(IrGraph *g, IrVal x, const IrType *t);

#endif
