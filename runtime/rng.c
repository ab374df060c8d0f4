/* rng.c: counter-based random numbers (Philox4x32-10).
 *
 * Source: J. Salmon, M. Moraes, R. Dror, D. Shaw, "Parallel Random Numbers: As Easy as
 * 1, 2, 3", SC'11, section 3.2 (Philox) and the Random123 known-answer tests. A random
 * number is a pure function of (seed, stream, index), so a tensor filled in parallel is
 * bitwise identical to one filled serially, whatever the thread count.
 *   counter = (index lo, index hi, stream lo, stream hi), key = (seed lo, seed hi).
 */
#include <math.h>
#include "rt.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u /* golden ratio */
#define PHILOX_W1 0xBB67AE85u /* sqrt(3) - 1 */

/* One Philox S-box round: two 32x32->64 multiplies, xor with the key. */
static void rt_philox_round(uint32_t c[4], const uint32_t k[2])
{
  uint64_t p0 = (uint64_t)PHILOX_M0 * c[0];
  uint64_t p1 = (uint64_t)PHILOX_M1 * c[2];
  uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
  uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
  uint32_t n0 = hi1 ^ c[1] ^ k[0], n2 = hi0 ^ c[3] ^ k[1];
  c[0] = n0;
  c[1] = lo1;
  c[2] = n2;
  c[3] = lo0;
}

void nnrt_philox4x32(uint32_t out[4], const uint32_t ctr[4], const uint32_t key[2])
{
  uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
  uint32_t k[2] = {key[0], key[1]};
  for (int r = 0; r < 10; r++) {
    if (r > 0) {
      k[0] += PHILOX_W0;
      k[1] += PHILOX_W1;
    }
    rt_philox_round(c, k);
  }
  for (int i = 0; i < 4; i++) out[i] = c[i];
}

/* rt_philox_block: the four words for (seed, stream, index). */
void rt_philox_block(uint32_t out[4], uint64_t seed, uint64_t stream, uint64_t index)
{
  uint32_t ctr[4] = {(uint32_t)index, (uint32_t)(index >> 32), (uint32_t)stream,
                     (uint32_t)(stream >> 32)};
  uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  nnrt_philox4x32(out, ctr, key);
}

/* rt_u01: a 32-bit word to a float in (0,1): k = the top 24 bits, u = k * 2^-24, exact in
 * f32; k = 0 gives 2^-25 instead of 0. (Centring every cell, (k + 0.5) * 2^-24, would need
 * 25 bits and round the top cell to 1.0f.) */
float rt_u01(uint32_t w)
{
  uint32_t k = w >> 8;
  return k ? (float)k * (1.0f / 16777216.0f) : 1.0f / 33554432.0f;
}

float nnrt_rand_uniform(uint64_t seed, uint64_t stream, uint64_t index)
{
  uint32_t w[4];
  rt_philox_block(w, seed, stream, index);
  return rt_u01(w[0]);
}

/* Box-Muller on the first two words of one Philox block (Box & Muller 1958). Computed
 * in double so that u1 near 2^-24 gives a finite tail (|z| <= ~5.8). */
static float rt_box_muller(uint32_t w0, uint32_t w1)
{
  double u1 = rt_u01(w0), u2 = rt_u01(w1);
  double r = sqrt(-2.0 * log(u1));
  return (float)(r * cos(6.283185307179586 * u2));
}

float nnrt_rand_normal(uint64_t seed, uint64_t stream, uint64_t index)
{
  uint32_t w[4];
  rt_philox_block(w, seed, stream, index);
  return rt_box_muller(w[0], w[1]);
}

/* ---- fills: element i takes index i, so any chunking gives the same bits ---- */

/* rt_philox_lanes: word 0 and word 1 of the blocks of RT_LANES consecutive indices,
 * computed lane-parallel so that the compiler vectorizes the rounds (the same arithmetic
 * as nnrt_philox4x32, lane by lane). */
