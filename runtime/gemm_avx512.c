/* gemm_avx512.c: the AVX-512 SGEMM micro-kernel (14 x 32) and packing routines.
 *
 * Register blocking (Low et al., "Analytical Modeling Is Enough for High-Performance BLIS",
 * ACM TOMS 43(2), 2016): 14 rows x 2 zmm = 28 accumulators of the 32 zmm registers, plus 2
 * for the B row and 1 for the A broadcast. Each k step does 2 loads, 14 broadcasts and 28
 * FMAs; 28 independent chains cover the FMA latency (4 cycles x 2 ports = 8 in flight
 * needed). One inlined body (avx512_tile) is instantiated for R = 14, 8, 4, 1 rows (short
 * tiles: the bottom edge, matrix-vector products) and for three operand layouts:
 *   packed   B from a packed, aligned panel (unmasked loads, constant stride): the fast one
 *   strided  A and B in place with any strides (B read with lane masks, never past nr)
 *   rows     A in place row-major (one pointer per row): small problems pack nothing
 * Only mr rows and nr columns of C are stored, through lane masks.
 *
 * Trap found here: a helper taking __m512 arguments gets no vzeroupper, and when the last
 * call to it is a tail call the kernel returns to SSE code with dirty upper state; every
 * later SSE instruction then pays a transition penalty (it cost ~15% of GEMM time). The
 * epilogue helper is always_inline for that reason.
 *
 * Built with per-function target attributes: the library needs no -march flag and only
 * calls this after __builtin_cpu_supports("avx512f") (see gemm.c).
 */
#include <immintrin.h>
#include "kernels.h"

#define KERN_AVX512 __attribute__((target("avx512f,avx512vl,fma")))

enum { MR = 14, NR = 32 };

/* The C tile is prefetched this many k steps before the end of the loop. */
#define AVX512_C_AHEAD 48
/* The packed B panel streams from L2; software prefetch this many k steps ahead measured
 * +4% at n = 1024-2048 (0, 4, 8, 16 tried). */
#define AVX512_B_AHEAD 8

/* Mask of the first n (clamped to 0..16) lanes. */
KERN_AVX512 static __mmask16 avx512_mask(int n)
{
  n = n < 0 ? 0 : n > 16 ? 16 : n;
  return (__mmask16)((1u << n) - 1u);
}

/* Epilogue of one row: c = act(alpha * v + beta * c + bias_row + bias_col), masked. */
KERN_AVX512 static inline __attribute__((always_inline)) void
avx512_store_row(float *c, __m512 v0, __m512 v1, __mmask16 m0,
                                         __mmask16 m1, const kern_epi *e, int i)
{
  __m512 alpha = _mm512_set1_ps(e->alpha);
  v0 = _mm512_mul_ps(v0, alpha);
  v1 = _mm512_mul_ps(v1, alpha);
  if (e->beta != 0.0f) {
    __m512 beta = _mm512_set1_ps(e->beta);
    v0 = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(m0, c), v0);
    v1 = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(m1, c + 16), v1);
  }
  if (e->bias_row) {
    __m512 rb = _mm512_set1_ps(e->bias_row[i]);
    v0 = _mm512_add_ps(v0, rb);
    v1 = _mm512_add_ps(v1, rb);
  }
  if (e->bias_col) {
    v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, e->bias_col));
    v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, e->bias_col + 16));
  }
  if (e->relu) {
    v0 = _mm512_max_ps(v0, _mm512_setzero_ps());
    v1 = _mm512_max_ps(v1, _mm512_setzero_ps());
  }
  _mm512_mask_storeu_ps(c, m0, v0);
  _mm512_mask_storeu_ps(c + 16, m1, v1);
}

/* The R x 32 tile (R a constant after inlining, R >= mr): A element (i, k) is
 * a[k * acs + i], B row k is b + k * bks, read with nr-lane masks so that an unpacked B is
 * never read past column nr. Rows past mr are computed from whatever A holds there (the
 * zero padding when packed) and not stored. */
