/* batch.c: the mini-batch iterator: rows of x (and y) gathered in a per-epoch shuffled
 * order. Epoch e visits the rows in the order nnrt_permutation(rows, seed, e) (Philox
 * driven Fisher-Yates), so a run is reproducible from its seed and resumable at any epoch. */
#include <string.h>
#include "rt.h"

typedef struct {
  const nnrt_tensor *src;
  size_t row_bytes;
  void *buf;           /* batch * row_bytes, aligned */
  size_t buf_bytes;
  nnrt_tensor *view;   /* wraps buf; dim 0 = rows of the current batch */
} rt_side;

struct nnrt_batcher {
  nnrt_ctx *ctx;
  rt_side x, y;
  int has_y;
  int64_t rows, batch, pos, epoch;
  int64_t *perm;
  uint64_t seed;
  int flags;
};

static void rt_side_free(nnrt_ctx *ctx, rt_side *s)
{
  nnrt_tensor_free(s->view);
  rt_free_aligned(ctx, s->buf, s->buf_bytes);
}

/* rt_side_init: the batch buffer and view for src, batch rows of its shape. */
static int rt_side_init(nnrt_ctx *ctx, rt_side *s, const nnrt_tensor *src, int64_t batch)
{
  s->src = src;
  s->row_bytes = src->nbytes / (size_t)src->dims[0];
  if (rt_mul_overflow(s->row_bytes, (size_t)batch, &s->buf_bytes))
    return rt_error(ctx, NNRT_ERANGE, "batcher: batch of %lld rows is too large", (long long)batch);
  s->buf = rt_alloc_aligned(ctx, s->buf_bytes);
  if (!s->buf) return NNRT_ENOMEM;
  int64_t dims[NNRT_MAX_RANK];
  memcpy(dims, src->dims, sizeof dims);
  dims[0] = batch;
  return nnrt_tensor_wrap(ctx, src->dtype, src->rank, dims, s->buf, &s->view);
}

static int rt_batcher_check(nnrt_ctx *ctx, const nnrt_tensor *x, const nnrt_tensor *y,
                            int64_t batch)
{
  const nnrt_tensor *ts[2] = {x, y};
  for (int i = 0; i < 2; i++) {
    const nnrt_tensor *t = ts[i];
    if (!t) continue;
    if (t->rank < 1 || t->dims[0] < 1)
      return rt_error(ctx, NNRT_ESHAPE, "batcher: %c needs at least one row", "xy"[i]);
    if (t->dtype == NNRT_BIT)
      return rt_error(ctx, NNRT_EINVAL, "batcher: %c: bit tensors cannot be batched by row", "xy"[i]);
  }
  if (y && y->dims[0] != x->dims[0]) {
    char a[160], b[160];
    nnrt_tensor_shape_str(x, a, sizeof a);
    nnrt_tensor_shape_str(y, b, sizeof b);
    return rt_error(ctx, NNRT_ESHAPE, "batcher: x is %s but y is %s: the row counts differ", a, b);
  }
  if (batch < 1) return rt_error(ctx, NNRT_EINVAL, "batcher: batch size %lld < 1", (long long)batch);
  return NNRT_OK;
}

int nnrt_batcher_create(nnrt_ctx *ctx, const nnrt_tensor *x, const nnrt_tensor *y,
                        int64_t batch, uint64_t seed, int flags, nnrt_batcher **out)
{
  if (!ctx || !out || !x) return NNRT_EINVAL;
  *out = NULL;
  int rc = rt_batcher_check(ctx, x, y, batch);
  if (rc) return rc;
  nnrt_batcher *b = rt_calloc(ctx, 1, sizeof *b);
  if (!b) return NNRT_ENOMEM;
  b->ctx = ctx;
  b->rows = x->dims[0];
  b->batch = batch;
  b->seed = seed;
  b->flags = flags;
  b->has_y = y != NULL;
  b->perm = rt_calloc(ctx, (size_t)b->rows, sizeof *b->perm);
  int64_t cap = batch < b->rows ? batch : b->rows; /* rows a batch can really have */
  rc = b->perm ? rt_side_init(ctx, &b->x, x, cap) : NNRT_ENOMEM;
  if (!rc && y) rc = rt_side_init(ctx, &b->y, y, cap);
  if (rc) {
    nnrt_batcher_free(b);
    return rc;
  }
  nnrt_batcher_seek_epoch(b, 0);
  *out = b;
  return NNRT_OK;
}

void nnrt_batcher_free(nnrt_batcher *b)
{
  if (!b) return;
  rt_side_free(b->ctx, &b->x);
  rt_side_free(b->ctx, &b->y);
  rt_free(b->ctx, b->perm, (size_t)b->rows * sizeof *b->perm);
  rt_free(b->ctx, b, sizeof *b);
}

void nnrt_batcher_seek_epoch(nnrt_batcher *b, int64_t epoch)
{
  b->epoch = epoch;
  b->pos = 0;
  if (b->flags & NNRT_BATCH_SHUFFLE) nnrt_permutation(b->perm, b->rows, b->seed, (uint64_t)epoch);
  else for (int64_t i = 0; i < b->rows; i++) b->perm[i] = i;
}

static void rt_gather(rt_side *s, const int64_t *rows, int64_t n)
{
  const char *src = s->src->data;
  char *dst = s->buf;
  for (int64_t i = 0; i < n; i++)
    memcpy(dst + (size_t)i * s->row_bytes, src + (size_t)rows[i] * s->row_bytes, s->row_bytes);
  rt_tensor_set_dim0(s->view, n);
}

int64_t nnrt_batcher_next(nnrt_batcher *b, const nnrt_tensor **xb, const nnrt_tensor **yb)
{
  int64_t left = b->rows - b->pos;
  int64_t n = left < b->batch ? left : b->batch;
  if (n == 0 || (n < b->batch && (b->flags & NNRT_BATCH_DROP_LAST))) {
    nnrt_batcher_seek_epoch(b, b->epoch + 1);
    return 0;
  }
  rt_gather(&b->x, b->perm + b->pos, n);
  if (xb) *xb = b->x.view;
  if (b->has_y) rt_gather(&b->y, b->perm + b->pos, n);
  if (yb) *yb = b->has_y ? b->y.view : NULL;
  b->pos += n;
  return n;
}

int64_t nnrt_batcher_epoch(const nnrt_batcher *b) { return b->epoch; }

int64_t nnrt_batcher_batches(const nnrt_batcher *b)
{
  return b->flags & NNRT_BATCH_DROP_LAST ? b->rows / b->batch
                                         : (b->rows + b->batch - 1) / b->batch;
}
