/* gemm_small.c: products with a few rows (M <= KERN_SMALLM_MAX): batch-1 inference, GEMV.
 *
 * With M this small the blocked driver (gemm.c) spends its time packing B: a batch-1
 * layer y = x W^T with W f32[256, 784] packed 200k floats per call for 0.4 MFLOP of work
 * (78% of the MLP's latency, measured with perf on bench/latency_bench). Here B is read
 * once, in place, and nothing is packed except op(A) when its rows are not contiguous
 * (M K floats). Two loop orders, by the layout of op(B):
 *
 *   rows  op(B) row k contiguous (B not transposed): C[i, j:j+16V] += op(A)[i, k] B[k, j:...]
 *         over k, R <= 4 rows x V vectors of accumulators, B rows read with lane masks;
 *   dots  op(B) column j contiguous (B transposed, the Linear layer's W[out, in]): C[i, j]
 *         is the dot product of op(A) row i and B row j, a vector accumulator per (i, j)
 *         over k (the tail read with lane masks), reduced to a scalar at the end.
 *
 * Each element of C is computed by the same instructions in the same order whatever the
 * tile it falls in and however the columns are split among threads, so results do not
 * depend on the thread count. The epilogue is the blocked driver's:
 * C = act(alpha acc + beta C + (bias_row[i] + bias_col[j])); beta == 0 reads no C.
 * Per-function target attributes, as gemm_avx512.c: the ISA is kern_gemm_isa().
 */
#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include "kernels.h"

#define KERN_AVX512 __attribute__((target("avx512f,avx512vl,fma")))
#define KERN_AVX2 __attribute__((target("avx2,fma")))
#define SM_INLINE static inline __attribute__((always_inline))

/* Above this many floats of B (1 MiB; half this core's L2) the AVX-512 dots order takes
 * 8 rows at once, reading B once: M = 8, 1024 x 1024, 200 against 285 us; below it, 4
 * rows twice are faster (fewer A loads per FMA): f32[256, 784], M = 8, 33 against 29 us. */
#define SM_B_L2 (256 * 1024)
/* Floats of op(A) packed on the stack; larger ones are allocated. */
#define SM_ASTACK 4096

/* One small product: op(A) element (i, k) at a[i * ars + k * acs], op(B) element (k, j) at
 * b[k * brs + j * bcs] (brs == 1 or bcs == 1). */
typedef struct sm_job {
  int64_t M, N, K;
  const float *a;
  int64_t ars, acs;
  const float *b;
  int64_t brs, bcs;
  float *c;
  int64_t ldc;
  float alpha, beta;
  const float *bias_col, *bias_row;
  int relu;
  int rows; /* rows per group: 4, or 8 (AVX-512: rows order, or dots with B past SM_B_L2) */
} sm_job;

/* The epilogue of one element, in gemm_store_tile's order. */
SM_INLINE float sm_epi(const sm_job *g, int64_t i, int64_t j, float acc)
{
  float *c = g->c + i * g->ldc + j;
  float v = g->alpha * acc;
  if (g->beta != 0.0f)
    v += g->beta * *c;
  v += (g->bias_row ? g->bias_row[i] : 0.0f) + (g->bias_col ? g->bias_col[j] : 0.0f);
  return (g->relu && !(v > 0.0f)) ? 0.0f : v;
}

/* ---- AVX-512 ---- */

KERN_AVX512 SM_INLINE __mmask16 sm512_mask(int64_t n)
{
  n = n < 0 ? 0 : n > 16 ? 16 : n;
  return (__mmask16)((1u << n) - 1u);
}

/* Epilogue of 16 lanes of row i at column j, masked (bias_row + bias_col summed first,
 * as sm_epi). */
