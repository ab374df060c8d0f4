/* interp.c — the reference interpreter: executes a graph (scan and custom_grad included)
 * with plain loops over doubles. It is the JIT's test oracle, so every kernel here is the
 * most obvious one (index arithmetic by unravelling flat indices), never a fast one.
 *
 * Storage: every tensor is double[numel], row-major. After each op, f32 results are rounded
 * to float, integer results truncated to their width and bool/bit results made 0/1.
 * Random ops call the runtime's Philox (nnrt_rand_uniform/normal) with
 * (seed, ir_rng_stream(node stream, step), element index); step is the scan time index. */
#include <float.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "nnrt.h"

struct IrInterp {
  const IrGraph *g;
  int nvals;       /* g->nvals when created (the graph may grow later) */
  IrTensor *v;     /* per value */
  char *bound;     /* per value: a bound leaf */
  uint64_t seed;
  uint64_t step;   /* scan step context for RNG streams */
  uint64_t outer;  /* the step of the enclosing scan's graph (per-sequence dropout) */
  const IrHostTab *hosts; /* host functions (OP_HOST_CALL); NULL: none */
  char err[512];
};

typedef int (*EvalFn)(IrInterp *I, const IrNode *n);
#define OP(E, name, arity, kind, flags, shape, grad, eval, sc, lower) \
  static int eval(IrInterp *I, const IrNode *n);
#include "ops.def"
#undef OP
static const EvalFn evals[OP_NOPS] = {
#define OP(E, name, arity, kind, flags, shape, grad, eval, sc, lower) [OP_##E] = eval,
#include "ops.def"
#undef OP
};

