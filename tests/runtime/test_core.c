/* test_core.c: context (allocator hook, errors, log), tensors, arena, the ABI table. */
#include <criterion/criterion.h>
#include <string.h>
#include "rt.h"

/* A counting allocator that can be told to fail: checks that osize is right, that every
 * block is freed, and that failures come back as NNRT_ENOMEM. */
typedef struct {
  long live_blocks;
  long long live_bytes;
  int fail_after; /* allocations left before failing; -1: never */
} counter;

static void *counting_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
  counter *c = ud;
  if (nsize == 0) {
    if (ptr) {
      c->live_blocks--;
      c->live_bytes -= osize;
    }
    free(ptr);
    return NULL;
  }
  if (c->fail_after == 0) return NULL;
  if (c->fail_after > 0) c->fail_after--;
  void *q = realloc(ptr, nsize);
  if (!q) return NULL;
  if (!ptr) c->live_blocks++;
  c->live_bytes += (long long)nsize - (ptr ? (long long)osize : 0);
  return q;
}

Test(ctx, allocator_hook_balances)
{
  counter c = {0, 0, -1};
  nnrt_ctx *ctx = nnrt_ctx_create(counting_alloc, &c);
  cr_assert_not_null(ctx);
  nnrt_tensor *t;
  int64_t dims[3] = {2, 3, 5};
  cr_assert_eq(nnrt_tensor_create(ctx, NNRT_F64, 3, dims, &t), NNRT_OK);
  cr_assert_gt(c.live_bytes, 2 * 3 * 5 * 8);
  nnrt_tensor_free(t);
  nnrt_ctx_free(ctx);
  cr_assert_eq(c.live_blocks, 0);
  cr_assert_eq(c.live_bytes, 0);
}

Test(ctx, allocation_failure_is_enomem)
{
  counter c = {0, 0, -1};
  nnrt_ctx *ctx = nnrt_ctx_create(counting_alloc, &c);
  c.fail_after = 1; /* the tensor header succeeds, its data fails */
  nnrt_tensor *t = (nnrt_tensor *)1;
  int64_t dims[2] = {1000, 1000};
  cr_assert_eq(nnrt_tensor_create(ctx, NNRT_F32, 2, dims, &t), NNRT_ENOMEM);
  cr_assert_null(t);
  cr_assert_eq(nnrt_errcode(ctx), NNRT_ENOMEM);
  cr_assert_not_null(strstr(nnrt_errmsg(ctx), "f32[1000, 1000]"), "%s", nnrt_errmsg(ctx));
  nnrt_ctx_free(ctx);
  cr_assert_eq(c.live_blocks, 0);
}

Test(ctx, ctx_create_fails_cleanly)
{
  counter c = {0, 0, 0};
  cr_assert_null(nnrt_ctx_create(counting_alloc, &c));
}

static char logged[256];
static void log_sink(void *ud, nnrt_log_level level, const char *msg)
{
  *(int *)ud = level;
  snprintf(logged, sizeof logged, "%s", msg);
}

Test(ctx, errors_are_logged_and_cleared)
{
  nnrt_ctx *ctx = nnrt_ctx_create(NULL, NULL);
  int level = -1;
  nnrt_ctx_set_log(ctx, log_sink, &level, NNRT_LOG_WARN);
  cr_assert_str_eq(nnrt_errmsg(ctx), "");
  nnrt_tensor *t;
  int64_t dims[1] = {-4};
  cr_assert_eq(nnrt_tensor_create(ctx, NNRT_I32, 1, dims, &t), NNRT_ERANGE);
  cr_assert_not_null(strstr(nnrt_errmsg(ctx), "i32[-4]"), "%s", nnrt_errmsg(ctx));
  cr_assert_eq(level, NNRT_LOG_ERROR);
  cr_assert_str_eq(logged, nnrt_errmsg(ctx));
  nnrt_clear_error(ctx);
  cr_assert_eq(nnrt_errcode(ctx), NNRT_OK);
  cr_assert_str_eq(nnrt_errmsg(ctx), "");
  nnrt_ctx_free(ctx);
}

