/* gemm_bench.c: SGEMM throughput of nnc's nnrt_sgemm against OpenBLAS's cblas_sgemm.
 *
 * For each n (square, row-major, no transposes, alpha = 1, beta = 0) it times both
 * libraries, alternating them run by run so that both see the same machine noise, and
 * prints the median GFLOP/s of R runs (each run repeats the call until it lasts >= 20 ms)
 * as a markdown table row: | n | threads | nnc | OpenBLAS | nnc/OpenBLAS |.
 *
 *   gemm_bench [-t threads] [-r runs] [-n n1,n2,...] [-b kc,nc] [-i isa] [-T ta,tb]
 *              [-m 1: report the best run instead of the median (for tuning)]
 *              [-s mnk: small-problem limit, see kern_gemm_set_small_limit]
 *              [-c 1: time with the thread's CPU clock, which a loaded machine disturbs
 *               less (one thread only; for tuning, not for the published table)]
 *
 * Run with OPENBLAS_CORETYPE=SkylakeX: Debian's DYNAMIC_ARCH OpenBLAS misdetects this VM's
 * core and would pick a ~31 GFLOP/s kernel (compiler-techniques §6.2).
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "kernels.h"
#if NNC_HAVE_OPENBLAS
#include <cblas.h>
#endif

typedef struct bench_opts {
  int threads, runs, isa, ta, tb, best;
  int kc, nc;
  int64_t sizes[32];
  int nsizes;
} bench_opts;

static clockid_t bench_clock = CLOCK_MONOTONIC;

static double bench_now(void)
{
  struct timespec ts;
  clock_gettime(bench_clock, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int bench_cmp(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

typedef struct bench_mats {
  int64_t n;
  int ta, tb;
  float *a, *b, *c;
} bench_mats;

static void bench_call(const bench_mats *m, int lib)
{
  int64_t n = m->n;
#if NNC_HAVE_OPENBLAS
  if (lib == 1) {
    cblas_sgemm(CblasRowMajor, m->ta ? CblasTrans : CblasNoTrans,
                m->tb ? CblasTrans : CblasNoTrans, n, n, n, 1.0f, m->a, n, m->b, n, 0.0f, m->c,
                n);
    return;
  }
#endif
  (void)lib;
  nnrt_sgemm(m->ta, m->tb, n, n, n, 1.0f, m->a, n, m->b, n, 0.0f, m->c, n);
}

/* One timed run: repeats the call until 20 ms have passed; returns GFLOP/s. */
static double bench_run(const bench_mats *m, int lib)
{
  double flops = 2.0 * m->n * m->n * m->n, t0 = bench_now(), t;
  long reps = 0;
  do {
    bench_call(m, lib);
    reps++;
    t = bench_now() - t0;
  } while (t < 0.02);
  return flops * reps / t * 1e-9;
}

/* With several threads, waits 0.3 s before a timed run so that the other library's idle
 * workers have gone to sleep: after a call OpenBLAS's workers spin (sched_yield) for 2^28
 * TSC cycles (~0.13 s at 2.1 GHz, longer than a 20 ms run), libgomp's for GOMP_SPINCOUNT.
 * Without the pause, on 2 vCPUs the nnc run right after an OpenBLAS run shared its cores
 * with a spinning OpenBLAS worker and measured 34 instead of ~225 GFLOP/s at n = 512. */
static void bench_settle(int threads)
{
  struct timespec ts = {0, 300000000L};
  if (threads > 1)
    nanosleep(&ts, NULL);
}

/* Max relative difference between the two libraries' results (sanity check). */
static double bench_check(bench_mats *m)
{
  int64_t nn = m->n * m->n;
  float *c0 = malloc(nn * sizeof *c0);
  bench_call(m, 0);
  memcpy(c0, m->c, nn * sizeof *c0);
  bench_call(m, 1);
  double worst = 0.0;
  for (int64_t i = 0; i < nn; i++)
    worst = fmax(worst, fabs(c0[i] - m->c[i]) / (fabs(m->c[i]) + 1e-3));
  free(c0);
  return worst;
}

