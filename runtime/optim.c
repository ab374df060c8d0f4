/* optim.c: fused optimizer steps over flat float arrays, with torch.optim's semantics
 * (SGD with momentum and Nesterov: Sutskever et al. ICML 2013; Adam: Kingma & Ba, ICLR
 * 2015; AdamW: Loshchilov & Hutter, ICLR 2019; RMSProp: Hinton, Coursera lecture 6e), and
 * global-norm gradient clipping (Pascanu et al. ICML 2013).
 *
 * Each step reads and writes every array once (one pass, no temporaries) and is split
 * over threads in contiguous chunks. Every element's update depends only on that element,
 * so results do not depend on the thread count. The global norm is summed in double over
 * fixed blocks of RT_NORM_BLOCK elements and the block sums are added in order, so it too
 * is the same for any thread count. */
#include <math.h>
#include "rt.h"

#define RT_OPTIM_GRAIN 16384
#define RT_NORM_BLOCK 8192

typedef struct {
  float *w, *buf, *m, *v;
  const float *g;
  float lr, wd, mu, b1, b2, eps, alpha, c1, c2;
  int64_t flag;
} rt_step;

static void rt_sgd_chunk(void *p, int64_t b, int64_t e)
{
  rt_step *s = p;
  for (int64_t i = b; i < e; i++) s->w[i] -= s->lr * (s->g[i] + s->wd * s->w[i]);
}

void nnrt_sgd_step(float *w, const float *g, int64_t n, float lr, float wd)
{
  rt_step s = {.w = w, .g = g, .lr = lr, .wd = wd};
  nnrt_parallel_for_grain(n, RT_OPTIM_GRAIN, rt_sgd_chunk, &s);
}

static void rt_momentum_chunk(void *p, int64_t b, int64_t e)
{
  rt_step *s = p;
  for (int64_t i = b; i < e; i++) {
    float d = s->g[i] + s->wd * s->w[i];
    float buf = s->mu * s->buf[i] + d;
    s->buf[i] = buf;
    s->w[i] -= s->lr * (s->flag ? d + s->mu * buf : buf);
  }
}

void nnrt_momentum_step(float *w, const float *g, float *buf, int64_t n, float lr, float mu,
                        float wd, int64_t nesterov)
{
  rt_step s = {.w = w, .g = g, .buf = buf, .lr = lr, .mu = mu, .wd = wd, .flag = nesterov};
  nnrt_parallel_for_grain(n, RT_OPTIM_GRAIN, rt_momentum_chunk, &s);
}

/* Adam: c1 = 1 - b1^t and c2 = 1 - b2^t are the bias corrections; flag = decoupled. */
static void rt_adam_chunk(void *p, int64_t b, int64_t e)
{
  rt_step *s = p;
  float sc2 = sqrtf(s->c2);
  for (int64_t i = b; i < e; i++) {
    float w = s->w[i], g = s->g[i];
    if (s->flag) w *= 1.0f - s->lr * s->wd;
    else g += s->wd * w;
    float m = s->b1 * s->m[i] + (1.0f - s->b1) * g;
    float v = s->b2 * s->v[i] + (1.0f - s->b2) * g * g;
    s->m[i] = m;
    s->v[i] = v;
    s->w[i] = w - s->lr / s->c1 * m / (sqrtf(v) / sc2 + s->eps);
  }
}

void nnrt_adam_step(float *w, const float *g, float *m, float *v, int64_t n, float lr,
                    float beta1, float beta2, float eps, float wd, int64_t t, int64_t decoupled)
{
  if (t < 1) t = 1;
  rt_step s = {.w = w, .g = g, .m = m, .v = v, .lr = lr, .b1 = beta1, .b2 = beta2,
               .eps = eps, .wd = wd, .flag = decoupled};
  s.c1 = (float)(1.0 - pow(beta1, (double)t));
  s.c2 = (float)(1.0 - pow(beta2, (double)t));
  nnrt_parallel_for_grain(n, RT_OPTIM_GRAIN, rt_adam_chunk, &s);
}