Test(ctx, strstatus_names_every_code)
{
  for (int s = NNRT_ERANGE; s <= NNRT_OK; s++)
    cr_assert_str_neq(nnrt_strstatus(s), "unknown status", "status %d", s);
  cr_assert_str_eq(nnrt_strstatus(42), "unknown status");
}

Test(tensor, create_shape_and_sizes)
{
  nnrt_ctx *ctx = nnrt_ctx_create(NULL, NULL);
  nnrt_tensor *t;
  int64_t dims[3] = {60000, 28, 28};
  cr_assert_eq(nnrt_tensor_create(ctx, NNRT_F32, 3, dims, &t), NNRT_OK);
  cr_assert_eq(nnrt_tensor_numel(t), 60000LL * 28 * 28);
  cr_assert_eq(nnrt_tensor_nbytes(t), 60000ULL * 28 * 28 * 4);
  cr_assert_eq(nnrt_tensor_rank(t), 3);
  cr_assert_eq(nnrt_tensor_dim(t, 1), 28);
  cr_assert_eq(nnrt_tensor_dim(t, 3), -1);
  cr_assert_eq((uintptr_t)nnrt_tensor_data(t) % NNRT_ALIGN, 0);
  cr_assert_eq(((float *)nnrt_tensor_data(t))[12345], 0.0f);
  cr_assert(nnrt_tensor_owns_data(t));
  char buf[64];
  int n = nnrt_tensor_shape_str(t, buf, sizeof buf);
  cr_assert_str_eq(buf, "f32[60000, 28, 28]");
  cr_assert_eq(n, (int)strlen(buf));
  cr_assert_eq(nnrt_tensor_shape_str(t, buf, 4), n);
  cr_assert_str_eq(buf, "f32");
  nnrt_tensor_free(t);
  nnrt_ctx_free(ctx);
}

Test(tensor, scalar_bits_and_bad_args)
{
  nnrt_ctx *ctx = nnrt_ctx_create(NULL, NULL);
  nnrt_tensor *t;
  cr_assert_eq(nnrt_tensor_create(ctx, NNRT_I64, 0, NULL, &t), NNRT_OK);
  cr_assert_eq(nnrt_tensor_numel(t), 1);
  cr_assert_eq(nnrt_tensor_nbytes(t), 8);
  nnrt_tensor_free(t);
  int64_t d130[1] = {130};
  cr_assert_eq(nnrt_tensor_create(ctx, NNRT_BIT, 1, d130, &t), NNRT_OK);
  cr_assert_eq(nnrt_tensor_nbytes(t), 3 * 8);
  nnrt_tensor_free(t);
  int64_t huge[2] = {INT64_MAX / 2, 4};
  cr_assert_eq(nnrt_tensor_create(ctx, NNRT_F32, 2, huge, &t), NNRT_ERANGE);
  cr_assert_eq(nnrt_tensor_create(ctx, (nnrt_dtype)99, 1, d130, &t), NNRT_EINVAL);
  int64_t dims9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  cr_assert_eq(nnrt_tensor_create(ctx, NNRT_F32, 9, dims9, &t), NNRT_EINVAL);
  cr_assert_not_null(strstr(nnrt_errmsg(ctx), "rank 9"));
  nnrt_ctx_free(ctx);
}

Test(tensor, wrap_does_not_copy_or_free)
{
  nnrt_ctx *ctx = nnrt_ctx_create(NULL, NULL);
  float buf[6] = {1, 2, 3, 4, 5, 6};
  int64_t dims[2] = {2, 3};
  nnrt_tensor *t;
  cr_assert_eq(nnrt_tensor_wrap(ctx, NNRT_F32, 2, dims, buf, &t), NNRT_OK);
  cr_assert_eq(nnrt_tensor_data(t), (void *)buf);
  cr_assert_not(nnrt_tensor_owns_data(t));
  buf[4] = 50;
  cr_assert_eq(((float *)nnrt_tensor_data(t))[4], 50);
  nnrt_tensor_free(t); /* must not free buf (a stack array: free() would crash) */
  cr_assert_eq(nnrt_tensor_wrap(ctx, NNRT_F32, 2, dims, NULL, &t), NNRT_EINVAL);
  nnrt_ctx_free(ctx);
}

