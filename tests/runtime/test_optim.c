/* test_optim.c: optimizer steps against steps computed by hand (torch.optim formulas
 * evaluated in double outside the library), and global-norm clipping. */
#include <criterion/criterion.h>
#include <math.h>
#include "rt.h"

#define NEAR(a, b) cr_assert_float_eq((a), (b), 1e-5, "%s = %.9g, expected %.9g", #a, (double)(a), (double)(b))

Test(optim, sgd_with_weight_decay)
{
  float w[2] = {1.0f, -2.0f}, g[2] = {0.5f, 0.25f};
  nnrt_sgd_step(w, g, 2, 0.1f, 0.01f);
  NEAR(w[0], 1.0 - 0.1 * (0.5 + 0.01));   /* 0.949 */
  NEAR(w[1], -2.0 - 0.1 * (0.25 - 0.02)); /* -2.023 */
}

Test(optim, momentum_two_steps)
{
  float w[1] = {1}, g[1] = {1}, buf[1] = {0};
  nnrt_momentum_step(w, g, buf, 1, 0.1f, 0.9f, 0.0f, 0);
  NEAR(w[0], 0.9);
  NEAR(buf[0], 1.0);
  nnrt_momentum_step(w, g, buf, 1, 0.1f, 0.9f, 0.0f, 0);
  NEAR(buf[0], 1.9);
  NEAR(w[0], 0.71);
}

Test(optim, nesterov_two_steps)
{
  float w[1] = {1}, g[1] = {1}, buf[1] = {0};
  nnrt_momentum_step(w, g, buf, 1, 0.1f, 0.9f, 0.0f, 1);
  NEAR(w[0], 0.81); /* 1 - 0.1 * (1 + 0.9 * 1) */
  nnrt_momentum_step(w, g, buf, 1, 0.1f, 0.9f, 0.0f, 1);
  NEAR(w[0], 0.539); /* 0.81 - 0.1 * (1 + 0.9 * 1.9) */
}

/* two Adam steps with g = 0.5 then -1 */
static float adam2(float wd, int decoupled)
{
  float w[1] = {1}, m[1] = {0}, v[1] = {0}, g[1] = {0.5f};
  nnrt_adam_step(w, g, m, v, 1, 0.1f, 0.9f, 0.999f, 1e-8f, wd, 1, decoupled);
  g[0] = -1.0f;
  nnrt_adam_step(w, g, m, v, 1, 0.1f, 0.9f, 0.999f, 1e-8f, wd, 2, decoupled);
  return w[0];
}

Test(optim, adam_bias_correction)
{
  float w[1] = {1}, m[1] = {0}, v[1] = {0}, g[1] = {0.5f};
  nnrt_adam_step(w, g, m, v, 1, 0.1f, 0.9f, 0.999f, 1e-8f, 0.0f, 1, 0);
  NEAR(m[0], 0.05);
  NEAR(v[0], 0.00025);
  NEAR(w[0], 0.9); /* the first step moves by lr exactly: mhat / sqrt(vhat) = 1 */
  NEAR(adam2(0.0f, 0), 0.9366103542);
}

Test(optim, adam_l2_vs_adamw)
{
  NEAR(adam2(0.1f, 0), 0.9252635194);
  NEAR(adam2(0.1f, 1), 0.9177103542);
}

Test(optim, rmsprop_plain_momentum_decay)
{
  float w[1] = {1}, sq[1] = {0}, g[1] = {0.5f};
  nnrt_rmsprop_step(w, g, sq, NULL, 1, 0.01f, 0.99f, 1e-8f, 0.0f, 0.0f);
  NEAR(sq[0], 0.0025);
  NEAR(w[0], 0.9);
  nnrt_rmsprop_step(w, g, sq, NULL, 1, 0.01f, 0.99f, 1e-8f, 0.0f, 0.0f);
  NEAR(w[0], 0.8291119095);

  float w2[1] = {1}, sq2[1] = {0}, buf[1] = {0};
  nnrt_rmsprop_step(w2, g, sq2, buf, 1, 0.01f, 0.99f, 1e-8f, 0.0f, 0.9f);
  nnrt_rmsprop_step(w2, g, sq2, buf, 1, 0.01f, 0.99f, 1e-8f, 0.0f, 0.9f);
  NEAR(w2[0], 0.7391119275);

  float w3[1] = {1}, sq3[1] = {0};
  nnrt_rmsprop_step(w3, g, sq3, NULL, 1, 0.01f, 0.99f, 1e-8f, 0.1f, 0.0f);
  g[0] = -1.0f;
  nnrt_rmsprop_step(w3, g, sq3, NULL, 1, 0.01f, 0.99f, 1e-8f, 0.1f, 0.0f);
  NEAR(w3[0], 0.9836130193);
}

Test(optim, large_arrays_match_elementwise)
{
  enum { N = 2 * (1 << 18) + 3 }; /* over 2 grains (RT_OPTIM_GRAIN): two threads */
  static float w[N], g[N], m[N], v[N], w1[1], m1[1], v1[1];
  for (int i = 0; i < N; i++) {
    w[i] = (float)(i % 17) * 0.1f - 0.8f;
    g[i] = (float)(i % 13) * 0.05f - 0.3f;
  }
  nnrt_set_threads(2);
  nnrt_adam_step(w, g, m, v, N, 0.01f, 0.9f, 0.999f, 1e-8f, 0.01f, 1, 1);
  for (int i = 0; i < N; i += 997) {
    w1[0] = (float)(i % 17) * 0.1f - 0.8f;
    m1[0] = v1[0] = 0;
    nnrt_adam_step(w1, &g[i], m1, v1, 1, 0.01f, 0.9f, 0.999f, 1e-8f, 0.01f, 1, 1);
    cr_assert_eq(w[i], w1[0], "element %d", i);
  }
}

Test(optim, clip_grad_norm)
{
  float a[2] = {3, 0}, b[1] = {4};
  float *grads[2] = {a, b};
  int64_t sizes[2] = {2, 1};
  cr_assert_float_eq(nnrt_global_norm((const float *const *)grads, sizes, 2), 5.0f, 1e-6);
  float norm = nnrt_clip_grad_norm(grads, sizes, 2, 1.0f);
  cr_assert_float_eq(norm, 5.0f, 1e-6);
  NEAR(a[0], 3.0 / (5.0 + 1e-6));
  NEAR(b[0], 4.0 / (5.0 + 1e-6));
  float again = nnrt_clip_grad_norm(grads, sizes, 2, 1.0f); /* now below: untouched */
  NEAR(again, 1.0);
  NEAR(b[0], 0.8);
}

Test(optim, global_norm_same_for_any_thread_count)
{
  enum { N = 300001 };
  static float x[N];
  nnrt_fill_normal(x, N, 7, 0, 0.0f, 1.0f);
  const float *grads[1] = {x};
  int64_t sizes[1] = {N};
  nnrt_set_threads(1);
  float n1 = nnrt_global_norm(grads, sizes, 1);
  nnrt_set_threads(2);
  float n2 = nnrt_global_norm(grads, sizes, 1);
  nnrt_set_threads(3);
  float n3 = nnrt_global_norm(grads, sizes, 1);
  cr_assert_eq(n1, n2);
  cr_assert_eq(n1, n3);
  double ref = 0;
  for (int i = 0; i < N; i++) ref += (double)x[i] * x[i];
  cr_assert_float_eq(n1, sqrt(ref), 1e-3);
}
