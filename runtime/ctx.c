/* ctx.c: the runtime context: host allocator hook, log callback, thread count, the last
 * error, and the allocation helpers every other file uses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rt.h"

/* The default allocator: the C library's, with the lua_Alloc contract. */
static void *rt_default_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
  if (nsize == 0) {
    free(ptr);
    return NULL;
  }
  return realloc(ptr, nsize);
}

nnrt_ctx *nnrt_ctx_create(nnrt_alloc_fn alloc, void *ud)
{
  if (!alloc) alloc = rt_default_alloc;
  nnrt_ctx *ctx = alloc(ud, NULL, 0, sizeof *ctx);
  if (!ctx) return NULL;
  memset(ctx, 0, sizeof *ctx);
  ctx->alloc = alloc;
  ctx->alloc_ud = ud;
  ctx->log_min = NNRT_LOG_WARN;
  ctx->threads = 0;
  return ctx;
}

void nnrt_ctx_free(nnrt_ctx *ctx)
{
  if (ctx) ctx->alloc(ctx->alloc_ud, ctx, sizeof *ctx, 0);
}

void nnrt_ctx_set_log(nnrt_ctx *ctx, nnrt_log_fn fn, void *ud, nnrt_log_level min_level)
{
  ctx->log = fn;
  ctx->log_ud = ud;
  ctx->log_min = min_level;
}

void nnrt_ctx_set_threads(nnrt_ctx *ctx, int n)
{
  ctx->threads = n > 0 ? n : 0;
  nnrt_set_threads(n);
}

int nnrt_ctx_threads(const nnrt_ctx *ctx)
{
  return ctx->threads > 0 ? ctx->threads : nnrt_get_threads();
}

const char *nnrt_errmsg(const nnrt_ctx *ctx)
{
  return ctx ? ctx->errmsg : "no context";
}

int nnrt_errcode(const nnrt_ctx *ctx)
{
  return ctx ? ctx->errcode : NNRT_EINVAL;
}

void nnrt_clear_error(nnrt_ctx *ctx)
{
  ctx->errcode = NNRT_OK;
  ctx->errmsg[0] = '\0';
}

const char *nnrt_strstatus(int status)
{
  switch (status) {
  case NNRT_OK: return "ok";
  case NNRT_ENOMEM: return "out of memory";
  case NNRT_EINVAL: return "invalid argument";
  case NNRT_EIO: return "input/output error";
  case NNRT_EFORMAT: return "bad format";
  case NNRT_ESHAPE: return "shape mismatch";
  case NNRT_ENOTFOUND: return "not found";
  case NNRT_ERANGE: return "out of range";
  default: return "unknown status";
  }
}

static void rt_vlog(nnrt_ctx *ctx, nnrt_log_level level, const char *fmt, va_list ap)
{
  char msg[RT_ERRMSG_MAX];
  vsnprintf(msg, sizeof msg, fmt, ap);
  ctx->log(ctx->log_ud, level, msg);
}

void rt_log(nnrt_ctx *ctx, nnrt_log_level level, const char *fmt, ...)
{
  if (!ctx || !ctx->log || level < ctx->log_min) return;
  va_list ap;
  va_start(ap, fmt);
  rt_vlog(ctx, level, fmt, ap);
  va_end(ap);
}

int rt_error(nnrt_ctx *ctx, int status, const char *fmt, ...)
{
  if (!ctx) return status;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ctx->errmsg, sizeof ctx->errmsg, fmt, ap);
  va_end(ap);
  ctx->errcode = status;
  rt_log(ctx, NNRT_LOG_ERROR, "%s", ctx->errmsg);
  return status;
}

void *rt_malloc(nnrt_ctx *ctx, size_t size)
{
  if (size == 0) size = 1;
  void *p = ctx->alloc(ctx->alloc_ud, NULL, 0, size);
  if (!p) rt_error(ctx, NNRT_ENOMEM, "out of memory allocating %zu bytes", size);
  return p;
}

void *rt_calloc(nnrt_ctx *ctx, size_t n, size_t size)
{
  size_t total;
  if (rt_mul_overflow(n, size, &total)) {
    rt_error(ctx, NNRT_ENOMEM, "out of memory: %zu x %zu bytes overflows", n, size);
    return NULL;
  }
  void *p = rt_malloc(ctx, total);
  if (p) memset(p, 0, total ? total : 1);
  return p;
}

void *rt_realloc(nnrt_ctx *ctx, void *p, size_t osize, size_t nsize)
{
  if (nsize == 0) nsize = 1;
  void *q = ctx->alloc(ctx->alloc_ud, p, p ? (osize ? osize : 1) : 0, nsize);
  if (!q) rt_error(ctx, NNRT_ENOMEM, "out of memory growing a buffer to %zu bytes", nsize);
  return q;
}

void rt_free(nnrt_ctx *ctx, void *p, size_t size)
{
  if (p) ctx->alloc(ctx->alloc_ud, p, size ? size : 1, 0);
}

char *rt_strdup(nnrt_ctx *ctx, const char *s)
{
  size_t n = strlen(s) + 1;
  char *d = rt_malloc(ctx, n);
  if (d) memcpy(d, s, n);
  return d;
}

void rt_strfree(nnrt_ctx *ctx, char *s)
{
  if (s) rt_free(ctx, s, strlen(s) + 1);
}

/* Aligned blocks: over-allocate by RT_ALIGN_PAD and keep the raw pointer just below the
 * aligned one (there is always room: the gap is at least sizeof(void *)). */
#define RT_ALIGN_PAD (NNRT_ALIGN + sizeof(void *))
void *rt_alloc_aligned(nnrt_ctx *ctx, size_t size)
{
  if (size > SIZE_MAX - RT_ALIGN_PAD) {
    rt_error(ctx, NNRT_ENOMEM, "out of memory: %zu bytes is too large", size);
    return NULL;
  }
  char *raw = rt_malloc(ctx, size + RT_ALIGN_PAD);
  if (!raw) return NULL;
  uintptr_t a = ((uintptr_t)raw + sizeof(void *) + NNRT_ALIGN - 1) & ~(uintptr_t)(NNRT_ALIGN - 1);
  char *p = (char *)a;
  memcpy(p - sizeof(void *), &raw, sizeof raw);
  memset(p, 0, size);
  return p;
}

void rt_free_aligned(nnrt_ctx *ctx, void *p, size_t size)
{
  if (!p) return;
  char *raw;
  memcpy(&raw, (char *)p - sizeof(void *), sizeof raw);
  rt_free(ctx, raw, size + RT_ALIGN_PAD);
}

int rt_mul_overflow(size_t a, size_t b, size_t *out)
{
  return __builtin_mul_overflow(a, b, out);
}