static int fail(IrInterp *I, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(IrInterp *I, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(I->err, sizeof I->err, fmt, ap);
  va_end(ap);
  return -1;
}

/* ------------------------------------------------------------- helpers ---- */

static IrTensor *in(IrInterp *I, const IrNode *n, int i) { return &I->v[n->in[i]]; }
static IrTensor *out(IrInterp *I, const IrNode *n, int i) { return &I->v[n->out[i]]; }
static int64_t numel(const IrTensor *t) { return ir_numel(&t->t.shape); }
static int is_int(IrDType d) { return !ir_is_float(d); }

/* Converts x to what dtype dt can hold. */
static double store(IrDType dt, double x)
{
  switch (dt) {
  case IR_F32: return (double)(float)x;
  case IR_F64: return x;
  case IR_I32: return isfinite(x) && fabs(x) < 9.2e18 ? (double)(int32_t)(int64_t)x : 0;
  case IR_I64: return isfinite(x) && fabs(x) < 9.2e18 ? (double)(int64_t)x : 0;
  default: return x != 0;
  }
}

static void store_all(IrTensor *t)
{
  int64_t k = numel(t);
  for (int64_t i = 0; i < k; i++) t->data[i] = store(t->t.dtype, t->data[i]);
}

/* Unravels flat index f over shape s into idx[]. */
static void unravel(const IrShape *s, int64_t f, int64_t *idx)
{
  for (int i = s->rank - 1; i >= 0; i--) {
    int64_t d = s->dim[i] ? s->dim[i] : 1;
    idx[i] = f % d;
    f /= d;
  }
}

static int64_t ravel(const IrShape *s, const int64_t *idx)
{
  int64_t f = 0;
  for (int i = 0; i < s->rank; i++) f = f * s->dim[i] + idx[i];
  return f;
}

/* Offset in a tensor of shape in (broadcast against out) of out's flat element f. */
static int64_t bcast_off(const IrShape *in, const IrShape *o, int64_t f)
{
  int64_t idx[IR_MAX_RANK], j[IR_MAX_RANK];
  unravel(o, f, idx);
  for (int i = 0; i < in->rank; i++) {
    int oi = o->rank - in->rank + i;
    j[i] = in->dim[i] == 1 ? 0 : idx[oi];
  }
  return ravel(in, j);
}

/* outer/len/inner decomposition of shape s around axis ax. */
static void around(const IrShape *s, int ax, int64_t *outer, int64_t *len, int64_t *inner)
{
  *outer = *inner = 1;
  for (int i = 0; i < ax; i++) *outer *= s->dim[i];
  for (int i = ax + 1; i < s->rank; i++) *inner *= s->dim[i];
  *len = s->dim[ax];
}

/* Per-sequence dropout (ints[0] = 1) ignores the innermost scan's time index. */
static uint64_t stream_of(const IrInterp *I, const IrNode *n)
{
  int per_seq = n->op == OP_DROPOUT && n->attr.nint > 0 && n->attr.ints[0];
  return ir_rng_stream(n->attr.stream, per_seq ? I->outer : I->step);
}

/* ------------------------------------------------------------- leaves ---- */

static int ev_leaf(IrInterp *I, const IrNode *n)
{
  IrTensor *o = out(I, n, 0);
  if (n->op == OP_CONST) {
    for (int64_t i = 0, k = numel(o); i < k; i++) o->data[i] = n->cdata[n->ncdata == 1 ? 0 : i];
    return 0;
  }
  if (I->bound[n->out[0]]) return 0;
  if (n->op == OP_INPUT) return fail(I, "input '%s' is not bound", n->name ? n->name : "?");
  return 0; /* params and states default to zeros */
}

/* ---------------------------------------------------------- elementwise ---- */

static int ev_ew(IrInterp *I, const IrNode *n)
{
  IrTensor *o = out(I, n, 0);
  IrScalarOp sc = ir_ops[n->op].scalar;
  int isint = is_int(in(I, n, n->nin - 1)->t.dtype);
  double p0 = n->attr.flts[0], p1 = n->attr.flts[1];
  for (int64_t i = 0, k = numel(o); i < k; i++) {
    double x[3] = {0, 0, 0};
    for (int j = 0; j < n->nin; j++) {
      IrTensor *t = in(I, n, j);
      x[j] = t->data[bcast_off(&t->t.shape, &o->t.shape, i)];
    }
    o->data[i] = ir_scalar_eval(sc, isint, x[0], x[1], x[2], p0, p1);
  }
  return 0;
}

static int ev_copy(IrInterp *I, const IrNode *n)
{
  memcpy(out(I, n, 0)->data, in(I, n, 0)->data, (size_t)numel(in(I, n, 0)) * sizeof(double));
  return 0;
}

/* ---------------------------------------------------------- reductions ---- */

/* Flat index in the reduced (keepdims) shape of input element f. */
static int64_t reduced_index(const IrShape *s, const int *red, int64_t f)
{
  int64_t idx[IR_MAX_RANK];
  IrShape k = *s;
  unravel(s, f, idx);
  for (int i = 0; i < s->rank; i++)
    if (red[i]) {
      idx[i] = 0;
      k.dim[i] = 1;
    }
  return ravel(&k, idx);
}

static int ev_reduce(IrInterp *I, const IrNode *n)
{
  IrTensor *x = in(I, n, 0), *o = out(I, n, 0);
  int red[IR_MAX_RANK] = {0};
  for (int i = 1; i < n->attr.nint; i++) red[n->attr.ints[i]] = 1;
  int64_t no = numel(o), nx = numel(x), cnt = no ? nx / no : 0;
  double init = n->op == OP_PROD ? 1 : n->op == OP_MAX || n->op == OP_LOGSUMEXP ? -INFINITY
                                     : n->op == OP_MIN ? INFINITY : 0;
  for (int64_t i = 0; i < no; i++) o->data[i] = init;
  for (int64_t i = 0; i < nx; i++) {
    double v = x->data[i], *a = &o->data[reduced_index(&x->t.shape, red, i)];
    switch (n->op) {
    case OP_PROD: *a *= v; break;
    case OP_MAX: case OP_LOGSUMEXP: if (v > *a) *a = v; break;
    case OP_MIN: if (v < *a) *a = v; break;
    default: *a += v;
    }
  }
  if (n->op == OP_MEAN)
    for (int64_t i = 0; i < no; i++) o->data[i] /= (double)(cnt ? cnt : 1);
  if (n->op != OP_LOGSUMEXP) return 0;
  double *s = calloc((size_t)(no ? no : 1), sizeof *s);
  if (!s) return fail(I, "out of memory");
  for (int64_t i = 0; i < nx; i++) {
    int64_t r = reduced_index(&x->t.shape, red, i);
    if (isfinite(o->data[r])) s[r] += exp(x->data[i] - o->data[r]);
  }
  for (int64_t i = 0; i < no; i++)
    if (isfinite(o->data[i])) o->data[i] += log(s[i]);
  free(s);
  return 0;
}

static int ev_argmax(IrInterp *I, const IrNode *n)
{
  IrTensor *x = in(I, n, 0), *o = out(I, n, 0);
  int64_t outer, len, inner;
  around(&x->t.shape, (int)n->attr.ints[1], &outer, &len, &inner);
  for (int64_t a = 0; a < outer; a++)
    for (int64_t c = 0; c < inner; c++) {
      int64_t best = 0;
      for (int64_t j = 1; j < len; j++) {
        double v = x->data[(a * len + j) * inner + c], b = x->data[(a * len + best) * inner + c];
        if (n->op == OP_ARGMIN ? v < b : v > b) best = j;
      }
      o->data[a * inner + c] = (double)best;
    }
  return 0;
}

/* topk by selection: k passes, each taking the best element not yet taken (ties: the
 * lower index). O(k n) per row: the oracle, not a fast sort. */
static int ev_topk(IrInterp *I, const IrNode *n)
{
  IrTensor *x = in(I, n, 0), *v = out(I, n, 0), *ix = out(I, n, 1);
  int64_t outer, len, inner, k = n->attr.ints[0];
  int asc = (int)n->attr.ints[2];
  around(&x->t.shape, (int)n->attr.ints[1], &outer, &len, &inner);
  char *taken = malloc((size_t)(len ? len : 1));
  if (!taken) return fail(I, "out of memory");
  for (int64_t a = 0; a < outer; a++)
    for (int64_t c = 0; c < inner; c++) {
      memset(taken, 0, (size_t)len);
      for (int64_t r = 0; r < k; r++) {
        int64_t best = -1;
        for (int64_t j = 0; j < len; j++) {
          double xj = x->data[(a * len + j) * inner + c];
          if (taken[j]) continue;
          if (best < 0) best = j;
          double xb = x->data[(a * len + best) * inner + c];
          if (asc ? xj < xb : xj > xb) best = j;
        }
        taken[best] = 1;
        v->data[(a * k + r) * inner + c] = x->data[(a * len + best) * inner + c];
        ix->data[(a * k + r) * inner + c] = (double)best;
      }
    }
  free(taken);
  return 0;
}

/* --------------------------------------------------------- contractions ---- */

static int ev_matmul(IrInterp *I, const IrNode *n)
{
  IrTensor *A = in(I, n, 0), *B = in(I, n, 1), *C = out(I, n, 0);
  int ta = (int)n->attr.ints[0], tb = (int)n->attr.ints[1];
  const IrShape *as = &A->t.shape, *bs = &B->t.shape, *cs = &C->t.shape;
  int64_t M = cs->dim[cs->rank - 2], N = cs->dim[cs->rank - 1];
  int64_t K = as->dim[as->rank - (ta ? 2 : 1)];
  int64_t ar = as->dim[as->rank - 2], ac = as->dim[as->rank - 1];
  int64_t br = bs->dim[bs->rank - 2], bc = bs->dim[bs->rank - 1];
  IrShape cb = *cs, ab = *as, bb = *bs;
  cb.rank -= 2, ab.rank -= 2, bb.rank -= 2;
  for (int64_t b = 0, nb = ir_numel(&cb); b < nb; b++) {
    const double *a = A->data + bcast_off(&ab, &cb, b) * ar * ac;
    const double *bm = B->data + bcast_off(&bb, &cb, b) * br * bc;
    double *c = C->data + b * M * N;
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) {
        double s = 0;
        for (int64_t k = 0; k < K; k++)
          s += (ta ? a[k * ac + i] : a[i * ac + k]) * (tb ? bm[j * bc + k] : bm[k * bc + j]);
        c[i * N + j] = s;
      }
  }
  return 0;
}

