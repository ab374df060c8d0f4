/* aot_check.c — the AOT entry points of aot_two.nn (batch 2) against plain C on the same
 * weights: the generated header's offsets, the transposed copies made by two_prepare, the
 * tuple results. Exit 0 when every result matches. Links the object and libnnrt only. */
#include <math.h>
#include <stdio.h>

#include "aot_two.h"

static float params[TWO_PARAM_FLOATS] __attribute__((aligned(64)));
static unsigned char arena[TWO_FORWARD_ARENA_BYTES + TWO_BOTH_ARENA_BYTES] __attribute__((aligned(64)));

static const float *param(const char *name) {
  for (int i = 0; i < TWO_NPARAMS; i++) {
    const char *a = two_param_names[i], *b = name;
    while (*a && *a == *b) a++, b++;
    if (*a == *b) return params + two_param_offsets[i];
  }
  return NULL;
}

/* y[r, o] = sum_i x[r, i] W[o, i] + b[o] */
static void linear(const float *x, const float *W, const float *b, int in, int out, float *y) {
  for (int r = 0; r < TWO_BATCH; r++)
    for (int o = 0; o < out; o++) {
      double s = b[o];
      for (int i = 0; i < in; i++) s += x[r * in + i] * W[o * in + i];
      y[r * out + o] = (float)s;
    }
}

static int close_all(const float *a, const float *b, int n, const char *what) {
  for (int i = 0; i < n; i++)
    if (fabsf(a[i] - b[i]) > 1e-5f * (1 + fabsf(b[i]))) {
      printf("%s[%d] = %g, expected %g\n", what, i, a[i], b[i]);
      return 0;
    }
  return 1;
}

int main(void) {
  for (int i = 0; i < TWO_PARAM_FLOATS; i++) params[i] = (float)((i * 37) % 23 - 11) / 13.0f;
  two_prepare(params);
  float x[TWO_FORWARD_x_NUMEL], y[TWO_FORWARD_RESULT0_NUMEL], h[TWO_BOTH_RESULT0_NUMEL], s[TWO_BOTH_RESULT1_NUMEL];
  for (int i = 0; i < TWO_FORWARD_x_NUMEL; i++) x[i] = (float)(i % 7) / 3.0f - 1;
  two_forward(params, x, y, arena);
  two_both(params, x, h, s, arena);
  float rh[8], ry[6], rs[2] = {0, 0};
  linear(x, param("l1.W"), param("l1.b"), 5, 4, rh);
  float t[8];
  for (int i = 0; i < 8; i++) t[i] = tanhf(rh[i]);
  linear(t, param("l2.W"), param("l2.b"), 4, 3, ry);
  for (int i = 0; i < TWO_FORWARD_x_NUMEL; i++) rs[i / 5] += x[i];
  int ok = close_all(y, ry, 6, "forward") & close_all(h, rh, 8, "both.0") & close_all(s, rs, 2, "both.1");
  printf("%s\n", ok ? "ok" : "MISMATCH");
  return ok ? 0 : 1;
}