#define RT_LANES 8
static void rt_philox_lanes(uint32_t w0[RT_LANES], uint32_t w1[RT_LANES], uint64_t seed,
                            uint64_t stream, uint64_t index)
{
  uint32_t c0[RT_LANES], c1[RT_LANES], c2[RT_LANES], c3[RT_LANES];
  for (int l = 0; l < RT_LANES; l++) {
    uint64_t i = index + (uint64_t)l;
    c0[l] = (uint32_t)i;
    c1[l] = (uint32_t)(i >> 32);
    c2[l] = (uint32_t)stream;
    c3[l] = (uint32_t)(stream >> 32);
  }
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int r = 0; r < 10; r++) {
    for (int l = 0; l < RT_LANES; l++) {
      uint64_t p0 = (uint64_t)PHILOX_M0 * c0[l], p1 = (uint64_t)PHILOX_M1 * c2[l];
      uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[l] ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3[l] ^ k1;
      c0[l] = n0;
      c1[l] = (uint32_t)p1;
      c2[l] = n2;
      c3[l] = (uint32_t)p0;
    }
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  for (int l = 0; l < RT_LANES; l++) {
    w0[l] = c0[l];
    w1[l] = c1[l];
  }
}

typedef struct {
  float *x;
  uint64_t seed, stream;
  float a, b;
} rt_fill_job;

static void rt_fill_uniform_chunk(void *p, int64_t begin, int64_t end)
{
  const rt_fill_job *j = p;
  float *x = j->x;
  const float lo = j->a, span = j->b - j->a;
  int64_t i = begin;
  for (; i + RT_LANES <= end; i += RT_LANES) {
    uint32_t w0[RT_LANES], w1[RT_LANES];
    rt_philox_lanes(w0, w1, j->seed, j->stream, (uint64_t)i);
    for (int l = 0; l < RT_LANES; l++) x[i + l] = lo + span * rt_u01(w0[l]);
  }
  for (; i < end; i++) x[i] = lo + span * nnrt_rand_uniform(j->seed, j->stream, (uint64_t)i);
}

static void rt_fill_normal_chunk(void *p, int64_t begin, int64_t end)
{
  const rt_fill_job *j = p;
  float *x = j->x;
  int64_t i = begin;
  for (; i + RT_LANES <= end; i += RT_LANES) {
    uint32_t w0[RT_LANES], w1[RT_LANES];
    rt_philox_lanes(w0, w1, j->seed, j->stream, (uint64_t)i);
    for (int l = 0; l < RT_LANES; l++) x[i + l] = j->a + j->b * rt_box_muller(w0[l], w1[l]);
  }
  for (; i < end; i++) x[i] = j->a + j->b * nnrt_rand_normal(j->seed, j->stream, (uint64_t)i);
}

#define RT_FILL_GRAIN 4096

void nnrt_fill_uniform(float *x, int64_t n, uint64_t seed, uint64_t stream, float lo, float hi)
{
  rt_fill_job j = {x, seed, stream, lo, hi};
  nnrt_parallel_for_grain(n, RT_FILL_GRAIN, rt_fill_uniform_chunk, &j);
}

void nnrt_fill_normal(float *x, int64_t n, uint64_t seed, uint64_t stream, float mean, float std)
{
  rt_fill_job j = {x, seed, stream, mean, std};
  nnrt_parallel_for_grain(n, RT_FILL_GRAIN, rt_fill_normal_chunk, &j);
}

/* nnrt_permutation: Fisher-Yates (Durstenfeld 1964, Knuth TAOCP 3.4.2 algorithm P); the
 * swap partner of position i is a 64-bit Philox draw mapped to [0, i] by a multiply and
 * shift (Lemire 2019; bias below 2^-40 for n < 2^24). */
void nnrt_permutation(int64_t *perm, int64_t n, uint64_t seed, uint64_t stream)
{
  for (int64_t i = 0; i < n; i++) perm[i] = i;
  for (int64_t i = n - 1; i > 0; i--) {
    uint32_t w[4];
    rt_philox_block(w, seed, stream, (uint64_t)i);
    uint64_t r = (uint64_t)w[0] | (uint64_t)w[1] << 32;
    int64_t j = (int64_t)(((unsigned __int128)r * (uint64_t)(i + 1)) >> 64);
    int64_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
}
