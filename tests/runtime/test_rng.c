/* test_rng.c: Philox4x32-10 against the Random123 known answers; uniform and normal
 * ranges and moments. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include "rt.h"

Test(rng, philox_kat_zero)
{
  uint32_t ctr[4] = {0, 0, 0, 0}, key[2] = {0, 0}, out[4];
  nnrt_philox4x32(out, ctr, key);
  cr_assert_eq(out[0], 0x6627e8d5u);
  cr_assert_eq(out[1], 0xe169c58du);
  cr_assert_eq(out[2], 0xbc57ac4cu);
  cr_assert_eq(out[3], 0x9b00dbd8u);
}

Test(rng, philox_kat_ones)
{
  uint32_t ctr[4] = {~0u, ~0u, ~0u, ~0u}, key[2] = {~0u, ~0u}, out[4];
  nnrt_philox4x32(out, ctr, key);
  cr_assert_eq(out[0], 0x408f276du);
  cr_assert_eq(out[1], 0x41c83b0eu);
  cr_assert_eq(out[2], 0xa20bc7c6u);
  cr_assert_eq(out[3], 0x6d5451fdu);
}

Test(rng, philox_kat_pi)
{
  uint32_t ctr[4] = {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u};
  uint32_t key[2] = {0xa4093822u, 0x299f31d0u}, out[4];
  nnrt_philox4x32(out, ctr, key);
  cr_assert_eq(out[0], 0xd16cfe09u);
  cr_assert_eq(out[1], 0x94fdccebu);
  cr_assert_eq(out[2], 0x5001e420u);
  cr_assert_eq(out[3], 0x24126ea1u);
}

Test(rng, counter_and_key_layout)
{
  /* index 2^32 + 5, stream 2^32 + 7, seed 2^32 + 9 spread over the words as specified */
  uint32_t ctr[4] = {5, 1, 7, 1}, key[2] = {9, 1}, out[4], blk[4];
  nnrt_philox4x32(out, ctr, key);
  rt_philox_block(blk, (1ull << 32) + 9, (1ull << 32) + 7, (1ull << 32) + 5);
  for (int i = 0; i < 4; i++) cr_assert_eq(out[i], blk[i]);
  cr_assert_eq(nnrt_rand_uniform((1ull << 32) + 9, (1ull << 32) + 7, (1ull << 32) + 5),
               rt_u01(out[0]));
}

Test(rng, uniform_open_interval_extremes)
{
  cr_assert_gt(rt_u01(0), 0.0f);
  cr_assert_lt(rt_u01(0xffffffffu), 1.0f);
  cr_assert_eq(rt_u01(0), 0.5f / 16777216.0f);
  cr_assert_eq(rt_u01(0xffffffffu), 1.0f - 1.0f / 16777216.0f);
  cr_assert_eq(rt_u01(0x80000000u), 0.5f);
}

Test(rng, uniform_moments)
{
  enum { N = 1000000 };
  double s = 0, s2 = 0;
  for (int i = 0; i < N; i++) {
    double u = nnrt_rand_uniform(42, 3, i);
    cr_assert(u > 0.0 && u < 1.0);
    s += u;
    s2 += u * u;
  }
  double mean = s / N, var = s2 / N - mean * mean;
  /* 5 sigma: sd of the mean is sqrt(1/12/N) = 2.9e-4 */
  cr_assert_float_eq(mean, 0.5, 5 * 2.9e-4);
  cr_assert_float_eq(var, 1.0 / 12, 5e-4);
}

Test(rng, normal_moments)
{
  enum { N = 1000000 };
  double s = 0, s2 = 0, s4 = 0;
  for (int i = 0; i < N; i++) {
    double z = nnrt_rand_normal(1, 0, i);
    cr_assert(isfinite(z));
    s += z;
    s2 += z * z;
    s4 += z * z * z * z;
  }
  double mean = s / N, var = s2 / N - mean * mean;
  cr_assert_float_eq(mean, 0.0, 5e-3);  /* 5 sigma of 1e-3 */
  cr_assert_float_eq(var, 1.0, 7.1e-3); /* 5 sigma of sqrt(2/N) */
  cr_assert_float_eq(s4 / N, 3.0, 0.05); /* kurtosis of a normal */
}

Test(rng, streams_and_seeds_differ)
{
  int same = 0;
  for (int i = 0; i < 1000; i++) {
    same += nnrt_rand_uniform(1, 0, i) == nnrt_rand_uniform(1, 1, i);
    same += nnrt_rand_uniform(1, 0, i) == nnrt_rand_uniform(2, 0, i);
  }
  cr_assert_lt(same, 3);
}

static void fill_with_threads(float *x, int64_t n, int threads, int normal)
{
  nnrt_set_threads(threads);
  if (normal) nnrt_fill_normal(x, n, 99, 5, 1.0f, 2.0f);
  else nnrt_fill_uniform(x, n, 99, 5, -1.0f, 3.0f);
}

Test(rng, parallel_fill_equals_serial_fill)
{
  enum { N = 200003 };
  static float a[N], b[N], c[N];
  for (int normal = 0; normal < 2; normal++) {
    fill_with_threads(a, N, 1, normal);
    fill_with_threads(b, N, 2, normal);
    fill_with_threads(c, N, 4, normal);
    cr_assert_eq(memcmp(a, b, sizeof a), 0, "normal=%d", normal);
    cr_assert_eq(memcmp(a, c, sizeof a), 0, "normal=%d", normal);
    /* and equal to the scalar functions, element by element */
    for (int i = 0; i < N; i += 1009) {
      float want = normal ? 1.0f + 2.0f * nnrt_rand_normal(99, 5, i)
                          : -1.0f + 4.0f * nnrt_rand_uniform(99, 5, i);
      cr_assert_eq(a[i], want, "i=%d", i);
    }
  }
}

Test(rng, permutation_is_a_deterministic_permutation)
{
  enum { N = 1000 };
  static int64_t p[N], q[N], r[N];
  static char seen[N];
  nnrt_permutation(p, N, 7, 0);
  nnrt_permutation(q, N, 7, 0);
  nnrt_permutation(r, N, 7, 1);
  cr_assert_eq(memcmp(p, q, sizeof p), 0);
  cr_assert_neq(memcmp(p, r, sizeof p), 0);
  int fixed = 0;
  for (int i = 0; i < N; i++) {
    cr_assert(p[i] >= 0 && p[i] < N);
    cr_assert_not(seen[p[i]]);
    seen[p[i]] = 1;
    fixed += p[i] == i;
  }
  cr_assert_lt(fixed, 10); /* about 1 expected */
}

Test(rng, permutation_is_uniform_on_three)
{
  int count[6] = {0};
  for (int s = 0; s < 6000; s++) {
    int64_t p[3];
    nnrt_permutation(p, 3, (uint64_t)s, 0);
    count[p[0] * 2 + (p[1] > p[2])]++;
  }
  for (int k = 0; k < 6; k++) cr_assert(count[k] > 850 && count[k] < 1150, "%d: %d", k, count[k]);
}
