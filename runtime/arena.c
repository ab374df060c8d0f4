/* arena.c: a bump allocator over one block, NNRT_ALIGN-aligned, with a queryable size.
 *
 * Memory planned ahead (one arena per compiled function) needs to know how much to ask
 * for: every request, even a failed one, raises `needed`, the capacity with which all the
 * requests since creation would have fit (ggml#322 asks for this). */
#include <string.h>
#include "rt.h"

struct nnrt_arena {
  nnrt_ctx *ctx;
  char *base;      /* aligned start */
  void *block;     /* what to free (NULL when wrapping caller memory) */
  size_t capacity; /* usable bytes from base */
  size_t used;     /* bytes handed out */
  size_t asked;    /* bytes asked for since the last reset, failed requests included */
  size_t needed;   /* the largest `asked` seen */
};

static size_t rt_align_up(size_t n)
{
  return (n + NNRT_ALIGN - 1) & ~(size_t)(NNRT_ALIGN - 1);
}

int nnrt_arena_create(nnrt_ctx *ctx, size_t capacity, nnrt_arena **out)
{
  if (!ctx || !out) return NNRT_EINVAL;
  *out = NULL;
  nnrt_arena *a = rt_calloc(ctx, 1, sizeof *a);
  if (!a) return NNRT_ENOMEM;
  a->ctx = ctx;
  if (capacity > 0) {
    a->block = rt_alloc_aligned(ctx, capacity);
    if (!a->block) {
      rt_free(ctx, a, sizeof *a);
      return rt_error(ctx, NNRT_ENOMEM, "arena: cannot allocate %zu bytes", capacity);
    }
  }
  a->base = a->block;
  a->capacity = capacity;
  *out = a;
  return NNRT_OK;
}

int nnrt_arena_wrap(nnrt_ctx *ctx, void *buf, size_t size, nnrt_arena **out)
{
  if (!ctx || !out) return NNRT_EINVAL;
  *out = NULL;
  if (!buf && size > 0) return rt_error(ctx, NNRT_EINVAL, "arena_wrap: buffer is NULL");
  nnrt_arena *a = rt_calloc(ctx, 1, sizeof *a);
  if (!a) return NNRT_ENOMEM;
  a->ctx = ctx;
  uintptr_t p = (uintptr_t)buf, q = (p + NNRT_ALIGN - 1) & ~(uintptr_t)(NNRT_ALIGN - 1);
  a->base = (char *)q;
  a->capacity = size > q - p ? size - (q - p) : 0;
  *out = a;
  return NNRT_OK;
}

void nnrt_arena_free(nnrt_arena *a)
{
  if (!a) return;
  rt_free_aligned(a->ctx, a->block, a->capacity);
  rt_free(a->ctx, a, sizeof *a);
}

void *nnrt_arena_alloc(nnrt_arena *a, size_t size)
{
  size_t rounded = rt_align_up(size ? size : 1);
  if (rounded < size || a->asked > SIZE_MAX - rounded) {
    rt_error(a->ctx, NNRT_ENOMEM, "arena: a request of %zu bytes overflows", size);
    return NULL;
  }
  a->asked += rounded;
  if (a->asked > a->needed) a->needed = a->asked;
  size_t end = a->used + rounded;
  if (end > a->capacity) {
    rt_error(a->ctx, NNRT_ENOMEM,
             "arena: a request of %zu bytes needs %zu bytes in all, but the capacity is %zu "
             "(%zu used); create the arena with nnrt_arena_needed() bytes",
             size, a->asked, a->capacity, a->used);
    return NULL;
  }
  void *p = a->base + a->used;
  a->used = end;
  return p;
}

void nnrt_arena_reset(nnrt_arena *a)
{
  a->used = 0;
  a->asked = 0;
}
size_t nnrt_arena_used(const nnrt_arena *a) { return a->used; }
size_t nnrt_arena_capacity(const nnrt_arena *a) { return a->capacity; }
size_t nnrt_arena_needed(const nnrt_arena *a) { return a->needed; }