KERN_AVX512 SM_INLINE void sm512_store(const sm_job *g, int64_t i, int64_t j, __m512 v,
                                       __mmask16 m)
{
  float *c = g->c + i * g->ldc + j;
  v = _mm512_mul_ps(v, _mm512_set1_ps(g->alpha));
  if (g->beta != 0.0f)
    v = _mm512_fmadd_ps(_mm512_set1_ps(g->beta), _mm512_maskz_loadu_ps(m, c), v);
  __m512 bias = _mm512_set1_ps(g->bias_row ? g->bias_row[i] : 0.0f);
  if (g->bias_col)
    bias = _mm512_add_ps(bias, _mm512_maskz_loadu_ps(m, g->bias_col + j));
  v = _mm512_add_ps(v, bias);
  if (g->relu)
    v = _mm512_max_ps(v, _mm512_setzero_ps());
  _mm512_mask_storeu_ps(c, m, v);
}

/* rows order: rows [i, i + R) x columns [j, j + 16 V) (masked past N). */
KERN_AVX512 SM_INLINE void sm512_rows_tile(const sm_job *g, int64_t i, int64_t j, const int R,
                                           const int V)
{
  __m512 acc[8][8];
  __mmask16 m[8];
#pragma GCC unroll 8
  for (int v = 0; v < V; v++) {
    m[v] = sm512_mask(g->N - j - 16 * v);
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
      acc[r][v] = _mm512_setzero_ps();
  }
  const float *a = g->a + i * g->ars, *b = g->b + j;
  for (int64_t k = 0; k < g->K; k++, a += g->acs, b += g->brs) {
    __m512 bv[8];
#pragma GCC unroll 8
    for (int v = 0; v < V; v++)
      bv[v] = _mm512_maskz_loadu_ps(m[v], b + 16 * v);
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
      __m512 ar = _mm512_set1_ps(a[r * g->ars]);
#pragma GCC unroll 8
      for (int v = 0; v < V; v++)
        acc[r][v] = _mm512_fmadd_ps(ar, bv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; r++)
#pragma GCC unroll 8
    for (int v = 0; v < V; v++)
      if (m[v])
        sm512_store(g, i + r, j + 16 * v, acc[r][v], m[v]);
}

/* One k step of 16 (lanes past m zero) of the dots tile. */
KERN_AVX512 SM_INLINE void sm512_dots_step(__m512 acc[8][4], const float *const *ar,
                                           const float *const *br, int64_t k, __mmask16 m,
                                           const int R, const int P)
{
  __m512 av[8];
#pragma GCC unroll 8
  for (int r = 0; r < R; r++)
    av[r] = _mm512_maskz_loadu_ps(m, ar[r] + k);
#pragma GCC unroll 4
  for (int p = 0; p < P; p++) {
    __m512 bp = _mm512_maskz_loadu_ps(m, br[p] + k);
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
      acc[r][p] = _mm512_fmadd_ps(av[r], bp, acc[r][p]);
  }
}

/* dots order: rows [i, i + R) (op(A) rows contiguous) x columns [j, j + P), P exact. The
 * loop is unmasked but for the last K % 16 steps: the same sums as a masked loop. */
KERN_AVX512 SM_INLINE void sm512_dots_tile(const sm_job *g, int64_t i, int64_t j, const int R,
                                           const int P)
{
  __m512 acc[8][4];
  const float *ar[8], *br[4];
#pragma GCC unroll 8
  for (int r = 0; r < R; r++) {
    ar[r] = g->a + (i + r) * g->ars;
#pragma GCC unroll 4
    for (int p = 0; p < P; p++)
      acc[r][p] = _mm512_setzero_ps();
  }
#pragma GCC unroll 4
  for (int p = 0; p < P; p++)
    br[p] = g->b + (j + p) * g->bcs;
  int64_t k = 0;
  for (; k + 16 <= g->K; k += 16)
    sm512_dots_step(acc, ar, br, k, (__mmask16)0xffff, R, P);
  if (k < g->K)
    sm512_dots_step(acc, ar, br, k, sm512_mask(g->K - k), R, P);
#pragma GCC unroll 8
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int p = 0; p < P; p++) {
      float *c = g->c + (i + r) * g->ldc + j + p;
      *c = sm_epi(g, i + r, j + p, _mm512_reduce_add_ps(acc[r][p]));
    }
}

