/* gemm.c: the SGEMM driver (BLIS / Goto loop nest), operand packing, ISA dispatch and the
 * portable scalar micro-kernel.
 *
 * Sources: K. Goto, R. van de Geijn, "Anatomy of High-Performance Matrix Multiplication",
 * ACM TOMS 34(3), 2008; F. Van Zee, R. van de Geijn, "BLIS: A Framework for Rapidly
 * Instantiating BLAS Functionality", ACM TOMS 41(3), 2015. Loop nest (compiler-techniques
 * §6.1), with the roles of the two innermost loops exchanged:
 *
 *   for jc in 0..N step NC          B panel op(B)[pc:pc+KC, jc:jc+NC], packed NR-wide,
 *     for pc in 0..K step KC          stays in L2 (KC x NC x 4 bytes ~ 1 MiB of 2)
 *       for ir in 0..M step MR      A micro-panel op(A)[ir:ir+MR, pc:pc+KC], packed MR-tall
 *         for jr in 0..NC step NR     into a per-thread buffer that stays in L1 ...
 *           ukr: MR x NR tile of C    ... while the B micro-panels stream from L2
 *
 * Measured here (bench/gemm_bench.c): the classic order (A block in L2, B micro-panel in
 * L1) reached 0.7-0.85 of OpenBLAS; its B micro-panel (KC x 32 floats) nearly fills this
 * core's 48 KiB L1. This order needs no MC. When op(A)[:, pc block] fits 8 MiB it is packed
 * whole, once per K step, and the K loop moves outside the N loop; otherwise each A
 * micro-panel is repacked per B panel. A transposed A is packed 4 tiles wide per visit.
 *
 * Packing zero-pads edge micro-panels; micro-kernels store partial tiles with masks.
 * beta is applied on the first K block only (later blocks accumulate with beta = 1); bias
 * and ReLU only on the last one, while the tile is still in registers.
 *
 * Threads (gemm_parallel): C is cut into independent slabs of whole tiles, 3 per thread,
 * along its longer side, handed out dynamically; each slab runs the serial code above with
 * its thread's own buffers. One fork/join per call and no barriers: a first version that
 * shared packed panels needed 2-3 barriers per K step and, on this shared 2-vCPU machine
 * where a thread is often preempted, ran 2-thread GEMMs 3-10x slower than OpenBLAS under
 * load. The price is packing A (or B) once per slab. Problems under gemm_par_min flops
 * run serially; small ones skip the blocking altogether (gemm_small).
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"

/* Problems up to this M N K, with K and op(B) this small, skip the blocking (gemm_small);
 * measured faster up to n = 512 square, and for conv-shaped long-K products. */
#define GEMM_SMALL_MNK (512.0 * 512 * 512)
#define GEMM_SMALL_KMAX 4096
#define GEMM_SMALL_B (256 * 1024) /* floats of op(B) */
/* Up to this many floats, the A block of a K step is packed whole, once (gemm_run). */
#define GEMM_APRE_MAX (2 * 1024 * 1024)
/* Slabs of C per thread (see gemm_parallel). */
#define GEMM_CHUNKS 3
/* Row tiles of a transposed A packed per visit (see gemm_group). */
#define GEMM_AGROUP_T 4

/* ---- error message (shared by conv.c and pool.c) ---- */

static _Thread_local char kern_msg[256];

const char *kern_errmsg(void)
{
  return kern_msg;
}

/* Keeps msg as this thread's last error and returns status. */
int kern_fail(int status, const char *msg)
{
  snprintf(kern_msg, sizeof kern_msg, "%s", msg);
  return status;
}

/* ---- scalar micro-kernel: 4 x 16, plain C ---- */

enum { SC_MR = 4, SC_NR = 16 };

/* Applies the epilogue to an mr x nr tile acc (row stride acs) and stores it into c. */
static void gemm_store_tile(const float *acc, int acs, float *c, int64_t ldc, int mr, int nr,
                            const kern_epi *e)
{
  for (int i = 0; i < mr; i++) {
    float *ci = c + i * ldc;
    float rb = e->bias_row ? e->bias_row[i] : 0.0f;
    for (int j = 0; j < nr; j++) {
      float v = e->alpha * acc[i * acs + j];
      if (e->beta != 0.0f)
        v += e->beta * ci[j];
      v += rb + (e->bias_col ? e->bias_col[j] : 0.0f);
      ci[j] = (e->relu && !(v > 0.0f)) ? 0.0f : v;
    }
  }
}