/* Geometry of a 2-D convolution: x[N, C, H, W], w[O, C, KH, KW], y[N, O, Ho, Wo]. */
typedef struct {
  int64_t N, C, H, W, O, KH, KW, Ho, Wo, sh, sw, ph, pw;
} Conv;

static Conv conv_geom(const IrShape *x, const IrShape *w, const IrShape *y, const int64_t *a, int one_d)
{
  Conv c;
  c.N = x->dim[0], c.C = x->dim[1], c.O = y->dim[1];
  if (one_d) {
    c.H = 1, c.W = x->dim[2], c.KH = 1, c.KW = w->dim[2], c.Ho = 1, c.Wo = y->dim[2];
    c.sh = 1, c.sw = a[0], c.ph = 0, c.pw = a[1];
  } else {
    c.H = x->dim[2], c.W = x->dim[3], c.KH = w->dim[2], c.KW = w->dim[3], c.Ho = y->dim[2], c.Wo = y->dim[3];
    c.sh = a[0], c.sw = a[1], c.ph = a[2], c.pw = a[3];
  }
  return c;
}

static int conv_fwd(IrInterp *I, const IrNode *n, int one_d)
{
  IrTensor *X = in(I, n, 0), *Wt = in(I, n, 1), *Y = out(I, n, 0);
  Conv c = conv_geom(&X->t.shape, &Wt->t.shape, &Y->t.shape, n->attr.ints, one_d);
  for (int64_t b = 0; b < c.N; b++)
    for (int64_t o = 0; o < c.O; o++)
      for (int64_t h = 0; h < c.Ho; h++)
        for (int64_t w = 0; w < c.Wo; w++) {
          double s = 0;
          for (int64_t ch = 0; ch < c.C; ch++)
            for (int64_t i = 0; i < c.KH; i++)
              for (int64_t j = 0; j < c.KW; j++) {
                int64_t ih = h * c.sh - c.ph + i, iw = w * c.sw - c.pw + j;
                if (ih < 0 || ih >= c.H || iw < 0 || iw >= c.W) continue;
                s += X->data[((b * c.C + ch) * c.H + ih) * c.W + iw] *
                     Wt->data[((o * c.C + ch) * c.KH + i) * c.KW + j];
              }
          Y->data[((b * c.O + o) * c.Ho + h) * c.Wo + w] = s;
        }
  return 0;
}

static int ev_conv1d(IrInterp *I, const IrNode *n) { return conv_fwd(I, n, 1); }
static int ev_conv2d(IrInterp *I, const IrNode *n) { return conv_fwd(I, n, 0); }

/* y[N, O, Ho, Wo] += x[N, C, H, W] * w[C, O, KH, KW] at (h*s - p + i). */
static int ev_conv_t2d(IrInterp *I, const IrNode *n)
{
  IrTensor *X = in(I, n, 0), *Wt = in(I, n, 1), *Y = out(I, n, 0);
  const int64_t *a = n->attr.ints, *xs = X->t.shape.dim, *ys = Y->t.shape.dim, *ws = Wt->t.shape.dim;
  int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], O = ys[1], Ho = ys[2], Wo = ys[3];
  int64_t KH = ws[2], KW = ws[3];
  memset(Y->data, 0, (size_t)numel(Y) * sizeof(double));
  for (int64_t b = 0; b < N; b++)
    for (int64_t ch = 0; ch < C; ch++)
      for (int64_t h = 0; h < H; h++)
        for (int64_t w = 0; w < W; w++)
          for (int64_t o = 0; o < O; o++)
            for (int64_t i = 0; i < KH; i++)
              for (int64_t j = 0; j < KW; j++) {
                int64_t oh = h * a[0] - a[2] + i, ow = w * a[1] - a[3] + j;
                if (oh < 0 || oh >= Ho || ow < 0 || ow >= Wo) continue;
                Y->data[((b * O + o) * Ho + oh) * Wo + ow] +=
                    X->data[((b * C + ch) * H + h) * W + w] * Wt->data[((ch * O + o) * KH + i) * KW + j];
              }
  return 0;
}

/* dw[O, C, KH, KW] = sum x[n, c, h*s - p + i, ...] * gy[n, o, h, w]. */
static int ev_wgrad(IrInterp *I, const IrNode *n)
{
  IrTensor *X = in(I, n, 0), *G = in(I, n, 1), *D = out(I, n, 0);
  int64_t a6[4] = {n->attr.ints[0], n->attr.ints[1], n->attr.ints[2], n->attr.ints[3]};
  Conv c = conv_geom(&X->t.shape, &D->t.shape, &G->t.shape, a6, 0);
  for (int64_t o = 0; o < c.O; o++)
    for (int64_t ch = 0; ch < c.C; ch++)
      for (int64_t i = 0; i < c.KH; i++)
        for (int64_t j = 0; j < c.KW; j++) {
          double s = 0;
          for (int64_t b = 0; b < c.N; b++)
            for (int64_t h = 0; h < c.Ho; h++)
              for (int64_t w = 0; w < c.Wo; w++) {
                int64_t ih = h * c.sh - c.ph + i, iw = w * c.sw - c.pw + j;
                if (ih < 0 || ih >= c.H || iw < 0 || iw >= c.W) continue;
                s += X->data[((b * c.C + ch) * c.H + ih) * c.W + iw] * G->data[((b * c.O + o) * c.Ho + h) * c.Wo + w];
              }
          D->data[((o * c.C + ch) * c.KH + i) * c.KW + j] = s;
        }
  return 0;
}

/* ------------------------------------------------------------- pooling ---- */

/* Calls fn for every (plane, output position, input position in the window). The window
 * of output (h, w) covers input rows h*sh - ph .. + kh - 1 (clipped to the input). */
