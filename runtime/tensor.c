/* tensor.c: dense C-ordered tensors: dtypes, shapes, owned or wrapped data. */
#include <stdio.h>
#include <string.h>
#include "rt.h"

static const struct {
  const char *name;
  size_t size;
} rt_dtypes[NNRT_DTYPE_COUNT] = {
  [NNRT_F32] = {"f32", 4}, [NNRT_F64] = {"f64", 8}, [NNRT_I32] = {"i32", 4},
  [NNRT_I64] = {"i64", 8}, [NNRT_BOOL] = {"bool", 1}, [NNRT_BIT] = {"bit", 0},
  [NNRT_U8] = {"u8", 1},
};

static int rt_dtype_ok(nnrt_dtype dt)
{
  return (int)dt >= 0 && dt < NNRT_DTYPE_COUNT;
}

const char *nnrt_dtype_name(nnrt_dtype dt)
{
  return rt_dtype_ok(dt) ? rt_dtypes[dt].name : "?";
}

size_t nnrt_dtype_size(nnrt_dtype dt)
{
  return rt_dtype_ok(dt) ? rt_dtypes[dt].size : 0;
}

/* rt_numel: the product of dims, or -1 if a dim is negative or the product overflows. */
static int64_t rt_numel(int rank, const int64_t *dims)
{
  int64_t n = 1;
  for (int i = 0; i < rank; i++) {
    if (dims[i] < 0 || __builtin_mul_overflow(n, dims[i], &n)) return -1;
  }
  return n;
}

int rt_tensor_bytes(nnrt_ctx *ctx, nnrt_dtype dt, int rank, const int64_t *dims,
                    int64_t *numel, size_t *nbytes)
{
  if (!rt_dtype_ok(dt)) return rt_error(ctx, NNRT_EINVAL, "tensor: unknown dtype %d", (int)dt);
  if (rank < 0 || rank > NNRT_MAX_RANK)
    return rt_error(ctx, NNRT_EINVAL, "tensor: rank %d is not in 0..%d", rank, NNRT_MAX_RANK);
  if (rank > 0 && !dims) return rt_error(ctx, NNRT_EINVAL, "tensor: rank %d but no dims", rank);
  int64_t n = rt_numel(rank, dims);
  char shape[160];
  if (n < 0) {
    nnrt_shape_str(dt, rank, dims, shape, sizeof shape);
    return rt_error(ctx, NNRT_ERANGE, "tensor: bad shape %s (negative or overflowing)", shape);
  }
  size_t bytes;
  int over = dt == NNRT_BIT ? rt_mul_overflow(((size_t)n + 63) / 64, 8, &bytes)
                            : rt_mul_overflow((size_t)n, rt_dtypes[dt].size, &bytes);
  if (over || (uint64_t)n > SIZE_MAX) {
    nnrt_shape_str(dt, rank, dims, shape, sizeof shape);
    return rt_error(ctx, NNRT_ERANGE, "tensor: %s is too large for memory", shape);
  }
  *numel = n;
  *nbytes = bytes;
  return NNRT_OK;
}

/* rt_tensor_new: the header of a tensor (no data yet), or a status. */
static int rt_tensor_new(nnrt_ctx *ctx, nnrt_dtype dt, int rank, const int64_t *dims,
                         nnrt_tensor **out)
{
  *out = NULL;
  int64_t numel;
  size_t nbytes;
  int rc = rt_tensor_bytes(ctx, dt, rank, dims, &numel, &nbytes);
  if (rc) return rc;
  nnrt_tensor *t = rt_calloc(ctx, 1, sizeof *t);
  if (!t) return NNRT_ENOMEM;
  t->ctx = ctx;
  t->dtype = dt;
  t->rank = rank;
  for (int i = 0; i < rank; i++) t->dims[i] = dims[i];
  t->numel = numel;
  t->nbytes = nbytes;
  t->device = NNRT_DEVICE_CPU;
  *out = t;
  return NNRT_OK;
}