static void ukr_scalar(int64_t kc, const float *a, int64_t acs, const float *b, int64_t bks,
                       float *c, int64_t ldc, int mr, int nr, const kern_epi *e)
{
  float acc[SC_MR][SC_NR];
  memset(acc, 0, sizeof acc);
  if (nr == SC_NR) /* constant bounds: the compiler vectorizes this one */
    for (int64_t k = 0; k < kc; k++, a += acs, b += bks)
      for (int i = 0; i < SC_MR; i++)
        for (int j = 0; j < SC_NR; j++)
          acc[i][j] += a[i] * b[j];
  else /* an unpacked B must not be read past column nr */
    for (int64_t k = 0; k < kc; k++, a += acs, b += bks)
      for (int i = 0; i < SC_MR; i++)
        for (int j = 0; j < nr; j++)
          acc[i][j] += a[i] * b[j];
  gemm_store_tile(&acc[0][0], SC_NR, c, ldc, mr, nr, e);
}

static const kern_gemm_arch kern_gemm_scalar = {
  "scalar-4x16", KERN_ISA_SCALAR, SC_MR, SC_NR, 256, 512,
  ukr_scalar, ukr_scalar, NULL, NULL,
};

/* ---- dispatch ---- */

static int gemm_forced;          /* KERN_ISA_*; AUTO = follow the host */
static double gemm_small_mnk = GEMM_SMALL_MNK;
static double gemm_par_min = KERN_GEMM_PAR_MIN_FLOPS;
static int gemm_kc, gemm_nc;     /* blocking overrides, 0 = default */

int kern_isa_host(void)
{
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("fma"))
    return KERN_ISA_AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return KERN_ISA_AVX2;
  return KERN_ISA_SCALAR;
}

int kern_gemm_force_isa(int isa)
{
  if (isa < KERN_ISA_AUTO || isa > KERN_ISA_AVX512 || isa > kern_isa_host())
    return -1;
  gemm_forced = isa;
  return 0;
}

int kern_gemm_isa(void)
{
  return gemm_forced ? gemm_forced : kern_isa_host();
}

static const kern_gemm_arch *gemm_arch(void)
{
  switch (kern_gemm_isa()) {
  case KERN_ISA_AVX512: return &kern_gemm_avx512;
  case KERN_ISA_AVX2: return &kern_gemm_avx2;
  default: return &kern_gemm_scalar;
  }
}

const char *kern_gemm_kernel_name(void)
{
  return gemm_arch()->name;
}

void kern_gemm_set_blocking(int kc, int nc)
{
  gemm_kc = kc > 0 ? kc : 0;
  gemm_nc = nc > 0 ? nc : 0;
}

void kern_gemm_set_par_min(double flops)
{
  gemm_par_min = flops > 0.0 ? flops : KERN_GEMM_PAR_MIN_FLOPS;
}

void kern_gemm_set_small_limit(double mnk)
{
  gemm_small_mnk = mnk == 0.0 ? GEMM_SMALL_MNK : mnk;
}

/* ---- packing ---- */

/* A strided operand view: element (r, c) is p[r * rs + c * cs]. */
typedef struct gemm_view {
  const float *p;
  int64_t rs, cs;
} gemm_view;

/* Packs one micro-panel: dst[t * W + l] = s[l * ls + t * ts] for lanes l < nl, zero for
 * nl <= l < W, steps t < nt. A micro-panels have lanes = rows of op(A), steps = k; B ones
 * have lanes = columns of op(B). */
static void gemm_pack_generic(const float *s, int64_t ls, int64_t ts, int nl, int W,
                              int64_t nt, float *dst)
{
  if (ls == 1) { /* lanes contiguous: a copy per step */
    for (int64_t t = 0; t < nt; t++, dst += W) {
      memcpy(dst, s + t * ts, (size_t)nl * sizeof *dst);
      for (int l = nl; l < W; l++)
        dst[l] = 0.0f;
    }
    return;
  }
  for (int l = 0; l < nl; l++) { /* steps contiguous (when ts == 1): a transpose */
    const float *sl = s + l * ls;
    for (int64_t t = 0; t < nt; t++)
      dst[t * W + l] = sl[t * ts];
  }
  for (int l = nl; l < W; l++)
    for (int64_t t = 0; t < nt; t++)
      dst[t * W + l] = 0.0f;
}