typedef void (*PoolFn)(void *ctx, int64_t plane, int64_t oi, int64_t ii, int first);
static void pool_walk(const int64_t *a, const IrShape *xs, const IrShape *ys, PoolFn fn, void *ctx)
{
  int64_t P = xs->dim[0] * xs->dim[1], H = xs->dim[2], W = xs->dim[3], Ho = ys->dim[2], Wo = ys->dim[3];
  for (int64_t p = 0; p < P; p++)
    for (int64_t h = 0; h < Ho; h++)
      for (int64_t w = 0; w < Wo; w++) {
        int first = 1;
        for (int64_t i = 0; i < a[0]; i++)
          for (int64_t j = 0; j < a[1]; j++) {
            int64_t ih = h * a[2] - a[4] + i, iw = w * a[3] - a[5] + j;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            fn(ctx, p, (p * Ho + h) * Wo + w, (p * H + ih) * W + iw, first);
            first = 0;
          }
      }
}

typedef struct {
  const double *x, *g;
  double *y;
  int64_t *arg;
  double scale;
} PoolCtx;

static void max_step(void *c, int64_t p, int64_t oi, int64_t ii, int first)
{
  PoolCtx *q = c;
  if (first || q->x[ii] > q->y[oi]) {
    q->y[oi] = q->x[ii];
    if (q->arg) q->arg[oi] = ii;
  }
}

static void avg_step(void *c, int64_t p, int64_t oi, int64_t ii, int first)
{
  PoolCtx *q = c;
  q->y[oi] += q->x[ii] * q->scale;
}

static void avg_back_step(void *c, int64_t p, int64_t oi, int64_t ii, int first)
{
  PoolCtx *q = c;
  q->y[ii] += q->g[oi] * q->scale;
}

static int ev_maxpool(IrInterp *I, const IrNode *n)
{
  PoolCtx q = {in(I, n, 0)->data, NULL, out(I, n, 0)->data, NULL, 1};
  pool_walk(n->attr.ints, &in(I, n, 0)->t.shape, &out(I, n, 0)->t.shape, max_step, &q);
  return 0;
}

static int ev_avgpool(IrInterp *I, const IrNode *n)
{
  PoolCtx q = {in(I, n, 0)->data, NULL, out(I, n, 0)->data, NULL,
               1.0 / (double)(n->attr.ints[0] * n->attr.ints[1])};
  memset(q.y, 0, (size_t)numel(out(I, n, 0)) * sizeof(double));
  pool_walk(n->attr.ints, &in(I, n, 0)->t.shape, &out(I, n, 0)->t.shape, avg_step, &q);
  return 0;
}

static int ev_maxpool_grad(IrInterp *I, const IrNode *n)
{
  IrTensor *X = in(I, n, 0), *G = in(I, n, 1), *D = out(I, n, 0);
  int64_t ng = numel(G);
  double *y = malloc((size_t)(ng ? ng : 1) * sizeof *y);
  int64_t *arg = malloc((size_t)(ng ? ng : 1) * sizeof *arg);
  if (!y || !arg) {
    free(y), free(arg);
    return fail(I, "out of memory");
  }
  PoolCtx q = {X->data, NULL, y, arg, 1};
  pool_walk(n->attr.ints, &X->t.shape, &G->t.shape, max_step, &q);
  memset(D->data, 0, (size_t)numel(D) * sizeof(double));
  for (int64_t i = 0; i < ng; i++) D->data[arg[i]] += G->data[i];
  free(y), free(arg);
  return 0;
}

static int ev_maxpool_select(IrInterp *I, const IrNode *n)
{
  IrTensor *X = in(I, n, 0), *H = in(I, n, 1), *Y = out(I, n, 0);
  int64_t ny = numel(Y);
  double *m = malloc((size_t)(ny ? ny : 1) * sizeof *m);
  int64_t *arg = malloc((size_t)(ny ? ny : 1) * sizeof *arg);
  if (!m || !arg) {
    free(m), free(arg);
    return fail(I, "out of memory");
  }
  PoolCtx q = {X->data, NULL, m, arg, 1};
  pool_walk(n->attr.ints, &X->t.shape, &Y->t.shape, max_step, &q);
  for (int64_t i = 0; i < ny; i++) Y->data[i] = H->data[arg[i]];
  free(m), free(arg);
  return 0;
}

static int ev_avgpool_grad(IrInterp *I, const IrNode *n)
{
  IrTensor *G = in(I, n, 0), *D = out(I, n, 0);
  PoolCtx q = {NULL, G->data, D->data, NULL, 1.0 / (double)(n->attr.ints[0] * n->attr.ints[1])};
  memset(D->data, 0, (size_t)numel(D) * sizeof(double));
  pool_walk(n->attr.ints, &D->t.shape, &G->t.shape, avg_back_step, &q);
  return 0;
}

/* -------------------------------------------------- softmax and losses ---- */

static int ev_softmax(IrInterp *I, const IrNode *n)
{
  IrTensor *x = in(I, n, 0), *y = out(I, n, 0);
  int64_t outer, len, inner;
  around(&x->t.shape, (int)n->attr.ints[0], &outer, &len, &inner);
  for (int64_t a = 0; a < outer; a++)
    for (int64_t c = 0; c < inner; c++) {
      double m = -INFINITY, s = 0;
      for (int64_t j = 0; j < len; j++) m = fmax(m, x->data[(a * len + j) * inner + c]);
      for (int64_t j = 0; j < len; j++) s += exp(x->data[(a * len + j) * inner + c] - m);
      for (int64_t j = 0; j < len; j++) {
        double v = x->data[(a * len + j) * inner + c] - m;
        y->data[(a * len + j) * inner + c] = n->op == OP_SOFTMAX ? exp(v) / s : v - log(s);
      }
    }
  return 0;
}

