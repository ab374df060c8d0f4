/* test_rng.c: Philox4x32-10 against the Random123 known answers; uniform and normal
 * ranges and moments. */
#include <criterion/criterion.h>
#include <math.h>
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
