/* test_gemm.c: nnrt_sgemm / nnrt_sgemm_ex against a double-precision triple loop.
 *
 * Every case runs on each code path the host supports (scalar, AVX2, AVX-512, forced
 * through kern_gemm_force_isa), with the default cache blocking and with a tiny one that
 * makes small problems cross many MC/KC/NC blocks. The bound per element is the classic
 * forward error bound of a K-term dot product: (K + 4) * 2^-23 * (|alpha| sum |a||b| +
 * |beta c| + |bias|).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include "kernels.h"

typedef struct gcase {
  int ta, tb;
  int64_t M, N, K;
  float alpha, beta;
  int64_t pad; /* extra leading-dimension elements on A, B and C */
  int bias, act;
} gcase;

static float frand(unsigned *s)
{
  *s = *s * 1664525u + 1013904223u;
  return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static float *rand_buf(int64_t n, unsigned seed)
{
  float *p = malloc((size_t)n * sizeof *p);
  for (int64_t i = 0; i < n; i++)
    p[i] = frand(&seed);
  return p;
}

/* Returns the largest (error / bound) over C; > 1 means a failure. */
static double run_case(const gcase *g)
{
  int64_t ar = g->ta ? g->K : g->M, ac = g->ta ? g->M : g->K;
  int64_t br = g->tb ? g->N : g->K, bc = g->tb ? g->K : g->N;
  int64_t lda = ac + g->pad, ldb = bc + g->pad, ldc = g->N + g->pad;
  float *A = rand_buf(ar * lda, 1), *B = rand_buf(br * ldb, 2), *C = rand_buf(g->M * ldc, 3);
  float *bias = g->bias ? rand_buf(g->N, 4) : NULL;
  float *C0 = malloc((size_t)(g->M * ldc) * sizeof *C0);
  for (int64_t i = 0; i < g->M * ldc; i++)
    C0[i] = C[i];
  if (g->beta == 0.0f)
    for (int64_t i = 0; i < g->M * ldc; i++)
      C[i] = NAN; /* beta == 0 must not read C */
  nnrt_sgemm_ex(g->ta, g->tb, g->M, g->N, g->K, g->alpha, A, lda, B, ldb, g->beta, C, ldc,
                bias, g->act);
  double worst = 0.0;
  for (int64_t i = 0; i < g->M; i++)
    for (int64_t j = 0; j < ldc; j++) {
      if (j >= g->N) { /* padding must be untouched */
        if (g->beta != 0.0f && C[i * ldc + j] != C0[i * ldc + j])
          return INFINITY;
        continue;
      }
      double s = 0.0, mag = 0.0;
      for (int64_t k = 0; k < g->K; k++) {
        double a = g->ta ? A[k * lda + i] : A[i * lda + k];
        double b = g->tb ? B[j * ldb + k] : B[k * ldb + j];
        s += a * b;
        mag += fabs(a * b);
      }
      double c0 = g->beta == 0.0f ? 0.0 : C0[i * ldc + j];
      double want = g->alpha * s + g->beta * c0 + (bias ? bias[j] : 0.0);
      if (g->act == NNRT_ACT_RELU && want < 0.0)
        want = 0.0;
      double bound = (g->K + 4) * 0x1p-23 *
                     (fabs(g->alpha) * mag + fabs(g->beta * c0) + (bias ? fabs(bias[j]) : 0.0));
      double err = fabs(C[i * ldc + j] - want);
      if (!(err <= bound + 1e-30))
        worst = fmax(worst, isnan(err) ? INFINITY : err / (bound + 1e-30));
    }
  free(A), free(B), free(C), free(C0), free(bias);
  return worst;
}

/* Runs the case on every ISA the host has; reports the first failure. */
static void run_all_isas(const gcase *g)
{
  for (int isa = KERN_ISA_SCALAR; isa <= kern_isa_host(); isa++) {
    cr_assert_eq(kern_gemm_force_isa(isa), 0);
    double w = run_case(g);
    cr_assert(w <= 1.0, "%s: ta=%d tb=%d M=%ld N=%ld K=%ld alpha=%g beta=%g pad=%ld bias=%d "
              "act=%d: error %.3g x bound", kern_gemm_kernel_name(), g->ta, g->tb, (long)g->M,
              (long)g->N, (long)g->K, g->alpha, g->beta, (long)g->pad, g->bias, g->act, w);
  }
  kern_gemm_force_isa(KERN_ISA_AUTO);
}

static const int64_t sizes[][3] = {
  {1, 1, 1},    {1, 37, 53},  {53, 1, 37},   {5, 9, 1},     {14, 32, 16},  {15, 33, 17},
  {6, 16, 300}, {29, 65, 31}, {97, 101, 103}, {127, 61, 131}, {2, 300, 7},   {300, 2, 7},
  {64, 64, 64}, {211, 223, 257},
};

static void sweep_sizes(void)
{
  for (int t = 0; t < 4; t++)
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
      gcase g = {t & 1, t >> 1, sizes[s][0], sizes[s][1], sizes[s][2], 1.0f, 0.0f, 0, 0, 0};
      run_all_isas(&g);
    }
}