/* Per-element or per-row loss terms of a loss node into l[]; returns the count or -1. */
static int64_t loss_terms(IrInterp *I, const IrNode *n, double *l)
{
  IrTensor *a = in(I, n, 0), *b = in(I, n, 1);
  const IrShape *s = &a->t.shape;
  int64_t rows = s->rank ? s->dim[0] : 1, cols = rows ? numel(a) / rows : 0;
  if (n->op == OP_BCE_LOGITS || n->op == OP_MSE) {
    for (int64_t i = 0, k = numel(a); i < k; i++) {
      double x = a->data[i], y = b->data[i];
      l[i] = n->op == OP_MSE ? (x - y) * (x - y) : fmax(x, 0) - x * y + log1p(exp(-fabs(x)));
    }
    return numel(a);
  }
  for (int64_t r = 0; r < rows; r++) {
    const double *x = a->data + r * cols;
    if (n->op == OP_KL) {
      l[r] = 0;
      for (int64_t j = 0; j < cols; j++) l[r] += exp(x[j]) * (x[j] - b->data[r * cols + j]);
      continue;
    }
    int64_t t = (int64_t)b->data[r];
    if (t < 0 || t >= cols) return fail(I, "%s: target %lld of row %lld outside [0, %lld)", ir_ops[n->op].name,
                                        (long long)t, (long long)r, (long long)cols);
    double m = -INFINITY, s2 = 0;
    for (int64_t j = 0; j < cols; j++) m = fmax(m, x[j]);
    for (int64_t j = 0; j < cols; j++) s2 += exp(x[j] - m);
    l[r] = n->op == OP_NLL ? -x[t] : m + log(s2) - x[t];
  }
  return rows;
}

static int ev_loss(IrInterp *I, const IrNode *n)
{
  IrTensor *o = out(I, n, 0);
  int64_t cap = numel(in(I, n, 0));
  double *l = malloc((size_t)(cap ? cap : 1) * sizeof *l);
  if (!l) return fail(I, "out of memory");
  int64_t k = loss_terms(I, n, l), red = n->attr.ints[0];
  if (k < 0) {
    free(l);
    return -1;
  }
  if (red == 2) {
    memcpy(o->data, l, (size_t)k * sizeof *l);
  } else {
    double s = 0;
    for (int64_t i = 0; i < k; i++) s += l[i];
    o->data[0] = red == 0 ? s / (double)(k ? k : 1) : s;
  }
  free(l);
  return 0;
}

/* ------------------------------------------------------------ indexing ---- */

/* gather/scatter geometry: x = [pre, D, post], idx = [J], src/out = [pre, J, post]. */
static int take_geom(IrInterp *I, const IrNode *n, int64_t *pre, int64_t *D, int64_t *J, int64_t *post)
{
  around(&in(I, n, 0)->t.shape, (int)n->attr.ints[0], pre, D, post);
  *J = numel(in(I, n, 1));
  const double *idx = in(I, n, 1)->data;
  for (int64_t j = 0; j < *J; j++)
    if (idx[j] < 0 || idx[j] >= (double)*D)
      return fail(I, "%s: index %lld outside [0, %lld)", ir_ops[n->op].name, (long long)idx[j], (long long)*D);
  return 0;
}

static int ev_gather(IrInterp *I, const IrNode *n)
{
  int64_t pre, D, J, post;
  if (take_geom(I, n, &pre, &D, &J, &post)) return -1;
  const double *x = in(I, n, 0)->data, *idx = in(I, n, 1)->data;
  double *y = out(I, n, 0)->data;
  for (int64_t p = 0; p < pre; p++)
    for (int64_t j = 0; j < J; j++)
      for (int64_t q = 0; q < post; q++)
        y[(p * J + j) * post + q] = x[(p * D + (int64_t)idx[j]) * post + q];
  return 0;
}

static int ev_scatter(IrInterp *I, const IrNode *n)
{
  int64_t pre, D, J, post;
  if (take_geom(I, n, &pre, &D, &J, &post)) return -1;
  const double *idx = in(I, n, 1)->data, *src = in(I, n, 2)->data;
  double *y = out(I, n, 0)->data;
  memcpy(y, in(I, n, 0)->data, (size_t)numel(in(I, n, 0)) * sizeof(double));
  for (int64_t p = 0; p < pre; p++)
    for (int64_t j = 0; j < J; j++)
      for (int64_t q = 0; q < post; q++) y[(p * D + (int64_t)idx[j]) * post + q] += src[(p * J + j) * post + q];
  return 0;
}

/* Offset in x of idx's element i for take_along/put_along_add (-1: out of range). */
static int64_t along_off(const IrShape *xs, const IrShape *is, int ax, const double *idx, int64_t i)
{
  int64_t k[IR_MAX_RANK];
  unravel(is, i, k);
  if (idx[i] < 0 || idx[i] >= (double)xs->dim[ax]) return -1;
  k[ax] = (int64_t)idx[i];
  return ravel(xs, k);
}

static int ev_take_along(IrInterp *I, const IrNode *n)
{
  IrTensor *x = in(I, n, 0), *idx = in(I, n, 1), *y = out(I, n, 0);
  for (int64_t i = 0, k = numel(idx); i < k; i++) {
    int64_t o = along_off(&x->t.shape, &idx->t.shape, (int)n->attr.ints[0], idx->data, i);
    if (o < 0) return fail(I, "take_along: index %lld out of range", (long long)idx->data[i]);
    y->data[i] = x->data[o];
  }
  return 0;
}

static int ev_put_along(IrInterp *I, const IrNode *n)
{
  IrTensor *x = in(I, n, 0), *idx = in(I, n, 1), *src = in(I, n, 2), *y = out(I, n, 0);
  memcpy(y->data, x->data, (size_t)numel(x) * sizeof(double));
  for (int64_t i = 0, k = numel(idx); i < k; i++) {
    int64_t o = along_off(&x->t.shape, &idx->t.shape, (int)n->attr.ints[0], idx->data, i);
    if (o < 0) return fail(I, "put_along_add: index %lld out of range", (long long)idx->data[i]);
    y->data[o] += src->data[i];
  }
  return 0;
}

/* Out-of-range indices (e.g. -1 padding) give an all-zero row. */
static int ev_one_hot(IrInterp *I, const IrNode *n)
{
  IrTensor *x = in(I, n, 0), *y = out(I, n, 0);
  int64_t depth = n->attr.ints[0];
  memset(y->data, 0, (size_t)numel(y) * sizeof(double));
  for (int64_t i = 0, k = numel(x); i < k; i++)
    if (x->data[i] >= 0 && x->data[i] < (double)depth) y->data[i * depth + (int64_t)x->data[i]] = 1;
  return 0;
}

/* ------------------------------------------------------- data movement ---- */