KERN_AVX512 static inline __attribute__((always_inline)) void
avx512_tile(int64_t kc, const float *a, int64_t acs, const float *b, int64_t bks, float *c,
            int64_t ldc, int mr, int nr, const kern_epi *e, const int R, const int packed)
{
  if (packed) /* a constant B stride and aligned unmasked B loads: about 15% faster */
    bks = NR;
  __m512 acc0[MR], acc1[MR];
  __mmask16 m0 = avx512_mask(nr), m1 = avx512_mask(nr - 16);
#pragma GCC unroll 14
  for (int i = 0; i < R; i++) {
    acc0[i] = _mm512_setzero_ps();
    acc1[i] = _mm512_setzero_ps();
  }
  int64_t kpre = kc > AVX512_C_AHEAD ? kc - AVX512_C_AHEAD : 0;
  for (int64_t k = 0; k < kc; k++, a += acs, b += bks) {
    if (k == kpre) /* late enough that the lines are still in L1 at the stores */
      for (int i = 0; i < mr; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + nr - 1), _MM_HINT_T0);
      }
    __m512 b0, b1;
    if (packed) {
      _mm_prefetch((const char *)(b + AVX512_B_AHEAD * NR), _MM_HINT_T0);
      _mm_prefetch((const char *)(b + AVX512_B_AHEAD * NR + 16), _MM_HINT_T0);
      b0 = _mm512_load_ps(b);
      b1 = _mm512_load_ps(b + 16);
    } else {
      b0 = _mm512_maskz_loadu_ps(m0, b);
      b1 = _mm512_maskz_loadu_ps(m1, b + 16);
    }
#pragma GCC unroll 14
    for (int i = 0; i < R; i++) {
      __m512 ai = _mm512_set1_ps(a[i]);
      acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
    }
  }
#pragma GCC unroll 14
  for (int i = 0; i < R; i++)
    if (i < mr)
      avx512_store_row(c + i * ldc, acc0[i], acc1[i], m0, m1, e, i);
}

KERN_AVX512 static void avx512_tile14(int64_t kc, const float *a, int64_t acs, const float *b,
                                      int64_t bks, float *c, int64_t ldc, int mr, int nr,
                                      const kern_epi *e)
{
  avx512_tile(kc, a, acs, b, bks, c, ldc, mr, nr, e, 14, 0);
}

KERN_AVX512 static void avx512_packed14(int64_t kc, const float *a, int64_t acs, const float *b,
                                       int64_t bks, float *c, int64_t ldc, int mr, int nr,
                                       const kern_epi *e)
{
  avx512_tile(kc, a, acs, b, bks, c, ldc, mr, nr, e, 14, 1);
}

KERN_AVX512 static void avx512_tile8(int64_t kc, const float *a, int64_t acs, const float *b,
                                     int64_t bks, float *c, int64_t ldc, int mr, int nr,
                                     const kern_epi *e)
{
  avx512_tile(kc, a, acs, b, bks, c, ldc, mr, nr, e, 8, 0);
}

KERN_AVX512 static void avx512_packed8(int64_t kc, const float *a, int64_t acs, const float *b,
                                       int64_t bks, float *c, int64_t ldc, int mr, int nr,
                                       const kern_epi *e)
{
  avx512_tile(kc, a, acs, b, bks, c, ldc, mr, nr, e, 8, 1);
}

KERN_AVX512 static void avx512_tile4(int64_t kc, const float *a, int64_t acs, const float *b,
                                     int64_t bks, float *c, int64_t ldc, int mr, int nr,
                                     const kern_epi *e)
{
  avx512_tile(kc, a, acs, b, bks, c, ldc, mr, nr, e, 4, 0);
}

KERN_AVX512 static void avx512_packed4(int64_t kc, const float *a, int64_t acs, const float *b,
                                       int64_t bks, float *c, int64_t ldc, int mr, int nr,
                                       const kern_epi *e)
{
  avx512_tile(kc, a, acs, b, bks, c, ldc, mr, nr, e, 4, 1);
}

KERN_AVX512 static void avx512_tile1(int64_t kc, const float *a, int64_t acs, const float *b,
                                     int64_t bks, float *c, int64_t ldc, int mr, int nr,
                                     const kern_epi *e)
{
  avx512_tile(kc, a, acs, b, bks, c, ldc, mr, nr, e, 1, 0);
}

