/* test_public.c: an embedding program's view, through nnrt.h alone: load data, batch it,
 * initialize and update weights, save and reload them, and leave no memory behind. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "nnrt.h"

typedef struct {
  long blocks;
} counter;

static void *counting_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
  counter *c = ud;
  if (nsize == 0) {
    c->blocks -= ptr != NULL;
    free(ptr);
    return NULL;
  }
  void *q = realloc(ptr, nsize);
  c->blocks += q && !ptr;
  return q;
}

/* softmax cross-entropy gradient of a linear model on one batch: g = x^T (p - onehot) / B;
 * returns the mean loss. x is (B,784), w is (784,10), g is (784,10). */
static double linear_step(const float *x, const int32_t *y, int64_t B, const float *w, float *g)
{
  double loss = 0;
  memset(g, 0, 784 * 10 * sizeof *g);
  for (int64_t b = 0; b < B; b++) {
    double z[10], mx = -1e30, s = 0;
    for (int k = 0; k < 10; k++) {
      z[k] = 0;
      for (int i = 0; i < 784; i++) z[k] += x[b * 784 + i] * w[i * 10 + k];
      mx = z[k] > mx ? z[k] : mx;
    }
    for (int k = 0; k < 10; k++) s += exp(z[k] - mx);
    loss += -(z[y[b]] - mx - log(s));
    for (int k = 0; k < 10; k++) {
      double d = (exp(z[k] - mx) / s - (k == y[b])) / (double)B;
      for (int i = 0; i < 784; i++) g[i * 10 + k] += (float)(x[b * 784 + i] * d);
    }
  }
  return loss / (double)B;
}

Test(public, train_save_reload_no_leaks)
{
  counter c = {0};
  nnrt_ctx *ctx = nnrt_ctx_create(counting_alloc, &c);
  nnrt_tensor *x, *y, *w, *m, *v, *g, *back;
  const char *dir = "/usr/share/datasets/fashion-mnist/";
  char path[256];
  snprintf(path, sizeof path, "%st10k-images-idx3-ubyte.gz", dir);
  cr_assert_eq(nnrt_load_idx(ctx, path, NNRT_F32, 1.0 / 255, &x), NNRT_OK, "%s", nnrt_errmsg(ctx));
  snprintf(path, sizeof path, "%st10k-labels-idx1-ubyte.gz", dir);
  cr_assert_eq(nnrt_load_idx(ctx, path, NNRT_I32, 1, &y), NNRT_OK, "%s", nnrt_errmsg(ctx));
  int64_t wd[2] = {784, 10};
  cr_assert_eq(nnrt_tensor_create(ctx, NNRT_F32, 2, wd, &w), NNRT_OK);
  cr_assert_eq(nnrt_tensor_create(ctx, NNRT_F32, 2, wd, &m), NNRT_OK);
  cr_assert_eq(nnrt_tensor_create(ctx, NNRT_F32, 2, wd, &v), NNRT_OK);
  cr_assert_eq(nnrt_tensor_create(ctx, NNRT_F32, 2, wd, &g), NNRT_OK);
  nnrt_fill_normal(nnrt_tensor_data(w), 7840, 42, 0, 0.0f, 0.01f);

  nnrt_batcher *b;
  cr_assert_eq(nnrt_batcher_create(ctx, x, y, 200, 42, NNRT_BATCH_SHUFFLE, &b), NNRT_OK);
  const nnrt_tensor *xb, *yb;
  double first = 0, last = 0;
  for (int step = 1; step <= 30; step++) {
    int64_t n = nnrt_batcher_next(b, &xb, &yb);
    cr_assert_eq(n, 200);
    last = linear_step(nnrt_tensor_data(xb), nnrt_tensor_data(yb), n, nnrt_tensor_data(w), nnrt_tensor_data(g));
    if (step == 1) first = last;
    nnrt_adam_step(nnrt_tensor_data(w), nnrt_tensor_data(g), nnrt_tensor_data(m), nnrt_tensor_data(v),
                   7840, 0.01f, 0.9f, 0.999f, 1e-8f, 0.0f, step, 0);
  }
  cr_assert_float_eq(first, log(10.0), 0.1);   /* near-uniform predictions at the start */
  cr_assert_lt(last, 0.75 * first, "loss %g -> %g: not learning", first, last);

  char file[] = "/tmp/nnrt_public_XXXXXX";
  int fd = mkstemp(file);
  cr_assert_geq(fd, 0);
  close(fd);
  const char *names[1] = {"fc.w"};
  const nnrt_tensor *ts[1] = {w};
  cr_assert_eq(nnrt_weights_save(ctx, file, 1, names, ts, 0, NULL, NULL), NNRT_OK, "%s", nnrt_errmsg(ctx));
  nnrt_weights *ws;
  cr_assert_eq(nnrt_weights_load(ctx, file, &ws), NNRT_OK, "%s", nnrt_errmsg(ctx));
  cr_assert_eq(nnrt_tensor_create(ctx, NNRT_F32, 2, wd, &back), NNRT_OK);
  cr_assert_eq(nnrt_weights_read(ws, "fc.w", back), NNRT_OK);
  cr_assert_eq(memcmp(nnrt_tensor_data(back), nnrt_tensor_data(w), 7840 * 4), 0);
  unlink(file);

  nnrt_weights_free(ws);
  nnrt_batcher_free(b);
  nnrt_tensor *all[7] = {x, y, w, m, v, g, back};
  for (int i = 0; i < 7; i++) nnrt_tensor_free(all[i]);
  nnrt_ctx_free(ctx);
  cr_assert_eq(c.blocks, 0, "%ld blocks leaked", c.blocks);
}