/* Packs with the ISA's packer when it handles the layout, else with the portable one. */
static void gemm_pack(const kern_gemm_arch *k, const float *s, int64_t ls, int64_t ts, int nl,
                      int W, int64_t nt, float *dst)
{
  if (!k->pack || k->pack(s, ls, ts, nl, W, nt, dst) != 0)
    gemm_pack_generic(s, ls, ts, nl, W, nt, dst);
}

/* ---- the loop nest ---- */

typedef struct gemm_job {
  int64_t M, N, K;
  gemm_view a, b; /* op(A) is M x K, op(B) is K x N */
  float *c;
  int64_t ldc;
  float alpha, beta;
  const float *bias_col, *bias_row;
  int relu;
  const kern_gemm_arch *arch;
  int64_t kc, nc;
  float *abuf, *bbuf;
  int nt;
  int apre; /* op(A)[:, pc block] is packed whole, once per K block (gemm_run) */
} gemm_job;

static int64_t gemm_min(int64_t x, int64_t y)
{
  return x < y ? x : y;
}

static int64_t gemm_ceil(int64_t x, int64_t y)
{
  return (x + y - 1) / y;
}

/* Packs op(B)[pc:pc+kc, jc:jc+nc] into NR-wide micro-panels. */
static void gemm_pack_b(const gemm_job *g, int64_t pc, int64_t kc, int64_t jc, int64_t nc)
{
  int NR = g->arch->nr;
  int64_t np = gemm_ceil(nc, NR);
  for (int64_t q = 0; q < np; q++) {
    int64_t j = jc + q * NR;
    const float *s = g->b.p + pc * g->b.rs + j * g->b.cs;
    gemm_pack(g->arch, s, g->b.cs, g->b.rs, (int)gemm_min(NR, jc + nc - j), NR, kc,
              g->bbuf + q * NR * kc);
  }
}

/* The epilogue of the tile at (i, j) for the K block starting at pc of length kc. */
static kern_epi gemm_epi(const gemm_job *g, int64_t i, int64_t j, int64_t pc, int64_t kc)
{
  kern_epi e = {g->alpha, pc == 0 ? g->beta : 1.0f, NULL, NULL, 0};
  if (pc + kc == g->K) {
    e.bias_col = g->bias_col ? g->bias_col + j : NULL;
    e.bias_row = g->bias_row ? g->bias_row + i : NULL;
    e.relu = g->relu;
  }
  return e;
}

/* Row tiles packed together: a transposed A is read k-major, one row of A^T (a page apart
 * for big matrices) per k step, so packing several tiles per visit saves TLB misses. */
static int gemm_group(const gemm_job *g)
{
  return g->a.rs == 1 ? GEMM_AGROUP_T : 1;
}

/* Packs op(A) rows [i, i + ng MR) x [pc, pc + kc) into ap as one panel ng MR wide, so that
 * a transposed A is read a whole row of A^T at a time; a single tile's panel fits L1. */
static void gemm_pack_a(const gemm_job *g, int64_t i, int ng, int64_t pc, int64_t kc,
                        float *ap)
{
  int W = ng * g->arch->mr;
  int64_t i1 = gemm_min(i + W, g->M);
  gemm_pack(g->arch, g->a.p + i * g->a.rs + pc * g->a.cs, g->a.rs, g->a.cs, (int)(i1 - i), W,
            kc, ap);
}

/* Runs each MR-row tile of rows [i, i + ng MR) (packed at ap by gemm_pack_a, now or before)
 * against B micro-panels [q0, q1) of the packed panel at jc. */
static void gemm_row_tiles(const gemm_job *g, int64_t i, int ng, int64_t q0, int64_t q1,
                           int64_t jc, int64_t nc, int64_t pc, int64_t kc, float *ap)
{
  const kern_gemm_arch *k = g->arch;
  int W = ng * k->mr;
  int64_t i1 = gemm_min(i + W, g->M);
  if (!g->apre)
    gemm_pack_a(g, i, ng, pc, kc, ap);
  for (int64_t r = i; r < i1; r += k->mr) {
    int mr = (int)gemm_min(k->mr, i1 - r);
    for (int64_t q = q0; q < q1; q++) {
      int64_t j = jc + q * k->nr;
      int nr = (int)gemm_min(k->nr, jc + nc - j);
      kern_epi e = gemm_epi(g, r, j, pc, kc);
      k->ukr(kc, ap + (r - i), W, g->bbuf + q * k->nr * kc, k->nr, g->c + r * g->ldc + j,
             g->ldc, mr, nr, &e);
    }
  }
}