/* Copies block-wise along axis: part (shape ps) <-> whole at offset off on axis ax. */
static void move_part(double *whole, const IrShape *ws, double *part, const IrShape *ps, int ax,
                      int64_t off, int to_whole)
{
  int64_t outer, wl, inner, pl;
  around(ws, ax, &outer, &wl, &inner);
  pl = ps->dim[ax];
  for (int64_t a = 0; a < outer; a++)
    for (int64_t j = 0; j < pl; j++)
      for (int64_t c = 0; c < inner; c++) {
        double *w = &whole[(a * wl + off + j) * inner + c], *p = &part[(a * pl + j) * inner + c];
        if (to_whole) *w = *p;
        else *p = *w;
      }
}

static int ev_concat(IrInterp *I, const IrNode *n)
{
  IrTensor *y = out(I, n, 0);
  int ax = (int)n->attr.ints[0];
  int64_t off = 0;
  for (int i = 0; i < n->nin; i++) {
    IrTensor *x = in(I, n, i);
    move_part(y->data, &y->t.shape, x->data, &x->t.shape, ax, off, 1);
    off += x->t.shape.dim[ax];
  }
  return 0;
}

static int ev_split(IrInterp *I, const IrNode *n)
{
  IrTensor *x = in(I, n, 0);
  int ax = (int)n->attr.ints[0];
  int64_t off = 0;
  for (int i = 0; i < n->nout; i++) {
    IrTensor *y = out(I, n, i);
    move_part(x->data, &x->t.shape, y->data, &y->t.shape, ax, off, 0);
    off += y->t.shape.dim[ax];
  }
  return 0;
}

static int ev_slice(IrInterp *I, const IrNode *n)
{
  IrTensor *x = in(I, n, 0), *y = out(I, n, 0);
  int64_t idx[IR_MAX_RANK];
  for (int64_t i = 0, k = numel(y); i < k; i++) {
    unravel(&y->t.shape, i, idx);
    for (int d = 0; d < y->t.shape.rank; d++) idx[d] += n->attr.ints[d];
    y->data[i] = x->data[ravel(&x->t.shape, idx)];
  }
  return 0;
}

static int ev_transpose(IrInterp *I, const IrNode *n)
{
  IrTensor *x = in(I, n, 0), *y = out(I, n, 0);
  int64_t oi[IR_MAX_RANK], ii[IR_MAX_RANK];
  for (int64_t i = 0, k = numel(y); i < k; i++) {
    unravel(&y->t.shape, i, oi);
    for (int d = 0; d < y->t.shape.rank; d++) ii[n->attr.ints[d]] = oi[d];
    y->data[i] = x->data[ravel(&x->t.shape, ii)];
  }
  return 0;
}

static int ev_broadcast_to(IrInterp *I, const IrNode *n)
{
  IrTensor *x = in(I, n, 0), *y = out(I, n, 0);
  for (int64_t i = 0, k = numel(y); i < k; i++) y->data[i] = x->data[bcast_off(&x->t.shape, &y->t.shape, i)];
  return 0;
}

static int ev_pad(IrInterp *I, const IrNode *n)
{
  IrTensor *x = in(I, n, 0), *y = out(I, n, 0);
  int64_t idx[IR_MAX_RANK];
  for (int64_t i = 0, k = numel(y); i < k; i++) y->data[i] = n->attr.flts[0];
  for (int64_t i = 0, k = numel(x); i < k; i++) {
    unravel(&x->t.shape, i, idx);
    for (int d = 0; d < x->t.shape.rank; d++) idx[d] += n->attr.ints[d];
    y->data[ravel(&y->t.shape, idx)] = x->data[i];
  }
  return 0;
}

/* ---------------------------------------------------------- randomness ---- */

static int ev_sample(IrInterp *I, const IrNode *n)
{
  IrTensor *y = out(I, n, 0);
  uint64_t st = stream_of(I, n);
  double a = n->attr.flts[0], b = n->attr.flts[1];
  for (int64_t i = 0, k = numel(y); i < k; i++) {
    double u = n->op == OP_NORMAL ? 0 : (double)nnrt_rand_uniform(I->seed, st, (uint64_t)i);
    switch (n->op) {
    case OP_UNIFORM: y->data[i] = a + (b - a) * u; break;
    case OP_NORMAL: y->data[i] = a + b * (double)nnrt_rand_normal(I->seed, st, (uint64_t)i); break;
    case OP_BERNOULLI: y->data[i] = u < in(I, n, 0)->data[i] ? 1 : 0; break;
    default: /* dropout: keep where u >= p */
      y->data[i] = u >= a ? in(I, n, 0)->data[i] / (1 - a) : 0;
    }
  }
  return 0;
}

/* Gumbel-max: argmax_c logits[c] - log(-log u_c), u drawn at index row*C + c. */
static int ev_categorical(IrInterp *I, const IrNode *n)
{
  IrTensor *x = in(I, n, 0), *y = out(I, n, 0);
  int64_t C = x->t.shape.dim[x->t.shape.rank - 1], rows = numel(y);
  uint64_t st = stream_of(I, n);
  for (int64_t r = 0; r < rows; r++) {
    double best = -INFINITY;
    int64_t arg = 0;
    for (int64_t c = 0; c < C; c++) {
      double u = (double)nnrt_rand_uniform(I->seed, st, (uint64_t)(r * C + c));
      double v = x->data[r * C + c] - log(-log(fmax(u, 1e-12)));
      if (v > best) best = v, arg = c;
    }
    y->data[r] = (double)arg;
  }
  return 0;
}

/* ------------------------------------------------------ custom and scan ---- */

/* Runs subgraph sub with args; results into res (allocated here). */
static int interp_call(const IrGraph *g, const IrHostTab *hosts, uint64_t seed, uint64_t step, uint64_t outer,
                       const IrTensor *args, IrTensor *res, char *msg, size_t cap);

static int call_sub(IrInterp *I, const IrGraph *sub, uint64_t step, uint64_t outer, const IrTensor *args,
                    IrTensor *res)
{
  char msg[400];
  if (interp_call(sub, I->hosts, I->seed, step, outer, args, res, msg, sizeof msg)) return fail(I, "%s", msg);
  return 0;
}