Test(gemm, sizes_and_transposes)
{
  omp_set_num_threads(1);
  sweep_sizes();
}

Test(gemm, sizes_small_blocking)
{
  omp_set_num_threads(1);
  kern_gemm_set_blocking(16, 40); /* many KC and NC blocks, edges everywhere */
  sweep_sizes();
}

Test(gemm, alpha_beta_and_leading_dims)
{
  static const float ab[][2] = {{1, 1}, {-0.5f, 0}, {2, 2.5f}, {0, 0.5f}, {0, 0}, {1, -1}};
  omp_set_num_threads(1);
  kern_gemm_set_blocking(24, 48);
  for (int t = 0; t < 4; t++)
    for (size_t i = 0; i < sizeof ab / sizeof ab[0]; i++) {
      gcase g = {t & 1, t >> 1, 37, 45, 53, ab[i][0], ab[i][1], 7, 0, 0};
      run_all_isas(&g);
    }
}

Test(gemm, bias_relu_epilogue)
{
  omp_set_num_threads(1);
  for (int blk = 0; blk < 2; blk++) {
    kern_gemm_set_blocking(blk ? 24 : 0, blk ? 48 : 0); /* K > KC: several blocks */
    for (int t = 0; t < 4; t++) {
      gcase g = {t & 1, t >> 1, 41, 77, 90, 0.75f, 0.5f, 3, 1, NNRT_ACT_RELU};
      run_all_isas(&g);
      gcase h = {t & 1, t >> 1, 19, 35, 70, 1.0f, 0.0f, 0, 1, NNRT_ACT_NONE};
      run_all_isas(&h);
      gcase r = {t & 1, t >> 1, 23, 29, 31, -1.0f, 0.0f, 1, 0, NNRT_ACT_RELU};
      run_all_isas(&r);
    }
  }
}

Test(gemm, k_zero_scales_c)
{
  gcase g = {0, 0, 9, 21, 0, 1.0f, 2.0f, 2, 1, NNRT_ACT_RELU};
  run_all_isas(&g);
  gcase h = {0, 0, 9, 21, 0, 1.0f, 0.0f, 0, 0, 0};
  run_all_isas(&h);
}

Test(gemm, two_threads_tall_and_wide)
{
  static const int64_t sz[][3] = {{256, 200, 150}, {30, 400, 120}, {400, 30, 120},
                                  {113, 97, 300},  {14, 1000, 300}, {20, 700, 300}};
  omp_set_num_threads(2);
  kern_gemm_set_par_min(1e5); /* threads for all of these */
  for (int blk = 0; blk < 2; blk++) {
    kern_gemm_set_blocking(blk ? 64 : 0, blk ? 128 : 0);
    for (size_t s = 0; s < sizeof sz / sizeof sz[0]; s++)
      for (int t = 0; t < 4; t++) {
        gcase g = {t & 1, t >> 1, sz[s][0], sz[s][1], sz[s][2], 1.0f, 0.5f, 1, 1, NNRT_ACT_RELU};
        run_all_isas(&g);
      }
  }
}