/* All of C's rows against the packed B panel at (jc, pc). */
static void gemm_panel(const gemm_job *g, int64_t jc, int64_t nc, int64_t pc, int64_t kc)
{
  int ng = gemm_group(g);
  int64_t rows = (int64_t)ng * g->arch->mr, nb = gemm_ceil(nc, g->arch->nr);
  for (int64_t i = 0; i < g->M; i += rows)
    gemm_row_tiles(g, i, ng, 0, nb, jc, nc, pc, kc, g->apre ? g->abuf + i * kc : g->abuf);
}

/* With g->apre: packs all of op(A)[:, pc:pc+kc], one ng MR-wide panel per row group. */
static void gemm_pack_a_all(const gemm_job *g, int64_t pc, int64_t kc)
{
  int ng = gemm_group(g);
  int64_t rows = (int64_t)ng * g->arch->mr;
  for (int64_t i = 0; i < g->M; i += rows)
    gemm_pack_a(g, i, ng, pc, kc, g->abuf + i * kc);
}

static void gemm_run(const gemm_job *g)
{
  if (g->apre) { /* K blocks outside: each A block is packed once for all B panels */
    for (int64_t pc = 0; pc < g->K; pc += g->kc) {
      int64_t kc = gemm_min(g->kc, g->K - pc);
      gemm_pack_a_all(g, pc, kc);
      for (int64_t jc = 0; jc < g->N; jc += g->nc) {
        int64_t nc = gemm_min(g->nc, g->N - jc);
        gemm_pack_b(g, pc, kc, jc, nc);
        gemm_panel(g, jc, nc, pc, kc);
      }
    }
    return;
  }
  for (int64_t jc = 0; jc < g->N; jc += g->nc) {
    int64_t nc = gemm_min(g->nc, g->N - jc);
    for (int64_t pc = 0; pc < g->K; pc += g->kc) {
      int64_t kc = gemm_min(g->kc, g->K - pc);
      gemm_pack_b(g, pc, kc, jc, nc);
      gemm_panel(g, jc, nc, pc, kc);
    }
  }
}

/* ---- small problems: one K block; A and B packed only when the layout needs it ---- */

/* Whether the problem is small enough for gemm_small: few K steps, and op(B) about half
 * of L2 (every row tile streams all of it) unless there is a single row tile. A blocking
 * override (tests, tuning) turns it off. */
static int gemm_is_small(const gemm_job *g)
{
  return !gemm_kc && g->K <= GEMM_SMALL_KMAX &&
         (g->K * g->N <= GEMM_SMALL_B || g->M <= g->arch->mr) &&
         (double)g->M * g->N * g->K <= gemm_small_mnk;
}

/* Floats of scratch gemm_small needs: an A micro-panel, and all of B when it is
 * transposed. */
static size_t gemm_small_scratch(const gemm_job *g)
{
  size_t na = (size_t)(g->arch->mr * g->K);
  size_t nb = g->b.cs == 1 ? 0 : (size_t)(gemm_ceil(g->N, g->arch->nr) * g->arch->nr * g->K);
  return na + nb + 16;
}

/* One row tile of gemm_small: op(A) rows [i, i + mr) against op(B) columns [j0, j1). */
static void gemm_small_tile(const gemm_job *g, int64_t i, int64_t j0, int64_t j1, float *abuf)
{
  const kern_gemm_arch *k = g->arch;
  int mr = (int)gemm_min(k->mr, g->M - i);
  const float *ap = g->a.p + i * g->a.rs;
  int64_t acs = g->a.cs;
  kern_ukr_fn *ukr = k->strided;
  if (g->a.cs == 1 && k->rows) {
    ukr = k->rows;
    acs = g->a.rs;
  } else if (g->a.rs != 1 || mr < k->mr) {
    gemm_pack(k, ap, g->a.rs, g->a.cs, mr, k->mr, g->K, abuf);
    ap = abuf;
    acs = k->mr;
  }
  for (int64_t j = j0; j < j1; j += k->nr) {
    int nr = (int)gemm_min(k->nr, j1 - j);
    kern_epi e = gemm_epi(g, i, j, 0, g->K);
    const float *bp = g->b.cs == 1 ? g->b.p + j : g->bbuf + j * g->K;
    int64_t bks = g->b.cs == 1 ? g->b.rs : k->nr;
    ukr(g->K, ap, acs, bp, bks, g->c + i * g->ldc + j, g->ldc, mr, nr, &e);
  }
}