Test(arena, aligned_bump_and_needed)
{
  nnrt_ctx *ctx = nnrt_ctx_create(NULL, NULL);
  nnrt_arena *a;
  cr_assert_eq(nnrt_arena_create(ctx, 256, &a), NNRT_OK);
  char *p = nnrt_arena_alloc(a, 10), *q = nnrt_arena_alloc(a, 100);
  cr_assert_not_null(p);
  cr_assert_not_null(q);
  cr_assert_eq((uintptr_t)p % 64, 0);
  cr_assert_eq(q - p, 64);
  cr_assert_eq(nnrt_arena_used(a), 64 + 128);
  memset(q, 1, 100);
  cr_assert_null(nnrt_arena_alloc(a, 100)); /* 192 + 128 > 256 */
  cr_assert_eq(nnrt_errcode(ctx), NNRT_ENOMEM);
  cr_assert_not_null(strstr(nnrt_errmsg(ctx), "needs 320 bytes"), "%s", nnrt_errmsg(ctx));
  cr_assert_eq(nnrt_arena_needed(a), 320);
  nnrt_arena_reset(a);
  cr_assert_eq(nnrt_arena_used(a), 0);
  cr_assert_eq(nnrt_arena_alloc(a, 1), p);
  nnrt_arena_free(a);
  nnrt_ctx_free(ctx);
}

Test(arena, measuring_then_sized)
{
  nnrt_ctx *ctx = nnrt_ctx_create(NULL, NULL);
  nnrt_arena *a;
  size_t sizes[4] = {1000, 3, 4096, 65};
  cr_assert_eq(nnrt_arena_create(ctx, 0, &a), NNRT_OK);
  for (int i = 0; i < 4; i++) nnrt_arena_alloc(a, sizes[i]);
  size_t need = nnrt_arena_needed(a);
  cr_assert_eq(need, 1024 + 64 + 4096 + 128);
  nnrt_arena_free(a);
  cr_assert_eq(nnrt_arena_create(ctx, need, &a), NNRT_OK);
  for (int i = 0; i < 4; i++) cr_assert_not_null(nnrt_arena_alloc(a, sizes[i]));
  nnrt_arena_free(a);
  nnrt_ctx_free(ctx);
}

Test(arena, wrap_aligns_caller_buffer)
{
  nnrt_ctx *ctx = nnrt_ctx_create(NULL, NULL);
  static char buf[1000];
  nnrt_arena *a;
  cr_assert_eq(nnrt_arena_wrap(ctx, buf + 1, 999, &a), NNRT_OK);
  char *p = nnrt_arena_alloc(a, 1);
  cr_assert_eq((uintptr_t)p % 64, 0);
  cr_assert(p > buf && p < buf + 1000);
  cr_assert_leq(nnrt_arena_capacity(a), 999);
  cr_assert_geq(nnrt_arena_capacity(a), 999 - 63);
  nnrt_arena_free(a);
  nnrt_ctx_free(ctx);
}

Test(abi, table_is_complete_and_unique)
{
  cr_assert_geq(rt_abi_count, 10);
  for (int i = 0; i < rt_abi_count; i++) {
    const rt_abi_entry *e = &rt_abi_table[i];
    cr_assert_not_null(e->addr, "%s", e->name);
    cr_assert_eq(strncmp(e->name, "nnrt_", 5), 0, "%s", e->name);
    cr_assert_eq(e->params[0], '(', "%s", e->name);
    for (int j = 0; j < i; j++) cr_assert_str_neq(e->name, rt_abi_table[j].name);
  }
}

Test(abi, entries_point_at_the_functions)
{
  int found = 0;
  for (int i = 0; i < rt_abi_count; i++) {
    if (strcmp(rt_abi_table[i].name, "nnrt_rand_uniform") == 0) {
      cr_assert_eq(rt_abi_table[i].addr, (void (*)(void))nnrt_rand_uniform);
      cr_assert_str_eq(rt_abi_table[i].ret, "float");
      found = 1;
    }
  }
  cr_assert(found);
}
