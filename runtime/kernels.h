/* kernels.h: the dense kernels of libnnrt, the part generated code calls for heavy math.
 *
 *   gemm.c, gemm_avx512.c, gemm_avx2.c  BLIS-style packed SGEMM with fused epilogue
 *   gemm_small.c                        products of <= 8 rows (batch-1 layers) with B in place
 *   conv.c                              NCHW 2-D convolution (im2col + SGEMM), fwd and both bwd
 *   pool.c                              max / average pooling, fwd and bwd
 *   vmath.c                             vectorized expf / tanhf / sigmoid over arrays
 *
 * Public entry points are named nnrt_* (the ABI, see abi.def); internal helpers kern_*.
 * All matrices are row-major. Every entry point is thread-safe: scratch memory is per
 * calling thread. Called from inside an OpenMP parallel region, a kernel runs serially.
 */
#ifndef NNRT_KERNELS_H
#define NNRT_KERNELS_H
#include <stddef.h>
#include <stdint.h>
#include "nnrt.h"

/* Fallible kernels (conv, pool) return NNRT_OK or a negative NNRT_E* status (nnrt.h):
 * NNRT_EINVAL for a bad shape or parameter, NNRT_ENOMEM when the workspace cannot be
 * allocated. They take no context, so the message is kept per thread: kern_errmsg(). */
const char *kern_errmsg(void);
/* Keeps msg as this thread's last error message and returns status. */
int kern_fail(int status, const char *msg);

/* ---- instruction-set selection (internal knob, for tests and benchmarks) ---- */
enum { KERN_ISA_AUTO = 0, KERN_ISA_SCALAR = 1, KERN_ISA_AVX2 = 2, KERN_ISA_AVX512 = 3 };

/* The best ISA this host supports among the above. */
int kern_isa_host(void);
/* Forces GEMM (and conv through it) to one code path; returns 0 iff the host supports it
 * (then the knob is set), -1 otherwise. KERN_ISA_AUTO restores the default. Not thread-safe:
 * set it before running kernels. */
int kern_gemm_force_isa(int isa);
/* The ISA GEMM will use now, and the name of its micro-kernel ("avx512-14x32", ...). */
int kern_gemm_isa(void);
const char *kern_gemm_kernel_name(void);
/* Overrides the cache blocking of the current micro-kernel (0 keeps the default); for
 * tuning and tests. */
void kern_gemm_set_blocking(int kc, int nc);
/* Problems with M N K up to mnk (and one K block) skip the cache blocking and packing of A
 * (0: the default; < 0: never). For tuning and tests. */
void kern_gemm_set_small_limit(double mnk);
/* Overrides KERN_GEMM_PAR_MIN_FLOPS (0: the default); for tests and tuning. */
void kern_gemm_set_par_min(double flops);
/* Forces vmath to KERN_ISA_SCALAR or KERN_ISA_AVX512 (there is no AVX2 variant: such
 * hosts run the scalar code); 0 iff the host supports it. */
int kern_vmath_force_isa(int isa);

/* ---- SGEMM ----
 * C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, op(X) = X or X^T (trans_x != 0).
 * A is f32[M, lda] (or f32[K, lda] when transposed), B is f32[K, ldb] (or f32[N, ldb]).
 * beta == 0 means C is not read (it may hold NaN). Runs on up to omp_get_max_threads()
 * threads when 2 M N K >= KERN_GEMM_PAR_MIN_FLOPS, serially below that or inside a
 * parallel region. */
void nnrt_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                int64_t ldc);

/* nnrt_sgemm, then C[i,j] = act(C[i,j] + bias[j]) while the tile is in registers.
 * bias is f32[N] or NULL; act is NNRT_ACT_NONE or NNRT_ACT_RELU. */
enum { NNRT_ACT_NONE = 0, NNRT_ACT_RELU = 1 };
void nnrt_sgemm_ex(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                   const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                   int64_t ldc, const float *bias, int act);

/* Below this many flops (2 M N K, ~0.4 ms on one core) a GEMM runs on one thread. Set high
 * for this shared machine: under load a second thread can start milliseconds late, and
 * the call waits for it. conv uses it to choose threads inside GEMMs or over images. */
#define KERN_GEMM_PAR_MIN_FLOPS (2.0 * 320 * 320 * 320)