/* C = op(A) op(B) without cache blocking. The kernel reads op(B) rows in place when B is
 * not transposed, and op(A) in place when the arch reads row-major A (rows) or A is
 * transposed (full-height tiles only: an edge tile would read past the matrix); otherwise
 * it packs. */
static void gemm_small(const gemm_job *g)
{
  const kern_gemm_arch *k = g->arch;
  if (g->b.cs != 1)
    for (int64_t j = 0; j < g->N; j += k->nr)
      gemm_pack(k, g->b.p + j * g->b.cs, g->b.cs, g->b.rs, (int)gemm_min(k->nr, g->N - j),
                k->nr, g->K, g->bbuf + j * g->K);
  for (int64_t i = 0; i < g->M; i += k->mr)
    gemm_small_tile(g, i, 0, g->N, g->abuf);
}

/* ---- scratch memory: one growing 64-byte aligned buffer per calling thread ---- */

static _Thread_local float *gemm_buf;
static _Thread_local size_t gemm_cap; /* floats */

static float *gemm_scratch(size_t n)
{
  if (n <= gemm_cap)
    return gemm_buf;
  free(gemm_buf);
  size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
  gemm_buf = aligned_alloc(64, bytes);
  gemm_cap = gemm_buf ? n : 0;
  return gemm_buf;
}

/* ---- fallbacks: no product (K == 0 or alpha == 0), and no memory ---- */

/* C = beta * C + bias, then act, with no product term. */
static void gemm_scale(const gemm_job *g)
{
  kern_epi e = {0.0f, g->beta, NULL, NULL, g->relu};
  float zero[1] = {0.0f};
  for (int64_t i = 0; i < g->M; i++) {
    e.bias_row = g->bias_row ? g->bias_row + i : NULL;
    for (int64_t j = 0; j < g->N; j++) {
      e.bias_col = g->bias_col ? g->bias_col + j : NULL;
      gemm_store_tile(zero, 1, g->c + i * g->ldc + j, g->ldc, 1, 1, &e);
    }
  }
}

/* Unpacked triple loop; only used when the packing buffers cannot be allocated. */
static void gemm_naive(const gemm_job *g)
{
  for (int64_t i = 0; i < g->M; i++)
    for (int64_t j = 0; j < g->N; j++) {
      float acc = 0.0f;
      for (int64_t k = 0; k < g->K; k++)
        acc += g->a.p[i * g->a.rs + k * g->a.cs] * g->b.p[k * g->b.rs + j * g->b.cs];
      kern_epi e = gemm_epi(g, i, j, 0, g->K);
      gemm_store_tile(&acc, 1, g->c + i * g->ldc + j, g->ldc, 1, 1, &e);
    }
}

/* ---- entry points ---- */

static int gemm_threads(int64_t M, int64_t N, int64_t K)
{
  if (omp_in_parallel())
    return 1;
  double flops = 2.0 * (double)M * (double)N * (double)K;
  int nt = omp_get_max_threads();
  if (nt > 1 && flops < gemm_par_min)
    return 1;
  if (nt > 1 && flops / nt < gemm_par_min / 2)
    nt = (int)(flops / (gemm_par_min / 2));
  return nt < 1 ? 1 : nt;
}

static void gemm_plan(gemm_job *g)
{
  const kern_gemm_arch *k = gemm_arch();
  g->arch = k;
  g->kc = gemm_kc ? gemm_kc : k->kc;
  g->nc = gemm_nc ? gemm_nc : k->nc;
  g->nc = gemm_ceil(g->nc, k->nr) * k->nr;
  g->nt = gemm_threads(g->M, g->N, g->K);
}

