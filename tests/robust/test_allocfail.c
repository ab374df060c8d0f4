/* test_allocfail.c — every public entry point of libnnrt that allocates survives the
 * failure of each of its allocations (SQLite's "malloc failure" test strategy,
 * https://www.sqlite.org/testing.html section 3.1): for N = 1, 2, ... the context's
 * allocator fails its N-th request; the call sequence under test must then return a
 * non-zero status with NNRT_ENOMEM and a message, leak no block, byte or file descriptor,
 * and (for atomic writes) leave the file on disk as it was. The sweep ends at the first N
 * the sequence gets through without reaching, which must succeed normally. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "nnrt.h"

/* ------------------------------------------------------------------ the failing allocator */

typedef struct {
  long count;       /* requests so far (allocations and growing reallocs) */
  long fail_at;     /* the request that fails (1-based) */
  long live;        /* blocks outstanding */
  long long bytes;  /* bytes outstanding */
  int failed;       /* the failure was injected */
} FailAlloc;

static void *fa_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  FailAlloc *a = ud;
  if (nsize == 0) {
    if (ptr) {
      a->live--;
      a->bytes -= (long long)osize;
    }
    free(ptr);
    return NULL;
  }
  if (++a->count == a->fail_at) {
    a->failed = 1;
    return NULL;
  }
  void *q = realloc(ptr, nsize);
  if (!q) return NULL;
  if (!ptr) a->live++;
  a->bytes += (long long)nsize - (ptr ? (long long)osize : 0);
  return q;
}

/* Open file descriptors of this process (to catch a FILE or fd left open on a failure). */
static int open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  if (!d) return -1;
  while (readdir(d)) n++;
  closedir(d);
  return n;
}

/* A scenario: a sequence of public calls on ctx that frees all it made, on every path.
 * Returns NNRT_OK or the first failing status. */
typedef int (*Scenario)(nnrt_ctx *ctx);

/* Runs s with the N-th allocation failing, for every N until s gets through. Returns the
 * number of allocations s makes. check (may be NULL) runs after each failed run. */
static long sweep(const char *what, Scenario s, void (*check)(void)) {
  for (long n = 1; n < 100000; n++) {
    FailAlloc a = {.fail_at = n};
    int fds = open_fds();
    nnrt_ctx *ctx = nnrt_ctx_create(fa_alloc, &a);
    if (!ctx) {
      cr_assert(a.failed, "%s: nnrt_ctx_create failed without an allocation failure", what);
      continue;
    }
    int rc = s(ctx);
    if (a.failed) {
      cr_assert_neq(rc, NNRT_OK, "%s: allocation %ld failed, yet the status is OK", what, n);
      cr_assert_eq(rc, NNRT_ENOMEM, "%s: allocation %ld failed: status %s (%s), expected ENOMEM",
                   what, n, nnrt_strstatus(rc), nnrt_errmsg(ctx));
      cr_assert_eq(nnrt_errcode(ctx), NNRT_ENOMEM, "%s: allocation %ld: errcode %d", what, n,
                   nnrt_errcode(ctx));
      cr_assert(nnrt_errmsg(ctx)[0] != 0, "%s: allocation %ld failed without a message", what, n);
    } else {
      cr_assert_eq(rc, NNRT_OK, "%s: no allocation failed, yet: %s", what, nnrt_errmsg(ctx));
    }
    nnrt_ctx_free(ctx);
    cr_assert_eq(a.live, 0, "%s: allocation %ld failed: %ld blocks leaked", what, n, a.live);
    cr_assert_eq(a.bytes, 0, "%s: allocation %ld failed: %lld bytes leaked", what, n, a.bytes);
    cr_assert_eq(open_fds(), fds, "%s: allocation %ld failed: a file was left open", what, n);
    if (check && a.failed) check();
    if (!a.failed) return n - 1;
  }
  cr_assert_fail("%s: did not finish", what);
  return 0;
}

/* ------------------------------------------------------------------ fixtures */

static char dir[64];
static char p_idx[128], p_idxgz[128], p_npy[128], p_csv[128], p_txt[128], p_txt2[128],
    p_st[128], p_out[128], p_csvout[128];

static void write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f, "%s", path);
  cr_assert_eq(fwrite(data, 1, n, f), n);
  cr_assert_eq(fclose(f), 0);
}