/* The general driver: bias_col is f32[N] (added to every row), bias_row is f32[M] (added to
 * every column); either may be NULL. Used by conv (bias per output channel = per row). */
void kern_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                int64_t ldc, const float *bias_col, const float *bias_row, int act);

/* Products with at most KERN_SMALLM_MAX rows (gemm_small.c): B read in place, never packed.
 * Same arguments and result as kern_sgemm; returns 1 iff it computed C, 0 when the
 * problem is not one it takes (then C is untouched). kern_sgemm calls it first unless a
 * blocking override or a negative small limit is set (tests of the blocked driver). */
#define KERN_SMALLM_MAX 8
int kern_sgemm_smallm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                      const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                      float *C, int64_t ldc, const float *bias_col, const float *bias_row,
                      int act);

/* ---- micro-kernel interface (gemm*.c only) ---- */
typedef struct kern_epi {
  float alpha, beta;     /* C = alpha * acc + beta * C; beta == 0: C not read */
  const float *bias_col; /* at the tile's first column, or NULL */
  const float *bias_row; /* at the tile's first row, or NULL */
  int relu;
} kern_epi;

/* Computes the mr x nr tile (mr <= MR, nr <= NR) of C from an A micro-panel (element (i, k)
 * at a[k * acs + i]; packed: acs = the panel width) and a B micro-panel (element (k, j) at
 * b[k * bks + j]; packed: bks = NR), kc steps, then applies the epilogue. Reads no B column
 * past nr, and no A row past MR. */
typedef void kern_ukr_fn(int64_t kc, const float *a, int64_t acs, const float *b, int64_t bks,
                         float *c, int64_t ldc, int mr, int nr, const kern_epi *e);

/* Packs a micro-panel: dst[t * W + l] = s[l * ls + t * ts] for lanes l < nl (zero for
 * nl <= l < W), steps t < nt. Returns 0 iff it handled this layout. */
typedef int kern_pack_fn(const float *s, int64_t ls, int64_t ts, int nl, int W, int64_t nt,
                         float *dst);

typedef struct kern_gemm_arch {
  const char *name;
  int isa, mr, nr;
  int kc, nc;          /* default cache blocking: KC x NR floats of A in L1, KC x NC in L2 */
  kern_ukr_fn *ukr;     /* on a packed B panel (bks == NR, 64-byte aligned), any acs */
  kern_ukr_fn *strided; /* on operands in place: any acs, bks, alignment */
  /* On a row-major A in place: element (i, k) at a[i * acs + k] (acs is the row stride
   * here). NULL: small problems pack A instead. */
  kern_ukr_fn *rows;
  kern_pack_fn *pack; /* NULL: the portable one */
} kern_gemm_arch;

extern const kern_gemm_arch kern_gemm_avx512;
extern const kern_gemm_arch kern_gemm_avx2;

/* ---- convolution, NCHW, f32 ----
 * x is f32[n, c, h, w]; w is f32[oc, c/groups, kh, kw]; y is f32[n, oc, oh, ow] with
 * oh = (h + 2*pad_h - kh) / stride_h + 1 (likewise ow). Dilation 1.
 * The ABI (nnrt_conv2d_*) takes the geometry as int64_t[12] in the field order of
 * kern_conv2d; the kern_conv2d_* functions take the struct. */
typedef struct kern_conv2d {
  int64_t n, c, h, w;
  int64_t oc, kh, kw;
  int64_t stride_h, stride_w, pad_h, pad_w;
  int64_t groups; /* 0 or 1: dense; c and oc must be multiples of it */
} kern_conv2d;

/* NNRT_OK iff the geometry is valid (positive sizes, window fits, groups divide); else
 * NNRT_EINVAL with a message. Sets *oh and *ow when not NULL. */
int kern_conv2d_check(const kern_conv2d *d, int64_t *oh, int64_t *ow);
/* Floats of im2col workspace one thread of the conv entry points needs, 0 if the geometry
 * is invalid. ws may be NULL below: the kernel then allocates and frees it. When images run
 * in parallel (small per-image GEMMs), ws serves the first thread and the others allocate
 * their own; bwd_filter also allocates one dw accumulator per extra thread. */
