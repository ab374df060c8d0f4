/* thread.c: the parallel loop that generated code and runtime kernels call.
 *
 * One OpenMP parallel region per call, each thread taking one contiguous chunk
 * [t*n/T, (t+1)*n/T): no scheduling inside the region, so the cost is one fork/join
 * (about 1.5 us with 2 threads, toolchain.md section 4). Work is inline when it is too
 * small to split, with one thread, or when already inside a parallel region. */
#include <omp.h>
#include <stdatomic.h>
#include "rt.h"

static atomic_int rt_threads; /* 0: not set, use OpenMP's default */

void nnrt_set_threads(int n)
{
  atomic_store(&rt_threads, n > 0 ? n : 0);
}

int nnrt_get_threads(void)
{
  int n = atomic_load(&rt_threads);
  return n > 0 ? n : omp_get_max_threads(); /* OMP_NUM_THREADS, else the cores */
}

/* rt_run_chunks: fn over [0, n) in nt contiguous chunks, one per thread. */
static void rt_run_chunks(int64_t n, int nt, void (*fn)(void *, int64_t, int64_t), void *ctx)
{
#pragma omp parallel num_threads(nt)
  {
    int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
    int64_t b = n / T * t + (t < n % T ? t : n % T);
    int64_t e = b + n / T + (t < n % T);
    if (b < e) fn(ctx, b, e);
  }
}

void nnrt_parallel_for_grain(int64_t n, int64_t grain,
                             void (*fn)(void *ctx, int64_t begin, int64_t end), void *ctx)
{
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  int64_t nt = nnrt_get_threads();
  if (nt > n / grain) nt = n / grain;
  if (nt < 2 || omp_in_parallel()) {
    fn(ctx, 0, n);
    return;
  }
  rt_run_chunks(n, (int)nt, fn, ctx);
}

void nnrt_parallel_for(int64_t n, void (*fn)(void *ctx, int64_t begin, int64_t end), void *ctx)
{
  nnrt_parallel_for_grain(n, 1, fn, ctx);
}