/* An IDX file u8[3, 2, 2] (magic 0x00000803, big-endian dims). */
static size_t idx_bytes(unsigned char *b) {
  static const unsigned char h[] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2};
  memcpy(b, h, sizeof h);
  for (int i = 0; i < 12; i++) b[16 + i] = (unsigned char)(i * 20);
  return 28;
}

static void make_fixtures(void) {
  strcpy(dir, "/tmp/nnc-allocfail-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
#define P(var, name) snprintf(var, sizeof var, "%s/%s", dir, name)
  P(p_idx, "x.idx"); P(p_idxgz, "x.idx.gz"); P(p_npy, "x.npy"); P(p_csv, "x.csv");
  P(p_txt, "a.txt"); P(p_txt2, "b.txt"); P(p_st, "w.safetensors"); P(p_out, "out.safetensors");
  P(p_csvout, "m.csv");
#undef P
  unsigned char b[64];
  size_t n = idx_bytes(b);
  write_file(p_idx, b, n);
  gzFile gz = gzopen(p_idxgz, "wb");
  cr_assert_not_null(gz);
  cr_assert_eq(gzwrite(gz, b, (unsigned)n), (int)n);
  cr_assert_eq(gzclose(gz), Z_OK);
  const char *csv = "a,b,c\n1,2,3\n4,5,6\n\n7,8.5,-9e1\n";
  write_file(p_csv, csv, strlen(csv));
  const char *t1 = "the quick brown fox jumps over the lazy dog\n", *t2 = "and again.\n";
  write_file(p_txt, t1, strlen(t1));
  write_file(p_txt2, t2, strlen(t2));
  /* npy and safetensors fixtures are written by the library (plain allocator) */
  nnrt_ctx *ctx = nnrt_ctx_create(NULL, NULL);
  nnrt_tensor *t = NULL, *u = NULL;
  int64_t d[2] = {3, 4}, e[1] = {5};
  cr_assert_eq(nnrt_tensor_create(ctx, NNRT_F32, 2, d, &t), NNRT_OK);
  cr_assert_eq(nnrt_tensor_create(ctx, NNRT_I32, 1, e, &u), NNRT_OK);
  for (int i = 0; i < 12; i++) ((float *)nnrt_tensor_data(t))[i] = (float)i / 3;
  for (int i = 0; i < 5; i++) ((int32_t *)nnrt_tensor_data(u))[i] = i - 2;
  cr_assert_eq(nnrt_save_npy(ctx, p_npy, t), NNRT_OK);
  const char *names[] = {"l1.W", "l1.b"}, *mk[] = {"format"}, *mv[] = {"nnc"};
  const nnrt_tensor *ts[] = {t, u};
  cr_assert_eq(nnrt_weights_save(ctx, p_st, 2, names, ts, 1, mk, mv), NNRT_OK);
  cr_assert_eq(nnrt_weights_save(ctx, p_out, 1, names, ts, 0, NULL, NULL), NNRT_OK);
  nnrt_tensor_free(t);
  nnrt_tensor_free(u);
  nnrt_ctx_free(ctx);
}

static void remove_fixtures(void) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char p[320];
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') {
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      unlink(p);
    }
  closedir(d);
  rmdir(dir);
}

TestSuite(allocfail, .init = make_fixtures, .fini = remove_fixtures);

/* ------------------------------------------------------------------ scenarios */

static int sc_tensors(nnrt_ctx *ctx) {
  int64_t d[3] = {2, 3, 4};
  float buf[24];
  nnrt_tensor *t = NULL, *w = NULL, *b = NULL;
  int rc = nnrt_tensor_create(ctx, NNRT_F64, 3, d, &t);
  if (!rc) rc = nnrt_tensor_wrap(ctx, NNRT_F32, 3, d, buf, &w);
  if (!rc) rc = nnrt_tensor_create(ctx, NNRT_BIT, 2, d, &b);
  nnrt_tensor_free(t);
  nnrt_tensor_free(w);
  nnrt_tensor_free(b);
  return rc;
}

