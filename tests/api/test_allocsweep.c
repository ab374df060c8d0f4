/* test_allocsweep.c — the public compiler API (nnc.h) survives the failure of each of its
 * allocations, SQLite's malloc test (https://www.sqlite.org/testing.html, section 3.1):
 * for every scenario (compile from a string and from a file, list functions, tensors,
 * inference, training steps, weights to and from a file and memory, host functions, the
 * planned-memory query) and N = 1, 2, ..., the N-th allocation fails. The run must then
 * return an error status with a message (or, where nnc legitimately degrades, e.g. a
 * compile-cache read, still produce correct results), print nothing, leak no block, byte
 * or file descriptor; the handles it made are still usable: the same scenario is retried
 * on them without a failure and must succeed; then they are destroyed. The sweep stops at
 * the first N the scenario gets through without reaching.
 *
 * Which allocations are counted (one counter for all):
 *  - the host allocator given to nnc_ctx_create (contexts, models, weights, tensors,
 *    compiled functions' arenas, the runtime's own blocks);
 *  - every malloc, calloc, realloc, strdup, strndup and aligned_alloc call of nnc's own
 *    code — lang/, compiler/ and runtime/ are static libraries, and this test is linked
 *    with -Wl,--wrap for those names, so each call in them lands in __wrap_* below.
 * Not counted, and so never failed (the boundary): LLVM's allocations (libLLVM is a
 * shared library: its operator new and malloc are its own), libc's internal ones (fopen's
 * buffer, open_memstream, realpath), libgomp's and zlib's.
 *
 * The default run samples N with a stride (each scenario runs ~150 times, a few seconds);
 * NNC_ALLOCSWEEP=full tries every N, and adds the scenarios that run LLVM's code
 * generation on each try (no compile cache, AOT emit): minutes, not for the default suite. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <execinfo.h>
#include <signal.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nnc.h"

/* ------------------------------------------------------------------ the failing hook */

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__real_aligned_alloc(size_t al, size_t n);

#define SET_CAP (1u << 21)   /* live-pointer set: open addressing, tombstones */
#define TOMB ((void *)1)

static struct {
  int tracking;       /* count requests and track live blocks */
  long count;         /* requests so far in this run */
  long fail_at;       /* the request that fails (0: none) */
  int failed;         /* the failure was injected */
  long live;          /* wrapped blocks outstanding */
  long used;          /* set slots used (live + tombstones) */
  long long hbytes;   /* host-allocator bytes outstanding */
  long hlive;         /* host-allocator blocks outstanding */
  void *where[32];    /* the failed request's backtrace (NNC_ALLOCSWEEP_TRACE) */
  int nwhere;
  void *set[SET_CAP];
} H;

/* Decides one request: 1 when it must fail. */
static int hook_fails(void) {
  if (!H.tracking) return 0;
  if (++H.count == H.fail_at) {
    H.failed = 1;
    if (getenv("NNC_ALLOCSWEEP_TRACE")) H.nwhere = backtrace(H.where, 32);
    return 1;
  }
  return 0;
}

/* With NNC_ALLOCSWEEP_TRACE, where each live block was allocated (for leak reports). */
#define SITE_DEPTH 6
static void *(*sites)[SITE_DEPTH];