KERN_AVX512 static void avx512_packed1(int64_t kc, const float *a, int64_t acs, const float *b,
                                       int64_t bks, float *c, int64_t ldc, int mr, int nr,
                                       const kern_epi *e)
{
  avx512_tile(kc, a, acs, b, bks, c, ldc, mr, nr, e, 1, 1);
}

/* The tile from an unpacked, row-major A (element (i, k) at a[i * ars + k]): one pointer
 * per row, so no packing at all for small problems. R >= mr as in avx512_tile; rows past mr
 * repeat row 0 (in bounds) and are not stored. */
KERN_AVX512 static inline __attribute__((always_inline)) void
avx512_rows(int64_t kc, const float *a, int64_t ars, const float *b, int64_t bks, float *c,
            int64_t ldc, int mr, int nr, const kern_epi *e, const int R)
{
  const float *ap[MR];
  __m512 acc0[MR], acc1[MR];
  __mmask16 m0 = avx512_mask(nr), m1 = avx512_mask(nr - 16);
#pragma GCC unroll 14
  for (int i = 0; i < R; i++) {
    ap[i] = a + (i < mr ? i : 0) * ars;
    acc0[i] = _mm512_setzero_ps();
    acc1[i] = _mm512_setzero_ps();
  }
  for (int64_t k = 0; k < kc; k++, b += bks) {
    __m512 b0, b1;
    if (nr == NR) {
      b0 = _mm512_loadu_ps(b);
      b1 = _mm512_loadu_ps(b + 16);
    } else {
      b0 = _mm512_maskz_loadu_ps(m0, b);
      b1 = _mm512_maskz_loadu_ps(m1, b + 16);
    }
#pragma GCC unroll 14
    for (int i = 0; i < R; i++) {
      __m512 ai = _mm512_set1_ps(ap[i][k]);
      acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
    }
  }
#pragma GCC unroll 14
  for (int i = 0; i < R; i++)
    if (i < mr)
      avx512_store_row(c + i * ldc, acc0[i], acc1[i], m0, m1, e, i);
}

KERN_AVX512 static void avx512_rows14(int64_t kc, const float *a, int64_t ars, const float *b,
                                      int64_t bks, float *c, int64_t ldc, int mr, int nr,
                                      const kern_epi *e)
{
  avx512_rows(kc, a, ars, b, bks, c, ldc, mr, nr, e, 14);
}

KERN_AVX512 static void avx512_rows8(int64_t kc, const float *a, int64_t ars, const float *b,
                                     int64_t bks, float *c, int64_t ldc, int mr, int nr,
                                     const kern_epi *e)
{
  avx512_rows(kc, a, ars, b, bks, c, ldc, mr, nr, e, 8);
}

KERN_AVX512 static void avx512_rows4(int64_t kc, const float *a, int64_t ars, const float *b,
                                     int64_t bks, float *c, int64_t ldc, int mr, int nr,
                                     const kern_epi *e)
{
  avx512_rows(kc, a, ars, b, bks, c, ldc, mr, nr, e, 4);
}

/* The row-pointer kernel; 0 rows... mr == 1 takes the strided tile (one pointer anyway). */
static void ukr_avx512_rows(int64_t kc, const float *a, int64_t ars, const float *b,
                            int64_t bks, float *c, int64_t ldc, int mr, int nr,
                            const kern_epi *e)
{
  if (mr == 1) {
    avx512_tile1(kc, a, 1, b, bks, c, ldc, mr, nr, e);
    return;
  }
  kern_ukr_fn *f = mr > 8 ? avx512_rows14 : mr > 4 ? avx512_rows8 : avx512_rows4;
  f(kc, a, ars, b, bks, c, ldc, mr, nr, e);
}

/* The micro-kernel on a packed B panel (bks == NR, 64-byte aligned): dispatches
 * on mr to the shortest tile that covers it (short tiles occur at the bottom edge and in
 * matrix-vector products). */