/* The whole job on the calling thread: the small path or the blocked nest. */
static void gemm_serial(gemm_job *g)
{
  if (gemm_is_small(g)) {
    g->abuf = gemm_scratch(gemm_small_scratch(g));
    if (!g->abuf) {
      gemm_naive(g);
      return;
    }
    g->bbuf = g->abuf + (((size_t)g->arch->mr * g->K + 15) & ~(size_t)15);
    gemm_small(g);
    return;
  }
  int64_t kc = gemm_min(g->kc, g->K), nc = gemm_min(g->nc, g->N);
  int64_t rows = (int64_t)gemm_group(g) * g->arch->mr;
  size_t na = (size_t)(rows * g->kc), nall = (size_t)(gemm_ceil(g->M, rows) * rows * kc);
  size_t nb = (size_t)(gemm_ceil(nc, g->arch->nr) * g->arch->nr * kc);
  g->apre = g->N > g->nc && nall <= GEMM_APRE_MAX; /* several B panels would repack A */
  if (g->apre)
    na = nall;
  float *buf = gemm_scratch(na + nb + 16);
  if (!buf) {
    gemm_naive(g);
    return;
  }
  g->abuf = buf;
  g->bbuf = buf + ((na + 15) & ~(size_t)15);
  gemm_run(g);
}

/* The part of g in chunk c of nch: a slab of C's columns (by_cols) or rows, whole tiles. */
static gemm_job gemm_chunk(const gemm_job *g, int by_cols, int64_t c, int64_t nch)
{
  gemm_job s = *g;
  int64_t t = by_cols ? g->arch->nr : g->arch->mr, units = gemm_ceil(by_cols ? g->N : g->M, t);
  int64_t lo = units * c / nch * t, hi = gemm_min(units * (c + 1) / nch * t, by_cols ? g->N : g->M);
  if (by_cols) {
    s.N = hi - lo;
    s.b.p += lo * g->b.cs;
    s.c += lo;
    s.bias_col = g->bias_col ? g->bias_col + lo : NULL;
  } else {
    s.M = hi - lo;
    s.a.p += lo * g->a.rs;
    s.c += lo * g->ldc;
    s.bias_row = g->bias_row ? g->bias_row + lo : NULL;
  }
  return s;
}

/* Splits C into independent slabs, GEMM_CHUNKS per thread, along its longer side (in tiles),
 * handed out dynamically; each runs serially with its thread's own packing buffers. One
 * fork and one join per call, no barriers: on this shared machine a preempted thread then
 * costs only its current slab, the others take the rest. A is packed once per slab. */
static void gemm_parallel(const gemm_job *g)
{
  int by_cols = gemm_ceil(g->N, g->arch->nr) >= gemm_ceil(g->M, g->arch->mr);
  int64_t units = by_cols ? gemm_ceil(g->N, g->arch->nr) : gemm_ceil(g->M, g->arch->mr);
  int64_t nch = gemm_min(units, (int64_t)g->nt * GEMM_CHUNKS);
#pragma omp parallel for schedule(dynamic) num_threads(g->nt)
  for (int64_t c = 0; c < nch; c++) {
    gemm_job s = gemm_chunk(g, by_cols, c, nch);
    if (s.M > 0 && s.N > 0)
      gemm_serial(&s);
  }
}

void kern_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                int64_t ldc, const float *bias_col, const float *bias_row, int act)
{
  if (M <= 0 || N <= 0)
    return;
  gemm_job g = {M, N, K, {A, trans_a ? 1 : lda, trans_a ? lda : 1},
                {B, trans_b ? 1 : ldb, trans_b ? ldb : 1}, C, ldc, alpha, beta,
                bias_col, bias_row, act == NNRT_ACT_RELU, NULL, 0, 0, NULL, NULL, 1, 0};
  if (K <= 0 || alpha == 0.0f) {
    gemm_scale(&g);
    return;
  }
  if (!gemm_kc && gemm_small_mnk > 0 && /* few rows: B in place (gemm_small.c) */
      kern_sgemm_smallm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
                        bias_col, bias_row, act))
    return;
  gemm_plan(&g);
  if (g.nt > 1)
    gemm_parallel(&g);
  else
    gemm_serial(&g);
}

void nnrt_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                int64_t ldc)
{
  kern_sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL, NULL,
             NNRT_ACT_NONE);
}

void nnrt_sgemm_ex(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                   const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                   int64_t ldc, const float *bias, int act)
{
  kern_sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, NULL, act);
}
