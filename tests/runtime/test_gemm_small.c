/* test_gemm_small.c: the few-rows GEMM (runtime/gemm_small.c) against a double-precision
 * triple loop, for M = 1..9 (9 goes to the blocked driver), odd N and K, every transpose
 * combination, with and without each epilogue (alpha, beta, bias per column and per row,
 * ReLU), on each ISA the host supports; its results do not depend on the thread count.
 * The bound per element is test_gemm.c's: (K + 4) 2^-23 (|alpha| sum |a b| + |beta c| +
 * |bias|).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"

typedef struct scase {
  int ta, tb;
  int64_t M, N, K;
  float alpha, beta;
  int bcol, brow, act;
} scase;

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

/* Runs one case through kern_sgemm (leading dimensions padded by 3); returns the largest
 * error / bound over C (> 1 fails; INFINITY when the padding of C was written). */
static double run_case(const scase *g)
{
  int64_t ar = g->ta ? g->K : g->M, ac = g->ta ? g->M : g->K;
  int64_t br = g->tb ? g->N : g->K, bc = g->tb ? g->K : g->N;
  int64_t lda = ac + 3, ldb = bc + 3, ldc = g->N + 3;
  float *A = rand_buf(ar * lda, 1), *B = rand_buf(br * ldb, 2), *C = rand_buf(g->M * ldc, 3);
  float *bcol = g->bcol ? rand_buf(g->N, 4) : NULL, *brow = g->brow ? rand_buf(g->M, 5) : NULL;
  float *C0 = malloc((size_t)(g->M * ldc) * sizeof *C0);
  memcpy(C0, C, (size_t)(g->M * ldc) * sizeof *C);
  if (g->beta == 0.0f)
    for (int64_t i = 0; i < g->M; i++)
      for (int64_t j = 0; j < g->N; j++)
        C[i * ldc + j] = NAN; /* beta == 0 must not read C */
  kern_sgemm(g->ta, g->tb, g->M, g->N, g->K, g->alpha, A, lda, B, ldb, g->beta, C, ldc, bcol,
             brow, g->act);
  double worst = 0.0;
  for (int64_t i = 0; i < g->M; i++)
    for (int64_t j = 0; j < ldc; j++) {
      if (j >= g->N) {
        if (C[i * ldc + j] != C0[i * ldc + j])
          worst = INFINITY;
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
      double bias = (bcol ? bcol[j] : 0.0) + (brow ? brow[i] : 0.0);
      double want = g->alpha * s + g->beta * c0 + bias;
      if (g->act == NNRT_ACT_RELU && want < 0.0)
        want = 0.0;
      double bound = (g->K + 4) * 0x1p-23 * (fabs(g->alpha) * mag + fabs(g->beta * c0) + fabs(bias));
      double err = fabs(C[i * ldc + j] - want);
      if (!(err <= bound + 1e-30))
        worst = fmax(worst, isnan(err) ? INFINITY : err / (bound + 1e-30));
    }
  free(A), free(B), free(C), free(C0), free(bcol), free(brow);
  return worst;
}

/* Every ISA the host has, every M 1..9, transposes, odd N and K, the given epilogue. */
static void sweep(float alpha, float beta, int bcol, int brow, int act)
{
  static const int64_t NK[][2] = {{1, 1}, {7, 5}, {17, 33}, {33, 17}, {131, 61}, {255, 257}, {5, 1031}};
  /* 1031: op(A) of 4+ rows transposed is packed on the heap, not the stack */
  for (int isa = KERN_ISA_SCALAR; isa <= kern_isa_host(); isa++) {
    cr_assert_eq(kern_gemm_force_isa(isa), 0);
    for (int64_t M = 1; M <= 9; M++)
      for (int t = 0; t < 4; t++)
        for (size_t s = 0; s < sizeof NK / sizeof *NK; s++) {
          scase g = {t & 1, t >> 1, M, NK[s][0], NK[s][1], alpha, beta, bcol, brow, act};
          double w = run_case(&g);
          cr_expect(w <= 1.0, "isa %d ta %d tb %d M %ld N %ld K %ld: error %.3g x bound", isa,
                    g.ta, g.tb, (long)M, (long)g.N, (long)g.K, w);
        }
  }
  kern_gemm_force_isa(KERN_ISA_AUTO);
}

Test(gemm_small, plain)
{
  sweep(1.0f, 0.0f, 0, 0, NNRT_ACT_NONE);
}

Test(gemm_small, alpha_beta)
{
  sweep(-0.75f, 0.5f, 0, 0, NNRT_ACT_NONE);
}

Test(gemm_small, bias_relu)
{
  sweep(1.0f, 0.0f, 1, 0, NNRT_ACT_RELU);
}

Test(gemm_small, all_epilogues)
{
  sweep(1.5f, -1.0f, 1, 1, NNRT_ACT_RELU);
}

/* The path is taken for M <= KERN_SMALLM_MAX only, and leaves C alone otherwise. */
Test(gemm_small, takes_few_rows_only)
{
  float A[9 * 4] = {0}, B[4 * 4] = {0}, C[9 * 4];
  for (int i = 0; i < 9 * 4; i++)
    C[i] = 7.0f;
  cr_assert_eq(kern_sgemm_smallm(0, 0, KERN_SMALLM_MAX + 1, 4, 4, 1.0f, A, 4, B, 4, 0.0f, C, 4,
                                 NULL, NULL, NNRT_ACT_NONE), 0);
  cr_assert_eq(C[0], 7.0f);
  cr_assert_eq(kern_sgemm_smallm(0, 0, KERN_SMALLM_MAX, 4, 4, 1.0f, A, 4, B, 4, 0.0f, C, 4,
                                 NULL, NULL, NNRT_ACT_NONE), 1);
  cr_assert_eq(C[0], 0.0f);
  cr_assert_eq(C[KERN_SMALLM_MAX * 4], 7.0f, "row M untouched");
}

/* Bit-identical results on 1 and 2 threads, for a product big enough to run in parallel
 * (2 M N K above KERN_GEMM_PAR_MIN_FLOPS), and inside a parallel region. */
Test(gemm_small, thread_count_independent)
{
  int64_t M = 8, N = 2053, K = 2049;
  for (int tb = 0; tb < 2; tb++) {
    float *A = rand_buf(M * K, 1), *B = rand_buf(N * K, 2), *bias = rand_buf(N, 3);
    float *C1 = malloc((size_t)(M * N) * sizeof *C1), *C2 = malloc((size_t)(M * N) * sizeof *C2);
    float *C3 = malloc((size_t)(M * N) * sizeof *C3);
    int64_t ldb = tb ? K : N;
    omp_set_num_threads(1);
    kern_sgemm(0, tb, M, N, K, 1.0f, A, K, B, ldb, 0.0f, C1, N, bias, NULL, NNRT_ACT_RELU);
    omp_set_num_threads(2);
    kern_sgemm(0, tb, M, N, K, 1.0f, A, K, B, ldb, 0.0f, C2, N, bias, NULL, NNRT_ACT_RELU);
#pragma omp parallel num_threads(2)
    {
#pragma omp single
      kern_sgemm(0, tb, M, N, K, 1.0f, A, K, B, ldb, 0.0f, C3, N, bias, NULL, NNRT_ACT_RELU);
    }
    cr_expect(memcmp(C1, C2, (size_t)(M * N) * sizeof *C1) == 0, "tb %d: 1 vs 2 threads", tb);
    cr_expect(memcmp(C1, C3, (size_t)(M * N) * sizeof *C1) == 0, "tb %d: nested", tb);
    free(A), free(B), free(bias), free(C1), free(C2), free(C3);
  }
}

/* With B past SM_B_L2 floats (N K > 256 Ki) the AVX-512 dots order takes up to 8 rows at
 * once: M 5..8, both layouts of A, every epilogue. */
Test(gemm_small, eight_row_groups_on_large_b)
{
  for (int64_t M = 1; M <= 8; M++)
    for (int ta = 0; ta < 2; ta++) {
      scase g = {ta, 1, M, 131, 2003, 1.5f, -1.0f, 1, 1, NNRT_ACT_RELU};
      double w = run_case(&g);
      cr_expect(w <= 1.0, "ta %d M %ld: error %.3g x bound", ta, (long)M, w);
    }
}