static int ev_custom(IrInterp *I, const IrNode *n)
{
  IrTensor *args = malloc((size_t)n->nin * sizeof *args), res;
  if (!args) return fail(I, "out of memory");
  for (int i = 0; i < n->nin; i++) args[i] = *in(I, n, i);
  int rc = call_sub(I, n->sub[0], I->step, I->outer, args, &res);
  free(args);
  if (rc) return -1;
  memcpy(out(I, n, 0)->data, res.data, (size_t)numel(&res) * sizeof(double));
  free(res.data);
  return 0;
}

/* Copies step t of stacked tensor s (time axis ax) into / out of one step's tensor. */
static void step_move(IrTensor *stk, int ax, int64_t t, IrTensor *one, int to_stack)
{
  IrShape ps = stk->t.shape;
  ps.dim[ax] = 1;
  move_part(stk->data, &stk->t.shape, one->data, &ps, ax, t, to_stack);
}

typedef struct {
  int nc, nx, nk, ny, ax, rev, saved;
  int64_t T;
} ScanGeom;

static ScanGeom scan_geom(IrInterp *I, const IrNode *n)
{
  ScanGeom s;
  s.nc = (int)n->attr.ints[0], s.nx = (int)n->attr.ints[1], s.nk = (int)n->attr.ints[2];
  s.ax = (int)n->attr.ints[3], s.rev = (int)n->attr.ints[4], s.saved = (int)n->attr.ints[5];
  s.ny = n->sub[0]->nouts - s.nc;
  s.T = n->attr.ints[6]; /* the shape rule records the length */
  return s;
}

/* One scan step at time t: args hold carries (updated in place), x slices, consts. */
static int scan_step(IrInterp *I, const IrNode *n, const ScanGeom *s, int64_t t, IrTensor *args, IrTensor *res)
{
  for (int j = 0; j < s->nx; j++) step_move(in(I, n, s->nc + j), s->ax, t, &args[s->nc + j], 0);
  for (int j = 0; s->saved && j < s->nc; j++) step_move(out(I, n, s->nc + s->ny + j), s->ax, t, &args[j], 1);
  if (call_sub(I, n->sub[0], I->step * 1000003u + (uint64_t)t + 1, I->step, args, res)) return -1;
  for (int j = 0; j < s->nc; j++) {
    memcpy(args[j].data, res[j].data, (size_t)numel(&res[j]) * sizeof(double));
  }
  for (int j = 0; j < s->ny; j++) step_move(out(I, n, s->nc + j), s->ax, t, &res[s->nc + j], 1);
  for (int j = 0; j < s->nc + s->ny; j++) free(res[j].data);
  return 0;
}

static int ev_scan(IrInterp *I, const IrNode *n)
{
  ScanGeom s = scan_geom(I, n);
  int na = n->nin, rc = 0;
  IrTensor *args = calloc((size_t)na, sizeof *args), *res = calloc((size_t)(s.nc + s.ny), sizeof *res);
  if (!args || !res) rc = fail(I, "out of memory");
  for (int i = 0; !rc && i < na; i++) {
    args[i] = *in(I, n, i);
    if (i >= s.nc + s.nx) continue; /* consts are shared, not copied */
    int64_t k = numel(in(I, n, i));
    if (i >= s.nc) { /* one step's slice: the time axis kept with length 1 */
      args[i].t.shape.dim[s.ax] = 1;
      k = numel(&args[i]);
    }
    if (!(args[i].data = malloc((size_t)(k ? k : 1) * sizeof(double)))) rc = fail(I, "out of memory");
    else if (i < s.nc) memcpy(args[i].data, in(I, n, i)->data, (size_t)k * sizeof(double));
  }
  for (int64_t it = 0; !rc && it < s.T; it++) rc = scan_step(I, n, &s, s.rev ? s.T - 1 - it : it, args, res);
  for (int j = 0; !rc && j < s.nc; j++)
    memcpy(out(I, n, j)->data, args[j].data, (size_t)numel(out(I, n, j)) * sizeof(double));
  for (int i = 0; args && i < s.nc + s.nx; i++) free(args[i].data);
  free(args);
  free(res);
  return rc;
}

/* ---------------------------------------------------------- host calls ---- */

/* n elements between the interpreter's doubles and a dtype's native layout (also used by
 * exec.c to bind leaves and read results). */
void ir_from_double(IrDType dt, const double *src, void *dst, int64_t n)
{
  for (int64_t i = 0; i < n; i++) {
    switch (dt) {
    case IR_F32: ((float *)dst)[i] = (float)src[i]; break;
    case IR_F64: ((double *)dst)[i] = src[i]; break;
    case IR_I32: ((int32_t *)dst)[i] = (int32_t)src[i]; break;
    case IR_I64: ((int64_t *)dst)[i] = (int64_t)src[i]; break;
    default: ((uint8_t *)dst)[i] = (uint8_t)(src[i] != 0); break;
    }
  }
}

void ir_to_double(IrDType dt, const void *src, double *dst, int64_t n)
{
  for (int64_t i = 0; i < n; i++) {
    switch (dt) {
    case IR_F32: dst[i] = ((const float *)src)[i]; break;
    case IR_F64: dst[i] = ((const double *)src)[i]; break;
    case IR_I32: dst[i] = ((const int32_t *)src)[i]; break;
    case IR_I64: dst[i] = (double)((const int64_t *)src)[i]; break;
    default: dst[i] = ((const uint8_t *)src)[i] != 0; break;
    }
  }
}