static void ukr_avx512_packed(int64_t kc, const float *a, int64_t acs, const float *b,
                              int64_t bks, float *c, int64_t ldc, int mr, int nr,
                              const kern_epi *e)
{
  kern_ukr_fn *f = mr > 8 ? avx512_packed14 : mr > 4 ? avx512_packed8
                 : mr > 1 ? avx512_packed4 : avx512_packed1;
  f(kc, a, acs, b, bks, c, ldc, mr, nr, e);
}

/* The same on operands in place (any strides, any alignment). */
static void ukr_avx512_strided(int64_t kc, const float *a, int64_t acs, const float *b,
                               int64_t bks, float *c, int64_t ldc, int mr, int nr,
                               const kern_epi *e)
{
  kern_ukr_fn *f = mr > 8 ? avx512_tile14 : mr > 4 ? avx512_tile8
                 : mr > 1 ? avx512_tile4 : avx512_tile1;
  f(kc, a, acs, b, bks, c, ldc, mr, nr, e);
}

/* ---- packing ---- */

/* In-place transpose of the 16 x 16 block r[0..15] (r[i] lane j becomes r[j] lane i):
 * unpack pairs, shuffle quads, then two rounds of 128-bit lane shuffles. */
KERN_AVX512 static void avx512_transpose16(__m512 r[16])
{
  __m512 t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) { /* u[i + c] = elements c of rows i..i+3, per 128-bit lane */
    u[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
    u[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int c = 0; c < 4; c++) { /* lanes {0,2} then {1,3} of row groups (0,1) and (2,3) */
    t[c] = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88);
    t[4 + c] = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);
    t[8 + c] = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
    t[12 + c] = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
  }
  for (int c = 0; c < 4; c++) { /* columns c, c+4, c+8, c+12 */
    r[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);
    r[8 + c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xDD);
    r[4 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0x88);
    r[12 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0xDD);
  }
}

/* Lanes contiguous (ls == 1): per step, a masked copy of nl lanes, zeros up to W. */
KERN_AVX512 static void avx512_pack_copy(const float *s, int64_t ts, int nl, int W, int64_t nt,
                                         float *dst)
{
  for (int64_t t = 0; t < nt; t++, s += ts, dst += W)
    for (int g = 0; g < W; g += 16) {
      __m512 v = _mm512_maskz_loadu_ps(avx512_mask(nl - g), s + g);
      _mm512_mask_storeu_ps(dst + g, avx512_mask(W - g), v);
    }
}

/* Steps contiguous (ts == 1): 16 x 16 blocks of lanes x steps, transposed in registers. */
KERN_AVX512 static void avx512_pack_transpose(const float *s, int64_t ls, int nl, int W,
                                              int64_t nt, float *dst)
{
  for (int g = 0; g < W; g += 16) {
    __mmask16 wm = avx512_mask(W - g);
    for (int64_t t0 = 0; t0 < nt; t0 += 16) {
      int tm = nt - t0 < 16 ? (int)(nt - t0) : 16;
      __mmask16 lm = avx512_mask(tm);
      __m512 r[16];
      for (int i = 0; i < 16; i++)
        r[i] = g + i < nl ? _mm512_maskz_loadu_ps(lm, s + (g + i) * ls + t0)
                          : _mm512_setzero_ps();
      avx512_transpose16(r);
      for (int j = 0; j < tm; j++)
        _mm512_mask_storeu_ps(dst + (t0 + j) * W + g, wm, r[j]);
    }
  }
}

/* dst[t * W + l] = s[l * ls + t * ts] (see gemm.c); 0 iff handled here. */
KERN_AVX512 static int avx512_pack(const float *s, int64_t ls, int64_t ts, int nl, int W,
                                   int64_t nt, float *dst)
{
  if (ls == 1)
    avx512_pack_copy(s, ts, nl, W, nt, dst);
  else if (ts == 1)
    avx512_pack_transpose(s, ls, nl, W, nt, dst);
  else
    return -1;
  return 0;
}

const kern_gemm_arch kern_gemm_avx512 = {
  "avx512-14x32", KERN_ISA_AVX512, MR, NR, 384, 768,
  ukr_avx512_packed, ukr_avx512_strided, ukr_avx512_rows, avx512_pack,
};