int nnrt_tensor_create(nnrt_ctx *ctx, nnrt_dtype dt, int rank, const int64_t *dims,
                       nnrt_tensor **out)
{
  if (!ctx || !out) return NNRT_EINVAL;
  int rc = rt_tensor_new(ctx, dt, rank, dims, out);
  if (rc) return rc;
  nnrt_tensor *t = *out;
  t->data = rt_alloc_aligned(ctx, t->nbytes);
  if (!t->data) {
    char shape[160];
    nnrt_tensor_shape_str(t, shape, sizeof shape);
    size_t nbytes = t->nbytes;
    rt_free(ctx, t, sizeof *t);
    *out = NULL;
    return rt_error(ctx, NNRT_ENOMEM, "out of memory allocating tensor %s (%zu bytes)", shape,
                    nbytes);
  }
  t->owns = 1;
  return NNRT_OK;
}

int nnrt_tensor_wrap(nnrt_ctx *ctx, nnrt_dtype dt, int rank, const int64_t *dims, void *data,
                     nnrt_tensor **out)
{
  if (!ctx || !out) return NNRT_EINVAL;
  *out = NULL;
  if (!data) return rt_error(ctx, NNRT_EINVAL, "tensor_wrap: data is NULL");
  int rc = rt_tensor_new(ctx, dt, rank, dims, out);
  if (rc) return rc;
  (*out)->data = data;
  return NNRT_OK;
}

void nnrt_tensor_free(nnrt_tensor *t)
{
  if (!t) return;
  if (t->owns) rt_free_aligned(t->ctx, t->data, t->nbytes);
  rt_free(t->ctx, t, sizeof *t);
}

void *nnrt_tensor_data(const nnrt_tensor *t) { return t->data; }
nnrt_dtype nnrt_tensor_dtype(const nnrt_tensor *t) { return t->dtype; }
int nnrt_tensor_rank(const nnrt_tensor *t) { return t->rank; }
const int64_t *nnrt_tensor_dims(const nnrt_tensor *t) { return t->dims; }
int64_t nnrt_tensor_numel(const nnrt_tensor *t) { return t->numel; }
size_t nnrt_tensor_nbytes(const nnrt_tensor *t) { return t->nbytes; }
nnrt_device nnrt_tensor_device(const nnrt_tensor *t) { return t->device; }
int nnrt_tensor_owns_data(const nnrt_tensor *t) { return t->owns; }

int64_t nnrt_tensor_dim(const nnrt_tensor *t, int i)
{
  return i >= 0 && i < t->rank ? t->dims[i] : -1;
}

int nnrt_shape_str(nnrt_dtype dt, int rank, const int64_t *dims, char *buf, size_t size)
{
  char tmp[16 + NNRT_MAX_RANK * 22];
  int len = snprintf(tmp, sizeof tmp, "%s[", nnrt_dtype_name(dt));
  int shown = rank < 0 ? 0 : rank > NNRT_MAX_RANK ? NNRT_MAX_RANK : rank;
  for (int i = 0; i < shown && dims; i++)
    len += snprintf(tmp + len, sizeof tmp - len, "%s%lld", i ? ", " : "", (long long)dims[i]);
  len += snprintf(tmp + len, sizeof tmp - len, "]");
  if (size > 0) snprintf(buf, size, "%s", tmp);
  return len;
}

int nnrt_tensor_shape_str(const nnrt_tensor *t, char *buf, size_t size)
{
  return nnrt_shape_str(t->dtype, t->rank, t->dims, buf, size);
}

void rt_tensor_set_dim0(nnrt_tensor *t, int64_t rows)
{
  int64_t inner = rt_numel(t->rank - 1, t->dims + 1);
  t->dims[0] = rows;
  t->numel = rows * inner;
  if (t->dtype == NNRT_BIT) t->nbytes = ((size_t)t->numel + 63) / 64 * 8;
  else t->nbytes = (size_t)t->numel * rt_dtypes[t->dtype].size;
}
