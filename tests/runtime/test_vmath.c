/* test_vmath.c: nnrt_vexp / nnrt_vtanh / nnrt_vsigmoid against libm in double, over dense
 * grids, on every code path (AVX-512 and scalar, through kern_vmath_force_isa).
 * Bounds (the kernels' contract): exp max rel err 2e-7 on [-87, 88]; tanh and sigmoid
 * abs err 1e-6 everywhere; special values exact.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"

/* Runs body once per supported vmath ISA. */
#define EACH_ISA(isa) for (int isa = KERN_ISA_SCALAR; isa <= kern_isa_host(); isa++) \
  if (kern_vmath_force_isa(isa) == 0)

enum { GRID = 1 << 20 };

/* x[i]: a linear grid over [lo, hi] followed by every 509th float between them. */
static float *grid(float lo, float hi, int64_t *n)
{
  float *x = malloc((size_t)(GRID * 3) * sizeof *x);
  int64_t k = 0;
  for (int64_t i = 0; i < GRID; i++)
    x[k++] = lo + (hi - lo) * (float)i / (GRID - 1);
  for (float v = 1e-30f; v <= hi && k < GRID * 3 - 1; ) { /* log-spaced by bit pattern */
    if (v >= lo)
      x[k++] = v;
    if (-v >= lo)
      x[k++] = -v;
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    b += 509 * 16;
    memcpy(&v, &b, sizeof v);
  }
  *n = k;
  return x;
}

Test(vmath, exp_relative_error)
{
  int64_t n;
  float *x = grid(-87.0f, 88.0f, &n), *y = malloc((size_t)n * sizeof *y);
  EACH_ISA(isa) {
    nnrt_vexp(n, x, y);
    double worst = 0.0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
      double e = exp((double)x[i]), r = fabs(y[i] - e) / e;
      if (!(r <= worst))
        worst = r, at = i;
    }
    cr_assert(worst <= 2e-7, "isa %d: exp(%.9g) = %.9g, rel err %.3g", isa, x[at], y[at],
              worst);
  }
  free(x), free(y);
}

Test(vmath, tanh_sigmoid_absolute_error)
{
  int64_t n;
  float *x = grid(-30.0f, 30.0f, &n), *y = malloc((size_t)n * sizeof *y);
  EACH_ISA(isa) {
    nnrt_vtanh(n, x, y);
    for (int64_t i = 0; i < n; i++)
      cr_assert(fabs(y[i] - tanh((double)x[i])) <= 1e-6, "isa %d: tanh(%.9g) = %.9g", isa,
                x[i], y[i]);
    nnrt_vsigmoid(n, x, y);
    for (int64_t i = 0; i < n; i++)
      cr_assert(fabs(y[i] - 1.0 / (1.0 + exp(-(double)x[i]))) <= 1e-6,
                "isa %d: sigmoid(%.9g) = %.9g", isa, x[i], y[i]);
  }
  free(x), free(y);
}

Test(vmath, special_values)
{
  float x[] = {INFINITY, -INFINITY, NAN, 0.0f, -0.0f, 100.0f, -100.0f, 88.7f, -103.0f, 1e-30f,
               -200.0f, 200.0f};
  enum { N = sizeof x / sizeof x[0] };
  float y[N];
  EACH_ISA(isa) {
    nnrt_vexp(N, x, y);
    cr_assert(y[0] == INFINITY && y[1] == 0.0f && isnan(y[2]) && y[3] == 1.0f && y[4] == 1.0f);
    cr_assert(y[5] == INFINITY && y[10] == 0.0f && y[11] == INFINITY, "isa %d", isa);
    cr_assert(fabs(y[6] - exp(-100.0)) <= 0x1p-148, "denormal exp(-100) = %g", y[6]);
    cr_assert(fabs(y[8] - exp(-103.0)) <= 0x1p-148);
    cr_assert(fabs(y[7] - exp((double)x[7])) / exp((double)x[7]) <= 2e-7);
    nnrt_vtanh(N, x, y);
    cr_assert(y[0] == 1.0f && y[1] == -1.0f && isnan(y[2]) && y[3] == 0.0f);
    cr_assert(signbit(y[4]) && y[9] == 1e-30f, "tanh keeps the sign of zero and tiny x");
    nnrt_vsigmoid(N, x, y);
    cr_assert(y[0] == 1.0f && y[1] == 0.0f && isnan(y[2]) && y[3] == 0.5f);
  }
}

Test(vmath, tails_and_in_place_match_across_isas)
{
  float x[67], a[67], b[67];
  for (int i = 0; i < 67; i++)
    x[i] = (float)i * 0.37f - 12.0f;
  for (int n = 0; n <= 67; n++) {
    cr_assert_eq(kern_vmath_force_isa(KERN_ISA_SCALAR), 0);
    for (int i = 0; i < 67; i++)
      a[i] = b[i] = -7.0f;
    nnrt_vtanh(n, x, a);
    memcpy(b, x, sizeof b);
    if (kern_vmath_force_isa(KERN_ISA_AVX512) != 0)
      kern_vmath_force_isa(KERN_ISA_SCALAR);
    nnrt_vtanh(n, b, b); /* in place */
    for (int i = 0; i < n; i++)
      cr_assert(fabs(a[i] - b[i]) <= 2e-7, "n=%d i=%d", n, i);
    for (int i = n; i < 67; i++)
      cr_assert(a[i] == -7.0f && b[i] == x[i], "wrote past n=%d", n);
  }
}

Test(vmath, long_array_threads)
{
  int64_t n = 300001;
  float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
  for (int64_t i = 0; i < n; i++)
    x[i] = (float)(i % 2000) * 0.01f - 10.0f;
  nnrt_vsigmoid(n, x, y);
  for (int64_t i = 0; i < n; i++)
    cr_assert(fabs(y[i] - 1.0 / (1.0 + exp(-(double)x[i]))) <= 1e-6, "i=%ld", (long)i);
  free(x), free(y);
}

Test(vmath, isa_knob)
{
  cr_assert_eq(kern_vmath_force_isa(KERN_ISA_AVX2), -1);
  cr_assert_eq(kern_vmath_force_isa(42), -1);
  cr_assert_eq(kern_vmath_force_isa(KERN_ISA_SCALAR), 0);
  cr_assert_eq(kern_vmath_force_isa(KERN_ISA_AUTO), 0);
}
