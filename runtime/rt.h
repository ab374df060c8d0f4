/* rt.h: libnnrt's internal header, and the ABI that generated (JIT/AOT) code calls.
 * Every .c file in runtime/ includes this header (which includes nnrt.h). */
#ifndef NNRT_RT_H
#define NNRT_RT_H
#include <stddef.h>
#include <stdint.h>
#include "nnrt.h"

/* ---- rng.c ---- */
void rt_philox_block(uint32_t out[4], uint64_t seed, uint64_t stream, uint64_t index);
float rt_u01(uint32_t w);

/* ---- the ABI (see abi.def) ---- */
void nnrt_philox4x32(uint32_t out[4], const uint32_t ctr[4], const uint32_t key[2]);
float nnrt_rand_uniform(uint64_t seed, uint64_t stream, uint64_t index);
float nnrt_rand_normal(uint64_t seed, uint64_t stream, uint64_t index);

#endif