/* Rows [i, i + R) against columns [j0, j1), R <= 8 (B read once for M <= 8). Wide tiles
 * break the FMA dependency chains: 8 accumulators for one or two rows; 16 up to 8 rows. */
KERN_AVX512 static void sm512_rows(const sm_job *g, int64_t i, int R, int64_t j0, int64_t j1)
{
  for (int64_t j = j0; j < j1; j += (R <= 2 ? 128 : R <= 4 ? 64 : 32))
    switch (R) {
    case 1: sm512_rows_tile(g, i, j, 1, 8); break;
    case 2: sm512_rows_tile(g, i, j, 2, 8); break;
    case 3: sm512_rows_tile(g, i, j, 3, 4); break;
    case 4: sm512_rows_tile(g, i, j, 4, 4); break;
    case 5: sm512_rows_tile(g, i, j, 5, 2); break;
    case 6: sm512_rows_tile(g, i, j, 6, 2); break;
    case 7: sm512_rows_tile(g, i, j, 7, 2); break;
    default: sm512_rows_tile(g, i, j, 8, 2); break;
    }
}

/* Up to 8 rows at once (B read once for M <= 8): 4 columns for up to 4 rows, 2 for more
 * (16 accumulators, 8 A vectors, a B vector: 25 of the 32 zmm registers). */
KERN_AVX512 static void sm512_dots(const sm_job *g, int64_t i, int R, int64_t j0, int64_t j1)
{
  int64_t j = j0, P = R <= 4 ? 4 : 2;
  for (; j + P <= j1; j += P)
    switch (R) {
    case 1: sm512_dots_tile(g, i, j, 1, 4); break;
    case 2: sm512_dots_tile(g, i, j, 2, 4); break;
    case 3: sm512_dots_tile(g, i, j, 3, 4); break;
    case 4: sm512_dots_tile(g, i, j, 4, 4); break;
    case 5: sm512_dots_tile(g, i, j, 5, 2); break;
    case 6: sm512_dots_tile(g, i, j, 6, 2); break;
    case 7: sm512_dots_tile(g, i, j, 7, 2); break;
    default: sm512_dots_tile(g, i, j, 8, 2); break;
    }
  for (; j < j1; j++)
    switch (R) {
    case 1: sm512_dots_tile(g, i, j, 1, 1); break;
    case 2: sm512_dots_tile(g, i, j, 2, 1); break;
    case 3: sm512_dots_tile(g, i, j, 3, 1); break;
    case 4: sm512_dots_tile(g, i, j, 4, 1); break;
    case 5: sm512_dots_tile(g, i, j, 5, 1); break;
    case 6: sm512_dots_tile(g, i, j, 6, 1); break;
    case 7: sm512_dots_tile(g, i, j, 7, 1); break;
    default: sm512_dots_tile(g, i, j, 8, 1); break;
    }
}

/* ---- AVX2 ---- */