/* Regression: GEMMs called from inside a parallel region (each thread its own problem)
 * must not split their loops across the caller's team. */
Test(gemm, called_inside_parallel_region)
{
  enum { T = 2, M = 70, N = 90, K = 60 };
  float *a = rand_buf(T * M * K, 5), *b = rand_buf(T * K * N, 6);
  float *c = calloc(T * M * N, sizeof *c), *ref = calloc(T * M * N, sizeof *ref);
  for (int t = 0; t < T; t++) /* serial reference */
    nnrt_sgemm(0, 0, M, N, K, 1.0f, a + t * M * K, K, b + t * K * N, N, 0.0f, ref + t * M * N, N);
  omp_set_num_threads(T);
  kern_gemm_set_par_min(1e5); /* each call would want threads of its own */
  for (int blk = 0; blk < 2; blk++) { /* the small path, then the blocked one */
    kern_gemm_set_blocking(blk ? 16 : 0, blk ? 64 : 0);
#pragma omp parallel num_threads(T)
    {
      int t = omp_get_thread_num();
      nnrt_sgemm(0, 0, M, N, K, 1.0f, a + t * M * K, K, b + t * K * N, N, 0.0f, c + t * M * N, N);
    }
    for (int i = 0; i < T * M * N; i++)
      cr_assert(fabsf(c[i] - ref[i]) <= 1e-4f * (1.0f + fabsf(ref[i])), "blk=%d i=%d", blk, i);
  }
  free(a), free(b), free(c), free(ref);
}

/* kern_sgemm's per-row bias (conv's bias per output channel), split by rows on 2 threads. */
Test(gemm, bias_row_tall_two_threads)
{
  enum { M = 403, N = 37, K = 29 };
  float *a = rand_buf(M * K, 11), *b = rand_buf(K * N, 12), *br = rand_buf(M, 13);
  float *c = rand_buf(M * N, 14);
  omp_set_num_threads(2);
  kern_gemm_set_par_min(1e4);
  kern_sgemm(0, 0, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N, NULL, br, NNRT_ACT_RELU);
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double s = br[i];
      for (int k = 0; k < K; k++)
        s += (double)a[i * K + k] * b[k * N + j];
      s = s > 0.0 ? s : 0.0;
      cr_assert(fabs(c[i * N + j] - s) <= 1e-5 * (1.0 + fabs(s)), "c[%d,%d] = %g, want %g", i,
                j, c[i * N + j], s);
    }
  free(a), free(b), free(br), free(c);
}

Test(gemm, empty_is_noop)
{
  float c[4] = {1, 2, 3, 4};
  nnrt_sgemm(0, 0, 0, 2, 2, 1.0f, c, 2, c, 2, 0.0f, c, 2);
  nnrt_sgemm(0, 0, 2, 0, 2, 1.0f, c, 2, c, 2, 0.0f, c, 2);
  for (int i = 0; i < 4; i++)
    cr_assert_eq(c[i], (float)(i + 1));
}

Test(gemm, isa_knob)
{
  cr_assert_eq(kern_gemm_force_isa(99), -1);
  cr_assert_eq(kern_gemm_force_isa(KERN_ISA_SCALAR), 0);
  cr_assert_eq(kern_gemm_isa(), KERN_ISA_SCALAR);
  cr_assert_str_eq(kern_gemm_kernel_name(), "scalar-4x16");
  cr_assert_eq(kern_gemm_force_isa(KERN_ISA_AUTO), 0);
  cr_assert_eq(kern_gemm_isa(), kern_isa_host());
}