static size_t slot_of(void *p) { return (size_t)(((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ull >> 43) & (SET_CAP - 1); }

static void set_add(void *p) {
  if (!H.tracking || !p) return;
  if (H.used >= SET_CAP / 2) { /* reported by the sweep; stop tracking rather than spin */
    H.used = -1;
    return;
  }
  if (H.used < 0) return;
  size_t i = slot_of(p);
  while (H.set[i] && H.set[i] != TOMB) i = (i + 1) & (SET_CAP - 1);
  if (!H.set[i]) H.used++;
  H.set[i] = p;
  H.live++;
  if (sites) {
    void *bt[SITE_DEPTH + 2];
    int n = backtrace(bt, SITE_DEPTH + 2);
    memset(sites[i], 0, sizeof sites[i]);
    for (int k = 2; k < n; k++) sites[i][k - 2] = bt[k];
  }
}

/* Removes p; 0 when p was not allocated by a tracked call (libc's, or before tracking). */
static int set_del(void *p) {
  if (!p || H.used <= 0) return 0;
  for (size_t i = slot_of(p); H.set[i]; i = (i + 1) & (SET_CAP - 1))
    if (H.set[i] == p) {
      H.set[i] = TOMB;
      H.live--;
      return 1;
    }
  return 0;
}

void *__wrap_malloc(size_t n) {
  if (hook_fails()) return NULL;
  void *p = __real_malloc(n);
  set_add(p);
  return p;
}

void *__wrap_calloc(size_t k, size_t n) {
  if (hook_fails()) return NULL;
  void *p = __real_calloc(k, n);
  set_add(p);
  return p;
}

void *__wrap_realloc(void *p, size_t n) {
  if (n == 0 || hook_fails()) {
    if (n == 0) set_del(p);
    return n == 0 ? __real_realloc(p, 0) : NULL;
  }
  int tracked = set_del(p);
  void *q = __real_realloc(p, n);
  if (!q && tracked) set_add(p);
  else if (q && (tracked || !p)) set_add(q);
  return q;
}

void __wrap_free(void *p) {
  set_del(p);
  __real_free(p);
}

char *__wrap_strdup(const char *s) {
  if (hook_fails()) return NULL;
  char *p = __real_strdup(s);
  set_add(p);
  return p;
}

char *__wrap_strndup(const char *s, size_t n) {
  if (hook_fails()) return NULL;
  char *p = __real_strndup(s, n);
  set_add(p);
  return p;
}

void *__wrap_aligned_alloc(size_t al, size_t n) {
  if (hook_fails()) return NULL;
  void *p = __real_aligned_alloc(al, n);
  set_add(p);
  return p;
}

/* The host allocator of the contexts under test: the same counter. */
static void *host_alloc(void *ud, void *p, size_t osize, size_t nsize) {
  if (nsize == 0) {
    if (p) H.hlive--, H.hbytes -= (long long)osize;
    __real_free(p);
    return NULL;
  }
  if (hook_fails()) return NULL;
  void *q = __real_realloc(p, nsize);
  if (!q) return NULL;
  if (!p) H.hlive++;
  H.hbytes += (long long)nsize - (p ? (long long)osize : 0);
  return q;
}

static void hook_begin(long fail_at) {
  memset(H.set, 0, sizeof H.set);
  H.count = H.failed = 0;
  H.live = H.used = H.hlive = 0;
  H.hbytes = 0;
  H.fail_at = fail_at;
  H.tracking = 1;
}

/* ------------------------------------------------------------------ the model */

static const char *SRC =
    "model Lin {\n"
    "  param W: f32[4, 3] = glorot\n"
    "  param b: f32[3] = normal(0, 0.5)\n"
    "  fn forward(x: f32[B, 4]) -> f32[B, 3] = x @ W + b\n"
    "  fn two(x: f32[B, 4]) -> (f32[B, 3], f32[B]) = (relu(x @ W), sum(x, axis=1))\n"
    "}\n"
    "extern fn host_scale(x: f32[N]) -> f32[N]\n"
    "fn double(x: f32[N]) -> f32[N] = x * 2\n"
    "train Lin {\n"
    "  data = npy(x = \"x.npy\", y = \"y.npy\", x_shape = (4,), y_shape = (3,))\n"
    "  loss = mean((forward(batch.x) - cast(batch.y, f32)) ** 2)\n"
    "  metric bias0 = mean(b[0] + 0 * sum(batch.x))\n"
    "  optimizer = adam(lr = 0.01)\n"
    "  batch_size = 2\n"
    "}\n";

/* A scan (LSTM, trained through BPTT) and a convolution, from the standard library. */
static const char *RNN_SRC =
    "import nn\n"
    "model Rnn {\n"
    "  cell = nn.LSTMCell(3, 4)\n"
    "  conv = nn.Conv2d(1, 2, 3, padding = 1)\n"
    "  fn states(xs: f32[B, T, 3]) -> f32[B, T, 4] {\n"
    "    let (hs, _) = scan cell.step over xs along T from (zeros(B, 4), zeros(B, 4))\n"
    "    return hs\n"
    "  }\n"
    "  fn image(x: f32[B, 1, 5, 5]) = relu(conv.forward(x))\n"
    "}\n"
    "train Rnn {\n"
    "  data = npy(x = \"unused.npy\", x_shape = (5, 3))\n"
    "  loss = mean(states(batch.x) ** 2)\n"
    "  optimizer = adam(lr = 0.01)\n"
    "  batch_size = 2\n"
    "}\n";
static const char *const import_paths[] = {NNC_SOURCE_DIR "/stdlib", NULL};

static const float XV[8] = {1, 2, 3, 4, 0, 1, 0, -1};
static const float YV[6] = {1, 0, 0, 0, 1, 0};
static char dir[64], src_path[128], w_path[128], obj_path[128], hdr_path[128], out_path[128];

/* One session: the handles a scenario made, kept across a failed try and its retry. */
typedef struct Sess {
  nnc_ctx *c;
  nnc_model *m;
  nnrt_tensor *x, *y, *out, *out2;
  int no_cache;
  const char *src;   /* NULL: SRC */
} Sess;

typedef int (*Scenario)(Sess *s);

static int ensure_ctx(Sess *s) {
  if (!s->c) s->c = nnc_ctx_create(host_alloc, NULL);
  return s->c ? NNC_OK : NNC_ENOMEM;
}

static int ensure_model(Sess *s) {
  int rc = ensure_ctx(s);
  if (rc || s->m) return rc;
  nnc_options o = {.seed = 7, .no_cache = s->no_cache, .import_paths = import_paths};
  const char *src = s->src ? s->src : SRC;
  return nnc_compile_string(s->c, s->src ? "other.nn" : "lin.nn", src, strlen(src), &o, &s->m);
}

static int ensure_inputs(Sess *s) {
  int rc = ensure_model(s);
  int64_t dx[2] = {2, 4}, dy[2] = {2, 3};
  if (!rc && !s->x) rc = nnc_tensor_create(s->c, NNRT_F32, 2, dx, &s->x);
  if (!rc) rc = nnc_tensor_fill(s->c, s->x, XV, sizeof XV);
  if (!rc && !s->y) rc = nnc_tensor_wrap(s->c, NNRT_F32, 2, dy, (void *)YV, &s->y);
  return rc;
}

static const float *param(Sess *s, const char *want) {
  for (int i = 0; i < nnc_param_count(s->m); i++) {
    const char *name;
    nnrt_tensor *t;
    if (nnc_param(s->m, i, &name, &t) == NNC_OK && !strcmp(name, want)) return nnrt_tensor_data(t);
  }
  return NULL;
}

/* x @ W + b in plain C on the model's weights: 0 when out matches. */
static int check_forward(Sess *s, const nnrt_tensor *out) {
  const float *W = param(s, "W"), *b = param(s, "b"), *o = nnrt_tensor_data(out);
  if (!W || !b || nnrt_tensor_nbytes(out) != 6 * sizeof(float)) return -1;
  for (int r = 0; r < 2; r++)
    for (int j = 0; j < 3; j++) {
      double v = b[j];
      for (int k = 0; k < 4; k++) v += XV[r * 4 + k] * W[k * 3 + j];
      if (fabs(v - o[r * 3 + j]) > 1e-4) return -1;
    }
  return 0;
}

/* A run that succeeds although an allocation failed must still be right: -1 if not. */
#define VERIFY(cond) \
  do { \
    if (!(cond)) return -1000 - __LINE__; \
  } while (0)

/* ------------------------------------------------------------------ scenarios */

/* compile from a string; list the functions and the parameters */
static int sc_compile_string(Sess *s) {
  int rc = ensure_model(s);
  if (rc) return rc;
  nnc_fn_info fi;
  VERIFY(nnc_fn_count(s->m) == 3);
  for (int i = 0; i < nnc_fn_count(s->m); i++)
    if ((rc = nnc_fn_info_get(s->m, i, &fi))) return rc;
  VERIFY(!strcmp(fi.name, "double") && fi.nargs == 1 && fi.args[0].dim_names[0] && !strcmp(fi.args[0].dim_names[0], "N"));
  VERIFY(nnc_param_count(s->m) == 2 && param(s, "W") && param(s, "b"));
  return NNC_OK;
}

/* compile from a file */
static int sc_compile_file(Sess *s) {
  int rc = ensure_ctx(s);
  if (rc || s->m) return rc;
  if ((rc = nnc_compile_file(s->c, src_path, NULL, &s->m))) return rc;
  VERIFY(nnc_fn_count(s->m) == 3 && nnc_param_count(s->m) == 2);
  return NNC_OK;
}

/* create, wrap, fill and read tensors */
static int sc_tensors(Sess *s) {
  int rc = ensure_ctx(s);
  int64_t d[2] = {2, 4};
  float back[8];
  if (!rc && !s->x) rc = nnc_tensor_create(s->c, NNRT_F32, 2, d, &s->x);
  if (!rc && !s->y) rc = nnc_tensor_wrap(s->c, NNRT_F32, 2, d, back, &s->y);
  if (!rc) rc = nnc_tensor_fill(s->c, s->x, XV, sizeof XV);
  if (!rc) rc = nnc_tensor_read(s->c, s->x, back, sizeof back);
  if (rc) return rc;
  VERIFY(!memcmp(back, XV, sizeof XV));
  nnrt_tensor_free(s->y); /* wraps the stack */
  s->y = NULL;
  return NNC_OK;
}

/* inference: a new result tensor, then in place; a tuple-valued function */
static int sc_run(Sess *s) {
  int rc = ensure_inputs(s);
  if (rc) return rc;
  const nnrt_tensor *in[1] = {s->x};
  if ((rc = nnc_run(s->m, "Lin.forward", 1, in, 1, &s->out))) return rc;
  VERIFY(!check_forward(s, s->out));
  memset(nnrt_tensor_data(s->out), 0, nnrt_tensor_nbytes(s->out));
  if ((rc = nnc_run(s->m, "Lin.forward", 1, in, 1, &s->out))) return rc;
  VERIFY(!check_forward(s, s->out));
  nnrt_tensor *two[2] = {NULL, NULL};
  rc = nnc_run(s->m, "Lin.two", 1, in, 2, two);
  if (!rc) VERIFY(two[1] && ((float *)nnrt_tensor_data(two[1]))[0] == 10.0f);
  nnrt_tensor_free(two[0]);
  nnrt_tensor_free(two[1]);
  return rc;
}

/* training steps, the step count and the metric */
static int sc_train(Sess *s) {
  int rc = ensure_inputs(s);
  double loss = NAN, v = NAN;
  const char *name;
  for (int i = 0; i < 2 && !rc; i++) rc = nnc_train_step(s->m, s->x, s->y, &loss);
  if (!rc) rc = nnc_train_metric(s->m, 0, &name, &v);
  if (rc) return rc;
  VERIFY(isfinite(loss) && isfinite(v) && nnc_train_steps(s->m) >= 2 && !strcmp(name, "bias0"));
  return NNC_OK;
}

/* weights: save to a file, load it back, load from memory */
static int sc_weights(Sess *s) {
  int rc = ensure_model(s);
  if (rc) return rc;
  float w0 = param(s, "W")[0];
  if ((rc = nnc_weights_save(s->m, w_path))) return rc;
  ((float *)param(s, "W"))[0] = 42;
  if ((rc = nnc_weights_load(s->m, w_path))) return rc;
  VERIFY(param(s, "W")[0] == w0);
  static char buf[4096];
  int fd = open(w_path, O_RDONLY);
  ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
  if (fd >= 0) close(fd);
  VERIFY(n > 0);
  ((float *)param(s, "W"))[0] = 43;
  if ((rc = nnc_weights_load_memory(s->m, buf, (size_t)n))) return rc;
  VERIFY(param(s, "W")[0] == w0);
  return NNC_OK;
}

/* y = 2 x */
static int host_scale(void *ud, int nin, const nnrt_tensor *const *in, int nout, nnrt_tensor **out) {
  const float *x = nnrt_tensor_data(in[0]);
  float *y = nnrt_tensor_data(out[0]);
  for (int64_t i = 0; i < nnrt_tensor_numel(in[0]); i++) y[i] = 2 * x[i];
  return 0;
}

static const char *HOST_SRC =
    "extern fn host_scale(x: f32[N]) -> f32[N]\n"
    "fn scaled(x: f32[N]) -> f32[N] = host_scale(x * 3) + 1\n";

/* host functions: register, compile a source that calls one, run it */
static int sc_host(Sess *s) {
  int rc = ensure_ctx(s);
  nnc_fn_info sig = {.nargs = 1, .nresults = 1};
  sig.args[0] = sig.results[0] = (nnc_arg){.dtype = NNRT_F32, .rank = 1, .dims = {-1}};
  if (!rc) rc = nnc_register_fn(s->c, "host_scale", &sig, host_scale, NULL);
  s->src = HOST_SRC;
  if (!rc) rc = ensure_model(s);
  int64_t d[1] = {4};
  if (!rc && !s->x) rc = nnc_tensor_create(s->c, NNRT_F32, 1, d, &s->x);
  if (!rc) rc = nnc_tensor_fill(s->c, s->x, XV, 4 * sizeof(float));
  const nnrt_tensor *in[1] = {s->x};
  if (!rc) rc = nnc_run(s->m, "scaled", 1, in, 1, &s->out);
  if (rc) return rc;
  for (int i = 0; i < 4; i++) VERIFY(((float *)nnrt_tensor_data(s->out))[i] == 6 * XV[i] + 1);
  return NNC_OK;
}

/* the planned memory of a function before it runs */
static int sc_planned(Sess *s) {
  int rc = ensure_inputs(s);
  int64_t bytes = 0;
  const nnrt_tensor *in[1] = {s->x};
  if (!rc) rc = nnc_planned_memory(s->m, "Lin.two", 1, in, &bytes);
  if (rc) return rc;
  VERIFY(bytes >= 2 * 3 * 4 && bytes < (1 << 20));
  return NNC_OK;
}

/* a scan trained through BPTT, then a convolution */
static int sc_rnn(Sess *s) {
  s->src = RNN_SRC;
  int rc = ensure_model(s);
  int64_t dx[3] = {2, 5, 3}, di[4] = {1, 1, 5, 5};
  float xv[30], iv[25];
  for (int i = 0; i < 30; i++) xv[i] = (float)(i % 7) / 7 - 0.4f;
  for (int i = 0; i < 25; i++) iv[i] = (float)(i % 5) - 2;
  if (!rc && !s->x) rc = nnc_tensor_create(s->c, NNRT_F32, 3, dx, &s->x);
  if (!rc) rc = nnc_tensor_fill(s->c, s->x, xv, sizeof xv);
  if (!rc && !s->y) rc = nnc_tensor_create(s->c, NNRT_F32, 4, di, &s->y);
  if (!rc) rc = nnc_tensor_fill(s->c, s->y, iv, sizeof iv);
  double loss = NAN;
  if (!rc) rc = nnc_train_step(s->m, s->x, NULL, &loss);
  const nnrt_tensor *in[1] = {s->y};
  if (!rc) rc = nnc_run(s->m, "Rnn.image", 1, in, 1, &s->out);
  if (rc) return rc;
  VERIFY(isfinite(loss) && loss > 0 && nnrt_tensor_nbytes(s->out) == 2 * 25 * sizeof(float));
  for (int i = 0; i < 50; i++) VERIFY(((float *)nnrt_tensor_data(s->out))[i] >= 0);
  return NNC_OK;
}

/* ahead of time: an object file and its header (LLVM code generation on every try) */
static int sc_emit(Sess *s) {
  int rc = ensure_model(s);
  if (!rc) rc = nnc_emit(s->m, NNC_EMIT_OBJ, obj_path, hdr_path, 2);
  return rc;
}

/* inference with the compile cache off: nnc's code generation (LLVM IR) on every try */
static int sc_run_no_cache(Sess *s) {
  s->no_cache = 1;
  return sc_run(s);
}

/* ------------------------------------------------------------------ the sweep */

static void sess_free(Sess *s) {
  nnrt_tensor_free(s->x);
  nnrt_tensor_free(s->y);
  nnrt_tensor_free(s->out);
  nnrt_tensor_free(s->out2);
  nnc_model_free(s->m);
  nnc_ctx_free(s->c);
  memset(s, 0, sizeof *s);
}

static int open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  if (!d) return -1;
  while (readdir(d)) n++;
  closedir(d);
  return n;
}

/* stdout and stderr go to out_path while a scenario runs (the library must print nothing). */
static int saved_fd[2];
static void capture(void) {
  fflush(stdout);
  fflush(stderr);
  int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  cr_assert_geq(fd, 0);
  for (int i = 0; i < 2; i++) {
    saved_fd[i] = dup(1 + i);
    dup2(fd, 1 + i);
  }
  close(fd);
}

static long release(void) {
  fflush(stdout);
  fflush(stderr);
  for (int i = 0; i < 2; i++) {
    dup2(saved_fd[i], 1 + i);
    close(saved_fd[i]);
  }
  struct stat st;
  return stat(out_path, &st) ? -1 : (long)st.st_size;
}

typedef struct { long tries, failed, recovered, total; } Stats;

/* One try with allocation n failing (0: none). Returns 1 when no failure was injected. */
static int try_once(const char *what, Scenario sc, long n, Stats *st) {
  Sess s = {0};
  const char *trace = getenv("NNC_ALLOCSWEEP_TRACE");   /* a file: the try now running */
  if (trace) {
    FILE *f = fopen(trace, "w");
    if (f) fprintf(f, "%s: allocation %ld\n", what, n), fclose(f);
  }
  int fds = open_fds();
  capture();
  hook_begin(n);
  int rc = sc(&s);
  int failed = H.failed;
  long count = H.count;
  int code = s.c ? nnc_errcode(s.c) : NNC_ENOMEM;
  char msg[1100];
  snprintf(msg, sizeof msg, "%s", s.c ? nnc_errmsg(s.c) : "(no context: nnc_ctx_create returned NULL)");
  H.fail_at = 0;  /* the retry, on the same handles, without a failure */
  int retry = failed && rc ? sc(&s) : NNC_OK;
  char rmsg[1100];
  snprintf(rmsg, sizeof rmsg, "%s", s.c ? nnc_errmsg(s.c) : "");
  sess_free(&s);
  H.tracking = 0;
  long printed = release();
  if (trace && (H.live || H.hlive || retry || printed || (failed && rc && rc != NNC_ENOMEM))) { /* where the failed allocation was */
    FILE *f = fopen(trace, "a");
    if (f && failed) fprintf(f, "failed allocation:\n"), fflush(f), backtrace_symbols_fd(H.where, H.nwhere, fileno(f));
    for (size_t i = 0; f && sites && H.live && i < SET_CAP; i++)
      if (H.set[i] && H.set[i] != TOMB) {
        fprintf(f, "leaked block %p allocated at:\n", H.set[i]);
        fflush(f);
        backtrace_symbols_fd(sites[i], SITE_DEPTH, fileno(f));
      }
    if (f) fclose(f);
  }
  st->tries++;
  cr_assert_geq(rc, -999, "%s: allocation %ld failed: a wrong result with status OK (check at line %d)", what, n,
                -rc - 1000);
  if (failed && rc) {
    st->failed++;
    cr_assert_eq(rc, NNC_ENOMEM, "%s: allocation %ld of %ld failed: status %s (%s), expected ENOMEM", what, n, count,
                 nnc_strstatus(rc), msg);
    cr_assert_eq(code, rc, "%s: allocation %ld: nnc_errcode %d, status %d", what, n, code, rc);
    cr_assert(msg[0], "%s: allocation %ld failed without a message", what, n);
  } else if (failed) {
    st->recovered++;
    char rec[512];
    snprintf(rec, sizeof rec, "%s.recovered", trace ? trace : "");
    FILE *f = trace ? fopen(rec, "a") : NULL;
    if (f) fprintf(f, "%s: recovered from allocation %ld:\n", what, n), fflush(f), backtrace_symbols_fd(H.where, H.nwhere, fileno(f)), fclose(f);
  } else {
    cr_assert_eq(rc, NNC_OK, "%s: no allocation failed, yet: %s (%s)", what, nnc_strstatus(rc), msg);
    st->total = count;
  }
  cr_assert_eq(retry, NNC_OK, "%s: the retry after allocation %ld failed: %s (%s)", what, n, nnc_strstatus(retry), rmsg);
  cr_assert_geq(H.used, 0, "%s: the live-pointer set overflowed", what);
  cr_assert_eq(H.live, 0, "%s: allocation %ld failed: %ld blocks of nnc's own allocations leaked", what, n, H.live);
  cr_assert_eq(H.hlive, 0, "%s: allocation %ld failed: %ld host-allocator blocks leaked", what, n, H.hlive);
  cr_assert_eq(H.hbytes, 0, "%s: allocation %ld failed: %lld host-allocator bytes leaked", what, n, H.hbytes);
  cr_assert_eq(open_fds(), fds, "%s: allocation %ld failed: a file was left open", what, n);
  cr_assert_eq(printed, 0, "%s: allocation %ld failed: the library printed %ld bytes (in %s)", what, n, printed,
               out_path);
  return !failed;
}

static int full_sweep(void) {
  const char *e = getenv("NNC_ALLOCSWEEP");
  return e && !strcmp(e, "full");
}

/* Warms up (lazy process-wide state, the compile cache) untracked, counts the allocations of a
 * clean run, then fails each N (every N in full mode; ~150 evenly spread N, always
 * including 1..20, by default) until a run gets through. */
static void sweep(const char *what, Scenario sc) {
  Stats st = {0};
  Sess warm = {0};   /* untracked: process-wide state that persists (a thread's GEMM scratch) */
  sc(&warm);
  sess_free(&warm);
  try_once(what, sc, 0, &st);
  try_once(what, sc, 0, &st);
  long total = st.total, stride = full_sweep() ? 1 : total / 150 + 1;
  const char *from = getenv("NNC_ALLOCSWEEP_FROM");   /* debugging: start the sweep at N */
  for (long n = from ? atol(from) : 1;; n += n < 20 ? 1 : stride)
    if (try_once(what, sc, n, &st)) break;
  cr_log_info("%s: %ld allocations; %ld tries: %ld failed with ENOMEM, %ld recovered (stride %ld)", what, total,
              st.tries, st.failed, st.recovered, stride);
  cr_assert(st.failed > 0 || from, "%s: no failure was injected", what);
}

/* ------------------------------------------------------------------ fixtures */

/* With NNC_ALLOCSWEEP_TRACE, a crash appends its backtrace to that file (addr2line -e). */
static void on_crash(int sig) {
  void *bt[64];
  int n = backtrace(bt, 64);
  const char *trace = getenv("NNC_ALLOCSWEEP_TRACE");
  int fd = trace ? open(trace, O_WRONLY | O_APPEND) : -1;
  if (fd >= 0) backtrace_symbols_fd(bt, n, fd), close(fd);
  signal(sig, SIG_DFL);
  raise(sig);
}

static void setup(void) {
  nnrt_set_threads(1); /* one counter, one thread */
  if (getenv("NNC_ALLOCSWEEP_TRACE")) {
    signal(SIGSEGV, on_crash), signal(SIGABRT, on_crash);
    if (!sites) sites = __real_calloc(SET_CAP, sizeof *sites);
  }
  strcpy(dir, "/tmp/nnc-allocsweep-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  snprintf(src_path, sizeof src_path, "%s/lin.nn", dir);
  snprintf(w_path, sizeof w_path, "%s/w.safetensors", dir);
  snprintf(obj_path, sizeof obj_path, "%s/lin.o", dir);
  snprintf(hdr_path, sizeof hdr_path, "%s/lin.h", dir);
  snprintf(out_path, sizeof out_path, "%s/printed.txt", dir);
  FILE *f = fopen(src_path, "w");
  cr_assert_not_null(f);
  fputs(SRC, f);
  cr_assert_eq(fclose(f), 0);
}

static void teardown(void) {
  const char *files[] = {src_path, w_path, obj_path, hdr_path, out_path};
  for (int i = 0; i < 5; i++) unlink(files[i]);
  rmdir(dir);
}

TestSuite(allocsweep, .init = setup, .fini = teardown, .timeout = 600);

Test(allocsweep, compile_string_and_list) { sweep("compile from a string, list functions", sc_compile_string); }
Test(allocsweep, compile_file) { sweep("compile from a file", sc_compile_file); }
Test(allocsweep, tensors) { sweep("create, wrap, fill, read tensors", sc_tensors); }
Test(allocsweep, run) { sweep("run inference", sc_run); }
Test(allocsweep, train) { sweep("training steps", sc_train); }
Test(allocsweep, weights) { sweep("save/load weights, file and memory", sc_weights); }
Test(allocsweep, host_functions) { sweep("register and call a host function", sc_host); }
Test(allocsweep, planned_memory) { sweep("planned memory", sc_planned); }
Test(allocsweep, scan_and_conv) { sweep("train an LSTM (scan, BPTT), run a convolution", sc_rnn); }

Test(allocsweep, run_without_cache) {
  if (!full_sweep()) teardown(), cr_skip_test("NNC_ALLOCSWEEP=full: LLVM code generation on every try");
  sweep("run inference, no compile cache", sc_run_no_cache);
}

Test(allocsweep, emit) {
  if (!full_sweep()) teardown(), cr_skip_test("NNC_ALLOCSWEEP=full: LLVM code generation on every try");
  sweep("AOT emit", sc_emit);
}

/* The hook sees nnc's own allocations (not only the host allocator's): a test that can fail. */
Test(allocsweep, hook_sees_the_front_end) {
  hook_begin(0);
  Sess s = {0};
  int rc = ensure_ctx(&s);
  long after_ctx = H.count, hbefore = H.hlive;
  nnc_model *m = NULL;
  cr_assert_eq(rc, NNC_OK);
  cr_assert_eq(nnc_compile_string(s.c, "lin.nn", SRC, strlen(SRC), NULL, &m), NNC_OK, "%s", nnc_errmsg(s.c));
  long own = H.count - after_ctx - (H.hlive - hbefore);
  cr_assert_gt(own, 10, "compiling made only %ld allocations besides the host allocator's", own);
  nnc_model_free(m);
  sess_free(&s);
  H.tracking = 0;
  cr_assert_eq(H.live, 0);
}