int64_t kern_conv2d_workspace(const kern_conv2d *d);
/* y = conv(x, w) + bias (bias f32[oc] or NULL). */
int kern_conv2d_fwd(const kern_conv2d *d, const float *x, const float *w, const float *bias,
                    float *y, float *ws);
/* y = act(conv(x, w) + bias), act NNRT_ACT_NONE or NNRT_ACT_RELU (else NNRT_EINVAL),
 * applied while each GEMM tile is in registers: the fused conv+bias+relu of fuse.c. */
int kern_conv2d_fwd_act(const kern_conv2d *d, const float *x, const float *w, const float *bias,
                        int act, float *y, float *ws);
/* dx = conv^T(dy, w): overwrites dx f32[n, c, h, w]. */
int kern_conv2d_bwd_data(const kern_conv2d *d, const float *dy, const float *w, float *dx,
                         float *ws);
/* dw = sum over the batch of dy * im2col(x)^T: overwrites dw f32[oc, c/groups, kh, kw] and,
 * when dbias is not NULL, dbias f32[oc] = sum of dy over n, oh, ow. */
int kern_conv2d_bwd_filter(const kern_conv2d *d, const float *x, const float *dy, float *dw,
                           float *dbias, float *ws);

int64_t nnrt_conv2d_workspace(const int64_t *geom);
int nnrt_conv2d_fwd(const int64_t *geom, const float *x, const float *w, const float *bias,
                    float *y, float *ws);
int nnrt_conv2d_fwd_ex(const int64_t *geom, const float *x, const float *w, const float *bias,
                       float *y, float *ws, int act);
int nnrt_conv2d_bwd_data(const int64_t *geom, const float *dy, const float *w, float *dx,
                         float *ws);
int nnrt_conv2d_bwd_filter(const int64_t *geom, const float *x, const float *dy, float *dw,
                           float *dbias, float *ws);

/* ---- pooling, NCHW, f32 ----
 * x is f32[n, c, h, w], y is f32[n, c, oh, ow], oh = (h + 2*pad_h - kh) / stride_h + 1.
 * The ABI takes the geometry as int64_t[11] in the field order of kern_pool2d. */
typedef struct kern_pool2d {
  int64_t n, c, h, w;
  int64_t kh, kw, stride_h, stride_w, pad_h, pad_w;
  int64_t count_include_pad; /* avgpool: divide by kh*kw (1) or by the in-bounds count (0) */
} kern_pool2d;

/* NNRT_OK iff the geometry is valid (pad < window, window fits); sets *oh, *ow. */
int kern_pool2d_check(const kern_pool2d *d, int64_t *oh, int64_t *ow);
/* y = max over each window; argmax (int32[n, c, oh, ow] or NULL) gets the index in the
 * input plane (ih * w + iw) of the first maximum. NaN wins (it propagates). */
int kern_maxpool2d_fwd(const kern_pool2d *d, const float *x, float *y, int32_t *argmax);
/* dx = scatter-add of dy at argmax: overwrites dx f32[n, c, h, w]. argmax must come from
 * kern_maxpool2d_fwd with the same geometry (its indices are trusted, not checked). */
int kern_maxpool2d_bwd(const kern_pool2d *d, const float *dy, const int32_t *argmax,
                       float *dx);
int kern_avgpool2d_fwd(const kern_pool2d *d, const float *x, float *y);
/* Overwrites dx f32[n, c, h, w]. */
int kern_avgpool2d_bwd(const kern_pool2d *d, const float *dy, float *dx);

int nnrt_maxpool2d_fwd(const int64_t *geom, const float *x, float *y, int32_t *argmax);
int nnrt_maxpool2d_bwd(const int64_t *geom, const float *dy, const int32_t *argmax, float *dx);
int nnrt_avgpool2d_fwd(const int64_t *geom, const float *x, float *y);
int nnrt_avgpool2d_bwd(const int64_t *geom, const float *dy, float *dx);

/* ---- vector math: y[i] = f(x[i]) for i < n; y may equal x ----
 * exp: max rel err 2e-7 on [-87, 88], inf above 88.72, 0/denormal below; tanh and sigmoid:
 * abs err 1e-6. NaN in, NaN out. */
void nnrt_vexp(int64_t n, const float *x, float *y);
void nnrt_vtanh(int64_t n, const float *x, float *y);
void nnrt_vsigmoid(int64_t n, const float *x, float *y);

#endif