/* The registered function on native copies of the inputs; results converted back. */
static int ev_host_call(IrInterp *I, const IrNode *n)
{
  const IrHostFn *f = ir_host_find(I->hosts, n->name);
  if (!f) return fail(I, "host function '%s' is not registered", n->name ? n->name : "?");
  int na = n->nin + n->nout, rc = 0;
  if (na > IR_HOST_MAX_ARGS) return fail(I, "host_call: too many arguments");
  IrType t[IR_HOST_MAX_ARGS];
  void *buf[IR_HOST_MAX_ARGS] = {0};
  for (int i = 0; i < na && !rc; i++) {
    IrTensor *x = i < n->nin ? in(I, n, i) : out(I, n, i - n->nin);
    t[i] = x->t;
    int64_t k = numel(x);
    if (!(buf[i] = calloc((size_t)(k ? k : 1), ir_dtype_size(t[i].dtype)))) rc = fail(I, "out of memory");
    else if (i < n->nin) ir_from_double(t[i].dtype, x->data, buf[i], k);
  }
  char msg[400] = "";
  if (!rc && f->call(f->ud, n->nin, t, buf, n->nout, t + n->nin, buf + n->nin, msg, sizeof msg))
    rc = fail(I, "host function '%s' failed: %s", n->name, msg[0] ? msg : "(no message)");
  for (int k = 0; k < n->nout && !rc; k++) ir_to_double(t[n->nin + k].dtype, buf[n->nin + k], out(I, n, k)->data, numel(out(I, n, k)));
  for (int i = 0; i < na; i++) free(buf[i]);
  return rc;
}

/* ----------------------------------------------------------------- API ---- */

IrInterp *ir_interp_new(const IrGraph *g)
{
  IrInterp *I = calloc(1, sizeof *I);
  if (!I) return NULL;
  I->g = g;
  I->nvals = g->nvals;
  I->v = calloc((size_t)(g->nvals ? g->nvals : 1), sizeof *I->v);
  I->bound = calloc((size_t)(g->nvals ? g->nvals : 1), 1);
  if (!I->v || !I->bound) {
    ir_interp_free(I);
    return NULL;
  }
  for (int i = 0; i < g->nvals; i++) I->v[i].t = g->vals[i].t;
  return I;
}

void ir_interp_free(IrInterp *I)
{
  if (!I) return;
  for (int i = 0; I->v && i < I->nvals; i++) free(I->v[i].data);
  free(I->v);
  free(I->bound);
  free(I);
}

const char *ir_interp_error(const IrInterp *I) { return I->err; }
void ir_interp_set_seed(IrInterp *I, uint64_t seed) { I->seed = seed; }
void ir_interp_set_hosts(IrInterp *I, const IrHostTab *h) { I->hosts = h; }

static int alloc_val(IrInterp *I, IrVal v)
{
  int64_t k = numel(&I->v[v]);
  free(I->v[v].data);
  I->v[v].data = calloc((size_t)(k ? k : 1), sizeof(double));
  return I->v[v].data ? 0 : fail(I, "out of memory (%lld elements)", (long long)k);
}

int ir_interp_bind_id(IrInterp *I, IrVal v, const double *data)
{
  if (v < 0 || v >= I->nvals || !(ir_ops[ir_producer(I->g, v)->op].flags & IR_LEAF))
    return fail(I, "bind: value %%%d is not a leaf", v);
  if (alloc_val(I, v)) return -1;
  memcpy(I->v[v].data, data, (size_t)numel(&I->v[v]) * sizeof(double));
  store_all(&I->v[v]);
  I->bound[v] = 1;
  return 0;
}

int ir_interp_bind(IrInterp *I, const char *name, const double *data)
{
  IrVal v = ir_find_leaf(I->g, name);
  if (v == IR_NONE) return fail(I, "bind: no input, param or state named '%s'", name);
  return ir_interp_bind_id(I, v, data);
}

static int run_node(IrInterp *I, const IrNode *n)
{
  for (int k = 0; k < n->nout; k++)
    if (!I->bound[n->out[k]] && alloc_val(I, n->out[k])) return -1;
  if (evals[n->op](I, n)) return -1;
  for (int k = 0; k < n->nout; k++) store_all(&I->v[n->out[k]]);
  return 0;
}

int ir_interp_run(IrInterp *I)
{
  I->err[0] = 0;
  if (I->g->nvals != I->nvals) return fail(I, "the graph changed after ir_interp_new");
  for (int i = 0; i < I->g->nnodes; i++)
    if (run_node(I, I->g->nodes[i])) return -1;
  return 0;
}

const IrTensor *ir_interp_value(const IrInterp *I, IrVal v)
{
  return v >= 0 && v < I->nvals && I->v[v].data ? &I->v[v] : NULL;
}

/* Binds the formals of a subgraph from args (in formal order). */
static int bind_formals(IrInterp *I, const IrGraph *g, const IrTensor *args)
{
  for (int i = 0; i < g->nnodes; i++) {
    const IrNode *n = g->nodes[i];
    int pos = n->op == OP_INPUT ? (int)n->attr.ints[IR_MAX_INTS - 1] - 1 : -1;
    if (pos >= 0 && ir_interp_bind_id(I, n->out[0], args[pos].data)) return -1;
  }
  return 0;
}

int ir_interp_call(const IrGraph *g, uint64_t seed, uint64_t step, const IrTensor *args,
                   IrTensor *res, char *msg, size_t cap)
{
  return interp_call(g, NULL, seed, step, step, args, res, msg, cap);
}

static int interp_call(const IrGraph *g, const IrHostTab *hosts, uint64_t seed, uint64_t step, uint64_t outer,
                       const IrTensor *args, IrTensor *res, char *msg, size_t cap)
{
  IrInterp *I = ir_interp_new(g);
  int rc = I ? 0 : -1;
  if (!I) snprintf(msg, cap, "out of memory");
  if (!rc) {
    I->hosts = hosts;
    I->seed = seed;
    I->step = step;
    I->outer = outer;
    rc = bind_formals(I, g, args) || ir_interp_run(I) ? -1 : 0;
    if (rc) snprintf(msg, cap, "%s", I->err);
  }
  for (int i = 0; !rc && i < g->nouts; i++) {
    res[i].t = g->vals[g->outs[i]].t;
    res[i].data = I->v[g->outs[i]].data;
    I->v[g->outs[i]].data = NULL;
    for (int j = 0; j < i; j++) /* the same value returned twice */
      if (g->outs[j] == g->outs[i]) {
        int64_t k = ir_numel(&res[i].t.shape);
        res[i].data = malloc((size_t)(k ? k : 1) * sizeof(double));
        if (res[i].data) memcpy(res[i].data, res[j].data, (size_t)k * sizeof(double));
      }
  }
  ir_interp_free(I);
  return rc;
}