static int sc_arena(nnrt_ctx *ctx) {
  static char mem[4096];
  nnrt_arena *a = NULL, *w = NULL;
  int rc = nnrt_arena_create(ctx, 1 << 16, &a);
  if (!rc) rc = nnrt_arena_wrap(ctx, mem, sizeof mem, &w);
  if (!rc && (!nnrt_arena_alloc(a, 1000) || !nnrt_arena_alloc(w, 100))) rc = nnrt_errcode(ctx);
  nnrt_arena_free(a);
  nnrt_arena_free(w);
  return rc;
}

static int sc_idx(nnrt_ctx *ctx) {
  nnrt_tensor *x = NULL, *y = NULL;
  int rc = nnrt_load_idx(ctx, p_idx, NNRT_F32, 1.0 / 255, &x);
  if (rc && x) rc = NNRT_EINVAL;   /* out-parameters must be NULL on failure */
  if (!rc) rc = nnrt_load_idx(ctx, p_idxgz, NNRT_I64, 1, &y);
  if (rc && y) rc = NNRT_EINVAL;
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
  return rc;
}

static int sc_npy(nnrt_ctx *ctx) {
  nnrt_tensor *x = NULL, *y = NULL;
  int rc = nnrt_load_npy(ctx, p_npy, &x);
  char p[128];
  snprintf(p, sizeof p, "%s/copy.npy", dir);
  if (!rc) rc = nnrt_save_npy(ctx, p, x);
  unsigned char buf[512];
  FILE *f = fopen(p_npy, "rb");
  size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
  if (f) fclose(f);
  if (!rc) rc = nnrt_load_npy_memory(ctx, buf, n, "buf.npy", &y);
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
  unlink(p);
  return rc;
}

static int sc_csv(nnrt_ctx *ctx) {
  nnrt_tensor *x = NULL, *y = NULL;
  int rc = nnrt_load_csv(ctx, p_csv, NNRT_F32, -1, &x);
  if (!rc) rc = nnrt_load_csv(ctx, p_csv, NNRT_F64, 1, &y);
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
  return rc;
}

static int sc_text(nnrt_ctx *ctx) {
  nnrt_text *a = NULL, *b = NULL, *c = NULL;
  const char *paths[] = {p_txt, p_txt2};
  int rc = nnrt_text_load(ctx, p_txt, 0.25, &a);
  if (!rc) rc = nnrt_text_from_memory(ctx, "abcabc", 6, 0.5, &b);
  if (!rc) rc = nnrt_text_load_files(ctx, 2, paths, 0.1, &c);
  nnrt_text_free(a);
  nnrt_text_free(b);
  nnrt_text_free(c);
  return rc;
}

static int sc_batcher(nnrt_ctx *ctx) {
  int64_t dx[2] = {7, 3}, dy[1] = {7};
  nnrt_tensor *x = NULL, *y = NULL;
  nnrt_batcher *b = NULL;
  int rc = nnrt_tensor_create(ctx, NNRT_F32, 2, dx, &x);
  if (!rc) rc = nnrt_tensor_create(ctx, NNRT_I32, 1, dy, &y);
  if (!rc) rc = nnrt_batcher_create(ctx, x, y, 2, 42, NNRT_BATCH_SHUFFLE, &b);
  const nnrt_tensor *xb, *yb;
  for (int e = 0; !rc && e < 2; e++) {
    int64_t k;
    while ((k = nnrt_batcher_next(b, &xb, &yb)) > 0) {}
    if (k < 0) rc = (int)k;
  }
  if (!rc) nnrt_batcher_seek_epoch(b, 5);
  nnrt_batcher_free(b);
  nnrt_tensor_free(x);
  nnrt_tensor_free(y);
  return rc;
}

static int sc_weights(nnrt_ctx *ctx) {
  nnrt_weights *w = NULL, *m = NULL;
  nnrt_tensor *dst = NULL;
  int rc = nnrt_weights_load(ctx, p_st, &w);
  int64_t d[2] = {3, 4};
  if (!rc) rc = nnrt_tensor_create(ctx, NNRT_F32, 2, d, &dst);
  if (!rc) rc = nnrt_weights_read(w, "l1.W", dst);
  if (!rc && !nnrt_weights_metadata(w, "format")) rc = NNRT_ENOTFOUND;
  unsigned char buf[1024];
  FILE *f = fopen(p_st, "rb");
  size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
  if (f) fclose(f);
  if (!rc) rc = nnrt_weights_from_memory(ctx, buf, n, "buf", &m);
  nnrt_tensor_free(dst);
  nnrt_weights_free(w);
  nnrt_weights_free(m);
  return rc;
}