KERN_AVX2 SM_INLINE __m256i sm256_mask(int64_t n)
{
  n = n < 0 ? 0 : n > 8 ? 8 : n;
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Horizontal sum of 8 lanes in a fixed order. */
KERN_AVX2 SM_INLINE float sm256_sum(__m256 v)
{
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

KERN_AVX2 SM_INLINE void sm256_store(const sm_job *g, int64_t i, int64_t j, __m256 v, __m256i m)
{
  float *c = g->c + i * g->ldc + j;
  v = _mm256_mul_ps(v, _mm256_set1_ps(g->alpha));
  if (g->beta != 0.0f)
    v = _mm256_fmadd_ps(_mm256_set1_ps(g->beta), _mm256_maskload_ps(c, m), v);
  __m256 bias = _mm256_set1_ps(g->bias_row ? g->bias_row[i] : 0.0f);
  if (g->bias_col)
    bias = _mm256_add_ps(bias, _mm256_maskload_ps(g->bias_col + j, m));
  v = _mm256_add_ps(v, bias);
  if (g->relu)
    v = _mm256_max_ps(v, _mm256_setzero_ps());
  _mm256_maskstore_ps(c, m, v);
}

KERN_AVX2 SM_INLINE void sm256_rows_tile(const sm_job *g, int64_t i, int64_t j, const int R,
                                         const int V)
{
  __m256 acc[4][4];
  __m256i m[4];
#pragma GCC unroll 4
  for (int v = 0; v < V; v++) {
    m[v] = sm256_mask(g->N - j - 8 * v);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
      acc[r][v] = _mm256_setzero_ps();
  }
  const float *a = g->a + i * g->ars, *b = g->b + j;
  for (int64_t k = 0; k < g->K; k++, a += g->acs, b += g->brs) {
    __m256 bv[4];
#pragma GCC unroll 4
    for (int v = 0; v < V; v++)
      bv[v] = _mm256_maskload_ps(b + 8 * v, m[v]);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
      __m256 ar = _mm256_broadcast_ss(a + r * g->ars);
#pragma GCC unroll 4
      for (int v = 0; v < V; v++)
        acc[r][v] = _mm256_fmadd_ps(ar, bv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int v = 0; v < V; v++)
      if (j + 8 * v < g->N)
        sm256_store(g, i + r, j + 8 * v, acc[r][v], m[v]);
}

KERN_AVX2 SM_INLINE void sm256_dots_tile(const sm_job *g, int64_t i, int64_t j, const int R,
                                         const int P)
{
  __m256 acc[4][4];
#pragma GCC unroll 4
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int p = 0; p < P; p++)
      acc[r][p] = _mm256_setzero_ps();
  const float *a = g->a + i * g->ars, *b = g->b + j * g->bcs;
  for (int64_t k = 0; k < g->K; k += 8) {
    __m256i m = sm256_mask(g->K - k);
    __m256 av[4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
      av[r] = _mm256_maskload_ps(a + r * g->ars + k, m);
#pragma GCC unroll 4
    for (int p = 0; p < P; p++) {
      __m256 bp = _mm256_maskload_ps(b + p * g->bcs + k, m);
#pragma GCC unroll 4
      for (int r = 0; r < R; r++)
        acc[r][p] = _mm256_fmadd_ps(av[r], bp, acc[r][p]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int p = 0; p < P; p++)
      g->c[(i + r) * g->ldc + j + p] = sm_epi(g, i + r, j + p, sm256_sum(acc[r][p]));
}

/* 12 or 16 accumulators of the 16 ymm registers. */
KERN_AVX2 static void sm256_rows(const sm_job *g, int64_t i, int R, int64_t j0, int64_t j1)
{
  for (int64_t j = j0; j < j1; j += (R <= 3 ? 32 : 24))
    switch (R) {
    case 1: sm256_rows_tile(g, i, j, 1, 4); break;
    case 2: sm256_rows_tile(g, i, j, 2, 4); break;
    case 3: sm256_rows_tile(g, i, j, 3, 4); break;
    default: sm256_rows_tile(g, i, j, 4, 3); break;
    }
}

KERN_AVX2 static void sm256_dots(const sm_job *g, int64_t i, int R, int64_t j0, int64_t j1)
{
  int64_t j = j0;
  for (; j + 3 <= j1; j += 3)
    switch (R) {
    case 1: sm256_dots_tile(g, i, j, 1, 3); break;
    case 2: sm256_dots_tile(g, i, j, 2, 3); break;
    case 3: sm256_dots_tile(g, i, j, 3, 3); break;
    default: sm256_dots_tile(g, i, j, 4, 3); break;
    }
  for (; j < j1; j++)
    switch (R) {
    case 1: sm256_dots_tile(g, i, j, 1, 1); break;
    case 2: sm256_dots_tile(g, i, j, 2, 1); break;
    case 3: sm256_dots_tile(g, i, j, 3, 1); break;
    default: sm256_dots_tile(g, i, j, 4, 1); break;
    }
}

/* ---- portable ---- */

static void sm_scalar(const sm_job *g, int64_t i, int R, int64_t j0, int64_t j1)
{
  for (int r = 0; r < R; r++)
    for (int64_t j = j0; j < j1; j++) {
      float acc = 0.0f;
      for (int64_t k = 0; k < g->K; k++)
        acc += g->a[(i + r) * g->ars + k * g->acs] * g->b[k * g->brs + j * g->bcs];
      g->c[(i + r) * g->ldc + j] = sm_epi(g, i + r, j, acc);
    }
}

/* ---- driver ---- */

typedef void sm_fn(const sm_job *g, int64_t i, int R, int64_t j0, int64_t j1);

/* The kernel for this ISA and layout; the dots order wants op(A) rows contiguous. */
static sm_fn *sm_kernel(int isa, int dots)
{
  if (isa == KERN_ISA_AVX512)
    return dots ? sm512_dots : sm512_rows;
  if (isa == KERN_ISA_AVX2)
    return dots ? sm256_dots : sm256_rows;
  return sm_scalar;
}

/* Columns [j0, j1) of C, every row, in row groups of up to g->rows. */
static void sm_columns(const sm_job *g, sm_fn *fn, int64_t j0, int64_t j1)
{
  int rows = g->rows;
  for (int64_t i = 0; i < g->M; i += rows)
    fn(g, i, (int)(g->M - i < rows ? g->M - i : rows), j0, j1);
}

/* Column slabs of 128 (a multiple of every tile width) split among threads when the
 * product is worth it; each column is computed the same way in any slab. */
static void sm_run(const sm_job *g, sm_fn *fn)
{
  int64_t slabs = (g->N + 127) / 128;
  int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (nt < 2 || slabs < 2 || 2.0 * (double)g->M * g->N * g->K < KERN_GEMM_PAR_MIN_FLOPS) {
    sm_columns(g, fn, 0, g->N);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int64_t s = 0; s < slabs; s++)
    sm_columns(g, fn, s * 128, s * 128 + 128 < g->N ? s * 128 + 128 : g->N);
}

int kern_sgemm_smallm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                      const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                      float *C, int64_t ldc, const float *bias_col, const float *bias_row,
                      int act)
{
  if (M < 1 || M > KERN_SMALLM_MAX || N < 1 || K < 1)
    return 0;
  sm_job g = {M, N, K, A, trans_a ? 1 : lda, trans_a ? lda : 1,
              B, trans_b ? 1 : ldb, trans_b ? ldb : 1, C, ldc, alpha, beta,
              bias_col, bias_row, act == NNRT_ACT_RELU, 4};
  int isa = kern_gemm_isa();
  int dots = trans_b && isa != KERN_ISA_SCALAR;
  if (isa == KERN_ISA_AVX512 && (!dots || (double)N * K > SM_B_L2))
    g.rows = 8;
  float stack[SM_ASTACK], *pa = NULL;
  if (dots && g.acs != 1) { /* op(A) rows strided: pack them, M K floats */
    pa = M * K <= SM_ASTACK ? stack : malloc((size_t)(M * K) * sizeof *pa);
    if (!pa)
      return 0; /* the blocked driver has its own fallbacks */
    for (int64_t i = 0; i < M; i++)
      for (int64_t k = 0; k < K; k++)
        pa[i * K + k] = A[k * lda + i];
    g.a = pa, g.ars = K, g.acs = 1;
  }
  sm_run(&g, sm_kernel(isa, dots));
  if (pa != stack)
    free(pa);
  return 1;
}