static void rt_rmsprop_chunk(void *p, int64_t b, int64_t e)
{
  rt_step *s = p;
  for (int64_t i = b; i < e; i++) {
    float d = s->g[i] + s->wd * s->w[i];
    float sq = s->alpha * s->v[i] + (1.0f - s->alpha) * d * d;
    s->v[i] = sq;
    float r = d / (sqrtf(sq) + s->eps);
    if (s->mu > 0.0f) {
      s->buf[i] = s->mu * s->buf[i] + r;
      r = s->buf[i];
    }
    s->w[i] -= s->lr * r;
  }
}

void nnrt_rmsprop_step(float *w, const float *g, float *sq, float *buf, int64_t n, float lr,
                       float alpha, float eps, float wd, float momentum)
{
  rt_step s = {.w = w, .g = g, .v = sq, .buf = buf, .lr = lr, .alpha = alpha, .eps = eps,
               .wd = wd, .mu = momentum};
  nnrt_parallel_for_grain(n, RT_OPTIM_GRAIN, rt_rmsprop_chunk, &s);
}

/* ---- global norm: block sums in double, added in a fixed order ---- */

static double rt_sumsq(const float *x, int64_t n)
{
  double s = 0.0;
  for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
  return s;
}

typedef struct {
  const float *x;
  int64_t n;
  double *partial; /* one per block */
} rt_norm_job;

static void rt_norm_chunk(void *p, int64_t b, int64_t e)
{
  rt_norm_job *j = p;
  for (int64_t k = b; k < e; k++) {
    int64_t lo = k * RT_NORM_BLOCK, hi = lo + RT_NORM_BLOCK < j->n ? lo + RT_NORM_BLOCK : j->n;
    j->partial[k] = rt_sumsq(j->x + lo, hi - lo);
  }
}

/* rt_array_sumsq: sum of squares of one array; blocks in parallel when it is large. */
static double rt_array_sumsq(const float *x, int64_t n)
{
  enum { RT_MAX_BLOCKS = 512 };
  int64_t nb = (n + RT_NORM_BLOCK - 1) / RT_NORM_BLOCK;
  if (nb <= 1) return rt_sumsq(x, n);
  double total = 0.0, partial[RT_MAX_BLOCKS];
  for (int64_t first = 0; first < nb; first += RT_MAX_BLOCKS) {
    int64_t cnt = nb - first < RT_MAX_BLOCKS ? nb - first : RT_MAX_BLOCKS;
    int64_t lo = first * RT_NORM_BLOCK;
    rt_norm_job j = {x + lo, n - lo, partial};
    nnrt_parallel_for_grain(cnt, 2, rt_norm_chunk, &j);
    for (int64_t k = 0; k < cnt; k++) total += partial[k];
  }
  return total;
}

float nnrt_global_norm(const float *const *grads, const int64_t *sizes, int64_t count)
{
  double total = 0.0;
  for (int64_t i = 0; i < count; i++) total += rt_array_sumsq(grads[i], sizes[i]);
  return (float)sqrt(total);
}

static void rt_scale_chunk(void *p, int64_t b, int64_t e)
{
  rt_step *s = p;
  for (int64_t i = b; i < e; i++) s->w[i] *= s->lr;
}

float nnrt_clip_grad_norm(float *const *grads, const int64_t *sizes, int64_t count,
                          float max_norm)
{
  float norm = nnrt_global_norm((const float *const *)grads, sizes, count);
  if (!(norm > max_norm)) return norm;
  float scale = (float)((double)max_norm / ((double)norm + 1e-6));
  for (int64_t i = 0; i < count; i++) {
    rt_step s = {.w = grads[i], .lr = scale};
    nnrt_parallel_for_grain(sizes[i], RT_OPTIM_GRAIN, rt_scale_chunk, &s);
  }
  return norm;
}
