/* test_thread.c: nnrt_parallel_for covers [0, n) exactly once, in contiguous chunks, with
 * the set number of threads, and runs inline when it should. */
#include <criterion/criterion.h>
#include <omp.h>
#include <stdatomic.h>
#include "rt.h"

typedef struct {
  atomic_int *hits;
  atomic_int calls;
  atomic_int max_tid;
  atomic_int inline_calls;
} job;

static void mark(void *p, int64_t b, int64_t e)
{
  job *j = p;
  atomic_fetch_add(&j->calls, 1);
  int tid = omp_get_thread_num();
  if (tid > atomic_load(&j->max_tid)) atomic_store(&j->max_tid, tid);
  if (!omp_in_parallel()) atomic_fetch_add(&j->inline_calls, 1);
  for (int64_t i = b; i < e; i++) atomic_fetch_add(&j->hits[i], 1);
}

static void run(int64_t n, int64_t grain, int threads, job *j)
{
  static atomic_int hits[10000];
  for (int64_t i = 0; i < n; i++) atomic_store(&hits[i], 0);
  j->hits = hits;
  atomic_store(&j->calls, 0);
  atomic_store(&j->max_tid, 0);
  atomic_store(&j->inline_calls, 0);
  nnrt_set_threads(threads);
  nnrt_parallel_for_grain(n, grain, mark, j);
  for (int64_t i = 0; i < n; i++) cr_assert_eq(atomic_load(&hits[i]), 1, "n=%lld i=%lld", (long long)n, (long long)i);
}

Test(thread, covers_every_index_once)
{
  job j;
  int64_t ns[] = {1, 2, 3, 7, 64, 1000, 9999};
  for (int t = 1; t <= 4; t++)
    for (unsigned k = 0; k < sizeof ns / sizeof ns[0]; k++) run(ns[k], 1, t, &j);
}

Test(thread, one_chunk_per_thread)
{
  job j;
  run(1000, 1, 3, &j);
  cr_assert_eq(atomic_load(&j.calls), 3);
  cr_assert_eq(atomic_load(&j.max_tid), 2);
  cr_assert_eq(atomic_load(&j.inline_calls), 0);
}

Test(thread, inline_when_small_or_single)
{
  job j;
  run(1, 1, 4, &j);
  cr_assert_eq(atomic_load(&j.inline_calls), 1);
  run(1000, 1, 1, &j);
  cr_assert_eq(atomic_load(&j.inline_calls), 1);
  run(1000, 600, 4, &j); /* grain 600: one chunk only */
  cr_assert_eq(atomic_load(&j.inline_calls), 1);
  run(1000, 300, 4, &j); /* grain 300: three chunks */
  cr_assert_eq(atomic_load(&j.calls), 3);
}

static void nested(void *p, int64_t b, int64_t e)
{
  job *j = p;
  nnrt_parallel_for(e - b, mark, j); /* must run inline in this thread, not nest */
}

Test(thread, no_nesting)
{
  job j;
  static atomic_int hits[100];
  j.hits = hits;
  atomic_store(&j.calls, 0);
  atomic_store(&j.inline_calls, 0);
  nnrt_set_threads(2);
  nnrt_parallel_for(2, nested, &j);
  cr_assert_eq(atomic_load(&j.calls), 2);
  cr_assert_eq(atomic_load(&hits[0]), 2); /* each outer chunk marked [0, 1) */
}

Test(thread, set_threads_and_default)
{
  nnrt_set_threads(3);
  cr_assert_eq(nnrt_get_threads(), 3);
  nnrt_set_threads(0);
  cr_assert_eq(nnrt_get_threads(), omp_get_max_threads());
  nnrt_ctx *ctx = nnrt_ctx_create(NULL, NULL);
  nnrt_ctx_set_threads(ctx, 2);
  cr_assert_eq(nnrt_get_threads(), 2);
  cr_assert_eq(nnrt_ctx_threads(ctx), 2);
  nnrt_ctx_free(ctx);
}