static void bench_size(const bench_opts *o, int64_t n, int have_blas)
{
  bench_mats m = {n, o->ta, o->tb, NULL, NULL, NULL};
  m.a = aligned_alloc(64, ((n * n * 4 + 63) / 64) * 64);
  m.b = aligned_alloc(64, ((n * n * 4 + 63) / 64) * 64);
  m.c = aligned_alloc(64, ((n * n * 4 + 63) / 64) * 64);
  for (int64_t i = 0; i < n * n; i++) {
    m.a[i] = (float)((i * 7 + 3) % 13) / 13.0f - 0.5f;
    m.b[i] = (float)((i * 5 + 1) % 11) / 11.0f - 0.5f;
  }
  double g[2][64];
  bench_run(&m, 0); /* warm up: page faults, packing buffers, thread pool */
  if (have_blas)
    bench_run(&m, 1);
  for (int r = 0; r < o->runs; r++)
    for (int lib = 0; lib <= have_blas; lib++) {
      bench_settle(o->threads);
      g[lib][r] = bench_run(&m, lib);
    }
  qsort(g[0], o->runs, sizeof(double), bench_cmp);
  int pick = o->best ? o->runs - 1 : o->runs / 2; /* the best run, or the median */
  double nnc = g[0][pick];
  if (have_blas) {
    qsort(g[1], o->runs, sizeof(double), bench_cmp);
    double ob = g[1][pick];
    printf("| %ld | %d | %.1f | %.1f | %.2f |", (long)n, o->threads, nnc, ob, nnc / ob);
    printf(" <!-- maxreldiff %.1e -->\n", bench_check(&m));
  } else {
    printf("| %ld | %d | %.1f | - | - |\n", (long)n, o->threads, nnc);
  }
  fflush(stdout);
  free(m.a), free(m.b), free(m.c);
}

static void bench_parse_list(const char *s, int64_t *out, int *count, int max)
{
  *count = 0;
  while (*s && *count < max) {
    out[(*count)++] = strtoll(s, (char **)&s, 10);
    if (*s == ',')
      s++;
    else
      break;
  }
}

static int bench_args(int argc, char **argv, bench_opts *o)
{
  static const int64_t def[] = {64, 128, 256, 512, 1024, 2048};
  *o = (bench_opts){1, 7, 0, 0, 0, 0, 0, 0, {0}, 6};
  memcpy(o->sizes, def, sizeof def);
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *f = argv[i], *v = argv[i + 1];
    int64_t l[3] = {0, 0, 0};
    int k;
    if (!strcmp(f, "-t"))
      o->threads = atoi(v);
    else if (!strcmp(f, "-r"))
      o->runs = atoi(v);
    else if (!strcmp(f, "-c"))
      bench_clock = atoi(v) ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC;
    else if (!strcmp(f, "-s"))
      kern_gemm_set_small_limit(atof(v));
    else if (!strcmp(f, "-m"))
      o->best = atoi(v);
    else if (!strcmp(f, "-i"))
      o->isa = atoi(v);
    else if (!strcmp(f, "-n"))
      bench_parse_list(v, o->sizes, &o->nsizes, 32);
    else if (!strcmp(f, "-b") || !strcmp(f, "-T")) {
      bench_parse_list(v, l, &k, 3);
      if (f[1] == 'b')
        o->kc = (int)l[0], o->nc = (int)l[1];
      else
        o->ta = (int)l[0], o->tb = (int)l[1];
    } else
      return -1;
  }
  if (o->runs < 1 || o->runs > 64 || o->threads < 1)
    return -1;
  return 0;
}

int main(int argc, char **argv)
{
  bench_opts o;
  if (bench_args(argc, argv, &o)) {
    fprintf(stderr, "usage: gemm_bench [-t threads] [-r runs] [-n n,...] [-b kc,nc] "
                    "[-i isa 1..3] [-T ta,tb] [-m 0|1]\n");
    return 2;
  }
  omp_set_num_threads(o.threads);
  if (o.isa && kern_gemm_force_isa(o.isa)) {
    fprintf(stderr, "gemm_bench: ISA %d not supported here\n", o.isa);
    return 2;
  }
  kern_gemm_set_blocking(o.kc, o.nc);
  int have_blas = 0;
#if NNC_HAVE_OPENBLAS
  openblas_set_num_threads(o.threads);
  have_blas = 1;
  printf("<!-- nnc kernel %s, OpenBLAS %s core %s, %d thread(s), median of %d runs -->\n",
         kern_gemm_kernel_name(), openblas_get_config(), openblas_get_corename(), o.threads,
         o.runs);
#else
  printf("<!-- nnc kernel %s, no OpenBLAS, %d thread(s) -->\n", kern_gemm_kernel_name(),
         o.threads);
#endif
  for (int s = 0; s < o.nsizes; s++)
    bench_size(&o, o.sizes[s], have_blas);
  return 0;
}