/* The contents of p_out before the save sweep: a failed save must leave them. */
static unsigned char out_before[1024];
static size_t out_before_n;

static size_t read_all(const char *path, unsigned char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "%s", path);
  size_t n = fread(buf, 1, cap, f);
  fclose(f);
  return n;
}

static int count_dir(void) {
  DIR *d = opendir(dir);
  int n = 0;
  while (d && readdir(d)) n++;
  if (d) closedir(d);
  return n;
}
static int dir_entries;

static void check_out_unchanged(void) {
  unsigned char now[1024];
  size_t n = read_all(p_out, now, sizeof now);
  cr_assert(n == out_before_n && !memcmp(now, out_before, n),
            "a failed nnrt_weights_save changed %s", p_out);
  cr_assert_eq(count_dir(), dir_entries, "a failed nnrt_weights_save left a temporary file");
}

static int sc_weights_save(nnrt_ctx *ctx) {
  int64_t d[2] = {2, 2};
  nnrt_tensor *a = NULL, *b = NULL;
  int rc = nnrt_tensor_create(ctx, NNRT_F32, 2, d, &a);
  if (!rc) rc = nnrt_tensor_create(ctx, NNRT_I64, 1, d, &b);
  const char *names[] = {"x", "y"}, *mk[] = {"a", "b"}, *mv[] = {"1", "2"};
  const nnrt_tensor *ts[] = {a, b};
  if (!rc) rc = nnrt_weights_save(ctx, p_out, 2, names, ts, 2, mk, mv);
  nnrt_tensor_free(a);
  nnrt_tensor_free(b);
  return rc;
}

static int sc_progress(nnrt_ctx *ctx) {
  FILE *out = fopen("/dev/null", "w");
  nnrt_progress *p = NULL;
  int rc = nnrt_progress_create(ctx, out, 2, 3, NNRT_PROGRESS_LINES, &p);
  if (!rc) {
    nnrt_progress_step(p, 0, 1, 0.5, 4);
    nnrt_progress_epoch_end(p, 0, "accuracy", 0.75);
  }
  nnrt_progress_free(p);
  fclose(out);
  return rc;
}

static int sc_metrics(nnrt_ctx *ctx) {
  const char *cols[] = {"epoch", "loss", "accuracy"};
  double v[3] = {1, 0.5, 0.25};
  nnrt_metrics *m = NULL;
  int rc = nnrt_metrics_open(ctx, p_csvout, 3, cols, &m);
  if (!rc) rc = nnrt_metrics_append(m, v);
  int rc2 = m ? nnrt_metrics_close(m) : NNRT_OK;
  unlink(p_csvout);
  return rc ? rc : rc2;
}

/* ------------------------------------------------------------------ tests */

Test(allocfail, tensors) { cr_assert_gt(sweep("tensors", sc_tensors, NULL), 3); }
Test(allocfail, arena) { cr_assert_gt(sweep("arena", sc_arena, NULL), 1); }
Test(allocfail, idx_plain_and_gzip) { cr_assert_gt(sweep("idx", sc_idx, NULL), 2); }
Test(allocfail, npy_file_memory_save) { cr_assert_gt(sweep("npy", sc_npy, NULL), 3); }
Test(allocfail, csv) { cr_assert_gt(sweep("csv", sc_csv, NULL), 2); }
Test(allocfail, text) { cr_assert_gt(sweep("text", sc_text, NULL), 3); }
Test(allocfail, batcher) { cr_assert_gt(sweep("batcher", sc_batcher, NULL), 3); }
Test(allocfail, weights_load_read_memory) { cr_assert_gt(sweep("weights", sc_weights, NULL), 5); }
Test(allocfail, progress) { cr_assert_gt(sweep("progress", sc_progress, NULL), 0); }
Test(allocfail, metrics) { cr_assert_gt(sweep("metrics", sc_metrics, NULL), 0); }

Test(allocfail, weights_save_is_atomic) {
  out_before_n = read_all(p_out, out_before, sizeof out_before);
  dir_entries = count_dir();
  cr_assert_gt(sweep("weights_save", sc_weights_save, check_out_unchanged), 3);
}
